"""Review 94: f316255 (``Routes(integration_per_route=True)`` tables are the API's routes alone,
never read with a mapping's prefix: ``_written_under`` gone; ``paths_of`` reads the API root sent
as ``/v1/`` as ``/v1`` in a table written with the prefix) attacked through the Guard (verify
and trust mode), the Authorizer (fresh, memo, ``cache_ttl`` with ``cache_key_covers_route``) and
Powertools route guards: payload 2.0 and 1.0 HTTP events, REST events, custom domains behind the
mappings ``v1`` and ``v1/api``, named stages on the execute-api endpoint, the root, ``{proxy+}``,
``$default``, lower-case methods, ``/v1`` and ``/v1/``, tables with and without the prefix,
option on and off. Model: tests/api_gateway_model.py (routes and ARNs API-relative; behind a
mapping the path keeps its prefix; ``/v1/`` runs the API's root like ``/v1``).

Both findings are resolved (the tests assert it): with the option on, ``guard_routes.paths_of``
reads the route API Gateway ran alone (the routed path, and an application's own path), for
REST and HTTP events alike: no prefixed reading, no path as sent on a named stage. A table
written with the prefix then finds no route that ran: 404.

Held: HTTP APIs (both payloads, verify and trust, both mappings, ``/v1`` and ``/v1/``): a sweep
of API layouts whose own routes start with ``v1`` (review 82's open low), with gaps, allows only
what the route that ran allows; a table written with the prefix refuses behind the mapping
(option on); the Authorizer refuses the unlisted root however its ARN is spelled; ``""`` from
``_ran_as_listed`` always has the routed path beside it (each prefixed reading checked in the
Guard comes with the routed one, or the routed route is unlisted); named stages (``/prod/...``),
``$default`` behind the mapping, lower-case methods on the root; option off with a prefixed
table (``/v1/`` admits Ada, refuses Eve, two-segment mapping too).

Finding (low; older than f316255, which now also admits ``/v1/``): REST events skip the per-route
check (``ran_elsewhere`` returns at ``not request.path_decoded``), and ``paths_of`` still reads a
table "written with the prefix" when only the prefixed path has a route. With the option on, an
API whose own routes are ``GET /v1`` and ``GET /v1/files/{id}`` behind the REST base-path mapping
``v1``: ``/v1`` and ``/v1/`` (run the unlisted ``GET /``) and ``/v1/files/7`` (runs the unlisted
``GET /files/{id}``) are admitted by the Guard, verify and trust mode, as the API's own ``/v1``
routes (a Powertools REST resolver's guard admits ``/v1/files/7``); the REQUEST Authorizer
refuses (ARN path ``/``). The sweep finds 588 such allows in five of six layouts (``/v1/`` doubled the
root's in f316255). The docs' "REST APIs pass the path as sent, so their requests always read as
the route that ran" does not hold behind a mapping.

Finding (low, false refusal; the ``/v1/`` spelling new in f316255, ``/v1`` older): with the option
on, ``paths_of`` still judges the path with the mapping's prefix as a second reading ("a backend
may route on the path as sent") when it reaches an API-relative route other than a catch-all.
API ``GET /`` (any caller), ``GET /v1`` (admin, the API's own), mapping ``v1``: Eve's
``https://api.example.com/v1/`` runs ``GET /`` but is refused by ``GET /v1``'s rule (admitted
before f316255; ``/v1`` was refused already); ``/v1/a/7`` running ``GET /a/{id}`` is refused by
an API route ``GET /v1/a/{id}`` (admin). The Authorizer allows all three. With one integration
per route nothing routes on the path as sent.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import unquote

from api_gateway_model import api_gateway_route, model_requests
from guard_events import admitted
from test_review78_integration_per_route import ADA, EVE, guard, ran_route_allows, v1_proxy
from test_review79_per_route_followups import DOMAIN, per_route, powertools_status, prefixed
from test_review80_per_route_fallback import CONTEXT, root_v1, root_v2, trust_guard, trusted
from test_review81_root_and_also import CONFIGS, answer, pair

from secauth import Routes
from secauth.access import authenticated, roles
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    http_proxy,
    on_custom_domain,
    request_authorizer,
    rest_proxy,
)
from secauth.testing_policy import iam_allows

A = authenticated()
ADMIN = roles("admin")


def mapped(payload: str, method: str, path: str, key: str, params: dict[str, str] | None,
           base: str = "v1", token: str = EVE) -> dict[str, Any]:  # fmt: skip
    """``method path`` running ``key`` behind the mapping ``base`` (payload ``"2.0"``, ``"1.0"``
    or ``"rest"``)."""
    template = key.partition(" ")[2]
    if payload == "2.0":
        event = http_proxy(method, path, route_key=key, path_params=params, token=token)
    elif payload == "1.0":
        event = v1_proxy(method, path, template, params, token=token)
    else:
        event = rest_proxy(method, path, resource=template, path_params=params, token=token)
    return on_custom_domain(event, DOMAIN, base_path=base)


def with_raw(event: dict[str, Any], raw: str) -> dict[str, Any]:
    """``event`` with the path as sent replaced by ``raw``."""
    if "rawPath" in event:
        event["rawPath"] = event["requestContext"]["http"]["path"] = raw
    else:
        event["path"] = event["requestContext"]["path"] = raw
    return event


def trusted_any(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` as a trust-mode Guard receives it (payload 1.0 and REST: in ``authorizer``)."""
    if event.get("version") == "2.0":
        return trusted(event)
    event = copy.deepcopy(event)
    for name in ("headers", "multiValueHeaders"):
        for header in [h for h in event.get(name) or {} if h.lower() == "authorization"]:
            del event[name][header]
    event["requestContext"]["authorizer"] = dict(CONTEXT)
    return event


