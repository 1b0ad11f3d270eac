"""Cognito done right (issue 14, part 1), against a Cognito-shaped issuer on loopback.

``LocalCognito`` mints tokens whose ``iss`` is the pool's real Cognito issuer (both
formats, the home Region and a replica) and serves each issuer's JWKS from its own
``LocalIssuer``; the verifier fetches each issuer's keys for real, over loopback.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from guard_events import rest_v1

from secauth.access import Routes, roles
from secauth.authorizer import Authorizer
from secauth.cognito import CognitoVerifier, cognito_issuer
from secauth.errors import ConfigurationError, Forbidden, Reason, SecAuthError
from secauth.guard import Guard
from secauth.principal import ClaimMapper
from secauth.testing import KeyPair
from secauth.testing_cognito import LocalCognito
from secauth.verifier import JwtVerifier

POOL = "eu-west-1_LocalPool1"
REPLICA = "eu-central-1"
ROUTES = Routes({"GET /users/{id}": roles("member", "admin"), "DELETE /users/{id}": roles("admin")})
ARN = "arn:aws:execute-api:eu-west-1:123456789012:api1/prod/{}/users/42"


@pytest.fixture(scope="module")
def pool() -> Iterator[LocalCognito]:
    with LocalCognito(POOL, client_id="app-client", regions=[REPLICA]) as local:
        yield local


def verifier_for(pool: LocalCognito, token_use: str = "access", **options: Any) -> CognitoVerifier:
    return JwtVerifier.cognito(
        user_pool_id=POOL,
        client_id="app-client",
        token_use=token_use,  # type: ignore[arg-type]
        jwks_uris=pool.jwks_uris,  # also the replica's: used only when it is accepted
        allow_http=True,
        **options,
    )


def reason(verifier: Any, token: str) -> Reason:
    with pytest.raises(SecAuthError) as exc:
        verifier.verify(token)
    return exc.value.reason


def fetches(pool: LocalCognito) -> dict[str, int]:
    return {issuer: server.fetches for issuer, server in pool.servers.items()}


# --- issuers -------------------------------------------------------------------------------


def test_both_issuer_formats_are_accepted_each_with_its_own_lazy_key_set(
    pool: LocalCognito,
) -> None:
    """Default: both formats; nothing is fetched before a token of an issuer arrives, and
    then only that issuer's JWKS."""
    verifier = verifier_for(pool)
    original = pool.issuer(issuer_format="original")
    updated = pool.issuer(issuer_format="updated")
    assert verifier.issuers == (original, updated)
    assert verifier.issuer == original
    before = fetches(pool)

    claims = verifier.verify(pool.access_token(username="ann", groups=["admin"]))
    assert (claims["iss"], claims["username"], claims["cognito:groups"]) == (
        original,
        "ann",
        ["admin"],
    )
    after_original = fetches(pool)
    assert after_original[original] == before[original] + 1
    assert after_original[updated] == before[updated]

    claims = asyncio.run(verifier.verify_async(pool.access_token(issuer_format="updated")))
    assert claims["iss"] == updated == "https://issuer-cognito-idp.eu-west-1.amazonaws.com/" + POOL
    assert fetches(pool)[updated] == before[updated] + 1


def test_one_issuer_format_refuses_the_other(pool: LocalCognito) -> None:
    only_original = verifier_for(pool, issuer_format="original")
    only_updated = verifier_for(pool, issuer_format="updated")
    original, updated = pool.access_token(), pool.access_token(issuer_format="updated")
    assert only_original.verify(original)["token_use"] == "access"
    assert reason(only_original, updated) is Reason.INVALID_ISSUER
    assert only_updated.verify(updated)["token_use"] == "access"
    assert reason(only_updated, original) is Reason.INVALID_ISSUER
    assert only_updated.issuers == only_updated.issuers[:1] == (only_updated.issuer,)


