"""Review 44: attacking review 43's fix (ed2a801).

ed2a801: ``_Found.proof_stores`` holds the replay stores a guard of the Powertools stack
recorded this request's DPoP proof in (``recorded_by(guard)``, from ``_proof_store``); a
route guard calls ``identify(request, proof_recorded=found.proof_recorded(guard))``: True
when its own store object is among them (for a guard without a store: any store).

The yardstick, as in reviews 42 and 43: every guard of the stack decides as it would alone
on the same request (a replay one guard alone refuses is refused by the stack; a
legitimate request each guard alone admits is admitted). Findings are
``xfail(strict=True)`` tests asserting the secure (or working) behaviour; attacks that held
are plain tests. Real objects, keys and proofs; the clocks that move are test clocks
(``dpop_parties.Clock``); no mocks, no sleeps, no servers.
"""

from __future__ import annotations

import copy
import secrets
import time
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, APIGatewayRestResolver
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from dpop_parties import CLIENT, URL, VERIFIER, Clock
from dpop_stacks import (
    BOUND,
    BOUND_SOURCE,
    ORDER_7,
    UNBOUND,
    alone,
    bound_guard,
    dpop,
    dpop_outer,
    ok,
    resolve,
)

from secauth import Authorizer, Guard, Routes, current_principal
from secauth.access import authenticated
from secauth.dpop import DpopVerifier
from secauth.dpop_nonce import NONCE_HEADER, DpopNonces
from secauth.dpop_replay import MemoryReplayStore
from secauth.events import Request
from secauth.integrations.powertools import guard_handler, guard_middleware
from secauth.sender_constraint import SenderConstraint
from secauth.testing_events import http_authorizer_v2, http_proxy, rest_proxy
from secauth.token_sources import TokenSource


def stack(outer: Guard, *route_guards: Guard, resolver: type = APIGatewayHttpResolver) -> Any:
    app = resolver()
    app.use(middlewares=[guard_middleware(outer)])

    @app.get("/orders/7", middlewares=[guard_middleware(g) for g in route_guards])
    def route() -> dict[str, str]:
        return {"ok": "yes"}

    return app


def order(**headers: str) -> dict[str, Any]:
    sent = {name.replace("_", "-"): value for name, value in headers.items()}
    return http_proxy("GET", "/orders/7", headers=sent)


def signed(**options: Any) -> dict[str, Any]:
    """The client's request: ann's bound token in Authorization and a fresh proof."""
    proof = CLIENT.proof("GET", URL, access_token=BOUND, **options)
    return order(authorization=f"DPoP {BOUND}", dpop=proof)


# =============================================================================================
# FINDINGS
# =============================================================================================

# -- F1 (low-medium, fails closed, Powertools): the documented `guard_handler` form (around
# `app.resolve`, for apps with `enable_validation=True`) plus per-route `guard_middleware`
# guards. The route middleware finds no `_Found` (guard_handler puts nothing in
# `app.context`), so it runs as a global guard and records the proof a second time. With
# the store shared as docs/guard.md advises ("one store object (or one DpopVerifier)"),
# e.g. `guard.require(...)` for the route, every legitimate DPoP request to that route is
# refused as a replay (401 "DPoP proof already used"). Alone, each guard admits it.


def _handler_form(guard: Guard, route_guard: Guard) -> Any:
    app = APIGatewayHttpResolver()

    @app.get("/orders/7", middlewares=[guard_middleware(route_guard)])
    def route() -> dict[str, str]:
        return {"ok": "yes"}

    @guard_handler(guard=guard)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return app.resolve(event, context)

    return handler


def test_guard_handler_and_route_guard_each_admit_a_fresh_proof_alone_control() -> None:
    guard = Guard(VERIFIER, decision_log=None, sender_constraint=SenderConstraint(dpop=dpop()))
    assert alone(guard, signed()) == [200]
    assert alone(guard.require(authenticated()), signed()) == [200]


def test_guard_handler_with_a_route_guard_sharing_its_store_fails_closed_documented() -> None:
    """F1, documented (docs/guard.md, "DPoP under stacked guards"): under ``guard_handler``
    a route's middleware is a guard of its own and records the proof again: with the
    outer guard's store it refuses every request (fails closed); give it a store of its
    own (the next test)."""
    guard = Guard(VERIFIER, decision_log=None, sender_constraint=SenderConstraint(dpop=dpop()))
    handler = _handler_form(guard, guard.require(authenticated()))
    event = signed()
    statuses = [int(handler(copy.deepcopy(e), None)["statusCode"]) for e in (event, event)]
    assert statuses == [401, 401]


