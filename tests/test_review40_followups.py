"""Review 40: attacking review 39's fixes (07c486c) and the guard refactor (2307ebd).

07c486c: ``ApiKey`` keys a request with no verified caller (principal None) only by API
Gateway's checked ``requestContext.identity.apiKey``; the multi-issuer, Cognito,
introspection and combined verifiers expose ``leeway``; stacked Powertools route guards
count a shared limit once (``_Found.counted()``). 2307ebd: the Guard's counting moves to
``guard_limits`` and its trust-mode context reading to ``guard_context``, meant to change
no behaviour (``_is_disconnect`` now also requires a WebSocket event).

Findings are ``xfail(strict=True)`` tests asserting the secure (or correct) behaviour;
attacks that held are plain tests. Real objects, events from ``secauth.testing_events``,
the real clock with margins of minutes or years; no mocks, no sleeps, no servers.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from guard_callers import ACME, AUD, ISS, JWT, MAPPER, PAIR
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
    LeewayVerifier,
    echo,
    ok,
)

from secauth import Guard, JwtVerifier, Routes
from secauth.access import authenticated, public
from secauth.alb import AlbVerifier
from secauth.client_auth import ClientAuth
from secauth.cognito import CognitoVerifier
from secauth.combined_verifier import CombinedVerifier
from secauth.errors import ConfigurationError
from secauth.events import Request
from secauth.integrations.powertools import guard_middleware
from secauth.introspection import IntrospectionVerifier
from secauth.principal import Principal
from secauth.ratelimit import RateLimiter
from secauth.ratelimit.keys import ApiKey
from secauth.responses import Cors
from secauth.testing_events import http_proxy, rest_proxy, websocket_message
from secauth.token_sources import TokenSource

OTHER_KEY = "usage-plan-key-other-0123456789abcdefgh"
PARTNER = [TokenSource.header("x-partner-token")]  # a route guard reading tokens elsewhere
ALB_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188"
)


async def ok_async(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


def answer_for(exp: int | None) -> dict[str, Any]:
    """What a secauth authorizer answers for a token of ann (a member) expiring at ``exp``."""
    claims: dict[str, Any] = {"sub": "ann"}
    if exp is not None:
        claims["exp"] = exp
    context = Principal("ann", roles={"member"}, claims=claims).to_context()
    return {"principalId": "ann", "context": context, "policyDocument": ALLOW}


def ws_message(exp: int) -> dict[str, Any]:
    return websocket_message("sendmessage", "{}", authorizer_response=answer_for(exp))


def partner_call(ip: str = VICTIM_IP, key: str = VICTIM_KEY) -> dict[str, Any]:
    """GET /orders with ann's token in x-partner-token (not Authorization) and a key header."""
    return http_proxy("GET", "/orders", headers={"x-partner-token": ACME, "x-api-key": key},
                      source_ip=ip)  # fmt: skip


def resolve(app: Any, event: dict[str, Any]) -> int:
    answer: dict[str, Any] = app.resolve(event, None)
    return int(answer["statusCode"])


def powertools_app(outer: Guard, *route_guards: Guard) -> APIGatewayHttpResolver:
    """A resolver with ``outer`` for every route and ``route_guards`` on GET /orders."""
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(outer)])

    @app.get("/orders", middlewares=[guard_middleware(g) for g in route_guards])
    def list_orders() -> dict[str, str]:
        return {"ok": "orders"}

    return app


def _per_api_key() -> RateLimiter:
    return RateLimiter.per_api_key("3/minute")


def _per_principal() -> RateLimiter:
    return RateLimiter.per_principal("3/minute")


LIMITS = [
    pytest.param(_per_api_key, id="per_api_key"),
    pytest.param(_per_principal, id="per_principal"),
]


# =============================================================================================
# FINDINGS
# =============================================================================================

# -- F1 (medium-low, fail-open rate limit, Powertools): "each limit counts a request once"
# is keyed by the limit object alone, not by the caller it was counted for. When a guard
# before a route guard saw the caller as anonymous (the global table makes the route
# public, and the route guard reads its token from another source or verifies it with
# another verifier), that guard "counted" the shared limit with principal None: a
# per_principal limit skips anonymous callers, and since 07c486c a per_api_key limit
# skips an unchecked header for them. The route guard then verifies the caller and
# leaves the limit out as already counted: the verified caller is never counted there.
# Before 07c486c the global guard counted the header (4th request 429); before
# ``_Found.counted()`` a second route guard counted the limit for the caller it verified.


