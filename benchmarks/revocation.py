"""The revocation list's cost: µs added to a repeated token, round trips for a new one.

Contenders, in this process with interleaved rounds (see ``_harness``):

* ``verifier``: ``JwtVerifier`` without a revocation list, a repeated token (a
  verified-token cache hit);
* ``verifier + revocations``: the same with ``Revocations`` on a real redis-server
  (``max_staleness=30``): a repeated token is answered from the container's memory.

Round trips for new tokens are counted on the Redis connection (commands sent per
verification of distinct tokens). Needs ``redis-server`` (``make services-deps``); without
it the suite reports the rows as not measured.

Run alone: ``python benchmarks/revocation.py [--quick]``; ``make bench`` includes it.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for extra in (HERE, ROOT / "tests" / "ratelimit"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from _harness import Case, Feed, Plan, measure, method_line, suite_main, targets_table  # noqa: E402

FULL = Plan(rounds=25, round_seconds=0.03, min_n=200, max_n=200_000)
QUICK = Plan(rounds=3, round_seconds=0.002, min_n=10, max_n=100, probe=5)
ADDED_TARGET_US = 1.0
ISS = "https://idp.example.com/"


def _tokens(pair: Any, count: int) -> list[str]:
    now = int(time.time())
    claims = {"iss": ISS, "aud": "api", "iat": now, "exp": now + 3600}
    return [pair.sign({**claims, "sub": f"u{i}", "jti": f"t-{i}"}) for i in range(count)]


def run(quick: bool, *, wall: bool = False) -> list[dict[str, Any]]:
    """Rows: the repeated-token µs with and without the list, and round trips per new token."""
    if shutil.which("redis-server") is None:
        return [{"row": "revocations", "skipped": "redis-server is not installed"}]
    import redis
    from rl_services import redis_server

    from secauth import JwtVerifier
    from secauth.revocation import Revocations
    from secauth.revocation_stores import RedisRevocationStore
    from secauth.testing import KeyPair

    plan = QUICK if quick else FULL
    if wall:
        plan = Plan(plan.rounds, plan.round_seconds, plan.min_n, plan.max_n, plan.probe, "wall")
    server = redis_server().start()
    try:
        sent: list[str] = []

        class Counting(redis.Redis):  # type: ignore[type-arg]
            def execute_command(self, *args: Any, **options: Any) -> Any:
                sent.append(str(args[0]))
                return super().execute_command(*args, **options)

        client = Counting(host="127.0.0.1", port=server.port)
        pair = KeyPair.generate("ES256", kid="k1")
        jwks = {"keys": [pair.public_jwk]}
        plain = JwtVerifier(issuer=ISS, audience="api", jwks=jwks)
        listed = JwtVerifier(
            issuer=ISS,
            audience="api",
            jwks=jwks,
            revocations=Revocations(RedisRevocationStore(client=client), max_staleness=30),
        )
        repeated = _tokens(pair, 1)
        for verifier in (plain, listed):
            for _ in range(3):
                verifier.verify(repeated[0])  # cached from the second verification
        cases = [
            Case("verifier", plain.verify, Feed(repeated)),
            Case("verifier + revocations", listed.verify, Feed(repeated)),
        ]
        timings = measure(cases, plan)
        fresh = _tokens(pair, 50 if quick else 500)
        sent.clear()
        for value in fresh:
            listed.verify(value)
        trips = len(sent) / len(fresh)
    finally:
        server.stop()
    base, with_list = timings["verifier"], timings["verifier + revocations"]
    return [
        {
            "row": "revocations",
            "repeated_us": base.median_us,
            "repeated_with_list_us": with_list.median_us,
            # Paired: the median over rounds of the difference within each round.
            "added_us": statistics.median(
                a - b for a, b in zip(with_list.samples, base.samples, strict=True)
            ),
            "round_trips_per_new_token": trips,
            "rounds": with_list.rounds,
            "clock": plan.clock,
            "quick": quick,
        }
    ]


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets: <= 1 µs added to a repeated token, one round trip per new one."""
    row = rows[0]
    if "skipped" in row:
        return [
            {"target": t, "status": "SKIP", "measured": row["skipped"]}
            for t in (
                f"revocation check adds <= {ADDED_TARGET_US:g} us to a repeated token",
                "revocation check: exactly 1 round trip per new token",
            )
        ]
    return [
        {
            "target": f"revocation check adds <= {ADDED_TARGET_US:g} us to a repeated token",
            "status": "PASS" if row["added_us"] <= ADDED_TARGET_US else "FAIL",
            "measured": f"{row['added_us']:.2f} us ({row['repeated_us']:.2f} -> "
            f"{row['repeated_with_list_us']:.2f} us)",
        },
        {
            "target": "revocation check: exactly 1 round trip per new token",
            "status": "PASS" if row["round_trips_per_new_token"] == 1.0 else "FAIL",
            "measured": f"{row['round_trips_per_new_token']:.2f} round trips per new token",
        },
    ]


def render(rows: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> str:
    """A markdown section: the repeated-token cost with and without the list, round trips."""
    row = rows[0]
    lines = ["## Revocation list, cost per verification (ES256, Redis store)", ""]
    if "skipped" in row:
        lines.append(f"Not measured: {row['skipped']}.")
    else:
        lines += [
            method_line(
                row,
                "A repeated token is a verified-token cache hit; the list answers it from "
                "the container's memory (`max_staleness=30`). New tokens: Redis commands sent "
                "per verification of distinct tokens.",
            ),
            "",
            "| repeated token µs | with the list µs | added µs | round trips per new token |",
            "|---:|---:|---:|---:|",
            f"| {row['repeated_us']:.2f} | {row['repeated_with_list_us']:.2f} "
            f"| {row['added_us']:.2f} | {row['round_trips_per_new_token']:.2f} |",
        ]
    lines += targets_table(verdicts)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return suite_main(__doc__ or "revocation", run, targets, render, argv)


if __name__ == "__main__":
    sys.exit(main())
