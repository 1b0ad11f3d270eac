"""JwtVerifier: claim policy, custom checks, the verified-token cache, presets and configuration.

Keys are static here (a JWKS dict or a small real KeySource); the network side of
key handling is covered in test_jwks.py. Time comes from an injected clock.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from secauth import JwtVerifier, StaticKeys
from secauth.errors import (
    ConfigurationError,
    InsufficientScope,
    InvalidClaims,
    Reason,
    SecAuthError,
)
from secauth.jose import VerificationKey
from secauth.testing import KeyPair, encode_segment, sign_compact

ISS = "https://idp.example.com/"
AUD = "orders-api"
NOW = 1_700_000_000


class FakeClock:
    """Seconds since the epoch, moved by hand."""

    def __init__(self, start: float = NOW) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingKeys:
    """A real KeySource over static keys that counts lookups; tests may swap its keys and
    bump its generation to model a key-set change."""

    def __init__(self, *pairs: KeyPair) -> None:
        self.inner = StaticKeys({"keys": [p.public_jwk for p in pairs]})
        self.lookups = 0
        self.generation = 1

    def swap(self, *pairs: KeyPair) -> None:
        self.inner = StaticKeys({"keys": [p.public_jwk for p in pairs]})

    def keys_for(self, kid: str | None) -> tuple[VerificationKey, ...]:
        self.lookups += 1
        return self.inner.keys_for(kid)

    async def keys_for_async(self, kid: str | None) -> tuple[VerificationKey, ...]:
        return self.keys_for(kid)

    def hydrate(self, *, strict: bool = False) -> bool:
        return True


@functools.cache
def keypair(alg: str, kid: str = "k1", include_alg: bool = True) -> KeyPair:
    """One generated key per (alg, kid), shared across tests (RSA generation is slow)."""
    return KeyPair.generate(alg, kid=kid, include_alg=include_alg)


def claims(**overrides: Any) -> dict[str, Any]:
    """A valid claim set at NOW; an override of None removes the claim."""
    body: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": "alice", "iat": NOW, "exp": NOW + 300}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def make(
    pair: KeyPair | None = None, clock: Callable[[], float] | None = None, **options: Any
) -> JwtVerifier:
    """A verifier for ``pair`` (ES256 by default) with ISS/AUD and the fake clock at NOW."""
    pair = pair or keypair("ES256")
    options.setdefault("issuer", ISS)
    options.setdefault("audience", AUD)
    options.setdefault("jwks", {"keys": [pair.public_jwk]})
    return JwtVerifier(clock=clock or FakeClock(), **options)


def sign(pair: KeyPair | None = None, headers: Mapping[str, Any] | None = None, **over: Any) -> str:
    return (pair or keypair("ES256")).sign(claims(**over), headers=headers)


def rejected(verifier: JwtVerifier, token: str) -> Reason:
    """The reason ``verifier`` rejects ``token`` (fails the test if it is accepted)."""
    with pytest.raises(SecAuthError) as exc:
        verifier.verify(token)
    return exc.value.reason


# --- issuer and audience -----------------------------------------------------------------


def test_issuer_and_audience_are_required_keywords() -> None:
    """Leaving out issuer or audience is a TypeError; None opts out explicitly."""
    jwks = {"keys": [keypair("ES256").public_jwk]}
    with pytest.raises(TypeError):
        JwtVerifier(audience=AUD, jwks=jwks)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        JwtVerifier(issuer=ISS, jwks=jwks)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        JwtVerifier(ISS, AUD, jwks=jwks)  # type: ignore[misc]
    anything = make(issuer=None, audience=None)
    token = sign(iss="https://anyone/", aud=None)
    assert anything.verify(token)["iss"] == "https://anyone/"
    assert anything.verify(sign(iss=None, aud="x"))["sub"] == "alice"


@pytest.mark.parametrize(
    "iss",
    [
        "https://idp.example.com",
        "https://idp.example.com//",
        "HTTPS://idp.example.com/",
        "https://IDP.example.com/",
        " https://idp.example.com/",
        "https://idp.example.com/\u200b",
        ["https://idp.example.com/"],
        {"iss": "https://idp.example.com/"},
        1,
        True,
        None,
    ],
)
def test_issuer_is_compared_exactly(iss: object) -> None:
    """Anything but the exact issuer string (or a missing iss) is invalid_issuer."""
    verifier = make()
    token = sign(iss=iss) if iss is not None else sign(iss=None)
    assert rejected(verifier, token) is Reason.INVALID_ISSUER
    assert verifier.verify(sign())["iss"] == ISS


@pytest.mark.parametrize("aud", [AUD, [AUD], ["other", AUD], [AUD, "other"]])
def test_audience_accepted(aud: object) -> None:
    """aud may be the string or a list containing it."""
    assert make().verify(sign(aud=aud))["aud"] == aud


@pytest.mark.parametrize(
    "aud",
    [
        "Orders-api",
        "orders",
        "orders-api ",
        ["other"],
        [],
        [AUD, 1],
        [[AUD]],
        {AUD: True},
        1,
        None,
    ],
)
def test_audience_rejected(aud: object) -> None:
    """A wrong, empty, mistyped or missing aud is invalid_audience."""
    token = sign(aud=aud) if aud is not None else sign(aud=None)
    assert rejected(make(), token) is Reason.INVALID_AUDIENCE


def test_audience_collection() -> None:
    """Several accepted audiences: one match suffices, none is rejected."""
    verifier = make(audience=["api-a", "api-b"])
    assert verifier.verify(sign(aud="api-b"))["aud"] == "api-b"
    assert verifier.verify(sign(aud=["x", "api-a"]))["aud"] == ["x", "api-a"]
    assert rejected(verifier, sign(aud="api-c")) is Reason.INVALID_AUDIENCE


def test_audience_claim() -> None:
    """audience_claim moves the audience check to another claim (Cognito's client_id)."""
    verifier = make(audience="app-1", audience_claim="client_id")
    assert verifier.verify(sign(aud=None, client_id="app-1"))["client_id"] == "app-1"
    assert rejected(verifier, sign(aud="app-1")) is Reason.INVALID_AUDIENCE
    assert rejected(verifier, sign(aud=None, client_id="app-2")) is Reason.INVALID_AUDIENCE
    assert rejected(verifier, sign(aud=None, client_id=["app-1", 2])) is Reason.INVALID_AUDIENCE


# --- time claims -------------------------------------------------------------------------


def test_exp_required_unless_opted_out() -> None:
    """A token without exp is invalid_claims by default and accepted with require_exp=False."""
    assert rejected(make(), sign(exp=None)) is Reason.INVALID_CLAIMS
    lenient = make(require_exp=False)
    assert lenient.verify(sign(exp=None))["sub"] == "alice"
    assert rejected(lenient, sign(exp=NOW - 1)) is Reason.TOKEN_EXPIRED  # still checked if present


@pytest.mark.parametrize(
    ("leeway", "exp", "ok"),
    [
        (0, NOW + 1, True),
        (0, NOW, False),
        (0, NOW - 1, False),
        (10, NOW - 9, True),
        (10, NOW - 10, False),
        (0, NOW + 0.5, True),
    ],
)
def test_exp_with_leeway(leeway: float, exp: float, ok: bool) -> None:
    """exp is exclusive (now >= exp + leeway is expired)."""
    verifier = make(leeway=leeway)
    token = sign(exp=exp)
    if ok:
        assert verifier.verify(token)["exp"] == exp
    else:
        assert rejected(verifier, token) is Reason.TOKEN_EXPIRED


@pytest.mark.parametrize(
    ("leeway", "nbf", "ok"),
    [(0, NOW, True), (0, NOW + 1, False), (10, NOW + 10, True), (10, NOW + 11, False)],
)
def test_nbf_with_leeway(leeway: float, nbf: float, ok: bool) -> None:
    """nbf in the future (beyond leeway) is token_not_yet_valid."""
    verifier = make(leeway=leeway)
    token = sign(nbf=nbf)
    if ok:
        assert verifier.verify(token)["nbf"] == nbf
    else:
        assert rejected(verifier, token) is Reason.TOKEN_NOT_YET_VALID


@pytest.mark.parametrize(
    ("leeway", "max_future_iat", "iat", "ok"),
    [
        (0, 60, NOW + 60, True),
        (0, 60, NOW + 61, False),
        (5, 60, NOW + 65, True),
        (5, 60, NOW + 66, False),
        (0, 0, NOW + 1, False),
        (0, 0, NOW - 10**6, True),
    ],
)
def test_iat_in_the_future(leeway: float, max_future_iat: float, iat: float, ok: bool) -> None:
    """iat may lie at most leeway + max_future_iat seconds ahead; old iat is fine."""
    verifier = make(leeway=leeway, max_future_iat=max_future_iat)
    token = sign(iat=iat)
    if ok:
        assert verifier.verify(token)["iat"] == iat
    else:
        assert rejected(verifier, token) is Reason.TOKEN_NOT_YET_VALID


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", [str(NOW + 300), True, [NOW + 300], {"t": 1}, 2.0**60])
def test_time_claims_must_be_numbers(claim: str, value: object) -> None:
    """A time claim that is a string, bool, list, object or out of range is invalid_claims."""
    assert rejected(make(), sign(**{claim: value})) is Reason.INVALID_CLAIMS


def test_time_claim_null_is_invalid() -> None:
    """``"exp": null`` is not the same as a missing exp."""
    body = encode_segment(b'{"iss":"%s","aud":"%s","exp":null}' % (ISS.encode(), AUD.encode()))
    pair = keypair("ES256")
    token = sign_compact({"alg": "ES256", "kid": "k1"}, body, pair.private_key, "ES256")
    assert rejected(make(require_exp=False), token) is Reason.INVALID_CLAIMS


# --- required and expected claims, typ -------------------------------------------------------


def test_required_claims() -> None:
    """Every name in required_claims must be present."""
    verifier = make(required_claims=("sub", "tenant"))
    assert verifier.verify(sign(tenant="acme"))["tenant"] == "acme"
    assert rejected(verifier, sign()) is Reason.INVALID_CLAIMS
    assert rejected(verifier, sign(sub=None, tenant="acme")) is Reason.INVALID_CLAIMS


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        (False, False, True),
        (False, "false", False),
        (False, 0, False),
        (True, 1, False),
        (True, "true", False),
        (1, 1, True),
        (1, 1.0, False),
        (1, True, False),
        (1, "1", False),
        ("access", "access", True),
        ("access", "Access", False),
        ("access", ["access"], False),
        (["a", "b"], ["a", "b"], True),
        (["a", "b"], ["b", "a"], False),
        ("x", None, False),
    ],
)
def test_expected_claims_are_type_exact(expected: object, actual: object, ok: bool) -> None:
    """expected_claims match by type and value: "false" is not False, 1.0 is not 1."""
    verifier = make(expected_claims={"flag": expected})
    token = sign(flag=actual)
    if ok:
        assert verifier.verify(token)["flag"] == expected
    else:
        assert rejected(verifier, token) is Reason.INVALID_CLAIMS


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+JWT", "AT+JWT", "application/at+jwt"])
def test_token_type_accepted(typ: str) -> None:
    """token_type compares typ as a media type: case-insensitive, application/ optional."""
    verifier = make(token_type="at+jwt")
    assert verifier.verify(sign(headers={"typ": typ}))["sub"] == "alice"


