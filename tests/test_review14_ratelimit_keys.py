"""Review 14: adversarial review of rate limiting and API keys.

Real stores where stores matter: a redis-server and dynalite on loopback (``rl_services``,
as the rate-limit tests start them). The findings' tests failed before their fixes (they
were ``xfail(strict=True)`` until then); the attacks that held are pinned by passing tests.
"""

from __future__ import annotations

import copy
import json
import logging
import socket
import threading
from typing import Any

import pytest
from rl_services import free_port

from secauth import Authorizer, Guard, Routes, StaticApiKeys, authenticated, public
from secauth.credentials import ApiKeyEntry, hash_api_key
from secauth.errors import ConfigurationError
from secauth.principal import Principal
from secauth.ratelimit import (
    AbusePenalty,
    AsyncRedisStore,
    DynamoDBStore,
    Limit,
    MemoryStore,
    PlanFrom,
    RateLimiter,
    RedisStore,
)
from secauth.ratelimit.penalties import _member
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    rest_proxy,
    websocket_connect,
)

KEY = "pk-live-0123456789abcdefghij"
OTHER_KEY = "pk-live-zyxwvutsrqponmlkjihg"
ORDERS = Routes({"GET /orders": authenticated(), "$connect": authenticated()})


# -- servers ------------------------------------------------------------------------------


_tables = iter(range(10**6))


def _ddb_store(client: Any, **options: Any) -> DynamoDBStore:
    store = DynamoDBStore(f"review14-{next(_tables)}", client=client, **options)
    store.create_table()
    return store


class _SharedMemory(MemoryStore):
    """A MemoryStore the limiter treats as a shared store (deny cache, breaker), for tests
    that need no server."""

    shared = True


def _http(ip: str = "203.0.113.5", **sent: Any) -> dict[str, Any]:
    return http_proxy("GET", "/orders", source_ip=ip, **sent)


def _effect(response: dict[str, Any]) -> str:
    return str(response["policyDocument"]["Statement"][0]["Effect"])


# == findings ==============================================================================


def test_dynamodb_penalty_blocks_again_after_a_cooldown_shorter_than_the_window(
    ddb_client: Any,
) -> None:
    clock = [7200.0 * 1000]  # an hour edge: the whole test stays in one window
    store = _ddb_store(ddb_client, clock=lambda: clock[0])
    penalty = AbusePenalty(
        store=store, auth_failures="3/hour", unknown_paths=None, cooldown=60, deny_cache=False
    )
    event = _http()
    assert [penalty.record_auth_failure(event) for _ in range(4)][-1] == 60.0
    clock[0] += 61  # the block is over; the hour's window is not
    assert penalty.blocked_for(event) == 0.0
    # MemoryStore and RedisStore start a fresh count after a block: 3 more failures pass,
    # the 4th blocks again. DynamoDB's counter stayed at 4 > 3, so every record failed its
    # condition, read the (expired) block and answered 0: never blocked again.
    after = [penalty.record_auth_failure(event) for _ in range(10)]
    assert max(after) > 0
    assert penalty.blocked_for(event) > 0


@pytest.mark.parametrize("detector", ["auth_failures", "unknown_paths"])
def test_dynamodb_penalty_counts_afresh_after_a_block_as_memory_does(
    ddb_client: Any, detector: str
) -> None:
    """The same answers as MemoryStore: nothing counts during the block; after it, the
    next threshold + 1 events (distinct paths for the scan detector) block again."""
    clock = [7200.0 * 1000]
    store = _ddb_store(ddb_client, clock=lambda: clock[0])
    other = "unknown_paths" if detector == "auth_failures" else "auth_failures"
    options: dict[str, Any] = {detector: "3/hour", other: None}
    penalty = AbusePenalty(store=store, cooldown=60, deny_cache=False, **options)
    paths = iter(f"/scan-{n}" for n in range(100))

    def record() -> float:
        event = _http()
        if detector == "auth_failures":
            return penalty.record_auth_failure(event)
        return penalty.record_not_found(event, next(paths))

    assert [record() for _ in range(4)] == [0.0, 0.0, 0.0, 60.0]
    clock[0] += 30
    assert [record() for _ in range(5)] == [30.0] * 5  # the block, nothing counted
    clock[0] += 31
    assert [record() for _ in range(4)] == [0.0, 0.0, 0.0, 60.0]
    assert penalty.blocked_for(_http()) == 60.0


