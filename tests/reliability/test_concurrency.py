"""Concurrent writers on one ticket, on SQLite, MariaDB and PostgreSQL (REL-3, REL-5, REL-7).

Every request here goes through the real WSGI application in its own thread with its own
browser (cookie jar), its own pooled connection and its own committed transaction
(``tests/reliability/committed.py``); a barrier releases them at the same moment. What
must hold afterwards: no request failed, no counter lost an update, no row is missing or
doubled, and of several people claiming one ticket exactly one got it.
"""

import threading
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from flicket import db
from flicket.tickets.models import Action, Post, Ticket
from tests.conftest import basic_auth, bearer
from tests.reliability.committed import THREADS, CommittedSite, csrf_of, run_together


@pytest.fixture(scope="module")
def site(db_url, tmp_path_factory):
    committed = CommittedSite(db_url, tmp_path_factory.mktemp("concurrency"))
    yield committed
    committed.close()


def reply_form(browser, ticket_id, content):
    path = f"/ticket_view/{ticket_id}/"
    page = browser.get(path)
    form = next(f for f in page.forms.values() if urlsplit(f.action).path == path)
    form["content"] = content
    return form


def flash_of(browser, response):
    """The text of the page a refusal or success redirects to (its flash message)."""
    return browser.get(response.location).html.select_one("main").get_text(" ", strip=True)


# -- REL-3 / REL-7: 50 replies at once --------------------------------------------------------


def test_fifty_concurrent_replies_are_all_saved_and_counted(site):
    """5 people reply 10 times each, all 50 at once (each reply in a browser of its own):
    50 replies, each person's total_posts up by exactly 10, one subscription each."""
    owner, *repliers = site.add_users(6)
    ticket_id = site.add_ticket(owner)
    per_person = THREADS // len(repliers)
    forms = []
    for n, name in enumerate(repliers):
        for k in range(per_person):
            browser = site.client(name, address=f"192.0.2.{n * per_person + k + 1}")
            forms.append(reply_form(browser, ticket_id, f"Reply {k} by {name}, all at once."))

    responses = run_together([lambda f=f: f.submit("reply", expect_errors=True) for f in forms])

    statuses = [r.status_int if not isinstance(r, Exception) else repr(r) for r in responses]
    assert statuses == [302] * THREADS
    assert site.posts_by(ticket_id) == {name: per_person for name in repliers}
    assert site.counters(owner) == (0, 0)  # arranged straight in the database
    for name in repliers:
        assert site.counters(name) == (per_person, 0), name
    # Each replier is subscribed once, however many of their replies raced to subscribe.
    assert site.subscriptions(ticket_id) == {owner: 1, **{name: 1 for name in repliers}}
    with site.session() as session:
        contents = session.scalars(sa.select(Post.content).where(Post.ticket_id == ticket_id))
        assert sorted(contents) == sorted(
            f"Reply {k} by {name}, all at once." for name in repliers for k in range(per_person)
        )


# -- REL-5: claims at once -------------------------------------------------------------------


def claim_request(browser, ticket_id, seen_assignee):
    """What the claim confirmation form sends: its CSRF token and the assignee it showed."""
    path = f"/ticket_claim/{ticket_id}/"
    token = csrf_of(browser.get(path))
    return lambda: browser.post(
        path, {"csrf_token": token, "assigned_id": seen_assignee}, expect_errors=True
    )


def test_ten_people_claiming_an_unassigned_ticket_at_once_one_gets_it(site):
    owner, *claimants = site.add_users(11, prefix="c")
    ticket_id = site.add_ticket(owner)
    browsers = [
        site.client(name, address=f"192.0.2.{100 + n}") for n, name in enumerate(claimants)
    ]
    jobs = [claim_request(b, ticket_id, "") for b in browsers]

    responses = run_together(jobs)

    assert [r.status_int for r in responses] == [302] * len(claimants)
    messages = [flash_of(b, r) for b, r in zip(browsers, responses, strict=True)]
    won = [i for i, text in enumerate(messages) if "You claimed ticket" in text]
    assert len(won) == 1, messages
    refused = [text for i, text in enumerate(messages) if i not in won]
    assert all("Someone else claimed this ticket" in text for text in refused), refused
    winner = claimants[won[0]]
    ticket = site.ticket(ticket_id)
    assert ticket.assigned_id == site.user_id(winner)
    for name in claimants:
        assert site.counters(name) == (0, 1 if name == winner else 0), name
    with site.session() as session:
        claims = session.scalars(
            sa.select(Action.action).where(Action.ticket_id == ticket_id, Action.action == "claim")
        ).all()
    assert claims == ["claim"]


