"""Opening the connection of one sync fetch (:mod:`secauth._fetch`) by its total deadline.

Bounded by the time left: the name lookup (a daemon thread, waited for only while time
is left; fetches of one name share its lookup, and at most :data:`MAX_PENDING_LOOKUPS`
names are pending at once, so a hung resolver cannot pile up threads), connecting (each
address tried with the time left then), and the TLS handshake (run on ``conn.sock``,
which the deadline's timer shuts). No time left is a
TimeoutError; other failures are the socket's or the resolver's own errors. Imported
only when a fetch opens a connection (it loads http.client and ssl).
"""

from __future__ import annotations

import contextlib
import copy
import http.client
import os
import socket
import ssl
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from secauth._fetch_deadline import FetchDeadline

__all__ = [
    "LOOKUP_THREAD_NAME",
    "MAX_PENDING_LOOKUPS",
    "DeadlineHTTPConnection",
    "DeadlineHTTPSConnection",
    "open_socket",
    "pending_lookups",
    "resolve",
]

#: Distinct names whose lookups may be pending at once in this process, those a fetch gave
#: up waiting for included (a hung resolver keeps each thread until it answers). Fetches
#: of one name and port share its pending lookup, so a hung name holds one thread.
MAX_PENDING_LOOKUPS = 32
LOOKUP_THREAD_NAME = "secauth-name-lookup"

# (family, type, proto, canonical name, address), as socket.getaddrinfo answers.
AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, Any]


class _Lookup:
    """One pending ``getaddrinfo``, shared by every fetch of the same name and port."""

    __slots__ = ("answer", "done", "failure")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: list[AddrInfo] = []
        self.failure: Exception | None = None


_lock = threading.Lock()
_pending: dict[tuple[str, int], _Lookup] = {}


def _forget_pending_lookups() -> None:
    """In a forked child: the parent's lookup threads are not there to end theirs."""
    global _lock, _pending
    _lock, _pending = threading.Lock(), {}


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_pending_lookups)


def pending_lookups() -> int:
    """How many names' lookups are pending now."""
    with _lock:
        return len(_pending)


def _time_left(deadline: FetchDeadline, doing: str) -> float:
    """The seconds ``deadline`` leaves; TimeoutError when none are left."""
    left = deadline.left()
    if left <= 0:
        raise TimeoutError(f"deadline exceeded {doing}")
    return left


def resolve(host: str, port: int, deadline: FetchDeadline) -> list[AddrInfo]:
    """The addresses of ``host`` (``socket.getaddrinfo``). An IP address is read here; a
    name is looked up in a daemon thread (shared by concurrent fetches of the same name
    and port) and waited for while ``deadline`` leaves time. TimeoutError when the time
    runs out, or at once when :data:`MAX_PENDING_LOOKUPS` other names are pending."""
    left = _time_left(deadline, "before the name lookup")
    if _is_ip_address(host):  # no resolver involved
        numeric: list[AddrInfo] = []
        numeric.extend(
            socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
        )
        return numeric
    lookup = _shared_lookup(host, port)
    if not lookup.done.wait(left):
        raise TimeoutError("deadline exceeded during the name lookup")
    if lookup.failure is not None:  # each waiting fetch raises its own copy
        raise copy.copy(lookup.failure).with_traceback(None)
    return lookup.answer


def _is_ip_address(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except (OSError, ValueError):
            pass
    return False


def _shared_lookup(host: str, port: int) -> _Lookup:
    """The pending lookup of ``host`` and ``port``, started now when there is none."""
    key = (host, port)
    with _lock:
        lookup = _pending.get(key)
        if lookup is not None:
            return lookup
        if len(_pending) >= MAX_PENDING_LOOKUPS:
            raise TimeoutError("too many name lookups pending (is the resolver hung?)")
        lookup = _pending[key] = _Lookup()
    thread = threading.Thread(
        target=_look_up, args=(key, lookup), name=LOOKUP_THREAD_NAME, daemon=True
    )
    try:
        thread.start()
    except RuntimeError as exc:  # no thread could be started: nothing is pending
        lookup.failure = exc  # what a fetch that joined meanwhile reports
        _end(key, lookup)
        raise
    return lookup


def _look_up(key: tuple[str, int], lookup: _Lookup) -> None:
    try:
        lookup.answer.extend(socket.getaddrinfo(key[0], key[1], 0, socket.SOCK_STREAM))
    except Exception as exc:  # handed to the fetches still waiting
        lookup.failure = exc
    finally:
        _end(key, lookup)


def _end(key: tuple[str, int], lookup: _Lookup) -> None:
    with _lock:
        if _pending.get(key) is lookup:
            del _pending[key]
    lookup.done.set()


def open_socket(host: str, port: int, deadline: FetchDeadline) -> socket.socket:
    """A TCP socket connected to ``host``: its addresses are tried in turn, each with the
    time left then. Raises the last attempt's error when none connects, TimeoutError
    as soon as no time is left."""
    failure = OSError(f"no address for the name {host!r}")
    for family, kind, proto, _, address in resolve(host, port, deadline):
        left = _time_left(deadline, "while connecting")
        sock = None
        try:
            sock = socket.socket(family, kind, proto)  # a family this host lacks: the next
            sock.settimeout(left)
            sock.connect(address)
        except OSError as exc:
            if sock is not None:
                sock.close()
            failure = exc
            continue
        with contextlib.suppress(OSError):  # as http.client: not every system has it
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise failure


class DeadlineHTTPConnection(http.client.HTTPConnection):
    """An ``HTTPConnection`` whose connect() (lookup and connecting) ends by ``deadline``."""

    def __init__(self, host: str, port: int, deadline: FetchDeadline) -> None:
        super().__init__(host, port, timeout=deadline.left())
        self.deadline = deadline

    def connect(self) -> None:
        sys.audit("http.client.connect", self, self.host, self.port)
        self.sock = open_socket(self.host, self.port, self.deadline)


class DeadlineHTTPSConnection(http.client.HTTPSConnection):
    """An ``HTTPSConnection`` whose connect() (lookup, connecting and the TLS handshake)
    ends by ``deadline``. The certificate and the host name are checked by ``context``,
    with the same ``server_hostname`` http.client gives it."""

    def __init__(
        self, host: str, port: int, deadline: FetchDeadline, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=deadline.left(), context=context)
        self.deadline = deadline
        self.tls_context = context

    def connect(self) -> None:
        sys.audit("http.client.connect", self, self.host, self.port)
        # Each socket is conn.sock as soon as it exists: the deadline's timer shuts
        # conn.sock, so a handshake the server trickles is cut at the deadline.
        self.sock = open_socket(self.host, self.port, self.deadline)
        tls = self.tls_context.wrap_socket(
            self.sock, server_hostname=self.host, do_handshake_on_connect=False
        )
        self.sock = tls
        tls.settimeout(_time_left(self.deadline, "before the TLS handshake"))
        tls.do_handshake()
