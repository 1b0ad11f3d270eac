"""Review 129: secauth's model of AWS event and response formats against AWS's documentation.

Checked at commit 07902f3. Every event below is a literal dict trimmed from AWS's documented
example for its kind, run through the real ``Authorizer``, ``Guard`` and ``Request.from_event``
(no mocks, no network; keys are local).

Sources (read through the docs corpus):

* "Control access to HTTP APIs with AWS Lambda authorizers" (payload 1.0 and 2.0 input,
  IAM-policy and simple responses):
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html
* "Create AWS Lambda proxy integrations for HTTP APIs in API Gateway" ("Format 2.0 doesn't have
  multiValueHeaders ... Duplicate headers are combined with commas and included in the headers
  field. Duplicate query strings are combined with commas"; "All cookie headers in the request
  are combined with commas and added to the cookies field"; "All header names are lowercased"):
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
* "Output from an API Gateway Lambda authorizer" (principalId, policyDocument, flat context of
  string/number/boolean values, usageIdentifierKey for apiKeySource AUTHORIZER):
  https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html
* "Lambda functions as targets for an Application Load Balancer" and the Powertools AlbSchema
  example (lower-cased header names; ``headers`` or ``multiValueHeaders``, never both):
  https://docs.aws.amazon.com/elasticloadbalancing/latest/application/lambda-functions.html
  https://docs.aws.amazon.com/powertools/typescript/2.16.0/api/ (parser.schemas.AlbSchema)

What held (plain tests):

* HTTP API payload 2.0 authorizer events: a repeated ``Authorization`` header, which AWS joins
  with a comma into one value, is refused (deny-all policy), never read as the first token.
* HTTP API payload 2.0 handler events: the same joined header gets 401 from a ``Guard``; a
  query token AWS joined (``t=a,b``) is refused too.
* HTTP API payload 1.0 authorizer events (``identitySource`` string, ``authorizationToken``
  holding the joined identity sources, ``methodArn``) are detected as HTTP 1.0 and allowed on
  exactly the ``methodArn``.
* WebSocket ``$connect`` REQUEST authorizer events (``requestContext.eventType`` CONNECT,
  ``connectionId``) are detected, allowed on the ``$connect`` ARN, and a repeated header in
  ``multiValueHeaders`` answers ``Unauthorized`` (401).
* Payload 2.0 ``cookies``: a cookie token source reads the list AWS sends (the Cookie header is
  not in ``headers``), and refuses a cookie given twice.
* Response shapes: an ALB refusal carries ``statusCode``, ``statusDescription``,
  ``isBase64Encoded`` and the one header map ALB reads (``multiValueHeaders`` in multi-value
  mode); HTTP API 2.0 refusals use ``headers``.
* Authorizer output: REST, WebSocket and HTTP 1.0 contexts refuse arrays and objects (AWS
  answers 500 for them); ``usageIdentifierKey`` is refused outside REST authorizers.

Findings: none in this topic at this commit.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from secauth import Authorizer, Guard, JwtVerifier, Routes, authenticated
from secauth.api_keys import ApiKeyEntry, StaticApiKeys, entries
from secauth.errors import ConfigurationError
from secauth.events import EventKind, Request
from secauth.policy import Unauthorized
from secauth.policy.document import DENY_ALL
from secauth.policy.responses import InvalidContext, policy_response, simple_response
from secauth.testing import KeyPair
from secauth.token_sources import TokenSource

ISS, AUD = "https://idp.example/", "review129"
PAIR = KeyPair.generate("ES256", kid="r129")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
ROUTE_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/request"
CONNECT_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/default/$connect"


def token(sub: str) -> str:
    now = int(time.time())
    return PAIR.sign({"iss": ISS, "aud": AUD, "sub": sub, "iat": now, "exp": now + 300})


ANN, BOB = token("ann"), token("bob")


def authorizer(**options: Any) -> Authorizer:
    return Authorizer(VERIFIER, decision_log=None, **options)


def decide(event: dict[str, Any], auth: Authorizer | None = None) -> Any:
    try:
        return (auth or authorizer()).handler(event)
    except Unauthorized:
        return "Unauthorized"


def effect(answer: Any) -> str:
    assert isinstance(answer, dict), answer
    statements = answer["policyDocument"]["Statement"]
    return ",".join(sorted({s["Effect"] for s in statements}))


def http_v2_authorizer_event(
    headers: dict[str, str], cookies: list[str] | None = None
) -> dict[str, Any]:
    """The payload 2.0 example of "Control access to HTTP APIs with AWS Lambda authorizers",
    trimmed (identitySource is a list; headers lower-cased; cookies a separate list)."""
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": ROUTE_ARN,
        "identitySource": ["x"],
        "routeKey": "GET /request",
        "rawPath": "/test/request",
        "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
        "cookies": cookies or [],
        "headers": headers,
        "queryStringParameters": {"parameter1": "value1,value2", "parameter2": "value"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef123",
            "domainName": "abcdef123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdef123",
            "http": {
                "method": "GET",
                "path": "/test/request",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.1",
                "userAgent": "agent",
            },
            "requestId": "id",
            "routeKey": "GET /request",
            "stage": "test",
            "time": "12/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390,
        },
        "pathParameters": {},
        "stageVariables": {},
    }


def http_v2_proxy_event(
    headers: dict[str, str], query: dict[str, str] | None = None, cookies: list[str] | None = None
) -> dict[str, Any]:
    """The payload 2.0 example of "Create AWS Lambda proxy integrations for HTTP APIs",
    trimmed: duplicates already comma-joined by AWS, as the page says."""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/my/path",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-id",
            "domainName": "id.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "id",
            "http": {
                "method": "GET",
                "path": "/my/path",
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "agent",
            },
            "requestId": "id",
            "routeKey": "$default",
            "stage": "$default",
            "time": "12/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390,
        },
        "isBase64Encoded": False,
    }
    if query is not None:
        event["queryStringParameters"] = query
    if cookies is not None:
        event["cookies"] = cookies
    return event


def guard(**options: Any) -> Any:
    protected = Guard(VERIFIER, routes=Routes({"GET /my/path": authenticated()}),
                      decision_log=None, **options)  # fmt: skip

    @protected
    def handler(event: Any, context: Any, principal: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": principal.id}

    return handler


# --- authorizer input -------------------------------------------------------------------------


def test_v2_authorizer_refuses_authorization_headers_aws_joined_with_a_comma() -> None:
    """http-api-develop-integrations-lambda: "Duplicate headers are combined with commas and
    included in the headers field". Two Authorization headers reach a 2.0 authorizer as one
    value ``Bearer A,Bearer B``: it must not be read as A (or B), it is refused."""
    joined = http_v2_authorizer_event({"authorization": f"Bearer {ANN},Bearer {BOB}"})
    assert Request.from_event(joined).kind is EventKind.HTTP_AUTHORIZER_V2
    answer = decide(joined)
    assert effect(answer) == "Deny"
    assert answer["principalId"] not in ("ann", "bob")
    single = http_v2_authorizer_event({"authorization": f"Bearer {ANN}"})
    allowed = decide(single)
    assert effect(allowed) == "Allow"
    assert allowed["principalId"] == "ann"
    assert allowed["policyDocument"]["Statement"][0]["Resource"] == [ROUTE_ARN]


def test_v2_simple_authorizer_refuses_joined_authorization() -> None:
    """http-api-lambda-authorizer: with simple responses the answer is ``isAuthorized``."""
    auth = authorizer(simple_responses=True)
    joined = http_v2_authorizer_event({"authorization": f"Bearer {ANN},Bearer {BOB}"})
    assert decide(joined, auth) == {"isAuthorized": False}
    ok = decide(http_v2_authorizer_event({"authorization": f"Bearer {ANN}"}), auth)
    assert ok["isAuthorized"] is True
    assert ok["context"]["secauth_principal"] == "ann"


def test_http_v1_authorizer_event_from_the_docs_is_read_as_http_payload_1() -> None:
    """http-api-lambda-authorizer, payload 1.0: ``identitySource`` and ``authorizationToken``
    hold the identity sources joined; ``methodArn`` is the target; the token is read from the
    Authorization header, never from ``authorizationToken``."""
    event = {
        "version": "1.0",
        "type": "REQUEST",
        "methodArn": ROUTE_ARN,
        "identitySource": f"Bearer {BOB},123",
        "authorizationToken": f"Bearer {BOB},123",
        "resource": "/request",
        "path": "/request",
        "httpMethod": "GET",
        "headers": {
            "X-AMZ-Date": "20170718T062915Z",
            "Accept": "*/*",
            "Authorization": f"Bearer {ANN}",
        },
        "queryStringParameters": {"QueryString1": "queryValue1"},
        "pathParameters": {},
        "stageVariables": {"StageVar1": "stageValue1"},
        "requestContext": {
            "path": "/request",
            "accountId": "123456789012",
            "resourceId": "05c7jb",
            "stage": "test",
            "requestId": "...",
            "identity": {"sourceIp": "203.0.113.1", "userAgent": "agent"},
            "resourcePath": "/request",
            "httpMethod": "GET",
            "apiId": "abcdef123",
        },
    }
    assert Request.from_event(event).kind is EventKind.HTTP_AUTHORIZER_V1
    answer = decide(event)
    assert effect(answer) == "Allow"
    assert answer["principalId"] == "ann"
    assert answer["policyDocument"]["Statement"][0]["Resource"] == [ROUTE_ARN]
    assert all(not isinstance(v, list | dict) for v in answer.get("context", {}).values())


def websocket_connect_event(multi: dict[str, list[str]]) -> dict[str, Any]:
    """The WebSocket ``$connect`` REQUEST authorizer input of "Input to an API Gateway Lambda
    authorizer" (REST-shaped, with requestContext.eventType CONNECT and connectionId)."""
    return {
        "type": "REQUEST",
        "methodArn": CONNECT_ARN,
        "headers": {k: v[-1] for k, v in multi.items()},
        "multiValueHeaders": multi,
        "queryStringParameters": {},
        "multiValueQueryStringParameters": {},
        "stageVariables": {},
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "extendedRequestId": "ABC=",
            "requestTime": "09/Feb/2019:11:40:24 +0000",
            "messageDirection": "IN",
            "stage": "default",
            "connectedAt": 1583348638390,
            "requestTimeEpoch": 1583348638390,
            "identity": {"sourceIp": "203.0.113.1", "userAgent": "agent"},
            "requestId": "x",
            "domainName": "abcdef123.execute-api.us-east-1.amazonaws.com",
            "connectionId": "Zh_ng=",
            "apiId": "abcdef123",
        },
    }


