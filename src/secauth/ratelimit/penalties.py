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
from typing import Any

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

    # --- the store, behind the failure policy ----------------------------------------

    def _policy_blocked(self, subject: str) -> float:
        """The answer while the store is down: fallback memory, or everyone/no one blocked."""
        guard = self._guard
        if guard.fallback is not None:
            return guard.fallback.blocked_for(subject)
        return guard.retry_store_after if guard.on_store_error == "closed" else 0.0

    def _policy_record(
        self, subject: str, kind: str, threshold: Limit, member: str | None
    ) -> float:
        guard = self._guard
        if guard.fallback is not None:
            return guard.fallback.record(subject, kind, threshold, self.cooldown, member)
        return 0.0

    def _cached(self, subject: str, now: float) -> float | None:
        cache = self._guard.deny_cache
        if cache is not None:
            cached = cache.get(subject, now)
            if cached is not None:
                return float(cached[0] - now)
        return None

    def _remember(self, subject: str, now: float, left: float) -> None:
        cache = self._guard.deny_cache
        if left > 0 and cache is not None:
            cache.put(subject, now + left, None)

    def _blocked(self, subject: str) -> float:
        guard = self._guard
        now = time.monotonic()
        cached = self._cached(subject, now)
        if cached is not None:
            return cached
        if not guard.store_is_down(now):
            try:
                left = float(self.store.blocked_for(subject))
            except Exception as exc:
                guard.failed(exc, time.monotonic())
            else:
                guard.succeeded()
                self._remember(subject, now, left)
                return left
        return self._policy_blocked(subject)

    def _record(self, subject: str, kind: str, threshold: Limit, member: str | None) -> float:
        guard = self._guard
        now = time.monotonic()
        if not guard.store_is_down(now):
            try:
                left = float(self.store.record(subject, kind, threshold, self.cooldown, member))
            except Exception as exc:
                guard.failed(exc, time.monotonic())
            else:
                guard.succeeded()
                self._remember(subject, now, left)
                return left
        return self._policy_record(subject, kind, threshold, member)

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
        left = self.blocked_for(request, principal)
        if left > 0:
            raise abuse_error(left, "blocked")

    def record_auth_failure(
        self, request: Request | Mapping[str, Any], principal: Principal | str | None = None
    ) -> float:
        """Count a failed authentication for the IP and, when given, the principal
        (or the user name that was tried); return the seconds of block (0.0: none)."""
        self._check_sync()
        threshold = self.auth_failures
        if threshold is None:
            return 0.0
        return max(
            self._record(s, _AUTH, threshold, None) for s in self._subjects(request, principal)
        )

    def record_not_found(
        self, request: Request | Mapping[str, Any], path: str | None = None
    ) -> float:
        """Count an unknown path (404) for the IP; distinct paths only."""
        self._check_sync()
        threshold = self.unknown_paths
        if threshold is None:
            return 0.0
        view = request if isinstance(request, Request) else Request.from_event(request)
        return self._record(self._ip_subject(view), _SCAN, threshold, _member(path or view.path))

    # --- async -----------------------------------------------------------------------

    async def _call(self, name: str, *args: Any) -> float:
        store = self.store
        if store.is_async:
            return float(await getattr(store, name + "_async")(*args))
        if getattr(store, "shared", False):
            import asyncio

            return float(await asyncio.to_thread(getattr(store, name), *args))
        return float(getattr(store, name)(*args))

    async def _blocked_async(self, subject: str) -> float:
        guard = self._guard
        now = time.monotonic()
        cached = self._cached(subject, now)
        if cached is not None:
            return cached
        if not guard.store_is_down(now):
            try:
                left = await self._call("blocked_for", subject)
            except Exception as exc:
                guard.failed(exc, time.monotonic())
            else:
                guard.succeeded()
                self._remember(subject, now, left)
                return left
        return self._policy_blocked(subject)

    async def _record_async(
        self, subject: str, kind: str, threshold: Limit, member: str | None
    ) -> float:
        guard = self._guard
        now = time.monotonic()
        if not guard.store_is_down(now):
            try:
                left = await self._call("record", subject, kind, threshold, self.cooldown, member)
            except Exception as exc:
                guard.failed(exc, time.monotonic())
            else:
                guard.succeeded()
                self._remember(subject, now, left)
                return left
        return self._policy_record(subject, kind, threshold, member)

    async def blocked_for_async(
        self, request: Request | Mapping[str, Any], principal: Principal | str | None = None
    ) -> float:
        lefts = [await self._blocked_async(s) for s in self._subjects(request, principal)]
        return max(lefts)

    async def check_async(
        self, request: Request | Mapping[str, Any], principal: Principal | str | None = None
    ) -> None:
        left = await self.blocked_for_async(request, principal)
        if left > 0:
            raise abuse_error(left, "blocked")

    async def record_auth_failure_async(
        self, request: Request | Mapping[str, Any], principal: Principal | str | None = None
    ) -> float:
        threshold = self.auth_failures
        if threshold is None:
            return 0.0
        lefts = [
            await self._record_async(s, _AUTH, threshold, None)
            for s in self._subjects(request, principal)
        ]
        return max(lefts)

    async def record_not_found_async(
        self, request: Request | Mapping[str, Any], path: str | None = None
    ) -> float:
        threshold = self.unknown_paths
        if threshold is None:
            return 0.0
        view = request if isinstance(request, Request) else Request.from_event(request)
        return await self._record_async(
            self._ip_subject(view), _SCAN, threshold, _member(path or view.path)
        )
