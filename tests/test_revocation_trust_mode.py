"""Revocation behind a cached authorizer: a trust-mode Guard given ``revocations=``.

The authorizer passes the claims a revocation list reads (``context_token_claims=True``),
and a Guard that takes the authorizer's context checks them against the same list on every
request, so a revocation ends cached answers and open WebSocket connections within the
list's ``max_staleness``. Real parts: KeyPair-signed tokens, real Authorizer answers
carried into the function's event by ``secauth.testing_events`` (as API Gateway passes and
caches them), lists in memory, on the session's redis-server and on dynalite.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from typing import Any

import pytest
from forged_contexts import forged_context
from revocable_tokens import RevocableIssuer, revocation_list

from secauth import Authorizer, Guard, Principal, Routes, authenticated
from secauth.errors import ConfigurationError, InvalidClaims
from secauth.principal import CONTEXT_FIELDS
from secauth.revocation import REVOCATION_CLAIMS, Revocations, StoreUnavailable
from secauth.testing_events import (
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    rest_proxy,
    websocket_connect,
    websocket_message,
)

ISSUER = RevocableIssuer("https://idp.trust-revocation.example/")
ISS, AUD, PAIR = ISSUER.iss, ISSUER.aud, ISSUER.pair
ROUTES = Routes({"GET /orders/7": authenticated()})
WS_ROUTES = Routes({"$connect": authenticated(), "sendmessage": authenticated()})


revocations, verifier, jwt = revocation_list, ISSUER.verifier, ISSUER.token


def authorizer(listed: Revocations | None, *, passes: bool = True, ttl: int = 300) -> Authorizer:
    return Authorizer(verifier(listed), routes=ROUTES, cache_ttl=ttl, decision_log=None,
                      context_token_claims=passes)  # fmt: skip


def ok(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": json.dumps(dict(principal.claims))}


def answer_of(handler: Any, event: dict[str, Any]) -> tuple[int, str]:
    """The status, and the problem's title for a refusal (else the body)."""
    answer = handler(copy.deepcopy(event), None)
    if answer["statusCode"] >= 400:
        return answer["statusCode"], json.loads(answer["body"])["title"]
    return answer["statusCode"], answer["body"]


def cached_event(token: str, listed: Revocations | None, *, shape: str = "rest") -> dict[str, Any]:
    """What the function receives for GET /orders/7 behind an authorizer that allowed
    ``token`` (and that API Gateway then serves from its cache); the token is not sent
    on to the function's event, as a trust-only guard needs no token."""
    if shape == "rest":
        answer = authorizer(listed).handler(request_authorizer("GET", "/orders/7", token=token), None)
        assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
        return rest_proxy("GET", "/orders/7", authorizer_response=answer)
    answer = authorizer(listed, ttl=0).handler(
        http_authorizer_v2("GET", "/orders/7", token=token), None
    )
    return http_proxy("GET", "/orders/7", authorizer_response=answer)


def trusting(listed: Revocations | None, routes: Routes = ROUTES) -> Any:
    return Guard(routes=routes, revocations=listed, decision_log=None)(ok)


# == what the authorizer passes =================================================================


def test_the_context_passes_the_claims_a_verdict_reads_only_when_asked() -> None:
    token = jwt(jti="t-1", client_id="app-1", origin_jti="family-1", azp="app-1")
    event = request_authorizer("GET", "/orders/7", token=token)
    passed = authorizer(None).handler(copy.deepcopy(event), None)["context"]
    claims = json.loads(passed["secauth_token_claims"])
    assert set(claims) == {"iss", "jti", "origin_jti", "sub", "client_id", "azp", "aud", "iat", "exp"}
    assert (claims["jti"], claims["aud"]) == ("t-1", AUD)
    assert set(passed) <= set(CONTEXT_FIELDS)
    assert set(claims) <= set(REVOCATION_CLAIMS)
    plain = authorizer(None, passes=False).handler(copy.deepcopy(event), None)["context"]
    assert "secauth_token_claims" not in plain


def test_the_function_sees_the_passed_claims_and_nothing_else_of_the_token() -> None:
    token = jwt(jti="t-2", email="ann@example.com")
    status, body = answer_of(trusting(None), cached_event(token, None))
    assert status == 200
    claims = json.loads(body)
    assert claims["jti"] == "t-2"
    assert "email" not in claims


def test_an_extra_context_value_cannot_pose_as_the_token_claims() -> None:
    """``secauth_*`` names are the principal's: a forwarded value named so is dropped."""
    forged = json.dumps({"iss": ISS, "sub": "ann", "jti": "not-revoked", "iat": 0, "exp": 60})
    built = Authorizer(verifier(), routes=ROUTES, decision_log=None,
                       context=lambda p: {"secauth_token_claims": forged})  # fmt: skip
    answer = built.handler(request_authorizer("GET", "/orders/7", token=jwt(jti="real")), None)
    assert "secauth_token_claims" not in answer["context"]


# == a revocation ends what API Gateway cached ===================================================


