"""Review 25: an attack on review 24's fixes (0c4cc4b, 72c09cb, bf357fe).

Findings are ``xfail(strict=True)`` tests asserting the correct behaviour; the attacks that
held are plain regression tests. Real objects, real events, loopback servers only.
"""

from __future__ import annotations

import base64
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519, rsa
from hand_clock import Clock

from secauth import Authorizer, Guard, JwtVerifier, Routes, authenticated, public
from secauth._b64 import b64url_encode
from secauth._invoke import RedactedOutput
from secauth._redis import connect
from secauth._urls import MAX_URL_CHARS, canonical_authority, check_url
from secauth.dpop_replay import RedisReplayStore
from secauth.errors import (
    ConfigurationError,
    KeyImportError,
    SecAuthError,
    UnsupportedMediaType,
)
from secauth.events import content_type
from secauth.hygiene import json_body
from secauth.jwk import VerificationKey
from secauth.jwks import JwksCache
from secauth.key_sets import StaticKeys, fresh_for
from secauth.policy import Unauthorized
from secauth.protected_resource import ProtectedResource
from secauth.ratelimit.limit import Limit
from secauth.responses import Cors
from secauth.testing import KeyPair, LocalIssuer, encode_segment
from secauth.testing_events import function_url, http_proxy, iam_allows, token_authorizer

ISS, AUD = "https://idp.review25.test/", "api"
TOKEN_SECRET = "opaque-token-review25-0123456789-LEAK"
ED448_P = 2**448 - 2**224 - 1


def _claims(**more: Any) -> dict[str, Any]:
    return {"iss": ISS, "aud": AUD, "sub": "admin", "exp": 4_000_000_000, **more}


def _ed448(y: int, sign: int = 0) -> bytes:
    """An Ed448 point encoding (RFC 8032 5.2.2): y little-endian, x's sign in the top bit."""
    raw = bytearray(y.to_bytes(57, "little"))
    raw[56] |= 0x80 if sign else 0
    return bytes(raw)


# =============================================================================================
# FINDINGS
# =============================================================================================

# -- F1 (medium): an Ed448 key of small order lets anyone forge tokens ------------------------


@pytest.mark.parametrize("sign", [0, 1], ids=["zero", "zero-signed"])
def test_ed448_all_zero_key_in_a_jwks_lets_nobody_forge_a_token(sign: int) -> None:
    """0c4cc4b refuses Ed25519's small-order points only. The Ed448 encoding of all zeros
    (y = 0: the point (1, 0) of order 4, the most likely placeholder) imports, and OpenSSL
    accepts R = that point, S = 0 for every message: anyone can mint tokens under it."""
    real = KeyPair.generate("Ed448", kid="real")
    zero = {
        "kty": "OKP",
        "crv": "Ed448",
        "kid": "z",
        "use": "sig",
        "x": b64url_encode(_ed448(0, sign)),
    }
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [real.public_jwk, zero]})
    for alg in ("EdDSA", "Ed448"):
        header = encode_segment({"alg": alg, "kid": "z"})
        forged = f"{header}.{encode_segment(_claims())}.{b64url_encode(_ed448(0) + bytes(57))}"
        with pytest.raises(SecAuthError):
            verifier.verify(forged)


@pytest.mark.parametrize(
    "encoding",
    [_ed448(0), _ed448(0, 1), _ed448(1), _ed448(ED448_P - 1), _ed448(ED448_P), _ed448(ED448_P + 1)],
    ids=["y=0", "y=0-signed", "identity", "y=-1", "y=p", "y=p+1"],
)
def test_ed448_small_order_points_are_not_imported(encoding: bytes) -> None:
    """Ed448's cofactor is 4: (0, 1), (0, -1) and (+-1, 0) (and the non-canonical y = p,
    p + 1 spellings) are the small-order points, refused as Ed25519's are; JWK and PEM."""
    ed448.Ed448PublicKey.from_public_bytes(encoding)  # OpenSSL takes each of them
    with pytest.raises(KeyImportError):
        VerificationKey.from_jwk({"kty": "OKP", "crv": "Ed448", "x": b64url_encode(encoding)})


