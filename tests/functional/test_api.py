"""The JSON API, reading: every endpoint of reference §5.2 with exactly the resource shapes
of §5.3 (the 0.1.9 documentation's spellings win), sorted keys, HTTP-dates, absolute links
from ``base_url`` or the request's host, bearer authentication on every endpoint, and JSON
404s for unknown ids (PRODUCT §2; SECURITY-TESTS API-2, API-5).

Every answer is checked against the OpenAPI document by the ``api`` fixture.
"""

import re
from datetime import datetime

import pytest
import sqlalchemy as sa

from flicket.api.openapi import document
from flicket.tickets.models import Subscription
from tests.api_helpers import (
    HTTP_DATE,
    ApiUser,
    assert_error,
    assert_shape,
    assert_sorted_keys,
    configure,
    issue_token,
    make_action,
    make_history,
    make_upload,
)
from tests.conftest import basic_auth, bearer, make_user
from tests.factories import category, make_post, make_ticket, priority, status

pytest_plugins = ["tests.api_helpers"]

BASE = "http://example.com"  # the test site's base_url
A = "/flicket-api"


@pytest.fixture
def world(dbsession, users):
    """Alice's ticket assigned to bob with bob's reply, an edit history, an attachment and
    an action; carol's ticket; and the ids of all of it."""
    alice, bob = users["alice"], users["bob"]
    ticket = make_ticket(
        dbsession,
        alice,
        "Printer on fire",
        assigned=bob,
        status_name="In Work",
        priority_name="high",
        when=datetime(2019, 6, 30, 14, 15, 37),
    )
    post = make_post(dbsession, ticket, bob, "Have you tried turning it off?")
    post.date_added = datetime(2019, 7, 1, 9, 0, 5)
    ticket.date_modified = datetime(2019, 7, 2, 10, 11, 12)
    ticket.modified_id = alice.id
    dbsession.add(Subscription(ticket_id=ticket.id, user_id=bob.id))
    history = make_history(dbsession, alice, ticket=ticket)
    post_history = make_history(dbsession, bob, post=post, text="Have you tried?")
    upload = make_upload(dbsession, ticket=ticket)
    post_upload = make_upload(dbsession, post=post, name="screenshot.png")
    action = make_action(
        dbsession, ticket, alice, "assign", recipient=bob, data={"note": "x"}, post=post
    )
    other = make_ticket(dbsession, users["carol"], "Coffee machine leaks")
    dbsession.flush()
    subscription = dbsession.scalars(
        sa.select(Subscription).where(Subscription.ticket_id == ticket.id).order_by("id")
    ).first()
    cat = category(dbsession)
    return {
        "ticket": ticket,
        "post": post,
        "history": history,
        "post_history": post_history,
        "upload": upload,
        "post_upload": post_upload,
        "action": action,
        "other": other,
        "subscription": subscription,
        "category": cat,
        "department": cat.department,
        "priority": priority(dbsession, "high"),
        "status": status(dbsession, "In Work"),
        "user": alice,
    }


#: kind -> (item URL, list URL) from the world.
def endpoints(world):
    w = {name: getattr(value, "id", None) for name, value in world.items()}
    t = w["ticket"]
    return {
        "user": (f"{A}/user/{w['user']}", f"{A}/users/"),
        "ticket": (f"{A}/ticket/{t}", f"{A}/tickets/"),
        "post": (f"{A}/post/{w['post']}", f"{A}/posts/{t}/"),
        "department": (f"{A}/department/{w['department']}", f"{A}/departments/"),
        "category": (f"{A}/category/{w['category']}", f"{A}/categories/"),
        "department_category": (
            f"{A}/department_category/{w['category']}",
            f"{A}/department_categories/",
        ),
        "priority": (f"{A}/priority/{w['priority']}", f"{A}/priorities/"),
        "status": (f"{A}/status/{w['status']}", f"{A}/statuses/"),
        "subscription": (f"{A}/subscription/{w['subscription']}", f"{A}/subscriptions/{t}/"),
        "upload": (f"{A}/upload/{w['upload']}", f"{A}/uploads/"),
        "history": (f"{A}/history/{w['history']}", f"{A}/histories/"),
        "action": (f"{A}/action/{w['action']}", f"{A}/actions/{t}"),
    }


