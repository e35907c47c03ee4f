"""Several processes, one database (issue 11, PRODUCT.md §5): nothing that matters lives in
one process's memory.

Two real ``pserve production.ini`` processes (production.ini as it ships but for a low
bcrypt cost) listen on two free loopback ports, with the same ``FLICKET_SECRET``, the same
``FLICKET_DATA_DIR`` and one database: ``<test database>_twoproc`` on the MariaDB or the
PostgreSQL server of ``FLICKET_TEST_MYSQL_URL`` / ``FLICKET_TEST_POSTGRESQL_URL``, made by
``flicket-setup``. The rate limits are in the database (production.ini's store) and, in a
second pair of runs, in Redis (``FLICKET_TEST_REDIS_URL``, keys under a prefix of the run's
own). The tests talk HTTP to the processes as nginx passes requests on (HTTPS, the public
host, the client's address in ``X-Forwarded-For``) and prove, each with its figures printed:

- a session started on one process goes on on the other (and a logout on one ends it on both);
- the login rate limit counts the attempts made on both;
- an admin's change of the site configuration on one shows on the other at once;
- a file uploaded through one downloads through the other;
- a burst of concurrent writes spread over both loses and duplicates nothing;
- both queue their mail in the one shared folder, and one drain (of two run at once)
  sends each message exactly once.
"""

import json
import os
import re
import secrets
import subprocess
import threading
from collections import Counter

import pytest
import sqlalchemy as sa
import transaction

from flicket.accounts.models import RateLimitHit, User
from flicket.admin.models import Config
from flicket.db import get_engine, get_session_factory, get_tm_session
from flicket.tickets.models import Post, Ticket
from tests.conftest import PASSWORD, SERVER_DATABASES, make_user
from tests.databases import create_database, drop_database, server_admin_engine
from tests.factories import make_ticket
from tests.functional.test_mail_delivery import SENDER, FakeSMTP
from tests.serving import (
    Browser,
    Server,
    basic_auth,
    clean_environment,
    free_port,
    multipart,
    new_secret,
    production_ini,
    tool,
)

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "two processes, one database, 42"
REDIS_VARIABLE = "FLICKET_TEST_REDIS_URL"
UPLOAD_RE = re.compile(r'href="(/flicket_uploads/[0-9a-f]{32}\.txt)"')
BURST_CLIENTS = 12
BURST_WRITES_EACH = 6  # under the 20 replies a minute each person may write


def site_params():
    for kind in sorted(SERVER_DATABASES):
        yield pytest.param((kind, "database"), id=f"{kind}-database")
        yield pytest.param((kind, "redis"), id=f"{kind}-redis")


class TwoProcessSite:
    def __init__(self, kind, store, directory):
        variable = SERVER_DATABASES[kind]
        if not os.environ.get(variable):
            pytest.skip(f"{variable} is not set (two processes need one database server)")
        extra = {}
        self.redis_url = self.redis_prefix = None
        if store == "redis":
            if not os.environ.get(REDIS_VARIABLE):
                pytest.skip(f"{REDIS_VARIABLE} is not set (the Redis store needs a server)")
            self.redis_url = os.environ[REDIS_VARIABLE]
            self.redis_prefix = f"flicket-test-{secrets.token_hex(6)}:"
            extra = {"flicket.ratelimit.store": "redis", "flicket.redis.prefix": self.redis_prefix}
        self.kind, self.store = kind, store
        server_url = sa.engine.make_url(os.environ[variable])
        self.url = server_url.set(database=f"{server_url.database}_twoproc")
        self.admin_engine = server_admin_engine(server_url)
        create_database(self.admin_engine, self.url)
        self.engine = get_engine({"sqlalchemy.url": self.url.render_as_string(False)})
        self.data_dir = directory / "shared-data"
        self.queue_dir = self.data_dir / "mail-queue"
        self.ini = production_ini(directory, extra)
        self.env = clean_environment(
            FLICKET_DATABASE_URL=self.url.render_as_string(hide_password=False),
            FLICKET_SECRET=new_secret(),
            FLICKET_DATA_DIR=self.data_dir,
            **({"FLICKET_REDIS_URL": self.redis_url} if self.redis_url else {}),
        )
        setup = subprocess.run(  # noqa: S603 - our own flicket-setup
            [
                tool("flicket-setup"),
                str(self.ini),
                "--no-input",
                "--admin-password",
                ADMIN_PASSWORD,
                "--admin-email",
                "admin@example.test",
                "--base-url",
                "https://desk.example.test",
            ],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert setup.returncode == 0, setup.stdout + setup.stderr
        self.servers = []
        for name in ("a", "b"):
            self.servers.append(Server(self.ini, self.env, free_port(), directory / f"{name}.log"))
        self.a, self.b = (server.port for server in self.servers)

    def session(self):
        manager = transaction.TransactionManager(explicit=True)
        manager.begin()
        return manager, get_tm_session(get_session_factory(self.engine), manager)

    def run(self, work):
        """``work(session)`` in one committed transaction; returns its result."""
        manager, session = self.session()
        try:
            result = work(session)
        except BaseException:
            manager.abort()
            raise
        manager.commit()
        return result

    def add_users(self, prefix, count):
        names = [f"{prefix}{n}" for n in range(count)]
        self.run(lambda s: [make_user(s, name) for name in names])
        return names

    def close(self):
        for server in self.servers:
            server.stop()
        self.engine.dispose()
        drop_database(self.admin_engine, self.url)
        self.admin_engine.dispose()
        if self.redis_url:
            import redis

            client = redis.Redis.from_url(self.redis_url)
            keys = list(client.scan_iter(match=self.redis_prefix + "*"))
            if keys:
                client.delete(*keys)
            client.close()

    def errors_logged(self):
        """Log lines at ERROR or worse, from both processes."""
        return [
            entry
            for server in self.servers
            for entry in server.log_entries()
            if entry["level"] in ("ERROR", "CRITICAL")
        ]


@pytest.fixture(scope="module")
def smtp():
    server = FakeSMTP()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=list(site_params()))
