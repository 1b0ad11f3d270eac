"""Review 153 (adversarial): today's documentation claims, checked against the code.

Attacked, through public entry points on loopback servers (redis-server, a black hole, a node
that closes every connection, LocalIssuer) and with custom stores of the protocols users implement:

* errors.py, "a request never ends in one" of the three store signals: a rate-limit ``Store``
  (sync and async) raising ``StoreError`` behind a Guard (sync, async, the per-IP count of a
  refused request), an Authorizer (HTTP simple and REST) and an ``AbusePenalty``
  (closed/memory/open); a ``RevocationStore`` raising ``StoreUnavailable`` in a verifier, a
  dual-mode Guard's own list and a trust-mode Guard reading a REST authorizer's context; a
  ``ReplayStore`` raising ``ReplayStoreUnavailable`` behind a Guard and an Authorizer; real
  Redis stores on a dead port. Each answer is a sanitized refusal (no traceback, no signal name,
  no internal_error record), or an allow only where the failure policy is "open";
* "an operator's call lets them through": ``RateLimiter.usage``/``usage_async`` and every
  ``Revocations.revoke_*`` raise the signal;
* operations.md's lifecycle section: the revocation list's rest ends on a wall clock jump either
  way; a deny-cached denial (limiter, penalty box) outlives wall clock steps while the store is
  down; the sync Redis clients survive a connection the server killed; the asyncio client
  reopens one, and tries a node that closes every connection at most twice; a timeout costs one
  connection, sync and asyncio; ``AsyncRedisStore`` keeps a client per ``asyncio.run`` loop; a
  ``client=`` store serves its first loop only (another loop: a ``StoreError`` that
  ``on_store_error`` answers); the SnapStart example runs as the page shows it;
* the Guard's options are read-only (and ``require()`` shares the identification step);
* ratelimit.md: a penalty counter that is no count of ours blocks once and is cleared.

No finding: every claim checked holds. Not checked here: docs/alb.md's fetch bound (covered by
review 152), docs/benchmarks.md (numbers).
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import socket
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hand_clock import Clock
from revocable_tokens import RevocableIssuer

from secauth import Authorizer, Guard, Principal, Routes, _elapsed, authenticated
from secauth.dpop import DpopVerifier
from secauth.dpop_replay import RedisReplayStore, ReplayStoreUnavailable
from secauth.errors import AbuseBlocked, SecAuthError
from secauth.ratelimit import AbusePenalty, StoreError
from secauth.ratelimit.limiter import RateLimiter
from secauth.ratelimit.memory import MemoryStore
from secauth.ratelimit.redis_store import AsyncRedisStore, RedisStore
from secauth.revocation import Revocations, StoreUnavailable
from secauth.revocation_stores import RedisRevocationStore
from secauth.sender_constraint import SenderConstraint
from secauth.testing_dpop import DpopKey
from secauth.testing_events import http_authorizer_v2, http_proxy, request_authorizer, rest_proxy

# Clients of closed event loops are collected after each test (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("collect_garbage")

ISSUER = RevocableIssuer("https://idp.review153.example/")
ROUTES = Routes({"GET /orders/7": authenticated()})
SIGNAL_WORDS = ("Traceback", "StoreError", "StoreUnavailable", "ReplayStoreUnavailable", "down!")


# == stores of the protocols users implement, each raising its signal =============================


class SignalStore:
    """A rate-limit store (the ``Store`` protocol) whose backend is down: every call raises
    :class:`StoreError`; ``healthy`` delegates to a memory store instead."""

    is_async = False
    shared = True
    algorithms = ("fixed_window", "sliding_window", "gcra")

    def __init__(self, *, healthy: bool = False) -> None:
        self.healthy = healthy
        self.memory = MemoryStore()
        self.calls = 0

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if not self.healthy:
            raise StoreError("down!")
        return getattr(self.memory, name)(*args, **kwargs)

    def hit(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("hit", *args, **kwargs)

    def usage(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("usage", *args, **kwargs)

    def blocked_for(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("blocked_for", *args, **kwargs)

    def record(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("record", *args, **kwargs)


class AsyncSignalStore:
    """:class:`SignalStore` for async code (``is_async``)."""

    is_async = True
    shared = True
    algorithms = ("fixed_window", "sliding_window", "gcra")

    async def hit_async(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreError("down!")

    async def usage_async(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreError("down!")

    async def blocked_for_async(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreError("down!")

    async def record_async(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreError("down!")


class DownRevocationStore:
    """A revocation store (``RevocationStore``) that cannot be reached."""

    def __init__(self) -> None:
        self.lookups = 0

    def lookup(self, keys: list[str]) -> dict[str, float | None]:
        self.lookups += 1
        raise StoreUnavailable("down!")

    def put(self, key: str, value: float, expires_at: float) -> None:
        raise StoreUnavailable("down!")


class DownReplayStore:
    """A DPoP replay store (``ReplayStore``) that cannot be reached."""

    def first_use(self, key: str, expires_at: float) -> bool:
        raise ReplayStoreUnavailable("down!")


# == helpers ======================================================================================


def ok(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": principal.id}


async def ok_async(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": principal.id}


def token(**claims: Any) -> str:
    return ISSUER.token(**claims)


def request(tok: str | None = None, **sent: Any) -> dict[str, Any]:
    return http_proxy("GET", "/orders/7", token=tok if tok is not None else token(), **sent)


def guarded(records: list[dict[str, Any]], **options: Any) -> Any:
    options.setdefault("routes", ROUTES)
    options.setdefault("verifier", ISSUER.verifier())
    handler = options.pop("handler", ok)
    guard = Guard(decision_log=None, on_decision=records.append, **options)
    return guard(handler)


def refused_cleanly(
    response: dict[str, Any], records: list[dict[str, Any]], *statuses: int
) -> None:
    """A sanitized refusal with one of ``statuses``: no traceback, no signal's name or words,
    and a decision record that is not an internal error (the signal did not reach the guard)."""
    assert response["statusCode"] in statuses, response
    body = str(response.get("body", "")) + json.dumps(response.get("headers", {}))
    assert not any(word in body for word in SIGNAL_WORDS), body
    assert records
    assert records[-1].get("reason") != "internal_error", records[-1:]


def authorizer_records(
    authorizer_options: dict[str, Any], event: dict[str, Any]
) -> tuple[Any, dict]:
    records: list[dict[str, Any]] = []
    options = {"routes": ROUTES, "decision_log": None, "on_decision": records.append}
    verifier = authorizer_options.pop("verifier", None) or ISSUER.verifier()
    answer = Authorizer(verifier, **options, **authorizer_options).handler(event, None)
    return answer, records[-1]


@pytest.fixture
def dead_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def closing_server() -> Iterator[tuple[int, list[int]]]:
    """A loopback port that accepts each connection and closes it at once (a node that drops
    its clients); the list counts the connections accepted."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = [0]
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            accepted[0] += 1
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1]), accepted
    stop.set()
    thread.join()
    listener.close()


