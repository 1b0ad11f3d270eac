"""Review 6: attacks on review 5's fixes (e7838a2..HEAD).

Each test asserts the secure behaviour. A test marked ``# FINDING`` failed against the
fixes as first written (each gap is closed, noted in the CHANGELOG's review 5 entries);
the others are attacks the fixes resisted, kept as regression tests. Everything runs in process or against
real servers on 127.0.0.1 (plain TCP, HTTP and TLS sockets; no network).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from guard_events import AUD, ISS, PAIR, VERIFIER, function_url, http_v2, rest_v1, token
from hand_clock import Clock

from secauth import (
    Authorizer,
    Guard,
    Principal,
    RateLimiter,
    Routes,
    _fetch,
    authenticated,
    current_principal,
    public,
    roles,
)
from secauth._fetch import FetchError, fetch_policy, post_form
from secauth._fetch_deadline import FetchDeadline
from secauth.alb import AlbVerifier
from secauth.api_keys import ApiKeyEntry, StaticApiKeys, hash_api_key
from secauth.client_auth import ClientAuth
from secauth.client_certs import ClientCertEntry, ClientCertificates
from secauth.errors import ConfigurationError, KeysUnavailable, UnknownKey
from secauth.integrations.powertools import guard_middleware
from secauth.introspection import IntrospectionVerifier
from secauth.jwks import JwksCache
from secauth.memo import ResponseMemo
from secauth.policy import Unauthorized
from secauth.principal import ClaimMapper
from secauth.ratelimit.keys import by_principal, principal_key
from secauth.sender_constraint import SenderConstraint, certificate_thumbprint
from secauth.testing_alb import LocalAlb
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    request_authorizer,
    websocket_message,
)
from secauth.token_sources import TokenSource
from secauth.verifier import JwtVerifier

# -- shared material -------------------------------------------------------------------------

KEY_A = "pk-review6-" + "a" * 24
KEY_B = "pk-review6-" + "b" * 24
KEY_LIMITED = "pk-review6-" + "c" * 24
KEY_ROUTES = Routes({"GET /orders": authenticated(), "DELETE /orders": roles("admin")})
CLAIMS = ClaimMapper(tenant_claim="tenant")
SECURITY_HEADER = "Strict-Transport-Security"


def deadline_timers() -> set[FetchDeadline]:
    """The FetchDeadline objects whose timer thread is alive now."""
    found: set[FetchDeadline] = set()
    for thread in threading.enumerate():
        owner = getattr(getattr(thread, "function", None), "__self__", None)
        if isinstance(thread, threading.Timer) and isinstance(owner, FetchDeadline):
            found.add(owner)
    return found


def settle_timers(before: set[FetchDeadline], wait: float = 0.5) -> set[FetchDeadline]:
    """The deadlines started since ``before`` whose timers are still alive after ``wait``."""
    end = time.monotonic() + wait
    while time.monotonic() < end:
        left = deadline_timers() - before
        if not left:
            return left
        time.sleep(0.05)
    return deadline_timers() - before


# -- loopback servers ------------------------------------------------------------------------


class OneShotServer:
    """A TCP server on 127.0.0.1 answering each connection with ``script(conn, n)``."""

    def __init__(self, script: Callable[[socket.socket, int], None], connections: int = 1) -> None:
        self.script, self.connections = script, connections
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, path: str = "/jwks.json") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        for n in range(self.connections):
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                self.script(conn, n)

    def trickle(self, conn: socket.socket, data: bytes, gap: float = 0.05) -> None:
        for byte in data:
            if self.stop.wait(gap):
                return
            conn.sendall(bytes([byte]))

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(5)


JWKS_BODY = b'{"keys": []}' + b" " * 60


def jwks_head(body: bytes = JWKS_BODY) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(
        body
    )


def trickle_jwks_over_tls(conn: socket.socket, server_ctx: ssl.SSLContext, stop: Any) -> None:
    """Answer one JWKS request over TLS, the body one byte every 50 ms until ``stop``."""
    with contextlib.suppress(OSError), server_ctx.wrap_socket(conn, server_side=True) as tls:
        tls.recv(65536)
        tls.sendall(jwks_head())
        for byte in JWKS_BODY:
            if stop.wait(0.05):
                return
            tls.sendall(bytes([byte]))


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def timed_jwks_failure(url: str, timeout: float) -> tuple[KeysUnavailable, float]:
    cache = JwksCache(url, allow_http=url.startswith("http:"), timeout=timeout)
    started = time.monotonic()
    with pytest.raises(KeysUnavailable) as caught:
        cache.keys_for("key-1")
    return caught.value, time.monotonic() - started


@pytest.fixture(scope="module")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting it) for a certificate naming 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "review6 loopback")])
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
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder: Path = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


def _pump(source: socket.socket, sink: socket.socket, hold_until: float = 0.0) -> None:
    """Copy ``source`` to ``sink``; what arrives before ``hold_until`` is held until then."""
    held = b""
    while True:
        wait = hold_until - time.monotonic()
        source.settimeout(wait if wait > 0 else None)
        try:
            data = source.recv(65536)
        except TimeoutError:
            data = b""
            if held:
                with contextlib.suppress(OSError):
                    sink.sendall(held)
                held = b""
            continue
        except OSError:
            break
        if not data:
            break
        if time.monotonic() < hold_until:
            held += data
            continue
        try:
            sink.sendall(held + data)
        except OSError:
            break
        held = b""
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


# -- 9. the sync fetch deadline ---------------------------------------------------------------


# FINDING: a TLS handshake in progress at the deadline disarms it: the fetch then runs unbounded
def test_a_deadline_that_passes_during_the_tls_handshake_still_ends_the_fetch(
    tls_material: tuple[ssl.SSLContext, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The TCP connect takes ~1 s (the listener's queue is full, so the first SYN is
    dropped and retransmitted: a slow network does the same), the server completes its
    TLS handshake just after the 1.5 s deadline (the handshake has a fresh socket
    timeout of its own), then trickles its answer. The timer fired while http.client was
    inside wrap_socket: conn.sock was the detached plain socket, shutdown() failed with
    EBADF (suppressed) and the timer never re-armed, so nothing bounds the rest."""
    server_ctx, client_ctx = tls_material
    monkeypatch.setattr(_fetch, "_SSL_CONTEXT", client_ctx)
    timeout = 1.5
    backend = socket.create_server(("127.0.0.1", 0))
    front = socket.socket()
    front.bind(("127.0.0.1", 0))
    front.listen(0)
    port = front.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))  # the accept queue is now full
    stop = threading.Event()
    connected_at: list[float] = []
    started = time.monotonic()

    def backend_serve() -> None:
        conn, _ = backend.accept()
        trickle_jwks_over_tls(conn, server_ctx, stop)

    def front_serve() -> None:
        time.sleep(0.3)
        first, _ = front.accept()  # the filler: the client's SYN retransmit now fits
        first.close()
        client, _ = front.accept()
        connected_at.append(time.monotonic() - started)
        upstream = socket.create_connection(backend.getsockname())
        threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
        hold = started + timeout + 0.3  # the handshake completes just after the deadline
        threading.Thread(target=_pump, args=(upstream, client, hold), daemon=True).start()

    threading.Thread(target=backend_serve, daemon=True).start()
    threading.Thread(target=front_serve, daemon=True).start()
    try:
        cache = JwksCache(f"https://127.0.0.1:{port}/jwks.json", timeout=timeout)
        with pytest.raises(KeysUnavailable):
            cache.keys_for("key-1")
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        for sock in (filler, front, backend):
            sock.close()
    if not connected_at or connected_at[0] < 0.7:
        pytest.skip("this kernel did not delay the connect (SYN not dropped)")
    assert elapsed < timeout + 0.8, f"timeout={timeout} s, the fetch took {elapsed:.2f} s"


