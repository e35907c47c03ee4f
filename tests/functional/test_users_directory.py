"""The users directory /users/ (search, paging, roles), one user's page /user/<id>/ and the
username suggestions /users/complete (reference §3.14, checklist 59, 67–69)."""

from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from markupsafe import escape

from flicket.accounts.models import Group
from flicket.admin.models import Config
from tests import factories as f
from tests.conftest import assert_login_page, login, make_user

XSS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
)


def set_config(dbsession, **values):
    config = dbsession.scalars(sa.select(Config).order_by(Config.id).limit(1)).one()
    for name, value in values.items():
        setattr(config, name, value)
    dbsession.flush()


def usernames(response):
    assert response.status_int == 200
    return [s.get_text(strip=True) for s in response.html.select(".user-card .username")]


def card(response, user):
    found = response.html.select_one(f"#user-{user.id}")
    assert found is not None, f"no card for {user.username}"
    return found


# -- the directory -------------------------------------------------------------------------


def test_everyone_listed_sorted_by_username(login_as, users):
    page = login_as("alice").get("/users/")
    assert usernames(page) == ["admin", "alice", "bob", "carol", "dave", "super"]
    assert "<title>Users · Flicket</title>" in page.text
    assert page.html.select_one(".users-summary").get_text(strip=True) == "6 users."


def test_card_shows_name_email_job_title_counters_and_link(login_as, dbsession, users):
    bob = users["bob"]
    bob.job_title = "Plumber"
    bob.total_posts = 12
    bob.total_assigned = 3
    dbsession.flush()
    found = card(login_as("alice").get("/users/"), bob)
    assert found.select_one(".user-full-name").get_text(strip=True) == "Bob Example"
    assert found.select_one('a[href="mailto:bob@example.com"]').get_text() == "bob@example.com"
    assert found.select_one(".user-job-title").get_text(strip=True) == "Plumber"
    assert found.select_one(".user-posts").get_text(strip=True) == "12"
    assert found.select_one(".user-assigned").get_text(strip=True) == "3"
    assert found.select_one("a.user-link")["href"] == f"/user/{bob.id}/"


def test_roles_are_coloured_and_named_in_text(login_as, users):
    page = login_as("alice").get("/users/")
    admin, sup, alice = (
        card(page, users["admin"]),
        card(page, users["super"]),
        card(page, users["alice"]),
    )
    assert "role-admin" in admin.select_one(".username")["class"]
    assert admin.select_one(".role-badge").get_text(strip=True) == "admin"
    assert "role-super-user" in sup.select_one(".username")["class"]
    assert sup.select_one(".role-badge").get_text(strip=True) == "super user"
    assert alice.select_one(".role-badge") is None
    assert not {"role-admin", "role-super-user"} & set(alice.select_one(".username")["class"])


def test_disabled_users_are_marked(login_as, users):
    page = login_as("alice").get("/users/")
    assert card(page, users["dave"]).select_one(".disabled-badge").get_text(strip=True) == (
        "disabled"
    )
    assert card(page, users["bob"]).select_one(".disabled-badge") is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ali", ["alice"]),  # username
        ("ALICE", ["alice"]),  # case-insensitive
        ("Carol Ex", ["carol"]),  # name
        ("carol EXAMPLE", ["carol"]),  # name, any case
        ("bob@EXAMPLE.com", ["bob"]),  # email
        ("@example.com", ["admin", "alice", "bob", "carol", "dave", "super"]),
        ("  bob  ", ["bob"]),  # trimmed
        ("%", []),  # LIKE wildcards are literal
        ("_", []),
        ("nobody-has-this", []),
        ("\x00ali", ["alice"]),  # control characters are dropped, never a database error
    ],
)
def test_search_filter(login_as, users, text, expected):
    page = login_as("alice").get("/users/", {"filter": text})
    assert usernames(page) == expected
    if not expected:
        assert "No user matches this search." in page.text


def test_search_form_keeps_the_filter_and_asks_for_suggestions(login_as, users):
    page = login_as("alice").get("/users/?filter=car")
    box = page.html.select_one("form.users-search input[name=filter]")
    assert box["value"] == "car"
    assert box["data-autocomplete"] == "users"
    assert box["data-autocomplete-url"] == "/users/complete"
    assert page.html.select_one("form.users-search")["method"] == "get"
    assert "/flicket/static/js/username-autocomplete.js" in page.text
    assert page.html.select_one(".users-summary").get_text(strip=True) == "1 user match “car”."


def test_long_filter_is_shortened_not_an_error(login_as, users):
    page = login_as("alice").get("/users/", {"filter": "a" * 5000})
    assert usernames(page) == []