def test_a_replica_region_is_accepted_only_when_configured(pool: LocalCognito) -> None:
    from_replica = pool.access_token(region=REPLICA)
    from_replica_updated = pool.access_token(region=REPLICA, issuer_format="updated")
    assert json.loads(_payload(from_replica))["iss"] == (
        f"https://cognito-idp.{REPLICA}.amazonaws.com/{POOL}"
    )
    home_only = verifier_for(pool)
    assert reason(home_only, from_replica) is Reason.INVALID_ISSUER
    assert reason(home_only, from_replica_updated) is Reason.INVALID_ISSUER

    replicated = verifier_for(pool, additional_regions=[REPLICA])
    assert len(replicated.issuers) == 4
    before = fetches(pool)
    assert replicated.verify(from_replica)["iss"].startswith(f"https://cognito-idp.{REPLICA}.")
    assert replicated.verify(from_replica_updated)["iss"].startswith(
        f"https://issuer-cognito-idp.{REPLICA}."
    )
    after = fetches(pool)
    assert after[pool.issuer(REPLICA)] == before[pool.issuer(REPLICA)] + 1
    assert after[pool.issuer()] == before[pool.issuer()]  # the home key set was not needed


def test_hydrate_loads_every_issuers_keys(pool: LocalCognito) -> None:
    verifier = verifier_for(pool, additional_regions=[REPLICA])
    before = fetches(pool)
    assert verifier.hydrate(strict=True)
    after = fetches(pool)
    assert {issuer: after[issuer] - before[issuer] for issuer in after} == dict.fromkeys(after, 1)
    for token in (pool.access_token(), pool.access_token(region=REPLICA, issuer_format="updated")):
        verifier.verify(token)
    assert fetches(pool) == after  # no further fetch


def test_another_pool_is_refused(pool: LocalCognito) -> None:
    """Only the exact pool id: another pool, a case variant, a pool of another Region
    under this Region's host, and a key of another issuer of the same pool all fail."""
    verifier = verifier_for(pool, additional_regions=[REPLICA])
    with LocalCognito("eu-west-1_OtherPool", client_id="app-client") as other:
        assert reason(verifier, other.access_token()) is Reason.INVALID_ISSUER
        assert reason(verifier, other.access_token(issuer_format="updated")) is (
            Reason.INVALID_ISSUER
        )
    for iss in (
        pool.issuer().replace("LocalPool1", "localpool1"),
        pool.issuer() + "/",
        pool.issuer().replace("amazonaws.com", "amazonaws.com.cn"),
        f"http://cognito-idp.eu-west-1.amazonaws.com/{POOL}",
    ):
        assert reason(verifier, pool.access_token(iss=iss)) is Reason.INVALID_ISSUER
    # Signed with the updated issuer's key but naming the original issuer: that issuer's
    # own key set decides, and it does not hold this key.
    updated_key = pool.servers[pool.issuer(issuer_format="updated")].key
    original_kid = pool.servers[pool.issuer()].key.kid
    claims = json.loads(_payload(pool.access_token()))
    forged = updated_key.sign(claims, headers={"kid": original_kid})
    assert reason(verifier, forged) is Reason.INVALID_SIGNATURE


def test_client_and_token_use_stay_exact(pool: LocalCognito) -> None:
    access, ident = verifier_for(pool), verifier_for(pool, "id")
    assert ident.verify(pool.id_token(email="ann@example.com"))["email"] == "ann@example.com"
    assert ident.audience == frozenset({"app-client"})
    assert reason(ident, pool.id_token(client_id="other")) is Reason.INVALID_AUDIENCE
    assert reason(ident, pool.access_token()) is Reason.INVALID_AUDIENCE  # no aud
    assert reason(access, pool.id_token()) is Reason.INVALID_AUDIENCE  # no client_id
    assert reason(access, pool.access_token(client_id="other")) is Reason.INVALID_AUDIENCE
    assert reason(access, pool.access_token(token_use="id")) is Reason.INVALID_CLAIMS
    assert reason(ident, pool.id_token(issuer_format="updated", token_use="access")) is (
        Reason.INVALID_CLAIMS
    )


