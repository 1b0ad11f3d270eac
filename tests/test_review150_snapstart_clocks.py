"""Review 150: Lambda SnapStart and the clocks of a container.

With SnapStart, Lambda runs the init phase once, snapshots the memory and restores it in
many execution environments, possibly days later. What init made unique is shared by
every restored container, connections made at init are dead, data fetched at init is as
old as the snapshot, and ``time.monotonic()`` after a restore is not continuous with the
reading before it (it may be far lower or far higher); the wall clock is re-synced. A
restore is simulated here by moving the ``clock=`` a class takes (or the ``time`` module
the rate limiter reads) from a high "snapshot" reading to a low or a higher one, and
dead connections by ``CLIENT KILL TYPE normal`` on a real redis-server. Key sets come
from ``secauth.testing.LocalIssuer`` on loopback, which rotates and withdraws keys.

Resolved (the tests below assert it): state kept across requests is timed as a moment noted
on both clocks (``secauth._elapsed.Since``) and a duration; its age is the larger of the
two clocks' readings, and infinite when either reads earlier, so a clock jump makes a key
set due, a back-off or breaker over and a cached answer gone, never longer-lived: JwksCache,
AlbKeys, the limiter's and penalty box's breaker and deny cache (since review 151, a denial
ends by the monotonic clock alone, dropped when it reads earlier), DynamoDBApiKeys, the Redis
eviction check and the revocation list's rest (tests/test_jwks_clock_jumps.py and
tests/test_clock_jumps.py cover the wall clock days ahead with a continuous monotonic one).

Findings (most severe first):

* medium: ``JwksCache`` compares monotonic readings without checking their order: after
  a restore whose monotonic clock reads lower than the snapshot's, the key set fetched at
  init counts as fresh (and usable) until the clock catches up with the snapshot's
  reading, so a key the IdP withdrew after the snapshot is accepted far past ``ttl`` and
  ``max_age`` (``_fresh``: ``now < self._fresh_until``; ``_usable``:
  ``now - self._fetched_at >= self.max_age`` is never true for a negative age).
* medium: in the same state a key the IdP added after the snapshot is refused (401
  ``unknown_key``, "cooling down") for as long: ``now - self._last_attempt`` is negative,
  so the unknown-kid refetch never runs; every token of a rotated IdP is refused.
* medium: a ``hydrate()`` that failed at init (the IdP unreachable while the snapshot
  was made) leaves ``_retry_at`` at the snapshot's reading: after a restore with a lower
  monotonic clock no fetch is ever tried and every request is a 503 ``keys_unavailable``
  (``_may_fetch``: ``now >= self._retry_at``), though the IdP is up.
* medium: a rate limiter whose shared store failed once before the snapshot (a priming
  call) keeps its breaker open (``Resilience._down_until``) until the restored monotonic
  clock catches up: with ``on_store_error="closed"`` every request is a 429 (with
  ``"open"`` no limit at all) while Redis answers (``Resilience.store_is_down``).
* low: ``DynamoDBApiKeys`` keeps an answer cached before the snapshot past ``cache_ttl``
  after a restore with a lower monotonic clock: a key disabled in the table after the
  snapshot is still accepted (``lookup``: ``cached.until > now``).

What held: ``hydrate()`` called after a restore (an after-restore hook) repairs the key
cache in both directions; a monotonic clock far ahead refreshes the key set at the first
lookup and never serves a set older than ``max_age`` (503 while the IdP is down); Redis
connections killed between init and the first invocation are reopened by the rate-limit,
revocation and DPoP replay stores (no 503, no fallback, the shared count kept); the
revocation list's cached verdicts and the DPoP server nonces run on the wall clock, so a
restore days later asks the store again and refuses a nonce issued before the snapshot;
nonces are the same in every container that holds the secret and differ with another.

Seen in the code, not made findings of their own (same cause, or nothing to test): ``AlbKeys``
(``now - entry.fetched_at < ttl``, ``now < self._retry_at``), the penalty box and the deny cache
(``Resilience``/``DenyCache``) and ``EvictionCheck`` compare monotonic readings the same way; and
with a monotonic clock that simply continues from the snapshot's reading, the key set fetched at
init is as old as the snapshot yet counts as fresh for ``ttl`` in every newly restored
container: only ``hydrate()`` in an after-restore hook refreshes it.
"""

