"""Review 38: attacking review 36's counting of refused requests and review 37's context
expiry.

Review 36: a request refused for its credentials counts only in the limits keyed by the
client IP (``keyed_by_client_ip``), in the ``Guard``, the ``Authorizer`` and the
Powertools route guards. Review 37: ``Principal.to_context`` writes ``secauth_exp`` (the
token's ``exp``) and a ``Guard`` trusting a context refuses it once passed.

Findings are ``xfail(strict=True)`` tests asserting the secure (or correct) behaviour;
attacks that held are plain tests. Real objects, events from ``secauth.testing_events``,
the real clock with margins of years or a minute; no mocks, no sleeps, no servers.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from guard_callers import ACME, AUD, ISS, JWT, MAPPER, PAIR, token
from limit_callers import (
    ATTACKER_IP,
    FUTURE,
    GARBAGE,
    ORDERS,
    PAST,
    VICTIM_IP,
    VICTIM_KEY,
    echo,
    ok,
    orders,
    ws_event,
)

from secauth import Authorizer, Guard, JwtVerifier, Routes
from secauth.access import authenticated, public, roles
from secauth.errors import InvalidClaims, SecAuthError
from secauth.integrations.powertools import guard_middleware
from secauth.policy import Unauthorized
from secauth.principal import ClaimMapper, Principal, context_expiry
from secauth.ratelimit import PlanFrom, RateLimiter
from secauth.ratelimit.keys import ClientIp
from secauth.testing import KeyPair
from secauth.testing_events import (
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    websocket_connect,
    websocket_message,
)
from secauth.token_sources import TokenSource

MALLORY = token("mallory", tenant="evil")  # a valid token of the attacker's own
WS_ROUTES = Routes(
    {
        "$connect": authenticated(),
        "sendmessage": roles("member"),
        "$default": authenticated(),
        "$disconnect": authenticated(),  # as examples/sam-websocket/app/chat.py
    }
)
WS_PUBLIC_DISCONNECT = Routes({"$connect": authenticated(), "$disconnect": public()})


def effect(answer: dict[str, Any]) -> str:
    return str(answer["policyDocument"]["Statement"][0]["Effect"])


def refused(authorizer: Authorizer, event: dict[str, Any]) -> bool:
    try:
        authorizer.handler(event)
    except Unauthorized:
        return True
    return False


def ws_context(exp: int | None, *, roles_: tuple[str, ...] = ("member",)) -> dict[str, Any]:
    """What a secauth ``$connect`` authorizer answers for a token expiring at ``exp``."""
    claims: dict[str, Any] = {"sub": "ann"}
    if exp is not None:
        claims["exp"] = exp
    context = Principal("ann", roles=set(roles_), claims=claims).to_context()
    return {
        "principalId": "ann",
        "context": context,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}],
        },
    }


def ws_verifier(**options: Any) -> JwtVerifier:
    return JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]}, **options)


# =============================================================================================
# FINDINGS: rate limits
# =============================================================================================

# -- R1 (medium-low, cross-client quota spend): review 36 stopped *failing* credentials
# from spending the per_api_key quota of the key they name, but a request whose token is
# valid (the attacker's own: a sign-up away) still counts in the bucket of whatever
# x-api-key header it sends (``ApiKey.__call__`` reads the header for any principal that
# is not an API-key principal). The header is as unauthenticated as it was for the
# garbage token; only the token changed.


def test_guard_an_unchecked_key_header_is_shared_by_whoever_sends_it() -> None:
    """R1, documented (docs/ratelimit.md, "Other keys"): a key header nobody checked is a
    bucket whoever sends it shares, as with API Gateway's usage plans; a caller with a
    valid token of its own spends it (a refused one no longer does: review 36). A checked
    key (API Gateway's ``identity.apiKey``) is the one counted when present."""
    guard = Guard(JWT, routes=ORDERS, claims=MAPPER, decision_log=None,
                  rate_limit=RateLimiter.per_api_key("3/minute"))  # fmt: skip
    handler = guard(ok)
    for _ in range(3):
        assert handler(orders(MALLORY, ATTACKER_IP, VICTIM_KEY), None)["statusCode"] == 200
    assert handler(orders(ACME, VICTIM_IP, VICTIM_KEY), None)["statusCode"] == 429
    assert handler(orders(GARBAGE, ATTACKER_IP, "pk-another-key-entirely"), None)["statusCode"] == 401


def test_authorizer_an_unchecked_key_header_is_shared_by_whoever_sends_it() -> None:
    authorizer = Authorizer(JWT, claims=MAPPER, routes=ORDERS, decision_log=None,
                            rate_limit=RateLimiter.per_api_key("3/minute"))  # fmt: skip

    def event(bearer: str, ip: str) -> dict[str, Any]:
        return request_authorizer("GET", "/orders", token=bearer,
                                  headers={"x-api-key": VICTIM_KEY}, source_ip=ip)  # fmt: skip

    for _ in range(3):
        with pytest.raises(Unauthorized):  # refused: not counted in the key's bucket
            authorizer.handler(event(GARBAGE, ATTACKER_IP))
    for _ in range(3):
        assert effect(authorizer.handler(event(MALLORY, ATTACKER_IP))) == "Allow"
    assert effect(authorizer.handler(event(ACME, VICTIM_IP))) == "Deny"


# -- R2 (medium-low, the review-36 bug again, Powertools): a route guard with a rule, under
# a global guard whose table lets the route be called anonymously, counts the anonymous
# request in *all* of its own limits (``_route_checks``: ``_hit_limits(own, ..., None)``)
# and only then refuses it for its credentials (``MissingToken``). Alone, the same guard
# refuses it in ``identify`` and counts it in its per-IP limits only. An anonymous request
# naming a client's API key spends that key's per-route quota.


def resolve(app: Any, event: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = app.resolve(event, None)
    return answer


def _powertools_app(route_guard: Guard) -> APIGatewayHttpResolver:
    outer = Guard(JWT, claims=MAPPER, routes=Routes({"GET /orders": public()}), decision_log=None)
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(outer)])

    @app.get("/orders", middlewares=[guard_middleware(route_guard)])
    def list_orders() -> dict[str, str]:
        return {"ok": "orders"}

    return app


