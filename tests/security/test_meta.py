"""Meta-tests: properties of EVERY route and view, found by walking Pyramid's introspector
and route table on the real application, so that a route added tomorrow is covered without
anyone remembering to add it here (SECURITY-TESTS META-1, META-2, META-3; ACL-1, CSRF-1,
CSRF-3, CSRF-4, XSS-2).

(a) every view needs a permission, but for a short named allowlist;
(b) every unsafe request to a page route without a CSRF token is refused with 400, and the
    database is untouched; API routes ignore the session cookie instead (CSRF-4);
(c) a GET (as admin, with real ids) of every route changes nothing in the database;
(d) every API route answers an anonymous caller with a JSON 401 and a Bearer challenge;
(e) every ``|safe`` / ``Markup(`` / ``markupsafe`` use in flicket/ is on a reviewed list.
"""

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from pyramid.interfaces import IDefaultPermission, IExceptionResponse
from pyramid.security import NO_PERMISSION_REQUIRED

import flicket
from flicket.accounts.models import Group
from flicket.security import API_PREFIX
from flicket.tickets.models import Action, History, Subscription
from tests.conftest import basic_auth, bearer, login
from tests.factories import make_post, make_ticket
from tests.functional.test_ticket_operations import configure, stored_file
from tests.security import changed_tables, db_state

UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
CSRF_MESSAGE = "The form expired or was sent from elsewhere"


# -- the introspector ---------------------------------------------------------------------------


def views(registry):
    for entry in registry.introspector.get_category("views"):
        yield entry["introspectable"], entry["related"]


def route_patterns(registry):
    return {
        intr["name"]: intr["pattern"]
        for intr in (e["introspectable"] for e in registry.introspector.get_category("routes"))
    }


def is_exception_view(intr):
    context = intr["context"]
    if intr["exception_only"] or context is IExceptionResponse:
        return True
    return isinstance(context, type) and issubclass(context, BaseException)


def methods_of(intr):
    methods = intr["request_methods"]
    if methods is None:
        return None
    return (methods,) if isinstance(methods, str) else tuple(methods)


def is_api(pattern):
    path = "/" + pattern.lstrip("/")
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def route_methods(registry):
    """{route name: set of methods some view of it accepts} (None = any method)."""
    found = {}
    for intr, _related in views(registry):
        if is_exception_view(intr) or intr["route_name"] is None:
            continue
        methods = methods_of(intr)
        accepted = found.setdefault(intr["route_name"], set())
        accepted.update(("GET", "HEAD", *UNSAFE_METHODS) if methods is None else methods)
    return found


# -- real URLs for every route ------------------------------------------------------------------

#: API item routes take ``{id}``: which object of the world each one names.
API_ID_OF = {
    "api_user": "user_id",
    "api_ticket": "ticket_id",
    "api_post": "post_id",
    "api_department": "department_id",
    "api_category": "category_id",
    "api_department_category": "category_id",
    "api_priority": "priority_id",
    "api_status": "status_id",
    "api_subscription": "subscription_id",
    "api_upload": "upload_id",
    "api_history": "history_id",
    "api_action": "action_id",
}
#: Admin pages name their object in the query string.
QUERY_OF = {
    "admin_edit_user": "user_id",
    "admin_delete_user": "user_id",
    "admin_edit_group": "group_id",
    "admin_delete_group": "group_id",
}


@pytest.fixture
def real_ids(dbsession, registry, users):
    """Objects of every kind, so that every route's URL names something that exists."""
    ticket = make_ticket(dbsession, users["alice"], assigned=users["bob"], status_name="In Work")
    post = make_post(dbsession, ticket, users["bob"])
    name = "d41d8cd98f00b204e9800998ecf8427e.txt"
    stored_file(registry, dbsession, name, ticket=ticket)
    history = History(topic_id=ticket.id, original_content="old", user_id=users["alice"].id)
    action = Action(ticket_id=ticket.id, action="claim", user_id=users["bob"].id)
    group = Group(group_name="Helpdesk")
    dbsession.add_all([history, action, group])
    dbsession.flush()
    subscription = dbsession.scalars(
        sa.select(Subscription).where(Subscription.ticket_id == ticket.id)
    ).first()
    configure(dbsession, change_category=True)  # so that its form page opens
    upload_id = dbsession.scalar(sa.text("SELECT id FROM flicket_uploads ORDER BY id DESC"))
    return {
        "ticket_id": ticket.id,
        "post_id": post.id,
        "user_id": users["carol"].id,
        "department_id": ticket.category.department_id,
        "category_id": ticket.category_id,
        "priority_id": ticket.ticket_priority_id,
        "status_id": ticket.status_id,
        "subscription_id": subscription.id,
        "upload_id": upload_id,
        "history_id": history.id,
        "action_id": action.id,
        "group_id": group.id,
        "filename": name,
        "status": "Closed",
        "page": 1,
        "token": "not-a-real-token",
    }


