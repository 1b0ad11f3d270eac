"""Review 33: which path(s) decide a guarded request (``guard_routes.paths_of``, ``decide``,
``routed_path``), attacked where the Guard's path and the path the backend routes on part.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; attacks that held
are plain regression tests. Real objects and events (``secauth.testing_events``), real
Powertools resolvers; no mocks.

Attacker-controlled: the request line (method, path and its percent-encoding, which
custom domain / mapping / the default ``execute-api`` endpoint it is sent to), headers and
body. Not attacker-controlled: ``resource``/``routeKey``, ``stage``, ``domainName`` and the
mappings (API Gateway writes them), nor how the backend strips prefixes.

HTTP APIs (payload 2.0 ``rawPath`` and payload 1.0 ``path``) deliver the path
percent-decoded, while API Gateway selects the route on the path as sent and decodes each
path parameter on its own: ``/x%2Ftenants%2Facme/tenants/globex/orders`` runs
``GET /{org}/tenants/{t}/orders`` with ``org="x/tenants/acme"``, ``t="globex"``, and the
event's path is ``/x/tenants/acme/tenants/globex/orders``. (Review 28 builds the same
events: ``test_an_encoded_slash_in_a_single_parameter_behind_a_mapping_is_refused``.)
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from guard_callers import ACME, ADMIN, CUSTOM, EXECUTE_API, JWT, MAPPER, status

from secauth import Authorizer, Guard, RateLimiter, Routes
from secauth.access import authenticated, public, roles, tenant
from secauth.events import Request
from secauth.guard_routes import paths_of
from secauth.integrations.powertools import guard_middleware
from secauth.ratelimit import Limit, MemoryStore
from secauth.targets import target_of
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    http_proxy,
    on_custom_domain,
    rest_proxy,
)


def http_event(
    kind: str, path: str, template: str, params: dict[str, str], method: str = "GET", **sent: Any
) -> dict[str, Any]:
    """An HTTP API event routed on ``template``: payload 2.0 (``"http"``) or 1.0
    (``"http1"``), on the default execute-api endpoint, ``$default`` stage; ``path`` is the
    decoded path API Gateway puts in the event."""
    if kind == "http":
        return http_proxy(
            method, path, route_key=f"{method} {template}", path_params=params, **sent
        )
    event = rest_proxy(
        method, path, resource=template, path_params=params, stage="$default", **sent
    )
    event["version"] = "1.0"
    event["requestContext"]["routeKey"] = f"{method} {template}"
    return event


def proxy(path: str, method: str = "GET", **sent: Any) -> dict[str, Any]:
    """A REST ``/{proxy+}`` event on the default execute-api endpoint."""
    return rest_proxy(method, path, resource="/{proxy+}", path_params={"proxy": path[1:]}, **sent)


# =============================================================================================
# FINDINGS
# =============================================================================================

# -- F1 (high, over-allow, cross-tenant): on the default execute-api endpoint the route API
# Gateway ran is never read (``_on_custom_domain`` gates ``routed_path``). An HTTP API's
# decoded path splits an encoded "/" into two segments, so a parameter before the tenant
# (``{org}``) shifts the tenant the Guard reads: API Gateway runs the tenant route with
# t=globex, the Guard reads t=acme on the table's other tenant route. Every route of the
# table is tenant-restricted; the same event on a custom domain is refused (routed "").

SHIFT = Routes(
    {
        "GET /{org}/tenants/{t}/orders": tenant(path="t"),
        "ANY /{org}/tenants/{t}/{proxy+}": tenant(path="t"),
    }
)
SHIFTED_PATH = "/x/tenants/acme/tenants/globex/orders"  # sent: /x%2Ftenants%2Facme/tenants/...
SHIFTED_PARAMS = {"org": "x/tenants/acme", "t": "globex"}


@pytest.mark.parametrize("kind", ["http", "http1"])
def test_an_encoded_slash_on_execute_api_does_not_shift_the_tenant(kind: str) -> None:
    event = http_event(kind, SHIFTED_PATH, "/{org}/tenants/{t}/orders", SHIFTED_PARAMS, token=ACME)
    assert event["requestContext"]["domainName"] == EXECUTE_API  # the default endpoint
    assert status(SHIFT, event) in (403, 404)


@pytest.mark.parametrize("payload", ["2.0", "1.0"])
def test_an_encoded_slash_does_not_shift_the_tenant_an_authorizer_reads(payload: str) -> None:
    """The same shift before an Authorizer: the route ARN names the decoded path (acme's
    reading), the event names the route API Gateway ran and its parameters (globex's)."""
    auth = Authorizer(JWT, routes=SHIFT, claims=MAPPER, decision_log=None)
    template = "/{org}/tenants/{t}/orders"
    if payload == "2.0":
        event = http_authorizer_v2(
            "GET", SHIFTED_PATH, route_key=f"GET {template}", path_params=SHIFTED_PARAMS,
            token=ACME,
        )  # fmt: skip
    else:
        event = http_authorizer_v1(
            "GET", SHIFTED_PATH, resource=template, path_params=SHIFTED_PARAMS, token=ACME
        )
    assert arn_target(event) == ("GET", SHIFTED_PATH)
    assert auth.handler(event, None)["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    # acme's own orders, through the same route, are allowed
    own = {"org": "x", "t": "acme"}
    if payload == "2.0":
        event = http_authorizer_v2(
            "GET", "/x/tenants/acme/orders", route_key=f"GET {template}", path_params=own,
            token=ACME,
        )  # fmt: skip
    else:
        event = http_authorizer_v1(
            "GET", "/x/tenants/acme/orders", resource=template, path_params=own, token=ACME
        )
    assert auth.handler(event, None)["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def arn_target(event: dict[str, Any]) -> tuple[str, str]:
    target = target_of(Request.from_event(event), SHIFT)
    return target.method, target.path


# The same with a catch-all for the rest of the API: a tenant route ending in a parameter
# (a file name, an object key) is read as one segment longer, misses the tenant route and
# falls to the catch-all: acme reads globex's file "a/b".
FILES = Routes(
    {"GET /tenants/{t}/files/{name}": tenant(path="t"), "ANY /{proxy+}": authenticated()}
)


@pytest.mark.parametrize("kind", ["http", "http1"])
def test_an_encoded_slash_in_a_trailing_parameter_does_not_fall_to_the_catch_all(kind: str) -> None:
    event = http_event(
        kind, "/tenants/globex/files/a/b", "/tenants/{t}/files/{name}",
        {"t": "globex", "name": "a/b"}, token=ACME,
    )  # fmt: skip
    assert status(FILES, event) in (403, 404)


# -- F2 (medium, over-allow): Powertools ``strip_prefixes`` (the resolver's answer to a
# custom domain's base-path mapping, which docs/guard.md and review 29 pair with a table of
# the API's own routes) strips the prefix from *any* request. On the default execute-api
# endpoint (enabled unless disabled), ``/v1/admin/users`` reaches the ``{proxy+}`` resource,
# the Guard reads ``/v1/admin/users`` (the catch-all), and the resolver runs ``/admin/users``.
# Through ``guard_middleware`` the Guard has the resolver at hand, and still judges only the
# event's path. A ``re.Pattern`` prefix is ``re.sub``-ed everywhere in the path, so even the
# custom domain is open: ``/v1/adm/v1in/users`` becomes ``/admin/users``.

ADMIN_TABLE = Routes(
    {
        "ANY /admin/{proxy+}": roles("admin"),
        "GET /tenants/{t}/orders": tenant(path="t"),
        "POST /login": public(),
        "ANY /{proxy+}": authenticated(),
    }
)


def powertools_app(strip: list[str | re.Pattern[str]], *, middleware: bool) -> Any:
    app = APIGatewayRestResolver(strip_prefixes=strip)
    guard = Guard(JWT, routes=ADMIN_TABLE, claims=MAPPER, decision_log=None)
    if middleware:
        app.use(middlewares=[guard_middleware(guard)])

    @app.get("/admin/users")
    def users() -> dict[str, str]:
        return {"users": "every user"}

    @app.get("/tenants/<t>/orders")
    def orders(t: str) -> dict[str, str]:
        return {"orders": f"of {t}"}

    return app.resolve if middleware else guard(app.resolve)


@pytest.mark.parametrize("prefix", ["/v1", re.compile(r"/v[1-3]+")], ids=["text", "regex"])
def test_a_stripped_prefix_on_execute_api_does_not_reach_the_admin_route(prefix: Any) -> None:
    """F2, fixed in ``guard_middleware``: the path the resolver routes on (after its
    ``strip_prefixes``) is one more reading the guard decides."""
    handler = powertools_app([prefix], middleware=True)
    answer = handler(proxy("/v1/admin/users", token=ACME), None)
    assert answer["statusCode"] == 403
    assert "every user" not in answer["body"]
    answer = handler(proxy("/v1/tenants/globex/orders", token=ACME), None)
    assert answer["statusCode"] == 403
    assert "of globex" not in answer["body"]
    # the caller's own tenant, and the admin, through the same prefix
    assert handler(proxy("/v1/tenants/acme/orders", token=ACME), None)["statusCode"] == 200
    assert handler(proxy("/v1/admin/users", token=ADMIN), None)["statusCode"] == 200


def test_a_regex_stripped_prefix_behind_the_mapping_does_not_reach_the_admin_route() -> None:
    handler = powertools_app([re.compile(r"/v[1-3]+")], middleware=True)
    event = on_custom_domain(proxy("/adm/v1in/users", token=ACME), CUSTOM, base_path="v1")
    assert event["path"] == "/v1/adm/v1in/users"
    answer = handler(event, None)
    assert answer["statusCode"] == 403
    assert "every user" not in answer["body"]


def test_a_login_limit_counts_a_stripped_prefix_on_execute_api() -> None:
    login = RateLimiter(Limit(1, 60), store=MemoryStore(), key=lambda request, principal: "all", name="login")
    guard = Guard(JWT, routes=ADMIN_TABLE, decision_log=None, route_limits={"POST /login": login})
    event = proxy("/v1/login", "POST", token=ACME, body="{}")  # Powertools runs POST /login
    request = Request.from_event(event)
    assert login not in guard.limits_for(request)  # the event alone does not say it
    assert login in guard.limits_for(request, app_path="/login")
    app = APIGatewayRestResolver(strip_prefixes=["/v1"])
    app.use(middlewares=[guard_middleware(guard)])

    @app.post("/login")
    def log_in() -> dict[str, str]:
        return {"ok": "in"}

    assert app.resolve(event, None)["statusCode"] == 200
    assert app.resolve(event, None)["statusCode"] == 429


def test_the_decorator_form_cannot_see_a_stripped_prefix() -> None:
    """Documented (docs/guard.md): ``guard(app.resolve)`` sees the event only, so with
    ``strip_prefixes`` the route the resolver runs is not the one the guard read; use
    ``guard_middleware`` (the test above) or disable the execute-api endpoint."""
    handler = powertools_app(["/v1"], middleware=False)
    assert "every user" in handler(proxy("/v1/admin/users", token=ACME), None)["body"]


# =============================================================================================
# HELD (regression tests)
# =============================================================================================


@pytest.mark.parametrize("kind", ["http", "http1"])
def test_the_shifted_tenant_is_refused_on_a_custom_domain(kind: str) -> None:
    event = http_event(kind, SHIFTED_PATH, "/{org}/tenants/{t}/orders", SHIFTED_PARAMS, token=ACME)
    on_custom_domain(event, CUSTOM)
    assert "" in paths_of(Request.from_event(event), SHIFT)
    assert status(SHIFT, event) in (403, 404)
    event = http_event(kind, SHIFTED_PATH, "/{org}/tenants/{t}/orders", SHIFTED_PARAMS, token=ACME)
    assert status(SHIFT, on_custom_domain(event, CUSTOM, base_path="v1")) in (403, 404)


@pytest.mark.parametrize("kind", ["http", "http1"])
def test_the_shift_table_admits_its_own_tenant_and_refuses_another(kind: str) -> None:
    for who, expected in (("acme", 200), ("globex", 403)):
        event = http_event(
            kind, f"/x/tenants/{who}/orders", "/{org}/tenants/{t}/orders",
            {"org": "x", "t": who}, token=ACME,
        )  # fmt: skip
        assert status(SHIFT, event) == expected
        assert status(SHIFT, on_custom_domain(event, CUSTOM, base_path="v1")) == expected


@pytest.mark.parametrize("domain", [EXECUTE_API, CUSTOM])
def test_a_rest_api_keeps_the_encoded_slash_and_is_refused(domain: str) -> None:
    event = rest_proxy(
        "GET", "/x%2Ftenants%2Facme/tenants/globex/orders", resource="/{org}/tenants/{t}/orders",
        path_params={"org": "x%2Ftenants%2Facme", "t": "globex"}, token=ACME,
    )  # fmt: skip
    event["requestContext"]["domainName"] = domain
    assert status(SHIFT, event) in (403, 404)


@pytest.mark.parametrize("kind", ["http", "http1"])
def test_a_doubly_encoded_tenant_decoded_once_by_an_http_api_is_not_the_callers(kind: str) -> None:
    # Sent /x/tenants/%2567lobex/orders: the event holds %67lobex; the Guard reads globex.
    event = http_event(
        kind, "/x/tenants/%67lobex/orders", "/{org}/tenants/{t}/orders",
        {"org": "x", "t": "%67lobex"}, token=ACME,
    )  # fmt: skip
    assert status(SHIFT, event) == 403


@pytest.mark.parametrize("kind", ["http", "http1"])
@pytest.mark.parametrize("who", ["globex/..", "..", "globe%78", "glob\u0435x"])  # last: Cyrillic e
def test_tenant_spellings_through_an_http_api_never_reach_globex(kind: str, who: str) -> None:
    event = http_event(
        kind, f"/x/tenants/{who}/orders", "/{org}/tenants/{t}/orders",
        {"org": "x", "t": who}, token=ACME,
    )  # fmt: skip
    assert status(SHIFT, event) in (403, 404)


def test_a_stripped_prefix_behind_its_mapping_is_decided_on_the_routed_path() -> None:
    handler = powertools_app(["/v1"], middleware=False)
    for path in ("/admin/users", "/v1/admin/users"):  # the second: /v1/v1/... sent
        event = on_custom_domain(proxy(path, token=ACME), CUSTOM, base_path="v1")
        assert "every user" not in handler(event, None)["body"]
    event = on_custom_domain(proxy("/admin/users", token=ADMIN), CUSTOM, base_path="v1")
    assert "every user" in handler(event, None)["body"]
    event = on_custom_domain(proxy("/tenants/acme/orders", token=ACME), CUSTOM, base_path="v1")
    assert "of acme" in handler(event, None)["body"]


def test_an_http_named_stage_sent_as_the_first_segment_on_a_custom_domain_is_read_both_ways() -> (
    None
):
    # Stage "prod" behind a custom domain (the stage is not in the path): a client sends
    # /prod/admin/users; the Guard strips "prod" and reads the routed path as sent too.
    event = http_proxy(
        "GET", "/prod/admin/users", route_key="ANY /{proxy+}",
        path_params={"proxy": "prod/admin/users"}, token=ACME,
    )  # fmt: skip
    event["requestContext"]["stage"] = "prod"
    on_custom_domain(event, CUSTOM)
    paths = paths_of(Request.from_event(event), ADMIN_TABLE)
    assert paths == ["/admin/users", "/prod/admin/users"]
    assert status(ADMIN_TABLE, event) == 403


@pytest.mark.parametrize("base", ["v1/orders", "shop/v1"])
def test_a_multi_segment_mapping_named_like_a_route_still_judges_the_admin_route(base: str) -> None:
    event = on_custom_domain(proxy("/admin/users", token=ACME), CUSTOM, base_path=base)
    assert paths_of(Request.from_event(event), ADMIN_TABLE)[0] == "/admin/users"
    assert status(ADMIN_TABLE, event) == 403
    event = on_custom_domain(proxy("/admin/users", token=ADMIN), CUSTOM, base_path=base)
    assert status(ADMIN_TABLE, event) == 200


@pytest.mark.parametrize("kind", ["http", "http1"])
@pytest.mark.parametrize("path", ["/TENANTS/globex/orders", "/%74enants/globex/orders"])
def test_case_and_encoded_literals_on_execute_api_still_read_the_tenant_route(
    kind: str, path: str
) -> None:
    event = http_event(kind, path, "/{proxy+}", {"proxy": path[1:]}, token=ACME)
    assert status(ADMIN_TABLE, event) == 403


@pytest.mark.parametrize("kind", ["http", "http1"])
def test_decoded_dot_segments_in_an_http_greedy_value_are_refused(kind: str) -> None:
    # Sent /public/..%2Fadmin%2Fusers: one segment to API Gateway, ".." once decoded.
    table = Routes({"GET /public/{proxy+}": public(), "ANY /admin/{proxy+}": roles("admin")})
    event = http_event(
        kind, "/public/../admin/users", "/public/{proxy+}", {"proxy": "../admin/users"}
    )
    assert status(table, event) in (401, 403, 404)


def test_a_long_path_with_many_ambiguous_segments_is_decided_without_blowing_up() -> None:
    table = Routes(
        {"GET /" + "/".join(f"s{i}" for i in range(12)): roles("admin"), "ANY /{proxy+}": public()}
    )
    # Twelve ambiguous segments: more than route_table.MAX_AMBIGUOUS_SEGMENTS, so the path
    # is not read at all and is refused (review 119: its readings would be 2**12).
    path = "/" + "/".join(f"S{i}" for i in range(12)) + "/x" * 2000
    assert status(table, proxy(path, token=ACME)) == 404
    short = "/" + "/".join(f"S{i}" for i in range(12))
    assert status(table, proxy(short, token=ACME)) == 404
    # Within the cap, every reading is decided: six folded segments of a six-segment
    # admin route reach it (403), and a longer path only the catch-all (200).
    six = Routes({"GET /" + "/".join(f"s{i}" for i in range(6)): roles("admin"),
                  "ANY /{proxy+}": public()})  # fmt: skip
    folded = "/" + "/".join(f"S{i}" for i in range(6))
    assert status(six, proxy(folded, token=ACME)) == 403
    assert status(six, proxy(folded + "/x" * 2000, token=ACME)) == 200
