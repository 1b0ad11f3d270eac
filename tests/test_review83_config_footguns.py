"""Review 83: configuration foot-guns. Options a reasonable user could write (following the docs)
that silently allow what the user would expect denied, or bad/contradictory options accepted
instead of refused at construction with a ConfigurationError. Real objects only (KeyPair,
secauth.testing_events), no network.

Every finding below is fixed (the tests assert the fix): flags are type-checked
(``secauth.options.flag``), lists of names refuse a lone string (``options.names``), ``~rule``
never allows the anonymous principal, a rule reading a path parameter its route lacks and a
case variant of a predefined WebSocket key are refused, ``scopes()`` takes one scope per name,
and the presets name an option they set.

Finding (medium): ``Authorizer(cache_key_covers_request=...)`` and ``cache_key_covers_route=``
are not type-checked (unlike ``Routes(integration_per_route=...)``, which is). A string such as
``"false"`` (an environment variable read as is) is truthy: ``check_result_cache`` returns
early, so a ``tenant(header=...)`` table under ``cache_ttl=300`` is accepted and the Allow
answered to tenant acme's header is cached under the Authorization header alone, which API
Gateway then serves to the same token naming globex. ``cache_key_covers_route="false"`` with
``api="http"`` likewise skips the refusal of an HTTP API cached without its route. Root cause:
``Authorizer.__init__`` / ``result_cache.check_result_cache`` (``if not cache_ttl or covered``).

Finding (medium): a ``Guard`` admits a caller with no credentials at all on a route whose rule
is a negation: ``~roles("suspended")`` ("anyone not suspended") or ``~tenant(path="tenantId")``
("any tenant but your own", the cross-tenant reviewer rule of review 57). The anonymous
principal has no roles and no tenant, so the inner rule denies and ``~`` allows;
``guard_routes.anonymous_if_public`` admits anonymous wherever the table's rule allows it. The
docs say "only public routes are reachable" anonymously, and an ``Authorizer`` with the same
table answers 401: the two disagree on one table.

Finding (low): other boolean options are truthy-tested, not type-checked:
``ClaimMapper(groups_are_roles="false")`` makes every group a role (``roles("admin")`` then
passes a member of the group ``admin``); ``JwtVerifier(require_exp=None)`` (an unset setting)
silently accepts tokens without ``exp``; ``Cors(allow_credentials="false")`` sends
``Access-Control-Allow-Credentials: true``.

Finding (low, fails closed): lone strings where a collection is expected are iterated as
characters instead of refused: ``JwtVerifier(required_claims="tenant")`` requires claims
``t``, ``e``, ``n``, ``a``; ``client_cert(subjects="CN=partner-a")`` allows DNs ``C``, ``N``,
``=``... and never the partner; ``Guard(content_types="application/json")`` refuses every
JSON body with 415. ``ApiKeyEntry(roles="reader")`` is accepted when built (and by
``StaticApiKeys``), and every request with that key is a 401 ``configuration_error``. The
docs promise the lone-string refusal for ``ClientCertEntry`` and ``Principal`` only.

Finding (low, fails closed): ``tenant(path="tenant_id")`` on a route whose template names
``{tenantId}`` is accepted; the route then never allows anyone (no ConfigurationError naming
the parameter), so the typo shows up as 403s in production.

Finding (low): a case variant of a predefined WebSocket key (``"$Connect"``) is accepted as a
key of its own; ``$connect`` events then fall to ``$default``'s rule (an allow when that rule
is weaker). Literals differing only in case are refused for HTTP paths.

Finding (low, fails closed): ``scopes("orders:read orders:write")`` (the scope string as an
IdP writes it) is one scope name holding a space, which no token can carry (scopes are split
on spaces): the route never allows. Role names may hold spaces; scope names cannot.

Finding (low, unclear error): ``JwtVerifier.cognito(..., audience=...)`` (or
``audience_claim=``) raises a bare ``TypeError`` ("got multiple values for keyword argument")
instead of a ConfigurationError saying the preset sets that option (seen, not tested:
``JwtVerifier.from_discovery(..., jwks=...)`` and ``ClaimMapper.auth0(..., tenant_claim=...)``).

Held: Cognito access vs ID tokens (``token_use``), ``cognito:groups`` as a string refused,
case-exact group names; Auth0 ``permissions`` as scopes, Keycloak other clients' roles ignored,
a non-object ``realm_access`` refused, ``scope`` and ``scp`` both read; route specificity
(``/users/me`` over ``/users/{id}``), trailing slash refused whatever the default, ``public() |
rule`` and ``public() & rule``, empty ``roles()``/``scopes()`` refused; ``cache_ttl > 0``
refuses ``tenant(header=)``, ``tenant(query=)``, ``~tenant(path=)``, ``source_ip``,
``simple_responses`` and API keys beside a verifier; ``context=`` cannot write ``secauth_*``
keys; HS256 beside a JWKS, a secret beside RSA algorithms, leeway above 300 s, an empty
audience refused; an API key header is never a token source; ``Guard.require(~rule)`` and the
Authorizer never admit an anonymous caller.
"""