def test_a_claim_shown_before_someone_else_took_the_ticket_is_refused(site):
    owner, first, second = site.add_users(3, prefix="s")
    ticket_id = site.add_ticket(owner)
    browser = site.client(second)
    late = claim_request(browser, ticket_id, "")  # its page showed nobody
    assert claim_request(site.client(first), ticket_id, "")().status_int == 302
    response = late()
    assert response.status_int == 302
    assert "Someone else claimed this ticket" in flash_of(browser, response)
    assert site.counters(first) == (0, 1) and site.counters(second) == (0, 0)


def test_a_damaged_claim_form_is_a_400_and_claims_nothing(site):
    owner, claimant = site.add_users(2, prefix="d")
    ticket_id = site.add_ticket(owner)
    response = claim_request(site.client(claimant), ticket_id, "not-an-id")()
    assert response.status_int == 400
    assert "The claim form is damaged; open it again." in response.text
    assert site.ticket(ticket_id).assigned_id is None
    assert site.counters(claimant) == (0, 0)


def test_concurrent_api_claims_keep_total_assigned_exact(site):
    """The API claim takes the ticket as it is (no form to say what was seen): the claims
    run one after another on the locked ticket row, and whoever holds it last has it.
    Whatever the order, total_assigned counts exactly the tickets each person holds."""
    owner, *claimants = site.add_users(9, prefix="a")
    ticket_id = site.add_ticket(owner)
    browser = site.client()
    tokens = [
        browser.post("/flicket-api/tokens", headers=basic_auth(name)).json["token"]
        for name in claimants
    ]

    def claim(token):
        return site.client().post(
            f"/flicket-api/ticket/{ticket_id}/claim", headers=bearer(token), expect_errors=True
        )

    responses = run_together([lambda t=t: claim(t) for t in tokens])

    assert [r.status_int for r in responses] == [200] * len(claimants)
    ticket = site.ticket(ticket_id)
    holder = next(n for n in claimants if site.user_id(n) == ticket.assigned_id)
    for name in claimants:
        assert site.counters(name) == (0, 1 if name == holder else 0), name
    with site.session() as session:
        claims = session.scalars(
            sa.select(sa.func.count()).where(
                Action.ticket_id == ticket_id, Action.action == "claim"
            )
        ).one()
    assert claims == len(claimants)


# -- REL-7: SQLite with several writers ------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_site(tmp_path_factory):
    """Always SQLite, whatever databases are configured: these are SQLite's own rules."""
    directory = tmp_path_factory.mktemp("sqlite-writers")
    committed = CommittedSite(f"sqlite:///{directory}/unused.sqlite", directory)
    yield committed
    committed.close()


def test_sqlite_is_set_up_for_concurrent_writers(sqlite_site):
    engine = sqlite_site.app.registry["dbengine"]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_eight_sqlite_writers_each_replying_ten_times_lose_nothing(sqlite_site):
    """8 threads, each a person replying 10 times in a row through the HTML form, while the
    others do the same: every request writes after reading (the ticket, the session), the
    case where a deferred SQLite transaction fails with "database is locked" at once."""
    owner, *writers = sqlite_site.add_users(9, prefix="w")
    ticket_id = sqlite_site.add_ticket(owner)
    browsers = [sqlite_site.client(n, address=f"192.0.2.{i + 1}") for i, n in enumerate(writers)]

    def ten_replies(browser, name):
        statuses = []
        for k in range(10):
            form = reply_form(browser, ticket_id, f"Reply {k} by {name}.")
            statuses.append(form.submit("reply", expect_errors=True).status_int)
        return statuses

    results = run_together(
        [lambda b=b, n=n: ten_replies(b, n) for b, n in zip(browsers, writers, strict=True)]
    )

    assert results == [[302] * 10] * len(writers)
    assert sqlite_site.posts_by(ticket_id) == {name: 10 for name in writers}
    for name in writers:
        assert sqlite_site.counters(name) == (10, 0)


