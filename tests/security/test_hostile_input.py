"""Hostile input through the pages and the API, on every configured database (SQLite, and
MariaDB with utf8mb4 in strict mode and PostgreSQL when configured): 4-byte characters, NUL,
lone surrogates, values one above each column's limit, 5000-digit numbers, deep JSON, huge
bodies, thousands of multipart parts and bytes that are not UTF-8 in the path, query, form
and cookie. Each value is either stored exactly — read back identical through the API and
on the page — or refused with a 4xx and nothing stored; never a 500, never truncated
(SECURITY-TESTS REL-8, REL-9, REL-10, API-6, VAL-1, VAL-4).

Neighbouring suites cover the rest of the matrix and are listed in the mapping: the JSON body
checks in tests/functional/test_api_input.py, case-colliding and full-width usernames in
tests/functional/test_admin.py, URLs that are not UTF-8 in test_errors_and_headers.py.
"""

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from flicket.accounts.models import User
from flicket.departments.models import Category, Department
from flicket.tickets.models import Post, Ticket, Upload
from tests.api_helpers import assert_error
from tests.conftest import SESSION_COOKIE, csrf_token_from
from tests.factories import make_ticket
from tests.functional.test_ticket_operations import snapshot, ticket_fields

pytest_plugins = ["tests.api_helpers"]

A = "/flicket-api"
HUGE_NUMBER = "9" * 5000


