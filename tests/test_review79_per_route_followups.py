"""Review 79: ``Routes(integration_per_route=True)`` after review 78's fix (21d7035: payload
1.0 ``$default`` named by ``resource``; an HTTP API event naming no readable route refused)
attacked again: both payloads, the Authorizer (fresh, memo, per-route result cache), the
Guard (verify and trust mode), Powertools middleware, named stages, custom domains with
tables written with and without the base path, odd ``$default`` spellings, and the ``""``
fallbacks of ``secauth.targets._ran_as_listed``.

Model of API Gateway (HTTP APIs) as the project writes it (tests/api_gateway_model.py):
routes selected on the path as sent, parameters and paths decoded once; the method/route
ARN names the API's own path (no base path); behind a custom domain's API mapping the
event's path keeps the mapping's prefix, the route and its parameters do not; payload
1.0's ``path`` starts with a named stage on the execute-api endpoint.

Finding (medium, fixed): behind a base-path mapping with the table written with the mapping's
prefix (a layout ``guard_routes.paths_of`` supports), an API route the table does not
list is not refused: ``_ran_as_listed`` answers ``""`` (a prefix the table spells no route
with), the lenient check skips ``{proxy+}`` routes, and the routed path (which would be
refused) is not among the Guard's paths. Without the mapping the same table gap is refused
(``_UNLISTED``), as docs/authorizer.md promises. Fixed: a prefixed path falls back only
when the table lists the route without the prefix (then the routed path is judged too).

Finding (low, hardening, fixed): an event naming a route whose parameters it does not carry
falls into the same lenient ``""`` fallback instead of failing closed like an event
naming no route. Real objects, no mocks.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any
from urllib.parse import unquote

import pytest
from api_gateway_model import api_gateway_route, model_requests
from guard_events import admitted
from test_review78_integration_per_route import (
    ADA,
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

from secauth import Authorizer, Guard, Routes
from secauth.access import authenticated, public, roles, tenant
from secauth.routing import LITERAL, parse_route_key
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    http_proxy,
    on_custom_domain,
)
from secauth.testing_policy import iam_allows

A = authenticated()
DOMAIN = "api.example.com"
ACCOUNT_API = "arn:aws:execute-api:us-east-1:123456789012:abcdef123"
CONTEXT = EVE_PRINCIPAL.to_context()

# The API (API-relative routes): the admin backend behind ANY /files/{proxy+}, and
# GET /files/{id}/public for any caller. GET /files/x%2Fpublic runs the admin backend.
FILES = {"ANY /files/{proxy+}": roles("admin"), "GET /files/{id}/public": A}


def per_route(table: dict[str, Any], default: Any = None) -> Routes:
    return Routes(table, default=default, integration_per_route=True)


def prefixed(table: dict[str, Any], prefix: str = "/v1") -> dict[str, Any]:
    """``table`` written with a base-path mapping's prefix."""
    return {k.partition(" ")[0] + " " + prefix + k.partition(" ")[2]: r for k, r in table.items()}


def mapped_v2(method: str, path: str, key: str, params: dict[str, str] | None,
              token: str | None = EVE) -> dict[str, Any]:  # fmt: skip
    """Payload 2.0 on the custom domain, API mapping ``v1``."""
    event = http_proxy(method, path, route_key=key, path_params=params, token=token)
    return on_custom_domain(event, DOMAIN, base_path="v1")


def mapped_v1(method: str, path: str, template: str, params: dict[str, str] | None) -> dict[str, Any]:
    """Payload 1.0 on the custom domain, API mapping ``v1``."""
    return on_custom_domain(v1_proxy(method, path, template, params), DOMAIN, base_path="v1")


def shifted_v2(token: str = EVE) -> dict[str, Any]:
    """GET /files/x%2Fpublic as the function behind ANY /files/{proxy+} receives it."""
    return http_proxy("GET", "/files/x/public", route_key="ANY /files/{proxy+}",
                      path_params={"proxy": "x/public"}, token=token)  # fmt: skip


