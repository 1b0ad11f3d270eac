"""Review 133 (docs claims): every claim added or changed since 6fbd138 (checked at c5bf5f5).

Resolved after this review: its four informational notes. The CHANGELOG names
``guard_handler``'s ImportError and the new public names; ``RouteTable``'s docstring says
literals differ only in case; docs/verifier.md says a cold start without a good discovery
document fails; ``Limit.parse("100/2M")`` suggests ``'100/2minute'``.

Read: ``git diff 6fbd138..HEAD -- docs README.md CHANGELOG.md`` and the docstrings in
``git diff 6fbd138..HEAD -- src``; grepped docs/, README.md and examples/ for moved names
(``secauth.routing``'s RouteTable, Match, stage_readings, MAX_AMBIGUOUS_SEGMENTS),
``misspelt_issuer``, ``last_failure``, ``/M``, "discovery" sentences, and what guard_handler
raises without Powertools.

Claims that held (each tested below):

* ``secauth.route_table`` holds RouteTable, Match, stage_readings, MAX_AMBIGUOUS_SEGMENTS (6,
  docs/access.md's "more than six"); ``secauth.routing`` keeps the grammar and no longer
  exports them; routing.py had 524 lines at 6fbd138 ("past 500"); ``too_ambiguous`` equals
  ``readings(...) is None``; a path with 7 ambiguous segments is refused by a Guard even
  under ``default=public()``; the docstring examples of every changed module run.
* Discovery (docs/jwks.md, verifier.md, errors.md, operations.md, JwksStats, CHANGELOG):
  the document is read at every refresh; once a good one was read, an outage, another
  issuer or a refused ``jwks_uri`` falls back to the last good ``jwks_uri`` (sync and
  async), keys keep coming, ``last_failure`` stays None, ``stats().discovery_failures``
  counts each, the warning on ``secauth.jwks`` reads as quoted ("discovery document ...
  failed: wrong_issuer document=discovery; keys fetched from the jwks_uri it named
  before"); before any good document, another issuer is ``keys_unavailable``; an empty or
  blank ``discovery_issuer`` is refused; ``JwksStats.discovery_failures`` defaults to 0.
* HMAC secrets: a JWK, a JWKS or PEM in base64, base64url or hex is refused; an
  uncompressed EC point (raw, base64, hex) is refused and a compressed one accepted (module
  docs, docs/security.md); the message names "an EC point"; one byte repeated is refused.
* ``issuers.issuer_problem`` (its examples, pool ARNs, invisible characters, upper-case
  pool ids), ``POOL_ID_PATTERN`` exported and used by CognitoVerifier; ``misspelt_issuer``
  gone and named nowhere in docs/ or src/.
* First-hour fixes: ``Guard(ROUTES)`` refused with "pass a route table as routes=", a
  verifier with only ``verify_async`` accepted; ``guard(roles(...))`` points at
  ``@guard.require``; a string rule names its route and suggests ``roles('admin')``;
  ``cache_ttl="300"`` names cache_ttl (``checked_cache_ttl``); ``api_keys={}`` refused;
  ``"/M"`` refused (Limit and ``RateLimiter.per_ip``), ``/mo`` too, ``/m`` is a minute;
  a backend event's ``unsupported_event`` record says to use Guard; ``tenant()`` without
  a mapping says ``ClaimMapper(tenant_claim=...)``; ``roles("admin,reader")`` is one role
  and fails closed; README's first handler answers 401 (no headers, a token-authorizer
  event, upper-case header names read); README's Guard sentence (401 with ``Bearer``, 403
  with ``insufficient_scope`` on REST, HTTP API, ALB and Function URL events).
* ``guard_handler`` without Powertools raises ImportError (not ConfigurationError), naming
  the extra; ``RateLimited.headers`` as in its example and set by
  ``RateLimitResult.error()``.
* CHANGELOG test counts: review 131 (62), 125 (21), 124 (29), 122 (15); review 128's
  "seven lows" are seven.

Findings: none false or overstated among the new claims. Notes (informational, not tested
as findings):

* CHANGELOG.md has no "Changed" entry for ``guard_handler`` now raising ImportError instead
  of ConfigurationError without Powertools (6698beb), a change of the exception a caller
  catches; nor "Added" entries for ``route_table.RouteTable.too_ambiguous``,
  ``issuers.POOL_ID_PATTERN`` and ``policy.builder.checked_cache_ttl`` (all in ``__all__``).
* src/secauth/route_table.py (RouteTable docstring, moved text): "two literals that differ
  only in case or percent-encoding" raise ConfigurationError; a literal with ``%`` is
  refused earlier by ``parse_route_key`` (no ``%`` in a literal), so only case can differ.
* docs/verifier.md:49-51: "when it cannot be read ..., the jwks_uri the last good one named
  is fetched" leaves out the cold start (no good one yet: ``keys_unavailable``); docs/jwks.md
  and errors.md say it, so this is a missing clause, not a false one.
* ``Limit.parse("100/2M")`` is refused (right) but suggests ``'100/minute'``, dropping the 2.
"""

