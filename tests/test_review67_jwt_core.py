"""Review 67: the JWT verification core and its key sources, attacked.

Algorithm and key binding (a key's curve, type and JWK ``alg`` against the token's
``alg``), header parameters, ``typ`` as a media type, issuers and kids that collide
across the members of a multi-issuer verifier, the verified-token cache across key
changes, and JWKS and discovery over real servers on loopback (``LocalIssuer``). The
findings are marked ``xfail(strict=True)`` and assert the secure behaviour.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from paused_refresh import refresh_paused_at

from secauth import Guard, JwksCache, JwtVerifier, Reason, SecAuthError
from secauth.jwk import EC_GROUP_ORDERS
from secauth.testing import KeyPair, LocalIssuer, encode_segment, sign_compact

ISS = "https://idp.example.com/"


def _claims(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"iss": ISS, "aud": "api", "sub": "alice", "exp": int(time.time()) + 300}
    body.update(extra)
    return body


def _reason(verifier: Any, token: str) -> str:
    try:
        verifier.verify(token)
    except SecAuthError as err:
        return str(err.reason.value)
    return "ok"


class _Clock:
    """A hand-moved clock (seconds), shared by a verifier and its JwksCache."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- the algorithm is bound to the key ------------------------------------------------------


@pytest.mark.parametrize(
    ("key_alg", "include_alg", "token_alg", "expected"),
    [
        # a P-384 key signs only ES384: an "ES256" signature made with it (SHA-256 on P-384)
        ("ES384", True, "ES256", "invalid_signature"),
        ("ES384", False, "ES256", "invalid_signature"),
        ("ES256", False, "ES512", "invalid_signature"),
        # an RSA key whose JWK says RS256 never verifies PS256 (or RS512) made with it
        ("RS256", True, "PS256", "invalid_signature"),
        ("RS256", True, "RS512", "invalid_signature"),
        # without a JWK alg, an RSA key verifies every RSA algorithm (documented)
        ("RS256", False, "PS256", "ok"),
        # Ed448 never answers to Ed25519's fully specified name, with or without a JWK alg
        ("Ed448", True, "Ed25519", "invalid_signature"),
        ("Ed448", False, "Ed25519", "invalid_signature"),
        ("Ed448", False, "EdDSA", "ok"),
        ("Ed448", True, "EdDSA", "invalid_signature"),  # its JWK alg is "Ed448"
        ("EdDSA", False, "Ed448", "invalid_signature"),
    ],
)
def test_the_token_alg_must_be_one_the_key_is_bound_to(
    key_alg: str, include_alg: bool, token_alg: str, expected: str
) -> None:
    pair = KeyPair.generate(key_alg, kid="k", include_alg=include_alg)
    verifier = JwtVerifier(issuer=ISS, audience="api", jwks={"keys": [pair.public_jwk]})
    assert _reason(verifier, pair.sign(_claims(), alg=token_alg)) == expected


def test_an_hmac_token_keyed_with_the_public_jwk_text_is_refused_before_any_key() -> None:
    pair = KeyPair.generate("RS256", kid="k")
    secret = json.dumps(pair.public_jwk).encode()
    token = sign_compact({"alg": "HS256", "kid": "k"}, encode_segment(_claims()), secret, "HS256")
    verifier = JwtVerifier(issuer=ISS, audience="api", jwks={"keys": [pair.public_jwk]})
    with pytest.raises(SecAuthError) as caught:
        verifier.verify(token)
    assert caught.value.reason is Reason.INVALID_SIGNATURE
    assert caught.value.detail["problem"] == "algorithm not allowed"


def test_an_ecdsa_high_s_twin_verifies_but_never_shares_the_original_cache_entry() -> None:
    """ECDSA signatures are malleable ((r, s) and (r, n - s) both hold; IdPs emit either,
    so refusing high s would refuse half of all honest tokens). What matters is that the
    twin is a token of its own: verified afresh, never answered from the entry of the
    original, and carrying exactly the same claims."""
    pair = KeyPair.generate("ES256", kid="k")
    verifier = JwtVerifier(issuer=ISS, audience="api", jwks={"keys": [pair.public_jwk]})
    token = pair.sign(_claims())
    head, payload, sig = token.split(".")
    from secauth._b64 import b64url_decode, b64url_encode

    raw = b64url_decode(sig)
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    twin_sig = r.to_bytes(32, "big") + (EC_GROUP_ORDERS["P-256"] - s).to_bytes(32, "big")
    twin = f"{head}.{payload}.{b64url_encode(twin_sig)}"
    assert twin != token
    assert verifier.verify(token) == verifier.verify(token)  # cached now
    assert verifier.revalidate(token)
    assert not verifier.revalidate(twin)
    assert verifier.verify(twin) == verifier.verify(token)


