"""The route table: which access rule decides a request, and what a principal may call.

:class:`Routes` puts the rules of :mod:`secauth.rules` on route keys and decides each
request on the route API Gateway runs for it, selected as :mod:`secauth.routing`
describes (case-sensitive literals, greedy ``{proxy+}``, most specific wins; refused and
ambiguous spellings). :meth:`Routes.grants` says, from the principal alone, what the
principal may call: cached authorizer policies are planned and proven against it.

The rules themselves are re-exported here, so ``from secauth.access import Routes,
roles`` keeps working.

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

from collections.abc import Iterable, Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import unquote

from secauth.errors import ConfigurationError, Reason
from secauth.grants import Grant, Grants
from secauth.parameter_readings import parameter_readings
from secauth.principal import Principal
from secauth.request_rules import caller_arn, client_cert, source_ip
from secauth.route_table import RouteTable
from secauth.routing import (
    ANY,
    GREEDY,
    LITERAL,
    VERBS,
    RouteKey,
    is_custom_route_key,
    is_plain_segment,
    parse_route_key,
    split_path,
)
from secauth.rules import (
    AccessContext,
    Denial,
    Rule,
    as_rule,
    authenticated,
    missing_parameters,
    public,
    roles,
    rule,
    scopes,
    tenant,
)

if TYPE_CHECKING:
    from secauth.events import Request

__all__ = [
    "AccessContext",
    "AllowedRoute",
    "Decision",
    "Denial",
    "Grant",
    "Grants",
    "RouteMatch",
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


class Decision(NamedTuple):
    """The answer of :meth:`Routes.decide`. ``route`` is the route that decided (the one
    that refused, for a denial); ``readings`` the routes of every reading of the path
    (one unless a segment is ambiguous; None stands for the ``default`` rule)."""

    allowed: bool
    reason: Reason | None
    route: str | None
    params: Mapping[str, str]
    denial: Denial | None
    readings: tuple[str | None, ...] = ()

    @property
    def decided_by(self) -> tuple[str | None, ...]:
        """The routes whose rules made this decision (None: the ``default`` rule)."""
        return self.readings or (self.route,)

    def raise_for_denial(self) -> None:
        """Raise the :class:`~secauth.errors.AccessDenied` matching a denial; do nothing if allowed."""
        if self.denial is not None:
            raise self.denial.to_error()


class AllowedRoute(NamedTuple):
    """A route a principal may call: verb (or ``ANY``) and path template with bound values."""

    verb: str
    path: str


class RouteMatch(NamedTuple):
    """The route (None: the table's ``default`` rule) whose rule decides a request, its raw
    parameters, and the routes that other readings of an ambiguous path reach (``others``):
    the request is allowed only when every one of them allows it."""

    route: str | None
    params: dict[str, str]
    rule: Rule
    others: tuple[RouteMatch, ...] = ()



def _check_parameters(route_key: RouteKey | None, rule_: Rule) -> None:
    """Refuse a rule that reads a path parameter its route lacks, where that changes what it
    allows (:func:`~secauth.rules.missing_parameters`): ``tenant(path="tenant_id")`` on
    ``/tenants/{tenantId}`` could never allow. The ``default`` rule has no parameters."""
    template = None if route_key is None else route_key.template
    have = template.parameters if template else frozenset()
    missing = sorted(missing_parameters(rule_, have))
    if missing:
        where = "the default rule" if route_key is None else f"route {route_key.key!r:.80}"
        raise ConfigurationError(
            f"{where} reads the path parameter {missing[0]!r}, which it does not have "
            f"(its parameters: {sorted(have) or 'none'})"
        )

class Routes:
    """A route table with deny by default: ``{"VERB /path/{param}/{proxy+}": rule}``.

    Matching follows :mod:`secauth.routing`:

    * Verbs: ``GET``, ``POST``, ``PUT``, ``PATCH``, ``DELETE``, ``HEAD``, ``OPTIONS`` or
      ``ANY``. WebSocket route keys (``"$connect"``, ``"$disconnect"``, ``"$default"``,
      custom keys such as ``"sendmessage"``) are keys on their own.
    * The request path is split on ``/`` into raw segments; literals compare exactly
      (case-sensitive, not percent-decoded), as API Gateway matches paths.
    * Empty segments (``//``, a trailing ``/``), ``.`` and ``..`` segments (also before
      a ``;``: ``..;``), backslashes and the percent-encoded ``/``, ``\\``, ``.`` and
      ``%`` are refused (denied).
    * A segment that differs from a literal of the table but equals it once decoded and
      case-folded, or without its ``;`` parameters (``/PUBLIC`` or ``/public;x`` for
      ``/public``) is read both ways; the request is allowed only when the route of
      every reading allows it. A parameter value holding ``;`` is read both ways too:
      the rule must allow it as written and without its ``;`` parameters.
    * The most specific route wins, segment by segment from the left: a literal beats
      ``{param}``, which beats ``{proxy+}``; then an exact verb beats ``ANY``.

    Unlisted requests are denied with ``forbidden`` unless ``default`` is a rule.

    ``integration_per_route=True`` says the table's routes are the HTTP API's (as API
    Gateway names them, without a custom domain's base path), each with its own
    integration: nothing routes again behind a ``{proxy+}`` route. An HTTP API
    request is then decided only as the route API Gateway ran; a decoded path the table
    reads as another route (``GET /files/x%2Fpublic`` runs ``ANY /files/{proxy+}``) is
    refused (403). Leave it off for one function serving every path (a Lambdalith),
    which routes the decoded path again as the table reads it
    (:func:`~secauth.targets.ran_elsewhere`).

    Example
    -------
    >>> routes = Routes({"GET /users/me": public(), "GET /users/{id}": roles("admin")})
    >>> routes.match("GET", "/users/me").route, routes.match("GET", "/users/7").params
    ('GET /users/me', {'id': '7'})
    """

    # Read-only properties over private slots: a table changed after an Authorizer checked
    # it (and planned cached policies from it) would be answered from the old checks.
    __slots__ = ("_default", "_integration_per_route", "_table")

    def __init__(
        self,
        table: Mapping[str, Rule],
        *,
        default: Rule | None = None,
        integration_per_route: bool = False,
    ) -> None:
        if not isinstance(table, Mapping) or not table:
            raise ConfigurationError("Routes needs a mapping of 'VERB /path' to rules")
        if type(integration_per_route) is not bool:
            raise ConfigurationError("integration_per_route must be True or False")
        self._integration_per_route = integration_per_route
        entries: list[tuple[RouteKey, Rule]] = []
        for key, rule_ in table.items():
            entries.append((parse_route_key(key), as_rule(rule_, where=f"route {key!r}")))
        self._table: RouteTable[Rule] = RouteTable(entries)
        self._default = None if default is None else as_rule(default, where="default")
        for route_key, rule_ in [*entries, *([] if default is None else [(None, default)])]:
            _check_parameters(route_key, rule_)

    @property
    def table(self) -> RouteTable[Rule]:
        """The parsed table (:class:`secauth.route_table.RouteTable`), in the order given."""
        return self._table

    @property
    def default(self) -> Rule | None:
        """The rule of requests no route matches (None: they are denied)."""
        return self._default

    @property
    def integration_per_route(self) -> bool:
        """Whether each of the HTTP API's routes is a route of this table with its own
        integration: requests are decided only as the route API Gateway ran."""
        return self._integration_per_route

    def __len__(self) -> int:
        return len(self._table.routes) + len(self._table.specials)

    # -- questions ----------------------------------------------------------------------

    def match(self, method: str, path: str) -> RouteMatch | None:
        """The most specific route for ``method path`` as written (not the ``default``), or
        None (also for refused paths); ``others`` lists the routes of other readings."""
        found = self.resolve(method, path)
        return found if found is not None and found.route is not None else None

    def resolve(self, method: str, path: str, *, decoded: bool = False) -> RouteMatch | None:
        """The route whose rule decides ``method path`` (:meth:`match`, else the table's
        ``default`` rule with ``route`` None), or None (no rule: denied). Refused path
        spellings get None even with a default. It depends on nothing but its arguments,
        so callers may keep the answer for a request target they see again. Parameters are
        percent-decoded once, unless API Gateway did (``decoded``: HTTP APIs).

        A WebSocket target is its route key with an empty path (``"sendmessage", ""``):
        the key's own rule, else ``$default``'s (as API Gateway routes an unmatched
        message). WebSocket keys (``$connect``, ``$default``, custom ones) are looked up
        only so: an HTTP request (its path is never empty) cannot reach one, whatever its
        method (``$`` is allowed in an HTTP method).

        >>> Routes({"GET /a": public()}, default=public()).resolve("GET", "/b").route is None
        True
        >>> ws = Routes({"sendmessage": public(), "$default": authenticated()})
        >>> ws.resolve("sendmessage", "").route, ws.resolve("typing", "").route
        ('sendmessage', '$default')
        >>> ws.resolve("sendmessage", "/") is None
        True
        """
        if not path and (method.startswith("$") or is_custom_route_key(method)):
            specials = self._table.specials
            key = method if method in specials else "$default"
            rule_ = specials.get(key)
            if rule_ is not None:
                return RouteMatch(key, {}, rule_)
            return RouteMatch(None, {}, self._default) if self._default is not None else None
        segments = split_path(path)
        if segments is None:
            return None
        matches = self._table.lookup(method.upper(), segments)
        if matches is None:
            return None  # too ambiguous to read: refused, even with a default
        found: list[RouteMatch] = []
        for match in matches:
            if match is not None:
                params = match.params if decoded else _decoded(match.params)
                candidate = RouteMatch(match.key.key, params, match.value)
            elif self._default is not None:
                candidate = RouteMatch(None, {}, self._default)
            else:
                return None  # a reading reaches no route, and nothing decides it
            if not found or candidate not in found:
                found.append(candidate)
        if len(found) == 1:
            return found[0]
        return found[0]._replace(others=tuple(found[1:]))

    def decide(
        self, principal: Principal, method: str, path: str, request: Request | None = None
    ) -> Decision:
        """May ``principal`` call ``method path``? Never raises for a denial.

        >>> Routes({"GET /a": public()}).decide(Principal.anonymous(), "GET", "/b").reason.value
        'forbidden'
        """
        decoded = request is not None and request.path_decoded
        return self.judge(principal, self.resolve(method, path, decoded=decoded), method, path, request)

    def judge(
        self,
        principal: Principal,
        found: RouteMatch | None,
        method: str,
        path: str,
        request: Request | None = None,
    ) -> Decision:
        """:meth:`decide` for a target already :meth:`resolve`-d to ``found``: its rule and
        the rule of every other reading must allow.

        Each rule sees a copy of the route's parameters, so a rule that changes them
        cannot change a kept ``found``.

        >>> table = Routes({"GET /a/{id}": authenticated()})
        >>> table.judge(Principal("u"), table.resolve("GET", "/a/1"), "GET", "/a/1").params
        {'id': '1'}
        """
        if found is None:
            denial = Denial(Reason.FORBIDDEN, "no route")
            return Decision(False, denial.reason, None, {}, denial)
        if found.others:
            candidates = (found, *found.others)
            readings = tuple([candidate.route for candidate in candidates])
        else:
            candidates, readings = (found,), (found.route,)
        for candidate in candidates:
            for context in parameter_readings(method, path, candidate.params, request):
                refusal = candidate.rule.check(principal, context)
                if refusal is not None:
                    params = dict(context.params)
                    return Decision(False, refusal.reason, candidate.route, params, refusal, readings)
        return Decision(True, None, found.route, dict(found.params), None, readings)

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
        return {verb for verb in VERBS if self.match(verb, path) is not None}

    def route_keys(self) -> list[str]:
        """Every route of the table as ``"VERB /template"`` (``$`` keys as they are).

        >>> Routes({"GET /a/{id}": public(), "$connect": public()}).route_keys()
        ['$connect', 'GET /a/{id}']
        """
        keys = [f"{k.verb} {k.template.text}" for k, _ in self._table.routes if k.template]
        return sorted([*keys, *self._table.specials])

    def request_dependent_routes(self, principal: Principal) -> list[str]:
        """Routes whose rule cannot be decided from ``principal`` alone (it reads headers,
        query, the source IP, or is a custom rule without :meth:`Rule.bindings`)."""
        keys = [k.key for k, r in self._table.routes if r.bindings(principal) is None]
        keys += [k for k, r in self._table.specials.items() if r.bindings(principal) is None]
        return sorted(keys)

    def reads_request(self, principal: Principal, routes: Iterable[str | None]) -> bool:
        """Whether the rule of any of ``routes`` (route keys, as a :class:`Decision` names
        them; None for the ``default`` rule) needs more than ``principal`` to decide: it
        reads the request (:meth:`Rule.bindings` is None for ``principal``), so its answer
        to one request is no answer to another. Asked per principal: a custom rule may
        read the request for some callers only.

        >>> routes = Routes({"GET /a": public(), "GET /b": tenant(header="x-tenant")})
        >>> routes.reads_request(Principal("u"), ["GET /a"])
        False
        >>> routes.reads_request(Principal("u"), ["GET /a", "GET /b"])
        True
        """
        for key in routes:
            rule_ = self._default if key is None else self._table.by_key.get(key)
            if rule_ is None:
                if key is None:
                    continue  # no default rule: "no route", a denial that reads nothing
                return True  # not a route of this table: assume the worst
            if rule_.bindings(principal) is None:
                return True
        return False

    def grants(self, principal: Principal) -> Grants:
        """What ``principal`` may call, from the principal alone (see :class:`Grants`)."""
        per_route: list[tuple[Grant, ...]] = []
        for route_key, rule_ in self._table.routes:
            assert route_key.template is not None
            names = route_key.template.parameters
            per_route.append(_grants(rule_.bindings(principal), names))
        default = self._default is not None and _grants(self._default.bindings(principal), frozenset())
        return Grants(self, tuple(per_route), bool(default))

    def allowed_routes(self, principal: Principal) -> list[AllowedRoute]:
        """Every route ``principal`` may call, decided from the principal alone: the route
        templates with the parameters a rule binds (``tenant(path="tenantId")``) filled in.
        Routes whose rules read the request (headers, query, IP, custom rules) are left
        out, and so are bound paths that another route serves for every verb. A listed
        template can still cover paths that a more specific, denied route owns
        (``GET /users/{id}`` covers ``/users/admin``); cached policies are planned from
        :meth:`grants`, which knows both.

        >>> r = Routes({"ANY /t/{tid}/{proxy+}": tenant(path="tid"), "GET /health": public()})
        >>> r.allowed_routes(Principal("u", tenant="acme"))
        [AllowedRoute(verb='ANY', path='/t/acme/{proxy+}'), AllowedRoute(verb='GET', path='/health')]
        """
        grants = self.grants(principal)
        out: set[AllowedRoute] = set()
        for index, (route_key, _) in enumerate(self._table.routes):
            assert route_key.template is not None
            for grant in grants.per_route[index]:
                path = _bind(route_key.template.segments, grant.binding)
                if not grant.binding:
                    out.add(AllowedRoute(route_key.verb, path))
                    continue
                owned = self._owned_verbs(index, path)
                if route_key.verb == ANY and len(owned) < len(VERBS):
                    out.update(AllowedRoute(verb, path) for verb in owned)
                elif owned:
                    out.add(AllowedRoute(route_key.verb, path))
        for key, rule_ in self._table.specials.items():
            if {} in (rule_.bindings(principal) or []):
                out.add(AllowedRoute(key, ""))
        return sorted(out)

    def _owned_verbs(self, index: int, path: str) -> list[str]:
        """The verbs for which some request for ``path`` (route ``index``'s template with
        some parameters bound) still reaches that route. Which route a request reaches
        depends on the unbound values only through the table's literals and the path's
        length, so one value matching no literal, at every length a ``{proxy+}`` can
        take, covers every case."""
        route_key = self._table.routes[index][0]
        verbs = list(VERBS) if route_key.verb == ANY else [route_key.verb]
        fresh = self._table.fresh_segment()
        parts = path[1:].split("/") if path != "/" else []
        unbound_greedy = bool(parts) and parts[-1].endswith("+}")
        head = [fresh if p.startswith("{") else p for p in parts[: len(parts) - unbound_greedy]]
        lengths = range(1, self._table.depth + 2) if unbound_greedy else range(0, 1)
        probes = [(*head, *([fresh] * count)) for count in lengths]
        owned = []
        for verb in verbs:
            for probe in probes:
                # A probe spells the route's own literals: never too ambiguous to read.
                outcomes = self._table.lookup(verb, probe) or ()
                if any(m is not None and m.route_index == index for m in outcomes):
                    owned.append(verb)
                    break
        return owned


def _decoded(params: dict[str, str]) -> dict[str, str]:
    """Parameter values percent-decoded once, as rules compare them ("M%C3%BCnchen" is
    "München"); a value that is not valid UTF-8 once decoded stays as written."""
    out = params
    for name, value in params.items():
        if "%" in value:
            with suppress(UnicodeDecodeError):
                out = {**out, name: unquote(value, errors="strict")}
    return out


def _grants(bindings: list[dict[str, str]] | None, names: frozenset[str]) -> tuple[Grant, ...]:
    """The usable alternatives of a rule's bindings for a route with parameters ``names``."""
    if not bindings:
        return ()
    out: list[Grant] = []
    for binding in bindings:
        if not isinstance(binding, Mapping) or not binding.keys() <= names:
            continue  # binds a parameter this route lacks: the rule never allows it here
        if all(is_plain_segment(value) for value in binding.values()):
            grant = Grant(dict(binding))
            if grant not in out:
                out.append(grant)
    return tuple(out)


def _bind(segments: tuple[tuple[int, str], ...], binding: Mapping[str, str]) -> str:
    """The template with bound parameters filled in (a bound ``{proxy+}`` becomes its
    one-segment value: decide allows exactly that)."""
    parts = []
    for kind, text in segments:
        if kind == LITERAL:
            parts.append(text)
        elif text in binding:
            parts.append(binding[text])
        else:
            parts.append("{" + text + ("+}" if kind == GREEDY else "}"))
    return "/" + "/".join(parts)
