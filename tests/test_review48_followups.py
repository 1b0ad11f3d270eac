"""Review 48: the follow-ups of reviews 46 and 47 attacked (the issuer in the principal,
revocation lifetimes, Redis eviction checks, CombinedVerifier routing, bound opaque
tokens, DPoP challenges, the introspection cache).

Real servers only, on loopback: KeyPair-signed JWTs, the scripted RFC 7662 server
(``tests/scripted_as.py``), private redis-servers and a private Redis Cluster
(``rl_services``). Clocks are moved by hand (``tests/hand_clock.py``); no test asserts on
a duration.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; attacks the
library resists are plain tests.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from dpop_parties import CLIENT, URL
from hand_clock import Clock
from rl_services import redis_cluster, redis_server
from scripted_as import AUD, ISS, ScriptedAS, active, introspector, opaque

from secauth import Guard, JwtVerifier, Principal, Routes, authenticated
from secauth.combined_verifier import CombinedVerifier, looks_like_jwt
from secauth.dpop import DpopVerifier
from secauth.dpop_replay import MemoryReplayStore
from secauth.errors import (
    ConfigurationError,
    InvalidClaims,
    KeysUnavailable,
    SecAuthError,
    TokenError,
    TokenRevoked,
)
from secauth.memo import PrincipalMemo
from secauth.principal import ClaimMapper
from secauth.ratelimit import MemoryStore, RateLimiter
from secauth.revocation import Revocations, StoreUnavailable
from secauth.revocation_stores import MemoryRevocationStore, RedisRevocationStore
from secauth.sender_constraint import SenderConstraint
from secauth.testing import KeyPair
from secauth.testing_events import http_proxy

PARTNER = "https://partner.example.net"
ROUTES = Routes({"GET /orders/7": authenticated()})
OURS = KeyPair.generate("ES256", kid="ours")
THEIRS = KeyPair.generate("ES256", kid="theirs")


def ok(event: Any, context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


def status(handler: Any, event: dict[str, Any]) -> int:
    return int(handler(copy.deepcopy(event), None)["statusCode"])


def jwt(pair: KeyPair = OURS, iss: str = ISS, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": iss, "aud": AUD, "sub": "alice", "iat": now, "exp": now + 600, **claims}
    return pair.sign({k: v for k, v in body.items() if v is not None})


def two_issuers() -> Any:
    return JwtVerifier.multi(
        JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [OURS.public_jwk]}),
        JwtVerifier(issuer=PARTNER, audience=AUD, jwks={"keys": [THEIRS.public_jwk]}),
    )


def dpop_guard(verifier: Any, **constraint: Any) -> Any:
    dpop = DpopVerifier(replay=MemoryReplayStore())
    sender = SenderConstraint(dpop=dpop, **constraint)
    return Guard(verifier, routes=ROUTES, decision_log=None, sender_constraint=sender)(ok)


def dpop_event(token: str, proof: str | None, scheme: str = "DPoP") -> dict[str, Any]:
    headers = {"authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["dpop"] = proof
    return http_proxy("GET", "/orders/7", headers=headers)


@pytest.fixture
def private_redis() -> Iterator[Any]:
    server = redis_server().start()
    try:
        yield server
    finally:
        server.stop()


# == 1. the issuer in the principal ===========================================================


def test_a_partner_issuers_alice_never_spends_our_alices_quota() -> None:
    """Review 46 made two issuers' ``alice`` two principals (equality, context, records),
    but ``principal_key`` (ratelimit/keys.py), the key of every per-principal limit and
    of AbusePenalty's principal subject, is still ``kind:id`` (and tenant): a partner
    IdP's user named ``alice`` exhausts (or shares) our alice's quota."""
    limiter = RateLimiter.per_principal("1/minute", algorithm="fixed_window", store=MemoryStore())
    handler = Guard(two_issuers(), routes=ROUTES, decision_log=None, rate_limit=limiter)(ok)
    theirs = http_proxy("GET", "/orders/7", token=jwt(THEIRS, PARTNER))
    ours = http_proxy("GET", "/orders/7", token=jwt())
    assert status(handler, theirs) == 200
    assert status(handler, ours) == 200  # observed: 429, the partner's alice spent it


def test_a_context_naming_an_issuer_refuses_a_token_without_one() -> None:
    """Trust-and-verify mode: a context of ISS's alice beside a token whose ``iss`` is
    missing (a verifier without issuer=) is a disagreement, not a legacy context."""
    verifier = JwtVerifier(issuer=None, audience=AUD, jwks={"keys": [OURS.public_jwk]})
    handler = Guard(verifier, routes=ROUTES, trust_authorizer=True, decision_log=None)(ok)
    context = Principal("alice", issuer=ISS).to_context()
    event = http_proxy("GET", "/orders/7", token=jwt(iss=None))
    event["requestContext"]["authorizer"] = {"lambda": context}
    assert status(handler, event) == 401
    event["requestContext"]["authorizer"] = {"lambda": Principal("alice").to_context()}
    assert status(handler, event) == 200


def test_the_context_memo_never_hands_one_issuers_principal_to_another() -> None:
    memo = PrincipalMemo()
    a = memo.for_context(Principal("alice", issuer=ISS).to_context())
    b = memo.for_context(Principal("alice", issuer=PARTNER).to_context())
    legacy = memo.for_context(Principal("alice").to_context())
    assert (a.issuer, b.issuer, legacy.issuer) == (ISS, PARTNER, None)
    assert len({a, b, legacy}) == 3


@pytest.mark.parametrize("value", [7, ["https://as.example.com"], True, {"iss": ISS}])
def test_a_non_string_secauth_issuer_in_a_context_is_refused(value: Any) -> None:
    """HTTP API simple responses carry JSON values in the context: a non-string issuer
    is a malformed context, never read as 'no issuer' (which would skip the agreement)."""
    context: dict[str, Any] = {**Principal("alice").to_context(), "secauth_issuer": value}
    with pytest.raises(InvalidClaims):
        Principal.from_context(context)
    with pytest.raises(InvalidClaims):
        PrincipalMemo().for_context(context)


@pytest.mark.parametrize("iss", [17, "", ["x"], None])
def test_a_non_string_or_empty_iss_makes_no_issuer_and_no_context_field(iss: Any) -> None:
    principal = ClaimMapper().map({"sub": "alice", "iss": iss})
    assert principal.issuer is None
    assert "secauth_issuer" not in principal.to_context()
    with pytest.raises(ConfigurationError):
        Principal("alice", issuer="")


def test_trust_only_guard_records_the_issuer_of_the_context() -> None:
    records: list[Any] = []
    guard = Guard(routes=ROUTES, trust_authorizer=True, decision_log=None,
                  on_decision=records.append)  # fmt: skip
    event = http_proxy("GET", "/orders/7")
    event["requestContext"]["authorizer"] = {
        "lambda": Principal("alice", issuer=PARTNER).to_context()
    }
    assert status(guard(ok), event) == 200
    assert (records[-1]["principal"], records[-1]["issuer"]) == ("alice", PARTNER)


# == 2. lifetimes under a revocation list ======================================================


@pytest.mark.parametrize(("leeway", "iat_ahead", "later"), [(60, 0, 3630), (0, 50, 3620)],
                         ids=["leeway", "future-iat"])  # fmt: skip
def test_a_revoked_token_stays_revoked_until_the_verifier_would_refuse_it(
    leeway: int, iat_ahead: int, later: int
) -> None:
    """An entry lives ``max_token_lifetime`` after it was written; max_lifetime checks
    only ``exp - iat``. A token is accepted until ``exp + leeway``, and its ``iat`` may
    lie ``leeway + max_future_iat`` ahead: revoked at issuance, it is accepted again
    for up to ``2*leeway + max_future_iat`` seconds once the entry is gone."""
    clock = Clock(time.time())
    revocations = Revocations(MemoryRevocationStore(clock=clock), clock=clock,
                              max_token_lifetime=3600, max_staleness=0)  # fmt: skip
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [OURS.public_jwk]},
                           leeway=leeway, clock=clock, revocations=revocations)  # fmt: skip
    iat = int(clock.now) + iat_ahead
    token = OURS.sign({"iss": ISS, "aud": AUD, "sub": "alice", "jti": "leaked",
                       "iat": iat, "exp": iat + 3600})  # fmt: skip
    assert verifier.verify(token)["sub"] == "alice"
    revocations.revoke_token(ISS, "leaked")
    with pytest.raises(TokenRevoked):
        verifier.verify(token)
    clock.now += later  # the entry is gone; the verifier still takes the token
    with pytest.raises(TokenError):
        verifier.verify(token)


@pytest.mark.parametrize(
    "times",
    [{"iat": True}, {"exp": True}, {"iat": None}, {"exp": None}, {"iat": "0"},
     {"iat": -(2**60)}, {"iat": 1.5}],
    ids=["iat-bool", "exp-bool", "no-iat", "no-exp", "iat-str", "iat-huge-negative",
         "iat-ancient-float"],
)  # fmt: skip
def test_a_list_refuses_tokens_whose_lifetime_it_cannot_bound(times: dict[str, Any]) -> None:
    revocations = Revocations(MemoryRevocationStore(), max_token_lifetime=3600)
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [OURS.public_jwk]},
                           require_exp=False, revocations=revocations)  # fmt: skip
    with pytest.raises(InvalidClaims):
        verifier.verify(jwt(**times))


def test_every_member_of_a_multi_issuer_verifier_with_a_list_enforces_it() -> None:
    revocations = Revocations(MemoryRevocationStore(), max_token_lifetime=600)
    multi = JwtVerifier.multi(
        JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [OURS.public_jwk]},
                    revocations=revocations),
        JwtVerifier(issuer=PARTNER, audience=AUD, jwks={"keys": [THEIRS.public_jwk]},
                    revocations=revocations),
    )  # fmt: skip
    now = int(time.time())
    for pair, iss in ((OURS, ISS), (THEIRS, PARTNER)):
        assert multi.verify(jwt(pair, iss))["iss"] == iss  # 600 s: fits
        with pytest.raises(InvalidClaims):
            multi.verify(jwt(pair, iss, exp=now + 601))


def test_an_introspected_token_without_iat_is_refused_under_a_list(scripted: ScriptedAS) -> None:
    token, now = opaque(), time.time()
    scripted.answer(token, active(now, iat=None))
    verifier = introspector(scripted, revocations=Revocations(MemoryRevocationStore()))
    with pytest.raises(InvalidClaims):
        verifier.verify(token)


# == 3. Redis stores that must not forget ======================================================


def test_a_policy_turned_evicting_after_the_first_check_is_noticed(private_redis: Any) -> None:
    """The check runs at a store's first use only. An operator (or a shared cache's
    other tenant, an ElastiCache parameter group change) sets ``allkeys-lru`` later:
    warm containers keep writing and trusting entries the server may now evict."""
    import redis

    url = f"redis://127.0.0.1:{private_redis.port}/0"
    # eviction_recheck=0: checked on every call (the default, every 60 s, is the same
    # check, spaced out)
    revocations = Revocations(RedisRevocationStore(url, eviction_recheck=0), max_staleness=0)
    claims = {"iss": ISS, "sub": "ann", "jti": "j-1", "iat": 1, "exp": 3601}
    assert not revocations.is_revoked(claims)  # checked: no maxmemory
    admin = redis.Redis(host="127.0.0.1", port=private_redis.port)
    admin.config_set("maxmemory", "2mb")
    admin.config_set("maxmemory-policy", "allkeys-lru")
    admin.close()
    with pytest.raises(KeysUnavailable):
        revocations.check(claims)


@pytest.mark.parametrize(
    ("args", "used"),
    [(("--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"), False),
     (("--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lfu"), False),
     (("--maxmemory", "2mb", "--maxmemory-policy", "volatile-ttl"), False),
     (("--maxmemory", "0", "--maxmemory-policy", "allkeys-lru"), True)],
    ids=["allkeys-lru", "allkeys-lfu", "volatile-ttl", "no-maxmemory"],
)  # fmt: skip
def test_every_evicting_policy_is_refused_and_no_maxmemory_is_used(
    args: tuple[str, ...], used: bool
) -> None:
    from secauth.dpop_replay import RedisReplayStore, ReplayStoreUnavailable

    server = redis_server(None, *args).start()
    try:
        url = f"redis://127.0.0.1:{server.port}/0"
        if used:
            assert RedisReplayStore(url).first_use("jkt:a", time.time() + 60) is True
            RedisRevocationStore(url).put("jti|x|y", 1.0, time.time() + 60)
        else:
            with pytest.raises(ReplayStoreUnavailable):
                RedisReplayStore(url).first_use("jkt:a", time.time() + 60)
            with pytest.raises(StoreUnavailable):
                RedisRevocationStore(url).put("jti|x|y", 1.0, time.time() + 60)
    finally:
        server.stop()


def test_a_server_refusing_info_fails_closed_without_leaking_the_password() -> None:
    password = "pw-" + secrets.token_hex(8)
    server = redis_server(None, "--requirepass", password, "--rename-command", "INFO", "")
    server.start()
    try:
        url = f"redis://:{password}@127.0.0.1:{server.port}/0"
        revocations = Revocations(RedisRevocationStore(url), failure="closed")
        claims = {"iss": ISS, "sub": "ann", "jti": "j-1", "iat": 1, "exp": 3601}
        with pytest.raises(KeysUnavailable) as refused:
            revocations.check(claims)
        with pytest.raises(StoreUnavailable) as admin:
            revocations.revoke_subject(ISS, "ann")
        for error in (refused.value, admin.value):
            assert password not in repr(error)
            assert password not in str(error)
            assert password not in repr(getattr(error, "detail", ""))
    finally:
        server.stop()


def test_one_evicting_primary_of_a_cluster_fails_the_list_closed() -> None:
    cluster = redis_cluster(3).start()
    try:
        primaries = [port for port, role in cluster.roles().items() if role == "master"]
        cluster.ask(primaries[-1], "CONFIG", "SET", "maxmemory", "2mb")
        cluster.ask(primaries[-1], "CONFIG", "SET", "maxmemory-policy", "volatile-lru")
        revocations = Revocations(RedisRevocationStore(cluster.url, cluster=True))
        claims = {"iss": ISS, "sub": "ann", "jti": "j-1", "iat": 1, "exp": 3601}
        with pytest.raises(KeysUnavailable) as refused:
            revocations.check(claims)
        assert "volatile-lru" in refused.value.detail["problem"]
        cluster.ask(primaries[-1], "CONFIG", "SET", "maxmemory-policy", "noeviction")
        fresh = Revocations(RedisRevocationStore(cluster.url, cluster=True))
        assert not fresh.is_revoked(claims)
    finally:
        cluster.stop()


# == 4. CombinedVerifier routing ================================================================


@pytest.mark.parametrize(
    "token",
    ["a.b.c", "a..b", "..", "eyJh.eyJz.c2ln==", "h.k.iv.ct.tag", "eyJh.eyJz.", "x.y.z.w"],
)
def test_a_token_with_two_dots_never_reaches_the_introspection_endpoint(
    scripted: ScriptedAS, token: str
) -> None:
    scripted.answer(token, active(time.time()))  # the AS would vouch for it
    combined = CombinedVerifier(
        jwt=JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [OURS.public_jwk]}),
        introspection=introspector(scripted),
    )
    with pytest.raises(SecAuthError):
        combined.verify(token)
    assert scripted.count() == 0


@pytest.mark.parametrize("token", ["ory_at_" + "A" * 40 + "." + "B" * 43, "2YotnFZFEjr1zCsicMWpAA"])
def test_one_dot_and_dotless_opaque_tokens_are_still_introspected(
    scripted: ScriptedAS, token: str
) -> None:
    """Ory Hydra's opaque tokens carry one dot (``ory_at_<key>.<signature>``)."""
    assert not looks_like_jwt(token)
    scripted.answer(token, active(time.time()))
    combined = CombinedVerifier(
        jwt=JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [OURS.public_jwk]}),
        introspection=introspector(scripted),
    )
    assert combined.verify(token)["sub"] == "ann"
    assert scripted.count() == 1


