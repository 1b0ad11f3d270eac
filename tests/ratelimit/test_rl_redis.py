"""RedisStore and AsyncRedisStore against a real redis-server on loopback.

Exact admission counts under 40 threads, window edges, expiry, a TTL on every key,
one round trip per decision (zero while the local deny cache holds), a server
killed mid-test under each failure policy, a server that never answers, abuse
penalties (distinct paths in a bounded set), and the async variants.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import redis
import redis.asyncio
from rl_services import PATIENT, Server

from secauth.errors import AbuseBlocked, Reason
from secauth.ratelimit import AbusePenalty, Limit, RateLimiter, StoreError
from secauth.ratelimit.redis_store import AsyncRedisStore, RedisStore

# Clients of closed event loops are collected after each test (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("collect_garbage")

ALGORITHMS = ["fixed_window", "sliding_window", "gcra"]


class CountingRedis(redis.Redis):
    """A real client that records every command it sends (one command = one round trip)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[str] = []

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]).upper())
        return super().execute_command(*args, **options)


class CountingAsyncRedis(redis.asyncio.Redis):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[str] = []

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]).upper())
        return await super().execute_command(*args, **options)


def event(ip: str = "198.51.100.7", path: str = "/") -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": path,
        "requestContext": {"http": {"method": "GET", "path": path, "sourceIp": ip}},
    }


def shared_key(request: Any, principal: Any) -> str:
    return "shared"


def server_now(url: str) -> float:
    client = redis.Redis.from_url(url)
    try:
        seconds, micros = client.time()
        return float(seconds) + micros / 1_000_000
    finally:
        client.close()


def away_from_edge(url: str, period: float, margin: float) -> None:
    """Sleep until the server clock is at least ``margin`` past a window edge and well
    before the next, so a test's burst of hits lands in one window."""
    now = server_now(url)
    into = now % period
    if into < margin or period - into < margin * 2:
        time.sleep((period - into) + margin)


