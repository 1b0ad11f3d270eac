"""Review 45: attacking review 44's fix (55db394).

55db394: ``_found(app, event)`` hands a guard middleware the global guard's admission
(``_Found``) only when it was made for the event Powertools is resolving
(``found.request.raw is event``, ``event = app.current_event.raw_event``), else the
middleware acts as the global guard; the global middleware pops ``_CONTEXT_KEY`` in its
``finally``; ``_Found.proof_recorded(guard)`` raises ``ConfigurationError`` when stacked
guards share one DPoP replay store with different windows (``max_age + leeway``).

Attacked: (1) the identity check in every HTTP resolver, with ``Router``/``include_router``,
``enable_validation=True`` and ``resolve_async`` (a route guard that missed the
admission would act as a second global guard: a second decision record, and a second
record of the DPoP proof); an admission for another event planted in the context;
(2) the ``finally`` pop, and ``app.context["secauth_principal"]`` across requests on
Powertools 3.0 to 3.2; (3) the configuration error: only a configuration can raise it,
and its answer holds no configuration detail.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; attacks that held
are plain tests. Real objects, keys and proofs; no mocks, no sleeps, no servers.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import (
    ALBResolver,
    APIGatewayHttpResolver,
    APIGatewayRestResolver,
    LambdaFunctionUrlResolver,
)
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter, Router
from dpop_parties import CLIENT, VERIFIER, Clock
from dpop_parties import token as dpop_token

from secauth import Guard, Routes, current_principal
from secauth.access import authenticated, public
from secauth.dpop import DpopVerifier
from secauth.dpop_replay import MemoryReplayStore
from secauth.errors import ConfigurationError, MissingToken
from secauth.events import Request
from secauth.integrations.powertools import guard_middleware
from secauth.sender_constraint import SenderConstraint
from secauth.testing_events import alb, function_url, http_proxy, rest_proxy
from secauth.token_sources import TokenSource

BOUND = dpop_token()  # ann's token bound to CLIENT's key
UNBOUND = dpop_token(None)  # ann's plain bearer token
BEARER = {"authorization": f"Bearer {UNBOUND}"}
BOUND_SOURCE = [TokenSource.header("x-bound-token", scheme="DPoP")]
ORDER_7 = Routes({"GET /orders/7": authenticated()})

EVENTS: dict[str, tuple[type, Callable[..., dict[str, Any]]]] = {
    "http": (APIGatewayHttpResolver, lambda h: http_proxy("GET", "/orders/7", headers=h)),
    "rest": (APIGatewayRestResolver,
             lambda h: rest_proxy("GET", "/orders/7", resource="/orders/7", headers=h)),
    "alb": (ALBResolver, lambda h: alb("GET", "/orders/7", headers=h)),
    "url": (LambdaFunctionUrlResolver, lambda h: function_url("GET", "/orders/7", headers=h)),
}  # fmt: skip


class Decisions:
    """An ``on_decision`` sink: the decision records a guard published."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def __call__(self, record: Mapping[str, Any]) -> None:
        self.records.append(dict(record))


def resolve(app: Any, event: dict[str, Any], *, run_async: bool = False) -> dict[str, Any]:
    sent = copy.deepcopy(event)
    if run_async:
        return asyncio.run(app.resolve_async(sent, None))
    return dict(app.resolve(sent, None))


def stack(
    resolver: type,
    outer: Guard,
    *route_guards: Guard,
    via_router: bool = False,
    **options: Any,
) -> Any:
    """``outer`` global, ``route_guards`` on GET /orders/7 (in a ``Router`` if asked)."""
    app = resolver(**options)
    app.use(middlewares=[guard_middleware(outer)])
    routes: Any = Router() if via_router else app

    @routes.get("/orders/7", middlewares=[guard_middleware(g) for g in route_guards])
    def order() -> dict[str, str]:
        return {"id": current_principal().id}

    if via_router:
        app.include_router(routes)
    return app


def dpop(store: MemoryReplayStore | None = None, **options: Any) -> DpopVerifier:
    return DpopVerifier(replay=store if store is not None else MemoryReplayStore(), **options)


def dpop_guard(verifier: DpopVerifier, **options: Any) -> Guard:
    constraint = SenderConstraint(dpop=verifier)
    return Guard(VERIFIER, decision_log=None, sender_constraint=constraint, **options)


