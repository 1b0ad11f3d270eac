"""A reference point for the fresh-token target: the floor plus only what issue 13 asks
every answer to carry, with nothing else.

``mandated_minimum`` answers a REST TOKEN event as the ``Authorizer`` does in shape:
it reads the bearer token, runs the floor's minimal verifier, builds a slotted principal,
encodes the roles, scopes and groups with ``json.dumps`` (issue 13: "role/scope lists
encoded with ``json.dumps``"), looks up the one route of the benchmark's path with a
dict, and checks the response's size with ``len(json.dumps(...))`` (issue 13: "check
the size with ``len(json.dumps(...))``").

It leaves out everything else an authorizer does: no claim or context validation, no
route table (one hard-coded route), no method ARN parsing beyond a split, no response
memo, no decision record, no hooks and no error handling. It is not a contender a user
could deploy; its ratio to the floor shows how much of the fresh-token budget these
mandated pieces take before any of that is added.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


class _Principal:
    __slots__ = ("groups", "id", "kind", "roles", "scopes", "tenant")

    def __init__(self, claims: dict[str, Any]) -> None:
        self.id = claims["sub"]
        self.tenant = claims.get("tenant")
        self.kind = "user"
        self.roles = frozenset(claims.get("roles", ()))
        self.scopes = frozenset(claims.get("scope", "").split())
        self.groups = frozenset(claims.get("groups", ()))


def mandated_minimum(
    verify: Callable[[str], dict[str, Any]], required_scope: dict[tuple[str, str], str]
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """An answer function over ``verify`` (the floor's verifier); ``required_scope`` maps
    (verb, first path segment) to the scope that route needs."""

    def answer(event: dict[str, Any]) -> dict[str, Any]:
        token = event["authorizationToken"].strip().partition(" ")[2]
        method_arn = event["methodArn"]
        _stage, verb, path = method_arn.partition("/")[2].split("/", 2)
        principal = _Principal(verify(token))
        needed = required_scope.get((verb, path.split("/", 1)[0]))
        allowed = needed is not None and needed in principal.scopes
        context = {
            "secauth_principal": principal.id,
            "secauth_kind": principal.kind,
            "secauth_roles": json.dumps(sorted(principal.roles)),
            "secauth_scopes": json.dumps(sorted(principal.scopes)),
            "secauth_groups": json.dumps(sorted(principal.groups)),
        }
        if principal.tenant is not None:
            context["secauth_tenant"] = principal.tenant
        statement = {
            "Action": "execute-api:Invoke",
            "Effect": "Allow" if allowed else "Deny",
            "Resource": [method_arn],
        }
        response = {
            "principalId": principal.id,
            "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
            "context": context,
        }
        if len(json.dumps(response)) > 8192:
            raise ValueError("response too large")
        return response

    return answer