KINDS = [
    "user",
    "ticket",
    "post",
    "department",
    "category",
    "department_category",
    "priority",
    "status",
    "subscription",
    "upload",
    "history",
    "action",
]


# -- shapes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_resource_has_exactly_the_documented_keys(api_as, world, kind):
    item_url, list_url = endpoints(world)[kind]
    client = api_as("carol")
    item = client.get(item_url, status=200)
    assert item.content_type == "application/json"
    assert_shape(item.json, kind)
    assert_sorted_keys(item.text)
    page = client.get(list_url, status=200)
    assert set(page.json) == {"items", "_meta", "_links"}
    assert page.json["items"], list_url
    for entry in page.json["items"]:
        assert_shape(entry, kind)
    assert item.json in page.json["items"]
    assert_sorted_keys(page.text)


def test_ticket(api_as, world, users):
    t = world["ticket"]
    body = api_as("carol").get(f"{A}/ticket/{t.id}").json
    assert body == {
        "id": t.id,
        "assigned_id": users["bob"].id,
        "category_id": world["category"].id,
        "content": "The printer on floor 2 is on fire.",
        "date_added": "Sun, 30 Jun 2019 14:15:37 GMT",
        "date_modified": "Tue, 02 Jul 2019 10:11:12 GMT",
        "modified_id": users["alice"].id,
        "started_id": users["alice"].id,
        "status_id": world["status"].id,
        "title": "Printer on fire",
        "ticket_priority_id": world["priority"].id,
        "links": {
            "self": f"{BASE}{A}/ticket/{t.id}",
            "assigned": f"{BASE}{A}/user/{users['bob'].id}",
            "priority": f"{BASE}{A}/priority/{world['priority'].id}",
            "started_by": f"{BASE}{A}/user/{users['alice'].id}",
            "started_ny": f"{BASE}{A}/user/{users['alice'].id}",
            "modified_by": f"{BASE}{A}/user/{users['alice'].id}",
            "category": f"{BASE}{A}/category/{world['category'].id}",
            "status": f"{BASE}{A}/status/{world['status'].id}",
            "subscribers": f"{BASE}{A}/subscriptions/{t.id}/",
            "tickets": f"{BASE}{A}/tickets/",
            "histories": f"{BASE}{A}/histories/?topic_id={t.id}",
        },
    }
    # Hours and last_updated are not part of the resource.
    assert "hours" not in body and "last_updated" not in body


def test_unassigned_unmodified_ticket_has_null_links(api_as, world):
    body = api_as("alice").get(f"{A}/ticket/{world['other'].id}").json
    assert body["assigned_id"] is None and body["links"]["assigned"] is None
    assert body["modified_id"] is None and body["links"]["modified_by"] is None
    assert body["date_modified"] is None


def test_post_keeps_the_documented_data_added(api_as, world, users):
    p, t = world["post"], world["ticket"]
    body = api_as("alice").get(f"{A}/post/{p.id}").json
    assert body == {
        "id": p.id,
        "content": "Have you tried turning it off?",
        "data_added": "Mon, 01 Jul 2019 09:00:05 GMT",
        "date_added": "Mon, 01 Jul 2019 09:00:05 GMT",
        "date_modified": None,
        "ticket_id": t.id,
        "user_id": users["bob"].id,
        "links": {
            "self": f"{BASE}{A}/post/{p.id}",
            "created_by": f"{BASE}{A}/user/{users['bob'].id}",
            "posts": f"{BASE}{A}/posts/{t.id}/",
        },
    }


