"""Review 43: attacking review 42's fix (629a10d).

629a10d: ``_Found.proof_recorded`` says whether a guard of the Powertools stack checked and
recorded this request's DPoP proof (set at admission from ``_checks_a_proof(global,
request)`` for a caller who is not anonymous, and by each route guard that identified
such a caller with ``_checks_a_proof(route_guard, request)``); route guards pass it to
``Guard.identify(request, proof_recorded=...)``, which then checks the proof without
recording its ``jti``.

The yardstick: every guard of the stack decides as it would alone on the same request
(a replay one guard alone refuses is refused by the stack; a legitimate request each
guard alone admits is admitted). Findings are ``xfail(strict=True)`` tests asserting the
secure behaviour; attacks that held are plain tests. Real objects, real keys and DPoP
proofs, the real clock (proofs are minutes fresh); no mocks, no sleeps, no servers.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from dpop_parties import CLIENT, HOST, URL, VERIFIER
from dpop_parties import token as dpop_token
from dpop_stacks import (
    BOUND,
    BOUND_SOURCE,
    ORDER_7,
    PUBLIC_ORDER_7,
    UNBOUND,
    alone,
    bound_guard,
    dpop,
    dpop_outer,
    resolve,
)

from secauth import Authorizer, Guard
from secauth.dpop import DpopVerifier
from secauth.dpop_replay import MemoryReplayStore
from secauth.integrations.powertools import guard_middleware
from secauth.sender_constraint import SenderConstraint
from secauth.testing_dpop import DpopKey
from secauth.testing_events import http_authorizer_v2, http_proxy
from secauth.token_sources import DEFAULT_TOKEN_SOURCES, TokenSource

OTHER_SOURCE = [TokenSource.header("x-other-token", scheme="DPoP")]
OTHER_KEY = DpopKey.generate("ES256")
BOUND_OTHER = dpop_token(OTHER_KEY)  # ann's token bound to another key


def stack(outer: Guard, *route_guards: Guard, path: str = "/orders/7", **options: Any) -> Any:
    app = APIGatewayHttpResolver(**options)
    app.use(middlewares=[guard_middleware(outer)])

    @app.get(path, middlewares=[guard_middleware(g) for g in route_guards])
    def route() -> dict[str, str]:
        return {"ok": "yes"}

    return app


def order(path: str = "/orders/7", **headers: str) -> dict[str, Any]:
    return http_proxy("GET", path, headers={k.replace("_", "-"): v for k, v in headers.items()})


# =============================================================================================
# FINDINGS
# =============================================================================================

# -- F1 (medium-low, DPoP replay, Powertools): "recorded" means "recorded in SOME store".
# The global guard checked this request's proof and recorded its jti in ITS replay store;
# the route guard (its own replay store) is then told ``proof_recorded=True`` and records
# nothing in its own. Replay stores are per guard: on a later request carrying the same
# proof where the global guard does not check it (the attacker drops the Authorization
# token, or sends a plain Bearer token there), nothing tells the route guard the proof was
# used: it records it in its store for the first time and admits the replay. Alone, the
# route guard recorded the proof on the first request and refuses the replay (401).


def _both_headers(proof: str) -> dict[str, Any]:
    """The client's request: the bound token in Authorization (for the global guard) and in
    x-bound-token (for the route guard), one proof."""
    return order(authorization=f"DPoP {BOUND}", x_bound_token=f"DPoP {BOUND}", dpop=proof)


REPLAYS = {
    "no_authorization": lambda proof: order(x_bound_token=f"DPoP {BOUND}", dpop=proof),
    "bearer_authorization": lambda proof: order(
        authorization=f"Bearer {UNBOUND}", x_bound_token=f"DPoP {BOUND}", dpop=proof
    ),
}


@pytest.mark.parametrize("replay", sorted(REPLAYS))
def test_a_route_guard_alone_refuses_the_replay_control(replay: str) -> None:
    proof = CLIENT.proof("GET", URL, access_token=BOUND)
    assert alone(bound_guard(), _both_headers(proof), REPLAYS[replay](proof)) == [200, 401]


@pytest.mark.parametrize("replay", sorted(REPLAYS))
def test_a_proof_the_global_store_recorded_is_not_replayable_through_a_route_store(
    replay: str,
) -> None:
    app = stack(dpop_outer(), bound_guard())
    proof = CLIENT.proof("GET", URL, access_token=BOUND)
    assert resolve(app, _both_headers(proof), REPLAYS[replay](proof)) == [200, 401]


def test_a_proof_an_earlier_route_store_recorded_is_not_replayable_through_a_later_one() -> None:
    """The same with two route guards: route guard 1 (public table, x-other-token, its own
    store) checked and recorded the proof; route guard 2 (x-bound-token, its own store) is
    told it was recorded. The replay drops x-other-token: route guard 1 finds nobody."""
    outer = Guard(VERIFIER, decision_log=None, routes=PUBLIC_ORDER_7)  # no DPoP here
    first = bound_guard(routes=PUBLIC_ORDER_7, token_sources=OTHER_SOURCE)
    second = bound_guard()
    proof = CLIENT.proof("GET", URL, access_token=BOUND)
    sent = order(x_other_token=f"DPoP {BOUND}", x_bound_token=f"DPoP {BOUND}", dpop=proof)
    replayed = order(x_bound_token=f"DPoP {BOUND}", dpop=proof)
    assert alone(bound_guard(), sent, replayed) == [200, 401]  # a store of its own
    assert resolve(stack(outer, first, second), sent, replayed) == [200, 401]


# -- F2 (low, DPoP replay, Powertools): the global guard trusts the authorizer, verifies the
# token, and has ``DpopVerifier(replay=None)`` (the documented pairing: the Authorizer
# recorded the proof). A route guard that does NOT trust the authorizer, with its own
# replay store, is told ``proof_recorded=True`` (``_checks_a_proof`` counts "took it as
# recorded by the authorizer" as recorded) and never records the proof: the same event,
# authorizer context included, is admitted again and again. Alone, that route guard ignores
# the context and records the proof: the replay is a 401. (Through API Gateway the
# authorizer runs on every request and refuses the replay; the route guard's own check,
# the one it was configured with, is the one lost.)


def _through_a_gate(proof: str) -> dict[str, Any]:
    gate = Authorizer(VERIFIER, decision_log=None,
                      sender_constraint=SenderConstraint(dpop=dpop()))  # fmt: skip
    headers = {"authorization": f"DPoP {BOUND}", "dpop": proof}
    answer = gate.handler(http_authorizer_v2("GET", "/orders/7", headers=headers), None)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    return http_proxy("GET", "/orders/7", headers=headers, authorizer_response=answer)


def _trusting_outer() -> Guard:
    return dpop_outer(DpopVerifier(replay=None), trust_authorizer=True)


def test_a_non_trusting_route_guard_alone_refuses_a_replayed_gate_event_control() -> None:
    event = _through_a_gate(CLIENT.proof("GET", URL, access_token=BOUND))
    assert alone(bound_guard(token_sources=DEFAULT_TOKEN_SOURCES), event, event) == [200, 401]
    assert alone(_trusting_outer(), event, event) == [200, 200]  # the authorizer's job


def test_a_non_trusting_route_guard_records_a_proof_the_global_guard_took_on_trust() -> None:
    app = stack(_trusting_outer(), bound_guard(token_sources=DEFAULT_TOKEN_SOURCES))
    event = _through_a_gate(CLIENT.proof("GET", URL, access_token=BOUND))
    assert resolve(app, event, event) == [200, 401]


# =============================================================================================
# HELD
# =============================================================================================


def test_two_dpop_tokens_bound_to_two_keys_cannot_share_one_proof() -> None:
    """Token A (CLIENT's key) in Authorization, token B (another key) in x-bound-token,
    one proof: made for A, the route guard refuses B (ath and jkt); made for B, the
    global guard refuses A. Alone, the route guard refuses the first too."""
    for_a = CLIENT.proof("GET", URL, access_token=BOUND)
    for_b = OTHER_KEY.proof("GET", URL, access_token=BOUND_OTHER)
    sent_a = order(authorization=f"DPoP {BOUND}", x_bound_token=f"DPoP {BOUND_OTHER}", dpop=for_a)
    sent_b = order(authorization=f"DPoP {BOUND}", x_bound_token=f"DPoP {BOUND_OTHER}", dpop=for_b)
    assert alone(bound_guard(), sent_a) == [401]
    assert resolve(stack(dpop_outer(), bound_guard()), sent_a, sent_b) == [401, 401]
    # A proof of B's key with A's ath (or the reverse) fails one of the two key matches.
    mixed = OTHER_KEY.proof("GET", URL, access_token=BOUND)
    sent = order(authorization=f"DPoP {BOUND}", x_bound_token=f"DPoP {BOUND_OTHER}", dpop=mixed)
    assert resolve(stack(dpop_outer(), bound_guard()), sent) == [401]


def test_two_proofs_for_two_tokens_are_refused_as_repeated() -> None:
    for_a = CLIENT.proof("GET", URL, access_token=BOUND)
    for_b = OTHER_KEY.proof("GET", URL, access_token=BOUND_OTHER)
    event = order(authorization=f"DPoP {BOUND}", x_bound_token=f"DPoP {BOUND_OTHER}")
    event["headers"]["dpop"] = f"{for_a},{for_b}"
    assert resolve(stack(dpop_outer(), bound_guard()), event) == [401]


def test_a_shared_replay_store_refuses_the_replay_and_admits_the_first_request() -> None:
    """Review 42's fail-closed case and this review's replay, with one store: the first
    request is admitted (recorded once), every replay refused."""
    shared = dpop()
    app = stack(dpop_outer(shared), bound_guard(shared))
    proof = CLIENT.proof("GET", URL, access_token=BOUND)
    replays = [REPLAYS[name](proof) for name in sorted(REPLAYS)]
    statuses = resolve(app, _both_headers(proof), *replays, _both_headers(proof))
    assert statuses == [200, 401, 401, 401]


def test_two_verifiers_over_one_store_record_once() -> None:
    store = MemoryReplayStore()
    app = stack(dpop_outer(dpop(store)), bound_guard(dpop(store)))
    proof = CLIENT.proof("GET", URL, access_token=BOUND)
    assert resolve(app, _both_headers(proof), order(x_bound_token=f"DPoP {BOUND}", dpop=proof)) == [
        200,
        401,
    ]


def test_a_replay_of_the_whole_request_is_refused_by_the_global_guard_with_its_own_store() -> None:
    app = stack(dpop_outer(), bound_guard())
    proof = CLIENT.proof("GET", URL, access_token=BOUND)
    assert resolve(app, _both_headers(proof), _both_headers(proof)) == [200, 401]


def test_anonymous_then_verified_records_the_proof_once_in_a_shared_store() -> None:
    """Global guard without DPoP (anonymous caller); route guard 1 verifies and records;
    route guard 2 (same store, stricter) checks without recording: 200; the replay 401."""
    shared = dpop()
    outer = Guard(VERIFIER, decision_log=None, routes=PUBLIC_ORDER_7)
    accepts = Guard(VERIFIER, decision_log=None, routes=ORDER_7, token_sources=BOUND_SOURCE,
                    sender_constraint=SenderConstraint(dpop=shared))  # fmt: skip
    sent = order(x_bound_token=f"DPoP {BOUND}", dpop=CLIENT.proof("GET", URL, access_token=BOUND))
    assert alone(bound_guard(shared), copy.deepcopy(sent)) == [200]  # recorded in shared now
    fresh = order(x_bound_token=f"DPoP {BOUND}", dpop=CLIENT.proof("GET", URL, access_token=BOUND))
    app = stack(outer, accepts, bound_guard(shared))
    assert resolve(app, fresh, fresh) == [200, 401]


def test_a_global_guard_on_the_context_leaves_the_route_guard_to_record() -> None:
    """The global guard (trust, verifier, replay=None) takes ann from the context when
    Authorization carries no token: it checked no proof, so the route guard (x-bound-token,
    its own store) records it: the replay is refused. Since review 54 the global guard,
    which verifies too, refuses a context without a token it reads: the stack answers 401
    to both."""
    proof = CLIENT.proof("GET", URL, access_token=BOUND)
    gated = _through_a_gate(proof)
    del gated["headers"]["authorization"]
    gated["headers"]["x-bound-token"] = f"DPoP {BOUND}"
    assert alone(bound_guard(), gated, gated) == [200, 401]
    assert resolve(stack(_trusting_outer(), bound_guard()), gated, gated) == [401, 401]


def test_a_replay_none_route_guard_still_refuses_a_proof_no_guard_checked() -> None:
    """Route guard with replay=None (trusting): on the first request the global guard
    recorded the proof (200); on the replay without Authorization nobody did (401)."""
    unrecorded = bound_guard(DpopVerifier(replay=None), trust_authorizer=True)
    proof = CLIENT.proof("GET", URL, access_token=BOUND)
    app = stack(dpop_outer(), unrecorded)
    replayed = order(x_bound_token=f"DPoP {BOUND}", dpop=proof)
    assert alone(unrecorded, replayed) == [401]
    assert resolve(app, _both_headers(proof), replayed) == [200, 401]


def test_a_replay_none_route_guard_reading_authorization_is_guarded_by_the_global_store() -> None:
    unrecorded = bound_guard(DpopVerifier(replay=None), trust_authorizer=True,
                             token_sources=DEFAULT_TOKEN_SOURCES)  # fmt: skip
    app = stack(dpop_outer(), unrecorded)
    event = order(authorization=f"DPoP {BOUND}", dpop=CLIENT.proof("GET", URL, access_token=BOUND))
    assert resolve(app, event, event) == [200, 401]


@pytest.mark.parametrize(
    ("method", "url"),
    [("POST", URL), ("GET", f"{HOST}/orders/8"), ("GET", "https://evil.example/orders/7")],
)
def test_a_proof_for_another_request_is_refused_by_the_route_guard(method: str, url: str) -> None:
    """The global guard sees no token (anonymous, public): only the route guard checks
    the proof, and refuses one made for another method or URI, as alone."""
    event = order(x_bound_token=f"DPoP {BOUND}", dpop=CLIENT.proof(method, url, access_token=BOUND))
    assert alone(bound_guard(), event) == [401]
    assert resolve(stack(dpop_outer(), bound_guard()), event) == [401]


def test_strip_prefixes_do_not_change_the_proofs_uri() -> None:
    """Powertools strips /v1 to route; the proof still names the URI the client called
    (the event's path): a proof for the stripped path is refused, the full one admitted
    once."""
    full, stripped = f"{HOST}/v1/orders/7", URL
    outer = dpop_outer(routes=None)
    route = bound_guard(routes=None, token_sources=DEFAULT_TOKEN_SOURCES)
    app = stack(outer, route, strip_prefixes=["/v1"])
    wrong = order("/v1/orders/7", authorization=f"DPoP {BOUND}",
                  dpop=CLIENT.proof("GET", stripped, access_token=BOUND))  # fmt: skip
    right = order("/v1/orders/7", authorization=f"DPoP {BOUND}",
                  dpop=CLIENT.proof("GET", full, access_token=BOUND))  # fmt: skip
    assert resolve(app, wrong) == [401]
    assert resolve(app, right, right) == [200, 401]


def test_a_bearer_token_in_a_dpop_source_sets_nothing_recorded() -> None:
    """A plain token sent with the DPoP scheme is refused by the global guard; sent as
    Bearer, the global guard checks no proof, and the route guard records it."""
    proof = CLIENT.proof("GET", URL, access_token=BOUND)
    refused = order(authorization=f"DPoP {UNBOUND}", x_bound_token=f"DPoP {BOUND}", dpop=proof)
    assert resolve(stack(dpop_outer(), bound_guard()), refused) == [401]
    app = stack(dpop_outer(), bound_guard())
    sent = order(authorization=f"Bearer {UNBOUND}", x_bound_token=f"DPoP {BOUND}", dpop=proof)
    assert resolve(app, sent, sent) == [200, 401]
