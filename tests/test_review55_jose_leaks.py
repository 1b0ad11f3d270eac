"""Adversarial review 55: JOSE, JWKS and discovery attacks, and leaks, that earlier reviews
did not cover.

Real keys (``KeyPair``), real loopback servers (``LocalIssuer`` or the small scripted
server below on 127.0.0.1), time moved by hand. A test marked ``xfail(strict=True,
there; the other tests are attacks that held, kept as regression tests.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hand_clock import Clock

from secauth import JwksCache, JwtVerifier
from secauth.errors import (
    ConfigurationError,
    InvalidAudience,
    KeysUnavailable,
    MalformedToken,
    SecAuthError,
    UnknownKey,
)
from secauth.jwks import StaticKeys
from secauth.testing import KeyPair, LocalIssuer, encode_segment, sign_compact

ISS = "https://idp.example.com/"
AUD = "api"
FAR = 4_000_000_000
SECRET_MARK = "S3CR3T-QUERY-9d1c"

# A response the scripted server sends: status, headers, body.
Answer = tuple[int, list[tuple[str, str]], bytes]


class Scripted:
    """A real HTTP server on 127.0.0.1 whose answer to each GET path is a function."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[], Answer]] = {}
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                server.hits[path] = server.hits.get(path, 0) + 1
                route = server.routes.get(path)
                status, headers, body = route() if route else (404, [], b"")
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True

    @property
    def base(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def json(self, path: str, text: str | bytes) -> None:
        body = text.encode() if isinstance(text, str) else text
        self.routes[path] = lambda: (200, [("Content-Type", "application/json")], body)

    def start(self) -> None:
        threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def server() -> Iterator[Scripted]:
    scripted = Scripted()
    scripted.start()
    try:
        yield scripted
    finally:
        scripted.stop()


def claims(**extra: Any) -> dict[str, Any]:
    return {"iss": ISS, "aud": AUD, "sub": "alice", "exp": FAR, **extra}


def refused(verify: Callable[[str], Any], token: str) -> SecAuthError:
    with pytest.raises(SecAuthError) as info:
        verify(token)
    return info.value


def rendered(err: SecAuthError) -> str:
    """Every way an error reaches a log or a response, as one text."""
    return " | ".join([str(err), repr(err), json.dumps(err.to_log(), default=str)])


# --- findings ------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [64, 2**80, 64.0, ["a" * 32]])
def test_a_secret_of_another_type_is_a_configuration_error(secret: object) -> None:
    """Only str and bytes are secrets; a huge int used to raise OverflowError."""
    with pytest.raises(ConfigurationError, match="must be str or bytes"):
        JwtVerifier(issuer=ISS, audience=AUD, secret=secret, algorithms=["HS256"])  # type: ignore[arg-type]


def test_an_ec_key_in_base64_der_is_refused_and_random_secrets_are_not() -> None:
    """A P-256 key's base64 DER starts ``MFkw``, not ``MI`` (the old guard's only
    prefix); random secrets in base64, base64url and hex still pass."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pair = KeyPair.generate("ES256", kid="ec")
    assert isinstance(pair.private_key, ec.EllipticCurvePrivateKey)
    der = pair.private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ConfigurationError, match="looks like a public key"):
        JwtVerifier(issuer=ISS, audience=AUD, secret=base64.b64encode(der).decode(),
                    algorithms=["HS256"])  # fmt: skip
    for _ in range(50):
        random = os.urandom(48)
        for spelling in (base64.b64encode(random), base64.urlsafe_b64encode(random),
                         random.hex().encode(), b"\x30" + random):  # fmt: skip
            JwtVerifier(issuer=ISS, audience=AUD, secret=spelling, algorithms=["HS256"])


def test_an_integer_secret_is_refused_not_turned_into_zero_bytes() -> None:
    """``VerificationKey.from_secret`` runs ``bytes(secret)`` on anything that is not a
    str: an int N (a config loader that parsed a numeric secret, ``secret=64`` meant as a
    length) becomes N zero bytes, passes the length check, and every token HMAC'd with
    zeros verifies."""
    try:
        verifier = JwtVerifier(
            issuer=ISS,
            audience=AUD,
            secret=64,  # type: ignore[arg-type]
            algorithms=["HS256"],
        )
    except ConfigurationError:
        return
    forged = sign_compact(
        {"alg": "HS256", "typ": "JWT"}, encode_segment(claims(sub="root")), b"\x00" * 64, "HS256"
    )
    err = refused(verifier.verify, forged)
    assert err.status == 401


def _public_key_as_secret(spelling: str) -> str:
    pair = KeyPair.generate("RS256", kid="idp-key")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    assert isinstance(pair.private_key, rsa.RSAPrivateKey)
    der = pair.private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        # base64url (the JOSE alphabet) of the same DER the guard refuses in base64
        "base64url-der": base64.urlsafe_b64encode(der).decode().rstrip("="),
        # the JWKS's own "keys" array, or the "n" member copied out of it
        "base64url-der-lines": "\n".join(
            base64.urlsafe_b64encode(der).decode()[i : i + 64] for i in range(0, 400, 64)
        ),
        "hex-der": der.hex(),
        "jwk-array": json.dumps([pair.public_jwk]),
        # a PEM stored as a JSON string (a secrets file): the guard reads the string
        "json-pem": json.dumps(
            pair.private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        ),
    }[spelling]


@pytest.mark.parametrize(
    "spelling", ["base64url-der", "base64url-der-lines", "hex-der", "jwk-array", "json-pem"]
)
def test_more_public_key_spellings_are_refused_as_an_hmac_secret(spelling: str) -> None:
    """docs/security.md: a public key (PEM, base64 DER, a JWK or a JWKS) given as an HMAC
    ``secret=`` is a ``ConfigurationError``. The same public key in the JOSE alphabet,
    in hex, as the bare ``keys`` array or as a JSON string was accepted: anyone who
    fetches the JWKS could then mint HS256 tokens. (A JWK's bare ``n`` cannot be told
    from a random secret; docs/security.md says so.)"""
    with pytest.raises(ConfigurationError):
        JwtVerifier(
            issuer=ISS, audience=AUD, secret=_public_key_as_secret(spelling), algorithms=["HS256"]
        )


def test_static_keys_from_env_refuse_duplicate_members(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fetched JWKS goes through the strict parser (duplicate names refused); the same
    document baked into ``SECAUTH_JWKS`` or a file (a deploy step copying the IdP's set)
    goes through ``json.loads``, where ``"use": "enc", "use": "sig"`` is a signing key:
    the parser differential the strict parser exists to close."""
    pair = KeyPair.generate("ES256", kid="k")
    jwk = {k: v for k, v in pair.public_jwk.items() if k != "use"}
    text = '{"keys": [' + json.dumps(jwk)[:-1] + ', "use": "enc", "use": "sig"}]}'
    monkeypatch.setenv("REVIEW55_JWKS", text)
    with pytest.raises(ConfigurationError):
        StaticKeys.from_env("REVIEW55_JWKS")


def test_a_nan_cache_max_age_cannot_keep_a_withdrawn_key_alive() -> None:
    """``cache_size < 0 or cache_max_age < 0`` lets NaN through; ``min(nan, fresh_for)`` is
    NaN and ``now > nan`` is never true, so a cached token is served after its key left
    the JWKS, with no refresh at all (the secure outcome: refused at construction, or the
    token re-verified once the set is due)."""
    with LocalIssuer(algs=("ES256",)) as idp:
        mono, wall = Clock(1000.0), Clock(time.time())
        cache = JwksCache(idp.jwks_uri, allow_http=True, clock=mono, ttl=60, max_age=600)
        try:
            verifier = JwtVerifier(
                issuer=idp.issuer, audience=AUD, jwks=cache,
                cache_max_age=float("nan"), clock=wall,
            )  # fmt: skip
        except ConfigurationError:
            return
        token = idp.token(aud=AUD, lifetime=100_000)
        verifier.verify(token)
        verifier.verify(token)  # second verification: cached
        idp.rotate()
        idp.remove("key-1")
        mono.now += 3600
        wall.now += 3600
        err = refused(verifier.verify, token)
        assert isinstance(err, UnknownKey | KeysUnavailable)


# --- held: discovery -----------------------------------------------------------------------


def test_discovery_with_a_duplicated_issuer_member_is_a_bad_document(server: Scripted) -> None:
    """``{"issuer": evil, "issuer": mine}``: a lax parser keeps the last and passes the
    exact-issuer check; the strict parser refuses the document before any key is fetched."""
    issuer = server.base
    pair = KeyPair.generate("ES256", kid="k")
    server.json(
        "/.well-known/openid-configuration",
        '{"issuer": "https://evil.example", "issuer": '
        + json.dumps(issuer)
        + ', "jwks_uri": '
        + json.dumps(server.base + "/jwks.json")
        + "}",
    )
    server.json("/jwks.json", json.dumps({"keys": [pair.public_jwk]}))
    cache = JwksCache.from_discovery(issuer, allow_http=True)
    assert cache.hydrate() is False
    assert cache.last_failure is not None
    assert cache.last_failure.as_dict() == {"kind": "bad_document", "document": "discovery"}
    assert server.hits.get("/jwks.json", 0) == 0


@pytest.mark.parametrize(
    "jwks_uri",
    [
        f"http://idp.example.com/keys?X-Amz-Signature={SECRET_MARK}",
        f"https://user:{SECRET_MARK}@idp.example.com/keys",
        f"ftp://idp.example.com/keys?sig={SECRET_MARK}",
    ],
)
def test_a_refused_discovered_jwks_uri_leaks_no_query_or_password(
    server: Scripted, jwks_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A discovery document's ``jwks_uri`` that is refused (not https, credentials) shows
    up in the warning, the error and ``last_failure``: none of them may carry its query
    or its password."""
    issuer = server.base
    server.json(
        "/.well-known/openid-configuration", json.dumps({"issuer": issuer, "jwks_uri": jwks_uri})
    )
    verifier = JwtVerifier.from_discovery(issuer, audience=AUD, allow_http=True)
    token = KeyPair.generate("ES256", kid="k").sign(claims(iss=issuer))
    with caplog.at_level(logging.DEBUG):
        err = refused(verifier.verify, token)
    assert isinstance(err, KeysUnavailable)
    assert err.detail["cause"]["kind"] == "refused_url"
    seen = rendered(err) + caplog.text + repr([r.__dict__ for r in caplog.records])
    assert SECRET_MARK not in seen


def test_a_discovery_redirect_to_another_origin_is_refused(server: Scripted) -> None:
    """The discovery fetch follows redirects within its origin only: a 302 to another
    port on loopback (another origin) is a ``redirect`` failure, and nothing is fetched."""
    other = Scripted()
    other.start()
    try:
        pair = KeyPair.generate("ES256", kid="k")
        other.json(
            "/.well-known/openid-configuration",
            json.dumps({"issuer": server.base, "jwks_uri": other.base + "/jwks.json"}),
        )
        other.json("/jwks.json", json.dumps({"keys": [pair.public_jwk]}))
        target = other.base + "/.well-known/openid-configuration"
        server.routes["/.well-known/openid-configuration"] = lambda: (
            302, [("Location", target)], b""
        )  # fmt: skip
        verifier = JwtVerifier.from_discovery(server.base, audience=AUD, allow_http=True)
        err = refused(verifier.verify, pair.sign(claims(iss=server.base)))
        assert isinstance(err, KeysUnavailable)
        assert err.detail["cause"] == {"kind": "redirect", "document": "discovery"}
        assert other.hits == {}
    finally:
        other.stop()


# --- held: fetch limits ------------------------------------------------------------------


def _gzip_bomb_server(server: Scripted) -> KeyPair:
    pair = KeyPair.generate("ES256", kid="k")
    document = json.dumps({"keys": [pair.public_jwk], "pad": " " * (8 * 1024 * 1024)})
    body = gzip.compress(document.encode(), compresslevel=9)
    assert len(body) < 64 * 1024  # small on the wire, 8 MiB once inflated
    server.routes["/jwks.json"] = lambda: (
        200, [("Content-Type", "application/json"), ("Content-Encoding", "gzip")], body
    )  # fmt: skip
    return pair


def test_a_gzip_bomb_jwks_is_never_inflated(server: Scripted) -> None:
    """``Accept-Encoding: identity`` is asked; a server that compresses anyway gets its
    bytes read as they are (not JSON): a bad document, never 8 MiB in memory."""
    pair = _gzip_bomb_server(server)
    verifier = JwtVerifier(
        issuer=ISS, audience=AUD, jwks_uri=server.base + "/jwks.json", allow_http=True
    )
    err = refused(verifier.verify, pair.sign(claims()))
    assert isinstance(err, KeysUnavailable)
    assert err.detail["cause"]["kind"] == "bad_document"


def test_a_gzip_bomb_jwks_is_never_inflated_async(server: Scripted) -> None:
    """The httpx path reads raw bytes too (``aiter_raw``), so httpx's automatic
    decompression never runs."""
    pair = _gzip_bomb_server(server)
    verifier = JwtVerifier(
        issuer=ISS, audience=AUD, jwks_uri=server.base + "/jwks.json", allow_http=True
    )
    with pytest.raises(KeysUnavailable) as info:
        asyncio.run(verifier.verify_async(pair.sign(claims())))
    assert info.value.detail["cause"]["kind"] == "bad_document"


def test_a_jwks_answer_with_a_header_flood_fails_as_protocol(server: Scripted) -> None:
    """200 header lines before the body: refused by the HTTP client's header limit (a
    ``protocol`` failure), not read into memory without bound."""
    pair = KeyPair.generate("ES256", kid="k")
    body = json.dumps({"keys": [pair.public_jwk]}).encode()
    flood = [(f"X-Pad-{i}", "x" * 100) for i in range(200)]
    server.routes["/jwks.json"] = lambda: (200, flood, body)
    cache = JwksCache(server.base + "/jwks.json", allow_http=True)
    assert cache.hydrate() is False
    assert cache.last_failure is not None
    assert cache.last_failure.kind == "protocol"


# --- held: tokens --------------------------------------------------------------------------


def test_a_nested_jws_without_cty_is_malformed() -> None:
    """A JWS whose payload is another compact JWS (no ``cty`` to say so): the claims set
    must be a JSON object, so the inner token is never read as claims."""
    pair = KeyPair.generate("ES256", kid="k")
    inner = pair.sign(claims())
    outer = sign_compact(
        {"alg": "ES256", "kid": "k"},
        encode_segment(inner.encode()),
        pair.private_key,
        "ES256",
    )
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [pair.public_jwk]})
    assert isinstance(refused(verifier.verify, outer), MalformedToken)


def test_a_lone_surrogate_kid_is_an_unknown_key_that_renders_as_ascii() -> None:
    """``"kid": "\\ud800"`` (valid JSON escapes, an unpaired surrogate): an unknown key,
    and every rendering of the error encodes (no logging crash on a UTF-8 stream)."""
    pair = KeyPair.generate("ES256", kid="k")
    token = pair.sign(claims(), headers={"kid": "\ud800\n\x1b[31m"})  # JSON-escaped
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [pair.public_jwk]})
    err = refused(verifier.verify, token)
    assert isinstance(err, UnknownKey)
    for text in (str(err), repr(err), json.dumps(err.to_log())):
        text.encode("ascii")


# --- held: the verified-token cache --------------------------------------------------------


def test_two_verifiers_sharing_a_key_set_do_not_share_verdicts() -> None:
    """One ``JwksCache`` (or key set) behind two verifiers with different audiences: a
    token cached by the first (verified twice) is still refused by the second."""
    with LocalIssuer(algs=("ES256",)) as idp:
        cache = JwksCache(idp.jwks_uri, allow_http=True)
        orders = JwtVerifier(issuer=idp.issuer, audience="orders", jwks=cache)
        admin = JwtVerifier(issuer=idp.issuer, audience="admin", jwks=cache)
        token = idp.token(aud="orders")
        assert orders.verify(token)["aud"] == "orders"
        assert orders.verify(token)["aud"] == "orders"
        assert orders.revalidate(token)
        assert isinstance(refused(admin.verify, token), InvalidAudience)
        assert not admin.revalidate(token)


def test_a_key_set_that_flips_back_never_revives_an_entry_of_the_old_generation() -> None:
    """Set A, then B (key-1 withdrawn), then A again: the generation only grows, so the
    entry made under A is refused during B, and after the flip back the token is verified
    afresh (one more JWKS fetch) rather than served from a stale entry."""
    with LocalIssuer(algs=("ES256",)) as idp:
        mono, wall = Clock(1000.0), Clock(time.time())
        cache = JwksCache(idp.jwks_uri, allow_http=True, clock=mono, ttl=60, max_age=600)
        verifier = JwtVerifier(issuer=idp.issuer, audience=AUD, jwks=cache, clock=wall)
        token = idp.token(aud=AUD, lifetime=100_000)
        verifier.verify(token)
        verifier.verify(token)
        generation_a = cache.generation
        published = idp.jwks()
        idp.jwks_override = {"keys": []}
        mono.now += 61
        wall.now += 61
        assert isinstance(refused(verifier.verify, token), UnknownKey | KeysUnavailable)
        idp.jwks_override = published
        mono.now += 61
        wall.now += 61
        before = idp.fetches
        assert verifier.verify(token)["aud"] == AUD
        assert idp.fetches == before + 1
        assert cache.generation > generation_a + 1