def test_pagination_keeps_the_filter(login_as, dbsession, users):
    set_config(dbsession, posts_per_page=2)
    for n in range(3):
        make_user(dbsession, f"zed{n}", email=f"zed{n}@zed.test")
    app = login_as("alice")
    first = app.get("/users/?filter=example.com")
    assert usernames(first) == ["admin", "alice"]
    links = [a["href"] for a in first.html.select(".pagination a.page-link")]
    assert links, "no page links"
    for link in links:
        parts = urlsplit(link)
        assert parts.path.startswith("/users/")
        assert parse_qs(parts.query) == {"filter": ["example.com"]}
    seen = []
    for number in (1, 2, 3):
        seen += usernames(app.get(f"/users/{number}/?filter=example.com"))
    assert seen == ["admin", "alice", "bob", "carol", "dave", "super"]
    unfiltered = app.get("/users/2/")
    assert usernames(unfiltered) == ["bob", "carol"]
    assert all("filter" not in a["href"] for a in unfiltered.html.select(".pagination a"))


@pytest.mark.parametrize(
    "url",
    ["/users/99999/", "/users/?page=abc", "/users/?page=-1", "/users/0/", "/users/?page=1e9"],
)
def test_bad_page_numbers_are_not_errors(login_as, users, url):
    page = login_as("alice").get(url)
    assert page.status_int == 200
    assert len(usernames(page)) == 6


@pytest.mark.parametrize("url", ["/users/", "/users/2/", "/user/1/", "/users/complete?q=al"])
def test_anonymous_is_sent_to_login(testapp, users, url):
    response = testapp.get(url, status=302)
    assert_login_page(response)
    assert "json" not in response.content_type


def test_disabled_user_cannot_see_the_directory(testapp, users):
    login(testapp, "dave", status=200)
    assert_login_page(testapp.get("/users/", status=302))


# -- one user's page -----------------------------------------------------------------------


def test_user_page_shows_the_profile(login_as, dbsession, users):
    bob = users["bob"]
    bob.job_title = "Plumber"
    bob.total_posts = 7
    bob.total_assigned = 2
    dbsession.flush()
    page = login_as("alice").get(f"/user/{bob.id}/")
    html = page.html
    assert html.select_one("h1 .user-full-name").get_text(strip=True) == "Bob Example"
    assert html.select_one(".user-meta .username").get_text(strip=True) == "bob"
    assert html.select_one('a[href="mailto:bob@example.com"]')
    assert html.select_one(".user-job-title").get_text(strip=True) == "Plumber"
    assert html.select_one(".user-posts").get_text(strip=True) == "7"
    assert html.select_one(".user-assigned").get_text(strip=True) == "2"
    joined = html.select_one(".user-joined time")
    assert joined["datetime"] == bob.date_added.strftime("%Y-%m-%dT%H:%M:%SZ")
    avatar = html.select_one("img.user-avatar")
    assert avatar["src"] == "/flicket/static/flicket_avatars/__default_profile.png"
    assert avatar["alt"] == "Avatar of Bob Example"


def test_user_page_uses_the_users_avatar_and_role(login_as, dbsession, users):
    admin = users["admin"]
    admin.avatar = "a1b2c3.png"
    dbsession.flush()
    page = login_as("alice").get(f"/user/{admin.id}/")
    assert (
        page.html.select_one("img.user-avatar")["src"]
        == "/flicket/static/flicket_avatars/a1b2c3.png"
    )
    assert page.html.select_one(".role-badge").get_text(strip=True) == "admin"
    assert "role-admin" in page.html.select_one("h1")["class"]


def test_disabled_user_page_is_marked(login_as, users):
    page = login_as("alice").get(f"/user/{users['dave'].id}/")
    assert page.html.select_one(".disabled-badge").get_text(strip=True) == "disabled"


@pytest.mark.parametrize("user_id", ["999999", "abc", "%C2%B2", "1" * 40, "-1", "0"])
def test_user_page_unknown_id_is_404(login_as, users, user_id):
    login_as("alice").get(f"/user/{user_id}/", status=404)


# -- escaping -------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", XSS)
def test_names_and_job_titles_are_escaped(login_as, dbsession, users, payload):
    carol = users["carol"]
    carol.name = payload
    carol.job_title = payload
    dbsession.flush()
    app = login_as("alice")
    for url in ("/users/", f"/user/{carol.id}/", "/users/?filter=carol"):
        page = app.get(url)
        assert payload not in page.text
        assert str(escape(payload)) in page.text
    # Searched for, the filter is echoed escaped too.
    page = app.get("/users/", {"filter": payload})
    assert payload not in page.text
    assert usernames(page) == ["carol"]
    # The JSON answer carries the text as data, never as HTML.
    response = app.get("/users/complete", {"q": "carol"})
    assert response.content_type == "application/json"
    assert response.json == [{"username": "carol", "name": payload}]


