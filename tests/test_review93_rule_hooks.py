"""Review 93: the split of ``rules`` into ``rule_core`` and the two new ``Rule`` hooks attacked:
``path_parameters()`` (the route table's and ``guard_routes.check_rule``'s parameter checks) and
``refuses_undecided(principal)`` (``~``'s cached bindings, ``Routes.grants``). Real objects only.

Both findings are resolved (the tests assert it): the combinators read a hook's answer through
``rule_core._refuses_undecided``, which counts only True and False (anything else is None), and ``~``
refuses undecided where a path parameter its inner rule declares is missing from the request.

Attacked: honest custom rules (bindings ``[]``/``[{}]``/values/None, refusals decided, undecided or
mixed) in generated ``&``/``|``/``~`` trees beside the built-ins, for the anonymous, tenant-less and
tenant callers on own, other, ``;`` and encoded values; the old ``_undecided`` and ``path_parameters``
(HEAD, reimplemented here on isinstance) against the new hooks on built-in trees; custom rules that
declare parameters a route lacks under ``~``, inside ``|``, in the default rule, in a guard's rule;
custom rules answering ``refuses_undecided`` with non-bool values.

Held: on built-in trees ``refuses_undecided`` and ``missing_parameters`` answer exactly as HEAD's
``_undecided`` and ``path_parameters`` did; with honest custom rules ``grants`` never allows what
``decide`` denies, ``[{}]`` is an allow and ``[]`` a denial everywhere, and a composite's
``refuses_undecided`` (where its bindings are ``[]``) is True only where every refusal is undecided and
False only where every one is decided; a declared parameter is checked under ``~`` at any depth,
inside ``|`` beside another arm, in the default rule; the default answer (None) keeps ``~`` of a
binding custom rule out of cached policies (a caching Authorizer refuses the table).

Finding (low): a non-bool ``refuses_undecided`` answer fails open under ``|``. ``_Not.bindings`` reads
it for truth ("yes": undecided, ``[]``), ``_Any.refuses_undecided`` by ``True in kinds`` / ``None in
kinds``, so a truthy non-bool falls to False (decided): ``~(X | X)`` and ``~(roles("z") | X)`` bind
``[{}]`` and ``grants`` allows what ``decide`` refuses (``X`` refuses undecided), while ``~X`` alone
binds ``[]``. Root cause: the hook's answer is not normalised (only ``is True``/``is False`` should
count; anything else is None) and the combinators read it in two different ways.

Finding (low): a guard's own rule ``~Owner()`` (access.md's ``OwnerOnly`` with ``path_parameters``
declared) runs the handler on a route of its table without ``userId`` (``/health``), where
``~tenant(path=...)`` refuses (403); ``check_rule`` documents "on a route without it, the rule is
undecided there, which no ``~`` turns into an allow". Root cause: ``check_rule`` checks the union of
the table's parameters, which is sound only for rules that refuse *undecided* on a missing parameter
(``tenant``); a custom rule reading ``context.params.get(...)`` refuses decided, and nothing in
``guard_routes.decide`` (or the docs of the new hook) makes a missing declared parameter undecided.

Note (not a finding): the ``|`` exemption of ``missing_parameters`` likewise assumes a declared
parameter's absence makes the arm refuse; a custom arm that allows on absence (``NotOwner``) allows
everyone on a shared route without the parameter. The docs of ``path_parameters`` could say so.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tenant_review_fixtures import ANON, CLAIMS, VERIFIER, run, token
from test_review88_undecided import assert_grants_agree

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
from secauth.guard_routes import check_rule
from secauth.principal import Principal
from secauth.rule_core import (
    AccessContext,
    Denial,
    Rule,
    _All,
    _Any,
    _Not,
    missing_parameters,
    negated_parameters,
)
from secauth.rules import _Roles, _Tenant

PRINCIPALS = [
    ANON,
    Principal("u"),
    Principal("x", tenant="acme"),
    Principal("acme", roles={"a"}, tenant="acme"),
    Principal("c", roles={"a"}, scopes={"s"}, tenant="globex"),
]
VALUES = ["acme", "globex", "x", "u", "c", "acme;x", "x;acme", "ac%6De", "%61cme"]


# -- honest custom rules ---------------------------------------------------------------------------


class Custom(Rule):
    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _refuse(undecided: bool) -> Denial:
    return Denial(Reason.FORBIDDEN, "custom", undecided=undecided)


class NeverSaysUndecided(Custom):
    """Never allows, refuses undecided, and says so."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return _refuse(True)

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return []

    def refuses_undecided(self, principal: Principal) -> bool | None:
        return True


