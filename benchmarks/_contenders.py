"""The contenders of the verification benchmark, built once per algorithm.

Every contender verifies the same tokens (same header, same claims, same key)
and is checked, before any timing, to accept a good token and to reject a
token with a broken signature, so each row times a real, successful check.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from _harness import Case, Feed
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

ASYMMETRIC = ("RS256", "ES256", "EdDSA")
ALGS = (*ASYMMETRIC, "HS256")

# Row names; the report, the JSON and the smoke test use exactly these strings.
SIG_FLOOR = "floor: signature"
MIN_FLOOR = "floor: minimal verifier"
PYJWT = "PyJWT jwt.decode"
PYJWKCLIENT = "PyJWT PyJWKClient"
JOSERFC = "joserfc decode + claims"
FRESH = "secauth fresh token"
FRESH_JWKS = "secauth fresh token (JwksCache)"
REPEATED = "secauth repeated token"
ROWS = (SIG_FLOOR, MIN_FLOOR, PYJWT, PYJWKCLIENT, JOSERFC, FRESH, FRESH_JWKS, REPEATED)

AUDIENCE = "orders-api"


@dataclass
class Material:
    """What one algorithm's contenders share: the key, the tokens, the issuer."""

    alg: str
    jwk: dict[str, Any]  # public JWK (asymmetric) or {"kty": "oct"} for HMAC
    public_key: Any  # cryptography public key object, or the HMAC secret (bytes)
    tokens: list[str]  # distinct tokens, all valid for an hour: the timed inputs
    spare: str  # one more distinct token, used only by the sanity checks
    issuer: str
    jwks_uri: str | None  # None for HS256


def mint_tokens(pair: Any, issuer: str, count: int) -> list[str]:
    """``count`` distinct, valid tokens of a realistic size (distinct ``sub`` and ``jti``)."""
    now = int(time.time())
    return [
        pair.sign(
            {
                "iss": issuer,
                "sub": f"user-{i:06d}",
                "aud": AUDIENCE,
                "iat": now,
                "exp": now + 3600,
                "jti": f"{i:08x}-4c1f-4d2e-9a3b-{now:012x}",
                "scope": "orders:read orders:write",
            }
        )
        for i in range(count)
    ]


