"""A request whose method ARN is too long to be a policy Resource (over 512 characters,
under the 1600 bytes a methodArn may be): the request's fault, logged as such.

An attacker's long path must not be logged as ``configuration_error`` (which says
secauth is set up wrongly, and may page someone); it is refused as a bad request,
and an answer that does not need to name the ARN is still given.
"""

from __future__ import annotations

from typing import Any

import pytest

from secauth import Authorizer, JwtVerifier, Routes, authenticated, roles
from secauth.errors import InvalidMethodArn
from secauth.policy import MAX_RESOURCE_ARN_CHARS, MethodArn, Unauthorized, exact_document
from secauth.testing import KeyPair
from secauth.testing_events import http_authorizer_v1, token_authorizer

ISS, AUD = "https://idp.overlong.test/", "api"
PAIR = KeyPair.generate("ES256", kid="k1")
ROUTES = Routes({"DELETE /{proxy+}": roles("admin"), "GET /{proxy+}": authenticated()})
LONG = "/" + "a" * 600  # the ARN: about 660 characters


def _token(**claims: Any) -> str:
    return PAIR.sign({"iss": ISS, "aud": AUD, "sub": "ann", "exp": 4_000_000_000, **claims})


def _authorizer(records: list[dict[str, Any]], **options: Any) -> Authorizer:
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
    return Authorizer(
        verifier, routes=ROUTES, decision_log=None, on_decision=records.append, **options
    )


def test_an_overlong_request_arn_is_a_bad_request_not_a_configuration_error() -> None:
    records: list[dict[str, Any]] = []
    authorizer = _authorizer(records)
    with pytest.raises(Unauthorized):
        authorizer.handler(token_authorizer("GET", LONG, token=_token()), None)
    assert records[-1]["reason"] == "bad_request"
    refused = authorizer.handler(http_authorizer_v1("GET", LONG, token=_token()), None)
    assert refused["policyDocument"]["Statement"][0] == {
        "Action": "execute-api:Invoke",
        "Effect": "Deny",
        "Resource": ["*"],
    }
    assert records[-1]["reason"] == "bad_request"
    # The same path one character under the limit is answered as usual.
    fits = "/" + "a" * (599 - (len(str(_arn(LONG))) - MAX_RESOURCE_ARN_CHARS))
    assert len(str(_arn(fits))) == MAX_RESOURCE_ARN_CHARS - 1
    allowed = authorizer.handler(token_authorizer("GET", fits, token=_token()), None)
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_cached_policies_still_answer_what_needs_no_exact_arn() -> None:
    records: list[dict[str, Any]] = []
    authorizer = _authorizer(records, cache_ttl=300)
    allowed = authorizer.handler(token_authorizer("GET", LONG, token=_token()), None)
    statement = allowed["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert all(len(resource) <= MAX_RESOURCE_ARN_CHARS for resource in statement["Resource"])
    # A denied long path needs its own ARN in the Deny: refused, as the request's fault.
    with pytest.raises(Unauthorized):
        authorizer.handler(token_authorizer("DELETE", LONG, token=_token()), None)
    assert records[-1]["reason"] == "bad_request"


def test_exact_document_refuses_an_overlong_arn_as_invalid_method_arn() -> None:
    with pytest.raises(InvalidMethodArn):
        exact_document(_arn(LONG), True)


def _arn(path: str) -> MethodArn:
    return MethodArn.parse(token_authorizer("GET", path, token="x")["methodArn"])
