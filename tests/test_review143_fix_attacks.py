"""Review 143: attacks on the fixes and refactors of the last hour (reviews 138, 140 and 142).

Attacked, through ``Guard``, ``Authorizer(...).handler``, ``JwtVerifier``/``JwksCache`` and
``IntrospectionVerifier`` against real loopback servers (plain, hostile and TLS with a self-signed
certificate made here with ``cryptography``):

* review 138's challenges: ``Authorization`` scheme variants (``bearer``, ``BEARER``, ``Bearer<TAB>``,
  ``DPoP`` with and without a proof, ``DPoP<TAB>``, ``Basic``, ``Token``, a NUL before the scheme)
  on public, protected, scope-guarded and unknown routes, for the Guard and the Authorizer; route
  existence leaking through the challenge to callers without valid credentials; header injection
  through scope names (``scopes()`` names with NUL, DEL, non-ASCII, quotes, commas) and through an
  ``InsufficientScope(detail={"scopes": [...]})`` a handler raises; ``~scopes()`` and ``|``;
* review 142's fetch fixes: TLS verification of the async transport (and the sync path), proxies
  from the environment, ``Accept-Encoding: identity``, cross-origin redirects, one connection per
  fetch closed after it (no pooling across fetches), the connection closed when the caller is
  cancelled; the shared introspection rest (a failed discovery against a working endpoint and the
  reverse, exactly ``retry_after``, no rediscovery after an endpoint failure);
* the refactors: every old and new import path of ``EventKind``/``detect_kind`` and
  ``ClaimMapper``/``ClaimPath`` (fresh interpreters, both import orders, star imports), identity,
  ``redefined`` across paths, pickling by the old path, ``Principal.replace``;
* review 140's wrappers: members of ``MultiIssuerVerifier``/``CombinedVerifier`` changed after
  construction.

Resolved: ``MultiIssuerVerifier.verifiers`` is a read-only mapping and ``CombinedVerifier.jwt`` and
``.introspection`` read-only properties (a change of trust is a new verifier, so the revalidators
bound at construction stay the members that verify); a DPoP-only resource (``require="dpop"``)
answers an unbound Bearer token with its DPoP challenge and algorithms.

Findings (strict xfails):

* medium: ``MultiIssuerVerifier`` binds its members' ``revalidate`` at construction, while
  ``verify`` reads ``multi.verifiers`` (a public dict, documented as ``pool.verifiers[issuer]``) on
  every call: after ``del multi.verifiers[issuer]`` (an issuer no longer trusted) or a member
  replaced by a stricter one, the Authorizer's response memo keeps answering Allow for tokens the
  removed member verified, where ``verify`` now says ``invalid_issuer`` (before 140's fix,
  ``revalidate`` read the dict and the next call was refused).
* low: the same for ``CombinedVerifier``: ``combined.jwt = stricter`` leaves the old JWT verifier's
  ``revalidate`` vouching for its tokens (the memo keeps the Allow).
* low: with ``SenderConstraint(require="dpop")`` an unbound token sent as ``Bearer`` is answered
  ``WWW-Authenticate: Bearer error="invalid_token"`` (no ``DPoP``, no ``algs``), a scheme this
  resource refuses, against docs/sender-constrained.md ("every refusal answers ... DPoP
  error=invalid_token ... with algs"); without credentials the same guard answers ``DPoP`` alone.

Held (pinned below): every scheme variant but the case of ``Bearer`` is refused 401 (public
routes included, the handler never runs; the Authorizer raises ``Unauthorized``), and ``bearer``
and ``BEARER`` are the same as ``Bearer``; ``DPoP`` without a proof is refused with the DPoP
challenge; a caller without valid credentials gets the same answer on every non-public path (no
route oracle, no scope name); scope names are echoed only when every one is an RFC 6750
scope-token, never a line break, quote or control character; ``~scopes()`` never asks for its
scope; a self-signed certificate is refused on both paths (even with ``SSL_CERT_FILE`` naming it,
for the async one) and the same server works for a client that trusts it; no proxy from the
environment is used; identity is asked and no redirect leaves the origin; each async fetch uses
one connection and closes it, a cancelled caller's fetch is closed too; a failed discovery rests
exactly ``retry_after`` and an endpoint failure never makes the verifier rediscover; the old
import paths give the very same objects in every order, ``redefined`` is not fooled, pickles by
the old path load, ``Principal.replace`` copies nested claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import pickle
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hand_clock import Clock
from hostile_server import Hostile, Script, answering, hostile_servers, response

import secauth.testing_events as te
from secauth import Authorizer, Guard, JwksCache, JwtVerifier, Routes, authenticated, public, scopes
from secauth.client_auth import ClientAuth
from secauth.combined_verifier import CombinedVerifier
from secauth.dpop import DpopVerifier
from secauth.dpop_replay import MemoryReplayStore
from secauth.errors import InsufficientScope, KeysUnavailable, SecAuthError
from secauth.introspection import IntrospectionVerifier
from secauth.multi_issuer import MultiIssuerVerifier
from secauth.policy import Unauthorized
from secauth.principal import Principal
from secauth.sender_constraint import SenderConstraint
from secauth.testing import KeyPair
from secauth.testing_dpop import DpopKey

ISS = "https://idp.example.com/"
ISS2 = "https://other.example.com/"
FAR = 4_000_000_000
PAIR = KeyPair.generate("ES256", kid="k1")
JWKS = {"keys": [PAIR.public_jwk]}
ROUTES = Routes(
    {
        "GET /pub": public(),
        "GET /orders": authenticated(),
        "POST /orders": authenticated(),
        "GET /s": scopes("orders.read"),
    }
)
PATHS = [
    ("GET", "/orders"),
    ("POST", "/orders"),
    ("GET", "/s"),
    ("GET", "/nowhere"),
    ("PUT", "/pub"),
]


def token(iss: str = ISS, **claims: Any) -> str:
    return PAIR.sign({"iss": iss, "aud": "api", "sub": "ann", "exp": FAR, **claims})


def verifier(iss: str = ISS, audience: str = "api") -> JwtVerifier:
    return JwtVerifier(issuer=iss, audience=audience, jwks=JWKS)


def guarded(guard: Guard, calls: list[str] | None = None) -> Callable[..., dict[str, Any]]:
    def handler(event: Any, context: Any) -> dict[str, Any]:
        if calls is not None:
            calls.append("ran")
        return {"statusCode": 200, "body": "ok"}

    return guard(handler)


def challenge(answer: dict[str, Any]) -> str | None:
    value: str | None = answer.get("headers", {}).get("WWW-Authenticate")
    return value


def authorizer_outcome(authorizer: Authorizer, event: dict[str, Any]) -> str:
    try:
        answer = authorizer.handler(event, None)
    except Unauthorized:
        return "401"
    return "allow" if te.iam_allows(answer, event["methodArn"]) else "deny"


def dpop_guard(require: str | None = None) -> Guard:
    constraint = SenderConstraint(require=require, dpop=DpopVerifier(replay=MemoryReplayStore()))
    return Guard(verifier(), routes=ROUTES, decision_log=None, sender_constraint=constraint)


# == 1. review 138: schemes, challenges, scope names =============================================

REFUSED_SCHEMES = [
    "Bearer\t{t}",
    "DPoP\t{t}",
    "Basic dXNlcjpwYXNz",
    "Basic",
    "Token {t}",
    "\x00Bearer {t}",
    "Bearer{t}",
    "Bearer {t} {t}",
    "Bearer {t}, Bearer {t}",
    "DPoP {t}",  # no DPoP accepted here
]


@pytest.mark.parametrize("sent", REFUSED_SCHEMES)
@pytest.mark.parametrize("path", ["/pub", "/orders", "/s", "/nowhere"])
def test_a_scheme_variant_is_refused_never_anonymous_by_the_guard(sent: str, path: str) -> None:
    calls: list[str] = []
    handler = guarded(Guard(verifier(), routes=ROUTES, decision_log=None), calls)
    answer = handler(te.function_url("GET", path, authorization=sent.format(t=token())), None)
    assert answer["statusCode"] == 401
    assert calls == []
    assert (challenge(answer) or "").startswith("Bearer")


@pytest.mark.parametrize("sent", REFUSED_SCHEMES)
@pytest.mark.parametrize("path", ["/pub", "/orders"])
def test_a_scheme_variant_is_refused_by_the_authorizer(sent: str, path: str) -> None:
    authorizer = Authorizer(verifier(), routes=ROUTES, decision_log=None)
    event = te.request_authorizer("GET", path, authorization=sent.format(t=token()))
    assert authorizer_outcome(authorizer, event) == "401"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_case_of_bearer_changes_nothing(scheme: str) -> None:
    handler = guarded(Guard(verifier(), routes=ROUTES, decision_log=None))
    sent = f"{scheme} {token()}"
    statuses = [
        handler(te.function_url(m, p, authorization=sent), None)["statusCode"] for m, p in PATHS
    ]
    assert statuses == [200, 200, 403, 404, 405]
    authorizer = Authorizer(verifier(), routes=ROUTES, decision_log=None)
    event = te.request_authorizer("GET", "/orders", authorization=sent)
    assert authorizer_outcome(authorizer, event) == "allow"


@pytest.mark.parametrize("require", [None, "dpop"])
@pytest.mark.parametrize("scheme", ["DPoP", "dpop", "DPOP"])
@pytest.mark.parametrize("path", ["/pub", "/orders"])
def test_dpop_without_a_proof_is_refused_with_the_dpop_challenge(
    require: str | None, scheme: str, path: str
) -> None:
    calls: list[str] = []
    handler = guarded(dpop_guard(require), calls)
    bound = token(**DpopKey.generate().bind({}))
    answer = handler(te.function_url("GET", path, authorization=f"{scheme} {bound}"), None)
    assert (answer["statusCode"], calls) == (401, [])
    assert (challenge(answer) or "").startswith('DPoP error="invalid_dpop_proof"')


def _without_request_id(answer: dict[str, Any]) -> tuple[Any, ...]:
    body = json.loads(answer["body"])
    body.pop("request_id", None)
    return answer["statusCode"], challenge(answer), json.dumps(body, sort_keys=True)


@pytest.mark.parametrize("sent", [None, "Basic dXNlcjpwYXNz", "Bearer not-a-jwt", "DPoP\tx"])
def test_no_route_oracle_for_a_caller_without_valid_credentials(sent: str | None) -> None:
    """Every non-public path, routed, wrong verb, scope-guarded or absent: one answer."""
    handler = guarded(Guard(verifier(), routes=ROUTES, decision_log=None))
    extra = {} if sent is None else {"authorization": sent}
    answers = {_without_request_id(handler(te.function_url(m, p, **extra), None)) for m, p in PATHS}
    assert len(answers) == 1
    status, header, _ = answers.pop()
    assert status == 401
    assert "scope" not in (header or "")


@pytest.mark.parametrize(
    "names",
    [("a\x00b",), ("x\x7f",), ("ok", "b\u00e4d"), ('a"b',), ("a\\b",), ("ok", "x\u200ey")],
)
def test_a_scope_name_outside_rfc_6750_is_never_echoed(names: tuple[str, ...]) -> None:
    handler = guarded(
        Guard(verifier(), routes=Routes({"GET /s": scopes(*names)}), decision_log=None)
    )
    answer = handler(te.function_url("GET", "/s", token=token()), None)
    assert answer["statusCode"] == 403
    header = challenge(answer) or ""
    assert header == 'Bearer error="insufficient_scope", error_description="insufficient scope"'


def test_scope_names_with_commas_and_equals_stay_inside_the_quoted_value() -> None:
    handler = guarded(
        Guard(verifier(), routes=Routes({"GET /s": scopes("a,b=c", "d")}), decision_log=None)
    )
    header = challenge(handler(te.function_url("GET", "/s", token=token()), None)) or ""
    assert header.endswith(', scope="a,b=c d"')
    assert header.count('"') == 6


@pytest.mark.parametrize(
    "detail",
    [
        {"scopes": ["x\r\nSet-Cookie: a=b"]},
        {"scopes": ["ok", 'x", realm="evil']},
        {"scopes": "orders.read"},
        {"scopes": ["a b"]},
        {"scopes": [1]},
        {"scopes": ["\u2028"]},
    ],
)
def test_a_handlers_insufficient_scope_cannot_inject_a_header(detail: dict[str, Any]) -> None:
    def handler(event: Any, context: Any) -> dict[str, Any]:
        raise InsufficientScope(detail=detail)

    wrapped = Guard(verifier(), routes=ROUTES, decision_log=None)(handler)
    answer = wrapped(te.function_url("GET", "/orders", token=token()), None)
    assert answer["statusCode"] == 403
    for name, value in answer["headers"].items():
        assert all(" " <= ch <= "~" for ch in f"{name}{value}"), (name, value)
    assert (
        challenge(answer)
        == 'Bearer error="insufficient_scope", error_description="insufficient scope"'
    )


def test_a_negated_scope_never_asks_for_the_scope_it_forbids() -> None:
    handler = guarded(
        Guard(verifier(), routes=Routes({"GET /s": ~scopes("guest")}), decision_log=None)
    )
    answer = handler(te.function_url("GET", "/s", token=token(scope="guest")), None)
    assert answer["statusCode"] == 403
    assert "guest" not in (challenge(answer) or "")


def test_each_scope_an_any_of_names_would_allow() -> None:
    routes = Routes({"GET /s": scopes("a") | scopes("b")})
    handler = guarded(Guard(verifier(), routes=routes, decision_log=None))
    header = challenge(handler(te.function_url("GET", "/s", token=token()), None)) or ""
    named = header.split('scope="')[1].rstrip('"').split()
    assert named
    for name in named:
        assert (
            handler(te.function_url("GET", "/s", token=token(scope=name)), None)["statusCode"]
            == 200
        )


# fmt: off
def test_a_dpop_only_resource_challenges_a_bearer_token_with_dpop() -> None:
    handler = guarded(dpop_guard("dpop"))
    answer = handler(te.function_url("GET", "/orders", token=token()), None)
    assert answer["statusCode"] == 401
    header = challenge(answer) or ""
    assert header.startswith('DPoP error="invalid_token"')
    assert "algs=" in header
# fmt: on


# == 2. review 142: the fetches ===================================================================


@pytest.fixture
def serve() -> Iterator[Callable[[Script], Hostile]]:
    with hostile_servers() as start:
        yield start


def jwks_answer() -> bytes:
    return response(200, json.dumps(JWKS).encode(), "Content-Type: application/json")


def verify_with(mode: str, jwt: JwtVerifier, sent: str) -> Any:
    if mode == "sync":
        return jwt.verify(sent)
    return asyncio.run(jwt.verify_async(sent))


def refusal(mode: str, jwt: JwtVerifier, sent: str) -> SecAuthError:
    with pytest.raises(SecAuthError) as info:
        verify_with(mode, jwt, sent)
    return info.value


def wait_for(condition: Callable[[], bool], seconds: float = 8.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# -- TLS -------------------------------------------------------------------------------------------


class TlsServer:
    """A JWKS over TLS on 127.0.0.1 with a self-signed certificate; counts handshakes and
    requests answered."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.handshakes = 0
        self.answered = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}/jwks.json"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                self.handshakes += 1
                head = b""
                while b"\r\n\r\n" not in head:
                    data = tls.recv(4096)
                    if not data:
                        return
                    head += data
                tls.sendall(jwks_answer())
                self.answered += 1
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(2)


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(self_signed: tuple[Path, Path]) -> Iterator[TlsServer]:
    server = TlsServer(*self_signed)
    try:
        yield server
    finally:
        server.stop()