class NeverSaysDecided(NeverSaysUndecided):
    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return _refuse(False)

    def refuses_undecided(self, principal: Principal) -> bool | None:
        return False


class NeverQuiet(NeverSaysUndecided):
    """Never allows, refuses undecided, does not say (the default None)."""

    def refuses_undecided(self, principal: Principal) -> bool | None:
        return Rule.refuses_undecided(self, principal)


class NeverMixed(Custom):
    """Never allows; undecided on ``t == "x"``, decided elsewhere: honestly None."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return _refuse(context.params.get("t") == "x")

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return []

    def refuses_undecided(self, principal: Principal) -> bool | None:
        return None

    def path_parameters(self) -> frozenset[str]:
        return frozenset({"t"})


class FixedValue(Custom):
    """Allows everyone on ``t == "x"``; refuses decided elsewhere."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return None if context.params.get("t") == "x" else _refuse(False)

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return [{"t": "x"}]

    def path_parameters(self) -> frozenset[str]:
        return frozenset({"t"})


class XOrUnsure(FixedValue):
    """Allows on ``t == "x"``; refuses undecided elsewhere."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return None if context.params.get("t") == "x" else _refuse(True)


class SignedIn(Custom):
    """``authenticated()`` whose refusal of the anonymous caller is undecided, and says so."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return _refuse(True) if principal.is_anonymous else None

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return [] if principal.is_anonymous else [{}]

    def refuses_undecided(self, principal: Principal) -> bool | None:
        return principal.is_anonymous


class OwnerT(Custom):
    """access.md's ``OwnerOnly`` on ``t``, declaring it."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return None if context.params.get("t") == principal.id else _refuse(False)

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return [{"t": principal.id}]

    def path_parameters(self) -> frozenset[str]:
        return frozenset({"t"})


class ReadsRequest(Custom):
    """Decided per request (bindings None): allows values starting with "a"."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return None if context.params.get("t", "").startswith("a") else _refuse(False)


BUILT_INS: list[Rule] = [roles("a"), scopes("s"), tenant(path="t"), authenticated(), public()]
CUSTOM: list[Rule] = [
    NeverSaysUndecided(),
    NeverSaysDecided(),
    NeverQuiet(),
    NeverMixed(),
    FixedValue(),
    XOrUnsure(),
    SignedIn(),
    OwnerT(),
    ReadsRequest(),
]


def trees(leaves: list[Rule], max_leaves: int = 7) -> st.SearchStrategy[Rule]:
    return st.recursive(
        st.sampled_from(leaves),
        lambda inner: st.one_of(
            inner.map(lambda r: ~r),
            st.tuples(inner, inner).map(lambda p: p[0] & p[1]),
            st.tuples(inner, inner).map(lambda p: p[0] | p[1]),
        ),
        max_leaves=max_leaves,
    )


def decoded_contexts(value: str) -> AccessContext:
    table = Routes({"GET /t/{t}": public()})
    found = table.resolve("GET", f"/t/{value}")
    assert found is not None
    return AccessContext("GET", f"/t/{value}", found.params, None)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(trees([*BUILT_INS, *CUSTOM]))
def test_grants_bindings_and_decide_agree_with_honest_custom_rules(rule_: Rule) -> None:
    assert_grants_agree(rule_, PRINCIPALS, VALUES)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(trees([*BUILT_INS, *CUSTOM]))
def test_refuses_undecided_of_a_composite_tells_the_truth(rule_: Rule) -> None:
    """Where bindings are ``[]``: True only if every refusal is undecided, False only if every one
    is decided (on the values and the ``;`` readings a route gives the rule)."""
    for principal in PRINCIPALS:
        if rule_.bindings(principal) != []:
            continue
        answer = rule_.refuses_undecided(principal)
        assert answer in (True, False, None)
        for value in ("acme", "globex", "x", "u", "c", "ac%6De"):
            denial = rule_.check(principal, decoded_contexts(value))
            assert denial is not None, (rule_, principal, value)
            if answer is not None:
                assert denial.undecided is answer, (rule_, principal, value)


# -- the split: built-in rules answer as at HEAD -------------------------------------------------


