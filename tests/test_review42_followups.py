"""Review 42: attacking review 41's fix (484218d).

484218d: ``_Found.identified_by`` names the guard that identified the caller (the global
guard, or the route guard that verified a caller the guards before it took for
anonymous); a later route guard compares itself with that guard
(``_identifies_otherwise``); ``_Found.verified`` re-counts the limits counted so far in
another bucket than the verified caller's (``counts_alike``: key and plan).

The yardstick is the documented intent: every guard of the stack decides as it would
alone on the same request, and each limit counts a request once, as one guard holding
the same rules counts it (``Guard.admit``). Findings are ``xfail(strict=True)`` tests
asserting the secure (or correct) behaviour; attacks that held are plain tests. Real
objects, events from ``secauth.testing_events``, real keys and DPoP proofs, the real
clock with margins of minutes or years; no mocks, no sleeps, no servers.
"""

from __future__ import annotations

import copy
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from dpop_parties import CLIENT, URL, VERIFIER
from dpop_parties import token as dpop_token
from guard_callers import (
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
from limit_callers import ATTACKER_IP, ORDERS, PUBLIC_ORDERS, VICTIM_IP, VICTIM_KEY

from secauth import Guard, JwtVerifier, Routes, current_principal
from secauth.access import authenticated, public, roles
from secauth.dpop import DpopVerifier
from secauth.dpop_replay import MemoryReplayStore
from secauth.integrations.powertools import guard_middleware
from secauth.principal import ClaimMapper, Principal
from secauth.ratelimit import RateLimiter
from secauth.ratelimit.keys import ClientIp
from secauth.ratelimit.plans import PlanFrom
from secauth.sender_constraint import SenderConstraint
from secauth.testing_events import http_proxy
from secauth.token_sources import TokenSource


def acme(sub: str, **claims: Any) -> str:
    claims.setdefault("tenant", "acme")
    return token(sub, **claims)


def ok(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


def alone(guard: Guard, event: dict[str, Any], times: int = 1) -> list[int]:
    handler = guard(ok)
    return [int(handler(copy.deepcopy(event), None)["statusCode"]) for _ in range(times)]


def resolve(app: Any, event: dict[str, Any]) -> int:
    answer: dict[str, Any] = app.resolve(copy.deepcopy(event), None)
    return int(answer["statusCode"])


def stack(outer: Guard, *route_guards: Guard, path: str = "/orders",
          seen: list[Any] | None = None) -> Any:  # fmt: skip
    """A resolver with ``outer`` for every route and ``route_guards`` on GET ``path``; the
    route appends (current_principal().id, its roles) to ``seen``."""
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(outer)])

    @app.get(path, middlewares=[guard_middleware(g) for g in route_guards])
    def route() -> dict[str, str]:
        if seen is not None:
            who = current_principal()
            seen.append((who.id, sorted(who.roles)))
        return {"ok": "yes"}

    return app


def call(token_: str | None = None, ip: str = VICTIM_IP, path: str = "/orders",
         **headers: str) -> dict[str, Any]:  # fmt: skip
    sent = {k.replace("_", "-"): v for k, v in headers.items()}
    if token_ is None:
        return http_proxy("GET", path, headers=sent, source_ip=ip)
    return http_proxy("GET", path, token=token_, headers=sent, source_ip=ip)


# =============================================================================================
# FINDINGS
# =============================================================================================

# -- F1 (low-medium, DPoP replay, Powertools): a route guard that checks the request itself
# is told the request's DPoP proof was already recorded
# (``identify(proof_recorded=True)``) whenever the GLOBAL guard has a DPoP verifier and the
# caller found so far is not anonymous. Nothing asks whether any guard actually checked and
# recorded a proof: the global guard may have verified a plain Bearer token (no proof
# checked), or a route guard without DPoP may have verified the caller (484218d:
# ``found.principal`` changes, ``found.guard`` does not). The route guard then checks the
# proof of ITS bound token without recording its ``jti`` and without
# ``check_recorded_elsewhere``: the same request (token and proof) is accepted again and
# again for the proof's lifetime, and a route guard with ``DpopVerifier(replay=None)``,
# which alone refuses every DPoP request no authorizer recorded, admits it.
# Alone, the route guard records the proof: the replay is a 401.

BOUND_SOURCE = [TokenSource.header("x-bound-token", scheme="DPoP")]
ORDER_7 = Routes({"GET /orders/7": authenticated()})
PUBLIC_ORDER_7 = Routes({"GET /orders/7": public()})
UNRECORDED = DpopVerifier(replay=None)
BOUND = dpop_token()  # ann's token bound to CLIENT's key
UNBOUND = dpop_token(None)  # ann's plain bearer token


