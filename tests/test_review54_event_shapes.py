"""Review 54: event shapes, and the Authorizer and the in-function Guard disagreeing.

Attacks where a request is judged on one path, method, tenant or principal while the
backend serves another: path parameters a Java servlet container strips (``;``), HEAD
served by a framework's GET handler, lower-case methods, authorizer contexts in another
event kind's shape (JWT, Cognito, IAM blocks holding claim names a user may choose),
forged contexts in the "verify and trust" mode, Unicode spellings of a tenant, raw
encodings in ALB and Function URL paths, repeated credentials in ALB multi-value mode.

Earlier reviews (16, 28, 33, 35, 37, guard trust, missing contexts, route-key colons)
covered stage and base-path readings, encoded slashes in HTTP API parameters, the
memo, WebSocket and Function URL trust; none of that is repeated here.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; attacks the
library resists are plain tests.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest

from secauth import (
    Authorizer,
    Guard,
    JwtVerifier,
    Principal,
    Routes,
    authenticated,
    public,
    roles,
    tenant,
)
from secauth.errors import ConfigurationError
from secauth.policy import Unauthorized
from secauth.principal import ClaimMapper
from secauth.testing import KeyPair
from secauth.testing_events import (
    alb,
    function_url,
    http_authorizer_v2,
    http_proxy,
    iam_allows,
    request_authorizer,
    rest_proxy,
)

ISS, AUD = "https://idp.example/", "orders-api"
PAIR = KeyPair.generate("ES256", kid="r54")
CLAIMS = ClaimMapper(tenant_claim="tenant")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})

ROUTES = Routes(
    {
        "GET /admin/users": roles("admin"),
        "DELETE /orders/{id}": roles("admin"),
        "GET /public/{proxy+}": public(),
        "ANY /tenants/{tenantId}/{proxy+}": tenant(path="tenantId") & roles("member"),
        "ANY /{proxy+}": authenticated(),
    }
)


def token(sub: str = "bob", *, tenant_id: str = "acme", role: str = "member") -> str:
    return PAIR.sign(
        {"iss": ISS, "aud": AUD, "sub": sub, "tenant": tenant_id, "roles": [role], "exp": 4e9}
    )


def echo(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": principal.id}


def verify_guard() -> Any:
    return Guard(VERIFIER, claims=CLAIMS, routes=ROUTES, decision_log=None)(echo)


def trust_guard() -> Any:
    return Guard(routes=ROUTES, decision_log=None)(echo)


def both_guard() -> Any:
    guard = Guard(VERIFIER, claims=CLAIMS, trust_authorizer=True, routes=ROUTES, decision_log=None)
    return guard(echo)


def forged_admin_context() -> dict[str, str]:
    """What a caller who chooses the whole event writes: an admin of acme, the guard's
    own issuer, an expiry far ahead (nothing in it is signed)."""
    admin = Principal("root", tenant="acme", roles={"admin", "member"}, issuer=ISS,
                      claims={"exp": 4_000_000_000})  # fmt: skip
    return admin.to_context()


def rest_authorizer_allows(event: dict[str, Any]) -> bool:
    """Whether a REST REQUEST Authorizer's answer lets API Gateway run ``event``'s method ARN."""
    authorizer = Authorizer(VERIFIER, claims=CLAIMS, routes=ROUTES, decision_log=None)
    try:
        answer = authorizer.handler(event, None)
    except Unauthorized:
        return False
    return iam_allows(answer["policyDocument"], event["methodArn"])


# -- findings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "resource", "params"),
    [
        # Tomcat/Jetty/Spring drop ";..." from each segment before matching: "..;" is "..",
        # so the servlet serves /admin/users (the classic "..;/" traversal).
        ("/public/..;/admin/users", "/public/{proxy+}", {"proxy": "..;/admin/users"}),
        # a path parameter on the literal: the servlet serves /admin/users
        ("/admin;x=1/users", "/{proxy+}", {"proxy": "admin;x=1/users"}),
        # acme's member, judged on acme's route; the servlet serves globex's orders
        (
            "/tenants/acme/..;/globex/orders",
            "/tenants/{tenantId}/{proxy+}",
            {"tenantId": "acme", "proxy": "..;/globex/orders"},
        ),
    ],
    ids=["dotdot-semicolon", "semicolon-on-literal", "dotdot-semicolon-tenant"],
)
def test_semicolon_path_parameters_do_not_reach_another_route(
    path: str, resource: str, params: dict[str, str]
) -> None:
    """API Gateway routes ``/public/..;/admin/users`` to ``/public/{proxy+}`` (``..;`` is
    no dot segment to it), and the Authorizer allows it on the public route. A Java
    backend behind the same integration (aws-serverless-java-container with Spring,
    Tomcat or Jetty) removes ``;...`` from every segment and serves ``/admin/users``, or
    another tenant's orders. The docs refuse dot segments and read case and percent
    variants of a literal both ways "because a backend could read it as another path";
    ``;`` path parameters (RFC 3986 section 3.3) are the same differential."""
    event = request_authorizer("GET", path, resource=resource, path_params=params, token=token())
    assert not rest_authorizer_allows(event)
    assert not ROUTES.decide(Principal("bob", tenant="acme", roles={"member"}), "GET", path).allowed


def test_semicolon_paths_are_never_part_of_a_cached_plan() -> None:
    """The fix, under a result cache: every planned policy denies paths holding ``;``
    (``SEMICOLON_PATHS``), and an allowed ``;`` request is answered for its own ARN alone;
    a literal with ``;`` read without it is judged on that literal's route too."""
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=ROUTES, cache_ttl=300, decision_log=None)
    ask = request_authorizer("GET", "/tenants/acme/orders", resource="/tenants/{tenantId}/{proxy+}",
                             path_params={"tenantId": "acme", "proxy": "orders"}, token=token())  # fmt: skip
    planned = auth.handler(ask, None)
    arn = ask["methodArn"].rsplit("/GET/", 1)[0] + "/GET"
    assert iam_allows(planned, f"{arn}/tenants/acme/orders/7")  # the plan covers acme
    for sneaky in ("/admin;x=1/users", "/public/..;/admin/users", "/tenants/acme;x/orders",
                   "/tenants/acme/x;y"):  # fmt: skip
        assert not iam_allows(planned, arn + sneaky), sneaky
    own = request_authorizer("GET", "/tenants/acme/x;y", resource="/tenants/{tenantId}/{proxy+}",
                             path_params={"tenantId": "acme", "proxy": "x;y"}, token=token())  # fmt: skip
    alone = auth.handler(own, None)
    assert iam_allows(alone, own["methodArn"])
    assert not iam_allows(alone, f"{arn}/tenants/acme/orders/7")  # its own ARN alone
    member = Principal("bob", tenant="acme", roles={"member"})
    assert not ROUTES.decide(member, "GET", "/admin;x=1/users").allowed
    assert not ROUTES.decide(member, "GET", "/ADMIN;x/users").allowed


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_verify_and_trust_mode_refuses_a_forged_context_without_a_token(kind: str) -> None:
    """docs/guard.md: trust mode "is sound only when API Gateway is the function's only
    invoker ... Keep the function's resource policy to API Gateway, **or verify the token
    in the function too** (``Guard(verifier, trust_authorizer=True)``)". Whoever sends the
    event (``lambda:InvokeFunction`` elsewhere, or a REST non-proxy integration left on
    its default passthrough, which hands the client's JSON body to the function as the
    event) just leaves the token out: the forged context is taken alone, so the offered
    mitigation mitigates nothing."""
    context = forged_admin_context()
    if kind == "rest":
        event = rest_proxy("GET", "/admin/users", resource="/admin/users")
        event["requestContext"]["authorizer"] = {"principalId": "root", **context}
    else:
        event = http_proxy("GET", "/admin/users", route_key="GET /admin/users")
        event["requestContext"]["authorizer"] = {"lambda": context}
    response = both_guard()(event, None)
    assert response["statusCode"] == 401
    assert response.get("body") != "root"