def test_the_tls_server_works_for_a_client_that_trusts_it(
    tls_server: TlsServer, self_signed: tuple[Path, Path]
) -> None:
    """The control: the refusals below are about the certificate, not a broken server."""
    context = ssl.create_default_context(cafile=str(self_signed[0]))
    with urllib.request.urlopen(tls_server.url, context=context, timeout=5) as answer:
        assert json.loads(answer.read()) == JWKS
    assert tls_server.answered == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_self_signed_certificate_is_refused(tls_server: TlsServer, mode: str) -> None:
    jwt = JwtVerifier(issuer=ISS, audience="api", jwks=JwksCache(tls_server.url, timeout=2.0))
    err = refusal(mode, jwt, token())
    assert isinstance(err, KeysUnavailable)
    assert err.detail["cause"]["kind"] == "tls"
    assert tls_server.answered == 0


def test_the_async_fetch_ignores_ssl_cert_file(
    tls_server: TlsServer, self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """trust_env=False: an environment variable cannot add a trust anchor to the async path."""
    monkeypatch.setenv("SSL_CERT_FILE", str(self_signed[0]))
    monkeypatch.setenv("SSL_CERT_DIR", str(self_signed[0].parent))
    jwt = JwtVerifier(issuer=ISS, audience="api", jwks=JwksCache(tls_server.url, timeout=2.0))
    assert isinstance(refusal("async", jwt, token()), KeysUnavailable)
    assert tls_server.answered == 0


# -- proxies, headers, redirects -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_no_proxy_is_taken_from_the_environment(
    serve: Callable[[Script], Hostile], monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    proxy = serve(
        answering(response(200, json.dumps(JWKS).encode(), "Content-Type: application/json"))
    )
    target = serve(answering(jwks_answer()))
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.setenv(name, proxy.base)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    jwt = JwtVerifier(
        issuer=ISS,
        audience="api",
        jwks=JwksCache(target.base + "/jwks.json", allow_http=True, timeout=2.0),
    )
    assert verify_with(mode, jwt, token())["sub"] == "ann"
    assert (proxy.connections, target.connections) == (0, 1)


def test_the_async_fetch_asks_for_identity_and_sends_its_host(
    serve: Callable[[Script], Hostile],
) -> None:
    server = serve(answering(jwks_answer()))
    jwt = JwtVerifier(
        issuer=ISS,
        audience="api",
        jwks=JwksCache(server.base + "/jwks.json", allow_http=True, timeout=2.0),
    )
    verify_with("async", jwt, token())
    head = server.heads[0].decode("latin-1").lower()
    assert "\r\naccept-encoding: identity\r\n" in head
    assert "gzip" not in head
    assert "br" not in head.split("accept-encoding:")[1].split("\r\n")[0]
    assert f"\r\nhost: 127.0.0.1:{server.port}\r\n" in head
    assert "proxy" not in head
    assert "cookie" not in head


def test_the_async_transport_follows_no_redirect_off_the_origin(
    serve: Callable[[Script], Hostile],
) -> None:
    elsewhere = serve(answering(jwks_answer()))
    server = serve(answering(response(302, b"", f"Location: {elsewhere.base}/jwks.json")))
    jwt = JwtVerifier(
        issuer=ISS,
        audience="api",
        jwks=JwksCache(server.base + "/jwks.json", allow_http=True, timeout=2.0),
    )
    assert isinstance(refusal("async", jwt, token()), KeysUnavailable)
    assert elsewhere.connections == 0


# -- connections: one per fetch, always closed ---------------------------------------------------


def closing_watch(first: bytes, closed: list[bool], trickle: bool) -> Script:
    """Write ``first``, then (trickling one byte per 100 ms when ``trickle``) note in ``closed``
    when the client closes its end."""

    def script(conn: socket.socket, head: bytes) -> None:
        conn.sendall(first)
        conn.settimeout(0.1)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                if conn.recv(1) == b"":
                    closed.append(True)
                    return
            except TimeoutError:
                pass
            except OSError:
                closed.append(True)
                return
            if trickle:
                try:
                    conn.sendall(b" ")
                except OSError:
                    closed.append(True)
                    return

    return script


def test_each_async_fetch_has_its_own_connection_and_closes_it(
    serve: Callable[[Script], Hostile],
) -> None:
    closed: list[bool] = []
    server = serve(closing_watch(jwks_answer(), closed, trickle=False))  # keep-alive answer
    for _ in range(2):
        cache = JwksCache(server.base + "/jwks.json", allow_http=True, timeout=2.0)
        assert verify_with("async", JwtVerifier(issuer=ISS, audience="api", jwks=cache), token())
    assert server.connections == 2
    assert wait_for(lambda: len(closed) == 2)


def test_an_async_fetch_refused_for_its_status_closes_its_connection(
    serve: Callable[[Script], Hostile],
) -> None:
    closed: list[bool] = []
    server = serve(closing_watch(response(500, b"{}" * 10), closed, trickle=False))
    cache = JwksCache(server.base + "/jwks.json", allow_http=True, timeout=2.0)
    assert isinstance(
        refusal("async", JwtVerifier(issuer=ISS, audience="api", jwks=cache), token()),
        KeysUnavailable,
    )
    assert wait_for(lambda: closed == [True])


def test_a_cancelled_async_verification_leaves_no_connection_open(
    serve: Callable[[Script], Hostile],
) -> None:
    closed: list[bool] = []
    first = response(200, b"", "Content-Length: 5000", "Content-Type: application/json") + b"{"
    server = serve(closing_watch(first, closed, trickle=True))
    cache = JwksCache(server.base + "/jwks.json", allow_http=True, timeout=1.0)
    jwt = JwtVerifier(issuer=ISS, audience="api", jwks=cache)

    async def run() -> None:
        task = asyncio.ensure_future(jwt.verify_async(token()))
        await asyncio.sleep(0.3)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, SecAuthError):
            await task
        await asyncio.sleep(1.5)  # a shielded fetch meets its own deadline meanwhile

    asyncio.run(run())
    assert server.connections == 1
    assert wait_for(lambda: closed == [True])


