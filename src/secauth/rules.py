"""The built-in access rules: roles, scopes, authentication, tenant, and functions as rules.

A :class:`Rule` answers "may this principal make this request?" with ``None``
(allowed) or a :class:`Denial` carrying a stable reason. Rules compose with
``&``, ``|`` and ``~``. Each rule can also say, from the principal alone, on which
path-parameter values it allows (see :meth:`Rule.bindings`), which is how cached
authorizer policies know what a principal may call. The protocol and the combinators
are in :mod:`secauth.rule_core` (re-exported here); rules on what API Gateway saw of
the caller are in :mod:`secauth.request_rules`; the route table that puts rules on
routes is :class:`secauth.access.Routes`.

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
from collections.abc import Callable, Iterable
from typing import Final, overload
from urllib.parse import unquote

from secauth.errors import ConfigurationError, Reason
from secauth.events import EventKind, header_spellings
from secauth.options import flag, names
from secauth.principal import Principal
from secauth.rule_core import (
    AccessContext,
    Bindings,
    Denial,
    Rule,
    as_rule,
    missing_parameters,
    negated_parameters,
)

__all__ = [
    "AccessContext",
    "Bindings",
    "Denial",
    "Rule",
    "as_rule",
    "authenticated",
    "missing_parameters",
    "negated_parameters",
    "public",
    "roles",
    "rule",
    "scopes",
    "tenant",
]


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

    def refuses_undecided(self, principal: Principal) -> bool | None:
        return False


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

    def refuses_undecided(self, principal: Principal) -> bool | None:
        return principal.is_anonymous


class _Scopes(_Roles):
    __slots__ = ()

    def __init__(self, names: tuple[str, ...], all_of: bool) -> None:
        self.names = _names("scopes", names)
        if any(name.split() != [name] for name in self.names):
            # A token's scope claim is split on spaces: no scope it grants holds one.
            raise ConfigurationError("scopes(...) takes one scope per name: scopes('a', 'b'), not 'a b'")
        self.all_of = flag("all_of", all_of)
        self._denial = Denial(Reason.INSUFFICIENT_SCOPE, repr(self), scopes=tuple(sorted(self.names)))

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


# Text, not compiled: re compiles it on first use (rare inputs), not at import.
_ENCODED = r"%[0-9A-Fa-f]{2}"


# Denials are immutable: the common ones are built once, not on every refused request.
_NO_TENANT: Final = Denial(
    Reason.TENANT_MISMATCH,
    "principal has no tenant (map it from a claim: ClaimMapper(tenant_claim=...))",
    undecided=True,
)
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

    def path_parameters(self) -> frozenset[str]:
        return frozenset([self.name]) if self.source == "path" else frozenset()

    def refuses_undecided(self, principal: Principal) -> bool | None:
        return True  # bindings never allow only a principal without a tenant: _NO_TENANT


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


_RuleFunction = Callable[[Principal, AccessContext], bool]


class _FunctionRule(Rule):
    """:func:`rule`'s rule; every argument is checked here, for both of its forms."""

    __slots__ = ("func", "parameters", "reason")

    def __init__(self, func: _RuleFunction, reason: Reason, parameters: Iterable[str]) -> None:
        if not callable(func):
            raise ConfigurationError(f"rule(...) needs a function, got {type(func).__name__}")
        if not isinstance(reason, Reason):
            raise ConfigurationError(f"rule(reason=...) must be a Reason, not a {type(reason).__name__}")
        self.func = func
        self.reason = reason
        self.parameters = frozenset(names("path_parameters", parameters))

    def __repr__(self) -> str:
        return getattr(self.func, "__name__", "rule")

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return None if self.func(principal, context) is True else Denial(self.reason, repr(self))

    def path_parameters(self) -> frozenset[str]:
        return self.parameters


@overload
def rule(
    func: _RuleFunction, *, reason: Reason = ..., path_parameters: Iterable[str] = ...
) -> Rule: ...
@overload
def rule(
    func: None = None, *, reason: Reason = ..., path_parameters: Iterable[str] = ...
) -> Callable[[_RuleFunction], Rule]: ...
def rule(
    func: _RuleFunction | None = None,
    *,
    reason: Reason = Reason.FORBIDDEN,
    path_parameters: Iterable[str] = (),
) -> Rule | Callable[[_RuleFunction], Rule]:
    """Turn ``func(principal, context) -> bool`` into a rule; only ``True`` allows.
    ``path_parameters``: the names it reads from ``context.params``, for the route
    table's check (:meth:`Rule.path_parameters`).

    >>> @rule
    ... def weekday_only(principal, context):
    ...     return True
    >>> isinstance(weekday_only & roles("ops"), Rule)
    True
    >>> @rule(path_parameters=["userId"])
    ... def owner(principal, context):
    ...     return context.params.get("userId") == principal.id
    >>> sorted(owner.path_parameters())
    ['userId']
    """
    if func is None:
        return lambda f: _FunctionRule(f, reason, path_parameters)
    return _FunctionRule(func, reason, path_parameters)
