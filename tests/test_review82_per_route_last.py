"""Review 82: the last round on ``Routes(integration_per_route=True)``. dd08958 (the API's root
behind a mapping prefix, ``/v1`` running ``GET /``, reads as a table route ``/v1`` only when every
table route starts with the prefix: ``secauth.targets._written_under``) and 12d6fa8 (payload 1.0
whose ``httpMethod`` was not sent in upper case is held to the template's ``ANY`` route) attacked
through the Authorizer (fresh, memo, ``cache_ttl`` with ``cache_key_covers_route``), the Guard
(verify and trust mode), both payloads, custom domains (one- and two-segment mappings), named
stages, tables mixing prefixed and unprefixed routes, specials (``$connect``), ``default=``.

Model of API Gateway (HTTP APIs) as the project writes it (tests/api_gateway_model.py): route
selection is case-sensitive in the method too, so ``get`` runs ``ANY /a/{id}`` (never
``GET /a/{id}``); the method/route ARN carries the method as sent (``.../get/a/1``), routes
and ARNs are API-relative (no base path); behind a custom domain's API mapping the path
keeps the mapping's prefix.

Finding (low; medium if API Gateway writes the ARN's verb in upper case; fixed: the memo key
holds ``Request.sent_method``, and ``route_bound`` answers such a request for its ARN alone):
the Authorizer's memo key has ``request.method`` (upper-cased) and the ARN, not the
``httpMethod`` as sent, which 12d6fa8 now decides on. A payload 1.0 ``get`` whose ARN says
``GET`` is refused fresh (held to ``ANY /a/{id}``) but answered from the memo with the Allow of
an earlier upper-case ``GET``; cached per route, its answer (for the route ``ANY /a/{id}``)
allows ``.../GET/a/*``.

Finding (low, hardening; fixed: ``Request.sent_method`` reads it as ``method`` does): 12d6fa8
reads the method as sent from the top-level ``httpMethod`` alone; the Authorizer takes an event
without it (``requestContext.httpMethod`` = ``get``) as sent in upper case and holds it to ``GET
/a/{id}``: allowed where a top-level ``get`` is refused.

Both findings left open here are resolved since (the tests assert it): with
``integration_per_route`` a table is the API's routes alone (as the option's docs define it),
never read with a mapping's prefix (``_written_under`` is gone), so an API whose own routes start
with the mapping's name is read as written, and a table written with the prefix refuses behind
the mapping (fail closed); the Guard reads the root sent as ``/v1/`` as ``/v1``.

Finding (low, design, root new in dd08958; left open, strict xfail): "every table route starts
with the prefix" cannot tell a table written with the mapping's prefix from an API whose own
routes all start with the mapping's name. API ``GET /`` (admin, unlisted), ``GET /v1``, ``GET
/v1/{id}``, mapping ``v1``: ``https://api.example.com/v1`` runs ``GET /`` and is decided
(allowed) as ``GET /v1``.

Finding (low, false refusal, older than the option; left open, strict xfail): in a table written
with the prefix the root sent as ``https://api.example.com/v1/`` (it runs ``GET /``) is refused
404 by the Guard; ``/v1`` is admitted.

Held: lower-case and mixed-case methods (``get``, ``Get``, ``head``) in both payloads allow only
what the route that ran allows (sweep: Guard verify/trust, Authorizer fresh/memo/cached, IAM
evaluation of the answer); payload 2.0 is read by its route key; the root behind a mapping in
prefixed tables (sweep), with ``$connect``, ``default=``, a two-segment mapping, a table of the
root alone, a table mixing prefixed and unprefixed routes (refused: the root is unlisted there),
odd root spellings, a stage named like the prefix. Real objects, no mocks.
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
    EVE,
    guard,
    ran_route_allows,
    v1_proxy,
)
from test_review79_per_route_followups import DOMAIN, mapped_v1, mapped_v2, per_route, prefixed
from test_review80_per_route_fallback import root_v1, root_v2, trust_guard, trusted
from test_review81_root_and_also import CONFIGS, ROOT_APIS, ROOT_VALUES, answer, pair

from secauth import Routes
from secauth.access import authenticated, roles
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    http_proxy,
    on_custom_domain,
)
from secauth.testing_policy import iam_allows

A = authenticated()
# The API: GET /a/{id} (any caller), ANY /a/{id} (admin), GET /a/me, ANY /{proxy+} (admin).
VERBS = {"GET /a/{id}": A, "ANY /a/{id}": roles("admin"), "GET /a/me": A, "ANY /{proxy+}": roles("admin")}
# The same API, the table missing ANY /a/{id} (which ``get /a/1`` runs).
VERBS_GAP = {"GET /a/{id}": A, "GET /a/me": A, "ANY /{proxy+}": roles("admin")}


def authorizer_allows(routes: Routes, config: str, event: dict[str, Any]) -> bool:
    """Whether any of three answers (memo: noted, kept, served) lets the request's ARN through."""
    auth = pair(routes, config)[0]
    arn = event.get("routeArn") or event["methodArn"]
    return any(iam_allows(auth.handler(copy.deepcopy(event)), arn) for _ in range(3))


