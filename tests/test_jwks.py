"""The JWKS cache, key sets and static keys, against a real LocalIssuer on loopback.

Every fetch here goes to ``secauth.testing.LocalIssuer`` on 127.0.0.1; fault modes
(slow, 500, garbage, oversized, redirects) are served by that real HTTP server.
Time-dependent rules (ttl, max_age, backoff, cooldown) use an injected fake
monotonic clock, so no test sleeps to wait for expiry.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from secauth import JwksCache, JwtVerifier, KeySet, StaticKeys
from secauth.errors import ConfigurationError, KeysUnavailable, Reason, SecAuthError, UnknownKey
from secauth.testing import KeyPair, LocalIssuer

AUD = "orders-api"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 10_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def idp() -> Iterator[LocalIssuer]:
    with LocalIssuer(algs=("ES256",)) as issuer:
        yield issuer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_cache(idp: LocalIssuer, **options: Any) -> JwksCache:
    return JwksCache(idp.jwks_uri, allow_http=True, **options)


def make_verifier(idp: LocalIssuer, cache: JwksCache, **options: Any) -> JwtVerifier:
    """A verifier on ``cache``; the verified-token cache is off unless asked for."""
    options.setdefault("cache_size", 0)
    return JwtVerifier(issuer=idp.issuer, audience=AUD, jwks=cache, **options)


def assert_keys_unavailable(exc: SecAuthError) -> None:
    assert isinstance(exc, KeysUnavailable)
    assert exc.reason is Reason.KEYS_UNAVAILABLE
    assert exc.status == 503
    assert exc.retryable is True


# --- happy path ----------------------------------------------------------------------------


def test_fetch_once_and_reuse_imported_keys(idp: LocalIssuer) -> None:
    """The first verify fetches the JWKS; later ones use the imported keys without fetching."""
    cache = make_cache(idp)
    verifier = make_verifier(idp, cache)
    assert idp.fetches == 0  # lazy: constructing fetches nothing
    assert verifier.verify(idp.token(sub="alice", aud=AUD))["sub"] == "alice"
    first = cache.keys_for("key-1")
    assert verifier.verify(idp.token(sub="bob", aud=AUD))["sub"] == "bob"
    assert idp.fetches == 1
    assert cache.keys_for("key-1")[0] is first[0]  # the same imported object, not re-imported
    stats = cache.stats()
    assert (stats.fetches, stats.failures, stats.key_count, stats.generation) == (1, 0, 1, 1)


# --- faults ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["slow", "error", "garbage", "oversized"])
def test_fetch_faults_are_keys_unavailable(idp: LocalIssuer, mode: str) -> None:
    """A slow (beyond timeout), failing, non-JSON or oversized response is a retryable 503."""
    idp.mode = mode
    idp.delay = 1.0
    # Only "slow" needs to time out (see test_async_fetch_faults).
    cache = make_cache(idp, timeout=0.5 if mode == "slow" else 5.0)
    verifier = make_verifier(idp, cache)
    with pytest.raises(KeysUnavailable) as exc:
        verifier.verify(idp.token(aud=AUD))
    assert_keys_unavailable(exc.value)
    assert idp.fetches == 1
    assert cache.stats().failures == 1


def test_oversized_limit_is_max_bytes(idp: LocalIssuer) -> None:
    """A JWKS larger than ``max_bytes`` is refused; the same document fits a larger cap."""
    extra = [KeyPair.generate("ES256", kid=f"extra-{i}").public_jwk for i in range(12)]
    idp.jwks_override = {"keys": [idp.key.public_jwk, *extra]}
    assert len(json.dumps(idp.jwks_override)) > 2048
    small = make_verifier(idp, make_cache(idp, max_bytes=2048))
    with pytest.raises(KeysUnavailable) as exc:
        small.verify(idp.token(aud=AUD))
    assert_keys_unavailable(exc.value)
    large = make_verifier(idp, make_cache(idp, max_bytes=8192))
    assert large.verify(idp.token(sub="ok", aud=AUD))["sub"] == "ok"


def test_redirect_to_other_origin_is_refused(idp: LocalIssuer) -> None:
    """A redirect to another origin is not followed, even to a server with valid keys."""
    with LocalIssuer(algs=("ES256",)) as other:
        other.keys = idp.keys  # the other origin would serve exactly the right keys
        idp.mode = "redirect"
        idp.redirect_to = other.jwks_uri
        verifier = make_verifier(idp, make_cache(idp))
        with pytest.raises(KeysUnavailable) as exc:
            verifier.verify(idp.token(aud=AUD))
        assert_keys_unavailable(exc.value)
        assert other.fetches == 0
        assert idp.fetches == 1


def test_redirect_to_same_origin_is_followed(idp: LocalIssuer) -> None:
    """A redirect within the same origin is followed and its JWKS used."""
    idp.mode = "redirect_same_host"
    verifier = make_verifier(idp, make_cache(idp))
    assert verifier.verify(idp.token(sub="alice", aud=AUD))["sub"] == "alice"
    assert idp.fetches == 1  # /jwks.json once; the key set itself came from /moved.json


@pytest.mark.parametrize(
    "document",
    [
        [{"kty": "EC"}],
        "keys",
        [],
        {"nokeys": []},
        {"keys": {"kty": "EC"}},
        {"keys": [{"kty": "EC"}] * 101},
    ],
    ids=["list", "string", "empty-list", "no-keys", "keys-not-array", "too-many-keys"],
)
def test_document_that_is_not_a_jwks(idp: LocalIssuer, document: object) -> None:
    """A JSON document that is not a JWKS object with a ``keys`` array is a 503, not a 401."""
    idp.jwks_override = document
    verifier = make_verifier(idp, make_cache(idp))
    with pytest.raises(KeysUnavailable) as exc:
        verifier.verify(idp.token(aud=AUD))
    assert_keys_unavailable(exc.value)


# --- stale-if-error, backoff ---------------------------------------------------------------


def test_stale_if_error_until_max_age(idp: LocalIssuer, clock: FakeClock) -> None:
    """When refreshing fails, old keys serve until ``max_age``; after that, 503."""
    cache = make_cache(idp, ttl=60, max_age=600, clock=clock)
    verifier = make_verifier(idp, cache)
    verifier.verify(idp.token(aud=AUD))
    idp.mode = "error"
    clock.advance(61)  # past ttl: a refresh is due and fails
    assert verifier.verify(idp.token(sub="stale", aud=AUD))["sub"] == "stale"
    assert idp.fetches == 2
    assert cache.stats().failures == 1
    clock.advance(600)  # past max_age
    with pytest.raises(KeysUnavailable) as exc:
        verifier.verify(idp.token(aud=AUD))
    assert_keys_unavailable(exc.value)


def test_recovers_after_outage(idp: LocalIssuer, clock: FakeClock) -> None:
    """Once the IdP answers again, a new fetch succeeds and the failure streak resets."""
    cache = make_cache(idp, clock=clock)
    verifier = make_verifier(idp, cache)
    idp.mode = "error"
    with pytest.raises(KeysUnavailable):
        verifier.verify(idp.token(aud=AUD))
    idp.mode = "ok"
    clock.advance(1.0)
    assert verifier.verify(idp.token(sub="back", aud=AUD))["sub"] == "back"
    assert idp.fetches == 2


def test_backoff_suppresses_fetches(idp: LocalIssuer, clock: FakeClock) -> None:
    """After a failure, lookups during the backoff do not fetch; the wait doubles up to max_backoff."""
    cache = make_cache(idp, clock=clock, max_backoff=2.0)
    verifier = make_verifier(idp, cache)
    idp.mode = "error"
    token = idp.token(aud=AUD)

    def attempt() -> None:
        with pytest.raises(KeysUnavailable) as exc:
            verifier.verify(token)
        assert_keys_unavailable(exc.value)

    attempt()  # failure 1 at t=0: next try at t=1
    assert idp.fetches == 1
    for _ in range(20):
        attempt()
    clock.advance(0.9)
    attempt()
    assert idp.fetches == 1
    clock.advance(0.1)  # t=1
    attempt()  # failure 2: backoff 2 s, next try at t=3
    assert idp.fetches == 2
    clock.advance(1.9)
    attempt()
    assert idp.fetches == 2
    clock.advance(0.1)  # t=3
    attempt()  # failure 3: backoff min(4, max_backoff=2) -> next try at t=5
    assert idp.fetches == 3
    clock.advance(1.9)
    attempt()
    assert idp.fetches == 3
    clock.advance(0.1)  # t=5
    idp.mode = "ok"
    assert verifier.verify(token)["iss"] == idp.issuer
    assert idp.fetches == 4


# --- rotation, removal, unknown kids ---------------------------------------------------------


def test_rotation_triggers_one_refetch(idp: LocalIssuer, clock: FakeClock) -> None:
    """A token with a newly rotated kid causes one refetch (after the cooldown) and verifies."""
    cache = make_cache(idp, clock=clock, refetch_cooldown=30)
    verifier = make_verifier(idp, cache)
    verifier.verify(idp.token(aud=AUD))
    clock.advance(31)
    new = idp.rotate()
    for i in range(5):
        assert verifier.verify(idp.token(sub=f"u{i}", aud=AUD, key=new))["sub"] == f"u{i}"
    assert idp.fetches == 2
    assert cache.stats().generation == 2


def test_removed_key_is_no_longer_trusted(idp: LocalIssuer, clock: FakeClock) -> None:
    """After the IdP drops a key and the ttl passes, its tokens fail with unknown_key."""
    old = idp.key
    new = idp.rotate()
    cache = make_cache(idp, clock=clock, ttl=60)
    verifier = make_verifier(idp, cache)
    old_token = idp.token(aud=AUD, key=old)
    verifier.verify(old_token)
    idp.remove(old.kid)
    clock.advance(61)
    with pytest.raises(UnknownKey) as exc:
        verifier.verify(old_token)
    assert exc.value.reason is Reason.UNKNOWN_KEY
    assert exc.value.status == 401
    assert idp.fetches == 2
    assert verifier.verify(idp.token(sub="n", aud=AUD, key=new))["sub"] == "n"


def test_removed_key_also_leaves_the_verified_token_cache(
    idp: LocalIssuer, clock: FakeClock
) -> None:
    """A cached token of a removed key is re-verified (and rejected) once the key set changes."""
    old = idp.key
    new = idp.rotate()
    cache = make_cache(idp, clock=clock, ttl=60)
    verifier = make_verifier(idp, cache, cache_size=16)
    old_token = idp.token(aud=AUD, key=old)
    verifier.verify(old_token)
    idp.remove(old.kid)
    clock.advance(61)
    verifier.verify(idp.token(aud=AUD, key=new))  # the refresh: key set generation changes
    assert cache.stats().generation == 2
    with pytest.raises(UnknownKey) as exc:
        verifier.verify(old_token)
    assert exc.value.reason is Reason.UNKNOWN_KEY


def test_random_kid_flood_costs_one_fetch_per_cooldown(idp: LocalIssuer, clock: FakeClock) -> None:
    """1,000 tokens with random kids cause one refetch per cooldown, each rejected as unknown_key."""
    cache = make_cache(idp, clock=clock, refetch_cooldown=30)
    verifier = make_verifier(idp, cache)
    assert cache.hydrate() is True
    clock.advance(31)
    for i in range(1000):
        with pytest.raises(UnknownKey) as exc:
            verifier.verify(idp.token(aud=AUD, headers={"kid": f"random-{i}"}))
        assert exc.value.reason is Reason.UNKNOWN_KEY
        if i % 250 == 0:
            assert verifier.verify(idp.token(sub="real", aud=AUD))["sub"] == "real"
    assert idp.fetches == 2  # the initial fetch + one refetch
    clock.advance(31)
    with pytest.raises(UnknownKey):
        verifier.verify(idp.token(aud=AUD, headers={"kid": "random-again"}))
    assert idp.fetches == 3


def test_unknown_kid_inside_cooldown_does_not_fetch(idp: LocalIssuer, clock: FakeClock) -> None:
    """Right after a fetch, an unknown kid is rejected without asking the IdP again."""
    cache = make_cache(idp, clock=clock, refetch_cooldown=30)
    verifier = make_verifier(idp, cache)
    verifier.verify(idp.token(aud=AUD))
    with pytest.raises(UnknownKey):
        verifier.verify(idp.token(aud=AUD, headers={"kid": "nope"}))
    assert idp.fetches == 1


def test_unknown_kid_while_idp_down_is_keys_unavailable(idp: LocalIssuer, clock: FakeClock) -> None:
    """An unknown kid we could not ask the IdP about is our outage (503), not a bad token."""
    cache = make_cache(idp, clock=clock, refetch_cooldown=30, ttl=600)
    verifier = make_verifier(idp, cache)
    verifier.verify(idp.token(aud=AUD))
    clock.advance(31)  # keys still fresh, cooldown over
    idp.mode = "error"
    new = idp.rotate()
    for _ in range(3):  # the refetch fails, then later lookups back off: all 503
        with pytest.raises(KeysUnavailable) as exc:
            verifier.verify(idp.token(aud=AUD, key=new))
        assert_keys_unavailable(exc.value)
    assert idp.fetches == 2
    # The known key keeps working during the outage.
    assert verifier.verify(idp.token(sub="known", aud=AUD, key=idp.keys[0]))["sub"] == "known"


def test_unknown_kid_with_stale_keys_while_idp_down(idp: LocalIssuer, clock: FakeClock) -> None:
    """Past the ttl, with the IdP down, an unknown kid is a 503 while known kids still verify."""
    cache = make_cache(idp, clock=clock, ttl=60)
    verifier = make_verifier(idp, cache)
    verifier.verify(idp.token(aud=AUD))
    idp.mode = "error"
    clock.advance(61)
    with pytest.raises(KeysUnavailable) as exc:
        verifier.verify(idp.token(aud=AUD, headers={"kid": "rotated-meanwhile"}))
    assert_keys_unavailable(exc.value)
    assert verifier.verify(idp.token(sub="k", aud=AUD))["sub"] == "k"


# --- concurrency -------------------------------------------------------------------------


def test_threads_on_cold_cache_share_one_fetch(idp: LocalIssuer) -> None:
    """50 threads verifying at once on a cold cache cause exactly one fetch and all succeed."""
    idp.mode = "slow"
    idp.delay = 0.2
    cache = make_cache(idp)
    verifier = make_verifier(idp, cache)
    tokens = [idp.token(sub=f"user-{i}", aud=AUD) for i in range(50)]
    barrier = threading.Barrier(len(tokens))
    results: dict[int, object] = {}

    def work(i: int) -> None:
        barrier.wait()
        try:
            results[i] = verifier.verify(tokens[i])["sub"]
        except Exception as exc:  # collected and asserted below
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(tokens))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == {i: f"user-{i}" for i in range(len(tokens))}
    assert idp.fetches == 1
    assert cache.stats().fetches == 1


def test_async_coroutines_on_cold_cache_share_one_fetch(idp: LocalIssuer) -> None:
    """50 concurrent verify_async calls on a cold cache cause exactly one fetch."""
    idp.mode = "slow"
    idp.delay = 0.1
    cache = make_cache(idp)
    verifier = make_verifier(idp, cache)
    tokens = [idp.token(sub=f"user-{i}", aud=AUD) for i in range(50)]

    async def main() -> list[dict[str, Any]]:
        return await asyncio.gather(*(verifier.verify_async(t) for t in tokens))

    results = asyncio.run(main())
    assert [r["sub"] for r in results] == [f"user-{i}" for i in range(50)]
    assert idp.fetches == 1


@pytest.mark.parametrize("mode", ["error", "oversized", "garbage", "slow"])
def test_async_fetch_faults(idp: LocalIssuer, mode: str) -> None:
    """The async fetcher maps a 500, an oversized or garbage body and a timeout to a 503."""
    idp.mode = mode
    idp.delay = 1.0
    # Only "slow" needs to time out; the others get time to be answered on a loaded machine
    # (a short timeout there could expire before the server counted the fetch).
    verifier = make_verifier(idp, make_cache(idp, timeout=0.5 if mode == "slow" else 5.0))
    with pytest.raises(KeysUnavailable) as exc:
        asyncio.run(verifier.verify_async(idp.token(aud=AUD)))
    assert_keys_unavailable(exc.value)
    assert idp.fetches == 1


def test_async_redirect_to_other_origin_is_refused(idp: LocalIssuer) -> None:
    """verify_async does not follow a redirect to another origin."""
    with LocalIssuer(algs=("ES256",)) as other:
        other.keys = idp.keys
        idp.mode = "redirect"
        idp.redirect_to = other.jwks_uri
        verifier = make_verifier(idp, make_cache(idp))
        with pytest.raises(KeysUnavailable) as exc:
            asyncio.run(verifier.verify_async(idp.token(aud=AUD)))
        assert_keys_unavailable(exc.value)
        assert other.fetches == 0


def test_async_redirect_to_same_origin_is_followed(idp: LocalIssuer) -> None:
    """verify_async follows a same-origin redirect."""
    idp.mode = "redirect_same_host"
    verifier = make_verifier(idp, make_cache(idp))
    assert asyncio.run(verifier.verify_async(idp.token(sub="a", aud=AUD)))["sub"] == "a"


def test_async_stale_if_error(idp: LocalIssuer, clock: FakeClock) -> None:
    """The async path also serves stale keys during an outage, then fails past max_age."""
    cache = make_cache(idp, clock=clock, ttl=60, max_age=600)
    verifier = make_verifier(idp, cache)
    asyncio.run(verifier.verify_async(idp.token(aud=AUD)))
    idp.mode = "error"
    clock.advance(61)
    assert asyncio.run(verifier.verify_async(idp.token(sub="s", aud=AUD)))["sub"] == "s"
    assert idp.fetches == 2
    clock.advance(600)
    with pytest.raises(KeysUnavailable):
        asyncio.run(verifier.verify_async(idp.token(aud=AUD)))


# --- URL policy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("http://example.com/jwks", {}, "must use https"),
        ("http://example.com/jwks", {"allow_http": True}, "only to loopback"),
        ("http://10.0.0.1/jwks", {"allow_http": True}, "only to loopback"),
        ("https://user:pass@idp.example.com/jwks", {}, "credentials"),
        ("https://user@idp.example.com/jwks", {}, "credentials"),
        ("ftp://idp.example.com/jwks", {}, "must use https"),
        ("https:///jwks", {}, "no host"),
        ("file:///etc/passwd", {}, "no host"),
    ],
)
def test_url_policy(url: str, options: dict[str, Any], message: str) -> None:
    """Only https URLs (plain http to loopback when allowed) without credentials are accepted."""
    with pytest.raises(ConfigurationError) as exc:
        JwksCache(url, **options)
    assert exc.value.reason is Reason.CONFIGURATION_ERROR
    assert message in str(exc.value)


def test_https_url_and_loopback_http_are_accepted() -> None:
    """An https URL, and plain http to loopback with allow_http, construct without fetching."""
    assert JwksCache("https://idp.example.com/jwks.json").url == "https://idp.example.com/jwks.json"
    assert JwksCache("http://localhost:1/jwks", allow_http=True).stats().fetches == 0
    assert JwksCache("http://127.0.0.1:1/jwks", allow_http=True).stats().fetches == 0


@pytest.mark.parametrize(
    "options",
    [
        {"ttl": 0},
        {"ttl": 100, "max_age": 50},
        {"refetch_cooldown": -1},
        {"max_backoff": -1},
        {"timeout": 0},
        {"timeout": 31},
        {"max_bytes": 10},
    ],
)
def test_cache_options_are_checked(options: dict[str, Any]) -> None:
    """Nonsensical cache or fetch options fail at construction."""
    with pytest.raises(ConfigurationError):
        JwksCache("https://idp.example.com/jwks.json", **options)


# --- Cache-Control -----------------------------------------------------------------------


def test_cache_control_small_max_age_clamps_to_min_ttl(idp: LocalIssuer, clock: FakeClock) -> None:
    """``max-age=5`` is raised to ``min_ttl``: no refetch before min_ttl, one right after."""
    idp.cache_control = "max-age=5"
    cache = make_cache(idp, clock=clock, respect_cache_control=True, min_ttl=60)
    verifier = make_verifier(idp, cache)
    verifier.verify(idp.token(aud=AUD))
    clock.advance(59)
    verifier.verify(idp.token(aud=AUD))
    assert idp.fetches == 1
    clock.advance(2)
    verifier.verify(idp.token(aud=AUD))
    assert idp.fetches == 2


def test_cache_control_large_max_age_clamps_to_max_age(idp: LocalIssuer, clock: FakeClock) -> None:
    """A huge max-age is capped at ``max_age`` (and it replaces ``ttl`` when respected)."""
    idp.cache_control = "public, max-age=86400"
    cache = make_cache(idp, clock=clock, respect_cache_control=True, ttl=100, max_age=1000)
    verifier = make_verifier(idp, cache)
    verifier.verify(idp.token(aud=AUD))
    clock.advance(999)  # beyond ttl=100, within the clamped 1000
    verifier.verify(idp.token(aud=AUD))
    assert idp.fetches == 1
    clock.advance(2)
    verifier.verify(idp.token(aud=AUD))
    assert idp.fetches == 2


def test_cache_control_ignored_unless_asked(idp: LocalIssuer, clock: FakeClock) -> None:
    """Without respect_cache_control the header does not change the ttl."""
    idp.cache_control = "max-age=86400"
    cache = make_cache(idp, clock=clock, ttl=100)
    verifier = make_verifier(idp, cache)
    verifier.verify(idp.token(aud=AUD))
    clock.advance(101)
    verifier.verify(idp.token(aud=AUD))
    assert idp.fetches == 2


# --- hydrate -----------------------------------------------------------------------------


def test_hydrate_success_then_no_fetch_on_verify(idp: LocalIssuer) -> None:
    """hydrate() returns True and the first verification needs no fetch."""
    cache = make_cache(idp)
    assert cache.hydrate() is True
    assert idp.fetches == 1
    make_verifier(idp, cache).verify(idp.token(aud=AUD))
    assert idp.fetches == 1


def test_hydrate_failure(idp: LocalIssuer) -> None:
    """hydrate() returns False on failure and raises KeysUnavailable with strict=True."""
    idp.mode = "error"
    cache = make_cache(idp)
    assert cache.hydrate() is False
    with pytest.raises(KeysUnavailable) as exc:
        cache.hydrate(strict=True)
    assert_keys_unavailable(exc.value)
    verifier = make_verifier(idp, make_cache(idp))
    assert verifier.hydrate() is False
    idp.mode = "ok"
    assert verifier.hydrate(strict=True) is True


# --- OIDC discovery ------------------------------------------------------------------------


def test_from_discovery(idp: LocalIssuer) -> None:
    """from_discovery finds the JWKS through the discovery document and verifies tokens."""
    verifier = JwtVerifier.from_discovery(idp.issuer, audience=AUD, allow_http=True)
    assert idp.discovery_fetches == 0
    assert verifier.verify(idp.token(sub="alice", aud=AUD))["sub"] == "alice"
    assert verifier.verify(idp.token(sub="bob", aud=AUD))["sub"] == "bob"
    assert (idp.discovery_fetches, idp.fetches) == (1, 1)


def test_from_discovery_with_issuer_path() -> None:
    """An issuer with a path finds ``{issuer}/.well-known/openid-configuration``."""
    with LocalIssuer(algs=("EdDSA",), issuer_path="/tenants/acme") as idp:
        verifier = JwtVerifier.from_discovery(idp.issuer, audience=AUD, allow_http=True)
        assert verifier.verify(idp.token(sub="a", aud=AUD))["sub"] == "a"
        assert idp.discovery_fetches == 1


@pytest.mark.parametrize("published", ["https://evil/", "{issuer}/"])
def test_discovery_issuer_mismatch_fetches_no_jwks(idp: LocalIssuer, published: str) -> None:
    """A discovery document naming another issuer (even by a trailing slash) is refused before
    any JWKS fetch."""
    idp.discovery_issuer = published.format(issuer=idp.issuer)
    verifier = JwtVerifier.from_discovery(idp.issuer, audience=AUD, allow_http=True)
    with pytest.raises(KeysUnavailable) as exc:
        verifier.verify(idp.token(aud=AUD))
    assert_keys_unavailable(exc.value)
    assert idp.discovery_fetches == 1
    assert idp.fetches == 0
    with pytest.raises(KeysUnavailable):
        asyncio.run(verifier.verify_async(idp.token(aud=AUD)))
    assert idp.fetches == 0


def test_discovery_async(idp: LocalIssuer) -> None:
    """Discovery also works on the async path."""
    verifier = JwtVerifier.from_discovery(idp.issuer, audience=AUD, allow_http=True)
    assert asyncio.run(verifier.verify_async(idp.token(sub="a", aud=AUD)))["sub"] == "a"
    assert (idp.discovery_fetches, idp.fetches) == (1, 1)


def test_user_agent_and_identity_encoding_are_sent(idp: LocalIssuer) -> None:
    """Fetches send secauth's User-Agent (or the configured one) and ask for no compression."""
    make_cache(idp).hydrate()
    assert idp.last_headers["User-Agent"].startswith("secauth")
    assert idp.last_headers["Accept-Encoding"] == "identity"
    verifier = JwtVerifier.from_discovery(
        idp.issuer, audience=AUD, allow_http=True, jwks_options={"user_agent": "orders/1.0"}
    )
    verifier.hydrate(strict=True)
    assert idp.last_headers["User-Agent"] == "orders/1.0"
    asyncio.run(make_verifier(idp, make_cache(idp)).verify_async(idp.token(aud=AUD)))
    assert idp.last_headers["User-Agent"].startswith("secauth")
    assert idp.last_headers["Accept-Encoding"] == "identity"