def test_verify_and_trust_mode_takes_a_named_kind_on_its_context_alone() -> None:
    """The fix's opt-in: an authorizer that admits partners by API key sends no token; a
    guard told so (``context_without_token={"api_key"}``) takes that kind's context, and
    still refuses a user context without a token."""
    partner = Principal("partner-7", roles={"admin"}, kind="api_key").to_context()
    guard = Guard(VERIFIER, claims=CLAIMS, trust_authorizer=True, routes=ROUTES,
                  decision_log=None, context_without_token={"api_key"})(echo)  # fmt: skip
    event = rest_proxy("GET", "/admin/users", resource="/admin/users")
    event["requestContext"]["authorizer"] = {"principalId": "partner-7", **partner}
    answer = guard(event, None)
    assert (answer["statusCode"], answer["body"]) == (200, "partner-7")
    assert both_guard()(event, None)["statusCode"] == 401  # not named: refused
    forged = rest_proxy("GET", "/admin/users", resource="/admin/users")
    forged["requestContext"]["authorizer"] = {"principalId": "root", **forged_admin_context()}
    assert guard(forged, None)["statusCode"] == 401


def test_a_context_with_its_token_still_passes_in_verify_and_trust_mode() -> None:
    """Control: the token comes along, names the context's principal: admitted."""
    bob = Principal("bob", tenant="acme", roles={"member"}, issuer=ISS,
                    claims={"exp": 4_000_000_000}).to_context()  # fmt: skip
    event = rest_proxy("GET", "/tenants/acme/orders", resource="/tenants/{tenantId}/{proxy+}",
                       token=token())  # fmt: skip
    event["requestContext"]["authorizer"] = {"principalId": "bob", **bob}
    answer = both_guard()(event, None)
    assert (answer["statusCode"], answer["body"]) == (200, "bob")


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"context_without_token": {"user"}}, "not \\['user'\\]"),
        ({"context_without_token": "api_key"}, "collection of principal kinds"),
        ({"context_without_token": {"api_key"}, "verifier": None}, "verifies tokens and trusts"),
        ({"context_without_token": {"api_key"}, "trust_authorizer": False}, "verifies tokens"),
    ],
)
def test_context_without_token_is_checked(options: dict[str, Any], problem: str) -> None:
    settings: dict[str, Any] = {"verifier": VERIFIER, "trust_authorizer": True, **options}
    with pytest.raises(ConfigurationError, match=problem):
        Guard(settings.pop("verifier"), routes=ROUTES, decision_log=None, **settings)


