"""Review finding: a Cognito "sign out everywhere" misses the pool's other issuers.

``JwtVerifier.cognito`` accepts one user pool under several issuers (both issuer formats,
``cognito-idp.`` and ``issuer-cognito-idp.``, and each replica Region); they are one pool,
one user namespace (same ``sub``). Revocation entries are keyed by the exact issuer string
(src/secauth/revocation.py, ``revocation_keys``/``_key``), and nothing maps a Cognito
pool's issuers onto one another. So

    revocations.revoke_subject(verifier.issuer, sub)   # sign "ann" out everywhere

refuses ann's tokens minted under the home Region's original issuer only: a token of the
same user minted under the updated issuer format (a pool that switched format, tokens
still live) or by a replica Region keeps passing the very verifier that was given the
revocation list. An attacker holding such a token survives the sign-out.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from secauth import JwtVerifier
from secauth.errors import TokenRevoked
from secauth.revocation import Revocations
from secauth.revocation_stores import MemoryRevocationStore
from secauth.testing_cognito import LocalCognito

REPLICA = "eu-central-1"
SUB = "ann-0000-1111"


@pytest.fixture
def pool() -> Iterator[LocalCognito]:
    with LocalCognito(regions=[REPLICA]) as local:
        yield local


@pytest.mark.parametrize(
    ("region", "issuer_format"),
    [(None, "updated"), (REPLICA, "original"), (REPLICA, "updated")],
)
def test_signed_out_subject_refused_under_every_issuer_of_the_pool(
    pool: LocalCognito, region: str | None, issuer_format: str
) -> None:
    revocations = Revocations(MemoryRevocationStore())
    verifier = JwtVerifier.cognito(
        user_pool_id=pool.user_pool_id,
        client_id=pool.client_id,
        token_use="access",
        additional_regions=[REPLICA],
        jwks_uris=pool.jwks_uris,
        allow_http=True,
        revocations=revocations,
    )
    issued = int(time.time()) - 60
    home = pool.access_token(sub=SUB, iat=issued)
    other = pool.access_token(sub=SUB, iat=issued, region=region, issuer_format=issuer_format)
    assert verifier.verify(other)["sub"] == SUB  # accepted as the same pool's user

    revocations.revoke_subject(verifier.issuer, SUB)

    with pytest.raises(TokenRevoked):
        verifier.verify(home)  # control: the home issuer's token is refused
    with pytest.raises(TokenRevoked):
        verifier.verify(other)
