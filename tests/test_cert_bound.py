"""Certificate-bound access tokens (RFC 8705): ``cnf.x5t#S256`` against the mTLS client
certificate API Gateway passes on. Certificates are generated per run, never checked in."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import time
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from oidc_bound_helpers import certificate

from secauth import Authorizer, Guard, JwtVerifier
from secauth.errors import (
    CertificateMismatch,
    ConfigurationError,
    MissingClientCertificate,
    SenderConstraintError,
)
from secauth.policy import Unauthorized
from secauth.sender_constraint import SenderConstraint, certificate_thumbprint
from secauth.testing import KeyPair
from secauth.testing_events import (
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    rest_proxy,
    token_authorizer,
)

ISS, AUD = "https://idp.example.com/", "orders-api"
ISSUER = KeyPair.generate("ES256", kid="idp-1")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [ISSUER.public_jwk]})


PEM, OTHER_PEM = certificate("client-a"), certificate("client-b")


def thumbprint(pem: str) -> str:
    """x5t#S256 computed independently: SHA-256 over the base64 body of the PEM."""
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    digest = hashlib.sha256(base64.b64decode(body)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token(pem: str | None = PEM, **claims: Any) -> str:
    # A day: the module-level TOKEN outlives the suite's run.
    body: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": "ann", "exp": int(time.time()) + 86_400}
    if pem is not None:
        body["cnf"] = {"x5t#S256": thumbprint(pem)}
    return ISSUER.sign({**body, **claims})


TOKEN = token()


def with_cert(event: dict[str, Any], pem: str | None, *, http: bool) -> dict[str, Any]:
    """``event`` with the certificate block API Gateway adds under mutual TLS."""
    if pem is not None:
        block = {"clientCertPem": pem, "subjectDN": "CN=client", "issuerDN": "CN=client",
                 "serialNumber": "01", "validity": {}}  # fmt: skip
        context = event["requestContext"]
        if http:
            context.setdefault("authentication", {})["clientCert"] = block
        else:
            context.setdefault("identity", {})["clientCert"] = block
    return event


def rest(pem: str | None, value: str = TOKEN) -> dict[str, Any]:
    return with_cert(rest_proxy("GET", "/orders/7", token=value), pem, http=False)


def http(pem: str | None, value: str = TOKEN) -> dict[str, Any]:
    return with_cert(http_proxy("GET", "/orders/7", token=value), pem, http=True)


def guarded(**options: Any) -> Any:
    guard = Guard(VERIFIER, decision_log=None, **options)
    return guard(lambda event, context: {"statusCode": 200, "body": "ok"})


def refusal(event: dict[str, Any], **options: Any) -> SenderConstraintError:
    with pytest.raises(SenderConstraintError) as caught:
        Guard(VERIFIER, decision_log=None, **options).check(event)
    return caught.value


def test_the_thumbprint_is_sha256_of_the_der() -> None:
    assert certificate_thumbprint(PEM) == thumbprint(PEM)
    loaded = x509.load_pem_x509_certificate(PEM.encode())
    expected = base64.urlsafe_b64encode(loaded.fingerprint(hashes.SHA256())).rstrip(b"=")
    assert certificate_thumbprint(PEM.encode()) == expected.decode()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_the_thumbprint_matches_openssl() -> None:
    done = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=PEM,
                          capture_output=True, text=True, check=True)  # fmt: skip
    hexed = done.stdout.strip().split("=", 1)[1].replace(":", "")
    expected = base64.urlsafe_b64encode(bytes.fromhex(hexed)).rstrip(b"=").decode()
    assert certificate_thumbprint(PEM) == expected


@pytest.mark.parametrize("build", [rest, http], ids=["rest_v1", "http_v2"])
def test_a_bound_token_with_its_certificate_is_accepted(build: Any) -> None:
    assert guarded()(build(PEM), None)["statusCode"] == 200


@pytest.mark.parametrize("build", [rest, http], ids=["rest_v1", "http_v2"])
def test_certificate_mismatch_is_refused(build: Any) -> None:
    assert isinstance(refusal(build(OTHER_PEM)), CertificateMismatch)
    response = guarded()(build(OTHER_PEM), None)
    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="token bound to another certificate"'
    )


@pytest.mark.parametrize("build", [rest, http], ids=["rest_v1", "http_v2"])
def test_a_bound_token_without_a_certificate_is_refused(build: Any) -> None:
    assert isinstance(refusal(build(None)), MissingClientCertificate)
    assert guarded()(build(None), None)["statusCode"] == 401


