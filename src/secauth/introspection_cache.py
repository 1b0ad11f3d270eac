"""The introspection answers one container remembers, and the single flight that fills them.

:class:`IntrospectionCache` holds answers by the SHA-256 of the token (never the token):
an active token's claims until the earlier of its ``exp`` and a maximum TTL, an inactive
verdict for a short negative TTL; bounded, the oldest entry evicted first.
:class:`SingleFlight` makes concurrent callers asking for one key share one call, in
threads and in asyncio tasks.

>>> cache = IntrospectionCache(size=2)
>>> key = token_key("opaque-token")
>>> answer = Introspected('{"sub": "u"}', exp=2e9, nbf=0.0, made_at=1000.0, until=1060.0,
...                       refusal=None)
>>> cache.put(key, answer)
>>> cache.get(key, now=1000.0).claims_json, cache.get(key, now=1060.0)
('{"sub": "u"}', None)
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Generic, NamedTuple, TypeVar

from secauth.errors import SecAuthError

__all__ = ["Introspected", "IntrospectionCache", "SingleFlight", "token_key"]

T = TypeVar("T")


def token_key(token: str) -> bytes:
    """The cache key of ``token``: its SHA-256 digest.

    >>> len(token_key("abc"))
    32
    """
    return hashlib.sha256(token.encode()).digest()


class Introspected(NamedTuple):
    """One answer: the accepted claims as JSON, the token's ``exp`` and ``nbf`` as
    seconds, ``made_at``, when it arrived, ``until``, when the cache forgets it, and for a
    refused token (not active, or claims that fail the policy) ``refusal``: the error class
    and detail to raise (then ``claims_json`` is None)."""

    claims_json: str | None
    exp: float
    nbf: float
    made_at: float
    until: float
    refusal: tuple[type[SecAuthError], dict[str, Any]] | None


class IntrospectionCache:
    """Answers by token digest, at most ``size`` of them (0: none kept); thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, Introspected] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes, now: float) -> Introspected | None:
        """The answer for ``key`` while it lives (from ``made_at`` until before ``until``: a
        clock that reads earlier, a wall clock stepped back, asks again), else None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if not entry.made_at <= now < entry.until:
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            return None
        return entry

    def put(self, key: bytes, entry: Introspected) -> None:
        """Keep ``entry``, evicting the oldest entries beyond ``size``."""
        if self.size <= 0:
            return
        with self._lock:
            self._entries.pop(key, None)
            while len(self._entries) >= self.size:
                self._entries.popitem(last=False)
            self._entries[key] = entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class _Flight(Generic[T]):
    __slots__ = ("done", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: T | None = None


class SingleFlight(Generic[T]):
    """One call per key at a time: callers that ask while a call runs get its result.

    ``fetch`` must not raise: return failures as values (each caller then raises its own
    error). Threads share calls made with :meth:`run`; asyncio tasks of one event loop share
    calls made with :meth:`run_async` (a task cancelled while waiting leaves the call running
    for the others).

    >>> flight = SingleFlight[int]()
    >>> flight.run(b"k", lambda: 42)
    42
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[bytes, _Flight[T]] = {}
        self._tasks: dict[tuple[asyncio.AbstractEventLoop, bytes], asyncio.Task[T]] = {}

    def run(self, key: bytes, fetch: Callable[[], T]) -> T:
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            flight.done.wait()
            return flight.result  # type: ignore[return-value]  # set before done
        try:
            flight.result = result = fetch()
            return result
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()

    async def run_async(self, key: bytes, fetch: Callable[[], Awaitable[T]]) -> T:
        loop = asyncio.get_running_loop()
        slot = (loop, key)
        with self._lock:
            task = self._tasks.get(slot)
            if task is None:
                task = self._tasks[slot] = loop.create_task(_awaited(fetch))
                task.add_done_callback(lambda _: self._forget(slot))
        return await asyncio.shield(task)

    def _forget(self, slot: tuple[asyncio.AbstractEventLoop, bytes]) -> None:
        with self._lock:
            self._tasks.pop(slot, None)


async def _awaited(fetch: Callable[[], Awaitable[T]]) -> T:
    return await fetch()
