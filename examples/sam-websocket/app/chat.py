"""A browser chat over an API Gateway WebSocket API (``../template.yaml``), secured by secauth.

Browsers cannot set an ``Authorization`` header on a WebSocket. The client offers its
token as a subprotocol, ``new WebSocket(url, ["bearer", token])``, or, where a client
cannot, in the query string (``wss://.../prod?token=...``). Four functions:

* ``authorize``: the ``$connect`` authorizer; reads the token from either place (one
  of them only: both is ``ambiguous_credentials``) and checks the ``$connect`` rule;
* ``connect``: the ``$connect`` integration; it must select the ``bearer`` subprotocol
  the browser offered (an authorizer cannot set response headers), or the browser
  drops the connection;
* ``message`` (custom route ``sendmessage`` and ``$default``) and ``disconnect``:
  guarded by the principal the ``$connect`` authorizer put in ``requestContext.authorizer``
  (API Gateway passes it with every event of the connection).

Configuration comes from the environment: ``SECAUTH_ISSUER``, ``SECAUTH_AUDIENCE``, and
``SECAUTH_JWKS_URI`` (or ``SECAUTH_JWKS``: static keys, for local runs and tests).
"""

from __future__ import annotations

import json
import os
from typing import Any

from secauth import (
    Authorizer,
    Guard,
    JwtVerifier,
    Principal,
    Routes,
    StaticKeys,
    authenticated,
    roles,
)
from secauth.token_sources import TokenSource

PROTOCOL = TokenSource.websocket_protocol()  # Sec-WebSocket-Protocol: bearer, <token>
ROUTES = Routes(
    {
        "$connect": authenticated(),
        "sendmessage": roles("member"),
        "$default": authenticated(),
        "$disconnect": authenticated(),
    }
)


def _verifier() -> JwtVerifier:
    issuer, audience = os.environ["SECAUTH_ISSUER"], os.environ["SECAUTH_AUDIENCE"]
    if os.environ.get("SECAUTH_JWKS"):
        return JwtVerifier(issuer=issuer, audience=audience, jwks=StaticKeys.from_env())
    return JwtVerifier(issuer=issuer, audience=audience, jwks_uri=os.environ["SECAUTH_JWKS_URI"])


authorizer = Authorizer(
    _verifier(), routes=ROUTES, token_sources=[PROTOCOL, TokenSource.query("token")]
)
authorizer.hydrate()  # fetch keys in the init phase
authorize = authorizer.handler
guard = Guard(routes=ROUTES)  # trusts the $connect authorizer's principal


@guard
def connect(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    """``$connect``: accept, selecting the ``bearer`` subprotocol the browser offered."""
    return {"statusCode": 200, "headers": PROTOCOL.protocol_echo(event)}


@guard
def message(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    """``sendmessage`` (members only) and ``$default``: answer who sent what."""
    body = json.loads(event.get("body") or "{}")
    reply = {"from": principal.id, "route": event["requestContext"]["routeKey"],
             "data": body.get("data")}  # fmt: skip
    return {"statusCode": 200, "body": json.dumps(reply)}


@guard
def disconnect(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    """``$disconnect``: clean up the caller's connection (nothing to do here)."""
    return {"statusCode": 200}
