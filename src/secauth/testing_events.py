"""Lambda events for your tests, and what API Gateway does with an authorizer's policy.

Each builder returns a fresh event dict of one kind, in the format AWS documents for
it, carrying what the test says the client sent, with fixed example values for the
rest (account ``123456789012``, API ``abcdef123``, Region ``us-east-1``).
:meth:`secauth.events.Request.from_event` reads each as its kind.

==============================  ==================================================
builder                         event
==============================  ==================================================
:func:`token_authorizer`        REST API TOKEN authorizer
:func:`request_authorizer`      REST API REQUEST authorizer
:func:`http_authorizer_v1`      HTTP API Lambda authorizer, payload 1.0
:func:`http_authorizer_v2`      HTTP API Lambda authorizer, payload 2.0
:func:`websocket_connect`       WebSocket API ``$connect`` authorizer (REQUEST)
:func:`websocket_message`       WebSocket API message to a backend (``MESSAGE``)
:func:`rest_proxy`              REST API Lambda proxy integration (payload 1.0)
:func:`http_proxy`              HTTP API Lambda integration (payload 2.0)
:func:`alb`                     ALB target, single- or multi-value headers
:func:`function_url`            Lambda Function URL
==============================  ==================================================

What the client sent is given by keyword (:class:`Sent`): ``token="abc"`` sends
``Authorization: Bearer abc``. :func:`iam_allows` and :func:`method_arn` come from
:mod:`secauth.testing_policy`: what API Gateway does with an authorizer's policy.

Example
-------
>>> from secauth.events import Request
>>> Request.from_event(rest_proxy("GET", "/orders/7", token="abc")).kind.value
'rest_v1'
>>> event = token_authorizer("GET", "/orders/7", token="abc")
>>> event["methodArn"]
'arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/orders/7'
>>> policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
...     "Action": "execute-api:Invoke", "Resource": method_arn("GET", "/orders/*")}]}
>>> iam_allows(policy, event["methodArn"]), iam_allows(policy, method_arn("DELETE", "/orders/7"))
(True, False)
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypedDict, Unpack
from urllib.parse import quote, urlencode

from secauth.testing_policy import ACCOUNT, API_ID, REGION, iam_allows, method_arn

__all__ = [
    "SOURCE_IP",
    "Sent",
    "alb",
    "function_url",
    "http_authorizer_v1",
    "http_authorizer_v2",
    "http_proxy",
    "iam_allows",
    "method_arn",
    "request_authorizer",
    "rest_proxy",
    "token_authorizer",
    "websocket_connect",
    "websocket_message",
]

#: The client address API Gateway reports unless ``source_ip=`` says otherwise (RFC 5737).
SOURCE_IP: Final = "203.0.113.9"
_URL_ID: Final = "abcdefghijklmnopqrstuvwxyz012345"
_USER_AGENT: Final = "test-client/1.0"
_REQUEST_ID: Final = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
_TIME: Final = "09/Apr/2015:12:34:56 +0000"
_EPOCH_MS: Final = 1428582896000

Event = dict[str, Any]
Values = Mapping[str, str | Sequence[str]]


class Sent(TypedDict, total=False):
    """What the client sent; every builder but :func:`websocket_message` takes these keywords.

    token: sent as ``Authorization: Bearer <token>``.
    authorization: the whole ``Authorization`` value instead (``"Basic ..."``).
    headers: more headers; a list value sends the name once per item, kept as AWS keeps
        repeats (REST, ALB: the last value in the single-value map, all in the
        multi-value one; HTTP APIs: joined with commas).
    query: query parameters, as for headers.
    cookies: cookies (``"name=value"``): HTTP API and Function URL events list them in
        ``cookies``, the others receive a ``Cookie`` header.
    body: the request body; bytes arrive base64-encoded. Not on authorizer events.
    source_ip: the client address (default :data:`SOURCE_IP`).
    """

    token: str
    authorization: str
    headers: Values
    query: Values
    cookies: Sequence[str]
    body: str | bytes
    source_ip: str


# -- what the client sent, in each kind's shape -------------------------------------------


def _lists(values: Values | None) -> dict[str, list[str]]:
    return {k: [v] if isinstance(v, str) else list(v) for k, v in (values or {}).items()}


def _authorization(sent: Sent) -> str | None:
    token = sent.get("token")
    return sent.get("authorization", f"Bearer {token}" if token is not None else None)


def _headers(sent: Sent, *, lower: bool, cookie_header: bool = True) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"User-Agent": [_USER_AGENT]}
    authorization = _authorization(sent)
    if authorization is not None:
        out["Authorization"] = [authorization]
    if cookie_header and sent.get("cookies"):
        out["Cookie"] = ["; ".join(sent["cookies"])]
    for name, values in _lists(sent.get("headers")).items():
        out.setdefault(name, []).extend(values)
    if not lower:
        return out
    merged: dict[str, list[str]] = {}
    for name, values in out.items():
        merged.setdefault(name.lower(), []).extend(values)
    return merged


def _last(values: dict[str, list[str]]) -> dict[str, str] | None:
    """The single-value map of REST and ALB events: the last value of each name."""
    return {k: v[-1] for k, v in values.items() if v} or None


def _joined(values: dict[str, list[str]]) -> dict[str, str] | None:
    """The single-value map of HTTP API events: repeated values joined with commas."""
    return {k: ",".join(v) for k, v in values.items()} or None


def _put_body(event: Event, sent: Sent) -> Event:
    body = sent.get("body")
    if isinstance(body, bytes):
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode("ascii"), True
    else:
        event["body"], event["isBase64Encoded"] = body, False
    return event


def _no_body(sent: Sent) -> None:
    if "body" in sent:
        raise ValueError("authorizer events carry no request body")


def _check_path(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"a request path starts with '/', got {path!r}")
    return path


def _rest_request(
    method: str,
    path: str,
    resource: str | None,
    path_params: Mapping[str, str] | None,
    stage: str,
    sent: Sent,
) -> Event:
    """What REST proxy, REST REQUEST authorizer and HTTP payload 1.0 events share."""
    resource = resource or _check_path(path)
    headers = _headers(sent, lower=False)
    query = _lists(sent.get("query"))
    return {
        "resource": resource,
        "path": _check_path(path),
        "httpMethod": method,
        "headers": _last(headers),
        "multiValueHeaders": headers,
        "queryStringParameters": _last(query),
        "multiValueQueryStringParameters": query or None,
        "pathParameters": dict(path_params) if path_params else None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
            "domainPrefix": API_ID,
            "httpMethod": method,
            "identity": {
                "sourceIp": sent.get("source_ip", SOURCE_IP),
                "userAgent": _USER_AGENT,
                "caller": None,
            },
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "requestId": _REQUEST_ID,
            "requestTime": _TIME,
            "requestTimeEpoch": _EPOCH_MS,
            "resourceId": "us4z18",
            "resourcePath": resource,
            "stage": stage,
        },
    }


def _http_request(
    method: str,
    path: str,
    route_key: str,
    path_params: Mapping[str, str] | None,
    stage: str,
    sent: Sent,
    *,
    api_id: str = API_ID,
    domain: str | None = None,
) -> Event:
    """The payload 2.0 request of HTTP API authorizers and integrations and Function URLs.
    A named stage is part of the raw path, as API Gateway sends it."""
    raw_path = _check_path(path) if stage == "$default" else f"/{stage}{_check_path(path)}"
    query = _lists(sent.get("query"))
    event: Event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": urlencode([(k, v) for k, vs in query.items() for v in vs]),
        "headers": _joined(_headers(sent, lower=True, cookie_header=False)),
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": api_id,
            "domainName": domain or f"{api_id}.execute-api.{REGION}.amazonaws.com",
            "domainPrefix": api_id,
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": sent.get("source_ip", SOURCE_IP),
                "userAgent": _USER_AGENT,
            },
            "requestId": _REQUEST_ID,
            "routeKey": route_key,
            "stage": stage,
            "time": _TIME,
            "timeEpoch": _EPOCH_MS,
        },
    }
    if sent.get("cookies"):
        event["cookies"] = list(sent["cookies"])
    if query:
        event["queryStringParameters"] = _joined(query)
    if path_params:
        event["pathParameters"] = dict(path_params)
    return event


def _passed_on(response: Mapping[str, Any] | None, arn: str, *, http: bool) -> Event | None:
    """``requestContext.authorizer`` as API Gateway fills it from an authorizer's response
    (REST and WebSocket: ``principalId`` and the context; HTTP API: the context under
    ``lambda``). A response that does not allow ``arn`` is refused: API Gateway would
    answer 403 and not call the function."""
    if response is None:
        return None
    simple = "isAuthorized" in response
    if not (response["isAuthorized"] is True if simple else iam_allows(response, arn)):
        raise ValueError(f"this authorizer response does not allow {arn}")
    context = dict(response.get("context") or {})
    if http:
        return {"lambda": context}
    return {"principalId": response.get("principalId"), **context, "integrationLatency": 0}


# -- authorizer events --------------------------------------------------------------------


def token_authorizer(
    method: str = "GET", path: str = "/", *, stage: str = "prod", **sent: Unpack[Sent]
) -> Event:
    """A REST API TOKEN authorizer event: the method ARN and the identity source's value
    (only ``token`` or ``authorization``; without either, API Gateway answers 401 itself).

    >>> token_authorizer("GET", "/orders", authorization="Basic eDp5")["authorizationToken"]
    'Basic eDp5'
    """
    if set(sent) - {"token", "authorization"}:
        raise ValueError("a TOKEN authorizer event carries only the token")
    event: Event = {
        "type": "TOKEN",
        "methodArn": method_arn(method, _check_path(path), stage=stage),
    }
    authorization = _authorization(sent)
    if authorization is not None:
        event["authorizationToken"] = authorization
    return event


def request_authorizer(
    method: str = "GET",
    path: str = "/",
    *,
    resource: str | None = None,
    path_params: Mapping[str, str] | None = None,
    stage: str = "prod",
    **sent: Unpack[Sent],
) -> Event:
    """A REST API REQUEST authorizer event (``resource``: the matched template, default ``path``).

    >>> request_authorizer("GET", "/orders/7", resource="/orders/{id}")["requestContext"]["path"]
    '/prod/orders/7'
    """
    _no_body(sent)
    event = _rest_request(method, path, resource, path_params, stage, sent)
    return {"type": "REQUEST", "methodArn": method_arn(method, path, stage=stage), **event}


def http_authorizer_v1(
    method: str = "GET",
    path: str = "/",
    *,
    resource: str | None = None,
    path_params: Mapping[str, str] | None = None,
    stage: str = "$default",
    **sent: Unpack[Sent],
) -> Event:
    """An HTTP API Lambda authorizer event, payload 1.0 (identity source: ``Authorization``).

    >>> http_authorizer_v1("GET", "/orders", token="abc")["identitySource"]
    'Bearer abc'
    """
    _no_body(sent)
    event = _rest_request(method, path, resource, path_params, stage, sent)
    identity = _authorization(sent)
    return {
        "version": "1.0",
        "type": "REQUEST",
        "methodArn": method_arn(method, path, stage=stage),
        "identitySource": identity,
        "authorizationToken": identity,
        **event,
    }


def http_authorizer_v2(
    method: str = "GET",
    path: str = "/",
    *,
    route_key: str = "$default",
    path_params: Mapping[str, str] | None = None,
    stage: str = "$default",
    **sent: Unpack[Sent],
) -> Event:
    """An HTTP API Lambda authorizer event, payload 2.0 (identity source: ``Authorization``).

    >>> http_authorizer_v2("GET", "/orders/7", route_key="GET /orders/{id}")["routeArn"]
    'arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/GET/orders/7'
    """
    _no_body(sent)
    event = _http_request(method, path, route_key, path_params, stage, sent)
    identity = _authorization(sent)
    return {
        "type": "REQUEST",
        "routeArn": method_arn(method, path, stage=stage),
        "identitySource": [identity] if identity is not None else None,
        **event,
    }


def _websocket_context(route_key: str, event_type: str, stage: str, source_ip: str) -> Event:
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "requestTime": _TIME,
        "messageDirection": "IN",
        "stage": stage,
        "connectedAt": _EPOCH_MS,
        "requestTimeEpoch": _EPOCH_MS,
        "identity": {"sourceIp": source_ip, "userAgent": _USER_AGENT},
        "requestId": _REQUEST_ID,
        "domainName": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
        "connectionId": "AAAA1234=",
        "apiId": API_ID,
    }


def websocket_connect(*, stage: str = "prod", **sent: Unpack[Sent]) -> Event:
    """A WebSocket API ``$connect`` REQUEST authorizer event. Browsers cannot set headers
    on a WebSocket: send ``query={"token": ...}`` or a ``Sec-WebSocket-Protocol`` header.

    >>> websocket_connect(query={"token": "abc"})["queryStringParameters"]
    {'token': 'abc'}
    """
    _no_body(sent)
    headers = _headers(sent, lower=False)
    query = _lists(sent.get("query"))
    return {
        "type": "REQUEST",
        "methodArn": method_arn("$connect", "", stage=stage),
        "headers": _last(headers),
        "multiValueHeaders": headers,
        "queryStringParameters": _last(query),
        "multiValueQueryStringParameters": query or None,
        "stageVariables": {},
        "requestContext": _websocket_context(
            "$connect", "CONNECT", stage, sent.get("source_ip", SOURCE_IP)
        ),
    }


# -- what a function behind the API receives ----------------------------------------------


def websocket_message(
    route_key: str = "$default",
    body: str = "",
    *,
    authorizer_response: Mapping[str, Any] | None = None,
    stage: str = "prod",
    source_ip: str = SOURCE_IP,
) -> Event:
    """A WebSocket API message a backend function receives (event type ``MESSAGE``), with
    what the ``$connect`` authorizer answered in ``requestContext.authorizer``.

    >>> websocket_message("sendmessage", '{"action": "sendmessage"}')["requestContext"]["eventType"]
    'MESSAGE'
    """
    context = _websocket_context(route_key, "MESSAGE", stage, source_ip)
    context["messageId"] = "message-id-1="
    passed = _passed_on(authorizer_response, method_arn("$connect", "", stage=stage), http=False)
    if passed is not None:
        context["authorizer"] = passed
    return {"requestContext": context, "body": body, "isBase64Encoded": False}


def rest_proxy(
    method: str = "GET",
    path: str = "/",
    *,
    resource: str | None = None,
    path_params: Mapping[str, str] | None = None,
    authorizer_response: Mapping[str, Any] | None = None,
    stage: str = "prod",
    **sent: Unpack[Sent],
) -> Event:
    """A REST API Lambda proxy integration event. ``authorizer_response`` is what your
    authorizer answered: API Gateway puts its ``principalId`` and ``context`` in
    ``requestContext.authorizer`` (a response that does not allow this request raises
    ``ValueError``: API Gateway would answer 403 and not call the function).

    >>> allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
    ...     "Action": "execute-api:Invoke", "Resource": method_arn("GET", "/orders/*")}]}
    >>> event = rest_proxy("GET", "/orders/7", resource="/orders/{id}", path_params={"id": "7"},
    ...     authorizer_response={"principalId": "ann", "policyDocument": allow, "context": {"k": "v"}})
    >>> event["requestContext"]["authorizer"]["principalId"], event["requestContext"]["authorizer"]["k"]
    ('ann', 'v')
    """
    event = _rest_request(method, path, resource, path_params, stage, sent)
    passed = _passed_on(authorizer_response, method_arn(method, path, stage=stage), http=False)
    if passed is not None:
        event["requestContext"]["authorizer"] = passed
    return _put_body(event, sent)


def http_proxy(
    method: str = "GET",
    path: str = "/",
    *,
    route_key: str = "$default",
    path_params: Mapping[str, str] | None = None,
    authorizer_response: Mapping[str, Any] | None = None,
    stage: str = "$default",
    **sent: Unpack[Sent],
) -> Event:
    """An HTTP API Lambda integration event, payload 2.0; ``authorizer_response`` as for
    :func:`rest_proxy` (its ``context`` lands in ``requestContext.authorizer.lambda``).

    >>> http_proxy("POST", "/orders", query={"tag": ["a", "b"]})["queryStringParameters"]
    {'tag': 'a,b'}
    """
    event = _http_request(method, path, route_key, path_params, stage, sent)
    passed = _passed_on(authorizer_response, method_arn(method, path, stage=stage), http=True)
    if passed is not None:
        event["requestContext"]["authorizer"] = passed
    return _put_body(event, sent)


def function_url(method: str = "GET", path: str = "/", **sent: Unpack[Sent]) -> Event:
    """A Lambda Function URL event (payload 2.0 on a ``*.lambda-url.*.on.aws`` domain).

    >>> function_url("GET", "/orders")["requestContext"]["domainName"]
    'abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws'
    """
    domain = f"{_URL_ID}.lambda-url.{REGION}.on.aws"
    event = _http_request(
        method, path, "$default", None, "$default", sent, api_id=_URL_ID, domain=domain
    )
    return _put_body(event, sent)


def alb(
    method: str = "GET", path: str = "/", *, multi_value: bool = False, **sent: Unpack[Sent]
) -> Event:
    """An ALB target event; ``multi_value=True`` for a target group with multi-value
    headers on. ALB passes header names lower-cased, the query percent-encoded as sent
    (the builder encodes ``query``) and the client address in ``X-Forwarded-For``.

    >>> alb("GET", "/a", query={"q": "x y"}, multi_value=True)["multiValueQueryStringParameters"]
    {'q': ['x%20y']}
    """
    headers = _headers(sent, lower=True)
    headers.setdefault("x-forwarded-for", [sent.get("source_ip", SOURCE_IP)])
    query = {
        quote(k, safe=""): [quote(v, safe="") for v in vs]
        for k, vs in _lists(sent.get("query")).items()
    }
    target_group = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/lambda/0123456789"
    event: Event = {
        "requestContext": {"elb": {"targetGroupArn": target_group}},
        "httpMethod": method,
        "path": _check_path(path),
    }
    if multi_value:
        event["multiValueQueryStringParameters"] = query
        event["multiValueHeaders"] = headers
    else:
        event["queryStringParameters"] = _last(query) or {}
        event["headers"] = _last(headers) or {}
    _put_body(event, sent)
    event["body"] = event["body"] or ""
    return event
