"""The JSON API, writing: create a ticket, reply, claim, release, assign, close, change
status, priority and category, subscribe and unsubscribe, create departments and
categories — each through the ticket (or department) service with the browser's permission
rules, answering the updated resource (201 with an absolute Location on create); refusals
that depend on the ticket's state are 409s and change nothing; and a ticket or reply made
through the API looks the same in the browser as one made there (PRODUCT §4;
SECURITY-TESTS API-8).

Every answer is checked against the OpenAPI document by the ``api`` fixture.
"""

import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from flicket.accounts.models import User
from flicket.departments.models import Category, Department
from flicket.tickets.models import Action, History, Post, Subscription, Ticket, Upload
from tests.api_helpers import assert_error, configure, fresh
from tests.conftest import csrf_token_from, login
from tests.factories import category, make_ticket, priority, status

pytest_plugins = ["tests.api_helpers"]

BASE = "http://example.com"
A = "/flicket-api"
TABLES = (Ticket, Post, Upload, History, Subscription, Action, Department, Category)


# -- helpers -----------------------------------------------------------------------------------


def snapshot(dbsession):
    """Every row a write could change, and every user's counters."""
    dbsession.expire_all()
    state = {}
    for model in TABLES:
        columns = list(model.__table__.columns)
        rows = dbsession.execute(sa.select(*columns).order_by(model.id))
        state[model.__tablename__] = [tuple(row) for row in rows]
    state["counters"] = [
        tuple(row)
        for row in dbsession.execute(
            sa.select(User.id, User.total_posts, User.total_assigned).order_by(User.id)
        )
    ]
    return state


def actions_of(dbsession, ticket_id):
    dbsession.expire_all()
    return [
        (a.action, a.user_id, a.recipient_id, a.data)
        for a in dbsession.scalars(
            sa.select(Action).where(Action.ticket_id == ticket_id).order_by(Action.id)
        )
    ]


def subscriber_ids(dbsession, ticket_id):
    dbsession.expire_all()
    return sorted(
        dbsession.scalars(
            sa.select(Subscription.user_id).where(Subscription.ticket_id == ticket_id)
        )
    )


def counters(dbsession, user):
    dbsession.expire_all()
    return tuple(
        dbsession.execute(
            sa.select(User.total_posts, User.total_assigned).where(User.id == user.id)
        ).one()
    )


def new_ticket_body(dbsession, **changes):
    body = {
        "title": "The coffee machine leaks",
        "content": "Water *everywhere*.",
        "category_id": category(dbsession, "IT", "Intranet").id,
        "ticket_priority_id": priority(dbsession, "high").id,
    }
    body.update(changes)
    return body


@pytest.fixture
def ticket(dbsession, users):
    """Alice's ticket, a day old, In Work and assigned to bob (counted), both subscribed."""
    bob = users["bob"]
    ticket = make_ticket(
        dbsession,
        users["alice"],
        "Printer on fire",
        assigned=bob,
        status_name="In Work",
        when=datetime.now() - timedelta(days=1),
    )
    dbsession.add(Subscription(ticket_id=ticket.id, user_id=bob.id))
    bob.total_assigned = 1
    dbsession.flush()
    return ticket


def url(ticket, action=""):
    return f"{A}/ticket/{ticket.id}" + (f"/{action}" if action else "")


# -- create a ticket ---------------------------------------------------------------------------