def test_user(api_as, dbsession, users):
    alice = users["alice"]
    body = api_as("bob").get(f"{A}/user/{alice.id}").json
    assert body == {
        "id": alice.id,
        "avatar": f"{BASE}/flicket/static/flicket_avatars/__default_profile.png",
        "email": "alice@example.com",
        "job_title": "unknown",
        "name": "Alice Example",
        "username": "alice",
        "total_posts": 0,
        "links": {"self": f"{BASE}{A}/user/{alice.id}", "users": f"{BASE}{A}/users/"},
    }
    alice.job_title = "Plumber"
    alice.avatar = "a1b2c3.png"
    alice.total_posts = 7
    dbsession.flush()
    body = api_as("bob").get(f"{A}/user/{alice.id}").json
    assert body["job_title"] == "Plumber"
    assert body["avatar"] == f"{BASE}/flicket/static/flicket_avatars/a1b2c3.png"
    assert body["total_posts"] == 7


def test_a_disabled_users_email_is_shown_to_administrators_only(api_as, users):
    dave = users["dave"].id
    assert api_as("alice").get(f"{A}/user/{dave}").json["email"] is None
    assert api_as("admin").get(f"{A}/user/{dave}").json["email"] == "dave@example.com"


def test_department_category_and_department_category(api_as, world):
    cat, dep = world["category"], world["department"]
    client = api_as("alice")
    assert client.get(f"{A}/department/{dep.id}").json == {
        "id": dep.id,
        "department": "IT",
        "links": {
            "self": f"{BASE}{A}/department/{dep.id}",
            "departments": f"{BASE}{A}/departments/",
        },
    }
    assert client.get(f"{A}/category/{cat.id}").json == {
        "id": cat.id,
        "category": "Other",
        "department": "IT",
        "links": {
            "self": f"{BASE}{A}/category/{cat.id}",
            "categories": f"{BASE}{A}/categories/",
            "department": f"{BASE}{A}/department/{dep.id}",
        },
    }
    assert client.get(f"{A}/department_category/{cat.id}").json == {
        "department_category": "IT / Other",
        "category_id": cat.id,
        "category": "Other",
        "department_id": dep.id,
        "department": "IT",
        "links": {
            "self": f"{BASE}{A}/department_category/{cat.id}",
            "department_categories": f"{BASE}{A}/department_categories/",
            "department": f"{BASE}{A}/department/{dep.id}",
            "category": f"{BASE}{A}/category/{cat.id}",
        },
    }


def test_priority_and_status(api_as, world):
    pri, sta = world["priority"], world["status"]
    client = api_as("alice")
    assert client.get(f"{A}/priority/{pri.id}").json == {
        "id": pri.id,
        "priority": "high",
        "links": {
            "self": f"{BASE}{A}/priority/{pri.id}",
            "priorities": f"{BASE}{A}/priorities/",
        },
    }
    assert client.get(f"{A}/status/{sta.id}").json == {
        "id": sta.id,
        "status": "In Work",
        "links": {"self": f"{BASE}{A}/status/{sta.id}", "statuses": f"{BASE}{A}/statuses/"},
    }


def test_subscription(api_as, world, users):
    s, t = world["subscription"], world["ticket"]
    assert api_as("bob").get(f"{A}/subscription/{s.id}").json == {
        "id": s.id,
        "ticket_id": t.id,
        "user_id": users["alice"].id,
        "user_def": "Alice Example",
        "links": {
            "self": f"{BASE}{A}/subscription/{s.id}",
            "subscriptions": f"{BASE}{A}/subscriptions/",
            "ticket": f"{BASE}{A}/ticket/{t.id}",
            "user": f"{BASE}{A}/user/{users['alice'].id}",
        },
    }


def test_uploads(api_as, world):
    u, pu, t, p = world["upload"], world["post_upload"], world["ticket"], world["post"]
    client = api_as("bob")
    assert client.get(f"{A}/upload/{u.id}").json == {
        "id": u.id,
        "filename": u.filename,
        "image": f"{BASE}/flicket_uploads/{u.filename}",
        "original_filename": "report.pdf",
        "post_id": None,
        "topic_id": t.id,
        "links": {
            "self": f"{BASE}{A}/upload/{u.id}",
            "post": None,
            "ticket": f"{BASE}{A}/ticket/{t.id}",
            "uploads": f"{BASE}{A}/uploads/",
        },
    }
    body = client.get(f"{A}/upload/{pu.id}").json
    assert (body["post_id"], body["topic_id"]) == (p.id, None)
    assert body["links"]["post"] == f"{BASE}{A}/post/{p.id}"
    assert body["links"]["ticket"] is None


