"""Principal and ClaimMapper: claim shapes of real identity providers, strict types, role hierarchy.

The fixtures below copy the shape of tokens that Amazon Cognito, Auth0, Keycloak,
Okta and Microsoft Entra ID (Azure AD) issue; only the values are made up. A
claim of the wrong type must fail with ``invalid_claims`` and never be coerced.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from secauth.access import AccessContext, Routes, roles
from secauth.errors import ConfigurationError, InvalidClaims, Reason
from secauth.principal import ClaimMapper, Principal, RoleHierarchy

POOL = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz"
APP_CLIENT = "3n4b5urk1ft4fl3mg5e62d9ado"
SUB = "8f2e5b1c-7a3d-4e6f-9b0a-1c2d3e4f5a6b"

# An ID token of a Cognito user pool: groups, a custom attribute for the tenant, aud = app client.
COGNITO_ID: dict[str, Any] = {
    "sub": SUB,
    "cognito:groups": ["admin", "billing"],
    "email_verified": True,
    "iss": POOL,
    "cognito:username": "alice",
    "origin_jti": "2f0c6c56-8e0e-4b1d-9a4c-5b8c1c1f7e21",
    "aud": APP_CLIENT,
    "event_id": "e3b0c442-98fc-4c14-9afb-f4c8996fb924",
    "token_use": "id",
    "auth_time": 1_700_000_000,
    "custom:tenant_id": "acme",
    "exp": 1_700_003_600,
    "iat": 1_700_000_000,
    "jti": "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
    "email": "alice@example.com",
}

# An access token of the same pool: scope string (incl. resource-server scopes), client_id, no aud.
COGNITO_ACCESS: dict[str, Any] = {
    "sub": SUB,
    "cognito:groups": ["admin"],
    "iss": POOL,
    "version": 2,
    "client_id": APP_CLIENT,
    "origin_jti": "2f0c6c56-8e0e-4b1d-9a4c-5b8c1c1f7e21",
    "event_id": "e3b0c442-98fc-4c14-9afb-f4c8996fb924",
    "token_use": "access",
    "scope": "aws.cognito.signin.user.admin openid orders-api/orders.read orders-api/orders.write",
    "auth_time": 1_700_000_000,
    "exp": 1_700_003_600,
    "iat": 1_700_000_000,
    "jti": "9a8b7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4",
    "username": "alice",
}

# A client-credentials (machine-to-machine) access token: no groups, sub is the client id.
COGNITO_M2M: dict[str, Any] = {
    "sub": APP_CLIENT,
    "token_use": "access",
    "scope": "orders-api/orders.read",
    "auth_time": 1_700_000_000,
    "iss": POOL,
    "exp": 1_700_003_600,
    "iat": 1_700_000_000,
    "version": 2,
    "jti": "1f2e3d4c-5b6a-7980-a1b2-c3d4e5f6a7b8",
    "client_id": APP_CLIENT,
}

# Auth0: namespaced custom claims added by an Action, RBAC "permissions", aud as a list.
AUTH0: dict[str, Any] = {
    "https://example.com/roles": ["admin", "support"],
    "https://example.com/tenant": "acme",
    "iss": "https://example.eu.auth0.com/",
    "sub": "auth0|64f1c2a9b3e4d5f6a7b8c9d0",
    "aud": ["https://api.example.com", "https://example.eu.auth0.com/userinfo"],
    "iat": 1_700_000_000,
    "exp": 1_700_086_400,
    "azp": "Xk9vQ2pL7mN3bV8cR1tY5wZ0",
    "scope": "openid profile email read:orders",
    "permissions": ["read:orders", "delete:users"],
}

# Keycloak: realm roles and per-client roles nested in objects, groups with their path.
KEYCLOAK: dict[str, Any] = {
    "exp": 1_700_000_300,
    "iat": 1_700_000_000,
    "jti": "onrtac:5d3c1f2e-0a9b-4c8d-8e7f-6a5b4c3d2e1f",
    "iss": "https://sso.example.com/realms/acme",
    "aud": ["orders-api", "account"],
    "sub": "f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9",
    "typ": "Bearer",
    "azp": "orders-frontend",
    "sid": "6c5b4a39-2817-4f6e-9d8c-7b6a59483726",
    "acr": "1",
    "allowed-origins": ["https://app.example.com"],
    "realm_access": {"roles": ["offline_access", "uma_authorization", "default-roles-acme"]},
    "resource_access": {
        "orders-api": {"roles": ["approver", "viewer"]},
        "account": {"roles": ["manage-account", "view-profile"]},
    },
    "scope": "openid email profile",
    "email_verified": True,
    "groups": ["/staff", "/staff/managers"],
    "preferred_username": "kim",
}

# Okta (custom authorization server): "scp" is a JSON array, "cid" the client.
OKTA: dict[str, Any] = {
    "ver": 1,
    "jti": "AT.4kTz0S3uNqN9x6zQ2Wv1mY8pL5rK7jH3gF2dS1aQ0w",
    "iss": "https://example.okta.com/oauth2/default",
    "aud": "api://default",
    "iat": 1_700_000_000,
    "exp": 1_700_003_600,
    "cid": "0oa1b2c3d4e5f6g7h8i9",
    "uid": "00u1a2b3c4d5e6f7g8h9",
    "scp": ["openid", "orders.read", "orders.write"],
    "auth_time": 1_700_000_000,
    "sub": "dana@example.com",
    "groups": ["Everyone", "Approvers"],
}

# Microsoft Entra ID (Azure AD) v2 access token: "scp" a space-separated string, app roles,
# the directory tenant in "tid" and the stable user id in "oid".
AZURE: dict[str, Any] = {
    "aud": "api://orders",
    "iss": "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
    "iat": 1_700_000_000,
    "nbf": 1_700_000_000,
    "exp": 1_700_003_600,
    "azp": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
    "name": "Eve Example",
    "oid": "00000000-0000-0000-66f3-3332eca7ea81",
    "roles": ["Orders.Admin"],
    "scp": "Orders.Read Orders.Write",
    "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
    "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "ver": "2.0",
}


def azure_mapper() -> ClaimMapper:
    """The Entra ID mapping: id from ``oid``, tenant from ``tid``, app roles, ``scp`` string."""
    return ClaimMapper(
        id_claim="oid", tenant_claim="tid", role_claims=("roles",), scope_claims=("scp",)
    )


# --- real claim shapes ------------------------------------------------------------------------


def test_cognito_id_token_groups_are_roles_and_tenant_comes_from_custom_attribute() -> None:
    """Cognito ID token: ``cognito:groups`` become groups and roles, tenant from ``custom:``."""
    p = ClaimMapper.cognito(tenant_claim="custom:tenant_id").map(COGNITO_ID)
    assert p.id == SUB
    assert p.tenant == "acme"
    assert p.groups == {"admin", "billing"}
    assert p.roles == {"admin", "billing"}
    assert p.scopes == frozenset()  # ID tokens carry no scope
    assert p.kind == "user"
    assert not p.is_anonymous
    assert p.claims["token_use"] == "id"
    assert p.claims["aud"] == APP_CLIENT


def test_cognito_access_token_scopes_are_split_on_spaces() -> None:
    """Cognito access token: the ``scope`` string is split; resource-server scopes stay whole."""
    p = ClaimMapper.cognito().map(COGNITO_ACCESS)
    assert p.scopes == {
        "aws.cognito.signin.user.admin",
        "openid",
        "orders-api/orders.read",
        "orders-api/orders.write",
    }
    assert p.roles == {"admin"}
    assert p.tenant is None
    assert p.claims["client_id"] == APP_CLIENT


def test_cognito_access_token_without_the_tenant_attribute_is_rejected() -> None:
    """Access tokens carry no ``custom:`` attributes: asking for the tenant there fails closed."""
    with pytest.raises(InvalidClaims) as exc:
        ClaimMapper.cognito(tenant_claim="custom:tenant_id").map(COGNITO_ACCESS)
    assert exc.value.reason is Reason.INVALID_CLAIMS
    assert exc.value.status == 401
    assert exc.value.detail["claim"] == "custom:tenant_id"


def test_cognito_machine_token_has_no_groups() -> None:
    """A client-credentials token has no ``cognito:groups``: absent means no roles, not an error."""
    p = ClaimMapper.cognito().map(COGNITO_M2M)
    assert p.id == APP_CLIENT
    assert p.roles == frozenset()
    assert p.groups == frozenset()
    assert p.scopes == {"orders-api/orders.read"}


def test_cognito_groups_stay_groups_only_when_asked() -> None:
    """``groups_are_roles=False`` keeps Cognito groups out of the roles."""
    p = ClaimMapper.cognito(groups_are_roles=False).map(COGNITO_ID)
    assert p.groups == {"admin", "billing"}
    assert p.roles == frozenset()


def test_auth0_namespaced_roles_tenant_and_permissions() -> None:
    """Auth0: ``https://example.com/roles`` and ``/tenant``; ``permissions`` join the scopes."""
    p = ClaimMapper.auth0(namespace="https://example.com/", tenant="tenant").map(AUTH0)
    assert p.id == "auth0|64f1c2a9b3e4d5f6a7b8c9d0"
    assert p.tenant == "acme"
    assert p.roles == {"admin", "support"}
    assert p.scopes == {"openid", "profile", "email", "read:orders", "delete:users"}


