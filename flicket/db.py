"""Database plumbing: declarative Base, engine, session factory and ``request.dbsession``.

Every request gets one SQLAlchemy session joined to the request's transaction (pyramid_tm
commits it at the end of the request, or aborts it on an exception); nobody commits by hand.
"""

import contextvars
import threading

import sqlalchemy as sa
import zope.sqlalchemy
from pyramid.tweens import INGRESS
from pyramid_retry import mark_error_retryable
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def get_engine(settings, prefix="sqlalchemy."):
    """Create the engine, with SQLite made transactional and foreign-key aware."""
    options = {"pool_pre_ping": True}
    url = sa.engine.make_url(settings[prefix + "url"])
    if url.get_backend_name() == "sqlite":
        options = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    elif url.get_backend_name() == "mysql":
        url = url.update_query_dict({"charset": "utf8mb4"})
        options["pool_recycle"] = 3600
        # As PostgreSQL: each statement sees what is committed, so a request that waited
        # for a row lock (``SELECT ... FOR UPDATE``) then reads the current rows, not the
        # snapshot REPEATABLE READ took at its first read.
        options["isolation_level"] = "READ COMMITTED"
        # An unreachable server answers a 503 within seconds instead of holding a thread.
        options["connect_args"] = {"connect_timeout": 5}
    elif url.get_backend_name() == "postgresql":
        options["connect_args"] = {"connect_timeout": 5}
    engine = sa.engine_from_config(
        {k: v for k, v in settings.items() if k.startswith(prefix) and k != prefix + "url"},
        prefix=prefix,
        url=url,
        future=True,
        **options,
    )
    if url.get_backend_name() == "sqlite":
        _make_sqlite_transactional(engine)
    else:
        event.listen(engine, "handle_error", _mark_conflicts_retryable)
    return engine


#: Errors after which running the whole request again is right: MariaDB/MySQL deadlock and
#: lock wait timeout, PostgreSQL deadlock and serialization failure.
RETRYABLE_MYSQL_CODES = frozenset({1205, 1213})
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


def _mark_conflicts_retryable(context):
    original = context.original_exception
    code = getattr(original, "args", (None,))[0] if getattr(original, "args", None) else None
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if code in RETRYABLE_MYSQL_CODES or sqlstate in RETRYABLE_SQLSTATES:
        if context.sqlalchemy_exception is not None:
            mark_error_retryable(context.sqlalchemy_exception)


#: Set while a request that may write runs: its SQLite transaction takes the write lock at
#: BEGIN, so concurrent writers queue (on their process's writer lock, then SQLite's
#: busy_timeout between processes) instead of failing to upgrade a read.
_sqlite_write_request = contextvars.ContextVar("flicket_sqlite_write_request", default=False)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: Marks a SQLite connection whose transaction holds its process's writer lock.
_WRITER = "flicket_sqlite_writer"


def _release_writer(info, writers):
    if info.pop(_WRITER, False):
        writers.release()


def _make_sqlite_transactional(engine):
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; take it over,
    # as the SQLAlchemy documentation recommends, and turn on foreign keys and WAL.
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database and engine.url.database != ":memory:":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    # The writers of this process queue on a lock of their own, each woken as soon as the
    # one before it has given its connection back (committed or rolled back). Left to
    # SQLite's busy handler, which sleeps and polls (up to 100 ms at a time), a waiting
    # writer could lose the database's lock again and again: seconds at the 99th
    # percentile with eight concurrent writers. Writers of other processes still wait in
    # the busy handler. A request uses one connection: a second writing transaction opened
    # while the first is open would wait for itself.
    writers = threading.Lock()

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        if not _sqlite_write_request.get():
            conn.exec_driver_sql("BEGIN")
            return
        writers.acquire()
        conn.info[_WRITER] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release_writer(conn.info, writers)
            raise

    @event.listens_for(engine, "checkin")
    def on_checkin(dbapi_connection, connection_record):
        _release_writer(connection_record.info, writers)

    @event.listens_for(engine, "invalidate")
    def on_invalidate(dbapi_connection, connection_record, exception):
        _release_writer(connection_record.info, writers)

    @event.listens_for(engine, "handle_error")
    def on_error(context):
        # A reader that must write while another thread writes gets "database is locked"
        # at once; pyramid_retry runs the whole request again.
        if "database is locked" in str(context.original_exception):
            mark_error_retryable(context.sqlalchemy_exception)


def get_session_factory(engine):
    return sessionmaker(bind=engine, expire_on_commit=False)


def get_tm_session(session_factory, transaction_manager, request=None):
    """A session joined to ``transaction_manager`` (used by requests and console scripts)."""
    dbsession = session_factory(info={"request": request})
    zope.sqlalchemy.register(dbsession, transaction_manager=transaction_manager)
    return dbsession


def commit_veto(request, response):
    """Roll back every error answer (4xx/5xx), so a refused form never leaves half its work
    behind; unless the request marked something that must be kept (a failed password
    attempt counted by the rate limiter) with ``keep_despite_error``."""
    if getattr(request, "keep_despite_error", False):
        return False
    return response.status_int >= 400


def keep_despite_error(request):
    """Commit this request's writes even though its answer will be an error."""
    request.keep_despite_error = True


def sqlite_write_tween_factory(handler, registry):
    def sqlite_write_tween(request):
        # A retried request (a read that had to write, e.g. an API token's last_used, and
        # found the database locked) takes the write lock at BEGIN and waits its turn.
        writes = request.method not in SAFE_METHODS or request.environ.get("retry.attempt", 0) > 0
        token = _sqlite_write_request.set(writes)
        try:
            return handler(request)
        finally:
            _sqlite_write_request.reset(token)

    return sqlite_write_tween


def includeme(config):
    settings = config.get_settings()
    settings["tm.manager_hook"] = "pyramid_tm.explicit_manager"
    settings["tm.commit_veto"] = "flicket.db.commit_veto"
    # pyramid_tm would read request.authenticated_userid (a database query) outside the
    # exception views: with the database down that error escapes them as a bare 500.
    settings["tm.annotate_user"] = False
    config.include("pyramid_tm")
    config.include("pyramid_retry")

    engine = get_engine(settings)
    session_factory = get_session_factory(engine)
    config.registry["dbsession_factory"] = session_factory
    config.registry["dbengine"] = engine

    def dbsession(request):
        # Tests may hand in a session bound to their own rolled-back connection.
        session = request.environ.get("app.dbsession")
        if session is None:
            session = get_tm_session(session_factory, request.tm, request=request)
        return session

    config.add_request_method(dbsession, reify=True)
    if engine.dialect.name == "sqlite":
        config.add_tween("flicket.db.sqlite_write_tween_factory", under=INGRESS)