def _dpop_outer(**options: Any) -> Guard:
    """Our global guard: DPoP accepted (with a replay store), the order public."""
    dpop = DpopVerifier(replay=MemoryReplayStore())
    return Guard(VERIFIER, decision_log=None, routes=PUBLIC_ORDER_7,
                 sender_constraint=SenderConstraint(dpop=dpop), **options)  # fmt: skip


def _bound_route_guard(replay: bool = True) -> Guard:
    """A route guard requiring a DPoP-bound token, read from x-bound-token."""
    if replay:
        dpop = DpopVerifier(replay=MemoryReplayStore())
        return Guard(VERIFIER, decision_log=None, routes=ORDER_7, token_sources=BOUND_SOURCE,
                     sender_constraint=SenderConstraint(require="dpop", dpop=dpop))  # fmt: skip
    return Guard(VERIFIER, decision_log=None, routes=ORDER_7, token_sources=BOUND_SOURCE,
                 trust_authorizer=True,  # replay=None: only behind an Authorizer that records
                 sender_constraint=SenderConstraint(require="dpop", dpop=UNRECORDED))  # fmt: skip


def _bound_call(**headers: str) -> dict[str, Any]:
    """GET /orders/7 with ann's bound token in x-bound-token and a fresh proof for it."""
    sent = {"x-bound-token": f"DPoP {BOUND}", "dpop": CLIENT.proof("GET", URL, access_token=BOUND)}
    return http_proxy("GET", "/orders/7", headers={**sent, **headers})


def test_a_bound_route_guard_alone_refuses_a_replayed_proof_control() -> None:
    """Control for F1: alone, the route guard admits the request once (its proof is
    recorded); without a replay store and an authorizer, it refuses it outright. Under a
    global guard that found nobody (anonymous), the stack records the proof too."""
    event = _bound_call(authorization=f"Bearer {UNBOUND}")
    assert alone(_bound_route_guard(), event, 2) == [200, 401]
    assert alone(_bound_route_guard(replay=False), event, 1) == [401]
    app = stack(_dpop_outer(), _bound_route_guard(), path="/orders/7")
    anonymous = _bound_call()
    assert [resolve(app, anonymous) for _ in range(2)] == [200, 401]


def test_a_proof_is_not_replayable_when_the_global_guard_saw_a_bearer_token() -> None:
    app = stack(_dpop_outer(), _bound_route_guard(), path="/orders/7")
    event = _bound_call(authorization=f"Bearer {UNBOUND}")  # the global guard verifies ann
    assert [resolve(app, event) for _ in range(2)] == [200, 401]


def test_a_route_guard_without_replay_store_still_refuses_an_unrecorded_proof() -> None:
    app = stack(_dpop_outer(), _bound_route_guard(replay=False), path="/orders/7")
    event = _bound_call(authorization=f"Bearer {UNBOUND}")
    assert resolve(app, event) == 401


def test_a_proof_is_not_replayable_after_a_route_guard_without_dpop_verified() -> None:
    """The global guard (DPoP accepted) found nobody; a route guard without DPoP verified
    ann's bearer token in x-partner-token; the bound route guard is then told its proof
    was recorded (the global guard has DPoP; the caller is no longer anonymous)."""
    bearer = Guard(VERIFIER, decision_log=None, routes=ORDER_7, token_sources=PARTNER)
    app = stack(_dpop_outer(), bearer, _bound_route_guard(), path="/orders/7")
    event = _bound_call(**{"x-partner-token": UNBOUND})
    assert [resolve(app, event) for _ in range(2)] == [200, 401]


# -- F2 (low, fail-closed, DPoP, Powertools): the other side of F1. When the global guard
# has no DPoP verifier, a route guard that re-checks a caller whom an earlier ROUTE guard
# verified with a DPoP proof (and recorded it) is told nothing was recorded: it records
# the same ``jti`` again in the shared replay store, finds it used, and refuses every
# legitimate request (401). Alone, either route guard admits it.


