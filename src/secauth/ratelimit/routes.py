"""``RouteLimits``: rate limits of their own for some routes of a ``Routes`` table.

``Guard(routes=..., route_limits={"POST /login": RateLimiter.per_ip("5/minute")})``
builds one. Keys are the table's route keys (the verb's case aside: ``"post /login"``
names ``"POST /login"``); a key the table does not have is a
:class:`~secauth.errors.ConfigurationError` at construction, naming the table's keys.
A request counts against the limit of the route it resolves to, after the guard's
global limit; a path that reads two ways (a case or percent-encoding variant of a
literal) counts against the limits of both routes.

Example
-------
>>> from secauth.access import Routes, public
>>> from secauth.ratelimit import RateLimiter
>>> routes = Routes({"POST /login": public(), "GET /orders/{id}": public()})
>>> login = RateLimiter.per_ip("5/minute")
>>> limits = RouteLimits({"post /login": login}, routes)
>>> limits.for_path("POST", "/login") == (login,)
True
>>> limits.for_path("GET", "/orders/7"), limits.for_path("GET", "/nowhere")
((), ())
>>> RouteLimits({"POST /logon": login}, routes)
Traceback (most recent call last):
...
secauth.errors.ConfigurationError: route_limits: 'POST /logon' is not a route of the Routes table; its routes are ['GET /orders/{id}', 'POST /login']
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from secauth.errors import ConfigurationError
from secauth.ratelimit.limiter import CombinedLimiter, RateLimiter
from secauth.routing import parse_route_key

if TYPE_CHECKING:
    from secauth.access import Routes

__all__ = ["RouteLimits"]


def _spelling(key: str) -> tuple[str, str]:
    """A route key as the table compares it: the verb upper-cased, the template as written."""
    parsed = parse_route_key(key)
    return parsed.verb, parsed.template.text if parsed.template is not None else ""


class RouteLimits:
    """Per-route rate limits, checked against a :class:`~secauth.access.Routes` table.

    Parameters
    ----------
    limits:
        ``{"VERB /template": RateLimiter | CombinedLimiter}``, keys as in ``routes``.
    routes:
        The table the keys must name routes of (None: a ConfigurationError).

    Attributes
    ----------
    routes: the table.
    by_route: the limiter of each route, under the table's own spelling of its key
        (the ``route`` that :meth:`~secauth.access.Routes.resolve` answers).
    limiters: every :class:`~secauth.ratelimit.RateLimiter` involved (combined ones
        flattened), e.g. to see whether any uses an async store.
    """

    __slots__ = ("by_route", "limiters", "routes")

    def __init__(
        self, limits: Mapping[str, RateLimiter | CombinedLimiter], routes: Routes | None
    ) -> None:
        from secauth.access import Routes

        if not isinstance(routes, Routes):
            raise ConfigurationError(
                "route_limits need a route table: pass routes=Routes({...}) with them"
            )
        if not isinstance(limits, Mapping):
            raise ConfigurationError(
                'route_limits is a mapping such as {"POST /login": RateLimiter.per_ip("5/minute")}'
            )
        table = {_spelling(key.key): key.key for key, _ in routes.table.routes}
        table.update({(key, ""): key for key in routes.table.specials})
        by_route: dict[str, RateLimiter | CombinedLimiter] = {}
        flat: list[RateLimiter] = []
        for key, limiter in limits.items():
            route = table.get(_spelling(key))
            if route is None:
                raise ConfigurationError(
                    f"route_limits: {key!r} is not a route of the Routes table; its routes "
                    f"are {routes.route_keys()}"
                )
            if route in by_route:
                raise ConfigurationError(f"route_limits: {key!r} names route {route!r} twice")
            if not isinstance(limiter, RateLimiter | CombinedLimiter):
                raise ConfigurationError(
                    f"route_limits[{key!r}] must be a RateLimiter such as "
                    f'RateLimiter.per_ip("5/minute"), not {type(limiter).__name__}'
                )
            by_route[route] = limiter
            parts = limiter.limiters if isinstance(limiter, CombinedLimiter) else (limiter,)
            flat.extend(parts)
        self.routes = routes
        self.by_route = by_route
        self.limiters: tuple[RateLimiter, ...] = tuple(flat)

    def __repr__(self) -> str:
        return f"RouteLimits({self.by_route!r})"

    def __len__(self) -> int:
        return len(self.by_route)

    def for_path(self, method: str, path: str) -> tuple[RateLimiter | CombinedLimiter, ...]:
        """The limiters of the route ``method path`` resolves to in the table (and of the
        route of every other reading of the path); none for a path no route serves."""
        found = self.routes.resolve(method, path)
        if found is None:
            return ()
        out: list[RateLimiter | CombinedLimiter] = []
        for match in (found, *found.others):
            limiter = self.by_route.get(match.route) if match.route is not None else None
            if limiter is not None and all(limiter is not seen for seen in out):
                out.append(limiter)
        return tuple(out)
