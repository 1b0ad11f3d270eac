"""The access-rule protocol: :class:`Rule`, its answers (:class:`Denial`, ``Bindings``) and
the ``&``, ``|`` and ``~`` combinators with their three-valued logic and path-parameter
checks. The built-in rules (roles, scopes, tenant, ...) are in :mod:`secauth.rules`, which
re-exports everything here.

Example
-------
>>> from secauth.errors import Reason
>>> from secauth.principal import Principal
>>> class Owner(Rule):
...     def check(self, principal, context):
...         if context.params.get("userId") == principal.id:
...             return None
...         return Denial(Reason.FORBIDDEN, "not the owner")
...     def path_parameters(self):
...         return frozenset({"userId"})
>>> context = AccessContext("GET", "/u/bob", {"userId": "bob"}, None)
>>> (Owner() | ~Owner()).check(Principal("alice"), context) is None
True
>>> sorted(missing_parameters(Owner(), frozenset()))
['userId']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, NamedTuple

from secauth.errors import (
    AccessDenied,
    ConfigurationError,
    Forbidden,
    InsufficientScope,
    Reason,
    TenantMismatch,
)

if TYPE_CHECKING:
    from secauth.events import Request
    from secauth.principal import Principal

__all__ = [
    "AccessContext",
    "Bindings",
    "Denial",
    "Rule",
    "as_rule",
    "missing_parameters",
    "negated_parameters",
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
    #: The scopes that would have allowed (a ``scopes`` rule's): a 403's challenge names them.
    scopes: tuple[str, ...] = ()

    def to_error(self) -> AccessDenied:
        """The matching :class:`~secauth.errors.AccessDenied` subclass."""
        error_class = _ERRORS.get(self.reason, Forbidden)
        if self.scopes:
            return error_class(detail={"rule": self.detail, "scopes": list(self.scopes)})
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
    ...     def path_parameters(self):
    ...         return frozenset({"userId"})
    ...     def refuses_undecided(self, principal):
    ...         return False  # bindings are never [], and every refusal is decided
    >>> sorted((~OwnerOnly()).path_parameters())
    ['userId']
    """

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        raise NotImplementedError

    def bindings(self, principal: Principal) -> Bindings:
        return None

    def path_parameters(self) -> frozenset[str]:
        """The path parameters this rule reads by name (``context.params``). A route table
        refuses a route that lacks one where the lack changes what the rule allows (see
        :func:`missing_parameters`), and ``~`` refuses where one is missing; the rule itself
        should refuse then too. The default (none) skips those checks."""
        return frozenset()

    def refuses_undecided(self, principal: Principal) -> bool | None:
        """Where :meth:`bindings` never allows ``principal`` (``[]``): whether :meth:`check`
        refuses it undecided (:attr:`Denial.undecided`) on every path (True), decided on
        every path (False), or depending on the path (None). A ``~`` allows only where the
        rule refuses decided, so its cached bindings follow this. The default, None, keeps
        ``~`` of a rule that binds out of cached policies; override it alongside
        :meth:`bindings`."""
        return None

    def __and__(self, other: Rule) -> Rule:
        return _All((self, as_rule(other)))

    def __or__(self, other: Rule) -> Rule:
        return _Any((self, as_rule(other)))

    def __invert__(self) -> Rule:
        return _Not(self)


def _refuses_undecided(rule: Rule, principal: Principal) -> bool | None:
    """``rule.refuses_undecided(principal)``, with anything but True or False read as None
    (it depends): a custom rule's odd answer never counts as a decided refusal."""
    answer = rule.refuses_undecided(principal)
    return answer if answer is True or answer is False else None


def as_rule(value: object, where: str = "") -> Rule:
    """``value`` if it is a :class:`Rule`; else a ConfigurationError that says so, naming
    ``where`` it was given (a route key) and, for a string, the rule it may have meant."""
    if not isinstance(value, Rule):
        place = f"{where}: " if where else ""
        meant = f" such as roles({value!r})" if isinstance(value, str) else ""
        raise ConfigurationError(
            f"{place}expected an access rule{meant}, got {type(value).__name__}"
        )
    return value


