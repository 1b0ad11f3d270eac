"""Adversarial review 4: today's hot-path refactors must not change behaviour.

Each refactor is checked against the code it replaced, copied here from the parent of its
commit (``git show <commit>~1:<path>``), so the comparison does not depend on git at test
time:

* a06226d, bff6a59 (routing, access): ``RouteTable.readings``/``lookup``/``_match``,
  ``split_path``, ``Routes.resolve`` and ``Routes.judge``, differentially over generated
  tables (literals, case and percent variants, ``{param}``, ``{proxy+}``, ``ANY``,
  WebSocket keys, ``default=``) and paths (refused spellings included);
* a06226d (``MethodArn`` equality and hash over a stored identity tuple);
* 0530d35 (authorizer responses sized without the encoder's circular check: no cycle can
  reach it through any entry point);
* fe00471 (``Principal.is_anonymous``/``has_role``/``has_scope`` read slots);
* 74fba50 (``Revocations._recall``: unhashable identifying claims);
* b59bb97 (certificate thumbprint from ``Certificate.fingerprint``);
* b4696d1 (``b64url_encode`` through binascii);
* 1c43ead (``events._values``/``_key_is``);
* 62c32a9 (groups of event kinds as tuples);
* ea7e556, ee5dbb8 (``guard_http.admitted_headers`` in the Guard and the Powertools
  middleware);
* 5e46c32 (HTTP payload 1.0 ``$default`` ``requestContext.path``).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import itertools
import json
import random
import re
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote_plus

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_tables import path as pool_path
from policy_tables import principal as pool_principal
from policy_tables import request_path as pool_request_path
from policy_tables import table as pool_table

from secauth import events as events_module
from secauth import routing
from secauth._b64 import b64url_encode
from secauth.access import (
    Denial,
    RouteMatch,
    Routes,
    Rule,
    _decoded,
    authenticated,
    public,
    roles,
    scopes,
    tenant,
)
from secauth.authorizer import Authorizer
from secauth.credentials import ApiKeyEntry, StaticApiKeys, hash_api_key
from secauth.errors import ConfigurationError, Reason, TokenRevoked
from secauth.events import EventKind, Request
from secauth.guard import Guard
from secauth.guard_http import GUARDED_KINDS, admitted_headers, handler_response
from secauth.integrations import powertools as powertools_module
from secauth.policy import MethodArn, PolicyBuilder
from secauth.policy.document import DENY_ALL
from secauth.policy.responses import (
    InvalidContext,
    exact_response,
    policy_response,
    simple_response,
)
from secauth.principal import Principal
from secauth.responses import Cors
from secauth.revocation import Revocations
from secauth.revocation_stores import MemoryRevocationStore
from secauth.route_table import Match, RouteTable
from secauth.routing import (
    GREEDY,
    PARAM,
    fold,
    parse_route_key,
    split_path,
)
from secauth.sender_constraint import certificate_thumbprint
from secauth.testing_events import http_authorizer_v1, http_authorizer_v2, http_proxy

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# =============================================================================================
# The routing and access code before a06226d / bff6a59, verbatim but for names.
# =============================================================================================


def old_split_path(path: str) -> tuple[str, ...] | None:
    if not path.startswith("/"):
        return None
    if path == "/":
        return ()
    segments = tuple(path[1:].split("/"))
    if (
        "" in segments
        or "." in segments
        or ".." in segments
        or "\\" in path
        or ("%" in path and re.search(routing._ENCODED_SPECIAL, path))
        # Since review 54 (7da57f6): a segment that is empty, "." or ".." without its ";"
        # parameters ("..;x", ";x") is refused too.
        or (";" in path and any(s.partition(";")[0] in ("", ".", "..") for s in segments))
    ):
        return None
    return segments


class OldRouteTable(RouteTable[Any]):
    """The tree and ``_add`` are shared; the read side is the code a06226d replaced."""

    def readings(self, segments: Sequence[str]) -> list[Sequence[str]]:
        other: dict[int, str] | None = None
        for position, (segment, literals) in enumerate(
            zip(segments, self.literals_at, strict=False)
        ):
            if not literals or literals.get(segment) == segment:
                continue
            literal = literals.get(fold(segment))
            if literal is not None and literal != segment:
                other = other or {}
                other[position] = literal
        if other is None:
            return [segments]
        choices = [
            (segment, other[i]) if i in other else (segment,) for i, segment in enumerate(segments)
        ]
        return list(itertools.product(*choices))

    def lookup(self, verb: str, segments: Sequence[str]) -> list[Match[Any] | None]:
        out: list[Match[Any] | None] = []
        for reading in self.readings(segments):
            index = self._select(verb, reading)
            match = None if index is None else self._match(index, segments)
            if match not in out:
                out.append(match)
        return out

    def _select(self, verb: str, reading: Sequence[str]) -> int | None:
        return self._walk(self._root, reading, 0, verb)

    def _match(self, index: int, segments: Sequence[str]) -> Match[Any]:
        route_key, value = self.routes[index]
        assert route_key.template is not None
        params: dict[str, str] = {}
        for position, (kind, name) in enumerate(route_key.template.segments):
            if kind == PARAM:
                params[name] = segments[position]
            elif kind == GREEDY:
                params[name] = "/".join(segments[position:])
        return Match(index, route_key, value, params)


class OldRoutes(Routes):
    """``Routes`` whose table reads as before, with ``resolve`` and ``judge`` as before."""

    def __init__(self, table: Mapping[str, Rule], *, default: Rule | None = None) -> None:
        super().__init__(table, default=default)
        new = self.table
        specials = [(parse_route_key(key), value) for key, value in new.specials.items()]
        self._table = OldRouteTable([*new.routes, *specials])  # the old table, read as before

    def resolve(self, method: str, path: str, *, decoded: bool = False) -> RouteMatch | None:
        if not path and (method.startswith("$") or routing.is_custom_route_key(method)):
            specials = self.table.specials
            key = method if method in specials else "$default"
            rule_ = specials.get(key)
            if rule_ is not None:
                return RouteMatch(key, {}, rule_)
            return RouteMatch(None, {}, self.default) if self.default is not None else None
        segments = old_split_path(path)
        if segments is None:
            return None
        found: list[RouteMatch] = []
        for match in self.table.lookup(method.upper(), segments):
            if match is None:
                if self.default is None:
                    return None
                candidate = RouteMatch(None, {}, self.default)
            else:
                params = match.params if decoded else _decoded(match.params)  # review 65
                candidate = RouteMatch(match.key.key, params, match.value)
            if candidate not in found:
                found.append(candidate)
        if len(found) == 1:
            return found[0]
        return found[0]._replace(others=tuple(found[1:]))

    def judge(  # type: ignore[override]
        self,
        principal: Principal,
        found: RouteMatch | None,
        method: str,
        path: str,
        request: Request | None = None,
    ) -> Any:
        from secauth.access import AccessContext, Decision

        if found is None:
            denial = Denial(Reason.FORBIDDEN, "no route")
            return Decision(False, denial.reason, None, {}, denial)
        candidates = (found, *found.others)
        readings = tuple([candidate.route for candidate in candidates])
        for candidate in candidates:
            params = dict(candidate.params)
            refusal = candidate.rule.check(principal, AccessContext(method, path, params, request))
            if refusal is not None:
                return Decision(False, refusal.reason, candidate.route, params, refusal, readings)
        return Decision(True, None, found.route, dict(found.params), None, readings)


def _shape(found: RouteMatch | None) -> object:
    """A RouteMatch as plain data, the rule by identity (both tables share rule objects)."""
    if found is None:
        return None
    return (found.route, dict(found.params), id(found.rule), [_shape(o) for o in found.others])


def _decision(decision: Any) -> object:
    denial = decision.denial
    return (
        decision.allowed,
        decision.reason,
        decision.route,
        dict(decision.params),
        None if denial is None else (denial.reason, denial.detail),
        decision.readings,
    )


# -- generators ---------------------------------------------------------------------------

# Literals with upper case, dots, colons and tildes; no two fold to the same text.
LITERALS = ("users", "Orders", "admin", "v1", "a.b", "x:y", "me", "~t", "T")
# Request segments: the literals, their case and percent variants, overlong and encoded
# specials, odd percent signs, plain values and tenant values.
SEGMENTS = (
    *LITERALS,
    "USERS",
    "Users",
    "orders",
    "ORDERS",
    "%4Frders",
    "%75sers",
    "%75SERS",
    "Admin",
    "%61dmin",
    "V1",
    "%76%31",
    "A.B",
    "a%2Eb",
    "X:Y",
    "x%3Ay",
    "ME",
    "%6De",
    "%7Et",
    "%7et",
    "t",
    "acme",
    "Acme",
    "7",
    "%zz",
    "%",
    "%C0%AE",
    "%E0%80%AE",
    "a%2Fb",
    "a%5cb",
    "a\\b",
    "M%C3%BCnchen",
    "%FF",
    "",
    ".",
    "..",
    "%2e",
    "\u212a",  # KELVIN SIGN: lower() would fold it to "k"
)
TENANTS = ("acme", "Acme", "users", "7", "M\u00fcnchen")


def _template(draw: st.DrawFn) -> tuple[str, list[str]]:
    parts: list[str] = []
    names: list[str] = []
    for index in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(("lit", "lit", "param", "greedy")))
        if kind == "lit":
            parts.append(draw(st.sampled_from(LITERALS)))
        elif kind == "param":
            names.append(f"p{index}")
            parts.append("{" + names[-1] + "}")
        else:
            names.append(f"g{index}")
            parts.append("{" + names[-1] + "+}")
            break
    return "/" + "/".join(parts), names


def _rule(draw: st.DrawFn, names: list[str]) -> Rule:
    choices: list[Rule] = [
        public(),
        authenticated(),
        roles("admin"),
        scopes("read"),
        ~roles("admin"),
    ]
    if names:
        name = draw(st.sampled_from(names))
        choices += [tenant(path=name), tenant(path=name) & roles("member"), ~tenant(path=name)]
    return draw(st.sampled_from(choices))


@st.composite
def route_tables(draw: st.DrawFn) -> tuple[dict[str, Rule], Rule | None]:
    table: dict[str, Rule] = {}
    for _ in range(draw(st.integers(1, 8))):
        template, names = _template(draw)
        verb = draw(st.sampled_from(("GET", "POST", "ANY", "DELETE", "GET")))
        table[f"{verb} {template}"] = _rule(draw, names)
    for key in draw(st.sets(st.sampled_from(("$connect", "$default", "sendmessage")))):
        table[key] = draw(st.sampled_from((public(), authenticated(), roles("admin"))))
    default = draw(st.sampled_from((None, None, public(), roles("admin"), authenticated())))
    return table, default


def _both(table: dict[str, Rule], default: Rule | None) -> tuple[Routes, OldRoutes] | None:
    try:
        return Routes(table, default=default), OldRoutes(table, default=default)
    except ConfigurationError:
        return None  # the same shape twice: no table


request_paths = st.one_of(
    st.lists(st.sampled_from(SEGMENTS), max_size=6).map(lambda s: "/" + "/".join(s)),
    st.lists(st.sampled_from(SEGMENTS), max_size=3).map(lambda s: "/" + "/".join(s) + "/"),
    st.sampled_from(("", "/", "//", "users", "/users//x", "/%2F")),
    st.text(max_size=12).map(lambda t: "/" + t),
)
request_methods = st.sampled_from(
    ("GET", "get", "POST", "PUT", "DELETE", "ANY", "$connect", "$default", "sendmessage", "typing")
)
principals = st.one_of(
    st.just(Principal.anonymous()),
    st.builds(
        lambda t, r, s: Principal("u", tenant=t, roles=r, scopes=s),
        st.one_of(st.none(), st.sampled_from(TENANTS)),
        st.frozensets(st.sampled_from(("admin", "member"))),
        st.frozensets(st.sampled_from(("read",))),
    ),
)


# -- routing differential -------------------------------------------------------------------


@FAST
@given(st.text(max_size=20), st.lists(st.sampled_from(SEGMENTS), max_size=6))
def test_split_path_is_unchanged(text: str, segments: list[str]) -> None:
    for path in (text, "/" + text, "/" + "/".join(segments)):
        assert split_path(path) == old_split_path(path)


@FAST
@given(
    route_tables(),
    st.lists(st.tuples(request_methods, request_paths), min_size=1, max_size=8),
    principals,
)
def test_resolve_and_decide_are_unchanged(
    drawn: tuple[dict[str, Rule], Rule | None],
    requests: list[tuple[str, str]],
    principal: Principal,
) -> None:
    both = _both(*drawn)
    if both is None:
        return
    new, old = both
    for method, path in requests:
        assert _shape(new.resolve(method, path)) == _shape(old.resolve(method, path)), (
            method,
            path,
            new.route_keys(),
        )
        assert _decision(new.decide(principal, method, path)) == _decision(
            old.decide(principal, method, path)
        ), (method, path, new.route_keys())
        segments = split_path(path)
        if segments is not None:
            verb = method.upper()
            assert new.table.readings(segments) == old.table.readings(segments)
            assert new.table.lookup(verb, segments) == old.table.lookup(verb, segments)
            assert new.grants(principal).allows_segments(verb, segments) == old.grants(
                principal
            ).allows_segments(verb, segments)


@FAST
@given(st.randoms(use_true_random=False))
def test_resolve_and_decide_are_unchanged_on_the_policy_tables(rng: random.Random) -> None:
    """The cached-policy differential's own generator (tests/policy_tables.py): tables with
    tenant rules, a custom rule with bindings and a default rule; pool paths of any length,
    and paths of the table's own routes with one segment respelled (case, percent)."""
    new = pool_table(rng)
    old = OldRoutes({key.key: rule_ for key, rule_ in new.table.routes}, default=new.default)
    for _ in range(20):
        who = pool_principal(rng)
        verb = rng.choice(("GET", "POST", "DELETE", "PUT", "HEAD"))
        path = pool_path(rng)
        if rng.random() < 0.5:
            parts = pool_request_path(rng, new, who.tenant).split("/")
            index = rng.randrange(len(parts))
            parts[index] = rng.choice(
                (parts[index].upper(), parts[index].title(), _percent_first(parts[index]))
            )
            path = "/".join(parts)
        assert _shape(new.resolve(verb, path)) == _shape(old.resolve(verb, path)), path
        assert _decision(new.decide(who, verb, path)) == _decision(old.decide(who, verb, path))


