"""Review 145: the rate-limit and abuse-penalty store fixes of reviews 137, 140 and 144, attacked.

Attacked (``git show 73bd244 c9b91b6 039bd3e -- src/secauth/ratelimit``), with real servers on
loopback only: the conftest's redis-server (sync and async stores, a RESP3 client, a flushed script
cache), a 3+3 Redis Cluster (sync and async cluster clients), dynalite (``DynamoDBStore`` and
``AsyncDynamoDBStore``), and the redis store of secauth 0ccc765 (before the fixes) loaded from git
history as the other half of a fleet in the middle of a rolling deploy:

* honest state wrongly denied or blocked: exact thresholds, repeated and distinct members, a
  block ending and counting restarting, counters in the middle of a window, keys written by the
  older release (old and new containers alternating on one key or subject, every algorithm);
* attacker-controlled subjects (user names with hash-tag braces, very long, Unicode variants) on a
  single node and a cluster: one subject's corrupt counter blocks that subject only;
* stored values that are no state of ours: does any still fail the whole store over to its
  fallback (sync, async, cluster), and do the log lines stay free of keys and values?

Resolved: the Redis penalty script takes only INCR's own integers as a count (``0`` or digits with
no leading zero, at most 18), anything else blocks its subject; a rate-limit key of another type is
replaced by a full window or burst of ours, and a GCRA state beyond a full burst written back as
one, so both drain; DynamoDB's penalty condition checks the attribute's type, an odd ``until``
reads as blocked, ``usage()`` reads an odd ``n`` as a full window. Resolved later (info): a
negative DynamoDB penalty counter blocked every event until its window's item ended; it now blocks
once and is cleared after the block is written, so the count starts afresh when the block ends.

Findings (strict xfails):

* low: Redis ``RECORD_SCRIPT`` reads a penalty counter with Lua's ``tonumber``, which accepts
  spellings ``INCR`` refuses (``1e2``, ``2.0``, `` 1``, ``+1``, ``01``, ``-0``, and
  ``9223372036854775807``, which overflows): the check lets them through, ``INCR`` answers an
  error, and the store fails over (breaker open for every subject): under the default ``"memory"``
  a subject blocked in Redis passes in every container that touched the odd counter; under
  ``"closed"`` everybody is blocked (sync and async).
* low: a Redis rate-limit key whose state is no state of ours (another type; a GCRA state that is
  NaN, infinite or beyond a full burst) is denied for ever when the value has no TTL (written by
  hand), yet every denial promises ``retry_after`` one interval or one window: the client retries
  then and is denied again, indefinitely.
* low: DynamoDB penalties: a distinct-member counter (``s``) of another type (string, list,
  number set) makes ``ADD`` fail with ``ValidationException``, a store failure (the breaker opens
  for every subject; a subject blocked in the table passes under ``"memory"``).
* low: DynamoDB penalties: a block item whose ``until`` is not a whole number (another type, or
  fractional) makes ``blocked_for`` raise ``KeyError``/``ValueError``, read as a store failure by
  ``AbusePenalty``: every check of that subject takes the store down for every other subject.
* low: ``DynamoDBStore.usage`` on a count of another type raises ``KeyError`` (neither a full
  window, as ``hit`` denies it, nor the documented ``StoreError``; ``secauth usage`` crashes).
* info: DynamoDB penalties: a negative counter re-blocks the subject at every event after its
  block ends, for the rest of the window (Redis deletes the odd counter and counts afresh, as
  "After a block ends, every store counts afresh" says).

Held (plain tests): exact thresholds (the threshold-th event passes, the next blocks) for counted
and distinct-member penalties on Redis (sync and async), a cluster and DynamoDB; repeated members
never count twice; a block ending restarts the count; a fleet half on the 0ccc765 redis store and
half on today's admits exactly the limit with every algorithm and blocks on exactly the
threshold-th + 1 event; a flushed script cache (``NOSCRIPT`` then ``EVAL``) runs today's script; a
RESP3 client reads ``TYPE`` the same; wrong-typed and negative counters deny or block their own
key or subject only, on a cluster too (sync and async clients: no ``MOVED``/``ASK`` trouble, no
degraded decision elsewhere); hostile user names count apart; no log line names a key or value.

Noted, not reported: only redis-server 7.0.15 is installed here (``TYPE``'s status table read as
``['ok']`` is the same on Redis 6 and Valkey, untested); ``store.record(..., member="")`` (direct
store use only; ``AbusePenalty`` always hashes paths) counts with ``INCR`` at the ``:set`` key; a
non-numeric GCRA string reads as no state (as a deleted key would); a DynamoDB string set of
distinct paths would outgrow the 400 KB item limit only with a threshold of about 20,000 paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from hand_clock import Clock
from rl_services import PATIENT

import secauth.testing_events as te
from secauth.errors import AbuseBlocked
from secauth.ratelimit import AbusePenalty, Limit, RateLimiter
from secauth.ratelimit.dynamodb_store import AsyncDynamoDBStore, DynamoDBStore
from secauth.ratelimit.redis_store import AsyncRedisStore, RedisStore

pytestmark = pytest.mark.xdist_group("redis-cluster")

ROOT = Path(__file__).resolve().parent.parent
OLD_RELEASE = "0ccc765"
A = "203.0.113.10"
B = "203.0.113.20"
_names = itertools.count()


def ev(ip: str = A, path: str = "/login") -> Any:
    return te.http_proxy("POST", path, source_ip=ip)


def space() -> str:
    return f"r145n{next(_names)}t{time.monotonic_ns()}"


def ddb_store(ddb_client: Any, **options: Any) -> DynamoDBStore:
    store = DynamoDBStore(f"review145-{space()}", client=ddb_client, **options)
    store.create_table()
    return store


def penalty_keys(client: Any, kind: bytes) -> list[bytes]:
    return [k for k in client.keys("{secauth:pen:*") if client.type(k) == kind]


def away_from_edge(client: Any, period: int, margin: float = 2.0) -> None:
    """Wait past a window edge when the server's clock is within ``margin`` of one."""
    seconds, micros = client.time()
    into = (seconds + micros / 1e6) % period
    if period - into < margin:
        time.sleep(period - into + 0.05)


