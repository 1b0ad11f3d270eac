"""A scripted RFC 7662 authorization server on loopback: a real HTTP server whose answer
to each token a test chooses (``ScriptedAS``), for the introspection tests. Its fixtures
(``scripted``) are in ``tests/conftest.py``. The reviews' tests share its issuer, an
opaque token maker, an active answer and a verifier of it (``opaque``, ``active``,
``introspector``)."""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class ScriptedAS:
    """POST: the scripted answer for the form's token (else ``default``); GET: the
    discovery document in ``discovery``. Records every request."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        self.default: tuple[int, bytes, dict[str, str]] = (200, b'{"active": false}', {})
        self.discovery: dict[str, Any] = {}
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.server = _Quiet(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.origin + "/introspect"

    def answer(self, token: str, body: Any, status: int = 200, **headers: str) -> None:
        """Answer ``token`` so (``Location=...``: extra response headers, ``_`` for ``-``)."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.answers[token] = (status, raw, headers)

    def reset(self) -> None:
        """No answers, requests, discovery document or delay: the fresh server's state."""
        with self._lock:
            self.answers.clear()
            self.requests.clear()
        self.default = (200, b'{"active": false}', {})
        self.discovery = {}
        self.delay = 0.0

    def count(self, path: str | None = "/introspect", *, token: str | None = None) -> int:
        """Requests to ``path`` (None: any), of ``token`` when given."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (path is None or r["path"] == path)
                and (token is None or r.get("form", {}).get("token") == token)
            )

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with owner._lock:
                    owner.requests.append({"path": self.path, "headers": dict(self.headers)})
                self._send(200, json.dumps(owner.discovery).encode(), {})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                form = dict(urllib.parse.parse_qsl(body.decode()))
                with owner._lock:
                    owner.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "form": form}
                    )
                if owner.delay:
                    time.sleep(owner.delay)
                self._send(*owner.answers.get(form.get("token", ""), owner.default))

            def _send(self, status: int, raw: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    for name, value in headers.items():
                        self.send_header(name.replace("_", "-"), value)
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def concurrent_outcomes(verify: Any, token: str, threads: int) -> list[str]:
    """``verify(token)`` in ``threads`` threads started together: each one's outcome,
    ``"allowed"``, ``"503"`` (KeysUnavailable) or the name of another exception."""
    from secauth.errors import KeysUnavailable

    outcomes: list[str] = []
    barrier = threading.Barrier(threads)

    def worker() -> None:
        barrier.wait()
        try:
            verify(token)
            outcomes.append("allowed")
        except KeysUnavailable:
            outcomes.append("503")
        except Exception as exc:
            outcomes.append(type(exc).__name__)

    started = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(10)
    return outcomes


ISS, AUD = "https://as.example.com", "urn:example:orders"
CLIENT_ID, CLIENT_SECRET = "orders-api", "s3cret-" + secrets.token_hex(12)


def opaque() -> str:
    """A fresh opaque token."""
    return "op" + secrets.token_urlsafe(24)


def active(now: float, **over: Any) -> dict[str, Any]:
    """An active answer for ``ann`` of client ``web`` at ``now``; ``over`` changes members
    (None removes one)."""
    answer: dict[str, Any] = {
        "active": True, "iss": ISS, "aud": AUD, "sub": "ann", "client_id": "web",
        "scope": "orders.read", "token_type": "Bearer", "exp": int(now) + 3600,
        "iat": int(now) - 5,
    }  # fmt: skip
    answer.update(over)
    return {k: v for k, v in answer.items() if v is not None}


def introspector(server: Any, **options: Any) -> Any:
    """An ``IntrospectionVerifier`` of ``server`` (anything with a ``url``) for ``ISS``."""
    from secauth.client_auth import ClientAuth
    from secauth.introspection import IntrospectionVerifier

    options.setdefault("client", ClientAuth.basic(CLIENT_ID, CLIENT_SECRET))
    options.setdefault("issuer", ISS)
    options.setdefault("audience", AUD)
    return IntrospectionVerifier(endpoint=server.url, allow_http=True, **options)
