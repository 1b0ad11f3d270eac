"""Lambda authorizers of the SAM example (``../template.yaml``), built on ``secauth.Authorizer``.

Configuration comes from the environment, which the template sets:

* ``SECAUTH_ISSUER``, ``SECAUTH_AUDIENCE``: the exact ``iss`` and the accepted ``aud``;
* ``SECAUTH_JWKS_URI``: the issuer's JWKS URL; or ``SECAUTH_JWKS``: a JWKS as JSON
  (static keys, no network: local runs and tests);
* ``SECAUTH_TOKEN_CACHE_TTL``: the TOKEN authorizer's result TTL, the same number as its
  ``ReauthorizeEvery`` in the template (both come from the ``TokenCacheTtl`` parameter);
* ``SECAUTH_API_KEYS_TABLE``: the DynamoDB table of partner API keys (hashes only).

Three authorizers:

* ``token_authorizer``: REST TOKEN, cached per token, so each policy covers every route
  of ``TOKEN_ROUTES`` the caller may call (``cache_ttl`` = the TTL);
* ``request_authorizer``: REST REQUEST, not cached: a partner API key (``x-api-key``,
  returned as ``usageIdentifierKey`` for the usage plan) or a bearer token;
* ``http_authorizer``: HTTP API, payload 2.0, simple responses (``isAuthorized``).

Every decision is one JSON line on the ``secauth.decisions`` logger (never the token).
"""

from __future__ import annotations

import logging
import os

from secauth import (
    Authorizer,
    ClaimMapper,
    DynamoDBApiKeys,
    JwtVerifier,
    Routes,
    StaticKeys,
    authenticated,
    roles,
    scopes,
)

logging.getLogger("secauth.decisions").setLevel(logging.INFO)

# Each table lists every route its authorizer protects (a cached policy is derived from it).
TOKEN_ROUTES = Routes(
    {
        "GET /orders": roles("reader", "admin") | scopes("orders:read"),
        "DELETE /users/{id}": roles("admin"),
        "GET /whoami": authenticated(),
    }
)
PARTNER_ROUTES = Routes({"GET /partner/orders": roles("partner") | scopes("orders:read")})
HTTP_ROUTES = Routes({"GET /v2/whoami": authenticated()})
CLAIMS = ClaimMapper(tenant_claim="tenant")


def _verifier() -> JwtVerifier:
    issuer, audience = os.environ["SECAUTH_ISSUER"], os.environ["SECAUTH_AUDIENCE"]
    if os.environ.get("SECAUTH_JWKS"):
        return JwtVerifier(issuer=issuer, audience=audience, jwks=StaticKeys.from_env())
    return JwtVerifier(issuer=issuer, audience=audience, jwks_uri=os.environ["SECAUTH_JWKS_URI"])


def _api_keys() -> DynamoDBApiKeys | None:
    table = os.environ.get("SECAUTH_API_KEYS_TABLE")
    return DynamoDBApiKeys(table) if table else None


# Built in the init phase; hydrate() fetches the keys now rather than on the first request.
VERIFIER = _verifier()
VERIFIER.hydrate()
TOKEN_AUTHORIZER = Authorizer(
    VERIFIER,
    routes=TOKEN_ROUTES,
    claims=CLAIMS,
    cache_ttl=int(os.environ.get("SECAUTH_TOKEN_CACHE_TTL", "300")),
)
REQUEST_AUTHORIZER = Authorizer(
    VERIFIER, routes=PARTNER_ROUTES, claims=CLAIMS, api_keys=_api_keys(), api="rest"
)
HTTP_AUTHORIZER = Authorizer(
    VERIFIER, routes=HTTP_ROUTES, claims=CLAIMS, simple_responses=True, api="http"
)

token_authorizer = TOKEN_AUTHORIZER.handler
request_authorizer = REQUEST_AUTHORIZER.handler
http_authorizer = HTTP_AUTHORIZER.handler
