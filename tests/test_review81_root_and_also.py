"""Review 81: c862dc4 attacked. (1) ``secauth.targets._ran_as_listed`` reads the prefix of
the API's root route (routed path ``/``) as the path less a trailing ``/`` (``/v1`` behind
the mapping ``v1``); (2) the Authorizer's ``_decide`` holds EVERY path it decides (the ARN
path and ``Target.also``: the routed path, or a ``$default`` route's path as sent on a
named stage) to the route that ran, with the option off too.

Model of API Gateway (HTTP APIs) as the project writes it (tests/api_gateway_model.py):
routes selected on the path as sent, paths, parameters and route ARNs decoded once; the
route ARN names the API's own path (no stage, no base path); on the execute-api endpoint a
named stage is the first segment of ``rawPath``; behind a custom domain's API mapping the
path keeps the mapping's prefix. ``ROOT_PARENT`` below is the Authorizer as it was at
10ac41b (its ``_decide``, which held only the ARN path), the oracle for "no new refusal".

Finding (low, false refusal, new in the Authorizer with change 2; the Guard already did
it; kept, fail closed, documented): under ``integration_per_route`` a ``$default`` request
on the execute-api endpoint's named stage ``prod`` whose path, as sent, reads as a table
route (the table has a first segment ``prod``) is refused as "another route", though on
the execute-api endpoint the stage is always the path's first segment: the as-sent reading
is never the API's path, and the default rule allows. Allowed at 10ac41b and with the
option off.

Finding (low, review 80's medium fixed incompletely; fixed: the root behind a prefix reads
as a table route ``/v1`` only in a table written with the prefix): behind the API mapping
``v1`` an unlisted root route (``GET /``) is still not refused when the table, written
without the prefix, lists a route spelled like the mapping's root (``GET /v1``):
``paths_of`` takes its "table written with the prefix" branch (``/{proxy+}`` never reads
``/``) and ``_ran_as_listed`` now finds ``GET /v1`` as "prefix + root". The non-root
analogue is refused (the catch-all reads the routed path).

Finding (low, false refusal, pre-existing, option on and off; Guard only; kept, fail
closed): the root route sent as ``https://{api}.execute-api.../prod/`` (rawPath
``/prod/``) on the stage ``prod`` is refused (``no route``) when the table has a first
segment ``prod``: the as-sent reading ``/prod/`` is judged and no route reads a trailing
``/``.

Held: with the option off the Authorizer decides exactly as at 10ac41b (route events of
payloads 2.0 and 1.0, REST, ``$default`` on named stages with and without the stage in the
path, execute-api and custom domain, fresh, memo, per-route result cache); with the option
on likewise for every request API Gateway can send but the finding's; the root route's
edge cases (``/``, ``/v1``, ``/v1/``, named stages, ``ANY /`` vs ``GET /``, payload 1.0
``resource: "/"``) are held to the route that ran without refusing the callers its rule
allows. Real objects, no mocks.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import unquote

from api_gateway_model import api_gateway_route, model_requests
from guard_events import admitted
from test_review78_integration_per_route import (
    ADA,
    EVE,
    MAPPER,
    VERIFIER,
    effect,
    guard,
    ran_route_allows,
    v1_proxy,
)
from test_review79_per_route_followups import DOMAIN, mapped_v1, mapped_v2, per_route
from test_review80_per_route_fallback import root_v1, root_v2, trust_guard, trusted

from secauth import Authorizer, Routes
from secauth.access import Decision, authenticated, roles, tenant
from secauth.authorizer import Credentials
from secauth.events import Request
from secauth.result_cache import cached_denial
from secauth.targets import ELSEWHERE, Target, ran_elsewhere
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    http_proxy,
    on_custom_domain,
    request_authorizer,
    websocket_connect,
)
from secauth.testing_policy import iam_allows

A = authenticated()
API_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef123"


class ParentAuthorizer(Authorizer):
    """The Authorizer's decision as at 10ac41b (``git show 10ac41b:src/secauth/authorizer.py``):
    only the ARN path is held to the route that ran."""

    def _decide(self, found: Credentials, target: Target, request: Request) -> Decision:
        principal = found.principal
        decision = self.routes.decide(principal, target.method, target.path, request)
        if decision.allowed and target.also is not None:
            other = self.routes.decide(principal, target.method, target.also, request)
            decision = decision if other.allowed else other
        if decision.allowed and ran_elsewhere(
            self.routes, request, target.method, target.path, decision.decided_by
        ):
            decision = decision._replace(allowed=False, reason=ELSEWHERE.reason, denial=ELSEWHERE)
        if decision.allowed and self.cache_ttl > 0:
            denial = cached_denial(self.routes, principal, decision, request,
                                   request_covered=self._request_covered,
                                   route_covered=self._route_covered)  # fmt: skip
            if denial is not None:
                decision = decision._replace(allowed=False, reason=denial.reason, denial=denial)
        return self._limits.apply(decision, request, principal, found.entry)


CONFIGS: dict[str, dict[str, Any]] = {
    "fresh": {"response_cache_size": 0},
    "memo": {"response_cache_size": 64},
    "cached": {"response_cache_size": 0, "cache_ttl": 300, "cache_key_covers_route": True},
}


def pair(routes: Routes, config: str) -> tuple[Authorizer, Authorizer]:
    """The Authorizer now and at 10ac41b, configured alike."""
    options = dict(CONFIGS[config], claims=MAPPER, decision_log=None)
    return (Authorizer(VERIFIER, routes=routes, **options),
            ParentAuthorizer(VERIFIER, routes=routes, **options))  # fmt: skip


def answer(auth: Authorizer, event: dict[str, Any]) -> str:
    """``Allow``/``Deny``, or ``401`` for an HTTP API's unauthorized answer."""
    response = auth.handler(copy.deepcopy(event))
    return effect(response) if "policyDocument" in response else "401"


