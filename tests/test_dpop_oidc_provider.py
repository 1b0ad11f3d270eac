"""Sender-constrained access tokens from a real authorization server: panva's oidc-provider
on loopback (tests/fixtures/oidc_provider_bound.mjs, started by tests/oidc_bound_helpers.py)
issues JWT access tokens bound to a DPoP key (RFC 9449, its ``features.dPoP``; the token
request carries a proof made with ``secauth.testing_dpop.DpopKey``) and to a client
certificate (RFC 8705, its ``features.mTLS.certificateBoundAccessTokens``; the certificate
reaches it in a header, as from a TLS-terminating proxy). secauth then verifies them against
the provider's JWKS and checks the binding in a ``Guard`` (the same tokens through the
``Authorizer``: test_bound_tokens_authorizer.py). Skips when oidc-provider is missing, fails
under CI=true."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from introspection_services import ORDERS
from oidc_bound_helpers import (
    BoundTokenProvider,
    certificate,
    claims_of,
    client_cert_block,
    dpop_constraint,
    running_provider,
    thumbprint,
    verifier,
)

from secauth import Guard
from secauth.dpop import jwk_thumbprint
from secauth.testing_dpop import DpopKey
from secauth.testing_events import http_proxy

HOST = "https://abcdef123.execute-api.us-east-1.amazonaws.com"
URL = f"{HOST}/orders/7"  # an HTTP API's $default stage: the raw path is the path


@pytest.fixture(scope="module")
def op() -> Iterator[BoundTokenProvider]:
    yield from running_provider()


def guarded(op: BoundTokenProvider, records: list[Mapping[str, Any]]) -> Any:
    guard = Guard(verifier(op), on_decision=records.append, sender_constraint=dpop_constraint())
    return guard(lambda event, context, principal: {"statusCode": 200, "body": principal.id})


def call(handler: Any, scheme: str, token: str, proof: str | None) -> dict[str, Any]:
    headers = {"authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["dpop"] = proof
    response: dict[str, Any] = handler(http_proxy("GET", "/orders/7", headers=headers), None)
    return response


# -- DPoP-bound tokens -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dpop_token(op: BoundTokenProvider) -> tuple[DpopKey, str]:
    return op.dpop_bound_token()


def test_the_provider_binds_the_token_to_the_proof_key(
    op: BoundTokenProvider, dpop_token: tuple[DpopKey, str]
) -> None:
    key, token = dpop_token
    claims = claims_of(token)
    assert claims["cnf"] == {"jkt": key.jkt}
    assert key.jkt == jwk_thumbprint(key.public_jwk)
    assert claims["iss"] == op.issuer
    assert claims["aud"] == ORDERS
    # and secauth verifies it against the provider's published keys
    assert verifier(op).verify(token)["cnf"]["jkt"] == key.jkt


def test_dpop_scheme_with_a_fresh_proof_is_admitted(
    op: BoundTokenProvider, dpop_token: tuple[DpopKey, str]
) -> None:
    key, token = dpop_token
    records: list[Mapping[str, Any]] = []
    handler = guarded(op, records)
    response = call(handler, "DPoP", token, key.proof("GET", URL, access_token=token))
    assert response["statusCode"] == 200, (response, records)
    assert response["body"] == "dpop-client"
    # a second request with its own fresh proof is admitted too
    again = call(handler, "DPoP", token, key.proof("GET", URL, access_token=token))
    assert again["statusCode"] == 200


def test_the_bound_token_as_bearer_is_refused(
    op: BoundTokenProvider, dpop_token: tuple[DpopKey, str]
) -> None:
    _, token = dpop_token
    records: list[Mapping[str, Any]] = []
    response = call(guarded(op, records), "Bearer", token, None)
    assert response["statusCode"] == 401
    assert records[-1]["reason"] == "token_binding_mismatch"


def test_a_proof_from_another_key_is_refused(
    op: BoundTokenProvider, dpop_token: tuple[DpopKey, str]
) -> None:
    _, token = dpop_token
    thief = DpopKey.generate("ES256")
    records: list[Mapping[str, Any]] = []
    response = call(
        guarded(op, records), "DPoP", token, thief.proof("GET", URL, access_token=token)
    )
    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"].startswith('DPoP error="invalid_token"')
    assert records[-1]["reason"] == "token_binding_mismatch"


# -- certificate-bound tokens ------------------------------------------------------------------


PEM, OTHER_PEM = certificate("client-a"), certificate("client-b")


@pytest.fixture(scope="module")
def mtls_token(op: BoundTokenProvider) -> str:
    return op.certificate_bound_token(PEM)


def with_cert(token: str, pem: str | None) -> dict[str, Any]:
    """An HTTP API event with the certificate block API Gateway adds under mutual TLS."""
    event = http_proxy("GET", "/orders/7", token=token)
    if pem is not None:
        event["requestContext"]["authentication"] = {
            "clientCert": client_cert_block(pem, "client-a")
        }
    return event


def cert_guard(op: BoundTokenProvider, records: list[Mapping[str, Any]]) -> Any:
    guard = Guard(verifier(op), on_decision=records.append)  # mTLS binding is checked by default
    return guard(lambda event, context, principal: {"statusCode": 200, "body": principal.id})


def test_the_provider_without_a_certificate_refuses_the_bound_client(
    op: BoundTokenProvider,
) -> None:
    status, body = op.token_request("mtls-client")
    assert status == 400
    assert body["error"] == "invalid_grant"


def test_the_provider_binds_the_token_to_the_certificate(
    op: BoundTokenProvider, mtls_token: str
) -> None:
    assert claims_of(mtls_token)["cnf"] == {"x5t#S256": thumbprint(PEM)}
    assert verifier(op).verify(mtls_token)["cnf"]["x5t#S256"] == thumbprint(PEM)


@pytest.mark.parametrize(
    ("pem", "status", "reason"),
    [
        (PEM, 200, None),
        (OTHER_PEM, 401, "certificate_mismatch"),
        (None, 401, "missing_client_certificate"),
    ],
    ids=["same-certificate", "another-certificate", "no-certificate"],
)
def test_the_certificate_bound_token_in_a_guard(
    op: BoundTokenProvider, mtls_token: str, pem: str | None, status: int, reason: str | None
) -> None:
    records: list[Mapping[str, Any]] = []
    response = cert_guard(op, records)(with_cert(mtls_token, pem), None)
    assert response["statusCode"] == status, (response, records)
    if reason is None:
        assert response["body"] == "mtls-client"
    else:
        assert records[-1]["reason"] == reason