def _percent_first(segment: str) -> str:
    return f"%{ord(segment[0]):02X}{segment[1:]}" if segment and segment.isascii() else segment


@FAST
@given(
    st.lists(st.sampled_from(SEGMENTS), max_size=8).map(tuple),
    st.lists(st.sampled_from(LITERALS), min_size=1, max_size=5),
)
def test_readings_are_unchanged_when_the_path_is_longer_or_shorter_than_the_literals(
    segments: tuple[str, ...], literals: list[str]
) -> None:
    # Literals at every depth up to len(literals), so paths run both past and short of them.
    keys = [
        f"GET /{'/'.join([f'{{p{i}}}' for i in range(n)] + [lit])}"
        for n, lit in enumerate(literals)
    ]
    table: dict[str, Rule] = {}
    for key in keys:
        table.setdefault(key, public())
    both = _both(table, None)
    if both is None:
        return
    new, old = both
    assert new.table.readings(segments) == old.table.readings(segments)
    assert new.table.readings(list(segments)) == old.table.readings(list(segments))


def test_named_spellings_reach_the_same_routes_as_before() -> None:
    """Hand-picked cases of the model: case/percent variants read both ways, {param} over
    {proxy+}, exact verb over ANY, WebSocket keys only with an empty path."""
    table: dict[str, Rule] = {
        "GET /users/me": roles("admin"),
        "GET /users/{id}": public(),
        "ANY /users/{id}": authenticated(),
        "GET /{proxy+}": public(),
        "ANY /t/{tid}/{rest+}": tenant(path="tid"),
        "$connect": authenticated(),
        "sendmessage": public(),
    }
    new, old = Routes(table), OldRoutes(table)
    alice = Principal("alice", tenant="acme")
    cases = [
        ("GET", "/users/me"),
        ("GET", "/users/ME"),
        ("GET", "/users/%6De"),
        ("GET", "/USERS/me"),
        ("POST", "/users/7"),
        ("GET", "/users/7"),
        ("GET", "/a/b/c"),
        ("GET", "/t/acme/x/y"),
        ("GET", "/t/M%C3%BCnchen/x"),
        ("GET", "/t/%61cme/x"),
        ("PUT", "/t/acme/x/%2e%2e/y"),
        ("GET", "/users/me/"),
        ("$connect", ""),
        ("$connect", "/"),
        ("sendmessage", ""),
        ("typing", ""),
        ("GET", ""),
    ]
    for method, path in cases:
        assert _shape(new.resolve(method, path)) == _shape(old.resolve(method, path)), path
        assert _decision(new.decide(alice, method, path)) == _decision(
            old.decide(alice, method, path)
        ), path
    # The model itself, as the module docs state it.
    me = new.decide(alice, "GET", "/users/ME")
    assert not me.allowed
    assert set(me.readings) == {"GET /users/me", "GET /users/{id}"}
    assert new.match("GET", "/t/acme/x/y").params == {"tid": "acme", "rest": "x/y"}
    assert new.resolve("$connect", "/") is None


