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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from policy_tables import (
    PREFIX,
    VERBS,
    iam_allows,
    instances,
    path,
    principal,
    request_path,
    table,
)

from secauth.events import Request
from secauth.policy import MethodArn, PolicyBuilder, exact_document


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=2000)
    parser.add_argument("--arns", type=int, default=150, help="random ARNs per table")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--legacy", action="store_true")
    options = parser.parse_args()
    rng = random.Random(options.seed)  # noqa: S311 (test data, not secrets)
    over = fallbacks = arns = allowed_arns = 0
    planning = 0.0
    example = None
    for _ in range(options.tables):
        routes = table(rng)
        who = principal(rng)
        verb = rng.choice(VERBS)
        first = request_path(rng, routes, who.tenant)
        decided = routes.decide(who, verb, first).allowed
        request = Request.from_event(
            {"type": "TOKEN", "authorizationToken": "Bearer t", "methodArn": PREFIX + verb + first}
        )
        started = time.perf_counter()
        if options.legacy:
            from secauth.policy import PolicyConflict

            builder = PolicyBuilder(cache_ttl=300, routes=routes.route_keys())
            try:
                doc = builder.policy(
                    who, request, allow=decided, allowed_routes=routes.allowed_routes(who)
                )
            except PolicyConflict:
                doc = builder.policy(who, request, allow=decided, exact=True)
        else:
            doc = PolicyBuilder(cache_ttl=300, routes=routes).policy(who, request, allow=decided)
        planning += time.perf_counter() - started
        arn = request.method_arn
        assert arn is not None
        fallbacks += doc == exact_document(MethodArn.parse(arn), decided)
        document = doc.to_dict()
        parts = [rng.choice(VERBS) + path(rng) for _ in range(options.arns)]
        for statement in document["Statement"]:
            if statement["Effect"] == "Allow":
                for resource in statement["Resource"]:
                    parts += instances(rng, resource.removeprefix(PREFIX), 12)
        for part in parts:
            verb_, slash, rest = part.partition("/")
            if verb_ not in VERBS or not slash:
                continue
            arns += 1
            if iam_allows(document, PREFIX + part):
                allowed_arns += 1
                if not routes.decide(who, verb_, "/" + rest).allowed:
                    over += 1
                    example = example or (part, routes.route_keys(), repr(who))
    print(f"tables and principals: {options.tables} (seed {options.seed})")
    print(f"ARNs judged: {arns} ({allowed_arns} allowed by the cached policies)")
    print(f"over-allows (policy allows, Routes.decide denies): {over}")
    if example:
        print(f"  e.g. {example}")
    print(
        f"exact-ARN fallbacks: {fallbacks} of {options.tables} ({100 * fallbacks / options.tables:.1f}%)"
    )
    print(f"planning: {1000 * planning / options.tables:.2f} ms per table on average")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
