"""Review 41: attacking review 40's fixes (30475fb).

30475fb: when a Powertools route guard verifies a caller the global guard took for
anonymous, ``_Found.verified(principal)`` keeps only the IP-keyed limits counted so far
(``keyed_by_client_ip``) as counted, so the rest count again for it, and later route
guards see that caller (``found.principal``); combined limits are compared by their
parts (``limit_parts``); a ``Guard`` refuses a verifier ``leeway`` outside 0..300 s when
built (``context_leeway``); ``ApiKey`` treats ``Principal.anonymous()`` as unverified.

The yardstick is the documented intent "each limit counts a request once": what ONE
guard holding the same rules counts (``Guard.admit``). Findings are
``xfail(strict=True)`` tests asserting the secure (or correct) behaviour; attacks that
held are plain tests. Real objects, events from ``secauth.testing_events``, the real
clock with margins of minutes or years; no mocks, no sleeps, no servers.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from guard_callers import (
    ACME,
    ADMIN,
    AUD,
    ISS,
    JWT,
    MAPPER,
    OTHER,
    PAIR,
    PARTNER,
    PARTNER_JWT,
    partner_token,
    token,
)
from limit_callers import (
    ALLOW,
    ATTACKER_IP,
    GARBAGE,
    ORDERS,
    PUBLIC_ORDERS,
    VICTIM_IP,
    VICTIM_KEY,
    WS_ROUTES,
    LeewayVerifier,
    echo,
    ok,
)

from secauth import Guard, JwtVerifier, Routes, current_principal
from secauth.access import authenticated, public, roles, tenant
from secauth.errors import ConfigurationError
from secauth.integrations.powertools import guard_middleware
from secauth.principal import Principal
from secauth.ratelimit import RateLimiter
from secauth.ratelimit.keys import ClientIp
from secauth.ratelimit.plans import PlanFrom
from secauth.testing_events import http_proxy, rest_proxy, websocket_message


# A second identity provider (a partner's), trusted by one route guard only.
def acme(sub: str, **claims: Any) -> str:
    """A token of ours for ``sub`` in tenant acme (MAPPER requires a tenant)."""
    claims.setdefault("tenant", "acme")
    return token(sub, **claims)


def partner_call(tok: str = ACME, ip: str = VICTIM_IP, **headers: str) -> dict[str, Any]:
    """GET /orders with ``tok`` in x-partner-token (not Authorization) and a key header."""
    sent = {"x-partner-token": tok, "x-api-key": VICTIM_KEY, **headers}
    return http_proxy("GET", "/orders", headers=sent, source_ip=ip)


def resolve(app: Any, event: dict[str, Any]) -> int:
    answer: dict[str, Any] = app.resolve(event, None)
    return int(answer["statusCode"])


def powertools_app(outer: Guard, *route_guards: Guard, seen: list[Any] | None = None) -> Any:
    """A resolver with ``outer`` for every route and ``route_guards`` on GET /orders; the
    route appends (current_principal().id, app.context principal id) to ``seen``."""
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(outer)])

    @app.get("/orders", middlewares=[guard_middleware(g) for g in route_guards])
    def list_orders() -> dict[str, str]:
        if seen is not None:
            seen.append((current_principal().id, app.context["secauth_principal"].id))
        return {"ok": "orders"}

    return app


def alone(guard: Guard, event: dict[str, Any], times: int) -> list[int]:
    handler = guard(ok)
    return [int(handler(event, None)["statusCode"]) for _ in range(times)]


# =============================================================================================
# FINDINGS
# =============================================================================================

# -- F1 (medium-low, fail-open rate limit, Powertools): ``_Found.verified`` only marks the
# non-IP limits counted so far as "not counted"; nothing counts them. Only the limits of
# the route guard that verifies (and of later route guards) are counted for the caller
# it verified. A global ``per_principal`` / ``per_api_key`` limit that the route guard
# does not repeat was counted for nobody (skipped: anonymous) and is never counted for
# the verified caller: the global per-user quota is unlimited on every route whose
# route guard reads the token elsewhere (another header, another verifier).


def test_global_quota_counts_a_route_verified_caller_control() -> None:
    """Control for F1: one guard holding the global limit and the route guard's token
    source counts ann."""
    guard = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=PARTNER,
                  rate_limit=RateLimiter.per_principal("3/minute"))  # fmt: skip
    assert alone(guard, partner_call(), 4) == [200, 200, 200, 429]


@pytest.mark.parametrize("make", [RateLimiter.per_principal, RateLimiter.per_api_key],
                         ids=["per_principal", "per_api_key"])  # fmt: skip
def test_global_quota_counts_a_route_verified_caller(make: Any) -> None:
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None,
                  rate_limit=make("3/minute"))  # fmt: skip
    route = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=PARTNER)
    app = powertools_app(outer, route)
    assert [resolve(app, partner_call()) for _ in range(4)] == [200, 200, 200, 429]


def test_global_route_limit_counts_a_route_verified_caller() -> None:
    """The same through the global guard's ``route_limits`` (a per-user route quota)."""
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None,
                  route_limits={"GET /orders": RateLimiter.per_principal("2/minute")})  # fmt: skip
    route = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=PARTNER)
    app = powertools_app(outer, route)
    assert [resolve(app, partner_call()) for _ in range(3)] == [200, 200, 429]


