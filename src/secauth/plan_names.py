"""Usage plan names, as API keys (``ApiKeyEntry.plan``) and plan rate limits
(``RateLimiter.per_plan``) spell them: one rule, in a module that imports nothing heavy,
so a rate limiter's cold start does not pay for the API-key stores.

>>> plan_problem("pro") is None
True
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["PLAN_NAME", "plan_problem"]

#: A plan name (``ApiKeyEntry.plan``, the plans of ``RateLimiter.per_plan``).
PLAN_NAME: Final = re.compile(r"[A-Za-z0-9._-]{1,64}", re.ASCII)


def plan_problem(plan: object) -> str | None:
    """Why ``plan`` is not a plan name, or None when it is one.

    >>> plan_problem("pro") is None, plan_problem("gold plan")
    (True, "a plan name is 1-64 letters, digits, '.', '_' or '-'; not 'gold plan'")
    """
    if isinstance(plan, str) and PLAN_NAME.fullmatch(plan):
        return None
    return f"a plan name is 1-64 letters, digits, '.', '_' or '-'; not {plan!r}"
