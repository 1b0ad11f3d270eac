"""Review 106: the cached-policy guarantee (``cache_ttl > 0``: every method ARN a returned policy allows
under IAM's rules is allowed by ``Routes.decide`` for that principal on the route API Gateway runs)
attacked with tables and principals the existing differential tests do not generate.

Attacked:

* rule trees mixing ``~``, ``|`` and ``&`` over roles, scopes, ``authenticated()``, ``public()``,
  ``tenant(path=)`` and an owner-like custom rule that declares ``path_parameters`` and
  ``refuses_undecided`` (up to three levels, ``~`` of combinations, anonymous principals), on
  tables of up to nine routes with templates of up to five parts, a root ``ANY /{proxy+}``, ``ANY``
  beside specific verbs on one template, literals with ``:``, a literal named like the stage, and
  ``default`` rules (``~roles(..)`` too); principals whose ids and tenants collide with literals in
  another case (``Ab``/``AB``), with a colon (``x:y``), with many roles and tenants' worth of grants;
  stages ``prod``, ``v1-beta``; every path of up to two segments over a pool of literals, case and
  percent variants and bound values, for three verbs, and instances of the policy's own Allow
  patterns whose ``*`` span one to three segments (Hypothesis, derandomized);
* a hand-written table around ``ANY /{proxy+}`` at the root with ``public()`` and
  ``authenticated()`` routes, ``~`` and ``&`` of tenant rules, judged exhaustively up to three
  segments;
* a 160-route tenant table that forces the planner's size fallback (method ARN alone), through
  ``Authorizer`` responses;
* HTTP API answers cached per route (``cache_key_covers_route=True``, ``route_bound``): every sent
  path of up to three segments (``%2F`` and percent-encoded literals among them) that API
  Gateway's route model sends to the answered route key, judged against a fresh (TTL 0)
  Authorizer answer for that very event;
* construction: a literal with ``:`` and a literal ``*``/``%`` in a template under
  ``cache_ttl > 0``.

Held: no over-allow was found. Every policy was checked with the independent IAM matcher of
tests/policy_tables.py; the first request is answered as decided; fallbacks name the method ARN
alone; per-route HTTP answers never reach an ARN that a fresh answer for the same route denies.
A longer run of the same generator during the review (200 tables, not kept: too slow) found none.

Findings: none.
"""

from __future__ import annotations

import itertools
import random
from typing import Any
from urllib.parse import unquote

import pytest
from api_gateway_model import api_gateway_route
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_tables import iam_allows, random_template

from secauth import Authorizer, ClaimMapper, Routes
from secauth.access import (
    AccessContext,
    Denial,
    Rule,
    authenticated,
    public,
    roles,
    scopes,
    tenant,
)
from secauth.errors import ConfigurationError, Reason
from secauth.events import Request
from secauth.policy import PolicyBuilder
from secauth.principal import Principal
from secauth.testing import KeyPair
from secauth.testing_events import http_authorizer_v2, token_authorizer
from secauth.testing_policy import method_arn
from secauth.verifier import JwtVerifier

VERBS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
LITERALS = ("a", "b", "admin", "x:y", "v1", "t", "me", "prod", "files", "Ab")
POOL = sorted(
    {*LITERALS, "A", "ADMIN", "%61", "%41dmin", "acme", "u1", "zz", "aB", "AB", "x:y", "ME"}
)


