"""How a :class:`~secauth.guard.Guard` decides a request on its route table and its own
rule: every path the request may mean must be allowed.

* The path as the table reads it (:func:`~secauth.guard_http.route_path`). No route for
  it is a 404, or a 405 when other verbs have one.
* On an HTTP API's named stage, also the path as sent, when the table has a first segment
  of the stage's name (behind a custom domain the stage is not in the path), as the
  Authorizer reads it (:func:`~secauth.route_table.stage_readings`).
* The path API Gateway routed (:func:`~secauth.targets.routed_path`: the route it ran, REST ``resource``
  or HTTP ``routeKey``, filled with its path parameters), when it differs. Behind a custom
  domain's base-path mapping the path starts with the mapping's prefix, and a catch-all
  route of the table would otherwise decide for the route that ran; an HTTP API passes
  its path decoded, so an encoded ``/`` in a parameter shifts the segments of the path.
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

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from secauth.access import Decision, Routes, Rule
from secauth.errors import (
    ConfigurationError,
    Forbidden,
    MethodNotAllowed,
    MissingToken,
    NotFound,
    SecAuthError,
)
from secauth.events import Request
from secauth.guard_http import is_http_api, route_path
from secauth.parameter_readings import parameter_readings
from secauth.principal import Principal
from secauth.route_table import stage_readings
from secauth.routing import VERBS, split_path
from secauth.rules import missing_parameters
from secauth.targets import ELSEWHERE, ran_elsewhere, routed_path

__all__ = ["anonymous_if_public", "check_rule", "decide", "paths_of"]


def check_rule(routes: Routes | None, rule: Rule) -> Rule:
    """``rule``, a guard's own on top of ``routes``; refused when it reads a path parameter
    no route of the table has, where that changes what it allows (a misspelt name:
    :func:`~secauth.rules.missing_parameters`). On a route without it, the rule is
    undecided there (a tenant's "names no tenant"), which no ``~`` turns into an allow.
    Without a table the parameters are API Gateway's, unknown here."""
    if routes is None:
        return rule
    have = frozenset().union(*(key.template.parameters for key, _ in routes.table.routes if key.template))
    missing = sorted(missing_parameters(rule, have))
    if missing:
        raise ConfigurationError(
            f"the guard's rule reads the path parameter {missing[0]!r}, which no route of "
            f"its table has (theirs: {sorted(have) or 'none'})"
        )
    return rule


def decide(
    routes: Routes | None,
    rule: Rule | None,
    principal: Principal,
    request: Request,
    record: dict[str, Any],
    app_path: str | None = None,
) -> None:
    """Decide ``request`` for ``principal`` (module docs); raise the refusal, else write
    the route and the allowing decision into ``record``. ``app_path``: the path the
    application routes on when it rewrites the event's (:func:`paths_of`)."""
    method, paths = request.method, paths_of(request, routes, app_path)
    if routes is None and any(path and split_path(path) is None for path in paths):
        raise NotFound()  # the spellings a table refuses, refused without one too
    if routes is not None:
        _judged(routes, principal, request, paths, record)
    if rule is not None:
        # Each reading's parameters; without a table, API Gateway's. Every path the
        # request may mean (the application's too), each with ";" read both ways.
        parameters = (
            _reading_parameters(routes, request, paths) if routes is not None else [request.path_params]
        )
        for path in paths:
            for params in parameters:
                for context in parameter_readings(method, path, params, request):
                    refusal = rule.check(principal, context)
                    if refusal is not None:
                        raise refusal.to_error()
    record.update(decision="allow", status=200)


def anonymous_if_public(routes: Routes | None, rule: Rule | None, request: Request) -> Principal:
    """The anonymous principal when every reading of ``request`` is public in ``routes``
    (a guard with no per-handler ``rule``); else the caller is asked for a token (401)."""
    anonymous = Principal.anonymous()
    if routes is not None and rule is None:
        try:
            decide(routes, None, anonymous, request, {})
        except SecAuthError:
            raise MissingToken() from None
        return anonymous
    raise MissingToken()


def paths_of(request: Request, routes: Routes | None, app_path: str | None = None) -> list[str]:
    """Every path ``request`` may mean (module docs), the one the table reads first: the
    path as the table reads it (:func:`~secauth.guard_http.route_path`), or, behind a
    base-path mapping, the path API Gateway routed (the mapping's prefix is not the
    API's path) unless only the path with the prefix has a route (a table written with
    the prefix). Then the path with the prefix too, when the table has a route for it
    other than a catch-all (a backend may route on the path as sent); the routed path
    when it is another one; the path as sent on a named stage; and ``app_path``, the path
    the application routes on when it rewrites the event's (Powertools' ``strip_prefixes``
    strips a prefix from whatever path arrives, the execute-api endpoint's included). With
    :attr:`~secauth.access.Routes.integration_per_route`, the routed path alone (and
    ``app_path``), for an event that names the route that ran.

    >>> from secauth.testing_events import rest_proxy
    >>> event = rest_proxy("GET", "/v1/a/7", resource="/a/{id}", path_params={"id": "7"})
    >>> event["requestContext"]["domainName"] = "api.example.com"
    >>> paths_of(Request.from_event(event), None)
    ['/a/7']
    """
    sent = route_path(request)
    # Read everywhere, not only on custom domains: an HTTP API passes its path decoded, so
    # an encoded "/" in a parameter shifts the segments the table reads.
    routed = routed_path(request)
    method = request.method
    # One integration per route: the route API Gateway ran is what runs, and nothing routes
    # again on the path as sent (a mapping's prefix, a named stage).
    per_route_path = routed if routes is not None and routes.integration_per_route else None
    if per_route_path is not None:
        paths = [per_route_path]
    elif routed and routed != sent and _on_custom_domain(request) and _mapping_prefix(sent, routed):
        # The API's root behind "v1" is "/v1", sent as "/v1/" too.
        prefixed = sent.removesuffix("/") if routed == "/" else sent
        if (
            routes is not None
            and _has_route(routes, (method,), prefixed)
            and not _has_route(routes, VERBS, routed)  # under any verb: else a 405 is due
        ):
            paths = [prefixed]  # a table written with the mapping's prefix
        else:
            paths = [routed]
            if routes is not None and _beyond_catch_all(routes, method, prefixed):
                paths.append(prefixed)  # a backend may route on the path as sent
    else:
        paths = [sent]
        if routed is not None and routed != sent:
            paths.append(routed)
    if routes is not None and is_http_api(request) and per_route_path is None:
        as_sent = stage_readings(request.path, request.stage, routes.table)[1]
        if as_sent is not None and as_sent not in paths:
            paths.append(as_sent)
    if app_path is not None and app_path not in paths:
        paths.append(app_path)
    return paths


def _has_route(routes: Routes, verbs: Iterable[str], path: str) -> bool:
    """Whether some reading of ``path`` (a case or percent variant of a literal too)
    reaches a route of the table for one of ``verbs``; True for a path too ambiguous to
    read, which must be judged (and refused), never left out."""
    segments = split_path(path)
    if segments is None:
        return False
    for verb in verbs:
        matches = routes.table.lookup(verb.upper(), segments)
        if matches is None or any(match is not None for match in matches):
            return True
    return False


def _beyond_catch_all(routes: Routes, method: str, path: str) -> bool:
    """Whether the table has a route for ``path`` other than a catch-all (a route whose
    first segment is greedy, ``/{proxy+}``); True for a path too ambiguous to read, which
    must be judged (and refused), never left out."""
    segments = split_path(path)
    if segments is not None and routes.table.too_ambiguous(segments):
        return True
    found = routes.resolve(method, path)
    if found is None:
        return False
    for reading in (found, *found.others):  # every reading: /ADMIN reaches /admin too
        if reading.route is not None:
            first = reading.route.partition(" ")[2].split("/", 2)[1]
            if not (first.startswith("{") and first.endswith("+}")):
                return True
    return False


def _mapping_prefix(path: str, routed: str) -> bool:
    """Whether ``path`` is ``routed`` after whole segments (``/v1`` + ``/orders/7``), as a
    base-path mapping's prefix makes it."""
    if routed == "/":
        prefix = path.removesuffix("/")  # "/v1/" and "/v1" alike
    elif path.endswith(routed):
        prefix = path[: -len(routed)]
    else:
        return False
    return len(prefix) > 1 and prefix.startswith("/") and not prefix.endswith("/")


def _on_custom_domain(request: Request) -> bool:
    """Whether API Gateway names a custom domain name in ``requestContext.domainName``:
    base-path mappings exist only there (on ``{api}.execute-api.{region}.amazonaws.com``
    the path is the API's own)."""
    context = request.raw.get("requestContext")
    domain = context.get("domainName") if isinstance(context, Mapping) else None
    return isinstance(domain, str) and not (
        ".execute-api." in domain and domain.endswith(".amazonaws.com")
    )


def _judged(
    routes: Routes,
    principal: Principal,
    request: Request,
    paths: list[str],
    record: dict[str, Any],
) -> None:
    """Every path of ``request``, each decided by :meth:`Routes.decide` (a subclass's
    override too); raise the first denial. The first path answers 404 or 405 when no
    route has it."""
    method, path = request.method, paths[0]
    decision = routes.decide(principal, method, path, request)
    record.update(route=decision.route)
    if not decision.allowed:
        if routes.default is None and routes.resolve(method, path, decoded=request.path_decoded) is None:
            methods = routes.methods_for(path)
            if methods:
                raise MethodNotAllowed(detail={"allowed": sorted(methods)})
            raise NotFound()
        _refuse(decision)
    # an HTTP API request read as another route than the one it ran (ran_elsewhere)
    elsewhere = ran_elsewhere(routes, request, method, path, decision.decided_by)
    for other_path in paths[1:]:
        other = routes.decide(principal, method, other_path, request)
        if not other.allowed:
            _refuse(other)
        elsewhere = elsewhere or ran_elsewhere(routes, request, method, other_path, other.decided_by)
    if elsewhere:
        raise ELSEWHERE.to_error()


def _refuse(decision: Decision) -> NoReturn:
    """Raise the denial of a refusing ``decision`` (a Forbidden when an override's names none)."""
    decision.raise_for_denial()
    raise Forbidden(detail={"problem": "denied, with no denial named"})


def _reading_parameters(routes: Routes, request: Request, paths: list[str]) -> list[dict[str, str]]:
    """The path parameters of every reading of every path (for the guard's own rule);
    API Gateway's when no route has the path (a ``decide`` override allowed it): the rule
    is checked on every request, never skipped."""
    parameters = []
    for path in paths:
        found = routes.resolve(request.method, path, decoded=request.path_decoded)
        if found is not None:
            parameters += [reading.params for reading in (found, *found.others)]
    return parameters or [dict(request.path_params)]
