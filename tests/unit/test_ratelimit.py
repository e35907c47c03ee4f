"""flicket.ratelimit: the moving window, with the memory, the database and the Redis store."""

import contextlib
import os
import secrets
import socket
import types
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
import transaction

from flicket import clock
from flicket.accounts.models import RateLimitHit
from flicket.ratelimit import (
    DatabaseStore,
    MemoryStore,
    RateLimit,
    RedisStore,
    StoreUnavailable,
    make_store,
    redis_client,
)
from flicket.settings import ConfigurationError

START = datetime(2026, 1, 1, 12, 0, 0)


@pytest.fixture
def now(monkeypatch):
    """The ratelimit module's clock, set by hand: ``now.value += timedelta(...)``."""
    moved = types.SimpleNamespace(value=START)
    monkeypatch.setattr(clock, "utcnow", lambda: moved.value)
    return moved


def advance(now, seconds):
    now.value += timedelta(seconds=seconds)


@pytest.fixture
def memory_limit():
    return RateLimit(MemoryStore(), "test", limit=3, window=60)


REQUEST = types.SimpleNamespace()  # the memory store never looks at the request


def test_under_the_limit_is_allowed(now, memory_limit):
    assert memory_limit.retry_after(REQUEST, "k") == 0
    memory_limit.hit(REQUEST, "k")
    memory_limit.hit(REQUEST, "k")
    assert memory_limit.retry_after(REQUEST, "k") == 0


def test_at_the_limit_retry_after_counts_down_to_the_window_end(now, memory_limit):
    for _ in range(3):
        memory_limit.hit(REQUEST, "k")
        advance(now, 10)
    # The oldest hit was 30 s ago: one more attempt is allowed in about 30 s.
    retry_after = memory_limit.retry_after(REQUEST, "k")
    assert 30 <= retry_after <= 31
    advance(now, 29)
    assert 0 < memory_limit.retry_after(REQUEST, "k") <= 2
    advance(now, 2)
    # The oldest hit has left the window; the other two remain.
    assert memory_limit.retry_after(REQUEST, "k") == 0
    memory_limit.hit(REQUEST, "k")
    assert memory_limit.retry_after(REQUEST, "k") > 0


def test_the_whole_window_passing_allows_again(now, memory_limit):
    for _ in range(5):
        memory_limit.hit(REQUEST, "k")
    assert 0 < memory_limit.retry_after(REQUEST, "k") <= 61
    advance(now, 60)
    assert memory_limit.retry_after(REQUEST, "k") == 0


def test_keys_and_names_are_separate(now):
    store = MemoryStore()
    first = RateLimit(store, "first", limit=1, window=60)
    second = RateLimit(store, "second", limit=1, window=60)
    first.hit(REQUEST, "k")
    assert first.retry_after(REQUEST, "k") > 0
    assert first.retry_after(REQUEST, "other") == 0
    assert second.retry_after(REQUEST, "k") == 0


def test_clear_resets_one_key(now, memory_limit):
    for _ in range(3):
        memory_limit.hit(REQUEST, "k")
        memory_limit.hit(REQUEST, "other")
    memory_limit.clear(REQUEST, "k")
    assert memory_limit.retry_after(REQUEST, "k") == 0
    assert memory_limit.retry_after(REQUEST, "other") > 0


def test_reset_clears_everything(now):
    store = MemoryStore()
    limit = RateLimit(store, "test", limit=1, window=60)
    limit.hit(REQUEST, "a")
    limit.hit(REQUEST, "b")
    store.reset()
    assert limit.retry_after(REQUEST, "a") == limit.retry_after(REQUEST, "b") == 0


def test_very_long_keys_are_cut_to_the_column_size(now):
    limit = RateLimit(MemoryStore(), "test", limit=1, window=60)
    limit.hit(REQUEST, "x" * 1000)
    assert limit.retry_after(REQUEST, "x" * 1000) > 0
    assert len(limit._key("x" * 1000)) <= 191


def test_make_store(now):
    assert isinstance(make_store({"flicket.ratelimit.store": "memory"}), MemoryStore)
    assert isinstance(make_store({"flicket.ratelimit.store": "database"}), DatabaseStore)


# -- the database store -------------------------------------------------------------------------


@pytest.fixture
def db_request(dbsession):
    return types.SimpleNamespace(dbsession=dbsession)


def _rows(dbsession, key):
    return dbsession.scalar(
        sa.select(sa.func.count()).select_from(RateLimitHit).where(RateLimitHit.key == key)
    )


def test_database_store_limit_window_and_clear(now, db_request, dbsession):
    limit = RateLimit(DatabaseStore(), "dbtest", limit=3, window=60)
    for _ in range(3):
        assert limit.retry_after(db_request, "k") == 0
        limit.hit(db_request, "k")
        advance(now, 10)
    assert 30 <= limit.retry_after(db_request, "k") <= 31
    assert limit.retry_after(db_request, "other") == 0
    advance(now, 60)
    assert limit.retry_after(db_request, "k") == 0
    # Old hits are deleted as new ones arrive, so the table does not grow for ever.
    limit.hit(db_request, "k")
    assert _rows(dbsession, "dbtest:k") == 1
    limit.hit(db_request, "k")
    limit.hit(db_request, "k")
    assert limit.retry_after(db_request, "k") > 0
    limit.clear(db_request, "k")
    assert limit.retry_after(db_request, "k") == 0
    assert _rows(dbsession, "dbtest:k") == 0


