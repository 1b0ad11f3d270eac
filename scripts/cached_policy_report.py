"""Long run of the cached-policy differential test, with numbers for the closing note.

    .venv/bin/python scripts/cached_policy_report.py --tables 20000 --seed 1

For each random table and principal (tests/policy_tables.py) it builds the cached policy
as the Authorizer does (cache_ttl=300), then judges ARNs with paths of any length under
IAM's rules and counts every ARN the policy allows that Routes.decide denies (an
over-allow; there must be none), how often the policy fell back to the exact method ARN,
and the planning time. ``--legacy`` drives the API of secauth before the planner rewrite
(route lists and allowed_routes, PolicyConflict -> exact ARN), to measure the old code
from a checkout of it on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from policy_tables import cached_policy, judge

from secauth.policy import PolicyBuilder


def legacy_policy(routes: Any, who: Any, request: Any, decided: bool) -> Any:
    """The cached policy as secauth built it before the planner rewrite."""
    from secauth.policy import PolicyConflict

    builder = PolicyBuilder(cache_ttl=300, routes=routes.route_keys())
    try:
        return builder.policy(
            who, request, allow=decided, allowed_routes=routes.allowed_routes(who)
        )
    except PolicyConflict:
        return builder.policy(who, request, allow=decided, exact=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tables", type=int, default=2000)
    parser.add_argument("--arns", type=int, default=150, help="random ARNs per table")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--legacy", action="store_true")
    options = parser.parse_args()
    rng = random.Random(options.seed)  # noqa: S311 (test data, not secrets)
    build = legacy_policy if options.legacy else cached_policy
    planning = 0.0

    def timed(*args: Any) -> Any:
        nonlocal planning
        started = time.perf_counter()
        try:
            return build(*args)
        finally:
            planning += time.perf_counter() - started

    over = fallbacks = judged = allowed = 0
    example = None
    for _ in range(options.tables):
        result = judge(rng, timed, options.arns)
        over += len(result.over_allows)
        fallbacks += result.exact
        judged += result.judged
        allowed += result.allowed
        if result.over_allows and example is None:
            example = (result.over_allows[0], result.routes.route_keys(), repr(result.principal))
    print(f"tables and principals: {options.tables} (seed {options.seed})")
    print(f"ARNs judged: {judged} ({allowed} allowed by the cached policies)")
    print(f"over-allows (policy allows, Routes.decide denies): {over}")
    if example:
        print(f"  e.g. {example}")
    share = 100 * fallbacks / options.tables
    print(f"exact-ARN fallbacks: {fallbacks} of {options.tables} ({share:.1f}%)")
    print(f"planning: {1000 * planning / options.tables:.2f} ms per table on average")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
