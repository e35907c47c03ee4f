"""Moving-window rate limits with a pluggable store.

``memory`` counts in this process only (one waitress process); ``database`` keeps the hits
in ``flicket_rate_limit_hit`` so that every process sharing the database sees them;
``redis`` keeps them in a Redis server that every process shares (``FLICKET_REDIS_URL``).
"""

import logging
import secrets
import threading
from collections import defaultdict, deque
from datetime import datetime, timedelta

import sqlalchemy as sa

from flicket import clock
from flicket.accounts.models import RateLimitHit
from flicket.settings import ConfigurationError
from flicket.transactions import when_done

log = logging.getLogger(__name__)


class MemoryStore:
    def __init__(self):
        self._hits = defaultdict(deque)
        self._lock = threading.Lock()

    def add(self, request, key, at, since):
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= since:
                hits.popleft()
            hits.append(at)

    def window(self, request, key, since):
        """(number of hits after ``since``, the oldest of them or None)."""
        with self._lock:
            hits = [at for at in self._hits.get(key, ()) if at > since]
        return len(hits), (hits[0] if hits else None)

    def clear(self, request, key):
        with self._lock:
            self._hits.pop(key, None)

    def reset(self):
        with self._lock:
            self._hits.clear()


class DatabaseStore:
    """Hits written in the request's transaction, so they are shared by all processes."""

    def add(self, request, key, at, since):
        db = request.dbsession
        db.execute(
            sa.delete(RateLimitHit).where(RateLimitHit.key == key, RateLimitHit.at <= since)
        )
        db.add(RateLimitHit(key=key, at=at))
        db.flush()

    def window(self, request, key, since):
        count, oldest = request.dbsession.execute(
            sa.select(sa.func.count(), sa.func.min(RateLimitHit.at)).where(
                RateLimitHit.key == key, RateLimitHit.at > since
            )
        ).one()
        return count, oldest

    def clear(self, request, key):
        request.dbsession.execute(sa.delete(RateLimitHit).where(RateLimitHit.key == key))

    def reset(self):
        pass


class StoreUnavailable(Exception):
    """The shared store cannot be read: the request is refused (503), never let through."""


_EPOCH = datetime(1970, 1, 1)


def _seconds(at):
    """Seconds since the epoch of a naive UTC datetime (the application's clock)."""
    return (at - _EPOCH).total_seconds()


class RedisStore:
    """Hits in one sorted set per key (score: the time of the hit), shared by every process.

    Reads go to Redis at once; writes wait for the request's transaction to commit, as the
    database store's rows do: a request that is rolled back (a refused form) counts
    nothing, and one kept despite its error (a failed login) counts. Each key expires after
    its window, so Redis keeps nothing that no limit looks at any more.
    """

    def __init__(self, client, prefix):
        import redis

        self.client = client
        self.prefix = prefix
        self.errors = redis.RedisError

    def _name(self, key):
        return self.prefix + "ratelimit:" + key

    def _pending(self, request):
        """The writes of ``request``, sent in one pipeline when its transaction commits."""
        operations = getattr(request, "_redis_ratelimit_writes", None)
        if operations is None:
            # Written once every manager voted (the database has committed), never when
            # the transaction aborts or the database refuses the commit.
            operations = request._redis_ratelimit_writes = []
            when_done(request.tm, committed=lambda: operations and self._write(operations))
        return operations

    def _write(self, operations):
        pipeline = self.client.pipeline(transaction=False)
        for operation in operations:
            operation(pipeline)
        try:
            pipeline.execute()
        except self.errors as error:
            log.error("rate limit store: Redis write failed (%s)", type(error).__name__)

    def add(self, request, key, at, since):
        name, score = self._name(key), _seconds(at)
        member = f"{score:.6f}:{secrets.token_hex(4)}"
        lifetime = max(1, int(score - _seconds(since)) + 1)

        def write(pipeline):
            pipeline.zremrangebyscore(name, "-inf", _seconds(since))
            pipeline.zadd(name, {member: score})
            pipeline.expire(name, lifetime)

        self._pending(request).append(write)

    def window(self, request, key, since):
        name, low = self._name(key), f"({_seconds(since)}"
        try:
            pipeline = self.client.pipeline(transaction=False)
            pipeline.zcount(name, low, "+inf")
            pipeline.zrangebyscore(name, low, "+inf", start=0, num=1, withscores=True)
            count, oldest = pipeline.execute()
        except self.errors as error:
            log.error("rate limit store: Redis read failed (%s)", type(error).__name__)
            raise StoreUnavailable(str(error)) from error
        if not oldest:
            return count, None
        return count, _EPOCH + timedelta(seconds=oldest[0][1])

    def clear(self, request, key):
        name = self._name(key)
        self._pending(request).append(lambda pipeline: pipeline.delete(name))

    def reset(self):
        pass