@pytest.mark.parametrize("typ", ["JWT", None, "at+jwt ", "jwt+at", "application/jwt", "at+jwt;v=1"])
def test_token_type_rejected(typ: str | None) -> None:
    """A different or missing typ is invalid_claims when token_type is set."""
    verifier = make(token_type="at+jwt")
    assert rejected(verifier, sign(headers={"typ": typ})) is Reason.INVALID_CLAIMS


def test_typ_is_free_without_token_type() -> None:
    """Without token_type, any typ (or none) is accepted."""
    verifier = make()
    assert verifier.verify(sign(headers={"typ": None}))["sub"] == "alice"
    assert verifier.verify(sign(headers={"typ": "at+jwt"}))["sub"] == "alice"


# --- custom check hook -------------------------------------------------------------------


def test_check_hook_receives_header_claims_key() -> None:
    """The hook sees the verified header, claims and the key that verified the signature."""
    seen: list[tuple[dict[str, Any], dict[str, Any], VerificationKey]] = []

    def check(header: Mapping[str, Any], claims: Mapping[str, Any], key: VerificationKey) -> None:
        seen.append((dict(header), dict(claims), key))

    make(check=check, cache_size=0).verify(sign(scope="orders.read"))
    [(header, body, key)] = seen
    assert header == {"alg": "ES256", "typ": "JWT", "kid": "k1"}
    assert body["scope"] == "orders.read"
    assert key.kid == "k1"
    assert "ES256" in key.algorithms


