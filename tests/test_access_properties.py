"""Hypothesis properties of the route table: "may call" and "which routes" agree, no path
spelling gets further than the plain path, and tenant checks never pass for another tenant.

What "agree" means
------------------
``Routes.allowed_routes(p)`` lists, route by route, the (verb, template) pairs the
principal may call, with parameters that a rule binds (``tenant(path=...)``) filled in.
``Routes.decide(p, verb, path)`` judges one request by its *most specific* route only.
So an allowed generic template (``GET /users/{id}``) does not allow a path that a more
specific route owns (``GET /users/admin``) when that route's rule denies. For a request
``r`` built from any template of the table, with ``W`` = the table's most specific route
for ``r`` (``Routes.match``):

1. ``decide(r).allowed`` iff ``r`` matches some entry of ``allowed_routes`` **and** ``W``'s
   rule allows ``r``'s parameter values according to the rule's bindings (the issue's
   "may call" and "which routes" agree, with most-specific-wins made explicit);
2. completeness: if ``decide`` allows ``r``, an entry derived from ``W`` matches ``r``;
3. soundness, for any rules (also request-dependent ones, which are left out of the list):
   an entry derived from ``W`` that matches ``r`` means ``decide`` allows ``r``.

"Matches" uses a small independent matcher with exact comparison, as IAM and ``Routes``
compare (case-sensitive). Requests are built from the table's literals as written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from secauth.access import (
    AccessContext,
    AllowedRoute,
    Denial,
    Routes,
    Rule,
    authenticated,
    public,
    roles,
    rule,
    scopes,
    tenant,
)
from secauth.errors import Reason
from secauth.events import Request
from secauth.principal import Principal
from secauth.testing_events import alb

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

LITERALS = ("users", "orders", "admin", "files", "v1", "keys")
# Tenants never equal a literal (in any case), so a bound tenant cannot be mistaken for one.
TENANTS = ("acme", "globex", "Acme", "initech", "umbrella-1", "a.b")
VALUES = (*TENANTS, "7", "me", "x_y", "~z", "users", "admin", "it's")
ROLES = ("admin", "member", "viewer")
SCOPES = ("read", "write")
VERBS = ("GET", "POST", "DELETE", "ANY")
REQUEST_VERBS = ("GET", "POST", "DELETE", "PUT")

# A template shape: literal names or None for a {param}, plus whether it ends in {proxy+}.
Shape = tuple[tuple[str | None, ...], bool]


def template_of(shape: Shape) -> tuple[str, list[str]]:
    """The template text and its parameter names (p0, p1, ..., proxy)."""
    segments, greedy = shape
    parts: list[str] = []
    names: list[str] = []
    for index, literal in enumerate(segments):
        if literal is None:
            names.append(f"p{index}")
            parts.append(f"{{p{index}}}")
        else:
            parts.append(literal)
    if greedy:
        names.append("proxy")
        parts.append("{proxy+}")
    return "/" + "/".join(parts), names


shapes = st.tuples(
    st.lists(st.one_of(st.sampled_from(LITERALS), st.none()), max_size=4).map(tuple),
    st.booleans(),
)


def principal_rules() -> st.SearchStrategy[Rule]:
    """Rules decided by the principal alone (negation keeps them bindable)."""
    names = st.lists(st.sampled_from(ROLES), min_size=1, max_size=2, unique=True)
    scope_names = st.lists(st.sampled_from(SCOPES), min_size=1, max_size=2, unique=True)
    leaf = st.one_of(
        names.map(lambda n: roles(*n)),
        names.map(lambda n: roles(*n, all_of=True)),
        scope_names.map(lambda n: scopes(*n)),
        scope_names.map(lambda n: scopes(*n, all_of=True)),
        st.just(public()),
        st.just(authenticated()),
    )
    return st.one_of(leaf, leaf.map(lambda r: ~r))


@rule
def header_flag(principal: Principal, context: AccessContext) -> bool:
    request = context.request
    return request is not None and request.headers.get("x-flag") == "on"


def rules_for(names: Sequence[str], *, bindable: bool) -> st.SearchStrategy[Rule]:
    """Rules over a route's parameters, composed with & and |. With ``bindable=False`` some
    leaves depend on the request (header tenant, a custom rule, a negated tenant)."""
    leaves = [principal_rules()]
    if names:
        leaves.append(st.sampled_from(list(names)).map(lambda n: tenant(path=n)))
    if not bindable:
        leaves.append(st.just(tenant(header="x-tenant-id")))
        leaves.append(st.just(header_flag))
        if names:
            leaves.append(st.sampled_from(list(names)).map(lambda n: ~tenant(path=n)))
    leaf = st.one_of(*leaves)
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.tuples(inner, inner).map(lambda pair: pair[0] & pair[1]),
            st.tuples(inner, inner).map(lambda pair: pair[0] | pair[1]),
        ),
        max_leaves=4,
    )


@st.composite
def tables(draw: st.DrawFn, *, bindable: bool = True) -> dict[str, Rule]:
    """A route table of 1-8 routes over shared literals, {param}s and {proxy+}."""
    table: dict[str, Rule] = {}
    seen: set[tuple[str, Shape]] = set()
    for _ in range(draw(st.integers(1, 8))):
        verb = draw(st.sampled_from(VERBS))
        shape = draw(shapes)
        if (verb, shape) in seen:
            continue
        seen.add((verb, shape))
        template, names = template_of(shape)
        table[f"{verb} {template}"] = draw(rules_for(names, bindable=bindable))
    return table


principals = st.one_of(
    st.just(Principal.anonymous()),
    st.builds(
        lambda t, r, s: Principal("u", tenant=t, roles=r, scopes=s),
        st.one_of(st.none(), st.sampled_from(TENANTS)),
        st.frozensets(st.sampled_from(ROLES)),
        st.frozensets(st.sampled_from(SCOPES)),
    ),
)


def fill(draw: st.DrawFn, key: str, principal: Principal) -> tuple[str, str]:
    """A concrete (verb, path) for the template of ``key``: parameters get safe values, often
    the principal's own tenant, and {proxy+} one to three segments."""
    verb, _, template = key.partition(" ")
    if verb == "ANY":
        verb = draw(st.sampled_from(REQUEST_VERBS))
    values = st.sampled_from(VALUES)
    if principal.tenant:
        values = st.one_of(st.just(principal.tenant), values)
    parts: list[str] = []
    for part in split(template):
        if part.endswith("+}"):
            parts += draw(st.lists(values, min_size=1, max_size=3))
        elif part.startswith("{"):
            parts.append(draw(values))
        else:
            parts.append(part)
    return verb, "/" + "/".join(parts)


