"""Review 74: follow-ups to review 73 (trust-mode revocation, commits 7b52625 and 9e16d70).

Attacks the two fixes of review 73 (a dual-mode Guard's ``revocations=`` must be its
verifier's list; a Powertools route guard with another list identifies the caller itself)
and what that review left out: verifiers that wrap other verifiers in dual mode, a list
swapped after the guard was built, Powertools stacks with the list on the global guard
only or with two lists, ``guard_handler``, async handlers, HTTP API simple responses, the
authorizer's extra context, a list shared by containers through Redis and DynamoDB, and
the code sample of docs/revocation.md. Real parts only: KeyPair-signed tokens, real
Authorizer answers carried into the function's event, real revocation stores.
"""

from __future__ import annotations

import asyncio
import copy
import re
import time
from pathlib import Path
from typing import Any

import pytest
from revocable_tokens import RevocableIssuer, revocation_list

from secauth import Authorizer, Guard, JwtVerifier, Principal, Routes, authenticated
from secauth.client_auth import ClientAuth
from secauth.combined_verifier import CombinedVerifier
from secauth.introspection import IntrospectionVerifier
from secauth.revocation import Revocations
from secauth.testing_events import (
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    rest_proxy,
    websocket_connect,
    websocket_message,
)

ISSUER = RevocableIssuer("https://idp.review74.example/")
ISS, AUD, PAIR = ISSUER.iss, ISSUER.aud, ISSUER.pair
POOL = "eu-west-1_Rev74Pool"
POOL_ISS = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}"
ROUTES = Routes({"GET /orders/7": authenticated(), "GET /orders/8": authenticated()})
WS_ROUTES = Routes({"$connect": authenticated(), "sendmessage": authenticated(),
                    "$disconnect": authenticated()})  # fmt: skip
DOCS = Path(__file__).resolve().parent.parent / "docs"


listing, verifier, jwt = revocation_list, ISSUER.verifier, ISSUER.token


def gate(**options: Any) -> Authorizer:
    options.setdefault("routes", ROUTES)
    return Authorizer(verifier(), cache_ttl=300, decision_log=None, context_token_claims=True,
                      **options)  # fmt: skip


