"""Adversarial review 61: sender-constrained tokens (DPoP, RFC 9449; certificate-bound,
RFC 8705) and opaque tokens (introspection, RFC 7662), and where the two meet.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; the attacks that
failed are kept as regressions. Real keys and proofs (``DpopKey``), real events
(``testing_events``), the scripted RFC 7662 server on loopback (``scripted``), a real
redis-server and dynalite on loopback (``tests/conftest.py``)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from dpop_parties import AUD, CLIENT, HOST, ISS, ISSUER, URL, VERIFIER, Clock
from oidc_bound_helpers import certificate
from scripted_as import ScriptedAS, active, introspector, opaque

from secauth import Authorizer, ClaimMapper, Guard
from secauth.dpop import DpopVerifier
from secauth.dpop_replay import DynamoDBReplayStore, MemoryReplayStore, RedisReplayStore
from secauth.errors import ConfigurationError, KeysUnavailable, TokenExpired
from secauth.policy import Unauthorized
from secauth.sender_constraint import SenderConstraint, certificate_thumbprint
from secauth.testing_dpop import DpopKey
from secauth.testing_events import http_proxy, request_authorizer, rest_proxy

REST_URL = f"{HOST}/prod/orders/7"  # a REST API's execute-api URL holds the stage
MINE, THEIRS = certificate("partner-a"), certificate("partner-b")


def _ok(event: Any, context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


def guard_of(verifier: Any, dpop: DpopVerifier | None = None, **options: Any) -> Any:
    """A guarded handler of ``verifier`` that accepts DPoP (its own replay store)."""
    constraint = SenderConstraint(dpop=dpop or DpopVerifier(replay=MemoryReplayStore()))
    guard = Guard(verifier, decision_log=None, sender_constraint=constraint,
                  claims=ClaimMapper(id_claim="sub"), **options)  # fmt: skip
    return guard(_ok)


def dpop_event(token: str, proof: str | None, scheme: str = "DPoP") -> dict[str, Any]:
    headers = {"authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["dpop"] = proof
    return http_proxy("GET", "/orders/7", headers=headers)


def challenge(response: dict[str, Any]) -> str:
    return str(response["headers"].get("WWW-Authenticate", ""))


def bound_opaque(scripted: ScriptedAS, key: DpopKey = CLIENT, **over: Any) -> str:
    """A fresh opaque token the scripted server says is bound to ``key``."""
    token = opaque()
    scripted.answer(token, active(time.time(), token_type="DPoP", cnf={"jkt": key.jkt}, **over))
    return token


# == findings (fixed) =====================================================================================


@pytest.mark.parametrize(
    "options",
    [
        {"token_type": None},
        {"token_type": None, "bound_tokens": True},
        {"token_type": "DPoP", "bound_tokens": True},
    ],
    ids=["type-unchecked", "type-unchecked-bound", "type-dpop"],
)
def test_a_dpop_typed_answer_without_a_key_is_never_a_bearer_token(
    scripted: ScriptedAS, options: dict[str, Any]
) -> None:
    # The authorization server says the token is DPoP-bound (RFC 9449 section 6.2) but
    # names no key: nothing a proof could be checked against. The docs promise it is
    # "refused either way"; a thief presenting the stolen token as Bearer must get a 401.
    stolen = opaque()
    scripted.answer(stolen, active(time.time(), token_type="DPoP"))
    handler = guard_of(introspector(scripted, **options))
    response = handler(dpop_event(stolen, None, scheme="Bearer"), None)
    assert response["statusCode"] == 401


def test_token_type_dpop_without_bound_tokens_is_a_configuration_error(
    scripted: ScriptedAS,
) -> None:
    # Every DPoP token carries cnf, which bound_tokens=False refuses: nothing could pass.
    with pytest.raises(ConfigurationError, match="bound_tokens=True"):
        introspector(scripted, token_type="dpop")


def jwt_with_cnf(cnf: Any) -> str:
    """ann's JWT whose ``cnf`` member is ``cnf`` (any JSON value, null included)."""
    return ISSUER.sign({"iss": ISS, "aud": AUD, "sub": "ann", "exp": int(time.time()) + 600,
                        "cnf": cnf})  # fmt: skip


