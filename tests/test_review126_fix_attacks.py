"""Review 126 (adversarial): attacks on commits 89bb1b9 and 6698beb (at 6698beb).

Resolved (the tests assert them): both lows. ``JwksCache`` refuses an empty or blank
``discovery_issuer`` (``ConfigurationError``) and tests it with ``is None``; a discovery document
that fails while the known ``jwks_uri`` is fetched counts in ``stats().discovery_failures``, and
docs/jwks.md, errors.md and operations.md say where that shows (an alarm row included). The
informational note is fixed too: the Powertools comment no longer claims ``hasattr()`` works.

Attacked:

(a) ``JwksCache``'s discovery fallback (``_fetch_sync``/``_fetch_async``, ``_discovered``,
    ``_known_jwks_url``): a cold start whose discovery document fails, names another issuer
    or a refused ``jwks_uri``; a hostile document's ``jwks_uri`` being remembered and used at
    a later outage; which of several good documents' ``jwks_uri`` an outage falls back to;
    credentials and query secrets of a refused ``jwks_uri`` in the logs and errors; the async
    twin; a falsy ``discovery_issuer``; what monitoring (``last_failure``, ``stats()``) sees
    of a discovery document that keeps naming another issuer.
(b) The 6698beb moves, with differential runs against a 00f87d2 worktree (not used by this
    file): ``CognitoVerifier``'s region from ``user_pool_id.partition("_")`` over 22 valid
    and invalid pool ids (GovCloud, ISO, EUSC, China, Unicode digits, the long s, trailing
    newline, double underscore): same region, issuers and refusals; ``issuer_problem`` (ex
    ``misspelt_issuer``) on 31 spellings: same answers; ``looks_like_public_key`` on 9,053
    inputs: only JWK/JWKS/JSON-string key text in base64 or hex newly refused, no random
    secret refused; ``RouteTable.too_ambiguous`` equals ``readings(...) is None`` (by code);
    planner's ``found[0]`` (``lookup`` never returns an empty list); every ``__all__`` name
    of every ``secauth`` module resolves; docs/ and examples/ import no moved name from
    ``secauth.routing``; ``guard_handler`` without Powertools; ``enforce_limit``.

What held: ``_jwks_url`` is assigned only after ``jwks_uri_of`` returns, so a document naming
another issuer or a refused URL is never remembered; an outage falls back to the jwks_uri of
the latest good document; a cold start with a bad discovery document fetches no JWKS (sync and
async) and reports ``document=discovery``; a refused URL's credentials and query never reach
the logs or the error; a warning is logged at every refresh. Sync refreshes are serialised by
the lock and async ones of one loop share a task; a sync refresh racing another loop's async
one can only write a jwks_uri some good document named (not tested: it needs a timed race).

Findings:

* LOW: ``JwksCache.__init__`` seeds ``_jwks_url`` with ``None if discovery_issuer else
  self.url`` while the fetch tests ``discovery_issuer is not None``: with
  ``discovery_issuer=""`` (an unset environment variable) the configured discovery URL is
  the "known" jwks_uri, so the first fetch no longer fails closed: the discovery document
  (naming another issuer) is fetched again as the JWKS, its ``keys`` trusted, and the
  warning claims they came from "the jwks_uri it named before". Fix: ``is None`` in both
  places, and refuse an empty ``discovery_issuer``.
* LOW (monitoring): a discovery document that keeps naming another issuer (or a refused
  ``jwks_uri``: tampering, or an IdP whose issuer changed) is seen only in a warning: the
  fallback refresh succeeds, so ``last_failure`` stays None and ``stats().failures`` does not
  grow, and no ``keys_unavailable`` record is written, though docs/jwks.md ("Every failed
  fetch has a cause ... the cause shows in three places", ``last_failure``), docs/errors.md
  and docs/operations.md's alert row still list "a discovery document names another issuer"
  among what they report. Fix: count discovery failures in ``JwksStats`` (or expose a
  ``last_discovery_failure``) and update the docs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from discovery_server import DiscoveryServer, discovery_homes, spoil
from hand_clock import Clock

from secauth.cognito import CognitoVerifier
from secauth.errors import ConfigurationError, KeysUnavailable, RateLimited, SecAuthError
from secauth.guard_http import enforce_limit
from secauth.hmac_secrets import looks_like_public_key
from secauth.issuers import POOL_ID_PATTERN, issuer_problem
from secauth.jwks import JwksCache
from secauth.ratelimit.result import RateLimitResult
from secauth.testing import KeyPair, LocalIssuer

T0 = 1000.0


@pytest.fixture
def idps() -> Iterator[tuple[DiscoveryServer, LocalIssuer, LocalIssuer]]:
    with discovery_homes() as homes:
        yield homes


def _cache(discovery: DiscoveryServer, clock: Clock) -> JwksCache:
    return JwksCache.from_discovery(
        discovery.issuer, allow_http=True, clock=clock, ttl=600, max_age=3600, max_backoff=60
    )


# --- (a) the discovery fallback ------------------------------------------------------------------


@pytest.mark.parametrize("how", ["outage", "wrong_issuer", "refused_url"])
def test_a_cold_start_with_a_bad_discovery_document_fetches_no_jwks(
    idps: tuple[DiscoveryServer, LocalIssuer, LocalIssuer], how: str
) -> None:
    discovery, home, other = idps
    spoil(discovery, how, other)
    cache = _cache(discovery, Clock(T0))
    assert cache.hydrate() is False
    assert (home.fetches, other.fetches) == (0, 0)
    assert cache.last_failure is not None
    assert cache.last_failure.document == "discovery"
    with pytest.raises(KeysUnavailable):
        cache.keys_for(home.key.kid)


@pytest.mark.parametrize("how", ["outage", "wrong_issuer", "refused_url"])
def test_the_async_cold_start_also_fails_closed(
    idps: tuple[DiscoveryServer, LocalIssuer, LocalIssuer], how: str
) -> None:
    discovery, home, other = idps
    spoil(discovery, how, other)
    cache = _cache(discovery, Clock(T0))

    async def run() -> None:
        with pytest.raises(KeysUnavailable):
            await cache.keys_for_async(home.key.kid)

    asyncio.run(run())
    assert (home.fetches, other.fetches) == (0, 0)


def test_a_hostile_jwks_uri_is_never_remembered_for_a_later_outage(
    idps: tuple[DiscoveryServer, LocalIssuer, LocalIssuer],
) -> None:
    """A document naming another issuer (with the attacker's jwks_uri), then an outage: the
    outage falls back to the last GOOD document's jwks_uri, never the hostile one."""
    discovery, home, other = idps
    clock = Clock(T0)
    cache = _cache(discovery, clock)
    assert cache.hydrate()
    spoil(discovery, "wrong_issuer", other)
    clock.now += 601
    assert cache.hydrate()
    discovery.issuer_named, discovery.status = None, 500  # now an outage
    clock.now += 601
    assert cache.hydrate()
    discovery.status = 200
    discovery.jwks_uri = "https://user:pw@idp.example.net/jwks.json"  # refused, then an outage
    clock.now += 601
    assert cache.hydrate()
    discovery.status = 500
    clock.now += 601
    assert cache.hydrate()
    assert other.fetches == 0
    assert home.fetches == 5
    assert [k.kid for k in cache.keys_for(home.key.kid)] == [home.key.kid]
    with pytest.raises(SecAuthError):
        cache.keys_for(other.key.kid)


def test_an_outage_falls_back_to_the_latest_good_document(
    idps: tuple[DiscoveryServer, LocalIssuer, LocalIssuer],
) -> None:
    discovery, home, other = idps
    clock = Clock(T0)
    cache = _cache(discovery, clock)
    assert cache.hydrate()
    discovery.jwks_uri = other.jwks_uri  # a good document moves the keys
    clock.now += 601
    assert cache.hydrate()
    discovery.status = 500
    clock.now += 601
    fetched = home.fetches
    assert cache.hydrate()
    assert home.fetches == fetched  # not the first document's jwks_uri
    assert other.fetches == 2
    assert cache.keys_for(other.key.kid)


def test_a_refused_jwks_uri_leaks_no_credentials_or_query(
    idps: tuple[DiscoveryServer, LocalIssuer, LocalIssuer], caplog: pytest.LogCaptureFixture
) -> None:
    discovery, _home, _ = idps
    hostile = "https://ops:Hunter2pw@evil.example.net/jwks.json?sig=TOPSECRETSIG"
    clock = Clock(T0)
    warm = _cache(discovery, clock)
    assert warm.hydrate()
    discovery.jwks_uri = hostile
    clock.now += 601
    with caplog.at_level(logging.DEBUG, logger="secauth"):
        assert warm.hydrate()
        cold = _cache(discovery, clock)
        assert cold.hydrate() is False
        with pytest.raises(KeysUnavailable) as err:
            cold.keys_for("k")
    shown = caplog.text + json.dumps(err.value.detail, default=str) + str(err.value)
    assert "refused_url" in caplog.text
    for secret in ("Hunter2pw", "TOPSECRETSIG", "ops:"):
        assert secret not in shown


def test_a_persistent_wrong_issuer_warns_at_every_refresh(
    idps: tuple[DiscoveryServer, LocalIssuer, LocalIssuer], caplog: pytest.LogCaptureFixture
) -> None:
    discovery, _home, other = idps
    clock = Clock(T0)
    cache = _cache(discovery, clock)
    assert cache.hydrate()
    spoil(discovery, "wrong_issuer", other)
    with caplog.at_level(logging.WARNING, logger="secauth.jwks"):
        for _ in range(3):
            clock.now += 601
            assert cache.hydrate()
    warned = [r for r in caplog.records if "wrong_issuer" in r.getMessage()]
    assert len(warned) == 3


def test_the_async_twin_never_fetches_a_wrong_issuers_jwks_uri(
    idps: tuple[DiscoveryServer, LocalIssuer, LocalIssuer],
) -> None:
    discovery, home, other = idps
    clock = Clock(T0)
    cache = _cache(discovery, clock)

    async def run() -> None:
        assert await cache.keys_for_async(home.key.kid)
        spoil(discovery, "wrong_issuer", other)
        clock.now += 601
        assert await cache.keys_for_async(home.key.kid)
        discovery.issuer_named, discovery.status = None, 500
        clock.now += 601
        with pytest.raises(SecAuthError):
            await cache.keys_for_async(other.key.kid)

    asyncio.run(run())
    assert other.fetches == 0


# fmt: off
def test_an_empty_discovery_issuer_still_fails_closed(
    idps: tuple[DiscoveryServer, LocalIssuer, LocalIssuer],
) -> None:
    """``JwksCache(url, discovery_issuer="")``: the document names another issuer; no key of
    it may be trusted (or the constructor refuses the empty issuer)."""
    discovery, _home, _ = idps
    planted = KeyPair.generate("ES256", kid="planted")
    discovery.issuer_named = "https://real-idp.example/"
    discovery.extra = {"keys": [dict(planted.public_jwk)]}
    try:
        cache = JwksCache(discovery.url, discovery_issuer="", allow_http=True, clock=Clock(T0))
    except ConfigurationError:
        return
    assert cache.hydrate() is False
    with pytest.raises(SecAuthError):
        cache.keys_for("planted")
    assert discovery.fetches == 1  # the discovery document is never read as a JWKS
# fmt: on


# fmt: off
def test_a_persistent_wrong_issuer_is_visible_to_monitoring(
    idps: tuple[DiscoveryServer, LocalIssuer, LocalIssuer],
) -> None:
    discovery, _home, other = idps
    clock = Clock(T0)
    cache = _cache(discovery, clock)
    assert cache.hydrate()
    before = cache.stats().failures
    assert cache.stats().discovery_failures == 0
    spoil(discovery, "wrong_issuer", other)
    for _ in range(5):
        clock.now += 601
        cache.hydrate()
    # The refresh itself succeeds from the known jwks_uri (review 124): last_failure stays
    # None, and the document's failures are counted on their own for monitoring.
    assert cache.stats().failures == before
    assert cache.stats().discovery_failures == 5
# fmt: on


# --- (b) the 6698beb moves -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pool", "region", "domain"),
    [
        ("us-gov-west-1_x", "us-gov-west-1", "amazonaws.com"),
        ("eusc-de-east-1_x", "eusc-de-east-1", "amazonaws.eu"),
        ("cn-north-1_x", "cn-north-1", "amazonaws.com.cn"),
        ("eu-west-1_AbC123", "eu-west-1", "amazonaws.com"),
        ("us-isob-east-1_a", "us-isob-east-1", None),
    ],
)
def test_a_pool_ids_region_is_its_prefix(pool: str, region: str, domain: str | None) -> None:
    verifier = CognitoVerifier(user_pool_id=pool, client_id="c", token_use="access")
    assert verifier.region == region
    if domain is not None:
        assert f"https://cognito-idp.{region}.{domain}/{pool}" in verifier.issuers