def site(request, tmp_path_factory, smtp):
    """The two processes, their mail on (queued, for the SMTP server ``smtp``)."""
    kind, store = request.param
    two = TwoProcessSite(kind, store, tmp_path_factory.mktemp(f"twoproc-{kind}-{store}"))

    def configure(session):
        config = session.scalars(sa.select(Config).order_by(Config.id)).first()
        config.mail_server, config.mail_port = "127.0.0.1", smtp.port
        config.mail_use_tls = config.mail_use_ssl = False
        config.mail_default_sender, config.mail_suppress_send = SENDER, False

    two.run(configure)
    yield two
    two.close()


@pytest.fixture
def no_errors_logged(site):
    before = len(site.errors_logged())
    yield
    assert site.errors_logged()[before:] == []


def a_ticket(site, username, title="Printer on fire in room 12"):
    def work(session):
        user = session.scalars(sa.select(User).where(User.username == username)).one()
        return make_ticket(session, user, title).id

    return site.run(work)


def reply_fields(browser, port, ticket_id, content):
    path = f"/ticket_view/{ticket_id}/"
    fields = browser.form(port, path)
    fields.update(content=content, reply="")
    return path, fields


# -- sessions ---------------------------------------------------------------------------------


def test_a_session_started_on_one_process_goes_on_on_the_other(site, no_errors_logged):
    (alice,) = site.add_users("session-", 1)
    ticket_id = a_ticket(site, alice)
    browser = Browser()
    browser.log_in(site.a, alice, PASSWORD)
    assert browser.is_logged_in(site.a)
    assert browser.is_logged_in(site.b)  # the signed cookie from A is good on B

    # A form loaded from A is accepted by B: the CSRF token lives in the cookie too.
    path, fields = reply_fields(browser, site.a, ticket_id, "Written on B, from a page of A.")
    answer = browser.request(site.b, "POST", path, form=fields)
    assert answer.status == 302, answer.text[:500]
    assert (
        site.run(lambda s: s.scalar(sa.select(sa.func.count()).where(Post.ticket_id == ticket_id)))
        == 1
    )

    # A logout on B ends the session everywhere, even for a copy of the cookie kept aside.
    kept = Browser()
    kept.cookies = dict(browser.cookies)
    logout = browser.form(site.b, "/", action="/logout")
    assert browser.request(site.b, "POST", "/logout", form=logout).status == 302
    assert not kept.is_logged_in(site.a)
    assert not kept.is_logged_in(site.b)
    print(
        f"\n[{site.kind}/{site.store}] session: logged in on A, seen on B, replied on B "
        "with A's form, logged out on B: ended on A and B"
    )


# -- login rate limit -------------------------------------------------------------------------