class PageText(HTMLParser):
    """The text of a page as a browser shows it (character references decoded)."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.parts = []
        self.feed(html)
        self.close()

    def handle_data(self, data):
        self.parts.append(data)

    def handle_starttag(self, tag, attrs):
        # Form fields (title inputs) hold the value in an attribute.
        self.parts.extend(value for name, value in attrs if name == "value" and value)

    @property
    def text(self):
        return "\n".join(self.parts)


def page_text(response):
    return PageText(response.text).text


def ticket_rows(dbsession):
    dbsession.expire_all()
    return dbsession.scalars(sa.select(Ticket).order_by(Ticket.id)).all()


def db_counts(dbsession):
    dbsession.expire_all()
    return tuple(
        dbsession.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (Ticket, Post, Upload, User, Department, Category)
    )


# -- text values: stored exactly, or refused -----------------------------------------------------

STORED = "stored"
REFUSED = "refused"

#: name -> (title, content, expected). Titles are 3..128 characters, content 5..5000.
TEXT_CASES = {
    "emoji": ("Printer \U0001f525 on fire \U0001f600", "It burns \U0001f525\U0001f525.", STORED),
    "4-byte CJK and math": (
        "\U00020000\U0002a6d6 \U0001d518\U0001d52b",
        "\U0001f9ea" * 10,
        STORED,
    ),
    "combining, RTL, zero-width": (
        "Cafe\u0301 \u202eevil\u202c",
        "zero\u200bwidth \ufeff BOM \u2028 sep",
        STORED,
    ),
    "title of 128 emoji (at the limit)": ("\U0001f600" * 128, "Exactly at the limit.", STORED),
    "content of 5000 emoji (at the limit)": ("Many emoji", "\U0001f600" * 5000, STORED),
    "title one over the limit": ("x" * 129, "One character too many.", REFUSED),
    "title of 129 emoji": ("\U0001f600" * 129, "One emoji too many.", REFUSED),
    "content one over the limit": ("Long text", "y" * 5001, REFUSED),
    "content of 5001 emoji": ("Long emoji text", "\U0001f600" * 5001, REFUSED),
    "NUL in the title": ("Nul\x00byte", "The title has a NUL.", REFUSED),
    "NUL in the content": ("A NUL below", "Text \x00 with NUL", REFUSED),
    "control character in the title": ("Escape \x1b[31m red", "Terminal escape.", REFUSED),
}
LONE_SURROGATE_CASES = {
    "lone high surrogate in the title": ("Lone \ud800 high", "Some content.", REFUSED),
    "lone low surrogate in the content": ("Lone low", "Some \udfff content.", REFUSED),
}


def assert_stored_exactly(client, dbsession, title, content):
    """One new ticket with exactly these texts, in the database, the API and the page."""
    rows = ticket_rows(dbsession)
    assert len(rows) == 1
    ticket = rows[0]
    assert (ticket.title, ticket.content) == (title, content)
    api = client.get(f"{A}/ticket/{ticket.id}").json
    assert (api["title"], api["content"]) == (title, content)
    return ticket


@pytest.mark.parametrize("case", list(TEXT_CASES))
def test_ticket_text_through_the_form(login_as, dbsession, api_as, case):
    title, content, expected = TEXT_CASES[case]
    app = login_as("alice")
    before = snapshot(dbsession)
    fields = ticket_fields(dbsession, {"title": title, "content": content})
    fields["csrf_token"] = csrf_token_from(app.get("/ticket_create/"))
    response = app.post("/ticket_create/", fields, status="*")
    if expected == REFUSED:
        assert response.status_int == 400, response.status
        assert snapshot(dbsession) == before
        return
    assert response.status_int == 302, response.status
    ticket = assert_stored_exactly(api_as("alice"), dbsession, title, content)
    shown = page_text(app.get(f"/ticket_view/{ticket.id}/"))
    assert title in shown
    if "\u2028" not in content and "\ufeff" not in content:
        assert content in shown  # Markdown keeps ordinary text as it is


@pytest.mark.parametrize("case", list(TEXT_CASES) + list(LONE_SURROGATE_CASES))
def test_ticket_text_through_the_api(api_as, dbsession, case):
    from tests.factories import category, priority

    title, content, expected = {**TEXT_CASES, **LONE_SURROGATE_CASES}[case]
    client = api_as("alice")
    before = db_counts(dbsession)
    body = {
        "title": title,
        "content": content,
        "category_id": category(dbsession).id,
        "ticket_priority_id": priority(dbsession, "low").id,
    }
    # json.dumps writes lone surrogates as \\udXXX escapes, as any client may.
    import json

    raw = json.dumps(body).encode()
    response = client.request(
        f"{A}/tickets",
        "POST",
        body=raw,
        headers={"Content-Type": "application/json"},
        status="*",
    )
    if expected == REFUSED:
        assert_error(response, 400)
        assert db_counts(dbsession) == before
        return
    assert response.status_int == 201, response.text
    assert (response.json["title"], response.json["content"]) == (title, content)
    assert_stored_exactly(client, dbsession, title, content)


def test_a_lone_surrogate_in_form_data_is_refused(login_as, dbsession):
    """A surrogate cannot be UTF-8; the bytes a careless client would send for U+D800
    (``ED A0 80``) are not UTF-8 either: refused or replaced, never stored as a surrogate."""
    app = login_as("alice")
    before = snapshot(dbsession)
    fields = ticket_fields(dbsession, {"title": "Surrogate X here", "content": "Content here."})
    fields["csrf_token"] = csrf_token_from(app.get("/ticket_create/"))
    body = "&".join(f"{quote(k)}={quote(v)}" for k, v in fields.items()).encode()
    body = body.replace(b"X", b"%ED%A0%80")
    response = app.post(
        "/ticket_create/",
        body,
        content_type="application/x-www-form-urlencoded",
        status="*",
    )
    assert response.status_int in (302, 400), response.status
    if response.status_int == 400:
        assert snapshot(dbsession) == before
        return
    (ticket,) = ticket_rows(dbsession)
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in ticket.title)
    assert ticket.title.startswith("Surrogate ") and ticket.title.endswith(" here")


@pytest.mark.parametrize("raw", [b"caf\xe9", b"\xff\xfe", b"\xc3\x28", b"\xf0\x9f\x98"])
def test_form_data_that_is_not_utf8_is_refused_or_replaced(login_as, dbsession, raw):
    app = login_as("alice")
    before = snapshot(dbsession)
    fields = ticket_fields(dbsession, {"title": "Bytes X here", "content": "Content here."})
    fields["csrf_token"] = csrf_token_from(app.get("/ticket_create/"))
    body = "&".join(f"{quote(k)}={quote(v)}" for k, v in fields.items()).encode()
    body = body.replace(b"X", quote(raw).encode())
    response = app.post(
        "/ticket_create/", body, content_type="application/x-www-form-urlencoded", status="*"
    )
    assert response.status_int in (302, 400), response.status
    if response.status_int == 400:
        assert snapshot(dbsession) == before
        return
    (ticket,) = ticket_rows(dbsession)
    assert ticket.title.startswith("Bytes ") and ticket.title.endswith(" here")
    ticket.title.encode("utf-8")  # valid text: no surrogate escapes stored


# -- names with column limits (departments and categories: 3..30 characters) ----------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("\U0001f3e2" * 30, STORED),
        ("\U0001f3e2" * 31, REFUSED),
        ("Lifts \U0001f6d7", STORED),
        ("Nul \x00 name", REFUSED),
        ("d" * 31, REFUSED),
    ],
)
def test_department_names_through_the_api(api_as, dbsession, name, expected):
    client = api_as("admin")
    before = db_counts(dbsession)
    response = client.post_json(f"{A}/departments", {"department": name}, status="*")
    if expected == REFUSED:
        assert_error(response, 400)
        assert db_counts(dbsession) == before
        return
    assert response.status_int == 201, response.text
    read = client.get(f"{A}/department/{response.json['id']}").json
    assert read["department"] == name
    dbsession.expire_all()
    assert dbsession.get(Department, response.json["id"]).department == name


# -- huge numbers ---------------------------------------------------------------------------------


@pytest.fixture
def ticket(dbsession, users):
    return make_ticket(dbsession, users["alice"])


PAGE_PATHS_WITH_HUGE_NUMBERS = [
    f"/ticket_view/{HUGE_NUMBER}/",
    f"/ticket_view/{{ticket}}/{HUGE_NUMBER}/",
    f"/tickets/{HUGE_NUMBER}/",
    f"/tickets/?page={HUGE_NUMBER}",
    f"/tickets/?status={HUGE_NUMBER}&category={HUGE_NUMBER}&user_id={HUGE_NUMBER}",
    f"/my_tickets/{HUGE_NUMBER}/",
    f"/tickets_csv/?assigned_id={HUGE_NUMBER}",
    f"/edit_ticket/{HUGE_NUMBER}",
    f"/history/topic/{HUGE_NUMBER}/",
    f"/history/post/{HUGE_NUMBER}/",
    f"/edit_post/{HUGE_NUMBER}/",
    f"/user/{HUGE_NUMBER}/",
    f"/users/{HUGE_NUMBER}/",
    f"/departments/{HUGE_NUMBER}/",
    f"/categories/{HUGE_NUMBER}/",
    f"/department_edit/{HUGE_NUMBER}/",
    f"/category_edit/{HUGE_NUMBER}/",
    f"/flicket_admin/users/{HUGE_NUMBER}",
    f"/flicket_admin/edit_user/?id={HUGE_NUMBER}",
    f"/flicket_admin/edit_group/?id={HUGE_NUMBER}",
    f"/ticket_view/{{ticket}}/?page={HUGE_NUMBER}",
]


@pytest.mark.parametrize("path", PAGE_PATHS_WITH_HUGE_NUMBERS)
def test_huge_numbers_in_page_urls_never_500(login_as, ticket, path):
    app = login_as("admin")
    response = app.get(path.replace("{ticket}", str(ticket.id)), status="*")
    assert response.status_int in (200, 400, 404), (path[:60], response.status)


API_PATHS_WITH_HUGE_NUMBERS = [
    f"{A}/ticket/{HUGE_NUMBER}",
    f"{A}/tickets/{HUGE_NUMBER}/",
    f"{A}/tickets/?page={HUGE_NUMBER}",
    f"{A}/tickets/?per_page={HUGE_NUMBER}",
    f"{A}/user/{HUGE_NUMBER}",
    f"{A}/post/{HUGE_NUMBER}",
    f"{A}/department/{HUGE_NUMBER}",
    f"{A}/category/{HUGE_NUMBER}",
    f"{A}/upload/{HUGE_NUMBER}",
    f"{A}/history/{HUGE_NUMBER}",
    f"{A}/ticket/{HUGE_NUMBER}/replies",
    f"{A}/users/?page=-{HUGE_NUMBER}",
]


@pytest.mark.parametrize(
    "query", ["assigned_id", "started_id", "status", "department", "category"]
)
def test_huge_numbers_in_api_list_filters_match_nothing(api_as, ticket, query):
    response = api_as("admin").get(f"{A}/tickets/?{query}={HUGE_NUMBER}", status="*")
    assert response.status_int in (200, 400), response.status
    if response.status_int == 200:
        assert response.json["items"] == []
    else:
        assert_error(response, 400)


@pytest.mark.parametrize("path", API_PATHS_WITH_HUGE_NUMBERS)
def test_huge_numbers_in_api_urls_are_4xx(api_as, path):
    response = api_as("admin").get(path, status="*")
    assert 400 <= response.status_int < 500, (path[:60], response.status)
    assert_error(response, response.status_int)


@pytest.mark.parametrize("field", ["hours", "ticket_priority_id", "status_id"])
def test_huge_numbers_in_a_json_reply_are_400(api_as, dbsession, ticket, field):
    before = db_counts(dbsession)
    raw = b'{"content": "A reply here.", "' + field.encode() + b'": ' + HUGE_NUMBER.encode() + b"}"
    response = api_as("admin").request(
        f"{A}/ticket/{ticket.id}/replies",
        "POST",
        body=raw,
        headers={"Content-Type": "application/json"},
        status="*",
    )
    assert_error(response, 400)
    assert db_counts(dbsession) == before


@pytest.mark.parametrize("field", ["hours", "category", "priority"])
def test_huge_numbers_in_the_ticket_form_are_400(login_as, dbsession, field):
    app = login_as("alice")
    before = snapshot(dbsession)
    fields = ticket_fields(dbsession, {field: HUGE_NUMBER})
    fields["csrf_token"] = csrf_token_from(app.get("/ticket_create/"))
    app.post("/ticket_create/", fields, status=400)
    assert snapshot(dbsession) == before


# -- big and many-part bodies ---------------------------------------------------------------------


def test_ten_megabytes_of_content_in_the_form_is_refused(login_as, dbsession):
    app = login_as("alice")
    before = snapshot(dbsession)
    fields = ticket_fields(dbsession, {"content": "z" * (10 * 1024 * 1024)})
    fields["csrf_token"] = csrf_token_from(app.get("/ticket_create/"))
    response = app.post("/ticket_create/", fields, status="*")
    assert response.status_int in (400, 413), response.status
    assert snapshot(dbsession) == before


def test_ten_thousand_form_fields_are_refused_or_ignored(login_as, dbsession):
    app = login_as("alice")
    before = snapshot(dbsession)
    fields = ticket_fields(dbsession, {"title": "Ten thousand fields"})
    fields["csrf_token"] = csrf_token_from(app.get("/ticket_create/"))
    pairs = list(fields.items()) + [(f"f{i}", "v") for i in range(10000)]
    response = app.post("/ticket_create/", pairs, status="*")
    assert response.status_int in (302, 400, 413), response.status
    if response.status_int != 302:
        assert snapshot(dbsession) == before
    else:
        (ticket,) = ticket_rows(dbsession)
        assert ticket.title == "Ten thousand fields"


def multipart(fields, files, boundary="hostileboundary"):
    lines = []
    for name, value in fields:
        lines += [
            f"--{boundary}".encode(),
            f'Content-Disposition: form-data; name="{name}"'.encode(),
            b"",
            value.encode(),
        ]
    for name, filename, content in files:
        lines += [
            f"--{boundary}".encode(),
            f'Content-Disposition: form-data; name="{name}"; filename="{filename}"'.encode(),
            b"Content-Type: text/plain",
            b"",
            content,
        ]
    lines += [f"--{boundary}--".encode(), b""]
    return b"\r\n".join(lines), f"multipart/form-data; boundary={boundary}"


def test_five_thousand_multipart_parts_are_refused(login_as, dbsession):
    app = login_as("alice")
    before = snapshot(dbsession)
    files_before = set()
    fields = ticket_fields(dbsession, {"title": "Many parts"})
    fields["csrf_token"] = csrf_token_from(app.get("/ticket_create/"))
    body, content_type = multipart(
        list(fields.items()), [("file", f"f{i}.txt", b"x") for i in range(5000)]
    )
    response = app.post("/ticket_create/", body, content_type=content_type, status="*")
    assert response.status_int in (400, 413), response.status
    assert snapshot(dbsession) == before
    assert files_before == set()


def test_a_truncated_multipart_body_is_refused(login_as, dbsession):
    app = login_as("alice")
    before = snapshot(dbsession)
    fields = ticket_fields(dbsession, {"title": "Truncated body"})
    fields["csrf_token"] = csrf_token_from(app.get("/ticket_create/"))
    body, content_type = multipart(list(fields.items()), [("file", "a.txt", b"x" * 1000)])
    response = app.post(
        "/ticket_create/", body[: len(body) - 40], content_type=content_type, status="*"
    )
    assert response.status_int in (400, 413), response.status
    assert snapshot(dbsession) == before


# -- bytes that are not UTF-8 outside the body ----------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/ticket_view/%FF/",
        "/tickets/?q=%C3%28",
        "/tickets/?status=%FF%FE",
        "/flicket-api/tickets/?q=%ED%A0%80",
        "/users/complete?q=%F0%9F%98",
    ],
)
def test_urls_that_are_not_utf8_are_400_when_logged_in(login_as, make_client, path):
    app = login_as("alice")
    cookie = "; ".join(f"{name}={value}" for name, value in app.cookies.items())
    # A client without a cookie jar: WebTest's jar cannot handle such a URL itself.
    client = make_client()
    response = client.get(path, headers={"Cookie": cookie}, status="*")
    assert response.status_int == 400, response.status
    assert "not valid UTF-8" in response.text
    assert client.get("/tickets/", headers={"Cookie": cookie}).status_int == 200  # logged in


@pytest.mark.parametrize(
    "cookie",
    [b"\xff\xfe\xfd", b"caf\xe9", b"\xed\xa0\x80", b"x" * 5000, b"!!!not-a-session!!!", b""],
)
def test_a_garbled_session_cookie_is_a_fresh_anonymous_visit(testapp, users, cookie):
    header = SESSION_COOKIE.encode() + b"=" + cookie
    response = testapp.get("/tickets/", headers={"Cookie": header.decode("latin-1")}, status="*")
    assert response.status_int == 302, response.status
    assert "/login" in response.location
    login_page = testapp.get("/login", headers={"Cookie": header.decode("latin-1")}, status="*")
    assert login_page.status_int == 200


def test_a_bearer_token_that_is_not_ascii_is_401(api, users):
    response = api.get(
        f"{A}/tickets/",
        headers={"Authorization": "Bearer caf\xe9\xff".encode().decode("latin-1")},
        status="*",
    )
    assert_error(response, 401)


# -- framing, under the real HTTP server (waitress, with production.ini's settings) ---------------


def production_server_settings():
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    parser.read(Path(__file__).resolve().parents[2] / "production.ini")
    return dict(parser["server:main"])


@pytest.fixture
def server(wsgi_app, connection):
    """The application under waitress on a free loopback port (production.ini's limits)."""
    import threading

    from waitress.server import create_server

    settings = production_server_settings()
    server = create_server(
        wsgi_app,
        host="127.0.0.1",
        port=0,
        threads=2,
        ident=settings["ident"],
        expose_tracebacks=False,
        max_request_body_size=int(settings["max_request_body_size"]),
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server
    server.close()
    thread.join(timeout=5)


def exchange(server, raw, read_timeout=10):
    """Send ``raw`` bytes on a new connection; the status line and headers of the answer."""
    import socket

    with socket.create_connection(("127.0.0.1", server.effective_port), timeout=read_timeout) as s:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything
        s.shutdown(socket.SHUT_WR)
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer


def status_of(answer):
    line = answer.split(b"\r\n", 1)[0]
    assert line.startswith(b"HTTP/1."), answer[:200]
    return int(line.split()[1])


def test_production_caps_request_bodies_well_below_waitress_default():
    assert int(production_server_settings()["max_request_body_size"]) <= 64 * 1024 * 1024


def test_a_body_over_the_server_limit_is_413_before_the_app_reads_it(server, dbsession):
    before = db_counts(dbsession)
    limit = server.adj.max_request_body_size
    head = (
        b"POST /flicket-api/tickets HTTP/1.1\r\nHost: example.com\r\n"
        b"Content-Type: application/json\r\n" + f"Content-Length: {limit + 1}\r\n\r\n".encode()
    )
    answer = exchange(server, head + b"{")
    assert status_of(answer) == 413
    assert db_counts(dbsession) == before


@pytest.mark.parametrize(
    "raw",
    [
        # Content-Length larger than the body that comes (the client closes early).
        b"POST /login HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\nusername=a",
        # Two different Content-Length headers.
        b"POST /login HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n"
        b"Content-Length: 5\r\n\r\nabcde",
        # An unknown Transfer-Encoding.
        b"POST /login HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        b"0\r\n\r\n",
        b"POST /login HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: identity\r\n\r\n",
        # Both Content-Length and Transfer-Encoding (a request-smuggling classic).
        b"POST /login HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n",
        # A broken chunk size.
        b"POST /login HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\nabc\r\n0\r\n\r\n",
        # A negative Content-Length, and one that is not a number.
        b"POST /login HTTP/1.1\r\nHost: example.com\r\nContent-Length: -1\r\n\r\n",
        b"POST /login HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1e3\r\n\r\n",
        # A header line without a colon, and a request line that is not HTTP.
        b"GET / HTTP/1.1\r\nHost: example.com\r\nno colon here\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40,
        # A path that is not UTF-8 and a header value with bytes above 0x7f.
        b"GET /ticket_view/\xff\xfe/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
        b"GET /login HTTP/1.1\r\nHost: example.com\r\nCookie: flicket_session=\xff\xfe\r\n\r\n",
    ],
    ids=[
        "short body",
        "two lengths",
        "gzip chunked",
        "identity",
        "length and chunked",
        "bad chunk",
        "negative length",
        "length not a number",
        "header without colon",
        "TLS hello",
        "raw non-UTF-8 path",
        "raw non-UTF-8 cookie",
    ],
)
def test_malformed_framing_is_refused_never_500(server, raw):
    answer = exchange(server, raw)
    if not answer:
        return  # the server closed the connection: refused without an answer
    status = status_of(answer)
    if b"Transfer-Encoding: gzip" in raw or b"Transfer-Encoding: identity" in raw:
        # RFC 9112 §6.1: a transfer coding the server does not know is a 501 from waitress
        # itself (the application never sees the request), not a failure of the application.
        assert status == 501 and b"Transfer-Encoding requested is not supported" in answer
        return
    assert status < 500, answer[:300]
    if b"/admin" in raw:
        assert answer.count(b"HTTP/1.1 ") <= 2
        assert b"HTTP/1.1 200" not in answer.split(b"\r\n\r\n", 1)[-1]


def test_a_header_block_over_the_limit_is_refused(server):
    big = b"X-Padding: " + b"a" * (300 * 1024) + b"\r\n"
    answer = exchange(server, b"GET /login HTTP/1.1\r\nHost: example.com\r\n" + big + b"\r\n")
    assert status_of(answer) == 431 or status_of(answer) == 400


def test_a_100_kb_search_is_bounded_and_never_500(login_as, api_as, ticket, count_queries):
    """Longer than any ticket text: it matches nothing, and the database is never asked to
    scan for 100 KB patterns (the text is cut before it reaches the SQL)."""
    query = "printer " * (100 * 1024 // 8)
    with count_queries() as queries:
        items = api_as("admin").get(f"{A}/tickets/", params={"q": query}).json["items"]
    assert items == []
    assert all(len(statement) < 20000 for statement in queries.statements)
    page = login_as("admin").get("/tickets/", params={"content": query}, status="*")
    assert page.status_int in (200, 400)
    assert "Printer on fire" not in page.text
