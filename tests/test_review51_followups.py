"""Review 51: the fixes of review 50 attacked (``issuer_key`` setting its own names apart
and matching only Region-shaped Cognito hosts; revocation writes keeping the later time
and the later expiry in memory, in Redis (a Lua script) and in DynamoDB (read, merge,
conditional write)).

Real parts only, on loopback: a private redis-server and dynalite (``rl_services``).
Races are made deterministic by a client wrapper that lets a second container write
between a store's read and its write. No test asserts on a duration.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; attacks the
library resists are plain tests.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest
from hand_clock import Clock

from secauth import JwtVerifier, Principal
from secauth.errors import ConfigurationError
from secauth.issuers import issuer_key
from secauth.ratelimit.keys import principal_key
from secauth.revocation import Revocations, StoreUnavailable, revocation_keys
from secauth.revocation_stores import (
    DynamoDBRevocationStore,
    MemoryRevocationStore,
    RedisRevocationStore,
)
from secauth.testing import KeyPair

POOL = "eu-west-1_AbC123"
COGNITO = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}"
COGNITO_NEW = f"https://issuer-cognito-idp.eu-west-1.amazonaws.com/{POOL}"
KEYS = KeyPair.generate("ES256", kid="pool")
KEY = "subject|https://idp.example/|alice"


def cognito(pool: str) -> Any:
    return JwtVerifier.cognito(
        user_pool_id=pool, client_id="c", token_use="id", jwks={"keys": [KEYS.public_jwk]}
    )


# == 1. issuer_key ============================================================================


def test_issuer_key_is_one_to_one_outside_one_pools_issuers() -> None:
    """Every spelling built from issuer_key's own prefixes, pool issuers and lookalikes:
    two share a key only when both are issuers of one pool."""
    heads = ["", "cognito:", "iss:", "iss:cognito:", "iss:iss:", "https://", "cognito:iss:"]
    tails = [
        POOL,
        COGNITO,
        COGNITO_NEW,
        f"{COGNITO}/",
        "https://cognito-idp.eu-central-1.amazonaws.com/" + POOL,
        "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_Zz9",
        "https://cognito-idp.us-gov-west-1.amazonaws.com/us-gov-west-1_Q",
        "idp.example/",
        "",
    ]
    issuers = {h + t for h, t in itertools.product(heads, tails) if h + t}
    pool_of = {i: i.rsplit("/", 1)[1] for i in issuers if i.startswith("https://cognito-idp.")}
    pool_of |= {i: i.rsplit("/", 1)[1] for i in issuers if i.startswith("https://issuer-")}
    for a, b in itertools.combinations(sorted(issuers), 2):
        if issuer_key(a) == issuer_key(b):
            assert a in pool_of, (a, b)
            assert pool_of[a] == pool_of.get(b), (a, b)


def test_every_partition_region_cognito_accepts_maps_to_its_pool_and_shapes_stay_checked() -> None:
    """GovCloud, China, new commercial and isolated Regions: JwtVerifier.cognito accepts
    the pool and each issuer it trusts is named by the pool; malformed ids stay refused."""
    for region in (
        "us-gov-west-1",
        "us-gov-east-1",
        "cn-north-1",
        "cn-northwest-1",
        "ap-southeast-7",
        "mx-central-1",
        "ca-west-1",
        "il-central-1",
        "us-iso-east-1",
        "us-isob-east-1",
        "eu-isoe-west-1",
        "us-isof-south-1",
    ):
        pool = f"{region}_Ab9"
        issuers = list(cognito(pool).verifiers)
        assert len(issuers) == 2
        assert {issuer_key(i) for i in issuers} == {f"cognito:{pool}"}, region
    for bad in (
        "eu-west-1_",
        "EU-west-1_A",
        "eu-west_1",
        "eu-west-1-x_A",
        "eu-west-1_A-b",
        "e-w-1_A",
    ):
        with pytest.raises(ConfigurationError):
            cognito(bad)


def test_a_european_sovereign_cloud_pools_two_issuer_formats_share_one_key() -> None:
    """botocore lists cognito-idp in ``eusc-de-east-1`` (partition aws-eusc, domain
    ``amazonaws.eu``). REGION_PATTERN wants a two-letter prefix, so the pool's two issuer
    formats stay two raw issuers: a sign-out via one misses the other format's tokens
    (and JwtVerifier.cognito refuses the pool id)."""
    pool = "eusc-de-east-1_AbC123"
    original = f"https://cognito-idp.eusc-de-east-1.amazonaws.eu/{pool}"
    updated = f"https://issuer-cognito-idp.eusc-de-east-1.amazonaws.eu/{pool}"
    revocations = Revocations(MemoryRevocationStore(), max_staleness=0)
    revocations.revoke_subject(original, "alice", before=time.time() + 5)
    assert revocations.is_revoked({"iss": updated, "sub": "alice", "iat": int(time.time())})


def test_issuers_no_pool_can_have_do_not_take_a_pools_key() -> None:
    """``\\d`` in a str pattern is any Unicode digit: a host Region ``eu-west-`` + U+0661 (an
    Arabic one) now maps to the pool (the old ``[a-z0-9-]+`` did not), and JwtVerifier.cognito
    accepts such a pool id (issuers with a non-ASCII host)."""
    lookalike = f"https://cognito-idp.eu-west-\u0661.amazonaws.com/{POOL}"
    assert principal_key(Principal("alice", issuer=lookalike)) != principal_key(
        Principal("alice", issuer=COGNITO)
    )
    with pytest.raises(ConfigurationError):
        cognito("eu-west-\u0661_AbC")


def test_an_issuer_with_a_pipe_shares_no_revocation_entry_with_another() -> None:
    """``_key`` joins kind, issuer_key and value with ``|`` unescaped: issuer
    ``https://idp.example/`` with subject ``auth0|alice`` (Auth0 subjects look so) and
    issuer ``https://idp.example/|auth0`` with subject ``alice`` are one entry, while the
    rate-limit key (a repr tuple) keeps them apart."""
    a = {"iss": "https://idp.example/", "sub": "auth0|alice"}
    b = {"iss": "https://idp.example/|auth0", "sub": "alice"}
    assert dict(revocation_keys(a))["subject"] != dict(revocation_keys(b))["subject"]


# == 2. Memory store ==========================================================================


def test_memory_store_merges_live_entries_and_agrees_with_lookup_at_the_boundary() -> None:
    clock = Clock(1000.0)
    store = MemoryRevocationStore(clock=clock)
    store.put(KEY, 900.0, expires_at=5000.0)
    store.put(KEY, 800.0, expires_at=1001.0)  # earlier and shorter: both kept from before
    store.put(KEY, 950.0, expires_at=1002.0)  # later time, shorter life: life kept
    clock.now = 4999.0
    assert store.lookup([KEY]) == {KEY: 950.0}
    clock.now = 5000.0  # expired for lookup: expired for the write too (replaced)
    assert store.lookup([KEY]) == {KEY: None}
    store.put(KEY, -5.0, expires_at=5001.0)
    assert store.lookup([KEY]) == {KEY: -5.0}
    store.put(KEY, 1e308, expires_at=1e308)
    store.put(KEY, 1.0, expires_at=5002.0)
    clock.now = 1e307
    assert store.lookup([KEY]) == {KEY: 1e308}


# == 3. Redis =================================================================================


def test_redis_merge_keeps_the_later_time_and_the_longer_ttl_both_ways(
    revocation_redis: RedisRevocationStore, redis_client: Any
) -> None:
    name = revocation_redis._name(KEY)
    now = time.time()
    revocation_redis.put(KEY, 2000.0, now + 86_400)
    revocation_redis.put(KEY, 1000.0, now - 50)  # earlier, TTL floored at 1 ms: nothing shortens
    assert revocation_redis.lookup([KEY]) == {KEY: 2000.0}
    assert redis_client.pttl(name) > 80_000_000
    revocation_redis.put(KEY, 3000.0, now + 1)  # later time, short TTL: the long TTL stays
    assert revocation_redis.lookup([KEY]) == {KEY: 3000.0}
    assert redis_client.pttl(name) > 80_000_000
    revocation_redis.put(KEY, 1.0, now + 10**9)  # huge TTL taken over an earlier time
    assert revocation_redis.lookup([KEY]) == {KEY: 3000.0}
    assert redis_client.pttl(name) > 10**11
    redis_client.set(name, "nan", px=600_000)  # damaged (Lua reads nan): replaced
    revocation_redis.put(KEY, 5.0, now + 600)
    assert revocation_redis.lookup([KEY]) == {KEY: 5.0}


def test_redis_an_entry_without_ttl_keeps_living_after_a_merge(
    revocation_redis: RedisRevocationStore, redis_client: Any
) -> None:
    """PTTL -1 (a permanent entry, e.g. an operator's SET) is "less" than any TTL in the
    script, so a later write's PEXPIRE / SET PX gives the permanent revocation an expiry:
    the later expiry of the two is "never", not the new TTL."""
    name = revocation_redis._name(KEY)
    redis_client.set(name, "1900000000.0")
    revocation_redis.put(KEY, 1000.0, time.time() + 60)
    assert revocation_redis.lookup([KEY]) == {KEY: 1900000000.0}
    assert redis_client.pttl(name) == -1


def test_redis_lookup_and_write_agree_on_a_damaged_entry(
    revocation_redis: RedisRevocationStore, redis_client: Any
) -> None:
    """Python's float() reads ``1_900_000_000`` (PEP 515) and Lua's tonumber reads hex:
    neither is the form entries are written in, so both the lookup (a failure: never "not
    revoked") and the script (replaced by the next revocation) take it as damaged."""
    name = revocation_redis._name(KEY)
    for damaged in ("1_900_000_000", "0x71530000", " 1900000000.0", "1.9e9"):
        redis_client.set(name, damaged, px=600_000)
        with pytest.raises(StoreUnavailable):
            revocation_redis.lookup([KEY])
        revocation_redis.put(KEY, 1000.0, time.time() + 60)
        assert revocation_redis.lookup([KEY]) == {KEY: 1000.0}, damaged


def test_redis_a_far_future_sign_out_fails_as_a_store_failure(
    revocation_redis: RedisRevocationStore,
) -> None:
    """revoke_subject accepts any finite ``before``; the entry's expiry is 1e308 and
    ``(expires_at - now) * 1000`` overflows to inf: math.ceil raises OverflowError,
    outside the StoreUnavailable contract (DynamoDB raises StoreUnavailable)."""
    revocations = Revocations(revocation_redis, max_staleness=0)
    with pytest.raises(ConfigurationError, match="2\\*\\*53"):  # refused before any write
        revocations.revoke_subject("https://idp.example/", "alice", before=1e308)


# == 4. DynamoDB ==============================================================================


class Racing:
    """A DynamoDB client that, after each of the first ``times`` GetItems, runs ``between``
    (another container's write) before handing the read back."""

    def __init__(self, real: Any, between: Callable[[int], None], times: int) -> None:
        self.real, self.between, self.times, self.reads = real, between, times, 0

    def get_item(self, **kwargs: Any) -> Any:
        reply = self.real.get_item(**kwargs)
        self.reads += 1
        if self.reads <= self.times:
            self.between(self.reads)
        return reply

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def expiry(ddb_client: Any, store: DynamoDBRevocationStore, key: str) -> int:
    item = ddb_client.get_item(TableName=store.table, Key={"pk": {"S": store.item_key(key)}},
                                 ConsistentRead=True)
    return int(item["Item"]["expires_at"]["N"])


def test_dynamodb_a_write_between_read_and_write_is_merged_never_lost(
    revocation_dynamodb: DynamoDBRevocationStore, ddb_client: Any
) -> None:
    now = time.time()
    other = revocation_dynamodb
    for mine, theirs in (
        ((1000.0, now + 7200), (2000.0, now + 60)),
        ((3000.0, now + 60), (2500.0, now + 9000)),
    ):
        key = f"subject|x|{mine[0]}"
        racing = Racing(ddb_client, lambda _n, k=key, t=theirs: other.put(k, *t), times=1)
        DynamoDBRevocationStore(other.table, client=racing).put(key, *mine)
        assert racing.reads == 2  # the stale merge was refused, then redone
        assert other.lookup([key]) == {key: max(mine[0], theirs[0])}
        assert expiry(ddb_client, other, key) >= max(mine[1], theirs[1])


def test_dynamodb_a_key_that_keeps_changing_fails_loudly_and_keeps_every_other_write(
    revocation_dynamodb: DynamoDBRevocationStore, ddb_client: Any
) -> None:
    now = time.time()
    racing = Racing(ddb_client, lambda n: revocation_dynamodb.put(KEY, 2000.0 + n, now + 600), times=3)
    with pytest.raises(StoreUnavailable):
        DynamoDBRevocationStore(revocation_dynamodb.table, client=racing).put(KEY, 9000.0, now + 600)
    assert revocation_dynamodb.lookup([KEY]) == {KEY: 2003.0}
    revocation_dynamodb.put(KEY, 9000.0, now + 600)  # the retry the caller makes succeeds
    assert revocation_dynamodb.lookup([KEY]) == {KEY: 9000.0}


def test_dynamodb_extra_scalar_and_set_attributes_do_not_block_the_merge(
    revocation_dynamodb: DynamoDBRevocationStore, ddb_client: Any
) -> None:
    now = time.time()
    for n, extra in enumerate(
        ({"SS": ["b", "a"]}, {"NS": ["3", "1"]}, {"BOOL": True}, {"NULL": True}, {"B": b"\0"})
    ):
        key = f"subject|x|{n}"
        item = {
            "pk": {"S": revocation_dynamodb.item_key(key)},
            "at": {"N": "1900000000"},
            "expires_at": {"N": str(int(now) + 600)},
        }
        ddb_client.put_item(TableName=revocation_dynamodb.table, Item={**item, "note": extra})
        revocation_dynamodb.put(key, now, now + 7200)
        assert revocation_dynamodb.lookup([key]) == {key: 1900000000.0}
        assert expiry(ddb_client, revocation_dynamodb, key) >= now + 7199


def test_dynamodb_an_item_lookups_read_as_live_is_never_replaced_by_an_earlier_time(
    revocation_dynamodb: DynamoDBRevocationStore, ddb_client: Any
) -> None:
    """lookup reads an item without ``expires_at`` as live for ever (``until is None``);
    ``_merged`` calls it damaged (KeyError) and replaces it: a write with an earlier time
    shrinks the revocation lookups were enforcing."""
    ddb_client.put_item(
        TableName=revocation_dynamodb.table,
        Item={"pk": {"S": revocation_dynamodb.item_key(KEY)}, "at": {"N": "1900000000"}},
    )
    assert revocation_dynamodb.lookup([KEY]) == {KEY: 1900000000.0}
    now = time.time()
    revocation_dynamodb.put(KEY, now, now + 60)
    assert revocation_dynamodb.lookup([KEY]) == {KEY: 1900000000.0}


def test_dynamodb_a_map_attribute_on_an_entry_does_not_wedge_its_writes(
    revocation_dynamodb: DynamoDBRevocationStore, ddb_client: Any
) -> None:
    """``_unchanged`` compares every attribute with ``=``; on dynalite a map (or list)
    never compares equal, so each of the 3 tries fails its condition and the new
    revocation is refused as "kept changing" for as long as the item lives."""
    now = time.time()
    item = {"pk": {"S": revocation_dynamodb.item_key(KEY)}, "at": {"N": "1000"},
            "expires_at": {"N": str(int(now) + 600)}}
    ddb_client.put_item(
        TableName=revocation_dynamodb.table, Item={**item, "note": {"M": {"by": {"S": "ops"}}}}
    )
    revocation_dynamodb.put(KEY, now, now + 60)
    assert revocation_dynamodb.lookup([KEY]) == {KEY: now}


def test_dynamodb_a_live_entry_with_a_huge_expiry_still_takes_a_later_revocation(
    revocation_dynamodb: DynamoDBRevocationStore, ddb_client: Any
) -> None:
    """``expires_at`` 9.9E+125 is a valid DynamoDB number that lookups read as live;
    ``_merged`` writes ``str(math.ceil(9.9e125))`` (126 digits, over DynamoDB's 38
    significant), so every later revocation of the key fails with ValidationException."""
    item = {"pk": {"S": revocation_dynamodb.item_key(KEY)}, "at": {"N": "1000"},
            "expires_at": {"N": "9.9E+125"}}
    ddb_client.put_item(TableName=revocation_dynamodb.table, Item=item)
    assert revocation_dynamodb.lookup([KEY]) == {KEY: 1000.0}
    now = time.time()
    revocation_dynamodb.put(KEY, now, now + 60)
    assert revocation_dynamodb.lookup([KEY]) == {KEY: now}
