"""The role × action matrix of ``tests/security/policy.py`` through the pages AND the JSON
API: one test per (channel, action, actor) that checks the answer and the database
afterwards — the change is there exactly when the policy allows it, and not one row of any
table changed when it refuses (SECURITY-TESTS ACL-2, ACL-3, ACL-7, ACL-8, CSRF-4)."""

import json
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from flicket.accounts.models import Group, User
from flicket.admin.models import Config
from flicket.departments.models import Category, Department
from flicket.tickets.models import Post, Subscription, Ticket
from tests.api_helpers import make_api_app
from tests.conftest import (
    PASSWORD,
    assert_login_page,
    basic_auth,
    bearer,
    csrf_token_from,
    login,
    make_user,
)
from tests.factories import category, make_post, priority, status
from tests.functional.test_admin import config_data, user_data
from tests.functional.test_ticket_operations import configure, old_ticket, set_counters
from tests.security import changed_tables, db_state
from tests.security.policy import (
    ACTIONS,
    ACTORS,
    API,
    CAST,
    CHANNELS,
    CONFIG_FOR,
    OUTCOMES,
    PAGE,
    POLICY,
    READ_ONLY,
    cases,
)

A = "/flicket-api"
DENIED_TEXT = "You are not allowed to do this."


# -- the policy itself ----------------------------------------------------------------------------


def test_the_policy_is_complete():
    assert set(POLICY) == {(action, actor) for action in ACTIONS for actor in ACTORS}
    assert set(POLICY.values()) <= set(OUTCOMES)
    assert set(CHANNELS) == set(ACTIONS)
    assert set(PAGE_REQUESTS) == {a for a in ACTIONS if PAGE in CHANNELS[a]}
    assert set(API_REQUESTS) == {a for a in ACTIONS if API in CHANNELS[a]}
    # Nobody unauthenticated may do anything; the admin may do everything that is not
    # switched off by the site settings.
    for action in ACTIONS:
        assert POLICY[(action, "anonymous")] == "login"
        assert POLICY[(action, "disabled")] == "login"
        if action != "change_category_off":
            assert POLICY[(action, "admin")] == "ok", action


# -- the world every cell starts from -------------------------------------------------------------


@pytest.fixture
def world(dbsession, users):
    return build_world(dbsession, users)


def build_world(dbsession, users):
    """alice's ticket (a day old, In Work, assigned to bob, bob's reply), subscribed by
    alice, admin, super, bob, carol and erin; an empty department and category to rename
    or delete; gina, a user with no data, for the admin panel."""
    alice, bob = users["alice"], users["bob"]
    erin = make_user(dbsession, "erin")  # a subscriber nobody in the cast is
    frank = make_user(dbsession, "frank")  # someone to subscribe
    gina = make_user(dbsession, "gina")  # a user the admin panel edits and deletes
    ticket = old_ticket(dbsession, alice, assigned=bob, status_name="In Work")
    for user in (users["admin"], users["super"], bob, users["carol"], erin):
        dbsession.add(Subscription(ticket_id=ticket.id, user_id=user.id))
    dbsession.flush()
    post = make_post(dbsession, ticket, bob, "Bob's reply.")
    set_counters(dbsession, alice, posts=1)
    set_counters(dbsession, bob, posts=1, assigned=1)
    archive = Department(department="Archive")
    dbsession.add(archive)
    dbsession.flush()
    spare = Category(category="Spare", department_id=category(dbsession).department_id)
    dbsession.add(spare)
    dbsession.flush()
    subscriptions = dict(
        dbsession.execute(
            sa.select(Subscription.user_id, Subscription.id).where(
                Subscription.ticket_id == ticket.id
            )
        ).all()
    )
    everyone = dict(users, erin=erin, frank=frank, gina=gina)
    return SimpleNamespace(
        ticket_id=ticket.id,
        post_id=post.id,
        users=everyone,
        subscription_of={u.username: subscriptions.get(u.id) for u in everyone.values()},
        manuals=category(dbsession, "Quality", "Manuals").id,
        it_other=category(dbsession, "IT", "Other").id,
        in_work=status(dbsession, "In Work").id,
        medium=priority(dbsession, "medium").id,
        high=priority(dbsession, "high").id,
        archive=archive.id,
        archive_department_of_it=category(dbsession).department_id,
        spare=spare.id,
        gina_id=gina.id,
    )