# =============================================================================================
# MethodArn: equality and hash over the stored parts (a06226d)
# =============================================================================================

_names = st.sampled_from(("aws", "aws-cn"))
_regions = st.sampled_from(("us-east-1", "eu-west-1"))
_accounts = st.sampled_from(("123456789012", "210987654321"))
_apis = st.sampled_from(("abcdef123", "zz9"))
_stages = st.sampled_from(("prod", "v1", "$default"))
_verbs = st.sampled_from(("GET", "POST", None))
_paths = st.sampled_from(("/", "/a", "/a/b", "/A", "$connect", "sendmessage"))


def _arn(parts: tuple[Any, ...]) -> MethodArn:
    partition, region, account, api, stage, verb, path = parts
    if verb is None and path.startswith("/"):
        path = "$default"
    if verb is not None and not path.startswith("/"):
        path = "/" + path
    return MethodArn(partition, region, account, api, stage, verb, path)


_arn_parts = st.tuples(_names, _regions, _accounts, _apis, _stages, _verbs, _paths)


@FAST
@given(_arn_parts, _arn_parts)
def test_method_arn_equality_and_hash_follow_the_parts(
    a: tuple[Any, ...], b: tuple[Any, ...]
) -> None:
    x, y = _arn(a), _arn(b)

    def parts(arn: MethodArn) -> tuple[Any, ...]:
        return (
            arn.partition,
            arn.region,
            arn.account_id,
            arn.api_id,
            arn.stage,
            arn.verb,
            arn.path,
        )

    assert (x == y) == (parts(x) == parts(y))
    if x == y:
        assert hash(x) == hash(y)
    assert hash(x) == hash(parts(x))  # the old _key() hash
    again = MethodArn.parse(str(x)) if "$" not in x.stage else x
    assert again == x
    assert hash(again) == hash(x)
    for derived in (x.stage_wildcard(), x.api_wildcard()):
        assert hash(derived) == hash(parts(derived))
    assert len({x, _arn(a), y}) == (1 if x == y else 2)