def test_check_hook_secauth_error_propagates() -> None:
    """A SecAuthError raised by the hook reaches the caller unchanged."""

    def check(header: Mapping[str, Any], claims: Mapping[str, Any], key: VerificationKey) -> None:
        if "admin" not in claims.get("roles", []):
            raise InsufficientScope(detail={"needed": "admin"})

    verifier = make(check=check)
    with pytest.raises(InsufficientScope) as exc:
        verifier.verify(sign(roles=["user"]))
    assert exc.value.reason is Reason.INSUFFICIENT_SCOPE
    assert exc.value.status == 403
    assert verifier.verify(sign(roles=["admin"]))["roles"] == ["admin"]


@pytest.mark.parametrize("error_type", [ValueError, KeyError, RuntimeError, AttributeError])
def test_check_hook_other_error_is_invalid_claims(error_type: type[Exception]) -> None:
    """Any other exception from the hook rejects the token as invalid_claims, its text not kept."""

    def check(header: Mapping[str, Any], claims: Mapping[str, Any], key: VerificationKey) -> None:
        raise error_type("internal-detail-xyz")

    with pytest.raises(InvalidClaims) as exc:
        make(check=check).verify(sign())
    assert exc.value.reason is Reason.INVALID_CLAIMS
    assert exc.value.__cause__ is None
    assert "internal-detail-xyz" not in repr(exc.value)
    assert "internal-detail-xyz" not in str(exc.value.to_log())


def test_check_hook_not_called_for_bad_signature() -> None:
    """The hook only ever sees tokens whose signature verified."""
    calls: list[object] = []
    verifier = make(check=lambda h, c, k: calls.append(c))
    other = KeyPair.generate("ES256", kid="k1")
    assert rejected(verifier, sign(other)) is Reason.INVALID_SIGNATURE
    assert calls == []


