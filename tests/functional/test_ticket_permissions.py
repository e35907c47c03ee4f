"""Who may do what to a ticket: one role × action matrix, written as data, drives a test per
(action, actor) that checks the answer AND the database afterwards (changed when allowed,
untouched when refused); a second table says which buttons each role is shown
(reference §2, "Intended / recommended" column; SECURITY-TESTS ACL-2, ACL-3, ACL-8).

The cast: alice created the ticket, bob is its assignee and wrote its reply, carol has
nothing to do with it, super is a super_user, admin an administrator, dave is disabled (he
cannot log in, so he is treated as an anonymous visitor), and anonymous never logged in.
"""

from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from flicket.tickets.models import Post, Subscription, Ticket
from tests.conftest import PASSWORD, assert_login_page, csrf_token_from, login, make_user
from tests.factories import category, make_post, priority, status
from tests.functional.test_ticket_operations import (
    configure,
    fresh,
    old_ticket,
    row_count,
    set_counters,
    snapshot,
    subscriber_ids,
)

ACTORS = ("admin", "super", "alice", "bob", "carol", "dave", "anonymous")

# ok: done (redirect) and the database changed; 403: forbidden, nothing changed;
# login: sent to the login page, nothing changed; refused: allowed, but the ticket's state
# says no (back to the ticket with a flash), nothing changed.
MATRIX_TABLE = """
action                    admin  super  alice  bob      carol  dave   anonymous
edit_ticket               ok     403    ok     403      403    login  login
edit_reply                ok     403    403    ok       403    login  login
close                     ok     403    ok     ok       403    login  login
reply_and_close           ok     403    ok     ok       403    login  login
release                   ok     403    403    ok       403    login  login
delete_ticket             ok     403    403    403      403    login  login
delete_reply              ok     403    403    403      403    login  login
unsubscribe_other         ok     ok     403    403      403    login  login
unsubscribe_self          ok     ok     ok     ok       ok     login  login
change_category_off       403    403    403    403      403    login  login
change_category_everyone  ok     ok     ok     ok       ok     login  login
change_category_admin     ok     ok     403    403      403    login  login
claim                     ok     ok     ok     refused  ok     login  login
assign                    ok     ok     ok     ok       ok     login  login
subscribe                 ok     ok     ok     ok       ok     login  login
reply                     ok     ok     ok     ok       ok     login  login
view                      ok     ok     ok     ok       ok     login  login
"""


def parse_table(text):
    lines = [line.split() for line in text.strip().splitlines()]
    header, body = lines[0][1:], lines[1:]
    return [
        (row[0], actor, expected)
        for row in body
        for actor, expected in zip(header, row[1:], strict=True)
    ]


MATRIX = parse_table(MATRIX_TABLE)


def test_the_matrix_covers_every_actor_for_every_action():
    actions = {action for action, _, _ in MATRIX}
    assert len(MATRIX) == len(actions) * len(ACTORS)
    assert {(a, b) for a, b, _ in MATRIX} == {(a, b) for a in actions for b in ACTORS}
    assert actions == set(REQUESTS)


# -- the world every row starts from --------------------------------------------------------------


@pytest.fixture
def world(dbsession, users):
    alice, bob = users["alice"], users["bob"]
    erin = make_user(dbsession, "erin")  # a subscriber nobody in the cast is
    frank = make_user(dbsession, "frank")  # someone to subscribe
    ticket = old_ticket(dbsession, alice, assigned=bob, status_name="In Work")
    for user in (users["admin"], users["super"], bob, users["carol"], erin):
        dbsession.add(Subscription(ticket_id=ticket.id, user_id=user.id))
    post = make_post(dbsession, ticket, bob, "Bob's reply.")
    set_counters(dbsession, alice, posts=1)
    set_counters(dbsession, bob, posts=1, assigned=1)
    return SimpleNamespace(
        ticket_id=ticket.id,
        post_id=post.id,
        users=dict(users, erin=erin, frank=frank),
        manuals=category(dbsession, "Quality", "Manuals").id,
        in_work=status(dbsession, "In Work").id,
        medium=priority(dbsession, "medium").id,
        it_other=category(dbsession, "IT", "Other").id,
    )


