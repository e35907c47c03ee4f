"""Test harness: the real application on a real database, rolled back after every test.

The suite runs on SQLite always, and also on MariaDB/MySQL and PostgreSQL when
``FLICKET_TEST_MYSQL_URL`` / ``FLICKET_TEST_POSTGRESQL_URL`` name a database that the tests
may empty (``.ci/run`` creates its own). Database-backed fixtures are parametrised over the
configured databases, so every such test runs once per database.

Each test runs inside one outer transaction on one connection; the application's sessions
join it through savepoints, so pyramid_tm really commits (after-commit hooks such as mail
delivery run) and the whole test is still rolled back at the end.
"""

import base64
import os
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
import transaction
import webtest
from pyramid_mailer.interfaces import IMailer

from flicket import clock, main
from flicket.accounts.models import Group, User
from flicket.accounts.passwords import hash_password
from flicket.db import get_tm_session
from flicket.install import seed, upgrade_database

SERVER_DATABASES = {
    "mysql": "FLICKET_TEST_MYSQL_URL",
    "postgresql": "FLICKET_TEST_POSTGRESQL_URL",
}
PASSWORD = "tangerine ocelot sunrise"
BCRYPT_TEST_ROUNDS = 4


def configured_databases():
    names = ["sqlite"]
    names += [name for name, var in SERVER_DATABASES.items() if os.environ.get(var)]
    return names


def pytest_report_header(config):
    return "databases: " + ", ".join(configured_databases())


@pytest.fixture(scope="session", params=configured_databases())
def db_url(request, tmp_path_factory):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db')}/flicket-test.sqlite"
    return os.environ[SERVER_DATABASES[request.param]]