def signed(make: Callable[..., dict[str, Any]], **headers: str) -> dict[str, Any]:
    """``make``'s event with ann's bound token in Authorization and a fresh proof for its URL."""
    url = DpopVerifier(replay=None).expected_uri(Request.from_event(make({})))
    proof = CLIENT.proof("GET", url, access_token=BOUND)
    return make({"authorization": f"DPoP {BOUND}", "dpop": proof, **headers})


# =============================================================================================
# FINDINGS
# =============================================================================================

# -- F1 (low, Powertools 3.0 to 3.2, which `secauth[powertools]` allows: ">=3"): review 44's
# fix pops `_CONTEXT_KEY` at the end of the request but not `secauth_principal`, which the
# same middleware puts in `app.context` ("the middleware also puts it in
# app.context['secauth_principal']", docs/guard.md). Those Powertools versions keep the
# context when an exception escapes `resolve` (here: a route result Powertools cannot
# serialize, raised after the guard returned). The next request on the warm container
# then reads the previous caller there wherever the guard did not overwrite it: an
# unguarded route of an app that guards some routes only, or an app middleware around the
# guard (an audit log) for a request the guard refused (a 401 sets no principal).
# `_Powertools30Resolver` is `ApiGatewayResolver.resolve` of 3.0.0-3.2.0 (3.2.0 verified:
# `response = self._resolve().build(...)`, then `self.clear_context()`, no try/finally).


class _Powertools30Resolver(APIGatewayHttpResolver):
    """``resolve`` of Powertools 3.0.0 to 3.2: the context is cleared on success only."""

    def resolve(self, event: Any, context: Any) -> dict[str, Any]:
        BaseRouter.current_event = self._to_proxy_event(event)
        BaseRouter.lambda_context = context
        response = self._build_response(self._resolve())
        self.clear_context()
        return response


def _crash_as_ann(app: Any) -> None:
    """ann calls GET /bad, whose result Powertools cannot serialize (after the guard)."""
    with pytest.raises(TypeError):
        app.resolve(http_proxy("GET", "/bad", headers=BEARER), None)


def _route_guarded_app(resolver: type) -> Any:
    """A guard on GET /bad only; GET /feed is public and personalizes when it knows the
    caller (reads app.context, as documented)."""
    guard = Guard(VERIFIER, decision_log=None)
    app = resolver()

    @app.get("/bad", middlewares=[guard_middleware(guard)])
    def bad() -> dict[str, Any]:
        return {"unserializable": object()}

    @app.get("/feed")
    def feed() -> dict[str, Any]:
        principal = app.context.get("secauth_principal")
        return {"for": principal.id if principal is not None else None}

    return app


def test_the_installed_powertools_leaves_no_principal_for_an_unguarded_route_control() -> None:
    app = _route_guarded_app(APIGatewayHttpResolver)
    _crash_as_ann(app)
    assert resolve(app, http_proxy("GET", "/feed"))["body"] == '{"for":null}'


def test_an_unguarded_route_reads_no_previous_caller_through_current_principal() -> None:
    """Documented (docs/guard.md): on Powertools releases whose ``resolve`` keeps
    ``app.context`` after a request that raised, a route no guard runs for can find the
    previous caller in ``app.context["secauth_principal"]`` (no secauth code runs there
    to remove it); ``current_principal()`` never outlives the guarded call."""
    app = _route_guarded_app(_Powertools30Resolver)

    @app.get("/feed2")
    def feed2() -> dict[str, Any]:
        try:
            return {"for": current_principal().id}
        except MissingToken:  # no guarded call in progress: nobody
            return {"for": None}

    _crash_as_ann(app)
    assert "secauth_guard" not in app.context  # review 44's pop held
    assert resolve(app, http_proxy("GET", "/feed2"))["body"] == '{"for":null}'
    # the documented limit: app.context is Powertools', and this release kept it for the
    # request after the one that raised
    _crash_as_ann(app)
    assert resolve(app, http_proxy("GET", "/feed"))["body"] == '{"for":"ann"}'
    # a request that runs a secauth guard removes what an earlier one left
    _crash_as_ann(app)
    assert resolve(app, http_proxy("GET", "/bad"))["statusCode"] == 401
    assert "secauth_principal" not in app.context


