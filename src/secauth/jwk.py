"""JSON Web Keys (and PEM public keys) to verification keys: one public key (or HMAC
secret) bound to the algorithms it may verify, checked thoroughly on import.

The algorithm is bound to the key: a key verifies only the algorithms its type,
curve and JWK ``alg`` allow, whatever a token's header says. :func:`import_jwks`
imports the keys of a JWK Set, leaving out (with a reason) the ones it cannot use.

Example
-------
>>> from secauth.testing import KeyPair
>>> pair = KeyPair.generate("ES256", kid="k1")
>>> sorted(VerificationKey.from_jwk(pair.public_jwk).algorithms)
['ES256']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from secauth._b64 import B64Error, b64url_decode, b64url_encode
from secauth.errors import ConfigurationError, KeyImportError

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "EC_ALGORITHMS",
    "EC_GROUP_ORDERS",
    "HMAC_ALGORITHMS",
    "OKP_ALGORITHMS",
    "RSA_ALGORITHMS",
    "SUPPORTED_ALGORITHMS",
    "VerificationKey",
    "import_jwks",
]

MIN_RSA_BITS: Final = 2048
MAX_RSA_BITS: Final = 16384

RSA_ALGORITHMS: Final = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS: Final = frozenset({"ES256", "ES384", "ES512"})
OKP_ALGORITHMS: Final = frozenset({"EdDSA", "Ed25519", "Ed448"})
HMAC_ALGORITHMS: Final = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS: Final = RSA_ALGORITHMS | EC_ALGORITHMS | OKP_ALGORITHMS
SUPPORTED_ALGORITHMS: Final = ASYMMETRIC_ALGORITHMS | HMAC_ALGORITHMS

_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
# Group orders of the NIST curves (FIPS 186-4 D.1.2); r and s must lie in [1, n-1].
EC_GROUP_ORDERS: Final = {
    "P-256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "P-384": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
        "581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
    "P-521": int(
        "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA"
        "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
}


_EC_CURVES: Final[dict[str, tuple[ec.EllipticCurve, int, str, int]]] = {
    # crv: (curve, coordinate size in bytes, the one JWS algorithm it signs, group order)
    "P-256": (ec.SECP256R1(), 32, "ES256", EC_GROUP_ORDERS["P-256"]),
    "P-384": (ec.SECP384R1(), 48, "ES384", EC_GROUP_ORDERS["P-384"]),
    "P-521": (ec.SECP521R1(), 66, "ES512", EC_GROUP_ORDERS["P-521"]),
}
_PRIVATE_MEMBERS: Final = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")

Verify = Callable[[bytes, bytes], bool]


class VerificationKey:
    """One public key (or HMAC secret) bound to the algorithms it may verify.

    Build it with :meth:`from_jwk` or :meth:`from_secret`; both check the key
    thoroughly, so a key that imports is one we are willing to trust.

    Example
    -------
    >>> key = VerificationKey.from_secret(bytes(range(32)), algorithms=["HS256"])
    >>> sorted(key.algorithms)
    ['HS256']
    """

    __slots__ = ("_verifiers", "algorithms", "jwk", "kid", "kty")

    def __init__(
        self, *, kid: str | None, kty: str, verifiers: Mapping[str, Verify], jwk: Mapping[str, Any]
    ) -> None:
        self.kid = kid
        self.kty = kty
        self._verifiers = dict(verifiers)
        self.algorithms = frozenset(verifiers)
        self.jwk = dict(jwk)

    def __repr__(self) -> str:
        return f"VerificationKey(kid={self.kid!r}, kty={self.kty!r}, algorithms={sorted(self.algorithms)})"

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        """True when ``signature`` is valid for ``alg``; False for a bad signature or an
        algorithm this key is not bound to."""
        check = self._verifiers.get(alg)
        return check is not None and check(signing_input, signature)

    # -- construction ------------------------------------------------------------------

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> VerificationKey:
        """Import a public JWK (RFC 7517). Raises :class:`KeyImportError` with the reason.

        Refused: private or symmetric keys, ``use`` other than ``sig``, ``key_ops``
        without ``verify``, RSA under 2048 bits, unknown curves, points off the curve,
        and an ``alg`` that does not fit the key type.
        """
        if not isinstance(jwk, Mapping):
            raise KeyImportError("a JWK must be a JSON object")
        kty = jwk.get("kty")
        kid = jwk.get("kid")
        if kid is not None and type(kid) is not str:
            raise KeyImportError("kid must be a string")
        _check_usage(jwk)
        if any(member in jwk for member in _PRIVATE_MEMBERS):
            raise KeyImportError(
                "JWK holds private or symmetric key material; publish public keys only"
            )
        if kty == "RSA":
            verifiers = _import_rsa(jwk)
        elif kty == "EC":
            verifiers = _import_ec(jwk)
        elif kty == "OKP":
            verifiers = _import_okp(jwk)
        else:
            raise KeyImportError(f"unsupported key type {_shown(kty)}")
        declared = jwk.get("alg")
        if declared is not None:
            if type(declared) is not str or declared not in verifiers:
                raise KeyImportError(f"alg {_shown(declared)} does not fit this {kty} key")
            verifiers = {declared: verifiers[declared]}
        return cls(kid=kid, kty=kty, verifiers=verifiers, jwk=jwk)

    @classmethod
    def from_pem(cls, pem: str | bytes, *, kid: str | None = None) -> VerificationKey:
        """Import a PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo), such as the keys an ALB
        publishes, with the same checks as :meth:`from_jwk`. Raises :class:`KeyImportError`.

        >>> from cryptography.hazmat.primitives.asymmetric import ec
        >>> from cryptography.hazmat.primitives import serialization as ser
        >>> pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        ...     ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
        >>> sorted(VerificationKey.from_pem(pem, kid="k").algorithms)
        ['ES256']
        """
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        raw = pem.encode("ascii", "replace") if isinstance(pem, str) else bytes(pem)
        if not raw.lstrip().startswith(b"-----BEGIN PUBLIC KEY-----"):
            raise KeyImportError("not a PEM public key (-----BEGIN PUBLIC KEY-----)")
        try:
            public = load_pem_public_key(raw)
        except (ValueError, TypeError):
            raise KeyImportError("PEM public key does not parse") from None
        jwk = _jwk_of(public)
        if kid is not None:
            jwk["kid"] = kid
        return cls.from_jwk(jwk)

    @classmethod
    def from_secret(
        cls,
        secret: str | bytes,
        *,
        algorithms: frozenset[str] | list[str] | tuple[str, ...],
        kid: str | None = None,
    ) -> VerificationKey:
        """An HMAC key for the HS algorithms named in ``algorithms``.

        The secret must be at least as long as the hash output (RFC 7518 3.2):
        32 bytes for HS256, 48 for HS384, 64 for HS512.
        """
        from secauth.hmac_secrets import secret_bytes  # only for HMAC secrets

        raw = secret_bytes(secret)
        wanted = [a for a in algorithms if a in HMAC_ALGORITHMS]
        if not wanted:
            raise ConfigurationError("an HMAC secret needs HS256, HS384 or HS512 in algorithms")
        verifiers: dict[str, Verify] = {}
        for alg in wanted:
            bits = int(alg[2:])
            if len(raw) * 8 < bits:
                raise ConfigurationError(
                    f"{alg} needs a secret of at least {bits // 8} bytes; got {len(raw)}"
                )
            verifiers[alg] = _hmac_verifier(raw, "sha" + alg[2:])
        return cls(kid=kid, kty="oct", verifiers=verifiers, jwk={"kty": "oct", "kid": kid})


def _jwk_of(public: object) -> dict[str, Any]:
    """The public JWK of a ``cryptography`` public key (RSA, EC, Ed25519, Ed448)."""
    if isinstance(public, rsa.RSAPublicKey):
        nums = public.public_numbers()
        return {"kty": "RSA", "n": _b64_int(nums.n), "e": _b64_int(nums.e)}
    if isinstance(public, ec.EllipticCurvePublicKey):
        for crv, (curve, size, _alg, _order) in _EC_CURVES.items():
            if curve.name == public.curve.name:
                point = public.public_numbers()
                return {
                    "kty": "EC",
                    "crv": crv,
                    "x": _b64_int(point.x, size),
                    "y": _b64_int(point.y, size),
                }
        raise KeyImportError(f"unsupported EC curve {public.curve.name!r}")
    for crv, kind in (("Ed25519", ed25519.Ed25519PublicKey), ("Ed448", ed448.Ed448PublicKey)):
        if isinstance(public, kind):
            return {"kty": "OKP", "crv": crv, "x": b64url_encode(public.public_bytes_raw())}
    raise KeyImportError(f"unsupported public key type {type(public).__name__}")


def _b64_int(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(value.to_bytes(length, "big"))


def import_jwks(entries: Sequence[object]) -> tuple[list[VerificationKey], list[str]]:
    """The usable keys of a JWK Set's ``keys`` array, and why each other one was left out.

    A key is left out when it does not import (see :meth:`VerificationKey.from_jwk`: key
    types such as ``AKP``, curves such as ``secp256k1``, weak RSA, ``use: "enc"``...) and
    when its ``kid`` is *ambiguous*: two different keys with one ``kid`` that could both
    verify one algorithm. A signature is checked against exactly one key, chosen by
    ``kid`` and ``alg``; with two candidates the set would either pick by list order
    (tokens from the other key fail at random) or try each (one ``kid`` becomes a bag of
    keys, and a stale or injected key under a trusted ``kid`` passes unnoticed). So both
    are refused, and tokens naming that ``kid`` get ``unknown_key`` until the issuer
    publishes one key per ``kid``. Keys that share a ``kid`` but verify different
    algorithms (RFC 7517 4.5: different key types as alternatives) stay, as do exact
    copies of one key (kept once). Reasons name the ``kid`` (cut to 64 characters) and
    never hold key material.

    >>> from secauth.testing import KeyPair
    >>> a, b = KeyPair.generate("ES256", kid="k"), KeyPair.generate("ES256", kid="k")
    >>> keys, skipped = import_jwks([a.public_jwk, b.public_jwk, {"kty": "AKP", "kid": "pq"}])
    >>> keys
    []
    >>> skipped  # doctest: +NORMALIZE_WHITESPACE
    ["kid 'pq': unsupported key type 'AKP'",
     "kid 'k': duplicate kid: another key with this kid verifies ES256"]
    """
    imported: list[VerificationKey] = []
    skipped: list[str] = []
    for jwk in entries:
        if not isinstance(jwk, Mapping):
            skipped.append("kid None: a JWK must be a JSON object")
            continue
        try:
            imported.append(VerificationKey.from_jwk(jwk))
        except KeyImportError as exc:
            skipped.append(f"kid {_shown(jwk.get('kid'))}: {exc}")
    keys: list[VerificationKey] = []
    ambiguous: dict[str, str] = {}
    for key in imported:
        clash = next((k for k in keys if k.kid == key.kid and k.algorithms & key.algorithms), None)
        if clash is not None and clash.jwk == key.jwk:
            continue  # the same key listed twice: one copy is enough
        if clash is not None and key.kid is not None:
            shared = ", ".join(sorted(clash.algorithms & key.algorithms))
            ambiguous.setdefault(key.kid, f"another key with this kid verifies {shared}")
        keys.append(key)
    for kid, why in ambiguous.items():
        skipped.append(f"kid {_shown(kid)}: duplicate kid: {why}")
    return [k for k in keys if k.kid not in ambiguous], skipped


def _shown(value: object) -> str:
    """A JWK's member (``kid``, ``kty``, ``crv``...) as a log line may show it: its repr,
    at most 64 characters (a fetched key set is the IdP's to fill)."""
    shown = repr(value)
    return shown if len(shown) <= 64 else shown[:61] + "..."


def _check_usage(jwk: Mapping[str, Any]) -> None:
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise KeyImportError(f"key use {_shown(use)} is not 'sig'")
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise KeyImportError("key_ops does not allow 'verify'")


def _member(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if type(value) is not str or not value:
        raise KeyImportError(f"member {name!r} missing or not a string")
    try:
        return b64url_decode(value)
    except B64Error as exc:
        raise KeyImportError(f"member {name!r}: {exc}") from None


def _import_rsa(jwk: Mapping[str, Any]) -> dict[str, Verify]:
    n_bytes = _member(jwk, "n")
    e_bytes = _member(jwk, "e")
    if n_bytes[0] == 0 or e_bytes[0] == 0:
        raise KeyImportError("RSA n and e must not have leading zero octets")
    n = int.from_bytes(n_bytes, "big")
    e = int.from_bytes(e_bytes, "big")
    bits = n.bit_length()
    if bits < MIN_RSA_BITS or bits > MAX_RSA_BITS:
        raise KeyImportError(f"RSA modulus of {bits} bits; need {MIN_RSA_BITS} to {MAX_RSA_BITS}")
    # An exponent of up to 32 bits, as Go's crypto/rsa allows (65537 is the norm): a huge
    # one makes every check under the key a full-size exponentiation.
    if e < 3 or e % 2 == 0 or e.bit_length() > 32 or e >= n:
        raise KeyImportError("RSA public exponent is not valid (odd, 3 to 2**32)")
    try:
        public = rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError as exc:
        raise KeyImportError(f"RSA key rejected: {exc}") from None
    size = (bits + 7) // 8
    out: dict[str, Verify] = {}
    for alg in sorted(RSA_ALGORITHMS):
        hash_cls = _HASHES[alg[2:]]
        pad: padding.AsymmetricPadding
        if alg.startswith("PS"):
            pad = padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=hash_cls().digest_size)
        else:
            pad = padding.PKCS1v15()
        out[alg] = _rsa_verifier(public, pad, hash_cls(), size)
    return out


def _rsa_verifier(
    public: rsa.RSAPublicKey,
    pad: padding.AsymmetricPadding,
    hash_alg: hashes.HashAlgorithm,
    size: int,
) -> Verify:
    def verify(data: bytes, signature: bytes) -> bool:
        if len(signature) != size:
            return False
        try:
            public.verify(signature, data, pad, hash_alg)
        except _CryptoInvalidSignature:
            return False
        return True

    return verify


def _import_ec(jwk: Mapping[str, Any]) -> dict[str, Verify]:
    crv = jwk.get("crv")
    spec = _EC_CURVES.get(crv) if type(crv) is str else None
    if spec is None:
        raise KeyImportError(f"unsupported EC curve {_shown(crv)}")
    curve, size, alg, order = spec
    x = _member(jwk, "x")
    y = _member(jwk, "y")
    if len(x) != size or len(y) != size:
        raise KeyImportError(f"EC coordinates for {crv} must be {size} bytes")
    try:
        public = ec.EllipticCurvePublicKey.from_encoded_point(curve, b"\x04" + x + y)
    except ValueError:
        raise KeyImportError(f"EC point is not on {crv}") from None
    return {alg: _ec_verifier(public, ec.ECDSA(_HASHES[alg[2:]]()), size, order)}


def _ec_verifier(
    public: ec.EllipticCurvePublicKey, scheme: ec.ECDSA, size: int, order: int
) -> Verify:
    def verify(data: bytes, signature: bytes) -> bool:
        # JWS carries R || S as fixed-size big-endian integers (RFC 7518 3.4), never DER.
        if len(signature) != 2 * size:
            return False
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        if not (0 < r < order and 0 < s < order):
            return False
        try:
            public.verify(encode_dss_signature(r, s), data, scheme)
        except _CryptoInvalidSignature:
            return False
        return True

    return verify


#: The encodings of Ed25519's points of small order (sign bit cleared), as libsodium
#: blocks them: under such a key, signatures that anyone can make verify (an identity
#: key accepts R = identity, S = 0 for every message), and OpenSSL does not refuse them.
_ED25519_SMALL_ORDER: Final = frozenset(
    bytes.fromhex(point)
    for point in (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    )
)


_P448: Final = 2**448 - 2**224 - 1
#: Ed448's points of small order (cofactor 4) have y = 0, 1 or p - 1; with the encodings
#: y + p that fit in 448 bits, five spellings. An all-zero key (y = 0) accepts R = 0, S = 0.
_ED448_SMALL_ORDER: Final = frozenset(
    y.to_bytes(57, "little") for y in (0, 1, _P448 - 1, _P448, _P448 + 1)
)


def _import_okp(jwk: Mapping[str, Any]) -> dict[str, Verify]:
    crv = jwk.get("crv")
    x = _member(jwk, "x")
    public: ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
    if crv == "Ed25519":
        if len(x) != 32:
            raise KeyImportError("Ed25519 x must be 32 bytes")
        if x[:31] + bytes([x[31] & 0x7F]) in _ED25519_SMALL_ORDER:  # either sign bit
            raise KeyImportError("Ed25519 x is a point of small order: anyone could sign")
        public = ed25519.Ed25519PublicKey.from_public_bytes(x)
        size = 64
    elif crv == "Ed448":
        if len(x) != 57:
            raise KeyImportError("Ed448 x must be 57 bytes")
        if x[:56] + bytes([x[56] & 0x7F]) in _ED448_SMALL_ORDER:  # either sign bit
            raise KeyImportError("Ed448 x is a point of small order: anyone could sign")
        public = ed448.Ed448PublicKey.from_public_bytes(x)
        size = 114
    else:
        raise KeyImportError(f"unsupported OKP curve {_shown(crv)} for signatures")
    check = _eddsa_verifier(public, size)
    # "EdDSA" (RFC 8037) and the fully specified name of this curve (RFC 9864).
    return {"EdDSA": check, crv: check}


def _eddsa_verifier(public: ed25519.Ed25519PublicKey | ed448.Ed448PublicKey, size: int) -> Verify:
    def verify(data: bytes, signature: bytes) -> bool:
        if len(signature) != size:
            return False
        try:
            public.verify(signature, data)
        except _CryptoInvalidSignature:
            return False
        return True

    return verify


def _hmac_verifier(secret: bytes, digest: str) -> Verify:
    import hashlib
    import hmac  # loaded only for HMAC keys: hashlib costs a few ms of cold start

    size = hashlib.new(digest).digest_size

    def verify(data: bytes, signature: bytes) -> bool:
        if len(signature) != size:
            return False
        return hmac.compare_digest(hmac.digest(secret, data, digest), signature)

    return verify
