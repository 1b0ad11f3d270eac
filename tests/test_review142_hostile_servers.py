"""Adversarial review 142: the HTTP fetches secauth makes to identity providers (JWKS,
OIDC discovery, ALB public keys, token introspection) when the server on the other end is
hostile or broken.

Every server here is real: a raw TCP listener on 127.0.0.1 (``Hostile``, from
hostile_server.py) whose script writes whatever bytes it likes to each connection, and
counts connections. Both paths are attacked, the sync one (``http.client`` under
``FetchDeadline``) and the async one (httpx under ``asyncio.timeout``), through the public
entry points (``JwtVerifier``, ``JwksCache``, ``AlbKeys``, ``IntrospectionVerifier``,
``Authorizer``).

Attacked: compressed bodies (gzip, deflate, br, nested; a bomb small on the wire), a lying
``Content-Length``, chunked bodies that never end, HTTP/1.0 bodies without a length, a body
trickled byte by byte (with and without ``Connection: close``), a server that never
answers, headers that never end, endless ``100 Continue``, ``103 Early Hints``, endless and
cross-origin redirects (another loopback port, https, ``file:``), JSON with a BOM, UTF-16,
latin-1, duplicate names, 5000-digit integers, deep nesting, NaN; a JWKS of 1000 keys, one
``kid`` twice, ``use: enc``, ``alg`` mismatches; a discovery document naming another
issuer, or a ``jwks_uri`` on another port or ``file:``; concurrency while the server hangs
(connections counted), the cooldown after failures, and leaks of the response (reason
phrase, header values, body) into errors, logs and decision records.

Resolved: the sync fetch's deadline holds the socket of a sent request (``FetchDeadline.hold``),
so an answer that will close is cut at the deadline too; a failed introspection discovery rests
``retry_after`` as a failed endpoint does; async fetches use httpx's transport directly, so
nothing is logged through httpx's logger; a refused discovery ``jwks_uri`` is no longer quoted.
Left open (info, fails closed): an interim 103 answer on the sync path.

Findings (strict xfails):

* medium: the sync fetch's total deadline does not hold for an answer with
  ``Connection: close`` (or any HTTP/1.0 answer): ``http.client`` hands the socket to the
  response and sets ``conn.sock = None``, so ``FetchDeadline``'s timer never finds a socket
  to shut and re-arms every 20 ms; a server that trickles the body (one byte per 100 ms)
  holds the fetch, and with it ``JwksCache``'s lock and every verification waiting on it,
  for as long as it likes (JWKS GET and introspection POST alike). The async path holds.
* low: ``IntrospectionVerifier`` does not rest after its OIDC discovery fails: every new
  verification fetches the discovery document again (5 tokens, 5 fetches; with a hung
  server, each waits the whole timeout), while a failing introspection endpoint rests for
  ``retry_after`` and ``JwksCache`` backs off.
* low: the async fetch logs through httpx, whose ``httpx`` logger writes at INFO
  ``HTTP Request: GET <url> "HTTP/1.1 200 <reason phrase>"`` for every fetch: the full
  URL, query included (a function key or URL signature, which secauth strips from its own
  logs and records), and the server's reason phrase (DEBUG adds every response header);
  the sync path logs neither.
* info: the sync fetch takes an interim ``103 Early Hints`` answer as the final one
  (``http_status 103``, keys unavailable) where the async fetch skips it as RFC 9110 15.2
  requires, so an IdP behind a CDN that sends early hints works on one path only.
* info: a discovery document's refused ``jwks_uri`` (its scheme, host and path) is quoted
  in the ``FetchError``'s text, which reaches the ``secauth_problem`` extra of the JWKS
  warning (JSON log formatters print extras): the response's text in log output, against
  ``_fetch``'s promise that a FetchError's message never holds the body.

Held (regression tests below): nothing is ever inflated (identity asked, raw bytes read,
the cap on wire bytes), a Content-Length over the cap is refused unread, endless chunked
and HTTP/1.0 bodies stop at the cap, the deadline cuts trickled keep-alive bodies, hung
servers, endless headers and endless 100 Continue on both paths; redirects stay within the
origin (at most 3, never to another port, scheme or ``file:``); strict JSON refuses every
odd spelling; a JWKS over 100 keys is refused whole, an ambiguous ``kid`` and ``enc`` keys
are left out, the algorithm stays bound to the key; the discovery issuer must match
exactly; one fetch for many concurrent verifications while the server hangs (threads and
coroutines, JWKS and ALB keys), no new connection while backing off; no byte of a hostile
answer in errors, logs or decision records, and kids in skip reasons are escaped and cut.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hand_clock import Clock
from hostile_server import (
    BOUND_S,
    Hostile,
    Script,
    answering,
    bounded,
    flooding,
    hanging,
    hostile_servers,
    response,
    trickling,
)

from secauth import Authorizer, JwksCache, JwtVerifier
from secauth.alb_keys import AlbKeys
from secauth.client_auth import ClientAuth
from secauth.errors import KeysUnavailable, SecAuthError, UnknownKey
from secauth.introspection import IntrospectionVerifier
from secauth.testing import KeyPair
from secauth.testing_events import http_authorizer_v2

AUD = "api"
FAR = 4_000_000_000
MARK = "HOSTILE-7f3a9c"
KID = "key-1"
ALB_KID = "12345678-1234-1234-1234-123456789abc"


@pytest.fixture
def serve() -> Iterator[Callable[[Script], Hostile]]:
    with hostile_servers() as start:
        yield start


# --- how a verification runs -----------------------------------------------------------------


def claims(iss: str = "https://idp.example.com/", **extra: Any) -> dict[str, Any]:
    return {"iss": iss, "aud": AUD, "sub": "alice", "exp": FAR, **extra}


def jwks_of(*pairs: KeyPair) -> bytes:
    return json.dumps({"keys": [p.public_jwk for p in pairs]}).encode()


def verifier_for(url: str, **options: Any) -> JwtVerifier:
    cache = JwksCache(url, allow_http=True, **{"timeout": 1.0, **options})
    return JwtVerifier(issuer="https://idp.example.com/", audience=AUD, jwks=cache)


def verify(mode: str, verifier: Any, token: str) -> Any:
    """``verifier.verify(token)`` on the sync path, or ``verify_async`` on the async one."""
    if mode == "sync":
        return verifier.verify(token)
    return asyncio.run(verifier.verify_async(token))


def refused(mode: str, verifier: Any, token: str) -> SecAuthError:
    with pytest.raises(SecAuthError) as info:
        verify(mode, verifier, token)
    return info.value


def cause_of(err: SecAuthError) -> dict[str, Any]:
    assert isinstance(err, KeysUnavailable), type(err)
    cause: dict[str, Any] = err.detail["cause"]
    return cause


MODES = ["sync", "async"]
JSON_OK = "Content-Type: application/json"


# =============================================================================================
# FINDINGS
# =============================================================================================

# -- medium: Connection: close defeats the sync total deadline ---------------------------------


def _trickled_close() -> Script:
    """A 200 whose ``Connection: close`` hands the socket to the response, then a body of
    1000 declared bytes sent one per 100 ms (each read well inside the socket timeout)."""
    first = response(200, b"", "Connection: close", "Content-Length: 1000", JSON_OK) + b"{"
    return trickling(first, b" ", 0.1)


def _sync_fetch_of(kind: str, base: str) -> Callable[[], Any]:
    if kind == "jwks":
        cache = JwksCache(base + "/jwks.json", allow_http=True, timeout=0.5)
        return cache.hydrate
    introspection = IntrospectionVerifier(
        issuer=None, audience=None, client=ClientAuth.basic("api", "s3cret-value"),
        endpoint=base + "/introspect", allow_http=True, timeout=0.5, require_exp=False,
    )  # fmt: skip

    def call() -> Any:
        with pytest.raises(KeysUnavailable):
            introspection.verify("opaque-token-1")

    return call


# fmt: off
@pytest.mark.parametrize("kind", ["jwks", "introspection"])
def test_a_trickled_body_with_connection_close_is_cut_by_the_total_deadline(
    serve: Callable[[Script], Hostile], kind: str
) -> None:
    """A timeout of 0.5 s: the fetch must end (a timeout) within a few seconds, whatever
    the server does. Today it ends only when the server stops trickling."""
    server = serve(_trickled_close())
    done, _ = bounded(_sync_fetch_of(kind, server.base), 4.0)
    assert done, "the sync fetch outlived its 0.5 s deadline by far"
# fmt: on


@pytest.mark.parametrize("kind", ["jwks", "introspection"])
def test_a_trickled_body_with_connection_close_is_cut_async(
    serve: Callable[[Script], Hostile], kind: str
) -> None:
    """The same server against the async path: asyncio.timeout ends it."""
    server = serve(_trickled_close())
    if kind == "jwks":
        cache = JwksCache(server.base + "/jwks.json", allow_http=True, timeout=0.5)
        done, out = bounded(lambda: asyncio.run(cache.keys_for_async(KID)))
        assert done
        assert isinstance(out, KeysUnavailable)
        assert cache.last_failure is not None
        assert cache.last_failure.kind == "timeout"
        return
    introspection = IntrospectionVerifier(
        issuer=None, audience=None, client=ClientAuth.basic("api", "s3cret-value"),
        endpoint=server.base + "/introspect", allow_http=True, timeout=0.5, require_exp=False,
    )  # fmt: skip
    done, out = bounded(lambda: asyncio.run(introspection.verify_async("opaque-token-1")))
    assert done
    assert isinstance(out, KeysUnavailable)
    assert out.detail["cause"]["kind"] == "timeout"


def test_a_trickled_keep_alive_body_is_cut_by_the_total_deadline(
    serve: Callable[[Script], Hostile],
) -> None:
    """Without ``Connection: close`` the timer shuts the socket: the sync deadline holds
    against a body of one byte per 100 ms (the per-read timeout never trips)."""
    first = response(200, b"", "Content-Length: 1000", JSON_OK) + b"{"
    server = serve(trickling(first))
    cache = JwksCache(server.base + "/jwks.json", allow_http=True, timeout=0.5)
    done, ready = bounded(cache.hydrate)
    assert done
    assert ready is False
    assert cache.last_failure is not None
    assert cache.last_failure.kind == "timeout"


# -- low: introspection discovery failures are retried by every request -----------------------


# fmt: off
@pytest.mark.parametrize("mode", MODES)
def test_a_failing_introspection_discovery_is_not_hammered(
    serve: Callable[[Script], Hostile], mode: str
) -> None:
    """Five new tokens while the discovery document answers 500, the clock standing still
    (well inside ``retry_after``): at most one discovery fetch, as for a failing endpoint."""
    server = serve(answering(response(500, b"")))
    introspection = IntrospectionVerifier(
        issuer=server.base, audience=AUD, client=ClientAuth.basic("api", "s3cret-value"),
        allow_http=True, timeout=1.0, retry_after=30.0, clock=Clock(time.time()),
    )  # fmt: skip
    for n in range(5):
        err = refused(mode, introspection, f"opaque-token-{n}")
        assert isinstance(err, KeysUnavailable)
    assert server.connections <= 1
# fmt: on


@pytest.mark.parametrize("mode", MODES)
def test_a_failing_introspection_endpoint_rests(
    serve: Callable[[Script], Hostile], mode: str
) -> None:
    """The endpoint itself (given, no discovery) answering 500: one call, then new tokens
    get the 503 at once for ``retry_after``."""
    server = serve(answering(response(500, b"")))
    introspection = IntrospectionVerifier(
        issuer=None, audience=None, client=ClientAuth.basic("api", "s3cret-value"),
        endpoint=server.base + "/introspect", allow_http=True, timeout=1.0,
        retry_after=30.0, clock=Clock(time.time()),
    )  # fmt: skip
    for n in range(5):
        assert isinstance(refused(mode, introspection, f"opaque-token-{n}"), KeysUnavailable)
    assert server.connections == 1


# -- info: 103 Early Hints on the sync path --------------------------------------------------


def _early_hints_then(pair: KeyPair) -> Script:
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    return answering(hints + response(200, jwks_of(pair), JSON_OK))


# fmt: off
@pytest.mark.xfail(strict=True, reason="FINDING (left open): info: the sync fetch takes an interim 103 Early Hints answer as final (http_status 103); async skips it (RFC 9110 15.2)")  # noqa: E501
def test_an_interim_103_answer_is_skipped_on_the_sync_path(serve: Callable[[Script], Hostile]) -> None:
    pair = KeyPair.generate("ES256", kid=KID)
    server = serve(_early_hints_then(pair))
    assert verify("sync", verifier_for(server.base + "/jwks.json"), pair.sign(claims()))["sub"] == "alice"
# fmt: on


def test_an_interim_103_answer_is_skipped_on_the_async_path(
    serve: Callable[[Script], Hostile],
) -> None:
    pair = KeyPair.generate("ES256", kid=KID)
    server = serve(_early_hints_then(pair))
    assert (
        verify("async", verifier_for(server.base + "/jwks.json"), pair.sign(claims()))["sub"]
        == "alice"
    )


# -- info: a refused jwks_uri is quoted into the log extras ----------------------------------


# fmt: off
def test_a_refused_jwks_uri_is_not_quoted_into_logs(
    serve: Callable[[Script], Hostile], caplog: pytest.LogCaptureFixture
) -> None:
    holder: dict[str, str] = {}
    server = serve(answering(lambda: response(200, json.dumps(
        {"issuer": holder["issuer"], "jwks_uri": f"ftp://idp.example.com/{MARK}/keys"}
    ).encode(), JSON_OK)))  # fmt: skip
    holder["issuer"] = server.base
    cache = JwksCache.from_discovery(server.base, allow_http=True, timeout=1.0)
    with caplog.at_level(logging.DEBUG):
        assert cache.hydrate() is False
    assert cache.last_failure is not None
    assert cache.last_failure.kind == "refused_url"
    assert MARK not in caplog.text
    assert MARK not in repr([record.__dict__ for record in caplog.records])
# fmt: on


# -- low: httpx's own INFO line prints the full URL and the reason phrase ---------------------


def _query_secret_fetch(serve: Callable[[Script], Hostile]) -> tuple[JwtVerifier, str]:
    """A JWKS URL whose query holds a secret (a function key, a signed URL: secauth strips
    queries from its own logs for that reason), served with a hostile reason phrase."""
    pair = KeyPair.generate("ES256", kid=KID)
    server = serve(answering(response(200, jwks_of(pair), JSON_OK, reason=MARK)))
    verifier = verifier_for(f"{server.base}/jwks.json?code={MARK}-query")
    return verifier, pair.sign(claims())


def test_a_url_query_and_reason_phrase_reach_no_log_on_the_sync_path(
    serve: Callable[[Script], Hostile], caplog: pytest.LogCaptureFixture
) -> None:
    verifier, token = _query_secret_fetch(serve)
    with caplog.at_level(logging.INFO):
        assert verify("sync", verifier, token)["sub"] == "alice"
    assert MARK not in caplog.text


# fmt: off
def test_a_url_query_and_reason_phrase_reach_no_log_on_the_async_path(
    serve: Callable[[Script], Hostile], caplog: pytest.LogCaptureFixture
) -> None:
    """A successful fetch, logging at INFO (Lambda's JSON log format sets it by default):
    httpx's ``HTTP Request: GET <url> "HTTP/1.1 200 <reason>"`` carries both."""
    verifier, token = _query_secret_fetch(serve)
    with caplog.at_level(logging.INFO):
        assert verify("async", verifier, token)["sub"] == "alice"
    assert MARK not in caplog.text
# fmt: on


# =============================================================================================
# HELD: bodies, encodings and framing
# =============================================================================================


def _compressed(encoding: str, pair: KeyPair) -> bytes:
    document = jwks_of(pair)
    if encoding == "gzip":
        return gzip.compress(document)
    if encoding == "deflate":
        return zlib.compress(document)
    if encoding == "gzip, deflate":
        return zlib.compress(gzip.compress(document))
    return bytes(range(256)) * 4  # "br": the bytes of no JSON document, whatever they are


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "gzip, deflate", "br"])
def test_a_compressed_jwks_is_never_inflated(
    serve: Callable[[Script], Hostile], mode: str, encoding: str
) -> None:
    """A server that compresses though ``identity`` was asked: its bytes are read as they
    are (not JSON), never decoded; the key inside is not trusted."""
    pair = KeyPair.generate("ES256", kid=KID)
    body = _compressed(encoding, pair)
    server = serve(answering(response(200, body, JSON_OK, f"Content-Encoding: {encoding}")))
    err = refused(mode, verifier_for(server.base + "/jwks.json"), pair.sign(claims()))
    assert cause_of(err)["kind"] == "bad_document"
    assert b"accept-encoding: identity" in server.heads[0].lower()