from __future__ import annotations

import asyncio
import base64
import doctest
import importlib
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from discovery_server import DiscoveryServer, discovery_homes, spoil
from hand_clock import Clock

from secauth import Authorizer, ClaimMapper, Guard, JwtVerifier, Routes, public, roles, tenant
from secauth.errors import ConfigurationError, KeysUnavailable, RateLimited
from secauth.hmac_secrets import looks_like_public_key, secret_bytes
from secauth.jwks import JwksCache, JwksStats
from secauth.policy import Unauthorized
from secauth.ratelimit import Limit, RateLimiter
from secauth.ratelimit.result import RateLimitResult
from secauth.testing import KeyPair, LocalIssuer
from secauth.testing_events import alb, function_url, http_proxy, rest_proxy, token_authorizer

ROOT = Path(__file__).resolve().parents[1]
AUD = "api"


def _ok(event: Any, context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


# -- secauth.route_table ----------------------------------------------------------------------


def test_moved_names_live_in_route_table_and_left_routing() -> None:
    """CHANGELOG (Changed): moved from secauth.routing, which keeps the route-key grammar."""
    import secauth.route_table as route_table
    import secauth.routing as routing

    moved = {"RouteTable", "Match", "stage_readings", "MAX_AMBIGUOUS_SEGMENTS"}
    assert moved == set(route_table.__all__)
    for name in moved:
        assert hasattr(route_table, name)
        assert name not in routing.__all__
        assert not hasattr(routing, name), name
    for name in ("parse_route_key", "parse_template", "split_path", "fold", "VERBS"):
        assert name in routing.__all__
    assert route_table.MAX_AMBIGUOUS_SEGMENTS == 6  # docs/access.md: "more than six"


def test_routing_had_grown_past_500_lines() -> None:
    old = subprocess.run(
        ["git", "-C", str(ROOT), "show", "6fbd138:src/secauth/routing.py"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if old.returncode != 0:
        pytest.skip("no git history here")
    assert len(old.stdout.splitlines()) > 500


def test_no_doc_or_example_names_a_moved_name_under_routing() -> None:
    moved = ("RouteTable", "Match", "stage_readings", "MAX_AMBIGUOUS_SEGMENTS")
    places = [*ROOT.joinpath("docs").rglob("*.md"), ROOT / "README.md"]
    places += list(ROOT.joinpath("examples").rglob("*.py"))
    for path in places:
        text = path.read_text(encoding="utf-8")
        for name in moved:
            assert f"routing.{name}" not in text, (path, name)
        for line in text.splitlines():
            if "from secauth.routing import" in line:
                assert not any(name in line for name in moved), (path, line)


def test_too_ambiguous_and_readings_agree_at_the_cap() -> None:
    from secauth.route_table import RouteTable
    from secauth.routing import parse_route_key

    table = RouteTable([(parse_route_key("GET /a/b/c/d/e/f/g"), "deep")])
    for k in range(8):
        segments = tuple("ABCDEFG"[:k] + "abcdefg"[k:])
        assert table.too_ambiguous(segments) is (table.readings(segments) is None)
        assert table.too_ambiguous(segments) is (k > 6)
        assert (table.lookup("GET", segments) is None) is (k > 6)


def test_a_path_too_ambiguous_to_read_is_refused_even_under_a_default() -> None:
    """docs/access.md: more than six ambiguous segments: refused, even under a default."""
    with LocalIssuer() as idp:
        verifier = JwtVerifier(issuer=idp.issuer, audience=AUD, jwks_uri=idp.jwks_uri,
                               allow_http=True)  # fmt: skip
        routes = Routes({"GET /a/b/c/d/e/f/g": public()}, default=public())
        handler = Guard(verifier, routes=routes, decision_log=None)(_ok)
        assert handler(http_proxy("GET", "/A/B/C/D/E/F/g"), None)["statusCode"] == 200
        assert handler(http_proxy("GET", "/A/B/C/D/E/F/G"), None)["statusCode"] >= 400


@pytest.mark.parametrize(
    "module",
    [
        "secauth.route_table", "secauth.routing", "secauth.issuers", "secauth.errors",
        "secauth.policy.builder", "secauth.events", "secauth.hmac_secrets",
        "secauth._fetch_async", "secauth.ratelimit.limit",
    ],
)  # fmt: skip
def test_changed_modules_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0


# -- the discovery fallback -------------------------------------------------------------------


@pytest.fixture
def idps() -> Iterator[tuple[DiscoveryServer, LocalIssuer, LocalIssuer]]:
    with discovery_homes() as homes:
        yield homes


def _cache(discovery: DiscoveryServer, clock: Clock) -> JwksCache:
    return JwksCache.from_discovery(
        discovery.issuer, allow_http=True, clock=clock, ttl=600, max_age=3600, max_backoff=60
    )


def test_the_document_is_read_at_every_refresh(
    idps: tuple[DiscoveryServer, LocalIssuer, LocalIssuer],
) -> None:
    """docs/verifier.md and CHANGELOG: one more request per refresh; a moved jwks_uri followed."""
    discovery, home, other = idps
    clock = Clock(1000.0)
    cache = _cache(discovery, clock)
    assert cache.hydrate()
    discovery.jwks_uri = other.jwks_uri
    clock.now += 601
    assert cache.hydrate()
    assert discovery.fetches == 2
    assert (home.fetches, other.fetches) == (1, 1)
    assert cache.keys_for(other.key.kid)


@pytest.mark.parametrize("how", ["outage", "wrong_issuer", "refused_url"])
def test_a_failing_document_after_a_good_one_falls_back_as_documented(
    idps: tuple[DiscoveryServer, LocalIssuer, LocalIssuer],
    how: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """docs/jwks.md's paragraph, docs/operations.md's alarm row, JwksStats' docstring."""
    discovery, home, other = idps
    clock = Clock(1000.0)
    cache = _cache(discovery, clock)
    assert cache.hydrate()
    assert cache.stats().discovery_failures == 0
    spoil(discovery, how, other)
    clock.now += 601
    with caplog.at_level(logging.WARNING, logger="secauth.jwks"):
        assert cache.hydrate()
    assert cache.keys_for(home.key.kid)  # no keys_unavailable
    assert cache.last_failure is None  # "last_failure stays None while the fetches succeed"
    assert cache.stats().discovery_failures == 1
    assert other.fetches == 0
    assert home.fetches == 2
    warnings = [r for r in caplog.records if r.name == "secauth.jwks"]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert text.startswith("discovery document ")
    cause = {"outage": "http_status status=500", "wrong_issuer": "wrong_issuer",
             "refused_url": "refused_url"}[how]  # fmt: skip
    assert f"failed: {cause}" in text
    assert text.endswith("document=discovery; keys fetched from the jwks_uri it named before")


def test_the_async_twin_falls_back_too(
    idps: tuple[DiscoveryServer, LocalIssuer, LocalIssuer],
) -> None:
    pytest.importorskip("httpx")
    discovery, home, other = idps
    clock = Clock(1000.0)
    cache = _cache(discovery, clock)

    async def run() -> None:
        assert await cache.keys_for_async(home.key.kid)
        spoil(discovery, "wrong_issuer", other)
        clock.now += 601
        assert await cache.keys_for_async(home.key.kid)

    asyncio.run(run())
    assert cache.stats().discovery_failures == 1
    assert cache.last_failure is None
    assert other.fetches == 0


def test_another_issuer_before_any_good_document_is_keys_unavailable(
    idps: tuple[DiscoveryServer, LocalIssuer, LocalIssuer],
) -> None:
    """docs/errors.md: "a discovery document names another issuer before any good one"."""
    discovery, home, other = idps
    spoil(discovery, "wrong_issuer", other)
    cache = _cache(discovery, Clock(1000.0))
    with pytest.raises(KeysUnavailable) as err:
        cache.keys_for(home.key.kid)
    assert err.value.detail["cause"] == {"kind": "wrong_issuer", "document": "discovery"}
    assert cache.stats().discovery_failures == 0
    assert (home.fetches, other.fetches) == (0, 0)


@pytest.mark.parametrize("issuer", ["", "   ", "\t"])
def test_an_empty_discovery_issuer_is_refused(issuer: str) -> None:
    with pytest.raises(ConfigurationError, match="discovery_issuer"):
        JwksCache("https://idp.example.com/.well-known/openid-configuration",
                  discovery_issuer=issuer)  # fmt: skip


def test_jwks_stats_discovery_failures_defaults_to_zero() -> None:
    assert JwksStats(0, 0, 0, 0, None).discovery_failures == 0
    assert JwksCache("https://idp.example.com/jwks.json").stats().discovery_failures == 0


# -- HMAC secrets -----------------------------------------------------------------------------


def _encodings(raw: bytes) -> list[bytes]:
    return [base64.b64encode(raw), base64.urlsafe_b64encode(raw).rstrip(b"="), raw.hex().encode()]


def test_key_text_in_base64_or_hex_is_refused_as_a_secret() -> None:
    """CHANGELOG (review 124): base64 or hex of a public JWK; every decoding is key text."""
    pair = KeyPair.generate("ES256")
    jwk = json.dumps(dict(pair.public_jwk)).encode()
    jwks = json.dumps({"keys": [dict(pair.public_jwk)]}).encode()
    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for text in (jwk, jwks, pem):
        for encoded in _encodings(text):
            assert looks_like_public_key(encoded)
            with pytest.raises(ConfigurationError, match="public key"):
                secret_bytes(encoded)


def test_uncompressed_points_refused_and_compressed_accepted() -> None:
    """src/secauth/hmac_secrets.py module docs and docs/security.md."""
    for curve in (ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()):
        key = ec.generate_private_key(curve).public_key()
        full = key.public_bytes(serialization.Encoding.X962,
                                serialization.PublicFormat.UncompressedPoint)  # fmt: skip
        short = key.public_bytes(serialization.Encoding.X962,
                                 serialization.PublicFormat.CompressedPoint)  # fmt: skip
        for spelling in (full, *_encodings(full)):
            with pytest.raises(ConfigurationError, match="an EC point"):
                secret_bytes(spelling)
        for spelling in (short, *_encodings(short)):
            assert secret_bytes(spelling) == spelling
    with pytest.raises(ConfigurationError):
        secret_bytes(b"k" * 32)


# -- issuers ----------------------------------------------------------------------------------


def test_issuer_problem_and_pool_id_pattern() -> None:
    import re

    import secauth.issuers as issuers
    from secauth.cognito import CognitoVerifier

    assert {"POOL_ID_PATTERN", "issuer_problem"} <= set(issuers.__all__)
    assert not hasattr(issuers, "misspelt_issuer")
    assert re.fullmatch(issuers.POOL_ID_PATTERN, "eu-west-1_AbC123")
    good = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"
    assert issuers.issuer_problem(good) is None
    assert issuers.issuer_problem("https://idp.example.com/") is None
    for bad in ("arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC123",
                good + "\u200b", "\ufeff" + good, "EU-WEST-1_ABC123", good + "/",
                good.replace("https", "http"), " " + good):  # fmt: skip
        assert issuers.issuer_problem(bad) is not None, bad
    assert issuers.issuer_problem("https://cognito-idp.example.com/x") is None  # outside AWS
    assert CognitoVerifier(user_pool_id="us-gov-west-1_AbC123", client_id="c",
                           token_use="access").region == "us-gov-west-1"
    for path in [*ROOT.joinpath("docs").rglob("*.md"), *ROOT.joinpath("src").rglob("*.py")]:
        assert "misspelt_issuer" not in path.read_text(encoding="utf-8"), path


# -- the first-hour fixes ---------------------------------------------------------------------


class _AsyncOnly:
    async def verify_async(self, token: str) -> dict[str, Any]:
        raise NotImplementedError


def _static() -> JwtVerifier:
    pair = KeyPair.generate("ES256")
    return JwtVerifier(issuer="https://idp.example.com/", audience=AUD,
                       jwks={"keys": [dict(pair.public_jwk)]})  # fmt: skip


def test_guard_first_argument_checks() -> None:
    routes = Routes({"GET /x": public()})
    with pytest.raises(ConfigurationError, match="pass a route table as routes="):
        Guard(routes)  # type: ignore[arg-type]
    Guard(_AsyncOnly(), decision_log=None)  # type: ignore[arg-type]
    guard = Guard(routes=routes, decision_log=None)
    with pytest.raises(ConfigurationError, match=r"@guard\.require\("):
        guard(roles("admin"))  # type: ignore[arg-type]


def test_a_string_rule_names_its_route_and_suggests_roles() -> None:
    with pytest.raises(ConfigurationError) as err:
        Routes({"GET /admin": "admin"})  # type: ignore[dict-item]
    assert "'GET /admin'" in str(err.value)
    assert "roles('admin')" in str(err.value)
    with pytest.raises(ConfigurationError, match="default"):
        Routes({"GET /x": public()}, default="admin")  # type: ignore[arg-type]


def test_cache_ttl_and_api_keys_name_themselves() -> None:
    from secauth.policy.builder import checked_cache_ttl

    assert checked_cache_ttl(300) == 300
    with pytest.raises(ConfigurationError, match=r"cache_ttl.*str '300'"):
        Authorizer(_static(), cache_ttl="300", decision_log=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"ApiKeyStore.*not dict"):
        Authorizer(api_keys={}, decision_log=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["100/M", "10000/M", "5 per M"])
def test_capital_m_is_refused_and_small_m_is_a_minute(text: str) -> None:
    with pytest.raises(ConfigurationError, match=r"ambiguous period 'M'.*/minute.*/month"):
        Limit.parse(text)
    with pytest.raises(ConfigurationError):
        RateLimiter.per_ip(text)
    with pytest.raises(ConfigurationError, match="ambiguous"):
        Limit.parse("10/mo")
    assert Limit.parse("100/m").period == 60.0


def test_a_backend_event_sent_to_the_authorizer_says_use_guard() -> None:
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(_static(), on_decision=records.append, decision_log=None)
    with pytest.raises(Unauthorized):
        authorizer.handler(rest_proxy("GET", "/x", token="abc"), None)
    assert records[-1]["reason"] == "unsupported_event"
    assert "Guard" in records[-1]["detail"]["problem"]


def test_tenant_without_a_mapping_names_claim_mapper_and_roles_with_a_comma_is_one_role() -> None:
    records: list[dict[str, Any]] = []
    with LocalIssuer() as idp:
        verifier = JwtVerifier(issuer=idp.issuer, audience=AUD, jwks_uri=idp.jwks_uri,
                               allow_http=True)  # fmt: skip
        routes = Routes({"GET /t/{tid}": tenant(path="tid"),
                         "GET /both": roles("admin,reader")})  # fmt: skip
        guard = Guard(verifier, routes=routes, claims=ClaimMapper(role_claims=("groups",)),
                      on_decision=records.append,
                      decision_log=None)  # fmt: skip
        handler = guard(_ok)
        token = idp.token(aud=AUD, sub="alice", groups=["admin", "reader"])
        assert handler(http_proxy("GET", "/t/acme", token=token), None)["statusCode"] == 403
        assert "ClaimMapper(tenant_claim=...)" in json.dumps(records[-1])
        assert handler(http_proxy("GET", "/both", token=token), None)["statusCode"] == 403


def _readme_handler(verifier: JwtVerifier) -> Any:
    text = ROOT.joinpath("README.md").read_text(encoding="utf-8")
    code = text.split("## Verify a token", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    namespace["verifier"] = verifier  # the README's JwtVerifier, on the test's loopback issuer
    return namespace["handler"]


def test_readme_first_handler() -> None:
    with LocalIssuer() as idp:
        verifier = JwtVerifier(issuer=idp.issuer, audience=AUD, jwks_uri=idp.jwks_uri,
                               allow_http=True)  # fmt: skip
        handler = _readme_handler(verifier)
        token = idp.token(aud=AUD, sub="alice")
        event = rest_proxy("GET", "/", token=token)
        event["headers"] = {"AUTHORIZATION": f"Bearer {token}"}
        assert handler(event, None) == {"statusCode": 200, "body": "hello alice"}
        for bare in ({"headers": None}, {}, token_authorizer("GET", "/", token=token)):
            answer = handler(bare, None)
            assert answer["statusCode"] == 401
            assert token not in answer["body"]


@pytest.mark.parametrize("make", [rest_proxy, http_proxy, alb, function_url])
def test_readme_guard_sentence(make: Any) -> None:
    """README: Guard reads the header in every event format, 401 and 403 with the challenge."""
    with LocalIssuer() as idp:
        verifier = JwtVerifier(issuer=idp.issuer, audience=AUD, jwks_uri=idp.jwks_uri,
                               allow_http=True)  # fmt: skip
        guard = Guard(verifier, routes=Routes({"GET /admin": roles("admin")}),
                      claims=ClaimMapper(role_claims=("groups",)), decision_log=None)  # fmt: skip
        handler = guard(_ok)
        anonymous = handler(make("GET", "/admin"), None)
        forbidden = handler(make("GET", "/admin", token=idp.token(aud=AUD, sub="a")), None)
        admin = handler(make("GET", "/admin", token=idp.token(aud=AUD, sub="a",
                                                               groups=["admin"])), None)  # fmt: skip
    assert anonymous["statusCode"] == 401
    assert _header(anonymous, "www-authenticate").startswith("Bearer")
    assert forbidden["statusCode"] == 403
    assert 'error="insufficient_scope"' in _header(forbidden, "www-authenticate")
    assert admin["statusCode"] == 200


def _header(answer: dict[str, Any], name: str) -> str:
    for key, value in (answer.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    for key, values in (answer.get("multiValueHeaders") or {}).items():
        if key.lower() == name:
            return str(values[0])
    return ""


# -- guard_handler, RateLimited.headers, CHANGELOG counts -------------------------------------


def test_guard_handler_without_powertools_raises_import_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import secauth.integrations.powertools as powertools

    monkeypatch.setitem(sys.modules, "aws_lambda_powertools", None)
    monkeypatch.setitem(sys.modules, "aws_lambda_powertools.middleware_factory", None)
    monkeypatch.delitem(powertools.__dict__, "guard_handler", raising=False)
    with pytest.raises(ImportError, match=r"secauth\[powertools\]") as err:
        powertools.guard_handler  # noqa: B018
    assert not isinstance(err.value, ConfigurationError)


def test_rate_limited_headers_travel_on_the_error() -> None:
    assert RateLimited(retry_after=30, headers={"RateLimit": '"api";r=0;t=30'}).headers == {
        "RateLimit": '"api";r=0;t=30'
    }
    denied = RateLimitResult(False, 5, 0, 60.0, 7.0)
    assert denied.error().headers == denied.headers()
    assert denied.error().headers


@pytest.mark.parametrize(
    ("review", "count"),
    [("131_alb_oidc", 62), ("125_cached_cap", 21), ("124_fix_attacks", 29),
     ("122_key_rotation", 15)],
)  # fmt: skip
def test_changelog_test_counts(review: str, count: int) -> None:
    changelog = ROOT.joinpath("CHANGELOG.md").read_text(encoding="utf-8")
    entry = changelog.split(f"tests/test_review{review}.py`", 1)[1][:40]
    assert f"{count} tests" in entry
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
         f"tests/test_review{review}.py"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert f"{count} tests collected" in collected.stdout
