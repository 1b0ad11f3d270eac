"""Regression tests for published JWS/JWT-verification advisories of other libraries.

One test per advisory of PyJWT, python-jose, jwcrypto and joserfc (plus Authlib, joserfc's
sibling, and the Java "psychic signatures" bug) whose attack could apply to a JWS verifier
like ours. Each docstring names the advisory, says in one line what it was, and says
exactly what we assert. Advisories about features we do not have at all (JWE decryption,
key generation, encoding) are covered only where a token can still try to reach them.
"""

from __future__ import annotations

import asyncio
import hmac as hmac_module
import json
import zlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from secauth import jose
from secauth._b64 import b64url_decode, b64url_encode
from secauth.errors import ConfigurationError, Reason, SecAuthError
from secauth.jwks import StaticKeys
from secauth.testing import KeyPair, encode_segment, sign_compact
from secauth.verifier import JwtVerifier

ISSUER = "https://idp.example.com/"
AUDIENCE = "orders-api"
NOW = 1_700_000_000


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


def verifier_for(*pairs: KeyPair, **options: Any) -> JwtVerifier:
    settings: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "clock": lambda: NOW}
    settings.update(options)
    return JwtVerifier(jwks={"keys": [p.public_jwk for p in pairs]}, **settings)


def reason(verifier: Any, token: object) -> Reason:
    with pytest.raises(SecAuthError) as exc:
        verifier.verify(token)
    return exc.value.reason


def hs_token(secret: bytes, body: dict[str, Any], *, alg: str = "HS256", **header: Any) -> str:
    """A token MACed with ``secret`` (the forging attacker's move in key-confusion attacks)."""
    return sign_compact({"alg": alg, "typ": "JWT", **header}, encode_segment(body), secret, alg)


def public_key_of(pair: KeyPair) -> Any:
    key = pair.private_key
    assert isinstance(
        key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    )
    return key.public_key()


def assert_hmac_forgeries_refused(pair: KeyPair, secrets: dict[str, bytes]) -> None:
    """Every HS256/384/512 token MACed with each secret is refused (invalid signature) by a
    verifier over ``pair``'s JWKS, with default algorithms and with every asymmetric one."""
    for options in ({}, {"algorithms": sorted(jose.ASYMMETRIC_ALGORITHMS)}):
        verifier = verifier_for(pair, **options)
        assert verifier.verify(pair.sign(claims()))["sub"] == "alice"  # the key itself works
        for name, secret in secrets.items():
            for alg in ("HS256", "HS384", "HS512"):
                token = hs_token(secret, claims(sub="mallory"), alg=alg, kid=pair.kid)
                assert reason(verifier, token) is Reason.INVALID_SIGNATURE, (name, alg)


def assert_hmac_cannot_share_a_jwks(pair: KeyPair) -> None:
    """Enabling any HS algorithm next to a JWKS, even "all algorithms", is a config error."""
    for algorithms in (["HS256"], ["RS256", "HS256"], sorted(jose.SUPPORTED_ALGORITHMS)):
        with pytest.raises(ConfigurationError):
            verifier_for(pair, algorithms=algorithms)


@pytest.fixture(scope="module")
def rs256() -> KeyPair:
    return KeyPair.generate("RS256", kid="rs-1")


@pytest.fixture(scope="module")
def es256() -> KeyPair:
    return KeyPair.generate("ES256", kid="es-1")


@pytest.fixture(scope="module")
def eddsa() -> KeyPair:
    return KeyPair.generate("EdDSA", kid="ed-1")


# --- PyJWT ----------------------------------------------------------------------------------


