"""RedisStore and AsyncRedisStore against a real Redis Cluster on loopback.

One cluster per module (3 primaries, 3 replicas, ``rl_services.redis_cluster``): exact
limits under 80 threads (and 80 tasks) over keys in every primary's slot range,
penalties (two keys, one hash tag) in cluster mode, a slot migrated under live hits
(``ASK`` then ``MOVED``, followed by the client, never an error), and a primary killed
mid-run: decisions follow ``on_store_error`` until its replica is promoted, every
admitted request is counted, and the limits are exact again afterwards. The failover
window measured is printed and recorded (``record_property``).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import pytest
import redis
from rl_services import PATIENT, RedisCluster

from secauth.errors import AbuseBlocked
from secauth.ratelimit import AbusePenalty, Limit, RateLimiter
from secauth.ratelimit.redis_store import AsyncRedisStore, RedisStore

# the module's tests share one cluster: one xdist worker under --dist loadgroup
pytestmark = [pytest.mark.xdist_group("redis-cluster"), pytest.mark.usefixtures("collect_garbage")]

ALGORITHMS = ["fixed_window", "sliding_window", "gcra"]
DAY = 86400
_prefixes = itertools.count()


def prefix() -> str:
    """A fresh key namespace per store: tests never see each other's counters."""
    return f"c{next(_prefixes)}t{time.monotonic_ns()}"


def event(ip: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": "/",
        "requestContext": {"http": {"method": "GET", "path": "/", "sourceIp": ip}},
    }


def ips(n: int) -> list[str]:
    return [f"198.51.{i // 250}.{i % 250 + 1}" for i in range(n)]


def away_from_edge(cluster: RedisCluster, period: int, margin: float) -> None:
    """Sleep past a window edge when the server clock is within ``margin`` of one, so a
    test's hits land in one window."""
    seconds, micros = cluster.client(cluster.ports[0]).time()
    into = (seconds + micros / 1e6) % period
    if into < margin or period - into < margin:
        time.sleep(period - into + margin if into >= margin else margin - into)


def keys_by_primary(cluster: RedisCluster, pattern: str) -> dict[int, set[str]]:
    """``primary port -> names of its keys`` matching ``pattern`` (SCAN on each primary)."""
    found: dict[int, set[str]] = {}
    for _first, _last, primary, _replicas in cluster.slots():
        client = cluster.client(primary)
        found.setdefault(primary, set()).update(
            name.decode() for name in client.scan_iter(match=pattern, count=1000)
        )
        client.close()
    return found


def hammer(limiter: RateLimiter, addresses: list[str], threads: int, hits: int) -> dict[str, int]:
    """``threads`` threads, each ``hits`` hits cycling over ``addresses`` from its own
    offset (every address gets the same number); admitted per address. Fails on a
    degraded decision or an exception."""
    admitted = dict.fromkeys(addresses, 0)
    problems: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(offset: int) -> None:
        mine: dict[str, int] = {}
        try:
            barrier.wait()
            for j in range(hits):
                ip = addresses[(offset + j) % len(addresses)]
                result = limiter.hit(event(ip))
                if result.degraded:
                    problems.append(f"degraded decision for {ip}")
                mine[ip] = mine.get(ip, 0) + result.allowed
        except Exception as exc:  # the test reports it
            problems.append(repr(exc))
        with lock:
            for ip, n in mine.items():
                admitted[ip] += n

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert problems == []
    return admitted


# --- exactness ----------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_exact_limits_under_80_threads_over_every_slot_range(
    cluster: RedisCluster, algorithm: str
) -> None:
    """80 threads x 24 hits over 48 keys (40 hits each) with a limit of 10: exactly 10
    admitted per key, the keys spread over all three primaries."""
    away_from_edge(cluster, 3600, 3)
    space = prefix()
    store = RedisStore(cluster.url, cluster=True, prefix=space, **PATIENT)
    limiter = RateLimiter.per_ip(
        Limit(10, 3600), store=store, algorithm=algorithm, on_store_error="closed"
    )
    addresses = ips(48)
    admitted = hammer(limiter, addresses, threads=80, hits=24)
    assert admitted == dict.fromkeys(addresses, 10)
    spread = keys_by_primary(cluster, f"{space}:*")
    assert len(spread) == 3
    assert all(len(names) >= 5 for names in spread.values()), spread
    assert sum(len(names) for names in spread.values()) == 48
    store.close()


