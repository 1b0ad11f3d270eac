"""Review 57: the fixes of review 56 (and 54), attacked.

* ``detect_kind`` refuses an event with a WebSocket ``eventType`` and ``connectionId``
  that also has a top-level ``httpMethod``, ``path``, ``resource``, ``rawPath`` or a
  ``requestContext.http``. Attacked with the other fields an HTTP request is routed on:
  ``requestContext.httpMethod``/``resourcePath``/``path`` (Chalice routes on these), a
  top-level HTTP API ``routeKey`` (handlers written after AWS's CRUD tutorial dispatch on
  it), ``requestContext.elb``; and with the Powertools resolvers, which route on fields
  the fix does refuse.
* Only ``MESSAGE`` and ``DISCONNECT`` take a context without a token: lower-case, lists,
  look-alike letters, padding and missing fields.
* ``tenant(path=...)`` refuses a ``;`` segment and a ``;`` tenant gets no cached grant:
  percent-encoded ``;``, ``;`` in other bound parameters (the ``Rule`` docstring's
  ``OwnerOnly``), negation, and ``check``/``bindings`` agreement.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; attacks the
library resists are plain tests.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

import pytest
from forged_contexts import CLAIMS, ISS, VERIFIER, OwnerOnly, both, echo, token
from forged_contexts import forged_context as forged_admin_context

from secauth import (
    Authorizer,
    Guard,
    Principal,
    Routes,
    authenticated,
    roles,
    tenant,
)
from secauth.events import EventKind, UnsupportedEvent, detect_kind
from secauth.principal import ClaimMapper
from secauth.rules import Rule
from secauth.testing_events import (
    alb,
    function_url,
    http_proxy,
    iam_allows,
    request_authorizer,
    rest_proxy,
    websocket_connect,
    websocket_message,
)

GUARD_SHAPES: dict[str, Callable[[], Guard]] = {
    "no-routes": both,
    "require": lambda: both().require(roles("admin")),
    "default-rule": lambda: both(
        routes=Routes({"DELETE /admin/users/{id}": roles("admin")}, default=authenticated())
    ),
}


# -- 1. other HTTP fields beside a WebSocket eventType ---------------------------------------


def chalice_like(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    """Routes as Chalice's ``_main_rest_api_handler`` does (aws/chalice, chalice/app.py):
    on ``requestContext.resourcePath`` and ``requestContext.httpMethod``, arguments from
    ``pathParameters``; top-level ``httpMethod``/``path``/``resource`` are never read."""
    context_ = event["requestContext"]
    if (context_["httpMethod"], context_["resourcePath"]) == ("DELETE", "/admin/users/{id}"):
        deleted = event["pathParameters"]["id"]
        return {"statusCode": 200, "body": f"{principal.id} deleted {deleted}"}
    return {"statusCode": 404, "body": "no view"}


def chalice_event_dressed_as_a_message() -> dict[str, Any]:
    """What Chalice routes (its request context), plus a WebSocket ``eventType`` and
    ``connectionId``, a forged admin context and no token; none of review 56's markers."""
    event = websocket_message("$default", "")
    event["requestContext"].update(
        httpMethod="DELETE", resourcePath="/admin/users/{id}", path="/prod/admin/users/7",
        authorizer=forged_admin_context(),
    )  # fmt: skip
    event["pathParameters"] = {"id": "7"}
    return event


@pytest.mark.parametrize("shape", sorted(GUARD_SHAPES))
def test_a_chalice_routed_event_dressed_as_a_websocket_message_needs_its_token(shape: str) -> None:
    """Review 56 refused the top-level ``httpMethod``/``path``/``resource``/``rawPath`` and
    ``requestContext.http`` beside a WebSocket ``eventType``, but a REST request context
    names the request too: Chalice routes on ``requestContext.resourcePath`` and
    ``requestContext.httpMethod``. Whoever may invoke the function (the caller review 54
    is about) sends them with ``eventType: MESSAGE``, a ``connectionId`` and a forged
    admin context: the verifying guard takes the context without a token and Chalice
    deletes user 7."""
    answer = GUARD_SHAPES[shape]()(chalice_like)(chalice_event_dressed_as_a_message(), None)
    assert answer["statusCode"] in (400, 401)
    assert "root" not in str(answer.get("body"))


