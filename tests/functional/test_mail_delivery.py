"""Queued mail delivery against a real SMTP server on loopback (SECURITY-TESTS 0.4, REL-2,
REL-6; PRODUCT §4, §5).

With ``flicket.mail.mode = queue`` a request only writes its messages into a maildir queue
when its transaction commits; ``flicket-mail-queue`` sends them later with the SMTP
settings of the site configuration. The SMTP server here is aiosmtpd on a free loopback
port, told to accept, to refuse (4xx, then 5xx), to require a login, to hang, or stopped:
tickets and replies are saved at normal speed every time, and every message is delivered
exactly once when the server takes it.
"""

import contextlib
import email
import email.policy
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
import transaction
import webtest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from pyramid.paster import get_app

import flicket.admin.services as admin_services
from flicket import main
from flicket.accounts.models import User
from flicket.accounts.passwords import hash_password
from flicket.admin.models import Config
from flicket.admin.services import encrypt_mail_password, mailer_from_config
from flicket.db import get_engine, get_session_factory, get_tm_session
from flicket.install import seed, upgrade_database
from flicket.scripts import mailqueue
from flicket.tickets.models import Post, Subscription, Ticket
from flicket.tickets.services import TicketService
from tests.conftest import BCRYPT_TEST_ROUNDS, PASSWORD, login
from tests.factories import category, make_ticket

SENDER = "helpdesk@example.org"
REPLY_RE = re.compile(r'"(Reply \d [^"]*)"')


# -- a fake SMTP server on loopback ---------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Handler:
    """Accepts everything unless told otherwise; records what it accepted."""

    def __init__(self):
        self.received = []  # (envelope sender, [recipients], parsed message)
        self.rcpt_answers = []  # answers for the next RCPT commands, in order
        self.data_answers = []  # answers for the next DATA commands, in order
        self.refused = {}  # address -> answer, every time

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return self.refused[address]
        if self.rcpt_answers:
            return self.rcpt_answers.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_answers:
            return self.data_answers.pop(0)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class FakeSMTP:
    """aiosmtpd on one loopback port that can be started, stopped, or made to hang."""

    def __init__(self):
        self.port = free_port()
        self.handler = Handler()
        self.controller = None
        self.hanging = None
        self.logins = []

    def start(self, require_login=None):
        """Accept mail; with ``require_login=(user, password)``, only after that login."""
        options = {}
        if require_login is not None:

            def authenticator(server, session, envelope, mechanism, auth_data):
                self.logins.append(auth_data.login.decode())
                ok = (auth_data.login.decode(), auth_data.password.decode()) == require_login
                return AuthResult(success=ok)

            options = {
                "authenticator": authenticator,
                "auth_required": True,
                "auth_require_tls": False,
            }
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    def hang(self):
        """Accept connections and never answer (no greeting)."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.settimeout(0.05)
        held, done = [], threading.Event()

        def accept():
            while not done.is_set():
                try:
                    connection, _ = listener.accept()
                except TimeoutError:
                    continue
                held.append(connection)
            listener.close()

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        self.hanging = (thread, done, held)

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
        if self.hanging is not None:
            thread, done, held = self.hanging
            done.set()
            thread.join()
            for connection in held:
                connection.close()
            self.hanging = None

    @property
    def recipients(self):
        return sorted(address for _sender, rcpts, _m in self.handler.received for address in rcpts)


@pytest.fixture
def smtp():
    server = FakeSMTP()
    yield server
    server.stop()


# -- the application in queue mode, on the test database ------------------------------------------


@pytest.fixture(scope="module")
def queue_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("mail-queue")


def build_app(app_settings, **mail_settings):
    """The application built by ``main()`` with other mail settings, on the same (already
    set up) database as the other tests."""
    saved = {
        k: os.environ.pop(k) for k in ("FLICKET_DATABASE_URL", "FLICKET_SECRET") if k in os.environ
    }
    try:
        return main({}, **{**app_settings, **mail_settings})
    finally:
        os.environ.update(saved)


@pytest.fixture(scope="module")
def queue_app(wsgi_app, app_settings, queue_dir):
    app = build_app(
        app_settings, **{"flicket.mail.mode": "queue", "flicket.mail.queue_dir": str(queue_dir)}
    )
    yield app
    app.registry["dbengine"].dispose()


@pytest.fixture(scope="module")
def smtp_app(wsgi_app, app_settings):
    app = build_app(app_settings, **{"flicket.mail.mode": "smtp"})
    yield app
    app.registry["dbengine"].dispose()


def clear_queue(queue_dir):
    for folder in ("new", "cur", "tmp", "failed"):
        path = Path(queue_dir) / folder
        if path.is_dir():
            for item in path.iterdir():
                item.unlink()


def browser(app, connection):
    """A browser on ``app`` whose sessions join the test's connection (then released)."""
    factory = app.registry["dbsession_factory"]
    factory.configure(bind=connection, join_transaction_mode="create_savepoint")
    yield webtest.TestApp(
        app, extra_environ={"HTTP_HOST": "example.com", "REMOTE_ADDR": "192.0.2.10"}
    )
    factory.configure(
        bind=app.registry["dbengine"], join_transaction_mode="conservative_savepoint"
    )
    app.registry["ratelimit_store"].reset()


