"""How a :class:`~secauth.guard.Guard` decides a request on its route table and its own
rule: every reading of the request must allow it.

* The path as the table reads it (:func:`~secauth.guard_http.route_path`). No route for
  it is a 404, or a 405 when other verbs have one.
* On an HTTP API's named stage, also the path as sent, when the table has a first segment
  of the stage's name (behind a custom domain the stage is not in the path), as the
  Authorizer reads it (:func:`~secauth.routing.stage_readings`).
* The route API Gateway says it ran (REST ``resource``, HTTP ``routeKey``), with API
  Gateway's path parameters, when the table has that route. Behind a custom domain's
  base-path mapping the path starts with the mapping's prefix, and a catch-all route of
  the table would otherwise decide for the route that ran.
* The guard's own rule (:meth:`Guard.require`) on the parameters of each reading; without
  a table, on API Gateway's path parameters.

>>> from secauth import Principal, Routes, public
>>> from secauth.events import Request
>>> event = {"version": "2.0", "rawPath": "/a", "routeKey": "GET /a",
...          "requestContext": {"http": {"method": "GET", "path": "/a"}, "stage": "$default"}}
>>> record = {}
>>> decide(Routes({"GET /a": public()}), None, Principal.anonymous(), Request.from_event(event),
...        record)
>>> record["route"], record["decision"]
('GET /a', 'allow')
"""

from __future__ import annotations

from typing import Any

from secauth.access import AccessContext, RouteMatch, Routes, Rule
from secauth.errors import MethodNotAllowed, NotFound
from secauth.events import EventKind, Request
from secauth.guard_http import route_path
from secauth.principal import Principal
from secauth.routing import stage_readings

__all__ = ["decide", "route_ran"]


def decide(
    routes: Routes | None,
    rule: Rule | None,
    principal: Principal,
    request: Request,
    record: dict[str, Any],
) -> None:
    """Decide ``request`` for ``principal`` (module docs); raise the refusal, else write
    the route and the allowing decision into ``record``."""
    method, path = request.method, route_path(request)
    readings = _judged(routes, principal, request, path, record) if routes is not None else None
    if rule is not None:
        # Each reading's parameters; without a table, API Gateway's.
        parameters = [r.params for r in readings] if readings is not None else [request.path_params]
        for params in parameters:
            context = AccessContext(method, path, dict(params), request)
            refusal = rule.check(principal, context)
            if refusal is not None:
                raise refusal.to_error()
    record.update(decision="allow", status=200)


def _judged(
    routes: Routes, principal: Principal, request: Request, path: str, record: dict[str, Any]
) -> list[RouteMatch]:
    """Every reading of ``request`` on ``routes``, each judged; raise the first denial."""
    method = request.method
    found = routes.resolve(method, path)
    decision = routes.judge(principal, found, method, path, request)
    record.update(route=decision.route)
    if decision.route is None and not decision.allowed and routes.default is None:
        methods = routes.methods_for(path)
        if methods:
            raise MethodNotAllowed(detail={"allowed": sorted(methods)})
        raise NotFound()
    decision.raise_for_denial()
    assert found is not None  # judge denies a request no rule decides
    readings = [found, *found.others]
    others: list[tuple[str, RouteMatch | None]] = []  # the other readings (module docs)
    if request.kind is EventKind.HTTP_V2:
        _, as_sent = stage_readings(request.path, request.stage, routes.table)
        if as_sent is not None:
            others.append((as_sent, routes.resolve(method, as_sent)))
    ran = route_ran(request)
    if ran is not None and (found.route is None or found.route.partition(" ")[2] != ran):
        named = routes.route_named(method, ran, request.path_params)
        if named is not None:
            others.append((path, named))
    for other_path, other in others:
        routes.judge(principal, other, method, other_path, request).raise_for_denial()
        assert other is not None
        readings += [other, *other.others]
    return readings


def route_ran(request: Request) -> str | None:
    """The path template of the route API Gateway says it ran for ``request``: a REST
    event's ``resource``, the path of an HTTP event's ``routeKey``; None for an HTTP API's
    ``$default`` route, ALB and Function URL events.

    >>> route_ran(Request(EventKind.REST_V1, {"resource": "/orders/{id}"}))
    '/orders/{id}'
    """
    if request.kind is EventKind.REST_V1:
        resource = request.raw.get("resource")
        return resource if isinstance(resource, str) and resource.startswith("/") else None
    if request.kind is EventKind.HTTP_V2 and request.route_key:
        template = request.route_key.partition(" ")[2]
        return template if template.startswith("/") else None
    return None
