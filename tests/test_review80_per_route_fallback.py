"""Review 80: the premise of 10ac41b attacked. Under ``Routes(integration_per_route=True)``
``secauth.targets._ran_as_listed`` answers ``""`` (fall back to the lenient check) for a
path that is not the routed path behind a prefix, or that has a prefix while the table
lists the route without it, "because the routed path is then also among the Guard's path
readings and is held to the route". Checked against every reading ``paths_of`` makes
(custom-domain prefix branches, named stages, Powertools ``strip_prefixes``, payloads 1.0
and 2.0, trust mode), the Authorizer (ARN path, ``also``, ``api=``), tables listing a
route with and without the prefix, case/percent variants, HEAD/GET/ANY.

Model of API Gateway (HTTP APIs) as the project writes it (tests/api_gateway_model.py):
routes selected on the path as sent, path and parameters decoded once; behind a custom
domain's API mapping the path keeps the mapping's prefix, the route and its parameters do
not. A request for the mapping's root may be sent with or without the trailing slash
(``https://api.example.com/v1`` or ``.../v1/``); both run the API's ``/`` route.

Finding (medium, fixed: the root's prefix is the path less a trailing ``/``): behind an
API mapping, the API's root route (``GET /``, ``ANY /``) is not refused when the table
does not list it. For ``rawPath`` ``/v1`` the routed path is ``/``,
``"/v1".endswith("/")`` is false, so ``_ran_as_listed`` answers ``""`` and the lenient
check returns False for the same reason; ``paths_of`` takes its "table written with the
prefix" branch (``/v1`` has a table route, ``/`` has none), so the routed path ``/`` is
never read. The table's ``GET /{name}`` or ``ANY /{proxy+}`` decides the request, and the
root route's integration runs. On the execute-api endpoint, with ``/v1/``, or for any
other unlisted route behind the mapping, the request is refused, as docs/authorizer.md
promises.

Finding (low, hardening, fixed: every path the Authorizer decides is held): the Authorizer
holds only the ARN path's readings to the route that ran; the routed path
(``Target.also``) is decided but never checked against it, so an ARN path with a prefix
(which the premise answers ``""`` for) lets the routed path read as another route. API
Gateway's HTTP API route ARNs carry no base path: hardening only.

Finding (low, false refusal; kept and documented, it fails closed): a ``$default`` request
behind an API mapping is decided on the path with the mapping's prefix; when a table
written without the prefix reads that path as one of its routes, the request is refused
("another route") though its default rule allows it (allowed with the option off). Real
objects, no mocks.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import unquote

import pytest
from api_gateway_model import api_gateway_route, model_requests
from guard_events import admitted
from test_review78_integration_per_route import (
    ADA,
    DEFAULT_ARN,
    EVE,
    EVE_PRINCIPAL,
    MAPPER,
    VERIFIER,
    authorizer,
    effect,
    guard,
    ran_route_allows,
    v1_proxy,
)
from test_review79_per_route_followups import (
    DOMAIN,
    FILES,
    mapped_v1,
    mapped_v2,
    per_route,
    powertools_status,
    prefixed,
)

from secauth import Authorizer, Guard, Routes
from secauth.access import authenticated, roles, tenant
from secauth.events import Request
from secauth.guard_routes import paths_of
from secauth.targets import _ran_as_listed, route_template, routed_path
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    http_proxy,
    on_custom_domain,
)
from secauth.testing_policy import iam_allows

A = authenticated()
CONTEXT = EVE_PRINCIPAL.to_context()

# The API behind the mapping v1: GET / (an admin dashboard, its own integration) and
# ANY /{proxy+} (any caller). The table forgot GET / ({proxy+} never matches "/").
ROOT_GAP = {"ANY /{proxy+}": A}
ROOT_GAP_API = ["GET /", "ANY /{proxy+}"]


def root_v2(raw: str, token: str | None = EVE, key: str = "GET /") -> dict[str, Any]:
    """``GET https://api.example.com{raw}`` (mapping v1) running the API's root route, 2.0."""
    event = on_custom_domain(http_proxy("GET", "/", route_key=key, token=token), DOMAIN, base_path="v1")
    event["rawPath"] = event["requestContext"]["http"]["path"] = raw
    return event


