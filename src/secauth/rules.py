"""Access rules: roles, scopes, tenant, network and service identity, and combinators.

A :class:`Rule` answers "may this principal make this request?" with ``None``
(allowed) or a :class:`Denial` carrying a stable reason. Rules compose with
``&``, ``|`` and ``~``. Each rule can also say, from the principal alone, on which
path-parameter values it allows (see :meth:`Rule.bindings`), which is how cached
authorizer policies know what a principal may call. The route table that puts
rules on routes is :class:`secauth.access.Routes`.

Example
-------
>>> from secauth.principal import Principal
>>> admin_or_owner = roles("admin") | tenant(path="tenantId")
>>> context = AccessContext("GET", "/t/acme", {"tenantId": "acme"}, None)
>>> admin_or_owner.check(Principal("alice", tenant="acme"), context) is None
True
>>> admin_or_owner.check(Principal("bob", tenant="globex"), context).reason.value
'tenant_mismatch'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple
from urllib.parse import unquote

from secauth.errors import (
    AccessDenied,
    ConfigurationError,
    Forbidden,
    InsufficientScope,
    Reason,
    TenantMismatch,
)
from secauth.events import EventKind, header_spellings
from secauth.options import flag
from secauth.principal import Principal

if TYPE_CHECKING:
    from secauth.events import Request

__all__ = [
    "AccessContext",
    "Bindings",
    "Denial",
    "Rule",
    "as_rule",
    "authenticated",
    "missing_parameters",
    "negated_parameters",
    "path_parameters",
    "public",
    "roles",
    "rule",
    "scopes",
    "tenant",
]

# A rule's answer from the principal alone: a list of alternatives, each a mapping of
# path parameter -> required value. [] = never allowed, [{}] = always allowed,
# None = depends on the request in a way a path cannot express.
Bindings = list[dict[str, str]] | None


class Denial(NamedTuple):
    """Why a rule said no: a stable reason and log-only detail. ``undecided``: the rule could
    not tell (no identity to judge, a value missing, given twice or still encoded), which a
    ``~`` keeps a denial instead of turning into an allow."""

    reason: Reason
    detail: str
    undecided: bool = False

    def to_error(self) -> AccessDenied:
        """The matching :class:`~secauth.errors.AccessDenied` subclass."""
        error_class = _ERRORS.get(self.reason, Forbidden)
        return error_class(detail={"rule": self.detail})


_ERRORS: Final[dict[Reason, type[AccessDenied]]] = {
    Reason.FORBIDDEN: Forbidden,
    Reason.INSUFFICIENT_SCOPE: InsufficientScope,
    Reason.TENANT_MISMATCH: TenantMismatch,
}


class AccessContext(NamedTuple):
    """What a rule may look at besides the principal."""

    method: str
    path: str
    params: Mapping[str, str]
    request: Request | None


# --- the rule protocol ----------------------------------------------------------------------


class Rule:
    """Base class of access rules. Subclass it and implement :meth:`check`.

    Override :meth:`bindings` only if your rule can be decided from the principal
    alone; the default (``None``) means "depends on the request", which keeps routes
    using the rule out of cache-safe authorizer policies.

    >>> class OwnerOnly(Rule):
    ...     def check(self, principal, context):
    ...         if context.params.get("userId") == principal.id:
    ...             return None
    ...         return Denial(Reason.FORBIDDEN, "not the owner")
    ...     def bindings(self, principal):
    ...         return [{"userId": principal.id}]
    """

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        raise NotImplementedError

    def bindings(self, principal: Principal) -> Bindings:
        return None

    def __and__(self, other: Rule) -> Rule:
        return _All((self, as_rule(other)))

    def __or__(self, other: Rule) -> Rule:
        return _Any((self, as_rule(other)))

    def __invert__(self) -> Rule:
        return _Not(self)


def as_rule(value: object) -> Rule:
    """``value`` if it is a :class:`Rule`; else a ConfigurationError that says so."""
    if not isinstance(value, Rule):
        raise ConfigurationError(f"expected an access rule, got {type(value).__name__}")
    return value


class _All(Rule):
    __slots__ = ("rules",)

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules

    def __repr__(self) -> str:
        return " & ".join(map(repr, self.rules))

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        first: Denial | None = None  # the first failing rule's, undecided unless one decides
        for item in self.rules:
            denial = item.check(principal, context)
            if denial is not None and not denial.undecided:
                return denial if first is None else first._replace(undecided=False)
            first = first or denial
        return first

    def bindings(self, principal: Principal) -> Bindings:
        combined: list[dict[str, str]] = [{}]
        for item in self.rules:
            alternatives = item.bindings(principal)
            if alternatives is None:
                return None
            merged: list[dict[str, str]] = []
            for left in combined:
                for right in alternatives:
                    if all(left.get(k, v) == v for k, v in right.items()):
                        merged.append({**left, **right})
            combined = merged
        return combined


class _Any(Rule):
    __slots__ = ("rules",)

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules

    def __repr__(self) -> str:
        return "(" + " | ".join(map(repr, self.rules)) + ")"

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        denial: Denial | None = None
        undecided = False
        for item in self.rules:
            denial = item.check(principal, context)
            if denial is None:
                return None
            undecided = undecided or denial.undecided
        return denial._replace(undecided=True) if denial and undecided else denial

    def bindings(self, principal: Principal) -> Bindings:
        union: list[dict[str, str]] = []
        for item in self.rules:
            alternatives = item.bindings(principal)
            if alternatives is None:
                return None
            union += alternatives
        return union


class _Not(Rule):
    __slots__ = ("inner",)

    def __init__(self, inner: Rule) -> None:
        self.inner = inner

    def __repr__(self) -> str:
        return f"~{self.inner!r}"

    # Allows where the inner rule decides no; where it could not tell (the anonymous
    # principal has no roles, scopes or tenant to lack; a tenant missing or given twice), ~
    # denies too: ~roles("suspended") is no public() route, ~tenant(query=) no bypass.
    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        denial = self.inner.check(principal, context)
        if denial is None:
            return Denial(Reason.FORBIDDEN, f"not {self.inner!r}")
        return denial if denial.undecided else None

    def bindings(self, principal: Principal) -> Bindings:
        inner = self.inner.bindings(principal)
        if inner == [{}]:
            return []
        if inner == []:
            undecided = _undecided(self.inner, principal)
            return None if undecided is None else [] if undecided else [{}]
        return None


def _undecided(rule: Rule, principal: Principal) -> bool | None:
    """For ``rule``, whose bindings never allow ``principal``: whether its check refuses it
    undecided (:attr:`Denial.undecided`) on every path (True), decided on every path
    (False), or depending on path values (None), which ``~``'s bindings then follow."""
    if isinstance(rule, _Roles):  # _Scopes too
        return principal.is_anonymous
    if isinstance(rule, _Tenant):  # a path tenant: only a principal without one never binds
        return True
    if isinstance(rule, _Not):  # inner always allows: decided; or never, undecided
        return False if rule.inner.bindings(principal) == [{}] else _undecided(rule.inner, principal)
    if not isinstance(rule, _All | _Any):
        return False  # a custom rule's refusal is its own decision
    parts = [(item.bindings(principal), item) for item in rule.rules]
    kinds = [_undecided(item, principal) for found, item in parts if found == []]
    if isinstance(rule, _Any):  # every arm never allows: undecided where one is
        return True if True in kinds else None if None in kinds else False
    # An &: decided where one part refuses decided, as a part allowing some values does;
    # [] from parts binding different values alone: each may refuse undecided somewhere.
    if False in kinds:
        return False
    if not kinds:
        return None
    return None if None in kinds or any(found and found != [{}] for found, _ in parts) else True


