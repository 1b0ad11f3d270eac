"""Review 101: platform realities, attacked through the real entry points.

Resolved (the test asserts it): the one finding. A WebSocket authorizer event is decided on its
method ARN's route (``$connect``, what the Allow names), and one whose ``routeKey`` names another
route is refused as made up (``targets.target_of``).

Attacked: ALB ``x-amzn-oidc-data`` tokens (padding stripped, added or misplaced, standard
base64, header claims left out, a signer of another account, a forged key under the real
kid and a real-looking kid the endpoint does not know, a payload ``iss`` or ``exp`` that
disagrees with the header, forged ``x-amzn-oidc-identity`` / ``-accesstoken`` headers)
against keys served by ``LocalAlb`` on loopback; Cognito user pools (ID vs access tokens by
``token_use``, ``client_id`` vs ``aud``, another app client, another pool of the same
Region with its own loopback JWKS, another pool's key under our ``iss``, issuer spellings,
``cognito:groups`` mapped to roles through ``Authorizer.handler``, IAM-role claims that
are not roles); several issuers (issuer A's key under issuer B's kid, ``iss`` prefixes and
extensions, Cognito mapping leaking onto another IdP); WebSocket ``$connect`` authorizers
and Guard-wrapped integrations (query vs ``Sec-WebSocket-Protocol``, marker case,
``$connect`` spelled otherwise, CONNECT without a route key, MESSAGE contexts).

Held: every ALB shape and claim trick (no fetch before ``signer`` and shape pass; the
header issuer, never the payload's, names the principal); every Cognito confusion above;
issuer exact-match and kid scoping per issuer; the Cognito claim mapping does not spill
onto another IdP's tokens; WebSocket token sources refuse misplaced, repeated and
misspelled tokens; MESSAGE contexts keep their roles and expiry.

Findings:
* LOW: a WebSocket ``$connect`` REQUEST authorizer decides on ``requestContext.routeKey``
  (``secauth.targets.target_of``), yet its Allow names the ``methodArn``'s ``$connect``:
  an event whose route key disagrees with its ARN (a direct or replayed invoke) is judged
  by another route's rule (``$default`` / ``sendmessage``) and allowed on ``$connect``.
  API Gateway itself always sends ``$connect``, hence low. Integrations refuse the same
  disagreement (``events._route_fits_event``); the authorizer kind does not.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from secauth import Authorizer, Guard, JwtVerifier, Principal, Routes, authenticated, public, roles
from secauth.alb import AlbVerifier
from secauth.errors import (
    AmbiguousCredentials,
    ConfigurationError,
    InvalidAudience,
    InvalidClaims,
    InvalidIssuer,
    InvalidSignature,
    MalformedToken,
    MissingToken,
    SecAuthError,
    TokenExpired,
    UnknownKey,
)
from secauth.events import Request
from secauth.issuers import issuer_key
from secauth.jwks import JwksCache
from secauth.policy import Unauthorized
from secauth.testing import KeyPair, LocalIssuer
from secauth.testing_alb import LocalAlb
from secauth.testing_cognito import LocalCognito
from secauth.testing_events import alb, token_authorizer, websocket_connect, websocket_message
from secauth.token_sources import TokenSource, read_token

FAR = 4_000_000_000


def refused(verifier: Any, token: Any) -> SecAuthError:
    with pytest.raises(SecAuthError) as caught:
        verifier.verify(token)
    assert caught.value.status == 401, caught.value
    return caught.value


def principal_of(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": json.dumps([principal.id, principal.issuer])}


# -- ALB ------------------------------------------------------------------------------------


@pytest.fixture
def local_alb() -> Iterator[LocalAlb]:
    with LocalAlb() as server:
        yield server


def alb_verifier(server: LocalAlb) -> AlbVerifier:
    return AlbVerifier(alb_arn=server.arn, issuer=server.issuer, client_id=server.client_id,
                       key_endpoint=server.key_endpoint, allow_http=True)  # fmt: skip


def alb_guard(server: LocalAlb) -> Any:
    verifier = alb_verifier(server)
    guard = Guard(verifier, token_sources=[TokenSource.header(verifier.header)],
                  routes=Routes({"GET /me": authenticated()}), decision_log=None)  # fmt: skip
    return guard(principal_of)


def padded_token(server: LocalAlb, **claims: Any) -> str:
    """An ALB token whose payload segment carries ``=`` padding (the claim length varies)."""
    for filler in range(8):
        token = server.token(sub="alice", pad="x" * filler, **claims)
        if token.split(".")[1].endswith("="):
            return token
    raise AssertionError("no padded payload segment")


def test_alb_genuine_token_through_guard_names_the_header_issuer(local_alb: LocalAlb) -> None:
    handler = alb_guard(local_alb)
    token = local_alb.token(sub="alice", iss="https://evil.example/")
    answer = handler(alb("GET", "/me", headers={"x-amzn-oidc-data": token}), None)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == ["alice", local_alb.issuer]


def test_alb_padding_stripped_breaks_the_signature_not_the_check(local_alb: LocalAlb) -> None:
    verifier = alb_verifier(local_alb)
    token = padded_token(local_alb)
    assert verifier.verify(token)["sub"] == "alice"
    stripped = ".".join(part.rstrip("=") for part in token.split("."))
    assert stripped != token
    assert isinstance(refused(verifier, stripped), InvalidSignature)
    with pytest.raises(InvalidSignature):
        asyncio.run(verifier.verify_async(stripped))


@pytest.mark.parametrize(
    "spoil",
    [
        lambda t: t.replace("=", "", 1) if "=" in t.split(".")[1] else t + "=",
        lambda t: t.replace(".", "=.", 1),  # a pad where the header needs none (or one more)
        lambda t: t.split(".")[0] + "." + t.split(".")[1].rstrip("=") + "===." + t.split(".")[2],
        lambda t: t[:10] + "=" + t[10:],  # a pad inside a segment
        lambda t: t.replace("-", "+").replace("_", "/") if ("-" in t or "_" in t) else t + "+",
        lambda t: t + ".",
        lambda t: t.replace(".", "..", 1),
    ],
)
def test_alb_padding_and_alphabet_variants_are_malformed_without_a_fetch(
    local_alb: LocalAlb, spoil: Any
) -> None:
    verifier = alb_verifier(local_alb)
    token = padded_token(local_alb)
    spoiled = spoil(token)
    assert spoiled != token
    error = refused(verifier, spoiled)
    assert isinstance(error, MalformedToken | InvalidSignature)
    if isinstance(error, MalformedToken):
        assert local_alb.fetches == 0


@pytest.mark.parametrize(
    ("drop", "error"),
    [("exp", InvalidClaims), ("iss", InvalidIssuer), ("client", InvalidAudience)],
)
def test_alb_header_claims_left_out_are_refused(
    local_alb: LocalAlb, drop: str, error: type[SecAuthError]
) -> None:
    in_payload = (
        FAR if drop == "exp" else {"iss": local_alb.issuer, "client": local_alb.client_id}[drop]
    )
    token = local_alb.token(sub="alice", headers={drop: None}, **{drop: in_payload})
    assert isinstance(refused(alb_verifier(local_alb), token), error)


def test_alb_signer_of_another_account_in_the_region_is_refused_before_a_fetch(
    local_alb: LocalAlb,
) -> None:
    other = local_alb.arn.replace("123456789012", "210987654321")
    token = local_alb.token(sub="alice", headers={"signer": other})
    error = refused(alb_verifier(local_alb), token)
    assert isinstance(error, InvalidClaims)
    assert error.detail["claim"] == "signer"
    assert local_alb.fetches == 0


def test_alb_forged_key_under_the_real_kid_or_an_unknown_kid_is_refused(
    local_alb: LocalAlb,
) -> None:
    verifier = alb_verifier(local_alb)
    real = local_alb.kid
    assert verifier.verify(local_alb.token(sub="alice"))["sub"] == "alice"
    with LocalAlb(
        arn=local_alb.arn, issuer=local_alb.issuer, client_id=local_alb.client_id
    ) as forger:
        forger.rotate(real)  # the attacker's own key, labelled with the real kid
        assert isinstance(refused(verifier, forger.token(sub="admin")), InvalidSignature)
        other_kid = forger.rotate()  # a kid the Region's endpoint does not know
        error = refused(verifier, forger.token(sub="admin", kid=other_kid))
        assert isinstance(error, UnknownKey)
        upper = forger.rotate(real.upper())  # the real kid respelled: another key id
        assert isinstance(refused(verifier, forger.token(sub="admin", kid=upper)), UnknownKey)
    assert forger.fetches == 0  # the verifier asked only its own endpoint


@pytest.mark.parametrize(("name", "offset"), [("exp", -60), ("nbf", 3600), ("iat", 7200)])
def test_alb_payload_time_claims_that_disagree_with_the_header_are_refused(
    local_alb: LocalAlb, name: str, offset: int
) -> None:
    import time

    token = local_alb.token(sub="alice", **{name: int(time.time()) + offset})
    refused(alb_verifier(local_alb), token)


def test_alb_forged_identity_and_access_token_headers_are_no_credential(
    local_alb: LocalAlb,
) -> None:
    """Reached another way (no authenticate rule), a client sends the other two ALB headers
    itself: an unsigned access token and a bare ``sub``. Nothing of them is read."""
    handler = alb_guard(local_alb)
    unsigned = (
        ".".join(
            base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
            for part in ({"alg": "none"}, {"sub": "admin"})
        )
        + "."
    )
    headers = {"x-amzn-oidc-identity": "admin", "x-amzn-oidc-accesstoken": unsigned,
               "authorization": f"Bearer {unsigned}"}  # fmt: skip
    for multi_value in (False, True):
        event = alb("GET", "/me", headers=headers, multi_value=multi_value)
        answer = handler(event, None)
        assert answer["statusCode"] == 401
        assert "admin" not in json.dumps(answer)
    # an oidc-data header carrying the unsigned token is refused too
    answer = handler(alb("GET", "/me", headers={"x-amzn-oidc-data": unsigned}), None)
    assert answer["statusCode"] == 401
    assert local_alb.fetches == 0


def test_alb_header_token_is_read_only_from_its_own_header(local_alb: LocalAlb) -> None:
    """A genuine ALB token under ``Authorization`` (or a query parameter) is not the
    ``x-amzn-oidc-data`` the Guard reads: no header, no principal."""
    handler = alb_guard(local_alb)
    token = local_alb.token(sub="alice")
    for sent in ({"headers": {"authorization": f"Bearer {token}"}},
                 {"query": {"x-amzn-oidc-data": token}}):  # fmt: skip
        assert handler(alb("GET", "/me", **sent), None)["statusCode"] == 401


# -- Cognito ----------------------------------------------------------------------------------


@pytest.fixture
def pools() -> Iterator[tuple[LocalCognito, LocalCognito]]:
    with (
        LocalCognito("eu-west-1_PoolAaa1", client_id="clienta") as a,
        LocalCognito("eu-west-1_PoolBbb2", client_id="clientb") as b,
    ):
        yield a, b


def cognito(pool: LocalCognito, token_use: str = "access", **options: Any) -> Any:
    options.setdefault("client_id", pool.client_id)
    return JwtVerifier.cognito(user_pool_id=pool.user_pool_id, token_use=token_use,  # type: ignore[arg-type]
                               jwks_uris=pool.jwks_uris, allow_http=True, **options)  # fmt: skip


def mint(pool: LocalCognito, **claims: Any) -> str:
    """A token signed by the pool's own key under its real issuer, with exactly ``claims``."""
    claims.setdefault("iss", pool.issuer())
    return pool.servers[pool.issuer()].token(**claims)


