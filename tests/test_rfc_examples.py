"""The JWS examples of RFC 7515 Appendix A and RFC 7520 section 4, verified byte for byte.

Every token, key and signature below is copied from the RFCs (RFC 7520's values as
published in the ietf-jose/cookbook JSON files). A transcription error would make a
signature fail, so each passing test also proves the vector was copied faithfully.

The examples predate any sane ``exp`` and RFC 7520 signs a text payload, so the
claims-level checks use an injected clock (or ``require_exp=False``) and the
text payloads are checked at the JOSE level: ``jose.parse`` + ``VerificationKey.verify``.
Serializations outside our compact-JWS profile (detached content, unprotected
headers, general JSON) must be rejected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from secauth import jose
from secauth._b64 import b64url_decode
from secauth.errors import Reason, SecAuthError
from secauth.verifier import JwtVerifier

_PRIVATE = ("d", "p", "q", "dp", "dq", "qi", "k")


def public(jwk: Mapping[str, Any]) -> dict[str, Any]:
    """The public half of a JWK as printed in an RFC (private members dropped)."""
    return {k: v for k, v in jwk.items() if k not in _PRIVATE}


def jose_verify(token: str, key: jose.VerificationKey) -> jose.Jws:
    """Parse ``token`` strictly and assert its signature verifies with ``key``."""
    jws = jose.parse(token)
    assert key.verify(jws.alg, jws.signing_input, jws.signature) is True
    return jws


def reason_of(call: Any, *args: Any) -> Reason:
    with pytest.raises(SecAuthError) as exc:
        call(*args)
    return exc.value.reason


# --- RFC 7515 Appendix A ------------------------------------------------------------------

RFC7515_PAYLOAD_SEGMENT = (
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
)
RFC7515_CLAIMS = {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}
BEFORE_EXP = 1300819380 - 60  # a clock one minute before the examples' exp

# A.1: HMAC SHA-256
A1_KEY = {
    "kty": "oct",
    "k": "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
}
A1_TOKEN = (
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
    f"{RFC7515_PAYLOAD_SEGMENT}."
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)

# A.2: RSASSA-PKCS1-v1_5 SHA-256
A2_KEY = {
    "kty": "RSA",
    "n": "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx"
    "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs"
    "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH"
    "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV"
    "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8"
    "NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
    "e": "AQAB",
    "d": "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97I"
    "jlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0"
    "BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn"
    "439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYT"
    "CBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLh"
    "BOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ",
}
A2_TOKEN = (
    "eyJhbGciOiJSUzI1NiJ9."
    f"{RFC7515_PAYLOAD_SEGMENT}."
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7"
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4"
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K"
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv"
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB"
    "p0igcN_IoypGlUPQGe77Rw"
)

# A.3: ECDSA P-256 SHA-256
A3_KEY = {
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI",
}
A3_TOKEN = (
    "eyJhbGciOiJFUzI1NiJ9."
    f"{RFC7515_PAYLOAD_SEGMENT}."
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA"
    "pmWQxfKTUJqPP3-Kg6NU1Q"
)

# A.4: ECDSA P-521 SHA-512 over the ASCII payload "Payload"
A4_KEY = {
    "kty": "EC",
    "crv": "P-521",
    "x": "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_"
    "NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",
    "y": "ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDl"
    "y79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2",
    "d": "AY5pb7A0UFiB3RELSD64fTLOSV_jazdF7fLYyuTw8lOfRhWg6Y6rUrPA"
    "xerEzgdRhajnu0ferB0d53vM9mE15j2C",
}
A4_TOKEN = (
    "eyJhbGciOiJFUzUxMiJ9."
    "UGF5bG9hZA."
    "AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZq"
    "wqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8Kp"
    "EHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn"
)

# A.5: an Unsecured JWS (alg "none", empty signature)
A5_TOKEN = f"eyJhbGciOiJub25lIn0.{RFC7515_PAYLOAD_SEGMENT}."


def test_rfc7515_payload_segment_decodes_to_the_printed_claims() -> None:
    """The shared A.1-A.3/A.5 payload decodes (strictly) to the RFC's claims set."""
    assert jose.parse_claims(RFC7515_PAYLOAD_SEGMENT) == RFC7515_CLAIMS


