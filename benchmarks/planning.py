"""Cached policies: ms per ``plan_policy`` for a principal granted most of a table, and
µs per answer once the plan is made.

Run alone with ``python benchmarks/planning.py [--quick] [--wall]``: prints a markdown
table and the target with PASS/FAIL. For the suite, ``run(quick)`` returns the rows and
``targets(rows)`` the verdicts, in the shape ``benchmarks/run.py`` uses.

With ``cache_ttl > 0`` an ``Authorizer`` plans a policy once per stage and distinct
grants (a new tenant is a new plan), on the request path. The tables are the access
suite's (five routes per resource, one of them ``ANY``), the principal the access
suite's (member of tenant ``acme``, every read scope), so the policy covers most of the
table. No other library proves a cached policy, so there is no anchor: the rows report
milliseconds, the policy's size (over 8 KB the authorizer answers for the method ARN
alone, docs/authorizer-policies.md) and the growth from 50 routes.

Then, with the plan made (in the builder's plan cache), ``PolicyBuilder.response`` for a
request of that table at 50 routes, for the wide principal (its plan is over the budget:
answered for the method ARN) and a narrow one (one scope: its plan is answered), against
the same builder with ``cache_ttl=0`` in the same rounds.

Targets (budgets of ours, not an issue's), on the 2-core test machine: planning for 50
routes at most 100 ms, so a new tenant's first cache miss stays within what users see as
one slow request; an answer with the plan made at most 1 ms, Lambda's billing unit (it
was about 2 ms before IAM patterns were matched piece by piece).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for extra in (HERE, HERE.parent / "src"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from _harness import Case, Feed, Plan, measure, method_line, suite_main, targets_table  # noqa: E402
from access import build_table, principal_for  # noqa: E402

from secauth.events import Request  # noqa: E402
from secauth.policy import DEFAULT_MAX_RESPONSE_BYTES, PolicyBuilder, plan_policy  # noqa: E402
from secauth.principal import Principal  # noqa: E402

SIZES = (10, 50, 100, 250)
QUICK_SIZES = (10, 50)
TARGET_ROUTES = 50
TARGET_MS = 100.0
TARGET_ANSWER_US = 1000.0
PREFIX = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/"

# Each call takes milliseconds to a second: a few calls per round, no long probe.
FULL = Plan(rounds=5, round_seconds=0.2, min_n=1, max_n=3, probe=1)
QUICK = Plan(rounds=2, round_seconds=0.001, min_n=1, max_n=1, probe=1)
ANSWERS = Plan(rounds=15, round_seconds=0.02, min_n=20, max_n=20_000)
QUICK_ANSWERS = Plan(rounds=2, round_seconds=0.001, min_n=5, max_n=20, probe=5)
TTL0 = "cache_ttl=0"
WHO = ("narrow principal", "wide principal")


def _case(size: int) -> tuple[Case, int]:
    """The timed case of one table size, and its policy's size in bytes."""
    grants = build_table(size).grants(principal_for(size))
    document = plan_policy(PREFIX, grants)
    if document is None or not document.statements[0].resources:
        raise AssertionError(f"{size} routes: the plan allows nothing")
    size_bytes = len(json.dumps(document.to_dict()))
    return Case(str(size), lambda g: plan_policy(PREFIX, g), Feed([grants])), size_bytes


def _answer_cases() -> list[Case]:
    """``PolicyBuilder.response`` at 50 routes: each principal cached and at TTL 0."""
    # The wide principal's answers take the size fallback, which warns once: not here.
    logging.getLogger("secauth.policy").setLevel(logging.ERROR)
    table = build_table(TARGET_ROUTES)
    event = {"type": "TOKEN", "authorizationToken": "Bearer t",
             "methodArn": PREFIX + "GET/resource001"}  # fmt: skip
    request = Request.from_event(event)
    principals = {
        WHO[0]: Principal("bench-narrow", tenant="acme", scopes={"resource001.read"}),
        WHO[1]: principal_for(TARGET_ROUTES),
    }
    cases = []
    for ttl in (300, 0):
        builder = PolicyBuilder(cache_ttl=ttl, routes=table)
        for who, principal in principals.items():
            context = principal.to_context()

            def answer(_: object, b: Any = builder, p: Principal = principal, c: Any = context) -> Any:
                return b.response(p, request, allow=True, context=c)

            answer(None)  # the plan is made before the clock starts
            name = f"{who}|{'cache_ttl=300' if ttl else TTL0}"
            cases.append(Case(name, answer, Feed([None])))
    return cases


