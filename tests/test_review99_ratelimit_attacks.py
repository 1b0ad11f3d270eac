"""Review 99: rate limiting per client IP, principal and API key, attacked through the entry points.

Resolved (the test asserts it): the one finding, two ``per_key`` limiters of one count on one
store sharing their counters under the default name ``key``. A ``RateLimiter`` with its own key
function now needs ``name=`` (a ConfigurationError otherwise).

Attacked: ``Authorizer(...).handler`` on REST REQUEST, HTTP (1.0 and 2.0) and WebSocket authorizer
events, ``Guard``-wrapped handlers on REST, HTTP API, ALB and Function URL events; stores in memory,
a real redis-server (killed mid-run), a real 3+3 redis cluster and dynalite, all on loopback.

* client-IP spoofing with X-Forwarded-For / Forwarded / X-Real-IP on every event kind; ALB's
  rightmost hop, trusted proxies; IPv6 spellings (case, expanded, zone id, IPv4-mapped);
* key collisions: separator and quote injection in a principal id, tenant and API key, Redis hash
  tags in ids (cluster), DynamoDB ``#`` separators; principal ids differing by case;
* refused (bad signature) tokens and unknown API keys claiming a victim's identity;
* counters driven by odd costs; fixed-window edges with an injected clock; Retry-After exactness;
* two "containers" racing on one DynamoDB table; store failures under each policy;
* what a 429 carries (body, headers, decision record) about other clients and the store.

What held: every attack above. The platform's own source field is the key on API Gateway and
Function URLs; ALB uses the hop the load balancer appended; IPv6 spellings share one /64 bucket;
no separator, quote or brace in an id reaches a store key; refused credentials count only in
per-IP limits; conditional writes on DynamoDB are exact across two clients; Redis cluster runs
every script in one slot; a killed Redis follows on_store_error as documented (closed: 429 with
Retry-After 1; open: admit; memory: per-container limit, and an exhausted client stays denied by
the deny cache); no 429 names the store, another client, a key or an address.

Findings:

* low: ``RateLimiter.per_key`` limiters default to ``name="key"``, and the name is the key namespace
  (``limiter.py``: ``_namespace``): two of them with the same limit on one shared store count in the
  same buckets. A client-written value in one (a device-id header) spends another's bucket (the user
  name of a victim), locking the victim out (``test_two_per_key_limiters_on_one_store_never_share_buckets``).

Notes: ``principal_key`` joins ``kind:id`` without escaping, so a kind containing ``:`` would collide
(``user``/``user:alice`` vs ``user:user``/``alice``); kinds are fixed strings set by secauth and by
the authorizer context's allow-list, so no caller can reach it and it is not tested as a finding.
Case variants of a principal id count apart by design (ids are case-sensitive at the IdP).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from rl_services import PATIENT, RedisCluster, Server

from secauth import Authorizer, Guard, Routes, StaticApiKeys, authenticated
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
from secauth.ratelimit.keys import principal_key
from secauth.testing import encode_segment, sign_compact
from secauth.testing_events import (
    alb,
    function_url,
    http_authorizer_v1,
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    rest_proxy,
    token_authorizer,
    websocket_connect,
)
from secauth.verifier import JwtVerifier

SECRET = b"review99-secret-0123456789abcdef!"
WRONG = b"review99-forged-0123456789abcdef!"
ISSUER = "https://issuer.review99.example/"
AUDIENCE = "api://review99"
KEY = "pk-live-review99-0123456789abcdef"
ROUTES = Routes({"GET /orders": authenticated(), "$connect": authenticated()})
SPOOFS = {
    "X-Forwarded-For": "6.6.6.6",
    "Forwarded": "for=6.6.6.7",
    "X-Real-IP": "6.6.6.8",
    "True-Client-IP": "6.6.6.9",
}
_names = itertools.count()


def token(sub: str, *, secret: bytes = SECRET, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 600, **claims}
    return sign_compact({"alg": "HS256", "typ": "JWT"}, encode_segment(body), secret, "HS256")


def verifier() -> JwtVerifier:
    return JwtVerifier(issuer=ISSUER, audience=AUDIENCE, secret=SECRET, algorithms=["HS256"])


def effect(response: dict[str, Any]) -> str:
    return str(response["policyDocument"]["Statement"][0]["Effect"])


def guarded(rate_limit: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    guard = Guard(verifier=verifier(), routes=ROUTES, rate_limit=rate_limit)
    handler = guard(lambda event, context: {"statusCode": 200, "body": "ok"})
    return lambda event: handler(event, None)


def status(answer: dict[str, Any]) -> int:
    return int(answer["statusCode"])


def prefix() -> str:
    return f"r99n{next(_names)}t{time.monotonic_ns()}"


def ddb_store(client: Any, **options: Any) -> DynamoDBStore:
    store = DynamoDBStore(f"review99-{next(_names)}", client=client, **options)
    store.create_table()
    return store


# == client IP: which source is trusted ======================================================

_AUTHORIZER_EVENTS: dict[str, Callable[..., dict[str, Any]]] = {
    "rest_request": lambda **sent: request_authorizer("GET", "/orders", **sent),
    "http_v1": lambda **sent: http_authorizer_v1("GET", "/orders", **sent),
    "http_v2": lambda **sent: http_authorizer_v2("GET", "/orders", route_key="GET /orders", **sent),
    "websocket": websocket_connect,
}


@pytest.mark.parametrize("kind", sorted(_AUTHORIZER_EVENTS))
def test_authorizer_ip_key_ignores_every_forwarding_header(kind: str) -> None:
    """Each request spoofs another header naming another client; all come from one sourceIp."""
    build = _AUTHORIZER_EVENTS[kind]
    authorizer = Authorizer(
        verifier=verifier(),
        routes=ROUTES,
        rate_limit=RateLimiter.per_ip("2/minute"),
        decision_log=None,
    )
    good = token("alice")
    effects = []
    for name, value in SPOOFS.items():
        sent = {"headers": {name: value}, "source_ip": "203.0.113.5", "token": good}
        effects.append(effect(authorizer.handler(build(**sent))))
    assert effects == ["Allow", "Allow", "Deny", "Deny"]


@pytest.mark.parametrize("build", [http_proxy, rest_proxy, function_url])
def test_guard_ip_key_ignores_every_forwarding_header(build: Callable[..., Any]) -> None:
    call = guarded(RateLimiter.per_ip("2/minute"))
    answers = [
        status(call(build("GET", "/orders", token=token("alice"), source_ip="203.0.113.5",
                          headers={name: value})))
        for name, value in SPOOFS.items()
    ]  # fmt: skip
    assert answers == [200, 200, 429, 429]


@pytest.mark.parametrize("multi_value", [False, True])
def test_guard_on_alb_keys_the_hop_the_load_balancer_appended(multi_value: bool) -> None:
    call = guarded(RateLimiter.per_ip("1/minute"))
    answers = []
    for n in range(3):
        headers = {"x-forwarded-for": f"10.{n}.0.1, 198.51.100.{n}, 203.0.113.5",
                   "forwarded": f"for=192.0.2.{n}"}  # fmt: skip
        event = alb(
            "GET", "/orders", multi_value=multi_value, token=token(f"u{n}"), headers=headers
        )
        answers.append(status(call(event)))
    assert answers == [200, 429, 429]
    other = alb("GET", "/orders", token=token("u9"), headers={"x-forwarded-for": "203.0.113.6"})
    assert status(call(other)) == 200  # another client, another bucket


def test_alb_with_one_trusted_proxy_takes_the_second_hop_from_the_right() -> None:
    call = guarded(RateLimiter.per_ip("1/minute", trusted_proxies=1))
    forged = "9.9.9.9, 198.51.100.44, 130.176.0.1"
    assert status(
        call(alb("GET", "/orders", token=token("a"), headers={"x-forwarded-for": forged}))
    )
    # the client rewrites everything left of the viewer address: same bucket
    again = "1.1.1.1, 2.2.2.2, 198.51.100.44, 130.176.0.9"
    assert (
        status(call(alb("GET", "/orders", token=token("b"), headers={"x-forwarded-for": again})))
        == 429
    )


@pytest.mark.parametrize(
    "spellings",
    [
        ["2001:db8:a:b::1", "2001:DB8:A:B:0:0:0:2", "2001:0db8:000a:000b:ffff::3", "2001:db8:a:b::4%eth0"],
        ["::ffff:203.0.113.5", "203.0.113.5", "0:0:0:0:0:ffff:cb00:7105", "::FFFF:CB00:7105"],
    ],
)  # fmt: skip
def test_ipv6_spellings_of_one_client_share_one_redis_bucket(
    redis_url: str, spellings: list[str]
) -> None:
    limiter = RateLimiter.per_ip("3/minute", store=RedisStore(url=redis_url), deny_cache=False)
    call = guarded(limiter)
    answers = [
        status(call(http_proxy("GET", "/orders", token=token("a"), source_ip=ip)))
        for ip in spellings
    ]
    assert answers == [200, 200, 200, 429]


def test_neighbouring_ipv6_networks_are_distinct_clients() -> None:
    limiter = RateLimiter.per_ip("1/minute")
    assert limiter.hit(http_proxy("GET", "/", source_ip="2001:db8:a:b::1")).allowed
    assert limiter.hit(http_proxy("GET", "/", source_ip="2001:db8:a:c::1")).allowed
    assert not limiter.hit(http_proxy("GET", "/", source_ip="2001:db8:a:b:ffff::9")).allowed


def test_token_authorizer_with_a_per_ip_limit_refuses_rather_than_sharing_a_bucket() -> None:
    authorizer = Authorizer(
        verifier=verifier(), routes=ROUTES, rate_limit=RateLimiter.per_ip("1/minute"),
        decision_log=None,
    )  # fmt: skip
    for _ in range(2):
        with pytest.raises(Unauthorized):
            authorizer.handler(token_authorizer("GET", "/orders", token=token("alice")))


# == key collisions ==========================================================================


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (Principal("b:x", tenant="a"), Principal("x", tenant="a:b")),
        (Principal("x', 'y", tenant="t"), Principal("y", tenant="t', 'x")),
        (Principal("alice", issuer=ISSUER), Principal("alice")),
        (Principal("api_key:partner"), Principal("partner", kind="api_key")),
        (Principal("{slot}x"), Principal("{slot}y")),
        (Principal("alice", kind="api_key"), Principal("alice")),
    ],
)
def test_principal_ids_with_separators_never_share_a_redis_bucket(
    redis_url: str, first: Principal, second: Principal
) -> None:
    limiter = RateLimiter.per_principal("1/minute", store=RedisStore(url=redis_url))
    event = http_proxy("GET", "/orders", source_ip="203.0.113.5")
    assert principal_key(first) != principal_key(second)
    assert limiter.hit(event, first).allowed
    assert limiter.hit(event, second).allowed
    assert not limiter.hit(event, first).allowed


def test_principal_ids_differing_by_case_or_width_count_apart() -> None:
    """Held by design: a token's ``sub`` is case-sensitive at the IdP (two subjects)."""
    limiter = RateLimiter.per_principal("1/minute")
    event = http_proxy("GET", "/orders")
    answers = [
        limiter.hit(event, Principal(i, issuer=ISSUER)).allowed
        for i in ("bob", "Bob", "\uff42\uff4f\uff42")
    ]
    assert answers == [True, True, True]