def default_arn(stage: str) -> str:
    return f"{API_ARN}/{stage}/$default"


def default_events(method: str, raw: str, stage: str, token: str) -> list[dict[str, Any]]:
    """A ``$default`` request on ``stage`` with ``rawPath``/``path`` ``raw``, payloads 2.0, 1.0."""
    v2 = http_authorizer_v2(method, raw, route_key="$default", stage=stage, token=token)
    v2["routeArn"], v2["rawPath"] = default_arn(stage), raw  # the builder adds the stage
    v2["requestContext"]["http"]["path"] = raw
    v1 = http_authorizer_v1(method, raw, resource="$default", stage=stage, token=token)
    v1["methodArn"], v1["pathParameters"] = default_arn(stage), None
    return [v2, v1]


def authorizer_events(method: str, sent: str, key: str, params: dict[str, str],
                      token: str) -> list[dict[str, Any]]:  # fmt: skip
    """Every authorizer event ``method sent`` (running ``key``) arrives as: payloads 2.0 and
    1.0 and REST, on ``$default`` and the named stage ``prod`` (stage in the path, as on the
    execute-api endpoint, and not, as behind a custom domain)."""
    path, out = unquote(sent), []
    for stage in ("$default", "prod"):
        staged = path if stage == "$default" else "/" + stage + path.rstrip("/")
        if key == "$default":
            out += default_events(method, staged, stage, token)  # the execute-api endpoint
            if stage != "$default":  # behind a custom domain the stage is not in the path
                out += [on_custom_domain(e, DOMAIN) for e in default_events(method, path, stage, token)]
            continue
        template = key.partition(" ")[2]
        v2 = http_authorizer_v2(method, path, route_key=key, path_params=params or None,
                                stage=stage, token=token)  # fmt: skip
        v2["rawPath"] = v2["requestContext"]["http"]["path"] = staged
        v1 = http_authorizer_v1(method, path, resource=template, path_params=params or None,
                                stage=stage, token=token)  # fmt: skip
        out += [v2, v1, copy.deepcopy(v1)]
        out[-1]["path"] = staged
        if "%" not in sent:  # REST passes the path as sent
            out.append(request_authorizer(method, path, resource=template,
                                          path_params=params or None, stage=stage, token=token))  # fmt: skip
    return out