def test_websocket_connect_authorizer_event_allows_connect_and_refuses_repeats() -> None:
    """WebSocket $connect authorizers answer like REST ones: Allow on the ``$connect`` ARN;
    a header repeated in ``multiValueHeaders`` is a 401 (``Unauthorized``)."""
    event = websocket_connect_event({"Authorization": [f"Bearer {ANN}"]})
    assert Request.from_event(event).kind is EventKind.WEBSOCKET_AUTHORIZER
    answer = decide(event)
    assert effect(answer) == "Allow"
    assert answer["principalId"] == "ann"
    assert answer["policyDocument"]["Statement"][0]["Resource"] == [CONNECT_ARN]
    repeated = websocket_connect_event({"Authorization": [f"Bearer {BOB}", f"Bearer {ANN}"]})
    assert decide(repeated) == "Unauthorized"


# --- handler input ----------------------------------------------------------------------------


def test_guard_refuses_joined_authorization_and_joined_query_token_on_http_v2() -> None:
    """Payload 2.0 proxy events join duplicate headers and query strings with commas: both
    are refused (401), never judged on one of the joined values."""
    handler = guard()
    ok = handler(http_v2_proxy_event({"authorization": f"Bearer {ANN}"}), None)
    assert ok["statusCode"] == 200
    assert ok["body"] == "ann"
    joined = handler(http_v2_proxy_event({"authorization": f"Bearer {ANN},Bearer {BOB}"}), None)
    assert joined["statusCode"] == 401
    assert "headers" in joined
    assert "multiValueHeaders" not in joined
    by_query = guard(token_sources=[TokenSource.query("access_token")])
    assert by_query(http_v2_proxy_event({}, {"access_token": ANN}), None)["statusCode"] == 200
    twice = by_query(http_v2_proxy_event({}, {"access_token": f"{ANN},{BOB}"}), None)
    assert twice["statusCode"] == 401