# == 5. sender-constrained opaque tokens ========================================================


def test_an_unbound_opaque_token_under_the_dpop_scheme_is_refused(scripted: ScriptedAS) -> None:
    token = opaque()
    scripted.answer(token, active(time.time()))
    handler = dpop_guard(introspector(scripted, bound_tokens=True))
    proof = CLIENT.proof("GET", URL, access_token=token)
    assert status(handler, dpop_event(token, proof)) == 401
    assert status(handler, dpop_event(token, None, "Bearer")) == 200  # as a bearer token


def test_a_dpop_bound_opaque_token_needs_a_fresh_proof_even_from_the_cache(
    scripted: ScriptedAS,
) -> None:
    token = opaque()
    scripted.answer(token, active(time.time(), token_type="DPoP", cnf={"jkt": CLIENT.jkt}))
    handler = dpop_guard(introspector(scripted, bound_tokens=True))
    proof = CLIENT.proof("GET", URL, access_token=token)
    assert status(handler, dpop_event(token, proof)) == 200
    assert scripted.count() == 1  # the answer is cached from now on
    assert status(handler, dpop_event(token, None, "Bearer")) == 401
    assert status(handler, dpop_event(token, None)) == 401  # no proof
    assert status(handler, dpop_event(token, proof)) == 401  # the proof again
    other = CLIENT.proof("GET", URL, access_token=opaque())  # ath of another token
    assert status(handler, dpop_event(token, other)) == 401
    thief = type(CLIENT).generate("ES256")
    assert status(handler, dpop_event(token, thief.proof("GET", URL, access_token=token))) == 401
    assert status(handler, dpop_event(token, CLIENT.proof("GET", URL, access_token=token))) == 200


