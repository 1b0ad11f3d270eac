"""Review 34: adversarial review of rate limiting (keys, arithmetic, stores, failures).

Real servers where stores matter: the conftest's redis-server and dynalite on loopback,
plus private redis-servers a test starts itself (one requiring AUTH, one read-only
replica) and a loopback TCP server that answers garbage. Findings are
``xfail(strict=True)`` tests asserting the secure or documented behaviour; attacks that
held are plain tests.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rl_services import Server, free_port

from secauth import Authorizer, Routes, StaticApiKeys, authenticated
from secauth.credentials import ApiKeyEntry, hash_api_key
from secauth.errors import ConfigurationError
from secauth.policy import Unauthorized
from secauth.principal import Principal
from secauth.ratelimit import (
    AbusePenalty,
    DynamoDBStore,
    Limit,
    MemoryStore,
    RateLimiter,
    RedisStore,
)
from secauth.testing_events import alb, http_proxy, request_authorizer, rest_proxy

KEY = "pk-live-review34-0123456789abcdef"
_tables = iter(range(10**6))


class _SharedMemory(MemoryStore):
    """A MemoryStore the limiter treats as shared (deny cache and breaker on)."""

    shared = True


def _http(ip: str = "203.0.113.5", **sent: Any) -> dict[str, Any]:
    return http_proxy("GET", "/orders", source_ip=ip, **sent)


def _ddb_store(client: Any, **options: Any) -> DynamoDBStore:
    store = DynamoDBStore(f"review34-{next(_tables)}", client=client, **options)
    store.create_table()
    return store


def _effect(response: dict[str, Any]) -> str:
    return str(response["policyDocument"]["Statement"][0]["Effect"])


# -- private servers ------------------------------------------------------------------------


@pytest.fixture
def garbage_server() -> Iterator[Callable[[bytes], int]]:
    """Loopback TCP servers that answer every read with fixed bytes (not Redis)."""
    listeners: list[socket.socket] = []
    stop = threading.Event()

    def start(reply: bytes) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(0.1)
        listeners.append(listener)

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                conn.settimeout(0.5)
                try:
                    while conn.recv(65536):
                        conn.sendall(reply)
                except OSError:
                    pass
                finally:
                    conn.close()

        threading.Thread(target=serve, daemon=True).start()
        return int(listener.getsockname()[1])

    yield start
    stop.set()
    for listener in listeners:
        listener.close()


# == findings ===============================================================================



def test_authorizer_counts_failed_authentications_against_the_client_ip() -> None:
    """The Guard counts failed authentications against the client IP ("guessing tokens
    spends the quota"); an Authorizer with ``rate_limit=per_ip`` counts only allowed
    decisions, so API-key or token guessing from one IP is never limited."""
    keys = StaticApiKeys({hash_api_key(KEY): ApiKeyEntry("partner-a")})
    authorizer = Authorizer(
        api_keys=keys,
        routes=Routes({"GET /orders": authenticated()}),
        rate_limit=RateLimiter.per_ip("3/minute"),
        decision_log=None,
    )

    def event(key: str) -> dict[str, Any]:
        return request_authorizer(
            "GET", "/orders", headers={"x-api-key": key}, source_ip="203.0.113.77"
        )

    for n in range(10):
        with pytest.raises(Unauthorized):
            authorizer.handler(event(f"pk-live-guess-{n:020d}"))
    # ten guesses from this IP spent its 3/minute: a right guess is refused too
    assert _effect(authorizer.handler(event(KEY))) == "Deny"


@pytest.mark.parametrize("attribute", ["until", "n", "s", "pk"])
def test_dynamodb_ttl_attribute_colliding_with_the_items_own_is_refused(attribute: str) -> None:
    """The block item is ``{"until": <epoch ms>, <ttl_attribute>: <epoch s>}``: with
    ``ttl_attribute="until"`` the TTL overwrote the block's end with epoch *seconds*, read
    back as milliseconds, so every block was over before it started; with ``"n"`` every
    update named the counter twice and failed. Refused at construction now."""
    with pytest.raises(ConfigurationError, match="must not be one of the store's own"):
        DynamoDBStore(
            "rate-limits", region="us-east-1", endpoint_url="http://127.0.0.1:9",
            ttl_attribute=attribute,
        )  # fmt: skip


def test_dynamodb_blocks_hold_across_containers_with_a_ttl_attribute_of_its_own(
    ddb_client: Any,
) -> None:
    store = _ddb_store(ddb_client, ttl_attribute="gone_at")
    penalty = AbusePenalty(store=store, auth_failures="2/minute", unknown_paths=None)
    answers = [penalty.record_auth_failure(_http()) for _ in range(3)]
    assert answers[-1] > 0  # the threshold was crossed and a block written
    other_container = AbusePenalty(store=store, auth_failures="2/minute", unknown_paths=None)
    assert other_container.blocked_for(_http()) > 0


def test_throttle_never_admits_more_than_the_configured_rate() -> None:
    """``Limit.throttle(3, burst=1)``: 3 per second. The period 1/3 s is rounded to the
    nearest microsecond (333 333, down), so 4 requests pass within 0.999 999 s, where 3
    per second with a burst of 1 allows 1 + floor(0.999999 * 3) = 3."""
    clock = [0.0]
    limiter = RateLimiter.per_ip(
        Limit.throttle(3, burst=1),
        algorithm="gcra",
        store=MemoryStore(clock=lambda: clock[0]),
    )
    admitted = 0
    for at in (0.0, 0.333333, 0.666666, 0.999999):
        clock[0] = at
        admitted += limiter.hit(_http()).allowed
    assert admitted <= 3


def test_throttle_at_api_gateway_default_rate_builds_or_says_rate() -> None:
    """API Gateway's default account throttle is 10 000 requests per second, burst 5 000."""
    message = ""
    try:
        limit = Limit.throttle(10_000, burst=5_000)
    except ConfigurationError as err:
        message = str(err)
    else:
        assert limit.burst == 5_000
    assert not message or "rate" in message, message


def test_auth_failures_against_case_variants_of_a_user_name_count_together() -> None:
    """A distributed brute force (one failure per IP) spells the victim's user name
    differently each time; IdPs such as Cognito match user names case-insensitively."""
    penalty = AbusePenalty(auth_failures="3/minute", unknown_paths=None, cooldown=60)
    for n, name in enumerate(["alice", "Alice", "ALICE", "aLiCe"]):
        penalty.record_auth_failure(_http(f"198.51.100.{n + 1}"), name)
    assert penalty.blocked_for(_http("192.0.2.200"), "alice") > 0


def test_a_denied_expensive_request_does_not_refuse_a_cheap_one_that_fits() -> None:
    """The deny cache is keyed by the store key alone: a refused cost-3 request makes
    every request of the key (a whole tenant under per_tenant) refused locally until its
    retry time, though a cost-1 request fits in what remains."""
    clock = [6000.0]
    limiter = RateLimiter.per_tenant(
        "3/minute", algorithm="fixed_window", store=_SharedMemory(clock=lambda: clock[0])
    )
    ann, bob = Principal("ann", tenant="acme"), Principal("bob", tenant="acme")
    assert limiter.hit(_http(), ann).allowed  # 2 left
    assert not limiter.hit(_http(), ann, cost=3).allowed  # too expensive: nothing spent
    assert limiter.hit(_http(), bob).allowed  # 1 fits


# == attacks that held ======================================================================
# -- key derivation --------------------------------------------------------------------------


_SPOOF_HEADERS = {
    "X-Forwarded-For": "6.6.6.6",
    "x-forwarded-for": "6.6.6.7, 6.6.6.8",
    "Forwarded": "for=6.6.6.9",
    "X-Real-IP": "6.6.6.10",
    "True-Client-IP": "6.6.6.11",
    "CF-Connecting-IP": "6.6.6.12",
    "X-Client-IP": "6.6.6.13",
}


@pytest.mark.parametrize("build", [http_proxy, rest_proxy, request_authorizer])
def test_client_headers_never_move_the_api_gateway_key(redis_url: str, build: Any) -> None:
    limiter = RateLimiter.per_ip("2/minute", store=RedisStore(url=redis_url))
    answers = []
    for n, (name, value) in enumerate(_SPOOF_HEADERS.items()):
        event = build("GET", "/orders", source_ip="203.0.113.5", headers={name: f"{value}"})
        answers.append(limiter.hit(event).allowed)
        assert n < 2 or not answers[-1]
    assert answers == [True, True] + [False] * (len(_SPOOF_HEADERS) - 2)


@pytest.mark.parametrize("multi_value", [False, True])
def test_alb_key_is_the_hop_the_load_balancer_appended(multi_value: bool) -> None:
    limiter = RateLimiter.per_ip("1/minute")
    forged = [f"10.9.{n}.1, 198.51.100.{n}, 203.0.113.5" for n in range(4)]
    answers = [
        limiter.hit(
            alb("GET", "/", multi_value=multi_value, headers={"x-forwarded-for": xff})
        ).allowed
        for xff in forged
    ]
    assert answers == [True, False, False, False]
    padded = "1.1.1.1, " * 2000 + "203.0.113.5"  # far beyond the 4 KiB kept: the right end
    assert not limiter.hit(alb("GET", "/", headers={"x-forwarded-for": padded})).allowed


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("fe80::1%eth0", "fe80::2"),
        ("2001:DB8:0:0:1::1", "2001:db8::ffff"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("0:0:0:0:0:ffff:cb00:7105", "203.0.113.5"),
    ],
)
def test_address_spellings_share_one_dynamodb_bucket(
    ddb_client: Any, first: str, second: str
) -> None:
    store = _ddb_store(ddb_client, clock=lambda: 6000.0)
    limiter = RateLimiter.per_ip("1/minute", store=store, deny_cache=False)
    assert limiter.hit(_http(first)).allowed
    assert not limiter.hit(_http(second)).allowed
    assert len(ddb_client.scan(TableName=store.table)["Items"]) == 1


