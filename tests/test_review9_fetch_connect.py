"""Review 9: attacks on b71cefc (the sync fetch deadline bounds opening the connection:
``secauth._fetch_connect``, and the timer of ``secauth._fetch_deadline``).

The tests under FINDINGS assert the secure (or the previous, correct) behaviour and
failed on the code as reviewed: one lookup slot pool for every name let a hung name
starve every other fetch, and a fork() lost the slots taken. Both are fixed (lookups
shared per name, IP addresses read without one, the table reset in a forked child). The
others are attacks the change resisted, kept as regression tests.

Every server is real and on loopback (plain TCP, HTTP and TLS; 127.0.0.1 and ::1). Only
the resolver is scripted, where a slow, hung, failing or many-address answer is needed:
``socket.getaddrinfo`` is wrapped, and its answers are real loopback answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gc
import http.client
import ipaddress
import json
import os
import random
import re
import select
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hand_clock import Clock
from test_fetch_connect_deadline import SLACK, assert_timeout, get, lookup_threads, post, settle
from test_jwks_fetch_causes import closed_port_url
from test_review6_fixes import JWKS_BODY, deadline_timers, jwks_head, read_request, settle_timers
from test_review7_followups import full_listener, timed

from secauth import JwtVerifier, _fetch
from secauth._fetch import FetchCause, FetchError, fetch_policy, transport_cause
from secauth._fetch_connect import pending_lookups
from secauth.errors import KeysUnavailable
from secauth.jwks import JwksCache
from secauth.testing import KeyPair, LocalIssuer

HUNG = "hung.review9.test"  # a name whose resolver never answers (until the test ends)


# -- a scripted resolver ---------------------------------------------------------------------------


class Script(NamedTuple):
    addresses: Sequence[str]  # the loopback addresses the name resolves to
    delays: Sequence[float | None]  # the wait of the 1st, 2nd, ... lookup (the last repeats)
    error: OSError | None


class ScriptedResolver:
    """``socket.getaddrinfo`` answering the names it is told about as scripted (slowly,
    never, with several loopback addresses, with none, or with an error); every other
    name goes to the real resolver."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.names: dict[str, Script] = {}
        self.calls: list[str] = []
        self.release = threading.Event()  # ends every held lookup
        self._lock = threading.Lock()

    def answer(self, name: str, *addresses: str, delays: Sequence[float | None] = (0.0,),
               error: OSError | None = None) -> None:  # fmt: skip
        self.names[name] = Script(addresses or ("127.0.0.1",), delays, error)

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        script = self.names.get(host)
        if script is None:
            return self.real(host, port, *args, **kwargs)
        with self._lock:
            nth = self.calls.count(host)
            self.calls.append(host)
        delay = script.delays[min(nth, len(script.delays) - 1)]
        if delay is None or delay > 0:
            self.release.wait(delay)
        if script.error is not None:
            raise script.error
        if script.addresses == ("none",):
            return []
        return [info for address in script.addresses
                for info in self.real(address, port, *args, **kwargs)]  # fmt: skip


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedResolver]:
    fake = ScriptedResolver(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    yield fake
    fake.release.set()
    assert not settle(lookup_threads), "a lookup thread outlived its released resolver"
    assert pending_lookups() == 0, "a name lookup stayed pending"


def hold_hung_lookups(dns: ScriptedResolver, count: int = 4) -> None:
    """``count`` fetches of the hung name at once; each is abandoned at its 0.2 s deadline,
    and their one shared lookup stays pending until the resolver is released."""
    dns.answer(HUNG, delays=[None])
    threads = [threading.Thread(target=timed, args=(lambda: get(f"https://{HUNG}/jwks.json", 0.2),))
               for _ in range(count)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    # (a lookup thread of an earlier, healthy fetch may still be on its way out)
    assert not settle(lambda: len(lookup_threads()) != 1, wait=1.0)
    assert pending_lookups() == 1


def fetch_in_a_forked_child(
    fetch: Callable[[], object],
    *,
    child_waits: float = 0.0,
    in_the_parent: Callable[[], object] = lambda: None,
    wait: float = 10.0,
) -> str:
    """Fork; the child waits ``child_waits`` seconds, runs ``fetch`` and reports "ok" (or
    the error) through a pipe, never returning into pytest. The parent runs
    ``in_the_parent`` and reads the report ("no report (blocked)" after ``wait`` seconds:
    the child is killed)."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads (3.12+)
        pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            time.sleep(child_waits)
            error, elapsed = timed(fetch)
            report = "ok" if error is None else f"{error!r} {getattr(error, 'cause', '')}"
            os.write(write_end, f"{report} after {elapsed:.2f} s".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    in_the_parent()
    try:
        ready, _, _ = select.select([read_end], [], [], wait)
        report = os.read(read_end, 4096).decode() if ready else "no report (blocked)"
    finally:
        os.close(read_end)
        if report.startswith("no report"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        os.waitpid(pid, 0)
    return report


# -- loopback servers ------------------------------------------------------------------------------


class Server:
    """A TCP server on loopback running ``handle(conn)`` for each connection in a thread of
    its own; on close, it shuts every connection it accepted."""

    def __init__(self, handle: Callable[[socket.socket], None], host: str = "127.0.0.1",
                 port: int = 0) -> None:  # fmt: skip
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.create_server((host, port), family=family)
        self.host, self.port = host, self.listener.getsockname()[1]
        self.handle = handle
        self.stop = threading.Event()
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, scheme: str = "http", path: str = "/jwks.json", host: str | None = None) -> str:
        shown = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{scheme}://{shown}:{self.port}{path}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError, ValueError):
            self.handle(conn)

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        for conn in self.accepted:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


def answer_jwks(wrap: ssl.SSLContext | None = None, stop: threading.Event | None = None,
                gap: float = 0.0) -> Callable[[socket.socket], None]:  # fmt: skip
    """A handler answering one request (its form read in full) with a JWKS, over TLS with
    ``wrap``; with ``gap``, the answer goes out one byte at a time."""

    def handle(conn: socket.socket) -> None:
        with wrap.wrap_socket(conn, server_side=True) if wrap else conn as peer:
            head = read_request(peer)
            length = re.search(rb"(?i)\r\nContent-Length: *(\d+)", head)
            body = head.partition(b"\r\n\r\n")[2]
            while length and len(body) < int(length[1]) and (chunk := peer.recv(65536)):
                body += chunk
            answer = jwks_head() + JWKS_BODY
            if not gap:
                peer.sendall(answer)
                return
            for byte in answer:
                if stop is not None and stop.wait(gap):
                    return
                peer.sendall(bytes([byte]))

    return handle


def until_closed(conn: socket.socket) -> None:
    """Never answers: reads until the client goes."""
    while conn.recv(65536):
        pass


def after_hello(then: str) -> Callable[[socket.socket], None]:
    """Reads the client's first bytes (its ClientHello or request), then resets the
    connection (``reset``), closes it (``close``) or answers in plain HTTP (``plain``)."""

    def handle(conn: socket.socket) -> None:
        conn.recv(65536)
        if then == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif then == "plain":
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    return handle


def relay(
    backend: Server, *, limit: int | None = None, gap: float = 0.0
) -> Callable[[socket.socket], None]:
    """A handler relaying to ``backend``: all the client sends goes through; of what the
    backend answers, only the first ``limit`` bytes (then silence), or one byte every
    ``gap`` seconds."""

    def handle(client: socket.socket) -> None:
        gone = threading.Event()
        with socket.create_connection((backend.host, backend.port)) as upstream:

            def forward() -> None:
                with contextlib.suppress(OSError):
                    while data := client.recv(65536):
                        upstream.sendall(data)
                gone.set()
                with contextlib.suppress(OSError):
                    upstream.shutdown(socket.SHUT_RDWR)

            threading.Thread(target=forward, daemon=True).start()
            sent = 0
            while not gone.is_set() and (data := upstream.recv(65536)):
                for byte in data:
                    if limit is not None and sent >= limit:
                        gone.wait()  # silence until the client gives up
                        return
                    if gap and gone.wait(gap):
                        return
                    client.sendall(bytes([byte]))
                    sent += 1

    return handle


# -- certificates ----------------------------------------------------------------------------------


class Pki:
    """A CA the client context trusts, and leaf certificates it (or nobody) signed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = self._certificate(
            "review9 CA", "review9 CA", self.ca_key, self.ca_key, [], ca=True
        )
        self.client = ssl.create_default_context(
            cadata=self.ca.public_bytes(serialization.Encoding.PEM).decode()
        )

    @staticmethod
    def _certificate(subject: str, issuer: str, key: Any, signer: Any, sans: list[Any], *,
                     ca: bool = False, expired: bool = False) -> x509.Certificate:  # fmt: skip
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=3))
            .not_valid_after(now + datetime.timedelta(days=-1 if expired else 1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(signer, hashes.SHA256())

    def server(self, *sans: str, cn: str = "review9 leaf", expired: bool = False,
               self_signed: bool = False) -> ssl.SSLContext:  # fmt: skip
        """A server context for a leaf naming ``sans`` (IP addresses as iPAddress)."""
        names: list[Any] = []
        for san in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                names.append(x509.DNSName(san))
        key = ec.generate_private_key(ec.SECP256R1())
        issuer, signer = (cn, key) if self_signed else ("review9 CA", self.ca_key)
        cert = self._certificate(cn, issuer, key, signer, names, expired=expired)
        path = self.folder / f"leaf-{x509.random_serial_number()}.pem"
        path.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(path)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("review9-pki"))


@pytest.fixture
def trusted(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> Pki:
    """``pki``, its CA the only one the sync fetcher trusts for this test."""
    monkeypatch.setattr(_fetch, "_SSL_CONTEXT", pki.client)
    return pki


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Servers a test starts (append them); all closed at its end."""
    started: list[Server] = []
    yield started
    for server in started:
        server.close()


def ipv6_loopback() -> None:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError as exc:
        pytest.skip(f"this machine cannot listen on ::1 ({exc})")


def served_on_one_family_only(handle: Callable[[socket.socket], None], host: str,
                              held: list[socket.socket]) -> Server:  # fmt: skip
    """A Server on loopback ``host`` (127.0.0.1 or ::1) whose port the other loopback
    address refuses: a socket there is bound to it, never listening (appended to ``held``,
    for the caller to close). The kernel gives a ::1 listener a port some 127.0.0.1
    listener may already have (and the reverse): without the bound socket, "nobody
    listens there" could be another test's (another xdist worker's) silent server, and
    the fetch would wait on it to its deadline."""
    other, family = ("127.0.0.1", socket.AF_INET) if ":" in host else ("::1", socket.AF_INET6)
    for _ in range(50):
        server = Server(handle, host)
        guard = socket.socket(family, socket.SOCK_STREAM)
        try:
            guard.bind((other, server.port))
        except OSError:  # that port is someone's on the other family: try another
            guard.close()
            server.close()
            continue
        held.append(guard)
        return server
    pytest.skip(f"no port free on both {host} and {other}")


# == FINDINGS ======================================================================================

# -- 1. one process-wide pool of four lookup slots, shared by every host ---------------------------


@pytest.mark.parametrize("fetch", [get, post], ids=["get", "post"])
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_hung_name_does_not_starve_fetches_from_other_hosts(
    dns: ScriptedResolver, servers: list[Server], host: str, fetch: Any
) -> None:
    """Before b71cefc each fetch looked its name up in its own thread: these fetches took
    ~2 ms while lookups of another name hung. Now they wait for a lookup slot and fail
    as ``timeout`` at their 0.5 s deadline, for as long as the hung lookups are pending
    (the resolver's own timeout: 10-30 s with glibc's defaults)."""
    servers.append(server := Server(answer_jwks()))
    hold_hung_lookups(dns)
    error, elapsed = timed(lambda: fetch(server.url(host=host), 0.5))
    assert error is None, f"{error!r} {getattr(error, 'cause', '')} after {elapsed:.2f} s"


def test_one_issuer_with_hung_dns_does_not_make_the_other_issuers_unavailable(
    dns: ScriptedResolver,
) -> None:
    """A multi-issuer verifier: issuer A's host never resolves (its DNS is down, or is run
    by whoever registered A: a tenant bringing its own IdP). An anonymous client sends
    four tokens claiming ``iss`` A with made-up kids (no valid signature needed: the key
    fetch comes first). A's cache backs off 1, 2, 4 s between fetches; the hand clock
    skips those waits (in real time, at the default 2 s timeout, the four lookups start
    at 0, 2, 4 and 8 s: all four are pending from 8 s on whenever the resolver takes
    longer than that, as glibc's 5 s x 2 attempts per nameserver does). Then a user of
    issuer B (served on 127.0.0.1: no name to look up at all) presents a valid token
    whose key B's cache has yet to fetch: 503, cause ``timeout``; B's cache then backs
    off too."""
    a_issuer = "https://idp-a.review9.test/"
    dns.answer("idp-a.review9.test", delays=[None])
    clock = Clock()
    a_keys = JwksCache("https://idp-a.review9.test/jwks.json", timeout=0.3, clock=clock)
    forger = KeyPair.generate("ES256", kid="forged")
    with LocalIssuer(algs=("ES256",)) as b:
        b_keys = JwksCache(b.jwks_uri, allow_http=True, timeout=0.5)
        verifier = JwtVerifier.multi(
            JwtVerifier(issuer=a_issuer, audience="api", jwks=a_keys),
            JwtVerifier(issuer=b.issuer, audience="api", jwks=b_keys),
        )
        for n in range(4):
            forged = forger.sign({"iss": a_issuer, "aud": "api", "exp": 4e9},
                                 headers={"kid": f"made-up-{n}"})  # fmt: skip
            with pytest.raises(KeysUnavailable):
                verifier.verify(forged)
            clock.now += 60  # A's backoff is over; its resolver still has not answered
        assert len(lookup_threads()) == 1  # A's four fetches share one pending lookup
        good = b.token(sub="alice", aud="api")
        error, elapsed = timed(lambda: verifier.verify(good))
    assert error is None, f"{error!r} after {elapsed:.2f} s"


def test_concurrent_fetches_on_a_slow_but_healthy_resolver_all_succeed(
    dns: ScriptedResolver, servers: list[Server]
) -> None:
    """16 fetches at once (threads of a server introspecting tokens, or refreshing the
    keys of several issuers), each name answered in 0.3 s: the lookups run four at a
    time, at 0.3, 0.6, 0.9 and 1.2 s, and the last four fail at their 1 s deadline."""
    from concurrent.futures import ThreadPoolExecutor

    count = 16
    servers.append(server := Server(answer_jwks()))
    dns.answer("localhost", delays=[0.3])
    with ThreadPoolExecutor(count) as pool:
        results = list(pool.map(lambda _: timed(lambda: get(server.url(host="localhost"), 1.0)),
                                range(count)))  # fmt: skip
    failed = [(str(error), round(elapsed, 2)) for error, elapsed in results if error is not None]
    assert not failed, f"{len(failed)} of {count} failed: {failed}"


# -- 2. the slots do not survive fork() ------------------------------------------------------------


def test_a_child_forked_while_lookups_are_pending_can_still_fetch(
    dns: ScriptedResolver, servers: list[Server]
) -> None:
    """A pre-fork server (gunicorn --preload, uWSGI without lazy-apps, a fork
    multiprocessing pool) whose parent fetched keys at start-up while the resolver was
    slow: the lookup threads exist only in the parent, the semaphore's count is copied
    into the child. The child waits until the parent's lookups are long over, then
    fetches from 127.0.0.1: ``timeout`` at its 0.5 s deadline, every time."""
    servers.append(server := Server(answer_jwks()))
    hold_hung_lookups(dns)
    report = fetch_in_a_forked_child(
        lambda: get(server.url(), 0.5),
        child_waits=0.3,
        # the parent's lookups end now; the child never had their threads
        in_the_parent=dns.release.set,
    )
    assert report.startswith("ok"), report


# == ATTACKS THE CHANGE RESISTED ===================================================================

# -- 3. certificate and host name checks: exactly http.client's ----------------------------------

HOSTS = ["localhost", "LOCALHOST", "localhost.", "127.0.0.1", "[::1]", "idp.test", "IDP.TEST",
         "idp.test.", "a.idp.test", "a.b.idp.test", "bücher.test", "BÜCHER.test", "evil.test"]  # fmt: skip
LEAVES: dict[str, dict[str, Any]] = {
    "dns-localhost": {"sans": ["localhost"]},
    "ip-127.0.0.1": {"sans": ["127.0.0.1"]},
    "ip-::1": {"sans": ["::1"]},
    "dns-named-127.0.0.1": {"sans": []},  # filled below: a dNSName that looks like an IP
    "dns-idp.test": {"sans": ["idp.test"]},
    "idna": {"sans": ["xn--bcher-kva.test"]},
    "wildcard": {"sans": ["*.idp.test"]},
    "cn-only": {"sans": [], "cn": "localhost"},
    "expired": {"sans": ["localhost", "127.0.0.1", "::1", "idp.test"], "expired": True},
    "self-signed": {"sans": ["localhost", "127.0.0.1", "::1", "idp.test"], "self_signed": True},
}


def _leaf(pki: Pki, label: str) -> ssl.SSLContext:
    if label == "dns-named-127.0.0.1":  # x509.DNSName("127.0.0.1"): never an IP identity
        key = ec.generate_private_key(ec.SECP256R1())
        cert = pki._certificate("leaf", "review9 CA", key, pki.ca_key, [x509.DNSName("127.0.0.1")])
        path = pki.folder / "dns-named-ip.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))  # fmt: skip
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(path)
        return context
    spec = LEAVES[label]
    return pki.server(
        *spec["sans"],
        cn=spec.get("cn", "review9 leaf"),
        expired=spec.get("expired", False),
        self_signed=spec.get("self_signed", False),
    )


def _outcome(call: Callable[[], object]) -> str:
    try:
        call()
    except FetchError as exc:
        return exc.cause.error or exc.cause.kind
    except Exception as exc:
        return type(exc).__name__
    return "ok"


def _plain_http_client(url: str, context: ssl.SSLContext) -> None:
    """The fetch as http.client alone makes it (the code before b71cefc)."""
    parts = urlsplit(url)
    conn = http.client.HTTPSConnection(
        parts.hostname or "", parts.port, timeout=2.0, context=context
    )
    try:
        conn.request("GET", parts.path)
        conn.getresponse().read()
    finally:
        conn.close()


@pytest.mark.parametrize("label", list(LEAVES))
def test_certificate_and_host_name_checks_match_http_client(
    label: str, trusted: Pki, dns: ScriptedResolver, servers: list[Server]
) -> None:
    """Each leaf, reached by DNS names (upper case, trailing dot, IDNA, wildcard depth),
    IPv4 and IPv6 literals: the fetch accepts exactly what http.client with the same
    context accepts, fails with the same error class, and sends the same SNI (none for
    an IP literal). No expired, self-signed or wrong-name certificate gets through."""
    ipv6_loopback()
    for name in ("localhost.", "idp.test", "idp.test.", "a.idp.test", "a.b.idp.test",
                 "bücher.test", "evil.test"):  # fmt: skip
        dns.answer(name)
    context = _leaf(trusted, label)
    sni: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: sni.append(name)
    handler = answer_jwks(context)
    servers.extend([v4 := Server(handler), v6 := Server(handler, "::1")])
    seen: dict[str, tuple[str, list[str | None]]] = {}
    for host in HOSTS:
        url = (v6 if host.startswith("[") else v4).url("https", host=host)
        sni.clear()
        ours = _outcome(lambda: get(url, 2.0)), list(sni)  # noqa: B023 - called at once
        sni.clear()
        theirs = _outcome(lambda: _plain_http_client(url, trusted.client)), list(sni)  # noqa: B023
        assert ours == theirs, f"{label} via {host}: secauth {ours}, http.client {theirs}"
        seen[host] = ours
    accepted = sorted(host for host, (outcome, _) in seen.items() if outcome == "ok")
    expected = {
        "dns-localhost": ["LOCALHOST", "localhost"], "ip-127.0.0.1": ["127.0.0.1"],
        "ip-::1": ["[::1]"], "dns-named-127.0.0.1": [], "dns-idp.test": ["IDP.TEST", "idp.test"],
        "idna": ["BÜCHER.test", "bücher.test"], "wildcard": ["a.idp.test"],
        "cn-only": ["LOCALHOST", "localhost"], "expired": [], "self-signed": [],
    }  # fmt: skip
    assert accepted == sorted(expected[label])
    assert all(outcome in {"ok", "SSLCertVerificationError"} for outcome, _ in seen.values())
    assert seen["127.0.0.1"][1] == [None]
    assert seen["[::1]"][1] == [None]
    assert seen["bücher.test"][1] == ["xn--bcher-kva.test"]


# -- 4. failure causes: what http.client's own errors gave before ---------------------------------


CAUSE_CASES = ["refused", "no_such_name", "try_again", "no_address", "tls_reset_after_hello",
               "tls_closed_after_hello", "tls_plaintext_answer", "tls_unknown_ca", "tls_wrong_name",
               "http_reset_after_request", "http_closed_after_request"]  # fmt: skip


@pytest.mark.parametrize("case", CAUSE_CASES)
def test_failure_causes_are_those_http_client_gave(
    case: str, trusted: Pki, dns: ScriptedResolver, servers: list[Server]
) -> None:
    """The cause of each failure equals ``transport_cause`` of the error http.client raises
    for the same server (the fetch before b71cefc)."""
    scheme = "http" if case.startswith(("http_", "refused")) else "https"
    host = "127.0.0.1"
    if case == "refused":
        url = closed_port_url()
    elif case in {"no_such_name", "try_again", "no_address"}:
        host = f"{case.replace('_', '-')}.review9.test"
        code = {"no_such_name": socket.EAI_NONAME, "try_again": socket.EAI_AGAIN}.get(case)
        scripted = socket.gaierror(code, "scripted") if code is not None else None
        dns.answer(host, "none", error=scripted)
        url = f"https://{host}:443/jwks.json"
    else:
        handler = {
            "tls_reset_after_hello": after_hello("reset"),
            "tls_closed_after_hello": after_hello("close"),
            "tls_plaintext_answer": after_hello("plain"),
            "tls_unknown_ca": answer_jwks(trusted.server("127.0.0.1", self_signed=True)),
            "tls_wrong_name": answer_jwks(trusted.server("localhost")),
            "http_reset_after_request": after_hello("reset"),
            "http_closed_after_request": after_hello("close"),
        }[case]
        servers.append(server := Server(handler))
        url = server.url(scheme)
    error, _ = timed(lambda: get(url, 2.0))
    assert isinstance(error, FetchError), repr(error)
    parts = urlsplit(url)
    conn = (http.client.HTTPSConnection(host, parts.port, timeout=2.0, context=trusted.client)
            if scheme == "https" else http.client.HTTPConnection(host, parts.port, timeout=2.0))  # fmt: skip
    try:
        conn.request("GET", parts.path)
        conn.getresponse().read()
    except Exception as exc:
        expected = transport_cause(exc)
    else:
        pytest.fail("http.client fetched what secauth could not")
    finally:
        conn.close()
    assert error.cause == expected
    assert error.cause.kind in {"connection", "tls"}


# -- 5. the deadline is total, whatever the connection set-up does --------------------------------


def test_a_redirect_whose_next_lookup_hangs_ends_at_the_deadline(
    dns: ScriptedResolver, servers: list[Server]
) -> None:
    """The first lookup of the name is quick and its server redirects (same origin); the
    lookup for the next hop never returns: the fetch still ends at its deadline."""

    def redirect(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /next.json\r\nContent-Length: 0\r\n\r\n")

    servers.append(server := Server(redirect))
    dns.answer("localhost", delays=[0.0, None])
    error, elapsed = timed(lambda: get(server.url(host="localhost"), 0.4))
    assert_timeout(error, elapsed, 0.4)
    assert dns.calls == ["localhost", "localhost"]


def test_slow_lookups_on_every_redirect_hop_share_one_deadline(
    dns: ScriptedResolver, servers: list[Server]
) -> None:
    """Three same-origin redirects, each hop's lookup 0.15 s (0.6 s in all) at a 0.45 s
    timeout."""
    hops = iter(range(10))

    def redirect(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /hop%d\r\n"
                     b"Content-Length: 0\r\n\r\n" % next(hops))  # fmt: skip

    servers.append(server := Server(redirect))
    dns.answer("localhost", delays=[0.15])
    error, elapsed = timed(lambda: get(server.url(host="localhost"), 0.45))
    assert_timeout(error, elapsed, 0.45)
    assert 2 <= len(dns.calls) <= 4


@pytest.mark.parametrize("fetch", [get, post], ids=["get", "post"])
@pytest.mark.parametrize("server_does", ["never_answers", "partial_server_hello",
                                         "trickles_handshake", "trickles_headers"])  # fmt: skip
def test_a_tls_server_stalling_at_any_step_is_cut_at_the_deadline(
    server_does: str, fetch: Any, trusted: Pki, servers: list[Server]
) -> None:
    """Accepts and never answers the ClientHello; sends the first 60 bytes of its
    ServerHello and stops; sends its handshake a byte every 10 ms; completes the
    handshake and sends its answer a byte every 20 ms."""
    context = trusted.server("127.0.0.1")
    stop = threading.Event()
    if server_does == "never_answers":
        servers.append(front := Server(until_closed))
    elif server_does == "trickles_headers":
        servers.append(front := Server(answer_jwks(context, stop, gap=0.02)))
    else:
        servers.append(backend := Server(answer_jwks(context)))
        shape = {"limit": 60} if server_does == "partial_server_hello" else {"gap": 0.01}
        servers.append(front := Server(relay(backend, **shape)))
    try:
        error, elapsed = timed(lambda: fetch(front.url("https"), 0.4))
    finally:
        stop.set()
    assert_timeout(error, elapsed, 0.4)


@pytest.mark.parametrize("fetch", [get, post], ids=["get", "post"])
def test_refusing_addresses_then_silent_ones_end_at_the_deadline(
    fetch: Any, dns: ScriptedResolver
) -> None:
    """Six addresses: the first three refuse at once, the last three never complete a
    connect; and one address that answers slowly after a slow lookup."""
    listener, filler, silent = full_listener()
    try:
        # 127.0.0.2-4 have nothing on the silent port: refused; 127.0.0.1 is the full queue.
        dns.answer("localhost", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.1",
                   "127.0.0.1", "127.0.0.1", delays=[0.1])  # fmt: skip
        error, elapsed = timed(lambda: fetch(f"https://localhost:{silent}/jwks.json", 0.4))
    finally:
        filler.close()
        listener.close()
    assert_timeout(error, elapsed, 0.4)


def test_a_slow_lookup_then_a_trickled_handshake_share_one_deadline(
    trusted: Pki, dns: ScriptedResolver, servers: list[Server]
) -> None:
    servers.append(backend := Server(answer_jwks(trusted.server("localhost"))))
    servers.append(front := Server(relay(backend, gap=0.01)))
    dns.answer("localhost", delays=[0.25])
    error, elapsed = timed(lambda: get(front.url("https", host="localhost"), 0.5))
    assert_timeout(error, elapsed, 0.5)


@pytest.mark.parametrize("listening", ["ipv4_only", "ipv6_only"])
def test_localhost_with_both_families_and_one_listening(
    listening: str, trusted: Pki, dns: ScriptedResolver, servers: list[Server]
) -> None:
    """``localhost`` answers ::1 and 127.0.0.1, in the order that puts the family nobody
    listens on first: refused at once, the other address works, over TLS too."""
    ipv6_loopback()
    context = trusted.server("localhost")
    host = "127.0.0.1" if listening == "ipv4_only" else "::1"
    held: list[socket.socket] = []  # the other family's sockets on the servers' ports
    try:
        servers.append(tls := served_on_one_family_only(answer_jwks(context), host, held))
        servers.append(plain := served_on_one_family_only(answer_jwks(), host, held))
        order = ["::1", "127.0.0.1"] if listening == "ipv4_only" else ["127.0.0.1", "::1"]
        dns.answer("localhost", *order)
        for url in (tls.url("https", host="localhost"), plain.url(host="localhost")):
            assert get(url, 10.0).document == {"keys": []}
    finally:
        for guard in held:
            guard.close()


# -- 6. the timer that shuts a TLS socket from another thread -------------------------------------


def test_deadlines_at_random_moments_of_the_connection_set_up_are_always_timeouts(
    trusted: Pki, servers: list[Server]
) -> None:
    """60 fetches whose deadline (1 ms to 150 ms) falls anywhere in the set-up: the lookup,
    the connect, wrapping the socket, a handshake trickled a byte every 3 ms, or an answer
    trickled after it. Each ends as a FetchError of kind ``timeout`` by its deadline; no
    other exception escapes, none is raised in the timer's thread."""
    context = trusted.server("127.0.0.1")
    stop = threading.Event()
    servers.append(backend := Server(answer_jwks(context)))
    servers.append(trickled_handshake := Server(relay(backend, gap=0.003)))
    servers.append(trickled_answer := Server(answer_jwks(context, stop, gap=0.005)))
    servers.append(silent := Server(until_closed))
    fronts = [trickled_handshake, trickled_answer, silent]
    crashed: list[str] = []
    original_hook = threading.excepthook
    threading.excepthook = lambda args: crashed.append(f"{args.exc_type.__name__} in {args.thread}")
    rng = random.Random(9)
    try:
        for n in range(60):
            timeout = round(10 ** rng.uniform(-3, -0.82), 4)
            url = fronts[n % 3].url("https")
            error, elapsed = timed(lambda: (get if n % 2 else post)(url, timeout))  # noqa: B023
            assert isinstance(error, FetchError), f"{error!r} at timeout {timeout}"
            assert error.cause.kind == "timeout", f"{error.cause} at timeout {timeout}"
            assert elapsed < timeout + SLACK
    finally:
        stop.set()
        time.sleep(0.1)
        threading.excepthook = original_hook
    assert not crashed


# -- 7. nothing leaks on any failure path ----------------------------------------------------------


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_no_socket_timer_or_slot_is_left_by_any_failure_path(
    trusted: Pki, dns: ScriptedResolver, servers: list[Server]
) -> None:
    """Every way opening a connection can fail (and a success), GET and POST: afterwards
    the process has the descriptors it had, no socket was left to the garbage collector
    (no ResourceWarning), no deadline timer runs, every lookup slot is back."""
    context = trusted.server("127.0.0.1", "localhost")
    listener, filler, silent = full_listener()
    servers.append(good := Server(answer_jwks(context)))
    servers.append(stall := Server(until_closed))
    servers.append(partial := Server(relay(good, limit=60)))
    servers.append(untrusted := Server(answer_jwks(trusted.server("127.0.0.1", self_signed=True))))
    servers.append(reset := Server(after_hello("reset")))
    servers.append(closed := Server(after_hello("close")))
    dns.answer("nx.review9.test", error=socket.gaierror(socket.EAI_NONAME, "scripted"))
    dns.answer("empty.review9.test", "none")
    dns.answer("refusing.review9.test", "127.0.0.2", "127.0.0.3")
    dns.answer("slow.review9.test", delays=[0.6])
    urls = [
        "https://nx.review9.test/jwks.json", "https://empty.review9.test/jwks.json",
        f"https://refusing.review9.test:{silent}/jwks.json", closed_port_url(),
        f"https://127.0.0.1:{silent}/jwks.json", stall.url("https"), stall.url("http"),
        partial.url("https"), untrusted.url("https"), good.url("https", host="localhost"),
        reset.url("https"), closed.url("https"), "https://slow.review9.test/jwks.json",
        good.url("https"),
    ]  # fmt: skip
    timers_before = deadline_timers()
    try:
        gc.collect()
        before = open_fds()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for url in urls:
                for fetch in (get, post):
                    timed(lambda: fetch(url, 0.3))  # noqa: B023 - called at once
            gc.collect()
        after = settle(lambda: open_fds() > before and open_fds())
    finally:
        filler.close()
        listener.close()
    assert not after, f"{after - before} descriptors more than before the fetches"
    resource = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not resource
    assert not settle_timers(timers_before, wait=0.6)
    dns.release.set()
    assert not settle(lookup_threads)
    assert pending_lookups() == 0


class Interrupted(BaseException):
    """What a signal handler raises (as KeyboardInterrupt would)."""


@contextlib.contextmanager
def interrupted_after(seconds: float) -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
@pytest.mark.parametrize("where", ["starting_the_lookup", "sharing_a_pending_lookup"])
def test_an_interrupt_mid_fetch_leaks_no_lookup_and_no_timer(
    where: str, dns: ScriptedResolver
) -> None:
    """A BaseException (a signal handler's, as Ctrl-C's KeyboardInterrupt) while the fetch
    waits for its lookup, started by it or shared with earlier fetches: the one lookup
    ends when the resolver answers, and no deadline timer is left."""
    if where == "sharing_a_pending_lookup":
        hold_hung_lookups(dns)
    dns.answer(HUNG, delays=[None])
    timers_before = deadline_timers()
    started = time.monotonic()
    with pytest.raises(Interrupted), interrupted_after(0.15):
        get(f"https://{HUNG}/jwks.json", 5.0)
    assert time.monotonic() - started < 1.0
    assert not settle_timers(timers_before, wait=0.6)
    assert pending_lookups() == 1
    dns.release.set()
    assert not settle(lookup_threads)
    assert pending_lookups() == 0


# -- 8. many threads, several issuers, one hung resolver ------------------------------------------


def test_many_threads_refreshing_several_issuers_on_a_hung_resolver_are_all_bounded(
    dns: ScriptedResolver,
) -> None:
    """Six issuers' caches, whose names all hang, asked for keys by two threads each at
    once (timeout 0.3 s): every call ends within twice the timeout (one waits for the
    other's fetch), no more than the bound of lookup threads is ever alive, and once the
    resolver answers the slots all come back."""
    caches = []
    for n in range(6):
        dns.answer(f"idp{n}.review9.test", delays=[None])
        caches.append(JwksCache(f"https://idp{n}.review9.test/jwks.json", timeout=0.3))
    results: list[tuple[BaseException | None, float]] = []
    peak = 0

    def ask(cache: JwksCache) -> None:
        results.append(timed(lambda: cache.keys_for("k1")))

    threads = [threading.Thread(target=ask, args=(c,)) for c in caches for _ in range(2)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, len(lookup_threads()))
        time.sleep(0.005)
    assert len(results) == 12
    for error, elapsed in results:
        assert isinstance(error, KeysUnavailable), repr(error)
        assert elapsed < 2 * 0.3 + SLACK, f"{elapsed:.2f} s"
    causes = {c.last_failure for c in caches}
    assert causes <= {FetchCause("timeout", error="TimeoutError", document="jwks"),
                      FetchCause("timeout", document="jwks")}  # fmt: skip
    assert peak <= len(caches)  # one pending lookup per name, however many threads ask


def test_the_async_fetcher_is_not_held_by_pending_sync_lookups(
    dns: ScriptedResolver, servers: list[Server]
) -> None:
    pytest.importorskip("httpx")
    from secauth._fetch_async import fetch_json_async

    servers.append(server := Server(answer_jwks()))
    hold_hung_lookups(dns)
    policy = fetch_policy(timeout=1.0, allow_http=True)
    result = asyncio.run(fetch_json_async(server.url(), policy))
    assert result.document == {"keys": []}


def test_import_secauth_still_loads_no_fetch_machinery(tmp_path: Path) -> None:
    watched = ["secauth._fetch_connect", "secauth._fetch_deadline", "secauth._fetch",
               "threading", "socket", "ssl", "http.client"]  # fmt: skip
    code = ("import json, sys\nimport secauth\n"
            f"print(json.dumps([m for m in {watched!r} if m in sys.modules]))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path, timeout=60)  # fmt: skip
    assert json.loads(out.stdout) == []


def test_a_healthy_fetch_leaves_no_thread_behind(trusted: Pki, servers: list[Server]) -> None:
    servers.append(server := Server(answer_jwks(trusted.server("127.0.0.1", "localhost"))))
    timers_before = deadline_timers()
    for host in ("127.0.0.1", "localhost"):
        assert get(server.url("https", host=host), 2.0).document == {"keys": []}
        assert post(server.url("https", host=host), 2.0).document == {"keys": []}
    assert not settle(lookup_threads, wait=1.0)
    assert not settle_timers(timers_before, wait=0.6)
    assert pending_lookups() == 0
