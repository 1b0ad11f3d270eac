"""Rate limits per client IP, principal, tenant or API key, and abuse penalties.

Strategies (the algorithms) are separate from storages: one in-memory store and
two shared ones (Redis/Valkey, DynamoDB), each deciding in one atomic round trip.
See ``docs/ratelimit.md`` for the guarantees of each algorithm, IP extraction,
failure policies and headers.

Modules, one job each:

* :mod:`~secauth.ratelimit.limit`: ``Limit`` and the ``"100/minute"`` parser;
* :mod:`~secauth.ratelimit.windows`: calendar periods in UTC (``"10000/month"``);
* :mod:`~secauth.ratelimit.algorithms`: fixed window, sliding window counter, GCRA;
* :mod:`~secauth.ratelimit.keys`: key functions and client-IP extraction;
* :mod:`~secauth.ratelimit.result`: ``RateLimitResult`` and its headers;
* :mod:`~secauth.ratelimit.memory`, :mod:`~secauth.ratelimit.redis_store`,
  :mod:`~secauth.ratelimit.dynamodb_store`: the stores;
* :mod:`~secauth.ratelimit.policy`: failure policy, breaker, local deny cache;
* :mod:`~secauth.ratelimit.limiter`: ``RateLimiter`` and ``CombinedLimiter``;
* :mod:`~secauth.ratelimit.combined`: ``hit_limits`` (several limits on one request);
* :mod:`~secauth.ratelimit.plans`: ``PlanLimiter`` and ``PlanFrom`` (limits per plan);
* :mod:`~secauth.ratelimit.routes`: ``RouteLimits``, limits of their own for routes;
* :mod:`~secauth.ratelimit.penalties`: ``AbusePenalty``.

Example
-------
>>> from secauth.ratelimit import RateLimiter
>>> limiter = RateLimiter.combine(RateLimiter.per_ip("100/minute"),
...                               RateLimiter.per_principal("1000/hour"))
>>> len(limiter.limiters)
2
"""

from __future__ import annotations

from secauth._lazy import lazy_exports
from secauth.ratelimit.keys import ApiKey, ClientIp, by_principal, by_tenant, normalize_ip
from secauth.ratelimit.limit import ALGORITHMS, Limit
from secauth.ratelimit.limiter import CombinedLimiter, RateLimiter, hit_limits, hit_limits_async
from secauth.ratelimit.memory import MemoryStore
from secauth.ratelimit.penalties import AbusePenalty
from secauth.ratelimit.plans import PlanFrom, PlanLimiter
from secauth.ratelimit.policy import FAILURE_POLICIES
from secauth.ratelimit.result import RateLimitResult, Usage
from secauth.ratelimit.routes import RouteLimits
from secauth.ratelimit.store import Store, StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from secauth.ratelimit.dynamodb_store import AsyncDynamoDBStore, DynamoDBStore
    from secauth.ratelimit.redis_store import AsyncRedisStore, RedisStore

__all__ = [
    "ALGORITHMS",
    "FAILURE_POLICIES",
    "AbusePenalty",
    "ApiKey",
    "AsyncDynamoDBStore",
    "AsyncRedisStore",
    "ClientIp",
    "CombinedLimiter",
    "DynamoDBStore",
    "Limit",
    "MemoryStore",
    "PlanFrom",
    "PlanLimiter",
    "RateLimitResult",
    "RateLimiter",
    "RedisStore",
    "RouteLimits",
    "Store",
    "StoreError",
    "Usage",
    "by_principal",
    "by_tenant",
    "hit_limits",
    "hit_limits_async",
    "normalize_ip",
]

_LAZY = {
    "RedisStore": "secauth.ratelimit.redis_store",
    "AsyncRedisStore": "secauth.ratelimit.redis_store",
    "DynamoDBStore": "secauth.ratelimit.dynamodb_store",
    "AsyncDynamoDBStore": "secauth.ratelimit.dynamodb_store",
}


__getattr__ = lazy_exports("secauth.ratelimit", _LAZY, globals())
