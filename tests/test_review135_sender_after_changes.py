"""Adversarial review 135: sender-constrained tokens after today's changes (1322ee7..303a747).

Resolved (the test asserts it): the low below. ``MemoryReplayStore`` keeps a key until its
expiry by the wall clock and for as long in elapsed time (a ``monotonic`` clock), so a wall
clock stepped forward, then back, no longer makes it forget a proof in its window again. (The
Redis and DynamoDB stores expire keys by the server's clock, which the function's does not move.)

Attacked: the shared admission rule (``token_cache.Sightings``) in the verifier cache and
the Authorizer's response memo, one clock reading per verified-token hit (entries serving
only from ``made_at``), ``guard_context.same_caller`` in stacked Powertools guards (issuer
compared), the Authorizer's ``secauth_dpop_proof`` with a trust-mode Guard, and replay
stores and server nonces under a hand clock stepped back. Real keys, proofs, certificates
and events (tests/dpop_parties.py, tests/oidc_bound_helpers.py, secauth.testing_dpop).

Held: a DPoP request is never memoized (Authorization ``DPoP``, ``dpop`` in any case, a
custom ``DPoP`` source): the same proof twice is a replay, on REST and HTTP API events, even
once the token is a verified-token cache hit; a cached DPoP-bound token sent as ``Bearer``,
with another key's proof or with no proof is refused on every hit; an mTLS-bound token's
memoized answer is not served for another certificate nor for none; a trust-mode Guard
behind a DPoP Authorizer admits the proof once (the gate refuses its replay); stacked guards
admit a same-issuer DPoP stack once and refuse ann of a partner issuer; a replay store and
a verifier whose clock steps back refuse the proof again; a nonce from a later window
(clock stepped back) is refused; a verified-token hit under a clock stepped back is verified
afresh and its binding still checked.

Finding (strict xfail):
* LOW (dpop_replay.py ``MemoryReplayStore.first_use``'s sweep, dpop.py ``DpopVerifier``): a
  wall clock stepped forward then back (an NTP correction) replays a proof: a sweep at the
  forward time drops the proof's entry as expired, and when the clock comes back the proof
  is in its ``iat`` window again and is accepted a second time. The verified-token cache
  refuses to serve before ``made_at`` (review 115); proofs have no such high-water mark.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from dpop_parties import AUD, CLIENT, HOST, ISS, ISSUER, URL, VERIFIER, Clock, token
from dpop_stacks import BOUND_SOURCE, PUBLIC_ORDER_7, ok
from oidc_bound_helpers import certificate, client_cert_block, thumbprint

from secauth import Authorizer, Guard, JwtVerifier
from secauth.dpop import DpopVerifier
from secauth.dpop_nonce import DpopNonces
from secauth.dpop_replay import MemoryReplayStore
from secauth.errors import DpopProofReplayed
from secauth.events import Request
from secauth.integrations.powertools import guard_middleware
from secauth.policy import Unauthorized
from secauth.sender_constraint import SenderConstraint
from secauth.testing import KeyPair
from secauth.testing_dpop import DpopKey
from secauth.testing_events import http_authorizer_v2, http_proxy, request_authorizer

BOUND = token()
OTHER_KEY = DpopKey.generate("ES256")
REST_URL = f"{HOST}/prod/orders/7"  # a REST API's stage is part of the path


def dpop_gate(**options: Any) -> Authorizer:
    constraint = SenderConstraint(dpop=DpopVerifier(replay=MemoryReplayStore()))
    return Authorizer(VERIFIER, decision_log=None, sender_constraint=constraint, **options)


def dpop_headers(
    scheme: str = "DPoP",
    *,
    key: DpopKey = CLIENT,
    url: str = URL,
    value: str = BOUND,
    name: str = "authorization",
) -> dict[str, str]:
    """A fresh DPoP request's headers: ``value`` under ``name``, a new proof of ``key``."""
    return {name: f"{scheme} {value}", "dpop": key.proof("GET", url, access_token=value)}


def required(store: MemoryReplayStore) -> SenderConstraint:
    return SenderConstraint(require="dpop", dpop=DpopVerifier(replay=store))


def allowed(gate: Authorizer, event: dict[str, Any]) -> bool:
    try:
        answer = gate.handler(copy.deepcopy(event), None)
    except Unauthorized:
        return False
    return bool(answer["policyDocument"]["Statement"][0]["Effect"] == "Allow")


def http_event(headers: dict[str, str]) -> dict[str, Any]:
    return http_authorizer_v2("GET", "/orders/7", headers=headers)


def rest_event(headers: dict[str, str]) -> dict[str, Any]:
    return request_authorizer("GET", "/orders/7", headers=headers)


# == the memo never keeps a DPoP answer =========================================================