def old_store_class() -> Any:
    """``RedisStore`` of secauth 0ccc765 (before reviews 137 and 144), from git history."""
    try:
        text = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{OLD_RELEASE}:src/secauth/ratelimit/redis_store.py"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip(f"git history of {OLD_RELEASE} is not available")
    namespace: dict[str, Any] = {"__name__": "secauth_0ccc765_redis_store"}
    exec(compile(text, "redis_store@0ccc765", "exec"), namespace)  # our own history
    return namespace["RedisStore"]


# == honest state: thresholds, members, blocks ending ============================================


def test_redis_penalty_exact_threshold_sync_and_async(redis_url: str) -> None:
    penalty = AbusePenalty(store=RedisStore(url=redis_url), auth_failures="3/hour", cooldown=60)
    assert [penalty.record_auth_failure(ev()) for _ in range(3)] == [0.0, 0.0, 0.0]
    penalty.check(ev())
    assert penalty.record_auth_failure(ev()) == 60.0
    with pytest.raises(AbuseBlocked):
        penalty.check(ev())
    penalty.check(ev(B))

    async def run() -> list[float]:
        store = AsyncRedisStore(url=redis_url)
        other = AbusePenalty(store=store, auth_failures="3/hour", cooldown=60)
        out = [await other.record_auth_failure_async(ev(B), "bob") for _ in range(4)]
        await store.aclose()
        return out

    assert asyncio.run(run()) == [0.0, 0.0, 0.0, 60.0]


def test_redis_distinct_members_count_once_and_block_past_the_threshold(redis_url: str) -> None:
    penalty = AbusePenalty(store=RedisStore(url=redis_url), unknown_paths="3/hour", cooldown=60)
    assert all(penalty.record_not_found(ev(), "/same") == 0.0 for _ in range(10))
    assert [penalty.record_not_found(ev(), f"/p{i}") for i in range(2)] == [0.0, 0.0]
    assert penalty.record_not_found(ev(), "/p3") == 60.0
    with pytest.raises(AbuseBlocked):
        penalty.check(ev())


