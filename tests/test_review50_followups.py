"""Review 50: the fixes of review 49 attacked (``secauth.issuers.issuer_key`` in
``principal_key``, revocation stores keeping the later time of two writes, the eviction
check's race, ``secauth usage --issuer``).

Real parts only, on loopback: KeyPair-signed JWTs verified against JWKS dicts, private
redis-servers (one Redis Cluster), dynalite (``rl_services``). Clocks are moved by hand
(``tests/hand_clock.py``, a hand clock in place of ``time.monotonic``); no test asserts on
a duration.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; attacks the
library resists are plain tests.
"""

from __future__ import annotations

import copy
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from hand_clock import Clock
from rl_services import RedisCluster

import secauth._redis as redis_helpers
from secauth import Guard, JwtVerifier, Principal, Routes, authenticated, cli
from secauth.issuers import issuer_key
from secauth.ratelimit import MemoryStore, RateLimiter
from secauth.ratelimit.keys import principal_key
from secauth.revocation import ENTRY_MARGIN, Revocations, StoreUnavailable, revocation_keys
from secauth.revocation_stores import (
    DynamoDBRevocationStore,
    MemoryRevocationStore,
    RedisRevocationStore,
)
from secauth.testing import KeyPair
from secauth.testing_events import http_proxy

POOL = "eu-west-1_AbC123"
COGNITO = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}"
COGNITO_NEW = f"https://issuer-cognito-idp.eu-west-1.amazonaws.com/{POOL}"
COGNITO_REPLICA = f"https://cognito-idp.eu-central-1.amazonaws.com/{POOL}"
AUD = "orders-api"
ROUTES = Routes({"GET /orders/7": authenticated()})
POOL_KEYS = KeyPair.generate("ES256", kid="pool")
PARTNER_KEYS = KeyPair.generate("ES256", kid="partner")
DAY = 86_400.0


