"""IAM policies and authorizer responses (secauth.policy).

Fixtures are written from AWS's documented authorizer events and responses:

* REST TOKEN/REQUEST input and the output example: API Gateway Developer Guide,
  "Input to an API Gateway Lambda authorizer" and "Output from an API Gateway Lambda
  authorizer" (principalId, policyDocument, context, usageIdentifierKey).
* HTTP API payload 1.0/2.0 input and both 2.0 responses: "Control access to HTTP APIs
  with AWS Lambda authorizers" (simple ``isAuthorized`` response and IAM policy; the
  2.0 examples put arrays and maps in ``context``).
* WebSocket ``$connect``: "Control access to WebSocket APIs with AWS Lambda REQUEST
  authorizers" (the methodArn ends in ``$connect``, no verb).

Wildcard semantics of the evaluator below: IAM User Guide, "IAM JSON policy elements:
Resource", section "Using wildcards in resource ARNs": ``*`` stands for any combination
of characters and ``?`` for any single character, within one colon-separated part of
the ARN (a trailing ``*`` may run on past colons). API Gateway's "IAM policy examples
for API execution permissions" use ``.../test/POST/mydemoresource/*`` for everything
below a path, and AWS re:Post (question "Can I use a wildcard for the HTTP verb with
a specific resource path...") confirms that ``.../GET/user/*`` also matches
``.../GET/user/{id}/sensitive``: ``*`` crosses ``/``. Explicit Deny wins over Allow
(IAM policy evaluation logic).
"""

from __future__ import annotations

import copy
import doctest
import json
import math
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import product
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import event as tally
from hypothesis import strategies as st

from secauth.access import AllowedRoute, Routes, public, roles, tenant
from secauth.errors import ConfigurationError, Reason
from secauth.events import EventKind, Request
from secauth.policy import (
    COLON_PATHS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DENY_ALL,
    INVOKE_ACTION,
    MAX_METHOD_ARN_BYTES,
    MAX_RESOURCE_ARN_CHARS,
    REFUSED_SPELLINGS,
    SEMICOLON_PATHS,
    InvalidContext,
    InvalidMethodArn,
    MethodArn,
    PolicyBuilder,
    PolicyConflict,
    PolicyDocument,
    PolicyTooLarge,
    Statement,
    Unauthorized,
    exact_document,
    exact_response,
    policy_response,
    resources_for_routes,
    route_policy,
    simple_response,
    unauthorized,
    validate_context,
)
from secauth.principal import Principal

VERBS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
DOC_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/request"

# --- fixtures from AWS's documented examples ----------------------------------------------

TOKEN_EVENT = {
    "type": "TOKEN",
    "authorizationToken": "Bearer allow",
    "methodArn": DOC_ARN,
}

REST_REQUEST_EVENT = {
    "type": "REQUEST",
    "methodArn": DOC_ARN,
    "resource": "/request",
    "path": "/request",
    "httpMethod": "GET",
    "headers": {"HeaderAuth1": "headerValue1", "Accept": "*/*"},
    "queryStringParameters": {"QueryString1": "queryValue1"},
    "pathParameters": {},
    "stageVariables": {"StageVar1": "stageValue1"},
    "requestContext": {
        "path": "/request",
        "accountId": "123456789012",
        "resourceId": "05c7jb",
        "stage": "test",
        "requestId": "req-1",
        "identity": {"apiKey": "key", "sourceIp": "203.0.113.9"},
        "resourcePath": "/request",
        "httpMethod": "GET",
        "apiId": "abcdef123",
    },
}

HTTP_V1_EVENT = {
    "version": "1.0",
    "type": "REQUEST",
    "methodArn": DOC_ARN,
    "identitySource": "user1,123",
    "authorizationToken": "user1,123",
    "resource": "/request",
    "path": "/request",
    "httpMethod": "GET",
    "headers": {"HeaderAuth1": "headerValue1"},
    "queryStringParameters": {"QueryString1": "queryValue1"},
    "pathParameters": {},
    "stageVariables": {"StageVar1": "stageValue1"},
    "requestContext": {
        "path": "/request",
        "accountId": "123456789012",
        "resourceId": "05c7jb",
        "stage": "test",
        "requestId": "req-2",
        "identity": {"apiKey": "key", "sourceIp": "203.0.113.9"},
        "resourcePath": "/request",
        "httpMethod": "GET",
        "apiId": "abcdef123",
    },
}

HTTP_V2_EVENT = {
    "version": "2.0",
    "type": "REQUEST",
    "routeArn": DOC_ARN,
    "identitySource": ["user1", "123"],
    "routeKey": "$default",
    "rawPath": "/my/path",
    "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
    "cookies": ["cookie1", "cookie2"],
    "headers": {"header1": "value1", "header2": "value2"},
    "queryStringParameters": {"parameter1": "value1,value2", "parameter2": "value"},
    "requestContext": {
        "accountId": "123456789012",
        "apiId": "api-id",
        "domainName": "id.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "id",
        "http": {
            "method": "POST",
            "path": "/my/path",
            "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.9",
            "userAgent": "agent",
        },
        "requestId": "id",
        "routeKey": "$default",
        "stage": "$default",
        "time": "12/Mar/2020:19:03:58 +0000",
        "timeEpoch": 1583348638390,
    },
    "pathParameters": {"parameter1": "value1"},
    "stageVariables": {"stageVariable1": "value1", "stageVariable2": "value2"},
}

WEBSOCKET_EVENT = {
    "type": "REQUEST",
    "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abcdef123/default/$connect",
    "headers": {"Connection": "upgrade", "HeaderAuth1": "headerValue1", "Upgrade": "websocket"},
    "multiValueHeaders": {"Connection": ["upgrade"], "HeaderAuth1": ["headerValue1"]},
    "queryStringParameters": {"QueryString1": "queryValue1"},
    "stageVariables": {},
    "requestContext": {
        "routeKey": "$connect",
        "eventType": "CONNECT",
        "extendedRequestId": "ABCD1234=",
        "requestTime": "09/Feb/2024:18:11:43 +0000",
        "messageDirection": "IN",
        "stage": "default",
        "connectedAt": 1707502303419,
        "requestTimeEpoch": 1707502303420,
        "identity": {"sourceIp": "192.0.2.1"},
        "requestId": "ABCD1234=",
        "domainName": "abcdef123.execute-api.us-east-1.amazonaws.com",
        "connectionId": "AAAA1234=",
        "apiId": "abcdef123",
    },
}

# The documented REST output example, with its placeholders filled in.
DOCUMENTED_REST_OUTPUT = {
    "principalId": "yyyyyyyy",
    "policyDocument": {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [DOC_ARN]}],
    },
    "context": {"stringKey": "value", "numberKey": "1", "booleanKey": "true"},
    "usageIdentifierKey": "api-key-value",
}

# The documented HTTP payload 2.0 context (simple response and IAM policy examples).
DOCUMENTED_V2_CONTEXT = {
    "stringKey": "value",
    "numberKey": 1,
    "booleanKey": True,
    "arrayKey": ["value1", "value2"],
    "mapKey": {"value1": "value2"},
}

ALL_EVENTS = [
    (TOKEN_EVENT, EventKind.TOKEN_AUTHORIZER),
    (REST_REQUEST_EVENT, EventKind.REST_REQUEST_AUTHORIZER),
    (HTTP_V1_EVENT, EventKind.HTTP_AUTHORIZER_V1),
    (HTTP_V2_EVENT, EventKind.HTTP_AUTHORIZER_V2),
    (WEBSOCKET_EVENT, EventKind.WEBSOCKET_AUTHORIZER),
]


def request_for(event: dict[str, Any]) -> Request:
    return Request.from_event(copy.deepcopy(event))


# --- a small evaluator of API Gateway's Resource matching (see the module docstring) ----


@lru_cache(maxsize=4096)
def _part_regex(part: str, last: bool) -> re.Pattern[str]:
    body = "".join(
        "[^:]*"
        if ch == "*" and not last
        else ".*"
        if ch == "*"
        else "[^:]"
        if ch == "?" and not last
        else "."
        if ch == "?"
        else re.escape(ch)
        for ch in part
    )
    return re.compile(body, re.DOTALL)