def test_redis_a_block_ending_restarts_the_count(redis_url: str, redis_client: Any) -> None:
    penalty = AbusePenalty(
        store=RedisStore(url=redis_url),
        auth_failures="2/hour",
        unknown_paths="2/hour",
        cooldown=60,
        deny_cache=False,
    )
    assert [penalty.record_auth_failure(ev()) for _ in range(3)][-1] == 60.0
    assert [penalty.record_not_found(ev(B), f"/{i}") for i in range(3)][-1] == 60.0
    for block in redis_client.keys("{secauth:pen:*}:b"):
        redis_client.pexpire(block, 1)  # the cooldown ends
    time.sleep(0.02)
    assert [penalty.record_auth_failure(ev()) for _ in range(3)] == [0.0, 0.0, 60.0]
    assert [penalty.record_not_found(ev(B), f"/{i}") for i in range(3)] == [0.0, 0.0, 60.0]


def test_dynamodb_thresholds_and_a_block_ending(ddb_client: Any) -> None:
    clock = Clock(3600.0 * 500_000 + 1)
    store = ddb_store(ddb_client, clock=clock)
    penalty = AbusePenalty(
        store=store, auth_failures="3/hour", unknown_paths="3/hour", cooldown=60, deny_cache=False
    )
    assert [penalty.record_auth_failure(ev()) for _ in range(4)] == [0.0, 0.0, 0.0, 60.0]
    assert all(penalty.record_not_found(ev(B), "/same") == 0.0 for _ in range(5))
    assert [penalty.record_not_found(ev(B), f"/{i}") for i in range(3)] == [0.0, 0.0, 60.0]
    clock.now += 61  # both blocks over, same window: counted afresh
    assert [penalty.record_auth_failure(ev()) for _ in range(4)] == [0.0, 0.0, 0.0, 60.0]
    assert [penalty.record_not_found(ev(B), f"/n{i}") for i in range(4)] == [0.0, 0.0, 0.0, 60.0]


def test_async_dynamodb_penalty_threshold(ddb_client: Any) -> None:
    store = AsyncDynamoDBStore(store=ddb_store(ddb_client))
    penalty = AbusePenalty(store=store, auth_failures="2/hour", cooldown=60)

    async def run() -> list[float]:
        return [await penalty.record_auth_failure_async(ev()) for _ in range(3)]

    assert asyncio.run(run()) == [0.0, 0.0, 60.0]


# == a fleet in the middle of a rolling deploy: the 0ccc765 store beside today's ==================


@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window", "gcra"])
def test_old_and_new_containers_share_one_key_exactly(
    redis_url: str, redis_client: Any, algorithm: str
) -> None:
    old = old_store_class()
    away_from_edge(redis_client, 3600)
    limit = Limit(5, 3600)
    stores = [old(url=redis_url), RedisStore(url=redis_url)]
    limiters = [
        RateLimiter.per_ip(limit, store=s, algorithm=algorithm, deny_cache=False) for s in stores
    ]
    answers = [limiters[i % 2].hit(ev()) for i in range(12)]
    assert [a.allowed for a in answers] == [True] * 5 + [False] * 7
    assert [a.remaining for a in answers[:5]] == [4, 3, 2, 1, 0]
    assert not any(a.degraded for a in answers)
    # a mid-window state the old release wrote is read as the count it is
    assert limiters[0].hit(ev(B)).allowed
    assert limiters[0].hit(ev(B)).allowed
    middle = limiters[1].hit(ev(B))
    assert middle.allowed
    assert middle.remaining == 2
    assert not middle.degraded


@pytest.mark.parametrize("member", [False, True])
def test_old_and_new_containers_share_one_penalty_subject(redis_url: str, member: bool) -> None:
    old = old_store_class()
    penalties = [
        AbusePenalty(store=s, auth_failures="3/hour", unknown_paths="3/hour", cooldown=60)
        for s in (old(url=redis_url), RedisStore(url=redis_url))
    ]

    def event(i: int) -> float:
        p = penalties[i % 2]
        return p.record_not_found(ev(), f"/{i}") if member else p.record_auth_failure(ev())

    assert [event(i) for i in range(4)] == [0.0, 0.0, 0.0, 60.0]
    for p in penalties:
        with pytest.raises(AbuseBlocked):
            p.check(ev())


# == script cache and protocol ===================================================================


