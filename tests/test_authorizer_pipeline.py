"""The Authorizer's one pipeline: records, the response memo, and the response checks every
answer goes through (kept from the tests of the former short path, as behaviour tests)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest
from test_authorizer import PAIR, ROUTES, VERIFIER, call, claims_for, event, make

from secauth.authorizer import Authorizer
from secauth.memo import ResponseMemo
from secauth.principal import ClaimMapper, Principal


def test_records_are_complete_when_a_logger_listens(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="secauth.decisions"):
        assert call(make(), event("rest_token")) is not None
    (line,) = [r.getMessage() for r in caplog.records if r.name == "secauth.decisions"]
    for field in ('"decision":"allow"', '"principal":"ann"', '"route":"GET /orders/{id}"'):
        assert field in line


def test_a_memo_hit_replays_the_full_record(caplog: pytest.LogCaptureFixture) -> None:
    authorizer = make()
    ev = event("rest_token")
    first = call(authorizer, ev)
    call(authorizer, ev)  # the second answer is kept
    with caplog.at_level(logging.INFO, logger="secauth.decisions"):
        again = call(authorizer, ev)  # a memo hit
    assert again == first
    (line,) = [r.getMessage() for r in caplog.records if r.name == "secauth.decisions"]
    assert '"principal":"ann"' in line
    assert '"decision":"allow"' in line


def test_a_memo_hit_verifies_the_token_again() -> None:
    """An expired token is refused even when its answer is memoized."""
    authorizer = make()
    ev = event("rest_token", PAIR.sign(claims_for("ann") | {"exp": 2_000_000_000}))
    assert call(authorizer, ev) is not None
    assert call(authorizer, ev) is not None
    assert len(authorizer._memo) == 1
    expired = event("rest_token", PAIR.sign(claims_for("ann") | {"exp": 1}))
    key = authorizer._memo_key(_request(expired))
    for _ in range(2):
        authorizer._memo.put(key, {"principalId": "ann"}, {"decision": "allow"})
    assert call(authorizer, expired) is None  # verified again: 401


def _request(ev: Mapping[str, Any]) -> Any:
    from secauth.events import Request

    return Request.from_event(ev)


def test_memoized_answers_are_copies() -> None:
    authorizer = make()
    ev = event("rest_token")
    first = call(authorizer, ev)
    assert first is not None
    first["policyDocument"]["Statement"].clear()
    second = call(authorizer, ev)
    assert second is not None
    assert second["policyDocument"]["Statement"]


def test_the_memo_keeps_at_most_its_size() -> None:
    memo = ResponseMemo(2)
    for n in range(5):
        memo.put(("k", n), {"n": n}, {})
        memo.put(("k", n), {"n": n}, {})
    assert len(memo) == 2
    assert memo.get(("k", 0)) is None
    assert memo.get(("k", 4)).response == {"n": 4}  # type: ignore[union-attr]
    off = ResponseMemo(0)
    off.put("k", {}, {})
    off.put("k", {}, {})
    assert len(off) == 0


class _Key:
    """A memo key that can be watched: a one-time token's key must not be kept alive."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __hash__(self) -> int:
        return hash(self.text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and other.text == self.text


def test_a_key_answered_once_is_noted_not_kept() -> None:
    import gc
    import weakref

    memo = ResponseMemo(4)
    key = _Key("one-time token")
    watched = weakref.ref(key)
    memo.put(key, {"n": 1}, {})
    assert memo.get(key) is None
    assert len(memo) == 0
    del key
    gc.collect()
    assert watched() is None  # only its hash was noted
    memo.put(_Key("one-time token"), {"n": 2}, {})  # the same key again: kept now
    assert memo.get(_Key("one-time token")).response == {"n": 2}  # type: ignore[union-attr]


def test_the_memo_notes_at_most_its_size() -> None:
    memo = ResponseMemo(3)
    for n in range(10):
        memo.put(("once", n), {}, {})
    assert len(memo) == 0
    # The notes hold at most 3 keys: the first was forgotten, so its second answer is
    # noted again, not kept.
    memo.put(("once", 0), {}, {})
    assert len(memo) == 0


def test_a_principal_id_over_the_budget_is_refused() -> None:
    records: list[Any] = []
    authorizer = make(max_response_bytes=512, records=records)
    assert call(authorizer, event("rest_token", PAIR.sign(claims_for("x" * 600)))) is None
    assert [r["reason"] for r in records] == ["configuration_error"]


class OddMapper(ClaimMapper):
    """A custom mapper whose principals to_context() would not give: an empty id, a
    number for a tenant."""

    def map(self, claims: Mapping[str, Any]) -> Principal:
        return Principal(claims.get("email", ""), tenant=claims.get("tid"))


@pytest.mark.parametrize(
    ("extra", "answered"),
    [({}, False), ({"email": "ann@example.com"}, True), ({"email": "ann@example.com", "tid": 7}, False)],
)
def test_a_custom_mappers_principal_gets_the_checks(extra: dict[str, Any], answered: bool) -> None:
    """An empty principal id is a 401 (principalId must be a non-empty string); a number
    for a tenant is refused where the principal is built (a 401, logged as a
    configuration error), never passed on to a record or a context as a number."""
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(
        VERIFIER, routes=ROUTES, claims=OddMapper(), decision_log=None, on_decision=records.append
    )
    got = call(authorizer, event("rest_token", PAIR.sign(claims_for("alice") | extra)))
    if answered:
        assert got is not None
        assert got["principalId"] == "ann@example.com"
    else:
        assert got is None
        assert records[-1]["reason"] == "configuration_error"
