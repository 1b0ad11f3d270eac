"""panva's oidc-provider issuing sender-constrained JWT access tokens, shared by the tests
that check them in a ``Guard`` (test_dpop_oidc_provider.py) and in an ``Authorizer``
(test_bound_tokens_authorizer.py).

tests/fixtures/oidc_provider_bound.mjs runs on a loopback port and issues, for the
client_credentials grant, tokens bound to a DPoP key (RFC 9449, ``dpop-client``: the token
request carries a proof made with :class:`~secauth.testing_dpop.DpopKey`) or to a client
certificate (RFC 8705, ``mtls-client``: the certificate reaches it in a header, as from a
TLS-terminating proxy). Certificates are made here per run with ``cryptography``.

A test module starts one provider for all its tests::

    @pytest.fixture(scope="module")
    def op() -> Iterator[BoundTokenProvider]:
        yield from running_provider()

which skips with the reason when node or oidc-provider is missing, and fails under CI=true.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import json
import secrets
import subprocess
import urllib.parse
from collections.abc import Iterator
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from introspection_services import ORDERS, ROOT, missing, start_node_script
from rl_services import stop_process, unavailable

from secauth import JwtVerifier
from secauth.dpop import DpopVerifier
from secauth.dpop_replay import MemoryReplayStore
from secauth.sender_constraint import SenderConstraint
from secauth.testing_dpop import DpopKey

SCRIPT = ROOT / "tests" / "fixtures" / "oidc_provider_bound.mjs"
#: The resource whose tokens the provider issues opaque (checked by introspection).
OPAQUE_ORDERS = "urn:secauth:opaque-orders"


class BoundTokenProvider:
    """oidc-provider on a loopback port issuing DPoP- and certificate-bound JWT tokens."""

    def __init__(self) -> None:
        self.secret = secrets.token_urlsafe(32)
        self.proc: subprocess.Popen[bytes] | None = None
        self.issuer = ""
        self.port = 0

    def start(self) -> BoundTokenProvider:
        self.proc, ready = start_node_script(SCRIPT, json.dumps({"secret": self.secret}))
        self.port, self.issuer = int(ready["port"]), ready["issuer"]
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc)

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    @property
    def introspection_endpoint(self) -> str:
        return f"{self.issuer}/token/introspection"

    def token_request(
        self, client_id: str, headers: dict[str, str] | None = None, resource: str = ORDERS
    ) -> tuple[int, dict[str, Any]]:
        """A client_credentials token request for the orders resource (JWT tokens), or for
        ``resource``: OPAQUE_ORDERS's tokens are opaque."""
        basic = base64.b64encode(f"{client_id}:{self.secret}".encode()).decode()
        form = {"grant_type": "client_credentials", "scope": "orders.read", "resource": resource}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(
                "POST",
                "/token",
                body=urllib.parse.urlencode(form),
                headers={
                    "Authorization": f"Basic {basic}",
                    "Content-Type": "application/x-www-form-urlencoded",
                    **(headers or {}),
                },
            )
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()

    def dpop_bound_token(self, resource: str = ORDERS) -> tuple[DpopKey, str]:
        """A fresh DPoP key and the token the provider bound to it (``token_type: DPoP``)."""
        key = DpopKey.generate("ES256")
        status, body = self.token_request(
            "dpop-client", {"DPoP": key.proof("POST", self.token_endpoint)}, resource
        )
        assert status == 200, body
        assert body["token_type"] == "DPoP"
        token = body["access_token"]
        assert isinstance(token, str)
        return key, token

    def certificate_bound_token(self, pem: str, resource: str = ORDERS) -> str:
        """The token the provider bound to ``pem``, forwarded as by a TLS-terminating proxy."""
        status, body = self.token_request(
            "mtls-client", {"X-SSL-Client-Cert": urllib.parse.quote(pem)}, resource
        )
        assert status == 200, body
        token = body["access_token"]
        assert isinstance(token, str)
        return token


def running_provider() -> Iterator[BoundTokenProvider]:
    """One provider for a module's fixture; skips (fails under CI=true) when it cannot run."""
    why = missing()
    if why is not None:
        unavailable(why)
    server = BoundTokenProvider().start()
    try:
        yield server
    finally:
        server.stop()


def verifier(op: BoundTokenProvider) -> JwtVerifier:
    """secauth's verifier for the provider's tokens (its JWKS over loopback HTTP)."""
    return JwtVerifier(issuer=op.issuer, audience=ORDERS, jwks_uri=op.jwks_uri, allow_http=True)


def dpop_constraint() -> SenderConstraint:
    """DPoP accepted, with its own replay store (a proof's ``jti`` is single-use)."""
    return SenderConstraint(dpop=DpopVerifier(replay=MemoryReplayStore()))


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a compact JWS, unverified (to look at what the provider put in)."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def certificate(name: str) -> str:
    """A fresh self-signed client certificate (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def thumbprint(pem: str) -> str:
    """x5t#S256 computed here: base64url(SHA-256(DER))."""
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def client_cert_block(pem: str, name: str) -> dict[str, Any]:
    """The ``clientCert`` block API Gateway adds to an event under mutual TLS."""
    return {
        "clientCertPem": pem,
        "subjectDN": f"CN={name}",
        "issuerDN": f"CN={name}",
        "serialNumber": "01",
        "validity": {},
    }