def shifted_authorizer_v2(token: str = EVE) -> dict[str, Any]:
    return http_authorizer_v2("GET", "/files/x/public", route_key="ANY /files/{proxy+}",
                              path_params={"proxy": "x/public"}, token=token)  # fmt: skip


def powertools_status(g: Guard, event: dict[str, Any], *, strip: list[str] | None = None) -> int:
    """The status a Powertools resolver (HTTP for payload 2.0, REST for 1.0) answers with
    ``guard_middleware(g)`` in front of a catch-all route."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, APIGatewayRestResolver

    from secauth.integrations.powertools import guard_middleware

    resolver = APIGatewayHttpResolver if event.get("version") == "2.0" else APIGatewayRestResolver
    app = resolver(strip_prefixes=strip) if strip else resolver()
    app.use(middlewares=[guard_middleware(g)])

    @app.route(".+", method=["GET", "POST"])
    def backend() -> dict[str, str]:
        return {"ran": "backend"}

    return int(app.resolve(copy.deepcopy(event), None)["statusCode"])


# =========================================================================================
# Finding (medium): a prefixed table's missing route is not refused behind a mapping
# =========================================================================================
# The table is written with the mapping's prefix and lists GET /v1/files/{id}/public, but
# not the API's ANY /files/{proxy+} (forgotten, or spelled with another verb). Eve sends
# GET https://api.example.com/v1/files/x%2Fpublic: API Gateway runs ANY /files/{proxy+}
# (proxy = x/public), an integration the table gives no rule. paths_of reads only the path
# as sent (the routed path /files/x/public has no table route), _ran_as_listed answers ""
# (prefix v1, no table route v1 + /files/{proxy+}), and the lenient check skips {proxy+}.

PREFIXED_GAP = per_route(prefixed({"GET /files/{id}/public": A}))


def test_prefixed_table_missing_the_proxy_route_is_refused_payload_2() -> None:
    event = mapped_v2("GET", "/files/x/public", "ANY /files/{proxy+}", {"proxy": "x/public"})
    assert admitted(guard(PREFIXED_GAP), event) != "allow"


def test_prefixed_table_missing_the_proxy_route_is_refused_payload_1() -> None:
    event = mapped_v1("GET", "/files/x/public", "/files/{proxy+}", {"proxy": "x/public"})
    assert admitted(guard(PREFIXED_GAP), event) != "allow"


def test_prefixed_table_missing_the_proxy_route_is_refused_by_powertools() -> None:
    """404 since review 94: the route that ran is the only reading, and is not listed."""
    event = mapped_v2("GET", "/files/x/public", "ANY /files/{proxy+}", {"proxy": "x/public"})
    assert powertools_status(guard(PREFIXED_GAP), event) == 404


def test_prefixed_table_with_the_proxy_route_under_another_verb_is_refused() -> None:
    """The table spells ``ANY /files/{proxy+}`` as ``GET /v1/files/{proxy+}``: no table
    route is the one that ran (refused without the mapping), yet Eve passes."""
    routes = per_route(prefixed({"GET /files/{proxy+}": roles("admin"), "GET /files/{id}/public": A}))
    event = mapped_v2("GET", "/files/x/public", "ANY /files/{proxy+}", {"proxy": "x/public"})
    assert admitted(guard(routes), event) != "allow"


def test_prefixed_table_missing_a_plain_route_is_refused() -> None:
    """Not only ``{proxy+}``: the API's ``GET /files/{id}`` (unlisted) is decided by the
    table's ``ANY /v1/{proxy+}`` behind the mapping; without it, refused."""
    routes = per_route({"ANY /v1/{proxy+}": A})
    event = mapped_v2("GET", "/files/7", "GET /files/{id}", {"id": "7"})
    assert admitted(guard(routes), event) != "allow"


