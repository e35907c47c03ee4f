"""Error pages (HTML or JSON, generic, escaped) and the security headers on every kind of
response (SECURITY-TESTS ERR-1, ERR-2, HDR-1, CSRF-6, API-5)."""

import logging
import os
import re

import pytest
import webtest

from flicket import main
from flicket.accounts.services import AccountService
from flicket.tweens import SERVED_FILE_CSP
from tests.conftest import PASSWORD, basic_auth, csrf_token_from, login

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
JSON = {"Accept": "application/json"}
SECRET_TEXT = "SELECT secret_password FROM x"
INCIDENT_RE = re.compile(r"Incident ([0-9a-f]{12}) has been logged")


def assert_security_headers(response, *, static=False):
    csp = response.headers["Content-Security-Policy"]
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";")}
    assert directives["frame-ancestors"] == "frame-ancestors 'none'"
    if "sandbox" in directives:  # a file a user uploaded: nothing in it may run or load
        assert csp == SERVED_FILE_CSP
    else:
        assert directives["script-src"] == "script-src 'self'"
        assert directives["object-src"] == "object-src 'none'"
        assert directives["base-uri"] == "base-uri 'none'"
        assert directives["default-src"] == "default-src 'self'"
        assert "form-action" in directives
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] in (
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    )
    for header in ("Server", "X-Powered-By"):
        assert header not in response.headers
    if static:
        assert "no-store" not in response.headers.get("Cache-Control", "")
    else:
        assert response.headers["Cache-Control"] == "no-store"


# -- 404 ----------------------------------------------------------------------------------------


def test_404_as_html(testapp):
    response = testapp.get("/no/such/page", headers=HTML, status=404)
    assert response.content_type == "text/html"
    assert "404 Not Found" in response.text
    assert_security_headers(response)


@pytest.mark.parametrize("headers", [JSON, {}, {"Accept": "*/*"}])
def test_404_as_json(testapp, headers):
    response = testapp.get("/no/such/page", headers=headers, status=404)
    assert response.content_type == "application/json"
    assert response.json["error"] == "Not Found"
    assert set(response.json) == {"error", "message"}
    assert_security_headers(response)


@pytest.mark.parametrize("accept", ["garbage;;;q=x", "text/html;q=abc", "*/*;q=0", ","])
def test_an_odd_accept_header_never_500s(testapp, accept):
    response = testapp.get("/no/such/page", headers={"Accept": accept}, status=404)
    assert_security_headers(response)


def test_api_paths_always_answer_json(testapp, users):
    # Not found under the API is JSON even for a browser. Unknown API paths are 404 for
    # everyone (there is nothing to authenticate for): no route, no resource.
    response = testapp.get("/flicket-api/nonexistent", headers=HTML, status=404)
    assert response.content_type == "application/json"
    assert response.json["error"] == "Not Found"
    assert_security_headers(response)
    response = testapp.get("/flicket-api", headers=HTML, status=404)
    assert response.json["error"] == "Not Found"


def test_api_401_is_json_with_headers(testapp, users):
    response = testapp.delete("/flicket-api/tokens", headers=HTML, status=401)
    assert response.content_type == "application/json"
    assert response.json["error"] == "Unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert_security_headers(response)


def test_reflected_path_is_escaped_in_the_404_page(testapp):
    response = testapp.get("/%3Cscript%3Ealert(1)%3C/script%3E", headers=HTML, status=404)
    assert "<script>alert" not in response.text
    path = "/x%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E"
    response = testapp.get(path, headers=HTML, status=404)
    assert "<img src=x" not in response.text


def test_next_is_escaped_in_the_login_page(testapp):
    response = testapp.get("/login?next=%22%3E%3Cscript%3Ealert(1)%3C/script%3E", status=200)
    assert "<script>alert(1)" not in response.text
    assert '"><script>' not in response.text


def test_an_anonymous_redirect_encodes_the_requested_path(testapp):
    response = testapp.get("/?x=%3Cscript%3E%0d%0aSet-Cookie:%20a=b", status=302)
    assert "<script>" not in response.location
    assert "\n" not in response.location and "\r" not in response.location
    assert not any(c.startswith("a=") for c in response.headers.getall("Set-Cookie"))


# -- URLs that are not UTF-8 --------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/%FF", "/password_reset/%FF%FE", "/login?next=%FF", "/?x=%C3%28", "/flicket-api/%FF"]
)
def test_a_url_that_is_not_utf8_is_400(testapp, path):
    response = testapp.get(path, status=400)
    assert response.json["error"] == "Bad Request"
    assert_security_headers(response)


