"""The API key rules: what an ``ApiKeyEntry`` may hold, and which plain keys are loaded.

An entry's ``rate_limit`` is checked with the rate limiter's own parser when the entry
is built. A plain key is 20 (``MIN_API_KEY_LENGTH``) to 256 printable ASCII characters
without a space at either end; ``entries()``, ``DynamoDBApiKeys.item`` and
``SecretsManagerApiKeys.secret_string`` refuse other keys with a ConfigurationError
that names the rule and the entry, never the key. A presented key loses the spaces and
tabs around it, and nothing else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from secauth.api_keys import (
    MAX_API_KEY_LENGTH,
    MIN_API_KEY_LENGTH,
    ApiKeyEntry,
    api_key_problem,
    entries,
    hash_api_key,
    read_api_key,
)
from secauth.dynamodb_api_keys import DynamoDBApiKeys
from secauth.errors import ConfigurationError, MalformedToken, MissingToken, Reason
from secauth.ratelimit import Limit
from secauth.secretsmanager_api_keys import SecretsManagerApiKeys

ENTRY = ApiKeyEntry("partner-a", roles=("reader",))
GOOD_KEY = "pk-live-0123456789abcdefghij"

LOADERS: dict[str, Callable[[str, ApiKeyEntry], object]] = {
    "entries": lambda key, entry: entries([(key, entry)]),
    "DynamoDBApiKeys.item": DynamoDBApiKeys.item,
    "SecretsManagerApiKeys.secret_string": lambda key, entry: SecretsManagerApiKeys.secret_string(
        [(key, entry)]
    ),
}

# (key, a fragment of the rule the ConfigurationError names)
BAD_KEYS = [
    ("k" * (MIN_API_KEY_LENGTH - 1), "at least 20 characters (MIN_API_KEY_LENGTH)"),
    ("", "at least 20 characters"),
    ("k" * (MAX_API_KEY_LENGTH + 1), "at most 256 characters (MAX_API_KEY_LENGTH)"),
    ("k" * 24 + "\u00e9", "printable ASCII"),
    ("k" * 24 + "\u00a0", "printable ASCII"),
    ("k" * 12 + "\x1c" + "k" * 12, "printable ASCII"),
    ("k" * 12 + "\t" + "k" * 12, "printable ASCII"),
    ("k" * 12 + "\n" + "k" * 12, "printable ASCII"),
    (" " + "k" * 24, "start or end with a space"),
    ("k" * 24 + " ", "start or end with a space"),
]


# --- entries -----------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["100/minute", "5/10s", "10 per 2 minutes", "1/day"])
def test_an_entry_takes_every_limit_the_rate_limiter_parses(limit: str) -> None:
    entry = ApiKeyEntry("partner-a", rate_limit=limit)
    assert entry.rate_limit == limit
    assert Limit.parse(limit)  # the same grammar


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("5 per fortnight", "unknown time unit 'fortnight'"),
        ("100", "write '<count>/<period>'"),
        ("0/minute", "the count must be at least 1"),
        ("", "write '<count>/<period>'"),
        (100, "a rate limit is a string"),
    ],
)
def test_an_entry_with_a_bad_limit_is_refused_when_built(limit: Any, message: str) -> None:
    """The error names the entry and what is wrong with the limit."""
    with pytest.raises(ConfigurationError) as exc:
        ApiKeyEntry("partner-a", rate_limit=limit)
    assert exc.value.reason is Reason.CONFIGURATION_ERROR
    assert "ApiKeyEntry 'partner-a'" in str(exc.value)
    assert message in str(exc.value)


def test_entries_stay_immutable_and_are_checked_when_replaced() -> None:
    entry = ApiKeyEntry("partner-a", roles=("reader",), rate_limit="100/minute")
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.rate_limit = "5 per fortnight"  # type: ignore[misc]
    with pytest.raises(ConfigurationError, match="fortnight"):
        dataclasses.replace(entry, rate_limit="5 per fortnight")
    assert dataclasses.replace(entry, rate_limit="1/second").rate_limit == "1/second"
    assert entry == ApiKeyEntry("partner-a", roles=("reader",), rate_limit="100/minute")
    assert len({entry, ApiKeyEntry("partner-a", roles=("reader",), rate_limit="100/minute")}) == 1
    principal = entry.principal()
    assert (principal.id, principal.kind, principal.roles) == (
        "partner-a",
        "api_key",
        frozenset({"reader"}),
    )


# --- plain keys, where they are loaded ----------------------------------------------------


@pytest.mark.parametrize("loader", sorted(LOADERS))
@pytest.mark.parametrize(("key", "rule"), BAD_KEYS)
def test_keys_no_client_could_present_are_refused_when_loaded(
    loader: str, key: str, rule: str
) -> None:
    """A ConfigurationError that names the rule and the entry, never the key."""
    with pytest.raises(ConfigurationError) as exc:
        LOADERS[loader](key, ENTRY)
    message = str(exc.value)
    assert rule in message
    assert "'partner-a'" in message
    if key.strip():
        assert key.strip() not in message


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_the_shortest_and_longest_keys_load(loader: str) -> None:
    for key in ("k" * MIN_API_KEY_LENGTH, "~" * MAX_API_KEY_LENGTH, "a b" * 10):
        assert hash_api_key(key) in str(LOADERS[loader](key, ENTRY))


def test_the_rule_is_one_function() -> None:
    assert api_key_problem(GOOD_KEY) is None
    assert api_key_problem(b"k" * 32) == "an API key is a string"
    for key, rule in BAD_KEYS:
        problem = api_key_problem(key)
        assert problem is not None
        assert rule in problem


# --- presented keys -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", [GOOD_KEY, " " + GOOD_KEY, GOOD_KEY + "\t", " \t " + GOOD_KEY + "\t "]
)
def test_a_presented_key_loses_only_spaces_and_tabs_around_it(header: str) -> None:
    assert read_api_key({"x-api-key": header}, "x-api-key") == GOOD_KEY


@pytest.mark.parametrize("around", ["\u00a0", "\u3000", "\u2003", "\x1c", "\x1f", "\r", "\n"])
def test_other_whitespace_around_a_presented_key_makes_it_malformed(around: str) -> None:
    for header in (around + GOOD_KEY, GOOD_KEY + around):
        with pytest.raises(MalformedToken) as exc:
            read_api_key({"x-api-key": header}, "x-api-key")
        assert GOOD_KEY not in repr(exc.value.detail)


@pytest.mark.parametrize("header", [" ", "\t \t", ""])
def test_a_blank_key_header_is_a_missing_key(header: str) -> None:
    with pytest.raises(MissingToken):
        read_api_key({"x-api-key": header}, "x-api-key")
    with pytest.raises(MissingToken):
        read_api_key({}, "x-api-key")


def test_a_presented_non_ascii_key_is_malformed() -> None:
    with pytest.raises(MalformedToken) as exc:
        read_api_key({"x-api-key": "pk-live-\u0440123456789abcdefghij"}, "x-api-key")
    assert "printable ASCII" in exc.value.detail["problem"]