def root_v1(raw: str, token: str = EVE) -> dict[str, Any]:
    """The same request in payload 1.0."""
    event = on_custom_domain(v1_proxy("GET", "/", "/", None, token=token), DOMAIN, base_path="v1")
    event["path"] = event["requestContext"]["path"] = raw
    return event


def trusted(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` as a trust-mode Guard receives it: Eve's context from the authorizer."""
    event = copy.deepcopy(event)
    event["headers"].pop("authorization", None)
    event["requestContext"]["authorizer"] = {"lambda": dict(CONTEXT)}
    return event


def trust_guard(routes: Routes) -> Guard:
    return Guard(None, routes=routes, trust_authorizer=True, decision_log=None)


# =========================================================================================
# Finding (medium): the root route is not refused behind an API mapping
# =========================================================================================


def test_an_unlisted_root_route_is_refused_behind_the_mapping() -> None:
    """Eve sends ``GET https://api.example.com/v1``: API Gateway runs ``GET /`` (admin
    dashboard), which the table does not list; the Guard (payloads 2.0 and 1.0), a
    trust-mode Guard and Powertools middleware decide it as ``ANY /{proxy+}``."""
    routes = per_route(ROOT_GAP)
    over = []
    if admitted(guard(routes), root_v2("/v1")) == "allow":
        over.append("guard v2")
    if admitted(guard(routes), root_v1("/v1")) == "allow":
        over.append("guard v1")
    if admitted(trust_guard(routes), trusted(root_v2("/v1", token=None))) == "allow":
        over.append("trust v2")
    if powertools_status(guard(routes), root_v2("/v1")) == 200:
        over.append("powertools v2")
    assert over == []


def test_control_the_root_gap_is_refused_everywhere_else() -> None:
    """Held (control): the same gap is refused on the execute-api endpoint (Guard, and
    the Authorizer in both payloads, whose route ARN names ``/``), behind the mapping when
    the root is sent as ``/v1/``, and by Powertools with ``strip_prefixes=["/v1"]`` (its
    application path ``/`` is read too; 404: the route that ran is not in the table)."""
    routes = per_route(ROOT_GAP)
    assert admitted(guard(routes), http_proxy("GET", "/", route_key="GET /", token=EVE)) != "allow"
    assert admitted(guard(routes), v1_proxy("GET", "/", "/", None)) != "allow"
    auth = authorizer(routes)
    assert effect(auth.handler(http_authorizer_v2("GET", "/", route_key="GET /", token=EVE))) == "Deny"
    assert effect(auth.handler(http_authorizer_v1("GET", "/", resource="/", token=EVE))) == "Deny"
    assert admitted(guard(routes), root_v2("/v1/")) != "allow"
    assert admitted(guard(routes), root_v1("/v1/")) != "allow"
    assert powertools_status(guard(routes), root_v2("/v1"), strip=["/v1"]) == 404


def test_a_listed_root_route_is_held_to_its_rule_behind_the_mapping() -> None:
    """Held: when the table lists the root route (``GET /``), Eve is refused and Ada
    admitted at ``/v1`` and ``/v1/``. Since the review-82 fix, a per-route table is read as
    the API's routes alone: one written with the mapping's prefix refuses behind the mapping
    (fail closed)."""
    plain = per_route({"GET /": roles("admin"), **ROOT_GAP})
    for raw in ("/v1", "/v1/"):
        assert admitted(guard(plain), root_v2(raw)) != "allow"
        assert admitted(guard(plain), root_v1(raw)) != "allow"
        assert admitted(guard(plain), root_v2(raw, ADA)) == "allow"
    with_prefix = {"GET /v1": roles("admin"), "ANY /v1/{proxy+}": A}
    assert admitted(guard(per_route(with_prefix)), root_v2("/v1")) != "allow"
    for raw in ("/v1", "/v1/"):
        assert admitted(guard(per_route(with_prefix)), root_v2(raw, ADA)) != "allow"


# =========================================================================================
# Held: the premise of 10ac41b everywhere but the root route
# =========================================================================================

# Tables written without the prefix, each missing some API routes (the gaps: refused).
GAP_TABLES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "files": ({**FILES, "GET /users/{id}": roles("admin"), "GET /users/me": A, "GET /{v}/files/{id}": A,
               "GET /{v}/users/{id}": A},
              ["GET /files/{id}", "POST /files/{id}/public", "GET /users/{id}/keys"]),
    "root proxy": ({"ANY /{proxy+}": roles("admin"), "GET /a/{x}": A, "GET /{x}/b": A,
                    "GET /{v}/a/{x}": A},
                   ["GET /a/{x}/c", "ANY /a"]),
    "tenant": ({"GET /t/{tid}/{proxy+}": tenant(path="tid"), "GET /t/{tid}/pub": A,
                "GET /{x}": A, "GET /{v}/t/{tid}": A}, ["ANY /t/{tid}", "GET /t/{tid}/admin"]),
}  # fmt: skip
GAP_VALUES = ["7", "me", "M%45", "x%2Fpublic", "acme", "%61cme", "pub", "P%55B", "v1"]


def _literals(keys: list[str]) -> list[str]:
    return sorted({s for k in keys for s in k.partition(" ")[2].strip("/").split("/")
                   if s and not s.startswith("{")})  # fmt: skip


def _mapped_events(method: str, sent: str, key: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """The request behind the mapping v1, payloads 2.0 and 1.0 (the root: ``/v1`` too)."""
    path, template = unquote(sent), key.partition(" ")[2]
    events = [mapped_v2(method, path, key, params or None), mapped_v1(method, path, template, params or None)]
    if path == "/":
        events += [root_v2("/v1", key=key)]
    return events


def test_a_fallback_reading_always_has_the_routed_path_beside_it() -> None:
    """Held (the premise, but for the API's root route: the medium finding): for every
    request behind the mapping (both payloads, case and percent variants, an encoded
    ``/``; each gap table written with and without the prefix), whenever
    ``_ran_as_listed`` answers ``""`` for one of the Guard's path readings, the routed
    path is a reading too, and is strictly held (not ``""``). Since review 94 the Guard
    reads the routed path alone under the option, so no reading falls back at all."""
    broken, fallbacks = [], 0
    for spec, gaps in GAP_TABLES.values():
        keys = list(spec) + gaps
        for routes in (per_route(spec), per_route(prefixed(spec))):
            for method, sent, key, params in model_requests(keys, _literals(keys) + GAP_VALUES,
                                                            has_default=False):  # fmt: skip
                if key.partition(" ")[2] == "/":
                    continue  # the finding
                for event in _mapped_events(method, sent, key, params):
                    request = Request.from_event(event)
                    template, routed = route_template(request), routed_path(request)
                    paths = paths_of(request, routes)
                    answers = {p: _ran_as_listed(routes, request, method, p, template, routed) for p in paths}
                    if "" in answers.values():
                        fallbacks += 1
                        if routed not in answers or answers[routed] == "":
                            broken.append((method, sent, key, paths))
    assert broken == []
    assert fallbacks == 0


@pytest.mark.parametrize("written", ["without the prefix", "with the prefix"])
@pytest.mark.parametrize("name", list(GAP_TABLES))
def test_no_integration_runs_that_its_route_or_a_gap_denies_behind_the_mapping(name: str,
                                                                              written: str) -> None:
    """Held (but for the root route): behind the mapping v1, the table written with and
    without the prefix and missing some API routes, the Guard and a trust-mode Guard
    allow a request only when the table lists the route that ran and its rule allows."""
    spec, gaps = GAP_TABLES[name]
    routes = per_route(prefixed(spec) if written == "with the prefix" else spec)
    verify, trust, keys = guard(routes), trust_guard(routes), list(spec) + gaps
    over, checked = [], 0
    for method, sent, key, params in model_requests(keys, _literals(keys) + GAP_VALUES, has_default=False):
        if key.partition(" ")[2] == "/":
            continue  # the finding
        expected = key in spec and ran_route_allows(spec, None, key, method, params)
        for event in _mapped_events(method, sent, key, params):
            checked += 1
            for g, sent_event in ((verify, event), (trust, trusted(event))):
                if admitted(g, sent_event) == "allow" and not expected:
                    over.append((event.get("version"), method, sent, key))
    assert over == []
    assert checked > 500


# =========================================================================================
# Finding (low, hardening): the Authorizer's routed path is not held to the route
# =========================================================================================


def _prefixed_arn_event(token: str = EVE) -> dict[str, Any]:
    """``GET /files/x%2Fpublic`` (runs the admin-only ``ANY /files/{proxy+}``) with a route
    ARN whose path carries the base path ``/v1`` (API Gateway's HTTP API ARNs never do)."""
    event = http_authorizer_v2("GET", "/files/x/public", route_key="ANY /files/{proxy+}",
                               path_params={"proxy": "x/public"}, token=token)  # fmt: skip
    event["routeArn"] = event["routeArn"].replace("/GET/files/", "/GET/v1/files/")
    return event


def test_the_authorizer_holds_the_routed_path_to_the_route_that_ran() -> None:
    """The table lists the proxy route without the prefix (the premise's "" case) and a
    catch-all reads the ARN path; the routed path ``/files/x/public`` reads as the
    permissive ``GET /files/{id}/public`` and is only decided, never checked."""
    routes = per_route({**FILES, "ANY /{proxy+}": A})
    assert effect(authorizer(routes).handler(_prefixed_arn_event())) == "Deny"


def test_the_authorizer_with_real_route_arns_is_held_to_the_route() -> None:
    """Held: with the ARNs API Gateway sends (no base path), the same table refuses the
    shifted request in both payloads, fresh and memoized (each answered twice), and Ada
    (whom the proxy route allows) passes on a path that reads as it."""
    routes = per_route({**FILES, "ANY /{proxy+}": A})
    memo = Authorizer(VERIFIER, routes=routes, claims=MAPPER, decision_log=None, response_cache_size=64)
    v2 = http_authorizer_v2("GET", "/files/x/public", route_key="ANY /files/{proxy+}",
                            path_params={"proxy": "x/public"}, token=EVE)  # fmt: skip
    v1 = http_authorizer_v1("GET", "/files/x/public", resource="/files/{proxy+}",
                            path_params={"proxy": "x/public"}, token=EVE)  # fmt: skip
    for event in (v2, v1):
        assert effect(authorizer(routes).handler(copy.deepcopy(event))) == "Deny"
        assert [effect(memo.handler(copy.deepcopy(event))) for _ in range(2)] == ["Deny", "Deny"]
    ada = http_authorizer_v2("GET", "/files/a/b", route_key="ANY /files/{proxy+}",
                             path_params={"proxy": "a/b"}, token=ADA)  # fmt: skip
    answer = authorizer(routes).handler(ada)
    assert effect(answer) == "Allow"
    assert iam_allows(answer, ada["routeArn"])


def test_api_override_does_not_turn_the_check_off() -> None:
    """Held: ``api="rest"`` (payload 1.0 events read as REST REQUEST ones) keeps the
    check (the event's ``version`` still says the path is decoded): the shifted request
    and payload 1.0's ``$default`` request read as a table route are refused."""
    routes = per_route(FILES, default=roles("admin"))
    rest = Authorizer(VERIFIER, routes=routes, claims=MAPPER, decision_log=None,
                      response_cache_size=0, api="rest")  # fmt: skip
    shifted = http_authorizer_v1("GET", "/files/x/public", resource="/files/{proxy+}",
                                 path_params={"proxy": "x/public"}, token=EVE)  # fmt: skip
    assert effect(rest.handler(shifted)) == "Deny"
    default = http_authorizer_v1("GET", "/files/x/public", resource="$default", token=EVE)
    default["methodArn"] = DEFAULT_ARN
    assert effect(rest.handler(default)) == "Deny"


# =========================================================================================
# Held: tables listing a route with and without the prefix; variants; verbs
# =========================================================================================


def test_a_route_listed_with_and_without_the_prefix_is_held_to_the_one_that_ran() -> None:
    """Held: the API has ``GET /files/{id}`` and ``GET /v1/files/{id}`` (one admin-only,
    the other any caller, both ways round); behind the mapping v1 Eve never runs the
    admin-only one, in either payload."""
    for admin_route, open_route in (("GET /files/{id}", "GET /v1/files/{id}"),
                                    ("GET /v1/files/{id}", "GET /files/{id}")):  # fmt: skip
        routes = per_route({admin_route: roles("admin"), open_route: A})
        template = admin_route.partition(" ")[2]
        path = template.replace("{id}", "7")
        assert admitted(guard(routes), mapped_v2("GET", path, admin_route, {"id": "7"})) != "allow"
        assert admitted(guard(routes), mapped_v1("GET", path, template, {"id": "7"})) != "allow"


def test_case_and_percent_variants_of_a_literal_are_held_to_the_route_that_ran() -> None:
    """Held: ``GET /files/PUBLIC`` and ``GET /files/p%75blic`` run ``GET /files/{id}``
    (admin-only: API Gateway's literals are case- and spelling-exact); the table reads
    both as ``GET /files/public`` too. Refused behind the mapping (table with and without
    the prefix) and on a named stage, in both payloads."""
    spec = {"GET /files/public": A, "GET /files/{id}": roles("admin")}
    for routes in (per_route(spec), per_route(prefixed(spec))):
        for sent in ("/files/PUBLIC", "/files/p%75blic"):
            path, params = unquote(sent), {"id": unquote(sent)[7:]}
            assert api_gateway_route(list(spec), "GET", sent) == ("GET /files/{id}", params)
            events = [mapped_v2("GET", path, "GET /files/{id}", params),
                      mapped_v1("GET", path, "/files/{id}", params),
                      http_proxy("GET", path, route_key="GET /files/{id}", path_params=params,
                                 stage="prod", token=EVE)]  # fmt: skip
            assert [admitted(guard(routes), e) == "allow" for e in events] == [False] * 3


def test_head_requests_are_held_to_the_route_that_ran() -> None:
    """Held: HEAD on ``/files/x/public`` runs ``ANY /files/{proxy+}`` (no HEAD route):
    refused for Eve in both payloads and by the Authorizer; named as ``GET /files/{id}/public``
    (were API Gateway to run GET routes for HEAD), still refused: never more than the table's
    HEAD reading allows."""
    routes = per_route(FILES)
    proxy = {"proxy": "x/public"}
    assert admitted(guard(routes), http_proxy("HEAD", "/files/x/public", route_key="ANY /files/{proxy+}",
                                              path_params=proxy, token=EVE)) != "allow"  # fmt: skip
    assert admitted(guard(routes), v1_proxy("HEAD", "/files/x/public", "/files/{proxy+}", proxy)) != "allow"
    named_get = v1_proxy("HEAD", "/files/x/public", "/files/{id}/public", {"id": "x"})
    assert admitted(guard(routes), named_get) != "allow"
    as_get = http_proxy("HEAD", "/files/x/public", route_key="GET /files/{id}/public",
                        path_params={"id": "x"}, token=EVE)  # fmt: skip
    assert admitted(guard(routes), as_get) != "allow"
    event = http_authorizer_v2("HEAD", "/files/x/public", route_key="ANY /files/{proxy+}",
                               path_params=proxy, token=EVE)  # fmt: skip
    assert effect(authorizer(routes).handler(event)) == "Deny"


def test_strip_prefixes_and_named_stages_only_add_readings() -> None:
    """Held: Powertools ``strip_prefixes`` (its application path answers ``""``) and a
    named stage whose name is a table literal (the path as sent answers ``""``) only add
    readings: the shifted request is refused on the stage ``v1`` with a table written with
    ``/v1`` and without it, and behind the mapping with ``strip_prefixes=["/v1/files"]``."""
    for spec in (FILES, {**FILES, **prefixed(FILES)}):
        routes = per_route(spec)
        staged = http_proxy("GET", "/files/x/public", route_key="ANY /files/{proxy+}",
                            path_params={"proxy": "x/public"}, stage="v1", token=EVE)  # fmt: skip
        assert admitted(guard(routes), staged) != "allow"
        assert powertools_status(guard(routes), staged, strip=["/v1"]) == 403
        mapped = mapped_v2("GET", "/files/x/public", "ANY /files/{proxy+}", {"proxy": "x/public"})
        assert powertools_status(guard(routes), mapped, strip=["/v1/files"]) == 403


# =========================================================================================
# Finding (low, false refusal; documented, kept: it fails closed): $default behind a
# mapping, table without the prefix
# =========================================================================================


def test_a_default_request_behind_the_mapping_that_reads_as_a_route_is_refused() -> None:
    """``GET https://api.example.com/v1/x``: the API (``GET /{a}/{b}``) has no route for
    ``/x``, so ``$default`` runs, whose rule allows Eve; the Guard reads ``/v1/x`` as
    ``GET /{a}/{b}`` and refuses (403). A ``$default`` event names no route, so the
    mapping's prefix cannot be told from the path: the Guard fails closed, as
    docs/authorizer.md says. Without the option the default rule decides."""
    routes = per_route({"GET /{a}/{b}": A}, default=A)
    assert api_gateway_route(["GET /{a}/{b}"], "GET", "/x") is None
    event = on_custom_domain(http_proxy("GET", "/x", route_key="$default", token=EVE), DOMAIN, base_path="v1")
    assert admitted(guard(routes), event) != "allow"
    assert admitted(guard(Routes({"GET /{a}/{b}": A}, default=A)), event) == "allow"


def test_default_requests_behind_the_mapping_are_never_over_allowed() -> None:
    """Held: the same layout with an admin-only default rule: Eve's ``$default`` requests
    behind the mapping (payloads 2.0 and 1.0) are refused whatever the table reads."""
    routes = per_route({"GET /{a}/{b}": A, "ANY /{proxy+}": A}, default=roles("admin"))
    v2 = on_custom_domain(http_proxy("GET", "/x", route_key="$default", token=EVE), DOMAIN, base_path="v1")
    v1 = mapped_v1("GET", "/x", "$default", None)
    v1["pathParameters"] = None
    assert [admitted(guard(routes), e) == "allow" for e in (v2, v1)] == [False, False]


# =========================================================================================
# Held: the option off is unchanged
# =========================================================================================


def test_option_off_is_the_lambdalith_behaviour() -> None:
    """Held: without the option the root request behind the mapping, the shifted request
    and a ``$default`` request read as a table route are all decided on the path the
    table reads (a Lambdalith routes it again): allowed for Eve where that reading allows;
    ``integration_per_route=False`` is the default and decides alike."""
    for lambdalith in (Routes(ROOT_GAP), Routes(ROOT_GAP, integration_per_route=False)):
        assert lambdalith.integration_per_route is False
        assert admitted(guard(lambdalith), root_v2("/v1")) == "allow"
    files = Routes(FILES, default=A)
    shifted = http_proxy("GET", "/files/x/public", route_key="ANY /files/{proxy+}",
                         path_params={"proxy": "x/public"}, token=EVE)  # fmt: skip
    assert admitted(guard(files), shifted) == "allow"
    default = on_custom_domain(http_proxy("GET", "/x", route_key="$default", token=EVE), DOMAIN,
                               base_path="v1")  # fmt: skip
    assert admitted(guard(Routes({"GET /{a}/{b}": A}, default=A)), default) == "allow"
    auth = authorizer(Routes(FILES))
    event = http_authorizer_v2("GET", "/files/x/public", route_key="ANY /files/{proxy+}",
                               path_params={"proxy": "x/public"}, token=EVE)  # fmt: skip
    assert effect(auth.handler(event)) == "Allow"