def route_key_dispatch(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    """Dispatches on the HTTP API's top-level ``routeKey``, as the handler of AWS's
    "CRUD HTTP API with Lambda and DynamoDB" tutorial does (``switch (event.routeKey)``)."""
    if event["routeKey"] == "DELETE /items/{id}":
        deleted = event["pathParameters"]["id"]
        return {"statusCode": 200, "body": f"{principal.id} deleted {deleted}"}
    return {"statusCode": 404, "body": "unsupported route"}


def test_an_http_api_route_key_dressed_as_a_websocket_message_needs_its_token() -> None:
    """No WebSocket event has a top-level ``routeKey`` (it is in ``requestContext``); every
    HTTP API payload 2.0 event has one. secauth even prefers it to the context's."""
    event = websocket_message("$default", "")
    event.update(version="2.0", routeKey="DELETE /items/{id}", pathParameters={"id": "7"})
    event["requestContext"]["authorizer"] = forged_admin_context()
    answer = both().require(roles("admin"))(route_key_dispatch)(event, None)
    assert answer["statusCode"] in (400, 401)
    assert "root" not in str(answer.get("body"))


HTTP_ONLY_FIELDS: dict[str, Callable[[dict[str, Any]], None]] = {
    "requestContext.httpMethod": lambda e: e["requestContext"].update(httpMethod="GET"),
    "requestContext.resourcePath": lambda e: e["requestContext"].update(resourcePath="/admin"),
    "requestContext.path": lambda e: e["requestContext"].update(path="/prod/admin"),
    "requestContext.elb": lambda e: e["requestContext"].update(elb={"targetGroupArn": "arn:x"}),
    "routeKey": lambda e: e.update(routeKey="GET /admin/users"),
}


@pytest.mark.parametrize("field", sorted(HTTP_ONLY_FIELDS))
def test_detect_kind_refuses_every_http_only_field_beside_websocket_fields(field: str) -> None:
    """The fix's own rule ("no WebSocket event names an HTTP request") for the fields of
    an HTTP request that no WebSocket event carries."""
    event = websocket_message("sendmessage", "{}")
    HTTP_ONLY_FIELDS[field](event)
    with pytest.raises(UnsupportedEvent):
        detect_kind(event)


def test_an_http_only_route_table_does_not_serve_the_chalice_shape() -> None:
    """Resisted where the guard has an HTTP route table and no ``default``: a WebSocket
    message is decided by its route key, which no HTTP route has."""
    table = Routes({"DELETE /admin/users/{id}": roles("admin")})
    answer = both(routes=table)(chalice_like)(chalice_event_dressed_as_a_message(), None)
    assert answer["statusCode"] in (400, 401, 403, 404)
    assert "root" not in str(answer.get("body"))


def _dressed(event: dict[str, Any], *, http: bool) -> dict[str, Any]:
    forged = forged_admin_context()
    event["requestContext"]["authorizer"] = {"lambda": forged} if http else forged
    event["requestContext"].update(eventType="MESSAGE", connectionId="AAAA=")
    return event


POWERTOOLS_CASES: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
    "rest": ("APIGatewayRestResolver", lambda: _dressed(
        rest_proxy("GET", "/admin/users", resource="/admin/users"), http=False)),
    "http": ("APIGatewayHttpResolver", lambda: _dressed(
        http_proxy("GET", "/admin/users", route_key="GET /admin/users"), http=True)),
    "alb": ("ALBResolver", lambda: _dressed(alb("GET", "/admin/users"), http=False)),
    "url": ("LambdaFunctionUrlResolver", lambda: _dressed(
        function_url("GET", "/admin/users"), http=True)),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(POWERTOOLS_CASES))
def test_powertools_resolvers_route_on_fields_the_fix_refuses(case: str) -> None:
    """Each Powertools resolver routes on ``httpMethod``+``path`` (REST, ALB) or
    ``requestContext.http.method``+``rawPath`` (HTTP API, Function URL): every event it
    can route keeps a marker, so dressed as a WebSocket message it is refused."""
    from aws_lambda_powertools import event_handler

    from secauth import current_principal
    from secauth.integrations.powertools import guard_middleware

    resolver_name, build = POWERTOOLS_CASES[case]
    app = getattr(event_handler, resolver_name)()

    @app.get("/admin/users", middlewares=[guard_middleware(both().require(roles("admin")))])
    def users() -> dict[str, str]:
        return {"id": current_principal().id}

    event = build()
    with pytest.raises(UnsupportedEvent):
        detect_kind(event)
    answer = app.resolve(event, None)
    assert answer["statusCode"] in (400, 401)
    assert "root" not in str(answer.get("body"))


