"""DynamoDBStore and AsyncDynamoDBStore against a real dynalite on loopback.

Exact admission counts under 40 threads, window edges (injected clock), the TTL
attribute on every item, one UpdateItem per decision (zero while the deny cache
holds), a server killed mid-test under each failure policy, penalties, async.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from rl_services import RequestCounter, Server, dynamodb_client

from secauth.errors import AbuseBlocked, ConfigurationError, Reason
from secauth.ratelimit import AbusePenalty, Limit, RateLimiter, StoreError
from secauth.ratelimit.dynamodb_store import AsyncDynamoDBStore, DynamoDBStore

T0 = 1_800_000_000.0  # a fixed epoch second, on an hour edge


class Clock:
    def __init__(self, now: float = T0 + 1800) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def event(ip: str = "198.51.100.7", path: str = "/") -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": path,
        "requestContext": {"http": {"method": "GET", "path": path, "sourceIp": ip}},
    }


def shared_key(request: Any, principal: Any) -> str:
    return "shared"


def make_store(client: Any, table: str, clock: Callable[[], float] | None = None) -> DynamoDBStore:
    store = DynamoDBStore(table, client=client, **({"clock": clock} if clock else {}))
    store.create_table()
    return store


def scan(client: Any, table: str) -> list[dict[str, Any]]:
    return list(client.scan(TableName=table, ConsistentRead=True)["Items"])


def test_default_algorithm_is_fixed_window_and_others_are_refused(
    dynamodb: Any, table_name: str
) -> None:
    """DynamoDB decides with a fixed window only; asking for another fails at construction."""
    store = DynamoDBStore(table_name, client=dynamodb)
    assert RateLimiter.per_ip("5/minute", store=store).algorithm == "fixed_window"
    with pytest.raises(ConfigurationError) as exc:
        RateLimiter.per_ip("5/minute", store=store, algorithm="gcra")
    assert "DynamoDBStore supports algorithm fixed_window" in str(exc.value)


def test_exact_admission_under_40_threads(dynalite_service: Server, table_name: str) -> None:
    """40 threads x 6 hits with a limit of 100 in one window: exactly 100 admitted."""
    client = dynamodb_client(dynalite_service.port, max_pool_connections=40)
    limiter = RateLimiter.per_key(
        Limit(100, 3600),
        key=shared_key,
        name="shared",
        store=make_store(client, table_name, Clock()),
        on_store_error="closed",
        deny_cache=False,
    )
    barrier = threading.Barrier(40)
    counts: list[int] = []
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
            counts.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert degraded == []
    assert sum(counts) == 100
    items = scan(client, table_name)
    assert len(items) == 1
    assert items[0]["n"] == {"N": "100"}


def test_window_edges_and_ttl_attribute(dynamodb: Any, table_name: str) -> None:
    """Full until the last microsecond of the window, fresh at its edge; every item has
    a TTL attribute one minute past its window's end."""
    clock = Clock(T0 + 59.5)
    store = make_store(dynamodb, table_name, clock)
    limit = Limit(2, 60)
    results = [store.hit("edge", limit, "fixed_window") for _ in range(3)]
    assert [r.allowed for r in results] == [True, True, False]
    assert [r.remaining for r in results] == [1, 0, 0]
    assert results[2].retry_after == pytest.approx(0.5)
    clock.now = T0 + 59.999999
    assert not store.hit("edge", limit, "fixed_window").allowed
    clock.now = T0 + 60
    fresh = store.hit("edge", limit, "fixed_window")
    assert fresh.allowed
    assert fresh.remaining == 1
    assert fresh.reset_after == pytest.approx(60)
    items = {i["pk"]["S"]: i for i in scan(dynamodb, table_name)}
    window = int(T0 // 60)
    assert set(items) == {f"secauth#rl#edge#{window}", f"secauth#rl#edge#{window + 1}"}
    assert items[f"secauth#rl#edge#{window}"]["expires_at"] == {"N": str(int(T0) + 60 + 60)}
    assert items[f"secauth#rl#edge#{window + 1}"]["expires_at"] == {"N": str(int(T0) + 120 + 60)}


def test_every_item_has_the_ttl_attribute(dynamodb: Any, table_name: str) -> None:
    """Rate-limit windows, penalty counters, distinct-path sets and blocks all carry it."""
    clock = Clock()
    store = make_store(dynamodb, table_name, clock)
    for i in range(6):
        store.hit(f"k{i % 3}", Limit(3, 60), "fixed_window")
    penalty = AbusePenalty(store=store, auth_failures="2/minute", unknown_paths="3/minute")
    for i in range(5):
        penalty.record_auth_failure(event("10.0.0.1"), "alice")
        penalty.record_not_found(event("10.0.0.2"), f"/x{i}")
    items = scan(dynamodb, table_name)
    assert len(items) >= 8
    now = int(clock.now)
    for item in items:
        assert int(item["expires_at"]["N"]) > now, item


def test_one_update_item_per_decision_and_none_while_denied(dynamodb: Any, table_name: str) -> None:
    """One HTTP request per decision; zero while the local deny cache holds."""
    counter = RequestCounter(dynamodb)
    limiter = RateLimiter.per_ip("3/minute", store=make_store(dynamodb, table_name))
    counter.count = 0
    results = [limiter.hit(event()) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert counter.count == 4
    for _ in range(30):
        assert not limiter.hit(event()).allowed
    assert counter.count == 4
    assert limiter.hit(event("203.0.113.1")).allowed
    assert counter.count == 5


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("closed", [False] * 5),
        ("open", [True] * 5),
        ("memory", [True, True, False, False, False]),
    ],
)
def test_server_killed_mid_test(
    private_server: Callable[[str], Server],
    caplog: pytest.LogCaptureFixture,
    table_name: str,
    policy: str,
    expected: list[bool],
) -> None:
    """Each failure policy decides while DynamoDB is unreachable; one WARNING with the reason."""
    server = private_server("dynamodb")
    client = dynamodb_client(server.port, connect_timeout=0.2, read_timeout=0.5)
    limiter = RateLimiter.per_ip(
        "2/minute",
        store=make_store(client, table_name),
        on_store_error=policy,
        retry_store_after=0.05,
    )
    first = limiter.hit(event())
    assert first.allowed
    assert not first.degraded
    server.stop()
    caplog.set_level(logging.WARNING, logger="secauth.ratelimit")
    results = []
    for _ in range(5):
        results.append(limiter.hit(event()))
        time.sleep(0.03)
    assert [r.allowed for r in results] == expected
    assert all(r.degraded for r in results)
    mine = [r for r in caplog.records if r.name == "secauth.ratelimit"]
    assert len(mine) == 1
    assert mine[0].levelno == logging.WARNING
    assert "dynamodb: EndpointConnectionError" in mine[0].getMessage()


