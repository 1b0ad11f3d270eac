"""Review 25: an adversarial pass on tenant isolation and role/scope checks.

Targets: the API Gateway ``Authorizer`` (``cache_ttl=0`` and cached policies) and the
in-function ``Guard``, over a ``Routes`` table, with the claim mapping in front. The
goal of every attack: a principal of tenant A reaching tenant B's data, a non-admin
reaching an admin route, or a scope-less token reaching a scoped route.

Findings are ``xfail(strict=True)`` tests asserting the correct behaviour:

* query values API Gateway already decoded are percent-decoded a second time by
  ``tenant(query=...)`` (``?tenant=acm%2565`` passes for tenant ``acme``);
* the ``Guard`` decides on ``event.path``/``rawPath``, not on the route API Gateway ran:
  a custom domain's base-path mapping, or a named stage that is also a route's first
  segment, sends the decision to a looser route;
* a per-handler rule (``Guard.require``) reads the parameters of the first reading of an
  ambiguous path only;
* without a table, a per-handler ``tenant(path=...)`` never sees API Gateway's
  ``pathParameters`` (a wrong 403).

Attacks that held are plain regression tests. Real objects, real events
(``secauth.testing_events``), keys from ``secauth.testing``; no mocks.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from secauth import Authorizer, Guard, JwtVerifier, Routes
from secauth.access import authenticated, public, roles, scopes, tenant
from secauth.policy import Unauthorized
from secauth.principal import ClaimMapper, Principal
from secauth.testing import KeyPair
from secauth.testing_events import (
    alb,
    function_url,
    http_proxy,
    iam_allows,
    method_arn,
    request_authorizer,
    rest_proxy,
    token_authorizer,
    websocket_connect,
    websocket_message,
)

ISS = "https://idp.review25.example/"
AUD = "tenants-api"
PAIR = KeyPair.generate("ES256", kid="r25")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
MAPPER = ClaimMapper(tenant_claim="tenant")


def token(sub: str = "alice", **claims: Any) -> str:
    """A valid token for ``VERIFIER``; a claim given as None is left out."""
    body: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": sub, "exp": 4_000_000_000}
    body.update(claims)
    return PAIR.sign({k: v for k, v in body.items() if v is not None})


ACME = token(tenant="acme", roles=["member"])
ACME_ADMIN = token("root", tenant="acme", roles=["member", "admin"])


def guarded(routes: Routes | None, **options: Any) -> Callable[[dict[str, Any]], int]:
    """A guarded handler; calling it gives the status code of the answer."""
    options.setdefault("claims", MAPPER)
    guard = Guard(options.pop("verifier", VERIFIER), routes=routes, decision_log=None, **options)

    def handler(event: dict[str, Any], context: object, principal: Principal) -> dict[str, Any]:
        return {"statusCode": 200, "body": json.dumps([principal.id, principal.tenant])}

    wrapped = guard(handler)
    return lambda event: wrapped(event, None)["statusCode"]


def effect(response: Mapping[str, Any]) -> str:
    """The effect an authorizer response has on its own request (its first statement's)."""
    return response["policyDocument"]["Statement"][0]["Effect"]


# --- findings -------------------------------------------------------------------------------


QUERY_TABLE = Routes({"GET /orders": tenant(query="tenant")})


@pytest.mark.parametrize("kind", ["rest_proxy", "http_proxy"])
def test_a_query_tenant_api_gateway_already_decoded_is_not_decoded_again(kind: str) -> None:
    """The client sends ``?tenant=acm%2565``. API Gateway (REST and HTTP APIs) hands the
    function the value decoded once, ``acm%65`` (only ALB passes the query as sent). The
    docs promise that a value still encoded after one decoding is refused, and the backend
    reads ``acm%65``: a tenant id that is not the principal's. ``tenant(query=...)``
    decodes it again and compares ``acme``."""
    call = guarded(QUERY_TABLE)
    build = rest_proxy if kind == "rest_proxy" else http_proxy
    assert call(build("GET", "/orders", token=ACME, query={"tenant": "acme"})) == 200
    assert call(build("GET", "/orders", token=ACME, query={"tenant": "acm%65"})) == 403


def test_the_authorizer_does_not_decode_a_request_authorizer_query_twice() -> None:
    """The same double decoding at the gate: a REST REQUEST authorizer event carries the
    query decoded once by API Gateway."""
    authorizer = Authorizer(VERIFIER, routes=QUERY_TABLE, claims=MAPPER, decision_log=None)
    plain = request_authorizer("GET", "/orders", token=ACME, query={"tenant": "acme"})
    assert effect(authorizer.handler(plain, None)) == "Allow"
    twice = request_authorizer("GET", "/orders", token=ACME, query={"tenant": "acm%65"})
    assert effect(authorizer.handler(twice, None)) == "Deny"


# A tenant-scoped route and a catch-all for everything else: the Authorizer's own default
# table is ``ANY /{proxy+}: authenticated()``.
BASE_PATH_TABLE = Routes(
    {
        "ANY /tenants/{tenantId}/{proxy+}": tenant(path="tenantId"),
        "ANY /{proxy+}": authenticated(),
    }
)


def base_path_event(path: str, base: str, **sent: Any) -> dict[str, Any]:
    """A REST proxy event for ``path`` called through a custom domain whose base-path
    mapping is ``base``: API Gateway routes ``path`` (``resource``, ``pathParameters``)
    but ``event.path`` and ``requestContext.path`` carry the base path too."""
    event = rest_proxy(
        "GET",
        f"/{base}{path}",
        resource="/tenants/{tenantId}/{proxy+}",
        path_params={"tenantId": path.split("/")[2], "proxy": "/".join(path.split("/")[3:])},
        **sent,
    )
    event["requestContext"]["path"] = f"/{base}{path}"
    event["requestContext"]["domainName"] = "api.review25.example"
    return event


def test_the_guard_decides_on_the_route_api_gateway_ran_behind_a_base_path_mapping() -> None:
    """Behind a custom domain with base-path mapping ``v1``, API Gateway runs
    ``ANY /tenants/{tenantId}/{proxy+}`` with ``tenantId=globex`` for
    ``/v1/tenants/globex/orders``, but ``event.path`` keeps the ``/v1`` (the reason for
    Powertools' ``strip_prefixes``). The Guard routes ``/v1/tenants/globex/orders`` to the
    catch-all and lets tenant ``acme`` through to ``globex``."""
    call = guarded(BASE_PATH_TABLE)
    direct = rest_proxy(
        "GET",
        "/tenants/globex/orders",
        resource="/tenants/{tenantId}/{proxy+}",
        path_params={"tenantId": "globex", "proxy": "orders"},
        token=ACME,
    )
    assert call(direct) == 403  # the same request on the execute-api domain
    assert call(base_path_event("/tenants/acme/orders", "v1", token=ACME)) != 403
    assert call(base_path_event("/tenants/globex/orders", "v1", token=ACME)) in (403, 404)


STAGE_TABLE = Routes({"GET /prod/reports": roles("admin"), "GET /reports": authenticated()})


def test_the_guard_reads_a_named_stage_both_ways_when_a_route_starts_with_it() -> None:
    """An HTTP API on stage ``prod`` behind a custom domain: ``rawPath`` is
    ``/prod/reports`` and API Gateway ran ``GET /prod/reports`` (admin only). The Guard
    strips ``/prod`` and decides ``GET /reports`` (any caller). The Authorizer reads such a
    path both ways (``target_of``'s ``also``); the Guard should too, or follow
    ``routeKey``."""
    call = guarded(STAGE_TABLE)
    event = http_proxy("GET", "/prod/reports", route_key="GET /prod/reports", token=ACME)
    event["requestContext"]["stage"] = "prod"  # custom domain: no stage in rawPath
    event["requestContext"]["domainName"] = "api.review25.example"
    assert call(event) == 403
    admin = copy.deepcopy(event)
    admin["headers"]["authorization"] = f"Bearer {ACME_ADMIN}"
    assert call(admin) == 200


AMBIGUOUS_TABLE = Routes(
    {
        "ANY /{tenantId}/{proxy+}": authenticated(),
        "GET /{region}/shared/{tenantId}": authenticated(),
    }
)


def test_a_per_handler_tenant_rule_is_checked_on_every_reading_of_an_ambiguous_path() -> None:
    """``/acme/SHARED/globex`` is read as written (``ANY /{tenantId}/{proxy+}``,
    ``tenantId=acme``) and with the literal (``GET /{region}/shared/{tenantId}``,
    ``tenantId=globex``); ``Routes.judge`` checks each reading's rule on its own
    parameters, but ``Guard._authorize`` hands the per-handler rule only the first
    reading's."""
    call = guarded(AMBIGUOUS_TABLE, rule=tenant(path="tenantId"))
    assert call(http_proxy("GET", "/eu/shared/acme", token=ACME)) == 200
    assert call(http_proxy("GET", "/eu/shared/globex", token=ACME)) == 403
    assert call(http_proxy("GET", "/acme/SHARED/globex", token=ACME)) == 403


def test_a_tableless_per_handler_path_tenant_rule_reads_api_gateways_parameters() -> None:
    """Without a table, a per-handler ``tenant(path=...)`` gets no parameters at all, so
    it refuses every caller, its own tenant too; the Powertools per-route guard reads API
    Gateway's ``pathParameters`` there (docs/guard.md). A wrong 403."""
    call = guarded(None, rule=tenant(path="tenantId"))
    own = rest_proxy(
        "GET",
        "/tenants/acme/orders",
        resource="/tenants/{tenantId}/orders",
        path_params={"tenantId": "acme"},
        token=ACME,
    )
    other = rest_proxy(
        "GET",
        "/tenants/globex/orders",
        resource="/tenants/{tenantId}/orders",
        path_params={"tenantId": "globex"},
        token=ACME,
    )
    assert call(other) == 403
    assert call(own) == 200


# --- held: claim mapping ----------------------------------------------------------------------


TENANT_PATHS = Routes(
    {
        "ANY /tenants/{tenantId}/{proxy+}": tenant(path="tenantId") & roles("member"),
        "DELETE /tenants/{tenantId}/users/{id}": tenant(path="tenantId") & roles("admin"),
        "GET /orders": scopes("orders.read"),
        "GET /health": public(),
    }
)


@pytest.mark.parametrize("value", [["acme"], 42, True, None, {"id": "acme"}])
def test_a_tenant_claim_that_is_not_a_non_empty_string_is_a_401(value: object) -> None:
    """Tenant as list, int, bool, null, empty or object: never coerced to a tenant."""
    call = guarded(TENANT_PATHS)
    sent = token(tenant=value, roles=["member"]) if value is not None else token(roles=["member"])
    assert call(rest_proxy("GET", "/tenants/acme/orders", token=sent)) == 401


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        ({"roles": "member"}, 401),  # a string is not a list of roles
        ({"roles": ["member", 1]}, 401),
        ({"roles": ["Member"]}, 403),  # names compare exactly
        ({"roles": ["member"]}, 200),
        ({"scope": "member"}, 403),  # a scope is never a role
        ({"groups": ["member"]}, 403),  # groups are not roles for the plain mapper
    ],
)
def test_roles_claim_type_confusion_never_grants_a_role(
    claims: dict[str, Any], status: int
) -> None:
    call = guarded(TENANT_PATHS)
    sent = token(tenant="acme", **claims)
    assert call(rest_proxy("GET", "/tenants/acme/orders", token=sent)) == status


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        ({}, 403),  # a scope-less token
        ({"scope": "orders.read\torders.write"}, 403),  # only single spaces separate
        ({"scope": ["orders.read orders.write"]}, 403),  # one list item, one scope
        ({"scope": "ORDERS.READ"}, 403),
        ({"roles": ["orders.read"]}, 403),  # a role is never a scope
        ({"scp": ["orders.read", 2]}, 401),
        ({"scope": "openid orders.read"}, 200),
        ({"scp": ["orders.read"]}, 200),  # Okta's array
        ({"scp": "orders.write orders.read"}, 200),  # Entra's string
    ],
)
def test_a_scope_less_or_mistyped_token_never_reaches_a_scoped_route(
    claims: dict[str, Any], status: int
) -> None:
    call = guarded(TENANT_PATHS)
    assert call(rest_proxy("GET", "/orders", token=token(tenant="acme", **claims))) == status


