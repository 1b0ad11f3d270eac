"""Review 28: an attack on review 27's base-path reading (0880444, ``guard_routes.paths_of``).

Behind a custom domain, when the path is the routed path after a prefix of whole segments,
the Guard now reads the routed path *instead of* the path as sent. These tests try to make
it drop a path it should have judged (tables, route limits, anonymous access), and check
that legitimate traffic on execute-api domains and custom domains without a mapping
behaves as before.

Findings are ``xfail(strict=True)`` tests asserting the correct behaviour; the attacks that
held are plain regression tests. Real objects and events (``secauth.testing_events``), keys
from ``secauth.testing``, a real Powertools resolver; no mocks.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from guard_callers import (
    ACME,
    ADMIN,
    CUSTOM,
    EXECUTE_API,
    JWT,
    MAPPER,
    status,
    token,
)

from secauth import Guard, RateLimiter, Routes
from secauth.access import authenticated, public, roles, tenant
from secauth.events import Request
from secauth.guard_routes import paths_of
from secauth.ratelimit import Limit, MemoryStore
from secauth.targets import routed_path
from secauth.testing_events import http_proxy, on_custom_domain, rest_proxy, websocket_message

# A table of the API's own routes (review 27's documented way) with a catch-all.
TENANTS = Routes(
    {
        "GET /tenants/{t}/orders": tenant(path="t"),
        "GET /health": public(),
        "GET /": public(),
        "ANY /{proxy+}": authenticated(),
    }
)


def mapped(event: dict[str, Any], prefix: str, domain: str = CUSTOM) -> dict[str, Any]:
    """``event`` as API Gateway sends it on ``domain`` behind the base-path / API mapping
    ``prefix`` (``""``: none): the path keeps the prefix, the route does not."""
    return on_custom_domain(event, domain, base_path=prefix)


def proxy(kind: str, method: str, path: str, **sent: Any) -> dict[str, Any]:
    """One Lambda behind REST ``/{proxy+}`` / HTTP ``ANY /{proxy+}`` (API-relative path)."""
    params = {"proxy": path[1:]}
    if kind == "rest":
        return rest_proxy(method, path, resource="/{proxy+}", path_params=params, **sent)
    return http_proxy(method, path, route_key="ANY /{proxy+}", path_params=params, **sent)


def orders(kind: str, who: str, **sent: Any) -> dict[str, Any]:
    path, params = f"/tenants/{who}/orders", {"t": who}
    if kind == "rest":
        return rest_proxy("GET", path, resource="/tenants/{t}/orders", path_params=params, **sent)
    return http_proxy("GET", path, route_key="GET /tenants/{t}/orders", path_params=params, **sent)


# =============================================================================================
# FINDINGS
# =============================================================================================

# -- F1 (medium, regression of 0880444): the path as sent is no longer judged ---------------

# A Lambda whose app routes on the path as sent (Powertools without ``strip_prefixes``, or
# one function behind several mappings): the table names that path. Review 26 judged it
# *and* the routed path; review 27 replaces it by the routed path, so the catch-all decides.
FULL_PATH = Routes(
    {
        "ANY /admin/{proxy+}": roles("admin"),
        "ANY /{proxy+}": authenticated(),
    }
)


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_a_tables_rule_for_the_path_as_sent_still_decides_behind_a_mapping(kind: str) -> None:
    # Base-path mapping "admin" -> {proxy+} API; the app's route is /admin/users.
    event = mapped(proxy(kind, "GET", "/users", token=ACME), "admin")
    assert status(FULL_PATH, event) == 403


def test_a_powertools_app_routing_on_the_path_as_sent_is_not_reached_by_a_non_admin() -> None:
    app = APIGatewayRestResolver()  # no strip_prefixes: routes on event.path

    @app.get("/admin/users")
    def users() -> dict[str, str]:
        return {"users": "all of them"}

    guard = Guard(JWT, routes=FULL_PATH, claims=MAPPER, decision_log=None)
    handler = guard(app.resolve)
    event = mapped(proxy("rest", "GET", "/users", token=ACME), "admin")
    assert handler(event, None)["statusCode"] == 403


def test_an_anonymous_caller_of_a_protected_path_as_sent_gets_a_401() -> None:
    routes = Routes({"ANY /admin/{proxy+}": roles("admin"), "GET /{proxy+}": public()})
    event = mapped(proxy("rest", "GET", "/users"), "admin")
    assert status(routes, event) == 401


def test_a_route_limit_on_the_path_as_sent_counts_behind_a_mapping() -> None:
    login = RateLimiter(Limit(1, 60), store=MemoryStore(), key=lambda request, principal: "all", name="login")
    routes = Routes({"POST /v1/login": public(), "POST /login": public()})
    guard = Guard(JWT, routes=routes, decision_log=None, route_limits={"POST /v1/login": login})
    event = mapped(rest_proxy("POST", "/login", resource="/login", body="{}"), "v1")
    assert guard.limits_for(Request.from_event(event)) == (login,)  # review 26: counted


# -- F2 (medium, older than 0880444): HTTP API $default route behind an API mapping ---------

# The $default route names no route and no parameters: the Guard can only read the prefixed
# path, and the table's catch-all decides for the tenant route the app serves (Powertools
# with strip_prefixes=["/v1"]).


# =============================================================================================
# HELD (regression tests)
# =============================================================================================


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_a_table_of_api_routes_decides_behind_a_mapping(kind: str) -> None:
    assert status(TENANTS, mapped(orders(kind, "acme", token=ACME), "v1")) == 200
    assert status(TENANTS, mapped(orders(kind, "globex", token=ACME), "v1")) == 403
    event = mapped(proxy(kind, "GET", "/tenants/globex/orders", token=ACME), "v1")
    assert status(TENANTS, event) == 403
    assert status(TENANTS, mapped(proxy(kind, "GET", "/health"), "v1")) == 200


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_a_proxy_resource_behind_a_mapping_does_not_reach_another_tenant(kind: str) -> None:
    event = mapped(proxy(kind, "GET", "/tenants/globex/orders", token=ACME), "v1")
    assert status(TENANTS, event) == 403


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_a_tenant_named_like_the_mapping_does_not_swap_tenants(kind: str) -> None:
    # Path /globex/tenants/globex/orders on mapping "globex": the API path names globex.
    event = mapped(orders(kind, "globex", token=ACME), "globex")
    assert status(TENANTS, event) == 403
    event = mapped(orders(kind, "acme", token=token(tenant="globex")), "acme")
    assert status(TENANTS, event) == 403


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_a_multi_level_mapping_reads_the_api_path(kind: str) -> None:
    assert status(TENANTS, mapped(orders(kind, "acme", token=ACME), "shop/v1")) == 200
    assert status(TENANTS, mapped(orders(kind, "globex", token=ACME), "shop/v1")) == 403


@pytest.mark.parametrize("kind", ["rest", "http"])
@pytest.mark.parametrize("domain", [EXECUTE_API, CUSTOM])
def test_without_a_mapping_traffic_is_decided_as_before(kind: str, domain: str) -> None:
    assert status(TENANTS, mapped(orders(kind, "acme", token=ACME), "", domain)) == 200
    assert status(TENANTS, mapped(orders(kind, "globex", token=ACME), "", domain)) == 403
    assert status(TENANTS, mapped(proxy(kind, "GET", "/health"), "", domain)) == 200
    assert status(TENANTS, mapped(proxy(kind, "GET", "/tenants/globex/orders"), "", domain)) == 401


def test_a_named_http_stage_on_execute_api_is_decided_as_before() -> None:
    sent = http_proxy(
        "GET", "/tenants/globex/orders", route_key="GET /tenants/{t}/orders",
        path_params={"t": "globex"}, stage="prod", token=ACME,
    )  # fmt: skip
    event = mapped(sent, "", EXECUTE_API)
    assert event["rawPath"] == "/prod/tenants/globex/orders"
    assert paths_of(Request.from_event(event), TENANTS) == ["/tenants/globex/orders"]
    assert status(TENANTS, event) == 403


def test_an_execute_api_domain_has_no_mapping_prefix() -> None:
    # Only a direct invoke sends this; on execute-api no base-path mapping exists, so the
    # path as sent is read first, and the routed path is judged too (review 33).
    event = rest_proxy(
        "GET", "/v1/tenants/acme/orders", resource="/tenants/{t}/orders",
        path_params={"t": "acme"}, token=ACME,
    )  # fmt: skip
    mapped(event, "", EXECUTE_API)
    assert paths_of(Request.from_event(event), TENANTS) == [
        "/v1/tenants/acme/orders",
        "/tenants/acme/orders",
    ]


def test_a_mapping_key_equal_to_the_http_stage_reads_the_api_path() -> None:
    sent = http_proxy(
        "GET", "/tenants/globex/orders", route_key="GET /tenants/{t}/orders",
        path_params={"t": "globex"}, stage="prod", token=ACME,
    )  # fmt: skip
    # On a custom domain the stage is not in the path; the mapping key "prod" is.
    assert sent["rawPath"] == "/prod/tenants/globex/orders"
    event = mapped(sent, "", CUSTOM)
    assert paths_of(Request.from_event(event), TENANTS)[0] == "/tenants/globex/orders"
    assert status(TENANTS, event) == 403


def test_the_root_resource_behind_a_mapping_is_the_root() -> None:
    event = mapped(rest_proxy("GET", "/", resource="/"), "")
    event["path"] = event["requestContext"]["path"] = "/v1"
    assert paths_of(Request.from_event(event), TENANTS) == ["/"]
    assert status(TENANTS, event) == 200


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_a_trailing_slash_behind_a_mapping_is_not_read_as_a_finer_route(kind: str) -> None:
    event = mapped(proxy(kind, "GET", "/tenants/globex/orders/", token=ACME), "v1")
    assert status(TENANTS, event) in (403, 404)


def test_the_root_resource_behind_a_mapping_with_a_trailing_slash_is_the_root() -> None:
    # GET https://api.example.com/v1/ runs resource "/" with path "/v1/" (fails closed: 404).
    event = mapped(rest_proxy("GET", "/", resource="/"), "v1")
    assert event["path"] == "/v1/"
    assert status(TENANTS, event) == 200


def test_a_prefix_that_is_not_whole_segments_is_not_a_mapping() -> None:
    # Direct invoke only: API Gateway never sends a path that ends so.
    event = mapped(orders("rest", "acme", token=ACME), "")
    event["path"] = event["requestContext"]["path"] = "/xtenants/acme/orders"
    event["resource"] = "/tenants/{t}/orders"
    assert paths_of(Request.from_event(event), None) == [
        "/xtenants/acme/orders",
        "/tenants/acme/orders",
    ]


def test_an_encoded_slash_in_a_single_parameter_behind_a_mapping_is_refused() -> None:
    # HTTP API: rawPath and pathParameters decoded; "a/b" in {t} cannot be one segment.
    event = http_proxy(
        "GET", "/tenants/acme/x/orders", route_key="GET /tenants/{t}/orders",
        path_params={"t": "acme/x"}, token=ACME,
    )  # fmt: skip
    mapped(event, "v1")
    assert routed_path(Request.from_event(event)) == ""
    assert status(TENANTS, event) in (403, 404)


def test_a_greedy_value_cannot_shift_the_tenant_behind_a_mapping() -> None:
    # /v1/tenants/acme/tenants/globex/orders through /tenants/{t}/{proxy+}
    event = rest_proxy(
        "GET", "/tenants/acme/tenants/globex/orders", resource="/tenants/{t}/{proxy+}",
        path_params={"t": "acme", "proxy": "tenants/globex/orders"}, token=ACME,
    )  # fmt: skip
    mapped(event, "v1")
    assert paths_of(Request.from_event(event), TENANTS)[0] == (
        "/tenants/acme/tenants/globex/orders"
    )
    assert status(TENANTS, event) == 200  # the catch-all; acme's own subtree
    routes = Routes({"ANY /tenants/{t}/{proxy+}": tenant(path="t")})
    assert status(routes, event) == 200
    event = mapped(
        rest_proxy(
            "GET", "/tenants/globex/tenants/acme/orders", resource="/tenants/{t}/{proxy+}",
            path_params={"t": "globex", "proxy": "tenants/acme/orders"}, token=ACME,
        ),
        "v1",
    )  # fmt: skip
    assert status(routes, event) == 403


def test_braces_in_a_decoded_http_parameter_behind_a_mapping_do_not_cross_tenants() -> None:
    event = http_proxy(
        "GET", "/tenants/{t}/orders", route_key="GET /tenants/{t}/orders",
        path_params={"t": "{t}"}, token=ACME,
    )  # fmt: skip
    mapped(event, "v1")
    assert status(TENANTS, event) in (403, 404)


def test_a_case_changed_mapping_is_still_only_a_prefix() -> None:
    event = mapped(orders("rest", "globex", token=ACME), "V1")
    assert status(TENANTS, event) == 403
    event = mapped(orders("rest", "acme", token=ACME), "V1")
    assert status(TENANTS, event) == 200


def test_a_websocket_message_on_a_custom_domain_reads_no_routed_path() -> None:
    routes = Routes({"sendmessage": authenticated(), "$default": authenticated()})
    event = websocket_message("sendmessage")
    event["requestContext"]["domainName"] = CUSTOM
    assert routed_path(Request.from_event(event)) is None
    assert status(routes, event, trust_authorizer=True) in (401, 403)


def test_a_route_limit_on_the_api_path_counts_once_behind_a_mapping() -> None:
    login = RateLimiter(Limit(2, 60), store=MemoryStore(), key=lambda request, principal: "all", name="login")
    guard = Guard(
        JWT, routes=TENANTS, decision_log=None, claims=MAPPER, route_limits={"GET /health": login}
    )
    event = mapped(rest_proxy("GET", "/health", resource="/health"), "v1")
    assert guard.limits_for(Request.from_event(event)) == (login,)
    handler = guard(lambda e, c: {"statusCode": 200, "body": "ok"})
    codes = [handler(copy.deepcopy(event), None)["statusCode"] for _ in range(3)]
    assert codes == [200, 200, 429]


def test_an_admin_route_of_the_api_is_still_protected_behind_a_mapping() -> None:
    routes = Routes({"ANY /admin/{proxy+}": roles("admin"), "ANY /{proxy+}": authenticated()})
    event = mapped(proxy("rest", "GET", "/admin/users", token=ACME), "v1")
    assert status(routes, event) == 403
    event = mapped(proxy("rest", "GET", "/admin/users", token=ADMIN), "v1")
    assert status(routes, event) == 200
