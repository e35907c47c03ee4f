"""Password reset by a signed, single-use, expiring link (SECURITY-TESTS AUTH-1, AUTH-3,
AUTH-6, AUTH-8, SESS-3)."""

import re
from urllib.parse import quote, urlsplit

import pytest
import sqlalchemy as sa

from flicket.accounts.models import User
from flicket.accounts.passwords import verify_password
from flicket.accounts.views import RESET_SENT
from flicket.i18n import english
from tests.conftest import (
    CSRF_RE,
    PASSWORD,
    assert_login_page,
    bearer,
    csrf_token_from,
    issue_api_token,
    login,
)

TOKEN_LIFETIME = 3600  # flicket.reset.token_lifetime
RESET_LIMIT = 5  # flicket.reset.max_requests_per_address
NEW_PASSWORD = "violet harbour lantern 42"
LINK_RE = re.compile(r"http://example\.com/password_reset/([^\s\"<>]+)")
INVALID_LINK = "This link is invalid, has already been used, or has expired."


def request_reset(client, email, remote_addr=None, status=302):
    page = client.get("/password_reset")
    form = page.forms[0]
    form["email"] = email
    kwargs = {"extra_environ": {"REMOTE_ADDR": remote_addr}} if remote_addr else {}
    return form.submit(status=status, **kwargs)


def reset_link(outbox, email="alice@example.com"):
    assert len(outbox) == 1, [m.recipients for m in outbox]
    message = outbox[0]
    assert message.recipients == [email]
    match = LINK_RE.search(message.body)
    assert match, message.body
    return match.group(0), match.group(1)


def choose_password(client, link, password=NEW_PASSWORD, confirm=None, status=302):
    page = client.get(link, status=200)
    form = page.forms[0]
    form["password"] = password
    form["confirm"] = password if confirm is None else confirm
    return form.submit(status=status)


def stored_hash(dbsession, username):
    dbsession.expire_all()
    return dbsession.scalar(sa.select(User.password).where(User.username == username))


def without_csrf(text):
    return CSRF_RE.sub('name="csrf_token" value="X"', text)


# -- asking for a link --------------------------------------------------------------------------