def me_of(actor):
    """The user an action "on oneself" names: the actor, or erin for those not logged in."""
    return CAST[actor] if actor not in ("anonymous", "disabled") else "erin"


# -- requests: (method, path, fields or JSON body) ------------------------------------------------


def _reply_fields(w, **extra):
    fields = {
        "content": "A reply from the matrix.",
        "status": str(w.in_work),
        "priority": str(w.medium),
        "hours": "0",
    }
    fields.update(extra)
    return fields


PAGE_REQUESTS = {
    "view_ticket": lambda w, me: ("GET", f"/ticket_view/{w.ticket_id}/", None),
    "create_ticket": lambda w, me: (
        "POST",
        "/ticket_create/",
        {
            "title": "Created by the matrix",
            "content": "Created content.",
            "priority": str(w.medium),
            "category": str(w.it_other),
            "hours": "0",
        },
    ),
    "edit_ticket": lambda w, me: (
        "POST",
        f"/edit_ticket/{w.ticket_id}",
        {
            "title": "Edited by the matrix",
            "content": "Edited content.",
            "priority": str(w.medium),
            "category": str(w.it_other),
            "hours": "0",
        },
    ),
    "edit_reply": lambda w, me: (
        "POST",
        f"/edit_post/{w.post_id}/",
        {
            "content": "Edited reply.",
            "status": str(w.in_work),
            "priority": str(w.medium),
            "hours": "0",
        },
    ),
    "reply": lambda w, me: ("POST", f"/ticket_view/{w.ticket_id}/", _reply_fields(w)),
    "reply_and_close": lambda w, me: (
        "POST",
        f"/ticket_view/{w.ticket_id}/",
        _reply_fields(w, reply_close="1"),
    ),
    "close": lambda w, me: ("POST", f"/change_status/{w.ticket_id}/Closed/", {}),
    "release": lambda w, me: ("POST", f"/release/{w.ticket_id}/", {}),
    "claim": lambda w, me: ("POST", f"/ticket_claim/{w.ticket_id}/", {}),
    "assign": lambda w, me: ("POST", f"/ticket_assign/{w.ticket_id}/", {"username": "carol"}),
    "change_priority": lambda w, me: (
        "POST",
        f"/ticket_view/{w.ticket_id}/",
        _reply_fields(w, priority=str(w.high)),
    ),
    "delete_ticket": lambda w, me: (
        "POST",
        f"/delete_ticket/{w.ticket_id}/",
        {"password": PASSWORD},
    ),
    "delete_reply": lambda w, me: ("POST", f"/delete_post/{w.post_id}/", {"password": PASSWORD}),
    "change_category_off": lambda w, me: (
        "POST",
        f"/ticket_department_category/{w.ticket_id}/",
        {"category": str(w.manuals)},
    ),
    "subscribe": lambda w, me: (
        "POST",
        f"/ticket_subscribe/{w.ticket_id}/",
        {"username": "frank"},
    ),
    "unsubscribe_self": lambda w, me: (
        "POST",
        f"/unsubscribe/{w.ticket_id}/{w.users[me].id}",
        {},
    ),
    "unsubscribe_other": lambda w, me: (
        "POST",
        f"/unsubscribe/{w.ticket_id}/{w.users['erin'].id}",
        {},
    ),
    "view_departments": lambda w, me: ("GET", "/departments/", None),
    "add_department": lambda w, me: ("POST", "/departments/", {"department": "Legal"}),
    "rename_department": lambda w, me: (
        "POST",
        f"/department_edit/{w.archive}/",
        {"department": "Old Papers"},
    ),
    "delete_department": lambda w, me: (
        "POST",
        f"/delete/department/{w.archive}/",
        {"password": PASSWORD},
    ),
    "add_category": lambda w, me: (
        "POST",
        f"/categories/{w.archive}/",
        {"category": "Contracts"},
    ),
    "rename_category": lambda w, me: (
        "POST",
        f"/category_edit/{w.spare}/",
        {"category": "Spare Parts"},
    ),
    "delete_category": lambda w, me: (
        "POST",
        f"/delete/category/{w.spare}/",
        {"password": PASSWORD},
    ),
    "view_users": lambda w, me: ("GET", "/users/", None),
    "view_user": lambda w, me: ("GET", f"/user/{w.users['alice'].id}/", None),
    "admin_home": lambda w, me: ("GET", "/flicket_admin/", None),
    "admin_config": lambda w, me: (
        "POST",
        "/flicket_admin/config/",
        config_data(application_title="Changed Title"),
    ),
    "admin_add_user": lambda w, me: ("POST", "/flicket_admin/add_user/", user_data()),
    "admin_edit_user": lambda w, me: (
        "POST",
        f"/flicket_admin/edit_user/?id={w.users['gina'].id}",
        {"username": "gina", "name": "Gina Changed", "email": "gina@example.com", "locale": "en"},
    ),
    "admin_delete_user": lambda w, me: (
        "POST",
        f"/flicket_admin/delete_user/?id={w.users['gina'].id}",
        {"password": PASSWORD},
    ),
    "admin_add_group": lambda w, me: (
        "POST",
        "/flicket_admin/groups/",
        {"group_name": "Facilities"},
    ),
}
PAGE_REQUESTS["change_category_everyone"] = PAGE_REQUESTS["change_category_off"]
PAGE_REQUESTS["change_category_admin"] = PAGE_REQUESTS["change_category_off"]