def evalsha_calls(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


# --- exactness --------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("deny_cache", [True, False])
def test_exact_admission_under_40_threads(redis_url: str, algorithm: str, deny_cache: bool) -> None:
    """40 threads x 6 hits on one key with a limit of 100: exactly 100 admitted."""
    away_from_edge(redis_url, 3600, 3)
    limiter = RateLimiter.per_key(
        Limit(100, 3600),
        key=shared_key,
        name="shared",
        store=RedisStore(redis_url, **PATIENT),  # exact counts, not timeouts, under test
        algorithm=algorithm,
        deny_cache=deny_cache,
        on_store_error="closed",
    )
    barrier = threading.Barrier(40)
    allowed: list[int] = []
    degraded: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        mine = 0
        for _ in range(6):
            result = limiter.hit(event())
            mine += result.allowed
            if result.degraded:
                degraded.append(True)
        with lock:
            allowed.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert degraded == []
    assert sum(allowed) == 100


def test_fixed_window_edge_and_expiry(redis_url: str) -> None:
    """A full window denies until its edge, admits again right after, and its key expires."""
    away_from_edge(redis_url, 1.0, 0.02)
    store = RedisStore(redis_url)
    limit = Limit(3, 1)
    results = [store.hit("edge", limit, "fixed_window") for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.remaining for r in results] == [2, 1, 0, 0]
    denied = results[-1]
    assert 0 < denied.retry_after <= 1.0
    assert denied.retry_after == pytest.approx(denied.reset_after, abs=0.002)
    client = redis.Redis.from_url(redis_url)
    assert 0 < client.pttl("secauth:rl:f:edge") <= 1000
    time.sleep(denied.retry_after + 0.02)
    again = store.hit("edge", limit, "fixed_window")
    assert again.allowed
    assert again.remaining == 2
    time.sleep(again.reset_after + 0.05)
    assert client.exists("secauth:rl:f:edge") == 0
    client.close()


def test_gcra_key_lives_exactly_until_the_bucket_is_full(redis_url: str) -> None:
    """GCRA: the key's TTL is the time until the bucket refills; then the key is gone."""
    store = RedisStore(redis_url)
    limit = Limit(2, 0.2)
    results = [store.hit("g", limit, "gcra") for _ in range(3)]
    assert [r.allowed for r in results] == [True, True, False]
    assert 0 < results[2].retry_after <= 0.1
    client = redis.Redis.from_url(redis_url)
    assert 0 < client.pttl("secauth:rl:g:g") <= 200
    time.sleep(0.25)
    assert client.exists("secauth:rl:g:g") == 0
    assert store.hit("g", limit, "gcra").remaining == 1
    client.close()


def test_sliding_window_weighs_the_previous_window(redis_url: str) -> None:
    """After a full window the next one starts nearly full: the previous count still weighs."""
    away_from_edge(redis_url, 1.0, 0.02)
    store = RedisStore(redis_url)
    limit = Limit(4, 1)
    assert all(store.hit("s", limit, "sliding_window").allowed for _ in range(4))
    denied = store.hit("s", limit, "sliding_window")
    to_edge = 1.0 - server_now(redis_url) % 1.0
    assert not denied.allowed
    # the next window starts in under 1 s, yet the first admission waits for 1/4 of it
    assert denied.retry_after > to_edge + 0.2
    # and both headers say so: the quota is not back before then (the script said the
    # window's end, and the RateLimit header a t smaller than Retry-After)
    assert denied.reset_after == denied.retry_after
    headers = denied.headers()
    assert headers["RateLimit"].endswith(f";t={headers['Retry-After']}")


def test_every_key_written_has_a_ttl(redis_url: str) -> None:
    """After every kind of write (three algorithms, penalties, blocks) no key lacks a TTL."""
    store = RedisStore(redis_url)
    for algorithm in ALGORITHMS:
        for i in range(5):
            store.hit(f"{algorithm}-{i % 2}", Limit(3, 60), algorithm, 1 + i % 2)
    penalty = AbusePenalty(store=store, auth_failures="2/minute", unknown_paths="3/minute")
    for i in range(4):
        penalty.record_auth_failure(event("10.0.0.1"), "alice")
        penalty.record_not_found(event("10.0.0.2"), f"/x{i}")
        penalty.record_not_found(event("10.0.0.3"), "/same")
    client = redis.Redis.from_url(redis_url)
    keys = client.keys("*")
    assert len(keys) >= 10
    ttls = {key: client.pttl(key) for key in keys}
    client.close()
    assert all(ttl > 0 for ttl in ttls.values()), ttls


# --- round trips ------------------------------------------------------------------------


def test_one_round_trip_per_decision(redis_url: str) -> None:
    """Each decision is one EVALSHA; after the server drops its scripts, one extra EVAL once."""
    client = CountingRedis.from_url(redis_url)
    store = RedisStore(client=client)
    for algorithm in ALGORITHMS:
        store.hit(f"warm-{algorithm}", Limit(10, 60), algorithm)
    client.sent.clear()
    for algorithm in ALGORITHMS:
        for _ in range(5):
            store.hit(f"rt-{algorithm}", Limit(10, 60), algorithm)
    assert client.sent == ["EVALSHA"] * 15
    client.script_flush()
    client.sent.clear()
    store.hit("rt", Limit(10, 60), "gcra")
    store.hit("rt", Limit(10, 60), "gcra")
    assert client.sent == ["EVALSHA", "EVAL", "EVALSHA"]


def test_local_deny_cache_makes_zero_round_trips(redis_url: str) -> None:
    """Once Redis says 'denied until T', the container answers alone until T."""
    client = CountingRedis.from_url(redis_url)
    limiter = RateLimiter.per_ip("2/minute", store=RedisStore(client=client))
    before = evalsha_calls(redis_url)
    first = [limiter.hit(event()) for _ in range(3)]
    assert [r.allowed for r in first] == [True, True, False]
    # the eviction check at first use (then once a minute), and one script per decision
    assert client.sent == ["INFO", "EVALSHA", "EVALSHA", "EVALSHA"]
    later = [limiter.hit(event()) for _ in range(50)]
    assert not any(r.allowed for r in later)
    assert len(client.sent) == 4
    assert evalsha_calls(redis_url) - before == 3
    assert later[-1].retry_after <= first[-1].retry_after
    assert "Retry-After" in later[-1].headers()
    # another IP still reaches the store
    assert limiter.hit(event("203.0.113.1")).allowed
    assert len(client.sent) == 5


def test_without_deny_cache_every_denial_is_a_round_trip(redis_url: str) -> None:
    client = CountingRedis.from_url(redis_url)
    limiter = RateLimiter.per_ip("1/minute", store=RedisStore(client=client), deny_cache=False)
    for _ in range(10):
        limiter.hit(event())
    assert client.sent == ["INFO"] + ["EVALSHA"] * 10  # INFO: the eviction check, once


# --- failures ---------------------------------------------------------------------------


@pytest.fixture
def dying_redis(private_server: Callable[[str], Server]) -> Server:
    return private_server("redis")


def test_store_errors_are_store_errors(dying_redis: Server) -> None:
    """A dead server surfaces as StoreError with a reason, never redis' own exception."""
    store = RedisStore(f"redis://127.0.0.1:{dying_redis.port}/0")
    assert store.hit("k", Limit(1, 60), "gcra").allowed
    dying_redis.stop()
    with pytest.raises(StoreError) as exc:
        store.hit("k", Limit(1, 60), "gcra")
    assert exc.value.reason == "redis: ConnectionError"
    with pytest.raises(StoreError):
        store.blocked_for("ip:1.2.3.4")


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("closed", [False] * 6),
        ("open", [True] * 6),
        ("memory", [True, True, True, False, False, False]),
    ],
)
def test_server_killed_mid_test(
    dying_redis: Server,
    caplog: pytest.LogCaptureFixture,
    policy: str,
    expected: list[bool],
) -> None:
    """Each failure policy decides while Redis is down; nothing raises; one WARNING with the
    reason per outage; the store is used again once it is back."""
    url = f"redis://127.0.0.1:{dying_redis.port}/0"
    limiter = RateLimiter.per_ip(
        "3/minute",
        store=RedisStore(url),
        algorithm="fixed_window",
        on_store_error=policy,
        retry_store_after=0.05,
    )
    first = limiter.hit(event())
    assert first.allowed
    assert not first.degraded
    dying_redis.stop()
    caplog.set_level(logging.INFO, logger="secauth.ratelimit")
    results = []
    for _ in range(6):
        results.append(limiter.hit(event()))
        time.sleep(0.03)
    assert [r.allowed for r in results] == expected
    assert all(r.degraded for r in results)
    if policy == "closed":
        assert results[0].headers()["Retry-After"] == "1"
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and r.name == "secauth.ratelimit"
    ]
    assert len(warnings) == 1
    assert "redis: ConnectionError" in warnings[0].getMessage()
    assert f"on_store_error={policy}" in warnings[0].getMessage()
    assert warnings[0].reason == "rate_limit_store_unavailable"  # type: ignore[attr-defined]

    dying_redis.start()  # same port, empty data
    time.sleep(0.06)
    back = limiter.hit(event())
    assert back.allowed
    assert not back.degraded
    assert back.remaining == 2
    assert any("answering again" in r.getMessage() for r in caplog.records)


