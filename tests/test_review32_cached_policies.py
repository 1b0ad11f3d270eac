"""Review 32: an adversarial pass on "cached authorizer policies never open what the
route table denies" (``Authorizer(..., cache_ttl > 0)``).

Each test plays API Gateway's authorizer cache: it takes the response to a first request
and asks an IAM matcher written here (``*`` any run of characters, ``/`` included, ``?``
one character, case-sensitive, an explicit Deny wins, default deny; IAM User Guide, "IAM
JSON policy elements: Resource") about every method ARN of a small alphabet of segments,
then asks ``Routes.decide`` about the same requests. Wherever the policy allows and the
table denies, the cached policy over-allows.

Confirmed findings are ``xfail(strict=True)`` tests asserting the secure behaviour; the
attacks that held are plain regression tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

import pytest
from guard_events import VERIFIER, token
from policy_tables import over_allows

from secauth import Authorizer, Routes
from secauth.access import (
    AccessContext,
    Denial,
    Rule,
    authenticated,
    public,
    roles,
    source_ip,
    tenant,
)
from secauth.api_keys import ApiKeyEntry, StaticApiKeys, hash_api_key
from secauth.errors import ConfigurationError, Reason
from secauth.policy import PolicyBuilder, Unauthorized
from secauth.principal import ClaimMapper, Principal
from secauth.testing_events import http_authorizer_v1, http_authorizer_v2, request_authorizer

PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/"
VERBS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
MAPPER = ClaimMapper(tenant_claim="tenant")


# --- IAM's matching ------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _regex(resource: str) -> re.Pattern[str]:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in resource]
    return re.compile("".join(parts), re.DOTALL)


def iam_allows(response: Mapping[str, Any], arn: str) -> bool:
    """Some Allow matches ``arn`` and no Deny does (a whole response or a document)."""
    document = response.get("policyDocument", response)
    allowed = False
    for statement in document["Statement"]:
        assert statement["Action"] == "execute-api:Invoke"
        assert "Condition" not in statement
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        if any(_regex(r).fullmatch(arn) for r in resources):
            if statement["Effect"] == "Deny":
                return False
            allowed = True
    return allowed


def test_the_matcher_follows_iam() -> None:
    doc = {"Statement": [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [PREFIX + "GET/*"]},
        {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": [PREFIX + "GET/a/?"]},
    ]}  # fmt: skip
    assert iam_allows(doc, PREFIX + "GET/u/7/secrets")  # "*" spans "/"
    assert not iam_allows(doc, PREFIX + "GET/a/b")  # "?" one character; Deny wins
    assert iam_allows(doc, PREFIX + "GET/a/bc")
    assert not iam_allows(doc, PREFIX + "get/x")  # case-sensitive
    assert not iam_allows(doc, PREFIX.replace("/prod/", "/dev/") + "GET/x")


# --- playing the cache ---------------------------------------------------------------------


def authorizer(routes: Routes, **options: Any) -> Authorizer:
    options.setdefault("claims", MAPPER)
    options.setdefault("cache_key_covers_route", True)  # HTTP APIs: per route (review 69)
    return Authorizer(VERIFIER, routes=routes, cache_ttl=300, decision_log=None, **options)


def first_response(
    auth: Authorizer, bearer: str, verb: str, path: str, *, kind: str = "TOKEN"
) -> dict[str, Any]:
    """The authorizer's answer to a first request (what API Gateway caches)."""
    if kind == "TOKEN":
        event: dict[str, Any] = {
            "type": "TOKEN", "authorizationToken": f"Bearer {bearer}", "methodArn": PREFIX + verb + path,
        }  # fmt: skip
    elif kind == "REQUEST":
        event = request_authorizer(verb, path, token=bearer)
    elif kind == "HTTP_V1":
        event = http_authorizer_v1(verb, path, stage="prod", token=bearer)
    else:
        event = http_authorizer_v2(
            verb, path, route_key=f"{verb} {path}", stage="prod", token=bearer
        )
    return auth.handler(event, None)