def test_async_exact_limits_under_80_tasks(cluster: RedisCluster) -> None:
    """The asyncio cluster client: 80 tasks x 24 hits over 48 keys, exactly 10 each."""
    away_from_edge(cluster, 3600, 3)
    space = prefix()
    addresses = ips(48)

    async def run() -> dict[str, int]:
        store = AsyncRedisStore(cluster.url, cluster=True, prefix=space, **PATIENT)
        limiter = RateLimiter.per_ip(Limit(10, 3600), store=store, on_store_error="closed")
        admitted = dict.fromkeys(addresses, 0)

        async def task(offset: int) -> None:
            for j in range(24):
                ip = addresses[(offset + j) % len(addresses)]
                result = await limiter.hit_async(event(ip))
                assert not result.degraded
                admitted[ip] += result.allowed

        await asyncio.gather(*(task(i) for i in range(80)))
        await store.aclose()
        return admitted

    assert asyncio.run(run()) == dict.fromkeys(addresses, 10)
    assert len(keys_by_primary(cluster, f"{space}:*")) == 3


def test_penalties_use_one_slot_per_subject(cluster: RedisCluster) -> None:
    """The penalty script's two keys (counter or set of distinct paths, and block) share a hash
    tag: no CROSSSLOT, and the subjects spread over the primaries."""
    space = prefix()
    store = RedisStore(cluster.url, cluster=True, prefix=space)
    penalty = AbusePenalty(
        store=store, auth_failures="3/minute", unknown_paths="5/minute", cooldown=60
    )
    failing, scanning = ips(30)[:15], ips(30)[15:]
    for ip in failing:
        assert [penalty.record_auth_failure(event(ip)) for _ in range(4)] == [0, 0, 0, 60]
    for ip in scanning:
        found = [penalty.record_not_found(event(ip) | {"rawPath": f"/x{i}"}) for i in range(6)]
        assert found == [0] * 5 + [60]
    for ip in failing + scanning:
        with pytest.raises(AbuseBlocked):
            penalty.check(event(ip))
    spread = keys_by_primary(cluster, f"{{{space}:pen:*")
    assert len(spread) == 3
    assert all(spread.values())
    store.close()


def test_a_cluster_down_at_start_is_a_store_failure_not_a_failed_cold_start() -> None:
    """The sync cluster client reads the slot map at its first command, not when the
    store is built: an unreachable cluster then follows on_store_error."""
    from rl_services import free_port

    store = RedisStore(f"redis://127.0.0.1:{free_port()}", cluster=True)
    closed = RateLimiter.per_ip("5/minute", store=store, on_store_error="closed")
    result = closed.hit(event("192.0.2.1"))
    assert result.degraded
    assert not result.allowed


# --- redirections ---------------------------------------------------------------------------


class SlotMove:
    """Moves one slot between primaries by hand, in the steps ``redis-cli --cluster
    reshard`` takes: IMPORTING/MIGRATING, MIGRATE key by key, SETSLOT NODE everywhere."""

    def __init__(self, cluster: RedisCluster, slot: int) -> None:
        self.cluster = cluster
        self.slot = slot
        primaries = [entry[2] for entry in cluster.slots()]
        self.source = next(p for f, la, p, _ in cluster.slots() if f <= slot <= la)
        self.target = next(p for p in primaries if p != self.source)
        self.primaries = primaries

    def errors(self, port: int, kind: str) -> int:
        stats = self.cluster.info(port, "errorstats")
        return int(stats.get(f"errorstat_{kind}", {}).get("count", 0))

    def begin(self) -> None:
        ask = self.cluster.ask
        ask(self.target, "CLUSTER", "SETSLOT", self.slot, "IMPORTING",
            self.cluster.node_id(self.source))  # fmt: skip
        ask(self.source, "CLUSTER", "SETSLOT", self.slot, "MIGRATING",
            self.cluster.node_id(self.target))  # fmt: skip

    def migrate(self, name: str) -> None:
        reply = self.cluster.ask(
            self.source, "MIGRATE", "127.0.0.1", self.target, "", 0, 5000, "KEYS", name
        )
        assert reply in (b"OK", "OK")

    def finish(self) -> None:
        target_id = self.cluster.node_id(self.target)
        for port in [self.target, self.source] + [
            p for p in self.primaries if p not in (self.target, self.source)
        ]:
            self.cluster.ask(port, "CLUSTER", "SETSLOT", self.slot, "NODE", target_id)
        self.cluster.wait_healthy(replicas=False)


def tagged(space: str, tag: str) -> tuple[str, str, int]:
    """Two store keys in one slot (a hash tag in the limited key) and that slot."""
    slot = int(redis.crc.key_slot(tag.encode()))
    return "{" + tag + "}a", "{" + tag + "}b", slot


