"""Review 11: attacks on 32ba808 (review 10's fixes).

1. ``secauth.result_cache.decision_overrides``: Routes tables that decide beyond what their
   ``grants`` say, spelled in ways the check may miss (descriptors, ``partialmethod``,
   ``staticmethod``, ``__slots__``, ``__init_subclass__``, metaclasses, the instance), and
   tables changed after the Authorizer was built. Wherever the cache check refuses, the
   response memo must be off too.
2. ``PolicyBuilder.policy`` naming a colon request's method ARN in the matching Denies of
   ``extra_statements``: conditions, Allows, ``?``, a plain ``*``, cached policies of
   non-colon requests, ``exact=True`` and TTL 0, and Deny patterns whose wildcard has to
   span the colons of the ARN's own prefix.

Four findings failed on the code as reviewed and are fixed: tables changed after the
Authorizer was built (``Routes`` is read-only now), a ``decide`` held in a slot, and a
Resource whose wildcard spans the colons of the ARN's prefix (refused now). The other
tests are attacks the fixes resisted, kept as regression tests.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import pytest
from guard_events import VERIFIER, token
from test_review8_cached_policy import PREFIX, answer, iam_allows
from test_review10_followups import (
    TABLE,
    NoAdminAreas,
    _builder_response,
    _deny_writes,
    assert_refused_or_honoured,
)

from secauth import Authorizer, Routes
from secauth.access import (
    Decision,
    RouteMatch,
    authenticated,
    roles,
    tenant,
)
from secauth.errors import ConfigurationError
from secauth.events import Request
from secauth.policy import COLON_PATHS, MethodArn, PolicyBuilder, Statement
from secauth.principal import ClaimMapper, Principal
from secauth.result_cache import decision_overrides
from secauth.testing_events import request_authorizer

WHO = Principal("u")
WRITES = [f"{verb} /orders/{n}" for verb in ("DELETE", "PUT", "POST") for n in ("7", "8")]


# == 1. decision_overrides ===========================================================================


def _judge_with(self: Routes, principal: Principal, found: RouteMatch | None, method: str,
                path: str, request: Request | None = None, *, writes: bool) -> Decision:  # fmt: skip
    decision = Routes.judge(self, principal, found, method, path, request)
    return decision if writes else _deny_writes(decision, method)


_PLAIN = Routes(TABLE)


def _static_decide(principal: Principal, method: str, path: str,
                   request: Request | None = None) -> Decision:  # fmt: skip
    return _deny_writes(_PLAIN.decide(principal, method, path, request), method)


def _reads_only_resolve(
    self: Routes, method: str, path: str, *, decoded: bool = False
) -> RouteMatch | None:
    return Routes.resolve(self, method, path, decoded=decoded) if method.upper() == "GET" else None


class _DecideDescriptor:
    """A hand-written (non-data) descriptor standing in for ``decide``."""

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        base = Routes.decide.__get__(instance)
        return lambda p, m, path, r=None: _deny_writes(base(p, m, path, r), m)


class PartialJudge(Routes):
    judge = functools.partialmethod(_judge_with, writes=False)  # type: ignore[assignment]


class StaticDecide(Routes):
    decide = staticmethod(_static_decide)  # type: ignore[assignment]


class DescriptorDecide(Routes):
    decide = _DecideDescriptor()  # type: ignore[assignment]


class SlottedDecide(Routes):
    """``decide`` as a slot: set on each instance, never in its ``__dict__``."""

    __slots__ = ("decide",)


class SharedGrants(Routes):
    """A team's base class overriding grants (to log, say); it installs a read-only
    ``resolve`` in every subclass, as a plug-in registry might."""

    def grants(self, principal: Principal) -> Any:
        return super().grants(principal)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.resolve = _reads_only_resolve  # type: ignore[method-assign]


class InstalledResolve(SharedGrants):
    pass


class _AddsJudge(type):
    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> Any:
        namespace.setdefault("judge", functools.partialmethod(_judge_with, writes=False))
        return super().__new__(mcs, name, bases, namespace)


class MetaJudge(Routes, metaclass=_AddsJudge):
    pass


def _slotted() -> Routes:
    routes = SlottedDecide(TABLE)
    base = Routes.decide.__get__(routes)
    routes.decide = lambda p, m, path, r=None: _deny_writes(base(p, m, path, r), m)  # type: ignore[method-assign]
    return routes


def _grants_class_decide_instance() -> Routes:
    routes = SharedGrants(TABLE)  # not a subclass of it: resolve is Routes'
    base = routes.decide
    routes.decide = lambda p, m, path, r=None: _deny_writes(base(p, m, path, r), m)  # type: ignore[method-assign]
    return routes


def _grants_class_judge_instance() -> Routes:
    routes = SharedGrants(TABLE)
    routes.judge = functools.partial(_judge_with, routes, writes=False)  # type: ignore[method-assign]
    return routes


REFUSED: dict[str, Any] = {
    "partialmethod judge": lambda: PartialJudge(TABLE),
    "staticmethod decide": lambda: StaticDecide(TABLE),
    "descriptor decide": lambda: DescriptorDecide(TABLE),
    "slot decide": _slotted,
    "__init_subclass__ resolve": lambda: InstalledResolve(TABLE),
    "metaclass judge": lambda: MetaJudge(TABLE),
    "grants in class, decide on instance": _grants_class_decide_instance,
    "grants in class, judge on instance": _grants_class_judge_instance,
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_every_spelling_of_a_deciding_override_is_refused_and_turns_the_memo_off(
    name: str,
) -> None:
    routes = REFUSED[name]()
    assert not routes.decide(WHO, "DELETE", "/orders/8").allowed  # it does decide more
    assert routes.decide(WHO, "GET", "/orders/8").allowed
    assert decision_overrides(routes)
    with pytest.raises(ConfigurationError, match="without a grants that follows"):
        Authorizer(VERIFIER, routes=routes, cache_ttl=300, decision_log=None)
    with pytest.raises(ConfigurationError, match="without a grants that follows"):
        PolicyBuilder(cache_ttl=300, routes=routes)
    assert_refused_or_honoured(routes)
    at_ttl_0 = Authorizer(VERIFIER, routes=routes, cache_ttl=0, decision_log=None)
    assert at_ttl_0._memo.size == 0


# -- finding: tables changed after the Authorizer was built (fixed: Routes is read-only) ----------
#
# decision_overrides, the request-dependent routes (the memo's and the result cache's
# check) and the PlanCache (keyed by grants.key(), which names no table) are all taken
# once, when the Authorizer / PolicyBuilder is built. ``table`` and ``default`` were plain
# public attributes, so a table changed later was decided one way and answered from the
# old checks and plans: the old table's plan for a swapped table (an over-allow under
# cache_ttl), a header default set late memoized at TTL 0 (a tenant bypass), a decide set
# on the instance late never checked. Each test below failed on the code as reviewed.


def test_a_table_cannot_be_swapped_after_construction() -> None:
    routes = Routes({"GET /a": roles("admin"), "GET /b": authenticated()})
    authorizer = Authorizer(VERIFIER, routes=routes, cache_ttl=300, decision_log=None)
    answer(routes, {"sub": "u"}, "GET", "/b", authorizer=authorizer)
    with pytest.raises(AttributeError):
        routes.table = Routes({"GET /b": roles("admin"), "GET /a": authenticated()}).table  # type: ignore[misc]
    response = answer(routes, {"sub": "u"}, "GET", "/a", authorizer=authorizer)
    assert not iam_allows(response, PREFIX + "GET/a")  # the table it was built with decides
    assert iam_allows(response, PREFIX + "GET/b")


TENANT_TOKEN = {"sub": "u", "tenant": "acme"}


def _header_answers(routes: Routes, authorizer: Authorizer) -> list[bool]:
    """Three requests with the right x-tenant header, then one with another tenant's."""
    bearer = token(**TENANT_TOKEN)
    out = []
    for header in ("acme", "acme", "acme", "globex"):
        event = request_authorizer("GET", "/other", token=bearer, headers={"x-tenant": header})
        out.append(iam_allows(authorizer.handler(event, None), event["methodArn"]))
    return out


