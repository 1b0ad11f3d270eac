"""JwksCache ages its key set on both clocks (``secauth._elapsed.Since``).

After a SnapStart restore the monotonic clock may simply continue from the snapshot's
reading while the wall clock is set days ahead: the key set fetched at init is then as old
as the snapshot. Before the fix it counted as fresh for ``ttl`` (10 minutes) in every newly
restored container, so a key the IdP withdrew since the snapshot was accepted. Review 150
covers a monotonic clock that reads lower; this file the one that continues.
"""

from __future__ import annotations

import types
from typing import Any

import pytest
from hand_clock import Clock

from secauth import JwtVerifier
from secauth.errors import KeysUnavailable, UnknownKey
from secauth.jwks import JwksCache
from secauth.testing import LocalIssuer

DAY = 86_400.0


@pytest.fixture
def wall(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The wall clock ``secauth._elapsed`` reads, under the test's control."""
    import secauth._elapsed

    clock = Clock(1_800_000_000.0)
    monkeypatch.setattr(secauth._elapsed, "time", types.SimpleNamespace(time=clock))
    return clock


def _verifier(idp: LocalIssuer, clock: Clock, **options: Any) -> JwtVerifier:
    cache = JwksCache(idp.jwks_uri, allow_http=True, clock=clock, **options)
    return JwtVerifier(issuer=idp.issuer, audience="api", jwks=cache, cache_size=0)


def test_a_key_withdrawn_since_the_snapshot_is_refused_at_the_first_request(wall: Clock) -> None:
    with LocalIssuer(algs=("ES256",)) as idp:
        steady = Clock(5_000.0)
        verifier = _verifier(idp, steady)
        assert verifier.hydrate()  # init, before the snapshot
        old = idp.key
        idp.rotate()
        idp.remove(old.kid)
        steady.now += 1.0  # restored: the monotonic clock continues...
        wall.now += 2 * DAY  # ...the wall clock says two days passed
        assert verifier.keys.fresh_for == 0.0
        with pytest.raises(UnknownKey):
            verifier.verify(idp.token(key=old, sub="mallory", aud="api"))
        assert verifier.verify(idp.token(sub="ann", aud="api"))["sub"] == "ann"


def test_a_set_older_than_max_age_by_the_wall_clock_is_not_used_while_the_idp_is_down(
    wall: Clock,
) -> None:
    """The fallback to a stale set lasts ``max_age`` by either clock: never days."""
    with LocalIssuer(algs=("ES256",)) as idp:
        steady = Clock(5_000.0)
        verifier = _verifier(idp, steady, max_age=3600)
        assert verifier.hydrate()
        token = idp.token(sub="ann", aud="api")
        idp.mode = "error"
        steady.now += 1.0
        wall.now += 2 * DAY
        with pytest.raises(KeysUnavailable):
            verifier.verify(token)


def test_within_ttl_on_both_clocks_the_set_is_used_without_a_fetch(wall: Clock) -> None:
    with LocalIssuer(algs=("ES256",)) as idp:
        steady = Clock(5_000.0)
        verifier = _verifier(idp, steady, ttl=600)
        assert verifier.hydrate()
        fetches = verifier.keys.stats().fetches
        steady.now += 300.0
        wall.now += 300.0
        assert verifier.verify(idp.token(sub="ann", aud="api"))["sub"] == "ann"
        assert verifier.keys.stats().fetches == fetches
        assert verifier.keys.fresh_for == pytest.approx(300.0)


def test_a_wall_clock_stepped_back_makes_the_set_due_not_fresher(wall: Clock) -> None:
    with LocalIssuer(algs=("ES256",)) as idp:
        steady = Clock(5_000.0)
        verifier = _verifier(idp, steady, ttl=600)
        assert verifier.hydrate()
        fetches = verifier.keys.stats().fetches
        wall.now -= 3600.0
        assert verifier.keys.fresh_for == 0.0
        assert verifier.verify(idp.token(sub="ann", aud="api"))["sub"] == "ann"
        assert verifier.keys.stats().fetches == fetches + 1  # asked the IdP again
