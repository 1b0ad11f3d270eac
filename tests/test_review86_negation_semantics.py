"""Review 86: the three-valued ``~`` for the anonymous principal and the path-parameter check of
56adb32 and dead658 attacked. Real objects only (KeyPair, secauth.testing_events,
secauth.testing_policy, Powertools' resolver); no network.

All four findings are resolved after the review (the tests assert it): ``missing_parameters``
counts a missing parameter under a ``~`` at any depth (``rules.negated_parameters``); a guard's
own rule is checked route by route (a ``~``'s lack on any route, a never-allowing lack on all);
``~`` for the anonymous principal has bindings None where its answer needs the request; and
``require(~authenticated())`` admitting nobody is what guard.md says of a handler's own rule.

Finding (medium): ``rules.missing_parameters`` misses a ``~`` that is not a direct child of the
``|`` it sits under. It promises "always under ~", but for an ``|`` with an arm that can allow it
keeps only the lacks of its *direct* ``_Not`` children and drops what the other arms' recursion
found. So a misspelt parameter under ``~`` passes whenever the ``~`` sits in an ``&`` inside an
``|`` arm (``roles("admin") | (roles("auditor") & ~tenant(path="tenant_id"))`` on
``/t/{tenantId}``: auditors may audit other tenants, never their own) or in a left-nested ``|``
chain (``~tenant(path="tenant_id") | roles("admin") | roles("support")`` is accepted while
``roles("admin") | roles("support") | ~tenant(path="tenant_id")`` is refused: Python builds
``a | b | c`` as ``(a | b) | c``). The missing value never denies, ``~`` allows, and the auditor
reads their own tenant through a Guard (and through ``Routes.decide``/an Authorizer alike). Also
for the ``default`` rule and WebSocket keys. Root cause: the ``_Any`` branch's
``negated = [... for i in rule.rules if isinstance(i, _Not)]`` looks one level down; it needs the
lacks under a ``~`` at any depth of each arm (a second recursive result), not just direct ones.

Finding (low): a Guard's own rule (``rule=``, ``require()``) is checked against the union of
every route's parameters (``guard_routes.check_rule``), not per route. It is applied on every
route of the table, so ``require(roles("admin") | ~tenant(path="tenant_id"))`` on a table whose
``/a/{tenant_id}`` has the name and ``/b/{tenantId}`` does not is accepted, and on ``/b/acme``
the misspelt ``~`` allows acme's own member. Root cause: ``check_rule`` collects
``have`` over all templates; a ``~``'s lack has to be absent from every route the rule decides.

Finding (low): a Guard's own rule ``~authenticated()`` (a sign-up handler,
``guard.require(~authenticated())``) is accepted and allows nobody: a signed-in caller fails the
rule and a caller without credentials is refused before any rule (``anonymous_if_public``:
"a handler with its own rule is never reachable anonymously"). Review 85 fixed the same dead
rule on a ``Routes`` entry; the Guard's own rule still accepts it silently (fails closed).

Finding (low, fails closed): for the anonymous principal, ``_Not.bindings`` and ``_Not.check``
disagree on a negated custom rule with path bindings (``~OwnerOnly()``, access.md's example):
``bindings`` says ``[]`` (never) while ``check`` allows on every other user's path, so
``allowed_routes`` leaves out a route ``decide`` allows. Root cause: ``_without_identity`` without
a request maps any binding list but ``[]``/``[{}]`` to unknown, with a request it asks the rule.

Held: anonymous checks are sound over generated trees of roles/scopes/tenant/authenticated/
public/source_ip under ``&``, ``|`` and ``~`` (whatever the anonymous principal is allowed, every
assignment of roles, scopes and tenant allows too); ``check``, ``bindings``, ``decide`` and
``allowed_routes`` agree for the anonymous and signed-in principals on generated trees; the
Authorizer's cached policy (cache_ttl=300) never allows what ``decide`` denies on a table of
negations, De Morgan pairs and tenant rules; a Guard, WebSocket ``$connect``/messages, a
``default=`` rule and Powertools global and route guards answer 401 to a caller without
credentials on ``~(a & b)``/``~(a | b)``/De Morgan shapes turning on identity and admit one
where the request decides (``~(roles & source_ip)`` from outside, ``~authenticated()``);
``require()`` is never anonymous; direct ``~`` arms are refused in either order, a plain ``|``
arm lacking its parameter is kept; ``Guard(trust_authorizer=)`` takes only True or False.
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
from secauth.access import source_ip
from secauth.errors import ConfigurationError, Reason
from secauth.events import Request
from secauth.integrations.powertools import guard_middleware
from secauth.policy import Unauthorized
from secauth.principal import Principal
from secauth.rules import AccessContext, Denial, Rule
from secauth.testing_policy import iam_allows, method_arn

CALLER_IP = "203.0.113.9"  # the event builders' source IP
INSIDE = source_ip(allow=[CALLER_IP + "/32"])
OUTSIDE = source_ip(allow=["10.0.0.0/8"])


def guard(routes: Routes, **options: Any) -> Guard:
    return Guard(VERIFIER, routes=routes, claims=CLAIMS, decision_log=None, **options)


def tenant_event(path: str, resource: str, params: dict[str, str], **sent: Any) -> dict[str, Any]:
    return te.rest_proxy("GET", path, resource=resource, path_params=params, **sent)


class OwnerOnly(Rule):
    """access.md's custom rule: the caller's own user id in the path."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        if context.params.get("userId") == principal.id:
            return None
        return Denial(Reason.FORBIDDEN, "not the owner")

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return [{"userId": principal.id}]


