"""Review 52: the fixes of review 51 attacked (Redis times written as ``%.6f`` and read in
that form only, by the script and the lookup; DynamoDB writes read entries as lookups do;
``before=`` within 2**53; ``|`` and ``\\`` escaped in revocation keys; European Sovereign
Cloud Cognito pools).

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
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from secauth import JwtVerifier
from secauth.errors import ConfigurationError, SecAuthError
from secauth.issuers import issuer_key
from secauth.revocation import Revocations, StoreUnavailable, revocation_keys
from secauth.revocation_stores import (
    DynamoDBRevocationStore,
    MemoryRevocationStore,
    RedisRevocationStore,
)
from secauth.testing import KeyPair

KEY = "subject|https://idp.example/|alice"
IDP = "https://idp.example/"
ESC_POOL = "eusc-de-east-1_AbC123"
ESC = f"https://cognito-idp.eusc-de-east-1.amazonaws.eu/{ESC_POOL}"
ESC_NEW = f"https://issuer-cognito-idp.eusc-de-east-1.amazonaws.eu/{ESC_POOL}"
KEYS = KeyPair.generate("ES256", kid="pool")
N = 1_700_000_000
# The float just above N (N + 2**-22): "%.6f" prints it as N.000000, below itself.
JUST_AFTER_N = N + 2.0**-22


# Sign-out times and the iat of a token, each a case where the store's copy of ``before``
# must keep ``iat < before`` as it is in the caller's floats: fractional, negative, at
# the 2**53 bounds, and a microsecond-rounded neighbour of an integer second.
CASES = [
    (JUST_AFTER_N, N),  # revoked: N < N + 2**-22
    (N - 2.0**-22, N - 1),  # revoked
    (N + 0.5, N),
    (1000.0000004, 1000),  # revoked: 1000 < 1000.0000004
    (-4.9999996, -5),  # revoked: -5 < -4.9999996
    (-5.0000004, -5),  # not revoked
    (0.5, 0),
    (-0.5, 0),
    (2.0**53, N),
    (-(2.0**53), N),
    (float(N), N),  # not revoked: iat == before
]


def verdicts(store: Any) -> list[bool]:
    revocations = Revocations(store, max_staleness=0)
    out = []
    for n, (before, iat) in enumerate(CASES):
        revocations.revoke_subject(IDP, f"u{n}", before=before)
        out.append(revocations.is_revoked({"iss": IDP, "sub": f"u{n}", "iat": iat}))
    return out


# == 1. Stores: precision, readable forms, merges =============================================


def test_memory_and_dynamodb_agree_on_sign_out_times_to_the_last_bit(
    revocation_dynamodb: DynamoDBRevocationStore,
) -> None:
    """DynamoDB keeps ``repr(float)``: negative, fractional and 2**53 times read back
    exact, so its verdicts are the memory store's (and plain ``iat < before``)."""
    expected = [iat < before for before, iat in CASES]
    assert expected[0]
    assert expected[3]
    assert expected[4]
    assert verdicts(MemoryRevocationStore()) == expected
    assert verdicts(revocation_dynamodb) == expected


def test_redis_agrees_with_memory_on_sign_out_times_to_the_last_bit(
    revocation_redis: RedisRevocationStore,
) -> None:
    """``put`` writes ``f"{value:.6f}"``: rounding to the nearest microsecond lowers a
    ``before`` such as N + 2**-22 (a sign-out in the first half-microsecond of second N,
    e.g. ``before=None`` at that instant) to N.000000, so a token with integer ``iat`` N,
    refused by the memory and DynamoDB stores, is accepted on Redis (also -4.9999996 ->
    -5.000000 for ``iat`` -5). Rounding up (ceil to the microsecond) would keep it."""
    assert verdicts(revocation_redis) == verdicts(MemoryRevocationStore())