# -- header parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"jwk": None}, "malformed_token"),  # present, even null, is key-bearing
        ({"jku": "http://127.0.0.1:9/jwks.json"}, "malformed_token"),
        ({"x5u": "https://idp.example.com/cert.pem"}, "malformed_token"),
        ({"crit": []}, "malformed_token"),
        ({"zip": "DEF"}, "malformed_token"),
        ({"enc": "A256GCM"}, "malformed_token"),
        ({"b64": False, "crit": ["b64"]}, "malformed_token"),
        ({"cty": "application/JWT"}, "malformed_token"),
        ({"cty": 5}, "malformed_token"),
        ({"x5t": 1}, "malformed_token"),
        ({"typ": ["JWT"]}, "malformed_token"),
        ({"kid": None}, "malformed_token"),
        ({"alg": "nOnE"}, "invalid_signature"),
        ({"alg": "ES256K"}, "invalid_signature"),
        ({"alg": "es256"}, "invalid_signature"),
        # harmless ones pass: b64 true is the default, a JSON cty, a string thumbprint
        ({"b64": True}, "ok"),
        ({"cty": "json"}, "ok"),
        ({"x5t": "not-checked"}, "ok"),
    ],
)
def test_header_parameters(extra: dict[str, Any], expected: str) -> None:
    pair = KeyPair.generate("ES256", kid="k")
    verifier = JwtVerifier(issuer=ISS, audience="api", jwks={"keys": [pair.public_jwk]})
    header = {"alg": "ES256", "kid": "k", **extra}
    token = sign_compact(header, encode_segment(_claims()), pair.private_key, "ES256")
    assert _reason(verifier, token) == expected


@pytest.mark.parametrize(
    ("typ", "expected"),
    [
        ("at+jwt", "ok"),
        ("application/at+jwt", "ok"),
        ("AT+JWT", "ok"),
        ("JWT", "invalid_claims"),
        ("at+jwt ", "invalid_claims"),
        ("application/application/at+jwt", "invalid_claims"),
        ("at+jwt; charset=utf-8", "invalid_claims"),
        (None, "invalid_claims"),
    ],
)
def test_token_type_is_compared_as_a_media_type_only(typ: str | None, expected: str) -> None:
    pair = KeyPair.generate("ES256", kid="k")
    verifier = JwtVerifier(
        issuer=ISS, audience="api", jwks={"keys": [pair.public_jwk]}, token_type="at+jwt"
    )
    assert _reason(verifier, pair.sign(_claims(), headers={"typ": typ})) == expected


# -- claims -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "value", "expected"),
    [
        ("iss", ISS.rstrip("/"), "invalid_issuer"),
        ("iss", ISS.upper(), "invalid_issuer"),
        ("iss", [ISS], "invalid_issuer"),
        ("aud", ["other", "api"], "ok"),
        ("aud", ["api", None], "invalid_audience"),
        ("aud", [], "invalid_audience"),
        ("aud", {"api": True}, "invalid_audience"),
        ("aud", "API", "invalid_audience"),
        ("exp", True, "invalid_claims"),
        ("exp", "4000000000", "invalid_claims"),
        ("exp", 1e308, "invalid_claims"),
        ("nbf", None, "invalid_claims"),
        ("iat", [1], "invalid_claims"),
    ],
)
def test_claim_shapes(claim: str, value: Any, expected: str) -> None:
    pair = KeyPair.generate("ES256", kid="k")
    verifier = JwtVerifier(issuer=ISS, audience="api", jwks={"keys": [pair.public_jwk]})
    assert _reason(verifier, pair.sign(_claims(**{claim: value}))) == expected


