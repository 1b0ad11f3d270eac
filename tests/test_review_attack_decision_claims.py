"""Review attack: claim values other than the principal's id and tenant reach decision
records (stdout by default).

docs/operations.md: a decision record "never holds the token, a key, a secret or a claim
value other than the principal's id and tenant". ``ClaimPolicy.check`` raises
``InvalidClaims(detail={"claim": name, "expected": ..., "actual": shown(actual)})`` for
``expected_claims`` (and ``InvalidAudience``/``InvalidIssuer`` with ``"actual"``), and
the Authorizer copies ``err.detail`` into the record's ``detail``. A token whose ``org``
claim is ``"victim-corp-confidential"`` against ``expected_claims={"org": "acme"}``
prints ``"actual":"victim-corp-confidential"`` on stdout.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from secauth import JwtVerifier
from secauth.authorizer import Authorizer
from secauth.testing import KeyPair

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/orders"
VALUE = "victim-corp-confidential"


def test_an_expected_claim_mismatch_does_not_log_the_claim_value() -> None:
    pair = KeyPair.generate("ES256", kid="k1")
    verifier = JwtVerifier(
        issuer="https://idp/",
        audience="api",
        jwks={"keys": [pair.public_jwk]},
        expected_claims={"org": "acme"},
    )
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(verifier, decision_log=None, on_decision=records.append)
    token = pair.sign({"iss": "https://idp/", "aud": "api", "sub": "u", "exp": 4e9, "org": VALUE})
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": ARN}
    with contextlib.suppress(Exception):  # REST authorizers answer 401 by raising Unauthorized
        authorizer.handler(event, None)
    assert records
    assert records[-1]["reason"] == "invalid_claims"
    assert VALUE not in json.dumps(records), records