# -- F2 (low): a comma-joined Content-Type still passes after an escaped quote ------------


@pytest.mark.parametrize("build", [http_proxy, function_url])
def test_a_joined_content_type_whose_first_copy_holds_an_escaped_quote_is_refused(
    build: Any,
) -> None:
    """``events.content_type`` counts every '"' as a quote boundary. The first copy
    ``application/json; a="\\""`` is a valid media type (a quoted-string holding a
    quoted-pair, RFC 9110 5.6.4) with three '"': after it the comma that joins the second
    copy reads as inside a quote, and both the Guard and json_body take the joined value."""
    event = build(
        "POST", "/x", body='{"v": "a"}',
        headers={"Content-Type": ['application/json; a="\\""', "text/plain"]},
    )  # fmt: skip
    assert content_type(event) is None
    guard = Guard(
        routes=Routes({"POST /x": public()}), content_types=["application/json"], decision_log=None
    )
    assert guard(lambda event, context: {"statusCode": 200})(event, None)["statusCode"] == 415
    with pytest.raises(UnsupportedMediaType):
        json_body(event, fields={"v": str})


# -- F3 (low): a public key's PEM body, line-wrapped, passes as an HMAC secret ----------------


def _pem_body(newline: str) -> str:
    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return newline.join(pem.strip().splitlines()[1:-1])  # the armour lines dropped


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_a_line_wrapped_pem_body_is_refused_as_an_hmac_secret(newline: str) -> None:
    """0c4cc4b decodes a secret starting "MI" with ``b64decode(validate=True)``, which
    refuses the line breaks a PEM body has every 64 characters: the body of a public key
    copied without its BEGIN/END lines is taken as a shared secret (key confusion)."""
    with pytest.raises(ConfigurationError):
        VerificationKey.from_secret(_pem_body(newline), algorithms=["HS256"])


# -- F4 (low): an authorization server issuer with an explicit port 443 is refused -----------


def test_an_authorization_server_issuer_is_listed_exactly_as_it_is() -> None:
    """72c09cb applies ``canonical_authority`` to every URL ``_checked_url`` checks, the
    ``authorization_servers`` too. Those are issuer identifiers, which clients compare
    exactly with the AS metadata's ``issuer`` (RFC 8414 3.3); an AS whose issuer says
    ``:443`` (a Keycloak hostname configured with its port) could be listed before and
    cannot now: its metadata would never match any other spelling."""
    issuer = "https://kc.example.com:443/realms/mcp"
    pr = ProtectedResource(resource="https://mcp.example.com/mcp", authorization_servers=[issuer])
    assert pr.metadata()["authorization_servers"] == [issuer]


# -- F5 (low): IPv4 hosts that URL parsers rewrite pass canonical_authority -----------------


@pytest.mark.parametrize("host", ["127.1", "0x7f.0.0.1", "2130706433", "010.0.0.1", "127.0.0.1."])
def test_ipv4_spellings_that_clients_rewrite_are_refused(host: str) -> None:
    """The WHATWG URL parser (browsers, Node, MCP clients) reads a host whose last label is
    a number as IPv4 and writes it back dotted-decimal (``127.1``, ``0x7f.0.0.1`` and
    ``2130706433`` are ``127.0.0.1``, ``010.0.0.1`` is ``8.0.0.1``, a trailing dot goes):
    a Cors origin so written never matches an ``Origin`` header and a resource URI never
    matches what clients send; both are rewritable forms the fix meant to refuse."""
    assert not canonical_authority("https", host)
    with pytest.raises(ConfigurationError):
        Cors(allow_origins=[f"http://{host}:3000"])
    with pytest.raises(ConfigurationError):
        ProtectedResource(
            resource=f"https://{host}/mcp", authorization_servers=["https://a.example"]
        )


# -- F6 (low): `secauth authorize` no longer runs apps that use the text-stream API at import --

_EVENT = token_authorizer("GET", "/orders", token=TOKEN_SECRET)
_ALLOW = """
def handler(event, context):
    globals().get("before", lambda event: None)(event)  # what the app does with the event
    return {"principalId": "p", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": [event["methodArn"]]}]}}
"""