# --- static keys -----------------------------------------------------------------------------


@pytest.fixture
def pair() -> KeyPair:
    return KeyPair.generate("ES256", kid="static-1")


def _static_verifier(keys: StaticKeys) -> JwtVerifier:
    return JwtVerifier(issuer="https://idp/", audience=AUD, jwks=keys)


def _claims() -> dict[str, Any]:
    return {"iss": "https://idp/", "aud": AUD, "exp": 4_000_000_000, "sub": "s"}


def test_static_keys_from_file(tmp_path: Path, pair: KeyPair) -> None:
    """A JWKS file loads and verifies tokens with no network at all."""
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [pair.public_jwk]}), encoding="utf-8")
    keys = StaticKeys.from_file(path)
    assert _static_verifier(keys).verify(pair.sign(_claims()))["sub"] == "s"
    assert keys.hydrate() is True


def test_static_keys_from_missing_file(tmp_path: Path) -> None:
    """A missing file names the path in the error."""
    path = tmp_path / "missing.json"
    with pytest.raises(ConfigurationError) as exc:
        StaticKeys.from_file(path)
    assert "cannot read JWKS file" in str(exc.value)
    assert str(path) in str(exc.value)


def test_static_keys_from_file_with_bad_json(tmp_path: Path) -> None:
    """A file that is not JSON names the path in the error."""
    path = tmp_path / "jwks.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigurationError) as exc:
        StaticKeys.from_file(path)
    assert str(path) in str(exc.value)


