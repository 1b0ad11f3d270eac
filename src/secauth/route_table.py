"""``RouteTable``: route keys with a value each, looked up as API Gateway selects routes
(the model is :mod:`secauth.routing`'s: precedence, refused spellings, ambiguous
segments), and ``stage_readings`` for an HTTP API's named stage.

A segment that may mean a literal of the table at its position (``/ADMIN`` for
``/admin``) is read both ways, so a path's readings double with each such segment: a
path with more than :data:`MAX_AMBIGUOUS_SEGMENTS` of them is not read at all
(:meth:`RouteTable.lookup` returns None) and callers refuse it, so an anonymous request
cannot make routing cost 2**k walks.

Example
-------
>>> from secauth.routing import parse_route_key, split_path
>>> table = RouteTable([(parse_route_key("GET /users/me"), "me"),
...                     (parse_route_key("GET /users/{id}"), "user")])
>>> [(m.value, m.params) for m in table.lookup("GET", split_path("/users/7")) if m]
[('user', {'id': '7'})]
>>> sorted(m.value for m in table.lookup("GET", split_path("/users/ME")))
['me', 'user']
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any, Final, Generic, NamedTuple, TypeVar

from secauth.errors import ConfigurationError
from secauth.routing import ANY, GREEDY, LITERAL, PARAM, RouteKey, fold, shape_of

__all__ = ["MAX_AMBIGUOUS_SEGMENTS", "Match", "RouteTable", "stage_readings"]

#: The most ambiguous segments a path may have (module docs): its readings double with each.
MAX_AMBIGUOUS_SEGMENTS: Final = 6

T = TypeVar("T")


class Match(NamedTuple, Generic[T]):
    """One route a request can reach: its position in the table, key, value and the raw
    parameters."""

    route_index: int
    key: RouteKey
    value: T
    params: dict[str, str]


def _for_verb(routes: dict[str, int], verb: str) -> int | None:
    """The route among one template's (by verb) for ``verb``: exact, else ANY."""
    found = routes.get(verb)
    return found if found is not None else routes.get(ANY)


class _Node:
    __slots__ = ("greedy", "literals", "param", "routes")

    def __init__(self) -> None:
        self.literals: dict[str, _Node] = {}
        self.param: _Node | None = None
        # Route indexes by verb (ANY among them): a table has one route per verb and shape.
        self.greedy: dict[str, int] = {}  # routes ending in {proxy+} here
        self.routes: dict[str, int] = {}  # routes ending exactly here


