"""An HTTP request whose method starts with ``$`` never reaches a WebSocket route key.

HTTP allows ``$`` in a method token, and REST and Function URL events pass the method
as the client sent it. ``$connect``, ``$disconnect`` and ``$default`` are WebSocket
route keys: only WebSocket targets (a route key with an empty path) may reach them.
"""

from __future__ import annotations

from typing import Any

import pytest

from secauth import Guard, Principal, Routes, public, roles
from secauth.testing_events import function_url, rest_proxy

ROUTES = Routes({"$connect": public(), "$default": public(), "GET /admin": roles("admin")})


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "admin data"}


@pytest.mark.parametrize("method", ["$connect", "$default", "$disconnect", "$CONNECT"])
@pytest.mark.parametrize("make", [rest_proxy, function_url], ids=["rest_v1", "function_url"])
def test_a_dollar_method_on_an_http_event_gets_no_websocket_rule(make: Any, method: str) -> None:
    guard = Guard(routes=ROUTES, decision_log=None)
    response = guard(handler)(make(method, "/admin"), None)
    assert response["statusCode"] != 200
    assert "admin data" not in str(response)


def test_the_table_keeps_websocket_keys_for_websocket_targets() -> None:
    anonymous = Principal.anonymous()
    assert ROUTES.decide(anonymous, "$connect", "").allowed
    assert not ROUTES.decide(anonymous, "$connect", "/admin").allowed
    assert not ROUTES.decide(anonymous, "$connect", "/").allowed