# Tables with the root route, a catch-all, a first segment named as the stage, a literal
# beside a parameter, a tenant rule.
SWEEP_TABLES: dict[str, dict[str, Any]] = {
    "root": {"GET /": roles("admin"), "ANY /{proxy+}": A, "GET /prod": A, "GET /prod/{x}": A,
             "GET /me/me": A, "GET /me/{id}": roles("admin")},
    "stage literal": {"GET /prod/me": A, "ANY /": A, "GET /me/{id}": A},
    "tenant": {"GET /me/{tid}/{proxy+}": tenant(path="tid"), "GET /me/{tid}/me": A, "GET /{x}": A},
}  # fmt: skip
SWEEP_VALUES = ["prod", "me", "M%45", "x%2Fy"]


def sweep_differences(integration_per_route: bool) -> tuple[int, list[tuple[Any, ...]]]:
    """Every request of every sweep table (Eve and Ada), decided now and at 10ac41b."""
    checked, differences = 0, []
    for name, spec in SWEEP_TABLES.items():
        routes = Routes(spec, default=A, integration_per_route=integration_per_route)
        pairs = {config: pair(routes, config) for config in CONFIGS}
        for method, sent, key, params in model_requests(list(spec), SWEEP_VALUES, has_default=True):
            if method == "POST" and key != "$default":
                continue
            for token in (EVE, ADA):
                for event in authorizer_events(method, sent, key, params, token):
                    for config, (now, parent) in pairs.items():
                        checked += 1
                        ours, theirs = answer(now, event), answer(parent, event)
                        if ours != theirs:
                            context, raw = event["requestContext"], event.get("rawPath", event.get("path"))
                            differences.append((name, config, key, context["stage"], context["domainName"],
                                                raw, ours, theirs))  # fmt: skip
    return checked, differences


# =========================================================================================
# Held: change 2 refuses nothing new with the option off
# =========================================================================================


def test_option_off_the_authorizer_decides_as_at_10ac41b() -> None:
    """Held: with the option off (the default, Lambdalith mode) every request of the
    sweep (payloads 2.0 and 1.0, REST, ``$default`` on a named stage whose name is a
    table literal with and without the stage in the path, fresh, memo and per-route
    cached) is answered exactly as before change 2: for an HTTP API the route ARN is the
    decoded path, so ``also`` is the routed path only when it equals the ARN path (then
    None), and a ``$default`` event names no template (the lenient check returns False)."""
    checked, differences = sweep_differences(False)
    assert differences == []
    assert checked > 3000


def test_option_on_the_authorizer_decides_as_at_10ac41b_but_for_default_on_a_stage() -> None:
    """Held: with the option on, the same sweep is answered as before but for ``$default``
    requests on the named stage ``prod`` whose path as sent (stage first) reads as a table
    route, now refused: behind a custom domain (``/prod/ME``: the API's ``GET /prod/me``
    did not match, the table reads it as that route) as docs/authorizer.md says; on the
    execute-api endpoint, the finding below. Every route request (the ARN is the decoded
    path: ``also`` is None) is answered as before."""
    checked, differences = sweep_differences(True)
    assert {(key, stage) for _, _, key, stage, _, _, _, _ in differences} == {("$default", "prod")}
    assert {(ours, theirs) for *_, ours, theirs in differences} == {("Deny", "Allow")}
    assert {domain for _, _, _, _, domain, _, _, _ in differences} == {
        "abcdef123.execute-api.us-east-1.amazonaws.com", DOMAIN}
    assert checked > 3000


def test_option_off_default_route_on_a_stage_named_like_a_table_literal_is_allowed() -> None:
    """Held: ``$default`` route ARNs on the named stage ``prod``, the table with routes under
    ``/prod``: ``target_of`` reads ``/prod/a`` both ways (``/a`` and ``/prod/a``), both are
    decided, and nothing refuses it as another route, payloads 2.0 and 1.0, fresh and
    memoized (answered twice), on the execute-api endpoint and behind a custom domain."""
    routes = Routes({"GET /prod/a": A, "GET /b": A}, default=A)
    for config in ("fresh", "memo"):
        now, parent = pair(routes, config)
        for event in default_events("GET", "/prod/a", "prod", EVE):
            for sent in (event, on_custom_domain(copy.deepcopy(event), DOMAIN)):
                assert [answer(now, sent) for _ in range(2)] == ["Allow", "Allow"]
                assert answer(parent, sent) == "Allow"


