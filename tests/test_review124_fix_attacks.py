"""Review 124 (adversarial): attacks on the fixes landed since e5fdc03 (at 6fbd138).

Resolved (the tests assert them): both lows. ``JwksCache`` keeps the ``jwks_uri`` of the last
good discovery document and, when the document cannot be read or is refused (an outage,
``wrong_issuer``, ``refused_url``), fetches that one and logs the document's cause: a discovery
outage no longer stops a JWKS that is up, and a hostile ``jwks_uri`` is never fetched (the tests
above were updated from "the refresh fails" to "the known JWKS is fetched instead").
``hmac_secrets`` reads each decoding of a secret as key text too: a JWK or JWKS in base64 or hex
is refused.

Attacked, with differential runs of the same inputs against an e5fdc03 worktree:

(a) guard_routes._has_route / _beyond_catch_all answering True for a path too ambiguous to
    read (route_table.MAX_AMBIGUOUS_SEGMENTS): every branch of paths_of (REST and HTTP API
    custom domains with a base-path mapping, tables with and without the prefix, the API
    root behind a mapping, HTTP API named stages and stage_readings, integration_per_route,
    app_path), route limits on too-ambiguous spellings, 404 vs 405, ALB and Function URL
    events, and the Authorizer's $default target read two ways.
(b) JwksCache reading the discovery document on every fetch: a jwks_uri flipped to plain
    http off loopback or to a URL with credentials, an issuer that changes, discovery
    failing while the JWKS is up, fetch counts of an unknown-kid flood, the async twin,
    hydrate() and the cause reported.
(c) hmac_secrets refusing PEM and OpenSSH text inside base64/hex decodings: line-wrapped,
    CRLF and base64url spellings, and false refusals of token_urlsafe, token_hex and
    openssl-rand-style secrets.

What held: a too-ambiguous spelling is always among the paths judged and refused (never
admitted where every reading must be refused), whatever the branch; a route's rate limit
cannot be dodged by an ambiguous spelling (at the cap it is counted, over it the request is
refused before it reaches the handler); over the cap the answer is a 404 (no 405 listing
verbs); the Authorizer denies a too-ambiguous $default path as sent on a named stage. A
flipped jwks_uri is checked as the configured one (https only, http for loopback only with
allow_http, no credentials), a changed discovery issuer trusts no new key, stale-if-error
keeps the last good set until max_age with backoff, the cause names document=discovery,
and an unknown-kid flood costs one discovery and one JWKS fetch per cooldown, sync and
async. Line-wrapped, CRLF and base64url spellings of PEM/OpenSSH text are refused;
realistic random secrets are never refused.

Findings:

* LOW (availability regression vs e5fdc03): jwks.JwksCache._fetch_sync/_fetch_async need
  the discovery document on every fetch. When the discovery endpoint fails (or names a
  different issuer once, or a refused URL) while the JWKS it named is still up, no refresh
  succeeds: after max_age every token fails keys_unavailable, where e5fdc03 kept
  refreshing from the jwks_uri it had read. Suggested fix: on a discovery failure, fetch
  the last jwks_uri a good discovery document named (and report the discovery cause).
* LOW: hmac_secrets.looks_like_public_key does not read JSON in a secret's base64
  decodings: base64 of a public JWK or JWKS (a common one-line env-var spelling, as for
  PEM) passes as an HMAC secret. Suggested fix: in _decodings' candidates, also run
  _is_key_document on a candidate that parses as JSON (loads_strict).

Not reported (unrealistic): base64 of an OpenSSH key's bare blob (without its type prefix),
UTF-16 or gzip spellings.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from discovery_server import DiscoveryServer
from guard_events import VERIFIER, token
from hand_clock import Clock

from secauth import Authorizer, Guard, JwtVerifier, Routes, authenticated, public, roles
from secauth.errors import (
    ConfigurationError,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    SecAuthError,
    UnknownKey,
)
from secauth.hmac_secrets import looks_like_public_key, secret_bytes
from secauth.jwks import JwksCache
from secauth.ratelimit import RateLimiter
from secauth.route_table import MAX_AMBIGUOUS_SEGMENTS
from secauth.testing import KeyPair, LocalIssuer
from secauth.testing_events import (
    alb,
    function_url,
    http_authorizer_v2,
    http_proxy,
    on_custom_domain,
    rest_proxy,
)

DEEP = ["admin", "a", "b", "c", "d", "e", "f"]  # seven literals: one over the cap
OVER = MAX_AMBIGUOUS_SEGMENTS + 1
ADMIN_ROUTE = "GET /" + "/".join(DEEP)


def _spelled(segments: list[str], upper: int, prefix: str = "") -> str:
    """The path with its first ``upper`` segments in upper case (ambiguous spellings)."""
    return prefix + "/" + "/".join(s.upper() if i < upper else s for i, s in enumerate(segments))


def _guard(routes: Routes, **options: Any) -> Guard:
    return Guard(trust_authorizer=True, routes=routes, decision_log=None, **options)


def _admitted(guard: Guard, event: dict[str, Any], app_path: str | None = None) -> bool:
    try:
        guard.admit(event, {}, app_path=app_path)
    except SecAuthError:
        return False
    return True


def _rest_catch_all(path: str) -> dict[str, Any]:
    return rest_proxy("GET", path, resource="/{proxy+}", path_params={"proxy": path[1:]})


def _http_catch_all(path: str, **options: Any) -> dict[str, Any]:
    return http_proxy(
        "GET", path, route_key="GET /{proxy+}", path_params={"proxy": path[1:]}, **options
    )


# --- (a) paths_of: every branch with a too-ambiguous spelling -----------------------------------


def test_assumption_the_cap_is_six() -> None:
    assert MAX_AMBIGUOUS_SEGMENTS == 6


@pytest.mark.parametrize("build", [_rest_catch_all, _http_catch_all])
@pytest.mark.parametrize("prefixed_table", [False, True])
def test_base_path_mapping_over_the_cap_is_refused_either_table(
    build: Any, prefixed_table: bool
) -> None:
    """Behind "v1": the admin route written with or without the prefix, a public catch-all
    written the other way; the spelling over the cap is refused either way (REST and HTTP)."""
    admin = "GET /v1/" + "/".join(DEEP) if prefixed_table else ADMIN_ROUTE
    catch_all = "GET /{proxy+}" if prefixed_table else "GET /v1/{proxy+}"
    guard = _guard(Routes({admin: roles("admin"), catch_all: public()}))
    for upper in (MAX_AMBIGUOUS_SEGMENTS, OVER):
        event = on_custom_domain(build(_spelled(DEEP, upper)), "api.example.com", base_path="v1")
        assert not _admitted(guard, event), upper
    # Control: an ordinary path behind the mapping is admitted (no false refusal).
    plain = on_custom_domain(build("/shop/items"), "api.example.com", base_path="v1")
    assert _admitted(guard, plain)


def test_base_path_mapping_both_tables_at_once_over_the_cap() -> None:
    """The admin route under both spellings, both catch-alls public: over the cap, refused."""
    routes = Routes(
        {
            ADMIN_ROUTE: roles("admin"),
            "GET /v1/" + "/".join(DEEP): roles("admin"),
            "GET /{proxy+}": public(),
            "GET /v1/{proxy+}": public(),
        }
    )
    guard = _guard(routes)
    event = on_custom_domain(
        _rest_catch_all(_spelled(DEEP, OVER)), "api.example.com", base_path="v1"
    )
    assert not _admitted(guard, event)


def test_api_root_behind_a_mapping_is_still_admitted() -> None:
    """routed == "/": the "/v1" and "/v1/" spellings of the API root are read, not refused
    as too ambiguous (no false refusal from the new branches)."""
    routes = Routes({"GET /": public(), "GET /{proxy+}": roles("admin")})
    guard = _guard(routes)
    for sent in ("/v1", "/v1/"):
        event = on_custom_domain(rest_proxy("GET", "/", resource="/"), "api.example.com",
                                 base_path="v1")  # fmt: skip
        event["path"] = event["requestContext"]["path"] = sent
        assert _admitted(guard, event), sent


def test_http_named_stage_as_sent_reading_over_the_cap_is_refused() -> None:
    """stage_readings: the table has a first segment "prod", so "/prod/ADMIN/A/.../F" is also
    read as sent; its stripped reading is unambiguous and public, the as-sent one is over
    the cap: it is judged and refused."""
    routes = Routes({"GET /prod/" + "/".join(DEEP): roles("admin"), "GET /{proxy+}": public()})
    guard = _guard(routes)
    stripped = _spelled(DEEP, OVER)
    event = _http_catch_all(stripped, stage="prod")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/prod" + stripped
    assert routes.table.readings(tuple(("prod" + stripped).split("/"))) is None
    assert not _admitted(guard, event)


def test_integration_per_route_over_the_cap_is_refused() -> None:
    routes = Routes(
        {ADMIN_ROUTE: roles("admin"), "GET /{proxy+}": public()}, integration_per_route=True
    )
    guard = _guard(routes)
    for build in (_rest_catch_all, _http_catch_all):
        assert not _admitted(guard, build(_spelled(DEEP, OVER)))
        assert _admitted(guard, build("/shop/items"))


def test_app_path_over_the_cap_is_refused() -> None:
    """Powertools strip_prefixes: the application routes on ``app_path``; a too-ambiguous one
    is judged, and refused, though the event's own path is public."""
    guard = _guard(Routes({ADMIN_ROUTE: roles("admin"), "GET /{proxy+}": public()}))
    event = _rest_catch_all("/api" + _spelled(DEEP, OVER))
    assert _admitted(guard, event)  # the event's path alone: the public catch-all
    assert not _admitted(guard, event, app_path=_spelled(DEEP, OVER))