@pytest.mark.parametrize("source", ["jwt", "introspection"])
def test_a_null_confirmation_is_refused_like_any_other_non_object(
    scripted: ScriptedAS, source: str
) -> None:
    # docs/sender-constrained.md: a cnf that is "not an object" is refused
    # (token_binding_mismatch); without bound_tokens, introspection refuses "cnf": null too.
    if source == "jwt":
        verifier: Any = VERIFIER
        token = jwt_with_cnf(None)
    else:
        verifier = introspector(scripted, bound_tokens=True)
        token = opaque()
        scripted.answer(token, {**active(time.time()), "cnf": None})
    response = guard_of(verifier)(dpop_event(token, None, scheme="Bearer"), None)
    assert response["statusCode"] == 401


# == held: the answer's type and binding ===========================================================


@pytest.mark.parametrize("cnf", [{}, [], "jkt", 1, {"jwk": {"kty": "EC"}}, {"jkt": None}])
def test_every_other_confirmation_secauth_cannot_check_is_refused(cnf: Any) -> None:
    response = guard_of(VERIFIER)(dpop_event(jwt_with_cnf(cnf), None, scheme="Bearer"), None)
    assert response["statusCode"] == 401
    assert 'error="invalid_token"' in challenge(response)


def test_a_null_confirmation_without_bound_tokens_is_refused_by_introspection(
    scripted: ScriptedAS,
) -> None:
    token = opaque()
    scripted.answer(token, {**active(time.time()), "cnf": None})
    response = guard_of(introspector(scripted))(dpop_event(token, None, scheme="Bearer"), None)
    assert response["statusCode"] == 401


@pytest.mark.parametrize("bound_tokens", [False, True])
def test_the_default_token_type_refuses_a_dpop_typed_answer_without_a_key(
    scripted: ScriptedAS, bound_tokens: bool
) -> None:
    stolen = opaque()
    scripted.answer(stolen, active(time.time(), token_type="DPoP"))
    handler = guard_of(introspector(scripted, bound_tokens=bound_tokens))
    for scheme in ("Bearer", "DPoP"):
        proof = CLIENT.proof("GET", URL, access_token=stolen)
        response = handler(dpop_event(stolen, proof, scheme=scheme), None)
        assert response["statusCode"] == 401
        assert 'error="invalid_token"' in challenge(response)


def test_an_answer_with_cnf_is_refused_without_bound_tokens_whatever_the_scheme(
    scripted: ScriptedAS,
) -> None:
    token = bound_opaque(scripted)
    handler = guard_of(introspector(scripted))
    proof = CLIENT.proof("GET", URL, access_token=token)
    assert handler(dpop_event(token, proof), None)["statusCode"] == 401
    assert handler(dpop_event(token, None, scheme="Bearer"), None)["statusCode"] == 401


def test_an_unbound_opaque_token_under_the_dpop_scheme_is_refused(scripted: ScriptedAS) -> None:
    token = opaque()
    scripted.answer(token, active(time.time()))
    handler = guard_of(introspector(scripted, bound_tokens=True))
    proof = CLIENT.proof("GET", URL, access_token=token)
    response = handler(dpop_event(token, proof), None)
    assert response["statusCode"] == 401
    assert 'error="invalid_token"' in challenge(response)
    # The same token as Bearer: a plain bearer token, admitted.
    assert handler(dpop_event(token, None, scheme="Bearer"), None)["statusCode"] == 200


# == held: a cached answer never stands in for the proof ==========================================


def test_a_cached_dpop_bound_answer_still_needs_a_proof_of_its_key(scripted: ScriptedAS) -> None:
    token = bound_opaque(scripted)
    handler = guard_of(introspector(scripted, bound_tokens=True))
    assert (
        handler(dpop_event(token, CLIENT.proof("GET", URL, access_token=token)), None)["statusCode"]
        == 200
    )
    # From here the answer comes from the cache: the server is not asked again.
    thief = DpopKey.generate("ES256")
    other_key = handler(dpop_event(token, thief.proof("GET", URL, access_token=token)), None)
    assert other_key["statusCode"] == 401
    assert 'error="invalid_token"' in challenge(other_key)
    as_bearer = handler(dpop_event(token, CLIENT.proof("GET", URL, access_token=token), "Bearer"),
                        None)  # fmt: skip
    assert as_bearer["statusCode"] == 401
    assert handler(dpop_event(token, None), None)["statusCode"] == 401
    assert scripted.count(token=token) == 1


