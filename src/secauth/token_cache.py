"""``VerifiedTokenCache``: tokens a :class:`~secauth.verifier.JwtVerifier` verified before.

One cache with its rules in one place, in the style of aws-jwt-verify's key caches:

* admission: a token gets an entry on its second verification; the first is only noted
  (as a hash, so a token seen once is not kept alive), and one-time tokens cost no entry
  and push out no returning caller;
* bound: at most ``size`` entries; when full, the oldest half goes in one pass;
* freshness: an entry serves while the key set's generation is the one it was verified
  under, for at most ``max_age`` seconds, and no longer than that key set stays fresh
  (:meth:`VerifiedTokenCache.until`: once the set is due for a refresh, the token is
  verified again, so the refresh runs and a withdrawn key stops counting); a clock that
  reads earlier than when the entry was made (a wall clock stepped back) ends it too, so
  the token is verified afresh, every check included (``nbf`` and ``iat`` passed at that
  time, so they hold later); the verifier checks ``exp`` on every use.

>>> cache = VerifiedTokenCache(size=2, max_age=60)
>>> entry = CachedToken('{"sub": "u"}', {}, None, exp=100.0, generation=1, made_at=0.0,
...                     until=cache.until(now=0.0, fresh_for=30))
>>> cache.seen_before("t"), cache.seen_before("t")
(False, True)
>>> cache.keep("t", entry)
>>> cache.get("t", generation=1, now=0.0).exp, cache.get("t", generation=2, now=0.0)
(100.0, None)
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from typing import Any, NamedTuple

__all__ = ["CachedToken", "Sightings", "VerifiedTokenCache"]


class Sightings:
    """Admission for caches that keep a key from its second sighting: the hashes of keys
    seen once, at most ``size`` of them (emptied when full; 0: nothing is admitted). A
    collision only admits a key one sighting early.

    >>> sightings = Sightings(2)
    >>> sightings.seen_before("t"), sightings.seen_before("t")
    (False, True)
    """

    __slots__ = ("_hashes", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._hashes: set[int] = set()

    def seen_before(self, key: Hashable) -> bool:
        """Whether ``key`` was seen before; a key not seen before is noted."""
        if not self.size:
            return False
        fingerprint = hash(key)
        if fingerprint in self._hashes:
            return True
        if len(self._hashes) >= self.size:
            self._hashes.clear()
        self._hashes.add(fingerprint)
        return False

    def clear(self) -> None:
        """Forget every key seen once."""
        self._hashes.clear()


class CachedToken(NamedTuple):
    """What a verified token's entry keeps: its claims as JSON (each hit gets a fresh
    dict), its header, the key that verified it, ``exp`` (``inf`` when absent), the
    key-set generation, when it was made and until when it serves."""

    claims_json: str
    header: dict[str, Any]
    key: Any
    exp: float
    generation: int
    made_at: float
    until: float


class VerifiedTokenCache:
    """Verified tokens by their text (module docs: admission, bound, freshness)."""

    def __init__(self, size: int, max_age: float) -> None:
        self.size = size
        self.max_age = max_age
        self._entries: dict[str, CachedToken] = {}
        self._sightings = Sightings(size)

    def __contains__(self, token: object) -> bool:
        return token in self._entries

    def get(self, token: str, generation: int, now: float) -> CachedToken | None:
        """The token's entry while it is fresh at ``now`` (the one clock reading the caller
        checks the entry's time claims with too); a stale one is dropped."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry.generation != generation or not entry.made_at <= now < entry.until:
            self._entries.pop(token, None)
            return None
        return entry

    def until(self, now: float, fresh_for: float) -> float:
        """When an entry made at ``now`` stops serving: after ``max_age`` seconds, or once
        its key set is due for a refresh (in ``fresh_for`` seconds), whichever comes first."""
        return now + min(self.max_age, fresh_for)

    def drop(self, token: str) -> None:
        self._entries.pop(token, None)

    def seen_before(self, token: str) -> bool:
        """Whether ``token`` was verified before (admission: only such tokens are kept);
        a token not seen before is noted. A kept token's note stays: once its entry is
        dropped (new key set, max age), its next verification keeps it again."""
        return self._sightings.seen_before(token)

    def keep(self, token: str, entry: CachedToken) -> None:
        """Keep ``entry`` for ``token`` (call it for a token :meth:`seen_before`); when
        full, the oldest half of the entries goes first."""
        entries = self._entries
        if len(entries) >= self.size:
            for old in list(itertools.islice(entries, max(1, len(entries) // 2))):
                entries.pop(old, None)
        entries[token] = entry

    def clear(self) -> None:
        self._entries.clear()
        self._sightings.clear()