def test_guard_reads_payload_2_cookies_list_and_refuses_a_repeated_cookie() -> None:
    """http-api-develop-integrations-lambda: "Format 2.0 includes a new cookies field";
    the Cookie header is not in ``headers``. A cookie named twice is ambiguous."""
    handler = guard(token_sources=[TokenSource.cookie("session")])
    one = handler(http_v2_proxy_event({}, cookies=["theme=dark", f"session={ANN}"]), None)
    assert one["statusCode"] == 200
    assert one["body"] == "ann"
    two = handler(http_v2_proxy_event({}, cookies=[f"session={ANN}", f"session={BOB}"]), None)
    assert two["statusCode"] == 401


# --- responses --------------------------------------------------------------------------------


def alb_event(multi_value: bool) -> dict[str, Any]:
    """The ALB request of the AlbSchema example (lower-cased names; one map or the other)."""
    headers = {"accept": "text/html", "host": "lambda-846800462-us-east-2.elb.amazonaws.com",
               "x-forwarded-for": "72.21.198.66", "x-forwarded-port": "443",
               "x-forwarded-proto": "https"}  # fmt: skip
    event: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:region:"
                                   "123456789012:targetgroup/my-target-group/6d0ecf831eec9f09"}},
        "httpMethod": "GET",
        "path": "/my/path",
        "isBase64Encoded": False,
        "body": "",
    }  # fmt: skip
    if multi_value:
        event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
        event["multiValueQueryStringParameters"] = {}
    else:
        event["headers"] = headers
        event["queryStringParameters"] = {}
    return event