def arn_matches(pattern: str, arn: str) -> bool:
    """IAM Resource matching: ``*`` any run of characters, ``?`` one character, per ARN part.

    The ARN splits into six colon-separated parts (the last, the resource, keeps any
    further colons); each part of the pattern matches its part of the ARN. ``*`` and
    ``?`` in the resource part also match ``/``.
    """
    if pattern == "*":
        return True
    p_parts = pattern.split(":", 5)
    a_parts = arn.split(":", 5)
    if len(p_parts) != 6 or len(a_parts) != 6:
        return False
    return all(
        _part_regex(p, i == 5).fullmatch(a) is not None
        for i, (p, a) in enumerate(zip(p_parts, a_parts, strict=True))
    )


def evaluate(document: dict[str, Any], arn: str) -> bool:
    """Does the policy allow invoking ``arn``? Any matching Allow, and no matching Deny."""
    assert document["Version"] == "2012-10-17"
    allowed = False
    for statement in document["Statement"]:
        assert statement["Action"] == INVOKE_ACTION
        assert "Condition" not in statement, "the evaluator does not model conditions"
        resources = statement["Resource"]
        if isinstance(resources, str):
            resources = [resources]
        if any(arn_matches(resource, arn) for resource in resources):
            if statement["Effect"] == "Deny":
                return False
            allowed = True
    return allowed


def test_evaluator_follows_documented_examples() -> None:
    """The evaluator reproduces the documented examples, including '*' across '/'."""
    pattern = "arn:aws:execute-api:us-east-1:*:a123456789/test/POST/mydemoresource/*"
    assert arn_matches(
        pattern,
        "arn:aws:execute-api:us-east-1:111122223333:a123456789/test/POST/mydemoresource/a/b",
    )
    assert not arn_matches(
        pattern, "arn:aws:execute-api:us-east-1:111122223333:a123456789/test/GET/mydemoresource/a"
    )
    any_stage = "arn:aws:execute-api:*:*:a123456789/*/*/petstorewalkthrough/pets"
    assert arn_matches(
        any_stage,
        "arn:aws:execute-api:eu-west-1:111122223333:a123456789/prod/DELETE/petstorewalkthrough/pets",
    )
    assert not arn_matches(
        any_stage,
        "arn:aws:execute-api:eu-west-1:111122223333:b123456789/prod/GET/petstorewalkthrough/pets",
    )
    user = "arn:aws:execute-api:us-east-1:1:api/stage/GET/user/*"
    assert arn_matches(user, "arn:aws:execute-api:us-east-1:1:api/stage/GET/user/7/sensitive")
    assert arn_matches(
        "arn:aws:execute-api:us-east-1:1:api/stage/GET/?",
        "arn:aws:execute-api:us-east-1:1:api/stage/GET/a",
    )
    assert not arn_matches(
        "arn:aws:execute-api:us-east-1:1:api/stage/GET/?",
        "arn:aws:execute-api:us-east-1:1:api/stage/GET/ab",
    )
    # A mid-part '*' stays inside its colon-separated part.
    assert not arn_matches(
        "arn:aws:execute-api:us-*:1:api/s/GET/", "arn:aws:execute-api:us-east-1:x:1:api/s/GET/"
    )
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {"Action": INVOKE_ACTION, "Effect": "Allow", "Resource": "*"},
            {"Action": INVOKE_ACTION, "Effect": "Deny", "Resource": [user]},
        ],
    }
    assert evaluate(doc, "arn:aws:execute-api:us-east-1:1:api/stage/GET/other")
    assert not evaluate(doc, "arn:aws:execute-api:us-east-1:1:api/stage/GET/user/1")


# --- documented round trips, one per authorizer kind ----------------------------------------


@pytest.mark.parametrize(("event", "kind"), ALL_EVENTS, ids=[k.value for _, k in ALL_EVENTS])
def test_documented_events_round_trip(event: dict[str, Any], kind: EventKind) -> None:
    """Each documented event's method ARN parses, prints back identically, and an Allow for
    it is allowed by the evaluator while another route of the API is not."""
    request = request_for(event)
    assert request.kind is kind
    arn = MethodArn.parse(request.method_arn)
    assert str(arn) == request.method_arn
    assert MethodArn.parse(str(arn)) == arn
    response = PolicyBuilder().response(Principal("user-1"), request, allow=True)
    assert response["principalId"] == "user-1"
    assert evaluate(response["policyDocument"], request.method_arn)
    other = (
        str(arn.with_route_key("$disconnect"))
        if arn.is_websocket
        else str(arn.with_route("POST", "/other"))
    )
    assert not evaluate(response["policyDocument"], other)
    assert json.loads(json.dumps(response)) == response


def test_documented_rest_output_is_reproduced() -> None:
    """policy_response builds AWS's documented REST output example exactly."""
    arn = MethodArn.parse(DOC_ARN)
    response = policy_response(
        "yyyyyyyy",
        PolicyDocument().allow(arn),
        kind=EventKind.TOKEN_AUTHORIZER,
        context={"stringKey": "value", "numberKey": "1", "booleanKey": "true"},
        usage_identifier_key="api-key-value",
    )
    assert response == DOCUMENTED_REST_OUTPUT
    assert list(response) == ["principalId", "policyDocument", "context", "usageIdentifierKey"]


def test_documented_http_v2_responses_are_reproduced() -> None:
    """Both documented payload 2.0 responses, with arrays and maps in the context."""
    assert simple_response(True, context=DOCUMENTED_V2_CONTEXT) == {
        "isAuthorized": True,
        "context": DOCUMENTED_V2_CONTEXT,
    }
    assert simple_response(False) == {"isAuthorized": False}
    doc = PolicyDocument().deny(MethodArn.parse(DOC_ARN))
    response = policy_response(
        "abcdef", doc, kind=EventKind.HTTP_AUTHORIZER_V2, context=DOCUMENTED_V2_CONTEXT
    )
    assert response["context"] == DOCUMENTED_V2_CONTEXT
    assert response["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": [DOC_ARN]}
    ]


def test_builder_answers_each_kind_in_its_shape() -> None:
    """The builder's allow/deny responses per kind: IAM policy everywhere except HTTP 2.0
    with simple responses; a denial is an explicit Deny of the method ARN (403)."""
    for event, kind in ALL_EVENTS:
        request = request_for(event)
        deny = PolicyBuilder().response(Principal("u"), request, allow=False)
        assert set(deny) == {"principalId", "policyDocument"}
        assert deny["policyDocument"]["Statement"] == [
            {"Action": INVOKE_ACTION, "Effect": "Deny", "Resource": [request.method_arn]}
        ], kind
    simple = PolicyBuilder(simple_responses=True)
    v2 = request_for(HTTP_V2_EVENT)
    assert simple.response(Principal("u"), v2, allow=True, context={"a": [1]}) == {
        "isAuthorized": True,
        "context": {"a": [1]},
    }
    assert simple.response(Principal("u"), v2, allow=False) == {"isAuthorized": False}
    # simple_responses only changes payload 2.0 answers.
    rest = simple.response(Principal("u"), request_for(TOKEN_EVENT), allow=True)
    assert rest["policyDocument"]["Statement"][0]["Effect"] == "Allow"


# --- unauthorized --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [EventKind.TOKEN_AUTHORIZER, EventKind.REST_REQUEST_AUTHORIZER, EventKind.WEBSOCKET_AUTHORIZER],
)
def test_unauthorized_raises_the_exact_401_message(kind: EventKind) -> None:
    """REST and WebSocket get an exception whose message is exactly 'Unauthorized'."""
    with pytest.raises(Unauthorized) as caught:
        unauthorized(kind)
    assert isinstance(caught.value, Exception)
    assert str(caught.value) == "Unauthorized"
    assert caught.value.args == ("Unauthorized",)


