"""``RateLimiter.per_plan``: limits chosen per request from the caller's plan.

Malformed tables refused at construction; plans read from a claim, an API key entry or
a group; unknown plans refused at request time (``unknown_plan``) in a Guard (403) and
an Authorizer (Unauthorized, reason in the decision record); usage per plan; and a
plan-chosen decision costing the round trips of the same limits without plans on a
real redis-server and dynalite.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest
import redis
from guard_events import VERIFIER, http_v2, token
from rl_services import RequestCounter

from secauth import Authorizer, Guard, Routes, StaticApiKeys, authenticated
from secauth.credentials import ApiKeyEntry, hash_api_key
from secauth.errors import ConfigurationError, Reason, UnknownPlan
from secauth.policy import Unauthorized
from secauth.principal import Principal
from secauth.ratelimit import Limit, MemoryStore, PlanFrom, RateLimiter
from secauth.ratelimit.dynamodb_store import DynamoDBStore
from secauth.ratelimit.redis_store import RedisStore

TABLE = {"free": ["2/minute", "10000/month"], "pro": ["100/minute", "1000000/month"]}
ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/orders"
FREE_KEY = "free-key-0123456789abcdefgh"
PRO_KEY = "pro-key-0123456789abcdefghi"
GOLD_KEY = "gold-key-0123456789abcdefgh"


def event(ip: str = "198.51.100.7") -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": "/orders",
        "requestContext": {"http": {"method": "GET", "path": "/orders", "sourceIp": ip}},
    }


def user(plan: Any = None, sub: str = "alice", **options: Any) -> Principal:
    return Principal(sub, claims=None if plan is None else {"plan": plan}, **options)


def store() -> MemoryStore:
    # both clocks stand still: on a minute edge, and on 2025-03-10 12:00 UTC
    return MemoryStore(clock=lambda: 6000.0, wall_clock=lambda: 1_741_608_000.0)


# --- construction -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "options", "message"),
    [
        ({}, {}, "a plan table is a non-empty dict"),
        ([("free", "1/s")], {}, "a plan table is a non-empty dict"),
        ({"free plan": "1/s"}, {}, "a plan name is 1-64 letters"),
        ({"": "1/s"}, {}, "a plan name is 1-64 letters"),
        ({3: "1/s"}, {}, "a plan name is 1-64 letters"),
        ({"free": []}, {}, "plan 'free' needs a limit or a list of limits"),
        ({"free": None}, {}, "plan 'free' needs a limit or a list of limits"),
        ({"free": ["10/fortnight"]}, {}, "plan table: plan 'free': invalid rate limit"),
        ({"free": ["10/mo"]}, {}, "ambiguous period 'mo'"),
        ({"free": ["1/s", "1/second"]}, {}, "'1/1s' is listed twice"),
        ({"free": "10000/month"}, {"algorithm": "gcra"}, "algorithm='fixed_window'"),
        ({"free": "1/s"}, {"default": "pro"}, "default plan 'pro' is not in the plan table"),
        ({"free": "1/s"}, {"name": ""}, "non-empty string"),
        ({"free": "1/s"}, {"key": lambda request, principal: "all"}, "needs name="),
    ],
)
def test_malformed_tables_are_refused_at_construction(
    table: Any, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError) as exc:
        RateLimiter.per_plan(table, plan_of=PlanFrom.claim(), **options)
    assert message in exc.value.public_message


def test_plan_of_must_be_a_plan_source() -> None:
    with pytest.raises(ConfigurationError, match="plan_of must be a PlanFrom"):
        RateLimiter.per_plan(TABLE, plan_of=lambda p: "free")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        PlanFrom.claim("")


def test_each_limit_is_a_limiter_named_after_its_plan() -> None:
    limiter = RateLimiter.per_plan(TABLE, plan_of=PlanFrom.claim(), store=store())
    assert [r.name for r in limiter.plans["free"]] == ["free:2/60s", "free:10000/month"]
    assert [r.algorithm for r in limiter.plans["free"]] == ["sliding_window", "fixed_window"]
    assert limiter.plans["pro"][1].limit == Limit.quota(1000000, "month")


# --- at request time --------------------------------------------------------------------


def test_the_claim_chooses_the_plan() -> None:
    limiter = RateLimiter.per_plan(TABLE, plan_of=PlanFrom.claim("plan"), store=store())
    free = [limiter.hit(event(), user("free")) for _ in range(3)]
    assert [r.allowed for r in free] == [True, True, False]
    assert free[0].headers()["RateLimit-Policy"] == (
        '"free:2/60s";q=2;w=60, "free:10000/month";q=10000;w=2678400'
    )
    pro = [limiter.hit(event(), user("pro", sub="bob")) for _ in range(3)]
    assert all(pro)
    assert pro[-1].parts[0].remaining == 97


def test_unknown_missing_and_malformed_plans_are_refused() -> None:
    limiter = RateLimiter.per_plan(TABLE, plan_of=PlanFrom.claim())
    for principal, problem in (
        (user("gold"), "plan not in the table"),
        (user(), "no plan"),
        (user(["pro"]), "claim 'plan' is not a string"),
    ):
        with pytest.raises(UnknownPlan) as exc:
            limiter.hit(event(), principal)
        assert exc.value.reason is Reason.UNKNOWN_PLAN
        assert exc.value.status == 403
        assert exc.value.detail["problem"] == problem


def test_a_default_plan_serves_callers_without_one_but_not_unknown_plans() -> None:
    limiter = RateLimiter.per_plan(TABLE, plan_of=PlanFrom.claim(), default="free")
    assert limiter.plan_for(user()) == "free"
    with pytest.raises(UnknownPlan):
        limiter.plan_for(user("gold"))


def test_anonymous_callers_are_exempt_with_the_principal_key() -> None:
    limiter = RateLimiter.per_plan(TABLE, plan_of=PlanFrom.claim())
    result = limiter.hit(event(), None)
    assert result.exempt
    assert result.headers() == {}
    assert limiter.usage(event(), None) == ()


def test_api_key_entries_carry_their_plan() -> None:
    limiter = RateLimiter.per_plan(TABLE, plan_of=PlanFrom.api_key(), store=store())
    principal = ApiKeyEntry("partner-a", plan="free").principal()
    assert [limiter.hit(event(), principal).allowed for _ in range(3)] == [True, True, False]
    # a token's "plan" claim is not an API key's plan
    with pytest.raises(UnknownPlan):
        limiter.hit(event(), user("pro"))
    with pytest.raises(ConfigurationError, match="a plan name is"):
        ApiKeyEntry("partner-b", plan="gold plan")


def test_groups_and_sources_in_order() -> None:
    by_group = PlanFrom.group()
    assert by_group(Principal("u", groups=["staff", "pro", "free"]), ("free", "pro")) == "free"
    prefixed = PlanFrom.group(prefix="plan-")
    assert prefixed(Principal("u", groups=["pro", "plan-free"]), ("free", "pro")) == "free"
    source = PlanFrom.claim("tier") | PlanFrom.api_key() | PlanFrom.group()
    assert repr(source) == "PlanFrom(claim 'tier' | api_key | group)"
    both = Principal("u", groups=["free"], claims={"tier": "pro"})
    assert source(both, ("free", "pro")) == "pro"  # the first source that finds one
    assert source(Principal("u", groups=["free"]), ("free", "pro")) == "free"
    assert source(Principal("u"), ("free", "pro")) is None


def test_cognito_group_plans() -> None:
    from secauth.principal import ClaimMapper

    mapper = ClaimMapper.cognito()
    principal = mapper.map({"sub": "u-1", "cognito:groups": ["admins", "pro"]})
    limiter = RateLimiter.per_plan(TABLE, plan_of=PlanFrom.group())
    assert limiter.plan_for(principal) == "pro"


def test_usage_per_plan_by_request_or_key() -> None:
    limiter = RateLimiter.per_plan(TABLE, plan_of=PlanFrom.claim(), store=store())
    alice = user("free")
    limiter.hit(event(), alice)
    usage = limiter.usage(event(), alice)
    assert [(u.policy, u.limit, u.remaining) for u in usage] == [
        ("free:2/60s", 2, 1),
        ("free:10000/month", 10000, 9999),
    ]
    assert limiter.usage("user:alice", plan="free") == usage  # the key function's value
    assert limiter.usage("user:alice", alice) == usage
    assert limiter.usage(event(), alice, plan="pro")[0].remaining == 100
    with pytest.raises(UnknownPlan):
        limiter.usage("user:alice", plan="gold")
    assert asyncio.run(limiter.usage_async(event(), alice)) == usage
    assert limiter.usage(event(), alice) == usage  # reading spent nothing


# --- in a Guard and an Authorizer -------------------------------------------------------


def ok(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


def test_guard_with_plans_from_claims() -> None:
    records: list[Mapping[str, Any]] = []
    limiter = RateLimiter.per_plan(TABLE, plan_of=PlanFrom.claim(), store=store())
    handler = Guard(
        VERIFIER,
        routes=Routes({"GET /orders/{id}": authenticated()}),
        rate_limit=limiter,
        decision_log=None,
        on_decision=records.append,
    )(ok)

    def call(**claims: Any) -> dict[str, Any]:
        bearer = f"Bearer {token(**claims)}"
        return handler(http_v2("GET", "/orders/7", authorization=bearer), None)

    answers = [call(plan="free") for _ in range(3)]
    assert [a["statusCode"] for a in answers] == [200, 200, 429]
    assert (
        answers[0]["headers"]["RateLimit"]
        == '"free:2/60s";r=1;t=60, ' + (answers[0]["headers"]["RateLimit"].split(", ")[1])
    )
    refused = call(sub="mallory", plan="gold")
    assert refused["statusCode"] == 403
    assert json.loads(refused["body"])["status"] == 403
    assert records[-1]["reason"] == "unknown_plan"
    assert asyncio.run(limiter.hit_async(event(), user("pro"))).allowed


def _authorizer_event(key: str) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": ARN,
        "resource": "/orders",
        "path": "/orders",
        "httpMethod": "GET",
        "headers": {"x-api-key": key},
        "requestContext": {"requestId": "r-1", "identity": {"sourceIp": "203.0.113.9"}},
    }


def test_authorizer_with_plans_from_api_key_entries() -> None:
    records: list[dict[str, Any]] = []
    keys = StaticApiKeys(
        {
            hash_api_key(FREE_KEY): ApiKeyEntry("partner-a", plan="free"),
            hash_api_key(PRO_KEY): ApiKeyEntry("partner-b", plan="pro"),
            hash_api_key(GOLD_KEY): ApiKeyEntry("partner-c", plan="gold"),
        }
    )
    authorizer = Authorizer(
        api_keys=keys,
        routes=Routes({"GET /orders": authenticated()}),
        rate_limit=RateLimiter.per_plan(TABLE, plan_of=PlanFrom.api_key(), store=store()),
        on_decision=records.append,
    )

    def effect(key: str) -> str:
        try:
            response = authorizer.handler(_authorizer_event(key))
        except Unauthorized:
            return "401"
        return str(response["policyDocument"]["Statement"][0]["Effect"])

    assert [effect(FREE_KEY) for _ in range(3)] == ["Allow", "Allow", "Deny"]
    assert records[-1]["reason"] == "rate_limited"
    assert [effect(PRO_KEY) for _ in range(5)] == ["Allow"] * 5
    assert effect(GOLD_KEY) == "401"
    assert records[-1]["reason"] == "unknown_plan"


# --- round trips on real stores ---------------------------------------------------------


class CountingRedis(redis.Redis):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[str] = []

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]).upper())
        return super().execute_command(*args, **options)


def test_redis_plan_decisions_cost_what_fixed_ones_cost(redis_url: str) -> None:
    client = CountingRedis.from_url(redis_url)
    shared = RedisStore(client=client)
    table = {"free": "1000/month", "pro": ["5000/month", "100/minute"]}
    plans = RateLimiter.per_plan(table, plan_of=PlanFrom.claim(), store=shared)
    fixed = RateLimiter.per_principal("1000/month", store=shared)
    shared.blocked_for("warm")  # the store's eviction check, once at first use: INFO
    client.sent.clear()
    for limiter in (plans, fixed):
        before = len(client.sent)
        for i in range(20):
            assert limiter.hit(event(), user("free", sub=f"u{i}")).allowed
        assert len(client.sent) - before == 20  # one script call per decision
    before = len(client.sent)
    assert plans.hit(event(), user("pro")).allowed
    assert len(client.sent) - before == 2  # one per limit of the plan
    before = len(client.sent)
    assert [u.remaining for u in plans.usage(event(), user("pro"))] == [4999, 99]
    assert len(client.sent) - before == 2
    assert set(client.sent) == {"EVALSHA"}
    client.close()


def test_dynamodb_plan_decisions_cost_one_update_item(dynamodb: Any, table_name: str) -> None:
    shared = DynamoDBStore(table_name, client=dynamodb)
    shared.create_table()
    counter = RequestCounter(dynamodb)
    plans = RateLimiter.per_plan(
        {"free": "2/month", "pro": "1000/month"}, plan_of=PlanFrom.claim(), store=shared
    )
    counter.count = 0
    results = [plans.hit(event(), user("free")) for _ in range(3)]
    assert [r.allowed for r in results] == [True, True, False]
    assert counter.count == 3
    assert not plans.hit(event(), user("free")).allowed  # the deny cache holds
    assert counter.count == 3
    assert plans.usage(event(), user("free"))[0].remaining == 0
    assert counter.count == 4  # one GetItem
