"""Revocation stores against real servers: redis-server and dynalite on loopback.

Two verifier processes share one redis-server; a store killed mid-run honours the
failure policy; DynamoDB answers a token's keys in one BatchGetItem.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rl_services import RequestCounter, dynalite_server, dynamodb_client, redis_server

from secauth.errors import KeysUnavailable
from secauth.revocation import ENTRY_MARGIN, Revocations, StoreUnavailable
from secauth.revocation_stores import DynamoDBRevocationStore, RedisRevocationStore

ISS = "https://idp.example.com/"
CLAIMS = {"iss": ISS, "sub": "ann", "jti": "t-1", "iat": int(time.time()) - 10,
          "client_id": "web", "origin_jti": "family-1"}  # fmt: skip
ROOT = Path(__file__).resolve().parents[1]


CHILD = textwrap.dedent(
    """
    import json, sys
    from secauth.revocation import Revocations
    from secauth.revocation_stores import RedisRevocationStore
    revocations = Revocations(RedisRevocationStore(sys.argv[1]), max_staleness=1.0)
    claims = json.loads(sys.argv[2])
    for line in sys.stdin:
        print(json.dumps(revocations.is_revoked(claims)), flush=True)
    """
)


def test_two_processes_share_one_redis_and_see_a_revocation_within_staleness(
    redis_url: str,
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, redis_url, json.dumps(CLAIMS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert child.stdin is not None
    assert child.stdout is not None

    def ask() -> bool:
        child.stdin.write("check\n")  # type: ignore[union-attr]
        child.stdin.flush()  # type: ignore[union-attr]
        return bool(json.loads(child.stdout.readline()))  # type: ignore[union-attr]

    try:
        assert ask() is False
        here = Revocations(RedisRevocationStore(redis_url), max_staleness=1.0)
        here.revoke_family(ISS, "family-1")
        assert here.is_revoked(CLAIMS)
        deadline = time.monotonic() + 1.5  # max_staleness, plus slack for a busy machine
        while not ask():
            assert time.monotonic() < deadline, "the other process never saw the revocation"
            time.sleep(0.05)
    finally:
        child.stdin.close()
        child.wait(timeout=10)


def test_redis_answers_every_key_of_a_token_in_one_mget(redis_url: str) -> None:
    import redis

    calls: list[str] = []

    class Counting(redis.Redis):  # type: ignore[type-arg]
        def execute_command(self, *args: Any, **options: Any) -> Any:
            calls.append(str(args[0]))
            return super().execute_command(*args, **options)

    client = Counting.from_url(redis_url)
    revocations = Revocations(RedisRevocationStore(client=client), max_staleness=30)
    for _ in range(10):
        assert not revocations.is_revoked(CLAIMS)
    assert calls == ["INFO", "MGET"]  # the eviction policy, once per store; then one MGET
    revocations.revoke_subject(ISS, "ann")
    fresh = Revocations(RedisRevocationStore(client=client))
    assert fresh.is_revoked(CLAIMS)
    assert calls.count("MGET") == 2


def test_entries_carry_a_ttl_and_no_key_in_clear(redis_url: str) -> None:
    import redis

    revocations = Revocations(RedisRevocationStore(redis_url), max_token_lifetime=600)
    revocations.revoke_token(ISS, "secret-jti-value")
    raw = redis.Redis.from_url(redis_url)
    (name,) = raw.keys("*")
    assert b"secret-jti-value" not in name
    assert b"{secauth-revocations}" in name
    assert 600_000 < raw.pttl(name) <= (600 + ENTRY_MARGIN) * 1000  # lifetime and margin


@pytest.mark.parametrize("failure", ["closed", "open"])
def test_a_redis_killed_mid_run_honours_the_failure_policy(failure: str) -> None:
    server = redis_server().start()
    try:
        url = f"redis://127.0.0.1:{server.port}/0"
        revocations = Revocations(RedisRevocationStore(url), failure=failure, max_staleness=0)  # type: ignore[arg-type]
        assert not revocations.is_revoked(CLAIMS)
        server.stop()
        if failure == "closed":
            with pytest.raises(KeysUnavailable) as caught:
                revocations.check(CLAIMS)
            assert caught.value.detail["source"] == "revocations"
            assert "t-1" not in json.dumps(caught.value.detail)
        else:
            assert not revocations.is_revoked(CLAIMS)
    finally:
        server.stop()


def test_an_unreadable_redis_entry_is_an_outage_not_a_pass(redis_url: str) -> None:
    import redis

    store = RedisRevocationStore(redis_url)
    revocations = Revocations(store)
    revocations.revoke_token(ISS, "t-1")
    raw = redis.Redis.from_url(redis_url)
    (name,) = raw.keys("*")
    raw.set(name, b"garbage")
    with pytest.raises(StoreUnavailable):
        store.lookup(["jti|" + ISS + "|t-1"])
    with pytest.raises(KeysUnavailable):
        Revocations(store).check(CLAIMS)


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    server = dynalite_server().start()
    try:
        yield dynamodb_client(server.port)
    finally:
        server.stop()


def test_dynamodb_answers_every_key_of_a_token_in_one_batch_get(dynamodb: Any) -> None:
    store = DynamoDBRevocationStore("revocations-1", client=dynamodb)
    store.create_table()
    revocations = Revocations(store, max_staleness=30)
    counter = RequestCounter(dynamodb)
    assert not revocations.is_revoked(CLAIMS)
    assert not revocations.is_revoked(CLAIMS)
    assert counter.count == 1
    revocations.revoke_client(ISS, "web")
    assert Revocations(store).is_revoked(CLAIMS)
    assert counter.count == 4  # GetItem and PutItem (a write merges), then one BatchGetItem
    item = dynamodb.get_item(
        TableName="revocations-1", Key={"pk": {"S": store.item_key(f"client|{ISS}|web")}}
    )["Item"]
    assert int(item["expires_at"]["N"]) > time.time()


def test_dynamodb_ignores_an_expired_item_ttl_has_not_deleted_yet(dynamodb: Any) -> None:
    store = DynamoDBRevocationStore("revocations-2", client=dynamodb)
    store.create_table()
    dynamodb.put_item(
        TableName="revocations-2",
        Item={"pk": {"S": store.item_key(f"jti|{ISS}|t-1")}, "at": {"N": "1"}, "expires_at": {"N": "2"}},
    )
    assert not Revocations(store).is_revoked(CLAIMS)


def test_dynamodb_missing_table_is_an_outage(dynamodb: Any) -> None:
    revocations = Revocations(DynamoDBRevocationStore("no-such-table", client=dynamodb))
    with pytest.raises(KeysUnavailable) as caught:
        revocations.check(CLAIMS)
    assert "ResourceNotFoundException" in caught.value.detail["problem"]


def test_a_dynamodb_item_without_its_time_is_an_outage(dynamodb: Any) -> None:
    store = DynamoDBRevocationStore("revocations-3", client=dynamodb)
    store.create_table()
    dynamodb.put_item(
        TableName="revocations-3", Item={"pk": {"S": store.item_key(f"jti|{ISS}|t-1")}}
    )
    with pytest.raises(KeysUnavailable):
        Revocations(store).check(CLAIMS)


def _later_time_stands(store: Any, read: Any) -> None:
    """Two writes of one key: the later time stands, whichever comes second; an expired
    entry (not yet deleted) is replaced."""
    now = float(int(time.time()))  # Redis keeps times to the microsecond
    store.put("subject|x|ann", now + 600, now + 4000)  # a sign-out with a margin
    store.put("subject|x|ann", now, now + 3000)  # then a plain one
    assert read("subject|x|ann") == now + 600
    store.put("subject|x|ann", now + 900, now + 5000)  # a later one replaces it
    assert read("subject|x|ann") == now + 900


def test_redis_keeps_the_later_revocation_time(redis_url: str) -> None:
    store = RedisRevocationStore(redis_url)
    _later_time_stands(store, lambda key: store.lookup([key])[key])


def test_dynamodb_keeps_the_later_revocation_time(dynamodb: Any) -> None:
    store = DynamoDBRevocationStore("revocations-4", client=dynamodb)
    store.create_table()
    _later_time_stands(store, lambda key: store.lookup([key])[key])
    # an item past its expiry that TTL has not deleted yet is no obstacle
    dynamodb.put_item(
        TableName="revocations-4",
        Item={"pk": {"S": store.item_key("jti|x|t-9")}, "at": {"N": str(time.time() + 10_000)},
              "expires_at": {"N": "2"}},
    )  # fmt: skip
    store.put("jti|x|t-9", time.time(), time.time() + 100)
    assert store.lookup(["jti|x|t-9"])["jti|x|t-9"] is not None