class RateLimit:
    """At most ``limit`` hits per ``window`` seconds for each key."""

    def __init__(self, store, name, limit, window):
        self.store = store
        self.name = name
        self.limit = limit
        self.window = window

    def _key(self, key):
        return f"{self.name}:{key}"[:191]

    def _since(self, now):
        return now - timedelta(seconds=self.window)

    def hit(self, request, key, amount=1):
        now = clock.utcnow()
        for _ in range(amount):
            self.store.add(request, self._key(key), now, self._since(now))

    def retry_after(self, request, key, amount=1):
        """0 while ``amount`` more hits stay within the limit, else the seconds until one
        more is allowed."""
        now = clock.utcnow()
        count, oldest = self.store.window(request, self._key(key), self._since(now))
        if count + amount <= self.limit:
            return 0
        if oldest is None:  # more than the whole limit at once
            return self.window
        return max(1, int((oldest + timedelta(seconds=self.window) - now).total_seconds()) + 1)

    def clear(self, request, key):
        self.store.clear(request, self._key(key))


def make_store(settings):
    kind = settings["flicket.ratelimit.store"]
    if kind == "database":
        return DatabaseStore()
    if kind == "redis":
        return RedisStore(
            redis_client(settings["flicket.redis.url"]), settings["flicket.redis.prefix"]
        )
    return MemoryStore()


def redis_client(url):
    """A client for ``url`` (nothing is sent until the first limit is checked)."""
    try:
        import redis
    except ImportError:
        raise ConfigurationError(
            "flicket.ratelimit.store = redis needs the Redis client: pip install 'flicket[redis]'."
        ) from None
    try:
        # Short timeouts: a Redis that does not answer refuses logins quickly (503).
        return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    except ValueError as error:
        raise ConfigurationError(f"The Redis URL is not valid: {error}.") from None


def includeme(config):
    settings = config.get_settings()
    store = make_store(settings)
    window = settings["flicket.login.window"]
    config.registry["ratelimit_store"] = store
    config.registry["ratelimits"] = {
        "login_account": RateLimit(
            store, "login-account", settings["flicket.login.max_attempts_per_account"], window
        ),
        "login_address": RateLimit(
            store, "login-address", settings["flicket.login.max_attempts_per_address"], window
        ),
        "login_global": RateLimit(
            store, "login-global", settings["flicket.login.max_attempts_global"], window
        ),
        "reset_address": RateLimit(
            store,
            "reset-address",
            settings["flicket.reset.max_requests_per_address"],
            settings["flicket.reset.window"],
        ),
        "reset_email": RateLimit(
            store,
            "reset-email",
            settings["flicket.reset.max_requests_per_address"],
            settings["flicket.reset.window"],
        ),
        # Per user, for everything a user writes (pages and API alike).
        "tickets": RateLimit(store, "tickets", settings["flicket.limits.tickets_per_hour"], 3600),
        "replies": RateLimit(store, "replies", settings["flicket.limits.replies_per_minute"], 60),
        "uploads": RateLimit(store, "uploads", settings["flicket.limits.uploads_per_day"], 86400),
        "upload_mib": RateLimit(
            store, "upload-mib", settings["flicket.limits.upload_mib_per_day"], 86400
        ),
    }