def allowed_count(response: Mapping[str, Any], arns: Iterable[str]) -> int:
    return sum(iam_allows(response, arn) for arn in arns)


class OwnerOnly(Rule):
    """The path parameter ``name`` must be the principal's id (decided from the principal)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"owner({self.name})"

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        if context.params.get(self.name) == principal.id:
            return None
        return Denial(Reason.FORBIDDEN, "not the owner")

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return [{self.name: principal.id}]


# =============================================================================================
# FINDINGS
# =============================================================================================

KEY = "pk-live-0123456789abcdefghij"
KEYS = StaticApiKeys({hash_api_key(KEY): ApiKeyEntry("partner", roles=("admin",))})
ADMIN_TABLE = Routes({"GET /admin": roles("admin"), "GET /me": authenticated()})


def test_an_api_key_beside_a_verifier_is_refused_under_caching() -> None:
    """F1 (medium). With ``api_keys`` beside a verifier and ``cache_ttl > 0``, a REQUEST
    carrying an API key was decided by the key alone, whatever its ``Authorization`` header
    held (here an unverified ``Bearer junk``). API Gateway keys the cached answer by the
    identity sources: when that is ``Authorization`` (the one bearer-token users need), the
    partner's admin policy was then served to anyone sending the same ``Authorization``
    value without a key. Refused at construction now, as client certificates are."""
    with pytest.raises(ConfigurationError, match="api_keys beside a verifier"):
        authorizer(ADMIN_TABLE, api_keys=KEYS, claims=ClaimMapper())
    # Without the result cache, or with identity sources covering key and token, the same
    # configuration is accepted, and the key decides.
    covered = authorizer(ADMIN_TABLE, api_keys=KEYS, cache_key_covers_request=True)
    event = request_authorizer(
        "GET", "/me", authorization="Bearer junk", headers={"x-api-key": KEY}
    )
    assert covered.handler(event, None)["principalId"] == "partner"


def test_an_api_key_alone_under_caching_is_still_answered() -> None:
    """The legitimate case next to F1: an API-key authorizer (its identity source the key
    header) gets its policy cached."""
    auth = Authorizer(api_keys=KEYS, routes=ADMIN_TABLE, cache_ttl=300, decision_log=None)
    event = request_authorizer("GET", "/me", headers={"x-api-key": KEY})
    response = auth.handler(event, None)
    assert response["principalId"] == "partner"
    assert iam_allows(response, PREFIX + "GET/admin")
    assert iam_allows(response, PREFIX + "GET/me")


# =============================================================================================
# ATTACKS THAT HELD
# =============================================================================================

# -- tenant values that collide with literals, their case variants, greedy parameters -----

TENANT_CASES: dict[str, tuple[Routes, dict[str, Any], tuple[str, str], list[str]]] = {
    # a tenant named like the admin literal: /admin/orders is the admin route, not the tenant's
    "tenant_named_like_a_literal": (
        Routes({"GET /{tid}/orders": tenant(path="tid"), "GET /admin/orders": roles("admin")}),
        {"sub": "u", "tenant": "admin"},
        ("GET", "/admin/orders"),
        ["admin", "ADMIN", "%61dmin", "orders", "x"],
    ),
    # a tenant that is a case variant of a literal: read both ways, the admin reading denies
    "tenant_case_variant_of_a_literal": (
        Routes({"GET /{tid}/orders": tenant(path="tid"), "GET /admin/orders": roles("admin")}),
        {"sub": "u", "tenant": "ADMIN"},
        ("GET", "/ADMIN/orders"),
        ["admin", "ADMIN", "Admin", "orders", "x"],
    ),
    # a tenant bound to a greedy parameter: one segment only, never the admin file below it
    "tenant_in_a_greedy_parameter": (
        Routes({"ANY /files/{t+}": tenant(path="t"), "GET /files/acme/secret": roles("admin")}),
        {"sub": "u", "tenant": "acme"},
        ("GET", "/files/acme"),
        ["files", "acme", "secret", "SECRET", "x"],
    ),
    # the tenant rule on either of two parameters: "*" for the other must stay one segment
    "tenant_on_either_parameter": (
        Routes({"GET /t/{a}/{b}": tenant(path="a") | tenant(path="b")}),
        {"sub": "u", "tenant": "acme"},
        ("GET", "/t/acme/x"),
        ["t", "acme", "x"],
    ),
    # a tenant then an owner parameter, next to a literal owned by the admin route
    "tenant_and_owner_next_to_an_admin_literal": (
        Routes(
            {
                "GET /t/{a}/u/{b}": tenant(path="a") & OwnerOnly("b"),
                "GET /t/{a}/u/admin": roles("admin"),
            }
        ),
        {"sub": "admin", "tenant": "acme"},
        ("GET", "/t/acme/u/admin"),
        ["t", "u", "acme", "admin", "ADMIN", "x"],
    ),
    # the same tenant bound twice, next to a literal equal to it
    "tenant_twice_next_to_a_literal": (
        Routes({"GET /{a}/{b}": tenant(path="a") & tenant(path="b"), "GET /x/{b}": roles("admin")}),
        {"sub": "u", "tenant": "x"},
        ("GET", "/x/x"),
        ["x", "X", "y"],
    ),
    # a tenant before a catch-all, another tenant's files behind a {region}
    "tenant_after_a_region_parameter": (
        Routes({"ANY /{region}/{tid}/files/{proxy+}": tenant(path="tid")}),
        {"sub": "u", "tenant": "acme"},
        ("GET", "/eu/acme/files/1"),
        ["eu", "acme", "globex", "files", "1"],
    ),
}


@pytest.mark.parametrize("name", sorted(TENANT_CASES))
@pytest.mark.parametrize("kind", ["TOKEN", "REQUEST", "HTTP_V1", "HTTP_V2"])
def test_tenant_values_never_widen_a_cached_policy(name: str, kind: str) -> None:
    routes, claims, (verb, path), alphabet = TENANT_CASES[name]
    who = MAPPER.map(claims)
    response = first_response(authorizer(routes), token(**claims), verb, path, kind=kind)
    assert not over_allows(routes, who, response, alphabet)
    # the first request is answered as decided
    assert iam_allows(response, PREFIX + verb + path) == routes.decide(who, verb, path).allowed


def test_a_tenant_policy_never_matches_another_tenants_arn() -> None:
    routes = Routes({"ANY /tenants/{tid}/{proxy+}": tenant(path="tid") & roles("member")})
    acme: dict[str, Any] = {"sub": "a", "tenant": "acme", "roles": ["member"]}
    response = first_response(authorizer(routes), token(**acme), "GET", "/tenants/acme/orders/1")
    assert iam_allows(response, PREFIX + "GET/tenants/acme/orders/1/lines")
    for other in ("globex", "ACME", "acm%65", "acme2", "acm", "a", "x"):
        for rest in ("orders", "acme/orders", "tenants/acme/orders"):
            assert not iam_allows(response, PREFIX + f"GET/tenants/{other}/{rest}")
    # "acme" appearing later in another tenant's path is no way in either
    assert not iam_allows(response, PREFIX + "GET/tenants/globex/tenants/acme/x")


@pytest.mark.parametrize(
    "value", ["*", "ac*", "a?me", "acme/x", "a b", "..", ".", "%61cme", "acm\u00e9"]
)
def test_a_wildcard_or_slash_in_the_tenant_claim_is_granted_nothing(value: str) -> None:
    """A tenant value that no plain segment can name is never written into a Resource."""
    routes = Routes({
        "ANY /t/{tid}/{proxy+}": tenant(path="tid"), "GET /health": authenticated(),
    })  # fmt: skip
    claims: dict[str, Any] = {"sub": "u", "tenant": value}
    response = first_response(authorizer(routes), token(**claims), "GET", "/health")
    for statement in response["policyDocument"]["Statement"]:
        if statement["Effect"] == "Allow":
            assert all("/t/" not in r for r in statement["Resource"])
    for other in ("acme", "globex", "x"):
        assert not iam_allows(response, PREFIX + f"GET/t/{other}/x")


@pytest.mark.parametrize("path", ["/t/*/x", "/t/a?c/x", "/t/${aws:username}/x", "/t/a\u0000/x"])
def test_iam_metacharacters_in_the_request_path_are_refused(path: str) -> None:
    routes = Routes({"ANY /t/{tid}/{proxy+}": authenticated()})
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {token(sub='u', tenant='a')}",
             "methodArn": PREFIX + "GET" + path}  # fmt: skip
    with pytest.raises(Unauthorized):
        authorizer(routes).handler(event, None)


# -- role rules, catch-alls, ANY and precedence ---------------------------------------------


ROLE_TABLES: dict[str, Routes] = {
    "catch_all_beside_an_admin_literal": Routes({
        "ANY /{proxy+}": authenticated(), "GET /admin/{id}": roles("admin"),
        "DELETE /{x}/{y}": roles("admin"),
    }),
    "any_route_with_a_stricter_verb": Routes({
        "ANY /users/{id}": authenticated(), "DELETE /users/{id}": roles("admin"),
        "GET /users/{id}/keys": roles("admin"),
    }),
    "literal_beats_parameter": Routes({
        "GET /users/{id}": authenticated(), "GET /users/admin": roles("admin"),
        "GET /users/{id}/{proxy+}": roles("admin"),
    }),
    "default_rule_for_everything_else": Routes(
        {"GET /reports/{id}": authenticated(), "GET /reports/admin/{id}": roles("admin")},
        default=roles("admin"),
    ),
    "root_and_greedy": Routes({
        "GET /": authenticated(), "GET /{proxy+}": roles("admin"), "GET /pub/{proxy+}": public(),
    }),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ROLE_TABLES))
def test_a_member_policy_never_covers_an_admin_route(name: str) -> None:
    routes = ROLE_TABLES[name]
    alphabet = ["admin", "ADMIN", "users", "reports", "pub", "keys", "x", "7"]
    auth = authorizer(routes, claims=ClaimMapper())
    for first in ("/x", "/users/7", "/reports/7", "/pub/x", "/"):
        response = first_response(auth, token(sub="m", roles=["member"]), "GET", first)
        assert not over_allows(routes, Principal("m", roles={"member"}), response, alphabet), first


def test_an_admin_policy_is_not_narrowed_to_nothing() -> None:
    """Keeps the probes honest: an admin's cached policy does open the admin routes."""
    routes = ROLE_TABLES["literal_beats_parameter"]
    response = first_response(
        authorizer(routes, claims=ClaimMapper()), token(sub="r", roles=["admin"]), "GET", "/users/7"
    )
    assert iam_allows(response, PREFIX + "GET/users/admin")
    assert iam_allows(response, PREFIX + "GET/users/7/a/b")


