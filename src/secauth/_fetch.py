"""Fetching JSON documents (JWKS, OIDC discovery) and PEM keys under a strict policy,
and POSTing a form for a JSON answer (token introspection).

The sync fetcher uses the standard library's ``http.client``: it costs a tenth
of httpx's import and client set-up, which matters on a Lambda cold start. The
async fetchers (:mod:`secauth._fetch_async`) use httpx, imported on first use. Both apply the same policy:
https only (plain http to loopback only when allowed), a total deadline, a
body size cap, no redirects to another origin, no proxies, and a User-Agent.
Every failure becomes :class:`FetchError`, whose message never holds the body, and
whose :class:`FetchCause` says why in fields that are safe to log and to return: a
kind, the HTTP status, the errno and the exception class; never a URL, a header or a
byte of the response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urljoin, urlsplit

from secauth._b64 import JsonLimitError, loads_strict
from secauth._urls import check_url
from secauth.errors import ConfigurationError, KeyImportError
from secauth.options import flag

if TYPE_CHECKING:
    import ssl

    from secauth._fetch_deadline import FetchDeadline

__all__ = [
    "FetchCause",
    "FetchError",
    "FetchPolicy",
    "FetchResult",
    "as_fetch_error",
    "decoded",
    "decoded_text",
    "fetch_json",
    "fetch_text",
    "form_body",
    "jwks_uri_of",
    "post_form",
    "redirect_target",
    "request_headers",
    "too_large",
    "transport_cause",
]

MAX_REDIRECTS = 3
DEFAULT_USER_AGENT = "secauth (+https://pypi.org/project/secauth/)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 16 * 1024


class FetchCause(NamedTuple):
    """Why a fetch failed, in fields that are safe to log and to show an operator.

    ``kind`` is one of ``http_status`` (with ``status``), ``timeout``, ``connection``
    (with the ``errno`` when the system gave one), ``tls``, ``protocol``, ``redirect``,
    ``too_large``, ``bad_document``, ``bad_member`` (an introspection answer's member of
    the wrong type), ``wrong_issuer``, ``refused_url``, ``missing_dependency`` (``error``
    says what to install) or ``unexpected``; ``error`` names the exception class;
    ``document`` the document that failed
    (``discovery`` or ``jwks``) once the key set knows it.

    >>> cause = FetchCause("http_status", status=503, document="jwks")
    >>> cause.as_dict(), str(cause)
    ({'kind': 'http_status', 'status': 503, 'document': 'jwks'}, 'http_status status=503 document=jwks')
    """

    kind: str
    status: int | None = None
    errno: int | None = None
    error: str | None = None
    document: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fields that are set, for a log line or an error's ``detail``."""
        return {name: value for name, value in self._asdict().items() if value is not None}

    def __str__(self) -> str:
        fields = self.as_dict()
        kind = fields.pop("kind")
        return " ".join([kind, *(f"{name}={value}" for name, value in fields.items())])

    def about_one_request(self) -> bool:
        """Whether the failure is about this one request, from a server that is up: an
        HTTP status saying so (bad or too big: 400, 413, 414, 431), an answer too large
        (its size is the request's: a token whose claims are many), or one whose member
        has the wrong type (its token's data: a numeric ``sub``). A 401 or 403 (the
        client's credentials, a firewall), a 429 and the rest would fail every request
        alike.

        >>> FetchCause("http_status", 413).about_one_request(), FetchCause("timeout").about_one_request()
        (True, False)
        >>> FetchCause("too_large").about_one_request(), FetchCause("bad_member").about_one_request()
        (True, True)
        """
        if self.kind in ("too_large", "bad_member"):
            return True
        return self.kind == "http_status" and self.status in (400, 413, 414, 431)


