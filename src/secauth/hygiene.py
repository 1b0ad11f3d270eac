"""Input hygiene for public endpoints: reject a bad JSON body with 400 before business logic.

A registration or login endpoint is public: anyone may send it anything. :func:`json_body`
reads the body of a Lambda event (REST v1, HTTP v2, Function URL, ALB) and returns a plain
dict only when it is exactly what the endpoint expects:

* a UTF-8 JSON **object** (not an array, string or number), within ``max_bytes``
  (413 above it), under ``application/json`` (415 otherwise);
* strict JSON: no duplicate member names, no ``NaN``/``Infinity`` (nor numbers that
  overflow to infinity), no lone surrogates, nesting at most ``max_depth`` deep;
* only the declared ``fields`` (an unexpected field is an error, not ignored), each of
  its declared type with **no coercion**: ``"42"`` is not an int, ``true`` is not an int,
  ``1`` is not a bool (an int is accepted where a float is declared: JSON has one number
  type);
* every ``required`` field present (``null`` does not count unless ``None`` is a declared
  type).

Every refusal is a :class:`~secauth.errors.BadRequest` (or ``PayloadTooLarge``,
``UnsupportedMediaType``) whose message is the fixed ``"bad request"`` and whose
``detail`` names only *declared* field names and the kind of problem: nothing from
the body is ever echoed back, not even the name of an unexpected field. Under
:class:`~secauth.guard.Guard` the error becomes a sanitized problem response.

Example
-------
>>> event = {"version": "2.0", "rawPath": "/signup", "body": '{"email": "a@example.com",'
...          ' "password": "correct horse"}', "headers": {"content-type": "application/json"},
...          "requestContext": {"http": {"method": "POST", "path": "/signup"}}}
>>> SIGNUP = {"email": str, "password": str, "name": str}
>>> json_body(event, fields=SIGNUP, required={"email", "password"})
{'email': 'a@example.com', 'password': 'correct horse'}
>>> bad = {**event, "body": '{"email": "a@example.com", "password": "x", "admin": true}'}
>>> json_body(bad, fields=SIGNUP, required={"email", "password"})
Traceback (most recent call last):
...
secauth.errors.BadRequest: bad request (bad_request)
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Collection, Mapping
from typing import Any

from secauth._b64 import loads_strict, max_depth_exceeds
from secauth.errors import BadRequest, ConfigurationError, PayloadTooLarge, UnsupportedMediaType

__all__ = ["FieldType", "json_body"]

FieldType = type | tuple[type, ...]
_ALLOWED_TYPES = frozenset({str, int, float, bool, list, dict, type(None)})
_DEFAULT_MAX_BYTES = 64 * 1024


def _check_schema(
    fields: Mapping[str, FieldType], required: Collection[str]
) -> dict[str, tuple[type, ...]]:
    if not isinstance(fields, Mapping):
        raise ConfigurationError("fields maps each field name to a type: {'email': str}")
    schema: dict[str, tuple[type, ...]] = {}
    for name, declared in fields.items():
        types = declared if isinstance(declared, tuple) else (declared,)
        if not isinstance(name, str) or not types or not all(t in _ALLOWED_TYPES for t in types):
            raise ConfigurationError(
                f"field {name!r}: types are str, int, float, bool, list, dict or None "
                "(a tuple for several)"
            )
        schema[name] = types
    if isinstance(required, str):
        raise ConfigurationError("required is a collection of field names, e.g. {'email'}")
    unknown = [name for name in required if name not in schema]
    if unknown:
        raise ConfigurationError(f"required fields {sorted(unknown)} are not in fields")
    return schema


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
    fields: Mapping[str, FieldType],
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
        ``list``, ``dict``, ``None``; a tuple for several, e.g. ``(str, None)``).
    required:
        Fields that must be present.
    max_bytes:
        The largest body accepted, in bytes after base64 decoding (413 above it).
    max_depth:
        The deepest nesting of arrays and objects accepted (the body object counts as 1).
    content_type:
        The media type the request must declare (415 otherwise); None skips the check.

    Raises
    ------
    BadRequest
        Not JSON, not an object, duplicate names, NaN/Infinity, lone surrogates, too
        deep, an unexpected field, a field of another type, a required field missing.
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
    secauth.errors.BadRequest: bad request (bad_request)
    """
    schema = _check_schema(fields, required)
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
    unexpected = sum(1 for name in data if name not in schema)
    if unexpected:
        # The names come from the client: only their count is recorded.
        raise BadRequest(detail={"problem": "unexpected fields", "count": unexpected})
    for name in sorted(required):
        if name not in data:
            raise BadRequest(detail={"problem": "missing field", "field": name})
    for name, value in data.items():
        types = schema[name]
        if not _matches(value, types):
            if value is None and name in required:
                raise BadRequest(detail={"problem": "missing field", "field": name})
            raise BadRequest(
                detail={"problem": "wrong type", "field": name, "type": type(value).__name__}
            )
    return data
