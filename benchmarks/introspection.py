"""Opaque tokens (RFC 7662): the cost of an introspection cache hit, and calls per token.

Contenders, in this process with interleaved rounds (see ``_harness``):

* ``JwtVerifier repeated token``: an ES256 JWT, a verified-token cache hit (the anchor);
* ``IntrospectionVerifier cache hit``: an opaque token from panva's oidc-provider (npm,
  started on loopback by tests/introspection_services.py), answered from the cache.

Calls are counted at a loopback proxy in front of the authorization server: N sequential
verifications of one token, and 50 threads on one cold token, must each make exactly one
introspection call. Needs oidc-provider (``make services-deps``); without it the suite
reports SKIP, except under ``CI=true``, where it fails.

Run alone: ``python benchmarks/introspection.py [--quick]``; ``make bench`` includes it.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for extra in (HERE, ROOT / "tests", ROOT / "tests" / "ratelimit"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from _harness import Case, Feed, Plan, measure, method_line, suite_main, targets_table  # noqa: E402

FULL = Plan(rounds=25, round_seconds=0.03, min_n=200, max_n=200_000)
QUICK = Plan(rounds=3, round_seconds=0.002, min_n=10, max_n=100, probe=5)
HIT_TARGET_US = 5.0
HIT = f"introspection cache hit <= {HIT_TARGET_US:g} us"
ONE_CALL = "introspection: N verifications of one token -> 1 call"
ONE_CALL_THREADS = "introspection: 50 threads on one cold token -> 1 call"


def run(quick: bool, *, wall: bool = False) -> list[dict[str, Any]]:
    """Rows: the cache hit's µs (and a JWT cache hit's), calls per N verifications."""
    from introspection_services import ORDERS, OidcProvider, Proxy, missing

    why = missing()
    if why is not None:
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"{why} (CI=true: scripts/services-install.sh must install it)")
        return [{"row": "introspection", "skipped": why}]

    from secauth import JwtVerifier
    from secauth.introspection import IntrospectionVerifier
    from secauth.testing import KeyPair

    plan = QUICK if quick else FULL
    if wall:
        plan = Plan(plan.rounds, plan.round_seconds, plan.min_n, plan.max_n, plan.probe, "wall")
    op = OidcProvider().start()
    proxy = Proxy(op.port)
    try:

        def verifier() -> IntrospectionVerifier:
            return IntrospectionVerifier(
                issuer=op.issuer,
                audience=ORDERS,
                client=op.client("client_secret_basic"),
                endpoint=proxy.introspection_endpoint,
                allow_http=True,
            )

        opaque = verifier()
        token = op.mint()
        pair = KeyPair.generate("ES256", kid="k1")
        jwt = JwtVerifier(issuer="https://idp/", audience="api", jwks={"keys": [pair.public_jwk]})
        signed = pair.sign({"iss": "https://idp/", "aud": "api", "exp": 4e9, "sub": "u"})
        for _ in range(3):
            jwt.verify(signed)  # cached from the second verification
        n = 100 if quick else 10_000
        proxy.reset()
        for _ in range(n):
            opaque.verify(token)
        calls = proxy.count()
        timings = measure(
            [
                Case("JwtVerifier repeated token", jwt.verify, Feed([signed])),
                Case("IntrospectionVerifier cache hit", opaque.verify, Feed([token])),
            ],
            plan,
        )
        cold, cold_token = verifier(), op.mint()
        barrier = threading.Barrier(50)

        def worker() -> None:
            barrier.wait()
            cold.verify(cold_token)

        proxy.reset()
        threads = [threading.Thread(target=worker) for _ in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        threaded_calls = proxy.count()
    finally:
        proxy.stop()
        op.stop()
    hit = timings["IntrospectionVerifier cache hit"]
    return [
        {
            "row": "introspection",
            "jwt_repeated_us": timings["JwtVerifier repeated token"].median_us,
            "cache_hit_us": hit.median_us,
            "verifications": n,
            "calls": calls,
            "threaded_calls": threaded_calls,
            "rounds": hit.rounds,
            "clock": plan.clock,
            "quick": quick,
        }
    ]


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets: a cache hit within 5 µs; one call per token."""
    row = rows[0]
    if "skipped" in row:
        return [
            {"target": t, "status": "SKIP", "measured": row["skipped"]}
            for t in (HIT, ONE_CALL, ONE_CALL_THREADS)
        ]
    return [
        {
            "target": HIT,
            "status": "PASS" if row["cache_hit_us"] <= HIT_TARGET_US else "FAIL",
            "measured": f"{row['cache_hit_us']:.2f} us (JWT cache hit "
            f"{row['jwt_repeated_us']:.2f} us)",
        },
        {
            "target": ONE_CALL,
            "status": "PASS" if row["calls"] == 1 else "FAIL",
            "measured": f"{row['calls']} call(s) for {row['verifications']} verifications",
        },
        {
            "target": ONE_CALL_THREADS,
            "status": "PASS" if row["threaded_calls"] == 1 else "FAIL",
            "measured": f"{row['threaded_calls']} call(s)",
        },
    ]


def render(rows: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> str:
    """A markdown section: cache-hit µs next to a JWT cache hit, calls counted."""
    row = rows[0]
    lines = ["## Opaque tokens: introspection cache (oidc-provider on loopback)", ""]
    if "skipped" in row:
        lines.append(f"Not measured: {row['skipped']}.")
    else:
        lines += [
            method_line(
                row,
                "Calls counted at a loopback proxy in front of the authorization server.",
            ),
            "",
            "| JWT cache hit µs | introspection cache hit µs | verifications | calls "
            "| calls, 50 threads cold |",
            "|---:|---:|---:|---:|---:|",
            f"| {row['jwt_repeated_us']:.2f} | {row['cache_hit_us']:.2f} "
            f"| {row['verifications']} | {row['calls']} | {row['threaded_calls']} |",
        ]
    lines += targets_table(verdicts)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return suite_main(__doc__ or "introspection", run, targets, render, argv)


if __name__ == "__main__":
    sys.exit(main())