def _audited_app(resolver: type, audit: list[Any]) -> Any:
    """A global guard (GET /me needs a caller) under an audit middleware that logs the
    caller ``app.context`` names once the guard answered."""
    guard = Guard(VERIFIER, decision_log=None,
                  routes=Routes({"GET /me": authenticated(), "GET /bad": authenticated()}))  # fmt: skip

    def audit_caller(app: Any, next_middleware: Callable[[Any], Any]) -> Any:
        response = next_middleware(app)
        principal = app.context.get("secauth_principal")
        audit.append(principal.id if principal is not None else None)
        return response

    app = resolver()
    app.use(middlewares=[audit_caller, guard_middleware(guard)])

    @app.get("/me")
    def me() -> dict[str, str]:
        return {"id": current_principal().id}

    @app.get("/bad")
    def bad() -> dict[str, Any]:
        return {"unserializable": object()}

    return app


def test_the_installed_powertools_audits_no_caller_for_a_refused_request_control() -> None:
    audit: list[Any] = []
    app = _audited_app(APIGatewayHttpResolver, audit)
    _crash_as_ann(app)
    assert resolve(app, http_proxy("GET", "/me"))["statusCode"] == 401
    assert audit == ["ann", None]


def test_a_refused_request_is_never_attributed_to_the_previous_caller() -> None:
    audit: list[Any] = []
    app = _audited_app(_Powertools30Resolver, audit)
    _crash_as_ann(app)
    assert resolve(app, http_proxy("GET", "/me"))["statusCode"] == 401  # the guard held
    assert audit == ["ann", None]  # observed: ["ann", "ann"], a 401 logged as ann's


# =============================================================================================
# HELD
# =============================================================================================

# -- (1) The identity check: Powertools wraps the event once per resolve
# (`BaseRouter.current_event = self._to_proxy_event(event)`, class-level, shared with
# `Router` through `api_resolver`) and `raw_event` is the dict it was given; the global
# guard's `Request.raw` is that dict. Every route guard below takes the admission (one
# decision record per request, not one per guard); a route guard that missed it would
# publish its own.


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("validation", [False, True], ids=["plain", "validation"])
@pytest.mark.parametrize("via_router", [False, True], ids=["app", "router"])
@pytest.mark.parametrize("kind", sorted(EVENTS))
def test_route_guards_take_the_global_admission_in_every_resolver(
    kind: str, via_router: bool, validation: bool, run_async: bool
) -> None:
    resolver, make = EVENTS[kind]
    decisions = Decisions()
    outer = Guard(VERIFIER, decision_log=None, on_decision=decisions)
    own = Decisions()
    partner = Guard(VERIFIER, decision_log=None, on_decision=own, routes=ORDER_7)
    app = stack(resolver, outer, outer.require(authenticated()), partner,
                via_router=via_router, enable_validation=validation)  # fmt: skip
    answer = resolve(app, make(BEARER), run_async=run_async)
    assert (answer["statusCode"], answer["body"]) == (200, '{"id":"ann"}')
    assert [r.get("principal") for r in decisions.records] == ["ann"]
    assert own.records == []  # the route guard decided inside the global guard's record
    assert app.context == {}
    refused = resolve(app, make({}), run_async=run_async)  # anonymous: the route guard refuses
    assert refused["statusCode"] == 401
    assert [r.get("decision") for r in decisions.records][-1] != "allow"
    assert own.records == []


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("via_router", [False, True], ids=["app", "router"])
@pytest.mark.parametrize("kind", ["http", "rest"])
def test_a_route_guard_over_the_global_store_records_a_proof_once(
    kind: str, via_router: bool, run_async: bool
) -> None:
    """Were the admission missed, the route guard (same store) would record the proof a
    second time and refuse every request; the replay is refused."""
    resolver, make = EVENTS[kind]
    shared = dpop()
    app = stack(resolver, dpop_guard(shared), dpop_guard(shared, routes=ORDER_7),
                via_router=via_router, enable_validation=True)  # fmt: skip
    event = signed(make)
    statuses = [resolve(app, event, run_async=run_async)["statusCode"] for _ in range(2)]
    assert statuses == [200, 401]


