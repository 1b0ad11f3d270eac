"""Review 89 (final round): review 88's fixes attacked, ``_Tenant._value``'s comma rule across event
kinds and encodings, and ``~``'s bindings against ``decide`` and the Authorizer's cached policies on
built-in rules. Real objects only (KeyPair, secauth.testing_events, secauth.testing_policy); no network.

Both findings are resolved after the review (the tests assert it): ``_Tenant.check`` looks for
a comma after decoding, and an empty header or query value is undecided like a missing one.

Finding (medium): a percent-encoded comma reaches ``tenant(header=...)`` and, on ALB, ``tenant(query=...)``
as ONE decided value. ``_Tenant._value`` looks for a comma in the value as the event carries it; ``check``
decodes header values and ALB query values only afterwards, so ``X-Tenant: globex%2Cacme`` (any event kind)
and ALB ``?tenant=globex%2Cacme`` (single- or multi-value target group) compare ``globex,acme`` to acme,
refuse *decided* ("another tenant"), and ``~`` allows: ``roles("auditor") & ~tenant(query="tenant")``
("other tenants only") runs acme's auditor's handler behind an ALB. The same request to a REST or HTTP API
(which decodes query values once) reads ``globex,acme``, holds a comma and is refused undecided; an ALB
backend decodes it to the very string review 88 calls ambiguous, and a backend taking the parameter as a
comma list (``?tenant=a,b``) reads acme among its tenants. Root cause: the comma test sits in ``_value``,
before decoding, instead of on the value ``check`` compares (after ``unquote``).

Finding (medium): an empty tenant value is decided where a missing one is undecided. ``?tenant=`` (REST,
HTTP API, Function URL, ALB: ``queryStringParameters={"tenant": ""}``) and an empty ``X-Tenant`` header
reach ``check`` as ``""``, which differs from acme ("another tenant"), so ``~tenant(...)`` allows; a
backend that reads an empty value as none and falls back to the caller's own tenant
(``params.get("tenant") or principal.tenant``) serves acme's data to an "other tenants only" route. access.md
says a missing tenant is "no other tenant" for ``~tenant(...)``, and secauth itself reads ``""`` as a missing
tenant claim. Root cause: ``_Tenant._value`` returns ``""`` as a value; only ``None`` is undecided.

Held: a repeated tenant stays undecided (so ``~`` refuses) wherever the event shows it: REST and ALB
multi-value maps, HTTP API and Function URL comma-joined values, a REST header named twice in different
case in the single-value map, an ALB query name percent-encoded beside its plain form (``%74enant``), a
WebSocket ``$connect`` repeat; a WebSocket message (no headers, no query) is undecided; an ALB target
group without multi-value keeps the last value, the one its backend reads, and ``~`` refuses it when it
is the caller's own; a still-encoded value stays undecided. On Hypothesis-generated trees over ``roles``,
``scopes``, ``tenant(path=)`` (two parameters), ``authenticated``, ``public`` under ``~``, ``&`` and ``|``,
in a table of four routes (one ``ANY .../{proxy+}``), ``Routes.grants`` never allows what ``decide``
denies, ``bindings`` ``[]``/``[{}]`` agree with ``decide``, for the anonymous principal, callers with and
without tenant and roles, and tenants no policy can name (``a;b``, ``a*b``, ``..``, ``a/b``) on own, other,
``;``, encoded and dot values; and the Authorizer's cached policy (``cache_ttl=300``, TOKEN events, policy
from three first requests, checked with ``iam_allows``) never allows what ``decide`` denies.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tenant_review_fixtures import CLAIMS, ISS, PAIR, VERIFIER, token

import secauth.testing_events as te
from secauth import (
    Authorizer,
    Guard,
    Routes,
    authenticated,
    public,
    roles,
    scopes,
    tenant,
)
from secauth.errors import ConfigurationError
from secauth.events import Request
from secauth.principal import ClaimMapper, Principal
from secauth.rules import AccessContext, Denial, Rule
from secauth.testing_policy import iam_allows, method_arn

AUDITOR = Principal("ann", tenant="acme", roles={"auditor"})
OTHER_Q = roles("auditor") & ~tenant(query="tenant")
OTHER_H = roles("auditor") & ~tenant(header="x-tenant")


def checked(rule_: Rule, event: dict[str, Any], principal: Principal = AUDITOR) -> Denial | None:
    request = Request.from_event(event)
    return rule_.check(principal, AccessContext(request.method, request.path, {}, request))


def run(rule_: Rule, event: dict[str, Any]) -> int:
    """The status a guarded handler of ``GET /audit`` answers ``event`` with (200: it ran)."""
    guard = Guard(VERIFIER, routes=Routes({"GET /audit": rule_}), claims=CLAIMS, decision_log=None)
    handler = guard(lambda event, context, principal: {"statusCode": 200, "body": principal.id})
    return int(handler(event, None)["statusCode"])


def refused_undecided(rule_: Rule, event: dict[str, Any]) -> bool:
    denial = checked(rule_, event)
    return denial is not None and denial.undecided


# -- findings --------------------------------------------------------------------------------------
# fmt: off


@pytest.mark.parametrize("multi_value", [False, True], ids=["single", "multi"])
def test_an_encoded_comma_in_an_alb_query_value_stays_a_refusal_under_negation(multi_value: bool) -> None:
    event = te.alb("GET", "/audit", query={"tenant": "globex,acme"}, multi_value=multi_value,
                   token=token(roles=["auditor"]))
    sent = event["multiValueQueryStringParameters" if multi_value else "queryStringParameters"]
    assert "globex%2Cacme" in str(sent)  # as the client wrote it; the backend decodes globex,acme
    assert run(OTHER_Q, event) != 200


@pytest.mark.parametrize("make", [te.rest_proxy, te.http_proxy, te.function_url, te.alb],
                         ids=["rest", "http_api", "function_url", "alb"])
def test_an_encoded_comma_in_a_header_value_stays_a_refusal_under_negation(make: Any) -> None:
    event = make("GET", "/audit", headers={"x-tenant": "globex%2Cacme"})
    assert refused_undecided(OTHER_H, event)


@pytest.mark.parametrize("make", [te.rest_proxy, te.http_proxy, te.function_url, te.alb],
                         ids=["rest", "http_api", "function_url", "alb"])
def test_an_empty_tenant_value_is_no_other_tenant(make: Any) -> None:
    event = make("GET", "/audit", query={"tenant": ""}, headers={"x-tenant": ""})
    assert event["queryStringParameters"] == {"tenant": ""}  # `params.get("tenant") or own` reads acme
    assert refused_undecided(OTHER_Q, event)
    assert refused_undecided(OTHER_H, event)


def test_a_guard_refuses_an_empty_query_tenant_under_negation() -> None:
    event = te.rest_proxy("GET", "/audit", resource="/audit", query={"tenant": ""},
                          token=token(roles=["auditor"]))
    assert run(OTHER_Q, event) != 200


# fmt: on
# -- what held: repeats and ambiguity across event kinds ------------------------------------------


def test_the_same_encoded_comma_is_undecided_where_api_gateway_decodes_the_query() -> None:
    for make in (te.rest_proxy, te.http_proxy, te.function_url):
        event = make("GET", "/audit", query={"tenant": "globex,acme"})
        assert refused_undecided(OTHER_Q, event), make.__name__


@pytest.mark.parametrize(
    ("rule_", "event"),
    [
        (OTHER_Q, te.rest_proxy("GET", "/audit", query={"tenant": ["globex", "acme"]})),
        (OTHER_H, te.rest_proxy("GET", "/audit", headers={"x-tenant": ["globex", "acme"]})),
        (OTHER_Q, te.alb("GET", "/audit", query={"tenant": ["globex", "acme"]}, multi_value=True)),
        (
            OTHER_H,
            te.alb("GET", "/audit", headers={"x-tenant": ["globex", "acme"]}, multi_value=True),
        ),
        (OTHER_Q, te.http_proxy("GET", "/audit", query={"tenant": ["globex", "acme"]})),
        (OTHER_H, te.function_url("GET", "/audit", headers={"x-tenant": ["globex", "acme"]})),
        (OTHER_Q, te.websocket_connect(query={"tenant": ["globex", "acme"]})),
        (OTHER_H, te.websocket_connect(headers={"x-tenant": ["globex", "acme"]})),
        (OTHER_Q, te.websocket_message("sendmessage", '{"tenant": "globex"}')),
        (OTHER_H, te.websocket_message("sendmessage", '{"tenant": "globex"}')),
        (OTHER_Q, te.rest_proxy("GET", "/audit")),
    ],
    ids=[
        "rest_q",
        "rest_h",
        "alb_q",
        "alb_h",
        "http_q",
        "url_h",
        "ws_q",
        "ws_h",
        "msg_q",
        "msg_h",
        "none",
    ],
)
def test_repeated_or_missing_tenants_stay_undecided(rule_: Rule, event: dict[str, Any]) -> None:
    assert refused_undecided(rule_, event)


def test_a_header_named_twice_in_different_case_in_the_single_value_map_is_undecided() -> None:
    event = te.rest_proxy("GET", "/audit")
    event["headers"] = {"X-Tenant": "globex", "x-tenant": "acme"}
    event["multiValueHeaders"] = None
    assert refused_undecided(OTHER_H, event)


@pytest.mark.parametrize("multi_value", [False, True], ids=["single", "multi"])
def test_an_alb_query_name_encoded_beside_its_plain_form_is_undecided(multi_value: bool) -> None:
    event = te.alb("GET", "/audit", multi_value=multi_value)
    if multi_value:
        event["multiValueQueryStringParameters"] = {"%74enant": ["globex"], "tenant": ["acme"]}
    else:
        event["queryStringParameters"] = {"%74enant": "globex", "tenant": "acme"}
    assert refused_undecided(OTHER_Q, event)


def test_an_alb_single_value_target_group_is_judged_on_the_value_its_backend_reads() -> None:
    own_last = te.alb("GET", "/audit", query={"tenant": ["globex", "acme"]})
    assert own_last["queryStringParameters"] == {"tenant": "acme"}
    assert checked(OTHER_Q, own_last) is not None
    other_last = te.alb("GET", "/audit", query={"tenant": ["acme", "globex"]})
    assert checked(OTHER_Q, other_last) is None


def test_still_encoded_values_stay_undecided() -> None:
    assert refused_undecided(
        OTHER_H, te.rest_proxy("GET", "/audit", headers={"x-tenant": "ac%256De"})
    )
    assert refused_undecided(OTHER_Q, te.alb("GET", "/audit", query={"tenant": "ac%6De"}))
    assert (
        checked(OTHER_H, te.rest_proxy("GET", "/audit", headers={"x-tenant": "ac%6De"})) is not None
    )


# -- what held: bindings, grants, decide and cached policies on built-in rules ---------------------

LEAVES = [roles("a"), scopes("s"), tenant(path="t"), tenant(path="u"), authenticated(), public()]


def trees() -> st.SearchStrategy[Rule]:
    return st.recursive(
        st.sampled_from(LEAVES),
        lambda inner: st.one_of(
            inner.map(lambda r: ~r),
            st.tuples(inner, inner).map(lambda p: p[0] & p[1]),
            st.tuples(inner, inner).map(lambda p: p[0] | p[1]),
        ),
        max_leaves=7,
    )


def table_of(rules_: tuple[Rule, Rule, Rule, Rule]) -> Routes | None:
    keys = ("GET /t/{t}", "GET /t/{t}/u/{u}", "GET /open", "ANY /p/{t}/{proxy+}")
    try:
        return Routes(dict(zip(keys, rules_, strict=True)))
    except ConfigurationError:  # a rule reading a parameter its route lacks
        return None


PRINCIPALS = [
    Principal.anonymous(),
    Principal("u"),
    Principal("u", roles={"a"}),
    Principal("acme", tenant="acme"),
    Principal("x", tenant="acme", roles={"a"}, scopes={"s"}),
    Principal("y", tenant="a;b", roles={"a"}),
    Principal("z", tenant="a*b"),
    Principal("q", tenant=".."),
    Principal("r", tenant="a/b", scopes={"s"}),
]
VALUES = ["acme", "globex", "a;b", "a", "acme;x", "%61cme", "a*b", "..", "a%2Fb", "x"]
PATHS = sorted(
    {f"/t/{v}" for v in VALUES}
    | {f"/t/{v}/u/{w}" for v in VALUES for w in VALUES[:5]}
    | {f"/p/{v}/q/r" for v in VALUES}
    | {"/open", "/t"}
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(trees(), trees(), trees(), trees())
def test_grants_and_bindings_never_allow_what_decide_denies(
    r1: Rule, r2: Rule, r3: Rule, r4: Rule
) -> None:
    table = table_of((r1, r2, r3, r4))
    if table is None:
        return
    for principal in PRINCIPALS:
        grants = table.grants(principal)
        for path in PATHS:
            for verb in ("GET", "POST"):
                found = table.resolve(verb, path)
                if found is None:
                    continue
                request = Request.from_event(te.rest_proxy(verb, path))
                decided = table.decide(principal, verb, path, request).allowed
                assert not grants.allows(verb, path) or decided, (r1, r2, r3, r4, principal, path)
                bindings = found.rule.bindings(principal)
                if bindings == [{}]:
                    assert decided or found.others, (found.rule, principal, path)
                elif bindings == []:
                    assert not decided, (found.rule, principal, path)


CALLERS = [
    {"sub": "u"},
    {"sub": "v", "roles": ["a"], "scope": "s"},
    {"sub": "acme", "tenant": "acme"},
    {"sub": "x", "tenant": "acme", "roles": ["a"]},
    {"sub": "y", "tenant": "globex", "roles": ["a"], "scope": "s"},
    {"sub": "z", "tenant": "a;b", "roles": ["a"]},
]
CACHED_PATHS = sorted(
    {f"/t/{v}" for v in VALUES[:6]}
    | {f"/t/{v}/u/{w}" for v in VALUES[:4] for w in VALUES[:4]}
    | {"/open", "/p/acme/q", "/p/globex/q/r"}
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(trees(), trees(), trees(), trees())
def test_the_cached_policy_never_allows_what_decide_denies(
    r1: Rule, r2: Rule, r3: Rule, r4: Rule
) -> None:
    table = table_of((r1, r2, r3, r4))
    if table is None:
        return
    for caller in CALLERS:
        mapper = CLAIMS if "tenant" in caller else ClaimMapper()
        try:
            authorizer = Authorizer(VERIFIER, routes=table, cache_ttl=300, claims=mapper,
                                    decision_log=None)  # fmt: skip
        except ConfigurationError:  # bindings that cannot say: the table is refused
            return
        jwt = PAIR.sign({"iss": ISS, "aud": "api", "exp": 4_000_000_000, **caller})
        principal = mapper.map(VERIFIER.verify(jwt))
        for first in ("/t/acme", "/open", "/t/acme/u/globex"):
            answer = authorizer.handler(te.token_authorizer("GET", first, token=jwt))
            for path in CACHED_PATHS:
                if iam_allows(answer, method_arn("GET", path)):
                    request = Request.from_event(te.token_authorizer("GET", path, token=jwt))
                    decision = table.decide(principal, "GET", path, request)
                    assert decision.allowed, (r1, r2, r3, r4, caller, first, path)