# --- built-in rules -------------------------------------------------------------------------


class _Principal(Rule):
    """A rule decided by the principal alone."""

    __slots__ = ()

    def allows(self, principal: Principal) -> bool:
        raise NotImplementedError

    def denial(self) -> Denial:
        raise NotImplementedError

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return None if self.allows(principal) else self.denial()

    def bindings(self, principal: Principal) -> Bindings:
        return [{}] if self.allows(principal) else []


def _names(kind: str, names: tuple[str, ...]) -> frozenset[str]:
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigurationError(f"{kind}(...) needs one or more non-empty names")
    return frozenset(names)


class _Roles(_Principal):
    __slots__ = ("_denial", "all_of", "names")

    def __init__(self, names: tuple[str, ...], all_of: bool) -> None:
        self.names = _names("roles", names)
        self.all_of = flag("all_of", all_of)
        self._denial = Denial(Reason.FORBIDDEN, repr(self))

    def __repr__(self) -> str:
        return f"roles({', '.join(sorted(self.names))}{', all_of' if self.all_of else ''})"

    def allows(self, principal: Principal) -> bool:
        if self.all_of:
            return self.names <= principal.roles
        return not self.names.isdisjoint(principal.roles)

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        if self.allows(principal):
            return None
        # The anonymous principal holds none: what it would hold, no rule can tell.
        return self._denial._replace(undecided=True) if principal.is_anonymous else self._denial