def test_histories(api_as, world, users):
    h, ph, t, p = world["history"], world["post_history"], world["ticket"], world["post"]
    client = api_as("bob")
    body = client.get(f"{A}/history/{h.id}").json
    assert HTTP_DATE.match(body.pop("date_modified"))
    assert body == {
        "id": h.id,
        "original_content": "The text before the edit.",
        "post_id": None,
        "topic_id": t.id,
        "user_id": users["alice"].id,
        "links": {
            "self": f"{BASE}{A}/history/{h.id}",
            "histories": f"{BASE}{A}/histories/",
            "post": None,
            "ticket": f"{BASE}{A}/ticket/{t.id}",
            "user": f"{BASE}{A}/user/{users['alice'].id}",
        },
    }
    body = client.get(f"{A}/history/{ph.id}").json
    assert (body["post_id"], body["topic_id"], body["links"]["ticket"]) == (p.id, None, None)


def test_action(api_as, world, users):
    a, t, p = world["action"], world["ticket"], world["post"]
    body = api_as("carol").get(f"{A}/action/{a.id}").json
    assert HTTP_DATE.match(body.pop("date"))
    assert body == {
        "id": a.id,
        "ticket_id": t.id,
        "post_id": p.id,
        "action": "assign",
        "data": {"note": "x"},
        "user_id": users["alice"].id,
        "recipient_id": users["bob"].id,
        "links": {
            "self": f"{BASE}{A}/action/{a.id}",
            "actions": f"{BASE}{A}/actions/{t.id}",
        },
    }


# -- links: base_url, or the request's host -------------------------------------------------


LINK = re.compile(r'"(https?://[^"]+)"')


def all_links(text):
    return LINK.findall(text)


@pytest.mark.parametrize("kind", KINDS)
def test_links_come_from_base_url(api, dbsession, world, users, kind):
    configure(dbsession, base_url="https://desk.example.org/")
    client = ApiUser(api, issue_token(api, "alice"))
    for url in endpoints(world)[kind]:
        links = all_links(client.get(url).text)
        assert links
        assert all(link.startswith("https://desk.example.org/") for link in links), links
        assert not any("//desk.example.org//" in link for link in links)


def test_links_use_the_requests_host_when_base_url_is_empty(api, dbsession, world, users):
    configure(dbsession, base_url="")
    token = issue_token(api, "alice")
    response = api.get(
        f"{A}/tickets/",
        headers=bearer(token),
        extra_environ={"HTTP_HOST": "tickets.example.net:8443", "wsgi.url_scheme": "https"},
    )
    links = all_links(response.text)
    assert links and all(
        link.startswith("https://tickets.example.net:8443/flicket-api/")
        or link.startswith("https://tickets.example.net:8443/flicket/static/")
        for link in links
    ), links


# -- authentication -------------------------------------------------------------------------


def concrete(template):
    """A documented path with its parameters filled in (all 1)."""
    return re.sub(r"\{[^}]+\}", "1", template)


def documented_operations(public=False):
    for template, item in document()["paths"].items():
        for method, operation in item.items():
            is_public = operation.get("security") is not None
            if is_public == public:
                yield method.upper(), template


@pytest.mark.parametrize(("method", "template"), list(documented_operations()))
def test_every_endpoint_needs_a_bearer_token(api, users, world, method, template):
    url = concrete(template)
    kw = {"status": 401, "headers": {"Content-Type": "application/json"}}
    if method in ("POST", "PATCH"):
        kw["body"] = b"{}"
    response = api.request(url, method=method, **kw)
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-token",
        "Bearer ",
        "Basic YWxpY2U6dGFuZ2VyaW5lIG9jZWxvdCBzdW5yaXNl",
        "bearer " + "x" * 600,
    ],
)
def test_bad_tokens_are_401(api, users, world, header):
    response = api.get(f"{A}/tickets/", headers={"Authorization": header}, status=401)
    assert_error(response, 401)


