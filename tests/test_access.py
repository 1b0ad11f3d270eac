"""Access rules and the route table: every rule's allow and deny (with its exact reason),
composition, custom rules, network and service identity rules, route matching and
specificity, refused path spellings, configuration errors and ``allowed_routes``.

Requests come from Lambda events shaped like API Gateway's (REST v1, HTTP API v2, ALB,
WebSocket authorizer) through :class:`secauth.events.Request`. Generated-input
properties live in ``test_access_properties.py``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from forged_contexts import OwnerOnly

from secauth.access import (
    AccessContext,
    AllowedRoute,
    Decision,
    Denial,
    Routes,
    Rule,
    authenticated,
    caller_arn,
    client_cert,
    public,
    roles,
    rule,
    scopes,
    source_ip,
    tenant,
)
from secauth.errors import (
    AccessDenied,
    ConfigurationError,
    Forbidden,
    InsufficientScope,
    Reason,
    TenantMismatch,
)
from secauth.events import EventKind, Request
from secauth.principal import ClaimMapper, Principal
from secauth.testing import KeyPair
from secauth.verifier import JwtVerifier

ACCOUNT = "123456789012"
POOL_ID = "eu-west-1_AbC123xyz"
POOL = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL_ID}"
APP_CLIENT = "3n4b5urk1ft4fl3mg5e62d9ado"

ALICE = Principal("alice", tenant="acme", roles={"member"}, scopes={"orders.read"})
ADMIN = Principal("root", tenant="acme", roles={"admin", "member"}, scopes={"orders.read"})
ANON = Principal.anonymous()


# --- events -----------------------------------------------------------------------------------


def rest_event(
    method: str = "GET",
    path: str = "/orders",
    *,
    source_ip: str | None = "198.51.100.7",
    user_arn: str | None = None,
    caller: str | None = None,
    cert: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event as Lambda receives it."""
    identity: dict[str, Any] = {
        "cognitoIdentityPoolId": None,
        "accountId": ACCOUNT if user_arn else None,
        "cognitoIdentityId": None,
        "caller": caller,
        "sourceIp": source_ip,
        "principalOrgId": None,
        "accessKey": "ASIAEXAMPLEKEY" if user_arn else None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "userArn": user_arn,
        "userAgent": "curl/8.4.0",
        "user": caller,
    }
    if cert is not None:
        identity["clientCert"] = cert
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {"Host": "api.example.com", "User-Agent": "curl/8.4.0", **(headers or {})},
        "multiValueHeaders": None,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourceId": "abc123",
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "extendedRequestId": "c4lYGFQWoAMEbVg=",
            "requestTime": "14/Nov/2023:22:13:20 +0000",
            "path": f"/prod{path}",
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": "prod",
            "domainPrefix": "api",
            "requestTimeEpoch": 1_700_000_000_000,
            "requestId": "5f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
            "identity": identity,
            "domainName": "api.example.com",
            "apiId": "a1b2c3d4e5",
        },
        "body": None,
        "isBase64Encoded": False,
    }


