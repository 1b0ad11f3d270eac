"""Lambda authorizers of the example app, built with ``secauth.Authorizer``.

Configuration comes from the environment: ``SECAUTH_ISSUER``, ``SECAUTH_AUDIENCE``,
``SECAUTH_JWKS_URI`` (and ``SECAUTH_ALLOW_HTTP=1`` to allow a plain-http JWKS URL on
loopback, for the end-to-end tests only).

* ``token_authorizer``: REST TOKEN authorizer, result caching on (300 s), so its
  policies cover every route the caller may call (``cache_ttl=300``).
* ``request_authorizer``: REST REQUEST authorizer, no caching.
* ``http_authorizer``: HTTP API payload 2.0 with simple responses.

Every decision is printed as one JSON line (``{"secauth": "decision", ...}``, the
Authorizer's default ``decision_log="stdout"``), never with the token.
"""

from __future__ import annotations

import os

from secauth import Authorizer, ClaimMapper, JwtVerifier, Routes, authenticated, roles, scopes

ROUTES = Routes(
    {
        "GET /orders": roles("reader", "admin") | scopes("orders:read"),
        "DELETE /users/{id}": roles("admin"),
        "GET /whoami": authenticated(),
        "GET /request/whoami": authenticated(),
        "GET /v2/whoami": authenticated(),
        # guarded backends (app/guarded.py) re-check these rules themselves
        "GET /guarded/orders/{id}": roles("reader", "admin"),
        "GET /v2/guarded": authenticated(),
    },
    # Every function here has its own route: nothing routes again behind {proxy+}, so
    # HTTP API requests are decided only as the route API Gateway ran.
    integration_per_route=True,
)
CLAIMS = ClaimMapper(tenant_claim="tenant")


def _verifier() -> JwtVerifier:
    return JwtVerifier(
        issuer=os.environ["SECAUTH_ISSUER"],
        audience=os.environ["SECAUTH_AUDIENCE"],
        jwks_uri=os.environ["SECAUTH_JWKS_URI"],
        allow_http=os.environ.get("SECAUTH_ALLOW_HTTP") == "1",
    )


# Built in the init phase; keys are fetched on first use and cached.
VERIFIER = _verifier()
_CACHED = Authorizer(
    VERIFIER, routes=ROUTES, claims=CLAIMS, cache_ttl=300
)
_UNCACHED = Authorizer(
    VERIFIER, routes=ROUTES, claims=CLAIMS, api="rest"
)
_SIMPLE = Authorizer(
    VERIFIER, routes=ROUTES, claims=CLAIMS, simple_responses=True
)

token_authorizer = _CACHED.handler
request_authorizer = _UNCACHED.handler
http_authorizer = _SIMPLE.handler