def test_static_keys_from_file_not_a_jwks(tmp_path: Path) -> None:
    """A JSON file that is not a JWKS says what is wrong with it."""
    path = tmp_path / "jwks.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(ConfigurationError) as exc:
        StaticKeys.from_file(path)
    assert "JSON object" in str(exc.value)


def test_static_keys_from_env(monkeypatch: pytest.MonkeyPatch, pair: KeyPair) -> None:
    """SECAUTH_JWKS (or a named variable) holding a JWKS loads and verifies."""
    monkeypatch.setenv("SECAUTH_JWKS", json.dumps({"keys": [pair.public_jwk]}))
    assert _static_verifier(StaticKeys.from_env()).verify(pair.sign(_claims()))["sub"] == "s"
    monkeypatch.setenv("MY_KEYS", json.dumps({"keys": [pair.public_jwk]}))
    assert len(StaticKeys.from_env("MY_KEYS").key_set) == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [(None, "not set or empty"), ("", "not set or empty"), ("{oops", "is not JSON")],
)
def test_static_keys_from_bad_env(
    monkeypatch: pytest.MonkeyPatch, value: str | None, message: str
) -> None:
    """An unset, empty or non-JSON variable is a ConfigurationError naming the variable."""
    if value is None:
        monkeypatch.delenv("SECAUTH_TEST_JWKS", raising=False)
    else:
        monkeypatch.setenv("SECAUTH_TEST_JWKS", value)
    with pytest.raises(ConfigurationError) as exc:
        StaticKeys.from_env("SECAUTH_TEST_JWKS")
    assert "SECAUTH_TEST_JWKS" in str(exc.value)
    assert message in str(exc.value)


