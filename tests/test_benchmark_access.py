"""Smoke test of ``benchmarks/access.py``: it runs alone and in-process and reports every row
and target. No timing is asserted (speed is judged by the benchmark report itself)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "access.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_access", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_quick_returns_a_row_per_size_and_case() -> None:
    """``run(quick=True)`` gives one row per (table size, case) with a positive median, and
    ``targets`` a PASS/FAIL verdict for each size and for the growth."""
    bench = load()
    rows = bench.run(True)
    assert {(r["routes"], r["case"]) for r in rows} == {
        (size, case) for size in (50, 500) for case, _ in bench.CASES
    }
    assert all(r["us"] > 0 and r["x_50_routes"] > 0 for r in rows)
    assert {r["allowed"] for r in rows} == {True, False}
    verdicts = bench.targets(rows)
    assert len(verdicts) == 3
    assert all(v["status"] in ("PASS", "FAIL") for v in verdicts)
    assert "500 routes cost <= 2x 50 routes" in verdicts[-1]["target"]


def test_tables_have_the_advertised_sizes_and_decisions() -> None:
    """The benchmark tables hold 50 and 500 routes, and every timed request gets the decision
    its case name promises (``build_cases`` checks each one)."""
    bench = load()
    assert len(bench.build_table(50)) == 50
    assert len(bench.build_table(500)) == 500
    assert len(bench.build_cases()) == 2 * len(bench.CASES)


def test_runs_alone_and_prints_the_markdown_table() -> None:
    """``python benchmarks/access.py --quick`` prints the table and the targets."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "## Access decisions" in out
    assert "| case | 50 routes | 500 routes | 500/50 |" in out
    target_lines = [ln for ln in out.splitlines() if "<= 5 us" in ln or "<= 2x" in ln]
    assert len(target_lines) == 3
    assert all("**PASS**" in ln or "**FAIL**" in ln for ln in target_lines)
