"""A Guard's options are read when it is built: changing one afterwards fails loudly.

The identification step (``secauth.guard_identity``) is built from the options once; a later
``guard.revocations = ...`` that it silently ignored would leave revoked tokens admitted.
"""

from __future__ import annotations

import pytest

from secauth import Guard, JwtVerifier, Routes
from secauth.access import authenticated
from secauth.revocation import Revocations
from secauth.revocation_stores import MemoryRevocationStore
from secauth.testing import KeyPair

PAIR = KeyPair.generate("ES256", kid="k1")
VERIFIER = JwtVerifier(issuer="https://idp/", audience="api", jwks={"keys": [PAIR.public_jwk]})
OPTIONS = ("verifier", "trust_authorizer", "routes", "claims", "token_sources",
           "context_without_token", "revocations", "sender_constraint")  # fmt: skip


@pytest.mark.parametrize("name", OPTIONS)
def test_an_option_cannot_be_replaced_after_construction(name: str) -> None:
    guard = Guard(VERIFIER, routes=Routes({"GET /x": authenticated()}), decision_log=None)
    before = getattr(guard, name)
    with pytest.raises(AttributeError):
        setattr(guard, name, Revocations(MemoryRevocationStore()))
    assert getattr(guard, name) is before


def test_the_options_read_back_as_given() -> None:
    routes = Routes({"GET /x": authenticated()})
    revocations = Revocations(MemoryRevocationStore())
    guard = Guard(VERIFIER, trust_authorizer=True, routes=routes, revocations=revocations,
                  decision_log=None)
    assert guard.verifier is VERIFIER
    assert guard.routes is routes
    assert guard.revocations is revocations
    assert guard.trust_authorizer is True
    derived = guard.require(authenticated())
    assert derived.revocations is revocations
    assert derived.caller_identifier is guard.caller_identifier