def _unusable_keys() -> dict[str, dict[str, Any]]:
    """JWKs that must never verify anything, keyed by a word their skip reason contains."""
    enc = dict(KeyPair.generate("ES256", kid="enc").public_jwk, use="enc")
    weak = KeyPair.generate("RS256", kid="weak", rsa_bits=1024).public_jwk
    private = dict(KeyPair.generate("ES256", kid="private").public_jwk, d="AAAA")
    unknown = {"kty": "XYZ", "kid": "unknown", "x": "AAAA"}
    off_curve = dict(KeyPair.generate("ES256", kid="off-curve").public_jwk)
    off_curve["y"] = off_curve["x"]  # (x, x) is not a point on P-256 (overwhelmingly likely)
    wrong_alg = dict(KeyPair.generate("ES256", kid="wrong-alg").public_jwk, alg="RS256")
    wrong_curve_alg = dict(KeyPair.generate("ES256", kid="wrong-curve").public_jwk, alg="ES384")
    no_verify = dict(KeyPair.generate("ES256", kid="no-verify").public_jwk, key_ops=["sign"])
    return {
        "'enc'": enc,
        "bits": weak,
        "private": private,
        "unsupported key type": unknown,
        "not on": off_curve,
        "does not fit": wrong_alg,
        "'ES384' does not fit": wrong_curve_alg,
        "key_ops": no_verify,
    }