@pytest.mark.parametrize("mode", MODES)
def test_a_gzip_bomb_is_capped_on_wire_bytes(serve: Callable[[Script], Hostile], mode: str) -> None:
    """80 KiB of gzip (64 MiB inflated) with a 64 KiB cap: ``too_large`` on the wire bytes,
    never 64 MiB in memory."""
    bomb = gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=9)
    body = bomb + bytes(80 * 1024 - len(bomb))
    server = serve(answering(response(200, body, JSON_OK, "Content-Encoding: gzip")))
    err = refused(
        mode,
        verifier_for(server.base + "/jwks.json"),
        KeyPair.generate("ES256", kid=KID).sign(claims()),
    )
    assert cause_of(err)["kind"] == "too_large"


@pytest.mark.parametrize("mode", MODES)
def test_a_content_length_over_the_cap_is_refused_unread(
    serve: Callable[[Script], Hostile], mode: str
) -> None:
    """``Content-Length: 10 GB``, then the server holds: refused at the header, at once."""
    first = response(200, b"", "Content-Length: 10000000000", JSON_OK) + b"{"

    def script(conn: socket.socket, head: bytes) -> None:
        conn.sendall(first)
        hanging(conn, head)

    server = serve(script)
    cache = JwksCache(server.base + "/jwks.json", allow_http=True, timeout=30.0)
    done, _ = bounded(
        lambda: cache.hydrate() if mode == "sync" else asyncio.run(cache.keys_for_async(KID))
    )
    assert done
    assert cache.last_failure is not None
    assert cache.last_failure.kind == "too_large"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "framing",
    ["chunked", "http10", "close"],
)
def test_an_endless_body_stops_at_the_cap(
    serve: Callable[[Script], Hostile], mode: str, framing: str
) -> None:
    """Endless 1-byte chunks, an HTTP/1.0 body without a length, a ``Connection: close``
    body without one: each stops at ``max_bytes`` (too_large), fast."""
    if framing == "chunked":
        first = response(200, b"", "Transfer-Encoding: chunked", JSON_OK) + b"1\r\n{\r\n"
        unit = b"1\r\n \r\n" * 512
    elif framing == "http10":
        first, unit = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{", b" " * 4096
    else:
        first = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"
        unit = b" " * 4096
    server = serve(flooding(first, unit))
    cache = JwksCache(server.base + "/jwks.json", allow_http=True, timeout=5.0)
    done, _ = bounded(
        lambda: cache.hydrate() if mode == "sync" else asyncio.run(cache.keys_for_async(KID))
    )
    assert done
    assert cache.last_failure is not None
    assert cache.last_failure.kind == "too_large"
    assert server.connections == 1


def _never_ending(kind: str) -> Script:
    if kind == "no_answer":
        return hanging
    if kind == "headers":
        return trickling(b"HTTP/1.1 200 OK\r\n", b"X-More: yes\r\n", 0.05)
    if kind == "status_line":
        return trickling(b"HTTP/1.1 200 ", b"O", 0.05)
    if kind == "continue":
        return flooding(b"", b"HTTP/1.1 100 Continue\r\n\r\n" * 64)
    first = response(200, b"", "Transfer-Encoding: chunked", JSON_OK) + b"2\r\n{}\r\n0\r\n"
    return flooding(first, b"X-Trailer: more\r\n" * 64)  # "trailers": never a blank line


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["no_answer", "headers", "status_line", "continue", "trailers"])
def test_a_server_that_never_finishes_is_cut_by_the_deadline(
    serve: Callable[[Script], Hostile], mode: str, kind: str
) -> None:
    """A 0.5 s deadline against a server that never answers, sends headers (or a status
    line) forever, floods ``100 Continue`` or endless trailers: the fetch fails within the
    bound (a timeout, or a protocol error), one connection."""
    server = serve(_never_ending(kind))
    cache = JwksCache(server.base + "/jwks.json", allow_http=True, timeout=0.5)
    done, _ = bounded(
        lambda: cache.hydrate() if mode == "sync" else asyncio.run(cache.keys_for_async(KID))
    )
    assert done
    assert cache.last_failure is not None
    assert cache.last_failure.kind in ("timeout", "protocol")
    assert server.connections == 1