from __future__ import annotations

from typing import Any

import pytest

import secauth.testing_events as te
from secauth import (
    ApiKeyEntry,
    Authorizer,
    Cors,
    Guard,
    JwtVerifier,
    Routes,
    StaticApiKeys,
    authenticated,
    hash_api_key,
    public,
    roles,
    scopes,
    tenant,
)
from secauth.access import client_cert, source_ip
from secauth.errors import ConfigurationError, InvalidClaims
from secauth.policy import Unauthorized
from secauth.principal import ClaimMapper, Principal
from secauth.testing import KeyPair
from secauth.testing_policy import iam_allows
from secauth.token_sources import TokenSource

ISS = "https://idp.example.com/"
PAIR = KeyPair.generate("ES256", kid="k1")
JWKS = {"keys": [PAIR.public_jwk]}
POOL = "eu-west-1_AbC123"
CLIENT = "3n4b5urk1ft4fl3mg5e62d9ado"
POOL_ISS = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}"


def verifier(**options: Any) -> JwtVerifier:
    return JwtVerifier(issuer=ISS, audience="orders-api", jwks=JWKS, **options)


def token(**claims: Any) -> str:
    return PAIR.sign(
        {"iss": ISS, "aud": "orders-api", "sub": "ann", "exp": 4_000_000_000, **claims}
    )


def effect(answer: dict[str, Any]) -> str:
    return str(answer["policyDocument"]["Statement"][0]["Effect"])


def decide(authorizer: Authorizer, event: dict[str, Any]) -> str:
    """The effect an authorizer answers, or ``"401"`` when it raises Unauthorized."""
    try:
        return effect(authorizer.handler(event, None))
    except Unauthorized:
        return "401"


def echo(event: dict[str, Any], context: object, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": principal.id}


# fmt: off
# -- findings: medium ---------------------------------------------------------------------------


def test_cache_key_covers_request_must_be_a_bool() -> None:
    """A header-reading tenant rule under ``cache_ttl=300``: refused with ``False``, but the
    string ``"false"`` builds an authorizer whose Allow for acme's header is cached under the
    token alone (API Gateway would serve it to the same token naming globex)."""
    routes = Routes({"GET /orders": tenant(header="x-tenant-id")})
    mapper = ClaimMapper(tenant_claim="tenant")
    with pytest.raises(ConfigurationError):
        Authorizer(verifier(), routes=routes, claims=mapper, cache_ttl=300)
    try:
        loose = Authorizer(verifier(), routes=routes, claims=mapper, cache_ttl=300,
                           cache_key_covers_request="false", decision_log=None)  # type: ignore[arg-type]  # fmt: skip
    except ConfigurationError:
        return  # the correct behaviour
    event = te.request_authorizer("GET", "/orders", token=token(tenant="acme"),
                                  headers={"x-tenant-id": "acme"})  # fmt: skip
    cached = loose.handler(event, None)["policyDocument"]
    # API Gateway keeps this answer under the Authorization header alone: the same token on
    # the same ARN naming x-tenant-id: globex is answered from the cache, without a call.
    assert iam_allows(cached, event["methodArn"])
    raise AssertionError("a header-reading rule was cached under the token alone")


def test_cache_key_covers_route_must_be_a_bool() -> None:
    """``api="http"`` with ``cache_ttl > 0`` is refused without the route in the cache key;
    the string ``"false"`` passes for ``True``."""
    routes = Routes({"GET /users/{id}": authenticated()})
    with pytest.raises(ConfigurationError):
        Authorizer(verifier(), routes=routes, cache_ttl=300, api="http")
    with pytest.raises(ConfigurationError):
        Authorizer(verifier(), routes=routes, cache_ttl=300, api="http",
                   cache_key_covers_route="false")  # type: ignore[arg-type]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/feed"), ("POST", "/tenants/acme/review")],
    ids=["not-suspended", "not-own-tenant"],
)
def test_guard_negated_rule_does_not_admit_anonymous(method: str, path: str) -> None:
    """Neither rule is ``public()``; the Authorizer answers 401 without a token, the Guard
    runs the handler as ``anonymous``."""
    routes = Routes({
        "GET /feed": ~roles("suspended"),
        "POST /tenants/{tenantId}/review": ~tenant(path="tenantId"),
    })  # fmt: skip
    authorizer = Authorizer(verifier(), routes=routes, decision_log=None)
    assert decide(authorizer, te.request_authorizer(method, path)) == "401"
    handler = Guard(verifier(), routes=routes, decision_log=None)(echo)
    answer = handler(te.rest_proxy(method, path), None)
    assert answer["statusCode"] == 401, answer.get("body")