def _run_cli(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    """``python -m secauth authorize`` on ``_EVENT`` with the app ``source``, as a user runs
    it (a process of its own: its streams are real files, its exit runs atexit hooks)."""
    (tmp_path / "review25_app.py").write_text(textwrap.dedent(source) + _ALLOW, "utf-8")
    (tmp_path / "event.json").write_text(json.dumps(_EVENT), "utf-8")
    return subprocess.run(
        [sys.executable, "-m", "secauth", "authorize", "--app", "review25_app:handler",
         "--event", "event.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    "source",
    ["import faulthandler\nfaulthandler.enable()\n",
     "import sys\nsys.stdout.reconfigure(line_buffering=True)\n",
     "import sys\nENCODING = sys.stdout.encoding.lower()\n"],
    ids=["faulthandler", "reconfigure", "encoding"],
)  # fmt: skip
def test_authorize_runs_apps_that_touch_the_standard_streams_at_import(
    source: str, tmp_path: Path
) -> None:
    """bf357fe imports the app with ``sys.stdout``/``sys.stderr`` replaced by a bare
    ``io.TextIOBase``: no ``fileno`` (``faulthandler.enable()``), no ``reconfigure``, an
    ``encoding`` of None. Each of these apps ran under ``secauth authorize`` before and is
    now refused as "cannot import" (exit 2)."""
    done = _run_cli(tmp_path, source)
    assert done.returncode == 0, done.stderr
    assert TOKEN_SECRET not in done.stdout + done.stderr


# -- F7 (low): what is written once RedactedOutput has exited is not redacted ----------------


@pytest.mark.parametrize(
    "source",
    ["import sys\n"
     "def before(event):\n"
     "    sys.exit('refused ' + event['authorizationToken'])\n",
    ],
    ids=["system-exit"],
)  # fmt: skip
def test_authorize_redacts_what_the_app_writes_after_the_call(source: str, tmp_path: Path) -> None:
    """``invoke`` caught ``Exception`` only: a handler's ``SystemExit`` (Lambda reports it
    as Runtime.ExitError) was printed by the interpreter, token and all, once the real
    streams were back. (What an atexit hook prints after the command has finished is not
    redacted: docs/cli.md says so.)"""
    done = _run_cli(tmp_path, source)
    assert TOKEN_SECRET not in done.stdout + done.stderr


# =============================================================================================
# WHAT HELD
# =============================================================================================

# -- 0c4cc4b: Ed25519 small order; genuine keys ---------------------------------------------


def test_genuine_ed25519_keys_with_the_sign_bit_set_still_verify() -> None:
    """The small-order check masks the sign bit: a real key whose encoding has it set must
    not be mistaken for one of the seven points."""
    for _ in range(64):
        pair = KeyPair.generate("EdDSA", kid="k")
        if base64.urlsafe_b64decode(pair.public_jwk["x"] + "=")[31] & 0x80:
            break
    else:  # pragma: no cover - 2**-64
        pytest.fail("no key with the sign bit set")
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [pair.public_jwk]})
    assert verifier.verify(pair.sign(_claims()))["sub"] == "admin"


def test_genuine_ed448_keys_verify() -> None:
    pair = KeyPair.generate("Ed448", kid="k")
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [pair.public_jwk]})
    assert verifier.verify(pair.sign(_claims()))["sub"] == "admin"


def test_ed25519_small_order_points_with_y_at_or_over_p_are_refused() -> None:
    """Non-canonical encodings (y >= p) exist only for y < 19; of those only 0 and 1 are
    small-order y values, and both (p, p + 1) are in the list, with either sign bit."""
    p = 2**255 - 19
    for y in (p, p + 1):
        for sign in (0, 0x80):
            raw = bytearray(y.to_bytes(32, "little"))
            raw[31] |= sign
            jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(bytes(raw))}
            with pytest.raises(KeyImportError):
                VerificationKey.from_jwk(jwk)