def test_rfc7515_a1_hs256_verifies() -> None:
    """A.1: the HS256 example verifies with its 64-byte key, and its claims come back."""
    secret = b64url_decode(A1_KEY["k"])
    assert len(secret) == 64
    key = jose.VerificationKey.from_secret(secret, algorithms=["HS256"])
    jws = jose_verify(A1_TOKEN, key)
    assert jws.header == {"typ": "JWT", "alg": "HS256"}
    verifier = JwtVerifier(
        issuer="joe", audience=None, secret=secret, algorithms=["HS256"], clock=lambda: BEFORE_EXP
    )
    assert verifier.verify(A1_TOKEN) == RFC7515_CLAIMS


def test_rfc7515_a1_is_expired_today_and_rejects_a_wrong_key() -> None:
    """A.1 at the real clock is expired (exp 2011); with another key the MAC fails."""
    secret = b64url_decode(A1_KEY["k"])
    today = JwtVerifier(issuer="joe", audience=None, secret=secret, algorithms=["HS256"])
    assert reason_of(today.verify, A1_TOKEN) is Reason.TOKEN_EXPIRED
    wrong = JwtVerifier(
        issuer="joe",
        audience=None,
        secret=bytes(range(64)),
        algorithms=["HS256"],
        clock=lambda: BEFORE_EXP,
    )
    assert reason_of(wrong.verify, A1_TOKEN) is Reason.INVALID_SIGNATURE


def test_rfc7515_a2_rs256_verifies_with_a_one_key_jwks() -> None:
    """A.2: RS256 with the RFC's 2048-bit key; the header has no kid, so a one-key JWKS serves."""
    key = jose.VerificationKey.from_jwk(public(A2_KEY))
    assert "RS256" in key.algorithms
    jws = jose_verify(A2_TOKEN, key)
    assert jws.kid is None
    verifier = JwtVerifier(
        issuer="joe", audience=None, jwks={"keys": [public(A2_KEY)]}, clock=lambda: BEFORE_EXP
    )
    assert verifier.verify(A2_TOKEN) == RFC7515_CLAIMS
    relaxed = JwtVerifier(
        issuer=None, audience=None, require_exp=False, jwks={"keys": [public(A2_KEY)]}
    )
    assert reason_of(relaxed.verify, A2_TOKEN) is Reason.TOKEN_EXPIRED  # exp present => checked


def test_rfc7515_a2_private_jwk_is_refused_as_a_verification_key() -> None:
    """A.2 prints the private key; importing it as a verification key must fail."""
    with pytest.raises(jose.KeyImportError):
        jose.VerificationKey.from_jwk(A2_KEY)


def test_rfc7515_a3_es256_verifies() -> None:
    """A.3: ES256 (R || S, 64 bytes) verifies with the RFC's P-256 key."""
    key = jose.VerificationKey.from_jwk(public(A3_KEY))
    jws = jose_verify(A3_TOKEN, key)
    assert len(jws.signature) == 64
    verifier = JwtVerifier(
        issuer="joe", audience=None, jwks={"keys": [public(A3_KEY)]}, clock=lambda: BEFORE_EXP
    )
    assert verifier.verify(A3_TOKEN) == RFC7515_CLAIMS


def test_rfc7515_a4_es512_verifies_at_the_jose_level() -> None:
    """A.4: ES512 over the text "Payload" verifies; as a JWT it is not a claims set."""
    key = jose.VerificationKey.from_jwk(public(A4_KEY))
    jws = jose_verify(A4_TOKEN, key)
    assert len(jws.signature) == 132
    assert b64url_decode(jws.payload_segment) == b"Payload"
    verifier = JwtVerifier(
        issuer=None, audience=None, require_exp=False, jwks={"keys": [public(A4_KEY)]}
    )
    # The signature holds, so the rejection comes from the payload, not the signature.
    assert reason_of(verifier.verify, A4_TOKEN) is Reason.MALFORMED_TOKEN


