"""Why a JWKS or discovery fetch failed, in safe fields, wherever the failure shows.

Before, a 503 said only "no usable key set", and the cause sat in a log ``extra`` that
Lambda's plain-text log format drops. Now the cause (kind, HTTP status, errno, exception
class, the document that failed) is in the warning's text, in
``JwksCache.last_failure``, in the ``keys_unavailable`` error's ``detail["cause"]`` and
so in the Authorizer's and the Guard's decision records; never a byte of the response
body, never a URL's credentials.

Every failure is served by a real HTTP server on 127.0.0.1 (``LocalIssuer``'s fault modes,
or the fixed-status server below), or is a real closed port.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from guard_events import rest_v1

from secauth import Authorizer, Guard, JwksCache, JwtVerifier
from secauth.access import Routes, authenticated
from secauth.errors import KeysUnavailable
from secauth.jwks import FetchCause
from secauth.testing import KeyPair, LocalIssuer

AUD = "orders-api"
BODY_SECRET = "BODY-SECRET-7f3a do not log me"
ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/orders"


class StatusServer:
    """A real HTTP server on loopback answering every GET with one status and body."""

    def __init__(self, status: int, body: str = BODY_SECRET) -> None:
        self.status, self.body = status, body.encode()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(server.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}/jwks.json"

    def __enter__(self) -> StatusServer:
        threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()


# Bound and never listening, kept for the process: a port freed instead could be taken by
# another test's (another xdist worker's) server, which a "refused" fetch would then reach.
_REFUSING: list[socket.socket] = []


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connecting is refused (ECONNREFUSED)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _REFUSING.append(sock)
    return f"http://127.0.0.1:{sock.getsockname()[1]}/jwks.json"


@pytest.fixture
def server_503() -> Iterator[StatusServer]:
    with StatusServer(503) as server:
        yield server


@pytest.fixture
def idp() -> Iterator[LocalIssuer]:
    with LocalIssuer(algs=("ES256",)) as issuer:
        yield issuer


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="secauth.jwks")
    return caplog


def unavailable(cache: JwksCache, *, run_async: bool = False) -> KeysUnavailable:
    """The 503 a lookup raises while the key source fails (sync or async lookup)."""

    def lookup() -> object:
        return asyncio.run(cache.keys_for_async("key-1")) if run_async else cache.keys_for("key-1")

    with pytest.raises(KeysUnavailable) as caught:
        lookup()
    return caught.value


def assert_safe(*texts: object) -> None:
    """Nothing shown holds the response body or a URL's credentials."""
    for text in texts:
        shown = str(text)
        assert "BODY-SECRET" not in shown
        assert "<html>" not in shown
        assert "s3cret" not in shown
        assert "user:" not in shown


HTTP_503 = {"kind": "http_status", "status": 503, "document": "jwks"}
REFUSED = {"kind": "connection", "errno": errno.ECONNREFUSED, "error": "ConnectionRefusedError",
           "document": "jwks"}  # fmt: skip