# FINDING: _post builds its connection outside try/finally: a failure leaks a timer that re-arms forever
def test_a_post_that_fails_to_start_leaves_no_timer_behind() -> None:
    """A URL http.client cannot use (a port out of range) raised in _connection(), before
    the try whose finally cancels the deadline: the timer fired, found no socket, and
    re-armed every 20 ms for the life of the process. Such an endpoint is refused when
    the verifier is built now; the fetch itself must not leak a timer either."""
    with pytest.raises(ConfigurationError, match="port outside"):
        IntrospectionVerifier(
            issuer="https://idp.example.com/", audience="api",
            endpoint="https://127.0.0.1:99999/introspect",
            client=ClientAuth.basic("client", "client-secret-review6"),
        )  # fmt: skip
    before = deadline_timers()
    policy = _fetch.fetch_policy(timeout=0.1)
    for _ in range(3):
        with pytest.raises(_fetch.FetchError):  # the out-of-range port, as a fetch failure
            _fetch.post_form("https://127.0.0.1:99999/introspect", {"token": "t"}, policy)
    leaked = settle_timers(before, wait=0.6)
    for deadline in leaked:  # do not leave spinning threads to the rest of the session
        deadline.cancel()
    assert not leaked, f"{len(leaked)} deadline timers still re-arming"


