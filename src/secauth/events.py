"""One normalized, read-only :class:`Request` view over every Lambda event kind secauth handles.

Supported kinds (:class:`EventKind`): API Gateway REST proxy (v1), HTTP API proxy
(v2), Lambda Function URLs, ALB, WebSocket route integrations (``$connect``,
``$disconnect``, ``$default`` and custom route keys), and the authorizer events: REST
TOKEN and REQUEST, HTTP API authorizer payload 1.0 and 2.0, and WebSocket ``$connect``.

Header names are lower-cased. ``headers`` and ``query`` hold one value per name, as
the event's single-value maps carry them (API Gateway REST keeps the *last* value of a
repeated name there); :meth:`Request.header_values` and :meth:`Request.query_values`
give every value, for checks that must refuse a repeated name. The client IP comes from the
field API Gateway fills in itself, never from a client-controlled header.

Example
-------
>>> event = {"version": "2.0", "routeKey": "GET /orders/{id}", "rawPath": "/orders/7",
...          "headers": {"Authorization": "Bearer abc"}, "pathParameters": {"id": "7"},
...          "requestContext": {"http": {"method": "GET", "path": "/orders/7",
...                                      "sourceIp": "203.0.113.9"}}}
>>> request = Request.from_event(event)
>>> request.kind.value, request.method, request.path, request.source_ip
('http_v2', 'GET', '/orders/7', '203.0.113.9')
>>> request.bearer_token()
'abc'
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote_plus

from secauth.errors import MalformedToken, MissingToken, UnsupportedEvent
from secauth.event_kinds import EventKind, detect_kind

__all__ = [
    "EventKind",
    "Request",
    "UnsupportedEvent",
    "content_type",
    "detect_kind",
    "header_spellings",
    "header_values",
]

_EMPTY: Mapping[str, str] = MappingProxyType({})


# Events are parsed JSON, so maps are plain dicts: `type(...) is dict` first skips the
# slower abstract-class isinstance check on the hot path (same answers).


def _mapping(value: object) -> Mapping[str, Any]:
    if type(value) is dict:
        return value
    return value if isinstance(value, Mapping) else _EMPTY


def _str_map(value: object, *, lower: bool = False) -> Mapping[str, str]:
    """Keep only str -> str items (API Gateway sends null for absent maps)."""
    if not value or (type(value) is not dict and not isinstance(value, Mapping)):
        return _EMPTY
    if lower:
        out: dict[str, str] = {}
        for k, v in value.items():
            if isinstance(k, str) and isinstance(v, str):
                out.setdefault(k.lower(), v)
        return out
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _multi_first(value: object, *, lower: bool = False) -> Mapping[str, str]:
    if not value or (type(value) is not dict and not isinstance(value, Mapping)):
        return _EMPTY
    out: dict[str, str] = {}
    for k, values in value.items():
        if (
            isinstance(k, str)
            and isinstance(values, list)
            and values
            and isinstance(values[0], str)
        ):
            out.setdefault(k.lower() if lower else k, values[0])
    return out


def _values(
    raw: Mapping[str, Any],
    multi: str,
    single: str,
    name: str,
    *,
    lower: bool,
    encoded_names: bool = False,
) -> tuple[str, ...]:
    """Every value of ``name`` in the event's multi-value map, else in its single-value map."""
    values: list[str] = []
    for key, listed in _mapping(raw.get(multi)).items():
        if isinstance(listed, list) and _key_is(key, name, lower, encoded_names):
            values.extend(v for v in listed if isinstance(v, str))
    if not values:
        for key, value in _mapping(raw.get(single)).items():
            if isinstance(value, str) and _key_is(key, name, lower, encoded_names):
                values.append(value)
    return tuple(values)