# -- stage, API, account, region ------------------------------------------------------------


@pytest.mark.parametrize(
    "other",
    [
        PREFIX.replace("/prod/", "/dev/"),
        PREFIX.replace("abcdef123", "zzzzzz999"),
        PREFIX.replace("123456789012", "210987654321"),
        PREFIX.replace("us-east-1", "eu-west-1"),
        PREFIX.replace("arn:aws:", "arn:aws-cn:"),
        PREFIX.replace("/prod/", "/prod2/"),
        PREFIX.replace("/prod/", "/pro/"),
    ],
)
def test_a_cached_policy_stays_in_its_api_and_stage(other: str) -> None:
    routes = Routes({"ANY /{proxy+}": authenticated(), "GET /": authenticated()})
    response = first_response(authorizer(routes, claims=ClaimMapper()), token(sub="u"), "GET", "/a")
    assert iam_allows(response, PREFIX + "GET/a/b")
    for verb, path in (("GET", "/a"), ("GET", "/"), ("POST", "/x/y")):
        assert not iam_allows(response, other + verb + path)
    # nor a stage named like the start of a path
    assert not iam_allows(response, PREFIX[: -len("prod/")] + "prod" + "GET/a")


# -- the size budget ------------------------------------------------------------------------


def test_a_policy_over_the_size_budget_names_only_the_method_arn() -> None:
    table = {f"ANY /resource{i:02d}/{{id}}": authenticated() for i in range(60)}
    table["GET /admin/{id}"] = roles("admin")
    routes = Routes(table)
    response = first_response(
        authorizer(routes, claims=ClaimMapper()), token(sub="u"), "GET", "/resource01/7"
    )
    allows = [r for s in response["policyDocument"]["Statement"] if s["Effect"] == "Allow"
              for r in s["Resource"]]  # fmt: skip
    assert allows == [PREFIX + "GET/resource01/7"]
    assert not iam_allows(response, PREFIX + "GET/resource02/7")
    assert not iam_allows(response, PREFIX + "GET/admin/7")


