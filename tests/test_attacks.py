"""The JWT attack suite: one test (or parametrized group) per attack class.

Every test asserts the exact ``Reason`` of the rejection. Where a token could make
a verifier reach out to a URL (``jku``, ``x5u``, a ``kid`` or ``iss`` that looks like
one), a ``LocalIssuer`` plays the attacker's server and the test asserts that it
saw no request at all, while the verifier uses a separate, legitimate key source.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secauth import jose, jwk
from secauth._b64 import b64url_decode, b64url_encode
from secauth.errors import ConfigurationError, Reason, SecAuthError
from secauth.testing import KeyPair, LocalIssuer, encode_segment, sign_compact
from secauth.verifier import JwtVerifier

ISSUER = "https://idp.example.com/"
AUDIENCE = "orders-api"
NOW = 1_700_000_000
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P384_ORDER = int(
    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
    "581A0DB248B0A77AECEC196ACCC52973",
    16,
)
P521_ORDER = int(
    "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA"
    "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
    16,
)
_DROP = object()


# --- helpers ------------------------------------------------------------------------------


def claims(**changes: Any) -> dict[str, Any]:
    """A valid claims set for ISSUER/AUDIENCE at NOW; ``name=_DROP`` removes a claim."""
    body: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": NOW - 10,
        "exp": NOW + 300,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not _DROP}


def verifier_for(*pairs: KeyPair, **options: Any) -> JwtVerifier:
    """A verifier over a static JWKS of ``pairs`` with a fixed clock."""
    settings_: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "clock": lambda: NOW}
    settings_.update(options)
    return JwtVerifier(jwks={"keys": [p.public_jwk for p in pairs]}, **settings_)


def reason(verifier: Any, token: object) -> Reason:
    """Run ``verifier.verify(token)``; it must raise a SecAuthError, whose reason is returned."""
    with pytest.raises(SecAuthError) as exc:
        verifier.verify(token)
    return exc.value.reason


def es_signature(pair: KeyPair, data: bytes) -> bytes:
    """A JWS (R || S) ECDSA signature over ``data`` with an ES* key pair."""
    key = pair.private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    size = (key.curve.key_size + 7) // 8
    digest = {32: hashes.SHA256(), 48: hashes.SHA384(), 66: hashes.SHA512()}[size]
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def signed_raw(pair: KeyPair, header_segment: str, payload_segment: str) -> str:
    """A compact JWS whose header and payload segments are used verbatim and signed for real."""
    signing_input = f"{header_segment}.{payload_segment}"
    return f"{signing_input}.{b64url_encode(es_signature(pair, signing_input.encode()))}"


def es256_header(pair: KeyPair, **extra: Any) -> dict[str, Any]:
    return {"alg": "ES256", "typ": "JWT", "kid": pair.kid, **extra}


def hs_token(secret: bytes, body: dict[str, Any], *, alg: str = "HS256", **header: Any) -> str:
    """An HMAC-signed token, with ``secret`` used as the raw MAC key."""
    return sign_compact({"alg": alg, "typ": "JWT", **header}, encode_segment(body), secret, alg)


def with_bits_set(segment: str) -> str:
    """``segment`` with the unused low bits of its final character set (non-canonical)."""
    tail = len(segment) % 4
    assert tail in (2, 3), "needs a segment whose length leaves unused bits"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    value = alphabet.index(segment[-1]) | (0x0F if tail == 2 else 0x03)
    changed = segment[:-1] + alphabet[value]
    assert changed != segment
    return changed


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def es256() -> KeyPair:
    return KeyPair.generate("ES256", kid="es-1")


@pytest.fixture(scope="module")
def rs256() -> KeyPair:
    return KeyPair.generate("RS256", kid="rs-1")


@pytest.fixture(scope="module")
def attacker_pair() -> KeyPair:
    return KeyPair.generate("ES256", kid="es-1")  # same kid as the real key, different key


@pytest.fixture
def attacker() -> Iterator[LocalIssuer]:
    """The attacker's server: every request to it is counted."""
    with LocalIssuer(algs=("ES256",)) as idp:
        yield idp


@pytest.fixture
def legit() -> Iterator[LocalIssuer]:
    """The legitimate issuer whose JWKS the verifier trusts."""
    with LocalIssuer(algs=("ES256",)) as idp:
        yield idp


def assert_untouched(server: LocalIssuer) -> None:
    assert server.fetches == 0
    assert server.discovery_fetches == 0


# --- the baseline: our own good token passes ----------------------------------------------


def test_baseline_good_token_verifies(es256: KeyPair, rs256: KeyPair) -> None:
    """Sanity: the untampered tokens used below do verify, so each rejection is meaningful."""
    assert verifier_for(es256).verify(es256.sign(claims()))["sub"] == "alice"
    assert verifier_for(rs256).verify(rs256.sign(claims()))["sub"] == "alice"


# --- alg none -----------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["none", "None", "NONE", "nOnE", "NoNe"])
def test_alg_none_without_signature_is_malformed(es256: KeyPair, spelling: str) -> None:
    """``alg: none`` with the empty third segment: not a JWS we accept (malformed)."""
    token = f"{encode_segment({'alg': spelling, 'typ': 'JWT'})}.{encode_segment(claims())}."
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN


@pytest.mark.parametrize("spelling", ["none", "None", "NONE", "nOnE"])
def test_alg_none_with_a_signature_is_invalid_signature(es256: KeyPair, spelling: str) -> None:
    """``alg: none`` with some signature bytes (even a real ES256 one): invalid signature."""
    header = encode_segment({"alg": spelling, "kid": es256.kid})
    token = signed_raw(es256, header, encode_segment(claims()))
    assert reason(verifier_for(es256), token) is Reason.INVALID_SIGNATURE
    assert reason(verifier_for(es256), f"{header}.{encode_segment(claims())}.AAAA") is (
        Reason.INVALID_SIGNATURE
    )


def test_alg_none_is_refused_even_when_listed(es256: KeyPair) -> None:
    """``none`` cannot even be configured as an allowed algorithm."""
    with pytest.raises(ConfigurationError):
        verifier_for(es256, algorithms=["none"])


# --- algorithm allow-list and key binding -------------------------------------------------


def test_algorithm_not_in_allowed_list(es256: KeyPair) -> None:
    """A correctly signed ES256 token is refused when only RS256 is allowed."""
    token = es256.sign(claims())
    assert reason(verifier_for(es256, algorithms=["RS256"]), token) is Reason.INVALID_SIGNATURE


