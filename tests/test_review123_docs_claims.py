"""Review 123: every claim added to the docs and CHANGELOG since 1322ee7 is true (the diff
1322ee7..e5fdc03 of docs, CHANGELOG.md, README.md and the new docstrings in ``src``; run at
a9ffb39, where CHANGELOG lines moved down by 9). Real parts only: tokens from
``secauth.testing``, events from ``secauth.testing_events``, loopback issuers, a hand clock;
nothing of secauth is mocked. A missing optional package (httpx, Powertools) is an interpreter
of its own over a copy of the venv's site-packages without it.

Resolved (the tests assert the corrected claims): the three lows. docs/jwks.md says coroutines
of one event loop share a fetch (loops in other threads make their own); docs/guard.md says the
httpx check is on the guard having a verifier, static keys included; the CHANGELOG and
docs/security.md give a Guard's 403 under a ``default`` rule (401 anonymous) for refused paths.

Claims checked, and held:

* security.md, CHANGELOG (review 120), ``hmac_secrets``: an HMAC ``secret=`` holding PEM text
  anywhere (after a comment, "Bag Attributes", a certificate dump, a BOM), a key in a JSON
  object's member (nested too), an uncompressed P-256/384/521 point (raw, hex, base64,
  base64url) or one byte repeated (bytes or str) is refused with ``ConfigurationError``;
  ``DpopNonces`` refuses one byte repeated; a random secret still works.
* access.md, security.md, routing docs, CHANGELOG (review 119): ``MAX_AMBIGUOUS_SEGMENTS`` is
  6; ``RouteTable.lookup``/``readings`` return None past it; six are read (64 readings); seven
  (case, percent-encoding or ``;`` parameters) are refused by a ``Guard`` (404) and an
  ``Authorizer`` (deny), even under a ``default`` rule; ``Routes.decide`` denies.
* revocation.md, CHANGELOG (review 116/118), ``issuers.issuer_problem``: every ``revoke_*``
  refuses blanks around the issuer, invisible characters, a pool id (any case), a pool ARN, a
  Cognito issuer in upper case, over http or with a trailing slash; real issuers of Cognito
  (both formats, China), Auth0, Okta, Entra ID, Keycloak, Google pass, and so does a non-AWS
  host containing ``cognito-idp.``; ``secauth revoke`` exits 2 before the store.
* verifier.md, CHANGELOG: ``sub``, ``jti``, ``client_id`` one string whenever present
  (``invalid_claims``); ``audience_claim="client_id"`` matches one string only
  (``invalid_audience``); the Cognito access preset refuses a list ``client_id``;
  ``JwtVerifier.cognito(client_id="")`` names ``client_id``; ``checked_audience(name=)``.
* verifier.md (the verified-token cache): a hit re-checks ``exp``; a clock read earlier than
  the entry was made verifies afresh (``nbf``); a hit keeps the old ``verifier.claims`` until
  ``clear_cache()``; an entry ends at exactly ``cache_max_age``.
* verifier.md, guard.md, CHANGELOG (review 117): without httpx a ``Guard`` refuses an async
  handler at decoration (``ConfigurationError`` naming ``secauth[async]``) and an async fetch
  fails with the cause ``missing_dependency`` naming the extra; without Powertools
  ``guard_handler`` raises ``ImportError`` naming ``secauth[powertools]`` and a star
  import works; ``from secauth import RateLimiter`` loads no ``inspect``; ``secauth.plan_names``
  and ``api_keys.plan_problem`` both work; one core dependency; the extras.
* CHANGELOG (Changed): a 429's headers are on ``RateLimited.headers`` (``RateLimitResult.error``)
  and a Guard's 429 carries them.
* guard.md: stacked Powertools guards finding one subject of two issuers answer 401.
* verifier.md: coroutines of one event loop share one fetch on a cold cache.
* authorizer.md: a subject with line breaks and escapes survives ``from_context`` exactly.
* CHANGELOG test counts: review 116 (76 tests), 114 (53), 113 (14), 112 (61).

Findings:

* LOW (stale, docs/jwks.md:31-32): "One fetch at a time: threads waiting on a cold or expired
  cache share it, and so do coroutines in ``verify_async``." Review 113's fix changed
  verifier.md and the ``jwks`` docstring but left this: event loops in other threads do not
  share the fetch (each makes its own). Strict xfail below (two loops, a gated JWKS answer).
  Suggested: "threads share it, and so do the coroutines of one event loop (loops in other
  threads make their own, at most one each)", as verifier.md:179 now says.
* LOW (overstated, docs/guard.md:95-97 and CHANGELOG review 117): "an ``async def`` handler
  under a guard that verifies tokens fetches keys (or introspects) with httpx: without
  [httpx], decorating it raises". The check is ``guard.verifier is not None``: a Guard over a
  verifier that never fetches (a static ``jwks=`` dict, an HMAC ``secret=``) is refused too,
  though it would work without httpx. Strict xfail below. Suggested: "a Guard with a
  verifier refuses an async handler without httpx, even over static keys", or check
  only verifiers that fetch.
* LOW (inexact, CHANGELOG.md:1877, "Changed"): a path past the cap "is refused (404 from a
  ``Guard``, a deny from an ``Authorizer``)". Under a ``default`` rule, the case the fix is
  about, a Guard answers 403 ``forbidden`` (401 to an anonymous caller), as it does for the
  other refused spellings; 404 only without a default. Suggested: "refused as a refused
  spelling is (a ``Guard``'s 404, or 403 under a ``default`` rule; an ``Authorizer``'s deny)".
  The older security.md:50 row ("a Guard's 404 ``not_found``") has the same gap. Strict xfail.

Stale sentences tests cannot exercise: none beyond the above. Checked by grep and held:
opaque-tokens.md:108 (``exp`` and ``nbf`` on every introspection hit: still true there),
guard.md:155 (issuer compared), alb.md:68-69 (one event loop), no doc names ``LIMIT_HEADERS``,
``api_keys.PLAN_NAME`` or ``guard_handler`` in ``__all__``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import threading
from typing import Any

import cryptography
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from guard_callers import AUD, ISS, JWT, MAPPER, OTHER, PARTNER, PARTNER_JWT, partner_token, token
from hand_clock import Clock
from limit_callers import ORDERS, PUBLIC_ORDERS
from test_review113_concurrency import GatedIssuer

import secauth
from secauth import Authorizer, Guard, JwtVerifier, Routes
from secauth.access import public
from secauth.claim_policy import ClaimPolicy, checked_audience
from secauth.cli import main as cli_main
from secauth.dpop_nonce import DpopNonces
from secauth.errors import (
    ConfigurationError,
    InvalidAudience,
    InvalidClaims,
    RateLimited,
    TokenExpired,
    TokenNotYetValid,
)
from secauth.issuers import issuer_problem
from secauth.principal import Principal
from secauth.ratelimit import RateLimiter
from secauth.revocation import Revocations
from secauth.revocation_stores import MemoryRevocationStore
from secauth.route_table import MAX_AMBIGUOUS_SEGMENTS, RouteTable
from secauth.routing import parse_route_key
from secauth.testing import KeyPair, LocalIssuer
from secauth.testing_events import http_proxy, request_authorizer

# -- HMAC secrets (security.md, CHANGELOG review 120, hmac_secrets) -------------------------

RSA_PEM = (
    KeyPair.generate("RS256")
    .private_key.public_key()  # type: ignore[union-attr]
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
GOOD_SECRET = bytes(range(7, 71))


def hmac_verifier(secret: Any) -> JwtVerifier:
    return JwtVerifier(issuer=ISS, audience=AUD, secret=secret, algorithms=["HS256"])


@pytest.mark.parametrize(
    "secret",
    [
        "# the key for prod\n" + RSA_PEM,
        "Bag Attributes\n    localKeyID: 01 02 03\nsubject=/CN=idp\n" + RSA_PEM,
        "Certificate:\n    Data:\n        Version: 3 (0x2)\n" + "x" * 40 + "\n" + RSA_PEM,
        "\ufeff# comment\n" + RSA_PEM,
        json.dumps({"public_key": RSA_PEM}),
        json.dumps({"SecretString": {"nested": {"pem": RSA_PEM}}}),
    ],
    ids=["comment", "bag-attributes", "cert-dump", "bom", "json-member", "json-nested"],
)
def test_pem_anywhere_or_in_a_json_member_is_refused_as_an_hmac_secret(secret: str) -> None:
    with pytest.raises(ConfigurationError, match="public key"):
        hmac_verifier(secret)


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()])
@pytest.mark.parametrize("spelling", ["raw", "hex", "base64", "base64url"])
def test_an_uncompressed_ec_point_is_refused_as_an_hmac_secret(
    curve: ec.EllipticCurve, spelling: str
) -> None:
    point = (
        ec.generate_private_key(curve)
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    secret: bytes | str = {
        "raw": point,
        "hex": point.hex(),
        "base64": base64.b64encode(point).decode(),
        "base64url": base64.urlsafe_b64encode(point).decode().rstrip("="),
    }[spelling]
    with pytest.raises(ConfigurationError):
        hmac_verifier(secret)


@pytest.mark.parametrize("secret", [b"k" * 32, "k" * 64, bytes(64), b"\xff" * 48])
def test_a_secret_of_one_byte_repeated_is_refused(secret: bytes | str) -> None:
    with pytest.raises(ConfigurationError, match="one byte repeated"):
        hmac_verifier(secret)
    with pytest.raises(ConfigurationError):
        DpopNonces(secret=secret if len(secret) >= 32 else secret * 2)


def test_a_random_secret_still_verifies() -> None:
    pair = KeyPair(alg="HS256", kid=None, private_key=GOOD_SECRET)
    minted = pair.sign({"iss": ISS, "aud": AUD, "sub": "u", "exp": 4e9})
    assert hmac_verifier(GOOD_SECRET).verify(minted)["sub"] == "u"


# -- ambiguous path segments (access.md, security.md, routing, CHANGELOG review 119) -------

SEGMENTS = [f"s{i}" for i in range(8)]
LONG = Routes({"GET /" + "/".join(SEGMENTS): public()}, default=public())


def ambiguous(count: int, style: str = "case") -> str:
    spelled = []
    for i, segment in enumerate(SEGMENTS):
        if i >= count:
            spelled.append(segment)
        elif style == "case":
            spelled.append(segment.upper())
        elif style == "percent":
            spelled.append(f"%{ord(segment[0]):02X}{segment[1:]}")
        else:
            spelled.append(segment + ";v=1")
    return "/" + "/".join(spelled)


def test_the_cap_is_six_and_lookup_returns_none_past_it() -> None:
    assert MAX_AMBIGUOUS_SEGMENTS == 6
    table = RouteTable([(parse_route_key("GET /" + "/".join(SEGMENTS)), "r")])
    six = tuple(ambiguous(6).strip("/").split("/"))
    seven = tuple(ambiguous(7).strip("/").split("/"))
    readings = table.readings(six)
    assert readings is not None
    assert len(readings) == 64
    assert table.readings(seven) is None
    assert table.lookup("GET", seven) is None


@pytest.mark.parametrize("style", ["case", "percent", "params"])
def test_a_guard_refuses_past_the_cap_even_under_a_default_rule(style: str) -> None:
    guard = Guard(JWT, claims=MAPPER, routes=LONG, decision_log=None)
    handler = guard(lambda e, c: {"statusCode": 200, "body": "ok"})
    bearer = "Bearer " + token(tenant="acme")
    assert (
        handler(http_proxy("GET", ambiguous(6, style), authorization=bearer), None)["statusCode"]
        == 200
    )
    refused = handler(http_proxy("GET", ambiguous(7, style), authorization=bearer), None)
    spelling = handler(http_proxy("GET", "/s0//s1", authorization=bearer), None)
    assert refused["statusCode"] == spelling["statusCode"] != 200  # like a refused spelling
    assert not LONG.decide(Principal("ann"), "GET", ambiguous(7, style)).allowed
    without_default = Routes({"GET /" + "/".join(SEGMENTS): public()})
    bare = Guard(JWT, claims=MAPPER, routes=without_default, decision_log=None)
    answered = bare(lambda e, c: {"statusCode": 200})(
        http_proxy("GET", ambiguous(7, style), authorization=bearer), None
    )
    assert answered["statusCode"] == 404


# fmt: off
def test_changelog_a_guard_answers_403_past_the_cap_under_a_default_rule() -> None:
    guard = Guard(JWT, claims=MAPPER, routes=LONG, decision_log=None)
    handler = guard(lambda e, c: {"statusCode": 200, "body": "ok"})
    event = http_proxy("GET", ambiguous(7), authorization="Bearer " + token(tenant="acme"))
    assert handler(event, None)["statusCode"] == 403
# fmt: on


def test_an_authorizer_denies_past_the_cap_even_under_a_default_rule() -> None:
    authorizer = Authorizer(JWT, routes=LONG, claims=MAPPER, decision_log=None)

    def effect(path: str) -> str:
        event = request_authorizer("GET", path, authorization="Bearer " + token(tenant="acme"))
        return str(authorizer.handler(event, None)["policyDocument"]["Statement"][0]["Effect"])

    assert effect(ambiguous(6)) == "Allow"
    assert effect(ambiguous(7)) == "Deny"


# -- revocations refuse misspelt issuers (revocation.md, CHANGELOG, issuers) --------------

POOL = "eu-west-1_AbC123"
COGNITO = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}"
MISSPELT = [
    " " + COGNITO,
    "https://idp.example.com/ ",
    "https://idp.example.com/\u200b",
    "\ufeffhttps://idp.example.com/",
    POOL,
    POOL.upper(),
    f"arn:aws:cognito-idp:eu-west-1:123456789012:userpool/{POOL}",
    COGNITO.upper(),
    "https://COGNITO-IDP.eu-west-1.amazonaws.com/" + POOL,
    COGNITO.replace("https", "http"),
    COGNITO + "/",
]
REAL = [
    COGNITO,
    f"https://issuer-cognito-idp.eu-west-1.amazonaws.com/{POOL}",
    "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_AbC123",
    "https://tenant.eu.auth0.com/",
    "https://dev-123.okta.com/oauth2/default",
    "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
    "https://sso.example.com/realms/main",
    "https://accounts.google.com",
    "https://cognito-idp.example.com/pool",  # not under .amazonaws.: not Cognito's
]


def revocations() -> Revocations:
    return Revocations(MemoryRevocationStore())


@pytest.mark.parametrize("issuer", MISSPELT)
def test_every_revoke_call_refuses_a_issuer_problem(issuer: str) -> None:
    assert issuer_problem(issuer) is not None
    lists = revocations()
    for call in (
        lists.revoke_token,
        lists.revoke_family,
        lists.revoke_subject,
        lists.revoke_client,
    ):
        with pytest.raises(ConfigurationError, match="cannot be a token's issuer"):
            call(issuer, "value")


@pytest.mark.parametrize("issuer", REAL)
def test_real_issuers_are_accepted_by_revoke(issuer: str) -> None:
    assert issuer_problem(issuer) is None
    lists = revocations()
    lists.revoke_token(issuer, "jti-1")
    lists.revoke_subject(issuer, "ann", before=1.0)
    lists.revoke_client(issuer, "app", before=1.0)


def test_the_cli_refuses_a_issuer_problem_with_exit_2_before_the_store(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [
        "revoke",
        "subject",
        "ann",
        "--issuer",
        COGNITO + "/",
        "--redis",
        "redis://127.0.0.1:1/0",
    ]
    assert cli_main(argv) == 2
    assert "cannot be a token's issuer" in capsys.readouterr().err


# -- client_id and other string claims (verifier.md, CHANGELOG) ----------------------------

PAIR = KeyPair.generate("ES256", kid="k")


def signed(**claims: Any) -> str:
    return PAIR.sign({"iss": ISS, "aud": AUD, "sub": "ann", "exp": 4e9, **claims})


def verifier(**options: Any) -> JwtVerifier:
    options.setdefault("audience", AUD)
    return JwtVerifier(issuer=ISS, jwks={"keys": [PAIR.public_jwk]}, **options)


@pytest.mark.parametrize(
    "claims",
    [
        {"client_id": ["a", "b"]},
        {"client_id": None},
        {"client_id": 7},
        {"sub": ["ann"]},
        {"jti": 1},
    ],
)
def test_sub_jti_and_client_id_are_one_string_whenever_present(claims: dict[str, Any]) -> None:
    with pytest.raises(InvalidClaims):
        verifier().verify(signed(**claims))


def test_another_audience_claim_matches_one_string_only() -> None:
    checked = verifier(audience="app", audience_claim="client_id")
    assert checked.verify(signed(client_id="app"))["client_id"] == "app"
    with pytest.raises(InvalidAudience):
        checked.verify(signed(client_id=["app"]))
    assert verifier(audience=["x", AUD]).verify(signed(aud=["y", AUD]))["sub"] == "ann"


def test_the_cognito_preset_names_client_id_and_refuses_a_list() -> None:
    with pytest.raises(ConfigurationError, match=r"^client_id must be"):
        JwtVerifier.cognito(user_pool_id=POOL, client_id="", token_use="access")
    assert checked_audience(["api", "admin"]) == {"api", "admin"}
    with pytest.raises(ConfigurationError, match=r"^client_id must"):
        checked_audience("", name="client_id")
    pool = JwtVerifier.cognito(
        user_pool_id=POOL, client_id="app", token_use="access", jwks={"keys": [PAIR.public_jwk]}
    )
    body = {"iss": COGNITO, "sub": "ann", "token_use": "access", "exp": 4e9}
    assert pool.verify(PAIR.sign({**body, "client_id": "app"}))["sub"] == "ann"
    with pytest.raises((InvalidAudience, InvalidClaims)):
        pool.verify(PAIR.sign({**body, "client_id": ["app"]}))


# -- the verified-token cache (verifier.md) --------------------------------------------------


def test_a_hit_rechecks_exp() -> None:
    clock = Clock(1000.0)
    cached = verifier(clock=clock)
    text = signed(exp=1100)
    cached.verify(text), cached.verify(text)  # kept from its second verification
    clock.now = 1100.0
    with pytest.raises(TokenExpired):
        cached.verify(text)


def test_a_clock_stepped_back_verifies_afresh_nbf_included() -> None:
    clock = Clock(1000.0)
    cached = verifier(clock=clock)
    text = signed(nbf=1000)
    cached.verify(text), cached.verify(text)
    assert cached.verify(text)["sub"] == "ann"  # a hit
    clock.now = 990.0
    with pytest.raises(TokenNotYetValid):
        cached.verify(text)


def test_a_hit_keeps_old_claims_until_clear_cache_and_an_entry_ends_at_max_age() -> None:
    clock = Clock(1000.0)
    cached = verifier(clock=clock, cache_max_age=60)
    text = signed()
    cached.verify(text), cached.verify(text)  # kept, made at 1000
    cached.claims = ClaimPolicy(issuer=ISS, audience="another-api")
    clock.now = 1059.5
    assert cached.verify(text)["sub"] == "ann"  # a hit: the new audience is not applied
    clock.now = 1060.0  # exactly cache_max_age: verified afresh, under the new claims
    with pytest.raises(InvalidAudience):
        cached.verify(text)
    clock.now = 1000.0
    cached.claims = ClaimPolicy(issuer=ISS, audience=AUD)
    cached.verify(text), cached.verify(text)
    cached.claims = ClaimPolicy(issuer=ISS, audience="another-api")
    cached.clear_cache()
    with pytest.raises(InvalidAudience):
        cached.verify(text)


# -- JWKS fetches shared (verifier.md; docs/jwks.md stale) ---------------------------------


def test_coroutines_of_one_event_loop_share_one_fetch() -> None:
    with LocalIssuer(algs=("ES256",)) as idp:
        cold = JwtVerifier(
            issuer=idp.issuer, audience="api", jwks_uri=idp.jwks_uri, allow_http=True
        )
        tokens = [idp.token(sub=f"u{i}", aud="api") for i in range(8)]

        async def all_at_once() -> list[dict[str, Any]]:
            return await asyncio.gather(*(cold.verify_async(t) for t in tokens))

        assert len(asyncio.run(all_at_once())) == 8
        assert idp.fetches == 1


# fmt: off
def test_jwks_md_event_loops_in_threads_make_at_most_one_fetch_each() -> None:
    issuer = GatedIssuer().start()
    try:
        cold = JwtVerifier(issuer=issuer.issuer, audience="api", jwks_uri=issuer.jwks_uri,
                           allow_http=True)
        tokens = [issuer.token(sub=f"u{i}", aud="api") for i in range(2)]
        issuer.hold()
        results: list[Any] = [None, None]

        def worker(index: int) -> None:
            results[index] = asyncio.run(cold.verify_async(tokens[index]))["sub"]

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(2)]
        threads[0].start()
        assert issuer.wait_arrivals(1)
        threads[1].start()
        issuer.wait_arrivals(2, timeout=2.0)  # bounded; the verdict is the count
        issuer.gate.set()
        for thread in threads:
            thread.join(10)
        assert results == ["u0", "u1"]
        assert 1 <= issuer.arrivals <= 2  # the docs: at most one fetch per event loop
    finally:
        issuer.gate.set()
        issuer.stop()
# fmt: on


# -- missing extras (verifier.md, guard.md, CHANGELOG review 117) -------------------------

SRC = pathlib.Path(secauth.__file__).resolve().parent.parent
SITE = pathlib.Path(cryptography.__file__).resolve().parent.parent


def run_without(blocked: set[str], body: str, tmp: pathlib.Path) -> str:
    """Run ``body`` in an interpreter whose site-packages lacks the ``blocked`` packages (a
    copy of the venv's made of symlinks, without them and their dist-info): not installed."""
    site = tmp / "site-packages"
    site.mkdir()
    for entry in SITE.iterdir():
        name = entry.name.split("-")[0].lower()
        if name not in blocked and not entry.name.endswith(".pth"):
            (site / entry.name).symlink_to(entry)
    done = subprocess.run(
        [sys.executable, "-S", "-c", textwrap.dedent(body)],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PYTHONPATH": f"{SRC}{os.pathsep}{site}", "PATH": os.environ.get("PATH", "")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_without_httpx_a_guard_refuses_an_async_handler_and_a_fetch_names_the_extra(
    tmp_path: pathlib.Path,
) -> None:
    with LocalIssuer(algs=("ES256",)) as idp:
        out = run_without(
            {"httpx"},
            f"""
            import asyncio
            from secauth import Guard, JwtVerifier
            from secauth.errors import ConfigurationError, KeysUnavailable
            v = JwtVerifier(issuer={idp.issuer!r}, audience="api", jwks_uri={idp.jwks_uri!r},
                            allow_http=True)
            async def handler(event, context):
                return {{}}
            try:
                Guard(v, decision_log=None)(handler)
            except ConfigurationError as exc:
                print("guard:", exc)
            try:
                asyncio.run(v.verify_async({idp.token(aud="api")!r}))
            except KeysUnavailable as exc:
                print("fetch:", exc.detail["cause"]["kind"], exc.detail["cause"]["error"])
            """,
            tmp_path,
        )
    assert "guard:" in out
    assert "secauth[async]" in out
    assert "fetch: missing_dependency" in out
    assert "secauth[async]" in out.split("fetch:")[1]


# fmt: off
def test_guard_md_a_guard_with_a_verifier_needs_httpx_for_an_async_handler(
    tmp_path: pathlib.Path,
) -> None:
    out = run_without(
        {"httpx"},
        f"""
        from secauth import Guard, JwtVerifier
        from secauth.errors import ConfigurationError
        v = JwtVerifier(issuer="https://idp/", audience="api", jwks={{"keys": [{PAIR.public_jwk!r}]}})
        async def handler(event, context):
            return {{}}
        try:
            Guard(v, decision_log=None)(handler)
            print("wrapped")
        except ConfigurationError as exc:
            print("refused:", exc)
        """,
        tmp_path,
    )
    assert "refused:" in out  # static keys too, as documented
    assert "secauth[async]" in out
# fmt: on


def test_without_powertools_guard_handler_names_the_extra_and_a_star_import_works(
    tmp_path: pathlib.Path,
) -> None:
    out = run_without(
        {"aws_lambda_powertools"},
        """
        from secauth.integrations.powertools import *  # noqa
        from secauth.errors import ConfigurationError
        import secauth.integrations.powertools as pt
        assert "guard_handler" not in pt.__all__
        try:
            pt.guard_handler
        except ImportError as exc:  # what a missing package raises
            print(exc)
        """,
        tmp_path,
    )
    assert "secauth[powertools]" in out


def test_a_rate_limiter_loads_no_inspect_and_plan_names_moved(tmp_path: pathlib.Path) -> None:
    out = run_without(
        set(),
        """
        import sys
        from secauth import RateLimiter
        print("inspect" in sys.modules)
        from secauth.plan_names import PLAN_NAME, plan_problem
        from secauth.api_keys import plan_problem as old
        assert old is plan_problem and plan_problem("pro") is None and PLAN_NAME.pattern
        print(plan_problem("gold plan"))
        """,
        tmp_path,
    )
    assert out.splitlines()[0] == "False"
    assert "not 'gold plan'" in out


# -- 429 headers (CHANGELOG Changed) -------------------------------------------------------


def test_a_429_carries_its_rate_limit_headers() -> None:
    limiter = RateLimiter.per_ip("1/minute")
    guard = Guard(JWT, claims=MAPPER, rate_limit=limiter, decision_log=None)
    handler = guard(lambda e, c: {"statusCode": 200, "body": "ok"})
    event = http_proxy("GET", "/", authorization="Bearer " + token(tenant="acme"))
    assert handler(event, None)["statusCode"] == 200
    refused = handler(event, None)
    assert refused["statusCode"] == 429
    assert "RateLimit" in refused["headers"] or "X-RateLimit-Limit" in refused["headers"]
    result = limiter.hit(event)
    error = result.error()
    assert isinstance(error, RateLimited)
    assert error.headers == result.headers()


# -- stacked Powertools guards (guard.md) --------------------------------------------------


def test_stacked_guards_finding_one_subject_of_two_issuers_answer_401() -> None:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from secauth.integrations.powertools import guard_middleware

    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(Guard(JWT, claims=MAPPER, routes=PUBLIC_ORDERS,
                                                decision_log=None))])  # fmt: skip
    ours = Guard(JWT, claims=MAPPER, routes=ORDERS, decision_log=None, token_sources=PARTNER)
    theirs = Guard(PARTNER_JWT, claims=MAPPER, routes=ORDERS, decision_log=None,
                   token_sources=OTHER)  # fmt: skip

    @app.get("/orders", middlewares=[guard_middleware(ours), guard_middleware(theirs)])
    def orders() -> dict[str, str]:
        return {"ok": "yes"}

    headers = {"x-partner-token": token("ann", tenant="acme"),
               "x-other-token": partner_token("ann", tenant="acme")}  # fmt: skip
    assert app.resolve(http_proxy("GET", "/orders", headers=headers), None)["statusCode"] == 401


# -- the context contract (authorizer.md) --------------------------------------------------


def test_hostile_claim_values_come_back_exactly_from_the_context() -> None:
    sub = "ann\r\nX-Evil: 1\x1b[31m"
    authorizer = Authorizer(JWT, claims=MAPPER, decision_log=None)
    event = request_authorizer("GET", "/", authorization="Bearer " + token(sub, tenant="t\n1"))
    answer = authorizer.handler(event, None)
    back = Principal.from_context(answer["context"])
    assert (back.id, back.tenant) == (sub, "t\n1")


# -- CHANGELOG counts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "count"),
    [
        ("tests/test_review116_cognito.py", 76),
        ("tests/test_review114_output_injection.py", 53),
        ("tests/test_review113_concurrency.py", 14),
        ("tests/test_review112_key_expiry.py", 61),
    ],
)
def test_changelog_test_counts(path: str, count: int) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", path],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert f"{count} tests collected" in done.stdout, done.stdout[-300:]