def test_dynamodb_penalty_restarted_by_concurrent_events_counts_each_once(
    ddb_client: Any,
) -> None:
    clock = [7200.0 * 1000]
    store = _ddb_store(ddb_client, clock=lambda: clock[0])
    penalty = AbusePenalty(
        store=store, auth_failures="10/hour", unknown_paths=None, cooldown=60, deny_cache=False
    )
    event = _http()
    assert max(penalty.record_auth_failure(event) for _ in range(11)) == 60.0
    clock[0] += 61
    start = threading.Barrier(4)
    answers: list[float] = []

    def fail_twice() -> None:
        start.wait()
        answers.extend(penalty.record_auth_failure(event) for _ in range(2))

    workers = [threading.Thread(target=fail_twice) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert answers == [0.0] * 8  # one event restarted the count, the others added to it
    assert [penalty.record_auth_failure(event) for _ in range(3)] == [0.0, 0.0, 60.0]


def test_async_redis_scan_detector_counts_every_distinct_path_too(
    redis_url: str, redis_client: Any
) -> None:
    import asyncio

    first = [f"/probe-{n}" for n in range(20)]
    paths = first + _invisible_paths(redis_client, first, 5)
    penalty = AbusePenalty(
        store=AsyncRedisStore(url=redis_url), auth_failures=None, unknown_paths="20/10minutes",
        deny_cache=False,
    )  # fmt: skip
    event = _http()

    async def scan() -> list[float]:
        return [await penalty.record_not_found_async(event, path) for path in paths]

    answers = asyncio.run(scan())
    assert answers[:21] == [0.0] * 20 + [900.0]  # the 21st distinct path blocks
    assert all(left > 0 for left in answers[21:])


def test_redis_scan_set_stays_bounded_and_is_deleted_at_the_block(
    redis_url: str, redis_client: Any
) -> None:
    penalty = AbusePenalty(
        store=RedisStore(url=redis_url), auth_failures=None, unknown_paths="5/minute",
        cooldown=60, deny_cache=False,
    )  # fmt: skip
    event = _http()
    for n in range(5):
        assert penalty.record_not_found(event, f"/p{n}") == 0.0
    (key,) = redis_client.keys("*:scan:set")
    assert redis_client.type(key) == b"set"
    assert redis_client.scard(key) == 5
    assert 0 < redis_client.pttl(key) <= 60_000
    assert penalty.record_not_found(event, "/p5") == 60.0
    assert not redis_client.exists(key)


def test_memory_and_redis_penalties_do_block_again_after_the_cooldown(redis_url: str) -> None:
    """The behaviour the DynamoDB finding is measured against (memory: injected clock;
    Redis: the block key deleted, as its expiry would)."""
    clock = [0.0]
    penalty = AbusePenalty(
        store=MemoryStore(clock=lambda: clock[0]),
        auth_failures="3/hour",
        unknown_paths=None,
        cooldown=60,
    )
    event = _http()
    assert [penalty.record_auth_failure(event) for _ in range(4)][-1] == 60.0
    clock[0] += 61
    assert [penalty.record_auth_failure(event) for _ in range(4)] == [0.0, 0.0, 0.0, 60.0]

    import redis

    store = RedisStore(url=redis_url)
    on_redis = AbusePenalty(
        store=store, auth_failures="3/hour", unknown_paths=None, cooldown=60, deny_cache=False
    )
    assert [on_redis.record_auth_failure(event) for _ in range(4)][-1] > 0
    client = redis.Redis.from_url(redis_url)
    for key in client.keys("*:b"):
        client.delete(key)  # the block expires
    client.close()
    assert on_redis.blocked_for(event) == 0.0
    assert max(on_redis.record_auth_failure(event) for _ in range(4)) > 0


def _invisible_paths(client: Any, seen: list[str], wanted: int) -> list[str]:
    """Distinct paths whose HyperLogLog member changes no register of an HLL that already
    holds ``seen`` (PFADD answers 0): found with the real server as the oracle."""
    for path in seen:
        client.pfadd("review14:scratch", _member(path))
    found: list[str] = []
    start = 0
    while len(found) < wanted and start < 400_000:
        batch = [f"/wp-{n}.php" for n in range(start, start + 500)]
        start += 500
        pipe = client.pipeline(transaction=False)
        for path in batch:
            pipe.copy("review14:scratch", "review14:probe", replace=True)
            pipe.pfadd("review14:probe", _member(path))
        answers = pipe.execute()[1::2]
        found += [path for path, changed in zip(batch, answers, strict=True) if changed == 0]
    client.delete("review14:scratch", "review14:probe")
    assert len(found) >= wanted
    return found[:wanted]


def test_redis_scan_detector_counts_every_distinct_unknown_path(
    redis_url: str, redis_client: Any
) -> None:
    first = [f"/probe-{n}" for n in range(20)]
    extra = _invisible_paths(redis_client, first, 5)
    paths = first + extra
    assert len(set(paths)) == 25
    penalty = AbusePenalty(
        store=RedisStore(url=redis_url), auth_failures=None, unknown_paths="20/10minutes",
        deny_cache=False,
    )  # fmt: skip
    event = _http()
    for path in paths:
        penalty.record_not_found(event, path)
    # 25 distinct unknown paths > 20: the documented rule blocks the IP (the memory store does)
    assert penalty.blocked_for(event) > 0


def test_memory_scan_detector_blocks_the_same_paths(redis_client: Any) -> None:
    paths = [f"/probe-{n}" for n in range(20)] + _invisible_paths(
        redis_client, [f"/probe-{n}" for n in range(20)], 5
    )
    penalty = AbusePenalty(auth_failures=None, unknown_paths="20/10minutes")
    event = _http()
    for path in paths:
        penalty.record_not_found(event, path)
    assert penalty.blocked_for(event) > 0


def test_authorizer_global_and_per_entry_key_limits_count_apart_on_one_store(
    redis_url: str,
) -> None:
    store = RedisStore(url=redis_url)
    keys = StaticApiKeys({hash_api_key(KEY): ApiKeyEntry("partner-a", rate_limit="4/minute")})
    authorizer = Authorizer(
        api_keys=keys,
        routes=ORDERS,
        decision_log=None,
        rate_limit=RateLimiter.per_api_key("4/minute", store=store),
        api_key_limit_store=store,
    )
    event = request_authorizer("GET", "/orders", headers={"x-api-key": KEY})
    effects = [_effect(authorizer.handler(event)) for _ in range(5)]
    # each limit on its own admits 4 requests; both together must admit 4 too
    assert effects == ["Allow"] * 4 + ["Deny"]


def test_authorizer_global_and_per_entry_key_limits_on_separate_stores_each_admit_the_limit(
    redis_url: str,
) -> None:
    keys = StaticApiKeys({hash_api_key(KEY): ApiKeyEntry("partner-a", rate_limit="4/minute")})
    authorizer = Authorizer(
        api_keys=keys,
        routes=ORDERS,
        decision_log=None,
        rate_limit=RateLimiter.per_api_key("4/minute"),
        api_key_limit_store=RedisStore(url=redis_url),
    )
    event = request_authorizer("GET", "/orders", headers={"x-api-key": KEY})
    effects = [_effect(authorizer.handler(event)) for _ in range(5)]
    assert effects == ["Allow"] * 4 + ["Deny"]


@pytest.mark.parametrize("address", ["2001:db8:1:2::7", "::ffff:198.51.100.7"])
def test_usage_by_address_reads_the_bucket_the_address_is_counted_in(
    redis_url: str, address: str
) -> None:
    limiter = RateLimiter.per_ip("2/minute", store=RedisStore(url=redis_url))
    event = _http(address)
    assert [limiter.hit(event).allowed for _ in range(3)] == [True, True, False]
    assert limiter.usage(event)[0].remaining == 0  # by request: right
    assert limiter.usage(address)[0].remaining == 0  # by "the address for per_ip" (docs)


def test_usage_by_address_follows_the_limiters_ipv6_prefix() -> None:
    limiter = RateLimiter.per_ip("2/minute", ipv6_prefix=48)
    assert [limiter.hit(_http("2001:db8:1:2::7")).allowed for _ in range(2)] == [True, True]
    assert limiter.usage("2001:db8:1:ffff::1")[0].remaining == 0  # the same /48
    assert limiter.usage("2001:db8:2::1")[0].remaining == 2


def test_usage_by_the_fixed_buckets_reads_them_as_before() -> None:
    limiter = RateLimiter.per_ip("2/minute")
    unknown = http_proxy("GET", "/orders", source_ip="not-an-address")
    test_invoke = http_proxy("GET", "/orders", source_ip="test-invoke-source-ip")
    assert limiter.hit(unknown).allowed
    assert limiter.hit(test_invoke).allowed
    assert limiter.hit(test_invoke).allowed
    assert limiter.usage("unknown")[0].remaining == 1
    assert limiter.usage("test-invoke")[0].remaining == 0
    assert limiter.usage("2001:db8:1:2::/64")[0].remaining == 2  # a key as hits write it


def test_usage_by_a_plain_ipv4_address_reads_its_bucket(redis_url: str) -> None:
    limiter = RateLimiter.per_ip("2/minute", store=RedisStore(url=redis_url))
    event = _http("198.51.100.7")
    assert [limiter.hit(event).allowed for _ in range(3)] == [True, True, False]
    assert limiter.usage("198.51.100.7")[0].remaining == 0


def test_a_trust_mode_guard_finds_no_api_key_plan_and_refuses() -> None:
    """Review 14's finding 5, documented (docs/ratelimit.md, Plans): behind the Authorizer a
    trust-mode Guard's principal has no claims, so PlanFrom.api_key() finds no plan; the
    Guard refuses (unknown_plan), never admits unlimited."""
    keys = StaticApiKeys({hash_api_key(KEY): ApiKeyEntry("partner-a", plan="pro")})
    authorizer = Authorizer(api_keys=keys, routes=ORDERS, decision_log=None, api="rest")
    answer = authorizer.handler(request_authorizer("GET", "/orders", headers={"x-api-key": KEY}))
    assert _effect(answer) == "Allow"
    plans = RateLimiter.per_plan(
        {"free": ["1/minute"], "pro": ["100/minute"]}, plan_of=PlanFrom.api_key()
    )
    guard = Guard(routes=ORDERS, rate_limit=plans, decision_log=None)

    @guard
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ok"}

    event = rest_proxy(
        "GET", "/orders", resource="/orders", headers={"x-api-key": KEY},
        authorizer_response=answer,
    )  # fmt: skip
    answers = [handler(event, None) for _ in range(3)]
    assert [a["statusCode"] for a in answers] == [403, 403, 403]
    assert all(json.loads(a["body"])["title"] == "no usage plan for this caller" for a in answers)


# == attacks that held =====================================================================

# -- key spellings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spellings",
    [
        ["2001:db8:1:2::7", "2001:DB8:1:2:0:0:0:8", "2001:0db8:0001:0002:ffff::1"],
        ["198.51.100.7", "::ffff:198.51.100.7", "::FFFF:C633:6407"],
    ],
)
def test_address_spellings_share_one_redis_bucket(redis_url: str, spellings: list[str]) -> None:
    limiter = RateLimiter.per_ip("3/minute", store=RedisStore(url=redis_url))
    answers = [limiter.hit(_http(ip)).allowed for ip in spellings]
    assert answers == [True] * 3
    assert not limiter.hit(_http(spellings[0])).allowed


