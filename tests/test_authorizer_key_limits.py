"""Per-API-key rate limits (``ApiKeyEntry.rate_limit``) are enforced by the Authorizer."""

from __future__ import annotations

from typing import Any

import pytest

from secauth import Authorizer, ConfigurationError, Routes, StaticApiKeys, authenticated
from secauth.credentials import ApiKeyEntry, hash_api_key
from secauth.policy import Unauthorized

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


# Spellings of LIMITED_KEY that str.strip() reduced to the key: Unicode whitespace and the
# information separators, around it; and the space and tab that a header may carry.
UNICODE_VARIANTS = [
    "\u00a0" + LIMITED_KEY,  # no-break space
    LIMITED_KEY + "\u3000",  # ideographic space
    "\u2003" + LIMITED_KEY + "\u2003",  # em space
    "\x1c" + LIMITED_KEY,  # file separator
    LIMITED_KEY + "\x1f",  # unit separator
]
SPACE_TAB_VARIANTS = [" " + LIMITED_KEY, LIMITED_KEY + "\t", " \t" + LIMITED_KEY + " "]


def _outcome(authorizer: Authorizer, key: str) -> str:
    try:
        return _effect(authorizer.handler(_event(key)))
    except Unauthorized:
        return "401"


def test_whitespace_spellings_of_a_limited_key_get_no_fresh_bucket() -> None:
    """Once the key's limit is hit, no spelling of it passes. Before: the key lookup
    stripped Unicode whitespace while the limiter hashed the raw header, so each of these
    five spellings found the partner's entry and got a bucket of its own (Allow)."""
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(
        api_keys=_keys(),
        routes=Routes({"GET /orders": authenticated()}),
        on_decision=records.append,
    )
    assert [_outcome(authorizer, LIMITED_KEY) for _ in range(3)] == ["Allow", "Allow", "Deny"]
    # Unicode whitespace and control characters are not stripped: such a key is malformed
    assert [_outcome(authorizer, v) for v in UNICODE_VARIANTS] == ["401"] * 5
    assert [r["reason"] for r in records[3:]] == ["malformed_token"] * 5
    # spaces and tabs are, and the limiter counts the entry the key resolved to
    assert [_outcome(authorizer, v) for v in SPACE_TAB_VARIANTS] == ["Deny"] * 3
    assert [r["reason"] for r in records[8:]] == ["rate_limited"] * 3
    assert all(LIMITED_KEY not in str(r) for r in records)


def test_space_and_tab_spellings_share_the_keys_budget() -> None:
    """With budget left, the stripped spellings are the same key: they spend one budget."""
    authorizer = Authorizer(api_keys=_keys(), routes=Routes({"GET /orders": authenticated()}))
    outcomes = [_outcome(authorizer, key) for key in (" " + LIMITED_KEY, LIMITED_KEY + "\t")]
    assert outcomes == ["Allow", "Allow"]
    assert _outcome(authorizer, LIMITED_KEY) == "Deny"


def test_a_bad_limit_on_an_entry_is_refused_when_the_entry_is_built() -> None:
    """Before: ApiKeyEntry(rate_limit="5 per fortnight") was accepted, and then every
    request of that partner was a 401 configuration_error."""
    with pytest.raises(ConfigurationError, match="unknown time unit 'fortnight'"):
        ApiKeyEntry("partner-a", rate_limit="5 per fortnight")
