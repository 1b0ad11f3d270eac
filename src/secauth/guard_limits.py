"""The rate limits a :class:`~secauth.guard.Guard` counts a request against, and counting it.

A request counts against the guard's ``rate_limit``, then the ``route_limits`` of every
path it may mean (:func:`~secauth.guard_routes.paths_of`, and the path as sent): a route's
own limit counts behind a base-path mapping too. The first denial stops, and is a 429 with
the headers of every limit counted (``RateLimited.headers``). A request
refused for its credentials counts only in the limits keyed by the client IP
(:func:`~secauth.ratelimit.combined.keyed_by_client_ip`): a key read from what it presents
would let failing credentials spend another client's quota.

>>> from secauth.events import Request
>>> from secauth.ratelimit import RateLimiter
>>> event = {"version": "2.0", "rawPath": "/login",
...          "requestContext": {"http": {"method": "POST", "sourceIp": "192.0.2.1"}}}
>>> limit = RateLimiter.per_ip("1/minute")
>>> limits = request_limits(Request.from_event(event), limit, None, None)
>>> count(limits, Request.from_event(event), None).allowed
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from secauth.guard_http import enforce_limit, route_path
from secauth.guard_routes import paths_of

if TYPE_CHECKING:
    from secauth.access import Routes
    from secauth.events import Request
    from secauth.principal import Principal
    from secauth.ratelimit import RouteLimits
    from secauth.ratelimit.result import RateLimitResult

__all__ = ["count", "count_async", "request_limits"]


def request_limits(
    request: Request,
    rate_limit: Any,
    route_limits: RouteLimits | None,
    routes: Routes | None,
    app_path: str | None = None,
) -> tuple[Any, ...]:
    """The limits ``request`` counts against, in order: ``rate_limit``, then the
    ``route_limits`` of every path it may mean (``app_path``: the path the application
    routes on, as :meth:`~secauth.guard.Guard.admit` takes it)."""
    limits: tuple[Any, ...] = () if rate_limit is None else (rate_limit,)
    if route_limits is None:
        return limits
    paths = paths_of(request, routes, app_path)  # every path it may mean
    sent = route_path(request)  # counted too: a limit can only refuse more
    for each in paths if sent in paths else [*paths, sent]:
        found = route_limits.for_path(request.method, each)
        limits += tuple(lim for lim in found if all(lim is not had for had in limits))
    return limits


def count(
    limits: Sequence[Any],
    request: Request,
    principal: Principal | None,
    *,
    refused: bool = False,
) -> RateLimitResult | None:
    """Count ``request`` against ``limits`` (a request ``refused`` for its credentials,
    against those keyed by the client IP only); raise the 429 of a denial, else return the
    merged result (None: nothing counted)."""
    counted = _counted(limits, refused)
    if not counted:
        return None
    from secauth.ratelimit.combined import hit_limits  # loaded with the first limit

    return enforce_limit(hit_limits(counted, request, _caller(principal)))


async def count_async(
    limits: Sequence[Any],
    request: Request,
    principal: Principal | None,
    *,
    refused: bool = False,
) -> RateLimitResult | None:
    """:func:`count` with each limit's ``hit_async`` (async stores)."""
    counted = _counted(limits, refused)
    if not counted:
        return None
    from secauth.ratelimit.combined import hit_limits_async

    return enforce_limit(await hit_limits_async(counted, request, _caller(principal)))


def _counted(limits: Sequence[Any], refused: bool) -> Sequence[Any]:
    if not refused or not limits:
        return limits
    from secauth.ratelimit.combined import keyed_by_client_ip

    return keyed_by_client_ip(limits)


def _caller(principal: Principal | None) -> Principal | None:
    """The principal limits are keyed by: none for an anonymous caller."""
    return None if principal is None or principal.is_anonymous else principal