@pytest.mark.parametrize("build", [alb, function_url])
def test_alb_and_function_url_over_the_cap_are_refused(build: Any) -> None:
    guard = _guard(Routes({ADMIN_ROUTE: roles("admin"), "GET /{proxy+}": public()}))
    assert not _admitted(guard, build("GET", _spelled(DEEP, OVER)))
    assert _admitted(guard, build("GET", "/shop/items"))


def test_over_the_cap_is_a_404_never_a_405_listing_verbs() -> None:
    guard = Guard(VERIFIER, routes=Routes({"POST /" + "/".join(DEEP): public()}), decision_log=None)
    bearer = token("u")
    over, at = _spelled(DEEP, OVER), _spelled(DEEP, 0)
    with pytest.raises(NotFound):
        guard.admit(rest_proxy("GET", over, resource="/{proxy+}", token=bearer,
                               path_params={"proxy": over[1:]}), {})  # fmt: skip
    with pytest.raises(MethodNotAllowed):  # control: a readable spelling lists the verb
        guard.admit(rest_proxy("GET", at, resource="/{proxy+}", token=bearer,
                               path_params={"proxy": at[1:]}), {})  # fmt: skip


def test_a_route_limit_is_not_dodged_by_an_ambiguous_spelling() -> None:
    """One request a minute on a deep public route: after the one allowed, no spelling is
    admitted, whether at the cap (counted against the route's limit) or over it (refused,
    since it reads nothing), behind a mapping or not."""
    route = "POST /" + "/".join(DEEP)
    guard = _guard(
        Routes({route: public(), "POST /{proxy+}": public()}),
        route_limits={route: RateLimiter.per_ip("1/minute")},
    )

    def event(path: str, mapped: bool) -> dict[str, Any]:
        built = rest_proxy("POST", path, resource="/{proxy+}", path_params={"proxy": path[1:]})
        return on_custom_domain(built, "api.example.com", base_path="v1") if mapped else built

    assert _admitted(guard, event(_spelled(DEEP, 0), mapped=False))
    for upper in (0, 1, MAX_AMBIGUOUS_SEGMENTS):
        for mapped in (False, True):
            with pytest.raises(RateLimited):
                guard.admit(event(_spelled(DEEP, upper), mapped), {})
    for mapped in (False, True):
        assert not _admitted(guard, event(_spelled(DEEP, OVER), mapped))
        assert guard.limits_for(_request(event(_spelled(DEEP, OVER), mapped))) == ()


