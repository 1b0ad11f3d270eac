"""Review 39: attacking review 38's fixes.

Review 38 (commit 674a5fc): Powertools route guards refuse an anonymous caller before
counting and count the refusal only in limits keyed by the client IP;
``keyed_by_client_ip`` keeps ``PlanLimiter``s keyed by ``ClientIp`` with a default plan;
the Guard skips the context expiry on ``$disconnect``, applies its verifier's leeway, and
reads ``secauth_exp`` up to 16 digits.

Findings are ``xfail(strict=True)`` tests asserting the secure (or correct) behaviour;
attacks that held are plain tests. Real objects, events from ``secauth.testing_events``,
the real clock with margins of minutes or years; no mocks, no sleeps, no servers.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from guard_callers import ACME, ADMIN, AUD, ISS, JWT, MAPPER, PAIR, token
from limit_callers import (
    ALLOW,
    ATTACKER_IP,
    FUTURE,
    GARBAGE,
    ORDERS,
    PAST,
    PUBLIC_ORDERS,
    VICTIM_IP,
    VICTIM_KEY,
    WS_ROUTES,
    echo,
    ok,
    orders,
    ws_event,
)

from secauth import Guard, JwtVerifier, Routes
from secauth.access import authenticated, public, roles
from secauth.client_auth import ClientAuth
from secauth.cognito import CognitoVerifier
from secauth.combined_verifier import CombinedVerifier
from secauth.errors import ConfigurationError
from secauth.integrations.powertools import guard_middleware
from secauth.introspection import IntrospectionVerifier
from secauth.principal import Principal
from secauth.ratelimit import PlanFrom, RateLimiter
from secauth.ratelimit.combined import keyed_by_client_ip
from secauth.ratelimit.keys import ClientIp
from secauth.responses import Cors
from secauth.testing_events import http_proxy, rest_proxy

COGNITO_POOL = "us-east-1_AbC123"


def answer_for(exp: int | None, *, roles_: tuple[str, ...] = ("member",)) -> dict[str, Any]:
    """What a secauth authorizer answers for a token of ann expiring at ``exp``."""
    claims: dict[str, Any] = {"sub": "ann"}
    if exp is not None:
        claims["exp"] = exp
    context = Principal("ann", roles=set(roles_), claims=claims).to_context()
    return {"principalId": "ann", "context": context, "policyDocument": ALLOW}


def resolve(app: Any, event: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = app.resolve(event, None)
    return answer


def powertools_app(outer: Guard, *route_guards: Guard, **resolver: Any) -> APIGatewayHttpResolver:
    """A resolver with ``outer`` for every route and ``route_guards`` on GET /orders."""
    app = APIGatewayHttpResolver(**resolver)
    app.use(middlewares=[guard_middleware(outer)])

    @app.get("/orders", middlewares=[guard_middleware(g) for g in route_guards])
    def list_orders() -> dict[str, str]:
        return {"ok": "orders"}

    return app


def lenient_jwt(leeway: float = 120) -> JwtVerifier:
    return JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]}, leeway=leeway)


def lenient_introspection() -> IntrospectionVerifier:
    # Never called: the Guard reads the authorizer's context, no token is presented.
    return IntrospectionVerifier(issuer=ISS, audience=AUD, leeway=120,
                                 client=ClientAuth.basic("api", "s3cret-value"),
                                 endpoint="https://127.0.0.1:9/introspect")  # fmt: skip


# =============================================================================================
# FINDINGS
# =============================================================================================

# -- F1 (medium-low, cross-client quota spend, Powertools): review 38 stopped a route
# guard from counting an anonymous caller it refuses in its own per_api_key limit. The
# global guard middleware, though, already admitted that caller (its table makes the
# route public; the route guard adds ``require(authenticated())``, as docs/guard.md
# recommends) and counted it in *all* its limits, a ``per_api_key`` one included, keyed
# by the unchecked x-api-key header as sent. Requests that all end 401 spend the named
# client's quota; docs/ratelimit.md: "A request refused for its credentials counts only
# in limits keyed by the client IP, never in the bucket of the key it names." The same
# rules in one Guard alone do not count them there (control below).


def _global_key_limit_app() -> APIGatewayHttpResolver:
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None,
                  rate_limit=RateLimiter.per_api_key("3/minute"))  # fmt: skip
    return powertools_app(outer, outer.require(authenticated()))


def test_powertools_route_refusals_do_not_spend_the_global_key_quota() -> None:
    app = _global_key_limit_app()
    for _ in range(3):  # no token at all, the victim's key: every one refused
        assert resolve(app, orders(None, ATTACKER_IP, VICTIM_KEY))["statusCode"] == 401
    assert resolve(app, orders(ACME, VICTIM_IP, VICTIM_KEY))["statusCode"] == 200


def test_the_same_rules_in_one_guard_do_not_spend_the_key_quota() -> None:
    """Control for F1: the global table and the route rule in one Guard."""
    alone = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None,
                  rate_limit=RateLimiter.per_api_key("3/minute")).require(authenticated())  # fmt: skip
    handler = alone(ok)
    for _ in range(3):
        assert handler(orders(None, ATTACKER_IP, VICTIM_KEY), None)["statusCode"] == 401
    assert handler(orders(ACME, VICTIM_IP, VICTIM_KEY), None)["statusCode"] == 200


def test_global_key_limit_still_counts_the_callers_it_admits() -> None:
    """Control for F1: admitted requests naming the key spend it (documented, R1)."""
    app = _global_key_limit_app()
    for _ in range(3):
        assert resolve(app, orders(ACME, ATTACKER_IP, VICTIM_KEY))["statusCode"] == 200
    assert resolve(app, orders(ACME, VICTIM_IP, VICTIM_KEY))["statusCode"] == 429


# -- F2 (low, over-refusal: review 38's E2 persists for most verifiers): the Guard reads
# the leeway as ``getattr(self.verifier, "leeway", 0.0)``; only ``JwtVerifier`` has a
# ``leeway`` attribute. ``MultiIssuerVerifier`` (``JwtVerifier.multi``),
# ``CognitoVerifier`` (a multi-issuer verifier), ``IntrospectionVerifier`` (its leeway is
# ``claims.leeway``) and ``CombinedVerifier`` have none, so a Guard given one of them,
# with ``leeway=120``, refuses (401) a WebSocket message whose token its own verifier
# still accepts.


def _multi() -> Any:
    return JwtVerifier.multi(lenient_jwt())


def _cognito() -> Any:
    return CognitoVerifier(user_pool_id=COGNITO_POOL, client_id=None, token_use="access",
                           jwks={"keys": [PAIR.public_jwk]}, leeway=120)  # fmt: skip


def _introspection() -> Any:
    return lenient_introspection()


def _combined() -> Any:
    return CombinedVerifier(jwt=lenient_jwt(), introspection=lenient_introspection())


@pytest.mark.parametrize("make", [_multi, _cognito, _introspection, _combined])
def test_every_verifier_kind_lends_its_leeway_to_the_context(make: Any) -> None:
    guard = Guard(make(), trust_authorizer=True, routes=WS_ROUTES, decision_log=None)
    within_leeway = ws_event("sendmessage", "MESSAGE", answer_for(int(time.time()) - 5))
    assert guard(echo)(within_leeway, None)["statusCode"] == 200


def test_a_jwt_verifier_lends_its_leeway_to_the_context() -> None:
    """Control for F2: review 38's fix, with the verifier it was written for."""
    guard = Guard(lenient_jwt(), trust_authorizer=True, routes=WS_ROUTES, decision_log=None)
    within_leeway = ws_event("sendmessage", "MESSAGE", answer_for(int(time.time()) - 5))
    assert guard(echo)(within_leeway, None)["statusCode"] == 200


