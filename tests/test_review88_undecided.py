"""Review 88: review 87's undecided refusals attacked (``rules.Denial.undecided``, ``_All``/``_Any``/``_Not``
``check``, ``rules._undecided`` behind ``~``'s bindings). Real objects only (KeyPair,
secauth.testing_events, secauth.testing_policy); no network.

Both findings are resolved after the review (the tests assert it): a header or query tenant
value holding a comma is undecided (``_Tenant._value``), and an ``&`` whose bindings are empty
only because its parts bind different values is "cannot say" for ``~`` (``rules._undecided``),
so a caching authorizer refuses such a table instead of planning it.

Finding (medium): ``~tenant(query=...)``/``~tenant(header=...)`` still turns a repeated value into an
allow on HTTP APIs and Function URLs. Review 87's fix reads a repeat as undecided only where the event
lists it (REST ``multiValueQueryStringParameters``/``multiValueHeaders``); payload 2.0 joins repeats
with commas into one value (``queryStringParameters={"tenant": "acme,acme"}``, ``rawQueryString``
``tenant=acme&tenant=acme``), which ``tenant`` compares as written, refuses *decided* ("another
tenant"), and ``~`` allows: ``roles("auditor") & ~tenant(query="tenant")`` ("other tenants only") runs
the handler for acme's auditor on ``?tenant=acme&tenant=acme``, and a backend that reads the raw query
(the Lambda Web Adapter, Mangum, any framework) reads acme. Root cause: ``_Tenant._value`` counts the
event's values (``len(values) == 1``) without knowing that an HTTP API or Function URL value holding a
comma may be several values joined (``events.content_type`` already knows it, ``_joined``).

Finding (medium): ``~``'s bindings say "always allowed" where ``check`` refuses undecided on some path
values, so the Authorizer's cached policy (``cache_ttl=300``) allows what ``decide`` denies. With two
custom rules binding path values (access.md's kind) and a signed-in caller without a tenant,
``~(FixedValue() & (tenant(path="t") | Owner()))`` has bindings ``[{}]``: the ``&``'s parts bind
``t`` to ``x`` and to the caller's id, their merge is empty, and ``_undecided`` answers False (decided
everywhere) because no part's own bindings are ``[]``. On ``/t/x`` the ``|`` arm ``tenant`` is
undecided (no tenant), ``Owner`` refuses, the ``&`` is undecided and ``~`` refuses; the policy planned
on ``/t/globex`` allows ``GET /t/*``, ``/t/x`` included. The same holds for the anonymous principal
with ``roles("a")`` in the arm (``allowed_routes`` lists what ``decide`` denies). Root cause: the
``not kinds`` case of ``_undecided`` for an ``&`` returns False; an empty merge of value bindings says
nothing about an undecided refusal inside a part that binds values (it should be None, as when a
part allows some values only). Three-valued ``check`` itself is sound (Kleene's tables).

Held: ``_All``/``_Any``/``_Not`` are Kleene's three-valued connectives, so on generated rule trees an
allow of an ambiguous request (a REST ``?tenant=`` given twice, a ``;`` path value, a guard reading
without the parameter, the anonymous principal) holds under every reading of it; on generated trees
over roles, scopes, path tenants, ``authenticated``, ``public`` and one value-binding custom rule,
``bindings`` ``[]``/``[{}]``, ``grants`` and ``decide`` agree for the anonymous, tenant-less and
tenant callers on own, other, ``;`` and encoded values; REST repeats stay refused under ``~`` (an HTTP
API guard decides single values); a guard's
``~tenant(path=)`` rule refuses a reading without the parameter; ``~authenticated()`` still admits the
anonymous caller and ``~roles()`` asks it for a token.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tenant_review_fixtures import ANON, CLAIMS, VERIFIER, run, token

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
from secauth.errors import ConfigurationError, Reason
from secauth.events import Request
from secauth.principal import ClaimMapper, Principal
from secauth.rules import AccessContext, Denial, Rule

AUDITOR = Principal("ann", tenant="acme", roles={"auditor"})
OTHER_TENANTS_ONLY_Q = roles("auditor") & ~tenant(query="tenant")
OTHER_TENANTS_ONLY_H = roles("auditor") & ~tenant(header="x-tenant")


def query_guard() -> Guard:
    table = Routes({"GET /audit": OTHER_TENANTS_ONLY_Q})
    return Guard(VERIFIER, routes=table, claims=CLAIMS, decision_log=None)


def checked(rule_: Rule, principal: Principal, event: dict[str, Any]) -> Denial | None:
    request = Request.from_event(event)
    return rule_.check(principal, AccessContext(request.method, request.path, {}, request))


class FixedValue(Rule):
    """A custom rule allowing everyone on ``t == "x"`` (binds ``t``)."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return None if context.params.get("t") == "x" else Denial(Reason.FORBIDDEN, "not x")

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return [{"t": "x"}]