def test_store_errors_are_store_errors(
    private_server: Callable[[str], Server], table_name: str
) -> None:
    """botocore's exceptions never escape the store: StoreError with a reason."""
    server = private_server("dynamodb")
    store = make_store(dynamodb_client(server.port, connect_timeout=0.2), table_name)
    server.stop()
    for call in (
        lambda: store.hit("k", Limit(1, 60), "fixed_window"),
        lambda: store.blocked_for("ip:1.2.3.4"),
        lambda: store.record("ip:1.2.3.4", "auth", Limit(1, 60), 60),
    ):
        with pytest.raises(StoreError) as exc:
            call()
        assert exc.value.reason == "dynamodb: EndpointConnectionError"


def test_missing_table_is_a_store_error(dynamodb: Any) -> None:
    store = DynamoDBStore("no-such-table", client=dynamodb)
    with pytest.raises(StoreError) as exc:
        store.hit("k", Limit(1, 60), "fixed_window")
    assert exc.value.reason == "dynamodb: ResourceNotFoundException"


def test_penalties_on_dynamodb(dynamodb: Any, table_name: str) -> None:
    """Failures and distinct paths block; the path set stays capped at M + 1 members."""
    clock = Clock()
    store = make_store(dynamodb, table_name, clock)
    penalty = AbusePenalty(store=store, auth_failures="3/minute", unknown_paths="5/minute")
    assert [penalty.record_auth_failure(event("10.1.1.1")) for _ in range(4)] == [
        0.0,
        0.0,
        0.0,
        900.0,
    ]
    with pytest.raises(AbuseBlocked) as exc:
        penalty.check(event("10.1.1.1"))
    assert exc.value.reason is Reason.ABUSE_BLOCKED
    assert exc.value.retry_after == pytest.approx(900, abs=1)
    for _ in range(20):
        assert penalty.record_not_found(event("10.2.2.2"), "/favicon.ico") == 0.0
    scans = [penalty.record_not_found(event("10.3.3.3"), f"/p{i}") for i in range(6)]
    assert scans == [0.0] * 5 + [900.0]
    # a direct store call past the cap is refused by the condition: the set stays at 6
    assert store.record("ip:10.3.3.3", "scan", Limit(5, 60), 900, "ffff") == pytest.approx(900)
    sets = [i for i in scan(dynamodb, table_name) if "s" in i]
    assert max(len(i["s"]["SS"]) for i in sets) == 6
    # the block item ends with the cooldown (read without this container's deny cache)
    fresh = AbusePenalty(store=store, auth_failures="3/minute", deny_cache=False)
    with pytest.raises(AbuseBlocked):
        fresh.check(event("10.1.1.1"))
    clock.now += 901
    fresh.check(event("10.1.1.1"))


def test_default_client_has_short_timeouts_and_no_retries(
    dynalite_service: Server, table_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store built from endpoint_url uses one attempt and sub-second timeouts."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    store = DynamoDBStore(
        table_name, region="us-east-1", endpoint_url=f"http://127.0.0.1:{dynalite_service.port}"
    )
    config = store.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (0.25, 0.25)
    assert config.retries["total_max_attempts"] == 1
    store.create_table()
    assert store.hit("k", Limit(1, 60), "fixed_window").allowed


def test_async_exact_admission_and_penalties(dynalite_service: Server, table_name: str) -> None:
    """AsyncDynamoDBStore under 40 concurrent tasks admits exactly the limit."""
    client = dynamodb_client(dynalite_service.port, max_pool_connections=40)
    store = AsyncDynamoDBStore(store=make_store(client, table_name, Clock()))
    limiter = RateLimiter.per_key(Limit(50, 3600), key=shared_key, name="shared", store=store,
                                  deny_cache=False)
    penalty = AbusePenalty(store=store, auth_failures="1/minute", cooldown=60)

    async def main() -> int:
        async def task() -> int:
            return sum([(await limiter.hit_async(event())).allowed for _ in range(3)])

        admitted = sum(await asyncio.gather(*(task() for _ in range(40))))
        await penalty.record_auth_failure_async(event())
        assert await penalty.record_auth_failure_async(event()) == 60.0
        with pytest.raises(AbuseBlocked):
            await penalty.check_async(event())
        return admitted

    assert asyncio.run(main()) == 50
    with pytest.raises(ConfigurationError):
        AsyncDynamoDBStore()
