"""The request URI a DPoP proof names (RFC 9449 ``htu``), and URI normalization.

A DPoP proof's ``htu`` is compared with the URI the client called: scheme, host and
path, without query or fragment, both normalized (case of scheme and host, default port,
percent-encoding) as RFC 9449 section 4.3 asks (RFC 3986 sections 6.2.2 and 6.2.3).
secauth reads it from the event (:func:`request_uri`): ``https://`` +
``requestContext.domainName`` + the path as sent (REST: ``requestContext.path``, which
holds the stage on the ``execute-api`` domain and the base-path mapping on a custom
domain; HTTP APIs and Function URLs: ``rawPath``, which holds both as well). An ALB
event names its host only in the client's own ``Host`` header (a listener rule may
forward any), so its URI is unknown: a proof made for another server would pass. When
the event cannot tell (ALB), or a proxy in front (CloudFront, a rewriting gateway)
changes the host or the path, give the :class:`~secauth.dpop.DpopVerifier`
``public_url="https://api.example.com/v1"`` (the request's path without the stage is
appended) or ``htu=callable(request) -> str``.

One authority grammar for proofs and requests alike: a host name or IPv4 address, or a
bracketed IPv6 address, and an optional port; user information, an empty port and
percent-encoded hosts make a URI unknown (None), so a proof naming it is refused, as do
characters no URI holds (RFC 3986: printable ASCII only) and a path that cannot be
percent-encoded (a lone surrogate).

>>> normalize_uri("https://API.example.com:443/orders/%37?q=1") == "https://api.example.com/orders/7"
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final
from urllib.parse import quote, urlsplit

from secauth.events import EventKind

if TYPE_CHECKING:
    from secauth.events import Request

__all__ = ["normalize_path", "normalize_uri", "request_uri", "stageless_path"]

_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_URI_TEXT = re.compile(r"[\x21-\x7e]+")  # RFC 3986: a URI is printable ASCII, no space
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_SAFE: Final = "/:@!$&'()*+,;=-._~%"
# A path of these characters only is already normalized (no percent-encoding to touch).
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=._~-]*")
_DEFAULT_PORTS: Final = {"https": 443, "http": 80}
# An authority (RFC 3986 section 3.2) without user information: a host name or IPv4 address
# of unreserved characters, or a bracketed IPv6 address; then an optional port.
_AUTHORITY = re.compile(r"([A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?")
_V2_KINDS = (EventKind.HTTP_V2, EventKind.FUNCTION_URL, EventKind.HTTP_AUTHORIZER_V2)
_V1_KINDS = (EventKind.REST_V1, EventKind.REST_REQUEST_AUTHORIZER, EventKind.HTTP_AUTHORIZER_V1)


def normalize_uri(uri: str) -> str | None:
    """``uri`` as ``htu`` is compared: scheme and host lower-cased, the default port
    dropped, an empty path as ``/``, percent-encoding normalized (unreserved characters
    decoded, hex digits upper-cased, characters a path cannot hold encoded), query and
    fragment dropped. None for anything but an absolute http(s) URI whose authority is a
    host name or IP address and an optional port (no user information).

    >>> normalize_uri("HTTPS://Api.Example.com:443/a%7eb/c%2fd?q=1#f")
    'https://api.example.com/a~b/c%2Fd'
    >>> normalize_uri("/relative") is None
    True
    """
    # urlsplit drops tabs and line breaks and strips leading spaces and controls: a text
    # with any of them, or with anything outside printable ASCII, is no URI at all.
    if _URI_TEXT.fullmatch(uri) is None:
        return None
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    return _join(parts.scheme.lower(), parts.netloc, parts.path)


def _join(scheme: str, authority: str, path: str) -> str | None:
    """The normalized URI of a lower-case ``scheme``, an ``authority`` (``host[:port]``) and
    a ``path``; None when the scheme is not http(s) or the authority not a host and port.
    Requests are normalized from their parts here, with no URI built and split again."""
    default_port = _DEFAULT_PORTS.get(scheme)
    match = _AUTHORITY.fullmatch(authority)
    if default_port is None or match is None:
        return None
    host, port = match.group(1, 2)
    origin = f"{scheme}://{host.lower()}"
    if port is not None:
        number = int(port)
        if number > 65535:
            return None
        if number != default_port:
            origin = f"{origin}:{number}"
    if path and path[0] != "/":
        return None
    normalized = normalize_path(path)
    return None if normalized is None else origin + normalized


def normalize_path(path: str) -> str | None:
    """A URI path normalized (see :func:`normalize_uri`); empty is ``/``; None for a path
    that cannot be percent-encoded (a lone surrogate, which UTF-8 cannot hold).

    >>> normalize_path("/a%7eb/%E2%82%ac")
    '/a~b/%E2%82%AC'
    """
    if not path:
        return "/"
    if _PLAIN_PATH.fullmatch(path):
        return path
    try:
        encoded = quote(path, safe=_PATH_SAFE)
    except UnicodeEncodeError:
        return None
    return _PERCENT.sub(_percent, encoded)


def _percent(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def request_uri(request: Request) -> str | None:
    """The URI the client called, normalized, as the event tells it (see the module
    docs); None when it does not (ALB, whose host is the client's ``Host`` header; TOKEN
    authorizers; WebSocket events).

    >>> from secauth.events import Request
    >>> request_uri(Request.from_event({"resource": "/orders", "path": "/orders",
    ...     "httpMethod": "GET", "requestContext": {"domainName": "api.example.com",
    ...     "path": "/v1/orders", "stage": "prod"}}))
    'https://api.example.com/v1/orders'
    """
    context = request.raw.get("requestContext")
    if type(context) is not dict:  # parsed JSON: a dict, not the slower ABC check
        context = context if isinstance(context, Mapping) else {}
    host = context.get("domainName")
    if request.kind in _V2_KINDS:
        path = request.path
    elif request.kind in _V1_KINDS:
        path = context.get("path") or request.path
    else:
        return None  # ALB (the Host header is the client's), TOKEN and WebSocket events
    if not isinstance(host, str) or not isinstance(path, str):
        return None
    return _join("https", host, path)


def stageless_path(request: Request) -> str:
    """The request path without a named stage: what follows ``public_url``.

    >>> from secauth.events import Request
    >>> stageless_path(Request.from_event({"version": "2.0", "rawPath": "/v1/orders",
    ...     "requestContext": {"http": {"method": "GET", "path": "/v1/orders"}, "stage": "v1"}}))
    '/orders'
    """
    path = request.path
    if request.kind in _V2_KINDS and request.stage and request.stage != "$default":
        prefix = f"/{request.stage}"
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix) :] or "/"
    return path