def test_guard_handler_with_a_route_guard_of_its_own_store_admits_once() -> None:
    """Separate stores: each records once; the replay is refused by the outer guard."""
    guard = Guard(VERIFIER, decision_log=None, sender_constraint=SenderConstraint(dpop=dpop()))
    route = Guard(VERIFIER, decision_log=None, sender_constraint=SenderConstraint(dpop=dpop()))
    handler = _handler_form(guard, route)
    event = signed()
    statuses = [int(handler(copy.deepcopy(e), None)["statusCode"]) for e in (event, event)]
    assert statuses == [200, 401]


# -- F2 (low-medium, fails closed, Powertools): a route guard with DPoP server nonces under
# a global guard without them. The route guard refuses the first
# proof with `use_dpop_nonce`; the refusal is answered by the OUTER guard
# (`guard.refusal(...)` with the outer guard's `sender_constraint.nonces`), so the 401
# carries no `DPoP-Nonce`: the client never learns a nonce it can use, and every request
# is refused.
# Alone, the route guard's 401 carries its nonce and the retry is admitted.


def _nonce_route(nonces: DpopNonces) -> Guard:
    return Guard(VERIFIER, decision_log=None,
                 sender_constraint=SenderConstraint(dpop=dpop(nonces=nonces)))  # fmt: skip


def _retry_with_the_nonce(answer: Any, call: Any) -> list[int]:
    """The 401's status, and the status of a retry with the nonce it carried."""
    nonce = answer["headers"].get(NONCE_HEADER)
    retried = call(signed(nonce=nonce)) if nonce else answer
    return [int(answer["statusCode"]), int(retried["statusCode"])]


def test_a_nonce_route_guard_alone_hands_out_its_nonce_control() -> None:
    route = _nonce_route(DpopNonces(secret=secrets.token_bytes(32)))
    handler = route(ok)
    first = handler(signed(), None)
    assert "use_dpop_nonce" in first["headers"]["WWW-Authenticate"]
    assert _retry_with_the_nonce(first, lambda e: handler(e, None)) == [401, 200]


def test_a_nonce_route_guard_in_a_stack_answers_with_the_outer_guards_nonces_documented() -> None:
    """F2, documented (docs/guard.md, "DPoP under stacked guards"): the outer guard answers
    a route guard's refusal, with its own nonces: configure nonces on the outer guard
    (one ``DpopNonces`` for the stack, the next test). Here the outer guard has none, so
    the ``use_dpop_nonce`` refusal carries no nonce to retry with (fails closed)."""
    app = stack(dpop_outer(routes=None), _nonce_route(DpopNonces(secret=secrets.token_bytes(32))))
    first = app.resolve(signed(), None)
    assert first["statusCode"] == 401
    assert "use_dpop_nonce" in first["headers"]["WWW-Authenticate"]
    assert "DPoP-Nonce" not in first["headers"]


def test_one_nonce_source_for_both_guards_admits_the_retry_and_refuses_its_replay() -> None:
    nonces = DpopNonces(secret=secrets.token_bytes(32))
    shared = dpop(nonces=nonces)
    authorization = [TokenSource.header("authorization")]
    app = stack(dpop_outer(shared, routes=None), bound_guard(shared, token_sources=authorization))
    first = app.resolve(signed(), None)
    nonce = first["headers"].get(NONCE_HEADER)
    assert first["statusCode"] == 401
    assert nonce
    retry = signed(nonce=nonce)
    assert resolve(app, retry, retry) == [200, 401]  # the nonce is not consumed; the jti is


# -- F3 (low, DPoP replay, Powertools): two DpopVerifiers over ONE store object (allowed by
# docs/guard.md), the global one with max_age=60, the route one with max_age=300. On the
# first request the global guard records the jti until iat+66; the route guard, told the
# proof is recorded in its store, records nothing. 100 s later the attacker replays the
# proof without Authorization (the global route is public, so the global guard checks
# nothing): the route guard (proof 100 s old, within its 300 s) finds the entry expired
# and admits the replay. Alone, the route guard recorded the jti until iat+306 and refuses.


def _windows(clock: Clock) -> tuple[Guard, Guard]:
    store = MemoryReplayStore(clock=clock, monotonic=clock)  # time passes for both clocks
    outer = dpop_outer(dpop(store, clock=clock, max_age=60))
    route = bound_guard(dpop(store, clock=clock, max_age=300))
    return outer, route


def _first_and_replay(clock: Clock) -> tuple[dict[str, Any], dict[str, Any]]:
    proof = CLIENT.proof("GET", URL, access_token=BOUND, iat=clock.now)
    first = order(authorization=f"DPoP {BOUND}", x_bound_token=f"DPoP {BOUND}", dpop=proof)
    return first, order(x_bound_token=f"DPoP {BOUND}", dpop=proof)


