"""Review 5: adversarial tests of the Guard, rate limits and event parsing.

Each test asserts the secure behaviour. Tests marked ``# FINDING:`` failed on the code
they were written against (each weakness is fixed, with a Security entry in the
CHANGELOG); the others are attacks the library resisted, kept as regression tests.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from typing import Any

import pytest

from secauth import (
    ClaimMapper,
    Cors,
    Guard,
    JwtVerifier,
    Principal,
    RateLimiter,
    Routes,
    current_principal,
    public,
    roles,
)
from secauth import testing_events as te
from secauth.access import authenticated
from secauth.authorizer_limits import AuthorizerLimits
from secauth.errors import AbuseBlocked, ConfigurationError, SecAuthError
from secauth.events import EventKind, Request
from secauth.memo import PrincipalMemo
from secauth.ratelimit import AbusePenalty, ClientIp, MemoryStore
from secauth.ratelimit.keys import ApiKey, by_principal, normalize_ip, safe_key
from secauth.testing import KeyPair
from secauth.token_sources import TokenSource, read_token

ISS = "https://idp.example.com/"
AUD = "orders-api"
PAIR = KeyPair.generate("ES256", kid="k1")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
ROUTES = Routes(
    {
        "GET /orders/{id}": authenticated(),
        "DELETE /orders/{id}": roles("admin"),
        "POST /login": public(),
        "GET /health": public(),
    }
)
MINTED: list[str] = []


def token(sub: str = "alice", **claims: Any) -> str:
    body: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": sub, "exp": 4_000_000_000}
    body.update(claims)
    minted = PAIR.sign(body)
    MINTED.append(minted)
    return minted


def echo(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": json.dumps({"id": principal.id, "tenant": principal.tenant,
                                                   "roles": sorted(principal.roles)})}


def with_context(event: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """``event`` as API Gateway hands it on after a secauth authorizer allowed ``principal``."""
    context = principal.to_context()
    if event.get("version") == "2.0":
        event["requestContext"]["authorizer"] = {"lambda": context}
    else:
        event["requestContext"]["authorizer"] = {"principalId": principal.id, **context}
    return event


def body_of(response: dict[str, Any]) -> dict[str, Any]:
    return json.loads(response["body"])


# -- 1. trusting the authorizer context ---------------------------------------------------


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param({"Secauth_Principal": "root", "secauth_kind": "user"}, id="case-variant"),
        pytest.param({"secauth_principal ": "root"}, id="trailing-space-key"),
        pytest.param({"lambda": {"SECAUTH_PRINCIPAL": "root"}}, id="upper-under-lambda"),
    ],
)
def test_case_and_format_variants_of_context_keys_are_not_a_context(forge: dict[str, Any]) -> None:
    guarded = Guard(routes=ROUTES, decision_log=None)(echo)
    for event in (te.rest_proxy("GET", "/orders/7"), te.http_proxy("GET", "/orders/7")):
        event["requestContext"]["authorizer"] = copy.deepcopy(forge)
        response = guarded(event, None)
        assert response["statusCode"] == 401
        assert "root" not in response["body"]


@pytest.mark.parametrize(
    "roles_text",
    [
        '["admin"', '"admin"', '{"admin": 1}', '[["admin"]]', '["admin", 1]', '[null]',
        "admin", "", "[\"admin\"] [\"x\"]", "NaN",
    ],
)
def test_malformed_roles_json_in_context_is_refused(roles_text: str) -> None:
    context = Principal("mallory").to_context()
    context["secauth_roles"] = roles_text
    event = te.rest_proxy("DELETE", "/orders/7")
    event["requestContext"]["authorizer"] = {"principalId": "mallory", **context}
    response = Guard(routes=ROUTES, decision_log=None)(echo)(event, None)
    assert response["statusCode"] == 401


def test_rest_shaped_context_on_an_http_api_event_is_not_read() -> None:
    """HTTP APIs put a Lambda authorizer's context under ``lambda``: a top-level one
    (the REST shape) on a payload 2.0 event was not written by an authorizer."""
    event = te.http_proxy("GET", "/orders/7")
    event["requestContext"]["authorizer"] = Principal("root", roles={"admin"}).to_context()
    response = Guard(routes=ROUTES, decision_log=None)(echo)(event, None)
    assert response["statusCode"] == 401


def test_alb_event_with_rest_fields_and_a_context_is_still_alb() -> None:
    """An ALB event dressed up as REST (``resource``, ``identity``) with a forged context."""
    event = te.alb("DELETE", "/orders/7", headers={"x-forwarded-for": "203.0.113.9"})
    event["resource"] = "/orders/{id}"
    event["requestContext"]["identity"] = {"sourceIp": "203.0.113.9"}
    event["requestContext"]["authorizer"] = Principal("root", roles={"admin"}).to_context()
    assert Request.from_event(event).kind is EventKind.ALB
    response = Guard(routes=ROUTES, decision_log=None)(echo)(event, None)
    assert response["statusCode"] == 401


def test_function_url_with_lambda_context_is_not_trusted_even_with_a_verifier() -> None:
    event = te.function_url("DELETE", "/orders/7", token=token("bob"))
    event["requestContext"]["authorizer"] = {"lambda": Principal("bob", roles={"admin"}).to_context()}
    guarded = Guard(VERIFIER, trust_authorizer=True, routes=ROUTES, decision_log=None)(echo)
    response = guarded(event, None)
    assert response["statusCode"] == 403  # bob's token has no admin role: context ignored


def test_both_mode_refuses_a_token_of_another_tenant_than_the_context() -> None:
    event = with_context(
        te.rest_proxy("GET", "/orders/7", token=token("alice", tenant="evil")),
        Principal("alice", tenant="acme"),
    )
    guard = Guard(VERIFIER, trust_authorizer=True, routes=ROUTES, decision_log=None,
                  claims=ClaimMapper(tenant_claim="tenant"))
    assert guard(echo)(event, None)["statusCode"] == 401


def test_both_mode_takes_roles_from_the_token_not_the_context() -> None:
    event = with_context(
        te.rest_proxy("DELETE", "/orders/7", token=token("alice")),
        Principal("alice", roles={"admin"}),
    )
    guard = Guard(VERIFIER, trust_authorizer=True, routes=ROUTES, decision_log=None)
    assert guard(echo)(event, None)["statusCode"] == 403


def test_principal_memo_does_not_confuse_contexts_that_differ_in_one_field() -> None:
    memo = PrincipalMemo()
    admin = Principal("ann", tenant="acme", roles={"admin"}).to_context()
    plain = Principal("ann", tenant="acme").to_context()
    other_tenant = Principal("ann", tenant="globex", roles={"admin"}).to_context()
    assert memo.for_context(admin).roles == {"admin"}
    assert memo.for_context(admin).roles == {"admin"}
    assert memo.for_context(plain).roles == frozenset()
    assert memo.for_context(other_tenant).tenant == "globex"
    # a non-string value is never served from the memo (and is refused)
    forged = {**admin, "secauth_roles": ["admin"]}
    with pytest.raises(SecAuthError) as caught:
        memo.for_context(forged)
    assert getattr(caught.value, "status", None) == 401


def test_principal_memo_stays_bounded_under_distinct_contexts() -> None:
    memo = PrincipalMemo(size=64)
    for i in range(1000):
        memo.for_context(Principal(f"user-{i}").to_context())
    assert len(memo) <= 64


# FINDING: a per-route Powertools guard that identifies the caller itself (other verifier
# or trust setting) checks its rule on that caller, but the route runs as the global
# guard's principal, with no check that the two agree.
def test_powertools_per_route_guard_runs_the_route_as_the_caller_it_admitted() -> None:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from secauth.integrations.powertools import guard_middleware

    outer = Guard(decision_log=None)  # trust mode: the authorizer's context
    inner = Guard(VERIFIER, decision_log=None).require(roles("admin"))  # verifies the token
    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(outer)])

    @app.delete("/orders/<order_id>", middlewares=[guard_middleware(inner)])
    def delete_order(order_id: str) -> dict[str, Any]:
        caller = current_principal()
        return {"as": caller.id, "tenant": caller.tenant}

    # The authorizer (reading another identity source, an API key) vouched for a
    # low-privilege partner of tenant acme; the bearer token is an admin of tenant evil.
    event = with_context(
        te.rest_proxy("DELETE", "/orders/7", token=token("mallory", roles=["admin"])),
        Principal("partner-a", tenant="acme", kind="api_key"),
    )
    response = app.resolve(event, None)
    if response["statusCode"] == 200:
        # admitted on mallory's admin role: the route must then act as mallory
        assert json.loads(response["body"])["as"] == "mallory"
    else:
        assert response["statusCode"] in (401, 403)


def test_powertools_global_guard_answers_unmatched_routes_only_after_authentication() -> None:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from secauth.integrations.powertools import guard_middleware

    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(Guard(VERIFIER, decision_log=None))])

    @app.get("/orders/<order_id>")
    def read_order(order_id: str) -> dict[str, Any]:
        return {"order": order_id}

    for method, path in [("GET", "/nowhere"), ("POST", "/orders/7"), ("OPTIONS", "/orders/7")]:
        response = app.resolve(te.http_proxy(method, path), None)
        assert response["statusCode"] == 401, (method, path)
        assert response["headers"]["X-Content-Type-Options"] == "nosniff"


def test_a_handler_with_its_own_rule_is_never_anonymous_on_a_public_route() -> None:
    guarded = Guard(VERIFIER, routes=ROUTES, decision_log=None).require(roles("admin"))(echo)
    assert guarded(te.http_proxy("GET", "/health"), None)["statusCode"] == 401
    trusting = Guard(routes=ROUTES, decision_log=None).require(roles("admin"))(echo)
    assert trusting(te.rest_proxy("GET", "/health"), None)["statusCode"] == 401


def test_powertools_global_guard_refuses_a_forged_context_on_a_function_url() -> None:
    from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver

    from secauth.integrations.powertools import guard_middleware

    app = LambdaFunctionUrlResolver()
    app.use(middlewares=[guard_middleware(Guard(routes=ROUTES, decision_log=None))])

    @app.get("/orders/<order_id>")
    def read_order(order_id: str) -> dict[str, Any]:
        return {"as": current_principal().id}

    event = te.function_url("GET", "/orders/7")
    event["requestContext"]["authorizer"] = {"lambda": Principal("root").to_context()}
    response = app.resolve(event, None)
    assert response["statusCode"] == 401
    assert "root" not in response["body"]


# -- 2. event kinds and malformed input: 4xx, never 500 ----------------------------------


@pytest.mark.parametrize("event", [None, [], "GET /", 42, {"foo": "bar"}, {"requestContext": None}])
def test_unsupported_events_are_a_sanitized_400(event: Any) -> None:
    response = Guard(VERIFIER, decision_log=None)(echo)(event, None)
    assert response["statusCode"] == 400
    assert response["headers"]["X-Content-Type-Options"] == "nosniff"
    assert set(body_of(response)) <= {"type", "title", "status", "request_id"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("headers", {"authorization": None, "origin": 7, "content-type": ["a"]}),
        ("headers", ["authorization", "Bearer x"]),
        ("multiValueHeaders", {"authorization": "Bearer x", "cookie": [None, 3]}),
        ("queryStringParameters", {"token": ["a"], "t": None}),
        ("cookies", [None, 7, {"tok": "x"}]),
        ("body", {"json": True}),
        ("rawPath", 17),
        ("pathParameters", ["id"]),
    ],
)
@pytest.mark.parametrize("make", [te.rest_proxy, te.http_proxy, te.function_url])
def test_non_string_parts_of_an_event_never_give_a_500(make: Any, field: str, value: Any) -> None:
    sources = (TokenSource.header("authorization"), TokenSource.cookie("tok"),
               TokenSource.query("token"), TokenSource.websocket_protocol())
    guard = Guard(VERIFIER, routes=ROUTES, token_sources=sources, decision_log=None,
                  cors=Cors(allow_origins=["https://app.example.com"]),
                  content_types=("application/json",))
    event = make("POST", "/login")
    event[field] = value
    response = guard(echo)(event, None)
    assert response["statusCode"] < 500


# Found by this review: an unhashable requestContext.eventType (a list or object) made
# event-kind detection raise TypeError, answered 500. It is no WebSocket event type now:
# the event is the REST request it otherwise is (public /health: 200; /orders: 401).
@pytest.mark.parametrize("event_type", [["MESSAGE"], {"CONNECT": 1}])
def test_unhashable_event_type_is_not_a_500(event_type: Any) -> None:
    guarded = Guard(VERIFIER, routes=ROUTES, decision_log=None)(echo)
    for path, status in (("/health", 200), ("/orders/7", 401)):
        event = te.rest_proxy("GET", path)
        event["requestContext"]["eventType"] = event_type
        assert guarded(event, None)["statusCode"] == status, path


def test_bad_base64_and_bad_json_bodies_are_400_via_json_body() -> None:
    from secauth import json_body

    guard = Guard(routes=ROUTES, decision_log=None, trust_authorizer=True)

    @guard
    def login(event: dict[str, Any], context: Any) -> dict[str, Any]:
        json_body(event, fields={"user": str})
        return {"statusCode": 200, "body": ""}

    for body, b64 in [("%%%not-base64", True), ('{"user": "a",}', False),
                      ('{"user": "\\ud800"}', False), ("[" * 5000, False)]:
        event = te.http_proxy("POST", "/login", headers={"content-type": "application/json"})
        event["body"], event["isBase64Encoded"] = body, b64
        response = login(event, None)
        assert response["statusCode"] == 400, body[:20]
        assert "Traceback" not in response["body"]


def test_oversized_base64_body_is_413_before_authentication() -> None:
    event = te.http_proxy("POST", "/orders/7")
    event["body"] = base64.b64encode(b"x" * 2048).decode()
    event["isBase64Encoded"] = True
    response = Guard(VERIFIER, decision_log=None, max_body_bytes=1024)(echo)(event, None)
    assert response["statusCode"] == 413


def test_huge_headers_and_cookie_lists_are_handled_without_error() -> None:
    cookies = "; ".join(f"c{i}=v{i}" for i in range(20_000))
    event = te.rest_proxy("GET", "/orders/7", headers={"cookie": cookies,
                                                       "x-forwarded-for": "1.1.1.1, " * 5000})
    guard = Guard(VERIFIER, routes=ROUTES, decision_log=None,
                  token_sources=(TokenSource.cookie("session"),),
                  rate_limit=RateLimiter.per_ip("100/minute"))
    assert guard(echo)(event, None)["statusCode"] == 401


# -- 3. token sources: headers, cookies, query, Sec-WebSocket-Protocol ------------------


def _read(event: dict[str, Any], *sources: TokenSource) -> str:
    return read_token(Request.from_event(event), sources or (TokenSource.header(),)).token


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda e: e["headers"].update({"AUTHORIZATION": "Bearer b"}), id="two-case"),
        pytest.param(lambda e: e.update(multiValueHeaders={"authorization": ["Bearer a",
                                                                             "Bearer b"]}),
                     id="multi-two"),
        pytest.param(lambda e: e["headers"].update({"authorization": "Bearer a,Bearer b"}),
                     id="comma-joined"),
        pytest.param(lambda e: e["headers"].update({"authorization": "Bearer a b"}),
                     id="space-joined"),
    ],
)
def test_duplicate_authorization_headers_are_ambiguous(mutate: Any) -> None:
    records: list[dict[str, Any]] = []
    event = te.rest_proxy("GET", "/orders/7", token="a")
    mutate(event)
    guard = Guard(VERIFIER, routes=ROUTES, decision_log=None, on_decision=records.append)
    response = guard(echo)(event, None)
    assert response["statusCode"] == 401
    assert records[-1]["reason"] == "ambiguous_credentials"


@pytest.mark.parametrize(
    "cookie_header",
    ["tok=a; tok=b", "tok=a;tok=", " tok =a; tok=b", "tok=a, tok=b", 'tok="a"; tok=a'],
)
def test_cookie_duplicates_and_joined_values_are_refused(cookie_header: str) -> None:
    event = te.rest_proxy("GET", "/", headers={"cookie": cookie_header})
    with pytest.raises(SecAuthError) as caught:
        _read(event, TokenSource.cookie("tok"))
    assert getattr(caught.value, "status", None) == 401


def test_cookie_from_both_the_header_and_the_payload2_list_is_ambiguous() -> None:
    event = te.http_proxy("GET", "/", cookies=["tok=a"])
    event["headers"]["cookie"] = "tok=b"
    with pytest.raises(SecAuthError) as caught:
        _read(event, TokenSource.cookie("tok"))
    assert getattr(caught.value, "status", None) == 401


def test_cookie_version_attribute_and_other_names_do_not_match() -> None:
    event = te.rest_proxy("GET", "/", headers={"cookie": "$Version=1; Tok=a; xtok=b; tok2=c"})
    with pytest.raises(SecAuthError) as caught:
        _read(event, TokenSource.cookie("tok"))
    assert getattr(caught.value, "reason", None) is not None
    assert caught.value.reason.value == "missing_token"


@pytest.mark.parametrize(
    "offered",
    ["bearer, tokA, bearer, tokB", "bearer", "bearer, bearer", "bearer,"],
)
def test_websocket_protocol_smuggling_is_refused(offered: str) -> None:
    event = te.websocket_connect(headers={"Sec-WebSocket-Protocol": offered})
    with pytest.raises(SecAuthError) as caught:
        _read(event, TokenSource.websocket_protocol())
    assert getattr(caught.value, "status", None) == 401


def test_websocket_protocol_token_and_header_token_together_are_ambiguous() -> None:
    event = te.websocket_connect(token="a", headers={"Sec-WebSocket-Protocol": "bearer, b"})
    with pytest.raises(SecAuthError) as caught:
        _read(event, TokenSource.header(), TokenSource.websocket_protocol())
    assert getattr(caught.value, "status", None) == 401


def test_query_token_repeated_or_percent_encoded_name_on_alb_is_ambiguous() -> None:
    event = te.alb("GET", "/", headers={"x-forwarded-for": "1.1.1.1"})
    event["queryStringParameters"] = {"token": "a", "%74oken": "b"}
    with pytest.raises(SecAuthError) as caught:
        _read(event, TokenSource.query("token"))
    assert getattr(caught.value, "status", None) == 401
    event = te.http_proxy("GET", "/", query={"token": ["a", "b"]})
    with pytest.raises(SecAuthError) as caught:
        _read(event, TokenSource.query("token"))
    assert getattr(caught.value, "status", None) == 401


def test_a_bad_token_on_a_public_route_is_not_anonymous() -> None:
    guarded = Guard(VERIFIER, routes=ROUTES, decision_log=None)(echo)
    for authorization in ("Basic YTpi", "Bearer not.a.jwt", "bearer a,b", "DPoP x"):
        event = te.http_proxy("POST", "/login", authorization=authorization)
        assert guarded(event, None)["statusCode"] == 401, authorization


# -- 4. CORS preflights and security headers ---------------------------------------------


def test_preflight_markers_on_non_options_requests_do_not_skip_authentication() -> None:
    cors = Cors(allow_origins=["https://app.example.com"])
    guarded = Guard(VERIFIER, routes=ROUTES, cors=cors, decision_log=None)(echo)
    headers = {"origin": "https://app.example.com", "access-control-request-method": "DELETE"}
    for method in ("DELETE", "GET", "POST", "PUT", "HEAD"):
        response = guarded(te.http_proxy(method, "/orders/7", headers=headers), None)
        assert response["statusCode"] == 401, method
    # a REST event whose verb is spelled in lower case is still not a preflight
    event = te.rest_proxy("DELETE", "/orders/7", headers=headers)
    event["httpMethod"] = "delete"
    assert guarded(event, None)["statusCode"] == 401


def test_preflight_never_runs_the_handler_and_refuses_unlisted_origins() -> None:
    ran: list[int] = []
    cors = Cors(allow_origins=["https://app.example.com"])

    @Guard(VERIFIER, routes=ROUTES, cors=cors, decision_log=None)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        ran.append(1)
        return {"statusCode": 200, "body": "secret"}

    asked = {"access-control-request-method": "DELETE"}
    for origin in ("https://evil.example", "https://app.example.com.evil.example", "null",
                   "https://APP.example.com"):
        response = handler(te.http_proxy("OPTIONS", "/orders/7",
                                         headers={**asked, "origin": origin}), None)
        assert response["statusCode"] == 403
        assert "Access-Control-Allow-Origin" not in response["headers"]
        assert response["headers"]["X-Frame-Options"] == "DENY"
    assert not ran


@pytest.mark.parametrize(
    "make",
    [te.rest_proxy, te.http_proxy, te.function_url,
     lambda *a, **k: te.alb(*a, headers={"x-forwarded-for": "1.1.1.1"}, **k),
     lambda *a, **k: te.alb(*a, multi_value=True, headers={"x-forwarded-for": "1.1.1.1"}, **k)],
    ids=["rest", "http", "function_url", "alb", "alb_multi"],
)
def test_every_refusal_and_answer_carries_the_security_headers(make: Any) -> None:
    guard = Guard(VERIFIER, routes=ROUTES, decision_log=None,
                  rate_limit=RateLimiter.per_ip("1/minute"))

    def crashes(event: dict[str, Any], context: Any) -> Any:
        raise KeyError("db password hunter2")

    guarded = guard(crashes)
    for event in (make("GET", "/orders/7"), make("GET", "/orders/7", token=token()),
                  make("GET", "/orders/7", token=token())):
        response = guarded(event, None)
        headers = response.get("headers") or {
            k: v[0] for k, v in response["multiValueHeaders"].items()
        }
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        assert "hunter2" not in json.dumps(response)
        assert "KeyError" not in json.dumps(response)


# FINDING: on HTTP API (payload 2.0) and Function URL events, a handler response that uses
# multiValueHeaders (a REST-only field AWS ignores there) gets the security headers only in
# that ignored map, so the client receives none.
@pytest.mark.parametrize("make", [te.http_proxy, te.function_url], ids=["http", "function_url"])
def test_security_headers_reach_payload2_clients_when_the_handler_uses_multi_value(
    make: Any,
) -> None:
    @Guard(VERIFIER, decision_log=None)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "multiValueHeaders": {"X-App": ["1"]}, "body": "hi"}

    response = handler(make("GET", "/orders/7", token=token()), None)
    assert response["statusCode"] == 200
    assert (response.get("headers") or {}).get("X-Content-Type-Options") == "nosniff"


def test_websocket_refusals_leak_nothing() -> None:
    event = te.websocket_message("sendmessage", body="x")
    response = Guard(routes=Routes({"sendmessage": authenticated()}), decision_log=None)(echo)(
        event, None
    )
    assert response["statusCode"] == 401
    assert set(json.loads(response["body"])) <= {"type", "title", "status", "request_id"}


# -- 5. decision records ------------------------------------------------------------------


def test_decision_records_never_hold_a_token_or_exception_text() -> None:
    records: list[dict[str, Any]] = []
    sources = (TokenSource.header(), TokenSource.cookie("tok"), TokenSource.query("token"))
    guard = Guard(VERIFIER, routes=ROUTES, decision_log=None, on_decision=records.append,
                  token_sources=sources)

    @guard
    def handler(event: dict[str, Any], context: Any) -> Any:
        raise ValueError(f"boom {event['headers'].get('authorization')}")

    good = token("alice", roles=["admin"])
    expired = token("bob", exp=1)
    events = [
        te.rest_proxy("GET", "/orders/7", token=good),
        te.rest_proxy("GET", "/orders/7", token=expired),
        te.rest_proxy("GET", "/orders/7", token=good, query={"token": good}),
        te.rest_proxy("GET", "/orders/7", headers={"cookie": f"tok={good}; tok={good}"}),
        te.rest_proxy("GET", "/orders/7", authorization=f"Basic {good}"),
        te.rest_proxy("GET", "/orders/7", token=good + "x"),
    ]
    for event in events:
        handler(event, None)
    text = json.dumps(records)
    for minted in (good, expired, good + "x"):
        assert minted not in text
        assert minted.split(".")[2] not in text
    assert "boom" not in text


# -- 6. client IP for per-IP limits ---------------------------------------------------------


def _ip_event(make: Any, source_ip: str, **sent: Any) -> dict[str, Any]:
    return make("GET", "/health", source_ip=source_ip, **sent)


@pytest.mark.parametrize("make", [te.rest_proxy, te.http_proxy, te.function_url])
def test_forwarded_headers_never_pick_the_key_without_trusted_proxies(make: Any) -> None:
    limiter = RateLimiter.per_ip("2/minute")
    headers = {"X-Forwarded-For": "1.2.3.4", "X-Real-IP": "5.6.7.8", "Forwarded": "for=9.9.9.9",
               "True-Client-IP": "8.8.8.8", "CloudFront-Viewer-Address": "7.7.7.7:443"}
    spoofs = [
        _ip_event(make, "203.0.113.9", headers={**headers, "X-Forwarded-For": f"10.0.0.{i}"})
        for i in range(5)
    ]
    assert [limiter.hit(e).allowed for e in spoofs] == [True, True, False, False, False]


@pytest.mark.parametrize(
    "variant",
    ["::ffff:203.0.113.9", "::FFFF:cb00:7109", "[::ffff:203.0.113.9]:443", "203.0.113.9:5555"],
)
def test_ipv4_spellings_share_one_bucket(variant: str) -> None:
    limiter = RateLimiter.per_ip("1/minute")
    assert limiter.hit(_ip_event(te.rest_proxy, "203.0.113.9")).allowed
    assert not limiter.hit(_ip_event(te.rest_proxy, variant)).allowed


def test_ipv6_addresses_of_one_slash64_share_one_bucket() -> None:
    limiter = RateLimiter.per_ip("2/minute")
    addresses = ["2001:db8:1:2::1", "2001:DB8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2:0:0:0:2",
                 "fe80::1%eth0"]
    results = [limiter.hit(_ip_event(te.http_proxy, a)).allowed for a in addresses[:3]]
    assert results == [True, True, False]
    assert normalize_ip("fe80::1%eth0") == normalize_ip("fe80::2") == "fe80::/64"


def test_non_addresses_never_key_as_an_address() -> None:
    assert normalize_ip("010.0.0.1") is None
    assert normalize_ip("1.2.3.4.5") is None
    assert normalize_ip("\u0661.2.3.4") is None  # Arabic-Indic digit one
    assert normalize_ip("1.2.3.4\n") is None
    assert ClientIp()(Request.from_event(_ip_event(te.rest_proxy, "not-an-ip"))) == "unknown"


def test_alb_key_is_the_address_the_alb_appended() -> None:
    limiter = RateLimiter.per_ip("1/minute")
    first = te.alb("GET", "/", headers={"x-forwarded-for": "6.6.6.6, 198.51.100.1"})
    spoofed = te.alb("GET", "/", headers={"x-forwarded-for": "7.7.7.7, 198.51.100.1"})
    assert limiter.hit(first).allowed
    assert not limiter.hit(spoofed).allowed
    multi = te.alb("GET", "/", multi_value=True,
                   headers={"x-forwarded-for": ["8.8.8.8", "9.9.9.9, 198.51.100.1"]})
    assert not limiter.hit(multi).allowed


def test_trusted_proxy_count_takes_the_hop_the_proxy_appended() -> None:
    key = ClientIp(trusted_proxies=1)
    # CloudFront appended the viewer (198.51.100.1); API Gateway appended CloudFront's address.
    event = _ip_event(te.rest_proxy, "130.176.0.1",
                      headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.1, 130.176.0.1"})
    assert key(Request.from_event(event)) == "198.51.100.1"


# -- 7. rate-limit keys: collisions and bounds ------------------------------------------


def test_principal_keys_of_different_kinds_and_spellings_never_collide() -> None:
    request = Request.from_event(te.rest_proxy("GET", "/"))
    keys = {
        by_principal(request, Principal("alice")),
        by_principal(request, Principal("alice", kind="api_key")),
        by_principal(request, Principal("user:alice")),
        by_principal(request, Principal("ALICE")),
        by_principal(request, Principal("alice ")),
        by_principal(request, Principal("al\u0131ce")),
        by_principal(request, Principal(safe_key("x{y}"))),
        by_principal(request, Principal("a" * 65)),
        by_principal(request, Principal("a" * 64 + "b")),
    }
    assert len(keys) == 9
    assert all(len(k) <= 70 for k in keys if k is not None)


# FINDING: per_principal keys by kind and id only, so two principals of different tenants
# that share an id (another issuer's "sub") share one bucket: one tenant's caller can
# exhaust another tenant's user.
def test_per_principal_buckets_are_separate_per_tenant() -> None:
    limiter = RateLimiter.per_principal("2/minute")
    event = te.rest_proxy("GET", "/")
    mallory = Principal("u-1", tenant="evil")
    victim = Principal("u-1", tenant="acme")
    assert [limiter.hit(event, mallory).allowed for _ in range(3)] == [True, True, False]
    assert limiter.hit(event, victim).allowed


def test_api_key_keys_hash_the_key_and_separate_entries() -> None:
    key = ApiKey()
    secret = "pk-live-0123456789abcdefghij"
    request = Request.from_event(te.http_proxy("GET", "/", headers={"x-api-key": secret}))
    value = key(request, Principal("ann"))  # a header counts for a verified caller only
    assert value is not None
    assert secret not in value
    assert value.startswith("#")
    assert key(request) is None
    assert key(request, Principal("partner-a", kind="api_key")) != key(
        request, Principal("partner-a", tenant="t2", kind="api_key"))
    blank = Request.from_event(te.http_proxy("GET", "/", headers={"x-api-key": " \t "}))
    assert key(blank, Principal("ann")) is None


def test_memory_store_stays_bounded_under_distinct_keys() -> None:
    store = MemoryStore(maxsize=50)
    limiter = RateLimiter.per_ip("5/minute", store=store)
    for i in range(2000):
        limiter.hit(_ip_event(te.rest_proxy, f"10.{i // 250}.{i % 250}.1"))
    assert len(store) <= 50


def test_route_limit_counts_case_and_percent_encoded_spellings_of_the_path() -> None:
    guard = Guard(VERIFIER, decision_log=None,
                  routes=Routes({"POST /login": public(), "ANY /{proxy+}": public()}),
                  route_limits={"POST /login": RateLimiter.per_ip("2/minute")})
    guarded = guard(lambda event, context: {"statusCode": 200, "body": ""})
    statuses = [guarded(te.http_proxy("POST", path), None)["statusCode"]
                for path in ("/login", "/LOGIN", "/%6Cogin", "/Login")]
    assert statuses[:2] == [200, 200]
    assert statuses[2:] == [429, 429]


def test_route_limit_cannot_be_dodged_with_a_trailing_slash_or_dot_segment() -> None:
    guard = Guard(VERIFIER, decision_log=None,
                  routes=Routes({"POST /login": public(), "ANY /{proxy+}": public()}),
                  route_limits={"POST /login": RateLimiter.per_ip("1/minute")})
    guarded = guard(lambda event, context: {"statusCode": 200, "body": ""})
    assert guarded(te.http_proxy("POST", "/login"), None)["statusCode"] == 200
    for path in ("/login/", "/./login", "/x/../login", "//login", "/login%2F", "/%2e/login"):
        assert guarded(te.http_proxy("POST", path), None)["statusCode"] != 200, path


def test_failed_authentications_spend_the_per_ip_quota() -> None:
    guarded = Guard(VERIFIER, routes=ROUTES, decision_log=None,
                    rate_limit=RateLimiter.per_ip("3/minute"))(echo)
    bad = [guarded(te.http_proxy("GET", "/orders/7", token=f"guess{i}"), None)["statusCode"]
           for i in range(3)]
    assert bad == [401, 401, 401]
    good = guarded(te.http_proxy("GET", "/orders/7", token=token()), None)
    assert good["statusCode"] == 429
    assert 1 <= int(good["headers"]["Retry-After"]) <= 120  # sliding window: under 2 periods


def test_async_guard_applies_the_same_limit() -> None:
    @Guard(VERIFIER, routes=ROUTES, decision_log=None, rate_limit=RateLimiter.per_ip("1/minute"))
    async def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": ""}

    event = te.http_proxy("GET", "/orders/7", token=token())
    assert asyncio.run(handler(event, None))["statusCode"] == 200
    assert asyncio.run(handler(copy.deepcopy(event), None))["statusCode"] == 429


# -- 8. penalties ---------------------------------------------------------------------------


def test_auth_failure_penalty_blocks_the_ip_but_not_other_ips() -> None:
    penalty = AbusePenalty(auth_failures="2/minute", cooldown=60)
    attacker = _ip_event(te.http_proxy, "203.0.113.66")
    for _ in range(3):
        penalty.record_auth_failure(attacker)
    with pytest.raises(AbuseBlocked):
        penalty.check(attacker)
    penalty.check(_ip_event(te.http_proxy, "203.0.113.67"))
    penalty.check(_ip_event(te.http_proxy, "2001:db8:9::1"))


def test_penalty_subjects_with_separators_do_not_collide() -> None:
    penalty = AbusePenalty(auth_failures="1/minute", cooldown=60)
    event = _ip_event(te.http_proxy, "203.0.113.70")
    other_ip = _ip_event(te.http_proxy, "203.0.113.71")
    for _ in range(2):
        penalty.record_auth_failure(event, Principal("alice|auth", kind="user"))
    penalty.check(other_ip, Principal("alice"))
    penalty.check(other_ip, "alice|auth|x")
    penalty.check(other_ip, Principal("alice|auth", kind="api_key"))


def test_distinct_unknown_paths_count_case_variants_separately_but_repeats_once() -> None:
    penalty = AbusePenalty(auth_failures=None, unknown_paths="3/minute", cooldown=60)
    event = _ip_event(te.http_proxy, "203.0.113.80")
    for _ in range(10):
        assert penalty.record_not_found(event, "/same") == 0.0
    penalty.check(event)


# -- 9. the authorizer's limits ---------------------------------------------------------------


def test_authorizer_limit_with_a_cache_is_refused_at_construction() -> None:
    with pytest.raises(ConfigurationError):
        AuthorizerLimits(RateLimiter.per_ip("5/minute"), api_key_header="x-api-key",
                         key_limit_store=None, cache_ttl=300)


def test_per_key_limit_under_a_cache_is_a_refusal_not_a_pass() -> None:
    from secauth.access import Decision
    from secauth.api_keys import ApiKeyEntry

    limits = AuthorizerLimits(None, api_key_header="x-api-key", key_limit_store=None,
                              cache_ttl=300)
    allowed = Decision(True, None, "GET /a", {}, None)
    entry = ApiKeyEntry("partner-a", rate_limit="1/minute")
    request = Request.from_event(te.request_authorizer("GET", "/a"))
    # Refused outright: a denial of this route would leave the cached policy allowing the
    # key's other routes, unlimited (review 5).
    with pytest.raises(ConfigurationError, match="cache_ttl=0"):
        limits.apply(allowed, request, Principal("partner-a", kind="api_key"), entry)


def test_per_key_limits_of_two_entries_are_separate() -> None:
    from secauth.access import Decision
    from secauth.api_keys import ApiKeyEntry

    limits = AuthorizerLimits(None, api_key_header="x-api-key", key_limit_store=None,
                              cache_ttl=0)
    allowed = Decision(True, None, "GET /a", {}, None)
    a = ApiKeyEntry("partner-a", rate_limit="1/minute")
    b = ApiKeyEntry("partner-b", rate_limit="1/minute")
    request = Request.from_event(te.request_authorizer("GET", "/a"))
    pa, pb = Principal("partner-a", kind="api_key"), Principal("partner-b", kind="api_key")
    assert limits.apply(allowed, request, pa, a).allowed
    assert not limits.apply(allowed, request, pa, a).allowed
    assert limits.apply(allowed, request, pb, b).allowed
