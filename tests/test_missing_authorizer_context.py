"""A Guard that trusts the authorizer, called without a secauth authorizer context.

The 401 says what is missing ("missing authorizer context", reason
``missing_authorizer_context``), not "invalid token claims": often no token was sent at
all, or the function was invoked by something other than API Gateway's authorizer.
A context that is there but malformed stays ``invalid_claims``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from guard_events import KINDS, token, with_context

from secauth import Guard
from secauth.access import Routes, public, roles
from secauth.errors import InvalidClaims, MissingAuthorizerContext, Reason, TokenError

ROUTES = Routes({"GET /orders/{id}": roles("reader"), "GET /health": public()})
TRUST_KINDS = ["rest_v1", "http_v2"]


def event_for(kind: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    return KINDS[kind][0](method, path, **kwargs)


def bearer(value: str) -> str:
    return f"Bearer {value}"


def _call(event: dict[str, Any]) -> tuple[dict[str, Any], list[Mapping[str, Any]], list[int]]:
    """Run ``event`` through a trust-only Guard: (problem body + status, records, handler runs)."""
    records: list[Mapping[str, Any]] = []
    ran: list[int] = []
    guard = Guard(routes=ROUTES, decision_log=None, on_decision=records.append)

    @guard
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        ran.append(1)
        return {"statusCode": 200, "body": "{}"}

    response = handler(event, None)
    body = json.loads(response["body"])
    body["statusCode"] = response["statusCode"]
    return body, records, ran


def test_the_error_class() -> None:
    """A TokenError (401) with its own reason and a title that says what is missing."""
    err = MissingAuthorizerContext()
    assert isinstance(err, TokenError)
    assert not isinstance(err, InvalidClaims)
    assert (err.reason, err.status, err.public_message) == (
        Reason.MISSING_AUTHORIZER_CONTEXT, 401, "missing authorizer context"
    )  # fmt: skip
    assert Reason.MISSING_AUTHORIZER_CONTEXT.value == "missing_authorizer_context"


@pytest.mark.parametrize("kind", TRUST_KINDS)
@pytest.mark.parametrize("with_token", [False, True], ids=["no-token", "stray-token"])
def test_no_context_is_missing_authorizer_context(kind: str, with_token: bool) -> None:
    """No context on a protected route: 401 "missing authorizer context", token or not."""
    authorization = bearer(token("alice", roles=["reader"])) if with_token else None
    body, records, ran = _call(event_for(kind, "GET", "/orders/7", authorization=authorization))
    assert body["statusCode"] == 401
    assert body["title"] == "missing authorizer context"
    assert body["type"] == "about:blank"  # the default problem type; the reason is logged
    assert records[-1]["reason"] == "missing_authorizer_context"
    assert records[-1]["status"] == 401
    assert ran == []


@pytest.mark.parametrize("kind", TRUST_KINDS)
def test_a_context_of_another_authorizer_is_missing_ours(kind: str) -> None:
    """A context without secauth's fields (another authorizer wrote it) is not ours."""
    event = with_context(event_for(kind, "GET", "/orders/7"), {"user": "alice"}, kind=kind)
    body, records, _ = _call(event)
    assert (body["statusCode"], records[-1]["reason"]) == (401, "missing_authorizer_context")


@pytest.mark.parametrize("kind", TRUST_KINDS)
def test_a_malformed_secauth_context_stays_invalid_claims(kind: str) -> None:
    """A half-filled secauth context is a bad context, not a missing one."""
    partial = {"secauth_principal": "alice", "secauth_kind": "user"}
    event = with_context(event_for(kind, "GET", "/orders/7"), partial, kind=kind)
    body, records, _ = _call(event)
    assert (body["statusCode"], body["title"]) == (401, "invalid token claims")
    assert records[-1]["reason"] == "invalid_claims"