# =============================================================================================
# HELD: redirects
# =============================================================================================


@pytest.mark.parametrize("mode", MODES)
def test_an_endless_same_origin_redirect_chain_stops_after_three(
    serve: Callable[[Script], Hostile], mode: str
) -> None:
    server = serve(answering(response(302, b"", "Location: /again")))
    err = refused(
        mode,
        verifier_for(server.base + "/jwks.json"),
        KeyPair.generate("ES256", kid=KID).sign(claims()),
    )
    assert cause_of(err)["kind"] == "redirect"
    assert server.connections == 4  # the first request and three redirects


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("where", ["other_port", "https", "file", "credentials", "scheme_relative"])
def test_a_redirect_off_the_origin_is_refused(
    serve: Callable[[Script], Hostile], mode: str, where: str
) -> None:
    """To another loopback port, to https on the same port, to ``file:``, to the same
    origin with credentials, or scheme-relative to another port: refused, nothing fetched
    there; the key it would serve is not trusted."""
    pair = KeyPair.generate("ES256", kid=KID)
    other = serve(answering(response(200, jwks_of(pair), JSON_OK)))
    holder: dict[str, str] = {}
    server = serve(answering(lambda: response(302, b"", f"Location: {holder['to']}")))
    holder["to"] = {
        "other_port": other.base + "/jwks.json",
        "https": f"https://127.0.0.1:{server.port}/jwks.json",
        "file": "file:///etc/passwd",
        "credentials": f"http://user:pw@127.0.0.1:{server.port}/jwks.json",
        "scheme_relative": f"//127.0.0.1:{other.port}/jwks.json",
    }[where]
    err = refused(mode, verifier_for(server.base + "/jwks.json"), pair.sign(claims()))
    assert cause_of(err)["kind"] == "redirect"
    assert other.connections == 0
    assert server.connections == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_same_origin_redirect_is_followed(serve: Callable[[Script], Hostile], mode: str) -> None:
    pair = KeyPair.generate("ES256", kid=KID)

    def script(conn: socket.socket, head: bytes) -> None:
        if head.startswith(b"GET /moved "):
            conn.sendall(response(200, jwks_of(pair), JSON_OK))
        else:
            conn.sendall(response(301, b"", "Location: /moved"))

    server = serve(script)
    assert (
        verify(mode, verifier_for(server.base + "/jwks.json"), pair.sign(claims()))["sub"]
        == "alice"
    )
    assert server.connections == 2