def test_a_required_claim_that_is_null_is_refused() -> None:
    pair = KeyPair.generate("ES256", kid="k")
    verifier = JwtVerifier(
        issuer=ISS, audience="api", jwks={"keys": [pair.public_jwk]}, required_claims=["tenant"]
    )
    assert _reason(verifier, pair.sign(_claims())) == "invalid_claims"
    assert _reason(verifier, pair.sign(_claims(tenant="t1"))) == "ok"
    assert _reason(verifier, pair.sign(_claims(tenant=None))) == "invalid_claims"


@pytest.mark.parametrize(
    ("expected", "actual"),
    [([1], [True]), ({"level": 1}, {"level": True}), ([0], [False]), ([1], [1.0])],
)
def test_expected_claims_are_type_exact_inside_lists_and_objects(
    expected: Any, actual: Any
) -> None:
    pair = KeyPair.generate("ES256", kid="k")
    verifier = JwtVerifier(
        issuer=ISS, audience="api", jwks={"keys": [pair.public_jwk]},
        expected_claims={"flags": expected},
    )
    assert _reason(verifier, pair.sign(_claims(flags=expected))) == "ok"
    assert _reason(verifier, pair.sign(_claims(flags=actual))) == "invalid_claims"


def test_a_cached_token_expires_at_exp_plus_leeway_like_a_fresh_one() -> None:
    clock = _Clock(1_000_000.0)
    pair = KeyPair.generate("ES256", kid="k")
    verifier = JwtVerifier(
        issuer=ISS, audience="api", jwks={"keys": [pair.public_jwk]}, leeway=10, clock=clock
    )
    token = pair.sign(_claims(exp=1_000_100, nbf=999_990))
    verifier.verify(token)
    verifier.verify(token)
    assert verifier.revalidate(token)  # a cache entry from here on
    clock.now = 1_000_109.5
    assert verifier.verify(token)["sub"] == "alice"
    clock.now = 1_000_110.0
    assert _reason(verifier, token) == "token_expired"
    assert not verifier.revalidate(token)


# -- JWKS and discovery over loopback ---------------------------------------------------------


@pytest.fixture
def idp() -> Iterator[LocalIssuer]:
    with LocalIssuer(algs=("ES256",)) as issuer:
        yield issuer


def test_discovery_naming_the_issuer_with_a_trailing_slash_trusts_no_key(
    idp: LocalIssuer,
) -> None:
    idp.discovery_issuer = idp.issuer + "/"
    verifier = JwtVerifier.from_discovery(idp.issuer, audience="api", allow_http=True)
    with pytest.raises(SecAuthError) as caught:
        verifier.verify(idp.token(sub="a", aud="api"))
    assert caught.value.status == 503
    assert caught.value.retryable
    assert caught.value.detail["cause"] == {"kind": "wrong_issuer", "document": "discovery"}
    assert idp.fetches == 0  # the JWKS it names was never asked for


def test_a_jwks_key_with_private_members_is_skipped_and_its_kid_costs_no_refetch(
    idp: LocalIssuer,
) -> None:
    leaked = {**idp.key.public_jwk, "d": "c2VjcmV0LWtleS1tYXRlcmlhbA"}
    idp.jwks_override = {"keys": [leaked]}
    verifier = JwtVerifier(
        issuer=idp.issuer, audience="api", jwks_uri=idp.jwks_uri, allow_http=True
    )
    token = idp.token(sub="a", aud="api")
    for _ in range(5):
        with pytest.raises(SecAuthError) as caught:
            verifier.verify(token)
        assert caught.value.reason is Reason.UNKNOWN_KEY
        assert caught.value.status == 401
    assert idp.fetches == 1
    assert isinstance(verifier.keys, JwksCache)
    key_set = verifier.keys._keys
    assert key_set is not None
    assert len(key_set) == 0
    skipped = key_set.skipped
    assert skipped == (
        "kid 'key-1': JWK holds private or symmetric key material; publish public keys only",
    )
    assert not any("c2VjcmV0" in reason for reason in skipped)


def test_key_material_swapped_under_the_same_kid_drops_cached_tokens(idp: LocalIssuer) -> None:
    clock = _Clock(time.time())
    keys = JwksCache(idp.jwks_uri, allow_http=True, ttl=60, clock=clock)
    verifier = JwtVerifier(issuer=idp.issuer, audience="api", jwks=keys, clock=clock)
    token = idp.token(sub="a", aud="api")
    verifier.verify(token)
    verifier.verify(token)
    assert verifier.revalidate(token)
    swapped = KeyPair.generate("ES256", kid=idp.key.kid)  # same kid, new material
    idp.keys[-1] = swapped
    clock.now += 61  # the set is due: the next lookup refreshes it
    with pytest.raises(SecAuthError) as caught:
        verifier.verify(token)
    assert caught.value.reason is Reason.INVALID_SIGNATURE
    assert idp.fetches == 2
    assert verifier.verify(idp.token(sub="b", aud="api", key=swapped))["sub"] == "b"


