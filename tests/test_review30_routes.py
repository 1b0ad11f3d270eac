"""Review 30: an attack on review 29's readings (``guard_routes.paths_of``,
``_has_route``, ``_beyond_catch_all``; ``guard_http.is_http_api``, ``route_path``).

Review 29 reads the path with a base-path mapping's prefix *first and alone* when only it
has a route, and judges it besides the routed path only when its route's first segment is
not greedy. Both questions are asked of the reading *as written*: a segment in another
case (read both ways by the table, docs/guard.md) switches the answer.

Findings are ``xfail(strict=True)`` tests asserting the correct behaviour; attacks that held
are plain regression tests. Real objects and events (``secauth.testing_events``), keys from
``secauth.testing``; no mocks. Every event here is one API Gateway sends (a REST ``{proxy+}``
resource or an HTTP ``ANY /{proxy+}`` route passes the caller's case through).
"""

from __future__ import annotations

from typing import Any

import pytest
from guard_callers import (
    ACME,
    ADMIN,
    CUSTOM,
    EXECUTE_API,
    status,
)

from secauth import Routes
from secauth.access import authenticated, public, roles, tenant
from secauth.events import EventKind, Request
from secauth.guard_http import is_http_api, route_path
from secauth.guard_routes import paths_of
from secauth.testing_events import http_proxy, on_custom_domain, rest_proxy


def proxy(kind: str, path: str, method: str = "GET", **sent: Any) -> dict[str, Any]:
    """A request on the API's ``{proxy+}`` route (REST resource / HTTP route key)."""
    params = {"proxy": path[1:]}
    if kind == "rest":
        return rest_proxy(method, path, resource="/{proxy+}", path_params=params, **sent)
    return http_proxy(method, path, route_key="ANY /{proxy+}", path_params=params, **sent)


def mapped(kind: str, path: str, base_path: str = "v1", **sent: Any) -> dict[str, Any]:
    return on_custom_domain(proxy(kind, path, **sent), CUSTOM, base_path=base_path)


def on_execute_api(event: dict[str, Any]) -> dict[str, Any]:
    event["requestContext"]["domainName"] = EXECUTE_API
    return event


def http_v1(
    method: str, api_path: str, resource: str, *, stage: str, **sent: Any
) -> dict[str, Any]:
    """HTTP API payload 1.0 on execute-api: ``path`` keeps a named stage (as review 29)."""
    event = rest_proxy(method, api_path, resource=resource, stage=stage, **sent)
    event["version"] = "1.0"
    context = event["requestContext"]
    context["routeKey"] = f"{method} {resource}"
    context["resourcePath"] = resource
    prefix = "" if stage == "$default" else f"/{stage}"
    event["path"] = context["path"] = prefix + api_path
    return on_execute_api(event)


# =============================================================================================
# FINDINGS
# =============================================================================================

# -- F1 (medium, over-allow; a regression of review 29): ``_has_route`` asks ``resolve``,
# which answers None when *one* reading of an ambiguous path reaches no route. A routed
# ``/ADMIN/users`` (the table reads it as written, no route, and as ``/admin/users``, an
# admin route) so "has no route", and the prefixed path alone decides: its
# ``ANY /v1/{proxy+}`` lets a non-admin through. The admin reading is never judged (before
# review 29 the routed path was read first, and refused).

MIXED = Routes({"ANY /admin/{proxy+}": roles("admin"), "ANY /v1/{proxy+}": authenticated()})


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_mixed_table_admin_reading_holds_for_the_exact_case(kind: str) -> None:
    assert status(MIXED, mapped(kind, "/admin/users", token=ACME)) == 403
    assert status(MIXED, mapped(kind, "/admin/users", token=ADMIN)) == 200
    assert status(MIXED, mapped(kind, "/orders", token=ACME)) == 200  # only /v1/orders routes


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_a_case_changed_routed_path_does_not_switch_to_the_prefixed_route(kind: str) -> None:
    event = mapped(kind, "/ADMIN/users", token=ACME)
    assert "/ADMIN/users" in paths_of(Request.from_event(event), MIXED)
    assert status(MIXED, event) in (403, 404)