def test_pyjwt_cve_2017_11424_pkcs1_pem_as_hmac_secret(rs256: KeyPair) -> None:
    """PyJWT CVE-2017-11424 / GHSA-r9jw-mwhq-wp62: the HMAC key blocklist missed PKCS#1 PEM
    ("-----BEGIN RSA PUBLIC KEY-----"), so the RSA public key could MAC forged HS256 tokens.

    We assert: HS256/384/512 tokens MACed with the verifier's RSA public key as PKCS#1 PEM
    (and as SubjectPublicKeyInfo PEM) are invalid signatures, and HS* cannot be enabled
    next to a JWKS at all.
    """
    public = public_key_of(rs256)
    enc, fmt = serialization.Encoding, serialization.PublicFormat
    assert_hmac_forgeries_refused(
        rs256,
        {
            "pkcs1-pem": public.public_bytes(enc.PEM, fmt.PKCS1),
            "spki-pem": public.public_bytes(enc.PEM, fmt.SubjectPublicKeyInfo),
        },
    )
    assert_hmac_cannot_share_a_jwks(rs256)


def test_pyjwt_cve_2022_29217_openssh_keys_as_hmac_secret(es256: KeyPair, eddsa: KeyPair) -> None:
    """PyJWT CVE-2022-29217 / GHSA-ffqj-6fqr-9h24: with all algorithms enabled, public keys in
    non-blocklisted formats (OpenSSH ECDSA "ecdsa-sha2-nistp256 ...", "ssh-ed25519 ...")
    could be used as HMAC secrets to forge tokens.

    We assert: for EC and Ed25519 keys, HS* tokens MACed with the OpenSSH (and PEM/raw) forms
    of the verifier's own public key are invalid signatures; "all algorithms" cannot
    include HMAC next to a JWKS.
    """
    enc, fmt = serialization.Encoding, serialization.PublicFormat
    for pair in (es256, eddsa):
        public = public_key_of(pair)
        secrets = {
            "openssh": public.public_bytes(enc.OpenSSH, fmt.OpenSSH),
            "spki-pem": public.public_bytes(enc.PEM, fmt.SubjectPublicKeyInfo),
        }
        if isinstance(public, ed25519.Ed25519PublicKey):
            secrets["raw"] = public.public_bytes(enc.Raw, fmt.Raw)
        assert_hmac_forgeries_refused(pair, secrets)
        assert_hmac_cannot_share_a_jwks(pair)


def test_pyjwt_cve_2024_53861_issuer_partial_match(es256: KeyPair) -> None:
    """PyJWT CVE-2024-53861 / GHSA-75c5-xw7c-p5pm: 2.10.0 checked a string issuer with ``in``,
    so ``iss: "urn:"`` passed for issuer "urn:expected" (substring match).

    We assert: every substring, prefix or superstring of the configured issuer is an
    invalid issuer, and a list-of-one issuer in the token is no match either.
    """
    verifier = verifier_for(es256, issuer="urn:expected")
    assert verifier.verify(es256.sign(claims(iss="urn:expected")))["iss"] == "urn:expected"
    for forged in ("urn:", "expected", "urn:expecte", "rn:expected", "", "u", "urn:expected:x",
                   "xurn:expected"):
        assert reason(verifier, es256.sign(claims(iss=forged))) is Reason.INVALID_ISSUER, forged
    assert reason(verifier, es256.sign(claims(iss=["urn:expected"]))) is Reason.INVALID_ISSUER


def test_pyjwt_cve_2026_32597_unknown_crit_accepted(es256: KeyPair) -> None:
    """PyJWT CVE-2026-32597 / GHSA-752w-5fwx-jx9f: ``crit`` was not validated, so tokens
    listing extensions PyJWT does not understand were accepted (RFC 7515 4.1.11 MUST reject).

    We assert: a correctly signed token with any ``crit`` (unknown extension, a registered
    name, the empty list) is malformed.
    """
    verifier = verifier_for(es256)
    for crit in (["require-mfa"], ["exp"], [], ["b64"]):
        token = es256.sign(claims(), headers={"crit": crit, "require-mfa": True})
        assert reason(verifier, token) is Reason.MALFORMED_TOKEN, crit


