"""``RateLimiter``: a limit, a key function and a store, with a failure policy.

Example
-------
>>> from secauth.ratelimit import RateLimiter
>>> event = {"httpMethod": "POST", "resource": "/login", "path": "/login",
...          "requestContext": {"identity": {"sourceIp": "198.51.100.7"}}}
>>> limiter = RateLimiter.per_ip("2/minute")
>>> [limiter.hit(event).allowed for _ in range(3)]
[True, True, False]
>>> limiter.hit(event).headers()["Retry-After"] != ""
True
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from secauth.errors import ConfigurationError
from secauth.events import Request
from secauth.principal import Principal
from secauth.ratelimit.combined import as_request, hit_limits, hit_limits_async
from secauth.ratelimit.enforcing import Enforcing
from secauth.ratelimit.keys import (
    ApiKey,
    ClientIp,
    KeyFunc,
    by_principal,
    by_tenant,
    limit_name,
    safe_key,
    safe_name,
    trusted_key,
)
from secauth.ratelimit.limit import ALGORITHMS, Limit, LimitLike, as_limit
from secauth.ratelimit.memory import MemoryStore
from secauth.ratelimit.policy import DenyEntry, Resilience
from secauth.ratelimit.result import HEADER_STYLES, RateLimitResult, Usage

TYPE_CHECKING = False
if TYPE_CHECKING:
    from secauth.ratelimit.plans import PlanFrom, PlanLimiter, PlanTable

__all__ = ["CombinedLimiter", "RateLimiter", "hit_limits", "hit_limits_async"]

class RateLimiter(Enforcing):
    """Limit requests per key: ``RateLimiter(limit, key=..., store=...)`` or a constructor.

    Parameters
    ----------
    limit:
        ``"100/minute"``, ``"5/10s"`` or a :class:`~secauth.ratelimit.Limit`.
    key:
        ``(request, principal) -> str | None``; None exempts the request.
    store:
        :class:`~secauth.ratelimit.MemoryStore` (default, one container),
        :class:`~secauth.ratelimit.RedisStore`, :class:`~secauth.ratelimit.DynamoDBStore`
        or their async variants.
    algorithm:
        ``"sliding_window"`` (default where the store supports it), ``"fixed_window"``
        or ``"gcra"``. DynamoDB stores support ``"fixed_window"`` only, which is
        then the default. A calendar quota (``"10000/month"``) counts with
        ``"fixed_window"`` only (its window is the calendar period), the default for it.
    burst:
        GCRA bucket size for a string ``limit`` (default: the count).
    name:
        The policy name in headers and the key namespace (default: the built-in key
        function's: ``ip``, ``principal``, ``tenant``, ``api_key``). Required with your own
        key function: limits that share a store and a count must differ by name.
    on_store_error:
        ``"memory"`` (default), ``"closed"`` or ``"open"``: see
        :mod:`secauth.ratelimit.policy`.
    headers:
        ``"ietf"`` (default), ``"x"``, ``"both"`` or ``"none"``.
    deny_cache:
        Answer "denied" locally until the store's retry time (default True).
    retry_store_after:
        Seconds to skip a failed store before trying it again (default 1.0).
    """

    def __init__(
        self,
        limit: LimitLike,
        *,
        key: KeyFunc,
        store: Any = None,
        algorithm: str | None = None,
        burst: int | None = None,
        name: str | None = None,
        on_store_error: str = "memory",
        headers: str = "ietf",
        deny_cache: bool = True,
        retry_store_after: float = 1.0,
    ) -> None:
        self.limit: Limit = as_limit(limit, burst=burst)
        if not callable(key):
            raise ConfigurationError("RateLimiter key must be a function (request, principal)")
        self.key = key
        self.store = MemoryStore() if store is None else store
        self.algorithm = _checked_algorithm(algorithm, self.limit, self.store)
        if headers not in HEADER_STYLES:
            raise ConfigurationError(f"headers must be one of {HEADER_STYLES}, not {headers!r}")
        self.headers = headers
        self.name = limit_name(key, name, "RateLimiter")
        self._trusted_key = trusted_key(key)
        # State of different limits or algorithms never shares a store key: neither part
        # holds ":" (safe_name hashes a name with one), so a key reads one way only.
        self._namespace = f"{safe_name(self.name)}:{self.limit.describe()}:"
        self._quota = self.limit.burst if self.algorithm == "gcra" else self.limit.count
        self._guard = Resilience(
            self.store,
            on_store_error=on_store_error,
            retry_store_after=retry_store_after,
            deny_cache=deny_cache,
            owner=f"RateLimiter {self.name!r}",
        )
        self._exempt = RateLimitResult(
            True,
            self._quota,
            self._quota,
            0.0,
            0.0,
            policy=self.name,
            window=self.limit.period,
            style="none",
            exempt=True,
        )

    def __repr__(self) -> str:
        return (
            f"RateLimiter({self.limit!r}, name={self.name!r}, algorithm={self.algorithm!r}, "
            f"store={self.store!r}, on_store_error={self.on_store_error!r})"
        )

    @property
    def on_store_error(self) -> str:
        return self._guard.on_store_error

    # --- constructors ----------------------------------------------------------------

    @classmethod
    def per_ip(
        cls,
        limit: LimitLike,
        *,
        trusted_proxies: int = 0,
        ipv6_prefix: int = 64,
        test_invoke: str = "key",
        **options: Any,
    ) -> RateLimiter:
        """Per client IP (see :class:`~secauth.ratelimit.keys.ClientIp`)."""
        key = ClientIp(
            trusted_proxies=trusted_proxies, ipv6_prefix=ipv6_prefix, test_invoke=test_invoke
        )
        return cls(limit, key=key, **options)

    @classmethod
    def per_principal(cls, limit: LimitLike, **options: Any) -> RateLimiter:
        """Per authenticated principal; anonymous callers are not counted (combine with per_ip)."""
        return cls(limit, key=by_principal, **options)

    @classmethod
    def per_tenant(cls, limit: LimitLike, **options: Any) -> RateLimiter:
        """Per tenant of the principal; callers without a tenant are not counted."""
        return cls(limit, key=by_tenant, **options)

    @classmethod
    def per_api_key(
        cls, limit: LimitLike, *, header: str = "x-api-key", **options: Any
    ) -> RateLimiter:
        """Per API key (hashed); requests without one are not counted."""
        return cls(limit, key=ApiKey(header), **options)

    @classmethod
    def per_key(cls, limit: LimitLike, key: KeyFunc, **options: Any) -> RateLimiter:
        """Per the value of your own ``key(request, principal)`` function; ``name=`` is
        required (it keeps the counters apart from other limits' in a shared store).

        >>> RateLimiter.per_key("5/minute", key=lambda r, p: r.headers.get("x-device"),
        ...                     name="device").name
        'device'
        """
        return cls(limit, key=key, **options)

    @staticmethod
    def combine(*limiters: RateLimiter | CombinedLimiter) -> CombinedLimiter:
        """Several limits on one request, e.g. per IP **and** per principal."""
        return CombinedLimiter(*limiters)

    @staticmethod
    def per_plan(
        table: PlanTable,
        *,
        plan_of: PlanFrom,
        key: KeyFunc = by_principal,
        default: str | None = None,
        **options: Any,
    ) -> PlanLimiter:
        """Limits chosen per request from the caller's plan: see
        :class:`~secauth.ratelimit.plans.PlanLimiter`."""
        from secauth.ratelimit.plans import PlanLimiter

        return PlanLimiter(table, plan_of=plan_of, key=key, default=default, **options)

    # --- decisions -------------------------------------------------------------------

    def _store_key(self, request: Request, principal: Principal | None) -> str | None:
        value = self.key(request, principal)
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"rate-limit key function returned {type(value).__name__}, not str")
        return self._namespace + (value if self._trusted_key else safe_key(value))

    def _check_cost(self, cost: int) -> None:
        if type(cost) is not int or not 1 <= cost <= self._quota:
            raise ConfigurationError(f"cost must be an int from 1 to {self._quota}, not {cost!r}")

    def hit(
        self,
        request: Request | Mapping[str, Any],
        principal: Principal | None = None,
        *,
        cost: int = 1,
    ) -> RateLimitResult:
        """Count this request and decide; never raises for a store failure.

        ``request`` is a :class:`~secauth.events.Request` or the raw Lambda event.
        """
        self._check_cost(cost)
        store_key = self._store_key(as_request(request), principal)
        if store_key is None:
            return self._exempt
        return self._hit_store(store_key, cost)

    def hit_key(self, store_key: str, cost: int = 1) -> RateLimitResult:
        """Decide for a ready store key (as ``hit`` does; for custom pipelines)."""
        self._check_cost(cost)
        return self._hit_store(store_key, cost)

    def _hit_store(self, store_key: str, cost: int) -> RateLimitResult:
        store = self.store
        if store.is_async:
            raise ConfigurationError(
                f"{type(store).__name__} is async: use 'await limiter.hit_async(...)'"
            )
        now = time.monotonic()
        local = self._answered_locally(store_key, cost, now)
        if local is not None:
            return local
        try:
            result = store.hit(store_key, self.limit, self.algorithm, cost, policy=self.name)
        except Exception as exc:
            return self._store_failed(exc, store_key, cost)
        return self._settled(store_key, result, now, cost)

    async def hit_async(
        self,
        request: Request | Mapping[str, Any],
        principal: Principal | None = None,
        *,
        cost: int = 1,
    ) -> RateLimitResult:
        """:meth:`hit` for async code: awaits an async store; a sync shared store runs
        in a worker thread; the memory store is called directly."""
        self._check_cost(cost)
        store_key = self._store_key(as_request(request), principal)
        if store_key is None:
            return self._exempt
        store = self.store
        if not store.is_async:
            if not getattr(store, "shared", False):
                return self._hit_store(store_key, cost)
            import asyncio

            return await asyncio.to_thread(self._hit_store, store_key, cost)
        now = time.monotonic()
        local = self._answered_locally(store_key, cost, now)
        if local is not None:
            return local
        try:
            result = await store.hit_async(
                store_key, self.limit, self.algorithm, cost, policy=self.name
            )
        except Exception as exc:
            return self._store_failed(exc, store_key, cost)
        return self._settled(store_key, result, now, cost)

    # The decision around the store's one round trip, shared by _hit_store and hit_async.

    def _answered_locally(self, store_key: str, cost: int, now: float) -> RateLimitResult | None:
        """A denial the deny cache still holds, or the failure policy's answer while the
        store is marked down; None: ask the store."""
        cache = self._guard.deny_cache
        if cache is not None:
            cached = cache.get(store_key, now)
            if cached is not None:
                return self._cached_denial(cached, now)
        if self._guard.store_is_down(now):
            return self._degraded(store_key, cost)
        return None

    def _store_failed(self, exc: Exception, store_key: str, cost: int) -> RateLimitResult:
        """The failure policy's answer to a store that failed just now (noted by the guard)."""
        self._guard.failed(exc, time.monotonic())
        return self._degraded(store_key, cost)

    def _settled(
        self, store_key: str, result: RateLimitResult, now: float, cost: int
    ) -> RateLimitResult:
        """The store's answer, in this limit's header style; a denial of one request (a
        costlier one may be refused while a cheaper one fits) with a retry time is kept in
        the deny cache until then."""
        self._guard.succeeded()
        result.style = self.headers
        cache = self._guard.deny_cache
        if cache is not None and cost == 1 and not result.allowed and result.retry_after > 0:
            cache.put(store_key, result.retry_after, result.reset_after, now)
        return result

    # --- read-out --------------------------------------------------------------------

    def _usage_key(self, request_or_key: Any, principal: Principal | None) -> str | None:
        if isinstance(request_or_key, str):
            value = request_or_key
            if isinstance(self.key, ClientIp):  # the bucket hits count in ("2001:db8::/64")
                value = self.key.bucket_of(value)
            return self._namespace + (value if self._trusted_key else safe_key(value))
        return self._store_key(as_request(request_or_key), principal)

    def usage(
        self,
        request_or_key: Request | Mapping[str, Any] | str,
        principal: Principal | None = None,
    ) -> tuple[Usage, ...]:
        """This limit's state for a request's key, without spending: one
        :class:`~secauth.ratelimit.result.Usage` (``()`` when the limit does not apply).

        ``request_or_key`` is a request (or event) with its ``principal``, or the value
        the key function returns (``principal_key(principal)`` for ``per_principal``:
        ``"user:alice"`` for a caller without an issuer or tenant; an address for
        ``per_ip``, keyed as hits are: IPv4-mapped unmapped, IPv6 by its network). One
        store read (Redis: one script call; DynamoDB: one ``GetItem``); a store failure
        raises :class:`~secauth.ratelimit.StoreError`.

        >>> limiter = RateLimiter.per_key("10000/month", key=lambda r, p: "acme", name="org")
        >>> limiter.usage("acme")[0].remaining
        10000
        """
        store_key = self._usage_key(request_or_key, principal)
        if store_key is None:
            return ()
        if self.store.is_async:
            raise ConfigurationError(
                f"{type(self.store).__name__} is async: use 'await limiter.usage_async(...)'"
            )
        return (
            Usage.of(self.store.usage(store_key, self.limit, self.algorithm, policy=self.name)),
        )

    async def usage_async(
        self,
        request_or_key: Request | Mapping[str, Any] | str,
        principal: Principal | None = None,
    ) -> tuple[Usage, ...]:
        """:meth:`usage` for async code (a sync shared store runs in a worker thread)."""
        store_key = self._usage_key(request_or_key, principal)
        if store_key is None:
            return ()
        store, limit, algorithm, name = self.store, self.limit, self.algorithm, self.name
        if store.is_async:
            result = await store.usage_async(store_key, limit, algorithm, policy=name)
        elif getattr(store, "shared", False):
            import asyncio

            result = await asyncio.to_thread(store.usage, store_key, limit, algorithm, policy=name)
        else:
            result = store.usage(store_key, limit, algorithm, policy=name)
        return (Usage.of(result),)

    # --- degraded answers ------------------------------------------------------------

    def _cached_denial(self, cached: DenyEntry, now: float) -> RateLimitResult:
        left = max(0.0, cached.left(now))  # the payload: the window's reset_after
        return RateLimitResult(
            False,
            self._quota,
            0,
            left + max(0.0, cached.payload - cached.seconds),
            left,
            policy=self.name,
            window=self.limit.period,
            style=self.headers,
        )

    def _degraded(self, store_key: str, cost: int) -> RateLimitResult:
        guard = self._guard
        if guard.fallback is not None:
            result = guard.fallback.hit(
                store_key, self.limit, self.algorithm, cost, policy=self.name
            )
            result.degraded = True
            result.style = self.headers
            return result
        allowed = guard.on_store_error == "open"
        wait = 0.0 if allowed else guard.retry_store_after
        return RateLimitResult(
            allowed,
            self._quota,
            self._quota if allowed else 0,
            guard.retry_store_after,
            wait,
            policy=self.name,
            window=self.limit.period,
            degraded=True,
            style=self.headers,
        )


def _checked_algorithm(algorithm: str | None, limit: Limit, store: Any) -> str:
    """The algorithm a limiter counts with: ``algorithm``, checked against the limit and
    what ``store`` supports, or the best the store offers (sliding window, unless the
    limit is a calendar quota)."""
    supported = getattr(store, "algorithms", None)
    if not isinstance(supported, tuple) or not hasattr(store, "is_async"):
        raise ConfigurationError(f"{store!r} is not a rate-limit store")
    calendar = limit.calendar
    if algorithm is None:
        sliding = "sliding_window" in supported and calendar is None
        algorithm = "sliding_window" if sliding else "fixed_window"
    if algorithm not in ALGORITHMS:
        raise ConfigurationError(f"algorithm must be one of {ALGORITHMS}, not {algorithm!r}")
    if calendar is not None and algorithm != "fixed_window":
        raise ConfigurationError(
            f"calendar quota {limit.describe()!r} counts in the calendar {calendar} "
            f"with algorithm='fixed_window'; not {algorithm!r}"
        )
    if algorithm not in supported:
        raise ConfigurationError(
            f"{type(store).__name__} supports algorithm {', '.join(supported)}; "
            f"not {algorithm!r}"
        )
    return algorithm


class CombinedLimiter(Enforcing):
    """Several limiters on one request, checked in order.

    A request is admitted only if every limiter admits it. Checking stops at the
    first denial, so later limits are not charged for a refused request (earlier
    ones were: each decision is one atomic round trip of its own store). Exempt
    limiters (a key function that returned None) are left out of the result.
    """

    def __init__(self, *limiters: RateLimiter | CombinedLimiter) -> None:
        flat: list[RateLimiter] = []
        for limiter in limiters:
            if isinstance(limiter, CombinedLimiter):
                flat.extend(limiter.limiters)
            elif isinstance(limiter, RateLimiter):
                flat.append(limiter)
            else:
                raise ConfigurationError(f"combine() takes RateLimiter objects, not {limiter!r}")
        if not flat:
            raise ConfigurationError("combine() needs at least one RateLimiter")
        self.limiters: tuple[RateLimiter, ...] = tuple(flat)

    def __repr__(self) -> str:
        return f"CombinedLimiter{self.limiters!r}"

    def hit(
        self, request: Request | Mapping[str, Any], principal: Principal | None = None
    ) -> RateLimitResult:
        return hit_limits(self.limiters, request, principal)

    async def hit_async(
        self, request: Request | Mapping[str, Any], principal: Principal | None = None
    ) -> RateLimitResult:
        return await hit_limits_async(self.limiters, request, principal)



    def usage(
        self, request: Request | Mapping[str, Any], principal: Principal | None = None
    ) -> tuple[Usage, ...]:
        """Every limit's :meth:`RateLimiter.usage`, in order (exempt ones left out)."""
        view = as_request(request)
        return tuple(u for limiter in self.limiters for u in limiter.usage(view, principal))

    async def usage_async(
        self, request: Request | Mapping[str, Any], principal: Principal | None = None
    ) -> tuple[Usage, ...]:
        view = as_request(request)
        return tuple(
            [u for limiter in self.limiters for u in await limiter.usage_async(view, principal)]
        )

