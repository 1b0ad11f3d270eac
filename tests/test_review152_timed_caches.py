"""Review 152: the caches whose timekeeping e35d99e/8986be6 rewrote (``secauth._elapsed.Since``).

Attacked, first under ordinary steady clocks (a hand ``clock=`` moved forward, real servers on
loopback), then for races and sequences:

* ``AlbKeys`` (a ``LocalAlb`` key endpoint): freshness for ``ttl``, a withdrawn kid after ``ttl``,
  stale-if-error only until ``max_age``, the back-off 1, 2, 4 s, the bound of four fetches of
  kids not cached per ``refetch_cooldown`` (sync, threads, coroutines), least-recently-used
  eviction of a full cache.
* ``DynamoDBApiKeys`` (dynalite): ``cache_ttl``, ``negative_cache_ttl`` (neither longer nor
  shorter), an entry's ``expires_at`` while cached, ``invalidate(key)`` / ``invalidate()`` on
  both maps, a flood of unknown keys against ``max_cached``, an invalidation racing a read.
* ``EvictionCheck`` through ``RedisStore`` / ``AsyncRedisStore`` / ``RedisRevocationStore`` on
  private redis-servers (``--maxmemory``, ``CONFIG SET``): first use, recheck, a failure after
  a pass, a pass that started before a failure (threads and coroutines held mid-check).
* ``Revocations`` rest after a store failure (``failure="open"`` and ``"closed"``).

Resolved (the tests assert it): a failed ALB key fetch no longer resets the window's count of
kids not cached (failed fetches count too); ``DynamoDBApiKeys`` counts ``invalidate()`` calls,
and an answer read across one is not kept; its cache also reads its own ``wall_clock=``.

Findings:

* low: ``AlbKeys`` fetches more than four kids not cached per ``refetch_cooldown`` once a
  fetch fails: ``_apply`` resets the window's count on a failure, so after a one-second
  back-off a flood of made-up kids gets four more fetches (and again after each failure).
* low: ``DynamoDBApiKeys.invalidate(key)`` racing a lookup already reading the table is
  lost: the lookup caches the answer it read before the invalidation (a disabled key keeps
  working for ``cache_ttl``); ``Revocations`` guards the same race with a generation count.

Held: every other behaviour above matches docs/alb.md, docs/authorizer.md and the docstrings;
the eviction check never counted a pass that started before a failure, in the sequences tried.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from api_key_tables import create_api_key_table
from hand_clock import Clock

from secauth.alb_keys import AlbKeys
from secauth.api_keys import ApiKeyEntry
from secauth.dynamodb_api_keys import DynamoDBApiKeys
from secauth.errors import KeysUnavailable, TokenRevoked, UnknownKey
from secauth.ratelimit import StoreError
from secauth.ratelimit.limit import as_limit
from secauth.ratelimit.redis_store import AsyncRedisStore, RedisStore
from secauth.revocation import Revocations
from secauth.revocation_stores import RedisRevocationStore
from secauth.testing_alb import LocalAlb

# -- AlbKeys ------------------------------------------------------------------------------------


@pytest.fixture
def alb() -> Iterator[LocalAlb]:
    with LocalAlb() as server:
        yield server


def _made_up() -> str:
    return str(uuid.uuid4())


def _alb_keys(alb: LocalAlb, clock: Clock, **options: Any) -> AlbKeys:
    return AlbKeys(alb.key_endpoint, allow_http=True, clock=clock, **options)


def test_alb_key_is_fresh_for_ttl_then_a_withdrawn_kid_is_unknown(alb: LocalAlb) -> None:
    clock = Clock()
    keys = _alb_keys(alb, clock, ttl=600, max_age=3600)
    kid = alb.kid
    assert keys.key_for(kid) is not None
    alb.remove(kid)
    clock.now += 599.0
    assert keys.key_for(kid) is not None  # fresh: not asked
    assert alb.fetches == 1
    clock.now += 1.0
    with pytest.raises(UnknownKey):
        keys.key_for(kid)
    assert alb.fetches == 2
    with pytest.raises(UnknownKey):  # gone from the cache, not served from it
        keys.key_for(kid)


def test_alb_stale_key_serves_while_failing_but_never_past_max_age(alb: LocalAlb) -> None:
    clock = Clock()
    keys = _alb_keys(alb, clock, ttl=600, max_age=3600, max_backoff=1)
    kid = alb.kid
    good = keys.key_for(kid)
    alb.mode = "error"
    clock.now += 601.0
    assert keys.key_for(kid) is good  # refetch failed: stale-if-error
    assert alb.fetches == 2
    assert keys.key_for(kid) is good  # backing off: stale, not asked
    assert alb.fetches == 2
    clock.now = 1000.0 + 3599.0
    assert keys.key_for(kid) is good  # a fetch, failed; still younger than max_age
    clock.now = 1000.0 + 3600.0
    with pytest.raises(KeysUnavailable):  # backing off, and the key is max_age old
        keys.key_for(kid)
    clock.now += 5.0
    with pytest.raises(KeysUnavailable):  # a fetch, failed: no stale key past max_age
        keys.key_for(kid)
    alb.mode = "ok"
    clock.now += 5.0
    assert keys.key_for(kid) is not None
    assert keys.last_failure is None


def test_alb_back_off_is_one_two_four_seconds(alb: LocalAlb) -> None:
    clock = Clock()
    keys = _alb_keys(alb, clock)
    alb.mode = "error"
    kid = alb.kid
    for backoff in (1.0, 2.0, 4.0):
        fetched = alb.fetches
        with pytest.raises(KeysUnavailable):
            keys.key_for(kid)
        assert alb.fetches == fetched + 1
        clock.now += backoff - 0.01
        with pytest.raises(KeysUnavailable):
            keys.key_for(kid)
        assert alb.fetches == fetched + 1  # not asked while backing off
        clock.now += 0.01
    alb.mode = "ok"
    assert keys.key_for(kid) is not None


def test_alb_made_up_kids_cost_four_fetches_per_cooldown(alb: LocalAlb) -> None:
    clock = Clock()
    keys = _alb_keys(alb, clock, refetch_cooldown=30)
    for _ in range(20):
        with pytest.raises(UnknownKey):
            keys.key_for(_made_up())
    assert alb.fetches == 4
    clock.now += 29.0
    with pytest.raises(UnknownKey):
        keys.key_for(_made_up())
    assert alb.fetches == 4
    clock.now += 1.0
    for _ in range(20):
        with pytest.raises(UnknownKey):
            keys.key_for(_made_up())
    assert alb.fetches == 8


# fmt: off
def test_alb_made_up_kids_stay_bounded_when_a_fetch_fails(alb: LocalAlb) -> None:
    """docs/alb.md: kids not cached are fetched at most four times per ``refetch_cooldown``,
    found or not. One failed fetch (a 503 for a moment) and a one-second back-off later, a
    flood of made-up kids gets four more fetches in the same 30 s window; each further
    failure buys four more."""
    clock = Clock()
    keys = _alb_keys(alb, clock, refetch_cooldown=30)
    for _ in range(3):
        with pytest.raises(UnknownKey):
            keys.key_for(_made_up())
    alb.mode = "error"
    with pytest.raises(KeysUnavailable):
        keys.key_for(_made_up())
    alb.mode = "ok"
    for _ in range(5):  # five seconds of a flood of made-up kids
        clock.now += 1.0
        for _ in range(10):
            with pytest.raises((UnknownKey, KeysUnavailable)):
                keys.key_for(_made_up())
    assert alb.fetches <= 4
# fmt: on


def test_alb_threads_share_one_fetch_and_made_up_kids_stay_bounded(alb: LocalAlb) -> None:
    clock = Clock()
    keys = _alb_keys(alb, clock)
    barrier = threading.Barrier(16)
    found: list[Any] = []
    refused: list[Exception] = []

    def ask(kid: str) -> None:
        barrier.wait()
        try:
            found.append(keys.key_for(kid))
        except (UnknownKey, KeysUnavailable) as exc:
            refused.append(exc)

    threads = [threading.Thread(target=ask, args=(alb.kid,)) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 16
    assert not refused
    assert alb.fetches == 1
    clock.now += 31.0
    threads = [threading.Thread(target=ask, args=(_made_up(),)) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(refused) == 16
    assert alb.fetches == 1 + 4


def test_alb_coroutines_with_made_up_kids_stay_bounded(alb: LocalAlb) -> None:
    clock = Clock()
    keys = _alb_keys(alb, clock)

    async def flood() -> list[Any]:
        asks = [keys.key_for_async(_made_up()) for _ in range(30)]
        asks += [keys.key_for_async(alb.kid) for _ in range(5)]
        return await asyncio.gather(*asks, return_exceptions=True)

    answers = asyncio.run(flood())
    assert all(isinstance(a, UnknownKey) for a in answers[:30])
    assert alb.fetches <= 4
    assert sum(not isinstance(a, Exception) for a in answers) in (0, 5)


def test_alb_full_cache_lets_go_of_the_key_used_least_recently(alb: LocalAlb) -> None:
    clock = Clock()
    keys = _alb_keys(alb, clock, ttl=3600, max_age=3600, refetch_cooldown=30)
    hot = alb.kid
    keys.key_for(hot)
    cold = alb.rotate()
    keys.key_for(cold)
    for _ in range(31):  # 33 kids in all: one over the 32 the cache holds
        clock.now += 31.0  # a new window for kids not cached
        keys.key_for(hot)
        keys.key_for(alb.rotate())
    fetched = alb.fetches
    assert keys.key_for(hot) is not None
    assert alb.fetches == fetched  # in use: kept
    assert keys.key_for(cold) is not None
    assert alb.fetches == fetched + 1  # used least recently: it went


# -- DynamoDBApiKeys ----------------------------------------------------------------------------


@pytest.fixture
def table(ddb_client: Any) -> str:
    return create_api_key_table(ddb_client)


def _key() -> str:
    return "sk_" + uuid.uuid4().hex + uuid.uuid4().hex


def _put(client: Any, table: str, key: str, principal: str = "p", **options: Any) -> None:
    item = DynamoDBApiKeys.item(key, ApiKeyEntry(principal), **options)
    client.put_item(TableName=table, Item=item)


def test_ddb_answer_kept_for_cache_ttl_then_read_again(ddb_client: Any, table: str) -> None:
    clock = Clock()
    store = DynamoDBApiKeys(table, client=ddb_client, cache_ttl=60, clock=clock)
    key = _key()
    _put(ddb_client, table, key, "alice")
    entry = store.lookup(key)
    assert entry is not None
    assert entry.principal_id == "alice"
    _put(ddb_client, table, key, "alice", disabled=True)
    clock.now += 59.9
    assert store.lookup(key) is not None  # cached, as documented
    clock.now += 0.1
    assert store.lookup(key) is None  # cache_ttl over: the disabled item is read
    _put(ddb_client, table, key, "alice")
    clock.now += 9.9
    assert store.lookup(key) is None  # the miss (disabled) kept negative_cache_ttl
    clock.now += 0.1
    assert store.lookup(key) is not None


def test_ddb_negative_answer_lasts_negative_cache_ttl_exactly(ddb_client: Any, table: str) -> None:
    clock = Clock()
    store = DynamoDBApiKeys(
        table, client=ddb_client, cache_ttl=600, negative_cache_ttl=10, clock=clock
    )
    key = _key()
    assert store.lookup(key) is None
    _put(ddb_client, table, key)
    clock.now += 9.9
    assert store.lookup(key) is None
    clock.now += 0.1  # not cache_ttl: a new key is found within negative_cache_ttl
    assert store.lookup(key) is not None


def test_ddb_cached_entry_refused_once_its_expires_at_passes(ddb_client: Any, table: str) -> None:
    clock, wall = Clock(), Clock(2_000_000_000.0)
    store = DynamoDBApiKeys(table, client=ddb_client, cache_ttl=600, clock=clock, wall_clock=wall)
    key = _key()
    _put(ddb_client, table, key, expires_at=2_000_000_100)
    assert store.lookup(key) is not None
    wall.now = 2_000_000_099.5
    assert store.lookup(key) is not None
    wall.now = 2_000_000_100.0
    assert store.lookup(key) is None  # from the cache, and still refused


def test_ddb_invalidate_reaches_both_maps(ddb_client: Any, table: str) -> None:
    clock = Clock()
    store = DynamoDBApiKeys(
        table, client=ddb_client, cache_ttl=600, negative_cache_ttl=600, clock=clock
    )
    known, unknown = _key(), _key()
    _put(ddb_client, table, known)
    assert store.lookup(known) is not None
    assert store.lookup(unknown) is None
    _put(ddb_client, table, known, disabled=True)
    _put(ddb_client, table, unknown)
    store.invalidate(known)
    assert store.lookup(known) is None
    store.invalidate(unknown)
    assert store.lookup(unknown) is not None
    _put(ddb_client, table, known)
    _put(ddb_client, table, unknown, disabled=True)
    store.invalidate()
    assert store.lookup(known) is not None
    assert store.lookup(unknown) is None


def test_ddb_unknown_key_flood_never_evicts_a_known_key(ddb_client: Any, table: str) -> None:
    clock = Clock()
    store = DynamoDBApiKeys(table, client=ddb_client, cache_ttl=600, max_cached=4, clock=clock)
    known = [_key() for _ in range(4)]
    for key in known:
        _put(ddb_client, table, key)
        assert store.lookup(key) is not None
    for key in known:
        _put(ddb_client, table, key, disabled=True)  # the table changed: only the cache says yes
    for _ in range(20):
        assert store.lookup(_key()) is None
    assert all(store.lookup(key) is not None for key in known)
    clock.now += 600.0
    assert all(store.lookup(key) is None for key in known)


class _ActsDuringGetItem:
    """The real (dynalite) boto3 client; ``act`` runs once, after a ``GetItem`` read the
    table and before its answer reaches the store: another thread's work, at that moment."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.act: Callable[[], None] | None = None

    def get_item(self, **request: Any) -> Any:
        answer = self._client.get_item(**request)
        act, self.act = self.act, None
        if act is not None:
            act()
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


