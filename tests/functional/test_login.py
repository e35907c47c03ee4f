"""Login: identifiers, one failure answer, long passwords, safe ``next``, rate limits, the
session cookie (SECURITY-TESTS AUTH-1, AUTH-2, AUTH-3, AUTH-5, AUTH-10, CSRF-5, SESS-1, SESS-4)."""

import re
from urllib.parse import quote, urlsplit

import bcrypt
import pytest

from flicket.accounts import passwords
from flicket.accounts.views import LOGIN_FAILED
from tests.conftest import (
    CSRF_RE,
    PASSWORD,
    SESSION_COOKIE,
    assert_login_page,
    csrf_token_from,
    login,
    make_user,
)

LIMIT = 10  # flicket.login.max_attempts_per_account / _per_address (the defaults)
WINDOW = 300  # flicket.login.window


def logged_in_as(client, name):
    """The home page greets ``name``: the client's session is authenticated as that user."""
    home = client.get("/", status=200)
    assert f"{name.capitalize()} Example" in home.text
    return home


def is_anonymous(client):
    response = client.get("/")
    return response.status_int == 302 and urlsplit(response.location).path == "/login"


@pytest.fixture
def bcrypt_calls(monkeypatch):
    """Counts every bcrypt verification the application runs."""
    calls = []
    real_checkpw = bcrypt.checkpw

    def counting_checkpw(password, hashed):
        calls.append(1)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(passwords.bcrypt, "checkpw", counting_checkpw)
    return calls


def post_login(client, username, password, remote_addr=None, status=None, next_=None):
    page = client.get("/login" + (f"?next={quote(next_, safe='')}" if next_ is not None else ""))
    form = page.forms[0]
    form["username"] = username
    form["password"] = password
    kwargs = {"extra_environ": {"REMOTE_ADDR": remote_addr}} if remote_addr else {}
    return form.submit(status=status or "*", **kwargs)


# -- success ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "identifier", ["alice", "alice@example.com", "ALICE", "Alice", "ALICE@EXAMPLE.COM"]
)
def test_login_by_username_or_email_ignoring_case(testapp, users, identifier):
    response = login(testapp, identifier)
    assert urlsplit(response.location).path == "/"
    home = response.follow()
    assert "Welcome, Alice Example. You are logged in." in home.text
    logged_in_as(testapp, "alice")


def test_login_with_surrounding_spaces_in_the_identifier(testapp, users):
    login(testapp, "  alice@example.com ")
    logged_in_as(testapp, "alice")


# -- failures ---------------------------------------------------------------------------------


def _normalised_failure_body(response, submitted):
    body = CSRF_RE.sub('name="csrf_token" value="X"', response.text)
    # The form echoes what was typed in the username field; nothing else may differ.
    return body.replace(f'value="{submitted}"', 'value="X"')


def test_every_failure_looks_the_same(testapp, users, bcrypt_calls):
    attempts = {
        "unknown user": ("nobody-here", PASSWORD),
        "unknown email": ("nobody@example.com", PASSWORD),
        "wrong password": ("alice", PASSWORD + "!"),
        "disabled user, right password": ("dave", PASSWORD),
        "disabled user, wrong password": ("dave", "not the password at all"),
    }
    bodies = {}
    for label, (username, password) in attempts.items():
        before = len(bcrypt_calls)
        response = login(testapp, username, password, status=200)
        assert LOGIN_FAILED in response.text, label
        # The same work (one bcrypt check) for every kind of failure: no timing oracle.
        assert len(bcrypt_calls) - before == 1, label
        bodies[label] = _normalised_failure_body(response, username)
        assert is_anonymous(testapp), label
    first = bodies["unknown user"]
    for label, body in bodies.items():
        assert body == first, f"{label} answers differently from an unknown user"


def test_failure_does_not_echo_the_password(testapp, users):
    response = login(testapp, "alice", "my-secret-typo-1234", status=200)
    assert "my-secret-typo-1234" not in response.text


@pytest.mark.parametrize(("username", "password"), [("", ""), ("alice", ""), ("", PASSWORD)])
def test_empty_fields_are_form_errors(testapp, users, bcrypt_calls, username, password):
    response = login(testapp, username, password, status=200)
    assert "This field is required." in response.text
    assert LOGIN_FAILED not in response.text
    assert is_anonymous(testapp)
    assert bcrypt_calls == []  # refused by the form, before any password work