# -- F3 (low, over-refusal, pre-existing): two route guards stacked on one route
# (``middlewares=[guard_middleware(g.require(a)), guard_middleware(g.require(b))]``) each
# count the limits they share, since ``_own_limits`` only leaves out what the *global*
# guard counted: one request spends the shared limit twice, and a 3/minute limit admits
# one request. The same rules in one route guard admit three.


def _stacked_app(*rules: Any) -> APIGatewayHttpResolver:
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    limited = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None,
                    rate_limit=RateLimiter.per_ip("3/minute"))  # fmt: skip
    return powertools_app(outer, *(limited.require(rule) for rule in rules))


def test_stacked_route_guards_count_a_shared_limit_once() -> None:
    app = _stacked_app(authenticated(), roles("admin"))
    answers = [resolve(app, orders(ADMIN, VICTIM_IP))["statusCode"] for _ in range(4)]
    assert answers == [200, 200, 200, 429]


def test_one_route_guard_with_both_rules_counts_once() -> None:
    """Control for F3."""
    app = _stacked_app(authenticated() & roles("admin"))
    answers = [resolve(app, orders(ADMIN, VICTIM_IP))["statusCode"] for _ in range(4)]
    assert answers == [200, 200, 200, 429]


# =============================================================================================
# HELD: $disconnect and the context expiry
# =============================================================================================