# -- F2 (medium, authorization confusion, Powertools): since 30475fb a route guard that
# verifies a caller writes it into ``found.principal``, and a later route guard decides
# whether to check the caller itself by comparing its verifier, token sources... with the
# GLOBAL guard's (``_identifies_otherwise(guard, found.guard, ...)``), not with the guard
# that verified ``found.principal``. A later ``outer.require(roles("admin"))`` therefore
# takes a principal verified by another route guard's verifier (another issuer, another
# audience, another token header) on trust, and decides its rule on it: a partner IdP's
# token carrying ``roles: ["admin"]`` passes our admin rule, and its ``tenant`` claim
# passes our tenant rule. Alone (and before 30475fb, when ``found.principal`` stayed
# anonymous) that guard refuses: the request carries no token of our IdP (401).


def _partner_then_admin(seen: list[Any] | None = None) -> Any:
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    partner = Guard(PARTNER_JWT, claims=MAPPER, routes=ORDERS, decision_log=None,
                    token_sources=PARTNER)  # fmt: skip
    return powertools_app(outer, partner, outer.require(roles("admin")), seen=seen)


def test_a_partner_admin_alone_is_refused_by_our_admin_rule_control() -> None:
    """Control for F2: the admin guard alone refuses the partner's token (no token of
    ours), and the stack with only the admin guard refuses the anonymous caller."""
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    forged = partner_call(partner_token("root", roles=["admin"], tenant="acme"))
    assert alone(outer.require(roles("admin")), forged, 1) == [401]
    assert resolve(powertools_app(outer, outer.require(roles("admin"))), forged) == 401
    # with our own admin token the stack admits, so the stack itself is not broken
    ours = http_proxy("GET", "/orders", token=ADMIN, source_ip=VICTIM_IP)
    assert resolve(powertools_app(outer, outer.require(roles("admin"))), ours) == 200
    # The partner's root is not our root (since the stack compares issuers too,
    # guard_context.same_caller): the partner guard's caller disagrees with ours.
    ours["headers"]["x-partner-token"] = partner_token("root", tenant="acme")
    assert resolve(_partner_then_admin(), ours) == 401


def test_a_partner_admin_does_not_pass_our_admin_rule() -> None:
    seen: list[Any] = []
    app = _partner_then_admin(seen)
    forged = partner_call(partner_token("root", roles=["admin"], tenant="acme"))
    assert resolve(app, forged) == 401
    assert seen == []


TENANT_ORDERS = "GET /tenants/{t}/orders"


def _tenant_guards() -> tuple[Guard, Guard, Guard]:
    """The global guard (public), a partner route guard, our tenant route guard."""
    outer = Guard(JWT, claims=MAPPER, routes=Routes({TENANT_ORDERS: public()}), decision_log=None)
    partner = Guard(PARTNER_JWT, claims=MAPPER, decision_log=None, token_sources=PARTNER,
                    routes=Routes({TENANT_ORDERS: authenticated()}))  # fmt: skip
    ours = Guard(JWT, claims=MAPPER, routes=Routes({TENANT_ORDERS: tenant(path="t")}),
                 decision_log=None)  # fmt: skip
    return outer, partner, ours


def _tenant_app(outer: Guard, *route_guards: Guard) -> Any:
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(outer)])

    @app.get("/tenants/<t>/orders", middlewares=[guard_middleware(g) for g in route_guards])
    def orders(t: str) -> dict[str, str]:
        return {"tenant": t}

    return app


def _globex_by_partner() -> dict[str, Any]:
    return http_proxy("GET", "/tenants/globex/orders", source_ip=ATTACKER_IP,
                      headers={"x-partner-token": partner_token("mallory", tenant="globex")})  # fmt: skip