def test_a_blank_username_is_an_ordinary_failure(testapp, users, bcrypt_calls):
    response = login(testapp, "   ", PASSWORD, status=200)
    assert LOGIN_FAILED in response.text
    assert len(bcrypt_calls) == 1  # as slow as any other failure
    assert is_anonymous(testapp)


def test_empty_fields_are_not_counted_as_failures(testapp, users):
    for _ in range(LIMIT + 2):
        login(testapp, "alice", "", status=200)
    login(testapp, "alice")
    logged_in_as(testapp, "alice")


@pytest.mark.parametrize("size", [73, 100, 5000])
def test_long_passwords_never_500(testapp, users, size):
    password = "p" * (size - 1) + "!"
    assert len(password.encode("utf-8")) == size
    response = login(testapp, "alice", password, status=200)
    assert LOGIN_FAILED in response.text
    assert is_anonymous(testapp)


def test_a_100_byte_passphrase_logs_in_and_its_72_byte_prefix_does_not(testapp, users, dbsession):
    long_password = "correct horse battery staple " * 3 + "0123456789012"
    assert len(long_password.encode()) == 100
    make_user(dbsession, "erin", password=long_password)
    login(testapp, "erin", long_password[:72] + "x" * 28, status=200)
    login(testapp, "erin", long_password[:72], status=200)
    assert is_anonymous(testapp)
    login(testapp, "erin", long_password)
    logged_in_as(testapp, "erin")


# -- already logged in, redirects -------------------------------------------------------------


def test_login_page_while_logged_in_redirects(login_as):
    client = login_as("alice")
    response = client.get("/login", status=302)
    assert response.location == "http://example.com/"
    response = client.get("/login?next=/%3Fpage%3D2", status=302)
    assert response.location == "http://example.com/?page=2"


def test_relative_next_is_kept(testapp, users):
    response = post_login(testapp, "alice", PASSWORD, next_="/?page=2&sort=date", status=302)
    parts = urlsplit(response.location)
    assert (parts.netloc, parts.path, parts.query) == ("example.com", "/", "page=2&sort=date")


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "https://evil.example/",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https:evil.example",
        "javascript:alert(1)",
        "\r\nLocation: https://evil.example",
        "%0d%0aLocation:x",
        "/\r\nLocation: x",
        "\t//evil.example",
        "/login",
        "/logout",
    ],
)
def test_unsafe_next_lands_on_home(testapp, users, target):
    response = post_login(testapp, "alice", PASSWORD, next_=target, status=302)
    assert response.location == "http://example.com/"
    assert "evil" not in "".join(response.headers.values())


def test_unsafe_next_in_the_posted_form_lands_on_home(testapp, users):
    page = testapp.get("/login")
    response = testapp.post(
        "/login",
        {
            "csrf_token": csrf_token_from(page),
            "username": "alice",
            "password": PASSWORD,
            "next": "//evil.example/",
        },
        status=302,
    )
    assert response.location == "http://example.com/"


# -- rate limits --------------------------------------------------------------------------------


def test_account_limit_then_429_even_with_the_right_password(testapp, users, bcrypt_calls):
    # Each failure from a different address, so only the per-account limit can trip.
    for attempt in range(LIMIT):
        response = post_login(testapp, "alice", "wrong password", f"198.51.100.{attempt + 1}")
        assert response.status_int == 200
        assert LOGIN_FAILED in response.text
    calls_before = len(bcrypt_calls)
    response = post_login(testapp, "ALICE@example.com", PASSWORD, "198.51.100.200", status=429)
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= WINDOW + 1
    assert "Too many attempts" in response.text
    assert len(bcrypt_calls) == calls_before, "bcrypt ran for a rate-limited attempt"
    assert is_anonymous(testapp)
    # Another account from the same address is not affected.
    post_login(testapp, "bob", PASSWORD, "198.51.100.200", status=302)
    logged_in_as(testapp, "bob")


