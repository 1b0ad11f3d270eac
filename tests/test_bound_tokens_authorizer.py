"""Sender-constrained tokens from a real authorization server through the Lambda
``Authorizer`` (issue 18): the JWT access tokens panva's oidc-provider binds to a DPoP key
(RFC 9449) and to a client certificate (RFC 8705) (tests/oidc_bound_helpers.py; the same
tokens through a ``Guard``: test_dpop_oidc_provider.py) go through REST REQUEST, HTTP API
payload 2.0 and REST TOKEN authorizer events.

A DPoP proof names the URI the client called, as the event tells it: for a REST API the
stage is part of the path (``/prod/orders/7``), for an HTTP API's ``$default`` stage the
path is the raw path. Every refusal's decision record says why (``reason``). Skips when
oidc-provider is missing, fails under CI=true.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from oidc_bound_helpers import (
    BoundTokenProvider,
    certificate,
    client_cert_block,
    dpop_constraint,
    running_provider,
    verifier,
)

from secauth import Authorizer
from secauth.policy import Unauthorized
from secauth.testing_dpop import DpopKey
from secauth.testing_events import (
    http_authorizer_v2,
    iam_allows,
    request_authorizer,
    token_authorizer,
)

HOST = "https://abcdef123.execute-api.us-east-1.amazonaws.com"
PEM, OTHER_PEM = certificate("client-a"), certificate("client-b")
Event = dict[str, Any]


@pytest.fixture(scope="module")
def op() -> Iterator[BoundTokenProvider]:
    yield from running_provider()


@pytest.fixture(scope="module")
def dpop_token(op: BoundTokenProvider) -> tuple[DpopKey, str]:
    return op.dpop_bound_token()


@pytest.fixture(scope="module")
def mtls_token(op: BoundTokenProvider) -> str:
    return op.certificate_bound_token(PEM)


# -- the event kinds, and what API Gateway makes of the answers ---------------------------------


# Where API Gateway puts the mTLS client certificate block: REST in the caller's identity,
# HTTP APIs under authentication.
REST_CERT, HTTP_CERT = "identity", "authentication"


@dataclass(frozen=True)
class Kind:
    """An authorizer event kind: its builder and route, where the certificate goes, the URI
    a proof names, the Authorizer's options and how it refuses (what :func:`outcome`
    reports)."""

    builder: Callable[..., Event]
    route: Mapping[str, str]
    cert_in: str
    url: str
    options: Mapping[str, Any]
    refused: str

    def build(self, authorization: str, headers: Mapping[str, str], pem: str | None) -> Event:
        """``GET /orders/7`` with this ``Authorization`` value, more headers, a certificate."""
        event = self.builder(
            "GET",
            "/orders/7",
            path_params={"id": "7"},
            authorization=authorization,
            headers=headers,
            **self.route,
        )
        if pem is not None:
            block = event["requestContext"].setdefault(self.cert_in, {})
            block["clientCert"] = client_cert_block(pem, "client")
        return event


REST_ROUTE = {"resource": "/orders/{id}"}
HTTP_ROUTE = {"route_key": "GET /orders/{id}"}
KINDS = {
    "rest-request": Kind(
        request_authorizer, REST_ROUTE, REST_CERT, f"{HOST}/prod/orders/7", {}, "401"
    ),
    "http-v2-simple": Kind(
        http_authorizer_v2,
        HTTP_ROUTE,
        HTTP_CERT,
        f"{HOST}/orders/7",
        {"simple_responses": True},
        "not authorized",
    ),
    "http-v2-policy": Kind(
        http_authorizer_v2, HTTP_ROUTE, HTTP_CERT, f"{HOST}/orders/7", {}, "deny"
    ),
}
kinds = pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))


def outcome(authorizer: Authorizer, event: Event) -> str:
    """What API Gateway makes of the authorizer's answer for this event: ``allow``, or
    ``401`` (REST: the ``Unauthorized`` error), ``not authorized`` (``isAuthorized: false``)
    or ``deny`` (a policy that does not allow the event's ARN)."""
    try:
        response = authorizer.handler(event, None)
    except Unauthorized:
        return "401"
    if "isAuthorized" in response:
        return "allow" if response["isAuthorized"] is True else "not authorized"
    arn = event.get("methodArn") or event["routeArn"]
    return "allow" if iam_allows(response, arn) else "deny"


class Gate:
    """An Authorizer for the provider's tokens whose decision records are kept."""

    def __init__(self, op: BoundTokenProvider, kind: Kind | None, **options: Any) -> None:
        self.records: list[Mapping[str, Any]] = []
        extra = dict(kind.options) if kind is not None else {}
        self.authorizer = Authorizer(
            verifier(op),
            on_decision=self.records.append,
            decision_log=None,
            **extra,
            **options,
        )

    def __call__(self, event: Event) -> tuple[str, str | None]:
        """The outcome and the decision record's reason (None for an Allow)."""
        answer = outcome(self.authorizer, event)
        record = self.records[-1]
        assert (record["decision"], record["status"]) == (
            ("allow", 200) if answer == "allow" else ("unauthorized", 401)
        ), record
        return answer, record.get("reason")


def dpop_event(kind: Kind, scheme: str, token: str, proof: str | None) -> Event:
    return kind.build(f"{scheme} {token}", {"DPoP": proof} if proof is not None else {}, None)


# -- DPoP-bound tokens --------------------------------------------------------------------------


@kinds
def test_a_dpop_bound_token_with_a_fresh_proof_is_allowed(
    op: BoundTokenProvider, dpop_token: tuple[DpopKey, str], kind: Kind
) -> None:
    key, token = dpop_token
    gate = Gate(op, kind, sender_constraint=dpop_constraint())
    for _ in range(2):  # each request with its own fresh proof
        proof = key.proof("GET", kind.url, access_token=token)
        assert gate(dpop_event(kind, "DPoP", token, proof)) == ("allow", None)
    assert [r["principal"] for r in gate.records] == ["dpop-client", "dpop-client"]


def other_kind_url(kind: Kind) -> str:
    """The URI of the same request on the other API: the REST path has the stage, an HTTP
    API's $default stage has not."""
    (url,) = {k.url for k in KINDS.values()} - {kind.url}
    return url


#: How a request with the DPoP-bound token goes wrong: what it sends (the scheme and the
#: DPoP header, from the key, the token and the event kind), and the refusal's reason.
Sends = Callable[[DpopKey, str, Kind], tuple[str, str | None]]
REFUSALS: dict[str, tuple[Sends, str]] = {
    "bearer": (lambda key, token, kind: ("Bearer", None), "token_binding_mismatch"),
    "bearer-with-a-proof": (
        lambda key, token, kind: ("Bearer", key.proof("GET", kind.url, access_token=token)),
        "token_binding_mismatch",
    ),
    "another-key": (
        lambda key, token, kind: (
            "DPoP",
            DpopKey.generate("ES256").proof("GET", kind.url, access_token=token),
        ),
        "token_binding_mismatch",
    ),
    "no-proof": (lambda key, token, kind: ("DPoP", None), "invalid_dpop_proof"),
    "other-api-uri": (
        lambda key, token, kind: (
            "DPoP",
            key.proof("GET", other_kind_url(kind), access_token=token),
        ),
        "invalid_dpop_proof",
    ),
    "another-path": (
        lambda key, token, kind: (
            "DPoP",
            key.proof("GET", f"{HOST}/v1/orders/7", access_token=token),
        ),
        "invalid_dpop_proof",
    ),
    "another-method": (
        lambda key, token, kind: ("DPoP", key.proof("DELETE", kind.url, access_token=token)),
        "invalid_dpop_proof",
    ),
    "not-for-this-token": (  # no ath
        lambda key, token, kind: ("DPoP", key.proof("GET", kind.url)),
        "invalid_dpop_proof",
    ),
}


@kinds
@pytest.mark.parametrize(("sends", "reason"), list(REFUSALS.values()), ids=list(REFUSALS))
def test_the_dpop_bound_token_is_refused_without_its_proof(
    op: BoundTokenProvider,
    dpop_token: tuple[DpopKey, str],
    kind: Kind,
    sends: Sends,
    reason: str,
) -> None:
    key, token = dpop_token
    scheme, proof = sends(key, token, kind)
    gate = Gate(op, kind, sender_constraint=dpop_constraint())
    assert gate(dpop_event(kind, scheme, token, proof)) == (kind.refused, reason)


@kinds
def test_a_replayed_proof_is_refused(
    op: BoundTokenProvider, dpop_token: tuple[DpopKey, str], kind: Kind
) -> None:
    key, token = dpop_token
    proof = key.proof("GET", kind.url, access_token=token)
    gate = Gate(op, kind, sender_constraint=dpop_constraint())
    assert gate(dpop_event(kind, "DPoP", token, proof)) == ("allow", None)
    assert gate(dpop_event(kind, "DPoP", token, proof)) == (kind.refused, "dpop_proof_replayed")


@kinds
def test_without_dpop_configured_the_dpop_bound_token_is_refused(
    op: BoundTokenProvider, dpop_token: tuple[DpopKey, str], kind: Kind
) -> None:
    """The Authorizer's default refuses DPoP-bound tokens, even with a good proof."""
    key, token = dpop_token
    gate = Gate(op, kind)
    proof = key.proof("GET", kind.url, access_token=token)
    assert gate(dpop_event(kind, "DPoP", token, proof)) == (kind.refused, "token_binding_mismatch")
    assert gate(dpop_event(kind, "Bearer", token, None)) == (kind.refused, "token_binding_mismatch")


@pytest.mark.parametrize(
    ("scheme", "with_dpop", "reason"),
    [
        ("DPoP", True, "invalid_dpop_proof"),  # no proof in a TOKEN event
        ("Bearer", True, "token_binding_mismatch"),
        ("DPoP", False, "token_binding_mismatch"),  # DPoP not accepted by default
        ("Bearer", False, "token_binding_mismatch"),
    ],
    ids=["dpop-scheme", "bearer", "dpop-scheme-default", "bearer-default"],
)
def test_a_token_authorizer_refuses_the_dpop_bound_token(
    op: BoundTokenProvider,
    dpop_token: tuple[DpopKey, str],
    scheme: str,
    with_dpop: bool,
    reason: str,
) -> None:
    """A TOKEN event carries only the token: never a proof, so never an Allow."""
    _, token = dpop_token
    event = token_authorizer("GET", "/orders/7", authorization=f"{scheme} {token}")
    gate = Gate(op, None, sender_constraint=dpop_constraint() if with_dpop else None)
    assert gate(event) == ("401", reason)
    assert gate.records[-1]["event"] == "token_authorizer"


# -- certificate-bound tokens -------------------------------------------------------------------


@kinds
@pytest.mark.parametrize(
    ("pem", "allowed", "reason"),
    [
        (PEM, True, None),
        (OTHER_PEM, False, "certificate_mismatch"),
        (None, False, "missing_client_certificate"),
    ],
    ids=["same-certificate", "another-certificate", "no-certificate"],
)
def test_the_certificate_bound_token_in_an_authorizer(
    op: BoundTokenProvider,
    mtls_token: str,
    kind: Kind,
    pem: str | None,
    allowed: bool,
    reason: str | None,
) -> None:
    gate = Gate(op, kind)  # certificate-bound tokens are checked by default
    expected = ("allow", None) if allowed else (kind.refused, reason)
    assert gate(kind.build(f"Bearer {mtls_token}", {}, pem)) == expected
    assert gate.records[-1].get("principal") == ("mtls-client" if allowed else None)


@kinds
def test_a_remembered_answer_is_not_reused_for_another_certificate(
    op: BoundTokenProvider, mtls_token: str, kind: Kind
) -> None:
    """One Authorizer (it memoizes answers per token and target): the certificate decides
    every time, in any order."""
    gate = Gate(op, kind)
    sequence = [PEM, OTHER_PEM, PEM, None, PEM, OTHER_PEM]
    reasons = {PEM: None, OTHER_PEM: "certificate_mismatch", None: "missing_client_certificate"}
    for pem in sequence:
        expected = ("allow", None) if pem == PEM else (kind.refused, reasons[pem])
        assert gate(kind.build(f"Bearer {mtls_token}", {}, pem)) == expected, pem
    assert {r.get("principal") for r in gate.records if r["decision"] == "allow"} == {"mtls-client"}


def test_a_token_authorizer_refuses_the_certificate_bound_token(
    op: BoundTokenProvider, mtls_token: str
) -> None:
    """A TOKEN event carries no certificate."""
    gate = Gate(op, None)
    event = token_authorizer("GET", "/orders/7", token=mtls_token)
    assert gate(event) == ("401", "missing_client_certificate")


def test_a_cached_authorizer_refuses_the_certificate_bound_token(
    op: BoundTokenProvider, mtls_token: str
) -> None:
    """With cache_ttl > 0 API Gateway would reuse the answer for another certificate: by
    default a certificate-bound token is refused there, even with its certificate."""
    kind = KINDS["rest-request"]
    gate = Gate(op, kind, cache_ttl=300)
    event = kind.build(f"Bearer {mtls_token}", {}, PEM)
    assert gate(event) == ("401", "token_binding_mismatch")