def test_method_arn_cannot_be_changed_through_its_public_attributes() -> None:
    arn = MethodArn.parse("arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/a")
    for name in ("partition", "region", "account_id", "api_id", "stage", "verb", "path"):
        with pytest.raises(AttributeError):
            setattr(arn, name, "x")
    with pytest.raises(AttributeError):
        arn.extra = 1  # type: ignore[attr-defined]
    # The parse cache hands out one object per string: it is still equal to a fresh one.
    assert arn == MethodArn("aws", "us-east-1", "123456789012", "abc", "prod", "GET", "/a")


# =============================================================================================
# Responses without the circular-reference check (0530d35)
# =============================================================================================


def _cycles() -> list[Any]:
    loop: dict[str, Any] = {"a": "b"}
    loop["self"] = loop
    listed: list[Any] = ["x"]
    listed.append(listed)
    nested: dict[str, Any] = {"l": [{"k": None}]}
    nested["l"][0]["k"] = nested
    return [loop, listed, nested]


@pytest.mark.parametrize("value", _cycles(), ids=["dict", "list", "nested"])
def test_a_cyclic_context_is_refused_before_the_encoder(value: Any) -> None:
    arn = MethodArn.parse("arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/a")
    for kind in (EventKind.HTTP_AUTHORIZER_V2, EventKind.TOKEN_AUTHORIZER):
        with pytest.raises(InvalidContext):
            policy_response("u", DENY_ALL, kind=kind, context={"c": value})
    with pytest.raises(InvalidContext):
        simple_response(True, context={"c": value})
    with pytest.raises(InvalidContext):
        exact_response("u", arn, True, {"c": value})
    builder = PolicyBuilder(simple_responses=True)
    request = Request.from_event(http_authorizer_v2("GET", "/a", token="t"))
    with pytest.raises(InvalidContext):
        builder.response(Principal("u"), request, allow=True, context={"c": value})


