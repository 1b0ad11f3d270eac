"""Review 149: Lambda runtime realities for async code (event loops, frozen containers).

A Lambda handler of async code runs each invocation with ``asyncio.run`` (a new event loop per
invocation) or keeps one loop per container (``loop.run_until_complete``); module-level
verifiers, key caches, stores and limiters live across invocations, and between them the
container is frozen, so the server may have closed an idle connection (redis-server
``timeout``). Attacked here, on real servers on loopback, each invocation its own
``asyncio.run`` (or ``run_until_complete`` of a kept loop):

* commit 7fd1f6f's ``AsyncRedisStore`` (a client per event loop): concurrent tasks of one loop,
  single node and Redis Cluster; two loops alive at once (a loop in another thread beside the
  main thread's), alternating calls and a call in flight while the other loop rebuilds the
  client; ``aclose()``; the eviction check against each loop's client; connections left over
  by the dropped clients;
* the other loop-bound state of src/secauth: ``JwksCache.keys_for_async`` and the
  introspection ``SingleFlight`` (tasks per loop) with a fetch still running when its
  invocation ends (``asyncio.run`` cancels it);
* the first request after the server closed an idle connection: the async store (single node,
  cluster, through ``RateLimiter.hit_async`` and ``AbusePenalty.check_async``) and the sync
  ``RedisStore`` (single node and cluster), ``RedisRevocationStore`` and ``RedisReplayStore``.

Resolved (the tests below assert it): the async client opens a connection the server closed
again, once (``Retry(NoBackoff(), 1)`` on redis-py's ``ConnectionError`` only: a timeout is
never retried; a command the server ran before the close would count twice, toward refusal);
``AsyncRedisStore`` keeps a client per live event loop (a closed loop's is dropped) and
``aclose()`` closes the running loop's client and drops the others.

Findings:

* medium: ``AsyncRedisStore`` on a kept event loop (the container pattern docs/ratelimit.md
  recommends) fails the first call after the server closed its idle connection: redis-py's
  pool check does not see the close (the loop was stopped when the FIN arrived and the check
  never yields to it) and the store has no retry, so the call is a ``StoreError``: the breaker
  opens for ``retry_store_after`` and the container answers by ``on_store_error`` (a client at
  1 of 100 refused under ``"closed"``, requests admitted uncounted under ``"open"``, a
  subject blocked fleet-wide admitted by the default ``"memory"`` penalty box). Single node
  and Redis Cluster; with a real ``--timeout 1`` server too. The sync stores reconnect.
* low: ``AsyncRedisStore.aclose()`` called from another event loop than the last call's
  (``asyncio.run(store.aclose())`` at shutdown, after invocations run with ``asyncio.run``)
  raises ``RuntimeError: Event loop is closed`` (single node and cluster).
* info: with two event loops alive at once (threads), alternating calls rebuild the client
  on every call (a new connection each, a slot-map read on a cluster): not "once per event
  loop" as the docs say. Counts stay exact and a call in flight is not disturbed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from secauth.dpop_replay import RedisReplayStore
from secauth.errors import AbuseBlocked, SecAuthError
from secauth.ratelimit import AbusePenalty, AsyncRedisStore, RateLimiter
from secauth.ratelimit.limit import as_limit
from secauth.ratelimit.redis_store import RedisStore
from secauth.ratelimit.store import StoreError
from secauth.revocation_stores import RedisRevocationStore
from secauth.testing import LocalIssuer
from secauth.verifier import JwtVerifier

# Clients of closed event loops are collected after each test (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("collect_garbage")

PATIENT: dict[str, Any] = {"socket_timeout": 2.0, "connect_timeout": 2.0}


def event(ip: str = "203.0.113.9") -> dict[str, Any]:
    return {"version": "2.0", "rawPath": "/x", "headers": {},
            "requestContext": {"http": {"method": "GET", "path": "/x", "sourceIp": ip},
                               "stage": "$default"}}  # fmt: skip


def prefix() -> str:
    return f"r149{uuid.uuid4().hex[:8]}"


def admin(port: int) -> Any:
    import redis

    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2.0)


def close_idle(*ports: int) -> int:
    """What a server's idle ``timeout`` does to every client connection: closed by the server
    (``CLIENT KILL TYPE normal``; replication links are no normal clients). Returns how many."""
    killed = 0
    for port in ports:
        client = admin(port)
        try:
            killed += int(
                client.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
            )
        finally:
            client.close()
    return killed


def connected(port: int) -> int:
    client = admin(port)
    try:
        return int(client.info("clients")["connected_clients"]) - 1  # not this one
    finally:
        client.close()


def settle(probe: Callable[[], bool], seconds: float = 3.0) -> bool:
    """Poll ``probe`` (every 50 ms) until it holds or ``seconds`` passed."""
    end = time.monotonic() + seconds
    while not probe():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def store_failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "store failed" in r.getMessage()]


@pytest.fixture
def kept_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for the container: ``loop.run_until_complete`` per invocation."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def thread_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a thread of its own, alive beside the main thread's."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def in_thread(loop: asyncio.AbstractEventLoop, coro: Any) -> concurrent.futures.Future[Any]:
    return asyncio.run_coroutine_threadsafe(coro, loop)


def private_url(redis_servers: Any, *extra: str) -> tuple[str, int]:
    server = redis_servers(*extra)
    return f"redis://127.0.0.1:{server.port}/0", server.port


# --- AsyncRedisStore across loops: what held -----------------------------------------------


def test_concurrent_tasks_of_each_invocation_share_the_servers_count(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Limit 8: two invocations of six concurrent requests each admit exactly eight."""
    limiter = RateLimiter.per_ip("8/minute", store=AsyncRedisStore(url=redis_url, prefix=prefix(),
                                 **PATIENT), on_store_error="open", deny_cache=False)  # fmt: skip

    async def burst() -> list[bool]:
        results = await asyncio.gather(*(limiter.hit_async(event()) for _ in range(6)))
        return [r.allowed for r in results]

    with caplog.at_level(logging.WARNING, logger="secauth.ratelimit"):
        seen = asyncio.run(burst()) + asyncio.run(burst())
    assert seen.count(True) == 8
    assert seen[:6] == [True] * 6
    assert not store_failures(caplog)