# =============================================================================================
# HELD: content
# =============================================================================================


def _odd_json(kind: str, pair: KeyPair) -> bytes:
    good = jwks_of(pair)
    jwk = json.dumps(pair.public_jwk)
    return {
        "bom": b"\xef\xbb\xbf" + good,
        "utf16": good.decode().encode("utf-16"),
        "latin1": good[:-1] + b', "note": "caf\xe9"}',
        "duplicate_keys": b'{"keys": [], "keys": [' + jwk.encode() + b"]}",
        "huge_integer": good[:-1] + b', "n": ' + b"7" * 5000 + b"}",
        "deep": good[:-1] + b', "n": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "nan": good[:-1] + b', "n": NaN}',
        "trailing_garbage": good + b" <html>",
        "array": b"[" + good + b"]",
    }[kind]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "kind",
    [
        "bom",
        "utf16",
        "latin1",
        "duplicate_keys",
        "huge_integer",
        "deep",
        "nan",
        "trailing_garbage",
        "array",
    ],
)
def test_odd_json_is_refused_whole(
    serve: Callable[[Script], Hostile], mode: str, kind: str
) -> None:
    """Every document holds the signer's real key, spelt in a way a lax parser takes: the
    strict parser refuses the document, and the token is not accepted."""
    pair = KeyPair.generate("ES256", kid=KID)
    body = _odd_json(kind, pair)
    server = serve(answering(response(200, body, JSON_OK)))
    verifier = verifier_for(server.base + "/jwks.json", max_bytes=1024 * 1024)
    err = refused(mode, verifier, pair.sign(claims()))
    assert cause_of(err)["kind"] in ("bad_document", "too_large")