def test_forwarded_for_rotation_never_moves_the_api_gateway_key(redis_url: str) -> None:
    limiter = RateLimiter.per_ip("2/minute", store=RedisStore(url=redis_url))
    answers = [
        limiter.hit(_http(headers={"x-forwarded-for": f"10.0.0.{n}"})).allowed for n in range(3)
    ]
    assert answers == [True, True, False]


def test_store_keys_never_carry_ids_tenants_or_api_keys(redis_url: str, redis_client: Any) -> None:
    store = RedisStore(url=redis_url)
    hostile = "a{tag}:b#c\u00e9\n" + "x" * 80
    by_principal = RateLimiter.per_principal("5/minute", store=store)
    by_tenant = RateLimiter.per_tenant("5/minute", store=store)
    by_key = RateLimiter.per_api_key("5/minute", store=store)
    caller = Principal(hostile, tenant="t{1}:" + hostile)
    event = _http(headers={"x-api-key": KEY})
    for limiter in (by_principal, by_tenant, by_key):
        assert limiter.hit(event, caller).allowed
    # a user principal's API-key bucket is the header's, hashed: the same one for another
    # verified caller
    assert by_key.hit(event, Principal("someone-else")).remaining == 3
    names = [name.decode() for name in redis_client.keys("*")]
    assert len(names) == 3
    for name in names:
        assert "{" not in name
        assert "}" not in name
        assert "tag" not in name
        assert KEY not in name
        assert "\n" not in name


