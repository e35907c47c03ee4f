"""The reply count and total hours each ticket stores (migration 0004) stay right through
every write path: create, reply (page and API), edit a reply's hours, edit the ticket's
hours, delete a reply, delete the ticket; the lists show them.

flicket-populate and flicket-update-user-posts are tested in test_commands.py.
"""

from decimal import Decimal

import sqlalchemy as sa

from flicket.scripts import counters
from flicket.tickets.models import Post, Ticket
from tests.conftest import PASSWORD, issue_api_token, login
from tests.factories import make_ticket
from tests.functional.test_ticket_operations import delete_ticket, form_posting_to

A = "/flicket-api"


def stored(dbsession, ticket_id):
    dbsession.expire_all()
    ticket = dbsession.get(Ticket, ticket_id)
    return ticket.reply_count, Decimal(str(ticket.total_hours)).quantize(Decimal("0.01"))


def assert_all_right(dbsession):
    """No ticket's stored counters differ from its replies (the repair command's check)."""
    assert counters.ticket_differences(dbsession.connection()) == []


def browser(make_client, username):
    client = make_client()
    login(client, username)
    return client


def test_every_write_path_keeps_the_counters(testapp, dbsession, make_client, users):
    token = issue_api_token(testapp, "alice")
    api = {"Authorization": f"Bearer {token}"}
    category_id = dbsession.scalar(sa.text("SELECT MIN(id) FROM flicket_category"))

    created = testapp.post_json(
        f"{A}/tickets",
        {
            "title": "Projector broken",
            "content": "It does not switch on.",
            "category_id": category_id,
            "ticket_priority_id": 1,
            "hours": 0.5,
        },
        headers=api,
        status=201,
    ).json
    ticket_id = created["id"]
    assert stored(dbsession, ticket_id) == (0, Decimal("0.50"))

    for hours in (1.25, 0, 2):
        testapp.post_json(
            f"{A}/ticket/{ticket_id}/replies",
            {"content": "Looked at it.", "hours": hours},
            headers=api,
            status=201,
        )
    assert stored(dbsession, ticket_id) == (3, Decimal("3.75"))
    assert_all_right(dbsession)

    # A reply through the page, with hours.
    app = browser(make_client, "bob")
    path = f"/ticket_view/{ticket_id}/"
    form = form_posting_to(app.get(path), path)
    form["content"] = "Replaced the lamp."
    form["hours"] = "0.75"
    form.submit("reply", status=302)
    assert stored(dbsession, ticket_id) == (4, Decimal("4.50"))

    # Editing a reply's hours moves the total by the difference.
    post_id = dbsession.scalar(
        sa.select(sa.func.max(Post.id)).where(Post.ticket_id == ticket_id, Post.hours == 2)
    )
    edit = f"/edit_post/{post_id}/"
    alice = browser(make_client, "alice")
    form = form_posting_to(alice.get(edit), edit)
    form["hours"] = "0.5"
    form.submit(status=302)
    assert stored(dbsession, ticket_id) == (4, Decimal("3.00"))

    # Editing the ticket's own hours too.
    edit = f"/edit_ticket/{ticket_id}"
    form = form_posting_to(alice.get(edit), edit)
    form["hours"] = "2"
    form.submit(status=302)
    assert stored(dbsession, ticket_id) == (4, Decimal("4.50"))
    assert_all_right(dbsession)

    # Deleting a reply takes its hours away.
    admin = browser(make_client, "admin")
    delete = f"/delete_post/{post_id}/"
    form = form_posting_to(admin.get(delete), delete)
    form["password"] = PASSWORD
    form.submit(status=302)
    assert stored(dbsession, ticket_id) == (3, Decimal("4.00"))
    assert_all_right(dbsession)

    # The list shows the stored values.
    page = admin.get("/tickets/", {"content": "projector"})
    assert '<dd class="ticket-replies">3</dd>' in page.text
    assert '<dd class="ticket-hours">4.00</dd>' in page.text

    delete_ticket(admin, ticket_id)
    dbsession.expire_all()
    assert dbsession.get(Ticket, ticket_id) is None
    assert_all_right(dbsession)


def test_the_replies_sort_uses_the_stored_count(dbsession, login_as, users):
    few = make_ticket(dbsession, users["alice"], "Few replies")
    many = make_ticket(dbsession, users["alice"], "Many replies")
    many.reply_count = 5
    few.reply_count = 1
    dbsession.flush()
    page = login_as("alice").get("/tickets/", {"sort": "replies_desc"})
    assert page.text.index("Many replies") < page.text.index("Few replies")