def test_unauthorized_for_http_apis_is_a_deny() -> None:
    """HTTP APIs cannot be asked for 401 by the Lambda: a simple response says false, an IAM
    response denies everything, and neither allows the documented route ARN."""
    assert unauthorized(EventKind.HTTP_AUTHORIZER_V2, simple=True) == {"isAuthorized": False}
    for kind in (EventKind.HTTP_AUTHORIZER_V1, EventKind.HTTP_AUTHORIZER_V2):
        response = unauthorized(kind)
        assert response["principalId"] == "anonymous"
        assert response["policyDocument"] == DENY_ALL.to_dict()
        assert not evaluate(response["policyDocument"], DOC_ARN)
    builder = PolicyBuilder(simple_responses=True)
    assert builder.unauthorized(request_for(HTTP_V2_EVENT)) == {"isAuthorized": False}
    with pytest.raises(Unauthorized):
        builder.unauthorized(request_for(REST_REQUEST_EVENT))


def test_unauthorized_refuses_non_authorizer_kinds() -> None:
    """A proxy event kind is not an authorizer: configuration error, not a silent answer."""
    with pytest.raises(ConfigurationError) as caught:
        unauthorized(EventKind.REST_V1)
    assert caught.value.reason is Reason.CONFIGURATION_ERROR


# --- MethodArn: partitions, parsing, bad input ----------------------------------------------

PARTITIONS = [
    ("aws", "us-east-1"),
    ("aws-cn", "cn-north-1"),
    ("aws-us-gov", "us-gov-west-1"),
    ("aws-iso", "us-iso-east-1"),
    ("aws-iso-b", "us-isob-east-1"),
    ("aws-iso-e", "eu-isoe-west-1"),
    ("aws-iso-f", "us-isof-south-1"),
    ("aws-eusc", "eusc-de-east-1"),
]


@pytest.mark.parametrize(("partition", "region"), PARTITIONS)
def test_every_partition(partition: str, region: str) -> None:
    """Every partition parses, keeps its name in derived patterns, and matches only itself."""
    text = f"arn:{partition}:execute-api:{region}:123456789012:abc123/prod/GET/orders/7"
    arn = MethodArn.parse(text)
    assert (arn.partition, arn.region, arn.account_id, arn.api_id, arn.stage) == (
        partition,
        region,
        "123456789012",
        "abc123",
        "prod",
    )
    assert (arn.verb, arn.path) == ("GET", "/orders/7")
    pattern = str(arn.with_route("GET", "/orders/{id}"))
    assert pattern == f"arn:{partition}:execute-api:{region}:123456789012:abc123/prod/GET/orders/*"
    assert arn_matches(pattern, text)
    assert not arn_matches(pattern, text.replace(f"arn:{partition}:", "arn:aws-xx:"))
    ws = MethodArn.parse(f"arn:{partition}:execute-api:{region}:123456789012:ws1/live/$connect")
    assert ws.is_websocket
    assert ws.verb is None
    assert ws.path == "$connect"


def test_websocket_and_http_special_names() -> None:
    """'$connect' route keys, the HTTP API '$default' stage, the root path, emulator ids."""
    ws = MethodArn.parse(WEBSOCKET_EVENT["methodArn"])
    assert str(ws.stage_wildcard()).endswith(":abcdef123/default/*")
    assert str(ws.api_wildcard()).endswith(":abcdef123/*/*")
    assert arn_matches(str(ws.stage_wildcard()), WEBSOCKET_EVENT["methodArn"])
    default_stage = MethodArn.parse(
        "arn:aws:execute-api:us-east-1:123456789012:api1/$default/GET/a"
    )
    assert default_stage.stage == "$default"
    root = MethodArn.parse("arn:aws:execute-api:us-east-1:123456789012:api1/prod/get/")
    assert (root.verb, root.path, str(root)) == (
        "GET",
        "/",
        "arn:aws:execute-api:us-east-1:123456789012:api1/prod/GET/",
    )
    # serverless-offline sends placeholder account and API ids.
    offline = MethodArn.parse(
        "arn:aws:execute-api:us-east-1:random-account-id:random-api-id/dev/GET/user"
    )
    assert offline.account_id == "random-account-id"


def test_wildcards_cover_what_they_say() -> None:
    """stage_wildcard covers every route of the stage (root included) and no other stage;
    api_wildcard covers every stage of the API and no other API."""
    arn = MethodArn.parse("arn:aws:execute-api:us-east-1:123456789012:api1/prod/GET/a/b")
    stage, api = str(arn.stage_wildcard()), str(arn.api_wildcard())
    for other in ("GET/", "POST/x", "DELETE/a/b/c"):
        assert arn_matches(stage, arn.prefix + other)
        assert arn_matches(api, arn.prefix.replace("/prod/", "/dev/") + other)
    assert not arn_matches(stage, arn.prefix.replace("/prod/", "/dev/") + "GET/a")
    assert not arn_matches(api, str(arn).replace(":api1/", ":api2/"))


BAD_ARNS = [
    "",
    "arn",
    "arn:aws",
    "arn:aws:execute-api",
    "arn:aws:execute-api:us-east-1",
    "arn:aws:execute-api:us-east-1:123456789012",
    "arn:aws:execute-api:us-east-1:123456789012:abc",
    "arn:aws:execute-api:us-east-1:123456789012:abc/",
    "arn:aws:execute-api:us-east-1:123456789012:abc/prod",
    "arn:aws:execute-api:us-east-1:123456789012:abc/prod/",
    "arn:aws:execute-api:us-east-1:123456789012:abc//GET/x",
    "arn:aws:s3:::bucket/key",
    "arn:azure:execute-api:us-east-1:123456789012:abc/prod/GET/x",
    "arn:AWS:execute-api:us-east-1:123456789012:abc/prod/GET/x",
    "arn:aws:execute-api::123456789012:abc/prod/GET/x",
    "arn:aws:execute-api:us-east-1::abc/prod/GET/x",
    "arn:aws:execute-api:us-east-1:123456789012:/prod/GET/x",
    "arn:aws:execute-api:us-east-1:123456789012:abc/pr od/GET/x",
    "arn:aws:execute-api:us-east-1:123456789012:abc/*/GET/x",
    "arn:aws:execute-api:us-east-1:123456789012:abc/prod/FETCH/x",
    "arn:aws:execute-api:us-east-1:123456789012:abc/prod/*/x",
    "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/x/*",
    "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/x?",
    "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/${aws:username}",
    "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/a\x00b",
    "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/a\nb",
    "arn:aws:execute-api:us-east-1:123456789012:abc/prod/*",
    "arn:aws:execute-api:us-east-1:123456789012:abc/prod/$con nect",
    " arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/x",
    "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/" + "a" * MAX_METHOD_ARN_BYTES,
    # Under 1600 characters, over 1600 bytes.
    "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/" + "é" * 790,
]


@pytest.mark.parametrize("value", BAD_ARNS)
def test_bad_method_arns_raise_invalid_method_arn(value: str) -> None:
    """Malformed, wildcard-bearing or oversized ARNs raise InvalidMethodArn, never IndexError."""
    with pytest.raises(InvalidMethodArn):
        MethodArn.parse(value)


@pytest.mark.parametrize("value", [None, 7, b"arn:aws:execute-api:x", ["arn"], {"a": 1}])
def test_non_string_method_arns(value: object) -> None:
    """A missing or non-string methodArn is InvalidMethodArn too."""
    with pytest.raises(InvalidMethodArn):
        MethodArn.parse(value)


def test_builder_raises_invalid_method_arn_for_a_bad_event() -> None:
    """An event without a usable methodArn reaches the caller as InvalidMethodArn (for 401)."""
    event = dict(TOKEN_EVENT, methodArn="arn:aws:execute-api:us-east-1:1:a/b")
    with pytest.raises(InvalidMethodArn):
        PolicyBuilder().response(Principal("u"), request_for(event), allow=True)
    event = {k: v for k, v in TOKEN_EVENT.items() if k != "methodArn"}
    with pytest.raises(InvalidMethodArn):
        PolicyBuilder().policy(Principal("u"), request_for(event), allow=True)


def test_method_arn_limits_are_exact() -> None:
    """1600 bytes parse; 1601 do not."""
    head = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/"
    exact = head + "a" * (MAX_METHOD_ARN_BYTES - len(head))
    assert len(MethodArn.parse(exact).path) == MAX_METHOD_ARN_BYTES - len(head) + 1
    with pytest.raises(InvalidMethodArn):
        MethodArn.parse(exact + "a")


