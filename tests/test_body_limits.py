"""Body size limits count bytes, not characters (issue 16, section 3).

``Guard(max_body_bytes=...)`` and ``json_body(max_bytes=...)`` measure a text body by its
UTF-8 encoding and a base64 body by its decoded size: a body of 1,000 four-byte characters
is 4,000 bytes, over a 1,000-byte limit.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from guard_events import KINDS, http_v2

from secauth import Guard, Routes, public
from secauth.errors import PayloadTooLarge
from secauth.events import Request
from secauth.guard_http import check_body
from secauth.hygiene import json_body

EMOJI = "\U0001f600"  # 4 bytes in UTF-8
ROUTES = Routes({"POST /signup": public()})


def ok(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": ""}


@pytest.mark.parametrize("kind", list(KINDS))
def test_guard_counts_utf8_bytes_of_a_text_body(kind: str) -> None:
    """1,000 characters of 4 bytes each are 4,000 bytes: refused by a 1,000-byte limit."""
    handler = Guard(routes=ROUTES, max_body_bytes=1000, decision_log=None)(ok)
    body = EMOJI * 1000
    assert len(body) == 1000
    assert len(body.encode()) == 4000
    refused = handler(KINDS[kind][0]("POST", "/signup", body=body), None)
    assert refused["statusCode"] == 413
    assert json.loads(refused["body"])["title"] == "request body too large"
    # The same body base64-encoded is measured by its 4,000 decoded bytes too.
    encoded = handler(KINDS[kind][0]("POST", "/signup", body=body.encode()), None)
    assert encoded["statusCode"] == 413


@pytest.mark.parametrize(
    ("body", "limit", "allowed"),
    [
        ("é" * 500, 1000, True),  # 1,000 bytes: the limit itself passes
        ("é" * 501, 1000, False),  # 1,002 bytes
        ("€" * 333, 1000, True),  # 999 bytes
        ("€" * 334, 1000, False),  # 1,002 bytes, 334 characters
        ("x" * 1000, 1000, True),
        ("x" * 1001, 1000, False),
        (EMOJI * 250, 1000, True),  # 1,000 bytes
        (EMOJI * 249 + "xyzw", 1000, True),  # 996 + 4 bytes
        (EMOJI * 250 + "x", 1000, False),  # 1,001 bytes, 251 characters
    ],
)
def test_check_body_counts_bytes_at_the_limit(body: str, limit: int, allowed: bool) -> None:
    request = Request.from_event(http_v2("POST", "/signup", body=body))
    if allowed:
        check_body(request, limit, None)
        return
    with pytest.raises(PayloadTooLarge) as caught:
        check_body(request, limit, None)
    assert caught.value.detail == {"limit": limit}


def test_check_body_base64_is_measured_decoded() -> None:
    for size in (0, 1, 2, 3, 4, 63, 64, 65, 66, 67):
        request = Request.from_event(http_v2("POST", "/signup", body=b"\x00" * size))
        if size <= 64:
            check_body(request, 64, None)
        else:
            with pytest.raises(PayloadTooLarge):
                check_body(request, 64, None)


class CountingStr(str):
    """A str that records whether it was encoded (to show the cheap bounds skip encoding)."""

    encoded = 0

    def encode(self, *args: Any, **kwargs: Any) -> bytes:
        type(self).encoded += 1
        return super().encode(*args, **kwargs)


def _request_with(body: str) -> Request:
    event = http_v2("POST", "/signup", body="placeholder")
    event["body"] = body
    return Request.from_event(event)


def test_cheap_bounds_skip_the_encoding() -> None:
    """Over the limit by characters alone: refused unencoded; 4 bytes per character within
    the limit: passes unencoded; only a body between the two bounds is encoded."""
    CountingStr.encoded = 0
    with pytest.raises(PayloadTooLarge):
        check_body(_request_with(CountingStr("x" * 1001)), 1000, None)
    check_body(_request_with(CountingStr(EMOJI * 250)), 1000, None)
    assert CountingStr.encoded == 0
    with pytest.raises(PayloadTooLarge):
        check_body(_request_with(CountingStr(EMOJI * 251)), 1000, None)
    assert CountingStr.encoded == 1


def test_json_body_counts_utf8_bytes() -> None:
    body = json.dumps({"name": EMOJI * 300}, ensure_ascii=False)
    size = len(body.encode())
    assert len(body) < 1000 < size
    headers = {"content-type": "application/json"}
    for event in (http_v2("POST", "/signup", body=body, headers=headers),
                  http_v2("POST", "/signup", body=body.encode(), headers=headers)):  # fmt: skip
        with pytest.raises(PayloadTooLarge):
            json_body(event, fields={"name": str}, max_bytes=1000)
        assert json_body(event, fields={"name": str}, max_bytes=size) == {"name": EMOJI * 300}