# -- F2 (medium, over-allow): ``_beyond_catch_all`` looks at the route of the reading as
# written only. Behind the mapping ``v1``, ``/v1/ADMIN/users`` reaches ``ANY /{proxy+}`` as
# written and ``ANY /v1/admin/{proxy+}`` case-folded: the path as sent is not judged at
# all, so the admin rule (judged for ``/v1/admin/users``) is skipped by changing case.
# This is review 28's finding again, through ``found.others``.

PREFIXED_ADMIN = Routes(
    {"ANY /{proxy+}": authenticated(), "ANY /v1/admin/{proxy+}": roles("admin")}
)


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_the_prefixed_admin_route_is_judged_for_the_exact_case(kind: str) -> None:
    assert status(PREFIXED_ADMIN, mapped(kind, "/admin/users", token=ACME)) == 403
    assert status(PREFIXED_ADMIN, mapped(kind, "/admin/users", token=ADMIN)) == 200
    assert status(PREFIXED_ADMIN, mapped(kind, "/orders", token=ACME)) == 200


@pytest.mark.parametrize("kind", ["rest", "http"])
@pytest.mark.parametrize("path", ["/ADMIN/users", "/Admin/users"])
def test_a_case_changed_prefixed_path_is_still_judged(kind: str, path: str) -> None:
    event = mapped(kind, path, token=ACME)
    assert status(PREFIXED_ADMIN, event) == 403


# =============================================================================================
# HELD (regression tests)
# =============================================================================================


# A table written with the prefix and a ``default=``: the routed path (never listed) is left
# to the prefixed reading; judging its default too would refuse every listed route.
DEFAULTED = Routes({"GET /v1/{proxy+}": authenticated()}, default=roles("admin"))


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_a_prefixed_table_with_a_default_admits_its_routes_and_refuses_unlisted(kind: str) -> None:
    assert status(DEFAULTED, mapped(kind, "/orders", token=ACME)) == 200
    # Unlisted as sent too (another mapping): the default decides.
    assert status(DEFAULTED, mapped(kind, "/orders", base_path="v2", token=ACME)) == 403
    assert status(DEFAULTED, mapped(kind, "/orders", base_path="v2", token=ADMIN)) == 200


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_another_verb_on_the_routed_path_does_not_hand_the_decision_to_the_prefix(
    kind: str,
) -> None:
    # POST has no routed route (GET only), and the prefixed table has no POST either.
    table = Routes({"GET /admin/users": roles("admin"), "GET /v1/{proxy+}": authenticated()})
    event = on_custom_domain(
        proxy(kind, "/admin/users", "POST", token=ACME), CUSTOM, base_path="v1"
    )
    assert status(table, event) in (403, 404, 405)
    assert status(table, mapped(kind, "/admin/users", token=ACME)) == 403


@pytest.mark.parametrize(
    "key", ["ANY /{proxy+}", "any /{proxy+}", "* /{proxy+}", "get /{p+}", "GET /{p+}"]
)
def test_catch_all_keys_in_any_spelling_are_catch_alls(key: str) -> None:
    table = Routes({key: authenticated(), "GET /tenants/{t}/orders": tenant(path="t")})
    event = mapped("rest", "/tenants/acme/orders", base_path="v1", token=ACME)
    assert paths_of(Request.from_event(event), table) == ["/tenants/acme/orders"]
    assert status(table, event) == 200
    event = mapped("rest", "/tenants/globex/orders", base_path="v1", token=ACME)
    assert status(table, event) == 403


def test_a_param_then_greedy_route_is_judged_on_the_path_as_sent() -> None:
    # Review 29's per-tenant mappings, with a greedy tail: still judged as sent.
    table = Routes({"ANY /{tenant}/{proxy+}": tenant(path="tenant")})
    event = mapped("rest", "/orders/7", base_path="globex", token=ACME)
    assert "/globex/orders/7" in paths_of(Request.from_event(event), table)
    assert status(table, event) == 403