def test_an_unreadable_certificate_counts_as_none() -> None:
    assert isinstance(
        refusal(rest("-----BEGIN CERTIFICATE-----\nAAAA\n")), MissingClientCertificate
    )
    assert isinstance(refusal(rest(PEM + PEM)), MissingClientCertificate)


def test_an_unbound_token_is_accepted_unless_binding_is_required() -> None:
    plain = token(None)
    assert guarded()(rest(PEM, plain), None)["statusCode"] == 200
    strict = SenderConstraint(require="mtls")
    assert guarded(sender_constraint=strict)(rest(PEM, plain), None)["statusCode"] == 401
    assert guarded(sender_constraint=strict)(rest(PEM), None)["statusCode"] == 200
    assert "required" in refusal(rest(PEM, plain), sender_constraint=strict).detail["problem"]
    anyway = SenderConstraint(require="any")
    assert guarded(sender_constraint=anyway)(rest(PEM), None)["statusCode"] == 200


def test_certificate_bound_tokens_can_be_refused_outright() -> None:
    error = refusal(rest(PEM), sender_constraint=SenderConstraint(mtls=False))
    assert "not accepted" in error.detail["problem"]
    with pytest.raises(ConfigurationError):
        SenderConstraint(require="mtls", mtls=False)


@pytest.mark.parametrize(
    "cnf",
    [{"x5t#S256": 5}, {"jwk": {"kty": "EC"}}, {"x5t#S256": "abc", "kid": "x"}, "abc", [], {}],
    ids=["not-a-string", "jwk", "extra-member", "string", "list", "empty"],
)
def test_a_confirmation_secauth_cannot_check_is_refused(cnf: Any) -> None:
    value = token(None, cnf=cnf)
    assert type(refusal(rest(PEM, value))) is SenderConstraintError


# -- the authorizer ------------------------------------------------------------------------


def authorizer_event(pem: str | None, value: str = TOKEN, *, http_api: bool = False) -> Any:
    if http_api:
        return with_cert(http_authorizer_v2("GET", "/orders/7", token=value), pem, http=True)
    return with_cert(request_authorizer("GET", "/orders/7", token=value), pem, http=False)


def allowed(response: dict[str, Any]) -> bool:
    """An answer that allows (a cached policy may add Deny statements for other routes)."""
    return "Allow" in {s["Effect"] for s in response["policyDocument"]["Statement"]}


def test_the_authorizer_checks_the_certificate_and_its_memo_keys_on_it() -> None:
    authorizer = Authorizer(VERIFIER, decision_log=None)
    for _ in range(3):  # the later answers come from the response memo
        assert allowed(authorizer.handler(authorizer_event(PEM), None))
    with pytest.raises(Unauthorized):
        authorizer.handler(authorizer_event(OTHER_PEM), None)  # same token, another cert
    with pytest.raises(Unauthorized):
        authorizer.handler(authorizer_event(None), None)
    assert "Deny" in str(authorizer.handler(authorizer_event(OTHER_PEM, http_api=True), None))
    assert allowed(authorizer.handler(authorizer_event(PEM, http_api=True), None))


def test_a_token_authorizer_cannot_see_the_certificate() -> None:
    authorizer = Authorizer(VERIFIER, decision_log=None)
    with pytest.raises(Unauthorized):
        authorizer.handler(token_authorizer("GET", "/orders/7", token=TOKEN), None)


def test_cached_authorizer_answers_refuse_certificate_bound_tokens() -> None:
    cached = Authorizer(VERIFIER, decision_log=None, cache_ttl=300)
    with pytest.raises(Unauthorized):
        cached.handler(authorizer_event(PEM), None)
    assert allowed(cached.handler(authorizer_event(PEM, token(None)), None))
    with pytest.raises(ConfigurationError, match="cache_key_covers_request"):
        Authorizer(VERIFIER, cache_ttl=300, sender_constraint=SenderConstraint())
    # Covering the request alone is no request for bound tokens (review 53): it may have
    # been said for a tenant header. Asking for them and covering the certificate is.
    covered = Authorizer(VERIFIER, decision_log=None, cache_ttl=300, cache_key_covers_request=True)
    with pytest.raises(Unauthorized):
        covered.handler(authorizer_event(PEM), None)
    asked = Authorizer(VERIFIER, decision_log=None, cache_ttl=300, cache_key_covers_request=True,
                       sender_constraint=SenderConstraint())  # fmt: skip
    assert allowed(asked.handler(authorizer_event(PEM), None))
