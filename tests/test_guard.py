"""Tests of ``secauth.guard.Guard``: the in-function middleware, end to end on Lambda events.

Events are built by ``tests/guard_events.py`` from the documented backend formats
(REST proxy v1, HTTP API v2, Function URL, ALB with and without multi-value headers).
Trust-mode contexts come from a real :class:`secauth.Authorizer` run on an authorizer
event, placed in the backend event the way API Gateway places them. Every response
and every line the guard writes (stdout, stderr, logging) is scanned for the token,
a secret planted in handler exceptions, the exception text and ``Traceback``.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from guard_events import (
    AUD,
    ISS,
    KINDS,
    MINTED,
    PAIR,
    REQUEST_ID,
    STRANGER,
    VERIFIER,
    Event,
    alb_multi,
    http_v2,
    response_headers,
    rest_v1,
    token,
    with_context,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secauth import Authorizer, Guard, current_principal
from secauth.access import Routes, public, roles, scopes, tenant
from secauth.errors import (
    AccessDenied,
    BadRequest,
    ConfigurationError,
    InvalidClaims,
    KeysUnavailable,
    MissingToken,
    SecAuthError,
    TokenExpired,
)
from secauth.principal import ClaimMapper, Principal
from secauth.ratelimit import MemoryStore, RateLimiter
from secauth.responses import PROBLEM_JSON, Cors, SecurityHeaders
from secauth.testing import LocalIssuer
from secauth.verifier import JwtVerifier

FIXTURES = Path(__file__).parent / "fixtures" / "authorizer"
SECURITY = SecurityHeaders().headers()
SECRET = "PLANTED-9c1e-handler-secret"
TYPE = "https://errors.example.com/problems/"  # a configured problem_type_base
CLAIMS = ClaimMapper(tenant_claim="tenant")
STATUS_TEXT = {
    200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
    415: "Unsupported Media Type", 429: "Too Many Requests", 500: "Internal Server Error",
    503: "Service Unavailable",
}  # fmt: skip
KIND_NAMES = list(KINDS)
ALICE: dict[str, Any] = {"sub": "alice", "tenant": "acme", "roles": ["admin"], "scope": "orders.read"}


def ok(event: Event, context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "ok"}


def echo(event: Event, context: Any, principal: Principal) -> dict[str, Any]:
    body = {"id": principal.id, "tenant": principal.tenant, "kind": principal.kind,
            "roles": sorted(principal.roles)}  # fmt: skip
    return {"statusCode": 200, "body": json.dumps(body)}


def event_for(kind: str, method: str = "GET", path: str = "/orders/7", **kwargs: Any) -> Event:
    return KINDS[kind][0](method, path, **kwargs)


def bearer(value: str) -> str:
    return f"Bearer {value}"


# --- the exact response of an error ----------------------------------------------------------


def expected_error(
    kind: str,
    status: int,
    reason: str,
    title: str,
    extra: Mapping[str, str] | None = None,
    type_base: str | None = None,
) -> dict[str, Any]:
    """The whole response the guard must give for this error in this event kind (the
    problem type is about:blank unless the guard has a ``problem_type_base``)."""
    _, shape, description, has_request_id = KINDS[kind]
    kind_uri = "about:blank" if type_base is None else type_base + reason
    problem: dict[str, Any] = {"type": kind_uri, "title": title, "status": status}
    if has_request_id:
        problem["request_id"] = REQUEST_ID
    headers = {**SECURITY, "Content-Type": PROBLEM_JSON, **(extra or {})}
    out: dict[str, Any] = {"statusCode": status, "body": problem, "isBase64Encoded": False}
    if shape == "multi":
        out["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    else:
        out["headers"] = headers
    if description:
        out["statusDescription"] = f"{status} {STATUS_TEXT[status]}"
    return out


def parsed(response: Mapping[str, Any]) -> dict[str, Any]:
    """The response with its JSON body decoded (the body must be a JSON object)."""
    out = dict(response)
    out["body"] = json.loads(response["body"])
    return out


def assert_problem_only(response: Mapping[str, Any]) -> None:
    """A problem body has type, title, status and (when known) request_id: nothing else."""
    body = json.loads(response["body"])
    assert set(body) <= {"type", "title", "status", "request_id"}
    assert {"type", "title", "status"} <= set(body)


@pytest.fixture(autouse=True)
def output(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Iterator[Any]:
    """``read()`` returns what was written since the last read (stdout, stderr, log records).

    At the end of every test, everything written during it is scanned: no token minted
    during the test, no planted secret, no ``Traceback``.
    """
    caplog.set_level(logging.DEBUG)
    first_token = len(MINTED)
    seen: list[str] = []

    def read() -> str:
        captured = capsys.readouterr()
        seen.append(captured.out + "\n" + captured.err)
        return captured.out

    yield read
    read()
    logs = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.exc_info or ''} {r.__dict__}" for r in caplog.records
    )
    assert_clean([*seen, logs], *MINTED[first_token:])


def assert_clean(texts: list[str], *secrets_: str) -> None:
    """No token, planted secret, exception text or traceback anywhere in ``texts``."""
    for text in texts:
        assert "Traceback" not in text
        assert SECRET not in text
        for secret in secrets_:
            assert secret not in text


def call(handler: Callable[[Event, Any], Any], event: Any, context: Any = None) -> dict[str, Any]:
    """Call a guarded handler; its response must not hold the event's token or a secret."""
    response = handler(event, context)
    assert_response_clean(response, event)
    return response


def assert_response_clean(response: Any, event: Any) -> None:
    text = json.dumps(response)
    tokens = []
    if isinstance(event, dict) and isinstance(event.get("headers"), dict):
        value = event["headers"].get("Authorization") or event["headers"].get("authorization")
        parts = value.split() if isinstance(value, str) else []
        if len(parts) == 2 and len(parts[1]) >= 20:  # a real credential, not a stray word
            tokens.append(parts[1])
    assert_clean([text], *tokens)


def decisions(stdout: str) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in stdout.splitlines()
        if line.startswith("{") and '"secauth":"decision"' in line
    ]


# --- every event kind x every error class ----------------------------------------------------


@dataclass
class Scenario:
    guard: Guard
    handler: Callable[..., Any]
    event: Event
    status: int
    reason: str
    title: str
    extra: dict[str, str] = field(default_factory=dict)
    prime: int = 0  # calls before the one checked (rate limits)
    secret: str = ""


ROUTES = Routes(
    {
        "GET /orders/{id}": roles("reader", "admin"),
        "DELETE /orders/{id}": roles("admin"),
        "POST /orders": scopes("orders.write"),
        "GET /tenants/{tenantId}/orders": tenant(path="tenantId"),
        "GET /health": public(),
        "POST /signup": public(),
    }
)


def _invalid(kind: str, value: str, reason: str, title: str, *, coded: bool = True) -> Scenario:
    # coded=False: another scheme, challenged without an error code (RFC 6750 section 3.1)
    challenge = f'Bearer error="invalid_token", error_description="{title}"' if coded else "Bearer"
    return Scenario(
        Guard(VERIFIER, routes=ROUTES, claims=CLAIMS),
        echo,
        event_for(kind, authorization=value),
        401,
        reason,
        title,
        {"WWW-Authenticate": challenge},
        secret=value.rsplit(maxsplit=1)[-1],
    )


def _denied(kind: str, method: str, path: str, reason: str, title: str, *, scope: str = "",
            **claims: Any) -> Scenario:  # fmt: skip
    value = bearer(token(**{**ALICE, **claims}))
    # scope: the scopes the refusing rule asks for, named in the challenge (RFC 6750 section 3)
    named = f', scope="{scope}"' if scope else ""
    return Scenario(
        Guard(VERIFIER, routes=ROUTES, claims=CLAIMS),
        echo,
        event_for(kind, method, path, authorization=value),
        403,
        reason,
        title,
        {"WWW-Authenticate": f'Bearer error="insufficient_scope", error_description="{title}"{named}'},
        secret=value.split()[-1],
    )


