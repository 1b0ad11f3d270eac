"""What the access-rule reviews (86 to 93) share: one issuer and its key, a verifier for it, the
tenant claim mapper, a token maker and the status a guarded handler answers with."""

from __future__ import annotations

from typing import Any

from secauth import Guard, JwtVerifier
from secauth.principal import ClaimMapper, Principal
from secauth.testing import KeyPair

ISS = "https://idp.example.com/"
PAIR = KeyPair.generate("ES256", kid="k1")
VERIFIER = JwtVerifier(issuer=ISS, audience="api", jwks={"keys": [PAIR.public_jwk]})
CLAIMS = ClaimMapper(tenant_claim="tenant")
ANON = Principal.anonymous()


def token(**claims: Any) -> str:
    """A token for ``ann`` of tenant ``acme``, good until 2096; ``claims`` override."""
    base = {"iss": ISS, "aud": "api", "sub": "ann", "tenant": "acme", "exp": 4_000_000_000}
    return PAIR.sign({**base, **claims})


def run(guard_: Guard, event: dict[str, Any]) -> int:
    """The status a guarded handler answers ``event`` with (200: it ran)."""
    handler = guard_(lambda event, context, principal: {"statusCode": 200, "body": principal.id})
    response: Any = handler(event, None)
    return int(response["statusCode"])