def concrete_path(route, pattern, values):
    """A real URL for ``route``: placeholders filled from ``values``; the static route with
    a real file; the admin pages' ``?id=``."""
    path = "/" + pattern.lstrip("/")
    path = re.sub(r"\*\w+$", "css/flicket.css", path)

    def fill(match):
        key = match.group(1)
        if key == "id":
            # the workflow routes (/ticket/{id}/claim...) name a ticket
            key = API_ID_OF[route] if route in API_ID_OF else "ticket_id"
            assert key != "ticket_id" or route.startswith("api_ticket"), route
        if key == "filename" and route == "avatar":
            return "nobody.png"
        return str(values[key])

    path = re.sub(r"\{(\w+)(:[^}]*)?\}", fill, path)
    if route in QUERY_OF:
        path += f"?id={values[QUERY_OF[route]]}"
    return path


def all_routes(registry, values):
    """(route name, path, accepted methods) for every route that has a view."""
    patterns = route_patterns(registry)
    methods = route_methods(registry)
    return [
        (route, concrete_path(route, patterns[route], values), methods[route])
        for route in sorted(methods)
    ]


# -- (a) every view needs a permission (META-1, ACL-1) ------------------------------------------

#: The only views anyone may use without logging in. Each entry: (route, methods).
ALLOWED_WITHOUT_PERMISSION = {
    ("login", None),  # the login form
    ("password_reset", None),  # "forgot password": request a link
    ("password_reset_confirm", None),  # the link itself (its signed token is the credential)
    ("api_tokens", ("POST",)),  # basic auth → bearer token (the credentials are checked there)
    ("api_openapi", ("GET",)),  # the API's public OpenAPI document
    # the reverse proxy's and monitoring's probe: says ok/fail per check, no data, no session
    ("healthz", ("GET",)),
    ("__flicket/static/", None),  # CSS, JS, images (never uploads: UP-1)
}


def effective_permission(registry, intr, related):
    explicit = [r.discriminator for r in related if r.category_name == "permissions"]
    if explicit:
        return explicit[0]
    if intr.get("permission") is not None:
        return intr["permission"]
    return registry.queryUtility(IDefaultPermission)


def test_every_view_has_a_permission_or_is_allowlisted(registry):
    public = set()
    checked = 0
    for intr, related in views(registry):
        if is_exception_view(intr):
            continue
        checked += 1
        permission = effective_permission(registry, intr, related)
        key = (intr["route_name"], methods_of(intr))
        if permission is None or permission == NO_PERMISSION_REQUIRED:
            assert key in ALLOWED_WITHOUT_PERMISSION, f"{intr.title} {key} needs no permission"
            public.add(key)
    assert checked > 100  # the walk really saw the application's views
    # The allowlist holds nothing stale.
    assert public == ALLOWED_WITHOUT_PERMISSION


def test_the_default_permission_needs_a_login(registry):
    assert registry.queryUtility(IDefaultPermission) == "view"


def test_exception_views_need_no_permission(registry, testapp):
    """403/404/500 pages must render for anyone (ERR-2): an error view behind a permission
    would turn every error into a login redirect or another error. Pyramid applies no
    default permission to exception-only views; none of ours declares one."""
    found = 0
    for intr, related in views(registry):
        if intr["exception_only"]:
            found += 1
            explicit = [r.discriminator for r in related if r.category_name == "permissions"]
            assert explicit in ([], [NO_PERMISSION_REQUIRED]), intr.title
            assert intr.get("permission") in (None, NO_PERMISSION_REQUIRED), intr.title
    assert found >= 4
    # And in practice: anonymous visitors get the error itself, not the login page.
    response = testapp.get("/no/such/page", headers={"Accept": "text/html"}, status=404)
    assert "text/html" in response.content_type
    response = testapp.get(f"{API_PREFIX}/no/such/thing", status=404)
    assert response.content_type == "application/json"


