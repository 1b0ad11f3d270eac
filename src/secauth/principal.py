"""``Principal``: who is calling, as the access rules and the authorizer context see it.

Claims become a principal through a :class:`~secauth.claim_mapping.ClaimMapper`
(:mod:`secauth.claim_mapping`; ``ClaimMapper`` and ``ClaimPath`` are importable from
here too).

>>> p = Principal("u-1", tenant="acme", roles={"admin"})
>>> p.has_role("admin"), p.tenant
(True, 'acme')
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from secauth._lazy import lazy_exports
from secauth.errors import ConfigurationError, InvalidClaims
from secauth.role_hierarchy import RoleHierarchy

__all__ = [
    "CONTEXT_FIELDS",
    "ClaimMapper",
    "ClaimPath",
    "Principal",
    "RoleHierarchy",
    "context_expiry",
]

if TYPE_CHECKING:
    from secauth.claim_mapping import ClaimMapper, ClaimPath

# ClaimMapper and ClaimPath live in secauth.claim_mapping, which imports this module.
__getattr__ = lazy_exports(
    "secauth.principal",
    {"ClaimMapper": "secauth.claim_mapping", "ClaimPath": "secauth.claim_mapping"},
    globals(),
)
_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})
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