def fetches(pool: LocalCognito) -> int:
    return sum(server.fetches for server in pool.servers.values())


def test_cognito_id_and_access_tokens_are_not_interchangeable(
    pools: tuple[LocalCognito, LocalCognito],
) -> None:
    a, _ = pools
    access, ident = cognito(a, "access"), cognito(a, "id")
    assert access.verify(a.access_token(username="ann"))["username"] == "ann"
    assert ident.verify(a.id_token(username="ann"))["cognito:username"] == "ann"
    refused(access, a.id_token())
    refused(ident, a.access_token())
    # an ID token carrying client_id too, or an access token carrying aud: token_use still rules
    refused(access, a.id_token(scope="openid", **{"client_id": a.client_id}))
    refused(ident, a.access_token(aud=a.client_id))


def test_cognito_client_id_and_aud_are_read_from_the_right_claim(
    pools: tuple[LocalCognito, LocalCognito],
) -> None:
    a, _ = pools
    access, ident = cognito(a, "access"), cognito(a, "id")
    assert isinstance(refused(access, a.access_token(client_id="otherclient")), InvalidAudience)
    assert isinstance(refused(ident, a.id_token(client_id="otherclient")), InvalidAudience)
    # an access token naming our client in aud only (client_id another app's)
    token = a.access_token(client_id="otherclient", aud=a.client_id)
    assert isinstance(refused(access, token), InvalidAudience)