from __future__ import annotations

import time
import types
from collections.abc import Iterator
from typing import Any

import pytest
from api_key_tables import create_api_key_table

from secauth import JwtVerifier
from secauth.api_keys import ApiKeyEntry
from secauth.dpop_nonce import DpopNonces
from secauth.dpop_replay import RedisReplayStore
from secauth.dynamodb_api_keys import DynamoDBApiKeys
from secauth.errors import KeysUnavailable, TokenRevoked, UnknownKey
from secauth.jwks import JwksCache
from secauth.ratelimit import limiter as limiter_module
from secauth.ratelimit.limiter import RateLimiter
from secauth.ratelimit.redis_store import RedisStore
from secauth.revocation import Revocations
from secauth.revocation_stores import RedisRevocationStore
from secauth.testing import LocalIssuer

# The monotonic reading when the snapshot is taken (a VM that ran for about 11 days), and
# a restored VM's, far lower (it booted moments ago) or far higher.
SNAPSHOT = 1_000_000.0
RESTORED_LOW = 50.0
RESTORED_HIGH = SNAPSHOT + 30 * 86_400.0
DAY = 86_400.0


class Clock:
    """A clock the test sets by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def idp() -> Iterator[LocalIssuer]:
    with LocalIssuer(algs=("ES256",)) as issuer:
        yield issuer


def _verifier(idp: LocalIssuer, clock: Clock, **options: Any) -> JwtVerifier:
    cache = JwksCache(idp.jwks_uri, allow_http=True, clock=clock, **options)
    return JwtVerifier(issuer=idp.issuer, audience="api", jwks=cache, cache_size=0)


def _init_then_rotate(idp: LocalIssuer, clock: Clock) -> tuple[JwtVerifier, Any, Any]:
    """Init: keys fetched at the snapshot's reading. Then, days later, the IdP rotates
    and withdraws the old key. Returns the verifier, the old and the new key."""
    verifier = _verifier(idp, clock)
    assert verifier.hydrate()
    old = idp.key
    new = idp.rotate()
    idp.remove(old.kid)
    return verifier, old, new


# -- the key set fetched at init, after a restore ---------------------------------------------


# fmt: off
def test_withdrawn_key_is_refused_once_ttl_passed_after_a_restore_with_a_lower_clock(
    idp: LocalIssuer,
) -> None:
    """Today the key verifies, with no fetch, until the clock passes the snapshot's
    reading: here about 11 days of running time after the restore."""
    clock = Clock(SNAPSHOT)
    verifier, old, _ = _init_then_rotate(idp, clock)
    clock.now = RESTORED_LOW  # restored; the container then runs for ttl (600 s) and more
    clock.now += 600.0 + 1.0
    forged = idp.token(key=old, sub="mallory", aud="api")  # signed by the withdrawn key
    with pytest.raises(UnknownKey):
        verifier.verify(forged)
# fmt: on


# fmt: off
def test_new_key_is_accepted_after_a_restore_with_a_lower_clock(idp: LocalIssuer) -> None:
    """Today: UnknownKey with ``refetch: cooling down`` and no fetch, for as long."""
    clock = Clock(SNAPSHOT)
    verifier, _, _ = _init_then_rotate(idp, clock)
    clock.now = RESTORED_LOW + 30.0 + 1.0  # past refetch_cooldown of running time
    token = idp.token(sub="ann", aud="api")  # signed by the new key
    assert verifier.verify(token)["sub"] == "ann"
# fmt: on


# fmt: off
def test_failed_init_hydrate_recovers_after_a_restore_with_a_lower_clock(
    idp: LocalIssuer,
) -> None:
    """Today: KeysUnavailable (503) on every request, the healthy IdP never asked."""
    clock = Clock(SNAPSHOT)
    verifier = _verifier(idp, clock)
    idp.mode = "error"  # the IdP cannot be reached while the snapshot is made
    assert verifier.hydrate() is False
    idp.mode = "ok"
    clock.now = RESTORED_LOW + 60.0 + 1.0  # past max_backoff of running time
    assert verifier.verify(idp.token(sub="ann", aud="api"))["sub"] == "ann"
# fmt: on


def test_hydrate_in_an_after_restore_hook_repairs_the_key_cache(idp: LocalIssuer) -> None:
    """The mitigation to document: ``hydrate()`` in ``register_after_restore`` fetches
    whatever the clocks say, and resets the times the cache keeps to the restored clock."""
    clock = Clock(SNAPSHOT)
    verifier, old, _ = _init_then_rotate(idp, clock)
    clock.now = RESTORED_LOW
    assert verifier.hydrate()  # the after-restore hook
    with pytest.raises(UnknownKey):
        verifier.verify(idp.token(key=old, sub="mallory", aud="api"))
    assert verifier.verify(idp.token(sub="ann", aud="api"))["sub"] == "ann"
    clock.now += 600.0 + 1.0  # and the cache ages normally from there on
    fetches = idp.fetches
    verifier.verify(idp.token(sub="ann", aud="api"))
    assert idp.fetches == fetches + 1


def test_hydrate_after_restore_also_clears_a_failed_init(idp: LocalIssuer) -> None:
    clock = Clock(SNAPSHOT)
    verifier = _verifier(idp, clock)
    idp.mode = "error"
    assert verifier.hydrate() is False
    idp.mode = "ok"
    clock.now = RESTORED_LOW
    assert verifier.hydrate()
    assert verifier.verify(idp.token(sub="ann", aud="api"))["sub"] == "ann"


def test_restore_with_a_higher_clock_refreshes_the_key_set_at_first_use(
    idp: LocalIssuer,
) -> None:
    clock = Clock(SNAPSHOT)
    verifier, old, _ = _init_then_rotate(idp, clock)
    clock.now = RESTORED_HIGH
    assert verifier.verify(idp.token(sub="ann", aud="api"))["sub"] == "ann"
    with pytest.raises(UnknownKey):
        verifier.verify(idp.token(key=old, sub="mallory", aud="api"))


def test_restore_with_a_higher_clock_never_serves_the_old_set_while_the_idp_is_down(
    idp: LocalIssuer,
) -> None:
    """Far ahead, the snapshot's set is older than max_age: with the IdP down it is not
    used (503, never an allow with the withdrawn key)."""
    clock = Clock(SNAPSHOT)
    verifier, old, _ = _init_then_rotate(idp, clock)
    idp.mode = "error"
    clock.now = RESTORED_HIGH
    with pytest.raises(KeysUnavailable):
        verifier.verify(idp.token(key=old, sub="mallory", aud="api"))


def test_discovery_cache_follows_the_same_rules_after_a_lower_clock(idp: LocalIssuer) -> None:
    """``from_discovery`` shares the state (and the fix): pinned here so it cannot drift.
    A hydrate after the restore brings the rotated key in."""
    clock = Clock(SNAPSHOT)
    verifier = JwtVerifier.from_discovery(
        idp.issuer, audience="api", allow_http=True, jwks_options={"clock": clock}
    )
    assert verifier.hydrate()
    new = idp.rotate()
    clock.now = RESTORED_LOW
    assert verifier.hydrate()
    assert verifier.verify(idp.token(key=new, sub="ann", aud="api"))["sub"] == "ann"


# -- the rate limiter's breaker ---------------------------------------------------------------


def _patch_limiter_clock(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    fake = types.SimpleNamespace(monotonic=clock, time=time.time, perf_counter=time.perf_counter)
    monkeypatch.setattr(limiter_module, "time", fake)


def _limiter(store: RedisStore) -> RateLimiter:
    """100/minute per key, refusing (429) while the store is down."""
    return RateLimiter(
        "100/minute",
        key=lambda request, principal: "k",
        name="snapstart",
        store=store,
        on_store_error="closed",
    )


def _failing_hit(limiter: RateLimiter, redis_client: Any) -> Any:
    """One hit while the server holds every write (CLIENT PAUSE WRITE): it times out."""
    redis_client.client_pause(3000, all=False)
    try:
        return limiter.hit_key("priming")
    finally:
        redis_client.client_unpause()


# fmt: off
def test_breaker_opened_before_the_snapshot_closes_after_a_restore(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, redis_client: Any
) -> None:
    """Today: refused without asking Redis until the clock passes the snapshot's reading."""
    clock = Clock(SNAPSHOT)
    _patch_limiter_clock(monkeypatch, clock)
    store = RedisStore(redis_url, socket_timeout=0.2, check_eviction=False)
    limiter = _limiter(store)
    assert not _failing_hit(limiter, redis_client).allowed  # "closed": the priming hit fails
    clock.now = RESTORED_LOW + 1.0 + 1.0  # past retry_store_after of running time
    assert limiter.hit_key("ann").allowed  # Redis answers again
