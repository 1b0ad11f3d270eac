"""How secauth builds a Redis client from a URL: short timeouts, no retries, a single
node or a Redis Cluster.

Both Redis-backed stores (rate limits and revocations) build their clients here, so a
failure is one exception raised at once: never seconds of redis-py's default retries
(ten, with backoff) and never a command sent again after a timeout (which could count
one request twice).

With ``cluster=True`` the URL names any one node (ElastiCache: the configuration
endpoint) and the client discovers the others. A cluster client follows ``MOVED`` and
``ASK`` redirections itself (up to 16 per command; they are not retries), and after a
connection error it asks for a fresh slot map, read by a later command at most once a
second. redis-py's sync cluster client reads the slot map when it is constructed;
:class:`LazyCluster` defers that to the first command, so a cluster that is down while
a container starts fails that request (the store's failure policy applies), not the
cold start. The asyncio cluster client connects on first use by itself.

Stores whose entries must not vanish early (revocations, DPoP replay records, rate-limit
state) check that the server never evicts them (:func:`check_no_eviction`).

``redis`` is imported when a client is built, never by ``import secauth``.

>>> client = connect("redis://127.0.0.1:6379", owner="Demo", cluster=True,
...                  socket_timeout=0.2, connect_timeout=0.2)
>>> client                                     # nothing is connected yet
LazyCluster(connected=False)
>>> connect("redis://127.0.0.1:6379/2", owner="Demo", cluster=True,
...         socket_timeout=0.2, connect_timeout=0.2)
Traceback (most recent call last):
...
secauth.errors.ConfigurationError: Demo: a Redis Cluster has database 0 only
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from secauth._aws import check_timeouts
from secauth._elapsed import Since
from secauth.errors import ConfigurationError

__all__ = [
    "EvictionCheck",
    "LazyCluster",
    "check_no_eviction",
    "check_no_eviction_async",
    "client_options",
    "connect",
    "eviction_problem",
    "import_redis",
]


def import_redis(owner: str) -> Any:
    """The ``redis`` package, or a :class:`ConfigurationError` saying how to install it."""
    try:
        import redis
    except ImportError:
        raise ConfigurationError(
            f"{owner} needs the 'redis' package: pip install 'secauth[redis]'"
        ) from None
    return redis


def client_options(
    owner: str, socket_timeout: float, connect_timeout: float, *, asyncio: bool = False
) -> dict[str, Any]:
    """Client options: short timeouts, no retries but one: the asyncio client opens a
    connection the server closed again, once (it gets the asyncio ``Retry``: given the sync
    one, redis-py converts it with a ``UserWarning``)."""
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as Closed

    check_timeouts(owner, socket_timeout=socket_timeout, connect_timeout=connect_timeout)
    if asyncio:
        from redis.asyncio.retry import Retry

        # A pooled connection the server closed while the loop was not running (a frozen
        # Lambda container, an idle timeout) is only found when used: opened again, once.
        # A timeout is never retried.
        retry: object = Retry(NoBackoff(), 1, supported_errors=(Closed,))
    else:
        from redis.retry import Retry as SyncRetry

        retry = SyncRetry(NoBackoff(), 0)  # the sync pool checks a connection before use
    return {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout,
        "retry": retry,
        "retry_on_timeout": False,
        "health_check_interval": 0,
    }


def connect(
    url: object,
    *,
    owner: str,
    cluster: bool,
    socket_timeout: float,
    connect_timeout: float,
    asyncio: bool = False,
) -> Any:
    """A client of ``url`` (``redis://`` or ``rediss://`` for TLS): ``redis.Redis``, or
    with ``cluster=True`` a :class:`LazyCluster` (sync) or ``redis.asyncio.cluster.RedisCluster``.
    """
    redis = import_redis(owner)
    if not isinstance(url, str):
        raise ConfigurationError(f"{owner} url must be a string such as redis://host:6379/0")
    if not isinstance(cluster, bool):
        raise ConfigurationError(f"{owner} cluster must be True or False, not {cluster!r}")
    from redis.connection import parse_url

    try:  # now, and quietly: redis-py's own message quotes parts of a password
        parse_url(url)  # type: ignore[no-untyped-call]
    except ValueError:
        raise ConfigurationError(
            f"{owner}: the Redis URL does not parse (percent-encode '/', '?', '#' and '@' "
            "in a password)"
        ) from None
    options = client_options(owner, socket_timeout, connect_timeout, asyncio=asyncio)
    if cluster:
        _check_cluster_url(url, owner)
        if asyncio:
            from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
            from redis.exceptions import ConnectionError as Closed

            class ClosedOnlyCluster(AsyncRedisCluster):
                """Retries a connection the node closed only: redis-py's cluster client
                retries the errors of this list (timeouts too), not its Retry's."""

                ERRORS_ALLOW_RETRY = (Closed,)  # type: ignore[assignment]  # a 4-tuple in redis-py

            del options["retry_on_timeout"]  # not an option there: its retry says it all
            return ClosedOnlyCluster.from_url(url, **options)
        from redis.cluster import RedisCluster

        return LazyCluster(lambda: RedisCluster.from_url(url, **options))
    if asyncio:
        from redis import asyncio as aioredis

        return aioredis.Redis.from_url(url, **options)
    return redis.Redis.from_url(url, **options)


def _check_cluster_url(url: str, owner: str) -> None:
    """What a cluster client would refuse at its first command, refused now."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigurationError(
            f"{owner}: a Redis Cluster URL starts with redis:// or rediss:// (TLS), "
            f"not {parts.scheme}://"
        )
    if parts.path not in ("", "/", "/0"):
        raise ConfigurationError(f"{owner}: a Redis Cluster has database 0 only")


class LazyCluster:
    """A sync ``redis.cluster.RedisCluster`` built by ``build`` at its first use.

    Attributes are those of the cluster client; reading one builds it (thread-safe,
    once), so a failure to reach the cluster raises where the command would have.
    """

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LazyCluster(connected={self._client is not None})"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connected(), name)

    def connected(self) -> Any:
        """The cluster client, built now when it is not yet."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build()
                client = self._client
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _memory_info(client: Any) -> Any:
    """``INFO memory`` of every primary of ``client`` (a coroutine for asyncio clients)."""
    if hasattr(client, "get_primaries"):  # a cluster: every primary holds entries
        return client.info("memory", target_nodes="primaries")
    return client.info("memory")


def eviction_problem(replies: object) -> str | None:
    """What is wrong with ``INFO memory`` ``replies`` (one server's, or a cluster's by
    node) for entries that must not vanish before their expiry, or None: each server must
    have no ``maxmemory`` or ``maxmemory-policy noeviction``. Under memory pressure any
    other policy evicts keys, those with an expiry first under the ``volatile-*`` policies
    (ElastiCache's default is ``volatile-lru``): a revocation, a recorded DPoP proof or a
    rate-limit block would be forgotten without a word.

    >>> eviction_problem({"maxmemory": 0, "maxmemory_policy": "volatile-lru"}) is None
    True
    >>> eviction_problem({"maxmemory": 4096, "maxmemory_policy": "volatile-lru"})[:40]
    'redis: the server may evict entries (max'
    """
    infos = (
        [replies]
        if isinstance(replies, dict) and "maxmemory_policy" in replies
        else (list(replies.values()) if isinstance(replies, dict) else [])
    )
    if not infos or not all(isinstance(info, dict) for info in infos):
        return "redis: cannot read the eviction policy (no INFO memory)"
    for info in infos:
        policy = info.get("maxmemory_policy")
        if policy != "noeviction" and info.get("maxmemory") != 0:
            return (
                f"redis: the server may evict entries (maxmemory-policy {policy}): set "
                "maxmemory-policy noeviction, or use a server of its own without maxmemory"
            )
    return None


def _unreadable(exc: Exception) -> str:
    # refused (a renamed or disabled INFO: it cannot say, so refused too), or unreachable
    return f"redis: cannot read the eviction policy ({type(exc).__name__})"


def check_no_eviction(client: Any, unavailable: type[Exception]) -> None:
    """Raise ``unavailable`` unless the server(s) of ``client`` never evict a key before
    its expiry (:func:`eviction_problem`); a connection failure raises it too."""
    try:
        replies = _memory_info(client)
    except Exception as exc:
        raise unavailable(_unreadable(exc)) from None
    problem = eviction_problem(replies)
    if problem is not None:
        raise unavailable(problem)


async def check_no_eviction_async(client: Any, unavailable: type[Exception]) -> None:
    """:func:`check_no_eviction` for a ``redis.asyncio`` client."""
    try:
        replies = await _memory_info(client)
    except Exception as exc:
        raise unavailable(_unreadable(exc)) from None
    problem = eviction_problem(replies)
    if problem is not None:
        raise unavailable(problem)


class EvictionCheck:
    """A store's :func:`check_no_eviction`: at its first use, and again once ``every``
    seconds have passed (0: on every call) by either clock, or when a clock reads earlier
    than the last pass (a restored snapshot: see :class:`~secauth._elapsed.Since`), since a
    server's policy can change while containers run; off when not ``enabled``. A pass
    counts only when no check failed since it started (threads race).

    >>> check = EvictionCheck("Demo", enabled=True, every=60)
    >>> check.due(time.monotonic())
    True
    """

    __slots__ = ("_failures", "_passed_at", "enabled", "every")

    def __init__(self, owner: str, *, enabled: bool, every: float) -> None:
        if type(enabled) is not bool:
            raise ConfigurationError(f"{owner} check_eviction must be True or False")
        if isinstance(every, bool) or not isinstance(every, int | float) or not 0 <= every <= 3600:
            raise ConfigurationError(f"{owner} eviction_recheck must be 0 to 3600 seconds")
        self.enabled = enabled
        self.every = float(every)
        self._passed_at: Since | None = None  # when the latest check that passed started
        self._failures = 0  # checks failed so far

    def due(self, now: float) -> bool:
        """Whether a check is due at ``now`` (the monotonic clock)."""
        passed = self._passed_at
        return self.enabled and (passed is None or passed.age(now) >= self.every)

    def ensure(self, client: Any, unavailable: type[Exception]) -> None:
        """Raise ``unavailable`` when the check is due and the server may evict."""
        started = self._start()
        if started is None:
            return
        try:
            check_no_eviction(client, unavailable)
        except Exception:
            self._failed()
            raise
        self._passed(started)

    async def ensure_async(self, client: Any, unavailable: type[Exception]) -> None:
        """:meth:`ensure` for a ``redis.asyncio`` client."""
        started = self._start()
        if started is None:
            return
        try:
            await check_no_eviction_async(client, unavailable)
        except Exception:
            self._failed()
            raise
        self._passed(started)

    def _start(self) -> tuple[Since, int] | None:
        """When a due check starts and the failures before it, or None when none is due."""
        now = time.monotonic()
        return (Since.at(now), self._failures) if self.due(now) else None

    def _failed(self) -> None:
        self._failures += 1
        self._passed_at = None

    def _passed(self, started: tuple[Since, int]) -> None:
        since, failures_before = started
        if self._failures == failures_before:
            self._passed_at = since