def test_pyjwt_cve_2026_48526_jwk_json_as_hmac_secret(rs256: KeyPair, es256: KeyPair) -> None:
    """PyJWT CVE-2026-48526 / GHSA-xgmm-8j9v-c9wx: a public JWK passed as a raw JSON string
    was accepted as an HMAC secret, so HS256 tokens could be forged with the published JWK.

    We assert: HS* tokens MACed with the verifier's public JWK JSON (pretty, compact, and a
    whole JWKS document) are invalid signatures.
    """
    for pair in (rs256, es256):
        jwk = pair.public_jwk
        assert_hmac_forgeries_refused(
            pair,
            {
                "jwk": json.dumps(jwk).encode(),
                "jwk-compact": json.dumps(jwk, separators=(",", ":")).encode(),
                "jwks": json.dumps({"keys": [jwk]}).encode(),
            },
        )


def test_pyjwt_ghsa_jq35_7prp_9v3f_header_alg_vs_key_alg(rs256: KeyPair) -> None:
    """PyJWT GHSA-jq35-7prp-9v3f: with PyJWK keys the ``algorithms`` allow-list was checked
    against the header's ``alg`` while verification used the key's own algorithm, so a token
    could advertise an allowed algorithm and be verified under another.

    We assert: the header ``alg`` must be both allowed and bound to the key. With
    ``algorithms=["RS256"]`` and a key pinned to PS256, a PS256-signed token labelled RS256
    is an invalid signature, as is one labelled PS256 (not allowed).
    """
    ps_key = KeyPair(
        alg="PS256",
        kid="ps-1",
        private_key=rs256.private_key,
        public_jwk={**rs256.public_jwk, "alg": "PS256", "kid": "ps-1"},
    )
    verifier = verifier_for(ps_key, algorithms=["RS256"])
    header = {"alg": "RS256", "typ": "JWT", "kid": "ps-1"}
    labelled_rs = sign_compact(header, encode_segment(claims()), rs256.private_key, "PS256")
    assert reason(verifier, labelled_rs) is Reason.INVALID_SIGNATURE
    assert reason(verifier, ps_key.sign(claims())) is Reason.INVALID_SIGNATURE
    # The same key verifies its own algorithm once that algorithm is allowed.
    assert verifier_for(ps_key).verify(ps_key.sign(claims()))["sub"] == "alice"


def test_pyjwt_cve_2026_48525_b64_false_payload_dos(es256: KeyPair) -> None:
    """PyJWT CVE-2026-48525 / GHSA-w7vc-732c-9m39: with ``b64: false`` (RFC 7797) the unused
    payload segment was still base64-decoded without bound, an unauthenticated DoS.

    We assert: any ``b64: false`` header is refused as malformed, also when the payload
    segment is large and not base64 at all, and when ``b64`` is listed in ``crit``.
    """
    verifier = verifier_for(es256)
    junk_payload = "A" * 12_000 + "B"  # length 1 mod 4: not decodable base64url
    for header in ({"b64": False}, {"b64": False, "crit": ["b64"]}):
        token = es256.sign(claims(), headers=header)
        assert reason(verifier, token) is Reason.MALFORMED_TOKEN
        head, _body, sig = token.split(".")
        assert reason(verifier, f"{head}.{junk_payload}.{sig}") is Reason.MALFORMED_TOKEN


