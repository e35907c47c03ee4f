"""Security events are logged — without secrets, one line per event, and with the address
the server really saw (SECURITY-TESTS LOG-1, LOG-2, LOG-3, LOG-4, ACL-10)."""

import logging

import pytest

from tests.conftest import PASSWORD, basic_auth, bearer, csrf_token_from, login
from tests.functional.test_password_reset import choose_password, request_reset, reset_link

NEW_PASSWORD = "violet harbour lantern"


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO, logger="flicket")
    return caplog


def messages(caplog):
    return [r.getMessage() for r in caplog.records if r.name.startswith("flicket")]


def one(caplog, start):
    found = [m for m in messages(caplog) if m.startswith(start)]
    assert len(found) == 1, (start, messages(caplog))
    return found[0]


def assert_no_secrets(caplog, *secrets):
    text = "\n".join(messages(caplog))
    for secret in secrets:
        assert secret not in text


def test_login_success_failure_and_rate_limit_are_logged(testapp, users, logs, make_client):
    login(testapp, "alice", "wrong password", status=200)
    line = one(logs, "login failed:")
    assert "'alice'" in line and "addr=192.0.2.10" in line
    logs.clear()
    login(testapp, "alice")
    assert one(logs, "login:") == f"login: user={users['alice'].id} addr=192.0.2.10"
    other = make_client(remote_addr="198.51.100.8")
    for _ in range(10):
        login(other, "bob", "wrong password", status=200)
    logs.clear()
    login(other, "bob", status=429)
    assert "'bob'" in one(logs, "login rate-limited:")
    assert_no_secrets(logs, "wrong password", PASSWORD)


def test_logout_is_logged(login_as, users, logs):
    client = login_as("alice")
    token = csrf_token_from(client.get("/logout"))
    client.post("/logout", {"csrf_token": token}, status=302)
    assert one(logs, "logout:") == f"logout: user={users['alice'].id}"


def test_token_issue_refusal_and_revocation_are_logged_without_the_token(testapp, users, logs):
    token = testapp.post("/flicket-api/tokens", headers=basic_auth("alice")).json["token"]
    assert one(logs, "API token issued:") == f"API token issued: user={users['alice'].id}"
    testapp.post("/flicket-api/tokens", headers=basic_auth("alice", "nope nope"), status=401)
    assert "'alice'" in one(logs, "API token refused:")
    testapp.delete("/flicket-api/tokens", headers=bearer(token), status=204)
    assert one(logs, "API token revoked:") == f"API token revoked: user={users['alice'].id}"
    assert_no_secrets(logs, token, PASSWORD, "nope nope")


def test_password_reset_is_logged_without_the_link_or_password(testapp, users, outbox, logs):
    request_reset(testapp, "alice@example.com")
    assert one(logs, "password reset link sent:") == (
        f"password reset link sent: user={users['alice'].id}"
    )
    link, token = reset_link(outbox)
    choose_password(testapp, link, NEW_PASSWORD)
    assert one(logs, "password reset completed:") == (
        f"password reset completed: user={users['alice'].id}"
    )
    assert_no_secrets(logs, NEW_PASSWORD, token)


def test_password_change_is_logged(login_as, users, logs):
    client = login_as("alice")
    page = client.get("/user_details")
    form = next(f for f in page.forms.values() if "new_password" in f.fields)
    form["password"] = PASSWORD
    form["new_password"] = NEW_PASSWORD
    form["confirm"] = NEW_PASSWORD
    form.submit(status=302)
    line = one(logs, "user changed:")
    assert f"user={users['alice'].id}" in line and "password" in line
    assert_no_secrets(logs, NEW_PASSWORD, PASSWORD)


def test_forbidden_and_csrf_refusals_are_logged(login_as, users, logs):
    """LOG-2 / ACL-10: the actor and the path of every 403; every CSRF refusal."""
    client = login_as("carol")
    client.get("/flicket_admin/config/", status=403)
    line = one(logs, "forbidden:")
    assert f"user={users['carol'].id}" in line and "/flicket_admin/config/" in line
    client.post("/flicket_admin/config/", {"csrf_token": "forged"}, status=400)
    assert "/flicket_admin/config/" in one(logs, "CSRF check failed:")


@pytest.mark.parametrize(
    "name",
    [
        "x\r\nINFO flicket login: user=1 addr=127.0.0.1",
        "x\nlogin: user=1",
        "x\x1b[2Jcleared",
        "x\u2028y",
    ],
)
def test_log_injection_is_escaped(testapp, users, logs, name):
    """LOG-3: CR/LF and control characters in a login name stay inside one escaped line."""
    login(testapp, name, "wrong password", status=200)
    lines = [m for m in messages(logs) if m.startswith("login failed:")]
    assert len(lines) == 1
    for char in ("\r", "\n", "\x1b", "\u2028"):
        assert char not in lines[0]
    assert not any(m.startswith("login: user=1") for m in messages(logs))


def test_a_spoofed_forwarded_for_changes_neither_the_limit_nor_the_log(make_client, users, logs):
    """LOG-4: without a trusted proxy in front (waitress decides that: production.ini's
    ``trusted_proxy``), the application keys its limits and logs on the socket address; a
    client-sent X-Forwarded-For does not give a fresh address per attempt."""
    client = make_client(remote_addr="198.51.100.7")
    for number in range(10):
        page = client.get("/login")
        form = page.forms[0]
        form["username"], form["password"] = f"nobody{number}", "wrong password"
        form.submit(headers={"X-Forwarded-For": f"203.0.113.{number}"}, status=200)
    page = client.get("/login")
    form = page.forms[0]
    form["username"], form["password"] = "alice", PASSWORD
    form.submit(headers={"X-Forwarded-For": "203.0.113.99"}, status=429)
    addresses = {m.rsplit("addr=", 1)[-1] for m in messages(logs) if "addr=" in m}
    assert addresses == {"198.51.100.7"}