@pytest.fixture(scope="session")
def app_settings(db_url, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    # MariaDB's FULLTEXT index sees committed rows only, and every test here is rolled
    # back: there these tests search with the substring fallback (the same results for
    # their data). tests/functional/test_search.py tests the index itself, on committed
    # data, on the three databases.
    fulltext = "false" if db_url.startswith("mysql") else "true"
    return {
        "flicket.search.fulltext": fulltext,
        "sqlalchemy.url": db_url,
        "flicket.secret_file": str(data_dir / "secret"),
        "flicket.data_dir": str(data_dir),
        "flicket.bcrypt_rounds": str(BCRYPT_TEST_ROUNDS),
        "flicket.mail.mode": "dummy",
        "flicket.ratelimit.store": "memory",
        "retry.attempts": "1",
    }


def empty_database(engine):
    """Drop every table of the (test-only) database, ours or left by an earlier run."""
    metadata = sa.MetaData()
    metadata.reflect(engine)
    with engine.begin() as connection:
        if engine.dialect.name == "mysql":
            connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
        metadata.drop_all(connection)
        if engine.dialect.name == "mysql":
            connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")


@pytest.fixture(scope="session")
def wsgi_app(app_settings):
    # Environment variables would override the test settings: keep them out.
    saved = {
        k: os.environ.pop(k) for k in ("FLICKET_DATABASE_URL", "FLICKET_SECRET") if k in os.environ
    }
    app = main({}, **app_settings)
    os.environ.update(saved)
    engine = app.registry["dbengine"]
    empty_database(engine)
    upgrade_database(engine)
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        seed(get_tm_session(app.registry["dbsession_factory"], manager), "http://example.com")
    yield app
    engine.dispose()


@pytest.fixture(scope="session")
def registry(wsgi_app):
    return wsgi_app.registry


@pytest.fixture
def connection(registry):
    """One connection in an outer transaction that is rolled back after the test."""
    engine = registry["dbengine"]
    conn = engine.connect()
    outer = conn.begin()
    factory = registry["dbsession_factory"]
    factory.configure(bind=conn, join_transaction_mode="create_savepoint")
    yield conn
    factory.configure(bind=engine, join_transaction_mode="conservative_savepoint")
    outer.rollback()
    conn.close()
    registry["ratelimit_store"].reset()


@pytest.fixture
def tm():
    manager = transaction.TransactionManager(explicit=True)
    manager.begin()
    yield manager
    manager.abort()


@pytest.fixture
def dbsession(registry, connection, tm):
    """A session on the test's connection, for arranging data and checking the result."""
    return get_tm_session(registry["dbsession_factory"], tm)


@pytest.fixture
def outbox(registry):
    """Messages delivered (after commit) during the test."""
    delivery = registry.getUtility(IMailer).delivery
    delivery.outbox.clear()
    yield delivery.outbox
    delivery.outbox.clear()


@pytest.fixture
def testapp(wsgi_app, connection):
    return webtest.TestApp(
        wsgi_app, extra_environ={"HTTP_HOST": "example.com", "REMOTE_ADDR": "192.0.2.10"}
    )


# -- the cast -------------------------------------------------------------------------------


def make_user(dbsession, username, *, password=PASSWORD, groups=(), disabled=False, email=None):
    user = User(
        username=username,
        name=username.capitalize() + " Example",
        email=email or f"{username}@example.com",
        password=hash_password(password, BCRYPT_TEST_ROUNDS),
        disabled=disabled,
        locale="en",
        total_posts=0,
        total_assigned=0,
    )
    for name in groups:
        group = dbsession.scalars(sa.select(Group).where(Group.group_name == name)).one()
        user.groups.append(group)
    dbsession.add(user)
    dbsession.flush()
    return user


@pytest.fixture
def users(dbsession):
    """admin, super (super_user), alice, bob, carol and dave (disabled)."""
    cast = {
        "admin": make_user(dbsession, "admin", groups=["flicket_admin"]),
        "super": make_user(dbsession, "super", groups=["super_user"]),
        "alice": make_user(dbsession, "alice"),
        "bob": make_user(dbsession, "bob"),
        "carol": make_user(dbsession, "carol"),
        "dave": make_user(dbsession, "dave", disabled=True),
    }
    return cast


# -- browser-like helpers -------------------------------------------------------------------

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token_from(response):
    match = CSRF_RE.search(response.text)
    assert match, "the page has no CSRF token"
    return match.group(1)


def login(testapp, username, password=PASSWORD, status=302):
    page = testapp.get("/login")
    form = page.forms[0]
    form["username"] = username
    form["password"] = password
    return form.submit(status=status)


@pytest.fixture
def login_as(testapp, users):
    def _login(name, password=PASSWORD):
        login(testapp, name, password)
        return testapp

    return _login


# -- more clients, API credentials and time (used by the security suites) -------------------

SESSION_COOKIE = "flicket_session"  # flicket.session.cookie_name (the default)


@pytest.fixture
def make_client(wsgi_app, connection):
    """Another browser: its own cookie jar, optionally another address or a copied cookie."""

    def _make(remote_addr="192.0.2.10", cookie=None):
        client = webtest.TestApp(
            wsgi_app, extra_environ={"HTTP_HOST": "example.com", "REMOTE_ADDR": remote_addr}
        )
        if cookie is not None:
            client.set_cookie(SESSION_COOKIE, cookie)
        return client

    return _make


def basic_auth(username, password=PASSWORD):
    raw = f"{username}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def issue_api_token(testapp, username, password=PASSWORD):
    response = testapp.post("/flicket-api/tokens", headers=basic_auth(username, password))
    return response.json["token"]


def assert_login_page(response):
    """``response`` sends an anonymous visitor to the login page (the session is over)."""
    assert response.status_int == 302, response.status
    assert urlsplit(response.location).path == "/login", response.location


@pytest.fixture
def app_clock(monkeypatch):
    """Moves the application's clock (``flicket.clock.utcnow``): ``app_clock.advance(s)``."""
    real_utcnow = clock.utcnow

    class AppClock:
        offset = timedelta(0)

        def advance(self, seconds):
            self.offset += timedelta(seconds=seconds)

        def now(self):
            return real_utcnow() + self.offset

    moved = AppClock()
    monkeypatch.setattr(clock, "utcnow", moved.now)
    return moved


class QueryCounter:
    """Counts the SQL statements the application runs (``with count_queries() as q: ...``)."""

    def __init__(self, engine):
        self.engine = engine
        self.statements = []

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._record)

    @property
    def count(self):
        # SAVEPOINT bookkeeping of the test harness is not the application's work.
        return sum(1 for s in self.statements if "SAVEPOINT" not in s.upper())


@pytest.fixture
def count_queries(registry):
    return lambda: QueryCounter(registry["dbengine"])