def writing(engine):
    """A connection of ``engine`` whose next transaction is a writing request's."""
    token = db._sqlite_write_request.set(True)
    try:
        conn = engine.connect()
        conn.begin()
    finally:
        db._sqlite_write_request.reset(token)
    return conn


def test_sqlite_writers_of_one_process_queue_for_the_lock(tmp_path):
    """A second writer waits in the process's queue, not in SQLite's busy handler: with
    SQLite's busy timeout at 0 it would fail at once ("database is locked"); it starts
    the moment the first gives its connection back, whether it committed, rolled back or
    lost its connection."""
    engine = db.get_engine({"sqlalchemy.url": f"sqlite:///{tmp_path}/queue.sqlite"})
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        first = writing(engine)
        first.exec_driver_sql("INSERT INTO t VALUES (1)")
        began = threading.Event()
        outcome = []

        def second_writer():
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA busy_timeout = 0")
                conn.commit()
            try:
                conn = writing(engine)
                began.set()
                conn.exec_driver_sql("INSERT INTO t VALUES (2)")
                conn.commit()
                conn.close()
                outcome.append("written")
            except Exception as error:  # noqa: BLE001 - reported below
                outcome.append(error)

        thread = threading.Thread(target=second_writer)
        thread.start()
        assert not began.wait(0.5), "the second writer began while the first was open"
        first.commit()
        first.close()
        thread.join(30)
        assert outcome == ["written"]

        # Rolled back, or its connection lost: the next writer goes at once.
        conn = writing(engine)
        conn.rollback()
        conn.close()
        conn = writing(engine)
        conn.invalidate()
        conn.close()
        conn = writing(engine)
        conn.exec_driver_sql("INSERT INTO t VALUES (3)")
        conn.commit()
        conn.close()
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT n FROM t ORDER BY n").scalars().all() == [1, 2, 3]
    finally:
        engine.dispose()


# -- REL-5: a create form sent twice ---------------------------------------------------------


def create_form_of(browser, title):
    page = browser.get("/ticket_create/")
    form = next(f for f in page.forms.values() if urlsplit(f.action).path == "/ticket_create/")
    form["title"] = title
    form["content"] = "Sent twice by a double click."
    return form


def tickets_titled(site, title):
    with site.session() as session:
        return session.scalars(sa.select(Ticket.id).where(Ticket.title == title)).all()


def test_a_create_form_sent_twice_at_once_makes_one_ticket(site):
    (author,) = site.add_users(1, prefix="d")
    browser = site.client(author)
    form = create_form_of(browser, "Double click at once")

    responses = run_together([lambda: form.submit(expect_errors=True)] * 2)

    assert [r.status_int for r in responses] == [302, 302]
    (ticket_id,) = tickets_titled(site, "Double click at once")
    assert {urlsplit(r.location).path for r in responses} == {f"/ticket_view/{ticket_id}/"}
    assert site.counters(author) == (1, 0)


def test_the_same_ticket_sent_again_soon_is_the_first_one(site):
    (author,) = site.add_users(1, prefix="r")
    browser = site.client(author)
    create_form_of(browser, "Sent again").submit(status=302)
    again = create_form_of(browser, "Sent again").submit(status=302)
    (ticket_id,) = tickets_titled(site, "Sent again")
    assert urlsplit(again.location).path == f"/ticket_view/{ticket_id}/"
    create_form_of(browser, "Another one").submit(status=302)  # different text: a new ticket
    assert len(tickets_titled(site, "Another one")) == 1
    assert site.counters(author) == (2, 0)