def test_websocket_and_rest_are_unaffected() -> None:
    """Held: a WebSocket ``$connect`` (no path) and a REST REQUEST authorizer event with an
    encoded path (passed as sent: never held to a route; the table reads ``m%65`` as
    ``me`` too) are allowed with the option on and off, as at 10ac41b."""
    connect = websocket_connect(token=EVE)
    rest = request_authorizer("GET", "/users/m%65", resource="/users/{id}", path_params={"id": "m%65"},
                              token=EVE)  # fmt: skip
    for flag in (False, True):
        for config in CONFIGS:
            now, parent = pair(Routes({"$connect": A}, integration_per_route=flag), config)
            assert answer(now, connect) == answer(parent, connect) == "Allow"
            table = Routes({"GET /users/me": A, "GET /users/{id}": A},
                           integration_per_route=flag)  # fmt: skip
            now, parent = pair(table, config)
            assert answer(now, rest) == answer(parent, rest) == "Allow"


# =========================================================================================
# Finding (low, false refusal; kept, fail closed): $default on the execute-api endpoint's
# named stage
# =========================================================================================

STAGE_LITERAL = {"GET /prod/a": A, "GET /b": A}


def test_the_parent_allowed_the_default_request_on_a_stage_named_like_a_table_literal() -> None:
    """Held (the oracle): at 10ac41b the Authorizer allowed ``GET /prod/a`` on the stage
    ``prod`` (the ``$default`` route ran: the API has no ``/a``), payloads 2.0 and 1.0."""
    parent = pair(per_route(STAGE_LITERAL, default=A), "fresh")[1]
    assert [answer(parent, e) for e in default_events("GET", "/prod/a", "prod", EVE)] == ["Allow"] * 2


def test_default_request_whose_path_as_sent_reads_as_a_route_is_refused() -> None:
    """``GET https://abcdef123.execute-api.us-east-1.amazonaws.com/prod/a`` on the stage
    ``prod``: API Gateway strips the stage, the API (``GET /prod/a``, ``GET /b``) has no
    ``/a``, so ``$default`` runs, whose rule allows Eve. ``stage_readings`` adds the path as
    sent (``/prod/a``: the table has a first segment ``prod``), which reads as
    ``GET /prod/a``, and ``ran_elsewhere`` (now called for ``Target.also``) refuses it.
    The finding (low, a false refusal under the option) is kept: the path as sent is read
    because an integration may route on it, and a ``$default`` request read as a table
    route is refused, fail closed, as docs/authorizer.md says. The Guard refused it before
    c862dc4 too; with the option off the default rule decides."""
    routes = per_route(STAGE_LITERAL, default=A)
    now = pair(routes, "fresh")[0]
    assert [answer(now, e) for e in default_events("GET", "/prod/a", "prod", EVE)] == ["Deny"] * 2
    assert admitted(guard(routes), http_proxy("GET", "/a", stage="prod", token=EVE)) != "allow"
    assert admitted(guard(routes), v1_proxy("GET", "/prod/a", "$default", None, stage="prod")) != "allow"
    lambdalith = pair(Routes(STAGE_LITERAL, default=A), "fresh")[0]
    assert [answer(lambdalith, e) for e in default_events("GET", "/prod/a", "prod", EVE)] == ["Allow"] * 2


def test_default_request_on_the_stage_is_still_held_to_the_default_rule() -> None:
    """Held (what a fix must keep): the same layout with an admin-only default rule
    refuses Eve and admits Ada; the path without the stage reading as a table route
    (``/prod/prod/a``: sent ``/prod/a`` with an encoded literal) is refused for both."""
    routes = per_route(STAGE_LITERAL, default=roles("admin"))
    now = pair(routes, "fresh")[0]
    assert [answer(now, e) for e in default_events("GET", "/prod/b", "prod", EVE)] == ["Deny"] * 2
    assert [answer(now, e) for e in default_events("GET", "/prod/prod/a", "prod", ADA)] == ["Deny"] * 2


# =========================================================================================
# Finding (low, fixed: a root is read as prefix + root only in a table written with the
# prefix): the root gap behind the mapping, with a route named as the mapping
# =========================================================================================

ROOT_GAP_V1 = {"ANY /{proxy+}": A, "GET /v1": A}  # the API also has GET / (admin): unlisted


