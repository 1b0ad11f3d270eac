"""RedisRevocationStore on a real Redis Cluster (3 primaries, 3 replicas) on loopback.

Every entry shares one hash tag, so a token's keys are answered by one ``MGET`` on one
shard; a revocation written before that shard's primary is killed is still there once
its replica is promoted, and lookups in between fail closed (``KeysUnavailable``).
"""

from __future__ import annotations

import time
from typing import Any

from rl_services import RedisCluster

from secauth.errors import KeysUnavailable
from secauth.revocation import Revocations
from secauth.revocation_stores import RedisRevocationStore

ISS = "https://idp.example.com/"
CLAIMS = {"iss": ISS, "sub": "ann", "jti": "t-1", "iat": int(time.time()) - 10,
          "client_id": "web", "origin_jti": "family-1"}  # fmt: skip


def owner(cluster: RedisCluster) -> int:
    """The primary whose slot range holds the revocation entries."""
    import redis

    slot = int(redis.crc.key_slot(b"{secauth-revocations}"))
    return next(p for first, last, p, _ in cluster.slots() if first <= slot <= last)


def mgets(cluster: RedisCluster, port: int) -> int:
    stats: dict[str, Any] = cluster.info(port, "commandstats")
    return int(stats.get("cmdstat_mget", {}).get("calls", 0))


def test_a_token_is_one_mget_on_one_shard(cluster: RedisCluster) -> None:
    here = Revocations(RedisRevocationStore(cluster.url, cluster=True), max_staleness=0)
    there = Revocations(RedisRevocationStore(cluster.url, cluster=True), max_staleness=0)
    primary = owner(cluster)
    before = mgets(cluster, primary)
    for _ in range(5):
        assert not there.is_revoked(CLAIMS)
    assert mgets(cluster, primary) - before == 5  # one MGET per lookup, on that shard
    here.revoke_family(ISS, "family-1")
    here.revoke_subject(ISS, "bob")
    assert there.is_revoked(CLAIMS)
    holders = {
        port
        for port in (entry[2] for entry in cluster.slots())
        if cluster.ask(port, "KEYS", "secauth:rev:*")
    }
    assert holders == {primary}


def test_a_revocation_survives_the_failover_of_its_primary(
    cluster: RedisCluster, record_property: Any
) -> None:
    """Kill the entries' primary: lookups fail closed until the replica is promoted,
    then the revocation written before the kill is found again."""
    claims = dict(CLAIMS, jti="t-failover", origin_jti="family-failover")
    store = RedisRevocationStore(cluster.url, cluster=True)
    revocations = Revocations(store, max_staleness=0, retry_after=0.1)
    revocations.revoke_token(ISS, "t-failover")
    victim = owner(cluster)
    assert cluster.ask(victim, "WAIT", 1, 2000) == 1  # the replica has the entry
    killed_at = time.monotonic()
    cluster.kill(victim)
    try:
        refused = 0
        deadline = killed_at + 20
        while True:
            assert time.monotonic() < deadline, "no answer 20 s after the kill"
            try:
                revoked = revocations.is_revoked(claims)
            except KeysUnavailable:
                refused += 1  # fail closed: never "not revoked" while the shard is down
                time.sleep(0.02)
                continue
            break
        window = time.monotonic() - killed_at
        record_property("revocation_failover_window_s", round(window, 3))
        assert revoked
        assert refused > 0
        assert window < 10
    finally:
        cluster.restart(victim)
        cluster.wait_healthy()
        store.client.close()
