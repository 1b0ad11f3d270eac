"""The Authorizer's path for the usual configuration gives the general path's answers.

``Authorizer`` answers bearer-token requests under the default hooks, builder and
route table (result cache off) in fewer steps than the general pipeline. These tests
hold the two paths to the same responses, the same 401s and the same decision records,
over every event kind, generated claims and targets, memo hits included, and check
:func:`secauth.policy.exact_response` against :func:`secauth.policy.policy_response`.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_authorizer import (
    AUD,
    CLAIMS,
    ISS,
    KINDS,
    PAIR,
    ROUTES,
    STRANGER,
    VERIFIER,
    call,
    claims_for,
    event,
    make,
    retarget,
)

from secauth.authorizer import Authorizer
from secauth.errors import ConfigurationError
from secauth.events import EventKind
from secauth.policy import (
    MethodArn,
    PolicyTooLarge,
    exact_document,
    exact_response,
    policy_response,
)
from secauth.principal import ClaimMapper, Principal
from secauth.verifier import JwtVerifier


class GeneralPath(Authorizer):
    """Same behaviour, but an overridden hook keeps it on the general pipeline."""

    def map_claims(self, claims: Mapping[str, Any]) -> Principal:
        return super().map_claims(claims)


def _pair(**options: Any) -> tuple[Authorizer, Authorizer, list[Any], list[Any]]:
    fast_records: list[Any] = []
    general_records: list[Any] = []
    fast = make(records=fast_records, **options)
    general = GeneralPath(
        fast.verifier, routes=ROUTES, claims=CLAIMS, on_decision=general_records.append, **options
    )
    return fast, general, fast_records, general_records


def _strip(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "latency_us"}


def _answer(authorizer: Authorizer, ev: dict[str, Any]) -> dict[str, Any] | None:
    return call(authorizer, copy.deepcopy(ev))


def test_the_usual_configuration_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison below is only worth something if the paths differ: count them."""
    taken: list[str] = []
    original = Authorizer._authorize_bearer

    def spy(self: Authorizer, request: Any, record: Any, observed: bool) -> Any:
        taken.append(type(self).__name__)
        return original(self, request, record, observed)

    monkeypatch.setattr(Authorizer, "_authorize_bearer", spy)
    fast, general, _, _ = _pair()
    _answer(fast, event("rest_token"))
    _answer(general, event("rest_token"))
    assert taken == ["Authorizer"]


TARGETS = [
    ("GET", "/orders"),
    ("GET", "/orders/7"),
    ("DELETE", "/users/7"),
    ("POST", "/tenants/acme/items/1"),
    ("POST", "/tenants/other/items/1"),
    ("GET", "/nowhere"),
    ("GET", "/orders/%2e%2e"),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(sorted(KINDS)),
    target=st.sampled_from(TARGETS),
    granted=st.lists(st.sampled_from(["reader", "admin", "member"]), unique=True, max_size=2),
    tenant=st.sampled_from(["acme", "other"]),
    sub=st.text(min_size=0, max_size=12),
    forged=st.booleans(),
    repeats=st.integers(1, 3),
)
def test_fast_and_general_paths_agree(
    kind: str,
    target: tuple[str, str],
    granted: list[str],
    tenant: str,
    sub: str,
    forged: bool,
    repeats: int,
) -> None:
    """Same response (or the same 401) and the same record, on first and repeated calls
    (the memo answers from the second sighting on)."""
    fast, general, fast_records, general_records = _pair()
    claims = claims_for(sub, roles_=granted, tenant_=tenant)
    tok = (STRANGER if forged else PAIR).sign(claims)
    ev = event(kind, tok)
    if kind != "websocket_connect":
        retarget(ev, *target)
    for _ in range(repeats):
        assert _answer(fast, ev) == _answer(general, ev)
    assert [_strip(r) for r in fast_records] == [_strip(r) for r in general_records]
    assert len(fast_records) == repeats


def test_records_are_complete_when_a_logger_listens(caplog: pytest.LogCaptureFixture) -> None:
    """No sink: the fast path builds a record only when the decision logger is on."""
    fast = make()
    with caplog.at_level(logging.INFO, logger="secauth.decisions"):
        _answer(fast, event("rest_token"))
    (line,) = [r.getMessage() for r in caplog.records if r.name == "secauth.decisions"]
    for field in ('"decision":"allow"', '"principal":"ann"', '"route":"GET /orders/{id}"'):
        assert field in line