def test_an_unlisted_root_route_is_refused_when_the_table_lists_the_mapping_name() -> None:
    """Eve sends ``GET https://api.example.com/v1``: API Gateway runs the API's ``GET /``
    (admin dashboard), which the table (written without the prefix: ``ANY /{proxy+}``)
    does not list; it does list the API's ``GET /v1`` (``https://api.example.com/v1/v1``).
    ``paths_of`` reads only ``/v1`` (``/{proxy+}`` never reads ``/``: "a table written with
    the prefix"), and ``_ran_as_listed`` finds ``GET /v1`` as the root behind ``v1``."""
    routes = per_route(ROOT_GAP_V1)
    assert api_gateway_route(["GET /", *ROOT_GAP_V1], "GET", "/") == ("GET /", {})
    answers = [admitted(guard(routes), root_v2("/v1")), admitted(guard(routes), root_v1("/v1")),
               admitted(trust_guard(routes), trusted(root_v2("/v1", token=None)))]  # fmt: skip
    assert "allow" not in answers


def test_the_non_root_analogue_and_the_prefixed_table_are_held() -> None:
    """Held: the non-root analogue (``GET /files/{id}`` unlisted, ``GET /v1/files/{id}``
    listed) is refused, the catch-all reading the routed path; a table written with the
    prefix (``GET /v1`` admin-only, ``ANY /v1/{proxy+}``) refuses Eve and, since the
    review-82 fix (a per-route table is the API's routes alone), Ada at the root; ``/v1/``
    is refused in the gap layout."""
    gap = per_route({"ANY /{proxy+}": A, "GET /v1/files/{id}": A})
    event = mapped_v2("GET", "/files/7", "GET /files/{id}", {"id": "7"})
    assert admitted(guard(gap), event) != "allow"
    prefixed = per_route({"GET /v1": roles("admin"), "ANY /v1/{proxy+}": A})
    assert admitted(guard(prefixed), root_v2("/v1")) != "allow"
    assert admitted(guard(prefixed), root_v2("/v1", ADA)) != "allow"
    assert admitted(guard(per_route(ROOT_GAP_V1)), root_v2("/v1/")) != "allow"


# =========================================================================================
# Held: the root route's edge cases
# =========================================================================================

ROOT = {"GET /": roles("admin"), "ANY /{proxy+}": A, "GET /v1": A, "GET /prod": A}


def root_requests(token: str) -> dict[str, dict[str, Any]]:
    """``GET /`` (admin-only) as every entry point receives it."""
    staged_v2 = http_proxy("GET", "/", route_key="GET /", stage="prod", token=token)
    staged_v2["rawPath"] = staged_v2["requestContext"]["http"]["path"] = "/prod"
    staged_authorizer = http_authorizer_v2("GET", "/", route_key="GET /", stage="prod", token=token)
    staged_authorizer["rawPath"] = staged_authorizer["requestContext"]["http"]["path"] = "/prod"
    return {
        "guard v2 /": http_proxy("GET", "/", route_key="GET /", token=token),
        "guard v1 /": v1_proxy("GET", "/", "/", None, token=token),
        "guard v2 stage prod": staged_v2,
        "guard v1 stage prod": v1_proxy("GET", "/prod", "/", None, token=token, stage="prod"),
        "guard v2 mapped /v1": root_v2("/v1", token=token),
        "guard v2 mapped /v1/": root_v2("/v1/", token=token),
        "guard v1 mapped /v1": root_v1("/v1", token=token),
        "guard v1 mapped /v1/": root_v1("/v1/", token=token),
        "authorizer v2": http_authorizer_v2("GET", "/", route_key="GET /", token=token),
        "authorizer v1": http_authorizer_v1("GET", "/", resource="/", token=token),
        "authorizer v2 stage prod": staged_authorizer,
        "authorizer v1 stage prod": http_authorizer_v1("GET", "/", resource="/", stage="prod", token=token),
    }


def decided(routes: Routes, name: str, event: dict[str, Any], config: str = "fresh") -> str:
    if name.startswith("authorizer"):
        return "allow" if answer(pair(routes, config)[0], event) == "Allow" else "refused"
    return admitted(guard(routes), event)


