"""The site configuration: saving the admin's changes, the SMTP password kept encrypted,
a mailer built from the stored SMTP settings, and the test e-mail.

The SMTP password is stored in Flicket's ``mail_password`` column as ``fernet:<token>``:
Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a key derived from the
application secret, so a copy of the database alone does not reveal it. A value without
the prefix is a clear-text password left by Flicket and is read as such (it is encrypted
the next time the admin saves a password).
"""

import base64
import logging
import smtplib
import socket
import ssl

from cryptography.fernet import Fernet, InvalidToken
from pyramid.renderers import render
from pyramid_mailer.mailer import Mailer
from pyramid_mailer.message import Message
from repoze.sendmail.mailer import SMTPMailer

from flicket.i18n import _, translate
from flicket.mail import single_line
from flicket.settings import derive_secret

log = logging.getLogger(__name__)

MAIL_PASSWORD_PREFIX = "fernet:"  # noqa: S105 - a marker, not a password
#: ``flicket_config.mail_password`` is String(256). A Fernet token of n bytes of plain
#: text is 4 * ceil((57 + 16 * (n // 16 + 1)) / 3) characters: 127 bytes give 244, which
#: with the prefix (7) still fits; 128 bytes would need 268.
MAIL_PASSWORD_COLUMN_LENGTH = 256
MAX_MAIL_PASSWORD_BYTES = 127
TEST_EMAIL_SUBJECT = _("Flicket Test Email")
#: Seconds to wait for the SMTP server before giving up (repoze.sendmail's own value).
SMTP_TIMEOUT = 10

#: Config fields saved as they come from the form (the mail password is handled apart).
CONFIG_FIELDS = (
    "mail_server",
    "mail_port",
    "mail_use_tls",
    "mail_use_ssl",
    "mail_debug",
    "mail_username",
    "mail_default_sender",
    "mail_max_emails",
    "mail_suppress_send",
    "mail_ascii_attachments",
    "application_title",
    "posts_per_page",
    "allowed_extensions",
    "ticket_upload_folder",
    "base_url",
    "use_auth_domain",
    "auth_domain",
    "csv_dump_limit",
    "change_category",
    "change_category_only_admin_or_super_user",
)


# -- the encrypted SMTP password ----------------------------------------------------------------


def _fernet(settings):
    key = bytes.fromhex(derive_secret(settings, "mail-password"))  # 32 bytes
    return Fernet(base64.urlsafe_b64encode(key))


def mail_password_too_long(password):
    return len(password.encode("utf-8")) > MAX_MAIL_PASSWORD_BYTES


def encrypt_mail_password(settings, password):
    """The value to store for ``password`` (``fernet:...``, at most 256 characters)."""
    if mail_password_too_long(password):
        raise ValueError(f"The mail password is longer than {MAX_MAIL_PASSWORD_BYTES} bytes.")
    token = _fernet(settings).encrypt(password.encode("utf-8")).decode("ascii")
    stored = MAIL_PASSWORD_PREFIX + token
    assert len(stored) <= MAIL_PASSWORD_COLUMN_LENGTH
    return stored


def decrypt_mail_password(settings, stored):
    """The clear SMTP password from the stored value, or None when there is none.

    An unprefixed value is Flicket's clear text. A token that no longer decrypts (the
    application secret changed) gives None and a warning in the log: the admin must enter
    the password again.
    """
    if not stored:
        return None
    if not stored.startswith(MAIL_PASSWORD_PREFIX):
        return stored
    try:
        token = stored[len(MAIL_PASSWORD_PREFIX) :].encode("ascii")
        return _fernet(settings).decrypt(token).decode("utf-8")
    except (InvalidToken, ValueError, UnicodeError):
        log.warning("the stored mail password cannot be decrypted (was the secret changed?)")
        return None


def stored_mail_password(settings, config):
    return decrypt_mail_password(settings, config.mail_password if config else None)


