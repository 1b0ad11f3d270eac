"""Review 150's fix: state timed on the monotonic clock never lasts longer for a clock jump.

A Lambda container restored from a SnapStart snapshot carries state made before the snapshot
into a run whose monotonic clock may read far lower (a VM booted moments ago), or continue
where it stopped while the wall clock is days ahead. Each site keeps "when it started" (a
``secauth._elapsed.Since``, on both clocks) and a duration; an age a clock cannot tell
(a clock read earlier) counts as "as long as anything lasts has passed". So after a jump
a deny-cache entry and a cached API key answer are gone (the store or table is asked
again, and still refuses what it refuses), a breaker and a back-off are over (tried
again), and an eviction check is due: never an allow because of the jump.

Monotonic clocks are the ``clock=`` a class takes, or the ``time`` module a module reads
(replaced by a namespace, as review 150 does); the wall clock is the one ``Since`` reads
(``secauth._elapsed.time``). Real servers on loopback: redis-server, dynalite, a
``LocalAlb`` key endpoint.
"""

from __future__ import annotations

import math
import time
import types
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from api_key_tables import create_api_key_table
from hand_clock import Clock

from secauth import _elapsed
from secauth._redis import EvictionCheck
from secauth.alb_keys import AlbKeys
from secauth.api_keys import ApiKeyEntry
from secauth.dynamodb_api_keys import DynamoDBApiKeys
from secauth.errors import KeysUnavailable, UnknownKey
from secauth.ratelimit import AbusePenalty, StoreError
from secauth.ratelimit import limiter as limiter_module
from secauth.ratelimit import penalties as penalties_module
from secauth.ratelimit.limit import as_limit
from secauth.ratelimit.limiter import RateLimiter
from secauth.ratelimit.policy import DenyCache, DenyEntry, Resilience
from secauth.ratelimit.redis_store import RedisStore
from secauth.testing_alb import LocalAlb

SNAPSHOT = 1_000_000.0  # the monotonic reading when the snapshot is taken
RESTORED_LOW = 50.0  # a restored VM's, far lower
DAY = 86_400.0


