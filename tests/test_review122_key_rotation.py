"""Review 122: signing-key rotation and key-set changes, end to end (commit e5fdc03).

Resolved (the test asserts it): the low below. ``JwksCache`` reads the discovery document
again on every fetch, so a moved ``jwks_uri`` is followed at the next refresh; docs/verifier.md
says so, and asks for a new ``kid`` for new key material (the note below).

Attacked, with real ``LocalIssuer`` servers on loopback and hand-moved clocks: the documented
rotation flow (publish, overlap, remove) with tokens held in the verified-token cache, the
Authorizer's response memo and ``revalidate`` (what the Guard's principal memo trusts); a new
kid arriving inside the TTL and after a random-kid flood (``refetch_cooldown``); a kid reused
with different key material; a key removed and re-added; duplicate kids; a kid whose ``use``
turns to ``enc`` or whose ``alg`` changes; ``respect_cache_control`` with ``max-age=0`` and a
huge one; JWKS fetches failing during rotation (stale-if-error up to ``max_age``); two issuers
of a multi-issuer verifier sharing a kid; one key source shared by Cognito's two issuer
formats; a discovery document whose ``jwks_uri`` changes.

What held:

* ``KeySet.fingerprint`` covers every JWK member, so a material-only change under an unchanged
  kid (and an ``alg``/``use`` change) bumps the generation; cached tokens and memo entries made
  under the old set are re-verified and refused.
* The generation is a counter, so a key removed and re-added never resurrects old entries.
* Cache entries never outlive the set's freshness, so stale-if-error keeps no cached token
  alive; a removed key stops at ``max_age`` when the IdP is down, at the next refresh otherwise.
* A random-kid flood costs one fetch; a legitimate new kid waits at most ``refetch_cooldown``
  (documented in jwks.md and operations.md).
* Duplicate kids (two materials, one alg) are refused whole; ``use: enc`` keys never verify.
* ``max-age=0`` is clamped up to ``min_ttl``; a huge ``max-age`` down to ``max_age``.
* Multi-issuer: a kid shared by two issuers resolves in the token's issuer's set only.

Findings:

* LOW: ``JwksCache`` resolves the discovery document's ``jwks_uri`` once per instance and never
  again (``JwksCache._jwks_url``): when the IdP moves its JWKS, the container keeps fetching the
  old URL for its lifetime: keys served only there stay trusted, keys published at the new URL
  never arrive (and if the old URL dies, stale-if-error ends in ``keys_unavailable`` at
  ``max_age`` until a cold start). Undocumented.

Not a finding, noted: a kid reused for new material is not an unknown kid, so tokens of the new
material fail ``invalid_signature`` until the TTL refresh (no refetch on a bad signature; a
refetch there would be an amplification lever). RFC 7517 asks for distinct kids.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from discovery_server import DiscoveryServer
from hand_clock import Clock

from secauth import Authorizer, JwtVerifier
from secauth.access import Routes, authenticated
from secauth.cognito import CognitoVerifier, cognito_issuer
from secauth.errors import InvalidSignature, KeysUnavailable, SecAuthError, UnknownKey
from secauth.jwks import JwksCache
from secauth.testing import KeyPair, LocalIssuer
from secauth.testing_events import token_authorizer

AUD = "api"
T0 = 1000.0
EXP = 10_000_000
ROUTES = Routes({"GET /orders/{id}": authenticated()})


@pytest.fixture
def idp() -> Iterator[LocalIssuer]:
    with LocalIssuer(algs=("ES256",)) as issuer:
        yield issuer


def _cache(url: str, clock: Clock, **options: Any) -> JwksCache:
    return JwksCache(url, allow_http=True, clock=clock, **options)


def _verifier(idp: LocalIssuer, cache: JwksCache, clock: Clock) -> JwtVerifier:
    return JwtVerifier(issuer=idp.issuer, audience=AUD, jwks=cache, clock=clock, cache_size=64)


def _token(idp: LocalIssuer, key: KeyPair | None = None, **claims: Any) -> str:
    return idp.token(key=key, aud=AUD, iat=int(T0), exp=EXP, **claims)


def _warm(verifier: JwtVerifier, token: str) -> None:
    verifier.verify(token)
    verifier.verify(token)
    assert verifier.revalidate(token)


def _refused(verifier: JwtVerifier, token: str) -> bool:
    try:
        verifier.verify(token)
    except SecAuthError:
        return True
    return False


def _replace_material(idp: LocalIssuer, kid: str) -> KeyPair:
    """The IdP publishes new key material under an old kid (kid reuse)."""
    fresh = KeyPair.generate("ES256", kid=kid)
    idp.keys = [fresh if k.kid == kid else k for k in idp.keys]
    return fresh


# -- kid reuse with different key material -------------------------------------------------


def test_material_only_change_bumps_the_generation(idp: LocalIssuer) -> None:
    clock = Clock(T0)
    cache = _cache(idp.jwks_uri, clock)
    assert cache.hydrate()
    first = cache.generation
    assert cache.hydrate()
    assert cache.generation == first  # same document: no change
    _replace_material(idp, idp.key.kid)
    assert cache.hydrate()
    assert cache.generation == first + 1


def test_kid_reuse_drops_cached_tokens_and_the_authorizer_memo(idp: LocalIssuer) -> None:
    """Old material under a reused kid: refused from the moment the set changes (here by an
    unknown-kid refetch mid-TTL), cache hits and memo hits included."""
    clock = Clock(T0)
    cache = _cache(idp.jwks_uri, clock, ttl=600, refetch_cooldown=30)
    verifier = _verifier(idp, cache, clock)
    authorizer = Authorizer(verifier, routes=ROUTES, decision_log=None)
    old = idp.key
    token = _token(idp, sub="ann")
    event = token_authorizer("GET", "/orders/7", token=token)

    def allowed() -> bool:
        try:
            answer = authorizer.handler(dict(event), None)
        except Exception:  # Unauthorized
            return False
        return answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"

    for _ in range(3):
        assert allowed()
    assert verifier.revalidate(token)
    new = _replace_material(idp, old.kid)
    newcomer = idp.rotate()  # a new kid: the first token naming it refetches mid-TTL
    clock.now += 31
    assert verifier.verify(_token(idp, key=newcomer))["aud"] == AUD
    assert not verifier.revalidate(token)
    assert not allowed()
    with pytest.raises(InvalidSignature):
        verifier.verify(token)
    assert verifier.verify(_token(idp, key=new, sub="n"))["sub"] == "n"


def test_kid_reuse_is_picked_up_at_the_ttl_refresh(idp: LocalIssuer) -> None:
    clock = Clock(T0)
    cache = _cache(idp.jwks_uri, clock, ttl=600)
    verifier = _verifier(idp, cache, clock)
    token = _token(idp)
    _warm(verifier, token)
    new = _replace_material(idp, idp.key.kid)
    clock.now += 599
    assert verifier.verify(token)  # documented: the old set serves until its ttl
    with pytest.raises(InvalidSignature):  # not an unknown kid: no refetch (noted, not a finding)
        verifier.verify(_token(idp, key=new))
    clock.now += 1
    with pytest.raises(InvalidSignature):
        verifier.verify(token)
    assert verifier.verify(_token(idp, key=new, sub="n"))["sub"] == "n"


# -- removed, re-added, duplicated, re-purposed keys ---------------------------------------


def test_removed_then_readded_key_never_resurrects_old_entries(idp: LocalIssuer) -> None:
    clock = Clock(T0)
    cache = _cache(idp.jwks_uri, clock, refetch_cooldown=0)
    verifier = _verifier(idp, cache, clock)
    old = idp.key
    keep = idp.rotate()
    token = _token(idp, key=old)
    _warm(verifier, token)
    generations = [cache.generation]
    idp.keys = [keep]
    with pytest.raises(UnknownKey):
        verifier.verify(_token(idp, headers={"kid": "probe-1"}))  # refetch: old is gone
    generations.append(cache.generation)
    assert not verifier.revalidate(token)
    with pytest.raises(UnknownKey):
        verifier.verify(token)
    idp.keys = [old, keep]
    with pytest.raises(UnknownKey):
        verifier.verify(_token(idp, headers={"kid": "probe-2"}))  # refetch: old is back
    generations.append(cache.generation)
    assert generations == sorted(set(generations))  # strictly increasing, never reused
    assert not verifier.revalidate(token)  # the entry made under the first set is gone
    assert verifier.verify(token)["aud"] == AUD  # re-verified afresh against the new set


def test_duplicate_kid_appearing_mid_ttl_drops_cached_tokens(idp: LocalIssuer) -> None:
    clock = Clock(T0)
    cache = _cache(idp.jwks_uri, clock, refetch_cooldown=30)
    verifier = _verifier(idp, cache, clock)
    real = idp.key
    token = _token(idp, key=real)
    _warm(verifier, token)
    injected = KeyPair.generate("ES256", kid=real.kid)
    idp.jwks_override = {"keys": [real.public_jwk, injected.public_jwk]}
    clock.now += 31
    with pytest.raises(UnknownKey):
        verifier.verify(_token(idp, headers={"kid": "new"}))
    for candidate in (token, _token(idp, key=injected)):
        with pytest.raises(UnknownKey):
            verifier.verify(candidate)


def test_a_kid_turned_to_enc_stops_verifying_even_from_the_cache(idp: LocalIssuer) -> None:
    clock = Clock(T0)
    cache = _cache(idp.jwks_uri, clock, refetch_cooldown=30)
    verifier = _verifier(idp, cache, clock)
    token = _token(idp)
    _warm(verifier, token)
    idp.jwks_override = {"keys": [{**idp.key.public_jwk, "use": "enc"}]}
    clock.now += 31
    with pytest.raises(UnknownKey):
        verifier.verify(_token(idp, headers={"kid": "new"}))
    assert not verifier.revalidate(token)
    with pytest.raises(UnknownKey):
        verifier.verify(token)


def test_a_kid_whose_alg_changes_refuses_the_old_alg_even_from_the_cache(
    idp: LocalIssuer,
) -> None:
    clock = Clock(T0)
    cache = _cache(idp.jwks_uri, clock, refetch_cooldown=30)
    verifier = JwtVerifier(issuer=idp.issuer, audience=AUD, jwks=cache, clock=clock,
                           algorithms=["ES256", "ES384"], cache_size=64)  # fmt: skip
    token = _token(idp)
    _warm(verifier, token)
    # The same P-256 material now declared ES384: it no longer imports, so the kid is gone.
    idp.jwks_override = {"keys": [{**idp.key.public_jwk, "alg": "ES384"}]}
    clock.now += 31
    with pytest.raises(UnknownKey):
        verifier.verify(_token(idp, headers={"kid": "new"}))
    assert not verifier.revalidate(token)
    assert _refused(verifier, token)


# -- unknown kids and the refetch cooldown -------------------------------------------------


def test_random_kid_flood_delays_a_new_kid_by_at_most_the_cooldown(idp: LocalIssuer) -> None:
    clock = Clock(T0)
    cache = _cache(idp.jwks_uri, clock, refetch_cooldown=30, ttl=600)
    verifier = _verifier(idp, cache, clock)
    assert cache.hydrate()
    clock.now += 31
    for i in range(200):
        with pytest.raises(UnknownKey):
            verifier.verify(_token(idp, headers={"kid": f"random-{i}"}))
    assert idp.fetches == 2  # hydrate + one refetch for the whole flood
    flood_at = clock.now
    new = idp.rotate()  # published right after the flood's refetch, used at once
    clock.now = flood_at + 29.9
    with pytest.raises(UnknownKey):  # documented: locked out until the cooldown ends
        verifier.verify(_token(idp, key=new))
    clock.now = flood_at + 30
    assert verifier.verify(_token(idp, key=new, sub="n"))["sub"] == "n"
    assert idp.fetches == 3


# -- failures during rotation (stale-if-error) ---------------------------------------------


def test_stale_if_error_keeps_a_removed_key_no_longer_than_max_age(idp: LocalIssuer) -> None:
    clock = Clock(T0)
    cache = _cache(idp.jwks_uri, clock, ttl=600, max_age=3600)
    verifier = _verifier(idp, cache, clock)
    old = idp.key
    token = _token(idp, key=old)
    _warm(verifier, token)
    idp.rotate()
    idp.remove(old.kid)
    idp.mode = "error"  # the IdP goes down before we saw the removal
    clock.now = T0 + 700
    assert verifier.verify(token)  # documented: stale-if-error
    verifier.verify(token)
    assert not verifier.revalidate(token)  # never cached while stale
    clock.now = T0 + 3599
    assert verifier.verify(token)
    clock.now = T0 + 3600
    with pytest.raises(KeysUnavailable):
        verifier.verify(token)


def test_a_removal_seen_once_survives_a_later_outage(idp: LocalIssuer) -> None:
    clock = Clock(T0)
    cache = _cache(idp.jwks_uri, clock, ttl=600, max_age=3600)
    verifier = _verifier(idp, cache, clock)
    old = idp.key
    new = idp.rotate()
    token = _token(idp, key=old)
    _warm(verifier, token)
    idp.remove(old.kid)
    clock.now = T0 + 600
    assert verifier.verify(_token(idp, key=new))  # refresh: the removal is seen
    idp.mode = "error"
    clock.now = T0 + 1300  # the next refresh fails: the last good set (without old) serves
    with pytest.raises((UnknownKey, KeysUnavailable)):
        verifier.verify(token)
    assert verifier.verify(_token(idp, key=new, sub="n"))["sub"] == "n"


# -- Cache-Control --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "fresh"), [("max-age=0", 60.0), ("max-age=99999999999999", 7200.0)]
)
def test_cache_control_is_clamped_and_bounds_a_removed_keys_life(
    idp: LocalIssuer, header: str, fresh: float
) -> None:
    clock = Clock(T0)
    idp.cache_control = header
    cache = _cache(idp.jwks_uri, clock, ttl=600, max_age=7200, respect_cache_control=True)
    verifier = _verifier(idp, cache, clock)
    old = idp.key
    idp.rotate()
    token = _token(idp, key=old)
    _warm(verifier, token)
    assert cache.fresh_for == pytest.approx(fresh, abs=1.0)  # the wall clock ticks on
    idp.remove(old.kid)
    clock.now = T0 + fresh - 0.5
    assert verifier.verify(token)
    clock.now = T0 + fresh
    with pytest.raises(UnknownKey):
        verifier.verify(token)


# -- several issuers -------------------------------------------------------------------------


def test_two_issuers_sharing_a_kid_never_cross_verify() -> None:
    clock = Clock(T0)
    with LocalIssuer(algs=("ES256",)) as a, LocalIssuer(algs=("ES256",)) as b:
        assert a.key.kid == b.key.kid  # both start at key-1
        caches = {i.issuer: _cache(i.jwks_uri, clock, refetch_cooldown=0) for i in (a, b)}
        multi = JwtVerifier.multi(*(_verifier(i, caches[i.issuer], clock) for i in (a, b)))
        good = _token(a)
        for _ in range(2):
            assert multi.verify(good)["iss"] == a.issuer
        forged = a.key.sign({"iss": b.issuer, "aud": AUD, "iat": T0, "exp": EXP})
        with pytest.raises(InvalidSignature):
            multi.verify(forged)
        # a rotates key-1's material: a's cached token goes, b is untouched
        generation_b = caches[b.issuer].generation
        _replace_material(a, a.key.kid)
        with pytest.raises(UnknownKey):
            multi.verify(_token(a, headers={"kid": "probe"}))
        assert caches[b.issuer].generation == generation_b
        assert not multi.revalidate(good)
        with pytest.raises(InvalidSignature):
            multi.verify(good)


def test_cognito_issuer_formats_sharing_one_key_source_drop_a_removed_key(
    idp: LocalIssuer,
) -> None:
    clock = Clock(T0)
    cache = _cache(idp.jwks_uri, clock, refetch_cooldown=0)
    pool = "eu-west-1_AbC123"
    cognito = CognitoVerifier(user_pool_id=pool, client_id="app", token_use="id", jwks=cache,
                              clock=clock, cache_size=64)  # fmt: skip
    old = idp.key
    keep = idp.rotate()

    def signed(key: KeyPair, fmt: str, **header: Any) -> str:
        claims = {"iss": cognito_issuer(pool, "eu-west-1", fmt), "aud": "app", "token_use": "id"}
        return key.sign({**claims, "iat": T0, "exp": EXP}, headers=header or None)

    tokens = [signed(old, fmt) for fmt in ("original", "updated")]
    for token in tokens:
        for _ in range(2):
            cognito.verify(token)
        assert cognito.revalidate(token)
    idp.keys = [keep]
    with pytest.raises(UnknownKey):
        cognito.verify(signed(keep, "updated", kid="probe"))
    for token in tokens:
        assert not cognito.revalidate(token)
        with pytest.raises(UnknownKey):
            cognito.verify(token)


# -- discovery whose jwks_uri moves ---------------------------------------------------------


# fmt: off
def test_a_moved_jwks_uri_is_followed_after_the_ttl() -> None:
    clock = Clock(T0)
    with LocalIssuer(algs=("ES256",)) as old_home, LocalIssuer(algs=("ES256",)) as new_home:
        discovery = DiscoveryServer(old_home.jwks_uri)
        try:
            cache = JwksCache.from_discovery(discovery.issuer, allow_http=True, clock=clock,
                                             ttl=600, max_age=3600)
            verifier = JwtVerifier(issuer=discovery.issuer, audience=AUD, jwks=cache,
                                   clock=clock, cache_size=64)
            retired = old_home.key.sign({"iss": discovery.issuer, "aud": AUD, "iat": T0,
                                         "exp": EXP, "sub": "retired"})
            assert verifier.verify(retired)["sub"] == "retired"
            # The IdP moves its keys: the discovery document names the new JWKS; the old
            # URL still answers (a stale mirror, a decommissioned tenant) with retired keys.
            discovery.jwks_uri = new_home.jwks_uri
            new_home.keys = [KeyPair.generate("ES256", kid="moved-1")]
            current = new_home.key.sign({"iss": discovery.issuer, "aud": AUD, "iat": T0,
                                         "exp": EXP, "sub": "current"})
            clock.now = T0 + 7 * 24 * 3600.0  # a week later, many refreshes
            assert verifier.hydrate()
            assert _refused(verifier, retired)
            assert verifier.verify(current)["sub"] == "current"
        finally:
            discovery.stop()
# fmt: on
