"""Adversarial review 104: the fixes of reviews 100 and 103 attacked, with their neighbourhood.

Resolved (the tests assert it): the one finding. Valid JSON the parser does not hold (an integer
over 4300 digits, nesting past the recursion limit) now fails as ``too_large`` (``_fetch.decoded``),
about its own call like an answer over ``max_bytes``, and no longer rests the endpoint.

Attacked: rate-limit store keys after ``keys.safe_name`` (names with ``:``, ``~``, ``#``, a name spelling
another's digest, values with ``:`` or ``#``, calendar limits whose describe() holds a space, plan limiters
keyed by principal, IP and an own key, ``AbusePenalty`` subjects beside limits, ``usage()`` against
``hit()``) on the session's redis-server and dynalite; introspection answers with mistyped members
(numeric ``sub``, null ``username``, bool/string/huge ``exp``, non-string ``aud`` members) on the
scripted RFC 7662 server, sync and ``verify_async``; the DynamoDB revocation store's digest keys (batches,
duplicates, NFC/NFD and lone-surrogate keys, ``item_key``, merges of later and earlier revocations,
a 3000-character subject through ``Revocations``). Real servers on loopback only; clocks injected.

Held: ``<safe_name>:<describe>:<value>`` reads one way only: no two distinct names, a name and a value
split differently, a plan limiter and an own-key limiter, nor a limit and a penalty share a key on Redis
or DynamoDB; ``usage()`` reads the bucket ``hit()`` spends. A mistyped answer is never an allow, is not
cached (positively or negatively: the token is accepted once the AS answers well) and does not rest the
endpoint, in both the sync and async path; the odd token costs one AS call per request, as a fresh
random token always has, so the fix adds no amplification. DynamoDB revocation lookups and writes agree
(batches, duplicates, distinct normalisations stay distinct, surrogates), ``item_key`` is the stored
``pk``, merges keep the later time and the longer expiry, and a long subject can be revoked.

Findings (xfail strict):
* low (availability; introspection.py ``_failed`` with _fetch.py ``decoded``): review 103's fix covers
  members of the wrong type once parsed, but an answer about one token that Python's JSON parser refuses
  though it is valid JSON (an ``exp`` or custom member of more than 4300 digits, which ``int()`` refuses,
  or a custom member nested ~2000 deep, a RecursionError) is ``bad_document`` and still rests the whole
  endpoint: every other new token is a 503 for ``retry_after`` (sync and async alike).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import unicodedata
from typing import Any

import pytest
from hand_clock import Clock
from scripted_as import ScriptedAS, active, introspector, opaque

from secauth import Principal
from secauth.errors import ConfigurationError, KeysUnavailable, TokenError, TokenRevoked
from secauth.ratelimit import AbusePenalty, DynamoDBStore, RateLimiter, RedisStore
from secauth.ratelimit.keys import safe_name
from secauth.ratelimit.plans import PlanFrom
from secauth.revocation import Revocations, revocation_keys
from secauth.revocation_stores import DynamoDBRevocationStore, RedisRevocationStore
from secauth.testing_events import http_proxy

_names = itertools.count()


def _store(kind: str, request: pytest.FixtureRequest) -> Any:
    if kind == "redis":
        return RedisStore(url=request.getfixturevalue("redis_url"))
    client = request.getfixturevalue("ddb_client")
    store = DynamoDBStore(f"review104-{next(_names)}-{time.monotonic_ns()}", client=client)
    store.create_table()
    return store


def _device(request: Any, principal: Any) -> str | None:
    return request.headers.get("x-device-id")


def _event(device: str = "d", n: int = 0) -> dict[str, Any]:
    return http_proxy("GET", "/x", headers={"x-device-id": device}, source_ip=f"6.6.6.{n}")


STORES = pytest.mark.parametrize("kind", ["redis", "dynamodb"])


# == 1. rate-limit store keys =====================================================================


@STORES
def test_a_name_and_a_value_split_at_another_colon_never_meet(
    kind: str, request: pytest.FixtureRequest
) -> None:
    store = _store(kind, request)
    short = RateLimiter.per_key("1/minute", key=_device, name="login", store=store)
    long = RateLimiter.per_key("1/minute", key=_device, name="login:1/60s", store=store)
    assert short.hit(_event("1/60s:alice")).allowed
    assert long.hit(_event("alice")).allowed
    assert not short.hit(_event("1/60s:alice")).allowed  # the counters are real


@STORES
@pytest.mark.parametrize(
    "names",
    [
        ("a:b", "~" + safe_name("a:b")[1:]),  # a name spelling another name's digest
        ("a#b", "a:b"),
        ("~x", "#x"),
        ("x#rl#y", "x"),
        ("pen", "pen:ip"),
    ],
)
def test_names_with_separators_or_digest_spellings_never_share_counters(
    kind: str, names: tuple[str, str], request: pytest.FixtureRequest
) -> None:
    store = _store(kind, request)
    first, second = (
        RateLimiter.per_key("1/minute", key=_device, name=n, store=store) for n in names
    )
    assert first.hit(_event("alice")).allowed
    assert second.hit(_event("alice")).allowed
    assert not first.hit(_event("alice")).allowed
    assert not second.hit(_event("alice")).allowed


def test_a_name_is_hashed_exactly_when_it_holds_a_colon_or_is_unusual() -> None:
    assert safe_name("login") == "login"
    for name in ("a:b", "~abc", "#abc", "a b", "x" * 65, "free:1/60s"):
        out = safe_name(name)
        assert out.startswith("~")
        assert ":" not in out
        assert "#" not in out
        assert out != name


@STORES
@pytest.mark.parametrize("value", ["x#rl#y", "#" + "0" * 30, "a:b#1", "ip:6.6.6.0"])
def test_values_with_store_separators_stay_in_their_own_bucket(
    kind: str, value: str, request: pytest.FixtureRequest
) -> None:
    store = _store(kind, request)
    limiter = RateLimiter.per_key("1/minute", key=_device, name="dev", store=store)
    by_ip = RateLimiter.per_ip("1/minute", store=store)
    penalty = AbusePenalty(store=store, auth_failures="1/minute", cooldown=60)
    assert limiter.hit(_event(value)).allowed
    assert limiter.hit(_event("plain")).allowed
    assert by_ip.hit(_event(value)).allowed
    assert penalty.blocked_for(_event(value)) == 0.0
    assert not limiter.hit(_event(value)).allowed


def test_a_calendar_day_and_24_hours_count_apart_on_dynamodb(
    request: pytest.FixtureRequest,
) -> None:
    store = _store("dynamodb", request)
    rolling = RateLimiter.per_key("1/day", key=_device, name="daily", store=store)
    calendar = RateLimiter.per_key("1/calendar day", key=_device, name="daily", store=store)
    assert calendar.limit.describe() == "1/calendar day"
    assert rolling.hit(_event("alice")).allowed
    assert calendar.hit(_event("alice")).allowed
    assert not rolling.hit(_event("alice")).allowed
    assert not calendar.hit(_event("alice")).allowed
    assert calendar.usage("alice")[0].remaining == 0
    assert calendar.usage("bob")[0].remaining == 1


@STORES
def test_plan_limiters_by_principal_ip_and_own_key_never_share_buckets(
    kind: str, request: pytest.FixtureRequest
) -> None:
    store = _store(kind, request)
    table = {"free": ["1/minute"]}
    plan = PlanFrom.claim()
    by_user = RateLimiter.per_plan(table, plan_of=plan, default="free", store=store)
    by_ip = RateLimiter.per_plan(
        table, plan_of=plan, default="free", store=store, key=RateLimiter.per_ip("1/s").key
    )
    by_device = RateLimiter.per_plan(
        table, plan_of=plan, default="free", store=store, key=_device, name="device"
    )
    plain = RateLimiter.per_key("1/minute", key=_device, name="free", store=store)
    alice = Principal("alice", claims={"plan": "free"})
    mallory = Principal("mallory", claims={"plan": "free"})
    # mallory spends every bucket a client-written value can name: alice's key, her IP
    assert by_device.hit(_event("user:alice", 9), mallory).allowed
    assert plain.hit(_event("1/60s:user:alice", 9), mallory).allowed
    assert by_ip.hit(_event("6.6.6.1", 9), mallory).allowed
    # alice's own buckets are untouched
    assert by_user.hit(_event("x", 1), alice).allowed
    assert by_ip.hit(_event("x", 1), alice).allowed
    assert not by_user.hit(_event("x", 1), alice).allowed


@STORES
def test_usage_reads_the_bucket_hits_spend_for_hashed_names(
    kind: str, request: pytest.FixtureRequest
) -> None:
    store = _store(kind, request)
    colon = RateLimiter.per_key("3/minute", key=_device, name="a:b", store=store)
    plans = RateLimiter.per_plan(
        {"free": "3/minute"}, plan_of=PlanFrom.claim(), store=store, key=_device, name="dev"
    )
    alice = Principal("alice", claims={"plan": "free"})
    colon.hit(_event("alice"))
    plans.hit(_event("alice"), alice)
    plans.hit(_event("alice"), alice)
    assert colon.usage("alice")[0].remaining == 2
    assert colon.usage(_event("alice"))[0].remaining == 2
    assert plans.usage("alice", plan="free")[0].remaining == 1
    assert plans.usage(_event("alice"), alice)[0].remaining == 1
    assert colon.usage("bob")[0].remaining == 3


@STORES
def test_penalty_subjects_and_limits_never_meet(kind: str, request: pytest.FixtureRequest) -> None:
    store = _store(kind, request)
    penalty = AbusePenalty(store=store, auth_failures="1/minute", unknown_paths="1/minute",
                           cooldown=60)  # fmt: skip
    named_ip = RateLimiter.per_key("1/minute", key=_device, name="ip", store=store)
    named_p = RateLimiter.per_key("1/minute", key=_device, name="p", store=store)
    victim = _event("d", 1)
    # limits whose names and values spell penalty subjects, spent to the full
    for limiter, value in ((named_ip, "6.6.6.1"), (named_p, "user:alice")):
        assert limiter.hit(_event(value, 9)).allowed
        assert not limiter.hit(_event(value, 9)).allowed
    assert penalty.blocked_for(victim, "alice") == 0.0
    # one penalty's auth counter beside the other's scan counter of one IP
    assert penalty.record_not_found(victim, "/a") == 0.0
    assert penalty.record_auth_failure(victim) == 0.0
    assert penalty.blocked_for(victim) == 0.0
    # a tried user name and a principal of another kind stay apart
    attacker = _event("d", 7)
    penalty.record_auth_failure(attacker, "service:bot")
    penalty.record_auth_failure(attacker, "service:bot")
    assert penalty.blocked_for(_event("d", 2), Principal("bot", kind="service")) == 0.0


# == 2. introspection: mistyped members ===========================================================


MISTYPED = [
    {"sub": 42},
    {"username": None, "sub": "ann"},
    {"exp": True},
    {"exp": "4102444800"},
    {"iat": "1"},
    {"aud": ["urn:example:orders", 7]},
    {"exp": 10**400},
    {"client_id": ["web"]},
]


def _mistyped(now: float, over: dict[str, Any]) -> dict[str, Any]:
    body = active(now)
    body.update(over)
    return body


def outcome(verify: Any, token: str) -> str:
    try:
        verify(token)
    except KeysUnavailable as exc:
        return "503:" + str((exc.detail.get("cause") or {}).get("kind"))
    except TokenError as exc:
        return type(exc).__name__
    return "allowed"


@pytest.mark.parametrize("over", MISTYPED)
def test_a_mistyped_answer_never_allows_nor_rests_the_endpoint(
    scripted: ScriptedAS, over: dict[str, Any]
) -> None:
    clock = Clock(time.time())
    odd, other = opaque(), opaque()
    scripted.answer(odd, _mistyped(clock.now, over))
    scripted.answer(other, active(clock.now, sub="bob"))
    verifier = introspector(scripted, clock=clock, retry_after=60)
    assert outcome(verifier.verify, odd) == "503:bad_member"
    assert outcome(verifier.verify, other) == "allowed"


@pytest.mark.parametrize("over", MISTYPED)
def test_the_async_path_treats_a_mistyped_answer_alike(
    scripted: ScriptedAS, over: dict[str, Any]
) -> None:
    clock = Clock(time.time())
    odd, other = opaque(), opaque()
    scripted.answer(odd, _mistyped(clock.now, over))
    scripted.answer(other, active(clock.now, sub="bob"))
    verifier = introspector(scripted, clock=clock, retry_after=60)

    async def both() -> tuple[str, str]:
        first = await _async_outcome(verifier, odd)
        return first, await _async_outcome(verifier, other)

    assert asyncio.run(both()) == ("503:bad_member", "allowed")


async def _async_outcome(verifier: Any, token: str) -> str:
    try:
        await verifier.verify_async(token)
    except KeysUnavailable as exc:
        return "503:" + str((exc.detail.get("cause") or {}).get("kind"))
    except TokenError as exc:
        return type(exc).__name__
    return "allowed"


def test_a_mistyped_answer_is_neither_kept_nor_held_against_the_token(scripted: ScriptedAS) -> None:
    clock, token = Clock(time.time()), opaque()
    scripted.answer(token, _mistyped(clock.now, {"sub": 42}))
    verifier = introspector(scripted, clock=clock, negative_ttl=300)
    assert outcome(verifier.verify, token) == "503:bad_member"
    assert outcome(verifier.verify, token) == "503:bad_member"
    assert scripted.count(token=token) == 2  # never kept as an answer
    scripted.answer(token, active(clock.now))  # the AS fixed its answer
    assert outcome(verifier.verify, token) == "allowed"  # no negative entry held it back
    assert scripted.count(token=token) == 3
    scripted.answer(token, _mistyped(clock.now, {"sub": 42}))
    assert outcome(verifier.verify, token) == "allowed"  # the good answer is what is kept
    assert scripted.count(token=token) == 3


def test_the_odd_token_costs_no_more_calls_than_fresh_random_tokens_always_did(
    scripted: ScriptedAS,
) -> None:
    clock, odd = Clock(time.time()), opaque()
    scripted.answer(odd, _mistyped(clock.now, {"username": None}))
    verifier = introspector(scripted, clock=clock, negative_ttl=10)
    for _ in range(5):
        assert outcome(verifier.verify, odd) == "503:bad_member"
    fresh = [opaque() for _ in range(5)]
    for token in fresh:  # the AS's default: inactive
        assert outcome(verifier.verify, token) == "InvalidClaims"
    assert scripted.count(token=odd) == 5
    assert sum(scripted.count(token=t) for t in fresh) == 5  # one call per request either way


def _huge_exp(now: float) -> bytes:
    body = json.dumps(active(now, exp=None)).encode()
    return body[:-1] + b', "exp": 4' + b"0" * 4400 + b"}"


def _deep_member(now: float) -> bytes:
    body = json.dumps(active(now)).encode()
    return body[:-1] + b', "ext": ' + b"[" * 3000 + b"]" * 3000 + b"}"


# fmt: off
@pytest.mark.parametrize("body", [_huge_exp, _deep_member])
def test_an_answer_the_parser_refuses_fails_its_own_call_only(scripted: ScriptedAS, body: Any) -> None:
    clock = Clock(time.time())
    odd, other = opaque(), opaque()
    raw = body(clock.now)
    assert len(raw) < 64 * 1024  # within max_bytes: not a too_large answer
    scripted.answer(odd, raw)
    scripted.answer(other, active(clock.now, sub="bob"))
    verifier = introspector(scripted, clock=clock, retry_after=60)
    assert outcome(verifier.verify, odd).startswith("503")  # never an allow
    assert outcome(verifier.verify, other) == "allowed"
# fmt: on


# fmt: off
def test_an_answer_the_parser_refuses_fails_its_own_call_only_async(scripted: ScriptedAS) -> None:
    clock = Clock(time.time())
    odd, other = opaque(), opaque()
    scripted.answer(odd, _huge_exp(clock.now))
    scripted.answer(other, active(clock.now, sub="bob"))
    verifier = introspector(scripted, clock=clock, retry_after=60)

    async def both() -> tuple[str, str]:
        first = await _async_outcome(verifier, odd)
        return first, await _async_outcome(verifier, other)

    first, second = asyncio.run(both())
    assert first.startswith("503")
    assert second == "allowed"
# fmt: on


def test_an_answer_the_parser_refuses_is_never_an_allow_nor_kept(scripted: ScriptedAS) -> None:
    clock, odd = Clock(time.time()), opaque()
    scripted.answer(odd, _huge_exp(clock.now))
    verifier = introspector(scripted, clock=clock, retry_after=0)
    assert outcome(verifier.verify, odd).startswith("503")
    assert outcome(verifier.verify, odd).startswith("503")
    assert scripted.count(token=odd) == 2
    scripted.answer(odd, active(clock.now))
    assert outcome(verifier.verify, odd) == "allowed"


# == 3. DynamoDB revocation store: digest keys ====================================================


def test_lookups_and_writes_agree_in_batches_with_duplicates(
    revocation_dynamodb: DynamoDBRevocationStore,
) -> None:
    store, now = revocation_dynamodb, time.time()
    keys = [f"jti|https://as/|t-{i}" for i in range(100)]
    for key in keys[::10]:
        store.put(key, now, now + 3600)
    got = store.lookup(keys)
    assert {k for k, v in got.items() if v is not None} == set(keys[::10])
    doubled = [keys[0], keys[1], keys[0], keys[0]]
    assert store.lookup(doubled) == {keys[0]: float(now), keys[1]: None}
    with pytest.raises(ConfigurationError):
        store.lookup([*keys, "one more"])


@pytest.mark.parametrize(
    "pair",
    [
        (
            unicodedata.normalize("NFC", "subject|x|José"),
            unicodedata.normalize("NFD", "subject|x|José"),
        ),
        ("subject|x|a\ud800", "subject|x|a\ud801"),
        ("subject|x|a\ud800", "subject|x|a\\ud800"),
    ],
)
def test_keys_differing_in_normalisation_or_surrogates_stay_distinct_and_agree(
    pair: tuple[str, str], revocation_dynamodb: DynamoDBRevocationStore, redis_url: str
) -> None:
    now = time.time()
    redis_store = RedisRevocationStore(redis_url, socket_timeout=2.0)
    for store in (revocation_dynamodb, redis_store):
        store.put(pair[0], now, now + 3600)
        assert store.lookup(list(pair)) == {pair[0]: pytest.approx(now), pair[1]: None}


def test_item_key_is_the_stored_partition_key(
    revocation_dynamodb: DynamoDBRevocationStore,
) -> None:
    store, now = revocation_dynamodb, time.time()
    key = "subject|https://as/|" + "u" * 3000
    store.put(key, now, now + 3600)
    items = store.client.scan(TableName=store.table)["Items"]
    assert [item["pk"]["S"] for item in items] == [DynamoDBRevocationStore.item_key(key)]
    assert "u" * 50 not in json.dumps(items)


def test_merges_keep_the_later_time_and_the_longer_expiry(
    revocation_dynamodb: DynamoDBRevocationStore,
) -> None:
    store, now = revocation_dynamodb, time.time()
    key, pk = "subject|https://as/|ann", DynamoDBRevocationStore.item_key("subject|https://as/|ann")
    store.put(key, now, now + 7200)
    store.put(key, now - 100, now + 60)  # an earlier sign-out written late
    item = store.client.get_item(TableName=store.table, Key={"pk": {"S": pk}})["Item"]
    assert float(item["at"]["N"]) == pytest.approx(now)
    assert int(item["expires_at"]["N"]) >= now + 7200
    # an expired entry is replaced, not merged
    store.client.put_item(TableName=store.table, Item={
        "pk": {"S": pk}, "at": {"N": str(now + 999)}, "expires_at": {"N": str(int(now) - 5)}})  # fmt: skip
    store.put(key, now + 1, now + 60)
    assert store.lookup([key]) == {key: pytest.approx(now + 1)}


def test_concurrent_revocations_of_one_key_keep_the_latest(
    revocation_dynamodb: DynamoDBRevocationStore,
) -> None:
    store, now = revocation_dynamodb, time.time()
    key = "subject|https://as/|race"
    barrier, done, errors = threading.Barrier(6), [], []

    def put(offset: int) -> None:
        barrier.wait()
        try:
            store.put(key, now + offset, now + 3600 + offset)
            done.append(offset)
        except Exception as exc:  # "kept changing" fails closed (the caller retries)
            errors.append(type(exc).__name__)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert done
    assert set(errors) <= {"StoreUnavailable"}
    at = store.lookup([key])[key]
    assert at is not None
    assert at >= now + max(done)  # no written revocation was lost


def test_a_long_subject_can_be_revoked_and_is_refused(
    revocation_dynamodb: DynamoDBRevocationStore,
) -> None:
    clock = Clock(time.time())
    revocations = Revocations(revocation_dynamodb, clock=clock, max_staleness=0)
    claims = {"iss": "https://as/", "sub": "u" * 3000, "jti": "j", "iat": clock.now - 5,
              "exp": clock.now + 600}  # fmt: skip
    revocations.check(claims)
    revocations.revoke_subject("https://as/", "u" * 3000, before=clock.now + 1)
    with pytest.raises(TokenRevoked):
        revocations.check(claims)
    other = {**claims, "sub": "u" * 2999}
    revocations.check(other)
    assert len(revocation_keys(claims)) == 2
