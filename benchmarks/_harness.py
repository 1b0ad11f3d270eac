"""Timing primitives for the benchmark report: calibrated batches, interleaved rounds, medians.

Every contender of one group runs in the same process, round after round in a
rotating order, so slow drift of the machine (other jobs, thermal state) hits
them all alike. A round times one batch of ``n`` calls; the result is the
median over rounds of microseconds per call, with min and max kept for the
spread.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


class Feed:
    """The inputs of one contender: a cycle over ``values`` (one value = the same input always)."""

    def __init__(self, values: Sequence[Any]) -> None:
        if not values:
            raise ValueError("a feed needs at least one value")
        self.values = list(values)
        self.pos = 0
        self.used = 0

    def take(self, n: int) -> list[Any]:
        """The next ``n`` inputs, continuing the cycle where the last batch stopped."""
        values = self.values
        size = len(values)
        if size == 1:
            out = values * n
        else:
            start = self.pos
            out = [values[(start + i) % size] for i in range(n)]
            self.pos = (start + n) % size
        self.used += n
        return out


@dataclass
class Timing:
    """Microseconds per call over the rounds of one contender."""

    median_us: float
    min_us: float
    max_us: float
    rounds: int
    n: int
    samples: list[float] = field(default_factory=list)  # µs per call, one per round, in order

    def paired_ratio(self, base: Timing) -> float:
        """Median over rounds of (this round's time / ``base``'s time in the same round).

        Contenders of one round run back to back, so a slow spell of the machine
        that inflates a round inflates both sides of its ratio alike.
        """
        return statistics.median(a / b for a, b in zip(self.samples, base.samples, strict=True))

    @property
    def spread_pct(self) -> float:
        """(max - min) / median over the rounds, in percent."""
        return 100.0 * (self.max_us - self.min_us) / self.median_us if self.median_us else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "us": self.median_us,
            "min_us": self.min_us,
            "max_us": self.max_us,
            "spread_pct": self.spread_pct,
            "rounds": self.rounds,
            "n": self.n,
            "samples_us": [round(x, 4) for x in self.samples],
        }


@dataclass
class Case:
    """One contender: ``op(input)`` is the operation timed, one call per input."""

    name: str
    op: Callable[[Any], object]
    feed: Feed
    # Runs before every timed batch, outside the clock (e.g. to assert a cache miss).
    guard: Callable[[list[Any]], None] | None = None
    n: int = 0
    samples: list[float] = field(default_factory=list)

    def timing(self) -> Timing:
        s = self.samples
        return Timing(statistics.median(s), min(s), max(s), len(s), self.n, list(s))


@dataclass(frozen=True)
class Plan:
    """How long to measure: rounds, target seconds per batch, and bounds on the batch size."""

    rounds: int
    round_seconds: float
    min_n: int
    max_n: int
    probe: int = 20
    # "cpu": CPU time of this thread, so time the OS gives other processes on a busy
    # machine is not charged to the contender; "wall": perf_counter.
    clock: str = "cpu"


CLOCKS = {"cpu": time.thread_time_ns, "wall": time.perf_counter_ns}


def _run_batch(case: Case, clock: Callable[[], int]) -> float:
    batch = case.feed.take(case.n)
    if case.guard is not None:
        case.guard(batch)
    op = case.op
    start = clock()
    for item in batch:
        op(item)
    return (clock() - start) / 1000.0 / case.n


def measure(cases: Sequence[Case], plan: Plan) -> dict[str, Timing]:
    """Calibrate, warm up and time ``cases`` in interleaved rounds; return timings by name.

    The garbage collector stays enabled (as in a real process); a full collection
    runs between batches, outside the clock, so every batch starts alike.
    """
    clock = CLOCKS[plan.clock]
    for case in cases:
        probe = case.feed.take(plan.probe)
        start = clock()
        for item in probe:
            case.op(item)
        per_call = max((clock() - start) / 1e9 / plan.probe, 1e-9)
        case.n = max(plan.min_n, min(plan.max_n, int(plan.round_seconds / per_call)))
        case.samples.clear()
    for case in cases:  # warm-up batch, not recorded
        gc.collect()
        _run_batch(case, clock)
    for r in range(plan.rounds):
        shift = r % len(cases)
        for case in [*cases[shift:], *cases[:shift]]:
            gc.collect()
            case.samples.append(_run_batch(case, clock))
    return {case.name: case.timing() for case in cases}


def method_line(row: dict[str, Any], note: str) -> str:
    """A suite section's first sentence: how its rows were timed, then ``note``."""
    quick = "; **--quick run: numbers are meaningless**" if row["quick"] else ""
    return f"Median of {row['rounds']} interleaved rounds ({row['clock']} clock){quick}. {note}"


def targets_table(verdicts: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown lines of a suite's targets: target, **PASS**/**FAIL**, what was measured."""
    return [
        "",
        "| target | result | measured |",
        "|---|---|---|",
        *(f"| {t['target']} | **{t['status']}** | {t['measured']} |" for t in verdicts),
    ]


def suite_main(
    doc: str,
    run: Callable[..., list[dict[str, Any]]],
    targets: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    render: Callable[[list[dict[str, Any]], list[dict[str, Any]]], str],
    argv: list[str] | None = None,
) -> int:
    """Run one suite alone (``python benchmarks/<suite>.py [--quick] [--wall]``)."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run, numbers meaningless")
    parser.add_argument("--wall", action="store_true", help="wall clock instead of thread CPU")
    args = parser.parse_args(argv)
    rows = run(args.quick, wall=args.wall)
    print(render(rows, targets(rows)))
    return 0
