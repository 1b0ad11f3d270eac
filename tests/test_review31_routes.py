"""Review 31: an attack on review 30's readings (``guard_routes._has_route`` asking every
reading via ``routes.table.lookup``, ``_beyond_catch_all`` looping over every reading).

Findings are ``xfail(strict=True)`` tests asserting the correct behaviour; attacks that held
are plain regression tests. Real objects and events (``secauth.testing_events``); no mocks.
"""

from __future__ import annotations

from typing import Any

import pytest
from guard_callers import ACME, ADMIN, CUSTOM, status

from secauth import Routes
from secauth.access import authenticated, public, roles
from secauth.events import Request
from secauth.guard_routes import paths_of
from secauth.testing_events import http_proxy, on_custom_domain, rest_proxy


def mapped(kind: str, path: str, method: str = "GET", **sent: Any) -> dict[str, Any]:
    params = {"proxy": path[1:]}
    if kind == "rest":
        event = rest_proxy(method, path, resource="/{proxy+}", path_params=params, **sent)
    else:
        event = http_proxy(method, path, route_key="ANY /{proxy+}", path_params=params, **sent)
    return on_custom_domain(event, CUSTOM, base_path="v1")


# -- F1 (low/medium, over-allow): ``_has_route(routed)`` asks only the request's verb. A
# routed path the table lists under another verb (``GET /admin/users``) "has no route" for
# POST, so a prefixed ``ANY /v1/{proxy+}`` alone decides and admits an unlisted
# ``POST /admin/users`` (review 30's test covered only a GET-only prefixed route).
OTHER_VERB = Routes({"GET /admin/users": roles("admin"), "ANY /v1/{proxy+}": authenticated()})


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_an_unlisted_verb_on_a_listed_routed_path_is_not_decided_by_the_prefix(kind: str) -> None:
    assert status(OTHER_VERB, mapped(kind, "/admin/users", "POST", token=ACME)) in (403, 405)


# =============================================================================================
# HELD
# =============================================================================================

MIXED = Routes({"ANY /admin/{proxy+}": roles("admin"), "ANY /v1/{proxy+}": authenticated()})


@pytest.mark.parametrize("kind", ["rest", "http"])
@pytest.mark.parametrize("path", ["/%61dmin/users", "/Admin/users", "/ADMIN/users"])
def test_percent_and_case_variants_of_a_routed_admin_literal_are_refused(
    kind: str, path: str
) -> None:
    assert status(MIXED, mapped(kind, path, token=ACME)) in (403, 404)


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_a_default_does_not_hide_the_admin_reading_of_a_routed_path(kind: str) -> None:
    table = Routes(
        {"ANY /v1/{proxy+}": authenticated(), "ANY /admin/{proxy+}": roles("admin")},
        default=public(),
    )
    assert status(table, mapped(kind, "/ADMIN/users", token=ACME)) == 403
    assert status(table, mapped(kind, "/ADMIN/users", token=ADMIN)) == 200


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_a_prefixed_case_variant_reached_only_by_another_reading_still_sees_the_default(
    kind: str,
) -> None:
    table = Routes({"GET /v1/Orders": public()}, default=roles("admin"))
    assert status(table, mapped(kind, "/orders", token=ACME)) == 403
    assert status(table, mapped(kind, "/orders", token=ADMIN)) == 200


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_normal_traffic_behind_a_mapping_is_admitted(kind: str) -> None:
    assert status(MIXED, mapped(kind, "/orders/7", token=ACME)) == 200
    assert status(MIXED, mapped(kind, "/admin/users", token=ADMIN)) == 200
    assert status(MIXED, mapped(kind, "/admin/users", token=ACME)) == 403


def test_the_root_behind_a_mapping_does_not_crash() -> None:
    table = Routes({"ANY /{proxy+}": authenticated(), "GET /": public()})
    event = on_custom_domain(
        rest_proxy("GET", "/", resource="/", path_params={}, token=ACME), CUSTOM, base_path="v1"
    )
    assert paths_of(Request.from_event(event), table) == ["/"]
    assert status(table, event) == 200


def test_a_slash_in_a_single_segment_parameter_is_refused() -> None:
    table = Routes({"GET /a/{id}": public(), "ANY /v1/{proxy+}": public()})
    event = rest_proxy("GET", "/a/x%2Fy", resource="/a/{id}", path_params={"id": "x/y"}, token=ACME)
    event = on_custom_domain(event, CUSTOM, base_path="v1")
    assert "" in paths_of(Request.from_event(event), table)
    assert status(table, event) in (403, 404)
