"""Review 92: ``secauth.events.header_spellings`` and its use in ``_Tenant._value`` (839488e).
Rules ``roles("auditor") & tenant(header=...)`` and ``& ~tenant(...)`` in a ``Guard`` and in an ``Authorizer``
(REST REQUEST, HTTP API v2 and WebSocket ``$connect`` events), acme's auditor. Real objects only; no network.

Findings: none.

Held (no regression): one tenant header, sent in any case (``X-Tenant-Id``, ``x-tenant-id``, ``X-TENANT-ID``)
or any ``-``/``_`` spelling, is read once in every event shape (REST proxy with both ``headers`` and
``multiValueHeaders``, HTTP API, Function URL, ALB single- and multi-value, REST REQUEST, HTTP API v2 and
WebSocket ``$connect`` authorizers): acme is allowed, globex denied, in a Guard and an Authorizer; configured
names in any case or spelling (``X_TENANT_ID``) read it alike. Two spellings (or a repeat) are refused
undecided, and ``~tenant(...)`` keeps that a refusal. A REST event whose ``multiValueHeaders`` and ``headers``
carry different spellings of the one header counts both (a repeat: fails closed). Malformed maps fail closed
without raising: ``headers``/``multiValueHeaders`` None, a string or a list, non-str keys (None, int, bytes,
tuple), non-str values (None, int, list, dict) in the single map, non-list or non-str items in the multi map,
empty lists; ``header_spellings`` itself never raises on them and returns only str names.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from tenant_review_fixtures import CLAIMS, ISS, PAIR, VERIFIER

import secauth.testing_events as te
from secauth import Authorizer, Guard, Routes, roles, tenant
from secauth.events import Request, header_spellings
from secauth.policy.responses import Unauthorized
from secauth.rules import AccessContext, Rule

KINDS = [te.rest_proxy, te.http_proxy, te.function_url, te.alb, partial(te.alb, multi_value=True)]
KIND_IDS = ["rest", "http_api", "function_url", "alb", "alb_multi"]
SPELLINGS = [
    "X-Tenant-Id",
    "x-tenant-id",
    "X-TENANT-ID",
    "X_TENANT_ID",
    "x_tenant-id",
    "X-Tenant_Id",
]
NAMES = ["x-tenant-id", "X-Tenant-Id", "X_TENANT_ID", "x_tenant-id"]


def token(tenant_: str = "acme") -> str:
    claims = {"iss": ISS, "aud": "api", "sub": "ann", "tenant": tenant_, "roles": ["auditor"]}
    return PAIR.sign({**claims, "exp": 4_000_000_000})


def run(rule_: Rule, event: dict[str, Any]) -> int:
    """The status a guarded handler answers ``event`` with (200: it ran)."""
    guard = Guard(VERIFIER, routes=Routes({"GET /audit": rule_}), claims=CLAIMS, decision_log=None)
    handler = guard(lambda event, context, principal: {"statusCode": 200, "body": principal.id})
    response = handler(event, None)
    return int(response["statusCode"])


def authorize(rule_: Rule, event: dict[str, Any], route: str = "GET /audit") -> bool:
    """Whether an ``Authorizer`` allows ``event`` (False: Deny, isAuthorized false, or 401)."""
    authorizer = Authorizer(
        VERIFIER, routes=Routes({route: rule_}), claims=CLAIMS, decision_log=None
    )
    try:
        response = authorizer.handler(event, None)
    except Unauthorized:
        return False
    if "isAuthorized" in response:
        return bool(response["isAuthorized"])
    effects = {s["Effect"] for s in response["policyDocument"]["Statement"]}
    return effects == {"Allow"}


def value_read(rule_: Any, event: dict[str, Any]) -> str | None:
    request = Request.from_event(event)
    value: str | None = rule_._value(AccessContext(request.method, request.path, {}, request))
    return value


def rule_for(name: str = "x-tenant-id", negated: bool = False) -> Rule:
    t = tenant(header=name)
    return roles("auditor") & (~t if negated else t)


def auth_events(headers: dict[str, str]) -> list[tuple[dict[str, Any], str]]:
    return [
        (te.request_authorizer("GET", "/audit", token=token(), headers=headers), "GET /audit"),
        (
            te.http_authorizer_v2(
                "GET", "/audit", route_key="GET /audit", token=token(), headers=headers
            ),
            "GET /audit",
        ),
        (te.websocket_connect(token=token(), headers=headers), "$connect"),
    ]


# -- what held: a single legitimate header ---------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("sent", SPELLINGS)
@pytest.mark.parametrize("name", NAMES)
def test_single_header_read_once_in_guard(kind: Any, sent: str, name: str) -> None:
    ok = kind("GET", "/audit", token=token(), headers={sent: "acme"})
    other = kind("GET", "/audit", token=token(), headers={sent: "globex"})
    assert value_read(tenant(header=name), ok) == "acme"
    assert run(rule_for(name), ok) == 200
    assert run(rule_for(name), other) == 403
    assert run(rule_for(name, negated=True), other) == 200
    assert run(rule_for(name, negated=True), ok) == 403


def test_rest_event_carries_both_maps_and_is_read_once() -> None:
    event = te.rest_proxy("GET", "/audit", token=token(), headers={"X-Tenant-Id": "acme"})
    assert event["headers"]["X-Tenant-Id"] == "acme"
    assert event["multiValueHeaders"]["X-Tenant-Id"] == ["acme"]
    assert header_spellings(event, "x-tenant-id") == ("x-tenant-id",)
    assert value_read(tenant(header="x-tenant-id"), event) == "acme"


@pytest.mark.parametrize("sent", SPELLINGS)
@pytest.mark.parametrize("name", NAMES)
def test_single_header_in_authorizer(sent: str, name: str) -> None:
    for event, route in auth_events({sent: "acme"}):
        assert authorize(rule_for(name), event, route), (event.get("type"), route)
    for event, route in auth_events({sent: "globex"}):
        assert not authorize(rule_for(name), event, route)
        assert authorize(rule_for(name, negated=True), event, route)


# -- what held: repeats stay refusals --------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_two_spellings_refused_either_way(kind: Any) -> None:
    event = kind(
        "GET", "/audit", token=token(), headers={"X-Tenant-Id": "globex", "X_Tenant_Id": "acme"}
    )
    assert value_read(tenant(header="x-tenant-id"), event) is None
    assert run(rule_for(), event) == 403
    assert run(rule_for(negated=True), event) == 403


def test_two_spellings_refused_in_authorizer() -> None:
    for event, route in auth_events({"X-Tenant-Id": "globex", "x-tenant_id": "acme"}):
        assert not authorize(rule_for(), event, route)
        assert not authorize(rule_for(negated=True), event, route)


def test_rest_maps_with_different_spellings_are_a_repeat() -> None:
    event = te.rest_proxy("GET", "/audit", token=token())
    event["multiValueHeaders"]["X-Tenant-Id"] = ["globex"]
    event["headers"]["X_Tenant_Id"] = "acme"
    assert value_read(tenant(header="x-tenant-id"), event) is None
    assert run(rule_for(negated=True), event) == 403


# -- what held: malformed maps fail closed ---------------------------------------------------------

BAD_MAPS: list[Any] = [None, "X-Tenant-Id: acme", ["X-Tenant-Id", "acme"], 7, {}]
BAD_SINGLE: list[dict[Any, Any]] = [
    {None: "acme"}, {1: "acme"}, {b"x-tenant-id": "acme"}, {("x-tenant-id",): "acme"},
    {"X-Tenant-Id": None}, {"X-Tenant-Id": 7}, {"X-Tenant-Id": ["acme"]}, {"X-Tenant-Id": {"a": "acme"}},
]  # fmt: skip
BAD_MULTI: list[dict[Any, Any]] = [
    {"X-Tenant-Id": "acme"}, {"X-Tenant-Id": None}, {"X-Tenant-Id": []}, {"X-Tenant-Id": [None]},
    {"X-Tenant-Id": [7, b"acme"]}, {None: ["acme"]}, {2: ["acme"]}, {"X-Tenant-Id": [["acme"]]},
]  # fmt: skip


@pytest.mark.parametrize("bad", BAD_MAPS)
@pytest.mark.parametrize("field", ["headers", "multiValueHeaders"])
def test_bad_maps_never_raise(bad: Any, field: str) -> None:
    event = te.rest_proxy("GET", "/audit", token=token())
    event["multiValueHeaders"] = None
    event[field] = bad
    assert header_spellings(event, "x-tenant-id") == ()
    status = run(rule_for(), event)
    assert status in (401, 403)
    assert run(rule_for(negated=True), event) in (401, 403)


@pytest.mark.parametrize("bad", BAD_SINGLE)
def test_bad_single_items_fail_closed(bad: dict[Any, Any]) -> None:
    for kind in KINDS[:4]:  # the events with a single-value map
        event = kind("GET", "/audit", token=token())
        event["headers"] = {**event["headers"], **bad}
        assert all(isinstance(s, str) for s in header_spellings(event, "x-tenant-id"))
        assert value_read(tenant(header="x-tenant-id"), event) is None
        assert run(rule_for(), event) == 403
        assert run(rule_for(negated=True), event) == 403


@pytest.mark.parametrize("kind", [te.rest_proxy, KINDS[4]], ids=["rest", "alb_multi"])
@pytest.mark.parametrize("bad", BAD_MULTI)
def test_bad_multi_items_fail_closed(kind: Any, bad: dict[Any, Any]) -> None:
    event = kind("GET", "/audit", token=token())
    event["multiValueHeaders"] = {**event["multiValueHeaders"], **bad}
    assert all(isinstance(s, str) for s in header_spellings(event, "x-tenant-id"))
    assert value_read(tenant(header="x-tenant-id"), event) is None
    assert run(rule_for(), event) == 403
    assert run(rule_for(negated=True), event) == 403


@pytest.mark.parametrize(
    ("field", "bad"),
    [("headers", b) for b in BAD_SINGLE] + [("multiValueHeaders", b) for b in BAD_MULTI],
)
def test_bad_items_in_request_authorizer_fail_closed(field: str, bad: dict[Any, Any]) -> None:
    event = te.request_authorizer("GET", "/audit", token=token())
    event[field] = {**event[field], **bad}
    assert not authorize(rule_for(), event)
    assert not authorize(rule_for(negated=True), event)