# -- findings (resolved: the tests assert the fix) ----------------------------------------------
# fmt: off

NESTED_NEGATIONS = {
    "and-in-or-arm": roles("admin") | (roles("auditor") & ~tenant(path="tenant_id")),
    "left-nested-or": ~tenant(path="tenant_id") | roles("admin") | roles("support"),
    "or-in-or-arm": roles("admin") | (roles("support") | ~tenant(path="tenant_id")),
}


@pytest.mark.parametrize("where", ["route", "default", "websocket"])
@pytest.mark.parametrize("rule_", NESTED_NEGATIONS.values(), ids=NESTED_NEGATIONS.keys())
def test_a_nested_negation_reading_a_missing_parameter_is_refused(rule_: Rule, where: str) -> None:
    table, default = {
        "route": ({"GET /t/{tenantId}": rule_}, None),
        "default": ({"GET /t/{tenantId}": authenticated()}, rule_),
        "websocket": ({"sendmessage": rule_}, None),
    }[where]
    with pytest.raises(ConfigurationError, match="tenant_id"):
        Routes(table, default=default)


def test_an_auditor_never_reads_their_own_tenant_through_a_misspelt_negation() -> None:
    """Auditors audit other tenants, not their own; the table misspells ``tenantId``."""
    try:
        routes = Routes({"GET /t/{tenantId}": NESTED_NEGATIONS["and-in-or-arm"]})
    except ConfigurationError:
        return  # refused when built: the fix
    own = tenant_event("/t/acme", "/t/{tenantId}", {"tenantId": "acme"},
                       token=token(roles=["auditor"], tenant="acme"))
    assert run(guard(routes), own) == 403


def test_a_guard_rule_negating_a_parameter_one_route_lacks_is_refused_or_denies() -> None:
    routes = Routes({
        "GET /a/{tenant_id}": authenticated(),
        "GET /b/{tenantId}": authenticated(),
    })
    try:
        cross_tenant = guard(routes).require(roles("admin") | ~tenant(path="tenant_id"))
    except ConfigurationError:
        return
    own = tenant_event("/b/acme", "/b/{tenantId}", {"tenantId": "acme"},
                       token=token(tenant="acme"))
    assert run(cross_tenant, own) == 403


def test_a_guard_rule_for_callers_without_credentials_is_refused_or_reachable() -> None:
    """Resolved in the docs (guard.md): a handler with its own rule is never reachable
    anonymously, so ``require(~authenticated())`` admits nobody; a route for callers without
    credentials says so in the table (``public()`` or ``~authenticated()``)."""
    routes = Routes({"POST /signup": public()})
    signup = guard(routes).require(~authenticated())
    anonymous = te.rest_proxy("POST", "/signup", resource="/signup")
    signed_in = te.rest_proxy("POST", "/signup", resource="/signup", token=token())
    assert (run(signup, anonymous), run(signup, signed_in)) == (401, 403)
    in_the_table = guard(Routes({"POST /signup": ~authenticated()}))
    assert (run(in_the_table, anonymous), run(in_the_table, signed_in)) == (200, 403)


