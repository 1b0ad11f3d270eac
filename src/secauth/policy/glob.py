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


def matches(pattern: str, text: str) -> bool:
    """Does the IAM pattern match all of ``text``?

    The pieces between ``*`` are of fixed length: the first must fit at the start, the
    last at the end, and each other one where it first fits after the one before (the
    leftmost place leaves the most room for the rest, so none is missed).

    >>> matches("GET/*/acme/*", "GET/eu/acme/files/1"), matches("GET/?", "GET/ab")
    (True, False)
    """
    pieces = pattern.split("*")
    first, last = pieces[0], pieces[-1]
    if len(pieces) == 1:
        return len(text) == len(first) and _fits(first, text, 0)
    end = len(text) - len(last)
    if end < len(first) or not _fits(first, text, 0) or not _fits(last, text, end):
        return False
    position = len(first)
    for piece in pieces[1:-1]:
        found = _find(piece, text, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


def _fits(piece: str, text: str, at: int) -> bool:
    """Does ``piece`` (characters and ``?``, no ``*``) match ``text`` from ``at`` on?"""
    if "?" not in piece:
        return text.startswith(piece, at)
    window = text[at : at + len(piece)]
    return len(window) == len(piece) and all(p in ("?", c) for p, c in zip(piece, window, strict=True))


def _find(piece: str, text: str, start: int, end: int) -> int:
    """The first place from ``start`` where ``piece`` fits and ends by ``end``, or -1."""
    if "?" not in piece:
        return text.find(piece, start, end)
    # Only where the piece's longest run of characters is found can the piece fit.
    run = max(piece.split("?"), key=len)
    offset = piece.index(run)
    last = end - len(piece)  # the last place the piece may start
    at = start
    while at <= last:
        hit = text.find(run, at + offset, last + offset + len(run))
        if hit < 0:
            return -1
        at = hit - offset
        if _fits(piece, text, at):
            return at
        at += 1
    return -1


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