@pytest.mark.parametrize("shape", ["rest", "http"])
@pytest.mark.parametrize(
    ("revoke", "claims"),
    [
        ("token", {"jti": "leaked"}),
        ("family", {"origin_jti": "family-9"}),
        ("subject", {}),
        ("client", {"client_id": "app-9"}),
    ],
)
def test_a_trusting_guard_refuses_a_cached_context_once_its_token_is_revoked(
    shape: str, revoke: str, claims: dict[str, Any]
) -> None:
    """The gap review 72 left in the docs: the authorizer's answer stays in API Gateway's
    cache, so only the function can refuse the token in time."""
    listed = revocations()
    event = cached_event(jwt(**claims), listed, shape=shape)
    guard = trusting(listed)
    assert answer_of(guard, event)[0] == 200
    if revoke == "token":
        listed.revoke_token(ISS, "leaked")
    elif revoke == "family":
        listed.revoke_family(ISS, "family-9")
    elif revoke == "subject":
        listed.revoke_subject(ISS, "ann", before=time.time() + 1)
    else:
        listed.revoke_client(ISS, "app-9", before=time.time() + 1)
    assert answer_of(guard, event) == (401, "token revoked")


def test_a_sign_out_spares_the_tokens_issued_after_it() -> None:
    listed = revocations()
    now = time.time()
    event = cached_event(jwt(), listed)
    listed.revoke_subject(ISS, "ann", before=now - 60)
    assert answer_of(trusting(listed), event)[0] == 200


def test_another_tokens_revocation_leaves_this_context_alone() -> None:
    listed = revocations()
    event = cached_event(jwt(jti="mine"), listed)
    listed.revoke_token(ISS, "someone-elses")
    listed.revoke_subject("https://other-idp.example/", "ann", before=time.time() + 1)
    assert answer_of(trusting(listed), event)[0] == 200


def test_a_websocket_connection_ends_when_its_token_is_revoked() -> None:
    """Messages repeat $connect's context for up to two hours: the list ends them."""
    listed = revocations()
    connect = websocket_connect(headers={"authorization": f"Bearer {jwt(jti='ws-1')}"})
    built = Authorizer(verifier(listed), routes=WS_ROUTES, decision_log=None,
                       context_token_claims=True)  # fmt: skip
    answer = built.handler(connect, None)
    message = websocket_message("sendmessage", "{}", authorizer_response=answer)
    # a guard that verifies tokens too takes a message's context without one
    both = Guard(verifier(listed), routes=WS_ROUTES, trust_authorizer=True, revocations=listed,
                 decision_log=None)  # fmt: skip
    guards = (trusting(listed, WS_ROUTES), both(ok))
    assert [answer_of(guard, message)[0] for guard in guards] == [200, 200]
    listed.revoke_token(ISS, "ws-1")
    assert [answer_of(guard, message) for guard in guards] == [(401, "token revoked")] * 2


def test_a_revoked_connections_disconnect_still_runs_its_cleanup() -> None:
    """API Gateway ignores $disconnect's answer: refusing it would only skip the cleanup."""
    listed = revocations()
    connect = websocket_connect(headers={"authorization": f"Bearer {jwt(jti='ws-2')}"})
    built = Authorizer(verifier(listed), routes=WS_ROUTES, decision_log=None,
                       context_token_claims=True)  # fmt: skip
    answer = built.handler(connect, None)
    disconnect = websocket_message("$disconnect", authorizer_response=answer)
    disconnect["requestContext"]["eventType"] = "DISCONNECT"
    routes = Routes({**{key: authenticated() for key in ("$connect", "sendmessage")},
                     "$disconnect": authenticated()})  # fmt: skip
    listed.revoke_token(ISS, "ws-2")
    assert answer_of(trusting(listed, routes), disconnect)[0] == 200
    message = websocket_message("sendmessage", "{}", authorizer_response=answer)
    assert answer_of(trusting(listed, routes), message)[0] == 401