@pytest.mark.parametrize(
    "tenant", ["acme#rl#x", "acme:1/60s:x", "{acme}", "acme\u0000", "~" + "0" * 30]
)
def test_tenant_values_never_reach_a_dynamodb_key_raw(ddb_client: Any, tenant: str) -> None:
    store = ddb_store(ddb_client, clock=lambda: 6000.0)
    limiter = RateLimiter.per_tenant("1/minute", store=store, deny_cache=False)
    event = http_proxy("GET", "/orders")
    assert limiter.hit(event, Principal("a", tenant=tenant)).allowed
    assert limiter.hit(event, Principal("a", tenant="acme")).allowed
    assert not limiter.hit(event, Principal("b", tenant=tenant)).allowed
    keys = [item["pk"]["S"] for item in ddb_client.scan(TableName=store.table)["Items"]]
    assert len(set(keys)) == 2
    assert all(k.count("#") == 3 for k in keys)  # prefix#rl#<key>#<window>: no "#" injected
    assert not any("{" in k or "\u0000" in k for k in keys)


def test_api_keys_with_separators_are_hashed_and_kept_apart(
    redis_url: str, redis_client: Any
) -> None:
    limiter = RateLimiter.per_api_key("1/minute", store=RedisStore(url=redis_url))
    alice = Principal("alice", issuer=ISSUER)
    keys = ["k:1/60s:x", "k", "{k}", "#" + "0" * 30]
    for key in keys:
        assert limiter.hit(http_proxy("GET", "/", headers={"x-api-key": key}), alice).allowed
    stored = [k.decode() for k in redis_client.keys("*")]
    assert len(stored) == len(keys)
    assert not any("{" in k or "k:1/60s" in k for k in stored)


