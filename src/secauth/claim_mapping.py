"""``ClaimMapper``: verified claims to a :class:`~secauth.principal.Principal`.

The mapping is configurable per identity provider and strictly typed: a claim
of the wrong type is an :class:`~secauth.errors.InvalidClaims` error (401),
never silently coerced. ``"false"`` is not false, and a string is not a list
of roles.

Claim paths
-----------
A plain string names a top-level claim, dots and all (``"cognito:groups"``,
``"https://example.com/roles"``). A tuple names a nested claim
(``("realm_access", "roles")``).

Example
-------
>>> mapper = ClaimMapper.cognito(tenant_claim="custom:tenant_id")
>>> p = mapper.map({"sub": "u-1", "cognito:groups": ["admin"], "custom:tenant_id": "acme",
...                 "scope": "orders.read orders.write"})
>>> p.id, p.tenant, sorted(p.roles), sorted(p.scopes)
('u-1', 'acme', ['admin'], ['orders.read', 'orders.write'])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from secauth.errors import ConfigurationError, InvalidClaims
from secauth.options import flag
from secauth.principal import Principal
from secauth.role_hierarchy import RoleHierarchy

__all__ = ["ClaimMapper", "ClaimPath"]

ClaimPath = str | tuple[str, ...]
_MAX_ITEMS = 256  # the most roles, groups or scopes a claim may list


def _lookup(claims: Mapping[str, Any], path: ClaimPath) -> Any:
    if isinstance(path, str):
        return claims.get(path)
    value: Any = claims
    for depth, step in enumerate(path):
        if value is None:
            return None
        if not isinstance(value, Mapping):
            # present but of the wrong type: an error, not silently "absent"
            raise InvalidClaims(
                detail={"claim": ".".join(path[:depth]), "problem": "must be a JSON object"}
            )
        value = value.get(step)
    return value


def _path_name(path: ClaimPath) -> str:
    return path if isinstance(path, str) else ".".join(path)


def _string_list(value: Any, path: ClaimPath) -> list[str]:
    if type(value) is not list or len(value) > _MAX_ITEMS or not all(type(v) is str for v in value):
        raise InvalidClaims(
            detail={"claim": _path_name(path), "problem": "must be a JSON array of strings"}
        )
    return value


def _scope_values(value: Any, path: ClaimPath) -> list[str]:
    # RFC 8693 / RFC 9068: a space-separated string; several IdPs (Okta, Azure "scp") send a list.
    if type(value) is str:
        # RFC 6749 3.3: scopes are separated by single spaces, not any Unicode whitespace.
        scopes = value.split(" ")
        return scopes if "" not in scopes else [scope for scope in scopes if scope]
    return _string_list(value, path)


def _check_paths(name: str, paths: Sequence[ClaimPath]) -> tuple[ClaimPath, ...]:
    if isinstance(paths, str):
        raise ConfigurationError(f"{name} must be a list of claim paths, e.g. ({paths!r},)")
    for path in paths:
        if not (isinstance(path, str) and path) and not (
            isinstance(path, tuple) and path and all(isinstance(p, str) and p for p in path)
        ):
            raise ConfigurationError(
                f"{name}: a claim path is a claim name or a tuple of names, not {path!r}"
            )
    return tuple(paths)


class ClaimMapper:
    """Turn verified claims into a :class:`Principal`, per identity provider.

    Parameters
    ----------
    id_claim: claim holding the principal id (default ``"sub"``); must be a non-empty string.
    tenant_claim: claim holding the tenant, or None for single-tenant apps. When set,
        a token without it is rejected (``invalid_claims``).
    role_claims, group_claims: claims holding JSON arrays of strings; absent is empty.
    scope_claims: claims holding scopes as a space-separated string or an array.
    groups_are_roles: also treat groups as roles (Cognito groups usually are).
    role_hierarchy: a :class:`RoleHierarchy` or its mapping.

    Example
    -------
    >>> mapper = ClaimMapper.keycloak(client_id="orders")
    >>> claims = {"sub": "k-1", "realm_access": {"roles": ["user"]},
    ...           "resource_access": {"orders": {"roles": ["approver"]}}}
    >>> sorted(mapper.map(claims).roles)
    ['approver', 'user']
    """

    def __init__(
        self,
        *,
        id_claim: ClaimPath = "sub",
        tenant_claim: ClaimPath | None = None,
        role_claims: Sequence[ClaimPath] = ("roles",),
        group_claims: Sequence[ClaimPath] = ("groups",),
        scope_claims: Sequence[ClaimPath] = ("scope", "scp"),
        groups_are_roles: bool = False,
        role_hierarchy: RoleHierarchy | Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.id_claim = _check_paths("id_claim", (id_claim,))[0]
        self.tenant_claim = (
            None if tenant_claim is None else _check_paths("tenant_claim", (tenant_claim,))[0]
        )
        self.role_claims = _check_paths("role_claims", role_claims)
        self.group_claims = _check_paths("group_claims", group_claims)
        self.scope_claims = _check_paths("scope_claims", scope_claims)
        self.groups_are_roles = flag("groups_are_roles", groups_are_roles)
        if role_hierarchy is not None and not isinstance(role_hierarchy, RoleHierarchy):
            role_hierarchy = RoleHierarchy(role_hierarchy)
        self.role_hierarchy = role_hierarchy

    # -- presets ------------------------------------------------------------------------

    @classmethod
    def cognito(cls, *, tenant_claim: ClaimPath | None = None, **options: Any) -> ClaimMapper:
        """Amazon Cognito: groups from ``cognito:groups`` (also used as roles), scopes from
        ``scope`` (access tokens), tenant typically a ``custom:`` attribute (ID tokens)."""
        options.setdefault("role_claims", ())
        options.setdefault("group_claims", ("cognito:groups",))
        options.setdefault("scope_claims", ("scope",))
        options.setdefault("groups_are_roles", True)
        return cls(tenant_claim=tenant_claim, **options)

    @classmethod
    def auth0(cls, *, namespace: str, tenant: str | None = None, **options: Any) -> ClaimMapper:
        """Auth0-style namespaced custom claims: ``{namespace}roles`` and, when given,
        ``{namespace}{tenant}``; scopes from ``scope`` and ``permissions``."""
        if not namespace.endswith(("/", ":")) or "tenant_claim" in options:
            raise ConfigurationError("an Auth0 claim namespace ends with '/' (or ':'); the tenant "
                                     "claim is named by tenant='...', under the namespace")  # fmt: skip
        options.setdefault("role_claims", (f"{namespace}roles",))
        options.setdefault("group_claims", (f"{namespace}groups",))
        options.setdefault("scope_claims", ("scope", "permissions"))
        return cls(tenant_claim=f"{namespace}{tenant}" if tenant else None, **options)

    @classmethod
    def keycloak(cls, *, client_id: str | None = None, **options: Any) -> ClaimMapper:
        """Keycloak: realm roles from ``realm_access.roles`` and, with ``client_id``, client
        roles from ``resource_access.{client_id}.roles``; groups from ``groups``."""
        roles: list[ClaimPath] = [("realm_access", "roles")]
        if client_id:
            roles.append(("resource_access", client_id, "roles"))
        options.setdefault("role_claims", tuple(roles))
        return cls(**options)

    # -- mapping ------------------------------------------------------------------------

    def map(self, claims: Mapping[str, Any]) -> Principal:
        """Build the :class:`Principal` for verified ``claims``; raise ``InvalidClaims`` on bad types."""
        principal_id = _claim(claims, self.id_claim)
        if type(principal_id) is not str or not principal_id:
            raise InvalidClaims(
                detail={"claim": _path_name(self.id_claim), "problem": "missing or not a string"}
            )
        tenant: str | None = None
        if self.tenant_claim is not None:
            tenant = _claim(claims, self.tenant_claim)
            if type(tenant) is not str or not tenant:
                raise InvalidClaims(
                    detail={
                        "claim": _path_name(self.tenant_claim),
                        "problem": "missing or not a string",
                    }
                )
        roles = _names(claims, self.role_claims, _string_list)
        groups = _names(claims, self.group_claims, _string_list)
        scopes = _names(claims, self.scope_claims, _scope_values)
        if self.groups_are_roles:
            roles += groups
        return Principal(
            principal_id,
            tenant=tenant,
            roles=self.role_hierarchy.expand(roles) if self.role_hierarchy else roles,
            scopes=scopes,
            groups=groups,
            claims=claims,
            issuer=issuer if type(issuer := claims.get("iss")) is str and issuer else None,
        )


def _claim(claims: Mapping[str, Any], path: ClaimPath) -> Any:
    """The claim at ``path`` (a top-level name, or a tuple for a nested claim), or None."""
    return claims.get(path) if isinstance(path, str) else _lookup(claims, path)


def _names(
    claims: Mapping[str, Any],
    paths: Sequence[ClaimPath],
    read: Callable[[Any, ClaimPath], list[str]],
) -> list[str]:
    """The names found under ``paths``, each read by ``read`` (absent claims add nothing)."""
    names: list[str] = []
    for path in paths:
        value = _claim(claims, path)
        if value is not None:
            names += read(value, path)
    return names