@pytest.mark.parametrize("alg", ["ES256K", "RS1", "HS1", "EdDSA25519", "es256", "", "RSA-OAEP"])
def test_unknown_or_miscased_algorithms_are_refused(es256: KeyPair, alg: str) -> None:
    """Unknown, empty or wrongly cased ``alg`` values never select a verifier."""
    token = signed_raw(es256, encode_segment(es256_header(es256, alg=alg)), encode_segment(claims()))
    assert reason(verifier_for(es256), token) is Reason.INVALID_SIGNATURE


@pytest.mark.parametrize("alg_value", [None, 256, ["ES256"], {"a": 1}, True])
def test_alg_missing_or_not_a_string_is_malformed(es256: KeyPair, alg_value: Any) -> None:
    """A header without a string ``alg`` is malformed."""
    header = {"typ": "JWT", "kid": es256.kid}
    if alg_value is not None:
        header["alg"] = alg_value
    token = signed_raw(es256, encode_segment(header), encode_segment(claims()))
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN


def _rsa_public_forms(pair: KeyPair) -> dict[str, bytes]:
    assert isinstance(pair.private_key, rsa.RSAPrivateKey)
    public = pair.private_key.public_key()
    enc = serialization.Encoding
    fmt = serialization.PublicFormat
    return {
        "spki-pem": public.public_bytes(enc.PEM, fmt.SubjectPublicKeyInfo),
        "pkcs1-pem": public.public_bytes(enc.PEM, fmt.PKCS1),
        "openssh": public.public_bytes(enc.OpenSSH, fmt.OpenSSH),
        "spki-der": public.public_bytes(enc.DER, fmt.SubjectPublicKeyInfo),
        "jwk-json": json.dumps(pair.public_jwk).encode(),
        "jwk-json-compact": json.dumps(pair.public_jwk, separators=(",", ":")).encode(),
        "modulus": b64url_decode(pair.public_jwk["n"]),
    }


@pytest.mark.parametrize(
    "form",
    ["spki-pem", "pkcs1-pem", "openssh", "spki-der", "jwk-json", "jwk-json-compact", "modulus"],
)
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_rs256_to_hs256_key_confusion(rs256: KeyPair, form: str, alg: str) -> None:
    """HMAC tokens keyed with the verifier's own RSA public key (any encoding) are refused."""
    secret = _rsa_public_forms(rs256)[form]
    token = hs_token(secret, claims(), alg=alg, kid=rs256.kid)
    assert reason(verifier_for(rs256), token) is Reason.INVALID_SIGNATURE
    assert reason(verifier_for(rs256, algorithms=["RS256"]), token) is Reason.INVALID_SIGNATURE


def test_hmac_cannot_be_enabled_next_to_a_jwks(rs256: KeyPair) -> None:
    """The confusion needs HS* and RS* on the same key material: that configuration is refused."""
    with pytest.raises(ConfigurationError):
        verifier_for(rs256, algorithms=["RS256", "HS256"])
    with pytest.raises(ConfigurationError):
        verifier_for(rs256, algorithms=sorted(jose.SUPPORTED_ALGORITHMS))
    with pytest.raises(ConfigurationError):
        JwtVerifier(
            issuer=ISSUER, audience=AUDIENCE, secret=b"k" * 32, algorithms=["HS256", "RS256"]
        )


def test_es256_token_against_rsa_key(rs256: KeyPair, es256: KeyPair) -> None:
    """An ES256 token naming the RSA key's kid: the algorithm is not bound to that key."""
    token = es256.sign(claims(), headers={"kid": rs256.kid})
    assert reason(verifier_for(rs256), token) is Reason.INVALID_SIGNATURE


def test_rs256_token_against_ec_key(rs256: KeyPair, es256: KeyPair) -> None:
    """An RS256 token naming the EC key's kid is refused the same way."""
    token = rs256.sign(claims(), headers={"kid": es256.kid})
    assert reason(verifier_for(es256), token) is Reason.INVALID_SIGNATURE


def test_es384_signature_against_p256_key(es256: KeyPair) -> None:
    """The curve fixes the algorithm: ES384/ES512 headers on a P-256 key are refused."""
    for alg in ("ES384", "ES512"):
        token = signed_raw(
            es256, encode_segment(es256_header(es256, alg=alg)), encode_segment(claims())
        )
        assert reason(verifier_for(es256), token) is Reason.INVALID_SIGNATURE


def test_ps_vs_rs_confusion_when_jwk_pins_alg(rs256: KeyPair) -> None:
    """A JWK pinned to RS256 verifies RS256 only: a real PS256 signature by the same key fails,
    whether the header says PS256 (alg not bound) or RS256 (padding mismatch)."""
    assert rs256.public_jwk["alg"] == "RS256"
    pss = rs256.sign(claims(), alg="PS256")
    assert reason(verifier_for(rs256), pss) is Reason.INVALID_SIGNATURE
    rs_header = {"alg": "RS256", "typ": "JWT", "kid": rs256.kid}
    relabelled = sign_compact(rs_header, encode_segment(claims()), rs256.private_key, "PS256")
    assert reason(verifier_for(rs256), relabelled) is Reason.INVALID_SIGNATURE
    # And the mirror image: a key pinned to PS256 refuses RS256.
    ps_pair = KeyPair(
        alg="PS256",
        kid="ps-1",
        private_key=rs256.private_key,
        public_jwk={**rs256.public_jwk, "alg": "PS256", "kid": "ps-1"},
    )
    rs_token = rs256.sign(claims(), headers={"kid": "ps-1"})
    assert reason(verifier_for(ps_pair), rs_token) is Reason.INVALID_SIGNATURE
    assert verifier_for(ps_pair).verify(ps_pair.sign(claims()))["sub"] == "alice"


def test_hmac_token_against_asymmetric_only_verifier(es256: KeyPair) -> None:
    """An HS256 token is refused by a JWKS verifier, whatever secret it was made with."""
    token = hs_token(b"s" * 32, claims(), kid=es256.kid)
    assert reason(verifier_for(es256), token) is Reason.INVALID_SIGNATURE


# --- key-bearing and remote-key headers: no fetch to the attacker -------------------------


def _remote_key_tokens(attacker: LocalIssuer, pair: KeyPair) -> dict[str, str]:
    key = attacker.key
    body = claims(iss=ISSUER)
    cert_chain = [b64url_encode(b"not really a certificate").replace("-", "+")]
    return {
        "jwk": key.sign(body, headers={"jwk": key.public_jwk}),
        "jku": key.sign(body, headers={"jku": attacker.jwks_uri}),
        "x5u": key.sign(body, headers={"x5u": f"{attacker.base_url}/cert.pem"}),
        "x5c": key.sign(body, headers={"x5c": cert_chain}),
        "jku+jwk": key.sign(body, headers={"jku": attacker.jwks_uri, "jwk": key.public_jwk}),
        "jku-on-legit-kid": pair.sign(body, headers={"jku": attacker.jwks_uri}),
    }