def test_head_is_judged_by_a_head_twin_of_the_get_route() -> None:
    """Low, documented (access.md), not changed: an HTTP API with ``GET /admin/users`` and
    ``ANY /{proxy+}`` routes a HEAD request to the catch-all, and so does the table, as API
    Gateway does. Flask, Django views and Starlette run the GET handler for HEAD (the body
    is dropped, the handler's side effects and headers are not), so this bites
    ``guard(Mangum(app))``-style handlers. The documented remedy, a HEAD twin of the GET
    route, is judged by the GET's rule, by the Guard and by cached policies alike."""
    event = http_proxy("HEAD", "/admin/users", route_key="ANY /{proxy+}", token=token())
    assert verify_guard()(event, None)["statusCode"] == 200  # the catch-all decides
    twin = Routes({"GET /admin/users": roles("admin"), "HEAD /admin/users": roles("admin"),
                   "ANY /{proxy+}": authenticated()})  # fmt: skip
    guard = Guard(VERIFIER, claims=CLAIMS, routes=twin, decision_log=None)(echo)
    assert guard(event, None)["statusCode"] == 403
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=twin, cache_ttl=300, decision_log=None)
    asked = request_authorizer("GET", "/orders", resource="/{proxy+}",
                               path_params={"proxy": "orders"}, token=token())  # fmt: skip
    planned = auth.handler(asked, None)
    arn = asked["methodArn"].rsplit("/GET/", 1)[0]
    assert iam_allows(planned, arn + "/POST/orders")  # the plan covers the catch-all
    assert not iam_allows(planned, arn + "/HEAD/admin/users")


# -- attacks resisted -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "block"),
    [
        ("rest", lambda c: {"lambda": c}),  # an HTTP API's shape on a REST event
        ("http", dict),  # a REST shape on an HTTP API event
        ("http", lambda c: {"jwt": {"claims": dict(c), "scopes": None}}),  # HTTP JWT authorizer
        ("rest", lambda c: {"claims": dict(c)}),  # REST Cognito user-pool authorizer
        ("http", lambda c: {"iam": dict(c)}),  # HTTP API IAM authorization
    ],
    ids=["rest-lambda-nested", "http-flat", "http-jwt-claims", "rest-cognito-claims", "http-iam"],
)
def test_contexts_in_another_shape_or_claims_named_like_ours_are_not_a_principal(
    kind: str, block: Any
) -> None:
    """A JWT or Cognito authorizer copies the token's claims into the context, and users
    can often choose some (Cognito custom attributes): claims named ``secauth_*`` there,
    or a context nested the other kind's way, are not a secauth authorizer's context."""
    context = forged_admin_context()
    if kind == "rest":
        event = rest_proxy("GET", "/admin/users", resource="/admin/users")
    else:
        event = http_proxy("GET", "/admin/users", route_key="GET /admin/users")
    event["requestContext"]["authorizer"] = block(context)
    response = trust_guard()(event, None)
    assert response["statusCode"] == 401
    assert response.get("body") != "root"


def test_a_forged_context_cannot_lift_the_roles_of_the_token_beside_it() -> None:
    """Verify-and-trust with a token: the context and the token name the same subject and
    tenant, the context claims admin; the token's roles decide."""
    event = rest_proxy("GET", "/admin/users", resource="/admin/users", token=token("root"))
    event["requestContext"]["authorizer"] = {"principalId": "root", **forged_admin_context()}
    assert both_guard()(event, None)["statusCode"] == 403


