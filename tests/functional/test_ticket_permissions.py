"""Who may do what to a ticket, as the ticket page shows it: which buttons each role is
shown, the confirmation pages, unknown ids and a disabled user's old session
(reference §2, "Intended / recommended" column; SECURITY-TESTS ACL-2, ACL-3, ACL-8).

Who may do what is written once, in ``tests/security/policy.py``; the role × action matrix
itself (pages and API, with the database checked after every cell) is
``tests/security/test_access_matrix.py``. The buttons shown here are derived from the same
table: a button is shown exactly when the policy says "ok" for that actor.
"""

import pytest

from tests.conftest import PASSWORD, assert_login_page, csrf_token_from, login
from tests.factories import make_post
from tests.functional.test_ticket_operations import configure, old_ticket, snapshot
from tests.security.policy import ACTORS, CAST, outcome
from tests.security.test_access_matrix import build_world


@pytest.fixture
def world(dbsession, users):
    """The world of the access matrix (alice's ticket assigned to bob, bob's reply...)."""
    return build_world(dbsession, users)


def confirmation_pages(w):
    """The GET page (form or confirmation) in front of each ticket operation."""
    tid, pid = w.ticket_id, w.post_id
    return {
        "edit_ticket": f"/edit_ticket/{tid}",
        "edit_reply": f"/edit_post/{pid}/",
        "close": f"/change_status/{tid}/Closed/",
        "release": f"/release/{tid}/",
        "delete_ticket": f"/delete_ticket/{tid}/",
        "delete_reply": f"/delete_post/{pid}/",
        "unsubscribe_other": f"/unsubscribe/{tid}/{w.users['erin'].id}",
        "change_category_admin": f"/ticket_department_category/{tid}/",
        "claim": f"/ticket_claim/{tid}/",
        "assign": f"/ticket_assign/{tid}/",
    }


@pytest.mark.parametrize("actor", ["super", "creator", "assignee", "other"])
def test_the_confirmation_pages_follow_the_same_rules(testapp, dbsession, world, actor):
    """GET of a refused operation's page is refused too (it would only lead to a 403); an
    allowed one's page opens. The expectation comes from the shared policy."""
    configure(dbsession, change_category=True, change_category_only_admin_or_super_user=True)
    login(testapp, CAST[actor])
    for action, path in confirmation_pages(world).items():
        expected = 403 if outcome(action, actor) == "deny" else 200
        testapp.get(path, status=expected)
    testapp.get(f"/history/topic/{world.ticket_id}/", status=200)


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

LINK_ACTIONS = {
    # the button: the policy's action it leads to (the site lets admins and super users
    # change the category, as CONFIG_FOR["change_category_admin"])
    "edit_ticket": "edit_ticket",
    "delete_ticket": "delete_ticket",
    "close": "close",
    "reply_and_close": "reply_and_close",
    "release": "release",
    "edit_reply": "edit_reply",
    "delete_reply": "delete_reply",
    "unsubscribe_other": "unsubscribe_other",
    "unsubscribe_self": "unsubscribe_self",
    "change_category": "change_category_admin",
    "claim": "claim",
    "assign": "assign",
}
LOGGED_IN = [actor for actor in ACTORS if actor not in ("anonymous", "disabled")]
LINKS = [
    (link, CAST[actor], outcome(action, actor) == "ok")
    for link, action in LINK_ACTIONS.items()
    for actor in LOGGED_IN
]


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
