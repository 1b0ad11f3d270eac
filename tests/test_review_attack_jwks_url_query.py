"""Review attack: a JWKS URL's query string (a function key, a signed-URL token) reaches
every ``keys_unavailable`` decision record and the ``secauth.jwks`` warning.

``JwksCache._lookup`` raises ``KeysUnavailable(detail={"url": self.url, ...})`` with the
configured URL verbatim, and ``_apply`` logs ``"JWKS fetch from %s failed"`` with it. A
URL such as ``https://idp.example.com/keys?code=S3CRET`` (Azure Functions keys, signed
URLs) therefore prints its secret on stdout with every request while the IdP is down.
docs/operations.md: a decision record "never holds the token, a key, a secret".
Userinfo is refused at construction; the query string is not redacted anywhere.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

import secauth.jwks as jwks_module
from secauth import JwtVerifier
from secauth._fetch import FetchCause, FetchError
from secauth.authorizer import Authorizer
from secauth.policy import Unauthorized
from secauth.testing import KeyPair

SECRET = "S3CRET-function-key-0123456789"
URL = f"https://idp.example.com/keys?code={SECRET}"
ARN = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/orders"


def test_a_jwks_url_query_secret_reaches_no_record_and_no_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def down(url: str, policy: Any, *, document: str | None = None) -> Any:
        raise FetchError("HTTP status 503", FetchCause("http_status", 503, document=document))

    monkeypatch.setattr(jwks_module, "fetch_json", down)
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(
        JwtVerifier(issuer="https://idp.example.com/", audience="api", jwks_uri=URL),
        decision_log=None,
        on_decision=records.append,
    )
    pair = KeyPair.generate("ES256", kid="k1")
    token = pair.sign({"iss": "https://idp.example.com/", "aud": "api", "sub": "u", "exp": 4e9})
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": ARN}
    with caplog.at_level(logging.WARNING, logger="secauth.jwks"), pytest.raises(Unauthorized):
        authorizer.handler(event, None)
    assert records
    assert records[-1]["reason"] == "keys_unavailable"
    assert SECRET not in json.dumps(records), records
    assert SECRET not in caplog.text, caplog.text
