"""The HTTP side of guarded events: the path the route table sees, multi-value events, and
the responses a :class:`~secauth.guard.Guard` gives (the handler's result with security,
CORS and rate-limit headers; a sanitized refusal; a CORS preflight answer), and the
body checks (size, media type) made before a caller is identified.

WebSocket route integrations (``$connect``, messages, ``$disconnect``) answer in their
own shape: ``{"statusCode": ..., "body": ...}``, with no HTTP headers (a ``$connect``
handler adds its own, such as the ``Sec-WebSocket-Protocol`` echo); a refusal of a
``$connect`` rejects the connection.

>>> from secauth.events import Request
>>> request = Request.from_event({"version": "2.0", "rawPath": "/prod/orders", "routeKey": "$default",
...     "requestContext": {"http": {"method": "GET", "path": "/prod/orders"}, "stage": "prod"}})
>>> route_path(request)
'/orders'
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from secauth._decisions import decision_for
from secauth.errors import (
    BadRequest,
    ConfigurationError,
    DpopNonceRequired,
    InsufficientScope,
    InternalError,
    InvalidFields,
    PayloadTooLarge,
    RateLimited,
    SecAuthError,
    UnsupportedMediaType,
)
from secauth.events import EventKind, Request, content_type
from secauth.responses import Cors, error_response, http_response, problem

if TYPE_CHECKING:
    from secauth.dpop_nonce import DpopNonces
    from secauth.protected_resource import ProtectedResource
    from secauth.ratelimit.result import RateLimitResult

__all__ = [
    "GUARDED_KINDS",
    "admitted_headers",
    "answered",
    "check_body",
    "enforce_limit",
    "handler_response",
    "is_http_api",
    "metadata_response",
    "multi_value",
    "preflight_response",
    "refusal_response",
    "route_path",
    "shape_of",
    "websocket_response",
]

#: The event kinds a Guard guards: handler events, not authorizer events (a tuple:
#: membership by identity).
GUARDED_KINDS = (
    EventKind.REST_V1, EventKind.HTTP_V2, EventKind.FUNCTION_URL, EventKind.ALB,
    EventKind.WEBSOCKET,
)  # fmt: skip
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The names of a limiter's headers (RateLimit-Policy, RateLimit, X-RateLimit-*), lower-cased:
# a RateLimited error's own headers are copied into the 429 only under these names.
_RATE_LIMIT_HEADERS = ("ratelimit", "x-ratelimit-")
# Payload 2.0 responses: AWS reads "headers" only (a handler's multiValueHeaders is ignored).
_HEADERS_ONLY = (EventKind.HTTP_V2, EventKind.FUNCTION_URL)


def is_http_api(request: Request) -> bool:
    """Whether ``request`` came from an HTTP API: payload 2.0, or payload 1.0 (REST-shaped,
    with ``version: "1.0"``), whose path starts with a named stage (and arrives decoded:
    :attr:`~secauth.events.Request.path_decoded` says which events are an HTTP API's)."""
    return not request.kind.is_authorizer and request.path_decoded


def route_path(request: Request) -> str:
    """The path as the route table sees it: HTTP API paths lose a named stage prefix."""
    path, stage = request.path, request.stage
    if not stage or stage == "$default" or not path.startswith(f"/{stage}"):
        return path
    rest = path[len(stage) + 1 :]
    if (not rest or rest.startswith("/")) and is_http_api(request):
        return rest or "/"
    return path


def multi_value(request: Request) -> bool:
    """True for an ALB event in multi-value mode (it is answered with multiValueHeaders)."""
    return "multiValueHeaders" in request.raw and "headers" not in request.raw


def enforce_limit(result: RateLimitResult) -> RateLimitResult:
    """``result`` when the request is admitted; else raise its 429 (with its headers)."""
    result.raise_for_denial()
    return result


def preflight_response(
    request: Request, cors: Cors | None, security_headers: Mapping[str, str]
) -> dict[str, Any] | None:
    """The answer to a CORS preflight (204 with the CORS headers, or 403), or None when
    ``request`` is not one or the guard has no CORS policy."""
    if cors is None or request.method != "OPTIONS":
        return None
    if "access-control-request-method" not in request.headers:
        return None
    headers = cors.preflight(request.headers)
    base = dict(security_headers)
    # Refused for this origin (another may be allowed): it varies on Origin all the same.
    add_headers(base, {"Vary": "Origin"} if headers is None else headers)
    status = 403 if headers is None else 204
    return http_response(status, "", request.kind, headers=base, multi_value=multi_value(request))


def metadata_response(
    request: Request, resource: ProtectedResource | None, security_headers: Mapping[str, str]
) -> dict[str, Any] | None:
    """The RFC 9728 metadata document of ``resource`` (public: no token needed) when
    ``request`` is a GET of one of its well-known paths, else None."""
    if resource is None or request.method != "GET" or request.kind is EventKind.WEBSOCKET:
        return None
    if route_path(request) not in resource.metadata_paths:
        return None
    headers = {**security_headers, **resource.metadata_headers()}
    return http_response(
        200, resource.metadata_body, request.kind, headers=headers, multi_value=multi_value(request)
    )


def admitted_headers(
    request: Request | None,
    limit: RateLimitResult | None,
    security_headers: Mapping[str, str],
    cors: Cors | None,
    nonces: DpopNonces | None = None,
) -> dict[str, str]:
    """The headers the Guard adds to an admitted request's response: security headers,
    CORS (for ``request``'s origin), rate-limit state, and with DPoP ``nonces`` the current
    nonce in ``DPoP-Nonce`` when the request came with a DPoP proof.

    >>> admitted_headers(None, None, {"X-Content-Type-Options": "nosniff"}, None)
    {'X-Content-Type-Options': 'nosniff'}
    """
    extra = dict(security_headers)
    if cors is not None and request is not None:
        add_headers(extra, cors.headers(request.headers))  # a configured Vary is merged
    if limit is not None:
        extra.update(limit.headers())
    if nonces is not None and request is not None and "dpop" in request.headers:
        from secauth.dpop_nonce import NONCE_HEADER

        extra[NONCE_HEADER] = nonces.issue()
    return extra


def handler_response(
    result: object,
    request: Request,
    limit: RateLimitResult | None,
    security_headers: Mapping[str, str],
    cors: Cors | None,
    nonces: DpopNonces | None = None,
) -> Any:
    """The handler's ``result`` as the response: security, CORS and rate-limit headers
    added (the handler's own values win); a plain value becomes a 200 (text or JSON).
    With DPoP ``nonces``, a request admitted with a DPoP proof gets the current nonce in
    ``DPoP-Nonce``. A WebSocket route's result is left as it is (a plain value: a 200
    with that body)."""
    if request.kind is EventKind.WEBSOCKET:
        if isinstance(result, dict) and "statusCode" in result:
            return result
        return websocket_response(200, result)
    extra = admitted_headers(request, limit, security_headers, cors, nonces)
    if not (isinstance(result, dict) and "statusCode" in result):
        # HTTP API shorthand (a plain value): make it an explicit response; a string is
        # sent as text, anything else as JSON.
        text = isinstance(result, str)
        media = "text/plain; charset=utf-8" if text else "application/json"
        return http_response(
            200,
            result if text else json.dumps(result),
            request.kind,
            headers={"Content-Type": media, **extra},
            multi_value=multi_value(request),
        )
    response = dict(result)
    if request.kind is EventKind.ALB:
        return _alb_response(response, extra, multi=multi_value(request))
    multi = "multiValueHeaders" in response and request.kind not in _HEADERS_ONLY
    key = "multiValueHeaders" if multi else "headers"
    headers = dict(response.get(key) or {})
    single = response.get("headers")
    if multi and isinstance(single, dict) and single:
        # Both maps: the gateway keeps only the multi-value values of a name in both, so
        # a name the handler set in ``headers`` alone is left there (Vary merged there).
        taken = {n.lower() for n in headers if isinstance(n, str)}
        named = {n.lower() for n in single if isinstance(n, str)} - taken
        response["headers"] = single = dict(single)
        add_headers(single, {k: v for k, v in extra.items() if k.lower() in named})
        extra = {k: v for k, v in extra.items() if k.lower() not in named}
    add_headers(headers, extra, multi=multi)
    response[key] = headers
    return response


def _alb_response(response: dict[str, Any], extra: Mapping[str, str], *, multi: bool) -> Any:
    """An ALB answer: ALB reads one header map, ``multiValueHeaders`` when the target group
    has multi-value headers on and ``headers`` otherwise, and ignores the other. Our headers
    go to the map it reads; in multi-value mode the handler's ``headers`` are folded into
    it first (a name already there keeps its values), so none is lost and ``Vary`` merges."""
    if not multi:
        headers = dict(response.get("headers") or {})
        add_headers(headers, extra)
        response["headers"] = headers
        return response
    values = dict(response.get("multiValueHeaders") or {})
    taken = {name.lower() for name in values if isinstance(name, str)}
    for name, value in (response.pop("headers", None) or {}).items():
        if isinstance(name, str) and name.lower() not in taken:
            values[name] = [value]
    add_headers(values, extra, multi=True)
    response["multiValueHeaders"] = values
    return response


def add_headers(headers: dict[str, Any], extra: Mapping[str, str], *, multi: bool = False) -> None:
    """Add ``extra`` to a handler's ``headers`` (in place; ``multi``: lists of values).
    The handler's own value wins, except for ``Vary``: its field names are merged, since a
    cache must still key on what the added headers vary on (``Origin``, for CORS).

    >>> headers = {"vary": "Accept-Encoding", "Cache-Control": "max-age=60"}
    >>> add_headers(headers, {"Vary": "Origin", "Cache-Control": "no-store"})
    >>> headers
    {'vary': 'Accept-Encoding, Origin', 'Cache-Control': 'max-age=60'}
    """
    own: dict[str, list[str]] = {}  # lower-cased name -> the handler's spellings of it
    for name in headers:
        if isinstance(name, str):
            own.setdefault(name.lower(), []).append(name)
    for name, value in extra.items():
        keys = own.get(name.lower())
        if keys is None:
            headers[name] = [value] if multi else value
            own[name.lower()] = [name]
        elif name.lower() == "vary":
            for key in keys:  # "Vary" and "vary" both: a gateway may keep either
                headers[key] = _merged_vary(headers[key], value, multi=multi)


def _merged_vary(handler_value: object, ours: str, *, multi: bool) -> object:
    """The handler's ``Vary`` (a string, or a list or tuple of them) with ``ours`` field
    names added once each, as a list when it was a sequence or ``multi`` (multi-value
    headers); ``*`` (varies on everything) stays, and what is not a string (None, a
    number) counts as no field name."""
    if isinstance(handler_value, list | tuple):
        values, sequence = list(handler_value), True
    else:
        values, sequence = [handler_value], False
    texts = [v for v in values if isinstance(v, str)]
    names = [n.strip() for v in texts for n in v.split(",") if n.strip()]
    if "*" in names:
        return handler_value
    seen = {n.lower() for n in names}
    names += [n.strip() for n in ours.split(",") if n.strip().lower() not in seen]
    merged = ", ".join(names)
    return [merged] if sequence or multi else merged


def refusal_response(
    exc: BaseException,
    event: object,
    record: dict[str, Any],
    security_headers: Mapping[str, str],
    cors: Cors | None,
    problem_type_base: str | None = None,
    challenge_params: Mapping[str, str] | None = None,
    nonces: DpopNonces | None = None,
    *,
    dpop_algorithms: Sequence[str] | None = None,
    dpop_required: bool = False,
) -> dict[str, Any]:
    """The sanitized response for ``exc`` (see :meth:`secauth.guard.Guard.refusal`);
    ``challenge_params`` go into its ``WWW-Authenticate`` challenge. With DPoP
    ``nonces``, a proof refused for its nonce is answered ``DPoP error="use_dpop_nonce"``
    with a fresh nonce in ``DPoP-Nonce`` (RFC 9449 section 9). ``dpop_algorithms`` and
    ``dpop_required``: the DPoP challenge of a 401 without credentials
    (:func:`~secauth.responses.error_response`)."""
    if not isinstance(exc, Exception):  # CancelledError, KeyboardInterrupt, SystemExit
        raise exc
    error = _answered_as(exc, record)
    kind, request_id, multi = shape_of(event)
    if kind is EventKind.WEBSOCKET:
        body = problem(
            error.status,
            type(error).default_message,
            reason=error.reason.value,
            request_id=request_id,
            type_base=problem_type_base,
        )
        if isinstance(error, InvalidFields) and error.field_errors:
            body["errors"] = error.public_errors()  # as error_response shows them
        return websocket_response(error.status, body)
    try:
        sent: Mapping[str, str] = Request.from_event(event).headers
    except Exception:  # an unreadable event: answered as one without headers
        sent = {}
    headers = dict(security_headers)
    if isinstance(error, RateLimited):  # its rate-limit headers; Retry-After is the answer's
        headers.update(
            (name, value)
            for name, value in error.headers.items()
            if name.lower().startswith(_RATE_LIMIT_HEADERS)
        )
    if cors is not None:
        with contextlib.suppress(Exception):  # a refusal is answered, whatever CORS raises
            add_headers(headers, cors.headers(sent))
    response = error_response(
        error,
        kind,
        request_id=request_id,
        headers=headers,
        multi_value=multi,
        problem_type_base=problem_type_base,
        challenge_params=_scope_named(error, challenge_params),
        dpop_algorithms=dpop_algorithms,
        dpop_required=dpop_required,
        dpop_presented=_scheme(sent.get("authorization")) == "dpop",
    )
    if nonces is not None and isinstance(error, DpopNonceRequired):
        from secauth.dpop_nonce import NONCE_HEADER

        fresh = nonces.issue()  # the nonce to retry with (RFC 9449 section 9)
        if multi:
            response["multiValueHeaders"][NONCE_HEADER] = [fresh]
        else:
            response["headers"][NONCE_HEADER] = fresh
    return response


_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6750 section 3


def _scope_named(error: SecAuthError, params: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """``params`` with, for an insufficient scope, the scopes the refusing rule asks for
    added to ``scope`` (RFC 6750 section 3: the scope necessary to access the resource;
    a step-up client asks for them), after the resource's required ones."""
    needed = error.detail.get("scopes") if isinstance(error, InsufficientScope) else None
    if not isinstance(needed, list) or not needed:
        return params
    if not all(isinstance(name, str) and _SCOPE_TOKEN.fullmatch(name) for name in needed):
        return params  # RFC 6750's scope-token characters only
    named = dict(params or {})
    named["scope"] = " ".join(dict.fromkeys([*named.get("scope", "").split(), *needed]))
    return named


def _scheme(authorization: object) -> str:
    """The scheme of an ``Authorization`` value, lower-cased ("" for none)."""
    return authorization.strip().partition(" ")[0].lower() if isinstance(authorization, str) else ""


def _answered_as(exc: Exception, record: dict[str, Any]) -> SecAuthError:
    """The error the client is answered for ``exc``, with the refusal noted in ``record``."""
    if not isinstance(exc, SecAuthError):
        # The handler's exception text may hold anything; only its type is recorded.
        record.update(
            decision="error",
            reason="internal_error",
            status=500,
            detail={"error": type(exc).__name__},
        )
        return InternalError()
    # A ConfigurationError's text is written for the developer: the client gets a 500.
    error = InternalError() if isinstance(exc, ConfigurationError) else exc
    record.update(
        decision=decision_for(error.status),
        reason=exc.reason.value,
        status=error.status,
        detail=exc.detail or None,
    )
    return error


def websocket_response(status: int, body: object) -> dict[str, Any]:
    """A WebSocket route integration's response: the status (a ``$connect`` answered
    with anything but 2xx is refused) and the body, JSON unless a string.

    >>> websocket_response(401, {"title": "missing credentials"})
    {'statusCode': 401, 'body': '{"title":"missing credentials"}'}
    """
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    return {"statusCode": status, "body": text}


def answered(response: Any, record: dict[str, Any]) -> Any:
    """``response`` (the handler's answer), its status written into ``record``: the
    status the caller gets, whatever the handler chose (201, 404, 503...)."""
    status = response.get("statusCode") if isinstance(response, Mapping) else None
    if isinstance(status, int) and not isinstance(status, bool):  # HTTPStatus is an int too
        record["status"] = int(status)
    return response


def shape_of(event: object) -> tuple[EventKind, str | None, bool]:
    """Event kind, request id and multi-value flag for an error response, even for bad events."""
    try:
        request = Request.from_event(event)
    except Exception:
        return EventKind.REST_V1, None, False
    kind = request.kind if request.kind in GUARDED_KINDS else EventKind.REST_V1
    return kind, request.request_id, multi_value(request)


def check_body(request: Request, max_bytes: int, content_types: frozenset[str] | None) -> None:
    """Refuse a body over ``max_bytes`` (413: UTF-8 bytes of a text body, decoded bytes of a
    base64 one) and, with ``content_types``, a body of another media type on a method that
    carries one (415, :func:`check_content_type`).

    >>> event = {"version": "2.0", "rawPath": "/", "body": "\u20ac" * 4,
    ...          "requestContext": {"http": {"method": "POST", "path": "/"}}}
    >>> check_body(Request.from_event(event), 10, None)  # 4 characters, 12 bytes
    Traceback (most recent call last):
    ...
    secauth.errors.PayloadTooLarge: request body too large (payload_too_large)
    """
    body = request.raw.get("body")
    if isinstance(body, str) and body:
        encoded = request.raw.get("isBase64Encoded", False)
        if type(encoded) is not bool:  # API Gateway and ALB send a JSON boolean
            raise BadRequest(detail={"problem": "isBase64Encoded is not a boolean"})
        too_large = (
            _decoded_size(body) > max_bytes if encoded else _text_too_large(body, max_bytes)
        )
        if too_large:
            raise PayloadTooLarge(detail={"limit": max_bytes})
    if content_types is not None and request.method in _BODY_METHODS:
        check_content_type(request, content_types)


def check_content_type(request: Request, content_types: frozenset[str]) -> None:
    """Refuse (415) a body of another media type than ``content_types``; an empty body too
    when it declares one (a cross-site form without fields is still a form).

    >>> form = {"httpMethod": "POST", "headers": {"Content-Type": "text/plain"}, "body": ""}
    >>> check_content_type(Request(EventKind.REST_V1, form), frozenset({"application/json"}))
    Traceback (most recent call last):
    ...
    secauth.errors.UnsupportedMediaType: unsupported content type (unsupported_media_type)
    """
    declared = request.header_values("content-type")
    if not declared and not request.raw.get("body"):
        return  # nothing sent, nothing declared
    one = content_type(request.raw)  # None: none, or repeated or joined
    media = one.split(";")[0].strip().lower() if one is not None else ""
    if media not in content_types:
        raise UnsupportedMediaType(detail={"content_type": media[:60]})


def _decoded_size(text: str) -> int:
    """At least the bytes a base64 body decodes to: every 4 characters before the padding
    carry 3 bytes (whatever padding follows, canonical or not; other characters only
    raise the count)."""
    return len(text.rstrip("=")) * 3 // 4


def _text_too_large(text: str, max_bytes: int) -> bool:
    """Whether ``text`` is over ``max_bytes`` in UTF-8. A character is 1 to 4 bytes, so the
    body is encoded only when its length alone does not settle it."""
    if len(text) > max_bytes:
        return True
    if len(text) * 4 <= max_bytes:
        return False
    # surrogatepass: a lone surrogate (never valid UTF-8) counts its 3 bytes, not an error.
    return len(text.encode("utf-8", "surrogatepass")) > max_bytes
