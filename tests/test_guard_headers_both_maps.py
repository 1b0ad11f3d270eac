"""A handler's answer with both ``headers`` and ``multiValueHeaders`` keeps its own values.

API Gateway (REST, payload 1.0) and ALB merge the two maps, and for a name in both only
the ``multiValueHeaders`` values remain. The guard adds its headers without overriding
the handler's, so a name the handler set in ``headers`` is left there (``Vary`` merged
there), never added to ``multiValueHeaders``, where it would win.
"""

from __future__ import annotations

from typing import Any

from guard_events import VERIFIER, rest_v1, token

from secauth import Guard, Principal
from secauth.responses import Cors


def gateway_merged(response: dict[str, Any]) -> dict[str, list[str]]:
    """The headers API Gateway sends for a proxy answer: ``headers``, then
    ``multiValueHeaders`` replacing any name it has (names compared case-insensitively)."""
    merged: dict[str, list[str]] = {}
    for name, value in (response.get("headers") or {}).items():
        merged[name.lower()] = [value]
    for name, values in (response.get("multiValueHeaders") or {}).items():
        merged[name.lower()] = list(values)
    return merged


def answer(handler_response: dict[str, Any], **options: Any) -> dict[str, list[str]]:
    def handler(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
        return dict(handler_response)

    guard = Guard(VERIFIER, decision_log=None, **options)
    event = rest_v1("GET", "/orders/7", authorization=f"Bearer {token()}",
                    headers={"Origin": "https://app.example"})  # fmt: skip
    response = guard(handler)(event, None)
    assert response["statusCode"] == 200
    return gateway_merged(response)


def test_the_handlers_single_value_header_wins_beside_multi_value_headers() -> None:
    headers = answer({
        "statusCode": 200,
        "body": "ok",
        "headers": {"Cache-Control": "max-age=60", "X-Frame-Options": "SAMEORIGIN"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
    })  # fmt: skip
    assert headers["cache-control"] == ["max-age=60"]
    assert headers["x-frame-options"] == ["SAMEORIGIN"]
    assert headers["set-cookie"] == ["a=1", "b=2"]
    assert headers["x-content-type-options"] == ["nosniff"]  # what the handler left out


def test_vary_in_the_handlers_single_value_headers_is_merged_there() -> None:
    headers = answer(
        {"statusCode": 200, "body": "ok", "headers": {"Vary": "Accept-Encoding"},
         "multiValueHeaders": {"Set-Cookie": ["a=1"]}},
        cors=Cors(allow_origins=["https://app.example"]),
    )  # fmt: skip
    assert headers["vary"] == ["Accept-Encoding, Origin"]
    assert headers["access-control-allow-origin"] == ["https://app.example"]


def test_a_name_in_both_maps_keeps_the_multi_value_one() -> None:
    headers = answer({
        "statusCode": 200,
        "body": "ok",
        "headers": {"Cache-Control": "max-age=60"},
        "multiValueHeaders": {"Cache-Control": ["private"]},
    })  # fmt: skip
    assert headers["cache-control"] == ["private"]