def test_powertools_route_guard_anonymous_refusals_do_not_spend_a_clients_key_quota() -> None:
    route_guard = Guard(JWT, claims=MAPPER, routes=Routes({"GET /orders": public()}),
                        route_limits={"GET /orders": RateLimiter.per_api_key("3/minute")},
                        decision_log=None).require(authenticated())  # fmt: skip
    app = _powertools_app(route_guard)
    for _ in range(3):  # no token at all, the victim's key: refused for its credentials
        assert resolve(app, orders(None, ATTACKER_IP, VICTIM_KEY))["statusCode"] == 401
    assert resolve(app, orders(ACME, VICTIM_IP, VICTIM_KEY))["statusCode"] == 200


def test_powertools_route_guard_anonymous_refusals_count_per_ip() -> None:
    """The IP side of the same path holds: the refusals spend the guesser's address."""
    route_guard = Guard(JWT, claims=MAPPER, routes=Routes({"GET /orders": public()}),
                        route_limits={"GET /orders": RateLimiter.per_ip("3/minute")},
                        decision_log=None).require(authenticated())  # fmt: skip
    app = _powertools_app(route_guard)
    answers = [resolve(app, orders(None, ATTACKER_IP))["statusCode"] for _ in range(4)]
    assert answers == [401, 401, 401, 429]
    assert resolve(app, orders(ACME, VICTIM_IP))["statusCode"] == 200


# -- R3 (low): ``keyed_by_client_ip`` keeps only ``RateLimiter`` parts whose key is a
# ``ClientIp``; a ``PlanLimiter`` keyed by the client IP (``per_plan(..., key=ClientIp(),
# default=...)``: a plan's limits per address) is dropped whole, so refused requests,
# counted there before review 36 (at the default plan), are now not counted at all.