def test_ed25519_small_order_key_is_refused_in_pem_too() -> None:
    identity = bytes([1]) + bytes(31)
    pem = ed25519.Ed25519PublicKey.from_public_bytes(identity).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(KeyImportError):
        VerificationKey.from_pem(pem, kid="k")


# -- 0c4cc4b: the verified-token cache and key-set freshness --------------------------------


def test_authorizer_memo_stops_answering_for_a_withdrawn_key_once_the_set_is_due() -> None:
    """The Authorizer's response memo trusts ``revalidate``: once the key set is due, the
    memoized Allow must give way to a fresh verification against the refreshed set."""
    with LocalIssuer(algs=("ES256",)) as idp:
        old = idp.key
        idp.rotate()
        keys_clock, wall = Clock(1000.0), Clock(1_700_000_000.0)
        cache = JwksCache(idp.jwks_uri, allow_http=True, ttl=60, clock=keys_clock)
        verifier = JwtVerifier(issuer=idp.issuer, audience=AUD, jwks=cache, clock=wall)
        authorizer = Authorizer(
            verifier, routes=Routes({"GET /orders": authenticated()}), decision_log=None
        )
        token = old.sign({"iss": idp.issuer, "aud": AUD, "sub": "ann", "exp": wall.now + 3600})
        event = token_authorizer("GET", "/orders", token=token)
        for _ in range(4):  # verified twice (cached), answered twice (memoized)
            assert iam_allows(authorizer.handler(event, None)["policyDocument"], event["methodArn"])
        assert verifier.revalidate(token) is True
        idp.remove(old.kid)
        keys_clock.now += 120
        wall.now += 120
        with pytest.raises(Unauthorized):
            authorizer.handler(event, None)


def test_a_repeated_token_keeps_verifying_through_an_idp_outage() -> None:
    """While a refresh fails the set is used stale (``fresh_for`` is 0): nothing is cached
    any more, and the Authorizer and the verifier keep answering from the stale set."""
    with LocalIssuer(algs=("ES256",)) as idp:
        keys_clock, wall = Clock(1000.0), Clock(1_700_000_000.0)
        cache = JwksCache(idp.jwks_uri, allow_http=True, ttl=60, clock=keys_clock)
        verifier = JwtVerifier(issuer=idp.issuer, audience=AUD, jwks=cache, clock=wall)
        authorizer = Authorizer(
            verifier, routes=Routes({"GET /orders": authenticated()}), decision_log=None
        )
        token = idp.key.sign({"iss": idp.issuer, "aud": AUD, "sub": "ann", "exp": wall.now + 9e3})
        event = token_authorizer("GET", "/orders", token=token)
        assert verifier.verify(token)["sub"] == "ann"
        idp.mode = "error"
        for _ in range(4):
            keys_clock.now += 90
            wall.now += 90
            assert verifier.verify(token)["sub"] == "ann"
            assert iam_allows(authorizer.handler(event, None)["policyDocument"], event["methodArn"])
            assert cache.fresh_for == 0.0
        assert cache.last_failure is not None


class _Source:
    """A KeySource of one's own, with a ``fresh_for`` of any kind."""

    generation = 1

    def __init__(self, jwks: dict[str, Any], fresh: Any) -> None:
        self._keys = StaticKeys(jwks)
        if fresh is not _ABSENT:
            self.fresh_for = fresh

    def keys_for(self, kid: str | None) -> Any:
        return self._keys.keys_for(kid)

    async def keys_for_async(self, kid: str | None) -> Any:
        return self._keys.keys_for(kid)

    def hydrate(self, *, strict: bool = False) -> bool:
        return True


_ABSENT = object()


@pytest.mark.parametrize(
    ("fresh", "cached"),
    [(_ABSENT, True), (math.inf, True), (30, True), (0, False), (-5, False), (None, False),
     ("600", False), (lambda: 600, False)],
    ids=["absent", "inf", "int", "zero", "negative", "none", "str", "method"],
)  # fmt: skip
def test_a_key_source_fresh_for_of_any_type_never_breaks_verification(
    fresh: Any, cached: bool
) -> None:
    pair = KeyPair.generate("ES256", kid="k")
    wall = Clock(1_700_000_000.0)
    source = _Source({"keys": [pair.public_jwk]}, fresh)
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks=source, clock=wall)
    token = pair.sign(_claims())
    for _ in range(3):
        assert verifier.verify(token)["sub"] == "admin"
    wall.now += 1
    assert verifier.revalidate(token) is cached
    assert isinstance(fresh_for(source), float)


