"""DPoP for tests (RFC 9449): a client's key that signs proofs, and binds tokens to itself.

Nothing here is meant for production. :meth:`DpopKey.proof` makes the proof a client
sends in the ``DPoP`` header; every field can be overridden to make a bad one, which is
how secauth's own attack tests are written. :meth:`DpopKey.bind` adds ``cnf.jkt`` to a
token's claims, as an authorization server does when it issues a DPoP-bound token.

Example
-------
>>> from secauth.testing import KeyPair
>>> issuer, client = KeyPair.generate("ES256", kid="k1"), DpopKey.generate("ES256")
>>> token = issuer.sign(client.bind({"sub": "ann"}))
>>> proof = client.proof("GET", "https://api.example.com/orders", access_token=token)
>>> headers = {"authorization": f"DPoP {token}", "dpop": proof}
>>> client.bind({})["cnf"]["jkt"] == client.jkt
True
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from secauth.dpop import access_token_hash, jwk_thumbprint
from secauth.testing import KeyPair, PrivateKey, encode_segment, sign_compact

__all__ = ["DpopKey"]


@dataclass(frozen=True)
class DpopKey:
    """A client's DPoP key pair: ``public_jwk`` (no ``alg``, ``kid`` or ``use``, as proofs
    carry it), its RFC 7638 thumbprint ``jkt``, and the private key."""

    alg: str
    public_jwk: dict[str, Any]
    jkt: str
    private_key: PrivateKey | bytes = field(repr=False)

    @classmethod
    def generate(cls, alg: str = "ES256", *, rsa_bits: int = 2048) -> DpopKey:
        """A fresh key for ``alg`` (ES*, EdDSA, Ed25519, PS*, RS*; HS* only to test refusals)."""
        pair = KeyPair.generate(alg, rsa_bits=rsa_bits, include_alg=False)
        jwk = {k: v for k, v in pair.public_jwk.items() if k != "use"}
        jkt = jwk_thumbprint(jwk) if jwk.get("kty") != "oct" else ""
        return cls(alg=alg, public_jwk=jwk, jkt=jkt, private_key=pair.private_key)

    def bind(self, claims: Mapping[str, Any]) -> dict[str, Any]:
        """``claims`` with ``cnf: {"jkt": <this key's thumbprint>}`` (a DPoP-bound token)."""
        return {**claims, "cnf": {"jkt": self.jkt}}

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        iat: float | None = None,
        jti: str | None = None,
        header: Mapping[str, Any] | None = None,
        claims: Mapping[str, Any] | None = None,
        alg: str | None = None,
        key: PrivateKey | bytes | None = None,
        nonce: str | None = None,
    ) -> str:
        """A DPoP proof for ``method`` and ``url`` (query and fragment dropped, as RFC 9449
        asks), now, with a random ``jti``; with ``access_token``, its ``ath``; with
        ``nonce``, the server nonce last received in ``DPoP-Nonce``.

        ``header`` and ``claims`` add to or override the proof's (a value None removes
        the member); ``alg`` and ``key`` sign with another algorithm or key than the one
        in ``jwk`` (bad proofs for tests).
        """
        body: dict[str, Any] = {
            "jti": jti if jti is not None else secrets.token_urlsafe(16),
            "htm": method,
            "htu": url.split("#", 1)[0].split("?", 1)[0],
            "iat": int(time.time()) if iat is None else iat,
        }
        if access_token is not None:
            body["ath"] = access_token_hash(access_token)
        if nonce is not None:
            body["nonce"] = nonce
        body.update(claims or {})
        head: dict[str, Any] = {"typ": "dpop+jwt", "alg": alg or self.alg, "jwk": self.public_jwk}
        head.update(header or {})
        return sign_compact(
            {k: v for k, v in head.items() if v is not None},
            encode_segment({k: v for k, v in body.items() if v is not None}),
            key if key is not None else self.private_key,
            alg or self.alg,
        )
