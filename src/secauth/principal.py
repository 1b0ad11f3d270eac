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

import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

from secauth.errors import ConfigurationError, InvalidClaims
from secauth.options import flag
from secauth.role_hierarchy import RoleHierarchy

__all__ = [
    "CONTEXT_FIELDS",
    "ClaimMapper",
    "ClaimPath",
    "Principal",
    "RoleHierarchy",
    "context_expiry",
]

ClaimPath = str | tuple[str, ...]
_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})
_MAX_ITEMS = 256
#: The authorizer context fields :meth:`Principal.to_context` writes and
#: :meth:`Principal.from_context` reads (``secauth_tenant`` only when there is a tenant,
#: ``secauth_issuer`` only when the principal names one, ``secauth_exp`` only for a
#: token with an ``exp``: :func:`context_expiry`; ``secauth_token_claims`` only when asked
#: for, with ``to_context(token_claims=...)``).
CONTEXT_FIELDS: Final = (
    "secauth_principal",
    "secauth_kind",
    "secauth_roles",
    "secauth_scopes",
    "secauth_groups",
    "secauth_tenant",
    "secauth_issuer",
    "secauth_exp",
    "secauth_token_claims",
)
_OPTIONAL_CONTEXT_FIELDS: Final = (
    "secauth_tenant",
    "secauth_issuer",
    "secauth_exp",
    "secauth_token_claims",
)
# One encoder, built once: json.dumps with options builds a new one on every call.
_COMPACT_JSON: Final = json.JSONEncoder(separators=(",", ":"))


