"""Review 53: "cached authorizer policies never open what the route table denies", attacked
through the combinations added lately: custom rules, sender-constrained and opaque tokens,
several issuers, role hierarchies, greedy tenant routes.

Each cache test plays API Gateway's authorizer cache: it keeps the response to a first
request and asks ``secauth.policy.document_allows`` (IAM's matching, cross-checked with
``@cloud-copilot/iam-simulate`` in ``test_iam_simulate_crosscheck.py``) about other
method ARNs, then asks ``Routes.decide`` about the same requests.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; the attacks that
held are plain tests.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest
from oidc_bound_helpers import certificate
from policy_tables import ELSEWHERE, OFFICE, ContractorsFromTheOffice, over_allows
from scripted_as import active, introspector, opaque

from secauth import Authorizer, Routes
from secauth.access import AccessContext, Denial, Rule, authenticated, roles, tenant
from secauth.dpop import DpopVerifier
from secauth.dpop_replay import MemoryReplayStore
from secauth.errors import ConfigurationError, Reason
from secauth.events import Request
from secauth.policy import PolicyDocument, Statement, Unauthorized, document_allows
from secauth.principal import ClaimMapper, Principal
from secauth.role_hierarchy import RoleHierarchy
from secauth.sender_constraint import SenderConstraint, certificate_thumbprint
from secauth.testing import KeyPair
from secauth.testing_events import request_authorizer
from secauth.verifier import JwtVerifier

PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/"
ISS_A, ISS_B, AUD = "https://idp.example.com/", "https://partner.example.net/", "orders-api"
PAIR_A = KeyPair.generate("ES256", kid="a1")
PAIR_B = KeyPair.generate("ES256", kid="b1")
VERIFIER_A = JwtVerifier(issuer=ISS_A, audience=AUD, jwks={"keys": [PAIR_A.public_jwk]})
VERIFIER_B = JwtVerifier(issuer=ISS_B, audience=AUD, jwks={"keys": [PAIR_B.public_jwk]})
MULTI = JwtVerifier.multi(VERIFIER_A, VERIFIER_B)
MAPPER = ClaimMapper(tenant_claim="tenant")


def jwt(sub: str = "ann", *, pair: KeyPair = PAIR_A, iss: str = ISS_A, **claims: Any) -> str:
    body: dict[str, Any] = {"iss": iss, "aud": AUD, "sub": sub, "exp": 4_000_000_000,
                            "iat": 1_700_000_000, **claims}  # fmt: skip
    return pair.sign(body)


def rest_request(
    verb: str, path: str, token: str, *, source_ip: str = OFFICE, cert: str | None = None
) -> dict[str, Any]:
    event = request_authorizer(verb, path, token=token, source_ip=source_ip)
    if cert is not None:
        event["requestContext"]["identity"]["clientCert"] = {
            "clientCertPem": cert, "subjectDN": "CN=c", "issuerDN": "CN=c",
            "serialNumber": "01", "validity": {},
        }  # fmt: skip
    return event


def effect_on(response: Mapping[str, Any], arn: str) -> bool:
    """Whether API Gateway, holding ``response`` in its cache, lets ``arn`` through."""
    statements = response["policyDocument"]["Statement"]
    assert all("Condition" not in s for s in statements)
    document = PolicyDocument([Statement(s["Effect"], s["Resource"]) for s in statements])
    return document_allows(document, arn)


# --- custom rules that read the request for SOME principals ---------------------------------
#
# The Rule protocol lets bindings() answer per principal ("None = depends on the request").
# The Authorizer asks it once, at construction, for one probe principal
# (Principal("probe", tenant="probe")): no roles, no issuer, kind "user". A rule that reads
# the request only for principals unlike the probe passes the construction check, and its
# routes are then memoized (TTL 0) and cached (TTL > 0) as if they did not read the request.


class PartnerFromItsNetwork(Rule):
    """Tokens of the partner issuer only from the partner's network (``Principal.issuer``)."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        if principal.issuer != ISS_B:
            return None
        ip = context.request.source_ip if context.request is not None else None
        return None if ip == OFFICE else Denial(Reason.FORBIDDEN, "partner off-network")

    def bindings(self, principal: Principal) -> list[dict[str, str]] | None:
        return None if principal.issuer == ISS_B else [{}]