API_REQUESTS = {
    "view_ticket": lambda w, me: ("GET", f"{A}/ticket/{w.ticket_id}", None),
    "create_ticket": lambda w, me: (
        "POST",
        f"{A}/tickets",
        {
            "title": "Created by the matrix",
            "content": "Created content.",
            "category_id": w.it_other,
            "ticket_priority_id": w.medium,
        },
    ),
    "reply": lambda w, me: (
        "POST",
        f"{A}/ticket/{w.ticket_id}/replies",
        {"content": "A reply from the matrix."},
    ),
    "close": lambda w, me: ("POST", f"{A}/ticket/{w.ticket_id}/close", {}),
    "release": lambda w, me: ("POST", f"{A}/ticket/{w.ticket_id}/release", {}),
    "claim": lambda w, me: ("POST", f"{A}/ticket/{w.ticket_id}/claim", {}),
    "assign": lambda w, me: ("POST", f"{A}/ticket/{w.ticket_id}/assign", {"username": "carol"}),
    "change_priority": lambda w, me: (
        "PATCH",
        f"{A}/ticket/{w.ticket_id}",
        {"ticket_priority_id": w.high},
    ),
    "change_category_off": lambda w, me: (
        "PATCH",
        f"{A}/ticket/{w.ticket_id}",
        {"category_id": w.manuals},
    ),
    "subscribe": lambda w, me: (
        "POST",
        f"{A}/ticket/{w.ticket_id}/subscriptions",
        {"username": "frank"},
    ),
    "unsubscribe_self": lambda w, me: (
        "DELETE",
        f"{A}/subscription/{w.subscription_of[me]}",
        None,
    ),
    "unsubscribe_other": lambda w, me: (
        "DELETE",
        f"{A}/subscription/{w.subscription_of['erin']}",
        None,
    ),
    "view_departments": lambda w, me: ("GET", f"{A}/departments/", None),
    "add_department": lambda w, me: ("POST", f"{A}/departments", {"department": "Legal"}),
    "add_category": lambda w, me: (
        "POST",
        f"{A}/categories",
        {"category": "Contracts", "department_id": w.archive},
    ),
    "view_users": lambda w, me: ("GET", f"{A}/users/", None),
    "view_user": lambda w, me: ("GET", f"{A}/user/{w.users['alice'].id}", None),
}
API_REQUESTS["change_category_everyone"] = API_REQUESTS["change_category_off"]
API_REQUESTS["change_category_admin"] = API_REQUESTS["change_category_off"]


# -- what "it happened" means for each action -----------------------------------------------------


def _one(dbsession, model, *where):
    return dbsession.scalars(sa.select(model).where(*where)).first()


