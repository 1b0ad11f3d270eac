"""Review 8: an adversarial pass on cached authorizer policies (``cache_ttl > 0``).

The claim under attack: with ``Authorizer(..., cache_ttl > 0)`` the policy API Gateway
caches, and reuses for every method ARN of the API and stage that the same identity
calls, never allows a request that ``Routes.decide`` denies for that principal.

Every test here plays the cache: it takes the response to a first request, then asks
the policy (with its own IAM matcher, below) about other method ARNs, and asks
``Routes.decide`` about the same requests. Wherever the policy allows and the table
denies, the cached policy over-allows.

The matcher follows the IAM User Guide, "IAM JSON policy elements: Resource", section
"Using wildcards in resource ARNs": ``*`` any run of characters, ``?`` one character,
case-sensitive; an explicit Deny wins over any Allow (IAM User Guide, "Policy evaluation
logic"). The same page says wildcards work "within the individual segments of an ARN (the
parts separated by colons)" and that only a ``*`` that "is the last character of a resource
ARN segment" can "expand to match beyond the colon boundaries": ``colon_segments=True``
applies that rule; the default reads ``*`` across colons, as secauth's model does.

Attacks the library resists are passing regression tests. The review's three findings
(a ``:`` in the path under the colon rule, a ``Routes`` subclass deciding beyond its rules,
``PolicyBuilder`` caching simple responses) each failed on the code they were found on,
and are fixed (CHANGELOG, Security).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import pytest
from guard_events import VERIFIER, token
from policy_tables import random_template

from secauth import Authorizer, Routes
from secauth.access import (
    AccessContext,
    Denial,
    Rule,
    authenticated,
    public,
    roles,
    rule,
    scopes,
    source_ip,
    tenant,
)
from secauth.api_keys import ApiKeyEntry, StaticApiKeys, hash_api_key
from secauth.errors import ConfigurationError, Reason
from secauth.events import Request
from secauth.policy import PolicyBuilder, Statement, Unauthorized
from secauth.principal import ClaimMapper, Principal
from secauth.testing_events import http_authorizer_v1, http_authorizer_v2, request_authorizer

PARTITION_PREFIX = "arn:aws:execute-api:us-east-1:123456789012:"
PREFIX = PARTITION_PREFIX + "abcdef123/prod/"
VERBS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
MAPPER = ClaimMapper(tenant_claim="tenant")


def mapper_for(claims: Mapping[str, Any]) -> ClaimMapper:
    """The claim mapper for a test token: a tenant claim only when the token has one."""
    return MAPPER if "tenant" in claims else ClaimMapper()


# --- IAM's matching, written from the IAM User Guide ------------------------------------------


@lru_cache(maxsize=4096)
def _resource_regex(resource: str, colon_segments: bool) -> re.Pattern[str]:
    parts = []
    for index, char in enumerate(resource):
        if char == "*":
            segment_final = index + 1 == len(resource) or resource[index + 1] == ":"
            parts.append(".*" if segment_final or not colon_segments else "[^:]*")
        elif char == "?":
            parts.append("[^:]" if colon_segments else ".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def iam_allows(policy: Mapping[str, Any], arn: str, *, colon_segments: bool = False) -> bool:
    """IAM's answer for ``arn`` under ``policy`` (a policy document, or a whole authorizer
    response): some Allow matches and no Deny does. Conditions are not used here."""
    document = policy.get("policyDocument", policy)
    allowed = False
    for statement in document["Statement"]:
        assert "Condition" not in statement
        assert statement["Action"] == "execute-api:Invoke"
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        if any(_resource_regex(r, colon_segments).fullmatch(arn) for r in resources):
            if statement["Effect"] == "Deny":
                return False
            allowed = True
    return allowed


def test_the_matcher_follows_the_documented_rules() -> None:
    """The matcher itself, on the IAM User Guide's own kind of examples."""
    doc = {
        "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [PREFIX + "GET/*"]},
            {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": [PREFIX + "GET/a/?"]},
        ]
    }
    assert iam_allows(doc, PREFIX + "GET/users/7/secrets")  # "*" spans "/"
    assert not iam_allows(doc, PREFIX + "GET/a/b")  # "?" is one character, Deny wins
    assert iam_allows(doc, PREFIX + "GET/a/bc")
    assert not iam_allows(doc, PREFIX.replace("prod", "dev") + "GET/x")
    assert not iam_allows(doc, PREFIX + "get/x")  # case-sensitive
    # The colon rule: a "*" inside a segment stays in it, a segment-final "*" does not.
    pinned = {"Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow",
                             "Resource": [PREFIX + "GET/*/x"]}]}  # fmt: skip
    assert iam_allows(pinned, PREFIX + "GET/a:b/x")
    assert not iam_allows(pinned, PREFIX + "GET/a:b/x", colon_segments=True)
    assert iam_allows(doc, PREFIX + "GET/a:b/x", colon_segments=True)


# --- playing API Gateway's cache ---------------------------------------------------------------


def _event(kind: str, verb: str, path: str, bearer: str) -> dict[str, Any]:
    if kind == "TOKEN":
        return {
            "type": "TOKEN",
            "authorizationToken": f"Bearer {bearer}",
            "methodArn": PREFIX + verb + path,
        }
    if kind == "REQUEST":
        return request_authorizer(verb, path, token=bearer)
    if kind == "HTTP_V1":
        return http_authorizer_v1(verb, path, stage="prod", token=bearer)
    assert kind == "HTTP_V2"
    return http_authorizer_v2(verb, path, route_key=f"{verb} {path}", stage="prod", token=bearer)


def answer(
    routes: Routes,
    token_claims: Mapping[str, Any],
    verb: str,
    path: str,
    *,
    kind: str = "TOKEN",
    authorizer: Authorizer | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The cached answer to a first request ``verb path`` by a token with ``token_claims``."""
    if authorizer is None:
        options.setdefault("claims", mapper_for(token_claims))
        options.setdefault("cache_key_covers_route", True)  # HTTP: per route (review 69)
        authorizer = Authorizer(
            VERIFIER, routes=routes, cache_ttl=300, decision_log=None, **options
        )
    return authorizer.handler(_event(kind, verb, path, token(**token_claims)), None)


def principal_of(claims: Mapping[str, Any], mapper: ClaimMapper | None = None) -> Principal:
    return (mapper or mapper_for(claims)).map({"iss": "x", **claims})


# Segments a request can be made of: plain values, tenants, literals and their case,
# percent and look-alike variants, glob characters (raw ARNs refuse them; encoded they are
# plain segments), non-ASCII text and every refused spelling.
FILLERS = (
    "7", "x", "acme", "globex", "Acme", "%61cme", "admin", "ADMIN", "%61dmin", "Admin",
    "users", "USERS", "secrets", "files", "t", "me", "ME", "~w", "~w~", "%2A", "%3F", "%2a",
    "a+b", "é", "%C3%A9", "\u017fecrets", "\u212aite", "\uff41dmin", "", ".", "..", "%2e", "%2E%2E",
    "a%2Fb", "a%5cb", "%25", "%C0%AE", "a\\b", "7/secrets", "x/admin/y", "globex/acme",
    "acme/files/x", "x//y", "x/./y", "x/../y", "eu/globex",
)  # fmt: skip


def instances(pattern: str, rng: random.Random, count: int = 40) -> list[str]:
    """Route parts (``VERB/path``) an Allow pattern matches: each ``*`` one filler (one or
    several segments, or a refused spelling), every filler once in the first ``*``."""
    stars = pattern.count("*")
    if not stars:
        return [pattern]
    fillings: list[tuple[str, ...]] = [(f,) * stars for f in FILLERS]
    fillings += [tuple(rng.choice(FILLERS) for _ in range(stars)) for _ in range(count)]
    out = []
    for filling in fillings:
        pieces = pattern.split("*")
        text = pieces[0]
        for piece, value in zip(pieces[1:], filling, strict=True):
            text += value + piece
        out.append(text)
    return out


def probes(policy: Mapping[str, Any], extra: Iterable[str] = ()) -> list[str]:
    """Requests (``"VERB /path"``) to ask a cached policy about: instances of its own Allow
    patterns and ``extra`` paths with every verb."""
    rng = random.Random(8)
    out = [f"{verb} {path}" for path in extra for verb in VERBS]
    document = policy.get("policyDocument", policy)
    for statement in document["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        for resource in statement["Resource"]:
            if not resource.startswith(PREFIX):
                continue
            for part in instances(resource.removeprefix(PREFIX), rng):
                verb, slash, rest = part.partition("/")
                if verb in VERBS and slash:
                    out.append(f"{verb} /{rest}")
    return out


def over_allowed(
    routes: Routes,
    who: Principal,
    policy: Mapping[str, Any],
    requests: Iterable[str],
    *,
    colon_segments: bool = False,
) -> list[str]:
    """The requests the policy allows and the table denies for ``who``."""
    found = []
    for request in requests:
        verb, _, path = request.partition(" ")
        arn = PREFIX + verb + path
        allowed = iam_allows(policy, arn, colon_segments=colon_segments)
        if allowed and not routes.decide(who, verb, path).allowed:
            found.append(request)
    return found


def assert_safe(
    routes: Routes,
    claims: Mapping[str, Any],
    first: str,
    extra: Sequence[str] = (),
    *,
    mapper: ClaimMapper | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The cached answer to ``first`` answers it as decided and allows nothing the table
    denies among the probes."""
    mapper = mapper or mapper_for(claims)
    verb, _, path = first.partition(" ")
    response = answer(routes, claims, verb, path, claims=mapper, **options)
    who = principal_of(claims, mapper)
    assert iam_allows(response, PREFIX + verb + path) is routes.decide(who, verb, path).allowed
    bad = over_allowed(routes, who, response, probes(response, extra))
    assert not bad, f"the cached policy for {first!r} allows {bad[:5]}, which the table denies"
    return response


# --- 1. attacks on the proof, through the Authorizer -------------------------------------------


class Owner(Rule):
    """A custom rule with bindings: ``{name}`` must be the caller's id."""

    def __init__(self, name: str) -> None:
        self.name = name

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        if context.params.get(self.name) == principal.id:
            return None
        return Denial(Reason.FORBIDDEN, "not the owner")

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return [{self.name: principal.id}]


SCENARIOS: dict[str, tuple[dict[str, Rule], Rule | None, dict[str, Any], list[str], list[str]]] = {
    # name: (table, default, claims, first requests, extra attack paths)
    "param-then-admin-child": (
        {"GET /users/{id}": authenticated(), "GET /users/{id}/secrets": roles("admin")},
        None,
        {"sub": "u", "tenant": "acme"},
        ["GET /users/7", "GET /users/7/secrets"],
        [
            "/users/7/secrets",
            "/users/7/secrets/",
            "/users//secrets",
            "/users/7/./secrets",
            "/users/7/x/../secrets",
            "/users/7/%2e%2e/secrets",
            "/users/a%2Fb/secrets",
            "/USERS/7",
            "/users/7/SECRETS",
            "/users/7/%73ecrets",
            "/users/7/\u017fecrets",
            "/users/%2A/secrets",
            "/users/7/a/b",
            "/users/",
        ],
    ),
    "region-before-tenant": (
        {"ANY /{region}/{tenantId}/files/{proxy+}": tenant(path="tenantId")},
        None,
        {"sub": "u", "tenant": "acme"},
        ["GET /eu/acme/files/a", "PUT /eu/globex/files/a", "GET /eu/%61cme/files/a"],
        [
            "/eu/globex/files/acme/files/x",
            "/eu/globex/acme/files/x",
            "/eu/acme/files",
            "/eu/Acme/files/x",
            "/acme/acme/files/acme/files",
            "/eu/globex/files/acme",
            "/eu/acme/files/x/",
            "/eu/acme/../globex/files/x",
            "/eu/%67lobex/files/x",
        ],
    ),
    "tenant-member-and-admin-subtree": (
        {
            "ANY /tenants/{tid}/{proxy+}": tenant(path="tid") & roles("member"),
            "ANY /tenants/{tid}/admin/{proxy+}": tenant(path="tid") & roles("admin"),
            "GET /admin/{proxy+}": roles("admin"),
        },
        None,
        {"sub": "u", "tenant": "acme", "roles": ["member"]},
        ["GET /tenants/acme/orders/1", "DELETE /tenants/acme/admin/x"],
        [
            "/tenants/acme/admin/x",
            "/tenants/acme/ADMIN/x",
            "/tenants/acme/%61dmin/x",
            "/tenants/globex/orders",
            "/tenants/acme/x/../admin/y",
            "/admin/tenants/acme/x",
            "/tenants/acme",
            "/tenants/acme/admin",
            "/tenants/acme//admin/x",
        ],
    ),
    "tenant-named-like-a-literal": (
        {"GET /t/{tid}/orders": tenant(path="tid"), "GET /t/admin/orders": roles("admin")},
        None,
        {"sub": "u", "tenant": "admin"},
        ["GET /t/admin/orders", "GET /t/ADMIN/orders"],
        ["/t/admin/orders", "/t/Admin/orders", "/t/%61dmin/orders", "/t/globex/orders"],
    ),
    "tenant-a-case-variant-of-a-literal": (
        {"GET /t/{tid}/orders": tenant(path="tid"), "GET /t/admin/orders": roles("admin")},
        None,
        {"sub": "u", "tenant": "ADMIN"},
        ["GET /t/ADMIN/orders"],
        ["/t/admin/orders", "/t/ADMIN/orders", "/t/Admin/orders"],
    ),
    "tenant-equal-to-the-planners-fresh-segment": (
        {"GET /t/{tid}/{id}": tenant(path="tid"), "GET /t/{tid}/~w~": roles("admin")},
        None,
        {"sub": "u", "tenant": "~w"},
        ["GET /t/~w/1", "GET /t/~w/~w~"],
        ["/t/~w/~w~", "/t/~w/~w", "/t/~w~/1", "/t/x/~w"],
    ),
    "tenant-in-a-greedy-parameter": (
        {"GET /t/{proxy+}": tenant(path="proxy"), "GET /t/{x}/secret": roles("admin")},
        None,
        {"sub": "u", "tenant": "acme"},
        ["GET /t/acme"],
        ["/t/acme/secret", "/t/acme/x", "/t/globex", "/t/acme/acme"],
    ),
    "two-tenant-parameters": (
        {
            "GET /a/{t1}/b/{t2}": tenant(path="t1") & tenant(path="t2"),
            "GET /a/{t1}/b/{t2}/{rest+}": roles("admin"),
        },
        None,
        {"sub": "u", "tenant": "acme"},
        ["GET /a/acme/b/acme"],
        ["/a/acme/b/globex", "/a/globex/b/acme", "/a/acme/b/acme/x", "/a/acme/b/acme/b/acme"],
    ),
    "default-rule-admin": (
        {"GET /users/{id}": authenticated()},
        roles("admin"),
        {"sub": "u"},
        ["GET /users/7", "GET /nothing"],
        ["/users/7/secrets", "/users/7/a/b", "/", "/users", "/other/x"],
    ),
    "default-authenticated-admin-catch-all-delete": (
        {"DELETE /{proxy+}": roles("admin"), "GET /public": public()},
        authenticated(),
        {"sub": "u"},
        ["GET /anything/at/all", "DELETE /x"],
        ["/x", "/x/y/z", "/", "/public", "/PUBLIC"],
    ),
    "any-with-exact-verb-overrides": (
        {
            "ANY /docs/{id}": authenticated(),
            "DELETE /docs/{id}": roles("admin"),
            "PUT /docs/{id}": roles("editor"),
        },
        None,
        {"sub": "u"},
        ["GET /docs/1", "PUT /docs/1"],
        ["/docs/1", "/docs/1/x", "/DOCS/1"],
    ),
    "root-and-catch-all": (
        {"GET /": public(), "ANY /{proxy+}": roles("admin"), "GET /health": public()},
        None,
        {"sub": "u"},
        ["GET /", "GET /health", "GET /x"],
        ["/", "/health", "/health/x", "/HEALTH", "/x", "//", "/health/"],
    ),
    "literal-next-to-catch-all": (
        {"GET /public/{proxy+}": authenticated(), "GET /{proxy+}": roles("admin")},
        None,
        {"sub": "u"},
        ["GET /public/x", "GET /PUBLIC/x"],
        ["/PUBLIC/x", "/%70ublic/x", "/Public/x", "/public", "/x/public/y"],
    ),
    "literals-with-odd-characters": (
        {
            # A ':' in a route is refused under a result cache (test_cached_policy_colons):
            # ';' stands in for it; the ':' spellings stay among the probes.
            "POST /v1/items;batchGet": roles("admin"),
            "GET /v1/items/{id}": authenticated(),
            "GET /~w/{id}": roles("admin"),
            "GET /$meta/{id}": roles("admin"),
            "GET /a@b/{id}": authenticated(),
            "GET /a@b/{id}/x": roles("admin"),
        },
        None,
        {"sub": "u"},
        ["GET /v1/items/1", "GET /a@b/1"],
        [
            "/v1/items;batchGet",
            "/v1/items:batchGet",
            "/v1/items/1/x",
            "/~w/1",
            "/$meta/1",
            "/a@b/1/x",
            "/A@B/1/x",
            "/v1/ITEMS:batchGet",
        ],
    ),
    "role-hierarchy": (
        {
            "GET /m/{id}": roles("member"),
            "DELETE /m/{id}": roles("admin"),
            "GET /m/{id}/audit": roles("admin"),
        },
        None,
        {"sub": "u", "roles": ["editor"]},
        ["GET /m/1", "DELETE /m/1"],
        ["/m/1/audit", "/m/1", "/M/1/audit"],
    ),
    "negations": (
        {
            "GET /pub/{id}": ~roles("banned"),
            "GET /b/{id}": roles("banned"),
            "GET /pub/{id}/{x}": ~(roles("member") | roles("admin")),
        },
        None,
        {"sub": "u", "roles": ["member"]},
        ["GET /pub/1"],
        ["/b/1", "/pub/1/x", "/pub/1"],
    ),
    "scopes": (
        {
            "GET /orders/{id}": scopes("orders.read"),
            "POST /orders": scopes("orders.write"),
            "DELETE /orders/{id}": scopes("orders.read", "orders.admin", all_of=True),
        },
        None,
        {"sub": "u", "scope": "orders.read"},
        ["GET /orders/1"],
        ["/orders", "/orders/1", "/orders/1/x"],
    ),
    "owner-custom-rule-with-bindings": (
        {"GET /users/{uid}/profile": Owner("uid"), "GET /users/{uid}/admin": roles("admin")},
        None,
        {"sub": "u1"},
        ["GET /users/u1/profile", "GET /users/u2/profile"],
        [
            "/users/u2/profile",
            "/users/u1/admin",
            "/users/u1/profile/x",
            "/users/U1/profile",
            "/users/%75%31/profile",
        ],
    ),
    "deep-overlapping-wildcards": (
        {
            "GET /{a}/{b}/{c}": tenant(path="b"),
            "GET /{a}/x/{c}": roles("admin"),
            "GET /{a}/{b}/{c}/{d}": roles("admin"),
            "GET /{a}/{b}/{c}/{d}/{e+}": tenant(path="b"),
        },
        None,
        {"sub": "u", "tenant": "acme"},
        ["GET /1/acme/2", "GET /1/acme/2/3/4"],
        ["/1/x/2", "/1/acme/2/3", "/x/acme/acme/acme", "/1/acme/2/3/4/5", "/1/globex/2/3/4"],
    ),
}


def scenario_mapper(name: str, claims: Mapping[str, Any]) -> ClaimMapper:
    """The claim mapper of scenario ``name`` (a role hierarchy for "role-hierarchy")."""
    if name == "role-hierarchy":
        return ClaimMapper(role_hierarchy={"admin": ["member"], "editor": ["member"]})
    return mapper_for(claims)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_cached_policies_resist_the_attack_matrix(name: str) -> None:
    table, default, claims, firsts, extra = SCENARIOS[name]
    routes = Routes(table, default=default)
    mapper = scenario_mapper(name, claims)
    for first in firsts:
        assert_safe(routes, claims, first, extra, mapper=mapper)


def test_a_role_hierarchy_widens_the_cached_policy_only_as_the_table_does() -> None:
    hierarchy = ClaimMapper(role_hierarchy={"admin": ["member"]})
    routes = Routes({"GET /m/{id}": roles("member"), "DELETE /m/{id}": roles("admin")})
    admin = assert_safe(routes, {"sub": "a", "roles": ["admin"]}, "GET /m/1", mapper=hierarchy)
    member = assert_safe(routes, {"sub": "m", "roles": ["member"]}, "GET /m/1", mapper=hierarchy)
    assert iam_allows(admin, PREFIX + "DELETE/m/1")
    assert not iam_allows(member, PREFIX + "DELETE/m/1")


@pytest.mark.parametrize("kind", ["TOKEN", "REQUEST", "HTTP_V1", "HTTP_V2"])
def test_every_policy_response_kind_gets_the_same_cached_guarantee(kind: str) -> None:
    routes = Routes(
        {
            "ANY /tenants/{tid}/{proxy+}": tenant(path="tid"),
            "GET /tenants/{tid}/admin/{proxy+}": roles("admin"),
        }
    )
    claims = {"sub": "u", "tenant": "acme"}
    response = answer(routes, claims, "GET", "/tenants/acme/orders/1", kind=kind)
    assert iam_allows(response, PREFIX + "GET/tenants/acme/orders/1")
    extra = ["/tenants/acme/admin/x", "/tenants/globex/orders/1", "/tenants/globex/acme/x"]
    assert not over_allowed(routes, principal_of(claims), response, probes(response, extra))


def test_glob_characters_in_a_method_arn_are_refused_not_matched() -> None:
    """A raw ``*``, ``?`` or ``${`` in a method ARN would match more than itself if it became
    a Resource: the authorizer answers 401 and caches nothing."""
    routes = Routes({"GET /t/{tid}/orders": tenant(path="tid")})
    for path in ("/t/*/orders", "/t/ac?e/orders", "/t/${aws:username}/orders"):
        with pytest.raises(Unauthorized):
            answer(routes, {"sub": "u", "tenant": "acme"}, "GET", path)
    # Encoded, they are plain segments: the table decides, the policy does not widen.
    response = assert_safe(
        routes,
        {"sub": "u", "tenant": "acme"},
        "GET /t/acme/orders",
        ["/t/%2A/orders", "/t/%3F/orders", "/t/%2a/orders", "/t/%24%7Bx%7D/orders"],
    )
    assert not iam_allows(response, PREFIX + "GET/t/%2A/orders")


@pytest.mark.parametrize(
    "method_arn",
    [
        PREFIX + "OTHER/orders/1",
        PREFIX + "ANY/orders/1",
        PREFIX + "*/orders/1",
        PARTITION_PREFIX + "abcdef123/*/GET/orders/1",
        PARTITION_PREFIX + "abcdef123/prod/GET",
        PARTITION_PREFIX + "abcdef123/prod//GET/orders/1",
        "arn:aws:execute-api:us-east-1:123456789012:*/prod/GET/orders/1",
    ],
)
def test_unusual_verbs_and_wildcard_stages_get_no_policy(method_arn: str) -> None:
    routes = Routes({"ANY /orders/{id}": authenticated()})
    authorizer = Authorizer(VERIFIER, routes=routes, cache_ttl=300, decision_log=None)
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {token('u')}", "methodArn": method_arn}
    try:
        response = authorizer.handler(event, None)
    except Unauthorized:
        return
    # Answered (a WebSocket-shaped ARN, say): never an Allow of anything the table denies.
    assert not any(
        s["Effect"] == "Allow" and r != method_arn
        for s in response["policyDocument"]["Statement"]
        for r in s["Resource"]
    )


def test_a_lowercase_verb_in_the_method_arn_never_widens_the_policy() -> None:
    routes = Routes({"GET /orders/{id}": authenticated(), "DELETE /orders/{id}": roles("admin")})
    authorizer = Authorizer(VERIFIER, routes=routes, cache_ttl=300, decision_log=None)
    lower = PREFIX + "get/orders/1"
    response = authorizer.handler(
        {"type": "TOKEN", "authorizationToken": f"Bearer {token('u')}", "methodArn": lower}, None
    )
    who = Principal("u")
    assert not over_allowed(routes, who, response, probes(response, ["/orders/1"]))
    for verb in ("delete", "Delete", "DELETE"):
        assert not iam_allows(response, f"{PREFIX}{verb}/orders/1")


@pytest.mark.parametrize(
    "other",
    [
        PARTITION_PREFIX + "abcdef123/dev/",
        PARTITION_PREFIX + "otherapi1/prod/",
        "arn:aws:execute-api:eu-west-1:123456789012:abcdef123/prod/",
        "arn:aws:execute-api:us-east-1:210987654321:abcdef123/prod/",
        "arn:aws-cn:execute-api:us-east-1:123456789012:abcdef123/prod/",
        PARTITION_PREFIX + "abcdef123/prod/prod/",
    ],
)
def test_a_cached_policy_stays_in_its_api_and_stage(other: str) -> None:
    routes = Routes({"ANY /{proxy+}": authenticated(), "ANY /": authenticated()})
    response = answer(routes, {"sub": "u"}, "GET", "/orders/1")
    for verb in VERBS:
        for path in ("/orders/1", "/", "/prod/GET/x"):
            if other.endswith("/prod/prod/") and path == "/prod/GET/x":
                continue
            arn = other + verb + path
            if iam_allows(response, arn):
                # Only a path inside this stage that the table itself allows.
                assert arn.startswith(PREFIX)
                rest = arn.removeprefix(PREFIX)
                verb_, _, path_ = rest.partition("/")
                assert routes.decide(Principal("u"), verb_, "/" + path_).allowed


def test_a_denied_first_request_is_denied_explicitly_and_opens_nothing() -> None:
    routes = Routes({"GET /users/{id}": authenticated(), "DELETE /users/{id}": roles("admin")})
    response = assert_safe(routes, {"sub": "u"}, "DELETE /users/7", ["/users/7"])
    denied = [r for s in response["policyDocument"]["Statement"] if s["Effect"] == "Deny"
              for r in s["Resource"]]  # fmt: skip
    assert PREFIX + "DELETE/users/7" in denied
    assert iam_allows(response, PREFIX + "GET/users/8")


# --- 2. request-dependent rules, cache keys and response kinds ---------------------------------


@rule
def weekdays(principal: Principal, context: AccessContext) -> bool:
    return True


REQUEST_RULES = {
    "tenant-header": ({"GET /r/{id}": tenant(header="x-tenant")}, None),
    "tenant-query": ({"GET /r/{id}": tenant(query="tenant")}, None),
    "source-ip": ({"GET /r/{id}": source_ip(allow=["10.0.0.0/8"])}, None),
    "custom-rule": ({"GET /r/{id}": weekdays}, None),
    "or-with-a-principal-rule": ({"GET /r/{id}": roles("admin") | source_ip(allow=["10.0.0.0/8"])},
                                 None),
    "negated": ({"GET /r/{id}": ~source_ip(allow=["10.0.0.0/8"])}, None),
    "default-rule": ({"GET /r/{id}": authenticated()}, tenant(header="x-tenant")),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(REQUEST_RULES))
def test_rules_that_read_the_request_are_refused_under_caching(name: str) -> None:
    table, default = REQUEST_RULES[name]
    routes = Routes(table, default=default)
    with pytest.raises(ConfigurationError, match="depend on the request"):
        Authorizer(VERIFIER, routes=routes, cache_ttl=300, decision_log=None)
    Authorizer(VERIFIER, routes=routes, cache_ttl=0, decision_log=None)


def test_a_covered_request_rule_is_cached_for_its_exact_method_arn_only() -> None:
    """With ``cache_key_covers_request=True`` (the header is an identity source), a route
    whose rule reads the request is granted nothing in the plan: the policy names exactly the
    request that was decided, never its siblings."""
    routes = Routes({"GET /r/{id}": tenant(header="x-tenant"), "GET /o/{id}": authenticated()})
    authorizer = Authorizer(
        VERIFIER, routes=routes, cache_ttl=300, cache_key_covers_request=True,
        claims=MAPPER, decision_log=None,
    )  # fmt: skip
    event = request_authorizer(
        "GET", "/r/1", token=token("u", tenant="acme"), headers={"X-Tenant": "acme"}
    )
    event["methodArn"] = PREFIX + "GET/r/1"
    response = authorizer.handler(event, None)
    assert iam_allows(response, PREFIX + "GET/r/1")
    assert iam_allows(response, PREFIX + "GET/o/9")
    for path in ("/r/2", "/r/1/x", "/r/%31"):
        assert not iam_allows(response, PREFIX + "GET" + path)


def test_simple_responses_are_refused_by_a_caching_authorizer() -> None:
    routes = Routes({"GET /o/{id}": authenticated(), "DELETE /o/{id}": roles("admin")})
    with pytest.raises(ConfigurationError, match="simple responses"):
        Authorizer(VERIFIER, routes=routes, cache_ttl=300, simple_responses=True)


def test_websocket_connect_is_cached_for_its_route_key_only() -> None:
    routes = Routes({"$connect": authenticated(), "ANY /{proxy+}": roles("admin")})
    authorizer = Authorizer(VERIFIER, routes=routes, cache_ttl=300, decision_log=None)
    arn = PREFIX + "$connect"
    event = {
        "type": "REQUEST",
        "methodArn": arn,
        "headers": {"Authorization": f"Bearer {token('u')}"},
        "requestContext": {"eventType": "CONNECT", "connectionId": "c1", "routeKey": "$connect"},
    }
    response = authorizer.handler(event, None)
    assert response["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [arn]}
    ]
    for other in ("$default", "$disconnect", "sendmessage", "GET/x", "*"):
        assert not iam_allows(response, PREFIX + other)


def _http_default(method: str, path: str, bearer: str) -> dict[str, Any]:
    event = http_authorizer_v2(method, path, route_key="$default", stage="prod", token=bearer)
    event["routeArn"] = PREFIX + "$default"
    return event


@pytest.mark.parametrize(
    "table",
    [
        {"ANY /{proxy+}": authenticated(), "ANY /": authenticated(),
         "DELETE /{proxy+}": roles("admin")},
        {"ANY /{proxy+}": authenticated(), "ANY /": authenticated(),
         "GET /admin/{id}": roles("admin")},
        {"ANY /{proxy+}": authenticated()},  # the root is not routed
    ],
)  # fmt: skip
def test_an_http_default_route_is_never_cached_open_for_a_partial_principal(
    table: dict[str, Rule],
) -> None:
    routes = Routes(table)
    authorizer = Authorizer(VERIFIER, routes=routes, cache_ttl=300, decision_log=None)
    response = authorizer.handler(_http_default("GET", "/orders/1", token("u")), None)
    assert not iam_allows(response, PREFIX + "$default")


# --- 3. size limits, hooks, keys, options ------------------------------------------------------


def test_a_policy_over_the_size_budget_fails_closed() -> None:
    """A planned policy over 8 KB is answered for the exact ARN (the fallback of
    test_cached_policy_size.py); an HTTP API answer may still be a Deny. Never a broader
    Allow."""
    table: dict[str, Rule] = {f"GET /resource{i}/{{id}}/details": authenticated()
                              for i in range(40)}  # fmt: skip
    table.update({f"DELETE /resource{i}/{{id}}": roles("admin") for i in range(40)})
    routes = Routes(table)
    extra = ["/resource1/7/details", "/resource1/7", "/resource2/7/details/x"]
    for kind in ("TOKEN", "HTTP_V2"):
        try:
            response = answer(routes, {"sub": "u"}, "GET", "/resource1/7/details", kind=kind)
        except Unauthorized:
            assert kind == "TOKEN"
            continue
        assert not over_allowed(routes, Principal("u"), response, probes(response, extra))


def test_an_extra_deny_statement_wins_over_the_planned_allow() -> None:
    class NoDeletes(PolicyBuilder):
        def extra_statements(self, principal: Any, request: Request) -> Iterable[Statement]:
            yield Statement("Deny", PREFIX + "DELETE/*")

    routes = Routes({"ANY /docs/{id}": authenticated()})
    builder = NoDeletes(cache_ttl=300, routes=routes)
    authorizer = Authorizer(
        VERIFIER, routes=routes, cache_ttl=300, policy_builder=builder, decision_log=None
    )
    response = answer(routes, {"sub": "u"}, "GET", "/docs/1", authorizer=authorizer)
    assert iam_allows(response, PREFIX + "GET/docs/2")
    assert not iam_allows(response, PREFIX + "DELETE/docs/2")
    assert not over_allowed(routes, Principal("u"), response, probes(response))


def test_exact_names_only_the_method_arn() -> None:
    routes = Routes({"GET /docs/{id}": authenticated()})
    request = Request.from_event(_event("TOKEN", "GET", "/docs/1", "t"))
    builder = PolicyBuilder(cache_ttl=300, routes=routes)
    doc = builder.policy(Principal("u"), request, allow=True, exact=True).to_dict()
    assert doc["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [PREFIX + "GET/docs/1"]}
    ]


def test_hooks_of_a_subclassed_authorizer_shape_the_principal_the_policy_is_planned_for() -> None:
    """``map_claims`` is where the principal comes from: the plan follows it; ``extra_context``
    cannot plant a tenant or roles for the function (secauth_* keys are the principal's)."""

    class Mapped(Authorizer):
        def map_claims(self, claims: Mapping[str, Any]) -> Principal:
            return Principal(str(claims["sub"]), tenant=str(claims.get("org", "")) or None)

        def extra_context(self, principal: Principal, request: Request) -> Mapping[str, object]:
            return {"secauth_tenant": "globex", "secauth_roles": '["admin"]', "note": "x"}

    routes = Routes({"GET /t/{tid}/{id}": tenant(path="tid"), "GET /admin/{id}": roles("admin")})
    authorizer = Mapped(VERIFIER, routes=routes, cache_ttl=300, decision_log=None)
    response = answer(routes, {"sub": "u", "org": "acme"}, "GET", "/t/acme/1",
                      authorizer=authorizer)  # fmt: skip
    who = Principal("u", tenant="acme")
    extra = ["/t/globex/1", "/admin/1", "/t/acme/1/x"]
    assert not over_allowed(routes, who, response, probes(response, extra))
    context = response["context"]
    assert context.get("secauth_tenant") != "globex"
    assert "admin" not in str(context.get("secauth_roles", ""))


def test_an_api_key_principal_with_a_usage_plan_gets_the_same_cached_guarantee() -> None:
    key = "pk-" + "k" * 40
    store = StaticApiKeys(
        {hash_api_key(key): ApiKeyEntry("partner-a", roles=("reader",), tenant="acme",
                                        usage_plan=True)}
    )  # fmt: skip
    routes = Routes(
        {
            "GET /t/{tid}/reports/{id}": tenant(path="tid") & roles("reader"),
            "DELETE /t/{tid}/reports/{id}": roles("admin"),
        }
    )
    # An API-key authorizer: beside a verifier, api_keys are refused under caching
    # (review 32).
    authorizer = Authorizer(routes=routes, api_keys=store, cache_ttl=300, decision_log=None)
    event = request_authorizer("GET", "/t/acme/reports/1", headers={"x-api-key": key})
    event["methodArn"] = PREFIX + "GET/t/acme/reports/1"
    response = authorizer.handler(event, None)
    assert response["usageIdentifierKey"] == key
    who = store.lookup(key).principal()  # type: ignore[union-attr]
    extra = ["/t/globex/reports/1", "/t/acme/reports/1/x", "/t/acme/reports"]
    assert iam_allows(response, PREFIX + "GET/t/acme/reports/2")
    assert not over_allowed(routes, who, response, probes(response, extra))


def test_the_probes_catch_a_naive_cached_policy() -> None:
    """The harness has teeth: the usual hand-written cached policy (the route's pattern,
    ``*`` for ``{id}``) is caught over-allowing the admin child route and refused spellings."""
    routes = Routes({"GET /users/{id}": authenticated(), "GET /users/{id}/secrets": roles("admin")})
    naive = {"Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow",
                            "Resource": [PREFIX + "GET/users/*"]}]}  # fmt: skip
    bad = over_allowed(routes, Principal("u"), naive, probes(naive))
    assert "GET /users/7/secrets" in bad
    assert "GET /users/x//y" in bad
    assert "GET /users/x/../y" in bad