def events_for(payloads: tuple[str, ...], method: str, sent: str, key: str, params: dict[str, str],
               spec: dict[str, Any], base: str) -> list[dict[str, Any]]:  # fmt: skip
    """Every event ``method sent`` (running ``key``) arrives as behind ``base``: the root as
    ``/base`` and ``/base/``."""
    path, template = unquote(sent), key.partition(" ")[2]
    out = []
    for payload in payloads:
        # 1.0 and REST name the template alone: an unlisted GET route beside a listed ANY
        # one is read as the ANY route (documented), and left out.
        if payload != "2.0" and key not in spec and f"ANY {template}" in spec:
            continue
        event = mapped(payload, method, path, key, params or None, base)
        if path == "/":  # on_custom_domain writes the root as "/v1/"
            out += [with_raw(copy.deepcopy(event), raw) for raw in (f"/{base}", f"/{base}/")]
        else:
            out.append(event)
    return out


# API layouts (API-relative table, the API's routes left out of it). The API's own routes start
# with the mapping's name ``v1`` in most: the case a prefix heuristic cannot tell apart.
LAYOUTS: list[tuple[dict[str, Any], list[str]]] = [
    ({"GET /v1": A, "GET /v1/{id}": A}, ["GET /"]),
    ({"GET /v1": A, "GET /v1/files/{id}": A}, ["GET /", "GET /files/{id}"]),
    ({"GET /": ADMIN, "GET /v1": A, "ANY /v1/{proxy+}": A}, ["ANY /{proxy+}"]),
    ({"ANY /v1": A, "ANY /v1/{proxy+}": A, "GET /{name}": A}, ["ANY /", "GET /{name}/{x}"]),
    ({"ANY /{proxy+}": A, "GET /{name}": A}, ["GET /"]),
    ({"GET /": ADMIN, "ANY /": A, "GET /api/{id}": A}, ["GET /api"]),
]
VALUES = ["v1", "api", "x", "M%45"]


def over_allowed(
    payloads: tuple[str, ...], bases: tuple[str, ...]
) -> tuple[int, list[tuple[Any, ...]]]:
    """The Guard's (verify and trust) allows where the route that ran is unlisted or denies Eve."""
    over, checked = [], 0
    for spec, gaps in LAYOUTS:
        routes, keys = per_route(spec), list(spec) + gaps
        verify, trust = guard(routes), trust_guard(routes)
        for method, sent, key, params in model_requests(keys, VALUES, has_default=False):
            expected = key in spec and ran_route_allows(spec, None, key, method, params)
            for base in bases:
                for event in events_for(payloads, method, sent, key, params, spec, base):
                    for g, e in ((verify, event), (trust, trusted_any(event))):
                        checked += 1
                        if not expected and admitted(g, e) == "allow":
                            raw = event.get("rawPath") or event["path"]
                            over.append((event.get("version"), method, raw, key, tuple(spec)))
    return checked, over


