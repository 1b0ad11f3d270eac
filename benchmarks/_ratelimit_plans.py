"""Round trips of plan-chosen decisions (``RateLimiter.per_plan``) next to fixed ones,
for ``benchmarks/ratelimit.py`` (issue 17)."""

from __future__ import annotations

from typing import Any

from secauth.events import Request
from secauth.principal import Principal
from secauth.ratelimit import Limit, PlanFrom, RateLimiter


def plan_trips(store: Any, sent: list[int], probe: Request, counted: int) -> dict[str, Any]:
    """Round trips per decision of a plan limiter and of a fixed one on ``store``
    (``sent[0]`` counts the round trips), over ``counted`` decisions each, for 1000
    callers alternating between two plans of one limit each."""

    def caller(request: Request, principal: Principal | None) -> str | None:
        return None if principal is None else principal.id

    big = Limit(10**9, 3600)
    plans = RateLimiter.per_plan(
        {"free": big, "pro": Limit(10**9 - 1, 3600)},
        plan_of=PlanFrom.claim("plan"),
        key=caller,
        name="caller",
        store=store,
    )
    fixed = RateLimiter.per_key(big, key=caller, store=store, name="fixed")
    principals = [
        Principal(f"c{i}", claims={"plan": "pro" if i % 2 else "free"}) for i in range(1000)
    ]
    trips = {}
    for name, limiter in (("plan", plans), ("fixed", fixed)):
        for principal in principals[:10]:
            limiter.hit(probe, principal)
        before = sent[0]
        for i in range(counted):
            assert limiter.hit(probe, principals[i % len(principals)]).allowed
        trips[name] = (sent[0] - before) / counted
    return {
        "case": f"plan-chosen decision (per_plan; a fixed limiter: {trips['fixed']:.2f})",
        "plan": True,
        "secauth_round_trips": trips["plan"],
        "fixed_round_trips": trips["fixed"],
    }