def test_our_tenant_rule_refuses_a_partner_token_control() -> None:
    """Control for F2: our tenant guard alone, or under the global guard alone, refuses
    the partner's globex token (401); our own globex token passes."""
    outer, _, ours = _tenant_guards()
    assert alone(ours, _globex_by_partner(), 1) == [401]
    assert resolve(_tenant_app(outer, ours), _globex_by_partner()) == 401
    own = http_proxy("GET", "/tenants/globex/orders", token=acme("ann", tenant="globex"),
                     source_ip=VICTIM_IP)  # fmt: skip
    assert resolve(_tenant_app(outer, ours), own) == 200


def test_a_partner_tenant_claim_does_not_pass_our_tenant_rule() -> None:
    outer, partner, ours = _tenant_guards()
    assert resolve(_tenant_app(outer, partner, ours), _globex_by_partner()) == 401


# -- F3 (low, plan quota, Powertools): ``_Found.verified`` keeps every limit
# ``keyed_by_client_ip`` returns as counted, PlanLimiters keyed by the IP (with a default
# plan) included. The global guard counted the anonymous caller at the DEFAULT plan; the
# plan of the caller the route guard verifies is never counted. One guard counts the
# verified caller at its own plan: a "free" caller (2/minute) gets the anonymous plan's
# 100/minute (and a "pro" caller the anonymous plan's limit, the other way).


def _ip_plans() -> Any:
    return RateLimiter.per_plan({"anon": "100/minute", "free": "2/minute", "pro": "500/minute"},
                                plan_of=PlanFrom.claim("plan"), key=ClientIp(), default="anon")  # fmt: skip


def test_an_ip_plan_counts_the_verified_callers_plan_control() -> None:
    """Control for F3: one guard counts ann's free plan."""
    guard = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=PARTNER,
                  rate_limit=_ip_plans())  # fmt: skip
    assert alone(guard, partner_call(acme("ann", plan="free")), 3) == [200, 200, 429]


def test_an_ip_plan_counts_the_route_verified_callers_plan() -> None:
    plans = _ip_plans()
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None, rate_limit=plans)
    route = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, rate_limit=plans,
                  token_sources=PARTNER)  # fmt: skip
    app = powertools_app(outer, route)
    assert [resolve(app, partner_call(acme("ann", plan="free"))) for _ in range(3)] == [
        200, 200, 429]  # fmt: skip


# -- F4 (low, over-limiting, REST usage plans): a per_api_key limit counted for the
# anonymous caller by API Gateway's checked ``identity.apiKey`` counts again for the
# verified caller, in the same bucket (the checked key wins for both): twice per request.


def _rest_partner_call() -> dict[str, Any]:
    event = rest_proxy("GET", "/orders", resource="/orders", source_ip=VICTIM_IP,
                       headers={"x-partner-token": ACME})  # fmt: skip
    event["requestContext"]["identity"]["apiKey"] = VICTIM_KEY
    return event


def test_a_checked_key_counts_once_for_one_guard_control() -> None:
    guard = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=PARTNER,
                  rate_limit=RateLimiter.per_api_key("3/minute"))  # fmt: skip
    assert alone(guard, _rest_partner_call(), 4) == [200, 200, 200, 429]


def test_a_checked_key_counts_once_when_a_route_guard_verifies() -> None:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    shared = RateLimiter.per_api_key("3/minute")
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None, rate_limit=shared)
    route = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, rate_limit=shared,
                  token_sources=PARTNER)  # fmt: skip
    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(outer)])

    @app.get("/orders", middlewares=[guard_middleware(route)])
    def list_orders() -> dict[str, str]:
        return {"ok": "orders"}

    assert [resolve(app, _rest_partner_call()) for _ in range(4)] == [200, 200, 200, 429]


# =============================================================================================
# HELD: stacked guards count each limit once
# =============================================================================================


@pytest.mark.parametrize("make", [RateLimiter.per_principal, RateLimiter.per_api_key],
                         ids=["per_principal", "per_api_key"])  # fmt: skip
def test_a_shared_limit_counts_once_across_two_verifying_route_guards(make: Any) -> None:
    """Route guard 1 verifies ann; route guard 2 (same token source, another rule) checks
    her again: the shared limit counts her once per request."""
    shared = make("3/minute")
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None, rate_limit=shared)
    first = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, rate_limit=shared,
                  token_sources=PARTNER)  # fmt: skip
    second = first.require(authenticated())
    app = powertools_app(outer, first, second)
    assert [resolve(app, partner_call()) for _ in range(4)] == [200, 200, 200, 429]