def test_a_message_routed_to_disconnect_is_still_expiry_checked() -> None:
    """A client picks a MESSAGE's route key (``{"action": "$disconnect"}``), never its
    ``eventType``: the expiry is skipped on the event type API Gateway writes. Since
    review 58 a MESSAGE naming ``$disconnect`` (or ``$connect``) is no event at all
    (API Gateway sends those keys as DISCONNECT and CONNECT only): refused, stale or not."""
    guarded = Guard(routes=WS_ROUTES, decision_log=None)(echo)
    stale = ws_event("$disconnect", "MESSAGE", answer_for(PAST))
    assert guarded(stale, None)["statusCode"] == 400
    fresh = ws_event("$disconnect", "MESSAGE", answer_for(FUTURE))
    assert guarded(fresh, None)["statusCode"] == 400


@pytest.mark.parametrize("event_type", ["disconnect", "DISCONNECT ", ["DISCONNECT"], None])
def test_only_the_exact_disconnect_event_type_skips_the_expiry(event_type: Any) -> None:
    guarded = Guard(routes=WS_ROUTES, decision_log=None)(echo)
    event = ws_event("$disconnect", "DISCONNECT", answer_for(PAST))
    event["requestContext"]["eventType"] = event_type
    assert guarded(event, None)["statusCode"] in (400, 401)


def test_an_http_event_claiming_disconnect_is_expiry_checked() -> None:
    """REST and HTTP events carry no ``eventType`` (API Gateway writes their
    ``requestContext``); one that says DISCONNECT (a direct invoke) is still checked."""
    guarded = Guard(decision_log=None)(ok)
    rest = rest_proxy("GET", "/x", resource="/x", authorizer_response=answer_for(PAST))
    rest["requestContext"]["eventType"] = "DISCONNECT"
    assert guarded(rest, None)["statusCode"] == 401
    http = http_proxy("GET", "/x", authorizer_response=answer_for(PAST))
    http["requestContext"]["eventType"] = "DISCONNECT"
    assert guarded(http, None)["statusCode"] == 401


