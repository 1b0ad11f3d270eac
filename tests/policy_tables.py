"""Random route tables, principals and method ARNs for the cached-policy differential test
(tests/test_cached_policy_differential.py) and its long-run report
(scripts/cached_policy_report.py). Everything draws from one ``random.Random``, so a seed
reproduces a case, and Hypothesis can drive it through ``st.randoms()``.

The IAM matcher here is written from the IAM User Guide ("IAM JSON policy elements:
Resource"), independently of secauth's: ``*`` any run of characters including ``/``, ``?``
exactly one character, case-sensitive, an explicit Deny wins over any Allow.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from secauth.access import (
    AccessContext,
    Denial,
    Routes,
    Rule,
    authenticated,
    public,
    roles,
    source_ip,
    tenant,
)
from secauth.errors import ConfigurationError, Reason
from secauth.events import Request
from secauth.policy import MethodArn, PolicyBuilder, exact_document
from secauth.principal import Principal

PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/"
VERBS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
LITERALS = ("users", "orders", "admin", "files", "t", "a", "v1", "me")
TENANTS = ("acme", "globex", "Acme", "a", "users", "t1", "it's", "a.b")
ROLES = ("admin", "member")
# Segments requests are made of: literals, their case and percent variants, tenant
# values, plain values, and spellings the table refuses.
POOL = (
    *LITERALS,
    "USERS",
    "Admin",
    "%61dmin",
    "%75sers",
    "ME",
    "acme",
    "globex",
    "Acme",
    "t1",
    "x",
    "7",
    "%zz",
    "",
    ".",
    "..",
    "%2e",
    "a%2Fb",
    "a\\b",
    "%C0%AE",
)


class Owner(Rule):
    """A custom rule with bindings: ``{name}`` must be the principal's id."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"owner({self.name})"

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        if not principal.is_anonymous and context.params.get(self.name) == principal.id:
            return None
        return Denial(Reason.FORBIDDEN, "not the owner")

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return [] if principal.is_anonymous else [{self.name: principal.id}]


def random_template(
    rng: random.Random,
    literals: Sequence[str] = LITERALS,
    *,
    max_parts: int = 4,
    literal_share: float = 0.5,
) -> tuple[str, list[str]]:
    """A route template of up to ``max_parts`` parts (``literals`` for ``literal_share`` of
    them, ``{pN}``, a last ``{rN+}``) and its parameter names."""
    parts: list[str] = []
    params: list[str] = []
    for index in range(rng.randint(0, max_parts)):
        roll = rng.random()
        if roll < literal_share:
            parts.append(rng.choice(literals))
        elif roll < 0.85:
            params.append(f"p{index}")
            parts.append("{" + params[-1] + "}")
        else:
            params.append(f"r{index}")
            parts.append("{" + params[-1] + "+}")
            break
    return "/" + "/".join(parts), params


def _rule(rng: random.Random, params: list[str]) -> Rule:
    choices: list[Rule] = [authenticated(), roles("admin"), roles("member"), public()]
    if params:
        name = rng.choice(params)
        choices += [
            tenant(path=name),
            tenant(path=name) & roles("member"),
            tenant(path=name) | roles("admin"),
            Owner(name),
        ]
        choices += [tenant(path=name)] * 2  # tenant tables are what the attack was about
    choices.append(source_ip(allow=["10.0.0.0/8"]))  # reads the request
    return rng.choice(choices)


def table(rng: random.Random) -> Routes:
    """A valid random route table (1 to 6 routes, sometimes a default rule)."""
    while True:
        rules: dict[str, Rule] = {}
        for _ in range(rng.randint(1, 6)):
            template, params = random_template(rng)
            verb = rng.choice(("GET", "POST", "DELETE", "ANY", "GET"))
            rules[f"{verb} {template}"] = _rule(rng, params)
        default = rng.choice([None, None, roles("admin"), authenticated(), public()])
        try:
            return Routes(rules, default=default)
        except ConfigurationError:
            continue  # the same route twice (parameter names aside): draw again


def principal(rng: random.Random) -> Principal:
    if rng.random() < 0.1:
        return Principal.anonymous()
    held = {r for r in ROLES if rng.random() < 0.4}
    name = rng.choice(("u1", "7", "acme", "x"))
    return Principal(name, tenant=rng.choice((*TENANTS, None)), roles=held)


def path(rng: random.Random, longest: int = 8) -> str:
    """A request path of any length from the pool (refused spellings included)."""
    count = rng.randint(0, longest)
    return "/" + "/".join(rng.choice(POOL) for _ in range(count))