def test_rfc7515_a_examples_fail_when_one_signature_bit_flips() -> None:
    """Flipping one bit in the signature of A.2, A.3 and A.4 makes verification fail."""
    for token, jwk in ((A2_TOKEN, A2_KEY), (A3_TOKEN, A3_KEY), (A4_TOKEN, A4_KEY)):
        key = jose.VerificationKey.from_jwk(public(jwk))
        jws = jose.parse(token)
        bad = bytes([jws.signature[0] ^ 0x01]) + jws.signature[1:]
        assert key.verify(jws.alg, jws.signing_input, bad) is False


def test_rfc7515_a5_unsecured_jws_is_rejected() -> None:
    """A.5: the Unsecured JWS (alg none, empty signature) is refused by parser and verifier."""
    with pytest.raises(SecAuthError) as exc:
        jose.parse(A5_TOKEN)
    assert exc.value.reason is Reason.MALFORMED_TOKEN
    verifier = JwtVerifier(
        issuer=None, audience=None, require_exp=False, jwks={"keys": [public(A2_KEY)]}
    )
    assert reason_of(verifier.verify, A5_TOKEN) is Reason.MALFORMED_TOKEN
    # With some bytes glued on as a "signature" the header itself is refused.
    assert reason_of(verifier.verify, A5_TOKEN + "AAAA") is Reason.INVALID_SIGNATURE


# --- RFC 7520 section 4 ---------------------------------------------------------------------

RFC7520_PAYLOAD = (
    "It\u2019s a dangerous business, Frodo, going out your door. You step onto the road, and "
    "if you don't keep your feet, there\u2019s no knowing where you might be swept off to."
)
RFC7520_PAYLOAD_SEGMENT = (
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH"
    "lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk"
    "b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm"
    "UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4"
)
RFC7520_RSA_KEY = {  # Figure 3: RSA 2048-bit key (public part)
    "kty": "RSA",
    "kid": "bilbo.baggins@hobbiton.example",
    "use": "sig",
    "n": "n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQ"
    "Hz_AJmSCpMaJMRBSFKrKb2wqVwGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-oBHqFEHYp"
    "Pe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg"
    "_3L_vniUFAKwuCLqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5gHdrNP5zw",
    "e": "AQAB",
}
RFC7520_EC_KEY = {  # Figure 1: EC P-521 key (public part)
    "kty": "EC",
    "kid": "bilbo.baggins@hobbiton.example",
    "use": "sig",
    "crv": "P-521",
    "x": "AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt",
    "y": "AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1",
}
RFC7520_HMAC_KEY = {  # Figure 5: symmetric key for HMAC
    "kty": "oct",
    "kid": "018c0ae5-4d9b-471b-bfd6-eef314bc7037",
    "use": "sig",
    "alg": "HS256",
    "k": "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg",
}

RFC7520_41_RS256 = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9."
    f"{RFC7520_PAYLOAD_SEGMENT}."
    "MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmKZopdHM1O2U4mwzJdQx996ivp83xu"
    "glII7PNDi84wnB-BDkoBwA78185hX-Es4JIwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aA"
    "E6x8wW1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluPxUAhb6L2aXic1U12podGU0KL"
    "UQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_fcIe8u9ipH84ogoree7vjbU5y18kDquDg"
)
RFC7520_42_PS384 = (
    "eyJhbGciOiJQUzM4NCIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9."
    f"{RFC7520_PAYLOAD_SEGMENT}."
    "cu22eBqkYDKgIlTpzDXGvaFfz6WGoz7fUDcfT0kkOy42miAh2qyBzk1xEsnk2IpN6-tPid6VrklHkqsGqDqHCdP6O8"
    "TTB5dDDItllVo6_1OLPpcbUrhiUSMxbbXUvdvWXzg-UD8biiReQFlfz28zGWVsdiNAUf8ZnyPEgVFn442ZdNqiVJRmB"
    "qrYRXe8P_ijQ7p8Vdz0TTrxUeT3lm8d9shnr2lfJT8ImUjvAA2Xez2Mlp8cBE5awDzT0qI0n6uiP1aCN_2_jLAeQTlq"
    "RHtfa64QQSUmFAAjVKPbByi7xho0uTOcbH510a6GYmJUAfmWjwZ6oD4ifKo8DYM-X72Eaw"
)
RFC7520_43_ES512 = (
    "eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9."
    f"{RFC7520_PAYLOAD_SEGMENT}."
    "AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvbu9Plon7KRTzoNEuT4Va2cmL1eJAQ"
    "y3mtPBu_u_sDDyYjnAMDxXPn7XrT0lw-kvAD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2"
)
RFC7520_44_HS256 = (
    "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9."
    f"{RFC7520_PAYLOAD_SEGMENT}."
    "s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0"
)
HS256_SIGNATURE_44 = "s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0"
HS256_PROTECTED_44 = (
    "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9"
)