def test_a_proof_a_route_guard_recorded_is_not_recorded_twice() -> None:
    shared = DpopVerifier(replay=MemoryReplayStore())
    outer = Guard(VERIFIER, decision_log=None, routes=PUBLIC_ORDER_7)  # no DPoP here
    accepts = Guard(VERIFIER, decision_log=None, routes=ORDER_7, token_sources=BOUND_SOURCE,
                    sender_constraint=SenderConstraint(dpop=shared))  # fmt: skip
    requires = Guard(VERIFIER, decision_log=None, routes=ORDER_7, token_sources=BOUND_SOURCE,
                     sender_constraint=SenderConstraint(require="dpop", dpop=shared))  # fmt: skip
    assert alone(requires, _bound_call()) == [200]
    app = stack(outer, accepts, requires, path="/orders/7")
    assert resolve(app, _bound_call()) == 200


# =============================================================================================
# HELD: every guard of the stack decides as it would alone (authorization)
# =============================================================================================

# Roles read from "groups" only: a token's "roles" claim grants nothing here.
GROUPS_MAPPER = ClaimMapper(tenant_claim="tenant", role_claims=("groups",))
ALLOW = {
    "Version": "2012-10-17",
    "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}],
}


def _with_context(principal: Principal, **sent: Any) -> dict[str, Any]:
    """GET /orders with a secauth authorizer's context for ``principal``."""
    answer = {"principalId": principal.id, "context": principal.to_context(),
              "policyDocument": ALLOW}  # fmt: skip
    return http_proxy("GET", "/orders", authorizer_response=answer, source_ip=VICTIM_IP, **sent)


def _partner_guard(**options: Any) -> Guard:
    return Guard(PARTNER_JWT, claims=MAPPER, routes=ORDERS, decision_log=None,
                 token_sources=PARTNER, **options)  # fmt: skip


def test_a_guard_derived_from_the_verifying_route_guard_decides_on_its_caller() -> None:
    """Route guard 1 (partner IdP) verified the caller; route guard 2 is derived from it
    (``require``): it identifies as route guard 1 does and takes its caller, as it would
    alone: a partner admin passes, a partner member is refused (403)."""
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    partner = _partner_guard()
    seen: list[Any] = []
    app = stack(outer, partner, partner.require(roles("admin")), seen=seen)
    admin = call(**{"x-partner-token": partner_token("root", roles=["admin"], tenant="acme")})
    member = call(**{"x-partner-token": partner_token("pat", roles=["member"], tenant="acme")})
    assert alone(partner.require(roles("admin")), admin) == [200]
    assert alone(partner.require(roles("admin")), member) == [403]
    assert [resolve(app, admin), resolve(app, member)] == [200, 403]
    assert seen == [("root", ["admin"])]


def test_a_later_guard_with_another_claim_mapping_re_reads_a_route_verified_caller() -> None:
    """Route guard 2 reads the same header with the same verifier as route guard 1, but
    maps roles from "groups": it maps the token itself (the partner's "roles: [admin]"
    grants nothing there), as it does alone."""
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    partner = _partner_guard()
    strict = Guard(PARTNER_JWT, claims=GROUPS_MAPPER, routes=ORDERS, decision_log=None,
                   token_sources=PARTNER, rule=roles("admin"))  # fmt: skip
    forged = call(**{"x-partner-token": partner_token("root", roles=["admin"], tenant="acme")})
    assert alone(strict, forged) == [403]
    assert resolve(stack(outer, partner, strict), forged) == 403
    granted = call(**{"x-partner-token": partner_token("root", groups=["admin"], tenant="acme")})
    assert resolve(stack(outer, partner, strict), granted) == 200


def test_a_route_guard_with_another_claim_mapping_re_reads_a_globally_verified_caller() -> None:
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    strict = Guard(JWT, claims=GROUPS_MAPPER, routes=ORDERS, decision_log=None,
                   rule=roles("admin"))  # fmt: skip
    event = call(ADMIN)  # roles: [admin], no groups
    assert alone(strict, event) == [403]
    assert alone(outer.require(roles("admin")), event) == [200]
    assert resolve(stack(outer, strict), event) == 403
    assert resolve(stack(outer, outer.require(roles("admin")), strict), event) == 403


