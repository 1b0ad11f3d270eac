"""Review 24: where secauth writes something out, no credential may appear.

The promise under attack: "No tokens, keys, secrets or stack traces in responses or logs."
Every place secauth writes is exercised with real objects and loopback servers: decision
records (stdout JSON lines and the ``secauth.decisions`` logger), the ``logging`` calls
(``secauth.jwks``, ``secauth.introspection``, ``secauth.ratelimit``...), error objects
(``detail``, ``str``, ``repr``, ``to_log``), problem+json responses and their headers,
authorizer refusals, the ``secauth`` command and the reprs of configured objects.

Findings are ``xfail(strict=True)`` tests asserting the correct behaviour; the attacks that
held are plain regression tests.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from secauth import cli
from secauth.access import Routes
from secauth.api_keys import ApiKeyEntry, StaticApiKeys, entries, hash_api_key
from secauth.authorizer import Authorizer
from secauth.client_auth import ClientAuth
from secauth.dpop import DpopVerifier
from secauth.dpop_nonce import DpopNonces
from secauth.dpop_replay import MemoryReplayStore, RedisReplayStore
from secauth.errors import (
    ConfigurationError,
    KeysUnavailable,
    SecAuthError,
    UnknownKey,
)
from secauth.guard import Guard
from secauth.introspection import IntrospectionVerifier
from secauth.jwks import JwksCache
from secauth.policy import Unauthorized
from secauth.ratelimit import RateLimiter, RedisStore
from secauth.revocation import Revocations
from secauth.revocation_stores import RedisRevocationStore
from secauth.rules import rule
from secauth.testing import KeyPair
from secauth.testing_events import function_url, http_proxy, token_authorizer
from secauth.verifier import JwtVerifier

ISSUER, AUDIENCE = "https://idp.example/", "orders-api"
PAIR = KeyPair.generate("ES256", kid="k1")
OTHER = KeyPair.generate("ES256", kid="k1")  # same kid, another key: a forged signature
JWKS = {"keys": [PAIR.public_jwk]}
CLIENT_SECRET = "client-secret-0123456789-DO-NOT-LOG"
REDIS_PASSWORD = "r3dis-PASSWORD-do-not-log"


def _token(pair: KeyPair = PAIR, *, headers: dict[str, Any] | None = None, **claims: Any) -> str:
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ann", "exp": 4_000_000_000, **claims}
    return pair.sign({k: v for k, v in body.items() if v is not None}, headers=headers)


VICTIM = _token(sub="victim")  # a valid token of somebody else, smuggled into other fields


def _verifier(**options: Any) -> JwtVerifier:
    return JwtVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=JWKS, **options)


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every log record's message and its extras (a JSON formatter prints extras too)."""
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(json.dumps(record.__dict__, default=str))
    return "\n".join(parts)


def _everything(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], *more: Any
) -> str:
    captured = capsys.readouterr()
    extra = [json.dumps(m, default=str) if not isinstance(m, str) else m for m in more]
    return "\n".join([captured.out, captured.err, _logged(caplog), *extra])


class _Docs:
    """A loopback HTTP server answering GETs from ``routes``: path -> (status, headers, body)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, headers, body = owner.routes.get(self.path, (404, {}, b"nope"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def serve(self, path: str, status: int, body: Any, headers: dict[str, str] | None = None):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.routes[path] = (status, {"Content-Type": "application/json", **(headers or {})}, raw)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def docs() -> Iterator[_Docs]:
    server = _Docs()
    yield server
    server.stop()


@pytest.fixture
def caplog_all(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


# =============================================================================================
# FINDINGS
# =============================================================================================

# -- F1 (medium): `secauth authorize` redacts only what reaches sys.stdout through the redirect


_STDERR_APP = """
import sys

