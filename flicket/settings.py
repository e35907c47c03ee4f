"""Application settings: defaults, type coercion, secrets from the environment.

Settings are read once, when the application starts (``load``), and stored coerced in
``registry.settings``. Views never read ``os.environ``. A bad or missing secret stops the
start with a clear message rather than running insecurely.
"""

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from pyramid.settings import asbool

#: Environment variables the product reads (documented in README.rst).
ENV_DATABASE_URL = "FLICKET_DATABASE_URL"
ENV_SECRET = "FLICKET_SECRET"  # noqa: S105 (a variable name, not a secret)
ENV_DATA_DIR = "FLICKET_DATA_DIR"
ENV_REDIS_URL = "FLICKET_REDIS_URL"
ENV_LISTEN = "FLICKET_LISTEN"  # read by flicket.server (the waitress runner), not here
ENV_MAIL_PASSWORD = "FLICKET_MAIL_PASSWORD"  # noqa: S105 (a variable name, not a secret)

MIN_SECRET_LENGTH = 64

#: Values that appear in documentation or examples; a server must never run with them.
SAMPLE_SECRETS = frozenset(
    {
        "change-me",
        "changeme",
        "secret",
        "seekrit",
        "itsaseekreet",
        "replace-me-with-64-random-characters",
        "0" * 64,
    }
)


class ConfigurationError(Exception):
    """The configuration cannot run safely; the message says what to fix."""


DEFAULTS = {
    "flicket.session.cookie_name": "flicket_session",
    "flicket.session.secure": False,
    "flicket.session.idle_timeout": 1800,
    "flicket.session.absolute_timeout": 43200,
    "flicket.login.max_attempts_per_account": 10,
    "flicket.login.max_attempts_per_address": 10,
    "flicket.login.max_attempts_global": 1000,
    "flicket.login.window": 300,
    "flicket.reset.max_requests_per_address": 5,
    "flicket.reset.window": 3600,
    "flicket.reset.token_lifetime": 3600,
    "flicket.ratelimit.store": "memory",
    "flicket.redis.url": "",
    "flicket.redis.prefix": "flicket:",
    # Business limits per user (SECURITY.rst VAL-3): far above what a person does by hand.
    "flicket.limits.tickets_per_hour": 30,
    "flicket.limits.replies_per_minute": 20,
    "flicket.limits.uploads_per_day": 200,
    "flicket.limits.upload_mib_per_day": 500,
    "flicket.limits.subscribers_per_ticket": 100,
    "flicket.api.token_lifetime": 36000,
    # The ticket search uses the database's full-text index (migration 0005); false: the
    # substring fallback everywhere.
    "flicket.search.fulltext": True,
    "flicket.bcrypt_rounds": 12,
    "flicket.password_min_length": 12,
    "flicket.hsts": False,
    "flicket.mail.mode": "smtp",
    "flicket.mail.directory": "",
    "flicket.mail.queue_dir": "",
    "flicket.data_dir": "",
    "flicket.upload.max_size": 10 * 1024 * 1024,
    "jinja2.extensions": "jinja2.ext.do",
    "jinja2.autoescape": "true",
    "jinja2.undefined": "strict",
}

INT_SETTINGS = {key for key, value in DEFAULTS.items() if type(value) is int}
BOOL_SETTINGS = {key for key, value in DEFAULTS.items() if type(value) is bool}
RATE_LIMIT_STORES = ("memory", "database", "redis")
MAIL_MODES = ("smtp", "queue", "file", "dummy")