# fmt: off
def test_ddb_invalidate_during_a_read_is_not_undone(ddb_client: Any, table: str) -> None:
    """An admin disables a key and invalidates it while a request's lookup is reading the
    table: that lookup may answer with what it read, but must not cache it past the
    invalidation. It does: the disabled key keeps working for ``cache_ttl``."""
    clock = Clock()
    racing = _ActsDuringGetItem(ddb_client)
    store = DynamoDBApiKeys(table, client=racing, cache_ttl=60, clock=clock)
    key = _key()
    _put(ddb_client, table, key)

    def revoke() -> None:
        _put(ddb_client, table, key, disabled=True)
        store.invalidate(key)

    racing.act = revoke
    store.lookup(key)  # read before the revocation
    clock.now += 1.0
    assert store.lookup(key) is None
# fmt: on


# -- the Redis eviction check -------------------------------------------------------------------


def _admin(server: Any) -> Any:
    import redis

    return redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=2.0)


def _policy(server: Any, policy: str) -> None:
    admin = _admin(server)
    try:
        admin.config_set("maxmemory-policy", policy)
    finally:
        admin.close()


LIMIT = as_limit("1000/minute")


def test_eviction_check_at_first_use_and_on_every_recheck(redis_servers: Any) -> None:
    server = redis_servers("--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru")
    store = RedisStore(f"redis://127.0.0.1:{server.port}/0", eviction_recheck=0)
    with pytest.raises(StoreError, match="may evict"):
        store.hit("k", LIMIT, "fixed_window")
    with pytest.raises(StoreError, match="may evict"):
        store.blocked_for("someone")
    _policy(server, "noeviction")
    assert store.hit("k", LIMIT, "fixed_window").allowed
    _policy(server, "allkeys-lru")
    with pytest.raises(StoreError, match="may evict"):
        store.hit("k", LIMIT, "fixed_window")
    store.close()