# fmt: off
def test_two_per_key_limiters_on_one_store_never_share_buckets(redis_url: str) -> None:
    """A login endpoint limited per user name (from the body) and per device id (a header the
    client writes), both ``per_key("3/minute", ...)`` on one Redis store, as the docs' options
    table allows. Both default to ``name="key"``, so both count in ``key:3/60s:<value>``: a
    client that sends ``x-device-id: alice`` three times spends alice's per-user quota, and
    alice's own login is refused (a lockout of a victim the attacker only names)."""
    store = RedisStore(url=redis_url)

    def username(request: Any, principal: Any) -> str | None:
        value = json.loads(request.raw.get("body") or "{}").get("username")
        return value if isinstance(value, str) else None

    try:
        by_user = RateLimiter.per_key("3/minute", key=username, store=store)
        by_device = RateLimiter.per_key(
            "3/minute", key=lambda r, p: r.headers.get("x-device-id"), store=store
        )
        both = RateLimiter.combine(by_device, by_user)
    except ConfigurationError:
        return  # refusing two limiters with one namespace is a fix too
    for n in range(3):
        body = json.dumps({"username": "mallory"})
        event = http_proxy("POST", "/login", headers={"x-device-id": "alice"}, body=body,
                           source_ip=f"6.6.6.{n}")  # fmt: skip
        assert both.hit(event).allowed
    body = json.dumps({"username": "alice"})
    victim = http_proxy("POST", "/login", headers={"x-device-id": "phone-1"}, body=body)
    assert both.hit(victim).allowed