def test_a_proof_for_another_token_of_the_same_key_is_refused(scripted: ScriptedAS) -> None:
    first, second = bound_opaque(scripted), bound_opaque(scripted)
    handler = guard_of(introspector(scripted, bound_tokens=True))
    for_first = CLIENT.proof("GET", URL, access_token=first)
    response = handler(dpop_event(second, for_first), None)
    assert response["statusCode"] == 401
    assert 'error="invalid_dpop_proof"' in challenge(response)
    # The refused proof was not recorded: it still works for the token it names.
    assert handler(dpop_event(first, for_first), None)["statusCode"] == 200


def test_a_cached_certificate_bound_answer_is_compared_with_each_certificate(
    scripted: ScriptedAS,
) -> None:
    token = opaque()
    scripted.answer(token, active(time.time(), cnf={"x5t#S256": certificate_thumbprint(MINE)}))
    handler = guard_of(introspector(scripted, bound_tokens=True))

    def presenting(pem: str | None) -> dict[str, Any]:
        event = rest_proxy("GET", "/orders/7", token=token)
        if pem is not None:
            event["requestContext"]["identity"]["clientCert"] = {"clientCertPem": pem}
        return event

    assert handler(presenting(MINE), None)["statusCode"] == 200
    refused = handler(presenting(THEIRS), None)
    assert refused["statusCode"] == 401
    assert "token bound to another certificate" in challenge(refused)
    assert handler(presenting(None), None)["statusCode"] == 401
    # A forged certificate header is no certificate.
    forged = presenting(None)
    forged["headers"]["x-amzn-mtls-clientcert"] = MINE.replace("\n", "")
    assert handler(forged, None)["statusCode"] == 401
    assert scripted.count(token=token) == 1


# == held: replay of an opaque token's proof ======================================================


def test_an_opaque_tokens_proof_replayed_to_another_container_is_refused_with_redis(
    scripted: ScriptedAS, redis_url: str
) -> None:
    token = bound_opaque(scripted)
    one = guard_of(introspector(scripted, bound_tokens=True),
                   DpopVerifier(replay=RedisReplayStore(redis_url)))  # fmt: skip
    two = guard_of(introspector(scripted, bound_tokens=True),
                   DpopVerifier(replay=RedisReplayStore(redis_url)))  # fmt: skip
    event = dpop_event(token, CLIENT.proof("GET", URL, access_token=token))
    assert one(event, None)["statusCode"] == 200
    replayed = two(event, None)
    assert replayed["statusCode"] == 401
    assert 'error="invalid_dpop_proof"' in challenge(replayed)
    assert one(event, None)["statusCode"] == 401


def test_an_opaque_tokens_proof_replayed_to_another_container_is_refused_with_dynamodb(
    scripted: ScriptedAS, ddb_client: Any
) -> None:
    table = "review61-replay"
    DynamoDBReplayStore(table, client=ddb_client).create_table()
    token = bound_opaque(scripted)
    one = guard_of(introspector(scripted, bound_tokens=True),
                   DpopVerifier(replay=DynamoDBReplayStore(table, client=ddb_client)))  # fmt: skip
    two = guard_of(introspector(scripted, bound_tokens=True),
                   DpopVerifier(replay=DynamoDBReplayStore(table, client=ddb_client)))  # fmt: skip
    event = dpop_event(token, CLIENT.proof("GET", URL, access_token=token))
    assert one(event, None)["statusCode"] == 200
    assert two(event, None)["statusCode"] == 401
    fresh = dpop_event(token, CLIENT.proof("GET", URL, access_token=token))
    assert two(fresh, None)["statusCode"] == 200


def test_an_authorizer_checks_each_proof_of_an_opaque_token_and_never_memoizes_it(
    scripted: ScriptedAS,
) -> None:
    token = bound_opaque(scripted)
    constraint = SenderConstraint(dpop=DpopVerifier(replay=MemoryReplayStore()))
    auth = Authorizer(introspector(scripted, bound_tokens=True), decision_log=None,
                      sender_constraint=constraint)  # fmt: skip

    def allowed(proof: str | None, scheme: str = "DPoP") -> bool:
        headers = {"authorization": f"{scheme} {token}"}
        if proof is not None:
            headers["dpop"] = proof
        try:
            answer = auth.handler(request_authorizer("GET", "/orders/7", headers=headers), None)
        except Unauthorized:
            return False
        return bool(answer["policyDocument"]["Statement"][0]["Effect"] == "Allow")

    proof = CLIENT.proof("GET", REST_URL, access_token=token)
    assert allowed(proof)
    assert not allowed(proof)  # the same proof again
    assert not allowed(None)
    assert not allowed(CLIENT.proof("GET", REST_URL, access_token=token), scheme="Bearer")
    # A proof for the execute-api URL without the stage names another URI.
    assert not allowed(CLIENT.proof("GET", URL, access_token=token))
    assert allowed(CLIENT.proof("GET", REST_URL, access_token=token))
    assert scripted.count(token=token) == 1


