"""Review 73: adversarial review of revocation in a trust-mode Guard (commit 7b52625).

``Authorizer(context_token_claims=True)`` passes the claims a revocation list reads in the
context (``secauth_token_claims``) and ``Guard(revocations=...)`` checks a context it takes
without the token against the list. These tests try to get a revoked token's request to
the handler anyway, to turn the feature into a 500 or a leak, and check its interplay with
the principal memo, the authorizer's memo, dual mode, ``require()``, Powertools, async
handlers and WebSocket ``$disconnect``. Real parts only: KeyPair-signed tokens, real
Authorizer answers carried into the function's event, a memory revocation store.
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

from secauth import Authorizer, Guard, Principal, Routes, authenticated, public, roles
from secauth.api_keys import ApiKeyEntry, StaticApiKeys, hash_api_key
from secauth.principal import ClaimMapper
from secauth.revocation import Revocations
from secauth.testing_events import (
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    rest_proxy,
    websocket_connect,
    websocket_message,
)

ISSUER = RevocableIssuer("https://idp.review73.example/")
ISS, AUD, PAIR = ISSUER.iss, ISSUER.aud, ISSUER.pair
ROUTES = Routes({"GET /orders/7": authenticated(), "GET /public": public()})
WS_ROUTES = Routes({"$connect": authenticated(), "sendmessage": authenticated(),
                    "$disconnect": authenticated()})  # fmt: skip


listing, verifier, jwt = revocation_list, ISSUER.verifier, ISSUER.token


def gate(listed: Revocations | None = None, **options: Any) -> Authorizer:
    options.setdefault("routes", ROUTES)
    return Authorizer(verifier(listed), cache_ttl=300, decision_log=None,
                      context_token_claims=True, **options)  # fmt: skip


def ok(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": principal.id}


def status(handler: Any, event: dict[str, Any]) -> int:
    return int(handler(copy.deepcopy(event), None)["statusCode"])


def allowed(token: str, *, path: str = "/orders/7") -> dict[str, Any]:
    answer = gate().handler(request_authorizer("GET", path, token=token), None)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    return answer


def cached(token: str, *, send_token: bool = False, path: str = "/orders/7") -> dict[str, Any]:
    """GET ``path`` as the function receives it behind a cached REST authorizer answer."""
    sent: dict[str, Any] = {"token": token} if send_token else {}
    return rest_proxy("GET", path, authorizer_response=allowed(token, path=path), **sent)


# == the principal memo and the authorizer's memo ============================================


def test_two_tokens_of_one_principal_are_told_apart_by_the_memo() -> None:
    """The memo keys contexts by their strings, token claims included: revoking one token
    of ann leaves her other token alone, and the revoked one is refused even after the
    other's context was read (no principal, hence no claims, shared between them)."""
    listed = listing()
    guard = Guard(routes=ROUTES, revocations=listed, decision_log=None)(ok)
    first, second = cached(jwt(jti="ann-1")), cached(jwt(jti="ann-2"))
    assert [status(guard, first), status(guard, second)] == [200, 200]
    listed.revoke_token(ISS, "ann-1")
    assert [status(guard, second), status(guard, first), status(guard, second)] == [200, 401, 200]


def test_the_authorizers_memo_keeps_each_tokens_own_claims() -> None:
    """The authorizer's response memo keeps an answer on its second sighting: each token's
    answer still carries that token's claims, never another's."""
    built = gate()
    tokens = [jwt(jti=f"memo-{i}") for i in range(2)]
    for _ in range(3):
        for i, token in enumerate(tokens):
            answer = built.handler(request_authorizer("GET", "/orders/7", token=token), None)
            assert json.loads(answer["context"]["secauth_token_claims"])["jti"] == f"memo-{i}"


def test_a_revocation_read_by_the_authorizers_list_ends_its_memo_too() -> None:
    listed = listing()
    built = gate(listed)
    token = jwt(jti="memo-revoked")
    for _ in range(2):
        built.handler(request_authorizer("GET", "/orders/7", token=token), None)
    listed.revoke_token(ISS, "memo-revoked")
    with pytest.raises(Exception, match="Unauthorized"):
        built.handler(request_authorizer("GET", "/orders/7", token=token), None)


# == dual mode, derived guards, async ============================================================


