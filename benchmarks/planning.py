"""Cached-policy planning: ms per ``plan_policy`` for a principal granted most of a table.

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

Target (a budget of ours, not an issue's): planning for 50 routes at most 100 ms on the
2-core test machine, so a new tenant's first cache miss stays within what users see as
one slow request.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for extra in (HERE, HERE.parent / "src"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from _harness import Case, Feed, Plan, measure, method_line, suite_main, targets_table  # noqa: E402
from access import build_table, principal_for  # noqa: E402

from secauth.policy import DEFAULT_MAX_RESPONSE_BYTES, plan_policy  # noqa: E402

SIZES = (10, 50, 100, 250)
QUICK_SIZES = (10, 50)
TARGET_ROUTES = 50
TARGET_MS = 100.0
PREFIX = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/"

# Each call takes milliseconds to a second: a few calls per round, no long probe.
FULL = Plan(rounds=5, round_seconds=0.2, min_n=1, max_n=3, probe=1)
QUICK = Plan(rounds=2, round_seconds=0.001, min_n=1, max_n=1, probe=1)


def _case(size: int) -> tuple[Case, int]:
    """The timed case of one table size, and its policy's size in bytes."""
    grants = build_table(size).grants(principal_for(size))
    document = plan_policy(PREFIX, grants)
    if document is None or not document.statements[0].resources:
        raise AssertionError(f"{size} routes: the plan allows nothing")
    size_bytes = len(json.dumps(document.to_dict()))
    return Case(str(size), lambda g: plan_policy(PREFIX, g), Feed([grants])), size_bytes


def run(quick: bool, *, wall: bool = False) -> list[dict[str, Any]]:
    """Time planning per table size; one row each, with the paired ratio to 50 routes."""
    plan = QUICK if quick else FULL
    if wall:
        plan = Plan(plan.rounds, plan.round_seconds, plan.min_n, plan.max_n, plan.probe, "wall")
    sizes = QUICK_SIZES if quick else SIZES
    built = {size: _case(size) for size in sizes}
    timings = measure([case for case, _ in built.values()], plan)
    base = timings[str(TARGET_ROUTES)]
    return [
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


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The planning budget, evaluated on ``rows``."""
    row = next(r for r in rows if r["routes"] == TARGET_ROUTES)
    return [
        {
            "target": f"planning a cached policy <= {TARGET_MS:g} ms ({TARGET_ROUTES} routes, "
            "a principal granted most)",
            "status": "PASS" if row["ms"] <= TARGET_MS else "FAIL",
            "measured": f"{row['ms']:.1f} ms",
        }
    ]


def render(rows: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> str:
    """A markdown section: ms per plan and the policy's size by table size, then the target."""
    lines = [
        "## Cached-policy planning, ms per `plan_policy`",
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
    for r in rows:
        lines.append(
            f"| {r['routes']} | {r['ms']:.1f} | {r['x_50_routes']:.2f}x | {r['policy_bytes']} "
            f"| {'yes' if r['fits'] else 'no'} | {r['spread_pct']:.0f}% |"
        )
    lines += targets_table(verdicts)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return suite_main(__doc__ or "planning", run, targets, render, argv)


if __name__ == "__main__":
    sys.exit(main())