def _captured_admission() -> Any:
    """The global guard's admission of ann's request (taken from inside the route)."""
    guard = Guard(VERIFIER, decision_log=None)
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(guard)])
    kept: list[Any] = []

    @app.get("/orders/7")
    def order() -> dict[str, str]:
        kept.append(app.context["secauth_guard"])
        return {"id": current_principal().id}

    assert resolve(app, http_proxy("GET", "/orders/7", headers=BEARER))["statusCode"] == 200
    return kept[0]


@pytest.mark.parametrize("resolver", [APIGatewayHttpResolver, _Powertools30Resolver])
def test_an_admission_for_another_event_is_never_taken(resolver: type) -> None:
    """ann's admission, left in the context (as Powertools 3.0-3.2 left one before the
    pop), meets an anonymous request: the global guard (and the route guard under it)
    check this request; nobody runs as ann, and the stale admission is removed."""
    guard = Guard(VERIFIER, decision_log=None, routes=Routes({"GET /orders/7": public()}))
    app = stack(resolver, guard, guard.require(authenticated()))
    app.append_context(secauth_guard=_captured_admission())
    answer = resolve(app, http_proxy("GET", "/orders/7"))
    assert answer["statusCode"] == 401
    assert "ann" not in answer["body"]
    assert "secauth_guard" not in app.context


def test_the_global_guard_pops_its_admission_even_when_resolve_raises_after_it() -> None:
    """Powertools 3.0-3.2: the crash escapes after the guard returned; its ``finally``
    already removed the admission, so no later request can meet it."""
    guard = Guard(VERIFIER, decision_log=None)
    app = _Powertools30Resolver()
    app.use(middlewares=[guard_middleware(guard)])

    @app.get("/bad", middlewares=[guard_middleware(guard.require(authenticated()))])
    def bad() -> dict[str, Any]:
        return {"unserializable": object()}

    _crash_as_ann(app)
    assert "secauth_guard" not in app.context
    assert resolve(app, http_proxy("GET", "/bad"))["statusCode"] == 401


def test_two_route_guards_both_run_inside_the_global_admission() -> None:
    """The pop is in the global guard's ``finally``: the route guards (inside
    ``next_middleware``) run before it. The second one's rule is applied (403), not
    skipped for want of an admission."""
    from secauth.access import roles

    outer = Guard(VERIFIER, decision_log=None)
    app = stack(APIGatewayHttpResolver, outer, outer.require(authenticated()),
                outer.require(roles("admin")))  # fmt: skip
    assert resolve(app, http_proxy("GET", "/orders/7", headers=BEARER))["statusCode"] == 403
    admin = dpop_token(None, roles=["admin"])
    event = http_proxy("GET", "/orders/7", headers={"authorization": f"Bearer {admin}"})
    assert resolve(app, event)["statusCode"] == 200
    assert app.context == {}


# -- (3) The configuration error: raised only for guards sharing a store with different
# windows, which is configuration (a correct stack never answers it, whatever the client
# sends); its answer is a generic 500 without the configuration's details.

URL_HTTP = "https://abcdef123.execute-api.us-east-1.amazonaws.com/orders/7"


def _shared_stack(outer_dpop: DpopVerifier, route_dpop: DpopVerifier) -> Any:
    outer = dpop_guard(outer_dpop, routes=Routes({"GET /orders/7": public()}))
    route = dpop_guard(route_dpop, routes=ORDER_7, token_sources=BOUND_SOURCE)
    return stack(APIGatewayHttpResolver, outer, route)


def _shapes(proof: str) -> list[dict[str, Any]]:
    """What a client may send with one proof: the token to either guard, both, neither."""
    bound = f"DPoP {BOUND}"
    return [
        http_proxy("GET", "/orders/7", headers=h)
        for h in (
            {"authorization": bound, "x-bound-token": bound, "dpop": proof},
            {"x-bound-token": bound, "dpop": proof},
            {"authorization": bound, "dpop": proof},
            {"authorization": f"Bearer {BOUND}", "x-bound-token": bound, "dpop": proof},
            {"authorization": f"DPoP {UNBOUND}", "x-bound-token": bound, "dpop": proof},
            {"dpop": proof},
        )
    ]


