"""Sanitized HTTP responses: RFC 9457 problem details, security headers, CORS, per event kind.

Nothing here ever puts internal detail in a response: a problem body carries a
type, a title, the status and a request id for correlation, and nothing else, except
for one error made to be shown: :class:`~secauth.errors.InvalidFields` (a body's
fields broke their rules) adds an ``errors`` member that lists the declared field paths
and rule names that failed (``[{"field": "email", "rule": "pattern"}]``), never a value. The
``type`` is ``about:blank`` (RFC 9457's default) unless a base URL is configured
(``Guard(problem_type_base="https://errors.example.com/problems/")``), which then names
each reason: ``https://errors.example.com/problems/token_expired``.

Example
-------
>>> from secauth.errors import TokenExpired
>>> from secauth.events import EventKind
>>> response = error_response(TokenExpired(), EventKind.REST_V1, request_id="r-1")
>>> response["statusCode"], response["headers"]["WWW-Authenticate"]
(401, 'Bearer error="invalid_token", error_description="token expired"')
>>> json.loads(response["body"])["title"]
'token expired'
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from secauth.cross_site import checked_origins
from secauth.errors import (
    AccessDenied,
    ConfigurationError,
    DpopNonceRequired,
    InsufficientScope,
    InvalidDpopProof,
    InvalidFields,
    MethodNotAllowed,
    RateLimited,
    SecAuthError,
    SenderConstraintError,
    TokenError,
)
from secauth.events import EventKind
from secauth.options import flag, names

__all__ = [
    "ABOUT_BLANK",
    "PROBLEM_JSON",
    "Cors",
    "SecurityHeaders",
    "check_problem_type_base",
    "error_response",
    "http_response",
    "problem",
]

PROBLEM_JSON = "application/problem+json"
#: The problem ``type`` when no base URL is configured (RFC 9457 section 4.2.1).
ABOUT_BLANK = "about:blank"
_TYPE_BASE_ENDS = ("/", "#", ":", "=")
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^:]")
# RFC 9110 tokens (method and header names); text, not compiled: re compiles it on first
# use (a 405 answer, a Cors being built).
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}"
_STATUS_TEXT = {
    200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
    415: "Unsupported Media Type", 429: "Too Many Requests", 500: "Internal Server Error",
    503: "Service Unavailable",
}  # fmt: skip


class SecurityHeaders:
    """Headers added to every response; pass None for one to leave it out.

    >>> sorted(SecurityHeaders(referrer_policy=None).headers())[:2]
    ['Cache-Control', 'Content-Security-Policy']
    """

    __slots__ = ("_headers",)

    def __init__(
        self,
        *,
        strict_transport_security: str | None = "max-age=63072000; includeSubDomains",
        content_type_options: str | None = "nosniff",
        cache_control: str | None = "no-store",
        content_security_policy: str | None = "frame-ancestors 'none'",
        frame_options: str | None = "DENY",
        referrer_policy: str | None = "no-referrer",
        extra: Mapping[str, str] | None = None,
    ) -> None:
        pairs = {
            "Strict-Transport-Security": strict_transport_security,
            "X-Content-Type-Options": content_type_options,
            "Cache-Control": cache_control,
            "Content-Security-Policy": content_security_policy,
            "X-Frame-Options": frame_options,
            "Referrer-Policy": referrer_policy,
            **(extra or {}),
        }
        for name, value in pairs.items():
            if not _is_token(name):
                raise ConfigurationError(f"header name {name!r:.80} must be an HTTP token")
            if value is not None and (
                not isinstance(value, str) or any(_is_control(ch) for ch in value)
            ):
                raise ConfigurationError(f"header {name} must be one line of text")
        if len({name.lower() for name in pairs}) != len(pairs):
            raise ConfigurationError("SecurityHeaders extra names a header twice (case aside)")
        self._headers = {k: v for k, v in pairs.items() if v is not None}

    def headers(self) -> dict[str, str]:
        return dict(self._headers)


class Cors:
    """CORS with an origin allowlist. ``*`` is refused together with credentials.

    >>> cors = Cors(allow_origins=["https://app.example.com"], allow_credentials=True)
    >>> cors.preflight({"origin": "https://app.example.com",
    ...                 "access-control-request-method": "GET"})["Access-Control-Allow-Origin"]
    'https://app.example.com'
    >>> cors.preflight({"origin": "https://evil.example", "access-control-request-method": "GET"})
    """

    def __init__(
        self,
        *,
        allow_origins: Iterable[str],
        allow_methods: Iterable[str] = ("GET", "POST", "PUT", "PATCH", "DELETE"),
        allow_headers: Iterable[str] = ("Authorization", "Content-Type"),
        expose_headers: Iterable[str] = (),
        allow_credentials: bool = False,
        max_age: int = 600,
    ) -> None:
        listed = names("Cors allow_origins", allow_origins)
        origins = checked_origins("Cors allow_origins", listed, wildcard=True)
        if not origins:
            raise ConfigurationError("Cors needs allow_origins (exact origins, or ['*'])")
        allow_credentials = flag("Cors allow_credentials", allow_credentials)
        if "*" in origins and (allow_credentials or len(listed) > 1):
            raise ConfigurationError(
                "Cors: '*' cannot go with allow_credentials=True (browsers refuse it) or with "
                "other origins; list the exact origins instead"
            )
        self.any_origin = origins == {"*"}
        self.origins = origins
        methods = names("Cors allow_methods", allow_methods)
        allowed = names("Cors allow_headers", allow_headers)
        exposed = names("Cors expose_headers", expose_headers)
        if not all(map(_is_token, (*methods, *allowed, *exposed))):
            raise ConfigurationError("Cors methods and header names must be HTTP tokens")
        if type(max_age) is not int or max_age < 0:
            raise ConfigurationError("Cors max_age must be a whole number of seconds (0 or more)")
        self.methods = frozenset(m.upper() for m in methods)
        self.allow_headers = frozenset(h.lower() for h in allowed)
        self.expose_headers = exposed
        self.allow_credentials = allow_credentials
        self.max_age = max_age

    def allowed_origin(self, origin: str | None) -> str | None:
        if origin is None:
            return None
        if self.any_origin:
            return "*"
        return origin if origin in self.origins else None

    def headers(self, request_headers: Mapping[str, str]) -> dict[str, str]:
        """CORS headers for an actual (non-preflight) request; only ``Vary: Origin`` for
        other origins and requests without one. Every answer varies on ``Origin``, so a
        shared cache never serves one origin's answer (or a non-CORS one) to another.

        >>> Cors(allow_origins=["https://app.example.com"]).headers({})
        {'Vary': 'Origin'}
        """
        origin = self.allowed_origin(request_headers.get("origin"))
        if origin is None:
            return {"Vary": "Origin"}
        out = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        if self.allow_credentials:
            out["Access-Control-Allow-Credentials"] = "true"
        if self.expose_headers:
            out["Access-Control-Expose-Headers"] = ", ".join(self.expose_headers)
        return out

    def preflight(self, request_headers: Mapping[str, str]) -> dict[str, str] | None:
        """Headers of a 204 preflight answer, or None when the preflight must be refused."""
        origin = self.allowed_origin(request_headers.get("origin"))
        method = (request_headers.get("access-control-request-method") or "").upper()
        if origin is None or method not in self.methods:
            return None
        asked = request_headers.get("access-control-request-headers", "")
        wanted = {h.strip().lower() for h in asked.split(",") if h.strip()}
        if not wanted <= self.allow_headers:
            return None
        out = self.headers(request_headers)
        out["Access-Control-Allow-Methods"] = ", ".join(sorted(self.methods))
        out["Access-Control-Allow-Headers"] = ", ".join(sorted(self.allow_headers))
        out["Access-Control-Max-Age"] = str(self.max_age)
        return out


def check_problem_type_base(base: str | None) -> str | None:
    """``base`` if it can prefix a reason code to make a problem ``type`` URI, else a
    :class:`~secauth.errors.ConfigurationError` that says why; None stays None (``about:blank``).

    >>> check_problem_type_base("https://errors.example.com/problems/")
    'https://errors.example.com/problems/'
    >>> check_problem_type_base("https://errors.example.com/problems")
    Traceback (most recent call last):
    ...
    secauth.errors.ConfigurationError: problem_type_base must end with '/', '#', ':' or '=' ...
    """
    if base is None:
        return None
    if not isinstance(base, str) or not _URI_SCHEME.match(base):
        raise ConfigurationError(
            "problem_type_base must be an absolute URI such as "
            "'https://errors.example.com/problems/' (or None for about:blank)"
        )
    if any(ch.isspace() or not ch.isprintable() or ch in '"<>\\^`{|}' for ch in base):
        raise ConfigurationError("problem_type_base holds a character a URI cannot hold")
    if not base.endswith(_TYPE_BASE_ENDS):
        raise ConfigurationError(
            "problem_type_base must end with '/', '#', ':' or '=' (the reason code is "
            f"appended to it): {base + '/'!r}"
        )
    return base


def problem(
    status: int,
    title: str,
    *,
    reason: str,
    request_id: str | None,
    type_base: str | None = None,
) -> dict[str, Any]:
    """An RFC 9457 problem object; only these fields, so nothing internal leaks.

    ``type`` is ``about:blank``, or ``type_base`` followed by the reason code.

    >>> problem(403, "forbidden", reason="forbidden", request_id="r-1")["type"]
    'about:blank'
    >>> problem(403, "forbidden", reason="forbidden", request_id="r-1",
    ...         type_base="https://errors.example.com/problems/")["type"]
    'https://errors.example.com/problems/forbidden'
    """
    kind = ABOUT_BLANK if type_base is None else type_base + reason
    body: dict[str, Any] = {"type": kind, "title": title, "status": status}
    if request_id:
        body["request_id"] = request_id
    return body


def _description(text: str) -> str:
    """RFC 6750 section 3: error_description holds %x20-21 / %x23-5B / %x5D-7E only (no
    quote, no backslash, no control character), so a message cannot break the header."""
    return _quotable(text)[:200]


def _is_control(ch: str) -> bool:
    """A character a header value should not hold: a control character (C0, DEL, C1), a
    line or paragraph separator, a format character (a bidirectional override), any
    non-printable one; the horizontal tab aside (RFC 9110 section 5.5)."""
    return ch != "\t" and not ch.isprintable()


def _is_token(value: object) -> bool:
    """An RFC 9110 token (a method or header name): nothing that could end a header line
    or a list."""
    return isinstance(value, str) and re.fullmatch(_TOKEN, value) is not None


def _quotable(text: str) -> str:
    """``text`` without the characters a quoted auth-param value cannot hold as is."""
    return "".join(ch for ch in text if " " <= ch <= "~" and ch not in '"\\')


def _challenges(
    error: SecAuthError,
    dpop_algorithms: Sequence[str] | None,
    dpop_required: bool,
    dpop_presented: bool = False,
) -> list[str]:
    """The ``WWW-Authenticate`` challenges for ``error``, one per scheme offered."""
    if isinstance(error, TokenError) and error.challenge_error is None:
        # RFC 6750 section 3.1: no error code when the request carried no credentials (or
        # another scheme's). RFC 9449 section 7.1: a server that accepts DPoP offers it
        # too, with its algorithms (alone when it accepts no other scheme).
        if not dpop_algorithms:
            return ["Bearer"]
        dpop = f'DPoP algs="{_quotable(" ".join(dpop_algorithms))}"'
        return [dpop] if dpop_required else ["Bearer", dpop]
    challenge = _www_authenticate(error, dpop_algorithms if dpop_presented else None)
    return [challenge] if challenge is not None else []


def _www_authenticate(error: SecAuthError, presented_dpop: Sequence[str] | None) -> str | None:
    """The challenge for ``error``; ``presented_dpop``: the DPoP algorithms, when the
    request presented its token with the DPoP scheme (RFC 9449 section 7.1: answered with
    the DPoP scheme)."""
    if isinstance(error, SenderConstraintError) and (
        error.dpop_algorithms is not None or isinstance(error, InvalidDpopProof)
    ):
        # RFC 9449 section 7.1: the DPoP scheme, its error code and the algorithms accepted.
        code = (
            "use_dpop_nonce"
            if isinstance(error, DpopNonceRequired)
            else "invalid_dpop_proof"
            if isinstance(error, InvalidDpopProof)
            else "invalid_token"
        )
        return _dpop_challenge(code, error, error.dpop_algorithms or ())
    if isinstance(error, TokenError):
        code = error.challenge_error or "invalid_token"
        if presented_dpop:
            return _dpop_challenge(code, error, presented_dpop)
        description = _description(type(error).default_message)
        return f'Bearer error="{code}", error_description="{description}"'
    if isinstance(error, InsufficientScope | AccessDenied):
        description = _description(type(error).default_message)
        return f'Bearer error="insufficient_scope", error_description="{description}"'
    return None


def _dpop_challenge(code: str, error: SecAuthError, algorithms: Sequence[str]) -> str:
    description = _description(type(error).default_message)
    algs = " ".join(algorithms)
    suffix = f', algs="{_quotable(algs)}"' if algs else ""
    return f'DPoP error="{code}", error_description="{description}"{suffix}'


def error_response(
    error: SecAuthError,
    kind: EventKind,
    *,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    multi_value: bool = False,
    problem_type_base: str | None = None,
    challenge_params: Mapping[str, str] | None = None,
    dpop_algorithms: Sequence[str] | None = None,
    dpop_required: bool = False,
    dpop_presented: bool = False,
) -> dict[str, Any]:
    """The sanitized response for ``error`` in the shape of ``kind``'s event.

    Statuses come from the error class (400, 401, 403, 404, 405, 413, 415, 429, 500,
    503); 401/403 carry ``WWW-Authenticate: Bearer`` with RFC 6750 codes; 429 and 503
    carry ``Retry-After``; 405 carries ``Allow``. Titles and error descriptions are the
    class's ``default_message``: a message passed when raising never reaches the client.
    The problem ``type`` is ``about:blank``, or ``problem_type_base`` + the reason code
    (check it once with :func:`check_problem_type_base`). An
    :class:`~secauth.errors.InvalidFields` adds ``errors``: its field paths and rule names.
    ``challenge_params`` are added to the ``WWW-Authenticate`` challenge as quoted
    auth-params (RFC 9728's ``resource_metadata`` and ``scope``), to each challenge.
    ``dpop_algorithms``: the DPoP proof algorithms accepted (None: DPoP is not); a 401 for
    a request without credentials then offers ``DPoP algs="..."`` beside ``Bearer``
    (RFC 9449 section 7.1), or alone with ``dpop_required``; ``dpop_presented``: the
    request presented its token with the DPoP scheme, so a token error is challenged with
    ``DPoP`` too.

    >>> from secauth.errors import MissingToken
    >>> error_response(MissingToken(), EventKind.HTTP_V2, challenge_params={"scope": "a b"}
    ...                )["headers"]["WWW-Authenticate"]
    'Bearer scope="a b"'
    >>> error_response(MissingToken(), EventKind.HTTP_V2, dpop_algorithms=("ES256", "EdDSA")
    ...                )["headers"]["WWW-Authenticate"]
    'Bearer, DPoP algs="ES256 EdDSA"'
    """
    out_headers = dict(headers or {})
    out_headers["Content-Type"] = PROBLEM_JSON
    challenges = _challenges(error, dpop_algorithms, dpop_required, dpop_presented)
    if challenges:
        if challenge_params:
            params = ", ".join(f'{k}="{_quotable(v)}"' for k, v in challenge_params.items())
            challenges = [c + (", " if " " in c else " ") + params for c in challenges]
        out_headers["WWW-Authenticate"] = ", ".join(challenges)
    if isinstance(error, RateLimited):
        out_headers["Retry-After"] = str(error.retry_seconds)
    elif error.status == 503:
        out_headers["Retry-After"] = "5"
    if isinstance(error, MethodNotAllowed):
        # RFC 9110 section 15.5.6: a 405 lists the methods the resource supports.
        # Method names only: a detail a handler raised with cannot add a header line.
        allowed = error.detail.get("allowed")
        if isinstance(allowed, list | tuple) and all(_is_token(m) for m in allowed):
            out_headers["Allow"] = ", ".join(allowed)
    # The title is the error class's fixed message (RFC 9457: the same for every occurrence),
    # never a message given at raise time, so handler code cannot leak text through it.
    body = problem(
        error.status,
        type(error).default_message,
        reason=error.reason.value,
        request_id=request_id,
        type_base=problem_type_base,
    )
    if isinstance(error, InvalidFields) and error.field_errors:
        # The one client-facing detail: declared field paths and rule names, chosen to be shown.
        body["errors"] = error.public_errors()
    return http_response(error.status, body, kind, headers=out_headers, multi_value=multi_value)


def http_response(
    status: int,
    body: object,
    kind: EventKind,
    *,
    headers: Mapping[str, str] | None = None,
    multi_value: bool = False,
) -> dict[str, Any]:
    """A proxy-integration response for ``kind`` (REST v1, HTTP v2, Function URL, ALB).

    ``body`` that is not a string is JSON-encoded. ALB responses get a
    ``statusDescription``; with ``multi_value`` (ALB multi-value headers, REST
    multiValueHeaders) headers go in ``multiValueHeaders``.

    >>> http_response(204, "", EventKind.ALB)["statusDescription"]
    '204 No Content'
    """
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    response: dict[str, Any] = {"statusCode": status}
    header_map = dict(headers or {})
    if multi_value:
        response["multiValueHeaders"] = {k: [v] for k, v in header_map.items()}
    else:
        response["headers"] = header_map
    response["body"] = text
    response["isBase64Encoded"] = False
    if kind is EventKind.ALB:
        response["statusDescription"] = f"{status} {_STATUS_TEXT.get(status, '')}".strip()
    return response
