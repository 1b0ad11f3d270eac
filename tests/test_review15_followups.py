"""Review 15: adversarial follow-ups on the review-14 fixes (3a66d09, 415c7b2).

Real stores where stores matter: a redis-server and dynalite on loopback (``rl_services``,
as the rate-limit and review-14 tests start them); a fault is injected only by wrapping
the real boto3 client, never by replacing a server. The findings' tests
failed before their fixes; every other test pins an attack that held.
"""

from __future__ import annotations

import asyncio
import json
import threading
from decimal import Decimal
from fractions import Fraction
from typing import Any
from urllib.parse import unquote

import pytest
from aws_lambda_powertools.event_handler import (
    APIGatewayHttpResolver,
    APIGatewayRestResolver,
)
from guard_events import VERIFIER, token

from secauth import (
    Authorizer,
    ClaimMapper,
    Guard,
    Routes,
    StaticApiKeys,
    authenticated,
    public,
    tenant,
)
from secauth.credentials import ApiKeyEntry, hash_api_key
from secauth.errors import AccessDenied, MethodNotAllowed, RateLimited
from secauth.integrations.powertools import guard_middleware
from secauth.principal import Principal
from secauth.ratelimit import (
    AbusePenalty,
    AsyncRedisStore,
    DynamoDBStore,
    MemoryStore,
    RateLimiter,
    RedisStore,
)
from secauth.ratelimit.penalties import _member
from secauth.ratelimit.store import StoreError
from secauth.testing_events import http_proxy, request_authorizer, rest_proxy

Event = dict[str, Any]
KEY = "pk-live-0123456789abcdefghij"


# -- servers and helpers ----------------------------------------------------------------------


_tables = iter(range(10**6))


def _ddb_store(client: Any, **options: Any) -> DynamoDBStore:
    store = DynamoDBStore(f"review15-{next(_tables)}", client=client, **options)
    store.create_table()
    return store


def _http(ip: str = "203.0.113.5", path: str = "/orders", **sent: Any) -> Event:
    return http_proxy("GET", path, source_ip=ip, **sent)


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _pen_item(store: DynamoDBStore, client: Any, kind: str, subject: str) -> dict[str, Any]:
    """The penalty counter items of ``subject``/``kind`` (any window), read from dynalite."""
    items = client.scan(TableName=store.table)["Items"]
    wanted = f"{store.prefix}#pen#{subject}#{kind}#"
    found = [item for item in items if item["pk"]["S"].startswith(wanted)]
    assert len(found) == 1
    return dict(found[0])


# =========================================================================================
# Findings (each fails against the current code)
# =========================================================================================


class _Seconds(float):
    """A float subclass, as numpy.float64 is: a finite number of seconds."""


@pytest.mark.parametrize("wait", [_Seconds(29.2), Decimal("29.2"), Fraction(146, 5)])
def test_retry_after_of_a_finite_number_type_is_rounded_up_not_a_day(wait: Any) -> None:
    guard = Guard(VERIFIER, routes=Routes({"GET /x": public()}), decision_log=None)

    @guard
    def handler(event: Event, context: object) -> dict[str, Any]:
        raise RateLimited(retry_after=wait)

    response = handler(http_proxy("GET", "/x"), None)
    assert response["statusCode"] == 429
    # Documented: "a value that is not a finite number counts as a day"; 29.2 is finite.
    assert response["headers"]["Retry-After"] == "30"


def test_handler_rate_limited_with_minus_infinity_is_still_answered() -> None:
    guard = Guard(VERIFIER, routes=Routes({"GET /x": public()}), decision_log=None)

    @guard
    def handler(event: Event, context: object) -> dict[str, Any]:
        # e.g. a wait computed as reset - now with an unset reset of float("-inf")
        raise RateLimited(retry_after=float("-inf"))

    response = handler(http_proxy("GET", "/x"), None)  # raises OverflowError today
    assert response["statusCode"] == 429
    assert response["headers"]["Retry-After"] in ("1", "86400")


class _Unprintable:
    """A value whose str() raises (a lazy ORM row whose session closed, for one)."""

    def __str__(self) -> str:
        raise LookupError("detached row")

    __repr__ = __str__