def test_ask_and_moved_are_followed_by_the_client(cluster: RedisCluster) -> None:
    """A slot migrates while its keys are hit: a key still on the source is served
    there, a missing one is redirected with ASK, and after SETSLOT NODE the stale slot
    map is corrected by MOVED. Every decision is exact and none is an error."""
    space = prefix()
    store = RedisStore(cluster.url, cluster=True, prefix=space)
    limit = Limit(10, DAY)
    old, new, slot = tagged(space, f"{space}-sync")
    away_from_edge(cluster, DAY, 10)
    move = SlotMove(cluster, slot)
    asks, moves = move.errors(move.source, "ASK"), move.errors(move.source, "MOVED")

    def remaining(key: str) -> int:
        result = store.hit(key, limit, "fixed_window")  # a StoreError fails the test
        assert result.allowed
        return result.remaining

    assert [remaining(old) for _ in range(3)] == [9, 8, 7]
    move.begin()
    assert remaining(old) == 6  # still on the source: served there
    assert [remaining(new) for _ in range(3)] == [9, 8, 7]  # ASK to the target
    assert move.errors(move.source, "ASK") > asks
    move.migrate(f"{space}:rl:f:{old}")
    assert remaining(old) == 5  # now only on the target: ASK
    move.finish()
    assert [remaining(old) for _ in range(5)] == [4, 3, 2, 1, 0]  # MOVED, then direct
    assert move.errors(move.source, "MOVED") > moves
    assert not store.hit(old, limit, "fixed_window").allowed
    assert remaining(new) == 6
    store.close()


def test_async_client_follows_ask_and_moved(cluster: RedisCluster) -> None:
    space = prefix()
    limit = Limit(10, DAY)
    old, new, slot = tagged(space, f"{space}-async")
    away_from_edge(cluster, DAY, 10)
    move = SlotMove(cluster, slot)
    asks, moves = move.errors(move.source, "ASK"), move.errors(move.source, "MOVED")

    async def run() -> None:
        store = AsyncRedisStore(cluster.url, cluster=True, prefix=space)

        async def remaining(key: str) -> int:
            result = await store.hit_async(key, limit, "fixed_window")
            assert result.allowed
            return result.remaining

        assert [await remaining(old) for _ in range(2)] == [9, 8]
        move.begin()
        assert await remaining(new) == 9
        move.migrate(f"{space}:rl:f:{old}")
        assert await remaining(old) == 7
        move.finish()
        assert [await remaining(key) for key in (old, new, old)] == [6, 8, 5]
        await store.aclose()

    asyncio.run(run())
    assert move.errors(move.source, "ASK") > asks
    assert move.errors(move.source, "MOVED") > moves


# --- failover ------------------------------------------------------------------------------


