"""``Enforcing``: ``enforce``/``enforce_async`` for every limiter, on top of its own
``hit``/``hit_async`` (:class:`~secauth.ratelimit.RateLimiter`,
:class:`~secauth.ratelimit.CombinedLimiter`, :class:`~secauth.ratelimit.PlanLimiter`).

>>> from secauth.ratelimit import RateLimiter, MemoryStore
>>> limiter = RateLimiter.per_ip("1/minute", store=MemoryStore())
>>> event = {"httpMethod": "POST", "resource": "/login", "path": "/login",
...          "requestContext": {"identity": {"sourceIp": "198.51.100.7"}}}
>>> limiter.enforce(event).allowed
True
>>> limiter.enforce(event)
Traceback (most recent call last):
...
secauth.errors.RateLimited: too many requests (rate_limited)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from secauth.events import Request
    from secauth.principal import Principal
    from secauth.ratelimit.result import RateLimitResult

__all__ = ["Enforcing"]


class Enforcing:
    """A limiter's ``enforce``: :meth:`hit`, raising :class:`~secauth.errors.RateLimited`
    on denial (with the result's headers), and its async twin."""

    __slots__ = ()

    def hit(
        self, request: Request | Mapping[str, Any], principal: Principal | None = None
    ) -> RateLimitResult:
        raise NotImplementedError

    async def hit_async(
        self, request: Request | Mapping[str, Any], principal: Principal | None = None
    ) -> RateLimitResult:
        raise NotImplementedError

    def enforce(
        self, request: Request | Mapping[str, Any], principal: Principal | None = None
    ) -> RateLimitResult:
        """:meth:`hit`, raising :class:`~secauth.errors.RateLimited` on denial."""
        result = self.hit(request, principal)
        result.raise_for_denial()
        return result

    async def enforce_async(
        self, request: Request | Mapping[str, Any], principal: Principal | None = None
    ) -> RateLimitResult:
        """:meth:`hit_async`, raising :class:`~secauth.errors.RateLimited` on denial."""
        result = await self.hit_async(request, principal)
        result.raise_for_denial()
        return result