def test_dual_mode_refuses_a_revoked_token_it_verifies_itself() -> None:
    """The finding (medium): the guard accepted ``revocations=`` in dual mode, but a
    request that carries the token (every REST/HTTP request: API Gateway passes the header
    on) was verified by a verifier that never consults the list, so the cached context of
    a revoked token ran the handler. The guard's list now checks every token it admits,
    the ones it verifies included, whatever list its verifier holds (review 74)."""
    for verifier_list in (None, listing()):
        listed = listing()
        token = jwt(jti="dual-1")
        event = cached(token, send_token=True)
        guard = Guard(verifier(verifier_list), routes=ROUTES, trust_authorizer=True,
                      revocations=listed, decision_log=None)(ok)  # fmt: skip
        assert status(guard, event) == 200
        listed.revoke_token(ISS, "dual-1")
        assert status(guard, event) == 401


def test_dual_mode_with_the_list_on_both_refuses_either_way() -> None:
    listed = listing()
    token = jwt(jti="dual-2")
    with_token, context_only = cached(token, send_token=True), cached(token)
    guard = Guard(verifier(listed), routes=ROUTES, trust_authorizer=True, revocations=listed,
                  decision_log=None)(ok)  # fmt: skip
    assert status(guard, with_token) == 200
    listed.revoke_token(ISS, "dual-2")
    assert status(guard, with_token) == 401
    assert status(guard, context_only) == 401  # a token must come too


def test_a_derived_guard_keeps_the_list() -> None:
    listed = listing()
    event = cached(jwt(jti="derived-1"))
    base = Guard(routes=ROUTES, revocations=listed, decision_log=None)
    derived = base.require(authenticated()).require(authenticated())
    assert derived.revocations is listed
    assert status(derived(ok), event) == 200
    listed.revoke_token(ISS, "derived-1")
    assert status(derived(ok), event) == 401


def test_an_async_derived_guard_refuses_a_revoked_websocket_message() -> None:
    listed = listing()
    answer = Authorizer(verifier(), routes=WS_ROUTES, decision_log=None,
                        context_token_claims=True).handler(
        websocket_connect(headers={"authorization": f"Bearer {jwt(jti='ws-async')}"}), None
    )  # fmt: skip
    message = websocket_message("sendmessage", "{}", authorizer_response=answer)

    async def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200}

    guarded = Guard(routes=WS_ROUTES, revocations=listed, decision_log=None).require(
        authenticated()
    )(handler)
    assert asyncio.run(guarded(copy.deepcopy(message), None))["statusCode"] == 200
    listed.revoke_token(ISS, "ws-async")
    assert asyncio.run(guarded(copy.deepcopy(message), None))["statusCode"] == 401


# == $disconnect: what the HTTP request cannot fake ================================================


@pytest.mark.parametrize(
    "sent",
    [
        {"headers": {"eventType": "DISCONNECT", "x-amzn-eventtype": "DISCONNECT"}},
        {"query": {"eventType": "DISCONNECT", "routeKey": "$disconnect"}},
        {"body": '{"action": "$disconnect", "eventType": "DISCONNECT"}'},
    ],
)
def test_an_http_request_cannot_pose_as_a_disconnect(sent: dict[str, Any]) -> None:
    listed = listing()
    token = jwt(jti="pose-1")
    event = rest_proxy("GET", "/orders/7", authorizer_response=allowed(token), **sent)
    listed.revoke_token(ISS, "pose-1")
    assert status(Guard(routes=ROUTES, revocations=listed, decision_log=None)(ok), event) == 401


def test_a_message_routed_to_a_disconnect_key_is_still_checked() -> None:
    """A client picks a message's route by its body (``{"action": "$disconnect"}``), never
    its ``eventType``: only a DISCONNECT event skips the list."""
    listed = listing()
    answer = Authorizer(verifier(), routes=WS_ROUTES, decision_log=None,
                        context_token_claims=True).handler(
        websocket_connect(headers={"authorization": f"Bearer {jwt(jti='ws-pose')}"}), None
    )  # fmt: skip
    listed.revoke_token(ISS, "ws-pose")
    guard = Guard(routes=WS_ROUTES, revocations=listed, decision_log=None)(ok)
    for key in ("$disconnect", "$default", "sendmessage"):
        body = json.dumps({"action": "$disconnect"})
        assert status(guard, websocket_message(key, body, authorizer_response=answer)) >= 400


# == Powertools ====================================================================================


def _powertools_app(outer: Guard, route: Guard) -> Any:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from secauth.integrations.powertools import guard_middleware

    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(outer)])

    @app.get("/orders/7", middlewares=[guard_middleware(route)])
    def order() -> dict[str, str]:
        return {"id": "7"}

    return app


