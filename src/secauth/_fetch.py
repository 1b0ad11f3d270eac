"""Fetching JSON documents (JWKS, OIDC discovery) under a strict policy.

The sync fetcher uses the standard library's ``http.client``: it costs a tenth
of httpx's import and client set-up, which matters on a Lambda cold start. The
async fetcher uses httpx, imported on first use. Both apply the same policy:
https only (plain http to loopback only when allowed), a total deadline, a
body size cap, no redirects to another origin, no proxies, and a User-Agent.
Every failure becomes :class:`FetchError`, whose message never holds the body.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urljoin, urlsplit

from secauth._b64 import loads_strict
from secauth.errors import ConfigurationError

if TYPE_CHECKING:
    import ssl

__all__ = [
    "FetchError",
    "FetchPolicy",
    "FetchResult",
    "check_url",
    "fetch_json",
    "fetch_json_async",
]

MAX_REDIRECTS = 3
DEFAULT_USER_AGENT = "secauth (+https://pypi.org/project/secauth/)"
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 16 * 1024


class FetchError(Exception):
    """A document could not be fetched or was not acceptable; the message says why."""


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
    return FetchPolicy(float(timeout), int(max_bytes), bool(allow_http), agent)


class FetchResult(NamedTuple):
    document: Any
    max_age: float | None


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: object, *, allow_http: bool) -> str:
    """Return ``url`` when the policy allows fetching it; raise ConfigurationError otherwise.

    >>> check_url("https://idp.example.com/jwks.json", allow_http=False)
    'https://idp.example.com/jwks.json'
    """
    if not isinstance(url, str):
        raise ConfigurationError("a key source URL must be a string")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        raise ConfigurationError(f"URL {url!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError("URLs with credentials in them are not accepted")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and allow_http and _is_loopback(host):
        return url
    if parts.scheme == "http" and allow_http:
        raise ConfigurationError(
            f"plain http is allowed only to loopback hosts (for tests); {host!r} is not one"
        )
    raise ConfigurationError(
        f"URL {url!r} must use https (pass allow_http=True only for loopback test servers)"
    )


def _redirect_target(url: str, location: str | None, policy: FetchPolicy) -> str:
    if not location:
        raise FetchError("redirect without a Location")
    target = urljoin(url, location)
    old, new = urlsplit(url), urlsplit(target)
    if (old.scheme, old.hostname, old.port) != (new.scheme, new.hostname, new.port):
        raise FetchError("redirect to another origin refused")
    check_url(target, allow_http=policy.allow_http)
    return target


def _decode(body: bytes, cache_control: str | None) -> FetchResult:
    try:
        document = loads_strict(body)
    except (ValueError, RecursionError):
        raise FetchError("response is not valid JSON") from None
    return FetchResult(document, _max_age(cache_control))


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


def _headers(policy: FetchPolicy) -> dict[str, str]:
    # identity: a compressed body could expand past the size cap after the check.
    return {
        "User-Agent": policy.user_agent,
        "Accept": "application/json",
        "Accept-Encoding": "identity",
    }


# --- sync: http.client ----------------------------------------------------------------------

_SSL_CONTEXT: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    global _SSL_CONTEXT  # noqa: PLW0603 - one verified TLS context per process, made on first use
    if _SSL_CONTEXT is None:
        import ssl

        _SSL_CONTEXT = ssl.create_default_context()
    return _SSL_CONTEXT


def fetch_json(url: str, policy: FetchPolicy) -> FetchResult:
    """GET ``url`` and parse JSON under ``policy``; raise :class:`FetchError` on any failure."""
    import http.client

    deadline = time.monotonic() + policy.timeout
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        remaining = _remaining(deadline)
        conn: http.client.HTTPConnection
        host = parts.hostname or ""
        # An explicit port: http.client would misread the last group of a bare IPv6 literal.
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(
                host, parts.port or 443, timeout=remaining, context=_ssl_context()
            )
        else:
            conn = http.client.HTTPConnection(host, parts.port or 80, timeout=remaining)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        try:
            conn.request("GET", target, headers=_headers(policy))
            response = conn.getresponse()
            if response.status in _REDIRECT_STATUSES:
                url = _redirect_target(url, response.getheader("Location"), policy)
                continue
            if response.status != 200:
                raise FetchError(f"HTTP status {response.status}")
            body = _read_capped(conn, response, policy.max_bytes, deadline)
            return _decode(body, response.getheader("Cache-Control"))
        except FetchError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise FetchError(f"{type(exc).__name__} while fetching") from None
        finally:
            conn.close()
    raise FetchError("too many redirects")


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError("deadline exceeded")
    return left


def _read_capped(conn: Any, response: Any, max_bytes: int, deadline: float) -> bytes:
    declared = response.getheader("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"response larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        if conn.sock is not None:
            conn.sock.settimeout(_remaining(deadline))
        chunk = response.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"response larger than {max_bytes} bytes")
        chunks.append(chunk)
        _remaining(deadline)


# --- async: httpx -------------------------------------------------------------------------


async def fetch_json_async(url: str, policy: FetchPolicy) -> FetchResult:
    """Async twin of :func:`fetch_json`, over httpx (install ``secauth[async]``)."""
    import asyncio

    try:
        import httpx
    except ImportError:  # pragma: no cover - depends on the environment
        raise FetchError("async fetching needs httpx: pip install 'secauth[async]'") from None
    try:
        async with asyncio.timeout(policy.timeout):
            async with httpx.AsyncClient(
                follow_redirects=False, trust_env=False, timeout=policy.timeout
            ) as client:
                return await _get_async(client, url, policy)
    except FetchError:
        raise
    except TimeoutError:
        raise FetchError("deadline exceeded") from None
    except (httpx.HTTPError, OSError, ValueError) as exc:
        raise FetchError(f"{type(exc).__name__} while fetching") from None


async def _get_async(client: Any, url: str, policy: FetchPolicy) -> FetchResult:
    for _ in range(MAX_REDIRECTS + 1):
        async with client.stream("GET", url, headers=_headers(policy)) as response:
            if response.status_code in _REDIRECT_STATUSES:
                url = _redirect_target(url, response.headers.get("Location"), policy)
                continue
            if response.status_code != 200:
                raise FetchError(f"HTTP status {response.status_code}")
            body = await _read_capped_async(response, policy.max_bytes)
            return _decode(body, response.headers.get("Cache-Control"))
    raise FetchError("too many redirects")


async def _read_capped_async(response: Any, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"response larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"response larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