def test_check_hook_runs_on_cache_hits() -> None:
    """The hook runs on every verification, including cache hits, and can reject a cached token."""
    calls: list[str] = []
    revoked: set[str] = set()

    def check(header: Mapping[str, Any], claims: Mapping[str, Any], key: VerificationKey) -> None:
        calls.append(claims["jti"])
        if claims["jti"] in revoked:
            raise ValueError("revoked")

    keys = CountingKeys(keypair("ES256"))
    verifier = make(jwks=keys, check=check)
    token = sign(jti="t-1")
    verifier.verify(token)
    verifier.verify(token)  # the second verification caches the token
    verifier.verify(token)
    assert keys.lookups == 2  # the third call was a cache hit
    assert calls == ["t-1", "t-1", "t-1"]
    revoked.add("t-1")
    assert rejected(verifier, token) is Reason.INVALID_CLAIMS
    assert keys.lookups == 2


# --- verified-token cache ----------------------------------------------------------------


def test_cache_hit_skips_signature_check() -> None:
    """A repeated token is served from the cache: no key lookup, no signature check."""
    pair = keypair("ES256")
    keys = CountingKeys(pair)
    verifier = make(jwks=keys)
    token = sign(pair)
    verifier.verify(token)
    verifier.verify(token)  # cached from the second verification
    keys.swap(KeyPair.generate("ES256", kid="k1"))  # same kid, different key, same generation
    assert verifier.verify(token)["sub"] == "alice"  # still a hit: the signature was not re-checked
    assert keys.lookups == 2
    keys.generation += 1  # now the key set has changed: the cache is bypassed
    assert rejected(verifier, token) is Reason.INVALID_SIGNATURE
    assert keys.lookups == 3


def test_cache_returns_fresh_dicts() -> None:
    """Mutating returned claims (even nested values) does not change the next result."""
    verifier = make()
    token = sign(roles=["user"], ctx={"tenant": "acme"})
    first = verifier.verify(token)
    first["sub"] = "mallory"
    first["roles"].append("admin")
    first["ctx"]["tenant"] = "evil"
    second = verifier.verify(token)
    assert second["sub"] == "alice"
    assert second["roles"] == ["user"]
    assert second["ctx"] == {"tenant": "acme"}
    second["roles"].append("admin")
    assert verifier.verify(token)["roles"] == ["user"]


def test_cache_entry_expires_with_token() -> None:
    """A cached token whose exp passed is token_expired on the hit path (no key lookup)."""
    clock = FakeClock()
    keys = CountingKeys(keypair("ES256"))
    verifier = make(jwks=keys, clock=clock, leeway=10)
    token = sign(exp=NOW + 60)
    verifier.verify(token)
    verifier.verify(token)
    clock.advance(69)  # exp + leeway not reached: still a hit
    assert verifier.verify(token)["exp"] == NOW + 60
    clock.advance(1)
    assert rejected(verifier, token) is Reason.TOKEN_EXPIRED
    assert keys.lookups == 2
    assert rejected(verifier, token) is Reason.TOKEN_EXPIRED


def test_cache_entry_max_age() -> None:
    """After cache_max_age seconds an entry is dropped and the token fully re-verified."""
    clock = FakeClock()
    keys = CountingKeys(keypair("ES256"))
    verifier = make(jwks=keys, clock=clock, cache_max_age=30)
    token = sign(exp=NOW + 3600)
    verifier.verify(token)
    verifier.verify(token)
    clock.advance(29)
    verifier.verify(token)
    assert keys.lookups == 2
    clock.advance(1)  # exactly cache_max_age: an entry serves for less than that
    verifier.verify(token)  # dropped, fully verified, and cached again at once
    assert keys.lookups == 3
    verifier.verify(token)
    assert keys.lookups == 3


def test_cache_is_bounded() -> None:
    """With cache_size=3 the oldest entries are evicted; recent ones stay hits."""
    keys = CountingKeys(keypair("ES256"))
    verifier = make(jwks=keys, cache_size=3)
    tokens = [sign(jti=str(i)) for i in range(5)]
    for token in tokens:
        verifier.verify(token)
        verifier.verify(token)  # cached from the second verification
    assert keys.lookups == 10
    for token in tokens[3:]:
        verifier.verify(token)
    assert keys.lookups == 10  # the newest are hits
    verifier.verify(tokens[0])
    assert keys.lookups == 11  # evicted, verified again


def test_cache_bypassed_on_generation_change() -> None:
    """A key-set change (new generation) forces full verification, then caching resumes."""
    keys = CountingKeys(keypair("ES256"))
    verifier = make(jwks=keys)
    token = sign()
    verifier.verify(token)
    verifier.verify(token)
    verifier.verify(token)
    assert keys.lookups == 2
    keys.generation = 7
    verifier.verify(token)
    assert keys.lookups == 3
    verifier.verify(token)
    assert keys.lookups == 3