def test_a_jwks_of_a_thousand_keys_is_refused_whole(serve: Callable[[Script], Hostile]) -> None:
    pair = KeyPair.generate("ES256", kid=KID)
    filler = [{"kty": "oct", "kid": f"f{n}"} for n in range(1000)]
    body = json.dumps({"keys": [pair.public_jwk, *filler]}).encode()
    server = serve(answering(response(200, body, JSON_OK)))
    err = refused(
        "sync", verifier_for(server.base + "/jwks.json", max_bytes=1024 * 1024), pair.sign(claims())
    )
    assert cause_of(err)["kind"] == "bad_document"


@pytest.mark.parametrize("mode", MODES)
def test_one_kid_twice_with_different_keys_trusts_neither(
    serve: Callable[[Script], Hostile], mode: str
) -> None:
    """The issuer's key and an injected one under the same kid: both left out (401), so the
    injected one never verifies (and the set is not a bag of keys to try)."""
    real, injected = KeyPair.generate("ES256", kid=KID), KeyPair.generate("ES256", kid=KID)
    server = serve(answering(response(200, jwks_of(real, injected), JSON_OK)))
    verifier = verifier_for(server.base + "/jwks.json")
    assert isinstance(refused(mode, verifier, injected.sign(claims())), UnknownKey)
    assert isinstance(refused(mode, verifier, real.sign(claims())), UnknownKey)


