"""``CombinedVerifier``: JWTs and opaque tokens behind one verifier. JWT-shaped tokens
(two dots or more: :func:`looks_like_jwt`) go to a :class:`~secauth.verifier.JwtVerifier`, every other
token to an :class:`~secauth.introspection.IntrospectionVerifier`; a JWT never leaves
the function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from secauth.errors import ConfigurationError
from secauth.introspection import IntrospectionVerifier
from secauth.token_verifier import revalidator

if TYPE_CHECKING:
    from secauth.claim_mapping import ClaimMapper
    from secauth.verifier import JwtVerifier, MultiIssuerVerifier

__all__ = ["CombinedVerifier", "looks_like_jwt"]


def looks_like_jwt(token: str) -> bool:
    """True for a token of two dots or more: a JWS (three segments), a JWE (five), or
    one respelled (a padded signature, a trailing dot). Such a token goes to the JWT
    verifier, which refuses what it cannot read: a JWT never leaves the function. Opaque
    tokens have no such shape.

    >>> looks_like_jwt("eyJh.eyJz.c2ln"), looks_like_jwt("eyJh.eyJz.c2ln==")
    (True, True)
    >>> looks_like_jwt("2YotnFZFEjr1zCsicMWpAA")
    False
    """
    return token.count(".") >= 2


class CombinedVerifier:
    """JWT-shaped tokens (see :func:`looks_like_jwt`) to ``jwt``, others to ``introspection``.

    >>> from secauth import JwtVerifier
    >>> from secauth.client_auth import ClientAuth
    >>> from secauth.testing import KeyPair
    >>> pair = KeyPair.generate("ES256", kid="k")
    >>> both = CombinedVerifier(
    ...     jwt=JwtVerifier(issuer="https://idp/", audience="api", jwks={"keys": [pair.public_jwk]}),
    ...     introspection=IntrospectionVerifier(issuer="https://idp/", audience="api",
    ...                                         client=ClientAuth.basic("api", "s3cret-value")))
    >>> both.verify(pair.sign({"iss": "https://idp/", "aud": "api", "exp": 4e9}))["iss"]
    'https://idp/'
    """

    def __init__(
        self,
        *,
        jwt: JwtVerifier | MultiIssuerVerifier,
        introspection: IntrospectionVerifier,
        default_claims: ClaimMapper | None = None,
    ) -> None:
        if not callable(getattr(jwt, "verify", None)):
            raise ConfigurationError("jwt must be a JwtVerifier (or a multi-issuer verifier)")
        if not isinstance(introspection, IntrospectionVerifier):
            raise ConfigurationError("introspection must be an IntrospectionVerifier")
        self._jwt = jwt
        self._introspection = introspection
        # The JWT side vouches for repeated tokens only when its revalidate can (revalidator).
        self._jwt_revalidate = revalidator(jwt)
        #: The claim mapping ``Authorizer`` and ``Guard`` use unless given ``claims=``.
        self.default_claims = default_claims

    @property
    def jwt(self) -> JwtVerifier | MultiIssuerVerifier:
        """The verifier of JWTs (read-only: the memo's trust was bound to it)."""
        return self._jwt

    @property
    def introspection(self) -> IntrospectionVerifier:
        """The verifier of opaque tokens (read-only)."""
        return self._introspection

    @property
    def issuer(self) -> str | None:
        """The introspection verifier's issuer (the JWT verifier has its own)."""
        return self.introspection.issuer

    @property
    def leeway(self) -> float:
        """The larger leeway of the two verifiers."""
        return max(self.jwt.leeway, self.introspection.leeway)

    def _pick(self, token: object) -> JwtVerifier | MultiIssuerVerifier | IntrospectionVerifier:
        return self.jwt if type(token) is str and looks_like_jwt(token) else self.introspection

    def hydrate(self, *, strict: bool = False) -> bool:
        """Hydrate both; True when both are ready."""
        ready = self.jwt.hydrate(strict=strict)
        return self.introspection.hydrate(strict=strict) and ready

    def verify(self, token: str) -> dict[str, Any]:
        return self._pick(token).verify(token)

    async def verify_async(self, token: str) -> dict[str, Any]:
        return await self._pick(token).verify_async(token)

    def revalidate(self, token: str) -> bool:
        """The JWT verifier's ``revalidate`` for a JWT (False when it cannot vouch for its
        ``verify``), the introspection verifier's for an opaque token."""
        picked = self._pick(token)
        if picked is self.introspection:
            return self.introspection.revalidate(token)
        return self._jwt_revalidate is not None and self._jwt_revalidate(token)