def test_an_ip_limit_counted_for_the_anonymous_caller_is_not_counted_again() -> None:
    """The IP-keyed part of the global guard's combined limit stays counted when a route
    guard verifies the caller (3 requests per IP, not 1.5)."""
    per_ip = RateLimiter.per_ip("3/minute")
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None,
                  rate_limit=RateLimiter.combine(per_ip, RateLimiter.per_principal("50/minute")))  # fmt: skip
    route = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=PARTNER,
                  rate_limit=RateLimiter.combine(per_ip, RateLimiter.per_api_key("50/minute")))  # fmt: skip
    app = powertools_app(outer, route)
    assert [resolve(app, partner_call()) for _ in range(4)] == [200, 200, 200, 429]


def test_a_route_guards_own_per_user_limit_counts_the_caller_it_verifies() -> None:
    """A login-style route guard's own tight limit applies to the caller it verifies."""
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None,
                  rate_limit=RateLimiter.per_ip("100/minute"))  # fmt: skip
    route = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=PARTNER,
                  rate_limit=RateLimiter.per_principal("2/minute", name="orders"))  # fmt: skip
    app = powertools_app(outer, route)
    calls = [partner_call(ip=f"192.0.2.{n}") for n in range(3)]  # rotating IPs do not help
    assert [resolve(app, call) for call in calls] == [200, 200, 429]


def test_a_refusal_after_a_route_guard_verified_spends_only_ip_limits() -> None:
    """Route guard 1 verifies ann; route guard 2 reads another header, where garbage is
    sent: refused (401), counted per IP only, never in the key's quota."""
    key_limit = RateLimiter.per_api_key("2/minute")
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    first = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=PARTNER)
    second = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=OTHER,
                   rate_limit=RateLimiter.combine(RateLimiter.per_ip("3/minute"), key_limit))  # fmt: skip
    app = powertools_app(outer, first, second)
    bad = partner_call(ACME, ATTACKER_IP, **{"x-other-token": GARBAGE})
    assert [resolve(app, bad) for _ in range(4)] == [401, 401, 401, 429]
    good = partner_call(ACME, VICTIM_IP, **{"x-other-token": ACME})
    assert [resolve(app, good) for _ in range(3)] == [200, 200, 429]


def test_counted_limits_are_per_request_after_a_verification() -> None:
    """``found`` (and what ``verified`` reset) lives in one request's context: an
    anonymous request after a verified one is counted afresh per IP."""
    route = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None,
                  token_sources=PARTNER, rate_limit=RateLimiter.per_ip("2/minute"))  # fmt: skip
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    seen: list[Any] = []
    app = powertools_app(outer, route, seen=seen)
    anonymous = http_proxy("GET", "/orders", source_ip=ATTACKER_IP)
    answers = [resolve(app, partner_call(ip=ATTACKER_IP)), resolve(app, anonymous),
               resolve(app, anonymous)]  # fmt: skip
    assert answers == [200, 200, 429]
    assert seen == [("alice", "alice"), ("anonymous", "anonymous")]


# =============================================================================================
# HELD: found.principal never lets a different caller through
# =============================================================================================


def test_two_route_guards_verifying_different_callers_are_refused() -> None:
    """Route guard 1 verifies ann from x-partner-token, route guard 2 bob from
    x-other-token: they disagree on the caller, the route never runs."""
    seen: list[Any] = []
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    first = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=PARTNER)
    second = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=OTHER)
    app = powertools_app(outer, first, second, seen=seen)
    mixed = partner_call(acme("ann"), **{"x-other-token": acme("bob")})
    assert resolve(app, mixed) in (401, 403)
    assert seen == []
    same = partner_call(acme("ann"), **{"x-other-token": acme("ann")})
    assert resolve(app, same) == 200
    assert seen == [("ann", "ann")]


def test_another_tenant_of_the_same_id_is_a_different_caller() -> None:
    seen: list[Any] = []
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    first = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=PARTNER)
    second = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=OTHER)
    app = powertools_app(outer, first, second, seen=seen)
    mixed = partner_call(acme("ann", tenant="acme"),
                         **{"x-other-token": acme("ann", tenant="globex")})  # fmt: skip
    assert resolve(app, mixed) in (401, 403)
    assert seen == []


