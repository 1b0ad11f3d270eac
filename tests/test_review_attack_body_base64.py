"""Review attack: a non-canonical base64 body passes Guard(max_body_bytes) one byte over.

``guard_http._decoded_size`` estimates the decoded size as ``len*3//4`` minus the
trailing ``=`` signs. Padding after a complete 4-character quantum (``"AAAAAAAA=="``,
``"AAAAAAAA="``) is not data, but it still lowers the estimate, while ``base64.b64decode``
(the decoder a handler typically uses, non-strict by default) ignores it and returns
every byte. With ``max_body_bytes=5`` the body ``"AAAAAAAA=="`` is estimated at 5
bytes, admitted, and decodes to 6 bytes in the handler: the documented limit (decoded
bytes of a base64 body) is exceeded. API Gateway and ALB encode bodies canonically, so
the input only comes from a direct invoker; the contract still says "decoded bytes".
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from guard_events import function_url

from secauth import Guard
from secauth.access import Routes, public


@pytest.mark.parametrize("body", ["AAAAAAAA==", "AAAAAAAA=", "AAAAAAAAAAAA=="])
def test_excess_base64_padding_does_not_pass_a_body_over_the_limit(body: str) -> None:
    decoded = base64.b64decode(body)  # what a handler would read
    limit = len(decoded) - 1
    seen: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(len(base64.b64decode(event["body"])))
        return {"statusCode": 200, "body": "ok"}

    guard = Guard(
        routes=Routes({"POST /up": public()}),
        trust_authorizer=True,
        max_body_bytes=limit,
        decision_log=None,
    )
    event = function_url("POST", "/up")
    event["body"], event["isBase64Encoded"] = body, True
    response = guard(handler)(event, None)
    assert response["statusCode"] == 413, f"{seen} bytes reached the handler (limit {limit})"
    assert seen == []