def test_negated_custom_rule_bindings_agree_with_check_for_the_anonymous_principal() -> None:
    """Fixed: for the anonymous principal a ``~`` whose answer is unknown without the request
    has bindings None (cannot say from the principal alone), not ``[]`` (never), as a
    negated partial binding has for a signed-in caller; such routes are left out of
    ``allowed_routes``, which lists only what bindings can prove."""
    not_owner = ~OwnerOnly()
    routes = Routes({"GET /users/{userId}": not_owner})
    assert routes.decide(ANON, "GET", "/users/bob").allowed
    assert not_owner.bindings(ANON) is None
    assert not_owner.bindings(Principal("bob")) is None
    assert routes.allowed_routes(ANON) == []


# fmt: on


# -- what held: anonymous callers in a Guard ----------------------------------------------------

ASKS_FOR_A_TOKEN = [
    ~(roles("banned") | OUTSIDE),
    ~(roles("banned") & INSIDE),
    ~roles("banned") & ~OUTSIDE,
    ~roles("banned") | ~INSIDE,
    public() & ~(scopes("x") | tenant(path="feedId")),
    ~(~roles("member") & authenticated()) & ~roles("banned"),
    ~~(roles("a") | OUTSIDE),
    (public() | roles("a")) & ~(tenant(header="x-tenant") & public()),
]
ADMITS_WITHOUT_A_TOKEN = [
    ~(roles("banned") & OUTSIDE),  # false for anyone from outside 10/8
    ~roles("banned") | ~OUTSIDE,
    ~(roles("staff") & authenticated()),  # not a signed-in staff member
    ~(~authenticated() & ~INSIDE),
    public() | ~roles("x"),
    ~~(roles("a") | INSIDE),  # anyone from the caller's address
]


@pytest.mark.parametrize("rule_", ASKS_FOR_A_TOKEN, ids=repr)
def test_shapes_turning_on_identity_ask_a_caller_without_credentials_for_a_token(
    rule_: Rule,
) -> None:
    routes = Routes({"GET /feed/{feedId}": rule_, "GET /health": public()})
    event = tenant_event("/feed/7", "/feed/{feedId}", {"feedId": "7"})
    assert run(guard(routes), event) == 401
    assert run(guard(routes), te.rest_proxy("GET", "/health", resource="/health")) == 200
    if rule_.path_parameters():
        return  # refused where no feedId is: the default rule, WebSocket keys, /feed
    with_default = Routes({"GET /health": public()}, default=rule_)
    assert run(guard(with_default), te.rest_proxy("GET", "/elsewhere", resource="/{proxy+}")) == 401
    ws = Routes({"$connect": rule_, "sendmessage": rule_, "$default": rule_})
    for route_key, event_type in (
        ("$connect", "CONNECT"),
        ("sendmessage", "MESSAGE"),
        ("x", "MESSAGE"),
    ):
        message = te.websocket_message(route_key, "{}")
        message["requestContext"]["eventType"] = event_type
        assert run(guard(ws), message) == 401
    assert powertools_status(guard(Routes({"GET /feed": rule_})), None, "/feed") == 401
    everything_public = guard(Routes({"ANY /{proxy+}": public()}))
    assert powertools_status(everything_public, guard(Routes({"GET /feed": rule_})), "/feed") == 401


@pytest.mark.parametrize("rule_", ADMITS_WITHOUT_A_TOKEN, ids=repr)
def test_shapes_decided_by_the_request_admit_a_caller_without_credentials(rule_: Rule) -> None:
    routes = Routes({"GET /feed": rule_})
    assert run(guard(routes), te.rest_proxy("GET", "/feed", resource="/feed")) == 200
    assert powertools_status(guard(routes), None, "/feed") == 200
    # a guard's own rule is never anonymous, whatever it says
    assert run(guard(Routes({"GET /feed": public()})).require(rule_),
               te.rest_proxy("GET", "/feed", resource="/feed")) == 401  # fmt: skip


def powertools_status(global_guard: Guard, route_guard: Guard | None, path: str) -> int:
    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(global_guard)])
    middlewares = [guard_middleware(route_guard)] if route_guard is not None else []

    @app.get(path, middlewares=middlewares)
    def feed() -> dict[str, bool]:
        return {"ok": True}

    return int(app.resolve(te.rest_proxy("GET", path, resource=path), None)["statusCode"])