def client_for(actor, testapp):
    """A browser for ``actor``: logged in, or (anonymous, dave) not."""
    if actor == "anonymous":
        return testapp, None
    if actor == "dave":
        page = login(testapp, "dave", status=200)  # disabled: the login form again
        assert "/login" in page.request.path
        assert_login_page(testapp.get("/"))
        return testapp, None
    login(testapp, actor)
    return testapp, actor


def csrf_for(app, world, actor):
    page = app.get(f"/ticket_view/{world.ticket_id}/" if actor else "/login")
    return csrf_token_from(page)


# Each action: (path, fields) for the request, and a check that it took effect.
def _reply_fields(world, **extra):
    return dict(
        content="A reply from the matrix.",
        status=str(world.in_work),
        priority=str(world.medium),
        hours="0",
        **extra,
    )


REQUESTS = {
    "edit_ticket": lambda w, me: (
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
        f"/edit_post/{w.post_id}/",
        {
            "content": "Edited reply.",
            "status": str(w.in_work),
            "priority": str(w.medium),
            "hours": "0",
        },
    ),
    "close": lambda w, me: (f"/change_status/{w.ticket_id}/Closed/", {}),
    "reply_and_close": lambda w, me: (
        f"/ticket_view/{w.ticket_id}/",
        _reply_fields(w, reply_close="1"),
    ),
    "release": lambda w, me: (f"/release/{w.ticket_id}/", {}),
    "delete_ticket": lambda w, me: (f"/delete_ticket/{w.ticket_id}/", {"password": PASSWORD}),
    "delete_reply": lambda w, me: (f"/delete_post/{w.post_id}/", {"password": PASSWORD}),
    "unsubscribe_other": lambda w, me: (
        f"/unsubscribe/{w.ticket_id}/{w.users['erin'].id}",
        {},
    ),
    "unsubscribe_self": lambda w, me: (
        f"/unsubscribe/{w.ticket_id}/{w.users[me or 'erin'].id}",
        {},
    ),
    "change_category_off": lambda w, me: (
        f"/ticket_department_category/{w.ticket_id}/",
        {"category": str(w.manuals)},
    ),
    "claim": lambda w, me: (f"/ticket_claim/{w.ticket_id}/", {}),
    "assign": lambda w, me: (f"/ticket_assign/{w.ticket_id}/", {"username": "carol"}),
    "subscribe": lambda w, me: (f"/ticket_subscribe/{w.ticket_id}/", {"username": "frank"}),
    "reply": lambda w, me: (f"/ticket_view/{w.ticket_id}/", _reply_fields(w)),
    "view": lambda w, me: (f"/ticket_view/{w.ticket_id}/", None),
}
REQUESTS["change_category_everyone"] = REQUESTS["change_category_off"]
REQUESTS["change_category_admin"] = REQUESTS["change_category_off"]

CONFIG_FOR = {
    "change_category_off": {"change_category": False},
    "change_category_everyone": {
        "change_category": True,
        "change_category_only_admin_or_super_user": False,
    },
    "change_category_admin": {
        "change_category": True,
        "change_category_only_admin_or_super_user": True,
    },
}


def took_effect(action, dbsession, w, me):
    """True when the action's change is in the database."""
    ticket = fresh(dbsession, Ticket, w.ticket_id)
    replies = row_count(dbsession, Post, Post.ticket_id == w.ticket_id)
    subscribed = subscriber_ids(dbsession, w.ticket_id)
    if action == "edit_ticket":
        return ticket.title == "Edited by the matrix"
    if action == "edit_reply":
        return fresh(dbsession, Post, w.post_id).content == "Edited reply."
    if action == "close":
        return ticket.status.status == "Closed" and ticket.assigned_id is None
    if action == "reply_and_close":
        return ticket.status.status == "Closed" and replies == 2
    if action == "release":
        return ticket.assigned_id is None and ticket.status.status == "Open"
    if action == "delete_ticket":
        return ticket is None and replies == 0
    if action == "delete_reply":
        return fresh(dbsession, Post, w.post_id) is None
    if action == "unsubscribe_other":
        return w.users["erin"].id not in subscribed
    if action == "unsubscribe_self":
        return w.users[me].id not in subscribed
    if action.startswith("change_category"):
        return ticket.category_id == w.manuals
    if action == "claim":
        return ticket.assigned_id == w.users[me].id
    if action == "assign":
        return ticket.assigned_id == w.users["carol"].id
    if action == "subscribe":
        return w.users["frank"].id in subscribed
    if action == "reply":
        return replies == 2
    raise AssertionError(action)