def test_cognito_groups_as_a_string_are_refused_and_custom_attributes_name_the_tenant() -> None:
    """``cognito:groups`` must be a list; ``custom:tenant_id`` is the tenant, and a plain
    ``roles`` or ``tenant`` claim in a Cognito token is not read by the preset."""
    mapper = ClaimMapper.cognito(tenant_claim="custom:tenant_id")
    call = guarded(TENANT_PATHS, claims=mapper)
    path = "/tenants/acme/orders"
    good = token(**{"custom:tenant_id": "acme", "cognito:groups": ["member"]})
    assert call(rest_proxy("GET", path, token=good)) == 200
    joined = token(**{"custom:tenant_id": "acme", "cognito:groups": "member"})
    assert call(rest_proxy("GET", path, token=joined)) == 401
    plain = token(**{"custom:tenant_id": "globex", "tenant": "acme", "roles": ["member"]})
    assert call(rest_proxy("GET", path, token=plain)) == 403


# --- held: tenant spellings at the Guard and the Authorizer -----------------------------------


@pytest.mark.parametrize(
    "segment",
    [
        "ACME",
        "acme-evil",
        "acme%20",
        "acme%00",
        "%2561cme",  # encoded twice
        "%EF%BD%81cme",  # FULLWIDTH LATIN SMALL LETTER A
        "%D0%B0cme",  # CYRILLIC SMALL LETTER A
        "acme%2F..%2Fglobex",
        "%61cme%C0%AF",
    ],
)
def test_no_spelling_of_another_tenant_passes_the_path_rule(segment: str) -> None:
    call = guarded(TENANT_PATHS)
    assert call(rest_proxy("GET", f"/tenants/{segment}/orders", token=ACME)) in (403, 404)