def _plan_guard() -> Guard:
    plans = RateLimiter.per_plan({"free": "3/minute", "pro": "100/minute"},
                                 plan_of=PlanFrom.claim("plan"), key=ClientIp(), default="free")  # fmt: skip
    return Guard(JWT, routes=ORDERS, claims=MAPPER, rate_limit=plans, decision_log=None)


def test_plan_limiter_keyed_by_ip_counts_refused_requests() -> None:
    handler = _plan_guard()(ok)
    answers = [handler(orders(GARBAGE, ATTACKER_IP), None)["statusCode"] for _ in range(4)]
    assert answers == [401, 401, 401, 429]


def test_plan_limiter_keyed_by_ip_counts_admitted_requests() -> None:
    """Control: the same limiter counts admitted requests at the default plan."""
    handler = _plan_guard()(ok)
    answers = [handler(orders(ACME, VICTIM_IP), None)["statusCode"] for _ in range(4)]
    assert answers == [200, 200, 200, 429]


# =============================================================================================
# FINDINGS: context expiry
# =============================================================================================

# -- E1 (low-medium, availability): API Gateway sends ``$disconnect`` with the context of
# ``$connect`` whenever the connection ends, typically after the token expired (tokens
# live an hour, connections up to two). The Guard refuses it (401) before the route table
# is read, so the cleanup handler (deleting the connection record, as the documented
# example's ``disconnect`` is for) never runs; API Gateway ignores the answer anyway, so
# refusing protects nothing. Even a ``$disconnect`` the table makes public is refused,
# where the same event without any context would be admitted.


