"""The sync fetch's total deadline covers opening the connection too: the name lookup,
connecting to each address the name has, and the TLS handshake.

Before, the deadline's timer could only shut a connection that had a socket: a slow
name lookup ran unbounded, each address got the whole timeout, and a slow connect left
a trickled TLS handshake a fresh timeout of its own. Every server here is real and on
loopback (plain TCP, HTTP, TLS); only the resolver is faked where a slow or many-address
answer is needed (there is no way to slow a real resolver on loopback), and its answers
are loopback addresses.
"""

from __future__ import annotations

import contextlib
import errno
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import pytest
from test_jwks_fetch_causes import closed_port_url
from test_review6_fixes import (
    JWKS_BODY,
    OneShotServer,
    deadline_timers,
    jwks_head,
    read_request,
    settle_timers,
    tls_material,  # noqa: F401 - a fixture (request.getfixturevalue)
)
from test_review7_followups import (
    answer_jwks_over_tls,
    full_listener,
    plain_pump,
    timed,
    trickle_pump,
)

from secauth import _fetch
from secauth._fetch import FetchCause, FetchError, fetch_json, fetch_policy, post_form
from secauth._fetch_deadline import FetchDeadline

SLACK = 0.6  # what a deadline may overrun by on a busy 2-core machine
LOOKUP_THREAD = "secauth-name-lookup"


# -- a resolver with faults injected ------------------------------------------------------------


class Fault(NamedTuple):
    delay: float | None  # seconds before answering; None: until the test ends
    addresses: Sequence[str]  # the loopback addresses the name resolves to
    error: OSError | None


class FakeResolver:
    """``socket.getaddrinfo`` answering the names it is told about slowly, with several
    loopback addresses, or with an error; every other name goes to the real resolver."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.faults: dict[str, Fault] = {}
        self.calls: list[str] = []
        self.release = threading.Event()  # ends every held lookup (at teardown)

    def fake(self, name: str, *, delay: float | None = 0.0,
             addresses: Sequence[str] = ("127.0.0.1",), error: OSError | None = None) -> None:  # fmt: skip
        self.faults[name] = Fault(delay, addresses, error)

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        fault = self.faults.get(host)
        if fault is None:
            return self.real(host, port, *args, **kwargs)
        self.calls.append(host)
        self.release.wait(fault.delay)
        if fault.error is not None:
            raise fault.error
        return [info for address in fault.addresses
                for info in self.real(address, port, *args, **kwargs)]  # fmt: skip


def lookup_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == LOOKUP_THREAD]


def settle(alive: Any, wait: float = 2.0) -> Any:
    """``alive()`` once it is empty, or what it still holds after ``wait`` seconds."""
    end = time.monotonic() + wait
    while (found := alive()) and time.monotonic() < end:
        time.sleep(0.02)
    return found


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeResolver]:
    fake = FakeResolver(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    yield fake
    fake.release.set()
    assert not settle(lookup_threads), "a lookup thread outlived its released resolver"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose connect never completes (a full accept queue)."""
    listener, filler, port = full_listener()
    yield port
    filler.close()
    listener.close()


def jwks_server(wrap: ssl.SSLContext | None = None, connections: int = 1) -> OneShotServer:
    """A server on 127.0.0.1 answering a JWKS (over TLS with ``wrap``)."""

    def script(conn: socket.socket, n: int) -> None:
        with wrap.wrap_socket(conn, server_side=True) if wrap else conn as peer:
            head = read_request(peer)
            length = re.search(rb"(?i)\r\nContent-Length: *(\d+)", head)
            body = head.partition(b"\r\n\r\n")[2]
            while length and len(body) < int(length[1]):  # a POST's form: read it all
                chunk = peer.recv(65536)
                body += chunk
                if not chunk:
                    break
            peer.sendall(jwks_head() + JWKS_BODY)

    return OneShotServer(script, connections)


def assert_timeout(error: BaseException | None, elapsed: float, timeout: float) -> None:
    assert isinstance(error, FetchError), repr(error)
    assert error.cause.kind == "timeout", error.cause
    assert elapsed < timeout + SLACK, f"timeout={timeout} s, the fetch took {elapsed:.2f} s"