# fmt: on


# -- connections made at init are dead after a restore --------------------------------------------


def _kill_connections(redis_client: Any) -> int:
    """Kill every normal client connection but this one (``SKIPME yes`` is the default)."""
    return int(redis_client.execute_command("CLIENT", "KILL", "TYPE", "normal"))


def test_rate_limit_store_reconnects_after_the_restore(redis_url: str, redis_client: Any) -> None:
    store = RedisStore(redis_url, socket_timeout=0.5)
    limiter = _limiter(store)
    first = limiter.hit_key("ann")  # init: the connection is opened
    assert first.allowed
    assert _kill_connections(redis_client) >= 1
    second = limiter.hit_key("ann")  # the first invocation after the restore
    assert second.allowed  # "closed": a failed store would have refused it
    assert second.remaining == first.remaining - 1  # the shared count, not a fallback


def test_revocation_store_reconnects_after_the_restore(redis_url: str, redis_client: Any) -> None:
    issuer = "https://idp.example.com/"
    claims = {"iss": issuer, "sub": "ann", "jti": "t-1", "iat": int(time.time()) - 10}
    revocations = Revocations(RedisRevocationStore(redis_url, socket_timeout=0.5), max_staleness=0)
    assert not revocations.is_revoked(claims)  # init: connected
    admin = Revocations(RedisRevocationStore(redis_url, socket_timeout=0.5))
    admin.revoke_token(issuer, "t-1")
    assert _kill_connections(redis_client) >= 1
    with pytest.raises(TokenRevoked):  # not KeysUnavailable
        revocations.check(claims)