def test_an_https_body_that_trickles_is_cut_at_the_deadline(
    tls_material: tuple[ssl.SSLContext, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    server_ctx, client_ctx = tls_material
    monkeypatch.setattr(_fetch, "_SSL_CONTEXT", client_ctx)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        trickle_jwks_over_tls(conn, server_ctx, stop)

    threading.Thread(target=serve, daemon=True).start()
    try:
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/jwks.json"
        err, elapsed = timed_jwks_failure(url, 0.4)
    finally:
        stop.set()
        listener.close()
    assert err.detail["cause"]["kind"] == "timeout"
    assert elapsed < 1.2, elapsed


def test_a_redirect_hop_gets_no_fresh_deadline() -> None:
    """The first hop spends most of the budget trickling its redirect; the second hop
    trickles too: the total, not each hop, is bounded."""

    def script(conn: socket.socket, n: int) -> None:
        read_request(conn)
        if n == 0:
            server.trickle(conn, b"HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n",
                           gap=0.008)  # fmt: skip
        else:
            server.trickle(conn, jwks_head() + JWKS_BODY)

    server = OneShotServer(script, connections=2)
    try:
        err, elapsed = timed_jwks_failure(server.url(), 0.7)
    finally:
        server.close()
    assert err.detail["cause"]["kind"] == "timeout"
    assert elapsed < 1.4, elapsed


def test_a_server_looping_100_continue_is_cut_at_the_deadline() -> None:
    def script(conn: socket.socket, n: int) -> None:
        read_request(conn)
        while not server.stop.wait(0.01):
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

    server = OneShotServer(script)
    try:
        err, elapsed = timed_jwks_failure(server.url(), 0.4)
    finally:
        server.close()
    assert err.detail["cause"]["kind"] == "timeout"
    assert elapsed < 1.2, elapsed


def test_a_completed_fetch_leaves_no_timer_and_no_late_shutdown() -> None:
    """A fetch that ends before its deadline cancels the timer: the thread ends, and a
    later fetch on a connection the OS may reuse is never shut by an old timer."""

    def script(conn: socket.socket, n: int) -> None:
        read_request(conn)
        conn.sendall(jwks_head() + JWKS_BODY)

    server = OneShotServer(script, connections=2)
    before = deadline_timers()
    try:
        result = _fetch.fetch_json(server.url(), fetch_policy(timeout=0.3, allow_http=True))
        assert result.document == {"keys": []}
        assert not settle_timers(before, wait=0.6)
        time.sleep(0.1)  # past the first fetch's deadline
        again = _fetch.fetch_json(server.url(), fetch_policy(timeout=2.0, allow_http=True))
        assert again.document == {"keys": []}
    finally:
        server.close()


def test_an_introspection_post_that_trickles_is_cut_at_the_deadline() -> None:
    def script(conn: socket.socket, n: int) -> None:
        read_request(conn)
        server.trickle(conn, jwks_head(b'{"active": true}' + b" " * 60) + b'{"active": true}')

    server = OneShotServer(script)
    started = time.monotonic()
    try:
        with pytest.raises(FetchError) as caught:
            post_form(server.url("/introspect"), {"token": "t"},
                      fetch_policy(timeout=0.4, allow_http=True))  # fmt: skip
    finally:
        server.close()
    assert caught.value.cause.kind == "timeout"
    assert time.monotonic() - started < 1.2


# -- 2. Powertools route guards ---------------------------------------------------------------


# FINDING: a route guard's sender_constraint is skipped when it shares verifier and claims
def test_a_route_guard_that_requires_bound_tokens_is_not_satisfied_by_a_bearer_token() -> None:
    """The route guard requires mTLS-bound tokens (stolen bearer tokens must not work on
    this route). _route_checks re-identifies only when the verifier, claim mapper or
    trust setting differ, so with the same verifier and ClaimMapper object it takes the
    global guard's principal on trust and never calls check_binding with its own
    SenderConstraint: a plain bearer token passes. The same guard alone refuses it."""
    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(Guard(VERIFIER, claims=CLAIMS, decision_log=None))])
    bound_only = Guard(VERIFIER, claims=CLAIMS, decision_log=None,
                       sender_constraint=SenderConstraint(require="mtls"))  # fmt: skip

    @app.get("/admin/keys", middlewares=[guard_middleware(bound_only)])
    def keys() -> dict[str, Any]:
        return {"by": current_principal().id}

    event = rest_v1("GET", "/admin/keys", authorization=f"Bearer {token('alice', tenant='acme')}")
    alone = APIGatewayRestResolver()

    @alone.get("/admin/keys", middlewares=[guard_middleware(bound_only)])
    def keys_alone() -> dict[str, Any]:
        return {"by": current_principal().id}

    assert alone.resolve(event, None)["statusCode"] == 401  # the route guard's own rule
    assert app.resolve(event, None)["statusCode"] == 401


