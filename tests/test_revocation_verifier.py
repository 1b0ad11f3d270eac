"""A verifier's revocation list is consulted on every verification: fresh tokens, the
verified-token cache, the Authorizer's memo and the Guard (sync and async)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from secauth import Authorizer, Guard, JwtVerifier
from secauth.errors import ConfigurationError, KeysUnavailable, TokenRevoked
from secauth.revocation import Revocations, StoreUnavailable
from secauth.revocation_stores import MemoryRevocationStore
from secauth.testing import KeyPair

ISS = "https://idp.example.com/"
PAIR = KeyPair.generate("ES256", kid="k1")
ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/orders/7"


def token(**claims: Any) -> str:
    now = int(time.time())
    base = {"iss": ISS, "aud": "api", "sub": "ann", "jti": "t-1", "iat": now - 5, "exp": now + 600}
    return PAIR.sign({**base, **claims})


def verifier(revocations: Revocations | None) -> JwtVerifier:
    return JwtVerifier(
        issuer=ISS, audience="api", jwks={"keys": [PAIR.public_jwk]}, revocations=revocations
    )


def test_a_revoked_token_is_refused_even_from_the_verified_token_cache() -> None:
    revocations = Revocations(MemoryRevocationStore())
    v = verifier(revocations)
    value = token()
    for _ in range(3):  # the second verification caches it
        assert v.verify(value)["jti"] == "t-1"
    revocations.revoke_token(ISS, "t-1")
    with pytest.raises(TokenRevoked):
        v.verify(value)
    assert v.revalidate(value) is False  # never "still valid" without the check
    assert v.verify(token(jti="t-2"))["jti"] == "t-2"


def test_the_async_path_consults_the_list_too() -> None:
    revocations = Revocations(MemoryRevocationStore())
    v = verifier(revocations)
    revocations.revoke_subject(ISS, "ann", before=time.time() + 1)
    with pytest.raises(TokenRevoked):
        asyncio.run(v.verify_async(token()))


def test_a_memoized_authorizer_answer_is_refused_after_revocation() -> None:
    revocations = Revocations(MemoryRevocationStore())
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(verifier(revocations), decision_log=None, on_decision=records.append)
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {token()}", "methodArn": ARN}
    for _ in range(3):  # noted, kept, then served from the memo
        effect = authorizer.handler(event, None)["policyDocument"]["Statement"][0]["Effect"]
        assert effect == "Allow"
    revocations.revoke_token(ISS, "t-1")
    with contextlib.suppress(Exception):  # REST: "Unauthorized" is raised for a 401
        authorizer.handler(event, None)
    assert records[-1]["reason"] == "token_revoked"
    assert records[-1]["decision"] == "unauthorized"


def test_a_guard_refuses_a_revoked_token_with_401() -> None:
    revocations = Revocations(MemoryRevocationStore())
    guard = Guard(verifier(revocations), decision_log=None)
    handler = guard(lambda event, context: {"statusCode": 200, "body": "ok"})
    event = {
        "version": "2.0",
        "rawPath": "/orders/7",
        "headers": {"authorization": f"Bearer {token()}"},
        "requestContext": {"http": {"method": "GET", "path": "/orders/7"}, "stage": "$default"},
    }
    assert handler(event, None)["statusCode"] == 200
    revocations.revoke_token(ISS, "t-1")
    assert handler(event, None)["statusCode"] == 401


def test_a_store_outage_is_a_503_through_the_verifier_never_an_allow() -> None:
    class Down(MemoryRevocationStore):
        def lookup(self, keys: list[str]) -> dict[str, float | None]:
            raise StoreUnavailable("down")

    v = verifier(Revocations(Down()))
    with pytest.raises(KeysUnavailable):
        v.verify(token())


def test_a_non_list_is_refused_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="Revocations"):
        verifier(object())  # type: ignore[arg-type]
