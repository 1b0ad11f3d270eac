"""Regression tests for the attack on cached authorizer policies (issue: "Cached authorizer
policies that provably never open what the route table denies").

Each test failed before its fix. A cached policy is judged the way IAM judges it (``*`` any
run of characters including ``/``, ``?`` one character, case-sensitive, an explicit Deny
wins), with a small matcher written here, independent of secauth's own.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from guard_events import VERIFIER, rest_v1, token

from secauth import Authorizer, Guard, Routes, authenticated, public, roles, tenant
from secauth.access import Rule
from secauth.principal import ClaimMapper, Principal

PREFIX = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/"


def iam_allows(response: dict[str, Any], arn: str) -> bool:
    """IAM's answer for ``arn`` under the response's policy (no conditions used here)."""
    allowed = denied = False
    for statement in response["policyDocument"]["Statement"]:
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        pattern = "|".join(
            "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in r)
            for r in resources
        )
        if re.fullmatch(pattern, arn, re.DOTALL):
            if statement["Effect"] == "Deny":
                denied = True
            else:
                allowed = True
    return allowed and not denied


def cached_response(
    routes: Routes, claims: dict[str, Any], verb: str, path: str, **options: Any
) -> dict[str, Any]:
    mapper = ClaimMapper(tenant_claim="tenant" if "tenant" in claims else None)
    authorizer = Authorizer(VERIFIER, routes=routes, cache_ttl=300, claims=mapper, **options)
    event = {
        "type": "TOKEN",
        "authorizationToken": f"Bearer {token(**claims)}",
        "methodArn": f"{PREFIX}{verb}{path}",
    }
    return authorizer.handler(event, None)


def assert_never_over_allows(
    routes: Routes, principal: Principal, response: dict[str, Any], requests: list[str]
) -> None:
    for request in requests:
        verb, _, path = request.partition(" ")
        if iam_allows(response, f"{PREFIX}{verb}{path}"):
            assert routes.decide(principal, verb, path).allowed, (
                f"the cached policy allows {request}, which the route table denies"
            )


# --- 1. a cached policy's "*" spans several segments -----------------------------------------


def test_cached_policy_does_not_open_another_tenants_files() -> None:
    routes = Routes({"ANY /{region}/{tenantId}/files/{proxy+}": tenant(path="tenantId")})
    response = cached_response(routes, {"sub": "u", "tenant": "acme"}, "GET", "/eu/acme/files/a")
    acme = Principal("u", tenant="acme")
    assert iam_allows(response, f"{PREFIX}GET/eu/acme/files/a")
    assert_never_over_allows(
        routes,
        acme,
        response,
        [f"{verb} /eu/globex/files/acme/files/x" for verb in ("GET", "PUT", "DELETE", "POST")],
    )


def test_cached_policy_does_not_open_an_admin_route_through_a_long_path() -> None:
    routes = Routes(
        {
            "GET /{org}/{tenantId}/{id}/report": tenant(path="tenantId"),
            "ANY /{org}/admin/audit/{proxy+}": roles("admin"),
        }
    )
    response = cached_response(routes, {"sub": "u", "tenant": "acme"}, "GET", "/o1/acme/7/report")
    assert iam_allows(response, f"{PREFIX}GET/o1/acme/7/report")
    assert_never_over_allows(
        routes, Principal("u", tenant="acme"), response, ["GET /o1/admin/audit/acme/x/report"]
    )


# --- 2. the table's default rule -----------------------------------------------------------


def test_cached_policy_respects_the_default_rule() -> None:
    routes = Routes({"GET /users/{id}": authenticated()}, default=roles("admin"))
    response = cached_response(routes, {"sub": "u"}, "GET", "/users/7")
    assert iam_allows(response, f"{PREFIX}GET/users/7")
    assert_never_over_allows(
        routes, Principal("u"), response, ["GET /users/7/secrets", "GET /users/7/a/b"]
    )


# --- 3. refused spellings escape Deny statements ---------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "/users/7/secrets/",
        "/users/7//secrets",
        "/users//7/secrets",
        "/users/7/./secrets",
        "/users/7/x/../secrets",
        "/users/7/secrets/.",
    ],
)
def test_refused_spellings_of_a_denied_route_are_denied_by_the_cached_policy(
    spelling: str,
) -> None:
    routes = Routes({"GET /users/{id}": authenticated(), "GET /users/{id}/secrets": roles("admin")})
    response = cached_response(routes, {"sub": "u"}, "GET", "/users/7")
    assert iam_allows(response, f"{PREFIX}GET/users/7")
    assert not routes.decide(Principal("u"), "GET", spelling).allowed
    assert not iam_allows(response, f"{PREFIX}GET{spelling}")


def test_a_trailing_slash_does_not_reach_another_tenant() -> None:
    routes = Routes({"GET /{region}/{tenantId}/{id}": tenant(path="tenantId")})
    response = cached_response(routes, {"sub": "u", "tenant": "acme"}, "GET", "/eu/acme/1")
    assert iam_allows(response, f"{PREFIX}GET/eu/acme/1")
    assert not iam_allows(response, f"{PREFIX}GET/eu/globex/acme/")


# --- 4. Routes decides the route API Gateway runs (case-sensitive, not decoded) --------------


@pytest.mark.parametrize("path", ["/PUBLIC/x", "/%70ublic/x", "/Public/x"])
def test_case_and_percent_variants_of_a_literal_are_not_a_way_around_a_rule(path: str) -> None:
    routes = Routes({"GET /public/{proxy+}": authenticated(), "GET /{proxy+}": roles("admin")})
    user = Principal("u")
    assert routes.decide(user, "GET", "/public/x").allowed
    assert not routes.decide(user, "GET", path).allowed
    assert routes.decide(Principal("a", roles={"admin"}), "GET", path).allowed
    response = cached_response(routes, {"sub": "u"}, "GET", path)
    assert not iam_allows(response, f"{PREFIX}GET{path}")
    exact = Authorizer(VERIFIER, routes=routes).handler(
        {
            "type": "TOKEN",
            "authorizationToken": f"Bearer {token('u')}",
            "methodArn": f"{PREFIX}GET{path}",
        },
        None,
    )
    assert not iam_allows(exact, f"{PREFIX}GET{path}")


def test_guard_refuses_a_case_variant_of_a_literal_too() -> None:
    routes = Routes({"GET /public/{proxy+}": authenticated(), "GET /{proxy+}": roles("admin")})
    guard = Guard(routes=routes, decision_log=None)

    @guard
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ok"}

    authorizer = {"principalId": "u", **Principal("u").to_context()}
    assert handler(rest_v1("GET", "/public/x", authorizer=authorizer), None)["statusCode"] == 200
    assert handler(rest_v1("GET", "/PUBLIC/x", authorizer=authorizer), None)["statusCode"] == 403


def test_a_variant_is_allowed_when_every_route_it_could_mean_allows_it() -> None:
    routes = Routes({"GET /users/me": public(), "GET /users/{id}": authenticated()})
    assert routes.decide(Principal("u"), "GET", "/users/ME").allowed
    assert not routes.decide(Principal.anonymous(), "GET", "/users/ME").allowed


# --- 5. the default table with caching answers valid requests --------------------------------


def test_default_table_with_caching_answers_valid_requests() -> None:
    authorizer = Authorizer(VERIFIER, cache_ttl=300)
    event = {
        "type": "TOKEN",
        "authorizationToken": f"Bearer {token('u')}",
        "methodArn": f"{PREFIX}GET/orders/7",
    }
    response = authorizer.handler(event, None)
    assert iam_allows(response, f"{PREFIX}GET/orders/7")


def test_a_table_mixing_websocket_keys_and_http_routes_plans_http_policies() -> None:
    routes = Routes({"$connect": authenticated(), "GET /orders/{id}": authenticated()})
    response = cached_response(routes, {"sub": "u"}, "GET", "/orders/7")
    assert iam_allows(response, f"{PREFIX}GET/orders/7")
    assert iam_allows(response, f"{PREFIX}GET/orders/8")


# --- 6. an HTTP API's $default route --------------------------------------------------------


def _http_default_event(path: str, bearer: str, stage: str = "$default") -> dict[str, Any]:
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/{stage}/$default",
        "identitySource": [f"Bearer {bearer}"],
        "routeKey": "$default",
        "rawPath": path if stage == "$default" else f"/{stage}{path}",
        "headers": {"authorization": f"Bearer {bearer}"},
        "requestContext": {
            "http": {"method": "GET", "path": path, "sourceIp": "198.51.100.7"},
            "routeKey": "$default",
            "stage": stage,
        },
    }


@pytest.mark.parametrize("stage", ["$default", "prod"])
def test_http_default_route_is_decided_on_method_and_path(stage: str) -> None:
    routes = Routes({"GET /orders/{id}": authenticated(), "GET /admin/{proxy+}": roles("admin")})
    authorizer = Authorizer(VERIFIER, routes=routes)
    allowed = authorizer.handler(_http_default_event("/orders/7", token("u"), stage), None)
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    denied = authorizer.handler(_http_default_event("/admin/x", token("u"), stage), None)
    assert denied["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_http_default_route_with_caching_allows_only_a_principal_allowed_everywhere() -> None:
    routes = Routes({"GET /orders/{id}": authenticated(), "GET /admin/{proxy+}": roles("admin")})
    authorizer = Authorizer(VERIFIER, routes=routes, cache_ttl=300)
    answer = authorizer.handler(_http_default_event("/orders/7", token("u")), None)
    arn = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/$default/$default"
    # One cached answer serves every path of the $default route: this user may not call all.
    assert not iam_allows(answer, arn)
    open_table = Routes({"ANY /{proxy+}": authenticated()}, default=authenticated())
    everywhere = Authorizer(VERIFIER, routes=open_table, cache_ttl=300)
    assert iam_allows(everywhere.handler(_http_default_event("/orders/7", token("u")), None), arn)


# --- 7. a tenant named twice -----------------------------------------------------------------


def test_a_repeated_tenant_query_value_is_refused() -> None:
    routes = Routes({"GET /orders": tenant(query="tenant")})
    acme = Principal("u", tenant="acme")
    for values in (["globex", "acme"], ["acme", "globex"], ["acme", "acme"]):
        event = rest_v1("GET", "/orders")
        event["queryStringParameters"] = {"tenant": values[-1]}
        event["multiValueQueryStringParameters"] = {"tenant": values}
        from secauth.events import Request

        request = Request.from_event(event)
        assert not routes.decide(acme, "GET", "/orders", request).allowed, values


def test_a_repeated_tenant_header_is_refused_by_the_guard() -> None:
    guard = Guard(routes=Routes({"GET /orders": tenant(header="X-Tenant-Id")}), decision_log=None)

    @guard
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ok"}

    authorizer = {"principalId": "u", **Principal("u", tenant="acme").to_context()}
    event = rest_v1("GET", "/orders", authorizer=authorizer)
    event["headers"] = {"X-Tenant-Id": "acme"}
    event["multiValueHeaders"] = {"X-Tenant-Id": ["acme"]}
    assert handler(event, None)["statusCode"] == 200
    event["multiValueHeaders"] = {"X-Tenant-Id": ["globex", "acme"]}
    assert handler(event, None)["statusCode"] == 403


# --- 8. one route grammar --------------------------------------------------------------------


def test_routes_and_policies_share_one_template_grammar() -> None:
    from secauth.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        Routes({"GET /files/a*b": public()})
    table = Routes({"GET /files/a-b": public()})
    Authorizer(VERIFIER, routes=table, cache_ttl=0)
    Authorizer(VERIFIER, routes=table, cache_ttl=300)


def test_custom_rule_bindings_with_unsafe_values_never_widen_a_policy() -> None:
    class Weird(Rule):
        def check(self, principal: Principal, context: Any) -> None:
            return None

        def bindings(self, principal: Principal) -> list[dict[str, str]]:
            return [{"id": "*"}, {"id": "a/b"}]

    routes = Routes({"GET /items/{id}": Weird(), "GET /items/{id}/x": roles("admin")})
    response = cached_response(routes, {"sub": "u"}, "GET", "/items/7")
    assert iam_allows(response, f"{PREFIX}GET/items/7")
    assert not iam_allows(response, f"{PREFIX}GET/items/7/x")
