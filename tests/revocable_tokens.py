"""What the tests of revocation behind a trusting Guard share (``test_revocation_trust_mode``,
reviews 73 and 74): an issuer of revocable tokens (an ``iat`` and an ``exp``), its verifier
with or without a list, and a list in memory that keeps no verdict.
"""

from __future__ import annotations

import time
from typing import Any

from secauth import JwtVerifier
from secauth.revocation import Revocations
from secauth.revocation_stores import MemoryRevocationStore
from secauth.testing import KeyPair


class RevocableIssuer:
    """An issuer (``iss``, ``aud``) signing with its own ES256 key pair."""

    def __init__(self, iss: str, aud: str = "orders-api") -> None:
        self.iss, self.aud = iss, aud
        self.pair = KeyPair.generate("ES256", kid=iss)

    def verifier(self, listed: Revocations | None = None) -> JwtVerifier:
        """Its verifier, consulting ``listed`` when given."""
        return JwtVerifier(issuer=self.iss, audience=self.aud,
                           jwks={"keys": [self.pair.public_jwk]}, revocations=listed)  # fmt: skip

    def token(self, sub: str = "ann", *, lifetime: int = 600, **claims: Any) -> str:
        """A token for ``sub`` issued now; ``claims`` add to or replace (None: leave out)
        its own, ``iss`` included."""
        now = int(time.time())
        body = {"iss": self.iss, "aud": self.aud, "sub": sub, "iat": now, "exp": now + lifetime,
                **claims}  # fmt: skip
        return self.pair.sign({k: v for k, v in body.items() if v is not None})


def revocation_list(store: Any = None, **options: Any) -> Revocations:
    """A list on ``store`` (default: in memory) for tokens of an hour at most, that asks
    the store on every check unless ``max_staleness`` says otherwise."""
    options.setdefault("max_staleness", 0)
    return Revocations(store or MemoryRevocationStore(), max_token_lifetime=3600, **options)