def get(url: str, timeout: float) -> Any:
    return fetch_json(url, fetch_policy(timeout=timeout, allow_http=url.startswith("http:")))


def post(url: str, timeout: float) -> Any:
    policy = fetch_policy(timeout=timeout, allow_http=url.startswith("http:"))
    return post_form(url, {"token": "t"}, policy)


# -- 1. the name lookup ---------------------------------------------------------------------------


@pytest.mark.parametrize("fetch", [get, post], ids=["get", "post"])
def test_a_slow_name_lookup_is_cut_at_the_deadline(resolver: FakeResolver, fetch: Any) -> None:
    """The name takes 1.5 s to resolve at a 0.4 s timeout (before: the fetch waited for it
    and then for the server)."""
    listener = socket.create_server(("127.0.0.1", 0))
    resolver.fake("localhost", delay=1.5)
    url = f"http://localhost:{listener.getsockname()[1]}/jwks.json"
    try:
        error, elapsed = timed(lambda: fetch(url, 0.4))
    finally:
        listener.close()
    assert_timeout(error, elapsed, 0.4)


def test_a_name_that_does_not_resolve_keeps_its_cause(resolver: FakeResolver) -> None:
    resolver.fake(
        "localhost", error=socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    )
    error, _ = timed(lambda: get("http://localhost:8080/jwks.json", 1.0))
    assert isinstance(error, FetchError)
    assert error.cause == FetchCause("connection", errno=socket.EAI_NONAME, error="gaierror")


def test_a_hung_name_holds_one_lookup_thread_however_many_fetches_ask(
    resolver: FakeResolver,
) -> None:
    """With the resolver hung on a name, each fetch of it is abandoned at its deadline,
    and they all wait on one pending lookup: one resolver call, one thread. When the
    resolver answers again, nothing stays pending."""
    from secauth._fetch_connect import pending_lookups

    assert not lookup_threads()
    resolver.fake("localhost", delay=None)
    timeout = 0.2
    for _ in range(5):
        assert_timeout(*timed(lambda: get("http://localhost:8080/jwks.json", timeout)), timeout)
    assert resolver.calls == ["localhost"]
    assert len(lookup_threads()) == 1
    assert pending_lookups() == 1

    resolver.release.set()
    assert not settle(lookup_threads)
    assert pending_lookups() == 0
    server = jwks_server()
    try:
        resolver.fake("localhost")
        assert get(f"http://localhost:{server.port}/jwks.json", 2.0).document == {"keys": []}
    finally:
        server.close()


def test_past_the_bound_of_pending_names_a_fetch_fails_at_once_and_ip_addresses_still_work(
    resolver: FakeResolver,
) -> None:
    """A hung resolver with the bound of distinct names pending: one more name fails at
    once as a timeout (no thread started), and a fetch to an IP address, which needs no
    lookup, is answered."""
    from secauth._fetch_connect import MAX_PENDING_LOOKUPS, pending_lookups

    names = [f"hung-{n}.localhost" for n in range(MAX_PENDING_LOOKUPS + 1)]
    for name in names:
        resolver.fake(name, delay=None)
    results: list[tuple[BaseException | None, float]] = []
    fetches = [
        threading.Thread(
            target=lambda url=f"http://{name}:8080/jwks.json": results.append(
                timed(lambda: get(url, 1.0))
            )
        )
        for name in names[:-1]
    ]
    for fetch in fetches:  # at once, with time to spare on a busy machine
        fetch.start()
    for fetch in fetches:
        fetch.join(5)
    for result in results:
        assert_timeout(*result, 1.0)
    assert pending_lookups() == MAX_PENDING_LOOKUPS
    error, elapsed = timed(lambda: get(f"http://{names[-1]}:8080/jwks.json", 1.0))
    assert_timeout(error, elapsed, 1.0)
    assert elapsed < 0.2, elapsed
    assert len(lookup_threads()) == MAX_PENDING_LOOKUPS
    server = jwks_server()
    try:
        assert get(server.url(), 1.0).document == {"keys": []}
    finally:
        server.close()
    resolver.release.set()
    assert not settle(lookup_threads)
    assert pending_lookups() == 0


