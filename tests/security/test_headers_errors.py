"""Security headers on EVERY route (walked from the route table, as anonymous and as admin,
pages and API), every error status rendered safely with the same headers, and nothing
extra served (SECURITY-TESTS HDR-1, CSRF-6, ERR-2, CFG-2)."""

from urllib.parse import urlsplit

import pytest

from flicket.security import API_PREFIX
from tests.conftest import basic_auth, bearer, login
from tests.functional.test_errors_and_headers import HTML, assert_security_headers
from tests.security.test_meta import all_routes, is_api, real_ids  # noqa: F401

STATIC = "/flicket/static/"


def _get_every_route(testapp, registry, values, headers_for):
    seen = 0
    for route, path, methods in all_routes(registry, values):
        if "GET" not in methods:
            continue
        response = testapp.get(path, headers=headers_for(path), status="*", expect_errors=True)
        assert response.status_int < 500, f"GET {path}: {response.status}"
        try:
            assert_security_headers(response, static=path.startswith(STATIC))
        except (AssertionError, KeyError) as error:
            raise AssertionError(f"GET {path} ({route}): {error!r}") from error
        seen += 1
    assert seen > 60


def test_every_route_sends_the_headers_to_anonymous_visitors(testapp, registry, real_ids):  # noqa: F811
    _get_every_route(testapp, registry, real_ids, lambda path: HTML)


def test_every_route_sends_the_headers_to_the_admin(testapp, registry, real_ids):  # noqa: F811
    token = testapp.post(f"{API_PREFIX}/tokens", headers=basic_auth("admin")).json["token"]
    login(testapp, "admin")
    _get_every_route(
        testapp,
        registry,
        real_ids,
        lambda path: bearer(token) if is_api(urlsplit(path).path) else HTML,
    )


# -- every error status: escaped, headers, no permission needed (ERR-2) -------------------------

PROBE = '"><img src=x onerror=alert(1)>'


def _error_responses(testapp, login_as):
    """One response of each error status the application produces, as a browser sees it."""
    client = login_as("carol")
    yield 403, client.get(f"/flicket_admin/?x={PROBE}", headers=HTML, status=403)
    yield 403, client.get("/flicket_admin/", headers={"Accept": "application/json"}, status=403)
    testapp.reset()
    yield 400, testapp.post("/login", headers=HTML, status=400)  # CSRF
    yield 400, testapp.get(f"/password_reset/{PROBE}", headers=HTML, status=400)
    yield 401, testapp.get(f"{API_PREFIX}/tickets/?q={PROBE}", status=401)
    yield 404, testapp.get(f"/{PROBE}", headers=HTML, status=404)
    yield 404, testapp.get(f"/ticket_view/{PROBE}/", headers=HTML, status=404)
    yield 404, testapp.get(f"{API_PREFIX}/{PROBE}", status=404)
    token = testapp.post(f"{API_PREFIX}/tokens", headers=basic_auth("alice")).json["token"]
    big = b'{"title": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    yield (
        413,
        testapp.post(
            f"{API_PREFIX}/tickets",
            big,
            headers={**bearer(token), "Content-Type": "application/json"},
            status=413,
        ),
    )
    for _ in range(10):
        login(testapp, "carol", "wrong password", status=200)
    yield 429, login(testapp, "carol", status=429)


def test_every_error_status_is_escaped_and_has_the_headers(testapp, login_as, users):
    statuses = set()
    for status, response in _error_responses(testapp, login_as):
        assert response.status_int == status
        statuses.add(status)
        assert PROBE not in response.text, response.request.url
        assert "Traceback" not in response.text
        assert_security_headers(response)
    assert statuses == {400, 401, 403, 404, 413, 429}


def test_a_wrong_method_is_a_clean_4xx(login_as):
    """A route with no view for the method: a 4xx (404 or 405), never 500, with headers."""
    client = login_as("alice")
    for method, path in (
        ("PUT", "/tickets/"),
        ("DELETE", "/ticket_create/"),
        ("PATCH", f"{API_PREFIX}/tickets/"),
    ):
        response = client.request(path, method=method, status="*", expect_errors=True)
        assert response.status_int in (400, 404, 405), (method, path, response.status)
        assert_security_headers(response)


# -- nothing extra exposed (CFG-2) --------------------------------------------------------------

EXPOSED_GUESSES = [
    ".git/config",
    ".git/HEAD",
    ".env",
    "development.ini",
    "production.ini",
    "setup.py",
    "flicket.sqlite",
    ".flicket-secret",
    "var/mail/",
    "flicket_uploads/",
    "../__init__.py",
    "..%2f__init__.py",
    "..%2f..%2fsetup.py",
    "__init__.py",
    "routes.py",
    "templates/layout.jinja2",
    "css/",
    "css/flicket.css.bak",
    "css/flicket.css~",
    "server-status",
    "metrics",
    "debug",
    "_debug_toolbar/",
    "admin/",
    "phpinfo.php",
]


@pytest.mark.parametrize("prefix", ["/", STATIC, "/flicket/", "/flicket_uploads/"])
def test_no_source_config_or_listing_is_served(testapp, login_as, users, prefix):
    client = login_as("admin")
    for guess in EXPOSED_GUESSES:
        path = prefix + guess
        response = client.get(path, headers=HTML, status="*", expect_errors=True)
        assert response.status_int in (400, 404), f"{path}: {response.status}"
        assert "[app:main]" not in response.text and "import " not in response.text
    # The static prefix serves the app's own assets and nothing else.
    client.get(STATIC + "css/flicket.css", status=200)