@pytest.mark.parametrize("token_use", [None, "ACCESS", "access ", ["access"], "id"])
def test_cognito_token_use_compares_exactly(
    pools: tuple[LocalCognito, LocalCognito], token_use: Any
) -> None:
    a, _ = pools
    verifier = cognito(a, "access")
    assert verifier.verify(mint(a, sub="u1", client_id=a.client_id, token_use="access"))
    body = {"sub": "u1", "client_id": a.client_id, "token_use": token_use}
    token = mint(a, **{k: v for k, v in body.items() if v is not None})
    error = refused(verifier, token)
    assert isinstance(error, InvalidClaims)
    assert error.detail["claim"] == "token_use"


def test_cognito_token_of_another_pool_in_the_region_is_refused_without_a_fetch(
    pools: tuple[LocalCognito, LocalCognito],
) -> None:
    a, b = pools
    verifier = cognito(a, "access", client_id=None)  # even with the client check off
    error = refused(verifier, b.access_token(client_id=a.client_id))
    assert isinstance(error, InvalidIssuer)
    assert fetches(a) == fetches(b) == 0


def test_cognito_other_pools_key_under_our_issuer_is_refused(
    pools: tuple[LocalCognito, LocalCognito],
) -> None:
    a, b = pools
    verifier = cognito(a, "access")
    b_server = b.servers[b.issuer()]
    forged = b_server.token(sub="admin", iss=a.issuer(), client_id=a.client_id,
                            token_use="access", **{"cognito:groups": ["admin"]})  # fmt: skip
    # both pools name their key alike (real pools' kids differ): either refusal holds
    assert isinstance(refused(verifier, forged), UnknownKey | InvalidSignature)
    # B's key relabelled with A's kid
    a_kid = a.servers[a.issuer()].keys[0].kid
    relabelled = b_server.keys[0].sign(
        {"sub": "admin", "iss": a.issuer(), "client_id": a.client_id, "token_use": "access",
         "exp": FAR}, headers={"kid": a_kid})  # fmt: skip
    assert isinstance(refused(verifier, relabelled), InvalidSignature)
    assert fetches(b) == 0


