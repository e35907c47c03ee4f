"""Per-user business limits (SECURITY-TESTS VAL-3): tickets per hour, replies per minute,
attachments and attached MiB per day, subscribers per ticket. Past a limit the page or the
API answers 429 with ``Retry-After`` (the ticket page re-shows the form with the text kept),
nothing of the refused operation is stored, and the limit lifts when its window has passed.
"""

import pytest
import sqlalchemy as sa

from flicket.api.openapi import API
from flicket.tickets.models import Post, Subscription, Ticket, Upload
from tests.conftest import bearer, issue_api_token, login
from tests.factories import category, make_ticket
from tests.functional.test_ticket_operations import create_form, form_posting_to, snapshot


@pytest.fixture
def limits(registry, monkeypatch):
    """Set a limit low for one test: ``limits(tickets=2)``."""
    ratelimits = registry["ratelimits"]

    def _set(**values):
        for name, value in values.items():
            monkeypatch.setattr(ratelimits[name], "limit", value)

    return _set


def count(dbsession, model):
    dbsession.expire_all()
    return dbsession.scalar(sa.select(sa.func.count()).select_from(model))


def fill_create(app, title="Printer jammed", files=None):
    form = create_form(app)
    form["title"] = title
    form["content"] = "It jams on every page."
    if files:
        form["file"] = files
    return form


def reply_form(app, ticket, content="Still jammed, sorry."):
    path = f"/ticket_view/{ticket.id}/"
    form = form_posting_to(app.get(path), path)
    form["content"] = content
    return form


def test_tickets_per_hour_on_the_page(login_as, dbsession, limits, app_clock):
    limits(tickets=2)
    app = login_as("alice")
    for n in range(2):
        fill_create(app, f"Ticket {n}").submit(status=302)
    before = snapshot(dbsession)
    refused = fill_create(app, "One too many").submit(status=429)
    assert int(refused.headers["Retry-After"]) > 3500
    assert "many tickets in the last hour" in refused.text
    assert 'value="One too many"' in refused.text  # the person's text is kept
    assert snapshot(dbsession) == before
    app_clock.advance(3601)
    fill_create(app, "After an hour").submit(status=302)
    assert count(dbsession, Ticket) == 3


def test_the_limit_is_per_user(login_as, make_client, dbsession, limits):
    limits(tickets=1)
    app = login_as("alice")
    fill_create(app, "First").submit(status=302)
    fill_create(app, "Second").submit(status=429)
    bob = make_client()
    login(bob, "bob")
    fill_create(bob).submit(status=302)
    assert count(dbsession, Ticket) == 2


def test_tickets_per_hour_in_the_api(testapp, users, dbsession, limits):
    limits(tickets=1)
    token = issue_api_token(testapp, "alice")
    body = {
        "title": "From a script",
        "content": "Created through the API.",
        "category_id": category(dbsession).id,
        "ticket_priority_id": 1,
    }
    testapp.post_json(f"{API}/tickets", body, headers=bearer(token), status=201)
    body["title"] = "From a script, again"
    refused = testapp.post_json(f"{API}/tickets", body, headers=bearer(token), status=429)
    assert refused.json["error"] == "Too Many Requests"
    assert "many tickets in the last hour" in refused.json["message"]
    assert "${" not in refused.json["message"]
    assert int(refused.headers["Retry-After"]) > 0
    assert count(dbsession, Ticket) == 1


def test_replies_per_minute_page_and_api_together(
    login_as, testapp, users, dbsession, limits, app_clock
):
    limits(replies=2)
    ticket = make_ticket(dbsession, users["alice"])
    app = login_as("alice")
    reply_form(app, ticket).submit("reply", status=302)
    token = issue_api_token(testapp, "alice")
    replies = f"{API}/ticket/{ticket.id}/replies"
    testapp.post_json(replies, {"content": "From the API."}, headers=bearer(token), status=201)
    before = snapshot(dbsession)
    refused = reply_form(app, ticket, "The third reply.").submit("reply", status=429)
    assert "The third reply." in refused.text
    assert "Retry-After" in refused.headers
    testapp.post_json(replies, {"content": "Again."}, headers=bearer(token), status=429)
    assert snapshot(dbsession) == before
    app_clock.advance(61)
    reply_form(app, ticket).submit("reply", status=302)
    assert count(dbsession, Post) == 3


def test_attachments_per_day(login_as, dbsession, limits, registry):
    limits(uploads=2)
    app = login_as("alice")
    files = [("a.txt", b"one"), ("b.txt", b"two")]
    fill_create(app, "Two files", files).submit(status=302)
    before = snapshot(dbsession)
    stored = set(registry["upload_storage"].directory.iterdir())
    refused = fill_create(app, "A third file", [("c.txt", b"three")]).submit(status=429)
    assert "many files today" in refused.text
    assert snapshot(dbsession) == before
    assert set(registry["upload_storage"].directory.iterdir()) == stored
    assert count(dbsession, Upload) == 2


def test_attached_mebibytes_per_day(login_as, dbsession, limits):
    limits(upload_mib=2)
    app = login_as("alice")
    fill_create(app, "Small", [("a.txt", b"x" * 1000)]).submit(status=302)  # 1 MiB started
    big = [("b.txt", b"y" * (1024 * 1024 + 1))]  # 2 MiB started: 3 in all
    refused = fill_create(app, "Too much", big).submit(status=429)
    assert "a lot of data today" in refused.text
    assert count(dbsession, Ticket) == 1
    fill_create(app, "Still fits", [("c.txt", b"z")]).submit(status=302)


def test_a_refused_operation_costs_nothing(login_as, dbsession, limits):
    limits(tickets=5, uploads=1)
    app = login_as("alice")
    fill_create(app, "Two files", [("a.txt", b"1"), ("b.txt", b"2")]).submit(status=429)
    for n in range(5):  # the refused ticket did not count against the tickets limit
        fill_create(app, f"Ticket {n}").submit(status=302)


def test_subscribers_per_ticket(login_as, dbsession, users, registry, monkeypatch):
    monkeypatch.setitem(registry.settings, "flicket.limits.subscribers_per_ticket", 2)
    ticket = make_ticket(dbsession, users["alice"])  # alice subscribed
    app = login_as("alice")
    path = f"/ticket_subscribe/{ticket.id}/"

    def subscribe(username):
        form = form_posting_to(app.get(f"/ticket_view/{ticket.id}/"), path)
        form["username"] = username
        return form.submit().maybe_follow()

    subscribe("bob")
    page = subscribe("carol")
    assert "already has 2 subscribers" in page.text
    dbsession.expire_all()
    subscribed = set(
        dbsession.scalars(
            sa.select(Subscription.user_id).where(Subscription.ticket_id == ticket.id)
        )
    )
    assert subscribed == {users["alice"].id, users["bob"].id}