def test_method_arn_is_immutable_and_hashable() -> None:
    """MethodArn values compare by content and cannot be changed."""
    a = MethodArn.parse(DOC_ARN)
    b = MethodArn.parse(DOC_ARN.replace("/GET/", "/get/"))
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    with pytest.raises(AttributeError):
        a.stage = "prod"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del a.path
    assert repr(a) == f"MethodArn({DOC_ARN!r})"


def test_constructor_validates_parts() -> None:
    """Building an ARN from bad parts is a configuration error naming the problem."""
    with pytest.raises(ConfigurationError, match="partition"):
        MethodArn("gcp", "us-east-1", "123456789012", "abc", "prod", "GET", "/")
    with pytest.raises(ConfigurationError, match="path"):
        MethodArn("aws", "us-east-1", "123456789012", "abc", "prod", "GET", "no-slash")
    with pytest.raises(ConfigurationError, match="verb"):
        MethodArn("aws", "us-east-1", "123456789012", "abc", "prod", "get", "/")
    with pytest.raises(ConfigurationError, match="string"):
        MethodArn("aws", "us-east-1", 123456789012, "abc", "prod", "GET", "/")  # type: ignore[arg-type]


# --- templates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verb", "template", "expected"),
    [
        ("GET", "/", "GET/"),
        ("get", "/orders", "GET/orders"),
        ("Post", "/orders/{id}", "POST/orders/*"),
        ("ANY", "/{proxy+}", "*/*"),
        ("*", "/users/{id}/files/{path+}", "*/users/*/files/*"),
        ("delete", "/a.b/c-d/e_f/{x.y}", "DELETE/a.b/c-d/e_f/*"),
    ],
)
def test_with_route_wildcards_templates(verb: str, template: str, expected: str) -> None:
    """Verbs are case-insensitive, ANY and '*' become '*', {param} and {proxy+} become '*'."""
    arn = MethodArn.parse(DOC_ARN)
    assert str(arn.with_route(verb, template)) == arn.prefix + expected


@pytest.mark.parametrize(
    "template",
    [
        "",
        "orders",
        "/orders/",
        "//orders",
        "/a//b",
        "/{proxy+}/x",
        "/a*",
        "/a?",
        "/{id}x",
        "/x{id}",
        "/{}",
        "/{1id}",
        "/..",
        "/.",
        "/a b",
        "/${x}",
        "/{id",
        "/a}",
    ],
)
def test_bad_templates_are_configuration_errors(template: str) -> None:
    """Templates that API Gateway would not accept, or that would smuggle a wildcard, fail."""
    with pytest.raises(ConfigurationError):
        MethodArn.parse(DOC_ARN).with_route("GET", template)


def test_bindings_fill_parameters_safely() -> None:
    """A bound parameter becomes its literal value; wildcard or multi-segment values fail."""
    arn = MethodArn.parse(DOC_ARN)
    bound = arn.with_route("GET", "/t/{tid}/{proxy+}", {"tid": "acme"})
    assert str(bound) == arn.prefix + "GET/t/acme/*"
    for value in ("a/b", "*", "a?", "", "..", "${aws:userid}", "a b"):
        with pytest.raises(ConfigurationError):
            arn.with_route("GET", "/t/{tid}", {"tid": value})
    with pytest.raises(ConfigurationError, match="no \\{nope\\}"):
        arn.with_route("GET", "/t/{tid}", {"nope": "x"})
    with pytest.raises(ConfigurationError):
        arn.with_route("FETCH", "/t")
    with pytest.raises(ConfigurationError):
        MethodArn.parse(WEBSOCKET_EVENT["methodArn"]).with_route("GET", "/x")
    with pytest.raises(ConfigurationError):
        arn.with_route_key("$connect")


# --- Hypothesis: ARNs, verbs, paths and templates round-trip -------------------------------