@pytest.mark.parametrize("segment", ["acme", "%61%63%6D%65"])
def test_my_own_tenant_passes_plain_or_encoded_once(segment: str) -> None:
    call = guarded(TENANT_PATHS)
    assert call(rest_proxy("GET", f"/tenants/{segment}/orders", token=ACME)) == 200


@pytest.mark.parametrize(
    "path",
    [
        "/tenants/acme/",
        "/tenants//acme/x",
        "/tenants/acme/../globex/x",
        "/tenants/acme/%2e%2e/globex/x",
        "/tenants/acme/..%5Cglobex",
    ],
)
def test_refused_spellings_of_a_tenant_path_are_denied_even_under_a_permissive_default(
    path: str,
) -> None:
    routes = Routes(
        {"ANY /tenants/{tenantId}/{proxy+}": tenant(path="tenantId")}, default=authenticated()
    )
    decision = routes.decide(Principal("u", tenant="acme"), "GET", path)
    assert not decision.allowed
    assert decision.route is None


def test_the_authorizer_without_cache_keeps_tenants_apart_on_every_event_kind() -> None:
    authorizer = Authorizer(VERIFIER, routes=TENANT_PATHS, claims=MAPPER, decision_log=None)
    for path, expected in (
        ("/tenants/acme/orders", "Allow"),
        ("/tenants/globex/orders", "Deny"),
        ("/tenants/acme-evil/orders", "Deny"),
        ("/tenants/ACME/orders", "Deny"),
    ):
        for event in (
            token_authorizer("GET", path, token=ACME),
            request_authorizer("GET", path, token=ACME),
        ):
            assert effect(authorizer.handler(event, None)) == expected, (path, event["type"])


