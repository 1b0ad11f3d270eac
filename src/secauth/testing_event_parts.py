"""The parts :mod:`secauth.testing_events` builds its events from: what the client sent
(:class:`Sent`), laid out in each event kind's shape.

Headers and query parameters become the single- and multi-value maps of REST and ALB
events (:func:`last_values`: the last value wins) or the comma-joined maps of HTTP API
events (:func:`joined_values`); :func:`rest_request` and :func:`http_request` are the
request part REST (payload 1.0) and HTTP API (payload 2.0) events share, and
:func:`authorizer_context` is what API Gateway passes on from an authorizer's response.
The fixed example values (:data:`SOURCE_IP`, :data:`USER_AGENT`, ...) are the same in
every event. :mod:`secauth.testing_events` re-exports :class:`Sent` and :data:`SOURCE_IP`.

>>> sent = Sent(token="abc", headers={"X-Tag": ["a", "b"]})
>>> joined_values(header_lists(sent, lower=True))["x-tag"]
'a,b'
>>> last_values(header_lists(sent, lower=False))["Authorization"]
'Bearer abc'
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypedDict
from urllib.parse import urlencode

from secauth.testing_policy import ACCOUNT, API_ID, REGION, iam_allows

__all__ = [
    "REQUEST_EPOCH_MS",
    "REQUEST_ID",
    "REQUEST_TIME",
    "SOURCE_IP",
    "USER_AGENT",
    "Event",
    "Sent",
    "Values",
    "authorization_header",
    "authorizer_context",
    "check_no_body",
    "check_path",
    "header_lists",
    "http_request",
    "joined_values",
    "last_values",
    "put_body",
    "rest_request",
    "value_lists",
]

#: The client address API Gateway reports unless ``source_ip=`` says otherwise (RFC 5737).
SOURCE_IP: Final = "203.0.113.9"
# The other fixed example values, the same in every event.
USER_AGENT: Final = "test-client/1.0"
REQUEST_ID: Final = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
REQUEST_TIME: Final = "09/Apr/2015:12:34:56 +0000"
REQUEST_EPOCH_MS: Final = 1428582896000

Event = dict[str, Any]
Values = Mapping[str, str | Sequence[str]]


class Sent(TypedDict, total=False):
    """What the client sent; every builder but
    :func:`~secauth.testing_events.websocket_message` takes these keywords.

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


def value_lists(values: Values | None) -> dict[str, list[str]]:
    """Each name's values as a list (a plain string is one value)."""
    return {k: [v] if isinstance(v, str) else list(v) for k, v in (values or {}).items()}


def authorization_header(sent: Sent) -> str | None:
    """The ``Authorization`` value the client sent: ``authorization``, else ``Bearer <token>``."""
    token = sent.get("token")
    return sent.get("authorization", f"Bearer {token}" if token is not None else None)


def header_lists(sent: Sent, *, lower: bool, cookie_header: bool = True) -> dict[str, list[str]]:
    """Every header the client sent, as lists of values (names lower-cased with ``lower``;
    the cookies as a ``Cookie`` header with ``cookie_header``)."""
    out: dict[str, list[str]] = {"User-Agent": [USER_AGENT]}
    authorization = authorization_header(sent)
    if authorization is not None:
        out["Authorization"] = [authorization]
    if cookie_header and sent.get("cookies"):
        out["Cookie"] = ["; ".join(sent["cookies"])]
    for name, values in value_lists(sent.get("headers")).items():
        out.setdefault(name, []).extend(values)
    if not lower:
        return out
    merged: dict[str, list[str]] = {}
    for name, values in out.items():
        merged.setdefault(name.lower(), []).extend(values)
    return merged


def last_values(values: dict[str, list[str]]) -> dict[str, str] | None:
    """The single-value map of REST and ALB events: the last value of each name."""
    return {k: v[-1] for k, v in values.items() if v} or None


def joined_values(values: dict[str, list[str]]) -> dict[str, str] | None:
    """The single-value map of HTTP API events: repeated values joined with commas."""
    return {k: ",".join(v) for k, v in values.items()} or None