@pytest.mark.parametrize(
    "spell",
    [
        lambda i: i + "/",
        lambda i: i.replace("cognito-idp", "Cognito-IDP"),
        lambda i: i.replace("https://", "http://"),
        lambda i: i.replace(".com/", ".com:443/"),
        lambda i: i.replace("eu-west-1.", "eu-west-2."),
        lambda i: i.replace("PoolAaa1", "poolaaa1"),
        lambda i: i.replace(".com/", ".com//"),
        lambda i: i.replace("cognito-idp", "cognito-idp-fips"),
        lambda i: i + "/.well-known/jwks.json",
        lambda i: i.rsplit("/", 1)[0],
    ],
)
def test_cognito_issuer_spellings_are_refused_without_a_fetch(
    pools: tuple[LocalCognito, LocalCognito], spell: Any
) -> None:
    a, _ = pools
    token = a.servers[a.issuer()].token(sub="u1", iss=spell(a.issuer()), client_id=a.client_id,
                                        token_use="access")  # fmt: skip
    assert isinstance(refused(cognito(a, "access"), token), InvalidIssuer)
    assert fetches(a) == 0


def test_cognito_both_issuer_formats_verify_and_share_one_revocation_name(
    pools: tuple[LocalCognito, LocalCognito],
) -> None:
    a, b = pools
    verifier = cognito(a, "access")
    original = verifier.verify(a.access_token())["iss"]
    updated = verifier.verify(a.access_token(issuer_format="updated"))["iss"]
    assert original != updated
    assert issuer_key(original) == issuer_key(updated) == f"cognito:{a.user_pool_id}"
    assert issuer_key(b.issuer()) != issuer_key(original)
    # only the updated format accepted: the original issuer is refused
    only_updated = cognito(a, "access", issuer_format="updated")
    assert isinstance(refused(only_updated, a.access_token()), InvalidIssuer)