def test_an_async_handler_is_checked_alike() -> None:
    listed = revocations()
    event = cached_event(jwt(jti="async-1"), listed)

    async def handler(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
        return {"statusCode": 200, "body": principal.id}

    guarded = Guard(routes=ROUTES, revocations=listed, decision_log=None)(handler)
    assert asyncio.run(guarded(copy.deepcopy(event), None))["statusCode"] == 200
    listed.revoke_token(ISS, "async-1")
    assert asyncio.run(guarded(copy.deepcopy(event), None))["statusCode"] == 401


def test_the_check_is_the_one_integrations_run() -> None:
    listed = revocations()
    event = cached_event(jwt(jti="check-1"), listed)
    guard = Guard(routes=ROUTES, revocations=listed, decision_log=None)
    assert guard.check(copy.deepcopy(event))[1].id == "ann"
    listed.revoke_token(ISS, "check-1")
    with pytest.raises(Exception, match="revoked") as raised:
        guard.check(copy.deepcopy(event))
    assert getattr(raised.value, "reason", None) == "token_revoked"


# == failing closed =============================================================================


def test_a_context_without_token_claims_is_refused() -> None:
    """An authorizer that does not pass them leaves nothing to check: refused, never let
    through unchecked."""
    answer = authorizer(None, passes=False).handler(
        request_authorizer("GET", "/orders/7", token=jwt()), None
    )
    event = rest_proxy("GET", "/orders/7", authorizer_response=answer)
    assert answer_of(trusting(revocations()), event)[0] == 401
    assert answer_of(trusting(None), event)[0] == 200  # a guard without a list takes it


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": ISS, "sub": "ann", "iat": 0},  # no exp: it could outlive the entries
        {"iss": ISS, "sub": "ann", "exp": 4_000_000_000},  # no iat
        {"iss": ISS, "sub": "ann", "iat": 0, "exp": 4_000_000_000},  # longer than the list keeps
        {"sub": "ann", "iat": 0, "exp": 600},  # no issuer to look the entries up under
    ],
)
def test_a_token_the_list_cannot_answer_for_is_refused(claims: dict[str, Any]) -> None:
    principal = Principal("ann", issuer=ISS, claims=claims)
    context = principal.to_context(token_claims=REVOCATION_CLAIMS)
    context["secauth_exp"] = str(int(time.time()) + 600)
    event = rest_proxy("GET", "/orders/7")
    event["requestContext"]["authorizer"] = {"principalId": "ann", **context}
    assert answer_of(trusting(revocations()), event)[0] == 401


@pytest.mark.parametrize("value", ["", "not json", "[]", '"text"', "null", "[" * 100_000, "{"])
def test_malformed_token_claims_are_a_401_never_a_500(value: str) -> None:
    event = rest_proxy("GET", "/orders/7")
    event["requestContext"]["authorizer"] = {**forged_context("ann"), "secauth_token_claims": value}
    for guard in (trusting(revocations()), trusting(None)):
        assert guard(copy.deepcopy(event), None)["statusCode"] == 401


@pytest.mark.parametrize("iss", [1, None, "", ["https://idp/"]])
def test_claims_without_an_issuer_to_look_up_are_refused(iss: object) -> None:
    claims = json.dumps({"iss": iss, "sub": "ann", "jti": "t", "iat": 0, "exp": 600})
    event = rest_proxy("GET", "/orders/7")
    event["requestContext"]["authorizer"] = {**forged_context("ann"), "secauth_token_claims": claims}
    assert trusting(revocations())(event, None)["statusCode"] == 401


def test_an_unreachable_list_refuses_with_503_unless_it_fails_open() -> None:
    class Down:
        def lookup(self, keys: list[str]) -> dict[str, float | None]:
            raise StoreUnavailable("down")

        def put(self, key: str, value: float, expires_at: float) -> None:
            raise StoreUnavailable("down")

    event = cached_event(jwt(jti="t-down"), None)
    assert answer_of(trusting(revocations(Down())), event)[0] == 503
    assert answer_of(trusting(revocations(Down(), failure="open")), event)[0] == 200


def test_api_key_contexts_have_no_token_to_check() -> None:
    context = Principal("partner-1", kind="api_key").to_context()
    event = rest_proxy("GET", "/orders/7")
    event["requestContext"]["authorizer"] = {"principalId": "partner-1", **context}
    assert answer_of(trusting(revocations()), event)[0] == 200


# == configuration ===============================================================================


def test_revocations_are_for_a_guard_that_trusts_contexts() -> None:
    with pytest.raises(ConfigurationError, match="give the verifier revocations="):
        Guard(verifier(), revocations=revocations())
    with pytest.raises(ConfigurationError, match="Revocations"):
        Guard(routes=ROUTES, revocations=object())  # type: ignore[arg-type]


def test_the_lifetime_check_is_the_verifiers() -> None:
    listed = revocations()
    listed.check_lifetime({"iat": 0, "exp": 3600})
    for claims in ({"iat": 0, "exp": 3601}, {"exp": 10}, {"iat": 0}, {"iat": "0", "exp": 10}):
        with pytest.raises(InvalidClaims):
            listed.check_lifetime(claims)


# == shared stores ================================================================================


def test_a_revocation_written_by_one_container_reaches_another_through_redis(
    revocation_redis: Any,
) -> None:
    writer, reader = revocations(revocation_redis), revocations(revocation_redis)
    event = cached_event(jwt(jti="fleet-1"), reader)
    guard = trusting(reader)
    assert answer_of(guard, event)[0] == 200
    writer.revoke_token(ISS, "fleet-1")
    assert answer_of(guard, event) == (401, "token revoked")


def test_a_revocation_written_by_one_container_reaches_another_through_dynamodb(
    revocation_dynamodb: Any,
) -> None:
    writer, reader = revocations(revocation_dynamodb), revocations(revocation_dynamodb)
    event = cached_event(jwt(), reader)
    guard = trusting(reader)
    assert answer_of(guard, event)[0] == 200
    writer.revoke_subject(ISS, "ann", before=time.time() + 1)
    assert answer_of(guard, event) == (401, "token revoked")