@pytest.mark.parametrize(
    "answer",
    [{"token_type": "DPoP", "cnf": {"x5t#S256": "abc"}},
     {"token_type": "DPoP"},
     {"token_type": "N_A", "cnf": {"jkt": "x"}},
     {"token_type": "Bearer", "cnf": {"jkt": "x"}, "bound_tokens": False}],
    ids=["dpop-type-cert-cnf", "dpop-type-no-cnf", "other-type", "cnf-not-accepted"],
)  # fmt: skip
def test_token_type_and_cnf_tricks_are_refused(scripted: ScriptedAS, answer: dict[str, Any]) -> None:
    answer = dict(answer)
    bound = answer.pop("bound_tokens", True)
    token = opaque()
    scripted.answer(token, active(time.time(), **answer))
    with pytest.raises(InvalidClaims):
        introspector(scripted, bound_tokens=bound).verify(token)


def test_a_bearer_typed_answer_with_a_jkt_still_needs_the_proof(scripted: ScriptedAS) -> None:
    token = opaque()
    scripted.answer(token, active(time.time(), cnf={"jkt": CLIENT.jkt}))  # token_type Bearer
    handler = dpop_guard(introspector(scripted, bound_tokens=True))
    assert status(handler, dpop_event(token, None, "Bearer")) == 401
    assert status(handler, dpop_event(token, CLIENT.proof("GET", URL, access_token=token))) == 200