def test_redis_an_overflowing_time_is_damaged_for_the_script_as_for_the_lookup(
    revocation_redis: RedisRevocationStore, redis_client: Any
) -> None:
    """``99...9.0`` (400 digits) has the written form: Python reads it as inf, so every
    lookup fails, but Lua's ``tonumber`` reads it as inf too and takes it as a live later
    time: the script keeps it and the revocation "succeeds" while lookups keep failing
    (``failure="open"``: the token that was just revoked is allowed)."""
    name = revocation_redis._name(KEY)
    redis_client.set(name, "9" * 400 + ".0", px=600_000)
    with pytest.raises(StoreUnavailable):
        revocation_redis.lookup([KEY])
    revocation_redis.put(KEY, 1000.0, time.time() + 60)
    assert revocation_redis.lookup([KEY]) == {KEY: 1000.0}


def test_redis_other_damaged_spellings_fail_lookups_and_are_replaced(
    revocation_redis: RedisRevocationStore, redis_client: Any
) -> None:
    """Spellings just off the written form, with and without a TTL: lookups fail (never
    "not revoked") and the next write replaces them (a -inf one too, kept without TTL)."""
    name = revocation_redis._name(KEY)
    for damaged in (
        "1.5\n",
        "1.",
        ".5",
        "+1.5",
        "1.5e3",
        "\u0661.\u0665",
        "1.5\x00",
        "- 1.5",
        "-" + "9" * 400 + ".0",
        "",
    ):
        for ttl in (600_000, None):
            redis_client.set(name, damaged, px=ttl)
            with pytest.raises(StoreUnavailable):
                revocation_redis.lookup([KEY])
            revocation_redis.put(KEY, 1000.0, time.time() + 60)
            assert revocation_redis.lookup([KEY]) == {KEY: 1000.0}, (damaged, ttl)
            assert redis_client.get(name) == b"1000.000000"


def test_redis_an_entry_without_ttl_takes_later_times_and_stays_without_one(
    revocation_redis: RedisRevocationStore, redis_client: Any
) -> None:
    """``SET ... KEEPTTL`` (Redis >= 6; this server is 7) raises the time of a permanent
    entry and keeps it permanent; an earlier write changes nothing."""
    name = revocation_redis._name(KEY)
    redis_client.set(name, "-5.500000")
    revocation_redis.put(KEY, -7.0, time.time() + 60)
    assert revocation_redis.lookup([KEY]) == {KEY: -5.5}
    revocation_redis.put(KEY, 2000.25, time.time() + 60)
    assert revocation_redis.lookup([KEY]) == {KEY: 2000.25}
    assert redis_client.pttl(name) == -1
    assert redis_client.get(name) == b"2000.250000"


def test_redis_concurrent_writers_keep_the_latest_time_and_longest_ttl(
    revocation_redis: RedisRevocationStore, redis_client: Any
) -> None:
    now = time.time()
    writes = [(float(t), now + 60 + (t * 37) % 5000) for t in range(400)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda w: revocation_redis.put(KEY, *w), writes))
    assert revocation_redis.lookup([KEY]) == {KEY: 399.0}
    assert redis_client.pttl(revocation_redis._name(KEY)) > (max(e for _, e in writes) - now - 60) * 1000


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


def item_of(ddb_client: Any, store: DynamoDBRevocationStore, key: str) -> dict[str, Any]:
    reply = ddb_client.get_item(TableName=store.table, Key={"pk": {"S": store.item_key(key)}},
                                 ConsistentRead=True)
    return dict(reply["Item"])


def test_dynamodb_a_permanent_entry_written_mid_merge_stays_permanent(
    revocation_dynamodb: DynamoDBRevocationStore, ddb_client: Any
) -> None:
    """Between this write's read and its write another writer leaves an item without
    ``expires_at`` (``attribute_not_exists`` no longer holds for ``pk``): the conditional
    write fails, the retry reads it as live for ever and keeps both its time and its
    missing expiry."""
    now = time.time()

    def permanent(_n: int) -> None:
        item = {"pk": {"S": revocation_dynamodb.item_key(KEY)}, "at": {"N": "1900000000.5"}}
        ddb_client.put_item(TableName=revocation_dynamodb.table, Item=item)

    racing = Racing(ddb_client, permanent, times=1)
    DynamoDBRevocationStore(revocation_dynamodb.table, client=racing).put(KEY, now, now + 60)
    assert racing.reads == 2
    assert revocation_dynamodb.lookup([KEY]) == {KEY: 1900000000.5}
    assert "expires_at" not in item_of(ddb_client, revocation_dynamodb, KEY)


