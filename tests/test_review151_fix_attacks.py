"""Review 151 (adversarial): today's security fixes.

Attacked, on real servers on loopback (redis-server, a Redis Cluster, dynalite, LocalIssuer), with
the wall clock ``secauth._elapsed`` reads moved by hand:

* e35d99e, state aged on both clocks (``secauth._elapsed.Since``): the deny cache while the shared
  store is down (penalty box and limiter), a cached 429's ``Retry-After`` when the entry ends
  between ``get`` and ``left``, ``JwksCache`` after a wall clock stepped back (one refetch, then
  fresh again: no fetch storm; back-off still honoured while the IdP is down), ``JwksStats.age``;
* 7fd1f6f and e3f2060, ``AsyncRedisStore``: one client per loop over many ``asyncio.run``
  invocations (connections after a collection), and the asyncio client's single retry on
  ``ConnectionError`` against a node that does not answer (a busy Lua script), single node and
  cluster;
* 37cd551, the DynamoDB penalty counter: a concurrent burst at a block boundary, then the count
  after the block.

Resolved (the tests assert it): a deny-cache denial runs on the monotonic clock alone (a wall
clock step never ends one; a restore onto a lower monotonic clock still drops it); the asyncio
cluster client retries only a connection the node closed (redis-py's cluster loop reads its own
list of retryable errors, now that one alone); ``JwksStats.age`` is None when a clock reads
earlier than the fetch.

Findings:

* low: a denial the deny cache holds is dropped by a wall clock step (back past the moment it
  was noted, or forward by what is left of it) even while the shared store is down: the penalty
  box (default ``on_store_error="memory"``) and the limiter (``"open"``) then answer from the
  failure policy, so a blocked brute-forcer or a limited caller passes for the rest of the
  outage. Before e35d99e the entry lasted on the monotonic clock; docs/operations.md promises
  "No clock jump makes state live longer, so nothing is allowed because of one".
* low: the asyncio Redis Cluster client retries a timeout (redis-py's cluster loop retries every
  error in ``RedisCluster.ERRORS_ALLOW_RETRY``, ``TimeoutError`` included, whatever the
  ``Retry``'s ``supported_errors``): a node that does not answer costs two socket timeouts and a
  second connection, the command sent again on it. docs/ratelimit.md: "a timeout is never
  retried"; "an unreachable one ... costs one socket timeout".
* info: ``JwksCache.stats().age`` is ``inf`` after the wall clock stepped back (until the next
  lookup refetches): ``json.dumps`` writes ``Infinity`` (not JSON; an EMF line with it is dropped).

Held: one refetch after a wall clock step back, then the set is fresh (no fetch storm); while the
IdP is down the back-off still spaces fetches; a cached 429 keeps ``Retry-After`` at least 1 and is
still a denial when the entry ends between the two clock reads; a single node's async client does
not retry a timeout; 30 ``asyncio.run`` invocations keep one client and leave no connection open
after a collection; a concurrent DynamoDB burst at a block boundary ends blocked and counts at most
threshold + 1 events after the block.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import json
import threading
import time
import types
import uuid
from typing import Any

import pytest
from hand_clock import Clock

from secauth import JwtVerifier, _elapsed
from secauth.errors import KeysUnavailable
from secauth.jwks import JwksCache
from secauth.ratelimit import AbusePenalty, StoreError
from secauth.ratelimit import limiter as limiter_module
from secauth.ratelimit.dynamodb_store import DynamoDBStore
from secauth.ratelimit.limit import as_limit
from secauth.ratelimit.limiter import RateLimiter
from secauth.ratelimit.redis_store import AsyncRedisStore, RedisStore
from secauth.testing import LocalIssuer

# Clients of closed event loops are collected after each test (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("collect_garbage")


@pytest.fixture
def wall(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The wall clock ``secauth._elapsed`` reads, moved by hand (it starts at the real time)."""
    clock = Clock(time.time())
    monkeypatch.setattr(_elapsed, "time", types.SimpleNamespace(time=clock))
    return clock


def event(ip: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": "/",
        "requestContext": {"http": {"method": "GET", "path": "/", "sourceIp": ip}},
    }


def _blocked_penalty(redis_servers: Any) -> tuple[Any, AbusePenalty, str]:
    """A penalty box on a private redis-server, with one IP blocked for 900 s (deny-cached)."""
    server = redis_servers()
    store = RedisStore(f"redis://127.0.0.1:{server.port}/0", check_eviction=False)
    penalty = AbusePenalty(store=store, auth_failures="2/minute", cooldown=900)
    ip = "203.0.113.9"
    for _ in range(3):
        penalty.record_auth_failure(event(ip))
    assert penalty.blocked_for(event(ip)) > 800
    return server, penalty, ip


# -- the deny cache while the store is down -------------------------------------------------------