def test_global_key_limit_counts_the_caller_a_route_guard_verifies_control() -> None:
    """Control for F1: the route guard alone counts ann's header in the same limit."""
    alone = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None,
                  rate_limit=_per_api_key(), token_sources=PARTNER)(ok)  # fmt: skip
    assert [alone(partner_call(), None)["statusCode"] for _ in range(4)] == [200, 200, 200, 429]


def test_global_key_limit_counts_the_caller_a_route_guard_verifies() -> None:
    shared = _per_api_key()
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None, rate_limit=shared)
    route = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, rate_limit=shared,
                  token_sources=PARTNER)  # fmt: skip
    app = powertools_app(outer, route)
    assert [resolve(app, partner_call()) for _ in range(4)] == [200, 200, 200, 429]


def test_global_principal_limit_counts_the_caller_a_route_guard_verifies() -> None:
    shared = _per_principal()
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None, rate_limit=shared)
    route = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, rate_limit=shared,
                  token_sources=PARTNER)  # fmt: skip
    app = powertools_app(outer, route)
    assert [resolve(app, partner_call()) for _ in range(4)] == [200, 200, 200, 429]


def _route_pair_app(shared: RateLimiter) -> APIGatewayHttpResolver:
    """No global limit; a first route guard that admits anonymous callers and counts
    ``shared``, then one that verifies the partner token and shares ``shared``."""
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    first = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None, rate_limit=shared)
    second = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, rate_limit=shared,
                   token_sources=PARTNER)  # fmt: skip
    return powertools_app(outer, first, second)


@pytest.mark.parametrize("make", LIMITS)
def test_stacked_route_guards_count_a_shared_limit_for_the_verified_caller(make: Any) -> None:
    app = _route_pair_app(make())
    assert [resolve(app, partner_call()) for _ in range(4)] == [200, 200, 200, 429]


@pytest.mark.parametrize("make", LIMITS)
def test_the_verifying_route_guard_alone_counts_the_caller(make: Any) -> None:
    """Control for F1: without the first route guard, the second counts ann."""
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    second = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, rate_limit=make(),
                   token_sources=PARTNER)  # fmt: skip
    app = powertools_app(outer, second)
    assert [resolve(app, partner_call()) for _ in range(4)] == [200, 200, 200, 429]


# -- F2 (low, expired contexts trusted, custom verifiers): the Guard adds
# ``getattr(verifier, "leeway", 0.0)`` to a context's ``secauth_exp`` without the bounds
# ``ClaimPolicy`` puts on every built-in leeway (0..300 s, finite). A verifier of your own
# whose ``leeway`` is NaN, infinite or huge makes the Guard trust a context whose token
# expired in 2020, forever (a WebSocket connection, a cached authorizer answer).


@pytest.mark.parametrize("leeway", [math.nan, math.inf, 1e12], ids=["nan", "inf", "huge"])
def test_a_custom_verifier_leeway_is_bounded(leeway: float) -> None:
    """Refused when the guard is built: a leeway past 300 s (or not a number) would trust
    an expired context forever."""
    with pytest.raises(ConfigurationError, match="leeway must be 0 to 300 seconds"):
        Guard(LeewayVerifier(leeway), trust_authorizer=True, routes=WS_ROUTES, decision_log=None)


def test_a_bounded_custom_leeway_applies() -> None:
    """Control for F2: a sane custom leeway is lent as JwtVerifier's is."""
    guard = Guard(LeewayVerifier(120.0), trust_authorizer=True, routes=WS_ROUTES,
                  decision_log=None)  # fmt: skip
    assert guard(echo)(ws_message(int(time.time()) - 5), None)["statusCode"] == 200
    assert guard(echo)(ws_message(int(time.time()) - 3600), None)["statusCode"] == 401


