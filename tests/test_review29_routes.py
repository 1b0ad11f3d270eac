"""Review 29: an attack on the final design of ``guard_routes`` (which route decides).

Every path a request may mean must be allowed: the path as the table reads it, the path
as sent on an HTTP API named stage, the routed path on a custom domain, and the prefixed
path when the table has routes under its first segment. These tests look for a request
API Gateway can send that one reading allows while another (the one the backend serves)
should refuse, and for legitimate traffic refused on the common deployments.

Findings are ``xfail(strict=True)`` tests asserting the correct behaviour; the attacks that
held are plain regression tests. Real objects and events (``secauth.testing_events``), keys
from ``secauth.testing``, real Powertools resolvers; no mocks.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, APIGatewayRestResolver
from guard_callers import (
    ACME,
    ADMIN,
    CUSTOM,
    EXECUTE_API,
    JWT,
    MAPPER,
    status,
)

from secauth import Authorizer, Guard, Routes
from secauth.access import authenticated, public, roles, tenant
from secauth.events import EventKind, Request
from secauth.guard_routes import paths_of
from secauth.integrations.powertools import guard_middleware
from secauth.testing_events import (
    http_proxy,
    on_custom_domain,
    request_authorizer,
    rest_proxy,
)


def on_execute_api(event: dict[str, Any]) -> dict[str, Any]:
    event["requestContext"]["domainName"] = EXECUTE_API
    return event


def http_v1(
    method: str, api_path: str, resource: str, *, stage: str = "$default", **sent: Any
) -> dict[str, Any]:
    """An HTTP API payload 1.0 event on its execute-api domain: ``path`` (and
    ``requestContext.path``) keep a named stage, ``resource`` is the route's path
    (``requestContext.resourcePath`` too)."""
    event = rest_proxy(method, api_path, resource=resource, stage=stage, **sent)
    event["version"] = "1.0"
    context = event["requestContext"]
    context["routeKey"] = f"{method} {resource}"
    context["resourcePath"] = resource
    prefix = "" if stage == "$default" else f"/{stage}"
    event["path"] = context["path"] = prefix + api_path
    on_execute_api(event)
    assert Request.from_event(event).kind is EventKind.REST_V1
    return event


# =============================================================================================
# FINDINGS
# =============================================================================================

# -- F1 (medium, over-allow; and fails closed on normal traffic): HTTP API payload 1.0 on a
# named stage. Payload 1.0 comes as a REST-shaped event whose ``path`` keeps the stage
# (``/prod/admin``, ``resource`` ``/admin``); route_path strips a stage for payload 2.0
# only, and on execute-api no routed path is read, so the table decides ``/prod/admin``.

ADMIN_TABLE = Routes(
    {
        "GET /admin": roles("admin"),
        "GET /orders": authenticated(),
        "GET /health": public(),
        "ANY /{proxy+}": authenticated(),
    }
)


def test_an_admin_route_on_a_named_http_stage_with_payload_1_0_is_not_decided_by_the_catch_all() -> (
    None
):
    # Route GET /admin (its own function, or one function for the API) on stage "prod".
    assert status(ADMIN_TABLE, http_v1("GET", "/admin", "/admin", stage="prod", token=ADMIN)) == 200
    event = http_v1("GET", "/admin", "/admin", stage="prod", token=ACME)
    assert status(ADMIN_TABLE, event) == 403


def test_a_named_http_stage_with_payload_1_0_admits_its_own_routes() -> None:
    routes = Routes({"GET /orders/{id}": authenticated(), "GET /health": public()})
    event = http_v1("GET", "/orders/7", "/orders/{id}", stage="prod", token=ACME)
    assert status(routes, event) == 200
    assert status(routes, http_v1("GET", "/health", "/health", stage="prod")) == 200


# -- F2 (medium, over-allow, cross-tenant): a table whose first segment is a parameter is
# never read on the path as sent. One function behind per-tenant base-path mappings
# (``acme`` -> API, ``globex`` -> API) routes on ``event.path`` (Powertools without
# ``strip_prefixes``); ``_has_first_segment`` looks for a literal first segment only, so
# the routed ``/orders`` falls to the catch-all and acme reads globex's orders.

PER_TENANT = Routes(
    {
        "GET /{tenant}/orders": tenant(path="tenant"),
        "ANY /{proxy+}": authenticated(),
    }
)


def _per_tenant_mapping(who: str, **sent: Any) -> dict[str, Any]:
    event = rest_proxy("GET", "/orders", resource="/{proxy+}", **sent)
    return on_custom_domain(event, CUSTOM, base_path=who)


def test_a_tenant_base_path_mapping_does_not_reach_another_tenant() -> None:
    assert status(PER_TENANT, _per_tenant_mapping("acme", token=ACME)) == 200
    assert status(PER_TENANT, _per_tenant_mapping("globex", token=ACME)) == 403


def test_a_powertools_app_behind_tenant_mappings_does_not_serve_another_tenant() -> None:
    app = APIGatewayRestResolver()  # no strip_prefixes: routes on event.path

    @app.get("/<tenant>/orders")
    def orders(tenant: str) -> dict[str, str]:
        return {"orders": f"of {tenant}"}

    handler = Guard(JWT, routes=PER_TENANT, claims=MAPPER, decision_log=None)(app.resolve)
    response = handler(_per_tenant_mapping("globex", token=ACME), None)
    assert "of globex" not in response.get("body", "")
    assert response["statusCode"] == 403


# -- F3 (low-medium, fails closed, regression of review 27): a table written with the
# mapping's prefix (the paths a Powertools app without ``strip_prefixes`` routes on, which
# docs/guard.md offers as an option) answers 404 to every request: the routed path is read
# first and has no route, before the prefixed path (which has one) is judged.

PREFIXED = Routes({"GET /v1/orders/{id}": authenticated(), "GET /v1/health": public()})


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_a_table_written_with_the_mapping_prefix_admits_its_routes(kind: str) -> None:
    if kind == "rest":
        event = rest_proxy("GET", "/orders/7", resource="/orders/{id}", token=ACME)
        health = rest_proxy("GET", "/health", resource="/health")
    else:
        event = http_proxy("GET", "/orders/7", route_key="GET /orders/{id}", token=ACME)
        health = http_proxy("GET", "/health", route_key="GET /health")
    assert status(PREFIXED, on_custom_domain(event, CUSTOM, base_path="v1")) == 200
    assert status(PREFIXED, on_custom_domain(health, CUSTOM, base_path="v1")) == 200


# =============================================================================================
# HELD (regression tests)
# =============================================================================================

PROXY_TABLE = Routes(
    {
        "GET /tenants/{t}/orders": tenant(path="t"),
        "ANY /admin/{proxy+}": roles("admin"),
        "GET /health": public(),
        "ANY /{proxy+}": authenticated(),
    }
)


def _proxy(kind: str, path: str, **sent: Any) -> dict[str, Any]:
    if kind == "rest":
        return rest_proxy("GET", path, resource="/{proxy+}", **sent)
    return http_proxy("GET", path, route_key="ANY /{proxy+}", **sent)


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_one_function_behind_proxy_on_execute_api_uses_the_tables_finer_routes(kind: str) -> None:
    call = lambda path, **sent: status(PROXY_TABLE, on_execute_api(_proxy(kind, path, **sent)))  # noqa: E731
    assert call("/health") == 200
    assert call("/tenants/acme/orders", token=ACME) == 200
    assert call("/tenants/globex/orders", token=ACME) == 403
    assert call("/admin/users", token=ACME) == 403
    assert call("/admin/users", token=ADMIN) == 200
    assert call("/anything/else", token=ACME) == 200


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_one_function_behind_proxy_on_a_custom_domain_without_mapping_is_decided_alike(
    kind: str,
) -> None:
    call = lambda path, **sent: status(  # noqa: E731
        PROXY_TABLE, on_custom_domain(_proxy(kind, path, **sent), CUSTOM)
    )
    assert call("/health") == 200
    assert call("/tenants/acme/orders", token=ACME) == 200
    assert call("/tenants/globex/orders", token=ACME) == 403
    assert call("/admin/users", token=ACME) == 403


@pytest.mark.parametrize("prefix", ["v1", "tenants", "admin", "v1/admin", "tenants/globex"])
def test_no_mapping_prefix_moves_a_proxy_request_to_another_tenant_or_admin(prefix: str) -> None:
    # Mapping keys named like the table's segments (single and multi-level).
    for path in ("/tenants/globex/orders", "/admin/users"):
        event = on_custom_domain(_proxy("rest", path, token=ACME), CUSTOM, base_path=prefix)
        assert paths_of(Request.from_event(event), PROXY_TABLE)[0] == path
        assert status(PROXY_TABLE, event) == 403
    event = on_custom_domain(_proxy("rest", "/tenants/acme/orders", token=ACME), CUSTOM,
                             base_path=prefix)  # fmt: skip
    assert status(PROXY_TABLE, event) == (403 if prefix == "admin" else 200)
    # "admin": the prefixed path is judged (its first segment is the table's: review 28)


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_per_route_functions_with_tenant_parameters_are_decided_on_their_route(kind: str) -> None:
    table = Routes({"GET /tenants/{t}/orders/{id}": tenant(path="t")})
    for domain, prefix in ((EXECUTE_API, ""), (CUSTOM, ""), (CUSTOM, "v2"), (CUSTOM, "a/b")):
        for who, expected in (("acme", 200), ("globex", 403)):
            path, params = f"/tenants/{who}/orders/7", {"t": who, "id": "7"}
            if kind == "rest":
                event = rest_proxy(
                    "GET", path, resource="/tenants/{t}/orders/{id}", path_params=params, token=ACME
                )
            else:
                event = http_proxy(
                    "GET", path, route_key="GET /tenants/{t}/orders/{id}", path_params=params,
                    token=ACME,
                )  # fmt: skip
            event = on_custom_domain(event, domain, base_path=prefix)
            assert status(table, event) == expected, (domain, prefix, who)


def test_http_payload_1_0_on_the_default_stage_and_behind_a_mapping_is_decided_on_its_route() -> (
    None
):
    table = Routes({"GET /tenants/{t}/orders": tenant(path="t"), "ANY /{proxy+}": authenticated()})
    ok = http_v1("GET", "/tenants/acme/orders", "/tenants/{t}/orders", token=ACME)
    bad = http_v1("GET", "/tenants/globex/orders", "/tenants/{t}/orders", token=ACME)
    assert status(table, ok) == 200
    assert status(table, bad) == 403
    for event, expected in ((ok, 200), (bad, 403)):
        event["requestContext"]["domainName"] = CUSTOM
        event["path"] = event["requestContext"]["path"] = "/v1" + event["path"]
        assert status(table, event) == expected


def test_powertools_with_strip_prefixes_behind_a_mapping_serves_only_the_callers_tenant() -> None:
    app = APIGatewayRestResolver(strip_prefixes=["/v1"])

    @app.get("/tenants/<t>/orders")
    def orders(t: str) -> dict[str, str]:
        return {"orders": f"of {t}"}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"ok": "yes"}

    handler = Guard(JWT, routes=PROXY_TABLE, claims=MAPPER, decision_log=None)(app.resolve)

    def call(path: str, **sent: Any) -> dict[str, Any]:
        event = on_custom_domain(_proxy("rest", path, **sent), CUSTOM, base_path="v1")
        return handler(event, None)

    assert call("/tenants/acme/orders", token=ACME)["statusCode"] == 200
    assert call("/tenants/globex/orders", token=ACME)["statusCode"] == 403
    assert call("/health")["statusCode"] == 200


def test_powertools_http_resolver_on_a_named_stage_is_decided_on_the_stageless_path() -> None:
    app = APIGatewayHttpResolver()

    @app.get("/tenants/<t>/orders")
    def orders(t: str) -> dict[str, str]:
        return {"orders": f"of {t}"}

    handler = Guard(JWT, routes=PROXY_TABLE, claims=MAPPER, decision_log=None)(app.resolve)

    def call(path: str, **sent: Any) -> int:
        # http_proxy puts the named stage in rawPath, as API Gateway does on execute-api.
        event = http_proxy("GET", path, route_key="ANY /{proxy+}", stage="prod", **sent)
        assert event["rawPath"] == f"/prod{path}"
        event = on_execute_api(event)
        return int(handler(event, None)["statusCode"])

    assert call("/tenants/acme/orders", token=ACME) == 200
    assert call("/tenants/globex/orders", token=ACME) == 403


def test_a_powertools_route_guard_table_is_read_on_the_routed_path_behind_a_mapping() -> None:
    app = APIGatewayRestResolver(strip_prefixes=["/v1"])
    outer = Guard(JWT, routes=PROXY_TABLE, claims=MAPPER, decision_log=None)
    inner = Guard(JWT, routes=Routes({"GET /reports/{t}": tenant(path="t")}), claims=MAPPER)

    @app.get("/reports/<t>", middlewares=[guard_middleware(inner)])
    def reports(t: str) -> dict[str, str]:
        return {"reports": t}

    handler = outer(app.resolve)

    def call(who: str) -> int:
        event = rest_proxy("GET", f"/reports/{who}", resource="/{proxy+}", token=ACME)
        return int(handler(on_custom_domain(event, CUSTOM, base_path="v1"), None)["statusCode"])

    assert call("acme") == 200
    assert call("globex") == 403


def test_a_trust_mode_guard_behind_a_secauth_authorizer_admits_its_tenant_only() -> None:
    authorizer = Authorizer(JWT, routes=PROXY_TABLE, claims=MAPPER, decision_log=None)
    behind = Guard(routes=PROXY_TABLE, decision_log=None)
    handler = behind(lambda e, c, principal: {"statusCode": 200, "body": principal.id})
    for prefix in ("", "v1"):
        for who in ("acme", "globex"):
            path = f"/tenants/{who}/orders"
            answer = authorizer.handler(
                request_authorizer("GET", path, resource="/{proxy+}", token=ACME), None
            )
            try:
                event = rest_proxy("GET", path, resource="/{proxy+}", authorizer_response=answer)
            except ValueError:  # API Gateway answers 403 without calling the function
                assert who == "globex"
                continue
            assert who == "acme"
            event = on_custom_domain(event, CUSTOM, base_path=prefix)
            assert handler(event, None)["statusCode"] == 200