@pytest.mark.parametrize(
    "name",
    [
        "param-then-admin-child",
        "region-before-tenant",
        "any-with-exact-verb-overrides",
        "literals-with-odd-characters",
    ],
)
def test_the_route_list_form_with_allowed_routes_gives_the_same_guarantee(name: str) -> None:
    """``PolicyBuilder(routes=<route keys>)`` with ``allowed_routes=Routes.allowed_routes(p)``:
    the lower-level form the docs offer for callers holding route keys."""
    table, default, claims, firsts, extra = SCENARIOS[name]
    routes = Routes(table, default=default)
    who = principal_of(claims)
    builder = PolicyBuilder(cache_ttl=300, routes=routes.route_keys())
    allowed = [(r.verb, r.path) for r in routes.allowed_routes(who)]
    for first in firsts:
        verb, _, path = first.partition(" ")
        request = Request.from_event(_event("TOKEN", verb, path, "t"))
        decided = routes.decide(who, verb, path).allowed
        doc = builder.policy(who, request, allow=decided, allowed_routes=allowed).to_dict()
        assert iam_allows(doc, PREFIX + verb + path) is decided
        assert not over_allowed(routes, who, doc, probes(doc, extra))


# --- 4. a wider random search, with a richer pool than the existing differential -------------

_RANDOM_LITERALS = ("users", "admin", "~w", "a.b", "v1:x", "$x", "me", "t", "x(1)", "a+b")
_RANDOM_TENANTS = ("acme", "~w", "ADMIN", "admin", "a.b", "v1:x", "$x", "me", "Users", None)


