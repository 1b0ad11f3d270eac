"""A real authorization server for the introspection tests: panva's oidc-provider (npm) on
127.0.0.1, started from tests/fixtures/oidc_provider.mjs, plus a counting proxy in front of
its endpoints that can also be told to misbehave (a status, a redirect, a slow, oversized
or malformed answer) to test failure modes against real HTTP.

oidc-provider is installed by ``scripts/services-install.sh`` (``make services-deps``).
When it is missing, tests skip with the reason, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
import shutil
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from rl_services import stop_process

from secauth.client_auth import ClientAuth
from secauth.testing import KeyPair

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "fixtures" / "oidc_provider.mjs"
SERVICES = Path(os.environ.get("SECAUTH_SERVICES_CACHE", ROOT / ".cache" / "services"))
PACKAGE = SERVICES / "node_modules" / "oidc-provider" / "package.json"
ORDERS = "urn:secauth:orders"
SHORT = "urn:secauth:short"
SHORT_TTL = 2


def missing() -> str | None:
    """Why oidc-provider cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not on PATH (oidc-provider needs node >= 20)"
    if not PACKAGE.is_file():
        return f"oidc-provider is not installed in {SERVICES}"
    return None


def start_node_script(script: Path, config: str) -> tuple[subprocess.Popen[bytes], Any]:
    """Run a tests/fixtures node script that prints one JSON line once it listens: the
    process and that line, parsed."""
    env = dict(os.environ, SECAUTH_SERVICES_CACHE=str(SERVICES), NODE_ENV="test")
    proc = subprocess.Popen(
        ["node", str(script), config],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        stop_process(proc)
        raise RuntimeError(f"{script.name} exited before listening")
    return proc, json.loads(line)


class OidcProvider:
    """oidc-provider on a loopback port, with three clients (one per auth method)."""

    def __init__(self) -> None:
        self.secret = secrets.token_urlsafe(32)
        self.pair = KeyPair.generate("ES256", kid="client-key-1")
        self.proc: subprocess.Popen[bytes] | None = None
        self.issuer = ""
        self.port = 0
        self.token_requests = 0

    def start(self) -> OidcProvider:
        jwk = dict(self.pair.public_jwk, alg="ES256", use="sig")
        config = json.dumps({"secret": self.secret, "jwk": jwk, "short_ttl": SHORT_TTL})
        self.proc, ready = start_node_script(SCRIPT, config)
        self.port, self.issuer = int(ready["port"]), ready["issuer"]
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc)

    # -- clients --------------------------------------------------------------------------

    def client(self, method: str) -> ClientAuth:
        if method == "client_secret_basic":
            return ClientAuth.basic("basic-client", self.secret)
        if method == "client_secret_post":
            return ClientAuth.post("post-client", self.secret)
        key = self.pair.private_key
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return ClientAuth.private_key_jwt("jwt-client", key, kid=self.pair.kid)

    # -- tokens ---------------------------------------------------------------------------

    def _post(self, path: str, form: dict[str, str]) -> tuple[int, bytes]:
        basic = base64.b64encode(f"basic-client:{self.secret}".encode()).decode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(
                "POST",
                path,
                body=urllib.parse.urlencode(form),
                headers={
                    "Authorization": f"Basic {basic}",
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            )
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def mint(self, *, resource: str = ORDERS, scope: str = "orders.read") -> str:
        """A new opaque access token (client_credentials grant of basic-client)."""
        form = {"grant_type": "client_credentials", "scope": scope, "resource": resource}
        status, body = self._post("/token", form)
        assert status == 200, body
        token = json.loads(body)["access_token"]
        assert isinstance(token, str)
        assert "." not in token
        return token

    def revoke(self, token: str) -> None:
        """Revoke ``token`` at the authorization server (RFC 7009)."""
        status, body = self._post("/token/revocation", {"token": token})
        assert status == 200, body


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (a deadline test) is expected here


class Proxy:
    """A loopback HTTP proxy in front of the authorization server: counts the requests per
    path and, when ``mode`` is set, answers instead of forwarding:

    ``"status:NNN"``, ``"redirect"``, ``"slow"`` (sleeps past any client deadline),
    ``"huge"`` (a 1 MiB body), or ``"body:<text>"`` (200 with that JSON text).
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode: str | None = None
        self.counts: dict[str, int] = {}
        self.bodies: list[bytes] = []  # every request body, to check what was sent
        self._lock = threading.Lock()
        self.server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def introspection_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/token/introspection"

    def count(self, path: str = "/token/introspection") -> int:
        return self.counts.get(path, 0)

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.bodies.clear()
        self.mode = None

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                path = self.path.split("?")[0]
                with proxy._lock:
                    proxy.counts[path] = proxy.counts.get(path, 0) + 1
                    proxy.bodies.append(body)
                mode = proxy.mode
                if mode is None:
                    self._forward(body)
                else:
                    self._fault(mode)

            def _forward(self, body: bytes) -> None:
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                try:
                    conn.request("POST", self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                    self._answer(response.status, data, response.getheader("Content-Type"))
                finally:
                    conn.close()

            def _fault(self, mode: str) -> None:
                if mode.startswith("status:"):
                    self._answer(int(mode[7:]), b'{"error":"server_error"}')
                elif mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", "/elsewhere")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif mode == "slow":
                    time.sleep(1.5)
                    self._answer(200, b'{"active": true}')
                elif mode == "huge":
                    self._answer(200, b'{"active": true, "x": "' + b"a" * (1 << 20) + b'"}')
                elif mode.startswith("body:"):
                    self._answer(200, mode[5:].encode())

            def _answer(self, status: int, data: bytes, content_type: str | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type or "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (a deadline): nothing to tell it
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