@pytest.fixture
def client(queue_app, connection, queue_dir):
    """A browser on the queue-mode application."""
    clear_queue(queue_dir)
    yield from browser(queue_app, connection)
    clear_queue(queue_dir)


@pytest.fixture
def smtp_client(smtp_app, connection):
    """A browser on the application in direct ``smtp`` mode."""
    yield from browser(smtp_app, connection)


def site_config(dbsession):
    return dbsession.scalars(sa.select(Config).order_by(Config.id)).first()


@pytest.fixture
def site(dbsession, smtp):
    """The site configuration pointing at the fake SMTP server (not started yet)."""
    config = site_config(dbsession)
    config.mail_server = "127.0.0.1"
    config.mail_port = smtp.port
    config.mail_use_tls = False
    config.mail_use_ssl = False
    config.mail_username = None
    config.mail_password = None
    config.mail_default_sender = SENDER
    config.mail_suppress_send = False
    config.mail_debug = False
    config.base_url = "https://desk.example.org"
    dbsession.flush()
    return config


@pytest.fixture
def ticket(dbsession, users, site):
    """Alice's ticket with carol subscribed too: a reply by bob notifies both."""
    t = make_ticket(dbsession, users["alice"], "Printer on fire")
    dbsession.add(Subscription(ticket_id=t.id, user_id=users["carol"].id))
    dbsession.flush()
    return t


def queued(queue_dir):
    return mailqueue.queued_files(str(queue_dir))


def files_in(queue_dir, folder):
    path = Path(queue_dir) / folder
    return sorted(p.name for p in path.iterdir()) if path.is_dir() else []


def drain(queue_app, dbsession, queue_dir):
    """One pass of the drain with the site configuration as the test arranged it."""
    config = site_config(dbsession)
    settings = queue_app.registry.settings
    mailer = mailer_from_config(settings, config).smtp_mailer
    where = admin_services.smtp_address(settings, config)
    return mailqueue.drain_queue(
        str(queue_dir),
        mailer,
        suppressed=bool(config.mail_suppress_send),
        describe=lambda error: admin_services.describe_mail_error(error, *where),
    )


@contextlib.contextmanager
def smtp_connections():
    """The SMTP connections opened inside the block (a request that only writes a queue file
    must not wait for any mail server: it opens none)."""
    opened = []
    real_connect = smtplib.SMTP.connect

    def connect(self, *args, **kwargs):
        opened.append(args)
        return real_connect(self, *args, **kwargs)

    with mock.patch.object(smtplib.SMTP, "connect", connect):
        yield opened


def reply(app, ticket, content="Have you tried turning it off and on again?", **kw):
    """Reply through the ticket page; returns how many SMTP connections the request opened."""
    path = f"/ticket_view/{ticket.id}/"
    page = app.get(path)
    form = next(f for f in page.forms.values() if urlsplit(f.action).path == path)
    form["content"] = content
    with smtp_connections() as opened:
        form.submit("reply", status=kw.pop("status", 302), **kw)
    return len(opened)


def post_count(dbsession, ticket_id):
    dbsession.expire_all()
    return dbsession.scalar(
        sa.select(sa.func.count()).select_from(Post).where(Post.ticket_id == ticket_id)
    )


# -- queueing -------------------------------------------------------------------------------------