def test_an_anonymous_caller_is_refused_by_a_route_guard_with_another_mapping_and_a_rule() -> None:
    """The asymmetric branch: an anonymous caller is not re-read for another claim
    mapping, so the route guard's rule must refuse it (401), as alone."""
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    strict = Guard(JWT, claims=GROUPS_MAPPER, routes=PUBLIC_ORDERS, decision_log=None,
                   rule=roles("admin"))  # fmt: skip
    open_table = Guard(JWT, claims=GROUPS_MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    anonymous = call()
    assert alone(strict, anonymous) == [401]
    assert alone(open_table, anonymous) == [200]
    assert resolve(stack(outer, strict), anonymous) == 401
    assert resolve(stack(outer, open_table), anonymous) == 200


def test_a_third_guard_compares_with_the_first_verifier_not_a_later_agreeing_one() -> None:
    """Route guard 1 (partner) verified ann; route guard 2 (ours, x-other-token) found the
    same ann; route guard 3 (our admin rule, Authorization) reads Authorization itself:
    there is nothing there (401), as alone, even with ann an admin in x-other-token."""
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    ours_elsewhere = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None,
                           token_sources=OTHER)  # fmt: skip
    admin_rule = outer.require(roles("admin"))
    event = call(**{"x-partner-token": partner_token("root", tenant="acme"),
                    "x-other-token": ADMIN})  # fmt: skip
    assert alone(admin_rule, event) == [401]
    seen: list[Any] = []
    app = stack(outer, _partner_guard(), ours_elsewhere, admin_rule, seen=seen)
    assert resolve(app, event) == 401
    # The partner's root and our root are two callers (the stack compares issuers, as
    # guard_context.same_caller does): the guard reading x-other-token disagrees.
    app = stack(outer, _partner_guard(), ours_elsewhere, ours_elsewhere.require(roles("admin")),
                seen=seen)  # fmt: skip
    assert resolve(app, event) == 401
    # Without the partner guard, the guard derived from the one reading x-other-token
    # decides on the caller it found.
    app = stack(outer, ours_elsewhere, ours_elsewhere.require(roles("admin")), seen=seen)
    assert resolve(app, event) == 200
    assert seen == [("root", ["admin"])]


def test_a_trusted_context_caller_is_not_replaced_by_a_route_guards_token() -> None:
    """The global guard takes ann from the authorizer's context; a route guard that
    verifies tokens finds root (admin) in Authorization: different callers, refused."""
    outer = Guard(trust_authorizer=True, routes=PUBLIC_ORDERS, decision_log=None)
    verifying = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None,
                      rule=roles("admin"))  # fmt: skip
    ann = Principal("ann", tenant="acme", roles={"member"})
    seen: list[Any] = []
    event = _with_context(ann, token=ADMIN)
    assert resolve(stack(outer, verifying, seen=seen), event) in (401, 403)
    assert resolve(stack(outer, outer.require(roles("admin")), seen=seen), event) == 403
    assert seen == []


def test_a_trusting_verifier_route_guard_refuses_a_token_the_context_disagrees_with() -> None:
    """The global guard (our verifier, trusting contexts) takes ann from the context (no
    token in Authorization); a route guard reading x-partner-token with the same trust
    finds root's token there: the token and the context disagree (401)."""
    outer = Guard(JWT, claims=MAPPER, trust_authorizer=True, routes=PUBLIC_ORDERS,
                  decision_log=None)  # fmt: skip
    route = Guard(JWT, claims=MAPPER, trust_authorizer=True, routes=ORDERS, decision_log=None,
                  token_sources=PARTNER, rule=roles("admin"))  # fmt: skip
    ann = Principal("ann", tenant="acme", roles={"member"})
    event = _with_context(ann, headers={"x-partner-token": ADMIN})
    assert alone(route, event) == [401]
    assert resolve(stack(outer, route), event) == 401


def test_a_trust_only_rule_after_a_route_verified_caller_asks_for_a_context() -> None:
    """The global guard trusts contexts only and found none (public, anonymous); a route
    guard verified root's admin token in x-partner-token; the global guard's admin rule still needs a
    context (401), as alone."""
    outer = Guard(trust_authorizer=True, routes=PUBLIC_ORDERS, decision_log=None)
    verifying = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None,
                      token_sources=PARTNER)  # fmt: skip
    event = call(**{"x-partner-token": ADMIN})
    assert alone(outer.require(roles("admin")), event) == [401]
    assert alone(outer, call(ADMIN)) == [401]  # a token in Authorization needs a context
    assert resolve(stack(outer, verifying, outer.require(roles("admin"))), event) == 401
    assert resolve(stack(outer, verifying, verifying.require(roles("admin"))), event) == 200


# =============================================================================================
# HELD: each limit counts the caller the route runs as, once
# =============================================================================================


def _partner_call(sub: str = "ann", ip: str = VICTIM_IP, **claims: Any) -> dict[str, Any]:
    claims.setdefault("tenant", "acme")
    return call(ip=ip, **{"x-partner-token": partner_token(sub, **claims),
                          "x-api-key": VICTIM_KEY})  # fmt: skip


