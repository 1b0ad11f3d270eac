"""Lambda authorizers of the example app (TEMPORARY: hand-built from ``JwtVerifier``).

This module is a stop-gap until ``secauth.Authorizer`` exists; it will then be
replaced by a few lines that configure ``secauth.Authorizer`` with the same route
table. Until then it shows what that class must get right, by hand:

* the verification config comes from the environment: ``SECAUTH_ISSUER``,
  ``SECAUTH_AUDIENCE``, ``SECAUTH_JWKS_URI`` (and ``SECAUTH_ALLOW_HTTP=1`` to allow
  a plain-http JWKS URL on loopback, for the end-to-end tests only);
* a REST authorizer answers 401 only by raising ``Exception("Unauthorized")``
  (exactly that message), for a missing or invalid token;
* a valid token without permission for the route gets an IAM policy that does not
  allow it, so API Gateway answers 403;
* the policy allows *every* route the principal may call, not only the current
  ``methodArn``: with authorizer caching on (``resultTtlInSeconds`` > 0) API Gateway
  reuses this policy for the principal's next requests to other routes, and a
  policy naming only the first route would turn them into 403s for the cache's life;
* context values are strings (REST authorizer contexts allow only string, number
  and boolean values).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from secauth import JwtVerifier, SecAuthError
from secauth.events import Request

Claims = Mapping[str, Any]


def _names(value: object) -> frozenset[str]:
    """A claim holding names: a space-separated string or a list of strings."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


def _roles(claims: Claims) -> frozenset[str]:
    return _names(claims.get("roles", claims.get("cognito:groups")))


def _scopes(claims: Claims) -> frozenset[str]:
    return _names(claims.get("scope", claims.get("scp")))


def _anyone(claims: Claims) -> bool:
    return True


def _may_read_orders(claims: Claims) -> bool:
    return bool({"admin", "reader"} & _roles(claims)) or "orders:read" in _scopes(claims)


def _admin(claims: Claims) -> bool:
    return "admin" in _roles(claims)


# (verb, resource path as in an execute-api ARN, who may call it). ``*`` stands for a
# path parameter, as API Gateway matches it in a policy Resource.
ROUTES: tuple[tuple[str, str, Callable[[Claims], bool]], ...] = (
    ("GET", "/orders", _may_read_orders),
    ("DELETE", "/users/*", _admin),
    ("GET", "/whoami", _anyone),
    ("GET", "/request/whoami", _anyone),
)


def _verifier() -> JwtVerifier:
    return JwtVerifier(
        issuer=os.environ["SECAUTH_ISSUER"],
        audience=os.environ["SECAUTH_AUDIENCE"],
        jwks_uri=os.environ["SECAUTH_JWKS_URI"],
        allow_http=os.environ.get("SECAUTH_ALLOW_HTTP") == "1",
    )


# Built in the init phase; the JWKS is fetched on first use and cached.
VERIFIER = _verifier()


def _log(decision: str, **fields: Any) -> None:
    """One structured line per decision; never the token."""
    print(json.dumps({"secauth": "decision", "decision": decision, **fields}, sort_keys=True))


def _authenticate(event: object) -> tuple[Request, dict[str, Any]]:
    request = Request.from_event(event)
    return request, VERIFIER.verify(request.bearer_token())


def _context(claims: Claims) -> dict[str, str]:
    return {
        "sub": str(claims.get("sub", "")),
        "tenant": str(claims.get("tenant", "")),
        "roles": ",".join(sorted(_roles(claims))),
        # Not "scopes": serverless-offline overwrites the context keys "scopes",
        # "claims" and "principalId" in the backend's event with values of its own.
        "scope": " ".join(sorted(_scopes(claims))),
    }


def _policy(method_arn: str, claims: Claims) -> dict[str, Any]:
    """An IAM policy allowing every route of ``ROUTES`` that ``claims`` may call."""
    # arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{VERB}/{path...}
    api_and_stage = "/".join(method_arn.split("/", 2)[:2])
    allowed = [f"{api_and_stage}/{verb}{path}" for verb, path, rule in ROUTES if rule(claims)]
    statement = (
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": allowed}
        if allowed
        else {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": f"{api_and_stage}/*"}
    )
    return {"Version": "2012-10-17", "Statement": [statement]}


def _rest_authorizer(event: dict[str, Any], context: object) -> dict[str, Any]:
    try:
        request, claims = _authenticate(event)
        method_arn = request.method_arn
        if method_arn is None or not str(claims.get("sub", "")):
            raise ValueError("no methodArn in the event or no sub in the token")
    except SecAuthError as err:
        _log("unauthorized", reason=err.reason.value)
        raise Exception("Unauthorized") from None  # API Gateway wants exactly this
    except Exception as err:  # fail closed, and never let a traceback out
        _log("unauthorized", reason="unexpected_error", error=type(err).__name__)
        raise Exception("Unauthorized") from None
    _log("policy", sub=claims["sub"], method_arn=method_arn)
    return {
        "principalId": str(claims["sub"]),
        "policyDocument": _policy(method_arn, claims),
        "context": _context(claims),
    }


def token_authorizer(event: dict[str, Any], context: object) -> dict[str, Any]:
    """REST API TOKEN authorizer (``authorizationToken`` + ``methodArn``)."""
    return _rest_authorizer(event, context)


def request_authorizer(event: dict[str, Any], context: object) -> dict[str, Any]:
    """REST API REQUEST authorizer (the token comes from the ``Authorization`` header)."""
    return _rest_authorizer(event, context)


def http_authorizer(event: dict[str, Any], context: object) -> dict[str, Any]:
    """HTTP API Lambda authorizer, payload format 2.0 with simple responses.

    An HTTP API answers 401 by itself when the identity source is missing; for an
    invalid token a simple-response authorizer can only say ``isAuthorized: false``,
    which API Gateway turns into 403.
    """
    try:
        _, claims = _authenticate(event)
    except SecAuthError as err:
        _log("deny", reason=err.reason.value)
        return {"isAuthorized": False}
    except Exception as err:  # fail closed
        _log("deny", reason="unexpected_error", error=type(err).__name__)
        return {"isAuthorized": False}
    _log("allow", sub=claims.get("sub"))
    # Simple responses may carry any JSON value in the context.
    return {
        "isAuthorized": True,
        "context": {
            "sub": claims.get("sub"),
            "tenant": claims.get("tenant"),
            "roles": sorted(_roles(claims)),
            "scopes": sorted(_scopes(claims)),
        },
    }