def _effect(authorizer: Authorizer, token: str, verb: str = "DELETE") -> str:
    try:
        answer = authorizer.handler(
            token_authorizer(verb, "/users/7", authorization=f"Bearer {token}"), None
        )
    except Unauthorized:
        return "401"
    return str(answer["policyDocument"]["Statement"][0]["Effect"])


def test_cognito_groups_become_roles_exactly_through_the_authorizer(
    pools: tuple[LocalCognito, LocalCognito],
) -> None:
    a, _ = pools
    routes = Routes({"DELETE /users/{id}": roles("admin"), "GET /users/{id}": authenticated()})
    authorizer = Authorizer(cognito(a, "access"), routes=routes, decision_log=None)
    assert _effect(authorizer, a.access_token(groups=["admin"])) == "Allow"
    assert _effect(authorizer, a.access_token(groups=["admin"], issuer_format="updated")) == "Allow"
    for groups in (["Admin"], ["admins"], ["admin "], []):
        assert _effect(authorizer, a.access_token(groups=groups)) == "Deny"
    for value in ("admin", {"admin": True}, [["admin"]]):
        token = mint(a, sub="u1", client_id=a.client_id, token_use="access",
                     **{"cognito:groups": value})  # fmt: skip
        assert authorizer.verifier.verify(token)["cognito:groups"] == value  # the token is good
        assert _effect(authorizer, token) == "401"  # the mapping refuses it


def test_cognito_iam_role_and_custom_claims_are_not_roles(
    pools: tuple[LocalCognito, LocalCognito],
) -> None:
    a, _ = pools
    routes = Routes({"DELETE /users/{id}": roles("admin")})
    authorizer = Authorizer(cognito(a, "id"), routes=routes, decision_log=None)
    for claims in (
        {"cognito:roles": ["admin"]},
        {"cognito:preferred_role": "admin"},
        {"roles": ["admin"]},
        {"custom:roles": "admin"},
        {"groups": ["admin"]},
    ):
        token = mint(a, sub="u1", aud=a.client_id, token_use="id", **claims)
        assert _effect(authorizer, token) == "Deny", claims
    assert _effect(authorizer, a.id_token(groups=["admin"])) == "Allow"


# -- several issuers -------------------------------------------------------------------------

A_ISS, B_ISS = "https://idp.example/tenants/a", "https://idp.example/tenants/ab"
KEY_A = KeyPair.generate("ES256", kid="ka")
KEY_B = KeyPair.generate("ES256", kid="kb")
IMPOSTOR_B = KeyPair.generate("ES256", kid="kb")  # issuer A's signer, B's kid


def two_issuers() -> Any:
    return JwtVerifier.multi(
        JwtVerifier(issuer=A_ISS, audience="api", jwks={"keys": [KEY_A.public_jwk]}),
        JwtVerifier(issuer=B_ISS, audience="api", jwks={"keys": [KEY_B.public_jwk]}),
    )


