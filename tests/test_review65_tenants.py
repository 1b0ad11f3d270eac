"""Review 65: tenant isolation, end to end.

A caller of tenant A must never read or act on tenant B's data, spend B's quotas, revoke
or be revoked by B's entries, or receive an answer computed for B. Attacked here: the
tenant path parameter as each API type delivers it, cached authorizer policies for tenant
ids with IAM-relevant punctuation (judged by the offline IAM simulator
``@cloud-copilot/iam-simulate``), the Authorizer's response memo and the Guard's
``PrincipalMemo``, per-tenant rate-limit keys on a real redis-server, and revocation
entries of two issuers on a real redis-server.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour:

* on HTTP APIs (payload 1.0 and 2.0, Guard and Authorizer) a tenant path parameter is
  percent-decoded twice: API Gateway hands the path and ``pathParameters`` over decoded
  once (``/tenants/acm%2565/orders`` arrives as ``/tenants/acm%65/orders``), and
  ``Routes`` decodes the value again, so ``tenant(path=...)`` compares ``acme`` while the
  backend reads the tenant id ``acm%65``. The docs promise that ``acm%2565`` is refused,
  and the same bug was fixed for query values (review 25).

The attacks that held are plain tests. Real objects and events; no mocks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from test_iam_simulate_crosscheck import simulate

from secauth import Authorizer, Guard, JwtVerifier, Routes
from secauth.access import authenticated, tenant
from secauth.policy import PolicyDocument, Statement
from secauth.principal import ClaimMapper, Principal
from secauth.ratelimit import RateLimiter, RedisStore
from secauth.ratelimit.keys import safe_key
from secauth.revocation import Revocations
from secauth.testing import KeyPair
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    http_proxy,
    method_arn,
    on_custom_domain,
    rest_proxy,
    token_authorizer,
)

ISS, ISS_B, AUD = "https://idp.review65.example/", "https://partner.review65.example/", "api"
PAIR = KeyPair.generate("ES256", kid="r65")
PAIR_B = KeyPair.generate("ES256", kid="r65b")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
MAPPER = ClaimMapper(tenant_claim="tenant")
TEMPLATE = "/tenants/{tenantId}/orders"
ROUTES = Routes({f"GET {TEMPLATE}": tenant(path="tenantId")})


def token(sub: str = "alice", **claims: Any) -> str:
    body: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": sub, "exp": 4_000_000_000}
    return PAIR.sign({**body, **claims})


ACME = token(tenant="acme")


def guarded(routes: Routes = ROUTES, **options: Any) -> Callable[[dict[str, Any]], Any]:
    """A guarded handler answering the tenant it saw in ``pathParameters`` and the
    principal's; calling it gives the whole response."""
    verifier = options.pop("verifier", VERIFIER)
    guard = Guard(verifier, routes=routes, claims=MAPPER, decision_log=None, **options)

    def handler(event: dict[str, Any], context: object, principal: Principal) -> dict[str, Any]:
        seen = (event.get("pathParameters") or {}).get("tenantId")
        return {"statusCode": 200, "body": json.dumps([seen, principal.tenant, principal.id])}

    wrapped = guard(handler)
    return lambda event: wrapped(event, None)


def effect(response: Mapping[str, Any]) -> str:
    return response["policyDocument"]["Statement"][0]["Effect"]


def http_v2_event(segment: str, bearer: str = ACME) -> dict[str, Any]:
    """What an HTTP API (payload 2.0) integration receives for a request whose tenant
    segment, once API Gateway decoded it, is ``segment`` (path and parameters decoded)."""
    return http_proxy(
        "GET",
        f"/tenants/{segment}/orders",
        route_key=f"GET {TEMPLATE}",
        path_params={"tenantId": segment},
        token=bearer,
    )


def http_v1_integration_event(segment: str) -> dict[str, Any]:
    """The same request on an HTTP API integration of payload 1.0."""
    event = rest_proxy(
        "GET",
        f"/tenants/{segment}/orders",
        resource=TEMPLATE,
        path_params={"tenantId": segment},
        stage="$default",
        token=ACME,
    )
    event["version"] = "1.0"
    event["requestContext"]["routeKey"] = f"GET {TEMPLATE}"
    return event


def http_authorizer_event(kind: str, segment: str) -> dict[str, Any]:
    if kind == "v2":
        return http_authorizer_v2(
            "GET",
            f"/tenants/{segment}/orders",
            route_key=f"GET {TEMPLATE}",
            path_params={"tenantId": segment},
            token=ACME,
        )
    return http_authorizer_v1(
        "GET",
        f"/tenants/{segment}/orders",
        resource=TEMPLATE,
        path_params={"tenantId": segment},
        token=ACME,
    )