def test_dpop_replay_store_reconnects_after_the_restore(redis_url: str, redis_client: Any) -> None:
    store = RedisReplayStore(redis_url, socket_timeout=0.5)
    expires = time.time() + 60
    assert store.first_use("jkt:jti-1", expires_at=expires)  # init: connected
    assert _kill_connections(redis_client) >= 1
    assert store.first_use("jkt:jti-1", expires_at=expires) is False  # replay seen
    assert store.first_use("jkt:jti-2", expires_at=expires) is True


# -- wall-clock caches: the revocation list and DPoP nonces -----------------------------------------


def test_revocation_verdict_cached_at_init_is_asked_again_after_a_restore(
    redis_url: str,
) -> None:
    issuer = "https://idp.example.com/"
    wall = Clock(time.time())
    claims = {"iss": issuer, "sub": "ann", "jti": "t-2", "iat": int(wall.now) - 10}
    revocations = Revocations(
        RedisRevocationStore(redis_url, socket_timeout=0.5), max_staleness=30, clock=wall
    )
    assert not revocations.is_revoked(claims)  # cached "not revoked" in the snapshot
    Revocations(RedisRevocationStore(redis_url, socket_timeout=0.5)).revoke_token(issuer, "t-2")
    wall.now += 2 * DAY  # restored two days later: the wall clock is re-synced
    assert revocations.is_revoked(claims)


