"""Cached policies: an IAM policy API Gateway may reuse for every request of one identity,
proven never to allow a request the route table denies.

The guarantee
-------------
For a principal's :class:`~secauth.access.Grants` (what :meth:`Routes.decide
<secauth.access.Routes.decide>` allows from the principal alone) and the policy
:func:`plan_policy` returns: every method ARN of this API and stage that the policy allows
under IAM semantics (``*`` any run of characters including ``/``, ``?`` one character,
case-sensitive, an explicit Deny wins) is a request the grants allow, on the route of
every reading of its path. When no policy of the shapes below can be proven so, the
answer is None and the caller names the exact method ARN instead (fail closed).

The proof, step by step (exact, no search budget)
--------------------------------------------------
1. **Refused spellings.** Every policy denies :data:`REFUSED_SPELLINGS`: the route parts
   with an empty segment (``//``, a trailing ``/``), a ``.`` or ``..`` segment, a
   backslash, an encoded ``/``, ``\\``, ``.`` or ``%`` or an overlong UTF-8 lead; exactly
   the paths
   :func:`secauth.routing.split_path` refuses. What else a policy allows is a well-formed
   path: a sequence of segments.
2. **Patterns are words over segments.** Every other pattern is ``VERB/t1/.../tk``, each
   token a plain segment or ``*`` (the verb is always spelled out). On well-formed paths
   a plain token matches exactly the equal segment and a ``*`` one or more whole segments
   (none only when it is the whole path: ``GET/*`` matches the root, ``GET/``). So each
   pattern is a regular expression over segments (:class:`_Pattern`, its automaton).
3. **Finitely many kinds of segment.** Routing, readings, grants and patterns compare a
   segment only with finitely many words: the literals, the bound values, the pattern
   tokens, and (through readings) the spellings that fold to a literal. At each step the
   search tries each word that matters there, one spelling variant per literal, and one
   fresh segment that stands for every other (they all behave alike).
4. **A finite product.** The search walks pattern automata (sets of positions) together
   with the routing state of the path read so far (:class:`_Routing`: per reading, the
   routes still matching and which of their grants still hold; past the table's depth
   only "longer" matters). Both are finite, and visited states are not walked again.
   Wherever the policy allows and :meth:`Grants.allows_segments
   <secauth.access.Grants.allows_segments>` (the table's own code, on the path that
   reached the state) does not, the path is a counterexample.

Planning is guided by counterexamples. It starts from an Allow pattern per grant and no
Deny, and while the search finds a request the policy lets through and the grants do not:

1. when the request (as written) reaches a route granted nothing, Deny that route's
   pattern (or the root, ``VERB/``, which ``VERB/*`` also matches);
2. else, when a parameter's ``*`` spanned several segments, Deny the Allow pattern with
   that ``*`` written ``*/*``, which pins it to one segment;
3. else leave out the Allow patterns that let the request through. No pattern can tell
   ``/USERS/x`` from ``/users/x`` for IAM, but a ``*`` matches both: where one reading of
   such a spelling reaches a denied route, the wildcard that lets it through goes.

Each step adds a Deny or removes an Allow from finite sets, so planning ends; the policy
returned is the one the last search proved safe.

>>> from secauth.access import Routes
>>> from secauth.rules import authenticated, roles
>>> from secauth.principal import Principal
>>> routes = Routes({"GET /users/{id}": authenticated()}, default=roles("admin"))
>>> doc = plan_policy("arn:aws:execute-api:us-east-1:1:api/prod/", routes.grants(Principal("u")))
>>> [(s.effect, [r.rsplit("/prod/")[1] for r in s.resources]) for s in doc.statements][0]
('Allow', ['GET/users/*'])
>>> "arn:aws:execute-api:us-east-1:1:api/prod/GET/users/*/*" in doc.statements[1].resources
True
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Final, NamedTuple

from secauth.errors import ConfigurationError
from secauth.policy.arn import MethodArn, route_glob
from secauth.policy.document import PolicyDocument, Statement
from secauth.policy.glob import document_allows, matches
from secauth.routing import (
    ANY,
    GREEDY,
    LITERAL,
    PARAM,
    VERBS,
    RouteKey,
    fold,
    is_plain_segment,
    parse_route_key,
    split_path,
)

if TYPE_CHECKING:
    from secauth.access import Grants

__all__ = [
    "REFUSED_SPELLINGS",
    "PlanCache",
    "PolicyConflict",
    "find_over_allow",
    "plan_policy",
    "resources_for_routes",
    "route_policy",
]

#: Route-part patterns every cached policy denies: exactly the refused path spellings.
REFUSED_SPELLINGS: Final = (
    "*//*",  # an empty segment inside the path
    "*/?*/",  # a trailing slash (the root "VERB/" has one slash only)
    "*/.",
    "*/./*",
    "*/..",
    "*/../*",
    "*\\*",
    "*%2F*",
    "*%2f*",
    "*%5C*",
    "*%5c*",
    "*%2E*",
    "*%2e*",
    "*%25*",
    "*%C0*",
    "*%c0*",
    "*%C1*",
    "*%c1*",
    "*%E0%80*",
    "*%e0%80*",
)


class PolicyConflict(ConfigurationError):
    """No cached IAM policy can be proven to express the route table for this principal."""


class _Pattern(NamedTuple):
    """A route-part pattern as a word over segments: verb and tokens (``"*"`` or a segment)."""

    verb: str
    tokens: tuple[str, ...]

    @property
    def text(self) -> str:
        return self.verb + "/" + "/".join(self.tokens)

    def start(self) -> frozenset[int]:
        return frozenset({0})

    def step(self, states: frozenset[int], segment: str) -> frozenset[int]:
        out: set[int] = set()
        for position in states:
            if position < len(self.tokens):
                token = self.tokens[position]
                if token == "*":
                    out.update((position, position + 1))
                elif token == segment:
                    out.add(position + 1)
        return frozenset(out)

    def accepts(self, states: frozenset[int], count: int) -> bool:
        return len(self.tokens) in states or (count == 0 and self.tokens == ("*",))

    def accepts_any_longer(self, states: frozenset[int]) -> bool:
        """Will every continuation be accepted (a final ``*`` has matched)?"""
        return bool(self.tokens) and self.tokens[-1] == "*" and len(self.tokens) in states


_Worlds = frozenset[frozenset[tuple[int, int]]]


class _State(NamedTuple):
    """A product state: routing per reading, path length (capped), pattern positions."""

    worlds: _Worlds
    length: int
    allow: tuple[frozenset[int], ...]
    deny: tuple[frozenset[int], ...]


class _Routing:
    """The routing state of a path read so far, for one verb (module docs, step 4)."""

    def __init__(self, grants: Grants, verb: str) -> None:
        table = grants.routes.table
        self.table = table
        self.routes: list[tuple[tuple[tuple[int, str], ...], tuple[dict[int, str], ...]]] = []
        self.ids: list[int] = []
        for index, (route_key, _) in enumerate(table.routes):
            if route_key.verb not in (verb, ANY) or route_key.template is None:
                continue
            segments = route_key.template.segments
            where = {name: pos for pos, (kind, name) in enumerate(segments) if kind != LITERAL}
            needs = tuple(
                {where[name]: value for name, value in grant.binding.items()}
                for grant in grants.per_route[index]
                if grant.verbs is None or verb in grant.verbs
            )
            self.ids.append(len(self.routes))
            self.routes.append((segments, needs))
        self.depth = table.depth
        # A route's state: (route, bitmask of its grants that still hold).
        self.start: _Worlds = frozenset(
            {frozenset((i, (1 << len(needs)) - 1) for i, (_, needs) in enumerate(self.routes))}
        )

    def step(self, worlds: _Worlds, count: int, segment: str) -> _Worlds:
        readings = [segment]
        if count < len(self.table.literals_at):
            literal = self.table.literals_at[count].get(fold(segment))
            if literal is not None and literal != segment:
                readings.append(literal)
        out = set()
        for world in worlds:
            for reading in readings:
                out.add(frozenset(self._advance(world, count, reading, segment)))
        return frozenset(out)

    def _advance(
        self, world: frozenset[tuple[int, int]], count: int, reading: str, raw: str
    ) -> Iterable[tuple[int, int]]:
        for route, held in world:
            segments, needs = self.routes[route]
            mask = held
            if count < len(segments):
                kind, text = segments[count]
                if kind == LITERAL:
                    if reading == text:
                        yield route, held
                    continue
            elif not segments or segments[-1][0] != GREEDY:
                continue  # the path is longer than this route
            for bit, need in enumerate(needs):
                value = need.get(min(count, len(segments) - 1))
                if value is not None and (count >= len(segments) or value != raw):
                    mask &= ~(1 << bit)
            yield route, mask


def _variant(literal: str, words: set[str]) -> str | None:
    """A spelling of ``literal`` that folds to it, is none of ``words`` and is not refused."""
    candidates = [literal.swapcase()]
    for index, char in enumerate(literal):
        if char != ".":
            candidates.append(f"{literal[:index]}%{ord(char):02X}{literal[index + 1 :]}")
    for candidate in candidates:
        if (
            candidate != literal
            and candidate not in words
            and fold(candidate) == fold(literal)
            and split_path("/" + candidate) == (candidate,)
        ):
            return candidate
    return None


def find_over_allow(
    grants: Grants, allow: Mapping[str, Sequence[str]], deny: Mapping[str, Sequence[str]]
) -> str | None:
    """A request (``"VERB /path"``) that route-part patterns ``allow`` minus ``deny`` (per
    verb; the :data:`REFUSED_SPELLINGS` assumed denied) let through and ``grants`` do not
    allow, or None when there is none (module docs: the proof).

    >>> from secauth.access import Routes
    >>> from secauth.rules import tenant
    >>> from secauth.principal import Principal
    >>> routes = Routes({"ANY /{region}/{tid}/files/{proxy+}": tenant(path="tid")})
    >>> grants = routes.grants(Principal("u", tenant="acme"))
    >>> find_over_allow(grants, {"GET": ["GET/*/acme/files/*"]}, {})
    'GET /~w/acme/acme/files/acme'
    >>> find_over_allow(grants, {"GET": ["GET/*/acme/files/*"]}, {"GET": ["GET/*/*/acme/files/*"]})
    """
    for verb in VERBS:
        allowed = [_parse_pattern(p) for p in allow.get(verb, ())]
        if not allowed:
            continue
        denied = [_parse_pattern(p) for p in deny.get(verb, ())]
        witness = _search(grants, verb, allowed, denied)
        if witness is not None:
            return f"{verb} /{'/'.join(witness)}"
    return None


def _parse_pattern(text: str) -> _Pattern:
    verb, _, path = text.partition("/")
    tokens = tuple(path.split("/")) if path else ()
    for token in tokens:
        if token != "*" and not is_plain_segment(token):
            raise ConfigurationError(f"pattern {text!r}: tokens are plain segments or '*'")
    return _Pattern(verb, tokens)


def _search(
    grants: Grants, verb: str, allowed: list[_Pattern], denied: list[_Pattern]
) -> tuple[str, ...] | None:
    routing = _Routing(grants, verb)
    table = grants.routes.table
    words = {t for p in (*allowed, *denied) for t in p.tokens if t != "*"}
    for literals in table.literals_at:
        words.update(literals.values())
    for per_route in grants.per_route:
        for grant in per_route:
            words.update(grant.binding.values())
    fresh = "~w"
    folded_literals = {f for literals in table.literals_at for f in literals}
    while fresh in words or fold(fresh) in folded_literals:
        fresh += "~"
    # What may follow at a position, besides the pattern tokens: literals there, the words
    # that fold to them, one spelling variant each, and the bound values.
    local: list[set[str]] = []
    for literals in table.literals_at:
        here = set(literals.values())
        here.update(w for w in words if fold(w) in literals)
        here.update(v for v in (_variant(lit, words) for lit in literals.values()) if v)
        local.append(here)
    for index, (route_key, _) in enumerate(table.routes):
        assert route_key.template is not None
        where = {n: p for p, (k, n) in enumerate(route_key.template.segments) if k != LITERAL}
        for grant in grants.per_route[index]:
            for name, value in grant.binding.items():
                while len(local) <= where[name]:
                    local.append(set())
                local[where[name]].add(value)
    judged: dict[tuple[_Worlds, int], bool] = {}
    start = _State(
        routing.start, 0, tuple(p.start() for p in allowed), tuple(p.start() for p in denied)
    )
    seen = {start}
    todo: deque[tuple[_State, tuple[str, ...]]] = deque([(start, ())])
    while todo:  # breadth first: the first counterexample is a shortest one
        state, path = todo.popleft()
        if not any(state.allow):
            continue
        if any(p.accepts_any_longer(s) for p, s in zip(denied, state.deny, strict=True)):
            continue
        in_policy = any(
            p.accepts(s, len(path)) for p, s in zip(allowed, state.allow, strict=True)
        ) and not any(p.accepts(s, len(path)) for p, s in zip(denied, state.deny, strict=True))
        if in_policy:
            key = (state.worlds, state.length)
            if key not in judged:
                judged[key] = grants.allows_segments(verb, path)
            if not judged[key]:
                return path
        choices = {fresh}
        for pattern, states in zip(allowed, state.allow, strict=True):
            choices.update(pattern.tokens[i] for i in states if i < len(pattern.tokens))
        if state.length < len(local):
            choices.update(local[state.length])
        choices.discard("*")
        for segment in sorted(choices):
            following = _State(
                routing.step(state.worlds, state.length, segment),
                min(state.length + 1, routing.depth + 1),
                tuple(p.step(s, segment) for p, s in zip(allowed, state.allow, strict=True)),
                tuple(p.step(s, segment) for p, s in zip(denied, state.deny, strict=True)),
            )
            if following not in seen:
                seen.add(following)
                todo.append((following, (*path, segment)))
    return None


# --- planning ------------------------------------------------------------------------------


def _allow_patterns(grants: Grants) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per verb: the Allow patterns of every grant, and the Deny patterns that pin each
    parameter wildcard of those to one segment (the second candidate)."""
    allow: dict[str, set[str]] = {}
    narrow: dict[str, set[str]] = {}
    for index, (route_key, _) in enumerate(grants.routes.table.routes):
        template = route_key.template
        assert template is not None
        for grant in grants.per_route[index]:
            verbs = VERBS if route_key.verb == ANY else (route_key.verb,)
            for verb in verbs:
                if grant.verbs is not None and verb not in grant.verbs:
                    continue
                pattern = route_glob(verb, template, grant.binding)
                allow.setdefault(verb, set()).add(pattern)
                head, _, path = pattern.partition("/")
                tokens = path.split("/")
                for position, (kind, name) in enumerate(template.segments):
                    if kind == PARAM and name not in grant.binding:
                        pinned = [*tokens[:position], "*/*", *tokens[position + 1 :]]
                        narrow.setdefault(verb, set()).add(head + "/" + "/".join(pinned))
    return allow, narrow


