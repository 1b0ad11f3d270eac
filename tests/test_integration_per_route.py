"""``Routes(integration_per_route=True)``: an HTTP API whose routes each have their own
integration, so nothing routes again behind ``{proxy+}``.

The attack: ``GET /files/x%2Fpublic`` has two raw segments, so API Gateway runs the
admin-only ``ANY /files/{proxy+}`` with ``proxy`` = ``x/public``; the decoded path
``/files/x/public`` reads in the table as ``GET /files/{id}/public``, which Eve may call.
Behind one function for every path (the default) that reading is the right one; with
one integration per route, the request must be decided as the route that ran.
Real Authorizer and Guard objects, real events; no mocks.
"""

from __future__ import annotations

from typing import Any

import pytest

from secauth import Authorizer, Guard, Routes
from secauth.access import authenticated, public, roles
from secauth.errors import ConfigurationError
from secauth.testing import KeyPair
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    http_proxy,
    on_custom_domain,
)
from secauth.testing_policy import iam_allows
from secauth.verifier import JwtVerifier

ISS, AUD = "https://idp.per-route.example/", "api"
PAIR = KeyPair.generate("ES256", kid="per-route")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
EVE = PAIR.sign({"iss": ISS, "aud": AUD, "sub": "eve", "exp": 4e9})
ADMIN = PAIR.sign({"iss": ISS, "aud": AUD, "sub": "ada", "roles": ["admin"], "exp": 4e9})
PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/"

RULES: dict[str, Any] = {
    "ANY /files/{proxy+}": roles("admin"),
    "GET /files/{id}/public": authenticated(),
    "GET /users/{id}": roles("admin"),
    "GET /users/me": authenticated(),
    "GET /health": public(),
}
PER_ROUTE = Routes(RULES, integration_per_route=True)
LAMBDALITH = Routes(RULES)


def authorizer(routes: Routes, **options: Any) -> Authorizer:
    return Authorizer(VERIFIER, routes=routes, decision_log=None, **options)


def authorizer_event(
    kind: str, path: str, route_key: str, params: dict[str, str], token: str = EVE
) -> dict[str, Any]:
    verb, _, template = route_key.partition(" ")
    method = "GET" if verb in ("ANY", "$default") else verb
    if kind == "v2":
        return http_authorizer_v2(method, path, route_key=route_key, path_params=params,
                                  token=token)  # fmt: skip
    resource = template or "/{proxy+}"
    return http_authorizer_v1(method, path, resource=resource, path_params=params, token=token)


def effect(answer: dict[str, Any]) -> str:
    return str(answer["policyDocument"]["Statement"][0]["Effect"])


# GET /files/x%2Fpublic: API Gateway runs ANY /files/{proxy+}; the path reads as the
# table's GET /files/{id}/public.
SHIFTED = ("/files/x/public", "ANY /files/{proxy+}", {"proxy": "x/public"})


@pytest.mark.parametrize("kind", ["v2", "v1"])
def test_a_shifted_request_is_decided_as_the_route_that_ran(kind: str) -> None:
    path, route_key, params = SHIFTED
    assert effect(authorizer(PER_ROUTE).handler(authorizer_event(kind, path, route_key, params))) == "Deny"
    # The default reads it as the application behind {proxy+} will: the route it names.
    assert effect(authorizer(LAMBDALITH).handler(authorizer_event(kind, path, route_key, params))) == "Allow"


@pytest.mark.parametrize("kind", ["v2", "v1"])
def test_requests_that_read_as_the_route_that_ran_are_decided_by_its_rule(kind: str) -> None:
    allowed = authorizer(PER_ROUTE)
    cases = [
        ("/files/x/public", "GET /files/{id}/public", {"id": "x"}, EVE, "Allow"),
        ("/files/a/b", "ANY /files/{proxy+}", {"proxy": "a/b"}, ADMIN, "Allow"),
        ("/files/a/b", "ANY /files/{proxy+}", {"proxy": "a/b"}, EVE, "Deny"),
        # the admin may call the route that ran, whatever the path reads as
        ("/files/x/public", "ANY /files/{proxy+}", {"proxy": "x/public"}, ADMIN, "Deny"),
        ("/users/me", "GET /users/me", {}, EVE, "Allow"),
        ("/users/7", "GET /users/{id}", {"id": "7"}, ADMIN, "Allow"),
        ("/health", "GET /health", {}, EVE, "Allow"),
    ]
    for path, route_key, params, token, expected in cases:
        answer = allowed.handler(authorizer_event(kind, path, route_key, params, token))
        assert effect(answer) == expected, (path, route_key, token is ADMIN)


