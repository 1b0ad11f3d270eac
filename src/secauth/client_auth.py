"""``ClientAuth``: how secauth authenticates itself to an authorization server's endpoint
(token introspection): ``client_secret_basic``, ``client_secret_post`` (RFC 6749 2.3.1) or
``private_key_jwt`` (RFC 7523 2.2, a client assertion signed with a key you supply).

The secret and the key never appear in ``repr``, a log, a record or an error.

>>> auth = ClientAuth.basic("orders-api", "s3cret-value")
>>> auth
ClientAuth(method='client_secret_basic', client_id='orders-api')
>>> auth.credentials(audience="https://idp.example.com")
({'Authorization': 'Basic b3JkZXJzLWFwaTpzM2NyZXQtdmFsdWU='}, {})
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

from secauth._b64 import b64url_encode
from secauth.errors import ConfigurationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = ["ClientAuth", "Method"]

Method = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_EC_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")


class ClientAuth:
    """Client credentials for one authorization server. Build one with :meth:`basic`,
    :meth:`post` or :meth:`private_key_jwt`.

    :meth:`credentials` gives what one request carries: headers and form fields.
    """

    __slots__ = ("_key", "_secret", "alg", "client_id", "clock", "kid", "lifetime", "method")

    def __init__(
        self,
        method: Method,
        client_id: str,
        *,
        secret: str | None = None,
        key: PrivateKeyTypes | None = None,
        alg: str | None = None,
        kid: str | None = None,
        lifetime: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(client_id, str) or not client_id:
            raise ConfigurationError("client_id must be a non-empty string")
        self.method = method
        self.client_id = client_id
        self._secret = secret
        self._key = key
        self.kid = kid
        self.alg = alg
        self.clock = clock
        if not (1 <= lifetime <= 600):
            raise ConfigurationError("a client assertion's lifetime must be 1..600 s")
        self.lifetime = float(lifetime)
        if method in ("client_secret_basic", "client_secret_post"):
            if not isinstance(secret, str) or not secret:
                raise ConfigurationError(f"{method} needs the client secret (a non-empty string)")
        elif method == "private_key_jwt":
            self.alg = _checked_alg(key, alg)
        else:
            raise ConfigurationError(
                "method must be client_secret_basic, client_secret_post or private_key_jwt"
            )

    @classmethod
    def basic(cls, client_id: str, secret: str) -> ClientAuth:
        """``client_secret_basic``: HTTP Basic with the form-encoded id and secret."""
        return cls("client_secret_basic", client_id, secret=secret)

    @classmethod
    def post(cls, client_id: str, secret: str) -> ClientAuth:
        """``client_secret_post``: ``client_id`` and ``client_secret`` in the form body."""
        return cls("client_secret_post", client_id, secret=secret)

    @classmethod
    def private_key_jwt(
        cls,
        client_id: str,
        key: PrivateKeyTypes,
        *,
        alg: str | None = None,
        kid: str | None = None,
        lifetime: float = 60.0,
    ) -> ClientAuth:
        """``private_key_jwt``: a fresh assertion per request (``iss`` and ``sub`` the client,
        ``aud`` the authorization server, a random ``jti``, ``exp`` ``lifetime`` seconds on),
        signed with ``key`` (a ``cryptography`` private key: EC P-256/384/521, RSA, Ed25519).
        ``alg`` defaults from the key (``ES256``..., ``RS256``, ``EdDSA``).

        >>> from cryptography.hazmat.primitives.asymmetric import ec
        >>> auth = ClientAuth.private_key_jwt("app", ec.generate_private_key(ec.SECP256R1()))
        >>> sorted(auth.credentials(audience="https://idp/")[1])
        ['client_assertion', 'client_assertion_type', 'client_id']
        """
        return cls("private_key_jwt", client_id, key=key, alg=alg, kid=kid, lifetime=lifetime)

    def __repr__(self) -> str:
        return f"ClientAuth(method={self.method!r}, client_id={self.client_id!r})"

    def credentials(self, *, audience: str) -> tuple[dict[str, str], dict[str, str]]:
        """The headers and form fields of one request; ``audience`` (the authorization
        server's issuer, or the endpoint URL) is the assertion's ``aud``."""
        if self.method == "client_secret_basic":
            assert self._secret is not None
            pair = f"{quote(self.client_id, safe='')}:{quote(self._secret, safe='')}"
            return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}, {}
        if self.method == "client_secret_post":
            assert self._secret is not None
            return {}, {"client_id": self.client_id, "client_secret": self._secret}
        return {}, {
            "client_id": self.client_id,
            "client_assertion_type": _ASSERTION_TYPE,
            "client_assertion": self._assertion(audience),
        }

    def _assertion(self, audience: str) -> str:
        now = int(self.clock())
        header = {"alg": self.alg, "typ": "JWT"}
        if self.kid is not None:
            header["kid"] = self.kid
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "jti": b64url_encode(os.urandom(16)),
            "iat": now,
            "exp": now + int(self.lifetime),
        }
        signing_input = f"{_segment(header)}.{_segment(claims)}"
        assert self.alg is not None
        return (
            f"{signing_input}.{b64url_encode(_sign(self._key, self.alg, signing_input.encode()))}"
        )


def _segment(value: Mapping[str, object]) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())


def _checked_alg(key: object, alg: str | None) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        expected = _EC_ALGS.get(key.curve.name)
        if expected is None or alg not in (None, expected):
            raise ConfigurationError(f"an EC key on {key.curve.name} signs with {expected}, only")
        return expected
    if isinstance(key, ed25519.Ed25519PrivateKey):
        if alg not in (None, "EdDSA", "Ed25519"):
            raise ConfigurationError("an Ed25519 key signs with EdDSA (or Ed25519), only")
        return alg or "EdDSA"
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048 or alg not in (None, *_RSA_ALGS):
            raise ConfigurationError(
                f"an RSA key (2048 bits or more) signs with one of {_RSA_ALGS}"
            )
        return alg or "RS256"
    raise ConfigurationError(
        "private_key_jwt needs a cryptography private key: EC (P-256/384/521), RSA or Ed25519"
    )


def _sign(key: object, alg: str, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    digest = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[2:]]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = (key.curve.key_size + 7) // 8
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    assert isinstance(key, rsa.RSAPrivateKey)
    if alg.startswith("PS"):
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        return key.sign(data, pss, digest)
    return key.sign(data, padding.PKCS1v15(), digest)