def plan_policy(prefix: str, grants: Grants) -> PolicyDocument | None:
    """The cached policy for ``grants`` in the API and stage of ``prefix``
    (``arn:...:{apiId}/{stage}/``), or None when none can be proven safe (module docs).

    An empty document (it serializes as a Deny of everything) when nothing is granted.
    Allow patterns that no Deny can keep safe are left out (their requests answer 403
    while cached, fail closed); :func:`route_policy` refuses that instead.
    """
    allow, narrow = _allow_patterns(grants)
    if not allow:
        return PolicyDocument()
    table = grants.routes.table
    deny: dict[str, set[str]] = {verb: set() for verb in VERBS}
    while True:
        witness = find_over_allow(grants, _sorted(allow), _sorted(deny))
        if witness is None:
            return _document(prefix, allow, deny)
        verb, _, path = witness.partition(" ")
        segments = split_path(path) or ()
        route = table.lookup(verb, segments)[0]
        if route is None and not segments:
            deny[verb].add(verb + "/")  # "VERB/*" also matches the root, "VERB/"
            continue
        if route is not None and not any(
            g.verbs is None or verb in g.verbs for g in grants.per_route[route.route_index]
        ):
            assert route.key.template is not None
            pattern = route_glob(verb, route.key.template, {})
            if pattern not in deny[verb]:
                deny[verb].add(pattern)  # a route granted nothing: deny all of it
                continue
        pinning = {p for p in narrow.get(verb, ()) if matches(p, verb + path)} - deny[verb]
        if pinning:
            deny[verb].update(pinning)  # a parameter's "*" spanned several segments
            continue
        allow[verb] = {p for p in allow[verb] if not matches(p, verb + path)}
        if not any(allow.values()):
            return None


