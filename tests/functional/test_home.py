"""The home dashboard: totals, open high-priority tickets, per-department status charts."""

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from flicket.departments.models import Category, Department
from tests.conftest import assert_login_page
from tests.factories import make_post, make_ticket

STATUSES = ["Open", "Closed", "In Work", "Awaiting Information"]
SEEDED_DEPARTMENTS = ["Design", "Manufacturing", "IT", "Quality", "Human Resources", "Commercial"]


def totals(page):
    """{key: (number, link)} read from the totals cards."""
    found = {}
    for card in page.html.select("a.dashboard-total"):
        key = next(c for c in card["class"] if c.startswith("dashboard-total-"))
        key = key.removeprefix("dashboard-total-")
        found[key] = (int(card.select_one(".total-number").get_text()), card["href"])
    return found


def high_priority_rows(page):
    return page.html.select("table.high-priority-tickets tbody tr")


def charts(page):
    """{department name: {status: count, ..., "Total": n}} read from the legend tables."""
    found = {}
    for article in page.html.select("article.department-chart"):
        name = article.select_one("h3").get_text(strip=True)
        numbers = {}
        for row in article.select("table.chart-legend tr"):
            cells = row.select("th, td")
            if len(cells) == 2 and row.select_one("td"):
                numbers[cells[0].get_text(strip=True)] = int(cells[1].get_text(strip=True))
        found[name] = numbers
    return found


def query_of(href):
    parts = urlsplit(href)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


# -- access ---------------------------------------------------------------------------------


def test_anonymous_visitor_goes_to_login(testapp):
    assert_login_page(testapp.get("/"))


def test_page_renders_with_no_tickets(login_as):
    page = login_as("alice").get("/")
    assert "Welcome, Alice Example" in page.text
    assert page.html.select_one("h1").get_text(strip=True) == "Welcome, Alice Example"
    assert {key: number for key, (number, _) in totals(page).items()} == {
        "open": 0,
        "in-work": 0,
        "awaiting-information": 0,
        "unassigned-open": 0,
        "high-priority-open": 0,
    }
    assert high_priority_rows(page) == []
    assert "There are no open high priority tickets." in page.text
    assert charts(page) == {}
    assert "There are no tickets yet." in page.text


# -- totals ---------------------------------------------------------------------------------


def make_mix(dbsession, users):
    alice, bob = users["alice"], users["bob"]
    make_ticket(dbsession, alice, "open medium", status_name="Open")
    make_ticket(dbsession, alice, "open high", status_name="Open", priority_name="high")
    make_ticket(
        dbsession, bob, "in work high", status_name="In Work", priority_name="high", assigned=bob
    )
    make_ticket(
        dbsession,
        bob,
        "awaiting low",
        status_name="Awaiting Information",
        priority_name="low",
        department="Design",
        assigned=alice,
    )
    make_ticket(
        dbsession,
        alice,
        "closed high",
        status_name="Closed",
        priority_name="high",
        department="Design",
    )
    make_ticket(
        dbsession,
        alice,
        "in work low",
        status_name="In Work",
        priority_name="low",
        department="Quality",
        assigned=bob,
    )


def test_totals_count_the_open_work(login_as, dbsession, users):
    make_mix(dbsession, users)
    page = login_as("admin").get("/")
    numbers = {key: number for key, (number, _) in totals(page).items()}
    assert numbers == {
        "open": 5,  # everything but the Closed one
        "in-work": 2,
        "awaiting-information": 1,
        "unassigned-open": 2,  # the Closed unassigned one does not count
        "high-priority-open": 2,  # the Closed high one does not count
    }


def test_totals_link_to_the_matching_ticket_lists(login_as):
    page = login_as("admin").get("/")
    links = {key: query_of(href) for key, (_, href) in totals(page).items()}
    assert links["open"] == ("/tickets/", {})
    assert links["in-work"] == ("/tickets/", {"status": "In Work"})
    assert links["awaiting-information"] == ("/tickets/", {"status": "Awaiting Information"})
    assert links["unassigned-open"][0] == "/tickets/"
    assert links["high-priority-open"] == ("/tickets/", {"priority": "high"})


# -- high-priority list ---------------------------------------------------------------------


