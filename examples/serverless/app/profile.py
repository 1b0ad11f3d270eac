"""A function with no API Gateway authorizer that verifies the bearer token itself.

This is the shape of a Function URL or ALB target, or of defense in depth:
``secauth.Guard`` with a verifier. Bad credentials get a sanitized 401 (RFC 9457
problem JSON, ``WWW-Authenticate: Bearer`` with RFC 6750 codes), never the token,
the error detail or a traceback; every response carries the security headers.
Browsers at ``https://app.example.com`` may call it (CORS preflight answered here).

Configuration: ``SECAUTH_ISSUER``, ``SECAUTH_AUDIENCE``, ``SECAUTH_JWKS_URI`` (and
``SECAUTH_ALLOW_HTTP=1`` for a plain-http JWKS URL on loopback, tests only).
"""

from __future__ import annotations

import os
from typing import Any

from secauth import ClaimMapper, Cors, Guard, JwtVerifier, Principal

VERIFIER = JwtVerifier(
    issuer=os.environ["SECAUTH_ISSUER"],
    audience=os.environ["SECAUTH_AUDIENCE"],
    jwks_uri=os.environ["SECAUTH_JWKS_URI"],
    allow_http=os.environ.get("SECAUTH_ALLOW_HTTP") == "1",
)

guard = Guard(
    VERIFIER,
    claims=ClaimMapper(tenant_claim="tenant"),
    cors=Cors(allow_origins=["https://app.example.com"], allow_credentials=True),
)


@guard
def profile(event: dict[str, Any], context: object, principal: Principal) -> dict[str, Any]:
    """GET /profile: 200 with the verified subject and tenant (an empty JSON shorthand)."""
    return {"sub": principal.id, "tenant": principal.tenant}