@pytest.mark.parametrize(
    "pool",
    ["EU-west-1_x", "eu-west-1_", "eu-west-1__x", "eu-west-1_x_y", "eu_west-1_x", "eu-west-1",
     "_x", "eu-west-1_x\n", "eu-west-1_\u0661", "eu-west-1_x ", "cn-north-1_x-y",
     "eu-west-1_\u017f", "eu-west-\u0661_x"],
)  # fmt: skip
def test_an_invalid_pool_id_is_still_refused(pool: str) -> None:
    with pytest.raises(ConfigurationError):
        CognitoVerifier(user_pool_id=pool, client_id="c", token_use="access")


def test_the_shared_pool_pattern_has_no_underscore_in_its_region() -> None:
    """``partition("_")[0]`` is the region only while no region can hold an underscore."""
    region_part = POOL_ID_PATTERN.rsplit("_", 1)[0]
    assert "_" not in region_part


@pytest.mark.parametrize(
    ("issuer", "refused"),
    [
        ("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123", False),
        ("https://issuer-cognito-idp.eusc-de-east-1.amazonaws.eu/eusc-de-east-1_x", False),
        ("https://idp.example.com/", False),
        ("eu-west-1_AbC123", True),
        ("EU-WEST-1_ABC", True),
        ("arn:aws:cognito-idp:eu-west-1:1:userpool/eu-west-1_a", True),
        ("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123/", True),
        ("HTTPS://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123", True),
        ("https://idp.example.com/\u200b", True),
    ],
)
def test_issuer_problem_answers_as_misspelt_issuer_did(issuer: str, refused: bool) -> None:
    assert (issuer_problem(issuer) is not None) is refused


