"""Policies from lists of routes: the lower-level form of cached policies, for callers
that hold route keys rather than a :class:`~secauth.access.Routes` table.

>>> arn = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/users/7"
>>> doc = route_policy(arn, ["GET /users/{id}"], ["GET /users/{id}", "DELETE /users/{id}"])
>>> [r.rsplit("/prod/", 1)[1] for r in doc.statements[0].resources]
['GET/users/*']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from secauth.errors import ConfigurationError
from secauth.policy.arn import MethodArn, route_glob
from secauth.policy.document import PolicyDocument
from secauth.policy.glob import document_allows
from secauth.policy.planner import PolicyConflict, allow_patterns, plan_policy
from secauth.routing import ANY, LITERAL, VERBS, RouteKey, parse_route_key

if TYPE_CHECKING:
    from secauth.grants import Grants

__all__ = ["RouteLike", "resources_for_routes", "route_policy"]

#: ``("GET", "/orders/{id}")``, ``"GET /orders/{id}"`` or an ``AllowedRoute``.
RouteLike = str | Sequence[str]


def _route_text(route: object) -> str:
    if isinstance(route, str):
        return route
    if isinstance(route, Sequence) and len(route) == 2 and all(isinstance(p, str) for p in route):
        return f"{route[0]} {route[1]}"
    raise ConfigurationError(f"a route is 'VERB /path' or (verb, path template), got {route!r:.80}")


def resources_for_routes(method_arn: MethodArn | str, routes: Iterable[RouteLike]) -> list[str]:
    """Resource ARNs (sorted, unique) covering every ``(verb, path template)`` in ``routes``.

    ``ANY`` becomes one resource per verb. ``*`` matches across ``/`` in IAM, so
    ``/users/{id}`` also covers ``/users/7/secrets``: for a policy API Gateway may cache,
    use :class:`~secauth.policy.PolicyBuilder` with the route table, which proves its
    policies against the table.

    >>> arn = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/orders/7"
    >>> [r.split("/prod/")[1] for r in resources_for_routes(arn, ["GET /orders/{id}"])]
    ['GET/orders/*']
    """
    arn = method_arn if isinstance(method_arn, MethodArn) else MethodArn.parse(method_arn)
    if arn.is_websocket:
        raise ConfigurationError("route resources are for REST and HTTP APIs, not WebSocket ARNs")
    out: set[str] = set()
    for route in routes:
        # Routes with bound values (allowed_routes): a value may start with ":".
        route_key = parse_route_key(_route_text(route), bound_values=True)
        if route_key.template is None:
            raise ConfigurationError(f"{route_key.key!r} is not an HTTP route")
        for verb in VERBS if route_key.verb == ANY else (route_key.verb,):
            out.add(arn.prefix + route_glob(verb, route_key.template, {}))
    return sorted(out)


def route_policy(
    method_arn: MethodArn | str, allowed: Iterable[RouteLike], routes: Iterable[RouteLike]
) -> PolicyDocument:
    """A cached policy from lists of routes: ``allowed`` (bound templates, e.g.
    :meth:`Routes.allowed_routes <secauth.access.Routes.allowed_routes>`) within the table
    ``routes`` (every route the authorizer protects; unlisted paths count as denied).

    Each allowed route must be a route of the table with some parameters bound to one
    value. The policy is proven like :func:`plan_policy`'s; raises :class:`PolicyConflict`
    when none can be.

    >>> arn = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/users/7"
    >>> table = ["GET /users/{id}", "GET /users/{id}/secrets", "DELETE /users/{id}"]
    >>> doc = route_policy(arn, ["GET /users/{id}"], table)
    >>> [r.rsplit("/prod/", 1)[1] for r in doc.statements[0].resources]
    ['GET/users/*']
    >>> "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/users/*/*" in doc.statements[1].resources
    True
    """
    arn = method_arn if isinstance(method_arn, MethodArn) else MethodArn.parse(method_arn)
    if arn.is_websocket:
        raise ConfigurationError("route policies are for REST and HTTP APIs, not WebSocket ARNs")
    entries = [parse_route_key(_route_text(route), bound_values=True) for route in allowed]
    grants = _grants_of(entries, routes)
    document = plan_policy(arn.prefix, grants)
    wanted = {arn.prefix + p for patterns in allow_patterns(grants)[0].values() for p in patterns}
    given = set(document.statements[0].resources) if document and document.statements else set()
    missing = sorted(wanted - given)
    if document is None or missing:
        raise PolicyConflict(
            f"no cached IAM policy can be proven to allow {missing[0].removeprefix(arn.prefix)!r} "
            "without also allowing what this table denies (IAM's '*' spans segments and "
            "cannot tell a spelling variant from a literal); use authorizer caching TTL 0"
            if missing
            else "no cached IAM policy can be proven safe for this table; use TTL 0"
        )
    for entry in entries:
        if entry.template is None:
            continue
        request = _representative(entry)
        verb = VERBS[0] if entry.verb == ANY else entry.verb
        if not document_allows(document, f"{arn.prefix}{verb}{request}"):
            raise PolicyConflict(
                f"the Deny this table needs would also refuse {verb} {request!r}, which the "
                f"allowed route {entry.key!r} serves; use authorizer caching TTL 0"
            )
    return document


def _grants_of(entries: list[RouteKey], routes: Iterable[RouteLike]) -> Grants:
    """The grants the allowed ``entries`` make in the table of ``routes``: each entry is
    the one table route it is a bound form of (refused when it is none, or several)."""
    from secauth.access import Routes
    from secauth.grants import Grant, Grants
    from secauth.rules import public

    keys = {}
    for route in routes:
        route_key = parse_route_key(_route_text(route))
        if route_key.template is not None:
            keys[(route_key.verb, route_key.template.text)] = route_key
    if not keys:
        raise ConfigurationError("route_policy needs the table's HTTP routes")
    found: dict[tuple[str, str], list[Grant]] = {key: [] for key in keys}
    for entry in entries:
        if entry.template is None:
            continue
        origins = [
            (key, binding, verbs)
            for key, route_key in keys.items()
            for binding, verbs in [_origin(route_key, entry)]
            if binding is not None
        ]
        exact = [o for o in origins if not o[1] and o[2] is None]
        origins = exact or origins  # a route of the table itself names that route
        if not origins:
            raise ConfigurationError(f"allowed route {entry.key!r} is not in the route table")
        if len(origins) > 1:
            names = ", ".join(f"{verb} {text}" for (verb, text), _, _ in origins)
            raise PolicyConflict(
                f"allowed route {entry.key!r} could be a bound form of several routes "
                f"({names}); give the routes distinct literal segments or use authorizer "
                "caching TTL 0"
            )
        key, binding, verbs = origins[0]
        found[key].append(Grant(binding, verbs))
    table = Routes({f"{verb} {text}": public() for verb, text in keys})
    return Grants(table, tuple(tuple(found[key]) for key in keys), default=False)


def _representative(entry: RouteKey) -> str:
    """A request path of ``entry``'s template: each parameter one fresh segment."""
    assert entry.template is not None
    return "/" + "/".join(
        text if kind == LITERAL else "~w" for kind, text in entry.template.segments
    )


def _origin(
    route_key: RouteKey, entry: RouteKey
) -> tuple[dict[str, str] | None, frozenset[str] | None]:
    """How ``entry`` (a bound route) is ``route_key`` with parameters bound: the binding and
    the verbs (None: all), or (None, None) when it is not."""
    assert route_key.template is not None
    assert entry.template is not None
    verbs: frozenset[str] | None = None
    if entry.verb != route_key.verb:
        if route_key.verb != ANY or entry.verb == ANY:
            return None, None
        verbs = frozenset({entry.verb})
    mine, theirs = route_key.template.segments, entry.template.segments
    if len(mine) != len(theirs):
        return None, None
    binding: dict[str, str] = {}
    for (kind, text), (entry_kind, entry_text) in zip(mine, theirs, strict=True):
        if kind == LITERAL:
            if entry_kind != LITERAL or entry_text != text:
                return None, None
        elif entry_kind == LITERAL:
            binding[text] = entry_text
        elif entry_kind != kind:
            return None, None
    return binding, verbs
