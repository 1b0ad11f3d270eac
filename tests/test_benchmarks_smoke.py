"""Smoke test of the benchmark suite: ``benchmarks/run.py --quick`` runs and reports every row.

No timing is asserted here (speed is judged only by the benchmark report itself);
this only proves the report is complete and the flags work.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"

ASYMMETRIC = ("RS256", "ES256", "EdDSA")
ALGS = (*ASYMMETRIC, "HS256")
ROWS_ALL = (
    "floor: signature",
    "floor: minimal verifier",
    "PyJWT jwt.decode",
    "joserfc decode + claims",
    "secauth fresh token",
    "secauth repeated token",
)
ROWS_ASYMMETRIC = ("PyJWT PyJWKClient",)
TARGETS = (
    "RS256 fresh token <= 1.25x minimal verifier",
    "ES256 fresh token <= 1.25x minimal verifier",
    "EdDSA fresh token <= 1.25x minimal verifier",
    "RS256 fresh token >= 2x faster than PyJWT jwt.decode",
    "repeated token >= 4x faster than the RS256 signature floor",
    "import secauth <= 25 ms over bare python",
    "cold start, fetched: secauth <= PyJWT (wall)",
    "cold start, fetched: secauth <= PyJWT (in-process)",
    "cold start, seeded from file <= 0.5x PyJWT fetched (wall)",
    "cold start, seeded from env <= 0.5x PyJWT fetched (in-process)",
    "cold start, whole authorizer: secauth <= 0.4x PyJWT + Powertools (in-process)",
    "revocation check adds <= 1 us to a repeated token",
    "revocation check: exactly 1 round trip per new token",
    "introspection cache hit <= 5 us",
    "introspection: N verifications of one token -> 1 call",
    "introspection: 50 threads on one cold token -> 1 call",
    "DPoP request <= token verification + 1.3x one ES256 signature",
    "DPoP replay check on Redis: exactly 1 round trip per proof",
    "redis: a plan-chosen decision costs no more round trips than a fixed one",
    "dynamodb: a plan-chosen decision costs no more round trips than a fixed one",
    "planning a cached policy <= 100 ms (50 routes, a principal granted most)",
    "a cached answer, plan made, <= 1 ms (50 routes)",
)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """One ``--quick --no-save`` run, compared against a hand-made earlier result."""
    tmp = tmp_path_factory.mktemp("bench")
    earlier = tmp / "earlier.json"
    earlier.write_text(
        json.dumps(
            {
                "environment": {"date": "earlier-run", "git": "abc1234"},
                "rows": {"RS256/floor: signature": {"us": 1.0}},
            }
        ),
        encoding="utf-8",
    )
    output = tmp / "must-not-exist.json"
    done = subprocess.run(
        [
            sys.executable,
            str(RUN),
            "--quick",
            "--no-save",
            "--output",
            str(output),
            "--compare",
            str(earlier),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, output


def _section(report: str, heading: str) -> str:
    """The text under a markdown heading, up to the next heading of the same or higher level."""
    level = heading.split(" ", 1)[0]
    start = report.index(heading + "\n")
    rest = report[start + len(heading) + 1 :]
    stop = re.search(rf"^#{{1,{len(level)}}} ", rest, flags=re.MULTILINE)
    return rest[: stop.start()] if stop else rest


def _row_value(section: str, row: str) -> str:
    """The µs/op cell of a table row named exactly ``row``."""
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == row:
            return cells[1]
    raise AssertionError(f"row {row!r} missing")


def test_report_has_every_required_row_with_a_number(quick_run: tuple[str, Path]) -> None:
    """Each algorithm's table has every required row, and each row carries a measured µs value."""
    report, _ = quick_run
    for alg in ALGS:
        section = _section(report, f"### {alg}")
        rows = ROWS_ALL + (ROWS_ASYMMETRIC if alg in ASYMMETRIC else ())
        for row in rows:
            assert float(_row_value(section, row)) > 0, (alg, row)


def test_report_has_targets_with_a_verdict_each(quick_run: tuple[str, Path]) -> None:
    """The Targets section lists every target with PASS or FAIL (none skipped in a full-suite run)."""
    report, _ = quick_run
    targets = _section(report, "## Targets")
    for target in TARGETS:
        line = next((ln for ln in targets.splitlines() if target in ln), None)
        assert line is not None, target
        assert "**PASS**" in line or "**FAIL**" in line, line
    assert "**SKIP**" not in targets