def test_the_root_route_is_held_to_its_rule_everywhere() -> None:
    """Held: the root route (admin-only) refuses Eve at ``/``, on the named stage
    ``prod`` (rawPath ``/prod``, and the table's ``GET /prod``), behind the mapping as
    ``/v1`` and ``/v1/`` (the table's ``GET /v1``), payloads 2.0 and 1.0, the Authorizer
    fresh, memoized and cached per route."""
    routes = per_route(ROOT)
    over = [name for name, event in root_requests(EVE).items() for config in CONFIGS
            if decided(routes, name, event, config) == "allow"]  # fmt: skip
    assert over == []


def test_the_root_route_admits_whom_its_rule_allows() -> None:
    """Held (no false refusal from change 1): Ada, whom ``GET /`` allows, is admitted at
    every spelling above; the readings ``/prod`` and ``/v1`` (each a table route of its
    own, read as "prefix + root") are held to those routes, which allow her."""
    routes = per_route(ROOT)
    refused = [(name, config) for name, event in root_requests(ADA).items() for config in CONFIGS
               if decided(routes, name, event, config) != "allow"]  # fmt: skip
    assert refused == []


def test_the_root_route_sent_with_a_trailing_slash_on_a_stage_named_like_a_literal() -> None:
    """``GET https://abcdef123.execute-api.us-east-1.amazonaws.com/prod/`` runs ``GET /``
    (rawPath ``/prod/``; payload 1.0's path ``/prod/``), whose rule allows Ada. The Guard
    adds the path as sent (``stage_readings``: the table has ``GET /prod``), ``/prod/``,
    which no table route reads (a trailing ``/``): 403 ``no route`` with the option off. The
    finding (low, older than the option) is kept there: an application routing on the path
    as sent may read ``/prod/`` as ``GET /prod``, so the spelling is refused, fail closed.
    With the option on (since review 94) the Guard reads the route that ran alone, and
    admits her, as the Authorizer (ARN path ``/``) does."""
    for routes, expected in ((per_route(ROOT), "allow"), (Routes(ROOT), "forbidden: {'rule': 'no route'}")):
        v2 = http_proxy("GET", "/", route_key="GET /", stage="prod", token=ADA)
        assert v2["rawPath"] == "/prod/"
        v1 = v1_proxy("GET", "/prod/", "/", None, token=ADA, stage="prod")
        assert [admitted(guard(routes), e) for e in (v2, v1)] == [expected] * 2


def test_the_cached_root_answer_names_only_the_root_route() -> None:
    """Held: Ada's cached answer for ``GET /`` (per route) allows its ARN, and Eve's
    memoized answers stay Deny."""
    routes = per_route(ROOT)
    event = http_authorizer_v2("GET", "/", route_key="GET /", token=ADA)
    response = pair(routes, "cached")[0].handler(copy.deepcopy(event))
    assert effect(response) == "Allow"
    assert iam_allows(response, event["routeArn"])
    memo = pair(routes, "memo")[0]
    eve = http_authorizer_v2("GET", "/", route_key="GET /", token=EVE)
    assert [answer(memo, eve) for _ in range(3)] == ["Deny"] * 3


def test_any_root_and_get_root_are_told_apart() -> None:
    """Held: the API has ``GET /`` (admin) and ``ANY /`` (any caller). GET runs ``GET /``:
    Eve refused (payload 2.0 by route key, 1.0 by verb first); POST runs ``ANY /``: Eve
    admitted; a table listing only ``ANY /`` refuses payload 2.0's ``GET /`` (unlisted)."""
    both = per_route({"GET /": roles("admin"), "ANY /": A})
    auth = pair(both, "fresh")[0]
    assert admitted(guard(both), http_proxy("GET", "/", route_key="GET /", token=EVE)) != "allow"
    assert admitted(guard(both), v1_proxy("GET", "/", "/", None)) != "allow"
    assert answer(auth, http_authorizer_v2("GET", "/", route_key="GET /", token=EVE)) == "Deny"
    assert answer(auth, http_authorizer_v1("GET", "/", resource="/", token=EVE)) == "Deny"
    assert admitted(guard(both), http_proxy("POST", "/", route_key="ANY /", token=EVE)) == "allow"
    assert admitted(guard(both), v1_proxy("POST", "/", "/", None)) == "allow"
    assert answer(auth, http_authorizer_v2("POST", "/", route_key="ANY /", token=EVE)) == "Allow"
    only_any = per_route({"ANY /": A})
    assert admitted(guard(only_any), http_proxy("GET", "/", route_key="GET /", token=EVE)) != "allow"
    assert answer(pair(only_any, "fresh")[0],
                  http_authorizer_v2("GET", "/", route_key="GET /", token=EVE)) == "Deny"  # fmt: skip


