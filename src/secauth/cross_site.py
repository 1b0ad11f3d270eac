"""Cookie-authenticated requests other sites start (CSRF, cross-site WebSocket hijacking).

A browser sends a site's cookies with the requests any other site's page makes to it: a
form posted from ``https://evil.example`` to your API carries the victim's session
cookie. So a request whose token came from a cookie (:meth:`TokenSource.cookie
<secauth.token_sources.TokenSource.cookie>`) is taken only from your pages, unless it
cannot change anything (``GET``, ``HEAD``, ``OPTIONS``):

* its ``Origin`` header (browsers send it on every cross-origin request, on same-origin
  ones that change state, and on WebSocket handshakes) must be the API's own origin
  (``https://`` and its ``Host``) or one the cookie source (``origins=``) or the Guard's
  :class:`~secauth.responses.Cors` allows with credentials;
* without ``Origin``, or with ``Origin: null`` (a page whose referrer policy is
  ``no-referrer``), ``Sec-Fetch-Site: same-origin`` will do;
* with neither, it is refused: browsers send one of them, and a client that is not a
  browser sends its token in a header.

A client certificate is presented by a browser on its own too, but machine clients use
it as well: :func:`check_certificate_origin` refuses only a request that says it comes
from another site's page. A refusal is :class:`~secauth.errors.Forbidden` (403). Tokens
from headers, the query or ``Sec-WebSocket-Protocol`` are never sent by a browser on
its own, and are not checked.

>>> from secauth.events import Request
>>> from secauth.token_sources import TokenSource, read_token
>>> sent = {"version": "2.0", "rawPath": "/transfer", "cookies": ["session=eyJ.e30.s"],
...         "headers": {"host": "api.example.com", "origin": "https://evil.example"},
...         "requestContext": {"http": {"method": "POST", "path": "/transfer"}}}
>>> request = Request.from_event(sent)
>>> presented = read_token(request, [TokenSource.cookie("session")])
>>> check_cookie_origin(request, presented)
Traceback (most recent call last):
...
secauth.errors.Forbidden: forbidden (forbidden)
>>> sent["headers"]["origin"] = "https://api.example.com"
>>> check_cookie_origin(Request.from_event(sent), presented)
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import TYPE_CHECKING, Final, Literal

from secauth.errors import ConfigurationError, Forbidden
from secauth.options import names

if TYPE_CHECKING:
    from secauth.events import Request
    from secauth.token_sources import PresentedToken

__all__ = [
    "SAFE_METHODS",
    "check_certificate_origin",
    "check_cookie_origin",
    "checked_origins",
    "is_origin",
]

#: Methods a browser may send from any page that must change nothing (RFC 9110 9.2.1).
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
# An origin as browsers spell it: a scheme, then host[:port] (checked further by
# canonical_authority: lower case, no default port, a compressed IPv6 address).
_ORIGIN: Final = r"([a-z][a-z0-9+.-]*)://([^/?#@]*)"


def is_origin(value: object) -> bool:
    """``scheme://host[:port]`` exactly as a browser's ``Origin`` header spells it, so it
    can match one: lower case, no path, query, user or wildcard, an IPv6 address in its
    compressed form, and no default port for http(s) (browsers leave it out). Other
    schemes are origins too (``capacitor://localhost``, ``chrome-extension://...``),
    ``file`` excepted (its origin is ``null``).

    >>> is_origin("https://app.example.com"), is_origin("https://app.example.com:443")
    (True, False)
    """
    match = re.fullmatch(_ORIGIN, value) if isinstance(value, str) else None
    if match is None or match.group(1) == "file":
        return False
    from secauth._urls import canonical_authority  # only when origins are configured

    return canonical_authority(match.group(1), match.group(2))


def checked_origins(option: str, value: object, *, wildcard: bool = False) -> frozenset[str]:
    """``value``, a list of origins as browsers send them (``"*"`` too with ``wildcard``);
    a ConfigurationError naming ``option`` and the first bad entry otherwise.

    >>> sorted(checked_origins("origins", ["https://app.example.com"]))
    ['https://app.example.com']
    >>> checked_origins("origins", ["https://app.example.com/"])
    Traceback (most recent call last):
    ...
    secauth.errors.ConfigurationError: origins: 'https://app.example.com/' must be an origin ...
    """
    for origin in (found := names(option, value)):
        if not (is_origin(origin) or (wildcard and origin == "*")):
            raise ConfigurationError(
                f"{option}: {origin!r:.80} must be an origin as browsers send it: "
                "'https://app.example.com' (lower case; no path, query, wildcard or default "
                "port)"
            )
    return frozenset(found)


def check_cookie_origin(
    request: Request, presented: PresentedToken, cors_origins: Collection[str] = ()
) -> None:
    """Refuse (:class:`~secauth.errors.Forbidden`) a request whose token came from a cookie,
    by a method that may change state, unless a browser says it comes from the API's own
    origin, one of the cookie source's ``origins`` or one of ``cors_origins`` (those a
    Guard's :class:`~secauth.responses.Cors` lets send credentials)."""
    source = presented.source
    if source.place != "cookie" or request.method in SAFE_METHODS:
        return
    if _sent_from(request, source.origins | frozenset(cors_origins)) != "allowed":
        raise Forbidden(detail={"problem": "a cookie token not sent from the API's pages"})


def check_certificate_origin(request: Request, origins: Collection[str] = ()) -> None:
    """Refuse (:class:`~secauth.errors.Forbidden`) a request admitted by a client
    certificate, by a method that may change state, that a browser says it made for a
    page of another origin than the API's own or one of ``origins``. A client that is not
    a browser says nothing (no ``Origin``, no ``Sec-Fetch-Site``), and passes.

    >>> from secauth.events import EventKind, Request
    >>> machine = Request(EventKind.REST_V1, {"httpMethod": "POST", "headers": {}})
    >>> check_certificate_origin(machine)  # a machine client: nothing said, passes
    >>> page = {"httpMethod": "POST", "headers": {"Origin": "https://evil.example"}}
    >>> check_certificate_origin(Request(EventKind.REST_V1, page))
    Traceback (most recent call last):
    ...
    secauth.errors.Forbidden: forbidden (forbidden)
    """
    if request.method not in SAFE_METHODS and _sent_from(request, origins) == "elsewhere":
        raise Forbidden(detail={"problem": "a client certificate sent from another origin"})


def _sent_from(
    request: Request, allowed: Collection[str]
) -> Literal["allowed", "elsewhere", "unsaid"]:
    """Where a browser says ``request`` comes from: the API's own origin or an ``allowed``
    one, another, or nothing said (no ``Origin``, no ``Sec-Fetch-Site``: not a browser).
    ``Origin: null`` (a page whose referrer policy is ``no-referrer``) leaves it to
    ``Sec-Fetch-Site``, as a missing ``Origin`` does."""
    origins = request.header_values("origin")
    if origins and origins != ("null",):
        origin = origins[0]
        own = len(origins) == 1 and (origin in allowed or origin == _own(request))
        return "allowed" if own else "elsewhere"
    site = request.header_values("sec-fetch-site")
    if site == ("same-origin",):
        return "allowed"
    return "elsewhere" if site or origins else "unsaid"


def _own(request: Request) -> str | None:
    """The API's own origin as a browser on its pages names it: ``https://<Host>``."""
    hosts = request.header_values("host")
    return f"https://{hosts[0].lower()}" if len(hosts) == 1 and hosts[0] else None