# FINDING: the one decision record names the anonymous global caller, not the caller the route ran as
def test_the_decision_record_names_the_caller_the_route_ran_as() -> None:
    """Global guard: public route, no credential it reads, so anonymous. Route guard
    (another verifier, a session cookie): identifies alice, an admin, and the route now
    runs as alice (the fix). The request's only decision record (the global guard's)
    still says principal "anonymous": an admin DELETE is logged as anonymous."""
    records: list[dict[str, Any]] = []
    site = Routes({"DELETE /orders/{id}": public()})
    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(
        Guard(VERIFIER, routes=site, decision_log=None, on_decision=records.append))])  # fmt: skip
    session_verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
    admin_guard = Guard(session_verifier, decision_log=None,
                        token_sources=[TokenSource.cookie("session")]).require(roles("admin"))  # fmt: skip

    @app.delete("/orders/<order_id>", middlewares=[guard_middleware(admin_guard)])
    def delete_order(order_id: str) -> dict[str, Any]:
        return {"deleted": order_id, "by": current_principal().id}

    session = token("alice", roles=["admin"])
    event = rest_v1("DELETE", "/orders/7", resource="/orders/{id}",
                    headers={"Cookie": f"session={session}",
                             "Sec-Fetch-Site": "same-origin"})  # fmt: skip
    answer = app.resolve(event, None)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["by"] == "alice"
    assert records[-1]["principal"] == "alice", records[-1]