class _Combination(Rule):
    """``&`` and ``|``: rules over ``rules``, reading every path parameter they read."""

    __slots__ = ("rules",)

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules

    def path_parameters(self) -> frozenset[str]:
        return frozenset().union(*(item.path_parameters() for item in self.rules))


class _All(_Combination):
    __slots__ = ()

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

    def refuses_undecided(self, principal: Principal) -> bool | None:
        # Decided where one part refuses decided, as a part allowing some values does; []
        # from parts binding different values alone: each may refuse undecided somewhere.
        parts = [(item.bindings(principal), item) for item in self.rules]
        kinds = [_refuses_undecided(item, principal) for found, item in parts if found == []]
        if False in kinds:
            return False
        if not kinds or None in kinds:
            return None
        if any(found and found != [{}] for found, _ in parts):
            return None  # a part binding values refuses other values: depends on the path
        return True


class _Any(_Combination):
    __slots__ = ()

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

    def refuses_undecided(self, principal: Principal) -> bool | None:
        # Every arm never allows: undecided where one arm is.
        kinds = [_refuses_undecided(item, principal) for item in self.rules]
        if True in kinds:
            return True
        if None in kinds:
            return None
        return False


class _Not(Rule):
    __slots__ = ("inner",)

    def __init__(self, inner: Rule) -> None:
        self.inner = inner

    def __repr__(self) -> str:
        return f"~{self.inner!r}"

    # Allows where the inner rule decides no; where it could not tell (the anonymous
    # principal has no roles, scopes or tenant to lack; a tenant missing or given twice), ~
    # denies too: ~roles("suspended") is no public() route, ~tenant(query=) no bypass.
    # A path parameter the inner rule reads and the route lacks leaves it nothing to judge:
    # undecided, whether or not the rule says so (a custom rule's params.get() refuses).
    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        denial = self.inner.check(principal, context)
        if denial is None:
            return Denial(Reason.FORBIDDEN, f"not {self.inner!r}")
        if denial.undecided:
            return denial
        if any(name not in context.params for name in self.inner.path_parameters()):
            return denial._replace(undecided=True)
        return None

    def bindings(self, principal: Principal) -> Bindings:
        inner = self.inner.bindings(principal)
        if inner == [{}]:
            return []
        if inner == []:
            undecided = _refuses_undecided(self.inner, principal)
            if undecided is None:
                return None
            return [] if undecided else [{}]
        return None

    def path_parameters(self) -> frozenset[str]:
        return self.inner.path_parameters()

    def refuses_undecided(self, principal: Principal) -> bool | None:
        # Inner always allows: decided; inner never allows: ~ allows where it is decided.
        if self.inner.bindings(principal) == [{}]:
            return False
        return _refuses_undecided(self.inner, principal)

def missing_parameters(rule: Rule, have: frozenset[str]) -> frozenset[str]:
    """The path parameters ``rule`` reads that a route with parameters ``have`` lacks, where
    the lack changes what it means: under a ``~`` at any depth (the negation would allow
    what the missing value never gets to deny), or where the rule could never allow. An
    ``|`` arm that could never allow beside one that can is a shared rule's other case
    (``roles("admin") | tenant(path="t")``).

    >>> from secauth.rules import roles, tenant
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

    >>> from secauth.rules import roles, tenant
    >>> sorted(negated_parameters(roles("a") | (tenant(path="t") & ~tenant(path="u"))))
    ['u']
    """
    if isinstance(rule, _Not):
        return rule.inner.path_parameters()
    if isinstance(rule, _Combination):
        return frozenset().union(*map(negated_parameters, rule.rules))
    return frozenset()


def _never_allowing(rule: Rule, have: frozenset[str]) -> frozenset[str]:
    """The missing parameters that leave ``rule`` unable to allow (a ``~`` aside): a rule
    reading a parameter the route lacks never gets its value."""
    if isinstance(rule, _Combination):
        parts = [_never_allowing(item, have) for item in rule.rules]
        if isinstance(rule, _Any) and not all(parts):
            return frozenset()  # another arm can allow
        return frozenset().union(*parts)
    if isinstance(rule, _Not):
        return frozenset()  # negated_parameters counts it
    return rule.path_parameters() - have
