"""Guard's trust mode reads an authorizer context only where API Gateway writes one.

Only REST (payload 1.0, ``requestContext.authorizer``) and HTTP API (payload 2.0,
``requestContext.authorizer.lambda``) events can carry a context an API Gateway
authorizer wrote. An ALB or Function URL event with such a block was built by whoever
invoked the function directly, so the block must be ignored, never trusted.
"""

from __future__ import annotations

from typing import Any

import pytest
from guard_events import alb, function_url, http_v2, rest_v1

from secauth import Guard, Principal
from secauth.access import Routes, authenticated, public

ROUTES = Routes({"GET /orders/{id}": authenticated(), "GET /health": public()})
CONTEXT = Principal("mallory", tenant="acme", roles={"admin"}).to_context()


def ok(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": principal.id}


def _status(event: dict[str, Any]) -> tuple[int, str]:
    response = Guard(routes=ROUTES, decision_log=None)(ok)(event, None)
    return response["statusCode"], response.get("body", "")


@pytest.mark.parametrize(
    "place",
    [
        pytest.param(lambda e: e["requestContext"].__setitem__("authorizer", dict(CONTEXT)),
                     id="authorizer"),
        pytest.param(lambda e: e["requestContext"].__setitem__("authorizer",
                                                               {"lambda": dict(CONTEXT)}),
                     id="authorizer.lambda"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("make", [function_url, alb], ids=["function_url", "alb"])
def test_a_context_on_events_no_authorizer_writes_is_not_trusted(make: Any, place: Any) -> None:
    event = make()
    event.setdefault("requestContext", {})
    place(event)
    status, body = _status(event)
    assert status == 401
    assert "mallory" not in body


def test_function_url_and_alb_public_routes_still_answer_without_credentials() -> None:
    assert _status(function_url(path="/health"))[0] == 200
    assert _status(alb(path="/health"))[0] == 200


@pytest.mark.parametrize("make", [rest_v1, http_v2], ids=["rest_v1", "http_v2"])
def test_api_gateway_events_keep_their_authorizer_context(make: Any) -> None:
    event = make()
    if make is rest_v1:
        event["requestContext"]["authorizer"] = dict(CONTEXT)
    else:
        event["requestContext"]["authorizer"] = {"lambda": dict(CONTEXT)}
    assert _status(event) == (200, "mallory")