# == 6. the DPoP challenge of a 401 ============================================================


def test_a_401_without_credentials_offers_bearer_and_dpop_or_dpop_alone() -> None:
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [OURS.public_jwk]})
    event = http_proxy("GET", "/orders/7")
    both = dpop_guard(verifier)(copy.deepcopy(event), None)
    assert both["statusCode"] == 401
    assert both["headers"]["WWW-Authenticate"].startswith('Bearer, DPoP algs="')
    alone = dpop_guard(verifier, require="dpop")(copy.deepcopy(event), None)
    assert alone["headers"]["WWW-Authenticate"].startswith('DPoP algs="')
    assert "Bearer" not in alone["headers"]["WWW-Authenticate"]
    # a token that fails is not answered with the no-credentials offer
    bad = dpop_guard(verifier)(http_proxy("GET", "/orders/7", token=jwt(exp=1)), None)
    assert bad["statusCode"] == 401
    assert 'error="invalid_token"' in bad["headers"]["WWW-Authenticate"]


@pytest.mark.parametrize("alg", ['ES256"\r\nSet-Cookie: a=b', "ES256\nX: y", 'ES256", evil="1'])
def test_algorithm_names_cannot_inject_into_the_challenge(alg: str) -> None:
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [OURS.public_jwk]})
    try:
        dpop = DpopVerifier(replay=MemoryReplayStore(), algorithms=[alg])
    except ConfigurationError:
        return  # refused at configuration
    sender = SenderConstraint(dpop=dpop)
    guard = Guard(verifier, routes=ROUTES, decision_log=None, sender_constraint=sender)
    header = guard(ok)(http_proxy("GET", "/orders/7"), None)["headers"]["WWW-Authenticate"]
    assert "\r" not in header
    assert "\n" not in header
    assert "evil=" not in header


# == 7. the introspection cache ================================================================


def test_an_oversized_answer_fails_its_async_call_only(scripted: ScriptedAS) -> None:
    heavy, other = opaque(), opaque()
    now = time.time()
    scripted.answer(heavy, active(now, groups=["g" * 60] * 1200))
    scripted.answer(other, active(now, sub="bob"))
    verifier = introspector(scripted)

    async def run() -> tuple[Any, Any]:
        try:
            await verifier.verify_async(heavy)
        except KeysUnavailable as exc:
            first: Any = exc
        else:
            first = None
        return first, await verifier.verify_async(other)

    first, second = asyncio.run(run())
    assert isinstance(first, KeysUnavailable)
    assert second["sub"] == "bob"


def test_clear_cache_forgets_an_active_answer_once_the_as_revokes(scripted: ScriptedAS) -> None:
    token = opaque()
    scripted.answer(token, active(time.time()))
    verifier = introspector(scripted)
    assert verifier.verify(token)["sub"] == "ann"
    scripted.answer(token, {"active": False})
    assert verifier.verify(token)["sub"] == "ann"  # cached
    verifier.clear_cache()
    with pytest.raises(TokenError):
        verifier.verify(token)
