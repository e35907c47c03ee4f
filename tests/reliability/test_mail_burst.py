"""SMTP down during a burst of concurrent replies (REL-2).

The site sends mail through the transactional queue (``flicket.mail.mode = queue``): each
request writes its notices into the maildir queue when its transaction commits, and
``flicket-mail-queue`` (here: ``mailqueue.drain_queue``) sends them later. With the SMTP
server down, 20 replies arrive at the same moment (each in a browser of its own, on a
committed database): every reply is saved exactly once and answered normally, every notice
waits in the queue; once the server is back, one drain delivers each notice exactly once
and a second drain sends nothing more.
"""

import re
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

import flicket.admin.services as admin_services
from flicket.admin.models import Config
from flicket.scripts import mailqueue
from flicket.tickets.models import Post, Subscription
from tests.functional.test_mail_delivery import SENDER, FakeSMTP
from tests.reliability.committed import CommittedSite, run_together

BURST = 20
REPLY_RE = re.compile(r'"(Burst reply \d+ [^"]*)"')


@pytest.fixture
def smtp():
    server = FakeSMTP()
    yield server
    server.stop()


@pytest.fixture
def site(db_url, tmp_path, smtp):
    queue_dir = tmp_path / "mail-queue"
    committed = CommittedSite(
        db_url,
        tmp_path,
        **{"flicket.mail.mode": "queue", "flicket.mail.queue_dir": str(queue_dir)},
    )
    committed.queue_dir = queue_dir
    with committed.session() as session:
        config = session.scalars(sa.select(Config).order_by(Config.id)).first()
        config.mail_server = "127.0.0.1"
        config.mail_port = smtp.port
        config.mail_use_tls = False
        config.mail_use_ssl = False
        config.mail_username = None
        config.mail_password = None
        config.mail_default_sender = SENDER
        config.mail_suppress_send = False
        config.base_url = "https://desk.example.org"
    yield committed
    committed.close()


def drain(site):
    with site.session() as session:
        config = session.scalars(sa.select(Config).order_by(Config.id)).first()
        settings = site.app.registry.settings
        mailer = admin_services.mailer_from_config(settings, config).smtp_mailer
        where = admin_services.smtp_address(settings, config)
        suppressed = bool(config.mail_suppress_send)
    return mailqueue.drain_queue(
        str(site.queue_dir),
        mailer,
        suppressed=suppressed,
        describe=lambda error: admin_services.describe_mail_error(error, *where),
    )


def test_a_burst_of_replies_with_smtp_down_is_saved_once_and_mailed_once_later(site, smtp):
    owner, watcher, *repliers = site.add_users(2 + BURST // 4, prefix="m")
    ticket_id = site.add_ticket(owner)
    with site.session() as session:
        session.add(Subscription(ticket_id=ticket_id, user_id=site.user(session, watcher).id))
    path = f"/ticket_view/{ticket_id}/"
    forms, texts = [], []
    for n in range(BURST):
        name = repliers[n % len(repliers)]
        page = site.client(name, address=f"192.0.2.{n + 1}").get(path)
        form = next(f for f in page.forms.values() if urlsplit(f.action).path == path)
        text = f"Burst reply {n} by {name}."
        form["content"] = text
        forms.append((name, form))
        texts.append((name, text))

    # The SMTP server is down: nothing listens on its port.
    responses = run_together(
        [lambda f=f: f.submit("reply", expect_errors=True) for _n, f in forms]
    )

    assert [r.status_int for r in responses] == [302] * BURST
    with site.session() as session:
        saved = session.scalars(sa.select(Post.content).where(Post.ticket_id == ticket_id)).all()
    assert sorted(saved) == sorted(text for _name, text in texts)  # each exactly once
    queued = mailqueue.queued_files(str(site.queue_dir))
    assert queued  # the notices wait in the queue
    down = drain(site)
    assert (down.delivered, down.failed) == (0, 0)
    assert down.remaining == len(queued) and down.server_error

    smtp.start()
    up = drain(site)
    assert (up.delivered, up.failed, up.remaining) == (len(queued), 0, 0)

    # Who must have been told of each reply: the owner and the watcher always; each
    # replier once subscribed by their own first committed reply, which only the commit
    # order decides; so check the owner and watcher exactly, and that no one got a reply
    # twice.
    received = []
    for _sender, recipients, message in smtp.handler.received:
        body = message.get_body(preferencelist=("plain",)).get_content()
        for address in recipients:
            received.append((address, REPLY_RE.search(body).group(1)))
    assert len(received) == len(set(received)), "a notice was delivered twice"
    for person in (owner, watcher):
        got = sorted(text for address, text in received if address == f"{person}@example.com")
        assert got == sorted(text for _name, text in texts), person
    for name in repliers:  # nobody is told of their own reply
        assert not any(
            address == f"{name}@example.com" and f" by {name}." in text
            for address, text in received
        )
    assert drain(site).delivered == 0
    assert len(smtp.handler.received) == len(queued)