def _request(event: dict[str, Any]) -> Any:
    from secauth.events import Request

    return Request.from_event(event)


def test_authorizer_denies_a_too_ambiguous_default_route_path_on_a_named_stage() -> None:
    routes = Routes({"GET /prod/" + "/".join(DEEP): roles("admin"), "GET /{proxy+}": public()},
                    default=public())  # fmt: skip
    authorizer = Authorizer(VERIFIER, routes=routes, cache_ttl=0)

    def answer(stripped: str) -> dict[str, Any]:
        event = http_authorizer_v2("GET", stripped, stage="prod", token=token("u"))
        event["rawPath"] = event["requestContext"]["http"]["path"] = "/prod" + stripped
        # The $default route: its ARN names no path, the rawPath (stage stripped) decides.
        event["routeArn"] = event["routeArn"].split("/prod/")[0] + "/prod/$default"
        return authorizer.handler(event, None)

    assert not _policy_denies(answer("/shop/items"))  # control: a public path is allowed
    assert _policy_denies(answer(_spelled(DEEP, OVER)))


def _policy_denies(answer: dict[str, Any]) -> bool:
    if "isAuthorized" in answer:
        return answer["isAuthorized"] is False
    statements = answer.get("policyDocument", {}).get("Statement", [])
    return all(s["Effect"] == "Deny" for s in statements)