def test_a_signed_in_caller_is_answered_by_the_plain_negation() -> None:
    routes = Routes({"GET /feed": ~(roles("banned") | OUTSIDE)})
    event = te.rest_proxy("GET", "/feed", resource="/feed", token=token(roles=["member"]))
    assert run(guard(routes), event) == 200
    banned = te.rest_proxy("GET", "/feed", resource="/feed", token=token(roles=["banned"]))
    assert run(guard(routes), banned) == 403


# -- what held: generated rule trees ------------------------------------------------------------

LEAVES = {
    "roles": roles("a"),
    "scopes": scopes("s"),
    "tenant": tenant(path="t"),
    "authenticated": authenticated(),
    "public": public(),
    "inside": INSIDE,
    "outside": OUTSIDE,
}


def trees() -> st.SearchStrategy[tuple[Rule, Any]]:
    """A rule and its shape, a nested tuple the reference evaluator reads."""
    leaf = st.sampled_from(sorted(LEAVES)).map(lambda name: (LEAVES[name], name))
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            inner.map(lambda r: (~r[0], ("not", r[1]))),
            st.tuples(inner, inner).map(lambda p: (p[0][0] & p[1][0], ("and", p[0][1], p[1][1]))),
            st.tuples(inner, inner).map(lambda p: (p[0][0] | p[1][0], ("or", p[0][1], p[1][1]))),
        ),
        max_leaves=6,
    )


def reference(shape: Any, facts: dict[str, bool]) -> bool:
    if isinstance(shape, str):
        return facts[shape]
    if shape[0] == "not":
        return not reference(shape[1], facts)
    parts = [reference(part, facts) for part in shape[1:]]
    return all(parts) if shape[0] == "and" else any(parts)


REQUEST = Request.from_event(tenant_event("/t/acme", "/t/{t}", {"t": "acme"}))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(trees())
def test_what_the_anonymous_principal_is_allowed_every_identity_is(tree: tuple[Rule, Any]) -> None:
    """Sound three-valued answers: an allow for the anonymous principal holds whatever roles,
    scopes and tenant it would have (authenticated() false, the request's address fixed)."""
    rule_, shape = tree
    context = AccessContext("GET", "/t/acme", {"t": "acme"}, REQUEST)
    if rule_.check(ANON, context) is None:
        for has_role, has_scope, same_tenant in itertools.product((False, True), repeat=3):
            facts = {"roles": has_role, "scopes": has_scope, "tenant": same_tenant,
                     "authenticated": False, "public": True, "inside": True, "outside": False}  # fmt: skip
            assert reference(shape, facts), (rule_, facts)


PRINCIPALS = [
    ANON,
    Principal("u"),
    Principal("a", roles={"a"}, tenant="acme"),
    Principal("b", scopes={"s"}, tenant="acme"),
    Principal("c", roles={"a"}, scopes={"s"}, tenant="globex"),
]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(trees())
def test_check_bindings_decide_and_allowed_routes_agree(tree: tuple[Rule, Any]) -> None:
    rule_ = tree[0]
    routes = Routes({"GET /t/{t}": rule_})
    for principal in PRINCIPALS:
        bindings = rule_.bindings(principal)
        listed = {(r.verb, r.path) for r in routes.allowed_routes(principal)}
        for value in ("acme", "globex"):
            path = f"/t/{value}"
            request = Request.from_event(tenant_event(path, "/t/{t}", {"t": value}))
            checked = (
                rule_.check(principal, AccessContext("GET", path, {"t": value}, request)) is None
            )
            assert routes.decide(principal, "GET", path, request).allowed == checked
            if bindings is not None:
                bound = any(all({"t": value}.get(k) == v for k, v in b.items()) for b in bindings)
                assert bound == checked, (rule_, principal)
                assert (("GET", path) in listed or ("GET", "/t/{t}") in listed) == checked


# -- what held: the Authorizer's cached policies -------------------------------------------------