def test_create_a_ticket(api_as, dbsession, users):
    alice = users["alice"]
    body = new_ticket_body(dbsession, title="  The coffee machine leaks  ", hours=1.25)
    response = api_as("alice").post_json(f"{A}/tickets", body, status=201)
    created = response.json
    assert response.location == created["links"]["self"] == f"{BASE}{A}/ticket/{created['id']}"
    assert created["title"] == "The coffee machine leaks"
    assert created["started_id"] == alice.id
    assert created["links"]["started_by"] == f"{BASE}{A}/user/{alice.id}"
    ticket = fresh(dbsession, Ticket, created["id"])
    assert ticket.status.status == "Open"
    assert ticket.ticket_priority.priority == "high"
    assert ticket.category.department_category == "IT / Intranet"
    assert ticket.content == "Water *everywhere*."
    assert ticket.hours == Decimal("1.25")
    assert ticket.assigned_id is None
    assert ticket.last_updated == ticket.date_added
    # As the browser: the creator subscribed, the post counted, no action row.
    assert subscriber_ids(dbsession, ticket.id) == [alice.id]
    assert counters(dbsession, alice) == (1, 0)
    assert actions_of(dbsession, ticket.id) == []
    # And it reads back the same.
    assert api_as("bob").get(f"{A}/ticket/{ticket.id}").json == created


def test_create_without_hours_records_none(api_as, dbsession, users):
    created = api_as("bob").post_json(f"{A}/tickets", new_ticket_body(dbsession), status=201)
    assert fresh(dbsession, Ticket, created.json["id"]).hours == Decimal("0")


# -- reply ---------------------------------------------------------------------------------------


def test_reply(api_as, dbsession, users, ticket):
    carol = users["carol"]
    waiting, high = status(dbsession, "Awaiting Information"), priority(dbsession, "high")
    before = ticket.last_updated
    response = api_as("carol").post_json(
        url(ticket, "replies"),
        {
            "content": "I have seen this before.",
            "hours": 0.75,
            "status_id": waiting.id,
            "ticket_priority_id": high.id,
        },
        status=201,
    )
    post = response.json
    assert response.location == post["links"]["self"] == f"{BASE}{A}/post/{post['id']}"
    assert post["data_added"] == post["date_added"]
    assert (post["content"], post["ticket_id"], post["user_id"]) == (
        "I have seen this before.",
        ticket.id,
        carol.id,
    )
    row = fresh(dbsession, Post, post["id"])
    assert row.hours == Decimal("0.75")
    changed = fresh(dbsession, Ticket, ticket.id)
    assert changed.status.status == "Awaiting Information"
    assert changed.ticket_priority.priority == "high"
    assert changed.last_updated > before
    assert actions_of(dbsession, ticket.id) == [
        ("status", carol.id, None, {"status_id": waiting.id, "status": "Awaiting Information"}),
        ("priority", carol.id, None, {"priority_id": high.id, "priority": "high"}),
    ]
    assert carol.id in subscriber_ids(dbsession, ticket.id)
    assert counters(dbsession, carol) == (1, 0)


def test_reply_that_keeps_status_and_priority_writes_no_action(api_as, dbsession, ticket):
    api_as("bob").post_json(
        url(ticket, "replies"),
        {
            "content": "Still on it.",
            "status_id": ticket.status_id,
            "ticket_priority_id": ticket.ticket_priority_id,
        },
        status=201,
    )
    assert actions_of(dbsession, ticket.id) == []


def test_a_reply_reopens_a_closed_ticket(api_as, dbsession, users):
    closed = make_ticket(dbsession, users["alice"], status_name="Closed")
    api_as("carol").post_json(url(closed, "replies"), {"content": "It is back."}, status=201)
    assert fresh(dbsession, Ticket, closed.id).status.status == "Open"


def test_a_reply_cannot_close(api_as, dbsession, ticket):
    before = snapshot(dbsession)
    response = api_as("alice").post_json(
        url(ticket, "replies"),
        {"content": "Closing it.", "status_id": status(dbsession, "Closed").id},
        status=409,
    )
    assert_error(response, 409, "close")
    assert snapshot(dbsession) == before


@pytest.mark.parametrize("field", ["status_id", "ticket_priority_id"])
def test_a_reply_with_an_unknown_status_or_priority_is_400(api_as, dbsession, ticket, field):
    before = snapshot(dbsession)
    response = api_as("bob").post_json(
        url(ticket, "replies"), {"content": "Hello there", field: 999999}, status=400
    )
    assert_error(response, 400, field)
    assert snapshot(dbsession) == before