# -- findings: low ------------------------------------------------------------------------------


def test_groups_are_roles_must_be_a_bool() -> None:
    claims = {"sub": "ann", "groups": ["admin"]}
    assert ClaimMapper(groups_are_roles=False).map(claims).roles == frozenset()
    try:
        mapper = ClaimMapper(groups_are_roles="false")  # type: ignore[arg-type]
    except ConfigurationError:
        return
    assert mapper.map(claims).roles == frozenset(), "a group became a role"


def test_require_exp_none_is_refused() -> None:
    no_exp = PAIR.sign({"iss": ISS, "aud": "orders-api", "sub": "ann"})
    with pytest.raises(InvalidClaims):
        verifier().verify(no_exp)
    try:
        loose = verifier(require_exp=None)
    except ConfigurationError:
        return
    with pytest.raises(InvalidClaims):
        loose.verify(no_exp)


def test_cors_allow_credentials_must_be_a_bool() -> None:
    origin = "https://app.example.com"
    try:
        cors = Cors(allow_origins=[origin], allow_credentials="false")  # type: ignore[arg-type]
    except ConfigurationError:
        return
    handler = Guard(verifier(), cors=cors, decision_log=None)(echo)
    answer = handler(te.http_proxy("GET", "/x", token=token(), headers={"origin": origin}), None)
    assert answer["statusCode"] == 200
    assert "Access-Control-Allow-Credentials" not in answer["headers"]


def test_required_claims_string_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        verifier(required_claims="tenant")


def test_client_cert_subjects_string_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        client_cert(subjects="CN=partner-a.example.com,O=Partner A")  # type: ignore[arg-type]


def test_guard_content_types_string_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        Guard(verifier(), content_types="application/json")  # type: ignore[arg-type]


def test_api_key_entry_roles_string_is_refused_when_built() -> None:
    key = "pk-live-0123456789abcdefghij"
    try:
        keys = StaticApiKeys({hash_api_key(key): ApiKeyEntry("partner-a", roles="reader")})  # type: ignore[arg-type]
    except ConfigurationError:
        return
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(api_keys=keys, routes=Routes({"GET /orders": roles("reader")}),
                            decision_log=None, on_decision=records.append)  # fmt: skip
    event = te.request_authorizer("GET", "/orders", headers={"x-api-key": key})
    assert decide(authorizer, event) == "401"
    assert records[-1]["reason"] == "configuration_error"
    raise AssertionError("the bad entry was found on a request, not when it was built")


def test_tenant_rule_naming_a_missing_parameter_is_refused() -> None:
    """A typo (``tenant_id`` for ``tenantId``): the route never allows its own tenant."""
    table = {"ANY /tenants/{tenantId}/{proxy+}": tenant(path="tenant_id") & roles("member")}
    try:
        routes = Routes(table)
    except ConfigurationError:
        return
    member = Principal("m", tenant="acme", roles={"member"})
    assert not routes.decide(member, "GET", "/tenants/acme/orders").allowed  # fails closed
    raise AssertionError("a rule that can never allow on its route was accepted")


