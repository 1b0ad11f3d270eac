"""``FetchDeadline``: the total deadline of one sync fetch (:mod:`secauth._fetch`).

Socket timeouts count per read: a server that sends a byte at a time never trips one.
A timer shuts the watched connection's socket at the deadline instead, so the read it
is in fails then, whatever the server does. A connection still opening has no socket
yet (its name lookup and connect end by the deadline on their own,
:mod:`secauth._fetch_connect`): the timer looks again until it has one, and shuts it,
TLS handshake under way included. Once a request is sent, its socket is held: the
response may own it alone by then.

>>> deadline = FetchDeadline(5.0)
>>> 0 < deadline.left() <= 5.0, deadline.passed
(True, False)
>>> deadline.cancel()
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["FetchDeadline"]

_RETRY_S = 0.02  # how soon to look again for the socket of a connection still opening


class FetchDeadline:
    """``seconds`` from now; :meth:`watch` the connection a fetch is using, and
    :meth:`cancel` when the fetch is over."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        #: True once the deadline passed (the watched connection is then shut).
        self.passed = False
        self._conn: Any = None
        self._held: Any = None
        self._over = False
        self._arm(seconds)

    def left(self) -> float:
        """Seconds left (0 or less once passed)."""
        return 0.0 if self.passed else self.at - time.monotonic()

    def watch(self, conn: Any) -> Any:
        """``conn``, shut if it is still open at the deadline."""
        self._conn = conn
        return conn

    def hold(self, sock: Any) -> None:
        """Shut ``sock`` at the deadline, whatever the watched connection holds by then
        (http.client hands the socket of an answer that will close to the response)."""
        self._held = sock

    def cancel(self) -> None:
        """The fetch is over: shut nothing."""
        self._over = True
        self._timer.cancel()

    def _arm(self, seconds: float) -> None:
        import threading

        self._timer = threading.Timer(seconds, self._shut)
        self._timer.daemon = True
        self._timer.start()

    def _shut(self) -> None:
        import socket

        if self._over:
            return
        self.passed = True
        sock = self._held if self._held is not None else getattr(self._conn, "sock", None)
        if sock is not None:
            try:
                # The descriptor itself: a TLS socket's own shutdown() would also drop its
                # TLS state, under a handshake or read another thread is about to run.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
                return
            except OSError:
                pass  # closed, or detached by the TLS socket that is wrapping it
        # No socket to shut yet (looking the name up, connecting, or wrapping the socket
        # for TLS): look again until the fetch is over.
        self._arm(_RETRY_S)
