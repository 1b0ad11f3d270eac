"""Differential test of cached authorizer policies against the route table.

For random tables (verbs incl. ``ANY``, literals, ``{param}``, ``{proxy+}``, overlapping
routes, ``default=``, tenant and role rules, a custom rule with bindings, a rule that reads
the request, odd tenant values) and random principals, the policy ``PolicyBuilder``
returns with ``cache_ttl=300`` is judged by IAM's rules (an independent matcher,
tests/policy_tables.py) on method ARNs with paths of any length: random paths from a pool
of literals, case and percent variants, tenant values and refused spellings, and
instances of the policy's own patterns whose ``*`` span several segments. Every ARN the
policy allows must be allowed by ``Routes.decide`` (the rules' own ``check``, not their
bindings). The first request is answered as decided.

A long run with numbers: ``python scripts/cached_policy_report.py --tables 20000``.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_tables import judge, table


def check_one(rng: random.Random, arns: int = 150) -> None:
    judged = judge(rng, arns=arns)
    assert judged.first_ok, "the first request is answered as decided"
    assert not judged.over_allows, (
        f"over-allow: {judged.over_allows[:3]} for {judged.principal!r} under "
        f"{judged.routes.route_keys()} (default {judged.routes.default!r})"
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_cached_policies_never_allow_what_the_table_denies(rng: random.Random) -> None:
    check_one(rng)


def test_the_findings_of_the_attack_are_in_the_generated_space() -> None:
    """The generator reaches the shapes of the reported attacks (a parameter before the
    tenant, a default rule, variants of literals): guards the generator itself."""
    rng = random.Random(7)
    seen_default = seen_param_before_tenant = False
    for _ in range(400):
        routes = table(rng)
        seen_default |= routes.default is not None
        for key in routes.route_keys():
            seen_param_before_tenant |= key.count("{") >= 2
    assert seen_default
    assert seen_param_before_tenant