def request_path(rng: random.Random, routes: Routes, tenant_name: str | None) -> str:
    """A path one of the table's routes serves, its parameters filled in."""
    keys = [k for k in routes.route_keys() if not k.startswith("$")]
    template = rng.choice(keys).partition(" ")[2]
    parts = []
    for part in template.strip("/").split("/") if template != "/" else []:
        if part.startswith("{"):
            value = tenant_name if tenant_name and rng.random() < 0.6 else rng.choice(POOL[:12])
            parts.append(value or "x")
            if part.endswith("+}") and rng.random() < 0.5:
                parts.append(rng.choice(POOL[:12]))
        else:
            parts.append(part)
    return "/" + "/".join(parts)


def instances(rng: random.Random, pattern: str, count: int) -> list[str]:
    """Concrete route parts a policy pattern matches: each ``*`` one or more pool segments
    (joined by ``/``, so it spans segments as IAM allows), ``?`` one character."""
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


def _regex(resource: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in resource)


def iam_allows(document: Mapping[str, Any], arn: str) -> bool:
    """IAM's answer for ``arn`` under a policy document (statements without conditions)."""
    allowed = False
    for statement in document["Statement"]:
        assert "Condition" not in statement
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        if any(re.fullmatch(_regex(r), arn, re.DOTALL) for r in resources):
            if statement["Effect"] == "Deny":
                return False
            allowed = True
    return allowed


class Judged(NamedTuple):
    """One table and principal judged: the first request answered as decided, the ARNs
    the policy allows that ``Routes.decide`` denies, how many ARNs were judged and allowed,
    and whether the policy named only the first request's ARN."""

    first_ok: bool
    over_allows: list[str]
    judged: int
    allowed: int
    exact: bool
    routes: Routes
    principal: Principal


def cached_policy(routes: Routes, who: Principal, request: Request, decided: bool) -> Any:
    """The cached policy the Authorizer would answer with (``cache_ttl=300``)."""
    return PolicyBuilder(cache_ttl=300, routes=routes).policy(who, request, allow=decided)


def judge(
    rng: random.Random,
    build: Callable[[Routes, Principal, Request, bool], Any] = cached_policy,
    arns: int = 150,
) -> Judged:
    """Draw a table, a principal and a first request; build the cached policy with
    ``build``; judge random ARNs and instances of the policy's own Allow patterns."""
    routes = table(rng)
    who = principal(rng)
    verb = rng.choice(VERBS)
    first = request_path(rng, routes, who.tenant)
    decided = routes.decide(who, verb, first).allowed
    request = Request.from_event(
        {"type": "TOKEN", "authorizationToken": "Bearer t", "methodArn": PREFIX + verb + first}
    )
    doc = build(routes, who, request, decided)
    document = doc.to_dict()
    first_ok = iam_allows(document, PREFIX + verb + first) is decided
    parts = [rng.choice(VERBS) + path(rng) for _ in range(arns)]
    for statement in document["Statement"]:
        if statement["Effect"] == "Allow":
            for resource in statement["Resource"]:
                parts += instances(rng, resource.removeprefix(PREFIX), 12)
    over: list[str] = []
    judged = allowed = 0
    for part in parts:
        verb_, slash, rest = part.partition("/")
        if verb_ not in VERBS or not slash:
            continue
        judged += 1
        if iam_allows(document, PREFIX + part):
            allowed += 1
            if not routes.decide(who, verb_, "/" + rest).allowed:
                over.append(part)
    exact = doc == exact_document(MethodArn.parse(PREFIX + verb + first), decided)
    return Judged(first_ok, over, judged, allowed, exact, routes, who)


def over_allows(
    routes: Routes,
    who: Principal,
    response: Mapping[str, Any],
    alphabet: Iterable[str],
    *,
    prefix: str = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/",
    longest: int = 4,
    verbs: Sequence[str] = ("GET", "DELETE", "POST"),
) -> list[str]:
    """Every ``VERB /path`` (paths over ``alphabet``, up to ``longest`` segments) that the
    cached ``response`` (or policy document) allows, by this module's own IAM matcher,
    under the stage ``prefix``, and the table denies."""
    words = sorted(set(alphabet))
    found = []
    for count in range(longest + 1):
        for segments in itertools.product(words, repeat=count):
            path = "/" + "/".join(segments)
            for verb in verbs:
                if (
                    iam_allows(response.get("policyDocument", response), prefix + verb + path)
                    and not routes.decide(who, verb, path).allowed
                ):
                    found.append(f"{verb} {path}")
    return found


#: The office network of :class:`ContractorsFromTheOffice`, and an address elsewhere.
OFFICE, ELSEWHERE = "203.0.113.9", "198.51.100.66"


class ContractorsFromTheOffice(Rule):
    """Contractors only from the office network; everybody else from anywhere. Its
    ``bindings`` is None for contractors only: it reads the request for some callers."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        if "contractor" not in principal.roles:
            return None
        ip = context.request.source_ip if context.request is not None else None
        return None if ip == OFFICE else Denial(Reason.FORBIDDEN, "contractor off-site")

    def bindings(self, principal: Principal) -> list[dict[str, str]] | None:
        return None if "contractor" in principal.roles else [{}]
