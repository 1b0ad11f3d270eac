"""Review 58: the fixes of review 57 (and 56, 54), attacked.

* A verifying ``Guard(trust_authorizer=True)`` takes a WebSocket ``MESSAGE`` or
  ``DISCONNECT`` context without a token when its ``routes`` have WebSocket route keys.
  Attacked with mixed tables (one table for an HTTP API and a WebSocket API), HTTP route
  keys in ``requestContext.routeKey``, ``require()``-derived guards, ``Guard.check`` and
  a message whose ``routeKey`` is a reserved key (``$connect``) its ``eventType`` denies.
* ``Routes`` reads every parameter holding ``;`` both ways (``parameter_readings``).
  Attacked with greedy values, cached policies, rules that raise on one reading, the
  Guard's own rule (``require``), Powertools route guards and rules reading
  ``context.path``.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; attacks the
library resists are plain tests.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from forged_contexts import (
    CLAIMS,
    ISS,
    VERIFIER,
    OwnerOnly,
    both,
    echo,
    forged_context,
    token,
)

from secauth import (
    Authorizer,
    Guard,
    Principal,
    Routes,
    authenticated,
    roles,
    tenant,
)
from secauth.errors import MissingToken, Reason
from secauth.parameter_readings import parameter_readings
from secauth.policy.responses import Unauthorized
from secauth.rules import AccessContext, Denial, Rule
from secauth.testing_events import (
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    rest_proxy,
    websocket_connect,
    websocket_message,
)
from secauth.testing_policy import iam_allows


def dispatch_on_route_key(event: dict[str, Any], context: Any, principal: Principal) -> Any:
    """One function for a WebSocket API, dispatching on ``requestContext.routeKey`` as the
    AWS SDK example ``apigateway_websocket_chat`` (``lambda_chat.py``) does: ``$connect``
    stores the connection under the caller's name."""
    route_key = event["requestContext"]["routeKey"]
    if route_key == "$connect":
        return {"statusCode": 200, "body": f"registered {event['requestContext']['connectionId']} "
                                           f"as {principal.id}"}  # fmt: skip
    return {"statusCode": 200, "body": f"{route_key} by {principal.id}"}


WS_TABLE = Routes(
    {"$connect": authenticated(), "$disconnect": authenticated(), "sendmessage": authenticated()}
)
MIXED_TABLE = Routes(
    {
        "$connect": authenticated(),
        "sendmessage": authenticated(),
        "GET /admin/users": roles("admin"),
        "DELETE /items/{id}": roles("admin"),
    }
)


def forged_message(route_key: str, event_type: str = "MESSAGE") -> dict[str, Any]:
    event = websocket_message(route_key, "{}")
    event["requestContext"].update(eventType=event_type, authorizer=forged_context())
    return event


# -- 1. WebSocket messages and the guard's table ---------------------------------------------


@pytest.mark.parametrize("event_type", ["MESSAGE", "DISCONNECT"])
def test_a_message_naming_the_connect_route_needs_the_connect_token(event_type: str) -> None:
    """API Gateway sends ``$connect`` only as ``eventType: CONNECT`` (a client's
    ``{"action": "$connect"}`` goes to ``$default``), and the guard asks a CONNECT for its
    token (review 56). Whoever may invoke the function writes ``eventType: MESSAGE``,
    ``routeKey: $connect`` and a forged context: the guard takes the context alone, judges
    it by the ``$connect`` rule, and a handler dispatching on ``routeKey`` registers the
    forger's live connection under any user (who then gets that user's pushes)."""
    connect = websocket_connect()
    del connect["type"], connect["methodArn"]
    connect["requestContext"]["authorizer"] = forged_context("alice")
    assert both(routes=WS_TABLE)(dispatch_on_route_key)(connect, None)["statusCode"] == 401
    dressed = forged_message("$connect", event_type)
    dressed["requestContext"]["authorizer"] = forged_context("alice")
    answer = both(routes=WS_TABLE)(dispatch_on_route_key)(dressed, None)
    assert answer["statusCode"] in (400, 401)
    assert "alice" not in str(answer.get("body"))


