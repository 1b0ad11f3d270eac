"""Input hygiene for public endpoints: reject a bad JSON body with 400 before business logic.

A registration or login endpoint is public: anyone may send it anything. :func:`json_body`
reads the body of a Lambda event (REST v1, HTTP v2, Function URL, ALB) and returns a plain
dict only when it is exactly what the endpoint expects:

* a UTF-8 JSON **object** (not an array, string or number), within ``max_bytes``
  (413 above it, counted in bytes), under ``application/json`` (415 otherwise);
* strict JSON: no duplicate member names, no ``NaN``/``Infinity`` (nor numbers that
  overflow to infinity), no lone surrogates, nesting at most ``max_depth`` deep;
* only the declared ``fields`` (an unexpected field is an error, not ignored), each of
  its declared type with **no coercion**: ``"42"`` is not an int, ``true`` is not an int,
  ``1`` is not a bool (an int is accepted where a float is declared: JSON has one number
  type);
* every ``required`` field present (``null`` does not count unless ``None`` is a declared
  type);
* each field's rules, declared with :class:`Field` instead of a plain type: string length
  and pattern, allowed values, numeric range, list length and item type, and nested
  objects with fields (and required fields) of their own.

A body that breaks field rules raises :class:`InvalidFields`, a ``BadRequest`` whose
problem response lists each field and rule that failed (``{"field": "address.zip",
"rule": "max_length"}``): declared field paths and rule names only, never a value, never
the name of an unexpected field (rule ``unexpected_fields`` names the object holding it).
Every other refusal is a plain :class:`~secauth.errors.BadRequest` (or ``PayloadTooLarge``,
``UnsupportedMediaType``) whose ``detail`` is for logs only.

Example
-------
>>> SIGNUP = {"email": Field(str, max_length=254, pattern="[^@ ]+@[^@ ]+"),
...           "password": Field(str, min_length=12), "name": str}
>>> event = {"headers": {"content-type": "application/json"},
...          "body": '{"email": "a@example.com", "password": "correct horse"}'}
>>> json_body(event, fields=SIGNUP, required={"email", "password"})
{'email': 'a@example.com', 'password': 'correct horse'}
>>> try:
...     json_body({**event, "body": '{"email": "nobody", "password": "short"}'},
...               fields=SIGNUP, required={"email", "password"})
... except InvalidFields as err:
...     print(err.public_errors())
[{'field': 'email', 'rule': 'pattern'}, {'field': 'password', 'rule': 'min_length'}]
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import KW_ONLY, dataclass
from typing import Any, NamedTuple

from secauth._b64 import loads_strict, max_depth_exceeds
from secauth.errors import BadRequest, ConfigurationError, PayloadTooLarge, UnsupportedMediaType

__all__ = ["RULES", "Field", "FieldError", "FieldType", "InvalidFields", "json_body"]

FieldType = type | tuple[type | None, ...] | None
_Types = tuple[type, ...]
_ALLOWED_TYPES = frozenset({str, int, float, bool, list, dict, type(None)})
_DEFAULT_MAX_BYTES = 64 * 1024

#: Every rule name an :class:`InvalidFields` error (and so a problem response) may hold.
RULES = frozenset({"required", "type", "choices", "min_length", "max_length", "pattern",
                   "minimum", "maximum", "min_items", "max_items", "unexpected_fields"})  # fmt: skip


class FieldError(NamedTuple):
    """One broken rule: the declared field's path (``email``, ``address.zip``, ``tags[2]``;
    None for the body itself) and the rule's name (one of :data:`RULES`)."""

    field: str | None
    rule: str

    def public(self) -> dict[str, str]:
        """The entry of the problem response's ``errors`` list."""
        if self.field is None:
            return {"rule": self.rule}
        return {"field": self.field, "rule": self.rule}