def test_http_apis_behind_one_and_two_segment_mappings_allow_only_the_route_that_ran() -> None:
    """Held: payloads 2.0 and 1.0, mappings ``v1`` and ``v1/api``, the root as ``/v1`` and
    ``/v1/``, Guard verify and trust: an allow means the table lists the route that ran and
    its rule allows Eve (the layouts whose own routes start with ``v1`` included)."""
    checked, over = over_allowed(("2.0", "1.0"), ("v1", "v1/api"))
    assert over == []
    assert checked > 1000


def test_a_table_written_with_the_prefix_refuses_behind_the_mapping() -> None:
    """Held (fail closed, as documented): option on, the table written with ``/v1`` in front;
    Ada (whom every route allows) is refused at the root (``/v1``, ``/v1/``), a plain route and
    a ``{proxy+}`` route, both payloads; the same requests pass with the API-relative table."""
    spec = {"GET /": ADMIN, "GET /a/{id}": ADMIN, "ANY /b/{proxy+}": ADMIN}
    requests = [("GET", "/", "GET /", {}), ("GET", "/a/7", "GET /a/{id}", {"id": "7"}),
                ("POST", "/b/x/y", "ANY /b/{proxy+}", {"proxy": "x/y"})]  # fmt: skip
    under_v1 = {k.removesuffix("/"): r for k, r in prefixed(spec).items()}  # the root as /v1
    for table, outcome in ((under_v1, False), (spec, True)):
        g = guard(per_route(table))
        for method, path, key, params in requests:
            for payload in ("2.0", "1.0"):
                event = mapped(payload, method, path, key, params or None, token=ADA)
                events = [event] + ([with_raw(copy.deepcopy(event), "/v1/")] if path == "/" else [])
                assert [admitted(g, e) == "allow" for e in events] == [outcome] * len(events), table


def test_the_authorizer_refuses_the_unlisted_root_whatever_the_arn_says() -> None:
    """Held: the API ``GET /`` (unlisted), ``GET /v1``, ``GET /v1/{id}``; the root behind ``v1``
    reaches the Authorizer with the ARN path ``/`` (as API Gateway sends it) or ``/v1`` (a
    base path in it): refused, payloads 2.0 and 1.0, fresh, memo and cached per route."""
    routes = per_route({"GET /v1": A, "GET /v1/{id}": A})
    for arn_path in ("/", "/v1", "/v1/"):
        v2 = http_authorizer_v2("GET", "/v1", route_key="GET /", token=EVE)
        v1 = http_authorizer_v1("GET", "/v1", resource="/", token=EVE)
        v2["routeArn"] = v2["routeArn"].rsplit("/GET/", 1)[0] + "/GET" + arn_path
        v1["methodArn"] = v1["methodArn"].rsplit("/GET/", 1)[0] + "/GET" + arn_path
        for config in CONFIGS:
            auth = pair(routes, config)[0]
            for event, arn in ((v2, v2["routeArn"]), (v1, v1["methodArn"])) * 2:
                assert not iam_allows(auth.handler(copy.deepcopy(event)), arn), (arn_path, config)


def test_every_prefixed_reading_comes_with_the_routed_one() -> None:
    """Held: ``_ran_as_listed`` answers ``""`` behind a prefix, which is safe only when the routed
    path is judged too. For every request of the sweep behind ``v1`` (HTTP, both payloads) the
    Guard's readings (``paths_of``) hold the routed path, or the routed route is unlisted (and
    the prefixed reading then refuses, ``_UNLISTED``)."""
    from secauth.events import Request
    from secauth.guard_routes import paths_of
    from secauth.targets import _UNLISTED, _ran_as_listed, route_template, routed_path

    missing = []
    for spec, gaps in LAYOUTS:
        routes, keys = per_route(spec), list(spec) + gaps
        for method, sent, key, params in model_requests(keys, VALUES, has_default=False):
            for event in events_for(("2.0", "1.0"), method, sent, key, params, spec, "v1"):
                request = Request.from_event(event)
                paths, routed = paths_of(request, routes), routed_path(request)
                if routed in paths:
                    continue
                answers = {_ran_as_listed(routes, request, request.method, p, route_template(request), routed)
                           for p in paths}  # fmt: skip
                if answers != {_UNLISTED}:
                    missing.append((event.get("version"), method, sent, key, paths))
    assert missing == []


