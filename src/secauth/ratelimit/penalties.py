"""``AbusePenalty``: refuse an IP or principal for a cooldown after signs of abuse.

Two detectors, on the same stores as the rate limits:

* **authentication failures** (credential stuffing, brute force): more than N
  failures from one IP, or against one principal, within a window;
* **endpoint scanning**: more than M *distinct* unknown paths (404s) from one IP
  within a window (a common detection rule: more than 20 distinct 404 paths).

Crossing a threshold blocks the subject for ``cooldown`` seconds; while blocked,
:meth:`AbusePenalty.check` raises :class:`~secauth.errors.AbuseBlocked` (429,
reason ``abuse_blocked``, with ``retry_after``). Windows start at the subject's
first event (Redis, memory) or are aligned to the clock (DynamoDB).

Distinct paths are counted in bounded memory: paths are hashed to 8 bytes; the
memory store keeps at most M + 1 hashes per IP, Redis a set (``SADD``/``SCARD``:
exact, at most M + 1 members), DynamoDB a string set capped at M + 1 by the update's
condition. After a block ends, every store counts afresh.

Example
-------
>>> from secauth.ratelimit import AbusePenalty
>>> from secauth.errors import AbuseBlocked
>>> penalty = AbusePenalty(auth_failures="3/minute", cooldown=60)
>>> event = {"version": "2.0", "rawPath": "/login",
...          "requestContext": {"http": {"method": "POST", "sourceIp": "203.0.113.5"}}}
>>> [penalty.record_auth_failure(event) for _ in range(4)]
[0.0, 0.0, 0.0, 60.0]
>>> try:
...     penalty.check(event)
... except AbuseBlocked as err:
...     print(err.reason, err.status)
abuse_blocked 429
"""

from __future__ import annotations

import hashlib
import time
import unicodedata
from collections.abc import Mapping
from typing import Any, NamedTuple

from secauth.errors import ConfigurationError
from secauth.events import Request
from secauth.principal import Principal
from secauth.ratelimit.keys import ClientIp, principal_key, safe_key
from secauth.ratelimit.limit import Limit, LimitLike, as_limit
from secauth.ratelimit.memory import MemoryStore
from secauth.ratelimit.policy import Resilience
from secauth.ratelimit.result import abuse_error

__all__ = ["AbusePenalty"]

_AUTH = "auth"
_SCAN = "scan"


