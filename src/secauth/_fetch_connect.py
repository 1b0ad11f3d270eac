"""Opening the connection of one sync fetch (:mod:`secauth._fetch`) by its total deadline.

Bounded by the time left: the name lookup (a daemon thread, waited for only while time
is left; at most :data:`MAX_PENDING_LOOKUPS` pending at once, so a hung resolver cannot
pile up threads: a fetch waits for a free slot while it has time), connecting (each
address tried with the time left then), and the TLS handshake (run on ``conn.sock``,
which the deadline's timer shuts). No time left is a
TimeoutError; other failures are the socket's or the resolver's own errors. Imported
only when a fetch opens a connection (it loads http.client and ssl).
"""

from __future__ import annotations

import contextlib
import http.client
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
    "resolve",
]

#: Name lookups that may be pending at once in this process, those a fetch gave up
#: waiting for included: a hung resolver keeps each of their threads until it answers.
MAX_PENDING_LOOKUPS = 4
_PENDING = threading.BoundedSemaphore(MAX_PENDING_LOOKUPS)
LOOKUP_THREAD_NAME = "secauth-name-lookup"

# (family, type, proto, canonical name, address), as socket.getaddrinfo answers.
AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, Any]


def _time_left(deadline: FetchDeadline, doing: str) -> float:
    """The seconds ``deadline`` leaves; TimeoutError when none are left."""
    left = deadline.left()
    if left <= 0:
        raise TimeoutError(f"deadline exceeded {doing}")
    return left


def resolve(host: str, port: int, deadline: FetchDeadline) -> list[AddrInfo]:
    """The addresses of ``host`` (``socket.getaddrinfo``), looked up in a daemon thread
    and waited for while ``deadline`` leaves time. With :data:`MAX_PENDING_LOOKUPS`
    lookups pending, it waits for one to end first. TimeoutError when the time runs out."""
    if not _PENDING.acquire(timeout=_time_left(deadline, "before the name lookup")):
        raise TimeoutError("deadline exceeded waiting for a name lookup slot")
    answer: list[AddrInfo] = []
    failure: list[Exception] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            answer.extend(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
        except Exception as exc:  # handed to the fetch, if it still waits
            failure.append(exc)
        finally:
            _PENDING.release()
            done.set()

    thread = threading.Thread(target=lookup, name=LOOKUP_THREAD_NAME, daemon=True)
    try:
        thread.start()
    except RuntimeError:  # no thread could be started: the slot is not taken
        _PENDING.release()
        raise
    if not done.wait(max(deadline.left(), 0.0)):
        raise TimeoutError("deadline exceeded during the name lookup")
    if failure:
        raise failure[0]
    return answer


def open_socket(host: str, port: int, deadline: FetchDeadline) -> socket.socket:
    """A TCP socket connected to ``host``: its addresses are tried in turn, each with the
    time left then. Raises the last attempt's error when none connects, TimeoutError
    as soon as no time is left."""
    failure = OSError(f"no address for the name {host!r}")
    for family, kind, proto, _, address in resolve(host, port, deadline):
        left = _time_left(deadline, "while connecting")
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(left)
            sock.connect(address)
        except OSError as exc:
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
