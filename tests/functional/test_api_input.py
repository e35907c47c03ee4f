"""Bad input to the JSON API's writes: a wrong content type is a 415, a body too large a
413, and malformed or hostile JSON, a body that is not an object, missing, unknown or
mistyped fields, over-long or too short strings, characters no database stores and ids
that name nothing are 400s with the JSON error body — never a 500, and nothing is written
(SECURITY-TESTS API-5, API-6; PRODUCT §3 "bad input anywhere").

Every answer is checked against the OpenAPI document by the ``api`` fixture.
"""

import io
import json

import pytest
import sqlalchemy as sa
from webtest import TestRequest

from flicket.accounts.models import User
from flicket.departments.models import Category, Department
from flicket.tickets.models import Action, Post, Subscription, Ticket
from tests.api_helpers import assert_error
from tests.factories import category, make_ticket, priority, status

pytest_plugins = ["tests.api_helpers"]

A = "/flicket-api"


def state(dbsession):
    dbsession.expire_all()
    counts = tuple(
        dbsession.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (Ticket, Post, Subscription, Action, Department, Category)
    )
    tickets = tuple(
        dbsession.execute(
            sa.select(Ticket.status_id, Ticket.assigned_id, Ticket.ticket_priority_id)
        )
    )
    posts = tuple(dbsession.scalars(sa.select(User.total_posts).order_by(User.id)))
    return counts, tickets, posts


@pytest.fixture
def ticket(dbsession, users):
    return make_ticket(dbsession, users["alice"])


def valid_bodies(dbsession, ticket):
    """(method, path, a valid body) for every write that reads a JSON body."""
    return {
        "create_ticket": (
            "POST",
            f"{A}/tickets",
            {
                "title": "A valid title",
                "content": "Some valid content.",
                "category_id": category(dbsession).id,
                "ticket_priority_id": priority(dbsession, "low").id,
                "hours": 1,
            },
        ),
        "reply": (
            "POST",
            f"{A}/ticket/{ticket.id}/replies",
            {
                "content": "A valid reply.",
                "hours": 0.5,
                "status_id": status(dbsession, "In Work").id,
                "ticket_priority_id": priority(dbsession, "high").id,
            },
        ),
        "assign": ("POST", f"{A}/ticket/{ticket.id}/assign", {"username": "bob"}),
        "patch": (
            "PATCH",
            f"{A}/ticket/{ticket.id}",
            {"status_id": status(dbsession, "In Work").id},
        ),
        "subscribe": ("POST", f"{A}/ticket/{ticket.id}/subscriptions", {"username": "bob"}),
        "create_department": ("POST", f"{A}/departments", {"department": "Facilities"}),
        "create_category": (
            "POST",
            f"{A}/categories",
            {"category": "Lifts", "department_id": category(dbsession).department_id},
        ),
    }


WRITES = [
    "create_ticket",
    "reply",
    "assign",
    "patch",
    "subscribe",
    "create_department",
    "create_category",
]


def send(client, method, path, body, content_type="application/json", status="*"):
    return client.request(
        path, method, body=body, headers={"Content-Type": content_type}, status=status
    )


def _json(body):
    """JSON text; lone surrogates are written as ``\\ud800`` escapes, as a client may."""
    return json.dumps(body).encode()


@pytest.mark.parametrize("write", WRITES)
def test_the_valid_body_works(api_as, dbsession, ticket, write):
    """The baseline for the refusals below: the same write with its valid body succeeds."""
    method, path, body = valid_bodies(dbsession, ticket)[write]
    response = send(api_as("admin"), method, path, _json(body))
    assert response.status_int in (200, 201), response.text


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonp",
        "",
    ],
)
def test_a_body_that_is_not_declared_json_is_415(api_as, dbsession, ticket, write, content_type):
    method, path, body = valid_bodies(dbsession, ticket)[write]
    before = state(dbsession)
    response = send(api_as("admin"), method, path, _json(body), content_type, status=415)
    assert_error(response, 415, "application/json")
    assert state(dbsession) == before


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_with_parameters_or_another_case_is_json(
    api_as, dbsession, ticket, write, content_type
):
    method, path, body = valid_bodies(dbsession, ticket)[write]
    response = send(api_as("admin"), method, path, _json(body), content_type)
    assert response.status_int in (200, 201), response.text


