"""Adversarial review 24: the JWT verification core.

Areas: compact parsing and strict JSON (``jose.py``, ``_b64.py``), key import and signature
checks (``jwk.py``), ``JwtVerifier`` and its verified-token cache (``verifier.py``,
``token_cache.py``), key sets (``key_sets.py``, ``jwks.py``), claim checks
(``claim_policy.py``) and the multi-issuer router (``multi_issuer.py``).

Real keys only (``KeyPair``, ``cryptography``); the one JWKS server is a ``LocalIssuer`` on
127.0.0.1; time moves by hand. A test marked ``xfail(strict=True, reason="review24: ...")``
asserts the secure behaviour and fails while the weakness it names is there; the others
are attacks that held, kept as regression tests.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hand_clock import Clock

from secauth.errors import (
    ConfigurationError,
    InvalidClaims,
    InvalidIssuer,
    Reason,
    SecAuthError,
    UnknownKey,
)
from secauth.jwks import JwksCache, KeySet
from secauth.testing import KeyPair, LocalIssuer, encode_segment, sign_compact
from secauth.verifier import JwtVerifier

ISS = "https://idp.example.com/"
AUD = "api"
FAR = 4_000_000_000
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493

# The encodings of Ed25519's eight small-order points, canonical and not (libsodium's
# blocklist): 0 (order 4), 1 (the identity), two points of order 8, p-1 (order 2), and
# p and p+1, the non-canonical spellings of 0 and 1.
SMALL_ORDER_ED25519 = [
    bytes.fromhex(h)
    for h in (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    )
]
ED25519_IDENTITY = SMALL_ORDER_ED25519[1]


# --- helpers -------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def body(**extra: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"iss": ISS, "aud": AUD, "exp": FAR, "sub": "alice"}
    claims.update(extra)
    return claims


def verifier_for(*jwks: dict[str, Any], **options: Any) -> JwtVerifier:
    return JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": list(jwks)}, **options)


def refused(verifier: Any, token: str) -> SecAuthError:
    with pytest.raises(SecAuthError) as caught:
        verifier.verify(token)
    return caught.value


def es256_raw(pair: KeyPair, header: bytes, payload: bytes) -> str:
    """A compact ES256 JWS over header and payload bytes exactly as given."""
    signing_input = f"{b64(header)}.{b64(payload)}"
    assert isinstance(pair.private_key, ec.EllipticCurvePrivateKey)
    der = pair.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def imports(jwk: dict[str, Any]) -> bool:
    return bool(KeySet.from_jwks({"keys": [jwk]}).keys_for(jwk.get("kid")))


def rendered(err: SecAuthError) -> list[str]:
    return [str(err), repr(err), json.dumps(err.detail, default=str), str(err.to_log())]


# --- findings ------------------------------------------------------------------------------


def test_small_order_ed25519_public_keys_are_not_imported() -> None:
    """Every signature check against a small-order Ed25519 key is (nearly) free to pass;
    such a key is as unusable as an EC point off its curve."""
    for point in SMALL_ORDER_ED25519:
        for spelling in (point, point[:31] + bytes([point[31] | 0x80])):  # either sign bit
            jwk = {"kty": "OKP", "crv": "Ed25519", "kid": "k", "x": b64(spelling)}
            assert not imports(jwk), spelling.hex()


def test_ed25519_identity_key_in_a_jwks_lets_nobody_forge_a_token() -> None:
    """A JWKS that holds the identity point (a placeholder ``AQAAAA...`` key, say) next to
    the real key: R = identity and S = 0 "verify" any message under it, so anyone could
    mint tokens for the issuer. The key must be left out of the set."""
    real = KeyPair.generate("EdDSA", kid="real")
    placeholder = {"kty": "OKP", "crv": "Ed25519", "kid": "k", "alg": "EdDSA", "use": "sig"}
    placeholder["x"] = b64(ED25519_IDENTITY)
    verifier = verifier_for(real.public_jwk, placeholder)
    header = encode_segment({"alg": "EdDSA", "kid": "k"})
    forged = f"{header}.{encode_segment(body(sub='admin'))}.{b64(ED25519_IDENTITY + bytes(32))}"
    assert refused(verifier, forged).reason in (Reason.UNKNOWN_KEY, Reason.INVALID_SIGNATURE)


def test_cached_token_of_a_withdrawn_key_is_refused_once_the_key_set_is_due() -> None:
    """The IdP withdraws a key; once the key set's ttl has passed, a token of that key must
    be checked against a refreshed set. A verified-token cache hit never asks the key
    source, so the token keeps passing (and ``revalidate`` keeps saying yes) for up to
    ``cache_max_age`` past the ttl."""
    with LocalIssuer(algs=("ES256",)) as idp:
        old = idp.key
        idp.rotate()
        keys_clock, wall = Clock(1000.0), Clock(time.time())
        cache = JwksCache(idp.jwks_uri, allow_http=True, ttl=60, clock=keys_clock)
        verifier = JwtVerifier(issuer=idp.issuer, audience=AUD, jwks=cache, clock=wall)
        token = idp.token(aud=AUD, key=old, lifetime=3600)
        for _ in range(3):
            verifier.verify(token)
        assert verifier.revalidate(token) is True  # cached
        idp.remove(old.kid)
        keys_clock.now += 120  # twice the ttl: the set is due a refresh
        wall.now += 120
        assert verifier.revalidate(token) is False
        with pytest.raises(UnknownKey):
            verifier.verify(token)


def test_invalid_issuer_detail_is_bounded_for_a_huge_integer_iss() -> None:
    """The multi-issuer router reads ``iss`` before any signature check. Strings in
    ``detail`` are cut to 120 characters, but ``shown()`` passes an int through whole: a
    4,299-digit ``iss`` puts 4 KB of attacker text into every log line of the refusal."""
    a, b = KeyPair.generate("ES256", kid="a"), KeyPair.generate("ES256", kid="b")
    multi = JwtVerifier.multi(
        JwtVerifier(issuer="https://a/", audience=AUD, jwks={"keys": [a.public_jwk]}),
        JwtVerifier(issuer="https://b/", audience=AUD, jwks={"keys": [b.public_jwk]}),
    )
    payload = b'{"iss": ' + b"9" * 4299 + b', "aud": "api", "exp": 4000000000}'
    token = sign_compact({"alg": "ES256", "kid": "a"}, b64(payload), a.private_key, "ES256")
    err = refused(multi, token)
    assert isinstance(err, InvalidIssuer)
    for text in rendered(err):
        assert len(text) < 2000


def _public_key_spellings() -> dict[str, str]:
    pair = KeyPair.generate("RS256", kid="k")
    assert isinstance(pair.private_key, rsa.RSAPrivateKey)
    public = pair.private_key.public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return {
        # What Keycloak's admin console shows as the realm's "Public key": no PEM armour.
        "base64-der": base64.b64encode(der).decode(),
        "jwks-document": json.dumps({"keys": [pair.public_jwk]}),
        "pem-with-bom": "\ufeff" + pem,
    }


@pytest.mark.parametrize("spelling", ["base64-der", "jwks-document", "pem-with-bom"])
def test_public_key_spellings_are_refused_as_an_hmac_secret(spelling: str) -> None:
    """The guard against CVE-2022-29217-style key confusion refuses PEM, SSH, DER and a
    JWK, but not the same public key as bare base64 DER, as a whole JWKS, or as PEM after a
    byte-order mark: anyone who fetches the public key could mint HS256 tokens."""
    secret = _public_key_spellings()[spelling]
    with pytest.raises(ConfigurationError):
        JwtVerifier(issuer=ISS, audience=AUD, secret=secret, algorithms=["HS256"])


# --- held: strict JSON ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        (b'{"alg":"ES256","kid":"k","\\u0061lg":"none"}', json.dumps(body()).encode()),
        (b'{"alg":"ES256","\\u006bid":"other","kid":"k"}', json.dumps(body()).encode()),
        (b'{"alg":"ES256","kid":"k"}', json.dumps(body())[:-1].encode() + b',"\\u0069ss":"x"}'),
        (b'{"alg":"ES256","kid":"k"}', json.dumps(body())[:-1].encode() + b',"a\\u0075d":"x"}'),
    ],
)
def test_duplicate_names_spelled_with_unicode_escapes_are_malformed(
    header: bytes, payload: bytes
) -> None:
    pair = KeyPair.generate("ES256", kid="k")
    token = es256_raw(pair, header, payload)
    assert refused(verifier_for(pair.public_jwk), token).reason is Reason.MALFORMED_TOKEN


@pytest.mark.parametrize("value", [123, ["alice"], {"id": "alice"}, True, None])
@pytest.mark.parametrize("name", ["sub", "jti"])
def test_sub_and_jti_of_another_type_are_invalid_claims(name: str, value: Any) -> None:
    pair = KeyPair.generate("ES256", kid="k")
    token = pair.sign(body(**{name: value}))
    assert isinstance(refused(verifier_for(pair.public_jwk), token), InvalidClaims)


# --- held: signatures ----------------------------------------------------------------------


def test_ed25519_signature_with_s_plus_l_is_refused() -> None:
    """The non-canonical twin of a genuine signature (S + L) is not a second valid token."""
    pair = KeyPair.generate("EdDSA", kid="k")
    verifier = verifier_for(pair.public_jwk)
    token = pair.sign(body())
    assert verifier.verify(token)["sub"] == "alice"
    head, sig = token.rsplit(".", 1)
    raw = unb64(sig)
    s = int.from_bytes(raw[32:], "little") + ED25519_ORDER
    twin = f"{head}.{b64(raw[:32] + s.to_bytes(32, 'little'))}"
    assert refused(verifier, twin).reason is Reason.INVALID_SIGNATURE


def test_ed448_identity_key_is_skipped_and_verifies_no_trivial_signature() -> None:
    identity = bytes([1]) + bytes(56)
    ed448.Ed448PublicKey.from_public_bytes(identity)  # OpenSSL takes the key; secauth not
    jwk = {"kty": "OKP", "crv": "Ed448", "kid": "k", "x": b64(identity)}
    verifier = verifier_for(jwk, KeyPair.generate("Ed448", kid="real").public_jwk)
    header = encode_segment({"alg": "Ed448", "kid": "k"})
    forged = f"{header}.{encode_segment(body())}.{b64(identity + bytes(57))}"
    assert refused(verifier, forged).reason is Reason.UNKNOWN_KEY  # review 25: small order


@pytest.mark.parametrize(
    ("salt", "mgf_hash"),
    [(0, hashes.SHA256()), (padding.PSS.MAX_LENGTH, hashes.SHA256()), (32, hashes.SHA1())],
)
def test_ps256_with_another_salt_length_or_mgf_is_refused(
    salt: int, mgf_hash: hashes.HashAlgorithm
) -> None:
    """RFC 7518 3.5: the salt is as long as the hash, MGF1 uses the same hash."""
    pair = KeyPair.generate("PS256", kid="k")
    verifier = verifier_for(pair.public_jwk)
    assert verifier.verify(pair.sign(body()))["sub"] == "alice"
    signing_input = f"{encode_segment({'alg': 'PS256', 'kid': 'k'})}.{encode_segment(body())}"
    assert isinstance(pair.private_key, rsa.RSAPrivateKey)
    signature = pair.private_key.sign(
        signing_input.encode(),
        padding.PSS(mgf=padding.MGF1(mgf_hash), salt_length=salt),
        hashes.SHA256(),
    )
    token = f"{signing_input}.{b64(signature)}"
    assert refused(verifier, token).reason is Reason.INVALID_SIGNATURE


def test_cached_token_with_another_signature_is_checked_afresh() -> None:
    """The cache is keyed by the whole token: the same header and payload under another
    signature (garbage, another key's, a bit flipped) is never served from it."""
    pair, other = KeyPair.generate("ES256", kid="k"), KeyPair.generate("ES256", kid="k")
    verifier = verifier_for(pair.public_jwk)
    token = pair.sign(body())
    verifier.verify(token)
    verifier.verify(token)
    assert verifier.revalidate(token) is True
    head, sig = token.rsplit(".", 1)
    raw = bytearray(unb64(sig))
    raw[10] ^= 1
    variants = [
        f"{head}.{b64(bytes(raw))}",
        f"{head}.{b64(bytes(64))}",
        f"{head}.{other.sign(body()).rsplit('.', 1)[1]}",
    ]
    for variant in variants:
        assert verifier.revalidate(variant) is False
        assert refused(verifier, variant).reason is Reason.INVALID_SIGNATURE


# --- held: key import ----------------------------------------------------------------------


def _rsa_jwk(**change: Any) -> dict[str, Any]:
    jwk = dict(KeyPair.generate("RS256", kid="k").public_jwk)
    jwk.update(change)
    return jwk


@pytest.mark.parametrize(
    "change",
    [
        {"e": b64(b"\x01")},
        {"e": b64(b"\x02")},
        {"e": b64((65538).to_bytes(3, "big"))},
        {"e": b64(b"\x00\x01\x00\x01")},
        "e=n",
        "n-leading-zero",
        "n-1024-bits",
    ],
)
def test_rsa_keys_with_a_bad_exponent_or_modulus_are_not_imported(change: Any) -> None:
    jwk = _rsa_jwk()
    if change == "e=n":
        jwk["e"] = jwk["n"]
    elif change == "n-leading-zero":
        jwk["n"] = b64(b"\x00" + unb64(jwk["n"]))
    elif change == "n-1024-bits":
        jwk["n"] = b64(unb64(jwk["n"])[:128])
    else:
        jwk.update(change)
    assert not imports(jwk)


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_jwk_with_private_material_is_not_used_as_a_public_key(alg: str) -> None:
    pair = KeyPair.generate(alg, kid="k")
    jwk = dict(pair.public_jwk, d=b64(b"\x01" * 32))
    assert not imports(jwk)
    with pytest.raises(ConfigurationError):
        verifier_for(jwk)


@pytest.mark.parametrize("key_ops", [["sign"], "verify", [], ["encrypt", "wrapKey"], [["verify"]]])
def test_key_ops_without_verify_keep_the_key_out(key_ops: Any) -> None:
    pair = KeyPair.generate("ES256", kid="k")
    assert imports(dict(pair.public_jwk, key_ops=["verify"]))
    assert not imports(dict(pair.public_jwk, key_ops=key_ops))


@pytest.mark.parametrize(
    ("crv", "alg"), [("P-384", "ES256"), ("P-256", "ES384"), ("P-521", "ES256")]
)
def test_ec_jwk_alg_that_does_not_fit_its_curve_is_not_imported(crv: str, alg: str) -> None:
    pair = KeyPair.generate({"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[crv], kid="k")
    assert not imports(dict(pair.public_jwk, alg=alg))


# --- held: kid values ----------------------------------------------------------------------


KIDS = [
    "../../../../etc/passwd",
    "' OR '1'='1' --",
    "key-1\u0000",
    "key-\u0661",  # an Arabic-Indic digit one
    "KEY-1",
    "key-1 ",
    "\ud800",
    "k" * 10_000,
    "https://127.0.0.2:9/jwks.json#key-1",
]


def test_odd_kids_are_unknown_keys_that_cost_one_refetch_and_echo_little() -> None:
    with LocalIssuer(algs=("ES256",)) as idp:
        clock = Clock(1000.0)
        cache = JwksCache(idp.jwks_uri, allow_http=True, clock=clock, refetch_cooldown=30)
        verifier = JwtVerifier(issuer=idp.issuer, audience=AUD, jwks=cache, cache_size=0)
        assert verifier.verify(idp.token(aud=AUD))["iss"] == idp.issuer
        clock.now += 31
        for kid in KIDS:
            token = idp.token(aud=AUD, headers={"kid": kid})
            err = refused(verifier, token)
            assert err.reason is Reason.UNKNOWN_KEY, kid[:20]
            for text in rendered(err):
                assert len(text) < 2000
                assert token.split(".")[0] not in text
        assert idp.fetches == 2  # the first fetch, and one refetch for all the odd kids
        assert verifier.verify(idp.token(aud=AUD))["iss"] == idp.issuer


def test_kid_less_token_is_refused_once_the_set_holds_a_second_key() -> None:
    """A token without ``kid`` may use a set's only key, never pick among several."""
    a, b = KeyPair.generate("ES256", kid="a"), KeyPair.generate("ES256", kid="b")
    token = a.sign(body(), headers={"kid": None})
    assert verifier_for(a.public_jwk).verify(token)["sub"] == "alice"
    assert refused(verifier_for(a.public_jwk, b.public_jwk), token).reason is Reason.UNKNOWN_KEY
    unnamed = {k: v for k, v in a.public_jwk.items() if k != "kid"}
    other = {k: v for k, v in b.public_jwk.items() if k != "kid"}
    assert refused(verifier_for(unnamed, other), token).reason is Reason.UNKNOWN_KEY