def test_auth0_without_tenant_option_ignores_the_tenant_claim() -> None:
    """Without ``tenant=`` the Auth0 preset is single-tenant: no tenant, no error."""
    p = ClaimMapper.auth0(namespace="https://example.com/").map(AUTH0)
    assert p.tenant is None


def test_auth0_other_namespace_sees_no_roles() -> None:
    """Roles under another namespace are not ours: none are mapped."""
    p = ClaimMapper.auth0(namespace="https://other.example/").map(AUTH0)
    assert p.roles == frozenset()


def test_auth0_namespace_must_end_with_a_separator() -> None:
    """A namespace without a trailing ``/`` would glue names together: a configuration error."""
    with pytest.raises(ConfigurationError, match="namespace ends with '/'"):
        ClaimMapper.auth0(namespace="https://example.com")


def test_keycloak_realm_and_client_roles_and_groups() -> None:
    """Keycloak: ``realm_access.roles`` plus ``resource_access.<client>.roles``; other clients
    (``account``) contribute nothing; groups keep their path."""
    p = ClaimMapper.keycloak(client_id="orders-api").map(KEYCLOAK)
    assert p.roles == {
        "offline_access",
        "uma_authorization",
        "default-roles-acme",
        "approver",
        "viewer",
    }
    assert "manage-account" not in p.roles
    assert p.groups == {"/staff", "/staff/managers"}
    assert p.scopes == {"openid", "email", "profile"}