# --- held: cached policies --------------------------------------------------------------------


CACHED_TABLE = Routes(
    {
        "ANY /tenants/{tenantId}/{proxy+}": tenant(path="tenantId") & roles("member"),
        "GET /tenants/{tenantId}": tenant(path="tenantId"),
        "DELETE /tenants/{tenantId}/users/{id}": tenant(path="tenantId") & roles("admin"),
        "GET /orgs/{org}/users/me": tenant(path="org"),
        "GET /orgs/{org}/users/{id}": tenant(path="org") & roles("admin"),
        "GET /health": public(),
        "GET /admin/{proxy+}": roles("admin"),
    }
)

PROBES = [
    "/tenants/acme",
    "/tenants/acme/orders",
    "/tenants/acme/orders/7",
    "/tenants/globex",
    "/tenants/globex/orders",
    "/tenants/acme-evil/orders",
    "/tenants/acme-evil",
    "/tenants/acmex/orders",
    "/tenants/acme.evil/orders",
    "/tenants/ACME/orders",
    "/tenants/acme/x/tenants/globex/orders",
    "/tenants/acme/../globex/orders",
    "/tenants/acme/%2e%2e/globex/orders",
    "/tenants/acme%2F..%2Fglobex/orders",
    "/tenants/acme/users/7",
    "/tenants/globex/users/7",
    "/tenants/acme/orders/",
    "/tenants/acme//orders",
    "/tenants/acme:globex/orders",
    "/tenants/acme/a:b",
    "/orgs/acme/users/me",
    "/orgs/acme/users/ME",
    "/orgs/acme/users/%6De",
    "/orgs/acme/users/7",
    "/orgs/globex/users/me",
    "/orgs/acme/users/me/x",
    "/admin/x",
    "/ADMIN/x",
    "/health",
    "/health/x",
    "/HEALTH",
    "/",
]


