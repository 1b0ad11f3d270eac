"""``DiscoveryServer``: an OIDC discovery document on loopback whose ``jwks_uri``, named
``issuer_named`` (its own issuer when None), HTTP ``status`` and ``extra`` members the test
sets between fetches; ``fetches`` counts the requests (reviews 122, 124, 126, 133), with
``discovery_homes`` and ``spoil`` for the tests of the JWKS cache's discovery fallback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from secauth.testing import LocalIssuer


class DiscoveryServer:
    """Serves ``{"issuer": ..., "jwks_uri": ..., **extra}`` at any path; ``issuer`` is its
    own origin, ``url`` its discovery URL."""

    def __init__(self, jwks_uri: str = "") -> None:
        self.jwks_uri = jwks_uri
        self.issuer_named: str | None = None
        self.status = 200
        self.extra: dict[str, Any] = {}
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                named = outer.issuer_named or outer.issuer
                document = {"issuer": named, "jwks_uri": outer.jwks_uri, **outer.extra}
                body = json.dumps(document).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        host, port = self.server.server_address[:2]
        self.issuer = f"http://{host!s}:{port}"
        self.url = f"{self.issuer}/.well-known/openid-configuration"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def discovery_homes() -> Iterator[tuple[DiscoveryServer, LocalIssuer, LocalIssuer]]:
    """A discovery document naming ``home``'s JWKS, and ``other``, an issuer signing with a
    kid ``home`` does not publish (reviews 126 and 133)."""
    with LocalIssuer(algs=("ES256",)) as home, LocalIssuer(algs=("ES256",)) as other:
        discovery = DiscoveryServer(home.jwks_uri)
        other.rotate()
        try:
            yield discovery, home, other
        finally:
            discovery.stop()


def spoil(discovery: DiscoveryServer, how: str, other: LocalIssuer) -> None:
    """Make the discovery document bad in one of the three ways the JWKS cache falls back
    on: ``outage`` (HTTP 500), ``wrong_issuer`` (another issuer, ``other``'s JWKS) or
    ``refused_url`` (plain http off loopback)."""
    if how == "outage":
        discovery.status = 500
    elif how == "wrong_issuer":
        discovery.issuer_named = "https://evil.example/"
        discovery.jwks_uri = other.jwks_uri
    else:
        discovery.jwks_uri = "http://evil.example.net/jwks.json"
