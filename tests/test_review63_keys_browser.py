"""Adversarial review (63): API keys and usage plans, browser-facing pieces (CORS, cookies,
security headers), ``json_body`` and RFC 9728 protected-resource metadata.

Every test asserts the secure behaviour. Tests marked ``xfail(strict=True)`` fail against
the code they were written for (a finding); the others are attacks that held, kept as
regression tests. Earlier reviews (tests/test_review19_browser_clients.py,
tests/test_review20_cookies_cors.py, tests/test_review23_hygiene_resource.py,
tests/test_review23_keys_clientauth.py, tests/test_review5_keys_certs_introspection.py)
are not repeated.

Only loopback servers are used: moto's server (Secrets Manager) on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from authorizer_outcomes import outcome
from moto_services import create_secret

from secauth import Authorizer, Guard, JwtVerifier
from secauth.access import Routes, authenticated, roles
from secauth.api_keys import ApiKeyEntry, StaticApiKeys, hash_api_key
from secauth.errors import (
    BadRequest,
    ConfigurationError,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from secauth.hygiene import Field, InvalidFields, json_body
from secauth.protected_resource import WELL_KNOWN, ProtectedResource
from secauth.ratelimit import RateLimiter
from secauth.responses import Cors, SecurityHeaders
from secauth.secretsmanager_api_keys import SecretsManagerApiKeys
from secauth.testing import KeyPair
from secauth.testing_events import http_proxy, request_authorizer, rest_proxy
from secauth.token_sources import TokenSource

ISSUER = "https://idp.review63.example/"
PAIR = KeyPair.generate("ES256", kid="r63")
VERIFIER = JwtVerifier(issuer=ISSUER, audience="api", jwks={"keys": [PAIR.public_jwk]})
APP = "https://app.example.com"
OTHER_APP = "https://admin.example.com"
EVIL = "https://evil.example"

KEY_LIVE = "pk-review63-live-" + "a" * 24
KEY_OFF = "pk-review63-off-" + "b" * 24
KEY_OLD = "pk-review63-old-" + "c" * 24
KEY_NONE = "pk-review63-none-" + "d" * 24


def token(sub: str = "ann", **claims: Any) -> str:
    return PAIR.sign({"iss": ISSUER, "aud": "api", "sub": sub, "exp": 4_000_000_000, **claims})


# -- API keys ----------------------------------------------------------------------------


def test_unknown_disabled_and_expired_keys_are_refused_alike(secrets_manager: Any) -> None:
    """Enumeration: a revoked or an expired key's refusal is the unknown key's, to the
    client and in the decision record; no record carries a key or its hash."""
    fields = SecretsManagerApiKeys.fields
    secret = json.dumps({
        hash_api_key(KEY_LIVE): fields(ApiKeyEntry("partner-live")),
        hash_api_key(KEY_OFF): fields(ApiKeyEntry("partner-off"), disabled=True),
        hash_api_key(KEY_OLD): fields(ApiKeyEntry("partner-old"), expires_at=time.time() - 60),
    })
    store = SecretsManagerApiKeys(create_secret(secrets_manager, secret), client=secrets_manager)
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(api_keys=store, routes=Routes({"GET /orders": authenticated()}),
                            on_decision=records.append, decision_log=None, api="rest")  # fmt: skip

    def call(key: str) -> str:
        return outcome(authorizer, request_authorizer("GET", "/orders", headers={"x-api-key": key}))

    assert call(KEY_LIVE) == "partner-live"
    refused = [call(key) for key in (KEY_OFF, KEY_OLD, KEY_NONE)]
    assert refused == ["401", "401", "401"]
    shapes = [(r["decision"], r["reason"], r["status"], r.get("detail")) for r in records[1:]]
    assert len(set(map(repr, shapes))) == 1, shapes
    assert shapes[0][1] == "invalid_claims"
    dumped = json.dumps(records)
    for key in (KEY_LIVE, KEY_OFF, KEY_OLD, KEY_NONE):
        assert key not in dumped
        assert hash_api_key(key) not in dumped
    assert "partner-off" not in dumped
    assert "partner-old" not in dumped


def test_an_api_key_sent_as_a_bearer_token_is_not_a_key() -> None:
    """A key in ``Authorization: Bearer`` is a (bad) token, never looked up as a key; and a
    key beside a token decides only its own request (nothing memoized carries over)."""
    keys = StaticApiKeys({hash_api_key(KEY_LIVE): ApiKeyEntry("partner-a", roles=("admin",))})
    routes = Routes({"GET /admin": roles("admin"), "GET /me": authenticated()})
    authorizer = Authorizer(VERIFIER, api_keys=keys, routes=routes, decision_log=None, api="rest")
    as_bearer = request_authorizer("GET", "/admin", headers={"authorization": f"Bearer {KEY_LIVE}"})
    assert outcome(authorizer, as_bearer) == "401"
    ann = {"authorization": f"Bearer {token('ann')}"}
    both = request_authorizer("GET", "/admin", headers={**ann, "x-api-key": KEY_LIVE})
    assert outcome(authorizer, both) == "partner-a"
    # The same token alone, afterwards, is ann's (no admin role), not the key's answer.
    assert outcome(authorizer, request_authorizer("GET", "/admin", headers=ann)) == "deny"
    assert outcome(authorizer, request_authorizer("GET", "/me", headers=ann)) == "ann"


def test_an_empty_key_header_never_falls_back_to_the_bearer_token() -> None:
    """A present but blank key header is refused: it does not silently become a token
    request (a layer in front may have stripped a key it refused)."""
    keys = StaticApiKeys({hash_api_key(KEY_LIVE): ApiKeyEntry("partner-a")})
    authorizer = Authorizer(VERIFIER, api_keys=keys, routes=Routes({"GET /me": authenticated()}),
                            decision_log=None, api="rest")  # fmt: skip
    for blank in ("", " ", "\t \t"):
        headers = {"authorization": f"Bearer {token('ann')}", "x-api-key": blank}
        assert outcome(authorizer, request_authorizer("GET", "/me", headers=headers)) == "401"


class _LeakyStore:
    """A custom ApiKeyStore that fails with the key in its message, or answers odd shapes."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def lookup(self, key: str) -> Any:
        if self.answer == "raise":
            raise RuntimeError(f"backend refused key {key}")
        return self.answer


