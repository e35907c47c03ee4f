"""The site configuration's helpers: the encrypted SMTP password ("secret box"), the
mailer built from the stored SMTP settings, and SMTP errors told in words."""

import smtplib
import socket
import ssl
import types

import pytest
from pyramid_mailer.mailer import Mailer
from repoze.sendmail.mailer import TLS_NotAvailable

from flicket.admin import services
from flicket.admin.services import (
    MAIL_PASSWORD_PREFIX,
    ConfigSMTPMailer,
    decrypt_mail_password,
    describe_mail_error,
    encrypt_mail_password,
    mailer_from_config,
    update_config,
)
from flicket.i18n import english

SETTINGS = {"flicket.secret": "k" * 40 + "0123456789abcdefghijklmnopqrstuv"}
OTHER_SETTINGS = {"flicket.secret": "z" * 40 + "0123456789abcdefghijklmnopqrstuv"}


def config_row(**values):
    row = types.SimpleNamespace(
        mail_server=None,
        mail_port=None,
        mail_use_tls=False,
        mail_use_ssl=False,
        mail_debug=False,
        mail_username=None,
        mail_password=None,
        mail_default_sender=None,
        application_title="Flicket",
        auth_domain=None,
    )
    for name, value in values.items():
        setattr(row, name, value)
    return row


# -- the encrypted password -----------------------------------------------------------------------


@pytest.mark.parametrize("password", ["s3cret", "pässwörd with spaces", "🔑" * 31, "p" * 127])
def test_round_trip(password):
    stored = encrypt_mail_password(SETTINGS, password)
    assert stored.startswith(MAIL_PASSWORD_PREFIX)
    assert password not in stored
    assert len(stored) <= 256  # flicket_config.mail_password is String(256)
    assert decrypt_mail_password(SETTINGS, stored) == password


def test_every_encryption_differs():
    assert encrypt_mail_password(SETTINGS, "same") != encrypt_mail_password(SETTINGS, "same")


def test_too_long_for_the_column_is_refused():
    with pytest.raises(ValueError):
        encrypt_mail_password(SETTINGS, "p" * 128)
    with pytest.raises(ValueError):
        encrypt_mail_password(SETTINGS, "é" * 64)  # 128 bytes
    assert services.mail_password_too_long("é" * 64)
    assert not services.mail_password_too_long("é" * 63)


def test_another_secret_cannot_read_it(caplog):
    stored = encrypt_mail_password(SETTINGS, "s3cret")
    assert decrypt_mail_password(OTHER_SETTINGS, stored) is None
    assert "cannot be decrypted" in caplog.text


def test_a_tampered_token_is_not_read():
    stored = encrypt_mail_password(SETTINGS, "s3cret")
    tampered = stored[:-5] + ("A" if stored[-5] != "A" else "B") + stored[-4:]
    assert decrypt_mail_password(SETTINGS, tampered) is None
    assert decrypt_mail_password(SETTINGS, MAIL_PASSWORD_PREFIX + "not base64 !!") is None


def test_flickets_clear_text_value_is_read_as_is():
    assert decrypt_mail_password(SETTINGS, "legacy clear password") == "legacy clear password"


@pytest.mark.parametrize("stored", [None, ""])
def test_no_password(stored):
    assert decrypt_mail_password(SETTINGS, stored) is None


def test_the_key_is_derived_from_the_secret_for_this_purpose_only():
    """A stored password opens with the key derived for "mail-password", and neither with
    the key derived for another purpose nor with the secret itself."""
    import base64

    from cryptography.fernet import Fernet, InvalidToken

    from flicket.settings import derive_secret

    def fernet(hex_key):
        return Fernet(base64.urlsafe_b64encode(bytes.fromhex(hex_key)))

    token = encrypt_mail_password(SETTINGS, "smtp secret").removeprefix(MAIL_PASSWORD_PREFIX)
    assert fernet(derive_secret(SETTINGS, "mail-password")).decrypt(token) == b"smtp secret"
    for other in (
        derive_secret(SETTINGS, "session"),
        SETTINGS["flicket.secret"][-32:].encode().hex(),
    ):
        with pytest.raises(InvalidToken):
            fernet(other).decrypt(token)


# -- saving the configuration ---------------------------------------------------------------------


def test_update_config_password_handling():
    row = config_row(mail_password=encrypt_mail_password(SETTINGS, "old"))
    stored = row.mail_password
    assert update_config(SETTINGS, row, {}, new_mail_password=None) == []
    assert row.mail_password == stored
    assert update_config(SETTINGS, row, {}, new_mail_password="new") == ["mail_password"]
    assert decrypt_mail_password(SETTINGS, row.mail_password) == "new"
    assert update_config(SETTINGS, row, {}, clear_mail_password=True) == ["mail_password"]
    assert row.mail_password is None
    assert update_config(SETTINGS, row, {}, clear_mail_password=True) == []