def test_eviction_check_recheck_window_then_due(redis_servers: Any) -> None:
    server = redis_servers("--maxmemory", "64mb", "--maxmemory-policy", "noeviction")
    store = RedisStore(f"redis://127.0.0.1:{server.port}/0", eviction_recheck=0.3)
    assert store.hit("k", LIMIT, "fixed_window").allowed
    _policy(server, "allkeys-lfu")
    assert store.hit("k", LIMIT, "fixed_window").allowed  # within eviction_recheck: documented
    time.sleep(0.35)
    for _ in range(3):  # due, failed: every call checks again and fails
        with pytest.raises(StoreError, match="may evict"):
            store.hit("k", LIMIT, "fixed_window")
    _policy(server, "noeviction")
    assert store.hit("k", LIMIT, "fixed_window").allowed
    store.close()


class _HeldInfo:
    """A real redis client whose next ``INFO`` is held after the server answered it, until
    the test lets it go (a check in flight while the policy changes)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.hold = False
        self.answered = threading.Event()
        self.release = threading.Event()

    def info(self, *args: Any, **kwargs: Any) -> Any:
        answer = self._client.info(*args, **kwargs)
        if self.hold:
            self.hold = False
            self.answered.set()
            assert self.release.wait(5.0)
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_pass_read_before_a_failure_never_counts_threads(redis_servers: Any) -> None:
    import redis

    server = redis_servers("--maxmemory", "64mb", "--maxmemory-policy", "noeviction")
    held = _HeldInfo(redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=2.0))
    store = RedisStore(client=held, eviction_recheck=3600)
    held.hold = True
    outcome: list[Any] = []
    early = threading.Thread(target=lambda: outcome.append(store.hit("a", LIMIT, "fixed_window")))
    early.start()
    assert held.answered.wait(5.0)  # its INFO said noeviction
    _policy(server, "volatile-lru")
    with pytest.raises(StoreError, match="may evict"):
        store.hit("b", LIMIT, "fixed_window")
    held.release.set()
    early.join()
    assert outcome
    assert outcome[0].allowed
    for _ in range(3):
        with pytest.raises(StoreError, match="may evict"):
            store.hit("c", LIMIT, "fixed_window")


def test_a_pass_read_before_a_failure_never_counts_coroutines(redis_servers: Any) -> None:
    import redis.asyncio

    server = redis_servers("--maxmemory", "64mb", "--maxmemory-policy", "noeviction")

    async def scenario() -> None:
        real = redis.asyncio.Redis(host="127.0.0.1", port=server.port, socket_timeout=2.0)
        release = asyncio.Event()
        answered = asyncio.Event()
        hold = [True]

        class Held:
            async def info(self, *args: Any, **kwargs: Any) -> Any:
                answer = await real.info(*args, **kwargs)
                if hold[0]:
                    hold[0] = False
                    answered.set()
                    await release.wait()
                return answer

            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

        store = AsyncRedisStore(client=Held(), eviction_recheck=3600)
        early = asyncio.ensure_future(store.hit_async("a", LIMIT, "fixed_window"))
        await answered.wait()
        _policy(server, "allkeys-random")
        with pytest.raises(StoreError, match="may evict"):
            await store.hit_async("b", LIMIT, "fixed_window")
        release.set()
        assert (await early).allowed
        for _ in range(3):
            with pytest.raises(StoreError, match="may evict"):
                await store.hit_async("c", LIMIT, "fixed_window")
        await real.aclose()

    asyncio.run(scenario())


# -- the revocation list's rest after a store failure --------------------------------------------

ISSUER = "https://idp.example.com/"


def _claims(clock: Clock, jti: str) -> dict[str, Any]:
    return {"iss": ISSUER, "sub": "u", "jti": jti, "iat": clock.now - 10, "exp": clock.now + 300}


def test_open_revocations_rest_for_retry_after_exactly(redis_servers: Any) -> None:
    server = redis_servers("--maxmemory", "64mb", "--maxmemory-policy", "noeviction")
    store = RedisRevocationStore(
        f"redis://127.0.0.1:{server.port}/0", eviction_recheck=0, socket_timeout=2.0
    )
    clock = Clock(time.time())
    revocations = Revocations(
        store, failure="open", retry_after=30, max_staleness=0, max_token_lifetime=3600,
        clock=clock,
    )  # fmt: skip
    claims = _claims(clock, "t-1")
    revocations.revoke_token(ISSUER, "t-1")
    with pytest.raises(TokenRevoked):
        revocations.check(claims)
    _policy(server, "volatile-ttl")
    revocations.check(claims)  # the store fails: "open" allows, as documented
    _policy(server, "noeviction")
    clock.now += 29.9
    revocations.check(claims)  # resting: allowed unchecked, as documented
    clock.now += 0.1
    with pytest.raises(TokenRevoked):  # the rest is over: asked, refused
        revocations.check(claims)


def test_closed_revocations_refuse_while_resting(redis_servers: Any) -> None:
    server = redis_servers("--maxmemory", "64mb", "--maxmemory-policy", "noeviction")
    store = RedisRevocationStore(
        f"redis://127.0.0.1:{server.port}/0", eviction_recheck=0, socket_timeout=2.0
    )
    clock = Clock(time.time())
    revocations = Revocations(store, retry_after=30, max_staleness=0, clock=clock)
    claims = _claims(clock, "t-2")
    revocations.check(claims)
    _policy(server, "allkeys-lru")
    with pytest.raises(KeysUnavailable):
        revocations.check(claims)
    _policy(server, "noeviction")
    clock.now += 29.9
    with pytest.raises(KeysUnavailable):
        revocations.check(claims)
    clock.now += 0.1
    revocations.check(claims)