def hmac_key() -> jose.VerificationKey:
    return jose.VerificationKey.from_secret(
        b64url_decode(RFC7520_HMAC_KEY["k"]), algorithms=["HS256"]
    )


def test_rfc7520_payload_segment_is_the_quoted_text() -> None:
    """Figure 8 is the base64url of the UTF-8 payload of Figure 7."""
    assert b64url_decode(RFC7520_PAYLOAD_SEGMENT) == RFC7520_PAYLOAD.encode("utf-8")


@pytest.mark.parametrize(
    ("token", "jwk", "alg", "signature_size"),
    [
        pytest.param(RFC7520_41_RS256, RFC7520_RSA_KEY, "RS256", 256, id="4.1-RS256"),
        pytest.param(RFC7520_42_PS384, RFC7520_RSA_KEY, "PS384", 256, id="4.2-PS384"),
        pytest.param(RFC7520_43_ES512, RFC7520_EC_KEY, "ES512", 132, id="4.3-ES512"),
    ],
)
def test_rfc7520_asymmetric_examples_verify(
    token: str, jwk: dict[str, Any], alg: str, signature_size: int
) -> None:
    """4.1-4.3: each compact example verifies with the RFC's public key and names its kid."""
    key = jose.VerificationKey.from_jwk(jwk)
    jws = jose_verify(token, key)
    assert jws.alg == alg
    assert jws.kid == jwk["kid"]
    assert len(jws.signature) == signature_size
    assert b64url_decode(jws.payload_segment) == RFC7520_PAYLOAD.encode("utf-8")
    # Tampering with the signing input breaks every one of them.
    assert key.verify(alg, jws.signing_input + b"x", jws.signature) is False


@pytest.mark.parametrize(
    "token",
    [RFC7520_41_RS256, RFC7520_42_PS384, RFC7520_43_ES512],
    ids=["4.1", "4.2", "4.3"],
)
def test_rfc7520_text_payload_is_not_a_jwt(token: str) -> None:
    """Through JwtVerifier the signature holds (found by kid) but the text payload is no claims set."""
    verifier = JwtVerifier(
        issuer=None,
        audience=None,
        require_exp=False,
        jwks={"keys": [RFC7520_RSA_KEY, RFC7520_EC_KEY]},
    )
    assert reason_of(verifier.verify, token) is Reason.MALFORMED_TOKEN


def test_rfc7520_ps384_is_not_accepted_under_another_rsa_algorithm() -> None:
    """4.2's PSS signature does not verify as RS384 or PS256 with the same key."""
    key = jose.VerificationKey.from_jwk(RFC7520_RSA_KEY)
    jws = jose.parse(RFC7520_42_PS384)
    assert key.verify("PS384", jws.signing_input, jws.signature) is True
    for other in ("RS384", "PS256", "PS512", "RS256"):
        assert key.verify(other, jws.signing_input, jws.signature) is False


def test_rfc7520_44_hs256_verifies() -> None:
    """4.4: HS256 with the RFC's 32-byte key verifies; a JwtVerifier then refuses the text payload."""
    jws = jose_verify(RFC7520_44_HS256, hmac_key())
    assert jws.kid == RFC7520_HMAC_KEY["kid"]
    verifier = JwtVerifier(
        issuer=None,
        audience=None,
        require_exp=False,
        secret=b64url_decode(RFC7520_HMAC_KEY["k"]),
        algorithms=["HS256"],
    )
    assert reason_of(verifier.verify, RFC7520_44_HS256) is Reason.MALFORMED_TOKEN
    # The same MAC under a different key is an invalid signature, not a malformed token.
    other = JwtVerifier(
        issuer=None, audience=None, require_exp=False, secret=bytes(range(32)), algorithms=["HS256"]
    )
    assert reason_of(other.verify, RFC7520_44_HS256) is Reason.INVALID_SIGNATURE


