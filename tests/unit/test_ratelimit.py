"""flicket.ratelimit: the moving window, with the memory and the database store."""

import types
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from flicket import clock
from flicket.accounts.models import RateLimitHit
from flicket.ratelimit import DatabaseStore, MemoryStore, RateLimit, make_store

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
