"""``secauth.testing_events`` (event builders) and ``secauth.testing_policy`` (``iam_allows``).

Each builder's event is read by ``Request.from_event`` as its kind, with the method,
path, token, headers and query the test gave, repeated names kept the way AWS keeps
them. An authorizer's real answer, passed on by a builder, is what ``Guard`` reads.
``iam_allows`` is checked on hand-worked cases and, for the policy-dict path, against
the IAM simulator of ``tests/test_iam_simulate_crosscheck.py`` (skips without node).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from test_iam_simulate_crosscheck import collect, random_cases, simulate

from secauth import Authorizer, Guard, JwtVerifier, Routes, authenticated, roles
from secauth.events import EventKind, Request
from secauth.policy import PolicyDocument
from secauth.testing import KeyPair
from secauth.testing_events import (
    alb,
    function_url,
    http_authorizer_v1,
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    rest_proxy,
    token_authorizer,
    websocket_connect,
    websocket_message,
)
from secauth.testing_policy import iam_allows, method_arn

PAIR = KeyPair.generate("ES256", kid="k1")
ISS = "https://idp.test/"
VERIFIER = JwtVerifier(issuer=ISS, audience="api", jwks={"keys": [PAIR.public_jwk]})
ROUTES = Routes({"GET /orders/{id}": authenticated(), "DELETE /orders/{id}": roles("admin")})
READER = PAIR.sign({"iss": ISS, "aud": "api", "sub": "ann", "roles": ["reader"], "exp": 4e9})


def _alb_multi(method: str, path: str, **sent: Any) -> dict[str, Any]:
    return alb(method, path, multi_value=True, **sent)


HTTP_BUILDERS: dict[str, tuple[Callable[..., dict[str, Any]], EventKind]] = {
    "token_authorizer": (token_authorizer, EventKind.TOKEN_AUTHORIZER),
    "request_authorizer": (request_authorizer, EventKind.REST_REQUEST_AUTHORIZER),
    "http_authorizer_v1": (http_authorizer_v1, EventKind.HTTP_AUTHORIZER_V1),
    "http_authorizer_v2": (http_authorizer_v2, EventKind.HTTP_AUTHORIZER_V2),
    "rest_proxy": (rest_proxy, EventKind.REST_V1),
    "http_proxy": (http_proxy, EventKind.HTTP_V2),
    "function_url": (function_url, EventKind.FUNCTION_URL),
    "alb": (alb, EventKind.ALB),
    "alb_multi": (_alb_multi, EventKind.ALB),
}


@pytest.mark.parametrize("name", list(HTTP_BUILDERS))
def test_each_builder_makes_its_kind(name: str) -> None:
    """Detected as its kind, with the token, and (but for TOKEN events) method and path."""
    build, kind = HTTP_BUILDERS[name]
    request = Request.from_event(build("DELETE", "/orders/7", token="abc"))
    assert request.kind is kind
    assert request.bearer_token() == "abc"
    if kind is not EventKind.TOKEN_AUTHORIZER:
        assert (request.method, request.path) == ("DELETE", "/orders/7")
    if kind.is_authorizer:  # REST APIs default to stage "prod", HTTP APIs to "$default"
        stage = (
            "prod"
            if kind in (EventKind.TOKEN_AUTHORIZER, EventKind.REST_REQUEST_AUTHORIZER)
            else "$default"
        )
        assert request.method_arn == method_arn("DELETE", "/orders/7", stage=stage)


def test_websocket_builders() -> None:
    """``$connect`` is the WebSocket authorizer kind with the query token; a MESSAGE event
    is the WebSocket integration kind."""
    connect = Request.from_event(websocket_connect(query={"token": "abc"}))
    assert connect.kind is EventKind.WEBSOCKET_AUTHORIZER
    assert connect.query_values("token") == ("abc",)
    assert connect.method_arn == method_arn("$connect", "")
    message = websocket_message("sendmessage", '{"action": "sendmessage"}')
    request = Request.from_event(message)
    assert request.kind is EventKind.WEBSOCKET
    assert request.method == "sendmessage"


def test_repeated_names_are_kept_as_aws_keeps_them() -> None:
    """REST: last value single, all values multi; HTTP API: joined; ALB: encoded query."""
    rest = rest_proxy("GET", "/a", headers={"X-T": ["1", "2"]}, query={"q": ["x", "y"]})
    assert rest["headers"]["X-T"] == "2"
    assert Request.from_event(rest).header_values("x-t") == ("1", "2")
    assert Request.from_event(rest).query_values("q") == ("x", "y")
    http = http_proxy("GET", "/a", headers={"X-T": ["1", "2"]}, query={"q": ["x", "y"]})
    assert http["headers"]["x-t"] == "1,2"
    assert http["rawQueryString"] == "q=x&q=y"
    single = alb("GET", "/a", query={"t/n": "a b"})
    assert single["queryStringParameters"] == {"t%2Fn": "a%20b"}
    assert "multiValueHeaders" not in single
    assert Request.from_event(_alb_multi("GET", "/a", token="t")).header_values(
        "authorization"
    ) == ("Bearer t",)


def test_cookies_body_and_refusals() -> None:
    """Cookies: a list on payload 2.0, a header elsewhere; bytes bodies base64; builders
    refuse what their kind cannot carry."""
    assert http_proxy("GET", "/", cookies=["a=1", "b=2"])["cookies"] == ["a=1", "b=2"]
    assert rest_proxy("GET", "/", cookies=["a=1", "b=2"])["headers"]["Cookie"] == "a=1; b=2"
    event = function_url("POST", "/", body=b"\x00\x01")
    assert (event["body"], event["isBase64Encoded"]) == ("AAE=", True)
    with pytest.raises(ValueError, match="body"):
        request_authorizer("POST", "/", body="x")
    with pytest.raises(ValueError, match="only the token"):
        token_authorizer("GET", "/", token="t", headers={"a": "b"})
    with pytest.raises(ValueError, match="starts with '/'"):
        rest_proxy("GET", "orders")
    assert "authorizationToken" not in token_authorizer("GET", "/")


def test_an_authorizer_answer_passed_on_is_what_guard_reads() -> None:
    """The REST and HTTP API answers of a real Authorizer, placed by the builders, let a
    trusting Guard through; a denying answer cannot be passed on."""
    authorizer = Authorizer(VERIFIER, routes=ROUTES, cache_ttl=300, decision_log=None)
    guard = Guard(routes=ROUTES, decision_log=None)
    handler = guard(lambda event, context, principal: {"statusCode": 200, "body": principal.id})

    answer = authorizer.handler(token_authorizer("GET", "/orders/7", token=READER), None)
    ok = handler(
        rest_proxy("GET", "/orders/8", resource="/orders/{id}", authorizer_response=answer), None
    )
    assert (ok["statusCode"], ok["body"]) == (200, "ann")
    with pytest.raises(ValueError, match="does not allow"):
        rest_proxy("DELETE", "/orders/7", authorizer_response=answer)

    simple = Authorizer(VERIFIER, routes=ROUTES, simple_responses=True, decision_log=None).handler(
        http_authorizer_v2("GET", "/orders/7", token=READER), None
    )
    assert simple["isAuthorized"] is True
    ok = handler(http_proxy("GET", "/orders/7", authorizer_response=simple), None)
    assert (ok["statusCode"], ok["body"]) == (200, "ann")
    with pytest.raises(ValueError, match="does not allow"):
        http_proxy("GET", "/orders/7", authorizer_response={"isAuthorized": False})


# --- iam_allows --------------------------------------------------------------------------


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _st(effect: str, *resources: str, action: Any = "execute-api:Invoke") -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Resource": list(resources)}


BASE = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/"


@pytest.mark.parametrize(
    ("policy", "arn", "allowed"),
    [
        (
            _doc(_st("Allow", BASE + "GET/orders/*")),
            BASE + "GET/orders/7/items/1",
            True,
        ),  # * crosses /
        (_doc(_st("Allow", BASE + "GET/orders/?")), BASE + "GET/orders/7", True),
        (_doc(_st("Allow", BASE + "GET/orders/?")), BASE + "GET/orders/77", False),  # ? is one char
        (_doc(_st("Allow", BASE + "GET/orders/*")), BASE + "GET/Orders/7", False),  # case-sensitive
        (_doc(_st("Allow", BASE + "*"), _st("Deny", BASE + "DELETE/*")), BASE + "DELETE/x", False),
        (_doc(_st("Deny", BASE + "DELETE/*"), _st("Allow", BASE + "*")), BASE + "DELETE/x", False),
        (_doc(_st("Allow", BASE + "*"), _st("Deny", BASE + "DELETE/*")), BASE + "GET/x", True),
        (_doc(_st("Allow", "*")), BASE + "GET/x", True),
        (_doc(_st("Deny", "*")), BASE + "GET/x", False),
        (_doc(), BASE + "GET/x", False),  # no Allow: implicit deny
        (_doc(_st("Allow", BASE + "*", action="execute-api:*")), BASE + "GET/x", True),
        (_doc(_st("Allow", BASE + "*", action=["s3:GetObject"])), BASE + "GET/x", False),
        (_doc(_st("Allow", BASE + "*", action="EXECUTE-API:invoke")), BASE + "GET/x", True),
        (
            _doc(_st("Allow", BASE + "GET/*"), _st("Deny", BASE + "*", action="s3:*")),
            BASE + "GET/x",
            True,
        ),
        (_doc(_st("Allow", BASE.replace("prod", "dev") + "*")), BASE + "GET/x", False),
    ],
)
def test_iam_allows_hand_checked(policy: dict[str, Any], arn: str, allowed: bool) -> None:
    assert iam_allows(policy, arn) is allowed


def test_iam_allows_takes_documents_dicts_and_responses_alike() -> None:
    """A PolicyDocument, its dict and a response holding it get the same answers; a single
    statement object is read as a list of one; what cannot be judged is refused."""
    doc = PolicyDocument().allow(BASE + "GET/*").deny(BASE + "GET/admin/*")
    response = {"principalId": "ann", "policyDocument": doc.to_dict()}
    for arn in (BASE + "GET/x", BASE + "GET/admin/x", BASE + "POST/x"):
        assert iam_allows(doc, arn) == iam_allows(doc.to_dict(), arn) == iam_allows(response, arn)
    single = {"Version": "2012-10-17", "Statement": _st("Allow", BASE + "*")}
    assert iam_allows(single, BASE + "GET/x")
    conditioned = _st("Deny", BASE + "*") | {
        "Condition": {"IpAddress": {"aws:SourceIp": "1.2.3.4"}}
    }
    with pytest.raises(ValueError, match="Condition"):
        iam_allows(_doc(_st("Allow", BASE + "*"), conditioned), BASE + "GET/x")
    with pytest.raises(ValueError, match="NotResource"):
        iam_allows(
            _doc({"Effect": "Allow", "Action": "execute-api:Invoke", "NotResource": "*"}), BASE
        )
    with pytest.raises(ValueError, match="Version"):
        iam_allows({"Statement": []}, BASE + "GET/x")


def test_iam_allows_on_policy_dicts_agrees_with_the_iam_simulator() -> None:
    """Random documents, as dicts, judged by iam_allows and by @cloud-copilot/iam-simulate."""
    cases = collect(random_cases(), max_examples=40)
    theirs = simulate(cases)
    ours = [iam_allows(doc.to_dict(), arn) for doc, arn in cases]
    assert ours == theirs
    assert 0 < sum(ours) < len(ours)  # both answers occur


def test_request_context_path_is_the_path_the_client_sent() -> None:
    # REST and named HTTP API stages are the URL's first segment; an HTTP API's $default
    # stage is served at the root (AWS's payload 1.0 example: requestContext.path "/my/path").
    assert http_authorizer_v1("GET", "/orders/7")["requestContext"]["path"] == "/orders/7"
    named = http_authorizer_v1("GET", "/orders/7", stage="beta")
    assert named["requestContext"]["path"] == "/beta/orders/7"
    assert request_authorizer("GET", "/orders/7")["requestContext"]["path"] == "/prod/orders/7"