@pytest.mark.parametrize("scheme", ["DPoP", "dpop", "DPOP"])
@pytest.mark.parametrize(("build", "url"), [(http_event, URL), (rest_event, REST_URL)])
def test_a_dpop_answer_is_never_replayed_from_the_memo(scheme: str, build: Any, url: str) -> None:
    gate = dpop_gate()
    # The token becomes a verified-token cache hit and a memo candidate (two sightings).
    for _ in range(3):
        assert allowed(gate, build(dpop_headers(scheme, url=url)))
    captured = dpop_headers(scheme, url=url)
    assert allowed(gate, build(captured))
    assert not allowed(gate, build(captured))  # the same proof: a replay, never a memo hit
    assert not allowed(gate, build({"authorization": f"{scheme} {BOUND}"}))  # no proof


def test_a_custom_dpop_source_is_never_memoized() -> None:
    gate = dpop_gate(token_sources=BOUND_SOURCE)
    for _ in range(3):
        assert allowed(gate, http_event(dpop_headers(name="x-bound-token")))
    captured = dpop_headers(name="x-bound-token")
    assert allowed(gate, http_event(captured))
    assert not allowed(gate, http_event(captured))


def test_a_cached_bound_token_keeps_its_binding_on_every_hit() -> None:
    gate = dpop_gate()
    for _ in range(3):
        assert allowed(gate, http_event(dpop_headers()))
    for _ in range(3):  # as Bearer (memo candidate key), with another key's proof, with none
        assert not allowed(gate, http_event({"authorization": f"Bearer {BOUND}"}))
        assert not allowed(gate, http_event(dpop_headers(key=OTHER_KEY)))
        assert not allowed(gate, http_event({"authorization": f"DPoP {BOUND}"}))


def test_a_verified_token_hit_under_a_clock_stepped_back_still_checks_the_binding() -> None:
    clock = Clock(4_000_000_000.0 - 1_000)
    verifier = JwtVerifier(
        issuer=ISS, audience=AUD, jwks={"keys": [ISSUER.public_jwk]}, clock=clock
    )
    bound = token(exp=4_000_000_000, iat=int(clock.now))
    constraint = SenderConstraint(dpop=DpopVerifier(replay=MemoryReplayStore()))
    gate = Authorizer(verifier, decision_log=None, sender_constraint=constraint)
    for _ in range(3):
        assert allowed(gate, http_event(dpop_headers(value=bound)))
    clock.now -= 60  # before the entry was made: verified afresh
    assert not allowed(gate, http_event({"authorization": f"Bearer {bound}"}))
    assert not allowed(gate, http_event(dpop_headers(key=OTHER_KEY, value=bound)))


# == mTLS-bound tokens through memo hits =========================================================


def with_cert(event: dict[str, Any], pem: str | None) -> dict[str, Any]:
    if pem is not None:
        event["requestContext"]["authentication"] = {"clientCert": client_cert_block(pem, "c")}
    return event


def test_an_mtls_bound_answer_is_not_served_for_another_certificate() -> None:
    pem, other = certificate("client-a"), certificate("client-b")
    bound = token(None, cnf={"x5t#S256": thumbprint(pem)})
    gate = Authorizer(VERIFIER, decision_log=None)
    headers = {"authorization": f"Bearer {bound}"}
    for _ in range(4):  # kept in the memo from the second answer
        assert allowed(gate, with_cert(http_event(headers), pem))
    for _ in range(2):
        assert not allowed(gate, with_cert(http_event(headers), other))
        assert not allowed(gate, with_cert(http_event(headers), None))
    assert allowed(gate, with_cert(http_event(headers), pem))


# == the Authorizer's recorded proof and a trust-mode Guard ======================================


def test_a_trust_mode_guard_admits_a_recorded_proof_once() -> None:
    gate = dpop_gate()
    guard = Guard(VERIFIER, decision_log=None, trust_authorizer=True,
                  sender_constraint=SenderConstraint(dpop=DpopVerifier(replay=None)))  # fmt: skip
    function = guard(ok)

    def through(headers: dict[str, str]) -> int:
        try:
            answer = gate.handler(http_event(headers), None)
        except Unauthorized:
            return 401
        if answer["policyDocument"]["Statement"][0]["Effect"] != "Allow":
            return 401
        event = http_proxy("GET", "/orders/7", headers=headers, authorizer_response=answer)
        return int(function(event, None)["statusCode"])

    for _ in range(2):
        assert through(dpop_headers()) == 200
    captured = dpop_headers()
    assert through(captured) == 200
    assert through(captured) == 401


# == stacked guards: issuers compared ===========================================================

PARTNER_ISS = "https://idp.partner.example/"
PARTNER = KeyPair.generate("ES256", kid="partner-135")
PARTNER_VERIFIER = JwtVerifier(
    issuer=PARTNER_ISS, audience=AUD, jwks={"keys": [PARTNER.public_jwk]}
)