@pytest.mark.parametrize(("action", "actor", "expected"), MATRIX)
def test_matrix(testapp, dbsession, world, action, actor, expected):
    configure(dbsession, **CONFIG_FOR.get(action, {}))
    app, me = client_for(actor, testapp)
    path, fields = REQUESTS[action](world, me)
    before = snapshot(dbsession)
    if fields is None:
        response = app.get(path, expect_errors=True)
    else:
        fields = dict(fields, csrf_token=csrf_for(app, world, me))
        response = app.post(path, fields, expect_errors=True)

    if expected == "login":
        assert_login_page(response)
        assert urlsplit(response.location).query.startswith("next=")
    elif expected == "403":
        assert response.status_int == 403, response.status
        assert "You are not allowed to do this." in response.text
    elif expected == "refused":
        assert response.status_int == 302, response.status
        assert urlsplit(response.location).path == f"/ticket_view/{world.ticket_id}/"
    else:
        assert response.status_int in (200, 302), response.status
        if fields is None:
            assert "Bob&#39;s reply." in response.text or "Bob's reply." in response.text
            assert snapshot(dbsession) == before
            return
        assert took_effect(action, dbsession, world, me), (action, actor)
        assert snapshot(dbsession) != before
        return
    assert snapshot(dbsession) == before, (action, actor)


def test_the_confirmation_pages_follow_the_same_rules(testapp, dbsession, world):
    """GET of a refused operation's page is refused too (it would only lead to a 403)."""
    login(testapp, "carol")
    tid, pid = world.ticket_id, world.post_id
    for path in (
        f"/edit_ticket/{tid}",
        f"/edit_post/{pid}/",
        f"/change_status/{tid}/Closed/",
        f"/release/{tid}/",
        f"/delete_ticket/{tid}/",
        f"/delete_post/{pid}/",
        f"/unsubscribe/{tid}/{world.users['erin'].id}",
        f"/ticket_department_category/{tid}/",
    ):
        testapp.get(path, status=403)
    for path in (f"/ticket_claim/{tid}/", f"/ticket_assign/{tid}/", f"/history/topic/{tid}/"):
        testapp.get(path, status=200)


@pytest.mark.parametrize("ticket_id", ["0", "999999", "abc", "-1", "9" * 30])
def test_unknown_ticket_ids_are_404_for_every_operation(testapp, dbsession, world, ticket_id):
    login(testapp, "admin")
    token = csrf_token_from(testapp.get(f"/ticket_view/{world.ticket_id}/"))
    before = snapshot(dbsession)
    for path in (
        f"/ticket_view/{ticket_id}/",
        f"/ticket_claim/{ticket_id}/",
        f"/release/{ticket_id}/",
        f"/ticket_assign/{ticket_id}/",
        f"/change_status/{ticket_id}/Closed/",
        f"/edit_ticket/{ticket_id}",
        f"/delete_ticket/{ticket_id}/",
        f"/ticket_subscribe/{ticket_id}/",
        f"/edit_post/{ticket_id}/",
        f"/delete_post/{ticket_id}/",
        f"/history/topic/{ticket_id}/",
        f"/history/post/{ticket_id}/",
    ):
        testapp.post(path, {"csrf_token": token, "password": PASSWORD}, status=404)
    assert snapshot(dbsession) == before


# -- what each role is shown ----------------------------------------------------------------------

#                     admin super alice bob carol
LINKS_TABLE = """
link                  admin  super  alice  bob  carol
edit_ticket           yes    no     yes    no   no
delete_ticket         yes    no     no     no   no
close                 yes    no     yes    yes  no
reply_and_close       yes    no     yes    yes  no
release               yes    no     no     yes  no
edit_reply            yes    no     no     yes  no
delete_reply          yes    no     no     no   no
unsubscribe_other     yes    yes    no     no   no
unsubscribe_self      yes    yes    yes    yes  yes
change_category       yes    yes    no     no   no
claim                 yes    yes    yes    no   yes
assign                yes    yes    yes    yes  yes
"""
LINKS = [(link, actor, shown == "yes") for link, actor, shown in parse_table(LINKS_TABLE)]


