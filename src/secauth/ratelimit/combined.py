"""Several limits on one request: ``hit_limits`` counts a request against each in order;
``limit_parts`` flattens combined limiters, ``keyed_by_client_ip`` picks the limits a
refused request counts in.

The one way several limits decide a request: ``CombinedLimiter``, plan limiters, and a
``Guard``'s global and per-route limits (also under the Powertools middleware).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from secauth.events import Request
from secauth.principal import Principal
from secauth.ratelimit.result import RateLimitResult

__all__ = [
    "as_request",
    "counts_alike",
    "hit_limits",
    "hit_limits_async",
    "keyed_by_client_ip",
    "limit_parts",
]


def as_request(request: Request | Mapping[str, Any]) -> Request:
    """``request`` itself, or the :class:`~secauth.events.Request` view of a raw event."""
    return request if isinstance(request, Request) else Request.from_event(request)


def hit_limits(
    limiters: Sequence[Any],
    request: Request | Mapping[str, Any],
    principal: Principal | None = None,
) -> RateLimitResult:
    """Count ``request`` against each of ``limiters`` (at least one) in order, stopping at
    the first denial; their merged result (exempt limits left out).

    The one way several limits decide a request: :class:`CombinedLimiter`, and a
    ``Guard``'s global and per-route limits (also under the Powertools middleware).

    >>> from secauth.ratelimit import RateLimiter
    >>> event = {"version": "2.0", "rawPath": "/login",
    ...          "requestContext": {"http": {"method": "POST", "sourceIp": "192.0.2.1"}}}
    >>> limits = [RateLimiter.per_ip("100/minute"), RateLimiter.per_ip("1/minute", name="login")]
    >>> [hit_limits(limits, event).allowed for _ in range(2)]
    [True, False]
    """
    view = as_request(request)
    results = []
    for limiter in limiters:
        result: RateLimitResult = limiter.hit(view, principal)
        results.append(result)
        if not result.allowed:
            break
    return RateLimitResult.merge(results)


async def hit_limits_async(
    limiters: Sequence[Any],
    request: Request | Mapping[str, Any],
    principal: Principal | None = None,
) -> RateLimitResult:
    """:func:`hit_limits` with each limiter's ``hit_async``."""
    view = as_request(request)
    results = []
    for limiter in limiters:
        result: RateLimitResult = await limiter.hit_async(view, principal)
        results.append(result)
        if not result.allowed:
            break
    return RateLimitResult.merge(results)


def limit_parts(limiters: Iterable[Any]) -> list[Any]:
    """``limiters`` with each combined limiter replaced by its parts, in order: what a
    request is counted in, one limit each.

    >>> from secauth.ratelimit import RateLimiter
    >>> ip, key = RateLimiter.per_ip("5/minute"), RateLimiter.per_api_key("5/minute")
    >>> limit_parts([RateLimiter.combine(ip, key)]) == [ip, key]
    True
    """
    from secauth.ratelimit.limiter import CombinedLimiter  # that module builds on this one

    parts: list[Any] = []
    for limiter in limiters:
        parts += limiter.limiters if isinstance(limiter, CombinedLimiter) else (limiter,)
    return parts


def keyed_by_client_ip(limiters: Iterable[Any]) -> list[Any]:
    """The limits among ``limiters`` (the parts of a combined one too) keyed by the client
    IP: the only ones a request refused for its credentials counts in. A key read from
    what the request presents (an API key, a header, a claim) would let credentials that
    fail spend another client's quota. A plan limiter keyed by the IP counts a refused
    request at its default plan, and is left out without one (no plan to count it in).

    >>> from secauth.ratelimit import RateLimiter
    >>> limits = [RateLimiter.per_ip("5/minute"), RateLimiter.per_api_key("5/minute")]
    >>> [limiter.name for limiter in keyed_by_client_ip(limits)]
    ['ip']
    """
    from secauth.ratelimit.keys import ClientIp
    from secauth.ratelimit.limiter import RateLimiter
    from secauth.ratelimit.plans import PlanLimiter

    found: list[Any] = []
    for part in limit_parts(limiters):
        by_ip = isinstance(getattr(part, "key", None), ClientIp)
        if isinstance(part, PlanLimiter):
            by_ip = by_ip and part.default is not None
        if by_ip and isinstance(part, RateLimiter | PlanLimiter):
            found.append(part)
    return found


def counts_alike(
    limiter: Any, request: Request, first: Principal | None, second: Principal | None
) -> bool:
    """Whether ``limiter`` (a part: see :func:`limit_parts`) counts ``request`` in the
    same bucket for both callers: the same key, and for a plan limiter the same plan.

    >>> from secauth.ratelimit import RateLimiter
    >>> event = {"version": "2.0", "rawPath": "/",
    ...          "requestContext": {"http": {"method": "GET", "sourceIp": "192.0.2.1"}}}
    >>> ann = Principal("ann")
    >>> counts_alike(RateLimiter.per_ip("5/minute"), as_request(event), None, ann)
    True
    >>> counts_alike(RateLimiter.per_principal("5/minute"), as_request(event), None, ann)
    False
    """
    from secauth.errors import SecAuthError
    from secauth.ratelimit.plans import PlanLimiter

    key = getattr(limiter, "key", None)
    if not callable(key) or key(request, first) != key(request, second):
        return False
    if isinstance(limiter, PlanLimiter):
        try:
            return limiter.plan_for(first) == limiter.plan_for(second)
        except SecAuthError:  # no plan for one of them: not the same bucket
            return False
    return True