def test_dynamodb_lookup_and_write_read_odd_items_alike(
    revocation_dynamodb: DynamoDBRevocationStore, ddb_client: Any
) -> None:
    """A string ``at`` (lookups fail) is replaced; a string ``expires_at`` (lookups: no
    bound, live) keeps its time; an expired item (lookups: none) is replaced by an earlier
    time; a negative fractional time survives a merge exactly."""
    now = time.time()
    live = str(int(now) + 600)
    cases = {
        "a": ({"at": {"S": "1900000000"}, "expires_at": {"N": live}}, "fail", 5.0),
        "b": ({"at": {"N": "1900000000"}, "expires_at": {"S": "1"}}, 1900000000.0, 1900000000.0),
        "c": ({"at": {"N": "1900000000"}, "expires_at": {"N": str(int(now) - 5)}}, None, 5.0),
        "d": ({"at": {"N": "-4.9999996"}, "expires_at": {"N": live}}, -4.9999996, -4.9999996),
    }
    for key, (attrs, read, merged) in cases.items():
        item = {"pk": {"S": revocation_dynamodb.item_key(key)}, **attrs}
        ddb_client.put_item(TableName=revocation_dynamodb.table, Item=item)
        if read == "fail":
            with pytest.raises(StoreUnavailable):
                revocation_dynamodb.lookup([key])
        else:
            assert revocation_dynamodb.lookup([key]) == {key: read}, key
        revocation_dynamodb.put(key, -5.0 if key == "d" else 5.0, now + 60)
        assert revocation_dynamodb.lookup([key]) == {key: merged}, key


# == 2. before= bounds and revocation keys ====================================================


def test_before_bounds_hold_on_every_store(
    revocation_redis: RedisRevocationStore, revocation_dynamodb: DynamoDBRevocationStore
) -> None:
    """2**53 and -2**53 (int or float) are taken, and written by every store (Redis's TTL
    and DynamoDB's expiry stay in range); one past them, inf, nan, bools and huge ints are
    refused before any write."""
    for store in (MemoryRevocationStore(), revocation_redis, revocation_dynamodb):
        revocations = Revocations(store, max_staleness=0)
        revocations.revoke_subject(IDP, "top", before=2**53)
        revocations.revoke_subject(IDP, "bottom", before=-(2**53))
        assert revocations.is_revoked({"iss": IDP, "sub": "top", "iat": int(time.time())})
        assert not revocations.is_revoked({"iss": IDP, "sub": "bottom", "iat": -(2**53)})
        for bad in (2**53 + 1, -(2**53) - 1, 10**400, float("inf"), float("nan"), True, 2.0**54):
            with pytest.raises(ConfigurationError):
                revocations.revoke_client(IDP, "c", before=bad)
        assert store.lookup([f"client|{IDP}|c"]) == {f"client|{IDP}|c": None}


def test_revocation_keys_are_one_to_one_after_issuer_key_and_escaping() -> None:
    """Every (kind, issuer, value) from an alphabet of ``|``, ``\\``, issuer_key's own
    prefixes and an ESC pool's two issuers: two share a store key only when kind and value
    are equal and the issuers are one pool's."""
    parts = ["a", "|", "\\", "cognito:", "iss:", "\\|"]
    texts = {"".join(p) for n in (1, 2, 3) for p in itertools.product(parts, repeat=n)}
    issuers = sorted(texts | {ESC, ESC_NEW, ESC + "|a", "cognito:" + ESC_POOL})
    values = sorted(texts)
    seen: dict[str, tuple[str, str, str]] = {}
    same_pool = {ESC, ESC_NEW}
    for issuer, value in itertools.product(issuers, values):
        claims = {"iss": issuer, "jti": value, "origin_jti": value, "sub": value, "azp": value}
        for kind, key in revocation_keys(claims):
            other = seen.setdefault(key, (kind, issuer, value))
            if other != (kind, issuer, value):
                assert other[0] == kind, (other, issuer, value)
                assert other[2] == value, (other, issuer, value)
                assert {other[1], issuer} <= same_pool, (other, issuer, value)