# fmt: on


# == refused credentials claiming a victim ===================================================


def test_forged_tokens_naming_a_victim_do_not_spend_its_principal_quota(redis_url: str) -> None:
    store = RedisStore(url=redis_url)
    call = guarded(RateLimiter.combine(
        RateLimiter.per_ip("100/minute", store=store),
        RateLimiter.per_principal("2/minute", store=store),
    ))  # fmt: skip
    forged = token("victim", secret=WRONG)
    for n in range(5):
        event = http_proxy("GET", "/orders", token=forged, source_ip=f"198.51.100.{n}")
        assert status(call(event)) == 401
    real = [status(call(http_proxy("GET", "/orders", token=token("victim")))) for _ in range(3)]
    assert real == [200, 200, 429]


def test_forged_tokens_in_the_authorizer_spend_only_the_guessers_ip(ddb_client: Any) -> None:
    store = ddb_store(ddb_client)
    authorizer = Authorizer(
        verifier=verifier(), routes=ROUTES, decision_log=None,
        rate_limit=RateLimiter.combine(
            RateLimiter.per_ip("3/minute", store=store),
            RateLimiter.per_principal("2/minute", store=store),
        ),
    )  # fmt: skip
    forged = token("victim", secret=WRONG)
    for _ in range(4):
        with pytest.raises(Unauthorized):
            authorizer.handler(
                request_authorizer("GET", "/orders", token=forged, source_ip="6.6.6.6")
            )
    good = [effect(authorizer.handler(request_authorizer("GET", "/orders", token=token("victim"),
                                                        source_ip="203.0.113.5")))
            for _ in range(3)]  # fmt: skip
    assert good == ["Allow", "Allow", "Deny"]
    # the guesser's own IP is spent: even a right token from there is refused
    assert effect(authorizer.handler(
        request_authorizer("GET", "/orders", token=token("guesser"), source_ip="6.6.6.6")
    )) == "Deny"  # fmt: skip


