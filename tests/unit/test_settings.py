"""flicket.settings.load: secrets, database URL, coercion (SECURITY-TESTS SESS-6, CFG-1)."""

import secrets
import stat

import pytest

from flicket.settings import (
    ENV_DATA_DIR,
    ENV_DATABASE_URL,
    ENV_MAIL_PASSWORD,
    ENV_REDIS_URL,
    ENV_SECRET,
    MIN_SECRET_LENGTH,
    ConfigurationError,
    derive_secret,
    load,
)

GOOD_SECRET = secrets.token_urlsafe(64)
INI_URL = "sqlite:////tmp/from-the-ini.sqlite"


@pytest.fixture
def ini(tmp_path):
    """The smallest ini settings that can run (the secret comes from the environment)."""
    return {"sqlalchemy.url": INI_URL, "flicket.data_dir": str(tmp_path / "data")}


def test_a_good_secret_from_the_environment(ini):
    settings = load(ini, {ENV_SECRET: GOOD_SECRET})
    assert settings["flicket.secret"] == GOOD_SECRET
    assert settings["sqlalchemy.url"] == INI_URL


def test_the_secret_is_stripped(ini):
    assert load(ini, {ENV_SECRET: f"  {GOOD_SECRET}\n"})["flicket.secret"] == GOOD_SECRET


def test_a_missing_secret_is_refused(ini):
    with pytest.raises(ConfigurationError, match=ENV_SECRET):
        load(ini, {})
    with pytest.raises(ConfigurationError, match="No secret"):
        load(ini, {ENV_SECRET: "   "})


def test_a_short_secret_is_refused(ini):
    short = secrets.token_urlsafe(64)[: MIN_SECRET_LENGTH - 1]
    with pytest.raises(ConfigurationError, match="too short"):
        load(ini, {ENV_SECRET: short})


@pytest.mark.parametrize(
    "sample", ["change-me", "CHANGE-ME", "changeme", "secret", "0" * 64, "a" * 80, "ab" * 40]
)
def test_a_sample_secret_is_refused(ini, sample):
    with pytest.raises(ConfigurationError, match="sample value|too short"):
        load(ini, {ENV_SECRET: sample})


def test_a_64_character_secret_is_just_enough(ini):
    secret = secrets.token_hex(32)
    assert len(secret) == MIN_SECRET_LENGTH
    assert load(ini, {ENV_SECRET: secret})["flicket.secret"] == secret


def test_the_environment_database_url_wins(ini):
    url = "postgresql+psycopg://flicket@localhost/flicket"
    settings = load(ini, {ENV_SECRET: GOOD_SECRET, ENV_DATABASE_URL: url})
    assert settings["sqlalchemy.url"] == url


def test_the_database_url_may_come_from_the_environment_only(tmp_path):
    url = "sqlite:////tmp/from-the-env.sqlite"
    settings = load(
        {"flicket.data_dir": str(tmp_path)}, {ENV_SECRET: GOOD_SECRET, ENV_DATABASE_URL: url}
    )
    assert settings["sqlalchemy.url"] == url


@pytest.mark.parametrize("ini_url", [None, ""])
def test_a_missing_database_url_is_refused(tmp_path, ini_url):
    settings = {"flicket.data_dir": str(tmp_path)}
    if ini_url is not None:
        settings["sqlalchemy.url"] = ini_url
    with pytest.raises(ConfigurationError, match=ENV_DATABASE_URL):
        load(settings, {ENV_SECRET: GOOD_SECRET, ENV_DATABASE_URL: ""})


def test_the_secret_file_is_created_private_and_reused(ini, tmp_path):
    path = tmp_path / "deep" / "secret"
    ini["flicket.secret_file"] = str(path)
    first = load(ini, {})["flicket.secret"]
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= MIN_SECRET_LENGTH
    assert path.read_text().strip() == first
    second = load(ini, {})["flicket.secret"]
    assert second == first


def test_the_environment_secret_wins_over_the_file(ini, tmp_path):
    path = tmp_path / "secret"
    ini["flicket.secret_file"] = str(path)
    assert load(ini, {ENV_SECRET: GOOD_SECRET})["flicket.secret"] == GOOD_SECRET
    assert not path.exists()


def test_a_weak_secret_file_is_refused(ini, tmp_path):
    path = tmp_path / "secret"
    path.write_text("change-me\n")
    ini["flicket.secret_file"] = str(path)
    with pytest.raises(ConfigurationError, match="sample value"):
        load(ini, {})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("flicket.login.window", "five minutes"),
        ("flicket.session.idle_timeout", "30m"),
        ("flicket.bcrypt_rounds", ""),
        ("flicket.reset.token_lifetime", "1.5"),
    ],
)
def test_a_bad_integer_setting_is_refused_with_a_clear_message(ini, key, value):
    ini[key] = value
    with pytest.raises(ConfigurationError) as raised:
        load(ini, {ENV_SECRET: GOOD_SECRET})
    message = str(raised.value)
    assert key in message
    assert "whole number" in message
    assert repr(value) in message