class _Scopes(_Roles):
    __slots__ = ()

    def __init__(self, names: tuple[str, ...], all_of: bool) -> None:
        self.names = _names("scopes", names)
        if any(name.split() != [name] for name in self.names):
            # A token's scope claim is split on spaces: no scope it grants holds one.
            raise ConfigurationError("scopes(...) takes one scope per name: scopes('a', 'b'), not 'a b'")
        self.all_of = flag("all_of", all_of)
        self._denial = Denial(Reason.INSUFFICIENT_SCOPE, repr(self))

    def __repr__(self) -> str:
        return f"scopes({', '.join(sorted(self.names))}{', all_of' if self.all_of else ''})"

    def allows(self, principal: Principal) -> bool:
        if self.all_of:
            return self.names <= principal.scopes
        return not self.names.isdisjoint(principal.scopes)


class _Authenticated(_Principal):
    __slots__ = ()

    def __repr__(self) -> str:
        return "authenticated()"

    def allows(self, principal: Principal) -> bool:
        return not principal.is_anonymous

    def denial(self) -> Denial:
        return Denial(Reason.FORBIDDEN, "authentication required")


class _Public(_Principal):
    __slots__ = ()

    def __repr__(self) -> str:
        return "public()"

    def allows(self, principal: Principal) -> bool:
        return True


def roles(*names: str, all_of: bool = False) -> Rule:
    """Allow principals holding any of ``names`` (all of them with ``all_of=True``).

    >>> roles("admin").check(Principal("a", roles={"admin"}), None) is None
    True
    """
    return _Roles(names, all_of)


def scopes(*names: str, all_of: bool = False) -> Rule:
    """Allow principals granted any of the scopes (all of them with ``all_of=True``);
    a denial has reason ``insufficient_scope``.

    >>> scopes("a", "b", all_of=True).check(Principal("p", scopes={"a"}), None).reason.value
    'insufficient_scope'
    """
    return _Scopes(names, all_of)


def authenticated() -> Rule:
    """Allow any authenticated principal (not anonymous)."""
    return _Authenticated()


def public() -> Rule:
    """Allow everyone, even without credentials."""
    return _Public()


def path_parameters(rule: Rule) -> frozenset[str]:
    """The path parameters ``rule`` reads by name (``tenant(path=...)``), within its ``&``,
    ``|`` and ``~``.

    >>> sorted(path_parameters(roles("a") | ~tenant(path="tenantId")))
    ['tenantId']
    """
    if isinstance(rule, _Tenant):
        return frozenset([rule.name]) if rule.source == "path" else frozenset()
    if isinstance(rule, _All | _Any):
        return frozenset().union(*map(path_parameters, rule.rules))
    if isinstance(rule, _Not):
        return path_parameters(rule.inner)
    return frozenset()