def test_disconnect_after_expiry_still_runs_the_cleanup_handler() -> None:
    cleaned: list[str] = []

    @Guard(routes=WS_ROUTES, decision_log=None)
    def disconnect(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
        cleaned.append(principal.id)
        return {"statusCode": 200}

    answer = disconnect(ws_event("$disconnect", "DISCONNECT", ws_context(PAST)), None)
    assert answer["statusCode"] == 200
    assert cleaned == ["ann"]


def test_an_expired_context_on_a_public_route_is_not_refused() -> None:
    guarded = Guard(routes=WS_PUBLIC_DISCONNECT, decision_log=None)(ok)
    no_context = ws_event("$disconnect", "DISCONNECT", ws_context(FUTURE))
    del no_context["requestContext"]["authorizer"]
    assert guarded(no_context, None)["statusCode"] == 200  # anyone may call it
    expired = ws_event("$disconnect", "DISCONNECT", ws_context(PAST))
    assert guarded(expired, None)["statusCode"] == 200


def test_an_expired_context_is_refused_on_messages() -> None:
    """Control for E1: messages after expiry are refused, as review 37 meant."""
    guarded = Guard(routes=WS_ROUTES, decision_log=None)(echo)
    stale = ws_event("sendmessage", "MESSAGE", ws_context(PAST))
    fresh = ws_event("sendmessage", "MESSAGE", ws_context(FUTURE))
    assert guarded(stale, None)["statusCode"] == 401
    assert guarded(fresh, None)["statusCode"] == 200


# -- E2 (low, over-refusal): the verifier accepts a token until ``exp + leeway``; the
# Authorizer writes ``secauth_exp = exp`` and the Guard refuses at ``exp`` with no leeway,
# even a Guard given the same verifier (trust and verify) that would accept the token.


def test_guard_honours_the_leeway_the_authorizer_allowed() -> None:
    lenient = ws_verifier(leeway=120)
    authorizer = Authorizer(lenient, routes=WS_ROUTES, decision_log=None,
                            token_sources=[TokenSource.query("token")])  # fmt: skip
    within_leeway = token("ann", roles=["member"], exp=int(time.time()) - 5)
    lenient.verify(within_leeway)  # valid for the verifier, for another ~115 s
    answer = authorizer.handler(websocket_connect(query={"token": within_leeway}), None)
    assert effect(answer) == "Allow"
    guard = Guard(lenient, trust_authorizer=True, routes=WS_ROUTES, decision_log=None)
    message = websocket_message("sendmessage", "{}", authorizer_response=answer)
    assert guard(echo)(message, None)["statusCode"] == 200


# -- E3 (low, over-refusal): ``context_expiry`` refuses a ``secauth_exp`` over 12 digits,
# but the verifier accepts ``exp`` up to 2**53 (16 digits) and ``to_context`` writes it:
# a token the Authorizer allows (an IdP writing ``exp`` in milliseconds, say) is refused
# by every Guard behind it as a malformed context.


def test_a_context_the_authorizer_wrote_is_never_malformed_for_the_guard() -> None:
    authorizer = Authorizer(ws_verifier(), routes=WS_ROUTES, decision_log=None,
                            token_sources=[TokenSource.query("token")])  # fmt: skip
    in_ms = token("ann", roles=["member"], exp=FUTURE * 1000)
    answer = authorizer.handler(websocket_connect(query={"token": in_ms}), None)
    assert effect(answer) == "Allow"
    message = websocket_message("sendmessage", "{}", authorizer_response=answer)
    assert Guard(routes=WS_ROUTES, decision_log=None)(echo)(message, None)["statusCode"] == 200


# =============================================================================================
# HELD: rate limits
# =============================================================================================


def test_refused_tokens_spend_the_ip_not_the_named_key_with_trusted_proxies() -> None:
    """Combined per-IP (behind one trusted proxy) and per-API-key limits: garbage tokens
    naming a client's key spend the guesser's address (as the proxy saw it), not the key."""
    limit = RateLimiter.combine(
        RateLimiter(  # the key built directly: still a ClientIp
            "3/minute", key=ClientIp(trusted_proxies=1), name="ip"
        ),
        RateLimiter.per_api_key("3/minute"),
    )
    handler = Guard(JWT, routes=ORDERS, claims=MAPPER, rate_limit=limit, decision_log=None)(ok)

    def via_proxy(bearer: str, client: str) -> dict[str, Any]:
        return http_proxy("GET", "/orders", token=bearer, source_ip="130.176.0.1",
                          headers={"x-api-key": VICTIM_KEY, "x-forwarded-for": client})  # fmt: skip

    answers = [handler(via_proxy(GARBAGE, ATTACKER_IP), None)["statusCode"] for _ in range(4)]
    assert answers == [401, 401, 401, 429]
    assert handler(via_proxy(ACME, VICTIM_IP), None)["statusCode"] == 200


def test_async_guard_counts_refusals_like_the_sync_one() -> None:
    guard = Guard(JWT, routes=ORDERS, claims=MAPPER, decision_log=None,
                  rate_limit=RateLimiter.combine(RateLimiter.per_ip("3/minute"),
                                                 RateLimiter.per_api_key("3/minute")))  # fmt: skip

    async def plain(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ok"}

    handler: Any = guard(plain)

    async def run() -> list[int]:
        codes = [(await handler(orders(GARBAGE, ATTACKER_IP, VICTIM_KEY), None))["statusCode"]
                 for _ in range(4)]  # fmt: skip
        codes.append((await handler(orders(ACME, VICTIM_IP, VICTIM_KEY), None))["statusCode"])
        return codes

    assert asyncio.run(run()) == [401, 401, 401, 429, 200]


def test_a_login_route_limit_per_ip_still_stops_token_guessing() -> None:
    login = Routes({"POST /login": public(), "GET /orders": authenticated()})
    guard = Guard(JWT, routes=login, claims=MAPPER, decision_log=None,
                  route_limits={"POST /login": RateLimiter.per_ip("3/minute")})  # fmt: skip
    handler = guard(ok)
    tries = [handler(http_proxy("POST", "/login", token=GARBAGE, source_ip=ATTACKER_IP), None)
             for _ in range(4)]  # fmt: skip
    assert [t["statusCode"] for t in tries] == [401, 401, 401, 429]
    assert tries[3]["headers"]["RateLimit-Policy"] == '"ip";q=3;w=60'


def test_not_found_without_credentials_counts_per_ip_and_preflights_do_not() -> None:
    from secauth.responses import Cors

    guard = Guard(JWT, routes=ORDERS, claims=MAPPER, decision_log=None,
                  cors=Cors(allow_origins=["https://app.example"]),
                  rate_limit=RateLimiter.per_ip("3/minute"))  # fmt: skip
    handler = guard(ok)
    preflight = http_proxy("OPTIONS", "/orders", source_ip=ATTACKER_IP, headers={
        "origin": "https://app.example", "access-control-request-method": "GET"})  # fmt: skip
    assert [handler(preflight, None)["statusCode"] for _ in range(5)] == [204] * 5
    scan = [handler(http_proxy("GET", f"/nope{i}", source_ip=ATTACKER_IP), None)["statusCode"]
            for i in range(4)]  # fmt: skip
    assert scan == [401, 401, 401, 429]


def test_authorizer_counts_refusals_per_ip_and_denies_a_right_guess_over_the_limit() -> None:
    both: Any = RateLimiter.combine(
        RateLimiter.per_ip("3/minute"), RateLimiter.per_api_key("3/minute")
    )
    authorizer = Authorizer(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, rate_limit=both)

    def event(bearer: str, ip: str) -> dict[str, Any]:
        return request_authorizer("GET", "/orders", token=bearer,
                                  headers={"x-api-key": VICTIM_KEY}, source_ip=ip)  # fmt: skip

    assert all(refused(authorizer, event(GARBAGE, ATTACKER_IP)) for _ in range(3))
    assert effect(authorizer.handler(event(ACME, ATTACKER_IP))) == "Deny"  # over the IP's limit
    assert effect(authorizer.handler(event(ACME, VICTIM_IP))) == "Allow"  # the key untouched


# =============================================================================================
# HELD: context expiry
# =============================================================================================


@pytest.mark.parametrize("exp", [True, "4000000000", None, float("inf")])
def test_the_verifier_refuses_exp_claims_that_are_not_numbers(exp: Any) -> None:
    """No token reaches ``to_context`` with an ``exp`` it would skip (bool, string, null)."""
    with pytest.raises(SecAuthError):
        JWT.verify(PAIR.sign({"iss": ISS, "aud": AUD, "sub": "u", "exp": exp}))


def test_tokens_without_exp_are_refused_by_default() -> None:
    with pytest.raises(InvalidClaims):
        JWT.verify(PAIR.sign({"iss": ISS, "aud": AUD, "sub": "u"}))


def test_a_fractional_exp_is_rounded_down_and_a_negative_one_fails_closed() -> None:
    fraction = Principal("u", claims={"exp": 1_700_000_000.999}).to_context()
    assert fraction["secauth_exp"] == "1700000000"  # never later than the token
    negative = Principal("u", claims={"exp": -5}).to_context()
    with pytest.raises(InvalidClaims):
        context_expiry(negative)


@pytest.mark.parametrize("value", ["+4000000000", " 4000000000", "4e9", "٤٠٠٠٠٠٠٠٠٠", "",
                                   "4000000000.5", "-1"])  # fmt: skip
def test_malformed_secauth_exp_is_refused(value: str) -> None:
    answer = ws_context(FUTURE)
    answer["context"]["secauth_exp"] = value
    guarded = Guard(routes=WS_ROUTES, decision_log=None)(echo)
    assert guarded(ws_event("sendmessage", "MESSAGE", answer), None)["statusCode"] == 401


def test_extra_context_cannot_set_or_extend_secauth_exp() -> None:
    authorizer = Authorizer(ws_verifier(), routes=WS_ROUTES, decision_log=None,
                            token_sources=[TokenSource.query("token")],
                            context=lambda p: {"secauth_exp": "999999999999"})  # fmt: skip
    short = token("ann", roles=["member"], exp=FUTURE)
    answer = authorizer.handler(websocket_connect(query={"token": short}), None)
    assert answer["context"]["secauth_exp"] == str(FUTURE)
    keys = Authorizer(ws_verifier(), routes=WS_ROUTES, decision_log=None,
                      context=lambda p: {"secauth_exp": "999999999999", "plan": "x"})  # fmt: skip
    merged = keys._respond  # the merge itself, for a principal without exp (an API key's)
    from secauth.authorizer import Credentials
    from secauth.events import Request

    request = Request.from_event(websocket_connect(query={"token": short}))
    decision = keys.routes.decide(Principal("k", kind="api_key"), "$connect", "", request)
    built = merged(request, Credentials(Principal("k", kind="api_key")), decision)
    assert "secauth_exp" not in built["context"]
    assert built["context"]["plan"] == "x"


def test_the_principal_memo_never_skips_the_expiry_check() -> None:
    guard = Guard(routes=WS_ROUTES, decision_log=None)
    guarded = guard(echo)
    fresh, stale = ws_context(FUTURE), ws_context(PAST)
    assert guarded(ws_event("sendmessage", "MESSAGE", fresh), None)["statusCode"] == 200
    for _ in range(2):  # the same strings but secauth_exp; then a memo hit on the stale one
        assert guarded(ws_event("sendmessage", "MESSAGE", stale), None)["statusCode"] == 401


def test_async_guard_refuses_an_expired_context() -> None:
    async def who(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
        return {"statusCode": 200, "body": principal.id}

    handler: Any = Guard(routes=WS_ROUTES, decision_log=None)(who)

    stale = ws_event("sendmessage", "MESSAGE", ws_context(PAST))
    fresh = ws_event("sendmessage", "MESSAGE", ws_context(FUTURE))
    assert asyncio.run(handler(stale, None))["statusCode"] == 401
    assert asyncio.run(handler(fresh, None))["statusCode"] == 200


def test_http_api_simple_response_context_expires_too() -> None:
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]},
                           clock=lambda: PAST - 100)  # fmt: skip
    authorizer = Authorizer(verifier, claims=MAPPER, routes=ORDERS, simple_responses=True,
                            decision_log=None)  # fmt: skip
    old = token(tenant="acme", exp=PAST)
    answer = authorizer.handler(http_authorizer_v2("GET", "/orders", token=old), None)
    assert answer["isAuthorized"] is True
    assert answer["context"]["secauth_exp"] == str(PAST)
    event = http_proxy("GET", "/orders", authorizer_response=answer)
    assert Guard(routes=ORDERS, decision_log=None)(ok)(event, None)["statusCode"] == 401


