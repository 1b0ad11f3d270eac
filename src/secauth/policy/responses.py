"""The Lambda authorizer response shapes: an IAM policy with context (REST, WebSocket,
HTTP payload 1.0 and 2.0) or a simple ``isAuthorized`` answer (HTTP payload 2.0), with
context values checked per kind and the whole response held to a size budget.

>>> from secauth.policy.document import DENY_ALL
>>> policy_response("u-1", DENY_ALL)["policyDocument"]["Statement"][0]["Effect"]
'Deny'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

from secauth.errors import ConfigurationError
from secauth.events import EventKind
from secauth.policy.arn import MethodArn
from secauth.policy.document import (
    DENY_ALL,
    PolicyDocument,
    PolicyTooLarge,
    _document_json,
    exact_document,
)

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "InvalidContext",
    "Unauthorized",
    "exact_response",
    "policy_response",
    "simple_response",
    "unauthorized",
    "validate_context",
]

#: Default budget for a whole serialized authorizer response.
DEFAULT_MAX_RESPONSE_BYTES: Final = 8192
_MAX_CONTEXT_DEPTH: Final = 32


class InvalidContext(ConfigurationError):
    """A context value API Gateway cannot pass on for this kind of authorizer."""


class Unauthorized(Exception):
    """Raise this from a REST or WebSocket authorizer to make API Gateway answer 401.

    API Gateway turns a Lambda error whose message is exactly ``Unauthorized``
    into a 401; any other error becomes a 500.

    >>> str(Unauthorized())
    'Unauthorized'
    """

    def __init__(self) -> None:
        super().__init__("Unauthorized")


_AUTHORIZER_KINDS: Final = frozenset(
    {
        EventKind.TOKEN_AUTHORIZER,
        EventKind.REST_REQUEST_AUTHORIZER,
        EventKind.HTTP_AUTHORIZER_V1,
        EventKind.HTTP_AUTHORIZER_V2,
        EventKind.WEBSOCKET_AUTHORIZER,
    }
)
_RAISES_FOR_401: Final = frozenset(
    {
        EventKind.TOKEN_AUTHORIZER,
        EventKind.REST_REQUEST_AUTHORIZER,
        EventKind.WEBSOCKET_AUTHORIZER,
    }
)
_USAGE_PLAN_KINDS: Final = frozenset(
    {EventKind.TOKEN_AUTHORIZER, EventKind.REST_REQUEST_AUTHORIZER}
)


def _kind(kind: object) -> EventKind:
    if not isinstance(kind, EventKind) or kind not in _AUTHORIZER_KINDS:
        raise ConfigurationError(f"{kind!r} is not an authorizer event kind")
    return kind


def _json_value(value: object, where: str, depth: int) -> object:
    if depth > _MAX_CONTEXT_DEPTH:
        raise InvalidContext(f"context value {where} is nested too deeply")
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidContext(f"context value {where} is {value!r}, which JSON cannot carry")
        return value
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidContext(f"context key {key!r} in {where} is not a string")
            out[key] = _json_value(item, f"{where}[{key!r}]", depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_json_value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise InvalidContext(f"context value {where} is a {type(value).__name__}, not JSON")


def validate_context(context: Mapping[str, object] | None, kind: EventKind) -> dict[str, Any]:
    """Check ``context`` for the authorizer ``kind`` and return a plain copy.

    REST (TOKEN, REQUEST), WebSocket and HTTP payload 1.0 accept only strings,
    numbers and booleans (API Gateway answers 500 for anything else); HTTP payload
    2.0 accepts any JSON value. Keys must be non-empty strings; NaN and Infinity
    are refused everywhere.

    >>> validate_context({"tenant": "acme", "admin": True, "level": 3}, EventKind.TOKEN_AUTHORIZER)
    {'tenant': 'acme', 'admin': True, 'level': 3}
    >>> validate_context({"roles": ["a", "b"]}, EventKind.TOKEN_AUTHORIZER)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    secauth.policy.responses.InvalidContext: context value 'roles' is a list; ...
    """
    kind = _kind(kind)
    if context is None:
        return {}
    if not isinstance(context, Mapping):
        raise InvalidContext("the context must be a mapping of string keys to values")
    for k, v in context.items():
        if type(k) is not str or not k or type(v) is not str:
            break
    else:
        return dict(context)  # strings only: valid for every kind (the usual case)
    out: dict[str, Any] = {}
    flat = kind is not EventKind.HTTP_AUTHORIZER_V2
    for key, value in context.items():
        if not isinstance(key, str) or not key:
            raise InvalidContext(f"context key {key!r} must be a non-empty string")
        where = repr(key)
        if flat and not isinstance(value, str | bool | int | float):
            name = "None" if value is None else f"a {type(value).__name__}"
            raise InvalidContext(
                f"context value {where} is {name}; {kind.value} authorizers pass on only "
                "strings, numbers and booleans"
            )
        out[key] = _json_value(value, where, 0)
    return out


def _size_bound(members: Mapping[str, Any]) -> int | None:
    """An upper bound of ``len(json.dumps(members))`` for string values and string-only
    mappings, else None. ``json.dumps`` escapes to ASCII: at most 12 characters per input
    character (a character beyond the BMP becomes two ``\\uXXXX`` escapes)."""
    total = 2
    for key, value in members.items():
        if type(value) is str:
            total += _PER_CHAR * (len(key) + len(value)) + 8
        elif type(value) is dict:
            total += _PER_CHAR * len(key) + 12
            for k, v in value.items():
                if type(v) is not str:
                    return None
                total += _PER_CHAR * (len(k) + len(v)) + 8
        else:
            return None
    return total


_PER_CHAR = 12  # the most characters json.dumps (ensure_ascii) writes for one character
# The document's member name and separator, as json.dumps writes them in a response.
_DOCUMENT_PART = len(', "policyDocument": ')
# _size_bound of {"principalId": "", "context": {}}, plus the document's name and separator.
_PRINCIPAL_RESPONSE_BASE = (_size_bound({"principalId": "", "context": {}}) or 0) + _DOCUMENT_PART


def _fresh_copy(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of a cached policy document that callers may change without harm."""
    given = document["Statement"]
    if len(given) == 1 and "Condition" not in given[0]:  # one plain statement: exact documents
        only = given[0].copy()
        only["Resource"] = list(only["Resource"])
        return {"Version": document["Version"], "Statement": [only]}
    statements = []
    for statement in given:
        copied = dict(statement)
        copied["Resource"] = list(statement["Resource"])
        if "Condition" in statement:
            copied["Condition"] = json.loads(json.dumps(statement["Condition"]))
        statements.append(copied)
    return {"Version": document["Version"], "Statement": statements}