# Genuine WebSocket events, as AWS documents them (requestContext nulls included) and as
# serverless-offline emulates them (WebSocketEvent.js, WebSocketDisconnectEvent.js).
_AWS_CONTEXT = {
    "routeKey": "sendmessage", "disconnectStatusCode": None, "messageId": "f1aPWe3ZoAMCJtA=",
    "eventType": "MESSAGE", "extendedRequestId": "XfGLwFTktjMFsLg=",
    "requestTime": "13/Dec/2020:10:17:47 +0000", "messageDirection": "IN",
    "disconnectReason": None, "stage": "dev", "connectedAt": 1607854667185,
    "requestTimeEpoch": 1607854667186,
    "identity": {"cognitoIdentityPoolId": None, "accountId": None, "sourceIp": "203.0.113.0",
                 "userAgent": None, "user": None, "userArn": None},
    "requestId": "XfGLwFTktjMFsLg=", "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
    "connectionId": "XfGLwdA0tjMCEKA=", "apiId": "abc123",
}  # fmt: skip
_OFFLINE_CONTEXT = {
    "apiId": "private", "connectedAt": 1607854667185, "connectionId": "ckq2x0b4w0000",
    "domainName": "localhost", "eventType": "MESSAGE", "extendedRequestId": "ckq2x0b4w0001",
    "identity": {"accessKey": None, "accountId": None, "caller": None, "sourceIp": "127.0.0.1",
                 "user": None, "userAgent": None, "userArn": None},
    "messageDirection": "IN", "messageId": "ckq2x0b4w0002", "requestId": "ckq2x0b4w0003",
    "requestTime": "13/Dec/2020:10:17:47 +0000", "requestTimeEpoch": 1607854667186,
    "routeKey": "sendmessage", "stage": "local",
}  # fmt: skip


def _genuine(source: str, event_type: str) -> dict[str, Any]:
    context = copy.deepcopy(_AWS_CONTEXT if source == "aws" else _OFFLINE_CONTEXT)
    context["eventType"] = event_type
    context["authorizer"] = forged_admin_context()  # what $connect's authorizer answered
    event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": False}
    if event_type == "MESSAGE":
        event["body"] = '{"action": "sendmessage"}'
    else:
        context.update(routeKey="$disconnect", messageId=None)
        headers = {"Host": "localhost", "x-api-key": "", "x-restapi": ""}
        event.update(headers=headers, multiValueHeaders={k: [v] for k, v in headers.items()})
        if source == "aws":
            context.update(disconnectStatusCode=1001, disconnectReason="Going away")
    return event


@pytest.mark.parametrize("source", ["aws", "serverless-offline"])
@pytest.mark.parametrize("event_type", ["MESSAGE", "DISCONNECT"])
def test_genuine_websocket_messages_and_disconnects_still_take_the_context(
    source: str, event_type: str
) -> None:
    event = _genuine(source, event_type)
    assert detect_kind(event) is EventKind.WEBSOCKET
    table = Routes({"sendmessage": roles("admin"), "$disconnect": authenticated()})
    answer = both(routes=table)(echo)(event, None)
    assert answer == {"statusCode": 200, "body": "root"}


def test_a_genuine_connect_with_a_context_alone_still_needs_its_token() -> None:
    connect = websocket_connect()
    del connect["type"], connect["methodArn"]
    connect["requestContext"]["authorizer"] = forged_admin_context()
    assert detect_kind(connect) is EventKind.WEBSOCKET
    answer = both(routes=Routes({"$connect": authenticated()}))(echo)(connect, None)
    assert answer["statusCode"] == 401


# -- 2. which eventType takes a context without a token --------------------------------------


EVENT_TYPES: dict[str, object] = {
    "lower": "message",
    "title": "Message",
    "list": ["MESSAGE"],
    "cyrillic-A": "MESS\u0410GE",
    "fullwidth": "\uff2d\uff25\uff33\uff33\uff21\uff27\uff25",
    "padded": "MESSAGE ",
    "nul": "MESSAGE\x00",
    "disconnect-lower": "disconnect",
    "null": None,
    "number": 1,
    "dict": {"MESSAGE": "MESSAGE"},
}


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_an_eventtype_spelled_otherwise_takes_no_context_without_a_token(name: str) -> None:
    """On a WebSocket-shaped event a near-``MESSAGE`` is no WebSocket event (400); on a
    REST event it leaves a REST event, whose context needs its token (401)."""
    guard = both().require(roles("admin"))(echo)
    ws = websocket_message("sendmessage", "{}")
    ws["requestContext"].update(eventType=EVENT_TYPES[name], authorizer=forged_admin_context())
    assert guard(ws, None)["statusCode"] == 400
    rest = rest_proxy("GET", "/admin/users", resource="/admin/users")
    rest["requestContext"].update(eventType=EVENT_TYPES[name], connectionId="AAAA=",
                                  authorizer=forged_admin_context())  # fmt: skip
    assert guard(rest, None)["statusCode"] == 401


