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

from collections.abc import Mapping
from typing import Any, Final, Unpack
from urllib.parse import quote

from secauth.testing_event_parts import (
    REQUEST_EPOCH_MS,
    REQUEST_ID,
    REQUEST_TIME,
    SOURCE_IP,
    USER_AGENT,
    Event,
    Sent,
    Values,  # noqa: F401 (still importable from here)
    authorization_header,
    authorizer_context,
    check_no_body,
    check_path,
    header_lists,
    http_request,
    last_values,
    put_body,
    rest_request,
    value_lists,
)
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
    "on_custom_domain",
    "request_authorizer",
    "rest_proxy",
    "token_authorizer",
    "websocket_connect",
    "websocket_message",
]

_URL_ID: Final = "abcdefghijklmnopqrstuvwxyz012345"


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
        "methodArn": method_arn(method, check_path(path), stage=stage),
    }
    authorization = authorization_header(sent)
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
    check_no_body(sent)
    event = rest_request(method, path, resource, path_params, stage, sent)
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
    check_no_body(sent)
    event = rest_request(method, path, resource, path_params, stage, sent)
    identity = authorization_header(sent)
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
    check_no_body(sent)
    event = http_request(method, path, route_key, path_params, stage, sent)
    identity = authorization_header(sent)
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
        "requestTime": REQUEST_TIME,
        "messageDirection": "IN",
        "stage": stage,
        "connectedAt": REQUEST_EPOCH_MS,
        "requestTimeEpoch": REQUEST_EPOCH_MS,
        "identity": {"sourceIp": source_ip, "userAgent": USER_AGENT},
        "requestId": REQUEST_ID,
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
    check_no_body(sent)
    headers = header_lists(sent, lower=False)
    query = value_lists(sent.get("query"))
    return {
        "type": "REQUEST",
        "methodArn": method_arn("$connect", "", stage=stage),
        "headers": last_values(headers),
        "multiValueHeaders": headers,
        "queryStringParameters": last_values(query),
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
    arn = method_arn("$connect", "", stage=stage)
    passed = authorizer_context(authorizer_response, arn, http=False)
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
    event = rest_request(method, path, resource, path_params, stage, sent)
    arn = method_arn(method, path, stage=stage)
    passed = authorizer_context(authorizer_response, arn, http=False)
    if passed is not None:
        event["requestContext"]["authorizer"] = passed
    return put_body(event, sent)


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
    event = http_request(method, path, route_key, path_params, stage, sent)
    arn = method_arn(method, path, stage=stage)
    passed = authorizer_context(authorizer_response, arn, http=True)
    if passed is not None:
        event["requestContext"]["authorizer"] = passed
    return put_body(event, sent)


def on_custom_domain(event: Event, domain: str, *, base_path: str = "") -> Event:
    """``event`` (from :func:`rest_proxy` or :func:`http_proxy`) as API Gateway sends it
    on the custom domain name ``domain`` behind the base-path (REST) or API (HTTP) mapping
    ``base_path`` (``""``: none): the path keeps the mapping's prefix, the route and its
    path parameters do not. Changed in place, and returned.

    >>> event = rest_proxy("GET", "/orders/7", resource="/orders/{id}")
    >>> sent = on_custom_domain(event, "api.example.com", base_path="v1")
    >>> sent["path"], sent["pathParameters"], sent["requestContext"]["domainName"]
    ('/v1/orders/7', {'id': '7'}, 'api.example.com')
    """
    prefix = f"/{base_path.strip('/')}" if base_path.strip("/") else ""
    context = event["requestContext"]
    if "rawPath" in event:
        event["rawPath"] = context["http"]["path"] = prefix + event["rawPath"]
    else:
        event["path"] = prefix + event["path"]
        context["path"] = prefix + event["path"].removeprefix(prefix)
    context["domainName"] = domain
    context["domainPrefix"] = domain.split(".", 1)[0]
    return event


def function_url(method: str = "GET", path: str = "/", **sent: Unpack[Sent]) -> Event:
    """A Lambda Function URL event (payload 2.0 on a ``*.lambda-url.*.on.aws`` domain).

    >>> function_url("GET", "/orders")["requestContext"]["domainName"]
    'abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws'
    """
    domain = f"{_URL_ID}.lambda-url.{REGION}.on.aws"
    event = http_request(
        method, path, "$default", None, "$default", sent, api_id=_URL_ID, domain=domain
    )
    if sent.get("cookies"):  # Function URLs send them as the Cookie header too
        event["headers"].setdefault("cookie", "; ".join(sent["cookies"]))
    return put_body(event, sent)


def alb(
    method: str = "GET", path: str = "/", *, multi_value: bool = False, **sent: Unpack[Sent]
) -> Event:
    """An ALB target event; ``multi_value=True`` for a target group with multi-value
    headers on. ALB passes header names lower-cased, the query percent-encoded as sent
    (the builder encodes ``query``) and the client address in ``X-Forwarded-For``.

    >>> alb("GET", "/a", query={"q": "x y"}, multi_value=True)["multiValueQueryStringParameters"]
    {'q': ['x%20y']}
    """
    headers = header_lists(sent, lower=True)
    headers.setdefault("x-forwarded-for", [sent.get("source_ip", SOURCE_IP)])
    query = {
        quote(k, safe=""): [quote(v, safe="") for v in vs]
        for k, vs in value_lists(sent.get("query")).items()
    }
    target_group = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/lambda/0123456789"
    event: Event = {
        "requestContext": {"elb": {"targetGroupArn": target_group}},
        "httpMethod": method,
        "path": check_path(path),
    }
    if multi_value:
        event["multiValueQueryStringParameters"] = query
        event["multiValueHeaders"] = headers
    else:
        event["queryStringParameters"] = last_values(query) or {}
        event["headers"] = last_values(headers) or {}
    put_body(event, sent)
    event["body"] = event["body"] or ""
    return event