class RouteTable(Generic[T]):
    """Route keys with a value each, looked up as API Gateway selects routes (module docs).

    Raises :class:`~secauth.errors.ConfigurationError` for a route listed twice (the same
    verb and the same shape, whatever the parameter names) and for two literals that
    differ only in case (a literal holds no ``%``), which would make every request for either
    ambiguous.
    """

    def __init__(self, routes: Iterable[tuple[RouteKey, T]]) -> None:
        self.routes: list[tuple[RouteKey, T]] = []
        self.specials: dict[str, T] = {}
        #: Every route's value by its key (``"GET /a/{id}"``, ``"$connect"``).
        self.by_key: dict[str, T] = {}
        self._root = _Node()
        self._shapes: dict[tuple[str, tuple[tuple[int, str], ...]], str] = {}
        self._folded: dict[str, str] = {}
        # Per route (by position): where its parameters are, (position, name, is_greedy).
        self._param_slots: list[tuple[tuple[int, str, bool], ...]] = []
        #: Per segment position: the literals some template has there, by folded form.
        self.literals_at: list[dict[str, str]] = []
        for route_key, value in routes:
            self._add(route_key, value)
        self.depth = max(
            (len(k.template.segments) for k, _ in self.routes if k.template is not None),
            default=0,
        )

    def _add(self, route_key: RouteKey, value: T) -> None:
        self.by_key[route_key.key] = value  # a key listed twice is refused below
        if route_key.template is None:
            if route_key.key in self.specials:
                raise ConfigurationError(f"route {route_key.key!r} is listed twice")
            self.specials[route_key.key] = value
            return
        twin = self._shapes.setdefault(
            (route_key.verb, route_key.template.shape), route_key.key
        )
        if twin != route_key.key:
            raise ConfigurationError(
                f"route {route_key.key!r} is listed twice (as {twin!r}: only parameter names "
                "differ)"
            )
        index = len(self.routes)
        self.routes.append((route_key, value))
        self._param_slots.append(
            tuple(
                (position, name, kind == GREEDY)
                for position, (kind, name) in enumerate(route_key.template.segments)
                if kind != LITERAL
            )
        )
        node = self._root
        for position, (kind, text) in enumerate(route_key.template.segments):
            if kind == GREEDY:
                node.greedy[route_key.verb] = index
                return
            if kind == PARAM:
                node.param = node.param or _Node()
                node = node.param
                continue
            folded = fold(text)
            other = self._folded.setdefault(folded, text)
            if other != text:
                raise ConfigurationError(
                    f"path segments {text!r} and {other!r} differ only in case: a request "
                    "for either would be ambiguous; rename one"
                )
            while len(self.literals_at) <= position:
                self.literals_at.append({})
            self.literals_at[position][folded] = text
            node = node.literals.setdefault(text, _Node())
        node.routes[route_key.verb] = index

    def key_of(self, verb: str, segments: Iterable[tuple[int, str]]) -> str | None:
        """The key of the table's route with ``verb`` (a verb of :data:`VERBS` or ``ANY``)
        and these template segments, whatever its parameter names, or None.

        >>> from secauth.routing import parse_route_key, parse_template
        >>> table = RouteTable([(parse_route_key("GET /users/{id}"), 1)])
        >>> table.key_of("GET", parse_template("/users/{name}").segments)
        'GET /users/{id}'
        >>> table.key_of("ANY", parse_template("/users/{id}").segments) is None
        True
        """
        return self._shapes.get((verb, shape_of(segments)))

    def fresh_segment(self, avoid: Iterable[str] = ()) -> str:
        """A segment that is no literal of the table in any spelling, and none of ``avoid``:
        it routes wherever a parameter would, and stands for every such value.

        >>> from secauth.routing import parse_route_key
        >>> RouteTable([(parse_route_key("GET /~w"), 1)]).fresh_segment()
        '~w~'
        """
        taken = set(avoid)
        fresh = "~w"
        while fresh in taken or any(fold(fresh) in literals for literals in self.literals_at):
            fresh += "~"
        return fresh

    def readings(self, segments: Sequence[str]) -> list[Sequence[str]] | None:
        """Each way the segments can be read (module docs: ambiguous segments), the
        segments as written first; None for a path with more than
        :data:`MAX_AMBIGUOUS_SEGMENTS` ambiguous segments (not read: refused).

        >>> from secauth.routing import parse_route_key
        >>> table = RouteTable([(parse_route_key("GET /admin/users"), "admin")])
        >>> table.readings(("admin;v=1", "users"))
        [('admin;v=1', 'users'), ('admin', 'users')]
        >>> deep = RouteTable([(parse_route_key("GET /a/b/c/d/e/f/g"), "deep")])
        >>> deep.readings(tuple("ABCDEFG")) is None  # seven ambiguous segments: not read
        True
        """
        other = self._literal_readings(segments)
        if not other:
            return [segments]
        if len(other) > MAX_AMBIGUOUS_SEGMENTS:
            return None
        choices = [
            (segment, other[i]) if i in other else (segment,) for i, segment in enumerate(segments)
        ]
        return list(itertools.product(*choices))

    def too_ambiguous(self, segments: Sequence[str]) -> bool:
        """Whether ``segments`` are too ambiguous to read (:meth:`readings` is None), told
        without building the readings.

        >>> from secauth.routing import parse_route_key
        >>> RouteTable([(parse_route_key("GET /a/b/c/d/e/f/g"), "deep")]).too_ambiguous("ABCDEFG")
        True
        """
        return len(self._literal_readings(segments)) > MAX_AMBIGUOUS_SEGMENTS

    def _literal_readings(self, segments: Sequence[str]) -> dict[int, str]:
        """The ambiguous segments (module docs), by position: the literal each may mean."""
        other: dict[int, str] = {}
        for position, literals in enumerate(self.literals_at[: len(segments)]):
            segment = segments[position]
            if not literals or literals.get(segment) == segment:
                continue  # no literal here, or a literal as written (keyed by folded form)
            literal = literals.get(fold(segment))
            if literal is None and ";" in segment:  # as a servlet reads it: no ;parameters
                literal = literals.get(fold(segment.partition(";")[0]))
            if literal is not None and literal != segment:
                other[position] = literal
        return other

    def lookup(self, verb: str, segments: Sequence[str]) -> list[Match[T] | None] | None:
        """What each reading of ``segments`` reaches for ``verb``: a :class:`Match`, or
        None for a reading that reaches no route. Deduplicated, the reading as written
        first; one item unless a segment is ambiguous (module docs). None for a path too
        ambiguous to read (:meth:`readings`): callers refuse it."""
        readings = self.readings(segments)
        if readings is None:
            return None
        out: list[Match[T] | None] = []
        for reading in readings:
            index = self._walk(self._root, reading, 0, verb)
            match = None if index is None else self._match(index, segments)
            if not out or match not in out:
                out.append(match)
        return out

    def _walk(self, node: _Node, reading: Sequence[str], position: int, verb: str) -> int | None:
        """The most specific route for one reading (module docs: precedence): the tree is
        walked literal child first, then the parameter child, then ``{proxy+}``, and an
        exact verb before ``ANY`` at each end, so the first route found is the one of
        smallest :attr:`Template.precedence`."""
        if position == len(reading):
            return _for_verb(node.routes, verb)
        child = node.literals.get(reading[position])
        if child is not None:
            found = self._walk(child, reading, position + 1, verb)
            if found is not None:
                return found
        if node.param is not None:
            found = self._walk(node.param, reading, position + 1, verb)
            if found is not None:
                return found
        return _for_verb(node.greedy, verb)

    def _match(self, index: int, segments: Sequence[str]) -> Match[T]:
        route_key, value = self.routes[index]
        params = {
            name: "/".join(segments[position:]) if greedy else segments[position]
            for position, name, greedy in self._param_slots[index]
        }
        return Match(index, route_key, value, params)


def stage_readings(
    raw_path: str, stage: str | None, table: RouteTable[Any]
) -> tuple[str, str | None]:
    """An HTTP API's ``rawPath`` without the leading segment a named stage adds
    ("/prod/a" -> "/a"), and the path as sent when it differs and the table has a first
    segment of the stage's name (behind a custom domain the stage is not in the path: both
    readings must be allowed); None otherwise.

    >>> from secauth.routing import parse_route_key
    >>> table = RouteTable([(parse_route_key("GET /prod/a"), 1), (parse_route_key("GET /a"), 2)])
    >>> stage_readings("/prod/a", "prod", table), stage_readings("/a", "$default", table)
    (('/a', '/prod/a'), ('/a', None))
    """
    if not stage or stage == "$default":
        return raw_path, None
    if raw_path != f"/{stage}" and not raw_path.startswith(f"/{stage}/"):
        return raw_path, None
    path = raw_path[len(stage) + 1 :] or "/"
    literals = table.literals_at[0].values() if table.literals_at else ()
    return path, (raw_path if stage in literals else None)