# -- the introspection rest ----------------------------------------------------------------------


class IdpServer:
    """An OIDC discovery document (GET) and an RFC 7662 endpoint (POST) on loopback; the test
    sets each one's status and counts their requests."""

    def __init__(self) -> None:
        self.discovery_status = 200
        self.endpoint_status = 200
        self.discoveries = 0
        self.introspections = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, document: dict[str, Any]) -> None:
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                outer.discoveries += 1
                document = {
                    "issuer": outer.issuer,
                    "introspection_endpoint": outer.issuer + "/introspect",
                }
                self._send(outer.discovery_status, document)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.introspections += 1
                self._send(
                    outer.endpoint_status,
                    {
                        "active": True,
                        "iss": outer.issuer,
                        "sub": "ann",
                        "exp": FAR,
                        "token_type": "Bearer",
                    },
                )

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def idp() -> Iterator[IdpServer]:
    server = IdpServer()
    try:
        yield server
    finally:
        server.stop()


def introspect(mode: str, verifier_: IntrospectionVerifier, sent: str) -> str:
    try:
        if mode == "sync":
            verifier_.verify(sent)
        else:
            asyncio.run(verifier_.verify_async(sent))
    except KeysUnavailable:
        return "503"
    return "ok"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_failed_discovery_rests_exactly_retry_after(idp: IdpServer, mode: str) -> None:
    clock = Clock(1000.0)
    introspection = IntrospectionVerifier(
        issuer=idp.issuer, audience=None, client=ClientAuth.basic("api", "s3cret-value"),
        allow_http=True, timeout=2.0, retry_after=10.0, require_exp=False, clock=clock,
    )  # fmt: skip
    idp.discovery_status = 500
    assert introspect(mode, introspection, "tok-1") == "503"
    idp.discovery_status = 200
    clock.now += 9.99
    assert introspect(mode, introspection, "tok-2") == "503"
    assert (idp.discoveries, idp.introspections) == (1, 0)
    clock.now += 0.01  # retry_after since the failed discovery began: asked again
    assert introspect(mode, introspection, "tok-3") == "ok"
    assert (idp.discoveries, idp.introspections) == (2, 1)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_endpoint_failure_rests_once_and_never_rediscovers(idp: IdpServer, mode: str) -> None:
    clock = Clock(1000.0)
    introspection = IntrospectionVerifier(
        issuer=idp.issuer, audience=None, client=ClientAuth.basic("api", "s3cret-value"),
        allow_http=True, timeout=2.0, retry_after=10.0, require_exp=False, clock=clock,
    )  # fmt: skip
    assert introspect(mode, introspection, "tok-1") == "ok"
    idp.endpoint_status = 500
    assert introspect(mode, introspection, "tok-2") == "503"
    idp.endpoint_status = 200
    idp.discovery_status = 500  # discovery broken now: never asked again, the endpoint is known
    clock.now += 5
    assert introspect(mode, introspection, "tok-3") == "503"
    clock.now += 5
    assert introspect(mode, introspection, "tok-4") == "ok"
    assert (idp.discoveries, idp.introspections) == (1, 3)
    assert introspect(mode, introspection, "tok-1") == "ok"  # cached, still good


