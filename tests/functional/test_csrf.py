"""CSRF: every unsafe page request needs the session's token, checked before the permission
(SECURITY-TESTS CSRF-1, CSRF-3). The walk over every route is tests/security/test_meta.py."""

import pytest
import sqlalchemy as sa

from flicket.accounts.models import User
from tests.conftest import PASSWORD, assert_login_page, basic_auth, csrf_token_from

UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
CSRF_MESSAGE = "The form expired or was sent from elsewhere"


def assert_csrf_refusal(response, what=""):
    """The CSRF check's own 400 (not some other 400 the view might give)."""
    assert response.status_int == 400, f"{what}: {response.status}"
    assert response.json["error"] == "Bad Request", what
    assert CSRF_MESSAGE in response.json["message"], what


def generation_of(dbsession, username):
    dbsession.expire_all()
    return dbsession.scalar(sa.select(User.auth_generation).where(User.username == username))


# -- forms without a token ----------------------------------------------------------------------


def test_login_without_token_is_400_and_counts_nothing(testapp, users):
    testapp.get("/login")
    for _ in range(12):  # more than the rate limit, had these been counted
        response = testapp.post(
            "/login", {"username": "alice", "password": "wrong password"}, status=400
        )
        assert_csrf_refusal(response)
    response = testapp.post("/login", {"username": "alice", "password": PASSWORD}, status=400)
    assert_login_page(testapp.get("/"))  # the right password without a token logs no one in
    # No failure was recorded: the real form still logs alice in.
    page = testapp.get("/login")
    form = page.forms[0]
    form["username"] = "alice"
    form["password"] = PASSWORD
    form.submit(status=302)
    testapp.get("/", status=200)


def test_login_with_an_empty_or_wrong_token_is_400(testapp, users):
    testapp.get("/login")
    for token in ("", "x", "0" * 40):
        testapp.post(
            "/login",
            {"csrf_token": token, "username": "alice", "password": PASSWORD},
            status=400,
        )
    assert_login_page(testapp.get("/"))


def test_logout_without_token_is_400_and_changes_nothing(login_as, dbsession):
    client = login_as("alice")
    generation = generation_of(dbsession, "alice")
    client.post("/logout", status=400)
    client.post("/logout", {"csrf_token": "forged"}, status=400)
    client.get("/", status=200)
    assert generation_of(dbsession, "alice") == generation


def test_logout_html_error_page_for_browsers(login_as):
    client = login_as("alice")
    response = client.post("/logout", headers={"Accept": "text/html"}, status=400)
    assert "text/html" in response.content_type
    assert "The form expired or was sent from elsewhere" in response.text


def test_a_token_from_another_session_is_refused(login_as, make_client, dbsession):
    client = login_as("alice")
    generation = generation_of(dbsession, "alice")
    attacker = make_client(remote_addr="203.0.113.66")
    attacker_token = csrf_token_from(attacker.get("/login"))
    client.post("/logout", {"csrf_token": attacker_token}, status=400)
    # Even another logged-in user's token.
    login_as_bob = make_client(remote_addr="203.0.113.67")
    page = login_as_bob.get("/login")
    form = page.forms[0]
    form["username"], form["password"] = "bob", PASSWORD
    form.submit(status=302)
    bob_token = csrf_token_from(login_as_bob.get("/logout"))
    client.post("/logout", {"csrf_token": bob_token}, status=400)
    client.get("/", status=200)
    assert generation_of(dbsession, "alice") == generation


def test_a_token_in_the_header_works_like_the_field(login_as, dbsession):
    client = login_as("alice")
    token = csrf_token_from(client.get("/logout"))
    client.post("/logout", headers={"X-CSRF-Token": token}, status=302)
    assert_login_page(client.get("/"))


def test_password_reset_without_token_is_400_and_sends_nothing(testapp, users, outbox):
    testapp.get("/password_reset")
    response = testapp.post("/password_reset", {"email": "alice@example.com"}, status=400)
    assert_csrf_refusal(response)
    assert outbox == []


def test_csrf_is_checked_before_the_permission(testapp, users):
    # Anonymous and no token: the answer is the CSRF refusal, not a login redirect (which
    # would mean the forged request had been judged on its ambient credentials first).
    assert_csrf_refusal(testapp.post("/logout", status=400))
    assert_csrf_refusal(testapp.post("/", status=400))


def test_get_never_needs_a_token(login_as):
    client = login_as("alice")
    client.get("/", status=200)
    client.get("/logout", status=200)
    client.head("/", status=200)


def test_the_api_needs_no_csrf_token_but_a_bearer_header(testapp, users):
    response = testapp.post("/flicket-api/tokens", headers=basic_auth("alice"), status=200)
    assert response.json["token"]


# The meta-tests over every registered view and route (META-1, META-2: permissions, CSRF on
# every unsafe page request, no state change on GET, the API ignoring cookies) live in
# tests/security/test_meta.py.


@pytest.mark.parametrize("path", ["/", "/logout"])
def test_state_changing_routes_do_not_change_state_on_get(login_as, dbsession, path):
    client = login_as("alice")
    generation = generation_of(dbsession, "alice")
    client.get(path, status=200)
    assert generation_of(dbsession, "alice") == generation
    client.get("/", status=200)
