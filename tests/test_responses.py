"""Tests of ``secauth.responses``: problem bodies, statuses and challenges per error class,
response shapes per event kind, security headers and CORS rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secauth import errors
from secauth.errors import (
    AbuseBlocked,
    ConfigurationError,
    KeysUnavailable,
    MethodNotAllowed,
    RateLimited,
    SecAuthError,
    TokenExpired,
)
from secauth.events import EventKind
from secauth.responses import (
    PROBLEM_JSON,
    Cors,
    SecurityHeaders,
    error_response,
    http_response,
    problem,
)

BACKEND_KINDS = [EventKind.REST_V1, EventKind.HTTP_V2, EventKind.FUNCTION_URL, EventKind.ALB]
ERROR_CLASSES = sorted(
    (
        cls
        for name in errors.__all__
        if isinstance(cls := getattr(errors, name), type) and issubclass(cls, SecAuthError)
    ),
    key=lambda c: c.__name__,
)
# class name -> (status, WWW-Authenticate or None)
EXPECTED: dict[str, tuple[int, str | None]] = {
    "AbuseBlocked": (429, None),
    "AccessDenied": (403, 'Bearer error="insufficient_scope", error_description="forbidden"'),
    "AmbiguousCredentials": (
        401,
        'Bearer error="invalid_request", error_description="credentials presented more than once"',
    ),
    "BadRequest": (400, None),
    "ConfigurationError": (500, None),
    "Forbidden": (403, 'Bearer error="insufficient_scope", error_description="forbidden"'),
    "InsufficientScope": (
        403, 'Bearer error="insufficient_scope", error_description="insufficient scope"'
    ),
    "InternalError": (500, None),
    "InvalidFields": (400, None),
    "InvalidMethodArn": (400, None),
    "KeyImportError": (500, None),
    "UnsupportedEvent": (400, None),
    "InvalidAudience": (
        401, 'Bearer error="invalid_token", error_description="invalid token audience"'
    ),
    "InvalidClaims": (401, 'Bearer error="invalid_token", error_description="invalid token claims"'),
    "InvalidIssuer": (401, 'Bearer error="invalid_token", error_description="invalid token issuer"'),
    "InvalidSignature": (
        401, 'Bearer error="invalid_token", error_description="invalid token signature"'
    ),
    "KeysUnavailable": (503, None),
    "MalformedToken": (401, 'Bearer error="invalid_token", error_description="malformed token"'),
    "MethodNotAllowed": (405, None),
    "MissingAuthorizerContext": (401, "Bearer"),
    "MissingToken": (401, "Bearer"),
    "UnsupportedScheme": (401, "Bearer"),
    "NotFound": (404, None),
    "PayloadTooLarge": (413, None),
    "RateLimited": (429, None),
    "RequestRejected": (400, None),
    "SecAuthError": (403, None),
    "TenantMismatch": (403, 'Bearer error="insufficient_scope", error_description="forbidden"'),
    "UnknownPlan": (
        403,
        'Bearer error="insufficient_scope", error_description="no usage plan for this caller"',
    ),
    "TokenError": (401, 'Bearer error="invalid_token", error_description="invalid token"'),
    "TokenExpired": (401, 'Bearer error="invalid_token", error_description="token expired"'),
    "TokenRevoked": (401, 'Bearer error="invalid_token", error_description="token revoked"'),
    "TokenNotYetValid": (
        401, 'Bearer error="invalid_token", error_description="token not yet valid"'
    ),
    "UnknownKey": (
        401, 'Bearer error="invalid_token", error_description="token signed with an unknown key"'
    ),
    "UnsupportedMediaType": (415, None),
    "SenderConstraintError": (
        401, 'Bearer error="invalid_token", error_description="token not bound to this sender"'
    ),
    "CertificateMismatch": (
        401, 'Bearer error="invalid_token", error_description="token bound to another certificate"'
    ),
    "MissingClientCertificate": (
        401, 'Bearer error="invalid_token", error_description="client certificate required"'
    ),
    "InvalidDpopProof": (
        401, 'DPoP error="invalid_dpop_proof", error_description="invalid DPoP proof"'
    ),
    "DpopProofReplayed": (
        401, 'DPoP error="invalid_dpop_proof", error_description="DPoP proof already used"'
    ),
    "DpopNonceRequired": (
        401, 'DPoP error="use_dpop_nonce", error_description="DPoP nonce required"'
    ),
}  # fmt: skip


def test_every_error_class_is_covered() -> None:
    """A new error class must get its expected status and challenge here."""
    assert {c.__name__ for c in ERROR_CLASSES} == set(EXPECTED)


@pytest.mark.parametrize("kind", BACKEND_KINDS, ids=lambda k: k.value)
@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_error_response_status_headers_and_body(cls: type[SecAuthError], kind: EventKind) -> None:
    """Each error class: its status, its RFC 6750 challenge, Retry-After where due, and a
    problem body of exactly type, title, status and request_id."""
    status, challenge = EXPECTED[cls.__name__]
    error = cls()
    response = error_response(error, kind, request_id="req-1", headers={"X-Extra": "1"})
    headers: dict[str, str] = {"X-Extra": "1", "Content-Type": PROBLEM_JSON}
    if challenge is not None:
        headers["WWW-Authenticate"] = challenge
    if status == 429:
        headers["Retry-After"] = "1"
    if status == 503:
        headers["Retry-After"] = "5"
    assert response["statusCode"] == status
    assert response["headers"] == headers
    assert response["isBase64Encoded"] is False
    assert json.loads(response["body"]) == {
        "type": "about:blank",  # RFC 9457's default: no problem_type_base configured
        "title": cls.default_message,
        "status": status,
        "request_id": "req-1",
    }
    typed = error_response(error, kind, problem_type_base="https://errors.example.com/p/")
    assert json.loads(typed["body"])["type"] == f"https://errors.example.com/p/{error.reason.value}"
    if kind is EventKind.ALB:
        assert response["statusDescription"].startswith(f"{status} ")
    else:
        assert "statusDescription" not in response


def test_problem_without_request_id() -> None:
    assert problem(404, "not found", reason="not_found", request_id=None) == {
        "type": "about:blank", "title": "not found", "status": 404
    }  # fmt: skip


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [(0.0, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2"), (2.5, "3"), (59.9999, "60"), (3600.0, "3600")],
)
def test_retry_after_is_whole_seconds_rounded_up(retry_after: float, header: str) -> None:
    for cls in (RateLimited, AbuseBlocked):
        response = error_response(cls(retry_after=retry_after), EventKind.HTTP_V2)
        assert response["headers"]["Retry-After"] == header


def test_405_lists_the_allowed_methods() -> None:
    error = MethodNotAllowed(detail={"allowed": ["DELETE", "GET"]})
    assert error_response(error, EventKind.REST_V1)["headers"]["Allow"] == "DELETE, GET"
    weird = MethodNotAllowed(detail={"allowed": "GET\r\nX: y"})
    assert "Allow" not in error_response(weird, EventKind.REST_V1)["headers"]


@settings(max_examples=150, deadline=None)
@given(message=st.text(), cls=st.sampled_from(ERROR_CLASSES))
def test_a_raise_time_message_never_reaches_the_response(message: str, cls: type[SecAuthError]) -> None:
    """Whatever text an error was raised with, the body and headers hold only fixed texts."""
    marker = "Zq8-" + message
    response = error_response(cls(marker), EventKind.HTTP_V2, request_id="r")
    assert "Zq8-" not in json.dumps(response)
    for value in response["headers"].values():
        assert all(" " <= ch <= "~" for ch in value)


@pytest.mark.parametrize("status", [200, 204, 400, 401, 403, 404, 405, 413, 415, 429, 500, 503])
def test_http_response_shapes(status: int) -> None:
    """Every kind's proxy response; ALB adds statusDescription; multi-value headers as lists."""
    for kind in BACKEND_KINDS:
        response = http_response(status, {"a": 1}, kind, headers={"H": "v"})
        expected: dict[str, Any] = {"statusCode": status, "headers": {"H": "v"},
                                    "body": '{"a":1}', "isBase64Encoded": False}  # fmt: skip
        if kind is EventKind.ALB:
            expected["statusDescription"] = {
                200: "200 OK", 204: "204 No Content", 400: "400 Bad Request",
                401: "401 Unauthorized", 403: "403 Forbidden", 404: "404 Not Found",
                405: "405 Method Not Allowed", 413: "413 Payload Too Large",
                415: "415 Unsupported Media Type", 429: "429 Too Many Requests",
                500: "500 Internal Server Error", 503: "503 Service Unavailable",
            }[status]  # fmt: skip
        assert response == expected
    multi = http_response(status, "text", EventKind.ALB, headers={"H": "v"}, multi_value=True)
    assert multi["multiValueHeaders"] == {"H": ["v"]}
    assert "headers" not in multi
    assert multi["body"] == "text"