# -- claim, release, assign, close: who may, and what it does -------------------------------


@pytest.mark.parametrize("actor", ["alice", "carol", "admin", "super"])
def test_anyone_may_claim(api_as, dbsession, users, ticket, actor):
    body = api_as(actor).post(url(ticket, "claim"), status=200).json
    who = users[actor]
    assert body["assigned_id"] == who.id
    assert body["status_id"] == status(dbsession, "In Work").id
    assert body["links"]["assigned"] == f"{BASE}{A}/user/{who.id}"
    assert counters(dbsession, users["bob"])[1] == 0
    assert counters(dbsession, who)[1] == 1
    assert who.id in subscriber_ids(dbsession, ticket.id)
    assert actions_of(dbsession, ticket.id)[-1][:2] == ("claim", who.id)


def test_claiming_your_own_ticket_again_is_409(api_as, dbsession, ticket):
    before = snapshot(dbsession)
    assert_error(api_as("bob").post(url(ticket, "claim"), status=409), 409, "already")
    assert snapshot(dbsession) == before


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [
        ("bob", True),  # the assignee
        ("admin", True),
        ("alice", False),  # the creator
        ("carol", False),
        ("super", False),
    ],
)
def test_release(api_as, dbsession, users, ticket, actor, allowed):
    before = snapshot(dbsession)
    client = api_as(actor)
    if not allowed:
        assert_error(client.post(url(ticket, "release"), status=403), 403)
        assert snapshot(dbsession) == before
        return
    body = client.post(url(ticket, "release"), status=200).json
    assert body["assigned_id"] is None and body["links"]["assigned"] is None
    assert body["status_id"] == status(dbsession, "Open").id
    assert counters(dbsession, users["bob"])[1] == 0
    assert actions_of(dbsession, ticket.id)[-1][:2] == ("release", users[actor].id)


def test_releasing_an_unassigned_ticket_is_409(api_as, dbsession, users):
    open_ticket = make_ticket(dbsession, users["alice"])
    assert_error(api_as("admin").post(url(open_ticket, "release"), status=409), 409)


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [
        ("alice", True),  # the creator
        ("bob", True),  # the assignee
        ("admin", True),
        ("carol", False),
        ("super", False),
    ],
)
def test_close(api_as, dbsession, users, ticket, actor, allowed):
    before = snapshot(dbsession)
    client = api_as(actor)
    if not allowed:
        assert_error(client.post(url(ticket, "close"), status=403), 403)
        assert snapshot(dbsession) == before
        return
    body = client.post(url(ticket, "close"), status=200).json
    assert body["status_id"] == status(dbsession, "Closed").id
    assert body["assigned_id"] is None
    assert counters(dbsession, users["bob"])[1] == 0
    assert actions_of(dbsession, ticket.id)[-1][:2] == ("close", users[actor].id)
    # Closing twice is a state refusal (for whoever may still close it).
    again = snapshot(dbsession)
    response = api_as("admin").post(url(ticket, "close"), status=409)
    assert_error(response, 409, "already closed")
    assert snapshot(dbsession) == again


@pytest.mark.parametrize("how", ["user_id", "username"])
def test_assign(api_as, dbsession, users, ticket, how):
    carol = users["carol"]
    who = {"user_id": carol.id} if how == "user_id" else {"username": "carol"}
    body = api_as("alice").post_json(url(ticket, "assign"), who, status=200).json
    assert body["assigned_id"] == carol.id
    assert body["status_id"] == status(dbsession, "In Work").id
    assert counters(dbsession, carol)[1] == 1 and counters(dbsession, users["bob"])[1] == 0
    assert carol.id in subscriber_ids(dbsession, ticket.id)
    assert actions_of(dbsession, ticket.id)[-1][:3] == ("assign", users["alice"].id, carol.id)


