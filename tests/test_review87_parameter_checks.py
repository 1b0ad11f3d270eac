"""Review 87: the path-parameter checks of 242afc7 and dead658 attacked (``rules.missing_parameters``,
``negated_parameters``, ``guard_routes.check_rule``) and the anonymous ``~`` bindings
(``_binds_values``). Real objects only (KeyPair, secauth.testing_events, secauth.testing_policy,
Powertools' resolver); no network.

All six findings are resolved after the review (the tests assert it), by one change of
meaning rather than more construction-time checks: a rule that cannot tell (the anonymous
principal's roles, scopes or tenant; a tenant value missing, given twice or still encoded; no
usable source IP) refuses *undecided* (``Denial.undecided``), and ``~`` keeps an undecided
refusal a refusal. A guard's ``~tenant(path=)`` on a reading without the parameter, in a guard
without a table, or with ``?tenant=acme&tenant=acme`` now denies at request time, so a guard's own
rule is refused only for a parameter no route has. ``rules._without_identity`` and
``_binds_values`` are gone; ``~``'s bindings follow ``rules._undecided``.

Finding (medium): a Guard's own rule is not checked against the table's ``default=`` rule.
``check_rule`` collects the parameters of the table's routes and WebSocket keys, but a request no
route matches is decided by the ``default`` rule with no parameters at all, and the guard's rule
is then asked about ``{}``. ``Guard(routes=Routes({"GET /t/{tenantId}/x": ...},
default=authenticated()), rule=roles("auditor") & ~tenant(path="tenantId"))`` is accepted, and
an auditor of acme runs the handler on ``/t/acme/y`` (a path the application serves, the table
leaves to its default): the missing value never denies and ``~`` allows. ``Routes`` refuses the
same rule as its own ``default`` (it has no parameters). Root cause: ``routes_have`` in
``check_rule`` lists ``table.routes`` and ``table.specials`` only; the default reading (and a
WebSocket message falling to it) is a route without parameters too.

Finding (medium): a Guard without a table (``Guard(routes=None)``, typically a Powertools route
guard ``guard.require(...)`` in a Lambdalith) checks its own rule neither at construction nor per
request. ``require(roles("auditor") & ~tenant(path="tenant_id"))`` (misspelt) or, behind API
Gateway's ``ANY /{proxy+}`` with a Powertools route ``/t/<tenantId>/audit``, the correctly named
``~tenant(path="tenantId")`` (API Gateway's parameters are ``{"proxy": ...}``) let acme's auditor
audit acme. Root cause: ``check_rule`` returns early when ``routes is None`` ("the parameters are
API Gateway's, unknown here"), and ``guard_routes.decide`` asks the rule about
``request.path_params`` as they are; a parameter read under ``~`` that a request's parameters
lack is known then, and could be refused (fail closed) at that point.

Finding (medium): ``~tenant(header=...)``/``~tenant(query=...)`` turns ``tenant``'s refusal of an
ambiguous value into an allow. A tenant named twice is refused by ``tenant`` ("backends differ on
which value wins"), so ``roles("auditor") & ~tenant(query="tenant")`` ("other tenants only")
allows ``?tenant=acme&tenant=acme`` for acme's auditor, and a REST backend reading
``queryStringParameters`` (or ``headers``) gets ``acme``. The path-parameter analogue is handled
(``;`` values are read both ways and both must allow) and a missing path parameter under ``~`` is
refused at construction; a header or query value the client may leave out or repeat is not.
Root cause: ``_Not`` negates every denial of its inner rule, including ``tenant``'s refusals that
mean "cannot tell" (no value, two values, still encoded), which should stay refusals under ``~``.

Finding (low, false refusal): ``guard.require(rule)`` for one handler is checked against every
route of the guard's table, so a Powertools route guard ``global_guard.require(roles("auditor") &
~tenant(path="tenantId"))`` on ``/t/{tenantId}/audit`` is refused because the global table also
lists ``GET /health``, a route the handler never serves (the table's own rule on that route is the
workaround). A per-request refusal of a reading that lacks the parameter (the two mediums above)
would also make this check unnecessary. Root cause: ``check_rule`` cannot know which routes the
derived guard's handler serves and assumes all.

Finding (low, unclear error): the guard's refusal does not name the route that lacks the
parameter (``Routes`` names it: ``route 'GET /health' reads ...``); with a large table the
operator has to search for it. Root cause: ``check_rule`` keeps the parameter sets, not the keys.

Held: ``Routes`` refuses a misspelt parameter under ``~`` at any depth (De Morgan forms, ``~`` over
a whole ``|``/``&``, double negations, left- and right-nested chains, the ``default`` rule,
WebSocket keys, a rule reused across routes on the route that lacks it, ``{proxy+}`` spelt
``proxy+``) and keeps the correctly named parameter in the same shapes, ``tenant(path="proxy")``
on ``{proxy+}``, and a shared ``roles("admin") | tenant(path=...)`` on a route without it;
generated rule trees accepted on a route without ``t`` never allow there what some value of ``t``
would deny (a missing parameter never widens a table); a guard's ``~`` rule is refused on a table
where any route lacks the parameter and accepted where all have it; with custom rules binding path
values in generated trees, ``check``, ``bindings``, ``decide`` and ``allowed_routes`` agree for the
anonymous and signed-in principals (bindings are sound, and exact where not ``None``); the
Authorizer's cached policy (``cache_ttl=300``) never allows what ``decide`` denies on a table of
negated custom binding rules.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
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
from secauth.integrations.powertools import guard_middleware
from secauth.policy import Unauthorized
from secauth.principal import Principal
from secauth.rules import AccessContext, Denial, Rule
from secauth.testing_policy import iam_allows, method_arn

AUDITOR = Principal("ann", tenant="acme", roles={"auditor"})


def guard(routes: Routes | None = None, **options: Any) -> Guard:
    return Guard(VERIFIER, routes=routes, claims=CLAIMS, decision_log=None, **options)


def auditor_event(path: str, resource: str, params: dict[str, str]) -> dict[str, Any]:
    return te.rest_proxy(
        "GET", path, resource=resource, path_params=params, token=token(roles=["auditor"])
    )


OTHER_TENANTS_ONLY = roles("auditor") & ~tenant(path="tenantId")


class OwnerOnly(Rule):
    """access.md's custom rule: the caller's own user id in the path ``userId``."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        if context.params.get("userId") == principal.id:
            return None
        return Denial(Reason.FORBIDDEN, "not the owner")

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return [{"userId": principal.id}]


