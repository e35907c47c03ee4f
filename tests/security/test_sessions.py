"""CSRF behind the HTTPS proxy: Pyramid checks Origin/Referer only for https requests, so
these tests run the application as the proxy presents it (``wsgi.url_scheme = https``,
which waitress sets from the trusted proxy's X-Forwarded-Proto) (SECURITY-TESTS CSRF-2)."""

import os
import re

import pytest
import webtest

from flicket import main
from tests.conftest import PASSWORD, SESSION_COOKIE, assert_login_page, csrf_token_from

CSRF_MESSAGE = "The form expired or was sent from elsewhere"


@pytest.fixture
def https_client(wsgi_app, connection, users):
    return webtest.TestApp(
        wsgi_app,
        extra_environ={
            "HTTP_HOST": "example.com",
            "REMOTE_ADDR": "192.0.2.10",
            "wsgi.url_scheme": "https",
        },
    )


def post_login(client, headers):
    token = csrf_token_from(client.get("/login"))
    return client.post(
        "/login",
        {"csrf_token": token, "username": "alice", "password": PASSWORD},
        headers=headers,
        status="*",
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "http://example.com"},  # same host, but not https
        {"Origin": "https://example.com.evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/login"},
        {},  # neither Origin nor Referer
    ],
)
def test_a_valid_token_from_a_foreign_origin_is_refused(https_client, headers):
    response = post_login(https_client, headers)
    assert response.status_int == 400, response.status
    assert CSRF_MESSAGE in response.json["message"]
    assert_login_page(https_client.get("/"))  # nobody was logged in


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://example.com"}, {"Referer": "https://example.com/login"}],
)
def test_the_same_origin_is_accepted(https_client, headers):
    response = post_login(https_client, headers)
    assert response.status_int == 302, response.status
    https_client.get("/", status=200)


# -- the cookie as production sends it (SESS-4) -------------------------------------------------


@pytest.fixture
def production_like_app(app_settings):
    """The application with production.ini's security settings (Secure cookie, HSTS)."""
    saved = {
        k: os.environ.pop(k) for k in ("FLICKET_DATABASE_URL", "FLICKET_SECRET") if k in os.environ
    }
    try:
        app = main(
            {}, **{**app_settings, "flicket.session.secure": "true", "flicket.hsts": "true"}
        )
    finally:
        os.environ.update(saved)
    yield app
    app.registry["dbengine"].dispose()


def test_production_cookie_is_secure_httponly_samesite_host_only(production_like_app):
    """The session cookie of the login page (it carries the CSRF token, and the login
    keeps the same attributes: tests/functional/test_login.py::test_session_cookie_flags)."""
    client = webtest.TestApp(
        production_like_app,
        extra_environ={"HTTP_HOST": "example.com", "wsgi.url_scheme": "https"},
    )
    response = client.get("/login", status=200)
    header = next(
        value
        for name, value in response.headerlist
        if name.lower() == "set-cookie" and value.startswith(SESSION_COOKIE + "=")
    )
    attributes = {part.strip().split("=", 1)[0].lower() for part in header.split(";")[1:]}
    assert {"secure", "httponly", "samesite", "path"} <= attributes
    assert "domain" not in attributes
    assert re.search(r";\s*SameSite=(Lax|Strict)\b", header, re.IGNORECASE)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