def test_case_variant_of_a_predefined_websocket_key_is_refused() -> None:
    try:
        routes = Routes({"$Connect": roles("member"), "$default": authenticated()})
    except ConfigurationError:
        return
    outsider = Principal("eve")
    assert routes.decide(outsider, "$connect", "").route == "$default"
    assert not routes.decide(outsider, "$connect", "").allowed, "connected by $default's rule"


def test_scope_name_with_a_space_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        scopes("orders:read orders:write")


@pytest.mark.parametrize("option", ["audience", "audience_claim"])
def test_cognito_option_the_preset_sets_is_a_configuration_error(option: str) -> None:
    with pytest.raises(ConfigurationError):
        JwtVerifier.cognito(user_pool_id=POOL, client_id=CLIENT, token_use="access",
                            jwks=JWKS, **{option: "x"})  # fmt: skip

# fmt: on


# -- held ---------------------------------------------------------------------------------------


def cognito_token(**claims: Any) -> str:
    body = {"iss": POOL_ISS, "sub": "u-1", "exp": 4_000_000_000, "token_use": "access",
            "client_id": CLIENT, "cognito:groups": ["admin"]}  # fmt: skip
    return PAIR.sign({**body, **claims})


def test_cognito_groups_and_token_use_held() -> None:
    """Access tokens only; groups become roles; a string group claim and a case variant of a
    group are refused."""
    pool = JwtVerifier.cognito(user_pool_id=POOL, client_id=CLIENT, token_use="access", jwks=JWKS)
    authorizer = Authorizer(pool, routes=Routes({"DELETE /users/{id}": roles("admin")}),
                            decision_log=None)  # fmt: skip

    def deleting(bearer: str) -> str:
        return decide(authorizer, te.request_authorizer("DELETE", "/users/7", token=bearer))

    assert deleting(cognito_token()) == "Allow"
    id_token = PAIR.sign({"iss": POOL_ISS, "sub": "u-1", "exp": 4_000_000_000, "token_use": "id",
                          "aud": CLIENT, "cognito:groups": ["admin"]})  # fmt: skip
    assert deleting(id_token) == "401"  # an ID token is not an access token
    assert deleting(cognito_token(**{"cognito:groups": "admin"})) == "401"
    assert deleting(cognito_token(**{"cognito:groups": ["Admin"]})) == "Deny"
    assert deleting(cognito_token(client_id="another-client")) == "401"


def test_claim_mapper_presets_held() -> None:
    auth0 = ClaimMapper.auth0(namespace="https://example.com/").map({
        "sub": "a", "scope": "openid", "permissions": ["delete:users"],
        "roles": ["admin"], "https://example.com/roles": ["viewer"],
    })  # fmt: skip
    assert auth0.roles == {"viewer"}
    assert auth0.scopes == {"openid", "delete:users"}
    keycloak = ClaimMapper.keycloak(client_id="orders-api")
    other = keycloak.map({"sub": "k", "resource_access": {"account": {"roles": ["admin"]}}})
    assert other.roles == frozenset()
    with pytest.raises(InvalidClaims):
        keycloak.map({"sub": "k", "realm_access": ["admin"]})
    both = ClaimMapper().map({"sub": "o", "scope": "a b", "scp": ["c"]})
    assert both.scopes == {"a", "b", "c"}
    assert roles("admin").check(Principal("p", roles={"Admin"}), None) is not None
    assert roles("admin").check(Principal("p", scopes={"admin"}), None) is not None


def test_route_table_shapes_held() -> None:
    routes = Routes(
        {
            "GET /users/me": authenticated(),
            "GET /users/{id}": roles("admin"),
            "GET /open": public() | roles("admin"),
            "GET /both": public() & roles("admin"),
            "GET /admin/users": roles("admin"),
        },
        default=public(),
    )
    anyone, member = Principal.anonymous(), Principal("m", roles={"member"})
    assert routes.decide(member, "GET", "/users/me").allowed
    assert not routes.decide(member, "GET", "/users/7").allowed
    assert routes.decide(anyone, "GET", "/open").allowed
    assert not routes.decide(anyone, "GET", "/both").allowed
    for path in ("/admin/users/", "//admin/users", "/x/../admin/users"):
        assert not routes.decide(member, "GET", path).allowed, path
    for empty in (roles, scopes):
        with pytest.raises(ConfigurationError):
            empty()