# -- F3 (low, over-refusal): ``AlbVerifier`` takes a ``leeway`` and verifies with it, but
# exposes none (the one verifier with ``def verify(`` review 39 left out), so a Guard given
# one with ``trust_authorizer=True`` (one function behind an ALB and API Gateway) refuses
# a context its verifier's leeway still accepts.


def _alb_verifier() -> AlbVerifier:
    return AlbVerifier(alb_arn=ALB_ARN, issuer="https://idp.example", client_id="c", leeway=120)


def test_alb_verifier_lends_its_leeway_to_the_context() -> None:
    verifier = _alb_verifier()
    assert getattr(verifier, "leeway", None) == verifier.claims.leeway == 120
    guard = Guard(verifier, trust_authorizer=True, routes=WS_ROUTES, decision_log=None)
    assert guard(echo)(ws_message(int(time.time()) - 5), None)["statusCode"] == 200


# -- F4 (low, over-limiting): "each limit counts a request once" compares limit objects,
# so a limit that is part of the global guard's ``RateLimiter.combine(...)`` and also a
# route guard's own limit counts twice per request: a 3/minute per-principal limit
# admits one request.


def test_a_combined_part_shared_with_a_route_guard_counts_once() -> None:
    per_caller = RateLimiter.per_principal("3/minute")
    outer = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None,
                  rate_limit=RateLimiter.combine(RateLimiter.per_ip("100/minute"), per_caller))  # fmt: skip
    route = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, rate_limit=per_caller)
    app = powertools_app(outer, route)
    calls = [http_proxy("GET", "/orders", token=ACME, source_ip=VICTIM_IP) for _ in range(4)]
    assert [resolve(app, call) for call in calls] == [200, 200, 200, 429]


# -- F5 (low, cross-client quota spend when used directly): ``ApiKey`` only treats
# ``principal is None`` as "no verified caller". The Guard turns the anonymous principal
# into None before counting, but a limiter used in a handler with the caller the guard
# admitted (``limiter.enforce(event, current_principal())``, the pattern of
# docs/ratelimit.md's ``api_limit.hit(event, Principal("alice"))``) gets
# ``Principal.anonymous()`` on a public route, and then counts the unchecked header:
# anonymous requests naming a client's key spend its quota again.


def test_api_key_treats_the_anonymous_principal_as_unverified() -> None:
    request = Request.from_event(http_proxy("GET", "/orders", headers={"x-api-key": VICTIM_KEY},
                                            source_ip=ATTACKER_IP))  # fmt: skip
    assert ApiKey()(request, Principal.anonymous()) is None


def test_api_key_skips_the_header_without_a_caller() -> None:
    """Control for F5: with None (what the Guard passes), the header names no one."""
    request = Request.from_event(http_proxy("GET", "/orders", headers={"x-api-key": VICTIM_KEY},
                                            source_ip=ATTACKER_IP))  # fmt: skip
    assert ApiKey()(request, None) is None
    assert ApiKey()(request, Principal("ann")) is not None


# =============================================================================================
# HELD: ApiKey and what a client can write
# =============================================================================================


def test_anonymous_header_rotation_on_a_public_route_is_not_counted_per_key() -> None:
    """Documented (docs/ratelimit.md, "Other keys"): for an anonymous caller an unchecked
    header names no one and the limit is skipped; a per_ip limit still counts it."""
    guard = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None,
                  rate_limit=RateLimiter.combine(RateLimiter.per_ip("3/minute"),
                                                 RateLimiter.per_api_key("1/minute")))  # fmt: skip
    handler = guard(ok)
    keys = [VICTIM_KEY, VICTIM_KEY, OTHER_KEY, VICTIM_KEY]
    answers = [handler(http_proxy("GET", "/orders", headers={"x-api-key": k},
                                  source_ip=ATTACKER_IP), None)["statusCode"] for k in keys]  # fmt: skip
    assert answers == [200, 200, 200, 429]  # the per-IP limit, not the key's
    victim = http_proxy("GET", "/orders", token=ACME, headers={"x-api-key": VICTIM_KEY},
                        source_ip=VICTIM_IP)  # fmt: skip
    assert handler(victim, None)["statusCode"] == 200  # its quota is untouched


