"""Review 72: token revocation and the Guard's trust mode, attacked.

Real parts only: KeyPair-signed JWTs, real Authorizer answers carried into the function's
event by ``secauth.testing_events`` (as API Gateway passes them, and as its authorizer
cache replays them), revocation lists in memory, on the session's redis-server and on
dynalite (conftest fixtures), and the forged contexts of ``tests/forged_contexts.py``.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; attacks the
library resists are plain tests.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest
from forged_contexts import forged_context

from secauth import Authorizer, Guard, JwtVerifier, Principal, Routes, authenticated
from secauth.policy import Unauthorized
from secauth.revocation import Revocations
from secauth.revocation_stores import MemoryRevocationStore
from secauth.testing import KeyPair
from secauth.testing_events import http_authorizer_v2, http_proxy, request_authorizer, rest_proxy

ISS, AUD = "https://idp.review72.example/", "orders-api"
OTHER_ISS = "https://other-idp.review72.example/"
PAIR = KeyPair.generate("ES256", kid="r72")
OTHER = KeyPair.generate("ES256", kid="r72-other")
ROUTES = Routes({"GET /orders/7": authenticated()})


def revocations(store: Any = None) -> Revocations:
    return Revocations(store or MemoryRevocationStore(), max_token_lifetime=3600, max_staleness=0)


def verifier(revoked: Revocations, *, issuer: str = ISS, pair: KeyPair = PAIR) -> JwtVerifier:
    return JwtVerifier(issuer=issuer, audience=AUD, jwks={"keys": [pair.public_jwk]},
                       revocations=revoked)  # fmt: skip


def jwt(sub: str = "ann", *, issuer: str = ISS, pair: KeyPair = PAIR, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": issuer, "aud": AUD, "sub": sub, "iat": now, "exp": now + 600, **claims}
    return pair.sign(body)


def ok(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": principal.id}


def status(handler: Any, event: dict[str, Any]) -> int:
    return int(handler(copy.deepcopy(event), None)["statusCode"])


def reason(handler: Any, event: dict[str, Any]) -> str:
    """The refusal's problem title ("token revoked"), or the status of an answer."""
    answer = handler(copy.deepcopy(event), None)
    if answer["statusCode"] < 400:
        return str(answer["statusCode"])
    return str(json.loads(answer["body"])["title"])


def ask(token: str, shape: str = "rest") -> dict[str, Any]:
    if shape == "rest":
        return request_authorizer("GET", "/orders/7", token=token)
    return http_authorizer_v2("GET", "/orders/7", token=token)


def allowed_answer(authorizer: Authorizer, token: str, shape: str = "rest") -> dict[str, Any]:
    """The authorizer's answer for GET /orders/7 (an Allow: asserted)."""
    answer = authorizer.handler(ask(token, shape), None)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    return dict(answer)


def refuses(authorizer: Authorizer, token: str, shape: str = "rest") -> bool:
    try:
        answer = authorizer.handler(ask(token, shape), None)
    except Unauthorized:
        return True
    return bool(answer["policyDocument"]["Statement"][0]["Effect"] == "Deny")


# == 1. a token revoked after API Gateway cached the authorizer's answer ======================