def test_keycloak_without_client_id_uses_realm_roles_only() -> None:
    """Without ``client_id`` no client roles are mapped."""
    p = ClaimMapper.keycloak().map(KEYCLOAK)
    assert p.roles == {"offline_access", "uma_authorization", "default-roles-acme"}


def test_keycloak_client_without_roles_is_empty_not_an_error() -> None:
    """A client absent from ``resource_access`` is simply no roles."""
    p = ClaimMapper.keycloak(client_id="billing-api").map(KEYCLOAK)
    assert "approver" not in p.roles


def test_keycloak_tenant_from_a_nested_claim() -> None:
    """A tuple path reaches a nested tenant claim."""
    claims = {**KEYCLOAK, "organization": {"id": "acme"}}
    p = ClaimMapper.keycloak(tenant_claim=("organization", "id")).map(claims)
    assert p.tenant == "acme"


def test_okta_scp_as_a_list() -> None:
    """Okta sends ``scp`` as a JSON array; the default mapper reads it."""
    p = ClaimMapper().map(OKTA)
    assert p.scopes == {"openid", "orders.read", "orders.write"}
    assert p.groups == {"Everyone", "Approvers"}
    assert p.roles == frozenset()


def test_azure_scp_as_a_string_with_app_roles_and_tid_tenant() -> None:
    """Entra ID: ``scp`` string, app ``roles`` array, tenant from ``tid``, id from ``oid``."""
    p = azure_mapper().map(AZURE)
    assert p.id == "00000000-0000-0000-66f3-3332eca7ea81"
    assert p.tenant == "72f988bf-86f1-41af-91ab-2d7cd011db47"
    assert p.roles == {"Orders.Admin"}
    assert p.scopes == {"Orders.Read", "Orders.Write"}