def http_event(
    method: str = "GET",
    path: str = "/orders",
    *,
    source_ip: str = "198.51.100.7",
    cert: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event."""
    context: dict[str, Any] = {
        "accountId": ACCOUNT,
        "apiId": "a1b2c3d4e5",
        "domainName": "api.example.com",
        "domainPrefix": "api",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": "curl/8.4.0",
        },
        "requestId": "JKJaXmPLvHcESHA=",
        "routeKey": "$default",
        "stage": "$default",
        "time": "14/Nov/2023:22:13:20 +0000",
        "timeEpoch": 1_700_000_000_000,
    }
    if cert is not None:
        context["authentication"] = {"clientCert": cert}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": {"host": "api.example.com", **(headers or {})},
        "requestContext": context,
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    return event


def alb_event(path: str = "/orders", *, forwarded_for: str = "203.0.113.9") -> dict[str, Any]:
    """An ALB target event: the client IP is only in a header the client may forge."""
    return {
        "requestContext": {
            "elb": {
                "targetGroupArn": f"arn:aws:elasticloadbalancing:eu-west-1:{ACCOUNT}:"
                "targetgroup/orders/73e2d6bc24d8a067"
            }
        },
        "httpMethod": "GET",
        "path": path,
        "queryStringParameters": {},
        "headers": {"host": "orders.example.com", "x-forwarded-for": forwarded_for},
        "body": "",
        "isBase64Encoded": False,
    }


def req(event: dict[str, Any]) -> Request:
    return Request.from_event(event)


def ctx(request: Request | None = None, **params: str) -> AccessContext:
    """A context for checking a rule directly."""
    method = request.method if request else "GET"
    path = request.path if request else "/"
    return AccessContext(method, path, params, request)


CERT = {
    "clientCertPem": "-----BEGIN CERTIFICATE-----\nMIIEZTCCAk0CAQEwDQYJKoZIhvcNAQELBQAw...\n"
    "-----END CERTIFICATE-----",
    "subjectDN": "C=DE,O=Partner A GmbH,OU=Integrations,CN=partner-a.example.com",
    "issuerDN": "C=US,O=Example Corp,OU=Security,CN=Example Private CA G2",
    "serialNumber": "3b:9c:2a:11:0e:5f:7d:42",
    "validity": {"notBefore": "May 28 12:30:02 2023 GMT", "notAfter": "Aug  5 09:36:04 2025 GMT"},
}


# --- the typical rule ---------------------------------------------------------------------------

TYPICAL = Routes(
    {
        "DELETE /users/{id}": roles("admin"),
        "GET /users/{id}": authenticated(),
    }
)


def cognito_claims(groups: list[str] | None) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "8f2e5b1c-7a3d-4e6f-9b0a-1c2d3e4f5a6b",
        "iss": POOL,
        "version": 2,
        "client_id": APP_CLIENT,
        "token_use": "access",
        "scope": "openid users/users.write",
        "auth_time": now,
        "iat": now,
        "exp": now + 3600,
        "jti": "9a8b7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4",
        "username": "alice",
    }
    if groups is not None:
        claims["cognito:groups"] = groups
    return claims


@pytest.mark.parametrize(
    ("groups", "allowed"),
    [
        (["admin"], True),
        (["admin", "billing"], True),
        (["billing"], False),
        ([], False),
        (None, False),
    ],
)
def test_only_admin_may_delete_a_user(groups: list[str] | None, allowed: bool) -> None:
    """The typical rule: a Cognito access token is signed, verified, mapped with the Cognito
    preset, and only the ``admin`` group may ``DELETE /users/{id}``; everyone else is
    ``forbidden`` there but may still ``GET`` the user."""
    pair = KeyPair.generate("ES256", kid="cognito-1")
    verifier = JwtVerifier.cognito(
        user_pool_id=POOL_ID,
        client_id=APP_CLIENT,
        token_use="access",
        jwks={"keys": [pair.public_jwk]},
    )
    principal = ClaimMapper.cognito().map(verifier.verify(pair.sign(cognito_claims(groups))))
    decision = TYPICAL.decide(principal, "DELETE", "/users/42")
    assert decision.allowed is allowed
    assert decision.route == "DELETE /users/{id}"
    assert decision.params == {"id": "42"}
    if allowed:
        assert decision.reason is None
        assert decision.denial is None
    else:
        assert decision.reason is Reason.FORBIDDEN
        with pytest.raises(Forbidden) as exc:
            TYPICAL.authorize(principal, "DELETE", "/users/42")
        assert exc.value.status == 403
    assert TYPICAL.decide(principal, "GET", "/users/42").allowed


def test_typical_rule_denies_anonymous_and_other_verbs() -> None:
    """Anonymous callers are forbidden; a verb the table does not list is denied by default."""
    assert TYPICAL.decide(ANON, "DELETE", "/users/42").reason is Reason.FORBIDDEN
    assert TYPICAL.decide(ANON, "GET", "/users/42").reason is Reason.FORBIDDEN
    put = TYPICAL.decide(ADMIN, "PUT", "/users/42")
    assert put.allowed is False
    assert put.route is None
    assert put.reason is Reason.FORBIDDEN


# --- principal rules ----------------------------------------------------------------------------


def test_roles_any_of_and_all_of() -> None:
    """``roles`` allows on any listed role; ``all_of=True`` needs every one; denial is forbidden."""
    any_rule = roles("admin", "auditor")
    all_rule = roles("admin", "member", all_of=True)
    assert any_rule.check(ADMIN, ctx()) is None
    assert any_rule.check(Principal("a", roles={"auditor"}), ctx()) is None
    denial = any_rule.check(ALICE, ctx())
    assert denial is not None
    assert denial.reason is Reason.FORBIDDEN
    assert all_rule.check(ADMIN, ctx()) is None
    denial = all_rule.check(Principal("a", roles={"admin"}), ctx())
    assert denial is not None
    assert denial.reason is Reason.FORBIDDEN


def test_roles_are_exact_strings() -> None:
    """No case folding, prefixing or trimming of role names."""
    rule_ = roles("admin")
    for near in ("Admin", "ADMIN", "admin ", "admins", "adm"):
        denial = rule_.check(Principal("a", roles={near}), ctx())
        assert denial is not None, near
        assert denial.reason is Reason.FORBIDDEN


def test_scopes_any_of_and_all_of_deny_with_insufficient_scope() -> None:
    """``scopes`` works like ``roles`` but its denial is ``insufficient_scope``."""
    reader = Principal("r", scopes={"orders.read"})
    both = Principal("b", scopes={"orders.read", "orders.write"})
    assert scopes("orders.read", "orders.write").check(reader, ctx()) is None
    denial = scopes("orders.read", "orders.write", all_of=True).check(reader, ctx())
    assert denial is not None
    assert denial.reason is Reason.INSUFFICIENT_SCOPE
    assert scopes("orders.read", "orders.write", all_of=True).check(both, ctx()) is None
    denial = scopes("orders.write").check(reader, ctx())
    assert denial is not None
    assert denial.reason is Reason.INSUFFICIENT_SCOPE
    assert isinstance(denial.to_error(), InsufficientScope)


def test_roles_do_not_satisfy_scopes_or_the_other_way_round() -> None:
    """A role named like a scope is not that scope, and vice versa."""
    p = Principal("x", roles={"orders.read"}, scopes={"admin"})
    assert scopes("orders.read").check(p, ctx()) is not None
    assert roles("admin").check(p, ctx()) is not None


def test_authenticated_and_public() -> None:
    """``authenticated`` denies only the anonymous principal; ``public`` allows everyone."""
    denial = authenticated().check(ANON, ctx())
    assert denial is not None
    assert denial.reason is Reason.FORBIDDEN
    assert authenticated().check(ALICE, ctx()) is None
    assert authenticated().check(Principal("k", kind="api_key"), ctx()) is None
    assert public().check(ANON, ctx()) is None
    assert public().check(ALICE, ctx()) is None


@pytest.mark.parametrize(
    ("factory", "names"),
    [
        (roles, ()),
        (roles, ("",)),
        (roles, (["admin"],)),  # a list instead of names
        (roles, ("admin", None)),
        (scopes, ()),
        (scopes, ("orders.read", "")),
    ],
)
def test_rule_configuration_errors(factory: Any, names: tuple[Any, ...]) -> None:
    """Empty or non-string names are refused when the rule is built."""
    kind = factory.__name__
    with pytest.raises(ConfigurationError, match=rf"{kind}\(\.\.\.\) needs one or more non-empty"):
        factory(*names)


# --- tenant ---------------------------------------------------------------------------------------


def test_tenant_from_the_path() -> None:
    """Same tenant passes; another, a case variant, an empty value or no parameter is
    ``tenant_mismatch``."""
    rule_ = tenant(path="tenantId")
    assert rule_.check(ALICE, ctx(tenantId="acme")) is None
    for other in ("globex", "ACME", "Acme", "acme ", " acme", "acm", "acmex", ""):
        denial = rule_.check(ALICE, ctx(tenantId=other))
        assert denial is not None, other
        assert denial.reason is Reason.TENANT_MISMATCH
    denial = rule_.check(ALICE, ctx(other="acme"))
    assert denial is not None
    assert denial.reason is Reason.TENANT_MISMATCH


def test_tenant_needs_a_principal_with_a_tenant() -> None:
    """A principal without a tenant, or the anonymous one, never passes a tenant rule."""
    rule_ = tenant(path="tenantId")
    for p in (Principal("u"), ANON, Principal("u", tenant="")):
        denial = rule_.check(p, ctx(tenantId="acme"))
        assert denial is not None
        assert denial.reason is Reason.TENANT_MISMATCH


def test_tenant_from_a_header_case_insensitive_name_exact_value() -> None:
    """``tenant(header=...)`` reads the header whatever the case of its name; the value is
    compared exactly."""
    rule_ = tenant(header="X-Tenant-Id")
    good = req(http_event(headers={"X-TENANT-ID": "acme"}))
    assert rule_.check(ALICE, ctx(good)) is None
    rest = req(rest_event(headers={"x-tenant-id": "acme"}))
    assert rule_.check(ALICE, ctx(rest)) is None
    for event in (
        http_event(headers={"x-tenant-id": "globex"}),
        http_event(headers={"x-tenant-id": "Acme"}),
        http_event(headers={"x-other": "acme"}),
        http_event(query={"x-tenant-id": "acme"}),  # a query parameter is not the header
    ):
        denial = rule_.check(ALICE, ctx(req(event)))
        assert denial is not None
        assert denial.reason is Reason.TENANT_MISMATCH
    denial = rule_.check(ALICE, ctx(None))
    assert denial is not None
    assert denial.reason is Reason.TENANT_MISMATCH


def test_tenant_from_the_query() -> None:
    """``tenant(query=...)`` reads the query parameter; the name is case-sensitive."""
    rule_ = tenant(query="tenant")
    assert rule_.check(ALICE, ctx(req(rest_event(query={"tenant": "acme"})))) is None
    for query in ({"tenant": "globex"}, {"Tenant": "acme"}, {}):
        denial = rule_.check(ALICE, ctx(req(rest_event(query=query))))
        assert denial is not None
        assert denial.reason is Reason.TENANT_MISMATCH


def test_tenant_encodings() -> None:
    """A value is percent-decoded once; double encoding is refused, an encoded other tenant
    is another tenant."""
    rule_ = tenant(header="x-tenant-id")

    def check(value: str) -> Denial | None:
        return rule_.check(ALICE, ctx(req(http_event(headers={"x-tenant-id": value}))))

    assert check("acm%65") is None  # "acme", spelled with one encoding
    for value in ("%2561cme", "acm%2565", "gl%6Fbex", "%41cme", "acme%00", "acme%", "%zzacme"):
        denial = check(value)
        assert denial is not None, value
        assert denial.reason is Reason.TENANT_MISMATCH


@pytest.mark.parametrize(
    "kwargs", [{}, {"path": "t", "header": "x-t"}, {"path": ""}, {"query": "q", "header": "h"}]
)
def test_tenant_needs_exactly_one_source(kwargs: dict[str, str]) -> None:
    """``tenant`` takes exactly one of path=, header=, query=."""
    with pytest.raises(ConfigurationError, match="exactly one of path=, header= or query="):
        tenant(**kwargs)


def test_tenant_mismatch_in_a_table_raises_tenant_mismatch() -> None:
    """Through the table, a foreign tenant is a 403 ``TenantMismatch``."""
    table = Routes({"ANY /tenants/{tenantId}/{proxy+}": tenant(path="tenantId") & roles("member")})
    assert table.decide(ALICE, "GET", "/tenants/acme/orders/1").allowed
    with pytest.raises(TenantMismatch) as exc:
        table.authorize(ALICE, "GET", "/tenants/globex/orders/1")
    assert exc.value.reason is Reason.TENANT_MISMATCH
    assert exc.value.status == 403


# --- composition ---------------------------------------------------------------------------------


def test_and_reports_the_first_failing_rule() -> None:
    """``a & b`` allows only if both allow; the denial is that of the first failing rule."""
    rule_ = tenant(path="t") & roles("admin") & scopes("orders.write")
    assert rule_.check(Principal("p", tenant="acme", roles={"admin"}, scopes={"orders.write"}),
                       ctx(t="acme")) is None  # fmt: skip
    cases = [
        (ALICE, "globex", Reason.TENANT_MISMATCH),
        (ALICE, "acme", Reason.FORBIDDEN),
        (ADMIN, "acme", Reason.INSUFFICIENT_SCOPE),
    ]
    for principal, t, reason in cases:
        denial = rule_.check(principal, ctx(t=t))
        assert denial is not None
        assert denial.reason is reason


def test_or_allows_on_any_and_reports_the_last_denial() -> None:
    """``a | b`` allows if either allows; when both deny, the last alternative's denial counts."""
    rule_ = roles("admin") | scopes("orders.write")
    assert rule_.check(ADMIN, ctx()) is None
    assert rule_.check(Principal("w", scopes={"orders.write"}), ctx()) is None
    denial = rule_.check(ALICE, ctx())
    assert denial is not None
    assert denial.reason is Reason.INSUFFICIENT_SCOPE
    denial = (scopes("orders.write") | roles("admin")).check(ALICE, ctx())
    assert denial is not None
    assert denial.reason is Reason.FORBIDDEN


def test_not_inverts_and_denies_with_forbidden() -> None:
    """``~a`` denies (forbidden) exactly when ``a`` allows; ``~~a`` is ``a``."""
    not_banned = ~roles("banned")
    assert not_banned.check(ALICE, ctx()) is None
    denial = not_banned.check(Principal("b", roles={"banned"}), ctx())
    assert denial is not None
    assert denial.reason is Reason.FORBIDDEN
    assert "banned" in denial.detail
    twice = ~~roles("admin")
    assert twice.check(ADMIN, ctx()) is None
    assert twice.check(ALICE, ctx()) is not None
    denial = (~tenant(path="t")).check(ALICE, ctx(t="acme"))
    assert denial is not None
    assert denial.reason is Reason.FORBIDDEN


def test_nested_composition() -> None:
    """Admins anywhere, members in their own tenant, nobody suspended."""
    rule_ = (roles("admin") | (tenant(path="t") & roles("member"))) & ~roles("suspended")
    assert rule_.check(ALICE, ctx(t="acme")) is None
    assert rule_.check(ADMIN, ctx(t="globex")) is None
    denial = rule_.check(ALICE, ctx(t="globex"))
    assert denial is not None
    assert denial.reason is Reason.TENANT_MISMATCH  # the last alternative's own first denial
    suspended = Principal("s", tenant="acme", roles={"admin", "suspended"})
    denial = rule_.check(suspended, ctx(t="acme"))
    assert denial is not None
    assert denial.reason is Reason.FORBIDDEN


def test_composition_with_a_non_rule_is_a_configuration_error() -> None:
    """``roles("a") & "admin"`` is a mistake caught at once."""
    with pytest.raises(ConfigurationError, match=r"access rule such as roles\('admin'\), got str"):
        roles("a") & "admin"  # type: ignore[operator]
    with pytest.raises(ConfigurationError, match="expected an access rule, got bool"):
        roles("a") | True  # type: ignore[operator]


def test_rule_reprs_name_the_rule() -> None:
    """Reprs (used as log-only denial detail) read like the code that built the rule."""
    composite = (roles("b", "a") | scopes("s", all_of=True)) & ~tenant(header="X-T")
    assert repr(composite) == "(roles(a, b) | scopes(s, all_of)) & ~tenant(header='x-t')"
    assert repr(authenticated()) == "authenticated()"
    assert repr(public()) == "public()"


def test_denial_to_error_maps_reasons_to_403_errors() -> None:
    """Each stable reason becomes its AccessDenied subclass; unknown reasons become Forbidden."""
    assert type(Denial(Reason.FORBIDDEN, "x").to_error()) is Forbidden
    assert type(Denial(Reason.INSUFFICIENT_SCOPE, "x").to_error()) is InsufficientScope
    assert type(Denial(Reason.TENANT_MISMATCH, "x").to_error()) is TenantMismatch
    error = Denial(Reason.RATE_LIMITED, "odd").to_error()
    assert type(error) is Forbidden
    assert isinstance(error, AccessDenied)
    assert error.status == 403
    assert error.detail == {"rule": "odd"}


# --- custom rules -------------------------------------------------------------------------------


class BusinessHeader(Rule):
    """Depends on a request header: no bindings, so never in allowed_routes."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        request = context.request
        if request is not None and request.headers.get("x-shift") == "day":
            return None
        return Denial(Reason.FORBIDDEN, "outside business hours")


@rule
def verified_email(principal: Principal, context: AccessContext) -> bool:
    return principal.claims.get("email_verified") is True


@rule(reason=Reason.INSUFFICIENT_SCOPE)
def can_write(principal: Principal, context: AccessContext) -> bool:
    return "orders.write" in principal.scopes


CUSTOM = Routes(
    {
        "GET /users/{userId}/profile": OwnerOnly() | roles("admin"),
        "POST /orders": can_write & tenant(header="x-tenant-id"),
        "GET /settings": verified_email,
        "GET /shift-report": BusinessHeader() & roles("member"),
    }
)


def test_subclassed_rule_in_a_table() -> None:
    """A ``Rule`` subclass composes and decides like the built-ins."""
    assert CUSTOM.decide(ALICE, "GET", "/users/alice/profile").allowed
    denial = CUSTOM.decide(ALICE, "GET", "/users/root/profile")
    assert denial.reason is Reason.FORBIDDEN
    assert CUSTOM.decide(ADMIN, "GET", "/users/alice/profile").allowed
    day = req(rest_event("GET", "/shift-report", headers={"X-Shift": "day"}))
    night = req(rest_event("GET", "/shift-report", headers={"X-Shift": "night"}))
    assert CUSTOM.decide(ALICE, "GET", "/shift-report", day).allowed
    assert CUSTOM.decide(ALICE, "GET", "/shift-report", night).reason is Reason.FORBIDDEN
    assert CUSTOM.decide(ANON, "GET", "/shift-report", day).reason is Reason.FORBIDDEN


def test_function_rules_from_the_decorator() -> None:
    """``@rule`` turns a predicate into a rule with a chosen denial reason."""
    writer = Principal("w", tenant="acme", scopes={"orders.write"})
    ok = req(http_event("POST", "/orders", headers={"x-tenant-id": "acme"}))
    assert CUSTOM.decide(writer, "POST", "/orders", ok).allowed
    assert CUSTOM.decide(ALICE, "POST", "/orders", ok).reason is Reason.INSUFFICIENT_SCOPE
    other = req(http_event("POST", "/orders", headers={"x-tenant-id": "globex"}))
    assert CUSTOM.decide(writer, "POST", "/orders", other).reason is Reason.TENANT_MISMATCH
    verified = Principal("v", claims={"email_verified": True})
    assert CUSTOM.decide(verified, "GET", "/settings").allowed
    unverified = Principal("v", claims={"email_verified": "true"})  # a string is not true
    assert CUSTOM.decide(unverified, "GET", "/settings").reason is Reason.FORBIDDEN
    assert repr(verified_email) == "verified_email"


@pytest.mark.parametrize("answer", [1, "yes", [True], None, object()])
def test_function_rule_allows_only_on_true(answer: object) -> None:
    """Only ``True`` allows: a truthy non-bool answer from a custom rule denies."""
    rule_ = rule(lambda principal, context: answer)
    denial = rule_.check(ALICE, ctx())
    assert denial is not None
    assert denial.reason is Reason.FORBIDDEN


def test_a_custom_rule_that_raises_never_allows() -> None:
    """An exception in a custom rule propagates out of ``decide``; it is never an allow."""

    @rule
    def broken(principal: Principal, context: AccessContext) -> bool:
        raise RuntimeError("database down")

    table = Routes({"GET /x": broken | public()})
    with pytest.raises(RuntimeError, match="database down"):
        table.decide(ALICE, "GET", "/x")


def test_base_rule_check_is_abstract() -> None:
    """A subclass that forgets ``check`` fails loudly instead of allowing."""

    class Forgot(Rule):
        pass

    with pytest.raises(NotImplementedError):
        Routes({"GET /x": Forgot()}).decide(ALICE, "GET", "/x")


def test_custom_rules_in_allowed_routes() -> None:
    """A subclass with ``bindings`` gets its parameter filled in; request-dependent custom
    rules (no bindings) are left out."""
    assert CUSTOM.allowed_routes(ALICE) == [
        AllowedRoute("GET", "/users/alice/profile"),
    ]
    assert CUSTOM.allowed_routes(ADMIN) == [
        AllowedRoute("GET", "/users/root/profile"),
        AllowedRoute("GET", "/users/{userId}/profile"),
    ]


# --- source IP ---------------------------------------------------------------------------------------

OFFICE = source_ip(allow=["203.0.113.0/24", "2001:db8:1234::/48"], deny=["203.0.113.128/25"])


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [
        ("203.0.113.10", True),
        ("203.0.113.127", True),
        ("203.0.113.128", False),  # deny wins inside the allowed /24
        ("203.0.113.255", False),
        ("203.0.114.1", False),
        ("2001:db8:1234::1", True),
        ("2001:db8:1234:ffff:ffff:ffff:ffff:ffff", True),
        ("2001:db8:1235::1", False),
        ("::ffff:203.0.113.10", True),  # IPv4-mapped IPv6 is its IPv4 address
        ("::ffff:cb00:710a", True),  # the same, in hex
        ("::ffff:203.0.113.200", False),  # ... and the deny list applies to it too
        ("::ffff:198.51.100.1", False),
        ("203.0.113.10.1", False),
        ("", False),
        ("not-an-ip", False),
        ("203.0.113.10, 10.0.0.1", False),
    ],
)
def test_source_ip_allow_and_deny(ip: str, allowed: bool) -> None:
    """CIDR allow/deny for IPv4 and IPv6; deny wins; unusable addresses are denied."""
    denial = OFFICE.check(ALICE, ctx(req(rest_event(source_ip=ip or None))))
    if allowed:
        assert denial is None
    else:
        assert denial is not None
        assert denial.reason is Reason.FORBIDDEN


def test_source_ip_from_http_api_and_not_from_forwarded_headers() -> None:
    """HTTP API ``http.sourceIp`` counts; ``X-Forwarded-For`` never does; ALB events (IP only
    in a client-controlled header) are denied."""
    assert OFFICE.check(ALICE, ctx(req(http_event(source_ip="203.0.113.9")))) is None
    spoofed = rest_event(source_ip="198.51.100.7", headers={"X-Forwarded-For": "203.0.113.9"})
    assert OFFICE.check(ALICE, ctx(req(spoofed))) is not None
    denial = OFFICE.check(ALICE, ctx(req(alb_event(forwarded_for="203.0.113.9"))))
    assert denial is not None
    assert denial.detail == "no usable source IP"
    assert OFFICE.check(ALICE, ctx(None)) is not None


def test_source_ip_deny_only_list() -> None:
    """With only a deny list, every other address passes."""
    blocklist = source_ip(deny=["192.0.2.0/24", "2001:db8:bad::/48"])
    assert blocklist.check(ALICE, ctx(req(rest_event(source_ip="198.51.100.1")))) is None
    assert blocklist.check(ALICE, ctx(req(rest_event(source_ip="2001:db8:600d::1")))) is None
    assert blocklist.check(ALICE, ctx(req(rest_event(source_ip="192.0.2.1")))) is not None
    assert blocklist.check(ALICE, ctx(req(rest_event(source_ip="::ffff:192.0.2.1")))) is not None
    assert blocklist.check(ALICE, ctx(req(rest_event(source_ip="2001:db8:bad::1")))) is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs allow= or deny= networks"),
        ({"allow": ["203.0.113.0/33"]}, "source_ip:"),
        ({"allow": ["203.0.113.1/24"]}, "has host bits set"),
        ({"deny": ["example.com"]}, "source_ip:"),
        ({"deny": ["::ffff:203.0.113.0/120"]}, "write the IPv4-mapped network"),
        ({"allow": ["::ffff:0:0/96"]}, "as IPv4"),
    ],
)
def test_source_ip_configuration_errors(kwargs: dict[str, list[str]], message: str) -> None:
    """Bad CIDRs, host bits set and IPv4-mapped networks (which could never match, since
    addresses are compared as IPv4) fail at construction."""
    with pytest.raises(ConfigurationError, match=message):
        source_ip(**kwargs)


# --- IAM caller ARN ------------------------------------------------------------------------------------

DEPLOYERS = caller_arn(
    f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer-*",
    f"arn:aws:iam::{ACCOUNT}:user/release.bot",
)


@pytest.mark.parametrize(
    ("user_arn", "allowed"),
    [
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer-ci/GitHubActions", True),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer-prod/i-0abc", True),
        (f"arn:aws:iam::{ACCOUNT}:user/release.bot", True),
        (f"arn:aws:iam::{ACCOUNT}:user/releaseXbot", False),  # '.' is not a wildcard
        (f"arn:aws:iam::{ACCOUNT}:user/release.bot2", False),  # whole-ARN match
        (f"arn:aws:iam::{ACCOUNT}:user/path/release.bot", False),
        ("arn:aws:sts::210987654321:assumed-role/deployer-ci/x", False),  # another account
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Deployer-ci/x", False),  # case-sensitive
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/admin/deployer-x", False),
        (None, False),
    ],
)
def test_caller_arn_patterns_on_rest_identity(user_arn: str | None, allowed: bool) -> None:
    """``requestContext.identity.userArn`` of a SigV4 (IAM) REST request must match a pattern;
    ``*`` is the only wildcard, everything else is literal, and the whole ARN must match."""
    denial = DEPLOYERS.check(ALICE, ctx(req(rest_event(user_arn=user_arn))))
    if allowed:
        assert denial is None
    else:
        assert denial is not None
        assert denial.reason is Reason.FORBIDDEN


def test_caller_arn_falls_back_to_caller() -> None:
    """Without ``userArn`` the ``caller`` field is used; a request without identity is denied."""
    event = rest_event(caller=f"arn:aws:iam::{ACCOUNT}:user/release.bot")
    assert DEPLOYERS.check(ALICE, ctx(req(event))) is None
    assert DEPLOYERS.check(ALICE, ctx(req(rest_event(caller="AIDAEXAMPLEUSERID")))) is not None
    assert DEPLOYERS.check(ALICE, ctx(None)) is not None


@pytest.mark.parametrize(
    ("patterns", "message"),
    [((), "needs at least one pattern"), (("deployer-*",), "caller_arn patterns are ARNs")],
)
def test_caller_arn_configuration_errors(patterns: tuple[str, ...], message: str) -> None:
    """No pattern, or a pattern that is not an ARN, fails at construction."""
    with pytest.raises(ConfigurationError, match=message):
        caller_arn(*patterns)


# --- mTLS client certificate -----------------------------------------------------------------------------

PARTNERS = client_cert(
    subjects=[CERT["subjectDN"]],
    issuers=["C=US,O=Example Corp,OU=Security,CN=Example Private CA G2"],
)


def test_client_cert_subject_and_issuer_rest_and_http() -> None:
    """The subject DN (and issuer DN when listed) must equal what API Gateway reports, in the
    REST ``identity.clientCert`` and the HTTP API ``authentication.clientCert``."""
    assert PARTNERS.check(ALICE, ctx(req(rest_event(cert=CERT)))) is None
    assert PARTNERS.check(ALICE, ctx(req(http_event(cert=CERT)))) is None


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (
            {"subjectDN": "C=DE,O=Partner B GmbH,OU=Integrations,CN=partner-b.example.com"},
            "subject",
        ),
        (
            {"subjectDN": "c=de,o=partner a gmbh,ou=integrations,cn=partner-a.example.com"},
            "subject",
        ),
        ({"subjectDN": CERT["subjectDN"] + ",CN=extra"}, "subject"),
        ({"subjectDN": None}, "subject"),
        ({"issuerDN": "C=US,O=Evil Corp,CN=Evil CA"}, "issuer"),
        ({"issuerDN": None}, "issuer"),
    ],
)
def test_client_cert_denials(change: dict[str, Any], detail: str) -> None:
    """Another subject, a case variant, a longer DN, a missing subject or another issuer."""
    cert = {**CERT, **change}
    denial = PARTNERS.check(ALICE, ctx(req(rest_event(cert=cert))))
    assert denial is not None
    assert denial.reason is Reason.FORBIDDEN
    assert detail in denial.detail


def test_client_cert_missing_or_no_request() -> None:
    """No certificate (no mTLS on the domain) or no request at all is denied."""
    assert PARTNERS.check(ALICE, ctx(req(rest_event()))) is not None
    assert PARTNERS.check(ALICE, ctx(req(http_event()))) is not None
    assert PARTNERS.check(ALICE, ctx(None)) is not None


def test_client_cert_any_issuer_when_not_listed_and_config_error() -> None:
    """Without ``issuers`` any issuer passes; without ``subjects`` it is a configuration error."""
    any_issuer = client_cert(subjects=[CERT["subjectDN"]])
    other_ca = {**CERT, "issuerDN": "CN=Other CA"}
    assert any_issuer.check(ALICE, ctx(req(rest_event(cert=other_ca)))) is None
    with pytest.raises(ConfigurationError, match="needs the allowed subjects"):
        client_cert(issuers=["CN=Example CA"])


def test_network_iam_and_mtls_rules_in_one_table() -> None:
    """All kinds of rules live in one table and combine with token rules."""
    table = Routes(
        {
            "POST /deployments": DEPLOYERS,
            "ANY /partners/{proxy+}": PARTNERS & source_ip(allow=["198.51.100.0/24"]),
            "GET /admin/{proxy+}": roles("admin") & OFFICE,
        }
    )
    deploy = req(rest_event("POST", "/deployments", user_arn=f"arn:aws:sts::{ACCOUNT}:"
                            "assumed-role/deployer-ci/run-42"))  # fmt: skip
    assert table.decide(ANON, "POST", "/deployments", deploy).allowed
    assert table.decide(ANON, "POST", "/deployments", req(rest_event("POST"))).allowed is False
    partner = req(rest_event("PUT", "/partners/orders/9", cert=CERT))
    assert table.decide(ANON, "PUT", "/partners/orders/9", partner).allowed
    elsewhere = req(rest_event("PUT", "/partners/orders/9", cert=CERT, source_ip="192.0.2.1"))
    assert table.decide(ANON, "PUT", "/partners/orders/9", elsewhere).allowed is False
    office = req(rest_event("GET", "/admin/stats", source_ip="203.0.113.5"))
    home = req(rest_event("GET", "/admin/stats", source_ip="192.0.2.5"))
    assert table.decide(ADMIN, "GET", "/admin/stats", office).allowed
    assert table.decide(ADMIN, "GET", "/admin/stats", home).reason is Reason.FORBIDDEN
    assert table.decide(ALICE, "GET", "/admin/stats", office).reason is Reason.FORBIDDEN
    # Request-dependent rules are never in the cache-safe list.
    assert table.allowed_routes(ADMIN) == []


# --- route matching and specificity ----------------------------------------------------------------------

SPECIFIC = Routes(
    {
        "GET /a/b/c": public(),
        "ANY /a/b/c": public(),
        "GET /a/{x}/c": public(),
        "GET /a/{proxy+}": public(),
        "GET /{y}/b/{z}": public(),
        "GET /{y}/q": public(),
        "ANY /users/me": public(),
        "GET /users/{id}": public(),
        "ANY /{proxy+}": public(),
        "GET /": public(),
    }
)


@pytest.mark.parametrize(
    ("method", "path", "route", "params"),
    [
        ("GET", "/a/b/c", "GET /a/b/c", {}),  # all literal, exact verb
        ("POST", "/a/b/c", "ANY /a/b/c", {}),  # same template, ANY after the exact verb
        ("GET", "/a/z/c", "GET /a/{x}/c", {"x": "z"}),  # literal, then param, then literal
        ("GET", "/a/z/d", "GET /a/{proxy+}", {"proxy": "z/d"}),  # param dead end: backtrack
        ("GET", "/a/b/c/d", "GET /a/{proxy+}", {"proxy": "b/c/d"}),
        ("GET", "/k/b/c", "GET /{y}/b/{z}", {"y": "k", "z": "c"}),
        ("GET", "/a/q", "GET /a/{proxy+}", {"proxy": "q"}),  # leftmost literal wins over /{y}/q
        ("GET", "/users/me", "ANY /users/me", {}),  # a literal with ANY beats {id} with GET
        ("GET", "/users/7", "GET /users/{id}", {"id": "7"}),
        ("DELETE", "/users/7", "ANY /{proxy+}", {"proxy": "users/7"}),  # verb falls back
        ("POST", "/a/z/c", "ANY /{proxy+}", {"proxy": "a/z/c"}),
        ("GET", "/a", "ANY /{proxy+}", {"proxy": "a"}),  # {proxy+} needs >= 1 segment
        ("GET", "/", "GET /", {}),
        ("get", "/a/b/c", "GET /a/b/c", {}),  # the method's case does not matter
    ],
)
def test_most_specific_route_wins(
    method: str, path: str, route: str, params: dict[str, str]
) -> None:
    """Segment by segment from the left: literal > {param} > {proxy+}; then exact verb > ANY."""
    found = SPECIFIC.match(method, path)
    assert found is not None
    assert found.route == route
    assert found.params == params
    decision = SPECIFIC.decide(ANON, method, path)
    assert decision.route == route
    assert decision.allowed


def test_no_proxy_for_the_root_and_unlisted_verbs() -> None:
    """``/{proxy+}`` does not match ``/``; a verb with no route is denied by default."""
    table = Routes({"ANY /{proxy+}": public()})
    assert table.match("GET", "/") is None
    assert table.decide(ANON, "GET", "/").allowed is False
    only_get = Routes({"GET /x": public()})
    for verb in ("HEAD", "POST", "OPTIONS", "PATCH"):
        decision = only_get.decide(ANON, verb, "/x")
        assert decision.allowed is False
        assert decision.reason is Reason.FORBIDDEN
        assert decision.denial == Denial(Reason.FORBIDDEN, "no route")


def test_params_are_decoded_once() -> None:
    """Template parameters are percent-decoded once, segment by segment."""
    found = SPECIFIC.match("GET", "/users/j%C3%BCrgen%40example.com")
    assert found is not None
    assert found.params == {"id": "jürgen@example.com"}
    found = SPECIFIC.match("GET", "/a/%20x%20/c")
    assert found is not None
    assert found.params == {"x": " x "}


def test_deny_by_default_and_the_default_rule() -> None:
    """Unlisted requests are forbidden, or judged by ``default=``; listed ones by their rule."""
    strict = Routes({"GET /orders": scopes("orders.read")})
    decision = strict.decide(ADMIN, "GET", "/invoices")
    assert decision == Decision(
        False, Reason.FORBIDDEN, None, {}, Denial(Reason.FORBIDDEN, "no route")
    )
    relaxed = Routes({"GET /orders": scopes("orders.read")}, default=authenticated())
    assert relaxed.decide(ALICE, "GET", "/invoices").allowed
    assert relaxed.decide(ALICE, "GET", "/invoices").route is None
    assert relaxed.decide(ANON, "GET", "/invoices").reason is Reason.FORBIDDEN
    assert relaxed.decide(Principal("x"), "GET", "/orders").reason is Reason.INSUFFICIENT_SCOPE
    assert len(relaxed) == 1


def test_decision_raise_for_denial() -> None:
    """``raise_for_denial`` raises the matching 403 error, and nothing when allowed."""
    table = Routes({"GET /orders": scopes("orders.write")})
    table.decide(Principal("w", scopes={"orders.write"}), "GET", "/orders").raise_for_denial()
    with pytest.raises(InsufficientScope):
        table.decide(ALICE, "GET", "/orders").raise_for_denial()
    assert table.authorize(Principal("w", scopes={"orders.write"}), "GET", "/orders").allowed


def test_websocket_route_keys() -> None:
    """``$connect`` and friends are keys of their own; ``$default`` catches other route keys;
    the WebSocket authorizer event's method is its route key."""
    table = Routes(
        {
            "$connect": roles("member"),
            "$disconnect": public(),
            "$default": authenticated(),
            "GET /connect": public(),
        }
    )
    event = {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:eu-west-1:{ACCOUNT}:a1b2c3d4e5/prod/$connect",
        "headers": {"Host": "ws.example.com", "Authorization": "Bearer x"},
        "queryStringParameters": {},
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "connectionId": "VT1zscnPoAMCKfA=",
            "stage": "prod",
            "apiId": "a1b2c3d4e5",
            "identity": {"sourceIp": "198.51.100.7"},
        },
    }
    connect = req(event)
    assert connect.method == "$connect"
    decision = table.decide(ALICE, connect.method, connect.path, connect)
    assert decision.allowed
    assert decision.route == "$connect"
    assert table.decide(ANON, "$connect", "").reason is Reason.FORBIDDEN
    assert table.decide(ANON, "$disconnect", "").allowed
    assert table.decide(ANON, "$disconnect", "/").allowed is False  # an HTTP request
    assert table.decide(ALICE, "sendMessage", "/").allowed is False  # not a $ key: an HTTP verb
    assert table.decide(ALICE, "$sendMessage", "").route == "$default"
    assert table.decide(ANON, "$sendMessage", "/").reason is Reason.FORBIDDEN
    no_default = Routes({"$connect": public()})
    assert no_default.decide(ANON, "$disconnect", "").reason is Reason.FORBIDDEN
    assert no_default.allowed_routes(ANON) == [AllowedRoute("$connect", "")]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"FETCH /x": public()}, "write 'VERB /path', VERB one of"),
        ({"GET x": public()}, "write 'VERB /path'"),
        ({"GET": public()}, "write 'VERB /path'"),
        ({"GET  /x": public()}, "write 'VERB /path'"),
        ({"/x": public()}, "write 'VERB /path'"),
        ({"GET /users/": public()}, "bad path segment ''"),
        ({"GET /a//b": public()}, "bad path segment ''"),
        ({"GET /a/./b": public()}, r"bad path segment '\.'"),
        ({"GET /a/../b": public()}, r"bad path segment '\.\.'"),
        ({"GET /a b": public()}, "bad path segment 'a b'"),
        ({"GET /a/{id}.json": public()}, r"bad path segment '\{id\}\.json'"),
        ({"GET /a/{}": public()}, "bad path segment"),
        ({"GET /a/{1x}": public()}, "bad path segment"),
        ({"GET /a/%2e%2e": public()}, "bad path segment"),
        ({"GET /a/{proxy+}/b": public()}, r"\{proxy\+\} must be the last segment"),
        ({"GET /a/{id}/b/{id}": public()}, "parameter 'id' appears twice"),
        ({"GET /a/{id}/{id+}": public()}, "parameter 'id' appears twice"),
        ({"GET /a/{id}": public(), "get /a/{other}": public()}, "listed twice"),
        ({"ANY /a/{p+}": public(), "ANY /a/{q+}": public()}, "listed twice"),
        ({"GET /Users": public(), "GET /users/x": public()}, "differ only in case"),
        ({"GET /a/Admin": public(), "GET /b/admin": public()}, "differ only in case"),
        ({"$bad key": public()}, "bad WebSocket route key"),
        ({"$": public()}, "bad WebSocket route key"),
        ({42: public()}, "route keys are strings"),
        ({"GET /x": "admin"}, "route 'GET /x': expected an access rule such as roles"),
        ({"GET /x": None}, "expected an access rule, got NoneType"),
        ({}, "Routes needs a mapping"),
    ],
)
def test_route_table_configuration_errors(table: dict[Any, Any], message: str) -> None:
    """Bad keys, duplicate or equivalent routes, misplaced {proxy+} and case-only differences
    fail at construction, with a message that names the problem."""
    with pytest.raises(ConfigurationError, match=message):
        Routes(table)