def test_pyjwt_cve_2026_102266_empty_hmac_key() -> None:
    """PyJWT CVE-2026-102266 / GHSA-9j54-fg26-wv3r: PyJWK accepted empty HMAC keys, bypassing
    the empty-key check, so tokens MACed with an empty key verified.

    We assert: an empty (or too short) secret is a configuration error, and an ``oct`` JWK
    (empty or not) in a JWKS never becomes a verification key.
    """
    for secret in (b"", "", b"\x00" * 31):
        with pytest.raises(ConfigurationError):
            JwtVerifier(issuer=ISSUER, audience=AUDIENCE, secret=secret, algorithms=["HS256"])
    for k in ("", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"):
        with pytest.raises(jose.KeyImportError):
            jose.VerificationKey.from_jwk({"kty": "oct", "k": k, "alg": "HS256"})
        with pytest.raises(ConfigurationError):
            StaticKeys({"keys": [{"kty": "oct", "k": k, "alg": "HS256", "kid": "x"}]})


def test_pyjwt_cve_2025_45768_short_hmac_keys() -> None:
    """PyJWT CVE-2025-45768 (disputed upstream): HMAC keys shorter than the hash output were
    accepted ("weak encryption"; PyJWT left the key length to the application).

    We assert: secrets shorter than 32/48/64 bytes for HS256/384/512 are configuration
    errors, and exactly those lengths are accepted.
    """
    for alg, size in (("HS256", 32), ("HS384", 48), ("HS512", 64)):
        with pytest.raises(ConfigurationError):
            JwtVerifier(issuer=ISSUER, audience=AUDIENCE, secret=bytes(range(size - 1)),
                        algorithms=[alg])
        JwtVerifier(issuer=ISSUER, audience=AUDIENCE, secret=bytes(range(size)), algorithms=[alg])


# --- python-jose ----------------------------------------------------------------------------


def test_python_jose_cve_2016_7036_constant_time_hmac(monkeypatch: pytest.MonkeyPatch) -> None:
    """python-jose CVE-2016-7036 / GHSA-w799-prg3-cx77: HMAC signatures were compared with a
    non-constant-time comparison, a timing side channel.

    We assert (no timing measured): every HMAC check goes through ``hmac.compare_digest``,
    once per verification, for matching and non-matching MACs alike.
    """
    calls: list[tuple[int, int]] = []
    real = hmac_module.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac_module, "compare_digest", spy)
    secret = bytes(range(32))
    verifier = JwtVerifier(
        issuer=ISSUER, audience=AUDIENCE, secret=secret, algorithms=["HS256"],
        clock=lambda: NOW, cache_size=0,
    )
    assert verifier.verify(hs_token(secret, claims()))["sub"] == "alice"
    assert calls == [(32, 32)]
    good = hs_token(secret, claims())
    head, body, sig = good.split(".")
    flipped = b64url_encode(bytes([b64url_decode(sig)[0] ^ 1]) + b64url_decode(sig)[1:])
    assert reason(verifier, f"{head}.{body}.{flipped}") is Reason.INVALID_SIGNATURE
    assert calls == [(32, 32), (32, 32)]


def test_python_jose_cve_2024_33663_openssh_ecdsa_key_confusion(es256: KeyPair) -> None:
    """python-jose CVE-2024-33663: algorithm confusion with OpenSSH ECDSA public keys (and
    other key formats) used as HMAC secrets, as in PyJWT CVE-2022-29217.

    We assert: HS* tokens MACed with the verifier's ECDSA key as an OpenSSH line, SPKI PEM
    and X9.62 point bytes are invalid signatures.
    """
    public = public_key_of(es256)
    enc, fmt = serialization.Encoding, serialization.PublicFormat
    assert_hmac_forgeries_refused(
        es256,
        {
            "openssh": public.public_bytes(enc.OpenSSH, fmt.OpenSSH),
            "spki-pem": public.public_bytes(enc.PEM, fmt.SubjectPublicKeyInfo),
            "x962-point": public.public_bytes(enc.X962, fmt.UncompressedPoint),
        },
    )


def test_python_jose_cve_2026_85394_der_public_key_as_hmac_secret(
    rs256: KeyPair, es256: KeyPair
) -> None:
    """python-jose CVE-2026-85394: DER-encoded public keys (no PEM armour, no SSH prefix)
    passed the HMAC key check, an incomplete fix of CVE-2024-33663.

    We assert: HS* tokens MACed with the verifier's RSA or EC public key in DER
    (SubjectPublicKeyInfo, and PKCS#1 for RSA) are invalid signatures.
    """
    enc, fmt = serialization.Encoding, serialization.PublicFormat
    rsa_public = public_key_of(rs256)
    assert_hmac_forgeries_refused(
        rs256,
        {
            "spki-der": rsa_public.public_bytes(enc.DER, fmt.SubjectPublicKeyInfo),
            "pkcs1-der": rsa_public.public_bytes(enc.DER, fmt.PKCS1),
        },
    )
    ec_public = public_key_of(es256)
    assert_hmac_forgeries_refused(
        es256, {"spki-der": ec_public.public_bytes(enc.DER, fmt.SubjectPublicKeyInfo)}
    )