@pytest.mark.parametrize("missing", ["eventType", "connectionId"])
def test_a_message_without_its_eventtype_or_connection_is_no_message(missing: str) -> None:
    ws = websocket_message("sendmessage", "{}")
    ws["requestContext"]["authorizer"] = forged_admin_context()
    del ws["requestContext"][missing]
    assert both().require(roles("admin"))(echo)(ws, None)["statusCode"] == 400
    ws["requestContext"][missing] = 7 if missing == "connectionId" else "CONNECT"
    assert both().require(roles("admin"))(echo)(ws, None)["statusCode"] in (400, 401)


def test_the_async_path_takes_the_same_eventtype_rule() -> None:
    async def echo_async(event: dict[str, Any], context: Any, principal: Principal) -> Any:
        return {"statusCode": 200, "body": principal.id}

    guard = both().require(roles("admin"))(echo_async)
    ws = websocket_message("sendmessage", "{}")
    ws["requestContext"].update(eventType="message", authorizer=forged_admin_context())
    assert asyncio.run(guard(ws, None))["statusCode"] == 400
    dressed = chalice_event_dressed_as_a_message()
    dressed["requestContext"]["eventType"] = "CONNECT"
    assert asyncio.run(guard(dressed, None))["statusCode"] in (400, 401)  # refused either way


# -- 3. ';' in tenant and other path parameters ----------------------------------------------

TENANT_ROUTES = Routes(
    {
        "ANY /tenants/{tenantId}/{proxy+}": tenant(path="tenantId") & roles("member"),
        "GET /health": authenticated(),
    }
)
ACME = Principal("bob", tenant="acme", roles={"member"}, issuer=ISS)
SEMI = Principal("eve", tenant="acme;x", roles={"member"}, issuer=ISS)


@pytest.mark.parametrize(
    "path",
    ["/tenants/acme%3Bx/orders", "/tenants/acme%3bx/orders", "/tenants/acme%253Bx/orders",
     "/tenants/acme%3B/orders", "/tenants/%3Bx/orders"],
)  # fmt: skip
def test_an_encoded_semicolon_in_a_tenant_segment_is_refused(path: str) -> None:
    """REST APIs pass the path as sent; Routes decodes the parameter once (``acme;x``,
    refused) and refuses what is still encoded after that."""
    for principal in (ACME, SEMI):
        assert not TENANT_ROUTES.decide(principal, "GET", path).allowed, principal.tenant
    event = rest_proxy("GET", path, resource="/tenants/{tenantId}/{proxy+}",
                       path_params={"tenantId": path.split("/")[2], "proxy": "orders"},
                       token=token("bob", role_names=("member",)))  # fmt: skip
    guard = Guard(VERIFIER, claims=CLAIMS, routes=TENANT_ROUTES, decision_log=None)
    assert guard(echo)(event, None)["statusCode"] in (403, 404)


def test_a_semicolon_tenant_gets_no_grant_and_no_allow() -> None:
    """No cached grant for a ``;`` tenant (since review 59 its ``bindings`` is None:
    decided per request, so its negation grants nothing either), and no allow on its own
    spelling nor on the tenant a servlet would read."""
    rule = tenant(path="tenantId")
    assert rule.bindings(SEMI) is None
    assert (rule & roles("member")).bindings(SEMI) is None
    assert (~rule).bindings(SEMI) is None
    for path in ("/tenants/acme;x/orders", "/tenants/acme/orders", "/tenants/acme%3Bx/orders"):
        assert not TENANT_ROUTES.decide(SEMI, "GET", path).allowed, path
    eve = token("eve", tenant_id="acme;x", role_names=("member",))
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=TENANT_ROUTES, cache_ttl=300,
                      decision_log=None)  # fmt: skip
    event = request_authorizer("GET", "/health", resource="/health", token=eve)
    document = auth.handler(event, None)["policyDocument"]
    base = event["methodArn"].rsplit("/GET/", 1)[0]
    assert iam_allows(document, f"{base}/GET/health")
    for sneaky in ("/GET/tenants/acme/orders", "/GET/tenants/acme;x/orders",
                   "/GET/tenants/acme%3Bx/orders"):  # fmt: skip
        assert not iam_allows(document, base + sneaky), sneaky


