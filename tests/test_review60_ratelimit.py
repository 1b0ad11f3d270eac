"""Review 60: adversarial review of rate limiting (store keys, store failures, counting).

Real servers on loopback: the conftest's redis-server and dynalite, plus private
redis-servers a test starts itself (one that evicts under memory pressure). Findings are
``xfail(strict=True)`` tests asserting the secure behaviour; attacks that held are plain
tests. No mocks, no sleeps, no durations asserted.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any

import pytest
from rl_services import Server

from secauth.errors import AbuseBlocked, ConfigurationError
from secauth.ratelimit import (
    AbusePenalty,
    DynamoDBStore,
    Limit,
    MemoryStore,
    RateLimiter,
    RedisStore,
)
from secauth.ratelimit.keys import ClientIp
from secauth.testing_events import alb, http_proxy

_tables = itertools.count()


def _http(ip: str) -> dict[str, Any]:
    return http_proxy("POST", "/login", source_ip=ip)


def _ddb_store(client: Any) -> DynamoDBStore:
    store = DynamoDBStore(f"review60-{next(_tables)}", client=client)
    store.create_table()
    return store


# == findings (fixed) =======================================================================


def test_a_penalty_block_on_redis_survives_memory_pressure(
    redis_servers: Callable[..., Server],
) -> None:
    import redis

    server = redis_servers("--maxmemory", "4mb", "--maxmemory-policy", "volatile-ttl")
    url = f"redis://127.0.0.1:{server.port}/0"
    store = RedisStore(url=url, socket_timeout=2.0, connect_timeout=2.0)
    penalty = AbusePenalty(
        store=store,
        auth_failures="3/minute",
        cooldown=900,
        deny_cache=False,
        on_store_error="closed",
    )
    event = _http("203.0.113.5")
    for _ in range(4):
        penalty.record_auth_failure(event)
    with pytest.raises(AbuseBlocked):
        penalty.check(event)  # blocked for 15 minutes

    # Other data on the same cache (an application's cache entries, or keys any caller
    # creates: one per IPv6 /64, one per user name tried) fills memory.
    other = redis.Redis.from_url(url)
    block = "{secauth:pen:ip:203.0.113.5}:b"
    written = 0
    while other.exists(block) and written < 50_000:
        other.set(f"app-cache:{written}", b"x" * 4096, ex=86400)
        written += 1
    other.close()

    with pytest.raises(AbuseBlocked):  # a block must last its cooldown (or fail closed)
        penalty.check(event)


def test_a_store_on_an_evicting_redis_fails_until_the_server_never_evicts(
    redis_servers: Callable[..., Server],
) -> None:
    """The fix for the finding above: RedisStore refuses a server that may evict (a
    StoreError naming the remedy, so on_store_error applies), on every path, sync and
    async; it works once the server says noeviction; check_eviction=False opts out."""
    import asyncio

    import redis

    from secauth.ratelimit import AsyncRedisStore, StoreError

    server = redis_servers("--maxmemory", "4mb", "--maxmemory-policy", "volatile-lru")
    url = f"redis://127.0.0.1:{server.port}/0"
    store = RedisStore(url=url, eviction_recheck=0)
    limit = Limit(5, 60)
    with pytest.raises(StoreError, match="maxmemory-policy noeviction"):
        store.hit("ip:203.0.113.5", limit, "gcra")
    with pytest.raises(StoreError, match="volatile-lru"):
        store.blocked_for("ip:203.0.113.5")
    with pytest.raises(StoreError, match="volatile-lru"):
        store.record("ip:203.0.113.5", "auth", Limit(3, 60), 900)

    async def async_hit() -> object:
        async_store = AsyncRedisStore(url=url)
        try:
            return await async_store.hit_async("ip:203.0.113.5", limit, "gcra")
        finally:
            await async_store.aclose()

    with pytest.raises(StoreError, match="volatile-lru"):
        asyncio.run(async_hit())
    unchecked = RedisStore(url=url, check_eviction=False)
    assert unchecked.hit("ip:203.0.113.6", limit, "gcra").allowed
    admin = redis.Redis.from_url(url)
    admin.config_set("maxmemory-policy", "noeviction")
    admin.close()
    assert store.hit("ip:203.0.113.5", limit, "gcra").allowed


def test_a_boolean_cost_is_refused_and_never_trips_the_breaker(redis_url: str) -> None:
    limiter = RateLimiter.per_ip(
        "2/minute", store=RedisStore(url=redis_url), on_store_error="open", deny_cache=False
    )
    victim, other = _http("203.0.113.9"), _http("198.51.100.66")
    assert [limiter.hit(victim).allowed for _ in range(3)] == [True, True, False]
    with pytest.raises(ConfigurationError):
        limiter.hit(other, cost=True)  # type: ignore[arg-type]
    assert not limiter.hit(victim).allowed  # still exhausted, decided by the store
    for cost in (True, 0, -1, 1.0):  # hit_key, for custom pipelines, checks it too
        with pytest.raises(ConfigurationError):
            limiter.hit_key("ip:198.51.100.66", cost)  # type: ignore[arg-type]


def test_two_different_limits_never_share_a_redis_key(redis_url: str, redis_client: Any) -> None:
    store = RedisStore(url=redis_url)
    first = RateLimiter.per_ip(Limit(2, 1_000_000), store=store, algorithm="gcra")
    second = RateLimiter.per_ip(Limit(2, 1_000_001), store=store, algorithm="gcra")
    assert first.limit != second.limit
    event = _http("203.0.113.5")
    assert [first.hit(event).allowed for _ in range(2)] == [True, True]
    assert len(redis_client.keys("secauth:rl:*")) == 1
    # the second limit never counted this client: it must admit its first request
    assert second.hit(event).allowed
    assert len(redis_client.keys("secauth:rl:*")) == 2


# == attacks that held ======================================================================


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("key", "{victim}"),
        ("{slot}", "a}b{c"),
        ("login", "x" * 5000),
        ("login", "ümlaut:{tag}\n\x00"),
    ],
)
def test_hostile_key_values_never_put_a_hash_tag_into_redis_keys(
    redis_url: str, redis_client: Any, name: str, value: str
) -> None:
    limiter = RateLimiter.per_key(
        "3/minute", key=lambda request, principal: value, name=name, store=RedisStore(url=redis_url)
    )
    assert [limiter.hit(_http("203.0.113.5")).allowed for _ in range(4)] == [True] * 3 + [False]
    keys = [k.decode() for k in redis_client.keys("*")]
    assert len(keys) == 1
    assert "{" not in keys[0]
    assert "}" not in keys[0]
    assert len(keys[0]) < 120


def test_penalty_keys_carry_exactly_the_subjects_hash_tag(
    redis_url: str, redis_client: Any
) -> None:
    penalty = AbusePenalty(store=RedisStore(url=redis_url), auth_failures="2/minute", cooldown=60)
    event = _http("203.0.113.5")
    for name in ("}{x", "{victim}", "a" * 3000):
        penalty.record_auth_failure(event, name)
    keys = sorted(k.decode() for k in redis_client.keys("*"))
    assert keys
    for key in keys:
        assert key.startswith("{secauth:pen:")
        assert key.count("{") == 1
        assert key.count("}") == 1
        assert len(key) < 120


def test_a_key_of_the_wrong_type_denies_that_key_and_logs_no_key(
    redis_url: str, redis_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Since review 144: the script denies a key of another type itself (the store answered,
    so other keys are not failed over to the fallback); nothing about it is logged."""
    limiter = RateLimiter.per_ip(
        "5/minute", store=RedisStore(url=redis_url), on_store_error="memory", algorithm="gcra"
    )
    event = _http("203.0.113.77")
    assert limiter.hit(event).allowed
    (key,) = redis_client.keys("secauth:rl:*")
    redis_client.delete(key)
    redis_client.lpush(key, "poison")  # another writer's list at the limiter's key
    with caplog.at_level(logging.INFO, logger="secauth.ratelimit"):
        result = limiter.hit(event)
        other = limiter.hit(_http("203.0.113.78"))
    assert not result.allowed
    assert not result.degraded
    assert int(result.headers()["Retry-After"]) >= 1
    assert other.allowed  # the store still answers for other keys
    assert not other.degraded
    text = " ".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    for leak in ("203.0.113.77", "WRONGTYPE", "poison"):
        assert leak not in text


