"""The RFC 9457 problem ``type`` (issue 16, section 2): ``about:blank`` unless a base URI is
configured with ``Guard(problem_type_base=...)``, then the base followed by the reason."""

from __future__ import annotations

import json
from typing import Any

import pytest
from guard_events import KINDS, VERIFIER, token

from secauth import Guard, Routes, public, roles
from secauth.errors import ConfigurationError
from secauth.responses import ABOUT_BLANK, check_problem_type_base

BASE = "https://errors.example.com/problems/"
ROUTES = Routes({"GET /orders/{id}": roles("admin"), "GET /health": public()})


def ok(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": ""}


def crash(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise RuntimeError("boom")


def problem_type(response: dict[str, Any]) -> str:
    return str(json.loads(response["body"])["type"])


@pytest.mark.parametrize("kind", list(KINDS))
def test_default_type_is_about_blank(kind: str) -> None:
    """No base configured: every refusal's type is about:blank, whatever the reason."""
    guard = Guard(VERIFIER, routes=ROUTES, decision_log=None)
    event = KINDS[kind][0]
    reader = f"Bearer {token(roles=['reader'])}"
    assert ABOUT_BLANK == "about:blank"
    for response in (guard(ok)(event("GET", "/orders/7"), None),  # 401
                     guard(ok)(event("GET", "/orders/7", authorization=reader), None),  # 403
                     guard(crash)(event("GET", "/health"), None)):  # 500  # fmt: skip
        assert problem_type(response) == "about:blank"


@pytest.mark.parametrize("kind", list(KINDS))
def test_configured_base_names_each_reason(kind: str) -> None:
    guard = Guard(VERIFIER, routes=ROUTES, decision_log=None, problem_type_base=BASE)
    event = KINDS[kind][0]
    reader = f"Bearer {token(roles=['reader'])}"
    assert problem_type(guard(ok)(event("GET", "/orders/7"), None)) == BASE + "missing_token"
    denied = guard(ok)(event("GET", "/orders/7", authorization=reader), None)
    assert problem_type(denied) == BASE + "forbidden"
    assert problem_type(guard(crash)(event("GET", "/health"), None)) == BASE + "internal_error"
    # A guard derived with require() keeps the base.
    stricter = guard.require(roles("owner"))(ok)
    admin = f"Bearer {token(roles=['admin'])}"
    answer = stricter(event("GET", "/orders/7", authorization=admin), None)
    assert problem_type(answer) == BASE + "forbidden"


@pytest.mark.parametrize(
    "base",
    ["https://errors.example.com/problems/", "https://example.com/errors#",
     "urn:example:problem:", "https://example.com/problem?type=", "http://localhost:8080/p/"],
)  # fmt: skip
def test_accepted_bases(base: str) -> None:
    assert check_problem_type_base(base) == base
    guard = Guard(routes=ROUTES, decision_log=None, problem_type_base=base)
    assert guard.problem_type_base == base


@pytest.mark.parametrize(
    ("base", "message"),
    [
        ("https://errors.example.com/problems", "must end with '/', '#', ':' or '='"),
        ("errors.example.com/problems/", "must be an absolute URI"),
        ("/problems/", "must be an absolute URI"),
        ("", "must be an absolute URI"),
        (42, "must be an absolute URI"),
        ("about:blank", "must end with"),
        ("https://example.com/my problems/", "a character a URI cannot hold"),
        ("https://example.com/p/\r\nX-Evil: 1/", "a character a URI cannot hold"),
        ('https://example.com/"/', "a character a URI cannot hold"),
    ],
)
def test_refused_bases(base: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Guard(routes=ROUTES, problem_type_base=base)
