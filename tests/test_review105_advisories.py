"""Review 105: advisories of comparable JOSE libraries and JWT attack classes, against secauth.

Resolved (the test asserts it): the one finding. An RSA JWK's public exponent is held to 32 bits
(``jwk._import_rsa``; 65537 is the norm, Go's crypto/rsa allows 2**31 - 1), so no key set can make
each check under its kid a full-size exponentiation.

Coverage map: attack class or advisory -> where it is tested ("here" = this file).

alg none in any case (jsonwebtoken CVE-2015-9235)  -> test_attacks::test_alg_none_*
RS->HS confusion, public key as HMAC secret (CVE-2015-9235, jsonwebtoken CVE-2022-23541, PyJWT
  CVE-2017-11424, CVE-2022-29217, python-jose CVE-2024-33663, Authlib CVE-2024-37568)
  -> test_attacks::test_rs256_to_hs256_key_confusion, test_advisory::test_pyjwt_*,
     test_advisory::test_python_jose_*, test_advisory::test_authlib_cve_2024_37568_*
ES/EdDSA -> HS confusion                  -> test_advisory::test_pyjwt_cve_2022_29217_openssh_*
PEM with leading whitespace, CRLF, X.509 certificate as HMAC secret (fast-jwt CVE-2023-48223)
  -> here: test_fast_jwt_cve_2023_48223_pem_spellings_as_hmac_secret
JWK alg vs header alg; ES384 on P-256; Ed448 vs Ed25519
  -> test_advisory::test_pyjwt_ghsa_jq35_7prp_9v3f_header_alg_vs_key_alg,
     test_attacks::test_ps_vs_rs_confusion_when_jwk_pins_alg, test_es384_signature_against_p256_key,
     test_review67_jwt_core::test_the_token_alg_must_be_one_the_key_is_bound_to
keyset mixing HMAC and RSA keys, kid picks (php-jwt CVE-2021-46743)
  -> test_attacks::test_hmac_cannot_be_enabled_next_to_a_jwks; here: test_php_jwt_cve_2021_46743_*
no key / falsy key means none (jsonwebtoken CVE-2022-23540)
  -> test_attacks::test_alg_none_is_refused_even_when_listed; here: test_jsonwebtoken_cve_2022_23540_*
legacy key types DSA, secp256k1, RSA-1024 (jsonwebtoken CVE-2022-23539)
  -> test_review24_jose_core::test_rsa_keys_with_a_bad_exponent_or_modulus_are_not_imported;
     here: test_jsonwebtoken_cve_2022_23539_legacy_key_types_are_not_imported
crit (PyJWT CVE-2026-32597, Authlib CVE-2025-59420) -> test_attacks::test_crit_is_refused, advisory
b64:false (PyJWT CVE-2026-48525, joserfc CVE-2026-48990) -> test_attacks::test_b64_false_*, advisory
kid injection (traversal, SQL, NUL, 10k chars, lone surrogate, URL, non-string)
  -> test_review24_jose_core::test_odd_kids_*, test_attacks::test_kid_of_wrong_type_is_malformed,
     test_attacks::test_kid_that_is_a_url_*, test_review55_jose_leaks::test_a_lone_surrogate_kid_*
jku/x5u/x5c/jwk in the header (node-jose CVE-2018-0114) -> test_attacks::test_key_bearing_headers_*
psychic signatures (Java CVE-2022-21449)  -> test_advisory::test_java_cve_2022_21449_*, test_attacks
ECDSA DER vs R||S, wrong lengths, high-S -> test_attacks::test_der_encoded_ecdsa_*, test_wrong_length_*,
  test_review67_jwt_core::test_an_ecdsa_high_s_twin_*
EC point off the curve (invalid curve)    -> test_jwks.py (off_curve, "not on")
EC coordinate not reduced mod p (x + p)   -> here: test_ec_jwk_coordinate_not_reduced_mod_p_*
Ed25519/Ed448 small-order keys, S + L     -> test_review24_jose_core, test_review25_followups
RSA tiny modulus, e = 1, even e, e = n    -> test_review24_jose_core::test_rsa_keys_with_a_bad_*
RSA e = 3 Bleichenbacher'06 forgery (OpenSSL CVE-2006-4339, python-rsa CVE-2016-1494, node-forge
  CVE-2022-24771/24772)                   -> here: test_bleichenbacher_06_e3_forgery_is_refused
RSA signature not the modulus length      -> here: test_rsa_signature_of_another_length_is_refused
RSA huge public exponent (JWKS DoS)       -> here: test_rsa_key_with_a_huge_public_exponent_* (FINDING)
PS256 salt length / MGF                   -> test_review24_jose_core::test_ps256_with_another_salt_*
duplicate JSON members (also \\u escapes) -> test_attacks::test_duplicate_*, test_review24_jose_core
BOM, UTF-16/32, overlong UTF-8, surrogates -> test_attacks::test_payload_that_is_not_a_strict_*
huge numbers (1e309, 2**63), exp as string/bool/null -> test_attacks::test_time_claims_that_*
5000-digit integer claim (CPython CVE-2020-10735) -> here: test_a_5000_digit_time_claim_*
aud nested arrays, [] (jwt-go CVE-2020-26160) -> test_attacks::test_audience_tricks
iss type confusion, array (fast-jwt CVE-2025-30144), partial match (PyJWT CVE-2024-53861)
  -> test_attacks::test_issuer_tricks, test_advisory::test_pyjwt_cve_2024_53861_*
JWE / zip / PBES2 p2c (python-jose CVE-2024-33664, jwcrypto CVE-2022-3102, CVE-2024-28102,
  CVE-2023-6681)                          -> test_advisory::test_python_jose_*, test_jwcrypto_*
JWS JSON serialization, unprotected header alg (go-jose CVE-2016-9122, web-token jwt-framework
  GHSA-jc38-x7x8-2xc8)                    -> here: test_jws_json_serialization_is_refused
nested JWT (cty: JWT)                     -> test_attacks::test_nested_jwt_is_refused
2 or 4 dots, whitespace, padding, trailing bits -> test_attacks::test_split_compact_*, junk, bits
many dots DoS (go-jose CVE-2025-27144, golang-jwt CVE-2025-30204, x/oauth2 jws CVE-2025-22868)
  -> here: test_tokens_made_of_dots_are_refused_by_the_shape_check
signature stripping                       -> test_attacks::test_signature_stripping
error precedence: claims reported before the signature (golang-jwt CVE-2024-51744)
  -> here: test_golang_jwt_cve_2024_51744_bad_signature_wins_over_claim_errors
HMAC comparison timing (python-jose CVE-2016-7036) -> test_advisory::test_python_jose_cve_2016_7036_*
huge tokens (Authlib CVE-2025-61920), deep claims (nimbus CVE-2025-53864)
  -> test_attacks::test_oversized_*, test_deeply_nested_claims_10000_levels, advisory
deep nesting in the header (nimbus CVE-2025-53864, header side) -> here: test_header_nested_*
foreign exceptions escaping (nimbus CVE-2019-17195) -> test_attacks::test_only_secauth_errors_escape

What held: everything above except one item. Findings:
* LOW: jwk.py::_import_rsa bounds e only by ``3 <= e < n`` (odd). A JWK whose e has ~2047 bits
  imports, and every verification under it is a full-size modular exponentiation (about 50x the
  cost of e = 65537 at 2048 bits, about 110x at 3072; measured, not asserted). OpenSSL caps e at
  64 bits only above 3072-bit moduli, Go's crypto/rsa at 2**31 - 1. A key set is the IdP's to
  fill; anyone can then send tokens naming that kid with junk signatures.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from secauth import jose
from secauth._b64 import b64url_decode, b64url_encode
from secauth.errors import ConfigurationError, KeyImportError, Reason, SecAuthError
from secauth.jwk import VerificationKey
from secauth.key_sets import StaticKeys
from secauth.testing import KeyPair, encode_segment, sign_compact
from secauth.verifier import JwtVerifier

ISSUER = "https://idp.example.com/"
AUDIENCE = "orders-api"
NOW = 1_700_000_000
P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
# DER DigestInfo prefix of SHA-256 (RFC 8017 9.2, note 1).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def claims(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": NOW - 10,
        "exp": NOW + 300,
    }
    body.update(changes)
    return body


def verifier_for(*jwks: dict[str, Any], **options: Any) -> JwtVerifier:
    settings: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "clock": lambda: NOW}
    settings.update(options)
    return JwtVerifier(jwks={"keys": list(jwks)}, **settings)


def refused(verifier: Any, token: object) -> SecAuthError:
    with pytest.raises(SecAuthError) as caught:
        verifier.verify(token)
    return caught.value


def b64_int(value: int, size: int | None = None) -> str:
    return b64url_encode(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))


def rsa_jwk(public: rsa.RSAPublicKey, kid: str, e: int | None = None) -> dict[str, Any]:
    numbers = public.public_numbers()
    exponent = numbers.e if e is None else e
    return {"kty": "RSA", "kid": kid, "n": b64_int(numbers.n), "e": b64_int(exponent)}


@pytest.fixture(scope="module")
def rsa_e3() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=3, key_size=2048)


@pytest.fixture(scope="module")
def rs256() -> KeyPair:
    return KeyPair.generate("RS256", kid="rs-1")


@pytest.fixture(scope="module")
def es256() -> KeyPair:
    return KeyPair.generate("ES256", kid="es-1")


# --- RSA ----------------------------------------------------------------------------------------


def _icbrt(value: int) -> int:
    """The integer cube root (floor)."""
    lo, hi = 0, 1 << ((value.bit_length() + 2) // 3 + 1)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if mid**3 <= value:
            lo = mid
        else:
            hi = mid - 1
    return lo


def test_bleichenbacher_06_e3_forgery_is_refused(rsa_e3: rsa.RSAPrivateKey) -> None:
    """OpenSSL CVE-2006-4339, python-rsa CVE-2016-1494, node-forge CVE-2022-24771/24772: a
    PKCS#1 v1.5 check that parses (rather than re-encodes) the padding accepts, for e = 3, a
    cube root whose cube is 00 01 FF..FF 00 DigestInfo hash followed by garbage.

    We assert: such a forgery (checked to have the lenient prefix) is an invalid signature for
    an e = 3 key secauth imports, while a genuine RS256 token under that key verifies.
    """
    jwk = rsa_jwk(rsa_e3.public_key(), "e3")
    verifier = verifier_for(jwk)
    header = {"alg": "RS256", "kid": "e3"}
    genuine = sign_compact(header, encode_segment(claims()), rsa_e3, "RS256")
    assert verifier.verify(genuine)["sub"] == "alice"

    signing_input = f"{encode_segment(header)}.{encode_segment(claims(sub='admin'))}"
    digest = hashlib.sha256(signing_input.encode()).digest()
    prefix = b"\x00\x01" + b"\xff" * 8 + b"\x00" + SHA256_DIGEST_INFO + digest
    rest = 8 * (256 - len(prefix))
    low = int.from_bytes(prefix, "big") << rest
    forged = _icbrt(low + (1 << rest) - 1)
    assert low <= forged**3 < rsa_e3.public_key().public_numbers().n  # a lenient parser's yes
    token = f"{signing_input}.{b64url_encode(forged.to_bytes(256, 'big'))}"
    assert refused(verifier, token).reason is Reason.INVALID_SIGNATURE


def test_rsa_signature_of_another_length_is_refused(rs256: KeyPair) -> None:
    """RFC 7518 3.3 / RFC 8017 8.2.2: an RSA signature is exactly k octets. The same integer
    with a leading zero added, or (for a signature starting with 00) with it stripped, would be
    a second spelling of one signature (a malleable token).

    We assert: both spellings are invalid signatures; the canonical ones verify.
    """
    verifier = verifier_for(rs256.public_jwk)
    for attempt in range(4000):
        token = rs256.sign(claims(jti=str(attempt)))
        head, body, sig = token.split(".")
        raw = b64url_decode(sig)
        if raw[0] == 0:
            break
    else:  # pragma: no cover - probability about e**-15
        pytest.fail("no RS256 signature with a leading zero octet in 4000 tries")
    assert verifier.verify(token)["sub"] == "alice"
    assert len(raw) == 256
    for respelled in (raw[1:], b"\x00" + raw):
        assert int.from_bytes(respelled, "big") == int.from_bytes(raw, "big")
        forged = f"{head}.{body}.{b64url_encode(respelled)}"
        assert refused(verifier, forged).reason is Reason.INVALID_SIGNATURE


# --- EC keys ------------------------------------------------------------------------------------


def test_ec_jwk_coordinate_not_reduced_mod_p_is_not_imported() -> None:
    """Invalid-curve class, encoding side: a P-256 point whose x is spelled x + p still fits
    in 32 octets for a small x. Accepting it would give one key two JWK spellings (and a
    parser differential with libraries that reduce, or refuse).

    We assert: the canonical point (x = 5, on the curve) imports; x + p is refused.
    """
    x = 5
    rhs = (x**3 - 3 * x + P256_B) % P256_P
    y = pow(rhs, (P256_P + 1) // 4, P256_P)
    assert y * y % P256_P == rhs  # (5, y) is on P-256
    canonical = {"kty": "EC", "crv": "P-256", "x": b64_int(x, 32), "y": b64_int(y, 32)}
    assert VerificationKey.from_jwk(canonical).algorithms == {"ES256"}
    assert x + P256_P < 2**256
    with pytest.raises(KeyImportError):
        VerificationKey.from_jwk(dict(canonical, x=b64_int(x + P256_P, 32)))


# --- key types and key sources ------------------------------------------------------------------


def test_jsonwebtoken_cve_2022_23539_legacy_key_types_are_not_imported() -> None:
    """jsonwebtoken CVE-2022-23539 / GHSA-8cf7-32gw-wr33: legacy, insecure key types (DSA)
    were usable for verification.

    We assert: DSA, secp256k1 and 1024-bit RSA public keys are refused by from_pem, and
    a DSA-like or secp256k1 JWK by from_jwk.
    """
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    pem = serialization.Encoding.PEM
    publics = [
        dsa.generate_private_key(2048).public_key(),
        ec.generate_private_key(ec.SECP256K1()).public_key(),
        rsa.generate_private_key(65537, 1024).public_key(),
    ]
    for public in publics:
        with pytest.raises(KeyImportError):
            VerificationKey.from_pem(public.public_bytes(pem, spki), kid="legacy")
    k1 = ec.generate_private_key(ec.SECP256K1()).public_key().public_numbers()
    for jwk in (
        {"kty": "DSA", "kid": "d", "y": "AQAB", "p": "AQAB", "q": "AQAB", "g": "AQAB"},
        {"kty": "EC", "crv": "secp256k1", "x": b64_int(k1.x, 32), "y": b64_int(k1.y, 32)},
    ):
        with pytest.raises(KeyImportError):
            VerificationKey.from_jwk(jwk)


def test_jsonwebtoken_cve_2022_23540_no_key_is_no_verifier(es256: KeyPair) -> None:
    """jsonwebtoken CVE-2022-23540 / GHSA-qwph-4952-7xr6: with a falsy key and no algorithms
    option, ``verify`` fell back to ``none`` and accepted unsigned tokens.

    We assert: no key source, an empty secret or a JWKS without usable keys is a
    ConfigurationError; an unsigned token under the default algorithms is refused.
    """
    base: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE}
    for options in ({}, {"secret": "", "algorithms": ["HS256"]}, {"jwks": {"keys": []}}):
        with pytest.raises(ConfigurationError):
            JwtVerifier(**base, **options)
    unsigned = f"{encode_segment({'alg': 'none'})}.{encode_segment(claims())}."
    assert refused(verifier_for(es256.public_jwk), unsigned).reason is Reason.MALFORMED_TOKEN


def test_php_jwt_cve_2021_46743_keyset_mixing_hmac_and_rsa_keys(rs256: KeyPair) -> None:
    """php-jwt CVE-2021-46743 / GHSA-8xf4-w7qw-pjjw: with a key array holding an HMAC and an
    RSA key, the token's ``kid`` and ``alg`` chose the key and the algorithm, so an HS256
    token MACed with the (public) RSA key under the RSA key's kid verified.

    We assert: a JWKS holding an ``oct`` key next to the RSA key keeps only the RSA key; HS256
    tokens MACed with the oct ``k`` (its kid) or the RSA modulus (the RSA kid) are refused.
    """
    k = b"k" * 32
    oct_jwk = {"kty": "oct", "kid": "hmac", "k": b64url_encode(k), "alg": "HS256"}
    keys = StaticKeys({"keys": [rs256.public_jwk, oct_jwk]})
    assert [key.kid for key in keys.key_set.keys] == ["rs-1"]
    verifier = JwtVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=keys, clock=lambda: NOW)
    assert verifier.verify(rs256.sign(claims()))["sub"] == "alice"
    modulus = b64url_decode(rs256.public_jwk["n"])
    for kid, secret in (("hmac", k), ("rs-1", modulus)):
        forged = sign_compact(
            {"alg": "HS256", "kid": kid}, encode_segment(claims()), secret, "HS256"
        )
        assert refused(verifier, forged).reason is Reason.INVALID_SIGNATURE


def _certificate_pem(private: rsa.RSAPrivateKey) -> bytes:
    import datetime

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp")])
    start = datetime.datetime(2024, 1, 1)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize("spelling", ["leading-whitespace", "crlf", "certificate", "rsa-pkcs1"])
def test_fast_jwt_cve_2023_48223_pem_spellings_as_hmac_secret(
    rs256: KeyPair, spelling: str
) -> None:
    """fast-jwt CVE-2023-48223 / GHSA-c2ff-88x2-x9pg: the public-key regex missed some PEM
    spellings, so such a key configured for RS256 was used as an HS256 secret.

    We assert: the RSA public key as PEM after whitespace, with CRLF line ends, as a
    certificate or as PKCS#1 PEM is refused as an HMAC ``secret=``.
    """
    private = rs256.private_key
    assert isinstance(private, rsa.RSAPrivateKey)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    secret = {
        "leading-whitespace": b" \n\t" + pem,
        "crlf": pem.replace(b"\n", b"\r\n"),
        "certificate": _certificate_pem(private),
        "rsa-pkcs1": private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        ),
    }[spelling]
    with pytest.raises(ConfigurationError):
        JwtVerifier(issuer=ISSUER, audience=AUDIENCE, secret=secret, algorithms=["HS256"])


# --- token shape --------------------------------------------------------------------------------


def test_jws_json_serialization_is_refused(es256: KeyPair) -> None:
    """go-jose CVE-2016-9122 (multi-signature JWS: the protected and unprotected headers read
    two ways) and web-token/jwt-framework GHSA-jc38-x7x8-2xc8 (``alg`` taken from the
    unprotected header): both need the JSON serialization.

    We assert: the flattened and general JSON serializations of a genuine token, with an
    unprotected header saying ``none``, are malformed, through the verifier and split_compact.
    """
    head, body, sig = es256.sign(claims()).split(".")
    flattened = {"protected": head, "header": {"alg": "none"}, "payload": body, "signature": sig}
    general = {"payload": body, "signatures": [{"protected": head, "signature": sig}]}
    verifier = verifier_for(es256.public_jwk)
    for document in (flattened, general):
        for text in (json.dumps(document), json.dumps(document, separators=(",", ":"))):
            assert refused(verifier, text).reason is Reason.MALFORMED_TOKEN
            with pytest.raises(SecAuthError):
                jose.split_compact(text)
    assert verifier.verify(f"{head}.{body}.{sig}")["sub"] == "alice"


def test_tokens_made_of_dots_are_refused_by_the_shape_check(es256: KeyPair) -> None:
    """go-jose CVE-2025-27144, golang-jwt CVE-2025-30204, golang.org/x/oauth2/jws
    CVE-2025-22868: ``strings.Split(token, ".")`` on a header of dots allocated per dot.

    We assert: 16,000 dots, 8,000 "a." pairs and a genuine token with dots appended are
    malformed ("not a compact JWS"); a megabyte of dots stops at the size limit.
    """
    verifier = verifier_for(es256.public_jwk)
    genuine = es256.sign(claims())
    for token in ("." * 16_000, "a." * 8_000 + "a", genuine + "." * 100, genuine + ".e30"):
        err = refused(verifier, token)
        assert err.reason is Reason.MALFORMED_TOKEN
        assert err.detail == {"problem": "not a compact JWS of three base64url parts"}
    err = refused(verifier, "." * (1 << 20))
    assert err.detail == {"problem": "token too large", "limit": jose.DEFAULT_MAX_TOKEN_SIZE}


def test_header_nested_10000_levels_is_malformed(es256: KeyPair) -> None:
    """nimbus-jose-jwt CVE-2025-53864 (stack exhaustion on deeply nested JSON), header side:
    test_attacks covers 10,000 levels in the claims.

    We assert: a signed header with an unknown member nested 10,000 levels deep is a
    malformed token, not a RecursionError or another foreign exception.
    """
    header = ('{"alg":"ES256","kid":"es-1","x":' + "[" * 10_000 + "]" * 10_000 + "}").encode()
    signing_input = f"{b64url_encode(header)}.{encode_segment(claims())}"
    private = es256.private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    token = f"{signing_input}.{b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    verifier = verifier_for(es256.public_jwk, max_token_size=1024 * 1024)
    assert refused(verifier, token).reason is Reason.MALFORMED_TOKEN


def test_a_5000_digit_time_claim_is_refused_not_a_crash(es256: KeyPair) -> None:
    """CPython CVE-2020-10735: converting a long decimal string to int is quadratic; since
    3.11 json refuses more than 4300 digits with a ValueError.

    We assert: a signed payload whose ``exp`` has 5000 digits is refused with a SecAuthError
    (malformed, or invalid claims where the digit limit is switched off), never accepted.
    """
    raw = json.dumps(claims(exp=0)).replace('"exp": 0', '"exp": ' + "9" * 5000).encode()
    header = {"alg": "ES256", "kid": "es-1"}
    token = sign_compact(header, b64url_encode(raw), es256.private_key, "ES256")
    err = refused(verifier_for(es256.public_jwk), token)
    assert err.reason in (Reason.MALFORMED_TOKEN, Reason.INVALID_CLAIMS)


# --- error precedence ---------------------------------------------------------------------------


def test_golang_jwt_cve_2024_51744_bad_signature_wins_over_claim_errors(es256: KeyPair) -> None:
    """golang-jwt CVE-2024-51744 / GHSA-29wx-vh33-7x7r: with both a bad signature and an
    expired token, ``ErrTokenExpired`` came first, and callers that ignored it accepted a
    forged token.

    We assert: a token signed by another key under the real kid that is also expired, from
    another issuer or for another audience is reported as invalid_signature; the genuinely
    signed expired token is token_expired.
    """
    attacker = KeyPair.generate("ES256", kid="es-1")
    verifier = verifier_for(es256.public_jwk)
    assert refused(verifier, es256.sign(claims(exp=NOW - 60))).reason is Reason.TOKEN_EXPIRED
    for bad in (
        claims(exp=NOW - 60),
        claims(iss="https://evil.example/"),
        claims(aud="other"),
        claims(nbf=NOW + 3600),
    ):
        assert refused(verifier, attacker.sign(bad)).reason is Reason.INVALID_SIGNATURE


# --- the finding (resolved) ---------------------------------------------------------------------


def test_rsa_key_with_a_huge_public_exponent_is_not_imported(rs256: KeyPair) -> None:
    """A JWKS key with e of 2047 bits (odd, below n) makes every signature check under its kid a
    full-size modular exponentiation: a key set can multiply the CPU cost of each junk token
    (~50x at 2048 bits, ~110x at 3072). jwk.py::_import_rsa checks only 3 <= e < n, e odd.

    We assert: e = 65537 imports; e = 2**2046 + 1 is refused (KeyImportError) at import (it
    imported before the fix, so pytest.raises failed with "DID NOT RAISE"); so is 2**32 + 1.
    """
    private = rs256.private_key
    assert isinstance(private, rsa.RSAPrivateKey)
    VerificationKey.from_jwk(rsa_jwk(private.public_key(), "normal"))
    huge = (1 << 2046) | 1
    assert huge < private.public_key().public_numbers().n
    with pytest.raises(KeyImportError):
        VerificationKey.from_jwk(rsa_jwk(private.public_key(), "huge-e", e=huge))
    with pytest.raises(KeyImportError):
        VerificationKey.from_jwk(rsa_jwk(private.public_key(), "33-bit-e", e=(1 << 32) + 1))