def test_a_flushed_script_cache_runs_todays_scripts(redis_url: str, redis_client: Any) -> None:
    limiter = RateLimiter.per_ip("5/hour", store=RedisStore(url=redis_url), deny_cache=False)
    penalty = AbusePenalty(store=RedisStore(url=redis_url), auth_failures="3/hour", cooldown=60)
    assert limiter.hit(ev()).allowed
    assert penalty.record_auth_failure(ev()) == 0.0
    (key,) = redis_client.keys("secauth:rl:*")
    (counter,) = penalty_keys(redis_client, b"string")
    redis_client.delete(key)
    redis_client.lpush(key, "x")
    redis_client.set(counter, "-7")
    redis_client.script_flush()
    denied = limiter.hit(ev())
    assert not denied.allowed
    assert not denied.degraded
    assert penalty.record_auth_failure(ev()) == 60.0  # today's script: no credit
    assert limiter.hit(ev(B)).allowed


def test_a_resp3_client_reads_types_the_same(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, protocol=3)
    store = RedisStore(client=client)
    limiter = RateLimiter.per_ip("3/hour", store=store, algorithm="gcra", deny_cache=False)
    assert [limiter.hit(ev()).allowed for _ in range(4)] == [True, True, True, False]
    (key,) = client.keys("secauth:rl:*")
    client.delete(key)
    client.lpush(key, "y")
    denied = limiter.hit(ev())
    assert not denied.allowed
    assert not denied.degraded
    assert limiter.hit(ev(B)).allowed
    penalty = AbusePenalty(store=store, auth_failures="2/hour", cooldown=60)
    assert [penalty.record_auth_failure(ev()) for _ in range(3)] == [0.0, 0.0, 60.0]
    client.close()


# == attacker-chosen subjects =====================================================================


HOSTILE_NAMES = [
    "a}b",
    "{a}",
    "}{",
    "a" * 5000,
    "ÅLICE",
    "\uff41\uff4c\uff49\uff43\uff45{x}",
    "alice\u0000",
]


def test_hostile_user_names_count_apart_and_a_corrupt_one_blocks_itself(
    redis_url: str, redis_client: Any
) -> None:
    penalty = AbusePenalty(store=RedisStore(url=redis_url), auth_failures="2/hour", cooldown=60)
    for i, name in enumerate(HOSTILE_NAMES):
        assert penalty.record_auth_failure(ev(f"198.51.100.{i + 1}"), name) == 0.0
    keys = [k.decode() for k in redis_client.keys("*")]
    assert all(k.count("{") == 1 and k.count("}") == 1 for k in keys), keys
    # every name alone once: nobody blocked; corrupt one name's counter: that name alone
    target = penalty._principal_subject("a}b")  # the subject the store keys
    assert target is not None
    counter = "{secauth:pen:" + target + "}:auth"
    assert redis_client.exists(counter)
    redis_client.delete(counter)
    redis_client.rpush(counter, "x")
    assert penalty.record_auth_failure(ev("192.0.2.1"), "a}b") == 60.0
    for name in HOSTILE_NAMES[1:]:
        penalty.check(ev("192.0.2.2"), name)
    with pytest.raises(AbuseBlocked):
        penalty.check(ev("192.0.2.3"), "A}B")  # its case variant is the same name


# == Redis Cluster ================================================================================


def cluster_client(cluster: Any) -> Any:
    return redis.cluster.RedisCluster.from_url(cluster.url, **PATIENT)


def test_cluster_a_wrong_type_denies_its_key_alone_sync_and_async(cluster: Any) -> None:
    prefix = space()
    limiter = RateLimiter.per_ip(
        "5/hour",
        store=RedisStore(cluster.url, cluster=True, prefix=prefix, **PATIENT),
        deny_cache=False,
    )
    others = [f"198.51.100.{i}" for i in range(1, 25)]
    assert limiter.hit(ev()).allowed
    client = cluster_client(cluster)
    (key,) = client.keys(f"{prefix}:rl:*", target_nodes="primaries")
    client.delete(key)
    client.sadd(key, "x")
    denied = [limiter.hit(ev()) for _ in range(3)]
    assert not any(d.allowed or d.degraded for d in denied)
    answers = [limiter.hit(ev(ip)) for ip in others]
    assert all(a.allowed and not a.degraded for a in answers)

    async def run() -> tuple[list[Any], list[Any]]:
        store = AsyncRedisStore(cluster.url, cluster=True, prefix=prefix, **PATIENT)
        alimiter = RateLimiter.per_ip("5/hour", store=store, deny_cache=False)
        mine = [await alimiter.hit_async(ev()) for _ in range(2)]
        theirs = [await alimiter.hit_async(ev(ip)) for ip in others]
        await store.aclose()
        return mine, theirs

    mine, theirs = asyncio.run(run())
    assert not any(d.allowed or d.degraded for d in mine)
    assert all(a.allowed and not a.degraded for a in theirs)
    client.close()


