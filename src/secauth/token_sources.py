"""Where a bearer token is read from: :class:`TokenSource` and :func:`read_token`.

Browsers cannot set an ``Authorization`` header on a WebSocket, so a token also comes
from a query parameter, a cookie, another header or ``Sec-WebSocket-Protocol``. An
:class:`~secauth.authorizer.Authorizer` or :class:`~secauth.guard.Guard` takes an
ordered list of sources (``token_sources=``); the default is the ``Authorization``
header with the ``Bearer`` scheme. An ``Authorization`` source with the ``Bearer`` scheme
also reads the ``DPoP`` scheme (RFC 9449): :attr:`PresentedToken.scheme` says which one
came, and :func:`secauth.sender_constraint.check_binding` checks the proof.

A request must present its token in exactly one place: credentials in two configured
places, a header, query parameter or cookie given twice, or a value a gateway joined
from repeats (a comma) are refused with
:class:`~secauth.errors.AmbiguousCredentials` (401, ``ambiguous_credentials``), whose
detail names the places, never a value.

A REST ``TOKEN`` authorizer sees only ``authorizationToken`` (the one header API
Gateway was told to read): there, the first header source's scheme applies to it,
and query, cookie and WebSocket sources see nothing (use a ``REQUEST`` authorizer).

Example
-------
>>> from secauth.events import Request
>>> sources = (TokenSource.header("authorization"), TokenSource.query("token"))
>>> event = {"type": "REQUEST", "methodArn": "arn:aws:execute-api:us-east-1:1:a/p/$connect",
...          "queryStringParameters": {"token": "eyJ.e30.sig"},
...          "requestContext": {"eventType": "CONNECT", "connectionId": "c1"}}
>>> found = read_token(Request.from_event(event), sources)
>>> found.token, found.source.place
('eyJ.e30.sig', 'query')
>>> both = {**event, "headers": {"Authorization": "Bearer eyJ.e30.sig"}}
>>> read_token(Request.from_event(both), sources)
Traceback (most recent call last):
...
secauth.errors.AmbiguousCredentials: credentials presented more than once (ambiguous_credentials)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple
from urllib.parse import unquote_plus

from secauth.cross_site import checked_origins
from secauth.errors import (
    AmbiguousCredentials,
    ConfigurationError,
    MalformedToken,
    MissingToken,
    SecAuthError,
    UnsupportedScheme,
)
from secauth.events import EventKind, Request

__all__ = [
    "DEFAULT_TOKEN_SOURCES",
    "PLACES",
    "PresentedToken",
    "TokenSource",
    "check_token_sources",
    "presents_token",
    "read_token",
]

#: The places a token can come from.
PLACES: Final = ("header", "query", "cookie", "websocket_protocol")
# RFC 9110 token characters: header names, cookie names, auth schemes, subprotocols.
_TOKEN_CHARS = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")
# A query parameter name as a client would write it: no separators, no spaces.
# Text, not compiled: re compiles it on first use (rare inputs), not at import.
_QUERY_NAME = r"[A-Za-z0-9._~:@!$'()*+,;-]{1,128}"
# Headers that have a place of their own, or are not credentials.
_NOT_A_HEADER_SOURCE: Final = {
    "cookie": "TokenSource.cookie(name)",
    "sec-websocket-protocol": "TokenSource.websocket_protocol()",
}
_PROTOCOL_HEADER: Final = "sec-websocket-protocol"


class TokenSource:
    """One place to read a bearer token from; build it with the class methods (compared
    by value; not to be changed once built).

    ``place`` is one of :data:`PLACES`; ``name`` the header, parameter or cookie name
    (for ``websocket_protocol``: the marker protocol offered before the token);
    ``scheme`` the authentication scheme a header value starts with (``Bearer``), or
    None for a bare token. Bad names raise :class:`~secauth.errors.ConfigurationError`.

    >>> TokenSource.header("Authorization")  # doctest: +ELLIPSIS
    TokenSource(place='header', name='authorization', scheme='Bearer')
    >>> TokenSource.query("access token")
    Traceback (most recent call last):
    ...
    secauth.errors.ConfigurationError: TokenSource.query: bad name 'access token' (letters, ...
    """

    __slots__ = ("label", "name", "origins", "place", "scheme")

    def __init__(
        self, place: str, name: str, scheme: str | None = None, *, origins: Iterable[str] = ()
    ) -> None:
        self.place = place
        self.name = name
        self.scheme = scheme
        #: Where, for logs and error details (never a value): ``query:token``.
        self.label = f"{place}:{name}"
        if self.place not in PLACES:
            raise ConfigurationError(f"TokenSource place must be one of {list(PLACES)}")
        #: For a cookie: the other origins whose pages may send it (:mod:`secauth.cross_site`).
        self.origins = checked_origins("TokenSource.cookie origins", origins)
        if self.origins and place != "cookie":
            raise ConfigurationError("origins= is for cookie sources (TokenSource.cookie)")
        pattern = _QUERY_NAME if self.place == "query" else _TOKEN_CHARS
        if not isinstance(self.name, str) or not re.fullmatch(pattern, self.name):
            chars = "._~:@!$'()*+,;-" if self.place == "query" else "!#$%&'*+.^_`|~-"
            raise ConfigurationError(
                f"TokenSource.{self.place}: bad name {self.name!r:.60} (letters, digits and "
                f"{chars} only)"
            )
        if self.place == "header" and self.name != self.name.lower():
            raise ConfigurationError("TokenSource.header names are lower case")
        if self.place == "header" and self.name in _NOT_A_HEADER_SOURCE:
            raise ConfigurationError(
                f"a {self.name!r} header source: use {_NOT_A_HEADER_SOURCE[self.name]}"
            )
        if self.scheme is not None and (
            self.place != "header" or not _TOKEN_CHARS.fullmatch(self.scheme)
        ):
            raise ConfigurationError("a scheme is one word (like 'Bearer'), for header sources")

    @classmethod
    def header(cls, name: str = "authorization", *, scheme: str | None = None) -> TokenSource:
        """A header; ``authorization`` expects ``Bearer <token>`` unless ``scheme`` says
        otherwise, other headers a bare token unless a ``scheme`` is given."""
        lowered = name.lower() if isinstance(name, str) else name
        if scheme is None and lowered == "authorization":
            scheme = "Bearer"
        return cls("header", lowered, scheme)

    @classmethod
    def query(cls, name: str = "token") -> TokenSource:
        """A query string parameter (``wss://.../prod?token=...``). Query strings end up in
        browser history and proxy logs: prefer short-lived tokens there."""
        return cls("query", name)

    @classmethod
    def cookie(cls, name: str, *, origins: Iterable[str] = ()) -> TokenSource:
        """A cookie (the ``Cookie`` header, or the ``cookies`` list of payload 2.0 events).
        A browser sends it with requests other sites start too: one that may change state
        is taken from the API's own origin and from ``origins`` only (your pages on other
        origins; :mod:`secauth.cross_site`).

        >>> TokenSource.cookie("__Host-session", origins=["https://app.example.com"])
        TokenSource(place='cookie', name='__Host-session', scheme=None, origins=['https://app.example.com'])
        """
        return cls("cookie", name, origins=origins)

    @classmethod
    def websocket_protocol(cls, marker: str = "bearer") -> TokenSource:
        """The browser WebSocket trick: ``new WebSocket(url, ["bearer", token])`` sends
        ``Sec-WebSocket-Protocol: bearer, <token>``; the token is the protocol after
        ``marker``. The ``$connect`` response must then select the marker
        (:meth:`protocol_echo`), or the browser drops the connection."""
        return cls("websocket_protocol", marker)

    def __repr__(self) -> str:
        origins = f", origins={sorted(self.origins)!r}" if self.origins else ""
        return (
            f"TokenSource(place={self.place!r}, name={self.name!r}, scheme={self.scheme!r}"
            f"{origins})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TokenSource):
            return NotImplemented
        return (self.place, self.name, self.scheme, self.origins) == (
            other.place, other.name, other.scheme, other.origins)  # fmt: skip

    def __hash__(self) -> int:
        return hash((self.place, self.name, self.scheme, self.origins))

    def protocol_echo(self, event: Mapping[str, Any] | Request) -> dict[str, str]:
        """The header a ``$connect`` integration's response must carry for a client that
        offered this source's marker (``{"Sec-WebSocket-Protocol": "bearer"}``), else ``{}``.
        Only the marker is echoed, never the token. An authorizer cannot set response
        headers: the ``$connect`` route's integration (your connect handler) returns it.

        >>> source = TokenSource.websocket_protocol()
        >>> source.protocol_echo({"headers": {"Sec-WebSocket-Protocol": "bearer, eyJ.e30.s"},
        ...     "requestContext": {"eventType": "CONNECT", "connectionId": "c1"}})
        {'Sec-WebSocket-Protocol': 'bearer'}
        """
        if self.place != "websocket_protocol":
            raise ConfigurationError("protocol_echo is for TokenSource.websocket_protocol()")
        request = event if isinstance(event, Request) else Request.from_event(event)
        offered = _protocols(request)
        return {"Sec-WebSocket-Protocol": self.name} if self.name in offered else {}


#: The default: the ``Authorization`` header, ``Bearer`` scheme.
DEFAULT_TOKEN_SOURCES: Final = (TokenSource.header("authorization"),)


class PresentedToken(NamedTuple):
    """The token a request presented, the :class:`TokenSource` it came from, and the
    scheme it came with (``"Bearer"``, ``"DPoP"``; None for a bare token)."""

    token: str
    source: TokenSource
    scheme: str | None = None


def check_token_sources(
    sources: object, *, reserved_header: str | None = None, cached: bool = False
) -> tuple[TokenSource, ...]:
    """``sources`` as a tuple, checked: a non-empty sequence of distinct
    :class:`TokenSource` items, none reading ``reserved_header`` (an API key header), and
    no cookie for an authorizer whose answers API Gateway caches (``cached``: it would hand
    one to requests other sites start with the cookie).

    >>> check_token_sources([TokenSource.query("t"), TokenSource.query("t")])
    Traceback (most recent call last):
    ...
    secauth.errors.ConfigurationError: token_sources lists query:t twice
    """
    if isinstance(sources, TokenSource) or not isinstance(sources, Sequence) or not sources:
        raise ConfigurationError(
            "token_sources is a non-empty list such as [TokenSource.header('authorization'), "
            "TokenSource.query('token')]"
        )
    seen: set[str] = set()
    for source in sources:
        if not isinstance(source, TokenSource):
            raise ConfigurationError(
                f"token_sources takes TokenSource items, not {type(source).__name__}"
            )
        if source.label in seen:
            raise ConfigurationError(f"token_sources lists {source.label} twice")
        seen.add(source.label)
        if source.place == "header" and source.name == reserved_header:
            raise ConfigurationError(
                f"header {source.name!r} is the API key header: it cannot also carry tokens"
            )
        if source.place == "cookie" and cached:
            raise ConfigurationError(
                "a cookie token source with cache_ttl > 0: API Gateway would hand a cached "
                "answer to requests other sites start with the cookie (CSRF); use cache_ttl=0"
            )
    return tuple(sources)


def read_token(
    request: Request, sources: Sequence[TokenSource] = DEFAULT_TOKEN_SOURCES
) -> PresentedToken:
    """The one token ``request`` presents in ``sources``.

    Raises :class:`~secauth.errors.MissingToken` when none carries one,
    :class:`~secauth.errors.AmbiguousCredentials` when more than one does (or one
    carries two values), and :class:`~secauth.errors.MalformedToken` for a header value
    with another scheme.
    """
    if request.kind is EventKind.TOKEN_AUTHORIZER:
        return _token_event(request, sources)
    found: list[tuple[TokenSource, str]] = []
    for source in sources:
        values = _values(request, source)
        if len(values) > 1:
            raise AmbiguousCredentials(detail={"problem": "given twice", "source": source.label})
        if values:
            found.append((source, values[0]))
    if not found:
        raise MissingToken()
    if len(found) > 1:
        places = ", ".join(source.label for source, _ in found)
        raise AmbiguousCredentials(detail={"problem": "several places", "source": places})
    source, value = found[0]
    return _credentials(value, source)


def presents_token(request: Request, sources: Sequence[TokenSource]) -> bool:
    """Whether ``request`` presents anything in ``sources``, even malformed or twice."""
    try:
        read_token(request, sources)
    except MissingToken:
        return False
    except SecAuthError:
        return True
    return True


def _token_event(request: Request, sources: Sequence[TokenSource]) -> PresentedToken:
    """A TOKEN authorizer's ``authorizationToken``, read as the first header source says."""
    for source in sources:
        if source.place == "header":
            value = request.token
            if not value:
                raise MissingToken()
            return _credentials(value, source)
    raise MissingToken(
        detail={"problem": "a TOKEN authorizer sees only a header; no header source"}
    )


def _credentials(value: str, source: TokenSource) -> PresentedToken:
    """The token in a presented value: after the scheme, for a header source with one
    (``Authorization: Bearer`` sources also take ``DPoP``, RFC 9449 section 7.1)."""
    value = value.strip()
    scheme = source.scheme
    if scheme is not None:
        given, _, value = value.partition(" ")
        if given.lower() == "dpop" and source.name == "authorization" and scheme == "Bearer":
            scheme = "DPoP"
        elif given != scheme and given.lower() != scheme.lower():
            raise UnsupportedScheme(
                detail={"problem": f"scheme is not {source.scheme}", "source": source.label}
            )
        if scheme.lower() == "dpop":
            scheme = "DPoP"  # one spelling, whatever the source's: the binding check reads it
        value = value.strip()
    if not value:
        raise MissingToken()
    if "," in value or " " in value:
        # Never in a bearer token (RFC 6750 b64token): a gateway joined two values.
        raise AmbiguousCredentials(detail={"problem": "joined values", "source": source.label})
    return PresentedToken(value, source, scheme)


def _values(request: Request, source: TokenSource) -> list[str]:
    """The non-empty values ``source`` finds in ``request`` (more than one: ambiguous)."""
    if source.place == "header":
        values = _named(request.raw, "headers", "multiValueHeaders", source.name, lower=True)
    elif source.place == "query":
        alb = request.kind is EventKind.ALB  # ALB passes names percent-encoded, as sent
        values = _named(
            request.raw,
            "queryStringParameters",
            "multiValueQueryStringParameters",
            source.name,
            decode=alb,
        )
    elif source.place == "cookie":
        values = list(_cookie_values(request, source.name))
    else:
        return _protocol_token(request, source)
    if len(values) > 1:
        return values  # given more than once, an empty copy included: ambiguous
    return [v for v in values if v.strip()]


def _named(
    raw: Mapping[str, Any],
    single: str,
    multi: str,
    name: str,
    *,
    lower: bool = False,
    decode: bool = False,
) -> list[str]:
    """The values of ``name`` in the event's single-value map (what the function reads),
    or all of them when either map holds more than one (a repeat: ambiguous). The
    multi-value map is read when the single-value one lacks the name (ALB multi-value)."""

    def matches(key: object) -> bool:
        if not isinstance(key, str):
            return False
        key = unquote_plus(key) if decode else key
        return (key.lower() if lower else key) == name

    singles = [v for k, v in _items(raw.get(single)) if matches(k) and isinstance(v, str)]
    multis: list[str] = []
    for key, listed in _items(raw.get(multi)):
        if matches(key) and isinstance(listed, list):
            multis.extend(v for v in listed if isinstance(v, str))
    if len(singles) > 1 or len(multis) > 1:
        return singles + multis
    return singles or multis


def _items(value: object) -> Iterable[tuple[object, object]]:
    return value.items() if isinstance(value, Mapping) else ()


def _cookie_values(request: Request, name: str) -> Iterable[str]:
    """Every value of cookie ``name``: from the ``Cookie`` header(s) and, in payload 2.0
    events, the ``cookies`` list. Function URLs (and HTTP APIs behind CloudFront) send the
    same cookies in both: a header holding exactly the list's pairs is that copy, read
    once; a header that differs counts too (two values: ambiguous)."""
    in_headers = _cookie_pairs(request.header_values("cookie"))
    listed = request.raw.get("cookies")
    items = listed if isinstance(listed, list) else []
    in_list = _cookie_pairs(item for item in items if isinstance(item, str))
    if in_list and sorted(in_headers) == sorted(in_list):
        in_headers = []
    for pair in in_headers + in_list:
        key, sep, value = pair.partition("=")
        # Only spaces and tabs around a name or value (RFC 6265): a name with a Unicode
        # space before "__Host-" is another cookie, which the prefix does not protect.
        if sep and key.strip(" \t") == name:
            yield value.strip(" \t").strip('"')


def _cookie_pairs(texts: Iterable[str]) -> list[str]:
    """The ``name=value`` pairs of ``Cookie`` texts, spaces and tabs around them trimmed."""
    pairs = (pair.strip(" \t") for text in texts for pair in text.split(";"))
    return [pair for pair in pairs if pair]


def _protocols(request: Request) -> list[str]:
    """The subprotocols the client offered, in order."""
    out: list[str] = []
    for header in request.header_values(_PROTOCOL_HEADER):
        out.extend(part.strip() for part in header.split(","))
    return [p for p in out if p]


def _protocol_token(request: Request, source: TokenSource) -> list[str]:
    """The protocol offered right after the marker (each marker's, to refuse repeats)."""
    offered = _protocols(request)
    tokens = [
        offered[i + 1] if i + 1 < len(offered) else ""
        for i, protocol in enumerate(offered)
        if protocol == source.name
    ]
    if any(not token or token == source.name for token in tokens):
        raise MalformedToken(
            detail={"problem": "no token after the marker", "source": source.label}
        )
    return tokens