def test_report_has_header_startup_and_breakdown_sections(quick_run: tuple[str, Path]) -> None:
    """Machine and versions at the top, then import time, cold start and the breakdown."""
    report, _ = quick_run
    head = report.split("## ", 1)[0]
    for word in ("machine:", "Python", "cryptography", "PyJWT", "joserfc", "secauth"):
        assert word in head, word
    for heading in ("## Import time", "## Cold start", "## Where the time goes"):
        assert heading in report, heading
    cold = report[report.index("## Cold start") :]
    for variant in (
        "PyJWT + PyJWKClient, fetched",
        "secauth, seeded from file",
        "secauth, seeded from env",
    ):
        assert variant in cold, variant


def test_the_authorizer_section_breaks_a_fresh_token_call_into_its_steps(
    quick_run: tuple[str, Path],
) -> None:
    """Each pipeline step has a measured µs value, and the remainder of the call is shown."""
    report, _ = quick_run
    steps = _section(report, "### Where a fresh-token call goes (each step timed alone, same rounds)")
    for step in (
        "event -> Request",
        "read the bearer token",
        "verify the token",
        "claims -> Principal",
        "the target (verb, path)",
        "the route decision",
        "the context",
        "the response",
        "of which the size check",
        "running them in sequence",
        "the rest of the call",
    ):
        cells = next(
            [c.strip() for c in line.strip().strip("|").split("|")]
            for line in steps.splitlines()
            if line.startswith(f"| {step} |")
        )
        float(cells[-1])  # a number (the remainder may be negative in a --quick run)
    assert "leaves" in steps


def test_the_authorizer_section_shows_the_mandated_minimum_beside_the_floor(
    quick_run: tuple[str, Path],
) -> None:
    """The reference point for the fresh-token target is a row with a ratio, and the
    sentence below the table says what of the target's budget it leaves."""
    report, _ = quick_run
    section = _section(report, "## Lambda authorizer, µs per warm REST TOKEN invocation (RS256)")
    row = next(ln for ln in section.splitlines() if ln.startswith("| mandated minimum | fresh |"))
    ratio = [c.strip() for c in row.strip().strip("|").split("|")][3]
    assert float(ratio.removesuffix("x")) > 0
    assert re.search(r"The mandated minimum .* At \d+\.\d\dx it leaves -?\d+\.\d µs", section)
    fresh_target = next(ln for ln in section.splitlines() if "fresh token <= 1.5x floor" in ln)
    assert "mandated minimum" in fresh_target


def test_no_save_writes_nothing_and_compare_prints_ratios(quick_run: tuple[str, Path]) -> None:
    """``--no-save`` leaves the output path alone; ``--compare`` prints a ratio per earlier row."""
    report, output = quick_run
    assert not output.exists()
    compared = _section(report, f"## Compared with {output.parent / 'earlier.json'}")
    assert "earlier-run" in compared
    line = next(ln for ln in compared.splitlines() if ln.startswith("| RS256 floor: signature |"))
    _, before, now, ratio = [c.strip() for c in line.strip().strip("|").split("|")]
    assert before == "1.00 µs"
    now_us = float(now.removesuffix(" µs"))
    assert float(ratio) == pytest.approx(now_us / 1.0, abs=0.06)  # now / before, as printed
    assert "| new |" in compared  # rows the earlier result did not have


def test_the_planning_section_shows_time_and_policy_size_per_table(
    quick_run: tuple[str, Path],
) -> None:
    """The planning suite reports ms and the policy's bytes for each table size it ran."""
    report, _ = quick_run
    section = _section(report, "## Cached policies: planning and answering")
    for routes in ("10", "50"):
        line = next(ln for ln in section.splitlines() if ln.startswith(f"| {routes} |"))
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert float(cells[1]) > 0, line
        assert int(cells[3]) > 1000, line  # a planned policy, not an empty one
        assert cells[4] in ("yes", "no"), line
    for who in ("narrow principal", "wide principal"):
        line = next(ln for ln in section.splitlines() if ln.startswith(f"| {who} |"))
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert min(float(cells[1]), float(cells[2])) > 0, line