def test_a_route_guard_with_a_longer_window_alone_refuses_the_late_replay_control() -> None:
    clock = Clock(float(int(time.time())))
    _, route = _windows(clock)
    first, replay = _first_and_replay(clock)
    handler = route(ok)
    statuses = [handler(copy.deepcopy(first), None)["statusCode"]]
    clock.now += 100
    statuses.append(handler(copy.deepcopy(replay), None)["statusCode"])
    assert statuses == [200, 401]


def test_a_shared_store_with_different_windows_is_refused_not_replayable() -> None:
    """F3, fixed by refusing the configuration: guards sharing one store with different
    windows answer a configuration error (500) when both check one request's proof,
    instead of keeping it for the shorter window (a replay to the longer one) or recording
    it twice (every request refused). The later request checked by the route guard alone
    is the first its window admits (the first request was refused), as alone."""
    clock = Clock(float(int(time.time())))
    app = stack(*_windows(clock))
    first, replay = _first_and_replay(clock)
    statuses = resolve(app, first)
    clock.now += 100
    statuses += resolve(app, replay)
    statuses += resolve(app, replay)
    assert statuses == [500, 200, 401]


def test_same_windows_over_a_shared_store_refuse_the_late_replay() -> None:
    clock = Clock(float(int(time.time())))
    store = MemoryReplayStore(clock=clock)
    app = stack(dpop_outer(dpop(store, clock=clock, max_age=300)),
                bound_guard(dpop(store, clock=clock, max_age=300)))  # fmt: skip
    first, replay = _first_and_replay(clock)
    statuses = resolve(app, first)
    clock.now += 100
    statuses += resolve(app, replay)
    assert statuses == [200, 401]


# -- F4 (medium on Powertools 3.0 to 3.2, which `secauth[powertools]` allows: ">=3"): those
# versions clear `app.context` only after the response was built (no try/finally; the
# installed 3.37 has one). An exception escaping `resolve` after the global guard admitted
# a caller (a route result Powertools cannot serialize, a middleware outside the guard
# raising) leaves `_Found` in the context: the next request on the warm container is
# taken by the global guard middleware for a route guard under a global guard, and runs
# as the previous caller without any credentials. The resolver below is
# `ApiGatewayResolver.resolve` as Powertools 3.0.0 wrote it.


class _Powertools30Resolver(APIGatewayHttpResolver):
    """``resolve`` of Powertools 3.0.0 to 3.2: the context is cleared on success only."""

    def resolve(self, event: Any, context: Any) -> dict[str, Any]:
        BaseRouter.current_event = self._to_proxy_event(event)
        BaseRouter.lambda_context = context
        response = self._build_response(self._resolve())
        self.clear_context()
        return response


def _crash_then_anonymous(resolver: type) -> dict[str, Any]:
    guard = Guard(VERIFIER, decision_log=None,
                  routes=Routes({"GET /me": authenticated(), "GET /bad": authenticated()}))  # fmt: skip
    app = resolver()
    app.use(middlewares=[guard_middleware(guard)])

    @app.get("/me")
    def me() -> dict[str, str]:
        return {"id": current_principal().id}

    @app.get("/bad")
    def bad() -> dict[str, Any]:
        return {"unserializable": object()}  # raises in Powertools' build, after the guard

    with pytest.raises(TypeError):
        app.resolve(http_proxy("GET", "/bad", headers={"authorization": f"Bearer {UNBOUND}"}), None)
    return app.resolve(http_proxy("GET", "/me"), None)


def test_the_installed_powertools_clears_the_context_after_a_request_raised() -> None:
    answer = _crash_then_anonymous(APIGatewayHttpResolver)
    assert answer["statusCode"] == 401
    assert "ann" not in answer["body"]


def test_a_found_caller_never_survives_into_the_next_request() -> None:
    answer = _crash_then_anonymous(_Powertools30Resolver)
    assert answer["statusCode"] == 401
    assert "ann" not in answer["body"]


# =============================================================================================
# HELD
# =============================================================================================


def test_a_refused_request_leaves_nothing_for_the_next_one() -> None:
    """A route guard's refusal (and a route's crash) are answered inside resolve: the next
    anonymous request to a route that needs a caller is a 401."""
    outer = dpop_outer()
    app = stack(outer, bound_guard())
    sent = order(authorization=f"DPoP {BOUND}", dpop=CLIENT.proof("GET", URL, access_token=BOUND))
    assert resolve(app, sent) == [401]  # no x-bound-token: the route guard refuses
    assert resolve(app, order()) == [401]
    assert app.context == {}