def test_a_reply_queues_one_message_per_recipient(client, ticket, queue_dir, dbsession):
    login(client, "bob")
    reply(client, ticket)
    assert post_count(dbsession, ticket.id) == 1

    files = queued(queue_dir)
    assert len(files) == 2
    assert files_in(queue_dir, "tmp") == []
    envelopes = []
    for path in files:
        sender, recipients, message = mailqueue.read_message(path)
        envelopes.append((sender, tuple(recipients)))
        assert (
            message["Subject"] == f'Ticket #{ticket.id_zfill} - "Printer on fire" has new replies.'
        )
        assert message["To"] == recipients[0]
        assert message.get_content_type() == "multipart/alternative"
        assert message["X-Actually-To"] is None  # the envelope headers are not sent
    assert sorted(envelopes) == [
        (SENDER, ("alice@example.com",)),
        (SENDER, ("carol@example.com",)),
    ]


def test_a_request_that_fails_queues_nothing(client, ticket, queue_dir, dbsession, monkeypatch):
    original = TicketService.reply

    def reply_then_fail(self, *args, **kwargs):
        original(self, *args, **kwargs)  # the notices are written to tmp/ by now
        raise RuntimeError("something broke after the reply")

    monkeypatch.setattr(TicketService, "reply", reply_then_fail)
    login(client, "bob")
    reply(client, ticket, status=500)
    assert post_count(dbsession, ticket.id) == 0
    assert queued(queue_dir) == []
    assert files_in(queue_dir, "tmp") == []  # the aborted transaction removed its files


def test_suppress_sending_queues_nothing_and_says_so(
    client, ticket, site, queue_dir, dbsession, caplog
):
    site.mail_suppress_send = True
    dbsession.flush()
    login(client, "bob")
    with caplog.at_level("INFO", logger="flicket.mail"):
        reply(client, ticket)
    assert post_count(dbsession, ticket.id) == 1
    assert queued(queue_dir) == []
    assert files_in(queue_dir, "tmp") == []
    suppressed = [r.getMessage() for r in caplog.records if "Suppress sending" in r.getMessage()]
    assert len(suppressed) == 2
    assert any("carol@example.com" in line for line in suppressed)


# -- delivery -------------------------------------------------------------------------------------


def test_the_drain_delivers_each_message_once(
    client, ticket, smtp, queue_app, queue_dir, dbsession
):
    smtp.start()
    login(client, "bob")
    reply(client, ticket, "The toner <was> empty & replaced.")

    result = drain(queue_app, dbsession, queue_dir)
    assert (result.delivered, result.failed, result.kept, result.remaining) == (2, 0, 0, 0)
    assert smtp.recipients == ["alice@example.com", "carol@example.com"]
    for sender, recipients, message in smtp.handler.received:
        assert sender == SENDER
        assert message["To"] == recipients[0]
        assert (
            message["Subject"] == f'Ticket #{ticket.id_zfill} - "Printer on fire" has new replies.'
        )
        assert "X-Actually-To" not in message and "X-Actually-From" not in message
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        assert "The toner <was> empty & replaced." in text
        assert "The toner &lt;was&gt; empty &amp; replaced." in html
        assert f"https://desk.example.org/ticket_view/{ticket.id}/" in text
    assert queued(queue_dir) == []

    # Nothing is sent twice.
    again = drain(queue_app, dbsession, queue_dir)
    assert (again.delivered, again.remaining) == (0, 0)
    assert len(smtp.handler.received) == 2


@pytest.mark.parametrize(
    "stage, answer",
    [
        ("rcpt", "450 4.2.0 Mailbox busy, try again later"),
        ("rcpt", "451 4.7.1 Greylisted, please try again later"),
        ("data", "452 4.3.1 Insufficient system storage"),
        ("rcpt", "421 4.3.2 Service shutting down"),
    ],
)
def test_a_temporary_refusal_keeps_the_message_for_the_next_pass(
    client, ticket, smtp, queue_app, queue_dir, dbsession, stage, answer
):
    smtp.start()
    getattr(smtp.handler, f"{stage}_answers").append(answer)  # refuses the next one only
    login(client, "bob")
    reply(client, ticket)

    first = drain(queue_app, dbsession, queue_dir)
    assert first.failed == 0
    if answer.startswith("421"):
        # The server closes the connection: the pass stops, both messages wait.
        assert (first.delivered, first.kept, first.remaining) == (0, 2, 2)
        assert first.server_error
    else:
        assert (first.delivered, first.kept, first.remaining) == (1, 1, 1)
    assert files_in(queue_dir, "failed") == []

    second = drain(queue_app, dbsession, queue_dir)
    assert second.remaining == 0 and second.failed == 0
    assert smtp.recipients == ["alice@example.com", "carol@example.com"]  # once each