def test_the_disconnect_rule_still_decides_on_the_expired_principal() -> None:
    """Skipping the expiry does not skip the table: a ``$disconnect`` rule the expired
    principal fails is still refused, and a handler gets the context's principal only."""
    strict = Routes({"$connect": authenticated(), "$disconnect": roles("admin")})
    seen: list[str] = []

    @Guard(routes=strict, decision_log=None)
    def disconnect(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
        seen.append(principal.id)
        return {"statusCode": 200}

    member = ws_event("$disconnect", "DISCONNECT", answer_for(PAST))
    assert disconnect(member, None)["statusCode"] == 403
    admin = answer_for(PAST, roles_=("admin",))
    assert disconnect(ws_event("$disconnect", "DISCONNECT", admin), None)["statusCode"] == 200
    assert seen == ["ann"]


def test_a_disconnect_with_a_malformed_context_is_still_refused() -> None:
    guarded = Guard(routes=WS_ROUTES, decision_log=None)(echo)
    event = ws_event("$disconnect", "DISCONNECT", answer_for(PAST))
    event["requestContext"]["authorizer"]["secauth_exp"] = "16000000000000000"  # 17 digits
    assert guarded(event, None)["statusCode"] == 401


def test_sixteen_digit_expiries_are_read_as_seconds() -> None:
    guarded = Guard(routes=WS_ROUTES, decision_log=None)(echo)
    far = ws_event("sendmessage", "MESSAGE", answer_for(1_000_000_000_000_000))  # 16 digits
    assert guarded(far, None)["statusCode"] == 200
    padded = ws_event("sendmessage", "MESSAGE", answer_for(PAST))
    padded["requestContext"]["authorizer"]["secauth_exp"] = "0" * 6 + str(PAST)  # 16 digits
    assert guarded(padded, None)["statusCode"] == 401


def test_the_leeway_is_bounded() -> None:
    for leeway in (301, -1, math.nan, math.inf):
        with pytest.raises(ConfigurationError):
            lenient_jwt(leeway)


def test_the_leeway_does_not_extend_past_itself() -> None:
    guard = Guard(lenient_jwt(300), trust_authorizer=True, routes=WS_ROUTES, decision_log=None)
    stale = ws_event("sendmessage", "MESSAGE", answer_for(int(time.time()) - 3600))
    assert guard(echo)(stale, None)["statusCode"] == 401


def test_a_trust_only_guard_applies_no_leeway() -> None:
    """No verifier, no leeway: the conservative side of F2."""
    guard = Guard(routes=WS_ROUTES, decision_log=None)
    just_expired = ws_event("sendmessage", "MESSAGE", answer_for(int(time.time()) - 5))
    assert guard(echo)(just_expired, None)["statusCode"] == 401


class _OddLeewayVerifier:
    """A custom verifier whose ``leeway`` is not a number."""

    leeway = "300"

    def verify(self, token: str) -> dict[str, Any]:
        raise AssertionError("no token is presented")

    async def verify_async(self, token: str) -> dict[str, Any]:
        raise AssertionError("no token is presented")


def test_a_non_numeric_leeway_fails_closed() -> None:
    """Refused when the guard is built (review 40), no longer on every request."""
    with pytest.raises(ConfigurationError, match="leeway must be 0 to 300 seconds"):
        Guard(_OddLeewayVerifier(), trust_authorizer=True, routes=WS_ROUTES, decision_log=None)  # type: ignore[arg-type]


# =============================================================================================
# HELD: Powertools route guards and anonymous callers
# =============================================================================================


def test_route_guard_without_rule_or_table_keeps_a_public_path_public() -> None:
    """Documented (docs/guard.md): who may call anonymously is the global table's to say;
    a route guard with only a limit admits, and counts, the anonymous caller."""
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    limit_only = Guard(JWT, claims=MAPPER, decision_log=None,
                       rate_limit=RateLimiter.per_ip("2/minute"))  # fmt: skip
    app = powertools_app(outer, limit_only)
    answers = [resolve(app, orders(None, ATTACKER_IP))["statusCode"] for _ in range(3)]
    assert answers == [200, 200, 429]


def test_route_guard_with_its_own_table_refuses_anonymous_as_alone() -> None:
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    own_table = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None,
                      rate_limit=RateLimiter.per_ip("2/minute"))  # fmt: skip
    app = powertools_app(outer, own_table)
    answers = [resolve(app, orders(None, ATTACKER_IP))["statusCode"] for _ in range(3)]
    assert answers == [401, 401, 429]  # refused, and counted per IP
    alone = own_table(ok)
    assert [alone(orders(None, VICTIM_IP), None)["statusCode"] for _ in range(3)] == [401, 401, 429]
    assert resolve(app, orders(ACME, "192.0.2.77"))["statusCode"] == 200