def test_default_must_be_a_rule() -> None:
    """``default=`` takes a rule too."""
    with pytest.raises(ConfigurationError, match="expected an access rule"):
        Routes({"GET /x": public()}, default="deny")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="Routes needs a mapping"):
        Routes([("GET /x", public())])  # type: ignore[arg-type]


# --- path spellings ---------------------------------------------------------------------------------------

GUARDED = {
    "GET /admin/users": roles("admin"),
    "GET /files/{name}": authenticated(),
    "GET /public/{proxy+}": public(),
}

# Spellings that must be refused outright (no route at all), whatever the table.
REFUSED = [
    "/admin/users/",  # trailing slash
    "//admin/users",
    "/admin//users",
    "/./admin/users",
    "/admin/./users",
    "/public/../admin/users",
    "/public/x/../../admin/users",
    "/public/%2e%2e/admin/users",
    "/public/%2E%2E/admin/users",
    "/public/.%2e/admin/users",
    "/public/%2e/admin/users",
    "/public/..%2Fadmin%2Fusers",
    "/public/..%2fadmin%2fusers",
    "/public/%2Fadmin/users",
    "/public/%252e%252e/admin/users",  # double encoding
    "/public/..%252Fadmin",
    "/files/..%2Fadmin%2Fusers",
    "/files/%2e%2e",
    "/public/..\\admin\\users",  # backslashes some servers read as slashes
    "/public/..%5Cadmin%5Cusers",
    "/public/x%5C..%5C..%5Cadmin",
    "/public/%c0%ae%c0%ae/admin",  # overlong UTF-8 for '.'
    "/public/%C0%AE%C0%AE/admin",
    "/public/%e0%80%ae/admin",  # a three-byte overlong form
    "admin/users",  # no leading slash
    "",
]

