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

from typing import NamedTuple

from secauth.access import Routes
from secauth.events import EventKind, Request
from secauth.policy import MethodArn
from secauth.routing import stage_readings

__all__ = ["Target", "target_of"]


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
    WebSocket ARNs have no verb: their route key decides. An HTTP API's ``$default``
    route ARN names no path either: the request's method and path (stage stripped) decide.
    """
    arn = MethodArn.parse(request.method_arn)  # a bad ARN raises here
    kind = request.kind
    if kind is _WEBSOCKET:
        return Target(request.route_key or "$connect", "", arn)
    if arn.verb is None and arn.path == "$default" and kind in _HTTP_KINDS:
        # rawPath starts with a named stage on the execute-api endpoint, not always behind
        # a custom domain: when the table also has a first segment of that name, the path
        # is read both ways, and both must be allowed. The stage is the ARN's: the memo
        # keys answers by the ARN, and the policy names it.
        path, also = stage_readings(request.path, arn.stage, routes.table)
        return Target(request.method, path, arn, also)
    return Target(arn.verb or "", arn.path, arn)



_HTTP_KINDS = (EventKind.HTTP_AUTHORIZER_V1, EventKind.HTTP_AUTHORIZER_V2)
_WEBSOCKET = EventKind.WEBSOCKET_AUTHORIZER