def _mislabelled(kind: str) -> tuple[KeyPair, dict[str, Any], str]:
    """A key pair, its JWK as the hostile set publishes it, and the alg the token says."""
    if kind == "use_enc":
        pair = KeyPair.generate("ES256", kid=KID)
        return pair, {**pair.public_jwk, "use": "enc"}, "ES256"
    if kind == "key_ops_encrypt":
        pair = KeyPair.generate("ES256", kid=KID)
        return pair, {**pair.public_jwk, "key_ops": ["encrypt"]}, "ES256"
    if kind == "alg_of_another_curve":
        pair = KeyPair.generate("ES256", kid=KID)
        return pair, {**pair.public_jwk, "alg": "ES384"}, "ES256"
    pair = KeyPair.generate("RS256", kid=KID)  # "rs256_key_ps256_token"
    return pair, pair.public_jwk, "PS256"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "kind", ["use_enc", "key_ops_encrypt", "alg_of_another_curve", "rs256_key_ps256_token"]
)
def test_a_key_published_for_something_else_verifies_nothing(
    serve: Callable[[Script], Hostile], mode: str, kind: str
) -> None:
    pair, jwk, alg = _mislabelled(kind)
    server = serve(answering(response(200, json.dumps({"keys": [jwk]}).encode(), JSON_OK)))
    token = pair.sign(claims(), alg=alg)
    err = refused(mode, verifier_for(server.base + "/jwks.json"), token)
    assert not isinstance(err, KeysUnavailable)  # a 401-class refusal, the set is fine


def _discovery(server_doc: Callable[[str], dict[str, Any]]) -> Script:
    """Answers discovery with ``server_doc(origin)``; the origin is the Host it is asked."""

    def script(conn: socket.socket, head: bytes) -> None:
        host = next(
            line.split(b":", 1)[1].strip().decode()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"host:")
        )
        conn.sendall(response(200, json.dumps(server_doc(f"http://{host}")).encode(), JSON_OK))

    return script


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("named", ["other", "trailing_slash", "missing"])
def test_a_discovery_document_naming_another_issuer_is_refused(
    serve: Callable[[Script], Hostile], mode: str, named: str
) -> None:
    pair = KeyPair.generate("ES256", kid=KID)
    jwks = serve(answering(response(200, jwks_of(pair), JSON_OK)))

    def doc(origin: str) -> dict[str, Any]:
        issuer = {"other": "https://evil.example.com", "trailing_slash": origin + "/"}.get(named)
        document: dict[str, Any] = {"jwks_uri": jwks.base + "/jwks.json"}
        if issuer is not None:
            document["issuer"] = issuer
        return document

    discovery = serve(_discovery(doc))
    verifier = JwtVerifier.from_discovery(discovery.base, audience=AUD, allow_http=True)
    err = refused(mode, verifier, pair.sign(claims(iss=discovery.base)))
    assert cause_of(err) == {"kind": "wrong_issuer", "document": "discovery"}
    assert jwks.connections == 0


