"""``ResponseMemo``: the Authorizer's answers to a bearer token repeated on the same target.

One bounded cache with one eviction rule: the least recently used entry goes when a new
one would exceed ``size``. A key's first answer is only noted; its second is kept, so
one-time tokens (most of them, on a busy API) cost no copy and evict no returning caller.
Answers are kept as JSON text, so every answer handed out is a fresh copy a caller may
change. The Authorizer verifies the token again before it uses an
entry (expiry, key changes, revocation), and never memoizes answers whose rule reads the
request.

>>> memo = ResponseMemo(2)
>>> memo.put(("token", "GET /a"), {"principalId": "u"}, {"decision": "allow"})
>>> memo.get(("token", "GET /a")) is None  # noted, not kept yet
True
>>> memo.put(("token", "GET /a"), {"principalId": "u"}, {"decision": "allow"})
>>> memo.get(("token", "GET /a")).response
{'principalId': 'u'}
>>> memo.get(("token", "GET /b")) is None
True
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any, NamedTuple

__all__ = ["Remembered", "ResponseMemo"]


class Remembered(NamedTuple):
    """A memoized answer: the response and the decision record's fields (fresh copies)."""

    response: dict[str, Any]
    fields: dict[str, Any]


class ResponseMemo:
    """Responses by key, at most ``size`` of them (0 turns the memo off)."""

    def __init__(self, size: int) -> None:
        self.size = size
        # key -> (JSON text, record fields), or None for a key seen once.
        self._entries: OrderedDict[Hashable, tuple[str, dict[str, Any]] | None] = OrderedDict()

    def __len__(self) -> int:
        """How many answers are kept (keys seen once are not counted)."""
        return sum(entry is not None for entry in self._entries.values())

    def get(self, key: Hashable) -> Remembered | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        text, fields = entry
        return Remembered(json.loads(text), dict(fields))

    def put(self, key: Hashable, response: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
        """Note ``key`` on its first answer; keep the answer on its second."""
        if not self.size:
            return
        if key in self._entries:
            self._entries[key] = (json.dumps(response), dict(fields))
        else:
            self._entries[key] = None
        self._entries.move_to_end(key)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