# Odd percent signs and non-UTF-8 escapes are segments like others: decided as written.
AS_WRITTEN = ["/admin/users%", "/admin/user%s", "/admin/users%zz", "/public/%ff"]


@pytest.mark.parametrize("path", AS_WRITTEN)
def test_odd_escapes_are_segments_decided_as_written(path: str) -> None:
    """They are not ``/admin/users``: with no route of their own they get the default rule,
    and a parameter keeps the text as written."""
    table = Routes(GUARDED, default=authenticated())
    assert table.decide(ANON, "GET", path).allowed is (path.startswith("/public/"))
    decision = table.decide(ALICE, "GET", path)
    assert decision.allowed
    assert decision.route in (None, "GET /public/{proxy+}")
    if decision.route is not None:
        assert decision.params == {"proxy": path.removeprefix("/public/")}


# Spellings of the same route: they hit the admin rule (and are denied for a member).
SAME_ROUTE = [
    "/admin/users",
    "/ADMIN/users",
    "/Admin/Users",
    "/aDmIn/USERS",
    "/%61dmin/users",
    "/%41DMIN/%75sers",
    "/admin/%75%73%65%72%73",
]


@pytest.mark.parametrize(
    "default", [None, authenticated(), public()], ids=["none", "auth", "public"]
)
@pytest.mark.parametrize("path", REFUSED)
def test_refused_spellings_are_denied_even_with_a_default_rule(
    path: str, default: Rule | None
) -> None:
    """Dot segments, doubled or trailing slashes, encoded slashes and dots, double encoding,
    backslashes and bad percent-encoding never match a route and are never handed to the
    ``default`` rule: denied, even for an admin and even when the default is ``public()``."""
    table = Routes(GUARDED, default=default)
    assert table.match("GET", path) is None
    for principal in (ALICE, ADMIN, ANON):
        decision = table.decide(principal, "GET", path)
        assert decision.allowed is False
        assert decision.route is None
        assert decision.reason is Reason.FORBIDDEN