def cached_response(who: str, tenant_name: str, first: str = "/health") -> dict[str, Any]:
    authorizer = Authorizer(
        VERIFIER, routes=CACHED_TABLE, claims=MAPPER, cache_ttl=300, decision_log=None
    )
    sent = token(who, tenant=tenant_name, roles=["member"])
    return authorizer.handler(token_authorizer("GET", first, token=sent), None)


@pytest.mark.parametrize("first", ["/health", "/tenants/acme/orders", "/tenants/globex/orders"])
def test_a_cached_policy_never_opens_another_tenants_paths_under_iam_matching(first: str) -> None:
    """Whatever request the policy was made for, every method ARN it allows under IAM's
    ``*`` and ``?`` is one ``Routes.decide`` allows for that principal."""
    response = cached_response("alice", "acme", first)
    principal = Principal("alice", tenant="acme", roles={"member"})
    for path in PROBES:
        for verb in ("GET", "DELETE", "POST", "HEAD"):
            if iam_allows(response, method_arn(verb, path)):
                assert CACHED_TABLE.decide(principal, verb, path).allowed, (first, verb, path)
    assert iam_allows(response, method_arn("GET", "/tenants/acme/orders/7"))
    assert not iam_allows(response, method_arn("GET", "/tenants/globex/orders/7"))


def test_cached_policies_of_two_tenants_do_not_leak_into_each_other() -> None:
    """Plans are kept per grants: acme's and globex's principals each get their own."""
    authorizer = Authorizer(
        VERIFIER, routes=CACHED_TABLE, claims=MAPPER, cache_ttl=300, decision_log=None
    )
    answers = {}
    for name in ("acme", "globex", "acme"):
        sent = token(f"u-{name}", tenant=name, roles=["member"])
        event = token_authorizer("GET", f"/tenants/{name}/orders", token=sent)
        answers[name] = authorizer.handler(event, None)
    assert iam_allows(answers["acme"], method_arn("PUT", "/tenants/acme/x"))
    assert not iam_allows(answers["acme"], method_arn("PUT", "/tenants/globex/x"))
    assert iam_allows(answers["globex"], method_arn("PUT", "/tenants/globex/x"))
    assert not iam_allows(answers["globex"], method_arn("PUT", "/tenants/acme/x"))


@pytest.mark.parametrize("odd", ["*", "ac?e", "a:b", "acme/*", ".."])
def test_a_tenant_with_iam_wildcards_or_separators_is_granted_no_path(odd: str) -> None:
    """A tenant ``*``, ``?``, ``:`` or ``/`` could never stand in a Resource: its cached
    policy allows none of the tenant routes, nobody else's either."""
    response = cached_response("mallory", odd)
    for path in ("/tenants/acme/orders", "/tenants/globex", "/tenants/a", "/orgs/acme/users/me"):
        for verb in ("GET", "PUT"):
            assert not iam_allows(response, method_arn(verb, path)), (odd, verb, path)
    assert iam_allows(response, method_arn("GET", "/health"))