@pytest.mark.parametrize("mode", MODES)
def test_a_jwks_uri_on_another_loopback_port_is_followed(
    serve: Callable[[Script], Hostile], mode: str
) -> None:
    """OIDC lets the issuer host its keys anywhere (https; http on loopback for tests): the
    document's jwks_uri on another port is used, and only its keys."""
    pair = KeyPair.generate("ES256", kid=KID)
    jwks = serve(answering(response(200, jwks_of(pair), JSON_OK)))
    discovery = serve(_discovery(lambda origin: {"issuer": origin, "jwks_uri": jwks.base + "/k"}))
    verifier = JwtVerifier.from_discovery(discovery.base, audience=AUD, allow_http=True)
    assert verify(mode, verifier, pair.sign(claims(iss=discovery.base)))["sub"] == "alice"
    assert jwks.connections == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "uri", ["file:///etc/passwd", "http://169.254.169.254/latest/meta-data", 42]
)
def test_a_jwks_uri_of_another_kind_is_never_fetched(
    serve: Callable[[Script], Hostile], mode: str, uri: Any
) -> None:
    discovery = serve(_discovery(lambda origin: {"issuer": origin, "jwks_uri": uri}))
    verifier = JwtVerifier.from_discovery(discovery.base, audience=AUD, allow_http=True)
    err = refused(
        mode, verifier, KeyPair.generate("ES256", kid=KID).sign(claims(iss=discovery.base))
    )
    assert cause_of(err) == {"kind": "refused_url", "document": "discovery"}
    assert discovery.connections == 1


# =============================================================================================
# HELD: timing (connections counted)
# =============================================================================================


