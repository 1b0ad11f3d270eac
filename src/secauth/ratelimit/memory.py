"""``MemoryStore``: the algorithms in process memory, bounded, with an injectable clock.

One container only: behind a Lambda fleet of N containers it admits up to N times
the limit and forgets on every recycle. Use it for tests, for limits that are
per-container on purpose, and as the ``on_store_error="memory"`` fallback of a
shared store.

Memory is bounded by ``maxsize`` keys per table (rate-limit state, penalty
counters, penalty blocks): the least recently used key is evicted first when a
new one arrives, and expired state is dropped as it is met. It is a plain dict
kept in LRU order (``cachetools`` was measured and not used: a ``TTLCache``
access costs more than this whole decision, see docs/ratelimit.md).

Example
-------
>>> from secauth.ratelimit import Limit
>>> t = [0.0]
>>> store = MemoryStore(clock=lambda: t[0])
>>> [store.hit("k", Limit(2, 60), "fixed_window").allowed for _ in range(3)]
[True, True, False]
>>> t[0] = 60.0
>>> store.hit("k", Limit(2, 60), "fixed_window").remaining
1
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from secauth.errors import ConfigurationError
from secauth.ratelimit.algorithms import ALGORITHM_FUNCTIONS
from secauth.ratelimit.limit import Limit
from secauth.ratelimit.result import RateLimitResult

__all__ = ["MemoryStore"]


class MemoryStore:
    """Rate-limit and penalty state in a bounded dict.

    Parameters
    ----------
    maxsize:
        Keys kept per table (default 10 000); the least recently used goes first.
    clock:
        Seconds as a float, monotonic (default :func:`time.monotonic`). Tests inject
        their own.
    wall_clock:
        Epoch seconds (default :func:`time.time`): the clock of calendar quotas
        (``"10000/month"``), whose windows are UTC calendar periods.
    """

    is_async = False
    shared = False
    algorithms = ("fixed_window", "sliding_window", "gcra")

    def __init__(
        self,
        *,
        maxsize: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if type(maxsize) is not int or maxsize < 1:
            raise ConfigurationError(f"MemoryStore maxsize must be an int >= 1, not {maxsize!r}")
        self.maxsize = maxsize
        self.clock = clock
        self.wall_clock = wall_clock
        self.evictions = 0
        # one table per algorithm: a key used with two algorithms keeps two states; calendar
        # quotas have their own (their times are on the wall clock)
        self._tables: dict[str, dict[str, list[int]]] = {
            name: {} for name in (*self.algorithms, "calendar")
        }
        self._counters: dict[str, list[Any]] = {}
        self._blocks: dict[str, int] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryStore(maxsize={self.maxsize})"

    def __len__(self) -> int:
        return sum(len(table) for table in self._tables.values())

    def _now(self) -> int:
        return round(self.clock() * 1_000_000)

    def _make_room(self, table: dict[str, Any], now: int) -> None:
        """Drop the least recently used entry (or an expired one met first)."""
        key = next(iter(table))
        value = table.pop(key)
        expiry = value[0] if isinstance(value, list) else value
        if expiry > now:
            self.evictions += 1

    # --- rate limits -----------------------------------------------------------------

    def hit(
        self, key: str, limit: Limit, algorithm: str, cost: int = 1, *, policy: str = "default"
    ) -> RateLimitResult:
        """Count one request of ``cost`` against ``key`` and decide."""
        return self._decide(key, limit, algorithm, cost, policy)

    def usage(
        self, key: str, limit: Limit, algorithm: str, *, policy: str = "default"
    ) -> RateLimitResult:
        """The state of ``key`` as a decision of cost 0: nothing spent, nothing written."""
        return self._decide(key, limit, algorithm, 0, policy)

    async def usage_async(
        self, key: str, limit: Limit, algorithm: str, *, policy: str = "default"
    ) -> RateLimitResult:
        return self._decide(key, limit, algorithm, 0, policy)

    def _decide(
        self, key: str, limit: Limit, algorithm: str, cost: int, policy: str
    ) -> RateLimitResult:
        decide = ALGORITHM_FUNCTIONS[algorithm]
        if limit.calendar is None:
            state = self._tables[algorithm]
            now = round(self.clock() * 1_000_000)
        else:
            if algorithm != "fixed_window":
                raise ConfigurationError(
                    f"calendar quota {limit.describe()!r} decides with 'fixed_window' only"
                )
            state = self._tables["calendar"]
            now = round(self.wall_clock() * 1_000_000)
        with self._lock:
            if cost == 0:  # a read: the algorithm works on a copy
                entry = state.get(key)
                entry = None if entry is None or entry[0] <= now else list(entry)
                allowed, remaining, reset_us, retry_us, entry = decide(entry, now, limit, 0)
            else:
                entry = state.pop(key, None)
                if entry is not None and entry[0] <= now:
                    entry = None
                allowed, remaining, reset_us, retry_us, entry = decide(entry, now, limit, cost)
                if entry[0] > now:
                    if len(state) >= self.maxsize:
                        self._make_room(state, now)
                    state[key] = entry  # re-inserted last: LRU order
        return RateLimitResult(
            allowed,
            limit.burst if algorithm == "gcra" else limit.count,
            remaining,
            reset_us / 1_000_000,
            retry_us / 1_000_000,
            policy=policy,
            window=limit.period,
        )

    async def hit_async(
        self, key: str, limit: Limit, algorithm: str, cost: int = 1, *, policy: str = "default"
    ) -> RateLimitResult:
        return self.hit(key, limit, algorithm, cost, policy=policy)

    # --- penalties -------------------------------------------------------------------

    def blocked_for(self, subject: str) -> float:
        """Seconds left on the block of ``subject`` (0.0 when not blocked)."""
        now = self._now()
        with self._lock:
            until = self._blocks.get(subject)
            if until is None:
                return 0.0
            if until <= now:
                del self._blocks[subject]
                return 0.0
            return (until - now) / 1_000_000

    def record(
        self,
        subject: str,
        kind: str,
        threshold: Limit,
        cooldown: float,
        member: str | None = None,
    ) -> float:
        """Count one ``kind`` event of ``subject`` (distinct by ``member`` when given).

        More than ``threshold.count`` events (or distinct members) within the
        window (from the first event) blocks ``subject`` for ``cooldown`` seconds.
        Returns the seconds left on the block (0.0 when not blocked). The member
        set is capped at ``threshold.count + 1`` items: bounded memory per key.
        """
        now = self._now()
        key = f"{subject}|{kind}"
        with self._lock:
            until = self._blocks.get(subject)
            if until is not None and until > now:
                return (until - now) / 1_000_000
            counters = self._counters
            entry = counters.pop(key, None)
            if entry is None or entry[0] <= now:
                entry = [now + threshold.period_us, 0, set()]
            if member is None:
                entry[1] += 1
            elif member not in entry[2]:
                entry[2].add(member)
                entry[1] = len(entry[2])
            if entry[1] > threshold.count:
                block_until = now + round(cooldown * 1_000_000)
                blocks = self._blocks
                blocks.pop(subject, None)
                if len(blocks) >= self.maxsize:
                    self._make_room(blocks, now)
                blocks[subject] = block_until
                return cooldown
            if len(counters) >= self.maxsize:
                self._make_room(counters, now)
            counters[key] = entry
            return 0.0

    async def blocked_for_async(self, subject: str) -> float:
        return self.blocked_for(subject)

    async def record_async(
        self,
        subject: str,
        kind: str,
        threshold: Limit,
        cooldown: float,
        member: str | None = None,
    ) -> float:
        return self.record(subject, kind, threshold, cooldown, member)

    def clear(self) -> None:
        """Forget every key."""
        with self._lock:
            for table in self._tables.values():
                table.clear()
            self._counters.clear()
            self._blocks.clear()
