"""Several limits on one request: ``hit_limits`` counts a request against each in order.

The one way several limits decide a request: ``CombinedLimiter``, plan limiters, and a
``Guard``'s global and per-route limits (also under the Powertools middleware).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from secauth.events import Request
from secauth.principal import Principal
from secauth.ratelimit.result import RateLimitResult

__all__ = ["as_request", "hit_limits", "hit_limits_async"]


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
