"""Review finding: ``revoke_client`` does not refuse ID tokens of the revoked app client.

Attack: an app client of a Cognito user pool is compromised; the operator runs
``revocations.revoke_client(issuer, client_id)`` (docs/revocation.md: "a compromised app
client"). Access tokens of that client (``client_id`` claim) are refused, but its ID tokens
carry the client in ``aud`` (no ``client_id``, no ``azp``), and
``revocation.revocation_keys`` only looks at ``client_id`` and ``azp``
(src/secauth/revocation.py, ``revocation_keys``). A ``JwtVerifier.cognito(...,
token_use="id", revocations=...)`` therefore keeps accepting every ID token the
compromised client holds, until it expires. The verifier itself knows the client is in
``aud`` for these tokens (``audience_claim="aud"``).
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


@pytest.fixture
def pool() -> Iterator[LocalCognito]:
    with LocalCognito() as local:
        yield local


def test_revoked_client_id_token_is_refused(pool: LocalCognito) -> None:
    revocations = Revocations(MemoryRevocationStore())
    verifier = JwtVerifier.cognito(
        user_pool_id=pool.user_pool_id,
        client_id=pool.client_id,
        token_use="id",
        jwks_uris=pool.jwks_uris,
        allow_http=True,
        revocations=revocations,
    )
    id_token = pool.id_token(iat=int(time.time()) - 60)
    assert verifier.verify(id_token)["aud"] == pool.client_id  # valid before the revocation

    revocations.revoke_client(verifier.issuer, pool.client_id)

    with pytest.raises(TokenRevoked):
        verifier.verify(id_token)


def test_revoked_client_access_token_is_refused_control(pool: LocalCognito) -> None:
    """Control: the same revocation does refuse the client's access tokens."""
    revocations = Revocations(MemoryRevocationStore())
    verifier = JwtVerifier.cognito(
        user_pool_id=pool.user_pool_id,
        client_id=pool.client_id,
        token_use="access",
        jwks_uris=pool.jwks_uris,
        allow_http=True,
        revocations=revocations,
    )
    access_token = pool.access_token(iat=int(time.time()) - 60)
    revocations.revoke_client(verifier.issuer, pool.client_id)
    with pytest.raises(TokenRevoked):
        verifier.verify(access_token)
