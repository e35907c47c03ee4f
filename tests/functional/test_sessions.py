"""Sessions: logout, revocation, timeouts and what anonymous visitors reach
(SECURITY-TESTS SESS-2, SESS-3, SESS-5, CSRF-3)."""

import time
import types
from urllib.parse import parse_qs, urlsplit

import pyramid.session
import pytest
import sqlalchemy as sa

from flicket.accounts.models import User
from flicket.accounts.services import AccountService
from tests.conftest import SESSION_COOKIE, assert_login_page, csrf_token_from, login

IDLE_TIMEOUT = 1800  # flicket.session.idle_timeout
ABSOLUTE_TIMEOUT = 43200  # flicket.session.absolute_timeout


def assert_logged_in(client, name="alice"):
    home = client.get("/", status=200)
    assert f"{name.capitalize()} Example" in home.text
    return home


def auth_generation(dbsession, username):
    dbsession.expire_all()
    return dbsession.scalar(sa.select(User.auth_generation).where(User.username == username))


def post_logout(client):
    page = client.get("/logout", status=200)
    return client.post("/logout", {"csrf_token": csrf_token_from(page)}, status=302)


@pytest.fixture
def session_clock(monkeypatch):
    """Moves the clock the signed-cookie session factory reads (its idle timeout)."""
    moved = types.SimpleNamespace(offset=0)
    fake_time = types.SimpleNamespace(time=lambda: time.time() + moved.offset)
    monkeypatch.setattr(pyramid.session, "time", fake_time)
    return moved


# -- logout -----------------------------------------------------------------------------------


def test_logout_ends_the_session(login_as, dbsession):
    client = login_as("alice")
    generation = auth_generation(dbsession, "alice")
    response = post_logout(client)
    assert urlsplit(response.location).path == "/login"
    assert "You have been logged out." in response.follow().text
    assert_login_page(client.get("/"))
    assert auth_generation(dbsession, "alice") == generation + 1


def test_a_cookie_copied_before_logout_is_dead(login_as, make_client):
    client = login_as("alice")
    copied = client.cookies[SESSION_COOKIE]
    assert_logged_in(make_client(cookie=copied))  # the copy works while the session lives
    post_logout(client)
    replay = make_client(cookie=copied)
    assert_login_page(replay.get("/"))
    # Not even to log out again (the copy's CSRF token belongs to a dead session's page).
    assert_login_page(replay.get("/logout"))


def test_logout_ends_the_users_other_sessions(login_as, make_client):
    laptop = login_as("alice")
    phone = make_client(remote_addr="198.51.100.20")
    login(phone, "alice")
    bob = make_client(remote_addr="198.51.100.30")
    login(bob, "bob")
    assert_logged_in(phone)
    post_logout(laptop)
    assert_login_page(phone.get("/"))
    assert_logged_in(bob, "bob")  # other users are not affected


def test_get_logout_changes_nothing(login_as, dbsession):
    client = login_as("alice")
    generation = auth_generation(dbsession, "alice")
    page = client.get("/logout", status=200)
    assert "<form" in page.text and 'method="post"' in page.text
    assert "Logging out ends all of your sessions" in page.text
    assert auth_generation(dbsession, "alice") == generation
    assert_logged_in(client)


# -- revocation -------------------------------------------------------------------------------


def test_disabling_a_user_ends_their_open_session(login_as, users, dbsession):
    client = login_as("alice")
    assert_logged_in(client)
    users["alice"].disabled = True
    dbsession.flush()
    assert_login_page(client.get("/"))
    # The session is gone for good, not just while disabled.
    users["alice"].disabled = False
    dbsession.flush()
    assert_login_page(client.get("/"))


def test_a_password_change_ends_other_sessions(login_as, users, dbsession, registry):
    client = login_as("alice")
    assert_logged_in(client)
    service = AccountService(dbsession, registry.settings)
    service.set_password(users["alice"], "a brand new passphrase for alice")
    dbsession.flush()
    assert_login_page(client.get("/"))
    login(client, "alice", status=200)  # the old password is refused
    login(client, "alice", "a brand new passphrase for alice")
    assert_logged_in(client)


# -- timeouts ---------------------------------------------------------------------------------


def test_idle_timeout(login_as, session_clock):
    client = login_as("alice")
    session_clock.offset = IDLE_TIMEOUT - 60
    assert_logged_in(client)  # still within the idle time (and the cookie is renewed)
    session_clock.offset += IDLE_TIMEOUT - 60
    assert_logged_in(client)  # active sessions outlive one idle period
    session_clock.offset += IDLE_TIMEOUT + 1
    assert_login_page(client.get("/"))


def test_an_idle_cookie_replayed_later_is_refused(login_as, session_clock, make_client):
    client = login_as("alice")
    copied = client.cookies[SESSION_COOKIE]
    session_clock.offset = IDLE_TIMEOUT + 1
    # The browser would have dropped nothing (no Expires): the server must refuse it.
    assert_login_page(make_client(cookie=copied).get("/"))


def test_absolute_timeout_even_for_an_active_session(login_as, session_clock, app_clock):
    client = login_as("alice")
    step = IDLE_TIMEOUT - 300  # a click every 25 minutes keeps the cookie fresh
    elapsed = 0
    while elapsed + step < ABSOLUTE_TIMEOUT:
        elapsed += step
        session_clock.offset += step
        app_clock.advance(step)
        assert_logged_in(client)
    remaining = ABSOLUTE_TIMEOUT - elapsed + 1
    session_clock.offset += remaining
    app_clock.advance(remaining)
    assert_login_page(client.get("/"))


def test_absolute_timeout_alone(login_as, app_clock):
    client = login_as("alice")
    app_clock.advance(ABSOLUTE_TIMEOUT - 60)
    assert_logged_in(client)
    app_clock.advance(61)
    assert_login_page(client.get("/"))
    # A fresh login works again.
    login(client, "alice")
    assert_logged_in(client)


# -- anonymous visitors -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/logout", "/?page=2&sort=date"])
def test_anonymous_pages_redirect_to_login_with_next(testapp, path):
    response = testapp.get(path, status=302)
    parts = urlsplit(response.location)
    assert (parts.netloc, parts.path) == ("example.com", "/login")
    assert parse_qs(parts.query) == {"next": [path]}
    # The home page is where everyone starts: no "please log in" notice for it.
    page = response.follow()
    assert ("Please log in to see this page." in page.text) is (urlsplit(path).path != "/")


def test_next_from_the_redirect_survives_the_login(testapp, users):
    page = testapp.get("/?page=2", status=302).follow()
    form = page.forms[0]
    assert form["next"].value == "/?page=2"
    form["username"] = "alice"
    form["password"] = "tangerine ocelot sunrise"
    response = form.submit(status=302)
    assert response.location == "http://example.com/?page=2"


def test_anonymous_post_to_a_protected_page_with_a_token_redirects_to_login(testapp):
    token = csrf_token_from(testapp.get("/login"))
    assert_login_page(testapp.post("/logout", {"csrf_token": token}))


@pytest.mark.parametrize("path", ["/login", "/password_reset", "/flicket/static/css/flicket.css"])
def test_public_pages_are_reachable_anonymously(testapp, path):
    response = testapp.get(path, status=200)
    assert response.body


def test_unknown_pages_are_not_found_for_anonymous(testapp):
    testapp.get("/no/such/page", status=404)
    testapp.get("/logout/deeper", status=404)