def test_hostile_principals_never_share_a_dynamodb_bucket(ddb_client: Any) -> None:
    store = _ddb_store(ddb_client, clock=lambda: 6000.0)
    limiter = RateLimiter.per_principal("1/minute", store=store, deny_cache=False)
    callers = [
        Principal("a#rl#b"),
        Principal("a"),
        Principal("a#rl#b", tenant="t"),
        Principal("b", tenant="t#rl#a"),
        Principal("rl#b", tenant="t#a"),
        Principal("x" * 5000),
        Principal("x" * 4999 + "y"),
        Principal("caf\u00e9"),
        Principal("cafe\u0301"),
        Principal("api_key:p"),
        Principal("p", kind="api_key"),
    ]
    assert all(limiter.hit(_http(), caller).allowed for caller in callers)
    items = ddb_client.scan(TableName=store.table)["Items"]
    assert len(items) == len(callers)
    assert all(len(item["pk"]["S"]) < 200 for item in items)
    assert all(not limiter.hit(_http(), caller).allowed for caller in callers)


def test_hostile_tenants_and_ids_never_reach_redis_keys_or_headers(
    redis_url: str, redis_client: Any
) -> None:
    store = RedisStore(url=redis_url)
    limiter = RateLimiter.combine(
        RateLimiter.per_tenant("5/minute", store=store),
        RateLimiter.per_principal("5/minute", store=store),
    )
    tenant, ident = "{victim}:acme#1\r\nX-Evil: 1", "ann{x}"
    result = limiter.hit(_http(), Principal(ident, tenant=tenant))
    headers = json.dumps(result.headers("both"))
    assert result.allowed
    for word in ("victim", "acme", "ann"):
        assert word not in headers
    assert "\r" not in headers.replace("\\r", "")
    names = [n.decode() for n in redis_client.keys("*")]
    assert len(names) == 2
    assert all("{" not in n and "victim" not in n and "ann" not in n for n in names)