@pytest.mark.parametrize(
    ("who", "status_code", "message"),
    [
        ({"username": "dave"}, 409, "disabled"),
        ({"username": "bob"}, 409, "already assigned"),
        ({"username": "nobody"}, 400, "no such user"),
        ({"user_id": 999999}, 400, "no such user"),
        ({}, 400, "user_id or username"),
        ({"username": ""}, 400, "user_id or username"),
    ],
)
def test_assign_refusals(api_as, dbsession, ticket, who, status_code, message):
    before = snapshot(dbsession)
    response = api_as("carol").post_json(url(ticket, "assign"), who, status=status_code)
    assert_error(response, status_code, message)
    assert snapshot(dbsession) == before


@pytest.mark.parametrize("action", ["claim", "assign"])
def test_a_closed_ticket_cannot_be_claimed_or_assigned(api_as, dbsession, users, action):
    closed = make_ticket(dbsession, users["alice"], status_name="Closed")
    before = snapshot(dbsession)
    response = api_as("admin").post_json(url(closed, action), {"username": "carol"}, status=409)
    assert_error(response, 409, "closed")
    assert snapshot(dbsession) == before


# -- PATCH: status, priority, category ---------------------------------------------------------


def test_change_status_and_priority(api_as, dbsession, users, ticket):
    waiting, low = status(dbsession, "Awaiting Information"), priority(dbsession, "low")
    body = (
        api_as("carol")
        .patch_json(
            url(ticket), {"status_id": waiting.id, "ticket_priority_id": low.id}, status=200
        )
        .json
    )
    assert (body["status_id"], body["ticket_priority_id"]) == (waiting.id, low.id)
    carol = users["carol"].id
    assert actions_of(dbsession, ticket.id) == [
        ("priority", carol, None, {"priority_id": low.id, "priority": "low"}),
        ("status", carol, None, {"status_id": waiting.id, "status": "Awaiting Information"}),
    ]


def test_a_value_the_ticket_already_has_changes_nothing(api_as, dbsession, ticket):
    before = snapshot(dbsession)
    body = (
        api_as("carol")
        .patch_json(
            url(ticket),
            {"status_id": ticket.status_id, "ticket_priority_id": ticket.ticket_priority_id},
            status=200,
        )
        .json
    )
    assert body["id"] == ticket.id
    assert snapshot(dbsession) == before


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [
        ("alice", True),
        ("bob", True),
        ("admin", True),
        ("carol", False),
        ("super", False),
    ],
)
def test_closing_by_patch_follows_the_close_rule(api_as, dbsession, users, ticket, actor, allowed):
    closed = status(dbsession, "Closed")
    before = snapshot(dbsession)
    client = api_as(actor)
    if not allowed:
        assert_error(client.patch_json(url(ticket), {"status_id": closed.id}, status=403), 403)
        assert snapshot(dbsession) == before
        return
    body = client.patch_json(url(ticket), {"status_id": closed.id}, status=200).json
    assert body["status_id"] == closed.id and body["assigned_id"] is None
    assert counters(dbsession, users["bob"])[1] == 0


@pytest.mark.parametrize(
    ("change_category", "only_admins", "actor", "allowed"),
    [
        (False, False, "admin", False),
        (False, False, "alice", False),
        (True, True, "admin", True),
        (True, True, "super", True),
        (True, True, "alice", False),
        (True, True, "carol", False),
        (True, False, "carol", True),
    ],
)
def test_change_category_follows_the_site_setting(
    api_as, dbsession, users, ticket, change_category, only_admins, actor, allowed
):
    configure(
        dbsession,
        change_category=change_category,
        change_category_only_admin_or_super_user=only_admins,
    )
    target = category(dbsession, "Commercial", "Approved Suppliers")
    before = snapshot(dbsession)
    client = api_as(actor)
    if not allowed:
        assert_error(client.patch_json(url(ticket), {"category_id": target.id}, status=403), 403)
        assert snapshot(dbsession) == before
        return
    body = client.patch_json(url(ticket), {"category_id": target.id}, status=200).json
    assert body["category_id"] == target.id
    action = actions_of(dbsession, ticket.id)[-1]
    assert action[:2] == ("department_category", users[actor].id)
    assert action[3]["department_category"] == "Commercial / Approved Suppliers"


