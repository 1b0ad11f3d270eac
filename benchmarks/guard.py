"""Guard overhead: µs that ``secauth.Guard`` adds around a trivial Lambda handler.

Contenders, all in this process with interleaved rounds (see ``_harness``), on one
warm REST proxy event (``GET /orders/7``) sent again and again:

* ``bare handler``: the trivial handler called directly (the baseline);
* ``Guard, trust authorizer``: ``Guard(routes=...)`` reading the principal a secauth
  authorizer put in ``requestContext.authorizer`` (checked, route rule applied again);
* ``Guard, verify token``: ``Guard(verifier, routes=...)`` verifying the same bearer
  token on every call (the verifier's token cache makes a repeat cheap);
* both again with the default decision log (one JSON line to stdout per request;
  stdout goes to ``/dev/null`` while timing);
* ``Powertools, hand-written check``: an ``APIGatewayRestResolver`` app whose route
  reads the authorizer context and checks the role by hand (what teams write today);
* ``Powertools + guard_middleware``: the same app guarded by the secauth middleware.

Overhead = contender - bare handler (paired round by round).

Targets (issue 6): trusting authorizer context <= 15 µs, verifying a repeated token
<= 25 µs, both with ``decision_log=None`` and security headers on.

Run alone: ``python benchmarks/guard.py [--quick] [--wall]``; ``make bench`` includes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for extra in (HERE, HERE.parent / "src"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from _harness import Case, Feed, Plan, measure, method_line, suite_main, targets_table  # noqa: E402

from secauth import Guard, JwtVerifier, Principal, Routes, roles, scopes  # noqa: E402
from secauth.testing import KeyPair  # noqa: E402

FULL = Plan(rounds=25, round_seconds=0.03, min_n=200, max_n=200_000)
QUICK = Plan(rounds=3, round_seconds=0.002, min_n=20, max_n=200, probe=5)
TRUST_TARGET_US = 15.0
VERIFY_TARGET_US = 25.0
ISS, AUD = "https://idp.example.com/", "orders-api"
ROUTES = {
    "GET /orders/{id}": roles("reader", "admin"),
    "GET /orders": scopes("orders.read"),
    "POST /orders": scopes("orders.write"),
    "DELETE /orders/{id}": roles("admin"),
    "GET /health": roles("admin"),
}
BARE = "bare handler"
TRUST = "Guard, trust authorizer"
VERIFY = "Guard, verify token"
TRUST_LOG = "Guard, trust authorizer, stdout log"
VERIFY_LOG = "Guard, verify token, stdout log"
PT_HAND = "Powertools, hand-written check"
PT_GUARD = "Powertools + guard_middleware"
ORDER = (BARE, TRUST, VERIFY, TRUST_LOG, VERIFY_LOG, PT_HAND, PT_GUARD)


def rest_event(authorization: str | None, context: dict[str, str] | None) -> dict[str, Any]:
    """A REST proxy event for GET /orders/7, as API Gateway sends it."""
    headers = {"Accept": "application/json", "Host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
               "User-Agent": "bench/1.0", "X-Forwarded-For": "198.51.100.7"}  # fmt: skip
    if authorization:
        headers["Authorization"] = authorization
    request_context: dict[str, Any] = {
        "accountId": "123456789012", "apiId": "a1b2c3d4e5", "httpMethod": "GET",
        "identity": {"sourceIp": "198.51.100.7", "userAgent": "bench/1.0"},
        "path": "/prod/orders/7", "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "resourceId": "us4z18", "resourcePath": "/orders/{id}", "stage": "prod",
    }  # fmt: skip
    if context is not None:
        request_context["authorizer"] = {**context, "principalId": context["secauth_principal"],
                                         "integrationLatency": 12}  # fmt: skip
    return {
        "resource": "/orders/{id}", "path": "/orders/7", "httpMethod": "GET",
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": {"id": "7"}, "stageVariables": None, "requestContext": request_context,
        "body": None, "isBase64Encoded": False,
    }  # fmt: skip


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The trivial handler every contender wraps."""
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": '{"ok":true}',
    }


@contextlib.contextmanager
def _stdout_to_devnull() -> Iterator[None]:
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