def test_unusable_keys_are_skipped_and_listed(pair: KeyPair) -> None:
    """Unusable JWKs are left out of the set and each appears in ``skipped`` with its reason."""
    bad = _unusable_keys()
    key_set = KeySet.from_jwks({"keys": [pair.public_jwk, *bad.values()]})
    assert [k.kid for k in key_set.keys] == ["static-1"]
    assert len(key_set.skipped) == len(bad)
    for (reason, jwk), skipped in zip(bad.items(), key_set.skipped, strict=True):
        assert repr(jwk["kid"]) in skipped
        assert reason in skipped, skipped
    for jwk in bad.values():
        assert key_set.keys_for(jwk["kid"]) == ()


def test_unusable_keys_from_the_network_are_skipped(idp: LocalIssuer) -> None:
    """A fetched JWKS with unusable keys still serves its good keys; the bad kids are unknown."""
    bad = _unusable_keys()
    idp.jwks_override = {"keys": [*bad.values(), idp.key.public_jwk]}
    cache = make_cache(idp)
    verifier = make_verifier(idp, cache)
    assert verifier.verify(idp.token(sub="good", aud=AUD))["sub"] == "good"
    assert cache.stats().key_count == 1
    with pytest.raises(UnknownKey):
        cache.keys_for("weak")