# --- the cause of each failure, in the error, the cache and the log line ---------------------


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
def test_a_503_is_an_http_status_cause(
    server_503: StatusServer, logs: pytest.LogCaptureFixture, run_async: bool
) -> None:
    cache = JwksCache(server_503.url, allow_http=True)
    err = unavailable(cache, run_async=run_async)
    cause = {"kind": "http_status", "status": 503, "document": "jwks"}
    assert err.detail == {"url": server_503.url, "problem": "no usable key set", "cause": cause}
    assert cache.last_failure == FetchCause("http_status", status=503, document="jwks")
    [record] = logs.records
    assert "http_status status=503 document=jwks" in record.getMessage()
    assert record.secauth_cause == cause  # type: ignore[attr-defined]
    assert_safe(err.detail, record.getMessage(), vars(record))


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
def test_a_closed_port_is_a_connection_cause_with_its_errno(
    logs: pytest.LogCaptureFixture, run_async: bool
) -> None:
    cache = JwksCache(closed_port_url(), allow_http=True)
    err = unavailable(cache, run_async=run_async)
    assert err.detail["cause"] == REFUSED
    message = logs.records[0].getMessage()
    assert f"connection errno={errno.ECONNREFUSED} error=ConnectionRefusedError" in message


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
def test_a_body_that_is_not_json_is_a_bad_document(
    idp: LocalIssuer, logs: pytest.LogCaptureFixture, run_async: bool
) -> None:
    idp.mode = "garbage"  # 200 with an HTML body
    cache = JwksCache(idp.jwks_uri, allow_http=True)
    err = unavailable(cache, run_async=run_async)
    assert err.detail["cause"] == {"kind": "bad_document", "document": "jwks"}
    assert "bad_document document=jwks" in logs.records[0].getMessage()
    assert_safe(err.detail, logs.records[0].getMessage(), vars(logs.records[0]))


def test_json_that_is_not_a_jwks_is_a_bad_document(idp: LocalIssuer) -> None:
    idp.jwks_override = {"keys": "not a list"}
    err = unavailable(JwksCache(idp.jwks_uri, allow_http=True))
    assert err.detail["cause"] == {"kind": "bad_document", "error": "KeyImportError",
                                   "document": "jwks"}  # fmt: skip


def test_a_timeout_is_a_timeout(idp: LocalIssuer) -> None:
    idp.mode, idp.delay = "slow", 1.0
    err = unavailable(JwksCache(idp.jwks_uri, allow_http=True, timeout=0.2))
    assert err.detail["cause"]["kind"] == "timeout"


def test_an_oversized_body_is_too_large(idp: LocalIssuer) -> None:
    idp.mode = "oversized"
    err = unavailable(JwksCache(idp.jwks_uri, allow_http=True))
    assert err.detail["cause"] == {"kind": "too_large", "document": "jwks"}


def test_discovery_failures_name_the_discovery_document(idp: LocalIssuer) -> None:
    idp.mode = "error"  # every document answers 500
    err = unavailable(JwksCache.from_discovery(idp.issuer, allow_http=True))
    assert err.detail["cause"] == {"kind": "http_status", "status": 500, "document": "discovery"}
    idp.mode, idp.discovery_issuer = "ok", "https://impostor.example/"
    err = unavailable(JwksCache.from_discovery(idp.issuer, allow_http=True))
    assert err.detail["cause"] == {"kind": "wrong_issuer", "document": "discovery"}


def test_a_redirect_to_a_url_with_credentials_never_shows_them(
    idp: LocalIssuer, logs: pytest.LogCaptureFixture
) -> None:
    """Same origin, but with userinfo: refused, and neither the error nor the log quotes it."""
    idp.mode = "redirect"
    idp.redirect_to = idp.base_url.replace("http://", "http://user:s3cret@") + "/moved.json"
    for run_async in (False, True):
        cache = JwksCache(idp.jwks_uri, allow_http=True)
        err = unavailable(cache, run_async=run_async)
        assert err.detail["cause"] == {"kind": "redirect", "document": "jwks"}
    assert_safe(*(r.getMessage() for r in logs.records), *(vars(r) for r in logs.records))


def test_an_unknown_kid_during_an_outage_carries_the_cause(idp: LocalIssuer) -> None:
    """Keys are there, the refresh fails: the unknown kid's 503 says why it could not ask."""
    clock = [0.0]
    cache = JwksCache(idp.jwks_uri, allow_http=True, clock=lambda: clock[0])
    assert cache.hydrate()
    idp.mode = "error"
    clock[0] += 31  # past the unknown-kid cooldown: the lookup asks the IdP, which fails
    with pytest.raises(KeysUnavailable) as caught:
        cache.keys_for("rotated-in")
    assert caught.value.detail["cause"] == {"kind": "http_status", "status": 500,
                                            "document": "jwks"}  # fmt: skip
    idp.mode = "ok"
    clock[0] += 120  # past the backoff and the cooldown: the next fetch succeeds
    with pytest.raises(Exception, match="unknown key"):
        cache.keys_for("rotated-in")
    assert cache.last_failure is None


