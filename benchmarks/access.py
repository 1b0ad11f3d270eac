"""Access decisions: µs per ``Routes.decide`` for route tables of 50 and of 500 routes.

Run alone with ``python benchmarks/access.py [--quick] [--wall]``: prints a markdown
table and the targets with PASS/FAIL. For the suite, ``run(quick)`` returns the rows
(one dict per table size and case) and ``targets(rows)`` the verdicts, in the shape
``benchmarks/run.py`` uses (``{"target", "status", "measured"}``).

Tables are realistic REST shapes, five routes per resource: ``GET /r`` (a scope),
``POST /r`` (scope and role), ``GET /r/{id}`` (authenticated), ``DELETE /r/{id}``
(admin only) and ``ANY /tenants/{tenantId}/r/{proxy+}`` (tenant and role). 10
resources make 50 routes, 100 make 500. Every case cycles over requests spread across
all resources, so no single path stays hot. Both sizes run in the same interleaved
rounds (see ``_harness.py``), so the 500/50 ratio is paired round by round.

Targets (issue 4): at most 5 µs per decision on the 2-core test machine, and a lookup
cost that does not grow linearly with the table: 10x the routes may cost at most 2x.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for extra in (HERE, HERE.parent / "src"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from _harness import Case, Feed, Plan, measure, method_line, suite_main, targets_table  # noqa: E402

from secauth.access import Routes, Rule, authenticated, roles, scopes, tenant  # noqa: E402
from secauth.principal import Principal  # noqa: E402

SIZES = (50, 500)
ROUTES_PER_RESOURCE = 5
TARGET_US = 5.0
TARGET_GROWTH = 2.0

FULL = Plan(rounds=25, round_seconds=0.03, min_n=200, max_n=200_000)
QUICK = Plan(rounds=3, round_seconds=0.002, min_n=20, max_n=200, probe=5)

# (case name, builder of one (method, path) for resource ``name`` and request number ``i``)
CASES: tuple[tuple[str, Any], ...] = (
    ("allow: GET /r (literal, scope)", lambda name, i: ("GET", f"/{name}")),
    ("allow: GET /r/{id}", lambda name, i: ("GET", f"/{name}/{1000 + i}")),
    (
        "allow: tenant {proxy+}",
        lambda name, i: ("PATCH", f"/tenants/acme/{name}/items/{i}/notes"),
    ),
    ("deny: DELETE /r/{id} (role)", lambda name, i: ("DELETE", f"/{name}/{1000 + i}")),
    ("deny: other tenant", lambda name, i: ("GET", f"/tenants/globex/{name}/items/{i}")),
    ("deny: no route", lambda name, i: ("GET", f"/{name}/{i}/unknown/{i}")),
)
ALLOWED = {case: case.startswith("allow") for case, _ in CASES}


def resource_names(count: int) -> list[str]:
    return [f"resource{i:03d}" for i in range(count)]


def build_table(routes: int) -> Routes:
    """A table of ``routes`` routes (a multiple of 5), five per resource."""
    table: dict[str, Rule] = {}
    for name in resource_names(routes // ROUTES_PER_RESOURCE):
        table[f"GET /{name}"] = scopes(f"{name}.read")
        table[f"POST /{name}"] = scopes(f"{name}.write") & roles("member")
        table[f"GET /{name}/{{id}}"] = authenticated()
        table[f"DELETE /{name}/{{id}}"] = roles("admin")
        table[f"ANY /tenants/{{tenantId}}/{name}/{{proxy+}}"] = tenant(path="tenantId") & roles(
            "member"
        )
    built = Routes(table)
    assert len(built) == routes
    return built


def principal_for(routes: int) -> Principal:
    names = resource_names(routes // ROUTES_PER_RESOURCE)
    return Principal(
        "bench-user", tenant="acme", roles={"member"}, scopes={f"{n}.read" for n in names}
    )


def build_cases() -> list[Case]:
    """One timed case per (table size, request kind); each checks its decision once first."""
    cases: list[Case] = []
    for size in SIZES:
        table = build_table(size)
        principal = principal_for(size)
        names = resource_names(size // ROUTES_PER_RESOURCE)
        for case, make in CASES:
            requests = [make(names[i % len(names)], i) for i in range(max(64, len(names)))]
            for method, path in requests:
                decision = table.decide(principal, method, path)
                if decision.allowed is not ALLOWED[case]:
                    raise AssertionError(f"{size} routes, {case}: {method} {path} -> {decision}")
            decide = table.decide

            def op(
                item: tuple[str, str], decide: Any = decide, principal: Principal = principal
            ) -> Any:
                return decide(principal, item[0], item[1])

            cases.append(Case(f"{size}|{case}", op, Feed(requests)))
    return cases


def run(quick: bool, *, wall: bool = False) -> list[dict[str, Any]]:
    """Time every case; one row per (table size, case), with the paired 500/50 ratio."""
    plan = QUICK if quick else FULL
    if wall:
        plan = Plan(plan.rounds, plan.round_seconds, plan.min_n, plan.max_n, plan.probe, "wall")
    timings = measure(build_cases(), plan)
    rows: list[dict[str, Any]] = []
    for size in SIZES:
        for case, _ in CASES:
            t = timings[f"{size}|{case}"]
            base = timings[f"{SIZES[0]}|{case}"]
            rows.append(
                {
                    "row": f"{size} routes, {case}",
                    "routes": size,
                    "case": case,
                    "allowed": ALLOWED[case],
                    "x_50_routes": t.paired_ratio(base),
                    "clock": plan.clock,
                    "quick": quick,
                    **t.to_json(),
                }
            )
    return rows


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, evaluated on ``rows``: worst case per size, worst growth."""
    out = []
    for size in SIZES:
        mine = [r for r in rows if r["routes"] == size]
        worst = max(mine, key=lambda r: r["us"])
        out.append(
            {
                "target": f"access decision <= {TARGET_US:g} us ({size} routes, every case)",
                "status": "PASS" if worst["us"] <= TARGET_US else "FAIL",
                "measured": f"worst {worst['us']:.2f} us ({worst['case']}); "
                f"best {min(r['us'] for r in mine):.2f} us",
            }
        )
    big = [r for r in rows if r["routes"] == SIZES[-1]]
    growth = max(big, key=lambda r: r["x_50_routes"])
    out.append(
        {
            "target": f"{SIZES[-1]} routes cost <= {TARGET_GROWTH:g}x {SIZES[0]} routes "
            f"(linear would be {SIZES[-1] // SIZES[0]}x)",
            "status": "PASS" if growth["x_50_routes"] <= TARGET_GROWTH else "FAIL",
            "measured": f"worst {growth['x_50_routes']:.2f}x ({growth['case']})",
        }
    )
    return out


def render(rows: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> str:
    """A markdown section: µs per decision by case and size, then the targets."""
    small, large = SIZES
    by = {(r["routes"], r["case"]): r for r in rows}
    first = rows[0]
    lines = [
        "## Access decisions, µs per `Routes.decide`",
        "",
        method_line(
            first,
            f"`{large}/{small}` is the paired ratio (median over rounds).",
        ),
        "",
        f"| case | {small} routes | {large} routes | {large}/{small} | spread ({large}) |",
        "|---|---:|---:|---:|---:|",
    ]
    for case, _ in CASES:
        a, b = by[(small, case)], by[(large, case)]
        lines.append(
            f"| {case} | {a['us']:.2f} | {b['us']:.2f} | {b['x_50_routes']:.2f}x "
            f"| {b['spread_pct']:.0f}% |"
        )
    lines += targets_table(verdicts)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return suite_main(__doc__ or "access", run, targets, render, argv)


if __name__ == "__main__":
    sys.exit(main())