def test_a_header_rule_set_before_construction_is_never_memoized() -> None:
    routes = Routes({"GET /a": authenticated()}, default=tenant(header="x-tenant"))
    authorizer = Authorizer(VERIFIER, routes=routes, decision_log=None,
                            claims=ClaimMapper(tenant_claim="tenant"))  # fmt: skip
    assert _header_answers(routes, authorizer) == [True, True, True, False]


def test_a_default_rule_cannot_be_set_after_construction() -> None:
    routes = Routes({"GET /a": authenticated()})
    with pytest.raises(AttributeError):
        routes.default = tenant(header="x-tenant")  # type: ignore[misc]
    assert routes.default is None


def test_a_decide_cannot_be_set_on_a_plain_table() -> None:
    routes = Routes(TABLE)
    with pytest.raises(AttributeError):
        routes.decide = lambda p, m, path, r=None: None  # type: ignore[method-assign]
    assert decision_overrides(routes) == []


class OtherTable(Routes):
    """Redefines ``table``: the planner reads the property, decisions the table it built."""

    @property
    def table(self) -> Any:
        return Routes({"ANY /{proxy+}": authenticated()}).table


def test_a_redefined_table_or_default_is_refused_under_a_result_cache() -> None:
    assert decision_overrides(OtherTable(TABLE)) == ["table"]
    with pytest.raises(ConfigurationError, match="changes table without a grants"):
        PolicyBuilder(cache_ttl=300, routes=OtherTable(TABLE))