@pytest.fixture
def wall(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The wall clock ``Since`` reads, moved by hand (it starts at the real time)."""
    clock = Clock(time.time())
    monkeypatch.setattr(_elapsed, "time", types.SimpleNamespace(time=clock))
    return clock


def _monotonic(monkeypatch: pytest.MonkeyPatch, module: Any, clock: Clock) -> None:
    """``module`` reads ``clock`` as its ``time.monotonic``."""
    fake = types.SimpleNamespace(monotonic=clock, time=time.time, perf_counter=time.perf_counter)
    monkeypatch.setattr(module, "time", fake)


def _restore(clock: Clock, wall: Clock, how: str) -> None:
    """A restore: the monotonic clock far lower, or continuous while the wall clock is
    two days ahead."""
    if how == "lower":
        clock.now = RESTORED_LOW
    else:
        clock.now += 0.25  # less than any duration here: only the wall clock says it passed
        wall.now += 2 * DAY


RESTORES = pytest.mark.parametrize("how", ["lower", "wall_ahead"])


def event(ip: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": "/",
        "requestContext": {"http": {"method": "GET", "path": "/", "sourceIp": ip}},
    }


# -- the deny cache ---------------------------------------------------------------------------


# A denial is the safe direction: only the monotonic clock ends it (a wall clock step never
# does, review 151); a restore onto a lower monotonic clock drops it and the store is asked.
LOWER = pytest.mark.parametrize("how", ["lower"])


@LOWER
def test_a_deny_cache_entry_is_gone_after_a_clock_jump(wall: Clock, how: str) -> None:
    clock = Clock(SNAPSHOT)
    cache = DenyCache()
    cache.put("ip:203.0.113.5", seconds=900.0, payload=None, now=clock())
    assert cache.get("ip:203.0.113.5", clock()) is not None
    _restore(clock, wall, how)
    assert cache.get("ip:203.0.113.5", clock()) is None
    assert len(cache) == 0


@pytest.mark.parametrize("step", [-3600.0, -2.0, 2 * DAY])
def test_a_wall_clock_step_never_shortens_a_denial(wall: Clock, step: float) -> None:
    clock = Clock(SNAPSHOT)
    cache = DenyCache()
    cache.put("ip:203.0.113.5", seconds=900.0, payload=None, now=clock())
    wall.now += step
    clock.now += 10.0
    held = cache.get("ip:203.0.113.5", clock())
    assert held is not None
    assert held.left(clock()) == 890.0


def test_a_deny_entry_tells_the_seconds_left() -> None:
    entry = DenyEntry(100.0, 10.0, "payload")
    assert entry.left(104.0) == 6.0
    assert entry.left(99.0) == -math.inf
    assert entry.payload == "payload"


@LOWER
def test_a_limiter_asks_the_store_after_a_clock_jump_and_is_still_refused(
    monkeypatch: pytest.MonkeyPatch, wall: Clock, redis_url: str, how: str
) -> None:
    clock = Clock(SNAPSHOT)
    _monotonic(monkeypatch, limiter_module, clock)
    limiter = RateLimiter(
        "2/hour", key=lambda request, principal: "k", name="jumps", store=RedisStore(redis_url)
    )
    assert [limiter.hit_key("ann").allowed for _ in range(3)] == [True, True, False]
    cache = limiter._guard.deny_cache
    assert cache is not None
    held = cache.get("ann", clock())
    assert held is not None
    assert held.at == SNAPSHOT
    _restore(clock, wall, how)
    assert cache.get("ann", clock()) is None  # the snapshot's denial does not answer
    refused = limiter.hit_key("ann")
    assert not refused.allowed  # the store, asked again, still refuses
    # (a sliding window counter's retry reaches up to 1.5 windows, by the hour's minute)
    assert 0 < refused.retry_after <= 1.5 * 3600
    again = cache.get("ann", clock())
    assert again is not None
    assert again.at == clock.now
    cached = limiter.hit_key("ann")  # and the new entry answers as before
    assert not cached.allowed
    assert 0 < cached.retry_after <= refused.retry_after


@LOWER
def test_a_penalty_box_asks_the_store_after_a_clock_jump_and_still_blocks(
    monkeypatch: pytest.MonkeyPatch, wall: Clock, redis_url: str, how: str
) -> None:
    clock = Clock(SNAPSHOT)
    _monotonic(monkeypatch, penalties_module, clock)
    penalty = AbusePenalty(store=RedisStore(redis_url), auth_failures="2/minute", cooldown=900)
    ip = "203.0.113.7"
    for _ in range(3):
        penalty.record_auth_failure(event(ip))
    assert penalty.blocked_for(event(ip)) > 0
    cache = penalty._guard.deny_cache
    assert cache is not None
    assert len(cache) == 1
    _restore(clock, wall, how)
    (subject,) = list(cache._data)
    assert cache.get(subject, clock()) is None
    assert 0 < penalty.blocked_for(event(ip)) <= 900  # asked the store: still blocked
    renewed = cache.get(subject, clock())
    assert renewed is not None
    assert renewed.at == clock.now


# -- the breaker (Resilience) -------------------------------------------------------------------


@RESTORES
def test_a_breaker_opened_before_a_clock_jump_is_closed_after_it(wall: Clock, how: str) -> None:
    clock = Clock(SNAPSHOT)
    guard = Resilience(
        None, on_store_error="closed", retry_store_after=1.0, deny_cache=True, owner="jumps"
    )
    assert not guard.store_is_down(clock())
    guard.failed(StoreError("redis: TimeoutError"), clock())
    assert guard.store_is_down(clock())
    assert guard.store_is_down(clock() + 0.5)
    _restore(clock, wall, how)
    assert not guard.store_is_down(clock())  # tried again


def test_a_breaker_still_opens_for_retry_store_after_on_steady_clocks() -> None:
    guard = Resilience(
        None, on_store_error="closed", retry_store_after=2.0, deny_cache=True, owner="jumps"
    )
    guard.failed(StoreError("redis: TimeoutError"), 10.0)
    assert guard.store_is_down(11.9)
    assert not guard.store_is_down(12.0)
    guard.succeeded()
    assert not guard.store_is_down(10.5)


@RESTORES
def test_a_penalty_box_breaker_from_before_a_clock_jump_asks_the_store(
    monkeypatch: pytest.MonkeyPatch, wall: Clock, redis_url: str, redis_client: Any, how: str
) -> None:
    """``"closed"``: blocked (retry_store_after) while the store is marked down; after the
    jump the store is asked, and the IP, never blocked there, passes."""
    clock = Clock(SNAPSHOT)
    _monotonic(monkeypatch, penalties_module, clock)
    store = RedisStore(redis_url, socket_timeout=0.2, check_eviction=False)
    penalty = AbusePenalty(store=store, auth_failures="3/minute", on_store_error="closed")
    redis_client.client_pause(3000, all=False)  # every write waits: the record times out
    try:
        penalty.record_auth_failure(event("203.0.113.8"))
    finally:
        redis_client.client_unpause()
    assert penalty.blocked_for(event("203.0.113.8")) == 1.0  # the breaker's answer
    _restore(clock, wall, how)
    assert penalty.blocked_for(event("203.0.113.8")) == 0.0


# -- API keys in DynamoDB -------------------------------------------------------------------


@pytest.fixture
def api_key_table(ddb_client: Any) -> str:
    return create_api_key_table(ddb_client)


@RESTORES
def test_a_cached_api_key_answer_is_asked_again_after_a_clock_jump(
    wall: Clock, ddb_client: Any, api_key_table: str, how: str
) -> None:
    key = "k" * 20 + f"-jumps-{how}"
    entry = ApiKeyEntry("partner-a")
    ddb_client.put_item(TableName=api_key_table, Item=DynamoDBApiKeys.item(key, entry))
    clock = Clock(SNAPSHOT)
    keys = DynamoDBApiKeys(api_key_table, client=ddb_client, cache_ttl=3600, clock=clock,
                           wall_clock=wall)  # fmt: skip
    assert keys.lookup(key) is not None
    ddb_client.put_item(
        TableName=api_key_table, Item=DynamoDBApiKeys.item(key, entry, disabled=True)
    )
    assert keys.lookup(key) is not None  # cached, as designed, within cache_ttl
    _restore(clock, wall, how)
    assert keys.lookup(key) is None  # the table, asked again: disabled


def test_an_unknown_key_cached_before_a_clock_jump_is_asked_again(
    ddb_client: Any, api_key_table: str
) -> None:
    key = "k" * 20 + "-jumps-created-later"
    clock = Clock(SNAPSHOT)
    keys = DynamoDBApiKeys(api_key_table, client=ddb_client, negative_cache_ttl=600, clock=clock)
    assert keys.lookup(key) is None
    entry = ApiKeyEntry("partner-b")
    ddb_client.put_item(TableName=api_key_table, Item=DynamoDBApiKeys.item(key, entry))
    clock.now = RESTORED_LOW
    found = keys.lookup(key)
    assert found is not None
    assert found.principal_id == "partner-b"


# -- ALB signing keys -------------------------------------------------------------------------


@pytest.fixture
def alb() -> Iterator[LocalAlb]:
    with LocalAlb() as server:
        yield server


@RESTORES
def test_an_alb_key_fetched_before_a_clock_jump_is_fetched_again(
    wall: Clock, alb: LocalAlb, how: str
) -> None:
    """A key the endpoint withdrew after the snapshot: refetched at the first lookup, 401."""
    clock = Clock(SNAPSHOT)
    keys = AlbKeys(alb.key_endpoint, allow_http=True, clock=clock)
    kid = alb.kid
    assert keys.key_for(kid) is not None
    alb.remove(kid)
    assert keys.key_for(kid) is not None  # fresh for ttl, as designed
    _restore(clock, wall, how)
    with pytest.raises(UnknownKey):
        keys.key_for(kid)
    assert keys.fetches == 2


@RESTORES
def test_an_alb_back_off_from_before_a_clock_jump_is_over(
    wall: Clock, alb: LocalAlb, how: str
) -> None:
    clock = Clock(SNAPSHOT)
    keys = AlbKeys(alb.key_endpoint, allow_http=True, clock=clock, max_backoff=60)
    alb.mode = "error"
    for _ in range(8):  # back-offs of 1, 2, 4 ... 60 s
        with pytest.raises(KeysUnavailable):
            keys.key_for(alb.kid)
        clock.now += 60.0
    fetches = keys.fetches
    with pytest.raises(KeysUnavailable):
        keys.key_for(alb.kid)
    assert keys.fetches == fetches + 1
    with pytest.raises(KeysUnavailable):  # backing off: not asked
        keys.key_for(alb.kid)
    assert keys.fetches == fetches + 1
    alb.mode = "ok"
    _restore(clock, wall, how)
    assert keys.key_for(alb.kid) is not None  # fetched again
    assert keys.fetches == fetches + 2


def test_alb_kids_cooling_down_before_a_clock_jump_are_fetched_after_it(alb: LocalAlb) -> None:
    """Four made-up kids use up the window for kids not cached; a restored, lower clock
    starts a new window, so a key added after the snapshot is fetched (not 401)."""
    clock = Clock(SNAPSHOT)
    keys = AlbKeys(alb.key_endpoint, allow_http=True, clock=clock)
    for _ in range(4):
        with pytest.raises(UnknownKey):
            keys.key_for(str(uuid.uuid4()))
    new = alb.rotate()
    with pytest.raises(UnknownKey) as cooling:
        keys.key_for(new)
    assert cooling.value.detail.get("refetch") == "cooling down"
    clock.now = RESTORED_LOW
    assert keys.key_for(new) is not None


def test_an_alb_stale_key_is_not_served_past_max_age_after_the_wall_clock_jumps(
    wall: Clock, alb: LocalAlb
) -> None:
    """The monotonic clock continuous, the wall clock days ahead, the endpoint down: the
    key fetched before is older than max_age, so 503, never the old key."""
    clock = Clock(SNAPSHOT)
    keys = AlbKeys(alb.key_endpoint, allow_http=True, clock=clock)
    assert keys.key_for(alb.kid) is not None
    alb.mode = "error"
    _restore(clock, wall, "wall_ahead")
    with pytest.raises(KeysUnavailable):
        keys.key_for(alb.kid)


# -- the eviction check ---------------------------------------------------------------------


@RESTORES
def test_an_eviction_check_is_due_after_a_clock_jump(
    monkeypatch: pytest.MonkeyPatch, wall: Clock, redis_servers: Any, how: str
) -> None:
    """Checked at the snapshot (noeviction); the policy changed since: after the jump the
    check runs again and the store refuses, though ``eviction_recheck`` has not passed."""
    import redis

    from secauth import _redis

    clock = Clock(SNAPSHOT)
    _monotonic(monkeypatch, _redis, clock)
    server = redis_servers("--maxmemory", "64mb", "--maxmemory-policy", "noeviction")
    store = RedisStore(f"redis://127.0.0.1:{server.port}/0", eviction_recheck=3600)
    limit = as_limit("10/minute")
    assert store.hit("k", limit, "fixed_window").allowed
    admin = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=2.0)
    try:
        admin.config_set("maxmemory-policy", "allkeys-lru")
    finally:
        admin.close()
    clock.now += 1.0
    assert store.hit("k", limit, "fixed_window").allowed  # not due yet: as designed
    _restore(clock, wall, how)
    with pytest.raises(StoreError, match="may evict"):
        store.hit("k", limit, "fixed_window")


def test_an_eviction_check_after_a_failure_and_a_pass(wall: Clock) -> None:
    """Due at first, after ``every`` by either clock, when a clock reads earlier, and again
    after a failure; a pass that started before a failure does not count."""
    check = EvictionCheck("Demo", enabled=True, every=60.0)
    assert check.due(SNAPSHOT)
    started = check._start()
    assert started is not None
    check._passed(started)
    steady = started[0].steady
    assert not check.due(steady + 59.0)
    assert check.due(steady + 60.0)
    assert check.due(steady - 1.0)  # a clock that went back
    wall.now += 60.0
    assert check.due(steady)  # the wall clock says a minute passed
    racing = check._start()
    assert racing is not None
    assert check.due(racing[0].steady)
    check._failed()
    check._passed(racing)  # started before the failure: does not count
    assert check.due(racing[0].steady + 1.0)
    assert not EvictionCheck("Demo", enabled=False, every=60.0).due(0.0)


# -- the revocation list's rest after a store failure (wall clock stepped back) -----------------


class _FailingOnce:
    """A revocation store (the protocol users implement) that fails its first lookup."""

    def __init__(self) -> None:
        from secauth.revocation_stores import MemoryRevocationStore

        self.inner = MemoryRevocationStore()
        self.failures_left = 1

    def lookup(self, keys: list[str]) -> dict[str, float | None]:
        from secauth.revocation import StoreUnavailable

        if self.failures_left:
            self.failures_left -= 1
            raise StoreUnavailable("down for a moment")
        return self.inner.lookup(keys)

    def put(self, key: str, value: float, expires_at: float) -> None:
        self.inner.put(key, value, expires_at)


def test_a_wall_clock_stepped_back_does_not_lengthen_an_open_revocation_rest() -> None:
    """``failure="open"`` allows every token unchecked while the list rests after a store
    failure. Before the fix the rest ended at a wall-clock reading: a clock stepped back an
    hour kept it for an hour, and a revoked token was allowed all that time."""
    from secauth.errors import TokenRevoked
    from secauth.revocation import Revocations

    wall = Clock(1_800_000_000.0)
    store = _FailingOnce()
    revocations = Revocations(store, failure="open", max_staleness=0, retry_after=1.0, clock=wall)
    claims = {"iss": "https://idp/", "jti": "t-1", "sub": "ann", "iat": wall.now - 10,
              "exp": wall.now + 3600}  # fmt: skip
    revocations.check(claims)  # the store fails: allowed (open), the list rests for 1 s
    revocations.revoke_token("https://idp/", "t-1")
    wall.now -= 3600.0  # the wall clock is stepped back an hour
    with pytest.raises(TokenRevoked):
        revocations.check(claims)