@pytest.mark.parametrize(
    "name", ["jwk", "jku", "x5u", "x5c", "jku+jwk", "jku-on-legit-kid"]
)
def test_key_bearing_headers_are_malformed_and_never_fetched(
    attacker: LocalIssuer, legit: LocalIssuer, name: str
) -> None:
    """``jwk``/``jku``/``x5u``/``x5c`` headers are refused before any key lookup; the URL
    they name is never contacted, and neither is the legitimate JWKS."""
    token = _remote_key_tokens(attacker, legit.key)[name]
    verifier = JwtVerifier(
        issuer=ISSUER, audience=AUDIENCE, jwks_uri=legit.jwks_uri, allow_http=True
    )
    assert reason(verifier, token) is Reason.MALFORMED_TOKEN
    assert asyncio.run(_reason_async(verifier, token)) is Reason.MALFORMED_TOKEN
    assert_untouched(attacker)
    assert legit.fetches == 0


async def _reason_async(verifier: JwtVerifier, token: object) -> Reason:
    try:
        await verifier.verify_async(token)  # type: ignore[arg-type]
    except SecAuthError as err:
        return err.reason
    raise AssertionError("verify_async accepted the token")


def test_kid_that_is_a_url_is_only_a_lookup_key(attacker: LocalIssuer, legit: LocalIssuer) -> None:
    """A ``kid`` naming the attacker's JWKS is looked up in the legitimate set only: unknown key."""
    token = attacker.key.sign(claims(), headers={"kid": attacker.jwks_uri})
    verifier = JwtVerifier(
        issuer=ISSUER, audience=AUDIENCE, jwks_uri=legit.jwks_uri, allow_http=True
    )
    assert reason(verifier, token) is Reason.UNKNOWN_KEY
    assert_untouched(attacker)
    assert legit.fetches >= 1  # the legitimate set was consulted instead


def test_iss_naming_the_attacker_is_never_discovered(
    attacker: LocalIssuer, legit: LocalIssuer
) -> None:
    """With discovery configured for the real issuer, a token whose ``iss`` is the attacker
    causes no discovery or JWKS request to the attacker."""
    token = attacker.token(sub="mallory", aud=AUDIENCE)  # iss = attacker.issuer, kid key-1
    discovered = JwtVerifier.from_discovery(legit.issuer, audience=AUDIENCE, allow_http=True)
    # The attacker's kid "key-1" also exists at the legit issuer, so the real key is tried.
    assert reason(discovered, token) is Reason.INVALID_SIGNATURE
    multi = JwtVerifier.multi(discovered)
    assert reason(multi, token) is Reason.INVALID_ISSUER
    assert_untouched(attacker)


# --- header hygiene -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "crit",
    [["exp"], ["http://example.com/ext"], [], "b64", ["b64"], None],
    ids=["exp", "ext-url", "empty", "string", "b64", "null"],
)
def test_crit_is_refused(es256: KeyPair, crit: Any) -> None:
    """Any ``crit`` member (we implement no extension) makes a correctly signed token malformed."""
    header = es256_header(es256, crit=crit, **{"http://example.com/ext": True, "b64": True})
    token = signed_raw(es256, encode_segment(header), encode_segment(claims()))
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN


@pytest.mark.parametrize("b64", [False, "false", 0, None])
def test_b64_false_is_refused(es256: KeyPair, b64: Any) -> None:
    """RFC 7797 unencoded payloads (``b64`` other than true) are refused."""
    header = es256_header(es256, b64=b64)
    token = signed_raw(es256, encode_segment(header), encode_segment(claims()))
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN


def test_b64_true_is_harmless(es256: KeyPair) -> None:
    """``b64: true`` is the default meaning and is accepted (no crit)."""
    token = signed_raw(es256, encode_segment(es256_header(es256, b64=True)), encode_segment(claims()))
    assert verifier_for(es256).verify(token)["sub"] == "alice"


@pytest.mark.parametrize(
    "extra",
    [{"enc": "A256GCM"}, {"zip": "DEF"}, {"enc": "A128CBC-HS256", "zip": "DEF"}],
    ids=["enc", "zip", "enc+zip"],
)
def test_jwe_header_members_are_refused(es256: KeyPair, extra: dict[str, Any]) -> None:
    """A three-part token whose header carries ``enc`` or ``zip`` is treated as JWE: malformed."""
    token = signed_raw(es256, encode_segment(es256_header(es256, **extra)), encode_segment(claims()))
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN


def test_jwe_shaped_five_part_token_is_refused(es256: KeyPair) -> None:
    """A compact JWE (five segments) is refused as malformed."""
    header = encode_segment({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": es256.kid})
    token = ".".join([header, "AAAA", "AAAAAAAAAAAAAAAA", "AAAA", "AAAAAAAAAAAAAAAAAAAAAA"])
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN
    with pytest.raises(SecAuthError) as exc:
        jose.parse(token)
    assert "JWE" in exc.value.detail["problem"]


@pytest.mark.parametrize("cty", ["JWT", "jwt", "application/jwt", "Application/JWT"])
def test_nested_jwt_is_refused(es256: KeyPair, cty: str) -> None:
    """``cty: JWT`` (a nested token) is refused, whatever the spelling."""
    inner = es256.sign(claims())
    token = signed_raw(
        es256, encode_segment(es256_header(es256, cty=cty)), b64url_encode(inner.encode())
    )
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN


@pytest.mark.parametrize("kid", [123, 1.5, ["es-1"], {"kid": "es-1"}, True])
def test_kid_of_wrong_type_is_malformed(es256: KeyPair, kid: Any) -> None:
    """A non-string ``kid`` is malformed (never coerced to a string)."""
    token = signed_raw(es256, encode_segment(es256_header(es256, kid=kid)), encode_segment(claims()))
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN


@pytest.mark.parametrize("typ", [1, ["JWT"], {"t": "JWT"}, False])
def test_typ_of_wrong_type_is_malformed(es256: KeyPair, typ: Any) -> None:
    """A non-string ``typ`` is malformed."""
    token = signed_raw(es256, encode_segment(es256_header(es256, typ=typ)), encode_segment(claims()))
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN


def test_unknown_kid_is_unknown_key(es256: KeyPair) -> None:
    """A correctly shaped token whose kid the key set does not hold: unknown key."""
    token = es256.sign(claims(), headers={"kid": "no-such-key"})
    assert reason(verifier_for(es256), token) is Reason.UNKNOWN_KEY


def test_missing_kid_with_several_keys_is_unknown_key(es256: KeyPair) -> None:
    """Without a kid, a token may not try every key of a multi-key set."""
    other = KeyPair.generate("ES256", kid="es-2")
    token = es256.sign(claims(), headers={"kid": None})
    assert reason(verifier_for(es256, other), token) is Reason.UNKNOWN_KEY
    # With exactly one key the kid-less token is checked against it.
    assert verifier_for(es256).verify(token)["sub"] == "alice"


def test_attacker_key_with_the_real_kid_fails_signature(
    es256: KeyPair, attacker_pair: KeyPair
) -> None:
    """Reusing a published kid with another key only yields an invalid signature."""
    assert attacker_pair.kid == es256.kid
    assert reason(verifier_for(es256), attacker_pair.sign(claims())) is Reason.INVALID_SIGNATURE


# --- encoding strictness ------------------------------------------------------------------


def _three(token: str) -> tuple[str, str, str]:
    head, body, sig = token.split(".")
    return head, body, sig


@pytest.mark.parametrize("segment", [0, 1, 2], ids=["header", "payload", "signature"])
@pytest.mark.parametrize(
    "junk", ["=", "==", "+", "/", " ", "\n", "\t", "%", "\x00", "é"], ids=repr
)
def test_junk_characters_in_any_segment(es256: KeyPair, segment: int, junk: str) -> None:
    """Padding, standard-alphabet characters, whitespace and other junk anywhere: malformed."""
    parts = list(_three(es256.sign(claims())))
    parts[segment] = parts[segment] + junk
    assert reason(verifier_for(es256), ".".join(parts)) is Reason.MALFORMED_TOKEN
    parts[segment] = junk + parts[segment][: -len(junk)]
    assert reason(verifier_for(es256), ".".join(parts)) is Reason.MALFORMED_TOKEN


def test_padded_header_is_malformed_even_when_signed(es256: KeyPair) -> None:
    """A header segment with ``=`` padding is refused although the signature covers it."""
    header = encode_segment(es256_header(es256))
    padded = header + "=" * (-len(header) % 4 or 4)
    token = signed_raw(es256, padded, encode_segment(claims()))
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN


def test_non_canonical_trailing_bits_in_header(es256: KeyPair) -> None:
    """Header with non-zero unused bits, signed as such: malformed."""
    pad = ""
    header = encode_segment(es256_header(es256))
    while len(header) % 4 not in (2, 3):  # grow the JSON until a partial group remains
        pad += "x"
        header = encode_segment(es256_header(es256, x=pad))
    token = signed_raw(es256, with_bits_set(header), encode_segment(claims()))
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN


def test_non_canonical_trailing_bits_in_payload(es256: KeyPair) -> None:
    """Payload with non-zero unused bits, signed as such: the signature holds, the payload is
    still refused as malformed."""
    pad = ""
    payload = encode_segment(claims())
    while len(payload) % 4 not in (2, 3):
        pad += "x"
        payload = encode_segment(claims(pad=pad))
    token = signed_raw(es256, encode_segment(es256_header(es256)), with_bits_set(payload))
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN


def test_non_canonical_trailing_bits_in_signature(es256: KeyPair) -> None:
    """The ES256 signature segment (86 chars) with unused bits set: malformed."""
    head, body, sig = _three(es256.sign(claims()))
    assert len(sig) % 4 == 2
    assert reason(verifier_for(es256), f"{head}.{body}.{with_bits_set(sig)}") is (
        Reason.MALFORMED_TOKEN
    )


@pytest.mark.parametrize("segment", [0, 1, 2], ids=["header", "payload", "signature"])
def test_impossible_base64_length(es256: KeyPair, segment: int) -> None:
    """A segment whose length is 1 mod 4 cannot be base64url: malformed (signed where it can be)."""
    parts = [encode_segment(es256_header(es256)), encode_segment(claims()), ""]
    value = parts[segment]
    parts[segment] = value + "A" * ((1 - len(value)) % 4)
    assert len(parts[segment]) % 4 == 1
    if segment < 2:
        token = signed_raw(es256, parts[0], parts[1])
    else:
        head, body, sig = _three(es256.sign(claims()))
        token = f"{head}.{body}.{sig}AAA"
        assert len(sig + "AAA") % 4 == 1
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN


# --- strict JSON --------------------------------------------------------------------------


def test_duplicate_alg_in_header(es256: KeyPair) -> None:
    """Two ``alg`` members (the classic parser-differential trick) are malformed."""
    raw = b'{"alg":"ES256","kid":"es-1","alg":"none"}'
    token = signed_raw(es256, b64url_encode(raw), encode_segment(claims()))
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN
    raw_kid = b'{"alg":"ES256","kid":"other","kid":"es-1"}'
    token = signed_raw(es256, b64url_encode(raw_kid), encode_segment(claims()))
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN


@pytest.mark.parametrize("name", ["iss", "aud", "exp", "sub"])
def test_duplicate_claims_in_payload(es256: KeyPair, name: str) -> None:
    """A correctly signed payload with a repeated claim name is malformed."""
    body = json.dumps(claims())[:-1] + f', "{name}": "https://evil.example/"}}'
    token = signed_raw(es256, encode_segment(es256_header(es256)), b64url_encode(body.encode()))
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN


def test_duplicate_keys_in_nested_claim_objects(es256: KeyPair) -> None:
    """Duplicates are refused at every depth, not only at the top."""
    body = json.dumps(claims())[:-1] + ', "roles": {"admin": false, "admin": true}}'
    token = signed_raw(es256, encode_segment(es256_header(es256)), b64url_encode(body.encode()))
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b'{"sub":"\xff\xfe"}', id="invalid-utf8"),
        pytest.param(b'{"sub":"\xed\xa0\x80"}', id="utf8-surrogate"),
        pytest.param(b'{"sub":"\xc0\xaf"}', id="overlong-utf8"),
        pytest.param('{"sub":"a"}'.encode("utf-16"), id="utf16-bom"),
        pytest.param('{"sub":"a"}'.encode("utf-16-le"), id="utf16-le"),
        pytest.param('{"sub":"a"}'.encode("utf-32"), id="utf32"),
        pytest.param(b'\xef\xbb\xbf{"sub":"a"}', id="utf8-bom"),
        pytest.param(b'["sub","alice"]', id="top-level-array"),
        pytest.param(b'"alice"', id="top-level-string"),
        pytest.param(b"42", id="top-level-number"),
        pytest.param(b"null", id="top-level-null"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"sub":"a"} {"sub":"b"}', id="two-documents"),
        pytest.param(b'{"sub":"a",}', id="trailing-comma"),
        pytest.param(b"{'sub':'a'}", id="single-quotes"),
        pytest.param(b'{"exp":NaN}', id="nan-literal"),
        pytest.param(b'{"exp":Infinity}', id="infinity-literal"),
        pytest.param(b'{"exp":-Infinity}', id="minus-infinity-literal"),
    ],
)
def test_payload_that_is_not_a_strict_json_object(es256: KeyPair, payload: bytes) -> None:
    """Correctly signed payloads that are not one strict UTF-8 JSON object: malformed.

    NaN/Infinity literals are not JSON at all, so they are malformed rather than invalid claims.
    """
    token = signed_raw(es256, encode_segment(es256_header(es256)), b64url_encode(payload))
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(b'\xef\xbb\xbf{"alg":"ES256","kid":"es-1"}', id="bom"),
        pytest.param('{"alg":"ES256","kid":"es-1"}'.encode("utf-16"), id="utf16"),
        pytest.param(b'["ES256"]', id="array"),
        pytest.param(b'{"alg":"ES256","kid":"\xff"}', id="invalid-utf8"),
    ],
)
def test_header_that_is_not_a_strict_json_object(es256: KeyPair, header: bytes) -> None:
    """Headers with a BOM, UTF-16, invalid UTF-8 or a non-object top level: malformed."""
    token = signed_raw(es256, b64url_encode(header), encode_segment(claims()))
    assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN


def _nested(levels: int) -> str:
    """A claims object whose ``x`` claim nests arrays so the whole value is ``levels`` deep."""
    return '{"x":' + "[" * (levels - 1) + "]" * (levels - 1) + "}"


def test_deeply_nested_claims_10000_levels(es256: KeyPair) -> None:
    """10,000 levels of nesting (signed) are malformed, not a RecursionError."""
    body = json.dumps(claims())[:-1] + ', "deep": ' + _nested(10_000) + "}"
    token = signed_raw(es256, encode_segment(es256_header(es256)), b64url_encode(body.encode()))
    verifier = verifier_for(es256, max_token_size=1024 * 1024)
    assert reason(verifier, token) is Reason.MALFORMED_TOKEN


def test_nesting_cap_is_16(es256: KeyPair) -> None:
    """Depth 16 (the top object counted) is accepted; 17 and 20 are malformed."""
    verifier = verifier_for(es256)

    def token_with_depth(levels: int) -> str:
        # the top-level claims object is level 1, so "deep" holds levels - 1 more
        body = json.dumps(claims())[:-1] + ', "deep": ' + _nested(levels - 1) + "}"
        return signed_raw(es256, encode_segment(es256_header(es256)), b64url_encode(body.encode()))

    assert verifier.verify(token_with_depth(16))["sub"] == "alice"
    assert reason(verifier, token_with_depth(17)) is Reason.MALFORMED_TOKEN
    assert reason(verifier, token_with_depth(20)) is Reason.MALFORMED_TOKEN


# --- ECDSA signature encoding -------------------------------------------------------------


def _split_es(token: str) -> tuple[str, bytes]:
    head, body, sig = _three(token)
    return f"{head}.{body}", b64url_decode(sig)


def test_der_encoded_ecdsa_signature_is_refused(es256: KeyPair) -> None:
    """The DER form of a valid ECDSA signature is not the JWS form (R || S): invalid."""
    key = es256.private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signing_input = f"{encode_segment(es256_header(es256))}.{encode_segment(claims())}"
    der = key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    token = f"{signing_input}.{b64url_encode(der)}"
    assert reason(verifier_for(es256), token) is Reason.INVALID_SIGNATURE


@pytest.mark.parametrize("change", ["drop-last", "add-zero", "prefix-zero", "half", "double"])
def test_wrong_length_ecdsa_signature(es256: KeyPair, change: str) -> None:
    """ES256 signatures must be exactly 64 bytes; any other length is invalid."""
    signing_input, sig = _split_es(es256.sign(claims()))
    bad = {
        "drop-last": sig[:-1],
        "add-zero": sig + b"\x00",
        "prefix-zero": b"\x00" + sig,
        "half": sig[:32],
        "double": sig + sig,
    }[change]
    token = f"{signing_input}.{b64url_encode(bad)}"
    assert reason(verifier_for(es256), token) is Reason.INVALID_SIGNATURE


@pytest.mark.parametrize(
    ("crv", "curve", "order"),
    [
        ("P-256", ec.SECP256R1(), P256_ORDER),
        ("P-384", ec.SECP384R1(), P384_ORDER),
        ("P-521", ec.SECP521R1(), P521_ORDER),
    ],
)
def test_ecdsa_range_check_uses_the_true_group_orders(
    crv: str, curve: ec.EllipticCurve, order: int
) -> None:
    """The explicit r/s range check is only as good as its constants: each must be the group
    order (FIPS 186-4 D.1.2), checked here independently as (n-1)*G == -G and n refused as a
    scalar. (A P-521 constant with six extra hex digits once let r >= n past our own check.)"""
    assert order.bit_length() == curve.key_size
    generator = ec.derive_private_key(1, curve).public_key().public_numbers()
    minus_one = ec.derive_private_key(order - 1, curve).public_key().public_numbers()
    assert (minus_one.x, minus_one.y) == (generator.x, -generator.y % _field_prime(curve))
    with pytest.raises(ValueError, match="key out of range"):
        ec.derive_private_key(order, curve)
    assert jwk.EC_GROUP_ORDERS[crv] == order


def _field_prime(curve: ec.EllipticCurve) -> int:
    return {
        256: 2**256 - 2**224 + 2**192 + 2**96 - 1,
        384: 2**384 - 2**128 - 2**96 + 2**32 - 1,
        521: 2**521 - 1,
    }[curve.key_size]


@pytest.mark.parametrize(
    ("alg", "size", "order"),
    [("ES256", 32, P256_ORDER), ("ES384", 48, P384_ORDER), ("ES512", 66, P521_ORDER)],
)
@pytest.mark.parametrize("which", ["r=0,s=0", "r=0", "s=0", "r=n", "s=n", "r=s=n", "r=n+1"])
def test_psychic_and_out_of_range_ecdsa_signatures(
    alg: str, size: int, order: int, which: str
) -> None:
    """CVE-2022-21449 ("psychic signatures"): r or s zero, or >= the group order: invalid."""
    pair = KeyPair.generate(alg, kid="k")
    signing_input, sig = _split_es(pair.sign(claims()))
    r = int.from_bytes(sig[:size], "big")
    s = int.from_bytes(sig[size:], "big")
    values = {
        "r=0,s=0": (0, 0),
        "r=0": (0, s),
        "s=0": (r, 0),
        "r=n": (order, s),
        "s=n": (r, order),
        "r=s=n": (order, order),
        "r=n+1": (order + 1, s),
    }[which]
    if any(v.bit_length() > size * 8 for v in values):
        pytest.fail("test bug: value does not fit the fixed-size encoding")
    bad = values[0].to_bytes(size, "big") + values[1].to_bytes(size, "big")
    token = f"{signing_input}.{b64url_encode(bad)}"
    assert reason(verifier_for(pair), token) is Reason.INVALID_SIGNATURE
    key = jose.VerificationKey.from_jwk(pair.public_jwk)
    assert key.verify(alg, signing_input.encode(), bad) is False