def test_a_genuine_authorizer_context_is_trusted_on_its_own_kind() -> None:
    """The control for the shape tests: the Authorizer's answer, passed as API Gateway
    passes it, admits its principal on both kinds."""
    arn_event = http_authorizer_v2("GET", "/tenants/acme/orders", token=token())
    answer = Authorizer(VERIFIER, claims=CLAIMS, routes=ROUTES, simple_responses=True,
                        decision_log=None).handler(arn_event, None)  # fmt: skip
    assert answer["isAuthorized"] is True
    event = http_proxy("GET", "/tenants/acme/orders", route_key="ANY /tenants/{tenantId}/{proxy+}",
                       authorizer_response=answer)  # fmt: skip
    response = trust_guard()(event, None)
    assert (response["statusCode"], response["body"]) == (200, "bob")


@pytest.mark.parametrize("build", ["http", "alb", "function_url"])
def test_a_lower_case_method_is_judged_as_its_verb_not_by_the_catch_all(build: str) -> None:
    """``delete`` (HTTP methods are case-sensitive; gateways may pass it as sent) is
    DELETE to the table, as Powertools upper-cases it: not the ``ANY`` catch-all."""
    sent = token()
    if build == "http":
        event = http_proxy("delete", "/orders/7", route_key="ANY /{proxy+}", token=sent)
    elif build == "alb":
        event = alb("delete", "/orders/7", token=sent)
    else:
        event = function_url("delete", "/orders/7", token=sent)
    assert verify_guard()(event, None)["statusCode"] == 403


NFC = "caf\u00e9"


@pytest.mark.parametrize(
    "spelled",
    [
        unicodedata.normalize("NFD", NFC),  # "cafe" + COMBINING ACUTE ACCENT
        "\uff43\uff41\uff46\u00e9",  # fullwidth letters: NFKC folds them to "café"
        "CAF\u00c9",
        NFC + " ",
    ],
    ids=["nfd", "fullwidth", "upper", "trailing-space"],
)
def test_unicode_spellings_of_a_tenant_in_a_decoded_path_are_another_tenant(spelled: str) -> None:
    """HTTP APIs pass the path decoded: the tenant segment arrives as Unicode. A member of
    the tenant ``café`` (NFC) is admitted on exactly that spelling and no other, so a
    tenant registered under a normalization variant cannot pass as this one (nor this one
    as it)."""
    guard = verify_guard()
    own = http_proxy("GET", f"/tenants/{NFC}/orders", route_key="ANY /tenants/{tenantId}/{proxy+}",
                     token=token(tenant_id=NFC))  # fmt: skip
    assert guard(own, None)["statusCode"] == 200
    other = http_proxy("GET", f"/tenants/{spelled}/orders",
                       route_key="ANY /tenants/{tenantId}/{proxy+}", token=token(tenant_id=NFC))  # fmt: skip
    assert guard(other, None)["statusCode"] == 403


@pytest.mark.parametrize(
    "path",
    ["/public/%2e%2e/admin/users", "/public/..%2Fadmin%2Fusers", "/public/%252e%252e/admin/users",
     "/public/.%2e/admin/users", "/public/%c0%ae%c0%ae/admin/users", "/public/..\\admin\\users"],
)  # fmt: skip
@pytest.mark.parametrize("build", ["alb", "function_url"])
def test_raw_encoded_traversals_on_alb_and_function_urls_are_refused(build: str, path: str) -> None:
    """ALB and Function URLs pass the path as the client sent it (no API Gateway routing
    in front): an anonymous caller's encoded traversal under a public prefix is refused,
    never judged on the public route."""
    event = alb("GET", path) if build == "alb" else function_url("GET", path)
    response = verify_guard()(event, None)
    assert response["statusCode"] in (400, 401, 403, 404)
    assert response.get("body") != "anonymous"


def test_alb_multi_value_authorization_sent_twice_is_ambiguous() -> None:
    """Multi-value mode lists both; the first-value view would take one of them."""
    event = alb("GET", "/admin/users", multi_value=True,
                headers={"Authorization": [f"Bearer {token('root', role='admin')}",
                                           f"Bearer {token()}"]})  # fmt: skip
    response = verify_guard()(event, None)
    assert response["statusCode"] == 401
    assert "multiValueHeaders" in response


def test_a_rest_authorizer_and_the_guard_agree_on_a_tenant_named_by_dot_dot_semicolon() -> None:
    """The Python side stays consistent: both read ``acme`` from the route and the Guard
    behind a REST API judges the same spelling the same way (the finding is what a
    servlet container then does with it)."""
    path = "/tenants/acme/..;/globex/orders"
    params = {"tenantId": "acme", "proxy": "..;/globex/orders"}
    event = request_authorizer("GET", path, resource="/tenants/{tenantId}/{proxy+}",
                               path_params=params, token=token())  # fmt: skip
    backend = rest_proxy("GET", path, resource="/tenants/{tenantId}/{proxy+}", path_params=params,
                         token=token())  # fmt: skip
    assert rest_authorizer_allows(event) is (verify_guard()(backend, None)["statusCode"] == 200)