@pytest.mark.parametrize("answer", ["raise", {"principal_id": "partner-a"}, True, "partner-a"])
def test_a_custom_store_that_breaks_fails_closed_without_the_key(answer: Any) -> None:
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(api_keys=_LeakyStore(answer), routes=Routes({"GET /o": authenticated()}),
                            on_decision=records.append, decision_log=None, api="rest")  # fmt: skip
    event = request_authorizer("GET", "/o", headers={"x-api-key": KEY_LIVE})
    assert outcome(authorizer, event) == "401"
    assert records[-1]["decision"] == "unauthorized"
    assert KEY_LIVE not in json.dumps(records)


def test_an_api_key_principal_and_a_user_of_the_same_name_are_two_callers() -> None:
    """Rate-limit buckets: a user whose ``sub`` is a partner's principal id spends its own
    quota, not the partner key's (and the other way round)."""
    keys = StaticApiKeys({hash_api_key(KEY_LIVE): ApiKeyEntry("partner-a")})
    authorizer = Authorizer(
        VERIFIER, api_keys=keys, routes=Routes({"GET /o": authenticated()}), decision_log=None,
        api="rest", rate_limit=RateLimiter.per_principal("1/minute", algorithm="fixed_window"),
    )  # fmt: skip
    user = {"authorization": f"Bearer {token('partner-a')}"}
    key = {"x-api-key": KEY_LIVE}
    assert outcome(authorizer, request_authorizer("GET", "/o", headers=user)) == "partner-a"
    assert outcome(authorizer, request_authorizer("GET", "/o", headers=user)) == "deny"
    assert outcome(authorizer, request_authorizer("GET", "/o", headers=key)) == "partner-a"
    assert outcome(authorizer, request_authorizer("GET", "/o", headers=key)) == "deny"