def test_high_priority_list_shows_only_open_high_tickets(login_as, dbsession, users):
    make_mix(dbsession, users)
    page = login_as("admin").get("/")
    titles = [row.select_one(".ticket-title").get_text() for row in high_priority_rows(page)]
    assert sorted(titles) == ["in work high", "open high"]
    assert "There are no open high priority tickets." not in page.text


def test_high_priority_list_is_newest_first_with_every_field(login_as, dbsession, users):
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    older = make_ticket(
        dbsession,
        alice,
        "Server room too hot",
        priority_name="high",
        department="IT",
        category_name="Internet",
        hours="1.25",
        when=datetime(2024, 5, 6, 9, 30),
    )
    make_post(dbsession, older, bob, hours="0.50")
    make_post(dbsession, older, carol, hours="2")
    newer = make_ticket(
        dbsession,
        carol,
        "VPN down",
        status_name="Awaiting Information",
        priority_name="high",
        department="Human Resources",
        category_name="Holidays",
        assigned=bob,
        when=datetime(2024, 6, 1, 8, 0),
    )
    page = login_as("alice").get("/")
    rows = high_priority_rows(page)
    assert [int(row["data-ticket-id"]) for row in rows] == [newer.id, older.id]

    row = rows[1]
    link = row.select_one("a")
    assert link.get_text(strip=True) == f"#{older.id:05d}"
    assert link["href"] == f"/ticket_view/{older.id}/"
    assert row.select_one(".ticket-title").get_text() == "Server room too hot"
    assert row.select_one(".ticket-replies").get_text() == "2"
    assert row.select_one(".ticket-hours").get_text() == "3.75"
    assert "high" in row.select_one(".priority-badge").get_text()
    assert row.select_one(".ticket-submitted-by").get_text() == "Alice Example"
    assert row.select_one(".ticket-date-added").get_text() == "May 6, 2024"  # English date format
    assert row.select_one(".ticket-department-category").get_text() == "IT / Internet"
    assert "Open" in row.select_one(".status-badge").get_text()
    assert row.select_one(".ticket-assigned").get_text() == "not assigned"

    row = rows[0]
    assert row.select_one(".ticket-replies").get_text() == "0"
    assert row.select_one(".ticket-hours").get_text() == "0.00"
    assert row.select_one(".ticket-department-category").get_text() == (
        "Human Resources / Holidays"
    )
    assert "Awaiting Information" in row.select_one(".status-badge").get_text()
    assert row.select_one(".ticket-assigned").get_text() == "Bob Example"


def test_no_high_priority_section_without_such_tickets(login_as, dbsession, users):
    make_ticket(
        dbsession, users["alice"], "closed high", status_name="Closed", priority_name="high"
    )
    make_ticket(dbsession, users["alice"], "open low", priority_name="low")
    page = login_as("alice").get("/")
    assert page.html.select_one("table.high-priority-tickets") is None
    assert "There are no open high priority tickets." in page.text


def test_high_priority_list_stops_at_20(login_as, dbsession, users):
    for n in range(21):
        make_ticket(
            dbsession,
            users["alice"],
            f"urgent {n}",
            priority_name="high",
            when=datetime(2024, 1, 1) + timedelta(minutes=n),
            subscribe=False,
        )
    page = login_as("alice").get("/")
    rows = high_priority_rows(page)
    assert len(rows) == 20
    assert rows[0].select_one(".ticket-title").get_text() == "urgent 20"
    assert rows[-1].select_one(".ticket-title").get_text() == "urgent 1"
    assert "The newest 20 are shown." in page.text
    count, link = totals(page)["high-priority-open"]
    assert count == 21
    assert page.html.select_one("#high-priority a")["href"] == link  # "See them all"


# -- department charts ----------------------------------------------------------------------


def test_only_departments_with_tickets_get_a_chart(login_as, dbsession, users):
    make_mix(dbsession, users)
    page = login_as("admin").get("/")
    assert sorted(charts(page)) == ["Design", "IT", "Quality"]
    assert "Manufacturing" not in page.text
    assert len(page.html.select("svg.status-chart")) == 3