def test_trust_and_verify_refuses_an_expired_cached_context_with_its_token() -> None:
    old = token(tenant="acme", exp=PAST)
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]},
                           clock=lambda: PAST - 100)  # fmt: skip
    authorizer = Authorizer(verifier, claims=MAPPER, routes=ORDERS, decision_log=None)
    answer = authorizer.handler(request_authorizer("GET", "/orders", token=old), None)
    event = http_proxy("GET", "/orders", token=old,
                       authorizer_response={**answer, "isAuthorized": True})  # fmt: skip
    guard = Guard(JWT, trust_authorizer=True, routes=ORDERS, claims=MAPPER, decision_log=None)
    assert guard(ok)(event, None)["statusCode"] == 401


def test_cognito_mapper_and_multi_issuer_contexts_carry_the_expiry() -> None:
    other = KeyPair.generate("ES256", kid="r38-b")
    multi = JwtVerifier.multi(
        JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]}),
        JwtVerifier(issuer="https://b.example/", audience=AUD, jwks={"keys": [other.public_jwk]}),
    )
    claims = multi.verify(other.sign({"iss": "https://b.example/", "aud": AUD, "sub": "u",
                                      "cognito:groups": ["member"], "exp": FUTURE}))  # fmt: skip
    context = ClaimMapper.cognito().map(claims).to_context()
    assert context_expiry(context) == FUTURE


def test_powertools_global_guard_refuses_an_expired_context() -> None:
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(Guard(routes=ORDERS, decision_log=None))])

    @app.get("/orders")
    def list_orders() -> dict[str, str]:
        return {"ok": "orders"}

    def event(exp: int) -> dict[str, Any]:
        context = Principal("ann", claims={"exp": exp}).to_context()
        return http_proxy("GET", "/orders",
                          authorizer_response={"isAuthorized": True, "context": context})  # fmt: skip

    assert resolve(app, event(PAST))["statusCode"] == 401
    answer = resolve(app, event(FUTURE))
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"ok": "orders"}