def test_dynamodb_items_never_carry_ids_or_api_keys(ddb_client: Any) -> None:
    store = _ddb_store(ddb_client)
    hostile = "victim#rl#x#1"
    RateLimiter.per_principal("5/minute", store=store).hit(_http(), Principal(hostile))
    RateLimiter.per_api_key("5/minute", store=store).hit(
        _http(headers={"x-api-key": KEY}), Principal("ann")
    )
    items = ddb_client.scan(TableName=store.table)["Items"]
    assert len(items) == 2
    text = json.dumps(items)
    assert hostile not in text
    assert KEY not in text


def test_same_id_in_two_tenants_has_two_budgets_and_tenants_do_not_share(
    redis_url: str,
) -> None:
    store = RedisStore(url=redis_url)
    per_principal = RateLimiter.per_principal("2/minute", store=store)
    per_tenant = RateLimiter.per_tenant("2/minute", store=store)
    acme, globex = Principal("ann", tenant="acme"), Principal("ann", tenant="globex")
    assert [per_principal.hit(_http(), acme).allowed for _ in range(3)] == [True, True, False]
    assert per_principal.hit(_http(), globex).allowed
    assert [per_tenant.hit(_http(), acme).allowed for _ in range(3)] == [True, True, False]
    assert per_tenant.hit(_http(), Principal("bob", tenant="globex")).allowed