def test_global_limit_across_accounts_and_addresses(
    testapp, users, bcrypt_calls, registry, monkeypatch
):
    # A botnet: every failure from another address against another name, so only the
    # global cap (flicket.login.max_attempts_global) can trip.
    monkeypatch.setattr(registry["ratelimits"]["login_global"], "limit", 3)
    for attempt in range(3):
        response = post_login(
            testapp, f"nobody{attempt}", "wrong password", f"203.0.113.{attempt + 1}"
        )
        assert LOGIN_FAILED in response.text
    calls_before = len(bcrypt_calls)
    response = post_login(testapp, "alice", PASSWORD, "203.0.113.99", status=429)
    assert 0 < int(response.headers["Retry-After"]) <= WINDOW + 1
    assert len(bcrypt_calls) == calls_before, "bcrypt ran for a rate-limited attempt"
    assert is_anonymous(testapp)


def test_address_limit_across_usernames(testapp, users, bcrypt_calls, make_client):
    for attempt in range(LIMIT):
        response = post_login(testapp, f"user{attempt}", "wrong password")
        assert response.status_int == 200
    calls_before = len(bcrypt_calls)
    response = post_login(testapp, "carol", PASSWORD, status=429)
    assert int(response.headers["Retry-After"]) > 0
    assert len(bcrypt_calls) == calls_before
    assert is_anonymous(testapp)
    # The same account from another address still works: the limit was the address's.
    other = make_client(remote_addr="203.0.113.7")
    login(other, "carol")
    logged_in_as(other, "carol")


def test_success_does_not_reset_the_address_counter(testapp, users):
    for attempt in range(LIMIT - 1):
        post_login(testapp, f"user{attempt}", "wrong password", status=200)
    post_login(testapp, "alice", PASSWORD, status=302)
    testapp.reset()
    post_login(testapp, "bob", "wrong password", status=200)
    post_login(testapp, "bob", PASSWORD, status=429)


def test_the_limit_lifts_when_the_window_has_passed(testapp, users, app_clock):
    for _ in range(LIMIT):
        post_login(testapp, "alice", "wrong password", status=200)
    response = post_login(testapp, "alice", PASSWORD, status=429)
    retry_after = int(response.headers["Retry-After"])
    app_clock.advance(retry_after - 5)
    post_login(testapp, "alice", PASSWORD, status=429)
    app_clock.advance(WINDOW)
    post_login(testapp, "alice", PASSWORD, status=302)
    logged_in_as(testapp, "alice")


# -- the session cookie -------------------------------------------------------------------------


def _session_set_cookie(response):
    set_cookies = response.headers.getall("Set-Cookie")
    headers = [h for h in set_cookies if h.startswith(SESSION_COOKIE + "=")]
    assert len(headers) == 1, set_cookies
    return headers[0]


def test_session_cookie_flags(testapp, users):
    response = login(testapp, "alice")
    header = _session_set_cookie(response)
    attributes = {part.strip().split("=", 1)[0].lower(): part for part in header.split(";")[1:]}
    assert "httponly" in attributes
    assert re.search(r";\s*SameSite=Lax\b", header, re.IGNORECASE)
    assert re.search(r";\s*Path=/(;|$)", header)
    assert "domain" not in attributes
    assert "secure" not in attributes  # not configured in the tests (http://example.com)
    # No session value in any link of the page.
    value = header.split(";", 1)[0].split("=", 1)[1]
    assert value not in response.follow().text


def test_new_session_and_new_csrf_token_on_login(testapp, users, make_client):
    page = testapp.get("/login")
    cookie_before = testapp.cookies[SESSION_COOKIE]
    token_before = csrf_token_from(page)
    form = page.forms[0]
    form["username"] = "alice"
    form["password"] = PASSWORD
    form.submit(status=302)
    cookie_after = testapp.cookies[SESSION_COOKIE]
    assert cookie_after != cookie_before
    home = logged_in_as(testapp, "alice")
    assert csrf_token_from(home) != token_before
    # A cookie captured before the login (session fixation) is not logged in afterwards.
    replay = make_client(cookie=cookie_before)
    assert_login_page(replay.get("/"))
    # ... and its old CSRF token is no good for the logged-in session either.
    testapp.post("/logout", {"csrf_token": token_before}, status=400)
    logged_in_as(testapp, "alice")