def run(quick: bool, *, wall: bool = False) -> list[dict[str, Any]]:
    """Time planning per table size (one row each, with the paired ratio to 50 routes),
    then the answers with the plan made (one row per principal, ratio to TTL 0)."""
    plan, answers = (QUICK, QUICK_ANSWERS) if quick else (FULL, ANSWERS)
    if wall:
        plan = Plan(plan.rounds, plan.round_seconds, plan.min_n, plan.max_n, plan.probe, "wall")
        answers = Plan(*dataclasses.astuple(answers)[:5], "wall")
    sizes = QUICK_SIZES if quick else SIZES
    built = {size: _case(size) for size in sizes}
    timings = measure([case for case, _ in built.values()], plan)
    base = timings[str(TARGET_ROUTES)]
    rows = [
        {
            "row": f"{size} routes",
            "routes": size,
            "ms": timings[str(size)].median_us / 1000,
            "policy_bytes": built[size][1],
            "fits": built[size][1] < DEFAULT_MAX_RESPONSE_BYTES,
            "x_50_routes": timings[str(size)].paired_ratio(base),
            "clock": plan.clock,
            "quick": quick,
            **timings[str(size)].to_json(),
        }
        for size in sizes
    ]
    answered = measure(_answer_cases(), answers)
    for who in WHO:
        cached, ttl0 = answered[f"{who}|cache_ttl=300"], answered[f"{who}|{TTL0}"]
        rows.append(
            {
                "row": f"answer, {who}",
                "who": who,
                "ttl0_us": ttl0.median_us,
                "x_ttl0": cached.paired_ratio(ttl0),
                "clock": answers.clock,
                "quick": quick,
                **cached.to_json(),
            }
        )
    return rows


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The planning and answer budgets, evaluated on ``rows``."""
    row = next(r for r in rows if r.get("routes") == TARGET_ROUTES)
    worst = max((r for r in rows if "who" in r), key=lambda r: r["us"])
    return [
        {
            "target": f"planning a cached policy <= {TARGET_MS:g} ms ({TARGET_ROUTES} routes, "
            "a principal granted most)",
            "status": "PASS" if row["ms"] <= TARGET_MS else "FAIL",
            "measured": f"{row['ms']:.1f} ms",
        },
        {
            "target": f"a cached answer, plan made, <= {TARGET_ANSWER_US / 1000:g} ms "
            f"({TARGET_ROUTES} routes)",
            "status": "PASS" if worst["us"] <= TARGET_ANSWER_US else "FAIL",
            "measured": f"worst {worst['us']:.0f} us ({worst['who']}; "
            f"{worst['x_ttl0']:.1f}x the TTL-0 answer)",
        },
    ]


def render(rows: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> str:
    """A markdown section: ms per plan and the policy's size by table size, µs per answer
    with the plan made, then the targets."""
    lines = [
        "## Cached policies: planning and answering",
        "",
        method_line(
            rows[0],
            "A principal granted most of the table; the policy alone, as JSON. Over "
            f"{DEFAULT_MAX_RESPONSE_BYTES} bytes the authorizer answers for the method ARN "
            "alone.",
        ),
        "",
        "| routes | ms | x 50 routes | policy bytes | under the budget alone | spread |",
        "|---:|---:|---:|---:|---|---:|",
    ]
    for r in (r for r in rows if "routes" in r):
        lines.append(
            f"| {r['routes']} | {r['ms']:.1f} | {r['x_50_routes']:.2f}x | {r['policy_bytes']} "
            f"| {'yes' if r['fits'] else 'no'} | {r['spread_pct']:.0f}% |"
        )
    lines += [
        "",
        f"With the plan made, µs per `PolicyBuilder.response` ({TARGET_ROUTES} routes), "
        "against the same builder at TTL 0:",
        "",
        "| principal | cache_ttl=300 µs | cache_ttl=0 µs | x TTL 0 | spread |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in (r for r in rows if "who" in r):
        lines.append(
            f"| {r['who']} | {r['us']:.1f} | {r['ttl0_us']:.1f} | {r['x_ttl0']:.2f}x "
            f"| {r['spread_pct']:.0f}% |"
        )
    lines += targets_table(verdicts)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return suite_main(__doc__ or "planning", run, targets, render, argv)


if __name__ == "__main__":
    sys.exit(main())