def test_respect_cache_control_max_age_zero_keeps_a_minimum_freshness() -> None:
    with LocalIssuer(algs=("ES256",)) as idp:
        idp.cache_control = "max-age=0"
        clock = Clock(1000.0)
        cache = JwksCache(idp.jwks_uri, allow_http=True, respect_cache_control=True, clock=clock)
        assert cache.hydrate()
        assert cache.fresh_for == pytest.approx(60.0, abs=1.0)  # min_ttl (the wall clock ticks)
        verifier = JwtVerifier(issuer=idp.issuer, audience=AUD, jwks=cache)
        token = idp.token(aud=AUD)
        for _ in range(2):
            verifier.verify(token)
        assert verifier.revalidate(token) is True


# -- 0c4cc4b: HMAC secrets that merely look like public keys --------------------------------


@pytest.mark.parametrize(
    "secret",
    ["MI" + "x7Qk2pVv9zR4LmN8sT1wY6uB3cD5eF0gH", "MIIB" + "A" * 60,
     '{"purpose": "hmac", "value": "a8f5f167f44f4964e6c998dee827110c"}',
     "\ufeffjust-a-long-random-shared-secret-value-0123456789"],
    ids=["MI-random", "MI-base64-not-der", "json-not-jwk", "bom-text"],
)  # fmt: skip
def test_random_secrets_that_start_like_a_key_are_still_accepted(secret: str) -> None:
    key = VerificationKey.from_secret(secret, algorithms=["HS256"])
    assert key.algorithms == {"HS256"}


# -- 72c09cb: rate limits, Content-Type, authorities ------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["1000000000 per 31622400 seconds", "  1000000000 / 366 days  ", "10 per 2 minutes",
     "100/calendar day", "700 per week", ("5/10s" + " " * 59)],
)  # fmt: skip
def test_every_legitimate_rate_limit_fits_in_64_characters(text: str) -> None:
    assert len(text) <= 64
    assert Limit.parse(text).count >= 1


def test_a_quoted_comma_in_one_content_type_is_one_media_type() -> None:
    """A quoted boundary may hold a comma (RFC 2046 bchars); that is one header, not two."""
    event = http_proxy(
        "POST",
        "/x",
        body="--a,b--",
        headers={"Content-Type": 'multipart/form-data; boundary="a,b"'},
    )
    assert content_type(event) == 'multipart/form-data; boundary="a,b"'
    guard = Guard(
        routes=Routes({"POST /x": public()}),
        content_types=["multipart/form-data"],
        decision_log=None,
    )
    assert guard(lambda event, context: {"statusCode": 200})(event, None)["statusCode"] == 200


@pytest.mark.parametrize(
    ("authority", "ok"),
    [("app.example.com.", True), ("[::ffff:102:304]", True), ("[::ffff:1.2.3.4]", False),
     ("localhost:0", False), ("localhost:65536", False), ("App.example.com", False),
     ("[::1]:8443", True), ("[::1]x", False), ("xn--bcher-kva.example", True)],
)  # fmt: skip
def test_canonical_authority_follows_what_browsers_write(authority: str, ok: bool) -> None:
    assert canonical_authority("https", authority) is ok


def test_custom_scheme_origins_stay_accepted() -> None:
    Cors(
        allow_origins=[
            "capacitor://localhost",
            "chrome-extension://abcdefghijklmnopabcdefghijklmnop",
        ]
    )


# -- bf357fe: key-source URLs -------------------------------------------------------------