def test_a_memo_hit_replays_the_full_record_even_if_built_while_nobody_listened(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fast = make()
    ev = event("rest_token")
    _answer(fast, ev)
    _answer(fast, ev)  # second sighting: memoized, while logging is off
    with caplog.at_level(logging.INFO, logger="secauth.decisions"):
        _answer(fast, ev)  # a memo hit
    (line,) = [r.getMessage() for r in caplog.records if r.name == "secauth.decisions"]
    assert '"principal":"ann"' in line
    assert '"decision":"allow"' in line


def test_a_principal_id_over_the_budget_is_refused_on_both_paths() -> None:
    fast, general, fast_records, general_records = _pair(max_response_bytes=512)
    tok = PAIR.sign(claims_for("x" * 600))
    assert _answer(fast, event("rest_token", tok)) is None
    assert _answer(general, event("rest_token", tok)) is None
    assert [r["reason"] for r in fast_records] == ["configuration_error"]
    assert [_strip(r) for r in fast_records] == [_strip(r) for r in general_records]


# --- exact_response against policy_response ---------------------------------------------------

ARN = "arn:aws:execute-api:us-gov-west-1:123456789012:abcdef123/prod/GET/orders/7"


def _outcome(make_response: Any) -> Any:
    try:
        return make_response()
    except (PolicyTooLarge, ConfigurationError) as exc:
        return type(exc)


def _contexts() -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=40), max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    principal_id=st.text(max_size=60),
    allow=st.booleans(),
    context=_contexts(),
    max_bytes=st.integers(256, 1200),
    kind=st.sampled_from(
        [k for k in EventKind if k.is_authorizer and k is not EventKind.HTTP_AUTHORIZER_V2]
    ),
)
def test_exact_response_is_policy_response(
    principal_id: str, allow: bool, context: dict[str, str], max_bytes: int, kind: EventKind
) -> None:
    arn = MethodArn.parse(ARN)
    expected = _outcome(
        lambda: policy_response(
            principal_id,
            exact_document(arn, allow),
            kind=kind,
            context=context,
            max_bytes=max_bytes,
        )
    )
    got = _outcome(lambda: exact_response(principal_id, arn, allow, context, max_bytes))
    assert got == expected


@pytest.mark.parametrize(
    "context", [{"n": 1}, {"": "empty key"}, {"nested": {"a": "b"}}, {"ok": "x", "bad": None}]
)
def test_exact_response_refuses_what_policy_response_refuses(context: Any) -> None:
    arn = MethodArn.parse(ARN)
    results = []
    for build in (
        lambda: policy_response("u", exact_document(arn, True), context=context),
        lambda: exact_response("u", arn, True, context),
    ):
        try:
            results.append(build())
        except ConfigurationError as exc:
            results.append(type(exc))
    assert results[0] == results[1]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_matches_on_a_denied_route(kind: str) -> None:
    fast, general, _, _ = _pair()
    ev = event(kind, PAIR.sign(claims_for("eve", roles_=())))
    if kind != "websocket_connect":
        retarget(ev, "DELETE", "/users/7")
    assert _answer(fast, ev) == _answer(general, ev)


def test_memo_hits_with_a_multi_issuer_verifier_skip_verification(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A memoized answer with a multi-issuer verifier asks revalidate, not verify: the
    third call of a token on a route does no signature work (and still answers the same)."""
    inner = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
    multi = JwtVerifier.multi(inner)
    verified: list[str] = []
    real_verify = inner.verify

    def counting(token: str) -> dict[str, Any]:
        verified.append(token)
        return real_verify(token)

    monkeypatch.setattr(inner, "verify", counting)
    authorizer = make(verifier=multi)
    ev = event("rest_token", PAIR.sign(claims_for("alice", roles_=["admin"])))
    answers = [call(authorizer, copy.deepcopy(ev)) for _ in range(4)]
    assert len(verified) == 2  # first and second sighting; then memo hits revalidate
    assert answers[0] is not None
    assert all(a == answers[0] for a in answers)


class OddMapper(ClaimMapper):
    """A custom mapper whose principals to_context() would not give: an empty id, a
    number for a tenant."""

    def map(self, claims: Mapping[str, Any]) -> Principal:
        return Principal(claims.get("email", ""), tenant=claims.get("tid"))


@pytest.mark.parametrize(
    "extra", [{}, {"email": "ann@example.com"}, {"email": "ann@example.com", "tid": 7}]
)
def test_a_custom_mappers_principal_gets_the_general_checks(extra: dict[str, Any]) -> None:
    """The short path trusts nothing about a custom mapper's principal: an empty id is a
    401 and a non-string context value gets the general rules, on both paths alike."""
    fast = Authorizer(VERIFIER, routes=ROUTES, claims=OddMapper())
    general = GeneralPath(VERIFIER, routes=ROUTES, claims=OddMapper())
    ev = event("rest_token", PAIR.sign(claims_for("alice", roles_=["admin"]) | extra))
    got, want = call(fast, copy.deepcopy(ev)), call(general, copy.deepcopy(ev))
    assert got == want
    if not extra:
        assert got is None  # principalId must be a non-empty string: Unauthorized
