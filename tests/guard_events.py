"""Backend Lambda events of every kind Guard serves, for the Guard, responses and Powertools tests.

The shapes follow the formats AWS documents: "Input format of a Lambda function for
proxy integration" (REST API, payload 1.0, with ``multiValueHeaders`` beside
``headers``), "Working with AWS Lambda proxy integrations for HTTP APIs" (payload
2.0), "Invoking Lambda function URLs" (request payload) and "Lambda functions as
targets" for ALB (with and without multi-value headers). Our own values.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Mapping
from typing import Any

from secauth.errors import SecAuthError
from secauth.testing import KeyPair
from secauth.verifier import JwtVerifier

ISS = "https://idp.example.com/"
AUD = "orders-api"
PAIR = KeyPair.generate("ES256", kid="k1")
STRANGER = KeyPair.generate("ES256", kid="k1")  # same kid, another key: a forgery
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
ACCOUNT = "123456789012"
API_ID = "a1b2c3d4e5"
REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
SOURCE_IP = "198.51.100.7"

Event = dict[str, Any]
ALICE_CLAIMS: dict[str, Any] = {"sub": "alice", "tenant": "acme", "roles": ["admin"]}
# Every token minted here, so tests can scan their output for all of them.
MINTED: list[str] = []


def token(sub: str = "alice", *, pair: KeyPair = PAIR, **claims: Any) -> str:
    """A token for the test verifier (valid unless the claims or key say otherwise)."""
    body: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": sub, "exp": 4_000_000_000}
    body.update(claims)
    minted = pair.sign({k: v for k, v in body.items() if v is not None})
    MINTED.append(minted)
    return minted


def _headers(
    authorization: str | None, extra: Mapping[str, str] | None, *, lower: bool
) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": "test-client/1.0"}
    if authorization is not None:
        headers["Authorization"] = authorization
    headers.update(extra or {})
    return {k.lower(): v for k, v in headers.items()} if lower else headers


def _body(body: str | bytes | None) -> tuple[str | None, bool]:
    if isinstance(body, bytes):
        return base64.b64encode(body).decode(), True
    return body, False


def rest_v1(
    method: str = "GET",
    path: str = "/orders/7",
    *,
    resource: str | None = None,
    authorization: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: str | bytes | None = None,
    authorizer: Mapping[str, Any] | None = None,
    source_ip: str = SOURCE_IP,
) -> Event:
    """A REST API proxy event (payload 1.0): ``headers`` and ``multiValueHeaders`` both present."""
    hdrs = _headers(authorization, headers, lower=False)
    text, b64 = _body(body)
    context: dict[str, Any] = {
        "accountId": ACCOUNT,
        "apiId": API_ID,
        "domainName": f"{API_ID}.execute-api.us-east-1.amazonaws.com",
        "httpMethod": method,
        "identity": {"sourceIp": source_ip, "userAgent": "test-client/1.0", "caller": None},
        "path": f"/prod{path}",
        "protocol": "HTTP/1.1",
        "requestId": REQUEST_ID,
        "requestTimeEpoch": 1428582896000,
        "resourceId": "us4z18",
        "resourcePath": resource or path,
        "stage": "prod",
    }
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": hdrs,
        "multiValueHeaders": {k: [v] for k, v in hdrs.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": context,
        "body": text,
        "isBase64Encoded": b64,
    }


def http_v2(
    method: str = "GET",
    path: str = "/orders/7",
    *,
    authorization: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: str | bytes | None = None,
    authorizer: Mapping[str, Any] | None = None,
    stage: str = "$default",
    domain: str | None = None,
    source_ip: str = SOURCE_IP,
) -> Event:
    """An HTTP API proxy event (payload 2.0); ``authorizer`` is ``requestContext.authorizer``."""
    text, b64 = _body(body)
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    context: dict[str, Any] = {
        "accountId": ACCOUNT,
        "apiId": API_ID,
        "domainName": domain or f"{API_ID}.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": API_ID,
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": "test-client/1.0",
        },
        "requestId": REQUEST_ID,
        "routeKey": "$default",
        "stage": stage,
        "time": "12/Mar/2020:19:03:58 +0000",
        "timeEpoch": 1583348638390,
    }
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    event: Event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": _headers(authorization, headers, lower=True),
        "requestContext": context,
        "isBase64Encoded": b64,
    }
    if text is not None:
        event["body"] = text
    return event


def function_url(method: str = "GET", path: str = "/orders/7", **kwargs: Any) -> Event:
    """A Lambda Function URL event: payload 2.0 on a ``*.lambda-url.*.on.aws`` domain."""
    kwargs.setdefault("domain", "abcdefghijklmnop.lambda-url.us-east-1.on.aws")
    event = http_v2(method, path, **kwargs)
    event["requestContext"]["apiId"] = "abcdefghijklmnop"
    event["requestContext"]["domainPrefix"] = "abcdefghijklmnop"
    return event


def alb(
    method: str = "GET",
    path: str = "/orders/7",
    *,
    authorization: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: str | bytes | None = None,
    multi_value: bool = False,
) -> Event:
    """An ALB target event; with ``multi_value`` the target group's multi-value headers mode."""
    hdrs = _headers(authorization, headers, lower=True)
    hdrs["x-amzn-trace-id"] = "Root=1-5bdb40ca-556d8b0c50dc66f0511bf520"
    hdrs["x-forwarded-for"] = SOURCE_IP
    text, b64 = _body(body)
    event: Event = {
        "requestContext": {
            "elb": {
                "targetGroupArn": (
                    f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/tg/abc123"
                )
            }
        },
        "httpMethod": method,
        "path": path,
        "body": text or "",
        "isBase64Encoded": b64,
    }
    if multi_value:
        event["multiValueQueryStringParameters"] = {}
        event["multiValueHeaders"] = {k: [v] for k, v in hdrs.items()}
    else:
        event["queryStringParameters"] = {}
        event["headers"] = hdrs
    return event


