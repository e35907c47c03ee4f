"""Flicket: a simple, fast and secure ticketing system, on Pyramid."""

import warnings
from importlib.metadata import PackageNotFoundError, version

# Pyramid 2.1 imports pkg_resources, which warns on every start; nothing for users to do.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

from pyramid.config import Configurator  # noqa: E402

from flicket.resources import root_factory  # noqa: E402
from flicket.settings import load as load_settings  # noqa: E402

try:
    __version__ = version("flicket")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0"


def main(global_config, **settings):
    """The WSGI application (``paste.app_factory``)."""
    settings = load_settings(settings)
    with Configurator(settings=settings, root_factory=root_factory) as config:
        config.include("pyramid_jinja2")
        config.include(".db")  # request.dbsession, pyramid_tm, pyramid_retry
        config.include(".sessions")  # signed-cookie sessions, CSRF on every unsafe request
        config.include(".security")  # the security policy, request.user
        config.include(".ratelimit")  # login and reset rate limits
        config.include(".mail")  # request.mailer, sent after commit
        config.include(".uploads")  # attachment storage outside every static path
        config.include(".i18n")  # English and French: the locale of each request
        config.include(".templating")  # Jinja2 settings and layout values
        config.include(".tweens")  # security headers on every response
        config.include(".logs")  # a request id on every log line, one access line per request
        config.include(".errors")  # HTML and JSON error views
        config.include(".routes")  # every URL of the application
        config.include(".health")  # GET /healthz for the proxy and monitoring
        config.include(".admin")  # the site configuration row
        config.include(".accounts")  # login, logout, password reset, API tokens
        config.include(".accounts.users")  # request.user_service: rules for users and groups
        config.include(".accounts.profile")  # my profile (/user_details) and avatar images
        config.include(".tickets")  # ticket service, pages, lists and home dashboard
        config.include(".notifications")  # ticket e-mail notifications (sent after commit)
        config.include(".departments")  # department/category service and pages
        config.include(".accounts.directory")  # /users/, /user/<id>/, /users/complete
        config.include(".api")  # the JSON API under /flicket-api/
    return config.make_wsgi_app()