def claims_of(iss: str, **extra: Any) -> dict[str, Any]:
    return {"iss": iss, "aud": "api", "sub": "admin", "exp": FAR, **extra}


def test_multi_token_of_issuer_a_with_a_kid_of_issuer_b_is_refused() -> None:
    multi = two_issuers()
    assert multi.verify(KEY_A.sign(claims_of(A_ISS)))["iss"] == A_ISS
    assert isinstance(refused(multi, KEY_A.sign(claims_of(B_ISS))), UnknownKey)
    assert isinstance(refused(multi, IMPOSTOR_B.sign(claims_of(B_ISS))), InvalidSignature)
    assert isinstance(
        refused(multi, KEY_A.sign(claims_of(B_ISS), headers={"kid": "kb"})), InvalidSignature
    )
    assert isinstance(refused(multi, KEY_B.sign(claims_of(A_ISS))), UnknownKey)


@pytest.mark.parametrize(
    "iss",
    [
        A_ISS + "/",
        A_ISS + "b/../a",
        A_ISS[:-1],
        "https://idp.example/tenants",
        A_ISS + "?x",
        A_ISS + "#",
        A_ISS.replace("/a", "/A"),
        A_ISS + "bc",
        "https://IDP.example/tenants/a",
    ],
)
def test_multi_issuer_prefixes_and_extensions_pick_no_verifier(iss: str) -> None:
    error = refused(two_issuers(), KEY_A.sign(claims_of(iss)))
    assert isinstance(error, InvalidIssuer)


def test_multi_cognito_mapping_does_not_spill_onto_another_idp() -> None:
    """Combined with a generic IdP, a Cognito pool's mapping is not applied to the other
    IdP's tokens: its ``cognito:groups`` claim grants no role (and the pool's either,
    failing closed), unless the mapping is chosen explicitly."""
    with LocalCognito("eu-west-1_PoolAaa1", client_id="clienta") as pool:
        multi = JwtVerifier.multi(
            cognito(pool, "access"),
            JwtVerifier(issuer=A_ISS, audience="api", jwks={"keys": [KEY_A.public_jwk]}),
        )
        assert multi.default_claims is None
        routes = Routes({"DELETE /users/{id}": roles("admin")})
        authorizer = Authorizer(multi, routes=routes, decision_log=None)
        other = KEY_A.sign(claims_of(A_ISS, **{"cognito:groups": ["admin"]}))
        assert _effect(authorizer, other) == "Deny"
        assert _effect(authorizer, pool.access_token(groups=["admin"])) == "Deny"


def test_multi_issuers_with_jwks_urls_fetch_only_the_named_issuers_keys() -> None:
    with LocalIssuer(algs=("ES256",)) as a, LocalIssuer(algs=("ES256",), issuer_path="/b") as b:
        multi = JwtVerifier.multi(
            JwtVerifier(
                issuer=a.issuer, audience="api", jwks=JwksCache(a.jwks_uri, allow_http=True)
            ),
            JwtVerifier(
                issuer=b.issuer, audience="api", jwks=JwksCache(b.jwks_uri, allow_http=True)
            ),
        )
        # A's key under A's kid, naming B: only B's keys are asked, and do not verify
        forged = a.key.sign({"iss": b.issuer, "aud": "api", "exp": FAR, "sub": "root"})
        assert isinstance(refused(multi, forged), InvalidSignature)
        assert (a.fetches, b.fetches) == (0, 1)


# -- WebSocket ---------------------------------------------------------------------------------

WS_ISS, WS_AUD = "https://idp.example/ws", "chat"
WS_KEY = KeyPair.generate("ES256", kid="ws")
WS_ROUTES = Routes(
    {
        "$connect": roles("admin"),
        "$default": authenticated(),
        "sendmessage": roles("member"),
        "$disconnect": public(),
    }
)


def ws_token(**claims: Any) -> str:
    return WS_KEY.sign({"iss": WS_ISS, "aud": WS_AUD, "sub": "bob", "exp": FAR, **claims})


