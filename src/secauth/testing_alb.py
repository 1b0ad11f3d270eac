"""A local stand-in for an Application Load Balancer's OIDC tokens, for tests.

:class:`LocalAlb` mints ``x-amzn-oidc-data`` tokens as an ALB does (ES256, the claims in
the header, ``=``-padded base64url segments) and serves their public keys in PEM on
``127.0.0.1``, at ``{key_endpoint}/{kid}`` like the Region's key endpoint. Use it with
``allow_http=True``. Nothing here is meant for production.

Example
-------
>>> from secauth.alb import AlbVerifier
>>> with LocalAlb() as alb:
...     verifier = AlbVerifier(alb_arn=alb.arn, issuer=alb.issuer, client_id=alb.client_id,
...                            key_endpoint=alb.key_endpoint, allow_http=True)
...     claims = verifier.verify(alb.token(sub="alice", email="alice@example.com"))
>>> claims["email"]
'alice@example.com'
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

__all__ = ["LocalAlb", "padded_segment"]

DEFAULT_ARN = (
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/local/0123456789abcdef"
)


def padded_segment(value: Mapping[str, Any] | bytes) -> str:
    """base64url with ``=`` padding, as the ALB writes its token segments.

    >>> padded_segment(b"hi")
    'aGk='
    """
    raw = value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


class LocalAlb:
    """ALB-style tokens and a PEM key endpoint on loopback, with fault modes.

    Parameters
    ----------
    arn, issuer, client_id:
        What the tokens' ``signer``, ``iss`` and ``client`` header fields say.

    Notes
    -----
    Attributes you may set while it runs: ``mode`` (``"ok"``; ``"error"`` answers 503;
    ``"garbage"`` answers 200 with a body that is no key). ``fetches`` counts key
    requests, ``fetched`` lists the kids asked for. :meth:`rotate` signs with a new key
    from then on; :meth:`remove` stops serving one (404, as for an unknown kid).
    """

    def __init__(
        self,
        *,
        arn: str = DEFAULT_ARN,
        issuer: str = "https://idp.example.com",
        client_id: str = "local-client",
    ) -> None:
        self.arn, self.issuer, self.client_id = arn, issuer, client_id
        self._keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.kid = ""
        self.rotate()
        self.mode = "ok"
        self.fetches = 0
        self.fetched: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True

    def __enter__(self) -> LocalAlb:
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def key_endpoint(self) -> str:
        """The base URL of the keys (a key is at ``{key_endpoint}/{kid}``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/keys"

    def rotate(self, kid: str | None = None) -> str:
        """Sign with a new key from now on, under ``kid`` (default: a new UUID); the old
        keys stay served."""
        self.kid = kid or str(uuid.uuid4())
        self._keys[self.kid] = ec.generate_private_key(ec.SECP256R1())
        return self.kid

    def remove(self, kid: str) -> None:
        """Stop serving the key ``kid``."""
        self._keys.pop(kid, None)

    def signing_key(self, kid: str) -> ec.EllipticCurvePrivateKey:
        """The private key behind ``kid`` (to mint odd tokens in tests)."""
        return self._keys[kid]

    def pem(self, kid: str) -> bytes:
        """The public key ``kid`` in PEM (SubjectPublicKeyInfo), as the endpoint serves it."""
        return (
            self._keys[kid]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def token(
        self,
        *,
        headers: Mapping[str, Any] | None = None,
        lifetime: float = 120.0,
        kid: str | None = None,
        **claims: Any,
    ) -> str:
        """An ``x-amzn-oidc-data`` token: the header carries ``signer``, ``iss``,
        ``client`` and ``exp`` (``headers`` add to or override them, None removes one);
        ``claims`` are the payload (the user's claims)."""
        kid = kid or self.kid
        exp = int(time.time() + lifetime)
        header: dict[str, Any] = {
            "typ": "JWT",
            "kid": kid,
            "alg": "ES256",
            "iss": self.issuer,
            "client": self.client_id,
            "signer": self.arn,
            "exp": exp,
        }
        header.update(headers or {})
        header = {name: value for name, value in header.items() if value is not None}
        signing_input = f"{padded_segment(header)}.{padded_segment(claims)}"
        der = self._keys[kid].sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{padded_segment(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def _answer(self, path: str) -> tuple[int, bytes]:
        kid = path.removeprefix("/keys/")
        with self._lock:
            self.fetches += 1
            self.fetched.append(kid)
        if self.mode == "error":
            return 503, b"service unavailable"
        if self.mode == "garbage":
            return 200, b"<html>no key here</html>"
        if not path.startswith("/keys/") or kid not in self._keys:
            return 404, b"not found"
        return 200, self.pem(kid)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        alb = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = alb._answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/x-pem-file")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