def test_the_login_rate_limit_counts_the_attempts_made_on_both(site, no_errors_logged):
    """10 failed attempts per account per 5 minutes (production.ini's default): 5 on A and
    5 on B, each from another address, use them up; the 11th is refused on either
    process, even with the right password."""
    (victim,) = site.add_users("limited-", 1)
    statuses = Counter()
    for n in range(10):
        port = (site.a, site.b)[n % 2]
        answer = Browser(address=f"203.0.113.{n + 1}").log_in(
            port, victim, f"wrong password number {n}", expect=200
        )
        statuses[("A", "B")[n % 2], answer.status] += 1
    assert statuses == {("A", 200): 5, ("B", 200): 5}
    for port in (site.a, site.b):
        refused = Browser(address="203.0.113.99").log_in(port, victim, PASSWORD, expect=429)
        assert int(refused.headers["Retry-After"]) > 0
    # And the counts really are in the shared store the ini names.
    if site.store == "redis":
        import redis

        client = redis.Redis.from_url(site.redis_url)
        assert list(client.scan_iter(match=site.redis_prefix + "ratelimit:login-account:*"))
        client.close()
    else:
        rows = site.run(
            lambda s: s.scalar(
                sa.select(sa.func.count()).where(RateLimitHit.key.like("login-account:%"))
            )
        )
        assert rows >= 10
    print(
        f"\n[{site.kind}/{site.store}] rate limit: 5 failures on A + 5 on B, then the "
        "11th attempt (right password) on A: 429, on B: 429"
    )


# -- cached configuration ---------------------------------------------------------------------


def test_an_admin_config_change_on_one_shows_on_the_other_at_once(site, no_errors_logged):
    admin = Browser(address="198.51.100.20")
    admin.log_in(site.a, "admin", ADMIN_PASSWORD)
    title = f"Desk {secrets.token_hex(4)}"
    fields = admin.form(site.a, "/flicket_admin/config/")
    assert title not in Browser().get(site.b, "/login").text
    fields["application_title"] = title
    answer = admin.request(site.a, "POST", "/flicket_admin/config/", form=fields)
    assert answer.status == 302, answer.text[:800]
    # The very next request on B, by someone else, shows it: no cache to wait for.
    assert f" · {title}</title>" in Browser().get(site.b, "/login").text
    assert site.run(lambda s: s.scalars(sa.select(Config.application_title)).first()) == title
    print(f"\n[{site.kind}/{site.store}] config: title changed on A, shown by B's next page")


# -- uploads ----------------------------------------------------------------------------------


def test_a_file_uploaded_through_one_downloads_through_the_other(site, no_errors_logged):
    (owner,) = site.add_users("upload-", 1)
    ticket_id = a_ticket(site, owner)
    browser = Browser(address="198.51.100.30")
    browser.log_in(site.a, owner, PASSWORD)
    content = secrets.token_bytes(200_000).hex().encode()  # 400 kB of text
    path, fields = reply_fields(browser, site.a, ticket_id, "The log file is attached.")
    body, content_type = multipart(fields, {"file": ("server.log.txt", content)})
    answer = browser.request(site.a, "POST", path, body=body, content_type=content_type)
    assert answer.status == 302, answer.text[:800]

    page = browser.get(site.b, path)
    links = UPLOAD_RE.findall(page.text)
    assert len(links) == 1, page.text[:2000]
    download = browser.get(site.b, links[0])
    assert download.status == 200
    assert download.body == content
    assert "attachment" in download.headers["Content-Disposition"]
    # And anonymous visitors get nothing from either process.
    for port in (site.a, site.b):
        assert Browser().get(port, links[0]).status in (302, 403, 404)
    print(
        f"\n[{site.kind}/{site.store}] upload: {len(content)} bytes sent to A, the same "
        f"{len(download.body)} bytes downloaded from B"
    )


# -- a burst of writes over both --------------------------------------------------------------