def _b64d(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _raw_signature_check(alg: str, key: Any) -> Callable[[bytes, bytes], None]:
    """``check(signing_input, raw_jws_signature)``: raises unless the signature holds."""
    if alg == "RS256":
        pad, digest = padding.PKCS1v15(), hashes.SHA256()

        def check(data: bytes, sig: bytes) -> None:
            key.verify(sig, data, pad, digest)

        return check
    if alg == "ES256":
        scheme = ec.ECDSA(hashes.SHA256())

        def check(data: bytes, sig: bytes) -> None:
            if len(sig) != 64:
                raise ValueError("bad ES256 signature length")
            der = encode_dss_signature(
                int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
            )
            key.verify(der, data, scheme)

        return check
    if alg == "EdDSA":
        return lambda data, sig: key.verify(sig, data)
    if alg == "HS256":

        def check(data: bytes, sig: bytes) -> None:
            if not hmac.compare_digest(hmac.digest(key, data, "sha256"), sig):
                raise ValueError("bad HMAC")

        return check
    raise ValueError(alg)


def minimal_verifier(
    alg: str, key: Any, issuer: str, audience: str
) -> Callable[[str], dict[str, Any]]:
    """A minimal but correct verifier: what any hand-written check must do at least.

    Split into three parts, base64url-decode header, payload and signature,
    ``json.loads`` header and payload, require the expected ``alg``, check the
    signature, then ``exp``, ``iss`` and ``aud``. No kid lookup, no caching.
    """
    check_signature = _raw_signature_check(alg, key)
    loads = json.loads
    b64d = _b64d
    now = time.time

    def verify(token: str) -> dict[str, Any]:
        parts = token.split(".")
        if len(parts) != 3:
            raise ValueError("not three parts")
        header = loads(b64d(parts[0]))
        if type(header) is not dict or header.get("alg") != alg:
            raise ValueError("wrong alg")
        check_signature(token[: token.rindex(".")].encode("ascii"), b64d(parts[2]))
        claims = loads(b64d(parts[1]))
        if type(claims) is not dict:
            raise ValueError("claims not an object")
        exp = claims.get("exp")
        if type(exp) not in (int, float) or now() >= exp:
            raise ValueError("expired or no exp")
        if claims.get("iss") != issuer:
            raise ValueError("wrong iss")
        aud = claims.get("aud")
        if aud != audience and not (type(aud) is list and audience in aud):
            raise ValueError("wrong aud")
        return claims

    return verify


def signature_floor(m: Material) -> Case:
    """The raw ``cryptography`` verify call alone, with every object built beforehand.

    For HS256 the floor is the OpenSSL one-shot ``hmac.digest`` plus ``compare_digest``.
    """
    token = m.tokens[0]
    data = token[: token.rindex(".")].encode("ascii")
    sig = _b64d(token.rsplit(".", 1)[1])
    key = m.public_key
    if m.alg == "RS256":
        pad, digest = padding.PKCS1v15(), hashes.SHA256()

        def op(_: object) -> object:
            return key.verify(sig, data, pad, digest)

    elif m.alg == "ES256":
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        scheme = ec.ECDSA(hashes.SHA256())

        def op(_: object) -> object:
            return key.verify(der, data, scheme)

    elif m.alg == "EdDSA":

        def op(_: object) -> object:
            return key.verify(sig, data)

    else:

        def op(_: object) -> object:
            return hmac.compare_digest(hmac.digest(key, data, "sha256"), sig)

    return Case(SIG_FLOOR, op, Feed([None]))


def build_cases(m: Material) -> list[Case]:
    """All contenders for ``m.alg``, each sanity-checked before it is timed."""
    import jwt as pyjwt
    from joserfc import jwt as jose_jwt
    from joserfc.errors import SecurityWarning
    from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

    from secauth import JwtVerifier

    warnings.filterwarnings("ignore", category=SecurityWarning)  # joserfc: "EdDSA is deprecated"
    alg, issuer, tokens = m.alg, m.issuer, m.tokens
    cases: list[Case] = [signature_floor(m)]

    minimal = minimal_verifier(alg, m.public_key, issuer, AUDIENCE)
    cases.append(Case(MIN_FLOOR, minimal, Feed(tokens)))

    pyjwt_key = m.public_key if alg == "HS256" else pyjwt.PyJWK(m.jwk, algorithm=alg).key
    algs = [alg]

    def pyjwt_decode(token: str) -> dict[str, Any]:
        return pyjwt.decode(token, pyjwt_key, algorithms=algs, audience=AUDIENCE, issuer=issuer)

    cases.append(Case(PYJWT, pyjwt_decode, Feed(tokens)))

    if m.jwks_uri is not None:
        client = pyjwt.PyJWKClient(m.jwks_uri)
        client.get_signing_key_from_jwt(tokens[0])  # warm: the JWKS is fetched and cached

        def pyjwk_client(token: str) -> dict[str, Any]:
            signing_key = client.get_signing_key_from_jwt(token)
            return pyjwt.decode(
                token, signing_key.key, algorithms=algs, audience=AUDIENCE, issuer=issuer
            )

        cases.append(Case(PYJWKCLIENT, pyjwk_client, Feed(tokens)))

    if alg == "HS256":
        jose_key: Any = OctKey.import_key(m.public_key)
    else:
        jose_key = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}[m.jwk["kty"]].import_key(m.jwk)
    registry = jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": AUDIENCE},
        exp={"essential": True},
    )

    def joserfc_decode(token: str) -> dict[str, Any]:
        decoded = jose_jwt.decode(token, jose_key, algorithms=algs)
        registry.validate(decoded.claims)
        return decoded.claims

    cases.append(Case(JOSERFC, joserfc_decode, Feed(tokens)))

    if alg == "HS256":
        fresh = JwtVerifier(issuer=issuer, audience=AUDIENCE, secret=m.public_key, algorithms=algs)
        repeated = JwtVerifier(
            issuer=issuer, audience=AUDIENCE, secret=m.public_key, algorithms=algs
        )
    else:
        fresh = JwtVerifier(
            issuer=issuer, audience=AUDIENCE, jwks={"keys": [m.jwk]}, algorithms=algs
        )
        repeated = JwtVerifier(
            issuer=issuer, audience=AUDIENCE, jwks={"keys": [m.jwk]}, algorithms=algs
        )
    feed = Feed(tokens)
    cases.append(Case(FRESH, fresh.verify, feed, guard=_miss_guard(fresh, feed)))

    if m.jwks_uri is not None:
        cached = JwtVerifier(
            issuer=issuer, audience=AUDIENCE, jwks_uri=m.jwks_uri, allow_http=True, algorithms=algs
        )
        if not cached.hydrate():
            raise RuntimeError("JwksCache could not fetch the local JWKS")
        feed = Feed(tokens)
        cases.append(Case(FRESH_JWKS, cached.verify, feed, guard=_miss_guard(cached, feed)))

    same = tokens[0]
    repeated.verify(same)  # the first call verifies and caches; the timed calls are hits
    cases.append(Case(REPEATED, repeated.verify, Feed([same])))

    for case in cases[1:]:
        _sanity_check(case, m.spare)
    return cases


def _miss_guard(verifier: Any, feed: Feed) -> Callable[[list[Any]], None]:
    """Make sure a "fresh token" row never hits the verified-token cache.

    The feed cycles through more distinct tokens than the cache holds, so a token
    comes back only after the cache evicted it (oldest first); a shorter feed must
    never wrap. This checks that premise, and that the batch's first token is not
    cached (``_cache`` is private; if it goes away, the premise check remains).
    """
    size = getattr(verifier, "cache_size", 0)

    def guard(batch: list[Any]) -> None:
        if size and len(feed.values) <= size and feed.used > len(feed.values):
            raise RuntimeError("fresh-token feed shorter than the cache and wrapped around")
        cache = getattr(verifier, "_cache", None)
        if isinstance(cache, dict) and batch[0] in cache:
            raise RuntimeError("a fresh-token batch starts with a cached token")

    return guard


def _sanity_check(case: Case, good: str) -> None:
    """The contender accepts a good token and rejects one with a flipped signature byte."""
    claims = case.op(good)
    if not isinstance(claims, dict) or claims.get("aud") != AUDIENCE:
        raise RuntimeError(f"{case.name}: did not return the claims")
    if case.name == REPEATED:
        return
    head, _, sig = good.rpartition(".")
    raw = bytearray(_b64d(sig))
    raw[len(raw) // 2] ^= 0x01
    bad = head + "." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    try:
        case.op(bad)
    except Exception:
        return
    raise RuntimeError(f"{case.name}: accepted a token with a broken signature")