def test_a_genuine_message_to_a_websocket_table_is_still_taken_on_its_context() -> None:
    """The fix's documented exception, kept: ``sendmessage`` on its context alone."""
    answer = both(routes=WS_TABLE)(dispatch_on_route_key)(forged_message("sendmessage"), None)
    assert answer == {"statusCode": 200, "body": "sendmessage by root"}


def test_a_mixed_table_still_asks_http_requests_for_their_token() -> None:
    """One table serving an HTTP API and a WebSocket API (the Authorizer's table shared
    with the function): WebSocket keys make messages tokenless, never REST or HTTP API
    requests with a forged context."""
    rest = rest_proxy("GET", "/admin/users", resource="/admin/users")
    rest["requestContext"]["authorizer"] = forged_context()
    http = http_proxy("DELETE", "/items/7", route_key="DELETE /items/{id}",
                      path_params={"id": "7"})  # fmt: skip
    http["requestContext"]["authorizer"] = {"lambda": forged_context()}
    for event in (rest, http):
        answer = both(routes=MIXED_TABLE)(echo)(event, None)
        assert answer["statusCode"] == 401, event
        assert "root" not in str(answer.get("body"))


@pytest.mark.parametrize("route_key", ["DELETE /items/{id}", "GET /admin/users", "ANY", "GET"])
@pytest.mark.parametrize("default", [False, True])
def test_a_message_naming_an_http_route_key_is_refused_by_a_mixed_table(
    route_key: str, default: bool
) -> None:
    """HTTP API handlers may dispatch on ``requestContext.routeKey`` (payload 2.0 carries it
    there too). A message dressed so, with no HTTP marker, is taken on its context but
    decided by its route key: no WebSocket key has a space or is a verb, so it reaches no
    rule, not even a ``default``."""
    table = (
        Routes(dict(MIXED_TABLE.table.by_key), default=authenticated()) if default else MIXED_TABLE
    )
    answer = both(routes=table)(echo)(forged_message(route_key), None)
    assert answer["statusCode"] in (400, 401, 403, 404)
    assert "root" not in str(answer.get("body"))


def test_a_require_derived_guard_keeps_the_table_and_its_connect_rule() -> None:
    """``require()`` copies the guard: a derived guard of a WebSocket guard still asks a
    CONNECT for its token; one derived from a guard without a table takes no message
    context alone."""
    connect = websocket_connect()
    del connect["type"], connect["methodArn"]
    connect["requestContext"]["authorizer"] = forged_context()
    derived = both(routes=WS_TABLE).require(roles("admin"))
    assert derived.routes is WS_TABLE
    assert derived(echo)(connect, None)["statusCode"] == 401
    assert derived(echo)(forged_message("sendmessage"), None)["statusCode"] == 200
    tableless = both().require(authenticated())
    assert tableless(echo)(forged_message("sendmessage"), None)["statusCode"] == 401


def test_guard_check_for_an_http_table_refuses_a_message_context_alone() -> None:
    """``Guard.check``, the integrations' entry, takes the same path."""
    guard = both(routes=Routes({"GET /admin/users": roles("admin")}, default=authenticated()))
    with pytest.raises(MissingToken):
        guard.check(forged_message("sendmessage"))


def test_an_http_marker_beside_a_message_is_refused_by_a_mixed_table_too() -> None:
    """A mixed table does not relax ``detect_kind``: an HTTP API message shape is 400."""
    event = forged_message("sendmessage")
    event["requestContext"]["http"] = {"method": "DELETE", "path": "/items/7"}
    event["rawPath"] = "/items/7"
    answer = both(routes=MIXED_TABLE)(echo)(event, None)
    assert answer["statusCode"] == 400


def test_the_async_guard_refuses_a_forged_connect() -> None:
    async def echo_async(event: dict[str, Any], context: Any, principal: Principal) -> Any:
        return {"statusCode": 200, "body": principal.id}

    connect = websocket_connect()
    del connect["type"], connect["methodArn"]
    connect["requestContext"]["authorizer"] = forged_context()
    assert asyncio.run(both(routes=WS_TABLE)(echo_async)(connect, None))["statusCode"] == 401