MALFORMED = {
    "empty": b"",
    "truncated": b'{"title": ',
    "array": b"[]",
    "string": b'"a string"',
    "null": b"null",
    "number": b"42",
    "duplicate keys": b'{"content": "Hello there", "content": "Hello again"}',
    "byte order mark": b'\xef\xbb\xbf{"content": "Hello there"}',
    "NaN": b'{"hours": NaN, "content": "Hello there"}',
    "Infinity": b'{"hours": -Infinity, "content": "Hello there"}',
    "not UTF-8": b'{"content": "caf\xe9 au lait"}',
    "deep nesting": b"[" * 30000 + b"]" * 30000,
    "deep object": b'{"a":' * 10000 + b"1" + b"}" * 10000,
    "5000 digits": b'{"user_id": ' + b"9" * 5000 + b"}",
    "single quotes": b"{'content': 'Hello there'}",
    "trailing comma": b'{"content": "Hello there",}',
    "comment": b'{"content": "Hello there"} // hi',
}


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_json_is_400(api_as, dbsession, ticket, write, case):
    method, path, _ = valid_bodies(dbsession, ticket)[write]
    before = state(dbsession)
    response = send(api_as("admin"), method, path, MALFORMED[case], status=400)
    assert_error(response, 400)
    assert state(dbsession) == before


@pytest.mark.parametrize("write", WRITES)
def test_a_body_over_64_kib_is_413(api_as, dbsession, ticket, write):
    method, path, body = valid_bodies(dbsession, ticket)[write]
    before = state(dbsession)
    big = _json({**body, "padding": "x" * (70 * 1024)})
    assert_error(send(api_as("admin"), method, path, big, status=413), 413)
    # Without a Content-Length (chunked), the size is checked after reading.
    request = TestRequest.blank(
        path,
        method=method,
        headers={
            "Content-Type": "application/json",
            "Transfer-Encoding": "chunked",
            **api_as("admin").headers,
        },
    )
    request.environ.pop("CONTENT_LENGTH", None)
    request.environ["wsgi.input"] = io.BytesIO(big)
    request.environ["wsgi.input_terminated"] = True  # as waitress says for chunked bodies
    assert_error(api_as("admin").app.do_request(request, status=413), 413)
    assert state(dbsession) == before


def test_a_small_chunked_body_is_read(api_as, dbsession, ticket):
    client = api_as("bob")
    request = TestRequest.blank(
        f"{A}/ticket/{ticket.id}/replies",
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Transfer-Encoding": "chunked",
            **client.headers,
        },
    )
    request.environ.pop("CONTENT_LENGTH", None)
    request.environ["wsgi.input"] = io.BytesIO(b'{"content": "Sent in chunks."}')
    request.environ["wsgi.input_terminated"] = True
    response = client.app.do_request(request, status=201)
    assert response.json["content"] == "Sent in chunks."


DROP = object()