def _rest_event(*proofs: str, **headers: str) -> dict[str, Any]:
    """A REST v1 event for GET /orders/7 whose multiValueHeaders repeat DPoP."""
    event = rest_proxy("GET", "/orders/7", resource="/orders/7", headers=headers)
    event["multiValueHeaders"]["DPoP"] = list(proofs)
    event["headers"]["DPoP"] = proofs[-1]  # API Gateway keeps the last one here
    return event


REST_URL = DpopVerifier(replay=None).expected_uri(Request.from_event(_rest_event("x")))


@pytest.mark.parametrize("where", ["authorization", "x-bound-token"])
def test_rest_multi_value_dpop_headers_are_refused_by_the_stack(where: str) -> None:
    """Two DPoP headers (two proofs, or one sent twice): whichever guard checks the proof
    refuses them, as alone."""
    first = CLIENT.proof("GET", REST_URL, access_token=BOUND)
    second = CLIENT.proof("GET", REST_URL, access_token=BOUND)
    app = stack(dpop_outer(), bound_guard(), resolver=APIGatewayRestResolver)
    for proofs in ((first, second), (first, first)):
        event = _rest_event(*proofs, **{where: f"DPoP {BOUND}", "x-bound-token": f"DPoP {BOUND}"})
        assert alone(bound_guard(), event) == [401]
        assert resolve(app, event) == [401]


def test_rest_one_multi_value_dpop_header_is_admitted_once() -> None:
    proof = CLIENT.proof("GET", REST_URL, access_token=BOUND)
    event = _rest_event(proof, authorization=f"DPoP {BOUND}", **{"x-bound-token": f"DPoP {BOUND}"})
    app = stack(dpop_outer(), bound_guard(), resolver=APIGatewayRestResolver)
    assert resolve(app, event, event) == [200, 401]


def test_a_global_guard_on_the_context_with_a_store_leaves_the_proof_to_the_route_guard() -> None:
    """The global guard (trust + verifier + its own store) takes ann from the authorizer's
    context (no token in Authorization): `_proof_store` reads no token for it, so nothing
    is noted, and the route guard over the SAME store records the proof: the replay is
    refused (had `_proof_store` claimed the global guard recorded it, the route guard would
    check without recording and admit the replay). Since review 54 the global guard, which
    verifies too, refuses a context without a token it reads: 401 to both."""
    shared = dpop()
    outer = dpop_outer(shared, trust_authorizer=True)
    gate = Authorizer(VERIFIER, decision_log=None, sender_constraint=SenderConstraint(dpop=dpop()))
    proof = CLIENT.proof("GET", URL, access_token=BOUND)
    sent = {"authorization": f"DPoP {BOUND}", "dpop": proof}
    answer = gate.handler(http_authorizer_v2("GET", "/orders/7", headers=sent), None)
    gated = http_proxy("GET", "/orders/7", authorizer_response=answer,
                       headers={"x-bound-token": f"DPoP {BOUND}", "dpop": proof})  # fmt: skip
    assert resolve(stack(outer, bound_guard(shared)), gated, gated) == [401, 401]


def test_a_route_guard_trusting_the_global_caller_meets_the_global_replay_check() -> None:
    """`outer.require(...)` does not re-identify: it relies on the global guard, which read
    the same token and proof; the whole replay and the replay without Authorization are
    both refused."""
    outer = dpop_outer(routes=ORDER_7)
    app = stack(outer, outer.require(authenticated()))
    event = signed()
    stripped = order(dpop=event["headers"]["dpop"])
    assert resolve(app, event, event, stripped) == [200, 401, 401]


def test_an_unbound_token_with_the_dpop_scheme_records_nothing_for_the_route_guard() -> None:
    """The route guard (DPoP allowed, not required, shared store) is sent a plain token
    with the DPoP scheme: refused before any record, so the bound request that follows
    with the same proof is admitted once."""
    shared = dpop()
    outer = dpop_outer(shared)
    route = Guard(VERIFIER, decision_log=None, routes=ORDER_7, token_sources=BOUND_SOURCE,
                  sender_constraint=SenderConstraint(dpop=shared))  # fmt: skip
    app = stack(outer, route)
    proof = CLIENT.proof("GET", URL, access_token=BOUND)
    wrong = order(x_bound_token=f"DPoP {UNBOUND}", dpop=proof)
    right = order(x_bound_token=f"DPoP {BOUND}", dpop=proof)
    assert resolve(app, wrong, right, right) == [401, 200, 401]
