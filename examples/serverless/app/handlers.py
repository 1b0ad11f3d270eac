"""Backend functions of the example app, behind the authorizers in ``authorizers.py``.

They trust what the authorizer put in ``requestContext.authorizer`` (REST) or
``requestContext.authorizer.lambda`` (HTTP API); they never decode the token.
"""

from __future__ import annotations

import json
from typing import Any

from secauth import Principal


def _json(status: int, body: object) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(body, sort_keys=True),
    }


def _principal(context: object) -> dict[str, Any]:
    """The principal a secauth authorizer put in the context, as JSON for the reply."""
    principal = Principal.from_context(context if isinstance(context, dict) else {})
    return {
        "sub": principal.id,
        "tenant": principal.tenant,
        "roles": sorted(principal.roles),
        "scopes": sorted(principal.scopes),
    }


def _rest_principal(event: dict[str, Any]) -> dict[str, Any]:
    return _principal((event.get("requestContext") or {}).get("authorizer"))


def list_orders(event: dict[str, Any], context: object) -> dict[str, Any]:
    """GET /orders: callers with role reader or admin, or scope orders:read."""
    principal = _rest_principal(event)
    return _json(
        200, {"orders": [{"id": "o-1", "tenant": principal.get("tenant")}], "principal": principal}
    )


def delete_user(event: dict[str, Any], context: object) -> dict[str, Any]:
    """DELETE /users/{id}: admins only."""
    user_id = (event.get("pathParameters") or {}).get("id")
    return _json(200, {"deleted": user_id, "by": _rest_principal(event)["sub"]})


def whoami(event: dict[str, Any], context: object) -> dict[str, Any]:
    """GET /whoami (TOKEN authorizer) and GET /request/whoami (REQUEST authorizer)."""
    return _json(200, _rest_principal(event))


def whoami_v2(event: dict[str, Any], context: object) -> dict[str, Any]:
    """GET /v2/whoami on the HTTP API: the simple-response authorizer's context."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    return _json(200, _principal(authorizer.get("lambda")))
