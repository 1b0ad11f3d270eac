"""What API Gateway makes of what an authorizer returned, for ``secauth authorize``.

A simple response answers by ``isAuthorized``; a policy is read as IAM reads it:
actions case-insensitively with wildcards, resources case-sensitively, ``NotAction``
and ``NotResource``, explicit Deny wins. Conditions are not evaluated and a malformed
element is a doubt: a doubt never reads as allow. No I/O.

>>> gateway_answer({"isAuthorized": True}, {})
('allow', 200)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "gateway_answer",
    "iam_glob",
    "is_invoke",
    "listed",
    "policy_allows",
    "statement_applies",
    "well_listed",
]


def iam_glob(pattern: str) -> re.Pattern[str]:
    """IAM Resource matching: ``*`` any run of characters, ``?`` one; case-sensitive.

    >>> bool(iam_glob("a/*/GET/?").fullmatch("a/prod/GET/x"))
    True
    """
    parts = ("." if ch == "?" else ".*" if ch == "*" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.DOTALL)


def statement_applies(statement: Mapping[str, Any], arn: str) -> bool:
    """Whether ``statement`` is about invoking ``arn``: its ``Action`` (or every action but
    its ``NotAction``) names ``execute-api:Invoke``, case-insensitively and with wildcards,
    as IAM reads action names; its ``Resource`` (or every resource but its
    ``NotResource``) matches ``arn``, case-sensitively.

    >>> statement_applies({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}, "arn:x")
    True
    """
    for name in ("Action", "NotAction", "Resource", "NotResource"):
        if name in statement and not well_listed(statement[name]):
            return statement.get("Effect") == "Deny"  # a doubt never reads as allow
    if "NotAction" in statement:
        acts = not any(is_invoke(a) for a in listed(statement["NotAction"]))
    else:
        acts = any(is_invoke(a) for a in listed(statement.get("Action")))
    if "NotResource" in statement:
        on = not any(iam_glob(r).fullmatch(arn) for r in listed(statement["NotResource"]))
    else:
        on = any(iam_glob(r).fullmatch(arn) for r in listed(statement.get("Resource")))
    return acts and on


def well_listed(value: object) -> bool:
    """A string, or a non-empty list of strings, as IAM takes an element's values.

    >>> well_listed("*"), well_listed([]), well_listed(["a", 1])
    (True, False, False)
    """
    return isinstance(value, str) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
    )


def is_invoke(action: str) -> bool:
    """Whether the IAM action name ``action`` covers ``execute-api:Invoke``.

    >>> is_invoke("Execute-API:Inv*"), is_invoke("execute-api:ManageConnections")
    (True, False)
    """
    return re.fullmatch(iam_glob(action).pattern, "execute-api:Invoke", re.IGNORECASE) is not None


def listed(value: object) -> list[str]:
    """The strings of an element's value (one string or a list).

    >>> listed("a"), listed(["a", 1]), listed(None)
    (['a'], ['a'], [])
    """
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def policy_allows(document: object, arn: str) -> bool:
    """True when the policy document allows invoking ``arn`` and no statement denies it.

    Conditions are not evaluated: an Allow with a condition is not counted, a Deny with
    one is (so a doubt never reads as allow).

    >>> policy_allows({"Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
    ...                 "Resource": ["arn:aws:execute-api:r:1:a/prod/GET/*"]}]},
    ...               "arn:aws:execute-api:r:1:a/prod/GET/orders")
    True
    """
    if not isinstance(document, Mapping):
        return False
    statements = document.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list):
        return False
    allowed = False
    for statement in statements:
        if not isinstance(statement, Mapping) or not statement_applies(statement, arn):
            continue
        effect = statement.get("Effect")
        if effect == "Deny":
            return False
        if effect == "Allow" and not statement.get("Condition"):
            allowed = True
    return allowed


def gateway_answer(response: object, event: Mapping[str, Any]) -> tuple[str, int]:
    """What API Gateway makes of a returned response: (outcome, status).

    >>> gateway_answer({"policyDocument": {}, "context": {"a": [1]}}, {"methodArn": "arn:x"})
    ('error', 500)
    """
    if not isinstance(response, Mapping):
        return "error", 500
    try:
        json.dumps(response)
    except (TypeError, ValueError):
        return "error", 500
    if "isAuthorized" in response:
        return ("allow", 200) if response["isAuthorized"] is True else ("deny", 403)
    if "policyDocument" in response:
        context = response.get("context")
        if context is not None and (
            not isinstance(context, Mapping)
            or any(isinstance(value, Mapping | list) for value in context.values())
        ):
            return "error", 500  # a context value is a string, number or boolean only
        arn = event.get("methodArn") or event.get("routeArn")
        if isinstance(arn, str) and policy_allows(response["policyDocument"], arn):
            return "allow", 200
        return "deny", 403
    return "error", 500