def stack(route_guard: Guard, outer: Guard) -> Any:
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(outer)])

    @app.get("/orders/7", middlewares=[guard_middleware(route_guard)])
    def order() -> dict[str, str]:
        return {"ok": "7"}

    return app


def resolve(app: Any, headers: dict[str, str]) -> int:
    return int(app.resolve(http_proxy("GET", "/orders/7", headers=headers), None)["statusCode"])


def test_a_same_issuer_dpop_stack_admits_once_and_refuses_the_replay() -> None:
    store = MemoryReplayStore()
    outer = Guard(VERIFIER, decision_log=None, routes=PUBLIC_ORDER_7,
                  sender_constraint=SenderConstraint(dpop=DpopVerifier(replay=store)))  # fmt: skip
    stricter = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [ISSUER.public_jwk]})
    route = Guard(stricter, decision_log=None, sender_constraint=required(store))
    app = stack(route, outer)
    captured = dpop_headers()
    assert resolve(app, captured) == 200
    assert resolve(app, captured) == 401


def test_a_route_guard_of_a_partner_issuer_is_not_the_outer_callers_proof() -> None:
    # Ours admits ann by a DPoP proof; the route guard reads the partner's ann, bound to the
    # same client key, from x-bound-token: one proof (its ath names ours) and two issuers.
    store = MemoryReplayStore()
    outer = Guard(VERIFIER, decision_log=None, routes=PUBLIC_ORDER_7,
                  sender_constraint=SenderConstraint(dpop=DpopVerifier(replay=store)))  # fmt: skip
    route = Guard(PARTNER_VERIFIER, decision_log=None, token_sources=BOUND_SOURCE,
                  sender_constraint=required(store))  # fmt: skip
    partner = PARTNER.sign(CLIENT.bind({"iss": PARTNER_ISS, "aud": AUD, "sub": "ann",
                                        "exp": 4_000_000_000}))  # fmt: skip
    app = stack(route, outer)
    for ath_of in (BOUND, partner):
        headers = {"authorization": f"DPoP {BOUND}", "x-bound-token": f"DPoP {partner}",
                   "dpop": CLIENT.proof("GET", URL, access_token=ath_of)}  # fmt: skip
        assert resolve(app, headers) == 401
    # Ours by a plain bearer token, the partner's ann with its own proof: issuers differ.
    plain = token(None)
    headers = {"authorization": f"Bearer {plain}", "x-bound-token": f"DPoP {partner}",
               "dpop": CLIENT.proof("GET", URL, access_token=partner)}  # fmt: skip
    assert resolve(app, headers) == 401


# == clocks stepped back: replay stores and nonces ==============================================


def proof_request(proof: str) -> Request:
    return Request.from_event(http_proxy("GET", "/orders/7", headers={"authorization": f"DPoP {BOUND}",
                                                                     "dpop": proof}))  # fmt: skip


def test_a_clock_stepped_back_refuses_a_recorded_proof_again() -> None:
    clock = Clock()
    dpop = DpopVerifier(replay=MemoryReplayStore(clock=clock), clock=clock)
    iat = clock.now
    proof = CLIENT.proof("GET", URL, access_token=BOUND, iat=iat)
    clock.now = iat + 50  # recorded late in its window
    dpop.check(proof_request(proof), BOUND, jkt=CLIENT.jkt)
    for now in (iat + 20, iat + 1, iat - 4):  # stepped back, the proof in its window again
        clock.now = now
        with pytest.raises(DpopProofReplayed):
            dpop.check(proof_request(proof), BOUND, jkt=CLIENT.jkt)


def test_a_nonce_of_a_later_window_is_refused_when_the_clock_steps_back() -> None:
    clock = Clock(1_000_000.0)
    nonces = DpopNonces(secret=bytes(range(32)), lifetime=300, clock=clock)
    issued = nonces.issue()
    assert nonces.check(issued) is None
    clock.now -= 300
    assert nonces.check(issued) is not None  # from a later window
    clock.now += 900  # two windows after it: stale
    assert nonces.check(issued) is not None


# fmt: off
def test_a_clock_stepped_forward_then_back_never_replays_a_proof() -> None:
    clock = Clock()
    store = MemoryReplayStore(clock=clock)
    dpop = DpopVerifier(replay=store, clock=clock)
    proof = CLIENT.proof("GET", URL, access_token=BOUND, iat=clock.now)
    dpop.check(proof_request(proof), BOUND, jkt=CLIENT.jkt)
    clock.now += 3_600  # an NTP step forward; other clients' proofs are recorded meanwhile
    for n in range(1_100):
        store.first_use(f"other-jkt:{n}", expires_at=clock.now + 360)
    clock.now = 1_000_000.0 + 5  # stepped back: the captured proof is in its window again
    with pytest.raises(DpopProofReplayed):
        dpop.check(proof_request(proof), BOUND, jkt=CLIENT.jkt)
# fmt: on
