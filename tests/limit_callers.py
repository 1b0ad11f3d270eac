"""What the rate-limit and context-expiry review tests (reviews 38 to 41) share: the
callers and keys of the quota attacks, the route tables, the expiry instants, an allowing
policy, and small handlers and event builders."""

from __future__ import annotations

from typing import Any

from secauth import Routes
from secauth.access import authenticated, public, roles
from secauth.principal import Principal
from secauth.testing_events import http_proxy, websocket_message

VICTIM_KEY = "usage-plan-key-victim-0123456789abcdef"
GARBAGE = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"  # a token no verifier accepts
ATTACKER_IP, VICTIM_IP = "198.51.100.66", "203.0.113.9"
PUBLIC_ORDERS = Routes({"GET /orders": public()})
ORDERS = Routes({"GET /orders": authenticated()})
WS_ROUTES = Routes(
    {
        "$connect": authenticated(),
        "sendmessage": roles("member"),
        "$default": authenticated(),
        "$disconnect": authenticated(),
    }
)
PAST = 1_600_000_000  # 2020: long expired
FUTURE = 4_000_000_000  # 2096
ALLOW = {
    "Version": "2012-10-17",
    "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}],
}


def ok(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


def echo(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": principal.id}


def orders(bearer: str | None, ip: str, key: str | None = None) -> dict[str, Any]:
    """GET /orders on an HTTP API from ``ip``, with ``bearer`` and an ``x-api-key``."""
    headers = {"x-api-key": key} if key is not None else {}
    if bearer is None:
        return http_proxy("GET", "/orders", headers=headers, source_ip=ip)
    return http_proxy("GET", "/orders", token=bearer, headers=headers, source_ip=ip)


def ws_event(route_key: str, event_type: str, answer: dict[str, Any]) -> dict[str, Any]:
    """A WebSocket integration event (MESSAGE or DISCONNECT) carrying ``answer``'s context."""
    event = websocket_message(route_key, "{}", authorizer_response=answer)
    event["requestContext"]["eventType"] = event_type
    if event_type == "DISCONNECT":
        event["requestContext"].pop("messageId", None)
        event.pop("body", None)
    return event


class LeewayVerifier:
    """A verifier of your own (``TokenVerifier`` shape) with some ``leeway``; no token is
    ever presented to it."""

    def __init__(self, leeway: Any) -> None:
        self.leeway = leeway

    def verify(self, token: str) -> dict[str, Any]:
        raise AssertionError("no token is presented")

    async def verify_async(self, token: str) -> dict[str, Any]:
        raise AssertionError("no token is presented")

    def hydrate(self, *, strict: bool = False) -> bool:
        return True