def test_integers_and_booleans_are_coerced(ini):
    ini.update(
        {"flicket.login.window": "600", "flicket.session.secure": "true", "flicket.hsts": "no"}
    )
    settings = load(ini, {ENV_SECRET: GOOD_SECRET})
    assert settings["flicket.login.window"] == 600
    assert settings["flicket.session.secure"] is True
    assert settings["flicket.hsts"] is False
    assert settings["flicket.session.idle_timeout"] == 1800  # a default, as an int


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("flicket.ratelimit.store", "memcached"),  # redis is a store now
        ("flicket.mail.mode", "sendmail"),
        ("flicket.bcrypt_rounds", "3"),
        ("flicket.bcrypt_rounds", "17"),
    ],
)
def test_other_bad_settings_are_refused(ini, key, value):
    ini[key] = value
    with pytest.raises(ConfigurationError, match=key.replace(".", r"\.")):
        load(ini, {ENV_SECRET: GOOD_SECRET})


def test_load_does_not_change_its_input(ini):
    before = dict(ini)
    load(ini, {ENV_SECRET: GOOD_SECRET})
    assert ini == before


def test_data_dir_from_the_environment(ini, tmp_path):
    settings = load(ini, {ENV_SECRET: GOOD_SECRET, ENV_DATA_DIR: str(tmp_path / "elsewhere")})
    assert settings["flicket.data_dir"] == str(tmp_path / "elsewhere")
    assert settings["flicket.mail.directory"] == str(tmp_path / "elsewhere" / "mail")


def test_derived_secrets_differ_per_purpose(ini):
    settings = load(ini, {ENV_SECRET: GOOD_SECRET})
    keys = {derive_secret(settings, purpose) for purpose in ("session", "password-reset", "x")}
    assert len(keys) == 3
    assert GOOD_SECRET not in keys
    other = load(ini, {ENV_SECRET: secrets.token_urlsafe(64)})
    assert derive_secret(other, "session") != derive_secret(settings, "session")


@pytest.mark.parametrize(
    "key, value",
    [
        ("pyramid.debug_authorization", "true"),
        ("pyramid.debug_notfound", "true"),
        ("pyramid.debug_routematch", "true"),
        ("pyramid.debug_all", "true"),
        ("pyramid.reload_templates", "true"),
        ("pyramid.includes", "pyramid_tm\npyramid_debugtoolbar"),
    ],
)
def test_a_production_configuration_refuses_debugging_aids(ini, key, value):
    ini["flicket.session.secure"] = "true"
    ini[key] = value
    with pytest.raises(ConfigurationError, match="production") as refused:
        load(ini, {ENV_SECRET: GOOD_SECRET})
    assert key in str(refused.value) or "debugtoolbar" in str(refused.value)
    ini["flicket.session.secure"] = "false"  # development may debug
    assert load(ini, {ENV_SECRET: GOOD_SECRET})["flicket.session.secure"] is False


def test_production_ini_passes_its_own_check(tmp_path):
    import configparser
    from pathlib import Path

    parser = configparser.ConfigParser(interpolation=None)
    parser.read(Path(__file__).resolve().parents[2] / "production.ini")
    settings = dict(parser["app:main"])
    settings["flicket.data_dir"] = str(tmp_path)
    loaded = load(settings, {ENV_SECRET: GOOD_SECRET, "FLICKET_DATABASE_URL": "sqlite://"})
    assert loaded["flicket.session.secure"] is True


def test_redis_url_and_mail_password_from_the_environment(ini):
    settings = load(
        {**ini, "flicket.ratelimit.store": "redis", "mail.password": "from the ini"},
        {
            ENV_SECRET: GOOD_SECRET,
            ENV_REDIS_URL: "redis://:pw@127.0.0.1:6379/3",
            ENV_MAIL_PASSWORD: "smtp secret",
        },
    )
    assert settings["flicket.redis.url"] == "redis://:pw@127.0.0.1:6379/3"
    assert settings["mail.password"] == "smtp secret"
    assert settings["flicket.redis.prefix"] == "flicket:"


def test_the_redis_store_without_a_url_is_refused(ini):
    with pytest.raises(ConfigurationError, match=ENV_REDIS_URL):
        load({**ini, "flicket.ratelimit.store": "redis"}, {ENV_SECRET: GOOD_SECRET})