def test_named_stages_and_default_behind_the_mapping_hold() -> None:
    """Held: the execute-api endpoint's stage ``prod`` (rawPath ``/prod/...``, no table literal
    ``prod``): the root as ``/prod`` and ``/prod/`` and ``GET /a/{id}`` admit Eve; the admin
    ``ANY /{proxy+}`` and an unlisted ``GET /b/{id}`` refuse her; ``$default`` behind ``v1``
    whose path reads as a table route is refused; a lower-case ``get`` of the root sent as
    ``/v1/`` runs ``ANY /`` (admin): Eve refused (Ada too: review 82's kept false refusal)."""
    routes = per_route({"GET /": A, "ANY /": ADMIN, "GET /a/{id}": A, "ANY /{proxy+}": ADMIN},
                       default=A)  # fmt: skip

    def staged(path: str, key: str, params: dict[str, str] | None, raw: str) -> dict[str, Any]:
        event = http_proxy("GET", path, route_key=key, path_params=params, stage="prod", token=EVE)
        return with_raw(event, raw)

    g = guard(routes)
    assert admitted(g, staged("/", "GET /", None, "/prod")) == "allow"
    assert admitted(g, staged("/", "GET /", None, "/prod/")) == "allow"
    assert admitted(g, staged("/a/7", "GET /a/{id}", {"id": "7"}, "/prod/a/7")) == "allow"
    assert admitted(g, staged("/b/c", "ANY /{proxy+}", {"proxy": "b/c"}, "/prod/b/c")) != "allow"
    assert admitted(g, staged("/b/7", "GET /b/{id}", {"id": "7"}, "/prod/b/7")) != "allow"
    assert "another route" in admitted(g, mapped("2.0", "GET", "/a/7", "$default", None, token=ADA))
    for payload in ("2.0", "1.0"):
        lower = with_raw(mapped(payload, "get", "/", "ANY /", None), "/v1/")
        assert admitted(g, lower) != "allow"


def test_option_off_prefixed_table_reads_the_root_sent_with_a_slash_as_the_prefixed_root() -> None:
    """Held (change 2): option off, a table written with the prefix (``GET /v1`` admin,
    ``ANY /v1/{proxy+}`` any caller): ``/v1/`` admits Ada and refuses Eve (2.0 and 1.0, verify
    and trust), behind ``v1/api`` too (``/v1/api/``); the API-relative table is unaffected
    (``GET /`` admin: Eve refused at ``/v1/``); a table where ``/v1`` is a catch-all only (no
    ``GET /v1``) still reads the routed root: no root route, 404."""
    spec = {"GET /": ADMIN, "ANY /{proxy+}": A}
    for base in ("v1", "v1/api"):
        table = Routes({k.removesuffix("/"): r for k, r in prefixed(spec, f"/{base}").items()})
        for payload in ("2.0", "1.0"):
            for token, outcome in ((ADA, True), (EVE, False)):
                event = with_raw(
                    mapped(payload, "GET", "/", "GET /", None, base, token), f"/{base}/"
                )
                assert (admitted(guard(table), event) == "allow") is outcome, (base, payload)
                if token == EVE:
                    assert admitted(trust_guard(table), trusted(event)) != "allow"
    relative = Routes(spec)
    assert admitted(guard(relative), root_v2("/v1/")) != "allow"
    assert admitted(guard(relative), root_v2("/v1/", ADA)) == "allow"
    catch_all = Routes({"ANY /v1/{proxy+}": A})
    assert admitted(guard(catch_all), root_v2("/v1/")).startswith("not_found")
    assert api_gateway_route(["GET /", "ANY /{proxy+}"], "GET", "/") == ("GET /", {})


def test_option_on_api_relative_tables_admit_legitimate_requests() -> None:
    """Held: option on, layouts whose API routes do not start with the mapping's name; every
    request whose route allows Eve is admitted behind ``v1`` and ``v1/api`` (root as ``/v1``,
    ``/v1/``), both payloads, verify and trust."""
    apis = [{"GET /": A, "ANY /{proxy+}": A, "GET /a/{id}": A, "ANY /a/me": A},
            {"ANY /": A, "GET /a/{name}": A, "POST /x": A, "GET /x/{y}": A}]  # fmt: skip
    refused = []
    for spec in apis:
        routes = per_route(spec)
        verify, trust = guard(routes), trust_guard(routes)
        for method, sent, key, params in model_requests(
            list(spec), ["a", "me", "x"], has_default=False
        ):
            if not ran_route_allows(spec, None, key, method, params):
                continue
            for base in ("v1", "v1/api"):
                for event in events_for(("2.0", "1.0"), method, sent, key, params, spec, base):
                    for g, e in ((verify, event), (trust, trusted_any(event))):
                        if admitted(g, e) != "allow":
                            refused.append((event.get("version"), method, sent, key, base))
    assert refused == []