def _zip_bomb_jwe(kid: str) -> str:
    """A compact JWE whose 'ciphertext' is a deflate stream of 8 MiB of zeros (~8 KiB)."""
    bomb = zlib.compress(b"\x00" * (8 * 1024 * 1024), 9)
    header = {"alg": "dir", "enc": "A256GCM", "zip": "DEF", "kid": kid}
    return ".".join(
        [encode_segment(header), "", b64url_encode(b"\x00" * 12), b64url_encode(bomb),
         b64url_encode(b"\x00" * 16)]
    )


def test_python_jose_cve_2024_33664_jwe_decompression_bomb(es256: KeyPair) -> None:
    """python-jose CVE-2024-33664 / GHSA-cjwg-qfpm-7377: a JWE with a high compression ratio
    ("JWT bomb") exhausted memory during decode.

    We assert: compact JWE tokens (five parts, ``zip: DEF``) are malformed, and the same
    ``zip`` header on a correctly signed three-part token is malformed too, so no
    decompression is ever reached.
    """
    verifier = verifier_for(es256)
    assert reason(verifier, _zip_bomb_jwe("es-1")) is Reason.MALFORMED_TOKEN
    signed_zip = es256.sign(claims(), headers={"zip": "DEF"})
    assert reason(verifier, signed_zip) is Reason.MALFORMED_TOKEN


# --- jwcrypto -------------------------------------------------------------------------------