def test_cluster_concurrent_tasks_of_each_invocation_share_the_servers_count(
    cluster: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = AsyncRedisStore(cluster.url, cluster=True, prefix=prefix(), **PATIENT)
    limiter = RateLimiter.per_ip("8/minute", store=store, on_store_error="open", deny_cache=False)

    async def burst() -> list[bool]:
        results = await asyncio.gather(*(limiter.hit_async(event()) for _ in range(6)))
        return [r.allowed for r in results]

    with caplog.at_level(logging.WARNING, logger="secauth.ratelimit"):
        seen = asyncio.run(burst()) + asyncio.run(burst()) + asyncio.run(burst())
    assert seen.count(True) == 8
    assert not store_failures(caplog)


@pytest.mark.parametrize("mode", ["single", "cluster"])
def test_two_live_loops_alternating_keep_the_servers_count(
    mode: str,
    request: pytest.FixtureRequest,
    kept_loop: asyncio.AbstractEventLoop,
    thread_loop: asyncio.AbstractEventLoop,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A loop in another thread and the main thread's, both alive, calls alternating: limit
    10 admits the first ten of twelve, each decision the server's (no store failure)."""
    if mode == "single":
        store = AsyncRedisStore(url=request.getfixturevalue("redis_url"), prefix=prefix(),
                                **PATIENT)  # fmt: skip
    else:
        cluster = request.getfixturevalue("cluster")
        store = AsyncRedisStore(cluster.url, cluster=True, prefix=prefix(), **PATIENT)
    limiter = RateLimiter.per_ip("10/minute", store=store, on_store_error="open", deny_cache=False)
    seen = []
    with caplog.at_level(logging.WARNING, logger="secauth.ratelimit"):
        for _ in range(6):
            seen.append(in_thread(thread_loop, limiter.hit_async(event())).result(10).allowed)
            seen.append(kept_loop.run_until_complete(limiter.hit_async(event())).allowed)
    assert seen == [True] * 10 + [False, False]
    assert not store_failures(caplog)


def test_a_call_in_flight_survives_the_other_loops_rebuild(
    redis_url: str,
    kept_loop: asyncio.AbstractEventLoop,
    thread_loop: asyncio.AbstractEventLoop,
) -> None:
    """The thread's call waits in the server (``CLIENT PAUSE WRITE``) while the main loop's
    call replaces the store's client: both are answered, both counted."""
    key, limit = "k", as_limit("10/minute")
    store = AsyncRedisStore(url=redis_url, prefix=prefix(), **PATIENT)
    in_thread(thread_loop, store.hit_async(key, limit, "fixed_window")).result(10)  # warm
    client = admin(int(redis_url.rsplit(":", 1)[1].removesuffix("/0")))
    try:
        client.execute_command("CLIENT", "PAUSE", 400, "WRITE")
        waiting = in_thread(thread_loop, store.hit_async(key, limit, "fixed_window"))
        assert settle(lambda: int(client.info("clients")["blocked_clients"]) >= 1)
        before = store.client
        mine = kept_loop.run_until_complete(store.hit_async(key, limit, "fixed_window"))
        assert store.client is not before  # rebuilt for the main loop while the other waited
        theirs = waiting.result(10)
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
        client.close()
    assert mine.allowed
    assert theirs.allowed
    counted = RedisStore(url=redis_url, prefix=store.prefix).usage(key, limit, "fixed_window")
    assert counted.remaining == 10 - 3


def test_the_eviction_check_reads_each_loops_client(redis_servers: Any) -> None:
    """``eviction_recheck=0``: each invocation's new client reads the policy as it is now."""
    url, port = private_url(redis_servers, "--maxmemory", "64mb", "--maxmemory-policy",
                            "allkeys-lru")  # fmt: skip
    store = AsyncRedisStore(url=url, prefix=prefix(), eviction_recheck=0)
    limit = as_limit("10/minute")
    with pytest.raises(StoreError, match="may evict"):
        asyncio.run(store.hit_async("k", limit, "fixed_window"))
    admin(port).config_set("maxmemory-policy", "noeviction")
    assert asyncio.run(store.hit_async("k", limit, "fixed_window")).allowed
    admin(port).config_set("maxmemory-policy", "volatile-lru")
    with pytest.raises(StoreError, match="may evict"):
        asyncio.run(store.hit_async("k", limit, "fixed_window"))


def test_dropped_clients_leave_no_connections_behind(redis_servers: Any) -> None:
    """Twenty invocations, each on a new loop: once collected, the server holds no more
    connections of the store than the one of its last client."""
    url, port = private_url(redis_servers)
    store = AsyncRedisStore(url=url, prefix=prefix())
    limit = as_limit("100/minute")
    for _ in range(20):
        assert asyncio.run(store.hit_async("k", limit, "fixed_window")).allowed
    gc.collect()
    assert settle(lambda: connected(port) <= 1), connected(port)


def test_aclose_in_the_loop_of_the_calls_closes_the_connections(
    redis_servers: Any, kept_loop: asyncio.AbstractEventLoop
) -> None:
    url, port = private_url(redis_servers)
    store = AsyncRedisStore(url=url, prefix=prefix())
    limit = as_limit("10/minute")
    for _ in range(3):
        assert kept_loop.run_until_complete(store.hit_async("k", limit, "fixed_window")).allowed
    assert connected(port) == 1
    kept_loop.run_until_complete(store.aclose())
    assert settle(lambda: connected(port) == 0)
    # used again after aclose, in the same loop: it connects again
    assert kept_loop.run_until_complete(store.hit_async("k", limit, "fixed_window")).allowed


# --- the first call after the server closed an idle connection ------------------------------


def test_sync_stores_reconnect_after_the_server_closed_idle_connections(
    redis_servers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The sync ``RedisStore``, ``RedisRevocationStore`` and ``RedisReplayStore`` answer the
    first call after the server closed their idle connections (redis-py's pool sees it)."""
    url, port = private_url(redis_servers)
    limiter = RateLimiter.per_ip("100/minute", store=RedisStore(url=url, prefix=prefix()),
                                 on_store_error="closed", deny_cache=False)  # fmt: skip
    revocations = RedisRevocationStore(url)
    replay = RedisReplayStore(url)
    with caplog.at_level(logging.WARNING, logger="secauth.ratelimit"):
        assert limiter.hit(event()).allowed
        assert revocations.lookup(["jti:a"]) == {"jti:a": None}
        assert replay.first_use(uuid.uuid4().hex, time.time() + 60)
        assert close_idle(port) >= 3
        assert limiter.hit(event()).allowed
        assert revocations.lookup(["jti:a"]) == {"jti:a": None}
        assert replay.first_use(uuid.uuid4().hex, time.time() + 60)
    assert not store_failures(caplog)


def test_sync_cluster_store_reconnects_after_the_server_closed_idle_connections(
    cluster: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisStore(cluster.url, cluster=True, prefix=prefix(), **PATIENT)
    limiter = RateLimiter.per_ip("100/minute", store=store, on_store_error="closed",
                                 deny_cache=False)  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="secauth.ratelimit"):
        assert limiter.hit(event()).allowed
        assert close_idle(*cluster.ports) >= 1
        assert limiter.hit(event()).allowed
    assert not store_failures(caplog)


def test_each_asyncio_run_invocation_has_a_fresh_connection_anyway(
    redis_servers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler run with ``asyncio.run`` never meets a closed idle connection: each
    invocation's client is new."""
    url, port = private_url(redis_servers)
    limiter = RateLimiter.per_ip("100/minute", store=AsyncRedisStore(url=url, prefix=prefix()),
                                 on_store_error="closed", deny_cache=False)  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="secauth.ratelimit"):
        assert asyncio.run(limiter.hit_async(event())).allowed
        assert close_idle(port) >= 1
        assert asyncio.run(limiter.hit_async(event())).allowed
    assert not store_failures(caplog)


# fmt: off
@pytest.mark.parametrize("on_store_error", ["closed", "open"])
def test_kept_loop_store_answers_after_the_server_closed_an_idle_connection(
    on_store_error: str,
    redis_servers: Any,
    kept_loop: asyncio.AbstractEventLoop,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One loop per container (docs/ratelimit.md's advice). Between two invocations the
    server closes the idle connection. The second request, the client's second of 100, must
    be decided by the server: admitted and counted there. Today it is a ``StoreError``:
    refused under "closed" (429 for a client at 2/100), admitted uncounted under "open"."""
    url, port = private_url(redis_servers)
    name = prefix()
    limiter = RateLimiter.per_ip("100/minute", store=AsyncRedisStore(url=url, prefix=name),
                                 on_store_error=on_store_error, deny_cache=False)
    with caplog.at_level(logging.WARNING, logger="secauth.ratelimit"):
        assert kept_loop.run_until_complete(limiter.hit_async(event())).allowed
        assert close_idle(port) >= 1
        second = kept_loop.run_until_complete(limiter.hit_async(event()))
    failures = store_failures(caplog)
    counted = RateLimiter.per_ip("100/minute", store=RedisStore(url=url, prefix=name),
                                 deny_cache=False).usage(event())[0]
    assert (second.allowed, counted.remaining, failures) == (True, 98, [])
# fmt: on


# fmt: off
def test_kept_loop_cluster_store_answers_after_idle_connections_closed(
    cluster: Any, kept_loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    store = AsyncRedisStore(cluster.url, cluster=True, prefix=prefix(), **PATIENT)
    limiter = RateLimiter.per_ip("100/minute", store=store, on_store_error="closed",
                                 deny_cache=False)
    with caplog.at_level(logging.WARNING, logger="secauth.ratelimit"):
        assert kept_loop.run_until_complete(limiter.hit_async(event())).allowed
        assert close_idle(*cluster.ports) >= 1
        second = kept_loop.run_until_complete(limiter.hit_async(event()))
    assert (second.allowed, store_failures(caplog)) == (True, [])
# fmt: on


# fmt: off
def test_a_blocked_subject_stays_blocked_after_a_real_idle_timeout(
    redis_servers: Any, kept_loop: asyncio.AbstractEventLoop
) -> None:
    """redis-server ``--timeout 1 --hz 100``. Another container blocked 198.51.100.66 (three
    auth failures over a threshold of 2). This container's penalty box (async store, the
    default ``on_store_error="memory"``) on its kept loop serves a request of someone else,
    then idles until the server closes its connection. The blocked caller's next request
    must be refused; today the store fails, the memory fallback knows no block: admitted
    (and every request to this container for ``retry_store_after`` is decided in memory).
    The caller chooses the timing: pause longer than the server's timeout, then retry."""
    url, port = private_url(redis_servers, "--timeout", "1", "--hz", "100")
    name, attacker = prefix(), "198.51.100.66"
    fleet = AbusePenalty(store=RedisStore(url=url, prefix=name), auth_failures="2/hour",
                         cooldown=600, deny_cache=False)
    for _ in range(3):
        fleet.record_auth_failure(event(attacker))
    assert fleet.blocked_for(event(attacker)) > 0
    here = AbusePenalty(store=AsyncRedisStore(url=url, prefix=name), auth_failures="2/hour",
                        cooldown=600)
    kept_loop.run_until_complete(here.check_async(event("203.0.113.20")))  # someone else
    assert connected(port) >= 1
    # the server's idle timeout (within ~1-3 s; nothing else is connected then)
    assert settle(lambda: connected(port) == 0, seconds=5.0)
    with pytest.raises(AbuseBlocked):
        kept_loop.run_until_complete(here.check_async(event(attacker)))
# fmt: on


# --- aclose and two live loops -----------------------------------------------------------------


# fmt: off
@pytest.mark.parametrize("mode", ["single", "cluster"])
def test_aclose_at_shutdown_after_asyncio_run_invocations(
    mode: str, request: pytest.FixtureRequest
) -> None:
    """Invocations run with ``asyncio.run``; at shutdown ``asyncio.run(store.aclose())``.
    The last client's loop is closed: closing it must not raise (nothing of the current
    loop is open; the dead loop's connections can only be dropped)."""
    if mode == "single":
        store = AsyncRedisStore(url=request.getfixturevalue("redis_url"), prefix=prefix())
    else:
        cluster = request.getfixturevalue("cluster")
        store = AsyncRedisStore(cluster.url, cluster=True, prefix=prefix(), **PATIENT)
    limit = as_limit("10/minute")
    for _ in range(2):
        assert asyncio.run(store.hit_async("k", limit, "fixed_window")).allowed
    asyncio.run(store.aclose())
# fmt: on


# fmt: off
def test_two_live_loops_keep_one_client_each(
    redis_url: str,
    kept_loop: asyncio.AbstractEventLoop,
    thread_loop: asyncio.AbstractEventLoop,
) -> None:
    store = AsyncRedisStore(url=redis_url, prefix=prefix())
    limit = as_limit("100/minute")

    async def hit_and_client() -> Any:
        await store.hit_async("k", limit, "fixed_window")
        return store.client

    clients: list[Any] = []  # held: no id of a collected client is reused
    for _ in range(4):
        clients.append(in_thread(thread_loop, hit_and_client()).result(10))
        clients.append(kept_loop.run_until_complete(hit_and_client()))
    assert len({id(client) for client in clients}) == 2
# fmt: on


# --- other loop-bound state: key and introspection fetches ---------------------------------


def test_a_jwks_fetch_cancelled_with_its_invocation_does_not_wedge_the_next() -> None:
    """Invocation 1 gives up on a slow JWKS fetch (``wait_for``); ``asyncio.run`` cancels the
    shielded fetch as its loop ends. Invocation 2 (another loop) fetches and verifies;
    invocation 3, on a third loop, verifies with the cached set."""
    with LocalIssuer(algs=("ES256",)) as idp:
        verifier = JwtVerifier(issuer=idp.issuer, audience="api", jwks_uri=idp.jwks_uri,
                               allow_http=True)  # fmt: skip
        idp.mode, idp.delay = "slow", 0.6

        async def impatient() -> None:
            await asyncio.wait_for(verifier.verify_async(idp.token(sub="a", aud="api")), 0.1)

        with pytest.raises(TimeoutError):
            asyncio.run(impatient())
        idp.mode = "ok"
        claims = asyncio.run(verifier.verify_async(idp.token(sub="b", aud="api")))
        assert claims["sub"] == "b"
        fetched = idp.fetches
        claims = asyncio.run(verifier.verify_async(idp.token(sub="c", aud="api")))
        assert claims["sub"] == "c"
        assert idp.fetches == fetched  # the set is reused


def test_an_introspection_cancelled_with_its_invocation_does_not_wedge_the_next(
    scripted: Any,
) -> None:
    from scripted_as import active, introspector, opaque

    verifier = introspector(scripted)
    token = opaque()
    scripted.answer(token, active(time.time()))
    scripted.delay = 0.6

    async def impatient() -> None:
        await asyncio.wait_for(verifier.verify_async(token), 0.1)

    with pytest.raises(TimeoutError):
        asyncio.run(impatient())
    scripted.delay = 0.0
    assert asyncio.run(verifier.verify_async(token))["sub"] == "ann"
    # an inactive token on a third loop is refused, not answered from the cancelled call
    refused = opaque()
    with pytest.raises(SecAuthError):
        asyncio.run(verifier.verify_async(refused))