def test_unknown_api_keys_do_not_spend_the_entry_limit_and_spellings_share_it() -> None:
    keys = StaticApiKeys({hash_api_key(KEY): ApiKeyEntry("partner-a", rate_limit="2/minute")})
    authorizer = Authorizer(api_keys=keys, routes=ROUTES, decision_log=None)

    def ask(key: str) -> str:
        return effect(authorizer.handler(
            request_authorizer("GET", "/orders", headers={"x-api-key": key})))  # fmt: skip

    for n in range(5):
        with pytest.raises(Unauthorized):
            ask(KEY[:-1] + str(n))  # guesses near the key
    assert [ask(KEY), ask(f" {KEY}\t"), ask(KEY)] == ["Allow", "Allow", "Deny"]


def test_verified_caller_naming_another_key_in_a_header_is_documented_and_bounded() -> None:
    """Held as documented: an unchecked header names its bucket; anonymous callers are exempt."""
    limiter = RateLimiter.per_api_key("1/minute")
    event = http_proxy("GET", "/", headers={"x-api-key": KEY})
    assert limiter.hit(event).allowed
    assert limiter.hit(event).allowed
    assert limiter.hit(event, Principal("mallory", issuer=ISSUER)).allowed
    assert not limiter.hit(event, Principal("victim", issuer=ISSUER)).allowed


# == counters and windows ====================================================================


@pytest.mark.parametrize("cost", [0, -1, -100, True, 1.5, 6])
def test_costs_that_would_reset_or_drive_a_counter_negative_are_refused(cost: Any) -> None:
    clock = [6000.0]
    limiter = RateLimiter.per_ip("5/minute", store=MemoryStore(clock=lambda: clock[0]))
    event = http_proxy("GET", "/")
    for _ in range(5):
        assert limiter.hit(event).allowed
    with pytest.raises(ConfigurationError):
        limiter.hit(event, cost=cost)
    assert not limiter.hit(event).allowed


def test_dynamodb_fixed_window_edge_and_retry_after_follow_the_injected_clock(
    ddb_client: Any,
) -> None:
    clock = [6059.25]  # three quarters of a second before the minute's edge
    store = ddb_store(ddb_client, clock=lambda: clock[0])
    limiter = RateLimiter.per_ip("2/minute", store=store, deny_cache=False, headers="both")
    event = http_proxy("GET", "/")
    assert [limiter.hit(event).allowed for _ in range(2)] == [True, True]
    denied = limiter.hit(event)
    assert not denied.allowed
    assert denied.retry_after == pytest.approx(0.75)
    assert denied.headers()["Retry-After"] == "1"
    clock[0] = 6059.999999
    assert not limiter.hit(event).allowed  # not a microsecond early
    clock[0] = 6060.0
    assert limiter.hit(event).allowed


