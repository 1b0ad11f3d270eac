"""What an authorizer event asks for: the verb and path a decision is about.

The method ARN's verb and path (``routeArn`` for HTTP payload 2.0), which is what the
policy names; a WebSocket event's route key; an HTTP API ``$default`` route's method and
``rawPath`` without the stage.

>>> from secauth.access import Routes, public
>>> from secauth.events import Request
>>> request = Request.from_event({"type": "TOKEN", "authorizationToken": "Bearer t",
...     "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/orders/7"})
>>> target_of(request, Routes({"GET /orders/{id}": public()}))[:2]
('GET', '/orders/7')
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, NamedTuple

from secauth.access import Decision, Denial, Routes
from secauth.errors import ConfigurationError, UnsupportedEvent
from secauth.events import EventKind, Request
from secauth.policy import MethodArn
from secauth.principal import Principal
from secauth.reasons import Reason
from secauth.route_table import stage_readings
from secauth.routing import ANY, LITERAL, parse_template, split_path

__all__ = [
    "ELSEWHERE",
    "Target",
    "decide_as_ran",
    "ran_elsewhere",
    "route_template",
    "routed_path",
    "target_of",
]


class Target(NamedTuple):
    """What the request asks for: the verb and path the decision is about, and its ARN;
    ``also``: another path the request may mean (a ``$default`` route's path with and
    without what may be the stage), which must be allowed too."""

    method: str
    path: str
    arn: MethodArn
    also: str | None = None


def target_of(request: Request, routes: Routes) -> Target:
    """The verb and path the decision is about: the method ARN's (``routeArn`` for HTTP
    payload 2.0), which is what the policy names. Not an HTTP API's ``rawPath``: on a
    named stage it starts with the stage ("/prod/admin"), and a custom domain's API
    mapping adds its base path, so a catch-all route would decide for another route.
    WebSocket ARNs have no verb: their route (``$connect``, the only one API Gateway
    authorizes) decides, and an event whose route key names another was made up
    (:class:`~secauth.errors.UnsupportedEvent`). An HTTP API's ``$default``
    route ARN names no path either: the request's method and path (stage stripped) decide.
    ``also`` is the path API Gateway routed (:func:`routed_path`) when it differs from
    the ARN's: an HTTP API passes its path decoded, so an encoded ``/`` in a parameter
    shifts the segments the ARN's path shows.
    """
    arn = MethodArn.parse(request.method_arn)  # a bad ARN raises here
    kind = request.kind
    if kind is EventKind.WEBSOCKET_AUTHORIZER:
        if request.route_key not in (None, arn.path):
            raise UnsupportedEvent("a WebSocket route key that is not its method ARN's route")
        return Target(arn.path, "", arn)
    if arn.verb is None and arn.path == "$default" and kind.is_http_authorizer:
        # rawPath starts with a named stage on the execute-api endpoint, not always behind
        # a custom domain: when the table also has a first segment of that name, the path
        # is read both ways, and both must be allowed. The stage is the ARN's: the memo
        # keys answers by the ARN, and the policy names it.
        path, also = stage_readings(request.path, arn.stage, routes.table)
        return Target(request.method, path, arn, also)
    routed = routed_path(request)
    return Target(arn.verb or "", arn.path, arn, routed if routed != arn.path else None)


def routed_path(request: Request) -> str | None:
    """The path API Gateway routed ``request`` on: the route it ran (the ``resource`` of a
    REST or HTTP payload 1.0 event, the path of an HTTP payload 2.0 event's ``routeKey``)
    with its path parameters filled in, in the event's own encoding. None when the event
    names no route (an HTTP API's ``$default`` route, ALB, Function URLs, TOKEN
    authorizers) or no parameters that fill it (API Gateway always sends them: only a
    direct invoke, which may send anything, leaves them out); ``""`` (which no route has:
    refused) when a single-segment parameter holds a ``/``.

    >>> event = {"resource": "/t/{id}/{proxy+}", "pathParameters": {"id": "a", "proxy": "b/c"}}
    >>> routed_path(Request(EventKind.REST_V1, event))
    '/t/a/b/c'
    """
    template = route_template(request)
    if template is None:
        return None
    params = request.path_params
    parts = []
    for segment in template[1:].split("/"):  # a parameter is a whole segment, {name}
        if not (segment.startswith("{") and segment.endswith("}")):
            parts.append(segment)
            continue
        name = segment[1:-1]
        value = params.get(name.removesuffix("+"))
        if value is None:
            return None  # a parameter the event does not fill
        if "/" in value and not name.endswith("+"):
            return ""  # a single segment holds no "/": refused
        parts.append(value)  # filled in place: a value is never read as a placeholder
    return "/" + "/".join(parts)



def route_template(request: Request) -> str | None:
    """The path of the route API Gateway ran for ``request``, as a template
    (``/users/{id}``): a REST or HTTP payload 1.0 event's ``resource``, an HTTP payload
    2.0 event's ``routeKey`` less its method; None when the event names none.

    >>> route_template(Request(EventKind.HTTP_AUTHORIZER_V2, {"routeKey": "GET /users/{id}"}))
    '/users/{id}'
    """
    kind = request.kind
    if kind in _RESOURCE_KINDS:
        template = request.raw.get("resource")
    elif kind in _ROUTE_KEY_KINDS and request.route_key:
        template = request.route_key.partition(" ")[2]
    else:
        return None
    return template if isinstance(template, str) and template.startswith("/") else None


#: The denial of a request the table reads as another route than the one API Gateway ran
#: (:func:`ran_elsewhere`).
ELSEWHERE: Final = Denial(Reason.FORBIDDEN, "the path reads as another route than API Gateway ran")


def decide_as_ran(
    routes: Routes, principal: Principal, method: str, path: str, request: Request
) -> Decision:
    """The table's decision on ``path``, refused (:data:`ELSEWHERE`) when the table reads it
    as another route than the one API Gateway ran (:func:`ran_elsewhere`).

    >>> from secauth.access import authenticated
    >>> routes = Routes({"GET /users/me": authenticated(), "GET /users/{id}": authenticated()})
    >>> event = {"routeKey": "GET /users/{id}", "pathParameters": {"id": "me"}}
    >>> request = Request(EventKind.HTTP_AUTHORIZER_V2, event)
    >>> decide_as_ran(routes, Principal("ann"), "GET", "/users/me", request).reason
    <Reason.FORBIDDEN: 'forbidden'>
    """
    decision = routes.decide(principal, method, path, request)
    if decision.allowed and ran_elsewhere(routes, request, method, path, decision.decided_by):
        return decision._replace(allowed=False, reason=ELSEWHERE.reason, denial=ELSEWHERE)
    return decision


def ran_elsewhere(
    routes: Routes, request: Request, method: str, path: str, readings: Iterable[str | None]
) -> bool:
    """Whether the table reads ``path`` as another route than the table's own for the route
    API Gateway ran. ``readings``: the routes the table read ``path`` as (route keys, as
    :attr:`~secauth.access.Decision.decided_by` names them; None: the default rule).

    * With :attr:`~secauth.access.Routes.integration_per_route`, for an event that names
      the route that ran (every HTTP API event; a REST proxy or REQUEST authorizer event,
      by its ``resource``): the table's route of the same verb and template must be a
      reading, ``{proxy+}`` routes included, since nothing routes again.
    * Otherwise, for an HTTP API's decoded path: the table's own route for a route
      without ``{proxy+}`` is what it reads that route's template as, filled with values no
      literal equals (after the prefix ``path`` has before the routed path, a custom
      domain's base path). ``GET /users/m%65`` runs ``GET /users/{id}`` with ``id`` =
      ``me``, and ``/users/me`` reads as ``GET /users/me``. A ``{proxy+}`` route is left
      out: behind it an application routes again, on the decoded path the table reads. A
      path as sent (REST) reads as the route API Gateway ran it by.

    >>> from secauth.access import public
    >>> routes = Routes({"GET /users/me": public(), "GET /users/{id}": public()})
    >>> event = {"routeKey": "GET /users/{id}", "pathParameters": {"id": "me"}}
    >>> request = Request(EventKind.HTTP_AUTHORIZER_V2, event)
    >>> ran_elsewhere(routes, request, "GET", "/users/me", ["GET /users/me"])
    True
    """
    per_route = routes.integration_per_route
    if not per_route and not request.path_decoded:
        return False
    template, routed = route_template(request), routed_path(request)
    if per_route and (request.path_decoded or template is not None):  # TOKEN events name none
        listed = _ran_as_listed(routes, request, method, path, template, routed)
        if listed == "$default":  # no API route matched: nor may a table route
            return not set(readings) <= {None}
        if listed:
            return listed not in set(readings)
    return request.path_decoded and _read_as_another(routes, method, path, template, routed, readings)


def _read_as_another(
    routes: Routes,
    method: str,
    path: str,
    template: str | None,
    routed: str | None,
    readings: Iterable[str | None],
) -> bool:
    """Whether the decoded ``path`` reads as another route than the table's own for the
    route that ran without ``{proxy+}`` (:func:`ran_elsewhere`'s second check)."""
    if template is None or not routed or not path.endswith(routed):
        return False  # no route named, or a "/" in a parameter: refused on its own
    try:
        parsed = parse_template(template)
    except ConfigurationError:
        return False
    if parsed.greedy:
        return False
    fresh = routes.table.fresh_segment()
    filled = "".join("/" + (text if kind == LITERAL else fresh) for kind, text in parsed.segments)
    ran = routes.resolve(method, (path[: len(path) - len(routed)] + filled) or "/", decoded=True)
    return ran is None or ran.route not in set(readings)


# _ran_as_listed's answer when the table lists no route as the one API Gateway ran: no
# reading is that route.
_UNLISTED: Final = "(unlisted)"


def _ran_as_listed(
    routes: Routes,
    request: Request,
    method: str,
    path: str,
    template: str | None,
    routed: str | None,
) -> str:
    """The key of the table's route that is the one API Gateway ran (the same verb and
    template; the table's routes are the API's, never read with a prefix): ``"$default"``
    for the ``$default`` route (payload 2.0 names it by its route key, 1.0 by its
    ``resource``); :data:`_UNLISTED` when the table lists none, or the event names no
    route it can fill (every HTTP API event does: fail closed); ``""`` when ``path`` is
    not the routed path behind a prefix (an application's own path), or has a prefix (a
    base path, a stage): the routed path is another reading of the request, and is held
    to the route."""
    verb, _, _ = (request.route_key or "").partition(" ")
    if verb == "$default" or request.raw.get("resource") == "$default":
        return "$default"
    if template is None:
        return _UNLISTED
    try:
        segments = parse_template(template).segments
    except ConfigurationError:
        return _UNLISTED
    if not routed:
        return _UNLISTED  # parameters missing, or a "/" in a single-segment one
    if routed == "/":  # the API's root: "/v1" behind the mapping "v1"
        prefix = split_path(path.removesuffix("/") or "/")
    elif path.endswith(routed):
        prefix = split_path(path[: len(path) - len(routed)] or "/")
    else:
        return ""
    if prefix is None:
        return ""
    # Payload 1.0 names the route by its template alone: API Gateway prefers a route of
    # the request's verb to an ANY route of the same template. A method not sent in
    # upper case ("get") may have run the ANY route alone (methods are case-sensitive).
    verbs = (verb.upper(),) if verb else (method, ANY) if request.sent_method == method else (ANY,)
    # The table's routes are the API's (API-relative, as API Gateway names the route that
    # ran): never read with a prefix, which a table whose own routes start with the
    # mapping's name could not tell from a table written with it.
    for candidate in verbs:
        key = routes.table.key_of(candidate, segments)
        if key is not None:
            # Behind a prefix (a base path, a stage) the routed path is another reading of
            # the request, decided and held to the route on its own.
            return "" if prefix else key
    return _UNLISTED


# Events naming the route API Gateway ran: by its resource, or by its route key.
_RESOURCE_KINDS = (
    EventKind.REST_V1,
    EventKind.REST_REQUEST_AUTHORIZER,
    EventKind.HTTP_AUTHORIZER_V1,
)
_ROUTE_KEY_KINDS = (EventKind.HTTP_V2, EventKind.HTTP_AUTHORIZER_V2)