# == held: proof time and nonces with opaque tokens ===============================================


def test_a_stale_or_future_proof_of_an_opaque_token_is_refused_and_not_recorded(
    scripted: ScriptedAS,
) -> None:
    token = bound_opaque(scripted)
    clock = Clock(time.time())
    handler = guard_of(introspector(scripted, bound_tokens=True),
                       DpopVerifier(replay=MemoryReplayStore(), clock=clock))  # fmt: skip
    stale = CLIENT.proof("GET", URL, access_token=token, iat=int(clock.now) - 120, jti="j-1")
    future = CLIENT.proof("GET", URL, access_token=token, iat=int(clock.now) + 60, jti="j-2")
    for proof in (stale, future):
        response = handler(dpop_event(token, proof), None)
        assert response["statusCode"] == 401
        assert 'error="invalid_dpop_proof"' in challenge(response)
    # The future proof's jti was not spent by its refusal: once its time comes it passes.
    clock.now += 60
    assert handler(dpop_event(token, future), None)["statusCode"] == 200


# == held: introspection answers ===================================================================


def test_a_cached_answer_never_outlives_the_tokens_exp(scripted: ScriptedAS) -> None:
    clock = Clock(time.time())
    token = opaque()
    scripted.answer(token, active(clock.now, exp=int(clock.now) + 30))
    verifier = introspector(scripted, cache_max_ttl=300, clock=clock)
    assert verifier.verify(token)["sub"] == "ann"
    clock.now += 31
    with pytest.raises(TokenExpired):
        verifier.verify(token)
    # Even if the server (wrongly) still vouched for it, the verifier asks again and checks.
    clock.now += 300
    with pytest.raises(TokenExpired):
        verifier.verify(token)


@pytest.mark.parametrize(
    "body",
    [
        b'{"active": true, "sub": "ann", "exp": 1' + b"0" * 400 + b"}",
        b'{"active": true, "sub": "ann", "exp": 4e9, "active": true}',
        b'{"active": "true", "sub": "ann", "exp": 4e9}',
        b'{"active": true, "sub": "ann", "exp": "4000000000"}',
        b"<html>ok</html>",
    ],
    ids=["huge-int-exp", "duplicate-active", "string-active", "string-exp", "not-json"],
)
def test_odd_answers_are_a_503_never_an_allow(scripted: ScriptedAS, body: bytes) -> None:
    token = opaque()
    scripted.answer(token, body)
    handler = guard_of(introspector(scripted))
    response = handler(dpop_event(token, None, scheme="Bearer"), None)
    assert response["statusCode"] == 503
    with pytest.raises(KeysUnavailable):
        introspector(scripted).verify(token)


def test_a_redirect_to_an_answer_that_would_allow_is_not_followed(scripted: ScriptedAS) -> None:
    token, target = opaque(), opaque()
    scripted.answer(target, active(time.time()))
    scripted.answer(token, active(time.time()), status=307, Location=scripted.url)
    with pytest.raises(KeysUnavailable) as refused:
        introspector(scripted).verify(token)
    assert refused.value.detail["cause"] == {"kind": "http_status", "status": 307}
    assert scripted.count(token=token) == 1  # asked once, the redirect not followed


def test_the_token_travels_in_the_body_with_its_hint_never_in_the_url(
    scripted: ScriptedAS,
) -> None:
    token = opaque()
    scripted.answer(token, active(time.time()))
    introspector(scripted).verify(token)
    (sent,) = [r for r in scripted.requests if r.get("form", {}).get("token") == token]
    assert sent["path"] == "/introspect"
    assert sent["form"]["token_type_hint"] == "access_token"
    assert "client_secret" not in sent["form"]  # client_secret_basic: in the header only
    assert sent["headers"]["Authorization"].startswith("Basic ")
