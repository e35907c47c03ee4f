"""API tokens: issued for HTTP Basic, used as Bearer, revoked, expiring, stored hashed, and
never taken from the session cookie (SECURITY-TESTS API-1, API-2, API-3, AUTH-1, AUTH-2,
CSRF-4)."""

import base64
import hashlib

import bcrypt
import pytest
import sqlalchemy as sa

from flicket.accounts import passwords
from flicket.accounts.models import ApiToken, User
from tests.conftest import (
    PASSWORD,
    basic_auth,
    bearer,
    csrf_token_from,
    issue_api_token,
    login,
    make_user,
)

TOKENS = "/flicket-api/tokens"
TOKEN_LIFETIME = 36000  # flicket.api.token_lifetime
LIMIT = 10


def assert_unauthorized(response, scheme):
    assert response.status_int == 401
    assert response.content_type == "application/json"
    assert response.json["error"] == "Unauthorized"
    assert set(response.json) <= {"error", "message"}
    assert response.headers["WWW-Authenticate"].startswith(scheme + " ")
    assert response.headers["Cache-Control"] == "no-store"


def raw_basic(value):
    return {"Authorization": "Basic " + value}


# -- issuing ------------------------------------------------------------------------------------


def test_basic_auth_gets_a_token(testapp, users):
    response = testapp.post(TOKENS, headers=basic_auth("alice"), status=200)
    assert response.content_type == "application/json"
    token = response.json["token"]
    assert isinstance(token, str) and len(token) >= 43  # 32 random bytes, base64url
    assert response.headers["Cache-Control"] == "no-store"


def test_tokens_are_unique(testapp, users):
    tokens = {issue_api_token(testapp, "alice") for _ in range(3)}
    assert len(tokens) == 3


@pytest.mark.parametrize("identifier", ["alice@example.com", "ALICE"])
def test_email_and_any_case_work_as_for_the_login_page(testapp, users, identifier):
    token = issue_api_token(testapp, identifier)
    testapp.delete(TOKENS, headers=bearer(token), status=204)


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("alice", "wrong password"),
        ("nobody", PASSWORD),
        ("dave", PASSWORD),  # disabled
        ("alice", ""),
        ("", PASSWORD),
        ("alice", "p" * 5000),
    ],
)
def test_bad_credentials_are_401_json(testapp, users, username, password):
    response = testapp.post(TOKENS, headers=basic_auth(username, password), status=401)
    assert_unauthorized(response, "Basic")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Basic"},
        {"Authorization": "Basic "},
        raw_basic("!!!not base64!!!"),
        raw_basic("YWxpY2U"),  # bad padding
        raw_basic(base64.b64encode(b"alice-without-a-colon").decode()),
        raw_basic(base64.b64encode(b"\xff\xfe:\xff").decode()),  # not UTF-8
        raw_basic(base64.b64encode(b"alice:\xe9t\xe9").decode()),  # latin-1 password
        raw_basic("\xe9\xe9\xe9\xe9"),  # non-ASCII header value
        raw_basic("A" * 9000),
        {"Authorization": "Bearer something"},
        {"Authorization": "Digest username=alice"},
    ],
)
def test_malformed_basic_auth_is_401_not_500(testapp, users, headers):
    response = testapp.post(TOKENS, headers=headers, status=401)
    assert_unauthorized(response, "Basic")


def test_a_password_with_a_colon_works(testapp, dbsession, users):
    make_user(dbsession, "erin", password="colons: are: fine: here")
    issue_api_token(testapp, "erin", "colons: are: fine: here")


# -- using and revoking -------------------------------------------------------------------------


def test_bearer_token_revokes_itself_and_is_then_refused(testapp, users, dbsession):
    token = issue_api_token(testapp, "alice")
    response = testapp.delete(TOKENS, headers=bearer(token), status=204)
    assert response.body == b""
    digest = hashlib.sha256(token.encode()).hexdigest()
    row = dbsession.scalar(sa.select(ApiToken).where(ApiToken.token_hash == digest))
    assert row is not None and row.revoked is not None
    assert_unauthorized(testapp.delete(TOKENS, headers=bearer(token), status=401), "Bearer")


def test_revoking_one_token_leaves_the_others(testapp, users):
    first = issue_api_token(testapp, "alice")
    second = issue_api_token(testapp, "alice")
    testapp.delete(TOKENS, headers=bearer(first), status=204)
    testapp.delete(TOKENS, headers=bearer(second), status=204)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer garbage",
        "Bearer " + "A" * 43,
        "Bearer " + "A" * 600,
        "Bearer \xe9\xe9\xe9",
        "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode(),
        "Token something",
    ],
)
def test_unknown_or_malformed_bearer_is_401_json(testapp, users, header):
    headers = {} if header is None else {"Authorization": header}
    response = testapp.delete(TOKENS, headers=headers, status=401)
    assert_unauthorized(response, "Bearer")