@pytest.mark.parametrize("path", SAME_ROUTE)
def test_case_and_encoding_reach_the_same_rule(path: str) -> None:
    """``/ADMIN/users`` or ``/%61dmin/users`` hit the ``/admin/users`` rule: a member is
    forbidden, an admin allowed, just as for the plain spelling."""
    table = Routes(GUARDED, default=public())
    member = table.decide(ALICE, "GET", path)
    assert member.route == "GET /admin/users"
    assert member.reason is Reason.FORBIDDEN
    assert table.decide(ADMIN, "GET", path).allowed


@pytest.mark.parametrize(
    "path",
    [
        "/\u212aeys",  # KELVIN SIGN: "\u212a".lower() == "k"
        "/%E2%84%AAeys",  # the same, percent-encoded UTF-8
        "/\uff4beys",  # FULLWIDTH LATIN SMALL LETTER K
        "/k\u0435ys",  # CYRILLIC SMALL LETTER IE for "e"
        "/ke\u0443s",  # CYRILLIC SMALL LETTER U for "y"
        "/keys\u200b",  # ZERO WIDTH SPACE
        "/k\u0065\u0301ys",  # e + COMBINING ACUTE ACCENT
        "/\u0130ndex",  # LATIN CAPITAL LETTER I WITH DOT ABOVE: lower() is "i\u0307"
        "/%C4%B0ndex",
        "/\u0131ndex",  # DOTLESS I
        "/\u017feys",  # LATIN SMALL LETTER LONG S (casefold() is "s")
    ],
)
def test_unicode_lookalikes_never_match_an_ascii_literal(path: str) -> None:
    """Only ASCII letters fold: a lookalike segment is a different segment (here it lands on
    the ``{name}`` route), so it can neither borrow the looser rule of a literal route nor
    reach it."""
    table = Routes({"GET /keys": public(), "GET /index": public(), "GET /{name}": roles("admin")})
    decision = table.decide(ANON, "GET", path)
    assert decision.route == "GET /{name}"
    assert decision.reason is Reason.FORBIDDEN
    # An ASCII case variant is read both ways: the public /keys and the admin /{name}.
    assert table.decide(ANON, "GET", "/KEYS").route == "GET /{name}"
    assert not table.decide(ANON, "GET", "/INDEX").allowed
    admin = Principal("root", roles={"admin"})
    assert table.decide(admin, "GET", "/INDEX").allowed


