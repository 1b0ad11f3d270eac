"""Review 125: the ambiguity cap (``route_table.MAX_AMBIGUOUS_SEGMENTS``) against cached policies.

Attacked (commit 6698beb): docs/access.md says a cached authorizer policy is planned without the cap,
so it may allow a path of more than six ambiguous segments where every reading would be allowed, but
"never allows one a reading denies". An uncapped oracle (``_uncapped``) reads every ambiguous segment
(case-folded, percent-decoded or ``;``-stripped spelling of the table's literal at its position) both
ways, as ``RouteTable.readings`` does without the cap, and decides each reading on its own path
through ``Routes.decide`` (the as-written segment replaced by a word that routes as it does; the
principals' ids and tenants are never a literal or a spelling of one, so no rule can tell). The oracle
agrees with ``Routes.decide`` wherever the cap does not apply (checked). Then:

* hand-written deep tables (8 to 12 literal segments) where an ``roles("admin")`` or tenant-bound
  ``tenant(path=...) & roles("admin")`` route sits beside a same-depth all-parameter ``public()`` or
  ``authenticated()`` route, ``{proxy+}`` catch-alls and ``default=public()``; eve (no role, tenant
  acme) and ann (admin, tenant acme); cached policies planned from first requests of 0 to 12
  ambiguous segments; every ARN over upper-case, percent-encoded and ``;`` spellings of the literal
  route (7 to 12 ambiguous), the policy's own Allow patterns instantiated with such spellings, judged
  by the independent IAM matcher of tests/policy_tables.py against the oracle;
* random deep tables from ``random_template`` (up to 12 parts, literal-heavy) with random rules,
  the same judging;
* Authorizer answers: REST TOKEN and REQUEST (also with a base-path mapping on a custom domain), HTTP
  API answers bound to the route (``api="http"``, ``cache_key_covers_route=True``): a capped path is
  denied by its own answer, cached or not, memoized or not, and the memo never turns a later capped
  request into an Allow;
* planner budget: the planned document stays within the Allow/Deny candidate sets the planner draws
  from and the 8 KB response budget, on the 12-deep tables.

Held: no cached policy allowed an ARN that some uncapped reading denies; fresh and memoized answers
refuse capped paths (even under ``default=public()``); route-bound HTTP answers hold too.

Observed (not a weakness; fail closed): no plan here allowed any capped path at all. The proof judges
a product state by the first path reaching it, and breadth-first over sorted segments that is often
the most misspelled one (``API`` sorts before ``api``); ``Grants.allows_segments`` refuses it under
the cap, so the planner drops the ``*`` Allow (``allowed-deep``: eve's ``GET/*/*/*/*/*/*/*/*`` over a
public route goes, the answer names the method ARN). The docs' "may still allow" is rarely reached.

Findings: none.
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import pytest
from policy_tables import iam_allows, random_template

from secauth import Authorizer, ClaimMapper, Routes
from secauth.access import Rule, authenticated, public, roles, tenant
from secauth.errors import ConfigurationError
from secauth.events import Request
from secauth.policy import DEFAULT_MAX_RESPONSE_BYTES, PolicyBuilder
from secauth.policy.planner import allow_patterns, plan_policy
from secauth.policy.proof import COLON_PATHS, REFUSED_SPELLINGS, SEMICOLON_PATHS
from secauth.principal import Principal
from secauth.route_table import MAX_AMBIGUOUS_SEGMENTS
from secauth.routing import fold, split_path
from secauth.testing import KeyPair
from secauth.testing_events import http_authorizer_v2, request_authorizer, token_authorizer
from secauth.testing_policy import method_arn
from secauth.verifier import JwtVerifier

PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/"
DEEP = ("api", "v1", "admin", "users", "files", "docs", "me", "keys", "x9", "logs", "raw", "z3")
EVE = Principal("eve", tenant="acme")
ANN = Principal("ann", tenant="acme", roles={"admin"})
STAND_IN = "qq0"  # no literal, no spelling of one: routes as a parameter does


def _alt(table: Any, position: int, segment: str) -> str | None:
    """The literal an ambiguous segment may mean at ``position`` (no cap), else None."""
    if position >= len(table.literals_at):
        return None
    literals = table.literals_at[position]
    if not literals or literals.get(segment) == segment:
        return None
    literal = literals.get(fold(segment))
    if literal is None and ";" in segment:
        literal = literals.get(fold(segment.partition(";")[0]))
    return literal if literal is not None and literal != segment else None


def _ambiguous(routes: Routes, path: str) -> int:
    segments = split_path(path) or ()
    return sum(_alt(routes.table, i, s) is not None for i, s in enumerate(segments))


def _uncapped(routes: Routes, who: Principal, verb: str, path: str) -> bool:
    """Does every reading of ``verb path`` (no cap) allow ``who``? (module docs: the oracle)"""
    segments = split_path(path)
    if segments is None:
        return False
    choices = []
    for i, segment in enumerate(segments):
        literal = _alt(routes.table, i, segment)
        choices.append((segment,) if literal is None else (STAND_IN, literal))
    for reading in itertools.product(*choices):
        if not routes.decide(who, verb, "/" + "/".join(reading)).allowed:
            return False
    return True


def _spell(rng: random.Random, literal: str) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return literal.upper() if literal.upper() != literal else literal.capitalize() + "A"
    if kind == 1:
        i = rng.randrange(len(literal))
        return f"{literal[:i]}%{ord(literal[i]):02X}{literal[i + 1 :]}"
    if kind == 2:
        return (
            literal[0].upper() + literal[1:]
            if literal[0].isalpha()
            else f"%{ord(literal[0]):02x}" + literal[1:]
        )
    return literal + ";v=1"


def _spellings(rng: random.Random, template: str, want: int, fill: str = "acme") -> str:
    """``template`` with its parameters filled in and ``want`` of its literals misspelled."""
    parts = template.strip("/").split("/")
    literal_at = [i for i, p in enumerate(parts) if not p.startswith("{")]
    ambiguous = set(rng.sample(literal_at, min(want, len(literal_at))))
    out = []
    for i, part in enumerate(parts):
        if part.startswith("{"):
            out.append(fill if rng.random() < 0.7 else rng.choice(("7", "b2", "acme")))
        else:
            out.append(_spell(rng, part) if i in ambiguous else part)
    return "/" + "/".join(out)


def _instances(rng: random.Random, pattern: str, literals: list[str], count: int) -> list[str]:
    """Instances of an Allow pattern: each ``*`` one to three misspelled literals or values."""
    out = []
    for _ in range(count):
        text = ""
        for char in pattern:
            if char == "*":
                words = [
                    _spell(rng, rng.choice(literals))
                    if rng.random() < 0.7
                    else rng.choice(literals)
                    for _ in range(rng.randint(1, 3))
                ]
                text += "/".join(words)
            elif char == "?":
                text += rng.choice("aX")
            else:
                text += char
        out.append(text)
    return out


def _tables() -> list[tuple[str, Routes, list[str]]]:
    """Hand-written deep tables, with the deep literal templates to misspell."""
    admin8 = "/" + "/".join(DEEP[:8])
    params8 = "/" + "/".join(f"{{p{i}}}" for i in range(8))
    admin12 = "/" + "/".join(DEEP)
    tenant10 = "/t/{tid}/" + "/".join(DEEP[:8])
    out: list[tuple[str, Routes, list[str]]] = [
        (
            "admin8+public-params",
            Routes({f"GET {admin8}": roles("admin"), f"GET {params8}": public()}, default=public()),
            [admin8],
        ),
        (
            "admin12+proxy",
            Routes(
                {
                    f"ANY {admin12}": roles("admin"),
                    "ANY /{proxy+}": authenticated(),
                    "GET /api/{proxy+}": public(),
                },
                default=public(),
            ),
            [admin12],
        ),
        (
            "tenant10",
            Routes(
                {
                    f"GET {tenant10}": tenant(path="tid") & roles("admin"),
                    "GET /t/{tid}/{proxy+}": tenant(path="tid"),
                    "GET /t/{tid}/api/v1/{a}/{b}/{c}/{d}/{e}/{f}": tenant(path="tid"),
                },
                default=public(),
            ),
            [tenant10],
        ),
        (
            "mixed-depths",
            Routes(
                {
                    "GET /" + "/".join(DEEP[:9]): roles("admin"),
                    "GET /" + "/".join(DEEP[:7]) + "/{x}/{y}": public(),
                    "POST /" + "/".join(DEEP[:10]): authenticated(),
                    "ANY /{a}/{b}/{proxy+}": public(),
                },
                default=public(),
            ),
            ["/" + "/".join(DEEP[:9]), "/" + "/".join(DEEP[:10])],
        ),
        (
            "allowed-deep",
            Routes(
                {f"GET {admin8}": authenticated(), f"GET {params8}": public()}, default=public()
            ),
            [admin8],
        ),
        (
            "mixed-reading-trap",
            Routes(
                {
                    f"GET {admin8}": authenticated(),
                    f"GET {params8}": public(),
                    "GET /api/{a}/admin/{b}/{c}/{d}/{e}/{f}": roles("admin"),
                    "GET /{a}/v1/{b}/users/{c}/docs/{d}/keys": tenant(path="a"),
                },
                default=public(),
            ),
            [admin8],
        ),
    ]
    rng = random.Random(125)
    made = 0
    while made < 6:
        rules: dict[str, Rule] = {}
        deep: list[str] = []
        for _ in range(rng.randint(2, 5)):
            template, params = random_template(rng, DEEP, max_parts=12, literal_share=0.75)
            rule: Rule = rng.choice(
                [roles("admin"), public(), authenticated(), ~roles("admin")]
                + (
                    [tenant(path=params[0]), tenant(path=params[0]) & roles("admin")]
                    if params
                    else []
                )
            )
            rules[f"{rng.choice(('GET', 'ANY', 'GET'))} {template}"] = rule
            if sum(not p.startswith("{") for p in template.strip("/").split("/")) >= 7:
                deep.append(template)
                rules[f"GET {template}"] = roles("admin") if rng.random() < 0.5 else rule
        if not deep or not any(repr(r) == repr(roles("admin")) for r in rules.values()):
            continue
        rules["ANY /{proxy+}"] = rng.choice([public(), authenticated()])
        try:
            routes = Routes(rules, default=rng.choice([None, public()]))
        except ConfigurationError:
            continue
        out.append((f"random{made}", routes, deep))
        made += 1
    return out


TABLES = _tables()


def test_the_oracle_agrees_with_routes_where_the_cap_does_not_apply() -> None:
    rng = random.Random(1)
    checked = 0
    for _, routes, deep in TABLES:
        for who in (EVE, ANN):
            for _ in range(40):
                path = _spellings(rng, rng.choice(deep), rng.randint(0, MAX_AMBIGUOUS_SEGMENTS))
                assert _ambiguous(routes, path) <= MAX_AMBIGUOUS_SEGMENTS
                for verb in ("GET", "POST"):
                    fresh = routes.decide(who, verb, path).allowed
                    assert _uncapped(routes, who, verb, path) is fresh, (path, who)
                    checked += 1
    assert checked > 500


@pytest.mark.parametrize("name", [t[0] for t in TABLES])
def test_cached_policies_never_allow_a_capped_path_a_reading_denies(name: str) -> None:
    _, routes, deep = next(t for t in TABLES if t[0] == name)
    rng = random.Random(name)
    literals = sorted({p for t in deep for p in t.strip("/").split("/") if not p.startswith("{")})
    denied_somewhere = 0
    for who in (EVE, ANN):
        builder = PolicyBuilder(cache_ttl=300, routes=routes)
        for first_ambiguous in (0, 3, 7, 12):
            verb = rng.choice(("GET", "POST"))
            first = _spellings(rng, rng.choice(deep), first_ambiguous)
            decided = routes.decide(who, verb, first).allowed
            request = Request.from_event(
                {
                    "type": "TOKEN",
                    "authorizationToken": "Bearer t",
                    "methodArn": PREFIX + verb + first,
                }
            )
            doc = builder.policy(who, request, allow=decided).to_dict()
            assert iam_allows(doc, PREFIX + verb + first) is decided
            assert len(json.dumps(doc)) <= DEFAULT_MAX_RESPONSE_BYTES
            parts = []
            for _ in range(120):
                path = _spellings(rng, rng.choice(deep), rng.randint(7, 12))
                parts.append(rng.choice(("GET", "POST", "DELETE")) + path)
            for statement in doc["Statement"]:
                if statement["Effect"] == "Allow":
                    for resource in statement["Resource"]:
                        parts += _instances(rng, resource.removeprefix(PREFIX), literals, 15)
            for part in parts:
                verb_, _, rest = part.partition("/")
                if verb_ not in ("GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"):
                    continue
                path = "/" + rest
                if not _uncapped(routes, who, verb_, path):
                    denied_somewhere += 1
                    assert not iam_allows(doc, PREFIX + part), (name, who.id, part)
    assert denied_somewhere > 20 or name == "allowed-deep"  # the search met paths a reading denies


def test_plans_stay_within_their_candidate_sets_and_the_response_budget() -> None:
    for name, routes, _ in TABLES:
        for who in (EVE, ANN, Principal.anonymous()):
            grants = routes.grants(who)
            allow, narrow = allow_patterns(grants)
            doc = plan_policy(PREFIX, grants)
            if doc is None:
                continue
            resources = {s.effect: list(s.resources) for s in doc.statements}
            allowed = resources.get("Allow", [])
            assert len(allowed) <= sum(len(v) for v in allow.values()), name
            fixed = len(REFUSED_SPELLINGS) + 2
            routes_globs = len(routes.table.routes) * 7 + 7
            bound = fixed + sum(len(v) for v in narrow.values()) + routes_globs
            assert len(resources.get("Deny", [])) <= bound, name
            assert {PREFIX + COLON_PATHS, PREFIX + SEMICOLON_PATHS} <= set(
                resources.get("Deny", [])
            ) or not allowed


ISS, AUD = "https://idp.review125.example/", "api"
PAIR = KeyPair.generate("ES256", kid="review125")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
MAPPER = ClaimMapper(tenant_claim="tenant")


def _token(sub: str, **claims: Any) -> str:
    return PAIR.sign({"iss": ISS, "aud": AUD, "sub": sub, "exp": 4e9, **claims})


def _allows(answer: dict[str, Any], arn: str) -> bool:
    return iam_allows(answer.get("policyDocument", answer), arn)


def _authorizer(routes: Routes, **options: Any) -> Authorizer:
    options.setdefault("response_cache_size", 64)
    return Authorizer(VERIFIER, routes=routes, decision_log=None, claims=MAPPER, **options)


PUBLIC_DEEP = Routes(
    {
        "GET /" + "/".join(DEEP[:8]): roles("admin"),
        "GET /" + "/".join(f"{{p{i}}}" for i in range(8)): public(),
    },
    default=public(),
)


@pytest.mark.parametrize("cache_ttl", [0, 300])
@pytest.mark.parametrize("kind", ["token", "request", "request-base-path"])
def test_capped_paths_are_denied_by_their_own_answer_memoized_or_not(
    cache_ttl: int, kind: str
) -> None:
    auth = _authorizer(PUBLIC_DEEP, cache_ttl=cache_ttl)
    rng = random.Random(f"{kind}{cache_ttl}")
    for sub, claims in (
        ("eve", {"tenant": "acme"}),
        ("ann", {"tenant": "acme", "roles": ["admin"]}),
    ):
        token = _token(sub, **claims)
        for ambiguous in (5, 6, 7, 8, 7, 6):
            path = _spellings(rng, "/" + "/".join(DEEP[:8]), ambiguous)
            if ";" in path:
                path = path.replace(";v=1", "")
            if kind == "token":
                event = token_authorizer("GET", path, token=token)
            else:
                event = request_authorizer("GET", path, token=token)
                if kind == "request-base-path":
                    context = event["requestContext"]
                    context["domainName"] = "api.example.com"
                    context["path"] = "/api" + path
            arn = method_arn("GET", path)
            for _ in range(2):  # the second answer may come from the memo
                answer = auth.handler(event)
                allowed = _allows(answer, arn)
                if _ambiguous(PUBLIC_DEEP, path) > MAX_AMBIGUOUS_SEGMENTS:
                    assert not allowed, (kind, sub, path)
                else:
                    assert allowed is (sub == "ann" or _ambiguous(PUBLIC_DEEP, path) == 0), (
                        sub,
                        path,
                    )
                if cache_ttl:
                    who = ANN if sub == "ann" else EVE
                    for _ in range(30):
                        other = _spellings(rng, "/" + "/".join(DEEP[:8]), rng.randint(7, 8))
                        if _allows(answer, method_arn("GET", other)):
                            assert _uncapped(PUBLIC_DEEP, who, "GET", other), (sub, path, other)


def test_http_route_bound_answers_never_reach_a_denying_reading() -> None:
    params8 = "/" + "/".join(f"{{p{i}}}" for i in range(8))
    route_key = f"GET {params8}"
    auth = _authorizer(PUBLIC_DEEP, cache_ttl=300, api="http", cache_key_covers_route=True)
    rng = random.Random(7)
    token = _token("eve", tenant="acme")
    checked = 0
    for ambiguous in (0, 1, 6, 7, 8):
        path = _spellings(rng, "/" + "/".join(DEEP[:8]), ambiguous).replace(";v=1", "")
        values = path.strip("/").split("/")
        bound = {f"p{i}": v for i, v in enumerate(values)}
        event = http_authorizer_v2("GET", path, route_key=route_key, path_params=bound, token=token)
        answer = auth.handler(event)
        arn = method_arn("GET", path, stage="$default")
        if _ambiguous(PUBLIC_DEEP, path) or path == "/" + "/".join(DEEP[:8]):
            assert not _allows(answer, arn), path  # a reading reaches the admin route
        for _ in range(60):
            other = _spellings(rng, "/" + "/".join(DEEP[:8]), rng.randint(0, 8)).replace(";v=1", "")
            if _allows(answer, method_arn("GET", other, stage="$default")):
                checked += 1
                assert _uncapped(PUBLIC_DEEP, EVE, "GET", other), (path, other)
    plain = "/acme/7/b2/x/y/z/w/v"  # not vacuous: the public route itself is allowed
    values = plain.strip("/").split("/")
    bound = {f"p{i}": v for i, v in enumerate(values)}
    event = http_authorizer_v2("GET", plain, route_key=route_key, path_params=bound, token=token)
    assert _allows(auth.handler(event), method_arn("GET", plain, stage="$default"))
    del checked