def test_a_permanent_refusal_moves_the_message_to_failed(
    client, ticket, smtp, queue_app, queue_dir, dbsession, caplog
):
    smtp.handler.refused["carol@example.com"] = "550 5.1.1 User unknown"
    smtp.start()
    login(client, "bob")
    reply(client, ticket)

    with caplog.at_level("ERROR", logger="flicket.scripts.mailqueue"):
        result = drain(queue_app, dbsession, queue_dir)
    assert (result.delivered, result.failed, result.remaining) == (1, 1, 0)
    assert smtp.recipients == ["alice@example.com"]
    failed = files_in(queue_dir, "failed")
    assert len(failed) == 1
    _sender, recipients, _message = mailqueue.read_message(Path(queue_dir) / "failed" / failed[0])
    assert recipients == ["carol@example.com"]
    assert "carol@example.com" in caplog.text and "550 5.1.1 User unknown" in caplog.text
    assert "moved to" in caplog.text

    # A failed message is not tried again.
    again = drain(queue_app, dbsession, queue_dir)
    assert (again.delivered, again.failed, again.remaining) == (0, 0, 0)
    assert smtp.recipients == ["alice@example.com"]


def test_with_the_server_stopped_replies_are_saved_fast_and_sent_once_it_is_back(
    client, ticket, smtp, queue_app, queue_dir, dbsession, users
):
    login(client, "bob")
    # The server is down (nothing listens on its port).
    down = [reply(client, ticket, f"Reply {n} while the server is down.") for n in range(5)]
    assert post_count(dbsession, ticket.id) == 5
    assert len(queued(queue_dir)) == 10
    assert down == [0] * 5

    result = drain(queue_app, dbsession, queue_dir)
    assert (result.delivered, result.failed, result.kept, result.remaining) == (0, 0, 10, 10)
    assert result.server_error.startswith(f"Could not connect to 127.0.0.1:{smtp.port}:")
    assert mailqueue.summary(result) == (
        f"Sent 0 messages. {result.server_error.rstrip('.')}. "
        "10 messages left in the queue for the next pass."
    )

    smtp.start()
    up = [reply(client, ticket, f"Reply {n} with the server up.") for n in range(2)]
    assert up == [0, 0]
    result = drain(queue_app, dbsession, queue_dir)
    assert (result.delivered, result.remaining) == (14, 0)
    subjects = {m["Subject"] for _s, _r, m in smtp.handler.received}
    assert subjects == {f'Ticket #{ticket.id_zfill} - "Printer on fire" has new replies.'}
    replies = sorted(
        (r[0], REPLY_RE.search(m.get_body(preferencelist=("plain",)).get_content()).group(1))
        for _s, r, m in smtp.handler.received
    )
    expected = [f"Reply {n} while the server is down." for n in range(5)]
    expected += [f"Reply {n} with the server up." for n in range(2)]
    # Every reply, once to each recipient, none twice.
    assert replies == sorted(
        (address, text)
        for text in expected
        for address in ("alice@example.com", "carol@example.com")
    )
    assert drain(queue_app, dbsession, queue_dir).delivered == 0


def test_a_new_ticket_with_the_server_down_is_saved_once_and_queued(
    client, site, smtp, queue_app, queue_dir, dbsession, users
):
    login(client, "alice")
    page = client.get("/ticket_create/")
    form = next(f for f in page.forms.values() if urlsplit(f.action).path == "/ticket_create/")
    form["title"] = "Server room too hot"
    form["content"] = "It is 35 degrees in there."
    form["category"] = str(category(dbsession, "IT", "Other").id)
    with smtp_connections() as opened:
        response = form.submit(status=302)
    assert opened == []
    ticket_id = int(urlsplit(response.location).path.split("/")[2])
    dbsession.expire_all()
    assert (
        dbsession.scalar(
            sa.select(sa.func.count())
            .select_from(Ticket)
            .where(Ticket.title == "Server room too hot")
        )
        == 1
    )
    [path] = queued(queue_dir)
    assert mailqueue.read_message(path)[1] == ["alice@example.com"]

    smtp.start()
    assert drain(queue_app, dbsession, queue_dir).delivered == 1
    [(_sender, recipients, message)] = smtp.handler.received
    assert recipients == ["alice@example.com"]
    assert message["Subject"] == (
        f'Ticket #{str(ticket_id).zfill(5)} - "Server room too hot" has been created.'
    )