def test_scope_and_scp_both_count() -> None:
    """With both claims present the scopes are the union."""
    p = ClaimMapper().map({"sub": "x", "scope": "a b", "scp": ["c"]})
    assert p.scopes == {"a", "b", "c"}


def test_scope_string_with_repeated_spaces_has_no_empty_scope() -> None:
    """``"a  b "`` is two scopes; an empty scope never appears."""
    p = ClaimMapper().map({"sub": "x", "scope": " a  b "})
    assert p.scopes == {"a", "b"}


def test_mapped_cognito_principal_passes_the_typical_rule() -> None:
    """The mapping feeds the rules: Cognito ``admin`` group may DELETE a user, ``billing`` not."""
    table = Routes({"DELETE /users/{id}": roles("admin")})
    admin = ClaimMapper.cognito().map(COGNITO_ACCESS)
    billing = ClaimMapper.cognito().map({**COGNITO_ACCESS, "cognito:groups": ["billing"]})
    assert table.decide(admin, "DELETE", "/users/42").allowed
    assert table.decide(billing, "DELETE", "/users/42").reason is Reason.FORBIDDEN


# --- strict types -----------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(path: tuple[str, ...], value: Any) -> Mutation:
    def apply(claims: dict[str, Any]) -> None:
        target = claims
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return apply


def _drop(name: str) -> Mutation:
    def apply(claims: dict[str, Any]) -> None:
        del claims[name]

    return apply


COG = ClaimMapper.cognito(tenant_claim="custom:tenant_id")
KC = ClaimMapper.keycloak(client_id="orders-api")
A0 = ClaimMapper.auth0(namespace="https://example.com/", tenant="tenant")
G, T, NS = "cognito:groups", "custom:tenant_id", "https://example.com/"
ACCESS_T = COGNITO_ACCESS | {T: "acme"}

