"""Callers shared by the opaque-token and revocation reviews (47, 103): a guarded handler on
``GET /orders`` and the effect an authorizer gives a token there."""

from __future__ import annotations

from typing import Any

from secauth import Authorizer, Guard, Routes, scopes
from secauth.policy import Unauthorized
from secauth.testing_events import request_authorizer

ROUTES = {"GET /orders": scopes("orders.read")}


def guarded(verifier: Any, **options: Any) -> Any:
    """A trivial handler behind ``Guard(verifier, ...)`` on :data:`ROUTES`."""
    guard = Guard(verifier, routes=Routes(ROUTES), decision_log=None, **options)
    return guard(lambda event, context: {"statusCode": 200, "body": "ok"})


def authorize(authorizer: Authorizer, token: str) -> str:
    """The effect an authorizer gives ``token`` on GET /orders ("401" when refused)."""
    try:
        response = authorizer.handler(request_authorizer("GET", "/orders", token=token), None)
    except Unauthorized:
        return "401"
    effects = {s["Effect"] for s in response["policyDocument"]["Statement"]}
    assert len(effects) == 1
    return effects.pop()