def test_http_api_events_carry_no_identity_a_client_could_fill() -> None:
    """HTTP API payload 2.0 has no ``identity``: a client's header never becomes the
    checked key, whatever it is named."""
    event = http_proxy("GET", "/orders", source_ip=ATTACKER_IP,
                       headers={"x-api-key": VICTIM_KEY, "identity": VICTIM_KEY,
                                "apiKey": VICTIM_KEY, "requestContext": "x"})  # fmt: skip
    request = Request.from_event(event)
    assert dict(request.identity) == {}
    assert ApiKey()(request, None) is None


def test_the_checked_rest_key_counts_an_anonymous_caller() -> None:
    """REST with a usage plan: API Gateway's checked ``identity.apiKey`` counts anonymous
    callers too (it is proven: API Gateway refused the request otherwise)."""
    guard = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None,
                  rate_limit=RateLimiter.per_api_key("2/minute"))  # fmt: skip
    handler = guard(ok)
    event = rest_proxy("GET", "/orders", resource="/orders", source_ip=ATTACKER_IP)
    event["requestContext"]["identity"]["apiKey"] = VICTIM_KEY
    assert [handler(event, None)["statusCode"] for _ in range(3)] == [200, 200, 429]


def test_a_refused_request_never_spends_the_checked_key() -> None:
    """A refused request counts only per IP, even with API Gateway's checked key."""
    guard = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None,
                  rate_limit=RateLimiter.per_api_key("2/minute"))  # fmt: skip
    handler = guard(ok)
    bad = rest_proxy("GET", "/orders", resource="/orders", token=GARBAGE, source_ip=ATTACKER_IP)
    bad["requestContext"]["identity"]["apiKey"] = VICTIM_KEY
    assert [handler(bad, None)["statusCode"] for _ in range(4)] == [401] * 4
    good = rest_proxy("GET", "/orders", resource="/orders", token=ACME, source_ip=VICTIM_IP)
    good["requestContext"]["identity"]["apiKey"] = VICTIM_KEY
    assert [handler(good, None)["statusCode"] for _ in range(3)] == [200, 200, 429]


def test_a_trusted_context_is_a_verified_caller_for_the_key_header() -> None:
    """Trust mode: the authorizer's principal is a verified caller, so the header counts
    (the limit is not silently skipped behind an authorizer)."""
    guard = Guard(routes=ORDERS, decision_log=None, rate_limit=RateLimiter.per_api_key("2/minute"))
    handler = guard(ok)

    def call() -> dict[str, Any]:
        return rest_proxy("GET", "/orders", resource="/orders", source_ip=VICTIM_IP,
                          headers={"x-api-key": VICTIM_KEY},
                          authorizer_response=answer_for(FUTURE))  # fmt: skip

    assert [handler(call(), None)["statusCode"] for _ in range(3)] == [200, 200, 429]


def test_a_verified_caller_behind_the_global_guard_counts_its_header() -> None:
    """Powertools: the caller the global guard verifies counts its header in a shared
    per_api_key limit once (route guard derived with require)."""
    shared = RateLimiter.per_api_key("3/minute")
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None, rate_limit=shared)
    app = powertools_app(outer, outer.require(authenticated()), outer.require(authenticated()))
    calls = [http_proxy("GET", "/orders", token=ACME, headers={"x-api-key": VICTIM_KEY},
                        source_ip=VICTIM_IP) for _ in range(4)]  # fmt: skip
    assert [resolve(app, call) for call in calls] == [200, 200, 200, 429]


def test_a_direct_limiter_without_a_caller_skips_the_header() -> None:
    """Documented behaviour change of 07c486c for direct use: ``limiter.hit(event)``
    without a principal no longer counts an unchecked header (pass the verified caller)."""
    limiter = RateLimiter.per_api_key("1/minute")
    event = http_proxy("GET", "/x", headers={"x-api-key": VICTIM_KEY}, source_ip=VICTIM_IP)
    assert [limiter.hit(event).allowed for _ in range(3)] == [True, True, True]
    assert [limiter.hit(event, Principal("ann")).allowed for _ in range(2)] == [True, False]


# =============================================================================================
# HELD: the verifiers' leeway
# =============================================================================================


def _jwt(leeway: float) -> JwtVerifier:
    return JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]}, leeway=leeway)