def ok(event: Any, context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


def status(handler: Any, event: dict[str, Any]) -> int:
    return int(handler(copy.deepcopy(event), None)["statusCode"])


def jwt(pair: KeyPair, iss: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": iss, "aud": AUD, "sub": "alice", "iat": now, "exp": now + 600, **claims}
    return pair.sign(body)


def verifier(iss: str, pair: KeyPair) -> JwtVerifier:
    return JwtVerifier(issuer=iss, audience=AUD, jwks={"keys": [pair.public_jwk]})


def one_a_minute() -> RateLimiter:
    return RateLimiter.per_principal(
        "1/minute", algorithm="fixed_window", store=MemoryStore(), name="orders"
    )


def subject_key(iss: str, sub: str = "alice") -> str:
    return dict(revocation_keys({"iss": iss, "sub": sub}))["subject"]


# == 1. issuer_key in principal_key ===========================================================


def test_only_exact_cognito_issuers_name_the_pool_and_lookalikes_stay_themselves() -> None:
    """Both formats, replica Regions and the China partition name one pool; a port, a
    trailing slash, upper case, http, a query or a path suffix keep the raw issuer (a
    separate namespace, never the pool's)."""
    for same in (COGNITO, COGNITO_NEW, COGNITO_REPLICA):
        assert issuer_key(same) == f"cognito:{POOL}"
    china = "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_Zz9"
    assert issuer_key(china) == "cognito:cn-north-1_Zz9"
    for other in (
        f"https://cognito-idp.eu-west-1.amazonaws.com:443/{POOL}",
        f"{COGNITO}/",
        COGNITO.upper(),
        f"https://COGNITO-IDP.eu-west-1.amazonaws.com/{POOL}",
        COGNITO.replace("https", "http"),
        f"{COGNITO}?x=1",
        f"{COGNITO}/extra",
        f"https://cognito-idp.eu-west-1.amazonaws.com.evil.example/{POOL}",
        f"https://evil.example/cognito-idp.eu-west-1.amazonaws.com/{POOL}",
        f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}\n",
    ):
        assert issuer_key(other) == other, other
        assert principal_key(Principal("alice", issuer=other)) != principal_key(
            Principal("alice", issuer=COGNITO)
        )


def test_pools_differing_only_in_the_region_prefix_or_case_are_different_callers() -> None:
    others = (
        "https://cognito-idp.eu-west-1.amazonaws.com/us-east-1_AbC123",
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-2_AbC123",
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc123",
    )
    keys = {principal_key(Principal("alice", issuer=iss)) for iss in (COGNITO, *others)}
    assert len(keys) == 4
    store = MemoryRevocationStore()
    revocations = Revocations(store, max_staleness=0)
    revocations.revoke_subject(COGNITO, "alice", before=time.time() + 5)
    for iss in others:
        assert not revocations.is_revoked({"iss": iss, "sub": "alice", "iat": int(time.time())})
    assert revocations.is_revoked({"iss": COGNITO_NEW, "sub": "alice", "iat": int(time.time())})


def test_revocation_and_rate_limit_keys_group_issuers_alike() -> None:
    """Two issuers share a quota exactly when they share revocation entries."""
    issuers = [
        COGNITO,
        COGNITO_NEW,
        COGNITO_REPLICA,
        "https://idp.example.com/",
        "https://idp.example.com",
        f"{COGNITO}/",
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other1",
    ]
    for a in issuers:
        for b in issuers:
            same_quota = principal_key(Principal("alice", issuer=a)) == principal_key(
                Principal("alice", issuer=b)
            )
            assert same_quota == (subject_key(a) == subject_key(b)), (a, b)


def test_a_cognito_user_with_a_tenant_and_an_issuer_is_keyed_by_pool_and_tenant() -> None:
    a = Principal("alice", issuer=COGNITO, tenant="acme")
    b = Principal("alice", issuer=COGNITO_NEW, tenant="acme")
    c = Principal("alice", issuer=COGNITO_NEW, tenant="other")
    d = Principal("alice", issuer=COGNITO_NEW, tenant="acme", kind="api_key")
    assert principal_key(a) == principal_key(b)
    assert len({principal_key(x) for x in (b, c, d)}) == 3


def test_an_issuer_spelled_like_a_pool_key_shares_no_quota_or_sign_out_with_the_pool() -> None:
    """``issuer_key`` returns any other issuer unchanged, so an issuer whose string is
    ``cognito:eu-west-1_AbC123`` (JwtVerifier accepts any non-empty ``iss``) lands in the
    pool's namespace. In a multi-issuer verifier the partner's ``alice`` spends the pool
    user ``alice``'s quota, and a sign-out of either reaches the other."""
    partner_iss = f"cognito:{POOL}"
    multi = JwtVerifier.multi(verifier(COGNITO, POOL_KEYS), verifier(partner_iss, PARTNER_KEYS))
    handler = Guard(multi, routes=ROUTES, decision_log=None, rate_limit=one_a_minute())(ok)
    partner = http_proxy("GET", "/orders/7", token=jwt(PARTNER_KEYS, partner_iss))
    pool_user = http_proxy("GET", "/orders/7", token=jwt(POOL_KEYS, COGNITO))
    assert status(handler, partner) == 200
    assert status(handler, pool_user) == 200  # observed: 429, the partner spent it
    revocations = Revocations(MemoryRevocationStore(), max_staleness=0)
    revocations.revoke_subject(partner_iss, "alice", before=time.time() + 5)
    now = int(time.time())
    assert not revocations.is_revoked({"iss": COGNITO, "sub": "alice", "iat": now})  # observed


def test_an_s3_bucket_host_is_not_taken_for_a_cognito_endpoint() -> None:
    """``[a-z0-9-]+`` accepts any label as a Region: ``cognito-idp.s3.amazonaws.com`` is
    the virtual host of an S3 bucket named ``cognito-idp`` (whoever owns it), a common
    home for a static OIDC issuer. A partner issuer hosted there under the path of a
    victim pool shares that pool's quota and revocation entries."""
    for s3 in (
        f"https://cognito-idp.s3.amazonaws.com/{POOL}",
        f"https://issuer-cognito-idp.s3-us-west-2.amazonaws.com/{POOL}",
        f"https://cognito-idp.s3-external-1.amazonaws.com/{POOL}",
    ):
        assert issuer_key(s3) != issuer_key(COGNITO), s3  # observed: cognito:eu-west-1_...
        assert subject_key(s3) != subject_key(COGNITO)


# == 2. revocation stores keep the later time ==================================================


def test_a_skewed_containers_repeat_never_shortens_a_jti_entry() -> None:
    """Container A (clock ahead) revokes a jti; container B (clock behind) repeats it. The
    entry keeps A's later time and expiry, so the token stays refused as long as A's
    write promised."""
    store_clock = Clock(2000.0)
    store = MemoryRevocationStore(clock=store_clock)
    ahead = Revocations(store, max_staleness=0, clock=Clock(2000.0), max_token_lifetime=3600)
    behind = Revocations(store, max_staleness=0, clock=Clock(1400.0), max_token_lifetime=3600)
    ahead.revoke_token(COGNITO, "t-1")
    behind.revoke_token(COGNITO_NEW, "t-1")  # the same pool, the other format
    store_clock.now = 2000.0 + 3600 + ENTRY_MARGIN - 1
    assert store.lookup([dict(revocation_keys({"iss": COGNITO, "jti": "t-1"}))["jti"]]) == {
        f"jti|cognito:{POOL}|t-1": 2000.0
    }
    store_clock.now += 1
    assert ahead.is_revoked({"iss": COGNITO, "jti": "t-1"}) is False  # then forgotten


def test_redis_keeps_the_later_time_and_its_ttl_and_replaces_unreadable_values(redis_client: Any) -> None:
    store = RedisRevocationStore(client=redis_client)
    key = "subject|x|alice"
    name = store._name(key)
    store.put(key, 2000.0, time.time() + 7200)
    pttl = redis_client.pttl(name)
    store.put(key, 1000.0, time.time() + 3 * 86_400)  # earlier: the time stays...
    store.put(key, 2000.0, time.time() + 3 * 86_400)  # equal: the time stays as well
    assert store.lookup([key]) == {key: 2000.0}
    assert redis_client.pttl(name) > max(pttl, 2 * 86_400_000)  # ...and it lives as long as either needs
    store.put(key, 3000.0, time.time() + 9000)
    assert store.lookup([key]) == {key: 3000.0}
    for damaged in (b"garbage", b"nan", b"", b"1_000_000_000_000"):
        redis_client.set(name, damaged, px=60_000)
        store.put(key, 4000.0, time.time() + 9000)
        assert store.lookup([key]) == {key: 4000.0}, damaged
    redis_client.delete(name)
    redis_client.hset(name, "at", "1")  # a key of another type: the write fails loudly
    with pytest.raises(StoreUnavailable):
        store.put(key, 5000.0, time.time() + 9000)


def test_redis_a_damaged_infinite_value_is_replaced_by_a_new_revocation(redis_client: Any) -> None:
    """The script replaces "an unreadable one", but Lua's ``tonumber`` reads ``inf`` (and
    ``1e400``, ``infinity``) as infinity, which Python's reader refuses: the new write is
    skipped (put reports success) and every lookup of the key fails until its TTL."""
    store = RedisRevocationStore(client=redis_client)
    key = "subject|x|bob"
    redis_client.set(store._name(key), b"inf", px=86_400_000)
    store.put(key, 4000.0, time.time() + 9000)
    assert store.lookup([key]) == {key: 4000.0}  # observed: StoreUnavailable


def test_redis_cluster_eval_keeps_the_later_time() -> None:
    """The script runs in a Cluster: one key, hash-tagged, routed to its shard."""
    cluster = RedisCluster(primaries=3).start()
    try:
        store = RedisRevocationStore(cluster.url, cluster=True, socket_timeout=2.0)
        keys = [f"subject|cognito:{POOL}|user-{n}" for n in range(5)]
        for key in keys:
            store.put(key, 2000.0, time.time() + 600)
            store.put(key, 1000.0, time.time() + 600)
        assert store.lookup(keys) == dict.fromkeys(keys, 2000.0)
        store.put(keys[0], 2500.0, time.time() + 600)
        assert store.lookup(keys[:1]) == {keys[0]: 2500.0}
    finally:
        cluster.stop()


def test_dynamodb_an_expired_undeleted_later_item_is_replaced_and_a_live_one_stands(
    revocation_dynamodb: DynamoDBRevocationStore, ddb_client: Any
) -> None:
    store = revocation_dynamodb
    now = time.time()
    ddb_client.put_item(
        TableName=store.table,
        Item={
            "pk": {"S": store.item_key("subject|x|a")},
            "at": {"N": "9000000000"},
            "expires_at": {"N": str(int(now) - 5)},
        },
    )
    assert store.lookup(["subject|x|a"]) == {"subject|x|a": None}  # expired: no entry
    store.put("subject|x|a", now, now + 3600)
    assert store.lookup(["subject|x|a"]) == {"subject|x|a": now}
    store.put("subject|x|b", now, now + 3600)
    store.put("subject|x|b", now - 100, now + 7200)  # earlier: the time stays...
    store.put("subject|x|b", now, now + 7200)  # equal: the time stays
    assert store.lookup(["subject|x|b"]) == {"subject|x|b": now}
    pk = {"pk": {"S": store.item_key("subject|x|b")}}
    item = ddb_client.get_item(TableName=store.table, Key=pk)["Item"]
    assert int(item["expires_at"]["N"]) >= now + 7199  # ...living as long as either needs
    store.put("subject|x|b", now + 1, now + 7200)
    assert store.lookup(["subject|x|b"]) == {"subject|x|b": now + 1}


def test_dynamodb_a_damaged_item_is_replaced_by_a_new_revocation(
    revocation_dynamodb: DynamoDBRevocationStore, ddb_client: Any
) -> None:
    """An item whose ``at`` is not a number fails every lookup (closed), and the condition
    ``#at < :at`` is false on it: a new revocation is skipped as if "a later revocation
    stands". Under ``failure="open"`` the subject the operator just signed out is let
    through until the damaged item's TTL (never, without one)."""
    store = revocation_dynamodb
    key = subject_key(COGNITO, "mallory")
    damaged = {"pk": {"S": store.item_key(key)}, "at": {"S": "damaged"}}
    ddb_client.put_item(TableName=store.table, Item=damaged)
    with pytest.raises(StoreUnavailable):  # the damaged item is the one lookups read
        store.lookup([key])
    revocations = Revocations(store, max_staleness=0, failure="open")
    revocations.revoke_subject(COGNITO, "mallory")  # no error
    claims = {"iss": COGNITO, "sub": "mallory", "iat": int(time.time()) - 60}
    assert revocations.is_revoked(claims)  # observed: False (the store "fails", open)


def test_a_later_short_lived_write_never_shortens_an_entry_a_long_lived_token_needs() -> None:
    """The app (tokens live 7 days) revokes a jti; an operator repeats it with ``secauth
    revoke`` (``--max-token-lifetime`` defaults to one day). The later ``at`` wins "with
    its own expiry": the entry now ends a day later, and the revoked 7-day token is
    accepted again for the rest of its life. The same holds for subject entries, and the
    reverse (an earlier ``before`` with a longer lifetime is refused outright)."""
    clock = Clock(1000.0)
    store = MemoryRevocationStore(clock=clock)
    app = Revocations(store, max_staleness=0, max_token_lifetime=7 * DAY, clock=clock)
    cli_like = Revocations(store, max_staleness=0, max_token_lifetime=DAY, clock=clock)
    token = {"iss": COGNITO, "sub": "alice", "jti": "t-7d", "iat": 900, "exp": 900 + 7 * DAY}
    app.revoke_token(COGNITO, "t-7d")
    clock.now = 2000.0
    cli_like.revoke_token(COGNITO, "t-7d")
    clock.now = 2000.0 + DAY + ENTRY_MARGIN + 1  # the token lives for 5 more days
    assert app.is_revoked(token)  # observed: False


def test_redis_a_later_short_lived_write_keeps_the_longer_expiry(redis_client: Any) -> None:
    store = RedisRevocationStore(client=redis_client)
    key = "jti|x|t-7d"
    store.put(key, 1000.0, time.time() + 7 * DAY)
    store.put(key, 2000.0, time.time() + DAY)
    assert redis_client.pttl(store._name(key)) > 6 * DAY * 1000  # observed: about one day


def test_dynamodb_a_later_short_lived_write_keeps_the_longer_expiry(
    revocation_dynamodb: DynamoDBRevocationStore, ddb_client: Any
) -> None:
    store = revocation_dynamodb
    now = time.time()
    store.put("jti|x|t-7d", now, now + 7 * DAY)
    store.put("jti|x|t-7d", now + 1, now + DAY)
    item = ddb_client.get_item(TableName=store.table, Key={"pk": {"S": store.item_key("jti|x|t-7d")}})["Item"]
    assert int(item["expires_at"]["N"]) > now + 6 * DAY  # observed: now + one day


# == 3. the eviction check's race ==============================================================


class Counted:
    """A real client counting INFO calls; ``hold_after_read`` parks the next INFO reply
    (read already) until released."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.infos = 0
        self.hold = False
        self.read = threading.Event()
        self.release = threading.Event()

    def info(self, *args: Any, **kwargs: Any) -> Any:
        self.infos += 1
        answer = self._client.info(*args, **kwargs)
        if self.hold:
            self.hold = False
            self.read.set()
            assert self.release.wait(30)
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def set_evicting(client: Any, on: bool) -> None:
    client.config_set("maxmemory", "2mb" if on else "0")
    client.config_set("maxmemory-policy", "allkeys-lru" if on else "noeviction")


class HandMonotonic:
    def __init__(self) -> None:
        self.now = 5000.0

    def monotonic(self) -> float:
        return self.now


def test_a_pass_started_after_a_failure_counts_and_the_window_then_holds(
    redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hand = HandMonotonic()
    monkeypatch.setattr(redis_helpers, "time", SimpleNamespace(monotonic=hand.monotonic))
    client = Counted(redis_client)
    store = RedisRevocationStore(client=client, eviction_recheck=60)
    try:
        set_evicting(redis_client, True)
        with pytest.raises(StoreUnavailable):
            store.lookup(["jti|x|1"])
        set_evicting(redis_client, False)
        hand.now += 0.001  # a pass started after the failure
        store.lookup(["jti|x|1"])
        checks = client.infos
        hand.now += 59
        store.lookup(["jti|x|1"])
        assert client.infos == checks  # within the window: not asked again
        hand.now += 1
        store.lookup(["jti|x|1"])
        assert client.infos == checks + 1
    finally:
        set_evicting(redis_client, False)


def test_a_failure_read_before_a_concurrent_pass_resets_the_window(redis_client: Any) -> None:
    """Thread B reads INFO while the server evicts and is slow to report; the policy
    turns safe, thread A's check passes (window set), then B fails: the window is
    dropped and the next call asks again."""
    client = Counted(redis_client)
    store = RedisRevocationStore(client=client, eviction_recheck=3600)
    errors: list[BaseException] = []
    set_evicting(redis_client, True)
    client.hold = True

    def slow() -> None:
        try:
            store.lookup(["jti|x|1"])
        except BaseException as exc:
            errors.append(exc)

    b = threading.Thread(target=slow)
    b.start()
    try:
        assert client.read.wait(30)
        set_evicting(redis_client, False)
        store.lookup(["jti|x|1"])  # A passes
        client.release.set()
        b.join(30)
        assert len(errors) == 1
        assert isinstance(errors[0], StoreUnavailable)
        before = client.infos
        store.lookup(["jti|x|1"])
        assert client.infos == before + 1  # checked again, and passes
        store.lookup(["jti|x|1"])
        assert client.infos == before + 1  # that pass counts
    finally:
        client.release.set()
        set_evicting(redis_client, False)


def test_many_threads_never_record_a_pass_while_the_server_evicts(redis_client: Any) -> None:
    client = Counted(redis_client)
    store = RedisRevocationStore(client=client, eviction_recheck=3600)
    set_evicting(redis_client, True)
    outcomes: list[str] = []
    lock = threading.Lock()

    def call() -> None:
        try:
            store.put("jti|x|2", 1.0, time.time() + 60)
            result = "passed"
        except StoreUnavailable:
            result = "refused"
        with lock:
            outcomes.append(result)

    try:
        threads = [threading.Thread(target=call) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert outcomes == ["refused"] * 16
        assert redis_client.get(store._name("jti|x|2")) is None
    finally:
        set_evicting(redis_client, False)


# == 4. secauth usage --issuer ================================================================

USAGE_APP = """
from secauth.principal import Principal
from secauth.ratelimit import MemoryStore, RateLimiter
from secauth.testing_events import http_proxy

limiter = RateLimiter.per_principal("1/minute", algorithm="fixed_window", store=MemoryStore())
limiter.hit(http_proxy("GET", "/", source_ip="192.0.2.1"), Principal("carol", issuer={iss!r}))
"""


def test_usage_issuer_reads_the_pools_bucket_by_any_issuer_and_refuses_an_empty_one(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "usage_app_r50.py").write_text(USAGE_APP.format(iss=COGNITO_REPLICA))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    base = ["usage", "usage_app_r50:limiter", "--ip", "192.0.2.1", "--principal", "carol"]
    assert cli.main([*base, "--issuer", COGNITO_NEW]) == 1  # spent, read via the other format
    assert cli.main([*base, "--issuer", f"{COGNITO_NEW}/"]) == 0  # another issuer
    assert cli.main([*base, "--issuer", f"cognito:{POOL}x"]) == 0
    assert cli.main([*base, "--issuer", ""]) == 2  # never silently "no issuer"
    capsys.readouterr()