def test_the_category_of_a_closed_ticket_cannot_change(api_as, dbsession, users):
    configure(dbsession, change_category=True)
    closed = make_ticket(dbsession, users["alice"], status_name="Closed")
    target = category(dbsession, "Commercial", "Other")
    before = snapshot(dbsession)
    response = api_as("admin").patch_json(url(closed), {"category_id": target.id}, status=409)
    assert_error(response, 409, "closed")
    assert snapshot(dbsession) == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "status_id"),
        ({"status_id": 999999}, "status_id"),
        ({"ticket_priority_id": 999999}, "ticket_priority_id"),
        ({"category_id": 999999}, "category_id"),
        ({"title": "New title"}, "Unknown field"),
    ],
)
def test_bad_patches_are_400(api_as, dbsession, ticket, body, message):
    before = snapshot(dbsession)
    response = api_as("admin").patch_json(url(ticket), body, status=400)
    assert_error(response, 400, message)
    assert snapshot(dbsession) == before


# -- subscribe and unsubscribe -----------------------------------------------------------------


@pytest.mark.parametrize("actor", ["alice", "carol", "super"])
def test_subscribe_someone(api_as, dbsession, users, ticket, actor):
    carol = users["carol"]
    response = api_as(actor).post_json(
        url(ticket, "subscriptions"), {"username": "carol"}, status=201
    )
    body = response.json
    assert response.location == body["links"]["self"] == f"{BASE}{A}/subscription/{body['id']}"
    assert (body["ticket_id"], body["user_id"], body["user_def"]) == (
        ticket.id,
        carol.id,
        "Carol Example",
    )
    assert carol.id in subscriber_ids(dbsession, ticket.id)
    assert actions_of(dbsession, ticket.id)[-1][:3] == ("subscribe", users[actor].id, carol.id)


def test_subscribing_twice_is_409(api_as, dbsession, users, ticket):
    before = snapshot(dbsession)
    response = api_as("carol").post_json(
        url(ticket, "subscriptions"), {"user_id": users["bob"].id}, status=409
    )
    assert_error(response, 409, "already subscribed")
    assert snapshot(dbsession) == before


def subscription_of(dbsession, ticket, user):
    return dbsession.scalars(
        sa.select(Subscription).where(
            Subscription.ticket_id == ticket.id, Subscription.user_id == user.id
        )
    ).one()


@pytest.mark.parametrize(
    ("actor", "whose", "allowed"),
    [
        ("bob", "bob", True),  # your own
        ("alice", "alice", True),
        ("admin", "bob", True),
        ("super", "bob", True),
        ("alice", "bob", False),  # the creator may not remove others
        ("carol", "bob", False),
    ],
)
def test_unsubscribe(api_as, dbsession, users, ticket, actor, whose, allowed):
    target = f"{A}/subscription/{subscription_of(dbsession, ticket, users[whose]).id}"
    before = snapshot(dbsession)
    client = api_as(actor)
    if not allowed:
        assert_error(client.delete(target, status=403), 403)
        assert snapshot(dbsession) == before
        return
    response = client.delete(target, status=204)
    assert response.body == b""
    assert users[whose].id not in subscriber_ids(dbsession, ticket.id)
    assert actions_of(dbsession, ticket.id)[-1][:3] == (
        "unsubscribe",
        users[actor].id,
        users[whose].id,
    )
    assert_error(client.delete(target, status=404), 404)


