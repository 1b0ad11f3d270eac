"""Guarded backends of the example app (``secauth.Guard``).

* ``orders`` (REST, behind the cached TOKEN authorizer) and ``orders_v2`` (HTTP API,
  behind the payload 2.0 simple-response authorizer) **trust** the principal the
  secauth authorizer put in the request context, after checking it is there and well
  formed, and apply their own route rules again (defense in depth).
* ``limited`` (REST, public, no authorizer) has a small per-IP rate limit in a shared
  Redis store (``SECAUTH_REDIS_URL``): serverless-offline and Lambda both run many
  processes, so an in-memory count would not hold. The 4th request within a minute is
  a 429 with ``Retry-After``.

Every decision is printed as one JSON line (``{"secauth":"decision",...}``).
"""

from __future__ import annotations

import os
from typing import Any

from secauth import Guard, JwtVerifier, Principal, RateLimiter, Routes, public, roles
from secauth.ratelimit import RedisStore

TRUSTED = Guard(
    routes=Routes(
        {
            "GET /guarded/orders/{id}": roles("reader", "admin"),
            "GET /v2/guarded": roles("reader", "admin"),
        },
        integration_per_route=True,  # one function per route (see authorizers.py)
    )
)


@TRUSTED
def orders(event: dict[str, Any], context: object, principal: Principal) -> dict[str, Any]:
    """GET /guarded/orders/{id}: the order, for readers and admins of any tenant."""
    order_id = (event.get("pathParameters") or {}).get("id")
    return {"order": order_id, "by": principal.id, "tenant": principal.tenant,
            "roles": sorted(principal.roles)}  # fmt: skip


@TRUSTED
def orders_v2(event: dict[str, Any], context: object, principal: Principal) -> dict[str, Any]:
    """GET /v2/guarded on the HTTP API: the principal from ``authorizer.lambda``."""
    return {"by": principal.id, "tenant": principal.tenant, "roles": sorted(principal.roles)}


LIMITED = Guard(
    JwtVerifier(
        issuer=os.environ["SECAUTH_ISSUER"],
        audience=os.environ["SECAUTH_AUDIENCE"],
        jwks_uri=os.environ["SECAUTH_JWKS_URI"],
        allow_http=os.environ.get("SECAUTH_ALLOW_HTTP") == "1",
    ),
    routes=Routes({"GET /limited": public()}),
    rate_limit=RateLimiter.per_ip(
        "3/minute",
        algorithm="fixed_window",
        store=RedisStore(url=os.environ.get("SECAUTH_REDIS_URL", "redis://127.0.0.1:6379/0")),
        on_store_error="closed",
    ),
)


@LIMITED
def limited(event: dict[str, Any], context: object, principal: Principal) -> dict[str, Any]:
    """GET /limited: public, 3 requests per minute per client IP."""
    return {"caller": principal.kind}