def _member(path: str) -> str:
    return hashlib.blake2b(path.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


class _Count(NamedTuple):
    """One event to count for one subject: its detector's ``kind`` and ``threshold``, and
    the hashed path (``member``) that scanning counts distinct (None for failures)."""

    subject: str
    kind: str
    threshold: Limit
    member: str | None


class AbusePenalty:
    """Penalty box for failed authentication and endpoint scanning.

    Parameters
    ----------
    store:
        Any rate-limit store (default: a :class:`~secauth.ratelimit.MemoryStore`).
    auth_failures:
        ``"10/5minutes"``-style threshold: more than 10 failures in 5 minutes
        blocks. None disables the detector.
    unknown_paths:
        Threshold of distinct unknown paths per IP (default ``"20/10minutes"``).
        None disables it.
    cooldown:
        Seconds a subject stays blocked (default 900).
    client_ip:
        How to find the client IP (default :class:`~secauth.ratelimit.keys.ClientIp`).
    on_store_error, retry_store_after, deny_cache:
        As for :class:`~secauth.ratelimit.RateLimiter` (default ``"memory"``).
    """

    def __init__(
        self,
        *,
        store: Any = None,
        auth_failures: LimitLike | None = "10/5minutes",
        unknown_paths: LimitLike | None = "20/10minutes",
        cooldown: float = 900.0,
        client_ip: ClientIp | None = None,
        on_store_error: str = "memory",
        retry_store_after: float = 1.0,
        deny_cache: bool = True,
    ) -> None:
        self.store = MemoryStore() if store is None else store
        if not hasattr(self.store, "is_async"):
            raise ConfigurationError(f"{self.store!r} is not a rate-limit store")
        self.auth_failures: Limit | None = (
            None if auth_failures is None else as_limit(auth_failures)
        )
        self.unknown_paths: Limit | None = (
            None if unknown_paths is None else as_limit(unknown_paths)
        )
        if self.auth_failures is None and self.unknown_paths is None:
            raise ConfigurationError("AbusePenalty needs auth_failures= or unknown_paths=")
        if isinstance(cooldown, bool) or not isinstance(cooldown, int | float):
            raise ConfigurationError(f"cooldown must be seconds, not {cooldown!r}")
        if not 1 <= cooldown <= 86400 * 7:
            raise ConfigurationError(f"cooldown must be from 1 s to 7 days, not {cooldown!r} s")
        self.cooldown = float(cooldown)
        self.client_ip = client_ip or ClientIp()
        self._guard = Resilience(
            self.store,
            on_store_error=on_store_error,
            retry_store_after=retry_store_after,
            deny_cache=deny_cache,
            owner="AbusePenalty",
        )

    def __repr__(self) -> str:
        return (
            f"AbusePenalty(auth_failures={self.auth_failures!r}, "
            f"unknown_paths={self.unknown_paths!r}, cooldown={self.cooldown})"
        )

    # --- subjects --------------------------------------------------------------------

    def _ip_subject(self, request: Request) -> str:
        return "ip:" + self.client_ip(request)

    @staticmethod
    def _principal_subject(principal: Principal | str | None) -> str | None:
        if principal is None:
            return None
        if isinstance(principal, Principal):
            if principal.is_anonymous:
                return None
            if principal.kind != "user" or principal.tenant is not None:
                return "p:" + principal_key(principal)
            principal = principal.id  # a user: one subject with the name of that user
        # A user name as tried: its case and Unicode variants count as one (identity
        # providers such as Cognito match names case-insensitively); any value counts.
        name = principal if isinstance(principal, str) else str(principal)
        folded = unicodedata.normalize("NFKC", name).casefold().strip()
        return "p:" + safe_key(f"user:{folded}")

    def _subjects(
        self, request: Request | Mapping[str, Any], principal: Principal | str | None
    ) -> list[str]:
        view = request if isinstance(request, Request) else Request.from_event(request)
        subjects = [self._ip_subject(view)]
        other = self._principal_subject(principal)
        if other is not None:
            subjects.append(other)
        return subjects

    def _auth_counts(
        self, request: Request | Mapping[str, Any], principal: Principal | str | None
    ) -> list[_Count]:
        """The counts one failed authentication makes (none with the detector off)."""
        threshold = self.auth_failures
        if threshold is None:
            return []
        return [_Count(s, _AUTH, threshold, None) for s in self._subjects(request, principal)]

    def _scan_counts(self, request: Request | Mapping[str, Any], path: str | None) -> list[_Count]:
        """The count one unknown path makes (none with the detector off)."""
        threshold = self.unknown_paths
        if threshold is None:
            return []
        view = request if isinstance(request, Request) else Request.from_event(request)
        return [_Count(self._ip_subject(view), _SCAN, threshold, _member(path or view.path))]

    # --- the decisions around the store's one round trip (shared by sync and async) --

    def _policy_blocked(self, subject: str) -> float:
        """The answer while the store is down: fallback memory, or everyone/no one blocked."""
        guard = self._guard
        if guard.fallback is not None:
            return guard.fallback.blocked_for(subject)
        return guard.retry_store_after if guard.on_store_error == "closed" else 0.0

    def _policy_record(self, count: _Count) -> float:
        guard = self._guard
        if guard.fallback is not None:
            return guard.fallback.record(
                count.subject, count.kind, count.threshold, self.cooldown, count.member
            )
        return 0.0

    def _blocked_locally(self, subject: str, now: float) -> float | None:
        """A block the deny cache still holds, or the failure policy's answer while the
        store is marked down; None: ask the store."""
        cache = self._guard.deny_cache
        if cache is not None:
            hit = cache.get(subject, now)
            left = hit.left(now) if hit is not None else 0.0
            if left > 0:  # (a clock read since get() may end it: then the store is asked)
                return left
        if self._guard.store_is_down(now):
            return self._policy_blocked(subject)
        return None

    def _recorded_locally(self, count: _Count, now: float) -> float | None:
        """The failure policy's answer while the store is marked down; None: ask the store."""
        if self._guard.store_is_down(now):
            return self._policy_record(count)
        return None

    def _blocked_failed(self, exc: Exception, subject: str) -> float:
        """The failure policy's answer to a store that failed just now (noted by the guard)."""
        self._guard.failed(exc, time.monotonic())
        return self._policy_blocked(subject)

    def _record_failed(self, exc: Exception, count: _Count) -> float:
        self._guard.failed(exc, time.monotonic())
        return self._policy_record(count)

    def _settled(self, subject: str, now: float, left: float) -> float:
        """The store's answer; a block is kept in the deny cache until it ends."""
        guard = self._guard
        guard.succeeded()
        if left > 0 and guard.deny_cache is not None:
            guard.deny_cache.put(subject, left, None, now)
        return left

    @staticmethod
    def _refuse(left: float) -> None:
        if left > 0:
            raise abuse_error(left, "blocked")

    # --- sync: the store call only ---------------------------------------------------

    def _blocked(self, subject: str) -> float:
        now = time.monotonic()
        local = self._blocked_locally(subject, now)
        if local is not None:
            return local
        try:
            left = float(self.store.blocked_for(subject))
        except Exception as exc:
            return self._blocked_failed(exc, subject)
        return self._settled(subject, now, left)

    def _record(self, count: _Count) -> float:
        now = time.monotonic()
        local = self._recorded_locally(count, now)
        if local is not None:
            return local
        try:
            left = float(
                self.store.record(
                    count.subject, count.kind, count.threshold, self.cooldown, count.member
                )
            )
        except Exception as exc:
            return self._record_failed(exc, count)
        return self._settled(count.subject, now, left)

    def _check_sync(self) -> None:
        if self.store.is_async:
            raise ConfigurationError(
                f"{type(self.store).__name__} is async: use the *_async methods of AbusePenalty"
            )

    # --- public API ------------------------------------------------------------------

    def blocked_for(
        self, request: Request | Mapping[str, Any], principal: Principal | str | None = None
    ) -> float:
        """Seconds the request's IP (or principal) stays blocked; 0.0 when it may pass."""
        self._check_sync()
        return max(self._blocked(s) for s in self._subjects(request, principal))

    def check(
        self, request: Request | Mapping[str, Any], principal: Principal | str | None = None
    ) -> None:
        """Raise :class:`~secauth.errors.AbuseBlocked` when the IP or principal is blocked."""
        self._refuse(self.blocked_for(request, principal))

    def record_auth_failure(
        self, request: Request | Mapping[str, Any], principal: Principal | str | None = None
    ) -> float:
        """Count a failed authentication for the IP and, when given, the principal
        (or the user name that was tried); return the seconds of block (0.0: none)."""
        self._check_sync()
        return max((self._record(c) for c in self._auth_counts(request, principal)), default=0.0)

    def record_not_found(
        self, request: Request | Mapping[str, Any], path: str | None = None
    ) -> float:
        """Count an unknown path (404) for the IP; distinct paths only."""
        self._check_sync()
        return max((self._record(c) for c in self._scan_counts(request, path)), default=0.0)

    # --- async: the store call only --------------------------------------------------

    async def _call(self, name: str, *args: Any) -> float:
        store = self.store
        if store.is_async:
            return float(await getattr(store, name + "_async")(*args))
        if getattr(store, "shared", False):
            import asyncio

            return float(await asyncio.to_thread(getattr(store, name), *args))
        return float(getattr(store, name)(*args))

    async def _blocked_async(self, subject: str) -> float:
        now = time.monotonic()
        local = self._blocked_locally(subject, now)
        if local is not None:
            return local
        try:
            left = await self._call("blocked_for", subject)
        except Exception as exc:
            return self._blocked_failed(exc, subject)
        return self._settled(subject, now, left)

    async def _record_async(self, count: _Count) -> float:
        now = time.monotonic()
        local = self._recorded_locally(count, now)
        if local is not None:
            return local
        try:
            left = await self._call(
                "record", count.subject, count.kind, count.threshold, self.cooldown, count.member
            )
        except Exception as exc:
            return self._record_failed(exc, count)
        return self._settled(count.subject, now, left)

    async def blocked_for_async(
        self, request: Request | Mapping[str, Any], principal: Principal | str | None = None
    ) -> float:
        """As :meth:`blocked_for`, for async code."""
        return max([await self._blocked_async(s) for s in self._subjects(request, principal)])

    async def check_async(
        self, request: Request | Mapping[str, Any], principal: Principal | str | None = None
    ) -> None:
        """As :meth:`check`, for async code."""
        self._refuse(await self.blocked_for_async(request, principal))

    async def record_auth_failure_async(
        self, request: Request | Mapping[str, Any], principal: Principal | str | None = None
    ) -> float:
        """As :meth:`record_auth_failure`, for async code."""
        counts = self._auth_counts(request, principal)
        return max([await self._record_async(c) for c in counts], default=0.0)

    async def record_not_found_async(
        self, request: Request | Mapping[str, Any], path: str | None = None
    ) -> float:
        """As :meth:`record_not_found`, for async code."""
        counts = self._scan_counts(request, path)
        return max([await self._record_async(c) for c in counts], default=0.0)
