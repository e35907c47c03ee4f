"""The ticket lists /tickets/, /my_tickets/ and /subscribed/: scope, filters, sorting, paging,
links that keep scope and filters, bad input, escaping and a fixed number of queries."""

import re
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from flicket.admin.models import Config
from flicket.tickets.lists import SORT_KEYS
from flicket.tickets.models import Subscription
from tests import factories as f

TICKET_ID_RE = re.compile(r'id="ticket-(\d+)-title"')
LISTS = ("/tickets/", "/my_tickets/", "/subscribed/")
DAY0 = datetime(2024, 3, 1, 9, 0, 0)


def listed(response):
    """Ticket ids in the order the page shows them."""
    assert response.status_int == 200
    return [int(n) for n in TICKET_ID_RE.findall(response.text)]


def hrefs(response, css):
    return [a["href"] for a in response.html.select(css)]


def query_of(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def sort_cookies(response):
    return [c for c in response.headers.getall("Set-Cookie") if c.startswith("tickets_sort=")]


def set_config(dbsession, **values):
    config = dbsession.scalars(sa.select(Config).order_by(Config.id).limit(1)).one()
    for name, value in values.items():
        setattr(config, name, value)
    dbsession.flush()


def subscribe(dbsession, ticket, user):
    dbsession.add(Subscription(ticket_id=ticket.id, user_id=user.id))
    dbsession.flush()


# -- scope ----------------------------------------------------------------------------------


@pytest.fixture
def scoped(dbsession, users):
    """Tickets seen from alice: created, assigned, subscribed only, unrelated."""
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    created = f.make_ticket(dbsession, alice, "Created by alice")
    assigned = f.make_ticket(dbsession, bob, "Assigned to alice", assigned=alice)
    watched = f.make_ticket(dbsession, carol, "Watched by alice")
    subscribe(dbsession, watched, alice)
    other = f.make_ticket(dbsession, carol, "Nothing to do with alice", assigned=bob)
    return {"created": created, "assigned": assigned, "watched": watched, "other": other}


def test_all_tickets_lists_every_open_ticket(login_as, scoped):
    page = login_as("alice").get("/tickets/")
    assert sorted(listed(page)) == sorted(t.id for t in scoped.values())
    assert "<title>Tickets · Flicket</title>" in page.text


def test_my_tickets_lists_created_or_assigned(login_as, scoped):
    page = login_as("alice").get("/my_tickets/")
    assert sorted(listed(page)) == sorted([scoped["created"].id, scoped["assigned"].id])
    assert '<h1 class="h3 mb-0">My Tickets</h1>' in page.text


def test_my_tickets_created_and_assigned_filters(login_as, users, scoped):
    app = login_as("alice")
    alice_id = users["alice"].id
    created = app.get(f"/my_tickets/?created_id={alice_id}")
    assert listed(created) == [scoped["created"].id]
    assigned = app.get(f"/my_tickets/?assigned_id={alice_id}")
    assert listed(assigned) == [scoped["assigned"].id]


def test_subscribed_lists_subscriptions_once(dbsession, login_as, users, scoped):
    # The subscription table has no unique constraint: a duplicate must not list twice.
    subscribe(dbsession, scoped["watched"], users["alice"])
    page = login_as("alice").get("/subscribed/")
    # make_ticket subscribes the creator: alice's own ticket is there too.
    assert sorted(listed(page)) == sorted([scoped["created"].id, scoped["watched"].id])
    assert "Subscribed Tickets</h1>" in page.text


def test_lists_need_login(testapp):
    for url in (*LISTS, "/tickets/2/", "/tickets_csv/"):
        response = testapp.get(url, status=302)
        assert urlsplit(response.location).path == "/login"


# -- filters --------------------------------------------------------------------------------


def test_closed_hidden_by_default_and_shown_with_status_closed(dbsession, login_as, users):
    open_ticket = f.make_ticket(dbsession, users["alice"], "Still open")
    closed = f.make_ticket(dbsession, users["alice"], "All done", status_name="Closed")
    app = login_as("alice")
    for url in LISTS:
        assert listed(app.get(url)) == [open_ticket.id]
        assert listed(app.get(url + "?status=Closed")) == [closed.id]
    page = app.get("/tickets/?status=Closed")
    assert "ticket-closed" in page.text
    assert '<option value="Closed" selected>' in page.text


def test_status_filter_is_by_name(dbsession, login_as, users):
    opened = f.make_ticket(dbsession, users["alice"], "Open one")
    in_work = f.make_ticket(dbsession, users["alice"], "Busy one", status_name="In Work")
    app = login_as("alice")
    assert listed(app.get("/tickets/?status=In+Work")) == [in_work.id]
    assert listed(app.get("/tickets/?status=Open")) == [opened.id]
    status_id = f.status(dbsession, "In Work").id
    # An id is not a name: it matches nothing.
    assert listed(app.get(f"/tickets/?status={status_id}")) == []


def test_priority_and_unassigned_filters(dbsession, login_as, users):
    alice, bob = users["alice"], users["bob"]
    high_free = f.make_ticket(dbsession, alice, "High, nobody", priority_name="high")
    high_taken = f.make_ticket(dbsession, alice, "High, bob", priority_name="high", assigned=bob)
    low_free = f.make_ticket(dbsession, alice, "Low, nobody", priority_name="low")
    app = login_as("alice")
    assert sorted(listed(app.get("/tickets/?priority=high"))) == [high_free.id, high_taken.id]
    assert sorted(listed(app.get("/tickets/?unassigned=1"))) == [high_free.id, low_free.id]
    page = app.get("/tickets/?priority=high&unassigned=1")
    assert listed(page) == [high_free.id]
    # The filters are kept in the list's links (CSV export here).
    csv_link = next(h for h in hrefs(page, "a") if h.startswith("/tickets_csv/"))
    assert {"priority": "high", "unassigned": "1"}.items() <= query_of(csv_link).items()
    assert listed(app.get("/tickets/?priority=urgent")) == []


def test_department_and_category_filters(dbsession, login_as, users):
    alice = users["alice"]
    it_other = f.make_ticket(dbsession, alice, "IT other")
    it_net = f.make_ticket(dbsession, alice, "IT internet", category_name="Internet")
    design_other = f.make_ticket(dbsession, alice, "Design other", department="Design")
    app = login_as("alice")
    assert sorted(listed(app.get("/tickets/?department=IT"))) == [it_other.id, it_net.id]
    # A category name is matched in every department.
    assert sorted(listed(app.get("/tickets/?category=Other"))) == [it_other.id, design_other.id]
    assert listed(app.get("/tickets/?department=Design&category=Other")) == [design_other.id]
    assert listed(app.get("/tickets/?department=IT&category=Tooling")) == []


def test_user_filter_matches_creator_or_assignee(dbsession, login_as, users):
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    by_bob = f.make_ticket(dbsession, bob, "Raised by bob")
    for_bob = f.make_ticket(dbsession, alice, "Assigned to bob", assigned=bob)
    f.make_ticket(dbsession, carol, "Not bob")
    app = login_as("alice")
    expected = sorted([by_bob.id, for_bob.id])
    assert sorted(listed(app.get(f"/tickets/?user_id={bob.id}"))) == expected
    # The search form's username field resolves to the same filter, case-insensitively.
    page = app.get("/tickets/?username=BOB")
    assert sorted(listed(page)) == expected
    assert 'name="username" value="BOB"' in page.text


def test_unknown_username_says_so(dbsession, login_as, users):
    f.make_ticket(dbsession, users["alice"], "Something")
    page = login_as("alice").get("/tickets/?username=nobody-here")
    assert listed(page) == []
    assert "There is no user with the username “nobody-here”." in page.text
    assert "No tickets match." in page.text


def test_user_id_filter_prefills_the_username(dbsession, login_as, users):
    f.make_ticket(dbsession, users["bob"], "Bob's")
    page = login_as("alice").get(f"/tickets/?user_id={users['bob'].id}")
    assert 'name="username" value="bob"' in page.text


@pytest.fixture
def texts(dbsession, users):
    alice, bob = users["alice"], users["bob"]
    in_title = f.make_ticket(dbsession, alice, "Broken KEYBOARD", "Nothing else to say here.")
    in_content = f.make_ticket(dbsession, alice, "Desk", "The keyboard under my desk is sticky.")
    in_reply = f.make_ticket(dbsession, alice, "Mouse", "My mouse is slow.")
    f.make_post(dbsession, in_reply, bob, "Also check the Keyboard cable.")
    nowhere = f.make_ticket(dbsession, alice, "Monitor", "Flickers.")
    f.make_post(dbsession, nowhere, bob, "Try another cable.")
    return {"title": in_title, "content": in_content, "reply": in_reply, "none": nowhere}


def test_content_search_over_title_content_and_replies(login_as, texts):
    app = login_as("alice")
    expected = sorted(texts[k].id for k in ("title", "content", "reply"))
    assert sorted(listed(app.get("/tickets/?content=keyboard"))) == expected
    assert sorted(listed(app.get("/tickets/?content=KeyBoard"))) == expected
    assert listed(app.get("/tickets/?content=another+cable")) == [texts["none"].id]


def test_content_search_gives_wildcards_and_punctuation_no_power(dbsession, login_as, users):
    """Words are runs of letters and digits: ``%``, ``_``, quotes and slashes only part
    them (the full rules, on committed data and the three databases: test_search.py)."""
    percent = f.make_ticket(dbsession, users["alice"], "Disk 100% full")
    f.make_ticket(dbsession, users["alice"], "Path a_b broken")
    quoted = f.make_ticket(dbsession, users["alice"], 'Bob\'s "quoted" issue')
    thousand = f.make_ticket(dbsession, users["alice"], "Disk 1000 full, path axb")
    app = login_as("alice")
    # "100" is the start of "1000" too.
    assert sorted(listed(app.get("/tickets/", {"content": "100%"}))) == [percent.id, thousand.id]
    for nothing in ("%", "_", "/", "\\", "%%", '""'):
        assert listed(app.get("/tickets/", {"content": nothing})) == [], nothing
    assert listed(app.get("/tickets/", {"content": 's "quoted"'})) == [quoted.id]
    assert listed(app.get("/tickets/", {"content": "Bob's"})) == [quoted.id]


def test_filters_combine(dbsession, login_as, users):
    alice, bob = users["alice"], users["bob"]
    match = f.make_ticket(dbsession, alice, "VPN down", assigned=bob, status_name="In Work")
    f.make_ticket(dbsession, alice, "VPN slow", assigned=bob)
    f.make_ticket(dbsession, alice, "VPN gone", status_name="In Work", department="Design")
    app = login_as("alice")
    page = app.get(
        "/my_tickets/",
        {"status": "In Work", "department": "IT", "content": "vpn", "assigned_id": bob.id},
    )
    assert listed(page) == [match.id]


# -- sorting --------------------------------------------------------------------------------


@pytest.fixture
def sortable(dbsession, users):
    """Four tickets whose every sort key differs, with ties to check the tie-break."""
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    t1 = f.make_ticket(
        dbsession,
        bob,
        "Delta",
        priority_name="high",
        category_name="Internet",
        assigned=carol,
        hours="1",
        when=DAY0 + timedelta(days=3),
    )
    t2 = f.make_ticket(
        dbsession,
        carol,
        "Alpha",
        priority_name="low",
        department="Design",
        category_name="ECN",
        status_name="In Work",
        when=DAY0 + timedelta(days=1),
    )
    t3 = f.make_ticket(
        dbsession,
        alice,
        "Charlie",
        priority_name="medium",
        department="Manufacturing",
        category_name="Tooling",
        status_name="Awaiting Information",
        assigned=bob,
        hours="5",
        when=DAY0 + timedelta(days=2),
    )
    t4 = f.make_ticket(
        dbsession,
        alice,
        "Bravo",
        priority_name="high",
        category_name="Intranet",
        assigned=alice,
        hours="0.25",
        when=DAY0,
    )
    for ticket, replies in ((t1, ["0.5", "0.5"]), (t3, ["0"]), (t4, ["0", "0", "0.5"])):
        for hours in replies:
            f.make_post(dbsession, ticket, users["admin"], hours=hours)
    # last_updated in yet another order than date_added.
    for ticket, days in ((t1, 1), (t2, 9), (t3, 5), (t4, 7)):
        ticket.last_updated = DAY0 + timedelta(days=days)
    dbsession.flush()
    return [t1, t2, t3, t4]


def sort_value(key, ticket):
    """What each sort key orders by (reference §3.4); NULL is the lowest value."""

    def name(user):
        return (0, "") if user is None else (1, user.name)

    replies = len(ticket.posts)
    hours = (ticket.hours or 0) + sum((p.hours or 0) for p in ticket.posts)
    department = ticket.category.department.department
    return {
        "priority": ticket.ticket_priority_id,
        "title": ticket.title,
        "ticketid": ticket.id,
        "addedby": name(ticket.user),
        "addedon": ticket.date_added,
        "last_updated": ticket.last_updated,
        "replies": replies,
        "department_category": (department, ticket.category.category),
        "status": ticket.status_id,
        "assigned": name(ticket.assigned),
        "time": Decimal(hours),
    }[key]


def expected_order(tickets, sort):
    descending = sort.endswith("_desc")
    key = sort.removesuffix("_desc")
    by_id = sorted(tickets, key=lambda t: t.id)
    # Python's sort is stable (also reversed): ties stay in ascending id order.
    ordered = sorted(by_id, key=lambda t: sort_value(key, t), reverse=descending)
    return [t.id for t in ordered]


@pytest.mark.parametrize("sort", SORT_KEYS)
def test_every_sort_key(dbsession, login_as, sortable, sort):
    for ticket in sortable:
        dbsession.refresh(ticket)
    expected = expected_order(sortable, sort)
    page = login_as("alice").get("/tickets/", {"sort": sort})
    shown = listed(page)
    assert shown == expected
    assert shown[0] == expected[0] and shown[-1] == expected[-1]


def test_sorts_really_differ(dbsession, sortable):
    # Guards the data above: most sorts must give an order of their own.
    for ticket in sortable:
        dbsession.refresh(ticket)
    orders = {tuple(expected_order(sortable, key)) for key in SORT_KEYS}
    assert len(orders) >= 15


def test_ties_break_by_ticket_id(dbsession, login_as, users):
    alice = users["alice"]
    same = [f.make_ticket(dbsession, alice, "Same title", when=DAY0) for _ in range(3)]
    ids = [t.id for t in same]
    app = login_as("alice")
    for sort in ("title", "title_desc", "priority_desc", "addedon_desc", "replies", "time_desc"):
        assert listed(app.get("/tickets/", {"sort": sort})) == ids, sort
    assert listed(app.get("/tickets/", {"sort": "ticketid_desc"})) == ids[::-1]


def test_default_sort_is_priority_descending(dbsession, login_as, users):
    low = f.make_ticket(dbsession, users["alice"], "Low", priority_name="low")
    high = f.make_ticket(dbsession, users["alice"], "High", priority_name="high")
    medium = f.make_ticket(dbsession, users["alice"], "Medium", priority_name="medium")
    page = login_as("alice").get("/tickets/")
    assert listed(page) == [high.id, medium.id, low.id]
    assert "Sort: Priority (high first)" in page.text


def test_sort_is_remembered_and_the_list_kept(dbsession, login_as, users, scoped):
    app = login_as("alice")
    response = app.get("/my_tickets/?sort=title")
    assert response.status_int == 200  # no redirect to /tickets/
    (cookie,) = sort_cookies(response)
    assert cookie.startswith("tickets_sort=title;")
    assert "Max-Age=2419200" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    expected = [scoped["assigned"].id, scoped["created"].id]  # "Assigned…" < "Created…"
    assert listed(response) == expected
    again = app.get("/my_tickets/")
    assert listed(again) == expected
    assert "Sort: Title (A to Z)" in again.text
    assert "My Tickets</h1>" in again.text
    desc = app.get("/my_tickets/?sort=title_desc")
    assert listed(desc) == expected[::-1]
    assert listed(app.get("/my_tickets/")) == expected[::-1]


def test_unknown_sort_falls_back(dbsession, login_as, users):
    low = f.make_ticket(dbsession, users["alice"], "Low", priority_name="low")
    high = f.make_ticket(dbsession, users["alice"], "High", priority_name="high")
    app = login_as("alice")
    response = app.get("/tickets/?sort=evil')--")
    assert listed(response) == [high.id, low.id]
    assert sort_cookies(response) == []
    app.set_cookie("tickets_sort", "1;DROP")
    assert listed(app.get("/tickets/")) == [high.id, low.id]


# -- paging ---------------------------------------------------------------------------------


def test_pages_in_the_path(dbsession, login_as, users):
    set_config(dbsession, posts_per_page=2)
    tickets = [
        f.make_ticket(dbsession, users["alice"], f"Ticket {n}", when=DAY0 + timedelta(hours=n))
        for n in range(5)
    ]
    ids = [t.id for t in tickets]
    app = login_as("alice")
    assert listed(app.get("/tickets/?sort=ticketid")) == ids[:2]
    assert listed(app.get("/tickets/2/?sort=ticketid")) == ids[2:4]
    assert listed(app.get("/tickets/3/?sort=ticketid")) == ids[4:]
    # Past the end: the last page; page 0 is page 1.
    assert listed(app.get("/tickets/99999/?sort=ticketid")) == ids[4:]
    assert listed(app.get("/tickets/0/?sort=ticketid")) == ids[:2]
    assert listed(app.get("/tickets/99999999999999999999/?sort=ticketid")) == ids[:2]
    assert listed(app.get("/my_tickets/2/?sort=ticketid")) == ids[2:4]
    assert listed(app.get("/subscribed/3/?sort=ticketid")) == ids[4:]
    page = app.get("/tickets/2/?sort=ticketid")
    assert "5 tickets, page 2 of 3" in page.text


@pytest.mark.parametrize("url", LISTS)
def test_links_keep_scope_and_filters(dbsession, login_as, users, url):
    set_config(dbsession, posts_per_page=2)
    alice, bob = users["alice"], users["bob"]
    for n in range(5):
        ticket = f.make_ticket(dbsession, alice, f"Printer {n}", assigned=bob)
        subscribe(dbsession, ticket, bob)
    filters = {
        "status": "Open",
        "department": "IT",
        "content": "printer",
        "assigned_id": str(bob.id),
    }
    app = login_as("alice")
    page = app.get(url + "2/", {**filters, "sort": "title"})
    assert len(listed(page)) == 2
    name = url.strip("/")

    pages = hrefs(page, "nav[aria-label='Ticket pages'] a")
    assert len(pages) >= 3
    sorts = hrefs(page, "a.sort-link")
    assert len(sorts) == len(SORT_KEYS)
    for link in pages + sorts:
        assert urlsplit(link).path.startswith(url), link
        assert query_of(link).items() >= filters.items(), link
    assert {query_of(link)["sort"] for link in sorts} == set(SORT_KEYS)
    assert all(query_of(link)["sort"] == "title" for link in pages)
    assert url + "3/" in {urlsplit(link).path for link in pages}

    form = page.html.select_one("form[role=search]")
    assert form["action"] == url and form["method"] == "get"
    assert {i["name"]: i["value"] for i in form.select("input[type=hidden]")} == {
        "assigned_id": str(bob.id),
        "sort": "title",
    }
    assert hrefs(page, "a.reset-link") == [url]
    (csv_link,) = hrefs(page, "a.csv-link")
    assert urlsplit(csv_link).path == "/tickets_csv/"
    scope = {"tickets": "all", "my_tickets": "mine", "subscribed": "subscribed"}[name]
    assert query_of(csv_link) == {"scope": scope, **filters, "sort": "title"}

    # Submitting the search form stays on the list too.
    form_page = app.get(url)
    search = next(form for form in form_page.forms.values() if form.method.lower() == "get")
    assert search.action == url
    search["content"] = "Printer 3"
    result = search.submit()
    assert urlsplit(result.request.url).path == url
    assert len(listed(result)) == 1


def test_empty_state(login_as):
    page = login_as("alice").get("/tickets/?content=nothing+like+this")
    assert "No tickets match." in page.text
    assert hrefs(page, ".ticket-empty a.reset-link") == ["/tickets/"]


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"status": "nonsense"},
        {"department": "x" * 300},
        {"category": "'; DROP TABLE flicket_topic; --"},
        {"user_id": "abc"},
        {"user_id": "-1"},
        {"user_id": "99999999999999999999999"},
        {"assigned_id": "1e9"},
        {"created_id": "４２"},
        {"sort": "evil"},
        {"content": "%_'\"\\"},
        {"content": "x" * 10240},
        {"content": "nul\x00byte"},
        {"username": "a" * 500},
        {"page": "abc"},
    ],
)
@pytest.mark.parametrize("url", LISTS)
def test_bad_parameters_never_fail(dbsession, login_as, users, url, query):
    f.make_ticket(dbsession, users["alice"], "A ticket")
    response = login_as("alice").get(url, query)
    assert response.status_int == 200
    assert "<h1" in response.text