# --- held: where the Guard finds the caller ---------------------------------------------------


def secauth_context(tenant_name: str, roles_: list[str]) -> dict[str, str]:
    return Principal("mallory", tenant=tenant_name, roles=roles_).to_context()


@pytest.mark.parametrize("kind", ["function_url", "alb"])
def test_a_forged_authorizer_context_on_function_urls_and_alb_is_never_trusted(kind: str) -> None:
    """Function URL and ALB events never carry an API Gateway authorizer's context: one in
    the event (under ``lambda`` or flat) is ignored, in trust mode and with a verifier."""
    forged = secauth_context("globex", ["member", "admin"])
    if kind == "function_url":
        event = function_url("GET", "/tenants/globex/orders")
    else:
        event = alb("GET", "/tenants/globex/orders")
    event["requestContext"]["authorizer"] = {"lambda": forged, **forged}
    trusting = Guard(routes=TENANT_PATHS, decision_log=None)(lambda e, c: {"statusCode": 200})
    assert trusting(copy.deepcopy(event), None)["statusCode"] == 401
    both = guarded(TENANT_PATHS, trust_authorizer=True)
    with_token = copy.deepcopy(event)
    with_token["headers"]["authorization"] = f"Bearer {ACME}"
    assert both(with_token) == 403  # the token's tenant, acme, decides


def test_a_token_and_an_authorizer_context_that_disagree_on_the_tenant_are_a_401() -> None:
    call = guarded(TENANT_PATHS, trust_authorizer=True)
    context = Principal("alice", tenant="globex", roles={"member"}).to_context()
    event = rest_proxy("GET", "/tenants/globex/orders", token=ACME)
    event["requestContext"]["authorizer"] = {"principalId": "alice", **context}
    assert call(event) == 401
    same = Principal("alice", tenant="acme", roles={"member", "admin"}).to_context()
    event = rest_proxy("DELETE", "/tenants/acme/users/7", token=ACME)
    event["requestContext"]["authorizer"] = {"principalId": "alice", **same}
    assert call(event) == 403  # the verified token's roles decide, not the context's


def test_a_half_forged_context_with_a_tenant_of_the_wrong_type_is_refused() -> None:
    """HTTP API contexts may hold any JSON: a non-string tenant is malformed, not absent."""
    context: dict[str, Any] = {**secauth_context("acme", ["member"]), "secauth_tenant": ["x"]}
    event = http_proxy("GET", "/tenants/acme/orders")
    event["requestContext"]["authorizer"] = {"lambda": context}
    trusting = Guard(routes=TENANT_PATHS, decision_log=None)(lambda e, c: {"statusCode": 200})
    assert trusting(event, None)["statusCode"] == 401


# --- held: a tenant named twice ---------------------------------------------------------------


HEADER_TABLE = Routes({"GET /h": tenant(header="X-Tenant-Id")})


@pytest.mark.parametrize(
    ("build", "query"),
    [
        (rest_proxy, {"tenant": ["globex", "acme"]}),
        (rest_proxy, {"tenant": ["acme", "acme"]}),
        (http_proxy, {"tenant": ["acme", "globex"]}),  # joined with a comma
        (alb, {"tenant": "acme", "%74enant": "globex"}),  # ALB passes names as sent
    ],
)
def test_a_query_tenant_given_twice_is_refused(build: Any, query: dict[str, Any]) -> None:
    call = guarded(QUERY_TABLE)
    event = build("GET", "/orders", token=ACME, **({} if build is alb else {"query": query}))
    if build is alb:
        event["queryStringParameters"] = query
    assert call(event) == 403