def old_undecided(rule_: Rule, principal: Principal) -> bool | None:
    """HEAD's ``rules._undecided``, on the classes' new homes."""
    if isinstance(rule_, _Roles):
        return principal.is_anonymous
    if isinstance(rule_, _Tenant):
        return True
    if isinstance(rule_, _Not):
        inner = rule_.inner
        return False if inner.bindings(principal) == [{}] else old_undecided(inner, principal)
    if not isinstance(rule_, _All | _Any):
        return False
    parts = [(item.bindings(principal), item) for item in rule_.rules]
    kinds = [old_undecided(item, principal) for found, item in parts if found == []]
    if isinstance(rule_, _Any):
        return True if True in kinds else None if None in kinds else False
    if False in kinds:
        return False
    if not kinds:
        return None
    return None if None in kinds or any(found and found != [{}] for found, _ in parts) else True


def old_path_parameters(rule_: Rule) -> frozenset[str]:
    if isinstance(rule_, _Tenant):
        return frozenset([rule_.name]) if rule_.source == "path" else frozenset()
    if isinstance(rule_, _All | _Any):
        return frozenset().union(*map(old_path_parameters, rule_.rules))
    if isinstance(rule_, _Not):
        return old_path_parameters(rule_.inner)
    return frozenset()


def old_negated(rule_: Rule) -> frozenset[str]:
    if isinstance(rule_, _Not):
        return old_path_parameters(rule_.inner)
    if isinstance(rule_, _All | _Any):
        return frozenset().union(*map(old_negated, rule_.rules))
    return frozenset()


def old_never_allowing(rule_: Rule, have: frozenset[str]) -> frozenset[str]:
    if isinstance(rule_, _Tenant):
        return frozenset([rule_.name]) - have if rule_.source == "path" else frozenset()
    if isinstance(rule_, _All | _Any):
        parts = [old_never_allowing(item, have) for item in rule_.rules]
        if isinstance(rule_, _Any) and not all(parts):
            return frozenset()
        return frozenset().union(*parts)
    return frozenset()


def old_missing(rule_: Rule, have: frozenset[str]) -> frozenset[str]:
    return (old_negated(rule_) - have) | old_never_allowing(rule_, have)


OLD_LEAVES: list[Rule] = [
    *BUILT_INS,
    tenant(path="u"),
    tenant(query="t"),
    tenant(header="X-T"),
    roles("a", "b", all_of=True),
]


@settings(max_examples=400, deadline=None, derandomize=True)
@given(trees(OLD_LEAVES))
def test_built_in_trees_answer_as_before_the_split(rule_: Rule) -> None:
    for principal in PRINCIPALS:
        if rule_.bindings(principal) == []:
            assert rule_.refuses_undecided(principal) == old_undecided(rule_, principal), rule_
        if isinstance(rule_, _Not) and rule_.inner.bindings(principal) == []:
            assert rule_.bindings(principal) == (~rule_.inner).bindings(principal)
    assert rule_.path_parameters() == old_path_parameters(rule_)
    assert negated_parameters(rule_) == old_negated(rule_)
    for have in (frozenset(), frozenset({"t"}), frozenset({"u"}), frozenset({"t", "u"})):
        assert missing_parameters(rule_, have) == old_missing(rule_, have), (rule_, have)


def test_the_rules_module_still_exports_the_core() -> None:
    import secauth.rule_core as core
    import secauth.rules as rules_module

    for name in core.__all__:
        assert getattr(rules_module, name) is getattr(core, name)
    assert (roles("a") & ~tenant(path="t")).__class__ is _All


# -- parameter checks with declared custom parameters ---------------------------------------------


