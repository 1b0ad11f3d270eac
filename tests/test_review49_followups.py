"""Review 49: the fixes of review 48 attacked (the issuer in ``principal_key``, revocation
entries living ``max_token_lifetime + ENTRY_MARGIN``, the periodic Redis eviction check).

Real parts only, on loopback: KeyPair-signed JWTs, a LocalCognito pool (one loopback JWKS
server per issuer), private redis-servers (``rl_services``). Clocks are moved by hand
(``tests/hand_clock.py``, and a hand clock in place of ``time.monotonic`` for the
eviction check); no test asserts on a duration.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; attacks the
library resists are plain tests.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from hand_clock import Clock
from rl_services import redis_server

import secauth._redis as redis_helpers
from secauth import Authorizer, Guard, JwtVerifier, Principal, Routes, authenticated
from secauth.dpop_replay import RedisReplayStore, ReplayStoreUnavailable
from secauth.errors import ConfigurationError, TokenError, TokenRevoked
from secauth.principal import ClaimMapper
from secauth.ratelimit import AbusePenalty, MemoryStore, RateLimiter
from secauth.ratelimit.keys import principal_key
from secauth.ratelimit.redis_store import RedisStore
from secauth.revocation import ENTRY_MARGIN, Revocations, StoreUnavailable, issuer_key
from secauth.revocation_stores import MemoryRevocationStore, RedisRevocationStore
from secauth.testing import KeyPair
from secauth.testing_cognito import LocalCognito
from secauth.testing_events import http_authorizer_v2, http_proxy

ISS, AUD = "https://as.example.com/tenant-9", "urn:example:orders"
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


def ours() -> JwtVerifier:
    return JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [OURS.public_jwk]})


def one_a_minute(store: Any = None) -> RateLimiter:
    return RateLimiter.per_principal(
        "1/minute",
        algorithm="fixed_window",
        store=MemoryStore() if store is None else store,
        name="orders",
    )


@pytest.fixture
def private_redis() -> Iterator[Any]:
    server = redis_server().start()
    try:
        yield server
    finally:
        server.stop()


def admin(server: Any) -> Any:
    import redis

    return redis.Redis(host="127.0.0.1", port=server.port)


# == 1. the issuer in principal_key ============================================================


@pytest.fixture(scope="module")
def pool() -> Iterator[LocalCognito]:
    with LocalCognito(regions=["eu-central-1"]) as local:
        yield local


@pytest.mark.parametrize(
    ("issuer_format", "region"), [("updated", None), ("original", "eu-central-1")],
    ids=["other-issuer-format", "replica-region"],
)  # fmt: skip
def test_one_cognito_user_has_one_quota_whatever_issuer_string_signed_it(
    pool: LocalCognito, issuer_format: str, region: str | None
) -> None:
    """A user pool signs under two issuer formats and one issuer per replica Region, all
    for the same users (same ``sub``); CognitoVerifier accepts every one by default and
    revocation entries treat them as one issuer (``issuer_key``: ``cognito:<pool>``).
    ``principal_key`` now hashes the raw ``iss``: a user signing in through another
    Region's endpoint (or after the pool's issuer format changes) gets a fresh quota
    (plans, per-principal limits, penalties of tenant users): N issuers, N quotas."""
    verifier = JwtVerifier.cognito(
        user_pool_id=pool.user_pool_id, client_id=pool.client_id, token_use="access",
        additional_regions=["eu-central-1"], jwks_uris=pool.jwks_uris, allow_http=True,
    )  # fmt: skip
    handler = Guard(verifier, routes=ROUTES, decision_log=None, rate_limit=one_a_minute())(ok)
    home = http_proxy("GET", "/orders/7", token=pool.access_token(username="alice"))
    other = http_proxy("GET", "/orders/7", token=pool.access_token(
        username="alice", issuer_format=issuer_format, region=region))  # fmt: skip
    # the revocation list sees one issuer: a sign-out reaches both tokens
    assert issuer_key(pool.issuer()) == issuer_key(pool.issuer(region, issuer_format))
    assert status(handler, home) == 200
    assert status(handler, other) == 429  # observed: 200, a second minute's worth


def test_usage_by_the_documented_key_reads_a_token_users_spent_quota() -> None:
    """A token's caller is counted with its issuer: ``usage`` reads its bucket by
    ``principal_key`` of the principal with its issuer (docs/ratelimit.md), and
    ``"user:alice"`` is the bucket of an alice without one, untouched."""
    from secauth.ratelimit.keys import principal_key

    limiter = one_a_minute()
    handler = Guard(ours(), routes=ROUTES, decision_log=None, rate_limit=limiter)(ok)
    event = http_proxy("GET", "/orders/7", token=jwt())
    assert status(handler, event) == 200
    assert status(handler, event) == 429  # alice is throttled
    assert limiter.usage(principal_key(Principal("alice", issuer=ISS)))[0].remaining == 0
    assert limiter.usage("user:alice")[0].remaining == 1


def test_usage_read_with_the_request_and_the_mapped_principal_sees_the_spent_quota() -> None:
    limiter = one_a_minute()
    handler = Guard(ours(), routes=ROUTES, decision_log=None, rate_limit=limiter)(ok)
    token = jwt()
    event = http_proxy("GET", "/orders/7", token=token)
    assert status(handler, event) == 200
    principal = ClaimMapper().map(ours().verify(token))
    assert principal.issuer == ISS
    assert limiter.usage(event, principal)[0].remaining == 0
    assert limiter.usage(event, Principal("alice", issuer=PARTNER))[0].remaining == 1


def test_the_authorizers_context_and_a_verifying_guard_count_one_bucket() -> None:
    """The authorizer puts ``secauth_issuer`` in the context; a trust-only Guard reads it
    back, so a function that verifies tokens itself and one that trusts the authorizer
    spend the same per-principal quota (no doubling between the two)."""
    store = MemoryStore()
    verifying = Guard(ours(), routes=ROUTES, decision_log=None, rate_limit=one_a_minute(store))
    trusting = Guard(routes=ROUTES, trust_authorizer=True, decision_log=None,
                     rate_limit=one_a_minute(store))  # fmt: skip
    token = jwt()
    answer = Authorizer(ours(), routes=ROUTES, cache_ttl=0, decision_log=None).handler(
        http_authorizer_v2("GET", "/orders/7", token=token)
    )
    context = answer["context"]
    assert context["secauth_issuer"] == ISS
    assert status(verifying(ok), http_proxy("GET", "/orders/7", token=token)) == 200
    behind = http_proxy("GET", "/orders/7")
    behind["requestContext"]["authorizer"] = {"lambda": context}
    assert status(trusting(ok), behind) == 429


def test_a_partner_token_under_a_multi_issuer_verifier_spends_its_own_quota() -> None:
    verifier = JwtVerifier.multi(
        ours(), JwtVerifier(issuer=PARTNER, audience=AUD, jwks={"keys": [THEIRS.public_jwk]})
    )
    handler = Guard(verifier, routes=ROUTES, decision_log=None, rate_limit=one_a_minute())(ok)
    assert status(handler, http_proxy("GET", "/orders/7", token=jwt(THEIRS, PARTNER))) == 200
    assert status(handler, http_proxy("GET", "/orders/7", token=jwt())) == 200
    assert status(handler, http_proxy("GET", "/orders/7", token=jwt())) == 429


def test_no_two_callers_share_a_key_through_repr_or_field_swaps() -> None:
    callers = [
        Principal("alice"),
        Principal("alice", issuer=ISS),
        Principal("alice", tenant=ISS),
        Principal("alice", issuer=ISS, tenant=ISS),
        Principal("alice", issuer="None"),
        Principal("alice", tenant="None"),
        Principal(ISS, issuer="alice"),
        Principal("alice", issuer=ISS, kind="api_key"),
        Principal("alice", kind="api_key"),
        Principal("user:alice"),
        Principal("alice', 'x"),
        Principal("x", issuer="alice', 'x"),
        Principal("alice", issuer=ISS + "/"),
        Principal("alice", issuer=ISS.upper()),
        Principal("\udcff", issuer=ISS),
        Principal("\u00ff", issuer=ISS),
    ]
    keys = [principal_key(p) for p in callers]
    assert len(set(keys)) == len(callers)
    # and the same caller, built twice (a token, a context), is one key
    again = Principal.from_context(Principal("alice", issuer=ISS, tenant="t").to_context())
    assert principal_key(again) == principal_key(Principal("alice", issuer=ISS, tenant="t"))


def test_keys_with_an_issuer_put_neither_the_issuer_nor_the_user_in_redis(
    private_redis: Any,
) -> None:
    url = f"redis://127.0.0.1:{private_redis.port}/0"
    limiter = RateLimiter.per_principal("5/minute", store=RedisStore(url), name="orders")
    handler = Guard(ours(), routes=ROUTES, decision_log=None, rate_limit=limiter)(ok)
    token = jwt(sub="alice@example.com")
    assert status(handler, http_proxy("GET", "/orders/7", token=token)) == 200
    client = admin(private_redis)
    try:
        names = [name.decode() for name in client.scan_iter(count=1000)]
    finally:
        client.close()
    assert names  # the hit was counted in this server
    for name in names:
        assert "alice" not in name
        assert "example" not in name


def test_penalties_of_tenant_users_are_per_issuer_and_tenantless_users_per_name() -> None:
    penalty = AbusePenalty(auth_failures="1/minute", cooldown=60)
    event = http_proxy("GET", "/orders/7", source_ip="203.0.113.5")
    elsewhere = http_proxy("GET", "/orders/7", source_ip="198.51.100.9")
    ours_t = Principal("alice", issuer=ISS, tenant="acme")
    theirs_t = Principal("alice", issuer=PARTNER, tenant="acme")
    penalty.record_auth_failure(event, ours_t)
    penalty.record_auth_failure(event, ours_t)
    assert penalty.blocked_for(elsewhere, ours_t) > 0
    assert penalty.blocked_for(elsewhere, theirs_t) == 0
    # a user without a tenant is a name as tried, whatever issuer: documented lockout
    penalty.record_auth_failure(event, "Alice")
    penalty.record_auth_failure(event, "Alice")
    assert penalty.blocked_for(elsewhere, Principal("alice", issuer=PARTNER)) > 0


# == 2. revocation entries and their lifetimes =================================================


def listed(clock: Clock, store: Any = None, lifetime: float = 3600) -> Revocations:
    store = MemoryRevocationStore(clock=clock) if store is None else store
    return Revocations(store, clock=clock,
                       max_token_lifetime=lifetime, max_staleness=0)  # fmt: skip


def listed_verifier(revocations: Revocations, clock: Clock, **options: Any) -> JwtVerifier:
    return JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [OURS.public_jwk]},
                       clock=clock, revocations=revocations, **options)  # fmt: skip


@pytest.mark.parametrize(
    ("first", "second", "iat"), [(0, -3600, -10), (600, 0, 5)],
    ids=["past-before-after-sign-out", "plain-sign-out-after-future-before"],
)  # fmt: skip
def test_a_second_sign_out_never_lifts_what_the_first_refused(
    first: int, second: int, iat: int
) -> None:
    """Entries are written with ``SET``/``PutItem``: the last ``revoke_subject`` wins. A
    "sign out everywhere" followed by a routine ``revoke_subject(before=<an older
    time>)`` (a script replaying an audit log, a second admin, a password-change hook
    with a stale timestamp), or a margin ``before=now+600`` followed by a plain sign-out,
    silently accepts tokens the first call refused (and shortens the entry's TTL)."""
    clock = Clock(time.time())
    revocations = listed(clock)
    verifier = listed_verifier(revocations, clock)
    now = int(clock.now)
    token = OURS.sign({"iss": ISS, "aud": AUD, "sub": "alice", "iat": now + iat,
                       "exp": now + iat + 600})  # fmt: skip
    revocations.revoke_subject(ISS, "alice", before=now + first)
    with pytest.raises(TokenRevoked):
        verifier.verify(token)
    revocations.revoke_subject(ISS, "alice", before=now + second)
    with pytest.raises(TokenRevoked):  # observed: accepted again
        verifier.verify(token)


@pytest.mark.parametrize("leeway", [0, 300])
def test_a_revoked_token_issued_now_is_refused_until_it_expires(leeway: int) -> None:
    clock = Clock(time.time())
    revocations = listed(clock)
    verifier = listed_verifier(revocations, clock, leeway=leeway, max_future_iat=3600)
    iat = int(clock.now) + leeway + 3600  # the furthest future iat accepted now
    token = OURS.sign({"iss": ISS, "aud": AUD, "sub": "alice", "jti": "leaked",
                       "iat": iat, "exp": iat + 3600})  # fmt: skip
    assert verifier.verify(token)["jti"] == "leaked"
    revocations.revoke_token(ISS, "leaked")
    for step in (3600, 2 * leeway + 3599):  # exp + leeway is 2*leeway + 7200 ahead
        clock.now += step
        with pytest.raises(TokenRevoked):
            verifier.verify(token)
    clock.now += 2
    with pytest.raises(TokenError) as late:
        verifier.verify(token)
    assert not isinstance(late.value, TokenRevoked)  # expired by then, not revoked


def test_redis_entries_live_the_lifetime_plus_the_margin_and_huge_befores_fail_loudly(
    private_redis: Any,
) -> None:
    url = f"redis://127.0.0.1:{private_redis.port}/0"
    store = RedisRevocationStore(url)
    revocations = Revocations(store, max_token_lifetime=3600, max_staleness=0)
    revocations.revoke_token(ISS, "j-1")
    client = admin(private_redis)
    try:
        (name,) = list(client.scan_iter(count=1000))
        ttl = client.pttl(name)
        assert (3600 + ENTRY_MARGIN - 60) * 1000 < ttl <= (3600 + ENTRY_MARGIN) * 1000 + 1
        revocations.revoke_subject(ISS, "ann", before=float(2**53))  # stored, forever
        claims = {"iss": ISS, "sub": "ann", "iat": int(time.time()), "exp": 10**10}
        assert revocations.is_revoked(claims)
        for before in (1e16, 1e300):  # beyond 2**53: the admin hears of it, nothing is written
            with pytest.raises(ConfigurationError):
                revocations.revoke_subject(ISS, "bob", before=before)
    finally:
        client.close()


def effect(authorizer: Authorizer, event: dict[str, Any]) -> str:
    try:
        answer = authorizer.handler(copy.deepcopy(event))
    except Exception as exc:  # API Gateway's 401: raise Exception("Unauthorized")
        return str(exc)
    return str(answer["policyDocument"]["Statement"][0]["Effect"])


def test_the_authorizer_refuses_a_token_revoked_after_it_was_allowed() -> None:
    revocations = Revocations(MemoryRevocationStore(), max_token_lifetime=3600, max_staleness=0)
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [OURS.public_jwk]},
                           revocations=revocations)  # fmt: skip
    authorizer = Authorizer(verifier, routes=ROUTES, cache_ttl=0, decision_log=None)
    token = jwt(jti="t-1")
    event = http_authorizer_v2("GET", "/orders/7", token=token)
    for _ in range(3):  # verified, cached, memoized
        assert effect(authorizer, event) == "Allow"
    revocations.revoke_subject(ISS, "alice", before=time.time() + 1)
    assert effect(authorizer, event) in ("Deny", "Unauthorized")


