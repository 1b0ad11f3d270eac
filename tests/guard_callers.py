"""The issuer, verifier and callers the Guard's route-reading tests share (reviews 28 to
31): tokens of an acme member and an acme admin, and ``status`` for a guarded handler's
answer to an event."""

from __future__ import annotations

from typing import Any

from secauth import Guard, JwtVerifier, Routes
from secauth.principal import ClaimMapper
from secauth.testing import KeyPair
from secauth.token_sources import TokenSource

ISS = "https://idp.guard-routes.example/"
AUD = "guard-routes-api"
PAIR = KeyPair.generate("ES256", kid="gr")
JWT = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
MAPPER = ClaimMapper(tenant_claim="tenant")
CUSTOM = "api.guard-routes.example"
EXECUTE_API = "abcdef123.execute-api.us-east-1.amazonaws.com"


def token(sub: str = "alice", **claims: Any) -> str:
    """A valid token for ``JWT``."""
    body: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": sub, "exp": 4_000_000_000}
    body.update(claims)
    return PAIR.sign(body)


ACME = token(tenant="acme")
ADMIN = token("root", tenant="acme", roles=["admin"])


def status(routes: Routes | None, event: dict[str, Any], **options: Any) -> int:
    """The status code of a guarded handler's answer to ``event``."""
    options.setdefault("claims", MAPPER)
    guard = Guard(JWT, routes=routes, decision_log=None, **options)
    return int(guard(lambda e, c: {"statusCode": 200, "body": "ok"})(event, None)["statusCode"])


# A partner's issuer, whose tokens a route guard reads from a header of its own.
PARTNER_ISS = "https://idp.partner.example/"
PARTNER_PAIR = KeyPair.generate("ES256", kid="partner")
PARTNER_JWT = JwtVerifier(issuer=PARTNER_ISS, audience=AUD, jwks={"keys": [PARTNER_PAIR.public_jwk]})
PARTNER = [TokenSource.header("x-partner-token")]
OTHER = [TokenSource.header("x-other-token")]


def partner_token(sub: str, **claims: Any) -> str:
    """A valid token of the partner's issuer."""
    body: dict[str, Any] = {"iss": PARTNER_ISS, "aud": AUD, "sub": sub, "exp": 4_000_000_000}
    body.update(claims)
    return PARTNER_PAIR.sign(body)