# --- (b) JwksCache with discovery read on every fetch -------------------------------------------

AUD = "api"
T0 = 1000.0
EXP = 10_000_000


@pytest.fixture
def homes() -> Iterator[tuple[DiscoveryServer, LocalIssuer, LocalIssuer]]:
    with LocalIssuer(algs=("ES256",)) as home, LocalIssuer(algs=("ES256",)) as other:
        discovery = DiscoveryServer()
        discovery.jwks_uri = home.jwks_uri
        try:
            yield discovery, home, other
        finally:
            discovery.stop()


def _cache(discovery: DiscoveryServer, clock: Clock, **options: Any) -> JwksCache:
    settings: dict[str, Any] = {"ttl": 600, "max_age": 3600, "refetch_cooldown": 30,
                                "max_backoff": 60, **options}  # fmt: skip
    return JwksCache.from_discovery(discovery.issuer, allow_http=True, clock=clock, **settings)


def _verifier(discovery: DiscoveryServer, cache: JwksCache, clock: Clock) -> JwtVerifier:
    return JwtVerifier(issuer=discovery.issuer, audience=AUD, jwks=cache, clock=clock)


def _signed(discovery: DiscoveryServer, key: KeyPair, sub: str = "u") -> str:
    return key.sign({"iss": discovery.issuer, "aud": AUD, "iat": T0, "exp": EXP, "sub": sub})