@pytest.mark.parametrize(
    "windows",
    [((60, 5), (60, 5)), ((60, 5), (55, 10)), ((300, 0), (290, 10))],
    ids=["same", "same-sum", "long"],
)
def test_no_request_raises_the_configuration_error_on_a_shared_store_with_one_window(
    windows: tuple[tuple[int, int], tuple[int, int]],
) -> None:
    """Equal ``max_age + leeway`` (even split differently) keep a proof equally long:
    no request shape answers a 500, and the whole request is admitted once."""
    clock = Clock(float(int(time.time())))
    store = MemoryReplayStore(clock=clock)
    (age_a, lee_a), (age_b, lee_b) = windows
    app = _shared_stack(dpop(store, clock=clock, max_age=age_a, leeway=lee_a),
                        dpop(store, clock=clock, max_age=age_b, leeway=lee_b))  # fmt: skip
    proof = CLIENT.proof("GET", URL_HTTP, access_token=BOUND, iat=clock.now)
    statuses = [resolve(app, event)["statusCode"] for event in _shapes(proof)]
    assert 500 not in statuses
    assert statuses[0] == 200
    assert statuses.count(200) == 1  # one proof, one admission
    replay = CLIENT.proof("GET", URL_HTTP, access_token=BOUND, iat=clock.now)
    first, *later = _shapes(replay)
    assert resolve(app, first)["statusCode"] == 200
    assert all(resolve(app, event)["statusCode"] == 401 for event in later[:2])


def test_separate_stores_with_different_windows_never_raise() -> None:
    clock = Clock(float(int(time.time())))
    app = _shared_stack(dpop(MemoryReplayStore(clock=clock), clock=clock, max_age=60),
                        dpop(MemoryReplayStore(clock=clock), clock=clock, max_age=300))  # fmt: skip
    proof = CLIENT.proof("GET", URL_HTTP, access_token=BOUND, iat=clock.now)
    statuses = [resolve(app, event)["statusCode"] for event in _shapes(proof)]
    assert 500 not in statuses
    assert statuses[0] == 200


def test_the_configuration_error_answer_and_record_hold_no_configuration_detail() -> None:
    clock = Clock(float(int(time.time())))
    store = MemoryReplayStore(clock=clock)
    decisions = Decisions()
    outer = Guard(VERIFIER, decision_log=None, on_decision=decisions,
                  routes=Routes({"GET /orders/7": public()}),
                  sender_constraint=SenderConstraint(dpop=dpop(store, clock=clock, max_age=60)))  # fmt: skip
    route = dpop_guard(dpop(store, clock=clock, max_age=300), routes=ORDER_7,
                       token_sources=BOUND_SOURCE)  # fmt: skip
    app = stack(APIGatewayHttpResolver, outer, route)
    proof = CLIENT.proof("GET", URL_HTTP, access_token=BOUND, iat=clock.now)
    answer = resolve(app, _shapes(proof)[0])
    assert answer["statusCode"] == 500
    told = f"{answer['body']} {answer['headers']} {decisions.records}"
    leaked = ("different windows", "replay store", "max_age", "leeway", "300", BOUND, proof)
    assert [detail for detail in leaked if detail in told] == []
    assert decisions.records[-1].get("reason") == "configuration_error"


def test_the_configuration_error_is_the_developers_message_in_the_exception_only() -> None:
    """The message names the fix and no secret (no store, key, token or proof)."""
    store = MemoryReplayStore()
    route = dpop_guard(dpop(store, max_age=300))
    event = signed(EVENTS["http"][1])
    outer = dpop_guard(dpop(store, max_age=60))
    found = _admission_of(outer, event)
    with pytest.raises(ConfigurationError) as raised:
        found.proof_recorded(route)
    message = str(raised.value)
    assert "different windows" in message
    assert [s for s in (BOUND, event["headers"]["dpop"], repr(store)) if s in message] == []


def _admission_of(guard: Guard, event: dict[str, Any]) -> Any:
    """``guard``'s admission of ``event`` as its middleware keeps it for route guards."""
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(guard)])
    kept: list[Any] = []

    @app.get("/orders/7")
    def order() -> dict[str, str]:
        kept.append(app.context["secauth_guard"])
        return {}

    assert resolve(app, event)["statusCode"] == 200
    return kept[0]