def test_security_headers_defaults_and_options() -> None:
    assert SecurityHeaders().headers() == {
        "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Content-Security-Policy": "frame-ancestors 'none'",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }
    none = SecurityHeaders(
        strict_transport_security=None, content_type_options=None, cache_control=None,
        content_security_policy=None, frame_options=None, referrer_policy=None,
    )  # fmt: skip
    assert none.headers() == {}
    custom = SecurityHeaders(cache_control="private, max-age=0", extra={"X-Robots-Tag": "none"})
    assert custom.headers()["Cache-Control"] == "private, max-age=0"
    assert custom.headers()["X-Robots-Tag"] == "none"
    headers = custom.headers()
    headers["Cache-Control"] = "changed"
    assert custom.headers()["Cache-Control"] == "private, max-age=0"  # a copy each time
    for bad in ({"referrer_policy": "a\nb"}, {"extra": {"X-A": "b\r\nSet-Cookie: c=d"}}):
        with pytest.raises(ConfigurationError, match="one line"):
            SecurityHeaders(**bad)  # type: ignore[arg-type]


APP = "https://app.example.com"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"allow_origins": []}, "allow_origins"),
        ({"allow_origins": ["*"], "allow_credentials": True}, "credentials"),
        ({"allow_origins": ["*", APP]}, "other origins"),
        ({"allow_origins": [APP + "/"]}, "no path"),
        ({"allow_origins": ["app.example.com"]}, "no path"),
    ],
)
def test_cors_configuration_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        Cors(**kwargs)