@pytest.mark.parametrize(
    "rule_",
    [tenant(header="x-tenant-id"), tenant(query="tenant"), ~tenant(path="t"),
     source_ip(allow=["203.0.113.0/24"])],
    ids=["header", "query", "not-path", "source-ip"],
)  # fmt: skip
def test_cache_unsafe_rules_are_refused_held(rule_: Any) -> None:
    routes = Routes({"GET /t/{t}/orders": rule_})
    with pytest.raises(ConfigurationError):
        Authorizer(verifier(), routes=routes, cache_ttl=300)
    with pytest.raises(ConfigurationError):
        Authorizer(verifier(), routes=routes, cache_ttl=300, cache_key_covers_request=False)


def test_cache_incompatible_options_are_refused_held() -> None:
    keys = StaticApiKeys({hash_api_key("pk-live-0123456789abcdefghij"): ApiKeyEntry("p")})
    with pytest.raises(ConfigurationError):
        Authorizer(verifier(), cache_ttl=300, simple_responses=True)
    with pytest.raises(ConfigurationError):
        Authorizer(verifier(), cache_ttl=300, api_keys=keys)
    with pytest.raises(ConfigurationError):
        Authorizer(verifier(), api_keys=keys, api_key_header="authorization")
    with pytest.raises(ConfigurationError):
        Authorizer(verifier(), api_keys=keys,
                   token_sources=[TokenSource.header("x-api-key")])  # fmt: skip
    with pytest.raises(ConfigurationError):
        Routes({"GET /a": public()}, integration_per_route="false")  # type: ignore[arg-type]


def test_context_callable_cannot_write_secauth_keys_held() -> None:
    def forwarded(principal: Principal) -> dict[str, str]:
        return {"secauth_tenant": "globex", "secauth_roles": '["admin"]', "plan": "gold"}

    authorizer = Authorizer(verifier(), context=forwarded, decision_log=None)
    event = te.token_authorizer("GET", "/orders", token=token())
    context = authorizer.handler(event, None)["context"]
    assert "secauth_tenant" not in context
    assert context["secauth_roles"] == "[]"
    assert context["plan"] == "gold"
    assert Principal.from_context(context).tenant is None


def test_verifier_options_held() -> None:
    with pytest.raises(ConfigurationError):
        JwtVerifier(issuer=ISS, audience="a", jwks=JWKS, algorithms=["HS256"])
    with pytest.raises(ConfigurationError):
        JwtVerifier(issuer=ISS, audience="a", secret=b"k" * 32, algorithms=["HS256", "RS256"])
    with pytest.raises(ConfigurationError):
        verifier(leeway=301)
    for audience in ("", [], [""]):
        with pytest.raises(ConfigurationError):
            JwtVerifier(issuer=ISS, audience=audience, jwks=JWKS)
    with pytest.raises(TypeError):
        JwtVerifier(issuer=ISS, jwks=JWKS)  # type: ignore[call-arg]
    strict = verifier(required_claims=["tenant"])
    with pytest.raises(InvalidClaims):
        strict.verify(token(tenant=None))
    assert strict.verify(token(tenant="acme"))["tenant"] == "acme"


def test_required_rules_and_authorizer_never_admit_anonymous_held() -> None:
    routes = Routes({"GET /feed": public()})
    guard = Guard(verifier(), routes=routes, decision_log=None)
    assert guard(echo)(te.rest_proxy("GET", "/feed"), None)["statusCode"] == 200
    required = guard.require(~roles("suspended"))(echo)
    assert required(te.rest_proxy("GET", "/feed"), None)["statusCode"] == 401
    authorizer = Authorizer(verifier(), routes=routes, decision_log=None)
    assert decide(authorizer, te.request_authorizer("GET", "/feed")) == "401"
