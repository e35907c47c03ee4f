"""The JSON API's lists: the ``items``/``_meta``/``_links`` envelope on every list, the page
in the path or in ``?page=``, ``per_page`` (default posts_per_page, at most 100, bad values a
400), the edges, the filters (carried into the links) and a fixed number of SQL queries per
page whatever its size (reference §5.1, §5.2; PRODUCT §2, §4).

Every answer is checked against the OpenAPI document by the ``api`` fixture.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from flicket.tickets.lists import SORT_KEYS
from flicket.tickets.models import Subscription
from tests.api_helpers import (
    assert_error,
    configure,
    make_action,
    make_history,
    make_upload,
)
from tests.conftest import make_user
from tests.factories import category, make_post, make_ticket

pytest_plugins = ["tests.api_helpers"]

BASE = "http://example.com"
A = "/flicket-api"


@dataclass(frozen=True)
class ListSpec:
    name: str
    #: The list's URL; ``{t}`` stands for the first ticket's id.
    url: str
    #: Whether its links put the page in the path (else in ``?page=``).
    path_links: bool
    #: Whether ``<url><page>/`` exists (not for /subscriptions/, where it names a ticket).
    page_path: bool = True

    def at(self, world):
        return self.url.format(t=world["tickets"][0].id)

    def paged(self, world, page):
        """The path form of page ``page``."""
        base = self.at(world)
        return f"{base}{page}/" if base.endswith("/") else f"{base}/{page}/"


LISTS = [
    ListSpec("users", A + "/users/", path_links=False),
    ListSpec("tickets", A + "/tickets/", path_links=True),
    ListSpec("posts", A + "/posts/{t}/", path_links=True),
    ListSpec("departments", A + "/departments/", path_links=False),
    ListSpec("categories", A + "/categories/", path_links=False),
    ListSpec("department_categories", A + "/department_categories/", path_links=False),
    ListSpec("priorities", A + "/priorities/", path_links=True),
    ListSpec("statuses", A + "/statuses/", path_links=False),
    ListSpec("subscriptions", A + "/subscriptions/", path_links=False, page_path=False),
    ListSpec("ticket_subscriptions", A + "/subscriptions/{t}/", path_links=True),
    ListSpec("uploads", A + "/uploads/", path_links=True),
    ListSpec("histories", A + "/histories/", path_links=True),
    ListSpec("actions", A + "/actions/{t}", path_links=False),
]
LIST_IDS = [spec.name for spec in LISTS]
#: Every list holds at least this many items in the ``world``.
AT_LEAST = 3


@pytest.fixture
def world(dbsession, users):
    """Five tickets; the first has five replies, six subscribers, uploads, edit histories
    and actions."""
    alice = users["alice"]
    start = datetime(2024, 1, 1, 9, 0, 0)
    tickets = [
        make_ticket(dbsession, alice, f"Ticket number {n}", when=start + timedelta(hours=n))
        for n in range(5)
    ]
    first = tickets[0]
    posts = [make_post(dbsession, first, users["bob"], f"Reply number {n}") for n in range(5)]
    for name in ("admin", "super", "bob", "carol", "dave"):
        dbsession.add(Subscription(ticket_id=first.id, user_id=users[name].id))
    for n in range(5):
        make_upload(dbsession, ticket=first)
        make_history(dbsession, alice, ticket=first, text=f"Version {n}")
        make_action(dbsession, first, alice, "claim", post=posts[n])
    dbsession.flush()
    return {"tickets": tickets, "posts": posts}


def ids(response):
    return [item.get("id", item.get("category_id")) for item in response.json["items"]]


# -- the envelope and the two page forms ----------------------------------------------------


@pytest.mark.parametrize("spec", LISTS, ids=LIST_IDS)
def test_the_envelope(api_as, world, spec):
    body = api_as("alice").get(spec.at(world) + "?per_page=2").json
    assert set(body) == {"items", "_meta", "_links"}
    assert set(body["_meta"]) == {"page", "per_page", "total_pages", "total_items"}
    assert set(body["_links"]) == {"self", "next", "prev"}
    meta = body["_meta"]
    assert meta["page"] == 1 and meta["per_page"] == 2
    assert meta["total_items"] >= AT_LEAST
    assert meta["total_pages"] == -(-meta["total_items"] // 2)
    assert len(body["items"]) == 2


@pytest.mark.parametrize("spec", LISTS, ids=LIST_IDS)
def test_the_page_in_the_path_or_the_query_string(api_as, world, spec):
    client = api_as("alice")
    by_query = client.get(spec.at(world) + "?page=2&per_page=2")
    assert by_query.json["_meta"]["page"] == 2
    first = client.get(spec.at(world) + "?per_page=2")
    assert not set(ids(by_query)) & set(ids(first))
    if spec.page_path:
        by_path = client.get(spec.paged(world, 2) + "?per_page=2")
        assert by_path.json == by_query.json
    else:
        # /subscriptions/2/ is ticket 2's subscriptions, not page 2.
        assert spec.name == "subscriptions"


@pytest.mark.parametrize("spec", LISTS, ids=LIST_IDS)
def test_links_are_absolute_in_the_lists_style(api_as, world, spec):
    links = api_as("alice").get(spec.at(world) + "?page=2&per_page=1").json["_links"]
    base = BASE + spec.at(world)
    if spec.path_links:
        expected = {
            "self": f"{BASE}{spec.paged(world, 2)}?per_page=1",
            "next": f"{BASE}{spec.paged(world, 3)}?per_page=1",
            "prev": f"{BASE}{spec.paged(world, 1)}?per_page=1",
        }
    else:
        expected = {
            "self": f"{base}?page=2&per_page=1",
            "next": f"{base}?page=3&per_page=1",
            "prev": f"{base}?page=1&per_page=1",
        }
    assert links == expected


@pytest.mark.parametrize("spec", LISTS, ids=LIST_IDS)
def test_next_and_prev_walk_every_item_once(api_as, world, spec):
    client = api_as("alice")
    everything = client.get(spec.at(world) + "?per_page=100")
    expected = ids(everything)
    total_pages = -(-len(expected) // 2)
    seen, url, pages = [], spec.at(world) + "?per_page=2", 0
    while url:
        response = client.get(url)
        pages += 1
        seen += ids(response)
        assert response.json["_meta"]["page"] == pages
        last = response
        url = response.json["_links"]["next"]
    assert seen == expected
    assert pages == total_pages == last.json["_meta"]["total_pages"]
    back, url = [], last.json["_links"]["self"]
    while url:
        response = client.get(url)
        back = ids(response) + back
        url = response.json["_links"]["prev"]
    assert back == expected


@pytest.mark.parametrize("spec", LISTS, ids=LIST_IDS)
def test_the_edges(api_as, world, spec):
    client = api_as("alice")
    total = client.get(spec.at(world) + "?per_page=1").json["_meta"]["total_items"]
    first = client.get(spec.at(world) + "?per_page=1").json
    assert first["_links"]["prev"] is None and first["_links"]["next"] is not None
    last = client.get(f"{spec.at(world)}?page={total}&per_page=1").json
    assert last["_meta"]["page"] == total and len(last["items"]) == 1
    assert last["_links"]["next"] is None and last["_links"]["prev"] is not None
    for page in (total + 1, 10**8):
        response = client.get(f"{spec.at(world)}?page={page}&per_page=1", status=404)
        assert_error(response, 404, "does not exist")
    if spec.page_path:
        client.get(spec.paged(world, total) + "?per_page=1", status=200)
        assert_error(client.get(spec.paged(world, total + 1) + "?per_page=1", status=404), 404)
    one_page = client.get(spec.at(world) + "?per_page=100").json
    assert one_page["_meta"]["total_pages"] == 1
    assert one_page["_links"]["next"] is None and one_page["_links"]["prev"] is None


@pytest.mark.parametrize("spec", LISTS, ids=LIST_IDS)
def test_per_page_defaults_to_posts_per_page_and_is_capped_at_100(api_as, dbsession, world, spec):
    client = api_as("alice")
    assert client.get(spec.at(world)).json["_meta"]["per_page"] == 50
    configure(dbsession, posts_per_page=2)
    body = client.get(spec.at(world)).json
    assert body["_meta"]["per_page"] == 2 and len(body["items"]) == 2
    assert "per_page=2" in body["_links"]["self"]
    body = client.get(spec.at(world) + "?per_page=1000").json
    assert body["_meta"]["per_page"] == 100
    assert "per_page=100" in body["_links"]["self"]


BAD_NUMBERS = ["0", "-1", "abc", "1.5", "", "1e3", "9999999999", "\u0661", " 1", "0x10"]


@pytest.mark.parametrize("spec", LISTS, ids=LIST_IDS)
def test_bad_page_and_per_page_values_are_400(api_as, world, spec):
    client = api_as("alice")
    for name in ("page", "per_page"):
        for value in BAD_NUMBERS:
            response = client.get(spec.at(world), params={name: value}, status=400)
            assert_error(response, 400, name)
    if spec.page_path:
        # A path page of 0 is a bad value too; a path page that is not digits is no URL.
        assert_error(client.get(spec.paged(world, 0), status=400), 400, "page")
        assert_error(client.get(spec.paged(world, "x"), status=404), 404)


def test_an_empty_list_has_one_empty_page(api_as, world):
    client = api_as("alice")
    for url in (
        f"{A}/tickets/?status=Nothing",
        f"{A}/histories/?topic_id={world['tickets'][1].id}",
        f"{A}/posts/{world['tickets'][1].id}/",
        f"{A}/actions/{world['tickets'][1].id}",
    ):
        body = client.get(url).json
        assert body["items"] == []
        assert body["_meta"]["total_items"] == 0 and body["_meta"]["total_pages"] == 0
        assert body["_meta"]["page"] == 1
        assert body["_links"]["next"] is None and body["_links"]["prev"] is None
        separator = "&" if "?" in url else "?"
        client.get(url + separator + "page=2", status=404)


# -- a fixed number of queries per page ------------------------------------------------------


@pytest.mark.parametrize("spec", LISTS, ids=LIST_IDS)
def test_a_page_costs_the_same_queries_whatever_its_size(api_as, world, count_queries, spec):
    client = api_as("alice")
    url = spec.at(world)
    client.get(url)  # the token's first use is recorded once; not part of the page
    counts = {}
    for per_page in (1, AT_LEAST, 100):
        with count_queries() as counter:
            response = client.get(f"{url}?per_page={per_page}")
        assert len(response.json["items"]) == min(per_page, response.json["_meta"]["total_items"])
        counts[per_page] = counter.count
    assert len(set(counts.values())) == 1, counts
    # The token, its user, the user's groups, the site configuration, the count and the
    # page; and for a ticket's replies, subscriptions or actions, whether the ticket exists.
    assert counts[1] == (7 if "{t}" in spec.url else 6), counts


def test_ticket_filters_and_sorts_cost_the_same_queries(api_as, world, count_queries, users):
    client = api_as("alice")
    query = f"q=number&started_id={users['alice'].id}&status=Open&department=IT&sort=replies_desc"
    client.get(f"{A}/tickets/?{query}")
    counts = []
    for per_page in (1, 5):
        with count_queries() as counter:
            client.get(f"{A}/tickets/?{query}&per_page={per_page}")
        counts.append(counter.count)
    assert counts[0] == counts[1], counts


# -- ticket filters ----------------------------------------------------------------------------


@pytest.fixture
def desk(dbsession, users):
    """Four tickets to filter: printer (alice, Open, IT/Other), coffee (carol, Closed,
    Commercial/Other, assigned bob), badge (alice, In Work, IT/Intranet, assigned bob,
    '100% broken'), and needle (carol, Open, IT/Other, the word only in a reply)."""
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    when = datetime(2024, 3, 1, 8, 0, 0)
    printer = make_ticket(dbsession, alice, "Printer on fire", when=when)
    coffee = make_ticket(
        dbsession,
        carol,
        "Coffee machine leaks",
        "Water on the floor.",
        status_name="Closed",
        department="Commercial",
        assigned=bob,
        when=when + timedelta(hours=1),
    )
    badge = make_ticket(
        dbsession,
        alice,
        "Badge reader",
        "It is 100% broken.",
        status_name="In Work",
        category_name="Intranet",
        assigned=bob,
        priority_name="high",
        when=when + timedelta(hours=2),
    )
    needle = make_ticket(
        dbsession, carol, "Lost something", "Somewhere here.", when=when + timedelta(hours=3)
    )
    make_post(dbsession, needle, bob, "Found a NEEDLE in the haystack.")
    return {"printer": printer, "coffee": coffee, "badge": badge, "needle": needle}


def ticket_ids(client, query):
    return ids(client.get(f"{A}/tickets/?{query}&per_page=100"))


def test_ticket_filters(api_as, desk, users):
    client = api_as("carol")
    d = {name: ticket.id for name, ticket in desk.items()}
    alice, bob, carol = users["alice"].id, users["bob"].id, users["carol"].id
    # Every ticket, closed ones too, by id.
    assert ticket_ids(client, "") == sorted(d.values())
    assert ticket_ids(client, "status=Closed") == [d["coffee"]]
    assert ticket_ids(client, "status=Open") == [d["printer"], d["needle"]]
    assert ticket_ids(client, "status=No+such+status") == []
    assert ticket_ids(client, "department=Commercial") == [d["coffee"]]
    assert ticket_ids(client, "category=Intranet") == [d["badge"]]
    assert ticket_ids(client, "department=IT&category=Other") == [d["printer"], d["needle"]]
    assert ticket_ids(client, f"assigned_id={bob}") == [d["coffee"], d["badge"]]
    assert ticket_ids(client, f"assigned_id={carol}") == []
    assert ticket_ids(client, "assigned_id=0") == []
    assert ticket_ids(client, f"started_id={alice}") == [d["printer"], d["badge"]]
    assert ticket_ids(client, f"started_id={carol}&status=Open") == [d["needle"]]
    assert ticket_ids(client, "q=PRINTER") == [d["printer"]]
    assert ticket_ids(client, "q=needle") == [d["needle"]]  # in a reply
    assert ticket_ids(client, "q=100%25") == [d["badge"]]  # % is taken literally
    assert ticket_ids(client, "q=_") == []
    assert ticket_ids(client, "q=" + "x" * 6000) == []
    assert ticket_ids(client, f"q=e&status=In+Work&assigned_id={bob}") == [d["badge"]]
    # Control characters are dropped from text filters (PostgreSQL refuses NUL).
    assert ticket_ids(client, "q=print%00er") == [d["printer"]]
    assert ticket_ids(client, "status=Open%00") == [d["printer"], d["needle"]]


def test_ticket_sorts(api_as, desk):
    client = api_as("carol")
    d = {name: ticket.id for name, ticket in desk.items()}
    everything = sorted(d.values())
    assert ticket_ids(client, "sort=title") == [
        d["badge"],
        d["coffee"],
        d["needle"],
        d["printer"],
    ]
    assert ticket_ids(client, "sort=title_desc") == [
        d["printer"],
        d["needle"],
        d["coffee"],
        d["badge"],
    ]
    assert ticket_ids(client, "sort=ticketid_desc") == everything[::-1]
    assert ticket_ids(client, "sort=replies_desc")[0] == d["needle"]
    assert ticket_ids(client, "sort=priority_desc")[0] == d["badge"]
    for key in SORT_KEYS:
        assert sorted(ticket_ids(client, f"sort={key}")) == everything, key


@pytest.mark.parametrize(
    "query",
    [
        "sort=nonsense",
        "sort=TITLE",
        "sort=",
        "sort=title%00",
        "assigned_id=",
        "assigned_id=abc",
        "assigned_id=-1",
        "started_id=1.5",
        "started_id=9999999999",
    ],
)
def test_bad_ticket_filters_are_400(api_as, desk, query):
    response = api_as("carol").get(f"{A}/tickets/?{query}", status=400)
    assert_error(response, 400, query.split("=")[0])


def test_ticket_filters_are_carried_into_the_links(api_as, desk, users):
    client = api_as("carol")
    bob = users["bob"].id
    query = f"department=IT&q=e&assigned_id={bob}&status=In+Work&sort=title_desc"
    body = client.get(f"{A}/tickets/?{query}&per_page=1").json
    expected = {
        "department": ["IT"],
        "q": ["e"],
        "assigned_id": [str(bob)],
        "status": ["In Work"],
        "sort": ["title_desc"],
        "per_page": ["1"],
    }
    assert parse_qs(urlsplit(body["_links"]["self"]).query) == expected
    assert urlsplit(body["_links"]["self"]).path == f"{A}/tickets/1/"


def test_walking_a_filtered_list_keeps_the_filter(api_as, world, desk, users):
    client = api_as("carol")
    url = f"{A}/tickets/?started_id={users['alice'].id}&per_page=2"
    expected = ticket_ids(client, f"started_id={users['alice'].id}")
    seen = []
    while url:
        body = client.get(url).json
        seen += [item["id"] for item in body["items"]]
        assert all(item["started_id"] == users["alice"].id for item in body["items"])
        url = body["_links"]["next"]
    assert seen == expected and len(seen) == 7  # five in the world, two on the desk


# -- the other lists' filters ------------------------------------------------------------------


def test_users_name_filter(api_as, dbsession, users):
    make_user(dbsession, "percent").name = "100% Sure"
    dbsession.flush()
    client = api_as("alice")
    names = lambda q: [u["username"] for u in client.get(f"{A}/users/?{q}").json["items"]]  # noqa: E731
    assert names("name=ALI") == ["alice"]
    assert names("name=example") == ["admin", "super", "alice", "bob", "carol", "dave"]
    assert names("name=100%25") == ["percent"]
    assert names("name=%25") == ["percent"]
    assert names("name=nobody") == []
    body = client.get(f"{A}/users/?name=example&per_page=2").json
    assert parse_qs(urlsplit(body["_links"]["next"]).query) == {
        "name": ["example"],
        "page": ["2"],
        "per_page": ["2"],
    }


def test_categories_filters(api_as, dbsession, users):
    client = api_as("alice")
    it = category(dbsession, "IT", "Other").department
    names = lambda q: [c["category"] for c in client.get(f"{A}/categories/?{q}").json["items"]]  # noqa: E731
    assert names(f"department_id={it.id}") == ["Internet", "Intranet", "Other"]
    assert names("department=IT") == ["Internet", "Intranet", "Other"]
    assert names("department_id=999999") == []
    assert len(names("")) == 19
    body = client.get(f"{A}/categories/?department_id={it.id}&per_page=1").json
    assert parse_qs(urlsplit(body["_links"]["next"]).query) == {
        "department_id": [str(it.id)],
        "page": ["2"],
        "per_page": ["1"],
    }
    assert_error(client.get(f"{A}/categories/?department_id=x", status=400), 400)


def test_department_categories_filters(api_as, dbsession, users):
    client = api_as("alice")
    it = category(dbsession, "IT", "Other").department

    def labels(q):
        items = client.get(f"{A}/department_categories/?{q}").json["items"]
        return [item["department_category"] for item in items]

    assert labels("department_category=it+/+in") == ["IT / Internet", "IT / Intranet"]
    assert labels("department=resource") == [
        "Human Resources / Holidays",
        "Human Resources / Other",
        "Human Resources / Sick Leave",
    ]
    assert labels(f"department_id={it.id}") == ["IT / Internet", "IT / Intranet", "IT / Other"]
    assert labels("department_category=zzz") == []
    body = client.get(f"{A}/department_categories/?department=man&per_page=1").json
    assert parse_qs(urlsplit(body["_links"]["next"]).query) == {
        "department": ["man"],
        "page": ["2"],
        "per_page": ["1"],
    }


def test_histories_filters(api_as, dbsession, world, users):
    client = api_as("alice")
    first, other = world["tickets"][0], world["tickets"][1]
    post = world["posts"][0]
    make_history(dbsession, users["bob"], post=post, text="older reply")
    make_history(dbsession, users["bob"], ticket=other, text="older ticket")

    def topics(q):
        items = client.get(f"{A}/histories/?{q}").json["items"]
        return [(item["topic_id"], item["post_id"]) for item in items]

    assert topics(f"topic_id={first.id}") == [(first.id, None)] * 5
    assert topics(f"topic_id={other.id}") == [(other.id, None)]
    assert topics(f"post_id={post.id}") == [(None, post.id)]
    assert len(topics("")) == 7
    body = client.get(f"{A}/histories/?topic_id={first.id}&per_page=2").json
    assert urlsplit(body["_links"]["next"]).path == f"{A}/histories/2/"
    assert parse_qs(urlsplit(body["_links"]["next"]).query) == {
        "topic_id": [str(first.id)],
        "per_page": ["2"],
    }


def test_posts_subscriptions_and_actions_of_an_unknown_ticket_are_404(api_as, world):
    client = api_as("alice")
    for url in (
        f"{A}/posts/999999/",
        f"{A}/posts/999999/1/",
        f"{A}/subscriptions/999999/",
        f"{A}/subscriptions/999999/1/",
        f"{A}/actions/999999",
        f"{A}/actions/999999/1/",
    ):
        assert_error(client.get(url, status=404), 404)