# == 3. European Sovereign Cloud pools ========================================================


def esc(pool: str = ESC_POOL, **options: Any) -> Any:
    return JwtVerifier.cognito(
        user_pool_id=pool, client_id="c", token_use="id", jwks={"keys": [KEYS.public_jwk]},
        **options,
    )


def test_an_esc_pool_trusts_its_amazonaws_eu_issuers_only_and_shares_one_key() -> None:
    """Both formats on ``amazonaws.eu``, one revocation key; a token signed by the pool's
    key but naming the pool on ``amazonaws.com`` (or ``.com.cn``) is refused."""
    verifier = esc()
    assert set(verifier.verifiers) == {ESC, ESC_NEW}
    assert {issuer_key(i) for i in verifier.verifiers} == {f"cognito:{ESC_POOL}"}
    now = int(time.time())
    body = {"aud": "c", "token_use": "id", "sub": "alice", "iat": now, "exp": now + 300}
    assert verifier.verify(KEYS.sign({**body, "iss": ESC_NEW}))["sub"] == "alice"
    for domain in ("amazonaws.com", "amazonaws.com.cn", "amazonaws.eu.", "AMAZONAWS.EU"):
        forged = KEYS.sign({**body, "iss": f"https://cognito-idp.eusc-de-east-1.{domain}/{ESC_POOL}"})
        with pytest.raises(SecAuthError):
            verifier.verify(forged)


def test_esc_pool_ids_and_replica_partitions_stay_checked() -> None:
    for bad in (
        "eusc-d-east-1_A",
        "eusc-dee-east-1_A",
        "EUSC-de-east-1_A",
        "eusc-de-east-\u0661_A",
        "eusc-de-east-1_A\n",
        "eu-sc-de-east-1_A",
        "euscde-east-1_A",
        "eusc--east-1_A",
    ):
        with pytest.raises(ConfigurationError):
            esc(bad)
    for pool, replica in (
        (ESC_POOL, "eu-central-1"),
        (ESC_POOL, "cn-north-1"),
        (ESC_POOL, "us-gov-west-1"),
        ("eu-west-1_A", "eusc-de-east-1"),
        ("cn-north-1_A", "eusc-de-east-1"),
    ):
        with pytest.raises(ConfigurationError, match="partition"):
            JwtVerifier.cognito(
                user_pool_id=pool, client_id="c", token_use="id", additional_regions=[replica]
            )


def test_lookalike_amazonaws_eu_hosts_do_not_take_the_pools_key() -> None:
    for host in (
        "cognito-idp.eusc-de-east-1.amazonaws.eu.evil.example",
        "cognito-idp.eusc-de-east-1.amazonaws-eu",
        "cognito-idp.eusc-de-east-1.amazonaws.europe",
        "cognito-idp.eusc-de-east-1.amazonaws.eu:443",
        "cognito-idp.eusc-de-east-1.amazonaws.eu.",
        "cognito-idp.eusc-de-east-1.amazonaws.eu.cn",
        "cognito-idp.eusc-de-east-1.amazonaws.com.eu",
        "cognito-idp.eusc-de-east-1.amazonawsxeu",
        "cognito-idp.eusc-de-east-1.AMAZONAWS.EU",
        "evil.example/cognito-idp.eusc-de-east-1.amazonaws.eu",
        "cognito-idp-eusc-de-east-1.amazonaws.eu",
    ):
        assert issuer_key(f"https://{host}/{ESC_POOL}") == f"https://{host}/{ESC_POOL}", host
    assert issuer_key(f"http://cognito-idp.eusc-de-east-1.amazonaws.eu/{ESC_POOL}").startswith(
        "http://"
    )
