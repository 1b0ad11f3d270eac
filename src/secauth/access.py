"""Access rules (roles, scopes, tenant, network and service identity) and the route table.

A :class:`Rule` answers "may this principal make this request?" with ``None``
(allowed) or a :class:`Denial` carrying a stable reason. Rules compose with
``&``, ``|`` and ``~``. Each rule can also say, from the principal alone, on which
path-parameter values it allows (see :meth:`Rule.bindings`), which is how
:meth:`Routes.allowed_routes` answers "which routes may this principal call?"
for cache-safe authorizer policies.

Example
-------
>>> from secauth.principal import Principal
>>> routes = Routes({
...     "GET /orders": scopes("orders.read"),
...     "DELETE /users/{id}": roles("admin"),
...     "ANY /tenants/{tenantId}/{proxy+}": tenant(path="tenantId") & roles("member"),
... })
>>> alice = Principal("alice", tenant="acme", roles={"member"})
>>> routes.decide(alice, "GET", "/tenants/acme/orders/1").allowed
True
>>> routes.decide(alice, "GET", "/tenants/globex/orders/1").reason.value
'tenant_mismatch'
>>> routes.decide(alice, "DELETE", "/users/7").reason.value
'forbidden'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
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
from secauth.principal import Principal

if TYPE_CHECKING:
    import ipaddress

    from secauth.events import Request

__all__ = [
    "AccessContext",
    "AllowedRoute",
    "Decision",
    "Denial",
    "Routes",
    "Rule",
    "authenticated",
    "caller_arn",
    "client_cert",
    "public",
    "roles",
    "rule",
    "scopes",
    "source_ip",
    "tenant",
]

# A rule's answer from the principal alone: a list of alternatives, each a mapping of
# path parameter -> required value. [] = never allowed, [{}] = always allowed,
# None = depends on the request in a way a path cannot express.
Bindings = list[dict[str, str]] | None
ALWAYS: Final[tuple[()]] = ()


class Denial(NamedTuple):
    """Why a rule said no: a stable reason and log-only detail."""

    reason: Reason
    detail: str

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
        return _All((self, _as_rule(other)))

    def __or__(self, other: Rule) -> Rule:
        return _Any((self, _as_rule(other)))

    def __invert__(self) -> Rule:
        return _Not(self)


def _as_rule(value: object) -> Rule:
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
        for item in self.rules:
            denial = item.check(principal, context)
            if denial is not None:
                return denial
        return None

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
        for item in self.rules:
            denial = item.check(principal, context)
            if denial is None:
                return None
        return denial

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

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        if self.inner.check(principal, context) is None:
            return Denial(Reason.FORBIDDEN, f"not {self.inner!r}")
        return None

    def bindings(self, principal: Principal) -> Bindings:
        inner = self.inner.bindings(principal)
        if inner == []:
            return [{}]
        if inner == [{}]:
            return []
        return None


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


def _principal_test(rule: Rule) -> Callable[[Principal], bool] | None:
    """``rule``'s test of the principal alone when that is all its :meth:`Rule.check`
    does (built-in role, scope and authentication rules), else None. Callers that decide
    many requests may skip building an :class:`AccessContext` for an allowed principal.

    >>> _principal_test(roles("admin"))(Principal("a", roles={"admin"}))
    True
    >>> _principal_test(roles("admin") & roles("ops")) is None
    True
    """
    if isinstance(rule, _Principal) and type(rule).check is _Principal.check:
        return rule.allows
    return None


def _names(kind: str, names: tuple[str, ...]) -> frozenset[str]:
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigurationError(f"{kind}(...) needs one or more non-empty names")
    return frozenset(names)


class _Roles(_Principal):
    __slots__ = ("_denial", "all_of", "names")

    def __init__(self, names: tuple[str, ...], all_of: bool) -> None:
        self.names = _names("roles", names)
        self.all_of = all_of
        self._denial = Denial(Reason.FORBIDDEN, repr(self))

    def __repr__(self) -> str:
        return f"roles({', '.join(sorted(self.names))}{', all_of' if self.all_of else ''})"

    def allows(self, principal: Principal) -> bool:
        if self.all_of:
            return self.names <= principal.roles
        return not self.names.isdisjoint(principal.roles)

    def denial(self) -> Denial:
        return self._denial


class _Scopes(_Roles):
    __slots__ = ()

    def __init__(self, names: tuple[str, ...], all_of: bool) -> None:
        self.names = _names("scopes", names)
        self.all_of = all_of
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


_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")


# Denials are immutable: the common ones are built once, not on every refused request.
_NO_TENANT: Final = Denial(Reason.TENANT_MISMATCH, "principal has no tenant")
_DOUBLE_ENCODED_TENANT: Final = Denial(
    Reason.TENANT_MISMATCH, "tenant value is encoded more than once"
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
        if value is None:
            return Denial(Reason.TENANT_MISMATCH, f"request names no tenant ({self.source})")
        # Exact, case-sensitive comparison of the once-decoded value; anything still
        # encoded after one decoding is refused rather than guessed at.
        if "%" in value:
            value = unquote(value, errors="strict") if _ENCODED.search(value) else value
            if "%" in value:
                return _DOUBLE_ENCODED_TENANT
        if value != wanted:
            return _OTHER_TENANT
        return None

    def _value(self, context: AccessContext) -> str | None:
        if self.source == "path":
            return context.params.get(self.name)
        request = context.request
        if request is None:
            return None
        if self.source == "header":
            return request.headers.get(self.name)
        return request.query.get(self.name)

    def bindings(self, principal: Principal) -> Bindings:
        if self.source != "path":
            return None
        wanted = principal.tenant
        if (
            not wanted
            or principal.is_anonymous
            or wanted in (".", "..")
            or not _SAFE_BINDING.fullmatch(wanted)
        ):
            return []
        return [{self.name: wanted}]


# Values that may stand for a path parameter in an IAM Resource ARN: no wildcards, no slashes.
_SAFE_BINDING = re.compile(r"[A-Za-z0-9._~:@!$&'()+,;=-]+")


def tenant(*, path: str | None = None, header: str | None = None, query: str | None = None) -> Rule:
    """Require the tenant named by the request to equal the principal's (verified) tenant.

    Give exactly one of ``path`` (a path parameter of the route), ``header`` or
    ``query``. A request that names no tenant, or another one, is denied with
    ``tenant_mismatch``. Comparison is exact and case-sensitive.

    >>> rule = tenant(path="tenantId")
    >>> ctx = AccessContext("GET", "/t/acme", {"tenantId": "acme"}, None)
    >>> rule.check(Principal("u", tenant="acme"), ctx) is None
    True
    """
    given = [(k, v) for k, v in (("path", path), ("header", header), ("query", query)) if v]
    if len(given) != 1:
        raise ConfigurationError("tenant(...) takes exactly one of path=, header= or query=")
    return _Tenant(*given[0])


class _SourceIp(Rule):
    __slots__ = ("allow", "deny")

    def __init__(self, allow: tuple[Any, ...], deny: tuple[Any, ...]) -> None:
        self.allow = allow
        self.deny = deny

    def __repr__(self) -> str:
        return (
            f"source_ip(allow={[str(n) for n in self.allow]}, deny={[str(n) for n in self.deny]})"
        )

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        request = context.request
        address = _parse_ip(request.source_ip if request is not None else None)
        if address is None:
            return Denial(Reason.FORBIDDEN, "no usable source IP")
        if any(address in net for net in self.deny if net.version == address.version):
            return Denial(Reason.FORBIDDEN, "source IP denied")
        if self.allow and not any(
            address in net for net in self.allow if net.version == address.version
        ):
            return Denial(Reason.FORBIDDEN, "source IP not allowed")
        return None


def _parse_ip(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    import ipaddress

    if not value:
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def source_ip(*, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> Rule:
    """Allow or deny by the client IP API Gateway saw (CIDR lists, IPv4 and IPv6).

    Deny wins over allow; with an allow list, only listed networks pass. IPv4-mapped
    IPv6 addresses count as their IPv4 address.

    >>> rule = source_ip(allow=["203.0.113.0/24", "2001:db8::/32"])
    >>> isinstance(rule, Rule)
    True
    """
    import ipaddress

    try:
        allowed = tuple(ipaddress.ip_network(c, strict=True) for c in allow)
        denied = tuple(ipaddress.ip_network(c, strict=True) for c in deny)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"source_ip: {exc}") from None
    mapped = ipaddress.IPv6Network("::ffff:0:0/96")
    for net in allowed + denied:
        if isinstance(net, ipaddress.IPv6Network) and net.subnet_of(mapped):
            raise ConfigurationError(
                f"source_ip: write the IPv4-mapped network {net} as IPv4 "
                "(client addresses are compared as IPv4)"
            )
    if not allowed and not denied:
        raise ConfigurationError("source_ip(...) needs allow= or deny= networks")
    return _SourceIp(allowed, denied)


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else re.escape(c) for c in pattern))


class _CallerArn(Rule):
    __slots__ = ("patterns", "texts")

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.texts = patterns
        self.patterns = tuple(_glob(p) for p in patterns)

    def __repr__(self) -> str:
        return f"caller_arn({', '.join(self.texts)})"

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        request = context.request
        identity = request.identity if request is not None else {}
        arn = identity.get("userArn") or identity.get("caller")
        if arn is None and request is not None:
            # HTTP APIs with IAM authorization: requestContext.authorizer.iam.userArn
            iam = request.authorizer.get("iam")
            arn = iam.get("userArn") if isinstance(iam, Mapping) else None
        if isinstance(arn, str) and any(p.fullmatch(arn) for p in self.patterns):
            return None
        return Denial(Reason.FORBIDDEN, "IAM caller not allowed")


def caller_arn(*patterns: str) -> Rule:
    """For IAM (SigV4) authorized routes: the caller's ARN (``requestContext.identity.userArn``,
    else ``caller``) must match one of ``patterns`` (``*`` matches any run of characters).

    >>> isinstance(caller_arn("arn:aws:iam::123456789012:role/deployer-*"), Rule)
    True
    """
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern.startswith("arn:"):
            raise ConfigurationError(f"caller_arn patterns are ARNs, got {pattern!r}")
    if not patterns:
        raise ConfigurationError("caller_arn(...) needs at least one pattern")
    return _CallerArn(patterns)


class _ClientCert(Rule):
    __slots__ = ("issuers", "subjects")

    def __init__(self, subjects: frozenset[str], issuers: frozenset[str]) -> None:
        self.subjects = subjects
        self.issuers = issuers

    def __repr__(self) -> str:
        return f"client_cert(subjects={sorted(self.subjects)})"

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        request = context.request
        cert = request.client_cert if request is not None else {}
        subject = cert.get("subjectDN")
        issuer = cert.get("issuerDN")
        if not isinstance(subject, str) or (self.subjects and subject not in self.subjects):
            return Denial(Reason.FORBIDDEN, "client certificate subject not allowed")
        if self.issuers and issuer not in self.issuers:
            return Denial(Reason.FORBIDDEN, "client certificate issuer not allowed")
        return None


def client_cert(*, subjects: Iterable[str] = (), issuers: Iterable[str] = ()) -> Rule:
    """Require an mTLS client certificate whose subject DN (and issuer DN, if given) is listed,
    exactly as API Gateway reports them (``clientCert.subjectDN``/``issuerDN``).

    >>> isinstance(client_cert(subjects=["CN=partner-a,O=Partner A"]), Rule)
    True
    """
    subject_set, issuer_set = frozenset(subjects), frozenset(issuers)
    if not subject_set:
        raise ConfigurationError("client_cert(...) needs the allowed subjects")
    return _ClientCert(subject_set, issuer_set)


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


# --- the route table --------------------------------------------------------------------------

_VERBS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"})
_LITERAL = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@-]+")
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_-]*)(\+?)\}")


class Decision(NamedTuple):
    """The answer of :meth:`Routes.decide`."""

    allowed: bool
    reason: Reason | None
    route: str | None
    params: Mapping[str, str]
    denial: Denial | None

    def raise_for_denial(self) -> None:
        """Raise the :class:`~secauth.errors.AccessDenied` matching a denial; do nothing if allowed."""
        if self.denial is not None:
            raise self.denial.to_error()


class AllowedRoute(NamedTuple):
    """A route a principal may call: verb (or ``ANY``) and path template with bound values."""

    verb: str
    path: str


class _Route(NamedTuple):
    key: str
    verb: str
    template: str
    params: tuple[str | None, ...]  # per segment: parameter name or None for a literal
    greedy: str | None
    rule: Rule
    names: tuple[str, ...] = ()  # the parameter names of ``params``, in order


class _Node:
    __slots__ = ("greedy", "literals", "param", "verbs")

    def __init__(self) -> None:
        self.literals: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.greedy: dict[str, _Route] = {}
        self.verbs: dict[str, _Route] = {}


class _BadPath(Exception):
    pass


def _segments(path: str) -> list[str]:
    """Split a request path into decoded segments, refusing every ambiguous spelling."""
    if not path.startswith("/"):
        raise _BadPath("path must start with /")
    if path == "/":
        return []
    parts = path[1:].split("/")
    out: list[str] = []
    for raw in parts:
        part = raw
        if "%" in raw:
            if not _ENCODED.search(raw):
                raise _BadPath("stray %")
            part = unquote(raw, errors="strict")
            if "%" in part or "/" in part:
                raise _BadPath("encoded slash or double encoding")
        if not part or part in (".", ".."):
            raise _BadPath("empty, '.' or '..' segment (double or trailing slash, dot segment)")
        if "\\" in part:
            raise _BadPath("backslash (some servers read it as a slash)")
        out.append(part)
    return out


class Routes:
    """A route table with deny by default: ``{"VERB /path/{param}/{proxy+}": rule}``.

    Matching
    --------
    * Verbs: ``GET``, ``POST``, ``PUT``, ``PATCH``, ``DELETE``, ``HEAD``, ``OPTIONS`` or ``ANY``.
      WebSocket route keys (``"$connect"``) are keys on their own.
    * The request path is split on ``/`` and each segment percent-decoded once.
      Empty segments (``//``, a trailing ``/``), ``.`` and ``..`` segments, encoded
      slashes and anything still encoded after one decoding are refused (denied), so
      no spelling of a path can reach a route the plain spelling would not.
    * Literal segments compare case-insensitively (``/Admin`` is ``/admin``), so a
      case-insensitive backend cannot be reached around a stricter rule. Two literals
      that differ only in case are a configuration error.
    * The most specific route wins, segment by segment from the left: a literal beats
      ``{param}``, which beats ``{proxy+}``; then an exact verb beats ``ANY``.

    Unlisted requests are denied with ``forbidden`` unless ``default`` is a rule.

    Example
    -------
    >>> routes = Routes({"GET /users/me": public(), "GET /users/{id}": roles("admin")})
    >>> routes.match("GET", "/users/me").route, routes.match("GET", "/users/7").params
    ('GET /users/me', {'id': '7'})
    """

    def __init__(self, table: Mapping[str, Rule], *, default: Rule | None = None) -> None:
        if not isinstance(table, Mapping) or not table:
            raise ConfigurationError("Routes needs a mapping of 'VERB /path' to rules")
        self._root = _Node()
        self._routes: list[_Route] = []
        self._specials: dict[str, _Route] = {}
        seen_literals: dict[str, str] = {}
        for key, rule_ in table.items():
            route = self._parse_key(key, _as_rule(rule_))
            self._add(route, seen_literals)
            self._routes.append(route)
        self.default = None if default is None else _as_rule(default)
        self._probe = _unmatched_segment(self._routes)

    def __len__(self) -> int:
        return len(self._routes)

    # -- construction ---------------------------------------------------------------

    @staticmethod
    def _parse_key(key: object, rule_: Rule) -> _Route:
        if not isinstance(key, str):
            raise ConfigurationError(f"route keys are strings like 'GET /orders', got {key!r}")
        if key.startswith("$"):
            if " " in key or not re.fullmatch(r"\$[A-Za-z0-9_.-]+", key):
                raise ConfigurationError(f"bad WebSocket route key {key!r}")
            return _Route(key, key, "", (), None, rule_)
        verb, _, template = key.partition(" ")
        verb = verb.upper()
        if verb not in _VERBS or not template.startswith("/"):
            raise ConfigurationError(
                f"route {key!r}: write 'VERB /path', VERB one of {sorted(_VERBS)}"
            )
        params: list[str | None] = []
        greedy: str | None = None
        names: set[str] = set()
        segments = [] if template == "/" else template[1:].split("/")
        for index, segment in enumerate(segments):
            match = _PARAM.fullmatch(segment)
            if match is None:
                if not _LITERAL.fullmatch(segment) or segment in (".", ".."):
                    raise ConfigurationError(f"route {key!r}: bad path segment {segment!r}")
                params.append(None)
                continue
            name, plus = match.groups()
            if name in names:
                raise ConfigurationError(f"route {key!r}: parameter {name!r} appears twice")
            names.add(name)
            if plus:
                if index != len(segments) - 1:
                    raise ConfigurationError(f"route {key!r}: {{{name}+}} must be the last segment")
                greedy = name
            else:
                params.append(name)
        ordered = tuple(p for p in params if p is not None)
        return _Route(key, verb, template, tuple(params), greedy, rule_, ordered)

    def _add(self, route: _Route, seen_literals: dict[str, str]) -> None:
        if not route.template:
            if route.verb in self._specials:
                raise ConfigurationError(f"route {route.key!r} is listed twice")
            self._specials[route.verb] = route
            return
        node = self._root
        literals = [] if route.template == "/" else route.template[1:].split("/")
        for segment, param in zip(literals, route.params, strict=False):
            if param is None:
                folded = segment.lower()
                if seen_literals.setdefault(folded, segment) != segment:
                    raise ConfigurationError(
                        f"path segments {segment!r} and {seen_literals[folded]!r} differ only in "
                        "case; routes match case-insensitively"
                    )
                node = node.literals.setdefault(folded, _Node())
            else:
                if node.param is None:
                    node.param = _Node()
                node = node.param
        target = node.greedy if route.greedy is not None else node.verbs
        if route.verb in target:
            raise ConfigurationError(f"route {route.key!r} is listed twice (or equivalent)")
        target[route.verb] = route

    # -- questions ----------------------------------------------------------------------

    def match(self, method: str, path: str) -> RouteMatch | None:
        """The most specific route for ``method`` and ``path``, or None (also for refused paths)."""
        if method.startswith("$"):
            route = self._specials.get(method) or self._specials.get("$default")
            return RouteMatch(route.key, {}, route.rule) if route else None
        verb = method.upper()
        try:
            segments = _segments(path)
        except (_BadPath, UnicodeDecodeError):
            return None
        found = _walk(self._root, segments, 0, verb)
        if found is None:
            return None
        route, values = found
        params = dict(zip(route.names, values, strict=False))
        if route.greedy is not None:
            params[route.greedy] = "/".join(segments[len(route.params) :])
        return RouteMatch(route.key, params, route.rule)

    def decide(
        self, principal: Principal, method: str, path: str, request: Request | None = None
    ) -> Decision:
        """May ``principal`` call ``method path``? Never raises for a denial.

        >>> Routes({"GET /a": public()}).decide(Principal.anonymous(), "GET", "/b").reason.value
        'forbidden'
        """
        return self.judge(principal, self.resolve(method, path), method, path, request)

    def resolve(self, method: str, path: str) -> RouteMatch | None:
        """The route whose rule decides ``method path``: :meth:`match`, else the table's
        ``default`` rule (``route`` None), else None (no rule: denied). Refused path
        spellings get None even with a default. It depends on nothing but its arguments,
        so callers may keep the answer for a request target they see again.

        >>> Routes({"GET /a": public()}, default=public()).resolve("GET", "/b").route is None
        True
        """
        found = self.match(method, path)
        if found is None and self.default is not None and not _refused(method, path):
            return RouteMatch(None, {}, self.default)
        return found

    def judge(
        self,
        principal: Principal,
        found: RouteMatch | None,
        method: str,
        path: str,
        request: Request | None = None,
    ) -> Decision:
        """:meth:`decide` for a target already :meth:`resolve`-d to ``found``.

        The rule sees a copy of the route's parameters, so a rule that changes them
        cannot change a kept ``found``.

        >>> table = Routes({"GET /a/{id}": authenticated()})
        >>> table.judge(Principal("u"), table.resolve("GET", "/a/1"), "GET", "/a/1").params
        {'id': '1'}
        """
        if found is None:
            denial = Denial(Reason.FORBIDDEN, "no route")
            return Decision(False, denial.reason, None, {}, denial)
        params = dict(found.params) if found.params else {}
        refusal = found.rule.check(principal, AccessContext(method, path, params, request))
        if refusal is None:
            return Decision(True, None, found.route, params, None)
        return Decision(False, refusal.reason, found.route, params, refusal)

    def authorize(
        self, principal: Principal, method: str, path: str, request: Request | None = None
    ) -> Decision:
        """Like :meth:`decide`, but raise the matching :class:`~secauth.errors.AccessDenied`."""
        decision = self.decide(principal, method, path, request)
        decision.raise_for_denial()
        return decision

    def methods_for(self, path: str) -> set[str]:
        """The verbs some route serves on ``path`` (for 405 answers); ``ANY`` counts as all.

        >>> sorted(Routes({"GET /a": public(), "POST /a": public()}).methods_for("/a"))
        ['GET', 'POST']
        """
        found: set[str] = set()
        for verb in sorted(_VERBS - {"ANY"}):
            match = self.match(verb, path)
            if match is not None:
                found.add(verb)
        return found

    def route_keys(self) -> list[str]:
        """Every route of the table as ``"VERB /template"`` (WebSocket keys as they are).

        >>> Routes({"GET /a/{id}": public(), "$connect": public()}).route_keys()
        ['$connect', 'GET /a/{id}']
        """
        return sorted(
            route.key if not route.template else f"{route.verb} {route.template}"
            for route in self._routes
        )

    def request_dependent_routes(self, principal: Principal) -> list[str]:
        """Routes whose rule cannot be decided from ``principal`` alone (it reads headers,
        query, the source IP, or is a custom rule without :meth:`Rule.bindings`)."""
        return sorted(r.key for r in self._routes if r.rule.bindings(principal) is None)

    def allowed_routes(self, principal: Principal) -> list[AllowedRoute]:
        """Every route ``principal`` may call, decided from the principal alone.

        Path parameters a rule binds (``tenant(path="tenantId")``) are filled in;
        routes whose rules depend on the request in ways a path cannot express
        (headers, query, IP, custom rules) are left out. A listed template can still
        cover paths that a more specific, denied route owns (``GET /users/{id}`` covers
        ``/users/admin``); a policy built from this list must deny those too, as
        :func:`secauth.policy.route_policy` does. An ``ANY`` route whose bound path
        another route takes for some verbs is listed once per verb it still serves.

        >>> r = Routes({"ANY /t/{tid}/{proxy+}": tenant(path="tid"), "GET /health": public()})
        >>> r.allowed_routes(Principal("u", tenant="acme"))
        [AllowedRoute(verb='ANY', path='/t/acme/{proxy+}'), AllowedRoute(verb='GET', path='/health')]
        """
        out: list[AllowedRoute] = []
        for route in self._routes:
            alternatives = route.rule.bindings(principal)
            if not alternatives:
                continue
            names = {p for p in route.params if p is not None}
            if route.greedy is not None:
                names.add(route.greedy)
            for binding in alternatives:
                if not binding.keys() <= names:
                    continue  # binds a parameter this route lacks: decide never allows it
                path = _bind(route.template, binding)
                if not binding:  # the route's own template (more specific routes get denied)
                    out.append(AllowedRoute(route.verb, path))
                    continue
                owned = self._owned_verbs(route, path)
                if route.verb == "ANY" and len(owned) < len(_VERBS) - 1:
                    out.extend(AllowedRoute(verb, path) for verb in owned)
                elif owned:
                    out.append(AllowedRoute(route.verb, path))
        return sorted(set(out))

    def _owned_verbs(self, route: _Route, path: str) -> list[str]:
        """The verbs for which some request for ``path`` (``route``'s template with some
        parameters bound) still reaches ``route``. Another route may take them all: one as
        specific at every segment and more at a bound one (``GET /a/{id}`` against ``GET
        /{p}/{q}`` bound to ``/a/{q}``), or ``POST /{id}`` against ``POST /{proxy+}``
        bound to ``/acme``. Only the verbs kept are listed (fail closed): a policy planned
        from the list would grant the path as the other route's. Which route a request
        reaches depends on the values of unbound parameters only through the table's
        literals and the path's length, so one value matching no literal, at every length
        a ``{proxy+}`` can take, covers every case."""
        verbs = sorted(_VERBS - {"ANY"}) if route.verb == "ANY" else [route.verb]
        probes = self._probes(path)
        owned = []
        for verb in verbs:
            for probe in probes:
                found = self.match(verb, probe)
                if found is not None and found.route == route.key:
                    owned.append(verb)
                    break
        return owned

    def _probes(self, path: str) -> list[str]:
        """``path`` with its unbound parameters filled with a value no literal matches; a
        ``{proxy+}`` as 1 to (longest template + 1) segments."""
        fresh = self._probe
        flat = _PARAM.sub(lambda m: fresh if not m.group(2) else "\x00", path)
        if "\x00" not in flat:
            return [flat]
        longest = max(len(item.params) for item in self._routes) + 1
        return [flat.replace("\x00", "/".join([fresh] * count)) for count in range(1, longest + 2)]


def _unmatched_segment(routes: list[_Route]) -> str:
    """A path segment that no literal segment of ``routes`` matches."""
    literals = {
        segment.lower()
        for route in routes
        for segment in route.template.split("/")
        if segment and not segment.startswith("{")
    }
    probe = "~w"
    while probe in literals:
        probe += "~"
    return probe


def _refused(method: str, path: str) -> bool:
    """True for a path spelling that :meth:`Routes.match` refuses outright; such a request is
    denied even when the table has a ``default`` rule."""
    if method.startswith("$"):
        return False
    try:
        _segments(path)
    except (_BadPath, UnicodeDecodeError):
        return True
    return False


class RouteMatch(NamedTuple):
    route: str | None
    params: dict[str, str]
    rule: Rule


def _walk(
    node: _Node, segments: list[str], index: int, verb: str
) -> tuple[_Route, list[str]] | None:
    if index == len(segments):
        route = node.verbs.get(verb) or node.verbs.get("ANY")
        return (route, []) if route is not None else None
    segment = segments[index]
    # Literals are ASCII; folding only ASCII keeps e.g. KELVIN SIGN (lower() == "k") off them.
    child = node.literals.get(segment.lower()) if segment.isascii() else None
    if child is not None:
        found = _walk(child, segments, index + 1, verb)
        if found is not None:
            return found
    if node.param is not None:
        found = _walk(node.param, segments, index + 1, verb)
        if found is not None:
            route, values = found
            return route, [segment, *values]
    greedy = node.greedy.get(verb) or node.greedy.get("ANY")
    if greedy is not None:
        return greedy, []
    return None


def _bind(template: str, binding: Mapping[str, str]) -> str:
    if not binding:
        return template
    # A bound {proxy+} becomes its one-segment value: decide allows exactly that.
    return _PARAM.sub(lambda m: binding.get(m.group(1), m.group(0)), template)