def _limited(kind: str) -> Scenario:
    limiter = RateLimiter.per_ip("1/minute", algorithm="fixed_window")
    value = bearer(token(**ALICE))
    return Scenario(
        Guard(VERIFIER, routes=ROUTES, claims=CLAIMS, rate_limit=limiter),
        echo,
        event_for(kind, authorization=value),
        429,
        "rate_limited",
        "too many requests",
        {"RateLimit-Policy": '"ip";q=1;w=60'},  # RateLimit and Retry-After: checked apart
        prime=1,
        secret=value.split()[-1],
    )


def _raising(exc: BaseException) -> Callable[..., Any]:
    def handler(event: Event, context: Any) -> Any:
        raise exc

    return handler


SCENARIOS: dict[str, Callable[[str], Scenario]] = {
    "missing_token": lambda k: Scenario(
        Guard(VERIFIER, routes=ROUTES), echo, event_for(k), 401, "missing_token",
        "missing credentials", {"WWW-Authenticate": "Bearer"},
    ),
    "other_scheme": lambda k: _invalid(k, "Basic YWxpY2U6cGFzcw==", "malformed_token",
                                       "malformed token", coded=False),
    "malformed_token": lambda k: _invalid(k, "Bearer not.a.jwt", "malformed_token",
                                          "malformed token"),
    "invalid_signature": lambda k: _invalid(k, bearer(token(pair=STRANGER, **ALICE)),
                                            "invalid_signature", "invalid token signature"),
    "token_expired": lambda k: _invalid(k, bearer(token(**ALICE, exp=1_000_000)),
                                        "token_expired", "token expired"),
    "invalid_audience": lambda k: _invalid(k, bearer(token(**ALICE, aud="another-api")),
                                           "invalid_audience", "invalid token audience"),
    "invalid_claims": lambda k: _invalid(k, bearer(token(**{**ALICE, "roles": "admin"})),
                                         "invalid_claims", "invalid token claims"),
    "forbidden": lambda k: _denied(k, "DELETE", "/orders/7", "forbidden", "forbidden",
                                   roles=["reader"]),
    "insufficient_scope": lambda k: _denied(k, "POST", "/orders", "insufficient_scope",
                                            "insufficient scope", scope="orders.write"),
    "tenant_mismatch": lambda k: _denied(k, "GET", "/tenants/globex/orders", "tenant_mismatch",
                                         "forbidden"),
    "not_found": lambda k: Scenario(
        Guard(VERIFIER, routes=ROUTES, claims=CLAIMS), echo,
        event_for(k, "GET", "/nowhere", authorization=bearer(token(**ALICE))),
        404, "not_found", "not found",
    ),
    "method_not_allowed": lambda k: Scenario(
        Guard(VERIFIER, routes=ROUTES, claims=CLAIMS), echo,
        event_for(k, "PUT", "/orders/7", authorization=bearer(token(**ALICE))),
        405, "method_not_allowed", "method not allowed", {"Allow": "DELETE, GET"},
    ),
    "payload_too_large": lambda k: Scenario(
        Guard(VERIFIER, routes=ROUTES, claims=CLAIMS, max_body_bytes=64), echo,
        event_for(k, "POST", "/orders", authorization=bearer(token(**ALICE)), body="x" * 65,
                  headers={"Content-Type": "application/json"}),
        413, "payload_too_large", "request body too large",
    ),
    "unsupported_media_type": lambda k: Scenario(
        Guard(VERIFIER, routes=ROUTES, claims=CLAIMS, content_types=("application/json",)), echo,
        event_for(k, "POST", "/signup", body="email=a", headers={"Content-Type": "text/plain"}),
        415, "unsupported_media_type", "unsupported content type",
    ),
    "rate_limited": _limited,
    "bad_request_from_handler": lambda k: Scenario(
        Guard(VERIFIER, routes=ROUTES), _raising(BadRequest(detail={"field": "email"})),
        event_for(k, "POST", "/signup"), 400, "bad_request", "bad request",
    ),
    "handler_exception": lambda k: Scenario(
        Guard(VERIFIER, routes=ROUTES), _raising(RuntimeError(f"db password {SECRET}")),
        event_for(k, "GET", "/health"), 500, "internal_error", "internal error",
    ),
    "keys_unavailable_from_handler": lambda k: Scenario(
        Guard(VERIFIER, routes=ROUTES), _raising(KeysUnavailable(detail={"url": "https://idp/jwks"})),
        event_for(k, "GET", "/health"), 503, "keys_unavailable",
        "authentication temporarily unavailable", {"Retry-After": "5"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("kind", KIND_NAMES)
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_kind_and_error_gives_the_exact_response(kind: str, name: str, output: Any) -> None:
    """Each error class in each event kind: exact status, headers and problem body; clean logs."""
    scenario = SCENARIOS[name](kind)
    handler = scenario.guard(scenario.handler)
    for _ in range(scenario.prime):
        assert call(handler, copy.deepcopy(scenario.event))["statusCode"] == 200
    response = call(handler, copy.deepcopy(scenario.event))
    expected = expected_error(kind, scenario.status, scenario.reason, scenario.title, scenario.extra)
    if scenario.status == 429:
        headers = response_headers(response)
        limit_header = headers.pop("RateLimit")
        assert limit_header.startswith('"ip";r=0;t=')
        assert 1 <= int(limit_header.rsplit("=", 1)[1]) <= 60
        retry_after = int(headers.pop("Retry-After"))
        assert 1 <= retry_after <= 60
        response = dict(response)
        key = "multiValueHeaders" if "multiValueHeaders" in response else "headers"
        response[key] = {
            k: v for k, v in response[key].items() if k not in ("RateLimit", "Retry-After")
        }
    assert parsed(response) == expected
    assert list(json.loads(response["body"])) == list(expected["body"])  # field order too
    assert all(isinstance(v, str) for v in response_headers(response).values())
    stdout = output()
    records = decisions(stdout)
    assert records[-1]["reason"] == scenario.reason
    assert records[-1]["status"] == scenario.status
    assert records[-1]["event"] == ("alb" if kind == "alb_multi" else kind)
    assert_clean([stdout, response["body"], json.dumps(response)], *filter(None, [scenario.secret]))


def test_keys_unavailable_from_a_real_failing_issuer(output: Any) -> None:
    """The JWKS endpoint answers 500: 503 with Retry-After, reason keys_unavailable, per kind."""
    with LocalIssuer(algs=("ES256",)) as idp:
        idp.mode = "error"
        verifier = JwtVerifier(issuer=idp.issuer, audience=AUD, jwks_uri=idp.jwks_uri,
                               allow_http=True)  # fmt: skip
        handler = Guard(verifier)(ok)
        value = idp.token(sub="alice", aud=AUD)
        for kind in KIND_NAMES:
            response = handler(event_for(kind, authorization=bearer(value)), None)
            assert parsed(response) == expected_error(
                kind, 503, "keys_unavailable", "authentication temporarily unavailable",
                {"Retry-After": "5"},
            )  # fmt: skip
        assert idp.fetches >= 1
    stdout = output()
    assert {r["reason"] for r in decisions(stdout)} == {"keys_unavailable"}
    assert_clean([stdout], value)


def test_unsupported_and_authorizer_events_are_400(output: Any) -> None:
    """Events the guard does not serve (garbage, authorizer events) get a 400 in REST shape."""
    handler = Guard(VERIFIER)(ok)
    rest_token = json.loads((FIXTURES / "rest_token.json").read_text())
    for event in [{"hello": "world"}, [1, 2], None, rest_token]:
        response = handler(event, None)
        problem = {"type": "about:blank", "title": "bad request", "status": 400}
        assert parsed(response) == {
            "statusCode": 400,
            "headers": {**SECURITY, "Content-Type": PROBLEM_JSON},
            "body": problem,
            "isBase64Encoded": False,
        }
    assert [r["reason"] for r in decisions(output())] == ["bad_request"] * 4


# --- success responses -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_success_keeps_the_handler_response_and_adds_security_headers(kind: str) -> None:
    """200: the handler's status, body and headers stay; missing security headers are added."""
    def handler(event: Event, context: Any) -> dict[str, Any]:
        return {"statusCode": 201, "headers": {"Content-Type": "text/plain",
                                               "Cache-Control": "max-age=60"}, "body": "made"}  # fmt: skip

    response = Guard(VERIFIER, decision_log=None)(handler)(
        event_for(kind, authorization=bearer(token(**ALICE))), None
    )
    assert response["statusCode"] == 201
    assert response["body"] == "made"
    expected = {**SECURITY, "Content-Type": "text/plain", "Cache-Control": "max-age=60"}
    assert response_headers(response) == expected
    if kind == "alb_multi":  # ALB multi-value mode only reads multiValueHeaders
        assert "headers" not in response


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_plain_return_values_become_json_responses(kind: str) -> None:
    """A handler returning a dict without statusCode (HTTP API shorthand) gets a 200 JSON."""
    handler = Guard(VERIFIER, decision_log=None)(lambda event, context: {"a": [1, 2]})
    response = handler(event_for(kind, authorization=bearer(token(**ALICE))), None)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"a": [1, 2]}
    assert response_headers(response) == {**SECURITY, "Content-Type": "application/json"}
    assert ("statusDescription" in response) == kind.startswith("alb")


def test_multi_value_handler_headers_keep_every_value() -> None:
    """A handler's multiValueHeaders (Set-Cookie twice) stay; security headers join them."""
    def handler(event: Event, context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
                "body": ""}  # fmt: skip

    response = Guard(VERIFIER, decision_log=None)(handler)(
        alb_multi(authorization=bearer(token(**ALICE))), None
    )
    assert response["multiValueHeaders"] == {
        "Set-Cookie": ["a=1", "b=2"], **{k: [v] for k, v in SECURITY.items()}
    }


def test_security_headers_are_configurable() -> None:
    """Each security header can be changed or left out; None leaves them all out."""
    custom = SecurityHeaders(frame_options=None, referrer_policy="same-origin",
                             extra={"Permissions-Policy": "camera=()"})  # fmt: skip
    event = http_v2(authorization=bearer(token(**ALICE)))
    response = Guard(VERIFIER, security_headers=custom, decision_log=None)(ok)(event, None)
    headers = response_headers(response)
    assert "X-Frame-Options" not in headers
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Permissions-Policy"] == "camera=()"
    bare = Guard(VERIFIER, security_headers=None, decision_log=None)(ok)
    assert response_headers(bare(event, None)) == {"Content-Type": "text/plain"}
    assert response_headers(bare(http_v2(), None)) == {
        "Content-Type": PROBLEM_JSON, "WWW-Authenticate": "Bearer"
    }
    with pytest.raises(ConfigurationError):
        SecurityHeaders(cache_control="no-store\r\nSet-Cookie: a=b")


# --- trust mode: the context a real secauth Authorizer wrote -----------------------------------

AUTH_ROUTES = Routes({"GET /orders/{id}": roles("reader", "admin")})


def _authorizer_event(name: str, value: str) -> dict[str, Any]:
    text = (FIXTURES / f"{name}.json").read_text().replace("{{token}}", value)
    return json.loads(text)


def authorizer_context(kind: str, value: str) -> dict[str, Any]:
    """Run a real Authorizer on an authorizer event; return the backend's authorizer context
    as API Gateway builds it (REST: context + principalId; HTTP: the context)."""
    if kind == "rest_v1":
        rest = Authorizer(VERIFIER, routes=AUTH_ROUTES, claims=CLAIMS)
        result = rest.handler(_authorizer_event("rest_request", value), None)
        assert result["policyDocument"]["Statement"][0]["Effect"] == "Allow"
        # REST: every context value arrives as a string, beside principalId and latency.
        return {**result["context"], "principalId": result["principalId"],
                "integrationLatency": 12}  # fmt: skip
    simple = Authorizer(VERIFIER, routes=AUTH_ROUTES, claims=CLAIMS, simple_responses=True)
    result = simple.handler(_authorizer_event("http_v2", value), None)
    assert result["isAuthorized"] is True
    return dict(result["context"])


TRUST_KINDS = ["rest_v1", "http_v2"]


@pytest.mark.parametrize("kind", TRUST_KINDS)
def test_trust_mode_takes_the_principal_from_a_real_authorizer_context(kind: str) -> None:
    """Context written by secauth.Authorizer, placed as API Gateway does: the same principal."""
    value = token(**ALICE)
    context = authorizer_context(kind, value)
    event = with_context(event_for(kind, authorization=bearer(value)), context, kind=kind)
    guard = Guard(routes=ROUTES)
    assert guard.trust_authorizer is True
    response = call(guard(echo), event)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {
        "id": "alice", "tenant": "acme", "kind": "user", "roles": ["admin"]
    }


def _context_cases(good: dict[str, Any]) -> dict[str, Any]:
    """Broken versions of a good authorizer context (None: no authorizer block at all)."""
    partial = {"secauth_principal": good["secauth_principal"], "secauth_kind": "user"}
    return {
        "missing": None,
        "empty": {},
        "other_authorizer": {"principalId": "alice", "user": "alice"},
        "forged_partial": partial,
        "roles_not_json": {**good, "secauth_roles": "admin"},
        "roles_not_strings": {**good, "secauth_roles": "[1, 2]"},
        "empty_principal": {**good, "secauth_principal": ""},
        "unknown_kind": {**good, "secauth_kind": "root"},
        "anonymous_kind": {**good, "secauth_kind": "anonymous"},
        "non_string_value": {**good, "secauth_tenant": 7},
        "principal_not_string": {**good, "secauth_principal": ["alice"]},
    }


@pytest.mark.parametrize("kind", TRUST_KINDS)
@pytest.mark.parametrize(
    "case",
    ["missing", "empty", "other_authorizer", "forged_partial", "roles_not_json",
     "roles_not_strings", "empty_principal", "unknown_kind", "anonymous_kind",
     "non_string_value", "principal_not_string"],
)  # fmt: skip
def test_trust_mode_refuses_missing_malformed_or_forged_context(
    kind: str, case: str, output: Any
) -> None:
    """No context, a half-filled one or a malformed one: 401, handler never runs. No secauth
    context at all is ``missing_authorizer_context``; a broken one ``invalid_claims``."""
    value = token(**ALICE)
    context = _context_cases(authorizer_context(kind, value))[case]
    event = with_context(event_for(kind, authorization=bearer(value)), context, kind=kind)
    ran: list[bool] = []
    guard = Guard(routes=ROUTES)

    @guard
    def handler(event: Event, context: Any) -> dict[str, Any]:
        ran.append(True)
        return {"statusCode": 200, "body": ""}

    response = call(handler, event)
    missing = case in ("missing", "empty", "other_authorizer")
    reason = "missing_authorizer_context" if missing else "invalid_claims"
    title = "missing authorizer context" if missing else "invalid token claims"
    # No authorizer ran: not the token's fault, so no error code (RFC 6750 section 3.1).
    challenge = "Bearer" if missing else f'Bearer error="invalid_token", error_description="{title}"'
    assert parsed(response) == expected_error(kind, 401, reason, title, {"WWW-Authenticate": challenge})
    assert ran == []
    assert decisions(output())[-1]["reason"] == reason


def test_trust_mode_context_in_the_wrong_place_is_refused() -> None:
    """An HTTP API context is under ``authorizer.lambda``; a REST-style one there is not read."""
    value = token(**ALICE)
    context = authorizer_context("http_v2", value)
    event = http_v2(authorization=bearer(value))
    event["requestContext"]["authorizer"] = dict(context)  # not under "lambda"
    assert call(Guard(routes=ROUTES)(ok), event)["statusCode"] == 401


def test_trust_mode_public_route_without_credentials_is_anonymous() -> None:
    """No authorizer runs on a public route: no context and no token means the anonymous caller."""
    handler = Guard(routes=ROUTES)(echo)
    for kind in TRUST_KINDS:
        response = call(handler, event_for(kind, "GET", "/health"))
        assert response["statusCode"] == 200
        assert json.loads(response["body"])["kind"] == "anonymous"
        # ...but a token without a context is not trusted on any route
        stray = event_for(kind, "GET", "/health", authorization=bearer(token(**ALICE)))
        assert call(handler, stray)["statusCode"] == 401
        # ...and a protected route needs the context
        assert call(handler, event_for(kind))["statusCode"] == 401


# --- verify mode and both modes ------------------------------------------------------------------


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_verify_mode_hands_the_verified_principal_to_the_handler(kind: str) -> None:
    """The token is verified here; the principal carries the claims' roles and tenant."""
    response = call(Guard(VERIFIER, claims=CLAIMS, routes=ROUTES)(echo),
                    event_for(kind, authorization=bearer(token(**ALICE))))  # fmt: skip
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {
        "id": "alice", "tenant": "acme", "kind": "user", "roles": ["admin"]
    }


def test_verify_mode_ignores_a_context_it_was_not_told_to_trust() -> None:
    """Guard(verifier) alone never reads requestContext.authorizer, even a forged admin one."""
    forged = Principal("mallory", roles={"admin"}).to_context()
    event = with_context(rest_v1(authorization=bearer(token("bob", roles=["reader"]))), forged,
                         kind="rest_v1")  # fmt: skip
    response = call(Guard(VERIFIER, routes=ROUTES)(echo), event)
    assert json.loads(response["body"])["id"] == "bob"
    denied = with_context(rest_v1("DELETE", authorization=bearer(token("bob", roles=["reader"]))),
                          forged, kind="rest_v1")  # fmt: skip
    assert call(Guard(VERIFIER, routes=ROUTES)(echo), denied)["statusCode"] == 403


@pytest.mark.parametrize("kind", TRUST_KINDS)
def test_both_modes_must_agree(kind: str) -> None:
    """Defense in depth: the context and the token must name the same principal and tenant."""
    guard = Guard(VERIFIER, claims=CLAIMS, routes=ROUTES, trust_authorizer=True,
                  problem_type_base=TYPE)  # fmt: skip
    handler = guard(echo)
    alice = token(**ALICE)
    agreeing = with_context(event_for(kind, authorization=bearer(alice)),
                            authorizer_context(kind, alice), kind=kind)  # fmt: skip
    response = call(handler, agreeing)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["id"] == "alice"
    # bob's context with alice's token (a context from another request): refused
    bob = token("bob", tenant="acme", roles=["reader"])
    mixed = with_context(event_for(kind, authorization=bearer(alice)),
                         authorizer_context(kind, bob), kind=kind)  # fmt: skip
    assert parsed(call(handler, mixed))["body"]["title"] == "invalid token claims"
    # same subject, another tenant: refused too
    other_tenant = token("alice", tenant="globex", roles=["admin"])
    mixed = with_context(event_for(kind, authorization=bearer(alice)),
                         authorizer_context(kind, other_tenant), kind=kind)  # fmt: skip
    assert call(handler, mixed)["statusCode"] == 401
    # a valid context does not rescue a bad token
    forged = bearer(token(pair=STRANGER, **ALICE))
    bad = with_context(event_for(kind, authorization=forged), authorizer_context(kind, alice),
                       kind=kind)  # fmt: skip
    assert parsed(call(handler, bad))["body"]["type"] == TYPE + "invalid_signature"
    # a broken context is refused even with a good token
    partial = {"secauth_principal": "alice", "secauth_kind": "user"}
    broken = with_context(event_for(kind, authorization=bearer(alice)), partial, kind=kind)
    assert parsed(call(handler, broken))["body"]["type"] == TYPE + "invalid_claims"


def test_guard_configuration_errors() -> None:
    """Bad configuration fails at construction or decoration, with a message saying what to do."""
    with pytest.raises(ConfigurationError, match="verifier"):
        Guard(trust_authorizer=False)
    with pytest.raises(ConfigurationError, match="Routes"):
        Guard(VERIFIER, routes={"GET /x": public()})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="decision_log"):
        Guard(VERIFIER, decision_log="print")
    with pytest.raises(ConfigurationError, match="max_body_bytes"):
        Guard(VERIFIER, max_body_bytes=0)
    with pytest.raises(ConfigurationError, match="access rule"):
        Guard(VERIFIER).require("admin")  # type: ignore[arg-type]


# --- public routes ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_public_route_without_a_token_is_anonymous(kind: str) -> None:
    """GET /health is public: no token gives the anonymous principal; current_principal() too."""
    seen: list[Principal] = []

    @Guard(VERIFIER, routes=ROUTES)
    def handler(event: Event, context: Any, principal: Principal) -> dict[str, Any]:
        seen.append(current_principal())
        return {"statusCode": 200, "body": principal.kind}

    response = call(handler, event_for(kind, "GET", "/health"))
    assert (response["statusCode"], response["body"]) == (200, "anonymous")
    assert seen == [Principal.anonymous()]


@pytest.mark.parametrize("kind", KIND_NAMES)
@pytest.mark.parametrize(
    ("authorization", "reason"),
    [("Bearer not.a.jwt", "malformed_token"), ("Basic YWxpY2U6cGFzcw==", "malformed_token"),
     ("expired", "token_expired"), ("forged", "invalid_signature")],
)  # fmt: skip
def test_public_route_with_an_invalid_token_is_401(kind: str, authorization: str, reason: str) -> None:
    """Presented credentials are checked even where none are needed: a bad token is a 401."""
    if authorization == "expired":
        authorization = bearer(token(**ALICE, exp=1_000_000))
    elif authorization == "forged":
        authorization = bearer(token(pair=STRANGER, **ALICE))
    response = call(Guard(VERIFIER, routes=ROUTES, problem_type_base=TYPE)(echo),
                    event_for(kind, "GET", "/health", authorization=authorization))  # fmt: skip
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["type"] == TYPE + reason


def test_public_route_with_a_valid_token_names_the_caller() -> None:
    response = call(Guard(VERIFIER, routes=ROUTES)(echo),
                    http_v2("GET", "/health", authorization=bearer(token(**ALICE))))  # fmt: skip
    assert json.loads(response["body"])["id"] == "alice"


def test_per_handler_rule_needs_credentials_even_on_a_public_route() -> None:
    """@guard.require(...) adds a rule: no anonymous caller passes it, a missing role is 403."""
    guard = Guard(VERIFIER, routes=ROUTES)
    handler = guard.require(roles("admin"))(echo)
    assert call(handler, http_v2("GET", "/health"))["statusCode"] == 401
    reader = bearer(token("bob", roles=["reader"]))
    response = call(handler, http_v2("GET", "/health", authorization=reader))
    assert response["statusCode"] == 403
    assert response["headers"]["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", error_description="forbidden"'
    )
    admin = bearer(token(**ALICE))
    assert call(handler, http_v2("GET", "/health", authorization=admin))["statusCode"] == 200
    # rules add up; the original guard is unchanged
    both = guard.require(roles("admin")).require(scopes("orders.write"))(echo)
    assert call(both, http_v2("GET", "/health", authorization=admin))["statusCode"] == 403
    assert guard.rule is None


def test_routes_see_the_path_without_a_named_stage() -> None:
    """HTTP API on a named stage: rawPath starts with /prod; the route table does not."""
    event = http_v2("GET", "/orders/7", authorization=bearer(token(**ALICE)), stage="prod")
    assert event["rawPath"] == "/prod/orders/7"
    assert call(Guard(VERIFIER, routes=ROUTES)(echo), event)["statusCode"] == 200


def test_no_route_table_means_any_valid_token() -> None:
    """Without routes, every path needs a valid token and nothing more (no 404 from the guard)."""
    handler = Guard(VERIFIER)(ok)
    assert call(handler, http_v2("PATCH", "/anything"))["statusCode"] == 401
    event = http_v2("PATCH", "/anything", authorization=bearer(token("bob")))
    assert call(handler, event)["statusCode"] == 200


def test_404_and_405_only_after_authentication() -> None:
    """An anonymous caller learns nothing about paths: 401 for unknown paths and wrong verbs."""
    handler = Guard(VERIFIER, routes=ROUTES)(ok)
    assert call(handler, http_v2("GET", "/nowhere"))["statusCode"] == 401
    assert call(handler, http_v2("PUT", "/orders/7"))["statusCode"] == 401
    admin = bearer(token(**ALICE))
    assert call(handler, http_v2("GET", "/nowhere", authorization=admin))["statusCode"] == 404
    response = call(handler, http_v2("PUT", "/orders/7", authorization=admin))
    assert (response["statusCode"], response["headers"]["Allow"]) == (405, "DELETE, GET")
    # the default rule answers unknown paths instead of a 404
    fallback = Guard(VERIFIER, routes=Routes({"GET /a": public()}, default=roles("admin")))(ok)
    assert call(fallback, http_v2("GET", "/nowhere", authorization=admin))["statusCode"] == 200
    reader = bearer(token("bob", roles=["reader"]))
    assert call(fallback, http_v2("GET", "/nowhere", authorization=reader))["statusCode"] == 403


# --- body size and content type ----------------------------------------------------------------


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_body_limit_counts_decoded_bytes_of_base64_bodies(kind: str) -> None:
    """A base64 body is measured by its decoded size: 64 bytes pass a 64-byte limit, 67 do not."""
    handler = Guard(VERIFIER, routes=ROUTES, max_body_bytes=64)(ok)
    for size, status in [(64, 200), (67, 413)]:
        event = event_for(kind, "POST", "/signup", body=b"\x00" * size)
        assert call(handler, event)["statusCode"] == status, size


def test_content_type_check() -> None:
    """Allowed media types pass with parameters and any case; others are 415; GETs are free."""
    guard = Guard(VERIFIER, routes=ROUTES, content_types=("application/json",))
    handler = guard(ok)
    for content_type, status in [("application/json", 200), ("Application/JSON; charset=utf-8", 200),
                                 ("application/jsonp", 415), ("text/plain", 415), (None, 415)]:  # fmt: skip
        headers = {"Content-Type": content_type} if content_type else {}
        event = http_v2("POST", "/signup", body="{}", headers=headers)
        assert call(handler, event)["statusCode"] == status, content_type
    assert call(handler, http_v2("POST", "/signup"))["statusCode"] == 200  # no body, no check
    assert call(handler, http_v2("GET", "/health", body="x"))["statusCode"] == 200


def test_hygiene_runs_before_authentication() -> None:
    """A 10 MB body is refused before any token work: 413, not 401."""
    handler = Guard(VERIFIER, routes=ROUTES)(ok)
    event = http_v2("POST", "/orders", body="x" * (1024 * 1024 + 1))
    assert call(handler, event)["statusCode"] == 413


# --- handler shapes: sync, async, 2 and 3 arguments, methods, objects ------------------------------


class Service:
    """Handlers as methods, sync and async, with and without the principal."""

    def __init__(self) -> None:
        self.calls = 0

    def two(self, event: Event, context: Any) -> dict[str, Any]:
        self.calls += 1
        return {"statusCode": 200, "body": current_principal().id}

    def three(self, event: Event, context: Any, principal: Principal) -> dict[str, Any]:
        self.calls += 1
        return {"statusCode": 200, "body": principal.id}

    async def two_async(self, event: Event, context: Any) -> dict[str, Any]:
        self.calls += 1
        await asyncio.sleep(0)
        return {"statusCode": 200, "body": current_principal().id}

    async def three_async(self, event: Event, context: Any, principal: Principal) -> dict[str, Any]:
        self.calls += 1
        return {"statusCode": 200, "body": principal.id}


class CallableHandler:
    def __call__(self, event: Event, context: Any, principal: Principal) -> dict[str, Any]:
        return {"statusCode": 200, "body": principal.id}


class AsyncCallableHandler:
    async def __call__(self, event: Event, context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": current_principal().id}


def _partial_target(prefix: str, event: Event, context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": prefix + principal.id}


def _run(result: Any) -> Any:
    return asyncio.run(result) if asyncio.iscoroutine(result) else result


@pytest.mark.parametrize(
    "make",
    [
        lambda s: s.two, lambda s: s.three, lambda s: s.two_async, lambda s: s.three_async,
        lambda s: CallableHandler(), lambda s: AsyncCallableHandler(),
        lambda s: functools.partial(_partial_target, ""),
    ],
    ids=["method2", "method3", "async_method2", "async_method3", "callable3", "async_callable2",
         "partial3"],
)  # fmt: skip
def test_handler_shapes(make: Callable[[Service], Callable[..., Any]]) -> None:
    """Every handler shape gets the principal (argument or current_principal) and its result."""
    service = Service()
    target = make(service)
    handler = Guard(VERIFIER, routes=ROUTES)(target)
    assert handler.__wrapped__ is target  # type: ignore[attr-defined]
    event = http_v2(authorization=bearer(token(**ALICE)))
    response = _run(handler(event, None))
    assert_response_clean(response, event)
    assert (response["statusCode"], response["body"]) == (200, "alice")
    refused = _run(handler(http_v2(), None))
    assert refused["statusCode"] == 401
    assert service.calls <= 1


def test_wrapper_keeps_name_and_doc() -> None:
    def lambda_handler(event: Event, context: Any) -> dict[str, Any]:
        """Docs."""
        return {}

    wrapped = Guard(VERIFIER)(lambda_handler)
    assert (wrapped.__name__, wrapped.__doc__) == ("lambda_handler", "Docs.")


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_async_handlers_errors_and_principals(kind: str, output: Any) -> None:
    """Async handlers: the principal, a sanitized 500 for an exception, a 401 for no token."""
    guard = Guard(VERIFIER, claims=CLAIMS, routes=ROUTES)

    @guard
    async def handler(event: Event, context: Any, principal: Principal) -> dict[str, Any]:
        await asyncio.sleep(0)
        if event.get("body") == "boom":
            raise ValueError(f"secret {SECRET}")
        return {"statusCode": 200, "body": f"{principal.id}/{current_principal().tenant}"}

    admin = bearer(token(**ALICE))
    assert asyncio.run(handler(event_for(kind, authorization=admin), None))["body"] == "alice/acme"
    boom = event_for(kind, "POST", "/signup", authorization=admin, body="boom")
    crashed = asyncio.run(handler(boom, None))
    assert_response_clean(crashed, boom)
    assert parsed(crashed) == expected_error(kind, 500, "internal_error", "internal error")
    assert asyncio.run(handler(event_for(kind), None))["statusCode"] == 401
    records = decisions(output())
    assert [r["status"] for r in records] == [200, 500, 401]
    assert records[1]["detail"] == {"error": "ValueError"}


def test_concurrent_async_requests_each_see_their_own_principal() -> None:
    """current_principal() is per task: 20 interleaved requests never see each other's caller."""
    @Guard(VERIFIER, decision_log=None)
    async def handler(event: Event, context: Any) -> str:
        first = current_principal().id
        await asyncio.sleep(0.001)
        return f"{first}={current_principal().id}"

    async def main() -> list[Any]:
        events = [http_v2(authorization=bearer(token(f"user{i}"))) for i in range(20)]
        return await asyncio.gather(*(handler(e, None) for e in events))

    bodies = [r["body"] for r in asyncio.run(main())]
    assert bodies == [f"user{i}=user{i}" for i in range(20)]


def test_current_principal_outside_a_guarded_handler() -> None:
    """Outside a guarded call (before, after, in plain code) there is no principal."""
    with pytest.raises(MissingToken):
        current_principal()
    handler = Guard(VERIFIER, decision_log=None)(lambda e, c: current_principal().id)
    response = handler(http_v2(authorization=bearer(token("ann"))), None)
    assert (response["body"], response["headers"]["Content-Type"]) == (
        "ann", "text/plain; charset=utf-8"
    )
    with pytest.raises(MissingToken):
        current_principal()


def test_sync_handler_with_an_async_store_is_refused_at_decoration() -> None:
    """A sync handler cannot await an async rate-limit store: say so when decorating."""
    from secauth.ratelimit import AsyncRedisStore

    store = AsyncRedisStore(url="redis://127.0.0.1:1/0")
    guard = Guard(VERIFIER, rate_limit=RateLimiter.per_ip("5/minute", store=store))
    with pytest.raises(ConfigurationError, match="async"):
        guard(ok)

    async def handler(event: Event, context: Any) -> str:
        return ""

    guard(handler)  # an async handler is fine


def test_cancellation_and_exit_propagate() -> None:
    """CancelledError, KeyboardInterrupt and SystemExit are not turned into 500 responses."""
    event = http_v2(authorization=bearer(token(**ALICE)))
    for exc in (KeyboardInterrupt(), SystemExit(3)):
        with pytest.raises(type(exc)):
            Guard(VERIFIER, decision_log=None)(_raising(exc))(event, None)

    @Guard(VERIFIER, decision_log=None)
    async def cancelled(event: Event, context: Any) -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(cancelled(event, None))


# --- rate limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_rate_limit_headers_and_429(kind: str) -> None:
    """3/minute per IP: headers count down on each 200; the 4th is a 429 with Retry-After."""
    limiter = RateLimiter.per_ip("3/minute", algorithm="fixed_window", headers="both")
    handler = Guard(VERIFIER, rate_limit=limiter)(ok)
    event = event_for(kind, authorization=bearer(token(**ALICE)))
    remaining = []
    for _ in range(3):
        response = call(handler, copy.deepcopy(event))
        assert response["statusCode"] == 200
        headers = response_headers(response)
        assert "Retry-After" not in headers
        remaining.append(headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    limited = call(handler, copy.deepcopy(event))
    headers = response_headers(limited)
    assert limited["statusCode"] == 429
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert headers["X-RateLimit-Limit"] == "3"
    assert headers["X-RateLimit-Remaining"] == "0"
    assert headers["RateLimit-Policy"] == '"ip";q=3;w=60'
    assert "WWW-Authenticate" not in headers


def test_rate_limit_async_handler_uses_the_async_path() -> None:
    """An async guarded handler counts through hit_async (memory store): 429 on the third."""
    limiter = RateLimiter.per_ip("2/minute", algorithm="gcra")

    @Guard(VERIFIER, rate_limit=limiter, decision_log=None)
    async def handler(event: Event, context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": ""}

    event = http_v2(authorization=bearer(token(**ALICE)))
    statuses = [asyncio.run(handler(copy.deepcopy(event), None))["statusCode"] for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_failed_authentications_count_against_the_ip() -> None:
    """Guessing tokens costs quota: two bad tokens, then even a good one is a 429."""
    limiter = RateLimiter.per_ip("2/minute", algorithm="fixed_window")
    handler = Guard(VERIFIER, rate_limit=limiter)(ok)
    for _ in range(2):
        assert call(handler, http_v2(authorization="Bearer x.y.z"))["statusCode"] == 401
    good = http_v2(authorization=bearer(token(**ALICE)))
    assert call(handler, good)["statusCode"] == 429
    # another IP is not affected
    other = http_v2(authorization=bearer(token(**ALICE)), source_ip="203.0.113.50")
    assert call(handler, other)["statusCode"] == 200


def test_per_principal_limit_through_guard() -> None:
    """Per principal: alice's quota is hers alone; anonymous callers are not counted."""
    limiter = RateLimiter.per_principal("1/minute", algorithm="fixed_window", store=MemoryStore())
    handler = Guard(VERIFIER, routes=ROUTES, rate_limit=limiter)(ok)
    alice = http_v2(authorization=bearer(token("alice", roles=["admin"])))
    bob = http_v2(authorization=bearer(token("bob", roles=["admin"])))
    assert [call(handler, copy.deepcopy(alice))["statusCode"] for _ in range(2)] == [200, 429]
    assert call(handler, bob)["statusCode"] == 200
    assert [call(handler, http_v2("GET", "/health"))["statusCode"] for _ in range(3)] == [200] * 3


# --- CORS ----------------------------------------------------------------------------------------

APP = "https://app.example.com"
CORS = Cors(allow_origins=[APP], allow_credentials=True, expose_headers=["RateLimit"])
PREFLIGHT = {"Origin": APP, "Access-Control-Request-Method": "DELETE",
             "Access-Control-Request-Headers": "authorization, content-type"}  # fmt: skip


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_preflight_from_an_allowed_origin_is_204(kind: str, output: Any) -> None:
    """OPTIONS with Origin + Access-Control-Request-Method: 204, no token needed, handler not run."""
    ran: list[bool] = []

    @Guard(VERIFIER, routes=ROUTES, cors=CORS)
    def handler(event: Event, context: Any) -> dict[str, Any]:
        ran.append(True)
        return {}

    response = call(handler, event_for(kind, "OPTIONS", "/orders/7", headers=PREFLIGHT))
    headers = {
        **SECURITY,
        "Access-Control-Allow-Origin": APP,
        "Vary": "Origin",
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Expose-Headers": "RateLimit",
        "Access-Control-Allow-Methods": "DELETE, GET, PATCH, POST, PUT",
        "Access-Control-Allow-Headers": "authorization, content-type",
        "Access-Control-Max-Age": "600",
    }
    assert response["statusCode"] == 204
    assert response["body"] == ""
    assert response_headers(response) == headers
    assert ("statusDescription" in response) == kind.startswith("alb")
    assert ran == []
    assert decisions(output())[-1]["decision"] == "preflight"


@pytest.mark.parametrize("kind", KIND_NAMES)
@pytest.mark.parametrize(
    "change",
    [{"Origin": "https://evil.example"}, {"Origin": "https://app.example.com.evil.example"},
     {"Origin": "null"}, {"Access-Control-Request-Method": "TRACE"},
     {"Access-Control-Request-Headers": "x-internal-admin"}],
    ids=["other_origin", "suffix_origin", "null_origin", "method", "header"],
)  # fmt: skip
def test_preflight_refused_is_403_without_cors_headers(kind: str, change: dict[str, str]) -> None:
    """A preflight from another origin, or asking for another method or header: 403, no ACAO
    (and ``Vary: Origin``: another origin may be allowed)."""
    response = call(Guard(VERIFIER, routes=ROUTES, cors=CORS)(ok),
                    event_for(kind, "OPTIONS", "/orders/7", headers={**PREFLIGHT, **change}))  # fmt: skip
    assert response["statusCode"] == 403
    assert response["body"] == ""
    assert response_headers(response) == {**SECURITY, "Vary": "Origin"}


def test_cors_headers_on_actual_requests_for_allowed_origins_only() -> None:
    """Success and error responses carry CORS headers for the allowed origin, none for others."""
    handler = Guard(VERIFIER, routes=ROUTES, cors=CORS)(ok)
    good = http_v2(authorization=bearer(token(**ALICE)), headers={"Origin": APP})
    cors = {"Access-Control-Allow-Origin": APP, "Vary": "Origin",
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Expose-Headers": "RateLimit"}  # fmt: skip
    assert response_headers(call(handler, good)).items() >= cors.items()
    error = call(handler, http_v2(headers={"Origin": APP}))
    assert error["statusCode"] == 401
    assert response_headers(error).items() >= cors.items()
    for origin in ("https://evil.example", None):
        headers = {"Origin": origin} if origin else {}
        other = http_v2(authorization=bearer(token(**ALICE)), headers=headers)
        assert not any(k.startswith("Access-Control") for k in response_headers(call(handler, other)))


def test_options_without_preflight_headers_is_an_ordinary_request() -> None:
    """OPTIONS without Access-Control-Request-Method is no preflight: it needs a token."""
    handler = Guard(VERIFIER, routes=ROUTES, cors=CORS)(ok)
    assert call(handler, http_v2("OPTIONS", "/orders/7", headers={"Origin": APP}))["statusCode"] == 401


def test_cors_without_credentials_may_use_any_origin() -> None:
    cors = Cors(allow_origins=["*"])
    handler = Guard(VERIFIER, cors=cors)(ok)
    response = call(handler, http_v2("OPTIONS", headers={"Origin": "https://x.example",
                                                       "Access-Control-Request-Method": "GET"}))  # fmt: skip
    assert response["statusCode"] == 204
    assert response["headers"]["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response["headers"]


# --- decision records ------------------------------------------------------------------------------


def test_one_decision_record_per_request_with_fixed_fields(output: Any) -> None:
    """stdout gets one JSON line per request, with the documented fields only."""
    handler = Guard(VERIFIER, claims=CLAIMS, routes=ROUTES)(ok)
    call(handler, rest_v1(authorization=bearer(token(**ALICE))))
    call(handler, rest_v1())
    records = decisions(output())
    assert len(records) == 2
    allow, deny = records
    assert allow.pop("latency_us") >= 0
    assert allow == {"secauth": "decision", "decision": "allow", "status": 200,
                     "principal": "alice", "issuer": ISS, "tenant": "acme", "kind": "user",
                     "event": "rest_v1", "method": "GET", "path": "/orders/7", "route": "GET /orders/{id}",
                     "request_id": REQUEST_ID}  # fmt: skip
    deny.pop("latency_us")
    assert deny == {"secauth": "decision", "decision": "unauthorized", "reason": "missing_token",
                    "status": 401, "event": "rest_v1", "method": "GET", "path": "/orders/7",
                    "request_id": REQUEST_ID}  # fmt: skip


def test_decision_log_modes_and_hook(output: Any, caplog: pytest.LogCaptureFixture) -> None:
    """'logging' writes to secauth.decisions, None writes nothing; the hook gets every record,
    and a hook that raises changes nothing."""
    got: list[Mapping[str, Any]] = []
    event = http_v2(authorization=bearer(token(**ALICE)))
    caplog.clear()
    Guard(VERIFIER, decision_log="logging", on_decision=got.append)(ok)(event, None)
    assert [r.name for r in caplog.records] == ["secauth.decisions"]
    assert json.loads(caplog.records[0].getMessage())["decision"] == "allow"
    assert output() == ""
    Guard(VERIFIER, decision_log=None, on_decision=got.append)(ok)(event, None)
    assert output() == ""
    assert [r["decision"] for r in got] == ["allow", "allow"]

    def broken(record: Mapping[str, Any]) -> None:
        raise RuntimeError(SECRET)

    response = Guard(VERIFIER, decision_log=None, on_decision=broken)(ok)(event, None)
    assert response["statusCode"] == 200


def test_handler_exception_text_never_leaves_the_process(output: Any) -> None:
    """Messages, notes, causes and reprs of handler exceptions appear nowhere."""
    class LeakyError(Exception):
        def __repr__(self) -> str:
            return f"LeakyError({SECRET})"

    def handler(event: Event, context: Any) -> None:
        try:
            raise KeyError(f"{SECRET}-cause")
        except KeyError as cause:
            exc = LeakyError(f"query failed: password={SECRET}")
            exc.add_note(SECRET)
            raise exc from cause

    for kind in KIND_NAMES:
        value = token(**ALICE)
        event = event_for(kind, authorization=bearer(value))
        response = call(Guard(VERIFIER)(handler), event)
        assert parsed(response) == expected_error(kind, 500, "internal_error", "internal error")
    records = decisions(output())
    assert {json.dumps(r["detail"]) for r in records} == {'{"error": "LeakyError"}'}


def test_a_message_given_when_raising_a_secauth_error_stays_internal(output: Any) -> None:
    """Handler code raising AccessDenied("...") with text: the client sees the fixed title."""
    handler = Guard(VERIFIER)(_raising(AccessDenied(f"owner is {SECRET}")))
    response = call(handler, http_v2(authorization=bearer(token(**ALICE))))
    assert parsed(response)["body"]["title"] == "forbidden"
    assert response["headers"]["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", error_description="forbidden"'
    )
    expired = Guard(VERIFIER)(_raising(TokenExpired(f"{SECRET}\r\nSet-Cookie: a=b")))
    response = call(expired, http_v2(authorization=bearer(token(**ALICE))))
    assert response["headers"]["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="token expired"'
    )


def test_configuration_error_at_request_time_is_a_plain_500(output: Any) -> None:
    """A ConfigurationError's developer text never reaches the client."""
    handler = Guard(VERIFIER)(_raising(ConfigurationError(f"table {SECRET} is missing")))
    response = call(handler, http_v2(authorization=bearer(token(**ALICE))))
    assert parsed(response)["body"] == {"type": "about:blank", "title": "internal error",
                                        "status": 500, "request_id": REQUEST_ID}  # fmt: skip
    assert decisions(output())[-1]["reason"] == "configuration_error"


# --- Hypothesis: random handler exceptions and random malformed events -------------------------

PLAIN_EXCEPTIONS = [ValueError, KeyError, RuntimeError, TypeError, OSError, ZeroDivisionError,
                    AssertionError, LookupError, PermissionError, TimeoutError, NotImplementedError,
                    UnicodeError, RecursionError, MemoryError, StopIteration, ArithmeticError]  # fmt: skip
SECAUTH_EXCEPTIONS = [BadRequest, AccessDenied, InvalidClaims, KeysUnavailable, TokenExpired,
                      SecAuthError, ConfigurationError]  # fmt: skip
STATUSES = {400, 401, 403, 404, 405, 413, 415, 429, 500, 503}


@st.composite
def handler_exceptions(draw: st.DrawFn) -> BaseException:
    message = draw(st.text(max_size=40)) + SECRET + draw(st.text(max_size=10))
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.sampled_from(PLAIN_EXCEPTIONS))(message)
    if choice == 1:
        name = draw(st.from_regex(r"[A-Z][a-z]{1,12}(Error|Failure|Exception)", fullmatch=True))
        bases = draw(st.sampled_from([(Exception,), (ValueError,), (OSError,)]))
        return type(name, bases, {})(message, draw(st.integers()))
    if choice == 2:
        # A SecAuthError subclass raised with a message (public text is not taken from it).
        return draw(st.sampled_from(SECAUTH_EXCEPTIONS))(message)

    class Hostile(Exception):
        def __str__(self) -> str:
            raise RuntimeError(SECRET)

        def __repr__(self) -> str:
            raise RuntimeError(SECRET)

    return Hostile(message)


def assert_well_formed(response: Any) -> int:
    """A proxy response: int status, string headers, and a problem JSON body for errors."""
    assert isinstance(response, dict)
    status = response["statusCode"]
    assert type(status) is int
    headers = response_headers(response)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
    assert all("\n" not in v and "\r" not in v for v in headers.values())
    assert headers.items() >= SECURITY.items()
    assert isinstance(response["body"], str)
    if status >= 400 and response["body"]:
        assert status in STATUSES
        assert headers["Content-Type"] == PROBLEM_JSON
        assert_problem_only(response)
        assert json.loads(response["body"])["status"] == status
    return status


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(exc=handler_exceptions(), kind=st.sampled_from(KIND_NAMES), is_async=st.booleans())
def test_random_handler_exceptions_become_sanitized_responses(
    exc: BaseException, kind: str, is_async: bool, output: Any
) -> None:
    """Any exception from the handler: a well-formed response with no trace of its text."""
    if is_async:
        async def handler(event: Event, context: Any) -> Any:
            raise exc
    else:
        handler = _raising(exc)  # type: ignore[assignment]
    event = event_for(kind, authorization=bearer(token(**ALICE)))
    response = _run(Guard(VERIFIER)(handler)(event, None))
    status = assert_well_formed(response)
    assert status == (exc.status if isinstance(exc, SecAuthError)
                      and not isinstance(exc, ConfigurationError) else 500)  # fmt: skip
    assert_response_clean(response, event)
    assert_clean([output()])


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
EVENT_KEYS = ["headers", "multiValueHeaders", "httpMethod", "path", "resource", "rawPath",
              "version", "body", "isBase64Encoded", "requestContext", "queryStringParameters",
              "routeKey", "type", "methodArn", "pathParameters"]  # fmt: skip
CONTEXT_KEYS = ["http", "elb", "authorizer", "identity", "requestId", "stage", "domainName",
                "httpMethod"]  # fmt: skip


@st.composite
def malformed_events(draw: st.DrawFn) -> Any:
    """Valid events of every kind with random keys replaced or dropped, or plain JSON values."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    kind = draw(st.sampled_from(KIND_NAMES))
    authorization = draw(st.sampled_from([bearer(token(**ALICE)), None, "Bearer", "Bearer a.b.c"]))
    event = event_for(kind, draw(st.sampled_from(["GET", "POST", "OPTIONS", "DELETE"])),
                      draw(st.sampled_from(["/orders/7", "/health", "/", "/a/../b", "//x"])),
                      authorization=authorization)  # fmt: skip
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(["top", "context", "headers"]))
        if where == "top":
            target, key = event, draw(st.sampled_from(EVENT_KEYS))
        elif where == "context" and isinstance(event.get("requestContext"), dict):
            target, key = event["requestContext"], draw(st.sampled_from(CONTEXT_KEYS))
        elif isinstance(event.get("headers"), dict):
            target = event["headers"]
            key = draw(st.sampled_from(["authorization", "Authorization", "origin", "content-type",
                                        "access-control-request-method"]))  # fmt: skip
        else:
            continue
        if draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = draw(JSON)
    return event


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=malformed_events(), trust=st.booleans())
def test_random_malformed_events_never_break_the_guard(event: Any, trust: bool, output: Any) -> None:
    """Random malformed events: always a well-formed, sanitized response; never an exception."""
    guard = (Guard(routes=ROUTES, cors=CORS, content_types=("application/json",)) if trust
             else Guard(VERIFIER, routes=ROUTES, cors=CORS, claims=CLAIMS))  # fmt: skip
    response = guard(ok)(copy.deepcopy(event), None)
    assert_well_formed(response)
    assert_response_clean(response, event)
    assert_clean([output()])


# --- repeated callers: memoized principals never skip a check -------------------------------------


def test_repeated_token_is_verified_on_every_call() -> None:
    """The principal of a repeated token is memoized, but the token is checked every time:
    a verifier check that starts refusing it takes effect at once."""
    revoked: set[str] = set()

    def not_revoked(header: Any, claims: Mapping[str, Any], key: Any) -> None:
        if claims.get("jti") in revoked:
            raise InvalidClaims(detail={"problem": "revoked"})

    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]},
                           check=not_revoked)  # fmt: skip
    handler = Guard(verifier, decision_log=None)(echo)
    event = http_v2(authorization=bearer(token(**ALICE, jti="t-1")))
    assert [call(handler, copy.deepcopy(event))["statusCode"] for _ in range(3)] == [200] * 3
    revoked.add("t-1")
    assert call(handler, copy.deepcopy(event))["statusCode"] == 401


def test_repeated_contexts_share_a_principal_but_malformed_ones_never_pass() -> None:
    """Equal context strings give the same principal; a changed field is read afresh; list
    values (HTTP API JSON contexts) and more distinct callers than the memo holds still work."""
    guard = Guard(routes=ROUTES, decision_log=None)
    handler = guard(echo)
    good = Principal("alice", tenant="acme", roles={"admin"}).to_context()
    event = with_context(http_v2(), good, kind="http_v2")
    assert json.loads(call(handler, event)["body"])["roles"] == ["admin"]
    demoted = with_context(http_v2("DELETE"), {**good, "secauth_roles": '["reader"]'},
                           kind="http_v2")  # fmt: skip
    assert call(handler, demoted)["statusCode"] == 403
    broken = with_context(http_v2(), {**good, "secauth_roles": "admin"}, kind="http_v2")
    for _ in range(2):
        assert call(handler, broken)["statusCode"] == 401
    listed = with_context(http_v2(), {**good, "secauth_roles": ["admin"]}, kind="http_v2")
    assert call(handler, listed)["statusCode"] == 401  # a list is not the string contract
    for i in range(1100):
        other = Principal(f"user{i}", roles={"reader"}).to_context()
        response = handler(with_context(http_v2(), other, kind="http_v2"), None)
        assert json.loads(response["body"])["id"] == f"user{i}"
    assert len(guard.caller_identifier.principals) <= 1024
    assert json.loads(call(handler, event)["body"])["id"] == "alice"


def test_check_gives_preflights_no_pass() -> None:
    """Guard.check (for integrations): every check runs, and an OPTIONS preflight is not
    an anonymous pass to the business logic."""
    guard = Guard(VERIFIER, routes=ROUTES, cors=CORS, decision_log=None)
    request, principal = guard.check(rest_v1(authorization=bearer(token(**ALICE))))
    assert (request.method, principal.id) == ("GET", "alice")
    preflight = rest_v1("OPTIONS", "/orders/7", headers=PREFLIGHT)
    with pytest.raises(MissingToken):
        guard.check(preflight)
    with pytest.raises(AccessDenied):
        guard.check(rest_v1("DELETE", authorization=bearer(token("bob", roles=["reader"]))))


def test_one_acting_as_block_cannot_be_entered_twice() -> None:
    from secauth.guard import acting_as

    block = acting_as(Principal("x"))
    with block, pytest.raises(RuntimeError), block:
        pass
    with pytest.raises(MissingToken):
        current_principal()