# -- limit arithmetic, expiry ---------------------------------------------------------------


def test_every_penalty_key_on_redis_expires(redis_url: str, redis_client: Any) -> None:
    penalty = AbusePenalty(
        store=RedisStore(url=redis_url), auth_failures="3/minute", unknown_paths="3/minute"
    )
    for n in range(3):
        penalty.record_auth_failure(_http(), f"user{n}")
        penalty.record_not_found(_http(), f"/p{n}")
    for n in range(5):  # over the thresholds: blocks written
        penalty.record_auth_failure(_http("198.51.100.3"), "bob")
        penalty.record_not_found(_http("198.51.100.4"), f"/q{n}")
    names = redis_client.keys("*")
    assert names
    for name in names:
        assert redis_client.pttl(name) > 0, name


@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window", "gcra"])
def test_usage_on_redis_never_creates_or_extends_a_key(
    redis_url: str, redis_client: Any, algorithm: str
) -> None:
    limiter = RateLimiter.per_ip("5/minute", algorithm=algorithm, store=RedisStore(url=redis_url))
    assert limiter.usage(_http())[0].remaining == 5
    assert redis_client.keys("*") == []
    limiter.hit(_http())
    (name,) = redis_client.keys("*")
    before = redis_client.pttl(name)
    limiter.usage(_http())
    assert redis_client.pttl(name) <= before


def test_costs_are_charged_exactly_and_denials_cost_nothing_on_redis(redis_url: str) -> None:
    limiter = RateLimiter.per_ip(
        "10/minute", algorithm="fixed_window", store=RedisStore(url=redis_url), deny_cache=False
    )
    assert limiter.hit(_http(), cost=7).remaining == 3
    assert not limiter.hit(_http(), cost=4).allowed
    assert limiter.hit(_http(), cost=3).remaining == 0
    with pytest.raises(ConfigurationError):
        limiter.hit(_http(), cost=11)


@pytest.mark.parametrize(
    "text", ["1e3/minute", "10/-1s", "10/1.5s", "\u0661\u0660/minute", "10 /minute x", "10/"]
)
def test_odd_limit_strings_are_refused(text: str) -> None:
    with pytest.raises(ConfigurationError):
        Limit.parse(text)


# -- failure behaviour ----------------------------------------------------------------------