def test_an_api_key_principal_never_shares_a_bucket_with_a_user_of_the_same_id() -> None:
    limiter = RateLimiter.per_principal("1/minute")
    assert limiter.hit(_http(), Principal("partner-a", kind="api_key")).allowed
    assert limiter.hit(_http(), Principal("partner-a")).allowed
    assert limiter.hit(_http(), Principal("api_key:partner-a")).allowed


# -- failure policies against real and broken stores ---------------------------------------


def test_closed_denies_when_redis_refuses_connections() -> None:
    limiter = RateLimiter.per_ip(
        "100/minute",
        store=RedisStore(url=f"redis://127.0.0.1:{free_port()}/0"),
        on_store_error="closed",
    )
    results = [limiter.hit(_http()) for _ in range(3)]
    assert all(not r.allowed and r.degraded for r in results)
    assert results[0].headers()["Retry-After"] == "1"


def test_closed_denies_when_redis_hangs(black_hole: tuple[int, list[socket.socket]]) -> None:
    limiter = RateLimiter.per_ip(
        "100/minute",
        store=RedisStore(url=f"redis://127.0.0.1:{black_hole[0]}/0"),
        on_store_error="closed",
    )
    result = limiter.hit(_http())
    assert not result.allowed
    assert result.degraded


async def _async_hit(limiter: RateLimiter) -> Any:
    return await limiter.hit_async(_http())


def test_closed_denies_on_the_async_store_too() -> None:
    import asyncio

    limiter = RateLimiter.per_ip(
        "100/minute",
        store=AsyncRedisStore(url=f"redis://127.0.0.1:{free_port()}/0"),
        on_store_error="closed",
    )
    result = asyncio.run(_async_hit(limiter))
    assert not result.allowed
    assert result.degraded


def test_closed_denies_when_the_dynamodb_table_is_missing(ddb_client: Any) -> None:
    store = DynamoDBStore("review14-no-such-table", client=ddb_client)
    limiter = RateLimiter.per_ip("100/minute", store=store, on_store_error="closed")
    result = limiter.hit(_http())
    assert not result.allowed
    assert result.degraded