def test_only_a_guard_that_verifies_is_the_backstop_the_docs_name() -> None:
    """The finding (medium, fixed in the docs): docs/revocation.md promised that "the
    Guard" consults the list on every request, whatever the authorizer cached; a
    trust-only Guard could not (no list, and the context named no jti or iat). The page
    names the guards that do: one whose verifier has the list, and a trusting one given
    the list, behind an authorizer that passes the claims
    (``tests/test_revocation_trust_mode.py``)."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "revocation.md").read_text()
    assert "the guard in the function consults the list" not in page.replace("`", "").lower()
    assert "`Guard(revocations=...)`" in page
    assert "context_token_claims=True" in page
    listed = revocations()
    authorizer = Authorizer(verifier(listed), routes=ROUTES, cache_ttl=300, decision_log=None)
    token = jwt(jti="leaked-1")
    answer = allowed_answer(authorizer, token)
    listed.revoke_token(ISS, "leaked-1")
    assert refuses(authorizer, token)  # the authorizer itself now refuses it
    event = rest_proxy("GET", "/orders/7", token=token, authorizer_response=answer)
    # the remedy the page names: a guard whose verifier has the same list
    backstop = Guard(verifier(listed), routes=ROUTES, trust_authorizer=True, decision_log=None)
    assert status(backstop(ok), event) == 401


@pytest.mark.parametrize("shape", ["http", "rest"])
def test_a_guard_that_verifies_too_refuses_the_cached_context_of_a_revoked_token(
    shape: str,
) -> None:
    listed = revocations()
    check = verifier(listed)
    ttl = 300 if shape == "rest" else 0  # an HTTP API caches by route only with its key
    authorizer = Authorizer(check, routes=ROUTES, cache_ttl=ttl, decision_log=None)
    token = jwt(jti="leaked-2")
    answer = allowed_answer(authorizer, token, shape)
    build = http_proxy if shape == "http" else rest_proxy
    event = build("GET", "/orders/7", token=token, authorizer_response=answer)
    guard = Guard(check, routes=ROUTES, trust_authorizer=True, decision_log=None)(ok)
    for _ in range(3):  # verified, then the guard's principal memo and the verifier's cache
        assert status(guard, event) == 200
    listed.revoke_token(ISS, "leaked-2")
    assert reason(guard, event) == "token revoked"
    # the cached context alone (token stripped) is no way around it
    bare = copy.deepcopy(event)
    bare["headers"] = {k: v for k, v in bare["headers"].items() if k.lower() != "authorization"}
    bare.pop("multiValueHeaders", None)
    assert status(guard, bare) == 401


def test_a_sign_out_refuses_older_tokens_through_the_memo_and_spares_newer_ones() -> None:
    listed = revocations()
    check = verifier(listed)
    guard = Guard(check, routes=ROUTES, decision_log=None)(ok)
    now = int(time.time())
    old = PAIR.sign({"iss": ISS, "aud": AUD, "sub": "ann", "iat": now - 100, "exp": now + 600})
    new = PAIR.sign({"iss": ISS, "aud": AUD, "sub": "ann", "iat": now, "exp": now + 600})
    for token in (old, new, old, new):
        assert status(guard, http_proxy("GET", "/orders/7", token=token)) == 200
    listed.revoke_subject(ISS, "ann", before=now - 50)
    assert reason(guard, http_proxy("GET", "/orders/7", token=old)) == "token revoked"
    assert status(guard, http_proxy("GET", "/orders/7", token=new)) == 200
    # a later sign-out catches the newer one too, a second older one lifts nothing
    listed.revoke_subject(ISS, "ann", before=now + 1)
    listed.revoke_subject(ISS, "ann", before=now - 1000)
    assert reason(guard, http_proxy("GET", "/orders/7", token=new)) == "token revoked"


def test_revocations_stay_with_their_issuer() -> None:
    listed = revocations()
    ours, theirs = verifier(listed), verifier(listed, issuer=OTHER_ISS, pair=OTHER)
    mine = jwt("ann", jti="same-jti", origin_jti="fam")
    other = jwt("ann", issuer=OTHER_ISS, pair=OTHER, jti="same-jti", origin_jti="fam")
    listed.revoke_subject(OTHER_ISS, "ann", before=time.time() + 1)
    listed.revoke_token(OTHER_ISS, "same-jti")
    listed.revoke_family(OTHER_ISS, "fam")
    assert ours.verify(mine)["sub"] == "ann"
    with pytest.raises(Exception, match="revoked"):
        theirs.verify(other)
    # an issuer spelled with the key separator names no entry of another issuer
    listed.revoke_token(ISS + "|jti", "x")
    assert ours.verify(jwt("ann", jti="x"))["sub"] == "ann"


def test_a_revocation_written_by_another_container_reaches_the_guard_on_redis(
    revocation_redis: Any,
) -> None:
    listed = revocations(revocation_redis)
    elsewhere = revocations(revocation_redis)  # another container's list, same server
    guard = Guard(verifier(listed), routes=ROUTES, trust_authorizer=True, decision_log=None)(ok)
    token = jwt(jti="shared-1")
    event = http_proxy("GET", "/orders/7", token=token)
    assert status(guard, event) == 200
    elsewhere.revoke_token(ISS, "shared-1")
    assert reason(guard, event) == "token revoked"


def test_a_revocation_written_by_another_container_reaches_the_guard_on_dynamodb(
    revocation_dynamodb: Any,
) -> None:
    listed = revocations(revocation_dynamodb)
    elsewhere = revocations(revocation_dynamodb)
    guard = Guard(verifier(listed), routes=ROUTES, decision_log=None)(ok)
    token = jwt(client_id="app-1")
    event = http_proxy("GET", "/orders/7", token=token)
    assert status(guard, event) == 200
    elsewhere.revoke_client(ISS, "app-1", before=time.time() + 1)
    assert reason(guard, event) == "token revoked"


# == 2. forged and mixed secauth_* context values ============================================


def trusting() -> Any:
    return Guard(routes=ROUTES, decision_log=None)(ok)


def with_context(context: dict[str, Any], shape: str = "rest") -> dict[str, Any]:
    event = rest_proxy("GET", "/orders/7") if shape == "rest" else http_proxy("GET", "/orders/7")
    event["requestContext"]["authorizer"] = context if shape == "rest" else {"lambda": context}
    return event


@pytest.mark.parametrize(
    "exp",
    ["", " 4000000000", "4000000000 ", "+4000000000", "4e9", "٤٠٠٠٠٠٠٠٠٠", "\uff14" + "\uff10" * 9,
     "4000000000.0", "1" * 17, 4_000_000_000, ["4000000000"], True],
)  # fmt: skip
def test_a_malformed_context_expiry_is_refused_never_taken_as_far_future(exp: Any) -> None:
    context = forged_context("ann")
    context["secauth_exp"] = exp
    for shape in ("rest", "http"):
        assert status(trusting(), with_context(context, shape)) == 401


@pytest.mark.parametrize(
    "roles",
    ['{"0": "admin"}', '"admin"', "null", '["admin", 1]', '[["admin"]]', "NaN", "[admin]",
     '["admin"', ["admin"], {"0": "admin"}],
)  # fmt: skip
def test_a_roles_value_that_is_no_json_list_of_strings_is_refused(roles: Any) -> None:
    context = forged_context("ann")
    context["secauth_roles"] = roles
    guard = trusting()
    for shape in ("rest", "http"):
        assert status(guard, with_context(context, shape)) == 401
        assert status(guard, with_context(context, shape)) == 401  # and again: not memoized


@pytest.mark.parametrize("field", ["secauth_roles", "secauth_scopes", "secauth_groups"])
def test_a_deeply_nested_list_in_a_context_is_a_401_not_a_500(field: str) -> None:
    context = forged_context("ann")
    context[field] = "[" * 100_000 + "]" * 100_000
    assert status(trusting(), with_context(context)) == 401


def test_a_memoized_context_is_not_reused_for_one_differing_in_any_field() -> None:
    guard = Guard(routes=Routes({"GET /orders/7": authenticated()}), decision_log=None)
    seen: list[Principal] = []
    handler = guard(lambda event, context, principal: seen.append(principal) or {"statusCode": 200})
    base = Principal("ann", tenant="acme", roles={"viewer"}, issuer=ISS,
                     claims={"exp": 4_000_000_000}).to_context()  # fmt: skip
    assert status(handler, with_context(base)) == 200
    for field, value in (("secauth_roles", '["admin"]'), ("secauth_tenant", "globex"),
                         ("secauth_issuer", OTHER_ISS), ("secauth_principal", "bob")):  # fmt: skip
        assert status(handler, with_context({**base, field: value})) == 200
    assert [p.id for p in seen] == ["ann", "ann", "ann", "ann", "bob"]
    assert seen[0].roles == {"viewer"}
    assert seen[1].roles == {"admin"}
    assert seen[2].tenant == "globex"
    assert seen[3].issuer == OTHER_ISS
    # a memoized context past its expiry is still refused (expiry read per request)
    expired = {**base, "secauth_exp": str(int(time.time()) - 1)}
    assert status(handler, with_context(expired)) == 401


def test_a_http_api_context_outside_lambda_is_not_trusted() -> None:
    """HTTP APIs put a Lambda authorizer's context under ``authorizer.lambda``; secauth_*
    keys beside it (where a JWT or IAM authorizer's fields sit) are no secauth context."""
    event = http_proxy("GET", "/orders/7")
    event["requestContext"]["authorizer"] = {**forged_context("root"), "lambda": {}}
    assert reason(trusting(), event) == "missing authorizer context"
    event["requestContext"]["authorizer"] = {"jwt": {"claims": forged_context("root")}}
    assert reason(trusting(), event) == "missing authorizer context"


def test_a_guard_that_verifies_refuses_a_context_naming_another_issuer_or_subject() -> None:
    check = verifier(revocations())
    guard = Guard(check, routes=ROUTES, trust_authorizer=True, decision_log=None)(ok)
    token = jwt("ann")
    for context in (
        Principal("ann", issuer=OTHER_ISS, claims={"exp": 4_000_000_000}).to_context(),
        Principal("root", issuer=ISS, claims={"exp": 4_000_000_000}).to_context(),
        Principal("ann", tenant="acme", issuer=ISS, claims={"exp": 4_000_000_000}).to_context(),
    ):
        event = rest_proxy("GET", "/orders/7", token=token)
        event["requestContext"]["authorizer"] = {"principalId": context["secauth_principal"], **context}
        assert status(guard, event) == 401