class FetchError(Exception):
    """A document could not be fetched or was not acceptable: the message says why in
    words, :attr:`cause` in safe fields."""

    def __init__(self, message: str, cause: FetchCause) -> None:
        super().__init__(message)
        self.cause = cause

    def about(self, document: str) -> FetchError:
        """The same failure, its cause naming the ``document`` that failed."""
        return FetchError(str(self), self.cause._replace(document=document))


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling (bounded)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def transport_cause(exc: BaseException, *, connecting: bool = False) -> FetchCause:
    """The cause of a failure below HTTP, read from ``exc`` and its chain: ``timeout``,
    ``tls``, ``connection`` (with the errno of the first system error, and that error's
    class) or ``protocol``. ``connecting`` says the client failed to connect.

    >>> transport_cause(ConnectionRefusedError(111, "refused")).as_dict()
    {'kind': 'connection', 'errno': 111, 'error': 'ConnectionRefusedError'}
    """
    import ssl

    chain = _chain(exc)
    timeout = next((e for e in chain if isinstance(e, TimeoutError)), None)
    if timeout is not None:
        return FetchCause("timeout", error=type(timeout).__name__)
    tls = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
    if tls is not None:
        return FetchCause("tls", error=type(tls).__name__)
    system = next((e for e in chain if isinstance(e, OSError) and e.errno is not None), None)
    system = system or next((e for e in chain if isinstance(e, OSError)), None)
    if system is not None:
        return FetchCause("connection", errno=system.errno, error=type(system).__name__)
    if connecting:
        return FetchCause("connection", error=type(exc).__name__)
    return FetchCause("protocol", error=type(exc).__name__)


class FetchPolicy(NamedTuple):
    """How documents are fetched. Build it with :func:`fetch_policy` to get checked values.

    >>> fetch_policy(timeout=1.0).max_bytes
    65536
    """

    timeout: float = 2.0
    max_bytes: int = 64 * 1024
    allow_http: bool = False
    user_agent: str = DEFAULT_USER_AGENT


def fetch_policy(
    *,
    timeout: float = 2.0,
    max_bytes: int = 64 * 1024,
    allow_http: bool = False,
    user_agent: str | None = None,
) -> FetchPolicy:
    """A :class:`FetchPolicy` with its values checked; bad values raise ConfigurationError."""
    if not (0 < timeout <= 30):
        raise ConfigurationError("timeout must be between 0 and 30 seconds")
    if not (1024 <= max_bytes <= 16 * 1024 * 1024):
        raise ConfigurationError("max_bytes must be between 1 KiB and 16 MiB")
    agent = user_agent or DEFAULT_USER_AGENT
    if any(c in agent for c in "\r\n"):
        raise ConfigurationError("user_agent must be a single line")
    return FetchPolicy(float(timeout), int(max_bytes), flag("allow_http", allow_http), agent)


class FetchResult(NamedTuple):
    document: Any
    max_age: float | None


def jwks_uri_of(discovery: object, issuer: str | None, policy: FetchPolicy) -> str:
    """The ``jwks_uri`` of an OIDC discovery document, which must name ``issuer`` exactly
    (OpenID Connect Discovery 1.0, section 4.3); raise :class:`FetchError` otherwise.

    >>> jwks_uri_of({"issuer": "https://idp/", "jwks_uri": "https://idp/keys"}, "https://idp/",
    ...             fetch_policy())
    'https://idp/keys'
    """
    if not isinstance(discovery, Mapping):
        cause = FetchCause("bad_document", document="discovery")
        raise FetchError("discovery document is not a JSON object", cause)
    if discovery.get("issuer") != issuer:
        cause = FetchCause("wrong_issuer", document="discovery")
        raise FetchError("discovery document names a different issuer", cause)
    try:
        return check_url(discovery.get("jwks_uri"), allow_http=policy.allow_http)
    except ConfigurationError:
        cause = FetchCause("refused_url", document="discovery")
        raise FetchError("discovery jwks_uri refused", cause) from None


def as_fetch_error(exc: Exception) -> FetchError:
    """What an exception while fetching and importing a key set counts as: a document
    that is no JWKS is a bad document; one nobody expected still fails (backoff applies),
    and only its type is kept (its text may quote the document).

    >>> as_fetch_error(KeyError("kid")).cause.as_dict()
    {'kind': 'unexpected', 'error': 'KeyError'}
    """
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, KeyImportError):
        cause = FetchCause("bad_document", error="KeyImportError", document="jwks")
        return FetchError(str(exc), cause)
    name = type(exc).__name__
    return FetchError(
        f"unexpected {name} while fetching or importing keys", FetchCause("unexpected", error=name)
    )


def redirect_target(url: str, location: str | None, policy: FetchPolicy) -> str:
    if not location:
        raise FetchError("redirect without a Location", FetchCause("redirect"))
    try:
        target = urljoin(url, location)
        old, new = urlsplit(url), urlsplit(target)
        same_origin = (old.scheme, old.hostname, old.port) == (new.scheme, new.hostname, new.port)
        if same_origin:
            return check_url(target, allow_http=policy.allow_http)
    except ValueError:  # an unparsable Location, or one with credentials in it
        pass
    raise FetchError("redirect refused (another origin, or credentials)", FetchCause("redirect"))