def put_body(event: Event, sent: Sent) -> Event:
    """``event`` with the body sent: text as is, bytes base64-encoded."""
    body = sent.get("body")
    if isinstance(body, bytes):
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode("ascii"), True
    else:
        event["body"], event["isBase64Encoded"] = body, False
    return event


def check_no_body(sent: Sent) -> None:
    """Refuse a body: authorizer events carry none."""
    if "body" in sent:
        raise ValueError("authorizer events carry no request body")


def check_path(path: str) -> str:
    """``path`` if it starts with ``/``; a ``ValueError`` otherwise."""
    if not path.startswith("/"):
        raise ValueError(f"a request path starts with '/', got {path!r}")
    return path


def rest_request(
    method: str,
    path: str,
    resource: str | None,
    path_params: Mapping[str, str] | None,
    stage: str,
    sent: Sent,
) -> Event:
    """What REST proxy, REST REQUEST authorizer and HTTP payload 1.0 events share."""
    resource = resource or check_path(path)
    headers = header_lists(sent, lower=False)
    query = value_lists(sent.get("query"))
    return {
        "resource": resource,
        "path": check_path(path),
        "httpMethod": method,
        "headers": last_values(headers),
        "multiValueHeaders": headers,
        "queryStringParameters": last_values(query),
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_parameters(resource, path, path_params),
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
            "domainPrefix": API_ID,
            "httpMethod": method,
            "identity": {
                "sourceIp": sent.get("source_ip", SOURCE_IP),
                "userAgent": USER_AGENT,
                "caller": None,
            },
            # The path as the client sent it: a named stage is its first segment; an
            # HTTP API's $default stage is served at the root and adds nothing.
            "path": path if stage == "$default" else f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "requestId": REQUEST_ID,
            "requestTime": REQUEST_TIME,
            "requestTimeEpoch": REQUEST_EPOCH_MS,
            "resourceId": "us4z18",
            "resourcePath": resource,
            "stage": stage,
        },
    }


def path_parameters(
    template: str, path: str, given: Mapping[str, str] | None
) -> dict[str, str] | None:
    """``given``, else the parameters API Gateway would pass for ``path`` routed on
    ``template`` (``"/orders/{id}"``, ``"/{proxy+}"``); None when there are none or the
    path does not fit the template.

    >>> path_parameters("/t/{id}/{proxy+}", "/t/a/b/c", None)
    {'id': 'a', 'proxy': 'b/c'}
    """
    if given:
        return dict(given)
    if not template.startswith("/") or "{" not in template:
        return None
    names, parts = template[1:].split("/"), path[1:].split("/")
    params: dict[str, str] = {}
    for position, name in enumerate(names):
        if position >= len(parts):
            return None
        if name.startswith("{") and name.endswith("+}"):
            params[name[1:-2]] = "/".join(parts[position:])
            return params
        if name.startswith("{") and name.endswith("}"):
            params[name[1:-1]] = parts[position]
        elif name != parts[position]:
            return None
    return params if len(names) == len(parts) else None


def http_request(
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
    raw_path = check_path(path) if stage == "$default" else f"/{stage}{check_path(path)}"
    query = value_lists(sent.get("query"))
    event: Event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": urlencode([(k, v) for k, vs in query.items() for v in vs]),
        "headers": joined_values(header_lists(sent, lower=True, cookie_header=False)),
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
                "userAgent": USER_AGENT,
            },
            "requestId": REQUEST_ID,
            "routeKey": route_key,
            "stage": stage,
            "time": REQUEST_TIME,
            "timeEpoch": REQUEST_EPOCH_MS,
        },
    }
    if sent.get("cookies"):
        event["cookies"] = list(sent["cookies"])
    if query:
        event["queryStringParameters"] = joined_values(query)
    params = path_parameters(route_key.partition(" ")[2], path, path_params)
    if params:
        event["pathParameters"] = params
    return event


def authorizer_context(response: Mapping[str, Any] | None, arn: str, *, http: bool) -> Event | None:
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