# -- saving the configuration -------------------------------------------------------------------


def update_config(settings, config, values, *, new_mail_password=None, clear_mail_password=False):
    """Apply the admin's ``values`` to the config row; returns the names of changed fields.

    ``new_mail_password`` replaces the stored SMTP password (empty keeps it);
    ``clear_mail_password`` removes it.
    """
    changed = []
    for name in CONFIG_FIELDS:
        if name not in values:
            continue
        value = values[name]
        if isinstance(value, str):
            value = value.strip()
        if getattr(config, name) != value:
            setattr(config, name, value)
            changed.append(name)
    if clear_mail_password:
        if config.mail_password:
            config.mail_password = None
            changed.append("mail_password")
    elif new_mail_password:
        config.mail_password = encrypt_mail_password(settings, new_mail_password)
        changed.append("mail_password")
    return changed


# -- mail with the stored SMTP settings ---------------------------------------------------------


def default_sender(settings, config):
    return (config.mail_default_sender if config else None) or settings.get(
        "mail.default_sender", "flicket@localhost"
    )


class _VerifyingSMTP(smtplib.SMTP):
    def starttls(self, *args, context=None, **kwargs):
        # The standard library's default for STARTTLS checks no certificate at all.
        return super().starttls(context=context or ssl.create_default_context())


class ConfigSMTPMailer(SMTPMailer):
    """repoze.sendmail's SMTP mailer, with a timeout and certificate checks for both SSL
    and STARTTLS (pyramid_mailer's SSL mailer has neither, and passes arguments newer
    Pythons no longer take)."""

    def send(self, fromaddr, toaddrs, message):
        # repoze.sendmail writes bare LF line endings, which strict servers refuse
        # (repoze/repoze.sendmail#46, #49): send CRLF.
        message.policy = message.policy.clone(linesep="\r\n")
        return super().send(fromaddr, toaddrs, message)

    def smtp_factory(self):
        port = int(self.port)
        if self.ssl:
            connection = smtplib.SMTP_SSL(
                self.hostname, port, timeout=SMTP_TIMEOUT, context=ssl.create_default_context()
            )
        else:
            connection = _VerifyingSMTP(self.hostname, port, timeout=SMTP_TIMEOUT)
        connection.set_debuglevel(self.debug_smtp)
        return connection


def mailer_from_config(settings, config):
    """A pyramid_mailer ``Mailer`` using the SMTP settings of the config row (the ini's
    ``mail.*`` settings when the row names no server)."""
    if config is None or not config.mail_server:
        return Mailer.from_settings(settings, "mail.")
    use_ssl = bool(config.mail_use_ssl)
    smtp = ConfigSMTPMailer(
        hostname=config.mail_server,
        port=config.mail_port or 25,
        username=config.mail_username or None,
        password=stored_mail_password(settings, config),
        no_tls=use_ssl or not config.mail_use_tls,
        force_tls=bool(config.mail_use_tls) and not use_ssl,
        ssl=use_ssl,
        debug_smtp=1 if config.mail_debug else 0,
    )
    return Mailer(smtp_mailer=smtp, default_sender=default_sender(settings, config))


def smtp_address(settings, config):
    """``host:port`` the SMTP mailer of ``config`` connects to (for messages)."""
    if config is not None and config.mail_server:
        return config.mail_server, config.mail_port or 25
    return settings.get("mail.host", "localhost"), settings.get("mail.port", 25)


