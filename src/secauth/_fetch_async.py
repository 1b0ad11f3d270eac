"""The async fetchers: :mod:`secauth._fetch`'s policy over httpx, imported on first use
(install ``secauth[async]``). Same rules and the same :class:`~secauth._fetch.FetchError`
causes as the sync fetchers: https only, a total deadline, a body cap, no redirect to
another origin, no proxies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from secauth._fetch import (
    FORM_MEDIA,
    JSON_MEDIA,
    MAX_REDIRECTS,
    PEM_MEDIA,
    REDIRECT_STATUSES,
    FetchCause,
    FetchError,
    FetchPolicy,
    FetchResult,
    decoded,
    decoded_text,
    form_body,
    redirect_target,
    request_headers,
    too_large,
    transport_cause,
)
from secauth.errors import ConfigurationError

__all__ = [
    "MISSING_HTTPX",
    "fetch_json_async",
    "fetch_text_async",
    "post_form_async",
    "require_httpx",
]

#: What to install for async fetching (a FetchCause's ``error`` when httpx is missing).
MISSING_HTTPX = "httpx: pip install 'secauth[async]'"


def require_httpx() -> None:
    """Raise :class:`~secauth.errors.ConfigurationError` naming the extra when httpx, which
    async fetching uses, is not installed; called where an async handler is guarded, so a
    core install fails at startup instead of answering 503 to every request.

    >>> require_httpx()  # installed here: nothing to say
    """
    from importlib.util import find_spec

    if find_spec("httpx") is None:
        raise ConfigurationError(f"async key and introspection fetches need {MISSING_HTTPX}")


async def fetch_json_async(
    url: str, policy: FetchPolicy, *, document: str | None = None
) -> FetchResult:
    """Async twin of :func:`~secauth._fetch.fetch_json`."""
    try:
        return decoded(*await _get(url, policy, JSON_MEDIA))
    except FetchError as exc:
        raise (exc.about(document) if document else exc) from None


async def fetch_text_async(
    url: str, policy: FetchPolicy, *, document: str | None = None
) -> FetchResult:
    """Async twin of :func:`~secauth._fetch.fetch_text`."""
    try:
        return decoded_text(*await _get(url, policy, PEM_MEDIA))
    except FetchError as exc:
        raise (exc.about(document) if document else exc) from None


async def post_form_async(
    url: str,
    form: Mapping[str, str],
    policy: FetchPolicy,
    *,
    headers: Mapping[str, str] | None = None,
    document: str | None = None,
) -> FetchResult:
    """Async twin of :func:`~secauth._fetch.post_form`."""
    sent = {**request_headers(policy, JSON_MEDIA), "Content-Type": FORM_MEDIA, **(headers or {})}
    try:
        async with (
            _client(policy, "posting") as client,
            client.stream("POST", url, content=form_body(form), headers=sent) as answer,
        ):
            _expect_ok(answer.status_code)
            return decoded(await _read_capped(answer, policy.max_bytes), None)
    except FetchError as exc:
        raise (exc.about(document) if document else exc) from None


async def _get(url: str, policy: FetchPolicy, accept: str) -> tuple[bytes, str | None]:
    async with _client(policy, "fetching") as client:
        for _ in range(MAX_REDIRECTS + 1):
            headers = request_headers(policy, accept)
            async with client.stream("GET", url, headers=headers) as answer:
                if answer.status_code in REDIRECT_STATUSES:
                    url = redirect_target(url, answer.headers.get("Location"), policy)
                    continue
                _expect_ok(answer.status_code)
                body = await _read_capped(answer, policy.max_bytes)
                return body, answer.headers.get("Cache-Control")
    raise FetchError("too many redirects", FetchCause("redirect"))


@asynccontextmanager
async def _client(policy: FetchPolicy, doing: str) -> AsyncIterator[Any]:
    """An httpx client under ``policy``'s total deadline; every failure inside the block
    becomes a FetchError with a safe cause."""
    import asyncio

    try:
        import httpx
    except ImportError:  # pragma: no cover - depends on the environment
        raise FetchError(
            f"async fetching needs {MISSING_HTTPX}",
            FetchCause("missing_dependency", error=MISSING_HTTPX),
        ) from None
    try:
        async with asyncio.timeout(policy.timeout):
            async with httpx.AsyncHTTPTransport(trust_env=False) as transport:
                yield _Exchanges(httpx, transport, policy.timeout)
    except FetchError:
        raise
    except (TimeoutError, httpx.TimeoutException) as exc:
        cause = FetchCause("timeout", error=type(exc).__name__)
        raise FetchError("deadline exceeded", cause) from None
    except (httpx.HTTPError, OSError, ValueError) as exc:
        cause = transport_cause(exc, connecting=isinstance(exc, httpx.ConnectError))
        raise FetchError(f"{type(exc).__name__} while {doing}", cause) from None


class _Exchanges:
    """Requests sent on an httpx transport directly: httpx's client would log each one
    through its own logger (the URL with its query, the server's reason phrase), where
    secauth logs its fetches itself, URLs without their query. No redirect is followed
    here, no proxy taken from the environment."""

    def __init__(self, httpx: Any, transport: Any, timeout: float) -> None:
        self._httpx = httpx
        self._transport = transport
        self._timeout = httpx.Timeout(timeout).as_dict()

    @asynccontextmanager
    async def stream(
        self, method: str, url: str, *, headers: Mapping[str, str], content: bytes | None = None
    ) -> AsyncIterator[Any]:
        request = self._httpx.Request(
            method, url, headers=headers, content=content, extensions={"timeout": self._timeout}
        )
        response = await self._transport.handle_async_request(request)
        try:
            yield response
        finally:
            await response.aclose()


def _expect_ok(status: int) -> None:
    if status != 200:
        raise FetchError(f"HTTP status {status}", FetchCause("http_status", status))


async def _read_capped(response: Any, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > max_bytes:
            raise too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)
