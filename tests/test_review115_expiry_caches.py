"""Review 115: time and every cache layer (commit dfb32fc).

Resolved (the tests assert them): the three lows and the info below. A verified-token cache
entry serves only from when it was made (``CachedToken.made_at``) until before ``until``: a
clock that reads earlier ends it, so the token is verified afresh (``nbf``, ``iat``, the key
set's freshness), and at exactly the JWKS ``ttl`` it is verified again. A remembered
revocation verdict answers only while ``0 <= now - read_at < max_staleness``. The same rule
now holds for introspection answers (``Introspected.made_at``; tested in test_introspection.py).
The re-check of ``nbf`` on a hit went: it passed when the entry was made, and entries serve no
earlier time.

Attacked: the verifier's verified-token cache (``exp`` at now, now +/- epsilon, fractional
``exp``, leeway applied once, ``nbf`` and ``iat`` on a hit after the clock steps back), a
key withdrawn from the JWKS while its tokens sit in the verified-token cache and in the
Authorizer's response memo (documented window: the JWKS ``ttl``), the Guard's principal
memo behind an expired token, a trust-mode Guard reading ``secauth_exp`` (boundary, leeway
once, fractional ``exp`` truncated down), the revocation list's per-container verdicts
after a revocation elsewhere (documented window: ``max_staleness``), and a wall clock that
steps back while the monotonic clock the JWKS cache uses moves on.

Held: ``exp`` refused at exactly ``exp + leeway`` on a miss and on a hit (leeway counted
once; no hit past it); ``nbf`` re-checked on a hit; a withdrawn key stops counting
exactly when the JWKS ``ttl`` runs out, in the verifier, the Authorizer memo and the
Guard; memo and principal-memo hits refuse an expired token; the trust-mode Guard refuses
a context at ``secauth_exp + leeway`` and ``to_context`` truncates a fractional ``exp``
down; a revocation elsewhere is seen after ``max_staleness``.

Findings:

* LOW: ``VerifiedTokenCache`` decides freshness with the verifier's wall clock
  (``time.time``) while ``JwksCache`` measures its ``ttl`` on ``time.monotonic``: a wall
  clock stepped back keeps a cached token (signed by a key since withdrawn from the JWKS)
  accepted after the JWKS ``ttl`` ran out, for as long as the step.
  (token_cache.py ``until``/``get``; verifier.py ``_finish``.)
* LOW: ``Revocations.check`` ages its remembered verdict as ``now - seen`` on the wall
  clock: a clock stepped back keeps a "not revoked" verdict past ``max_staleness``
  (``now - seen`` is negative), so a revocation written elsewhere is not seen.
  (revocation.py ``check``/``check_async``.)
* LOW: a verified-token cache hit does not re-check ``iat`` against ``max_future_iat``
  (only ``exp`` and ``nbf``): after the clock steps back, a warm container accepts a token
  a cold one refuses as ``iat in the future``. (verifier.py ``_still_valid``.)

Not tested here: introspection answers against a live OP (covered by
test_introspection.py, which needs the node OP), DynamoDB/Redis store TTLs, DPoP windows.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import pytest
from guard_events import rest_v1
from hand_clock import Clock

from secauth import Authorizer, Guard, JwtVerifier, Principal
from secauth.access import Routes, authenticated
from secauth.errors import (
    SecAuthError,
    TokenExpired,
    TokenNotYetValid,
    TokenRevoked,
)
from secauth.jwks import JwksCache
from secauth.revocation import Revocations
from secauth.revocation_stores import MemoryRevocationStore
from secauth.testing import KeyPair, LocalIssuer
from secauth.testing_events import token_authorizer

ISS = "https://idp.example.com/"
AUD = "api"
ROUTES = Routes({"GET /orders/{id}": authenticated()})


def _static(clock: Clock, pair: KeyPair, **options: Any) -> JwtVerifier:
    return JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [pair.public_jwk]}, clock=clock,
                       **options)  # fmt: skip


def _warm(verifier: JwtVerifier, token: str) -> None:
    """Verify twice: the second verification admits the token to the cache."""
    verifier.verify(token)
    verifier.verify(token)
    assert verifier.revalidate(token)


@pytest.fixture
def pair() -> KeyPair:
    return KeyPair.generate("ES256", kid="k1")


# -- exp, nbf, iat on a miss and on a hit -----------------------------------------------------


@pytest.mark.parametrize("leeway", [0, 30])
@pytest.mark.parametrize("exp", [2000, 2000.5])
def test_exp_boundary_is_the_same_on_a_miss_and_on_a_hit(
    pair: KeyPair, leeway: int, exp: float
) -> None:
    clock = Clock(1000.0)
    token = pair.sign({"iss": ISS, "aud": AUD, "iat": 1000, "exp": exp})
    warm = _static(clock, pair, leeway=leeway)
    _warm(warm, token)
    cold = _static(clock, pair, leeway=leeway, cache_size=0)
    clock.now = exp + leeway - 0.001
    assert warm.verify(token)["exp"] == exp
    assert cold.verify(token)["exp"] == exp
    clock.now = exp + leeway
    with pytest.raises(TokenExpired):
        warm.revalidate(token)  # the entry is still there, and refused
    for now in (exp + leeway, exp + leeway + 1):
        clock.now = now
        for verifier in (warm, cold):
            with pytest.raises(TokenExpired):
                verifier.verify(token)
    # the expired entry is gone, not merely refused
    assert not warm.revalidate(token)


def test_nbf_is_checked_again_on_a_hit_when_the_clock_steps_back(pair: KeyPair) -> None:
    clock = Clock(1000.0)
    token = pair.sign({"iss": ISS, "aud": AUD, "iat": 990, "nbf": 995, "exp": 2000})
    verifier = _static(clock, pair, leeway=2)
    _warm(verifier, token)
    clock.now = 993.0  # 993 + 2 == nbf: still valid
    verifier.verify(token)
    clock.now = 992.9
    with pytest.raises(TokenNotYetValid):
        verifier.verify(token)
    assert not verifier.revalidate(token)  # an entry made later serves no earlier time


# fmt: off
def test_future_iat_is_checked_again_on_a_hit_when_the_clock_steps_back(pair: KeyPair) -> None:
    clock = Clock(1000.0)
    token = pair.sign({"iss": ISS, "aud": AUD, "iat": 1050, "exp": 2000})
    verifier = _static(clock, pair)  # max_future_iat 60
    _warm(verifier, token)
    clock.now = 980.0  # iat is now 70 s ahead: a cold verifier refuses it
    with pytest.raises(TokenNotYetValid):
        _static(clock, pair, cache_size=0).verify(token)
    with pytest.raises(TokenNotYetValid):
        verifier.verify(token)
# fmt: on


# -- a key withdrawn from the JWKS ------------------------------------------------------------


@pytest.fixture
def idp() -> Iterator[LocalIssuer]:
    with LocalIssuer(algs=("ES256",)) as issuer:
        yield issuer


def _rotating(idp: LocalIssuer, wall: Clock, mono: Clock, **options: Any) -> JwtVerifier:
    keys = JwksCache(idp.jwks_uri, ttl=60, max_age=3600, refetch_cooldown=0, allow_http=True,
                     clock=mono)  # fmt: skip
    return JwtVerifier(issuer=idp.issuer, audience=AUD, jwks=keys, clock=wall, **options)


def _withdraw(idp: LocalIssuer) -> str:
    """Rotate and withdraw the key that signed the first token; returns its kid."""
    old = idp.key.kid
    idp.rotate()
    idp.remove(old)
    return old


def test_a_withdrawn_key_stops_counting_when_the_jwks_ttl_runs_out(idp: LocalIssuer) -> None:
    clock = Clock(1000.0)
    verifier = _rotating(idp, clock, clock)
    token = idp.token(aud=AUD, iat=1000, exp=5000)
    _warm(verifier, token)
    _withdraw(idp)
    clock.now = 1059.9  # documented window: the JWKS ttl
    verifier.verify(token)
    clock.now = 1060.001
    assert not verifier.revalidate(token)
    with pytest.raises(SecAuthError) as raised:
        verifier.verify(token)
    assert raised.value.status == 401
    with pytest.raises(SecAuthError):
        verifier.verify(token)


# fmt: off
def test_a_withdrawn_keys_cached_token_is_refused_at_exactly_the_jwks_ttl(idp: LocalIssuer) -> None:
    clock = Clock(1000.0)
    verifier = _rotating(idp, clock, clock)
    token = idp.token(aud=AUD, iat=1000, exp=5000)
    _warm(verifier, token)
    _withdraw(idp)
    clock.now = 1060.0  # JwksCache: due for a refresh (now >= fresh_until)
    assert verifier.keys.fresh_for == 0
    with pytest.raises(SecAuthError):
        verifier.verify(token)
# fmt: on


# fmt: off
def test_a_wall_clock_step_back_does_not_extend_a_withdrawn_keys_cached_token(
    idp: LocalIssuer,
) -> None:
    wall, mono = Clock(1000.0), Clock(50.0)
    verifier = _rotating(idp, wall, mono)
    token = idp.token(aud=AUD, iat=1000, exp=9000)
    _warm(verifier, token)
    _withdraw(idp)
    wall.now -= 3600.0  # NTP steps the wall clock back
    wall.now += 61.0
    mono.now += 61.0  # past the JWKS ttl: the set is due for a refresh
    with pytest.raises(SecAuthError):
        verifier.verify(token)
# fmt: on


def test_the_authorizer_memo_stops_at_key_withdrawal_and_at_exp(idp: LocalIssuer) -> None:
    clock = Clock(1000.0)
    verifier = _rotating(idp, clock, clock)
    authorizer = Authorizer(verifier, routes=ROUTES, decision_log=None)
    token = idp.token(aud=AUD, sub="ann", iat=1000, exp=1100)
    event = token_authorizer("GET", "/orders/7", token=token)

    def allowed() -> bool:
        try:
            answer = authorizer.handler(dict(event), None)
        except Exception:  # Unauthorized
            return False
        return answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"

    for _ in range(3):  # kept in the verifier cache, then in the memo
        assert allowed()
    assert len(authorizer._memo) == 1
    _withdraw(idp)
    clock.now = 1059.0
    assert allowed()
    clock.now = 1060.001  # the JWKS ttl ran out: the withdrawn key no longer counts
    assert not allowed()
    assert not allowed()

    # exp on a memo hit, with a key that stays
    clock.now = 1000.0
    other = idp.token(aud=AUD, sub="bob", iat=1000, exp=1050.5)
    event = token_authorizer("GET", "/orders/7", token=other)
    for _ in range(3):
        assert allowed()
    clock.now = 1050.4
    assert allowed()
    clock.now = 1050.5
    assert not allowed()


def test_the_guard_principal_memo_does_not_outlive_exp(pair: KeyPair) -> None:
    clock = Clock(1000.0)
    guard = Guard(_static(clock, pair, leeway=5), routes=ROUTES, decision_log=None)

    def handler(event: Any, context: Any, principal: Principal) -> dict[str, Any]:
        return {"statusCode": 200, "body": principal.id}

    wrapped = guard(handler)
    token = pair.sign({"iss": ISS, "aud": AUD, "sub": "ann", "iat": 1000, "exp": 1100})
    event = rest_v1(authorization=f"Bearer {token}")
    for _ in range(3):
        assert wrapped(dict(event), None)["statusCode"] == 200
    clock.now = 1104.9
    assert wrapped(dict(event), None)["statusCode"] == 200
    clock.now = 1105.0
    assert wrapped(dict(event), None)["statusCode"] == 401


# -- a trust-mode Guard reading secauth_exp ---------------------------------------------------


def test_trust_mode_guard_refuses_a_context_at_its_exp(monkeypatch: pytest.MonkeyPatch) -> None:
    import secauth.guard_context as guard_context

    now = [0.0]
    monkeypatch.setattr(guard_context, "time", types.SimpleNamespace(time=lambda: now[0]))
    context = Principal("ann", claims={"sub": "ann", "exp": 2000.9}).to_context()
    assert context["secauth_exp"] == "2000"  # truncated down, never rounded up
    wrapped = Guard(routes=ROUTES, decision_log=None)(
        lambda event, ctx, principal: {"statusCode": 200, "body": principal.id}
    )
    event = rest_v1(authorizer=dict(context))
    for at, status in ((1999.999, 200), (2000.0, 401), (2000.5, 401), (1999.0, 200)):
        now[0] = at
        assert wrapped(dict(event), None)["statusCode"] == status, at


# -- revocation verdicts kept per container ---------------------------------------------------


def _revocable_claims() -> dict[str, Any]:
    return {"iss": ISS, "sub": "ann", "jti": "t-1", "iat": 900, "exp": 1800, "aud": AUD}


def test_a_revocation_elsewhere_is_seen_after_max_staleness() -> None:
    clock = Clock(1000.0)
    store = MemoryRevocationStore(clock=clock)
    here = Revocations(store, max_staleness=30, clock=clock)
    there = Revocations(store, max_staleness=30, clock=clock)
    here.check(_revocable_claims())
    there.revoke_token(ISS, "t-1")
    clock.now = 1029.9
    here.check(_revocable_claims())  # documented window
    clock.now = 1030.0
    with pytest.raises(TokenRevoked):
        here.check(_revocable_claims())


# fmt: off
def test_a_clock_step_back_does_not_extend_a_not_revoked_verdict() -> None:
    clock = Clock(1000.0)
    store = MemoryRevocationStore(clock=clock)
    here = Revocations(store, max_staleness=30, clock=clock)
    there = Revocations(store, max_staleness=30, clock=clock)
    here.check(_revocable_claims())
    there.revoke_token(ISS, "t-1")
    clock.now -= 600.0  # stepped back
    clock.now += 31.0  # 31 s of real time since the verdict was read
    with pytest.raises(TokenRevoked):
        here.check(_revocable_claims())
# fmt: on