def handler(event, context):
    print("debug:", event["authorizationToken"], file=sys.stderr)
    return {"principalId": "p", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": [event["methodArn"]]}]}}
"""

_IMPORT_TIME_LOGGER_APP = """
import logging, sys

log = logging.getLogger(__name__)
log.addHandler(logging.StreamHandler(sys.stdout))  # as Powertools' Logger does at import
log.setLevel(logging.INFO)
log.propagate = False

def handler(event, context):
    log.info("event %s", event)
    return {"principalId": "p", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": [event["methodArn"]]}]}}
"""

_module_names = iter(range(10**6))


def _write_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> str:
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"review24_leaks_app_{next(_module_names)}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), "utf-8")
    return name


def _authorize(tmp_path: Path, spec: str, event: dict[str, Any]) -> int:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event), "utf-8")
    return cli.main(["authorize", "--app", spec, "--event", str(path)])


@pytest.mark.parametrize("source", [_STDERR_APP, _IMPORT_TIME_LOGGER_APP], ids=["stderr", "logger"])
def test_authorize_redacts_everything_the_handler_writes(
    source: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The module docstring of secauth._invoke: "Nothing printed carries the credentials of
    the event". A handler that logs the event through a handler made at import (Powertools'
    Logger keeps the sys.stdout of its creation) or writes to stderr prints the token as is:
    only writes through the redirected sys.stdout are redacted."""
    secret = "opaque-access-token-0123456789-LEAK"
    name = _write_app(tmp_path, monkeypatch, source)
    try:
        _authorize(tmp_path, f"{name}:handler", token_authorizer("GET", "/orders", token=secret))
    finally:
        sys.modules.pop(name, None)
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err


# -- F2 (low): a usage-plan API key holding `"` or `\` is printed JSON-escaped, unredacted


def test_authorize_redacts_an_api_key_that_json_escapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """api_key_problem accepts printable ASCII, `"` and `\\` included. The response is printed
    with json.dumps, which escapes them, so Invocation.redact's plain replace never matches
    the usageIdentifierKey."""
    key = 'pk-"partner\\key-0123456789'
    source = f"""
    from secauth import ApiKeyEntry, Authorizer, Routes, StaticApiKeys, authenticated
    authorizer = Authorizer(None, routes=Routes({{"GET /orders": authenticated()}}), api="rest",
        api_keys=StaticApiKeys({{{hash_api_key(key)!r}: ApiKeyEntry("partner-a", usage_plan=True)}}))
    """
    name = _write_app(tmp_path, monkeypatch, source)
    event = {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/orders",
        "resource": "/orders",
        "path": "/orders",
        "httpMethod": "GET",
        "headers": {"X-Api-Key": key},
        "requestContext": {"requestId": "r-1", "identity": {"sourceIp": "203.0.113.7"}},
    }
    try:
        code = _authorize(tmp_path, f"{name}:authorizer", event)
    finally:
        sys.modules.pop(name, None)
    out = capsys.readouterr().out
    assert code == cli.EXIT_OK
    assert json.loads(out)["usageIdentifierKey"] == "[redacted]"


# -- F3 (low): check_url's ConfigurationError quotes the whole URL, query secrets included

URL_SECRET = "sig-S3CRET-function-key-0123"


@pytest.mark.parametrize(
    "build",
    [
        lambda: JwksCache(f"http://idp.example.com/keys?code={URL_SECRET}"),
        lambda: JwtVerifier(
            issuer=ISSUER,
            audience=AUDIENCE,
            jwks_uri=f"https://idp.example.com:99999/keys?code={URL_SECRET}",
        ),
        lambda: IntrospectionVerifier(
            issuer=None,
            audience=None,
            client=ClientAuth.basic("cid", CLIENT_SECRET),
            endpoint=f"https://as.example.com:0/introspect?key={URL_SECRET}",
        ),
    ],
    ids=["jwks-http", "verifier-port", "introspection-port0"],
)
def test_a_refused_url_is_not_quoted_with_its_query(build: Callable[[], Any]) -> None:
    """shown_url exists so no query (a function key, a signature) reaches a log line, and
    review "jwks_url_query" made records and warnings use it. The ConfigurationError raised
    for the same URL at construction (a Lambda init error, in CloudWatch) still quotes it
    whole: _urls.check_url formats {url!r}."""
    with pytest.raises(ConfigurationError) as info:
        build()
    assert URL_SECRET not in str(info.value)
    assert URL_SECRET not in repr(info.value)


# -- F4 (low): a Redis password with '/', '?' or '#' comes back in the error text


@pytest.mark.parametrize(
    ("build", "url"),
    [
        (RedisStore, "redis://:pa55/w0rd-SECRET@127.0.0.1:6379/0"),
        (lambda url: RedisStore(url, cluster=True), "redis://:pa55/w0rd-SECRET@127.0.0.1:6379"),
        (RedisRevocationStore, "redis://:pa55?w0rd-SECRET@127.0.0.1:6379/0"),
        (
            lambda url: RedisRevocationStore(url, cluster=True),
            "redis://:pa55/w0rd-SECRET@127.0.0.1:6379",
        ),
        (RedisReplayStore, "redis://:pa55#w0rd-SECRET@127.0.0.1:6379/0"),
    ],
    ids=["store", "store-cluster", "revocations", "revocations-cluster", "dpop-replay"],
)
def test_a_redis_url_error_quotes_no_part_of_the_password(
    build: Callable[[str], Any], url: str
) -> None:
    """An unencoded '/', '?' or '#' in the password (common in generated passwords) ends
    the netloc early: redis-py's ValueError names the password's first part as the port
    ("Port could not be cast to integer value as 'pa55'"), and _redis._check_cluster_url
    quotes the rest as a database ("not w0rd-SECRET@127.0.0.1:6379"). The URL should be
    refused without quoting any of it."""
    with pytest.raises(Exception) as info:  # noqa: PT011 - any refusal, as long as it is quiet
        build(url)
    text = f"{info.value} {info.value!r}"
    assert "pa55" not in text
    assert "w0rd-SECRET" not in text


# -- F5 (low): a discovered introspection endpoint reaches a plain-text warning raw


def test_a_discovered_introspection_endpoint_cannot_forge_log_lines(
    scripted: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """check_url refuses control characters in the host only. An introspection_endpoint
    from the discovery document with ESC, U+2028 and 20,000 characters in its path is
    accepted, its POST fails (InvalidURL) and the secauth.introspection warning writes
    shown_url(endpoint) as is: terminal escapes, a line break for many log viewers, and an
    unbounded line."""
    forged = "/in\x1b[2J\x1b[31mtrospect\u2028FORGED secauth.decisions allow" + "A" * 20_000
    scripted.discovery = {
        "issuer": scripted.origin,
        "introspection_endpoint": scripted.origin + forged,
    }
    verifier = IntrospectionVerifier(
        issuer=scripted.origin,
        audience=None,
        client=ClientAuth.basic("cid", CLIENT_SECRET),
        allow_http=True,
    )
    caplog.set_level(logging.WARNING, logger="secauth.introspection")
    with pytest.raises(KeysUnavailable):
        verifier.verify("opaque-token-0123456789")
    messages = [r.getMessage() for r in caplog.records if r.name == "secauth.introspection"]
    assert messages
    for message in messages:
        assert not any(ch in message for ch in "\x1b\u2028\r\n")
        assert len(message) < 2_000


# -- F6 (low): JWKS skip reasons quote IdP values unbounded


def test_a_jwks_skip_reason_is_bounded(docs: _Docs, caplog: pytest.LogCaptureFixture) -> None:
    """import_jwks cuts a kid to 64 characters ("Reasons name the kid (cut to 64
    characters)"), but the reason itself quotes kty, use, alg and crv with repr and no
    bound: one fetched JWK with a 40,000-character kty is one 40 KB secauth.jwks line."""
    docs.serve("/jwks", 200, {"keys": [PAIR.public_jwk, {"kty": "K" * 40_000, "kid": "big"}]})
    cache = JwksCache(docs.url("/jwks"), allow_http=True)
    caplog.set_level(logging.INFO, logger="secauth.jwks")
    assert cache.hydrate()
    messages = [r.getMessage() for r in caplog.records if r.name == "secauth.jwks"]
    assert messages
    assert max(len(m) for m in messages) < 2_000


# =============================================================================================
# WHAT HELD
# =============================================================================================

# -- the request pipeline: every refusal, Guard and Authorizer alike


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


_API_KEY_LIKE = "pk-live-0123456789abcdefghijklmnop"
_REFUSALS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "bad-signature": ({"token": (t := _token(OTHER))}, (t,)),
    "unknown-kid-is-a-token": ({"token": (t := _token(headers={"kid": VICTIM}))}, (t, VICTIM)),
    "expired": ({"token": (t := _token(exp=1_000_000_000))}, (t,)),
    "audience-is-a-token": ({"token": (t := _token(aud=VICTIM))}, (t, VICTIM)),
    "issuer-is-a-token": ({"token": (t := _token(iss=VICTIM))}, (t, VICTIM)),
    "claims-hold-a-token": (
        {"token": (t := _token(exp=1, at=VICTIM, cnf_raw=VICTIM))},
        (t, VICTIM),
    ),
    "api-key-as-bearer": ({"token": _API_KEY_LIKE}, (_API_KEY_LIKE,)),
    "basic-credentials": (
        {"authorization": _basic("ann", "hunter2-password-xyz")},
        ("hunter2-password-xyz", _basic("ann", "hunter2-password-xyz")[6:]),
    ),
}


@pytest.mark.parametrize("case", sorted(_REFUSALS))
def test_guard_refusals_carry_no_credential(
    case: str, caplog_all: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    sent, secrets = _REFUSALS[case]
    guard = Guard(_verifier())
    handler = guard(lambda event, context: {"statusCode": 200, "body": "ok"})
    response = handler(http_proxy("GET", "/orders", **sent), None)
    assert response["statusCode"] == 401
    assert set(json.loads(response["body"])) <= {"type", "title", "status", "request_id"}
    seen = _everything(caplog_all, capsys, response)
    assert '"secauth":"decision"' in seen
    for secret in secrets:
        assert secret not in seen, case


@pytest.mark.parametrize("case", sorted(_REFUSALS))
def test_authorizer_refusals_carry_no_credential(
    case: str, caplog_all: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    sent, secrets = _REFUSALS[case]
    authorizer = Authorizer(_verifier())
    with pytest.raises(Unauthorized) as info:
        authorizer.handler(token_authorizer("GET", "/orders", **sent), None)
    seen = _everything(caplog_all, capsys, str(info.value), repr(info.value))
    assert '"secauth":"decision"' in seen
    for secret in secrets:
        assert secret not in seen, case


def test_a_long_attacker_kid_is_cut_in_every_rendering_of_the_error() -> None:
    """A 5,000-character kid stays 123 characters in detail, repr, str and to_log."""
    kid = "K" * 5_000
    with pytest.raises(UnknownKey) as info:
        _verifier().verify(_token(headers={"kid": kid}))
    err = info.value
    for text in (repr(err), str(err), json.dumps(err.to_log()), json.dumps(err.detail)):
        assert "K" * 121 not in text


def test_hook_exceptions_keep_only_their_type(
    caplog_all: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """A verifier check hook, an access rule and the guarded handler each raise with the
    token in the message: records and responses keep the exception's type only."""
    token = _token()

    def check(header: Any, claims: Any, key: Any) -> None:
        raise ValueError(f"refusing {token}")

    with pytest.raises(SecAuthError) as info:
        _verifier(check=check).verify(token)
    assert token not in f"{info.value} {info.value!r} {json.dumps(info.value.to_log())}"

    @rule
    def explode(principal: Any, context: Any) -> bool:
        raise RuntimeError(f"rule saw {token}")

    authorizer = Authorizer(_verifier(), routes=Routes({"GET /orders": explode}))
    with pytest.raises(Unauthorized):
        authorizer.handler(token_authorizer("GET", "/orders", token=token), None)

    def handler(event: Any, context: Any) -> Any:
        raise KeyError(f"handler saw {token}")

    response = Guard(_verifier())(handler)(http_proxy("GET", "/orders", token=token), None)
    assert response["statusCode"] == 500
    seen = _everything(caplog_all, capsys, response)
    assert '"error":"RuntimeError"' in seen
    assert '"error":"KeyError"' in seen
    assert token not in seen


@pytest.mark.parametrize("mode", ["stdout", "logging"])
def test_a_decision_record_is_one_line_whatever_the_path_holds(
    mode: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """CR, LF, U+2028, U+2029, NUL and ANSI escapes in the path: the record is still one
    JSON line with none of them raw."""
    path = "/a\r\nsecauth decision allow\u2028\u2029\x00\x1b[2Jb"
    caplog.set_level(logging.INFO, logger="secauth.decisions")
    guard = Guard(_verifier(), decision_log=mode)
    guard(lambda e, c: {"statusCode": 200})(function_url("GET", path, token=_token()), None)
    lines = (
        [r.getMessage() for r in caplog.records if r.name == "secauth.decisions"]
        if mode == "logging"
        else capsys.readouterr().out.splitlines()
    )
    assert len(lines) == 1
    assert not any(ch in lines[0] for ch in "\r\n\u2028\u2029\x00\x1b")
    assert json.loads(lines[0])["path"].startswith("/a\r\n")


def test_refusal_headers_echo_nothing_the_client_sent(capsys: pytest.CaptureFixture[str]) -> None:
    event = http_proxy(
        "GET",
        "/orders",
        token=_token(OTHER),
        headers={"x-request-id": "echo-me-123456", "origin": "https://evil.example"},
    )
    response = Guard(_verifier())(lambda e, c: {"statusCode": 200})(event, None)
    rendered = json.dumps(response["headers"])
    assert "echo-me-123456" not in rendered
    assert "evil.example" not in rendered
    assert "Access-Control-Allow-Origin" not in response["headers"]
    capsys.readouterr()


# -- key fetches: what the IdP sends back is never logged


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b"stack trace: token=SECRET-echo-0123456789 password=SECRET-echo-0123456789"),
        (200, b"<html>SECRET-echo-0123456789</html>"),
        (401, json.dumps({"error": "SECRET-echo-0123456789"}).encode()),
    ],
    ids=["500", "garbage", "401"],
)
def test_a_jwks_failure_logs_no_body(
    status: int,
    body: bytes,
    docs: _Docs,
    caplog_all: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    docs.serve("/jwks", status, body)
    verifier = JwtVerifier(
        issuer=ISSUER, audience=AUDIENCE, jwks=JwksCache(docs.url("/jwks"), allow_http=True)
    )
    with pytest.raises(KeysUnavailable) as info:
        verifier.verify(_token())
    err = info.value
    seen = _everything(caplog_all, capsys, repr(err), err.to_log())
    assert "JWKS fetch from" in seen
    assert "SECRET-echo" not in seen


def test_private_key_material_in_a_fetched_jwks_is_never_logged(
    docs: _Docs, caplog_all: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    material = "UFJJVkFURS1LRVktTUFURVJJQUwtMDEyMzQ1Njc4OWFiY2RlZg"
    leaky = dict(PAIR.public_jwk, kid="leaky", d=material)
    symmetric = {"kty": "oct", "kid": "hmac", "k": material}
    weird = {"kty": "RSA", "kid": "rsa", "n": material + "!", "e": "AQAB"}
    docs.serve("/jwks", 200, {"keys": [PAIR.public_jwk, leaky, symmetric, weird]})
    cache = JwksCache(docs.url("/jwks"), allow_http=True)
    assert cache.hydrate()
    assert "kid 'leaky'" in _logged(caplog_all)
    assert material not in _everything(caplog_all, capsys, [repr(k) for k in cache.keys_for("k1")])


def test_a_cross_origin_redirect_with_a_secret_in_its_location_is_not_logged(
    docs: _Docs, caplog_all: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "SECRET-sig-in-location-0123456789"
    docs.serve("/jwks", 302, b"", {"Location": f"https://elsewhere.example/k?sig={secret}"})
    cache = JwksCache(docs.url("/jwks"), allow_http=True)
    assert not cache.hydrate()
    with pytest.raises(KeysUnavailable) as info:
        cache.keys_for("k1")
    assert secret not in _everything(caplog_all, capsys, repr(info.value))


# -- introspection: the AS's answers, the client's secret and assertion never come back


@pytest.mark.parametrize("status", [400, 503, 200])
@pytest.mark.parametrize("method", ["basic", "post", "private_key_jwt"])
def test_an_introspection_failure_logs_no_token_secret_or_body(
    status: int,
    method: str,
    scripted: Any,
    caplog_all: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The AS answers with a body echoing the token, the client secret and the assertion
    it received (200: as a document that is not RFC 7662)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    token = "opaque-AT-0123456789-LEAK"
    client = (
        ClientAuth.private_key_jwt("cid", ec.generate_private_key(ec.SECP256R1()))
        if method == "private_key_jwt"
        else getattr(ClientAuth, method)("cid", CLIENT_SECRET)
    )
    verifier = IntrospectionVerifier(
        issuer=None, audience=None, client=client, endpoint=scripted.url, allow_http=True
    )
    body = {"active": "yes", "echo": f"{token} {CLIENT_SECRET}"}
    scripted.answer(token, body, status)
    with pytest.raises(KeysUnavailable) as info:
        verifier.verify(token)
    form = scripted.requests[-1]["form"]
    assertion = form.get("client_assertion", "never-sent-assertion")
    err = info.value
    seen = _everything(caplog_all, capsys, repr(err), err.to_log(), str(err), repr(verifier))
    assert "token introspection at" in seen
    for secret in (token, CLIENT_SECRET, assertion, "echo"):
        assert secret not in seen


def test_an_active_answer_holding_credentials_reaches_no_record(
    scripted: Any, caplog_all: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    token = "opaque-AT-active-0123456789"
    scripted.answer(
        token,
        {
            "active": True,
            "sub": "ann",
            "exp": 4_000_000_000,
            "token_type": "Bearer",
            "refresh_token": "RT-SECRET-0123456789",
            "client_secret": CLIENT_SECRET,
            "iss": token,
        },
    )
    verifier = IntrospectionVerifier(
        issuer="https://as.example/",
        audience=None,
        client=ClientAuth.basic("cid", CLIENT_SECRET),
        endpoint=scripted.url,
        allow_http=True,
    )
    response = Guard(verifier)(lambda e, c: {"statusCode": 200})(
        http_proxy("GET", "/orders", token=token), None
    )
    assert response["statusCode"] == 401  # iss is not the issuer
    seen = _everything(caplog_all, capsys, response)
    assert "RT-SECRET" not in seen
    assert CLIENT_SECRET not in seen


# -- stores: a Redis password in the URL


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_redis_store_that_is_down_logs_no_password(
    closed_port: int, caplog_all: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{closed_port}/0"
    limiter = RateLimiter.per_ip("5/minute", store=RedisStore(url))
    guard = Guard(_verifier(), rate_limit=limiter)
    response = guard(lambda e, c: {"statusCode": 200})(
        http_proxy("GET", "/o", token=_token()), None
    )
    assert response["statusCode"] == 200  # on_store_error="memory"
    revocations = Revocations(RedisRevocationStore(url), failure="closed")
    now = int(time.time())  # a lifetime within the list's max_token_lifetime
    revocable = _token(jti="j-1", iat=now, exp=now + 3600)
    with pytest.raises(KeysUnavailable) as info:
        _verifier(revocations=revocations).verify(revocable)
    seen = _everything(caplog_all, capsys, repr(info.value), info.value.to_log(), response)
    assert "rate-limit store failed" in seen
    assert REDIS_PASSWORD not in seen


def test_configured_objects_print_no_secret(closed_port: int) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    hmac_secret = "hmac-SECRET-0123456789abcdefghijklmnop"
    nonce_secret = b"nonce-SECRET-0123456789abcdefghij"
    url = f"redis://user:{REDIS_PASSWORD}@127.0.0.1:{closed_port}/0"
    store = RedisStore(url)
    objects: list[Any] = [
        JwtVerifier(issuer=ISSUER, audience=AUDIENCE, secret=hmac_secret, algorithms=["HS256"]),
        ClientAuth.basic("cid", CLIENT_SECRET),
        ClientAuth.post("cid", CLIENT_SECRET),
        ClientAuth.private_key_jwt("cid", ec.generate_private_key(ec.SECP256R1())),
        IntrospectionVerifier(
            issuer=None,
            audience=None,
            client=ClientAuth.basic("cid", CLIENT_SECRET),
            endpoint="https://as.example/introspect",
        ),
        DpopNonces(secret=nonce_secret),
        DpopVerifier(replay=MemoryReplayStore(), nonces=DpopNonces(secret=nonce_secret)),
        store,
        store.client,
        RedisStore(url, cluster=True),
        RateLimiter.per_ip("5/minute", store=store),
        RedisRevocationStore(url),
        RedisRevocationStore(url).client,
        Revocations(RedisRevocationStore(url)),
        RedisReplayStore(url),
        RedisReplayStore(url).client,
        StaticApiKeys({hash_api_key(_API_KEY_LIKE): ApiKeyEntry("partner")}),
    ]
    for obj in objects:
        for text in (repr(obj), str(obj)):
            for secret in (
                hmac_secret,
                CLIENT_SECRET,
                "nonce-SECRET",
                REDIS_PASSWORD,
                _API_KEY_LIKE,
            ):
                assert secret not in text, type(obj).__name__


def test_configuration_errors_never_quote_the_secret_they_refuse() -> None:
    """Plain API keys where hashes belong, short or PEM-shaped HMAC secrets, short nonce
    secrets: each refusal names the rule, never the value."""
    pem = (
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsecretish\n"
        "-----END PUBLIC KEY-----"
    )
    attempts: list[tuple[Callable[[], Any], str]] = [
        (lambda: StaticApiKeys({_API_KEY_LIKE: ApiKeyEntry("p")}), _API_KEY_LIKE),
        (lambda: entries([("short-SECRET", ApiKeyEntry("p"))]), "short-SECRET"),
        (lambda: entries([(_API_KEY_LIKE + "\u00a0", ApiKeyEntry("p"))]), _API_KEY_LIKE),
        (
            lambda: JwtVerifier(
                issuer=ISSUER, audience=AUDIENCE, secret="hmac-SECRET", algorithms=["HS256"]
            ),
            "hmac-SECRET",
        ),
        (
            lambda: JwtVerifier(issuer=ISSUER, audience=AUDIENCE, secret=pem, algorithms=["HS256"]),
            "secretish",
        ),
        (lambda: DpopNonces(secret=b"nonce-SECRET"), "nonce-SECRET"),
        (lambda: JwksCache(f"https://user:{REDIS_PASSWORD}@idp.example/keys"), REDIS_PASSWORD),
    ]
    for attempt, secret in attempts:
        with pytest.raises(ConfigurationError) as info:
            attempt()
        assert secret not in f"{info.value} {info.value!r} {info.value.detail}"


# -- the command line


def test_verify_prints_the_reason_not_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(JWKS), "utf-8")
    for token in (_token(OTHER), _token(aud=VICTIM), _token(exp=1_000_000_000)):
        code = cli.main(
            ["verify", token, "--issuer", ISSUER, "--audience", AUDIENCE, "--jwks-file", str(jwks)]
        )
        captured = capsys.readouterr()
        assert code == cli.EXIT_REJECTED
        assert token not in captured.out + captured.err
        assert VICTIM not in captured.out + captured.err


def test_authorize_redacts_tokens_from_every_event_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Header, cookie and query tokens the handler prints or raises with are redacted."""
    source = """
    def handler(event, context):
        print("event", event)
        raise ValueError("giving up on " + repr(event.get("headers")))
    """
    name = _write_app(tmp_path, monkeypatch, source)
    secrets = ("opaque-cookie-0123456789", "opaque-query-0123456789", "opaque-header-0123456789")
    event = http_proxy(
        "GET",
        "/orders",
        authorization=f"Bearer {secrets[2]}",
        cookies=[f"session={secrets[0]}"],
        query={"access_token": secrets[1]},
    )
    try:
        code = _authorize(tmp_path, f"{name}:handler", event)
    finally:
        sys.modules.pop(name, None)
    captured = capsys.readouterr()
    assert code == cli.EXIT_HANDLER_ERROR
    assert "[redacted]" in captured.out
    for secret in secrets:
        assert secret not in captured.out + captured.err