def test_non_numeric_ids_are_ignored_with_a_notice(dbsession, login_as, users):
    ticket = f.make_ticket(dbsession, users["alice"], "Visible")
    app = login_as("alice")
    page = app.get("/tickets/?user_id=abc")
    assert listed(page) == [ticket.id]
    assert "The user filter “abc” is not a user number, so it was ignored." in page.text
    # Far too large for an id: matches nobody.
    assert listed(app.get("/tickets/?user_id=99999999999999999999")) == []
    assert listed(app.get("/tickets/?assigned_id=2147483648")) == []


def test_huge_page_numbers(dbsession, login_as, users):
    ticket = f.make_ticket(dbsession, users["alice"], "Only one")
    app = login_as("alice")
    assert listed(app.get("/tickets/99999/")) == [ticket.id]
    assert listed(app.get("/subscribed/", {"page": "99999"})) == [ticket.id]


def test_html_is_escaped(dbsession, login_as, users):
    users["bob"].name = "<b>Bob</b> & co"
    dbsession.flush()
    f.make_ticket(dbsession, users["bob"], "<script>alert(1)</script>", assigned=users["bob"])
    page = login_as("alice").get("/tickets/?content=<script>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;b&gt;Bob&lt;/b&gt; &amp; co" in page.text
    assert 'value="&lt;script&gt;"' in page.text


# -- the card -------------------------------------------------------------------------------


def test_card_shows_the_ticket(dbsession, login_as, users):
    ticket = f.make_ticket(
        dbsession,
        users["bob"],
        "Projector",
        priority_name="high",
        category_name="Intranet",
        hours="1.5",
        when=datetime(2024, 1, 2, 3, 4, 5),
        assigned=users["admin"],
    )
    f.make_post(dbsession, ticket, users["carol"], hours="0.25")
    f.make_post(dbsession, ticket, users["carol"])
    ticket.last_updated = datetime(2024, 2, 3, 4, 5, 6)
    unassigned = f.make_ticket(dbsession, users["bob"], "Nobody's", priority_name="low")
    dbsession.flush()
    page = login_as("alice").get("/tickets/")
    card = page.html.select_one(f"article[aria-labelledby='ticket-{ticket.id}-title']")
    text = " ".join(card.get_text(" ").split())
    assert card.select_one("a")["href"] == f"/ticket_view/{ticket.id}/"
    assert f"#{ticket.id:05d}" in text
    assert "Projector" in text
    assert card.select_one(".ticket-replies").get_text(strip=True) == "2"
    assert card.select_one(".ticket-hours").get_text(strip=True) == "1.75"
    assert card.select_one(".priority-badge.priority-high")
    assert "Submitted by Bob Example" in text
    # The role in colour, and in an icon with a spoken word.
    admin_name = card.select_one(".role-admin")
    assert admin_name.get_text() == "Admin Example (admin)"
    assert admin_name.select_one(".role-mark")["title"] == "admin"
    assert "Created Jan 2, 2024" in text  # the English date format (flicket.i18n.format_date)
    assert "Updated Feb 3, 2024" in text
    assert card.select_one("time[title]")["title"] == "Date of the last reply, action or edit"
    assert "IT / Intranet" in text
    assert card.select_one(".status-badge.status-open")
    assert "ticket-closed" not in card["class"]
    other = page.html.select_one(f"article[aria-labelledby='ticket-{unassigned.id}-title']")
    assert "Assigned not assigned" in " ".join(other.get_text(" ").split())
    assert other.select_one(".ticket-hours").get_text(strip=True) == "0.00"


def test_closed_card_is_greyed(dbsession, login_as, users):
    ticket = f.make_ticket(dbsession, users["bob"], "Done", status_name="Closed")
    page = login_as("alice").get("/tickets/?status=Closed")
    card = page.html.select_one(f"article[aria-labelledby='ticket-{ticket.id}-title']")
    assert "ticket-closed" in card["class"]


def test_search_form_choices(dbsession, login_as, users):
    page = login_as("alice").get("/tickets/?department=IT&category=Other&status=Closed")
    form = page.html.select_one("form[role=search]")
    statuses = [o["value"] for o in form.select("#filter-status option")]
    assert statuses[0] == "" and {"Open", "Closed", "In Work"} <= set(statuses)
    department = form.select_one("#filter-department option[selected]")
    assert department.get_text() == "IT"
    category = form.select_one("#filter-category")
    assert category["data-category-for"] == "filter-department"
    (chosen,) = category.select("option[selected]")
    assert chosen["value"] == "Other"
    assert chosen["data-department"] == department["data-department-id"]
    options = category.select("option[data-department]")
    assert len({o["data-department"] for o in options}) >= 3
    assert "/flicket/static/js/category-select.js" in page.text


def test_category_select_script_is_served(testapp):
    script = testapp.get("/flicket/static/js/category-select.js")
    assert "data-category-for" in script.text
    assert "data-department" in script.text


# -- a fixed number of queries --------------------------------------------------------------


def make_many(dbsession, users, count, start=0):
    """Tickets with varied creators, assignees, replies and subscriptions for alice."""
    people = [users["alice"], users["bob"], users["carol"], users["admin"], users["super"]]
    for n in range(start, start + count):
        creator = people[n % len(people)]
        assignee = (None, users["alice"], people[(n + 2) % len(people)])[n % 3]
        ticket = f.make_ticket(
            dbsession,
            creator,
            f"Ticket {n}",
            assigned=assignee,
            hours="0.5",
            priority_name=("low", "medium", "high")[n % 3],
            category_name=("Other", "Internet", "Intranet")[n % 3],
        )
        for _ in range(n % 4):
            f.make_post(dbsession, ticket, people[(n + 1) % len(people)], hours="0.25")
        if creator is not users["alice"]:
            subscribe(dbsession, ticket, users["alice"])


def queries_for(app, count_queries, url):
    with count_queries() as counter:
        response = app.get(url)
    assert response.status_int == 200
    return counter.count, len(listed(response))


@pytest.mark.parametrize("url", [*LISTS, "/tickets/?content=ticket&sort=time_desc"])
def test_query_count_does_not_grow_with_the_tickets(
    dbsession, login_as, users, count_queries, url
):
    set_config(dbsession, posts_per_page=50)
    app = login_as("alice")
    make_many(dbsession, users, 3)
    app.get(url)  # warm-up
    few, shown_few = queries_for(app, count_queries, url)
    make_many(dbsession, users, 27, start=3)
    many, shown_many = queries_for(app, count_queries, url)
    assert shown_few <= 3 < shown_many
    assert few == many


@pytest.mark.parametrize("url", LISTS)
def test_query_count_does_not_grow_with_the_page_size(
    dbsession, login_as, users, count_queries, url
):
    make_many(dbsession, users, 30)
    app = login_as("alice")
    set_config(dbsession, posts_per_page=10)
    app.get(url)
    small, shown_small = queries_for(app, count_queries, url)
    set_config(dbsession, posts_per_page=50)
    large, shown_large = queries_for(app, count_queries, url)
    assert shown_small == 10 < shown_large
    assert small == large


def test_list_page_query_budget(dbsession, login_as, users, count_queries):
    """The measured budget: user + groups, config, the rows with their count, the names'
    groups, categories and statuses for the search form (8 before the count joined the
    page's statement)."""
    make_many(dbsession, users, 12)
    app = login_as("alice")
    for url in LISTS:
        count, shown = queries_for(app, count_queries, url)
        assert shown > 0
        assert count == 7, url


@pytest.mark.parametrize("sort", ["replies_desc", "time", "addedby_desc", "assigned", "title"])
def test_pages_follow_the_sort(dbsession, login_as, users, sortable, sort):
    """Each page is cut from the one sorted list (the page is chosen before its
    reply counts and hours are computed)."""
    set_config(dbsession, posts_per_page=3)
    for ticket in sortable:
        dbsession.refresh(ticket)
    extra = f.make_ticket(dbsession, users["super"], "Echo", hours="3", when=DAY0)
    f.make_post(dbsession, extra, users["bob"], hours="1")
    tickets = [*sortable, extra]
    app = login_as("alice")
    shown = listed(app.get("/tickets/", {"sort": sort})) + listed(
        app.get("/tickets/2/", {"sort": sort})
    )
    assert shown == expected_order(tickets, sort)