def test_control_the_same_table_gaps_are_refused_without_the_mapping() -> None:
    """Held (control): the same gaps in a table of the API's own paths, on the execute-api
    endpoint, are refused (``_UNLISTED``), payloads 2.0 and 1.0, Authorizer and Guard; and
    a prefixed table refuses the shifted request behind the mapping (404 since review 94:
    the Guard reads the routed path alone, which a prefixed table does not list)."""
    plain_gap = per_route({"GET /files/{id}/public": A})
    assert admitted(guard(plain_gap), shifted_v2()) != "allow"
    assert admitted(guard(plain_gap), v1_proxy("GET", "/files/x/public", "/files/{proxy+}",
                                               {"proxy": "x/public"})) != "allow"  # fmt: skip
    assert effect(authorizer(plain_gap).handler(shifted_authorizer_v2())) == "Deny"
    unlisted = http_proxy("GET", "/files/7", route_key="GET /files/{id}", path_params={"id": "7"},
                          token=EVE)  # fmt: skip
    assert admitted(guard(per_route({"ANY /{proxy+}": A})), unlisted) != "allow"
    listed = per_route(prefixed(FILES))
    event = mapped_v2("GET", "/files/x/public", "ANY /files/{proxy+}", {"proxy": "x/public"})
    assert admitted(guard(listed), event).startswith("not_found")


# =========================================================================================
# Finding (low, hardening): a named route without its parameters falls into the "" path
# =========================================================================================


def test_a_named_route_without_its_parameters_is_refused() -> None:
    """API Gateway always fills the parameters (a direct invoke may not): under the
    option an event naming no route is refused, but one naming ``ANY /files/{proxy+}``
    with no ``pathParameters`` is decided as ``GET /files/{id}/public``."""
    event = shifted_v2()
    del event["pathParameters"]
    assert admitted(guard(per_route(FILES)), event) != "allow"
    authorizer_event = shifted_authorizer_v2()
    del authorizer_event["pathParameters"]
    assert effect(authorizer(per_route(FILES)).handler(authorizer_event)) == "Deny"


# =========================================================================================
# Held: the model against more entry points (named stages, memo, trust mode, mappings)
# =========================================================================================

STAGE = "prod"


def stage_arn(route: str) -> str:
    return f"{ACCOUNT_API}/{STAGE}/{route}"