def test_a_token_is_cached_from_its_second_verification() -> None:
    """A token verified once takes no cache entry; the second verification caches it."""
    keys = CountingKeys(keypair("ES256"))
    verifier = make(jwks=keys)
    token = sign()
    verifier.verify(token)
    assert not verifier.revalidate(token)
    verifier.verify(token)
    assert keys.lookups == 2
    assert verifier.revalidate(token)
    verifier.verify(token)
    assert keys.lookups == 2


def test_a_flood_of_distinct_tokens_leaves_the_cached_ones_in_place() -> None:
    """Tokens seen once never push out a cached token (a flood of distinct valid tokens
    would otherwise evict every returning caller's entry)."""
    keys = CountingKeys(keypair("ES256"))
    verifier = make(jwks=keys, cache_size=4)
    hot = sign(jti="hot")
    verifier.verify(hot)
    verifier.verify(hot)
    for i in range(20):
        verifier.verify(sign(jti=f"once-{i}"))
    before = keys.lookups
    assert verifier.verify(hot)["jti"] == "hot"
    assert keys.lookups == before  # still a hit


def test_cache_size_zero_disables_cache() -> None:
    """cache_size=0: every call looks up keys and verifies the signature."""
    keys = CountingKeys(keypair("ES256"))
    verifier = make(jwks=keys, cache_size=0)
    token = sign()
    for _ in range(3):
        verifier.verify(token)
    assert keys.lookups == 3


def test_rejected_tokens_are_not_cached() -> None:
    """A token that failed any check is checked in full each time."""
    keys = CountingKeys(keypair("ES256"))
    verifier = make(jwks=keys)
    token = sign(aud="someone-else")
    for _ in range(2):
        assert rejected(verifier, token) is Reason.INVALID_AUDIENCE
    assert keys.lookups == 2


def test_clear_cache() -> None:
    """clear_cache() forgets verified tokens."""
    keys = CountingKeys(keypair("ES256"))
    verifier = make(jwks=keys)
    token = sign()
    verifier.verify(token)
    verifier.clear_cache()
    verifier.verify(token)
    assert keys.lookups == 2


# --- Cognito -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pool", "issuer"),
    [
        ("us-east-1_AbC123", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123"),
        ("cn-north-1_Xyz9", "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_Xyz9"),
        (
            "us-gov-west-1_Q1w2",
            "https://cognito-idp.us-gov-west-1.amazonaws.com/us-gov-west-1_Q1w2",
        ),
        ("ap-southeast-2_z", "https://cognito-idp.ap-southeast-2.amazonaws.com/ap-southeast-2_z"),
    ],
)
def test_cognito_issuer(pool: str, issuer: str) -> None:
    """The issuer and JWKS URL follow the pool's region and partition."""
    verifier = JwtVerifier.cognito(user_pool_id=pool, client_id="app", token_use="id")
    assert verifier.issuer == issuer
    assert verifier.keys.url == f"{issuer}/.well-known/jwks.json"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "pool",
    [
        "us-east-1",
        "us-east-1_",
        "US-EAST-1_abc",
        "useast1_abc",
        "us-east-1_abc/../x",
        "us-east-1_abc\n",
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc",
        "",
        123,
        None,
    ],
)
def test_cognito_bad_pool_id(pool: object) -> None:
    """A malformed user pool id fails at construction with an example of a good one."""
    with pytest.raises(ConfigurationError) as exc:
        JwtVerifier.cognito(user_pool_id=pool, client_id="app", token_use="id")  # type: ignore[arg-type]
    assert "us-east-1_AbC123" in str(exc.value)


def test_cognito_bad_token_use_and_conflicting_expected_claims() -> None:
    """token_use must be id or access and cannot be overridden through expected_claims."""
    with pytest.raises(ConfigurationError) as exc:
        JwtVerifier.cognito(user_pool_id="us-east-1_A", client_id="app", token_use="refresh")  # type: ignore[arg-type]
    assert "'id' or 'access'" in str(exc.value)
    with pytest.raises(ConfigurationError) as exc:
        JwtVerifier.cognito(
            user_pool_id="us-east-1_A",
            client_id="app",
            token_use="access",
            expected_claims={"token_use": "id"},
        )
    assert "token_use" in str(exc.value)


COGNITO_POOL = "eu-west-1_Pool1"
COGNITO_ISS = f"https://cognito-idp.eu-west-1.amazonaws.com/{COGNITO_POOL}"


def cognito(token_use: str, **options: Any) -> JwtVerifier:
    pair = keypair("RS256", "cognito-1")
    return JwtVerifier.cognito(
        user_pool_id=COGNITO_POOL,
        client_id="app-client",
        token_use=token_use,  # type: ignore[arg-type]
        jwks={"keys": [pair.public_jwk]},
        clock=FakeClock(),
        **options,
    )


def cognito_token(**claims_: Any) -> str:
    body = {"iss": COGNITO_ISS, "sub": "u-1", "iat": NOW, "exp": NOW + 3600}
    body.update(claims_)
    return keypair("RS256", "cognito-1").sign({k: v for k, v in body.items() if v is not None})