# -- 2. ';' parameters: Routes, the Guard's own rule, cached policies ------------------------

ACME = Principal("bob", tenant="acme", roles={"member"}, issuer=ISS)
SEMI = Principal("eve", tenant="acme;x", roles={"member"}, issuer=ISS)


class NotUnder(Rule):
    """Refuses a greedy parameter under a prefix (``admin/...``); reads the request."""

    def __init__(self, name: str, prefix: str) -> None:
        self.name, self.prefix = name, prefix

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        value = context.params.get(self.name, "")
        if value == self.prefix or value.startswith(self.prefix + "/"):
            return Denial(Reason.FORBIDDEN, "under a refused prefix")
        return None


@pytest.mark.parametrize(
    "path",
    ["/files/admin;x/keys", "/files/admin;a=1;b=2/keys", "/files/admin;x/keys;y/z;w",
     "/files/admin;jsessionid=1"],
)  # fmt: skip
def test_a_greedy_value_with_semicolons_in_several_segments_is_read_stripped(path: str) -> None:
    routes = Routes({"GET /files/{proxy+}": NotUnder("proxy", "admin") & authenticated()})
    assert routes.decide(ACME, "GET", "/files/public/x").allowed
    assert not routes.decide(ACME, "GET", path).allowed, path


def test_parameter_readings_are_two_at_most_for_a_long_greedy_value() -> None:
    """No blow-up: one stripped reading for all parameters together, however many ``;``."""
    value = "/".join(f"s{i};p={i}" for i in range(2000))
    readings = parameter_readings("GET", "/files/" + value,
                                  {"proxy": value, "id": "7;x", "other": "plain"})  # fmt: skip
    assert len(readings) == 2
    assert readings[1].params["proxy"] == "/".join(f"s{i}" for i in range(2000))
    assert readings[1].params["id"] == "7"
    assert readings[1].params["other"] == "plain"
    routes = Routes({"GET /files/{proxy+}": NotUnder("proxy", "s0")})
    assert not routes.decide(ACME, "GET", "/files/" + value).allowed