#: write -> [(changes to the valid body (DROP removes the key), a word of the message)]
FIELD_ERRORS = {
    "create_ticket": [
        ({"title": DROP}, "title is required"),
        ({"content": DROP}, "content is required"),
        ({"category_id": DROP}, "category_id is required"),
        ({"ticket_priority_id": DROP}, "ticket_priority_id is required"),
        ({"status_id": 1}, "Unknown field"),
        ({"title": "ab"}, "3 to 128"),
        ({"title": "   ab    "}, "3 to 128"),
        ({"title": "x" * 129}, "3 to 128"),
        ({"content": "abcd"}, "5 to 5000"),
        ({"content": "x" * 5001}, "5 to 5000"),
        ({"title": 12345}, "string"),
        ({"title": ["a list"]}, "string"),
        ({"title": {"an": "object"}}, "string"),
        ({"content": DROP, "title": DROP}, "required"),
        ({"category_id": "1"}, "integer"),
        ({"category_id": 1.0}, "integer"),
        ({"category_id": True}, "integer"),
        ({"category_id": 2**31}, "out of range"),
        ({"category_id": -(2**40)}, "out of range"),
        ({"category_id": 999999}, "category_id"),
        ({"category_id": 0}, "category_id"),
        ({"ticket_priority_id": 999999}, "ticket_priority_id"),
        ({"hours": "1"}, "number"),
        ({"hours": True}, "number"),
        ({"hours": 1e9}, "between"),
        ({"hours": 99999999.999}, "between"),
        ({"hours": -1e300}, "between"),
        ({"title": "Nul\x00byte"}, "not allowed"),
        ({"title": "Bell\x07"}, "not allowed"),
        ({"content": "Lone \ud800 surrogate"}, "not allowed"),
    ],
    "reply": [
        ({"content": DROP}, "content is required"),
        ({"content": "abc"}, "5 to 5000"),
        ({"content": "x" * 5001}, "5 to 5000"),
        ({"content": 5}, "string"),
        ({"status_id": "Open"}, "integer"),
        ({"status_id": 999999}, "status_id"),
        ({"ticket_priority_id": None}, "integer"),
        ({"ticket_priority_id": 999999}, "ticket_priority_id"),
        ({"hours": [1]}, "number"),
        ({"hours": 100000000}, "between"),
        ({"title": "No titles on replies"}, "Unknown field"),
        ({"content": "Nul\x00 in a reply"}, "not allowed"),
        ({"content": "\udfff lone low surrogate"}, "not allowed"),
    ],
    "assign": [
        ({"username": DROP}, "user_id or username"),
        ({"username": None}, "string"),
        ({"username": 5}, "string"),
        ({"username": "x" * 25}, "0 to 24"),
        ({"username": "nobody"}, "no such user"),
        ({"user_id": "3"}, "integer"),
        ({"user_id": 999999}, "no such user"),
        ({"user_id": 2**31}, "out of range"),
        ({"ticket_id": 1}, "Unknown field"),
    ],
    "patch": [
        ({"status_id": DROP}, "Give status_id"),
        ({"status_id": None}, "integer"),
        ({"status_id": "Closed"}, "integer"),
        ({"status_id": 999999}, "status_id"),
        ({"category_id": 999999}, "category_id"),
        ({"ticket_priority_id": 1.5}, "integer"),
        ({"title": "x"}, "Unknown field"),
        ({"assigned_id": 1}, "Unknown field"),
    ],
    "subscribe": [
        ({"username": DROP}, "user_id or username"),
        ({"username": "nobody"}, "no such user"),
        ({"username": "\x00"}, "not allowed"),
        ({"username": DROP, "extra": 1}, "Unknown field"),
        ({"user_id": -1}, "no such user"),
    ],
    "create_department": [
        ({"department": DROP}, "department is required"),
        ({"department": 5}, "string"),
        ({"department": "ab"}, "3 to 30"),
        ({"department": "x" * 65}, "0 to 64"),
        ({"department": "Nul\x00"}, "not allowed"),
        ({"name": "Facilities"}, "Unknown field"),
    ],
    "create_category": [
        ({"category": DROP}, "category is required"),
        ({"department_id": DROP}, "department_id is required"),
        ({"department_id": "1"}, "integer"),
        ({"department_id": 999999}, "department_id"),
        ({"category": "ab"}, "3 to 30"),
        ({"category": ["Lifts"]}, "string"),
    ],
}
FIELD_CASES = [
    (write, changes, message)
    for write, cases in FIELD_ERRORS.items()
    for changes, message in cases
]


@pytest.mark.parametrize(("write", "changes", "message"), FIELD_CASES)
def test_bad_fields_are_400_and_write_nothing(api_as, dbsession, ticket, write, changes, message):
    method, path, body = valid_bodies(dbsession, ticket)[write]
    for key, value in changes.items():
        if value is DROP:
            body.pop(key, None)
        else:
            body[key] = value
    before = state(dbsession)
    response = send(api_as("admin"), method, path, _json(body), status=400)
    assert_error(response, 400, message)
    assert state(dbsession) == before


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"content": "Hello there", "hours": 1e999}', "between"),
        (b'{"content": "Hello there", "hours": -1e400}', "between"),
        (b'{"content": "Hello there", "hours": 1e-400}', None),
        (b'{"content": "Hello there", "status_id": 1e2}', "integer"),
        (b'{"content": "\\u0000 is NUL"}', "not allowed"),
        (b'{"content": "\\ud83d\\ude00 is fine but \\ud83d is not"}', "not allowed"),
    ],
)
def test_numbers_and_escapes_at_the_edges(api_as, dbsession, ticket, raw, message):
    path = f"{A}/ticket/{ticket.id}/replies"
    before = state(dbsession)
    response = send(api_as("admin"), "POST", path, raw)
    if message is None:
        assert response.status_int == 201, response.text
        return
    assert_error(response, 400, message)
    assert state(dbsession) == before


def test_an_emoji_is_stored_and_read_back(api_as, dbsession, ticket):
    text = "Fixed it \U0001f600 \u00e9t\u00e9 \u4e2d\u6587"
    client = api_as("bob")
    post = client.post_json(f"{A}/ticket/{ticket.id}/replies", {"content": text}, status=201)
    assert client.get(f"{A}/post/{post.json['id']}").json["content"] == text