def test_sliding_window_never_admits_2n_in_one_period_across_an_edge() -> None:
    clock = [0.0]
    limiter = RateLimiter.per_ip("5/minute", store=MemoryStore(clock=lambda: clock[0]))
    event = http_proxy("GET", "/")
    admitted = []
    for at in [59.0 + i * 0.1 for i in range(10)] + [60.0 + i * 0.1 for i in range(10)]:
        clock[0] = at
        if limiter.hit(event).allowed:
            admitted.append(at)
    assert len(admitted) <= 2 * 5 - 1
    assert all(sum(1 for t in admitted if s <= t < s + 60) <= 9 for s in admitted)


def test_retry_after_is_exact_on_redis_for_gcra(redis_url: str) -> None:
    limiter = RateLimiter.per_ip(
        Limit.throttle(1, burst=2), algorithm="gcra", store=RedisStore(url=redis_url),
        deny_cache=False,
    )  # fmt: skip
    event = http_proxy("GET", "/")
    assert [limiter.hit(event).allowed for _ in range(2)] == [True, True]
    denied = limiter.hit(event)
    assert not denied.allowed
    assert 0 < denied.retry_after <= 1.0
    assert denied.reset_after >= denied.retry_after
    assert denied.headers()["Retry-After"] == "1"


# == shared stores: races, cluster ===========================================================


