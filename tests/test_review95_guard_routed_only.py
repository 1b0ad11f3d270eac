"""Review 95: a5a2db1 (under ``Routes(integration_per_route=True)`` ``guard_routes.paths_of`` reads
the route API Gateway ran alone, ``routed_path`` plus Powertools' ``app_path``, for events that name
it) attacked through the Guard (verify and trust mode), Powertools route guards and route limits:
REST, HTTP payloads 1.0 and 2.0; spellings of a literal (case, percent, ``;``); forged events
(``resource``/``routeKey`` against the path as sent, parameters missing, empty, holding ``/``,
``..`` or ``%2F``); custom-domain mappings; named stages; ``$default``; Function URL and ALB;
tenant rules on the table and on the guard; option on against off.

The finding is resolved (the tests assert it): under the option ``targets.ran_elsewhere`` holds a
REST event that names its route (``resource``) to it as it holds HTTP API events, so a forged
parameter, an unlisted route and a route named without its parameters are refused.

Held: every genuine spelling of a literal that runs the parameter route is refused for Eve (REST
reads the table's literal too, HTTP refuses "another route"); events naming no route (Function
URL, ALB, ``$default`` in both payloads) read the same paths with the option on and off; forged
parameters (empty, ``/`` in one segment, ``..``, ``%2F``) are refused; route limits still
count the path as sent (behind a mapping, on a named stage); a Powertools route guard still judges
the path its resolver routes on, so a forged ``resource`` naming a public route beside an admin
path is refused there, ``strip_prefixes`` included; tenant rules read the routed path's value
(another tenant refused behind a mapping, REST and HTTP, table rule and guard rule).

Note (by design, no finding): a forged event whose ``resource`` names a public route while its
``path`` names an admin one is admitted by a plain handler with the option on (refused off): the
option says nothing routes again on the path, and a direct invoker picks the function anyway.

Finding (low): REST events are never held to the route that ran. ``targets.ran_elsewhere``
returns at ``not request.path_decoded`` before the per-route check, and since a5a2db1 the path as
sent, which read the request as its own route, is no longer judged beside the routed path. So
(1) an event whose ``resource`` is ``/files/{id}`` (admin) with ``id`` = ``public`` is admitted by
``GET /files/public``'s rule (new in a5a2db1: option off, the option before it, and HTTP APIs
refuse; genuine only if REST ever passed a decoded parameter, as HTTP APIs do); (2) an API route
the table does not list (``GET /secret/{id}`` beside the table's ``GET /{a}/{b}``) is admitted,
verify and trust mode (older), though the docs promise "list every API route" and the commit reads
"the route API Gateway ran alone (REST and HTTP)"; (3) an event naming ``/files/{id}`` without
``pathParameters`` falls back to the path as sent, read as ``GET /files/{id}/public`` (older;
review 79 hardened HTTP alone). (1) and (3) are forged events: direct invoke only. The REST
payload names the route (``resource`` and the verb) as 1.0 does; ``_ran_as_listed`` could hold it
alike.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from guard_events import admitted
from test_review78_integration_per_route import EVE, MAPPER, VERIFIER, guard, v1_proxy
from test_review79_per_route_followups import DOMAIN, per_route, powertools_status
from test_review80_per_route_fallback import trust_guard
from test_review94_per_route_prefix import trusted_any

from secauth import Guard, RateLimiter, Routes
from secauth.access import authenticated, roles, tenant
from secauth.events import Request
from secauth.guard_routes import paths_of
from secauth.ratelimit import Limit, MemoryStore
from secauth.testing_events import alb, function_url, http_proxy, on_custom_domain, rest_proxy

A = authenticated()
ADMIN = roles("admin")
# The API: GET /files/{id} (admin backend) and GET /files/public (any caller).
FILES = {"GET /files/{id}": ADMIN, "GET /files/public": A}


def both_modes(routes: Routes, event: dict[str, Any]) -> tuple[str, str]:
    """What the verify-mode and the trust-mode Guard make of ``event``."""
    return admitted(guard(routes), event), admitted(trust_guard(routes), trusted_any(event))


def rest(path: str, resource: str, params: dict[str, str] | None = None) -> dict[str, Any]:
    return rest_proxy("GET", path, resource=resource, path_params=params, token=EVE)


def http(path: str, key: str, params: dict[str, str] | None = None) -> dict[str, Any]:
    return http_proxy("GET", path, route_key=key, path_params=params, token=EVE)


def refused(answers: tuple[str, str]) -> bool:
    return all(answer != "allow" for answer in answers)


# =========================================================================================
# Held
# =========================================================================================


@pytest.mark.parametrize("value", ["Public", "%70ublic", "public;x", "PUBLIC", "7"])
def test_spellings_of_a_literal_that_run_the_parameter_route_are_refused(value: str) -> None:
    """``/files/<value>`` runs ``GET /files/{id}`` (admin): refused for Eve, REST (parameters as
    sent: the table reads the literal too, both must allow) and HTTP (decoded: another route)."""
    routes = per_route(FILES)
    assert refused(both_modes(routes, rest(f"/files/{value}", "/files/{id}", {"id": value})))
    decoded = value.replace("%70", "p")
    assert refused(
        both_modes(routes, http(f"/files/{decoded}", "GET /files/{id}", {"id": decoded}))
    )
    v1 = v1_proxy("GET", f"/files/{decoded}", "/files/{id}", {"id": decoded})
    assert refused(both_modes(routes, v1))


def test_the_literal_route_itself_is_admitted() -> None:
    """Held (control): the route that ran allows Eve, REST and HTTP, verify and trust."""
    routes = per_route(FILES)
    assert both_modes(routes, rest("/files/public", "/files/public")) == ("allow", "allow")
    assert both_modes(routes, http("/files/public", "GET /files/public")) == ("allow", "allow")


def test_events_naming_no_route_read_as_with_the_option_off() -> None:
    """Function URL, ALB, and ``$default`` (payloads 2.0 and 1.0, behind a mapping): ``routed_path``
    is None, and ``paths_of`` reads the same paths with the option on and off."""
    auth = {"Authorization": f"Bearer {EVE}"}
    events = [
        function_url("GET", "/files/public", headers=auth),
        alb("GET", "/files/public", headers=auth),
        on_custom_domain(http_proxy("GET", "/files/public", token=EVE), DOMAIN, base_path="v1"),
        on_custom_domain(v1_proxy("GET", "/files/public", "$default"), DOMAIN, base_path="v1"),
        http_proxy("GET", "/prod/files/7", stage="prod", token=EVE),
    ]
    on, off = Routes(FILES, integration_per_route=True), Routes(FILES)
    for event in events:
        request = Request.from_event(event)
        assert paths_of(request, on) == paths_of(request, off)


@pytest.mark.parametrize(
    ("resource", "params"),
    [
        ("/files/{id}", {"id": ""}),  # empty: "/files/"
        ("/files/{id}", {"id": "a/public"}),  # "/" in one segment
        ("/files/{proxy+}", {"proxy": "x/../public"}),
        ("/files/{proxy+}", {"proxy": "x%2Fpublic"}),
        ("/files/{proxy+}", {"proxy": "x%2e%2e/public"}),
    ],
)
def test_forged_parameters_are_refused(resource: str, params: dict[str, str] | None) -> None:
    """A direct invoke's odd parameters (API Gateway sends none of these) never reach a rule that
    allows (parameters left out: the finding below). The table lists ``ANY /files/{proxy+}``
    (admin) and ``GET /files/{id}/public``."""
    routes = per_route({"ANY /files/{proxy+}": ADMIN, "GET /files/{id}/public": A, **FILES})
    assert refused(both_modes(routes, rest("/files/x/public", resource, params)))
    assert refused(both_modes(routes, http("/files/x/public", f"ANY {resource}", params)))


def test_route_limits_still_count_the_path_as_sent() -> None:
    """The mapping's prefix and a named stage are no reading any more, but a route limit keyed on
    the path as sent (``/v1/...``, ``/prod/...``) still counts the request: a limit only refuses."""
    limiter = RateLimiter.per_ip(Limit(1, 60), store=MemoryStore())
    routes = per_route({"GET /files/{id}": A, "GET /v1/files/{id}": A, "GET /prod/files/{id}": A})
    g = Guard(None, routes=routes, route_limits={"GET /v1/files/{id}": limiter}, decision_log=None)
    mapped = on_custom_domain(rest("/files/7", "/files/{id}", {"id": "7"}), DOMAIN, base_path="v1")
    assert limiter in g.limits_for(Request.from_event(mapped))
    staged = Guard(
        None, routes=routes, route_limits={"GET /prod/files/{id}": limiter}, decision_log=None
    )
    event = http_proxy("GET", "/prod/files/7", route_key="GET /files/{id}", path_params={"id": "7"},
                       stage="prod", token=EVE)  # fmt: skip
    assert paths_of(Request.from_event(event), routes) == ["/files/7"]
    assert limiter in staged.limits_for(Request.from_event(event))


def test_powertools_route_guards_judge_the_path_the_resolver_routes_on() -> None:
    """A forged ``resource`` naming the public route beside the admin path ``/files/7``: the REST
    resolver routes on ``/files/7``, which its guard judges too (403). Behind a mapping, its
    ``strip_prefixes`` reading allows; without it the prefixed path has no route (a known false
    refusal, fail closed)."""
    routes = per_route(FILES)
    forged = rest("/files/7", "/files/public")
    assert powertools_status(guard(routes), forged) == 403
    mapped = on_custom_domain(rest("/files/public", "/files/public"), DOMAIN, base_path="v1")
    assert powertools_status(guard(routes), mapped, strip=["/v1"]) == 200
    assert powertools_status(guard(routes), mapped) == 403
    # the app's reading holds a forged event on the HTTP resolver as well
    assert powertools_status(guard(routes), http("/files/7", "GET /files/public")) == 403


@pytest.mark.parametrize("value", ["globex", "%67lobex", "Acme", "acme;x"])
def test_tenant_rules_read_the_routed_value(value: str) -> None:
    """Eve (tenant acme) behind the mapping ``v1``: another tenant's spelling is refused, table
    rule and guard rule, REST (as sent) and HTTP (decoded); her own tenant is admitted."""
    table = per_route({"GET /t/{tenant}/orders": tenant(path="tenant")})
    loose = per_route({"GET /t/{tenant}/orders": A})
    ruled = Guard(VERIFIER, routes=loose, claims=MAPPER, decision_log=None).require(
        tenant(path="tenant")
    )
    for name in (value, "acme"):
        decoded = name.replace("%67", "g")
        events = [
            on_custom_domain(
                rest(f"/t/{name}/orders", "/t/{tenant}/orders", {"tenant": name}),
                DOMAIN,
                base_path="v1",
            ),
            on_custom_domain(
                http(f"/t/{decoded}/orders", "GET /t/{tenant}/orders", {"tenant": decoded}),
                DOMAIN,
                base_path="v1",
            ),
        ]
        for event in events:
            answers = (*both_modes(table, event), admitted(ruled, copy.deepcopy(event)))
            if name == "acme":
                assert answers == ("allow",) * 3
            else:
                assert all(answer != "allow" for answer in answers), (name, answers)


def test_option_off_still_judges_the_path_as_sent() -> None:
    """Held (control): without the option the path as sent is a reading, so the forged event of
    the first finding is refused (the unlisted route of the second reads alike on and off)."""
    off = Routes(FILES)
    assert refused(both_modes(off, rest("/files/7", "/files/{id}", {"id": "public"})))


# =========================================================================================
# Finding (low): REST events are not held to the route that ran
# =========================================================================================


# fmt: off
def test_a_rest_event_is_held_to_the_route_its_resource_names() -> None:
    """The event names ``/files/{id}`` (admin) as the route that ran; its parameter spells the
    literal. HTTP refuses ("another route"), option off refuses (the path as sent); REST under
    the option reads ``/files/public`` alone and admits Eve."""
    routes = per_route(FILES)
    assert refused(both_modes(routes, http("/files/7", "GET /files/{id}", {"id": "public"})))
    assert refused(both_modes(routes, rest("/files/7", "/files/{id}", {"id": "public"})))


def test_an_unlisted_rest_route_is_refused() -> None:
    """API route ``GET /secret/{id}`` (the table does not list it) beside the table's
    ``GET /{a}/{b}``: the HTTP API request is refused (``_UNLISTED``), the REST one admitted."""
    routes = per_route({"GET /{a}/{b}": A})
    assert refused(both_modes(routes, http("/secret/7", "GET /secret/{id}", {"id": "7"})))
    assert refused(both_modes(routes, rest("/secret/7", "/secret/{id}", {"id": "7"})))


def test_a_rest_event_naming_a_route_without_its_parameters_is_refused() -> None:
    """Review 79's hardening, HTTP only: ``resource`` ``/files/{id}`` with no ``pathParameters``
    falls back to the path as sent, ``/files/x/public``, read as ``GET /files/{id}/public``."""
    routes = per_route({"GET /files/{id}/public": A, **FILES})
    assert refused(both_modes(routes, http("/files/x/public", "GET /files/{id}")))
    assert refused(both_modes(routes, rest("/files/x/public", "/files/{id}")))
# fmt: on
