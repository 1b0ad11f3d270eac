"""The proof behind cached policies: does a policy allow a request the route table denies?

The guarantee
-------------
For a principal's :class:`~secauth.access.Grants` (what :meth:`Routes.decide
<secauth.access.Routes.decide>` allows from the principal alone) and the policy
:func:`~secauth.policy.planner.plan_policy` returns: every method ARN of this API and
stage that the policy allows under IAM semantics (``*`` any run of characters including
``/``, ``?`` one character, case-sensitive, an explicit Deny wins) is a request the grants
allow, on the route of every reading of its path. When no policy of the shapes below can
be proven so, the answer is None and the caller names the exact method ARN instead (fail
closed). :func:`find_over_allow` is the decision procedure.

The proof, step by step (exact, no search budget)
--------------------------------------------------
0. **Colons and semicolons.** Every policy denies :data:`COLON_PATHS` (a ``:`` anywhere
   in the path), so the colon-bounded ``*`` of the IAM User Guide's reading and the
   unbounded one of the simulators agree on everything a policy allows; and
   :data:`SEMICOLON_PATHS` (a ``;`` anywhere in the path), which servlet backends read
   without its ``;`` parameters, so another route than the one API Gateway matched.
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
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Final, NamedTuple

from secauth.errors import ConfigurationError
from secauth.policy.glob import intersects
from secauth.routing import ANY, GREEDY, LITERAL, VERBS, fold, is_plain_segment, split_path

if TYPE_CHECKING:
    from secauth.grants import Grants

__all__ = ["COLON_PATHS", "REFUSED_SPELLINGS", "SEMICOLON_PATHS", "find_over_allow"]

#: The route part every cached policy also denies: any path holding a ``:``. The IAM User
#: Guide lets a ``*`` match past a colon only where it ends a colon-separated part of the
#: ARN. Read so, a Deny with an inner ``*`` (``GET/users/*/*``) misses ``GET/users/a:b/x``
#: while the Allow ``GET/users/*`` still matches it. With every such path denied (both of
#: this pattern's ``*`` end a part), what a policy allows has no colon after the stage,
#: where both readings of ``*`` agree, so the proof holds under either.
COLON_PATHS: Final = "*:*"

#: The route part every cached policy also denies: any path holding a ``;``. Java servlet
#: containers drop a segment's ``;`` parameters before matching (``/admin;x/users`` is
#: their ``/admin/users``), so such a path is read two ways
#: (:meth:`secauth.route_table.RouteTable.readings`) and its answer is for its own method ARN
#: alone, never part of a cached plan.
SEMICOLON_PATHS: Final = "*;*"

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
    encoded = (  # one character percent-encoded, tried only when the swapped case is not
        f"{literal[:index]}%{ord(char):02X}{literal[index + 1 :]}"
        for index, char in enumerate(literal)
        if char != "."
    )
    for candidate in itertools.chain((literal.swapcase(),), encoded):
        if (
            candidate != literal
            and candidate not in words
            and fold(candidate) == fold(literal)
            and split_path("/" + candidate) == (candidate,)
        ):
            return candidate
    return None


def find_over_allow(
    grants: Grants,
    allow: Mapping[str, Sequence[str]],
    deny: Mapping[str, Sequence[str]],
    *,
    verbs: Sequence[str] = VERBS,
) -> str | None:
    """A request (``"VERB /path"``) that route-part patterns ``allow`` minus ``deny`` (per
    verb; the :data:`REFUSED_SPELLINGS` assumed denied) let through and ``grants`` do not
    allow, or None when there is none (module docs: the proof). ``verbs`` are the verbs
    searched (any name other than the seven stands for every other method).

    Each Allow pattern is searched on its own, with the Deny patterns that overlap it: a
    request the policy lets through is one Allow pattern's and none of those Denies', so
    this is the same question in smaller products.

    >>> from secauth.access import Routes
    >>> from secauth.rules import tenant
    >>> from secauth.principal import Principal
    >>> routes = Routes({"ANY /{region}/{tid}/files/{proxy+}": tenant(path="tid")})
    >>> grants = routes.grants(Principal("u", tenant="acme"))
    >>> find_over_allow(grants, {"GET": ["GET/*/acme/files/*"]}, {})
    'GET /~w/acme/acme/files/acme'
    >>> find_over_allow(grants, {"GET": ["GET/*/acme/files/*"]}, {"GET": ["GET/*/*/acme/files/*"]})
    """
    for verb in verbs:
        for pattern in allow.get(verb, ()):
            overlapping = [d for d in deny.get(verb, ()) if intersects(pattern, d)]
            denied = [_parse_pattern(d) for d in overlapping]
            witness = _search(grants, verb, [_parse_pattern(pattern)], denied)
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


class _Alphabet(NamedTuple):
    """The segments worth trying (module docs, step 3): one ``fresh`` segment standing for
    every segment that matters nowhere, and per position the ones that matter there
    besides the patterns' own tokens (literals, words folding to them, one spelling
    variant each, bound values)."""

    fresh: str
    local: list[set[str]]


def _alphabet(grants: Grants, patterns: Sequence[_Pattern]) -> _Alphabet:
    table = grants.routes.table
    words = {t for p in patterns for t in p.tokens if t != "*"}
    for literals in table.literals_at:
        words.update(literals.values())
    for per_route in grants.per_route:
        for grant in per_route:
            words.update(grant.binding.values())
    fresh = table.fresh_segment(words)
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
    return _Alphabet(fresh, local)


def _search(
    grants: Grants, verb: str, allowed: list[_Pattern], denied: list[_Pattern]
) -> tuple[str, ...] | None:
    """A shortest path ``allowed`` minus ``denied`` lets through that the grants deny."""
    routing = _Routing(grants, verb)
    fresh, local = _alphabet(grants, [*allowed, *denied])
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
            allow_after = tuple(p.step(s, segment) for p, s in zip(allowed, state.allow, strict=True))
            if not any(allow_after):
                continue  # no Allow pattern matches past this segment: nothing to find there
            following = _State(
                routing.step(state.worlds, state.length, segment),
                min(state.length + 1, routing.depth + 1),
                allow_after,
                tuple(p.step(s, segment) for p, s in zip(denied, state.deny, strict=True)),
            )
            if following not in seen:
                seen.add(following)
                todo.append((following, (*path, segment)))
    return None