def load(settings, environ=None):
    """Return a new, coerced settings dict built from the ini ``settings`` and ``environ``."""
    environ = os.environ if environ is None else environ
    result = dict(DEFAULTS)
    result.update(settings)
    for key in INT_SETTINGS:
        result[key] = _as_int(key, result[key])
    for key in BOOL_SETTINGS:
        result[key] = asbool(result[key])

    result["sqlalchemy.url"] = database_url(result, environ)
    if environ.get(ENV_DATA_DIR):
        result["flicket.data_dir"] = environ[ENV_DATA_DIR]
    if environ.get(ENV_REDIS_URL):
        result["flicket.redis.url"] = environ[ENV_REDIS_URL]
    if environ.get(ENV_MAIL_PASSWORD):
        # The SMTP password of the ini's mail.* defaults (the admin panel's is stored
        # encrypted in the database).
        result["mail.password"] = environ[ENV_MAIL_PASSWORD]
    if not result["flicket.data_dir"]:
        result["flicket.data_dir"] = os.path.join(os.getcwd(), "var")
    if not result["flicket.mail.directory"]:
        result["flicket.mail.directory"] = os.path.join(result["flicket.data_dir"], "mail")
    if not result["flicket.mail.queue_dir"]:
        result["flicket.mail.queue_dir"] = os.path.join(result["flicket.data_dir"], "mail-queue")

    result["flicket.secret"] = _load_secret(result, environ)
    if result["flicket.ratelimit.store"] not in RATE_LIMIT_STORES:
        raise ConfigurationError(
            f"flicket.ratelimit.store must be one of {', '.join(RATE_LIMIT_STORES)}."
        )
    if result["flicket.ratelimit.store"] == "redis" and not result["flicket.redis.url"]:
        raise ConfigurationError(
            f"flicket.ratelimit.store = redis needs {ENV_REDIS_URL} (or flicket.redis.url), "
            "e.g. redis://127.0.0.1:6379/0."
        )
    if result["flicket.mail.mode"] not in MAIL_MODES:
        raise ConfigurationError(f"flicket.mail.mode must be one of {', '.join(MAIL_MODES)}.")
    if result["flicket.bcrypt_rounds"] < 4 or result["flicket.bcrypt_rounds"] > 16:
        raise ConfigurationError("flicket.bcrypt_rounds must be between 4 and 16.")
    if result["flicket.session.secure"]:
        _refuse_debugging_in_production(result)
    return result


#: Settings that show internals or slow every request; never on a production site.
DEBUG_SETTINGS = (
    "pyramid.debug_all",
    "pyramid.debug_authorization",
    "pyramid.debug_notfound",
    "pyramid.debug_routematch",
    "pyramid.reload_all",
    "pyramid.reload_templates",
)


def _refuse_debugging_in_production(settings):
    """A production site (``flicket.session.secure = true``, HTTPS) runs without debugging
    aids: start-up stops and names what to turn off (SECURITY.rst CFG-1)."""
    on = [key for key in DEBUG_SETTINGS if asbool(settings.get(key, False))]
    includes = str(settings.get("pyramid.includes", "")).split()
    on += [f"pyramid.includes = {name}" for name in includes if "debugtoolbar" in name]
    if on:
        raise ConfigurationError(
            "This is a production configuration (flicket.session.secure = true): turn off "
            + ", ".join(on)
            + "."
        )


def database_url(settings, environ=None):
    """The database URL: ``FLICKET_DATABASE_URL`` wins over the ini's ``sqlalchemy.url``."""
    environ = os.environ if environ is None else environ
    url = environ.get(ENV_DATABASE_URL) or settings.get("sqlalchemy.url")
    if not url:
        raise ConfigurationError(
            f"No database configured: set {ENV_DATABASE_URL} "
            "(for example sqlite:////var/lib/flicket/flicket.sqlite) or sqlalchemy.url."
        )
    return url


def _as_int(key, value):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{key} must be a whole number, not {value!r}.") from None


def _load_secret(settings, environ):
    """The master secret: ``FLICKET_SECRET``, else a file named by ``flicket.secret_file``.

    The secret file is created with a random value on first use, so a development install
    never needs a secret typed into an ini file. Production reads the environment.
    """
    secret = environ.get(ENV_SECRET, "").strip()
    source = ENV_SECRET
    secret_file = settings.get("flicket.secret_file", "").strip()
    if not secret and secret_file:
        path = Path(secret_file)
        source = str(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(64) + "\n")
        secret = path.read_text().strip()
    if not secret:
        raise ConfigurationError(
            f"No secret configured: set {ENV_SECRET} to at least {MIN_SECRET_LENGTH} random "
            "characters, for example the output of "
            "python -c 'import secrets; print(secrets.token_urlsafe(64))'."
        )
    if secret.lower() in SAMPLE_SECRETS or len(set(secret)) < 10:
        raise ConfigurationError(f"The secret from {source} is a sample value; generate one.")
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"The secret from {source} is too short: use at least {MIN_SECRET_LENGTH} characters."
        )
    return secret


def derive_secret(settings, purpose):
    """A separate key per purpose (sessions, reset links, ...) derived from the master secret."""
    master = settings["flicket.secret"].encode()
    return hmac.new(master, purpose.encode(), hashlib.sha256).hexdigest()