@pytest.mark.parametrize("value", _cycles(), ids=["dict", "list", "nested"])
@pytest.mark.parametrize("hook", ["context", "extra_context"])
def test_a_cyclic_context_from_the_authorizer_hooks_is_a_clean_refusal(
    value: Any, hook: str
) -> None:
    key = "pk_" + "k" * 40
    store = StaticApiKeys({hash_api_key(key): ApiKeyEntry("partner")})
    records: list[dict[str, Any]] = []
    options: dict[str, Any] = {
        "api_keys": store,
        "routes": Routes({"GET /a": authenticated()}),
        "simple_responses": True,
        "decision_log": None,
        "on_decision": records.append,
    }
    if hook == "context":
        authorizer = Authorizer(context=lambda _p: {"c": value}, **options)
    else:

        class Hooked(Authorizer):
            def extra_context(self, principal: Principal, request: Request) -> Mapping[str, object]:
                return {"c": value}

        authorizer = Hooked(**options)
    event = http_authorizer_v2("GET", "/a", headers={"x-api-key": key})
    event["identitySource"] = [key]
    assert authorizer.handler(event, None) == {"isAuthorized": False}
    assert records[-1]["decision"] == "unauthorized"
    assert records[-1].get("detail") != {"error": "RecursionError"}


@FAST
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=12,
    )
)
def test_the_size_is_what_json_dumps_gives(value: Any) -> None:
    response = simple_response(True, context={"v": value}, max_bytes=1 << 20)
    from secauth.policy import responses as module

    assert len(module._SIZE_ENCODER.encode(response)) == len(json.dumps(response))


