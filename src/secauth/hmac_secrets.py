"""HMAC secrets: the bytes of a ``secret=``, refused when they cannot be a shared secret.

A secret must be ``str`` (used as its UTF-8 bytes), ``bytes`` or ``bytearray``. Anything
else is a configuration mistake (an all-digit secret a config loader turned into an
``int`` would otherwise become that many zero bytes).

A public key given as a secret is the key confusion behind PyJWT CVE-2022-29217 and
python-jose CVE-2024-33663: anyone could mint tokens with it. :func:`looks_like_public_key`
recognises the spellings a key is copied in: PEM text anywhere in the secret (after a
comment, OpenSSL's "Bag Attributes" or a certificate dump), OpenSSH text, DER (raw, or
in base64, base64url or hex), PEM or OpenSSH text so encoded, an uncompressed EC point
(raw or so encoded), a JWK, a JWKS or its ``keys`` array, and any of these as a JSON
string or a JSON object's member. A bare RSA modulus (a JWK's ``n``) cannot be told from
a random secret, nor can a compressed EC point (one random secret of its length in about
256 would read as one, and be refused for nothing). A secret of one
byte repeated is no secret either, and is refused too.

Example
-------
>>> secret_bytes("a shared secret of thirty-two bytes")[:8]
b'a shared'
>>> looks_like_public_key(b'[{"kty": "RSA", "n": "0vx7", "e": "AQAB"}]')
True
>>> secret_bytes(64)
Traceback (most recent call last):
...
secauth.errors.ConfigurationError: an HMAC secret must be str or bytes, not int
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from typing import Final

from secauth._b64 import loads_strict
from secauth.errors import ConfigurationError

__all__ = ["looks_like_public_key", "secret_bytes"]

_PEM_BEGIN: Final = b"-----BEGIN"
_OPENSSH_PREFIXES: Final = (b"ssh-", b"ecdsa-sha2-", b"sk-")
# An uncompressed EC point's length (0x04, x, y): P-256, P-384 and P-521.
_POINT_LENGTHS: Final = (65, 97, 133)


def secret_bytes(secret: object) -> bytes:
    """The bytes of an HMAC ``secret``; ConfigurationError for another type, a public key
    (:func:`looks_like_public_key`) or one byte repeated."""
    if isinstance(secret, str):
        raw = secret.encode("utf-8")
    elif isinstance(secret, bytes | bytearray):
        raw = bytes(secret)
    else:
        raise ConfigurationError(
            f"an HMAC secret must be str or bytes, not {type(secret).__name__}"
        )
    if looks_like_public_key(raw):
        raise ConfigurationError(
            "secret looks like a public key (PEM, SSH, DER, an EC point or a JWK); HMAC needs a random "
            "shared secret. For RS/ES/EdDSA tokens pass jwks= or jwks_uri= instead"
        )
    if len(set(raw)) == 1:
        raise ConfigurationError("an HMAC secret is one byte repeated: use random bytes")
    return raw


def looks_like_public_key(raw: bytes) -> bool:
    """Whether ``raw`` is a public key or certificate in one of the spellings above."""
    text = raw.removeprefix(b"\xef\xbb\xbf").strip()  # a byte-order mark, then spaces
    if _is_key_text(text):
        return True
    return any(
        _is_der_key(candidate) or _is_ec_point(candidate) or _is_key_text(candidate)
        for candidate in _decodings(raw, text)
    )


def _is_key_text(text: bytes) -> bool:
    """Whether ``text`` (the secret, or one of its decodings: a key file in base64 or hex,
    as an environment variable or a Kubernetes secret holds one) is key text: PEM
    anywhere in it, OpenSSH, or a JWK or JWKS document (also as a JSON string)."""
    text = text.strip()
    if _PEM_BEGIN in text or text.startswith(_OPENSSH_PREFIXES):
        return True
    if text[:1] not in (b"{", b"[", b'"'):
        return False
    try:
        document = loads_strict(text)
    except (ValueError, RecursionError):
        return False
    return _is_key_document(document)


def _is_key_document(document: object) -> bool:
    if isinstance(document, str):  # a key pasted into a JSON string
        return looks_like_public_key(document.encode("utf-8"))
    if isinstance(document, list):  # a JWKS's "keys" array
        return any(_is_key_document(item) for item in document)
    if isinstance(document, dict):  # a JWK or JWKS, or a key in a member of a document
        return (
            "kty" in document
            or "keys" in document
            or any(_is_key_document(value) for value in document.values())
        )
    return False


def _decodings(raw: bytes, text: bytes) -> list[bytes]:
    """``raw`` itself, then ``text`` read as base64, base64url and hex where it decodes."""
    found = [raw]
    compact = b"".join(text.split())  # base64 is often shown in lines of 64
    padded = compact + b"=" * (-len(compact) % 4)
    for alphabet in (b"+/", b"-_"):
        try:
            found.append(base64.b64decode(padded, altchars=alphabet, validate=True))
        except ValueError:
            continue
    with contextlib.suppress(ValueError):
        found.append(binascii.unhexlify(compact))
    return found


def _is_ec_point(candidate: bytes) -> bool:
    """Whether ``candidate`` is an uncompressed point of a NIST curve (a random secret of
    that length starting with 0x04 is one with negligible odds)."""
    if len(candidate) not in _POINT_LENGTHS or candidate[:1] != b"\x04":
        return False
    from cryptography.hazmat.primitives.asymmetric import ec

    curves: dict[int, ec.EllipticCurve] = {65: ec.SECP256R1(), 97: ec.SECP384R1(), 133: ec.SECP521R1()}
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(curves[len(candidate)], candidate)
    except ValueError:
        return False
    return True


def _is_der_key(candidate: bytes) -> bool:
    if candidate[:1] != b"\x30":  # a DER SEQUENCE
        return False
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    for load in (load_der_public_key, x509.load_der_x509_certificate):
        try:
            load(candidate)
        except ValueError:
            continue
        return True
    return False