def test_the_admin_on_a_shifted_request_is_refused_not_read_as_the_other_route() -> None:
    """Refused for everyone, Ada included: the table route it reads as is not the route
    whose integration runs, so neither rule is the one that decides it."""
    path, route_key, params = SHIFTED
    answer = authorizer(PER_ROUTE).handler(authorizer_event("v2", path, route_key, params, ADMIN))
    assert effect(answer) == "Deny"


def test_parameter_names_need_not_match_the_api() -> None:
    """The API's route ``GET /users/{userId}`` is the table's ``GET /users/{id}``."""
    event = authorizer_event("v2", "/users/7", "GET /users/{userId}", {"userId": "7"}, ADMIN)
    assert effect(authorizer(PER_ROUTE).handler(event)) == "Allow"


def test_a_route_the_table_does_not_list_is_refused() -> None:
    """The option says every API route is a table route: a route key the table lacks is
    a contract broken, refused rather than decided as whatever the path reads as."""
    routes = Routes({"ANY /{proxy+}": authenticated()}, integration_per_route=True)
    event = authorizer_event("v2", "/orders/7", "GET /orders/{id}", {"id": "7"})
    assert effect(authorizer(routes).handler(event)) == "Deny"
    lambdalith = Routes({"ANY /{proxy+}": authenticated()})
    assert effect(authorizer(lambdalith).handler(event)) == "Allow"


def test_the_default_route_is_decided_by_the_default_rule_only() -> None:
    """``$default`` runs when no API route matched: a path the table reads as one of its
    routes (GET /files/x%2Fpublic, no route of two segments) is refused; another path
    is decided by the table's ``default`` rule."""
    routes = Routes(RULES, default=authenticated(), integration_per_route=True)
    shifted = authorizer_event("v2", "/files/x/public", "$default", {})
    assert effect(authorizer(routes).handler(shifted)) == "Deny"
    elsewhere = authorizer_event("v2", "/nowhere/at/all", "$default", {})
    assert effect(authorizer(routes).handler(elsewhere)) == "Allow"


def test_payload_1_prefers_the_route_of_the_requests_verb() -> None:
    """Payload 1.0 names the route by its template alone (``resource``): the table's
    route of the request's verb, else its ANY route, is the one that ran."""
    routes = Routes({"GET /a/{id}": authenticated(), "ANY /a/{id}": roles("admin")},
                    integration_per_route=True)  # fmt: skip
    get = http_authorizer_v1("GET", "/a/1", resource="/a/{id}", path_params={"id": "1"},
                             token=EVE)  # fmt: skip
    post = http_authorizer_v1("POST", "/a/1", resource="/a/{id}", path_params={"id": "1"},
                              token=EVE)  # fmt: skip
    answers = authorizer(routes).handler(get), authorizer(routes).handler(post)
    assert [effect(a) for a in answers] == ["Allow", "Deny"]


def test_a_cached_answer_for_the_route_that_ran_never_reaches_the_shifted_path() -> None:
    """With caching per route, the answer for Eve on ``ANY /files/{proxy+}`` is a Deny
    of that route; what it allows (nothing of it) never includes the shifted ARN."""
    cached = authorizer(PER_ROUTE, cache_ttl=300, cache_key_covers_route=True,
                        response_cache_size=0)  # fmt: skip
    path, route_key, params = SHIFTED
    answer = cached.handler(authorizer_event("v2", path, route_key, params))
    assert iam_allows(answer, PREFIX + "GET/files/x/public") is False
    plain = cached.handler(authorizer_event("v2", "/files/x/public", "GET /files/{id}/public",
                                            {"id": "x"}))  # fmt: skip
    assert iam_allows(plain, PREFIX + "GET/files/x/public") is True


def guard(routes: Routes) -> Any:
    @Guard(VERIFIER, routes=routes, decision_log=None)
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ran"}

    return handler