def test_rfc7520_oct_jwk_is_never_a_jwks_verification_key() -> None:
    """The 4.4 key is symmetric: a JWKS holding it yields no usable key (HMAC only via secret=)."""
    with pytest.raises(jose.KeyImportError):
        jose.VerificationKey.from_jwk(RFC7520_HMAC_KEY)
    with pytest.raises(SecAuthError) as exc:
        JwtVerifier(issuer=None, audience=None, jwks={"keys": [RFC7520_HMAC_KEY]})
    assert exc.value.reason is Reason.CONFIGURATION_ERROR


# 4.5-4.8 are outside the compact profile: detached content, unprotected headers and
# multiple signatures have no (or no faithful) compact form.

RFC7520_45_DETACHED_COMPACT = f"{HS256_PROTECTED_44}..{HS256_SIGNATURE_44}"
RFC7520_45_FLATTENED = {"protected": HS256_PROTECTED_44, "signature": HS256_SIGNATURE_44}
RFC7520_46_FLATTENED = {
    "payload": RFC7520_PAYLOAD_SEGMENT,
    "protected": "eyJhbGciOiJIUzI1NiJ9",
    "header": {"kid": "018c0ae5-4d9b-471b-bfd6-eef314bc7037"},
    "signature": "bWUSVaxorn7bEF1djytBd0kHv70Ly5pvbomzMWSOr20",
}
RFC7520_47_FLATTENED = {
    "payload": RFC7520_PAYLOAD_SEGMENT,
    "header": {"alg": "HS256", "kid": "018c0ae5-4d9b-471b-bfd6-eef314bc7037"},
    "signature": "xuLifqLGiblpv9zBpuZczWhNj1gARaLV3UxvxhJxZuk",
}
RFC7520_48_GENERAL = {
    "payload": RFC7520_PAYLOAD_SEGMENT,
    "signatures": [
        {
            "protected": "eyJhbGciOiJSUzI1NiJ9",
            "header": {"kid": "bilbo.baggins@hobbiton.example"},
            "signature": "MIsjqtVlOpa71KE-Mss8_Nq2YH4FGhiocsqrgi5NvyG53uoimic1tcMdSg-qptrzZc7CG6"
            "Svw2Y13TDIqHzTUrL_lR2ZFcryNFiHkSw129EghGpwkpxaTn_THJTCglNbADko1MZBCdwzJxwqZc-1RlpO2Hi"
            "bUYyXSwO97BSe0_evZKdjvvKSgsIqjytKSeAMbhMBdMma622_BG5t4sdbuCHtFjp9iJmkio47AIwqkZV1aIZs"
            "v33uPUqBBCXbYoQJwt7mxPftHmNlGoOSMxR_3thmXTCm4US-xiNOyhbm8afKK64jU6_TPtQHiJeQJxz9G3Tx-"
            "083B745_AfYOnlC9w",
        },
        {
            "header": {"alg": "ES512", "kid": "bilbo.baggins@hobbiton.example"},
            "signature": "ARcVLnaJJaUWG8fG-8t5BREVAuTY8n8YHjwDO1muhcdCoFZFFjfISu0Cdkn9Ybdlmi54ho"
            "0x924DUz8sK7ZXkhc7AFM8ObLfTvNCrqcI3Jkl2U5IX3utNhODH6v7xgy1Qahsn0fyb4zSAkje8bAWz4vIfj5"
            "pCMYxxm4fgV3q7ZYhm5eD",
        },
        {"protected": HS256_PROTECTED_44, "signature": HS256_SIGNATURE_44},
    ],
}