def split(path: str) -> list[str]:
    return [] if path == "/" else path[1:].split("/")


def covers(entry: AllowedRoute, verb: str, path: str) -> bool:
    """The independent matcher: does the allowed entry match the request? Placeholders match
    one segment ({proxy+}: one or more), everything else compares exactly."""
    if entry.verb not in (verb, "ANY"):
        return False
    parts, segments = split(entry.path), split(path)
    for index, part in enumerate(parts):
        if part.startswith("{") and part.endswith("+}"):
            return index == len(parts) - 1 and len(segments) > index
        if index >= len(segments):
            return False
        if not (part.startswith("{") and part.endswith("}")) and part != segments[index]:
            return False
    return len(parts) == len(segments)


def derived_from(entry: AllowedRoute, route_key: str) -> bool:
    """Is the entry the route's template with some parameters bound (for an ANY route,
    possibly for one verb: the verbs another route takes on that path are left out)?"""
    verb, _, template = route_key.partition(" ")
    if entry.verb != verb and verb != "ANY":
        return False
    parts, mine = split(template), split(entry.path)
    if len(parts) != len(mine):
        return False
    for part, got in zip(parts, mine, strict=True):
        if part.startswith("{"):
            if got.startswith("{") and got != part:
                return False
        elif got != part:
            return False
    return True


def binding_allows(rule_: Rule, principal: Principal, params: dict[str, str]) -> bool | None:
    """What the rule's bindings say about these parameter values (None: request-dependent)."""
    alternatives = rule_.bindings(principal)
    if alternatives is None:
        return None
    return any(all(params.get(k) == v for k, v in alt.items()) for alt in alternatives)


# --- 1. "may call" and "which routes" agree ---------------------------------------------------