def test_an_anonymous_global_caller_does_not_let_a_route_guard_run_without_its_own_caller() -> None:
    site = Routes({"DELETE /orders/{id}": public()})
    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(Guard(VERIFIER, routes=site, decision_log=None))])
    other = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
    admin_guard = Guard(other, decision_log=None).require(roles("admin"))

    @app.delete("/orders/<order_id>", middlewares=[guard_middleware(admin_guard)])
    def delete_order(order_id: str) -> dict[str, Any]:
        return {"by": current_principal().id}

    anonymous = rest_v1("DELETE", "/orders/7", resource="/orders/{id}")
    assert app.resolve(anonymous, None)["statusCode"] == 401
    reader = rest_v1("DELETE", "/orders/7", resource="/orders/{id}",
                     authorization=f"Bearer {token('bob', roles=['reader'])}")  # fmt: skip
    assert app.resolve(reader, None)["statusCode"] == 403


def test_resolve_async_runs_the_route_as_the_route_guards_caller_and_refuses_a_mismatch() -> None:
    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(Guard(decision_log=None))])  # trusts the context
    route_guard = Guard(VERIFIER, claims=CLAIMS, decision_log=None).require(roles("admin"))

    @app.delete("/orders/<order_id>", middlewares=[guard_middleware(route_guard)])
    async def delete_order(order_id: str) -> dict[str, Any]:
        await asyncio.sleep(0)
        caller = current_principal()
        return {"by": caller.id, "tenant": caller.tenant, "roles": sorted(caller.roles)}

    admin_token = token("alice", tenant="acme", roles=["admin"])

    def call(context_principal: Principal) -> dict[str, Any]:
        event = rest_v1("DELETE", "/orders/7", resource="/orders/{order_id}",
                        authorization=f"Bearer {admin_token}",
                        authorizer={"principalId": context_principal.id,
                                    **context_principal.to_context()})  # fmt: skip
        return asyncio.run(app.resolve_async(event, None))

    same = call(Principal("alice", tenant="acme"))
    assert same["statusCode"] == 200
    assert json.loads(same["body"]) == {"by": "alice", "tenant": "acme", "roles": ["admin"]}
    assert call(Principal("alice", tenant="victim"))["statusCode"] == 401
    assert call(Principal("mallory", tenant="acme"))["statusCode"] == 401


# -- 1, 3, 4. the authorizer ------------------------------------------------------------------


class DynamicKeys:
    """An ApiKeyStore whose entries are not known in advance (DynamoDBApiKeys and
    SecretsManagerApiKeys are such stores): only ``lookup``."""

    def lookup(self, key: str) -> ApiKeyEntry | None:
        if key == KEY_LIMITED:
            return ApiKeyEntry("partner-c", roles=("reader",), rate_limit="1/minute")
        return None


# FINDING: a per-key limit under cache_ttl>0 is only refused on allowed routes; a denied one caches an Allow
def test_a_rate_limited_key_under_a_cached_authorizer_gets_no_cacheable_allow_on_any_route() -> (
    None
):
    """authorizer_limits.apply refuses the key (ConfigurationError) only when the route
    asked is allowed. Ask for a route the key may not call (or one the table lacks): the
    denial's policy, which API Gateway caches for cache_ttl under the key, allows every
    route the key may call: GET /orders, unlimited for 300 s."""
    authorizer = Authorizer(api_keys=DynamicKeys(), routes=KEY_ROUTES, cache_ttl=300,
                            decision_log=None, api="rest")  # fmt: skip
    with pytest.raises(Unauthorized):  # the fix: an allowed route is refused outright
        authorizer.handler(request_authorizer("GET", "/orders", headers={"x-api-key": KEY_LIMITED}))
    for method, path in (("DELETE", "/orders"), ("GET", "/not-a-route")):
        event = request_authorizer(method, path, headers={"x-api-key": KEY_LIMITED})
        try:
            response = authorizer.handler(event)
        except Unauthorized:
            continue
        allowed = [s["Resource"] for s in response["policyDocument"]["Statement"]
                   if s["Effect"] == "Allow"]  # fmt: skip
        assert not allowed, (method, path, allowed)