def test_a_guard_answers_503_without_the_key_url_while_the_idp_is_down(idp: LocalIssuer) -> None:
    idp.mode = "error"
    verifier = JwtVerifier(
        issuer=idp.issuer, audience="api", jwks_uri=idp.jwks_uri + "?tenant=s3cret", allow_http=True
    )
    guard = Guard(verifier, decision_log=None)

    @guard
    def handler(event: Any, context: Any, principal: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": principal.id}

    event = {
        "version": "2.0", "rawPath": "/", "body": None,
        "headers": {"authorization": f"Bearer {idp.token(sub='a', aud='api')}"},
        "requestContext": {"http": {"method": "GET", "path": "/", "sourceIp": "198.51.100.7"},
                           "requestId": "r-1", "stage": "$default"},
    }
    answer = handler(event, None)
    assert answer["statusCode"] == 503
    text = json.dumps(answer)
    port = idp.base_url.rsplit(":", 1)[1]
    for secret in (port, "127.0.0.1", "jwks", "s3cret", "http_status"):
        assert secret not in text


# -- several issuers --------------------------------------------------------------------------


def test_each_issuer_keeps_its_own_audience_and_keys_when_kids_collide() -> None:
    with LocalIssuer(algs=("ES256",)) as a, LocalIssuer(algs=("ES256",)) as b:
        multi = JwtVerifier.multi(
            JwtVerifier(issuer=a.issuer, audience="a-api", jwks_uri=a.jwks_uri, allow_http=True),
            JwtVerifier(issuer=b.issuer, audience="b-api", jwks_uri=b.jwks_uri, allow_http=True),
        )
        assert multi.verify(b.token(sub="bob", aud="b-api"))["sub"] == "bob"
        # issuer B's own token for A's audience: B's policy applies
        assert _reason(multi, b.token(sub="bob", aud="a-api")) == "invalid_audience"
        # signed by B's "key-1", naming A: routed to A, whose "key-1" is another key
        assert _reason(multi, b.token(sub="mallory", aud="a-api", iss=a.issuer)) == (
            "invalid_signature"
        )
        assert a.fetches == 1
        assert b.fetches == 1


# -- the key set changes while a token is being verified --------------------------------------


def test_a_token_verified_during_a_refresh_never_outlives_its_withdrawn_key(
    idp: LocalIssuer,
) -> None:
    verifier = JwtVerifier(
        issuer=idp.issuer, audience="api", jwks_uri=idp.jwks_uri, allow_http=True
    )
    assert verifier.hydrate()
    old = idp.key
    token = idp.token(sub="mallory", aud="api")
    assert verifier.verify(token)["sub"] == "mallory"  # first sighting: noted, not kept
    idp.rotate()
    idp.remove(old.kid)  # the IdP withdraws the key (it leaked, say)

    with refresh_paused_at(verifier, "self._keys = keys"):
        # the old set is still the published one: this verification is legitimate
        assert verifier.verify(token)["sub"] == "mallory"
    assert [k.kid for k in verifier.keys.keys_for(idp.key.kid)] == [idp.key.kid]
    fresh = JwtVerifier(issuer=idp.issuer, audience="api", jwks_uri=idp.jwks_uri, allow_http=True)
    assert _reason(fresh, token) == "unknown_key"
    # once the new set is published, the withdrawn key's token must stop verifying
    assert _reason(verifier, token) == "unknown_key"


def test_an_expected_null_claim_must_be_present() -> None:
    """``expected_claims={"x": None}`` asks for ``x: null``: a token without ``x`` is not it."""
    pair = KeyPair.generate("ES256", kid="k")
    verifier = JwtVerifier(
        issuer=ISS, audience="api", jwks={"keys": [pair.public_jwk]}, expected_claims={"x": None}
    )
    assert _reason(verifier, pair.sign(_claims(x=None))) == "ok"
    assert _reason(verifier, pair.sign(_claims())) == "invalid_claims"
