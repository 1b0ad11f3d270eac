"""IAM Resource wildcards: ``matches`` against an independent regular-expression oracle.

``*`` matches any run of characters (``/`` included), ``?`` exactly one, everything else
itself. The oracle translates a pattern to a regular expression; ``matches`` splits it
on ``*`` and places the fixed-length pieces, so the two share no code.
"""

from __future__ import annotations

import random
import re

import pytest

from secauth.policy import PolicyDocument
from secauth.policy.glob import document_allows, intersects, matches


def oracle(pattern: str, text: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("", "", True),
        ("", "a", False),
        ("*", "", True),
        ("**", "abc", True),
        ("a*", "a", True),
        ("*a", "a", True),
        ("a*a", "a", False),  # the first and the last piece may not overlap
        ("a*a", "aa", True),
        ("ab*ba", "aba", False),
        ("?", "", False),
        ("?", "x", True),
        ("a?c", "abc", True),
        ("a?c", "ac", False),
        ("*?*", "", False),
        ("*??x*?", "abxc", True),
        ("GET/*/acme/*", "GET/eu/acme/files/1", True),
        ("GET/*/acme/*", "GET/acme/x", False),
        ("GET/users/*/*", "GET/users/7", False),
        ("GET/users/*/*", "GET/users/a:b/x", True),
        ("*/?*/", "GET/a/", True),
        ("*/?*/", "GET/", False),
        ("x*y?z*", "xaaybzq", True),
        ("x*y?z", "xyyzz", True),
    ],
)
def test_matches_edge_cases(pattern: str, text: str, expected: bool) -> None:
    assert oracle(pattern, text) is expected  # the table itself is right
    assert matches(pattern, text) is expected


def test_matches_agrees_with_the_oracle_on_random_patterns() -> None:
    rng = random.Random(20261205)
    alphabet = "ab/:"
    for _ in range(20_000):
        pattern = "".join(rng.choice(alphabet + "*?") for _ in range(rng.randint(0, 7)))
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9)))
        assert matches(pattern, text) is oracle(pattern, text), (pattern, text)


def test_a_text_with_regex_characters_is_matched_literally() -> None:
    assert matches("GET/a.b/*", "GET/a.b/c")
    assert not matches("GET/a.b/*", "GET/axb/c")
    assert matches("GET/(x)+/$", "GET/(x)+/$")


def test_document_allows_needs_an_allow_and_no_deny() -> None:
    arn = "arn:aws:execute-api:us-east-1:1:api/prod/"
    doc = PolicyDocument().allow(arn + "GET/*").deny(arn + "GET/*/secret", arn + "*:*")
    assert document_allows(doc, arn + "GET/users/7")
    assert not document_allows(doc, arn + "GET/users/secret")
    assert not document_allows(doc, arn + "GET/users/a:b")
    assert not document_allows(doc, arn + "POST/users/7")


def test_intersects_is_unchanged_by_the_new_matcher() -> None:
    """A string two patterns both match exists exactly when intersects says so (small
    alphabet, checked by enumerating the texts up to a length)."""
    rng = random.Random(7)
    texts = [""] + [
        "".join(rng.choice("ab") for _ in range(length))
        for length in range(1, 7)
        for _ in range(40)
    ]
    for _ in range(400):
        left = "".join(rng.choice("ab*?") for _ in range(rng.randint(0, 4)))
        right = "".join(rng.choice("ab*?") for _ in range(rng.randint(0, 4)))
        witness = any(matches(left, t) and matches(right, t) for t in texts)
        if witness:
            assert intersects(left, right), (left, right)
