"""Backend functions of the SAM example, behind the authorizers in ``authorizers.py``.

They trust what the authorizer passed on: ``requestContext.authorizer`` on the REST API,
``requestContext.authorizer.lambda`` on the HTTP API, read with
``Principal.from_context``. They never decode the token themselves. A request without
a secauth context (a route deployed without its authorizer) is refused with 401.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from secauth import Principal, SecAuthError

Handler = Callable[[dict[str, Any], object], dict[str, Any]]


def _json(status: int, body: object) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(body, sort_keys=True),
    }


def _principal(event: Mapping[str, Any]) -> Principal:
    """The principal the authorizer put in the context (REST, or HTTP API payload 2.0)."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    if event.get("version") == "2.0":
        authorizer = authorizer.get("lambda") or {}
    return Principal.from_context(authorizer)


def with_principal(
    function: Callable[[dict[str, Any], Principal], dict[str, Any]],
) -> Handler:
    """Call ``function(event, principal)``; 401 when the authorizer context is missing."""

    @functools.wraps(function)
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        try:
            principal = _principal(event)
        except SecAuthError:
            return _json(401, {"message": "Unauthorized"})
        return function(event, principal)

    return handler


def _describe(principal: Principal) -> dict[str, Any]:
    return {
        "sub": principal.id,
        "kind": principal.kind,
        "tenant": principal.tenant,
        "roles": sorted(principal.roles),
        "scopes": sorted(principal.scopes),
    }


@with_principal
def list_orders(event: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """GET /orders (bearer token) and GET /partner/orders (partner API key)."""
    orders = [{"id": "o-1", "tenant": principal.tenant}]
    return _json(200, {"orders": orders, "principal": _describe(principal)})


@with_principal
def delete_user(event: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """DELETE /users/{id}: admins only (the authorizer has checked)."""
    user_id = (event.get("pathParameters") or {}).get("id")
    return _json(200, {"deleted": user_id, "by": principal.id})


@with_principal
def whoami(event: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """GET /whoami (REST API) and GET /v2/whoami (HTTP API)."""
    return _json(200, _describe(principal))