def test_cors_origin_matching_is_exact() -> None:
    cors = Cors(allow_origins=[APP, "http://localhost:3000"])
    assert cors.allowed_origin(APP) == APP
    assert cors.allowed_origin("http://localhost:3000") == "http://localhost:3000"
    for other in (None, "", "null", "https://APP.example.com", APP + ".evil.example",
                  "https://evil.example", "http://app.example.com", APP + ":443"):  # fmt: skip
        assert cors.allowed_origin(other) is None, other
    assert cors.headers({"origin": "https://evil.example"}) == {"Vary": "Origin"}
    assert cors.headers({"origin": APP}) == {"Access-Control-Allow-Origin": APP, "Vary": "Origin"}


def test_cors_preflight_rules() -> None:
    cors = Cors(allow_origins=[APP], allow_methods=["get", "POST"], allow_headers=["Authorization"],
                max_age=60)  # fmt: skip
    base = {"origin": APP, "access-control-request-method": "post"}
    assert cors.preflight(base) == {
        "Access-Control-Allow-Origin": APP, "Vary": "Origin",
        "Access-Control-Allow-Methods": "GET, POST", "Access-Control-Allow-Headers": "authorization",
        "Access-Control-Max-Age": "60",
    }  # fmt: skip
    assert cors.preflight({**base, "access-control-request-headers": " Authorization , "}) is not None
    assert cors.preflight({**base, "access-control-request-headers": "authorization, x-a"}) is None
    assert cors.preflight({**base, "access-control-request-method": "DELETE"}) is None
    assert cors.preflight({"access-control-request-method": "GET"}) is None  # no origin
    assert cors.preflight({"origin": APP}) is None  # no method asked


def test_error_response_keeps_the_given_headers_but_not_their_content_type() -> None:
    response = error_response(TokenExpired(), EventKind.REST_V1, headers={"Content-Type": "x/y"})
    assert response["headers"]["Content-Type"] == PROBLEM_JSON
    assert error_response(KeysUnavailable(), EventKind.REST_V1, multi_value=True)[
        "multiValueHeaders"
    ]["Retry-After"] == ["5"]