# --- finding (fixed): HTTP APIs hand over the path decoded once; Routes decoded it again --


@pytest.mark.parametrize("payload", ["2.0", "1.0"])
def test_an_http_api_path_tenant_is_not_decoded_a_second_time_by_the_guard(payload: str) -> None:
    """The client sends ``/tenants/acm%2565/orders``. An HTTP API decodes the path once
    before the event (``rawPath`` and ``pathParameters`` both hold ``acm%65``); the
    handler reads the tenant id ``acm%65``, which is not the principal's. ``Routes``
    percent-decodes the parameter again, and ``tenant(path=...)`` compares ``acme``. Taken
    as it arrives, the value holds a ``%``, which the tenant rule refuses."""
    call = guarded()
    event = http_v2_event("acm%65") if payload == "2.0" else http_v1_integration_event("acm%65")
    assert call(event)["statusCode"] == 403


@pytest.mark.parametrize("kind", ["v2", "v1"])
def test_an_http_api_authorizer_does_not_decode_a_path_tenant_a_second_time(kind: str) -> None:
    authorizer = Authorizer(VERIFIER, routes=ROUTES, claims=MAPPER, decision_log=None)
    assert effect(authorizer.handler(http_authorizer_event(kind, "acm%65"), None)) == "Deny"


@pytest.mark.parametrize(
    ("build", "seen"),
    [(http_v2_event, "acm%65"), (http_v1_integration_event, "acm%65")],
    ids=["http-2.0", "http-1.0"],
)
def test_every_rule_sees_an_http_api_parameter_as_the_backend_does(
    build: Callable[[str], dict[str, Any]], seen: str
) -> None:
    """Not the tenant rule only: any rule reading ``context.params`` on an HTTP API gets
    the value API Gateway hands the backend, never one decoded again."""
    from secauth.events import Request
    from secauth.rules import rule

    read: list[str] = []
    routes = Routes({f"GET {TEMPLATE}": rule(lambda p, c: read.append(c.params["tenantId"]) or True)})
    request = Request.from_event(build("acm%65"))
    assert routes.decide(Principal("u"), "GET", request.path, request).allowed
    assert read == [seen]
    read.clear()  # without the request (or on a REST API) the path is as sent: decoded once
    assert routes.decide(Principal("u"), "GET", "/tenants/acm%65/orders").allowed
    assert read == ["acme"]


# --- held: the same requests where the path arrives as sent -----------------------------------


@pytest.mark.parametrize("payload", ["2.0", "1.0"])
def test_an_http_api_names_my_tenant_or_another_and_is_decided_so(payload: str) -> None:
    call = guarded()
    build = http_v2_event if payload == "2.0" else http_v1_integration_event
    answer = call(build("acme"))
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == ["acme", "acme", "alice"]
    assert call(build("globex"))["statusCode"] == 403
    assert call(build("ACME"))["statusCode"] == 403


@pytest.mark.parametrize("kind", ["v2", "v1"])
def test_an_http_api_authorizer_denies_another_tenant(kind: str) -> None:
    authorizer = Authorizer(VERIFIER, routes=ROUTES, claims=MAPPER, decision_log=None)
    assert effect(authorizer.handler(http_authorizer_event(kind, "acme"), None)) == "Allow"
    assert effect(authorizer.handler(http_authorizer_event(kind, "globex"), None)) == "Deny"


@pytest.mark.parametrize("custom_domain", [False, True])
def test_a_rest_api_path_still_encoded_twice_is_refused(custom_domain: bool) -> None:
    """REST APIs pass the path as sent (and the parameters decoded once): the path's
    ``%25`` is refused, also behind a base-path mapping, where the routed path is read."""
    call = guarded()
    event = rest_proxy(
        "GET",
        "/tenants/acm%2565/orders",
        resource=TEMPLATE,
        path_params={"tenantId": "acm%65"},
        token=ACME,
    )
    if custom_domain:
        on_custom_domain(event, "api.review65.example", base_path="v1")
    assert call(event)["statusCode"] in (403, 404)


# --- held: cached policies for tenant ids with IAM-relevant punctuation -----------------------

PUNCTUATED = ("a$b", "$", "it's", "a&b", "a=b", "a+b", "a!b", "a@b", "(a)", "a,b", "~a",
              "a.b", "...", "a-b", "a_b")  # fmt: skip