@pytest.fixture
def wall(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The wall clock ``secauth._elapsed`` reads, moved by hand (it starts at the real time)."""
    clock = Clock(time.time())
    monkeypatch.setattr(_elapsed, "time", types.SimpleNamespace(time=clock))
    return clock


# == errors.py: "a request never ends in one" =======================================================


@pytest.mark.parametrize("on_store_error", ["closed", "memory", "open"])
def test_a_guards_rate_limit_on_a_store_raising_store_error(on_store_error: str) -> None:
    """A custom store raising StoreError: the limiter's failure policy answers (closed: a
    refusal; memory: counted in memory; open: allowed, as documented), never a 500."""
    records: list[dict[str, Any]] = []
    limiter = RateLimiter.per_principal(
        "5/minute", store=SignalStore(), on_store_error=on_store_error
    )
    handler = guarded(records, rate_limit=limiter)
    response = handler(request(), None)
    if on_store_error == "closed":
        refused_cleanly(response, records, 429, 503)
    else:
        assert response["statusCode"] == 200
        assert records[-1].get("reason") != "internal_error"


def test_a_guards_memory_fallback_still_limits_while_the_store_raises() -> None:
    records: list[dict[str, Any]] = []
    limiter = RateLimiter.per_principal("2/minute", store=SignalStore(), on_store_error="memory")
    handler = guarded(records, rate_limit=limiter)
    statuses = [handler(request(), None)["statusCode"] for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused_cleanly(handler(request(), None), records, 429)


def test_an_async_guards_rate_limit_on_an_async_store_raising_store_error() -> None:
    records: list[dict[str, Any]] = []
    limiter = RateLimiter.per_principal(
        "5/minute", store=AsyncSignalStore(), on_store_error="closed"
    )
    handler = guarded(records, rate_limit=limiter, handler=ok_async)
    refused_cleanly(asyncio.run(handler(request(), None)), records, 429, 503)


def test_an_async_guard_counts_a_refused_request_on_a_failing_store_without_a_500() -> None:
    """A refusal (no token) is counted per IP too: that count failing must not turn the 401
    into a 500."""
    records: list[dict[str, Any]] = []
    limiter = RateLimiter.per_ip("5/minute", store=AsyncSignalStore(), on_store_error="closed")
    handler = guarded(records, rate_limit=limiter, handler=ok_async)
    event = http_proxy("GET", "/orders/7")
    response = asyncio.run(handler(event, None))
    refused_cleanly(response, records, 401, 429, 503)
    sync_records: list[dict[str, Any]] = []
    sync = guarded(sync_records, rate_limit=RateLimiter.per_ip("5/minute", store=SignalStore(),
                                                                on_store_error="closed"))  # fmt: skip
    refused_cleanly(sync(http_proxy("GET", "/orders/7"), None), sync_records, 401, 429, 503)


@pytest.mark.parametrize("on_store_error", ["closed", "open"])
def test_an_authorizers_rate_limit_on_a_store_raising_store_error(on_store_error: str) -> None:
    limiter = RateLimiter.per_principal(
        "5/minute", store=SignalStore(), on_store_error=on_store_error
    )
    event = http_authorizer_v2("GET", "/orders/7", token=token())
    answer, record = authorizer_records({"rate_limit": limiter, "simple_responses": True}, event)
    assert record.get("reason") != "internal_error", record
    assert answer["isAuthorized"] is (on_store_error == "open")
    assert not any(word in json.dumps(answer) for word in SIGNAL_WORDS)


def test_a_rest_authorizers_rate_limit_on_a_failing_store_is_a_deny_policy() -> None:
    """A REST authorizer answers a limit its store cannot count with a Deny policy (a 403
    from API Gateway), never by letting the StoreError out."""
    limiter = RateLimiter.per_principal("5/minute", store=SignalStore(), on_store_error="closed")
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(ISSUER.verifier(), routes=ROUTES, rate_limit=limiter,
                            decision_log=None, on_decision=records.append)  # fmt: skip
    answer = authorizer.handler(request_authorizer("GET", "/orders/7", token=token()), None)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert records[-1]["reason"] == "rate_limited"
    assert not any(word in json.dumps(answer) for word in SIGNAL_WORDS)


@pytest.mark.parametrize("on_store_error", ["closed", "memory", "open"])
def test_an_abuse_penalty_on_a_store_raising_store_error(on_store_error: str) -> None:
    """check() raises AbuseBlocked (a 429 of the tree) or nothing; record_*() return seconds.
    No StoreError reaches the handler that calls them."""
    penalty = AbusePenalty(store=SignalStore(), auth_failures="2/minute", cooldown=60,
                           on_store_error=on_store_error)  # fmt: skip
    event = http_proxy("GET", "/login")
    outcomes = []
    for _ in range(4):
        assert isinstance(penalty.record_auth_failure(event), float)
        try:
            penalty.check(event)
            outcomes.append("passed")
        except AbuseBlocked as err:
            outcomes.append(
                "blocked" if isinstance(err, SecAuthError) and err.status == 429 else "?"
            )
    assert isinstance(penalty.record_not_found(event, "/nope"), float)
    if on_store_error == "closed":
        assert set(outcomes) == {"blocked"}
    elif on_store_error == "open":
        assert set(outcomes) == {"passed"}
    else:  # counted in memory: blocked past the threshold
        assert outcomes[-1] == "blocked"


def test_an_async_abuse_penalty_on_an_async_store_raising_store_error() -> None:
    penalty = AbusePenalty(store=AsyncSignalStore(), auth_failures="2/minute", cooldown=60,
                           on_store_error="closed")  # fmt: skip
    event = http_proxy("GET", "/login")

    async def run() -> None:
        assert isinstance(await penalty.record_auth_failure_async(event), float)
        with pytest.raises(AbuseBlocked):
            await penalty.check_async(event)

    asyncio.run(run())


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_revocation_list_in_a_guards_verifier_whose_store_raises(asynchronous: bool) -> None:
    records: list[dict[str, Any]] = []
    listed = Revocations(DownRevocationStore(), max_token_lifetime=3600, max_staleness=0)
    handler = guarded(records, verifier=ISSUER.verifier(listed),
                      handler=ok_async if asynchronous else ok)  # fmt: skip
    event = request()
    response = asyncio.run(handler(event, None)) if asynchronous else handler(event, None)
    refused_cleanly(response, records, 503)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_dual_mode_guards_own_revocation_list_whose_store_raises(asynchronous: bool) -> None:
    records: list[dict[str, Any]] = []
    listed = Revocations(DownRevocationStore(), max_token_lifetime=3600, max_staleness=0)
    handler = guarded(records, revocations=listed, trust_authorizer=True,
                      handler=ok_async if asynchronous else ok)  # fmt: skip
    event = request()
    response = asyncio.run(handler(event, None)) if asynchronous else handler(event, None)
    refused_cleanly(response, records, 503)


def test_an_open_revocation_list_allows_while_its_store_raises_as_documented() -> None:
    records: list[dict[str, Any]] = []
    listed = Revocations(DownRevocationStore(), max_token_lifetime=3600, failure="open")
    handler = guarded(records, verifier=ISSUER.verifier(listed))
    assert handler(request(), None)["statusCode"] == 200


@pytest.mark.parametrize("failure", ["closed", "open"])
def test_a_revocation_list_in_an_authorizers_verifier_whose_store_raises(failure: str) -> None:
    listed = Revocations(DownRevocationStore(), max_token_lifetime=3600, failure=failure)
    event = http_authorizer_v2("GET", "/orders/7", token=token())
    answer, record = authorizer_records(
        {"verifier": ISSUER.verifier(listed), "simple_responses": True}, event
    )
    assert record.get("reason") != "internal_error", record
    assert answer["isAuthorized"] is (failure == "open")
    if failure == "closed":
        assert record["reason"] == "keys_unavailable"


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_trust_mode_guards_revocation_list_whose_store_raises(asynchronous: bool) -> None:
    """A Guard trusting a REST authorizer's context (token claims carried in it) checks its
    list: the store down is a 503, never a 500 nor the handler run."""
    tok = token(jti="trusted-1")
    authorizer = Authorizer(ISSUER.verifier(), routes=ROUTES, decision_log=None,
                            context_token_claims=True)  # fmt: skip
    answer = authorizer.handler(request_authorizer("GET", "/orders/7", token=tok), None)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    event = rest_proxy("GET", "/orders/7", authorizer_response=answer)
    listed = Revocations(DownRevocationStore(), max_token_lifetime=3600, max_staleness=0)
    records: list[dict[str, Any]] = []
    guard = Guard(routes=ROUTES, revocations=listed, decision_log=None, on_decision=records.append)
    handler = guard(ok_async if asynchronous else ok)
    response = (
        asyncio.run(handler(copy.deepcopy(event), None)) if asynchronous else handler(event, None)
    )
    refused_cleanly(response, records, 503)


def dpop_event(key: DpopKey, tok: str) -> dict[str, Any]:
    url = "https://abcdef123.execute-api.us-east-1.amazonaws.com/orders/7"
    proof = key.proof("GET", url, access_token=tok)
    event = http_proxy("GET", "/orders/7", headers={"authorization": f"DPoP {tok}", "dpop": proof})
    event["requestContext"]["domainName"] = "abcdef123.execute-api.us-east-1.amazonaws.com"
    event["headers"]["host"] = "abcdef123.execute-api.us-east-1.amazonaws.com"
    return event


def test_a_dpop_replay_store_that_raises_behind_a_guard() -> None:
    key = DpopKey.generate("ES256")
    tok = ISSUER.pair.sign(key.bind({"iss": ISSUER.iss, "aud": ISSUER.aud, "sub": "ann",
                                     "iat": int(time.time()), "exp": int(time.time()) + 600}))  # fmt: skip
    records: list[dict[str, Any]] = []
    constraint = SenderConstraint(dpop=DpopVerifier(replay=DownReplayStore()))
    handler = guarded(records, sender_constraint=constraint)
    refused_cleanly(handler(dpop_event(key, tok), None), records, 503)


def test_a_dpop_replay_store_that_raises_behind_an_authorizer() -> None:
    key = DpopKey.generate("ES256")
    tok = ISSUER.pair.sign(key.bind({"iss": ISSUER.iss, "aud": ISSUER.aud, "sub": "ann",
                                     "iat": int(time.time()), "exp": int(time.time()) + 600}))  # fmt: skip
    url = "https://abcdef123.execute-api.us-east-1.amazonaws.com/orders/7"
    event = http_authorizer_v2("GET", "/orders/7", headers={
        "authorization": f"DPoP {tok}", "dpop": key.proof("GET", url, access_token=tok),
        "host": "abcdef123.execute-api.us-east-1.amazonaws.com"})  # fmt: skip
    event["requestContext"]["domainName"] = "abcdef123.execute-api.us-east-1.amazonaws.com"
    constraint = SenderConstraint(dpop=DpopVerifier(replay=DownReplayStore()))
    answer, record = authorizer_records(
        {"sender_constraint": constraint, "simple_responses": True}, event
    )
    assert answer["isAuthorized"] is False
    assert record["reason"] == "keys_unavailable", record


# -- real stores on a dead port ------------------------------------------------------------------


def test_real_redis_stores_on_a_dead_port_behind_a_guard(dead_port: int) -> None:
    url = f"redis://127.0.0.1:{dead_port}/0"
    records: list[dict[str, Any]] = []
    limiter = RateLimiter.per_principal(
        "5/minute", store=RedisStore(url=url), on_store_error="closed"
    )
    refused_cleanly(guarded(records, rate_limit=limiter)(request(), None), records, 429, 503)
    listed = Revocations(RedisRevocationStore(url=url), max_token_lifetime=3600)
    refused_cleanly(guarded(records, revocations=listed, trust_authorizer=True)(request(), None),
                    records, 503)  # fmt: skip
    key = DpopKey.generate("ES256")
    tok = ISSUER.pair.sign(key.bind({"iss": ISSUER.iss, "aud": ISSUER.aud, "sub": "ann",
                                     "iat": int(time.time()), "exp": int(time.time()) + 600}))  # fmt: skip
    constraint = SenderConstraint(dpop=DpopVerifier(replay=RedisReplayStore(url=url)))
    refused_cleanly(guarded(records, sender_constraint=constraint)(dpop_event(key, tok), None),
                    records, 503)  # fmt: skip
    penalty = AbusePenalty(store=RedisStore(url=url), on_store_error="closed")
    with pytest.raises(AbuseBlocked):
        penalty.check(http_proxy("GET", "/login"))


def test_an_async_redis_store_on_a_dead_port_behind_an_async_guard(dead_port: int) -> None:
    store = AsyncRedisStore(url=f"redis://127.0.0.1:{dead_port}/0")
    records: list[dict[str, Any]] = []
    limiter = RateLimiter.per_principal("5/minute", store=store, on_store_error="closed")
    handler = guarded(records, rate_limit=limiter, handler=ok_async)
    refused_cleanly(asyncio.run(handler(request(), None)), records, 429, 503)


# -- an operator's call lets them through ---------------------------------------------------------


def test_an_operators_usage_call_lets_store_error_through(dead_port: int) -> None:
    limiter = RateLimiter.per_key(
        "5/minute", key=lambda r, p: "acme", name="r153", store=SignalStore()
    )
    with pytest.raises(StoreError):
        limiter.usage("acme")
    real = RateLimiter.per_key("5/minute", key=lambda r, p: "acme", name="r153",
                               store=RedisStore(url=f"redis://127.0.0.1:{dead_port}/0"))  # fmt: skip
    with pytest.raises(StoreError):
        real.usage("acme")
    with pytest.raises(StoreError):
        asyncio.run(RateLimiter.per_key("5/minute", key=lambda r, p: "acme", name="r153",
                                        store=AsyncSignalStore()).usage_async("acme"))  # fmt: skip


def test_an_operators_revoke_call_lets_store_unavailable_through(dead_port: int) -> None:
    for store in (
        DownRevocationStore(),
        RedisRevocationStore(url=f"redis://127.0.0.1:{dead_port}/0"),
    ):
        listed = Revocations(store, max_token_lifetime=3600)
        for revoke in (listed.revoke_token, listed.revoke_family, listed.revoke_subject,
                       listed.revoke_client):  # fmt: skip
            with pytest.raises(StoreUnavailable):
                revoke(ISSUER.iss, "x")


# == operations.md: the Lambda lifecycle ===========================================================


def test_the_revocation_lists_rest_ends_when_the_wall_clock_jumps_ahead_or_back() -> None:
    """ "the revocation list's rest after a store failure" ages on both clocks: a wall clock
    (its ``clock=``) a day ahead, or stepped back, ends it (the store is asked again)."""
    store, wall = DownRevocationStore(), Clock(time.time())
    listed = Revocations(
        store, max_token_lifetime=3600, max_staleness=0, retry_after=60, clock=wall
    )
    claims = {"iss": ISSUER.iss, "sub": "ann", "jti": "j", "iat": wall.now, "exp": wall.now + 60}
    for _ in range(3):
        with pytest.raises(SecAuthError):
            listed.check(claims)
    assert store.lookups == 1  # resting
    wall.now += 86_400
    with pytest.raises(SecAuthError):
        listed.check(claims)
    assert store.lookups == 2
    wall.now -= 3 * 86_400
    with pytest.raises(SecAuthError):
        listed.check(claims)
    assert store.lookups == 3


def test_only_the_monotonic_clock_ends_a_limiters_cached_denial(wall: Clock) -> None:
    """A denial the deny cache holds outlives a wall clock step either way while the store is
    down (on_store_error="open" would allow): nothing is allowed because of a clock jump."""
    store = SignalStore(healthy=True)
    limiter = RateLimiter.per_key(
        "1/minute", key=lambda r, p: "k", name="r153", store=store, on_store_error="open"
    )
    event = http_proxy("GET", "/x")
    assert [limiter.hit(event).allowed, limiter.hit(event).allowed] == [True, False]
    store.healthy = False
    for step in (86_400.0, -3 * 86_400.0):
        wall.now += step
        result = limiter.hit(event)
        assert result.allowed is False
        assert result.degraded is False


def test_only_the_monotonic_clock_ends_a_penalty_boxs_cached_block(wall: Clock) -> None:
    store = SignalStore(healthy=True)
    penalty = AbusePenalty(store=store, auth_failures="1/minute", cooldown=60)  # "memory"
    event = http_proxy("GET", "/login")
    penalty.record_auth_failure(event)
    penalty.record_auth_failure(event)
    with pytest.raises(AbuseBlocked):
        penalty.check(event)
    store.healthy = False
    for step in (86_400.0, -3 * 86_400.0):
        wall.now += step
        with pytest.raises(AbuseBlocked):
            penalty.check(event)


def client_ids(client: Any) -> int:
    return int(client.client_id())


def test_the_sync_redis_store_survives_a_connection_the_server_closed(redis_url: str) -> None:
    """ "the sync Redis clients check a pooled connection before use": the server kills the
    store's pooled connection (as an idle ``timeout`` would while frozen); the next command
    succeeds on a new one, not a store failure."""
    import redis

    store = RedisStore(url=redis_url, check_eviction=False)
    limiter = RateLimiter.per_key("100/minute", key=lambda r, p: "sync-kill", name="r153", store=store,
                                  on_store_error="closed")  # fmt: skip
    event = http_proxy("GET", "/x")
    assert limiter.hit(event).degraded is False
    first = client_ids(store.client)
    redis.Redis.from_url(redis_url).client_kill_filter(_id=first)
    result = limiter.hit(event)
    assert result.allowed
    assert not result.degraded
    assert client_ids(store.client) != first
    revocations = RedisRevocationStore(url=redis_url, check_eviction=False)
    revocations.lookup(["a"])
    redis.Redis.from_url(redis_url).client_kill_filter(_id=client_ids(revocations.client))
    assert revocations.lookup(["a"]) == {"a": None}


def test_the_async_redis_store_reopens_a_connection_the_server_closed(redis_url: str) -> None:
    """ "the asyncio client opens a connection the server closed again, once"."""
    import redis

    store = AsyncRedisStore(url=redis_url, check_eviction=False)
    limiter = RateLimiter.per_key("100/minute", key=lambda r, p: "async-kill", name="r153", store=store,
                                  on_store_error="closed")  # fmt: skip
    event = http_proxy("GET", "/x")

    async def run() -> list[bool]:
        degraded = [(await limiter.hit_async(event)).degraded]
        ident = int(await store.client.client_id())
        redis.Redis.from_url(redis_url).client_kill_filter(_id=ident)
        degraded.append((await limiter.hit_async(event)).degraded)
        assert int(await store.client.client_id()) != ident
        await store.aclose()
        return degraded

    assert asyncio.run(run()) == [False, False]


def test_the_async_client_tries_a_closing_node_twice_at_most(
    closing_server: tuple[int, list[int]],
) -> None:
    """Opened again once, not more: a node that closes every connection costs two."""
    port, accepted = closing_server
    store = AsyncRedisStore(url=f"redis://127.0.0.1:{port}/0", check_eviction=False)

    async def run() -> None:
        limit = RateLimiter.per_key("1/minute", key=lambda r, p: "k", name="r153").limit
        with pytest.raises(StoreError):
            await store.hit_async("k", limit, "fixed_window")

    asyncio.run(run())
    assert 1 <= accepted[0] <= 2, accepted


def test_a_timeout_is_never_retried(black_hole: tuple[int, list[socket.socket]]) -> None:
    """A node that accepts and never answers: one connection (one timeout) per command, sync
    and asyncio alike."""
    port, held = black_hole
    url = f"redis://127.0.0.1:{port}/0"
    limit = RateLimiter.per_key("1/minute", key=lambda r, p: "k", name="r153").limit
    sync = RedisStore(url=url, check_eviction=False, socket_timeout=0.1, connect_timeout=0.1)
    with pytest.raises(StoreError):
        sync.hit("k", limit, "fixed_window")
    time.sleep(0.15)
    assert len(held) == 1

    async def run() -> None:
        store = AsyncRedisStore(
            url=url, check_eviction=False, socket_timeout=0.1, connect_timeout=0.1
        )
        with pytest.raises(StoreError):
            await store.hit_async("k", limit, "fixed_window")

    asyncio.run(run())
    time.sleep(0.15)
    assert len(held) == 2


def test_an_async_redis_store_keeps_a_client_per_loop(redis_url: str) -> None:
    """A store from url= serves every asyncio.run invocation (a new loop each time)."""
    store = AsyncRedisStore(url=redis_url)
    limiter = RateLimiter.per_key("100/minute", key=lambda r, p: "loops", name="r153", store=store,
                                  on_store_error="closed")  # fmt: skip
    event = http_proxy("GET", "/x")
    clients = []
    for _ in range(3):

        async def once() -> bool:
            result = await limiter.hit_async(event)
            clients.append(store.client)
            return bool(result.allowed and not result.degraded)

        assert asyncio.run(once())
    assert len({id(c) for c in clients}) == 3


def test_a_given_async_client_serves_its_first_loop_only(redis_url: str) -> None:
    """client=: another loop's call is a StoreError, answered by on_store_error."""
    from redis import asyncio as aioredis

    store = AsyncRedisStore(client=aioredis.Redis.from_url(redis_url))
    limiter = RateLimiter.per_key("100/minute", key=lambda r, p: "given", name="r153", store=store,
                                  on_store_error="closed")  # fmt: skip
    event = http_proxy("GET", "/x")
    first = asyncio.run(limiter.hit_async(event))
    assert first.allowed
    assert not first.degraded
    second = asyncio.run(limiter.hit_async(event))
    assert second.allowed is False
    assert second.degraded is True

    async def direct() -> None:
        with pytest.raises(StoreError, match="another event loop"):
            await store.blocked_for_async("ann")

    asyncio.run(direct())