def test_route_guard_refusal_429_carries_the_limit_headers() -> None:
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    route_guard = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None,
                        route_limits={"GET /orders": RateLimiter.per_ip("1/minute")}
                        ).require(authenticated())  # fmt: skip
    app = powertools_app(outer, route_guard)
    first, second = (resolve(app, orders(None, ATTACKER_IP)) for _ in range(2))
    assert (first["statusCode"], second["statusCode"]) == (401, 429)
    assert "Retry-After" in second["headers"]
    assert "WWW-Authenticate" in first["headers"] or "www-authenticate" in first["headers"]


def test_route_guard_anonymous_refusals_do_not_reach_a_per_principal_plan() -> None:
    """A plan limiter keyed per principal, no default: refusals are not counted there,
    and never raise ``UnknownPlan`` (a 401 stays a 401, not a 403)."""
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    plans = RateLimiter.per_plan({"free": "1/minute"}, plan_of=PlanFrom.claim("plan"))
    route_guard = Guard(JWT, claims=MAPPER, routes=ORDERS, rate_limit=plans, decision_log=None)
    app = powertools_app(outer, route_guard)
    answers = [resolve(app, orders(None, ATTACKER_IP))["statusCode"] for _ in range(3)]
    assert answers == [401, 401, 401]
    assert resolve(app, orders(GARBAGE, ATTACKER_IP))["statusCode"] == 401


def test_route_guard_refusals_count_in_an_ip_plan_at_its_default() -> None:
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    plans = RateLimiter.per_plan({"free": "2/minute", "pro": "100/minute"},
                                 plan_of=PlanFrom.claim("plan"), key=ClientIp(), default="free")  # fmt: skip
    route_guard = Guard(JWT, claims=MAPPER, routes=ORDERS, rate_limit=plans, decision_log=None)
    app = powertools_app(outer, route_guard)
    answers = [resolve(app, orders(None, ATTACKER_IP))["statusCode"] for _ in range(3)]
    assert answers == [401, 401, 429]
    assert resolve(app, orders(ACME, VICTIM_IP))["statusCode"] == 200


def test_preflights_are_answered_by_the_global_guard_and_not_counted() -> None:
    cors = Cors(allow_origins=["https://app.example"], allow_methods=["GET"])
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, cors=cors, decision_log=None)
    route_guard = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None,
                        route_limits={"GET /orders": RateLimiter.per_ip("1/minute")}
                        ).require(authenticated())  # fmt: skip
    app = powertools_app(outer, route_guard)
    preflight = http_proxy("OPTIONS", "/orders", source_ip=ATTACKER_IP,
                           headers={"origin": "https://app.example",
                                    "access-control-request-method": "GET"})  # fmt: skip
    assert [resolve(app, preflight)["statusCode"] for _ in range(3)] == [204, 204, 204]
    assert resolve(app, orders(None, ATTACKER_IP))["statusCode"] == 401  # not yet limited


def test_trust_mode_route_guard_refuses_anonymous_and_expired_contexts() -> None:
    outer = Guard(routes=PUBLIC_ORDERS, decision_log=None)
    app = powertools_app(outer, outer.require(authenticated()))
    assert resolve(app, orders(None, ATTACKER_IP))["statusCode"] == 401
    stale = http_proxy("GET", "/orders", authorizer_response=answer_for(PAST))
    assert resolve(app, stale)["statusCode"] == 401
    fresh = http_proxy("GET", "/orders", authorizer_response=answer_for(FUTURE))
    assert resolve(app, fresh)["statusCode"] == 200


def test_trust_only_route_guard_under_a_verifying_global_guard() -> None:
    """A route guard without a verifier checks the caller itself: a token is no
    authorizer context (401), nor is no credential at all."""
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    trusting = Guard(routes=ORDERS, decision_log=None, rate_limit=RateLimiter.per_ip("2/minute"))
    app = powertools_app(outer, trusting)
    assert resolve(app, orders(ACME, VICTIM_IP))["statusCode"] == 401
    assert resolve(app, orders(None, VICTIM_IP))["statusCode"] == 401
    assert resolve(app, orders(None, VICTIM_IP))["statusCode"] == 429  # refusals per IP


