"""The tally of tickets per category, status and priority (migration 0006), which the home
dashboard reads instead of counting every ticket, stays equal to a count of the tickets
through every write: the API's create, claim, release, assign, status, priority and
category changes and close, the page's delete, and SQL written by hand (inserts, updates
of many rows, deletes), on every database. Migration 0006 counting the tickets already
there is tested in test_setup.py; the dashboard's numbers from it in test_home.py.
"""

import sqlalchemy as sa

from flicket.tickets.models import Ticket, TicketTally
from tests.api_helpers import configure, fresh
from tests.conftest import login
from tests.factories import category, make_ticket, priority, status
from tests.functional.test_ticket_operations import delete_ticket

pytest_plugins = ["tests.api_helpers"]

A = "/flicket-api"


def counted(dbsession):
    """{(category, status, priority): (tickets, assigned)} counted from the tickets."""
    key = [
        sa.func.coalesce(column, 0)
        for column in (Ticket.category_id, Ticket.status_id, Ticket.ticket_priority_id)
    ]
    rows = dbsession.execute(
        sa.select(*key, sa.func.count(), sa.func.count(Ticket.assigned_id)).group_by(*key)
    )
    return {(c, s, p): (int(n), int(a)) for c, s, p, n, a in rows}


def tallied(dbsession):
    rows = dbsession.execute(
        sa.select(
            TicketTally.category_id,
            TicketTally.status_id,
            TicketTally.ticket_priority_id,
            TicketTally.tickets,
            TicketTally.assigned,
        ).where(sa.or_(TicketTally.tickets != 0, TicketTally.assigned != 0))
    )
    return {(c, s, p): (n, a) for c, s, p, n, a in rows}


def assert_tally_right(dbsession):
    dbsession.flush()
    assert tallied(dbsession) == counted(dbsession)


def test_every_api_operation_keeps_the_tally(api_as, dbsession, users, make_client):
    assert_tally_right(dbsession)
    configure(dbsession, change_category=True, change_category_only_admin_or_super_user=True)
    other = category(dbsession, "Commercial", "Other")
    body = {
        "title": "Badge reader",
        "content": "It beeps but the door stays shut.",
        "category_id": category(dbsession, "IT", "Other").id,
        "ticket_priority_id": priority(dbsession, "low").id,
    }
    ticket_id = api_as("alice").post_json(f"{A}/tickets", body, status=201).json["id"]
    assert_tally_right(dbsession)
    assert tallied(dbsession)[
        (body["category_id"], status(dbsession, "Open").id, body["ticket_priority_id"])
    ] == (1, 0)

    url = f"{A}/ticket/{ticket_id}"
    steps = [
        ("post", "/claim", None),
        ("post", "/release", None),
        ("post", "/assign", {"username": "bob"}),
        ("patch", "", {"status_id": status(dbsession, "In Work").id}),
        ("patch", "", {"ticket_priority_id": priority(dbsession, "high").id}),
        ("patch", "", {"category_id": other.id}),
        ("post", "/close", None),
    ]
    for method, path, payload in steps:
        client = api_as("admin")
        if method == "patch":
            client.patch_json(url + path, payload, status=200)
        elif payload is None:
            client.post(url + path, status=200)
        else:
            client.post_json(url + path, payload, status=200)
        assert_tally_right(dbsession)
    closed = fresh(dbsession, Ticket, ticket_id)
    assert tallied(dbsession)[
        (other.id, status(dbsession, "Closed").id, priority(dbsession, "high").id)
    ] == (1, 0)
    assert closed.assigned_id is None

    # Deleting the ticket on its page takes it out of the tally.
    admin = make_client()
    login(admin, "admin")
    delete_ticket(admin, ticket_id)
    dbsession.expire_all()
    assert dbsession.get(Ticket, ticket_id) is None
    assert_tally_right(dbsession)


def test_sql_written_by_hand_keeps_the_tally(dbsession, users):
    for n in range(12):
        make_ticket(
            dbsession,
            users["alice"],
            f"Ticket {n}",
            status_name=("Open", "In Work", "Closed")[n % 3],
            priority_name=("low", "medium", "high")[n % 3],
            department=("IT", "Commercial")[n % 2],
            assigned=users["bob"] if n % 4 == 0 else None,
        )
    assert_tally_right(dbsession)
    conn = dbsession.connection()
    closed = status(dbsession, "Closed").id

    # Many rows at once: a status for some, an assignee for others, a column set to itself.
    conn.execute(sa.update(Ticket).where(Ticket.id % 2 == 0).values(status_id=closed))
    assert_tally_right(dbsession)
    conn.execute(sa.update(Ticket).where(Ticket.id % 3 == 0).values(assigned_id=users["carol"].id))
    assert_tally_right(dbsession)
    conn.execute(sa.update(Ticket).values(assigned_id=Ticket.assigned_id))
    assert_tally_right(dbsession)
    conn.execute(sa.update(Ticket).where(Ticket.id % 5 == 0).values(assigned_id=None))
    assert_tally_right(dbsession)

    # Missing values count under 0, and back.
    conn.execute(
        sa.update(Ticket).where(Ticket.id % 4 == 1).values(category_id=None, status_id=None)
    )
    assert_tally_right(dbsession)
    assert any(key[:2] == (0, 0) for key in tallied(dbsession))
    conn.execute(
        sa.update(Ticket)
        .where(Ticket.category_id.is_(None))
        .values(category_id=category(dbsession, "IT", "Other").id, status_id=closed)
    )
    assert_tally_right(dbsession)

    # An edit of other columns leaves it alone; inserts and deletes of many rows count.
    conn.execute(sa.update(Ticket).values(title="Renamed"))
    assert_tally_right(dbsession)
    conn.execute(
        sa.insert(Ticket).from_select(
            ["title", "content", "status_id", "category_id", "ticket_priority_id", "assigned_id"],
            sa.select(
                Ticket.title,
                Ticket.content,
                Ticket.status_id,
                Ticket.category_id,
                Ticket.ticket_priority_id,
                Ticket.assigned_id,
            ),
        )
    )
    assert_tally_right(dbsession)
    for model in ("flicket_ticket_subscription", "flicket_ticket_action"):
        conn.execute(sa.text(f"DELETE FROM {model}"))  # noqa: S608 - fixed table names
    conn.execute(sa.delete(Ticket).where(Ticket.id % 2 == 1))
    assert_tally_right(dbsession)
    conn.execute(sa.delete(Ticket))
    assert tallied(dbsession) == counted(dbsession) == {}