def test_a_deny_cached_block_holds_while_the_store_is_down(wall: Clock, redis_servers: Any) -> None:
    server, penalty, ip = _blocked_penalty(redis_servers)
    server.stop()
    wall.now += 30.0  # time passes on the wall clock as it should: still within the block
    assert penalty.blocked_for(event(ip)) > 800
    assert penalty.blocked_for(event("203.0.113.10")) == 0.0  # the memory fallback: no block


# fmt: off
@pytest.mark.parametrize("step", [-2.0, 3600.0])
def test_a_wall_clock_step_keeps_a_deny_cached_block_while_the_store_is_down(
    wall: Clock, redis_servers: Any, step: float
) -> None:
    """The store is down (default ``on_store_error="memory"``: the local store, which never saw
    the block); a wall clock stepped back 2 s (past the moment the block was noted) or forward an
    hour drops the entry, and the blocked IP passes for the rest of the outage."""
    server, penalty, ip = _blocked_penalty(redis_servers)
    server.stop()
    wall.now += step
    assert penalty.blocked_for(event(ip)) > 0
# fmt: on


# fmt: off
def test_a_wall_clock_step_keeps_a_deny_cached_denial_while_the_store_is_down(
    wall: Clock, redis_servers: Any
) -> None:
    server = redis_servers()
    store = RedisStore(f"redis://127.0.0.1:{server.port}/0", check_eviction=False)
    limiter = RateLimiter(
        "2/hour", key=lambda r, p: "k", name="w151", store=store, on_store_error="open"
    )
    assert [limiter.hit_key("ann").allowed for _ in range(3)] == [True, True, False]
    server.stop()
    assert not limiter.hit_key("ann").allowed  # the deny cache answers while the store is down
    wall.now -= 2.0
    assert not limiter.hit_key("ann").allowed
# fmt: on


class _Ticking:
    """A clock that reads ``now`` and then moves ``step`` seconds on."""

    def __init__(self, now: float, step: float) -> None:
        self.now, self.step = now, step

    def __call__(self) -> float:
        read = self.now
        self.now += self.step
        return read


def test_a_cached_denial_ending_between_two_clock_reads_is_still_a_sane_429(
    monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    limiter = RateLimiter(
        "2/hour", key=lambda r, p: "k", name="tick151", store=RedisStore(redis_url)
    )
    assert [limiter.hit_key("bob").allowed for _ in range(3)] == [True, True, False]
    cache = limiter._guard.deny_cache
    assert cache is not None
    (entry,) = cache._data.values()
    # The monotonic clock reads 0.5 s before the end, then moves on a second a read (the
    # deny cache now runs on that clock alone: a denial ends by it, never by a wall step).
    ticking = _Ticking(entry.at + entry.seconds - 0.5, 1.0)
    monkeypatch.setattr(limiter_module, "time", types.SimpleNamespace(
        monotonic=ticking, time=time.time, perf_counter=time.perf_counter))  # fmt: skip
    result = limiter.hit_key("bob")
    assert not result.allowed
    assert 0.0 <= result.retry_after <= result.reset_after
    assert int(result.headers()["Retry-After"]) >= 1


# -- JwksCache after the wall clock stepped back --------------------------------------------------


def test_a_wall_clock_step_back_costs_one_refetch_then_the_set_is_fresh(wall: Clock) -> None:
    with LocalIssuer(algs=("ES256",)) as idp:
        verifier = JwtVerifier(
            issuer=idp.issuer, audience="api", jwks_uri=idp.jwks_uri, allow_http=True, cache_size=0
        )
        token = idp.token(sub="ann", aud="api")
        assert verifier.verify(token)["sub"] == "ann"
        assert idp.fetches == 1
        wall.now -= 30.0  # stepped back past the fetch: its age cannot be told
        for _ in range(10):
            assert verifier.verify(token)["sub"] == "ann"
        assert idp.fetches == 2  # one refetch, then fresh: not one per request
        assert verifier.keys.fresh_for > 500


def test_a_wall_clock_step_back_while_the_idp_is_down_keeps_the_back_off(wall: Clock) -> None:
    steady = Clock(10_000.0)
    with LocalIssuer(algs=("ES256",)) as idp:
        cache = JwksCache(idp.jwks_uri, allow_http=True, clock=steady, max_backoff=60)
        verifier = JwtVerifier(issuer=idp.issuer, audience="api", jwks=cache, cache_size=0)
        token = idp.token(sub="ann", aud="api")
        assert verifier.verify(token)["sub"] == "ann"
        idp.mode = "error"
        wall.now -= 30.0
        for _ in range(10):
            steady.now += 0.01
            with pytest.raises(KeysUnavailable):  # the set's age is unknown: not used
                verifier.verify(token)
        assert cache.stats().fetches == 2  # one attempt, then backing off: no storm
        idp.mode = "ok"
        steady.now += 2.0  # the first back-off (1 s) is over
        assert verifier.verify(token)["sub"] == "ann"
        assert cache.stats().fetches == 3


# fmt: off
def test_jwks_stats_stay_json_after_a_wall_clock_step_back(wall: Clock) -> None:
    with LocalIssuer(algs=("ES256",)) as idp:
        cache = JwksCache(idp.jwks_uri, allow_http=True)
        assert cache.keys_for(idp.key.kid)
        wall.now -= 5.0
        assert cache.fresh_for == 0.0  # due: the next lookup refetches
        json.dumps(cache.stats()._asdict(), allow_nan=False)
# fmt: on


# -- AsyncRedisStore: loops and the one retry -----------------------------------------------------


def test_many_asyncio_runs_keep_one_client_and_leave_no_connection(redis_servers: Any) -> None:
    import redis

    server = redis_servers()
    admin = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=2.0)
    try:
        store = AsyncRedisStore(f"redis://127.0.0.1:{server.port}/0", check_eviction=False)
        limit = as_limit("1000/minute")
        for _ in range(30):
            assert asyncio.run(store.hit_async("k", limit, "fixed_window")).allowed
        assert len(store._clients) == 1  # the closed loops' clients are dropped
        gc.collect()
        assert admin.info("clients")["connected_clients"] <= 2  # admin and the last loop's
        used = asyncio.run(store.usage_async("k", limit, "fixed_window"))
        assert used.remaining == 1000 - 30  # every invocation counted exactly once
    finally:
        admin.close()