# -- username suggestions -------------------------------------------------------------------


def test_complete_shape(login_as, users):
    response = login_as("alice").get("/users/complete?q=ali")
    assert response.content_type == "application/json"
    assert response.json == [{"username": "alice", "name": "Alice Example"}]
    assert "no-store" in response.headers["Cache-Control"]


@pytest.mark.parametrize("q", ["", "a", " a ", "%", "\x00"])
def test_complete_needs_two_characters(login_as, users, q):
    response = login_as("alice").get("/users/complete", {"q": q})
    assert response.json == []


def test_complete_without_q_is_an_empty_list(login_as, users):
    assert login_as("alice").get("/users/complete").json == []


def test_complete_matches_username_or_name_case_insensitively(login_as, dbsession, users):
    users["bob"].name = "Roberta Smith"
    dbsession.flush()
    app = login_as("alice")
    assert app.get("/users/complete?q=ROBERTA").json == [
        {"username": "bob", "name": "Roberta Smith"}
    ]
    assert [u["username"] for u in app.get("/users/complete?q=AL").json] == ["alice"]
    # Emails are not searched here (only usernames and names are suggested).
    assert app.get("/users/complete?q=example.co").json == []


def test_complete_excludes_disabled_users(login_as, users):
    app = login_as("alice")
    assert app.get("/users/complete?q=dave").json == []
    names = [u["username"] for u in app.get("/users/complete?q=example").json]
    assert names == ["admin", "alice", "bob", "carol", "super"]


def test_complete_returns_at_most_ten_sorted_by_username(login_as, dbsession, users):
    for n in (14, 3, 11, 0, 7, 1, 13, 5, 9, 2, 12, 4, 10, 6, 8):
        make_user(dbsession, f"team{n:02d}", email=f"team{n:02d}@team.test")
    response = login_as("alice").get("/users/complete?q=team")
    assert [u["username"] for u in response.json] == [f"team{n:02d}" for n in range(10)]


def test_complete_wildcards_are_literal(login_as, users):
    app = login_as("alice")
    assert app.get("/users/complete", {"q": "%%"}).json == []
    assert app.get("/users/complete", {"q": "__"}).json == []


def test_complete_works_for_every_logged_in_user(login_as, users):
    assert login_as("carol").get("/users/complete?q=sup").json == [
        {"username": "super", "name": "Super Example"}
    ]


def test_autocomplete_is_wired_on_assign_and_subscribe(login_as, dbsession, users):
    ticket = f.make_ticket(dbsession, users["alice"])
    app = login_as("alice")
    script = "/flicket/static/js/username-autocomplete.js"
    assign = app.get(f"/ticket_assign/{ticket.id}/")
    assert assign.html.select_one('input[name=username][data-autocomplete="users"]')
    assert assign.html.select_one(f'script[src="{script}"]')
    view = app.get(f"/ticket_view/{ticket.id}/")
    assert view.html.select_one('#subscribe-username[data-autocomplete="users"]')
    assert view.html.select_one(f'script[src="{script}"]')
    js = app.get(script)
    assert "users/complete" in js.text
    assert "innerHTML" not in js.text


# -- a fixed number of queries --------------------------------------------------------------


def add_users(dbsession, count, start=0):
    super_group = dbsession.scalars(sa.select(Group).where(Group.group_name == "super_user")).one()
    for n in range(start, start + count):
        user = make_user(dbsession, f"member{n:03d}", email=f"member{n:03d}@member.test")
        if n % 3 == 0:
            user.groups.append(super_group)
    dbsession.flush()


@pytest.mark.parametrize("url", ["/users/", "/users/?filter=member"])
def test_directory_query_count_is_fixed(login_as, dbsession, users, count_queries, url):
    set_config(dbsession, posts_per_page=100)
    app = login_as("alice")
    add_users(dbsession, 5)
    app.get(url)  # warm-up
    with count_queries() as few:
        shown_few = len(usernames(app.get(url)))
    add_users(dbsession, 35, start=5)
    with count_queries() as many:
        shown_many = len(usernames(app.get(url)))
    assert shown_many == shown_few + 35
    assert few.count == many.count


def test_user_page_and_complete_query_counts_are_small(login_as, dbsession, users, count_queries):
    add_users(dbsession, 40)
    app = login_as("alice")
    with count_queries() as page:
        app.get(f"/user/{users['bob'].id}/")
    with count_queries() as complete:
        assert len(app.get("/users/complete?q=member").json) == 10
    # user + groups + config, then the shown user with groups / one query for suggestions.
    assert page.count <= 6
    assert complete.count <= 4