def test_strict_hydrate_carries_the_cause(server_503: StatusServer) -> None:
    cache = JwksCache(server_503.url, allow_http=True)
    with pytest.raises(KeysUnavailable) as caught:
        cache.hydrate(strict=True)
    assert caught.value.detail["cause"]["status"] == 503


# --- the decision records of both halves --------------------------------------------------------


def _verifier(url: str) -> JwtVerifier:
    return JwtVerifier(issuer="https://idp.example/", audience=AUD,
                       jwks=JwksCache(url, allow_http=True))  # fmt: skip


def _token() -> str:
    pair = KeyPair.generate("ES256", kid="key-1")
    return pair.sign({"iss": "https://idp.example/", "aud": AUD, "sub": "ann", "exp": 4e9})


ROUTES = Routes({"GET /orders": authenticated(), "GET /orders/{id}": authenticated()})


@pytest.mark.parametrize("where", ["503", "closed_port"])
def test_authorizer_records_show_the_cause(where: str, server_503: StatusServer) -> None:
    url = server_503.url if where == "503" else closed_port_url()
    records: list[Mapping[str, Any]] = []
    authorizer = Authorizer(_verifier(url), routes=ROUTES, on_decision=records.append)
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {_token()}", "methodArn": ARN}
    with pytest.raises(Exception, match="Unauthorized"):
        authorizer.handler(event, None)
    [record] = records
    assert record["reason"] == "keys_unavailable"
    expected = HTTP_503 if where == "503" else REFUSED
    assert record["detail"]["cause"] == expected
    assert_safe(json.dumps(record))


def test_guard_records_show_the_cause(server_503: StatusServer) -> None:
    records: list[Mapping[str, Any]] = []
    guard = Guard(_verifier(server_503.url), routes=ROUTES, decision_log=None,
                  on_decision=records.append)  # fmt: skip
    handler = guard(lambda event, context: {"statusCode": 200, "body": ""})
    response = handler(rest_v1("GET", "/orders/7", authorization=f"Bearer {_token()}"), None)
    assert response["statusCode"] == 503
    assert records[-1]["reason"] == "keys_unavailable"
    assert records[-1]["detail"]["cause"] == {"kind": "http_status", "status": 503,
                                              "document": "jwks"}  # fmt: skip
    assert "BODY-SECRET" not in json.dumps(response)
    assert_safe(json.dumps(records[-1]))


class TricklingServer:
    """A loopback server that answers one byte every ``gap`` seconds: in its status line
    and headers (``phase="headers"``) or in its body; never slow enough for one read's
    socket timeout, so only a total deadline ends the fetch (review 5: it did not)."""

    def __init__(self, phase: str, gap: float = 0.05) -> None:
        self.phase, self.gap = phase, gap
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/jwks.json"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            connection.recv(65536)
            body = b'{"keys": []}' + b" " * 4000
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            head += b"Content-Length: %d\r\n\r\n" % len(body)
            slow, fast = (head, body) if self.phase == "headers" else (body, head)
            if self.phase != "headers":
                connection.sendall(fast)
            for byte in slow:
                if self.stop.wait(self.gap):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return  # the client hung up: what a deadline does

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_server_that_trickles_is_cut_off_at_the_timeout(phase: str) -> None:
    import time

    server = TricklingServer(phase)
    try:
        started = time.monotonic()
        err = unavailable(JwksCache(server.url, allow_http=True, timeout=0.3))
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert err.detail["cause"]["kind"] == "timeout"
    assert elapsed < 1.5, elapsed  # a byte every 50 ms: the whole answer takes minutes
