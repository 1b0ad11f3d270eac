"""The parties of the DPoP tests (test_dpop, test_dpop_nonce, test_review3_dpop): an
issuer's key, a client's DPoP key, the API's URL, a verifier, a token bound to the
client's key, and a clock a test can move."""

from __future__ import annotations

import time
from typing import Any

from secauth import JwtVerifier
from secauth.testing import KeyPair
from secauth.testing_dpop import DpopKey

ISS, AUD = "https://idp.example.com/", "orders-api"
ISSUER = KeyPair.generate("ES256", kid="idp-1")
CLIENT = DpopKey.generate("ES256")
HOST = "https://abcdef123.execute-api.us-east-1.amazonaws.com"
URL = f"{HOST}/orders/7"  # an HTTP API's $default stage: the raw path is the path
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [ISSUER.public_jwk]})


def token(key: DpopKey | None = CLIENT, **claims: Any) -> str:
    """An access token of ISSUER for AUD, bound to ``key`` (None: a plain bearer token)."""
    # A day: module-level tokens (TOKEN) outlive a whole suite's run, however long it grows.
    body = {"iss": ISS, "aud": AUD, "sub": "ann", "exp": int(time.time()) + 86_400, **claims}
    return ISSUER.sign(key.bind(body) if key is not None else body)


TOKEN = token()


class Clock:
    """A clock the test moves (proof ages, nonce windows)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