def test_the_scheme_is_case_insensitive(testapp, users):
    token = issue_api_token(testapp, "alice")
    testapp.delete(TOKENS, headers={"Authorization": f"bearer {token}"}, status=204)


def test_a_token_in_the_query_string_is_ignored(testapp, users):
    token = issue_api_token(testapp, "alice")
    testapp.delete(f"{TOKENS}?token={token}&access_token={token}", status=401)
    testapp.delete(TOKENS, headers=bearer(token), status=204)  # still unused


def test_an_expired_token_is_refused(testapp, users, app_clock):
    token = issue_api_token(testapp, "alice")
    app_clock.advance(TOKEN_LIFETIME + 1)
    assert_unauthorized(testapp.delete(TOKENS, headers=bearer(token), status=401), "Bearer")


def test_a_token_just_before_expiry_works(testapp, users, app_clock):
    token = issue_api_token(testapp, "alice")
    app_clock.advance(TOKEN_LIFETIME - 60)
    testapp.delete(TOKENS, headers=bearer(token), status=204)


def test_a_disabled_users_token_is_refused(testapp, users, dbsession):
    token = issue_api_token(testapp, "alice")
    users["alice"].disabled = True
    dbsession.flush()
    testapp.delete(TOKENS, headers=bearer(token), status=401)


def test_logout_revokes_the_users_tokens(login_as, make_client):
    token = issue_api_token(make_client(remote_addr="198.51.100.5"), "alice")
    client = login_as("alice")
    client.post("/logout", {"csrf_token": csrf_token_from(client.get("/logout"))}, status=302)
    client.delete(TOKENS, headers=bearer(token), status=401)


# -- storage ------------------------------------------------------------------------------------


def test_only_a_hash_of_the_token_is_stored(testapp, users, dbsession):
    token = issue_api_token(testapp, "alice")
    dbsession.expire_all()
    alice_id = dbsession.scalar(sa.select(User.id).where(User.username == "alice"))
    rows = dbsession.scalars(sa.select(ApiToken).where(ApiToken.user_id == alice_id)).all()
    assert len(rows) == 1
    stored = rows[0].token_hash
    assert token not in stored and stored != token
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    # Nor anywhere in Flicket's old clear-text columns.
    user = dbsession.get(User, alice_id)
    assert user.token is None
    assert rows[0].expires > rows[0].created


def test_a_stolen_hash_is_not_a_token(testapp, users, dbsession):
    token = issue_api_token(testapp, "alice")
    stored = hashlib.sha256(token.encode()).hexdigest()
    testapp.delete(TOKENS, headers=bearer(stored), status=401)


# -- the API and the session cookie -------------------------------------------------------------


def test_the_api_ignores_the_session_cookie(login_as):
    client = login_as("alice")
    client.get("/", status=200)  # the cookie is good for pages
    response = client.delete(TOKENS, status=401)
    assert_unauthorized(response, "Bearer")


def test_a_bearer_token_does_not_open_pages(testapp, users):
    token = issue_api_token(testapp, "alice")
    response = testapp.get("/", headers=bearer(token), status=302)
    assert "/login" in response.location


# -- rate limits (shared with the login page) ---------------------------------------------------


@pytest.fixture
def bcrypt_calls(monkeypatch):
    calls = []
    real_checkpw = bcrypt.checkpw

    def counting_checkpw(password, hashed):
        calls.append(1)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(passwords.bcrypt, "checkpw", counting_checkpw)
    return calls


def test_token_requests_are_rate_limited(testapp, users, bcrypt_calls):
    for _ in range(LIMIT):
        testapp.post(TOKENS, headers=basic_auth("alice", "wrong"), status=401)
    before = len(bcrypt_calls)
    response = testapp.post(TOKENS, headers=basic_auth("alice"), status=429)
    assert response.json["error"] == "Too Many Requests"
    assert int(response.headers["Retry-After"]) > 0
    assert len(bcrypt_calls) == before


def test_login_page_failures_count_for_the_api_too(testapp, users, make_client):
    for _ in range(LIMIT):
        login(testapp, "alice", "wrong password", status=200)
    other = make_client(remote_addr="203.0.113.9")
    other.post(TOKENS, headers=basic_auth("alice@example.com"), status=429)


def test_api_failures_count_for_the_login_page_too(testapp, users, make_client):
    for n in range(LIMIT):
        testapp.post(
            TOKENS,
            headers=basic_auth("alice", "wrong"),
            extra_environ={"REMOTE_ADDR": f"198.51.100.{n + 1}"},
            status=401,
        )
    login(make_client(remote_addr="203.0.113.9"), "alice", status=429)


def test_the_api_limit_lifts_after_the_window(testapp, users, app_clock):
    for _ in range(LIMIT):
        testapp.post(TOKENS, headers=basic_auth("alice", "wrong"), status=401)
    testapp.post(TOKENS, headers=basic_auth("alice"), status=429)
    app_clock.advance(301)
    issue_api_token(testapp, "alice")