def missing_parameters(rule: Rule, have: frozenset[str]) -> frozenset[str]:
    """The path parameters ``rule`` reads that a route with parameters ``have`` lacks, where
    the lack changes what it means: under a ``~`` at any depth (the negation would allow
    what the missing value never gets to deny), or where the rule could never allow. An
    ``|`` arm that could never allow beside one that can is a shared rule's other case
    (``roles("admin") | tenant(path="t")``).

    >>> sorted(missing_parameters(tenant(path="tenant_id") & roles("a"), frozenset({"tenantId"})))
    ['tenant_id']
    >>> missing_parameters(roles("admin") | tenant(path="t"), frozenset())
    frozenset()
    >>> sorted(missing_parameters(roles("admin") | (roles("b") & ~tenant(path="t")), frozenset()))
    ['t']
    """
    return (negated_parameters(rule) - have) | _never_allowing(rule, have)


def negated_parameters(rule: Rule) -> frozenset[str]:
    """The path parameters ``rule`` reads under a ``~``, at any depth.

    >>> sorted(negated_parameters(roles("a") | (tenant(path="t") & ~tenant(path="u"))))
    ['u']
    """
    if isinstance(rule, _Not):
        return path_parameters(rule.inner)
    if isinstance(rule, _All | _Any):
        return frozenset().union(*map(negated_parameters, rule.rules))
    return frozenset()


def _never_allowing(rule: Rule, have: frozenset[str]) -> frozenset[str]:
    """The missing parameters that leave ``rule`` unable to allow (a ``~`` aside)."""
    if isinstance(rule, _Tenant):
        return frozenset([rule.name]) - have if rule.source == "path" else frozenset()
    if isinstance(rule, _All | _Any):
        parts = [_never_allowing(item, have) for item in rule.rules]
        if isinstance(rule, _Any) and not all(parts):
            return frozenset()  # another arm can allow
        return frozenset().union(*parts)
    return frozenset()


# Text, not compiled: re compiles it on first use (rare inputs), not at import.
_ENCODED = r"%[0-9A-Fa-f]{2}"


# Denials are immutable: the common ones are built once, not on every refused request.
_NO_TENANT: Final = Denial(Reason.TENANT_MISMATCH, "principal has no tenant", undecided=True)
_DOUBLE_ENCODED_TENANT: Final = Denial(
    Reason.TENANT_MISMATCH,
    "tenant value is still encoded after one decoding, or not UTF-8",
    undecided=True,
)
_OTHER_TENANT: Final = Denial(Reason.TENANT_MISMATCH, "request names another tenant")