def test_a_server_that_never_answers_times_out(
    black_hole: tuple[int, list[socket.socket]], caplog: pytest.LogCaptureFixture
) -> None:
    """The short socket timeout ends the wait; the policy answers; the reason is a timeout;
    the breaker keeps the next decisions from trying (and waiting) again."""
    port, accepted = black_hole
    store = RedisStore(f"redis://127.0.0.1:{port}/0", socket_timeout=0.1)
    limiter = RateLimiter.per_ip("3/minute", store=store, on_store_error="closed")
    caplog.set_level(logging.WARNING, logger="secauth.ratelimit")
    result = limiter.hit(event())
    assert not result.allowed
    assert result.degraded
    assert "(TimeoutError)" in next(  # the first command, the eviction check, timed out
        r.getMessage() for r in caplog.records if r.name == "secauth.ratelimit"
    )
    deadline = time.monotonic() + 5
    while not accepted and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(accepted) == 1
    for _ in range(5):
        assert not limiter.hit(event()).allowed
    time.sleep(0.15)  # time for the accept loop to pick up any new connection
    assert len(accepted) == 1


# --- penalties --------------------------------------------------------------------------


def test_penalties_on_redis(redis_url: str) -> None:
    """Auth failures and distinct 404 paths (a set) block for the cooldown."""
    store = RedisStore(redis_url)
    penalty = AbusePenalty(
        store=store, auth_failures="3/minute", unknown_paths="20/10minutes", cooldown=300
    )
    assert [penalty.record_auth_failure(event("10.1.1.1")) for _ in range(4)] == [
        0.0,
        0.0,
        0.0,
        300.0,
    ]
    with pytest.raises(AbuseBlocked) as exc:
        penalty.check(event("10.1.1.1"))
    assert exc.value.reason is Reason.ABUSE_BLOCKED
    assert 299 < exc.value.retry_after <= 300
    client = redis.Redis.from_url(redis_url)
    assert 299_000 < client.pttl("{secauth:pen:ip:10.1.1.1}:b") <= 300_000
    # scanning: 100 hits on one missing path do not block; 21 distinct paths do
    for _ in range(100):
        assert penalty.record_not_found(event("10.2.2.2", "/favicon.ico")) == 0.0
    paths = [penalty.record_not_found(event("10.3.3.3", f"/admin{i}.php")) for i in range(21)]
    assert paths == [0.0] * 20 + [300.0]
    assert client.type("{secauth:pen:ip:10.2.2.2}:scan:set") == b"set"  # exact, bounded
    assert client.scard("{secauth:pen:ip:10.2.2.2}:scan:set") == 1
    penalty.check(event("10.2.2.2"))
    with pytest.raises(AbuseBlocked):
        penalty.check(event("10.3.3.3"))
    client.close()