def test_database_store_is_shared_by_store_instances(now, db_request):
    # Two processes each have their own store object; the database is what they share.
    first = RateLimit(DatabaseStore(), "shared", limit=2, window=60)
    second = RateLimit(DatabaseStore(), "shared", limit=2, window=60)
    first.hit(db_request, "k")
    second.hit(db_request, "k")
    assert first.retry_after(db_request, "k") > 0
    assert second.retry_after(db_request, "k") > 0


# -- the Redis store (FLICKET_TEST_REDIS_URL, which .ci/run sets) -------------------------------

REDIS_VARIABLE = "FLICKET_TEST_REDIS_URL"


@pytest.fixture
def redis_store():
    """A RedisStore on the test server, under a prefix of this test's own (removed after)."""
    url = os.environ.get(REDIS_VARIABLE)
    if not url:
        pytest.skip(f"{REDIS_VARIABLE} is not set (the Redis store needs a server)")
    prefix = f"flicket-test-{secrets.token_hex(6)}:"
    store = RedisStore(redis_client(url), prefix)
    yield store
    keys = list(store.client.scan_iter(match=prefix + "*"))
    if keys:
        store.client.delete(*keys)
    store.client.close()


class Requests:
    """Requests with a transaction each, as pyramid_tm gives them."""

    def __init__(self):
        self.manager = transaction.TransactionManager(explicit=True)

    @contextlib.contextmanager
    def committed(self):
        self.manager.begin()
        request = types.SimpleNamespace(tm=self.manager)
        try:
            yield request
        except BaseException:
            self.manager.abort()
            raise
        self.manager.commit()

    @contextlib.contextmanager
    def aborted(self):
        self.manager.begin()
        yield types.SimpleNamespace(tm=self.manager)
        self.manager.abort()


def test_redis_store_limit_window_and_clear(now, redis_store):
    limit = RateLimit(redis_store, "redistest", limit=3, window=60)
    requests = Requests()
    for _ in range(3):
        with requests.committed() as request:
            assert limit.retry_after(request, "k") == 0
            limit.hit(request, "k")
        advance(now, 10)
    with requests.committed() as request:
        assert 30 <= limit.retry_after(request, "k") <= 31
        assert limit.retry_after(request, "other") == 0
    advance(now, 60)
    with requests.committed() as request:
        assert limit.retry_after(request, "k") == 0
        limit.hit(request, "k")
    # Old hits leave the set as new ones arrive, and the key expires with its window.
    name = redis_store._name("redistest:k")
    assert redis_store.client.zcard(name) == 1
    assert 0 < redis_store.client.ttl(name) <= 61
    with requests.committed() as request:
        limit.hit(request, "k", amount=2)
    with requests.committed() as request:
        assert limit.retry_after(request, "k") > 0
        limit.clear(request, "k")
    with requests.committed() as request:
        assert limit.retry_after(request, "k") == 0
    assert not redis_store.client.exists(name)


def test_redis_store_counts_only_what_commits(now, redis_store):
    """As the database store: a rolled-back request (a refused form) counts nothing."""
    limit = RateLimit(redis_store, "redistx", limit=1, window=60)
    requests = Requests()
    with requests.aborted() as request:
        limit.hit(request, "k")
        limit.hit(request, "k")
    with requests.committed() as request:
        assert limit.retry_after(request, "k") == 0
        limit.hit(request, "k")
        # Not written until the commit: Redis has nothing yet.
        assert redis_store.client.zcard(redis_store._name("redistx:k")) == 0
    with requests.committed() as request:
        assert limit.retry_after(request, "k") > 0


def test_redis_store_is_shared_by_store_instances(now, redis_store):
    # Two processes each have their own client; the Redis server is what they share.
    other = RedisStore(redis_client(os.environ[REDIS_VARIABLE]), redis_store.prefix)
    first = RateLimit(redis_store, "shared", limit=2, window=60)
    second = RateLimit(other, "shared", limit=2, window=60)
    requests = Requests()
    with requests.committed() as request:
        first.hit(request, "k")
    with requests.committed() as request:
        second.hit(request, "k")
    with requests.committed() as request:
        assert first.retry_after(request, "k") > 0
        assert second.retry_after(request, "k") > 0
    other.client.close()


def test_an_unreachable_redis_refuses_instead_of_letting_through(now):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    store = RedisStore(redis_client(f"redis://127.0.0.1:{port}/0"), "flicket-test:")
    limit = RateLimit(store, "down", limit=3, window=60)
    with Requests().aborted() as request, pytest.raises(StoreUnavailable):
        limit.retry_after(request, "k")


def test_make_store_redis_and_a_bad_url(now):
    store = make_store(
        {
            "flicket.ratelimit.store": "redis",
            "flicket.redis.url": "redis://127.0.0.1:6379/11",
            "flicket.redis.prefix": "p:",
        }
    )
    assert isinstance(store, RedisStore) and store.prefix == "p:"
    with pytest.raises(ConfigurationError, match="Redis URL is not valid"):
        redis_client("http://not-redis.example/")