def test_client_certificates_under_any_cached_ttl_need_the_covering_flag() -> None:
    certs = ClientCertificates({"CN=device-1": ClientCertEntry("device-1")})
    for ttl in (1, 300, 3600):
        with pytest.raises(ConfigurationError):
            Authorizer(client_certs=certs, routes=KEY_ROUTES, cache_ttl=ttl, decision_log=None,
                       api="rest")  # fmt: skip
    Authorizer(client_certs=certs, routes=KEY_ROUTES, cache_ttl=300, decision_log=None,
               api="rest", cache_key_covers_request=True)  # fmt: skip
    Authorizer(client_certs=certs, routes=KEY_ROUTES, cache_ttl=0, decision_log=None, api="rest")


def key_authorizer(records: list[dict[str, Any]], api: str = "rest") -> Authorizer:
    keys = StaticApiKeys({hash_api_key(KEY_A): ApiKeyEntry("partner-a", roles=("reader",)),
                          hash_api_key(KEY_B): ApiKeyEntry("partner-b", roles=("reader",))})  # fmt: skip
    return Authorizer(VERIFIER, routes=KEY_ROUTES, api_keys=keys, api=api, decision_log=None,
                      on_decision=records.append)  # fmt: skip


def assert_refused_as_ambiguous(authorizer: Authorizer, event: dict[str, Any],
                                records: list[dict[str, Any]]) -> None:  # fmt: skip
    try:
        answer = authorizer.handler(event)
    except Unauthorized:  # REST: 401
        answer = None
    if answer is not None:  # HTTP APIs may answer with a refusal instead
        assert answer.get("isAuthorized") is not True
        assert '"Allow"' not in json.dumps(answer)
    assert records[-1]["reason"] == "ambiguous_credentials", records[-1]


@pytest.mark.parametrize(
    "multi",
    [
        {"X-Api-Key": [KEY_B], "x-api-key": [KEY_A]},  # two spellings of the name
        {"X-API-KEY": [KEY_A], "x-api-key": [KEY_A]},  # the same key twice, two spellings
        {"x-api-key": [KEY_A, ""]},  # an empty second copy
        {"x-api-key": [KEY_A, " \t"]},  # a blank second copy
    ],
)
def test_an_api_key_given_twice_in_any_spelling_is_ambiguous(multi: dict[str, list[str]]) -> None:
    records: list[dict[str, Any]] = []
    event = request_authorizer("GET", "/orders")
    event["multiValueHeaders"] = {**(event.get("multiValueHeaders") or {}), **multi}
    event["headers"] = {**(event.get("headers") or {}), "x-api-key": KEY_A}
    assert_refused_as_ambiguous(key_authorizer(records), event, records)


def test_an_api_key_in_two_spellings_of_a_single_value_map_is_ambiguous() -> None:
    records: list[dict[str, Any]] = []
    event = request_authorizer("GET", "/orders")
    event.pop("multiValueHeaders", None)
    event["headers"] = {"X-Api-Key": KEY_B, "x-api-key": KEY_A}
    assert_refused_as_ambiguous(key_authorizer(records), event, records)


def test_an_api_key_twice_on_an_http_api_payload_1_event_is_ambiguous() -> None:
    records: list[dict[str, Any]] = []
    event = http_authorizer_v1("GET", "/orders", headers={"x-api-key": [KEY_B, KEY_A]})
    assert_refused_as_ambiguous(key_authorizer(records, api="http"), event, records)


def test_an_api_key_twice_on_an_http_api_payload_2_event_is_never_allowed() -> None:
    """HTTP APIs join repeats with a comma: one value, no key has that spelling."""
    records: list[dict[str, Any]] = []
    event = http_authorizer_v2("GET", "/orders", headers={"x-api-key": [KEY_A, KEY_B]})
    authorizer = key_authorizer(records, api="http")
    try:
        answer = authorizer.handler(event)
    except Unauthorized:
        return
    assert answer.get("isAuthorized") is not True
    assert "Allow" not in json.dumps(answer)


# -- 5. principal keys ------------------------------------------------------------------------