def ws_verifier() -> JwtVerifier:
    return JwtVerifier(issuer=WS_ISS, audience=WS_AUD, jwks={"keys": [WS_KEY.public_jwk]})


def ws_authorizer(*sources: TokenSource) -> Authorizer:
    return Authorizer(ws_verifier(), routes=WS_ROUTES, decision_log=None,
                      token_sources=list(sources) or [TokenSource.query("token")])  # fmt: skip


def ws_effect(authorizer: Authorizer, event: dict[str, Any]) -> str:
    try:
        answer = authorizer.handler(event, None)
    except Unauthorized:
        return "401"
    return str(answer["policyDocument"]["Statement"][0]["Effect"])


def test_ws_connect_is_judged_by_the_connect_rule() -> None:
    authorizer = ws_authorizer()
    member, admin = ws_token(roles=["member"]), ws_token(roles=["admin"])
    assert ws_effect(authorizer, websocket_connect(query={"token": admin})) == "Allow"
    assert ws_effect(authorizer, websocket_connect(query={"token": member})) == "Deny"
    assert ws_effect(authorizer, websocket_connect()) == "401"


# fmt: off
@pytest.mark.parametrize("route_key", ["$default", "sendmessage", "$CONNECT"])
def test_ws_authorizer_route_key_disagreeing_with_its_arn_is_not_judged_by_another_rule(
    route_key: str,
) -> None:
    """The Allow names ``.../prod/$connect``; a member (no admin role) must not get it
    because the event's route key names a route whose rule the member passes."""
    authorizer = ws_authorizer()
    event = websocket_connect(query={"token": ws_token(roles=["member"])})
    assert event["methodArn"].endswith("/$connect")
    event["requestContext"]["routeKey"] = route_key
    assert ws_effect(authorizer, event) != "Allow"
# fmt: on


def test_ws_connect_token_in_the_protocol_header_when_only_query_is_read_is_missing() -> None:
    authorizer = ws_authorizer(TokenSource.query("token"))
    admin = ws_token(roles=["admin"])
    event = websocket_connect(headers={"Sec-WebSocket-Protocol": f"bearer, {admin}"})
    assert ws_effect(authorizer, event) == "401"


def test_ws_connect_token_in_query_and_protocol_is_ambiguous() -> None:
    sources = (TokenSource.query("token"), TokenSource.websocket_protocol())
    authorizer = ws_authorizer(*sources)
    admin = ws_token(roles=["admin"])
    event = websocket_connect(query={"token": admin},
                              headers={"Sec-WebSocket-Protocol": f"bearer, {admin}"})  # fmt: skip
    with pytest.raises(AmbiguousCredentials):
        read_token(Request.from_event(event), sources)
    assert ws_effect(authorizer, event) == "401"
    only_protocol = websocket_connect(headers={"Sec-WebSocket-Protocol": f"bearer, {admin}"})
    assert ws_effect(authorizer, only_protocol) == "Allow"


@pytest.mark.parametrize(
    "offered",
    [
        "Bearer, {t}",  # subprotocols compare case-sensitively
        "bearer,{t},bearer,{t}",
        "{t}, bearer",
        "bearer",
        "chat, bearer",
        "bearer, bearer",
        "xbearer, {t}",
    ],
)
def test_ws_protocol_marker_tricks_are_refused(offered: str) -> None:
    authorizer = ws_authorizer(TokenSource.websocket_protocol())
    header = offered.format(t=ws_token(roles=["admin"]))
    event = websocket_connect(headers={"Sec-WebSocket-Protocol": header})
    assert ws_effect(authorizer, event) == "401"


def test_ws_connect_spelled_otherwise_is_a_configuration_error() -> None:
    for key in ("$Connect", "$CONNECT", "$connect ", "$DISCONNECT", "$Default"):
        with pytest.raises(ConfigurationError):
            Routes({key: authenticated()})