def test_two_containers_racing_on_one_dynamodb_table_admit_exactly_the_limit(dynalite: Any) -> None:
    from rl_services import dynamodb_client

    clock = lambda: 7200.0  # noqa: E731
    first = ddb_store(dynamodb_client(dynalite.port, max_pool_connections=20), clock=clock)
    second = DynamoDBStore(first.table, client=dynamodb_client(dynalite.port, max_pool_connections=20),
                           clock=clock, read_timeout=5.0, connect_timeout=5.0)  # fmt: skip
    first.client = dynamodb_client(dynalite.port, max_pool_connections=20)
    limiters = [RateLimiter.per_ip("7/minute", store=s, deny_cache=False, on_store_error="closed")
                for s in (first, second)]  # fmt: skip
    answers: list[Any] = []
    lock = threading.Lock()
    event = http_proxy("GET", "/", source_ip="203.0.113.5")

    def run(limiter: RateLimiter) -> None:
        for _ in range(4):
            result = limiter.hit(event)
            with lock:
                answers.append(result)

    threads = [threading.Thread(target=run, args=(limiters[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not any(a.degraded for a in answers), "a store call failed"
    assert sum(a.allowed for a in answers) == 7
    assert limiters[0].usage(event)[0].remaining == 0


def test_redis_cluster_every_limit_and_penalty_runs_in_one_slot(cluster: RedisCluster) -> None:
    store = RedisStore(cluster.url, cluster=True, prefix=prefix(), **PATIENT)
    limits = RateLimiter.combine(
        RateLimiter.per_ip("50/minute", store=store, on_store_error="closed"),
        RateLimiter.per_principal("3/minute", store=store, on_store_error="closed"),
        RateLimiter.per_tenant("50/minute", store=store, on_store_error="closed"),
        RateLimiter.per_api_key("50/minute", store=store, on_store_error="closed"),
    )
    penalty = AbusePenalty(store=store, auth_failures="2/minute", unknown_paths="2/minute",
                           on_store_error="closed")  # fmt: skip
    who = Principal("{x}:alice", issuer=ISSUER, tenant="{acme}")
    event = http_proxy("GET", "/orders", headers={"x-api-key": "{k}"}, source_ip="2001:db8::1")
    answers = [limits.hit(event, who) for _ in range(4)]
    assert [a.allowed for a in answers] == [True, True, True, False]
    assert not any(a.degraded for a in answers)  # a CROSSSLOT would be a store failure
    assert [penalty.record_auth_failure(event, "{alice}") for _ in range(3)][-1] > 0
    assert penalty.blocked_for(event, "{ALICE}") > 0
    assert [penalty.record_not_found(http_proxy("GET", f"/x{n}", source_ip="192.0.2.7"))
            for n in range(3)][-1] > 0  # fmt: skip


# == store failures ==========================================================================


def _killed_redis(redis_servers: Callable[..., Server], policy: str) -> tuple[Any, Server]:
    server = redis_servers()
    store = RedisStore(url=f"redis://127.0.0.1:{server.port}/0", **PATIENT)
    limiter = RateLimiter.per_ip("2/minute", store=store, on_store_error=policy)
    return limiter, server


def test_killed_redis_under_closed_answers_429_retry_after_1_and_names_no_store(
    redis_servers: Callable[..., Server], caplog: pytest.LogCaptureFixture
) -> None:
    limiter, server = _killed_redis(redis_servers, "closed")
    call = guarded(limiter)
    assert status(call(http_proxy("GET", "/orders", token=token("a")))) == 200
    server.stop()
    answers = [call(http_proxy("GET", "/orders", token=token("a"), source_ip=f"192.0.2.{n}"))
               for n in range(3)]  # fmt: skip
    assert [status(a) for a in answers] == [429, 429, 429]
    assert all(a["headers"]["Retry-After"] == "1" for a in answers)
    text = json.dumps(answers)
    assert str(server.port) not in text
    assert "redis" not in text.lower()
    assert "127.0.0.1" not in text
    assert "192.0.2" not in text


def test_killed_redis_under_open_admits_as_documented(redis_servers: Callable[..., Server]) -> None:
    limiter, server = _killed_redis(redis_servers, "open")
    server.stop()
    results = [limiter.hit(http_proxy("GET", "/")) for _ in range(5)]
    assert all(r.allowed and r.degraded for r in results)


def test_killed_redis_under_memory_keeps_an_exhausted_client_denied(
    redis_servers: Callable[..., Server],
) -> None:
    limiter, server = _killed_redis(redis_servers, "memory")
    event = http_proxy("GET", "/", source_ip="203.0.113.5")
    assert [limiter.hit(event).allowed for _ in range(3)] == [True, True, False]
    server.stop()
    # the deny cache still holds the store's denial: no fresh quota from the fallback
    assert not limiter.hit(event).allowed
    fresh = [limiter.hit(http_proxy("GET", "/", source_ip="203.0.113.6")) for _ in range(3)]
    assert [r.allowed for r in fresh] == [True, True, False]
    assert all(r.degraded for r in fresh)


def test_missing_dynamodb_table_fails_closed_through_the_authorizer(ddb_client: Any) -> None:
    store = DynamoDBStore("review99-missing-table", client=ddb_client)
    authorizer = Authorizer(
        verifier=verifier(), routes=ROUTES, decision_log=None,
        rate_limit=RateLimiter.per_principal("5/minute", store=store, on_store_error="closed"),
    )  # fmt: skip
    event = request_authorizer("GET", "/orders", token=token("alice"))
    assert effect(authorizer.handler(event)) == "Deny"


# == what a 429 carries ======================================================================


def test_a_429_names_no_other_client_key_or_address() -> None:
    store = MemoryStore()
    call = guarded(RateLimiter.combine(
        RateLimiter.per_ip("1/minute", store=store),
        RateLimiter.per_api_key("5/minute", store=store),
    ))  # fmt: skip
    other = http_proxy("GET", "/orders", token=token("victim"), source_ip="198.51.100.77",
                       headers={"x-api-key": KEY})  # fmt: skip
    assert status(call(other)) == 200
    mine = http_proxy("GET", "/orders", token=token("mallory"), source_ip="203.0.113.5")
    assert status(call(mine)) == 200
    denied = call(mine)
    assert status(denied) == 429
    text = json.dumps(denied)
    for secret in ("victim", "198.51.100.77", KEY, "mallory", "203.0.113.5", "MemoryStore"):
        assert secret not in text
    assert json.loads(denied["body"])["status"] == 429


def test_rate_limit_with_authorizer_caching_is_refused_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="cache_ttl=0"):
        Authorizer(verifier=verifier(), routes=ROUTES, rate_limit=RateLimiter.per_ip("1/minute"),
                   cache_ttl=300, decision_log=None)  # fmt: skip