def test_jwcrypto_cve_2022_3102_jws_jwe_token_substitution(rs256: KeyPair) -> None:
    """jwcrypto CVE-2022-3102: the JWT code auto-detected JWS vs JWE, so a JWE encrypted to
    the (public) signature key could be substituted for a signed token, with claims of the
    attacker's choosing.

    We assert: we never auto-detect. JWE-shaped tokens naming the signing key's kid (five
    parts, or three parts with ``enc``) are malformed, sync and async; and a key published
    with ``use: enc`` is never a verification key.
    """
    verifier = verifier_for(rs256)
    header = encode_segment({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": rs256.kid})
    five = ".".join([header, b64url_encode(b"\x01" * 256), "AAAAAAAAAAAAAAAA", "AAAA", "AAAA"])
    three = f"{header}.{encode_segment(claims(sub='admin'))}.{b64url_encode(b'x' * 256)}"
    for token in (five, three):
        assert reason(verifier, token) is Reason.MALFORMED_TOKEN
        with pytest.raises(SecAuthError) as exc:
            asyncio.run(verifier.verify_async(token))
        assert exc.value.reason is Reason.MALFORMED_TOKEN
    with pytest.raises(jose.KeyImportError):
        jose.VerificationKey.from_jwk({**rs256.public_jwk, "use": "enc"})


def test_jwcrypto_cve_2024_28102_jwe_zip_bomb(rs256: KeyPair) -> None:
    """jwcrypto CVE-2024-28102 / GHSA-j857-7rvv-vj97: JWE tokens with ``zip: DEF`` and a high
    compression ratio made decryption consume unbounded memory and time (fixed in 1.5.6).

    We assert: a compact JWE carrying a deflate bomb is malformed, and so is a signed JWS
    that merely carries ``zip``; the size cap also applies before any parsing.
    """
    verifier = verifier_for(rs256)
    assert reason(verifier, _zip_bomb_jwe(rs256.kid or "")) is Reason.MALFORMED_TOKEN
    assert reason(verifier, rs256.sign(claims(), headers={"zip": "DEF"})) is (
        Reason.MALFORMED_TOKEN
    )
    huge = _zip_bomb_jwe("x") + "A" * (16 * 1024)
    with pytest.raises(SecAuthError) as exc:
        verifier.verify(huge)
    assert exc.value.reason is Reason.MALFORMED_TOKEN
    assert exc.value.detail["problem"] == "token too large"


def test_jwcrypto_cve_2023_6681_pbes2_p2c_dos(es256: KeyPair) -> None:
    """jwcrypto CVE-2023-6681: a JWE using PBES2 with a huge ``p2c`` iteration count forced
    billions of PBKDF2 rounds (fixed in 1.5.1).

    We assert: PBES2 JWE tokens with ``p2c`` are malformed (five parts, or three with
    ``enc``), and a three-part token with ``alg: PBES2-*`` and no ``enc`` is refused as an
    unallowed algorithm (invalid signature): no key derivation is reachable.
    """
    verifier = verifier_for(es256)
    jwe_header = {"alg": "PBES2-HS512+A256KW", "enc": "A256GCM", "p2c": 2**31 - 1,
                  "p2s": "AAAAAAAAAAAAAAAAAAAAAA"}
    five = ".".join([encode_segment(jwe_header), "AAAA", "AAAAAAAAAAAAAAAA", "AAAA", "AAAA"])
    assert reason(verifier, five) is Reason.MALFORMED_TOKEN
    three = f"{encode_segment(jwe_header)}.{encode_segment(claims())}.AAAA"
    assert reason(verifier, three) is Reason.MALFORMED_TOKEN
    no_enc = {k: v for k, v in jwe_header.items() if k != "enc"}
    three_no_enc = f"{encode_segment(no_enc)}.{encode_segment(claims())}.AAAA"
    assert reason(verifier, three_no_enc) is Reason.INVALID_SIGNATURE


# --- joserfc --------------------------------------------------------------------------------


def test_joserfc_cve_2025_65015_token_embedded_in_error_messages(es256: KeyPair) -> None:
    """joserfc CVE-2025-65015 / GHSA-frfh-8v73-gjg4: ExceededSizeError messages embedded the
    raw token parts, so an attacker-sized token was written whole into logs (and Sentry).

    We assert: for oversized tokens (1 MiB, in one segment or spread across three) and for
    oversized header, payload or signature segments, the error's str(), repr(), detail and
    to_log() stay under 1 KiB and contain no 32-character run of the token.
    """
    verifier = verifier_for(es256)
    good = es256.sign(claims())
    head, body, sig = good.split(".")
    big = "QUFB" * (256 * 1024)
    cases = [
        big,
        f"{big}.{big}.{big}",
        f"{head}.{body}.{sig}{big}",
        f"{head}{'QUFB' * 3000}.{body}.{sig}",
        f"{head}.{body}{'QUFB' * 3000}.{sig}",
    ]
    for token in cases:
        with pytest.raises(SecAuthError) as exc:
            verifier.verify(token)
        err = exc.value
        for text in (str(err), repr(err), json.dumps(err.detail, default=str), str(err.to_log())):
            assert len(text) < 1024
            for start in range(0, len(token) - 32, 997):
                assert token[start : start + 32] not in text


def test_joserfc_cve_2026_48990_b64_false_bypasses_size_limit(es256: KeyPair) -> None:
    """joserfc CVE-2026-48990 / GHSA-wphv-vfrh-23q5: RFC 7797 ``b64=false`` payloads skipped
    the payload-size limit applied to normal JWS.

    We assert: ``b64: false`` is refused outright, and the token-size limit is applied to
    the whole token before any header parsing, so an oversized ``b64=false`` token fails
    on size with a small error.
    """
    verifier = verifier_for(es256, max_token_size=4096)
    header = encode_segment({"alg": "ES256", "kid": "es-1", "b64": False, "crit": ["b64"]})
    small = f"{header}.payload.{'A' * 86}"
    assert reason(verifier, small) is Reason.MALFORMED_TOKEN
    big = f"{header}.{'p' * 10_000}.{'A' * 86}"
    with pytest.raises(SecAuthError) as exc:
        verifier.verify(big)
    assert exc.value.reason is Reason.MALFORMED_TOKEN
    assert exc.value.detail == {"problem": "token too large", "limit": 4096}


# --- Authlib (joserfc's sibling) ------------------------------------------------------------


def test_authlib_cve_2024_37568_public_key_as_hmac_secret_by_default(rs256: KeyPair) -> None:
    """Authlib CVE-2024-37568: unless ``algorithms`` was given to ``jwt.decode``, HMAC
    verification was allowed with any asymmetric public key (algorithm confusion).

    We assert: a verifier built without ``algorithms`` allows asymmetric algorithms only, so
    an HS256 token MACed with the public key PEM is an invalid signature.
    """
    verifier = verifier_for(rs256)
    assert verifier.algorithms == jose.ASYMMETRIC_ALGORITHMS
    assert not verifier.algorithms & jose.HMAC_ALGORITHMS
    pem = public_key_of(rs256).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert reason(verifier, hs_token(pem, claims(), kid=rs256.kid)) is Reason.INVALID_SIGNATURE


def test_authlib_cve_2025_59420_crit_ignored(es256: KeyPair) -> None:
    """Authlib CVE-2025-59420: the JWS ``crit`` header was not enforced, so tokens with
    critical extensions Authlib did not understand were accepted.

    We assert: a correctly signed token whose ``crit`` names an extension it also carries
    (the well-formed case a lenient verifier would accept) is malformed, sync and async.
    """
    verifier = verifier_for(es256)
    token = es256.sign(claims(), headers={"crit": ["cnf-binding"], "cnf-binding": "abc"})
    assert reason(verifier, token) is Reason.MALFORMED_TOKEN
    with pytest.raises(SecAuthError) as exc:
        asyncio.run(verifier.verify_async(token))
    assert exc.value.reason is Reason.MALFORMED_TOKEN


def test_authlib_cve_2025_61920_oversized_jose_segments(es256: KeyPair) -> None:
    """Authlib CVE-2025-61920 / GHSA-pq5p-34cr-23v9: unbounded JWS header and signature
    segments were fully decoded and parsed before rejection (hundreds of MB, a DoS).

    We assert: header or signature segments that push a token past the size cap are refused
    as "token too large" (checked before decoding), for the default 16 KiB and a custom cap.
    """
    good = es256.sign(claims())
    head, body, sig = good.split(".")
    filler = "A" * (17 * 1024)
    for token in (f"{head}{filler}.{body}.{sig}", f"{head}.{body}.{sig}{filler}"):
        for verifier, limit in ((verifier_for(es256), 16 * 1024),
                                (verifier_for(es256, max_token_size=2048), 2048)):
            with pytest.raises(SecAuthError) as exc:
                verifier.verify(token)
            assert exc.value.reason is Reason.MALFORMED_TOKEN
            assert exc.value.detail == {"problem": "token too large", "limit": limit}


# --- Java (the classic every verifier must pass) --------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_java_cve_2022_21449_psychic_signatures(alg: str) -> None:
    """Java CVE-2022-21449 ("psychic signatures"): Java 15-18's ECDSA accepted r = s = 0 for
    any message and key.

    We assert: r = s = 0 (and r = 0 or s = 0 alone) in the JWS R || S form is an invalid
    signature for every ES algorithm, through the verifier and at the key level.
    """
    pair = KeyPair.generate(alg, kid="k")
    size = {"ES256": 32, "ES384": 48, "ES512": 66}[alg]
    head, body, sig = pair.sign(claims()).split(".")
    raw = b64url_decode(sig)
    verifier = verifier_for(pair)
    key = jose.VerificationKey.from_jwk(pair.public_jwk)
    zero = bytes(size)
    for forged in (zero + zero, zero + raw[size:], raw[:size] + zero):
        token = f"{head}.{body}.{b64url_encode(forged)}"
        assert reason(verifier, token) is Reason.INVALID_SIGNATURE
        assert key.verify(alg, f"{head}.{body}".encode(), forged) is False
    assert verifier.verify(f"{head}.{body}.{sig}")["sub"] == "alice"
