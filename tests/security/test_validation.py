"""HTTP parameter pollution (SECURITY-TESTS VAL-5) and the rule for repeated parameters:

* in a request body, a field that takes one value but comes twice — ``title=a&title=b`` in a
  form, ``{"content": "a", "content": "b"}`` in JSON — is refused with 400 and nothing is
  written; fields that take several values (check boxes, several files) may repeat;
* in a query string (list filters, sorting, paging, on pages and in the API) the last value
  wins, WebOb's rule, everywhere; a value the list does not know is then ignored (pages) or
  400 (API), as for a single value.
"""

import json

import pytest
import sqlalchemy as sa

from flicket.tickets.models import Ticket
from tests.api_helpers import assert_error
from tests.conftest import csrf_token_from
from tests.factories import category, make_ticket, priority, status
from tests.functional.test_ticket_operations import snapshot, ticket_fields

pytest_plugins = ["tests.api_helpers"]

A = "/flicket-api"


@pytest.fixture
def tickets(dbsession, users):
    open_ticket = make_ticket(dbsession, users["alice"], "Open one")
    closed = make_ticket(dbsession, users["bob"], "Closed one", status_name="Closed")
    return open_ticket, closed


# -- bodies: refused ------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["title", "content", "priority", "category", "hours"])
def test_a_repeated_field_in_the_create_form_is_400(login_as, dbsession, field):
    app = login_as("alice")
    fields = ticket_fields(dbsession, {"title": "Polluted ticket"})
    fields["csrf_token"] = csrf_token_from(app.get("/ticket_create/"))
    second = {
        "title": "Another title",
        "content": "Other content.",
        "priority": str(priority(dbsession, "high").id),
        "category": fields["category"],
        "hours": "5",
    }[field]
    before = snapshot(dbsession)
    app.post("/ticket_create/", [*fields.items(), (field, second)], status=400)
    assert snapshot(dbsession) == before
    # The control: the same fields once each create the ticket.
    app.post("/ticket_create/", list(fields.items()), status=302)
    dbsession.expire_all()
    assert dbsession.scalars(sa.select(Ticket.title)).all() == ["Polluted ticket"]


def test_a_repeated_field_in_a_reply_is_400(login_as, dbsession, tickets):
    ticket = tickets[0]
    app = login_as("alice")
    page = app.get(f"/ticket_view/{ticket.id}/")
    fields = {
        "csrf_token": csrf_token_from(page),
        "content": "First reply text.",
        "status": str(status(dbsession, "Open").id),
        "priority": str(priority(dbsession, "medium").id),
        "hours": "0",
    }
    before = snapshot(dbsession)
    app.post(
        f"/ticket_view/{ticket.id}/",
        [*fields.items(), ("status", str(status(dbsession, "In Work").id))],
        status=400,
    )
    assert snapshot(dbsession) == before
    # The control: the same fields once each post the reply.
    app.post(f"/ticket_view/{ticket.id}/", list(fields.items()), status=302)
    assert snapshot(dbsession) != before


def test_a_repeated_json_key_is_400(api_as, dbsession, tickets):
    before = snapshot(dbsession)
    raw = (
        b'{"title": "First title", "title": "Second title", "content": "Some content.", '
        + f'"category_id": {category(dbsession).id}, '.encode()
        + f'"ticket_priority_id": {priority(dbsession, "low").id}}}'.encode()
    )
    response = api_as("alice").request(
        f"{A}/tickets", "POST", body=raw, headers={"Content-Type": "application/json"}, status="*"
    )
    assert_error(response, 400)
    assert snapshot(dbsession) == before
    # The control: the same body without the duplicate is accepted.
    body = json.loads(raw)
    response = api_as("alice").post_json(f"{A}/tickets", body, status=201)
    assert response.json["title"] == "Second title"


# -- query strings: the last value wins -----------------------------------------------------------


def titles_on(page):
    return {a.get_text(strip=True) for a in page.html.select("a[href^='/ticket_view/']")}


def test_repeated_list_filters_on_pages_take_the_last_value(login_as, tickets):
    app = login_as("admin")
    open_last = app.get("/tickets/?status=Closed&status=Open")
    closed_last = app.get("/tickets/?status=Open&status=Closed")
    assert "Open one" in titles_on(open_last) and "Closed one" not in titles_on(open_last)
    assert "Closed one" in titles_on(closed_last) and "Open one" not in titles_on(closed_last)


def test_repeated_list_filters_in_the_api_take_the_last_value(api_as, tickets):
    client = api_as("admin")
    open_last = client.get(f"{A}/tickets/?status=Closed&status=Open").json["items"]
    closed_last = client.get(f"{A}/tickets/?status=Open&status=Closed").json["items"]
    assert [t["title"] for t in open_last] == ["Open one"]
    assert [t["title"] for t in closed_last] == ["Closed one"]


def test_repeated_paging_in_the_api_takes_the_last_value(api_as, tickets):
    client = api_as("admin")
    response = client.get(f"{A}/tickets/?per_page=100&per_page=1&page=9&page=2")
    assert response.json["_meta"]["page"] == 2
    assert len(response.json["items"]) == 1
    # The last value decides alone: a bad last value is a 400 even after a good one.
    assert_error(client.get(f"{A}/tickets/?per_page=1&per_page=0", status=400), 400, "per_page")