class Owner(Rule):
    """Owner-like custom rule: ``{name}`` must be the principal's id. Declares what it reads."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"owner({self.name})"

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        if not principal.is_anonymous and context.params.get(self.name) == principal.id:
            return None
        return Denial(Reason.FORBIDDEN, "not the owner", undecided=principal.is_anonymous)

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return [] if principal.is_anonymous else [{self.name: principal.id}]

    def path_parameters(self) -> frozenset[str]:
        return frozenset({self.name})

    def refuses_undecided(self, principal: Principal) -> bool | None:
        return True if principal.is_anonymous else None


def _leaf(rng: random.Random, params: list[str]) -> Rule:
    choices: list[Rule] = [authenticated(), public(), roles("admin"), roles("m"), scopes("s")]
    if params:
        name = rng.choice(params)
        choices += [tenant(path=name), Owner(name)] * 2
    return rng.choice(choices)


def _tree(rng: random.Random, params: list[str], depth: int = 0) -> Rule:
    if depth > 2 or rng.random() < 0.4:
        return _leaf(rng, params)
    op = rng.choice("&|~")
    if op == "~":
        return ~_tree(rng, params, depth + 1)
    left, right = _tree(rng, params, depth + 1), _tree(rng, params, depth + 1)
    return left & right if op == "&" else left | right


def _table(rng: random.Random) -> Routes:
    while True:
        rules: dict[str, Rule] = {}
        if rng.random() < 0.4:
            rules["ANY /{proxy+}"] = _tree(rng, ["proxy"])
        for _ in range(rng.randint(1, 8)):
            template, params = random_template(rng, LITERALS, max_parts=5, literal_share=0.45)
            verb = rng.choice(("GET", "POST", "ANY", "DELETE", "GET"))
            rules[f"{verb} {template}"] = _tree(rng, params)
        default = rng.choice([None, None, roles("admin"), authenticated(), public(), ~roles("m")])
        try:
            return Routes(rules, default=default)
        except ConfigurationError:
            continue  # a route twice, or a rule reading a parameter its route lacks


def _principal(rng: random.Random) -> Principal:
    if rng.random() < 0.15:
        return Principal.anonymous()
    return Principal(
        rng.choice(("u1", "acme", "a", "admin", "Ab")),
        tenant=rng.choice(("acme", "a", "admin", "AB", "x:y", None, "u1")),
        roles={r for r in ("admin", "m") if rng.random() < 0.5},
        scopes={"s"} if rng.random() < 0.5 else set(),
    )


def _instances(rng: random.Random, pattern: str, count: int) -> list[str]:
    out = []
    for _ in range(count):
        text = ""
        for char in pattern:
            if char == "*":
                text += "/".join(rng.choice(POOL) for _ in range(rng.randint(1, 3)))
            elif char == "?":
                text += rng.choice("aX%/.")
            else:
                text += char
        out.append(text)
    return out


def _allows(answer: dict[str, Any], arn: str) -> bool:
    """The independent IAM matcher on a whole authorizer response or a policy document."""
    return iam_allows(answer.get("policyDocument", answer), arn)


def _over_allows(
    routes: Routes, who: Principal, document: dict[str, Any], prefix: str, parts: list[str]
) -> list[str]:
    found = []
    for part in parts:
        verb, slash, rest = part.partition("/")
        allowed = verb in VERBS and slash and iam_allows(document, prefix + part)
        if allowed and not routes.decide(who, verb, "/" + rest).allowed:
            found.append(part)
    return found


def _paths(longest: int) -> list[str]:
    return [
        "/".join(segments)
        for count in range(longest + 1)
        for segments in itertools.product(POOL, repeat=count)
    ]


PATHS_2 = _paths(2)


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.randoms(use_true_random=False))
def test_mixed_rule_trees_owner_rules_and_root_proxy_never_over_allow(rng: random.Random) -> None:
    routes = _table(rng)
    who = _principal(rng)
    stage = rng.choice(("prod", "v1-beta"))
    prefix = f"arn:aws:execute-api:us-east-1:123456789012:abcdef1234/{stage}/"
    verb = rng.choice(VERBS)
    first = "/" + "/".join(rng.choice(POOL) for _ in range(rng.randint(0, 3)))
    decided = routes.decide(who, verb, first).allowed
    request = Request.from_event(
        {"type": "TOKEN", "authorizationToken": "Bearer t", "methodArn": prefix + verb + first}
    )
    document = PolicyBuilder(cache_ttl=300, routes=routes).policy(who, request, allow=decided)
    doc = document.to_dict()
    assert iam_allows(doc, prefix + verb + first) is decided
    parts = [v + "/" + p for p in PATHS_2 for v in ("GET", "POST", "DELETE")]
    for statement in doc["Statement"]:
        if statement["Effect"] == "Allow":
            for resource in statement["Resource"]:
                parts += _instances(rng, resource.removeprefix(prefix), 10)
    bad = _over_allows(routes, who, doc, prefix, parts)
    assert not bad, (bad[:3], routes.route_keys(), who)


ROOT_TABLE = Routes(
    {
        "ANY /{proxy+}": authenticated(),
        "GET /": public(),
        "GET /a": public(),
        "GET /admin/{id}": roles("admin"),
        "ANY /admin/{id}/me": ~roles("m") & authenticated(),
        "DELETE /admin/{id}/me": roles("admin"),
        "GET /t/{tid}": tenant(path="tid") | roles("admin"),
        "POST /t/{tid}/{rest+}": tenant(path="tid") & ~roles("m"),
        "GET /t/{tid}/me/{uid}": tenant(path="tid") & Owner("uid"),
        "GET /v1/{uid}": ~(Owner("uid") | roles("m")),
        "PUT /x:y/{id}": authenticated(),
    },
    default=roles("admin"),
)
ROOT_PRINCIPALS = [
    Principal.anonymous(),
    Principal("u1", tenant="acme"),
    Principal("acme", tenant="acme", roles={"m"}),
    Principal("Ab", tenant="AB", roles={"admin", "m", "x", "y", "z"}),
    Principal("x:y", tenant="x:y"),
]


@pytest.mark.parametrize("who", ROOT_PRINCIPALS, ids=lambda p: repr(p.id))
def test_root_proxy_beside_public_and_negated_tenant_routes(who: Principal) -> None:
    """``ANY /{proxy+}`` at the root beside ``public()`` routes, ``ANY`` and ``DELETE`` on one
    template, ``~`` over an owner rule, a colon literal: exhaustive up to three segments."""
    prefix = method_arn("GET", "/").removesuffix("GET/")
    for verb, first in (("GET", "/t/acme"), ("DELETE", "/admin/7/me")):
        decided = ROOT_TABLE.decide(who, verb, first).allowed
        event = {"type": "TOKEN", "authorizationToken": "Bearer t",
                 "methodArn": method_arn(verb, first)}  # fmt: skip
        request = Request.from_event(event)
        builder = PolicyBuilder(cache_ttl=300, routes=ROOT_TABLE)
        doc = builder.policy(who, request, allow=decided).to_dict()
        assert iam_allows(doc, method_arn(verb, first)) is decided
        pool = ("a", "admin", "ADMIN", "t", "acme", "me", "v1", "x:y", "7")
        parts = [
            v + "/" + "/".join(s)
            for n in range(4)
            for s in itertools.product(pool, repeat=n)
            for v in ("GET", "DELETE", "POST")
        ]
        assert not _over_allows(ROOT_TABLE, who, doc, prefix, parts)
    # The table is not vacuous: the cached policy really reaches other routes.
    request = Request.from_event({"type": "TOKEN", "authorizationToken": "Bearer t",
                                  "methodArn": method_arn("GET", "/a")})  # fmt: skip
    doc = PolicyBuilder(cache_ttl=300, routes=ROOT_TABLE).policy(
        Principal("u1", tenant="acme"), request, allow=True
    )
    assert iam_allows(doc.to_dict(), method_arn("GET", "/t/acme"))
    assert not iam_allows(doc.to_dict(), method_arn("GET", "/t/globex"))


ISS, AUD = "https://idp.review106.example/", "api"
PAIR = KeyPair.generate("ES256", kid="review106")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
MAPPER = ClaimMapper(tenant_claim="tenant")


def _token(sub: str, **claims: Any) -> str:
    return PAIR.sign({"iss": ISS, "aud": AUD, "sub": sub, "exp": 4e9, **claims})


def test_a_long_tenant_table_falls_back_to_the_method_arn_alone() -> None:
    """160 routes, most granted: the planned policy does not fit 8 KB, so the answer names
    the method ARN alone, allowed or denied as decided."""
    table: dict[str, Rule] = {}
    for index in range(80):
        table[f"GET /r{index}/{{tid}}/{{id}}"] = tenant(path="tid") | roles("ops")
        table[f"ANY /r{index}/{{tid}}/{{id}}/x"] = authenticated()
    routes = Routes(table)
    auth = Authorizer(VERIFIER, routes=routes, cache_ttl=300, decision_log=None,
                      claims=MAPPER, response_cache_size=0)  # fmt: skip
    token = _token("u1", tenant="acme")
    for verb, path, effect in (
        ("GET", "/r3/acme/7", "Allow"),
        ("GET", "/r3/globex/7", "Deny"),
        ("POST", "/r3/globex/7/x", "Allow"),
    ):
        answer = auth.handler(token_authorizer(verb, path, token=token))
        statements = answer["policyDocument"]["Statement"]
        assert [(s["Effect"], s["Resource"]) for s in statements] == [
            (effect, [method_arn(verb, path)])
        ]
    # A smaller table plans a policy that reaches other routes (the fallback is the size).
    small = Routes(dict(list(table.items())[:4]))
    auth = Authorizer(VERIFIER, routes=small, cache_ttl=300, decision_log=None,
                      claims=MAPPER, response_cache_size=0)  # fmt: skip
    answer = auth.handler(token_authorizer("GET", "/r0/acme/7", token=token))
    assert _allows(answer, method_arn("GET", "/r1/acme/8"))
    assert not _allows(answer, method_arn("GET", "/r1/globex/8"))
    assert not _allows(answer, method_arn("GET", "/r1/acme/8/y"))


HTTP_TABLE = {
    "ANY /{proxy+}": authenticated(),
    "GET /users/me": authenticated(),
    "GET /users/{id}": roles("admin"),
    "GET /users/{id}/{sub}": ~roles("banned"),
    "ANY /files/{proxy+}": roles("admin"),
    "GET /files/{id}/public": authenticated(),
    "POST /files/{id}": authenticated() & ~roles("ro"),
    "GET /a": public(),
}
HTTP_SEGMENTS = ("users", "me", "m%65", "USERS", "files", "public", "x%2Fpublic", "7", "a", "%61")


@pytest.mark.parametrize("banned", [False, True])
def test_http_answers_cached_per_route_reach_only_what_a_fresh_answer_allows(banned: bool) -> None:
    """Per-route cached HTTP API answers (route_bound): for each sent path whose route API
    Gateway's model picks, every other sent path of that route key whose ARN the answer
    allows is allowed by a fresh answer for its own event."""
    routes = Routes(HTTP_TABLE)
    cached = Authorizer(VERIFIER, routes=routes, cache_ttl=300, decision_log=None, api="http",
                        cache_key_covers_route=True, response_cache_size=0)  # fmt: skip
    fresh = Authorizer(VERIFIER, routes=routes, decision_log=None, response_cache_size=0)
    token = _token("eve", roles=["banned"]) if banned else _token("eve")
    keys = list(HTTP_TABLE)
    by_route: dict[str, list[tuple[str, str, dict[str, str]]]] = {}
    for count in range(4):
        for segments in itertools.product(HTTP_SEGMENTS, repeat=count):
            sent = "/" + "/".join(segments)
            for verb in ("GET", "POST"):
                selected = api_gateway_route(keys, verb, sent)
                if selected is not None:
                    by_route.setdefault(selected[0], []).append((verb, sent, selected[1]))
    checked = 0
    for route_key, requests in by_route.items():
        answered: dict[str, Any] | None = None
        for verb, sent, params in requests[:: max(1, len(requests) // 6)]:
            event = http_authorizer_v2(verb, unquote(sent), route_key=route_key,
                                       path_params=params, token=token)  # fmt: skip
            answered = cached.handler(event)
            for verb2, sent2, params2 in requests:
                arn = method_arn(verb2, unquote(sent2), stage="$default")
                if not _allows(answered, arn):
                    continue
                checked += 1
                other = http_authorizer_v2(verb2, unquote(sent2), route_key=route_key,
                                           path_params=params2, token=token)  # fmt: skip
                assert _allows(fresh.handler(other), arn), (route_key, sent, sent2)
    assert checked > 50


@pytest.mark.parametrize(
    "key", ["GET /a/{id}/x*y", "GET /a/%2e", "GET /a/?", "GET /a/{id}x", "GET /a//b"]
)
def test_templates_with_wildcards_or_percent_are_refused(key: str) -> None:
    with pytest.raises(ConfigurationError):
        Routes({key: authenticated()})


def test_a_colon_literal_route_is_refused_under_caching() -> None:
    routes = Routes({"POST /v1/items:batchGet": authenticated(), "GET /v1/items": authenticated()})
    with pytest.raises(ConfigurationError):
        Authorizer(VERIFIER, routes=routes, cache_ttl=300, decision_log=None)