def test_unicode_paths_match_parameters_normally() -> None:
    """Non-ASCII values are fine as parameter values, raw or percent-encoded UTF-8."""
    table = Routes({"GET /cities/{name}": public()})
    for path in ("/cities/München", "/cities/M%C3%BCnchen"):
        found = table.match("GET", path)
        assert found is not None
        assert found.params == {"name": "München"}


def test_the_public_catch_all_cannot_be_used_to_reach_admin() -> None:
    """The classic attack: a public ``{proxy+}`` route with ``/../`` in front of the admin
    path. Every spelling that would resolve to ``/admin/users`` is refused, and a member's
    requests that do match the catch-all stay under ``/public``."""
    table = Routes(GUARDED)
    for path in ("/public/../admin/users", "/public/%2e%2e/admin/users", "/public/..%2Fadmin"):
        assert table.decide(ALICE, "GET", path).allowed is False
    ok = table.decide(ALICE, "GET", "/public/docs/admin/users")
    assert ok.allowed
    assert ok.params == {"proxy": "docs/admin/users"}


def test_a_negation_never_allows_the_anonymous_principal() -> None:
    """``~rule`` is a signed-in caller the rule refuses, never one without credentials: its
    check, its bindings (cached policies, ``allowed_routes``) and a table's decision agree."""
    table = Routes({"GET /feed": ~roles("suspended"), "GET /open": public() & ~roles("banned")})
    for path in ("/feed", "/open"):
        assert table.decide(ALICE, "GET", path).allowed
        assert table.decide(ANON, "GET", path).reason is Reason.FORBIDDEN
    assert table.allowed_routes(ANON) == []
    assert (~roles("suspended")).bindings(ANON) == []
    assert (~roles("suspended")).bindings(ALICE) == [{}]