def test_a_guard_decides_a_shifted_request_as_the_route_that_ran() -> None:
    path, route_key, params = SHIFTED
    event = http_proxy("GET", path, route_key=route_key, path_params=params, token=EVE)
    assert guard(PER_ROUTE)(event, None)["statusCode"] == 403
    assert guard(LAMBDALITH)(event, None)["statusCode"] == 200
    plain = http_proxy("GET", path, route_key="GET /files/{id}/public", path_params={"id": "x"},
                       token=EVE)  # fmt: skip
    assert guard(PER_ROUTE)(plain, None)["statusCode"] == 200


@pytest.mark.parametrize("written_with_base_path", [True, False])
def test_a_base_path_mapping_reads_as_the_route_that_ran(written_with_base_path: bool) -> None:
    """Behind a custom domain's ``v1`` mapping the path as sent starts with ``/v1``; the
    table is the API's routes (as API Gateway names the route that ran), and a table
    written with the mapping's prefix lists none of them: refused (fail closed; 404, the
    route that ran being the Guard's only reading)."""
    base = "/v1" if written_with_base_path else ""
    routes = Routes({f"GET {base}/files/{{id}}/public": authenticated(),
                     f"ANY {base}/files/{{proxy+}}": roles("admin")},
                    integration_per_route=True)  # fmt: skip
    plain = on_custom_domain(
        http_proxy("GET", "/files/x/public", route_key="GET /files/{id}/public",
                   path_params={"id": "x"}, token=EVE),
        "api.example.com", base_path="v1")  # fmt: skip
    shifted = on_custom_domain(
        http_proxy("GET", "/files/x/public", route_key="ANY /files/{proxy+}",
                   path_params={"proxy": "x/public"}, token=EVE),
        "api.example.com", base_path="v1")  # fmt: skip
    assert guard(routes)(plain, None)["statusCode"] == (404 if written_with_base_path else 200)
    assert guard(routes)(shifted, None)["statusCode"] == (404 if written_with_base_path else 403)


@pytest.mark.parametrize("value", [1, "yes", None])
def test_the_option_must_be_a_bool(value: object) -> None:
    with pytest.raises(ConfigurationError, match="integration_per_route"):
        Routes(RULES, integration_per_route=value)  # type: ignore[arg-type]


def test_the_option_is_read_back() -> None:
    assert PER_ROUTE.integration_per_route is True
    assert LAMBDALITH.integration_per_route is False


@pytest.mark.parametrize("route_key", [None, "GET /files/{proxy+}/x"])
def test_an_event_naming_no_route_it_can_read_is_refused(route_key: str | None) -> None:
    """Every HTTP API event names the route that ran: without one (or with a template
    that does not parse) the option cannot hold the request to it, so it is refused."""
    event = authorizer_event("v2", "/files/x/public", "GET /files/{id}/public", {"id": "x"})
    if route_key is None:
        del event["routeKey"], event["requestContext"]["routeKey"]
    else:
        event["routeKey"] = event["requestContext"]["routeKey"] = route_key
    assert effect(authorizer(PER_ROUTE).handler(event)) == "Deny"
    assert effect(authorizer(LAMBDALITH).handler(event)) == "Allow"


def test_payload_1_with_a_lower_case_method_is_held_to_the_any_route() -> None:
    """HTTP methods are case-sensitive: ``get`` may have run ``ANY /a/{id}`` (admin only)
    rather than ``GET /a/{id}``; payload 1.0 does not say which, so the request is held to
    the ANY route: the table reads it as ``GET /a/{id}``, so it is refused, whoever sends
    it (a table without an ANY route refuses it too)."""
    routes = Routes({"GET /a/{id}": authenticated(), "ANY /a/{id}": roles("admin")},
                    integration_per_route=True)  # fmt: skip
    for method, expected in (("GET", "Allow"), ("get", "Deny")):
        event = http_authorizer_v1(method, "/a/1", resource="/a/{id}", path_params={"id": "1"},
                                   token=EVE)  # fmt: skip
        event["httpMethod"] = method
        assert effect(authorizer(routes).handler(event)) == expected, method
    admin = http_authorizer_v1("get", "/a/1", resource="/a/{id}", path_params={"id": "1"},
                               token=ADMIN)  # fmt: skip
    admin["httpMethod"] = "get"
    assert effect(authorizer(routes).handler(admin)) == "Deny"  # read as GET: not the ANY route