def test_the_memo_never_replays_an_ip_gated_allow_to_another_address() -> None:
    routes = Routes({"GET /reports/{id}": ContractorsFromTheOffice(), "GET /me": authenticated()})
    auth = Authorizer(VERIFIER_A, routes=routes, decision_log=None)  # cache_ttl=0, default memo
    bearer = jwt("carl", roles=["contractor"])
    for _ in range(3):  # seen on-site: memoized from the second sighting on
        on_site = auth.handler(rest_request("GET", "/reports/7", bearer), None)
        assert on_site["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    who = Principal("carl", roles={"contractor"}, issuer=ISS_A)
    off_site = rest_request("GET", "/reports/7", bearer, source_ip=ELSEWHERE)
    assert not routes.decide(who, "GET", "/reports/7", Request.from_event(off_site)).allowed
    answer = auth.handler(off_site, None)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_without_the_memo_the_same_rule_is_decided_on_every_request() -> None:
    routes = Routes({"GET /reports/{id}": ContractorsFromTheOffice()})
    auth = Authorizer(VERIFIER_A, routes=routes, decision_log=None, response_cache_size=0)
    bearer = jwt("carl", roles=["contractor"])
    for _ in range(3):
        auth.handler(rest_request("GET", "/reports/7", bearer), None)
    off_site = auth.handler(rest_request("GET", "/reports/7", bearer, source_ip=ELSEWHERE), None)
    assert off_site["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_a_rule_reading_the_request_for_some_issuer_is_not_cached_open() -> None:
    routes = Routes({"GET /reports/{id}": PartnerFromItsNetwork(), "GET /me": authenticated()})
    try:
        auth = Authorizer(MULTI, routes=routes, cache_ttl=300, decision_log=None)
    except ConfigurationError:
        return  # refused at construction: secure
    bearer = jwt("pat", pair=PAIR_B, iss=ISS_B)
    cached = auth.handler(rest_request("GET", "/reports/7", bearer), None)  # from the network
    # API Gateway serves the same token's request from elsewhere out of the cache.
    off_site = Request.from_event(rest_request("GET", "/reports/7", bearer, source_ip=ELSEWHERE))
    who = Principal("pat", issuer=ISS_B)
    assert not routes.decide(who, "GET", "/reports/7", off_site).allowed
    assert not effect_on(cached, PREFIX + "GET/reports/7")


def test_a_rule_reading_the_request_for_the_probe_too_is_refused_under_caching() -> None:
    class EveryoneFromTheOffice(ContractorsFromTheOffice):
        def bindings(self, principal: Principal) -> list[dict[str, str]] | None:
            return None

    routes = Routes({"GET /reports/{id}": EveryoneFromTheOffice()})
    with pytest.raises(ConfigurationError, match="depend on the request"):
        Authorizer(VERIFIER_A, routes=routes, cache_ttl=300, decision_log=None)


# --- sender-constrained tokens under a result cache ------------------------------------------


def test_dpop_is_refused_at_construction_with_a_result_cache() -> None:
    dpop = DpopVerifier(replay=MemoryReplayStore())
    for covered in (False, True):
        with pytest.raises(ConfigurationError, match="single-use"):
            Authorizer(
                VERIFIER_A,
                routes=Routes({"GET /me": authenticated()}),
                cache_ttl=300,
                sender_constraint=SenderConstraint(dpop=dpop),
                cache_key_covers_request=covered,
                decision_log=None,
            )


def test_an_explicit_mtls_constraint_without_a_covering_cache_key_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="certificate-bound"):
        Authorizer(
            VERIFIER_A,
            routes=Routes({"GET /me": authenticated()}),
            cache_ttl=300,
            sender_constraint=SenderConstraint(require="mtls"),
            decision_log=None,
        )


def test_a_certificate_bound_jwt_gets_no_cached_answer_even_with_its_certificate() -> None:
    pem = certificate("device-1")
    bound = jwt("dev", cnf={"x5t#S256": certificate_thumbprint(pem)})
    auth = Authorizer(VERIFIER_A, routes=Routes({"GET /me": authenticated()}), cache_ttl=300,
                      decision_log=None)  # fmt: skip
    with pytest.raises(Unauthorized):  # a cached allow would be reused for any certificate
        auth.handler(rest_request("GET", "/me", bound, cert=pem), None)
    plain = auth.handler(rest_request("GET", "/me", jwt("dev")), None)
    assert effect_on(plain, PREFIX + "GET/me")


def test_a_dpop_bound_jwt_sent_as_bearer_gets_no_cached_answer() -> None:
    bound = jwt("dev", cnf={"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})
    auth = Authorizer(VERIFIER_A, routes=Routes({"GET /me": authenticated()}), cache_ttl=300,
                      decision_log=None)  # fmt: skip
    with pytest.raises(Unauthorized):
        auth.handler(rest_request("GET", "/me", bound), None)


def test_covering_a_header_does_not_silently_accept_certificate_bound_tokens() -> None:
    # The deployment covers the tenant header (identity sources: Authorization, x-tenant),
    # nothing about certificates; its IdP binds some tokens to client certificates.
    routes = Routes({"GET /orders": tenant(header="x-tenant"), "GET /me": authenticated()})
    auth = Authorizer(VERIFIER_A, routes=routes, cache_ttl=300, cache_key_covers_request=True,
                      decision_log=None, claims=MAPPER)  # fmt: skip
    pem = certificate("device-1")
    bound = jwt("dev", tenant="acme", cnf={"x5t#S256": certificate_thumbprint(pem)})
    event = rest_request("GET", "/me", bound, cert=pem)
    try:
        answer = auth.handler(event, None)
    except Unauthorized:
        return  # refused: secure (the cache key was never said to hold the certificate)
    # The answer is cached under Authorization (+ x-tenant): a thief of the token with
    # another certificate, or none, is answered from it for every route it covers.
    assert not effect_on(answer, PREFIX + "GET/me")


# --- opaque tokens (RFC 7662, a scripted authorization server on loopback) -------------------


def test_an_introspected_certificate_bound_token_gets_no_cached_answer(scripted: Any) -> None:
    pem = certificate("device-2")
    bound, plain = opaque(), opaque()
    now = time.time()
    scripted.answer(bound, active(now, cnf={"x5t#S256": certificate_thumbprint(pem)}))
    scripted.answer(plain, active(now, roles=["member"]))
    routes = Routes({"GET /me": authenticated(), "DELETE /users/{id}": roles("admin")})
    auth = Authorizer(introspector(scripted), routes=routes, cache_ttl=300, decision_log=None)
    with pytest.raises(Unauthorized):
        auth.handler(rest_request("GET", "/me", bound, cert=pem), None)
    answer = auth.handler(rest_request("GET", "/me", plain), None)
    assert effect_on(answer, PREFIX + "GET/me")
    assert not effect_on(answer, PREFIX + "DELETE/users/7")
    assert not effect_on(answer, PREFIX + "DELETE/users/7/x")


# --- several issuers ---------------------------------------------------------------------------


class OurIssuerOnly(Rule):
    """A principal-only rule on ``Principal.issuer``: a cached policy may plan it."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return None if principal.issuer == ISS_A else Denial(Reason.FORBIDDEN, "partner")

    def bindings(self, principal: Principal) -> list[dict[str, str]] | None:
        return [{}] if principal.issuer == ISS_A else []


def test_a_partner_issuers_twin_never_gets_our_issuers_cached_plan() -> None:
    routes = Routes({
        "GET /me": authenticated(),
        "ANY /internal/{proxy+}": OurIssuerOnly() & roles("admin"),
        "GET /internal/status": authenticated(),
    })  # fmt: skip
    auth = Authorizer(MULTI, routes=routes, cache_ttl=300, decision_log=None)
    ours = auth.handler(rest_request("GET", "/me", jwt("alice", roles=["admin"])), None)
    assert effect_on(ours, PREFIX + "DELETE/internal/x/y")
    # Same subject, same roles, other issuer: the plan is not shared.
    twin = jwt("alice", pair=PAIR_B, iss=ISS_B, roles=["admin"])
    theirs = auth.handler(rest_request("GET", "/me", twin), None)
    partner = Principal("alice", roles={"admin"}, issuer=ISS_B)
    alphabet = ("internal", "status", "x", "Internal", "%69nternal", "me")
    assert over_allows(routes, partner, theirs, alphabet, longest=3) == []
    assert not effect_on(theirs, PREFIX + "DELETE/internal/x/y")
    assert effect_on(theirs, PREFIX + "GET/internal/status")


# --- role hierarchies with greedy tenant routes ---------------------------------------------


HIERARCHY = ClaimMapper(
    tenant_claim="tenant", role_hierarchy=RoleHierarchy({"owner": ["admin"], "admin": ["member"]})
)
TENANT_ROUTES = Routes({
    "ANY /t/{tid}/{proxy+}": tenant(path="tid") & roles("member"),
    "DELETE /t/{tid}/admin/{proxy+}": tenant(path="tid") & roles("admin"),
    "GET /t/{tid}/admin/audit": tenant(path="tid") & roles("owner"),
    "GET /me": authenticated(),
})  # fmt: skip
TENANT_ALPHABET = ("t", "acme", "globex", "admin", "audit", "x", "ADMIN", "%61dmin", "Acme", "")


@pytest.mark.parametrize(
    ("role", "first"),
    [("member", "/t/acme/x"), ("admin", "/t/acme/admin/x"), ("owner", "/me")],
)
def test_an_implied_role_widens_the_cached_policy_only_as_the_table_does(
    role: str, first: str
) -> None:
    auth = Authorizer(VERIFIER_A, routes=TENANT_ROUTES, cache_ttl=300, claims=HIERARCHY,
                      decision_log=None)  # fmt: skip
    bearer = jwt("ann", tenant="acme", roles=[role])
    verb = "DELETE" if "admin/" in first else "GET"
    cached = auth.handler(rest_request(verb, first, bearer), None)
    who = HIERARCHY.map({"iss": ISS_A, "sub": "ann", "tenant": "acme", "roles": [role]})
    assert over_allows(TENANT_ROUTES, who, cached, TENANT_ALPHABET, longest=4) == []
    # What each level must still get from the cache (not narrowed to nothing). GET on the
    # catch-all is dropped below "owner": /t/acme/ADMIN/audit also reads as the owner's
    # route, which no Deny can spell out (documented narrowing, fail closed).
    assert effect_on(cached, PREFIX + "POST/t/acme/orders")
    assert effect_on(cached, PREFIX + "GET/t/acme/orders") is (role == "owner")
    assert effect_on(cached, PREFIX + "GET/t/acme/admin/audit") is (role == "owner")
    assert effect_on(cached, PREFIX + "DELETE/t/acme/admin/x") is (role != "member")
    assert not effect_on(cached, PREFIX + "GET/t/globex/orders")
    assert not effect_on(cached, PREFIX + "DELETE/t/globex/admin/x")


def test_a_tenant_claim_naming_a_route_literal_opens_nothing_else() -> None:
    # A tenant called "admin": /t/admin/admin/audit reads its tenant and the literal.
    auth = Authorizer(VERIFIER_A, routes=TENANT_ROUTES, cache_ttl=300, claims=HIERARCHY,
                      decision_log=None)  # fmt: skip
    bearer = jwt("m", tenant="admin", roles=["member"])
    cached = auth.handler(rest_request("GET", "/t/admin/x", bearer), None)
    who = Principal("m", tenant="admin", roles={"member"}, issuer=ISS_A)
    assert over_allows(TENANT_ROUTES, who, cached, TENANT_ALPHABET, longest=4) == []
    assert not effect_on(cached, PREFIX + "GET/t/admin/admin/audit")
    assert not effect_on(cached, PREFIX + "DELETE/t/admin/admin/x")