def test_a_guard_never_lends_a_key_context_its_roles_to_a_same_named_token() -> None:
    """The authorizer decided by the key (roles admin); the function also got a token of a
    user named like the key's principal: the guard refuses the pair (review 98: the gate never
    checked that token), and never acts with the key's roles."""
    keys = StaticApiKeys({hash_api_key(KEY_LIVE): ApiKeyEntry("partner-a", roles=("admin",))})
    routes = Routes({"GET /admin": roles("admin")})
    authorizer = Authorizer(VERIFIER, api_keys=keys, routes=routes, decision_log=None, api="rest")
    answer = authorizer.handler(
        request_authorizer("GET", "/admin", headers={"x-api-key": KEY_LIVE}), None
    )
    assert answer["context"]["secauth_kind"] == "api_key"
    guard = Guard(VERIFIER, trust_authorizer=True, context_without_token={"api_key"},
                  routes=routes, decision_log=None)  # fmt: skip

    @guard
    def admin(event: Any, context: Any, principal: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": f"{principal.kind}:{principal.id}"}

    alone = rest_proxy("GET", "/admin", authorizer_response=answer, headers={"x-api-key": KEY_LIVE})
    assert admin(alone, None)["body"] == "api_key:partner-a"
    same_name = rest_proxy("GET", "/admin", authorizer_response=answer,
                           headers={"x-api-key": KEY_LIVE,
                                    "authorization": f"Bearer {token('partner-a')}"})  # fmt: skip
    assert admin(same_name, None)["statusCode"] == 401
    other = rest_proxy("GET", "/admin", authorizer_response=answer,
                       headers={"authorization": f"Bearer {token('mallory', roles=['admin'])}"})
    assert admin(other, None)["statusCode"] == 401


# -- CORS --------------------------------------------------------------------------------


def _cors_guard(handler_headers: dict[str, str], **cors: Any) -> Any:
    policy = Cors(allow_origins=cors.pop("origins", [APP, OTHER_APP]), **cors)
    guard = Guard(VERIFIER, routes=Routes({"GET /me": authenticated()}), cors=policy,
                  decision_log=None)  # fmt: skip

    @guard
    def me(event: Any, context: Any, principal: Any) -> dict[str, Any]:
        return {"statusCode": 200, "headers": dict(handler_headers), "body": principal.id}

    return me


def _vary(headers: dict[str, str]) -> set[str]:
    values = [v for k, v in headers.items() if k.lower() == "vary"]
    return {part.strip().lower() for value in values for part in value.split(",")}


def test_cors_vary_origin_survives_a_handler_vary() -> None:
    me = _cors_guard({"Vary": "Accept-Encoding", "Cache-Control": "public, max-age=60"},
                     allow_credentials=True)  # fmt: skip
    event = http_proxy("GET", "/me", headers={"authorization": f"Bearer {token()}", "origin": APP})
    headers = me(event, None)["headers"]
    assert headers["Access-Control-Allow-Origin"] == APP
    assert {"origin", "accept-encoding"} <= _vary(headers)


@pytest.mark.parametrize("origin", [None, EVIL])
def test_cors_answers_vary_on_origin_whatever_the_origin(origin: str | None) -> None:
    me = _cors_guard({"Cache-Control": "public, max-age=60"}, allow_credentials=True)
    headers = {"authorization": f"Bearer {token()}"}
    if origin is not None:
        headers["origin"] = origin
    answer = me(http_proxy("GET", "/me", headers=headers), None)
    assert answer["statusCode"] == 200
    assert "Access-Control-Allow-Origin" not in answer["headers"]
    assert "origin" in _vary(answer["headers"])


def test_cors_never_mixes_one_origin_into_another_answer() -> None:
    """Two allowed origins: each answer names the asking origin only, never a list, and
    credentials go only with an exact origin."""
    me = _cors_guard({}, allow_credentials=True)
    for origin in (APP, OTHER_APP):
        event = http_proxy("GET", "/me", headers={"authorization": f"Bearer {token()}",
                                                  "origin": origin})  # fmt: skip
        headers = me(event, None)["headers"]
        assert headers["Access-Control-Allow-Origin"] == origin
        assert headers["Access-Control-Allow-Credentials"] == "true"
    joined = http_proxy("GET", "/me", headers={"authorization": f"Bearer {token()}",
                                               "origin": f"{APP}, {OTHER_APP}"})  # fmt: skip
    assert not any(k.startswith("Access-Control") for k in me(joined, None)["headers"])


def test_cors_with_any_origin_never_allows_credentials_for_cookie_callers() -> None:
    """``*`` with a cookie-authenticated guard: the wildcard goes out, never with
    ``Allow-Credentials``, so a page of another site cannot read a cookie caller's answer."""
    guard = Guard(VERIFIER, routes=Routes({"GET /me": authenticated()}),
                  cors=Cors(allow_origins=["*"]), token_sources=[TokenSource.cookie("session")],
                  decision_log=None)  # fmt: skip

    @guard
    def me(event: Any, context: Any, principal: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": principal.id}

    event = http_proxy("GET", "/me", headers={"origin": EVIL}, cookies=[f"session={token()}"])
    answer = me(event, None)
    assert answer["statusCode"] == 200
    assert answer["headers"]["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in answer["headers"]
    preflight = me(http_proxy("OPTIONS", "/me", headers={
        "origin": EVIL, "access-control-request-method": "GET"}), None)  # fmt: skip
    assert preflight["statusCode"] == 204
    assert "Access-Control-Allow-Credentials" not in preflight["headers"]


# -- security headers --------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [{"X-A\r\nSet-Cookie": "a=b"}, {"X A": "v"}, {"X-A:": "v"}, {"X-A": "v\x00w"},
     {"X-A": "v\x0bw"}],
    ids=["crlf-name", "space-name", "colon-name", "nul-value", "vt-value"],
)  # fmt: skip
def test_security_headers_refuse_what_cannot_be_a_header(extra: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        SecurityHeaders(extra=extra)


# -- json_body ---------------------------------------------------------------------------

JSON = {"content-type": "application/json"}


def _event(body: str, *, b64: bool = False, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"headers": headers if headers is not None else JSON, "body": body,
            "isBase64Encoded": b64}  # fmt: skip


def test_json_body_limits_hold_at_the_exact_boundary() -> None:
    fields = {"n": str}
    at = '{"n":"' + "\u00e9" * 7 + '"}'  # 8 + 14 = 22 bytes
    assert len(at.encode()) == 22
    assert json_body(_event(at), fields=fields, max_bytes=22)["n"] == "\u00e9" * 7
    with pytest.raises(PayloadTooLarge):
        json_body(_event(at), fields=fields, max_bytes=21)
    encoded = base64.b64encode(at.encode()).decode()
    assert json_body(_event(encoded, b64=True), fields=fields, max_bytes=22)["n"] == "\u00e9" * 7
    with pytest.raises(PayloadTooLarge):
        json_body(_event(encoded, b64=True), fields=fields, max_bytes=21)
    nested = '{"d":' * 3 + "1" + "}" * 3  # depth 3
    assert json_body(_event(nested), fields={"d": dict}, max_depth=3)
    with pytest.raises(BadRequest):
        json_body(_event(nested), fields={"d": dict}, max_depth=2)


@pytest.mark.parametrize(
    "content_type",
    ["Application/JSON", 'application/json; Charset="UTF-8"', "application/json ;charset=utf8"],
)
def test_json_body_takes_content_type_case_and_utf8_spellings(content_type: str) -> None:
    event = _event('{"a":1}', headers={"Content-Type": content_type})
    assert json_body(event, fields={"a": int}) == {"a": 1}


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8; charset=latin-1", "application/jsonp",
     "application/json-seq", "text/json", "application/json, text/plain",
     "application/x-www-form-urlencoded", "text/plain; a=application/json"],
)  # fmt: skip
def test_json_body_refuses_other_media_types(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        json_body(_event('{"a":1}', headers={"content-type": content_type}), fields={"a": int})


@pytest.mark.parametrize(
    "raw",
    [b'\xef\xbb\xbf{"a":1}', '{"a":1}'.encode("utf-16"), b'{"a":1,"a":2}',
     b'{"a":1}\x00', b'{"a":1} {"a":2}', b'{"a":0x10}', b'{"a":01}'],
    ids=["bom", "utf16", "duplicate", "nul-tail", "two-docs", "hex", "leading-zero"],
)  # fmt: skip
def test_json_body_refuses_non_canonical_bodies_in_base64(raw: bytes) -> None:
    event = _event(base64.b64encode(raw).decode(), b64=True)
    with pytest.raises(BadRequest) as caught:
        json_body(event, fields={"a": int})
    assert not isinstance(caught.value, InvalidFields)


@pytest.mark.parametrize(
    ("spec", "value", "accepted"),
    [(Field(int, choices={1, 2}), True, False), (Field(int, choices={1, 2}), 1.0, False),
     (Field(float, choices={1, 2}), 1.0, True), (Field(str, choices={"a"}), "A", False),
     (Field(str, choices={"admin"}), "\uff41dmin", False),
     (Field(int, maximum=10), 10**300, False), (Field(float, minimum=0), -0.0, True)],
)  # fmt: skip
def test_field_choices_and_ranges_do_not_coerce(spec: Field, value: Any, accepted: bool) -> None:
    event = _event(json.dumps({"v": value}))
    if accepted:
        assert json_body(event, fields={"v": spec}) == {"v": value}
    else:
        with pytest.raises(InvalidFields):
            json_body(event, fields={"v": spec})


# -- RFC 9728 metadata -------------------------------------------------------------------


def test_client_controlled_host_and_path_never_reach_metadata_or_challenge() -> None:
    resource = ProtectedResource(resource="https://mcp.example.com/mcp",
                                 authorization_servers=["https://auth.example.com"],
                                 scopes_supported=["tools.read"])  # fmt: skip
    verifier = resource.verifier(issuer=ISSUER, jwks={"keys": [PAIR.public_jwk]})
    guard = Guard(verifier, routes=Routes({"ANY /mcp": authenticated()}),
                  protected_resource=resource, decision_log=None)  # fmt: skip

    @guard
    def mcp(event: Any, context: Any, principal: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ok"}

    spoofed = {"host": "evil.example", "x-forwarded-host": "evil.example",
               "forwarded": "host=evil.example", "x-forwarded-proto": "http"}  # fmt: skip
    document = mcp(http_proxy("GET", WELL_KNOWN + "/mcp", headers=spoofed), None)
    assert document["statusCode"] == 200
    assert json.loads(document["body"]) == resource.metadata()
    for path in (WELL_KNOWN + "/mcp/evil.example", WELL_KNOWN + "/evil", "/mcp"):
        refused = mcp(http_proxy("GET", path, headers=spoofed), None)
        assert refused["statusCode"] == 401
        challenge = refused["headers"]["WWW-Authenticate"]
        assert f'resource_metadata="{resource.metadata_url}"' in challenge
        assert "evil" not in json.dumps(refused)
    head = mcp(http_proxy("HEAD", WELL_KNOWN + "/mcp"), None)
    assert head["statusCode"] == 401
