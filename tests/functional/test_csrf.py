"""CSRF: every unsafe page request needs the session's token, checked before the permission;
and meta-tests that keep it (and permissions) true for every view
(SECURITY-TESTS CSRF-1, CSRF-3, META-1, META-2)."""

import re
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from pyramid.interfaces import IDefaultPermission, IExceptionResponse
from pyramid.security import NO_PERMISSION_REQUIRED

from flicket.accounts.models import User
from flicket.security import API_PREFIX
from flicket.tickets.models import Post, Ticket
from tests.conftest import PASSWORD, assert_login_page, basic_auth, csrf_token_from
from tests.factories import make_post, make_ticket

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


# -- meta-tests over every registered view ------------------------------------------------------


def _views(registry):
    for entry in registry.introspector.get_category("views"):
        yield entry["introspectable"], entry["related"]


def _route_patterns(registry):
    return {
        intr["name"]: intr["pattern"]
        for intr in (e["introspectable"] for e in registry.introspector.get_category("routes"))
    }


def _is_exception_view(intr):
    context = intr["context"]
    if intr["exception_only"] or context is IExceptionResponse:
        return True
    return isinstance(context, type) and issubclass(context, BaseException)


def _methods(intr):
    methods = intr["request_methods"]
    if methods is None:
        return None
    return (methods,) if isinstance(methods, str) else tuple(methods)


def _concrete_path(pattern, values=None):
    """A real URL for a route pattern: placeholders filled in (with ``values`` where the
    route loads an object, so that the request reaches the view), the static route with a
    file."""
    values = values or {}
    path = "/" + pattern.lstrip("/")
    path = re.sub(r"\*\w+$", "css/flicket.css", path)
    return re.sub(
        r"\{(\w+)(:[^}]*)?\}", lambda m: str(values.get(m.group(1), "x")), path
    )


def _unsafe_page_views(registry, values=None):
    """(route name, path, method) for every non-API view that accepts an unsafe method."""
    patterns = _route_patterns(registry)
    found = set()
    for intr, _related in _views(registry):
        if _is_exception_view(intr) or intr["route_name"] is None:
            continue
        path = _concrete_path(patterns[intr["route_name"]], values)
        if urlsplit(path).path.startswith(API_PREFIX):
            continue
        methods = _methods(intr)
        for method in UNSAFE_METHODS if methods is None else methods:
            if method in UNSAFE_METHODS:
                found.add((intr["route_name"], path, method))
    return sorted(found)


def test_no_view_turns_csrf_off(registry):
    for intr, _related in _views(registry):
        if _is_exception_view(intr):
            continue
        assert intr["require_csrf"] is not False, f"{intr.title} has require_csrf=False"


def test_every_unsafe_page_request_without_a_token_is_400(registry, login_as, dbsession, users):
    ticket = make_ticket(dbsession, users["alice"])
    post = make_post(dbsession, ticket, users["bob"])
    values = {
        "ticket_id": ticket.id,
        "post_id": post.id,
        "user_id": users["alice"].id,
        "status": "Closed",
        "page": 1,
    }
    views = _unsafe_page_views(registry, values)
    routes = {route for route, _path, _method in views}
    # The walk really covers the application's forms (it must not pass by finding nothing).
    assert {"login", "logout", "password_reset", "password_reset_confirm", "ticket_view",
            "ticket_claim", "ticket_delete", "post_delete"} <= routes
    client = login_as("admin")
    generation = generation_of(dbsession, "admin")
    for route, path, method in views:
        response = client.request(path, method=method, status="*", expect_errors=True)
        assert_csrf_refusal(response, f"{method} {path} ({route}) without a CSRF token")
    client.get("/", status=200)  # nothing was logged out
    assert generation_of(dbsession, "admin") == generation
    # ... and nothing happened to the ticket.
    dbsession.expire_all()
    assert dbsession.get(Ticket, ticket.id).status.status == "Open"
    assert dbsession.get(Post, post.id) is not None


ALLOWED_WITHOUT_PERMISSION = {
    ("login", None),
    ("password_reset", None),
    ("password_reset_confirm", None),
    ("api_tokens", ("POST",)),
    ("api_openapi", ("GET",)),  # the API's public OpenAPI document
    ("__flicket/static/", None),
}


def _effective_permission(registry, intr, related):
    explicit = [r.discriminator for r in related if r.category_name == "permissions"]
    if explicit:
        return explicit[0]
    if intr["permission"] is not None:
        return intr["permission"]
    return registry.queryUtility(IDefaultPermission)


def test_every_view_has_a_permission_or_is_allowlisted(registry):
    public = set()
    for intr, related in _views(registry):
        if _is_exception_view(intr):
            continue
        permission = _effective_permission(registry, intr, related)
        key = (intr["route_name"], _methods(intr))
        if permission is None or permission == NO_PERMISSION_REQUIRED:
            assert key in ALLOWED_WITHOUT_PERMISSION, f"{intr.title} {key} needs no permission"
            public.add(key)
    # The allowlist holds nothing stale.
    assert public == ALLOWED_WITHOUT_PERMISSION


def test_the_default_permission_needs_a_login(registry):
    assert registry.queryUtility(IDefaultPermission) == "view"


@pytest.mark.parametrize("path", ["/", "/logout"])
def test_state_changing_routes_do_not_change_state_on_get(login_as, dbsession, path):
    client = login_as("alice")
    generation = generation_of(dbsession, "alice")
    client.get(path, status=200)
    assert generation_of(dbsession, "alice") == generation
    client.get("/", status=200)