def staged_entry_points(
    method: str, path: str, key: str, params: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """The request on the named stage ``prod`` of the execute-api endpoint (payload 1.0's
    ``path`` starts with the stage), and to a trust-mode Guard behind the authorizer."""
    default = key == "$default"
    template = "$default" if default else key.partition(" ")[2]
    events: dict[str, dict[str, Any]] = {}
    a2 = http_authorizer_v2(method, path, route_key=key, path_params=params or None, token=EVE,
                            stage=STAGE)  # fmt: skip
    a1 = http_authorizer_v1(method, path, resource=template, path_params=params or None, token=EVE,
                            stage=STAGE)  # fmt: skip
    a1["path"] = f"/{STAGE}{path}"
    if default:
        a2["routeArn"] = a1["methodArn"] = stage_arn("$default")
    events["authorizer v2"], events["authorizer v1"] = a2, a1
    g1 = v1_proxy(method, path, template, params or None, stage=STAGE)
    g1["path"] = f"/{STAGE}{path}"
    events["guard v1"] = g1
    events["guard v2"] = http_proxy(method, path, route_key=key, path_params=params or None,
                                    stage=STAGE, token=EVE)  # fmt: skip
    t2 = http_proxy(method, path, route_key=key, path_params=params or None)
    t2["requestContext"]["authorizer"] = {"lambda": dict(CONTEXT)}
    t1 = v1_proxy(method, path, template, params or None, token=None)
    t1["requestContext"]["authorizer"] = dict(CONTEXT)
    events["trust v2"], events["trust v1"] = t2, t1
    if default:
        g1["pathParameters"] = t1["pathParameters"] = None
    return events


STAGED_TABLES: dict[str, tuple[dict[str, Any], Any]] = {
    "files, admin default": ({**FILES, "GET /users/{id}": roles("admin"), "GET /users/me": A},
                             roles("admin")),
    "files, permissive default": ({**FILES, "GET /users/{id}": roles("admin"), "GET /users/me": A}, A),
    "tenant": ({"GET /t/{tid}/{proxy+}": tenant(path="tid"), "GET /t/{tid}/pub": public(),
                "GET /t/{tid}/admin": roles("admin")}, None),
}  # fmt: skip
VALUES = ["7", "me", "m%65", "x%2Fpublic", "a%2Fb", "acme", "%61cme", "pub", "p%75b", "ME", "prod"]


def alphabet(keys: list[str]) -> list[str]:
    literals = sorted({text for key in keys for kind, text in parse_route_key(key).template.segments
                       if kind == LITERAL})  # type: ignore[union-attr]  # fmt: skip
    return list(dict.fromkeys(literals + VALUES))


@pytest.mark.parametrize("name", list(STAGED_TABLES))
def test_named_stage_memo_and_trust_mode_allow_only_what_the_route_that_ran_allows(name: str) -> None:
    """Held: on the named stage ``prod`` (payload 1.0 ``path`` with the stage), through
    the Authorizer fresh and with the memo (each event answered twice), the Guard and a
    trust-mode Guard (the authorizer's context, no token): a request is allowed only when
    the rule of the route API Gateway ran (``$default``: the default rule) allows it; and
    plainly spelled requests that rule allows are allowed."""
    spec, default = STAGED_TABLES[name]
    routes = per_route(spec, default)
    fresh = authorizer(routes)
    memo = Authorizer(VERIFIER, routes=routes, claims=MAPPER, decision_log=None, response_cache_size=64)
    verify, trust = guard(routes), Guard(None, routes=routes, trust_authorizer=True, decision_log=None)
    keys = list(spec)
    over, refused, checked = [], [], 0
    for method, sent, key, params in model_requests(keys, alphabet(keys),
                                                    has_default=default is not None):
        expected = ran_route_allows(spec, default, key, method, params)
        for entry, event in staged_entry_points(method, unquote(sent), key, params).items():
            checked += 1
            if entry.startswith("authorizer"):
                answers = [fresh.handler(event, None)]
                answers += [memo.handler(copy.deepcopy(event), None) for _ in range(2)]
                allowed = any(effect(a) == "Allow" for a in answers)
            else:
                allowed = admitted(trust if entry.startswith("trust") else verify, event) == "allow"
            if allowed and not expected:
                over.append((entry, method, sent, key))
            if expected and not allowed and "%" not in sent:
                refused.append((entry, method, sent, key))
    assert over == []
    assert refused == []
    assert checked > 1000


MAPPED_TABLES: dict[str, tuple[dict[str, Any], Any]] = {
    "files": ({**FILES, "GET /users/{id}": roles("admin"), "GET /users/me": A}, None),
    "root proxy, permissive default": ({"ANY /{proxy+}": roles("admin"), "GET /a/{x}": A,
                                        "GET /a/b/{y}": A}, A),
    "tenant": STAGED_TABLES["tenant"],
}  # fmt: skip


@pytest.mark.parametrize("written", ["with the prefix", "without the prefix"])
@pytest.mark.parametrize("name", list(MAPPED_TABLES))
def test_custom_domain_mapping_allows_only_what_the_route_that_ran_allows(name: str, written: str) -> None:
    """Held (a table that lists every API route): behind the API mapping ``v1`` on a
    custom domain, the table written with and without the prefix, payloads 2.0 and 1.0,
    the Guard and Powertools middleware: never more than the rule of the route that ran."""
    spec, default = MAPPED_TABLES[name]
    routes = per_route(prefixed(spec) if written == "with the prefix" else spec, default)
    g, keys = guard(routes), list(spec)
    over, checked = [], 0
    for method, sent, key, params in model_requests(keys, alphabet(keys),
                                                    has_default=default is not None):
        expected = ran_route_allows(spec, default, key, method, params)
        path = unquote(sent)
        template = "$default" if key == "$default" else key.partition(" ")[2]
        v1 = mapped_v1(method, path, template, params or None)
        if key == "$default":
            v1["pathParameters"] = None
        for event in (mapped_v2(method, path, key, params or None), v1):
            checked += 1
            if expected:
                continue
            if admitted(g, event) == "allow":
                over.append(("guard", event.get("version"), method, sent, key))
            if "%2F" in sent and powertools_status(g, event) == 200:
                over.append(("powertools", event.get("version"), method, sent, key))
    assert over == []
    assert checked > 300


# =========================================================================================
# Held: the per-route result cache
# =========================================================================================


def _authorizer_event(payload: int, method: str, path: str, key: str, params: dict[str, str],
                      stage: str) -> dict[str, Any]:  # fmt: skip
    if payload == 2:
        return http_authorizer_v2(method, path, route_key=key, path_params=params, token=EVE, stage=stage)
    return http_authorizer_v1(method, path, resource=key.partition(" ")[2], path_params=params,
                              token=EVE, stage=stage)  # fmt: skip


def test_answers_cached_per_route_allow_nothing_a_fresh_decision_refuses() -> None:
    """Held: ``cache_ttl=300, cache_key_covers_route=True``; per table and route key, Eve's
    answers to allowed requests (payloads 2.0 and 1.0, stages ``$default`` and ``prod``),
    reused by API Gateway (IAM) for every other request of that route key, allow only what
    a fresh decision allows (``p%75b`` under ``{proxy+}`` beside ``GET /t/{tid}/pub``)."""
    over, reused = [], 0
    for spec, default in STAGED_TABLES.values():
        routes = per_route(spec, default)
        fresh, keys = authorizer(routes), list(spec)
        by_route: dict[str, list[tuple[str, str, dict[str, str]]]] = {}
        for count in range(1, 4):
            for segments in itertools.product(alphabet(keys), repeat=count):
                sent = "/" + "/".join(segments)
                for method in ("GET", "POST"):
                    selected = api_gateway_route(keys, method, sent)
                    if selected is not None:
                        by_route.setdefault(selected[0], []).append((method, unquote(sent), selected[1]))
        for payload, stage in ((2, "$default"), (1, "$default"), (2, "prod")):
            for key, requests in by_route.items():
                firsts = [r for r in requests if effect(fresh.handler(
                    _authorizer_event(payload, r[0], r[1], key, r[2], stage))) == "Allow"][:3]  # fmt: skip
                for first in firsts:
                    cached = authorizer(routes, cache_ttl=300, cache_key_covers_route=True)
                    method, path, params = first
                    answer = cached.handler(_authorizer_event(payload, method, path, key, params, stage))
                    for later in requests:
                        event = _authorizer_event(payload, later[0], later[1], key, later[2], stage)
                        if iam_allows(answer, event.get("routeArn") or event["methodArn"]):
                            reused += 1
                            if effect(fresh.handler(event)) != "Allow":
                                over.append((payload, stage, key, first, later))
    assert over == []
    assert reused > 20


# =========================================================================================
# Held: $default spelled in odd ways, and where the route key is read from
# =========================================================================================


def _odd(spelling: str) -> dict[str, Any]:
    """Eve's GET /files/x/public (reads as the permissive table route) naming the route
    that ran in an odd way; the table's default rule is admin-only."""
    if spelling.startswith("v1 "):
        event = v1_proxy("GET", "/files/x/public", "$default", None)
        event["pathParameters"] = None
        resource = spelling.removeprefix("v1 ")
        if resource == "(none)":
            del event["resource"]
        else:
            event["resource"] = resource
        return event
    event = http_proxy("GET", "/files/x/public", route_key="$default", token=EVE)
    if spelling == "context only $default":
        del event["routeKey"]
    elif spelling == "no route key anywhere":
        del event["routeKey"]
        del event["requestContext"]["routeKey"]
    else:
        event["routeKey"] = event["requestContext"]["routeKey"] = spelling
    return event


ODD_SPELLINGS = ["$DEFAULT", "$Default", " $default", "$default ", "default", "", "context only $default",
                 "no route key anywhere", "v1 $DEFAULT", "v1 $Default", "v1 default", "v1 ", "v1 (none)",
                 "v1 /files/{proxy", "v1 files/{proxy+}"]  # fmt: skip


def test_odd_default_spellings_are_never_read_as_the_table_route() -> None:
    """Held: API Gateway spells the route ``$default`` (2.0 ``routeKey``, top level and in
    ``requestContext``; 1.0 ``resource``). Case variants, padding, no route, an
    unparseable template: never decided as ``GET /files/{id}/public`` for Eve (refused as
    naming no route, or held to the admin-only default rule)."""
    g = guard(per_route(FILES, roles("admin")))
    assert [s for s in ODD_SPELLINGS if admitted(g, _odd(s)) == "allow"] == []


def test_the_route_key_is_read_from_request_context_when_the_top_level_has_none() -> None:
    """Held: payload 2.0 carries ``routeKey`` at the top level and in ``requestContext``
    (equal); with only the latter, the shifted request is still refused, and a
    ``$default`` named there is held to the default rule (Ada passes, Eve does not)."""
    routes = per_route(FILES, roles("admin"))
    event = shifted_v2()
    del event["routeKey"]
    assert "another route" in admitted(guard(routes), event)
    authorizer_event = shifted_authorizer_v2()
    del authorizer_event["routeKey"]
    assert effect(authorizer(routes).handler(authorizer_event)) == "Deny"
    for token, expected in ((EVE, False), (ADA, True)):
        default_event = http_proxy("GET", "/nowhere", route_key="$default", token=token)
        del default_event["routeKey"]
        assert (admitted(guard(routes), default_event) == "allow") is expected


def test_conflicting_route_keys_read_the_top_level_one() -> None:
    """Held (noted): with top-level and ``requestContext`` route keys that disagree (API
    Gateway never sends that), secauth reads the top-level one: naming the proxy route
    there refuses the shifted request whatever the context says."""
    routes = per_route(FILES)
    event = shifted_v2()
    event["requestContext"]["routeKey"] = "GET /files/{id}/public"
    assert "another route" in admitted(guard(routes), event)


# =========================================================================================
# Held: steering into the "" fallback
# =========================================================================================


def test_a_stage_named_prefix_on_a_custom_domain_does_not_dodge_the_check() -> None:
    """Held: a custom domain mapped at the root to stage ``prod``; Eve sends
    ``/prod/files/x%2Fpublic``. API Gateway runs ``ANY /{proxy+}`` (proxy =
    ``prod/files/x/public``); the Guard strips ``/prod`` as if it were the stage, so the
    path as read is not the routed path (``""``), but the routed path is judged too."""
    routes = per_route({"ANY /{proxy+}": roles("admin"), "GET /files/{id}/public": A})
    for payload in (2, 1):
        if payload == 2:
            event = http_proxy("GET", "/prod/files/x/public", route_key="ANY /{proxy+}",
                               path_params={"proxy": "prod/files/x/public"}, token=EVE)  # fmt: skip
        else:
            event = v1_proxy("GET", "/prod/files/x/public", "/{proxy+}", {"proxy": "prod/files/x/public"})
        event["requestContext"]["stage"] = "prod"
        on_custom_domain(event, DOMAIN)
        assert admitted(guard(routes), event) != "allow"
        assert powertools_status(guard(routes), event) == 403


def test_powertools_strip_prefixes_does_not_dodge_the_check() -> None:
    """Held: an application path that is not the routed path (``strip_prefixes``) only
    adds a reading; the shifted request is refused on the execute-api endpoint and behind
    the mapping, the table written without and with the prefix."""
    plain = per_route(FILES)
    assert powertools_status(guard(plain), shifted_v2(), strip=["/files"]) == 403
    mapped = mapped_v2("GET", "/files/x/public", "ANY /files/{proxy+}", {"proxy": "x/public"})
    assert powertools_status(guard(plain), mapped, strip=["/v1"]) == 403
    assert powertools_status(guard(per_route(prefixed(FILES))), mapped, strip=["/v1"]) == 404


def test_payload_1_authorizer_without_identity_sources_is_still_checked() -> None:
    """Held: an HTTP API payload 1.0 authorizer with no identity sources (no caching) is
    read as a REST REQUEST event with ``version`` 1.0; its path is still taken as decoded,
    and the shifted request refused."""
    event = http_authorizer_v1("GET", "/files/x/public", resource="/files/{proxy+}",
                               path_params={"proxy": "x/public"}, token=EVE)  # fmt: skip
    del event["identitySource"]
    assert effect(authorizer(per_route(FILES)).handler(event)) == "Deny"


# =========================================================================================
# Held: the option off is the Lambdalith behaviour it was
# =========================================================================================


def test_option_off_decides_the_decoded_path_as_before() -> None:
    """Held: without the option (one function routing the decoded path again) the shifted
    request, payload 1.0's ``$default`` request, an event naming no route, and the
    prefixed table's gap are all decided on the path the table reads: allowed for Eve."""
    lambdalith = Routes(FILES, default=roles("admin"))
    assert Routes(FILES).integration_per_route is False
    assert admitted(guard(lambdalith), shifted_v2()) == "allow"
    assert effect(authorizer(lambdalith).handler(shifted_authorizer_v2())) == "Allow"
    v1_default = http_authorizer_v1("GET", "/files/x/public", resource="$default", token=EVE)
    v1_default["methodArn"] = f"{ACCOUNT_API}/$default/$default"
    assert effect(authorizer(lambdalith).handler(v1_default)) == "Allow"
    unnamed = shifted_v2()
    del unnamed["routeKey"]
    del unnamed["requestContext"]["routeKey"]
    assert admitted(guard(lambdalith), unnamed) == "allow"
    gap = Routes(prefixed({"GET /files/{id}/public": A}))
    event = mapped_v2("GET", "/files/x/public", "ANY /files/{proxy+}", {"proxy": "x/public"})
    assert admitted(guard(gap), event) == "allow"


def test_option_on_keeps_legitimate_requests() -> None:
    """Held (no false refusal): Ada on the proxy route, Eve on her own route, payloads 2.0
    and 1.0, the Authorizer and the Guard, on the execute-api endpoint and behind the
    mapping. Since the review-82 fix, a per-route table is read as the API's routes alone: one
    written with the mapping's prefix refuses behind the mapping (fail closed)."""
    routes = per_route(FILES)
    ada = http_proxy("GET", "/files/a/b", route_key="ANY /files/{proxy+}",
                     path_params={"proxy": "a/b"}, token=ADA)  # fmt: skip
    eve = http_proxy("GET", "/files/x/public", route_key="GET /files/{id}/public",
                     path_params={"id": "x"}, token=EVE)  # fmt: skip
    assert [admitted(guard(routes), e) for e in (ada, eve)] == ["allow", "allow"]
    v1 = v1_proxy("GET", "/files/x/public", "/files/{id}/public", {"id": "x"})
    assert admitted(guard(routes), v1) == "allow"
    auth = http_authorizer_v1("DELETE", "/files/a/b", resource="/files/{proxy+}",
                              path_params={"proxy": "a/b"}, token=ADA)  # fmt: skip
    assert effect(authorizer(routes).handler(auth)) == "Allow"
    prefixed_routes = per_route(prefixed(FILES))
    mapped = mapped_v2("GET", "/files/x/public", "GET /files/{id}/public", {"id": "x"})
    assert admitted(guard(routes), mapped) == "allow"
    assert admitted(guard(prefixed_routes), mapped) != "allow"
    mapped_ada = mapped_v1("POST", "/files/a/b", "/files/{proxy+}", {"proxy": "a/b"})
    mapped_ada["headers"]["Authorization"] = f"Bearer {ADA}"
    mapped_ada["multiValueHeaders"]["Authorization"] = [f"Bearer {ADA}"]
    assert admitted(guard(routes), mapped_ada) == "allow"
    assert admitted(guard(prefixed_routes), mapped_ada) != "allow"
