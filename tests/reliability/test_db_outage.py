"""REL-1: the database server goes away under load and comes back; the application copes.

A real waitress server (4 threads, like production.ini) serves the real application, whose
database URL names a TCP proxy on loopback (``tests/reliability/tcpproxy.py``) in front of
the MariaDB or PostgreSQL server named by ``FLICKET_TEST_MYSQL_URL`` /
``FLICKET_TEST_POSTGRESQL_URL``. The real servers are never restarted (other work uses them):
the proxy stands in for a restart by closing every open connection and refusing new ones for
a few seconds, then accepting again. Several client threads log in and then keep browsing
(home, list, search, ticket page, API list) and writing (API ticket, API reply, HTML reply
form with its CSRF token) before, during and after the outage.

What must hold:

- during the outage every request is answered quickly with 503 (an HTML page, or JSON for
  the API), with ``Retry-After``; never a 500, never a hang;
- after the proxy is back the application recovers by itself: every request that starts after
  that succeeds, the first on each pooled connection included (``pool_pre_ping``);
- every write the clients saw acknowledged is in the database exactly once, and no write
  answered 503 during the outage is.

SQLite is a file, not a server: there is nothing to restart, so these tests run only on the
server databases. Each test uses its own database, ``<test database>_outage``, on the same
server, created and dropped here.
"""

import base64
import http.client
import json
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
import transaction
from webtest.http import StopableWSGIServer

from flicket import main
from flicket.db import get_tm_session
from flicket.departments.models import Category
from flicket.install import seed, upgrade_database
from flicket.tickets.models import Post, Priority, Status, Ticket
from tests.conftest import (
    BCRYPT_TEST_ROUNDS,
    CSRF_RE,
    PASSWORD,
    SERVER_DATABASES,
    empty_database,
    make_user,
)
from tests.databases import create_database, drop_database, server_admin_engine
from tests.reliability.tcpproxy import TCPProxy

#: Generous bound on any single request, outage or not (the point is "no hang"; real
#: answers take milliseconds; they are printed).
REQUEST_BOUND = 10.0
CLIENTS = 4
WARM_SECONDS = 1.5
OUTAGE_SECONDS = 4.0
RECOVERED_SECONDS = 3.0

SUCCESS = {200, 201, 302}


# -- the server database, its scratch database, the proxy and the application ---------------






@pytest.fixture(scope="module", params=sorted(SERVER_DATABASES))
def outage_url(request):
    """``<test database>_outage`` on the MariaDB or PostgreSQL test server, made afresh."""
    variable = SERVER_DATABASES[request.param]
    if not os.environ.get(variable):
        pytest.skip(f"{variable} is not set (this test needs a database server to cut off)")
    server = sa.engine.make_url(os.environ[variable])
    url = server.set(database=f"{server.database}_outage")
    admin = server_admin_engine(server)
    create_database(admin, url)
    yield url
    drop_database(admin, url)
    admin.dispose()


@dataclass
class Site:
    port: int
    proxy: TCPProxy
    direct: sa.Engine  # straight to the server, bypassing the proxy: to check the rows
    users: list
    category_id: int
    priority_id: int
    status_id: int


