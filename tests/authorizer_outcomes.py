"""What an Authorizer's answer comes to, for tests that compare many events."""

from __future__ import annotations

from typing import Any

from secauth import Authorizer
from secauth.policy import Unauthorized


def outcome(authorizer: Authorizer, event: dict[str, Any]) -> str:
    """The principal an event is allowed as, or ``"401"``/``"deny"``."""
    try:
        response = authorizer.handler(event, None)
    except Unauthorized:
        return "401"
    effects = {s["Effect"] for s in response["policyDocument"]["Statement"]}
    return str(response["principalId"]) if effects == {"Allow"} else "deny"