def test_a_trusting_guard_refuses_a_context_past_its_tokens_expiry_and_leeway() -> None:
    guard = Guard(routes=ROUTES, trust_authorizer=True, decision_log=None)(ok)
    context = Principal("alice", issuer=ISS, claims={"exp": int(time.time()) - 1}).to_context()
    event = http_proxy("GET", "/orders/7")
    event["requestContext"]["authorizer"] = {"lambda": context}
    assert status(guard, event) == 401
    context["secauth_exp"] = "9" * 17  # beyond 2**53: malformed, never "far future"
    assert status(guard, event) == 401


# == 3. the periodic eviction check ============================================================


class HandMonotonic:
    def __init__(self) -> None:
        self.now = 5000.0

    def monotonic(self) -> float:
        return self.now


def evict(server: Any, on: bool) -> None:
    client = admin(server)
    try:
        client.config_set("maxmemory", "2mb" if on else "0")
        client.config_set("maxmemory-policy", "allkeys-lru" if on else "noeviction")
    finally:
        client.close()


def test_the_recheck_runs_when_due_and_a_failure_is_never_remembered_as_a_pass(
    private_redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hand = HandMonotonic()
    monkeypatch.setattr(redis_helpers, "time", SimpleNamespace(monotonic=hand.monotonic))
    url = f"redis://127.0.0.1:{private_redis.port}/0"
    store = RedisRevocationStore(url, eviction_recheck=60)
    store.put("jti|x|1", 1.0, time.time() + 60)  # checked: no maxmemory
    evict(private_redis, True)
    hand.now += 59.9
    assert store.lookup(["jti|x|1"]) == {"jti|x|1": 1.0}  # within the documented window
    hand.now += 0.1  # due
    for _ in range(3):  # every call while it fails asks again
        with pytest.raises(StoreUnavailable):
            store.lookup(["jti|x|1"])
    evict(private_redis, False)
    assert store.lookup(["jti|x|1"]) == {"jti|x|1": 1.0}  # at once, no 60 s penalty
    hand.now -= 10_000  # a clock edge backwards: never a failure skipped for good
    evict(private_redis, True)
    hand.now += 10_060
    with pytest.raises(StoreUnavailable):
        store.lookup(["jti|x|1"])


def test_dpop_replay_records_never_pass_while_the_check_fails(private_redis: Any) -> None:
    url = f"redis://127.0.0.1:{private_redis.port}/0"
    store = RedisReplayStore(url, eviction_recheck=0)
    until = time.time() + 300
    assert store.first_use("jkt:proof-1", until) is True
    evict(private_redis, True)
    for key in ("jkt:proof-1", "jkt:proof-2"):
        with pytest.raises(ReplayStoreUnavailable):
            store.first_use(key, until)
    evict(private_redis, False)
    assert store.first_use("jkt:proof-1", until) is False  # still a replay
    assert store.first_use("jkt:proof-2", until) is True  # never recorded while failing


@pytest.mark.parametrize("every", [float("nan"), float("inf"), -1, 3601, True, "60", None, 1e400])
def test_eviction_recheck_accepts_seconds_from_0_to_3600_only(every: Any) -> None:
    for store in (RedisRevocationStore, RedisReplayStore):
        with pytest.raises(ConfigurationError):
            store("redis://127.0.0.1:1/0", eviction_recheck=every)
        with pytest.raises(ConfigurationError):
            store("redis://127.0.0.1:1/0", check_eviction=False, eviction_recheck=every)
    for fine in (0, 0.5, 3600):
        RedisRevocationStore("redis://127.0.0.1:1/0", eviction_recheck=fine)


class HeldInfo:
    """A real client whose next INFO reply is held until released (the answer read
    before the hold: a slow reply in flight)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.hold = True
        self.read = threading.Event()
        self.release = threading.Event()

    def info(self, *args: Any, **kwargs: Any) -> Any:
        answer = self._client.info(*args, **kwargs)
        if self.hold:
            self.hold = False
            self.read.set()
            assert self.release.wait(30)
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_later_failed_check_is_not_overridden_by_an_older_pass_in_flight(
    private_redis: Any,
) -> None:
    """Two threads of one container: A's INFO (read while the server never evicted) is
    slow; meanwhile the policy turns evicting and B's check fails. A then stores
    ``_due = now + 60``: for a minute the store writes and trusts entries on a server
    it has just seen evicting (every call after B's failure should check again)."""
    import redis

    client = HeldInfo(redis.Redis(host="127.0.0.1", port=private_redis.port))
    store = RedisRevocationStore(client=client, eviction_recheck=60)
    errors: list[BaseException] = []

    def slow() -> None:
        try:
            store.lookup(["jti|x|1"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    first = threading.Thread(target=slow)
    first.start()
    assert client.read.wait(30)
    evict(private_redis, True)
    with pytest.raises(StoreUnavailable):  # B saw it
        store.lookup(["jti|x|1"])
    client.release.set()
    first.join(30)
    assert not errors
    try:
        with pytest.raises(StoreUnavailable):  # observed: the lookup passes
            store.lookup(["jti|x|1"])
    finally:
        client.close()