def test_redis_requiring_auth_fails_closed_and_never_logs_the_password(
    redis_servers: Callable[..., Server], caplog: pytest.LogCaptureFixture
) -> None:
    secret = "review34-Sup3r-secret"
    server = redis_servers("--requirepass", secret)
    wrong = RedisStore(url=f"redis://:not-{secret}@127.0.0.1:{server.port}/0")
    anonymous = RedisStore(url=f"redis://127.0.0.1:{server.port}/0")
    with caplog.at_level(logging.DEBUG, logger="secauth"):
        for store in (wrong, anonymous):
            limiter = RateLimiter.per_ip("5/minute", store=store, on_store_error="closed")
            result = limiter.hit(_http())
            assert not result.allowed
            assert result.degraded
            assert result.headers()["Retry-After"] == "1"
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "rate_limit_store_unavailable" in logged
    assert secret not in logged
    good = RateLimiter.per_ip(
        "2/minute",
        store=RedisStore(url=f"redis://:{secret}@127.0.0.1:{server.port}/0"),
        on_store_error="closed",
    )
    answers = [good.hit(_http()) for _ in range(3)]
    assert [a.allowed for a in answers] == [True, True, False]
    assert not any(a.degraded for a in answers)


def test_a_read_only_replica_never_admits_beyond_the_policy(
    redis_servers: Callable[..., Server],
) -> None:
    import redis

    primary = redis_servers()
    replica = redis_servers("--replicaof", "127.0.0.1", str(primary.port))
    client = redis.Redis(host="127.0.0.1", port=replica.port)
    for _ in range(500):  # until the replica has synced (not a timing assertion)
        if client.info("replication").get("master_link_status") == "up":
            break
        time.sleep(0.02)
    client.close()
    store = RedisStore(url=f"redis://127.0.0.1:{replica.port}/0")
    closed = RateLimiter.per_ip("2/minute", store=store, on_store_error="closed")
    results = [closed.hit(_http()) for _ in range(3)]
    assert all(not r.allowed and r.degraded for r in results)
    memory = RateLimiter.per_ip("2/minute", store=store, on_store_error="memory")
    answers = [memory.hit(_http()) for _ in range(3)]
    assert [a.allowed for a in answers] == [True, True, False]
    assert all(a.degraded for a in answers[:2])


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
        b"+OK\r\n",
        b":1\r\n",
        b"*5\r\n:1\r\n:5\r\n$3\r\nabc\r\n:0\r\n:0\r\n",
        b"-ERR something\r\n",
    ],
)
def test_a_store_answering_garbage_fails_closed_without_raising(
    garbage_server: Callable[[bytes], int], reply: bytes
) -> None:
    port = garbage_server(reply)
    limiter = RateLimiter.per_ip(
        "5/minute", store=RedisStore(url=f"redis://127.0.0.1:{port}/0"), on_store_error="closed"
    )
    result = limiter.hit(_http())
    assert not result.allowed
    assert result.degraded
    penalty = AbusePenalty(
        store=RedisStore(url=f"redis://127.0.0.1:{port}/0"), on_store_error="closed"
    )
    assert penalty.blocked_for(_http()) > 0


def test_a_dynamodb_endpoint_that_refuses_fails_closed_and_logs_no_endpoint_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = DynamoDBStore(
        "review34-nowhere",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region="us-east-1",
    )
    limiter = RateLimiter.per_api_key("5/minute", store=store, on_store_error="closed")
    with caplog.at_level(logging.DEBUG, logger="secauth"):
        result = limiter.hit(_http(headers={"x-api-key": KEY}), Principal("ann"))
    assert not result.allowed
    assert result.degraded
    assert KEY not in " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)


# -- headers ----------------------------------------------------------------------------------


def test_denial_headers_agree_and_name_only_policies() -> None:
    clock = [6000.0]
    limiter = RateLimiter.combine(
        RateLimiter.per_ip("5/minute", store=MemoryStore(clock=lambda: clock[0])),
        RateLimiter.per_tenant(
            "2/minute", algorithm="fixed_window", store=MemoryStore(clock=lambda: clock[0])
        ),
    )
    caller = Principal("ann", tenant="globex-secret-tenant")
    limiter.hit(_http(), caller)
    clock[0] = 6030.0
    limiter.hit(_http(), caller)
    denied = limiter.hit(_http(), caller)
    headers = denied.headers()
    assert not denied.allowed
    assert headers["Retry-After"] == "30"
    assert headers["RateLimit"] == '"ip";r=2;t=30, "tenant";r=0;t=30'
    assert "globex" not in json.dumps(headers)
    # another tenant's headers show its own quota, nothing of globex's
    other = limiter.hit(_http("198.51.100.9"), Principal("bob", tenant="initech")).headers()
    assert '"tenant";r=1;' in other["RateLimit"]
