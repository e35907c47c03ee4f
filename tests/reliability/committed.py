"""A Flicket site on a database of its own whose requests really commit (REL-2/3/5/7).

The per-test fixtures of ``tests/conftest.py`` run every request on one connection inside a
rolled-back transaction, so requests never run side by side. Concurrency tests need what
production has: many threads, each request on its own pooled connection, its own
transaction, real commits and real row locks. ``CommittedSite`` builds the real application
(``flicket.main``, as ``pserve`` does) on:

- SQLite: a new database file (WAL, ``BEGIN IMMEDIATE`` for writing requests, see
  ``flicket.db``);
- MariaDB/MySQL, PostgreSQL: ``<test database>_concurrency`` on the server of
  ``FLICKET_TEST_MYSQL_URL`` / ``FLICKET_TEST_POSTGRESQL_URL``, created here and dropped by
  ``close()``.

Data is arranged with ``site.session()`` blocks that commit; every test makes its own users
(``site.add_users``) and tickets, so tests sharing one site never see each other's counters.
"""

import contextlib
import itertools
import os
import threading

import sqlalchemy as sa
import transaction
import webtest

from flicket import main
from flicket.db import get_engine, get_session_factory, get_tm_session
from flicket.install import seed, upgrade_database
from flicket.tickets.models import Post, Subscription, Ticket
from tests.conftest import BCRYPT_TEST_ROUNDS, CSRF_RE, empty_database, login, make_user
from tests.databases import create_database, drop_database, server_admin_engine
from tests.factories import make_ticket

#: More than the 5 + 10 connections of the default pool: requests also queue for a
#: connection, as they do under load.
THREADS = 50






class CommittedSite:
    _names = itertools.count(1)

    def __init__(self, db_url, directory, **settings):
        url = sa.engine.make_url(db_url)
        self.kind = url.get_backend_name()
        self.admin = None
        if self.kind == "sqlite":
            url = url.set(database=str(directory / "committed.sqlite"))
        else:
            url = url.set(database=f"{url.database}_concurrency")
            self.admin = server_admin_engine(url)
            create_database(self.admin, url)
        self.url = url
        url_text = url.render_as_string(hide_password=False)
        self.engine = get_engine({"sqlalchemy.url": url_text})
        empty_database(self.engine)
        upgrade_database(self.engine)
        with self.session() as session:
            seed(session, "http://example.com")
        data_dir = directory / "data"
        app_settings = {
            "sqlalchemy.url": url_text,
            "flicket.secret_file": str(directory / "secret"),
            "flicket.data_dir": str(data_dir),
            "flicket.bcrypt_rounds": str(BCRYPT_TEST_ROUNDS),
            "flicket.mail.mode": "dummy",
            "flicket.ratelimit.store": "memory",
            "retry.attempts": "3",  # as production.ini
            **settings,
        }
        saved = {
            k: os.environ.pop(k)
            for k in ("FLICKET_DATABASE_URL", "FLICKET_SECRET", "FLICKET_DATA_DIR")
            if k in os.environ
        }
        try:
            self.app = main({}, **app_settings)
        finally:
            os.environ.update(saved)

    # -- arranging and reading committed data ------------------------------------------------

    @contextlib.contextmanager
    def session(self):
        """A session whose work is committed at the end of the block."""
        manager = transaction.TransactionManager(explicit=True)
        manager.begin()
        session = get_tm_session(get_session_factory(self.engine), manager)
        try:
            yield session
        except BaseException:
            manager.abort()
            raise
        manager.commit()

    def add_users(self, count, prefix="u"):
        """``count`` new users with unique names; returns the usernames."""
        names = [f"{prefix}{next(self._names)}" for _ in range(count)]
        with self.session() as session:
            for name in names:
                make_user(session, name)
        return names

    def add_ticket(self, creator, title="Printer on fire", **kw):
        with self.session() as session:
            user = self.user(session, creator)
            return make_ticket(session, user, title, **kw).id

    @staticmethod
    def user(session, username):
        from flicket.accounts.models import User

        return session.scalars(sa.select(User).where(User.username == username)).one()

    def user_id(self, username):
        with self.session() as session:
            return self.user(session, username).id

    def counters(self, username):
        """(total_posts, total_assigned) of ``username`` as committed."""
        with self.session() as session:
            user = self.user(session, username)
            return user.total_posts, user.total_assigned

    def posts_by(self, ticket_id):
        """{username: number of replies} on the ticket."""
        from flicket.accounts.models import User

        with self.session() as session:
            rows = session.execute(
                sa.select(User.username, sa.func.count())
                .join(Post, Post.user_id == User.id)
                .where(Post.ticket_id == ticket_id)
                .group_by(User.username)
            ).all()
        return dict(rows)

    def subscriptions(self, ticket_id):
        """{username: number of subscription rows} of the ticket."""
        from flicket.accounts.models import User

        with self.session() as session:
            rows = session.execute(
                sa.select(User.username, sa.func.count())
                .join(Subscription, Subscription.user_id == User.id)
                .where(Subscription.ticket_id == ticket_id)
                .group_by(User.username)
            ).all()
        return dict(rows)

    def ticket(self, ticket_id):
        with self.session() as session:
            ticket = session.get(Ticket, ticket_id)
            session.expunge(ticket)
            return ticket

    # -- browsers ---------------------------------------------------------------------------

    def client(self, username=None, address="192.0.2.10"):
        """A browser of its own (cookie jar), logged in as ``username`` if given."""
        browser = webtest.TestApp(
            self.app, extra_environ={"HTTP_HOST": "example.com", "REMOTE_ADDR": address}
        )
        if username is not None:
            login(browser, username)
        return browser

    def close(self):
        self.app.registry["dbengine"].dispose()
        self.engine.dispose()
        if self.admin is not None:
            drop_database(self.admin, self.url)
            self.admin.dispose()


def csrf_of(page):
    return CSRF_RE.search(page.text).group(1)


def run_together(jobs):
    """Run every callable of ``jobs`` in its own thread, all released at the same moment by
    a barrier; returns their results in order (an exception is returned, not raised)."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def worker(index, job):
        barrier.wait()
        try:
            results[index] = job()
        except Exception as error:  # noqa: BLE001 - reported to the test as a result
            results[index] = error

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a request never finished"
    return results