BAD_CLAIMS = [
    # (id, mapper, fixture, mutation, claim named in the detail)
    ("groups 'false'", COG, COGNITO_ID, _set((G,), "false"), G),
    ("groups string", COG, COGNITO_ID, _set((G,), "admin"), G),
    ("groups bool", COG, COGNITO_ID, _set((G,), False), G),
    ("groups number in list", COG, COGNITO_ID, _set((G,), ["admin", 1]), G),
    ("groups null in list", COG, COGNITO_ID, _set((G,), ["admin", None]), G),
    ("groups nested list", COG, COGNITO_ID, _set((G,), [["admin"]]), G),
    ("groups dict", COG, COGNITO_ID, _set((G,), {"admin": True}), G),
    ("groups too many", COG, COGNITO_ID, _set((G,), [f"g{i}" for i in range(257)]), G),
    ("sub missing", COG, COGNITO_ID, _drop("sub"), "sub"),
    ("sub number", COG, COGNITO_ID, _set(("sub",), 1234), "sub"),
    ("sub empty", COG, COGNITO_ID, _set(("sub",), ""), "sub"),
    ("sub list", COG, COGNITO_ID, _set(("sub",), [SUB]), "sub"),
    ("tenant number", COG, COGNITO_ID, _set((T,), 42), T),
    ("tenant bool", COG, COGNITO_ID, _set((T,), True), T),
    ("tenant 'false' in a list", COG, COGNITO_ID, _set((T,), ["false"]), T),
    ("tenant empty", COG, COGNITO_ID, _set((T,), ""), T),
    ("tenant null", COG, COGNITO_ID, _set((T,), None), T),
    ("tenant object", COG, COGNITO_ID, _set((T,), {"id": "acme"}), T),
    ("scope bool", COG, ACCESS_T, _set(("scope",), False), "scope"),
    ("scope number in list", COG, ACCESS_T, _set(("scope",), ["a", 2]), "scope"),
    ("scope object", COG, ACCESS_T, _set(("scope",), {"a": 1}), "scope"),
    ("auth0 roles string", A0, AUTH0, _set((NS + "roles",), "admin"), NS + "roles"),
    ("auth0 permissions number", A0, AUTH0, _set(("permissions",), ["x", 7]), "permissions"),
    ("auth0 tenant number", A0, AUTH0, _set((NS + "tenant",), 7), NS + "tenant"),
    ("keycloak roles string", KC, KEYCLOAK, _set(("realm_access", "roles"), "admin"),
     "realm_access.roles"),
    ("keycloak client roles dict", KC, KEYCLOAK,
     _set(("resource_access", "orders-api", "roles"), {"a": 1}),
     "resource_access.orders-api.roles"),
    ("keycloak realm_access list", KC, KEYCLOAK, _set(("realm_access",), ["admin"]),
     "realm_access"),
    ("keycloak realm_access 'false'", KC, KEYCLOAK, _set(("realm_access",), "false"),
     "realm_access"),
    ("keycloak client entry string", KC, KEYCLOAK,
     _set(("resource_access", "orders-api"), "approver"), "resource_access.orders-api"),
    ("keycloak groups string", KC, KEYCLOAK, _set(("groups",), "/staff"), "groups"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mapper", "fixture", "mutate", "claim"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_CLAIMS],
)
def test_wrong_claim_types_are_invalid_claims_never_coerced(
    mapper: ClaimMapper, fixture: dict[str, Any], mutate: Mutation, claim: str
) -> None:
    """Each wrong-typed claim fails with ``invalid_claims`` (401), naming the claim in the detail."""
    claims = copy.deepcopy(fixture)
    mapper.map(claims)  # the untouched fixture maps fine, so the mutation is what fails
    mutate(claims)
    with pytest.raises(InvalidClaims) as exc:
        mapper.map(claims)
    assert exc.value.reason is Reason.INVALID_CLAIMS
    assert exc.value.status == 401
    assert exc.value.detail["claim"] == claim


def test_false_string_is_not_a_boolean_anywhere() -> None:
    """``"false"`` as a scope string is one scope named ``false``, never a falsy value that
    empties anything; as a role list it is an error (see the table above)."""
    p = ClaimMapper().map({"sub": "x", "scope": "false"})
    assert p.scopes == {"false"}


def test_null_claims_mean_absent() -> None:
    """JSON ``null`` for an optional role, group or scope claim counts as absent."""
    p = ClaimMapper.keycloak(client_id="orders-api").map(
        {"sub": "x", "realm_access": None, "groups": None, "scope": None, "resource_access": {}}
    )
    assert p.roles == frozenset()
    assert p.groups == frozenset()
    assert p.scopes == frozenset()


def test_the_detail_never_holds_the_claim_value() -> None:
    """The error names the claim, not its (possibly sensitive) value."""
    with pytest.raises(InvalidClaims) as exc:
        COG.map({**COGNITO_ID, "custom:tenant_id": 98765})
    assert "98765" not in repr(exc.value.detail)
    assert "98765" not in str(exc.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"role_claims": "roles"}, "role_claims must be a list of claim paths"),
        ({"scope_claims": "scope"}, "scope_claims must be a list of claim paths"),
        ({"group_claims": ("",)}, "group_claims: a claim path is a claim name"),
        ({"role_claims": (("realm_access", ""),)}, "role_claims: a claim path"),
        ({"role_claims": ((),)}, "role_claims: a claim path"),
        ({"id_claim": ""}, "id_claim: a claim path"),
        ({"tenant_claim": 7}, "tenant_claim: a claim path"),
        ({"role_hierarchy": {"admin": "member"}}, "maps a role to a list of roles"),
    ],
)
def test_mapper_configuration_errors(kwargs: dict[str, Any], message: str) -> None:
    """Bad mapper settings fail at construction with a message that says what to write."""
    with pytest.raises(ConfigurationError, match=message):
        ClaimMapper(**kwargs)