class Owner(Custom):
    """access.md's ``OwnerOnly``, with ``path_parameters`` declared."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        if context.params.get("userId") == principal.id:
            return None
        return Denial(Reason.FORBIDDEN, "not the owner")

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return [{"userId": principal.id}]

    def path_parameters(self) -> frozenset[str]:
        return frozenset({"userId"})


@pytest.mark.parametrize(
    "rule_",
    [
        ~Owner(),
        ~~Owner(),
        roles("admin") | ~Owner(),
        authenticated() & ~Owner(),
        roles("admin") | (authenticated() & ~(roles("b") | Owner())),
        ~(roles("admin") | Owner()),
        Owner(),
        Owner() & roles("a"),
        tenant(path="t") | Owner(),
    ],
    ids=repr,
)
def test_a_declared_parameter_a_route_lacks_is_refused_where_it_changes_the_rule(
    rule_: Rule,
) -> None:
    with pytest.raises(ConfigurationError, match=r"userId|'t'"):
        Routes({"GET /users/{id}": rule_})
    with pytest.raises(ConfigurationError, match=r"userId|'t'"):
        Routes({"GET /health": public()}, default=rule_)
    with pytest.raises(ConfigurationError):
        check_rule(Routes({"GET /users/{id}": public()}), rule_)


def test_a_shared_or_keeps_working_and_never_grants_the_missing_arm() -> None:
    table = Routes(
        {"GET /users/{userId}": roles("admin") | Owner(), "GET /stats": roles("admin") | Owner()}
    )
    alice, admin = Principal("alice"), Principal("root", roles={"admin"})
    assert not table.decide(alice, "GET", "/stats").allowed
    assert not table.grants(alice).allows("GET", "/stats")
    assert table.grants(alice).allows("GET", "/users/alice")
    assert not table.grants(alice).allows("GET", "/users/bob")
    assert table.decide(admin, "GET", "/stats").allowed


def test_negating_a_binding_custom_rule_stays_out_of_cached_policies() -> None:
    table = Routes({"GET /users/{userId}": authenticated() & ~Owner()})
    alice = Principal("alice")
    assert (authenticated() & ~Owner()).bindings(alice) is None
    assert not table.grants(alice).allows("GET", "/users/bob")
    assert table.decide(alice, "GET", "/users/bob").allowed
    with pytest.raises(ConfigurationError, match="depend on the request"):
        Authorizer(VERIFIER, routes=table, cache_ttl=300, decision_log=None)


def test_the_anonymous_principal_never_gets_a_negated_custom_rule_from_a_cache() -> None:
    for rule_ in (~NeverQuiet(), ~(NeverQuiet() & roles("a")), ~(NeverQuiet() | roles("a"))):
        table = Routes({"GET /r": rule_})
        assert not table.decide(ANON, "GET", "/r").allowed
        assert not table.grants(ANON).allows("GET", "/r")
        assert table.allowed_routes(ANON) == []


# -- findings ------------------------------------------------------------------------------------
# fmt: off


class SaysYes(Custom):
    """Never allows, refuses undecided, and answers ``refuses_undecided`` with a truthy non-bool."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return _refuse(True)

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return []

    def refuses_undecided(self, principal: Principal) -> Any:
        return "yes"


def test_a_truthy_non_bool_answer_is_read_as_undecided_by_a_lone_negation() -> None:
    table = Routes({"GET /r": ~SaysYes()})
    assert not table.grants(Principal("a")).allows("GET", "/r")


@pytest.mark.parametrize("rule_", [~(SaysYes() | SaysYes()), ~(roles("z") | SaysYes())], ids=repr)
def test_a_non_bool_answer_never_lets_a_cached_policy_allow_what_decide_denies(rule_: Rule) -> None:
    principal = Principal("a")
    table = Routes({"GET /r": rule_})
    assert not table.decide(principal, "GET", "/r").allowed
    assert rule_.bindings(principal) != [{}]
    assert not table.grants(principal).allows("GET", "/r")


def test_a_guards_negated_custom_rule_refuses_a_route_without_its_parameter() -> None:
    table = Routes({"GET /users/{userId}": authenticated(), "GET /health": authenticated()})
    jwt = token(sub="ann")
    other = te.rest_proxy("GET", "/users/bob", resource="/users/{userId}",
                          path_params={"userId": "bob"}, token=jwt)
    own = te.rest_proxy("GET", "/users/ann", resource="/users/{userId}",
                        path_params={"userId": "ann"}, token=jwt)
    health = te.rest_proxy("GET", "/health", resource="/health", token=jwt)
    as_tenant = Guard(VERIFIER, routes=table, claims=CLAIMS, decision_log=None,
                      rule=~tenant(path="userId"))
    assert run(as_tenant, health) == 403  # the built-in: undecided without the parameter
    try:
        guarded = Guard(VERIFIER, routes=table, claims=CLAIMS, decision_log=None, rule=~Owner())
    except ConfigurationError:
        return  # refusing the rule at construction is correct too
    assert (run(guarded, other), run(guarded, own)) == (200, 403)
    assert run(guarded, health) == 403


# fmt: on
# -- note: an | arm allowing without its parameter -----------------------------------------------


class NotOwner(Owner):
    """Everyone but the owner: allows where ``userId`` is missing."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        if context.params.get("userId") != principal.id:
            return None
        return Denial(Reason.FORBIDDEN, "the owner")

    def bindings(self, principal: Principal) -> None:
        return None


def test_an_or_arm_that_allows_without_its_parameter_is_accepted_as_the_docs_say() -> None:
    """Documented behaviour (the ``|`` exemption), recorded: the arm's own ``check`` decides."""
    table = Routes({"GET /stats": roles("admin") | NotOwner()})
    assert table.decide(Principal("alice"), "GET", "/stats").allowed
    with pytest.raises(ConfigurationError, match="userId"):
        Routes({"GET /stats": NotOwner()})