def test_a_url_that_is_not_utf8_is_400_html_for_browsers(testapp):
    response = testapp.get("/%FF", headers=HTML, status=400)
    assert response.content_type == "text/html"
    assert "400 Bad Request" in response.text
    assert_security_headers(response)


# -- 500 ----------------------------------------------------------------------------------------


@pytest.fixture
def broken_login(monkeypatch):
    def explode(self, login):
        raise RuntimeError(SECRET_TEXT)

    monkeypatch.setattr(AccountService, "find_by_login", explode)


def _post_valid_login(testapp, headers):
    page = testapp.get("/login")
    return testapp.post(
        "/login",
        {"csrf_token": csrf_token_from(page), "username": "alice", "password": PASSWORD},
        headers=headers,
        status=500,
    )


def _assert_generic(response):
    leaks = ("secret_password", "SELECT", "RuntimeError", "Traceback", "flicket/accounts", '.py"')
    for leak in leaks:
        assert leak not in response.text, leak
        assert leak not in str(response.headers), leak


def test_500_html_page_has_an_incident_id_and_no_details(testapp, users, broken_login, caplog):
    with caplog.at_level(logging.ERROR, logger="flicket.errors"):
        response = _post_valid_login(testapp, HTML)
    assert response.content_type == "text/html"
    assert "500 Internal Server Error" in response.text
    incident = INCIDENT_RE.search(response.text).group(1)
    _assert_generic(response)
    assert_security_headers(response)
    # The log has what the page hides: the incident id and the traceback.
    records = [r for r in caplog.records if incident in r.getMessage()]
    assert len(records) == 1
    assert records[0].exc_info and SECRET_TEXT in str(records[0].exc_info[1])


def test_500_json_has_an_incident_id_and_no_details(testapp, users, broken_login):
    response = _post_valid_login(testapp, JSON)
    assert response.content_type == "application/json"
    assert response.json["error"] == "Internal Server Error"
    assert INCIDENT_RE.search(response.json["message"])
    _assert_generic(response)
    assert_security_headers(response)


def test_500_on_the_api_is_json(testapp, users, broken_login):
    response = testapp.post(
        "/flicket-api/tokens", headers={**basic_auth("alice"), **HTML}, status=500
    )
    assert response.content_type == "application/json"
    assert INCIDENT_RE.search(response.json["message"])
    _assert_generic(response)
    assert_security_headers(response)


def test_a_failed_request_changes_nothing(testapp, users, broken_login, monkeypatch):
    # The 500 did not leave a half-done login behind.
    _post_valid_login(testapp, HTML)
    monkeypatch.undo()
    response = testapp.get("/", status=302)
    assert "/login" in response.location


# -- security headers on every kind of response -------------------------------------------------


def test_headers_on_the_login_page(testapp):
    response = testapp.get("/login", status=200)
    assert_security_headers(response)


def test_headers_on_a_redirect(testapp):
    assert_security_headers(testapp.get("/", status=302))


def test_headers_on_a_logged_in_page(login_as):
    assert_security_headers(login_as("alice").get("/", status=200))


def test_headers_on_a_login_redirect(testapp, users):
    assert_security_headers(login(testapp, "alice"))


def test_headers_on_a_csrf_refusal(testapp):
    assert_security_headers(testapp.post("/login", status=400))


def test_headers_on_a_rate_limited_answer(testapp, users):
    for _ in range(10):
        login(testapp, "alice", "wrong password", status=200)
    response = login(testapp, "alice", status=429)
    assert_security_headers(response)


def test_static_files_have_security_headers_and_may_be_cached(testapp):
    response = testapp.get("/flicket/static/css/flicket.css", status=200)
    assert response.content_type == "text/css"
    assert_security_headers(response, static=True)
    assert "max-age=" in response.headers["Cache-Control"]


def test_no_hsts_unless_configured(testapp):
    assert "Strict-Transport-Security" not in testapp.get("/login").headers


def test_hsts_when_configured(app_settings):
    saved = {
        k: os.environ.pop(k) for k in ("FLICKET_DATABASE_URL", "FLICKET_SECRET") if k in os.environ
    }
    try:
        app = main({}, **{**app_settings, "flicket.hsts": "true"})
    finally:
        os.environ.update(saved)
    try:
        client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})
        response = client.get("/flicket/static/css/flicket.css", status=200)
        assert response.headers["Strict-Transport-Security"] == (
            "max-age=31536000; includeSubDomains"
        )
    finally:
        app.registry["dbengine"].dispose()