def _random_table(rng: random.Random) -> Routes:
    while True:
        table: dict[str, Rule] = {}
        for _ in range(rng.randint(1, 5)):
            template, params = random_template(rng, _RANDOM_LITERALS)
            choices: list[Rule] = [authenticated(), roles("admin"), public(), ~roles("admin")]
            if params:
                name = rng.choice(params)
                choices += [tenant(path=name)] * 3 + [
                    tenant(path=name) | roles("admin"),
                    tenant(path=name) & roles("admin"),
                ]
            verb = rng.choice(("GET", "POST", "ANY", "GET"))
            table[f"{verb} {template}"] = rng.choice(choices)
        try:
            return Routes(table, default=rng.choice([None, None, roles("admin"), authenticated()]))
        except ConfigurationError:
            continue


@pytest.mark.parametrize("seed", range(6))
def test_random_tables_with_odd_literals_and_tenants(seed: int) -> None:
    rng = random.Random(seed * 7919)
    for _ in range(12):
        routes = _random_table(rng)
        who = Principal("u", tenant=rng.choice(_RANDOM_TENANTS),
                        roles={"admin"} if rng.random() < 0.2 else set())  # fmt: skip
        verb = rng.choice(VERBS)
        path = "/" + "/".join(rng.choice(FILLERS[:24]) for _ in range(rng.randint(0, 5)))
        request = Request.from_event(_event("TOKEN", verb, path, "t"))
        decided = routes.decide(who, verb, path).allowed
        doc = PolicyBuilder(cache_ttl=300, routes=routes).policy(who, request, allow=decided)
        document = doc.to_dict()
        assert iam_allows(document, PREFIX + verb + path) is decided
        bad = over_allowed(routes, who, document, probes(document))
        assert not bad, (routes.route_keys(), who, bad[:3])