def test_cognito_id_token() -> None:
    """ID tokens: aud must be the client id and token_use must be "id"."""
    verifier = cognito("id")
    good = cognito_token(aud="app-client", token_use="id", email="a@example.com")
    assert verifier.verify(good)["email"] == "a@example.com"
    assert rejected(verifier, cognito_token(aud="other", token_use="id")) is Reason.INVALID_AUDIENCE
    assert rejected(verifier, cognito_token(aud="app-client", token_use="access")) is (
        Reason.INVALID_CLAIMS
    )
    assert rejected(verifier, cognito_token(aud="app-client")) is Reason.INVALID_CLAIMS
    other_pool = cognito_token(
        aud="app-client", token_use="id", iss=COGNITO_ISS.replace("Pool1", "Pool2")
    )
    assert rejected(verifier, other_pool) is Reason.INVALID_ISSUER


def test_cognito_access_token() -> None:
    """Access tokens: the client_id claim must match (they carry no aud), token_use "access"."""
    verifier = cognito("access")
    good = cognito_token(client_id="app-client", token_use="access", scope="orders/read")
    assert verifier.verify(good)["scope"] == "orders/read"
    assert rejected(verifier, cognito_token(client_id="other", token_use="access")) is (
        Reason.INVALID_AUDIENCE
    )
    # An id token has the client in aud, not client_id: it is not an access token.
    assert rejected(verifier, cognito_token(aud="app-client", token_use="access")) is (
        Reason.INVALID_AUDIENCE
    )
    assert rejected(verifier, cognito_token(client_id="app-client", token_use="id")) is (
        Reason.INVALID_CLAIMS
    )
    assert rejected(verifier, cognito_token(client_id="app-client", token_use=["access"])) is (
        Reason.INVALID_CLAIMS
    )


def test_cognito_extra_options() -> None:
    """Extra expected_claims and other options pass through to the verifier."""
    verifier = cognito("access", expected_claims={"custom:tier": "gold"}, token_type=None)
    token = cognito_token(client_id="app-client", token_use="access", **{"custom:tier": "gold"})
    assert verifier.verify(token)["custom:tier"] == "gold"
    silver = cognito_token(client_id="app-client", token_use="access", **{"custom:tier": "silver"})
    assert rejected(verifier, silver) is Reason.INVALID_CLAIMS


# --- multi-issuer --------------------------------------------------------------------------


def _multi(same_kid: bool = False) -> tuple[Any, KeyPair, KeyPair]:
    a = keypair("ES256", "shared" if same_kid else "a")
    b = keypair("EdDSA", "shared" if same_kid else "b")
    multi = JwtVerifier.multi(
        make(a, issuer="https://a.example/", audience="api-a"),
        make(b, issuer="https://b.example/", audience="api-b"),
    )
    return multi, a, b


def test_multi_routes_by_issuer() -> None:
    """Each token is checked by the verifier of its own iss, with that verifier's policy."""
    multi, a, b = _multi()
    assert (
        multi.verify(sign(a, iss="https://a.example/", aud="api-a"))["iss"] == "https://a.example/"
    )
    assert (
        multi.verify(sign(b, iss="https://b.example/", aud="api-b"))["iss"] == "https://b.example/"
    )
    with pytest.raises(SecAuthError) as exc:
        multi.verify(sign(a, iss="https://a.example/", aud="api-b"))
    assert exc.value.reason is Reason.INVALID_AUDIENCE
    token = sign(b, iss="https://b.example/", aud="api-b")
    assert asyncio.run(multi.verify_async(token))["iss"] == "https://b.example/"


def test_multi_revalidate_asks_the_verifier_that_cached_the_token() -> None:
    """revalidate is True once the token's own verifier has cached it; False before that,
    for a token no verifier cached, and for a non-string."""
    multi, a, b = _multi()
    token = sign(b, iss="https://b.example/", aud="api-b")
    assert not multi.revalidate(token)
    multi.verify(token)
    multi.verify(token)
    assert multi.revalidate(token)
    assert multi.verifiers["https://b.example/"].revalidate(token)
    assert not multi.verifiers["https://a.example/"].revalidate(token)
    assert not multi.revalidate(sign(a, iss="https://a.example/", aud="api-a"))
    assert not multi.revalidate(7)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "iss", ["https://c.example/", "https://a.example", None, ["https://a.example/"], 7]
)
def test_multi_unknown_issuer(iss: object) -> None:
    """An iss no verifier is configured for is invalid_issuer."""
    multi, a, _ = _multi()
    token = sign(a, iss=iss, aud="api-a") if iss is not None else sign(a, iss=None, aud="api-a")
    with pytest.raises(SecAuthError) as exc:
        multi.verify(token)
    assert exc.value.reason is Reason.INVALID_ISSUER