def test_strip_prefixes_reading_is_not_public_to_an_anonymous_caller() -> None:
    """The route guard's table makes the path as sent public but not the path the
    resolver routes on (``strip_prefixes``): refused, as alone with ``app_path``."""
    outer = Guard(JWT, claims=MAPPER, decision_log=None,
                  routes=Routes({"GET /v1/orders": public(), "GET /orders": public()}))  # fmt: skip
    split = Guard(JWT, claims=MAPPER, decision_log=None,
                  routes=Routes({"GET /v1/orders": public(), "GET /orders": authenticated()}))  # fmt: skip
    app = powertools_app(outer, split, strip_prefixes=["/v1"])
    anonymous = http_proxy("GET", "/v1/orders", source_ip=ATTACKER_IP)
    assert resolve(app, anonymous)["statusCode"] == 401
    signed_in = http_proxy("GET", "/v1/orders", token=ACME, source_ip=VICTIM_IP)
    assert resolve(app, signed_in)["statusCode"] == 200


def test_a_shared_limit_is_counted_once_under_global_and_route_guard() -> None:
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None,
                  rate_limit=RateLimiter.per_ip("3/minute"))  # fmt: skip
    app = powertools_app(outer, outer.require(roles("admin")))
    answers = [resolve(app, orders(ADMIN, VICTIM_IP))["statusCode"] for _ in range(4)]
    assert answers == [200, 200, 200, 429]


# =============================================================================================
# HELD: keyed_by_client_ip and plan limiters
# =============================================================================================


def test_keyed_by_client_ip_keeps_only_ip_plans_with_a_default() -> None:
    table = {"free": "5/minute"}
    by_ip = RateLimiter.per_plan(table, plan_of=PlanFrom.claim(), key=ClientIp(), default="free")
    no_default = RateLimiter.per_plan(table, plan_of=PlanFrom.claim(), key=ClientIp())
    per_caller = RateLimiter.per_plan(table, plan_of=PlanFrom.claim(), default="free")
    found = keyed_by_client_ip([by_ip, no_default, per_caller, RateLimiter.per_api_key("5/minute")])
    assert found == [by_ip]


def test_a_plan_limiter_cannot_hide_in_a_combined_limiter() -> None:
    plans = RateLimiter.per_plan({"free": "5/minute"}, plan_of=PlanFrom.claim(), default="free")
    with pytest.raises(ConfigurationError):
        RateLimiter.combine(RateLimiter.per_ip("5/minute"), plans)  # type: ignore[arg-type]


def test_async_guard_counts_refusals_in_an_ip_plan() -> None:
    plans = RateLimiter.per_plan({"free": "3/minute", "pro": "100/minute"},
                                 plan_of=PlanFrom.claim("plan"), key=ClientIp(), default="free")  # fmt: skip
    guard = Guard(JWT, routes=ORDERS, claims=MAPPER, rate_limit=plans, decision_log=None)

    async def plain(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ok"}

    handler: Any = guard(plain)

    async def run() -> list[int]:
        return [(await handler(orders(GARBAGE, ATTACKER_IP), None))["statusCode"] for _ in range(4)]

    assert asyncio.run(run()) == [401, 401, 401, 429]


def test_an_unknown_plan_of_a_valid_caller_is_403_not_a_refusal_count() -> None:
    """A valid token whose plan the table lacks: 403 ``unknown_plan``; refusals of bad
    tokens at that IP still count at the default plan."""
    plans = RateLimiter.per_plan({"free": "2/minute"}, plan_of=PlanFrom.claim("plan"),
                                 key=ClientIp(), default="free")  # fmt: skip
    handler = Guard(JWT, routes=ORDERS, claims=MAPPER, rate_limit=plans, decision_log=None)(ok)
    gold = token("gold-user", tenant="acme", plan="gold")
    assert handler(orders(gold, VICTIM_IP), None)["statusCode"] == 403
    answers = [handler(orders(GARBAGE, ATTACKER_IP), None)["statusCode"] for _ in range(3)]
    assert answers == [401, 401, 429]
