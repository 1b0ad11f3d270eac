"""The revocation list (secauth.revocation): kinds, staleness, round trips, failure policy.

Stores run for real: the memory store here, redis-server and dynalite in
tests/test_revocation_stores.py.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secauth.errors import ConfigurationError, KeysUnavailable, Reason, TokenRevoked
from secauth.revocation import Revocations, StoreUnavailable, revocation_keys
from secauth.revocation_stores import MemoryRevocationStore

ISS = "https://idp.example.com/"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingStore(MemoryRevocationStore):
    """The memory store, counting round trips; ``down`` makes it fail."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock=clock)
        self.lookups = 0
        self.down = False

    def lookup(self, keys: list[str]) -> dict[str, float | None]:
        self.lookups += 1
        if self.down:
            raise StoreUnavailable("store down")
        return super().lookup(keys)


def claims(**extra: Any) -> dict[str, Any]:
    base = {"iss": ISS, "sub": "ann", "jti": "t-1", "iat": 999_000, "client_id": "web"}
    return {**base, **extra}


def revocations(store: Any, clock: Clock, **options: Any) -> Revocations:
    return Revocations(store, clock=clock, **options)


def test_each_kind_revokes_what_it_names() -> None:
    clock = Clock()
    rev = revocations(MemoryRevocationStore(clock=clock), clock)
    token = claims(origin_jti="family-1")
    assert not rev.is_revoked(token)
    rev.revoke_token(ISS, "t-1")
    assert rev.is_revoked(token)
    assert not rev.is_revoked(claims(jti="t-2"))
    rev2 = revocations(MemoryRevocationStore(clock=clock), clock)
    rev2.revoke_family(ISS, "family-1")
    assert rev2.is_revoked(token)
    assert not rev2.is_revoked(claims(origin_jti="family-2"))
    rev3 = revocations(MemoryRevocationStore(clock=clock), clock)
    rev3.revoke_client(ISS, "web")
    assert rev3.is_revoked(token)
    assert not rev3.is_revoked(claims(client_id="cli"))
    assert rev3.is_revoked(claims(client_id=None, azp="web"))  # azp names the client too
    assert rev3.is_revoked(claims(client_id="other", azp="web"))  # either name counts


def test_subject_sign_out_refuses_only_tokens_issued_before() -> None:
    clock = Clock()
    rev = revocations(MemoryRevocationStore(clock=clock), clock)
    rev.revoke_subject(ISS, "ann")  # before = now = 1_000_000
    assert rev.is_revoked(claims(iat=999_999))
    assert not rev.is_revoked(claims(iat=1_000_000))  # signed in again afterwards
    assert rev.is_revoked(claims(iat=None))  # no iat: its age is unknown
    assert not rev.is_revoked(claims(sub="bob", iat=1))


def test_entries_are_per_issuer() -> None:
    clock = Clock()
    rev = revocations(MemoryRevocationStore(clock=clock), clock)
    rev.revoke_token(ISS, "t-1")
    assert not rev.is_revoked(claims(iss="https://other-idp/"))


def test_entries_expire_after_the_longest_token_lifetime() -> None:
    """An entry lives max_token_lifetime plus ENTRY_MARGIN: a verifier accepts a token
    ``leeway`` past its exp, with an iat up to ``leeway + max_future_iat`` ahead."""
    from secauth.revocation import ENTRY_MARGIN

    assert ENTRY_MARGIN == 2 * 300 + 3600
    clock = Clock()
    store = MemoryRevocationStore(clock=clock)
    rev = revocations(store, clock, max_token_lifetime=3600, max_staleness=0)
    rev.revoke_token(ISS, "t-1")
    clock.now += 3599 + ENTRY_MARGIN
    assert rev.is_revoked(claims())
    clock.now += 2
    assert not rev.is_revoked(claims())  # every token it could affect has expired


def test_check_raises_token_revoked_with_the_kind_and_no_value() -> None:
    clock = Clock()
    rev = revocations(MemoryRevocationStore(clock=clock), clock)
    rev.revoke_family(ISS, "family-secret-id")
    with pytest.raises(TokenRevoked) as caught:
        rev.check(claims(origin_jti="family-secret-id"))
    assert caught.value.reason is Reason.TOKEN_REVOKED
    assert caught.value.status == 401
    assert caught.value.detail == {"revoked_by": "family"}


def test_a_repeated_token_costs_no_round_trip_and_a_new_one_exactly_one() -> None:
    clock = Clock()
    store = CountingStore(clock)
    rev = revocations(store, clock, max_staleness=30)
    token = claims(origin_jti="f")
    for _ in range(5):
        rev.check(token)
    assert store.lookups == 1  # four keys (jti, family, subject, client): one lookup
    clock.now += 29
    rev.check(token)
    assert store.lookups == 1
    clock.now += 2
    rev.check(token)
    assert store.lookups == 2  # stale: asked again