def test_the_authorizer_refuses_rest_requests_to_unlisted_routes_behind_the_mapping() -> None:
    """Held (the control of the REST finding): the REST REQUEST authorizer decides the method
    ARN's API-relative path: the unlisted ``GET /`` and ``GET /files/{id}`` are refused, fresh,
    memo and cached per route (the policy evaluated on the ARN), though the path sent
    (``/v1``, ``/v1/files/7``) has the prefix."""
    own = per_route({"GET /v1": A, "GET /v1/files/{id}": A})
    root = request_authorizer("GET", "/", resource="/", token=EVE)
    files = request_authorizer(
        "GET", "/files/7", resource="/files/{id}", path_params={"id": "7"}, token=EVE
    )
    for event, sent in ((root, "/v1"), (files, "/v1/files/7")):
        event["path"] = sent
        event["requestContext"]["domainName"] = DOMAIN
        for config in CONFIGS:
            auth = pair(own, config)[0]
            answers = [auth.handler(copy.deepcopy(event)) for _ in range(2)]
            assert not any(iam_allows(a, event["methodArn"]) for a in answers), config


# fmt: off
def test_rest_events_behind_the_mapping_allow_only_the_route_that_ran() -> None:
    """REST, option on: an allow means the table lists the route that ran (sweep as for HTTP);
    concretely, ``/v1``, ``/v1/`` (the unlisted ``GET /``) and ``/v1/files/7`` (the unlisted
    ``GET /files/{id}``) are admitted by the Guard (Powertools: ``/v1/files/7``)."""
    own = per_route({"GET /v1": A, "GET /v1/files/{id}": A})
    root = mapped("rest", "GET", "/", "GET /", None)
    files = mapped("rest", "GET", "/files/7", "GET /files/{id}", {"id": "7"})
    events = [root, with_raw(copy.deepcopy(root), "/v1/"), files]
    statuses = [powertools_status(guard(own), e) for e in events]
    assert [admitted(guard(own), e) == "allow" for e in events] == [False] * 3
    assert statuses == [404] * 3  # the route that ran is the only reading: not listed
    assert over_allowed(("rest",), ("v1", "v1/api"))[1] == []


def test_option_on_the_path_with_the_prefix_is_not_judged_as_the_api_s_own_route() -> None:
    """API ``GET /`` (any caller), ``GET /v1`` (admin), ``GET /a/{id}`` (any caller),
    ``GET /v1/a/{id}`` (admin); mapping ``v1``. Eve's ``/v1/`` (new in f316255), ``/v1``
    and ``/v1/a/7`` run ``GET /`` and ``GET /a/{id}``: admitted (the Authorizer allows them)."""
    spec = {"GET /": A, "GET /v1": ADMIN, "GET /a/{id}": A, "GET /v1/a/{id}": ADMIN}
    routes = per_route(spec)
    auth = pair(routes, "fresh")[0]
    root_arn = http_authorizer_v2("GET", "/v1/", route_key="GET /", token=EVE)
    root_arn["routeArn"] = root_arn["routeArn"].rsplit("/GET/", 1)[0] + "/GET/"
    a7 = http_authorizer_v2("GET", "/v1/a/7", route_key="GET /a/{id}", path_params={"id": "7"}, token=EVE)
    a7["routeArn"] = a7["routeArn"].replace("/GET/v1/a/7", "/GET/a/7")
    assert [answer(auth, e) for e in (root_arn, a7)] == ["Allow", "Allow"]
    events = [root_v2("/v1/"), root_v1("/v1/"), root_v2("/v1"),
              mapped("2.0", "GET", "/a/7", "GET /a/{id}", {"id": "7"}),
              mapped("1.0", "GET", "/a/7", "GET /a/{id}", {"id": "7"})]
    assert [admitted(guard(routes), e) for e in events] == ["allow"] * len(events)
# fmt: on