segment_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/*?$\x7f"),
    min_size=1,
    max_size=8,
)
verbs_any_case = st.sampled_from(VERBS).flatmap(
    lambda v: st.sampled_from([v, v.lower(), v.capitalize()])
)
partition_region = st.sampled_from(PARTITIONS)
stages = st.from_regex(r"\$?[A-Za-z0-9._-]{1,12}", fullmatch=True)
accounts = st.from_regex(r"[0-9]{12}", fullmatch=True)
api_ids = st.from_regex(r"[a-z0-9]{10}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(
    partition_region, accounts, api_ids, stages, verbs_any_case, st.lists(segment_text, max_size=6)
)
def test_generated_method_arns_round_trip(
    part: tuple[str, str], account: str, api: str, stage: str, verb: str, segments: list[str]
) -> None:
    """Any well-formed method ARN parses to its parts and prints back (verb upper-cased)."""
    partition, region = part
    text = (
        f"arn:{partition}:execute-api:{region}:{account}:{api}/{stage}/{verb}/{'/'.join(segments)}"
    )
    assume(len(text.encode()) <= MAX_METHOD_ARN_BYTES)
    arn = MethodArn.parse(text)
    assert (arn.partition, arn.region, arn.account_id, arn.api_id, arn.stage) == (
        partition,
        region,
        account,
        api,
        stage,
    )
    assert arn.verb == verb.upper()
    assert arn.path == "/" + "/".join(segments)
    upper = text.replace(f"/{stage}/{verb}/", f"/{stage}/{verb.upper()}/", 1)
    assert str(arn) == upper
    assert MethodArn.parse(str(arn)) == arn
    assert arn_matches(str(arn), upper)
    assert arn_matches(str(arn.stage_wildcard()), upper)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_arbitrary_text_never_escapes_as_another_error(text: str) -> None:
    """Arbitrary strings either parse (and round-trip) or raise InvalidMethodArn."""
    for candidate in (text, "arn:aws:execute-api:us-east-1:123456789012:abc/" + text):
        try:
            arn = MethodArn.parse(candidate)
        except InvalidMethodArn:
            continue
        assert MethodArn.parse(str(arn)) == arn


literal_segments = st.from_regex(r"[a-z][a-z0-9._-]{0,6}", fullmatch=True)
param_values = st.from_regex(r"[A-Za-z0-9._~:@-]{1,6}", fullmatch=True).filter(
    lambda v: v not in (".", "..")
)


@st.composite
def templates_with_instances(draw: st.DrawFn) -> tuple[str, str, str]:
    """(verb, template, a concrete request path matching it)."""
    parts: list[str] = []
    concrete: list[str] = []
    for index in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            literal = draw(literal_segments)
            parts.append(literal)
            concrete.append(literal)
        else:
            parts.append(f"{{p{index}}}")
            concrete.append(draw(param_values))
    if draw(st.booleans()):
        parts.append("{proxy+}")
        concrete.extend(draw(st.lists(param_values, min_size=1, max_size=4)))
    verb = draw(st.sampled_from([*VERBS, "ANY", "any", "*"]))
    return verb, "/" + "/".join(parts), "/" + "/".join(concrete)


@settings(max_examples=200, deadline=None)
@given(templates_with_instances(), st.sampled_from(VERBS))
def test_template_patterns_match_their_instances(case: tuple[str, str, str], method: str) -> None:
    """A template's pattern matches every concrete path of it (for its verb only), and
    resources_for_routes (ANY spelled out per verb) matches the same requests."""
    verb, template, path = case
    arn = MethodArn.parse(DOC_ARN)
    concrete = arn.prefix + method + path
    pattern = str(arn.with_route(verb, template))
    wants = verb.upper() in ("ANY", "*") or verb.upper() == method
    assert arn_matches(pattern, concrete) is wants
    resources = resources_for_routes(arn, [(verb, template)])
    assert len(resources) == (7 if verb.upper() in ("ANY", "*") else 1)
    assert any(arn_matches(r, concrete) for r in resources) is wants


def test_resources_for_routes_over_matches_by_design() -> None:
    """'*' crosses '/': /users/{id} also covers /users/7/secrets, which is why the route
    table's other routes must be denied (route_policy) when caching is on."""
    arn = MethodArn.parse(DOC_ARN)
    resources = resources_for_routes(DOC_ARN, [("GET", "/users/{id}")])
    assert any(arn_matches(r, arn.prefix + "GET/users/7/secrets") for r in resources)
    doc = route_policy(arn, ["GET /users/{id}"], ["GET /users/{id}", "GET /users/{id}/secrets"])
    assert evaluate(doc.to_dict(), arn.prefix + "GET/users/7")
    assert not evaluate(doc.to_dict(), arn.prefix + "GET/users/7/secrets")


# --- route_policy: exactly the route table's decision ---------------------------------------

TABLE_LITERALS = ("a", "b", "me")
BOUND_VALUE = "t1"
OTHER_VALUE = "zz"


@st.composite
def route_tables(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """(table route keys, allowed entries): some allowed as is, some with a parameter bound."""
    keys: dict[tuple[str, tuple[str, ...]], str] = {}
    for _ in range(draw(st.integers(1, 6))):
        shape: list[str] = []
        for index in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["lit", "param"]))
            shape.append(
                draw(st.sampled_from(TABLE_LITERALS)) if kind == "lit" else f"{{p{index}}}"
            )
        if draw(st.integers(0, 2)) == 0:
            shape.append("{rest+}")
        verb = draw(st.sampled_from(["GET", "POST", "ANY"]))
        shape_key = tuple("{}" if s.startswith("{") and not s.endswith("+}") else s for s in shape)
        keys.setdefault((verb, shape_key), f"{verb} /{'/'.join(shape)}")
    table = list(keys.values())
    allowed: list[str] = []
    for key in table:
        choice = draw(st.sampled_from(["deny", "allow", "bind"]))
        if choice == "allow":
            allowed.append(key)
        elif choice == "bind":
            match = re.search(r"\{p\d+\}|\{rest\+\}", key)
            if match is not None:
                allowed.append(key.replace(match.group(0), BOUND_VALUE, 1))
    return table, allowed


def universe(table: Sequence[str]) -> Iterable[tuple[str, str]]:
    """Every request up to four segments over the table's literals and two other values."""
    values = (*TABLE_LITERALS, BOUND_VALUE, OTHER_VALUE)
    for length in range(5):
        for segments in product(values, repeat=length):
            for verb in ("GET", "POST", "DELETE"):
                yield verb, "/" + "/".join(segments)


def expected_allowed(match_route: str, params: dict[str, str], allowed: list[str]) -> bool:
    """The route table's answer: the route is allowed as is, or its bound value matches."""
    for entry in allowed:
        if entry == match_route:
            return True
        if BOUND_VALUE in entry.split(" ", 1)[1].split("/"):
            # entry is match_route with one parameter bound to BOUND_VALUE
            for name, value in params.items():
                for placeholder in (f"{{{name}}}", f"{{{name}+}}"):
                    if (
                        match_route.replace(placeholder, BOUND_VALUE, 1) == entry
                        and value == BOUND_VALUE
                    ):
                        return True
    return False


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route_tables())
@example(
    (
        ["POST /a/{rest+}", "GET /{rest+}", "POST /{p0}/a/b/{rest+}", "POST /a/{p1}/{rest+}"],
        ["POST /{p0}/a/b/{rest+}"],
    )
)
@example((["ANY /{p0}/{rest+}", "GET /{rest+}"], ["ANY /t1/{rest+}"]))
@example((["GET /{p0}", "GET /{p0}/a", "GET /me"], ["GET /{p0}", "GET /me"]))
def test_route_policy_allows_exactly_what_the_table_allows(
    case: tuple[list[str], list[str]],
) -> None:
    """For generated tables and allowed sets (with bound parameters), the policy allows no
    request (of any length, including spelling variants) that the table does not allow, and
    allows every allowed route's own requests; when route_policy refuses, it says so."""
    table, allowed = case
    routes = Routes({key: public() for key in table})
    try:
        doc = route_policy(DOC_ARN, allowed, table).to_dict()
    except PolicyConflict as conflict:
        message = conflict.public_message
        tally("conflict: " + message.split(" ", 3)[2])
        if "TTL 0" not in message:
            raise AssertionError(f"a conflict says what to do: {message}") from None
        return
    tally(f"policy with {len(doc['Statement'])} statement(s)")
    prefix = MethodArn.parse(DOC_ARN).prefix
    for verb, path in universe(table):
        got = evaluate(doc, prefix + verb + path)
        if not got:
            continue
        outcomes = [routes.resolve(verb, path)]
        assert outcomes[0] is not None, (verb, path, doc)
        for routed in (outcomes[0], *outcomes[0].others):
            assert routed.route is not None, (verb, path, doc)
            assert expected_allowed(routed.route, routed.params, allowed), (verb, path, doc)


def test_route_policy_with_a_tenant_bound_to_a_greedy_parameter() -> None:
    """A {proxy+} bound to a tenant allows that one segment only, not paths below it."""
    table = {"GET /files/{tenant+}": tenant(path="tenant"), "GET /health": public()}
    routes = Routes(table)
    allowed = routes.allowed_routes(Principal("u", tenant="acme"))
    doc = route_policy(DOC_ARN, allowed, list(table)).to_dict()
    prefix = MethodArn.parse(DOC_ARN).prefix
    assert evaluate(doc, prefix + "GET/files/acme")
    assert not evaluate(doc, prefix + "GET/files/acme/x")
    assert not evaluate(doc, prefix + "GET/files/globex")
    arn = MethodArn.parse(DOC_ARN)
    assert str(arn.with_route("GET", "/files/{t+}", {"t": "acme"})) == prefix + "GET/files/acme"


def test_route_policy_with_access_routes_and_tenants() -> None:
    """With access.Routes.allowed_routes: a tenant-bound route allows its tenant's paths,
    not another tenant's, even through a path that repeats the tenant further down."""
    table = {
        "ANY /tenants/{tenantId}/{proxy+}": tenant(path="tenantId") & roles("member"),
        "GET /health": public(),
        "DELETE /users/{id}": roles("admin"),
    }
    routes = Routes(table)
    alice = Principal("alice", tenant="acme", roles={"member"})
    doc = route_policy(DOC_ARN, routes.allowed_routes(alice), list(table)).to_dict()
    prefix = MethodArn.parse(DOC_ARN).prefix
    assert evaluate(doc, prefix + "GET/tenants/acme/orders/1")
    assert evaluate(doc, prefix + "PATCH/tenants/acme/x")
    assert evaluate(doc, prefix + "GET/health")
    assert not evaluate(doc, prefix + "GET/tenants/globex/orders/1")
    assert not evaluate(doc, prefix + "GET/tenants/globex/x/tenants/acme/y")
    assert not evaluate(doc, prefix + "DELETE/users/7")
    for verb in VERBS:  # ANY is spelled out: a '*' verb would cross '/'
        assert any(f"/test/{verb}/tenants/acme/*" in r for r in doc["Statement"][0]["Resource"])


@pytest.mark.parametrize(
    ("table", "denied"),
    [
        ({"GET /{p}/{q}": tenant(path="p"), "GET /a/{id}": roles("admin")}, "GET/a/1"),
        ({"GET /{p}/t1": tenant(path="p"), "GET /a/t1": roles("admin")}, "GET/a/t1"),
        ({"ANY /{p}/{q}": tenant(path="p"), "GET /a/{id}": roles("admin")}, "GET/a/1"),
    ],
)
def test_a_bound_route_that_another_route_shadows_is_not_granted_as_that_route(
    table: dict[str, Any], denied: str
) -> None:
    """Binding {p} to the tenant ("a") gives a path of the same shape as another route,
    which takes every such request (its literal beats the parameter). The bound path must
    not be listed, or the policy would grant it as that other route: an Allow of a path
    the table denies."""
    routes = Routes(table)
    alice = Principal("alice", tenant="a")
    verb, path = denied.split("/", 1)
    assert not routes.decide(alice, verb, "/" + path).allowed
    doc = route_policy(DOC_ARN, routes.allowed_routes(alice), list(table)).to_dict()
    prefix = MethodArn.parse(DOC_ARN).prefix
    assert not evaluate(doc, prefix + denied)
    for other in ("POST/a/1", "PUT/a/1"):  # verbs the other route does not take
        expected = table.get("ANY /{p}/{q}") is not None
        assert evaluate(doc, prefix + other) is expected


def test_a_request_two_routes_could_name_is_refused_with_both_named() -> None:
    """POST /t/acme is a bound form of POST /{x}/{y} and of ANY /t/{proxy+}, which serves
    it: the planner cannot tell which grant is meant, and says so (fail closed)."""
    table = {
        "ANY /t/{proxy+}": tenant(path="proxy"),
        "GET /t/{id}": roles("admin"),
        "POST /{x}/{y}": roles("admin"),
    }
    routes = Routes(table)
    allowed = routes.allowed_routes(Principal("u", tenant="acme"))
    assert AllowedRoute("POST", "/t/acme") in allowed
    assert AllowedRoute("GET", "/t/acme") not in allowed  # GET /t/{id} takes it
    with pytest.raises(PolicyConflict, match="several routes") as caught:
        route_policy(DOC_ARN, allowed, list(table))
    assert "POST /{x}/{y}" in str(caught.value)
    assert "ANY /t/{proxy+}" in str(caught.value)


def test_an_any_route_granted_for_some_verbs_allows_only_those() -> None:
    """An ANY route's verbs can be granted one by one (a route of its own takes the
    others): the policy allows those verbs on the bound path and nothing else of it."""
    table = {"GET /{rest+}": public(), "ANY /{rest+}": tenant(path="rest")}
    routes = Routes(table)
    allowed = routes.allowed_routes(Principal("gen", tenant="t1"))
    doc = route_policy(DOC_ARN, allowed, list(table)).to_dict()
    prefix = MethodArn.parse(DOC_ARN).prefix
    for verb in ("POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
        assert evaluate(doc, f"{prefix}{verb}/t1")
        assert not evaluate(doc, f"{prefix}{verb}/t2")
        assert not evaluate(doc, f"{prefix}{verb}/t1/x")
    assert evaluate(doc, prefix + "GET/anything/at/all")  # the public GET route
    # Granted for one verb only, while another allowed route's wildcard reaches the
    # route's other verbs on other paths: no IAM policy tells them apart.
    with pytest.raises(PolicyConflict, match="TTL 0"):
        route_policy(DOC_ARN, ["POST /t1", "ANY /{x}/{y}"], ["ANY /{rest+}", "ANY /{x}/{y}"])
    # A verb of an ANY route granted alone, while nothing else reaches the route.
    doc = route_policy(DOC_ARN, ["POST /t1"], ["ANY /{rest+}"]).to_dict()
    assert evaluate(doc, prefix + "POST/t1")
    assert not evaluate(doc, prefix + "PUT/t1")


@pytest.mark.parametrize(
    ("allowed", "table", "fragment"),
    [
        # /USERS/7 is /{proxy+} as written and /users/{id} read as the literal: GET/*
        # cannot allow one without the other.
        (["GET /{proxy+}"], ["GET /{proxy+}", "GET /users/{id}"], "allow 'GET/*'"),
        (
            ["GET /users/{id}/profile"],
            ["GET /users/{id}/profile", "GET /users/{id}/{rest+}"],
            "'/users/~w/profile'",
        ),
        (
            ["ANY /t/acme/{proxy+}", "GET /{proxy+}"],
            ["ANY /t/{tid}/{proxy+}", "GET /{proxy+}"],
            "allow 'GET/*'",
        ),
    ],
)
def test_inexpressible_tables_raise_policy_conflict(
    allowed: list[str], table: list[str], fragment: str
) -> None:
    """Where no IAM policy can express the table for this principal, PolicyConflict says why
    (a configuration error: turn caching off for such a table)."""
    with pytest.raises(PolicyConflict) as caught:
        route_policy(DOC_ARN, allowed, table)
    assert fragment in str(caught.value)
    assert caught.value.reason is Reason.CONFIGURATION_ERROR
    # Cached failures are reported again, as a fresh error each time.
    with pytest.raises(PolicyConflict) as again:
        route_policy(DOC_ARN, allowed, table)
    assert again.value is not caught.value


def test_route_policy_edge_cases() -> None:
    """No allowed route is DENY_ALL; unknown allowed routes and WebSocket ARNs are errors;
    a literal route beside a parameter route needs no Deny."""
    assert route_policy(DOC_ARN, [], ["GET /a"]).to_dict() == DENY_ALL.to_dict()
    with pytest.raises(ConfigurationError, match="not in the route table"):
        route_policy(DOC_ARN, ["GET /b"], ["GET /a"])
    with pytest.raises(ConfigurationError):
        route_policy(WEBSOCKET_EVENT["methodArn"], ["GET /a"], ["GET /a"])
    with pytest.raises(ConfigurationError):
        resources_for_routes(WEBSOCKET_EVENT["methodArn"], ["GET /a"])
    doc = route_policy(DOC_ARN, ["GET /users/me"], ["GET /users/me", "GET /users/{id}"])
    statements = doc.to_dict()["Statement"]
    assert [s["Effect"] for s in statements] == ["Allow", "Deny"]
    prefix = MethodArn.parse(DOC_ARN).prefix
    assert statements[0]["Resource"] == [prefix + "GET/users/me"]
    denied = (*REFUSED_SPELLINGS, COLON_PATHS, SEMICOLON_PATHS)
    assert statements[1]["Resource"] == sorted(prefix + p for p in denied)
    with pytest.raises(PolicyConflict, match="several routes"):
        route_policy(DOC_ARN, ["GET /t1/x"], ["GET /{a}/x", "GET /{b}/{c}"])


# --- documents, statements, conditions ------------------------------------------------------


def test_documents_are_deterministic_and_merged() -> None:
    """Statement order and duplicates do not change the output; same-effect statements merge."""
    arn = MethodArn.parse(DOC_ARN)
    a = str(arn.with_route("GET", "/a"))
    b = str(arn.with_route("GET", "/b"))
    c = str(arn.with_route("DELETE", "/{proxy+}"))
    one = PolicyDocument([Statement("Deny", c), Statement("Allow", [b, a]), Statement("Allow", a)])
    two = PolicyDocument(
        [Statement("Allow", [a]), Statement("Deny", [c, c]), Statement("Allow", b)]
    )
    assert one == two
    assert hash(one) == hash(two)
    assert json.dumps(one.to_dict()) == json.dumps(two.to_dict())
    assert one.to_dict()["Statement"] == [
        {"Action": INVOKE_ACTION, "Effect": "Allow", "Resource": [a, b]},
        {"Action": INVOKE_ACTION, "Effect": "Deny", "Resource": [c]},
    ]


def test_conditions_are_typed_and_canonical() -> None:
    """Conditions keep their own statement, are sorted, and single values stay strings."""
    arn = MethodArn.parse(DOC_ARN)
    doc = (
        PolicyDocument()
        .allow(
            arn, condition={"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "198.51.100.0/24"]}}
        )
        .allow(arn.with_route("GET", "/public"))
        .deny(arn, condition={"Bool": {"aws:SecureTransport": "false"}})
    )
    statements = doc.to_dict()["Statement"]
    assert [s["Effect"] for s in statements] == ["Allow", "Allow", "Deny"]
    assert "Condition" not in statements[0]
    assert statements[1]["Condition"] == {
        "IpAddress": {"aws:SourceIp": ["198.51.100.0/24", "203.0.113.0/24"]}
    }
    assert statements[2]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    for bad in (
        {"IpAddress": {}},
        {"IpAddress": {"k": []}},
        {"IpAddress": {"k": [1]}},
        {"": {"k": "v"}},
        {"IpAddress": "x"},
    ):
        with pytest.raises(ConfigurationError):
            Statement("Allow", DOC_ARN, bad)  # type: ignore[arg-type]


def test_statement_validation() -> None:
    """Effects, resources and their sizes are checked at construction."""
    with pytest.raises(ConfigurationError):
        Statement("allow", DOC_ARN)
    with pytest.raises(ConfigurationError):
        Statement("Allow", [])
    with pytest.raises(ConfigurationError):
        Statement("Allow", "arn:aws:s3:::bucket")
    with pytest.raises(ConfigurationError):
        Statement("Allow", [42])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError):
        Statement("Allow", DOC_ARN + "/${aws:username}")
    with pytest.raises(ConfigurationError):
        PolicyDocument(["not a statement"])  # type: ignore[list-item]
    head = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/"
    longest = head + "a" * (MAX_RESOURCE_ARN_CHARS - len(head))
    assert Statement("Allow", longest).resources == (longest,)
    with pytest.raises(PolicyTooLarge, match="512"):
        Statement("Allow", longest + "a")
    statement = Statement("Allow", DOC_ARN)
    with pytest.raises(AttributeError):
        statement.effect = "Deny"  # type: ignore[misc]


def test_deny_all_is_immutable() -> None:
    """DENY_ALL cannot be changed, and mutating its dict output changes nothing."""
    first = DENY_ALL.to_dict()
    first["Statement"][0]["Effect"] = "Allow"
    first["Statement"][0]["Resource"].append("x")
    assert DENY_ALL.to_dict() == {
        "Version": "2012-10-17",
        "Statement": [{"Action": INVOKE_ACTION, "Effect": "Deny", "Resource": ["*"]}],
    }
    with pytest.raises(AttributeError):
        DENY_ALL.statements = ()  # type: ignore[misc]
    assert DENY_ALL.allow(DOC_ARN) is not DENY_ALL
    assert len(DENY_ALL.statements) == 1
    assert not evaluate(DENY_ALL.to_dict(), DOC_ARN)
    assert PolicyDocument().to_dict() == DENY_ALL.to_dict()


# --- context rules --------------------------------------------------------------------------

FLAT_KINDS = [
    EventKind.TOKEN_AUTHORIZER,
    EventKind.REST_REQUEST_AUTHORIZER,
    EventKind.HTTP_AUTHORIZER_V1,
    EventKind.WEBSOCKET_AUTHORIZER,
]


@pytest.mark.parametrize("kind", FLAT_KINDS)
def test_flat_context_accepts_only_scalars(kind: EventKind) -> None:
    """REST, WebSocket and HTTP 1.0: strings, numbers, booleans; anything else names its key."""
    good = {"s": "v", "i": 1, "f": 1.5, "b": False, "empty": ""}
    assert validate_context(good, kind) == good
    for key, value in {
        "roles": ["a"],
        "map": {"a": 1},
        "none": None,
        "set": {"a"},
        "bytes": b"x",
        "tuple": ("a",),
    }.items():
        with pytest.raises(InvalidContext, match=f"'{key}'"):
            validate_context({key: value}, kind)
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(InvalidContext, match="'x'"):
            validate_context({"x": value}, kind)
    with pytest.raises(InvalidContext):
        validate_context({1: "a"}, kind)  # type: ignore[dict-item]
    with pytest.raises(InvalidContext):
        validate_context({"": "a"}, kind)
    with pytest.raises(InvalidContext):
        validate_context(["a"], kind)  # type: ignore[arg-type]


def test_http_v2_context_accepts_json() -> None:
    """HTTP 2.0: any JSON value, checked all the way down."""
    kind = EventKind.HTTP_AUTHORIZER_V2
    value = {"a": [1, 2.5, None, True, {"b": ["c"]}], "t": ("x", "y")}
    assert validate_context(value, kind) == {
        "a": [1, 2.5, None, True, {"b": ["c"]}],
        "t": ["x", "y"],
    }
    with pytest.raises(InvalidContext, match="'a'\\[1\\]"):
        validate_context({"a": [1, math.nan]}, kind)
    with pytest.raises(InvalidContext, match="not a string"):
        validate_context({"a": {1: "x"}}, kind)
    with pytest.raises(InvalidContext, match="set"):
        validate_context({"a": [{"x"}]}, kind)
    deep: Any = "leaf"
    for _ in range(40):
        deep = [deep]
    with pytest.raises(InvalidContext, match="deeply"):
        validate_context({"deep": deep}, kind)
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(InvalidContext):
        validate_context({"cycle": cyclic}, kind)


def test_usage_identifier_key_only_for_rest() -> None:
    """usageIdentifierKey appears only when given, and only REST authorizers take it."""
    doc = PolicyDocument().allow(DOC_ARN)
    assert "usageIdentifierKey" not in policy_response("u", doc)
    for kind in (EventKind.TOKEN_AUTHORIZER, EventKind.REST_REQUEST_AUTHORIZER):
        assert (
            policy_response("u", doc, kind=kind, usage_identifier_key="k")["usageIdentifierKey"]
            == "k"
        )
    for kind in (
        EventKind.HTTP_AUTHORIZER_V1,
        EventKind.HTTP_AUTHORIZER_V2,
        EventKind.WEBSOCKET_AUTHORIZER,
    ):
        with pytest.raises(ConfigurationError, match="REST"):
            policy_response("u", doc, kind=kind, usage_identifier_key="k")
    with pytest.raises(ConfigurationError):
        policy_response("u", doc, usage_identifier_key="")
    with pytest.raises(ConfigurationError):
        policy_response("", doc)
    with pytest.raises(ConfigurationError):
        policy_response("u", doc.to_dict())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        simple_response(1)  # type: ignore[arg-type]


# --- size budget ----------------------------------------------------------------------------


def test_size_budget_is_exact() -> None:
    """A response of exactly max_bytes passes; one byte more raises PolicyTooLarge."""
    doc = PolicyDocument().allow(DOC_ARN)
    base = len(json.dumps(policy_response("u", doc, context={"pad": ""})))
    fits = policy_response("u", doc, context={"pad": "x" * (DEFAULT_MAX_RESPONSE_BYTES - base)})
    assert len(json.dumps(fits)) == DEFAULT_MAX_RESPONSE_BYTES
    with pytest.raises(PolicyTooLarge, match=f"{DEFAULT_MAX_RESPONSE_BYTES + 1} bytes"):
        policy_response("u", doc, context={"pad": "x" * (DEFAULT_MAX_RESPONSE_BYTES - base + 1)})
    # Non-ASCII text counts as the escapes the Lambda runtime sends.
    with pytest.raises(PolicyTooLarge):
        policy_response("u", doc, context={"pad": "é" * (DEFAULT_MAX_RESPONSE_BYTES // 5)})
    with pytest.raises(PolicyTooLarge):
        simple_response(True, context={"pad": "x" * 9000})
    assert simple_response(True, context={"pad": "x" * 9000}, max_bytes=10_000)["isAuthorized"]


def test_characters_beyond_the_bmp_count_as_their_two_escapes() -> None:
    """json.dumps writes one astral character as two \\uXXXX escapes (12 characters): a
    response of them over the budget is refused, never emitted."""
    doc = PolicyDocument().allow(DOC_ARN)
    arn = MethodArn.parse(DOC_ARN)
    wide = "\U0001f600" * (DEFAULT_MAX_RESPONSE_BYTES // 11)  # 8.9 KB once escaped
    assert len(json.dumps(wide)) > DEFAULT_MAX_RESPONSE_BYTES
    with pytest.raises(PolicyTooLarge):
        policy_response("u", doc, context={"pad": wide})
    with pytest.raises(PolicyTooLarge):
        policy_response(wide, doc)
    with pytest.raises(PolicyTooLarge):
        exact_response(wide, arn, True, {"a": "b"})
    with pytest.raises(PolicyTooLarge):
        exact_response("u", arn, False, {"pad": wide})


@settings(max_examples=150, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=800),
    st.dictionaries(
        st.text(min_size=1, max_size=10),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=700),
        max_size=4,
    ),
    st.integers(256, 12_000),
)
def test_string_responses_never_exceed_the_budget(
    principal_id: str, context: dict[str, str], budget: int
) -> None:
    """Whatever the characters (ASCII, BMP, astral), an accepted response serializes
    within the budget, and a refused one would not have."""
    arn = MethodArn.parse(DOC_ARN)
    principal_id = principal_id or "u"
    try:
        response = exact_response(principal_id, arn, True, context, max_bytes=budget)
    except PolicyTooLarge:
        full = {"principalId": principal_id, "policyDocument": exact_document(arn, True).to_dict()}
        if context:
            full["context"] = context
        assert len(json.dumps(full)) > budget
        return
    assert len(json.dumps(response)) <= budget
    assert response == policy_response(
        principal_id, exact_document(arn, True), context=context, max_bytes=budget
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(templates_with_instances(), max_size=40),
    st.dictionaries(
        st.text(min_size=1, max_size=20),
        st.one_of(
            st.text(max_size=60),
            st.integers(),
            st.booleans(),
            st.floats(allow_nan=False, allow_infinity=False),
        ),
        max_size=20,
    ),
    st.integers(256, 16_384),
)
def test_generated_policies_are_valid_json_within_budget(
    routes: list[tuple[str, str, str]], context: dict[str, Any], budget: int
) -> None:
    """Generated policies serialize to JSON that round-trips and fits the budget, or raise
    PolicyTooLarge; never an oversized response."""
    arn = MethodArn.parse(DOC_ARN)
    resources = resources_for_routes(arn, [(verb, template) for verb, template, _ in routes])
    doc = PolicyDocument().allow(*resources) if resources else DENY_ALL
    try:
        response = policy_response("user", doc, context=context, max_bytes=budget)
    except PolicyTooLarge:
        assert (
            len(
                json.dumps(
                    {
                        "principalId": "user",
                        "policyDocument": doc.to_dict(),
                        **({"context": context} if context else {}),
                    }
                )
            )
            > budget
        )
        return
    text = json.dumps(response)
    assert len(text) <= budget
    assert json.loads(text) == response
    assert json.loads(json.dumps(response, ensure_ascii=False)) == response
    assert response["policyDocument"]["Statement"][0]["Effect"] == (
        "Allow" if resources else "Deny"
    )


# --- PolicyBuilder --------------------------------------------------------------------------


def test_builder_configuration_errors() -> None:
    """Bad settings fail at construction with a message saying what to change."""
    with pytest.raises(ConfigurationError, match="routes="):
        PolicyBuilder(cache_ttl=300)
    for ttl in (-1, 3601, True, 1.5):
        with pytest.raises(ConfigurationError, match="cache_ttl"):
            PolicyBuilder(cache_ttl=ttl)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        PolicyBuilder(max_response_bytes=10)
    with pytest.raises(ConfigurationError):
        PolicyBuilder(routes=["FETCH /x"])
    assert PolicyBuilder(cache_ttl=300, routes=["GET /a", "$connect"]).cache_ttl == 300


CACHED_TABLE = {
    "GET /orders": roles("reader"),
    "GET /orders/{id}": roles("reader"),
    "DELETE /orders/{id}": roles("admin"),
    "GET /orders/{id}/audit": roles("admin"),
}


def test_builder_with_caching_covers_every_allowed_route() -> None:
    """cache_ttl > 0: the one cached response allows every route the principal may call and
    no other, whichever route came first; a denial also denies the exact method ARN."""
    routes = Routes(CACHED_TABLE)
    builder = PolicyBuilder(cache_ttl=300, routes=list(CACHED_TABLE))
    reader = Principal("r", roles={"reader"})
    first = dict(TOKEN_EVENT, methodArn=DOC_ARN.replace("/GET/request", "/GET/orders/7"))
    response = builder.response(
        reader, request_for(first), allow=True, allowed_routes=routes.allowed_routes(reader)
    )
    prefix = MethodArn.parse(DOC_ARN).prefix
    for verb, path, allowed in [
        ("GET", "/orders", True),
        ("GET", "/orders/7", True),
        ("GET", "/orders/8", True),
        ("DELETE", "/orders/7", False),
        ("GET", "/orders/7/audit", False),
        ("POST", "/orders", False),
    ]:
        assert evaluate(response["policyDocument"], prefix + verb + path) is allowed, (verb, path)
    denied_first = dict(TOKEN_EVENT, methodArn=DOC_ARN.replace("/GET/request", "/DELETE/orders/7"))
    response = builder.response(
        reader, request_for(denied_first), allow=False, allowed_routes=routes.allowed_routes(reader)
    )
    assert evaluate(response["policyDocument"], prefix + "GET/orders/9")
    assert not evaluate(response["policyDocument"], prefix + "DELETE/orders/7")


def test_builder_with_caching_keeps_the_decision_for_the_current_request() -> None:
    """A denial for a reason the table cannot see still denies the current request; an allow
    on a route left out of allowed_routes still allows the current request."""
    builder = PolicyBuilder(cache_ttl=60, routes=list(CACHED_TABLE))
    principal = Principal("u")
    request = request_for(
        dict(TOKEN_EVENT, methodArn=DOC_ARN.replace("/GET/request", "/GET/orders"))
    )
    denied = builder.policy(principal, request, allow=False, allowed_routes=["GET /orders"])
    assert not evaluate(denied.to_dict(), request.method_arn)
    allowed = builder.policy(principal, request, allow=True, allowed_routes=[])
    assert evaluate(allowed.to_dict(), request.method_arn)
    # Where no policy can be proven safe: only the method ARN, as with TTL 0.
    conflicted = PolicyBuilder(cache_ttl=60, routes=["GET /{proxy+}", "GET /users/{id}"])
    fallback = conflicted.policy(principal, request, allow=True, allowed_routes=["GET /{proxy+}"])
    assert fallback.to_dict()["Statement"] == [
        {"Action": INVOKE_ACTION, "Effect": "Allow", "Resource": [request.method_arn]}
    ]
    # WebSocket authorizers run only on $connect: the exact ARN is the whole policy.
    ws = builder.policy(principal, request_for(WEBSOCKET_EVENT), allow=True)
    assert ws.to_dict()["Statement"][0]["Resource"] == [WEBSOCKET_EVENT["methodArn"]]


def test_builder_without_caching_names_only_the_method_arn() -> None:
    """cache_ttl 0: the exact method ARN, allowed or denied."""
    request = request_for(REST_REQUEST_EVENT)
    builder = PolicyBuilder()
    for allow, effect in ((True, "Allow"), (False, "Deny")):
        doc = builder.policy(Principal("u"), request, allow=allow, allowed_routes=["GET /x"])
        assert doc.to_dict()["Statement"] == [
            {"Action": INVOKE_ACTION, "Effect": effect, "Resource": [DOC_ARN]}
        ]


class TenantFence(PolicyBuilder):
    """A subclass that denies other tenants' admin paths through the one hook."""

    def extra_statements(self, principal: Any, request: Request) -> Iterable[Statement]:
        arn = MethodArn.parse(request.method_arn)
        if "admin" not in principal.roles:
            yield Statement("Deny", [arn.with_route("ANY", "/admin/{proxy+}")])


def test_extra_statements_hook() -> None:
    """The hook's statements are merged in, and its Deny wins over the built-in Allow."""
    event = dict(TOKEN_EVENT, methodArn=DOC_ARN.replace("/GET/request", "/GET/admin/users"))
    request = request_for(event)
    user = TenantFence().response(Principal("u", roles={"member"}), request, allow=True)
    assert not evaluate(user["policyDocument"], event["methodArn"])
    assert [s["Effect"] for s in user["policyDocument"]["Statement"]] == ["Allow", "Deny"]
    admin = TenantFence().response(
        Principal("a", roles={"admin"}), request, allow=True, context={"tenant": "acme"}
    )
    assert evaluate(admin["policyDocument"], event["methodArn"])
    assert admin["context"] == {"tenant": "acme"}


def test_builder_enforces_context_rules_and_budget() -> None:
    """Context rules follow the event kind; the budget is the builder's."""
    builder = PolicyBuilder(max_response_bytes=512)
    with pytest.raises(InvalidContext):
        builder.response(Principal("u"), request_for(TOKEN_EVENT), allow=True, context={"r": ["a"]})
    ok = builder.response(
        Principal("u"), request_for(HTTP_V2_EVENT), allow=True, context={"r": ["a"]}
    )
    assert ok["context"] == {"r": ["a"]}
    with pytest.raises(PolicyTooLarge):
        builder.response(
            Principal("u"), request_for(TOKEN_EVENT), allow=True, context={"p": "x" * 600}
        )


def test_module_doctests() -> None:
    """Every example in secauth.policy's docstrings runs as written."""
    import importlib

    attempted = 0
    for name in ("", ".arn", ".document", ".glob", ".planner", ".responses", ".builder"):
        module = importlib.import_module("secauth.policy" + name)
        results = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert results.failed == 0, name
        attempted += results.attempted
    assert attempted >= 30