# --- 5. findings -------------------------------------------------------------------------------

# Finding 1: the IAM User Guide's colon rule. Resource wildcards match "within the individual
# segments of an ARN (the parts separated by colons)", and only a segment-final "*" expands
# past a colon. A request path may carry ":" (secauth routes it as a plain character, and
# literals like /v1/items:batchGet are supported). Then an Allow ending in "*" still matches,
# while every Deny whose "*" sits before the part it must cover cannot reach across the
# colon: the pins (GET/users/*/*), the Denies of routes granted nothing and the refused
# spellings (*//*, */../*, a trailing "/") all miss.

COLON_ATTACKS = [
    # (table, claims, first request, attack request)
    (
        {"GET /users/{id}": authenticated(), "GET /users/{id}/secrets": roles("admin")},
        {"sub": "u"},
        "GET /users/7",
        "GET /users/a:b/secrets",  # API Gateway routes it to GET /users/{id}/secrets
    ),
    (
        {"GET /users/{id}": authenticated(), "GET /users/{id}/secrets": roles("admin")},
        {"sub": "u"},
        "GET /users/7",
        "GET /users/a:b/x/../secrets",  # a refused spelling, dot segment after the colon
    ),
    (
        {"GET /t/{tid}/{id}": tenant(path="tid")},
        {"sub": "u", "tenant": "acme"},
        "GET /t/acme/1",
        "GET /t/acme/x:1/y",  # no route: the pin GET/t/acme/*/* misses
    ),
    (
        {"GET /users/{id}": authenticated(), "GET /users/{id}/secrets": roles("admin")},
        {"sub": "u"},
        "GET /users/7",
        "GET /users/a:b//secrets",  # a doubled slash after a colon: the "*//*" Deny misses
    ),
    (
        {"GET /users/{id}": authenticated()},
        {"sub": "u"},
        "GET /users/7",
        "GET /users/a:b/",  # a trailing slash after a colon: the "*/?*/" Deny misses
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", range(len(COLON_ATTACKS)))
def test_colon_attacks_are_denied_under_secauths_reading_of_iam(case: int) -> None:
    """Where ``*`` reads across colons (secauth's model, and the cloud-copilot simulator the
    suite cross-checks with), the cached policy holds."""
    table, claims, first, attack = COLON_ATTACKS[case]
    routes = Routes(table)
    verb, _, path = first.partition(" ")
    response = answer(routes, claims, verb, path)
    assert iam_allows(response, PREFIX + verb + path)
    assert not over_allowed(routes, principal_of(claims), response, [attack])


@pytest.mark.parametrize("case", range(len(COLON_ATTACKS)))
def test_colon_attacks_are_denied_under_the_documented_colon_rule(case: int) -> None:
    table, claims, first, attack = COLON_ATTACKS[case]
    routes = Routes(table)
    verb, _, path = first.partition(" ")
    response = answer(routes, claims, verb, path)
    who = principal_of(claims)
    attack_verb, _, attack_path = attack.partition(" ")
    assert not routes.decide(who, attack_verb, attack_path).allowed
    assert not over_allowed(routes, who, response, [attack], colon_segments=True), (
        f"cached policy for {first} allows {attack} under the colon rule"
    )


class Suspended(Routes):
    """A Routes subclass that denies more than its rules: writes by a suspended tenant.
    (Routes subclasses are a supported extension: the memo turns itself off for them.)"""

    def decide(
        self, principal: Principal, method: str, path: str, request: Request | None = None
    ) -> Any:
        decision = super().decide(principal, method, path, request)
        if principal.tenant == "acme" and method.upper() != "GET":
            denial = Denial(Reason.FORBIDDEN, "tenant suspended")
            return decision._replace(allowed=False, reason=denial.reason, denial=denial)
        return decision


def test_a_routes_subclass_is_refused_or_honoured_under_caching() -> None:
    routes = Suspended(
        {"GET /orders/{id}": authenticated(), "DELETE /orders/{id}": authenticated()}
    )
    claims = {"sub": "u", "tenant": "acme"}
    try:
        response = answer(routes, claims, "GET", "/orders/7")
    except ConfigurationError:
        return  # refusing the combination at construction would be a fix
    who = principal_of(claims)
    assert routes.decide(who, "GET", "/orders/7").allowed
    assert not routes.decide(who, "DELETE", "/orders/7").allowed
    assert not over_allowed(routes, who, response, ["DELETE /orders/7", "DELETE /orders/8"])


def test_a_policy_builder_refuses_simple_responses_with_caching() -> None:
    routes = Routes({"GET /orders/{id}": authenticated(), "DELETE /orders/{id}": roles("admin")})
    try:
        builder = PolicyBuilder(cache_ttl=300, routes=routes, simple_responses=True)
    except ConfigurationError:
        return
    event = http_authorizer_v2("GET", "/orders/7", route_key="GET /orders/{id}", stage="prod",
                               token="t")  # fmt: skip
    who = Principal("u")
    response = builder.response(who, Request.from_event(event), allow=True)
    # A cached simple answer is the answer to every request of this identity.
    blanket = response.get("isAuthorized") is True
    assert not (blanket and not routes.decide(who, "DELETE", "/orders/7").allowed)