NEGATION_TABLE = Routes({  # ~tenant(...) reads the request for a caller with a tenant: not here
    "GET /t/{t}": tenant(path="t") & ~roles("banned"),
    "GET /t/{t}/audit": roles("auditor") & ~(roles("banned") | ~scopes("s")),
    "GET /t/{t}/x": ~(~roles("admin") & ~roles("auditor")) & tenant(path="t"),
    "ANY /u/{t}/{proxy+}": ~(~roles("a") & ~scopes("s")) | tenant(path="t"),
    "GET /feed": ~roles("banned") | ~authenticated(),
    "GET /admin": ~(~roles("admin") | roles("banned")),
    "GET /other": ~roles("a") & ~scopes("s"),
})  # fmt: skip
CALLERS = [
    {"sub": "m", "tenant": "acme"},
    {"sub": "a", "roles": ["a", "auditor"], "tenant": "acme"},
    {"sub": "b", "roles": ["banned", "admin"], "scope": "s", "tenant": "acme"},
    {"sub": "c", "roles": ["admin"], "tenant": "globex"},
]
PATHS = ["/t/acme", "/t/globex", "/t/acme/audit", "/t/globex/audit", "/t/acme/x", "/t/globex/x",
         "/u/acme/1", "/u/globex/1/2", "/feed", "/admin", "/other"]  # fmt: skip


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c["sub"])
def test_the_authorizers_cached_policy_never_allows_what_decide_denies(
    caller: dict[str, Any],
) -> None:
    authorizer = Authorizer(VERIFIER, routes=NEGATION_TABLE, cache_ttl=300, claims=CLAIMS,
                            decision_log=None)  # fmt: skip
    jwt = token(**caller)
    principal = CLAIMS.map(VERIFIER.verify(jwt))
    for first in PATHS:
        try:
            answer = authorizer.handler(te.token_authorizer("GET", first, token=jwt), None)
        except Unauthorized:
            continue
        for method, path in itertools.product(("GET", "DELETE"), PATHS):
            cached = iam_allows(answer["policyDocument"], method_arn(method, path))
            decided = NEGATION_TABLE.decide(principal, method, path).allowed
            assert not cached or decided, (first, method, path)
        assert iam_allows(answer["policyDocument"], method_arn("GET", first)) == (
            NEGATION_TABLE.decide(principal, "GET", first).allowed
        )


# -- what held: the parameter check and flags ---------------------------------------------------


@pytest.mark.parametrize(
    "rule_",
    [
        roles("admin") | ~tenant(path="tenant_id"),
        ~tenant(path="tenant_id") | roles("admin"),
        roles("admin") | roles("support") | ~tenant(path="tenant_id"),
        roles("admin") & ~tenant(path="tenant_id"),
        ~(roles("admin") | tenant(path="tenant_id")),
        tenant(path="tenant_id") & roles("member"),
    ],
    ids=repr,
)
def test_a_direct_negated_arm_or_a_conjunct_lacking_its_parameter_is_refused(rule_: Rule) -> None:
    with pytest.raises(ConfigurationError, match="tenant_id"):
        Routes({"GET /t/{tenantId}": rule_})


def test_an_or_arm_that_could_never_allow_is_kept() -> None:
    shared = roles("admin") | (tenant(path="tenantId") & ~roles("suspended"))
    routes = Routes({"GET /t/{tenantId}": shared, "GET /stats": shared})
    admin, member = Principal("x", roles={"admin"}), Principal("m", tenant="acme")
    assert routes.decide(admin, "GET", "/stats").allowed
    assert not routes.decide(member, "GET", "/stats").allowed
    assert routes.decide(member, "GET", "/t/acme").allowed
    with pytest.raises(ConfigurationError, match="tenant_id"):
        guard(routes).require(~tenant(path="tenant_id"))
    with pytest.raises(ConfigurationError, match="tenant_id"):
        guard(routes, rule=tenant(path="tenant_id") & roles("a"))


@pytest.mark.parametrize("value", ["false", "False", 0, 1, "", None])
def test_guard_trust_authorizer_takes_only_true_or_false(value: object) -> None:
    routes = Routes({"GET /a": public()})
    if value is None:  # the default: trust only without a verifier
        assert guard(routes, trust_authorizer=value).trust_authorizer is False
        assert Guard(routes=routes, decision_log=None).trust_authorizer is True
        return
    with pytest.raises(ConfigurationError, match="trust_authorizer"):
        guard(routes, trust_authorizer=value)
    with pytest.raises(ConfigurationError, match="trust_authorizer"):
        Guard(routes=routes, trust_authorizer=value, decision_log=None)