# == 3. the refactors ==============================================================================


def fresh(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


@pytest.mark.parametrize(
    "first",
    [
        "import secauth.principal",
        "import secauth.claim_mapping",
        "import secauth",
        "from secauth.principal import *",
        "from secauth.principal import ClaimMapper",
        "import secauth.events",
        "import secauth.event_kinds",
        "from secauth.events import *",
    ],
)
def test_every_import_path_gives_the_same_objects_in_a_fresh_interpreter(first: str) -> None:
    code = f"""{first}
import secauth, secauth.principal as p, secauth.claim_mapping as c, secauth.events as e
import secauth.event_kinds as k
from secauth.principal import ClaimMapper, ClaimPath
from secauth.events import EventKind, detect_kind
same = [ClaimMapper is c.ClaimMapper is p.ClaimMapper is secauth.ClaimMapper,
        ClaimPath is c.ClaimPath is p.ClaimPath, EventKind is k.EventKind is e.EventKind,
        detect_kind is k.detect_kind is e.detect_kind,
        isinstance(p.ClaimMapper.cognito(), c.ClaimMapper)]
print(all(same))
"""
    assert fresh(code) == "True"


def test_star_imports_hold_the_moved_names() -> None:
    code = """from secauth.principal import *
from secauth.events import *
import secauth.claim_mapping as c, secauth.event_kinds as k
print(ClaimMapper is c.ClaimMapper, EventKind is k.EventKind, detect_kind is k.detect_kind)
"""
    assert fresh(code) == "True True True"


def test_redefined_is_not_fooled_by_the_import_path() -> None:
    import secauth
    import secauth.claim_mapping as new
    import secauth.principal as old
    from secauth.overrides import redefined

    class ViaOld(old.ClaimMapper):
        def map(self, claims: Any) -> Principal:
            return super().map(claims)

    for base in (old.ClaimMapper, new.ClaimMapper, secauth.ClaimMapper):
        assert redefined(new.ClaimMapper(), base) == []
        assert redefined(old.ClaimMapper.keycloak(), base) == []
        assert redefined(ViaOld(), base) == ["map"]


def test_a_pickle_naming_the_old_module_still_loads() -> None:
    from secauth.claim_mapping import ClaimMapper
    from secauth.events import EventKind

    mapper = ClaimMapper.cognito(tenant_claim="custom:tenant", role_hierarchy={"admin": ["user"]})
    data = pickle.dumps(mapper, protocol=2).replace(b"secauth.claim_mapping", b"secauth.principal")
    assert b"secauth.principal" in data
    loaded = pickle.loads(data)
    assert type(loaded) is ClaimMapper
    claims = {"sub": "u", "custom:tenant": "t", "cognito:groups": ["admin"]}
    assert loaded.map(claims) == mapper.map(claims)
    assert sorted(loaded.map(claims).roles) == ["admin", "user"]
    assert pickle.loads(pickle.dumps(EventKind.HTTP_V2)) is EventKind.HTTP_V2


def test_principal_replace_owns_its_nested_claims() -> None:
    ann = Principal("ann", roles={"member"}, claims={"org": {"teams": ["a"]}, "list": [{"x": 1}]})
    copy_ = ann.replace(roles={"member", "reader"})
    copy_.claims["org"]["teams"].append("b")
    copy_.claims["list"][0]["x"] = 2
    assert ann.claims["org"] == {"teams": ["a"]}
    assert ann.claims["list"] == [{"x": 1}]
    with pytest.raises(TypeError):
        copy_.claims["new"] = 1  # type: ignore[index]
    given = {"k": [1]}
    assert ann.replace(claims=given).claims == {"k": [1]}


# == 4. review 140: wrappers whose members change after construction ===============================


def memo_outcomes(authorizer: Authorizer, event: dict[str, Any]) -> list[str]:
    return [authorizer_outcome(authorizer, event) for _ in range(3)]


def test_an_issuer_cannot_be_removed_from_a_multi_issuer_verifier_after_construction() -> None:
    """Fixed: ``verifiers`` is read-only, so the revalidators bound at construction (what the
    memo trusts) are always the members that verify; a changed trust is a new verifier."""
    multi = MultiIssuerVerifier([verifier(ISS), verifier(ISS2)])
    authorizer = Authorizer(multi, routes=ROUTES, decision_log=None)
    event = te.token_authorizer("GET", "/orders", token=token())
    assert memo_outcomes(authorizer, event) == ["allow"] * 3
    with pytest.raises(TypeError):
        del multi.verifiers[ISS]  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        multi.verifiers[ISS] = verifier(ISS, audience="another-api")  # type: ignore[index]
    with pytest.raises(TypeError):
        multi.verifiers[ISS2 + "x"] = verifier(ISS2)  # type: ignore[index]
    stricter = Authorizer(MultiIssuerVerifier([verifier(ISS2)]), routes=ROUTES, decision_log=None)
    assert authorizer_outcome(stricter, event) == "401"


def test_a_combined_verifiers_sides_cannot_be_replaced_after_construction() -> None:
    """Fixed: ``jwt`` and ``introspection`` are read-only properties."""
    introspection = IntrospectionVerifier(
        issuer=ISS, audience="api", client=ClientAuth.basic("api", "s3cret-value"),
        endpoint="http://127.0.0.1:9/introspect", allow_http=True,
    )  # fmt: skip
    combined = CombinedVerifier(jwt=verifier(ISS), introspection=introspection)
    authorizer = Authorizer(combined, routes=ROUTES, decision_log=None)
    event = te.token_authorizer("GET", "/orders", token=token())
    assert memo_outcomes(authorizer, event) == ["allow"] * 3
    with pytest.raises(AttributeError):
        combined.jwt = verifier(ISS, audience="another-api")  # type: ignore[misc]
    with pytest.raises(AttributeError):
        combined.introspection = introspection  # type: ignore[misc]


def test_a_guard_over_a_mutated_multi_issuer_verifier_verifies_every_call() -> None:
    multi = MultiIssuerVerifier([verifier(ISS), verifier(ISS2)])
    handler = guarded(Guard(multi, routes=ROUTES, decision_log=None))
    event = te.function_url("GET", "/orders", token=token())
    assert [handler(event, None)["statusCode"] for _ in range(3)] == [200] * 3
    with pytest.raises(TypeError):  # since review 143's fix: read-only
        del multi.verifiers[ISS]  # type: ignore[attr-defined]
    assert handler(event, None)["statusCode"] == 200