# =============================================================================================
# Principal reads its slots (fe00471)
# =============================================================================================


@FAST
@given(principals, st.sampled_from(("admin", "member", "read", "x")))
def test_principal_predicates_agree_with_its_attributes(principal: Principal, name: str) -> None:
    assert principal.has_role(name) == (name in principal.roles)
    assert principal.has_scope(name) == (name in principal.scopes)
    assert principal.is_anonymous == (principal.kind == "anonymous")


class _DerivedRoles(Principal):
    """A principal whose attributes are computed (say, from a hook's own role model): the
    public properties, not the private slots, say who it is."""

    @property
    def roles(self) -> frozenset[str]:
        return super().roles | {"admin"}

    @property
    def scopes(self) -> frozenset[str]:
        return super().scopes | {"read"}

    @property
    def kind(self) -> str:
        return "anonymous" if self.id == "nobody" else super().kind


# A finding of this review (fe00471 read the private slots): fixed by reading the properties.
def test_principal_predicates_follow_overridden_properties() -> None:
    p = _DerivedRoles("u")
    assert roles("admin").check(p, _context()) is None  # the rule reads .roles: allowed
    assert p.has_role("admin") == ("admin" in p.roles)
    assert p.has_scope("read") == ("read" in p.scopes)
    nobody = _DerivedRoles("nobody")
    assert nobody.is_anonymous == (nobody.kind == "anonymous")


def _context() -> Any:
    from secauth.access import AccessContext

    return AccessContext("GET", "/", {}, None)


# =============================================================================================
# Revocations._recall (74fba50)
# =============================================================================================

ISSUER = "https://idp.example.com/"
UNHASHABLE = ({"x": 1}, ["a", "b"], [{"x": 1}])


class CountingStore(MemoryRevocationStore):
    def __init__(self, clock: Any) -> None:
        super().__init__(clock=clock)
        self.lookups = 0

    def lookup(self, keys: list[str]) -> dict[str, float | None]:
        self.lookups += 1
        return super().lookup(keys)


def _revocations() -> tuple[Revocations, CountingStore]:
    def clock() -> float:
        return 1000.0

    store = CountingStore(clock)
    return Revocations(store, clock=clock), store


def _claims(field: str, value: object) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "u-1",
        "jti": "t-1",
        "origin_jti": "f-1",
        "client_id": "c-1",
        "iat": 900,
        "aud": "api",
    }
    claims[field] = value
    return claims


FIELDS = ("jti", "origin_jti", "sub", "client_id", "azp", "aud", "iat")


# Every identifying claim with a JSON object or array where a string belongs (a list of
# string audiences is kept as a tuple, which is hashable: not in this list).
ODD_CLAIMS = [
    pytest.param(field, value, id=f"{field}-{label}")
    for field in FIELDS
    for label, value in zip(("dict", "list", "list-of-dicts"), UNHASHABLE, strict=True)
    if not (field == "aud" and label == "list")
]


@pytest.mark.parametrize(("field", "value"), ODD_CLAIMS)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_unhashable_identifying_claims_are_asked_every_time_and_still_revocable(
    field: str, value: object, mode: str
) -> None:
    revocations, store = _revocations()
    claims = _claims(field, value)

    def check() -> None:
        if mode == "sync":
            revocations.check(claims)
        else:
            asyncio.run(revocations.check_async(claims))

    check()
    check()
    assert store.lookups == 2  # no memory for such a token
    # Revoked by a claim that is still a string (sub, or jti when sub is the odd one).
    if field == "sub":
        revocations.revoke_token(ISSUER, "t-1")
    else:
        revocations.revoke_subject(ISSUER, "u-1", before=950)
    with pytest.raises(TokenRevoked):
        check()
    with pytest.raises(TokenRevoked):
        check()
    assert store.lookups == 4


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_hashable_claims_are_still_remembered(mode: str) -> None:
    revocations, store = _revocations()
    claims = _claims("aud", ["api", "other"])

    def check() -> None:
        if mode == "sync":
            revocations.check(claims)
        else:
            asyncio.run(revocations.check_async(claims))

    for _ in range(3):
        check()
    assert store.lookups == 1
    revocations.revoke_client(ISSUER, "other", before=950)  # aud names the client
    with pytest.raises(TokenRevoked):
        check()


# =============================================================================================
# Certificate thumbprint (b59bb97) and base64url (b4696d1)
# =============================================================================================


