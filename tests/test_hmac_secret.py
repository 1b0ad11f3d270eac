"""An HMAC secret that is really a public key is refused at construction (key confusion)."""

from __future__ import annotations

import json
import secrets

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from secauth import ConfigurationError, JwtVerifier
from secauth.testing import KeyPair

_RSA = KeyPair.generate("RS256", kid="r")
_EC_KEY = ec.generate_private_key(ec.SECP256R1())


def _self_signed_der() -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp")])
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_EC_KEY.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(_EC_KEY, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def _public(encoding: serialization.Encoding, fmt: serialization.PublicFormat) -> bytes:
    return _EC_KEY.public_key().public_bytes(encoding, fmt)


PUBLIC_KEY_SHAPES = {
    "PEM SubjectPublicKeyInfo": _public(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ),
    "DER SubjectPublicKeyInfo": _public(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ),
    "OpenSSH ECDSA": _public(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
    "JWK JSON": json.dumps(_RSA.public_jwk).encode(),
    "DER certificate": _self_signed_der(),
    "PEM with leading whitespace": b"\n  "
    + _public(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
}


@pytest.mark.parametrize("shape", sorted(PUBLIC_KEY_SHAPES))
def test_public_key_as_hmac_secret_is_refused(shape: str) -> None:
    with pytest.raises(ConfigurationError, match="looks like a public key"):
        JwtVerifier(
            issuer="https://i/", audience="a", secret=PUBLIC_KEY_SHAPES[shape], algorithms=["HS256"]
        )


def test_random_secrets_are_accepted_even_when_they_start_like_der() -> None:
    """A random secret starting with 0x30 (a DER SEQUENCE tag) is still a secret."""
    for first in (b"\x30", b"0"):
        secret = first + secrets.token_bytes(40)
        verifier = JwtVerifier(issuer="https://i/", audience="a", secret=secret, algorithms=["HS256"])
        assert verifier.algorithms == {"HS256"}


def test_random_secrets_that_start_with_a_brace_are_accepted() -> None:
    """Only a JSON object with ``kty`` counts as a JWK; random bytes starting with ``{`` do not."""
    for _ in range(20):
        secret = b"{" + secrets.token_bytes(40)
        verifier = JwtVerifier(issuer="https://i/", audience="a", secret=secret, algorithms=["HS256"])
        assert verifier.algorithms == {"HS256"}