def test_a_burst_of_concurrent_writes_over_both_loses_nothing(site, no_errors_logged):
    """12 people at once, each writing 6 times, alternating between the processes and
    between the HTML reply form, the API reply and the API new ticket."""
    owner, *people = site.add_users("burst-", BURST_CLIENTS + 1)
    ticket_id = a_ticket(site, owner, "Everyone replies here")
    category_id, priority_id = site.run(
        lambda s: s.execute(
            sa.select(Ticket.category_id, Ticket.ticket_priority_id).where(Ticket.id == ticket_id)
        ).one()
    )
    browsers = {}
    tokens = {}
    for n, name in enumerate(people):
        browser = Browser(address=f"198.51.100.{100 + n}")
        browser.log_in((site.a, site.b)[n % 2], name, PASSWORD)
        browsers[name] = browser
        answer = browser.request(
            (site.a, site.b)[n % 2],
            "POST",
            "/flicket-api/tokens",
            headers=basic_auth(name, PASSWORD),
        )
        tokens[name] = answer.json()["token"]

    acknowledged, failed = [], []
    lock = threading.Lock()
    barrier = threading.Barrier(len(people))
    per_process = Counter()

    def person(n, name):
        browser = browsers[name]
        barrier.wait()
        for k in range(BURST_WRITES_EACH):
            port = (site.a, site.b)[(n + k) % 2]
            text = f"Burst write {k} by {name}"
            kind = ("form reply", "api reply", "api ticket")[k % 3]
            if kind == "form reply":
                path, fields = reply_fields(browser, port, ticket_id, text)
                answer = browser.request(port, "POST", path, form=fields)
                ok = answer.status == 302
            elif kind == "api reply":
                answer = browser.request(
                    port,
                    "POST",
                    f"/flicket-api/ticket/{ticket_id}/replies",
                    body=json.dumps({"content": text}).encode(),
                    content_type="application/json",
                    headers={
                        "Authorization": f"Bearer {tokens[name]}",
                        "Accept": "application/json",
                    },
                )
                ok = answer.status == 201
            else:
                answer = browser.request(
                    port,
                    "POST",
                    "/flicket-api/tickets",
                    body=json.dumps(
                        {
                            "title": text,
                            "content": "One of the burst's tickets.",
                            "category_id": category_id,
                            "ticket_priority_id": priority_id,
                        }
                    ).encode(),
                    content_type="application/json",
                    headers={
                        "Authorization": f"Bearer {tokens[name]}",
                        "Accept": "application/json",
                    },
                )
                ok = answer.status == 201
            with lock:
                per_process["A" if port == site.a else "B"] += 1
                (acknowledged if ok else failed).append((kind, text, answer.status))

    threads = [threading.Thread(target=person, args=(n, name)) for n, name in enumerate(people)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert failed == []

    def stored(session):
        replies = Counter(
            session.scalars(
                sa.select(Post.content).where(
                    Post.ticket_id == ticket_id, Post.content.like("Burst write %")
                )
            )
        )
        tickets = Counter(
            session.scalars(
                sa.select(Ticket.title).where(Ticket.title.like("Burst write % by burst-%"))
            )
        )
        posts = dict(
            session.execute(
                sa.select(User.username, User.total_posts).where(User.username.in_(people))
            ).all()
        )
        return replies, tickets, posts

    replies, tickets, posts = site.run(stored)
    expected_replies = Counter(t for kind, t, _ in acknowledged if kind != "api ticket")
    expected_tickets = Counter(t for kind, t, _ in acknowledged if kind == "api ticket")
    total = len(people) * BURST_WRITES_EACH
    assert len(acknowledged) == total
    assert replies == expected_replies  # each acknowledged reply once: none lost, none twice
    assert tickets == expected_tickets
    # Counters exact (updated in SQL): a new ticket counts as a post too, as in Flicket.
    assert posts == {name: BURST_WRITES_EACH for name in people}
    print(
        f"\n[{site.kind}/{site.store}] burst: {len(people)} people x {BURST_WRITES_EACH} "
        f"writes = {total} at once ({per_process['A']} on A, {per_process['B']} on B): "
        f"{sum(replies.values())} replies + {sum(tickets.values())} tickets stored, "
        f"0 lost, 0 duplicated"
    )


# -- the mail queue ---------------------------------------------------------------------------


def test_both_processes_queue_mail_in_one_folder_and_one_drain_sends_it_once(
    site, smtp, no_errors_logged
):
    smtp.handler.received.clear()
    before = set(os.listdir(site.queue_dir / "new"))  # left by the tests before
    owner, replier = site.add_users("mail-", 2)
    ticket_id = a_ticket(site, owner)
    browser = Browser(address="198.51.100.40")
    browser.log_in(site.a, replier, PASSWORD)
    for n, port in enumerate((site.a, site.b, site.a, site.b)):
        path, fields = reply_fields(browser, port, ticket_id, f"Queued reply {n}")
        assert browser.request(port, "POST", path, form=fields).status == 302
    queued = sorted(os.listdir(site.queue_dir / "new"))
    assert len(set(queued) - before) >= 4  # each reply notifies the ticket's subscribers

    results = [None, None]

    def drain(index):
        results[index] = subprocess.run(  # noqa: S603 - our own command
            [tool("flicket-mail-queue"), str(site.ini), "--once"],
            env=site.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    drains = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    for thread in drains:
        thread.start()
    for thread in drains:
        thread.join()
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    received = [message["Subject"] for _sender, _to, message in smtp.handler.received]
    assert len(received) == len(queued)
    assert os.listdir(site.queue_dir / "new") == []
    print(
        f"\n[{site.kind}/{site.store}] mail: 4 replies (2 on A, 2 on B) queued "
        f"{len(set(queued) - before)} messages (beside {len(before)} from earlier tests) in "
        f"the shared folder; two drains at once sent "
        f"{len(received)}, each once"
    )
