"""Review 64: adversarial follow-ups on the fixes of reviews 60 to 63.

What was attacked: the ALB issuer fix (80dbce3), the DPoP-typed introspection answer and
``"cnf": null`` (4005dfe), the rate-limit stores' eviction check, the cost check and
``Limit.describe`` (7b6f6ae), and the merged ``Vary`` / ``Vary: Origin`` / header checks
(946b7e0). Only loopback servers: private redis-servers (one with ``INFO`` renamed, one
with a password, evicting ones), a real Redis Cluster, the scripted RFC 7662 server and
``LocalAlb``. No mocks, no sleeps, no durations asserted.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; the attacks that
held are plain tests. Earlier reviews' tests (tests/test_review60_ratelimit.py to
tests/test_review63_keys_browser.py) are not repeated.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import ALBResolver, APIGatewayRestResolver, Response
from dpop_parties import AUD, CLIENT, ISS, ISSUER, URL, VERIFIER
from rl_services import PATIENT, Server, redis_cluster
from scripted_as import ScriptedAS, active, introspector, opaque

from secauth import ClaimMapper, Guard, JwtVerifier
from secauth.access import Routes, authenticated
from secauth.alb import AlbVerifier
from secauth.dpop import DpopVerifier
from secauth.dpop_replay import MemoryReplayStore
from secauth.errors import AbuseBlocked, ConfigurationError, InvalidClaims
from secauth.integrations.powertools import guard_middleware
from secauth.ratelimit import (
    AbusePenalty,
    AsyncRedisStore,
    Limit,
    RateLimiter,
    RedisStore,
    StoreError,
)
from secauth.responses import Cors, SecurityHeaders
from secauth.sender_constraint import SenderConstraint
from secauth.testing import KeyPair
from secauth.testing_alb import LocalAlb
from secauth.testing_events import alb, http_proxy, rest_proxy
from secauth.token_sources import TokenSource

APP = "https://app.example.com"
EVIL = "https://evil.example"
PAIR = KeyPair.generate("ES256", kid="r64")
R64_ISS = "https://idp.review64.example/"
R64_VERIFIER = JwtVerifier(issuer=R64_ISS, audience="api", jwks={"keys": [PAIR.public_jwk]})
LIMIT = Limit(5, 60)


def bearer() -> dict[str, str]:
    token = PAIR.sign({"iss": R64_ISS, "aud": "api", "sub": "ann", "exp": 4_000_000_000})
    return {"authorization": f"Bearer {token}"}


def vary_values(response: dict[str, Any]) -> dict[str, list[str]]:
    """Every Vary key of a response (headers and multiValueHeaders) -> its field names,
    lower-cased."""
    found: dict[str, list[str]] = {}
    for section in ("headers", "multiValueHeaders"):
        for name, value in (response.get(section) or {}).items():
            if name.lower() != "vary":
                continue
            values = value if isinstance(value, list) else [value]
            names = [n.strip().lower() for v in values for n in str(v).split(",") if n.strip()]
            found.setdefault(f"{section}:{name}", []).extend(names)
    return found


def all_vary(response: dict[str, Any]) -> set[str]:
    return {n for names in vary_values(response).values() for n in names}


def cors_guard(result: Any, **options: Any) -> Any:
    """A guarded handler (CORS for APP) that answers ``result`` (or raises it)."""
    guard = Guard(R64_VERIFIER, routes=Routes({"GET /me": authenticated()}),
                  cors=Cors(allow_origins=[APP]), decision_log=None, **options)  # fmt: skip

    @guard
    def me(event: Any, context: Any, principal: Any) -> Any:
        if isinstance(result, Exception):
            raise result
        return json.loads(json.dumps(result))

    return me


def _url(server: Server, auth: str = "") -> str:
    return f"redis://{auth}127.0.0.1:{server.port}/0"


async def _async_hit(url: str, **options: Any) -> Any:
    store = AsyncRedisStore(url=url, **PATIENT, **options)
    try:
        return await store.hit_async("ip:203.0.113.5", LIMIT, "gcra")
    finally:
        await store.aclose()


def _event(ip: str = "203.0.113.5") -> dict[str, Any]:
    return http_proxy("POST", "/login", source_ip=ip)


# =========================================================================================
# Findings
# =========================================================================================


@pytest.mark.parametrize("spelling", [" DPoP", "DPoP ", "DPoP\t"])
@pytest.mark.parametrize("bound_tokens", [False, True])
def test_a_dpop_type_with_whitespace_and_no_key_is_never_a_bearer_token(
    scripted: ScriptedAS, spelling: str, bound_tokens: bool
) -> None:
    # The server calls the token DPoP-bound (padded) and names no key: 4005dfe refuses
    # "DPoP" in any case; padding should not turn it back into a bearer token.
    token = opaque()
    scripted.answer(token, active(time.time(), token_type=spelling))
    verifier = introspector(scripted, token_type=None, bound_tokens=bound_tokens)
    with pytest.raises(InvalidClaims):
        verifier.verify(token)


@pytest.mark.parametrize("value", ["a\x85b", "a\x9b31mb", "a\u2028b"], ids=["nel", "csi", "ls"])
def test_security_headers_refuse_c1_controls_and_line_separators(value: str) -> None:
    with pytest.raises(ConfigurationError):
        SecurityHeaders(extra={"X-Review": value})


@pytest.mark.parametrize("name", ["vary", "Vary"])
def test_a_security_header_vary_is_merged_with_the_cors_vary(name: str) -> None:
    me = cors_guard({"statusCode": 200, "body": "x"},
                    security_headers=SecurityHeaders(extra={name: "Accept-Encoding"}))  # fmt: skip
    answers = [
        me(http_proxy("GET", "/me", headers={**bearer(), "origin": APP}), None),
        me(http_proxy("GET", "/me", headers={"origin": APP}), None),  # 401
        me(http_proxy("OPTIONS", "/me", headers={"origin": EVIL,
                                                 "access-control-request-method": "GET"}), None),
    ]
    for answer in answers:
        keys = vary_values(answer)
        assert len(keys) == 1, keys  # one Vary, whatever a gateway keeps of duplicates
        assert {"origin", "accept-encoding"} <= set(next(iter(keys.values())))


@pytest.mark.parametrize("via", ["guard", "powertools"])
def test_every_case_variant_of_a_handler_vary_carries_origin(via: str) -> None:
    handler_headers = {"Vary": "Accept-Encoding", "vary": "Cookie"}
    if via == "guard":
        answer = cors_guard({"statusCode": 200, "headers": handler_headers, "body": "x"})(
            http_proxy("GET", "/me", headers={**bearer(), "origin": APP}), None
        )
    else:
        app = ALBResolver()
        app.use(middlewares=[guard_middleware(
            Guard(R64_VERIFIER, cors=Cors(allow_origins=[APP]), decision_log=None))])  # fmt: skip

        @app.get("/me")
        def me() -> Any:
            return Response(200, "text/plain", "x", headers=dict(handler_headers))

        answer = app.resolve(alb("GET", "/me", headers={**bearer(), "origin": APP}), None)
    assert answer["statusCode"] == 200
    for key, names in vary_values(answer).items():
        assert "origin" in names, (key, vary_values(answer))


# =========================================================================================
# Held: the Redis eviction check (7b6f6ae)
# =========================================================================================


def test_one_evicting_primary_of_a_cluster_fails_sync_async_and_penalty_stores() -> None:
    cluster = redis_cluster(3).start()
    try:
        primaries = [port for port, role in cluster.roles().items() if role == "master"]
        store = RedisStore(url=cluster.url, cluster=True, eviction_recheck=0, **PATIENT)
        assert store.hit("ip:203.0.113.5", LIMIT, "gcra").allowed  # every primary: fine
        cluster.ask(primaries[-1], "CONFIG", "SET", "maxmemory", "64mb")
        cluster.ask(primaries[-1], "CONFIG", "SET", "maxmemory-policy", "volatile-lru")
        with pytest.raises(StoreError, match="volatile-lru"):
            store.hit("ip:203.0.113.5", LIMIT, "gcra")
        with pytest.raises(StoreError, match="volatile-lru"):
            asyncio.run(_async_hit(cluster.url, cluster=True))
        penalty = AbusePenalty(store=RedisStore(url=cluster.url, cluster=True, **PATIENT),
                               auth_failures="3/minute", cooldown=900, on_store_error="closed",
                               deny_cache=False)  # fmt: skip
        with pytest.raises(AbuseBlocked):  # the store refused: closed blocks, never admits
            penalty.check(_event())
        cluster.ask(primaries[-1], "CONFIG", "SET", "maxmemory-policy", "noeviction")
        assert store.hit("ip:203.0.113.6", LIMIT, "gcra").allowed
        assert asyncio.run(_async_hit(cluster.url, cluster=True)).allowed
    finally:
        cluster.stop()


def test_a_renamed_info_is_a_store_failure_sync_async_and_for_penalties(
    redis_servers: Callable[..., Server],
) -> None:
    url = _url(redis_servers("--rename-command", "INFO", ""))
    with pytest.raises(StoreError, match="cannot read the eviction policy"):
        RedisStore(url=url, **PATIENT).hit("ip:203.0.113.5", LIMIT, "gcra")
    with pytest.raises(StoreError, match="cannot read the eviction policy"):
        asyncio.run(_async_hit(url))
    limiter = RateLimiter.per_ip("100/minute", store=RedisStore(url=url, **PATIENT),
                                 on_store_error="closed")  # fmt: skip
    result = limiter.hit(_event())
    assert not result.allowed
    assert result.degraded
    penalty = AbusePenalty(store=RedisStore(url=url, **PATIENT), auth_failures="3/minute",
                           cooldown=900, on_store_error="closed", deny_cache=False)  # fmt: skip
    with pytest.raises(AbuseBlocked):
        penalty.check(_event())
    # the opt-out works on it (a server that refuses INFO)
    assert RedisStore(url=url, check_eviction=False, **PATIENT).hit("k", LIMIT, "gcra").allowed


def test_an_eviction_check_that_cannot_log_in_names_no_password(
    redis_servers: Callable[..., Server], caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Wr0ng-r64-PASSWORD-9f3e"
    url = _url(redis_servers("--requirepass", "right-r64-password"), f":{secret}@")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StoreError) as refused:
        RedisStore(url=url, **PATIENT).hit("ip:203.0.113.5", LIMIT, "gcra")
    assert "AuthenticationError" in str(refused.value)
    limiter = RateLimiter.per_ip("100/minute", store=RedisStore(url=url, **PATIENT))
    assert limiter.hit(_event()).degraded
    with pytest.raises(StoreError) as async_refused:
        asyncio.run(_async_hit(url))
    for text in (str(refused.value), str(async_refused.value), repr(limiter), caplog.text):
        assert secret not in text
        assert "right-r64-password" not in text


def test_a_resp3_client_is_checked_like_a_resp2_one(redis_servers: Callable[..., Server]) -> None:
    import redis

    evicting = redis_servers("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lfu")
    client = redis.Redis(host="127.0.0.1", port=evicting.port, protocol=3)
    with pytest.raises(StoreError, match="allkeys-lfu"):
        RedisStore(client=client).hit("ip:203.0.113.5", LIMIT, "gcra")
    client.close()
    bounded = redis_servers("--maxmemory", "64mb", "--maxmemory-policy", "noeviction")
    client = redis.Redis(host="127.0.0.1", port=bounded.port, protocol=3)
    assert RedisStore(client=client).hit("ip:203.0.113.5", LIMIT, "gcra").allowed
    client.close()


def test_a_server_turning_evicting_is_caught_by_the_recheck_and_shared_by_every_user(
    redis_servers: Callable[..., Server],
) -> None:
    import redis

    server = redis_servers()
    store = RedisStore(url=_url(server), eviction_recheck=0, **PATIENT)
    limiter = RateLimiter.per_ip("100/minute", store=store, on_store_error="closed",
                                 deny_cache=False)  # fmt: skip
    penalty = AbusePenalty(store=store, auth_failures="3/minute", cooldown=900,
                           on_store_error="closed", deny_cache=False)  # fmt: skip
    first = limiter.hit(_event())
    assert first.allowed
    assert not first.degraded
    penalty.check(_event())  # not blocked
    admin = redis.Redis(host="127.0.0.1", port=server.port)
    admin.config_set("maxmemory", "64mb")
    admin.config_set("maxmemory-policy", "volatile-ttl")
    turned = limiter.hit(_event())
    assert turned.degraded
    assert not turned.allowed
    with pytest.raises(AbuseBlocked):  # the penalty store is the same store: refused too
        penalty.check(_event())
    admin.config_set("maxmemory-policy", "noeviction")
    admin.close()
    # a limiter whose breaker never opened goes to the store again, which passes
    fresh = RateLimiter.per_ip("100/minute", store=store, on_store_error="closed")
    again = fresh.hit(_event())
    assert not again.degraded
    assert again.allowed
    assert again.remaining == 100 - 2  # the store counted the first hit and this one


def test_the_async_limiter_checks_cost_before_any_store(redis_url: str) -> None:
    limiter = RateLimiter.per_ip("2/minute", store=AsyncRedisStore(url=redis_url),
                                 on_store_error="open", deny_cache=False)  # fmt: skip

    async def run() -> list[bool]:
        for cost in (True, 0, 3, 1.0, -1):
            with pytest.raises(ConfigurationError):
                await limiter.hit_async(_event(), cost=cost)  # type: ignore[arg-type]
        allowed = [(await limiter.hit_async(_event())).allowed for _ in range(3)]
        await limiter.store.aclose()
        return allowed

    assert asyncio.run(run()) == [True, True, False]  # the refusals never tripped a breaker


@pytest.mark.parametrize(
    "period_us",
    [1_000, 1_001, 999_999, 1_000_000, 1_000_001, 59_999_999, 31_622_399_999_999,
     31_622_400_000_000],
)  # fmt: skip
def test_describe_tells_neighbouring_microseconds_apart(period_us: int) -> None:
    here = Limit(3, period_us / 1_000_000)
    assert here.period_us == period_us
    below = Limit(3, (period_us - 1) / 1_000_000) if period_us > 1_000 else None
    if below is not None:
        assert below.period_us == period_us - 1
        assert below.describe() != here.describe()
    assert Limit(3, period_us / 1_000_000).describe() == here.describe()
    assert Limit.parse("100/minute").describe() == "100/60s"  # keys of old deployments kept


# =========================================================================================
# Held: Vary (946b7e0)
# =========================================================================================


def test_alb_multi_value_handler_vary_list_is_merged_once() -> None:
    event = alb("GET", "/me", headers={**bearer(), "origin": APP}, multi_value=True)
    result = {"statusCode": 200, "multiValueHeaders": {"vary": ["Accept-Encoding", "ORIGIN"]}}
    answer = cors_guard(result)(event, None)
    assert answer["multiValueHeaders"]["vary"] == ["Accept-Encoding, ORIGIN"]
    assert "Vary" not in answer["multiValueHeaders"]


@pytest.mark.parametrize("value", ["*", "Accept, *", ["Cookie", "*"]])
def test_a_handler_vary_star_is_left_alone(value: Any) -> None:
    answer = cors_guard({"statusCode": 200, "headers": {"Vary": value}})(
        http_proxy("GET", "/me", headers={**bearer(), "origin": APP}), None
    )
    assert answer["headers"]["Vary"] == value


def test_a_rest_answer_with_both_maps_still_varies_on_origin_and_the_handlers_field() -> None:
    # API Gateway merges headers and multiValueHeaders: the union must carry both names.
    result = {"statusCode": 200, "headers": {"Vary": "Accept-Encoding"},
              "multiValueHeaders": {"Set-Cookie": ["a=b"]}}  # fmt: skip
    answer = cors_guard(result)(rest_proxy("GET", "/me", headers={**bearer(), "origin": APP}),
                                None)  # fmt: skip
    assert {"origin", "accept-encoding"} <= all_vary(answer)


@pytest.mark.parametrize(
    ("method", "path", "headers", "raised"),
    [
        ("GET", "/me", {}, None),  # 401 without origin
        ("GET", "/nope", "token", None),  # 404
        ("DELETE", "/me", "token", None),  # 405
        ("GET", "/me", "token", RuntimeError("boom")),  # 500
        ("OPTIONS", "/me", {"access-control-request-method": "GET"}, None),  # refused preflight
    ],
    ids=["401", "404", "405", "500", "preflight"],
)
@pytest.mark.parametrize("origin", [None, EVIL, APP])
def test_every_refusal_of_a_cors_guard_varies_on_origin(
    method: str, path: str, headers: Any, raised: Exception | None, origin: str | None
) -> None:
    sent = dict(bearer()) if headers == "token" else dict(headers)
    if origin is not None:
        sent["origin"] = origin
    me = cors_guard(raised if raised is not None else {"statusCode": 200})
    answer = me(http_proxy(method, path, headers=sent), None)
    if not (method == "OPTIONS" and origin == APP):
        assert answer["statusCode"] >= 400
    assert "origin" in all_vary(answer)
    allowed = answer["headers"].get("Access-Control-Allow-Origin")
    assert allowed in (None, APP)
    assert allowed is None or origin == APP


def test_a_429_of_a_cors_guard_varies_on_origin() -> None:
    me = cors_guard({"statusCode": 200},
                    rate_limit=RateLimiter.per_ip("1/minute", deny_cache=False))  # fmt: skip
    event = http_proxy("GET", "/me", headers={**bearer(), "origin": EVIL}, source_ip="192.0.2.9")
    assert me(event, None)["statusCode"] == 200
    refused = me(event, None)
    assert refused["statusCode"] == 429
    assert "origin" in all_vary(refused)


def test_an_async_handler_gets_the_same_merged_vary() -> None:
    guard = Guard(R64_VERIFIER, cors=Cors(allow_origins=[APP]), decision_log=None)

    @guard
    async def me(event: Any, context: Any, principal: Any) -> dict[str, Any]:
        return {"statusCode": 200, "headers": {"vary": "Accept-Encoding"}, "body": "x"}

    answer = me(http_proxy("GET", "/", headers={**bearer(), "origin": EVIL}), None)
    if asyncio.iscoroutine(answer):
        answer = asyncio.run(answer)
    assert answer["headers"]["vary"] == "Accept-Encoding, Origin"
    assert "Access-Control-Allow-Origin" not in answer["headers"]


@pytest.mark.parametrize("route", ["plain", "list", "raises"])
def test_powertools_rest_answers_vary_on_origin_like_the_guard(route: str) -> None:
    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(
        Guard(R64_VERIFIER, cors=Cors(allow_origins=[APP]), decision_log=None))])  # fmt: skip

    @app.get("/plain")
    def plain() -> dict[str, int]:
        return {"ok": 1}

    @app.get("/list")
    def listed() -> Any:
        return Response(200, "text/plain", "x", headers={"Vary": ["Accept-Encoding", "Cookie"]})

    @app.get("/raises")
    def raises() -> Any:
        raise RuntimeError("boom")

    for origin in (None, EVIL, APP):
        headers = {**bearer(), **({"origin": origin} if origin else {})}
        answer = app.resolve(rest_proxy("GET", f"/{route}", headers=headers), None)
        assert "origin" in all_vary(answer), answer
        if route == "list":
            assert {"accept-encoding", "cookie"} <= all_vary(answer)


# =========================================================================================
# Held: DPoP-typed answers and cnf shapes (4005dfe), the ALB issuer (80dbce3)
# =========================================================================================


def _guarded(verifier: Any) -> Any:
    constraint = SenderConstraint(dpop=DpopVerifier(replay=MemoryReplayStore()))
    guard = Guard(verifier, decision_log=None, sender_constraint=constraint,
                  claims=ClaimMapper(id_claim="sub"))  # fmt: skip
    return guard(lambda event, context: {"statusCode": 200, "body": "ok"})


@pytest.mark.parametrize(
    "cnf",
    [{"jkt": ""}, {"jkt": 0}, {"jkt": [CLIENT.jkt]}, {"jkt": CLIENT.jkt, "x": 1},
     {"JKT": CLIENT.jkt}],
    ids=["empty", "number", "list", "extra-member", "upper-case"],
)  # fmt: skip
def test_odd_dpop_confirmations_never_pass_even_with_a_good_proof(cnf: Any) -> None:
    token = ISSUER.sign({"iss": ISS, "aud": AUD, "sub": "ann", "exp": int(time.time()) + 600,
                         "cnf": cnf})  # fmt: skip
    handler = _guarded(VERIFIER)
    for scheme in ("DPoP", "Bearer"):
        proof = CLIENT.proof("GET", URL, access_token=token)
        event = http_proxy("GET", "/orders/7",
                           headers={"authorization": f"{scheme} {token}", "dpop": proof})  # fmt: skip
        assert handler(event, None)["statusCode"] == 401


@pytest.mark.parametrize("cnf", [None, {}, {"jwk": {"kty": "EC"}}, {"jkt": None}])
def test_a_dpop_typed_answer_with_an_unusable_key_is_refused_under_every_setting(
    scripted: ScriptedAS, cnf: Any
) -> None:
    for options in ({}, {"token_type": None, "bound_tokens": True}, {"bound_tokens": True}):
        token = opaque()
        scripted.answer(token, {**active(time.time(), token_type="dpop"), "cnf": cnf})
        handler = _guarded(introspector(scripted, **options))
        for scheme in ("Bearer", "DPoP"):
            proof = CLIENT.proof("GET", URL, access_token=token)
            event = http_proxy("GET", "/orders/7",
                               headers={"authorization": f"{scheme} {token}", "dpop": proof})  # fmt: skip
            assert handler(event, None)["statusCode"] == 401


@pytest.fixture(scope="module")
def local_alb() -> Iterator[LocalAlb]:
    with LocalAlb() as running:
        yield running


@pytest.mark.parametrize("header_iss", [42, ["https://idp.example.com"], {"a": 1}])
def test_an_alb_header_iss_that_is_no_string_is_refused_not_replaced(
    local_alb: LocalAlb, header_iss: Any
) -> None:
    verifier = AlbVerifier(alb_arn=local_alb.arn, issuer=None, client_id=local_alb.client_id,
                           key_endpoint=local_alb.key_endpoint, allow_http=True)  # fmt: skip
    token = local_alb.token(sub="a", iss="https://evil.example", headers={"iss": header_iss})
    with pytest.raises(InvalidClaims):
        verifier.verify(token)
    with pytest.raises(InvalidClaims):
        asyncio.run(verifier.verify_async(token))


def test_an_empty_alb_header_iss_leaves_the_principal_without_an_issuer(
    local_alb: LocalAlb,
) -> None:
    verifier = AlbVerifier(alb_arn=local_alb.arn, issuer=None, client_id=local_alb.client_id,
                           key_endpoint=local_alb.key_endpoint, allow_http=True)  # fmt: skip
    token = local_alb.token(sub="a", iss="https://evil.example", headers={"iss": ""})
    for claims in (verifier.verify(token), asyncio.run(verifier.verify_async(token))):
        assert claims["iss"] == ""
    seen: list[Any] = []
    guard = Guard(verifier, token_sources=[TokenSource.header(verifier.header)],
                  decision_log=None)  # fmt: skip

    @guard
    def handler(event: Any, context: Any, principal: Any) -> dict[str, Any]:
        seen.append(principal.issuer)
        return {"statusCode": 200, "body": ""}

    answer = handler(alb("GET", "/p", headers={verifier.header: token}), None)
    assert answer["statusCode"] == 200
    assert seen == [None]
