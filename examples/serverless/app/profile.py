"""A function with no API Gateway authorizer that verifies the bearer token itself.

This is the shape of a Function URL or ALB target, or of defense in depth. It is
TEMPORARY: it will use ``secauth.Guard`` once that exists. Until then it answers
401 with a small JSON body and ``WWW-Authenticate: Bearer`` (RFC 6750), never the
token, the error detail or a traceback.
"""

from __future__ import annotations

import json
import os
from typing import Any

from secauth import JwtVerifier, SecAuthError
from secauth.events import Request

VERIFIER = JwtVerifier(
    issuer=os.environ["SECAUTH_ISSUER"],
    audience=os.environ["SECAUTH_AUDIENCE"],
    jwks_uri=os.environ["SECAUTH_JWKS_URI"],
    allow_http=os.environ.get("SECAUTH_ALLOW_HTTP") == "1",
)


def _response(status: int, body: object, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store",
                    **(headers or {})},
        "body": json.dumps(body, sort_keys=True),
    }


def profile(event: dict[str, Any], context: object) -> dict[str, Any]:
    """GET /profile: 200 with the verified subject, or 401/503 without detail."""
    try:
        claims = VERIFIER.verify(Request.from_event(event).bearer_token())
    except SecAuthError as err:
        print(json.dumps({"secauth": "decision", "decision": "reject", "reason": err.reason.value}))
        headers = {}
        if err.status == 401:  # RFC 6750: no error code when no credentials came at all
            missing = err.reason.value == "missing_token"
            headers["WWW-Authenticate"] = "Bearer" if missing else 'Bearer error="invalid_token"'
        return _response(err.status, {"status": err.status, "title": err.public_message,
                                      "reason": err.reason.value}, headers)
    return _response(200, {"sub": claims.get("sub"), "tenant": claims.get("tenant")})