# -- departments and categories ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [
        ("admin", True),
        ("super", True),
        ("alice", False),
        ("carol", False),
    ],
)
def test_create_department_and_category(api_as, dbsession, actor, allowed):
    client = api_as(actor)
    before = snapshot(dbsession)
    if not allowed:
        assert_error(
            client.post_json(f"{A}/departments", {"department": "Facilities"}, status=403), 403
        )
        it = category(dbsession).department
        assert_error(
            client.post_json(
                f"{A}/categories", {"category": "Lifts", "department_id": it.id}, status=403
            ),
            403,
        )
        # Refused before the body is even read.
        client.post(f"{A}/departments", "nonsense", content_type="text/plain", status=403)
        assert snapshot(dbsession) == before
        return
    response = client.post_json(f"{A}/departments", {"department": " Facilities "}, status=201)
    department = response.json
    assert department["department"] == "Facilities"
    assert response.location == department["links"]["self"]
    assert response.location == f"{BASE}{A}/department/{department['id']}"
    response = client.post_json(
        f"{A}/categories", {"category": "Lifts", "department_id": department["id"]}, status=201
    )
    created = response.json
    assert (created["category"], created["department"]) == ("Lifts", "Facilities")
    assert created["links"]["department"] == department["links"]["self"]
    assert response.location == f"{BASE}{A}/category/{created['id']}"
    assert (
        client.get(f"{A}/department_category/{created['id']}").json["department_category"]
        == "Facilities / Lifts"
    )


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("departments", {"department": "IT"}, "name must be 3 to 30"),
        ("departments", {"department": "it department that is far too long"}, "30"),
        ("departments", {"department": "Commercial"}, "already"),
        ("departments", {"department": "COMMERCIAL"}, "already"),
        ("departments", {"department": "Tab\there"}, "control characters"),
        ("categories", {"category": "Lifts", "department_id": 999999}, "department_id"),
        ("categories", {"category": "Lifts"}, "department_id is required"),
        ("categories", {"category": "Other", "department_id": "IT"}, "integer"),
        ("categories", {"category": "x", "department_id": None}, "integer"),
    ],
)
def test_department_and_category_refusals(api_as, dbsession, path, body, message):
    before = snapshot(dbsession)
    response = api_as("admin").post_json(f"{A}/{path}", body, status=400)
    assert_error(response, 400, message)
    assert snapshot(dbsession) == before


def test_a_category_name_is_unique_within_its_department(api_as, dbsession):
    it = category(dbsession).department
    before = snapshot(dbsession)
    response = api_as("super").post_json(
        f"{A}/categories", {"category": "other", "department_id": it.id}, status=400
    )
    assert_error(response, 400, "already")
    assert snapshot(dbsession) == before


# -- unknown tickets and anonymous writes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "replies", {"content": "Hello there"}),
        ("POST", "claim", None),
        ("POST", "release", None),
        ("POST", "close", None),
        ("POST", "assign", {"username": "bob"}),
        ("POST", "subscriptions", {"username": "bob"}),
        ("PATCH", "", {"status_id": 1}),
    ],
)
def test_writes_to_an_unknown_ticket_are_404(api_as, users, method, path, body):
    target = f"{A}/ticket/999999" + (f"/{path}" if path else "")
    client = api_as("admin")
    if method == "PATCH":
        response = client.patch_json(target, body, status=404)
    elif body is None:
        response = client.post(target, status=404)
    else:
        response = client.post_json(target, body, status=404)
    assert_error(response, 404)


def test_deleting_an_unknown_subscription_is_404(api_as, users):
    assert_error(api_as("admin").delete(f"{A}/subscription/999999", status=404), 404)


# -- the same in the browser ------------------------------------------------------------------