def test_a_2048_character_url_is_accepted_and_one_more_refused_unquoted() -> None:
    base = "https://idp.example.com/keys?X-Amz-Signature="
    fits = base + "a" * (MAX_URL_CHARS - len(base))
    assert check_url(fits, allow_http=False) == fits
    with pytest.raises(ConfigurationError) as refused:
        check_url(fits + "b", allow_http=False)
    assert "aaaa" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    ["http://[::1]:8080/jwks.json", "http://127.0.0.1:9/keys", "https://[2001:db8::1]:8443/k",
     "https://idp.example.com/t%20enant/keys?sig=a%2Fb%3D&x=1", "https://xn--bcher-kva.example/k"],
)  # fmt: skip
def test_legitimate_key_source_urls_pass(url: str) -> None:
    assert check_url(url, allow_http=True) == url


@pytest.mark.parametrize(
    "url",
    ["https://idp.example.com/keys\n?code=s3cret-x", "https://bücher.example/keys?code=s3cret-x",
     "https://idp.example.com/k\x1b[2J?code=s3cret-x", "http://idp.example.com/k?code=s3cret-x"],
)  # fmt: skip
def test_refused_urls_never_quote_their_query(url: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        check_url(url, allow_http=True)
    assert "s3cret" not in str(refused.value)


# -- bf357fe: Redis URLs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "cluster"),
    [("rediss://:pw@cache.example.com:6380/0?ssl_cert_reqs=none", False),
     ("rediss://:pw@cache.example.com:6380/0?ssl_cert_reqs=none", True),
     ("unix:///tmp/redis.sock?db=0", False), ("redis://[::1]:6379/0", True),
     ("redis://user:p%2Fw%3F%23@h:6379/1", False),
     ("rediss://h/0?ssl_cert_reqs=required&ssl_check_hostname=true", True)],
)  # fmt: skip
def test_legitimate_redis_urls_are_accepted_without_connecting(url: str, cluster: bool) -> None:
    connect(url, owner="T", cluster=cluster, socket_timeout=0.2, connect_timeout=0.2)


def test_a_redis_password_with_a_slash_is_refused_without_quoting_it() -> None:
    with pytest.raises(ConfigurationError) as refused:
        RedisReplayStore("redis://:pa/ss-w0rd-SECRET@h:6379/0")
    assert "SECRET" not in str(refused.value)
    assert "ss-w0rd" not in str(refused.value)


def test_the_dpop_replay_store_works_on_a_real_redis(redis_url: str) -> None:
    store = RedisReplayStore(redis_url)
    assert store.first_use("jti-review25", 4_000_000_000.0) is True
    assert store.first_use("jti-review25", 4_000_000_000.0) is False


# -- bf357fe: RedactedOutput ----------------------------------------------------------------


def test_redacted_output_keeps_the_last_line_and_joins_pieces(
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = "key-review25-0123456789"
    with RedactedOutput([secret]):
        print("a", secret[:5], end="", flush=True)
        print(secret[5:], end="")
        sys.stdout.write("\n" + secret[:3])
        sys.stdout.write(secret[3:])
        print("err " + secret, file=sys.stderr)
        assert sys.stdout.isatty() is False
    out, err = capsys.readouterr()
    assert out == "a [redacted]\n[redacted]"  # pieces joined; the last line, unended, kept
    assert err == "err [redacted]\n"


def test_redacted_output_redacts_secrets_added_later_through_streams_kept_earlier(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    with RedactedOutput([]) as output:
        handler = logging.StreamHandler(sys.stderr)  # made at import
        log = logging.getLogger("review25.import_time")
        log.addHandler(handler)
        log.propagate = False
        try:
            output.add_secrets(["x-api-key-review25-0123456789"])
            log.warning("key %s", "x-api-key-review25-0123456789")
        finally:
            log.removeHandler(handler)
    assert capsys.readouterr().err == "key [redacted]\n"


def test_authorize_redacts_a_logger_configured_at_import(tmp_path: Path) -> None:
    done = _run_cli(
        tmp_path,
        "import json, logging\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "def before(event):\n"
        "    logging.getLogger('app').info('event %s', json.dumps(event))\n",
    )
    assert done.returncode == 0, done.stderr
    assert "[redacted]" in done.stderr
    assert TOKEN_SECRET not in done.stdout + done.stderr
