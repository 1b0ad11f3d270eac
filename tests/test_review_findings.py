"""Regression tests for the findings of the second pre-release security review.

Each test failed before its fix in ``src/secauth`` and names the fail-open path it closes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from guard_events import AUD, ISS, PAIR, VERIFIER, rest_v1, token

from secauth import Authorizer, Guard, Routes, current_principal, roles, tenant
from secauth.errors import Reason, UnknownKey
from secauth.integrations.powertools import guard_middleware
from secauth.jose import VerificationKey
from secauth.jwks import JwksCache, KeySet
from secauth.testing import KeyPair, LocalIssuer
from secauth.verifier import JwtVerifier

ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/GET/tenants/{tenant}/orders"


# --- the authorizer context: a context callable cannot write secauth's own fields ------------


def _token_event(bearer: str, tenant_name: str) -> dict[str, Any]:
    return {
        "type": "TOKEN",
        "authorizationToken": f"Bearer {bearer}",
        "methodArn": ARN.format(tenant=tenant_name),
    }


def test_context_callable_cannot_forge_the_tenant_the_guard_trusts() -> None:
    """A token claim forwarded by a ``context`` callable must not become the principal's
    tenant in the function: the mapper gives this caller no tenant, so the guard behind
    the authorizer must refuse every tenant path (before: ``secauth_tenant`` from the
    claim filled the gap that ``to_context`` leaves for a principal without a tenant)."""
    authorizer = Authorizer(
        VERIFIER,
        # Forward the caller's string claims to the backend (a common convenience).
        context=lambda p: {k: v for k, v in p.claims.items() if isinstance(v, str)},
    )
    forged = token("mallory", secauth_tenant="victim")
    response = authorizer.handler(_token_event(forged, "victim"), None)
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    context = response["context"]
    assert "secauth_tenant" not in context
    assert context["secauth_principal"] == "mallory"

    guard = Guard(
        routes=Routes({"GET /tenants/{tid}/orders": tenant(path="tid")}), decision_log=None,
        problem_type_base="https://errors.example.com/problems/",  # the reason in `type`
    )

    @guard
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        return {"statusCode": 200, "body": current_principal().tenant or ""}

    event = rest_v1("GET", "/tenants/victim/orders", authorizer={**context, "principalId": "x"})
    answer = handler(event, None)
    assert answer["statusCode"] == 403
    assert json.loads(answer["body"])["type"].endswith("/tenant_mismatch")


def test_context_callable_values_other_than_secauth_fields_still_reach_the_backend() -> None:
    """The fix drops only secauth's reserved names; the callable's own values stay."""
    authorizer = Authorizer(VERIFIER, context=lambda p: {"plan": "gold", "secauth_roles": "[]"})
    response = authorizer.handler(_token_event(token("ann", roles=["admin"]), "acme"), None)
    assert response["context"]["plan"] == "gold"
    assert response["context"]["secauth_roles"] == '["admin"]'


# --- the verified-token cache and a key rotation that lands during a verification -----------


class _RotatingKeys:
    """A key source whose set changes while a lookup is in flight: ``keys_for`` hands out
    the key, then (as a refresh in another thread would) the key is withdrawn and the
    generation moves on, before the verifier reads the generation."""

    def __init__(self, pair: KeyPair) -> None:
        self._set = KeySet.from_jwks({"keys": [pair.public_jwk]})
        self.generation = 1
        self.rotate_on_next_lookup = True

    def keys_for(self, kid: str | None) -> tuple[VerificationKey, ...]:
        found = self._set.keys_for(kid)
        if self.rotate_on_next_lookup:
            self.rotate_on_next_lookup = False
            self._set = KeySet(())  # the key is revoked by the refresh that raced us
            self.generation += 1
        if not found:
            raise UnknownKey(detail={"kid": kid})
        return found

    async def keys_for_async(self, kid: str | None) -> tuple[VerificationKey, ...]:
        return self.keys_for(kid)

    def hydrate(self, *, strict: bool = False) -> bool:
        return True


def test_a_token_verified_against_a_key_revoked_meanwhile_is_not_cached_as_current() -> None:
    """The cache entry must carry the generation of the key set the token was checked
    against. Before, the generation was read after the lookup, so a refresh that removed
    the key in between made the entry look current and the token kept passing."""
    keys = _RotatingKeys(PAIR)
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks=keys)
    minted = token("ann")
    assert verifier.verify(minted)["sub"] == "ann"  # checked against the set of that moment
    assert verifier.revalidate(minted) is False
    with pytest.raises(UnknownKey) as exc:
        verifier.verify(minted)
    assert exc.value.reason is Reason.UNKNOWN_KEY


# --- JWKS documents: one unusable key is skipped, never a foreign exception ------------------


@pytest.mark.parametrize("alg", [["ES256"], {"a": 1}, 256])
def test_a_jwks_key_with_a_non_string_alg_is_skipped(alg: object) -> None:
    """``alg`` of the wrong JSON type: that key is skipped with a reason, the others import
    (before: ``TypeError: unhashable type`` escaped ``KeySet.from_jwks`` for a list)."""
    good = KeyPair.generate("ES256", kid="good")
    bad = {**KeyPair.generate("ES256", kid="bad").public_jwk, "alg": alg}
    keys = KeySet.from_jwks({"keys": [bad, good.public_jwk]})
    assert [k.kid for k in keys.keys] == ["good"]
    assert len(keys.skipped) == 1
    assert "kid 'bad'" in keys.skipped[0]


def test_an_idp_publishing_a_key_with_a_list_alg_still_verifies_with_its_good_keys() -> None:
    """End to end over loopback: the IdP's JWKS holds one malformed key beside the signing
    key. Before: every lookup raised TypeError inside the cache (no backoff, a fetch per
    request) and the verifier answered ``malformed_token`` for a valid token."""
    with LocalIssuer(algs=("ES256",)) as idp:
        extra = {**KeyPair.generate("ES256", kid="odd").public_jwk, "alg": ["ES256"]}
        idp.jwks_override = {"keys": [extra, idp.key.public_jwk]}
        cache = JwksCache(idp.jwks_uri, allow_http=True)
        assert cache.hydrate() is True
        verifier = JwtVerifier(issuer=idp.issuer, audience="api", jwks=cache)
        assert verifier.verify(idp.token(sub="ann", aud="api"))["sub"] == "ann"
        assert idp.fetches == 1


# --- Powertools: a per-route guard with its own routes under a global guard -------------------


def _app(route_guard: Guard) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()
    # A problem_type_base puts the reason in each problem's `type` for these checks.
    outer = Guard(VERIFIER, decision_log=None, problem_type_base="https://errors.example.com/p/")
    app.use(middlewares=[guard_middleware(outer)])

    @app.delete("/orders/<order_id>", middlewares=[guard_middleware(route_guard)])
    def delete_order(order_id: str) -> dict[str, str]:
        return {"deleted": order_id}

    return app


def test_per_route_guard_routes_apply_under_a_global_guard() -> None:
    """A per-route guard built with its own route table must enforce it under a global
    guard (before: only its ``rule`` and rate limit ran; its routes were silently skipped,
    so any valid token could call an admin-only route)."""
    route_guard = Guard(
        VERIFIER, routes=Routes({"DELETE /orders/{id}": roles("admin")}), decision_log=None
    )
    app = _app(route_guard)
    reader = f"Bearer {token('bob', roles=['reader'])}"
    denied = app.resolve(rest_v1("DELETE", "/orders/7", authorization=reader), None)
    assert denied["statusCode"] == 403
    assert json.loads(denied["body"])["type"].endswith("/forbidden")
    admin = f"Bearer {token('alice', roles=['admin'])}"
    allowed = app.resolve(rest_v1("DELETE", "/orders/7", authorization=admin), None)
    assert allowed["statusCode"] == 200


def test_per_route_guard_with_another_verifier_checks_the_token_itself() -> None:
    """A per-route guard with a stricter verifier (another audience) under a global guard
    must verify the token with its own verifier (before: the global guard's principal was
    taken as is, so a token for the wrong audience reached the route)."""
    strict = JwtVerifier(issuer=ISS, audience="admin-api", jwks={"keys": [PAIR.public_jwk]})
    app = _app(Guard(strict, decision_log=None))
    wrong_audience = f"Bearer {token('bob')}"
    denied = app.resolve(rest_v1("DELETE", "/orders/7", authorization=wrong_audience), None)
    assert denied["statusCode"] == 401
    assert json.loads(denied["body"])["type"].endswith("/invalid_audience")
    both = f"Bearer {token('bob', aud=[AUD, 'admin-api'])}"
    allowed = app.resolve(rest_v1("DELETE", "/orders/7", authorization=both), None)
    assert allowed["statusCode"] == 200


def test_an_unexpected_error_while_reading_keys_counts_as_a_failed_fetch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Any exception while importing a fetched key set is a failed fetch: backoff applies,
    lookups answer keys_unavailable, and nothing foreign escapes."""
    from secauth import jwks as jwks_module
    from secauth.errors import KeysUnavailable
    from secauth.jwks import JwksCache
    from secauth.testing import LocalIssuer

    def broken(document: object) -> object:
        raise TypeError("something odd in the document")

    with LocalIssuer() as idp:
        cache = JwksCache(idp.jwks_uri, allow_http=True)
        monkeypatch.setattr(jwks_module.KeySet, "from_jwks", staticmethod(broken))
        assert cache.hydrate() is False
        with pytest.raises(KeysUnavailable):
            cache.keys_for(idp.key.kid)
        assert idp.fetches == 1  # backing off: the second lookup did not fetch again
        assert cache.stats().failures == 1
