"""A JWKS that also holds keys secauth cannot use still verifies tokens of its usable keys.

One test per shape of unusable key (issue 14, part 4). Each JWKS is served by a real HTTP
server on 127.0.0.1 (``LocalIssuer`` with ``jwks_override``) and read by a real
``JwksCache``. Every unusable key is left out, and logged once, by ``kid`` and reason,
never with key material; a token naming it is ``unknown_key`` (401), never a crash.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from secauth import JwksCache, JwtVerifier
from secauth._b64 import b64url_encode
from secauth.errors import UnknownKey
from secauth.testing import KeyPair, LocalIssuer

AUD = "orders-api"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def idp() -> Iterator[LocalIssuer]:
    with LocalIssuer(algs=("ES256",)) as issuer:
        yield issuer


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="secauth.jwks")
    return caplog


def serve(idp: LocalIssuer, *extra: dict[str, Any]) -> tuple[JwtVerifier, JwksCache, Clock]:
    """Serve ``extra`` keys before the issuer's good key; a verifier over a real cache."""
    idp.jwks_override = {"keys": [*extra, idp.key.public_jwk]}
    clock = Clock()
    cache = JwksCache(idp.jwks_uri, allow_http=True, ttl=60, clock=clock)
    verifier = JwtVerifier(issuer=idp.issuer, audience=AUD, jwks=cache, cache_size=0)
    return verifier, cache, clock


def assert_survives(
    idp: LocalIssuer, logs: pytest.LogCaptureFixture, unusable: dict[str, Any], reason: str
) -> None:
    """The good key verifies, the unusable one is unknown, and it is logged once by kid
    and reason, without key material, however often the set is fetched again."""
    verifier, cache, clock = serve(idp, unusable)
    assert verifier.verify(idp.token(sub="alice", aud=AUD))["sub"] == "alice"
    with pytest.raises(UnknownKey):
        cache.keys_for(unusable["kid"])
    clock.now += 61  # stale: the next lookup fetches the same set again
    assert verifier.verify(idp.token(sub="bob", aud=AUD))["sub"] == "bob"
    assert idp.fetches == 2
    lines = [r.getMessage() for r in logs.records if "skipped" in r.getMessage()]
    assert len(lines) == 1, lines
    assert repr(unusable["kid"]) in lines[0]
    assert reason in lines[0]
    for member in ("n", "x", "y", "pub", "d", "priv"):
        if isinstance(unusable.get(member), str):
            assert unusable[member] not in logs.text


def test_a_post_quantum_akp_key_is_skipped(idp: LocalIssuer, logs: Any) -> None:
    ml_dsa = {"kty": "AKP", "alg": "ML-DSA-44", "kid": "pq-1", "use": "sig",
              "pub": b64url_encode(os.urandom(1312))}  # fmt: skip
    assert_survives(idp, logs, ml_dsa, "unsupported key type 'AKP'")


def test_an_ec_key_on_secp256k1_is_skipped(idp: LocalIssuer, logs: Any) -> None:
    point = ec.generate_private_key(ec.SECP256K1()).public_key().public_numbers()
    k1 = {"kty": "EC", "crv": "secp256k1", "alg": "ES256K", "kid": "k1-1",
          "x": b64url_encode(point.x.to_bytes(32, "big")),
          "y": b64url_encode(point.y.to_bytes(32, "big"))}  # fmt: skip
    assert_survives(idp, logs, k1, "unsupported EC curve 'secp256k1'")


def test_an_ec_key_on_an_unknown_curve_is_skipped(idp: LocalIssuer, logs: Any) -> None:
    unknown = {"kty": "EC", "crv": "BP-256", "kid": "bp-1",
               "x": b64url_encode(os.urandom(32)), "y": b64url_encode(os.urandom(32))}  # fmt: skip
    assert_survives(idp, logs, unknown, "unsupported EC curve 'BP-256'")


def test_an_ec_key_without_alg_is_used_for_its_curves_one_algorithm(
    idp: LocalIssuer, logs: Any
) -> None:
    """No ``alg`` is no reason to skip an EC key: its curve names the one algorithm (P-384:
    ES384), and nothing else verifies with it."""
    bare = KeyPair.generate("ES384", kid="no-alg", include_alg=False)
    assert "alg" not in bare.public_jwk
    verifier, cache, _ = serve(idp, bare.public_jwk)
    assert verifier.verify(idp.token(sub="alice", aud=AUD))["sub"] == "alice"
    assert verifier.verify(idp.token(key=bare, sub="carol", aud=AUD))["sub"] == "carol"
    assert [sorted(k.algorithms) for k in cache.keys_for("no-alg")] == [["ES384"]]
    assert not [r for r in logs.records if "skipped" in r.getMessage()]


