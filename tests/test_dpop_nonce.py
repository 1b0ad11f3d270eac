"""DPoP server nonces (RFC 9449 sections 8 and 9): secauth.dpop_nonce.DpopNonces through a
DpopVerifier, a Guard's 401 ``use_dpop_nonce`` answer with ``DPoP-Nonce``, the client's
retry, and the Authorizer's refusal of the configuration."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from dpop_parties import AUD, CLIENT, ISS, ISSUER, TOKEN, URL, VERIFIER, Clock, token

from secauth import Authorizer, Guard
from secauth.dpop import DpopVerifier
from secauth.dpop_nonce import DpopNonces
from secauth.dpop_replay import MemoryReplayStore
from secauth.errors import (
    ConfigurationError,
    DpopNonceRequired,
    DpopProofReplayed,
    InvalidDpopProof,
)
from secauth.events import Request
from secauth.sender_constraint import SenderConstraint, check_sender_constraint
from secauth.testing_dpop import DpopKey
from secauth.testing_events import alb, http_proxy

SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(1, 33))


def verifier(nonces: DpopNonces | None, **options: Any) -> DpopVerifier:
    return DpopVerifier(replay=MemoryReplayStore(), nonces=nonces, **options)


def guarded(nonces: DpopNonces | None, **options: Any) -> Any:
    constraint = SenderConstraint(dpop=verifier(nonces, **options))
    guard = Guard(VERIFIER, decision_log=None, sender_constraint=constraint)
    return guard(lambda event, context, principal: {"statusCode": 200, "body": principal.id})


def event(proof: str | None, value: str = TOKEN) -> dict[str, Any]:
    headers = {"authorization": f"DPoP {value}"}
    if proof is not None:
        headers["dpop"] = proof
    return http_proxy("GET", "/orders/7", headers=headers)


def refused_for_nonce(response: dict[str, Any]) -> str:
    """The fresh nonce of a 401 ``use_dpop_nonce`` answer (asserting its shape)."""
    assert response["statusCode"] == 401
    challenge = response["headers"]["WWW-Authenticate"]
    assert challenge.startswith('DPoP error="use_dpop_nonce", error_description="')
    assert 'algs="ES256 ES384 EdDSA Ed25519 PS256 RS256"' in challenge
    nonce: str = response["headers"]["DPoP-Nonce"]
    assert nonce
    assert nonce not in response["body"]
    assert nonce not in challenge
    return nonce


# -- the nonce itself ---------------------------------------------------------------------------


def test_a_nonce_is_accepted_in_its_window_and_the_next_then_expires() -> None:
    clock = Clock()
    nonces = DpopNonces(secret=SECRET, lifetime=60, clock=clock)
    nonce = nonces.issue()
    assert nonces.check(nonce) is None
    clock.now += 60
    assert nonces.check(nonce) is None  # the previous window
    assert nonces.issue() != nonce
    clock.now += 60
    assert nonces.check(nonce) == "proof nonce expired"


def test_a_nonce_made_by_one_container_is_accepted_by_another_with_the_same_secret() -> None:
    clock = Clock()
    first = DpopNonces(secret=SECRET, lifetime=300, clock=clock)
    second = DpopNonces(secret=bytes(SECRET), lifetime=300, clock=clock)  # another container
    assert second.check(first.issue()) is None
    assert first.issue() == second.issue()  # stateless: one nonce per window, fleet-wide


def test_a_nonce_of_another_secret_or_forged_is_refused() -> None:
    clock = Clock()
    ours = DpopNonces(secret=SECRET, clock=clock)
    theirs = DpopNonces(secret=OTHER_SECRET, clock=clock)
    assert ours.check(theirs.issue()) == "proof nonce was not issued here"
    nonce = ours.issue()
    forged = nonce[:-2] + ("AA" if nonce[-2:] != "AA" else "BA")
    for bad in (forged, nonce + "A", "", "x" * 32, 42, ["a"], nonce.upper()):
        assert ours.check(bad) == "proof nonce was not issued here", bad
    assert ours.check(None) == "proof has no nonce"


def test_a_nonce_from_a_later_window_is_refused() -> None:
    clock = Clock()
    nonces = DpopNonces(secret=SECRET, lifetime=60, clock=clock)
    clock.now += 120
    ahead = nonces.issue()
    clock.now -= 120
    assert nonces.check(ahead) == "proof nonce is from a later window"


def test_previous_secrets_are_accepted_not_issued() -> None:
    clock = Clock()
    old = DpopNonces(secret=OTHER_SECRET, clock=clock)
    rotated = DpopNonces(secret=SECRET, previous_secrets=[OTHER_SECRET], clock=clock)
    assert rotated.check(old.issue()) is None
    assert old.check(rotated.issue()) == "proof nonce was not issued here"


@pytest.mark.parametrize(
    "options",
    [
        {"secret": b"too short"},
        {"secret": "x" * 64},  # one byte repeated
        {"secret": 12345},
        {"secret": SECRET, "lifetime": 5},
        {"secret": SECRET, "lifetime": 90000},
        {"secret": SECRET, "lifetime": True},
        {"secret": SECRET, "previous_secrets": OTHER_SECRET},  # a secret, not a list of them
        {"secret": SECRET, "previous_secrets": [b"short"]},
        {"secret": SECRET, "clock": 5},
    ],
)
def test_bad_configuration_is_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        DpopNonces(**options)


def test_the_secret_and_nonces_are_never_in_reprs() -> None:
    nonces = DpopNonces(secret=SECRET)
    text = repr(SenderConstraint(dpop=verifier(nonces)))
    assert "nonces=DpopNonces(lifetime=300)" in text
    assert SECRET.hex() not in text
    assert str(SECRET) not in text


def test_a_verifier_refuses_something_else_as_nonces() -> None:
    with pytest.raises(ConfigurationError, match="DpopNonces"):
        verifier("secret")  # type: ignore[arg-type]


# -- the proof check ----------------------------------------------------------------------------


def test_a_proof_without_a_nonce_is_refused_with_use_dpop_nonce() -> None:
    nonces = DpopNonces(secret=SECRET)
    with pytest.raises(DpopNonceRequired) as caught:
        verifier(nonces).check(Request.from_event(event(CLIENT.proof("GET", URL, access_token=TOKEN))),
                               TOKEN, jkt=CLIENT.jkt)  # fmt: skip
    assert isinstance(caught.value, InvalidDpopProof)
    assert caught.value.reason.value == "use_dpop_nonce"
    assert caught.value.detail == {"problem": "proof has no nonce"}


def test_a_proof_with_a_nonce_is_accepted_when_nonces_are_not_configured() -> None:
    """RFC 9449: a nonce the server did not ask for is ignored."""
    proof = CLIENT.proof("GET", URL, access_token=TOKEN, nonce="anything-the-client-had")
    assert guarded(None)(event(proof), None)["statusCode"] == 200


def test_the_nonce_is_checked_after_the_other_checks() -> None:
    """A proof bad for another reason is invalid_dpop_proof, not a request for a nonce."""
    nonces = DpopNonces(secret=SECRET)
    proof = CLIENT.proof("POST", URL, access_token=TOKEN)  # another method, and no nonce
    response = guarded(nonces)(event(proof), None)
    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    assert "DPoP-Nonce" not in response["headers"]


def test_replay_is_still_detected_with_nonces() -> None:
    nonces = DpopNonces(secret=SECRET)
    dpop = verifier(nonces)
    proof = CLIENT.proof("GET", URL, access_token=TOKEN, nonce=nonces.issue())
    request = Request.from_event(event(proof))
    dpop.check(request, TOKEN, jkt=CLIENT.jkt)
    with pytest.raises(DpopProofReplayed):
        dpop.check(request, TOKEN, jkt=CLIENT.jkt)


def test_a_proof_refused_for_its_nonce_is_not_recorded() -> None:
    """The jti is recorded last: a proof refused for its nonce can still be sent once
    its nonce is good (same jti, a new proof)."""
    clock = Clock(time.time())
    nonces = DpopNonces(secret=SECRET, lifetime=60, clock=clock)
    dpop = verifier(nonces)
    stale = nonces.issue()
    clock.now += 120
    with pytest.raises(DpopNonceRequired, match="DPoP nonce required"):
        dpop.check(Request.from_event(event(CLIENT.proof("GET", URL, access_token=TOKEN,
                                                         jti="j-1", nonce=stale))),
                   TOKEN, jkt=CLIENT.jkt)  # fmt: skip
    fresh = CLIENT.proof("GET", URL, access_token=TOKEN, jti="j-1", nonce=nonces.issue())
    dpop.check(Request.from_event(event(fresh)), TOKEN, jkt=CLIENT.jkt)


# -- through a Guard ----------------------------------------------------------------------------


def test_missing_nonce_is_a_401_with_use_dpop_nonce_and_a_fresh_nonce() -> None:
    nonces = DpopNonces(secret=SECRET)
    response = guarded(nonces)(event(CLIENT.proof("GET", URL, access_token=TOKEN)), None)
    assert nonces.check(refused_for_nonce(response)) is None
    assert json.loads(response["body"])["status"] == 401


def test_an_expired_nonce_is_refused_and_a_fresh_one_given() -> None:
    clock = Clock(time.time())
    nonces = DpopNonces(secret=SECRET, lifetime=60, clock=clock)
    handler = guarded(nonces)
    old = nonces.issue()
    clock.now += 125
    response = handler(event(CLIENT.proof("GET", URL, access_token=TOKEN, nonce=old)), None)
    fresh = refused_for_nonce(response)
    assert fresh != old
    assert nonces.check(fresh) is None


def test_a_nonce_of_another_secret_is_refused_by_the_guard() -> None:
    theirs = DpopNonces(secret=OTHER_SECRET).issue()
    handler = guarded(DpopNonces(secret=SECRET))
    refused_for_nonce(handler(event(CLIENT.proof("GET", URL, access_token=TOKEN, nonce=theirs)),
                              None))  # fmt: skip


def test_the_client_retry_flow_end_to_end() -> None:
    """First call without a nonce: 401 with DPoP-Nonce; the client signs a new proof with
    it: 200, and the answer carries the current nonce for the next call."""
    records: list[dict[str, Any]] = []
    nonces = DpopNonces(secret=SECRET)
    constraint = SenderConstraint(dpop=verifier(nonces))
    guard = Guard(VERIFIER, decision_log=None, on_decision=records.append,
                  sender_constraint=constraint)  # fmt: skip

    @guard
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ok"}

    first = handler(event(CLIENT.proof("GET", URL, access_token=TOKEN)), None)
    nonce = refused_for_nonce(first)
    second = handler(event(CLIENT.proof("GET", URL, access_token=TOKEN, nonce=nonce)), None)
    assert second["statusCode"] == 200
    assert second["headers"]["DPoP-Nonce"] == nonces.issue()
    third = handler(event(CLIENT.proof("GET", URL, access_token=TOKEN,
                                       nonce=second["headers"]["DPoP-Nonce"])), None)  # fmt: skip
    assert third["statusCode"] == 200
    # Decision records say why, never the nonce.
    assert records[0]["reason"] == "use_dpop_nonce"
    assert records[0]["detail"] == {"problem": "proof has no nonce"}
    assert nonce not in json.dumps(records)


def test_bearer_requests_get_no_nonce_header() -> None:
    nonces = DpopNonces(secret=SECRET)
    constraint = SenderConstraint(dpop=verifier(nonces))
    guard = Guard(VERIFIER, decision_log=None, sender_constraint=constraint)
    handler = guard(lambda event, context: {"statusCode": 200, "body": "ok"})
    plain = ISSUER.sign({"iss": ISS, "aud": AUD, "sub": "bob", "exp": int(time.time()) + 600})
    response = handler(http_proxy("GET", "/x", headers={"authorization": f"Bearer {plain}"}), None)
    assert response["statusCode"] == 200
    assert "DPoP-Nonce" not in response["headers"]


def test_an_async_handler_and_alb_multi_value_answers_carry_the_nonce() -> None:
    import asyncio

    nonces = DpopNonces(secret=SECRET)
    # ALB: the URI comes from public_url (the Host header is the client's).
    constraint = SenderConstraint(dpop=verifier(nonces, public_url="https://api.example.com"))
    guard = Guard(VERIFIER, decision_log=None, sender_constraint=constraint)

    @guard
    async def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ok"}

    url = "https://api.example.com/orders/7"
    headers = {"authorization": f"DPoP {TOKEN}", "host": "api.example.com",
               "x-forwarded-proto": "https"}  # fmt: skip
    evt = alb("GET", "/orders/7", headers={**headers, "dpop": CLIENT.proof("GET", url,
                                                                             access_token=TOKEN)},
              multi_value=True)  # fmt: skip
    refused = asyncio.run(handler(evt, None))
    assert refused["statusCode"] == 401
    nonce = refused["multiValueHeaders"]["DPoP-Nonce"][0]
    challenge = refused["multiValueHeaders"]["WWW-Authenticate"][0]
    assert challenge.startswith('DPoP error="use_dpop_nonce"')
    proof = CLIENT.proof("GET", url, access_token=TOKEN, nonce=nonce)
    evt = alb("GET", "/orders/7", headers={**headers, "dpop": proof}, multi_value=True)
    admitted = asyncio.run(handler(evt, None))
    assert admitted["statusCode"] == 200
    assert admitted["multiValueHeaders"]["DPoP-Nonce"] == [nonces.issue()]


# -- the Authorizer cannot send DPoP-Nonce -------------------------------------------------------


def test_an_authorizer_refuses_nonces_at_construction() -> None:
    constraint = SenderConstraint(dpop=verifier(DpopNonces(secret=SECRET)))
    with pytest.raises(ConfigurationError, match="need the in-function Guard"):
        Authorizer(VERIFIER, decision_log=None, sender_constraint=constraint)
    with pytest.raises(ConfigurationError, match="DPoP-Nonce"):
        check_sender_constraint(constraint)
    assert check_sender_constraint(constraint, answers_client=True) is constraint
    Authorizer(VERIFIER, decision_log=None, sender_constraint=SenderConstraint(dpop=verifier(None)))


# -- cross-check with panva's dpop (npm), whose generateProof takes the nonce ------------------


def test_panvas_dpop_client_retries_with_the_nonce() -> None:
    from test_dpop import PanvaClient  # skips when node or the package is missing

    client = PanvaClient("ES256")
    try:
        bound = ISSUER.sign({"iss": ISS, "aud": AUD, "sub": "ann", "exp": int(time.time()) + 600,
                             "cnf": {"jkt": client.jkt}})  # fmt: skip
        handler = guarded(DpopNonces(secret=SECRET))
        nonce = refused_for_nonce(handler(event(client.proof("GET", URL, bound), bound), None))
        retried = handler(event(client.proof("GET", URL, bound, nonce=nonce), bound), None)
        assert retried["statusCode"] == 200
    finally:
        client.close()


def test_the_powertools_middleware_sends_nonces_on_refusals_and_answers() -> None:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from secauth.integrations.powertools import guard_middleware

    nonces = DpopNonces(secret=SECRET)
    constraint = SenderConstraint(dpop=verifier(nonces))
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(Guard(VERIFIER, decision_log=None,
                                                sender_constraint=constraint))])  # fmt: skip

    @app.get("/orders/7")
    def order() -> dict[str, str]:
        return {"id": "7"}

    first = app.resolve(event(CLIENT.proof("GET", URL, access_token=TOKEN)), None)
    nonce = refused_for_nonce(first)
    second = app.resolve(event(CLIENT.proof("GET", URL, access_token=TOKEN, nonce=nonce)), None)
    assert second["statusCode"] == 200
    assert second["headers"]["DPoP-Nonce"] == nonces.issue()
    bound_elsewhere = token(DpopKey.generate("ES256"))
    bearer = app.resolve(
        http_proxy("GET", "/orders/7", authorization=f"Bearer {bound_elsewhere}"), None
    )
    assert bearer["statusCode"] == 401
    assert "DPoP-Nonce" not in bearer["headers"]