def test_known_address_gets_one_mail_with_a_link(testapp, users, outbox):
    response = request_reset(testapp, "alice@example.com")
    assert urlsplit(response.location).path == "/login"
    page = response.follow()
    assert english(RESET_SENT % {"minutes": TOKEN_LIFETIME // 60}) in page.text
    link, token = reset_link(outbox)
    message = outbox[0]
    assert message.subject == "Password Reset"
    assert message.html is not None
    assert f'href="{link}"' in message.html
    assert link in message.body and link in message.html
    assert len(token) > 40
    assert "\n" not in message.subject


def test_address_is_matched_ignoring_case(testapp, users, outbox):
    request_reset(testapp, "ALICE@Example.COM")
    reset_link(outbox, "alice@example.com")


def test_unknown_address_gets_the_same_answer_and_no_mail(testapp, users, outbox):
    known = request_reset(testapp, "alice@example.com")
    known_page = without_csrf(known.follow().text)
    outbox.clear()
    unknown = request_reset(testapp, "nobody@example.com")
    assert unknown.status == known.status
    assert unknown.location == known.location
    assert without_csrf(unknown.follow().text) == known_page
    assert outbox == []


def test_disabled_user_gets_no_mail(testapp, users, outbox):
    response = request_reset(testapp, "dave@example.com")
    assert english(RESET_SENT % {"minutes": TOKEN_LIFETIME // 60}) in response.follow().text
    assert outbox == []


def test_invalid_address_is_a_form_error(testapp, users, outbox):
    response = request_reset(testapp, "not an address", status=200)
    assert "is-invalid" in response.text
    assert outbox == []


# -- using the link -----------------------------------------------------------------------------


def test_the_link_sets_the_password_once(testapp, users, outbox, dbsession):
    request_reset(testapp, "alice@example.com")
    link, _token = reset_link(outbox)
    response = choose_password(testapp, link)
    assert urlsplit(response.location).path == "/login"
    assert "Your password has been changed" in response.follow().text
    assert verify_password(NEW_PASSWORD, stored_hash(dbsession, "alice"))
    # The second use is refused, by GET and by POST.
    page = testapp.get(link, status=400)
    assert INVALID_LINK in page.text
    assert "<form" not in page.text.split('id="main"', 1)[1]
    token = csrf_token_from(testapp.get("/login"))
    testapp.post(
        link,
        {
            "csrf_token": token,
            "password": "another fine passphrase",
            "confirm": "another fine passphrase",
        },
        status=400,
    )
    assert verify_password(NEW_PASSWORD, stored_hash(dbsession, "alice"))
    # Old password out, new one in.
    login(testapp, "alice", PASSWORD, status=200)
    login(testapp, "alice", NEW_PASSWORD)
    testapp.get("/", status=200)


def test_an_older_link_dies_when_a_newer_one_is_used(testapp, users, outbox):
    request_reset(testapp, "alice@example.com")
    first_link, _ = reset_link(outbox)
    outbox.clear()
    request_reset(testapp, "alice@example.com")
    second_link, _ = reset_link(outbox)
    choose_password(testapp, second_link)
    testapp.get(first_link, status=400)


def test_the_link_expires(testapp, users, outbox, app_clock, dbsession):
    request_reset(testapp, "alice@example.com")
    link, _token = reset_link(outbox)
    app_clock.advance(TOKEN_LIFETIME - 60)
    testapp.get(link, status=200)
    app_clock.advance(61)
    page = testapp.get(link, status=400)
    assert INVALID_LINK in page.text
    before = stored_hash(dbsession, "alice")
    token = csrf_token_from(testapp.get("/login"))
    testapp.post(
        link, {"csrf_token": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, status=400
    )
    assert stored_hash(dbsession, "alice") == before


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "Use at least 12 characters."),
        ("1234567890123", "too common"),
        ("alicealice2024", "too common"),
        ("flicketflicket", "too common"),
    ],
)
def test_a_weak_password_is_refused(testapp, users, outbox, dbsession, password, message):
    request_reset(testapp, "alice@example.com")
    link, _token = reset_link(outbox)
    before = stored_hash(dbsession, "alice")
    response = choose_password(testapp, link, password, status=200)
    assert message in response.text
    assert stored_hash(dbsession, "alice") == before
    # The link is still good for a proper password.
    choose_password(testapp, link)


def test_a_mismatched_confirmation_is_refused(testapp, users, outbox, dbsession):
    request_reset(testapp, "alice@example.com")
    link, _token = reset_link(outbox)
    before = stored_hash(dbsession, "alice")
    response = choose_password(testapp, link, NEW_PASSWORD, NEW_PASSWORD + "!", status=200)
    assert "The two passwords differ." in response.text
    assert stored_hash(dbsession, "alice") == before


def test_a_reset_ends_sessions_and_api_tokens(testapp, users, outbox, make_client):
    laptop = make_client(remote_addr="198.51.100.20")
    login(laptop, "alice")
    laptop.get("/", status=200)
    api_token = issue_api_token(make_client(remote_addr="198.51.100.21"), "alice")
    request_reset(testapp, "alice@example.com")
    link, _token = reset_link(outbox)
    choose_password(testapp, link)
    assert_login_page(laptop.get("/"))
    response = testapp.delete("/flicket-api/tokens", headers=bearer(api_token), status=401)
    assert response.json["error"] == "Unauthorized"


def test_a_reset_does_not_log_the_resetting_browser_in(users, outbox, make_client):
    client = make_client(remote_addr="198.51.100.20")
    request_reset(client, "alice@example.com")
    link, _token = reset_link(outbox)
    choose_password(client, link)
    assert_login_page(client.get("/"))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1],
        lambda t: t[:10] + ("x" if t[10] != "x" else "y") + t[11:],
        lambda t: t[:-5],
        lambda t: t + "AAAA",
        lambda t: "x",
        lambda t: "A" * 3000,
        lambda t: "%C3%A9" + t,
        lambda t: "%00",
        lambda t: "%20",
    ],
)
def test_a_tampered_token_is_400_not_500(testapp, users, outbox, mangle):
    request_reset(testapp, "alice@example.com")
    _link, token = reset_link(outbox)
    page = testapp.get("/password_reset/" + mangle(token), status=400)
    assert INVALID_LINK in page.text


def test_a_token_with_slashes_is_not_found(testapp, users):
    testapp.get("/password_reset/..%2F..%2Fetc%2Fpasswd", status=404)


def test_a_token_for_a_user_that_is_disabled_later_is_refused(testapp, users, outbox, dbsession):
    request_reset(testapp, "alice@example.com")
    link, _token = reset_link(outbox)
    users["alice"].disabled = True
    dbsession.flush()
    testapp.get(link, status=400)


# -- rate limits --------------------------------------------------------------------------------


def test_reset_requests_are_limited_per_address(testapp, users, outbox):
    for n in range(RESET_LIMIT):
        request_reset(testapp, f"someone{n}@example.com")
    response = request_reset(testapp, "alice@example.com", status=429)
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many attempts" in response.text
    assert outbox == []


def test_reset_requests_are_limited_per_email(testapp, users, outbox):
    for n in range(RESET_LIMIT):
        request_reset(testapp, "alice@example.com", remote_addr=f"198.51.100.{n + 1}")
    assert len(outbox) == RESET_LIMIT
    response = request_reset(testapp, "Alice@Example.com", remote_addr="198.51.100.99", status=429)
    assert int(response.headers["Retry-After"]) > 0
    assert len(outbox) == RESET_LIMIT


def test_reset_limit_lifts_after_the_window(testapp, users, outbox, app_clock):
    for n in range(RESET_LIMIT):
        request_reset(testapp, f"someone{n}@example.com")
    request_reset(testapp, "alice@example.com", status=429)
    app_clock.advance(3601)
    request_reset(testapp, "alice@example.com")
    reset_link(outbox)


def test_link_path_is_quoted_safely(testapp, users, outbox):
    request_reset(testapp, "alice@example.com")
    link, token = reset_link(outbox)
    assert quote(token, safe="-_=.~") == token  # nothing in the token needs escaping