@pytest.mark.parametrize(
    "hostile",
    [
        "http://idp-mirror.example.net/jwks.json",  # plain http off loopback
        "https://user:pw@idp.example.net/jwks.json",  # credentials
        "ftp://127.0.0.1/jwks.json",
        "/jwks.json",  # relative
    ],
)
def test_a_flipped_jwks_uri_is_checked_like_the_configured_one(
    homes: tuple[DiscoveryServer, LocalIssuer, LocalIssuer],
    hostile: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refused jwks_uri is never fetched: the refresh goes to the jwks_uri the last good
    discovery document named, and the refusal is logged (refused_url, document discovery,
    no credentials shown)."""
    discovery, home, _ = homes
    clock = Clock(T0)
    cache = _cache(discovery, clock)
    verifier = _verifier(discovery, cache, clock)
    good = _signed(discovery, home.key)
    assert verifier.verify(good)["sub"] == "u"
    fetched = home.fetches
    discovery.jwks_uri = hostile
    clock.now = T0 + 601
    with caplog.at_level("WARNING", logger="secauth.jwks"):
        assert cache.hydrate()
    assert home.fetches == fetched + 1  # the known JWKS, not the hostile one
    logged = caplog.text
    assert "refused_url" in logged
    assert "document=discovery" in logged
    assert "pw" not in logged
    assert cache.last_failure is None
    clock.now = T0 + 3601  # past max_age: still served, refreshed from the known JWKS
    assert verifier.verify(good)["sub"] == "u"


def test_a_changed_discovery_issuer_trusts_no_new_key(
    homes: tuple[DiscoveryServer, LocalIssuer, LocalIssuer],
) -> None:
    discovery, home, other = homes
    clock = Clock(T0)
    cache = _cache(discovery, clock)
    verifier = _verifier(discovery, cache, clock)
    assert verifier.verify(_signed(discovery, home.key))
    discovery.issuer_named = "https://evil.example/"
    discovery.jwks_uri = other.jwks_uri  # the attacker's keys
    clock.now = T0 + 601
    assert cache.hydrate()  # from the jwks_uri the last good document named
    with pytest.raises(SecAuthError):
        verifier.verify(_signed(discovery, other.key, "mallory"))
    assert other.fetches == 0


def test_discovery_failure_backs_off_and_serves_stale_until_max_age(
    homes: tuple[DiscoveryServer, LocalIssuer, LocalIssuer],
) -> None:
    discovery, home, _ = homes
    clock = Clock(T0)
    cache = _cache(discovery, clock)
    verifier = _verifier(discovery, cache, clock)
    good = _signed(discovery, home.key)
    verifier.verify(good)
    discovery.status = 500
    clock.now = T0 + 601
    before = (discovery.fetches, home.fetches)
    for _ in range(20):
        assert verifier.verify(good)
    # one refresh, from the jwks_uri the last good document named: no hammering
    assert (discovery.fetches - before[0], home.fetches - before[1]) == (1, 1)
    assert cache.last_failure is None


def test_an_unknown_kid_flood_costs_one_discovery_and_one_jwks_fetch_per_cooldown(
    homes: tuple[DiscoveryServer, LocalIssuer, LocalIssuer],
) -> None:
    discovery, home, _ = homes
    clock = Clock(T0)
    cache = _cache(discovery, clock)
    verifier = _verifier(discovery, cache, clock)
    verifier.verify(_signed(discovery, home.key))
    before = (discovery.fetches, home.fetches)
    clock.now = T0 + 31
    for n in range(50):
        stranger = KeyPair.generate("ES256", kid=f"random-{n}")
        with pytest.raises(UnknownKey):
            verifier.verify(_signed(discovery, stranger))
    assert (discovery.fetches - before[0], home.fetches - before[1]) == (1, 1)


def test_the_async_twin_follows_the_same_rules(
    homes: tuple[DiscoveryServer, LocalIssuer, LocalIssuer],
) -> None:
    discovery, home, other = homes
    clock = Clock(T0)
    cache = _cache(discovery, clock)

    async def run() -> None:
        assert await cache.keys_for_async(home.key.kid)
        # moved: followed at the refresh
        discovery.jwks_uri = other.jwks_uri
        clock.now = T0 + 601
        assert await cache.keys_for_async(other.key.kid)
        with pytest.raises(UnknownKey):
            await cache.keys_for_async("nope")
        # flipped to plain http off loopback: refused, the known jwks_uri fetched instead
        fetched = other.fetches
        discovery.jwks_uri = "http://idp-mirror.example.net/jwks.json"
        clock.now = T0 + 1202
        assert await cache.keys_for_async(other.key.kid)
        assert other.fetches == fetched + 1
        assert cache.last_failure is None

    asyncio.run(run())


# fmt: off
def test_a_discovery_outage_does_not_take_down_a_jwks_that_is_up(
    homes: tuple[DiscoveryServer, LocalIssuer, LocalIssuer],
) -> None:
    # e5fdc03 kept the jwks_uri it had read and refreshed from it; now every refresh needs
    # the discovery document, so an outage of that one endpoint (the JWKS still answering)
    # longer than max_age refuses every token.
    discovery, home, _ = homes
    clock = Clock(T0)
    cache = _cache(discovery, clock)
    verifier = _verifier(discovery, cache, clock)
    good = _signed(discovery, home.key)
    assert verifier.verify(good)
    discovery.status = 500
    for step in range(1, 12):
        clock.now = T0 + step * 601
        cache.hydrate()
    assert clock.now - T0 > 3600
    assert verifier.verify(good)["sub"] == "u"
# fmt: on


# --- (c) hmac_secrets --------------------------------------------------------------------------


def _ec_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _openssh() -> bytes:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)


def _wrapped(text: bytes, width: int, newline: bytes) -> bytes:
    return newline.join(text[i : i + width] for i in range(0, len(text), width))


def test_encoded_key_text_is_refused_in_its_realistic_spellings() -> None:
    pem, ssh = _ec_pem(), _openssh() + b" ops@laptop\n"
    crlf = pem.replace(b"\n", b"\r\n")
    for text in (pem, crlf, ssh, b"\n\n" + pem):
        b64 = base64.b64encode(text)
        for secret in (
            b64,
            _wrapped(b64, 76, b"\n"),  # base64(1) / openssl base64
            _wrapped(b64, 64, b"\r\n") + b"\r\n",
            base64.urlsafe_b64encode(text).rstrip(b"="),
            text.hex().encode(),
            text.hex().upper().encode(),
        ):
            with pytest.raises(ConfigurationError):
                secret_bytes(secret)
            with pytest.raises(ConfigurationError):
                secret_bytes(secret.decode())


def test_realistic_random_secrets_are_never_refused() -> None:
    for _ in range(3000):
        for secret in (
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(64),
            secrets.token_hex(32),
            base64.b64encode(secrets.token_bytes(48)).decode(),  # openssl rand -base64 48
            base64.b64encode(secrets.token_bytes(32)).decode(),
        ):
            assert not looks_like_public_key(secret.encode()), secret
    raw = secrets.token_bytes(64)
    assert secret_bytes(raw) == raw


def _public_jwk() -> dict[str, Any]:
    return dict(KeyPair.generate("ES256", kid="k1").public_jwk)


def test_a_jwk_as_json_is_refused() -> None:
    """Control: the plain JSON spellings are refused."""
    jwk = _public_jwk()
    for document in (jwk, {"keys": [jwk]}):
        with pytest.raises(ConfigurationError):
            secret_bytes(json.dumps(document))


# fmt: off
def test_base64_of_a_public_jwk_is_refused() -> None:
    jwk = _public_jwk()
    for document in (jwk, {"keys": [jwk]}):
        text = json.dumps(document).encode()
        for secret in (base64.b64encode(text), base64.urlsafe_b64encode(text).rstrip(b"=")):
            with pytest.raises(ConfigurationError):
                secret_bytes(secret)
# fmt: on


def test_guard_authenticated_control() -> None:
    """Control for the Guard fixtures above: a token is required where a route asks for one."""
    guard = _guard(Routes({"GET /me": authenticated()}))
    assert not _admitted(guard, rest_proxy("GET", "/me", resource="/me"))