def decoded(body: bytes, cache_control: str | None) -> FetchResult:
    """``body`` parsed as strict JSON. Valid JSON the parser does not hold (nested past its
    depth, an integer over Python's 4300 digits) fails as ``too_large``, like an answer
    over ``max_bytes``: its size is the request's (a token's data), not the server's fault.

    >>> decoded(b"[" * 100_000 + b"]" * 100_000, None)
    Traceback (most recent call last):
    ...
    secauth._fetch.FetchError: response is beyond what the JSON parser holds
    """
    try:
        document = loads_strict(body)
    except (JsonLimitError, RecursionError):
        cause = FetchCause("too_large")
        raise FetchError("response is beyond what the JSON parser holds", cause) from None
    except ValueError:
        raise FetchError("response is not valid JSON", FetchCause("bad_document")) from None
    return FetchResult(document, _max_age(cache_control))


def decoded_text(body: bytes, cache_control: str | None) -> FetchResult:
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise FetchError("response is not ASCII text", FetchCause("bad_document")) from None
    return FetchResult(text, _max_age(cache_control))


JSON_MEDIA = "application/json"
PEM_MEDIA = "application/x-pem-file, text/plain"


def _max_age(cache_control: str | None) -> float | None:
    if not cache_control:
        return None
    directives = [d.strip().lower() for d in cache_control.split(",")]
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    for directive in directives:
        name, _, value = directive.partition("=")
        if name.strip() == "max-age" and value.strip().isdigit():
            return float(value.strip())
    return None


def request_headers(policy: FetchPolicy, accept: str) -> dict[str, str]:
    # identity: a compressed body could expand past the size cap after the check.
    return {"User-Agent": policy.user_agent, "Accept": accept, "Accept-Encoding": "identity"}


# --- sync: http.client ----------------------------------------------------------------------

_SSL_CONTEXT: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    global _SSL_CONTEXT  # noqa: PLW0603 - one verified TLS context per process, made on first use
    if _SSL_CONTEXT is None:
        import ssl

        _SSL_CONTEXT = ssl.create_default_context()
    return _SSL_CONTEXT


def fetch_json(url: str, policy: FetchPolicy, *, document: str | None = None) -> FetchResult:
    """GET ``url`` and parse JSON under ``policy``; raise :class:`FetchError` on any failure,
    its cause naming ``document`` (``"jwks"``, ``"discovery"``) when given."""
    try:
        return decoded(*_get(url, policy, JSON_MEDIA))
    except FetchError as exc:
        raise (exc.about(document) if document else exc) from None


def fetch_text(url: str, policy: FetchPolicy, *, document: str | None = None) -> FetchResult:
    """GET ``url`` as ASCII text (a PEM key) under ``policy``; the twin of :func:`fetch_json`."""
    try:
        return decoded_text(*_get(url, policy, PEM_MEDIA))
    except FetchError as exc:
        raise (exc.about(document) if document else exc) from None


def _get(url: str, policy: FetchPolicy, accept: str) -> tuple[bytes, str | None]:
    """The body of a 200 answer to GET ``url``, and its Cache-Control header."""
    import http.client

    from secauth._fetch_deadline import FetchDeadline  # fetching only: seeded keys never do

    deadline = FetchDeadline(policy.timeout)
    try:
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            conn = deadline.watch(_connection(parts, deadline))
            try:
                conn.request("GET", _target(parts), headers=request_headers(policy, accept))
                response = _response(conn, deadline)
                if response.status in REDIRECT_STATUSES:
                    url = redirect_target(url, response.getheader("Location"), policy)
                    continue
                if response.status != 200:
                    status = response.status
                    raise FetchError(f"HTTP status {status}", FetchCause("http_status", status))
                body = _read_capped(response, policy.max_bytes, deadline)
                return body, response.getheader("Cache-Control")
            except FetchError:
                raise
            except (OSError, http.client.HTTPException, ValueError) as exc:
                raise _failure(exc, "while fetching", deadline) from None
            finally:
                conn.close()
        raise FetchError("too many redirects", FetchCause("redirect"))
    finally:
        deadline.cancel()