def test_the_guards_options_are_read_only() -> None:
    """ "the Guard's read-only options": setting one fails loudly rather than being ignored
    by the identification step built with the old value."""
    guard = Guard(ISSUER.verifier(), routes=ROUTES, decision_log=None)
    for name in ("verifier", "trust_authorizer", "routes", "claims", "token_sources",
                 "context_without_token", "revocations", "sender_constraint"):  # fmt: skip
        with pytest.raises(AttributeError):
            setattr(guard, name, getattr(guard, name))
    derived = guard.require(authenticated())
    assert derived.caller_identifier is guard.caller_identifier
    assert derived.verifier is guard.verifier
    assert derived.routes is guard.routes


def test_the_snapstart_example_runs_as_written() -> None:
    """docs/operations.md's after-restore example, run as the page shows it."""
    text = (Path(__file__).parent.parent / "docs" / "operations.md").read_text()
    section = text.split("## The Lambda lifecycle", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    assert "register_after_restore" in code.group(1)
    scope: dict[str, Any] = {}
    exec(compile(code.group(1), "operations.md", "exec"), scope)
    scope["authorizer"]
    assert callable(scope["refresh_after_restore"])
    assert scope["authorizer"].verifier is not None


# == ratelimit.md: an abuse penalty's counter that is no count of ours ============================


def test_a_foreign_penalty_counter_blocks_once_and_is_cleared(
    redis_url: str, redis_client: Any
) -> None:
    """ "blocked once, and cleared, so that the count starts afresh when that block ends"."""
    store = RedisStore(url=redis_url, prefix="r153")
    threshold = RateLimiter.per_key("3/minute", key=lambda r, p: "x", name="r153").limit
    assert store.record("mallory", "auth", threshold, 60) == 0.0
    counters = [k for k in redis_client.keys("{r153:pen:mallory}*") if not k.endswith(b":b")]
    assert len(counters) == 1
    redis_client.set(counters[0], "not a count")
    assert store.record("mallory", "auth", threshold, 60) > 0  # blocked
    assert store.blocked_for("mallory") > 0
    assert redis_client.exists(counters[0]) == 0  # cleared
    redis_client.delete(*redis_client.keys("{r153:pen:mallory}*"))  # the block ends
    assert [store.record("mallory", "auth", threshold, 60) for _ in range(3)] == [0.0, 0.0, 0.0]