def test_static_set_of_only_unusable_keys_is_a_configuration_error() -> None:
    """A static JWKS without one usable key fails at construction."""
    with pytest.raises(ConfigurationError) as exc:
        StaticKeys({"keys": list(_unusable_keys().values())})
    assert "no usable signing key" in str(exc.value)
    with pytest.raises(ConfigurationError):
        JwtVerifier(issuer="https://idp/", audience=AUD, jwks={"keys": []})


def test_static_keys_unknown_kid_and_missing_kid(pair: KeyPair) -> None:
    """Static keys: an unknown kid is unknown_key; no kid is allowed only with a single key."""
    verifier = _static_verifier(StaticKeys({"keys": [pair.public_jwk]}))
    other = KeyPair.generate("ES256", kid="other")
    with pytest.raises(UnknownKey) as exc:
        verifier.verify(other.sign(_claims()))
    assert exc.value.reason is Reason.UNKNOWN_KEY
    assert verifier.verify(pair.sign(_claims(), headers={"kid": None}))["sub"] == "s"
    two = _static_verifier(StaticKeys({"keys": [pair.public_jwk, other.public_jwk]}))
    with pytest.raises(UnknownKey):
        two.verify(pair.sign(_claims(), headers={"kid": None}))


def test_async_unknown_kid_while_idp_down_is_keys_unavailable(
    idp: LocalIssuer, clock: FakeClock
) -> None:
    """verify_async: an unknown kid during an outage is a 503, on the failing refetch and after."""
    cache = make_cache(idp, clock=clock, refetch_cooldown=30)
    verifier = make_verifier(idp, cache)
    asyncio.run(verifier.verify_async(idp.token(aud=AUD)))
    clock.advance(31)
    idp.mode = "error"
    new = idp.rotate()
    for _ in range(3):
        with pytest.raises(KeysUnavailable) as exc:
            asyncio.run(verifier.verify_async(idp.token(aud=AUD, key=new)))
        assert_keys_unavailable(exc.value)
    assert idp.fetches == 2
