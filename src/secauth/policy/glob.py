"""IAM's wildcard matching of Resource patterns: ``*`` matches any run of characters,
``/`` included, ``?`` exactly one character, everything else itself (case-sensitive).

>>> matches("arn:x/GET/users/*", "arn:x/GET/users/7/secrets")
True
>>> intersects("GET/*/acme/*", "GET/admin/*"), intersects("GET/a/*", "GET/b/*")
(True, False)
"""

from __future__ import annotations

from collections.abc import Iterable

from secauth.policy.document import PolicyDocument

__all__ = ["document_allows", "intersects", "matches"]


def _closure(pattern: str, states: Iterable[int]) -> frozenset[int]:
    """``states`` plus every position reachable by letting a ``*`` match nothing."""
    out = set(states)
    stack = list(out)
    while stack:
        i = stack.pop()
        if i < len(pattern) and pattern[i] == "*" and i + 1 not in out:
            out.add(i + 1)
            stack.append(i + 1)
    return frozenset(out)


def _advance(pattern: str, states: frozenset[int], text: str) -> frozenset[int]:
    for char in text:
        following = set()
        for i in states:
            if i < len(pattern):
                token = pattern[i]
                if token == "*":
                    following.add(i)
                elif token in ("?", char):
                    following.add(i + 1)
        if not following:
            return frozenset()
        states = _closure(pattern, following)
    return states


def matches(pattern: str, text: str) -> bool:
    """Does the IAM pattern match all of ``text``?"""
    return len(pattern) in _advance(pattern, _closure(pattern, [0]), text)


def intersects(left: str, right: str) -> bool:
    """Is there a string both patterns match?"""
    todo = [(i, j) for i in _closure(left, [0]) for j in _closure(right, [0])]
    seen = set(todo)
    while todo:
        i, j = todo.pop()
        if i == len(left) and j == len(right):
            return True
        if i == len(left) or j == len(right):
            continue
        a, b = left[i], right[j]
        if a not in "*?" and b not in "*?" and a != b:
            continue
        next_i = _closure(left, [i if a == "*" else i + 1])
        next_j = _closure(right, [j if b == "*" else j + 1])
        for pair in ((x, y) for x in next_i for y in next_j):
            if pair not in seen:
                seen.add(pair)
                todo.append(pair)
    return False


def document_allows(document: PolicyDocument, arn: str) -> bool:
    """Does ``document`` allow ``arn`` (statements with a condition are skipped)? IAM: some
    Allow matches and no Deny does.

    >>> arn = "arn:aws:execute-api:us-east-1:1:api/prod/"
    >>> doc = PolicyDocument().allow(arn + "GET/*").deny(arn + "GET/x")
    >>> document_allows(doc, arn + "GET/y"), document_allows(doc, arn + "GET/x")
    (True, False)
    """
    allowed = False
    for statement in document.statements:
        if statement.condition:
            continue
        if any(matches(resource, arn) for resource in statement.resources):
            if statement.effect == "Deny":
                return False
            allowed = True
    return allowed