def test_revoked_and_disabled_users_tokens_are_401(api, dbsession, users):
    token = issue_token(api, "alice")
    api.get(f"{A}/tickets/", headers=bearer(token), status=200)
    api.delete(f"{A}/tokens", headers=bearer(token), status=204)
    assert_error(api.get(f"{A}/tickets/", headers=bearer(token), status=401), 401)

    erin = make_user(dbsession, "erin")
    token = issue_token(api, "erin")
    api.get(f"{A}/user/{erin.id}", headers=bearer(token), status=200)
    erin.disabled = True
    dbsession.flush()
    assert_error(api.get(f"{A}/user/{erin.id}", headers=bearer(token), status=401), 401)


def test_a_token_in_the_query_string_is_ignored(api, users):
    token = issue_token(api, "alice")
    assert_error(api.get(f"{A}/tickets/?token={token}", status=401), 401)


def test_the_session_cookie_does_not_authenticate_the_api(api, users):
    page = api.get("/login")
    form = page.forms[0]
    form["username"], form["password"] = "alice", "tangerine ocelot sunrise"
    form.submit(status=302)
    api.get("/", status=200)
    assert_error(api.get(f"{A}/tickets/", status=401), 401)


def test_token_issuing_answers_as_documented(api, users):
    token = api.post(f"{A}/tokens", headers=basic_auth("alice"), status=200).json["token"]
    api.get(f"{A}/tickets/", headers=bearer(token), status=200)
    response = api.post(f"{A}/tokens", headers=basic_auth("alice", "wrong"), status=401)
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    for _ in range(30):
        response = api.post(f"{A}/tokens", headers=basic_auth("carol", "wrong"), status="*")
        if response.status_int == 429:
            break
        assert response.status_int == 401
    assert_error(response, 429)
    assert int(response.headers["Retry-After"]) > 0
    api.delete(f"{A}/tokens", headers=bearer(token), status=204)


def test_the_openapi_document_needs_no_token(api):
    response = api.get(f"{A}/openapi.json", status=200)
    assert response.json["openapi"].startswith("3.1")


# -- unknown ids, paths and methods ---------------------------------------------------------


#: Every GET whose path names a resource (or the ticket of a list) by id.
ID_TEMPLATES = sorted(
    template
    for method, template in documented_operations()
    if method == "GET" and re.search(r"\{(id|ticket_id)\}", template)
)


@pytest.mark.parametrize("template", ID_TEMPLATES)
@pytest.mark.parametrize("value", ["999999", "abc", "0", "1234567890123", "-1", "%C3%A9"])
def test_unknown_ids_are_json_404s(api_as, world, template, value):
    url = re.sub(r"\{(id|ticket_id)\}", value, template).replace("{page}", "1")
    response = api_as("alice").get(url, status=404)
    assert_error(response, 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{A}/nothing/here"),
        ("GET", f"{A}/tickets/abc/"),
        ("GET", f"{A}/"),
        ("PUT", f"{A}/tickets/"),
        ("DELETE", f"{A}/ticket/1"),
        ("POST", f"{A}/ticket/1"),
        ("PATCH", f"{A}/tickets/"),
    ],
)
def test_unknown_paths_and_methods_are_json_errors(api_as, world, method, path):
    response = api_as("alice").request(path, method, status="*")
    assert response.status_int in (404, 405)
    assert_error(response, response.status_int)


def test_errors_and_answers_are_not_cached_and_not_sniffed(api_as, world):
    client = api_as("alice")
    for response in (
        client.get(f"{A}/ticket/{world['ticket'].id}"),
        client.get(f"{A}/ticket/999999", status=404),
    ):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.content_type == "application/json"