# -- finding (sabotage-only): a deciding method in a slot of a grants-overriding class ---------


class SlottedWithGrants(Routes):
    __slots__ = ("decide",)

    def grants(self, principal: Principal) -> Any:
        return super().grants(principal)


def test_a_decide_in_a_slot_beside_grants_is_refused() -> None:
    """Failed on the code as reviewed: the slot's value is on the instance but not in a
    ``__dict__``."""
    routes = SlottedWithGrants(TABLE)
    base = Routes.decide.__get__(routes)
    routes.decide = lambda p, m, path, r=None: _deny_writes(base(p, m, path, r), m)  # type: ignore[method-assign]
    assert not routes.decide(WHO, "DELETE", "/orders/8").allowed
    assert decision_overrides(routes) == ["decide"]
    with pytest.raises(ConfigurationError, match="without a grants that follows"):
        PolicyBuilder(cache_ttl=300, routes=routes)


# == 2. extra_statements and colon requests ==========================================================

COLON_PATH = "/tenants/x:y/admin/users"


class Layered(PolicyBuilder):
    """Denies of every kind the naming must handle, and an Allow it must leave alone."""

    def extra_statements(self, principal: Any, request: Request) -> Iterable[Statement]:
        arn = MethodArn.parse(request.method_arn)
        admin = str(arn.with_route("ANY", "/tenants/{tid}/admin/{proxy+}"))
        yield Statement("Deny", admin, {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
        yield Statement("Allow", str(arn.with_route("GET", "/tenants/{tid}/public")))
        yield Statement("Deny", str(arn.with_route("DELETE", "/{proxy+}")))  # no match
        yield Statement("Deny", arn.prefix + "GET/tenants/x?y/admin/users")


def _statements(response: dict[str, Any]) -> list[dict[str, Any]]:
    return list(response["policyDocument"]["Statement"])


@pytest.mark.parametrize("ttl", [0, 300])
def test_naming_keeps_conditions_and_touches_only_matching_denies(ttl: int) -> None:
    response = _builder_response(Layered, ttl, "GET", COLON_PATH)
    arn = PREFIX + "GET" + COLON_PATH
    by_kind = {(s["Effect"], "Condition" in s): s for s in _statements(response)}
    conditioned = by_kind["Deny", True]
    assert conditioned["Condition"] == {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    assert arn in conditioned["Resource"]
    assert PREFIX + "*/tenants/*/admin/*" in conditioned["Resource"]
    allow = by_kind["Allow", False]
    assert PREFIX + "GET/tenants/*/public" in allow["Resource"]
    assert not any("?" in r for r in allow["Resource"])
    plain_deny = by_kind["Deny", False]
    assert arn in plain_deny["Resource"]  # named once, for the ``?`` Deny
    assert PREFIX + "GET/tenants/x?y/admin/users" in plain_deny["Resource"]
    assert PREFIX + "DELETE/*" in plain_deny["Resource"]
    # Without the condition the ``?`` Deny alone wins under both readings.
    unconditioned = {"Statement": [s for s in _statements(response) if "Condition" not in s]}
    for colon_segments in (False, True):
        assert not iam_allows(unconditioned, arn, colon_segments=colon_segments)


class DenyEverything(PolicyBuilder):
    def extra_statements(self, principal: Any, request: Request) -> Iterable[Statement]:
        yield Statement("Deny", "*")


@pytest.mark.parametrize("ttl", [0, 300])
def test_a_plain_star_deny_still_denies_colon_requests(ttl: int) -> None:
    response = _builder_response(DenyEverything, ttl, "GET", COLON_PATH)
    for colon_segments in (False, True):
        assert not iam_allows(response, PREFIX + "GET" + COLON_PATH, colon_segments=colon_segments)
        assert not iam_allows(response, PREFIX + "GET/tenants/x/a", colon_segments=colon_segments)


COLON_ARNS = [
    "GET/tenants/x:y/admin/users", "GET/tenants/x/admin/a:b", "POST/tenants/a:b/admin/c:d",
    "GET/tenants/x:/admin/y", "DELETE/tenants/:x/admin/y/z", "GET/tenants/x/a:b",
]  # fmt: skip


@pytest.mark.parametrize("first", ["/tenants/x/a", "/tenants/x/admin/b"])
def test_a_cached_policy_of_a_non_colon_request_denies_every_colon_request(first: str) -> None:
    """The inner-``*`` Deny of a non-colon request is not renamed, and under the colon
    rule it misses colon ARNs: the planned ``*:*`` Deny covers them under both readings."""
    response = _builder_response(NoAdminAreas, 300, "GET", first)
    resources = [r for s in _statements(response) for r in s["Resource"]]
    assert PREFIX + COLON_PATHS in resources
    for colon_segments in (False, True):
        for arn in COLON_ARNS:
            assert not iam_allows(response, PREFIX + arn, colon_segments=colon_segments), arn


def test_exact_policies_of_a_caching_builder_name_the_colon_arn_too() -> None:
    routes = Routes({"ANY /tenants/{tid}/{proxy+}": authenticated()})
    builder = NoAdminAreas(cache_ttl=300, routes=routes)
    event = {"type": "TOKEN", "authorizationToken": "Bearer x",
             "methodArn": PREFIX + "GET" + COLON_PATH}  # fmt: skip
    doc = builder.policy(WHO, Request.from_event(event), allow=True, exact=True).to_dict()
    for colon_segments in (False, True):
        assert not iam_allows(doc, PREFIX + "GET" + COLON_PATH, colon_segments=colon_segments)


# -- finding: a Deny whose wildcard must span the colons of the ARN's own prefix --------------
#
# "arn:aws:execute-api:us-east-1:*/prod/DELETE/*": one '*' for the account and the API id.
# Read as a whole it matches every DELETE of stage prod; under the colon rule it matches
# nothing, so the Allow wins. It failed on the code as reviewed (TTL 0 and 300); a Resource
# short of the API id must now end in a '*' standing for the rest.


@pytest.mark.parametrize(
    "resource",
    [
        "arn:aws:execute-api:us-east-1:*/prod/DELETE/*",
        "arn:aws:execute-api:*/prod/*",
        "arn:aws:execute-api:us-east-1:12345678901?",
    ],
)
def test_a_resource_whose_wildcard_spans_the_prefix_colons_is_refused(resource: str) -> None:
    with pytest.raises(ConfigurationError, match="a wildcard inside a part stops at ':'"):
        Statement("Deny", resource)


@pytest.mark.parametrize(
    "resource",
    [
        "*",
        "arn:aws:execute-api:*",
        "arn:aws:execute-api:us-*",
        "arn:aws:execute-api:us-east-1:*",
        "arn:aws:execute-api:*:*:*/prod/DELETE/*",
        "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/*/DELETE/*",
    ],
)
def test_resources_that_read_alike_under_both_readings_are_accepted(resource: str) -> None:
    assert Statement("Deny", resource).resources == (resource,)


class EveryDelete(PolicyBuilder):
    """A Deny of every DELETE, written with each of the ARN's parts spelled out."""

    def extra_statements(self, principal: Any, request: Request) -> Iterable[Statement]:
        yield Statement("Deny", "arn:aws:execute-api:us-east-1:*:*/prod/DELETE/*")


@pytest.mark.parametrize("ttl", [0, 300])
def test_a_deny_with_every_part_spelled_out_wins_under_the_colon_rule(ttl: int) -> None:
    response = _builder_response(EveryDelete, ttl, "DELETE", "/tenants/x/a")
    for colon_segments in (False, True):
        assert not iam_allows(response, PREFIX + "DELETE/tenants/x/a", colon_segments=colon_segments)