def test_a_poisoned_dynamodb_item_denies_and_logs_no_key(
    ddb_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = _ddb_store(ddb_client)
    limiter = RateLimiter.per_ip("5/minute", store=store, on_store_error="closed")
    event = _http("203.0.113.78")
    assert limiter.hit(event).allowed
    items = ddb_client.scan(TableName=store.table)["Items"]
    assert len(items) == 1
    item = items[0]
    item["n"] = {"S": "not a number"}  # a count of the wrong type at the item
    ddb_client.put_item(TableName=store.table, Item=item)
    with caplog.at_level(logging.INFO, logger="secauth.ratelimit"):
        results = [limiter.hit(event) for _ in range(3)]
    # the condition cannot compare a string with the limit: refused (never admitted)
    assert not any(r.allowed for r in results)
    assert all(r.headers()["Retry-After"] for r in results)
    text = " ".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert "203.0.113.78" not in text
    assert item["pk"]["S"] not in text
    assert limiter.hit(_http("203.0.113.79")).allowed  # other keys are unaffected


def test_rotating_addresses_inside_one_ipv6_64_shares_one_redis_bucket(redis_url: str) -> None:
    limiter = RateLimiter.per_ip("3/minute", store=RedisStore(url=redis_url), deny_cache=False)
    spellings = [
        "2001:db8:1:2::1",
        "2001:db8:1:2:ffff:ffff:ffff:ffff",
        "2001:0db8:0001:0002:0:0:0:9",
        "2001:DB8:1:2::abcd",
    ]
    assert [limiter.hit(_http(ip)).allowed for ip in spellings] == [True] * 3 + [False]
    assert limiter.hit(_http("2001:db8:1:3::1")).allowed  # the next /64 is someone else


@pytest.mark.parametrize(
    "hops",
    [
        "6.6.6.6, 203.0.113.50:51234",
        "6.6.6.6, 203.0.113.50",
        "7.7.7.7, ::ffff:203.0.113.50",
    ],
)
def test_alb_ports_and_mapped_spellings_never_move_the_key(hops: str) -> None:
    event = alb("GET", "/orders", headers={"x-forwarded-for": hops})
    from secauth.events import Request

    assert ClientIp()(Request.from_event(event)) == "203.0.113.50"


def test_alb_ipv6_with_port_lands_in_its_64() -> None:
    from secauth.events import Request

    event = alb("GET", "/", headers={"x-forwarded-for": "1.1.1.1, [2001:db8:5:6::7]:443"})
    assert ClientIp()(Request.from_event(event)) == "2001:db8:5:6::/64"


def test_memory_store_stays_bounded_under_a_flood_of_unique_keys() -> None:
    store = MemoryStore(maxsize=64)
    limiters = [
        RateLimiter.per_key("1/minute", key=lambda r, p: None, name="none", store=store, algorithm=a)
        for a in ("fixed_window", "sliding_window", "gcra")
    ]
    for limiter in limiters:
        for n in range(2000):
            limiter.hit_key(f"flood:{n}")
    assert len(store) <= 3 * 64
    # the most recent caller's state is still there: it cannot escape by its own flood
    for limiter in limiters:
        assert not limiter.hit_key("flood:1999").allowed


def test_non_finite_and_negative_numbers_are_refused_at_construction() -> None:
    bad: list[Callable[[], object]] = [
        lambda: Limit(5, float("nan")),
        lambda: Limit(5, float("inf")),
        lambda: Limit(5, -60),
        lambda: Limit(0, 60),
        lambda: Limit(5, 60, burst=0),
        lambda: Limit.throttle(float("nan"), burst=5),
        lambda: Limit.throttle(-1, burst=5),
        lambda: RateLimiter.per_ip("5/minute", retry_store_after=float("nan")),
        lambda: RateLimiter.per_ip("5/minute", retry_store_after=0),
        lambda: AbusePenalty(cooldown=float("nan")),
        lambda: AbusePenalty(cooldown=float("inf")),
        lambda: MemoryStore(maxsize=0),
    ]
    for build in bad:
        with pytest.raises(ConfigurationError):
            build()


def test_a_degraded_closed_denial_tells_the_client_nothing_about_the_store() -> None:
    limiter = RateLimiter.per_ip(
        "100/minute",
        store=RedisStore(url="redis://127.0.0.1:1/0"),
        on_store_error="closed",
        headers="both",
    )
    result = limiter.hit(_http("203.0.113.5"))
    assert not result.allowed
    assert result.degraded
    headers = result.headers()
    assert headers["Retry-After"] == "1"
    rendered = repr(headers).lower()
    for leak in ("redis", "degraded", "127.0.0.1"):
        assert leak not in rendered
    assert "degraded" in result.error().detail  # in the log record only, not the response