@pytest.mark.parametrize("multi_value", [False, True])
def test_alb_refusal_has_the_fields_alb_requires_in_the_map_it_reads(multi_value: bool) -> None:
    """lambda-functions (ALB): the response must include the Base64 status, status code and
    headers; with multi-value headers on, ALB reads ``multiValueHeaders`` only."""
    answer = guard()(alb_event(multi_value), None)
    assert answer["statusCode"] == 401
    assert answer["statusDescription"].startswith("401")
    assert answer["isBase64Encoded"] is False
    key, other = (
        ("multiValueHeaders", "headers") if multi_value else ("headers", "multiValueHeaders")
    )
    assert key in answer
    assert other not in answer
    names = {n.lower() for n in answer[key]}
    assert "www-authenticate" in names


# --- authorizer output ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [EventKind.TOKEN_AUTHORIZER, EventKind.REST_REQUEST_AUTHORIZER,
     EventKind.WEBSOCKET_AUTHORIZER, EventKind.HTTP_AUTHORIZER_V1],
)  # fmt: skip
def test_flat_context_kinds_refuse_arrays_and_objects(kind: EventKind) -> None:
    """api-gateway-lambda-authorizer-output: context values are strings, numbers or booleans
    (API Gateway answers 500 for an array or object); payload 2.0 may carry any JSON."""
    for bad in ({"roles": ["a"]}, {"who": {"id": "a"}}, {"none": None}):
        with pytest.raises(InvalidContext):
            policy_response("u", DENY_ALL, kind=kind, context=bad)
    flat = policy_response("u", DENY_ALL, kind=kind, context={"s": "v", "n": 1, "b": True})
    assert flat["context"] == {"s": "v", "n": 1, "b": True}
    assert simple_response(True, context={"roles": ["a"]})["context"] == {"roles": ["a"]}


def test_usage_identifier_key_only_for_rest_authorizers() -> None:
    """api-gateway-lambda-authorizer-output: ``usageIdentifierKey`` serves REST usage plans
    (apiKeySource AUTHORIZER); HTTP and WebSocket authorizers have none."""
    rest = policy_response("u", DENY_ALL, kind=EventKind.TOKEN_AUTHORIZER,
                           usage_identifier_key="key-1")  # fmt: skip
    assert rest["usageIdentifierKey"] == "key-1"
    for kind in (EventKind.HTTP_AUTHORIZER_V1, EventKind.HTTP_AUTHORIZER_V2,
                 EventKind.WEBSOCKET_AUTHORIZER):  # fmt: skip
        with pytest.raises(ConfigurationError):
            policy_response("u", DENY_ALL, kind=kind, usage_identifier_key="key-1")


def test_joined_api_key_header_on_http_v2_is_not_accepted() -> None:
    """Two ``x-api-key`` headers reach a 2.0 authorizer as ``K1,K2``: neither key admits it."""
    key = "pk-review129-0123456789abcdef"
    store = StaticApiKeys(entries([(key, ApiKeyEntry("partner"))]))
    auth = authorizer(api_keys=store)
    ok = decide(http_v2_authorizer_event({"x-api-key": key}), auth)
    assert effect(ok) == "Allow"
    assert ok["principalId"] == "partner"
    joined = decide(http_v2_authorizer_event({"x-api-key": f"{key},{key}"}), auth)
    assert effect(joined) == "Deny"