def test_principal_keys_never_collide_across_kinds_tenants_and_ids() -> None:
    people = [
        Principal("alice"),
        Principal("alice", tenant=""),
        Principal("alice", tenant="acme"),
        Principal("alice", tenant="globex"),
        Principal("alice", tenant="acme", kind="api_key"),
        Principal("acme:alice"),
        Principal("acme", tenant="alice"),
        Principal("a:b", tenant="c"),
        Principal("b", tenant="a:c"),
        Principal("x', 'y", tenant="t"),
        Principal("y", tenant="t', 'x"),
        Principal("x", tenant="t', 'y"),
        Principal('q"', tenant="'"),
        Principal("'", tenant='q"'),
        Principal("\ud800", tenant="acme"),
        Principal("\udc00", tenant="acme"),
        Principal("user:alice", tenant=None, kind=""),
        Principal("alice", tenant="acme", kind="user:"),
        Principal("~", tenant="~"),
        Principal("é", tenant="acme"),
        Principal("e\u0301", tenant="acme"),
    ]
    keys = [principal_key(p) for p in people]
    assert len(set(keys)) == len(people), [(p, k) for p, k in zip(people, keys, strict=True)]
    assert principal_key(Principal("alice")) == "user:alice"  # unchanged without a tenant


def test_one_id_in_two_tenants_has_two_per_principal_buckets() -> None:
    limiter = RateLimiter.per_principal("1/minute")
    request = http_v2()
    from secauth.events import Request

    view = Request.from_event(request)
    acme, globex = Principal("alice", tenant="acme"), Principal("alice", tenant="globex")
    assert by_principal(view, acme) != by_principal(view, globex)
    assert limiter.hit(view, acme).allowed
    assert not limiter.hit(view, acme).allowed
    assert limiter.hit(view, globex).allowed  # another tenant's alice is not spent


# -- 6. security headers on payload 2.0 responses ----------------------------------------------


@pytest.mark.parametrize("builder", [http_v2, function_url], ids=["http_v2", "function_url"])
def test_security_headers_reach_payload_2_responses_that_used_multi_value_headers(
    builder: Callable[..., dict[str, Any]],
) -> None:
    guard = Guard(VERIFIER, decision_log=None)

    @guard
    def handler(event: Any, context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "multiValueHeaders": {"X-Own": ["1"]}, "body": "ok"}

    answer = handler(builder(authorization=f"Bearer {token()}"), None)
    assert answer["statusCode"] == 200
    assert SECURITY_HEADER in (answer.get("headers") or {}), answer


def test_rest_responses_keep_their_multi_value_headers() -> None:
    guard = Guard(VERIFIER, decision_log=None)

    @guard
    def handler(event: Any, context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
                "body": "ok"}  # fmt: skip

    answer = handler(rest_v1(authorization=f"Bearer {token()}"), None)
    assert answer["multiValueHeaders"]["Set-Cookie"] == ["a=1", "b=2"]
    assert SECURITY_HEADER in answer["multiValueHeaders"]


# -- 7. odd WebSocket event types -------------------------------------------------------------