def test_many_threads_share_one_fetch_while_the_jwks_server_hangs(
    serve: Callable[[Script], Hostile],
) -> None:
    server = serve(hanging)
    verifier = verifier_for(server.base + "/jwks.json", timeout=1.0)
    token = KeyPair.generate("ES256", kid=KID).sign(claims())
    outcomes: list[Any] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            verifier.verify(token)
            got: Any = "accepted"
        except SecAuthError as exc:
            got = exc
        with lock:
            outcomes.append(got)

    threads = [threading.Thread(target=one, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(BOUND_S)
    assert len(outcomes) == 8
    assert all(isinstance(o, KeysUnavailable) for o in outcomes)
    assert server.connections == 1


def test_many_coroutines_share_one_fetch_while_the_jwks_server_hangs(
    serve: Callable[[Script], Hostile],
) -> None:
    server = serve(hanging)
    verifier = verifier_for(server.base + "/jwks.json", timeout=1.0)
    token = KeyPair.generate("ES256", kid=KID).sign(claims())

    async def many() -> list[Any]:
        return await asyncio.gather(
            *(verifier.verify_async(token) for _ in range(8)), return_exceptions=True
        )

    done, outcomes = bounded(lambda: asyncio.run(many()))
    assert done
    assert all(isinstance(o, KeysUnavailable) for o in outcomes)
    assert server.connections == 1


def test_alb_key_lookups_share_one_fetch_while_the_endpoint_hangs(
    serve: Callable[[Script], Hostile],
) -> None:
    server = serve(hanging)
    keys = AlbKeys(server.base, allow_http=True, timeout=1.0)

    async def many() -> list[Any]:
        return await asyncio.gather(
            *(keys.key_for_async(ALB_KID) for _ in range(8)), return_exceptions=True
        )

    done, outcomes = bounded(lambda: asyncio.run(many()))
    assert done
    assert all(isinstance(o, KeysUnavailable) for o in outcomes)
    assert server.connections == 1
    assert keys.last_failure is not None
    assert keys.last_failure.kind == "timeout"


@pytest.mark.parametrize("mode", MODES)
def test_no_connection_while_backing_off(serve: Callable[[Script], Hostile], mode: str) -> None:
    """A 503: one connection; lookups within the backoff (1 s, the clock standing still)
    make none; past it, one more."""
    server = serve(answering(response(503, b"")))
    clock = Clock(1000.0)
    verifier = verifier_for(server.base + "/jwks.json", clock=clock)
    token = KeyPair.generate("ES256", kid=KID).sign(claims())
    for _ in range(5):
        assert isinstance(refused(mode, verifier, token), KeysUnavailable)
    assert server.connections == 1
    clock.now += 1.5
    assert isinstance(refused(mode, verifier, token), KeysUnavailable)
    assert server.connections == 2


@pytest.mark.parametrize("mode", MODES)
def test_a_flood_of_unknown_kids_costs_one_refetch(
    serve: Callable[[Script], Hostile], mode: str
) -> None:
    pair = KeyPair.generate("ES256", kid=KID)
    server = serve(answering(lambda: response(200, jwks_of(pair), JSON_OK)))
    clock = Clock(1000.0)
    verifier = verifier_for(server.base + "/jwks.json", clock=clock)
    assert verify(mode, verifier, pair.sign(claims()))["sub"] == "alice"
    clock.now += 31  # past the refetch cooldown, inside the ttl
    for n in range(20):
        other = KeyPair.generate("ES256", kid=f"made-up-{n}")
        assert isinstance(refused(mode, verifier, other.sign(claims())), UnknownKey)
    assert server.connections == 2


# =============================================================================================
# HELD: nothing of a hostile answer leaks
# =============================================================================================


def _leaky(kind: str) -> bytes:
    header = f"X-Error: {MARK}-header"
    if kind == "status":
        return response(
            500, f"{MARK}-body".encode(), header, "Content-Type: text/plain", reason=MARK
        )
    if kind == "not_json":
        return response(
            200, f"<html>{MARK}-body</html>".encode(), header, "Content-Type: text/html"
        )
    if kind == "keys_not_list":
        return response(200, json.dumps({"keys": MARK}).encode(), header, JSON_OK)
    if kind == "keys_not_objects":
        return response(200, json.dumps({"keys": [MARK, 7]}).encode(), header, JSON_OK)
    if kind == "bad_escape":
        return response(200, ('{"keys": [], "x": "\\q' + MARK + '"}').encode(), header, JSON_OK)
    return response(302, b"", f"Location: http://{MARK.lower()}.example/", header, reason=MARK)


def _own_logs(caplog: pytest.LogCaptureFixture) -> str:
    """Every record of secauth's loggers (and any other but httpx's and httpcore's, whose
    INFO line is a finding of its own, below), messages and extras."""
    own = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    return repr([(r.getMessage(), r.__dict__) for r in own])


@pytest.fixture
def caplog_all(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "kind", ["status", "not_json", "keys_not_list", "keys_not_objects", "bad_escape", "redirect"]
)
def test_no_byte_of_a_hostile_jwks_answer_leaks(
    serve: Callable[[Script], Hostile],
    caplog_all: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    mode: str,
    kind: str,
) -> None:
    """The reason phrase, a header value, the body: none of it in the error (str, repr,
    to_log), the log records (message and extras) or the decision records."""
    server = serve(answering(_leaky(kind)))
    verifier = verifier_for(server.base + "/jwks.json")
    token = KeyPair.generate("ES256", kid=KID).sign(claims())
    err = refused(mode, verifier, token)
    records: list[Any] = []
    authorizer = Authorizer(verifier, decision_log="logging", on_decision=records.append)
    try:
        authorizer.handler(http_authorizer_v2("GET", "/", token=token), None)
    except Exception as exc:
        records.append(repr(exc))
    seen = " | ".join([
        str(err), repr(err), json.dumps(err.to_log(), default=str),
        _own_logs(caplog_all), repr(records), *capsys.readouterr(),
    ])  # fmt: skip
    assert MARK not in seen
    assert MARK.lower() not in seen


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "body",
    [
        {"active": MARK},
        {"active": True, "sub": 7, "note": MARK},
        {"active": True, "exp": MARK},
        {"active": True, "token_type": MARK, "exp": FAR},
    ],
)
def test_no_byte_of_a_hostile_introspection_answer_leaks(
    serve: Callable[[Script], Hostile],
    caplog_all: pytest.LogCaptureFixture,
    mode: str,
    body: dict[str, Any],
) -> None:
    server = serve(answering(response(200, json.dumps(body).encode(), JSON_OK, f"X-Why: {MARK}")))
    introspection = IntrospectionVerifier(
        issuer=None, audience=None, client=ClientAuth.basic("api", "s3cret-value"),
        endpoint=server.base + "/introspect", allow_http=True, timeout=1.0,
    )  # fmt: skip
    err = refused(mode, introspection, "opaque-token-1")
    seen = " | ".join([
        str(err), repr(err), json.dumps(err.to_log(), default=str), _own_logs(caplog_all),
    ])  # fmt: skip
    assert MARK not in seen


def test_hostile_kids_in_skip_reasons_are_escaped_and_cut(
    serve: Callable[[Script], Hostile], caplog_all: pytest.LogCaptureFixture
) -> None:
    """A skipped key's kid is named in the log (by design): as a repr (no line break, no
    terminal escape) and cut to 64 characters."""
    pair = KeyPair.generate("ES256", kid=KID)
    kid = "x\r\nFAKE LOG LINE \x1b[31m" + MARK * 100
    bad = [{"kty": "AKP", "kid": kid}, {**pair.public_jwk, "kid": kid, "use": "enc"}]
    body = json.dumps({"keys": [pair.public_jwk, *bad]}).encode()
    server = serve(answering(response(200, body, JSON_OK)))
    assert (
        verify("sync", verifier_for(server.base + "/jwks.json"), pair.sign(claims()))["sub"]
        == "alice"
    )
    messages = [record.getMessage() for record in caplog_all.records]
    assert any("skipped" in m for m in messages)
    for message in messages:
        assert "\n" not in message
        assert "\r" not in message
        assert "\x1b" not in message
        assert MARK * 5 not in message  # 70 characters: more than a cut kid shows