@pytest.mark.parametrize(
    "document",
    [RFC7520_45_FLATTENED, RFC7520_46_FLATTENED, RFC7520_47_FLATTENED, RFC7520_48_GENERAL],
    ids=["4.5", "4.6", "4.7", "4.8"],
)
def test_rfc7520_json_serializations_are_rejected(document: dict[str, Any]) -> None:
    """The JWS JSON serializations of 4.5-4.8 (compact or pretty) are not compact JWS: malformed."""
    verifier = JwtVerifier(
        issuer=None,
        audience=None,
        require_exp=False,
        jwks={"keys": [RFC7520_RSA_KEY, RFC7520_EC_KEY]},
    )
    for text in (json.dumps(document), json.dumps(document, separators=(",", ":"))):
        with pytest.raises(SecAuthError) as exc:
            jose.parse(text)
        assert exc.value.reason is Reason.MALFORMED_TOKEN
        assert reason_of(verifier.verify, text) is Reason.MALFORMED_TOKEN


def test_rfc7520_45_detached_compact_form_is_rejected() -> None:
    """4.5's compact form has an empty payload segment: refused, although the MAC is the 4.4 one."""
    with pytest.raises(SecAuthError) as exc:
        jose.parse(RFC7520_45_DETACHED_COMPACT)
    assert exc.value.reason is Reason.MALFORMED_TOKEN
    verifier = JwtVerifier(
        issuer=None,
        audience=None,
        require_exp=False,
        secret=b64url_decode(RFC7520_HMAC_KEY["k"]),
        algorithms=["HS256"],
    )
    assert reason_of(verifier.verify, RFC7520_45_DETACHED_COMPACT) is Reason.MALFORMED_TOKEN
    # Re-attaching the content gives exactly the 4.4 token, which verifies.
    attached = RFC7520_45_DETACHED_COMPACT.replace("..", f".{RFC7520_PAYLOAD_SEGMENT}.")
    assert attached == RFC7520_44_HS256
    jose_verify(attached, hmac_key())


def test_rfc7520_46_protected_part_alone_verifies_but_loses_the_unprotected_kid() -> None:
    """4.6: only {"alg":"HS256"} is signed; dropping the unprotected kid keeps the MAC valid.

    So an unprotected header never carries weight: our compact-only parser never sees it.
    """
    doc = RFC7520_46_FLATTENED
    compact = f"{doc['protected']}.{doc['payload']}.{doc['signature']}"
    jws = jose_verify(compact, hmac_key())
    assert jws.header == {"alg": "HS256"}
    assert jws.kid is None


def test_rfc7520_47_empty_protected_header_has_no_compact_form() -> None:
    """4.7 protects only the content: its compact projection starts with '.' and is refused."""
    doc = RFC7520_47_FLATTENED
    projection = f".{doc['payload']}.{doc['signature']}"
    with pytest.raises(SecAuthError) as exc:
        jose.parse(projection)
    assert exc.value.reason is Reason.MALFORMED_TOKEN


def test_rfc7520_48_signatures_as_single_compact_tokens() -> None:
    """4.8: the RS256 and HS256 signatures each verify as a compact JWS over their protected
    header; the ES512 one (unprotected header only) has no compact form and is refused."""
    rs, es, hs = RFC7520_48_GENERAL["signatures"]
    payload = RFC7520_48_GENERAL["payload"]
    rsa = jose.VerificationKey.from_jwk(RFC7520_RSA_KEY)
    assert jose_verify(f"{rs['protected']}.{payload}.{rs['signature']}", rsa).alg == "RS256"
    assert jose_verify(f"{hs['protected']}.{payload}.{hs['signature']}", hmac_key()).kid == (
        RFC7520_HMAC_KEY["kid"]
    )
    with pytest.raises(SecAuthError) as exc:
        jose.parse(f".{payload}.{es['signature']}")
    assert exc.value.reason is Reason.MALFORMED_TOKEN
    # Its signature is over ".<payload>" with an empty protected header; it is a real ES512
    # signature by the RFC key, which proves the refusal above is about the form alone.
    ec_key = jose.VerificationKey.from_jwk(RFC7520_EC_KEY)
    assert ec_key.verify("ES512", f".{payload}".encode(), b64url_decode(es["signature"])) is True