def test_an_rsa_key_under_2048_bits_is_skipped(idp: LocalIssuer, logs: Any) -> None:
    weak = KeyPair.generate("RS256", kid="rsa-1024", rsa_bits=1024).public_jwk
    assert_survives(idp, logs, weak, "RSA modulus of 1024 bits")


def test_an_encryption_key_is_skipped(idp: LocalIssuer, logs: Any) -> None:
    enc = dict(KeyPair.generate("RS256", kid="enc-1").public_jwk, use="enc", alg="RSA-OAEP-256")
    assert_survives(idp, logs, enc, "key use 'enc' is not 'sig'")


def test_two_signing_keys_under_one_kid_are_both_refused(idp: LocalIssuer, logs: Any) -> None:
    """Which key would a token with this kid mean? Neither is tried: picking by list order
    fails the other key's tokens at random, and trying both turns one kid into a bag of
    keys. The rest of the set keeps working."""
    first = KeyPair.generate("ES256", kid="twice")
    second = KeyPair.generate("ES256", kid="twice")
    verifier, cache, clock = serve(idp, first.public_jwk, second.public_jwk)
    assert verifier.verify(idp.token(sub="alice", aud=AUD))["sub"] == "alice"
    for pair in (first, second):
        with pytest.raises(UnknownKey):
            verifier.verify(idp.token(key=pair, sub="mallory", aud=AUD))
    clock.now += 61
    cache.keys_for(idp.key.kid)
    lines = [r.getMessage() for r in logs.records if "skipped" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "'twice'" in lines[0]
    assert "duplicate kid" in lines[0]


def test_keys_sharing_a_kid_for_different_algorithms_both_verify(
    idp: LocalIssuer, logs: Any
) -> None:
    """RFC 7517 4.5's case: keys of different types as alternatives under one kid. The
    token's alg picks exactly one, so both stay; an exact copy of a key is kept once."""
    rsa_key = KeyPair.generate("RS256", kid="alt")
    ec_key = KeyPair.generate("ES384", kid="alt")
    verifier, cache, _ = serve(idp, rsa_key.public_jwk, ec_key.public_jwk, ec_key.public_jwk)
    assert verifier.verify(idp.token(key=rsa_key, sub="r", aud=AUD))["sub"] == "r"
    assert verifier.verify(idp.token(key=ec_key, sub="e", aud=AUD))["sub"] == "e"
    assert len(cache.keys_for("alt")) == 2
    assert not [r for r in logs.records if "skipped" in r.getMessage()]


def test_an_encryption_key_sharing_the_signing_keys_kid_is_skipped_alone(
    idp: LocalIssuer, logs: Any
) -> None:
    """Common in the wild: one kid for a signing key and its encryption twin."""
    signing = KeyPair.generate("RS256", kid="pair")
    enc = dict(KeyPair.generate("RS256", kid="pair").public_jwk, use="enc", alg="RSA-OAEP")
    verifier, _, _ = serve(idp, enc, signing.public_jwk)
    assert verifier.verify(idp.token(key=signing, sub="s", aud=AUD))["sub"] == "s"
    lines = [r.getMessage() for r in logs.records if "skipped" in r.getMessage()]
    assert len(lines) == 1
    assert "'enc'" in lines[0]


def test_every_shape_at_once(idp: LocalIssuer, logs: Any) -> None:
    """All of the above in one set: the usable keys verify, each other key is one line."""
    twice = [KeyPair.generate("ES256", kid="twice").public_jwk for _ in range(2)]
    unusable = [
        {"kty": "AKP", "alg": "ML-DSA-65", "kid": "pq", "pub": b64url_encode(os.urandom(64))},
        {"kty": "EC", "crv": "secp256k1", "kid": "k1", "x": "AA", "y": "AA"},
        {"kty": "EC", "crv": "X-1", "kid": "x1", "x": "AA", "y": "AA"},
        KeyPair.generate("RS256", kid="weak", rsa_bits=1024).public_jwk,
        dict(KeyPair.generate("ES256", kid="enc").public_jwk, use="enc", alg="ECDH-ES"),
        *twice,
    ]
    bare = KeyPair.generate("ES256", kid="bare", include_alg=False)
    verifier, _, clock = serve(idp, *unusable, bare.public_jwk)
    assert verifier.verify(idp.token(sub="alice", aud=AUD))["sub"] == "alice"
    assert verifier.verify(idp.token(key=bare, sub="bare", aud=AUD))["sub"] == "bare"
    clock.now += 61
    assert verifier.verify(idp.token(sub="bob", aud=AUD))["sub"] == "bob"
    lines = [r.getMessage() for r in logs.records if "skipped" in r.getMessage()]
    assert len(lines) == 6, lines
    for kid in ("pq", "k1", "x1", "weak", "enc", "twice"):
        assert sum(repr(kid) in line for line in lines) == 1, kid