def test_blocked_check_is_answered_locally(redis_url: str) -> None:
    """A known block is answered from the deny cache: no round trip per check."""
    client = CountingRedis.from_url(redis_url)
    penalty = AbusePenalty(store=RedisStore(client=client), auth_failures="1/minute")
    penalty.record_auth_failure(event())
    penalty.record_auth_failure(event())
    client.sent.clear()
    for _ in range(20):
        with pytest.raises(AbuseBlocked):
            penalty.check(event())
    assert client.sent == []
    penalty.check(event("192.0.2.50"))
    assert client.sent == ["PTTL"]


# --- async ------------------------------------------------------------------------------


@pytest.mark.parametrize("store", [RedisStore, AsyncRedisStore])
def test_a_store_needs_exactly_one_of_url_and_client(store: type[Any], redis_url: str) -> None:
    from secauth.errors import ConfigurationError

    for options in ({}, {"url": redis_url, "client": redis.Redis()}):
        with pytest.raises(ConfigurationError, match=f"^{store.__name__} needs exactly one"):
            store(**options)
    with pytest.raises(ConfigurationError):
        store(redis_url, prefix="")
    built = store(redis_url, prefix="tenant-a")
    assert repr(built) == f"{store.__name__}(prefix='tenant-a')"
    assert isinstance(built.client, redis.asyncio.Redis) is built.is_async


def test_async_store_built_from_a_url_warns_nothing(redis_url: str) -> None:
    """AsyncRedisStore(url) builds its client with redis.asyncio's Retry (no retries): given
    the sync Retry, redis-py warned "A synchronous redis.retry.Retry was passed to an
    asyncio client" in user code."""
    import redis.asyncio.retry

    async def main() -> tuple[bool, Any]:
        store = AsyncRedisStore(redis_url)
        limiter = RateLimiter.per_ip("5/minute", store=store)
        try:
            return (await limiter.hit_async(event())).allowed, store.client
        finally:
            await store.aclose()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        allowed, client = asyncio.run(main())
    assert allowed
    retry = client.connection_pool.connection_kwargs["retry"]
    assert isinstance(retry, redis.asyncio.retry.Retry)
    assert retry.get_retries() == 1  # a connection the server closed is opened again, once


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_async_exact_admission_under_40_tasks(redis_url: str, algorithm: str) -> None:
    away_from_edge(redis_url, 3600, 3)

    async def main() -> tuple[int, list[str]]:
        client = CountingAsyncRedis.from_url(redis_url, max_connections=50)
        limiter = RateLimiter.per_key(
            Limit(100, 3600),
            key=shared_key,
            name="shared",
            store=AsyncRedisStore(client=client),
            algorithm=algorithm,
            deny_cache=False,
        )

        async def task() -> int:
            return sum([(await limiter.hit_async(event())).allowed for _ in range(6)])

        # load the script first: on a cold server each of the 40 first calls would
        # also send one EVAL after its EVALSHA's NOSCRIPT
        await limiter.store.hit_async("warm", Limit(1, 60), algorithm)
        client.sent.clear()
        counts = await asyncio.gather(*(task() for _ in range(40)))
        await client.aclose()
        return sum(counts), client.sent

    admitted, sent = asyncio.run(main())
    assert admitted == 100
    assert sent == ["EVALSHA"] * 240


def test_async_store_failure_and_penalties(redis_url: str, dying_redis: Server) -> None:
    async def main() -> None:
        store = AsyncRedisStore(redis_url)
        penalty = AbusePenalty(store=store, auth_failures="2/minute", cooldown=60)
        for _ in range(3):
            await penalty.record_auth_failure_async(event())
        with pytest.raises(AbuseBlocked):
            await penalty.check_async(event())
        await penalty.check_async(event("192.0.2.9"))
        await store.aclose()

        dying = AsyncRedisStore(f"redis://127.0.0.1:{dying_redis.port}/0")
        limiter = RateLimiter.per_ip("5/minute", store=dying, on_store_error="closed")
        assert (await limiter.hit_async(event())).allowed
        dying_redis.stop()
        result = await limiter.hit_async(event())
        assert not result.allowed
        assert result.degraded
        with pytest.raises(StoreError):
            await dying.hit_async("k", Limit(1, 60), "gcra")
        await dying.aclose()

    asyncio.run(main())
