"""Review 35: attacking review 32/33's fixes (the routed path judged on every event, by
the Guard and as ``Target.also`` by the Authorizer; ``app_path`` from ``guard_middleware``;
``api_keys`` beside a verifier refused under ``cache_ttl > 0``).

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; attacks that held
are plain regression tests. Real objects and events (``secauth.testing_events``), real
Powertools resolvers; no mocks.

Model (the project's, tests/test_review33_guard_paths.py): an HTTP API routes on the path
as sent, and delivers the path (payload 2.0 ``rawPath``, payload 1.0 ``path``) and the
route ARN decoded, with each path parameter decoded on its own. A REST API keeps the path
and the path parameters as sent. AWS's documented HTTP payload 1.0 authorizer event has
``resource`` and ``methodArn`` but no ``routeKey`` (developer guide,
http-api-lambda-authorizer). Attacker-controlled: the request line and its encoding,
headers; not the route, stage, domain or mappings.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from guard_callers import ACME, ADMIN, JWT, MAPPER, status

from secauth import Authorizer, Guard, Routes
from secauth.access import authenticated, public, roles, tenant
from secauth.api_keys import ApiKeyEntry, StaticApiKeys, hash_api_key
from secauth.errors import AccessDenied, ConfigurationError
from secauth.events import EventKind, Request
from secauth.guard_routes import paths_of
from secauth.integrations.powertools import guard_middleware
from secauth.policy import Unauthorized
from secauth.responses import Cors
from secauth.targets import routed_path, target_of
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    rest_proxy,
    token_authorizer,
    websocket_connect,
)


def effect(answer: dict[str, Any]) -> str:
    """Allow or Deny, from an IAM-policy answer."""
    return str(answer["policyDocument"]["Statement"][0]["Effect"])


# =============================================================================================
# FINDINGS
# =============================================================================================

# -- F1 (high, over-allow, cross-tenant): the Authorizer's response memo reuses an answer
# across requests whose routed paths differ. ``_authorize`` looks the memo up *before*
# ``target_of``; the memo key (token, source, kind, ARN, routeKey, method, path) holds
# nothing ``routed_path`` reads (``resource``, ``pathParameters``). An answer is kept only
# when ``target.also`` is None, but it is *served* to any request with the same key. On an
# HTTP API two requests that differ only in an encoded "/" share the decoded path and ARN:
# the caller's own request, sent twice, plants an Allow; the shifted one then gets it.

SHIFT_GREEDY = Routes({"GET /{org}/tenants/{t}/{proxy+}": tenant(path="t")})
GREEDY_ROUTE = "GET /{org}/tenants/{t}/{proxy+}"
DECODED = "/x/tenants/acme/tenants/globex/orders"
# sent /x/tenants/acme/tenants/globex/orders: org=x, t=acme (acme's own, allowed)
PLAIN = {"org": "x", "t": "acme", "proxy": "tenants/globex/orders"}
# sent /x%2Ftenants%2Facme/tenants/globex/orders: the backend runs with t=globex
SHIFTED = {"org": "x/tenants/acme", "t": "globex", "proxy": "orders"}


def test_the_memo_does_not_serve_the_callers_allow_to_a_shifted_tenant_payload_2() -> None:
    auth = Authorizer(JWT, routes=SHIFT_GREEDY, claims=MAPPER, decision_log=None)

    def ask(params: dict[str, str]) -> str:
        event = http_authorizer_v2(
            "GET", DECODED, route_key=GREEDY_ROUTE, path_params=params, token=ACME
        )
        return effect(auth.handler(event, None))

    assert ask(SHIFTED) == "Deny"  # fresh: the routed path reads t=globex
    assert ask(PLAIN) == "Allow"
    assert ask(PLAIN) == "Allow"  # second sighting: the answer is kept
    assert ask(SHIFTED) == "Deny"  # served from the memo: Allow


# Payload 1.0 authorizer events carry no routeKey, so two *routes* share a memo key: the
# catch-all's Allow for /tenants/globex/files/a/b is served to the tenant route that runs
# with t=globex, name=a/b (sent .../files/a%2Fb), which alone is Deny.
FILES = Routes(
    {"GET /tenants/{t}/files/{name}": tenant(path="t"), "ANY /{proxy+}": authenticated()}
)


def test_the_memo_does_not_serve_a_catch_all_allow_to_the_tenant_route_payload_1() -> None:
    auth = Authorizer(JWT, routes=FILES, claims=MAPPER, decision_log=None)
    path = "/tenants/globex/files/a/b"

    def ask(resource: str, params: dict[str, str]) -> str:
        event = http_authorizer_v1("GET", path, resource=resource, path_params=params, token=ACME)
        assert "routeKey" not in event
        assert "routeKey" not in event["requestContext"]
        return effect(auth.handler(event, None))

    tenant_route = ("/tenants/{t}/files/{name}", {"t": "globex", "name": "a/b"})
    catch_all = ("/{proxy+}", {"proxy": path[1:]})
    assert ask(*tenant_route) == "Deny"
    assert ask(*catch_all) == "Allow"
    assert ask(*catch_all) == "Allow"
    assert ask(*tenant_route) == "Deny"


# =============================================================================================
# HELD: over-allow attacks
# =============================================================================================


def test_without_the_memo_the_shift_is_refused_after_the_callers_own_requests() -> None:
    """The control for F1: the same sequence with ``response_cache_size=0``."""
    auth = Authorizer(
        JWT, routes=SHIFT_GREEDY, claims=MAPPER, decision_log=None, response_cache_size=0
    )
    for params, expected in ((PLAIN, "Allow"), (PLAIN, "Allow"), (SHIFTED, "Deny")):
        event = http_authorizer_v2(
            "GET", DECODED, route_key=GREEDY_ROUTE, path_params=params, token=ACME
        )
        assert effect(auth.handler(event, None)) == expected


def test_the_guard_has_no_memo_to_reuse_for_the_shift() -> None:
    guard = Guard(JWT, routes=SHIFT_GREEDY, claims=MAPPER, decision_log=None)
    handler = guard(lambda e, c: {"statusCode": 200, "body": "ok"})
    for _ in range(3):
        plain = http_proxy("GET", DECODED, route_key=GREEDY_ROUTE, path_params=PLAIN, token=ACME)
        assert handler(plain, None)["statusCode"] == 200
    shifted = http_proxy("GET", DECODED, route_key=GREEDY_ROUTE, path_params=SHIFTED, token=ACME)
    assert handler(shifted, None)["statusCode"] == 403


def test_the_shift_through_a_greedy_route_is_refused_by_the_guard_and_a_fresh_authorizer() -> None:
    event = http_proxy("GET", DECODED, route_key=GREEDY_ROUTE, path_params=SHIFTED, token=ACME)
    assert "" in paths_of(Request.from_event(event), SHIFT_GREEDY)
    auth = Authorizer(JWT, routes=SHIFT_GREEDY, claims=MAPPER, decision_log=None)
    event = http_authorizer_v2(
        "GET", DECODED, route_key=GREEDY_ROUTE, path_params=SHIFTED, token=ACME
    )
    assert target_of(Request.from_event(event), SHIFT_GREEDY).also == ""
    assert effect(auth.handler(event, None)) == "Deny"


def test_a_value_never_fills_another_parameter_placeholder() -> None:
    event = {"resource": "/{a}/{b}", "pathParameters": {"a": "{b}", "b": "x"}}
    assert routed_path(Request(EventKind.REST_V1, event)) == "/{b}/x"  # filled in place
    event = {"resource": "/{a}/{b+}", "pathParameters": {"a": "{b+}", "b": "x/y"}}
    assert routed_path(Request(EventKind.REST_V1, event)) == "/{b+}/x/y"


def test_a_single_parameter_holding_a_slash_is_refused_even_beside_a_greedy_one() -> None:
    event = {"resource": "/{a}/{b+}", "pathParameters": {"b": "c/d", "a": "x/y"}}
    assert routed_path(Request(EventKind.REST_V1, event)) == ""


def test_token_and_websocket_authorizers_name_no_routed_path() -> None:
    token = Request.from_event(token_authorizer("GET", "/orders/7", token=ACME))
    assert routed_path(token) is None
    assert target_of(token, FILES).also is None
    ws = Request.from_event(websocket_connect(query={"token": ACME}))
    assert routed_path(ws) is None
    assert target_of(ws, Routes({"$connect": authenticated()})).also is None


def test_a_default_route_on_a_named_stage_keeps_its_stage_reading() -> None:
    """``$default`` names no route: ``also`` is the path as sent (stage kept), not a
    routed path, and it is decided."""
    table = Routes({"ANY /prod/{proxy+}": roles("admin"), "ANY /{proxy+}": authenticated()})
    event = http_authorizer_v2("GET", "/admin", stage="prod", token=ACME)
    event["routeArn"] = event["routeArn"].replace("/prod/GET/admin", "/prod/$default")
    target = target_of(Request.from_event(event), table)
    assert (target.path, target.also) == ("/admin", "/prod/admin")
    auth = Authorizer(JWT, routes=table, claims=MAPPER, decision_log=None)
    assert effect(auth.handler(event, None)) == "Deny"


ADMIN_TABLE = Routes(
    {
        "ANY /admin/{proxy+}": roles("admin"),
        "GET /public/{proxy+}": public(),
        "ANY /{proxy+}": authenticated(),
    }
)


def test_an_app_path_only_adds_a_reading() -> None:
    """``app_path`` (Powertools' routed path) cannot replace the event's readings: a
    public ``app_path`` does not open the admin path the event names."""
    event = rest_proxy(
        "GET", "/admin/users", resource="/{proxy+}", path_params={"proxy": "admin/users"},
        token=ACME,
    )  # fmt: skip
    request = Request.from_event(event)
    assert paths_of(request, ADMIN_TABLE, "/public/x") == ["/admin/users", "/public/x"]
    guard = Guard(JWT, routes=ADMIN_TABLE, claims=MAPPER, decision_log=None)
    with pytest.raises(AccessDenied):
        guard.admit(event, {}, app_path="/public/x")


def test_a_trailing_slash_the_rest_resolver_accepts_is_refused() -> None:
    """APIGatewayRestResolver matches ``^rule/*$``: ``/admin/users/`` runs ``/admin/users``;
    the guard refuses the empty segment rather than reading a catch-all."""
    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(Guard(JWT, routes=ADMIN_TABLE, claims=MAPPER,
                                                decision_log=None))])  # fmt: skip

    @app.get("/admin/users")
    def users() -> dict[str, str]:
        return {"users": "every user"}

    event = rest_proxy(
        "GET", "/admin/users/", resource="/{proxy+}", path_params={"proxy": "admin/users/"},
        token=ACME,
    )  # fmt: skip
    answer = app.resolve(event, None)
    assert answer["statusCode"] in (403, 404)
    assert "every user" not in answer["body"]


@pytest.mark.parametrize("prefix", ["/v1", re.compile(r"/v[0-9]+")], ids=["text", "regex"])
def test_a_per_route_guard_under_a_global_one_judges_the_stripped_path(prefix: Any) -> None:
    app = APIGatewayRestResolver(strip_prefixes=[prefix])
    outer = Guard(JWT, routes=Routes({"ANY /{proxy+}": authenticated()}), claims=MAPPER,
                  decision_log=None)  # fmt: skip
    app.use(middlewares=[guard_middleware(outer)])
    inner = Guard(JWT, routes=ADMIN_TABLE, claims=MAPPER, decision_log=None)

    @app.get("/admin/users", middlewares=[guard_middleware(inner)])
    def users() -> dict[str, str]:
        return {"users": "every user"}

    event = rest_proxy(
        "GET", "/v1/admin/users", resource="/{proxy+}",
        path_params={"proxy": "v1/admin/users"}, token=ACME,
    )  # fmt: skip
    answer = app.resolve(event, None)
    assert answer["statusCode"] == 403
    assert "every user" not in answer["body"]
    event["headers"]["Authorization"] = f"Bearer {ADMIN}"
    event["multiValueHeaders"]["Authorization"] = [f"Bearer {ADMIN}"]
    assert app.resolve(event, None)["statusCode"] == 200


KEY = "pk-review35-partner-key"
KEYS = StaticApiKeys({hash_api_key(KEY): ApiKeyEntry("partner", roles=("admin",))})


def test_api_keys_beside_a_verifier_under_a_result_cache_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="api_keys"):
        Authorizer(JWT, api_keys=KEYS, routes=ADMIN_TABLE, cache_ttl=300, decision_log=None)
    covered = Authorizer(
        JWT, api_keys=KEYS, routes=ADMIN_TABLE, cache_ttl=300, decision_log=None,
        cache_key_covers_request=True,
    )  # fmt: skip
    assert covered.cache_ttl == 300


def test_a_key_only_authorizer_under_a_result_cache_reads_nothing_but_the_key() -> None:
    auth = Authorizer(api_keys=KEYS, routes=ADMIN_TABLE, cache_ttl=300, decision_log=None)
    # a bearer token without the key: refused (401), never decided by the token
    with_token = request_authorizer(
        "GET", "/admin/users", resource="/{proxy+}", path_params={"proxy": "admin/users"},
        token=ADMIN,
    )  # fmt: skip
    with pytest.raises(Unauthorized):
        auth.handler(with_token, None)
    with_key = request_authorizer(
        "GET", "/admin/users", resource="/{proxy+}", path_params={"proxy": "admin/users"},
        headers={"x-api-key": KEY},
    )  # fmt: skip
    assert effect(auth.handler(with_key, None)) == "Allow"


# =============================================================================================
# HELD: legitimate traffic (fail-closed regressions looked for)
# =============================================================================================

FILE_TABLE = Routes(
    {"GET /tenants/{tenant}/files/{file}": tenant(path="tenant"), "ANY /{proxy+}": authenticated()}
)  # parameter names differ from API Gateway's {t} and {name} below


@pytest.mark.parametrize(
    "name",
    ["M%C3%BCnchen", "a%20b", "{x}", "%7Bx%7D", "report.pdf", "caf%C3%A9~1"],
)
def test_rest_values_as_sent_are_served_on_execute_api(name: str) -> None:
    """REST keeps path and parameters as sent (encoded alike): no extra refusal."""
    path = f"/tenants/acme/files/{name}"
    event = rest_proxy(
        "GET", path, resource="/tenants/{t}/files/{name}",
        path_params={"t": "acme", "name": name}, token=ACME,
    )  # fmt: skip
    assert status(FILE_TABLE, event) == 200
    other = rest_proxy(
        "GET", f"/tenants/globex/files/{name}", resource="/tenants/{t}/files/{name}",
        path_params={"t": "globex", "name": name}, token=ACME,
    )  # fmt: skip
    assert status(FILE_TABLE, other) == 403


@pytest.mark.parametrize("name", ["a b", "München", "{x}", "100%", "x+y"])
def test_http_decoded_values_are_served(name: str) -> None:
    path = f"/tenants/acme/files/{name}"
    event = http_proxy(
        "GET", path, route_key="GET /tenants/{t}/files/{name}",
        path_params={"t": "acme", "name": name}, token=ACME,
    )  # fmt: skip
    assert status(FILE_TABLE, event) == 200


@pytest.mark.parametrize("name", ["a b", "München", "{x}"])
def test_the_authorizer_allows_decoded_http_values(name: str) -> None:
    auth = Authorizer(JWT, routes=FILE_TABLE, claims=MAPPER, decision_log=None)
    event = http_authorizer_v2(
        "GET", f"/tenants/acme/files/{name}", route_key="GET /tenants/{t}/files/{name}",
        path_params={"t": "acme", "name": name}, token=ACME,
    )  # fmt: skip
    assert effect(auth.handler(event, None)) == "Allow"


def test_the_authorizer_allows_rest_values_as_sent() -> None:
    auth = Authorizer(JWT, routes=FILE_TABLE, claims=MAPPER, decision_log=None)
    event = request_authorizer(
        "GET", "/tenants/acme/files/M%C3%BCnchen", resource="/tenants/{t}/files/{name}",
        path_params={"t": "acme", "name": "M%C3%BCnchen"}, token=ACME,
    )  # fmt: skip
    assert effect(auth.handler(event, None)) == "Allow"


def test_the_root_resource_and_greedy_routes_are_served() -> None:
    table = Routes({"GET /": public(), "ANY /{proxy+}": authenticated()})
    assert status(table, rest_proxy("GET", "/", resource="/", token=ACME)) == 200
    greedy = http_proxy(
        "GET", "/a/b/c", route_key="ANY /{proxy+}", path_params={"proxy": "a/b/c"}, token=ACME
    )
    assert status(table, greedy) == 200
    rest_greedy = rest_proxy(
        "GET", "/a/b/c", resource="/{proxy+}", path_params={"proxy": "a/b/c"}, token=ACME
    )
    assert status(table, rest_greedy) == 200


def test_a_cors_preflight_through_the_middleware_with_a_stripped_prefix_is_answered() -> None:
    guard = Guard(JWT, routes=ADMIN_TABLE, claims=MAPPER, decision_log=None,
                  cors=Cors(allow_origins=["https://app.example.com"]))  # fmt: skip
    app = APIGatewayRestResolver(strip_prefixes=["/v1"])
    app.use(middlewares=[guard_middleware(guard)])

    @app.get("/admin/users")
    def users() -> dict[str, str]:
        return {"users": "every user"}

    event = rest_proxy(
        "OPTIONS", "/v1/admin/users", resource="/{proxy+}",
        path_params={"proxy": "v1/admin/users"},
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
    )  # fmt: skip
    assert app.resolve(event, None)["statusCode"] == 204


def test_an_unmatched_powertools_path_stays_a_refusal_or_404() -> None:
    guard = Guard(JWT, routes=ADMIN_TABLE, claims=MAPPER, decision_log=None)
    app = APIGatewayRestResolver(strip_prefixes=["/v1"])
    app.use(middlewares=[guard_middleware(guard)])

    @app.get("/admin/users")
    def users() -> dict[str, str]:
        return {"users": "every user"}

    event = rest_proxy(
        "GET", "/v1/nothing", resource="/{proxy+}", path_params={"proxy": "v1/nothing"},
        token=ACME,
    )  # fmt: skip
    assert app.resolve(event, None)["statusCode"] == 404