def ok(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": principal.id}


def status(handler: Any, event: dict[str, Any]) -> int:
    return int(handler(copy.deepcopy(event), None)["statusCode"])


def cached(token: str, *, send_token: bool = False, path: str = "/orders/7") -> dict[str, Any]:
    """GET ``path`` as the function receives it behind a cached REST authorizer answer."""
    answer = gate().handler(request_authorizer("GET", path, token=token), None)
    sent: dict[str, Any] = {"token": token} if send_token else {}
    return rest_proxy("GET", path, authorizer_response=answer, **sent)


def ws_message(token: str, gatekeeper: Authorizer | None = None) -> dict[str, Any]:
    """A WebSocket message of the connection ``token`` opened (its $connect answer)."""
    built = gatekeeper or Authorizer(verifier(), routes=WS_ROUTES, decision_log=None,
                                     context_token_claims=True)  # fmt: skip
    answer = built.handler(websocket_connect(headers={"authorization": f"Bearer {token}"}), None)
    return websocket_message("sendmessage", "{}", authorizer_response=answer)


def introspection(listed: Revocations | None) -> IntrospectionVerifier:
    return IntrospectionVerifier(issuer=ISS, audience=AUD,
                                 client=ClientAuth.basic("orders-api", "s3cret-value-74"),
                                 endpoint="https://idp.review74.example/introspect",
                                 revocations=listed)  # fmt: skip


# == fix 1: the dual-mode check, against verifiers that wrap others ==============================


def _wrapped(kind: str, listed: Revocations) -> Any:
    if kind == "multi":
        return JwtVerifier.multi(verifier(listed))
    if kind == "cognito":
        return JwtVerifier.cognito(user_pool_id=POOL, client_id=None, token_use="access",
                                   jwks={"keys": [PAIR.public_jwk]}, revocations=listed)  # fmt: skip
    return CombinedVerifier(jwt=verifier(listed), introspection=introspection(listed))


@pytest.mark.parametrize("kind", ["multi", "cognito", "combined"])
def test_dual_mode_takes_a_wrapping_verifier_whose_members_hold_the_list(kind: str) -> None:
    """The finding (low): review 73's fix read ``verifier.revocations``, which
    MultiIssuerVerifier (and so CognitoVerifier) and CombinedVerifier do not have, and
    refused the guard "give the verifier the same list", which it was given. The guard's
    list now checks every token it admits itself, whatever its verifier holds."""
    listed = listing()
    wrapped = _wrapped(kind, listed)
    iss = POOL_ISS if kind == "cognito" else ISS
    guard = Guard(wrapped, trust_authorizer=True, routes=WS_ROUTES, revocations=listed,
                  decision_log=None)(ok)  # fmt: skip
    gatekeeper = Authorizer(wrapped, routes=WS_ROUTES, decision_log=None, context_token_claims=True)
    message = ws_message(jwt(iss=iss, jti="wrap-1", client_id="app", token_use="access"), gatekeeper)
    assert status(guard, message) == 200
    listed.revoke_token(iss, "wrap-1")
    assert status(guard, message) == 401


@pytest.mark.parametrize("kind", ["multi", "cognito", "combined"])
@pytest.mark.parametrize("members", ["another list", "no list"])
def test_a_wrapping_verifier_without_the_list_still_checks_with_the_guards(
    kind: str, members: str
) -> None:
    """Members that consult another list, or none: the guard's own list refuses a revoked
    token, on a message (its context) and on a request that carries it (verified here)."""
    listed = listing()
    if members == "another list":
        wrapped = _wrapped(kind, listing())
    else:
        wrapped = {"multi": lambda: JwtVerifier.multi(verifier()),
                   "cognito": lambda: JwtVerifier.cognito(user_pool_id=POOL, client_id=None,
                                                          token_use="access",
                                                          jwks={"keys": [PAIR.public_jwk]}),
                   "combined": lambda: CombinedVerifier(jwt=verifier(),
                                                        introspection=introspection(None)),
                   }[kind]()  # fmt: skip
    iss = POOL_ISS if kind == "cognito" else ISS
    guard = Guard(wrapped, trust_authorizer=True, routes=WS_ROUTES, revocations=listed,
                  decision_log=None)(ok)  # fmt: skip
    gatekeeper = Authorizer(wrapped, routes=WS_ROUTES, decision_log=None, context_token_claims=True)
    token = jwt(iss=iss, jti="wrap-2", client_id="app", token_use="access")
    message = ws_message(token, gatekeeper)
    assert status(guard, message) == 200
    listed.revoke_token(iss, "wrap-2")
    assert status(guard, message) == 401


def test_an_introspection_verifier_makes_a_dual_mode_guard_with_any_list() -> None:
    listed = listing()
    for held in (listed, listing(), None):
        guard = Guard(introspection(held), trust_authorizer=True, revocations=listed,
                      decision_log=None)  # fmt: skip
        assert guard.revocations is listed


def test_a_derived_dual_mode_guard_keeps_both_lists_one() -> None:
    listed = listing()
    base = Guard(verifier(listed), routes=ROUTES, trust_authorizer=True, revocations=listed,
                 decision_log=None)  # fmt: skip
    derived = base.require(authenticated())
    assert derived.revocations is listed
    assert getattr(derived.verifier, "revocations", None) is listed
    event = cached(jwt(jti="derived-74"), send_token=True)
    assert status(derived(ok), event) == 200
    listed.revoke_token(ISS, "derived-74")
    assert status(derived(ok), event) == 401


def test_a_verifier_list_swapped_after_the_guard_was_built() -> None:
    """The finding (low): review 73's fix tied the guard's list to its verifier's at
    construction only: swapped afterwards, the two diverged without a word. The guard now
    checks with its own list, always: a token revoked there is refused on a message and on
    a request that carries it, whatever the verifier holds by then."""
    old, new = listing(), listing()
    shared = verifier(old)
    guard = Guard(shared, trust_authorizer=True, routes=WS_ROUTES, revocations=old,
                  decision_log=None)(ok)  # fmt: skip
    shared.revocations = new
    token = jwt(jti="swap-1")
    message = ws_message(token)
    assert status(guard, message) == 200
    old.revoke_token(ISS, "swap-1")
    assert status(guard, message) == 401


def test_dual_mode_with_the_list_on_its_verifier_only_is_documented_for_messages() -> None:
    """The finding (low, docs): docs/revocation.md said a guard whose verifier has the
    list refuses revoked WebSocket messages "either way". Such a guard takes messages
    without a token and checks nothing; the page now says to give the guard the list too,
    and a guard given it refuses them."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "revocation.md").read_text()
    assert "WebSocket messages carry none, so such\n  a guard does not check them" in page
    listed = listing()
    message = ws_message(jwt(jti="ws-dual-74"))
    guard = Guard(verifier(listed), trust_authorizer=True, routes=WS_ROUTES,
                  revocations=listed, decision_log=None)(ok)  # fmt: skip
    assert status(guard, message) == 200
    listed.revoke_token(ISS, "ws-dual-74")
    assert status(guard, message) == 401


def test_dual_mode_with_the_list_on_both_refuses_revoked_messages_and_requests() -> None:
    listed = listing()
    guard = Guard(verifier(listed), trust_authorizer=True, routes=WS_ROUTES, revocations=listed,
                  decision_log=None)(ok)  # fmt: skip
    token = jwt(jti="ws-both-74")
    message = ws_message(token)
    assert status(guard, message) == 200
    listed.revoke_subject(ISS, "ann", before=time.time() + 1)
    assert status(guard, message) == 401


# == async ===========================================================================================


def test_an_async_dual_mode_guard_checks_tokens_and_contexts() -> None:
    listed = listing()

    async def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200}

    guarded = Guard(verifier(listed), trust_authorizer=True, routes=ROUTES, revocations=listed,
                    decision_log=None)(handler)  # fmt: skip
    with_token = cached(jwt(jti="async-74"), send_token=True)
    assert asyncio.run(guarded(copy.deepcopy(with_token), None))["statusCode"] == 200
    listed.revoke_token(ISS, "async-74")
    assert asyncio.run(guarded(copy.deepcopy(with_token), None))["statusCode"] == 401


def test_an_async_trust_guard_refuses_a_revoked_family() -> None:
    listed = listing()

    async def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200}

    guarded = Guard(routes=ROUTES, revocations=listed, decision_log=None)(handler)
    event = cached(jwt(jti="t-74", origin_jti="family-74"))
    assert asyncio.run(guarded(copy.deepcopy(event), None))["statusCode"] == 200
    listed.revoke_family(ISS, "family-74")
    assert asyncio.run(guarded(copy.deepcopy(event), None))["statusCode"] == 401


# == Powertools stacks ================================================================================


def _powertools_app(outer: Guard, seven: Guard, eight: Guard | None = None) -> Any:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from secauth.integrations.powertools import guard_middleware

    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(outer)])

    @app.get("/orders/7", middlewares=[guard_middleware(seven)])
    def order_seven() -> dict[str, str]:
        return {"id": "7"}

    @app.get("/orders/8", middlewares=[guard_middleware(eight or outer.require(authenticated()))])
    def order_eight() -> dict[str, str]:
        return {"id": "8"}

    return app


def _resolve(app: Any, event: dict[str, Any]) -> int:
    return int(app.resolve(copy.deepcopy(event), None)["statusCode"])


def test_a_route_guard_without_the_list_under_a_global_guard_with_it() -> None:
    """The route guard identifies the caller itself (another list: None) and checks no
    list; the global guard checked its own before: the revoked token is still refused."""
    listed = listing()
    event = cached(jwt(jti="pt-74-1"))
    app = _powertools_app(Guard(routes=ROUTES, revocations=listed, decision_log=None),
                          Guard(decision_log=None))  # fmt: skip
    assert _resolve(app, event) == 200
    listed.revoke_token(ISS, "pt-74-1")
    assert _resolve(app, event) == 401


def test_a_global_guard_and_a_route_guard_with_two_lists_consult_both() -> None:
    outer_list, route_list = listing(), listing()
    app = _powertools_app(Guard(routes=ROUTES, revocations=outer_list, decision_log=None),
                          Guard(revocations=route_list, decision_log=None))  # fmt: skip
    seven, eight = cached(jwt(jti="pt-74-2")), cached(jwt(jti="pt-74-2"), path="/orders/8")
    route_list.revoke_token(ISS, "pt-74-2")
    assert [_resolve(app, seven), _resolve(app, eight)] == [401, 200]  # the route's own list
    outer_list.revoke_token(ISS, "pt-74-2")
    assert [_resolve(app, seven), _resolve(app, eight)] == [401, 401]


def test_a_dual_mode_global_guard_over_a_trusting_route_guard() -> None:
    listed = listing()
    outer = Guard(verifier(listed), routes=ROUTES, trust_authorizer=True, revocations=listed,
                  decision_log=None)  # fmt: skip
    app = _powertools_app(outer, Guard(revocations=listed, decision_log=None))
    event = cached(jwt(jti="pt-74-3"), send_token=True)
    assert _resolve(app, event) == 200
    listed.revoke_client(ISS, AUD, before=time.time() + 1)
    assert _resolve(app, event) == 401


def test_guard_handler_refuses_a_revoked_context() -> None:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from secauth.integrations.powertools import guard_handler

    listed = listing()
    app = APIGatewayRestResolver()

    @app.get("/orders/7")
    def order() -> dict[str, str]:
        return {"id": "7"}

    @guard_handler(guard=Guard(routes=ROUTES, revocations=listed, decision_log=None))
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return app.resolve(event, context)  # type: ignore[no-any-return]

    event = cached(jwt(jti="handler-74"))
    assert status(handler, event) == 200
    listed.revoke_token(ISS, "handler-74")
    assert status(handler, event) == 401


# == authorizer shapes ==================================================================================


def test_an_http_api_simple_response_passes_the_claims_the_guard_checks() -> None:
    listed = listing()
    built = Authorizer(verifier(), routes=ROUTES, simple_responses=True, decision_log=None,
                       context_token_claims=True)  # fmt: skip
    answer = built.handler(http_authorizer_v2("GET", "/orders/7", token=jwt(jti="simple-74")), None)
    event = http_proxy("GET", "/orders/7", authorizer_response=answer)
    guard = Guard(routes=ROUTES, revocations=listed, decision_log=None)(ok)
    assert status(guard, event) == 200
    listed.revoke_token(ISS, "simple-74")
    assert status(guard, event) == 401


def test_the_authorizers_extra_context_cannot_blank_the_token_claims() -> None:
    """An extra context naming ``secauth_token_claims`` (a hook that copies a whole
    context, say) does not replace the claims the list reads."""
    listed = listing()
    built = gate(context=lambda principal: {"secauth_token_claims": "{}", "note": "x"})
    token = jwt(jti="extra-74")
    answer = built.handler(request_authorizer("GET", "/orders/7", token=token), None)
    event = rest_proxy("GET", "/orders/7", authorizer_response=answer)
    guard = Guard(routes=ROUTES, revocations=listed, decision_log=None)(ok)
    assert status(guard, event) == 200
    listed.revoke_token(ISS, "extra-74")
    assert status(guard, event) == 401


# == a list shared by containers ==========================================================================


@pytest.mark.parametrize("store_fixture", ["revocation_redis", "revocation_dynamodb"])
def test_a_revocation_in_another_container_reaches_a_trusting_guard(
    store_fixture: str, request: pytest.FixtureRequest
) -> None:
    """Two containers, two Revocations over one store: the one that revokes is not the one
    whose guard holds the context (``max_staleness=0``: the next request asks)."""
    store = request.getfixturevalue(store_fixture)
    here, there = listing(store), listing(store)
    guard = Guard(routes=ROUTES, revocations=here, decision_log=None)(ok)
    event = cached(jwt(jti=f"fleet-{store_fixture}"))
    assert status(guard, event) == 200
    there.revoke_token(ISS, f"fleet-{store_fixture}")
    assert status(guard, event) == 401


# == the docs ==============================================================================================


def test_the_revocation_docs_sample_for_a_cached_authorizer_runs() -> None:
    """docs/revocation.md's first sample and its "Behind a cached authorizer" sample, run
    together as a reader would (the store sample in between needs a server)."""
    text = (DOCS / "revocation.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    first = blocks[0]
    cached_sample = next(block for block in blocks if "context_token_claims=True" in block)
    namespace: dict[str, Any] = {}
    exec(compile(first + "\n" + cached_sample, "revocation.md", "exec"), namespace)
    assert namespace["revocations"].is_revoked({"iss": namespace["ISSUER"], "jti": "t-2"})