@pytest.mark.parametrize(
    ("same_kid", "reason"), [(False, Reason.UNKNOWN_KEY), (True, Reason.INVALID_SIGNATURE)]
)
def test_multi_forged_issuer(same_kid: bool, reason: Reason) -> None:
    """Claiming issuer A's iss with issuer B's key fails: unknown kid, or a bad signature."""
    multi, _, b = _multi(same_kid)
    with pytest.raises(SecAuthError) as exc:
        multi.verify(sign(b, iss="https://a.example/", aud="api-a"))
    assert exc.value.reason is reason
    with pytest.raises(SecAuthError) as exc:
        asyncio.run(multi.verify_async(sign(b, iss="https://a.example/", aud="api-a")))
    assert exc.value.reason is reason


def test_multi_bad_tokens() -> None:
    """An empty token is missing_token; junk is malformed_token."""
    multi, _, _ = _multi()
    for token, reason in [
        ("", Reason.MISSING_TOKEN),
        ("abc", Reason.MALFORMED_TOKEN),
        ("a.b.c", Reason.MALFORMED_TOKEN),
    ]:
        with pytest.raises(SecAuthError) as exc:
            multi.verify(token)
        assert exc.value.reason is reason


def test_multi_configuration() -> None:
    """Each verifier needs a distinct issuer, and at least one verifier is needed."""
    pair = keypair("ES256")
    with pytest.raises(ConfigurationError, match="needs an issuer"):
        JwtVerifier.multi(make(pair, issuer=None))
    with pytest.raises(ConfigurationError, match="given twice"):
        JwtVerifier.multi(make(pair), make(pair))
    with pytest.raises(ConfigurationError, match="at least one"):
        JwtVerifier.multi()


# --- configuration errors --------------------------------------------------------------------


ES_JWKS = {"keys": [KeyPair.generate("ES256", kid="c").public_jwk]}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "give exactly one key source (jwks_uri, jwks or secret); got none"),
        (
            {"jwks": ES_JWKS, "jwks_uri": "https://idp.example.com/jwks"},
            "give exactly one key source",
        ),
        ({"jwks": ES_JWKS, "algorithms": "RS256"}, "must be a list such as ['RS256']"),
        (
            {"jwks": ES_JWKS, "algorithms": ["RS257"]},
            "unsupported algorithms ['RS257']; choose from",
        ),
        ({"jwks": ES_JWKS, "algorithms": ["none"]}, "unsupported algorithms ['none']"),
        ({"jwks": ES_JWKS, "algorithms": []}, "choose from"),
        ({"jwks": ES_JWKS, "algorithms": ["HS256"]}, "HMAC algorithms need secret="),
        ({"secret": b"s" * 32}, "name the HMAC algorithm: algorithms=['HS256']"),
        ({"secret": b"s" * 32, "algorithms": ["HS256", "RS256"]}, "do not mix"),
        ({"secret": bytes(range(31)), "algorithms": ["HS256"]}, "at least 32 bytes"),
        ({"secret": bytes(range(40)), "algorithms": ["HS384"]}, "at least 48 bytes"),
        ({"jwks": ES_JWKS, "audience": ""}, "audience must be a non-empty string"),
        ({"jwks": ES_JWKS, "audience": []}, "or None to skip the check"),
        ({"jwks": ES_JWKS, "audience": ["ok", ""]}, "audience must be a non-empty string"),
        ({"jwks": ES_JWKS, "audience": 5}, "audience must be"),
        ({"jwks": ES_JWKS, "issuer": ""}, "issuer must be the exact iss string, or None"),
        ({"jwks": ES_JWKS, "issuer": 5}, "issuer must be"),
        ({"jwks": ES_JWKS, "token_type": ""}, "token_type must be a non-empty string"),
        ({"jwks": ES_JWKS, "leeway": -1}, "leeway must be 0..300 s"),
        ({"jwks": ES_JWKS, "leeway": 301}, "leeway must be 0..300 s"),
        ({"jwks": ES_JWKS, "max_future_iat": 4000}, "max_future_iat 0..3600 s"),
        ({"jwks": ES_JWKS, "check": 42}, "check must be a callable"),
        ({"jwks": ES_JWKS, "max_token_size": 10}, "max_token_size must be between"),
        ({"jwks": ES_JWKS, "cache_size": -1}, "must not be negative"),
        ({"jwks": 42}, "jwks must be a JWKS dict or a KeySource"),
        ({"jwks": {"keys": []}}, "no usable signing key"),
        ({"jwks_uri": "http://idp.example.com/jwks"}, "must use https"),
        ({"jwks_uri": "http://idp.example.com/jwks", "allow_http": True}, "only to loopback"),
    ],
)
def test_configuration_errors(options: dict[str, Any], message: str) -> None:
    """Bad configuration fails at construction with a message saying what to change."""
    options.setdefault("issuer", ISS)
    options.setdefault("audience", AUD)
    with pytest.raises(ConfigurationError) as exc:
        JwtVerifier(**options)
    assert exc.value.reason is Reason.CONFIGURATION_ERROR
    assert message in str(exc.value)