class RaisesOnStripped(Rule):
    """A custom rule that breaks on the stripped reading only (parses ``;`` parameters)."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        version = context.params["doc"].split(";v=")[1]  # IndexError when stripped
        return None if version.isdigit() else Denial(Reason.FORBIDDEN, "bad version")


def test_a_rule_raising_on_the_stripped_reading_fails_closed_in_the_authorizer() -> None:
    routes = Routes({"GET /docs/{doc}": RaisesOnStripped()})
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=routes, decision_log=None)
    event = request_authorizer("GET", "/docs/readme;v=2", resource="/docs/{doc}",
                               path_params={"doc": "readme;v=2"}, token=token("bob"))  # fmt: skip
    with pytest.raises(Unauthorized):  # a REST authorizer raises to answer 401, never Allow
        auth.handler(event, None)
    plain = request_authorizer("GET", "/docs/readme", resource="/docs/{doc}",
                               path_params={"doc": "readme"}, token=token("bob"))  # fmt: skip
    with pytest.raises(Unauthorized):  # the rule raises on "readme" as written as well
        auth.handler(plain, None)


def test_a_rule_raising_on_the_stripped_reading_fails_closed_in_the_guard() -> None:
    guard = Guard(VERIFIER, claims=CLAIMS, routes=Routes({"GET /docs/{doc}": RaisesOnStripped()}),
                  decision_log=None)  # fmt: skip
    event = rest_proxy("GET", "/docs/readme;v=2", resource="/docs/{doc}",
                       path_params={"doc": "readme;v=2"}, token=token("bob"))  # fmt: skip
    answer = guard(echo)(event, None)
    assert answer["statusCode"] == 500  # sanitized, never the handler's 200
    assert "IndexError" not in str(answer.get("body"))


def test_a_denial_names_the_reading_that_refused() -> None:
    """``Decision.params`` of a refusal is the reading its rule saw (the stripped one)."""
    routes = Routes({"POST /tenants/{tenantId}/review": ~tenant(path="tenantId")})
    decision = routes.decide(ACME, "POST", "/tenants/acme;x/review")
    assert not decision.allowed
    assert decision.params == {"tenantId": "acme"}


@pytest.mark.parametrize(
    "rule_",
    [tenant(path="tenantId") | ~roles("member"), ~roles("guest") & tenant(path="tenantId"),
     OwnerOnly() & ~roles("guest"), tenant(path="tenantId") & OwnerOnly(),
     tenant(path="tenantId") | OwnerOnly()],
    ids=["or-not", "not-and", "owner-not", "tenant-and-owner", "tenant-or-owner"],
)  # fmt: skip
def test_cached_policies_never_open_what_either_reading_refuses(rule_: Rule) -> None:
    """Cacheable compositions of tenant, owner and negated rules: the cached policy of a
    plain caller, a ``;`` tenant or a ``;`` user opens no ``;`` spelling and nothing
    ``decide`` refuses (``bindings`` and both readings of ``check`` agree)."""
    routes = Routes({"POST /tenants/{tenantId}/users/{userId}": rule_,
                     "GET /health": authenticated()})  # fmt: skip
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=routes, cache_ttl=300, decision_log=None)
    opened = 0
    for who, tenant_id in (("bob", "acme"), ("eve", "acme;x"), ("alice;x", "acme")):
        bearer = token(who, tenant_id=tenant_id, role_names=("member",))
        event = request_authorizer("GET", "/health", resource="/health", token=bearer)
        document = auth.handler(event, None)["policyDocument"]
        principal = Principal(who, tenant=tenant_id, roles={"member"}, issuer=ISS)
        base = event["methodArn"].rsplit("/GET/", 1)[0]
        assert iam_allows(document, f"{base}/GET/health")
        for tid in ("acme", "acme;x", "globex", "globex;acme"):
            for uid in ("bob", "eve", "alice", "alice;x", "bob;x"):
                path = f"/tenants/{tid}/users/{uid}"
                if iam_allows(document, f"{base}/POST{path}"):
                    opened += 1
                    assert ";" not in path, path
                    assert routes.decide(principal, "POST", path).allowed, (who, path)
    assert opened  # the plain callers' grants are cached: the check above ran


def test_an_http_api_authorizer_reads_both_the_path_and_the_routed_path_both_ways() -> None:
    routes = Routes({"POST /tenants/{tenantId}/review": ~tenant(path="tenantId") & roles("member")})
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=routes, decision_log=None)
    event = http_authorizer_v2("POST", "/tenants/acme;x/review",
                               route_key="POST /tenants/{tenantId}/review",
                               path_params={"tenantId": "acme;x"},
                               token=token("bob", role_names=("member",)))  # fmt: skip
    assert auth.handler(event, None).get("isAuthorized") is not True


def test_a_guard_table_rule_is_judged_both_ways_on_an_http_api() -> None:
    routes = Routes({"POST /tenants/{tenantId}/review": ~tenant(path="tenantId") & roles("member")})
    guard = Guard(VERIFIER, claims=CLAIMS, routes=routes, decision_log=None)
    event = http_proxy("POST", "/tenants/acme;x/review", route_key="POST /tenants/{tenantId}/review",
                       path_params={"tenantId": "acme;x"},
                       token=token("bob", role_names=("member",)))  # fmt: skip
    assert guard(echo)(event, None)["statusCode"] == 403


# The Guard's own rule (``require``): judged on each reading's parameters as written.

REVIEW_ROUTES = Routes({"POST /tenants/{tenantId}/review": roles("member")})


def review_event(tenant_id: str, *, sub: str = "bob", tenant_claim: str = "acme") -> dict[str, Any]:
    return rest_proxy("POST", f"/tenants/{tenant_id}/review", resource="/tenants/{tenantId}/review",
                      path_params={"tenantId": tenant_id},
                      token=token(sub, tenant_id=tenant_claim, role_names=("member",)))  # fmt: skip


def _require_guards() -> dict[str, Guard]:
    return {
        "table+require": Guard(VERIFIER, claims=CLAIMS, routes=REVIEW_ROUTES,
                               decision_log=None).require(~tenant(path="tenantId")),
        "require-alone": Guard(VERIFIER, claims=CLAIMS, decision_log=None).require(
            ~tenant(path="tenantId") & roles("member")),
    }  # fmt: skip


@pytest.mark.parametrize("shape", ["table+require", "require-alone"])
def test_the_guards_own_rule_reads_semicolon_parameters_both_ways(shape: str) -> None:
    """Review 57 made ``Routes`` read a ``;`` parameter both ways, but the guard's own rule
    (``guard.require(...)``, the per-handler rule guard.md and the Powertools docs offer)
    is checked in ``guard_routes.decide`` on ``readings[i].params`` or API Gateway's
    ``pathParameters``, as written: the same rule in the table refuses what ``require``
    allows. acme's reviewer reviews ``acme;x``, which a servlet reads as acme."""
    guard = _require_guards()[shape]
    assert guard(echo)(review_event("globex"), None)["statusCode"] == 200
    assert guard(echo)(review_event("acme"), None)["statusCode"] == 403
    assert guard(echo)(review_event("acme;x"), None)["statusCode"] == 403


