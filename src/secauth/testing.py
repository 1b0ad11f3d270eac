"""Helpers for testing code that uses secauth: key pairs, token minting, a local issuer.

Nothing here is meant for production. :class:`LocalIssuer` serves an OIDC
discovery document and a JWKS over plain HTTP on loopback, so use it with
``allow_http=True``.

Example
-------
>>> from secauth import JwtVerifier
>>> with LocalIssuer() as idp:
...     verifier = JwtVerifier(issuer=idp.issuer, audience="api", jwks_uri=idp.jwks_uri,
...                            allow_http=True)
...     claims = verifier.verify(idp.token(sub="alice", aud="api"))
>>> claims["sub"]
'alice'
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from secauth._b64 import b64url_encode

__all__ = ["KeyPair", "LocalIssuer", "encode_segment", "sign_compact"]

PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)

_EC = {
    "ES256": (ec.SECP256R1, "P-256", 32),
    "ES384": (ec.SECP384R1, "P-384", 48),
    "ES512": (ec.SECP521R1, "P-521", 66),
}
_HASH: dict[str, hashes.HashAlgorithm] = {
    "256": hashes.SHA256(),
    "384": hashes.SHA384(),
    "512": hashes.SHA512(),
}


def encode_segment(value: Mapping[str, Any] | bytes) -> str:
    """base64url of compact JSON (or of raw bytes), as used in a compact JWS.

    >>> encode_segment({"alg": "none"})
    'eyJhbGciOiJub25lIn0'
    """
    raw = value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()
    return b64url_encode(raw)


def _int_bytes(value: int, size: int | None = None) -> bytes:
    return value.to_bytes(size or max(1, (value.bit_length() + 7) // 8), "big")


@dataclass
class KeyPair:
    """A signing key and its public JWK, for tests.

    >>> pair = KeyPair.generate("RS256", kid="k1")
    >>> pair.public_jwk["kty"], pair.public_jwk["alg"], pair.public_jwk["kid"]
    ('RSA', 'RS256', 'k1')
    """

    alg: str
    kid: str | None
    private_key: PrivateKey | bytes = field(repr=False)
    public_jwk: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def generate(
        cls,
        alg: str = "RS256",
        *,
        kid: str | None = None,
        rsa_bits: int = 2048,
        include_alg: bool = True,
    ) -> KeyPair:
        """Make a fresh key pair for ``alg`` (RS*, PS*, ES*, EdDSA/Ed25519/Ed448, HS*)."""
        private: PrivateKey | bytes
        if alg[:2] in ("RS", "PS"):
            private = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
            nums = private.public_key().public_numbers()
            jwk: dict[str, Any] = {
                "kty": "RSA",
                "n": b64url_encode(_int_bytes(nums.n)),
                "e": b64url_encode(_int_bytes(nums.e)),
            }
        elif alg in _EC:
            curve, crv, size = _EC[alg]
            private = ec.generate_private_key(curve())
            pub = private.public_key().public_numbers()
            jwk = {
                "kty": "EC",
                "crv": crv,
                "x": b64url_encode(_int_bytes(pub.x, size)),
                "y": b64url_encode(_int_bytes(pub.y, size)),
            }
        elif alg in ("EdDSA", "Ed25519"):
            private = ed25519.Ed25519PrivateKey.generate()
            jwk = {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64url_encode(private.public_key().public_bytes_raw()),
            }
        elif alg == "Ed448":
            private = ed448.Ed448PrivateKey.generate()
            jwk = {
                "kty": "OKP",
                "crv": "Ed448",
                "x": b64url_encode(private.public_key().public_bytes_raw()),
            }
        elif alg.startswith("HS"):
            import secrets

            private = secrets.token_bytes(int(alg[2:]) // 8)
            jwk = {"kty": "oct"}
        else:
            raise ValueError(f"unsupported algorithm {alg!r}")
        jwk["use"] = "sig"
        if include_alg:
            jwk["alg"] = alg
        if kid is not None:
            jwk["kid"] = kid
        return cls(alg=alg, kid=kid, private_key=private, public_jwk=jwk)

    def sign(
        self,
        claims: Mapping[str, Any],
        *,
        headers: Mapping[str, Any] | None = None,
        alg: str | None = None,
    ) -> str:
        """Mint a compact JWS over ``claims``; ``headers`` add to or override the defaults."""
        header: dict[str, Any] = {"alg": alg or self.alg, "typ": "JWT"}
        if self.kid is not None:
            header["kid"] = self.kid
        header.update(headers or {})
        header = {k: v for k, v in header.items() if v is not None}
        return sign_compact(header, encode_segment(claims), self.private_key, alg or self.alg)


def sign_compact(
    header: Mapping[str, Any], payload_segment: str, key: PrivateKey | bytes, alg: str
) -> str:
    """Sign ``header``.``payload_segment`` with ``key`` under ``alg`` (any header goes)."""
    signing_input = f"{encode_segment(header)}.{payload_segment}"
    return f"{signing_input}.{b64url_encode(_raw_signature(key, alg, signing_input.encode()))}"


def _raw_signature(key: PrivateKey | bytes, alg: str, data: bytes) -> bytes:
    if isinstance(key, bytes):
        mac = hmac.HMAC(key, _HASH[alg[2:]])
        mac.update(data)
        return mac.finalize()
    if isinstance(key, rsa.RSAPrivateKey):
        h = _HASH[alg[2:]]
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
            if alg.startswith("PS")
            else padding.PKCS1v15()
        )
        return key.sign(data, pad, h)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = (key.curve.key_size + 7) // 8
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(_HASH[alg[2:]])))
        return _int_bytes(r, size) + _int_bytes(s, size)
    return key.sign(data)


# --- a local issuer on loopback ----------------------------------------------------------


class LocalIssuer:
    """An OIDC issuer on ``127.0.0.1`` serving discovery and a JWKS, with fault modes.

    Parameters
    ----------
    algs:
        One signing key is generated per algorithm, with kids ``key-1``, ``key-2``...

    Notes
    -----
    Attributes you may set while it runs: ``mode`` (``"ok"``, ``"slow"``, ``"error"``,
    ``"garbage"``, ``"oversized"``, ``"redirect"``, ``"redirect_same_host"``),
    ``delay`` (seconds, for ``"slow"``), ``cache_control`` (a header value or None),
    ``jwks_override`` (any JSON value, served instead of the key set when not None),
    ``redirect_to`` (the ``Location`` sent in ``"redirect"`` mode).
    ``fetches`` counts JWKS requests; ``discovery_fetches`` the discovery ones;
    ``last_headers`` holds the request headers of the latest request.

    Example
    -------
    >>> with LocalIssuer(algs=("ES256",)) as idp:
    ...     token = idp.token(sub="bob", aud="api")
    ...     new_key = idp.rotate()            # new key; the old one stays published
    ...     idp.remove(idp.keys[0].kid)       # now the first key is gone
    """

    def __init__(self, algs: tuple[str, ...] = ("RS256",), *, issuer_path: str = "") -> None:
        self._counter = 0
        self.keys: list[KeyPair] = [self._new_key(alg) for alg in algs]
        self.mode = "ok"
        self.delay = 0.0
        self.cache_control: str | None = None
        self.fetches = 0
        self.discovery_fetches = 0
        self.discovery_issuer: str | None = None
        self.jwks_override: Any = None
        self.redirect_to = "http://127.0.0.2:9/jwks.json"
        self.last_headers: dict[str, str] = {}
        self._issuer_path = issuer_path
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> LocalIssuer:
        # A short poll interval makes stop() return in ~50 ms instead of ~500 ms.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def issuer(self) -> str:
        return f"{self.base_url}{self._issuer_path}"

    @property
    def jwks_uri(self) -> str:
        return f"{self.base_url}/jwks.json"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    # -- keys and tokens ------------------------------------------------------------------

    def _new_key(self, alg: str) -> KeyPair:
        self._counter += 1
        return KeyPair.generate(alg, kid=f"key-{self._counter}")

    @property
    def key(self) -> KeyPair:
        """The current signing key (the last one added)."""
        return self.keys[-1]

    def rotate(self, alg: str | None = None) -> KeyPair:
        """Publish a new key and sign with it from now on; older keys stay published."""
        pair = self._new_key(alg or self.key.alg)
        with self._lock:
            self.keys.append(pair)
        return pair

    def remove(self, kid: str | None) -> None:
        """Stop publishing the key ``kid``."""
        with self._lock:
            self.keys = [k for k in self.keys if k.kid != kid]

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [dict(k.public_jwk) for k in self.keys]}

    def token(
        self,
        *,
        key: KeyPair | None = None,
        headers: Mapping[str, Any] | None = None,
        lifetime: float = 300.0,
        **claims: Any,
    ) -> str:
        """Mint a token from this issuer: ``iss``, ``iat`` and ``exp`` are filled in unless given."""
        now = int(time.time())
        body: dict[str, Any] = {"iss": self.issuer, "iat": now, "exp": now + int(lifetime)}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return (key or self.key).sign(body, headers=headers)

    # -- HTTP -----------------------------------------------------------------------------

    def _document(self, path: str) -> tuple[int, dict[str, str], bytes]:
        if path == "/jwks.json":
            with self._lock:
                self.fetches += 1
            override = self.jwks_override
            document = self.jwks() if override is None else override
            return self._faulty(json.dumps(document).encode())
        if path == f"{self._issuer_path}/.well-known/openid-configuration":
            with self._lock:
                self.discovery_fetches += 1
            doc = {
                "issuer": self.discovery_issuer or self.issuer,
                "jwks_uri": self.jwks_uri,
                "id_token_signing_alg_values_supported": sorted({k.alg for k in self.keys}),
            }
            return self._faulty(json.dumps(doc).encode())
        if path == "/moved.json":
            return 200, {"Content-Type": "application/json"}, json.dumps(self.jwks()).encode()
        return 404, {}, b"not found"

    def _faulty(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": "application/json"}
        if self.cache_control:
            headers["Cache-Control"] = self.cache_control
        mode = self.mode
        if mode == "slow":
            time.sleep(self.delay)
        elif mode == "error":
            return 500, {}, b"internal error"
        elif mode == "garbage":
            return 200, headers, b"<html>not json</html>"
        elif mode == "oversized":
            return 200, headers, b'{"keys": [], "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
        elif mode == "redirect":
            return 302, {"Location": self.redirect_to}, b""
        elif mode == "redirect_same_host":
            return 302, {"Location": f"{self.base_url}/moved.json"}, b""
        return 200, headers, body

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.last_headers = dict(self.headers.items())
                status, headers, body = issuer._document(self.path.split("?")[0])
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of a public JWK, handy as a kid in tests."""
    required = {
        "RSA": ("e", "kty", "n"),
        "EC": ("crv", "kty", "x", "y"),
        "OKP": ("crv", "kty", "x"),
    }
    members = {k: jwk[k] for k in required[str(jwk["kty"])]}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode())
    return b64url_encode(digest.digest())