def test_chart_numbers_match_the_counts(login_as, dbsession, users):
    make_mix(dbsession, users)
    make_ticket(dbsession, users["bob"], "closed in IT", status_name="Closed")
    page = login_as("admin").get("/")
    found = charts(page)
    assert found["IT"] == {
        "Open": 2,
        "Closed": 1,
        "In Work": 1,
        "Awaiting Information": 0,
        "Total": 4,
    }
    assert found["Design"] == {
        "Open": 0,
        "Closed": 1,
        "In Work": 0,
        "Awaiting Information": 1,
        "Total": 2,
    }
    # Every status in status-id order, zeros included.
    assert list(found["Quality"]) == [*STATUSES, "Total"]

    # The SVG has an accessible name that carries the same numbers.
    article = next(
        a
        for a in page.html.select("article.department-chart")
        if a.select_one("h3").get_text(strip=True) == "IT"
    )
    svg = article.select_one("svg.status-chart")
    assert svg["role"] == "img"
    title = article.find(id=svg["aria-labelledby"])
    assert title.name == "title"
    assert title.get_text() == (
        "IT: 4 tickets (Open 2, Closed 1, In Work 1, Awaiting Information 0)"
    )
    # One drawn segment per non-zero status, and each legend row links to its list.
    assert len(svg.select("rect.chart-segment")) == 3
    legend_link = article.select_one("table.chart-legend tbody a")
    assert query_of(legend_link["href"]) == ("/tickets/", {"department": "IT", "status": "Open"})


def test_chart_segments_share_one_scale(login_as, dbsession, users):
    for _ in range(4):
        make_ticket(dbsession, users["alice"], department="IT")
    make_ticket(dbsession, users["alice"], department="Design")
    page = login_as("admin").get("/")
    widths = {
        article.select_one("h3").get_text(strip=True): float(
            article.select_one("rect.chart-segment")["width"]
        )
        for article in page.html.select("article.department-chart")
    }
    assert widths == {"IT": 100.0, "Design": 25.0}


def test_department_names_are_escaped(login_as, dbsession, users):
    evil = "<script>alert(1)</script>"
    department = Department(department=evil)
    dbsession.add(department)
    dbsession.add(Category(category="<b>cat</b>", department=department))
    dbsession.flush()
    make_ticket(
        dbsession,
        users["alice"],
        "<img src=x onerror=alert(2)>",
        priority_name="high",
        department=evil,
        category_name="<b>cat</b>",
    )
    page = login_as("admin").get("/")
    assert "<script>alert" not in page.text
    assert "<b>cat</b>" not in page.text
    assert "<img src=x" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert evil in charts(page)
    row = high_priority_rows(page)[0]
    assert row.select_one(".ticket-department-category").get_text() == f"{evil} / <b>cat</b>"
    assert page.html.find("script", string=lambda s: s and "alert" in s) is None


# -- speed ----------------------------------------------------------------------------------


def home_queries(client, count_queries):
    with count_queries() as counter:
        client.get("/", status=200)
    return counter.count


def test_query_count_does_not_grow_with_tickets_or_departments(
    login_as, dbsession, users, count_queries
):
    client = login_as("admin")
    people = [users[name] for name in ("admin", "super", "alice", "bob", "carol")]

    make_ticket(dbsession, users["alice"], priority_name="high")
    make_ticket(dbsession, users["bob"], status_name="In Work", assigned=users["carol"])
    few = home_queries(client, count_queries)

    priorities = ["low", "medium", "high"]
    for n in range(40):
        ticket = make_ticket(
            dbsession,
            people[n % len(people)],
            f"ticket {n}",
            status_name=STATUSES[n % len(STATUSES)],
            priority_name=priorities[n % len(priorities)],
            department=SEEDED_DEPARTMENTS[n % len(SEEDED_DEPARTMENTS)],
            assigned=people[(n + 1) % len(people)] if n % 3 else None,
            hours="0.5",
        )
        for m in range(n % 3):
            make_post(dbsession, ticket, people[m], hours="1")
    many_page = client.get("/")
    assert len(charts(many_page)) == 6
    assert len(high_priority_rows(many_page)) > 5
    many = home_queries(client, count_queries)

    assert few == many
    # The statuses, the grouped counts and the high-priority list, plus the request's own
    # (session user and groups, configuration): a small fixed number.
    assert many == 6