def test_a_stage_named_like_the_table_root_literal_is_held() -> None:
    """Held: on the named stage ``v1`` (execute-api: rawPath ``/v1``) the root route runs;
    the table's ``GET /v1`` (another API route) does not decide it alone: Eve refused, Ada
    admitted, payloads 2.0 and 1.0, Guard and Authorizer."""
    routes = per_route(ROOT)
    for token, expected in ((EVE, False), (ADA, True)):
        staged = http_authorizer_v2("GET", "/", route_key="GET /", stage="v1", token=token)
        staged["rawPath"] = staged["requestContext"]["http"]["path"] = "/v1"
        sent = http_proxy("GET", "/", route_key="GET /", stage="v1", token=token)
        sent["rawPath"] = sent["requestContext"]["http"]["path"] = "/v1"
        events = {"authorizer": staged, "guard v2": sent,
                  "guard v1": v1_proxy("GET", "/v1", "/", None, token=token, stage="v1")}  # fmt: skip
        outcomes = {n: decided(routes, n, e) == "allow" for n, e in events.items()}
        assert outcomes == dict.fromkeys(events, expected)


def test_a_root_arn_with_a_base_path_is_held_to_the_root() -> None:
    """Held (change 2, hardening): a route ARN naming ``/v1`` for the root route (API
    Gateway's never carry a base path) with the root unlisted: the ARN path ``/v1`` reads
    as the table's ``GET /{name}``; ``_ran_as_listed`` finds no root route for it nor for
    the routed path ``/``: refused, fresh, memoized and cached."""
    routes = per_route({"ANY /{proxy+}": A, "GET /{name}": A})
    event = http_authorizer_v2("GET", "/", route_key="GET /", token=EVE)
    event["routeArn"] = event["routeArn"] + "v1"
    assert [answer(pair(routes, config)[0], event) for config in CONFIGS] == ["Deny"] * 3


# The API behind the mapping v1 (keys) and tables missing some of its routes; none lists
# a route named as the mapping (the finding above).
ROOT_APIS: list[tuple[dict[str, Any], list[str]]] = [
    ({"ANY /{proxy+}": A, "GET /{name}": A}, ["GET /"]),
    ({"ANY /": A, "GET /{name}": roles("admin")}, ["GET /"]),
    ({"GET /": roles("admin"), "ANY /{proxy+}": A}, ["ANY /"]),
    ({"ANY /": roles("admin"), "GET /{name}/{x}": A, "GET /{name}": A}, ["ANY /{proxy+}"]),
]


ROOT_VALUES = ["v1", "x", "M%45", "a%2Fb"]


def test_no_root_integration_runs_that_its_route_or_a_gap_denies_behind_the_mapping() -> None:
    """Held: for every request of up to three segments behind the mapping ``v1`` (the
    root as ``/v1`` and ``/v1/`` too; payloads 2.0 and 1.0; Guard and trust-mode Guard),
    an allow means the table lists the route that ran and its rule allows Eve."""
    over, checked = [], 0
    for spec, gaps in ROOT_APIS:
        routes, keys = per_route(spec), list(spec) + gaps
        verify, trust = guard(routes), trust_guard(routes)
        for method, sent, key, params in model_requests(keys, ROOT_VALUES, has_default=False):
            expected = key in spec and ran_route_allows(spec, None, key, method, params)
            path, template = unquote(sent), key.partition(" ")[2]
            events = [mapped_v2(method, path, key, params or None)]
            if key in spec or f"ANY {template}" not in spec:  # 1.0 names the template alone
                events.append(mapped_v1(method, path, template, params or None))
            if path == "/" and method == "GET":
                events += [root_v2(raw, key=key) for raw in ("/v1", "/v1/")]
                if key in spec or f"ANY {template}" not in spec:
                    events.append(root_v1("/v1"))
            for event in events:
                for g, sent_event in ((verify, event), (trust, trusted(event))):
                    checked += 1
                    if admitted(g, sent_event) == "allow" and not expected:
                        over.append((event.get("version"), method, sent, key, tuple(spec)))
    assert over == []
    assert checked > 300