class Recorder:
    """Threads hitting two limiters (``closed`` and ``memory``) over ``addresses`` until
    told to stop; every decision is kept as (start, end, policy, ip, allowed, degraded)."""

    def __init__(self, limiters: dict[str, RateLimiter], addresses: list[str]) -> None:
        self.limiters = limiters
        self.addresses = addresses
        self.decisions: list[tuple[float, float, str, str, bool, bool]] = []
        self.problems: list[str] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def worker(self, offset: int) -> None:
        mine = []
        try:
            for j in itertools.count():
                if self.stop.is_set():
                    break
                ip = self.addresses[(offset + j) % len(self.addresses)]
                for policy, limiter in self.limiters.items():
                    start = time.monotonic()
                    result = limiter.hit(event(ip))
                    end = time.monotonic()
                    mine.append((start, end, policy, ip, result.allowed, result.degraded))
                time.sleep(0.002)
        except Exception as exc:  # an escaping exception fails the test
            self.problems.append(repr(exc))
        with self._lock:
            self.decisions.extend(mine)

    def run(self, threads: int) -> list[threading.Thread]:
        pool = [threading.Thread(target=self.worker, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        return pool


def test_a_primary_killed_mid_run_fails_over_under_the_failure_policy(
    cluster: RedisCluster, record_property: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL a primary while 24 threads decide on 24 keys (closed and memory policies).

    Until its replica is promoted, decisions on its keys are degraded: denied under
    "closed", decided by the local memory store under "memory"; nothing raises. Every
    request the store admitted is in the promoted counters, except a write the primary
    acknowledged in its last instant and never replicated (Redis replication is
    asynchronous: counted, printed, at most one per thread), and once promoted the
    limits are exact again: each key's remaining quota is its limit minus its count."""
    away_from_edge(cluster, DAY, 20)
    space = prefix()
    limit = 100_000
    store = RedisStore(cluster.url, cluster=True, prefix=space)
    limiters = {
        policy: RateLimiter.per_ip(
            Limit(limit, DAY),
            store=store,
            algorithm="fixed_window",
            on_store_error=policy,
            retry_store_after=0.1,
            name=policy,
        )
        for policy in ("closed", "memory")
    }
    addresses = ips(24)
    first, _last, victim, replicas = cluster.slots()[0]
    recorder = Recorder(limiters, addresses)
    pool = recorder.run(24)
    promoted_at = None
    try:
        time.sleep(0.5)
        killed_at = time.monotonic()
        cluster.kill(victim)
        deadline = killed_at + 20
        while time.monotonic() < deadline:
            owner = next(p for f, la, p, _ in cluster.slots() if f <= first <= la)
            if owner != victim:
                promoted_at = time.monotonic()
                break
            time.sleep(0.05)
        assert promoted_at is not None, "no replica was promoted within 20 s"
        assert owner in replicas
        time.sleep(1.5)  # decisions after the promotion
    finally:
        recorder.stop.set()
        for t in pool:
            t.join()
    try:
        assert recorder.problems == []
        decisions = recorder.decisions
        # the victim's keys: those now on the promoted replica
        on_victim = {
            name.rsplit(":", 1)[-1]
            for name in keys_by_primary(cluster, f"{space}:*").get(owner, set())
        }
        assert on_victim
        assert on_victim != set(addresses)

        # during the failover: the policy, and nothing else
        degraded = [d for d in decisions if d[5]]
        assert degraded, "the kill was never noticed"
        assert not any(d[4] for d in degraded if d[2] == "closed")  # closed: all denied
        assert all(d[4] for d in degraded if d[2] == "memory")  # memory: admitted locally

        # the failover window: from the kill to the first decision on the victim's keys
        # that the store answered after the last one it could not
        mine = [d for d in decisions if d[3] in on_victim]
        last_failed = max(d[0] for d in mine if d[5])
        recovered = min(d[1] for d in mine if d[0] > last_failed and not d[5])
        window = recovered - killed_at
        others = [d for d in degraded if d[3] not in on_victim]
        spill = (max(d[1] for d in others) - min(d[0] for d in others)) if others else 0.0
        record_property("failover_window_s", round(window, 3))
        record_property("promotion_s", round(promoted_at - killed_at, 3))
        with capsys.disabled():
            print(
                f"\nRedis Cluster failover: replica promoted (CLUSTER SLOTS) after "
                f"{promoted_at - killed_at:.2f} s; decisions on the killed primary's keys "
                f"from the store again after {window:.2f} s; keys of healthy primaries "
                f"degraded for {spill:.2f} s in all ({len(others)} of {len(degraded)} "
                f"degraded decisions; the breaker is per limiter)"
            )
        assert window < 10

        # every request the store admitted is counted (but for writes the crash lost),
        # and the limits are exact again
        lost: dict[str, int] = {}
        for policy, limiter in limiters.items():
            admitted: dict[str, int] = dict.fromkeys(addresses, 0)
            for d in decisions:
                if d[2] == policy and d[4] and not d[5]:
                    admitted[d[3]] += 1
            for ip in addresses:
                after = limiter.hit(event(ip))
                assert not after.degraded
                counted = limit - 1 - after.remaining  # in the store before this hit
                # more counted than admitted: a request whose reply the kill swallowed
                # (counted, then refused under the policy: fail-safe). Fewer: a write
                # the primary acknowledged but never sent to its replica (asynchronous
                # replication), only on the killed primary's keys
                if counted < admitted[ip]:
                    assert ip in on_victim, (policy, ip, counted, admitted[ip])
                    lost[f"{policy}:{ip}"] = admitted[ip] - counted
                rest = limiter.hit(event(ip), cost=after.remaining)
                assert rest.allowed
                assert rest.remaining == 0
                assert not limiter.hit(event(ip)).allowed
        # at most one acknowledged write per thread can be lost (the one in flight)
        assert sum(lost.values()) <= 24, lost
        record_property("lost_writes", sum(lost.values()))
        with capsys.disabled():
            print(f"writes lost with the killed primary: {sum(lost.values())} {lost or ''}")
    finally:
        cluster.restart(victim)  # it rejoins as a replica of the promoted node
        cluster.wait_healthy()
        store.close()