BUSY = """
local s = redis.call('TIME')
repeat
  local n = redis.call('TIME')
until (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > tonumber(ARGV[1])
return 1
"""


def _connections_while_busy(url: str, port: int, key: str, *, on_cluster: bool) -> int:
    """Connections the node on ``port`` accepted while a busy script kept it silent and an
    ``AsyncRedisStore`` (kept loop, warm connection) sent one hit that timed out."""
    import redis

    store = AsyncRedisStore(url, cluster=on_cluster, socket_timeout=0.15, check_eviction=False)
    limit = as_limit("10/minute")
    loop = asyncio.new_event_loop()
    info = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5.0)
    busy_client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5.0)
    try:
        assert loop.run_until_complete(store.hit_async(key, limit, "fixed_window")).allowed
        busy_client.ping()
        before = info.info("stats")["total_connections_received"]
        busy = threading.Thread(target=lambda: busy_client.eval(BUSY, 0, 700_000))
        busy.start()
        time.sleep(0.1)  # the script is running: the node answers nobody
        with pytest.raises(StoreError, match="TimeoutError"):
            loop.run_until_complete(store.hit_async(key, limit, "fixed_window"))
        busy.join()
        return int(info.info("stats")["total_connections_received"]) - int(before)
    finally:
        loop.run_until_complete(store.aclose())
        loop.close()
        info.close()
        busy_client.close()


def _key_node_port(cluster: Any, key: str) -> int:
    from redis.cluster import RedisCluster

    client = RedisCluster.from_url(cluster.url)
    try:
        return int(client.get_node_from_key(key).port)
    finally:
        client.close()


def test_a_single_node_async_client_does_not_retry_a_timeout(redis_servers: Any) -> None:
    server = redis_servers()
    url = f"redis://127.0.0.1:{server.port}/0"
    key = f"busy-{uuid.uuid4().hex}"
    assert _connections_while_busy(url, server.port, key, on_cluster=False) == 0


# fmt: off
def test_an_async_cluster_client_does_not_retry_a_timeout(cluster: Any) -> None:
    """One hit to a primary kept silent by a busy script: the retry opens a second connection
    to it (after a first socket timeout, and waits a second one) before the StoreError."""
    key = f"busy-{uuid.uuid4().hex}"
    stored = AsyncRedisStore(cluster.url, cluster=True, check_eviction=False)._key(
        key, "fixed_window"
    )
    port = _key_node_port(cluster, stored)
    assert _connections_while_busy(cluster.url, port, key, on_cluster=True) == 0
# fmt: on


# -- DynamoDB penalty counters at a block boundary ------------------------------------------------


def test_a_concurrent_burst_at_a_dynamodb_block_boundary_ends_blocked(ddb_client: Any) -> None:
    clock = Clock(3600.0 * 500_000 + 1)
    store = DynamoDBStore(f"review151-{uuid.uuid4().hex[:12]}", client=ddb_client, clock=clock)
    store.create_table()
    threshold = as_limit("3/hour")
    subject = "ip:203.0.113.50"
    for _ in range(3):
        assert store.record(subject, "auth", threshold, 60) == 0.0
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: store.record(subject, "auth", threshold, 60), range(24)))
    assert 60.0 in answers
    assert store.blocked_for(subject) > 0
    clock.now += 61  # the block is over, the window is not: at most threshold events pass
    after = [store.record(subject, "auth", threshold, 60) for _ in range(5)]
    assert 60.0 in after[:4]
    assert store.blocked_for(subject) > 0