def test_memory_fallback_still_limits_each_caller_while_redis_is_down() -> None:
    limiter = RateLimiter.per_ip(
        "3/minute", store=RedisStore(url=f"redis://127.0.0.1:{free_port()}/0")
    )
    answers = [limiter.hit(_http()).allowed for _ in range(5)]
    assert answers == [True, True, True, False, False]
    assert limiter.hit(_http("198.51.100.9")).allowed  # another caller, its own bucket


def test_closed_penalty_refuses_while_the_store_is_down() -> None:
    penalty = AbusePenalty(
        store=RedisStore(url=f"redis://127.0.0.1:{free_port()}/0"), on_store_error="closed"
    )
    assert penalty.blocked_for(_http()) > 0


def test_store_failures_never_log_the_redis_password(caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cret-Redis-Passw0rd"
    store = RedisStore(url=f"redis://:{secret}@127.0.0.1:{free_port()}/0")
    limiter = RateLimiter.per_api_key("5/minute", store=store)
    with caplog.at_level(logging.DEBUG, logger="secauth"):
        result = limiter.hit(_http(headers={"x-api-key": KEY}), Principal("ann"))
    assert result.degraded
    logged = " ".join(f"{r.getMessage()} {r.__dict__.get('store_error')}" for r in caplog.records)
    assert "rate_limit_store_unavailable" in str([r.__dict__.get("reason") for r in caplog.records])
    assert secret not in logged
    assert KEY not in logged
    assert secret not in repr(store)
    assert secret not in repr(limiter)


# -- costs and limits ------------------------------------------------------------------------


@pytest.mark.parametrize("cost", [0, -1, 6, 2.5, "1", None])
def test_costs_outside_one_to_the_quota_are_refused(cost: Any) -> None:
    limiter = RateLimiter.per_ip("5/minute")
    with pytest.raises(ConfigurationError):
        limiter.hit(_http(), cost=cost)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Limit(0, 60),
        lambda: Limit(-5, 60),
        lambda: Limit(10**10, 60),
        lambda: Limit(5, 0),
        lambda: Limit(5, float("nan")),
        lambda: Limit(5, float("inf")),
        lambda: Limit(5, 60, burst=0),
        lambda: Limit.throttle(float("nan"), burst=1),
        lambda: Limit.throttle(float("inf"), burst=1),
        lambda: Limit.parse("0/minute"),
        lambda: Limit.parse("-1/minute"),
        lambda: Limit.parse("5/0s"),
    ],
)
def test_degenerate_limits_are_refused(build: Any) -> None:
    with pytest.raises(ConfigurationError):
        build()


def test_a_cost_above_the_limit_never_charges_dynamodb(ddb_client: Any) -> None:
    store = _ddb_store(ddb_client)
    limiter = RateLimiter.per_ip("3/minute", store=store)
    assert limiter.hit(_http(), cost=3).allowed
    assert not limiter.hit(_http(), cost=1).allowed
    assert ddb_client.scan(TableName=store.table)["Items"][0]["n"] == {"N": "3"}


# -- deny cache ------------------------------------------------------------------------------


def test_the_deny_cache_never_denies_another_key() -> None:
    limiter = RateLimiter.per_ip("1/minute", store=_SharedMemory())
    assert limiter.hit(_http("203.0.113.5")).allowed
    denied = limiter.hit(_http("203.0.113.5"))
    assert not denied.allowed
    assert len(limiter._guard.deny_cache or ()) == 1
    assert limiter.hit(_http("203.0.113.6")).allowed
    assert limiter.hit(_http("2001:db8::1")).allowed


def test_the_deny_cache_of_one_plan_never_denies_another_plan() -> None:
    plans = RateLimiter.per_plan(
        {"free": ["1/minute"], "pro": ["10/minute"]},
        plan_of=PlanFrom.claim("plan"),
        store=_SharedMemory(),
    )
    free, pro = Principal("ann", claims={"plan": "free"}), Principal("ann", claims={"plan": "pro"})
    assert [plans.hit(_http(), free).allowed for _ in range(2)] == [True, False]
    assert plans.hit(_http(), pro).allowed


