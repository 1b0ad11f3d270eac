"""A per-IP rate limit on an Authorizer meets events without a source IP (REST TOKEN
authorizers): every such request is refused as a configuration error, with one warning,
instead of every caller sharing one "unknown" bucket where one caller's burst denies all.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from secauth import Authorizer, JwtVerifier, RateLimiter
from secauth.policy import Unauthorized
from secauth.testing import KeyPair

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/orders"
PAIR = KeyPair.generate("ES256", kid="k1")
VERIFIER = JwtVerifier(issuer="https://idp/", audience="api", jwks={"keys": [PAIR.public_jwk]})


def _token(sub: str) -> str:
    return PAIR.sign({"iss": "https://idp/", "aud": "api", "sub": sub, "exp": 4e9})


def _token_event(sub: str) -> dict[str, Any]:
    return {"type": "TOKEN", "authorizationToken": f"Bearer {_token(sub)}", "methodArn": ARN}


def _request_event(sub: str, ip: str) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": ARN,
        "resource": "/orders",
        "path": "/orders",
        "httpMethod": "GET",
        "headers": {"Authorization": f"Bearer {_token(sub)}"},
        "requestContext": {"requestId": "r-1", "identity": {"sourceIp": ip}},
    }


def _effect(response: dict[str, Any]) -> str:
    return str(response["policyDocument"]["Statement"][0]["Effect"])


def test_token_events_under_a_per_ip_limit_are_refused_not_pooled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before: ann's two requests used up the "unknown" bucket and bob was rate limited.
    Now every TOKEN request is a 401 with reason configuration_error (bob's too, so no
    caller can deny another), the record says why, and one warning is logged."""
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(
        VERIFIER, rate_limit=RateLimiter.per_ip("2/minute"), on_decision=records.append
    )
    with caplog.at_level(logging.WARNING, logger="secauth.ratelimit"):
        for sub in ("ann", "ann", "ann", "bob"):
            with pytest.raises(Unauthorized):
                authorizer.handler(_token_event(sub))
    assert [r["reason"] for r in records] == ["configuration_error"] * 4
    assert records[0]["detail"] == {"problem": "no client IP", "event": "token_authorizer"}
    warnings = [r for r in caplog.records if r.name == "secauth.ratelimit"]
    assert len(warnings) == 1
    assert "REST TOKEN authorizer" in warnings[0].getMessage()


def test_request_events_are_limited_per_source_ip() -> None:
    """The same limiter on a REQUEST authorizer counts each source IP on its own."""
    authorizer = Authorizer(VERIFIER, rate_limit=RateLimiter.per_ip("2/minute"))
    first = [_effect(authorizer.handler(_request_event("ann", "203.0.113.9"))) for _ in range(3)]
    assert first == ["Allow", "Allow", "Deny"]
    assert _effect(authorizer.handler(_request_event("bob", "198.51.100.7"))) == "Allow"
