"""Failure policy, circuit breaker and local deny cache around a shared store.

``on_store_error`` says what a decision does when the shared store fails:

``"memory"`` (the default)
    Decide with an in-process :class:`~secauth.ratelimit.memory.MemoryStore` (same
    limit, same algorithm) until the store answers again. Each container then
    enforces the limit on its own: the fleet admits up to N times the limit for
    N warm containers, but no single client gets unlimited access, and a cache
    outage does not become an API outage.
``"closed"``
    Deny (429 with ``Retry-After``) while the store is down. The secure choice
    for login, registration and password reset, where a free window for
    brute force is worse than refusing everyone for a moment.
``"open"``
    Admit while the store is down. For limits that protect cost, not security.

A failure opens a short circuit (``retry_store_after``, 1 s by default): during it
decisions apply the policy at once instead of each waiting for a socket timeout.
The first failure of an outage is logged at WARNING on the ``secauth.ratelimit``
logger with its reason (``redis: ConnectionError``...), recovery at INFO;
nothing is raised to the caller.

The local deny cache: once the shared store answers "denied, retry after r",
the key is denied locally for r seconds with no round trip (bounded, LRU).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Final, NamedTuple

from secauth._elapsed import Since
from secauth.errors import ConfigurationError
from secauth.options import flag
from secauth.ratelimit.memory import MemoryStore
from secauth.ratelimit.store import StoreError

__all__ = ["FAILURE_POLICIES", "DenyCache", "DenyEntry", "Resilience"]

FAILURE_POLICIES: Final = ("memory", "closed", "open")


class DenyEntry(NamedTuple):
    """A denial the deny cache holds: for ``seconds`` from ``at`` (the monotonic clock),
    with the owner's ``payload`` (a limiter keeps its window's reset, in seconds from the
    same moment; a penalty box None)."""

    at: float
    seconds: float
    payload: Any

    def left(self, now: float) -> float:
        """Seconds of the denial left at ``now`` (the monotonic clock): 0 or less when it
        is over, ``-inf`` when the clock reads earlier than ``at`` (a restored snapshot's
        clock: over too, the store is asked). Only the monotonic clock ends a denial: a
        wall clock step never shortens one (the store may be down, and its fallback does
        not know the denial).

        >>> DenyEntry(100.0, 10.0, None).left(104.0)
        6.0
        >>> DenyEntry(100.0, 10.0, None).left(5.0)  # a restored, lower clock
        -inf
        """
        return self.seconds - (now - self.at) if now >= self.at else -math.inf


class DenyCache:
    """``key -> DenyEntry`` on the monotonic clock, at most ``maxsize`` keys. A denial is
    dropped once its ``seconds`` have passed, or when the clock reads earlier than when it
    was put (a restored snapshot): the store is asked again.

    >>> cache = DenyCache(maxsize=2)
    >>> cache.put("ip:203.0.113.5", seconds=10.0, payload=None, now=100.0)
    >>> cache.get("ip:203.0.113.5", now=104.0).seconds
    10.0
    >>> cache.get("ip:203.0.113.5", now=110.0) is None  # expired: dropped
    True
    """

    __slots__ = ("_data", "_lock", "maxsize")

    def __init__(self, maxsize: int = 10_000) -> None:
        self.maxsize = maxsize
        self._data: dict[str, DenyEntry] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str, now: float) -> DenyEntry | None:
        """The denial held for ``key`` if it still runs at ``now``; None otherwise."""
        hit = self._data.get(key)
        if hit is None:
            return None
        if hit.left(now) <= 0:
            with self._lock:
                self._data.pop(key, None)
            return None
        return hit

    def put(self, key: str, seconds: float, payload: Any, now: float) -> None:
        """Deny ``key`` for ``seconds`` from ``now`` (the monotonic clock)."""
        with self._lock:
            data = self._data
            data.pop(key, None)
            if len(data) >= self.maxsize:
                data.pop(next(iter(data)))
            data[key] = DenyEntry(now, seconds, payload)


class Resilience:
    """The failure policy, breaker and deny cache one limiter (or penalty box) uses."""

    __slots__ = (
        "_down_since",
        "_logger",
        "deny_cache",
        "fallback",
        "on_store_error",
        "owner",
        "retry_store_after",
        "store_failures",
    )

    def __init__(
        self,
        store: Any,
        *,
        on_store_error: str,
        retry_store_after: float,
        deny_cache: bool,
        owner: str,
    ) -> None:
        if on_store_error not in FAILURE_POLICIES:
            raise ConfigurationError(
                f"on_store_error must be one of {FAILURE_POLICIES}, not {on_store_error!r}"
            )
        if (
            isinstance(retry_store_after, bool)
            or not isinstance(retry_store_after, int | float)
            or not 0 < retry_store_after <= 300
        ):
            raise ConfigurationError(
                f"retry_store_after must be seconds in (0, 300], not {retry_store_after!r}"
            )
        self.on_store_error = on_store_error
        self.retry_store_after = float(retry_store_after)
        self.owner = owner
        shared = bool(getattr(store, "shared", False))
        self.deny_cache = DenyCache() if flag("deny_cache", deny_cache) and shared else None
        self.fallback = MemoryStore() if on_store_error == "memory" and shared else None
        self._down_since: Since | None = None  # the latest failure of an outage
        self._logger: Any = None
        self.store_failures = 0

    def store_is_down(self, now: float) -> bool:
        """Whether the latest failure is less than ``retry_store_after`` old at ``now``
        (the monotonic clock); never when a clock reads earlier than it (a restored
        snapshot): the store is asked again."""
        since = self._down_since
        return since is not None and since.age(now) < self.retry_store_after

    def failed(self, exc: BaseException, now: float) -> None:
        """Open the breaker and log the first failure of an outage."""
        self.store_failures += 1
        first = self._down_since is None
        self._down_since = Since.at(now)
        if first:
            # A StoreError's reason is the store's own words (never a value or a URL); any
            # other exception's text or attributes may hold a connection string: its type.
            reason = exc.reason if isinstance(exc, StoreError) else type(exc).__name__
            self.logger().warning(
                "secauth rate-limit store failed (%s) for %s; on_store_error=%s",
                reason,
                self.owner,
                self.on_store_error,
                extra={"reason": "rate_limit_store_unavailable", "store_error": reason},
            )

    def succeeded(self) -> None:
        if self._down_since is not None:
            self._down_since = None
            self.logger().info("secauth rate-limit store is answering again for %s", self.owner)

    def logger(self) -> Any:
        if self._logger is None:
            import logging

            self._logger = logging.getLogger("secauth.ratelimit")
        return self._logger


def monotonic() -> float:
    return time.monotonic()