class Principal:
    """An authenticated caller: immutable.

    Attributes
    ----------
    id: the subject (``sub`` by default).
    issuer: the token's ``iss`` (None for API keys, certificates, the anonymous
        caller): a subject is unique within its issuer only, so two issuers' ``alice``
        are two principals.
    tenant: the tenant from verified claims, or None.
    roles, scopes, groups: frozensets of strings (roles already include those
        implied by a :class:`RoleHierarchy`); any iterable of strings is accepted.
    claims: the verified claims, read-only (not part of equality).
    kind: ``"user"`` for tokens, ``"api_key"``, ``"client_cert"``, or ``"anonymous"``.

    >>> p = Principal("alice", roles={"admin"}, tenant="acme")
    >>> p.has_role("admin"), p.tenant, p.is_anonymous
    (True, 'acme', False)
    """

    # Read-only properties over private slots: immutable without a frozen dataclass,
    # whose machinery (dataclasses imports inspect) a cold start would pay for.
    __slots__ = ("_claims", "_groups", "_id", "_issuer", "_kind", "_roles", "_scopes", "_tenant")

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
        issuer: str | None = None,
    ) -> None:
        if type(id) is not str or (tenant is not None and type(tenant) is not str):
            raise ConfigurationError("a principal's id and tenant are strings")
        if issuer is not None and (type(issuer) is not str or not issuer):
            raise ConfigurationError("a principal's issuer is a non-empty string or None")
        if type(kind) is not str:
            raise ConfigurationError("a principal's kind is a string such as 'user'")
        self._id = id
        self._tenant = tenant
        self._roles = _names_of("roles", roles)
        self._scopes = _names_of("scopes", scopes)
        self._groups = _names_of("groups", groups)
        self._claims = MappingProxyType(dict(claims)) if claims else _EMPTY
        self._kind = kind
        self._issuer = issuer

    @property
    def id(self) -> str:
        return self._id

    @property
    def issuer(self) -> str | None:
        return self._issuer

    @property
    def tenant(self) -> str | None:
        return self._tenant

    @property
    def roles(self) -> frozenset[str]:
        return self._roles

    @property
    def scopes(self) -> frozenset[str]:
        return self._scopes

    @property
    def groups(self) -> frozenset[str]:
        return self._groups

    @property
    def claims(self) -> Mapping[str, Any]:
        return self._claims

    @property
    def kind(self) -> str:
        return self._kind

    def __repr__(self) -> str:
        issuer = f", issuer={self.issuer!r}" if self.issuer is not None else ""
        return (
            f"Principal(id={self.id!r}{issuer}, tenant={self.tenant!r}, "
            f"roles={sorted(self.roles)}, scopes={sorted(self.scopes)}, kind={self.kind!r})"
        )

    def _identity(self) -> tuple[object, ...]:
        return (self.id, self.issuer, self.tenant, self.roles, self.scopes, self.groups, self.kind)

    def __eq__(self, other: object) -> bool:
        """Equal when everything but the claims is (claims are the evidence, not the who)."""
        if not isinstance(other, Principal):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def replace(self, **changes: Any) -> Principal:
        """A copy with ``changes`` (the constructor's keywords) applied and every other
        field kept: the issuer, groups and claims a hook does not mean to drop.

        >>> ann = Principal("ann", roles={"member"}, issuer="https://idp/")
        >>> gold = ann.replace(roles=ann.roles | {"reader"})
        >>> sorted(gold.roles), gold.issuer
        (['member', 'reader'], 'https://idp/')
        """
        fields: dict[str, Any] = {
            "id": self.id, "tenant": self.tenant, "roles": self.roles, "scopes": self.scopes,
            "groups": self.groups, "claims": self.claims, "kind": self.kind, "issuer": self.issuer,
        }  # fmt: skip
        unknown = sorted(changes.keys() - fields.keys())
        if unknown:
            raise ConfigurationError(f"a principal has no field {unknown[0]!r}")
        if "claims" not in changes:  # the copy's own: a change to it never reaches this one
            import copy

            fields["claims"] = copy.deepcopy(dict(self.claims))
        fields.update(changes)
        return Principal(fields.pop("id"), **fields)

    @classmethod
    def anonymous(cls) -> Principal:
        """The caller of a public route who presented no credentials."""
        return _ANONYMOUS

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def to_context(self, *, token_claims: Collection[str] = ()) -> dict[str, str]:
        """The principal as an authorizer context: flat strings only, as REST APIs require.

        Roles, scopes and groups are JSON arrays in a string (role names may hold
        spaces). ``token_claims``: the names of claims to pass along too, as a JSON object
        in ``secauth_token_claims`` (those the claims hold; the ones a revocation list
        reads, :data:`~secauth.revocation.REVOCATION_CLAIMS`, for a guard that checks it).
        :meth:`from_context` reads it back in the function.

        >>> Principal("u-1", tenant="acme", roles={"b", "a"}).to_context()["secauth_roles"]
        '["a","b"]'
        >>> Principal("u", claims={"sub": "u", "jti": "t-1"}).to_context(
        ...     token_claims=("jti", "iat"))["secauth_token_claims"]
        '{"jti":"t-1"}'
        """
        context = {
            "secauth_principal": self.id,
            "secauth_kind": self.kind,
            "secauth_roles": _json_list(self.roles),
            "secauth_scopes": _json_list(self.scopes),
            "secauth_groups": _json_list(self.groups),
        }
        if self.tenant is not None:
            context["secauth_tenant"] = self.tenant
        if self.issuer is not None:
            context["secauth_issuer"] = self.issuer
        exp = self._claims.get("exp")
        if type(exp) is int or (type(exp) is float and math.isfinite(exp)):
            # the token's expiry: a WebSocket connection's messages repeat this context
            # for hours after $connect, and the Guard refuses it once the token expired
            context["secauth_exp"] = str(int(exp))
        if token_claims:
            passed = {name: self._claims[name] for name in token_claims if name in self._claims}
            context["secauth_token_claims"] = _COMPACT_JSON.encode(passed)
        return context

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> Principal:
        """Rebuild the principal a secauth authorizer put in the request context; its
        ``claims`` are those passed in ``secauth_token_claims`` (none without).

        Raises :class:`~secauth.errors.InvalidClaims` when the context is missing or
        malformed: a function behind an authorizer must not run on a half-filled context.

        >>> p = Principal("u-1", tenant="acme", roles={"admin"})
        >>> Principal.from_context(p.to_context()) == p
        True
        """
        if not isinstance(context, Mapping):
            raise InvalidClaims(detail={"problem": "no authorizer context"})
        fields: dict[str, str] = {}
        for name in CONTEXT_FIELDS:
            value = context.get(name)
            if value is None and name in _OPTIONAL_CONTEXT_FIELDS:
                continue
            if type(value) is not str:
                raise InvalidClaims(
                    detail={"problem": "authorizer context incomplete", "field": name}
                )
            fields[name] = value
        if not fields["secauth_principal"] or fields["secauth_kind"] not in _CONTEXT_KINDS:
            raise InvalidClaims(detail={"problem": "authorizer context malformed"})
        token_claims = fields.get("secauth_token_claims")
        return cls(
            fields["secauth_principal"],
            tenant=fields.get("secauth_tenant") or None,
            roles=_read_json_list(fields["secauth_roles"], "secauth_roles"),
            scopes=_read_json_list(fields["secauth_scopes"], "secauth_scopes"),
            groups=_read_json_list(fields["secauth_groups"], "secauth_groups"),
            kind=fields["secauth_kind"],
            issuer=fields.get("secauth_issuer") or None,
            claims=None if token_claims is None else _read_json(token_claims, "secauth_token_claims", dict),
        )

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def context_expiry(context: Mapping[str, Any]) -> int | None:
    """The ``secauth_exp`` of an authorizer context (:meth:`Principal.to_context`): the
    token's expiry in epoch seconds; None when it has none (an API key, a client
    certificate, a context written before it existed). Raises
    :class:`~secauth.errors.InvalidClaims` when it is not a whole number.

    >>> context_expiry(Principal("u", claims={"sub": "u", "exp": 4e9}).to_context())
    4000000000
    >>> context_expiry(Principal("u").to_context()) is None
    True
    """
    value = context.get("secauth_exp")
    if value is None:
        return None
    # at most 16 digits: a verifier accepts an exp up to 2**53
    if type(value) is not str or not (value.isascii() and value.isdigit()) or len(value) > 16:
        raise InvalidClaims(detail={"problem": "authorizer context malformed", "field": "secauth_exp"})
    return int(value)