def test_a_global_per_tenant_limit_counts_a_route_verified_caller() -> None:
    """Control: one guard reading the partner header counts acme 2 a minute; the stack
    (global limit, partner route guard) too, whoever in acme calls, from any address."""
    single = _partner_guard(rate_limit=RateLimiter.per_tenant("2/minute"))
    assert alone(single, _partner_call(), 3) == [200, 200, 429]
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None,
                  rate_limit=RateLimiter.per_tenant("2/minute"))  # fmt: skip
    app = stack(outer, _partner_guard())
    calls = [_partner_call(sub, ip) for sub, ip in
             [("ann", "192.0.2.1"), ("bob", "192.0.2.2"), ("cy", "192.0.2.3")]]  # fmt: skip
    assert [resolve(app, each) for each in calls] == [200, 200, 429]


def test_a_global_plan_limit_counts_a_route_verified_caller_at_its_plan() -> None:
    plans = RateLimiter.per_plan({"free": "2/minute", "pro": "50/minute"},
                                 plan_of=PlanFrom.claim("plan"))  # fmt: skip
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None, rate_limit=plans)
    app = stack(outer, _partner_guard())
    assert [resolve(app, _partner_call(plan="free")) for _ in range(3)] == [200, 200, 429]
    assert resolve(app, _partner_call("bob", plan="pro")) == 200


def test_an_ip_plan_limit_counts_the_anonymous_and_the_verified_plan() -> None:
    """Keyed by the IP: the anonymous caller counted at the default plan by the global
    guard, the verified one at its own plan (never left at the anonymous plan's 100)."""
    plans = RateLimiter.per_plan({"anon": "100/minute", "free": "2/minute"},
                                 plan_of=PlanFrom.claim("plan"), key=ClientIp(),
                                 default="anon")  # fmt: skip
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None, rate_limit=plans)
    app = stack(outer, _partner_guard())
    assert [resolve(app, _partner_call(plan="free")) for _ in range(3)] == [200, 200, 429]


def test_a_route_limit_counted_for_nobody_counts_the_later_verified_caller() -> None:
    """Route guard 1 (public table, our verifier, x-other-token) found nobody and counted
    its per-user limit for nobody; route guard 2 (partner) verified ann: route guard 1's
    limit counts her (2 a minute), as one guard holding both would."""
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    first = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None,
                  token_sources=OTHER, rate_limit=RateLimiter.per_principal("2/minute"))  # fmt: skip
    app = stack(outer, first, _partner_guard())
    calls = [_partner_call(ip=f"192.0.2.{n}") for n in range(3)]
    assert [resolve(app, each) for each in calls] == [200, 200, 429]


def test_a_guard_derived_from_the_verifying_route_guard_counts_its_own_limit() -> None:
    partner = _partner_guard()
    quota = partner.require(authenticated())
    quota.rate_limit = RateLimiter.per_principal("2/minute", name="derived")
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    app = stack(outer, partner, quota)
    assert [resolve(app, _partner_call(ip=f"192.0.2.{n}")) for n in range(3)] == [200, 200, 429]


def test_a_shared_limit_counts_once_when_a_route_guard_re_reads_a_global_caller() -> None:
    """The global guard verified ann; a route guard checks ann again (another verifier of
    our issuer, reading another header): a per-user limit both hold counts her once per
    request."""
    shared = RateLimiter.per_principal("3/minute")
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None, rate_limit=shared)
    stricter = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]},
                           required_claims=["tenant"])  # fmt: skip
    again = Guard(stricter, claims=MAPPER, routes=ORDERS, decision_log=None,
                  token_sources=PARTNER, rate_limit=shared)  # fmt: skip
    app = stack(outer, again)
    event = call(acme("ann"), **{"x-partner-token": acme("ann")})
    assert [resolve(app, event) for _ in range(4)] == [200, 200, 200, 429]


def test_a_login_route_limit_counts_refusals_of_a_re_reading_route_guard() -> None:
    """A tight per-IP limit on a route guard that reads its own header: failed
    credentials there count in it (3 a minute), as alone."""
    outer = Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS, decision_log=None)
    login = _partner_guard(rate_limit=RateLimiter.per_ip("3/minute", name="login"))
    app = stack(outer, login)
    forged = call(ip=ATTACKER_IP, **{"x-partner-token": token("mallory")})  # not the partner's
    assert [resolve(app, forged) for _ in range(4)] == [401, 401, 401, 429]
