"""Review 103: opaque tokens (RFC 7662), revocation lists and the caches in front of them, attacked.

Resolved (the tests assert it): both findings. An introspection answer with a member of the wrong
type (or an ``exp`` no float holds) fails its own call only (cause ``bad_member``, not resting the
endpoint), and the DynamoDB revocation store keys entries by their SHA-256 digest, as Redis does,
so no claim exceeds DynamoDB's key limit.

Attacked through ``Authorizer.handler``, Guard-wrapped handlers and the verifiers, against real servers on
loopback only (the scripted RFC 7662 server of ``tests/scripted_as.py``, which also serves JWKS documents on
GET; the session's redis-server; dynalite). Clocks are injected (``hand_clock.Clock``); nothing is timed.

Held:
* introspection answers: duplicate members (``active``, ``exp``), a non-boolean ``active``, non-objects, a
  BOM, trailing bytes, HTML, ``1e400`` are a 503 (an authorizer's 401), never an allow; active answers of
  another kind (refresh or DPoP-without-key ``token_type``, no ``token_type``, another ``aud``/``iss``/
  ``client_id``, no or past ``exp``, ``iat``/``nbf`` ahead, ``cnf``) are refused, and the refusal is cached;
* the caches: an active answer lives until ``cache_max_ttl`` after its call (the documented bound, through
  Guard and Authorizer) and never past ``exp`` + leeway; an inactive one ``negative_ttl`` only; an outage is
  a 503 and leaves no inactive verdict behind (the token is accepted as soon as the server is back);
* CombinedVerifier: JWT-shaped tokens (two dots or more) never reach the AS, whatever it would say;
* revocations: a revocation written by another container (Redis, DynamoDB) bites within ``max_staleness``
  despite the verified-token cache, the authorizer's memo and the introspection cache; one written here bites
  at once; a missing table and damaged Redis entries fail closed; keys do not collide across kinds (``jti``
  vs ``sub`` vs client), issuers (trailing slash, ``|`` in an issuer, ``iss:`` prefix); the documented
  ``before=now + 60`` margin catches an AS clock running ahead;
* JWKS: a withdrawn key stops verifying at the next refresh (``ttl``, memo and cache included), at once when
  an unknown-kid refetch sees it gone; random kids cost one fetch per cooldown; keys of ``use: enc``, without
  ``verify`` in ``key_ops`` or with a mismatched ``alg`` never verify; two keys under one kid both stop.

Findings (xfail strict):
* low: an introspection answer about one token whose members are of the wrong type (a numeric ``sub``, a
  ``null`` ``username`` as some servers give machine tokens) or hold a huge integer (``math.isfinite``
  raises OverflowError in ``introspection_answer.member_times``) rests the endpoint (``_failed`` treats
  ``bad_document``/``unexpected`` as failing every call): every other new token is a 503 for
  ``retry_after``, against docs/opaque-tokens.md's "one caller cannot make every other new token a 503".
* low: with ``DynamoDBRevocationStore``, a token whose ``sub``/``jti``/client id is over 2048 bytes makes
  ``BatchGetItem`` fail (ValidationException): ``Revocations._fetch`` rests the whole list, so every other
  new token is a 503 meanwhile (and such a token cannot be revoked at all).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import pytest
from hand_clock import Clock
from opaque_callers import ROUTES, authorize, guarded
from scripted_as import AUD, ISS, ScriptedAS, active, introspector, opaque

from secauth import Authorizer, JwksCache, JwtVerifier, Routes
from secauth.combined_verifier import CombinedVerifier
from secauth.errors import (
    InvalidAudience,
    InvalidClaims,
    InvalidIssuer,
    KeysUnavailable,
    TokenError,
    TokenExpired,
    TokenNotYetValid,
    TokenRevoked,
    UnknownKey,
)
from secauth.revocation import Revocations
from secauth.revocation_stores import DynamoDBRevocationStore, MemoryRevocationStore
from secauth.testing import KeyPair
from secauth.testing_events import http_proxy


def outcome(verify: Any, token: str) -> str:
    try:
        verify(token)
    except KeysUnavailable:
        return "503"
    except TokenError as exc:
        return type(exc).__name__
    return "allowed"


# == findings ===============================================================================


# fmt: off
@pytest.mark.parametrize(
    "body",
    [
        lambda now: json.dumps(active(now, sub=12345)).encode(),  # a numeric user id
        # a machine token (active() drops members given None: add the null after it)
        lambda now: json.dumps({**active(now), "username": None}).encode(),
        lambda now: b'{"active": true, "exp": 1' + b"0" * 400 + b"}",  # OverflowError
    ],
    ids=["numeric-sub", "null-username", "huge-int-exp"],
)
def test_one_tokens_mistyped_answer_does_not_503_every_other_new_token(
    scripted: ScriptedAS, body: Any
) -> None:
    """docs/opaque-tokens.md: an answer over ``max_bytes`` "fail[s] that call only, so one
    caller cannot make every other new token a 503". An answer whose members are of the
    wrong type (or a huge integer, which makes ``math.isfinite`` raise OverflowError) is
    just as much about one token, yet rests the endpoint for ``retry_after``."""
    clock = Clock(time.time())
    odd, other = opaque(), opaque()
    scripted.answer(odd, body(clock.now))
    scripted.answer(other, active(clock.now, sub="bob"))
    verifier = introspector(scripted, clock=clock)
    assert outcome(verifier.verify, odd) == "503"  # the odd answer itself: never an allow
    assert verifier.verify(other)["sub"] == "bob"  # a healthy server, another caller


def test_one_tokens_long_claim_does_not_503_every_other_token_on_dynamodb(
    scripted: ScriptedAS, revocation_dynamodb: DynamoDBRevocationStore
) -> None:
    """DynamoDB refuses a partition key over 2048 bytes (ValidationException), so a token
    whose ``sub``, ``jti`` or ``client_id`` is long (a mail address of a federated user,
    a URL-shaped client id) makes ``BatchGetItem`` fail: the list rests ``retry_after``
    and, fail closed, every other new token is a 503 meanwhile. Whoever holds such a
    token presents it once a second and the API is down. Such a token cannot be revoked
    either (the write fails)."""
    clock = Clock(time.time())
    long_one, other = opaque(), opaque()
    scripted.answer(long_one, active(clock.now, sub="u" * 2100))
    scripted.answer(other, active(clock.now, sub="bob"))
    revocations = Revocations(revocation_dynamodb, max_token_lifetime=86_400, clock=clock)
    verifier = introspector(scripted, clock=clock, revocations=revocations)
    outcome(verifier.verify, long_one)  # whatever it gets: never a reason to fail others
    assert verifier.verify(other)["sub"] == "bob"
# fmt: on


# == introspection answers: what held =======================================================


@pytest.mark.parametrize(
    "body",
    [
        b'{"active": false, "active": true}',
        b'{"active": true, "active": false}',
        b'{"active": true, "iss": "%s", "aud": "%s", "token_type": "Bearer", "exp": 1, '
        b'"exp": 4000000000, "iat": 1}' % (ISS.encode(), AUD.encode()),
        b'{"active": "true"}',
        b'{"active": 1}',
        b"[true]",
        b"null",
        b"\xef\xbb\xbf{}",
        b'{"active": true, "exp": 1e400}',
        b'{"active": true} trailing',
        b"<html>ok</html>",
    ],
    ids=[
        "dup-false-true",
        "dup-true-false",
        "dup-exp",
        "active-str",
        "active-1",
        "array",
        "null",
        "bom",
        "inf-exp",
        "trailing",
        "html",
    ],
)
def test_a_malformed_or_ambiguous_answer_is_a_503_never_an_allow(
    scripted: ScriptedAS, body: bytes
) -> None:
    token = opaque()
    scripted.answer(token, body)
    verifier = introspector(scripted, retry_after=0)
    assert outcome(verifier.verify, token) == "503"
    authorizer = Authorizer(verifier, routes=Routes(ROUTES), decision_log=None, api="rest")
    assert authorize(authorizer, token) == "401"  # an authorizer answers keys_unavailable
    assert guarded(verifier)(http_proxy("GET", "/orders", token=token), None)["statusCode"] == 503


@pytest.mark.parametrize(
    ("over", "error"),
    [
        ({"token_type": "refresh_token"}, InvalidClaims),
        ({"token_type": None}, InvalidClaims),
        ({"token_type": "DPoP"}, InvalidClaims),  # bound, without a key to check
        ({"aud": "urn:example:billing"}, InvalidAudience),
        ({"aud": []}, InvalidAudience),
        ({"iss": ISS + "/"}, InvalidIssuer),
        ({"iss": None}, InvalidIssuer),
        ({"exp": None}, InvalidClaims),
        ({"exp": -1}, TokenExpired),
        ({"iat": 4_000_000_000}, TokenNotYetValid),
        ({"nbf": 4_000_000_000}, TokenNotYetValid),
        ({"cnf": {"x5t#S256": "abc"}}, InvalidClaims),
    ],
    ids=[
        "refresh",
        "no-type",
        "dpop-no-key",
        "other-aud",
        "empty-aud",
        "iss-slash",
        "no-iss",
        "no-exp",
        "past-exp",
        "future-iat",
        "future-nbf",
        "cert-bound",
    ],
)
def test_an_active_answer_for_another_token_is_refused(
    scripted: ScriptedAS, over: dict[str, Any], error: type[Exception]
) -> None:
    token, now = opaque(), time.time()
    scripted.answer(token, active(now, **over))
    verifier = introspector(scripted)
    with pytest.raises(error):
        verifier.verify(token)
    with pytest.raises(error):  # the refusal is cached, never turned into an allow
        verifier.verify(token)
    assert scripted.count(token=token) == 1
    authorizer = Authorizer(verifier, routes=Routes(ROUTES), decision_log=None, api="rest")
    assert authorize(authorizer, token) == "401"


def test_a_client_id_audience_refuses_a_token_issued_to_another_client(
    scripted: ScriptedAS,
) -> None:
    token, now = opaque(), time.time()
    scripted.answer(token, active(now, client_id="attacker-app", aud=None))
    verifier = introspector(scripted, audience="web", audience_claim="client_id")
    with pytest.raises(InvalidAudience):
        verifier.verify(token)


def test_an_active_answer_is_kept_until_exp_or_cache_max_ttl_then_asked_again(
    scripted: ScriptedAS,
) -> None:
    """The documented bound: a token revoked at the AS is refused once ``cache_max_ttl``
    after the call that cached it has passed, through the Guard and the Authorizer."""
    clock, token = Clock(time.time()), opaque()
    scripted.answer(token, active(clock.now))
    verifier = introspector(scripted, clock=clock, cache_max_ttl=60)
    authorizer = Authorizer(verifier, routes=Routes(ROUTES), decision_log=None, api="rest")
    handler = guarded(verifier)
    event = http_proxy("GET", "/orders", token=token)
    assert authorize(authorizer, token) == "Allow"
    assert handler(event, None)["statusCode"] == 200
    scripted.answer(token, {"active": False})  # revoked at the AS (RFC 7009)
    clock.now += 59.9
    assert authorize(authorizer, token) == "Allow"  # documented staleness
    clock.now += 0.1
    assert authorize(authorizer, token) == "401"
    assert handler(event, None)["statusCode"] == 401
    assert scripted.count(token=token) == 2  # the inactive answer is cached too


def test_an_outage_is_never_acceptance_nor_a_negative_cache_entry(scripted: ScriptedAS) -> None:
    """A 5xx: 503 for the new token, the endpoint rests ``retry_after``; once the server
    answers again the token is accepted at once (no inactive verdict kept), and a cached
    active answer keeps working through the outage (documented)."""
    clock = Clock(time.time())
    known, new = opaque(), opaque()
    scripted.answer(known, active(clock.now))
    verifier = introspector(scripted, clock=clock, retry_after=1)
    assert verifier.verify(known)["sub"] == "ann"
    scripted.default = (500, b"{}", {})
    scripted.answer(new, b"{}", status=503)
    assert outcome(verifier.verify, new) == "503"
    assert outcome(verifier.verify, new) == "503"  # resting: no call
    assert scripted.count(token=new) == 1
    assert verifier.verify(known)["sub"] == "ann"
    scripted.answer(new, active(clock.now, sub="bob"))
    clock.now += 1
    assert verifier.verify(new)["sub"] == "bob"


def test_an_inactive_verdict_locks_out_for_negative_ttl_only(scripted: ScriptedAS) -> None:
    """A token the AS did not know yet (replication lag) is refused for ``negative_ttl``,
    not for ``cache_max_ttl``."""
    clock, token = Clock(time.time()), opaque()
    verifier = introspector(scripted, clock=clock, negative_ttl=10, cache_max_ttl=300)
    with pytest.raises(InvalidClaims):
        verifier.verify(token)
    scripted.answer(token, active(clock.now))
    clock.now += 9.9
    with pytest.raises(InvalidClaims):
        verifier.verify(token)
    clock.now += 0.1
    assert verifier.verify(token)["sub"] == "ann"


def test_an_answer_past_exp_within_leeway_is_not_kept_past_exp(scripted: ScriptedAS) -> None:
    clock, token = Clock(1_800_000_000.0), opaque()
    scripted.answer(token, active(clock.now, exp=int(clock.now) + 5))
    verifier = introspector(scripted, clock=clock, leeway=30, cache_max_ttl=300)
    assert verifier.verify(token)["sub"] == "ann"
    clock.now += 34.9
    assert verifier.verify(token)["sub"] == "ann"  # leeway
    clock.now += 0.1
    with pytest.raises(TokenExpired):
        verifier.verify(token)


# == JWTs and opaque tokens together ========================================================


def test_a_jwt_shaped_opaque_token_cannot_pick_introspection(scripted: ScriptedAS) -> None:
    """Tokens of two dots or more go to the JWT verifier whatever the AS would say; one
    dot or none to introspection. A real JWT respelled with fewer dots is no JWT at all."""
    pair = KeyPair.generate("ES256", kid="k1")
    jwt_verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [pair.public_jwk]})
    both = CombinedVerifier(jwt=jwt_verifier, introspection=introspector(scripted))
    now = time.time()
    real = pair.sign({"iss": ISS, "aud": AUD, "sub": "ann", "exp": now + 600})
    head, body, sig = real.split(".")
    for shaped in (f"op{secrets.token_hex(8)}.a.b", f"{head}.{body}.{sig}.", f"{head}..{sig}"):
        scripted.answer(shaped, active(now))
        with pytest.raises(TokenError):
            both.verify(shaped)
    one_dot = f"{head}.{body}{sig}"
    scripted.answer(one_dot, {"active": False})
    with pytest.raises(InvalidClaims):
        both.verify(one_dot)
    assert scripted.count() == 1  # only the one-dot token was ever sent to the AS
    assert both.verify(real)["sub"] == "ann"


# == revocation lists: what held ============================================================


def jwt_of(pair: KeyPair, now: float, **claims: Any) -> str:
    body = {"iss": ISS, "aud": AUD, "sub": "ann", "jti": secrets.token_hex(8),
            "scope": "orders.read", "iat": int(now) - 5, "exp": int(now) + 600, **claims}  # fmt: skip
    return pair.sign({k: v for k, v in body.items() if v is not None})


def test_a_revocation_from_another_container_bites_within_max_staleness_on_redis(
    redis_url: str,
) -> None:
    """Container A has the token in its verified-token cache and its authorizer's memo;
    container B revokes it on the shared Redis. A refuses it once its verdict is
    ``max_staleness`` old, not later (the caches in front do not stretch the bound)."""
    from secauth.revocation_stores import RedisRevocationStore

    clock, pair = Clock(time.time()), KeyPair.generate("ES256", kid="k1")
    here = Revocations(RedisRevocationStore(redis_url), max_staleness=30, clock=clock)
    there = Revocations(RedisRevocationStore(redis_url), max_staleness=30, clock=clock)
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [pair.public_jwk]},
                           revocations=here, clock=clock)  # fmt: skip
    authorizer = Authorizer(verifier, routes=Routes(ROUTES), decision_log=None, api="rest")
    token = jwt_of(pair, clock.now, jti="t-103")
    assert [authorize(authorizer, token) for _ in range(3)] == ["Allow"] * 3
    there.revoke_token(ISS, "t-103")
    assert there.is_revoked({"iss": ISS, "jti": "t-103"})  # B sees it at once
    clock.now += 29.9
    assert authorize(authorizer, token) == "Allow"  # the documented staleness
    clock.now += 0.1
    assert authorize(authorizer, token) == "401"
    with pytest.raises(TokenRevoked):
        verifier.verify(token)


def test_a_sign_out_from_another_container_reaches_introspected_tokens_on_dynamodb(
    scripted: ScriptedAS, revocation_dynamodb: DynamoDBRevocationStore
) -> None:
    clock, token = Clock(time.time()), opaque()
    scripted.answer(token, active(clock.now))
    here = Revocations(revocation_dynamodb, max_staleness=30, clock=clock)
    there = Revocations(revocation_dynamodb, max_staleness=30, clock=clock)
    verifier = introspector(scripted, clock=clock, revocations=here)
    handler = guarded(verifier)
    event = http_proxy("GET", "/orders", token=token)
    assert [handler(event, None)["statusCode"] for _ in range(2)] == [200, 200]
    there.revoke_subject(ISS, "ann", before=clock.now + 60)
    clock.now += 29.9
    assert handler(event, None)["statusCode"] == 200
    clock.now += 0.1
    assert handler(event, None)["statusCode"] == 401
    assert scripted.count(token=token) == 1  # the answer stayed cached all along


def test_a_missing_dynamodb_table_fails_closed_through_guard_and_authorizer(
    scripted: ScriptedAS, ddb_client: Any
) -> None:
    token = opaque()
    scripted.answer(token, active(time.time()))
    store = DynamoDBRevocationStore("no-such-table-103", client=ddb_client)
    verifier = introspector(scripted, revocations=Revocations(store))
    with pytest.raises(KeysUnavailable) as caught:
        verifier.verify(token)
    assert caught.value.detail["source"] == "revocations"
    assert guarded(verifier)(http_proxy("GET", "/orders", token=token), None)["statusCode"] == 503
    authorizer = Authorizer(verifier, routes=Routes(ROUTES), decision_log=None, api="rest")
    assert authorize(authorizer, token) == "401"


@pytest.mark.parametrize("value", [b"yes", b"1700000000", b"nan", b"1e999", b"inf.0"])
def test_a_damaged_redis_entry_fails_closed(
    scripted: ScriptedAS, redis_url: str, redis_client: Any, value: bytes
) -> None:
    from secauth.revocation_stores import RedisRevocationStore

    token = opaque()
    scripted.answer(token, active(time.time()))
    store = RedisRevocationStore(redis_url)
    redis_client.set(store._name(f"subject|{ISS}|ann"), value, px=60_000)
    verifier = introspector(scripted, revocations=Revocations(store, max_staleness=0))
    assert outcome(verifier.verify, token) == "503"


@pytest.mark.parametrize(
    ("kind", "issuer", "value"),
    [
        ("subject", ISS, "web"),  # the token's client_id, as a subject
        ("token", ISS, "ann"),  # the token's subject, as a jti
        ("family", ISS, "ann"),
        ("client", ISS, "ann"),
        ("subject", ISS + "/", "ann"),  # another issuer (exact strings)
        ("subject", ISS + "|subject|" + ISS, "ann"),  # an issuer spelled like a key
        ("subject", ISS, "ann|x"),
        ("subject", "iss:" + ISS, "ann"),
    ],
)
def test_revocation_keys_do_not_collide_across_kinds_and_issuers(
    scripted: ScriptedAS, kind: str, issuer: str, value: str
) -> None:
    token = opaque()
    scripted.answer(token, active(time.time(), jti="j-1"))
    revocations = Revocations(MemoryRevocationStore(), max_staleness=0)
    verifier = introspector(scripted, revocations=revocations)
    assert verifier.verify(token)["sub"] == "ann"
    getattr(revocations, f"revoke_{kind}")(issuer, value)
    assert verifier.verify(token)["sub"] == "ann"
    revocations.revoke_subject(ISS, "ann", before=time.time() + 60)
    with pytest.raises(TokenRevoked):
        verifier.verify(token)


def test_a_token_with_an_iat_ahead_is_caught_by_the_documented_margin(scripted: ScriptedAS) -> None:
    """An AS whose clock runs 50 s fast: a sign-out at ``now`` misses its tokens (their
    ``iat`` is after it), which docs/revocation.md says; ``before=now + 60`` catches them."""
    token, now = opaque(), time.time()
    scripted.answer(token, active(now, iat=int(now) + 50))
    revocations = Revocations(MemoryRevocationStore(), max_staleness=0)
    verifier = introspector(scripted, revocations=revocations)
    assert verifier.verify(token)["sub"] == "ann"
    revocations.revoke_subject(ISS, "ann", before=now + 60)
    with pytest.raises(TokenRevoked):
        verifier.verify(token)


def test_a_revocation_in_this_container_beats_every_cache_at_once(scripted: ScriptedAS) -> None:
    clock, token = Clock(time.time()), opaque()
    scripted.answer(token, active(clock.now))
    revocations = Revocations(MemoryRevocationStore(clock=clock), max_staleness=300, clock=clock)
    verifier = introspector(scripted, clock=clock, revocations=revocations, cache_max_ttl=300)
    authorizer = Authorizer(verifier, routes=Routes(ROUTES), decision_log=None, api="rest")
    assert [authorize(authorizer, token) for _ in range(3)] == ["Allow"] * 3
    revocations.revoke_client(ISS, "web")
    assert authorize(authorizer, token) == "401"


# == the JWKS cache: what held ==============================================================


def jwks_verifier(scripted: ScriptedAS, clock: Clock, **options: Any) -> JwtVerifier:
    keys = JwksCache(scripted.origin + "/jwks.json", allow_http=True, clock=clock, **options)
    return JwtVerifier(issuer=ISS, audience=AUD, jwks=keys, clock=clock)


def jwks_fetches(scripted: ScriptedAS) -> int:
    return scripted.count("/jwks.json")


def test_a_key_removed_at_the_idp_stops_counting_at_the_next_refresh(scripted: ScriptedAS) -> None:
    """Through the verified-token cache and the authorizer's memo: accepted until ``ttl``
    (documented), refused from then on."""
    clock = Clock(time.time())
    k1, k2 = KeyPair.generate("ES256", kid="k1"), KeyPair.generate("ES256", kid="k2")
    scripted.discovery = {"keys": [k1.public_jwk, k2.public_jwk]}
    verifier = jwks_verifier(scripted, clock, ttl=600)
    authorizer = Authorizer(verifier, routes=Routes(ROUTES), decision_log=None, api="rest")
    token = jwt_of(k2, clock.now, exp=int(clock.now) + 3600)
    assert [authorize(authorizer, token) for _ in range(4)] == ["Allow"] * 4
    scripted.discovery = {"keys": [k1.public_jwk]}  # k2 withdrawn (compromised)
    clock.now += 599.5
    assert authorize(authorizer, token) == "Allow"
    clock.now += 1
    assert authorize(authorizer, token) == "401"
    with pytest.raises(UnknownKey):
        verifier.verify(token)
    assert jwks_fetches(scripted) == 2


def test_an_unknown_kid_refetch_that_sees_a_key_gone_drops_its_cached_tokens(
    scripted: ScriptedAS,
) -> None:
    clock = Clock(time.time())
    k1, k2 = KeyPair.generate("ES256", kid="k1"), KeyPair.generate("ES256", kid="k2")
    scripted.discovery = {"keys": [k1.public_jwk, k2.public_jwk]}
    verifier = jwks_verifier(scripted, clock, ttl=600, refetch_cooldown=30)
    token = jwt_of(k2, clock.now, exp=int(clock.now) + 3600)
    for _ in range(3):
        assert verifier.revalidate(token) or verifier.verify(token)["sub"] == "ann"
    assert verifier.revalidate(token)
    scripted.discovery = {"keys": [k1.public_jwk]}
    clock.now += 30
    with pytest.raises(UnknownKey):
        verifier.verify(jwt_of(KeyPair.generate("ES256", kid="k3"), clock.now))
    assert not verifier.revalidate(token)
    with pytest.raises(UnknownKey):
        verifier.verify(token)


def test_a_flood_of_unknown_kids_costs_one_fetch_per_cooldown(scripted: ScriptedAS) -> None:
    clock = Clock(time.time())
    k1 = KeyPair.generate("ES256", kid="k1")
    scripted.discovery = {"keys": [k1.public_jwk]}
    verifier = jwks_verifier(scripted, clock, refetch_cooldown=30)
    assert verifier.verify(jwt_of(k1, clock.now))["sub"] == "ann"
    for n in range(100):
        clock.now += 0.5
        stranger = KeyPair.generate("ES256", kid=f"rand-{n}-{secrets.token_hex(4)}")
        with pytest.raises(UnknownKey):
            verifier.verify(jwt_of(stranger, clock.now))
    assert jwks_fetches(scripted) == 1 + 1  # the first fetch, one refetch 30 s in (50 s)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda jwk: {**jwk, "use": "enc"},
        lambda jwk: {**jwk, "key_ops": ["encrypt"]},
        lambda jwk: {**jwk, "alg": "ES384"},
        lambda jwk: {**jwk, "alg": "HS256"},
    ],
    ids=["use-enc", "key-ops", "alg-mismatch", "alg-hmac"],
)
def test_a_key_of_the_wrong_use_or_alg_never_verifies(scripted: ScriptedAS, tamper: Any) -> None:
    clock = Clock(time.time())
    good, odd = KeyPair.generate("ES256", kid="good"), KeyPair.generate("ES256", kid="odd")
    scripted.discovery = {"keys": [good.public_jwk, tamper(odd.public_jwk)]}
    verifier = jwks_verifier(scripted, clock)
    with pytest.raises(UnknownKey):
        verifier.verify(jwt_of(odd, clock.now))
    assert verifier.verify(jwt_of(good, clock.now))["sub"] == "ann"


def test_two_keys_under_one_kid_both_stop_verifying(scripted: ScriptedAS) -> None:
    """An injected key under a trusted kid never becomes a candidate."""
    clock = Clock(time.time())
    real, injected = KeyPair.generate("ES256", kid="k1"), KeyPair.generate("ES256", kid="k1")
    other = KeyPair.generate("ES256", kid="k2")
    scripted.discovery = {"keys": [real.public_jwk, injected.public_jwk, other.public_jwk]}
    verifier = jwks_verifier(scripted, clock)
    for pair in (real, injected):
        with pytest.raises(UnknownKey):
            verifier.verify(jwt_of(pair, clock.now))
    assert verifier.verify(jwt_of(other, clock.now))["sub"] == "ann"