def normalised_page(app, ticket_id):
    """The ticket page's main content without what must differ between two tickets: the
    ticket and reply numbers, times, and the CSRF token."""
    main = app.get(f"/ticket_view/{ticket_id}/").html.select_one("main")
    for alert in main.select(".alert-success, .alert-info"):
        alert.decompose()
    html = str(main)
    html = re.sub(
        r'(href|action|id|for|aria-labelledby)="([^"]*)"',
        lambda m: re.sub(r"\d+", "N", m[0]),
        html,
    )
    html = re.sub(r'datetime="[^"]*"', 'datetime="T"', html)
    html = re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', "CSRF", html)
    html = re.sub(r"\d{2}-\d{2}-\d{4} \d{2}:\d{2}|\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "TIME", html)
    html = re.sub(r"#\d{5}", "#N", html)
    return re.sub(r"\n\s*\n", "\n", html)


def normalised_mail(outbox, start=0):
    """(recipients, subject, text, HTML) of the messages sent since ``start``, without the
    ticket and reply numbers and times that must differ between two tickets."""

    def clean(text):
        text = re.sub(r"#\d{5}", "#N", text or "")
        text = re.sub(r"/\d+/", "/N/", text)
        text = re.sub(r"post-\d+", "post-N", text)
        return re.sub(r"\d{2}-\d{2}-\d{4} \d{2}:\d{2}|\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "T", text)

    return [
        (sorted(m.recipients), clean(m.subject), clean(m.body), clean(m.html))
        for m in outbox[start:]
    ]


def ticket_row(dbsession, ticket_id):
    """What a ticket row holds, without its id and times."""
    t = fresh(dbsession, Ticket, ticket_id)
    return (
        t.title,
        t.content,
        t.started_id,
        t.status_id,
        t.category_id,
        t.ticket_priority_id,
        t.assigned_id,
        t.hours,
        t.modified_id,
        t.date_modified,
    )


def browser_create(app, dbsession, title, content, category_id, priority_id, hours):
    page = app.get("/ticket_create/")
    response = app.post(
        "/ticket_create/",
        {
            "csrf_token": csrf_token_from(page),
            "title": title,
            "content": content,
            "priority": str(priority_id),
            "department": "",
            "category": str(category_id),
            "hours": hours,
        },
        status=302,
    )
    return int(response.location.rstrip("/").split("/")[-1])


def test_an_api_ticket_and_reply_look_the_same_in_the_browser(
    api_as, testapp, dbsession, users, outbox
):
    alice = users["alice"]
    login(testapp, "alice")
    cat = category(dbsession, "IT", "Intranet").id
    pri = priority(dbsession, "high").id
    title, content = "The coffee machine leaks", "Water **everywhere**.\n\n* one\n* two"

    browser_id = browser_create(testapp, dbsession, title, content, cat, pri, "1.25")
    browser_mail = normalised_mail(outbox)
    sent = len(outbox)
    api_id = (
        api_as("alice")
        .post_json(
            f"{A}/tickets",
            {
                "title": title,
                "content": content,
                "category_id": cat,
                "ticket_priority_id": pri,
                "hours": 1.25,
            },
            status=201,
        )
        .json["id"]
    )
    assert ticket_row(dbsession, api_id) == ticket_row(dbsession, browser_id)
    # The same notice to the creator.
    assert normalised_mail(outbox, sent) == browser_mail
    assert [mail[0] for mail in browser_mail] == [["alice@example.com"]]
    assert subscriber_ids(dbsession, api_id) == subscriber_ids(dbsession, browser_id)
    assert actions_of(dbsession, api_id) == actions_of(dbsession, browser_id) == []
    assert counters(dbsession, alice) == (2, 0)
    page = normalised_page(testapp, api_id)
    assert page == normalised_page(testapp, browser_id)
    assert "<strong>everywhere</strong>" in page and "Hours: 1.25" in page

    # Bob replies to each with hours, a new status and priority: once in the browser...
    waiting = status(dbsession, "Awaiting Information").id
    low = priority(dbsession, "low").id
    reply = "Have you tried *turning it off*?"
    bob_browser = testapp.__class__(testapp.app, extra_environ=testapp.extra_environ)
    login(bob_browser, "bob")
    page = bob_browser.get(f"/ticket_view/{browser_id}/")
    sent = len(outbox)
    bob_browser.post(
        f"/ticket_view/{browser_id}/",
        {
            "csrf_token": csrf_token_from(page),
            "content": reply,
            "status": str(waiting),
            "priority": str(low),
            "hours": "0.5",
            "reply": "",
        },
        status=302,
    )
    browser_mail = normalised_mail(outbox, sent)
    sent = len(outbox)
    # ... and once through the API.
    api_as("bob").post_json(
        f"{A}/ticket/{api_id}/replies",
        {"content": reply, "status_id": waiting, "ticket_priority_id": low, "hours": 0.5},
        status=201,
    )
    assert ticket_row(dbsession, api_id) == ticket_row(dbsession, browser_id)
    assert normalised_mail(outbox, sent) == browser_mail
    assert [mail[0] for mail in browser_mail] == [["alice@example.com"]]
    posts = {
        ticket_id: [
            (p.content, p.user_id, p.hours)
            for p in dbsession.scalars(sa.select(Post).where(Post.ticket_id == ticket_id))
        ]
        for ticket_id in (api_id, browser_id)
    }
    assert posts[api_id] == posts[browser_id] == [(reply, users["bob"].id, Decimal("0.50"))]
    assert actions_of(dbsession, api_id) == actions_of(dbsession, browser_id)
    assert len(actions_of(dbsession, api_id)) == 2
    assert subscriber_ids(dbsession, api_id) == subscriber_ids(dbsession, browser_id)
    assert counters(dbsession, users["bob"]) == (2, 0)
    page = normalised_page(testapp, api_id)
    assert page == normalised_page(testapp, browser_id)
    assert "<em>turning it off</em>" in page and "Awaiting Information" in page
    # The API reads both the same way, too.
    client = api_as("carol")
    one, other = (client.get(f"{A}/ticket/{i}").json for i in (api_id, browser_id))
    for body in (one, other):
        for key in ("id", "date_added", "links"):
            body.pop(key)
    assert one == other


def test_workflow_operations_look_the_same_in_the_browser(
    api_as, testapp, dbsession, users, outbox
):
    """Claim, assign, subscribe and close through the API leave the same action lines on the
    ticket page as the same operations done in the browser."""
    alice = users["alice"]
    tickets = [make_ticket(dbsession, alice, "Twin ticket") for _ in range(2)]
    browser, through_api = tickets
    login(testapp, "admin")

    def press(path, fields=None):
        page = testapp.get(path)
        testapp.post(path, {"csrf_token": csrf_token_from(page), **(fields or {})}, status=302)

    press(f"/ticket_claim/{browser.id}/")
    press(f"/ticket_assign/{browser.id}/", {"username": "carol"})
    page = testapp.get(f"/ticket_view/{browser.id}/")
    testapp.post(
        f"/ticket_subscribe/{browser.id}/",
        {"csrf_token": csrf_token_from(page), "username": "bob"},
        status=302,
    )
    press(f"/change_status/{browser.id}/Closed/")
    browser_mail = normalised_mail(outbox)
    sent = len(outbox)

    client = api_as("admin")
    client.post(url(through_api, "claim"), status=200)
    client.post_json(url(through_api, "assign"), {"username": "carol"}, status=200)
    client.post_json(url(through_api, "subscriptions"), {"username": "bob"}, status=201)
    client.post(url(through_api, "close"), status=200)
    assert normalised_mail(outbox, sent) == browser_mail
    assert len(browser_mail) >= 4

    assert actions_of(dbsession, through_api.id) == actions_of(dbsession, browser.id)
    assert [a[0] for a in actions_of(dbsession, browser.id)] == [
        "claim",
        "assign",
        "subscribe",
        "close",
    ]
    assert ticket_row(dbsession, through_api.id) == ticket_row(dbsession, browser.id)
    assert subscriber_ids(dbsession, through_api.id) == subscriber_ids(dbsession, browser.id)
    page = normalised_page(testapp, through_api.id)
    assert page == normalised_page(testapp, browser.id)
    assert "Carol Example" in page and "Bob Example" in page
