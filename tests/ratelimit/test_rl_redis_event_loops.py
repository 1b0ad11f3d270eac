"""AsyncRedisStore across event loops, as a Lambda handler run with ``asyncio.run`` sees it.

Every invocation of such a handler runs on a new event loop, and a ``redis.asyncio``
connection belongs to the loop that opened it. Before the fix the store's second
invocation failed (``RuntimeError`` inside redis-py, a ``StoreError`` for the limiter), so
from then on every decision came from ``on_store_error``: per-container memory (the fleet
limit silently gone), nobody (``"open"``) or a refusal for everybody (``"closed"``).
A store made from ``url=`` now builds its client once per event loop; a ``client=`` of
the user's serves the loop it is first used in, and refuses another loop by name.
Real redis-server and Redis Cluster on loopback (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest

from secauth.errors import AbuseBlocked
from secauth.ratelimit import AbusePenalty, AsyncRedisStore, RateLimiter
from secauth.ratelimit.limit import as_limit
from secauth.ratelimit.redis_store import RedisStore
from secauth.ratelimit.store import StoreError

# Clients of closed event loops are collected after each test (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("collect_garbage")


def event(ip: str = "203.0.113.9") -> dict[str, Any]:
    return {"version": "2.0", "rawPath": "/x", "headers": {},
            "requestContext": {"http": {"method": "GET", "path": "/x", "sourceIp": ip},
                               "stage": "$default"}}  # fmt: skip


def invocations(limiter: RateLimiter, times: int) -> list[bool]:
    """``times`` decisions, each in an ``asyncio.run`` of its own (one Lambda invocation)."""
    return [asyncio.run(limiter.hit_async(event())).allowed for _ in range(times)]


@pytest.mark.parametrize("on_store_error", ["memory", "open", "closed"])
def test_each_invocation_counts_in_redis(
    redis_url: str, on_store_error: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Limit 3: three invocations pass, the fourth and fifth are refused, the count is the
    server's (a sync store of another container sees it), and no store failure is logged."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    limiter = RateLimiter.per_ip("3/minute", store=AsyncRedisStore(url=redis_url, prefix=prefix),
                                 on_store_error=on_store_error, deny_cache=False)  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="secauth.ratelimit"):
        assert invocations(limiter, 5) == [True, True, True, False, False]
    assert not [r for r in caplog.records if "store failed" in r.getMessage()]
    other = RateLimiter.per_ip("3/minute", store=RedisStore(url=redis_url, prefix=prefix),
                               deny_cache=False)  # fmt: skip
    assert other.hit(event()).allowed is False


def test_a_penalty_blocks_across_invocations(redis_url: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    penalty = AbusePenalty(store=AsyncRedisStore(url=redis_url, prefix=prefix),
                           auth_failures="2/hour", cooldown=60, deny_cache=False,
                           on_store_error="open")  # fmt: skip
    blocks = [asyncio.run(penalty.record_auth_failure_async(event())) for _ in range(3)]
    assert blocks[:2] == [0.0, 0.0]
    assert blocks[2] > 0
    with pytest.raises(AbuseBlocked):
        asyncio.run(penalty.check_async(event()))
    # The block is the server's: a sync store sees it.
    synced = AbusePenalty(store=RedisStore(url=redis_url, prefix=prefix), auth_failures="2/hour",
                          cooldown=60, deny_cache=False)  # fmt: skip
    assert synced.blocked_for(event()) > 0


def test_one_loop_keeps_one_client(redis_url: str) -> None:
    """Within one event loop (a container that keeps its loop) the client is reused."""
    store = AsyncRedisStore(url=redis_url, prefix=f"t{uuid.uuid4().hex[:8]}")
    limiter = RateLimiter.per_ip("10/minute", store=store, deny_cache=False)

    async def three() -> list[Any]:
        seen = []
        for _ in range(3):
            await limiter.hit_async(event())
            seen.append(store.client)
        return seen

    first = asyncio.run(three())
    assert first[0] is first[1] is first[2]
    second = asyncio.run(three())
    assert second[0] is not first[0]  # a new loop, a new client


def test_a_users_client_refuses_another_loop_by_name(redis_url: str) -> None:
    from redis import asyncio as aioredis

    store = AsyncRedisStore(client=aioredis.Redis.from_url(redis_url),
                            prefix=f"t{uuid.uuid4().hex[:8]}")  # fmt: skip
    limit = as_limit("3/minute")
    assert asyncio.run(store.hit_async("k", limit, "fixed_window")).allowed
    with pytest.raises(StoreError) as raised:
        asyncio.run(store.hit_async("k", limit, "fixed_window"))
    assert "another event loop" in raised.value.reason


def test_a_cluster_store_counts_across_invocations(cluster: Any) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    store = AsyncRedisStore(cluster.url, cluster=True, prefix=prefix,
                            socket_timeout=2.0, connect_timeout=2.0)  # fmt: skip
    limiter = RateLimiter.per_ip("2/minute", store=store, on_store_error="open", deny_cache=False)
    assert invocations(limiter, 3) == [True, True, False]