def test_a_burst_of_fetches_on_a_slow_healthy_resolver_all_succeed(
    resolver: FakeResolver,
) -> None:
    """Sixteen fetches of one name at once, on a slow but healthy resolver (0.3 s): they
    share one lookup and are all answered."""
    from concurrent.futures import ThreadPoolExecutor

    count = 16
    server = jwks_server(connections=count)
    resolver.fake("localhost", delay=0.3)
    url = f"http://localhost:{server.port}/jwks.json"
    try:
        with ThreadPoolExecutor(count) as pool:
            answers = list(pool.map(lambda _: get(url, 3.0).document, range(count)))
    finally:
        server.close()
    assert answers == [{"keys": []}] * count
    assert 1 <= len(resolver.calls) < count


# -- 2. connecting --------------------------------------------------------------------------------


def test_several_silent_addresses_share_one_deadline(
    resolver: FakeResolver, silent_port: int
) -> None:
    """The name has four addresses, none of which ever completes a connect (before: each
    got the whole timeout, 1.6 s at 0.4 s)."""
    resolver.fake("localhost", addresses=["127.0.0.1"] * 4)
    error, elapsed = timed(lambda: get(f"http://localhost:{silent_port}/jwks.json", 0.4))
    assert_timeout(error, elapsed, 0.4)
    assert resolver.calls == ["localhost"]


def test_a_refused_connection_keeps_its_cause() -> None:
    error, _ = timed(lambda: get(closed_port_url(), 1.0))
    assert isinstance(error, FetchError)
    assert error.cause == FetchCause("connection", errno=errno.ECONNREFUSED,
                                     error="ConnectionRefusedError")  # fmt: skip


def test_a_refused_address_then_a_working_one(resolver: FakeResolver) -> None:
    """A name whose first address refuses: the next one is tried, within the deadline."""
    server = jwks_server()
    try:
        resolver.fake("localhost", addresses=["127.0.0.2", "127.0.0.1"])
        assert get(f"http://localhost:{server.port}/jwks.json", 2.0).document == {"keys": []}
    finally:
        server.close()


# -- 3. the TLS handshake -------------------------------------------------------------------------


