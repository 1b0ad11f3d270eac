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
import math
from collections.abc import Collection, Mapping
from typing import Any

from secauth._b64 import loads_strict, max_depth_exceeds
from secauth.errors import (
    RULES,
    BadRequest,
    ConfigurationError,
    FieldError,
    InvalidFields,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from secauth.events import content_type
from secauth.field_rules import Field, FieldType, compile_schema, object_errors

__all__ = ["RULES", "Field", "FieldError", "FieldType", "InvalidFields", "json_body"]

_DEFAULT_MAX_BYTES = 64 * 1024
_UTF8 = ("utf-8", "utf8")


def _media_type(event: Mapping[str, Any]) -> str:
    """The declared media type in lower case; "" (which matches nothing: 415) when the
    request declares none, several (API kinds disagree on which one counts) or a charset
    other than UTF-8 (the body is read as UTF-8, whatever it declares)."""
    declared = content_type(event)
    if declared is None:
        return ""
    media, *params = declared.split(";")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in _UTF8:
            return ""
    return media.strip().lower()


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
    secauth.errors.InvalidFields: bad request (bad_request)
    """
    schema, required_names = compile_schema(fields, required)
    for name, limit in (("max_bytes", max_bytes), ("max_depth", max_depth)):
        if type(limit) is not int or limit <= 0:
            raise ConfigurationError(f"{name} must be a positive int")
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
    object_errors(data, schema, required_names, None, errors)
    if errors:
        raise InvalidFields(errors=errors)
    return data