# -- (b) CSRF on every unsafe page request; the API ignores cookies (META-2, CSRF-1, CSRF-4) ----


def test_no_view_turns_csrf_off(registry):
    for intr, _related in views(registry):
        if is_exception_view(intr):
            continue
        assert intr["require_csrf"] is not False, f"{intr.title} has require_csrf=False"


def test_the_default_csrf_options_require_a_token(registry):
    from pyramid.interfaces import IDefaultCSRFOptions

    options = registry.getUtility(IDefaultCSRFOptions)
    assert options.require_csrf is True
    assert options.safe_methods == frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def test_every_unsafe_page_request_without_a_token_is_400_and_changes_nothing(
    registry, testapp, dbsession, users, real_ids
):
    routes = all_routes(registry, real_ids)
    page_requests = [
        (route, path, method)
        for route, path, methods in routes
        if not is_api(urlsplit(path).path)
        for method in UNSAFE_METHODS
        if method in methods
    ]
    names = {route for route, _path, _method in page_requests}
    # The walk really covers the application's forms (it must not pass by finding nothing).
    assert {
        "login",
        "logout",
        "password_reset",
        "password_reset_confirm",
        "ticket_view",
        "ticket_claim",
        "ticket_delete",
        "post_delete",
        "admin_config",
        "admin_delete_user",
        "department_delete",
        "category_delete",
    } <= names
    login(testapp, "admin")
    before = db_state(dbsession)
    for route, path, method in page_requests:
        for fields in ({}, {"csrf_token": "forged"}):
            response = testapp.request(
                path, method=method, POST=fields, status="*", expect_errors=True
            )
            what = f"{method} {path} ({route}) with {fields or 'no token'}"
            assert response.status_int == 400, f"{what}: {response.status}"
            assert CSRF_MESSAGE in response.json["message"], what
    after = db_state(dbsession)
    assert after == before, changed_tables(before, after)
    testapp.get("/", status=200)  # and admin was not logged out


def test_every_unsafe_api_request_with_only_a_session_cookie_is_401_and_changes_nothing(
    registry, testapp, dbsession, users, real_ids
):
    routes = all_routes(registry, real_ids)
    api_requests = [
        (route, path, method)
        for route, path, methods in routes
        if is_api(urlsplit(path).path)
        for method in UNSAFE_METHODS
        if method in methods and not (route == "api_tokens" and method == "POST")
    ]
    assert len({route for route, _p, _m in api_requests}) >= 10
    login(testapp, "admin")  # the browser holds an admin session cookie
    before = db_state(dbsession)
    for route, path, method in api_requests:
        response = testapp.request(
            path,
            method=method,
            body=b'{"title": "Forged", "content": "Forged content."}',
            content_type="text/plain",
            status="*",
            expect_errors=True,
        )
        assert response.status_int == 401, f"{method} {path} ({route}): {response.status}"
        assert response.content_type == "application/json"
    # The token endpoint itself wants basic auth, never the cookie.
    testapp.post(f"{API_PREFIX}/tokens", status=401)
    after = db_state(dbsession)
    assert after == before, changed_tables(before, after)


# -- (c) no route changes state on GET (META-2, CSRF-3) -----------------------------------------


def test_no_route_changes_state_on_get(registry, testapp, dbsession, users, real_ids, outbox):
    routes = all_routes(registry, real_ids)
    token = testapp.post(f"{API_PREFIX}/tokens", headers=basic_auth("admin")).json["token"]
    login(testapp, "admin")
    before = db_state(dbsession)
    statuses = {}
    for route, path, methods in routes:
        if "GET" not in methods:
            continue
        headers = bearer(token) if is_api(urlsplit(path).path) else {}
        response = testapp.get(path, headers=headers, status="*", expect_errors=True)
        statuses[route] = response.status_int
        assert response.status_int < 500, f"GET {path} ({route}): {response.status}"
    after = db_state(dbsession)
    assert after == before, changed_tables(before, after)
    assert outbox == []
    testapp.get("/", status=200)  # GET /logout did not log out
    # With real ids nearly every GET reaches its view (a walk of 404s would prove nothing).
    not_ok = {route: status for route, status in statuses.items() if status != 200}
    assert not_ok == {
        "avatar": 404,  # nobody has this avatar
        "password_reset_confirm": 400,  # a bad link: a clear 400 page
        "login": 302,  # already logged in
    }, not_ok
    assert len(statuses) > 60