# --- tampering and stripping --------------------------------------------------------------


def test_signature_stripping(es256: KeyPair) -> None:
    """An empty third segment, or only two segments: malformed."""
    head, body, _sig = _three(es256.sign(claims()))
    for token in (f"{head}.{body}.", f"{head}.{body}", f"{head}..", f".{body}.", ".."):
        assert reason(verifier_for(es256), token) is Reason.MALFORMED_TOKEN


def test_payload_tampering_after_signing(es256: KeyPair) -> None:
    """Swapping in another payload (admin claims, later exp) breaks the signature."""
    head, _body, sig = _three(es256.sign(claims()))
    for forged in (claims(sub="admin"), claims(exp=NOW + 10**6), claims(roles=["admin"])):
        token = f"{head}.{encode_segment(forged)}.{sig}"
        assert reason(verifier_for(es256), token) is Reason.INVALID_SIGNATURE


def test_header_tampering_after_signing(es256: KeyPair) -> None:
    """Changing an innocuous header member (typ) breaks the signature too."""
    _head, body, sig = _three(es256.sign(claims()))
    head = encode_segment(es256_header(es256, typ="at+jwt"))
    assert reason(verifier_for(es256), f"{head}.{body}.{sig}") is Reason.INVALID_SIGNATURE


def test_signature_from_another_token_is_refused(es256: KeyPair) -> None:
    """A valid signature transplanted onto a different (valid-looking) token is invalid."""
    _h1, _b1, sig_a = _three(es256.sign(claims(sub="alice")))
    h2, b2, _sig_b = _three(es256.sign(claims(sub="bob")))
    assert reason(verifier_for(es256), f"{h2}.{b2}.{sig_a}") is Reason.INVALID_SIGNATURE


# --- size limits --------------------------------------------------------------------------