def test_a_slow_connect_then_a_trickled_tls_handshake_is_cut_at_the_deadline(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connect takes ~1 s (the first SYN is dropped on a full accept queue, as on a
    lossy network), then the server sends its handshake one byte every 20 ms. Before, the
    handshake got a fresh 1.5 s of its own on a socket the timer could not see: 2.5 s."""
    server_ctx, client_ctx = request.getfixturevalue("tls_material")
    monkeypatch.setattr(_fetch, "_SSL_CONTEXT", client_ctx)
    timeout = 1.5
    backend = socket.create_server(("127.0.0.1", 0))
    front, filler, port = full_listener()
    stop = threading.Event()
    connected_at: list[float] = []

    def front_serve() -> None:
        with contextlib.suppress(OSError):
            time.sleep(0.3)
            front.accept()[0].close()  # the filler: the client's retransmitted SYN now fits
            client, _ = front.accept()
            connected_at.append(time.monotonic() - started)
            upstream = socket.create_connection(backend.getsockname())
            threading.Thread(target=plain_pump, args=(client, upstream), daemon=True).start()
            trickle_pump(upstream, client, 0.02, stop)

    answer_jwks_over_tls(backend, server_ctx)
    threading.Thread(target=front_serve, daemon=True).start()
    started = time.monotonic()
    try:
        error, elapsed = timed(lambda: get(f"https://127.0.0.1:{port}/jwks.json", timeout))
    finally:
        stop.set()
        for sock in (filler, front, backend):
            sock.close()
    if not connected_at or connected_at[0] < 0.7:
        pytest.skip("this kernel did not delay the connect (SYN not dropped)")
    assert_timeout(error, elapsed, timeout)


def test_the_timer_cuts_a_tls_handshake_about_to_start() -> None:
    """The timer may fire between wrapping the socket and starting its handshake: the
    handshake must then fail as an OSError (a timeout once the deadline passed), never
    an AttributeError because shutting the TLS socket dropped its TLS state."""
    listener = socket.create_server(("127.0.0.1", 0))
    plain = socket.create_connection(listener.getsockname())
    peer, _ = listener.accept()

    class Conn:
        sock: Any = None

    conn = Conn()
    conn.sock = ssl.create_default_context().wrap_socket(
        plain, server_hostname="127.0.0.1", do_handshake_on_connect=False
    )
    deadline = FetchDeadline(0.0)
    deadline.watch(conn)
    try:
        peer.settimeout(2.0)
        assert peer.recv(1) == b""  # the timer shut the client's socket: its FIN came
        assert deadline.passed
        conn.sock.settimeout(2.0)
        error, _ = timed(conn.sock.do_handshake)
        assert isinstance(error, OSError), repr(error)
    finally:
        deadline.cancel()
        for sock in (conn.sock, peer, listener):
            sock.close()


# -- 4. the normal paths --------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_plain_http_on_loopback_still_works(host: str) -> None:
    server = jwks_server(connections=2)
    try:
        url = f"http://{host}:{server.port}/jwks.json"
        assert get(url, 2.0).document == {"keys": []}
        assert get(url, 2.0).max_age is None
    finally:
        server.close()


def test_https_with_a_trusted_certificate_still_works(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_ctx, client_ctx = request.getfixturevalue("tls_material")
    monkeypatch.setattr(_fetch, "_SSL_CONTEXT", client_ctx)
    server = jwks_server(server_ctx, connections=2)
    try:
        url = f"https://127.0.0.1:{server.port}/jwks.json"
        assert get(url, 2.0).document == {"keys": []}
        assert post(url, 2.0).document == {"keys": []}
    finally:
        server.close()


@pytest.mark.parametrize("case", ["wrong_name", "unknown_ca"])
def test_https_verification_is_as_strict_as_before(
    case: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The certificate names 127.0.0.1 only: fetched as localhost, its name does not
    match; without its CA in the context, it is not trusted. Both are ``tls``."""
    server_ctx, client_ctx = request.getfixturevalue("tls_material")
    if case == "wrong_name":
        monkeypatch.setattr(_fetch, "_SSL_CONTEXT", client_ctx)
    server = jwks_server(server_ctx)
    host = "localhost" if case == "wrong_name" else "127.0.0.1"
    try:
        error, _ = timed(lambda: get(f"https://{host}:{server.port}/jwks.json", 2.0))
    finally:
        server.close()
    assert isinstance(error, FetchError), repr(error)
    assert error.cause == FetchCause("tls", error="SSLCertVerificationError")


def test_an_ipv6_literal_still_works() -> None:
    if not socket.has_ipv6:
        pytest.skip("this Python has no IPv6 support")
    try:
        listener = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError as exc:
        pytest.skip(f"this machine cannot listen on ::1 ({exc})")

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                read_request(conn)
                conn.sendall(jwks_head() + JWKS_BODY)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        url = f"http://[::1]:{listener.getsockname()[1]}/jwks.json"
        assert get(url, 2.0).document == {"keys": []}
    finally:
        thread.join(2)
        listener.close()


# -- 5. nothing outlives a fetch ------------------------------------------------------------------


def test_no_timer_or_lookup_thread_outlives_a_fetch(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, silent_port: int
) -> None:
    """Fetches that succeed, are refused, time out connecting, or fail their handshake
    leave no deadline timer and no lookup thread behind."""
    server_ctx, client_ctx = request.getfixturevalue("tls_material")
    monkeypatch.setattr(_fetch, "_SSL_CONTEXT", client_ctx)
    before = deadline_timers()
    plain, tls = jwks_server(), jwks_server(server_ctx, connections=2)
    try:
        get(f"http://localhost:{plain.port}/jwks.json", 2.0)
        get(f"https://127.0.0.1:{tls.port}/jwks.json", 2.0)
        for url in (closed_port_url(), f"http://127.0.0.1:{silent_port}/jwks.json",
                    f"https://localhost:{tls.port}/jwks.json"):  # fmt: skip
            with pytest.raises(FetchError):
                get(url, 0.3)
    finally:
        plain.close()
        tls.close()
    leaked = settle_timers(before, wait=0.6)
    for deadline in leaked:
        deadline.cancel()
    assert not leaked, f"{len(leaked)} deadline timers still running"
    assert not settle(lookup_threads, wait=0.6)