@pytest.mark.parametrize("poison", ["hash", "negative", "fraction"])
def test_cluster_a_corrupt_penalty_counter_blocks_its_subject_alone(
    cluster: Any, poison: str
) -> None:
    prefix = space()
    store = RedisStore(cluster.url, cluster=True, prefix=prefix, **PATIENT)
    penalty = AbusePenalty(store=store, auth_failures="3/hour", cooldown=60, deny_cache=False)
    assert penalty.record_auth_failure(ev(), "a}b{c") == 0.0
    client = cluster_client(cluster)
    subject = penalty._principal_subject("a}b{c")
    counter = "{" + f"{prefix}:pen:{subject}" + "}:auth"
    assert client.exists(counter)
    client.delete(counter)
    if poison == "hash":
        client.hset(counter, "n", "1")
    else:
        client.set(counter, "-3" if poison == "negative" else "1.5")
    assert penalty.record_auth_failure(ev("192.0.2.9"), "a}b{c") == 60.0
    for i in range(1, 13):
        penalty.check(ev(f"198.51.100.{i}"), f"user{i}")
        assert penalty.record_auth_failure(ev(f"198.51.100.{i}"), f"user{i}") == 0.0
    client.close()


# == findings: odd values that still fail the store over ========================================


_NOT_CANONICAL = ["1e2", "2.0", " 1", "+1", "01", "-0", "9223372036854775807"]


# fmt: off
@pytest.mark.parametrize("value", _NOT_CANONICAL)
def test_redis_an_odd_counter_spelling_never_fails_the_store_over(
    redis_url: str, redis_client: Any, value: str
) -> None:
    """A subject blocked in Redis (by container 1) stays blocked in container 2 after
    container 2 records an event on another subject whose counter holds a number ``INCR``
    refuses: RECORD_SCRIPT's ``tonumber`` check passes it, ``INCR`` answers an error, the
    store fails over, and container 2 asks its empty fallback memory about the blocked one."""
    first = AbusePenalty(store=RedisStore(url=redis_url), auth_failures="3/hour", cooldown=600)
    assert [first.record_auth_failure(ev(B)) for _ in range(4)][-1] == 600.0
    assert first.record_auth_failure(ev()) == 0.0
    (counter,) = [k for k in penalty_keys(redis_client, b"string") if not k.endswith(b":b")]
    redis_client.set(counter, value)
    second = AbusePenalty(store=RedisStore(url=redis_url), auth_failures="3/hour", cooldown=600)
    blocked = [second.record_auth_failure(ev()) for _ in range(4)]
    with pytest.raises(AbuseBlocked):
        second.check(ev(B))
    assert any(b > 0 for b in blocked)
# fmt: on


# fmt: off
def test_async_redis_an_odd_counter_spelling_never_fails_the_store_over(
    redis_url: str, redis_client: Any
) -> None:
    """The same with ``AsyncRedisStore`` and ``on_store_error="closed"``: the odd counter takes
    the store down, and every other subject is refused (``AbuseBlocked``) meanwhile."""

    async def run() -> None:
        store = AsyncRedisStore(url=redis_url)
        penalty = AbusePenalty(store=store, auth_failures="3/hour", cooldown=60,
                               on_store_error="closed")
        assert await penalty.record_auth_failure_async(ev()) == 0.0
        (counter,) = penalty_keys(redis_client, b"string")
        redis_client.set(counter, "1e2")
        try:
            left = [await penalty.record_auth_failure_async(ev()) for _ in range(4)]
            await penalty.check_async(ev(B))
            assert any(b > 0 for b in left)
        finally:
            await store.aclose()

    asyncio.run(run())
# fmt: on