def test_oversized_token_default_limit(es256: KeyPair) -> None:
    """A signed token just over 16 KiB is malformed; one just under verifies."""
    verifier = verifier_for(es256)
    base = len(es256.sign(claims(pad="")))
    under = es256.sign(claims(pad="x" * ((16 * 1024 - base) * 3 // 4 - 8)))
    assert len(under) <= 16 * 1024
    assert verifier.verify(under)["sub"] == "alice"
    over = es256.sign(claims(pad="x" * ((16 * 1024 - base) * 3 // 4 + 8)))
    assert len(over) > 16 * 1024
    assert reason(verifier, over) is Reason.MALFORMED_TOKEN
    assert reason(verifier, "a" * (10 * 1024 * 1024)) is Reason.MALFORMED_TOKEN


def test_oversized_token_custom_limit(es256: KeyPair) -> None:
    """``max_token_size=1024`` refuses a 1.5 KiB token that the default would accept."""
    token = es256.sign(claims(pad="x" * 1100))
    assert 1024 < len(token) < 16 * 1024
    assert verifier_for(es256).verify(token)["sub"] == "alice"
    assert reason(verifier_for(es256, max_token_size=1024), token) is Reason.MALFORMED_TOKEN
    with pytest.raises(ConfigurationError):
        verifier_for(es256, max_token_size=10)


# --- time claims --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize(
    "value",
    [
        pytest.param(1e309, id="1e309"),
        pytest.param(-1e309, id="-1e309"),
        pytest.param("1700000300", id="numeric-string"),
        pytest.param("never", id="string"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(None, id="null"),
        pytest.param([NOW + 300], id="list"),
        pytest.param({"t": NOW + 300}, id="object"),
        pytest.param(2**63, id="huge-int"),
        pytest.param(-(2**63), id="huge-negative"),
    ],
)
def test_time_claims_that_are_not_finite_numbers(es256: KeyPair, name: str, value: Any) -> None:
    """exp/nbf/iat that are not finite JSON numbers (1e309 parses to inf): invalid claims."""
    body = claims(**{name: value})
    raw = json.dumps(body).replace("Infinity", "1e309").encode()  # keep it strict JSON
    token = signed_raw(es256, encode_segment(es256_header(es256)), b64url_encode(raw))
    assert reason(verifier_for(es256), token) is Reason.INVALID_CLAIMS


def test_expired(es256: KeyPair) -> None:
    """exp in the past (or exactly now) is expired; leeway shifts the edge."""
    assert reason(verifier_for(es256), es256.sign(claims(exp=NOW - 1))) is Reason.TOKEN_EXPIRED
    assert reason(verifier_for(es256), es256.sign(claims(exp=NOW))) is Reason.TOKEN_EXPIRED
    lenient = verifier_for(es256, leeway=5)
    assert lenient.verify(es256.sign(claims(exp=NOW - 1)))["sub"] == "alice"
    assert reason(lenient, es256.sign(claims(exp=NOW - 5))) is Reason.TOKEN_EXPIRED


def test_missing_exp(es256: KeyPair) -> None:
    """No exp: invalid claims unless require_exp=False."""
    token = es256.sign(claims(exp=_DROP))
    assert reason(verifier_for(es256), token) is Reason.INVALID_CLAIMS
    assert verifier_for(es256, require_exp=False).verify(token)["sub"] == "alice"


def test_not_yet_valid(es256: KeyPair) -> None:
    """nbf in the future: not yet valid."""
    token = es256.sign(claims(nbf=NOW + 60))
    assert reason(verifier_for(es256), token) is Reason.TOKEN_NOT_YET_VALID
    assert verifier_for(es256, leeway=60).verify(token)["sub"] == "alice"


def test_iat_in_the_future(es256: KeyPair) -> None:
    """iat more than max_future_iat ahead: not yet valid."""
    token = es256.sign(claims(iat=NOW + 3600))
    assert reason(verifier_for(es256), token) is Reason.TOKEN_NOT_YET_VALID
    assert verifier_for(es256).verify(es256.sign(claims(iat=NOW + 30)))["sub"] == "alice"


def test_expired_token_is_rejected_from_the_cache_too(es256: KeyPair) -> None:
    """A token verified once is still refused after its exp (the cache rechecks time)."""
    clock = [float(NOW)]
    verifier = verifier_for(es256, clock=lambda: clock[0])
    token = es256.sign(claims(exp=NOW + 10))
    assert verifier.verify(token)["sub"] == "alice"
    clock[0] = NOW + 11
    assert reason(verifier, token) is Reason.TOKEN_EXPIRED


# --- issuer and audience ------------------------------------------------------------------


@pytest.mark.parametrize(
    "iss",
    [
        "https://idp.example.com.evil/",
        "https://idp.example.com.evil.com/",
        "https://evil.com/https://idp.example.com/",
        "https://idp.example.com",
        "https://idp.example.com//",
        "https://IDP.example.com/",
        "HTTPS://idp.example.com/",
        "http://idp.example.com/",
        "https://idp.example.com:443/",
        "https://idp.example.com/ ",
        " https://idp.example.com/",
        "https://idp.example.com/\x00",
        "https:",
        "idp.example.com",
        "",
        ["https://idp.example.com/"],
        {"iss": "https://idp.example.com/"},
        None,
        1,
    ],
)
def test_issuer_tricks(es256: KeyPair, iss: Any) -> None:
    """Only the exact issuer string passes: prefixes, suffixes, case, slashes, types all fail."""
    assert reason(verifier_for(es256), es256.sign(claims(iss=iss))) is Reason.INVALID_ISSUER


def test_issuer_missing(es256: KeyPair) -> None:
    """No iss at all: invalid issuer."""
    assert reason(verifier_for(es256), es256.sign(claims(iss=_DROP))) is Reason.INVALID_ISSUER


def test_issuer_configured_without_trailing_slash_is_exact_too(es256: KeyPair) -> None:
    """Exactness works both ways: issuer without a slash refuses the slashed iss."""
    verifier = verifier_for(es256, issuer="https://idp.example.com")
    assert reason(verifier, es256.sign(claims())) is Reason.INVALID_ISSUER
    assert verifier.verify(es256.sign(claims(iss="https://idp.example.com")))["sub"] == "alice"


@pytest.mark.parametrize(
    "aud",
    [
        [],
        ["other-api"],
        ["orders-api-v2"],
        ["ORDERS-API"],
        [["orders-api"]],
        [None, "orders-api"],
        [1, "orders-api"],
        ["orders-api", {"x": 1}],
        "orders",
        "orders-api ",
        "",
        None,
        42,
        {"aud": "orders-api"},
    ],
)
def test_audience_tricks(es256: KeyPair, aud: Any) -> None:
    """aud must be the string or a list of strings containing it; anything else fails."""
    assert reason(verifier_for(es256), es256.sign(claims(aud=aud))) is Reason.INVALID_AUDIENCE


def test_audience_list_with_a_match_passes(es256: KeyPair) -> None:
    """A list of strings that contains the audience is accepted (one match suffices)."""
    token = es256.sign(claims(aud=["other-api", AUDIENCE]))
    assert verifier_for(es256).verify(token)["aud"] == ["other-api", AUDIENCE]


def test_audience_missing(es256: KeyPair) -> None:
    """No aud claim: invalid audience."""
    assert reason(verifier_for(es256), es256.sign(claims(aud=_DROP))) is Reason.INVALID_AUDIENCE


# --- secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize(("alg", "size"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_secret_too_short_is_a_configuration_error(alg: str, size: int) -> None:
    """An HMAC secret shorter than the hash output is refused at construction."""
    with pytest.raises(ConfigurationError):
        JwtVerifier(issuer=ISSUER, audience=AUDIENCE, secret=bytes(range(size - 1)), algorithms=[alg])
    secret = bytes(range(size))
    verifier = JwtVerifier(issuer=ISSUER, audience=AUDIENCE, secret=secret, algorithms=[alg])
    assert verifier.verify(hs_token(secret, claims(exp=4e9, iat=_DROP), alg=alg))["sub"] == (
        "alice"
    )


def test_hmac_requested_without_a_secret(es256: KeyPair) -> None:
    """HS256 in algorithms without secret=: configuration error (with or without a JWKS)."""
    with pytest.raises(ConfigurationError):
        verifier_for(es256, algorithms=["HS256"])
    with pytest.raises(ConfigurationError):
        JwtVerifier(issuer=ISSUER, audience=AUDIENCE, algorithms=["HS256"])


def test_secret_without_naming_hmac_is_a_configuration_error() -> None:
    """secret= without algorithms=['HS...'] is refused (no silent default)."""
    with pytest.raises(ConfigurationError):
        JwtVerifier(issuer=ISSUER, audience=AUDIENCE, secret=b"k" * 32)
    with pytest.raises(ConfigurationError):
        JwtVerifier(issuer=ISSUER, audience=AUDIENCE, secret=b"", algorithms=["HS256"])


def test_hmac_wrong_secret_and_truncated_mac() -> None:
    """With an HMAC verifier: another secret, a truncated MAC or an HS384 MAC all fail."""
    secret = bytes(range(48))
    verifier = JwtVerifier(
        issuer=ISSUER, audience=AUDIENCE, secret=secret, algorithms=["HS256"], clock=lambda: NOW
    )
    assert verifier.verify(hs_token(secret, claims()))["sub"] == "alice"
    assert reason(verifier, hs_token(bytes(range(1, 49)), claims())) is Reason.INVALID_SIGNATURE
    head, body, sig = _three(hs_token(secret, claims()))
    short = b64url_encode(b64url_decode(sig)[:16])
    assert reason(verifier, f"{head}.{body}.{short}") is Reason.INVALID_SIGNATURE
    mac384 = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha384).digest()
    assert reason(verifier, f"{head}.{body}.{b64url_encode(mac384)}") is Reason.INVALID_SIGNATURE
    assert reason(verifier, hs_token(secret, claims(), alg="HS384")) is Reason.INVALID_SIGNATURE


# --- no foreign exception, no leak --------------------------------------------------------


class _Hostile:
    """An object whose comparisons and str() blow up."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("boom")

    def __hash__(self) -> int:
        return 0

    def __str__(self) -> str:
        raise RuntimeError("boom")


def _weird_inputs(es256: KeyPair) -> list[Any]:
    good = es256.sign(claims())
    head, body, sig = _three(good)
    return [
        None,
        b"",
        good.encode(),
        bytearray(good.encode()),
        memoryview(good.encode()),
        0,
        1.5,
        True,
        {"token": good},
        [good],
        (head, body, sig),
        object(),
        _Hostile(),
        "",
        ".",
        "..",
        "...",
        "a.b.c",
        "a.b",
        "a",
        "a.b.c.d",
        "a.b.c.d.e",
        "a.b.c.d.e.f",
        f"{good}.{sig}",
        f"{head}.{body}.{sig}.{sig}.{sig}",
        f"{head}.{body}.{sig}.{sig}.{sig}.{sig}",
        "Bearer " + good,
        good + " ",
        " " + good,
        good + "\n",
        good.replace(".", ". "),
        "\x00",
        "\x00" * 100,
        "\ud800",
        "é.é.é",
        "🔑.🔑.🔑",
        "ＡＡＡＡ.ＡＡＡＡ.ＡＡＡＡ",  # noqa: RUF001 - fullwidth letters on purpose
        "x" * 17_000,
        "A" * 5_000 + "." + "A" * 5_000 + "." + "A" * 5_000,
        "e30.e30.AA",
        "eyJhbGciOiJFUzI1NiJ9.e30.AA",
        f"{encode_segment({'alg': 'ES256'})}.{encode_segment([1, 2])}.{sig}",
        f"{encode_segment({'alg': 'HS256'})}.{body}.{sig}",
        f"{b64url_encode(b'{')}.{body}.{sig}",
        f"{b64url_encode(bytes(range(256)))}.{body}.{sig}",
        str(good).upper(),
        good[::-1],
    ]


def test_only_secauth_errors_escape(es256: KeyPair) -> None:
    """Weird inputs of every type raise SecAuthError subclasses only (sync and async, single-
    and multi-issuer), never TypeError, ValueError, UnicodeError or RecursionError."""
    verifier = verifier_for(es256)
    multi = JwtVerifier.multi(verifier)
    for value in _weird_inputs(es256):
        for target in (verifier, multi):
            with pytest.raises(SecAuthError) as exc:
                target.verify(value)
            assert type(exc.value).__module__ == "secauth.errors"
            assert exc.value.status in (401, 403, 503)
            assert asyncio.run(_raises_secauth(target, value))


async def _raises_secauth(target: Any, value: object) -> bool:
    try:
        await target.verify_async(value)
    except SecAuthError:
        return True
    return False


def test_none_and_empty_are_missing_token(es256: KeyPair) -> None:
    """None and "" are reported as missing credentials, not as malformed."""
    assert reason(verifier_for(es256), None) is Reason.MISSING_TOKEN
    assert reason(verifier_for(es256), "") is Reason.MISSING_TOKEN


_TOKEN_ALPHABET = st.sampled_from(
    list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ")
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    text=st.one_of(
        st.text(max_size=300),
        st.text(_TOKEN_ALPHABET, max_size=300),
        st.lists(st.text(_TOKEN_ALPHABET, max_size=60), min_size=1, max_size=7).map(".".join),
    )
)
def test_fuzzed_strings_raise_only_secauth_errors(es256: KeyPair, text: str) -> None:
    """Random text, random base64url-ish text and random dotted segments never escape as
    a foreign exception and never verify."""
    with pytest.raises(SecAuthError):
        verifier_for(es256).verify(text)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(header=st.binary(max_size=80), payload=st.binary(max_size=200))
def test_fuzzed_signed_segments_raise_only_secauth_errors(
    es256: KeyPair, header: bytes, payload: bytes
) -> None:
    """Arbitrary bytes as header and payload, *correctly signed*, still only yield SecAuthErrors."""
    token = signed_raw(es256, b64url_encode(header), b64url_encode(payload))
    with pytest.raises(SecAuthError):
        verifier_for(es256).verify(token)


def _leaky_tokens(es256: KeyPair) -> list[str]:
    good = es256.sign(claims())
    head, body, sig = _three(good)
    big_sig = b64url_encode(bytes(range(256)) * 40)
    return [
        f"{head}.{body}.{sig}x",
        f"{head}.{body}.{with_bits_set(sig)}",
        f"{head}.{encode_segment(claims(sub='admin'))}.{sig}",
        es256.sign(claims(exp=NOW - 1)),
        es256.sign(claims(iss="https://evil.example/" + "x" * 500)),
        es256.sign(claims(aud="x" * 500)),
        es256.sign(claims(), headers={"kid": "k" * 500}),
        es256.sign(claims(), headers={"jku": "https://evil.example/" + "j" * 300}),
        f"{head}.{body}.{big_sig}",
        f"{head}.{body}.{sig}.{sig}.{sig}",
        good + "A" * (17 * 1024),
        f"{encode_segment({'alg': 'none'})}.{body}.{sig}",
    ]


def test_errors_never_contain_the_token_or_its_signature(es256: KeyPair) -> None:
    """str(), repr(), detail and to_log() of every rejection hold neither the token text nor
    its signature segment (nor any 40-character run of the token)."""
    verifier = verifier_for(es256)
    for token in _leaky_tokens(es256):
        with pytest.raises(SecAuthError) as exc:
            verifier.verify(token)
        err = exc.value
        rendered = [str(err), repr(err), json.dumps(err.detail, default=str), str(err.to_log())]
        signature_segment = token.split(".")[2] if token.count(".") >= 2 else token
        for text in rendered:
            assert token not in text
            assert signature_segment not in text
            for start in range(0, max(1, len(token) - 40), 40):
                assert token[start : start + 40] not in text, (err.reason, text[:200])
            assert len(text) < 2000


_COMPACT_SHAPE = r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"


@pytest.mark.parametrize(
    "token",
    ["", "..", "a..c", ".b.c", "a.b.", "a.b", "a.b.c.d", "a.b.c.d.e", "a.b.c=", "a.b+.c",
     "a/b.c.d", "a.b.c ", " a.b.c", "a.b.c\n", "a.\u00e9.c", "a.b.\uff43", "a.b.c\x00"],
)  # fmt: skip
def test_split_compact_refuses_every_other_shape(token: str) -> None:
    with pytest.raises(SecAuthError) as caught:
        jose.split_compact(token)
    assert caught.value.reason is Reason.MALFORMED_TOKEN


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="Aa0_-.=+/ \u00e9\n", max_size=12))
def test_split_compact_accepts_exactly_three_base64url_parts(token: str) -> None:
    """The shape check agrees with the grammar written as a regular expression."""
    import re

    shaped = re.fullmatch(_COMPACT_SHAPE, token) is not None
    problem = None
    try:
        jose.split_compact(token)
    except SecAuthError as exc:
        problem = exc.detail.get("problem", "")
    if not shaped:
        assert problem is not None  # refused
    else:  # accepted, or a well-shaped token whose signature has an impossible length
        assert problem is None or problem.startswith("signature")