def took_effect(action, dbsession, w, me):
    """True when the action's change is in the database."""
    dbsession.expire_all()
    ticket = dbsession.get(Ticket, w.ticket_id)
    replies = dbsession.scalar(
        sa.select(sa.func.count()).select_from(Post).where(Post.ticket_id == w.ticket_id)
    )
    subscribed = set(
        dbsession.scalars(
            sa.select(Subscription.user_id).where(Subscription.ticket_id == w.ticket_id)
        )
    )
    checks = {
        "create_ticket": lambda: (
            _one(dbsession, Ticket, Ticket.title == "Created by the matrix") is not None
        ),
        "edit_ticket": lambda: ticket.title == "Edited by the matrix",
        "edit_reply": lambda: dbsession.get(Post, w.post_id).content == "Edited reply.",
        "reply": lambda: replies == 2,
        "reply_and_close": lambda: ticket.status.status == "Closed" and replies == 2,
        "close": lambda: ticket.status.status == "Closed" and ticket.assigned_id is None,
        "release": lambda: ticket.assigned_id is None and ticket.status.status == "Open",
        "claim": lambda: ticket.assigned_id == w.users[me].id,
        "assign": lambda: ticket.assigned_id == w.users["carol"].id,
        "change_priority": lambda: ticket.ticket_priority_id == w.high,
        "delete_ticket": lambda: ticket is None and replies == 0,
        "delete_reply": lambda: dbsession.get(Post, w.post_id) is None,
        "change_category_off": lambda: ticket.category_id == w.manuals,
        "subscribe": lambda: w.users["frank"].id in subscribed,
        "unsubscribe_self": lambda: w.users[me].id not in subscribed,
        "unsubscribe_other": lambda: w.users["erin"].id not in subscribed,
        "add_department": lambda: (
            _one(dbsession, Department, Department.department == "Legal") is not None
        ),
        "rename_department": lambda: (
            dbsession.get(Department, w.archive).department == "Old Papers"
        ),
        "delete_department": lambda: dbsession.get(Department, w.archive) is None,
        "add_category": lambda: (
            _one(dbsession, Category, Category.category == "Contracts") is not None
        ),
        "rename_category": lambda: dbsession.get(Category, w.spare).category == "Spare Parts",
        "delete_category": lambda: dbsession.get(Category, w.spare) is None,
        "admin_config": lambda: (
            dbsession.scalars(sa.select(Config).order_by(Config.id)).first().application_title
            == "Changed Title"
        ),
        "admin_add_user": lambda: _one(dbsession, User, User.username == "newbie") is not None,
        "admin_edit_user": lambda: dbsession.get(User, w.gina_id).name == "Gina Changed",
        "admin_delete_user": lambda: dbsession.get(User, w.gina_id) is None,
        "admin_add_group": lambda: (
            _one(dbsession, Group, Group.group_name == "Facilities") is not None
        ),
    }
    checks["change_category_everyone"] = checks["change_category_admin"] = checks[
        "change_category_off"
    ]
    return checks[action]()


# -- the actors' clients --------------------------------------------------------------------------


def _enable_then_disable(dbsession, dave, arrange):
    """Run ``arrange`` while dave is still enabled, then disable him (as an admin would)."""
    dave.disabled = False
    dbsession.flush()
    result = arrange()
    dave.disabled = True
    dbsession.flush()
    return result


def page_client(actor, testapp, dbsession, users):
    if actor == "anonymous":
        return testapp
    if actor == "disabled":
        # dave logged in before he was disabled: his cookie must no longer count.
        _enable_then_disable(dbsession, users["dave"], lambda: login(testapp, "dave"))
        return testapp
    login(testapp, CAST[actor])
    return testapp


def page_csrf_token(client):
    page = client.get("/user_details", status="*")
    if page.status_int != 200:
        page = client.get("/login")
    return csrf_token_from(page)


def api_headers(actor, app, dbsession, users):
    if actor == "anonymous":
        return {}

    def issue():
        response = app.post(f"{A}/tokens", headers=basic_auth(CAST[actor]), status=200)
        return bearer(response.json["token"])

    if actor == "disabled":
        # dave's token was issued before he was disabled: it must no longer work.
        return _enable_then_disable(dbsession, users["dave"], issue)
    return issue()


# -- the tests ------------------------------------------------------------------------------------


def _check_unchanged(dbsession, before, action, actor):
    after = db_state(dbsession)
    assert after == before, f"{action} by {actor} changed {changed_tables(before, after)}"


def _check_done(dbsession, before, action, actor, world):
    if action in READ_ONLY:
        _check_unchanged(dbsession, before, action, actor)
    else:
        assert took_effect(action, dbsession, world, me_of(actor)), (action, actor)