class FixedValue(Rule):
    """A custom rule allowing everyone (the anonymous principal too) on ``t == "x"``."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return None if context.params.get("t") == "x" else Denial(Reason.FORBIDDEN, "not x")

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return [{"t": "x"}]


class Constant(Rule):
    """A custom rule deciding from the principal alone: ``allows`` everyone or no one."""

    def __init__(self, allows: bool) -> None:
        self.allows = allows

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return None if self.allows else Denial(Reason.FORBIDDEN, "constant")

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return [{}] if self.allows else []


# -- findings --------------------------------------------------------------------------------------
# fmt: off


def test_a_guards_negated_rule_is_checked_against_the_default_reading() -> None:
    table = Routes({"GET /t/{tenantId}/x": authenticated()}, default=authenticated())
    try:
        guarded = guard(table, rule=OTHER_TENANTS_ONLY)
    except ConfigurationError:
        return  # refused like Routes refuses it as the default rule: fine
    assert run(guarded, auditor_event("/t/globex/x", "/t/{tenantId}/x", {"tenantId": "globex"})) == 200
    # acme's own auditor on a path the table leaves to its default: ~ over a missing value
    own = auditor_event("/t/acme/y", "/t/{tenantId}/y", {"tenantId": "acme"})
    assert run(guarded, own) != 200


def test_a_guard_without_a_table_refuses_a_missing_negated_parameter() -> None:
    derived = guard().require(roles("auditor") & ~tenant(path="tenant_id"))
    own = auditor_event("/t/acme/audit", "/t/{tenantId}/audit", {"tenantId": "acme"})
    assert run(derived, own) != 200


def test_a_powertools_route_guard_in_a_lambdalith_keeps_its_negation() -> None:
    global_guard = guard()
    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(global_guard)])

    @app.get("/t/<tenantId>/audit", middlewares=[guard_middleware(global_guard.require(OTHER_TENANTS_ONLY))])
    def audit(tenantId: str) -> dict[str, str]:
        return {"audited": tenantId}

    def status(value: str) -> int:
        event = te.rest_proxy("GET", f"/t/{value}/audit", resource="/{proxy+}",
                              path_params={"proxy": f"t/{value}/audit"}, token=token(roles=["auditor"]))
        return int(app.resolve(event, None)["statusCode"])

    assert status("acme") != 200  # acme's own auditor, on acme


@pytest.mark.parametrize("source", ["query", "header"])
def test_a_negated_tenant_is_not_widened_by_a_repeated_value(source: str) -> None:
    name = "tenant" if source == "query" else "x-tenant-id"
    rule_ = tenant(query=name) if source == "query" else tenant(header=name)
    routes = Routes({"GET /audit": roles("auditor") & ~rule_})
    sent = "query" if source == "query" else "headers"
    once: dict[str, Any] = {sent: {name: "acme"}}
    repeated: dict[str, Any] = {sent: {name: ["acme", "acme"]}}
    single = te.rest_proxy("GET", "/audit", resource="/audit", **once)
    twice = te.rest_proxy("GET", "/audit", resource="/audit", **repeated)
    read = twice["queryStringParameters"] if source == "query" else twice["headers"]
    assert read[name] == "acme"  # what a backend reading the single-value map gets
    assert not routes.decide(AUDITOR, "GET", "/audit", Request.from_event(single)).allowed
    assert not routes.decide(AUDITOR, "GET", "/audit", Request.from_event(twice)).allowed


def test_a_handlers_own_rule_is_not_refused_for_an_unrelated_route() -> None:
    table = Routes({"GET /health": public(), "GET /t/{tenantId}/audit": authenticated()})
    derived = guard(table).require(OTHER_TENANTS_ONLY)
    ok = auditor_event("/t/globex/audit", "/t/{tenantId}/audit", {"tenantId": "globex"})
    assert run(derived, ok) == 200
    own = auditor_event("/t/acme/audit", "/t/{tenantId}/audit", {"tenantId": "acme"})
    assert run(derived, own) == 403


def test_the_guards_refusal_names_the_route_lacking_the_parameter() -> None:
    """Resolved by deciding it per request instead: a guard's rule is accepted when some
    route has the parameter; on a route without it, ``~tenant(path=)`` is undecided and
    denies (no refusal to word)."""
    table = Routes({"GET /t/{tenantId}/audit": authenticated(), "GET /health": public()})
    guarded = guard(table, rule=OTHER_TENANTS_ONLY)
    health = te.rest_proxy("GET", "/health", resource="/health", token=token(roles=["auditor"]))
    assert run(guarded, health) == 403
    other = auditor_event("/t/globex/audit", "/t/{tenantId}/audit", {"tenantId": "globex"})
    assert run(guarded, other) == 200


# fmt: on
# -- what held: the Routes check ----------------------------------------------------------------

MISSPELT = tenant(path="tenant_id")
SHAPES = {
    "de-morgan-and": lambda t: ~(~roles("admin") | t),  # admin & ~t
    "de-morgan-or": lambda t: ~(roles("admin") & t) & roles("auditor"),
    "not-over-or": lambda t: ~(roles("banned") | t),
    "double-in-arm": lambda t: roles("admin") | ~(roles("x") & ~(~t)),
    "right-nested": lambda t: roles("a") | (roles("b") | (roles("c") & ~t)),
    "left-nested": lambda t: (~t & roles("c")) | roles("b") | roles("a"),
    "and-chain": lambda t: roles("a") & scopes("s") & ~t,
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("where", ["route", "default", "websocket", "reused"])
def test_a_misspelt_negated_parameter_is_refused_in_every_shape(shape: str, where: str) -> None:
    rule_ = SHAPES[shape](MISSPELT)
    tables: dict[str, tuple[dict[str, Rule], Rule | None]] = {
        "route": ({"GET /t/{tenantId}": rule_}, None),
        "default": ({"GET /t/{tenant_id}": rule_}, rule_),
        "websocket": ({"GET /t/{tenant_id}": rule_, "$connect": rule_}, None),
        "reused": ({"GET /a/{tenant_id}": rule_, "GET /b/{tenantId}": rule_}, None),
    }
    table, default = tables[where]
    with pytest.raises(ConfigurationError, match="tenant_id"):
        Routes(table, default=default)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_correct_parameter_is_kept_in_every_shape(shape: str) -> None:
    routes = Routes({"ANY /t/{tenantId}/{proxy+}": SHAPES[shape](tenant(path="tenantId"))})
    assert routes.match("GET", "/t/acme/x") is not None


def test_proxy_parameters_and_shared_rules() -> None:
    assert Routes({"ANY /t/{proxy+}": roles("a") & ~tenant(path="proxy")}).match("GET", "/t/a/b")
    with pytest.raises(ConfigurationError, match="proxy"):
        Routes({"ANY /t/{proxy+}": roles("a") & ~tenant(path="proxy+")})
    shared = roles("admin") | tenant(path="tenantId")
    routes = Routes({"GET /reports": shared, "GET /t/{tenantId}": shared, "$connect": shared})
    admin, member = Principal("a", roles={"admin"}), Principal("m", tenant="acme")
    assert routes.decide(admin, "GET", "/reports").allowed
    assert not routes.decide(member, "GET", "/reports").allowed
    assert routes.decide(member, "GET", "/t/acme").allowed


def test_a_guards_negated_rule_is_checked_route_by_route() -> None:
    """Since the fix, per request: a route or key without the parameter is undecided there;
    a name no route has is refused when the guard is built."""
    with_key = guard(Routes({"GET /t/{tenantId}/a": public(), "$connect": authenticated()}),
                     rule=OTHER_TENANTS_ONLY)  # fmt: skip
    assert with_key.rule is OTHER_TENANTS_ONLY
    with pytest.raises(ConfigurationError, match="tenant_id"):
        guard(Routes({"GET /t/{tenantId}/a": public()})).require(
            roles("a") | ~(roles("b") & MISSPELT)
        )
    table = Routes(
        {"GET /t/{tenantId}/a": authenticated(), "ANY /t/{tenantId}/{proxy+}": authenticated()}
    )
    guarded = guard(table, rule=OTHER_TENANTS_ONLY)
    assert (
        run(guarded, auditor_event("/t/globex/a", "/t/{tenantId}/a", {"tenantId": "globex"})) == 200
    )
    assert run(guarded, auditor_event("/t/acme/a", "/t/{tenantId}/a", {"tenantId": "acme"})) == 403


# -- what held: generated trees ------------------------------------------------------------------

BUILTINS = {
    "roles": roles("a"),
    "scopes": scopes("s"),
    "t": tenant(path="t"),
    "u": tenant(path="u"),
    "authenticated": authenticated(),
    "public": public(),
}
CUSTOM = {"fixed": FixedValue(), "always": Constant(True), "never": Constant(False)}


def trees(leaves: dict[str, Rule]) -> st.SearchStrategy[Rule]:
    return st.recursive(
        st.sampled_from(sorted(leaves)).map(leaves.__getitem__),
        lambda inner: st.one_of(
            inner.map(lambda r: ~r),
            st.tuples(inner, inner).map(lambda p: p[0] & p[1]),
            st.tuples(inner, inner).map(lambda p: p[0] | p[1]),
        ),
        max_leaves=6,
    )


PRINCIPALS = [
    ANON,
    Principal("u"),
    Principal("p", roles={"a"}, tenant="acme"),
    Principal("q", scopes={"s"}, tenant="x"),
    Principal("r", roles={"a"}, scopes={"s"}, tenant="globex"),
]
VALUES = ("acme", "x", "globex")


@settings(max_examples=200, deadline=None, derandomize=True)
@given(trees(BUILTINS))
def test_an_accepted_rule_never_allows_more_for_a_missing_parameter(rule_: Rule) -> None:
    """On ``/a/{u}`` (no ``t``): whatever an accepted rule allows there, it allows on ``/b/{t}/{u}``
    for every value of ``t`` (the missing value acts as the least permissive one)."""
    try:
        routes = Routes({"GET /a/{u}": rule_, "GET /b/{t}/{u}": roles("never-granted") | rule_})
    except ConfigurationError:
        return
    for principal, u in itertools.product(PRINCIPALS, VALUES):
        if routes.decide(principal, "GET", f"/a/{u}").allowed:
            for t in VALUES:
                assert routes.decide(principal, "GET", f"/b/{t}/{u}").allowed, (
                    rule_,
                    principal,
                    t,
                    u,
                )


@settings(max_examples=250, deadline=None, derandomize=True)
@given(trees({**BUILTINS, **CUSTOM}))
def test_check_bindings_decide_and_allowed_routes_agree_with_custom_bindings(rule_: Rule) -> None:
    try:
        routes = Routes({"GET /t/{t}/{u}": rule_})
    except ConfigurationError:
        return
    for principal in PRINCIPALS:
        bindings = rule_.bindings(principal)
        listed = {(r.verb, r.path) for r in routes.allowed_routes(principal)}
        for t, u in itertools.product(VALUES, repeat=2):
            path, params = f"/t/{t}/{u}", {"t": t, "u": u}
            checked = rule_.check(principal, AccessContext("GET", path, params, None)) is None
            assert routes.decide(principal, "GET", path).allowed == checked, (
                rule_,
                principal,
                path,
            )
            if bindings is None:
                continue
            bound = any(all(params.get(k) == v for k, v in b.items()) for b in bindings)
            assert bound == checked, (rule_, principal, path, bindings)
            covered = any(("GET", f"/t/{a}/{b}") in listed for a in (t, "{t}") for b in (u, "{u}"))
            assert covered == checked, (rule_, principal, path, listed)


NEGATED_CUSTOM = Routes({  # decided from the probe principal alone; per caller, not always
    "GET /u/{userId}": OwnerOnly(),
    "GET /v/{userId}": ~(OwnerOnly() & roles("a")),
    "GET /w/{userId}": ~(OwnerOnly() & roles("banned")),
    "GET /x/{userId}": roles("a") & ~(roles("banned") & OwnerOnly()),
    "GET /y/{userId}": ~(~(roles("a") & OwnerOnly())),
    "GET /z/{t}": ~(FixedValue() & roles("a")) & authenticated(),
})  # fmt: skip
CALLERS = [
    {"sub": "m"},
    {"sub": "a", "roles": ["a"]},
    {"sub": "x", "roles": ["banned"]},
    {"sub": "b", "roles": ["banned", "a"]},
]
PATHS = [f"/{p}/{v}" for p in "uvwxyz" for v in ("m", "a", "x", "b")]  # "x": FixedValue's


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c["sub"])
def test_the_cached_policy_never_allows_what_decide_denies_on_negated_custom_rules(
    caller: dict[str, Any],
) -> None:
    authorizer = Authorizer(VERIFIER, routes=NEGATED_CUSTOM, cache_ttl=300, claims=CLAIMS,
                            decision_log=None)  # fmt: skip
    jwt = token(**caller)
    principal = CLAIMS.map(VERIFIER.verify(jwt))
    answered = 0
    for first in PATHS:
        try:
            answer = authorizer.handler(te.token_authorizer("GET", first, token=jwt), None)
        except Unauthorized:
            continue
        answered += 1
        for method, path in itertools.product(("GET", "PUT"), PATHS):
            cached = iam_allows(answer["policyDocument"], method_arn(method, path))
            assert not cached or NEGATED_CUSTOM.decide(principal, method, path).allowed, (
                first,
                path,
            )
    assert answered