def test_update_config_reports_what_changed_and_keeps_an_empty_domain_empty():
    row = config_row(application_title="Flicket", auth_domain=None)
    changed = update_config(
        SETTINGS, row, {"application_title": " Desk ", "auth_domain": "", "unknown": 1}
    )
    assert row.application_title == "Desk"
    assert row.auth_domain == ""
    assert changed == ["application_title", "auth_domain"]
    assert not hasattr(row, "unknown")


# -- the mailer built from the row ----------------------------------------------------------------


def test_mailer_from_config_uses_the_rows_settings():
    row = config_row(
        mail_server="smtp.example.com",
        mail_port=587,
        mail_use_tls=True,
        mail_username="flicket",
        mail_password=encrypt_mail_password(SETTINGS, "s3cret"),
        mail_default_sender="Desk <desk@example.com>",
    )
    mailer = mailer_from_config(SETTINGS, row)
    assert isinstance(mailer, Mailer)
    smtp = mailer.smtp_mailer
    assert (smtp.hostname, smtp.port, smtp.username, smtp.password) == (
        "smtp.example.com",
        587,
        "flicket",
        "s3cret",
    )
    assert isinstance(smtp, ConfigSMTPMailer)
    assert smtp.force_tls is True and smtp.no_tls is False and smtp.ssl is False
    assert mailer.default_sender == "Desk <desk@example.com>"


def test_mailer_from_config_with_ssl_and_legacy_password():
    row = config_row(
        mail_server="mail.example.org",
        mail_port=465,
        mail_use_ssl=True,
        mail_password="legacy clear password",
    )
    smtp = mailer_from_config(SETTINGS, row).smtp_mailer
    assert smtp.ssl is True
    assert smtp.no_tls is True and smtp.force_tls is False
    assert smtp.password == "legacy clear password"
    assert smtp.username is None


def test_mailer_from_config_without_a_server_uses_the_ini_settings():
    settings = {**SETTINGS, "mail.host": "relay.internal", "mail.port": "2525"}
    smtp = mailer_from_config(settings, config_row()).smtp_mailer
    assert (smtp.hostname, str(smtp.port)) == ("relay.internal", "2525")
    assert mailer_from_config(settings, None).smtp_mailer.hostname == "relay.internal"


def test_starttls_checks_the_certificate(monkeypatch):
    seen = {}

    def fake_starttls(self, *args, context=None, **kwargs):
        seen["context"] = context

    monkeypatch.setattr(services.smtplib.SMTP, "starttls", fake_starttls)
    services._VerifyingSMTP.starttls(object.__new__(services._VerifyingSMTP))
    assert seen["context"].verify_mode == ssl.CERT_REQUIRED
    assert seen["context"].check_hostname is True


@pytest.mark.parametrize("use_ssl", [False, True])
def test_a_refused_connection_is_reported_through_the_real_mailer(use_ssl):
    row = config_row(mail_server="127.0.0.1", mail_port=1, mail_use_ssl=use_ssl)
    message = services.Message(
        subject="x", sender="a@example.com", recipients=["b@example.com"], body="x"
    )
    with pytest.raises(OSError) as caught:
        mailer_from_config(SETTINGS, row).send_immediately(message)
    assert english(describe_mail_error(caught.value, "127.0.0.1", 1)).startswith(
        "Could not connect to 127.0.0.1:1: "
    )


# -- errors in words ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error,expected",
    [
        (
            ConnectionRefusedError(111, "Connection refused"),
            "Could not connect to smtp.example.com:465: Connection refused",
        ),
        (
            socket.gaierror(-2, "Name or service not known"),
            "Could not find the mail server smtp.example.com: Name or service not known",
        ),
        (
            TimeoutError("timed out"),
            "Could not connect to smtp.example.com:465: the connection timed out",
        ),
        (
            smtplib.SMTPAuthenticationError(535, b"5.7.8 Bad credentials"),
            "smtp.example.com:465 refused the user name or password (535 5.7.8 Bad credentials)",
        ),
        (
            smtplib.SMTPRecipientsRefused({"x@example.com": (550, b"no")}),
            "refused the recipient address x@example.com",
        ),
        (
            smtplib.SMTPSenderRefused(553, b"not yours", "desk@example.com"),
            "refused the sender address desk@example.com (553 not yours)",
        ),
        (smtplib.SMTPServerDisconnected("gone"), "closed the connection unexpectedly"),
        (smtplib.SMTPDataError(554, b"spam"), "answered with an error: 554 spam"),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "secure connection"),
        (TLS_NotAvailable(), "Sending through smtp.example.com:465 failed"),
        (OSError(101, "Network is unreachable"), "Network is unreachable"),
    ],
)
def test_errors_in_words(error, expected):
    words = english(describe_mail_error(error, "smtp.example.com", 465))
    assert expected in words
    assert "Traceback" not in words and "\n" not in words
