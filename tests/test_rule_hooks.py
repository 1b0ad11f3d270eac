"""``Rule.path_parameters`` and ``Rule.refuses_undecided``: the hooks a custom rule overrides
to get the route table's parameter check and sound cached bindings under ``~``.

Security (low, fixed with the hooks): a custom rule whose ``bindings`` never allowed a principal
(``[]``) and whose ``check`` refused it *undecided* had ``~`` of it granted in cached policies
(``[{}]``), while ``decide`` refused (``~`` keeps an undecided refusal a refusal). Unknown rules now
default to "it depends" (None), which keeps such a ``~`` out of cached policies.
"""

from __future__ import annotations

import pytest

from secauth import Authorizer, JwtVerifier, Routes, public, roles, rule, tenant
from secauth.errors import ConfigurationError, Reason
from secauth.principal import Principal
from secauth.rule_core import AccessContext, Denial, Rule, missing_parameters, negated_parameters
from secauth.testing import KeyPair

PAIR = KeyPair.generate("ES256", kid="k1")
VERIFIER = JwtVerifier(
    issuer="https://idp.example.com/", audience="api", jwks={"keys": [PAIR.public_jwk]}
)
ALICE = Principal("alice")
ANON = Principal.anonymous()


class NeverUndecided(Rule):
    """Never allows; cannot tell (say, a feature flag store is unreachable)."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return Denial(Reason.FORBIDDEN, "flag store unreachable", undecided=True)

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return []


class NeverDecided(NeverUndecided):
    """Never allows, and says so: ``~`` of it allows everyone."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return Denial(Reason.FORBIDDEN, "never")

    def refuses_undecided(self, principal: Principal) -> bool | None:
        return False


class SaysUndecided(NeverUndecided):
    """Never allows, and says its refusals are undecided: ``~`` of it allows nobody."""

    def refuses_undecided(self, principal: Principal) -> bool | None:
        return True


class Owner(Rule):
    """Reads ``userId`` and declares it."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return (
            None
            if context.params.get("userId") == principal.id
            else Denial(Reason.FORBIDDEN, "owner")
        )

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return [{"userId": principal.id}]

    def path_parameters(self) -> frozenset[str]:
        return frozenset({"userId"})


def test_negating_an_undecided_custom_rule_is_never_granted_by_a_cached_policy() -> None:
    table = Routes({"GET /reports": ~NeverUndecided(), "GET /health": public()})
    assert not table.decide(ALICE, "GET", "/reports").allowed
    assert not table.grants(ALICE).allows("GET", "/reports")
    assert (~NeverUndecided()).bindings(ALICE) is None  # depends: decided per request
    with pytest.raises(ConfigurationError, match="depend on the request"):
        Authorizer(VERIFIER, routes=table, cache_ttl=300, decision_log=None)


def test_a_rule_that_says_it_refuses_undecided_is_never_granted_negated() -> None:
    table = Routes({"GET /reports": ~SaysUndecided()})
    assert (~SaysUndecided()).bindings(ALICE) == []
    assert not table.decide(ALICE, "GET", "/reports").allowed
    assert not table.grants(ALICE).allows("GET", "/reports")
    Authorizer(VERIFIER, routes=table, cache_ttl=300, decision_log=None)  # cacheable: never


def test_a_rule_that_says_it_refuses_decided_keeps_its_negation_cacheable() -> None:
    table = Routes({"GET /reports": ~NeverDecided()})
    assert (~NeverDecided()).bindings(ALICE) == [{}]
    assert table.decide(ALICE, "GET", "/reports").allowed
    assert table.grants(ALICE).allows("GET", "/reports")


def test_the_combinators_carry_the_undecided_answer_of_their_parts() -> None:
    assert (roles("a") & NeverDecided()).refuses_undecided(ANON) is False  # one part decides
    assert (roles("a") | SaysUndecided()).refuses_undecided(ALICE) is True  # one arm cannot tell
    assert (roles("a") | NeverUndecided()).refuses_undecided(ALICE) is None  # one arm does not say
    assert (roles("a") | NeverDecided()).refuses_undecided(ALICE) is False
    assert (roles("a") | Rule()).refuses_undecided(ALICE) is None  # an unknown arm
    assert (~roles("a")).refuses_undecided(Principal("b", roles={"a"})) is False
    assert (~tenant(path="t")).refuses_undecided(ALICE) is True  # no tenant: ~ refuses undecided


def test_a_declared_path_parameter_gets_the_tables_check() -> None:
    assert Owner().path_parameters() == {"userId"}
    assert (roles("a") | ~Owner()).path_parameters() == {"userId"}
    assert negated_parameters(roles("a") | ~Owner()) == {"userId"}
    assert missing_parameters(Owner(), frozenset({"id"})) == {"userId"}
    assert missing_parameters(roles("admin") | Owner(), frozenset()) == set()  # a shared rule
    with pytest.raises(ConfigurationError, match="userId"):
        Routes({"GET /users/{id}": Owner()})
    with pytest.raises(ConfigurationError, match="userId"):
        Routes({"GET /users/{id}": roles("admin") | ~Owner()})
    assert Routes({"GET /users/{userId}": Owner()}).decide(ALICE, "GET", "/users/alice").allowed


def test_an_undeclaring_custom_rule_is_left_alone() -> None:
    class Silent(Owner):
        def path_parameters(self) -> frozenset[str]:
            return super(Owner, self).path_parameters()

    assert Silent().path_parameters() == frozenset()
    Routes({"GET /users/{id}": Silent()})  # reads userId unannounced: the table cannot tell


@rule(path_parameters=["userId"])
def owner(principal: Principal, context: AccessContext) -> bool:
    return context.params.get("userId") == principal.id


def test_a_function_rule_declares_its_path_parameters() -> None:
    assert owner.path_parameters() == {"userId"}
    with pytest.raises(ConfigurationError, match="userId"):
        Routes({"GET /users/{id}": owner})
    table = Routes({"GET /users/{userId}": owner | roles("admin")})
    assert table.decide(ALICE, "GET", "/users/alice").allowed
    assert not table.decide(ALICE, "GET", "/users/bob").allowed
    context = AccessContext("GET", "/health", {}, None)
    assert (~owner).check(ALICE, context) is not None  # the parameter is missing: undecided


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"path_parameters": "userId"},
            "path_parameters must be a list of strings, not one string",
        ),
        ({"path_parameters": [1]}, "path_parameters must be a list of strings"),
        ({"reason": "forbidden"}, "must be a Reason"),
    ],
)
def test_a_function_rule_refuses_bad_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        rule(lambda principal, context: True, **kwargs)  # type: ignore[call-overload]


def test_a_function_rule_needs_a_function() -> None:
    with pytest.raises(ConfigurationError, match="needs a function"):
        rule("admin")  # type: ignore[call-overload]