def test_the_odd_counter_failure_names_no_key_or_value(
    redis_url: str, redis_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever the store does with an odd counter, its log lines name no key, subject or value."""
    penalty = AbusePenalty(store=RedisStore(url=redis_url), auth_failures="3/hour", cooldown=60)
    assert penalty.record_auth_failure(ev(), "mallory") == 0.0
    for counter in penalty_keys(redis_client, b"string"):
        redis_client.set(counter, "1e2")
    with caplog.at_level(logging.DEBUG):
        penalty.record_auth_failure(ev(), "mallory")
        with pytest.raises(AbuseBlocked):  # since the fix: an odd counter blocks its subject
            penalty.check(ev(), "mallory")
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for secret in ("1e2", "mallory", A, "pen:", "not an integer"):
        assert secret not in text


# fmt: off
@pytest.mark.parametrize(("algorithm", "poison"),
                         [("gcra", "nan"), ("gcra", "inf"), ("gcra", "list"), ("fixed_window", "list")])
def test_redis_a_state_not_ours_admits_after_the_retry_after_it_gave(
    redis_url: str, redis_client: Any, algorithm: str, poison: str
) -> None:
    """A key whose state is no state of ours reads as a full window or a full burst: denied, with
    ``retry_after`` one interval (GCRA) or one window. A full burst drains; this one never does:
    the script returns before writing, the value has no TTL, so after ``retry_after`` (0.1 s or
    0.5 s here) the key is still denied, and so for ever."""
    limiter = RateLimiter.per_ip(Limit(5, 0.5), store=RedisStore(url=redis_url),
                                 algorithm=algorithm, deny_cache=False)
    assert limiter.hit(ev()).allowed
    (key,) = redis_client.keys("secauth:rl:*")
    redis_client.delete(key)
    if poison == "list":
        redis_client.lpush(key, "x")
    else:
        redis_client.set(key, poison)
    denied = limiter.hit(ev())
    assert not denied.allowed
    assert 0 < denied.retry_after <= 0.5
    time.sleep(denied.retry_after + 0.05)
    assert limiter.hit(ev()).allowed
# fmt: on


# fmt: off
@pytest.mark.parametrize("value", [{"S": "x"}, {"L": [{"S": "a"}]}, {"NS": ["1"]}])
def test_dynamodb_a_member_set_of_another_type_blocks_its_subject_alone(
    ddb_client: Any, value: Any
) -> None:
    store = ddb_store(ddb_client)
    first = AbusePenalty(store=store, auth_failures="3/hour", unknown_paths="3/hour", cooldown=600)
    assert [first.record_auth_failure(ev(B)) for _ in range(4)][-1] == 600.0
    assert first.record_not_found(ev(), "/a") == 0.0
    (item,) = [i for i in ddb_client.scan(TableName=store.table)["Items"] if "s" in i]
    item["s"] = value
    ddb_client.put_item(TableName=store.table, Item=item)
    second = AbusePenalty(store=store, auth_failures="3/hour", unknown_paths="3/hour", cooldown=600)
    left = [second.record_not_found(ev(), f"/b{i}") for i in range(4)]
    with pytest.raises(AbuseBlocked):
        second.check(ev(B))  # blocked in the table: never let through by a fallback
    assert any(x > 0 for x in left)  # documented: no count of ours is past the threshold
# fmt: on


# fmt: off
@pytest.mark.parametrize("value", [{"S": "x"}, {"N": "99999999999999.5"}, {"SS": ["1"]}])
def test_dynamodb_an_odd_block_item_never_fails_the_store_over(ddb_client: Any, value: Any) -> None:
    store = ddb_store(ddb_client)
    first = AbusePenalty(store=store, auth_failures="1/hour", cooldown=600)
    assert [first.record_auth_failure(ev(ip)) for ip in (A, A, B, B)] == [0.0, 600.0, 0.0, 600.0]
    (item,) = [i for i in ddb_client.scan(TableName=store.table)["Items"]
               if i["pk"]["S"].endswith(f"ip:{A}#b")]
    item["until"] = value
    ddb_client.put_item(TableName=store.table, Item=item)
    second = AbusePenalty(store=store, auth_failures="1/hour", cooldown=600)
    with contextlib.suppress(AbuseBlocked):  # an odd block of A: A blocked (fail closed) or not,
        second.check(ev())
    with pytest.raises(AbuseBlocked):  # ...B, blocked in the table, is never let through
        second.check(ev(B))
# fmt: on


# fmt: off
@pytest.mark.parametrize("value", [{"S": "1"}, {"SS": ["1"]}])
def test_dynamodb_usage_reads_a_count_of_another_type_as_a_full_window(
    ddb_client: Any, value: Any
) -> None:
    """docs/ratelimit.md "Stores": "a value of the wrong type at a key denies that key"; "Usage":
    "A store that does not answer raises StoreError". ``hit`` denies this key; ``usage`` raises
    ``KeyError`` (``secauth usage`` ends in a traceback instead of exit status 3 or "exhausted")."""
    store = ddb_store(ddb_client)
    limiter = RateLimiter.per_ip("5/day", store=store, deny_cache=False)
    assert limiter.hit(ev()).allowed
    (item,) = ddb_client.scan(TableName=store.table)["Items"]
    item["n"] = value
    ddb_client.put_item(TableName=store.table, Item=item)
    assert not limiter.hit(ev()).allowed
    (usage,) = limiter.usage(ev())
    assert usage.exhausted
    assert usage.remaining == 0
# fmt: on


# fmt: off
def test_dynamodb_after_a_corrupt_counters_block_the_count_starts_afresh(ddb_client: Any) -> None:
    """docs/ratelimit.md "Abuse penalties": "After a block ends, every store counts afresh: the
    next threshold + 1 events block again." Redis deletes the odd counter when it blocks; on
    DynamoDB a negative ``n`` fails both conditions (add and restart), so every single event of
    the window blocks again."""
    clock = Clock(3600.0 * 500_000 + 1)
    store = ddb_store(ddb_client, clock=clock)
    penalty = AbusePenalty(store=store, auth_failures="3/hour", cooldown=60, deny_cache=False)
    assert penalty.record_auth_failure(ev()) == 0.0
    (item,) = ddb_client.scan(TableName=store.table)["Items"]
    item["n"] = {"N": "-5"}
    ddb_client.put_item(TableName=store.table, Item=item)
    assert penalty.record_auth_failure(ev()) == 60.0  # no count of ours: blocked (documented)
    clock.now += 61
    assert [penalty.record_auth_failure(ev()) for _ in range(4)] == [0.0, 0.0, 0.0, 60.0]
# fmt: on


@pytest.mark.parametrize("odd", [{"S": "7"}, {"NS": ["1", "2"]}, {"N": "-0.5"}])
def test_dynamodb_any_odd_counter_blocks_once_then_counts_afresh(ddb_client: Any, odd: Any) -> None:
    """The same for a counter of another type, or a negative fraction: blocked once, and
    the count of the next window of events starts from nothing."""
    clock = Clock(3600.0 * 500_000 + 1)
    store = ddb_store(ddb_client, clock=clock)
    penalty = AbusePenalty(store=store, auth_failures="3/hour", cooldown=60, deny_cache=False)
    assert penalty.record_auth_failure(ev()) == 0.0
    (item,) = ddb_client.scan(TableName=store.table)["Items"]
    item["n"] = odd
    ddb_client.put_item(TableName=store.table, Item=item)
    assert penalty.record_auth_failure(ev()) == 60.0
    clock.now += 61
    assert [penalty.record_auth_failure(ev()) for _ in range(4)] == [0.0, 0.0, 0.0, 60.0]


def test_redis_after_a_corrupt_counters_block_the_count_starts_afresh(
    redis_url: str, redis_client: Any
) -> None:
    penalty = AbusePenalty(
        store=RedisStore(url=redis_url), auth_failures="3/hour", cooldown=60, deny_cache=False
    )
    assert penalty.record_auth_failure(ev()) == 0.0
    (counter,) = penalty_keys(redis_client, b"string")
    redis_client.set(counter, "-5")
    assert penalty.record_auth_failure(ev()) == 60.0
    for block in redis_client.keys("{secauth:pen:*}:b"):
        redis_client.pexpire(block, 1)
    time.sleep(0.02)
    assert [penalty.record_auth_failure(ev()) for _ in range(4)] == [0.0, 0.0, 0.0, 60.0]