@SETTINGS
@given(table=tables(), principal=principals, data=st.data())
def test_decide_and_allowed_routes_agree(
    table: dict[str, Rule], principal: Principal, data: st.DataObject
) -> None:
    """For bindable rules: decide allows a request iff an allowed entry matches it and its most
    specific route's rule allows it; an allowed request is always covered by an entry
    derived from that route, and every such covering entry means an allowed request."""
    routes = Routes(table)
    listed = routes.allowed_routes(principal)
    assert listed == sorted(set(listed))
    for key in table:
        for _ in range(3):
            verb, path = fill(data.draw, key, principal)
            found = routes.match(verb, path)
            assert found is not None  # built from a template of the table
            assert found.route is not None
            decision = routes.decide(principal, verb, path)
            assert decision.route == found.route
            winner_allows = binding_allows(found.rule, principal, found.params)
            assert winner_allows is not None
            matched = any(covers(e, verb, path) for e in listed)
            by_winner = any(covers(e, verb, path) and derived_from(e, found.route) for e in listed)
            # 1: the two answers agree (most specific route wins)
            assert decision.allowed == (matched and winner_allows), (verb, path, listed)
            assert decision.allowed == winner_allows
            # 2 and 3: the winner's own entries cover exactly the allowed requests
            assert decision.allowed == by_winner, (verb, path, listed)
            if not decision.allowed:
                assert decision.reason in (
                    Reason.FORBIDDEN,
                    Reason.INSUFFICIENT_SCOPE,
                    Reason.TENANT_MISMATCH,
                )


@SETTINGS
@given(table=tables(bindable=False), principal=principals, data=st.data())
def test_allowed_routes_never_cover_a_request_decide_denies(
    table: dict[str, Rule], principal: Principal, data: st.DataObject
) -> None:
    """With request-dependent rules in the table (header tenant, custom rules, negated tenant),
    routes using them are left out, and no entry derived from a request's route covers a
    request that ``decide`` denies, whatever the headers."""
    routes = Routes(table)
    listed = routes.allowed_routes(principal)
    flag = data.draw(st.sampled_from(["on", "off"]))
    header_tenant = data.draw(st.sampled_from(TENANTS))
    for key in table:
        verb, path = fill(data.draw, key, principal)
        event = {
            "version": "2.0",
            "rawPath": path,
            "headers": {"x-flag": flag, "x-tenant-id": header_tenant},
            "requestContext": {"http": {"method": verb, "path": path, "sourceIp": "192.0.2.1"}},
        }
        found = routes.match(verb, path)
        assert found is not None
        assert found.route is not None
        decision = routes.decide(principal, verb, path, Request.from_event(event))
        covering = [e for e in listed if covers(e, verb, path) and derived_from(e, found.route)]
        if covering:
            assert decision.allowed, (verb, path, covering)
        if found.rule.bindings(principal) is None:
            assert not covering


def test_agreement_counterexample_is_what_most_specific_means() -> None:
    """The shape the definition above exists for: the generic entry matches, the specific
    route denies, and decide follows the specific route."""
    routes = Routes({"GET /users/{p1}": public(), "GET /users/admin": roles("admin")})
    anon = Principal.anonymous()
    listed = routes.allowed_routes(anon)
    assert listed == [AllowedRoute("GET", "/users/{p1}")]
    assert covers(listed[0], "GET", "/users/admin")
    decision = routes.decide(anon, "GET", "/users/admin")
    assert decision.allowed is False
    assert decision.route == "GET /users/admin"
    assert not derived_from(listed[0], "GET /users/admin")


# --- 2. no path spelling gets further than the plain path -------------------------------------


def pct(text: str, *, lower: bool = False) -> str:
    """Percent-encode every byte of ``text`` (UTF-8)."""
    out = "".join(f"%{b:02X}" for b in text.encode())
    return out.lower() if lower else out


@st.composite
def same_meaning(draw: st.DrawFn, path: str, literal_positions: set[int]) -> str:
    """A spelling that decodes to the same path: some characters percent-encoded (either hex
    case), ASCII case changed in literal segments."""
    segments = split(path)
    out: list[str] = []
    for index, segment in enumerate(segments):
        chars: list[str] = []
        for original in segment:
            ch = original
            if index in literal_positions and ch.isascii() and draw(st.booleans()):
                ch = ch.swapcase()
            if ch != "." and draw(st.integers(0, 3)) == 0:  # an encoded "." is refused
                ch = pct(ch, lower=draw(st.booleans()))
            chars.append(ch)
        out.append("".join(chars))
    return "/" + "/".join(out)


