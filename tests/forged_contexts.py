"""What the reviews of forged authorizer contexts share (reviews 56 to 58): an issuer
whose tokens carry a tenant, a Guard that both verifies and trusts, a forged admin
context (nothing in it is signed), an echo handler, and the owner-only rule.
"""

from __future__ import annotations

from typing import Any

from secauth import Guard, JwtVerifier, Principal
from secauth.errors import Reason
from secauth.principal import ClaimMapper
from secauth.rules import AccessContext, Denial, Rule
from secauth.testing import KeyPair

ISS, AUD = "https://idp.example/", "orders-api"
PAIR = KeyPair.generate("ES256", kid="forged-contexts")
CLAIMS = ClaimMapper(tenant_claim="tenant")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})


def token(sub: str, *, tenant_id: str = "acme", role_names: tuple[str, ...] = (),
          **claims: Any) -> str:  # fmt: skip
    """A valid token of ``ISS`` for ``sub`` in ``tenant_id`` with ``role_names``."""
    return PAIR.sign({"iss": ISS, "aud": AUD, "sub": sub, "tenant": tenant_id,
                      "roles": list(role_names), "exp": 4_000_000_000, **claims})  # fmt: skip


def forged_context(sub: str = "root") -> dict[str, Any]:
    """What a caller who writes the whole event puts there: an admin of acme, our own
    issuer, an expiry far ahead, as a REST authorizer context (``principalId`` too)."""
    admin = Principal(sub, tenant="acme", roles={"admin"}, issuer=ISS,
                      claims={"exp": 4_000_000_000})  # fmt: skip
    return {"principalId": sub, **admin.to_context()}


def both(**options: Any) -> Guard:
    """A Guard that verifies tokens and trusts the authorizer's context."""
    return Guard(VERIFIER, claims=CLAIMS, trust_authorizer=True, decision_log=None, **options)


def echo(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    """A handler answering with its caller's id."""
    return {"statusCode": 200, "body": principal.id}


class OwnerOnly(Rule):
    """``/users/{userId}`` resources of the caller only (decided from the principal)."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        if context.params.get("userId") == principal.id:
            return None
        return Denial(Reason.FORBIDDEN, "not the owner")

    def bindings(self, principal: Principal) -> list[dict[str, str]] | None:
        return [{"userId": principal.id}]