def _names_of(field: str, names: Iterable[str]) -> frozenset[str]:
    """``names`` as a frozenset of strings; a bare string is refused (it would be a set
    of its characters)."""
    if isinstance(names, str):
        raise ConfigurationError(
            f"{field} is a collection of names, not a string: write {field}=[{names!r}]"
        )
    out = frozenset(names)
    if out and not all(type(name) is str for name in out):  # most sets are empty
        raise ConfigurationError(f"{field} must be strings")
    return out


def _json_list(values: frozenset[str]) -> str:
    """A set of names as a sorted, compact JSON array (``'["a","b"]'``)."""
    return _COMPACT_JSON.encode(sorted(values)) if values else "[]"


def _read_json_list(text: str, field: str) -> list[str]:
    values: list[str] = _read_json(text, field, list)
    if not all(type(v) is str for v in values):
        raise InvalidClaims(detail={"problem": "authorizer context malformed", "field": field})
    return values


def _read_json(text: str, field: str, expected: type[Any]) -> Any:
    """A context field's JSON value, of the ``expected`` type; else InvalidClaims."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        value = None
    if type(value) is not expected:
        raise InvalidClaims(detail={"problem": "authorizer context malformed", "field": field})
    return value


_ANONYMOUS = Principal("anonymous", kind="anonymous")
_CONTEXT_KINDS = frozenset({"user", "api_key", "client_cert"})


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