@pytest.mark.parametrize(("action", "actor", "expected"), cases(PAGE))
def test_pages(testapp, dbsession, users, world, action, actor, expected):
    configure(dbsession, **CONFIG_FOR.get(action, {}))
    client = page_client(actor, testapp, dbsession, users)
    method, path, fields = PAGE_REQUESTS[action](world, me_of(actor))
    if method != "GET":
        fields = dict(fields, csrf_token=page_csrf_token(client))
    before = db_state(dbsession)
    if method == "GET":
        response = client.get(path, expect_errors=True)
    else:
        response = client.post(path, fields, expect_errors=True)

    if expected == "ok":
        assert response.status_int in (200, 302), (response.status, response.text[:500])
        if method == "GET":
            assert response.status_int == 200
        _check_done(dbsession, before, action, actor, world)
        return
    if expected == "login":
        assert_login_page(response)
        assert urlsplit(response.location).query.startswith("next=")
    elif expected == "deny":
        assert response.status_int == 403, response.status
        assert DENIED_TEXT in response.text
    elif expected == "refused":
        assert response.status_int == 302, response.status
        assert urlsplit(response.location).path == f"/ticket_view/{world.ticket_id}/"
    _check_unchanged(dbsession, before, action, actor)


@pytest.mark.parametrize(("action", "actor", "expected"), cases(API))
def test_api(wsgi_app, connection, dbsession, users, world, action, actor, expected):
    configure(dbsession, **CONFIG_FOR.get(action, {}))
    app = make_api_app(wsgi_app)  # every answer is also checked against the OpenAPI document
    headers = api_headers(actor, app, dbsession, users)
    method, path, body = API_REQUESTS[action](world, me_of(actor))
    before = db_state(dbsession)
    if body is None:
        response = app.request(path, method=method, headers=headers, expect_errors=True)
    else:
        response = app.request(
            path,
            method=method,
            headers=headers,
            body=json.dumps(body).encode(),
            content_type="application/json",
            expect_errors=True,
        )

    if expected == "ok":
        assert response.status_int in (200, 201, 204), (response.status, response.text[:500])
        _check_done(dbsession, before, action, actor, world)
        return
    expected_status = {"login": 401, "deny": 403, "refused": 409}[expected]
    assert response.status_int == expected_status, (response.status, response.text[:300])
    assert response.content_type == "application/json"
    if expected == "login":
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    _check_unchanged(dbsession, before, action, actor)


@pytest.mark.parametrize("actor", ["admin", "creator", "other"])
def test_api_ignores_the_session_cookie(testapp, dbsession, users, world, actor):
    """CSRF-4: a browser session gives no API access; a "simple" cross-site POST carrying
    only the cookie is 401 and creates nothing."""
    login(testapp, CAST[actor])
    testapp.get("/", status=200)
    before = db_state(dbsession)
    response = testapp.post(
        f"{A}/tickets",
        '{"title": "Forged", "content": "Forged content.", "category_id": 1, '
        '"ticket_priority_id": 1}',
        content_type="text/plain",
        status=401,
    )
    assert response.content_type == "application/json"
    testapp.get(f"{A}/ticket/{world.ticket_id}", status=401)
    testapp.post(f"{A}/ticket/{world.ticket_id}/claim", status=401)
    _check_unchanged(dbsession, before, "forged api call", actor)


# -- fail closed (ACL-9) ------------------------------------------------------------------------


def test_an_error_in_the_acl_computation_fails_closed(testapp, dbsession, world, monkeypatch):
    """If computing the principals raises, the answer is a generic 500 without the
    ticket's content, and the view never ran (nothing changed)."""
    login(testapp, "carol")
    token = page_csrf_token(testapp)
    before = db_state(dbsession)

    def broken(user):
        raise RuntimeError("group lookup failed")

    monkeypatch.setattr("flicket.security.principals_for", broken)
    response = testapp.get(f"/ticket_view/{world.ticket_id}/", status=500)
    assert "Printer on fire" not in response.text and "Bob" not in response.text
    assert "group lookup failed" not in response.text
    response = testapp.post(f"/ticket_claim/{world.ticket_id}/", {"csrf_token": token}, status=500)
    assert "group lookup failed" not in response.text
    _check_unchanged(dbsession, before, "claim with a broken ACL", "other")