# --- algorithms ---------------------------------------------------------------------------

ASYMMETRIC_CASES = [
    ("RS256", "RS256", True),
    ("RS384", "RS384", True),
    ("RS512", "RS512", True),
    ("PS256", "PS256", True),
    ("PS384", "PS384", True),
    ("PS512", "PS512", True),
    ("ES256", "ES256", True),
    ("ES384", "ES384", True),
    ("ES512", "ES512", True),
    ("EdDSA", "EdDSA", True),  # Ed25519 key, alg EdDSA
    ("Ed25519", "Ed25519", True),  # fully specified name (RFC 9864)
    ("EdDSA", "Ed448", False),  # Ed448 key, alg EdDSA (JWK without alg)
    ("Ed448", "Ed448", True),
]


def _tampered(token: str) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{encode_segment(claims(sub='mallory'))}.{signature}"


@pytest.mark.parametrize(("alg", "key_alg", "include_alg"), ASYMMETRIC_CASES)
def test_asymmetric_round_trip(alg: str, key_alg: str, include_alg: bool) -> None:
    """Every asymmetric algorithm verifies its own signature and rejects a changed payload."""
    pair = keypair(key_alg, "k1", include_alg)
    verifier = make(pair)
    token = pair.sign(claims(), alg=alg)
    assert verifier.verify(token)["sub"] == "alice"
    assert asyncio.run(verifier.verify_async(token))["sub"] == "alice"
    assert rejected(verifier, _tampered(token)) is Reason.INVALID_SIGNATURE


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_round_trip(alg: str) -> None:
    """HMAC verifies with secret= and the algorithm named; a changed payload is rejected."""
    pair = keypair(alg)
    assert isinstance(pair.private_key, bytes)
    verifier = make(jwks=None, secret=pair.private_key, algorithms=[alg])
    token = pair.sign(claims())
    assert verifier.verify(token)["sub"] == "alice"
    assert asyncio.run(verifier.verify_async(token))["sub"] == "alice"
    assert rejected(verifier, _tampered(token)) is Reason.INVALID_SIGNATURE
    wrong = KeyPair.generate(alg, kid="k1")
    assert rejected(verifier, wrong.sign(claims())) is Reason.INVALID_SIGNATURE


def test_algorithm_allow_list_and_binding() -> None:
    """An algorithm outside ``algorithms`` or not bound to the key is invalid_signature."""
    rsa = keypair("RS256")
    only_es = make(rsa, algorithms=["ES256"])
    assert rejected(only_es, rsa.sign(claims())) is Reason.INVALID_SIGNATURE
    verifier = make(rsa)  # the JWK says RS256: a PS256 signature by the same key is refused
    assert rejected(verifier, rsa.sign(claims(), alg="PS256")) is Reason.INVALID_SIGNATURE
    hs = keypair("HS256")
    assert rejected(verifier, hs.sign(claims())) is Reason.INVALID_SIGNATURE


# --- verify_async parity ---------------------------------------------------------------------


def _outcome(call: Callable[[], Any]) -> object:
    try:
        return call()
    except SecAuthError as exc:
        return exc.reason


def test_verify_async_parity() -> None:
    """verify and verify_async agree on claims and reasons, cold and on cache hits."""
    pair = keypair("ES256")
    stranger = KeyPair.generate("ES256", kid="k1")
    cases: list[tuple[str, object]] = [
        (sign(flag="x"), "alice"),
        (sign(flag="x", exp=NOW - 1), Reason.TOKEN_EXPIRED),
        (sign(flag="x", nbf=NOW + 100), Reason.TOKEN_NOT_YET_VALID),
        (sign(flag="x", aud="other"), Reason.INVALID_AUDIENCE),
        (sign(flag="x", iss="https://other/"), Reason.INVALID_ISSUER),
        (sign(flag="y"), Reason.INVALID_CLAIMS),
        (sign(), Reason.INVALID_CLAIMS),
        (sign(flag="x", headers={"kid": "unknown"}), Reason.UNKNOWN_KEY),
        (sign(stranger, flag="x"), Reason.INVALID_SIGNATURE),
        (pair.sign(claims(flag="x"), headers={"jku": "https://evil/"}), Reason.MALFORMED_TOKEN),
        ("", Reason.MISSING_TOKEN),
        ("abc", Reason.MALFORMED_TOKEN),
    ]
    sync_v = make(pair, expected_claims={"flag": "x"}, required_claims=("flag",))
    async_v = make(pair, expected_claims={"flag": "x"}, required_claims=("flag",))
    for _ in range(2):  # the second round hits the cache for the good token
        for token, expected in cases:
            sync = _outcome(lambda t=token: sync_v.verify(t)["sub"])
            asynchronous = _outcome(lambda t=token: asyncio.run(async_v.verify_async(t))["sub"])
            assert sync == asynchronous == expected