@pytest.mark.parametrize("log", ["stdout", "logging"])
def test_a_detail_that_cannot_be_printed_does_not_replace_the_answer(
    log: str, capsys: pytest.CaptureFixture[str]
) -> None:
    guard = Guard(VERIFIER, routes=Routes({"GET /x": public()}), decision_log=log)

    @guard
    def handler(event: Event, context: object) -> dict[str, Any]:
        raise AccessDenied(detail={"row": _Unprintable()})

    import logging

    logging.getLogger("secauth.decisions").setLevel(logging.INFO)
    try:
        response = handler(http_proxy("GET", "/x"), None)  # raises LookupError today
    finally:
        logging.getLogger("secauth.decisions").setLevel(logging.NOTSET)
    assert response["statusCode"] == 403
    assert "detached row" not in capsys.readouterr().out


def test_dynamodb_record_during_a_block_longer_than_the_window_answers_the_block(
    ddb_client: Any,
) -> None:
    # The defaults have this shape: auth_failures="10/5minutes", cooldown=900.
    clock = _Clock(7200.0 * 1000)
    stores = {
        "memory": MemoryStore(clock=clock, wall_clock=clock),
        "dynamodb": _ddb_store(ddb_client, clock=clock),
    }
    answers: dict[str, list[float]] = {}
    start = clock.now
    for name, store in stores.items():
        clock.now = start
        penalty = AbusePenalty(
            store=store, auth_failures="3/minute", unknown_paths=None, cooldown=150,
            deny_cache=False,
        )  # fmt: skip
        event = _http()
        assert [penalty.record_auth_failure(event) for _ in range(4)][-1] == 150.0
        clock.now += 61  # the next minute's window; the block has 89 s left
        answers[name] = [penalty.record_auth_failure(event) for _ in range(4)]
    # MemoryStore: nothing counts during the block and every answer is the block's time left
    assert answers["memory"] == [89.0] * 4
    # DynamoDB: [0.0, 0.0, 0.0, 150.0]: "0.0: not blocked" while blocked, and a block
    # written again from events that arrived during the block.
    assert answers["dynamodb"] == answers["memory"]


@pytest.mark.parametrize(
    ("source_ip", "bucket"),
    [("test-invoke-source-ip", "test-invoke"), ("not-an-address", "unknown"),
     ("010.0.0.1", "unknown")],
)  # fmt: skip
def test_usage_by_a_source_ip_that_is_not_an_address_reads_the_bucket_hits_use(
    source_ip: str, bucket: str
) -> None:
    limiter = RateLimiter.per_ip("5/minute")
    for _ in range(5):
        limiter.hit(_http(source_ip))
    assert limiter.usage(bucket)[0].remaining == 0  # where the hits went
    # docs: usage(address) reads "the bucket its requests count in"
    assert limiter.usage(source_ip)[0].remaining == 0


# =========================================================================================
# Attacks that held
# =========================================================================================

# -- 1. DynamoDB penalty restart ----------------------------------------------------------------