class _Tenant(Rule):
    __slots__ = ("name", "source")

    def __init__(self, source: str, name: str) -> None:
        self.source = source
        self.name = name.lower() if source == "header" else name

    def __repr__(self) -> str:
        return f"tenant({self.source}={self.name!r})"

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        wanted = principal.tenant
        if not wanted or principal.is_anonymous:
            return _NO_TENANT
        value = self._value(context)
        # Exact, case-sensitive comparison of the once-decoded value (Routes decodes path
        # parameters once, API Gateway query values; headers and ALB's query values, which
        # come as sent, are decoded here); anything still encoded after one decoding, or
        # not UTF-8, is refused rather than guessed at.
        if value and "%" in value and self._sent_encoded(context) and re.search(_ENCODED, value):
            try:
                value = unquote(value, errors="strict")
            except UnicodeDecodeError:
                return _DOUBLE_ENCODED_TENANT
        # None, empty or padded (a backend may fall back to the caller's own, or strip it),
        # or a list once decoded.
        if not value or value != value.strip() or (self.source != "path" and "," in value):
            return Denial(Reason.TENANT_MISMATCH,
                          f"request names no tenant, or more than one ({self.source})",
                          undecided=True)  # fmt: skip
        if "%" in value:
            return _DOUBLE_ENCODED_TENANT
        if value != wanted:
            return _OTHER_TENANT
        return None

    def _sent_encoded(self, context: AccessContext) -> bool:
        """Whether the value arrives as the client wrote it: a header, or an ALB query
        value (REST, HTTP and WebSocket events carry query values decoded once)."""
        if self.source == "header":
            return True
        request = context.request
        return self.source == "query" and request is not None and request.kind is EventKind.ALB

    def _value(self, context: AccessContext) -> str | None:
        if self.source == "path":
            return context.params.get(self.name)
        request = context.request
        if request is None:
            return None
        if self.source == "header":
            # WSGI reads X-Tenant-Id and X_Tenant-Id alike (HTTP_X_TENANT_ID): one name.
            spellings = header_spellings(request.raw, self.name)
            values = tuple(v for spelling in spellings for v in request.header_values(spelling))
        else:
            values = request.query_values(self.name)
        # A tenant named twice is judged on neither value: backends differ on which wins.
        # HTTP APIs and Function URLs join a repeated header or query value with a comma.
        return values[0] if len(values) == 1 and "," not in values[0] else None

    def bindings(self, principal: Principal) -> Bindings:
        if self.source != "path":
            return None
        wanted = principal.tenant
        if not wanted or principal.is_anonymous:
            return []  # never allows
        if wanted in (".", "..") or not _SAFE_BINDING.fullmatch(wanted):
            # The rule may allow it, but no path segment in a policy can name it: a
            # cached policy cannot grant it, and neither can the negation of this rule.
            return None
        return [{self.name: wanted}]


# Values that may stand for a path parameter in an IAM Resource ARN: no wildcards, no
# slashes, and no ";" (every cached policy denies paths holding one, SEMICOLON_PATHS, and
# Routes reads "acme;x" as "acme" too: such a tenant is decided per request).
_SAFE_BINDING = re.compile(r"[A-Za-z0-9._~:@!$&'()+,=-]+")


def tenant(*, path: str | None = None, header: str | None = None, query: str | None = None) -> Rule:
    """Require the tenant named by the request to equal the principal's (verified) tenant.

    Give exactly one of ``path`` (a path parameter of the route), ``header`` or
    ``query``. A request that names no tenant, another one, or a tenant more than once
    (a repeated header or query parameter) is denied with ``tenant_mismatch``.
    Comparison is exact and case-sensitive, on the value percent-decoded once.

    >>> rule = tenant(path="tenantId")
    >>> ctx = AccessContext("GET", "/t/acme", {"tenantId": "acme"}, None)
    >>> rule.check(Principal("u", tenant="acme"), ctx) is None
    True
    """
    given = [(k, v) for k, v in (("path", path), ("header", header), ("query", query)) if v]
    if len(given) != 1:
        raise ConfigurationError("tenant(...) takes exactly one of path=, header= or query=")
    return _Tenant(*given[0])


class _FunctionRule(Rule):
    __slots__ = ("func", "reason")

    def __init__(self, func: Callable[[Principal, AccessContext], bool], reason: Reason) -> None:
        self.func = func
        self.reason = reason

    def __repr__(self) -> str:
        return getattr(self.func, "__name__", "rule")

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return None if self.func(principal, context) is True else Denial(self.reason, repr(self))


def rule(
    func: Callable[[Principal, AccessContext], bool] | None = None,
    *,
    reason: Reason = Reason.FORBIDDEN,
) -> Any:
    """Turn ``func(principal, context) -> bool`` into a rule; only ``True`` allows.

    >>> @rule
    ... def weekday_only(principal, context):
    ...     return True
    >>> isinstance(weekday_only & roles("ops"), Rule)
    True
    """
    if func is None:
        return lambda f: _FunctionRule(f, reason)
    return _FunctionRule(func, reason)