REFUSALS: list[Callable[[list[str], int], list[str]]] = [
    lambda s, i: [*s, ""],  # trailing slash
    lambda s, i: [*s[:i], "", *s[i:]],  # doubled slash
    lambda s, i: [*s[:i], ".", *s[i:]],
    lambda s, i: [*s[:i], "x", "..", *s[i:]],
    lambda s, i: [*s[:i], "%2e", *s[i:]],
    lambda s, i: [*s[:i], "x", "%2E%2e", *s[i:]],
    lambda s, i: [*s[:i], "x", ".%2e", *s[i:]],
    lambda s, i: [*s[:i], "%252e%252e", *s[i:]],
    lambda s, i: [*s[:i], "x\\..", *s[i:]],
    lambda s, i: [*s[:i], "x%5C..", *s[i:]],
]


@st.composite
def refused(draw: st.DrawFn, path: str) -> str:
    """A spelling the table must refuse: dot segments (plain or encoded), empty segments, an
    encoded slash, double encoding, a backslash or an overlong UTF-8 lead byte."""
    segments = split(path)
    kind = draw(st.integers(0, len(REFUSALS) + 2))
    if kind < len(REFUSALS):
        index = draw(st.integers(0, len(segments)))
        spelled = "/" + "/".join(REFUSALS[kind](segments, index))
        return "//" if spelled == "/" else spelled  # [""] would print as the root itself
    if kind == len(REFUSALS) and len(segments) >= 2:  # join two segments with an encoded slash
        index = draw(st.integers(0, len(segments) - 2))
        slash = draw(st.sampled_from(["%2F", "%2f", "%252F", "%5C"]))
        joined = segments[index] + slash + segments[index + 1]
        return "/" + "/".join([*segments[:index], joined, *segments[index + 2 :]])
    if segments:  # double-encode one character, or leave a stray percent sign
        index = draw(st.integers(0, len(segments) - 1))
        segment = segments[index]
        at = draw(st.integers(0, len(segment) - 1))
        piece = draw(st.sampled_from(["%25" + pct(segment[at])[1:], "%C0%AE", "%c1%9c"]))
        segments[index] = segment[:at] + piece + segment[at + 1 :]
        return "/" + "/".join(segments)
    return "//"


@SETTINGS
@given(
    table=tables(bindable=False),
    principal=principals,
    default=st.sampled_from([None, public(), authenticated()]),
    data=st.data(),
)
def test_no_spelling_gets_further_than_the_plain_path(
    table: dict[str, Rule], principal: Principal, default: Rule | None, data: st.DataObject
) -> None:
    """A same-meaning spelling (case changed in literals, characters percent-encoded) is
    allowed only where the plain path is, and then on the same route with the same
    parameters; every other tricky spelling is denied outright, even with a ``public()``
    default. So no spelling is allowed where the plain spelling is denied."""
    routes = Routes(table, default=default)
    key = data.draw(st.sampled_from(sorted(table)))
    verb, path = fill(data.draw, key, principal)
    plain = routes.decide(principal, verb, path)
    found = routes.match(verb, path)
    assert found is not None
    assert found.route is not None
    template = split(found.route.partition(" ")[2])
    literals = {i for i, part in enumerate(template) if not part.startswith("{")}

    variant = data.draw(same_meaning(path, literals))
    same = routes.decide(principal, verb, variant)
    if same.allowed:
        assert plain.allowed, (path, variant)
        # Readings as written and as the literals: the plain route is among them.
        readings = [routes.resolve(verb, variant)]
        readings += list(readings[0].others) if readings[0] is not None else []
        assert plain.route in [r.route for r in readings if r is not None], (path, variant)

    trick = data.draw(refused(path))
    if data.draw(st.booleans()):
        trick = data.draw(same_meaning(trick, set())) if "%" not in trick else trick
    bad = routes.decide(principal, verb, trick)
    assert routes.match(verb, trick) is None, trick
    assert bad.allowed is False, (path, trick)
    assert bad.route is None
    assert bad.reason is Reason.FORBIDDEN


# --- 3. tenant checks never pass for another tenant --------------------------------------------

tenant_names = st.text(
    alphabet=st.sampled_from("abcKkSsIi019-_.~" + "\u212a\u017f\u0130\u0131éÉß"),
    min_size=1,
    max_size=10,
).filter(lambda t: t not in (".", ".."))