def test_dynamodb_many_threads_at_the_end_of_a_block_block_again(ddb_client: Any) -> None:
    clock = _Clock(7200.0 * 1000)
    store = _ddb_store(ddb_client, clock=clock)
    penalty = AbusePenalty(
        store=store, auth_failures="3/hour", unknown_paths=None, cooldown=60, deny_cache=False
    )
    event = _http()
    assert [penalty.record_auth_failure(event) for _ in range(4)][-1] == 60.0
    clock.now += 61  # the block is over, the window is not: the counter is at 4 > 3
    start = threading.Barrier(12)
    answers: list[float] = []
    lock = threading.Lock()

    def fail() -> None:
        start.wait()
        left = penalty.record_auth_failure(event)
        with lock:
            answers.append(left)

    workers = [threading.Thread(target=fail) for _ in range(12)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(answers) == 12
    assert answers.count(60.0) >= 1  # 12 > 3 + 1 events after the block: blocked again
    assert penalty.blocked_for(event) == 60.0
    item = _pen_item(store, ddb_client, "auth", "ip:203.0.113.5")
    # A thread that found the counter over the threshold twice blocks and clears it (the
    # count starts afresh when the block ends, as after any block); else it holds 1 to 4.
    assert "n" not in item or 1 <= int(item["n"]["N"]) <= 4


def test_dynamodb_scan_set_restarts_to_one_member_and_stays_capped(ddb_client: Any) -> None:
    clock = _Clock(7200.0 * 1000)
    store = _ddb_store(ddb_client, clock=clock)
    penalty = AbusePenalty(
        store=store, auth_failures=None, unknown_paths="3/hour", cooldown=60, deny_cache=False
    )
    event = _http()
    subject = "ip:203.0.113.5"
    assert [penalty.record_not_found(event, f"/a{n}") for n in range(4)][-1] == 60.0
    assert len(_pen_item(store, ddb_client, "scan", subject)["s"]["SS"]) == 4  # threshold + 1
    clock.now += 61
    # the first event after the block restarts the set to its own member
    assert penalty.record_not_found(event, "/a0") == 0.0
    assert _pen_item(store, ddb_client, "scan", subject)["s"]["SS"] == [_member("/a0")]
    # a path already counted does not count twice; distinct ones do, and the 4th blocks
    assert penalty.record_not_found(event, "/a0") == 0.0
    assert [penalty.record_not_found(event, f"/b{n}") for n in range(3)] == [0.0, 0.0, 60.0]
    assert len(_pen_item(store, ddb_client, "scan", subject)["s"]["SS"]) == 4


def test_dynamodb_counter_without_its_block_item_counts_afresh(ddb_client: Any) -> None:
    """The block item gone (TTL deletion) while the window's counter is over the threshold."""
    clock = _Clock(7200.0 * 1000)
    store = _ddb_store(ddb_client, clock=clock)
    penalty = AbusePenalty(
        store=store, auth_failures="3/hour", unknown_paths=None, cooldown=60, deny_cache=False
    )
    event = _http()
    assert [penalty.record_auth_failure(event) for _ in range(4)][-1] == 60.0
    ddb_client.delete_item(TableName=store.table, Key=store._block_key("ip:203.0.113.5"))
    assert [penalty.record_auth_failure(event) for _ in range(4)] == [0.0, 0.0, 0.0, 60.0]


def test_dynamodb_at_a_window_edge_the_new_window_counts_from_zero(ddb_client: Any) -> None:
    clock = _Clock(7200.0 * 1000 + 3599.999)  # the last millisecond of an hour's window
    store = _ddb_store(ddb_client, clock=clock)
    penalty = AbusePenalty(
        store=store, auth_failures="3/hour", unknown_paths=None, cooldown=60, deny_cache=False
    )
    event = _http()
    assert [penalty.record_auth_failure(event) for _ in range(3)] == [0.0] * 3
    clock.now += 0.002  # the next window: 3 + 3 events, neither window over its threshold
    assert [penalty.record_auth_failure(event) for _ in range(3)] == [0.0] * 3
    assert penalty.record_auth_failure(event) == 60.0


class _FailingRestart:
    """The real dynalite client, except that the conditional restart (``SET #c = :one``)
    fails as a throttled request would."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_item(self, **kwargs: Any) -> Any:
        if kwargs["UpdateExpression"].startswith("SET #c = :one"):
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}},
                "UpdateItem",
            )
        return self._client.update_item(**kwargs)


def test_dynamodb_store_error_at_the_restart_is_the_failure_policy(ddb_client: Any) -> None:
    clock = _Clock(7200.0 * 1000)
    store = _ddb_store(ddb_client, clock=clock)
    broken = DynamoDBStore(store.table, client=_FailingRestart(ddb_client), clock=clock)
    event = _http()
    setup = AbusePenalty(
        store=store, auth_failures="3/hour", unknown_paths=None, cooldown=60, deny_cache=False
    )
    assert [setup.record_auth_failure(event) for _ in range(4)][-1] == 60.0
    clock.now += 61
    closed = AbusePenalty(
        store=broken, auth_failures="3/hour", unknown_paths=None, cooldown=60,
        on_store_error="closed", deny_cache=False, retry_store_after=30,
    )  # fmt: skip
    closed.record_auth_failure(event)  # the restart fails: a store failure
    with pytest.raises(RateLimited):
        closed.check(event)  # closed: refused while the store is marked down
    memory = AbusePenalty(
        store=broken, auth_failures="3/hour", unknown_paths=None, cooldown=60,
        deny_cache=False, retry_store_after=30,
    )  # fmt: skip
    # memory fallback: this container's memory counts the events (4th blocks)
    assert [memory.record_auth_failure(event) for _ in range(4)] == [0.0, 0.0, 0.0, 60.0]


# -- 2. Redis scan set --------------------------------------------------------------------------


@pytest.mark.parametrize("use_async", [False, True])
def test_redis_scan_set_is_bounded_always_expires_and_shares_the_block_slot(
    redis_url: str, redis_client: Any, use_async: bool
) -> None:
    from redis.crc import key_slot

    store: Any = AsyncRedisStore(url=redis_url) if use_async else RedisStore(url=redis_url)
    penalty = AbusePenalty(
        store=store, auth_failures=None, unknown_paths="5/minute", cooldown=60,
        deny_cache=False,
    )  # fmt: skip
    event = _http()

    async def record(path: str) -> float:
        if use_async:
            return await penalty.record_not_found_async(event, path)
        return penalty.record_not_found(event, path)

    async def scenario() -> None:
        sizes = []
        for n in range(5):
            assert await record(f"/p{n}") == 0.0
            assert await record(f"/p{n}") == 0.0  # a repeat adds nothing
            (key,) = redis_client.keys("*:scan:set")
            sizes.append(redis_client.scard(key))
            assert 0 < redis_client.pttl(key) <= 60_000  # never a set without expiry
        assert sizes == [1, 2, 3, 4, 5]
        assert await record("/p5") == 60.0
        assert redis_client.keys("*:scan:set") == []
        (block,) = redis_client.keys("*:b")
        assert key_slot(block) == key_slot(key)  # one slot per script (Redis Cluster)
        assert await record("/p6") > 0  # blocked: nothing counted, no set created
        assert redis_client.keys("*:scan:set") == []

    asyncio.run(scenario())


def test_redis_legacy_hyperloglog_at_the_old_key_is_left_alone(
    redis_url: str, redis_client: Any
) -> None:
    store = RedisStore(url=redis_url)
    penalty = AbusePenalty(
        store=store, auth_failures="2/minute", unknown_paths="2/minute", cooldown=60,
        deny_cache=False,
    )  # fmt: skip
    event = _http()
    old = "{secauth:pen:ip:203.0.113.5}:scan"  # the previous release's HyperLogLog
    redis_client.pfadd(old, *[_member(f"/x{n}") for n in range(50)])
    redis_client.pexpire(old, 60_000)
    assert [penalty.record_not_found(event, f"/y{n}") for n in range(3)] == [0.0, 0.0, 60.0]
    assert redis_client.type(old) == b"string"  # untouched, no WRONGTYPE either way
    # the auth counter (INCR) never lands on the set or the old key
    assert redis_client.type("{secauth:pen:ip:203.0.113.5}:auth") == b"none"


# -- 3. usage(address) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "crafted",
    ["", "[", "[]", "::1%", "\x00", "\ud800", "1.2.3.4:x", "a" * 10_000,
     "[" + "1" * 5000 + "]", "{secauth}:rl", "2001:db8::1%eth0\r\n", "::ffff:10.0.0.1%x"],
)  # fmt: skip
def test_usage_of_a_crafted_string_never_raises_and_never_writes(
    redis_url: str, redis_client: Any, crafted: str
) -> None:
    limiter = RateLimiter.per_ip("5/minute", store=RedisStore(url=redis_url))
    limiter.hit(_http("198.51.100.9"))
    before = sorted(redis_client.keys("*"))
    try:
        (usage,) = limiter.usage(crafted)
    except StoreError:  # documented for a read the store refuses (a lone surrogate)
        assert crafted == "\ud800"
    else:
        assert (usage.limit, usage.remaining) == (5, 5)
    assert sorted(redis_client.keys("*")) == before


def test_usage_cannot_read_another_callers_bucket_by_a_crafted_spelling() -> None:
    limiter = RateLimiter.per_ip("5/minute")
    for _ in range(5):
        limiter.hit(_http("198.51.100.9"))
    # every spelling of that address reads its bucket; nothing else does
    for same in ["198.51.100.9", "::ffff:198.51.100.9", "198.51.100.9:443",
                 "[::ffff:198.51.100.9]:443"]:  # fmt: skip
        assert limiter.usage(same)[0].remaining == 0
    for other in ["198.51.100.90", "198.51.100.9 ", " 198.51.100.9", "198.051.100.9",
                  "198.51.100.9\n", "unknown", "test-invoke"]:  # fmt: skip
        assert limiter.usage(other)[0].remaining == 5


def test_usage_with_trusted_proxies_reads_the_forwarded_clients_bucket() -> None:
    limiter = RateLimiter.per_ip("5/minute", trusted_proxies=1, ipv6_prefix=56)
    event = _http("192.0.2.1", headers={"x-forwarded-for": "2001:db8:0:42:1::7, 192.0.2.1"})
    for _ in range(5):
        limiter.hit(event)
    assert limiter.usage("2001:db8:0:ff::1")[0].remaining == 0  # the same /56
    assert limiter.usage("192.0.2.1")[0].remaining == 5  # the proxy is not the client


# -- 4. bucket names --------------------------------------------------------------------------


def test_guard_and_authorizer_limits_on_one_store_count_apart() -> None:
    store = MemoryStore()
    keys = StaticApiKeys({hash_api_key(KEY): ApiKeyEntry("partner-a", rate_limit="3/minute")})
    authorizer = Authorizer(
        api_keys=keys, routes=Routes({"GET /orders": authenticated()}),
        api_key_limit_store=store, decision_log=None,
    )  # fmt: skip
    per_key = RateLimiter.per_api_key("3/minute", store=store)
    per_ip = RateLimiter.per_ip("3/minute", store=store)
    event = request_authorizer("GET", "/orders", headers={"x-api-key": KEY})

    def effect() -> str:
        answer = authorizer.handler(event)
        return str(answer["policyDocument"]["Statement"][0]["Effect"])

    assert [effect() for _ in range(3)] == ["Allow"] * 3
    # the per-entry bucket is full; a per_api_key and a per_ip limiter of the same limit
    # on the same store (as a Guard behind it would hold) have counted nothing
    assert effect() == "Deny"
    verified = Principal("ann")  # a header counts for a verified caller only
    assert per_key.hit(http_proxy("GET", "/orders", headers={"x-api-key": KEY}), verified).remaining == 2
    assert per_ip.hit(_http()).remaining == 2


# -- 5. Retry-After, Allow and the decision line -------------------------------------------------


@pytest.mark.parametrize(
    ("wait", "header"),
    [(True, "86400"), (-0.0, "1"), (-5, "1"), (0, "1"), (10**400, "86400"),
     (float("nan"), "86400"), (float("inf"), "86400"), (86_399.5, "86400"),
     (1e-300, "1"), ("30", "86400"), (None, "86400")],
)  # fmt: skip
def test_retry_after_is_always_one_to_a_day_of_digits(wait: Any, header: str) -> None:
    assert str(RateLimited(retry_after=wait).retry_seconds) == header


class _Sly(str):
    """A str subclass that reports itself as a method name."""

    def __str__(self) -> str:
        return "GET"


@pytest.mark.parametrize(
    "allowed",
    [[_Sly("GET\r\nSet-Cookie: a=b")], ["GET", True], ["GET\n"], ["GET "], ["G" * 65],
     ["GET,POST"], ("GET", b"POST"), ["GÉT"]],
)  # fmt: skip
def test_allow_never_carries_anything_but_method_tokens(allowed: Any) -> None:
    guard = Guard(VERIFIER, routes=Routes({"GET /x": public()}), decision_log=None)

    @guard
    def handler(event: Event, context: object) -> dict[str, Any]:
        raise MethodNotAllowed(detail={"allowed": allowed})

    response = handler(http_proxy("GET", "/x"), None)
    assert response["statusCode"] == 405
    assert "Allow" not in response["headers"]


def test_handler_error_subclass_text_never_reaches_headers_or_body() -> None:
    class Leaky(AccessDenied):
        default_message = "db://admin:pw@10.0.0.5\r\nSet-Cookie: a=b"

    guard = Guard(VERIFIER, routes=Routes({"GET /x": public()}), decision_log=None)

    @guard
    def handler(event: Event, context: object) -> dict[str, Any]:
        raise Leaky("SECRET-MESSAGE", detail={"secret": "SECRET-DETAIL"})

    response = handler(http_proxy("GET", "/x"), None)
    assert response["statusCode"] == 403
    for value in response["headers"].values():
        assert "\r" not in value
        assert "\n" not in value
    assert "SECRET-MESSAGE" not in str(response)
    assert "SECRET-DETAIL" not in str(response)


# -- 6. Powertools per-route guard: what the rule judges vs what the handler gets ----------------


def _tenant_app(resolver: Any) -> Any:
    claims = ClaimMapper(tenant_claim="tenant")
    global_guard = Guard(VERIFIER, claims=claims, decision_log=None)
    route_guard = Guard(
        VERIFIER, claims=claims, decision_log=None,
        routes=Routes({"GET /t/{tenant}/orders": authenticated()}),
    ).require(tenant(path="tenant"))  # fmt: skip
    app = resolver
    app.use(middlewares=[guard_middleware(global_guard)])

    @app.get("/t/<tenant_id>/orders", middlewares=[guard_middleware(route_guard)])
    def orders(tenant_id: str) -> dict[str, str]:
        return {"tenant": tenant_id}

    return app


def _with_path(event: Event, raw: str) -> Event:
    if "rawPath" in event:
        event = {**event, "rawPath": raw}
        event["requestContext"] = {
            **event["requestContext"],
            "http": {**event["requestContext"]["http"], "path": raw},
        }
        return event
    return {**event, "path": raw}


@pytest.mark.parametrize(
    "raw",
    ["/t/ac%6De/orders", "/t/victim%2F..%2Facme/orders", "/t/acme%2Fx/orders", "/t/%2561cme/orders",
     "/t/acme/orders/", "/t/acme//orders", "/T/victim/orders", "/t/victim/Orders",
     "/t/./orders", "/t/acme%2e/orders"],
)  # fmt: skip
@pytest.mark.parametrize("kind", ["http", "rest"])
def test_powertools_route_rule_never_admits_what_the_handler_reads_as_another_tenant(
    raw: str, kind: str
) -> None:
    acme = token(tenant="acme")
    if kind == "http":
        app = _tenant_app(APIGatewayHttpResolver())
        event = _with_path(http_proxy("GET", "/t/acme/orders", token=acme), raw)
    else:
        app = _tenant_app(APIGatewayRestResolver())
        event = rest_proxy("GET", "/t/acme/orders", resource="/{proxy+}",
                           path_params={"proxy": raw[1:]}, token=acme)  # fmt: skip
        event = _with_path(event, raw)
    response = app.resolve(event, None)
    assert response["statusCode"] in (200, 403, 404)
    if response["statusCode"] == 200:
        # The rule judged the decoded value ("acme"); Powertools hands the route the
        # segment as written ("ac%6De"). It differs by percent-encoding only: once decoded
        # it is the tenant judged, and a second decoding is refused ("%25" never passes).
        handed = json.loads(response["body"])["tenant"]
        assert unquote(handed) == "acme"
        assert unquote(unquote(handed)) == "acme"


@pytest.mark.parametrize("stage", ["$default", "prod"])
def test_powertools_route_rule_and_handler_see_one_tenant_under_a_stage(stage: str) -> None:
    acme = token(tenant="acme")
    app = _tenant_app(APIGatewayHttpResolver())
    own = app.resolve(http_proxy("GET", "/t/acme/orders", token=acme, stage=stage), None)
    assert (own["statusCode"], own["body"]) == (200, '{"tenant":"acme"}')
    other = app.resolve(http_proxy("GET", "/t/victim/orders", token=acme, stage=stage), None)
    assert other["statusCode"] == 403
    # a path that names the stage twice: both strip one prefix and read the same segment
    if stage != "$default":
        doubled = http_proxy("GET", f"/{stage}/t/victim/orders", token=acme, stage=stage)
        assert app.resolve(doubled, None)["statusCode"] in (403, 404)
