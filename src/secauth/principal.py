"""``Principal``: who is calling, and the mapping from verified claims to it.

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

import re
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

from secauth.errors import ConfigurationError, InvalidClaims

__all__ = ["ClaimMapper", "ClaimPath", "Principal", "RoleHierarchy"]

ClaimPath = str | tuple[str, ...]
_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})
_MAX_ITEMS = 256
_NO_NAMES: Final[frozenset[str]] = frozenset()


class Principal:
    """An authenticated caller: immutable.

    Attributes
    ----------
    id: the subject (``sub`` by default).
    tenant: the tenant from verified claims, or None.
    roles, scopes, groups: frozensets of strings (roles already include those
        implied by a :class:`RoleHierarchy`).
    claims: the verified claims, read-only.
    kind: ``"user"`` for tokens, ``"api_key"``, ``"client_cert"``, or ``"anonymous"``.

    >>> p = Principal("alice", roles={"admin"}, tenant="acme")
    >>> p.has_role("admin"), p.tenant, p.is_anonymous
    (True, 'acme', False)
    """

    __slots__ = ("claims", "groups", "id", "kind", "roles", "scopes", "tenant")

    id: str
    tenant: str | None
    roles: frozenset[str]
    scopes: frozenset[str]
    groups: frozenset[str]
    claims: Mapping[str, Any]
    kind: str

    def __init__(
        self,
        id: str,
        *,
        tenant: str | None = None,
        roles: Iterable[str] = (),
        scopes: Iterable[str] = (),
        groups: Iterable[str] = (),
        claims: Mapping[str, Any] | None = None,
        kind: str = "user",
    ) -> None:
        _SET_ID(self, id)
        _SET_TENANT(self, tenant)
        _SET_ROLES(self, frozenset(roles))
        _SET_SCOPES(self, frozenset(scopes))
        _SET_GROUPS(self, frozenset(groups))
        _SET_CLAIMS(self, MappingProxyType(dict(claims)) if claims else _EMPTY)
        _SET_KIND(self, kind)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Principal is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Principal is immutable")

    def __repr__(self) -> str:
        return (
            f"Principal(id={self.id!r}, tenant={self.tenant!r}, roles={sorted(self.roles)}, "
            f"scopes={sorted(self.scopes)}, kind={self.kind!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Principal):
            return NotImplemented
        return (self.id, self.tenant, self.roles, self.scopes, self.groups, self.kind) == (
            other.id,
            other.tenant,
            other.roles,
            other.scopes,
            other.groups,
            other.kind,
        )

    def __hash__(self) -> int:
        return hash((self.id, self.tenant, self.roles, self.scopes, self.kind))

    @classmethod
    def anonymous(cls) -> Principal:
        """The caller of a public route who presented no credentials."""
        return _ANONYMOUS

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def to_context(self) -> dict[str, str]:
        """The principal as an authorizer context: flat strings only, as REST APIs require.

        Roles, scopes and groups are JSON arrays in a string (role names may hold
        spaces). :meth:`from_context` reads it back in the function.

        >>> Principal("u-1", tenant="acme", roles={"b", "a"}).to_context()["secauth_roles"]
        '["a","b"]'
        """
        encoded = _JSON_LISTS  # most sets were seen before: no call for them
        context = {
            "secauth_principal": self.id,
            "secauth_kind": self.kind,
            "secauth_roles": encoded.get(self.roles) or _json_list(self.roles),
            "secauth_scopes": encoded.get(self.scopes) or _json_list(self.scopes),
            "secauth_groups": encoded.get(self.groups) or _json_list(self.groups),
        }
        if self.tenant is not None:
            context["secauth_tenant"] = self.tenant
        return context

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> Principal:
        """Rebuild the principal a secauth authorizer put in the request context.

        Raises :class:`~secauth.errors.InvalidClaims` when the context is missing or
        malformed: a function behind an authorizer must not run on a half-filled context.

        >>> p = Principal("u-1", tenant="acme", roles={"admin"})
        >>> Principal.from_context(p.to_context()) == p
        True
        """
        if not isinstance(context, Mapping):
            raise InvalidClaims(detail={"problem": "no authorizer context"})
        fields: dict[str, str] = {}
        for name in (
            "secauth_principal",
            "secauth_kind",
            "secauth_roles",
            "secauth_scopes",
            "secauth_groups",
            "secauth_tenant",
        ):
            value = context.get(name)
            if value is None and name == "secauth_tenant":
                continue
            if type(value) is not str:
                raise InvalidClaims(
                    detail={"problem": "authorizer context incomplete", "field": name}
                )
            fields[name] = value
        if not fields["secauth_principal"] or fields["secauth_kind"] not in _CONTEXT_KINDS:
            raise InvalidClaims(detail={"problem": "authorizer context malformed"})
        return cls(
            fields["secauth_principal"],
            tenant=fields.get("secauth_tenant") or None,
            roles=_read_json_list(fields["secauth_roles"], "secauth_roles"),
            scopes=_read_json_list(fields["secauth_scopes"], "secauth_scopes"),
            groups=_read_json_list(fields["secauth_groups"], "secauth_groups"),
            kind=fields["secauth_kind"],
        )

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class _Unsealed:
    """:class:`Principal`'s slot layout without its guard against assignment. A principal
    built per request is filled here, then sealed by switching its class: seven guarded
    writes (``object.__setattr__`` past an overridden ``__setattr__``) cost four times more."""

    __slots__ = Principal.__slots__


def _sealed_user(
    id: str,
    tenant: str | None,
    roles: frozenset[str],
    scopes: frozenset[str],
    groups: frozenset[str],
    claims: Mapping[str, Any],
) -> Principal:
    """A ``kind="user"`` principal from parts already in their final types; ``claims``
    must be a read-only snapshot."""
    draft: Any = _Unsealed()
    draft.id = id
    draft.tenant = tenant
    draft.roles = roles
    draft.scopes = scopes
    draft.groups = groups
    draft.claims = claims
    draft.kind = "user"
    draft.__class__ = Principal
    principal: Principal = draft
    return principal


def _slot_setters() -> Any:
    # The slots' own setters: cheaper than object.__setattr__ past the overridden one.
    return tuple(Principal.__dict__[name].__set__ for name in _FIELD_ORDER)


_FIELD_ORDER = ("id", "tenant", "roles", "scopes", "groups", "claims", "kind")
_SET_ID, _SET_TENANT, _SET_ROLES, _SET_SCOPES, _SET_GROUPS, _SET_CLAIMS, _SET_KIND = _slot_setters()


_PLAIN_NAME = re.compile(r"[A-Za-z0-9 _.:/@+=,-]*")


def _json_list(values: frozenset[str]) -> str:
    # Few distinct sets of roles or scopes recur across requests: each is encoded once.
    text = _JSON_LISTS.get(values)
    if text is None:
        text = _encode_list(values)
        if len(text) <= _JSON_LISTS_LONGEST:  # long sets (from large tokens) are not kept
            if len(_JSON_LISTS) >= _JSON_LISTS_SIZE:
                _JSON_LISTS.clear()
            _JSON_LISTS[values] = text
    return text


_JSON_LISTS: dict[frozenset[str], str] = {}
_JSON_LISTS_SIZE = 256
_JSON_LISTS_LONGEST = 512


def _encode_list(values: frozenset[str]) -> str:
    if not values:
        return "[]"
    names = sorted(values)
    joined = '","'.join(names)
    # Plainness is per character, so the names are all plain when their concatenation
    # is. Nothing to escape then: build the array directly (json.dumps costs ~1 us).
    if _PLAIN_NAME.fullmatch("".join(names)):
        return '["' + joined + '"]'
    import json

    return json.dumps(names, separators=(",", ":"))


def _read_json_list(text: str, field: str) -> list[str]:
    import json

    try:
        values = json.loads(text)
    except ValueError:
        values = None
    if type(values) is not list or not all(type(v) is str for v in values):
        raise InvalidClaims(detail={"problem": "authorizer context malformed", "field": field})
    return values


_ANONYMOUS = Principal("anonymous", kind="anonymous")
_CONTEXT_KINDS = frozenset({"user", "api_key", "client_cert"})


class RoleHierarchy:
    """Roles that imply other roles, declared once: ``{"admin": ["member"], "member": ["viewer"]}``.

    Implications are transitive; cycles are allowed and harmless.

    >>> sorted(RoleHierarchy({"admin": ["member"], "member": ["viewer"]}).expand({"admin"}))
    ['admin', 'member', 'viewer']
    """

    __slots__ = ("_closure",)

    def __init__(self, implies: Mapping[str, Iterable[str]]) -> None:
        graph: dict[str, frozenset[str]] = {}
        for role, implied in implies.items():
            if not isinstance(role, str) or isinstance(implied, str):
                raise ConfigurationError(
                    "a role hierarchy maps a role to a list of roles: {'admin': ['member']}"
                )
            graph[role] = frozenset(implied)
        closure: dict[str, frozenset[str]] = {}
        for role in graph:
            seen = {role}
            stack = [role]
            while stack:
                for nxt in graph.get(stack.pop(), ()):
                    if nxt not in seen:
                        seen.add(nxt)
                        stack.append(nxt)
            closure[role] = frozenset(seen)
        self._closure = closure

    def expand(self, roles: Iterable[str]) -> frozenset[str]:
        """The roles plus every role they imply."""
        out: set[str] = set()
        for role in roles:
            out |= self._closure.get(role, frozenset((role,)))
        return frozenset(out)


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
        self.groups_are_roles = groups_are_roles
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
        if not namespace.endswith(("/", ":")):
            raise ConfigurationError("an Auth0 claim namespace ends with '/' (or ':')")
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
        # Top-level names (the usual paths) are read with claims.get, here, not in _lookup.
        path = self.id_claim
        principal_id = claims.get(path) if type(path) is str else _lookup(claims, path)
        if type(principal_id) is not str or not principal_id:
            raise InvalidClaims(
                detail={"claim": _path_name(path), "problem": "missing or not a string"}
            )
        tenant: str | None = None
        tenant_path = self.tenant_claim
        if tenant_path is not None:
            tenant = (
                claims.get(tenant_path)
                if type(tenant_path) is str
                else _lookup(claims, tenant_path)
            )
            if type(tenant) is not str or not tenant:
                raise InvalidClaims(
                    detail={"claim": _path_name(tenant_path), "problem": "missing or not a string"}
                )
        roles: list[str] = []
        for path in self.role_claims:
            value = claims.get(path) if type(path) is str else _lookup(claims, path)
            if value is not None:
                roles += _string_list(value, path)
        groups: list[str] = []
        for path in self.group_claims:
            value = claims.get(path) if type(path) is str else _lookup(claims, path)
            if value is not None:
                groups += _string_list(value, path)
        scopes: list[str] = []
        for path in self.scope_claims:
            value = claims.get(path) if type(path) is str else _lookup(claims, path)
            if value is not None:
                scopes += _scope_values(value, path)
        if self.groups_are_roles:
            roles += groups
        return _sealed_user(
            principal_id,
            tenant,
            (
                self.role_hierarchy.expand(roles)
                if self.role_hierarchy is not None
                else frozenset(roles) if roles else _NO_NAMES
            ),
            frozenset(scopes) if scopes else _NO_NAMES,
            frozenset(groups) if groups else _NO_NAMES,
            MappingProxyType(dict(claims)) if claims else _EMPTY,
        )