@st.composite
def spellings(draw: st.DrawFn, name: str, *, twice: bool = False) -> str:
    """``name`` with some characters percent-encoded once (either hex case), or - with
    ``twice`` - at least one encoded twice."""
    out = []
    for ch in name:
        encode = ch != "." and draw(st.integers(0, 2)) == 0  # an encoded "." is refused
        out.append(pct(ch, lower=draw(st.booleans())) if encode else ch)
    if twice:
        at = draw(st.integers(0, len(name) - 1))
        out[at] = pct(name[at], lower=draw(st.booleans())).replace("%", "%25")
    return "".join(out)


@st.composite
def case_changed(draw: st.DrawFn, name: str) -> str:
    return "".join((ch.swapcase() if draw(st.booleans()) else ch) for ch in name)


TENANT_TABLE = Routes(
    {
        "ANY /t/{tid}/{proxy+}": tenant(path="tid"),
        "ANY /h/{proxy+}": tenant(header="X-Tenant-Id"),
        "ANY /q/{proxy+}": tenant(query="tenant"),
    }
)


def tenant_decisions(principal: Principal, value: str) -> list[tuple[str, Any]]:
    """The decision for ``value`` as a path segment, a header and a query parameter, each
    as the client sent it: a REST event for the path and the header, an ALB event for the
    query (API Gateway decodes query values once before the event, and an HTTP API's path
    too; REST paths and ALB's query values come as sent)."""
    out = []
    for path, headers in ((f"/t/{value}/orders", {}), ("/h/orders", {"X-Tenant-Id": value})):
        event = {
            "resource": "/{proxy+}",
            "path": path,
            "httpMethod": "GET",
            "headers": headers,
            "requestContext": {"stage": "prod", "identity": {"sourceIp": "192.0.2.1"}},
        }
        out.append((path, TENANT_TABLE.decide(principal, "GET", path, Request.from_event(event))))
    alb_event = alb("GET", "/q/orders")
    alb_event["queryStringParameters"] = {"tenant": value}
    query_decision = TENANT_TABLE.decide(
        principal, "GET", "/q/orders", Request.from_event(alb_event)
    )
    return [*out, ("/q/orders", query_decision)]


@SETTINGS
@given(mine=tenant_names, other=tenant_names, data=st.data())
def test_tenant_checks_never_pass_for_another_tenant(
    mine: str, other: str, data: st.DataObject
) -> None:
    """Another tenant, a case variant of mine or of another, spelled plainly or with %XX
    encodings, in the path, a header or the query: always denied. Encoding twice is refused
    even for my own tenant."""
    principal = Principal("u", tenant=mine)
    for name in (other, data.draw(case_changed(other)), data.draw(case_changed(mine))):
        if name == mine:
            continue
        value = data.draw(spellings(name))
        for where, decision in tenant_decisions(principal, value):
            assert decision.allowed is False, (mine, name, value, where)
            assert decision.reason in (Reason.TENANT_MISMATCH, Reason.FORBIDDEN)
            if not where.startswith("/t/"):
                assert decision.reason is Reason.TENANT_MISMATCH
    for where, decision in tenant_decisions(principal, data.draw(spellings(mine, twice=True))):
        assert decision.allowed is False, where


@SETTINGS
@given(mine=tenant_names, data=st.data())
def test_my_own_tenant_passes_in_any_single_encoding(mine: str, data: st.DataObject) -> None:
    """The positive control: my tenant, plain or with %XX encodings, passes everywhere, so the
    denials above are about the value and not about the spelling machinery."""
    principal = Principal("u", tenant=mine)
    value = data.draw(spellings(mine))
    for where, decision in tenant_decisions(principal, value):
        assert decision.allowed, (mine, value, where)


def test_rule_subclass_without_bindings_is_left_out() -> None:
    """A custom rule's default ``bindings`` is None: its routes are never listed."""

    class Always(Rule):
        def check(self, principal: Principal, context: AccessContext) -> Denial | None:
            return None

    routes = Routes({"GET /x": Always(), "GET /y": public()})
    assert routes.decide(Principal.anonymous(), "GET", "/x").allowed
    assert routes.allowed_routes(Principal.anonymous()) == [AllowedRoute("GET", "/y")]


def test_generated_tables_build() -> None:
    """The table strategy yields valid tables (guards the strategies themselves)."""

    @settings(max_examples=30, deadline=None)
    @given(table=tables())
    def build(table: dict[str, Rule]) -> None:
        assume(table)
        assert len(Routes(table)) == len(table)

    build()