CACHED_ROUTES = Routes({
    "ANY /tenants/{tid}/{proxy+}": tenant(path="tid"),
    "GET /tenants/{tid}": tenant(path="tid"),
    "GET /health": authenticated(),
})  # fmt: skip


def neighbours(name: str) -> list[str]:
    """Tenant ids an IAM pattern written with ``name`` might match by mistake."""
    out = {name.upper(), name + "x", "x" + name, name[:-1] or "x", "acme", "globex"}
    out |= {name.replace(c, "X") for c in name if not c.isalnum()}
    out |= {name.replace(c, "") for c in name if not c.isalnum()}
    out |= {name + "$", "${aws:username}".replace("aws:username", name)}
    return sorted(o for o in out if o and o != name and "/" not in o)


def test_cached_policies_for_punctuated_tenants_follow_iam_semantics() -> None:
    """Each punctuated tenant's cached policy, judged by the IAM simulator: it allows its
    own paths and none of another tenant's, nor anything the table denies."""
    authorizer = Authorizer(
        VERIFIER, routes=CACHED_ROUTES, claims=MAPPER, cache_ttl=300, decision_log=None
    )
    cases: list[tuple[PolicyDocument, str]] = []
    meaning: list[tuple[str, str, str, str]] = []  # tenant, verb, path, kind
    for name in PUNCTUATED:
        bearer = token(f"u-{name}", tenant=name)
        response = authorizer.handler(token_authorizer("GET", "/health", token=bearer), None)
        statements = response["policyDocument"]["Statement"]
        document = PolicyDocument([Statement(s["Effect"], s["Resource"]) for s in statements])
        for verb in ("GET", "DELETE"):
            for path in (f"/tenants/{name}/x", f"/tenants/{name}/x/y"):
                cases.append((document, method_arn(verb, path)))
                meaning.append((name, verb, path, "own"))
            for other in neighbours(name):
                sneaky = f"/tenants/{name}/../{other}/x"
                for path in (f"/tenants/{other}/x", f"/tenants/{other}", sneaky):
                    cases.append((document, method_arn(verb, path)))
                    meaning.append((name, verb, path, "other"))
    verdicts = simulate(cases)
    for (name, verb, path, kind), allowed in zip(meaning, verdicts, strict=True):
        who = Principal(f"u-{name}", tenant=name, issuer=ISS)
        if kind == "own":
            assert allowed, (name, verb, path)
        if allowed:
            assert CACHED_ROUTES.decide(who, verb, path).allowed, (name, verb, path)
        if kind == "other":
            assert not allowed, (name, verb, path)


# --- held: memos never hand one tenant's answer to another ------------------------------------


def test_the_authorizer_memo_keeps_two_tenants_answers_apart() -> None:
    """Two tokens alike but for the tenant, each repeated (the memo keeps an answer on its
    second sighting) on both tenants' paths: every answer is its own token's."""
    authorizer = Authorizer(VERIFIER, routes=ROUTES, claims=MAPPER, decision_log=None)
    tokens = {"acme": token("same", tenant="acme"), "globex": token("same", tenant="globex")}
    for _ in range(3):
        for mine, bearer in tokens.items():
            for target in ("acme", "globex"):
                event = token_authorizer("GET", f"/tenants/{target}/orders", token=bearer)
                response = authorizer.handler(event, None)
                assert effect(response) == ("Allow" if mine == target else "Deny")
                assert response["context"]["secauth_tenant"] == mine


def test_the_guard_principal_memo_keeps_contexts_of_two_tenants_apart() -> None:
    """A trust-mode guard reads principals from authorizer contexts through its memo: two
    contexts alike but for the tenant (or the issuer) are two principals."""
    guard = Guard(routes=ROUTES, decision_log=None)

    def handler(event: dict[str, Any], context: object, principal: Principal) -> dict[str, Any]:
        return {"statusCode": 200, "body": json.dumps([principal.tenant, principal.issuer])}

    call = guard(handler)
    people = [
        Principal("same", tenant="acme", issuer=ISS),
        Principal("same", tenant="globex", issuer=ISS),
        Principal("same", tenant="acme", issuer=ISS_B),
    ]
    for _ in range(3):
        for who in people:
            for target in ("acme", "globex"):
                event = rest_proxy("GET", f"/tenants/{target}/orders", resource=TEMPLATE)
                event["requestContext"]["authorizer"] = {**who.to_context(), "principalId": "same"}
                answer = call(event, None)
                assert answer["statusCode"] == (200 if who.tenant == target else 403)
                if answer["statusCode"] == 200:
                    assert json.loads(answer["body"]) == [who.tenant, who.issuer]