def _within_budget(response: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    # Measured as the Lambda runtime would send it at its largest: default json.dumps,
    # ASCII escapes for non-ASCII text.
    _check_size(len(json.dumps(response)), max_bytes)
    return response


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise PolicyTooLarge(
            f"the authorizer response is {size} bytes, over the {max_bytes}-byte budget; "
            "allow fewer or broader route patterns, shrink the context, or raise "
            "max_response_bytes if your API accepts more"
        )


def policy_response(
    principal_id: str,
    policy: PolicyDocument,
    *,
    kind: EventKind = EventKind.TOKEN_AUTHORIZER,
    context: Mapping[str, object] | None = None,
    usage_identifier_key: str | None = None,
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> dict[str, Any]:
    """``{"principalId", "policyDocument", "context"?, "usageIdentifierKey"?}``.

    The IAM-policy response of REST TOKEN/REQUEST, HTTP payload 1.0 (and 2.0
    without simple responses) and WebSocket ``$connect`` authorizers.
    ``usage_identifier_key`` (an API key of a usage plan whose key source is
    ``AUTHORIZER``) is only for REST APIs. Raises :class:`PolicyTooLarge` over
    ``max_bytes``.

    >>> policy_response("u-1", DENY_ALL, usage_identifier_key="key-1")
    ... # doctest: +NORMALIZE_WHITESPACE
    {'principalId': 'u-1',
     'policyDocument': {'Version': '2012-10-17',
                        'Statement': [{'Action': 'execute-api:Invoke', 'Effect': 'Deny',
                                       'Resource': ['*']}]},
     'usageIdentifierKey': 'key-1'}
    """
    kind = _kind(kind)
    if not isinstance(principal_id, str) or not principal_id:
        raise ConfigurationError("principalId must be a non-empty string")
    if not isinstance(policy, PolicyDocument):
        raise ConfigurationError("policy must be a PolicyDocument")
    rest: dict[str, Any] = {"principalId": principal_id}
    checked = validate_context(context, kind)
    if checked:
        rest["context"] = checked
    if usage_identifier_key is not None:
        if kind not in _USAGE_PLAN_KINDS:
            raise ConfigurationError("usageIdentifierKey is only read by REST API authorizers")
        if not isinstance(usage_identifier_key, str) or not usage_identifier_key:
            raise ConfigurationError("usageIdentifierKey must be a non-empty string")
        rest["usageIdentifierKey"] = usage_identifier_key
    return _assemble(principal_id, _document_json(policy), rest, max_bytes)


def exact_response(
    principal_id: str,
    arn: MethodArn,
    allow: bool,
    context: Mapping[str, str],
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> dict[str, Any]:
    """:func:`policy_response` for a policy of exactly ``arn`` and a context of strings.

    The same response (and the same errors) as ``policy_response(principal_id,
    exact_document(arn, allow), context=context, max_bytes=max_bytes)``, for any
    authorizer kind (strings are valid context values for all of them), in fewer
    steps: the authorizer's answer when its result cache is off.

    >>> arn = MethodArn.parse("arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/a")
    >>> response = exact_response("u-1", arn, False, {"tenant": "acme"})
    >>> response["policyDocument"]["Statement"][0]["Effect"], response["context"]
    ('Deny', {'tenant': 'acme'})
    """
    return _string_context_response(
        principal_id, _document_json(exact_document(arn, allow)), context, max_bytes
    )


def _string_context_response(
    principal_id: str,
    document: tuple[dict[str, Any], int],
    context: Mapping[str, object],
    max_bytes: int,
) -> dict[str, Any]:
    """:func:`exact_response` for a document already in :func:`document_json` form (keep
    that per method ARN to skip even the cache lookups)."""
    if type(principal_id) is not str or not principal_id:
        raise ConfigurationError("principalId must be a non-empty string")
    rest: dict[str, Any] = {"principalId": principal_id}
    if context:
        for key, value in context.items():
            if type(key) is not str or not key or type(value) is not str:
                rest["context"] = validate_context(context, EventKind.TOKEN_AUTHORIZER)
                break  # not only strings: the general checks say what is wrong
        else:
            rest["context"] = dict(context)
    return _assemble(principal_id, document, rest, max_bytes)


def _principal_response(
    principal_id: str,
    document: tuple[dict[str, Any], int],
    context: Mapping[str, object],
    max_bytes: int,
) -> dict[str, Any]:
    """:func:`_string_context_response` in fewer steps for what a principal usually gives
    (:meth:`~secauth.principal.Principal.to_context`): a non-empty string id and a fresh
    dict of non-empty string keys and string values. Anything else (a custom mapper's or
    principal's) takes :func:`_string_context_response`, with its checks and errors."""
    as_dict, document_size = document
    if type(principal_id) is not str or not principal_id or type(context) is not dict:
        return _string_context_response(principal_id, document, context, max_bytes)
    chars = len(principal_id)
    for key, value in context.items():
        if type(key) is not str or not key or type(value) is not str:
            return _string_context_response(principal_id, document, context, max_bytes)
        chars += len(key) + len(value)
    bound = _PRINCIPAL_RESPONSE_BASE + document_size + 8 * len(context) + _PER_CHAR * chars
    if bound > max_bytes:  # maybe too large: measure exactly (and raise if it is)
        return _string_context_response(principal_id, document, context, max_bytes)
    return {"principalId": principal_id, "policyDocument": _fresh_copy(as_dict), "context": context}


def _assemble(
    principal_id: str,
    prepared: tuple[dict[str, Any], int],
    rest: dict[str, Any],
    max_bytes: int,
) -> dict[str, Any]:
    """The response: ``rest`` (checked members, principalId first) plus the document."""
    document, document_size = prepared
    # The size json.dumps gives the whole response: the other members, plus the document
    # with its name and separator; the document's own size is computed once per document.
    # A cheap bound first (see _size_bound).
    document_part = _DOCUMENT_PART + document_size
    bound = _size_bound(rest)
    if bound is None or bound + document_part > max_bytes:
        bound = len(json.dumps(rest))
    _check_size(bound + document_part, max_bytes)
    response: dict[str, Any] = {
        "principalId": principal_id,
        "policyDocument": _fresh_copy(document),
    }
    response.update(rest)
    return response


def simple_response(
    authorized: bool,
    *,
    context: Mapping[str, object] | None = None,
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> dict[str, Any]:
    """``{"isAuthorized": bool, "context"?: {...}}``: HTTP API payload 2.0 simple responses.

    ``False`` makes API Gateway answer 403; a simple response cannot ask for 401.

    >>> simple_response(True, context={"roles": ["admin"]})
    {'isAuthorized': True, 'context': {'roles': ['admin']}}
    """
    if not isinstance(authorized, bool):
        raise ConfigurationError("isAuthorized must be a bool")
    response: dict[str, Any] = {"isAuthorized": authorized}
    checked = validate_context(context, EventKind.HTTP_AUTHORIZER_V2)
    if checked:
        response["context"] = checked
    return _within_budget(response, max_bytes)


def unauthorized(kind: EventKind, *, simple: bool = False) -> dict[str, Any]:
    """Refuse a request whose credentials are missing or invalid, as ``kind`` allows.

    * REST TOKEN/REQUEST and WebSocket: raises :class:`Unauthorized` (message
      ``"Unauthorized"``), which API Gateway answers with 401.
    * HTTP APIs: their documented authorizer outcomes are allow and 403 (API
      Gateway sends 401 itself only when the identity sources are missing), so
      this returns ``{"isAuthorized": false}`` with ``simple=True``, else a
      :data:`DENY_ALL` policy; the client sees 403.

    >>> unauthorized(EventKind.HTTP_AUTHORIZER_V2, simple=True)
    {'isAuthorized': False}
    >>> unauthorized(EventKind.TOKEN_AUTHORIZER)
    Traceback (most recent call last):
    ...
    secauth.policy.responses.Unauthorized: Unauthorized
    """
    kind = _kind(kind)
    if kind in _RAISES_FOR_401:
        raise Unauthorized()
    if simple and kind is EventKind.HTTP_AUTHORIZER_V2:
        return {"isAuthorized": False}
    return {"principalId": "anonymous", "policyDocument": DENY_ALL.to_dict()}
