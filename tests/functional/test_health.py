"""``GET /healthz`` (for the reverse proxy and monitoring) and the operator's log lines:
a request id on every line and in ``X-Request-ID``, one access line per request, the JSON
format of production.ini (SECURITY.rst LOG-1, LOG-3)."""

import io
import json
import logging
import sys

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from flicket.logs import JSONFormatter, TextFormatter

# -- the health check -----------------------------------------------------------------------


def test_healthz_answers_anonymous_callers_in_one_query_without_a_session(testapp, count_queries):
    with count_queries() as queries:
        response = testapp.get("/healthz", status=200)
    assert response.json == {
        "status": "ok",
        "checks": {"database": "ok", "schema": "current", "storage": "ok"},
    }
    assert queries.count == 1
    assert "Set-Cookie" not in response.headers  # probes get no session
    assert response.headers["Cache-Control"] == "no-store"
    testapp.head("/healthz", status=200)
    # Only GET/HEAD: it changes nothing and takes nothing.
    testapp.post("/healthz", status=404)


def set_revision(dbsession, revision):
    if revision is None:
        dbsession.execute(sa.text("DELETE FROM alembic_version"))
    else:
        dbsession.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    dbsession.flush()


@pytest.mark.parametrize(
    ("revision", "status", "schema"),
    [
        ("0001_flicket_0_3_5", 503, "behind"),  # flicket-setup was not run after an upgrade
        ("9999_from_a_newer_release", 200, "ahead"),  # migrations only add: still served
        (None, 503, "missing"),
    ],
)
def test_healthz_tells_a_schema_that_does_not_match_the_code(
    testapp, dbsession, revision, status, schema
):
    set_revision(dbsession, revision)
    response = testapp.get("/healthz", status=status)
    assert response.json["checks"] == {"database": "ok", "schema": schema, "storage": "ok"}
    assert response.json["status"] == ("ok" if status == 200 else "fail")


def test_healthz_fails_when_the_data_folder_cannot_be_written(
    testapp, registry, tmp_path, monkeypatch
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setitem(registry, "health_folders", [str(blocker / "data")])
    response = testapp.get("/healthz", status=503)
    assert response.json["checks"]["storage"] == "fail"
    # A folder not made yet, under one that can be written, is fine: uploads create it.
    monkeypatch.setitem(registry, "health_folders", [str(tmp_path / "new" / "data")])
    testapp.get("/healthz", status=200)


def test_healthz_fails_fast_and_quietly_when_the_database_is_down(testapp, monkeypatch, caplog):
    def down(*args, **kwargs):
        raise sa.exc.OperationalError("SELECT version_num", {}, ConnectionRefusedError(111))

    monkeypatch.setattr(Session, "execute", down)
    response = testapp.get("/healthz", status=503)
    assert response.json == {
        "status": "fail",
        "checks": {"database": "fail", "schema": "unknown", "storage": "ok"},
    }
    assert "Refused" not in response.text  # no error text for the outside
    assert "the database did not answer" in caplog.text


# -- request ids ----------------------------------------------------------------------------


def test_every_answer_has_a_request_id_and_a_good_incoming_one_is_kept(testapp):
    first = testapp.get("/login").headers["X-Request-ID"]
    second = testapp.get("/login").headers["X-Request-ID"]
    assert len(first) == 32 and first != second
    kept = testapp.get("/login", headers={"X-Request-ID": "nginx-0123456789abcdef"})
    assert kept.headers["X-Request-ID"] == "nginx-0123456789abcdef"
    # Errors and static files have one too.
    assert testapp.get("/no/such/page", status=404).headers["X-Request-ID"]
    assert testapp.get("/flicket/static/css/flicket.css").headers["X-Request-ID"]


@pytest.mark.parametrize(
    "incoming", ["short", "has space 0123456789", "line\r\nbreak-0123456789", "x" * 65]
)
def test_an_incoming_request_id_that_is_not_a_plain_token_is_replaced(testapp, incoming):
    answered = testapp.get("/login", headers={"X-Request-ID": incoming}).headers["X-Request-ID"]
    assert answered != incoming and len(answered) == 32


@pytest.fixture
def records(caplog):
    caplog.set_level(logging.DEBUG, logger="flicket")
    return caplog


@pytest.fixture
def json_lines():
    """What production.ini's handler would write: JSON lines, formatted as they are logged
    (inside the request), from every flicket logger at INFO."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("flicket")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_every_line_of_a_request_carries_its_id_and_one_access_line_ends_it(
    testapp, users, json_lines
):
    page = testapp.get("/login")
    form = page.forms[0]
    form["username"], form["password"] = "alice", "not the password"
    request_id = form.submit(status=200).headers["X-Request-ID"]
    lines = [entry for entry in json_lines() if entry.get("request_id") == request_id]
    assert [entry["logger"] for entry in lines] == ["flicket.accounts.views", "flicket.access"]
    failure, access = lines
    assert failure["message"].startswith("login failed: login='alice'")
    assert access["message"] == "POST /login 200"
    assert (access["http_method"], access["http_path"], access["http_status"]) == (
        "POST",
        "/login",
        200,
    )
    assert access["client"] == "192.0.2.10" and access["duration_ms"] >= 0
    # The GET of the form was a request of its own, with its own id.
    others = [entry for entry in json_lines() if entry.get("request_id") != request_id]
    assert [entry["message"] for entry in others] == ["GET /login 200"]


def test_the_text_formatter_offers_the_request_id():
    record = logging.LogRecord("flicket.test", logging.INFO, __file__, 1, "hello", (), None)
    assert TextFormatter("%(request_id)s %(message)s").format(record) == "- hello"


def test_health_probes_are_logged_at_debug_and_reset_links_without_their_token(testapp, records):
    records.clear()
    testapp.get("/healthz")
    testapp.get("/password_reset/a-secret-reset-token-0123", status="*")
    access = [r for r in records.records if r.name == "flicket.access"]
    assert [(r.levelno, r.http_path) for r in access] == [
        (logging.DEBUG, "/healthz"),
        (logging.INFO, "/password_reset/{token}"),
    ]
    assert "a-secret-reset-token" not in records.text


def test_the_json_formatter_writes_one_line_per_record_whatever_the_message():
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "flicket.test",
        logging.ERROR,
        __file__,
        1,
        'forged\n{"level": "INFO"} %s',
        ("é",),
        exc_info,
    )
    record.ticket_id = 7  # an ``extra`` field
    text = JSONFormatter().format(record)
    assert "\n" not in text
    entry = json.loads(text)
    assert entry["message"] == 'forged\n{"level": "INFO"} é'
    assert entry["level"] == "ERROR" and entry["logger"] == "flicket.test"
    assert entry["ticket_id"] == 7
    assert "ValueError: boom" in entry["exception"]
    assert entry["time"].endswith("+00:00")
    assert "request_id" not in entry  # outside a request