def _certificate(key: Any, name: str) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_certificate_thumbprint_is_base64url_sha256_of_the_der(kind: str) -> None:
    key = (
        ec.generate_private_key(ec.SECP256R1())
        if kind == "ec"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    cert = _certificate(key, "client-\u00e9")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    der = cert.public_bytes(serialization.Encoding.DER)
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    assert certificate_thumbprint(pem) == expected
    assert certificate_thumbprint(pem.decode()) == expected
    assert certificate_thumbprint(b"junk before\n" + pem + b"\n") == expected
    for bad in (b"", pem.replace(b"M", b"!", 3), pem + pem):
        with pytest.raises(ValueError, match="not a PEM certificate"):
            certificate_thumbprint(bad)


@FAST
@given(st.binary(max_size=200))
def test_b64url_encode_is_urlsafe_b64encode_unpadded(data: bytes) -> None:
    expected = base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    assert b64url_encode(data) == expected
    assert b64url_encode(bytearray(data)) == expected
    assert b64url_encode(memoryview(data)) == expected


def test_b64url_encode_still_refuses_text() -> None:
    with pytest.raises(TypeError):
        b64url_encode("abc")  # type: ignore[arg-type]


# =============================================================================================
# events._values (1c43ead) and kind groups (62c32a9)
# =============================================================================================


def old_values(
    raw: Mapping[str, Any],
    multi: str,
    single: str,
    name: str,
    *,
    lower: bool,
    encoded_names: bool = False,
) -> tuple[str, ...]:
    def named(key: object) -> bool:
        if not isinstance(key, str):
            return False
        if encoded_names:
            key = unquote_plus(key)
        return (key.lower() if lower else key) == name

    values: list[str] = []
    for key, listed in events_module._mapping(raw.get(multi)).items():
        if named(key) and isinstance(listed, list):
            values.extend(v for v in listed if isinstance(v, str))
    if not values:
        for key, value in events_module._mapping(raw.get(single)).items():
            if named(key) and isinstance(value, str):
                values.append(value)
    return tuple(values)


_NAMES = st.sampled_from(
    ("tenant", "Tenant", "%74enant", "te+nant", "te%20nant", "x-t", "X-T", "te nant")
)
_KEYS = st.one_of(_NAMES, st.integers(0, 3), st.none(), st.text(max_size=4))
_ITEMS = st.one_of(st.text(max_size=3), st.integers(), st.none())
_MULTI = st.one_of(
    st.none(),
    st.just("not a map"),
    st.dictionaries(_KEYS, st.one_of(st.lists(_ITEMS, max_size=3), _ITEMS), max_size=4),
)
_SINGLE = st.one_of(st.none(), st.just([]), st.dictionaries(_KEYS, _ITEMS, max_size=4))


@FAST
@given(_MULTI, _SINGLE, _MULTI, _SINGLE, _NAMES, st.sampled_from(list(EventKind)))
def test_header_and_query_values_are_unchanged(
    multi_headers: Any,
    headers: Any,
    multi_query: Any,
    query: Any,
    name: str,
    kind: EventKind,
) -> None:
    raw: dict[str, Any] = {
        "multiValueHeaders": multi_headers,
        "headers": headers,
        "multiValueQueryStringParameters": multi_query,
        "queryStringParameters": query,
    }
    request = Request(kind, raw)
    assert request.header_values(name) == old_values(
        raw, "multiValueHeaders", "headers", name.lower(), lower=True
    )
    assert request.query_values(name) == old_values(
        raw,
        "multiValueQueryStringParameters",
        "queryStringParameters",
        name,
        lower=False,
        encoded_names=kind is EventKind.ALB,
    )


def test_alb_percent_encoded_query_names_still_count() -> None:
    raw = {"multiValueQueryStringParameters": {"%74enant": ["acme"], "tenant": ["globex"]}}
    assert Request(EventKind.ALB, raw).query_values("tenant") == ("acme", "globex")
    assert Request(EventKind.REST_V1, raw).query_values("tenant") == ("globex",)


def test_kind_groups_answer_as_the_sets_did() -> None:
    old_guarded = frozenset(
        {
            EventKind.REST_V1,
            EventKind.HTTP_V2,
            EventKind.FUNCTION_URL,
            EventKind.ALB,
            EventKind.WEBSOCKET,
        }
    )
    old_authorizer = frozenset(
        {
            EventKind.TOKEN_AUTHORIZER,
            EventKind.REST_REQUEST_AUTHORIZER,
            EventKind.HTTP_AUTHORIZER_V1,
            EventKind.HTTP_AUTHORIZER_V2,
            EventKind.WEBSOCKET_AUTHORIZER,
        }
    )
    for kind in EventKind:
        assert (kind in GUARDED_KINDS) == (kind in old_guarded)
        assert kind.is_authorizer == (kind in old_authorizer)
        assert {kind: 1}[kind] == 1
    for other in ("rest_v1", None, 0):
        assert other not in GUARDED_KINDS


# =============================================================================================
# Response headers (ea7e556, ee5dbb8)
# =============================================================================================


class _Limit:
    def headers(self) -> dict[str, str]:
        return {"RateLimit-Limit": "10", "RateLimit-Remaining": "9", "Vary": "X-From-Limit"}


def _old_add_headers(
    response: Any, guard: Any, request: Request | None, limit: Any, *, event: object = None
) -> None:
    """Powertools _add_headers before ea7e556."""
    headers = getattr(response, "headers", None)
    if not isinstance(headers, dict):
        return
    extra = dict(guard.security_headers)
    if guard.cors is not None:
        if request is None and isinstance(event, Mapping):
            try:
                request = Request.from_event(event)
            except Exception:
                request = None
        if request is not None:
            extra.update(guard.cors.headers(request.headers))
    if limit is not None:
        extra.update(limit.headers())
    present = {name.lower() for name in headers}
    for name, value in extra.items():
        if name.lower() not in present:
            headers[name] = value


def _old_extra(
    request: Request, limit: Any, security: Mapping[str, str], cors: Cors | None
) -> dict[str, str]:
    """handler_response's header block before ea7e556 (no nonces)."""
    extra = dict(security)
    if cors is not None:
        extra.update(cors.headers(request.headers))
    if limit is not None:
        extra.update(limit.headers())
    return extra


CORS = Cors(
    allow_origins=["https://app.example.com"], allow_credentials=True, expose_headers=["X-Id"]
)
ORIGINS = (None, "https://app.example.com", "https://evil.example")
OWN_HEADERS = (
    {},
    {"Content-Type": "application/json"},
    {"vary": "Accept", "cache-control": "public, max-age=60", "Access-Control-Allow-Origin": "*"},
    {"RATELIMIT-LIMIT": "own", "x-content-type-options": "own"},
)


@pytest.mark.parametrize("cors", [None, CORS], ids=["no-cors", "cors"])
@pytest.mark.parametrize("origin", ORIGINS, ids=["no-origin", "allowed", "other"])
@pytest.mark.parametrize("limited", [False, True], ids=["no-limit", "limit"])
def test_powertools_and_guard_headers_are_unchanged(
    cors: Cors | None, origin: str | None, limited: bool
) -> None:
    guard = Guard(trust_authorizer=True, cors=cors, decision_log=None)
    headers = {"origin": origin} if origin else {}
    event = http_proxy("GET", "/a", headers=headers)
    request = Request.from_event(event)
    limit = _Limit() if limited else None
    for own in OWN_HEADERS:
        for given_request, given_event in ((request, None), (None, event)):
            new = SimpleNamespace(headers=dict(own))
            old = SimpleNamespace(headers=dict(own))
            powertools_module._add_headers(new, guard, given_request, limit, event=given_event)
            _old_add_headers(old, guard, given_request, limit, event=given_event)
            # Vary aside (review 63: the route's names and ours, merged), nothing changed
            vary, old_vary = new.headers.pop("vary", None), old.headers.pop("vary", None)
            assert new.headers == old.headers
            for name, value in own.items():
                if name != "vary":
                    assert new.headers[name] == value  # the route's own values win
            if "vary" in own:
                added = admitted_headers(request, limit, guard.security_headers, cors)
                ours = [n for n in added.get("Vary", "").split(", ") if n]
                assert vary == ", ".join(["Accept", *ours])
            else:
                assert vary == old_vary is None
    assert admitted_headers(request, limit, guard.security_headers, cors) == _old_extra(
        request, limit, guard.security_headers, cors
    )
    result = {"statusCode": 200, "headers": {"X-Own": "1"}, "body": ""}
    answered = handler_response(result, request, limit, guard.security_headers, cors, None)
    expected = {"X-Own": "1", **_old_extra(request, limit, guard.security_headers, cors)}
    assert answered["headers"] == expected


# =============================================================================================
# HTTP payload 1.0 requestContext.path on $default (5e46c32)
# =============================================================================================


def test_http_v1_default_stage_path_has_no_stage_segment() -> None:
    event = http_authorizer_v1("GET", "/orders/7")
    assert event["requestContext"]["path"] == "/orders/7"
    assert http_authorizer_v1("GET", "/orders/7", stage="beta")["requestContext"]["path"] == (
        "/beta/orders/7"
    )
    assert Request.from_event(event).path == "/orders/7"