def _response(conn: Any, deadline: FetchDeadline) -> Any:
    """``conn``'s response, its socket held by ``deadline``: for an answer that will close
    (``Connection: close``, HTTP/1.0) http.client hands the socket to the response and
    forgets it, and the deadline must still shut it."""
    deadline.hold(conn.sock)
    return conn.getresponse()


def _connection(parts: Any, deadline: FetchDeadline) -> Any:
    """An HTTP(S) connection to ``parts``' host (not yet connected) whose name lookup,
    connecting and TLS handshake end by ``deadline``; FetchError for a URL http.client
    cannot use (check_url refuses those; this holds for any caller)."""
    import http.client

    from secauth._fetch_connect import DeadlineHTTPConnection, DeadlineHTTPSConnection

    _remaining(deadline)  # no time left: no connection
    host = parts.hostname or ""
    try:
        # An explicit port: http.client would misread the last group of a bare IPv6 literal.
        if parts.scheme == "https":
            return DeadlineHTTPSConnection(host, parts.port or 443, deadline, _ssl_context())
        return DeadlineHTTPConnection(host, parts.port or 80, deadline)
    except (http.client.HTTPException, ValueError) as exc:  # InvalidURL, a bad port
        raise FetchError(f"{type(exc).__name__} in the URL", transport_cause(exc)) from None


def _target(parts: Any) -> str:
    target: str = parts.path or "/"
    return target + "?" + parts.query if parts.query else target


def _remaining(deadline: FetchDeadline) -> float:
    left = deadline.left()
    if left <= 0:
        raise FetchError("deadline exceeded", FetchCause("timeout"))
    return left


def _failure(exc: BaseException, doing: str, deadline: FetchDeadline) -> FetchError:
    """The FetchError for ``exc``: a timeout when the deadline shut the connection."""
    if deadline.passed:
        return FetchError("deadline exceeded", FetchCause("timeout"))
    return FetchError(f"{type(exc).__name__} {doing}", transport_cause(exc))


def too_large(max_bytes: int) -> FetchError:
    return FetchError(f"response larger than {max_bytes} bytes", FetchCause("too_large"))


def _read_capped(response: Any, max_bytes: int, deadline: FetchDeadline) -> bytes:
    declared = response.getheader("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = response.read(_CHUNK)
        if not chunk:
            _remaining(deadline)  # a body the deadline cut short is no body
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise too_large(max_bytes)
        chunks.append(chunk)
        _remaining(deadline)


# --- POST a form for a JSON answer (token introspection) ----------------------------------

FORM_MEDIA = "application/x-www-form-urlencoded"


def post_form(
    url: str,
    form: Mapping[str, str],
    policy: FetchPolicy,
    *,
    headers: Mapping[str, str] | None = None,
    document: str | None = None,
) -> FetchResult:
    """POST ``form`` (``application/x-www-form-urlencoded``) to ``url`` and parse the JSON
    answer under ``policy``. Only a 200 counts: no redirect is followed (a 3xx fails like
    any other status). ``headers`` (an ``Authorization``) are sent as given; no error
    ever holds them, the form or the body."""
    try:
        return decoded(*_post(url, form_body(form), headers or {}, policy))
    except FetchError as exc:
        raise (exc.about(document) if document else exc) from None


def form_body(form: Mapping[str, str]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(form).encode("ascii")


def _post(
    url: str, body: bytes, extra: Mapping[str, str], policy: FetchPolicy
) -> tuple[bytes, str | None]:
    import http.client

    from secauth._fetch_deadline import FetchDeadline

    deadline = FetchDeadline(policy.timeout)
    try:
        parts = urlsplit(url)
        conn = deadline.watch(_connection(parts, deadline))
        headers = {**request_headers(policy, JSON_MEDIA), "Content-Type": FORM_MEDIA, **extra}
        try:
            conn.request("POST", _target(parts), body=body, headers=headers)
            response = _response(conn, deadline)
            if response.status != 200:
                status = response.status
                raise FetchError(f"HTTP status {status}", FetchCause("http_status", status))
            return _read_capped(response, policy.max_bytes, deadline), None
        except FetchError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise _failure(exc, "while posting", deadline) from None
        finally:
            conn.close()
    finally:
        deadline.cancel()  # whatever happened, no timer outlives the fetch