# -- concurrency -----------------------------------------------------------------------------


def _hammer(limiter: RateLimiter, threads: int, each: int) -> int:
    admitted = [0] * threads
    start = threading.Barrier(threads)

    def run(n: int) -> None:
        start.wait()
        for _ in range(each):
            if limiter.hit(_http()).allowed:
                admitted[n] += 1

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(admitted)


@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window", "gcra"])
def test_threads_never_admit_more_than_the_limit_in_memory(algorithm: str) -> None:
    limiter = RateLimiter.per_ip("50/hour", algorithm=algorithm)
    assert _hammer(limiter, 8, 20) == 50


@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window", "gcra"])
def test_threads_never_admit_more_than_the_limit_on_redis(redis_url: str, algorithm: str) -> None:
    limiter = RateLimiter.per_ip(
        "50/hour", algorithm=algorithm, store=RedisStore(url=redis_url), on_store_error="closed"
    )
    assert _hammer(limiter, 8, 20) == 50


def test_threads_never_admit_more_than_the_limit_on_dynamodb(ddb_client: Any) -> None:
    clock = [3600.0 * 500]  # all threads in one window
    store = _ddb_store(ddb_client, clock=lambda: clock[0])
    limiter = RateLimiter.per_ip("20/hour", store=store, on_store_error="closed")
    assert _hammer(limiter, 4, 8) == 20


# -- API keys in responses, records and logs -------------------------------------------------


def test_usage_identifier_key_goes_to_rest_authorizer_answers_only() -> None:
    keys = StaticApiKeys({hash_api_key(KEY): ApiKeyEntry("partner-a", usage_plan=True)})
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(api_keys=keys, routes=ORDERS, on_decision=records.append,
                            decision_log=None)  # fmt: skip
    rest = authorizer.handler(request_authorizer("GET", "/orders", headers={"x-api-key": KEY}))
    assert rest["usageIdentifierKey"] == KEY
    for event in (
        http_authorizer_v1("GET", "/orders", headers={"x-api-key": KEY}),
        http_authorizer_v2("GET", "/orders", headers={"x-api-key": KEY}),
        websocket_connect(headers={"x-api-key": KEY}),
    ):
        answer = authorizer.handler(event)
        assert "usageIdentifierKey" not in answer
        assert KEY not in json.dumps(answer)
    assert records
    assert KEY not in json.dumps(records)


def test_refused_and_limited_keys_never_reach_records_or_logs(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = StaticApiKeys({hash_api_key(KEY): ApiKeyEntry("partner-a", rate_limit="1/minute")})
    authorizer = Authorizer(api_keys=keys, routes=ORDERS)  # decision log on stdout
    http = http_authorizer_v2
    with caplog.at_level(logging.DEBUG):
        for key in (KEY, KEY, OTHER_KEY, KEY[:10], KEY + "\u00a0"):
            authorizer.handler(http("GET", "/orders", headers={"x-api-key": key}))
    out = capsys.readouterr().out
    assert "rate_limited" in out
    assert "malformed_token" in out
    logged = out + " ".join(r.getMessage() for r in caplog.records)
    assert KEY not in logged
    assert OTHER_KEY not in logged
    assert KEY[:10] not in logged


def test_an_api_key_in_the_limit_header_of_a_guard_is_never_echoed() -> None:
    # A public route of a REST API with a usage plan: an anonymous caller counts in the
    # bucket of the key API Gateway checked (an unchecked header counts for no anonymous
    # or refused caller: reviews 36 and 39).
    guard = Guard(
        routes=Routes({"GET /orders": public()}),
        rate_limit=RateLimiter.per_api_key("1/minute"),
        decision_log=None,
    )

    @guard
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": ""}

    event = rest_proxy("GET", "/orders", headers={"x-api-key": KEY})
    event["requestContext"]["identity"]["apiKey"] = KEY
    answers = [handler(copy.deepcopy(event), None) for _ in range(2)]
    assert [a["statusCode"] for a in answers] == [200, 429]
    assert KEY not in json.dumps(answers)