def ws_echo(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": principal.id}


def test_ws_messages_reaching_a_guard_keep_the_connect_roles() -> None:
    routes = Routes({"$connect": authenticated(), "sendmessage": roles("member"),
                     "admin": roles("admin"), "$disconnect": public()})  # fmt: skip
    authorizer = Authorizer(ws_verifier(), routes=routes, decision_log=None,
                            token_sources=[TokenSource.query("token")])  # fmt: skip
    answer = authorizer.handler(
        websocket_connect(query={"token": ws_token(roles=["member"])}), None
    )
    guarded = Guard(ws_verifier(), routes=routes, decision_log=None, trust_authorizer=True,
                    token_sources=[TokenSource.query("token")])(ws_echo)  # fmt: skip
    message = websocket_message("sendmessage", "{}", authorizer_response=answer)
    assert guarded(message, None) == {"statusCode": 200, "body": "bob"}
    assert (
        guarded(websocket_message("admin", "{}", authorizer_response=answer), None)["statusCode"]
        == 403
    )
    # a message without any context: refused, not anonymous
    assert guarded(websocket_message("sendmessage", "{}"), None)["statusCode"] == 401
    # a MESSAGE or DISCONNECT dressed with the $connect route key: refused
    for event_type in ("MESSAGE", "DISCONNECT"):
        odd = copy.deepcopy(message)
        odd["requestContext"].update(routeKey="$connect", eventType=event_type)
        assert guarded(odd, None)["statusCode"] != 200


def test_ws_messages_after_the_connect_token_expired_are_refused() -> None:
    import time

    routes = Routes({"$connect": authenticated(), "sendmessage": authenticated()})
    soon = int(time.time()) - 1  # the token expired a second ago; $connect ran earlier
    connected_at = soon - 100.0
    authorizer = Authorizer(
        JwtVerifier(issuer=WS_ISS, audience=WS_AUD, jwks={"keys": [WS_KEY.public_jwk]},
                    clock=lambda: connected_at),
        routes=routes, decision_log=None, token_sources=[TokenSource.query("token")],
    )  # fmt: skip
    answer = authorizer.handler(websocket_connect(query={"token": ws_token(exp=soon)}), None)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    guarded = Guard(routes=routes, decision_log=None)(ws_echo)
    response = guarded(websocket_message("sendmessage", "{}", authorizer_response=answer), None)
    assert response["statusCode"] == 401


def test_ws_connect_integration_without_a_route_key_is_not_run_as_another_route() -> None:
    """A CONNECT integration event that leaves its route key out (a direct invoke) is not
    decided by ``$default``'s weaker rule, with or without a token."""
    routes = Routes({"$connect": roles("admin"), "$default": authenticated()})
    guarded = Guard(ws_verifier(), routes=routes, decision_log=None,
                    token_sources=[TokenSource.query("token")])(ws_echo)  # fmt: skip
    event = websocket_connect(query={"token": ws_token(roles=["member"])})
    integration = {k: v for k, v in event.items() if k not in ("type", "methodArn")}
    assert guarded(integration, None)["statusCode"] == 403
    integration["requestContext"].pop("routeKey")
    assert guarded(integration, None)["statusCode"] != 200
    trusting = Guard(routes=Routes({"$connect": authenticated(), "$default": public()}),
                     decision_log=None)(ws_echo)  # fmt: skip
    assert trusting(integration, None)["statusCode"] == 401


def test_ws_connect_query_token_given_twice_or_joined_is_refused() -> None:
    authorizer = ws_authorizer()
    admin = ws_token(roles=["admin"])
    twice = websocket_connect(query={"token": [admin, admin]})
    assert ws_effect(authorizer, twice) == "401"
    joined = websocket_connect(query={"token": f"{admin},{admin}"})
    assert ws_effect(authorizer, joined) == "401"
    with pytest.raises((AmbiguousCredentials, MissingToken)):
        read_token(Request.from_event(twice), [TokenSource.query("token")])


def test_ws_an_expired_connect_token_is_a_401_not_an_allow() -> None:
    authorizer = ws_authorizer()
    expired = ws_token(roles=["admin"], exp=1_000_000_000)
    assert ws_effect(authorizer, websocket_connect(query={"token": expired})) == "401"
    with pytest.raises(TokenExpired):
        ws_verifier().verify(expired)