# --- role hierarchy -----------------------------------------------------------------------------


def test_hierarchy_is_transitive() -> None:
    """admin implies member implies viewer: admin gets all three, member two, viewer one."""
    h = RoleHierarchy({"admin": ["member"], "member": ["viewer"]})
    assert h.expand({"admin"}) == {"admin", "member", "viewer"}
    assert h.expand({"member"}) == {"member", "viewer"}
    assert h.expand({"viewer"}) == {"viewer"}
    assert h.expand({"auditor"}) == {"auditor"}  # unknown roles pass through unchanged
    assert h.expand(()) == frozenset()


def test_hierarchy_cycles_are_harmless() -> None:
    """A cycle terminates and every role on it implies the others, nothing more."""
    h = RoleHierarchy({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["d"]})
    assert h.expand({"a"}) == {"a", "b", "c"}
    assert h.expand({"c"}) == {"a", "b", "c"}
    assert h.expand({"d"}) == {"d"}


def test_hierarchy_declared_once_on_the_mapper_applies_to_every_principal() -> None:
    """The hierarchy given to the mapper (as a mapping) expands the roles of every token, so
    a rule asking for ``viewer`` admits a Cognito ``admin``."""
    mapper = ClaimMapper.cognito(role_hierarchy={"admin": ["member"], "member": ["viewer"]})
    table = Routes({"GET /reports": roles("viewer"), "DELETE /users/{id}": roles("admin")})
    admin = mapper.map(COGNITO_ACCESS)
    member = mapper.map({**COGNITO_ACCESS, "cognito:groups": ["member"]})
    assert admin.roles == {"admin", "member", "viewer"}
    assert member.roles == {"member", "viewer"}
    assert member.groups == {"member"}  # groups are what the IdP said, not expanded
    assert table.decide(admin, "GET", "/reports").allowed
    assert table.decide(member, "GET", "/reports").allowed
    assert table.decide(member, "DELETE", "/users/1").reason is Reason.FORBIDDEN


def test_hierarchy_instance_is_accepted_and_does_not_imply_upwards() -> None:
    """A ``RoleHierarchy`` instance works too; an implied role never implies its parent."""
    mapper = ClaimMapper.keycloak(
        client_id="orders-api",
        role_hierarchy=RoleHierarchy({"approver": ["viewer"], "admin": ["approver"]}),
    )
    p = mapper.map(KEYCLOAK)
    assert {"approver", "viewer"} <= p.roles
    assert "admin" not in p.roles


@pytest.mark.parametrize("bad", [{"admin": "member"}, {1: ["member"]}])
def test_hierarchy_configuration_errors(bad: dict[Any, Any]) -> None:
    """A role mapped to a string (not a list), or a non-string role, is a configuration error."""
    with pytest.raises(ConfigurationError, match="maps a role to a list of roles"):
        RoleHierarchy(bad)


# --- immutability ---------------------------------------------------------------------------------