def test_a_token_whose_identifying_claim_is_an_object_is_looked_up_every_time() -> None:
    """An unhashable claim (a JSON object where a string belongs) cannot key this
    container's memory: no error, and the store is asked on every check."""
    clock = Clock()
    store = CountingStore(clock)
    rev = revocations(store, clock, max_staleness=30)
    odd = claims(azp={"not": "a string"})
    rev.check(odd)
    rev.check(odd)
    assert store.lookups == 2
    rev.revoke_token(ISS, "t-1")
    with pytest.raises(TokenRevoked):
        rev.check(odd)


def test_another_container_sees_a_revocation_within_max_staleness() -> None:
    clock = Clock()
    store = MemoryRevocationStore(clock=clock)
    here, there = revocations(store, clock), revocations(store, clock)
    token = claims()
    assert not there.is_revoked(token)  # read and kept for 30 s
    here.revoke_token(ISS, "t-1")
    assert here.is_revoked(token)  # its own revocation, at once
    clock.now += 30
    assert there.is_revoked(token)


def test_a_failing_store_refuses_and_rests_when_closed() -> None:
    clock = Clock()
    store = CountingStore(clock)
    store.down = True
    rev = revocations(store, clock, retry_after=1.0)
    with pytest.raises(KeysUnavailable) as caught:
        rev.check(claims())
    assert caught.value.detail["source"] == "revocations"
    assert caught.value.status == 503
    with pytest.raises(KeysUnavailable):
        rev.check(claims(jti="t-2"))
    assert store.lookups == 1  # resting: the store is left alone
    clock.now += 1.5
    store.down = False
    assert not rev.is_revoked(claims(jti="t-3"))
    assert store.lookups == 2


def test_a_failing_store_allows_and_warns_when_open(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    store = CountingStore(clock)
    store.down = True
    rev = revocations(store, clock, failure="open")
    with caplog.at_level(logging.WARNING, logger="secauth.revocations"):
        assert not rev.is_revoked(claims())
    assert "token allowed" in caplog.text
    assert "t-1" not in caplog.text


def test_tokens_without_revocable_claims_are_not_looked_up() -> None:
    clock = Clock()
    store = CountingStore(clock)
    revocations(store, clock).check({"iss": ISS, "exp": 1})
    assert store.lookups == 0
    assert revocation_keys({"iss": ISS, "jti": 7, "sub": ""}) == []


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"failure": "maybe"}, "failure"),
        ({"max_staleness": -1}, "max_staleness"),
        ({"max_token_lifetime": 0}, "max_token_lifetime"),
        ({"retry_after": True}, "retry_after"),
        ({"cache_size": 0}, "cache_size"),
    ],
)
def test_bad_configuration_is_refused(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        Revocations(MemoryRevocationStore(), **options)
    with pytest.raises(ConfigurationError, match="RevocationStore"):
        Revocations(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="non-empty"):
        Revocations(MemoryRevocationStore()).revoke_token(ISS, "")


OPS = st.lists(
    st.tuples(
        st.sampled_from(["revoke_token", "revoke_subject", "check", "wait"]),
        st.integers(0, 2),  # which container acts
        st.sampled_from(["t-1", "t-2"]),
        st.integers(0, 40),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_nothing_revoked_is_accepted_after_the_staleness_window(ops: list[Any]) -> None:
    """Three containers share a store; whatever was revoked at t is refused by every
    container from t + max_staleness on."""
    clock = Clock()
    store = MemoryRevocationStore(clock=clock)
    containers = [revocations(store, clock, max_staleness=30) for _ in range(3)]
    revoked_at: dict[str, float] = {}
    signed_out_at: float | None = None
    for op, who, jti, seconds in ops:
        rev = containers[who]
        if op == "wait":
            clock.now += seconds
        elif op == "revoke_token":
            rev.revoke_token(ISS, jti)
            revoked_at.setdefault(jti, clock.now)
        elif op == "revoke_subject":
            rev.revoke_subject(ISS, "ann")
            signed_out_at = clock.now
        else:
            token = claims(jti=jti, iat=999_000)
            due = [t for t in (revoked_at.get(jti), signed_out_at) if t is not None]
            if any(clock.now >= t + 30 for t in due):
                assert rev.is_revoked(token)


def test_the_async_check_answers_as_the_sync_one() -> None:
    import asyncio

    clock = Clock()
    store = CountingStore(clock)
    rev = revocations(store, clock)
    asyncio.run(rev.check_async(claims()))
    rev.revoke_token(ISS, "t-1")
    with pytest.raises(TokenRevoked):
        asyncio.run(rev.check_async(claims()))
    store.down = True
    fresh = revocations(store, clock)
    with pytest.raises(KeysUnavailable):
        asyncio.run(fresh.check_async(claims(jti="t-9")))
    assert store.lookups == 3  # before, after the revocation (the reviser asks again), down