def _sorted(patterns: Mapping[str, set[str]]) -> dict[str, list[str]]:
    return {verb: sorted(found) for verb, found in patterns.items()}


def _document(
    prefix: str, allow: Mapping[str, set[str]], deny: Mapping[str, set[str]]
) -> PolicyDocument:
    allowed = sorted(prefix + p for patterns in allow.values() for p in patterns)
    denied = {prefix + p for patterns in deny.values() for p in patterns}
    denied.update(prefix + p for p in REFUSED_SPELLINGS)
    return PolicyDocument([Statement("Allow", allowed), Statement("Deny", sorted(denied))])


class PlanCache:
    """Planned policies by stage prefix and grants, the least recently used dropped past
    ``size`` entries. Owned by one :class:`~secauth.policy.PolicyBuilder` (one table)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._plans: OrderedDict[tuple[object, ...], PolicyDocument | None] = OrderedDict()

    def get(self, prefix: str, grants: Grants) -> PolicyDocument | None:
        """:func:`plan_policy`, planned once per distinct stage and grants."""
        key = (prefix, grants.key())
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        plan = plan_policy(prefix, grants)
        self._plans[key] = plan
        if len(self._plans) > self.size:
            self._plans.popitem(last=False)
        return plan


# --- the lower-level API: policies from lists of routes --------------------------------------

#: ``("GET", "/orders/{id}")``, ``"GET /orders/{id}"`` or an ``AllowedRoute``.
RouteLike = str | Sequence[str]


def _route_text(route: object) -> str:
    if isinstance(route, str):
        return route
    if isinstance(route, Sequence) and len(route) == 2 and all(isinstance(p, str) for p in route):
        return f"{route[0]} {route[1]}"
    raise ConfigurationError(f"a route is 'VERB /path' or (verb, path template), got {route!r:.80}")


def resources_for_routes(method_arn: MethodArn | str, routes: Iterable[RouteLike]) -> list[str]:
    """Resource ARNs (sorted, unique) covering every ``(verb, path template)`` in ``routes``.

    ``ANY`` becomes one resource per verb. ``*`` matches across ``/`` in IAM, so
    ``/users/{id}`` also covers ``/users/7/secrets``: for a policy API Gateway may cache,
    use :class:`~secauth.policy.PolicyBuilder` with the route table, which proves its
    policies against the table.

    >>> arn = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/orders/7"
    >>> [r.split("/prod/")[1] for r in resources_for_routes(arn, ["GET /orders/{id}"])]
    ['GET/orders/*']
    """
    arn = method_arn if isinstance(method_arn, MethodArn) else MethodArn.parse(method_arn)
    if arn.is_websocket:
        raise ConfigurationError("route resources are for REST and HTTP APIs, not WebSocket ARNs")
    out: set[str] = set()
    for route in routes:
        route_key = parse_route_key(_route_text(route))
        if route_key.template is None:
            raise ConfigurationError(f"{route_key.key!r} is not an HTTP route")
        for verb in VERBS if route_key.verb == ANY else (route_key.verb,):
            out.add(arn.prefix + route_glob(verb, route_key.template, {}))
    return sorted(out)


def route_policy(
    method_arn: MethodArn | str, allowed: Iterable[RouteLike], routes: Iterable[RouteLike]
) -> PolicyDocument:
    """A cached policy from lists of routes: ``allowed`` (bound templates, e.g.
    :meth:`Routes.allowed_routes <secauth.access.Routes.allowed_routes>`) within the table
    ``routes`` (every route the authorizer protects; unlisted paths count as denied).

    Each allowed route must be a route of the table with some parameters bound to one
    value. The policy is proven like :func:`plan_policy`'s; raises :class:`PolicyConflict`
    when none can be.

    >>> arn = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/users/7"
    >>> table = ["GET /users/{id}", "GET /users/{id}/secrets", "DELETE /users/{id}"]
    >>> doc = route_policy(arn, ["GET /users/{id}"], table)
    >>> [r.rsplit("/prod/", 1)[1] for r in doc.statements[0].resources]
    ['GET/users/*']
    >>> "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/users/*/*" in doc.statements[1].resources
    True
    """
    from secauth.access import Grant, Grants, Routes
    from secauth.rules import public

    arn = method_arn if isinstance(method_arn, MethodArn) else MethodArn.parse(method_arn)
    if arn.is_websocket:
        raise ConfigurationError("route policies are for REST and HTTP APIs, not WebSocket ARNs")
    keys = {}
    for route in routes:
        route_key = parse_route_key(_route_text(route))
        if route_key.template is not None:
            keys[(route_key.verb, route_key.template.text)] = route_key
    if not keys:
        raise ConfigurationError("route_policy needs the table's HTTP routes")
    found: dict[tuple[str, str], list[tuple[dict[str, str], frozenset[str] | None]]] = {
        key: [] for key in keys
    }
    allowed_keys: list[RouteKey] = []
    for route in allowed:
        entry = parse_route_key(_route_text(route))
        if entry.template is None:
            continue
        allowed_keys.append(entry)
        origins = [
            (key, binding, verbs)
            for key, route_key in keys.items()
            for binding, verbs in [_origin(route_key, entry)]
            if binding is not None
        ]
        exact = [o for o in origins if not o[1] and o[2] is None]
        origins = exact or origins  # a route of the table itself names that route
        if not origins:
            raise ConfigurationError(f"allowed route {entry.key!r} is not in the route table")
        if len(origins) > 1:
            names = ", ".join(f"{verb} {text}" for (verb, text), _, _ in origins)
            raise PolicyConflict(
                f"allowed route {entry.key!r} could be a bound form of several routes "
                f"({names}); give the routes distinct literal segments or use authorizer "
                "caching TTL 0"
            )
        key, binding, verbs = origins[0]
        found[key].append((binding, verbs))
    table = Routes({f"{verb} {text}": public() for verb, text in keys})
    per_route = tuple(tuple(Grant(binding, verbs) for binding, verbs in found[key]) for key in keys)
    grants = Grants(table, per_route, default=False)
    document = plan_policy(arn.prefix, grants)
    wanted = {arn.prefix + p for patterns in _allow_patterns(grants)[0].values() for p in patterns}
    given = set(document.statements[0].resources) if document and document.statements else set()
    missing = sorted(wanted - given)
    if document is None or missing:
        raise PolicyConflict(
            f"no cached IAM policy can be proven to allow {missing[0].removeprefix(arn.prefix)!r} "
            "without also allowing what this table denies (IAM's '*' spans segments and "
            "cannot tell a spelling variant from a literal); use authorizer caching TTL 0"
            if missing
            else "no cached IAM policy can be proven safe for this table; use TTL 0"
        )
    for entry in allowed_keys:
        request = _representative(entry)
        verb = VERBS[0] if entry.verb == ANY else entry.verb
        if not document_allows(document, f"{arn.prefix}{verb}{request}"):
            raise PolicyConflict(
                f"the Deny this table needs would also refuse {verb} {request!r}, which the "
                f"allowed route {entry.key!r} serves; use authorizer caching TTL 0"
            )
    return document


def _representative(entry: RouteKey) -> str:
    """A request path of ``entry``'s template: each parameter one fresh segment."""
    assert entry.template is not None
    return "/" + "/".join(
        text if kind == LITERAL else "~w" for kind, text in entry.template.segments
    )


def _origin(
    route_key: RouteKey, entry: RouteKey
) -> tuple[dict[str, str] | None, frozenset[str] | None]:
    """How ``entry`` (a bound route) is ``route_key`` with parameters bound: the binding and
    the verbs (None: all), or (None, None) when it is not."""
    assert route_key.template is not None
    assert entry.template is not None
    verbs: frozenset[str] | None = None
    if entry.verb != route_key.verb:
        if route_key.verb != ANY or entry.verb == ANY:
            return None, None
        verbs = frozenset({entry.verb})
    mine, theirs = route_key.template.segments, entry.template.segments
    if len(mine) != len(theirs):
        return None, None
    binding: dict[str, str] = {}
    for (kind, text), (entry_kind, entry_text) in zip(mine, theirs, strict=True):
        if kind == LITERAL:
            if entry_kind != LITERAL or entry_text != text:
                return None, None
        elif entry_kind == LITERAL:
            binding[text] = entry_text
        elif entry_kind != kind:
            return None, None
    return binding, verbs