def test_a_verifying_guard_refuses_a_context_naming_another_tenant_than_the_token() -> None:
    """Defense in depth: a context written for globex beside acme's token is a 401, also
    after the token's own principal is memoized."""
    call = guarded(trust_authorizer=True)
    plain = rest_proxy("GET", "/tenants/acme/orders", resource=TEMPLATE, token=ACME)
    assert call(plain)["statusCode"] == 200
    assert call(plain)["statusCode"] == 200
    for forged_tenant in ("globex", "ACME", "acme "):
        event = rest_proxy("GET", "/tenants/acme/orders", resource=TEMPLATE, token=ACME)
        forged = Principal("alice", tenant=forged_tenant, issuer=ISS).to_context()
        event["requestContext"]["authorizer"] = {**forged, "principalId": "alice"}
        assert call(event)["statusCode"] == 401


# --- held: quotas and revocations on real servers ---------------------------------------------

LOOKALIKES = ("ACME", "acme ", " acme", "\uff41cme", "acme\u200b", "acm\u0435", safe_key("acme\u200b"))


def test_per_tenant_quotas_are_not_shared_with_lookalike_tenants(redis_url: str) -> None:
    """acme spends its quota on Redis; tenants that differ in case, whitespace, Unicode
    (fullwidth, zero-width, Cyrillic) or that are named like another tenant's hashed key
    keep theirs."""
    store = RedisStore(redis_url, socket_timeout=2.0)
    limiter = RateLimiter.per_tenant("2/minute", store=store, deny_cache=False)
    event = rest_proxy("GET", "/tenants/acme/orders", resource=TEMPLATE)
    acme = Principal("alice", tenant="acme", issuer=ISS)
    assert [limiter.hit(event, acme).allowed for _ in range(3)] == [True, True, False]
    for index, name in enumerate(LOOKALIKES):
        other = Principal(f"user-{index}", tenant=name, issuer=ISS)
        assert limiter.hit(event, other).allowed, name
        assert limiter.hit(event, other).allowed, name
        assert not limiter.hit(event, other).allowed, name
    assert not limiter.hit(event, Principal("bob", tenant="acme", issuer=ISS_B)).allowed


def test_per_principal_quotas_of_one_subject_in_two_tenants_are_apart(redis_url: str) -> None:
    store = RedisStore(redis_url, socket_timeout=2.0)
    limiter = RateLimiter.per_principal("1/minute", store=store, deny_cache=False)
    event = rest_proxy("GET", "/tenants/acme/orders", resource=TEMPLATE)
    acme = Principal("alice", tenant="acme", issuer=ISS)
    assert limiter.hit(event, acme).allowed
    assert not limiter.hit(event, acme).allowed
    for who in (
        Principal("alice", tenant="globex", issuer=ISS),
        Principal("alice", tenant="acme", issuer=ISS_B),
        Principal("alice", tenant="acme,", issuer=ISS),
        Principal("alice', 'acme", tenant=None, issuer=ISS),
    ):
        assert limiter.hit(event, who).allowed, who


def test_revocations_of_one_tenants_issuer_never_reach_another(revocation_redis: Any) -> None:
    """Tenants with issuers of their own: a sign-out of acme's alice, and a revoked token
    of acme's issuer, leave globex's alice (same sub, same jti) alone, also when an
    issuer is spelled to run into the other's entry key."""
    revocations = Revocations(revocation_redis, max_staleness=0)
    acme_iss, globex_iss = "https://acme.idp.example/", "https://globex.idp.example/"
    revocations.revoke_subject(acme_iss, "alice", before=2_000_000_000)
    revocations.revoke_token(acme_iss, "t-1")
    revocations.revoke_token("https://x|jti|https://y/", "t-2")
    base = {"sub": "alice", "iat": 1_700_000_000, "exp": 1_700_003_600, "aud": AUD}
    assert revocations.is_revoked({**base, "iss": acme_iss})
    assert revocations.is_revoked({**base, "iss": acme_iss, "sub": "bob", "jti": "t-1"})
    assert not revocations.is_revoked({**base, "iss": globex_iss, "jti": "t-1"})
    assert not revocations.is_revoked({**base, "iss": acme_iss.upper(), "jti": "t-1"})
    odd = {**base, "sub": "b", "iss": "https://x|jti|https://y/", "jti": "t-2"}
    assert revocations.is_revoked(odd)
    assert not revocations.is_revoked({**odd, "iss": "https://x", "jti": "https://y/|t-2"})
    assert not revocations.is_revoked({**base, "iss": "https://y/", "sub": "b", "jti": "t-2"})