def test_the_moved_routing_names_import_from_route_table() -> None:
    import secauth.route_table as route_table
    import secauth.routing as routing

    for name in ("MAX_AMBIGUOUS_SEGMENTS", "Match", "RouteTable", "stage_readings"):
        assert hasattr(route_table, name)
    assert all(hasattr(routing, name) for name in routing.__all__)


def _jwk_texts() -> list[bytes]:
    point = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = point.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk = json.dumps(KeyPair.generate("ES256", kid="a").public_jwk).encode()
    return [jwk, b'{"keys": [' + jwk + b"]}", json.dumps(pem.decode()).encode()]


def test_key_text_is_refused_in_base64_and_hex() -> None:
    for text in _jwk_texts():
        for spelled in (base64.b64encode(text), base64.urlsafe_b64encode(text).rstrip(b"="),
                        binascii.hexlify(text), b"\n" + base64.b64encode(text) + b"\n"):  # fmt: skip
            assert looks_like_public_key(spelled), spelled[:40]


def test_guard_handler_without_powertools_is_an_import_error() -> None:
    code = (
        "import sys; sys.modules['aws_lambda_powertools'] = None\n"
        "sys.modules['aws_lambda_powertools.middleware_factory'] = None\n"
        "from secauth.integrations.powertools import *\n"
        "try:\n"
        "    from secauth.integrations.powertools import guard_handler\n"
        "except ImportError as exc:\n"
        "    print('refused:', exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "refused:" in done.stdout
    assert "secauth[powertools]" in done.stdout


def test_enforce_limit_raises_a_denial_with_its_headers() -> None:
    allowed = RateLimitResult(True, 5, 4, 60.0, 0.0)
    assert enforce_limit(allowed) is allowed
    with pytest.raises(RateLimited) as err:
        enforce_limit(RateLimitResult(False, 5, 0, 60.0, 7.0))
    assert err.value.headers
    assert err.value.retry_after >= 7