def test_a_rule_reading_a_path_parameter_its_route_lacks_is_refused() -> None:
    """``tenant(path="tenantId")`` on a route without ``{tenantId}`` (or as the ``default``
    rule, which has no parameters) could never allow, and under ``~`` would allow what it
    never gets to deny: refused, naming the parameter. An ``|`` arm beside one that can
    allow is a shared rule's other case, and stays."""
    with pytest.raises(ConfigurationError, match="'tenantId'"):
        Routes({"GET /oops": tenant(path="tenantId") & roles("admin")})
    with pytest.raises(ConfigurationError, match="'tenantId'"):
        Routes({"GET /oops": roles("admin") | ~tenant(path="tenantId")})
    shared = Routes({"GET /stats": roles("admin") | tenant(path="tenantId")})
    assert shared.decide(ADMIN, "GET", "/stats").allowed
    with pytest.raises(ConfigurationError, match="the default rule"):
        Routes({"GET /a": public()}, default=~tenant(path="t"))
    assert Routes({"GET /t/{tenantId}": tenant(path="tenantId")})  # the parameter is there


# --- allowed_routes -----------------------------------------------------------------------------------------

TENANTS = Routes(
    {
        "ANY /tenants/{tenantId}/{proxy+}": tenant(path="tenantId") & roles("member"),
        "GET /tenants/{tenantId}": tenant(path="tenantId"),
        "DELETE /users/{id}": roles("admin"),
        "GET /orders": scopes("orders.read"),
        "GET /health": public(),
        "GET /me": authenticated(),
        "POST /orders": tenant(header="x-tenant-id"),
        "GET /tenant-files/{proxy+}": tenant(path="proxy"),
    },
    default=authenticated(),
)