class Owner(Rule):
    """access.md's ``OwnerOnly`` on ``t``: the caller's own id."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return (
            None if context.params.get("t") == principal.id else Denial(Reason.FORBIDDEN, "owner")
        )

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return [{"t": principal.id}]


# -- findings --------------------------------------------------------------------------------------
# fmt: off


def test_a_guard_refuses_a_repeated_query_tenant_on_an_http_api() -> None:
    event = te.http_proxy("GET", "/audit", route_key="GET /audit", query={"tenant": ["acme", "acme"]},
                          token=token(roles=["auditor"]))
    assert event["rawQueryString"] == "tenant=acme&tenant=acme"  # what a web framework reads: acme
    assert run(query_guard(), event) != 200


@pytest.mark.parametrize("make", [te.http_proxy, te.function_url], ids=["http_api", "function_url"])
@pytest.mark.parametrize("where", ["query", "header"])
def test_a_joined_repeat_stays_a_refusal_under_negation(make: Any, where: str) -> None:
    if where == "query":
        rule_, event = OTHER_TENANTS_ONLY_Q, make("GET", "/audit", query={"tenant": ["acme", "acme"]})
    else:
        rule_, event = OTHER_TENANTS_ONLY_H, make("GET", "/audit", headers={"x-tenant": ["acme", "acme"]})
    assert checked(rule_, AUDITOR, event) is not None


NESTED_TABLE = Routes({"GET /t/{t}": ~(FixedValue() & (tenant(path="t") | Owner()))})


def test_the_cached_policy_never_allows_what_decide_denies_for_a_caller_without_a_tenant() -> None:
    """Fixed: ``~``'s bindings cannot say for this shape (None), so a caching authorizer
    refuses the table instead of planning ``GET /t/*`` from ``[{}]``."""
    mapper = ClaimMapper()  # no tenant claim: a signed-in caller without a tenant
    principal = mapper.map(VERIFIER.verify(token(sub="u", tenant=None)))
    assert principal.tenant is None
    assert not NESTED_TABLE.decide(principal, "GET", "/t/x").allowed  # ~ over an undecided &
    assert not NESTED_TABLE.grants(principal).allows("GET", "/t/x")
    with pytest.raises(ConfigurationError, match="depend on the request"):
        Authorizer(VERIFIER, routes=NESTED_TABLE, cache_ttl=300, claims=mapper, decision_log=None)


@pytest.mark.parametrize(("principal", "arm"), [(Principal("u"), tenant(path="t")), (ANON, roles("a"))],
                         ids=["no_tenant", "anonymous"])
def test_negated_bindings_follow_an_undecided_arm_inside_a_value_binding_part(
    principal: Principal, arm: Rule
) -> None:
    rule_ = ~(FixedValue() & (arm | Owner()))
    table = Routes({"GET /t/{t}": rule_})
    assert not table.decide(principal, "GET", "/t/x").allowed
    assert not table.grants(principal).allows("GET", "/t/x")
    assert rule_.bindings(principal) != [{}]


# fmt: on
# -- what held: three-valued check ---------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        te.rest_proxy("GET", "/audit", query={"tenant": ["acme", "acme"]}),
        te.rest_proxy("GET", "/audit", headers={"x-tenant": ["acme", "acme"]}),
        te.rest_proxy("GET", "/audit"),
    ],
    ids=["query", "header", "missing"],
)
def test_rest_repeats_and_missing_values_stay_refusals_under_negation(
    event: dict[str, Any],
) -> None:
    for rule_ in (OTHER_TENANTS_ONLY_Q, OTHER_TENANTS_ONLY_H):
        denial = checked(rule_, AUDITOR, event)
        assert denial is not None
        assert denial.undecided
    other = te.rest_proxy("GET", "/audit", query={"tenant": ["globex"]})
    assert checked(OTHER_TENANTS_ONLY_Q, AUDITOR, other) is None


def test_a_guards_negated_path_tenant_refuses_a_reading_without_it() -> None:
    table = Routes({"GET /t/{tenantId}/x": authenticated(), "GET /health": authenticated()})
    guarded = Guard(VERIFIER, routes=table, claims=CLAIMS, decision_log=None,
                    rule=roles("auditor") & ~tenant(path="tenantId"))  # fmt: skip
    jwt = token(roles=["auditor"])
    other = te.rest_proxy("GET", "/t/globex/x", resource="/t/{tenantId}/x",
                          path_params={"tenantId": "globex"}, token=jwt)  # fmt: skip
    own = te.rest_proxy("GET", "/t/acme/x", resource="/t/{tenantId}/x",
                        path_params={"tenantId": "acme"}, token=jwt)  # fmt: skip
    health = te.rest_proxy("GET", "/health", resource="/health", token=jwt)
    assert (run(guarded, other), run(guarded, own), run(guarded, health)) == (200, 403, 403)


def test_the_anonymous_caller_is_asked_for_a_token_on_negated_identity_but_not_on_signed_out() -> (
    None
):
    table = Routes({"GET /feed": ~roles("banned"), "GET /signup": ~authenticated()})
    guarded = Guard(VERIFIER, routes=table, claims=CLAIMS, decision_log=None)
    assert run(guarded, te.rest_proxy("GET", "/feed", resource="/feed")) == 401
    assert run(guarded, te.rest_proxy("GET", "/signup", resource="/signup")) == 200


TENANT_RULES = {"path": tenant(path="t"), "query": tenant(query="tenant")}
LEAVES: dict[str, Rule] = {
    "roles": roles("a"),
    "scopes": scopes("s"),
    **TENANT_RULES,
    "authenticated": authenticated(),
    "public": public(),
}


def trees() -> st.SearchStrategy[tuple[Rule, Any]]:
    """A rule and its shape, a nested tuple :func:`reference` reads."""
    leaf = st.sampled_from(sorted(LEAVES)).map(lambda name: (LEAVES[name], name))
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            inner.map(lambda r: (~r[0], ("not", r[1]))),
            st.tuples(inner, inner).map(lambda p: (p[0][0] & p[1][0], ("and", p[0][1], p[1][1]))),
            st.tuples(inner, inner).map(lambda p: (p[0][0] | p[1][0], ("or", p[0][1], p[1][1]))),
        ),
        max_leaves=7,
    )


def reference(shape: Any, facts: dict[str, bool]) -> bool:
    if isinstance(shape, str):
        return facts[shape]
    if shape[0] == "not":
        return not reference(shape[1], facts)
    parts = [reference(part, facts) for part in shape[1:]]
    return all(parts) if shape[0] == "and" else any(parts)


AMBIGUOUS = Request.from_event(
    te.rest_proxy("GET", "/t/acme", query={"tenant": ["acme", "globex"]})
)
SIGNED_IN = [
    Principal("m", tenant="acme"),
    Principal("a", tenant="acme", roles={"a"}, scopes={"s"}),
]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(trees())
def test_an_allow_of_an_ambiguous_request_holds_under_every_reading(tree: tuple[Rule, Any]) -> None:
    """Query tenant given as acme and globex (a backend reads either), path tenant missing (a guard's
    reading without it): an allow must hold whichever tenant each names."""
    rule_, shape = tree
    for principal in SIGNED_IN:
        context = AccessContext("GET", "/t/acme", {}, AMBIGUOUS)
        if rule_.check(principal, context) is not None:
            continue
        for path_own, query_own in itertools.product((False, True), repeat=2):
            facts = {"roles": "a" in principal.roles, "scopes": "s" in principal.scopes,
                     "path": path_own, "query": query_own, "authenticated": True, "public": True}  # fmt: skip
            assert reference(shape, facts), (rule_, principal, facts)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(trees())
def test_an_allow_of_a_semicolon_path_value_holds_for_both_readings(tree: tuple[Rule, Any]) -> None:
    rule_ = tree[0]
    request = Request.from_event(te.rest_proxy("GET", "/t/x", query={"tenant": ["globex"]}))
    try:
        table = Routes({"GET /t/{t}": rule_})
    except ConfigurationError:
        return
    for principal in SIGNED_IN:
        if table.decide(principal, "GET", "/t/acme;x", request).allowed:
            for value in ("acme", "acme;x"):
                context = AccessContext("GET", f"/t/{value}", {"t": value}, request)
                assert rule_.check(principal, context) is None, (rule_, principal, value)


BINDING_LEAVES = [
    roles("a"),
    scopes("s"),
    tenant(path="t"),
    authenticated(),
    public(),
    FixedValue(),
]
PRINCIPALS = [
    ANON,
    Principal("u"),
    Principal("x", tenant="acme"),
    Principal("acme", roles={"a"}, tenant="acme"),
    Principal("c", roles={"a"}, scopes={"s"}, tenant="globex"),
]
VALUES = ["acme", "globex", "x", "acme;x", "x;acme", "ac%6De", "%61cme"]


def binding_trees() -> st.SearchStrategy[Rule]:
    return st.recursive(
        st.sampled_from(BINDING_LEAVES),
        lambda inner: st.one_of(
            inner.map(lambda r: ~r),
            st.tuples(inner, inner).map(lambda p: p[0] & p[1]),
            st.tuples(inner, inner).map(lambda p: p[0] | p[1]),
        ),
        max_leaves=7,
    )


@settings(max_examples=300, deadline=None, derandomize=True)
@given(binding_trees())
def test_bindings_grants_and_decide_agree_with_one_value_binding_rule(rule_: Rule) -> None:
    assert_grants_agree(rule_, PRINCIPALS, VALUES)


def assert_grants_agree(rule_: Rule, principals: list[Principal], values: list[str]) -> None:
    """On ``GET /t/{t}`` with ``t`` from ``values``: ``grants`` never allows what ``decide``
    denies, bindings ``[{}]`` always allow and ``[]`` never do, for every principal."""
    table = Routes({"GET /t/{t}": rule_})
    for principal in principals:
        bindings = rule_.bindings(principal)
        grants = table.grants(principal)
        for value in values:
            path = f"/t/{value}"
            if table.resolve("GET", path) is None:
                continue
            decided = table.decide(principal, "GET", path).allowed
            assert not grants.allows("GET", path) or decided, (rule_, principal, path)
            if bindings == [{}]:
                assert decided, (rule_, principal, path)
            elif bindings == []:
                assert not decided, (rule_, principal, path)


def test_the_http_api_guard_decides_single_query_values() -> None:
    jwt = token(roles=["auditor"])
    own = te.http_proxy(
        "GET", "/audit", route_key="GET /audit", query={"tenant": ["acme"]}, token=jwt
    )
    other = te.http_proxy(
        "GET", "/audit", route_key="GET /audit", query={"tenant": ["globex"]}, token=jwt
    )
    assert (run(query_guard(), own), run(query_guard(), other)) == (403, 200)