# -- configurations a cached answer cannot honour ------------------------------------------


def test_request_reading_rules_rate_limits_and_simple_responses_are_refused() -> None:
    from secauth.ratelimit import RateLimiter

    refusals: list[Callable[[], object]] = [
        lambda: authorizer(Routes({"GET /a": source_ip(allow=["10.0.0.0/8"])})),
        lambda: authorizer(Routes({"GET /a": tenant(header="x-tenant")})),
        lambda: authorizer(Routes({"GET /a": tenant(query="t")})),
        lambda: authorizer(Routes({"GET /a": authenticated()}, default=tenant(header="x-t"))),
        lambda: authorizer(Routes({"GET /a": authenticated()}), simple_responses=True),
        lambda: authorizer(
            Routes({"GET /a": authenticated()}), rate_limit=RateLimiter.per_principal("5/second")
        ),
        lambda: authorizer(Routes({"POST /v1/items:batchGet": authenticated()})),
        lambda: PolicyBuilder(cache_ttl=300, routes=()),
    ]
    for build in refusals:
        with pytest.raises(ConfigurationError):
            build()


def test_a_policy_builder_for_another_table_is_refused() -> None:
    routes = Routes({"GET /a": authenticated()})
    other = Routes({"GET /a": authenticated(), "GET /b": authenticated()})
    with pytest.raises(ConfigurationError):
        authorizer(routes, policy_builder=PolicyBuilder(cache_ttl=300, routes=other))
    with pytest.raises(ConfigurationError):
        authorizer(routes, policy_builder=PolicyBuilder(cache_ttl=0, routes=routes))


def test_an_http_default_route_is_never_opened_by_a_cached_answer() -> None:
    routes = Routes({"ANY /{proxy+}": authenticated(), "GET /admin": roles("admin")},
                    default=authenticated())  # fmt: skip
    auth = authorizer(routes, claims=ClaimMapper())
    event = http_authorizer_v2(
        "GET", "/x", route_key="$default", stage="prod", token=token(sub="u")
    )
    event["routeArn"] = PREFIX + "$default"
    response = auth.handler(event, None)
    assert not iam_allows(response, PREFIX + "$default")
    admin = http_authorizer_v2(
        "GET", "/x", route_key="$default", stage="prod", token=token(sub="r", roles=["admin"])
    )
    admin["routeArn"] = PREFIX + "$default"
    # not even to an admin, allowed on every route (review 71: the one ARN stands for the
    # spellings every table refuses too)
    assert not iam_allows(auth.handler(admin, None), PREFIX + "$default")