def find_link(page, link, w, me):
    tid, pid = w.ticket_id, w.post_id
    if link == "reply_and_close":
        return page.html.select_one('button[name="reply_close"]')
    href = {
        "edit_ticket": f"/edit_ticket/{tid}",
        "delete_ticket": f"/delete_ticket/{tid}/",
        "close": f"/change_status/{tid}/Closed/",
        "release": f"/release/{tid}/",
        "edit_reply": f"/edit_post/{pid}/",
        "delete_reply": f"/delete_post/{pid}/",
        "unsubscribe_other": f"/unsubscribe/{tid}/{w.users['erin'].id}",
        "unsubscribe_self": f"/unsubscribe/{tid}/{w.users[me].id}",
        "change_category": f"/ticket_department_category/{tid}/",
        "claim": f"/ticket_claim/{tid}/",
        "assign": f"/ticket_assign/{tid}/",
    }[link]
    return page.html.select_one(f'a[href="{href}"]')


@pytest.mark.parametrize(("link", "actor", "shown"), LINKS)
def test_buttons_are_shown_only_to_those_allowed(testapp, dbsession, world, link, actor, shown):
    configure(dbsession, change_category=True, change_category_only_admin_or_super_user=True)
    login(testapp, actor)
    page = testapp.get(f"/ticket_view/{world.ticket_id}/")
    element = find_link(page, link, world, actor)
    assert (element is not None) == shown, (link, actor)
    if shown and element.name == "a":
        testapp.get(element["href"], status=200)  # a button shown leads somewhere allowed


def test_carol_sees_no_privileged_buttons_and_admin_sees_them_all(testapp, dbsession, world):
    login(testapp, "carol")
    page = testapp.get(f"/ticket_view/{world.ticket_id}/")
    texts = {a.get_text(strip=True) for a in page.html.select("main a.btn, main button.btn")}
    assert not texts & {"Edit", "Delete", "Close", "Release", "Reply and close"}
    assert {"Claim", "Assign", "Quote", "Reply"} <= texts

    testapp.reset()
    login(testapp, "admin")
    page = testapp.get(f"/ticket_view/{world.ticket_id}/")
    texts = [a.get_text(strip=True) for a in page.html.select("main a.btn, main button.btn")]
    assert {"Edit", "Delete", "Close", "Release", "Reply and close"} <= set(texts)
    assert texts.count("Edit") == 2 and texts.count("Delete") == 2  # ticket and reply


def test_closed_ticket_shows_no_state_changing_buttons(testapp, dbsession, users):
    ticket = old_ticket(dbsession, users["alice"], status_name="Closed")
    make_post(dbsession, ticket, users["alice"], "Alice's own reply.")
    login(testapp, "alice")
    page = testapp.get(f"/ticket_view/{ticket.id}/")
    hrefs = {a["href"] for a in page.html.select("main a[href]")}
    for forbidden in (
        f"/edit_ticket/{ticket.id}",
        f"/change_status/{ticket.id}/Closed/",
        f"/ticket_claim/{ticket.id}/",
        f"/ticket_assign/{ticket.id}/",
    ):
        assert forbidden not in hrefs
    assert not any(href.startswith("/edit_post/") for href in hrefs)
    assert page.html.select_one('button[name="reply_close"]') is None


def test_disabled_user_with_an_old_session_is_logged_out(testapp, dbsession, world):
    """dave's session from before he was disabled does not let him act (ACL-8)."""
    dave = world.users["dave"]
    dave.disabled = False
    dbsession.flush()
    login(testapp, "dave")
    token = csrf_token_from(testapp.get(f"/ticket_view/{world.ticket_id}/"))
    dave.disabled = True
    dbsession.flush()
    before = snapshot(dbsession)
    response = testapp.post(
        f"/ticket_claim/{world.ticket_id}/", {"csrf_token": token}, expect_errors=True
    )
    # Refused either way: the session is over (login page), or its CSRF token went with it.
    assert response.status_int in (302, 400)
    if response.status_int == 302:
        assert_login_page(response)
    assert snapshot(dbsession) == before
    assert_login_page(testapp.get(f"/ticket_view/{world.ticket_id}/"))