def test_a_powertools_route_guard_reads_semicolon_parameters_both_ways() -> None:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from secauth.integrations.powertools import guard_middleware

    guard = Guard(VERIFIER, claims=CLAIMS, decision_log=None)
    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(guard)])
    route_guard = guard_middleware(guard.require(~tenant(path="tenantId") & roles("member")))

    @app.post("/tenants/<tenantId>/review", middlewares=[route_guard])
    def review(tenantId: str) -> dict[str, str]:
        return {"reviewed": tenantId}

    assert app.resolve(review_event("globex"), None)["statusCode"] == 200
    assert app.resolve(review_event("acme"), None)["statusCode"] == 403
    assert app.resolve(review_event("acme;x"), None)["statusCode"] == 403


def test_a_semicolon_tenant_is_refused_by_a_required_tenant_rule() -> None:
    """Before review 57 ``tenant(path=...)`` refused ``acme;x`` in every path, the guard's
    own rule included; ``Routes`` now reads it stripped instead, but ``require`` does not."""
    guard = Guard(VERIFIER, claims=CLAIMS, decision_log=None).require(tenant(path="tenantId"))
    table_guard = Guard(VERIFIER, claims=CLAIMS, decision_log=None, routes=Routes(
        {"POST /tenants/{tenantId}/review": tenant(path="tenantId")}))  # fmt: skip
    eve = review_event("acme;x", sub="eve", tenant_claim="acme;x")
    assert table_guard(echo)(eve, None)["statusCode"] == 403
    assert guard(echo)(eve, None)["statusCode"] == 403


class NotInternal(Rule):
    """A path denylist on a catch-all (a Spring Boot app behind the Lambda Web Adapter,
    whose ``/internal/**`` actuator endpoints must not be reached through the API)."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        if context.path == "/internal" or context.path.startswith("/internal/"):
            return Denial(Reason.FORBIDDEN, "internal endpoint")
        return None


def test_a_rule_reading_the_path_sees_the_stripped_reading_too() -> None:
    """``Routes`` promises that a ``;`` parameter must be allowed as written and stripped,
    yet both readings hand the rule the path as written. On ``ANY /{proxy+}`` no literal
    ``internal`` exists to be read both ways, so the Authorizer allows (no cache: the rule
    reads the request) ``/internal;x/secrets``."""
    routes = Routes({"ANY /{proxy+}": NotInternal() & authenticated()})
    assert not routes.decide(ACME, "GET", "/internal/secrets").allowed
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=routes, decision_log=None)
    event = request_authorizer("GET", "/internal;x/secrets", resource="/{proxy+}",
                               path_params={"proxy": "internal;x/secrets"},
                               token=token("bob"))  # fmt: skip
    assert not iam_allows(auth.handler(event, None), event["methodArn"])