@pytest.fixture
def site(outage_url, tmp_path, monkeypatch):
    """The application under waitress, its database reached through the proxy."""
    for name in ("FLICKET_DATABASE_URL", "FLICKET_SECRET", "FLICKET_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    direct = sa.create_engine(outage_url, poolclass=sa.pool.NullPool)
    empty_database(direct)
    proxy = TCPProxy(outage_url.host or "127.0.0.1", outage_url.port or _default_port(outage_url))
    through_proxy = outage_url.set(host="127.0.0.1", port=proxy.port)
    app = main(
        {},
        **{
            "sqlalchemy.url": through_proxy.render_as_string(hide_password=False),
            "flicket.secret_file": str(tmp_path / "secret"),
            "flicket.data_dir": str(tmp_path / "data"),
            "flicket.bcrypt_rounds": str(BCRYPT_TEST_ROUNDS),
            "flicket.mail.mode": "dummy",
            "flicket.ratelimit.store": "memory",
            "retry.attempts": "3",  # as development.ini and production.ini
        },
    )
    engine = app.registry["dbengine"]
    upgrade_database(engine)
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        session = get_tm_session(app.registry["dbsession_factory"], manager)
        seed(session, "http://127.0.0.1")
        users = [make_user(session, f"client{n}").username for n in range(CLIENTS)]
        category_id = session.scalars(sa.select(Category.id).order_by(Category.id)).first()
        priority_id = session.scalars(sa.select(Priority.id)).first()
        status_id = session.scalars(sa.select(Status.id).where(Status.status == "Open")).one()
    server = StopableWSGIServer.create(app, host="127.0.0.1", threads=4, expose_tracebacks=False)
    try:
        yield Site(
            port=int(server.effective_port),
            proxy=proxy,
            direct=direct,
            users=users,
            category_id=category_id,
            priority_id=priority_id,
            status_id=status_id,
        )
    finally:
        server.shutdown()
        engine.dispose()
        proxy.close()
        direct.dispose()


def _default_port(url):
    return 3306 if url.get_backend_name() == "mysql" else 5432


# -- a browser-and-API client over real HTTP ------------------------------------------------


@dataclass
class Answer:
    kind: str
    status: int
    content_type: str
    text: str
    headers: dict
    started: float
    seconds: float
    write: str | None = None  # the unique text of a write, for finding its row


class Client:
    """One user: a cookie jar, a CSRF token, an API token and a ticket of their own."""

    def __init__(self, port, username, offset=0):
        self.port = port
        self.offset = offset
        self.username = username
        self.cookies = {}
        self.csrf = None
        self.token = None
        self.ticket_id = None
        self.writes = 0

    def call(self, kind, method, path, *, form=None, body=None, token=False, write=None):
        headers = {"Host": f"127.0.0.1:{self.port}", "Connection": "close"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if form is not None:
            data = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"http://127.0.0.1:{self.port}"
        elif body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {self.token}"
        if path.startswith("/flicket-api/"):
            headers["Accept"] = "application/json"
        else:  # as a browser asks
            headers["Accept"] = "text/html,application/xhtml+xml,*/*;q=0.8"
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_BOUND * 3)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            conn.close()
        seconds = time.monotonic() - started
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return Answer(
            kind,
            response.status,
            response.getheader("Content-Type", ""),
            text,
            dict(response.getheaders()),
            started,
            seconds,
            write,
        )

    def log_in(self):
        page = self.call("login page", "GET", "/login")
        self.csrf = CSRF_RE.search(page.text).group(1)
        answer = self.call(
            "login",
            "POST",
            "/login",
            form={"csrf_token": self.csrf, "username": self.username, "password": PASSWORD},
        )
        assert answer.status == 302, (answer.status, answer.text[:500])
        home = self.call("home", "GET", "/")
        assert home.status == 200 and 'name="password"' not in home.text, home.text[:500]
        self.csrf = CSRF_RE.search(home.text).group(1)
        basic = base64.b64encode(f"{self.username}:{PASSWORD}".encode()).decode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("POST", "/flicket-api/tokens", headers={"Authorization": "Basic " + basic})
        response = conn.getresponse()
        assert response.status == 200, response.status
        self.token = json.loads(response.read())["token"]
        conn.close()

    def unique(self, what):
        self.writes += 1
        return f"{what} by {self.username} number {self.writes}"

    def round(self, site):
        """One pass of the mix (each client starts it at another step, so that every kind of
        request is under way at any time); yields each answer as it comes."""
        steps = [
            self.home,
            self.ticket_list,
            self.search,
            self.ticket_page,
            self.api_list,
            self.api_ticket,
            self.api_reply,
            self.form_reply,
        ]
        start = self.offset % len(steps)
        for step in steps[start:] + steps[:start]:
            yield step(site)

    def home(self, site):
        return self.call("home", "GET", "/")

    def ticket_list(self, site):
        return self.call("list", "GET", "/tickets/")

    def search(self, site):
        return self.call("search", "GET", "/tickets/?content=number")

    def ticket_page(self, site):
        return self.call("ticket page", "GET", f"/ticket_view/{self.ticket_id}/")

    def api_list(self, site):
        return self.call("api list", "GET", "/flicket-api/tickets/", token=True)

    def api_ticket(self, site):
        title = self.unique("Outage ticket")
        return self.call(
            "api ticket",
            "POST",
            "/flicket-api/tickets",
            body={
                "title": title,
                "content": "Written while the database may be down.",
                "category_id": site.category_id,
                "ticket_priority_id": site.priority_id,
            },
            token=True,
            write=title,
        )

    def api_reply(self, site):
        content = self.unique("API reply")
        return self.call(
            "api reply",
            "POST",
            f"/flicket-api/ticket/{self.ticket_id}/replies",
            body={"content": content},
            token=True,
            write=content,
        )

    def form_reply(self, site):
        content = self.unique("Form reply")
        return self.call(
            "form reply",
            "POST",
            f"/ticket_view/{self.ticket_id}/",
            form={
                "csrf_token": self.csrf,
                "content": content,
                "status": str(site.status_id),
                "priority": str(site.priority_id),
                "hours": "0",
                "reply": "",
            },
            write=content,
        )


def logged_in_clients(site):
    clients = [Client(site.port, username, offset=2 * n) for n, username in enumerate(site.users)]
    for client in clients:
        client.log_in()
        answer = client.call(
            "api ticket",
            "POST",
            "/flicket-api/tickets",
            body={
                "title": f"Ticket of {client.username}",
                "content": "Replies go here.",
                "category_id": site.category_id,
                "ticket_priority_id": site.priority_id,
            },
            token=True,
        )
        assert answer.status == 201, (answer.status, answer.text)
        client.ticket_id = json.loads(answer.text)["id"]
    return clients


def run_load(clients, site, stop):
    """Each client in its own thread runs rounds until ``stop`` is set; returns all answers."""
    answers = []
    lock = threading.Lock()
    failures = []

    def work(client):
        try:
            while not stop.is_set():
                for answer in client.round(site):
                    with lock:
                        answers.append(answer)
                    if stop.is_set():
                        break
        except Exception as error:  # noqa: BLE001 - reported below as a failure
            failures.append(f"{client.username}: {error!r}")

    threads = [threading.Thread(target=work, args=(c,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    return threads, answers, failures


KINDS = {
    "home",
    "list",
    "search",
    "ticket page",
    "api list",
    "api ticket",
    "api reply",
    "form reply",
}


def wait_for_every_kind(answers, since, at_least, limit=60):
    """Sleep ``at_least`` seconds, then until each kind of request has been started and
    answered after ``since`` (at most ``limit`` seconds in all)."""
    time.sleep(at_least)
    deadline = since + limit
    while time.monotonic() < deadline:
        seen = {a.kind for a in list(answers) if a.started >= since}
        if seen >= KINDS:
            return
        time.sleep(0.1)


def rows_with(site, texts):
    """{text: how many ticket titles or post contents equal it}."""
    found = Counter()
    texts = list(texts)
    with site.direct.connect() as conn:
        for start in range(0, len(texts), 200):
            chunk = texts[start : start + 200]
            found.update(conn.scalars(sa.select(Ticket.title).where(Ticket.title.in_(chunk))))
            found.update(conn.scalars(sa.select(Post.content).where(Post.content.in_(chunk))))
    return found


def assert_503(answer):
    assert answer.status == 503, (answer.kind, answer.status, answer.text[:300])
    assert answer.headers.get("Retry-After") == "5", answer.headers
    if answer.kind.startswith("api"):
        assert answer.content_type.startswith("application/json"), answer.content_type
        assert json.loads(answer.text)["error"] == "Service Unavailable"
    else:
        assert answer.content_type.startswith("text/html"), answer.content_type
        assert "database is not reachable" in answer.text
        assert "Traceback" not in answer.text


def summary(title, answers):
    print(f"\n{title}: {len(answers)} requests")
    kinds = sorted({a.kind for a in answers})
    for kind in kinds:
        mine = [a for a in answers if a.kind == kind]
        statuses = Counter(a.status for a in mine)
        slowest = max(a.seconds for a in mine)
        print(
            f"  {kind:12} {len(mine):4}  statuses {dict(sorted(statuses.items()))}"
            f"  slowest {slowest * 1000:.0f} ms"
        )


# -- the tests --------------------------------------------------------------------------------


def test_outage_under_load_gives_fast_503s_and_recovers_without_restart(site):
    clients = logged_in_clients(site)
    stop = threading.Event()
    threads, answers, failures = run_load(clients, site, stop)

    time.sleep(WARM_SECONDS)
    outage_started = time.monotonic()
    dropped = site.proxy.outage()
    # At least OUTAGE_SECONDS, and until every kind of request has run inside the outage
    # (however slow this machine is today), then as long again after it.
    wait_for_every_kind(answers, since=outage_started, at_least=OUTAGE_SECONDS)
    site.proxy.restore()
    restored = time.monotonic()
    wait_for_every_kind(answers, since=restored, at_least=RECOVERED_SECONDS)
    stop.set()
    for thread in threads:
        thread.join(timeout=REQUEST_BOUND * 3)
    assert not any(thread.is_alive() for thread in threads), "a client hung"
    assert not failures, failures

    before = [a for a in answers if a.started + a.seconds < outage_started]
    during = [
        a for a in answers if a.started >= outage_started and a.started + a.seconds < restored
    ]
    after = [a for a in answers if a.started >= restored]
    straddling = [a for a in answers if a not in before and a not in during and a not in after]
    print(f"\nproxy dropped {dropped} open database connections at the outage")
    for title, part in (
        ("before the outage", before),
        ("during the outage", during),
        ("across an edge", straddling),
        ("after the database came back", after),
    ):
        summary(title, part)

    # Never a 500, never a hang; only success or 503.
    assert all(a.status in SUCCESS | {503} for a in answers), Counter(a.status for a in answers)
    assert all(a.seconds < REQUEST_BOUND for a in answers), max(a.seconds for a in answers)
    # Before: all fine. During: every kind of request was tried, and each got a proper 503.
    assert before and all(a.status in SUCCESS for a in before)
    assert {a.kind for a in during} == KINDS
    for answer in during:
        assert_503(answer)
    for answer in straddling:
        if answer.status == 503:
            assert_503(answer)
    # After: recovered by itself; every request succeeds, the first ones included.
    assert {a.kind for a in after} == KINDS
    assert all(a.status in SUCCESS for a in after), [
        (a.kind, a.status, a.text[:200]) for a in after if a.status not in SUCCESS
    ]

    # Every acknowledged write is stored once; none refused during the outage is stored.
    acknowledged = [a.write for a in answers if a.write and a.status in SUCCESS]
    refused = [a.write for a in during if a.write]
    assert acknowledged and refused
    found = rows_with(site, acknowledged + refused)
    assert {text: found[text] for text in acknowledged} == dict.fromkeys(acknowledged, 1)
    assert {text: found[text] for text in refused} == dict.fromkeys(refused, 0)
    written_after = [a.write for a in after if a.write]
    assert written_after and all(found[text] == 1 for text in written_after)
    print(
        f"\nwrites acknowledged {len(acknowledged)}, found {sum(found[t] for t in acknowledged)};"
        f" refused during the outage {len(refused)}, found {sum(found[t] for t in refused)}"
    )


def test_dropped_connections_are_replaced_on_the_next_request(site):
    """The cheaper variant: the server closes the pooled connections between two requests
    (a restart too quick to see, ``pg_terminate_backend``, MariaDB ``KILL``); the next
    request on each of them succeeds, thanks to the pool's pre-ping."""
    clients = logged_in_clients(site)
    # Fill the pool with several connections: all clients at once.
    stop = threading.Event()
    threads, answers, failures = run_load(clients, site, stop)
    time.sleep(WARM_SECONDS)
    stop.set()
    for thread in threads:
        thread.join(timeout=REQUEST_BOUND * 3)
    assert not failures, failures
    assert answers and all(a.status in SUCCESS for a in answers)

    accepted_before = site.proxy.accepted
    dropped = site.proxy.drop_connections()
    assert dropped >= 1
    results = []

    def one_round(client):
        results.extend(client.round(site))

    threads = [threading.Thread(target=one_round, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=REQUEST_BOUND * 3)
    summary(f"after dropping {dropped} pooled connections", results)
    assert len(results) == 8 * len(clients)
    assert all(a.status in SUCCESS for a in results), [
        (a.kind, a.status, a.text[:200]) for a in results if a.status not in SUCCESS
    ]
    assert site.proxy.accepted > accepted_before  # new connections replaced the dead ones
    written = [a.write for a in results if a.write]
    found = rows_with(site, written)
    assert {text: found[text] for text in written} == dict.fromkeys(written, 1)
