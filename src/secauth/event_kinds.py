"""``EventKind``: the kinds of Lambda event secauth reads, and how to tell them apart
(:func:`detect_kind`, from the event's shape). :mod:`secauth.events` builds its
:class:`~secauth.events.Request` view on them and re-exports both.

>>> detect_kind({"version": "2.0", "requestContext": {"http": {"method": "GET"}}}).value
'http_v2'
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any, Final

from secauth.errors import UnsupportedEvent

__all__ = ["EventKind", "detect_kind"]


class EventKind(Enum):
    """The kind of Lambda event a :class:`Request` was read from (detected from its shape).

    Handler events: ``REST_V1``, ``HTTP_V2``, ``FUNCTION_URL``, ``ALB``, ``WEBSOCKET``
    (a WebSocket route's integration: CONNECT, MESSAGE or DISCONNECT). Authorizer
    events (:attr:`is_authorizer`): ``TOKEN_AUTHORIZER``, ``REST_REQUEST_AUTHORIZER``,
    ``HTTP_AUTHORIZER_V1``, ``HTTP_AUTHORIZER_V2``, ``WEBSOCKET_AUTHORIZER``.
    """

    REST_V1 = "rest_v1"
    HTTP_V2 = "http_v2"
    FUNCTION_URL = "function_url"
    ALB = "alb"
    WEBSOCKET = "websocket"
    TOKEN_AUTHORIZER = "token_authorizer"
    REST_REQUEST_AUTHORIZER = "rest_request_authorizer"
    HTTP_AUTHORIZER_V1 = "http_authorizer_v1"
    HTTP_AUTHORIZER_V2 = "http_authorizer_v2"
    WEBSOCKET_AUTHORIZER = "websocket_authorizer"

    @property
    def is_authorizer(self) -> bool:
        """True for the events API Gateway sends to a Lambda authorizer."""
        return self in _AUTHORIZER_KINDS

    @property
    def is_http_authorizer(self) -> bool:
        """True for the events an HTTP API sends its Lambda authorizer (payload 1.0, 2.0).

        >>> EventKind.HTTP_AUTHORIZER_V2.is_http_authorizer, EventKind.TOKEN_AUTHORIZER.is_http_authorizer
        (True, False)
        """
        return self in _HTTP_AUTHORIZER_KINDS

    @property
    def carries_usage_key(self) -> bool:
        """True for REST API authorizers, whose answer may name a usage plan's API key."""
        return self in (EventKind.TOKEN_AUTHORIZER, EventKind.REST_REQUEST_AUTHORIZER)

    @property
    def decodes_path(self) -> bool:
        """True where API Gateway percent-decodes the path once before the event (HTTP APIs)."""
        return self in _DECODED_PATH_KINDS

    @property
    def answers_401_by_raising(self) -> bool:
        """True where an authorizer answers 401 by raising ``Unauthorized`` (REST and
        WebSocket); HTTP API authorizers can only allow or deny (403)."""
        return self in (
            EventKind.TOKEN_AUTHORIZER,
            EventKind.REST_REQUEST_AUTHORIZER,
            EventKind.WEBSOCKET_AUTHORIZER,
        )


# Groups of kinds are tuples: membership compares members by identity, where a set would
# run Enum's __hash__ (Python code) on every request.
_HTTP_AUTHORIZER_KINDS = (EventKind.HTTP_AUTHORIZER_V1, EventKind.HTTP_AUTHORIZER_V2)
_AUTHORIZER_KINDS = (
    EventKind.TOKEN_AUTHORIZER,
    EventKind.REST_REQUEST_AUTHORIZER,
    EventKind.HTTP_AUTHORIZER_V1,
    EventKind.HTTP_AUTHORIZER_V2,
    EventKind.WEBSOCKET_AUTHORIZER,
)
_DECODED_PATH_KINDS = (
    EventKind.HTTP_V2, EventKind.HTTP_AUTHORIZER_V1, EventKind.HTTP_AUTHORIZER_V2
)


def detect_kind(event: Mapping[str, Any]) -> EventKind:
    """Tell which kind of Lambda event this is (see :class:`EventKind`).

    >>> detect_kind({"type": "TOKEN", "authorizationToken": "x", "methodArn": "arn:..."}).value
    'token_authorizer'
    >>> detect_kind({"requestContext": {"routeKey": "sendmessage", "eventType": "MESSAGE",
    ...                                 "connectionId": "L0SM9cOFvHcCIhw="}}).value
    'websocket'
    """
    kind_field = event.get("type")
    if kind_field == "TOKEN":
        return EventKind.TOKEN_AUTHORIZER
    context = event.get("requestContext")
    if not isinstance(context, Mapping):
        context = {}
    version = event.get("version")
    if kind_field == "REQUEST":
        if version == "2.0":
            return EventKind.HTTP_AUTHORIZER_V2
        # HTTP API payload 1.0 carries identitySource; REST REQUEST events do not (and the
        # serverless-offline emulator adds version 1.0 to REST REQUEST events too).
        if version == "1.0" and "identitySource" in event:
            return EventKind.HTTP_AUTHORIZER_V1
        if context.get("eventType") == "CONNECT" or context.get("connectionId") is not None:
            return EventKind.WEBSOCKET_AUTHORIZER
        return EventKind.REST_REQUEST_AUTHORIZER
    if (
        kind_field is None
        and context.get("eventType") in _WEBSOCKET_EVENT_TYPES
        and isinstance(context.get("connectionId"), str)
    ):
        if not _HTTP_MARKERS.isdisjoint(event) or not _HTTP_CONTEXT_MARKERS.isdisjoint(context):
            # No WebSocket event names an HTTP request: one that does was made up (a
            # WebSocket message's context is taken without a token).
            raise UnsupportedEvent("an event shaped both as a WebSocket and an HTTP request")
        if not _route_fits_event(context.get("eventType"), context.get("routeKey")):
            # $connect is sent as CONNECT, $disconnect as DISCONNECT, never otherwise: a
            # MESSAGE naming $connect would run the $connect route on a context alone.
            raise UnsupportedEvent("a WebSocket event type and route key that disagree")
        return EventKind.WEBSOCKET
    if "elb" in context:
        return EventKind.ALB
    if version == "2.0" and "http" in context:
        domain = context.get("domainName")
        if isinstance(domain, str) and ".lambda-url." in domain:
            return EventKind.FUNCTION_URL
        return EventKind.HTTP_V2
    if "httpMethod" in event and "resource" in event:
        return EventKind.REST_V1
    raise UnsupportedEvent("not an API Gateway, ALB, Function URL or authorizer event")


def _route_fits_event(event_type: object, route_key: object) -> bool:
    """Whether a WebSocket event's ``eventType`` and ``routeKey`` go together (a CONNECT
    may leave its key out: it is asked for its token anyway)."""
    if event_type == "CONNECT":
        return route_key in ("$connect", None)
    if event_type == "DISCONNECT":
        return route_key == "$disconnect"
    return route_key not in ("$connect", "$disconnect")


# A tuple: membership by equality, so an unhashable eventType (a list a direct invoke
# sent) is just not one of them, not a TypeError.
_WEBSOCKET_EVENT_TYPES = ("CONNECT", "MESSAGE", "DISCONNECT")
# Fields of REST, HTTP API, ALB and Function URL events (top level, requestContext) that
# WebSocket events never carry: a router (Powertools, Chalice, a routeKey switch) reads them.
_HTTP_MARKERS: Final = frozenset(
    {"httpMethod", "path", "resource", "rawPath", "routeKey", "pathParameters", "version"}
)
_HTTP_CONTEXT_MARKERS: Final = frozenset(
    {"http", "httpMethod", "resourcePath", "path", "resourceId", "elb"}
)