def sent_events(method: str, path: str, key: str, params: dict[str, str]) -> dict[str, dict[str, Any]]:
    """``method path`` (method as sent, any case) running ``key``, as every entry point gets it."""
    template, named = key.partition(" ")[2], params or None
    v1 = http_authorizer_v1(method, path, resource=template, path_params=named, token=EVE)
    v1["httpMethod"] = method  # the builder keeps it; said here, as 12d6fa8 reads it
    return {
        "authorizer v2": http_authorizer_v2(method, path, route_key=key, path_params=named, token=EVE),
        "authorizer v1": v1,
        "guard v2": http_proxy(method, path, route_key=key, path_params=named, token=EVE),
        "guard v1": v1_proxy(method, path, template, named),
        "guard v1 domain": mapped_v1(method, path, template, named),
        "guard v2 domain": mapped_v2(method, path, key, named),
    }


def under_v1(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` written with the mapping's prefix, the root as ``/v1`` (``prefixed`` would write
    ``/v1/``, which no table takes)."""
    return {k.removesuffix("/"): r for k, r in prefixed(spec).items()}


def over_allowed(routes: Routes, name: str, event: dict[str, Any]) -> list[str]:
    """The entry points (and configurations) that let ``event`` through."""
    if name.startswith("authorizer"):
        return [config for config in CONFIGS if authorizer_allows(routes, config, event)]
    modes = (("verify", guard(routes), event), ("trust", trust_guard(routes), trusted(event)))
    return [mode for mode, g, sent in modes if admitted(g, sent) == "allow"]


# =========================================================================================
# Change 2 (12d6fa8): methods not sent in upper case
# =========================================================================================


@pytest.mark.parametrize("spec", [VERBS, VERBS_GAP], ids=["listed", "gap"])
def test_lower_case_methods_allow_only_what_the_route_that_ran_allows(spec: dict[str, Any]) -> None:
    """Held: every ``get``/``post``/``Get`` request of up to three segments (the model runs the
    ``ANY`` route or ``{proxy+}``), payloads 2.0 and 1.0, Authorizer fresh, memo and cached
    per route (the answer's policy evaluated on the ARN), Guard verify and trust, on the
    execute-api endpoint and behind the mapping ``v1``: an allow means the table lists the
    route that ran and its rule allows Eve."""
    routes, keys = per_route(spec), list(VERBS)
    over, checked = [], 0
    for case in (str.lower, str.title):
        for upper, sent, _, _ in model_requests(keys, ["a", "me", "7", "M%45"], has_default=False):
            method = case(upper)
            ran = api_gateway_route(keys, method, sent)
            assert ran is not None
            key, params = ran
            assert key.startswith("ANY ")  # methods are case-sensitive
            expected = key in spec and ran_route_allows(spec, None, key, upper, params)
            for name, event in sent_events(method, unquote(sent), key, params).items():
                checked += 1
                if not expected and (through := over_allowed(routes, name, event)):
                    over.append((name, method, sent, key, through))
    assert over == []
    assert checked > 200


def test_head_and_mixed_case_run_the_any_route_and_are_held_to_it() -> None:
    """Held: ``HEAD``, ``head``, ``gET`` run ``ANY /a/{id}`` (admin): Eve refused everywhere;
    upper-case ``GET`` (``GET /a/{id}``) admitted. Payload 2.0 is read by its route key."""
    routes = per_route(VERBS)
    for method in ("HEAD", "head", "gET"):
        assert api_gateway_route(list(VERBS), method, "/a/1") == ("ANY /a/{id}", {"id": "1"})
        events = sent_events(method, "/a/1", "ANY /a/{id}", {"id": "1"})
        assert [name for name, e in events.items() if over_allowed(routes, name, e)] == []
    events = sent_events("GET", "/a/1", "GET /a/{id}", {"id": "1"})
    assert all(over_allowed(routes, name, e) for name, e in events.items())


def test_lower_case_any_route_refuses_its_admin_too_fail_closed() -> None:
    """Held (a kept false refusal, as 12d6fa8's own test says for payload 1.0): the table reads
    ``get /a/1`` as ``GET /a/{id}``, not the ``ANY /a/{id}`` that ran, so Ada (whom the ANY
    route allows) is refused too, payload 2.0 as well: fail closed, and only for a method no
    ordinary client sends in lower case."""
    routes = per_route(VERBS)
    event = http_proxy("get", "/a/1", route_key="ANY /a/{id}", path_params={"id": "1"}, token=ADA)
    assert "another route" in admitted(guard(routes), event)
    v1 = v1_proxy("get", "/a/1", "/a/{id}", {"id": "1"}, token=ADA)
    assert "another route" in admitted(guard(routes), v1)


def lower_v1_with_upper_arn(method: str) -> dict[str, Any]:
    """Eve's payload 1.0 ``method /a/1`` whose method ARN names ``GET`` (as if API Gateway
    upper-cased the ARN's verb)."""
    event = http_authorizer_v1(method, "/a/1", resource="/a/{id}", path_params={"id": "1"}, token=EVE)
    event["httpMethod"] = method
    event["methodArn"] = event["methodArn"].replace(f"/{method}/", "/GET/")
    return event


def test_control_a_fresh_lower_case_request_is_refused_whatever_its_arn_says() -> None:
    """Held (the control of the memo finding): fresh, ``get`` with the ARN ``.../GET/a/1`` is
    held to ``ANY /a/{id}`` and refused (memoized or cached: the answer's policy does not
    let the ARN through)."""
    for config in CONFIGS:
        assert not authorizer_allows(per_route(VERBS), config, lower_v1_with_upper_arn("get"))


def test_the_memo_does_not_answer_a_lower_case_request_with_the_upper_case_allow() -> None:
    """Eve sends ``GET /a/1`` (runs ``GET /a/{id}``: allowed, memoized on the second
    answer), then ``get /a/1`` (runs ``ANY /a/{id}``, admin). Both ARNs ``.../GET/a/1``:
    the memo key (token, source, kind, ARN, route key, template, ``request.method`` =
    ``GET``, path, routed path) is the same, so the memo serves the Allow a fresh decision
    refuses (the control above)."""
    auth = pair(per_route(VERBS), "memo")[0]
    assert [answer(auth, lower_v1_with_upper_arn("GET")) for _ in range(2)] == ["Allow"] * 2
    assert answer(auth, lower_v1_with_upper_arn("get")) == "Deny"


def test_the_cached_answer_for_the_any_route_lets_no_get_through() -> None:
    """Same condition (ARNs name ``GET``): with ``cache_ttl`` and ``cache_key_covers_route``,
    Eve's ``get /a/1`` (runs ``ANY /a/{id}``, admin) is refused, but the answer is planned
    from the template's grants (``GET /a/{id}`` included): it allows ``.../GET/a/*`` but the
    ARN at hand, and API Gateway serves it to her next ``get /a/2`` on the same route."""
    routes = per_route({"GET /a/{id}": A, "ANY /a/{id}": roles("admin")})
    event = lower_v1_with_upper_arn("get")
    response = pair(routes, "cached")[0].handler(copy.deepcopy(event))
    assert not iam_allows(response, event["methodArn"])
    assert not iam_allows(response, event["methodArn"].replace("/a/1", "/a/2"))


def test_a_payload_1_event_without_a_top_level_method_is_held_to_the_any_route() -> None:
    """``get /a/1`` (runs ``ANY /a/{id}``, admin) with ``requestContext.httpMethod`` = ``get``
    and no top-level ``httpMethod``: ``Request.method`` falls back to the context, but
    ``_ran_as_listed`` reads ``sent`` from the top level only (None: "upper case"), so it
    is held to ``GET /a/{id}`` and Eve allowed; with the top-level ``get`` she is refused.
    The Guard refuses such an event (unsupported)."""
    event = http_authorizer_v1("get", "/a/1", resource="/a/{id}", path_params={"id": "1"}, token=EVE)
    assert event["requestContext"]["httpMethod"] == event["httpMethod"] == "get"
    assert answer(pair(per_route(VERBS), "fresh")[0], event) == "Deny"
    proxy = v1_proxy("get", "/a/1", "/a/{id}", {"id": "1"})
    del proxy["httpMethod"]
    assert admitted(guard(per_route(VERBS)), proxy) != "allow"
    del event["httpMethod"]
    assert answer(pair(per_route(VERBS), "fresh")[0], event) == "Deny"


def test_a_lower_case_root_behind_the_mapping_is_held_to_the_any_root() -> None:
    """Held (changes 1 and 2 together): a table with ``GET /`` (any caller) and ``ANY /``
    (admin); ``get https://api.example.com/v1`` runs the API's ``ANY /``: Eve refused,
    payloads 1.0 and 2.0; upper-case ``GET`` admitted. (Written with the prefix, as this
    review did, the table now refuses behind the mapping: it is the API's routes alone.)"""
    routes = per_route({"GET /": A, "ANY /": roles("admin"), "ANY /{proxy+}": A})
    v1 = root_v1("/v1")
    v1["httpMethod"] = v1["requestContext"]["httpMethod"] = "get"
    v2 = root_v2("/v1", key="ANY /")
    v2["requestContext"]["http"]["method"] = "get"
    assert "allow" not in [admitted(guard(routes), e) for e in (v1, v2)]
    assert admitted(guard(routes), root_v1("/v1")) == admitted(guard(routes), root_v2("/v1")) == "allow"


# =========================================================================================
# Change 1 (dd08958): the root behind a mapping prefix
# =========================================================================================


def test_no_root_integration_runs_that_its_route_denies_behind_the_mapping_prefixed_tables() -> None:
    """Held: review 81's API layouts with the table written WITH the prefix (every route under
    ``/v1``, so ``_written_under`` holds), every request of up to three segments behind the
    mapping ``v1`` (the root as ``/v1`` and ``/v1/`` too), payloads 2.0 and 1.0, Guard verify
    and trust: an allow means the table lists the route that ran and its rule allows Eve."""
    over, checked = [], 0
    for spec, gaps in ROOT_APIS:
        routes, keys = per_route(under_v1(spec)), list(spec) + gaps
        for method, sent, key, params in model_requests(keys, ROOT_VALUES, has_default=False):
            expected = key in spec and ran_route_allows(spec, None, key, method, params)
            path, template = unquote(sent), key.partition(" ")[2]
            events = [mapped_v2(method, path, key, params or None)]
            # 1.0 names the template alone: an unlisted GET route beside a listed ANY one
            # is read as the ANY route (documented), and left out.
            v1_named = key in spec or f"ANY {template}" not in spec
            if v1_named:
                events.append(mapped_v1(method, path, template, params or None))
            if path == "/" and method == "GET":
                events += [root_v2("/v1", key=key)] + [root_v1("/v1")] * v1_named
            for event in events:
                checked += 1
                if not expected and (through := over_allowed(routes, "guard", event)):
                    over.append((event.get("version"), method, sent, key, tuple(spec), through))
    assert over == []
    assert checked > 150


def two_segment_root(raw: str, token: str) -> dict[str, Any]:
    """``GET https://api.example.com{raw}`` behind the mapping ``v1/api`` (the API's ``GET /``)."""
    event = http_proxy("GET", "/", route_key="GET /", token=token)
    on_custom_domain(event, DOMAIN, base_path="v1/api")
    event["rawPath"] = event["requestContext"]["http"]["path"] = raw
    return event


def test_specials_default_and_a_two_segment_mapping_keep_the_prefixed_root() -> None:
    """Held: a table (``GET /`` admin-only) with a ``$connect`` key or a ``default=`` rule
    reads the root behind ``v1`` as ``GET /``: Ada admitted, Eve refused; likewise behind
    the two-segment mapping ``v1/api``; a table of the root route alone. (This review wrote
    them with the prefix, which a per-route table no longer is: see the module docs.)"""
    spec = {"GET /": roles("admin"), "ANY /{proxy+}": A}
    root_alone = per_route({"GET /": roles("admin")})
    tables = [per_route({**spec, "$connect": A}), per_route(spec, default=A), root_alone]
    for routes in tables:
        assert [admitted(guard(routes), root_v2("/v1", t)) == "allow" for t in (EVE, ADA)] == [False, True]
        assert [admitted(guard(routes), root_v1("/v1", t)) == "allow" for t in (EVE, ADA)] == [False, True]
    two = per_route(spec)
    assert [admitted(guard(two), two_segment_root("/v1/api", t)) for t in (EVE, ADA)][1:] == ["allow"]
    assert admitted(guard(two), two_segment_root("/v1/api", EVE)) != "allow"
    assert admitted(guard(two), two_segment_root("/v1", ADA)) == "allow"  # the root behind v1


def test_a_table_mixing_prefixed_and_unprefixed_routes_refuses_the_root() -> None:
    """Held (fail closed, and right): ``GET /v1``, ``ANY /v1/{proxy+}``, ``GET /health``: the
    table is read API-relative, so ``GET /v1`` is the API's own ``/v1`` and the API's root
    (``https://api.example.com/v1``) is unlisted: refused for Eve and Ada alike. A table of
    no HTTP route (``_written_under`` vacuously true) lists no root: refused too."""
    mixed = per_route({"GET /v1": A, "ANY /v1/{proxy+}": A, "GET /health": A})
    for routes in (mixed, per_route({"$connect": A}, default=A)):
        for token in (EVE, ADA):
            assert admitted(guard(routes), root_v2("/v1", token)) != "allow"
            assert admitted(guard(routes), root_v1("/v1", token)) != "allow"
        assert admitted(trust_guard(routes), trusted(root_v2("/v1", None))) != "allow"


def test_odd_root_spellings_in_the_gap_layout_are_refused() -> None:
    """Held: the root route unlisted (table ``ANY /{proxy+}``, API ``GET /`` admin): the root
    sent as ``/v1//``, ``//v1``, ``/v1/./``, ``/V1``, ``/v1%2F`` (what ``_ran_as_listed``
    cannot split falls back to ``""``) is refused, payloads 2.0 and 1.0, verify and trust."""
    routes = per_route({"ANY /{proxy+}": A})
    for raw in ("/v1//", "//v1", "/v1/./", "/V1", "/v1%2F", "/v1/%2E"):
        events = [root_v2(raw), root_v1(raw)]
        assert [over_allowed(routes, "guard", e) for e in events] == [[], []], raw


def test_a_stage_named_like_the_prefix_does_not_read_the_root_as_the_prefixed_route() -> None:
    """Held: a table written under ``/v1`` with a ``default=`` rule that allows Eve, the root
    sent to the execute-api endpoint's stage ``v1`` (rawPath ``/v1``, the API's ``GET /``
    unlisted: the stage is not a mapping): the path ``/`` is read first and held (no root
    route): refused; the as-sent ``/v1`` reading does not rescue it."""
    routes = per_route({"GET /v1": A, "ANY /v1/{proxy+}": A}, default=A)
    for token in (EVE, ADA):
        v2 = http_proxy("GET", "/", route_key="GET /", stage="v1", token=token)
        v2["rawPath"] = v2["requestContext"]["http"]["path"] = "/v1"
        v1 = v1_proxy("GET", "/v1", "/", None, token=token, stage="v1")
        assert "allow" not in [admitted(guard(routes), e) for e in (v2, v1)]


# The API behind the mapping v1: GET / (admin dashboard, unlisted) and its own /v1 routes.
OWN_V1 = {"GET /v1": A, "GET /v1/{id}": A}


def test_an_unlisted_root_is_refused_when_every_api_route_starts_with_the_mapping_name() -> None:
    """The API: ``GET /`` (admin, unlisted), ``GET /v1``, ``GET /v1/{id}`` (any caller), behind
    the mapping ``v1``. ``https://api.example.com/v1`` runs ``GET /``; every table route starts
    with ``v1``, so ``_written_under`` takes the table as written with the prefix and
    ``GET /v1`` as the route that ran: Eve admitted (the non-root analogue, ``/v1/files/7``
    running an unlisted ``GET /files/{id}`` in a table ``GET /v1/files/{id}``, is admitted
    the same way since review 79). The table cannot say which layout it is."""
    assert api_gateway_route(["GET /", *OWN_V1], "GET", "/") == ("GET /", {})
    routes = per_route(OWN_V1)
    assert over_allowed(routes, "guard", root_v2("/v1")) == []
    assert over_allowed(routes, "guard", root_v1("/v1")) == []


def test_the_root_sent_with_a_trailing_slash_is_admitted_in_a_prefixed_table() -> None:
    """``GET https://api.example.com/v1/`` runs the API's ``GET /`` like ``/v1`` does (review
    80's model). In a table written with the prefix (``GET /v1`` admin-only) Ada was admitted
    at ``/v1`` but refused 404 at ``/v1/``: ``paths_of`` read the routed ``/`` (the table
    has no route for ``/v1/``, a trailing ``/``), which a prefixed table never lists. Fixed:
    the root behind the mapping reads as ``/v1`` sent either way; Eve stays refused. (With
    the option on, a table is the API's routes alone and is never read with the prefix.)"""
    routes = Routes({"GET /v1": roles("admin"), "ANY /v1/{proxy+}": A})
    assert admitted(guard(routes), root_v2("/v1", ADA)) == "allow"
    assert admitted(guard(routes), root_v2("/v1/", ADA)) == "allow"
    assert admitted(guard(routes), root_v1("/v1/", ADA)) == "allow"
    assert "allow" not in [admitted(guard(routes), e) for e in (root_v2("/v1/"), root_v1("/v1/"))]