def test_revocation_verdict_is_asked_again_when_the_wall_clock_reads_earlier(
    redis_url: str,
) -> None:
    issuer = "https://idp.example.com/"
    wall = Clock(time.time())
    claims = {"iss": issuer, "sub": "bob", "jti": "t-3", "iat": int(wall.now) - 10}
    revocations = Revocations(
        RedisRevocationStore(redis_url, socket_timeout=0.5), max_staleness=30, clock=wall
    )
    assert not revocations.is_revoked(claims)
    Revocations(RedisRevocationStore(redis_url, socket_timeout=0.5)).revoke_token(issuer, "t-3")
    wall.now -= 3600.0  # a clock re-synced backwards must not keep the verdict for an hour
    assert revocations.is_revoked(claims)


def test_dpop_nonce_issued_before_the_snapshot_is_expired_after_a_restore() -> None:
    secret = b"0123456789abcdef0123456789abcdeX"
    wall = Clock(1_700_000_000.0)
    at_init = DpopNonces(secret=secret, clock=wall)
    nonce = at_init.issue()
    wall.now += 2 * DAY
    assert at_init.check(nonce) == "proof nonce expired"
    # Two restored containers with the same secret issue and accept the same nonce (the
    # design: a fleet shares it); one with another secret refuses it.
    other_container = DpopNonces(secret=secret, clock=wall)
    fresh = at_init.issue()
    assert other_container.issue() == fresh
    assert other_container.check(fresh) is None
    stranger = DpopNonces(secret=b"another-secret-of-32-bytes-or-more!", clock=wall)
    assert stranger.check(fresh) == "proof nonce was not issued here"


# -- API keys cached at init -------------------------------------------------------------------


@pytest.fixture
def api_key_table(ddb_client: Any) -> str:
    return create_api_key_table(ddb_client)


# fmt: off
def test_api_key_disabled_after_the_snapshot_is_refused_after_cache_ttl(
    ddb_client: Any, api_key_table: str
) -> None:
    key = "k" * 20 + "-snapstart-priming"
    entry = ApiKeyEntry("partner-a", roles=("partner",))
    ddb_client.put_item(TableName=api_key_table, Item=DynamoDBApiKeys.item(key, entry))
    clock = Clock(SNAPSHOT)
    keys = DynamoDBApiKeys(api_key_table, client=ddb_client, cache_ttl=60, clock=clock)
    assert keys.lookup(key) is not None  # a priming lookup at init
    ddb_client.put_item(TableName=api_key_table,
                        Item=DynamoDBApiKeys.item(key, entry, disabled=True))
    clock.now = RESTORED_LOW + 60.0 + 1.0  # past cache_ttl of running time
    assert keys.lookup(key) is None
# fmt: on


def test_api_key_cache_ages_normally_without_a_restore(ddb_client: Any, api_key_table: str) -> None:
    """The same steps on a continuous clock: the disabled key is refused after cache_ttl."""
    key = "k" * 20 + "-continuous-clock"
    entry = ApiKeyEntry("partner-b")
    ddb_client.put_item(TableName=api_key_table, Item=DynamoDBApiKeys.item(key, entry))
    clock = Clock(SNAPSHOT)
    keys = DynamoDBApiKeys(api_key_table, client=ddb_client, cache_ttl=60, clock=clock)
    assert keys.lookup(key) is not None
    ddb_client.put_item(
        TableName=api_key_table, Item=DynamoDBApiKeys.item(key, entry, disabled=True)
    )
    clock.now += 61.0
    assert keys.lookup(key) is None