def header_values(event: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """Every value of header ``name`` (any case) in a Lambda event's multi-value map, else
    in its single-value map (:meth:`Request.header_values` of an event not yet read).

    >>> header_values({"headers": {"Content-Type": "a"}, "multiValueHeaders": None}, "content-type")
    ('a',)
    """
    return _values(event, "multiValueHeaders", "headers", name.lower(), lower=True)


def header_spellings(event: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """The header names (lower-cased) in a Lambda event that a WSGI backend reads as ``name``:
    every spelling with ``-`` and ``_`` swapped anywhere (PEP 3333: ``HTTP_X_TENANT_ID``).

    >>> header_spellings({"headers": {"X-Tenant_Id": "a", "x-tenant-id": "b", "Y": "c"}}, "x-tenant-id")
    ('x-tenant-id', 'x-tenant_id')
    """
    wanted = name.lower().replace("_", "-")
    keys = [*_mapping(event.get("multiValueHeaders")), *_mapping(event.get("headers"))]
    found = {k.lower() for k in keys if isinstance(k, str) and k.lower().replace("_", "-") == wanted}
    return tuple(sorted(found))


def content_type(event: Mapping[str, Any]) -> str | None:
    """The one ``Content-Type`` a Lambda event declares, or None when it declares none or
    several: repeated (REST and ALB events keep different copies of it) or joined with a
    comma by the platform (HTTP APIs, Function URLs), which no media type holds outside a
    quoted parameter.

    >>> content_type({"headers": {"content-type": "application/json; charset=utf-8"}})
    'application/json; charset=utf-8'
    >>> content_type({"headers": {"content-type": "application/json; v=1,text/plain"}}) is None
    True
    """
    values = header_values(event, "content-type")
    if len(values) != 1 or _joined(values[0]):
        return None
    return values[0]


def _joined(value: str) -> bool:
    """Whether a header value holds a comma outside its quoted strings (RFC 9110 5.6.4:
    ``\\`` escapes the next character inside one), or leaves a quote open."""
    quoted = escaped = False
    for ch in value:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            return True
    return quoted


def _key_is(key: object, name: str, lower: bool, encoded: bool) -> bool:
    """Is the event's map key ``key`` the name ``name`` (lower-cased, percent-decoded first
    when the map's names are so written)?"""
    if not isinstance(key, str):
        return False
    if encoded:
        key = unquote_plus(key)
    return (key.lower() if lower else key) == name


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class Request:
    """A read-only view of the parts of a Lambda event that security decisions use.

    Attributes
    ----------
    kind: the :class:`EventKind`.
    method: upper-case HTTP verb (``"GET"``), or the route key for WebSocket (``"$connect"``,
        ``"sendmessage"``). sent_method: the method as the event spells it (``"get"``).
    path: the request path without the stage (``"/orders/7"``); ``""`` for WebSocket
        route integrations, whose route key is the whole target.
    route_key: API Gateway's matched route (``"GET /orders/{id}"``) when the event has one.
    headers: lower-cased names; query: query parameters; path_params: path parameters.
    source_ip: the client IP as API Gateway saw it (REST ``identity.sourceIp``, HTTP
        ``http.sourceIp``); None for ALB, whose IP needs trusted-proxy configuration.
    method_arn: ``methodArn`` / ``routeArn`` of authorizer events.
    token: ``authorizationToken`` of TOKEN authorizer events.
    request_id, stage, api_id, account_id: from ``requestContext``.
    authorizer: ``requestContext.authorizer`` (what an authorizer passed on).
    identity: REST ``requestContext.identity`` (``userArn``, ``caller``...).
    client_cert: the mTLS client certificate block, when present.
    raw: the event itself.
    """

    __slots__ = (
        "_headers",
        "_path_params",
        "_query",
        "account_id",
        "api_id",
        "authorizer",
        "client_cert",
        "identity",
        "kind",
        "method",
        "method_arn",
        "path",
        "raw",
        "request_id",
        "route_key",
        "sent_method",
        "source_ip",
        "stage",
        "token",
    )

    def __init__(self, kind: EventKind, raw: Mapping[str, Any]) -> None:
        self.kind = kind
        self.raw = raw
        # Read on first use: copying and lower-casing every header is the costliest part of
        # the view, and many requests never look at headers, query or path parameters.
        self._headers: Mapping[str, str] | None = None
        self._query: Mapping[str, str] | None = None
        self._path_params: Mapping[str, str] | None = None
        if kind is EventKind.TOKEN_AUTHORIZER:  # only the token and the method ARN (the hot path)
            self.token = _text(raw.get("authorizationToken"))
            self.method_arn = _text(raw.get("methodArn"))
            self.request_id = self.stage = self.api_id = self.account_id = self.route_key = None
            self.source_ip = None
            self.authorizer = self.identity = self.client_cert = _EMPTY
            self._path_params = self._headers = self._query = _EMPTY
            self.method = self.sent_method = ""
            self.path = "/"
            return
        context = _mapping(raw.get("requestContext"))
        self.request_id = _text(context.get("requestId"))
        self.stage = _text(context.get("stage"))
        self.api_id = _text(context.get("apiId"))
        self.account_id = _text(context.get("accountId"))
        self.authorizer = _mapping(context.get("authorizer"))
        self.identity = _mapping(context.get("identity"))
        if kind.is_authorizer:  # what only an authorizer's event carries
            self.method_arn = _text(raw.get("methodArn")) or _text(raw.get("routeArn"))
            self.token = _text(raw.get("authorizationToken"))
        else:
            self.method_arn = self.token = None
        self.route_key = _text(raw.get("routeKey")) or _text(context.get("routeKey"))
        if kind in (EventKind.HTTP_V2, EventKind.FUNCTION_URL, EventKind.HTTP_AUTHORIZER_V2):
            http = _mapping(context.get("http"))
            self.sent_method = _text(http.get("method")) or ""
            self.method = self.sent_method.upper()
            self.path = _text(raw.get("rawPath")) or _text(http.get("path")) or "/"
            self.source_ip = _text(http.get("sourceIp"))
            self.client_cert = _mapping(_mapping(context.get("authentication")).get("clientCert"))
        else:
            verb = self.sent_method = (
                _text(raw.get("httpMethod")) or _text(context.get("httpMethod")) or ""
            )
            self.path = _text(raw.get("path")) or "/"
            # A WebSocket target is its route key with an empty path (custom keys keep
            # their case); no HTTP request has an empty path.
            if kind is EventKind.WEBSOCKET_AUTHORIZER:
                self.method = self.sent_method = self.route_key or "$connect"
                self.path = ""
            elif kind is EventKind.WEBSOCKET:
                self.method = self.sent_method = self.route_key or ""
                self.path = ""
            else:
                self.method = verb if verb.startswith("$") else verb.upper()
            self.source_ip = None if kind is EventKind.ALB else _text(self.identity.get("sourceIp"))
            self.client_cert = _mapping(self.identity.get("clientCert"))

    @property
    def path_decoded(self) -> bool:
        """Whether API Gateway percent-decoded the path (and path parameters) once before
        the event: HTTP APIs do (``rawPath``, payload 1.0's ``path``, ``routeArn``); REST
        APIs, Function URLs and ALB pass the path as sent.

        >>> Request(EventKind.HTTP_V2, {}).path_decoded, Request(EventKind.REST_V1, {}).path_decoded
        (True, False)
        """
        kind = self.kind
        # A REQUEST authorizer event with version 1.0 but no identitySource is read as a
        # REST one (serverless-offline adds the version to those), yet may be an HTTP API's
        # without identity sources: its values are taken as they arrive, never decoded twice.
        return kind.decodes_path or (
            kind in (EventKind.REST_V1, EventKind.REST_REQUEST_AUTHORIZER)
            and self.raw.get("version") == "1.0"
        )

    @property
    def headers(self) -> Mapping[str, str]:
        """Header names lower-cased; the first value of a repeated header."""
        headers = self._headers
        if headers is None:
            raw = self.raw
            headers = _str_map(raw.get("headers"), lower=True) or _multi_first(
                raw.get("multiValueHeaders"), lower=True
            )
            self._headers = headers
        return headers

    @property
    def query(self) -> Mapping[str, str]:
        """Query parameters; the first value of a repeated one."""
        query = self._query
        if query is None:
            raw = self.raw
            query = _str_map(raw.get("queryStringParameters")) or _multi_first(
                raw.get("multiValueQueryStringParameters")
            )
            self._query = query
        return query

    def header_values(self, name: str) -> tuple[str, ...]:
        """Every value of header ``name`` (any case) in the event: REST and ALB events list
        repeats in ``multiValueHeaders``; HTTP APIs join them with commas into one value.

        >>> Request(EventKind.REST_V1, {"multiValueHeaders": {"X-T": ["a", "b"]}}).header_values("x-t")
        ('a', 'b')
        """
        return header_values(self.raw, name)

    def query_values(self, name: str) -> tuple[str, ...]:
        """Every value of query parameter ``name`` (see :meth:`header_values`). ALB passes
        parameter names as sent, percent-encoded: they are decoded before comparing, so
        ``%74enant`` counts as ``tenant`` (a backend would read it so)."""
        return _values(
            self.raw,
            "multiValueQueryStringParameters",
            "queryStringParameters",
            name,
            lower=False,
            encoded_names=self.kind is EventKind.ALB,
        )

    @property
    def path_params(self) -> Mapping[str, str]:
        """API Gateway's path parameters (secauth matches its own; see ``access.Routes``)."""
        params = self._path_params
        if params is None:
            params = self._path_params = _str_map(self.raw.get("pathParameters"))
        return params

    def __repr__(self) -> str:
        return f"Request(kind={self.kind.value}, method={self.method!r}, path={self.path!r})"

    @classmethod
    def from_event(cls, event: object) -> Request:
        """Detect the event kind and build the view; raise :class:`UnsupportedEvent` otherwise."""
        if type(event) is not dict and not isinstance(event, Mapping):
            raise UnsupportedEvent("a Lambda event must be a JSON object")
        return cls(detect_kind(event), event)

    def bearer_token(self) -> str:
        """The bearer token from ``Authorization`` (or a TOKEN authorizer's token).

        Raises :class:`~secauth.errors.MissingToken` when there is none and
        :class:`~secauth.errors.MalformedToken` for another scheme.
        """
        value = self.token if self.kind is EventKind.TOKEN_AUTHORIZER else None
        if value is None:
            value = self.headers.get("authorization")
        if not value:
            raise MissingToken()
        scheme, _, credentials = value.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise MalformedToken(detail={"problem": "Authorization scheme is not Bearer"})
        credentials = credentials.strip()
        if not credentials:
            raise MissingToken()
        return credentials