def describe_mail_error(error, host, port):
    """A sentence for the admin saying why sending failed (never a traceback): a message
    to translate (``english`` for logs). The server's and the system's own words are
    quoted as they are."""
    where = f"{host}:{port}"
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return _(
            "The mail server ${where} refused the user name or password (${answer}).",
            mapping={"where": where, "answer": _smtp_answer(error)},
        )
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return _(
            "The mail server ${where} refused the recipient address ${refused}.",
            mapping={"where": where, "refused": ", ".join(error.recipients) or _("the recipient")},
        )
    if isinstance(error, smtplib.SMTPSenderRefused):
        return _(
            "The mail server ${where} refused the sender address ${sender} (${answer}).",
            mapping={"where": where, "sender": error.sender, "answer": _smtp_answer(error)},
        )
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return _(
            "The mail server ${where} closed the connection unexpectedly.",
            mapping={"where": where},
        )
    if isinstance(error, smtplib.SMTPResponseException):
        return _(
            "The mail server ${where} answered with an error: ${answer}.",
            mapping={"where": where, "answer": _smtp_answer(error)},
        )
    if isinstance(error, smtplib.SMTPException):
        return _(
            "Sending through ${where} failed: ${reason}.",
            mapping={"where": where, "reason": str(error)},
        )
    if isinstance(error, ssl.SSLError):
        reason = getattr(error, "reason", None) or error.strerror or str(error)
        return _(
            "The secure connection to ${where} failed (${reason}). Check the SSL and TLS "
            "settings: SSL is usually port 465, TLS (STARTTLS) port 587.",
            mapping={"where": where, "reason": str(reason)},
        )
    if isinstance(error, socket.gaierror):
        return _(
            "Could not find the mail server ${host}: ${reason}.",
            mapping={"host": host, "reason": str(error.strerror or error)},
        )
    if isinstance(error, TimeoutError):
        return _(
            "Could not connect to ${where}: the connection timed out.", mapping={"where": where}
        )
    if isinstance(error, OSError):
        return _(
            "Could not connect to ${where}: ${reason}.",
            mapping={"where": where, "reason": str(error.strerror or error)},
        )
    # repoze.sendmail's own errors (no STARTTLS when TLS is required, EHLO refused...).
    return _(
        "Sending through ${where} failed: ${reason}.",
        mapping={"where": where, "reason": str(error or type(error).__name__)},
    )


def _smtp_answer(error):
    """``550 the server's words``: an SMTP error's code and text, on one line."""
    return f"{error.smtp_code} {_smtp_text(error.smtp_error)}"


def _smtp_text(value):
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())


def build_test_email(request, address):
    """The test message, in the language of the admin who sends it (the recipient is any
    address, perhaps nobody's account)."""
    config = request.flicket_config
    user = request.user
    subject = translate(TEST_EMAIL_SUBJECT, request.localizer)
    values = {"subject": subject, "sender_name": user.name or user.username}
    return Message(
        subject=subject,
        sender=single_line(default_sender(request.registry.settings, config)),
        recipients=[single_line(address)],
        body=render("email/test_email/body.txt.jinja2", values, request),
        html=render("email/test_email/body.html.jinja2", values, request),
    )


def send_test_email(request, address):
    """Send the test message now (not after the commit). Returns (sent, message); the
    message is to translate (``flicket.i18n.flash`` does)."""
    settings = request.registry.settings
    config = request.flicket_config
    if config is not None and config.mail_suppress_send:
        return False, _(
            "Nothing was sent: “Suppress sending” is on in the configuration. "
            "Turn it off to send email."
        )
    message = build_test_email(request, address)
    mode = settings["flicket.mail.mode"]
    direct = mode in ("smtp", "queue")  # the test e-mail never waits in the queue
    mailer = mailer_from_config(settings, config) if direct else request.mailer
    try:
        mailer.send_immediately(message, fail_silently=False)
    except Exception as error:  # noqa: BLE001 - a diagnostic page: every failure is reported
        log.warning("test email failed: %s: %s", type(error).__name__, error)
        if not direct:
            return False, _(
                "The ${mode} mail delivery failed: ${reason}.",
                mapping={"mode": mode, "reason": str(error or type(error).__name__)},
            )
        return False, describe_mail_error(error, *smtp_address(settings, config))
    log.info("test email sent: by=%s", request.user.id)
    return True, _("A test email was sent to ${address}.", mapping={"address": address})
