"""``Hostile``: a raw TCP server on loopback whose script writes whatever bytes it likes to each
connection (reviews 142, 143 and 144); ``hostile_servers()`` starts any number and stops them all
(the body of each file's ``serve`` fixture); scripts (``answering``, ``flooding``, ``trickling``,
``hanging``) and ``response`` to write an answer; ``bounded`` runs a call that may hang."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

BOUND_S = 8.0  # the loose upper bound of any one fetch here (the timeouts are 0.5 to 1 s)

Script = Callable[[socket.socket, bytes], None]


class Hostile:
    """A raw TCP server on 127.0.0.1: each connection's request head (and a form body, if
    any) is read, then ``script(conn, head)`` writes whatever it likes; ``connections``
    counts the connections accepted."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.heads: list[bytes] = []
        self.stopping = threading.Event()
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:  # the accept timeout, or closed by stop()
                continue
            with self._lock:
                self.connections += 1
                self._open.append(conn)
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = conn.recv(4096)
                if not data:
                    break
                head += data
            with self._lock:
                self.heads.append(head)
            self.script(conn, head)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        """Stop accepting and cut every connection (a script still writing then fails)."""
        self.stopping.set()
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(2)


@contextlib.contextmanager
def hostile_servers() -> Iterator[Callable[[Script], Hostile]]:
    """A ``start(script)`` that starts a ``Hostile`` server; every one started is stopped on
    leaving."""
    started: list[Hostile] = []

    def start(script: Script) -> Hostile:
        server = Hostile(script)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


def response(status: int, body: bytes = b"", *headers: str, reason: str = "X") -> bytes:
    """An HTTP/1.1 answer with a Content-Length (unless one is among ``headers``)."""
    lines = [f"HTTP/1.1 {status} {reason}", *headers]
    if not any(h.lower().startswith(("content-length:", "transfer-encoding:")) for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def answering(data: bytes | Callable[[], bytes]) -> Script:
    def script(conn: socket.socket, head: bytes) -> None:
        conn.sendall(data() if callable(data) else data)

    return script


def flooding(first: bytes, unit: bytes) -> Script:
    """``first``, then ``unit`` as fast as the client reads, until the server stops."""

    def script(conn: socket.socket, head: bytes) -> None:
        conn.sendall(first)
        while True:
            conn.sendall(unit)

    return script


def trickling(first: bytes, unit: bytes = b" ", gap: float = 0.1) -> Script:
    """``first``, then one ``unit`` per ``gap`` seconds, until the server stops."""

    def script(conn: socket.socket, head: bytes) -> None:
        conn.sendall(first)
        while True:
            conn.sendall(unit)
            time.sleep(gap)

    return script


def hanging(conn: socket.socket, head: bytes) -> None:
    """Read the request, answer nothing, hold the connection until the server stops."""
    conn.settimeout(None)
    while conn.recv(4096):
        pass


def bounded(work: Callable[[], Any], seconds: float = BOUND_S) -> tuple[bool, Any]:
    """Run ``work`` in a daemon thread: (whether it ended within ``seconds``, its result or
    the exception it raised). A hung call is left to end once its server stops."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["out"] = work()
        except BaseException as exc:
            box["out"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive(), box.get("out")