@pytest.mark.parametrize(
    "rule_",
    [
        tenant(path="tenantId"),
        tenant(path="tenantId") & roles("member"),
        tenant(path="tenantId") | roles("admin"),
        ~tenant(path="tenantId"),
    ],
    ids=["tenant", "and", "or", "not"],
)
def test_every_binding_a_tenant_rule_grants_is_allowed_by_check(rule_: Rule) -> None:
    """What a cached plan would grant (the bindings) is what ``check`` allows, for plain
    and ``;`` tenants alike."""
    routes = Routes({"GET /tenants/{tenantId}/orders": rule_})
    for principal in (ACME, SEMI, Principal("ann", tenant="a;b;c", roles={"admin"})):
        grants = rule_.bindings(principal)
        assert grants is None or isinstance(grants, list)
        for binding in grants or []:
            value = binding.get("tenantId", "globex")
            path = f"/tenants/{value}/orders"
            assert routes.decide(principal, "GET", path).allowed, (principal.tenant, path)


def test_an_owner_named_with_a_semicolon_does_not_reach_the_owner_before_it() -> None:
    """Review 56 refused ``;`` in ``tenant(path=...)`` only. A user who picked the name
    ``alice;x`` (Cognito usernames take any punctuation; ``ClaimMapper(id_claim=
    "cognito:username")``) calls ``/users/alice;x/profile``: ``OwnerOnly`` compares
    ``alice;x`` and allows; Spring/Tomcat drop ``;x`` and serve alice's profile."""
    routes = Routes({"GET /users/{userId}/profile": OwnerOnly()})
    mallory = Principal("alice;x", roles={"member"})
    assert not routes.decide(mallory, "GET", "/users/alice;x/profile").allowed


def test_an_owner_named_with_a_semicolon_gets_no_cached_grant() -> None:
    """The same rule under a result cache: its ``;`` binding is overridden by the
    policy's ``*;*`` Deny, and nothing names alice."""
    routes = Routes({"GET /users/{userId}/profile": OwnerOnly(), "GET /health": authenticated()})
    auth = Authorizer(VERIFIER, claims=ClaimMapper(), routes=routes, cache_ttl=300,
                      decision_log=None)  # fmt: skip
    event = request_authorizer("GET", "/health", resource="/health", token=token("alice;x"))
    document = auth.handler(event, None)["policyDocument"]
    base = event["methodArn"].rsplit("/GET/", 1)[0]
    assert iam_allows(document, f"{base}/GET/health")
    assert not iam_allows(document, f"{base}/GET/users/alice;x/profile")
    assert not iam_allows(document, f"{base}/GET/users/alice/profile")


def test_a_negated_tenant_rule_does_not_allow_a_semicolon_spelling_of_ones_own_tenant() -> None:
    """``~tenant(path=...)`` ("any tenant but your own": cross-tenant reviewers who must not
    review themselves). The ``;`` segment is refused by ``tenant`` as a mismatch, which
    ``~`` flips: acme's reviewer is allowed ``/tenants/acme;x/review``, which a servlet
    serves as acme's own."""
    routes = Routes({"POST /tenants/{tenantId}/review": ~tenant(path="tenantId") & roles("member")})
    assert routes.decide(ACME, "POST", "/tenants/globex/review").allowed
    assert not routes.decide(ACME, "POST", "/tenants/acme/review").allowed
    assert not routes.decide(ACME, "POST", "/tenants/acme;x/review").allowed


def test_a_guard_without_websocket_route_keys_takes_no_message_context_alone() -> None:
    """The structural half of the fix: a genuine WebSocket message, forged context and no
    token, reaches a verifying guard whose table has no WebSocket route key (an HTTP API's
    guard, or one with no table): refused. The same message to a guard serving a
    WebSocket API is taken on its context, as only ``$connect`` carried the token."""
    ws = websocket_message("sendmessage", "{}")
    ws["requestContext"]["authorizer"] = forged_admin_context()
    http_table = Routes({"GET /admin/users": roles("admin")}, default=authenticated())
    assert both(routes=http_table)(echo)(ws, None)["statusCode"] == 401
    assert both().require(roles("admin"))(echo)(ws, None)["statusCode"] == 401
    ws_table = Routes({"$connect": authenticated(), "sendmessage": roles("admin")})
    answer = both(routes=ws_table)(echo)(ws, None)
    assert (answer["statusCode"], answer["body"]) == (200, "root")
