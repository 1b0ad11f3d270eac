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
from secauth.policy.document import DENY_ALL, PolicyDocument, PolicyTooLarge, exact_document

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "InvalidContext",
    "Unauthorized",
    "check_response_size",
    "exact_response",
    "policy_response",
    "response_size",
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


def _kind(kind: object) -> EventKind:
    if not isinstance(kind, EventKind) or not kind.is_authorizer:
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


# json.dumps's own output (ASCII escapes), built once. No circular-reference check: a
# response is built here from fresh dicts and checked context values, so it holds no cycle.
_SIZE_ENCODER: Final = json.JSONEncoder(check_circular=False)


def response_size(response: Mapping[str, Any]) -> int:
    """The bytes of ``response`` as the Lambda runtime sends it at its largest (default
    ``json.dumps``: ASCII escapes for non-ASCII text).

    >>> response_size({"isAuthorized": True})
    22
    """
    return len(_SIZE_ENCODER.encode(response))


def check_response_size(response: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """``response`` if it fits ``max_bytes`` (:func:`response_size`), else raise
    :class:`~secauth.policy.PolicyTooLarge`.

    >>> check_response_size({"isAuthorized": True}, 256)
    {'isAuthorized': True}
    """
    size = response_size(response)
    if size > max_bytes:
        raise PolicyTooLarge(
            f"the authorizer response is {size} bytes, over the {max_bytes}-byte budget; "
            "allow fewer or broader route patterns, shrink the context, or raise "
            "max_response_bytes if your API accepts more"
        )
    return response


def policy_response(
    principal_id: str,
    policy: PolicyDocument,
    *,
    kind: EventKind = EventKind.TOKEN_AUTHORIZER,
    context: Mapping[str, object] | None = None,
    usage_identifier_key: str | None = None,
    max_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
) -> dict[str, Any]:
    """``{"principalId", "policyDocument", "context"?, "usageIdentifierKey"?}``.

    The IAM-policy response of REST TOKEN/REQUEST, HTTP payload 1.0 (and 2.0
    without simple responses) and WebSocket ``$connect`` authorizers.
    ``usage_identifier_key`` (an API key of a usage plan whose key source is
    ``AUTHORIZER``) is only for REST APIs. Raises :class:`PolicyTooLarge` over
    ``max_bytes`` (None: not checked here, the caller checks it with
    :func:`check_response_size`).

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
    response: dict[str, Any] = {"principalId": principal_id, "policyDocument": policy.to_dict()}
    checked = validate_context(context, kind)
    if checked:
        response["context"] = checked
    if usage_identifier_key is not None:
        if not kind.carries_usage_key:
            raise ConfigurationError("usageIdentifierKey is only read by REST API authorizers")
        if not isinstance(usage_identifier_key, str) or not usage_identifier_key:
            raise ConfigurationError("usageIdentifierKey must be a non-empty string")
        response["usageIdentifierKey"] = usage_identifier_key
    return response if max_bytes is None else check_response_size(response, max_bytes)


def exact_response(
    principal_id: str,
    arn: MethodArn,
    allow: bool,
    context: Mapping[str, object],
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> dict[str, Any]:
    """:func:`policy_response` for a policy of exactly ``arn`` (the authorizer's answer
    when its result cache is off), for any authorizer kind.

    >>> arn = MethodArn.parse("arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/a")
    >>> response = exact_response("u-1", arn, False, {"tenant": "acme"})
    >>> response["policyDocument"]["Statement"][0]["Effect"], response["context"]
    ('Deny', {'tenant': 'acme'})
    """
    return policy_response(
        principal_id, exact_document(arn, allow), context=context, max_bytes=max_bytes
    )


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
    return check_response_size(response, max_bytes)


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
    if kind.answers_401_by_raising:
        raise Unauthorized()
    if simple and kind is EventKind.HTTP_AUTHORIZER_V2:
        return {"isAuthorized": False}
    return {"principalId": "anonymous", "policyDocument": DENY_ALL.to_dict()}
