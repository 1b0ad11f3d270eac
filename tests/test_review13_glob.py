"""Review 13: ``secauth.policy.glob.matches`` after 0b696a5 (pieces between ``*`` placed
with str.startswith/find) against an independent oracle, and ``intersects`` against brute
force in both directions.

The oracle is a dynamic program over pattern positions (not ``re``: a regex of many
``.*`` backtracks exponentially on long texts, so it cannot check the many-star cases).
"""

from __future__ import annotations

import itertools
import random
import re

import pytest

from secauth.policy.glob import intersects, matches

ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/"


def oracle(pattern: str, text: str) -> bool:
    """IAM glob by the textbook DP: ``*`` any run, ``?`` one character, else itself."""
    size = len(pattern)

    def close(row: list[bool]) -> list[bool]:
        for i in range(size):
            if pattern[i] == "*" and row[i]:
                row[i + 1] = True
        return row

    row = close([True] + [False] * size)
    for char in text:
        following = [False] * (size + 1)
        for i in range(size):
            if row[i]:
                token = pattern[i]
                if token == "*":
                    following[i] = True
                elif token in ("?", char):
                    following[i + 1] = True
        row = close(following)
    return row[size]


def regex_oracle(pattern: str, text: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


def words(alphabet: str, longest: int) -> list[str]:
    return ["".join(w) for n in range(longest + 1) for w in itertools.product(alphabet, repeat=n)]


def test_exhaustive_small_alphabet() -> None:
    """Every pattern of up to 5 over ``ab*?`` against every text of up to 7 over ``ab``
    (offline the same held for patterns up to 7 and texts up to 8: 11.2M pairs)."""
    texts = words("ab", 7)
    for pattern in words("ab*?", 5):
        for text in texts:
            assert matches(pattern, text) is oracle(pattern, text), (pattern, text)


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("a\n*", "a\n\nb"),  # newlines are ordinary characters
        ("?", "\n"),
        ("*\n", "x\n"),
        ("?", "\ud800"),  # a lone surrogate is one character
        ("\ud800*\udfff", "\ud800x\udfff"),
        ("\U0001f600?", "\U0001f600x"),  # astral: one code point, one '?'
        ("??", "\U0001f600"),
        ("e?", "e\u0301"),  # a combining mark is its own character, no normalization
        ("\u00e9", "e\u0301"),
        ("?", "e\u0301"),
        ("*\u0301", "e\u0301"),
        ("ß", "ss"),  # no case folding
        ("ss", "ß"),
        ("ẞ", "ß"),
        ("K", "\u212a"),  # KELVIN SIGN is not K
        ("i", "İ"),
        ("\u0131", "i"),
        ("GET/A*", "GET/a1"),
        ("a\uff0a", "ab"),  # fullwidth asterisk and question mark are literal
        ("a\uff1f", "ab"),
        ("a\uff0a", "a\uff0a"),
        ("?", "*"),  # wildcards in the text are literal
        ("a*", "a?"),
        ("a", "*"),
        ("a?b", "a*b"),
        ("\x00*", "\x00"),
        ("*\u2028*", "a\u2028b"),
        ("abc", "ab"),  # pattern longer than the text
        ("abc*", "ab"),
        ("a*bc*d", "abcd"),
        ("ab*ba", "aba"),  # first and last may not overlap
        ("*aba*aba*", "ababa"),  # middle pieces may not overlap
        ("*aba*aba*", "abaaba"),
        ("*?a?*?a?*", "xaxxax"),
        ("*?a?*?a?*", "xaxax"),
        ("a**?**b", "ab"),
        ("a**?**b", "axb"),
        ("*?*?*?*", "ab"),
        ("*?*?*?*", "abc"),
        ("?*", ""),
        ("*?", "x"),
        ("**", ""),
    ],
)
def test_unicode_newlines_and_shapes(pattern: str, text: str) -> None:
    assert matches(pattern, text) is oracle(pattern, text) is regex_oracle(pattern, text)


def _derived(rng: random.Random, text: str, alphabet: str) -> str:
    """A pattern made from ``text`` by edits, so that it often (not always) matches."""
    chars = list(text)
    for _ in range(rng.randint(0, 10)):
        if not chars:
            chars = ["*"]
        j = rng.randrange(len(chars))
        roll = rng.random()
        if roll < 0.35:
            chars[j : j + rng.randint(0, 8)] = ["*"]
        elif roll < 0.65:
            chars[j] = "?"
        elif roll < 0.8:
            chars.insert(j, "*" * rng.randint(1, 3))
        else:
            chars[j] = rng.choice(alphabet)
    return "".join(chars)


def test_long_texts_many_stars_random() -> None:
    rng = random.Random(13)
    for _ in range(1500):
        alphabet = rng.choice(["a", "ab", "ab/:", "a\n\u0301\ud800"])
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        pattern = _derived(rng, text, alphabet)
        assert matches(pattern, text) is oracle(pattern, text), (pattern, text)


def test_arn_shaped_random() -> None:
    rng = random.Random(1313)
    segments = ["users", "u", "s", "a:b", "x", "", "orders", "ab", "ba"]
    for _ in range(1500):
        verb = rng.choice(["GET", "POST", "DELETE"])
        path = "/".join(rng.choice(segments) for _ in range(rng.randint(0, 8)))
        text = ARN + verb + "/" + path
        pattern = _derived(rng, text, "/:aus")
        assert matches(pattern, text) is oracle(pattern, text), (pattern, text)


def test_intersects_agrees_with_brute_force_both_ways() -> None:
    """A shortest common witness of two patterns over ``ab*?`` uses only ``a``/``b`` and is
    at most len(left) + len(right) long, so texts up to 8 over ``ab`` decide patterns up to
    4 exactly (offline: patterns up to 5, texts up to 10, 1.86M pairs, all agree)."""
    texts = words("ab", 8)
    patterns = words("ab*?", 4)
    sets = {p: frozenset(t for t in texts if matches(p, t)) for p in patterns}
    for left in patterns:
        for right in patterns:
            assert intersects(left, right) is bool(sets[left] & sets[right]), (left, right)


def test_long_method_arns_against_planned_and_user_patterns() -> None:
    """The review's timing inputs, checked for their answers (speed is measured in
    benchmarks, not tests): route-table patterns (no ``?``) and a user Deny with a ``?``
    piece, on method ARNs of about 1600 characters."""
    text = ARN + "GET/t/" + "x/" * 760
    for pattern in (ARN + "GET/t/*/x/*/y/*", ARN + "GET/*" + "a" * 255 + "b" + "a" * 255 + "*"):
        assert matches(pattern, text) is oracle(pattern, text) is False
    assert matches(ARN + "GET/t/*/x/*", text) is oracle(ARN + "GET/t/*/x/*", text) is True
    admins = ARN + "GET/" + ("/admin" * 300)[:1530]
    for pattern in (ARN + "*/admin?/*", ARN + "*/admin/*", ARN + "*/ad?in/adm?n/*"):
        assert matches(pattern, admins) is oracle(pattern, admins), pattern