def test_a_global_powertools_guard_with_the_list_refuses_a_revoked_context() -> None:
    listed = listing()
    event = cached(jwt(jti="pt-1"))
    outer = Guard(routes=ROUTES, revocations=listed, decision_log=None)
    app = _powertools_app(outer, outer.require(authenticated()))
    assert app.resolve(copy.deepcopy(event), None)["statusCode"] == 200
    listed.revoke_token(ISS, "pt-1")
    assert app.resolve(copy.deepcopy(event), None)["statusCode"] == 401


def test_a_route_guard_with_the_list_under_a_global_guard_without_it() -> None:
    listed = listing()
    event = cached(jwt(jti="pt-2"))
    app = _powertools_app(Guard(routes=ROUTES, decision_log=None),
                          Guard(revocations=listed, decision_log=None))  # fmt: skip
    assert app.resolve(copy.deepcopy(event), None)["statusCode"] == 200
    listed.revoke_token(ISS, "pt-2")
    assert app.resolve(copy.deepcopy(event), None)["statusCode"] == 401


def test_a_route_guards_list_is_consulted_when_both_guards_share_a_claim_mapper() -> None:
    """The finding (medium): ``_identifies_otherwise`` compared verifier, trust, token
    sources, sender constraint and claim mapper, not the revocation list: with one
    ``claims=`` object on both (as apps share one mapper), the route guard took the global
    guard's principal as it was, and the route it guards ran for a revoked token. A route
    guard with another list now identifies the caller itself."""
    listed = listing()
    shared = ClaimMapper()
    event = cached(jwt(jti="pt-3"))
    app = _powertools_app(Guard(routes=ROUTES, claims=shared, decision_log=None),
                          Guard(claims=shared, revocations=listed, decision_log=None))  # fmt: skip
    assert app.resolve(copy.deepcopy(event), None)["statusCode"] == 200
    listed.revoke_token(ISS, "pt-3")
    assert app.resolve(copy.deepcopy(event), None)["statusCode"] == 401


# == HTTP API payload 2.0 ===========================================================================


def test_an_http_api_context_is_checked_in_its_lambda_map() -> None:
    listed = listing()
    token = jwt(jti="v2-1")
    answer = Authorizer(verifier(), routes=ROUTES, decision_log=None,
                        context_token_claims=True).handler(
        http_authorizer_v2("GET", "/orders/7", token=token), None
    )  # fmt: skip
    event = http_proxy("GET", "/orders/7", authorizer_response=answer)
    assert isinstance(event["requestContext"]["authorizer"]["lambda"]["secauth_token_claims"], str)
    guard = Guard(routes=ROUTES, revocations=listed, decision_log=None)(ok)
    assert status(guard, event) == 200
    listed.revoke_client(ISS, AUD, before=time.time() + 1)  # an ID token's client is its aud
    assert status(guard, event) == 401


# == kinds without a token ==========================================================================


def test_an_api_key_answer_passes_no_token_claims_even_beside_a_bearer_token() -> None:
    """A request with a key is decided by the key: its context names no token (``{}``),
    whatever revoked bearer token came with it, and the key's principal is what runs."""
    key = "k-" + "7" * 40
    keys = StaticApiKeys({hash_api_key(key): ApiKeyEntry("partner-1")})
    built = Authorizer(verifier(), api_keys=keys, routes=ROUTES, decision_log=None,
                       context_token_claims=True)  # fmt: skip
    event = request_authorizer("GET", "/orders/7", token=jwt(jti="beside"),
                               headers={"x-api-key": key})  # fmt: skip
    answer = built.handler(event, None)
    context = answer["context"]
    assert (context["secauth_kind"], json.loads(context["secauth_token_claims"])) == ("api_key", {})


# == type confusion, size, leaks ====================================================================


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": ISS, "sub": "root", "iat": True, "exp": 600},
        {"iss": ISS, "sub": "root", "iat": "0", "exp": "600"},
        {"iss": ISS, "sub": "root", "iat": 0, "exp": 1e400},
        {"iss": ISS, "sub": "root", "iat": -1e400, "exp": 1e400},
        {"iss": ISS, "sub": "root", "iat": 0, "exp": 10**400},
        {"iss": ISS, "sub": "root", "iat": None, "exp": 600},
        {"iss": ISS, "sub": "root", "iat": 0, "exp": 600, "aud": [str(i) for i in range(17)]},
        {"iss": {"a": 1}, "sub": "root", "iat": 0, "exp": 600},
    ],
)
def test_odd_claims_are_refused_with_a_401(claims: dict[str, Any]) -> None:
    """What a caller who writes the whole event may put there: refused, never a 500."""
    text = json.dumps(claims)  # NaN, Infinity and big ints are JSON Python reads
    event = rest_proxy("GET", "/orders/7")
    event["requestContext"]["authorizer"] = {**forged_context("root"), "secauth_token_claims": text}
    assert status(Guard(routes=ROUTES, revocations=listing(), decision_log=None)(ok), event) == 401