def _introspection(leeway: float) -> IntrospectionVerifier:
    return IntrospectionVerifier(issuer=ISS, audience=AUD, leeway=leeway,
                                 client=ClientAuth.basic("api", "s3cret-value"),
                                 endpoint="https://127.0.0.1:9/introspect")  # fmt: skip


def test_each_verifier_exposes_the_leeway_it_verifies_with() -> None:
    assert _introspection(45).leeway == _introspection(45).claims.leeway == 45
    multi = JwtVerifier.multi(_jwt(30), JwtVerifier(issuer="https://other/", audience=AUD,
                                                    jwks={"keys": [PAIR.public_jwk]}, leeway=90))  # fmt: skip
    assert multi.leeway == 90
    cognito = CognitoVerifier(user_pool_id="us-east-1_AbC123", client_id=None, token_use="access",
                              jwks={"keys": [PAIR.public_jwk]}, leeway=75)  # fmt: skip
    assert cognito.leeway == 75
    combined = CombinedVerifier(jwt=_jwt(10), introspection=_introspection(200))
    assert combined.leeway == 200


def test_the_multi_issuer_leeway_stays_bounded() -> None:
    guard = Guard(JwtVerifier.multi(_jwt(300)), trust_authorizer=True, routes=WS_ROUTES,
                  decision_log=None)  # fmt: skip
    assert guard(echo)(ws_message(int(time.time()) - 3600), None)["statusCode"] == 401
    assert guard(echo)(ws_message(int(time.time()) - 5), None)["statusCode"] == 200


# =============================================================================================
# HELD: the refactor (2307ebd) changes no behaviour
# =============================================================================================


def _limited_guard() -> Guard:
    routes = Routes({"GET /orders": authenticated(), "POST /login": public()})
    return Guard(JWT, claims=MAPPER, routes=routes, decision_log=None,
                 cors=Cors(allow_origins=["https://app.example"], allow_methods=["GET"]),
                 rate_limit=RateLimiter.combine(RateLimiter.per_ip("3/minute"),
                                                RateLimiter.per_api_key("1/minute")),
                 route_limits={"POST /login": RateLimiter.per_ip("2/minute")})  # fmt: skip


def _script() -> list[dict[str, Any]]:
    key = {"x-api-key": VICTIM_KEY}
    preflight = {"origin": "https://app.example", "access-control-request-method": "GET"}
    return [
        http_proxy("OPTIONS", "/orders", headers=preflight, source_ip=ATTACKER_IP),
        http_proxy("GET", "/orders", token=GARBAGE, headers=key, source_ip=ATTACKER_IP),
        http_proxy("GET", "/orders", headers=key, source_ip=ATTACKER_IP),
        http_proxy("POST", "/login", headers=key, source_ip=ATTACKER_IP),
        http_proxy("GET", "/orders", token=ACME, headers=key, source_ip=ATTACKER_IP),
        http_proxy("GET", "/orders", token=ACME, headers=key, source_ip=VICTIM_IP),
        http_proxy("POST", "/login", source_ip=ATTACKER_IP),
        http_proxy("GET", "/orders", token=GARBAGE, source_ip=ATTACKER_IP),
    ]


def _answers(answers: list[dict[str, Any]]) -> list[tuple[int, str | None, str | None]]:
    out = []
    for answer in answers:
        headers = answer.get("headers") or {}
        out.append(
            (answer["statusCode"], headers.get("RateLimit-Policy"), headers.get("Retry-After"))
        )
    return out


def test_sync_and_async_guards_count_alike() -> None:
    sync_handler = _limited_guard()(ok)
    async_handler: Callable[[dict[str, Any], Any], Awaitable[Any]] = _limited_guard()(ok_async)
    sync = _answers([sync_handler(event, None) for event in _script()])

    async def run() -> list[dict[str, Any]]:
        return [await async_handler(event, None) for event in _script()]

    assert _answers(asyncio.run(run())) == sync
    statuses = [status for status, _, _ in sync]
    # preflight uncounted; refusals per IP; anonymous public call counted per IP only;
    # the IP's third counted request is refused with the headers of the limits counted
    assert statuses == [204, 401, 401, 200, 429, 200, 429, 429]
    assert sync[4][1] is not None
    assert sync[4][2] is not None