def test_a_table_whose_finer_routes_are_under_another_prefix_reads_the_routed_path() -> None:
    table = Routes({"ANY /{proxy+}": authenticated(), "ANY /v2/admin/{proxy+}": roles("admin")})
    event = mapped("rest", "/admin/users", base_path="v1", token=ACME)
    assert paths_of(Request.from_event(event), table) == ["/admin/users"]
    assert status(table, event) == 200
    assert status(table, mapped("rest", "/admin/users", base_path="v2", token=ACME)) == 403


def test_a_rest_event_never_loses_a_segment_named_like_its_stage() -> None:
    # REST events carry no "version"; on execute-api their path has no stage.
    table = Routes({"ANY /prod/{proxy+}": roles("admin"), "ANY /{proxy+}": authenticated()})
    event = on_execute_api(
        rest_proxy("GET", "/prod/keys", resource="/{proxy+}", path_params={"proxy": "prod/keys"},
                   token=ACME)
    )  # fmt: skip
    request = Request.from_event(event)
    assert not is_http_api(request)
    assert route_path(request) == "/prod/keys"
    assert status(table, event) == 403
    assert status(table, on_custom_domain(event, CUSTOM)) == 403


@pytest.mark.parametrize("first", ["production", "prodx", "prod-admin"])
def test_a_stage_that_prefixes_the_first_segment_is_not_removed(first: str) -> None:
    table = Routes({f"GET /{first}/admin": roles("admin"), "ANY /{proxy+}": authenticated()})
    event = http_v1("GET", f"/{first}/admin", f"/{first}/admin", stage="prod", token=ACME)
    assert route_path(Request.from_event(event)) == f"/{first}/admin"
    assert status(table, event) == 403
    event = http_proxy(
        "GET", f"/{first}/admin", route_key=f"GET /{first}/admin", stage="prod", token=ACME
    )
    assert route_path(Request.from_event(event)) == f"/{first}/admin"
    assert status(table, on_execute_api(event)) == 403


def test_http_payload_1_0_on_the_stage_root_is_the_root() -> None:
    table = Routes({"GET /": public(), "ANY /{proxy+}": roles("admin")})
    event = http_v1("GET", "/", "/", stage="prod")
    event["path"] = event["requestContext"]["path"] = "/prod"  # the stage's root as sent
    assert route_path(Request.from_event(event)) == "/"
    assert status(table, event) == 200


def test_http_payload_1_0_behind_a_mapping_on_a_named_stage_reads_the_api_path() -> None:
    table = Routes({"GET /orders/{id}": authenticated(), "ANY /admin/{proxy+}": roles("admin")})
    event = rest_proxy("GET", "/orders/7", resource="/orders/{id}", path_params={"id": "7"},
                       stage="prod", token=ACME)  # fmt: skip
    event["version"] = "1.0"
    on_custom_domain(event, CUSTOM, base_path="v1")
    request = Request.from_event(event)
    assert request.kind is EventKind.REST_V1
    assert is_http_api(request)
    assert paths_of(request, table) == ["/orders/7"]
    assert status(table, event) == 200
    event = rest_proxy("GET", "/admin/x", resource="/{proxy+}", path_params={"proxy": "admin/x"},
                       stage="prod", token=ACME)  # fmt: skip
    event["version"] = "1.0"
    assert status(table, on_custom_domain(event, CUSTOM, base_path="v1")) == 403


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_normal_traffic_on_execute_api_and_custom_domains_is_admitted(kind: str) -> None:
    table = Routes(
        {
            "GET /orders/{id}": authenticated(),
            "GET /health": public(),
            "ANY /admin/{proxy+}": roles("admin"),
            "ANY /{proxy+}": authenticated(),
        }
    )
    for base in ("", "v1", "a/b"):
        for path, sent, expected in (
            ("/orders/7", {"token": ACME}, 200),
            ("/health", {}, 200),
            ("/admin/users", {"token": ACME}, 403),
            ("/admin/users", {"token": ADMIN}, 200),
            ("/misc", {"token": ACME}, 200),
        ):
            assert status(table, mapped(kind, path, base_path=base, **sent)) == expected
            assert status(table, on_execute_api(proxy(kind, path, **sent))) == expected
