"""``TokenVerifier``: what the Authorizer and the Guard need of a verifier.

:class:`~secauth.verifier.JwtVerifier`, the Cognito and multi-issuer verifiers,
:class:`~secauth.alb.AlbVerifier` and the introspecting verifiers all have this shape;
so may a verifier of your own. ``revalidate`` (a cheap "still the same valid token?"
for the Authorizer's memo) and ``default_claims`` (the claim mapping to use when none is
given) are optional: without them the memo is off and the default mapping applies.

>>> from secauth import JwtVerifier
>>> from secauth.testing import KeyPair
>>> verifier = JwtVerifier(issuer="https://i/", audience="a",
...                        jwks={"keys": [KeyPair.generate("ES256").public_jwk]})
>>> isinstance(verifier, TokenVerifier)
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from secauth.overrides import defining_class, redefined

__all__ = ["RevalidatingVerifier", "TokenVerifier", "revalidator"]


@runtime_checkable
class TokenVerifier(Protocol):
    """Verifies a token and returns its claims; raises a SecAuthError otherwise."""

    def verify(self, token: str) -> dict[str, Any]: ...

    async def verify_async(self, token: str) -> dict[str, Any]: ...

    def hydrate(self, *, strict: bool = False) -> bool: ...


@runtime_checkable
class RevalidatingVerifier(TokenVerifier, Protocol):
    """A verifier that can also say cheaply whether a token it verified before is still
    valid (True), or that it cannot tell (False: verify it)."""

    def revalidate(self, token: str) -> bool: ...


def revalidator(verifier: object) -> Callable[[str], bool] | None:
    """``verifier.revalidate`` when it has one that vouches for its ``verify``, else None.
    The Authorizer's response memo and the Guard's principal memo reuse what they derived
    from a token only while it says True (the token is one it verified, with the same
    claims, still valid). A ``revalidate`` inherited from above the class that defines
    ``verify`` or ``verify_async`` (a subclass adding a check to one), or any of them set
    on the instance, cannot vouch for what they now check: None.

    >>> revalidator(object()) is None
    True
    """
    if not isinstance(verifier, RevalidatingVerifier):
        return None
    klass = type(verifier)
    vouching = defining_class(klass, "revalidate")
    if redefined(verifier, klass, ("verify", "verify_async", "revalidate")) or not all(
        issubclass(vouching, defining_class(klass, name)) for name in ("verify", "verify_async")
    ):
        return None
    return verifier.revalidate