def test_a_server_that_never_answers_slows_neither_requests_nor_the_queue_forever(
    client, ticket, smtp, queue_app, queue_dir, dbsession, monkeypatch
):
    monkeypatch.setattr(admin_services, "SMTP_TIMEOUT", 1)
    smtp.hang()
    login(client, "bob")
    assert reply(client, ticket) == 0
    assert post_count(dbsession, ticket.id) == 1

    with smtp_connections() as opened:
        result = drain(queue_app, dbsession, queue_dir)
    # One connection attempt times out; the pass stops instead of waiting for each message.
    assert len(opened) == 1
    assert (result.delivered, result.kept, result.remaining) == (0, 2, 2)
    assert result.server_error

    smtp.stop()
    smtp.start()
    assert drain(queue_app, dbsession, queue_dir).delivered == 2
    assert smtp.recipients == ["alice@example.com", "carol@example.com"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_the_login_comes_from_the_site_configuration(
    client, ticket, site, smtp, queue_app, queue_dir, dbsession, monkeypatch
):
    """The encrypted SMTP password of the config row is used; a refused login (or none)
    keeps the mail queued rather than failing it."""
    # After refusing one mechanism aiosmtpd never answers smtplib's next one: the client
    # gives up at its timeout.
    monkeypatch.setattr(admin_services, "SMTP_TIMEOUT", 1)
    smtp.start(require_login=("desk", "right horse battery"))
    login(client, "bob")
    reply(client, ticket)

    refused = drain(queue_app, dbsession, queue_dir)  # no login configured: 530 on MAIL FROM
    assert (refused.delivered, refused.failed, refused.remaining) == (0, 0, 2)

    site.mail_username = "desk"
    site.mail_password = encrypt_mail_password(queue_app.registry.settings, "wrong")
    dbsession.flush()
    refused = drain(queue_app, dbsession, queue_dir)  # 535 on AUTH
    assert (refused.delivered, refused.failed, refused.remaining) == (0, 0, 2)

    site.mail_password = encrypt_mail_password(queue_app.registry.settings, "right horse battery")
    dbsession.flush()
    result = drain(queue_app, dbsession, queue_dir)
    assert (result.delivered, result.remaining) == (2, 0)
    assert smtp.recipients == ["alice@example.com", "carol@example.com"]
    assert set(smtp.logins) == {"desk"}


def test_suppress_sending_holds_what_is_already_queued(
    client, ticket, site, smtp, queue_app, queue_dir, dbsession
):
    smtp.start()
    login(client, "bob")
    reply(client, ticket)
    site.mail_suppress_send = True
    dbsession.flush()
    held = drain(queue_app, dbsession, queue_dir)
    assert held.held and held.remaining == 2
    assert smtp.handler.received == []
    site.mail_suppress_send = False
    dbsession.flush()
    assert drain(queue_app, dbsession, queue_dir).delivered == 2


def test_only_one_drain_works_on_the_queue_at_a_time(
    client, ticket, smtp, queue_app, queue_dir, dbsession
):
    smtp.start()
    login(client, "bob")
    reply(client, ticket)
    with mailqueue.queue_lock(str(queue_dir)) as mine:
        assert mine
        busy = drain(queue_app, dbsession, queue_dir)
    assert busy.busy and busy.delivered == 0 and busy.remaining == 2
    assert smtp.handler.received == []
    assert drain(queue_app, dbsession, queue_dir).delivered == 2


# -- the direct smtp mode, and sending at once ----------------------------------------------------


def test_smtp_mode_sends_after_the_commit_with_the_site_settings(
    smtp_client, ticket, smtp, dbsession, monkeypatch
):
    smtp.start()
    login(smtp_client, "bob")
    reply(smtp_client, ticket, "Sent straight away.")
    assert post_count(dbsession, ticket.id) == 1
    assert smtp.recipients == ["alice@example.com", "carol@example.com"]
    for sender, _recipients, message in smtp.handler.received:
        assert sender == SENDER
        assert '"Sent straight away."' in message.get_body(("plain",)).get_content()

    # A request that fails after the reply sends nothing.
    original = TicketService.reply

    def reply_then_fail(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise RuntimeError("something broke after the reply")

    monkeypatch.setattr(TicketService, "reply", reply_then_fail)
    reply(smtp_client, ticket, "Never sent.", status=500)
    assert post_count(dbsession, ticket.id) == 1
    assert len(smtp.handler.received) == 2


def test_smtp_mode_with_the_server_down_saves_the_reply_and_logs(
    smtp_client, ticket, smtp, dbsession, caplog
):
    login(smtp_client, "bob")
    with caplog.at_level("ERROR", logger="flicket.mail"):
        attempts = reply(smtp_client, ticket)
    assert attempts == 2  # one refused attempt per notice, each logged, none retried
    assert post_count(dbsession, ticket.id) == 1
    failures = [r.getMessage() for r in caplog.records if "could not be sent" in r.getMessage()]
    assert len(failures) == 2
    assert any("carol@example.com" in line for line in failures)


def test_the_admin_test_email_in_queue_mode_is_sent_at_once(client, site, smtp, dbsession, users):
    smtp.start()
    login(client, "admin")
    page = client.get("/flicket_admin/test_email/")
    form = next(
        f
        for f in page.forms.values()
        if urlsplit(f.action or "/flicket_admin/test_email/").path == "/flicket_admin/test_email/"
        and "email_address" in f.fields
    )
    form["email_address"] = "ops@example.com"
    response = form.submit(status=302)
    assert "A test email was sent to ops@example.com." in response.follow().text
    [(sender, recipients, message)] = smtp.handler.received
    assert (sender, recipients, message["Subject"]) == (
        SENDER,
        ["ops@example.com"],
        "Flicket Test Email",
    )


# -- the flicket-mail-queue command, on a site of its own -----------------------------------------


class Site:
    """A real installation: an ini file, its own SQLite database, committed data."""

    def __init__(self, root, smtp):
        self.root = root
        self.smtp = smtp
        self.queue_dir = root / "var" / "mail-queue"
        self.ini = root / "flicket.ini"
        self.ini.write_text(
            "[app:main]\n"
            "use = egg:flicket\n"
            f"sqlalchemy.url = sqlite:///{root}/flicket.sqlite\n"
            f"flicket.secret_file = {root}/secret\n"
            f"flicket.data_dir = {root}/var\n"
            f"flicket.bcrypt_rounds = {BCRYPT_TEST_ROUNDS}\n"
            "flicket.mail.mode = queue\n"
        )
        self.engine = get_engine({"sqlalchemy.url": f"sqlite:///{root}/flicket.sqlite"})
        upgrade_database(self.engine)
        with self.session() as session:
            seed(session, "https://desk.example.org")
            for username in ("alice", "bob"):
                session.add(
                    User(
                        username=username,
                        name=username.capitalize() + " Example",
                        email=f"{username}@example.com",
                        password=hash_password(PASSWORD, BCRYPT_TEST_ROUNDS),
                        disabled=False,
                        total_posts=0,
                        total_assigned=0,
                    )
                )
        self.configure(
            mail_server="127.0.0.1",
            mail_port=smtp.port,
            mail_use_tls=False,
            mail_use_ssl=False,
            mail_default_sender=SENDER,
            mail_suppress_send=False,
            mail_debug=False,
        )
        self.wsgi = get_app(str(self.ini))
        self.app = webtest.TestApp(self.wsgi, extra_environ={"HTTP_HOST": "x.test"})

    def session(self):
        manager = transaction.TransactionManager(explicit=True)

        class Block:
            def __enter__(block):
                manager.begin()
                return get_tm_session(get_session_factory(self.engine), manager)

            def __exit__(block, kind, value, tb):
                if kind is None:
                    manager.commit()
                else:
                    manager.abort()

        return Block()

    def configure(self, **values):
        with self.session() as session:
            config = session.scalars(sa.select(Config)).first()
            for name, value in values.items():
                setattr(config, name, value)

    def ticket_with_reply(self):
        """Alice raises a ticket (queued: a notice to alice), bob replies (one to alice)."""
        login(self.app, "alice")
        page = self.app.get("/ticket_create/")
        form = next(f for f in page.forms.values() if urlsplit(f.action).path == "/ticket_create/")
        form["title"] = "Projector flickers"
        form["content"] = "In room 4."
        response = form.submit(status=302)
        self.app.reset()
        login(self.app, "bob")
        path = urlsplit(response.location).path
        page = self.app.get(path)
        form = next(f for f in page.forms.values() if urlsplit(f.action).path == path)
        form["content"] = "On my way."
        form.submit("reply", status=302)
        self.app.reset()

    def queued(self):
        return mailqueue.queued_files(str(self.queue_dir))

    def close(self):
        self.wsgi.registry["dbengine"].dispose()
        self.engine.dispose()


@pytest.fixture
def cli_site(tmp_path, smtp, monkeypatch):
    for name in ("FLICKET_DATABASE_URL", "FLICKET_SECRET", "FLICKET_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    installed = Site(tmp_path, smtp)
    yield installed
    installed.close()


def run_cli(*argv):
    """Run the command in this process: (exit code, what it printed)."""
    lines = []
    code = mailqueue.run_main(
        "flicket-mail-queue",
        mailqueue.parser(),
        lambda args, out: mailqueue.run(args, lines.append),
        [str(a) for a in argv],
    )
    return code, "\n".join(lines)


def test_command_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        mailqueue.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "flicket-mail-queue" in text and "--once" in text and "--interval SECONDS" in text
    assert "flicket-mail-queue /etc/flicket/production.ini --once" in text
    assert "failed/" in text


def test_command_refuses_a_bad_interval(cli_site, capsys):
    assert mailqueue.main([str(cli_site.ini), "--interval", "0"]) == 2
    assert "--interval must be more than 0 seconds" in capsys.readouterr().err


def test_command_once_with_the_server_down_then_up(cli_site, smtp):
    cli_site.ticket_with_reply()
    assert len(cli_site.queued()) == 2  # the creation notice and the reply notice, to alice

    code, output = run_cli(cli_site.ini, "--once")
    assert code == 1
    assert f"Could not connect to 127.0.0.1:{smtp.port}" in output
    assert "2 messages left in the queue" in output
    assert len(cli_site.queued()) == 2

    smtp.start()
    code, output = run_cli(cli_site.ini, "--once")
    assert (code, output) == (0, "Sent 2 messages.")
    assert smtp.recipients == ["alice@example.com", "alice@example.com"]
    subjects = sorted(m["Subject"] for _s, _r, m in smtp.handler.received)
    assert subjects == [
        'Ticket #00001 - "Projector flickers" has been created.',
        'Ticket #00001 - "Projector flickers" has new replies.',
    ]
    assert cli_site.queued() == []

    assert run_cli(cli_site.ini, "--once") == (0, "Sent 0 messages.")
    assert len(smtp.handler.received) == 2


def test_command_once_reports_failed_messages(cli_site, smtp):
    smtp.handler.refused["alice@example.com"] = "554 5.7.1 Rejected by policy"
    smtp.start()
    cli_site.ticket_with_reply()
    code, output = run_cli(cli_site.ini, "--once")
    assert code == 1
    assert output == "Sent 0 messages, 2 refused for good (moved to failed/)."
    assert len(list((cli_site.queue_dir / "failed").iterdir())) == 2


def test_command_once_while_sending_is_suppressed(cli_site, smtp):
    smtp.start()
    cli_site.ticket_with_reply()
    cli_site.configure(mail_suppress_send=True)
    code, output = run_cli(cli_site.ini, "--once")
    assert code == 0
    assert "Suppress sending" in output and "2 messages kept in the queue" in output
    assert smtp.handler.received == []
    assert len(cli_site.queued()) == 2


@pytest.mark.slow
def test_command_as_a_service_sends_as_mail_arrives_and_stops_on_sigterm(cli_site, smtp):
    smtp.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLICKET_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flicket.scripts.mailqueue",
            str(cli_site.ini),
            "--interval",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        cli_site.ticket_with_reply()
        # The server records a message before the sender hears its answer and removes the
        # file from the queue: wait for both.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (
            len(smtp.handler.received) < 2 or cli_site.queued()
        ):
            time.sleep(0.1)
        assert smtp.recipients == ["alice@example.com", "alice@example.com"]
        assert cli_site.queued() == []
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert "Sent 2 messages." in output or "Sent 1 message." in output
    assert output.rstrip().endswith("Stopped.")
    time.sleep(0.5)
    assert len(smtp.handler.received) == 2  # nothing sent twice
