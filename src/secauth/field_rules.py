"""Field rules for JSON bodies: a :class:`Field` declares a field's type and rules
(string length and pattern, allowed values, numeric range, list length and item type,
nested objects), and :class:`InvalidFields` reports which declared fields broke which
rules, never their values. :func:`~secauth.hygiene.json_body` applies them.

>>> Field(str, max_length=5).checks.types
(<class 'str'>,)
>>> errors = []
>>> object_errors({"zip": "123456"}, *compile_schema({"zip": Field(str, max_length=5)}, ()),
...               None, errors)
>>> errors
[FieldError(field='zip', rule='max_length')]
"""

from __future__ import annotations

import functools
import math
import re
import sys
from collections.abc import Collection, Mapping
from dataclasses import KW_ONLY, dataclass
from typing import Any, NamedTuple

from secauth.errors import RULES, ConfigurationError, FieldError, InvalidFields

__all__ = [
    "RULES",  # re-exported from secauth.errors, with FieldError and InvalidFields
    "Field",
    "FieldChecks",
    "FieldError",
    "FieldType",
    "InvalidFields",
    "compile_schema",
    "object_errors",
]

FieldType = type | tuple[type | None, ...] | None
_Types = tuple[type, ...]
_ALLOWED_TYPES = frozenset({str, int, float, bool, list, dict, type(None)})

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
        nested = None if self.fields is None else compile_schema(self.fields, self.required)
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


def compile_schema(
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
    # An int where a float is declared, if it is one (not beyond float range, as 1e400 is).
    return kind is int and float in types and abs(value) <= sys.float_info.max


def object_errors(
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
        object_errors(value, spec.checks.fields, spec.checks.required, where, errors)
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
