"""How a request finds its route: the one route-key grammar, lookup, precedence and binding.

:class:`~secauth.access.Routes` decides on the route this module selects, and the
cached-policy planner (:mod:`secauth.policy.planner`) proves its policies against the
same selection, so the two cannot disagree about which route a request reaches.

The model of API Gateway's route selection (REST and HTTP APIs)
----------------------------------------------------------------
* A route key is ``"VERB /template"`` with VERB one of :data:`VERBS` or ``ANY``, or a
  key of its own: one starting with ``$`` (WebSocket's ``$connect``, ``$disconnect``,
  ``$default``, and an HTTP API's ``$default`` route), or a WebSocket API's custom
  route key (``sendmessage``: one word, no ``/``, not a verb). Keys of their own are
  only reached by WebSocket targets (see :meth:`secauth.access.Routes.resolve`).
* A template is ``/`` or ``/seg/seg/...``; each segment is a literal (letters, digits
  and ``._~!$&'()+,;=:@-``), ``{name}`` (exactly one segment) or, as the last segment,
  ``{name+}`` (one or more segments). ``*``, ``?``, ``%``, ``{``, ``}`` and ``\\``
  never appear in a literal: IAM would read the first two as wildcards. A segment that
  starts with ``:`` and a name (``:id``, Express style) is refused, with the ``{id}``
  spelling in the message; any other colon is a literal character, so Google-style
  custom methods (``/v1/items:batchGet``) and ``/time/12:30`` work.
* A request path is split on ``/`` into raw segments. Literals compare exactly:
  case-sensitive and not percent-decoded, as API Gateway matches paths.
* Among the routes that match every segment, the most specific wins, compared
  segment by segment from the left: a literal beats ``{param}``, which beats
  ``{proxy+}``; at equal specificity an exact verb beats ``ANY``.
* Refused spellings are never routed (denied everywhere, and by every cached policy):
  an empty segment (a doubled or trailing ``/``), a ``.`` or ``..`` segment, a
  backslash, and the percent-encoded ``/``, ``\\``, ``.`` and ``%`` (``%2F``,
  ``%5C``, ``%2E``, ``%25`` in either case) and the lead bytes of overlong UTF-8
  (``%C0``, ``%C1``, ``%E0%80``), which lenient decoders turn into the same; and a
  segment that is empty, ``.`` or ``..`` before a ``;`` (``..;``, ``.;x``, ``;x``),
  which servlet containers read as those. Any other segment, odd percent signs and
  non-UTF-8 escapes included, is a segment like others.
* Ambiguous segments: a segment that is not a literal of the table at its position
  but equals one once percent-decoded and ASCII case-folded, or once its ``;``
  parameters are dropped as well (``/PUBLIC``, ``/%70ublic`` or ``/public;x=1`` where
  the table has ``/public``), could mean either, depending on the API type and the
  backend (Java servlet containers drop ``;`` parameters before matching).
  :meth:`secauth.route_table.RouteTable.lookup` returns the route of every reading
  (each such segment read as written and as the literal), and callers allow the
  request only when every one of them does. Parameter values are always the raw
  segments. The readings double with each ambiguous segment: a path with more than
  :data:`~secauth.route_table.MAX_AMBIGUOUS_SEGMENTS` of them is not read at all
  (``lookup`` returns None) and is refused like a refused spelling, so an anonymous
  request cannot make routing cost 2**k walks.

The table itself, built from route keys of this grammar, is
:class:`secauth.route_table.RouteTable`.

Example
-------
>>> parse_route_key("GET /users/{id}").template.parameters
frozenset({'id'})
>>> split_path("/users/7"), split_path("/users/7/") is None
(('users', '7'), True)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final, NamedTuple
from urllib.parse import unquote

from secauth.errors import ConfigurationError

__all__ = [
    "ANY",
    "GREEDY",
    "LITERAL",
    "PARAM",
    "VERBS",
    "RouteKey",
    "Template",
    "fold",
    "is_custom_route_key",
    "is_plain_segment",
    "parse_route_key",
    "parse_template",
    "shape_of",
    "split_path",
]

#: The HTTP verbs a route or a method ARN can name (``ANY`` stands for all of them).
VERBS: Final = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
ANY: Final = "ANY"
LITERAL, PARAM, GREEDY = 0, 1, 2

_LITERAL_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()+,;=:@-]+")
_PARAM_SEGMENT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)(\+?)\}")
# Express and path-to-regexp spell a parameter ":id" (":path+" or ":path*" for several
# segments); in API Gateway that is a literal no real request path would ever hold.
_COLON_PARAM = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)([+*]?)")
# The patterns below kept as text are compiled by re on first use (rare inputs), not at
# import.
_SPECIAL_KEY = r"\$[A-Za-z0-9_.:@-]{1,127}"
# A WebSocket custom route key: the value of the route selection expression.
_CUSTOM_KEY = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")
# Percent-encodings of "/", "\", "." and "%", and the lead bytes of overlong UTF-8 forms
# of them (never valid UTF-8): a backend that decodes them sees another path.
_ENCODED_SPECIAL = r"%(?:2[fFeE5]|5[cC]|[cC][01]|[eE]0%80)"
_REFUSED_SEGMENTS: Final = frozenset({"", ".", ".."})  # empty and dot segments
_PERCENT_ESCAPE = r"%[0-9A-Fa-f]{2}"
_ASCII_LOWER: Final = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}


def shape_of(segments: Iterable[tuple[int, str]]) -> tuple[tuple[int, str], ...]:
    """Template segments with the parameters unnamed, as routes are compared: two routes of
    one verb and one shape are one route (:attr:`Template.shape`).

    >>> shape_of(parse_template("/a/{id}").segments) == shape_of(parse_template("/a/{x}").segments)
    True
    """
    return tuple((kind, text if kind == LITERAL else "") for kind, text in segments)


class Template(NamedTuple):
    """A parsed path template: ``(kind, text)`` per segment, ``kind`` one of
    :data:`LITERAL`, :data:`PARAM`, :data:`GREEDY` (``text`` the literal or the name)."""

    text: str
    segments: tuple[tuple[int, str], ...]

    @property
    def greedy(self) -> bool:
        """True when the template ends in ``{name+}``."""
        return bool(self.segments) and self.segments[-1][0] == GREEDY

    @property
    def precedence(self) -> tuple[int, ...]:
        """Segment kinds from the left: the smaller tuple is the more specific route."""
        return tuple(kind for kind, _ in self.segments)

    @property
    def parameters(self) -> frozenset[str]:
        """The parameter names (``{id}``, ``{proxy+}`` as ``proxy``)."""
        return frozenset(name for kind, name in self.segments if kind != LITERAL)

    @property
    def shape(self) -> tuple[tuple[int, str], ...]:
        """The segments with the parameters unnamed: equal for ``/a/{id}`` and ``/a/{x}``."""
        return shape_of(self.segments)


class RouteKey(NamedTuple):
    """A parsed route key: ``verb`` is a verb of :data:`VERBS`, ``ANY``, or the ``$`` key
    itself; ``template`` is None for ``$`` keys."""

    key: str
    verb: str
    template: Template | None


def parse_template(
    text: str, *, where: str | None = None, bound_values: bool = False
) -> Template:
    """Parse a path template; raise :class:`~secauth.errors.ConfigurationError` saying what
    to change. ``bound_values=True`` is for templates whose parameters were filled with
    request values (:meth:`secauth.access.Routes.allowed_routes`): a value that starts
    with ``:`` is a literal there, not an Express-style parameter.

    >>> parse_template("/users/{id}/{proxy+}").segments
    ((0, 'users'), (1, 'id'), (2, 'proxy'))
    """
    label = where or f"path template {text!r}"
    if not isinstance(text, str) or not text.startswith("/"):
        raise ConfigurationError(f"{label}: a path template starts with '/'")
    if text == "/":
        return Template(text, ())
    parts = text[1:].split("/")
    segments: list[tuple[int, str]] = []
    names: set[str] = set()
    for index, part in enumerate(parts):
        match = _PARAM_SEGMENT.fullmatch(part)
        if match is None:
            if not bound_values:
                _refuse_colon_parameter(part, label)
            if not _LITERAL_SEGMENT.fullmatch(part) or part in (".", ".."):
                raise ConfigurationError(
                    f"{label}: bad path segment {part!r} (a literal uses letters, digits and "
                    "._~!$&'()+,;=:@- and is not '.' or '..'; a parameter is a whole segment "
                    "like {id} or, last, {proxy+}; no '*', '?', '%' or empty segments)"
                )
            segments.append((LITERAL, part))
            continue
        name, plus = match.groups()
        if name in names:
            raise ConfigurationError(f"{label}: parameter {name!r} appears twice")
        names.add(name)
        if plus and index != len(parts) - 1:
            raise ConfigurationError(f"{label}: {{{name}+}} must be the last segment")
        segments.append((GREEDY if plus else PARAM, name))
    return Template(text, tuple(segments))


def _refuse_colon_parameter(part: str, label: str) -> None:
    """Raise for an Express-style ``:name`` segment, naming the ``{name}`` spelling."""
    colon = _COLON_PARAM.match(part)
    if colon is not None:
        name, many = colon.groups()
        brace = "{" + name + ("+" if many else "") + "}"
        raise ConfigurationError(f"{label}: write path parameters as {brace}, not {part}")


def parse_route_key(key: object, *, bound_values: bool = False) -> RouteKey:
    """Parse ``"VERB /template"`` (VERB case-insensitive, ``*`` for ``ANY``), a ``$`` key
    or a WebSocket custom route key (``bound_values``: see :func:`parse_template`).

    >>> parse_route_key("get /orders/{id}").verb, parse_route_key("$connect").template
    ('GET', None)
    >>> parse_route_key("sendmessage")
    RouteKey(key='sendmessage', verb='sendmessage', template=None)
    """
    if not isinstance(key, str):
        raise ConfigurationError(f"route keys are strings like 'GET /orders', got {key!r:.60}")
    if key.startswith("$"):
        predefined = ("$connect", "$disconnect", "$default")  # "$Connect" would be a key of its own
        if not re.fullmatch(_SPECIAL_KEY, key) or (key.lower() in predefined and key not in predefined):
            raise ConfigurationError(
                f"bad WebSocket route key {key!r:.60}: a '$' key is like '$connect' (or an "
                "HTTP API's '$default'); the predefined ones are lower case"
            )
        return RouteKey(key, key, None)
    if is_custom_route_key(key):
        return RouteKey(key, key, None)
    verb, _, template = key.partition(" ")
    verb = ANY if verb in ("*", "any", "ANY", "Any") else verb.upper()
    if (verb != ANY and verb not in VERBS) or not template.startswith("/"):
        raise ConfigurationError(
            f"route {key!r:.80}: write 'VERB /path', VERB one of {[*VERBS, ANY]} (or a "
            "WebSocket route key: '$connect', 'sendmessage')"
        )
    label = f"route {key!r:.80}"
    return RouteKey(key, verb, parse_template(template, where=label, bound_values=bound_values))


def is_custom_route_key(key: str) -> bool:
    """Is ``key`` a WebSocket custom route key: one word of ``A-Za-z0-9_.:@-``, not a verb
    (in any case) and not starting with ``$``?

    >>> is_custom_route_key("sendmessage"), is_custom_route_key("get"), is_custom_route_key("a b")
    (True, False, False)
    """
    return _CUSTOM_KEY.fullmatch(key) is not None and key.upper() not in (*VERBS, ANY)


def split_path(path: str) -> tuple[str, ...] | None:
    """The raw segments of a request path, or None for a refused spelling.

    >>> split_path("/a/b"), split_path("/"), split_path("/a//b"), split_path("/a/%2e%2E")
    (('a', 'b'), (), None, None)
    >>> split_path("/a;v=1/b"), split_path("/a/..;/b")
    (('a;v=1', 'b'), None)
    """
    if not path.startswith("/"):
        return None
    if path == "/":
        return ()
    segments = tuple(path[1:].split("/"))
    if (
        not _REFUSED_SEGMENTS.isdisjoint(segments)
        or "\\" in path
        or ("%" in path and re.search(_ENCODED_SPECIAL, path))
        or (";" in path and any(s.partition(";")[0] in _REFUSED_SEGMENTS for s in segments))
    ):
        return None
    return segments


def is_plain_segment(value: object) -> bool:
    """Can ``value`` stand for a path parameter in a route and in an IAM Resource ARN: one
    segment of literal characters (no wildcard, no slash, not '.' or '..')?

    >>> is_plain_segment("acme"), is_plain_segment("a/b"), is_plain_segment("*")
    (True, False, False)
    """
    return (
        isinstance(value, str)
        and _LITERAL_SEGMENT.fullmatch(value) is not None
        and value not in (".", "..")
    )


def fold(segment: str) -> str:
    """A segment percent-decoded once and ASCII case-folded: the spelling-blind form two
    segments share when one could be read as the other.

    >>> fold("%70UBLIC")
    'public'
    """
    if "%" in segment and re.search(_PERCENT_ESCAPE, segment):
        segment = unquote(segment, errors="replace")
    # str.lower() folds some non-ASCII letters to ASCII ones (KELVIN SIGN to "k"): only
    # ASCII letters fold here.
    return segment.lower() if segment.isascii() else segment.translate(_ASCII_LOWER)