def _powertools_apps(guard: Guard) -> tuple[Any, Any] | None:
    try:
        from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
    except ImportError:
        return None
    from secauth.integrations.powertools import guard_middleware

    hand = APIGatewayRestResolver()

    @hand.get("/orders/<order_id>")
    def by_hand(order_id: str) -> Any:
        # What teams write today: read the authorizer context, check it, check the role.
        context = hand.current_event.request_context.authorizer or {}
        principal = context.get("secauth_principal")
        roles_text = context.get("secauth_roles")
        if not isinstance(principal, str) or not principal or not isinstance(roles_text, str):
            return Response(401, "application/json", '{"message":"Unauthorized"}')
        try:
            granted = json.loads(roles_text)
        except ValueError:
            return Response(401, "application/json", '{"message":"Unauthorized"}')
        if "reader" not in granted and "admin" not in granted:
            return Response(403, "application/json", '{"message":"Forbidden"}')
        return Response(200, "application/json", '{"ok":true}')

    guarded = APIGatewayRestResolver()
    guarded.use(middlewares=[guard_middleware(guard)])

    @guarded.get("/orders/<order_id>")
    def plain(order_id: str) -> Any:
        return Response(200, "application/json", '{"ok":true}')

    return hand, guarded


def build_cases() -> list[Case]:
    pair = KeyPair.generate("ES256", kid="k1")
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [pair.public_jwk]})
    token = pair.sign({"iss": ISS, "aud": AUD, "sub": "alice", "roles": ["reader"], "exp": 4e9})
    # As a secauth Authorizer writes it for this token: with secauth_exp, which the guard checks.
    claims = {"sub": "alice", "exp": 4_000_000_000}
    context = Principal("alice", tenant="acme", roles={"reader"}, claims=claims).to_context()
    trusted_event = rest_event(f"Bearer {token}", context)
    bearer_event = rest_event(f"Bearer {token}", None)
    routes = Routes(ROUTES)
    contenders = {
        BARE: (handler, trusted_event),
        TRUST: (Guard(routes=routes, decision_log=None)(handler), trusted_event),
        VERIFY: (Guard(verifier, routes=routes, decision_log=None)(handler), bearer_event),
        TRUST_LOG: (Guard(routes=routes)(handler), trusted_event),
        VERIFY_LOG: (Guard(verifier, routes=routes)(handler), bearer_event),
    }
    apps = _powertools_apps(Guard(routes=routes, decision_log=None))
    if apps is not None:
        hand, guarded = apps
        contenders[PT_HAND] = (hand.resolve, trusted_event)
        contenders[PT_GUARD] = (guarded.resolve, trusted_event)
    cases = []
    for name, (function, event) in contenders.items():
        with _stdout_to_devnull():
            response = function(event, None)
        if response["statusCode"] != 200:
            raise AssertionError(f"{name}: {response}")
        if name not in (BARE, PT_HAND) and "X-Content-Type-Options" not in str(response):
            raise AssertionError(f"{name}: no security headers: {response}")

        def op(item: dict[str, Any], function: Any = function) -> Any:
            return function(item, None)

        cases.append(Case(name, op, Feed([event])))
    return cases


def run(quick: bool, *, wall: bool = False) -> list[dict[str, Any]]:
    """Time every contender; one row each, with the overhead over the bare handler."""
    plan = QUICK if quick else FULL
    if wall:
        plan = Plan(plan.rounds, plan.round_seconds, plan.min_n, plan.max_n, plan.probe, "wall")
    cases = build_cases()
    with _stdout_to_devnull():
        timings = measure(cases, plan)
    base = timings[BARE]
    rows = []
    for name in ORDER:
        if name not in timings:
            continue
        t = timings[name]
        overhead = [a - b for a, b in zip(t.samples, base.samples, strict=True)]
        overhead.sort()
        rows.append(
            {
                "row": name,
                "contender": name,
                "overhead_us": overhead[len(overhead) // 2],
                "clock": plan.clock,
                "quick": quick,
                **t.to_json(),
            }
        )
    return rows


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets: overhead of trusting context and of verifying a repeated token."""
    by = {r["contender"]: r for r in rows}
    out = []
    for name, limit, what in ((TRUST, TRUST_TARGET_US, "trusting authorizer context"),
                              (VERIFY, VERIFY_TARGET_US, "verifying a repeated token")):  # fmt: skip
        row = by[name]
        out.append(
            {
                "target": f"Guard overhead {what} <= {limit:g} us",
                "status": "PASS" if row["overhead_us"] <= limit else "FAIL",
                "measured": f"{row['overhead_us']:.2f} us over a bare handler "
                f"({row['us']:.2f} us total)",
            }
        )
    return out


def render(rows: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> str:
    first = rows[0]
    lines = [
        "## Guard overhead, µs per warm invocation",
        "",
        method_line(
            first,
            "Overhead = the contender minus the bare handler, paired round by round.",
        ),
        "",
        "| contender | µs per call | overhead µs | spread |",
        "|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['contender']} | {r['us']:.2f} | {r['overhead_us']:.2f} | {r['spread_pct']:.0f}% |"
        )
    lines += targets_table(verdicts)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return suite_main(__doc__ or "guard", run, targets, render, argv)


if __name__ == "__main__":
    sys.exit(main())