def test_a_global_caller_cannot_be_replaced_by_a_route_guards_token() -> None:
    """The global guard verified bob (Authorization); a route guard reading ann's token
    from another header is refused, and bob is what the route would run as."""
    seen: list[Any] = []
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    route = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=PARTNER)
    app = powertools_app(outer, route, seen=seen)
    event = http_proxy("GET", "/orders", token=acme("bob"), source_ip=VICTIM_IP,
                       headers={"x-partner-token": acme("ann")})  # fmt: skip
    assert resolve(app, event) in (401, 403)
    assert seen == []


def test_a_later_guard_finding_no_token_disagrees_as_under_a_global_verification() -> None:
    """Route guard 1 verified ann; route guard 2 (public table, tokens in x-other-token)
    finds none: refused as when the global guard itself verified ann (the documented
    "must be the caller the global guard admitted"); alone it admits the anonymous call."""
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    first = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=PARTNER)
    second = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None,
                   token_sources=OTHER)  # fmt: skip
    assert alone(second, partner_call(acme("ann")), 1) == [200]
    assert resolve(powertools_app(outer, first, second), partner_call(acme("ann"))) == 401
    globally = http_proxy("GET", "/orders", token=acme("ann"), source_ip=VICTIM_IP)
    assert resolve(powertools_app(outer, second), globally) == 401


def test_the_route_runs_as_the_caller_the_route_guard_verified() -> None:
    """current_principal() and app.context["secauth_principal"] name the verified caller
    in the route (not the global guard's anonymous one)."""
    seen: list[Any] = []
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    route = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=PARTNER)
    app = powertools_app(outer, route, seen=seen)
    assert resolve(app, partner_call(acme("ann"))) == 200
    assert seen == [("ann", "ann")]
    # A later guard that reads tokens as the global guard does finds none: it refuses,
    # as it would alone (it does not take the partner-verified caller on trust).
    seen.clear()
    app = powertools_app(outer, route, outer.require(authenticated()), seen=seen)
    assert resolve(app, partner_call(acme("ann"))) == 401
    assert seen == []


# =============================================================================================
# HELD: context_leeway
# =============================================================================================


def _answer_for(exp: int) -> dict[str, Any]:
    context = Principal("ann", roles={"member"}, claims={"sub": "ann", "exp": exp}).to_context()
    return {"principalId": "ann", "context": context, "policyDocument": ALLOW}


def _ws(exp: int) -> dict[str, Any]:
    return websocket_message("sendmessage", "{}", authorizer_response=_answer_for(exp))


def test_require_keeps_the_bounded_leeway() -> None:
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]},
                           leeway=120)  # fmt: skip
    derived = Guard(verifier, trust_authorizer=True, routes=WS_ROUTES,
                    decision_log=None).require(roles("member"))  # fmt: skip
    handler = derived(echo)
    assert handler(_ws(int(time.time()) - 5), None)["statusCode"] == 200
    assert handler(_ws(int(time.time()) - 3600), None)["statusCode"] == 401


def test_a_verifier_swapped_or_changed_after_construction_lends_no_endless_leeway() -> None:
    """The leeway is read when the guard is built: a verifier whose leeway grows later
    never makes an expired context trusted, and no other verifier can be put in its place
    (a guard's options are read-only)."""
    verifier = LeewayVerifier(0)
    guard = Guard(verifier, trust_authorizer=True, routes=WS_ROUTES, decision_log=None)
    verifier.leeway = float("inf")
    assert guard(echo)(_ws(int(time.time()) - 3600), None)["statusCode"] == 401
    with pytest.raises(AttributeError):
        guard.verifier = LeewayVerifier(1e12)  # type: ignore[misc]
    assert guard.require(roles("member"))(echo)(_ws(int(time.time()) - 3600), None)[
        "statusCode"] == 401  # fmt: skip


@pytest.mark.parametrize("leeway", [-1, 301, True, "30", None])
def test_out_of_range_leeway_is_refused_at_construction(leeway: Any) -> None:
    with pytest.raises(ConfigurationError, match="leeway must be 0 to 300 seconds"):
        Guard(LeewayVerifier(leeway), trust_authorizer=True, routes=WS_ROUTES, decision_log=None)


def test_a_route_guard_with_an_endless_leeway_cannot_be_built() -> None:
    """A route guard (trust mode) is a Guard too: refused when built, before it could
    trust an expired context under a global guard."""
    with pytest.raises(ConfigurationError, match="leeway must be 0 to 300 seconds"):
        guard_middleware(Guard(LeewayVerifier(float("nan")), trust_authorizer=True, decision_log=None))