def test_allowed_routes_fill_in_the_tenant_and_skip_denied_routes() -> None:
    """Tenant parameters are bound to the principal's tenant, principal-only rules are
    evaluated, request-dependent ones (header tenant) and ``default=`` are left out; the list
    is sorted and has no duplicates."""
    assert TENANTS.allowed_routes(ALICE) == [
        AllowedRoute("ANY", "/tenants/acme/{proxy+}"),
        AllowedRoute("GET", "/health"),
        AllowedRoute("GET", "/me"),
        AllowedRoute("GET", "/orders"),
        AllowedRoute("GET", "/tenant-files/acme"),  # a bound {proxy+} is that one segment
        AllowedRoute("GET", "/tenants/acme"),
    ]
    assert AllowedRoute("DELETE", "/users/{id}") in TENANTS.allowed_routes(ADMIN)
    assert TENANTS.allowed_routes(ANON) == [AllowedRoute("GET", "/health")]


def test_allowed_routes_agree_with_decide_on_examples() -> None:
    """Every listed route, filled with a value, is allowed by ``decide``; the bound
    ``{proxy+}`` allows exactly its one segment."""
    for path in ("/tenants/acme/orders/1", "/tenants/acme", "/tenant-files/acme", "/orders"):
        assert TENANTS.decide(ALICE, "GET", path).allowed, path
    for path in ("/tenant-files/acme/x", "/tenant-files/globex"):
        decision = TENANTS.decide(ALICE, "GET", path)
        assert decision.allowed is False, path
        assert decision.reason is Reason.TENANT_MISMATCH


@pytest.mark.parametrize("odd", ["a/b", "a*b", "a b", "..", ".", "a%2Fb", "a?b", "{x}", "ä"])
def test_tenants_that_cannot_be_a_policy_path_are_left_out(odd: str) -> None:
    """A tenant that is not a plain path segment (slash, wildcard, space, dot segment,
    percent sign, braces, non-ASCII) is never written into an allowed route."""
    p = Principal("u", tenant=odd, roles={"member"})
    listed = TENANTS.allowed_routes(p)
    assert all("/tenants/" not in r.path and "/tenant-files/" not in r.path for r in listed)


def test_allowed_routes_are_per_route_and_the_most_specific_route_still_decides() -> None:
    """``allowed_routes`` answers per route. A generic template in the list does not make
    every path it spells callable: ``/users/admin`` belongs to the more specific route, which
    a member may not call. A policy built from the list must keep that in mind (deny the
    more specific routes, or use TTL 0 / ``decide``)."""
    table = Routes({"GET /users/{id}": authenticated(), "GET /users/admin": roles("admin")})
    assert table.allowed_routes(ALICE) == [AllowedRoute("GET", "/users/{id}")]
    assert table.decide(ALICE, "GET", "/users/7").allowed
    shadowed = table.decide(ALICE, "GET", "/users/admin")
    assert shadowed.route == "GET /users/admin"
    assert shadowed.reason is Reason.FORBIDDEN


def test_an_any_route_shadowed_for_one_verb_still_lists_its_other_verbs() -> None:
    """An ANY {proxy+} bound to one value, whose GET requests another route takes, is
    listed per verb for the verbs it still serves (not left out, not listed for GET)."""
    table = Routes({"GET /{rest+}": public(), "ANY /{rest+}": tenant(path="rest")})
    principal = Principal("gen", tenant="t1")
    assert table.decide(principal, "POST", "/t1").allowed
    listed = table.allowed_routes(principal)
    bound = sorted(r.verb for r in listed if r.path == "/t1")
    assert bound == ["DELETE", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
    assert AllowedRoute("GET", "/{rest+}") in listed
    unshadowed = Routes({"ANY /{rest+}": tenant(path="rest")})
    assert unshadowed.allowed_routes(principal) == [AllowedRoute("ANY", "/t1")]


def test_a_tenant_header_is_judged_with_its_underscore_alias_and_unpadded() -> None:
    """``X-Tenant`` and ``X_Tenant`` are one header to WSGI backends: both given is a tenant
    named twice (undecided); a name without ``-`` or ``_`` has no alias; a padded value is
    undecided (a backend may strip it). ``~tenant`` refuses every undecided one."""
    acme = Principal("a", tenant="acme")
    rule_, other_tenants = tenant(header="x-tenant"), ~tenant(header="x-tenant")

    def context(headers: dict[str, str]) -> AccessContext:
        request = Request(EventKind.REST_V1, {"httpMethod": "GET", "path": "/", "headers": headers})
        return AccessContext("GET", "/", {}, request)

    assert rule_.check(acme, context({"X-Tenant": "acme"})) is None
    both = context({"X-Tenant": "globex", "X_Tenant": "acme"})
    assert rule_.check(acme, both).undecided
    assert other_tenants.check(acme, both) is not None
    assert tenant(header="tenant").check(acme, context({"Tenant": "acme"})) is None
    padded = context({"X-Tenant": "acme%20"})
    assert rule_.check(acme, padded).undecided
    assert other_tenants.check(acme, padded) is not None
    assert other_tenants.check(acme, context({"X-Tenant": "globex"})) is None