def test_a_jwks_for_every_issuer_and_partitions() -> None:
    """``jwks=`` (bundled keys, tests) serves both issuer formats of the pool's Region, not
    replica Regions (each signs with its own keys); China uses amazonaws.com.cn."""
    pair = KeyPair.generate("RS256", kid="k")
    with pytest.raises(ConfigurationError, match="additional_regions"):
        JwtVerifier.cognito(user_pool_id="cn-north-1_Xyz9", client_id="c", token_use="access",
                            additional_regions=["cn-northwest-1"],
                            jwks={"keys": [pair.public_jwk]})  # fmt: skip
    verifier = JwtVerifier.cognito(
        user_pool_id="cn-north-1_Xyz9",
        client_id="c",
        token_use="access",
        jwks={"keys": [pair.public_jwk]},
    )
    assert verifier.issuers == tuple(
        cognito_issuer("cn-north-1_Xyz9", "cn-north-1", form) for form in ("original", "updated")
    )
    replicated = JwtVerifier.cognito(user_pool_id="cn-north-1_Xyz9", client_id="c",
                                     token_use="access", additional_regions=["cn-northwest-1"])  # fmt: skip
    assert all(".amazonaws.com.cn/" in issuer for issuer in replicated.issuers)
    for issuer in verifier.issuers:
        body = {"iss": issuer, "client_id": "c", "token_use": "access", "sub": "u", "exp": 4e9}
        assert verifier.verify(pair.sign(body))["iss"] == issuer
    gov = JwtVerifier.cognito(user_pool_id="us-gov-west-1_A1", client_id="c", token_use="id")
    assert gov.keys.url == (  # type: ignore[attr-defined]
        "https://cognito-idp.us-gov-west-1.amazonaws.com/us-gov-west-1_A1/.well-known/jwks.json"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"issuer_format": "classic"}, "'both', 'original' or 'updated'"),
        ({"additional_regions": "eu-central-1"}, "a list of Regions"),
        ({"additional_regions": ["eu-west-1"]}, "given twice"),
        ({"additional_regions": ["eu-central-1", "eu-central-1"]}, "given twice"),
        ({"additional_regions": ["EU-central-1"]}, "not an AWS Region"),
        ({"additional_regions": ["cn-north-1"]}, "another partition"),
        ({"additional_regions": ["us-gov-west-1"]}, "another partition"),
        ({"jwks_uri": "https://example.com/jwks.json"}, "jwks_uris={issuer: url}"),
        ({"jwks_uris": {"https://cognito-idp.eu-west-1.amazonaws.com/x": "u"}}, "names none"),
        ({"jwks_uris": {cognito_issuer(POOL, "eu-west-1"): "u"}, "jwks": {"keys": []}}, "not both"),
    ],
)
def test_configuration_errors_say_what_to_change(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as exc:
        JwtVerifier.cognito(user_pool_id=POOL, client_id="c", token_use="access", **options)
    assert message in str(exc.value)


# --- the claim mapping ---------------------------------------------------------------------


def token_event(token: str, method: str) -> dict[str, Any]:
    return {
        "type": "TOKEN",
        "authorizationToken": f"Bearer {token}",
        "methodArn": ARN.format(method),
    }


def effect(response: dict[str, Any]) -> str:
    statements = response["policyDocument"]["Statement"]
    allowed = [s for s in statements if s["Effect"] == "Allow"]
    return "Allow" if allowed else "Deny"


def test_authorizer_maps_cognito_groups_by_default(pool: LocalCognito) -> None:
    """A Cognito verifier brings its claim mapping: the admin group may DELETE, with no
    ``claims=``; its roles reach the context."""
    authorizer = Authorizer(verifier_for(pool), routes=ROUTES)
    assert authorizer.claims is authorizer.verifier.default_claims  # type: ignore[union-attr]
    admin = pool.access_token(username="ann", groups=["admin"])
    member = pool.access_token(username="bob", groups=["member"])
    allowed = authorizer.handler(token_event(admin, "DELETE"))
    assert effect(allowed) == "Allow"
    assert json.loads(allowed["context"]["secauth_roles"]) == ["admin"]
    assert json.loads(allowed["context"]["secauth_groups"]) == ["admin"]
    assert effect(authorizer.handler(token_event(member, "DELETE"))) == "Deny"
    assert effect(authorizer.handler(token_event(member, "GET"))) == "Allow"


def test_explicit_claims_win_in_the_authorizer(pool: LocalCognito) -> None:
    """``claims=`` overrides the verifier's default: the plain mapper ignores cognito:groups."""
    authorizer = Authorizer(verifier_for(pool), routes=ROUTES, claims=ClaimMapper())
    denied = authorizer.handler(token_event(pool.access_token(groups=["admin"]), "DELETE"))
    assert effect(denied) == "Deny"
    renamed = ClaimMapper.cognito(groups_are_roles=False, role_claims=("custom:roles",))
    authorizer = Authorizer(verifier_for(pool), routes=ROUTES, claims=renamed)
    token = pool.access_token(groups=["member"], **{"custom:roles": ["admin"]})
    assert effect(authorizer.handler(token_event(token, "DELETE"))) == "Allow"


def test_guard_maps_cognito_groups_by_default_and_claims_win(pool: LocalCognito) -> None:
    guard = Guard(verifier_for(pool, "id"), routes=ROUTES)
    admin = pool.id_token(username="ann", groups=["admin"])
    _, principal = guard.check(rest_v1("DELETE", "/users/42", authorization=f"Bearer {admin}"))
    assert principal.roles == principal.groups == frozenset({"admin"})
    member = pool.id_token(groups=["member"])
    with pytest.raises(Forbidden):
        guard.check(rest_v1("DELETE", "/users/42", authorization=f"Bearer {member}"))
    plain = Guard(verifier_for(pool, "id"), routes=ROUTES, claims=ClaimMapper())
    with pytest.raises(Forbidden):
        plain.check(rest_v1("DELETE", "/users/42", authorization=f"Bearer {admin}"))


def test_plain_verifiers_and_mixed_multi_keep_the_plain_mapping(pool: LocalCognito) -> None:
    pair = KeyPair.generate("ES256", kid="k")
    plain = JwtVerifier(issuer="https://idp/", audience="api", jwks={"keys": [pair.public_jwk]})
    assert plain.default_claims is None
    assert type(Authorizer(plain, routes=ROUTES).claims) is ClaimMapper
    cognito = verifier_for(pool)
    mixed = JwtVerifier.multi(plain, cognito)
    assert mixed.default_claims is None
    assert mixed.issuers == ("https://idp/", *cognito.issuers)
    assert mixed.verify(pool.access_token(issuer_format="updated"))["token_use"] == "access"
    with LocalCognito("eu-west-1_OtherPool") as other:
        second = JwtVerifier.cognito(
            user_pool_id=other.user_pool_id,
            client_id=other.client_id,
            token_use="access",
            jwks_uris=other.jwks_uris,
            allow_http=True,
        )
        both = JwtVerifier.multi(cognito, second)
        assert both.default_claims is cognito.default_claims  # two pools: groups still map
        guard = Guard(both, routes=ROUTES)
        token = other.access_token(groups=["admin"])
        _, principal = guard.check(rest_v1("DELETE", "/users/42", authorization=f"Bearer {token}"))
        assert principal.has_role("admin")
    chosen = ClaimMapper()
    assert JwtVerifier.multi(cognito, default_claims=chosen).default_claims is chosen


def _payload(token: str) -> str:
    segment = token.split(".")[1]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode()
