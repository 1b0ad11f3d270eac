"""Per-API-key rate limits (``ApiKeyEntry.rate_limit``) are enforced by the Authorizer."""

from __future__ import annotations

from typing import Any

import pytest

from secauth import Authorizer, ConfigurationError, Routes, StaticApiKeys, authenticated
from secauth.credentials import ApiKeyEntry, hash_api_key

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/orders"
LIMITED_KEY = "limited-key-0123456789abcdef"
FREE_KEY = "unlimited-key-0123456789abcd"


def _event(key: str) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": ARN,
        "resource": "/orders",
        "path": "/orders",
        "httpMethod": "GET",
        "headers": {"x-api-key": key},
        "requestContext": {"requestId": "r-1", "identity": {"sourceIp": "203.0.113.9"}},
    }


def _keys() -> StaticApiKeys:
    return StaticApiKeys(
        {
            hash_api_key(LIMITED_KEY): ApiKeyEntry("partner-a", rate_limit="2/minute"),
            hash_api_key(FREE_KEY): ApiKeyEntry("partner-b"),
        }
    )


def _effect(response: dict[str, Any]) -> str:
    return str(response["policyDocument"]["Statement"][0]["Effect"])


def test_a_key_with_its_own_limit_is_denied_past_it_and_others_are_not() -> None:
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(
        api_keys=_keys(),
        routes=Routes({"GET /orders": authenticated()}),
        on_decision=records.append,
    )
    effects = [_effect(authorizer.handler(_event(LIMITED_KEY))) for _ in range(3)]
    assert effects == ["Allow", "Allow", "Deny"]
    assert records[-1]["reason"] == "rate_limited"
    assert [_effect(authorizer.handler(_event(FREE_KEY))) for _ in range(5)] == ["Allow"] * 5
    assert all(LIMITED_KEY not in str(r) for r in records)


def test_per_key_limits_with_cached_answers_are_refused_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="cache_ttl=0"):
        Authorizer(api_keys=_keys(), routes=Routes({"GET /orders": authenticated()}), cache_ttl=300)