def test_a_refused_request_over_the_ip_limit_is_a_429_with_its_headers() -> None:
    handler = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None,
                    rate_limit=RateLimiter.per_ip("1/minute"))(ok)  # fmt: skip
    first = handler(http_proxy("GET", "/orders", token=GARBAGE, source_ip=ATTACKER_IP), None)
    second = handler(http_proxy("GET", "/orders", token=GARBAGE, source_ip=ATTACKER_IP), None)
    assert (first["statusCode"], second["statusCode"]) == (401, 429)
    assert "Retry-After" in second["headers"]
    assert "RateLimit-Policy" in second["headers"]


def test_limits_for_is_read_on_the_request_alone() -> None:
    """``admit`` now reads the limits before identifying: they depend on the request and
    ``app_path`` only, so a route limit counts the same for every caller."""
    guard = _limited_guard()
    login = Request.from_event(http_proxy("POST", "/login", source_ip=ATTACKER_IP))
    assert len(guard.limits_for(login)) == 2
    assert guard.limits_for(login, app_path="/login") == guard.limits_for(login)
    orders = Request.from_event(http_proxy("GET", "/orders", token=ACME, source_ip=ATTACKER_IP))
    assert guard.limits_for(orders) == (guard.rate_limit,)


def test_only_a_websocket_disconnect_skips_the_expiry() -> None:
    """2307ebd: ``_is_disconnect`` also requires a WebSocket event; a REST event that says
    DISCONNECT is checked, a real $disconnect still runs its cleanup."""
    guarded = Guard(routes=WS_ROUTES, decision_log=None)(echo)
    rest = rest_proxy("GET", "/x", resource="/x", authorizer_response=answer_for(PAST))
    rest["requestContext"]["eventType"] = "DISCONNECT"
    assert Guard(decision_log=None)(ok)(rest, None)["statusCode"] == 401
    disconnect = websocket_message("$disconnect", "{}", authorizer_response=answer_for(PAST))
    disconnect["requestContext"]["eventType"] = "DISCONNECT"
    disconnect["requestContext"].pop("messageId", None)
    disconnect.pop("body", None)
    assert guarded(disconnect, None)["statusCode"] == 200
    assert guarded(ws_message(PAST), None)["statusCode"] == 401


# =============================================================================================
# HELD: _Found.counted() for route guards
# =============================================================================================


def test_stacked_route_guards_with_their_own_limits_each_count() -> None:
    """Only a shared limit is counted once: a route guard's own limit still counts."""
    outer = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None,
                  rate_limit=RateLimiter.per_principal("10/minute"))  # fmt: skip
    first = outer.require(authenticated())
    second = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None,
                   rate_limit=RateLimiter.per_principal("2/minute", name="orders"))  # fmt: skip
    app = powertools_app(outer, first, second)
    calls = [http_proxy("GET", "/orders", token=ACME, source_ip=VICTIM_IP) for _ in range(3)]
    assert [resolve(app, call) for call in calls] == [200, 200, 429]


def test_a_route_limit_of_the_global_table_is_counted_once_under_a_route_guard() -> None:
    """The same limit as the global guard's route limit and a route guard's own: once."""
    per_route = RateLimiter.per_ip("3/minute", name="orders")
    outer = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None,
                  route_limits={"GET /orders": per_route})  # fmt: skip
    route = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, rate_limit=per_route)
    app = powertools_app(outer, route, route)
    calls = [http_proxy("GET", "/orders", token=ACME, source_ip=VICTIM_IP) for _ in range(4)]
    assert [resolve(app, call) for call in calls] == [200, 200, 200, 429]


def test_counted_limits_do_not_leak_between_requests() -> None:
    """The record of counted limits lives in the request's context: the next request's
    route guard counts again."""
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    route = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None,
                  rate_limit=RateLimiter.per_ip("2/minute"))  # fmt: skip
    app = powertools_app(outer, route)
    calls = [http_proxy("GET", "/orders", source_ip=ATTACKER_IP) for _ in range(3)]
    assert [resolve(app, call) for call in calls] == [200, 200, 429]