@pytest.mark.parametrize("odd", [["CONNECT"], {"CONNECT": 1}, 1, None, True, ["MESSAGE", "x"]])
def test_an_odd_event_type_is_a_client_error_never_a_500(odd: object) -> None:
    guard = Guard(VERIFIER, decision_log=None)

    @guard
    def handler(event: Any, context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ok"}

    event = websocket_message("sendmessage", "{}")
    event["requestContext"]["eventType"] = odd
    answer = handler(event, None)
    assert 400 <= answer["statusCode"] < 500, answer
    authorizer = Authorizer(VERIFIER, routes=KEY_ROUTES, decision_log=None, api="rest")
    auth_event = request_authorizer("GET", "/orders", token=token())
    auth_event["requestContext"]["eventType"] = odd
    with contextlib.suppress(Unauthorized):
        authorizer.handler(auth_event)


# -- 8. certificate thumbprints ---------------------------------------------------------------


def _self_signed(common_name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    "disguise",
    [b"\t", b"\x0b", b"\x0c", b"", b"-", b"  ", b"\r", b"\n", b"lower", b"four-dashes", b"X509 "],
)
def test_a_second_certificate_hidden_from_the_block_count_is_never_the_one_thumbprinted(
    disguise: bytes,
) -> None:
    hidden, shown = _self_signed("hidden"), _self_signed("shown")
    if disguise == b"lower":
        variant = hidden.lower()
    elif disguise == b"four-dashes":
        variant = hidden.replace(b"-----BEGIN", b"----BEGIN")
    else:
        variant = hidden.replace(b"BEGIN CERTIFICATE", b"BEGIN" + disguise + b"CERTIFICATE")
    for pem in (variant + shown, shown + variant):
        try:
            thumbprint = certificate_thumbprint(pem)
        except ValueError:
            continue
        loaded = x509.load_pem_x509_certificate(pem)  # what any other reader would take
        assert loaded.subject.rfc4514_string() == "CN=shown"
        assert thumbprint == certificate_thumbprint(shown)


# -- memo: first sightings noted by hash ------------------------------------------------------


class Colliding:
    """Memo keys that all share one hash, equal only by name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __hash__(self) -> int:
        return 42

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Colliding) and other.name == self.name


def test_memo_keys_sharing_a_hash_never_get_each_others_answer() -> None:
    memo = ResponseMemo(8)
    alice, mallory = Colliding("alice"), Colliding("mallory")
    memo.put(alice, {"principalId": "alice"}, {"principal": "alice"})
    memo.put(mallory, {"principalId": "mallory"}, {"principal": "mallory"})  # kept early
    assert memo.get(alice) is None  # alice's first answer was only noted
    remembered = memo.get(mallory)
    assert remembered is not None
    assert remembered.response == {"principalId": "mallory"}
    memo.put(alice, {"principalId": "alice"}, {"principal": "alice"})
    for key, name in ((alice, "alice"), (mallory, "mallory")):
        got = memo.get(key)
        assert got is not None
        assert got.response == {"principalId": name}
        assert got.fields == {"principal": name}


def test_a_full_sighting_set_never_turns_into_a_wrong_answer() -> None:
    memo = ResponseMemo(4)
    for n in range(50):
        key = ("token", n)
        memo.put(key, {"n": n}, {})
        memo.put(key, {"n": n}, {})
        got = memo.get(key)
        assert got is None or got.response == {"n": n}
    assert len(memo) <= 4


# -- 10. ALB keys -----------------------------------------------------------------------------


@pytest.fixture
def local_alb() -> Iterator[LocalAlb]:
    with LocalAlb() as server:
        yield server


def alb_verifier(alb: LocalAlb, clock: Clock) -> AlbVerifier:
    return AlbVerifier(alb_arn=alb.arn, issuer=alb.issuer, client_id=alb.client_id,
                       key_endpoint=alb.key_endpoint, allow_http=True,
                       key_options={"clock": clock, "refetch_cooldown": 30})  # fmt: skip


def test_threads_flooding_made_up_kids_spend_at_most_the_window_budget(
    local_alb: LocalAlb,
) -> None:
    clock = Clock()
    verifier = alb_verifier(local_alb, clock)
    errors: list[BaseException] = []

    def flood(worker: int) -> None:
        for n in range(10):
            kid = f"00000000-0000-4000-8000-{worker:06d}{n:06d}"
            try:
                verifier.verify(local_alb.token(sub="x", headers={"kid": kid}))
            except UnknownKey:
                pass
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=flood, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert local_alb.fetches <= 4
    clock.now += 31  # a new window: the real key is fetched
    assert verifier.verify(local_alb.token(sub="alice"))["sub"] == "alice"


def test_the_use_record_stays_bounded_by_the_cache(local_alb: LocalAlb) -> None:
    clock = Clock()
    verifier = alb_verifier(local_alb, clock)
    for _ in range(70):
        local_alb.rotate()
        assert verifier.verify(local_alb.token(sub="b"))["sub"] == "b"
        clock.now += 8
    keys = verifier.keys
    assert len(keys._keys) <= 32
    assert set(keys._used) <= set(keys._keys)
