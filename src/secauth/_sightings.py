"""Admission on the second sighting, for caches that most keys reach only once.

The verified-token cache and the Authorizer's response memo admit a key the second time
they see it: keys seen once (a flood of distinct tokens) cost no entry and push out
nothing. Sightings are kept as hashes, not keys, so a key seen once is not kept alive; a
hash collision only admits a key one sighting early. Use it to decide what to cache,
never what to allow.
"""

from __future__ import annotations

from collections.abc import Hashable


def seen_before(sightings: set[int], key: Hashable, limit: int) -> bool:
    """True when ``key`` was noted in ``sightings`` before; else note it. The set is
    emptied once it holds ``limit`` hashes.

    >>> sightings: set[int] = set()
    >>> seen_before(sightings, "token", 8), seen_before(sightings, "token", 8)
    (False, True)
    """
    fingerprint = hash(key)
    if fingerprint in sightings:
        return True
    if len(sightings) >= limit:
        sightings.clear()
    sightings.add(fingerprint)
    return False