def test_principal_attributes_cannot_be_set_or_deleted() -> None:
    """Every attribute is fixed after construction."""
    p = ClaimMapper.cognito(tenant_claim="custom:tenant_id").map(COGNITO_ID)
    assert type(p) is Principal
    for name in ("id", "tenant", "roles", "scopes", "groups", "claims", "kind", "extra"):
        with pytest.raises(AttributeError):
            setattr(p, name, "x")
    with pytest.raises(AttributeError):
        del p.tenant
    assert p.tenant == "acme"


def test_principal_collections_are_frozen_and_claims_read_only() -> None:
    """roles/scopes/groups are frozensets; claims refuse item assignment and deletion."""
    p = ClaimMapper.cognito().map(COGNITO_ACCESS)
    assert isinstance(p.roles, frozenset)
    assert isinstance(p.scopes, frozenset)
    assert isinstance(p.groups, frozenset)
    with pytest.raises(TypeError):
        p.claims["cognito:groups"] = ["admin", "root"]  # type: ignore[index]
    with pytest.raises(TypeError):
        del p.claims["sub"]  # type: ignore[attr-defined]


def test_principal_is_not_changed_by_later_edits_of_the_claims_dict() -> None:
    """The principal copies the claims: editing the caller's dict afterwards changes nothing."""
    claims = copy.deepcopy(COGNITO_ACCESS)
    p = ClaimMapper.cognito().map(claims)
    claims["cognito:groups"] = ["root"]
    claims["sub"] = "mallory"
    assert p.claims["sub"] == SUB
    assert p.claims["cognito:groups"] == ["admin"]
    assert p.roles == {"admin"}


def test_principal_from_plain_iterables_and_equality() -> None:
    """Lists become frozensets; equal fields make equal, hashable principals; claims don't count."""
    a = Principal("u", tenant="t", roles=["r", "r"], scopes=("s",), claims={"x": 1})
    b = Principal("u", tenant="t", roles={"r"}, scopes={"s"})
    assert a == b
    assert hash(a) == hash(b)
    assert a != Principal("u", tenant="other", roles={"r"}, scopes={"s"})
    assert a.has_role("r")
    assert not a.has_role("s")
    assert a.has_scope("s")
    assert not a.has_scope("r")
    assert len({a, b}) == 1


def test_anonymous_principal() -> None:
    """``Principal.anonymous()`` is one shared, immutable anonymous caller without tenant."""
    anon = Principal.anonymous()
    assert anon is Principal.anonymous()
    assert anon.is_anonymous
    assert anon.kind == "anonymous"
    assert anon.tenant is None
    assert anon.roles == frozenset()
    with pytest.raises(AttributeError):
        anon.kind = "user"  # type: ignore[misc]


def test_principal_repr_names_fields_but_not_claims() -> None:
    """The repr is for logs: id, tenant, roles, scopes, kind; claim values stay out."""
    p = ClaimMapper.cognito(tenant_claim="custom:tenant_id").map(COGNITO_ID)
    text = repr(p)
    assert "acme" in text
    assert "admin" in text
    assert SUB in text
    assert "alice@example.com" not in text


def test_access_context_is_a_plain_named_tuple() -> None:
    """Rules read ``method``, ``path``, ``params`` and ``request`` from the context."""
    ctx = AccessContext("GET", "/x", {"a": "b"}, None)
    assert (ctx.method, ctx.path, ctx.params["a"], ctx.request) == ("GET", "/x", "b", None)


def test_role_lists_in_the_context_read_back_as_the_sets_they_came_from() -> None:
    """Long lists, quotes and non-ASCII names survive the JSON encoding in the context."""
    many = {f"scope-{i:04d}" for i in range(200)}  # about 2.8 KB encoded
    p = Principal("u", roles={"a", "b"}, scopes=many, groups={'q"uote', "ü"})
    context = p.to_context()
    assert context["secauth_roles"] == '["a","b"]'
    assert Principal.from_context(context) == p
