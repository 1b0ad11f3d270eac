"""One decision-record schema for the Authorizer and the Guard (issue 16, section 1).

``status`` is what the caller gets, ``decision`` one vocabulary for both halves, a
rate-limited record keeps who was limited, an authorizer denial names its rule, and
the logging defaults are the same (and do print where the docs say they do).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from decision_schema import problems
from guard_events import ALICE_CLAIMS, VERIFIER, http_v2, token

from secauth import Authorizer, Guard, RateLimiter, Routes, authenticated, roles
from secauth.integrations.powertools import PowertoolsDecisions, guard_middleware
from secauth.policy import Unauthorized
from secauth.principal import ClaimMapper
from secauth.ratelimit import MemoryStore

CLAIMS = ClaimMapper(tenant_claim="tenant")
ROUTES = Routes({"GET /orders/{id}": authenticated(), "DELETE /orders/{id}": roles("admin")})
ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod"


def _token_event(value: str, target: str = "GET/orders/7") -> dict[str, Any]:
    return {"type": "TOKEN", "authorizationToken": f"Bearer {value}", "methodArn": f"{ARN}/{target}"}


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if '"secauth":"decision"' in line]


def test_both_halves_print_one_marked_json_line_by_default(capsys: Any) -> None:
    value = token(**ALICE_CLAIMS)
    Authorizer(VERIFIER, routes=ROUTES, claims=CLAIMS).handler(_token_event(value), None)
    guard = Guard(VERIFIER, routes=ROUTES, claims=CLAIMS)
    guard(lambda event, context: {"statusCode": 200, "body": ""})(
        http_v2(authorization=f"Bearer {value}"), None
    )
    first, second = _lines(capsys.readouterr().out)
    assert (first["event"], first["decision"], first["status"]) == ("token_authorizer", "allow", 200)
    assert (second["event"], second["decision"], second["status"]) == ("http_v2", "allow", 200)
    assert not problems({k: v for k, v in first.items() if k != "secauth"})


def test_the_documented_logging_setup_prints_the_record() -> None:
    """docs/operations.md: decision_log="logging" plus logging.basicConfig(level=INFO)."""
    script = textwrap.dedent(
        """
        import logging, sys
        sys.path.insert(0, "tests")
        from guard_events import ALICE_CLAIMS, VERIFIER, token
        from secauth import Authorizer
        logging.basicConfig(level=logging.INFO)
        event = {"type": "TOKEN", "authorizationToken": "Bearer " + token(**ALICE_CLAIMS),
                 "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:abc/prod/GET/x"}
        Authorizer(VERIFIER, decision_log="logging").handler(event, None)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "INFO:secauth.decisions:" in done.stderr
    assert '"decision":"allow"' in done.stderr
    assert done.stdout == ""  # not printed twice


def _answering(status: int) -> Any:
    def handler(event: Any, context: Any) -> dict[str, Any]:
        return {"statusCode": status, "body": ""}

    return handler


def test_guard_status_is_what_the_handler_answered() -> None:
    records: list[dict[str, Any]] = []
    guard = Guard(VERIFIER, claims=CLAIMS, decision_log=None, on_decision=records.append)
    for status in (201, 404, 503):
        response = guard(_answering(status))(
            http_v2(authorization=f"Bearer {token(**ALICE_CLAIMS)}"), None
        )
        assert response["statusCode"] == status
    assert [(r["decision"], r["status"]) for r in records] == [
        ("allow", 201), ("allow", 404), ("allow", 503)
    ]


def test_a_guard_401_is_unauthorized_as_in_the_authorizer() -> None:
    records: list[dict[str, Any]] = []
    guard = Guard(VERIFIER, decision_log=None, on_decision=records.append)
    guard(lambda event, context: {"statusCode": 200})(http_v2(), None)
    with contextlib.suppress(Unauthorized):
        Authorizer(VERIFIER, decision_log=None, on_decision=records.append).handler(
            {"type": "TOKEN", "authorizationToken": "", "methodArn": f"{ARN}/GET/orders/7"}, None
        )
    assert [(r["decision"], r["reason"], r["status"]) for r in records] == [
        ("unauthorized", "missing_token", 401),
        ("unauthorized", "missing_token", 401),
    ]


def test_rate_limited_records_keep_principal_and_tenant() -> None:
    records: list[dict[str, Any]] = []
    limiter = RateLimiter.per_tenant("1/minute", store=MemoryStore())
    guard = Guard(
        VERIFIER, claims=CLAIMS, rate_limit=limiter, decision_log=None, on_decision=records.append
    )
    handler = guard(lambda event, context: {"statusCode": 200})
    event = http_v2(authorization=f"Bearer {token(**ALICE_CLAIMS)}")
    assert [handler(event, None)["statusCode"] for _ in range(2)] == [200, 429]
    limited = records[-1]
    assert (limited["decision"], limited["reason"], limited["status"]) == ("deny", "rate_limited", 429)
    assert (limited["principal"], limited["tenant"]) == ("alice", "acme")


def test_authorizer_denials_name_the_rule_as_guard_denials_do() -> None:
    records: list[dict[str, Any]] = []
    value = token("bob", tenant="acme", roles=["reader"])
    authorizer = Authorizer(
        VERIFIER, routes=ROUTES, claims=CLAIMS, decision_log=None, on_decision=records.append
    )
    authorizer.handler(_token_event(value, "DELETE/orders/7"), None)
    guard = Guard(VERIFIER, routes=ROUTES, claims=CLAIMS, decision_log=None,
                  on_decision=records.append)  # fmt: skip
    guard(lambda event, context: {"statusCode": 200})(
        http_v2("DELETE", "/orders/7", authorization=f"Bearer {value}"), None
    )
    from_authorizer, from_guard = records
    assert from_authorizer["detail"] == from_guard["detail"] == {"rule": "roles(admin)"}
    assert from_authorizer["reason"] == from_guard["reason"] == "forbidden"


def test_a_powertools_404_is_logged_as_what_it_is(capsys: Any) -> None:
    """NotFoundError from the app: status 404, an allowed request (not an ERROR)."""
    records: list[dict[str, Any]] = []
    # A service name of its own: Powertools keeps one handler per service, and a docs sample
    # run earlier in this process may have made "orders" write to another stream.
    logger = Logger(service="orders-404-record")
    hook = PowertoolsDecisions(logger=logger)

    def both(record: Any) -> None:
        records.append(dict(record))
        hook(record)

    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(Guard(VERIFIER, decision_log=None, on_decision=both))])

    @app.get("/missing")
    def missing() -> None:
        raise NotFoundError("no such order")

    response = app.resolve(http_v2("GET", "/missing", authorization=f"Bearer {token()}"), None)
    assert response["statusCode"] == 404
    (record,) = records
    assert (record["decision"], record["reason"], record["status"]) == (
        "allow", "handled_exception", 404
    )
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert [entry["level"] for entry in logged] == ["INFO"]