@pytest.mark.parametrize(
    "claims",
    [
        {"jti": {"a": 1}, "aud": [{"x": 1}, ["y"]], "sub": ["root"], "client_id": 7},
        {"jti": "t", "aud": [], "azp": "", "origin_jti": None},
        {"jti": "\u2028|\\", "aud": ["a|b", "c\\|d"]},
    ],
)
def test_unhashable_and_odd_identifiers_never_crash_the_check(claims: dict[str, Any]) -> None:
    listed = listing()
    now = int(time.time())
    text = json.dumps({"iss": ISS, "iat": now, "exp": now + 60, **claims})
    event = rest_proxy("GET", "/orders/7")
    event["requestContext"]["authorizer"] = {**forged_context("root"), "secauth_token_claims": text}
    guard = Guard(routes=ROUTES, revocations=listed, decision_log=None)(ok)
    assert status(guard, event) in (200, 401)
    assert status(guard, event) in (200, 401)  # the second time through the list's memory


def test_a_revocation_by_an_escaped_identifier_hits_only_its_token() -> None:
    listed = listing()
    guard = Guard(routes=ROUTES, revocations=listed, decision_log=None)(ok)
    pipe, other = cached(jwt(jti="a|b")), cached(jwt(jti="a\\|b"))
    listed.revoke_token(ISS, "a|b")
    assert [status(guard, pipe), status(guard, other)] == [401, 200]


def test_a_long_token_fits_with_its_claims_or_is_refused() -> None:
    """Sixteen long audiences and a long jti fit the budget with every claim; a token too
    big for any answer is refused, never answered with a context that lost its claims."""
    audiences = [f"https://aud-{i}.example/" + "x" * 200 for i in range(15)] + [AUD]
    answer = allowed(jwt(jti="j" * 500, aud=audiences))
    claims = json.loads(answer["context"]["secauth_token_claims"])
    assert claims["aud"] == audiences
    assert claims["jti"] == "j" * 500
    huge = jwt(jti="j" * 9000)
    with pytest.raises(Exception, match="Unauthorized"):
        gate().handler(request_authorizer("GET", "/orders/7", token=huge), None)


def test_refusals_and_decision_records_name_no_token_claim() -> None:
    """A revoked token, a lifetime over the list's and a context without claims: neither
    the response nor the decision record carries the jti, client or family."""
    records: list[dict[str, Any]] = []
    listed = listing()
    guard = Guard(routes=ROUTES, revocations=listed, decision_log=None,
                  on_decision=records.append)(ok)  # fmt: skip
    secrets = {"jti": "SECRET-JTI-73", "client_id": "SECRET-CLIENT-73", "origin_jti": "SECRET-FAM-73"}
    revoked = cached(jwt(**secrets))
    listed.revoke_token(ISS, "SECRET-JTI-73")
    long_lived = cached(jwt(lifetime=7200, **secrets))
    answers = [guard(copy.deepcopy(revoked), None), guard(copy.deepcopy(long_lived), None)]
    assert [a["statusCode"] for a in answers] == [401, 401]
    text = json.dumps(answers) + json.dumps(records, default=str)
    assert "SECRET" not in text


# == the context's expiry and its claims ============================================================


def test_the_context_expiry_is_the_claims_exp() -> None:
    token = jwt(jti="exp-1", lifetime=900)
    context = allowed(token)["context"]
    assert int(context["secauth_exp"]) == json.loads(context["secauth_token_claims"])["exp"]


def test_a_public_route_with_a_revoked_context_is_refused_not_anonymous() -> None:
    """A context on a public route (an authorizer ran there) is still the caller's: a
    revoked token's context is refused, never taken for the anonymous caller's."""
    listed = listing()
    event = cached(jwt(jti="public-1"), path="/public")
    listed.revoke_token(ISS, "public-1")
    assert status(Guard(routes=ROUTES, revocations=listed, decision_log=None)(ok), event) == 401


def test_a_role_rule_still_reads_the_principal_not_the_claims() -> None:
    """The claims a context passes are evidence for the list, not roles: a rule on roles
    decides as before the feature."""
    event = cached(jwt(jti="roles-1", roles=["admin"]))
    guard = Guard(routes=ROUTES, decision_log=None).require(roles("admin"))
    assert status(guard(ok), event) == 200
    plain = Guard(routes=ROUTES, decision_log=None).require(roles("auditor"))
    assert status(plain(ok), event) == 403