class InvalidFields(BadRequest):
    """A JSON body whose declared fields break their rules (HTTP 400, reason ``bad_request``).

    The one error whose problem response says what failed: its ``errors`` member lists
    ``{"field": ..., "rule": ...}`` for each :class:`FieldError` (see
    :func:`secauth.responses.error_response`). :func:`json_body` puts in it only declared
    field paths and rule names from :data:`RULES`, never a value from the body; raise it
    from your own checks on the same terms.

    >>> InvalidFields([FieldError("email", "pattern")]).public_errors()
    [{'field': 'email', 'rule': 'pattern'}]
    """

    def __init__(
        self,
        errors: Iterable[FieldError] = (),
        public_message: str | None = None,
        *,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        found = tuple(errors)
        if not all(isinstance(e, FieldError) and e.rule in RULES for e in found):
            raise ConfigurationError(
                f"InvalidFields takes FieldError(field, rule) items with rules in {sorted(RULES)}"
            )
        self.field_errors = found
        logged = {"problem": "invalid fields", "errors": self.public_errors(), **(detail or {})}
        super().__init__(public_message, detail=logged)

    def public_errors(self) -> list[dict[str, str]]:
        """The ``errors`` member of the problem response: field paths and rule names only."""
        return [error.public() for error in self.field_errors]


@dataclass(frozen=True)
class Field:
    """A field's type and rules, a value of :func:`json_body`'s ``fields`` (beside plain types).

    A rule applies to values of the kind it speaks of: ``Field((str, None), max_length=5)``
    accepts ``null`` and strings of up to 5 characters. A value breaks at most one rule
    (checked in this order: type, choices, lengths, pattern, range).

    Parameters
    ----------
    type:
        ``str``, ``int``, ``float``, ``bool``, ``list``, ``dict`` or ``None``; a tuple for
        several. No coercion, as for plain types.
    min_length, max_length:
        The length of a string, in characters (code points), inclusive.
    pattern:
        A regular expression the whole string must match (``re.fullmatch``). It runs on
        untrusted text: keep it simple and give a ``max_length``.
    choices:
        The allowed values: strings or ints (``{"red", "green"}``).
    minimum, maximum:
        The range of a number, inclusive.
    min_items, max_items, items:
        The length of a list, and the type (or ``Field``) of each item.
    fields, required:
        A nested object's fields (plain types or ``Field``) and the ones it must hold, as
        for :func:`json_body`. Unexpected fields are refused here too.

    Raises
    ------
    ConfigurationError
        At construction: an unknown type, a rule that cannot apply to the type
        (``pattern`` on an ``int``), a minimum above its maximum, a pattern that does not
        compile, choices of another type.

    Example
    -------
    >>> ADDRESS = Field(dict, fields={"zip": Field(str, pattern=r"[0-9]{5}"), "city": str},
    ...                 required={"zip"})
    >>> Field(str, min_length=3, max_length=2)
    Traceback (most recent call last):
    ...
    secauth.errors.ConfigurationError: Field: min_length 3 is above max_length 2
    """

    type: FieldType
    _: KW_ONLY
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    choices: Collection[str | int] | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    min_items: int | None = None
    max_items: int | None = None
    items: FieldType | Field = None
    fields: Mapping[str, FieldType | Field] | None = None
    required: Collection[str] = ()
    def __post_init__(self) -> None:
        """Refuse a declaration that cannot be right, at construction."""
        types = _types(self.type)
        _applies(types, (str,), min_length=self.min_length, max_length=self.max_length,
                 pattern=self.pattern)  # fmt: skip
        _applies(types, (int, float), minimum=self.minimum, maximum=self.maximum)
        _applies(types, (list,), min_items=self.min_items, max_items=self.max_items,
                 items=self.items)  # fmt: skip
        _applies(types, (dict,), fields=self.fields, required=self.required or None)
        _sizes("min_length", self.min_length, "max_length", self.max_length)
        _sizes("min_items", self.min_items, "max_items", self.max_items)
        _range(self.minimum, self.maximum)
        if self.required and self.fields is None:
            raise ConfigurationError("Field: required names fields of a nested object: give fields")
        self.checks  # noqa: B018 - built now, so a bad pattern or choice fails here

    @functools.cached_property
    def checks(self) -> FieldChecks:
        """The declaration ready for checking values (built once per field)."""
        types = _types(self.type)
        nested = None if self.fields is None else _schema(self.fields, self.required)
        return FieldChecks(
            types,
            _compile(self.pattern),
            _choices(self.choices, types),
            None if self.items is None else _field(self.items, "Field items"),
            None if nested is None else nested[0],
            frozenset() if nested is None else nested[1],
        )


class FieldChecks(NamedTuple):
    """A :class:`Field` ready for checking values: its types, compiled pattern, choices,
    the ``Field`` of list items and of nested fields, and the nested required names."""

    types: _Types
    regex: re.Pattern[str] | None
    choices: frozenset[str | int] | None
    items: Field | None
    fields: dict[str, Field] | None
    required: frozenset[str]


def _types(declared: object) -> _Types:
    items = declared if isinstance(declared, tuple) else (declared,)
    types = tuple(type(None) if item is None else item for item in items)
    if not types or not all(isinstance(t, type) and t in _ALLOWED_TYPES for t in types):
        raise ConfigurationError(
            "types are str, int, float, bool, list, dict or None (a tuple for several)"
        )
    return types


def _applies(types: _Types, kinds: _Types, **rules: object) -> None:
    given = [name for name, value in rules.items() if value is not None]
    if given and not any(kind in types for kind in kinds):
        names = " or ".join(kind.__name__ for kind in kinds)
        verb = "applies" if len(given) == 1 else "apply"
        raise ConfigurationError(f"Field: {', '.join(given)} {verb} only to {names} fields")


def _sizes(low_name: str, low: object, high_name: str, high: object) -> None:
    for name, value in ((low_name, low), (high_name, high)):
        if value is not None and (type(value) is not int or value < 0):
            raise ConfigurationError(f"Field: {name} must be an int >= 0")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        raise ConfigurationError(f"Field: {low_name} {low} is above {high_name} {high}")


def _range(low: int | float | None, high: int | float | None) -> None:
    for name, value in (("minimum", low), ("maximum", high)):
        if value is not None and (type(value) not in (int, float) or not math.isfinite(value)):
            raise ConfigurationError(f"Field: {name} must be a finite int or float")
    if low is not None and high is not None and low > high:
        raise ConfigurationError(f"Field: minimum {low} is above maximum {high}")


def _compile(pattern: object) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    if not isinstance(pattern, str):
        raise ConfigurationError("Field: pattern is a regular expression (a str)")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigurationError(
            f"Field: pattern {pattern!r} is not a valid regular expression ({exc})"
        ) from None


def _choices(choices: object, types: _Types) -> frozenset[str | int] | None:
    if choices is None:
        return None
    if isinstance(choices, str | bytes) or not isinstance(choices, Collection) or not choices:
        raise ConfigurationError("Field: choices is a non-empty collection, e.g. {'red', 'green'}")
    for value in choices:
        fits = (type(value) is str and str in types) or (
            type(value) is int and (int in types or float in types)
        )
        if not fits:
            raise ConfigurationError(
                f"Field: choice {value!r} is not a str or int of the field's type"
            )
    return frozenset(choices)


def _field(declared: FieldType | Field, where: str) -> Field:
    if isinstance(declared, Field):
        return declared
    try:
        return Field(declared)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None


def _schema(
    fields: Mapping[str, FieldType | Field], required: Collection[str]
) -> tuple[dict[str, Field], frozenset[str]]:
    """The declaration as Fields by name, and the required names; or a ConfigurationError."""
    if not isinstance(fields, Mapping):
        raise ConfigurationError("fields maps each field name to a type or Field: {'email': str}")
    schema: dict[str, Field] = {}
    for name, declared in fields.items():
        if not isinstance(name, str):
            raise ConfigurationError(f"field names are strings, not {name!r}")
        schema[name] = _field(declared, f"field {name!r}")
    if isinstance(required, str) or not isinstance(required, Collection):
        raise ConfigurationError("required is a collection of field names, e.g. {'email'}")
    unknown = [name for name in required if name not in schema]
    if unknown:
        raise ConfigurationError(f"required fields {sorted(map(str, unknown))} are not in fields")
    return schema, frozenset(required)


def _matches(value: Any, types: tuple[type, ...]) -> bool:
    kind = type(value)  # exact types: bool is not int, and no subclass tricks
    if kind in types:
        return True
    return kind is int and float in types


def _media_type(event: Mapping[str, Any]) -> str:
    for source in ("headers", "multiValueHeaders"):
        headers = event.get(source)
        if not isinstance(headers, Mapping):
            continue
        for name, value in headers.items():
            if isinstance(name, str) and name.lower() == "content-type":
                first = (value[0] if value else "") if isinstance(value, list) else value
                if isinstance(first, str):
                    return first.split(";")[0].strip().lower()
    return ""


def _raw_body(event: Mapping[str, Any], max_bytes: int) -> bytes:
    body = event.get("body")
    if body is None or body == "":
        raise BadRequest(detail={"problem": "empty body"})
    if not isinstance(body, str):
        raise BadRequest(detail={"problem": "body is not text"})
    if event.get("isBase64Encoded") is True:
        if len(body) > (max_bytes + 2) // 3 * 4 + 4:
            raise PayloadTooLarge(detail={"limit": max_bytes})
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(detail={"problem": "body is not valid base64"}) from None
    else:
        if len(body) > max_bytes:  # a cheap first bound: each character is >= 1 byte
            raise PayloadTooLarge(detail={"limit": max_bytes})
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(detail={"problem": "body is not valid UTF-8"}) from None
    if len(raw) > max_bytes:
        raise PayloadTooLarge(detail={"limit": max_bytes})
    return raw


def _clean_text(value: Any) -> bool:
    """No lone surrogates and no non-finite numbers anywhere in the parsed value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is str:
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif type(item) is float:
            if not math.isfinite(item):
                return False
        elif type(item) is dict:
            stack.extend(item.keys())
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    return True


def json_body(
    event: Mapping[str, Any],
    *,
    fields: Mapping[str, FieldType | Field],
    required: Collection[str] = (),
    max_bytes: int = _DEFAULT_MAX_BYTES,
    max_depth: int = 8,
    content_type: str | None = "application/json",
) -> dict[str, Any]:
    """The event's JSON body as a dict, or a 400/413/415 error that echoes nothing back.

    Parameters
    ----------
    event:
        The Lambda event (REST v1, HTTP v2, Function URL, ALB; base64 bodies are decoded).
    fields:
        Every field the body may hold and its type (``str``, ``int``, ``float``, ``bool``,
        ``list``, ``dict``, ``None``; a tuple for several, e.g. ``(str, None)``), or a
        :class:`Field` with its rules.
    required:
        Fields that must be present.
    max_bytes:
        The largest body accepted, in bytes: UTF-8 bytes of a text body, decoded bytes of a
        base64 one (413 above it).
    max_depth:
        The deepest nesting of arrays and objects accepted (the body object counts as 1).
    content_type:
        The media type the request must declare (415 otherwise); None skips the check.

    Raises
    ------
    InvalidFields
        An unexpected field, a field of another type, a required field missing, a broken
        :class:`Field` rule: every failure, each named by its field path and rule.
    BadRequest
        Not JSON, not an object, duplicate names, NaN/Infinity, lone surrogates, too deep.
    PayloadTooLarge, UnsupportedMediaType
        Body too large; wrong ``Content-Type``.
    ConfigurationError
        ``fields`` or ``required`` are not a valid declaration.

    Example
    -------
    >>> event = {"body": '{"age": 30, "tags": ["a"]}', "headers": {}}
    >>> json_body(event, fields={"age": int, "tags": list}, content_type=None)
    {'age': 30, 'tags': ['a']}
    >>> json_body({"body": '{"age": "30"}'}, fields={"age": int}, content_type=None)
    Traceback (most recent call last):
    ...
    secauth.hygiene.InvalidFields: bad request (bad_request)
    """
    schema, required_names = _schema(fields, required)
    if not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ConfigurationError("max_bytes must be a positive int")
    if not isinstance(event, Mapping):
        raise BadRequest(detail={"problem": "not a Lambda event"})
    if content_type is not None and _media_type(event) != content_type.lower():
        raise UnsupportedMediaType(detail={"expected": content_type})
    raw = _raw_body(event, max_bytes)
    try:
        data = loads_strict(raw)
    except RecursionError:
        raise BadRequest(detail={"problem": "body nests too deep"}) from None
    except ValueError:
        # Not UTF-8, not JSON, a duplicate name, NaN/Infinity, an over-long integer.
        raise BadRequest(detail={"problem": "body is not strict JSON"}) from None
    if type(data) is not dict:
        raise BadRequest(detail={"problem": "body is not a JSON object"})
    if max_depth_exceeds(data, max_depth, raw):
        raise BadRequest(detail={"problem": "body nests too deep", "max_depth": max_depth})
    if not _clean_text(data):
        raise BadRequest(detail={"problem": "body holds a lone surrogate or a non-finite number"})
    errors: list[FieldError] = []
    _object_errors(data, schema, required_names, None, errors)
    if errors:
        raise InvalidFields(errors)
    return data


def _object_errors(
    data: dict[str, Any],
    schema: Mapping[str, Field],
    required: frozenset[str],
    path: str | None,
    errors: list[FieldError],
) -> None:
    """Append to ``errors`` what is wrong with the object ``data`` (at ``path``)."""
    if any(name not in schema for name in data):
        # The names come from the client: only the object that holds them is named.
        errors.append(FieldError(path, "unexpected_fields"))
    for name, spec in schema.items():
        where = name if path is None else f"{path}.{name}"
        if name not in data or (
            data[name] is None and name in required and type(None) not in spec.checks.types
        ):
            if name in required:
                errors.append(FieldError(where, "required"))
            continue
        _value_errors(data[name], spec, where, errors)


def _value_errors(value: Any, spec: Field, where: str, errors: list[FieldError]) -> None:
    rule = _broken_rule(value, spec)
    if rule is not None:
        errors.append(FieldError(where, rule))
    elif type(value) is dict and spec.checks.fields is not None:
        _object_errors(value, spec.checks.fields, spec.checks.required, where, errors)
    elif type(value) is list and spec.checks.items is not None:
        for index, item in enumerate(value):
            before = len(errors)
            _value_errors(item, spec.checks.items, f"{where}[{index}]", errors)
            if len(errors) > before:
                break  # the first bad item only: the list of errors stays as small as the schema


def _broken_rule(value: Any, spec: Field) -> str | None:
    """The first rule of ``spec`` that ``value`` breaks (nested fields aside), or None."""
    if not _matches(value, spec.checks.types):
        return "type"
    kind = type(value)
    if spec.checks.choices is not None and kind in (str, int, float) and value not in spec.checks.choices:
        return "choices"
    if kind is str:
        rule = _bounds(len(value), spec.min_length, spec.max_length, "min_length", "max_length")
        if rule is None and spec.checks.regex is not None and spec.checks.regex.fullmatch(value) is None:
            return "pattern"
        return rule
    if kind is int or kind is float:
        return _bounds(value, spec.minimum, spec.maximum, "minimum", "maximum")
    if kind is list:
        return _bounds(len(value), spec.min_items, spec.max_items, "min_items", "max_items")
    return None


def _bounds(
    size: float, low: float | None, high: float | None, low_rule: str, high_rule: str
) -> str | None:
    if low is not None and size < low:
        return low_rule
    if high is not None and size > high:
        return high_rule
    return None