def test_a_header_tenant_given_twice_in_any_case_is_refused() -> None:
    call = guarded(HEADER_TABLE)
    event = rest_proxy("GET", "/h", token=ACME)
    event["multiValueHeaders"]["X-Tenant-Id"] = ["acme"]
    event["multiValueHeaders"]["x-tenant-id"] = ["globex"]
    event["headers"]["X-Tenant-Id"] = "acme"
    event["headers"]["x-tenant-id"] = "globex"
    assert call(event) == 403
    joined = http_proxy("GET", "/h", token=ACME, headers={"X-Tenant-Id": ["acme", "globex"]})
    assert call(joined) == 403
    assert call(http_proxy("GET", "/h", token=ACME, headers={"x-tenant-id": "acme"})) == 200


# --- held: route precedence, verbs, WebSocket keys --------------------------------------------


def test_the_literal_me_route_beats_the_parameter_route_and_its_spellings_read_both() -> None:
    call = guarded(CACHED_TABLE)
    assert call(rest_proxy("GET", "/orgs/acme/users/me", token=ACME)) == 200
    assert call(rest_proxy("GET", "/orgs/acme/users/7", token=ACME)) == 403
    assert call(rest_proxy("GET", "/orgs/globex/users/me", token=ACME)) == 403
    for spelled in ("ME", "Me", "%6De", "%6d%65"):  # the {id} reading (admin only) too
        assert call(rest_proxy("GET", f"/orgs/acme/users/{spelled}", token=ACME)) == 403
    assert call(rest_proxy("GET", "/orgs/acme/users/ME", token=ACME_ADMIN)) == 200


def test_an_exact_verb_beats_any_on_the_same_template_and_head_is_not_get() -> None:
    routes = Routes(
        {
            "ANY /docs/{id}": authenticated(),
            "DELETE /docs/{id}": roles("admin"),
            "GET /admin": roles("admin"),
        }
    )
    member = Principal("m", tenant="acme", roles={"member"})
    assert routes.decide(member, "GET", "/docs/1").allowed
    assert not routes.decide(member, "DELETE", "/docs/1").allowed
    assert not routes.decide(member, "delete", "/docs/1").allowed
    assert not routes.decide(member, "HEAD", "/admin").allowed  # no route: denied
    assert not routes.decide(member, "ANY", "/admin").allowed


def test_websocket_messages_are_decided_by_their_route_key_with_the_connect_context() -> None:
    routes = Routes(
        {"$connect": authenticated(), "purge": roles("admin"), "$default": roles("member")}
    )
    authorizer = Authorizer(VERIFIER, routes=routes, claims=MAPPER, decision_log=None)
    member = authorizer.handler(websocket_connect(token=ACME), None)
    trusting = Guard(routes=routes, decision_log=None)(lambda e, c: {"statusCode": 200})

    def status(route_key: str) -> int:
        event = websocket_message(route_key, "{}", authorizer_response=member)
        return trusting(event, None)["statusCode"]

    assert status("sendmessage") == 200  # an unlisted key falls to $default
    assert status("purge") == 403
    assert status("GET") in (403, 404)  # not a key of its own, never an HTTP route
    unauthenticated = websocket_connect(query={"tenant": "acme"})
    with pytest.raises(Unauthorized):
        authorizer.handler(unauthenticated, None)


def test_a_powertools_route_guard_checks_its_rule_on_every_reading_too() -> None:
    """The Powertools per-route guard decides as the guard alone (``guard_routes``): its
    rule sees each reading's parameters, not the first reading's only (fixed with the
    finding above)."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from secauth.integrations.powertools import guard_middleware

    outer = Guard(VERIFIER, claims=MAPPER, routes=AMBIGUOUS_TABLE, decision_log=None)
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(outer)])
    route_guard = outer.require(tenant(path="tenantId"))

    @app.get("/<first>/<second>/<third>", middlewares=[guard_middleware(route_guard)])
    def read(first: str, second: str, third: str) -> dict[str, str]:
        return {"read": third}

    def status(path: str) -> int:
        return int(app.resolve(http_proxy("GET", path, token=ACME), None)["statusCode"])

    assert status("/eu/shared/acme") == 200
    assert status("/eu/shared/globex") == 403
    assert status("/acme/SHARED/globex") == 403