# -- (d) every API route answers anonymous callers with JSON 401 (CSRF-4, ACL-2) ----------------

#: API (route, method) pairs that are meant to be answered without a token.
API_PUBLIC = {("api_openapi", "GET")}


def test_every_api_route_answers_anonymous_callers_with_a_json_401(
    registry, testapp, dbsession, users, real_ids
):
    routes = all_routes(registry, real_ids)
    seen = 0
    before = db_state(dbsession)
    for route, path, methods in routes:
        if not is_api(urlsplit(path).path):
            continue
        for method in sorted(set(methods) - {"HEAD"}):
            if (route, method) in API_PUBLIC:
                continue
            seen += 1
            response = testapp.request(
                path,
                method=method,
                status="*",
                expect_errors=True,
                **(
                    {"body": b"{}", "content_type": "application/json"}
                    if method in UNSAFE_METHODS
                    else {}
                ),
            )
            what = f"{method} {path} ({route})"
            assert response.status_int == 401, f"{what}: {response.status}"
            assert response.content_type == "application/json", what
            assert response.json["error"] == "Unauthorized", what
            # The token endpoint asks for the password (basic auth), every other for a token.
            scheme = "Basic" if route == "api_tokens" and method == "POST" else "Bearer"
            assert response.headers["WWW-Authenticate"].startswith(scheme), what
    assert seen > 40
    after = db_state(dbsession)
    assert after == before, changed_tables(before, after)


def test_the_public_api_routes_really_are_public(testapp):
    testapp.get(f"{API_PREFIX}/openapi.json", status=200)


# -- (e) every |safe / Markup() / markupsafe use is reviewed (META-3, XSS-2) ---------------------

PACKAGE = Path(flicket.__file__).parent
MARKUP_PATTERN = re.compile(
    r"\|\s*safe\b|\bMarkup\s*\(|\bmarkupsafe\b|autoescape\s+false|\bstructure:|"
    r"\|\s*tojson\b|env\.autoescape|jinja2\.autoescape"
)

#: (file relative to flicket/, stripped line) → why it is safe.
REVIEWED = {
    (
        "markdown.py",
        "from markupsafe import Markup, escape",
    ): "the import of the one Markup() below",
    (
        "markdown.py",
        "return Markup(clean)  # noqa: S704 (cleaned by nh3 just above)  # nosec B704",
    ): "render_markdown(): Markdown output sanitised by nh3's allowlist (XSS-3) on the line "
    "before; tested by tests/unit/test_markdown.py and the sanitiser property test",
    (
        "templating.py",
        "env.autoescape = _autoescape",
    ): "turns escaping ON for every template but the plain-text mail bodies (*.txt.jinja2)",
    (
        "settings.py",
        '"jinja2.autoescape": "true",',
    ): "escaping on by default",
}


def markup_uses():
    found = set()
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix not in {".py", ".jinja2", ".html", ".pt", ".txt"} or "static" in path.parts:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if MARKUP_PATTERN.search(line):
                found.add((path.relative_to(PACKAGE).as_posix(), line.strip()))
    return found


def test_every_markup_bypass_is_on_the_reviewed_list():
    uses = markup_uses()
    unreviewed = uses - set(REVIEWED)
    assert not unreviewed, f"review these and add them to REVIEWED: {sorted(unreviewed)}"
    stale = set(REVIEWED) - uses
    assert not stale, f"no longer in the code, remove from REVIEWED: {sorted(stale)}"


def test_the_scan_finds_what_it_looks_for(tmp_path):
    """The pattern is not blind: each kind of bypass is recognised."""
    for text in (
        "{{ x|safe }}",
        "{{ x | safe }}",
        "Markup(f'<b>{x}</b>')",
        "import markupsafe",
        "{% autoescape false %}",
        'tal:content="structure: x"',
    ):
        assert MARKUP_PATTERN.search(text), text
    assert not MARKUP_PATTERN.search("{{ x|e }} safely")