def alb_multi(method: str = "GET", path: str = "/orders/7", **kwargs: Any) -> Event:
    return alb(method, path, multi_value=True, **kwargs)


# name -> (builder, response kind: "headers" or "multi", has statusDescription, has request id)
KINDS: dict[str, tuple[Callable[..., Event], str, bool, bool]] = {
    "rest_v1": (rest_v1, "headers", False, True),
    "http_v2": (http_v2, "headers", False, True),
    "function_url": (function_url, "headers", False, True),
    "alb": (alb, "headers", True, False),
    "alb_multi": (alb_multi, "multi", True, False),
}


def with_context(event: Event, context: Mapping[str, Any] | None, *, kind: str) -> Event:
    """``event`` with an authorizer context placed the way API Gateway places it."""
    out = copy.deepcopy(event)
    if context is None:
        return out
    if kind == "rest_v1":
        out["requestContext"]["authorizer"] = dict(context)
    else:
        out["requestContext"]["authorizer"] = {"lambda": dict(context)}
    return out


def response_headers(response: Mapping[str, Any]) -> dict[str, str]:
    """The response's headers as one flat dict (multi-value headers must hold one value each)."""
    if "multiValueHeaders" in response:
        assert "headers" not in response, response
        flat: dict[str, str] = {}
        for name, values in response["multiValueHeaders"].items():
            assert isinstance(values, list), (name, values)
            assert len(values) == 1, (name, values)
            flat[name] = values[0]
        return flat
    return dict(response["headers"])


def admitted(guard: Any, event: Event) -> str:
    """What ``guard`` (a :class:`secauth.Guard`) makes of ``event``: ``"allow"``, or the
    refusal's reason and detail (``"forbidden: {...}"``)."""
    try:
        guard.admit(event, {})
    except SecAuthError as exc:
        return f"{exc.reason.value}: {exc.detail}"
    return "allow"
