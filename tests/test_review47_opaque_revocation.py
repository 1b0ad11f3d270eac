"""Review 47: opaque-token introspection, revocation and their caches, attacked.

Real servers only, on loopback: the scripted RFC 7662 server (``tests/scripted_as.py``), a
gated RFC 7662 server defined here (it holds an answer until the test releases it) and
private redis-servers (``rl_services.redis_server``). Clocks are moved by hand
(``tests/hand_clock.py``); no test asserts on a duration.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; attacks the
library resists are plain tests.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hand_clock import Clock
from opaque_callers import ROUTES, authorize, guarded
from rl_services import redis_server
from scripted_as import AUD, CLIENT_ID, CLIENT_SECRET, ISS, ScriptedAS, active, introspector, opaque

from secauth import Authorizer, Guard, JwtVerifier, Routes
from secauth.client_auth import ClientAuth
from secauth.combined_verifier import CombinedVerifier
from secauth.errors import (
    ConfigurationError,
    InvalidClaims,
    KeysUnavailable,
    TokenError,
    TokenExpired,
    TokenRevoked,
)
from secauth.revocation import Revocations
from secauth.revocation_stores import MemoryRevocationStore, RedisRevocationStore
from secauth.testing import KeyPair
from secauth.testing_events import http_proxy


class GatedAS:
    """A real RFC 7662 server on loopback that answers each POST with the next scripted
    body, but holds every answer until ``release`` is set (``arrived`` is set when a
    request is in)."""

    def __init__(self, bodies: list[dict[str, Any]]) -> None:
        self.bodies = list(bodies)
        self.arrived, self.release = threading.Event(), threading.Event()
        self.count = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.dumps(owner.bodies[min(owner.count, len(owner.bodies) - 1)])
                owner.count += 1
                owner.arrived.set()
                owner.release.wait(10)
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/introspect"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def private_redis() -> Iterator[Any]:
    """A redis-server of this test's own (stopped by the test or at its end)."""
    server = redis_server().start()
    try:
        yield server
    finally:
        server.stop()


# == findings ===============================================================================


def test_a_too_large_answer_for_one_token_does_not_lock_out_every_other_new_token(
    scripted: ScriptedAS,
) -> None:
    """An answer over ``max_bytes`` is about one token (its claims: a user with a huge
    profile, many groups), like the 413 that review 17 made per-call. It still rests
    the endpoint, so whoever holds such a token (and presents it once a second) turns
    every other caller's new token into a 503."""
    clock = Clock(time.time())
    heavy, other = opaque(), opaque()
    scripted.answer(heavy, active(clock.now, groups=["g" * 60] * 1200))  # ~75 KB
    scripted.answer(other, active(clock.now, sub="bob"))
    verifier = introspector(scripted, clock=clock)  # retry_after: the default 1 s
    with pytest.raises(KeysUnavailable) as caught:
        verifier.verify(heavy)
    assert caught.value.detail["cause"]["kind"] == "too_large"
    # The authorization server is healthy; a legitimate caller's new token:
    assert verifier.verify(other)["sub"] == "bob"


@pytest.mark.parametrize("before", [float("nan"), float("-inf")], ids=["nan", "-inf"])
@pytest.mark.parametrize("kind", ["subject", "client"])
def test_a_sign_out_with_a_non_finite_time_is_refused_or_signs_out(
    scripted: ScriptedAS, kind: str, before: float
) -> None:
    """``secauth revoke subject ann --before nan`` (argparse ``type=float``) or a bad
    value in code: the call succeeds ("revoked subject for ..."), yet no token is
    refused (``iat < nan`` is False). Secure: refuse the value, or sign the subject out."""
    token, now = opaque(), time.time()
    scripted.answer(token, active(now))
    revocations = Revocations(MemoryRevocationStore())
    verifier = introspector(scripted, revocations=revocations)
    assert verifier.verify(token)["sub"] == "ann"
    revoke = revocations.revoke_subject if kind == "subject" else revocations.revoke_client
    try:
        revoke(ISS, "ann" if kind == "subject" else "web", before=before)
    except ConfigurationError:
        return  # refused: the operator learns the revocation did not happen
    with pytest.raises(TokenRevoked):
        verifier.verify(token)


def test_a_revoked_client_named_in_any_audience_is_refused(scripted: ScriptedAS) -> None:
    """docs/revocation.md: "A client is named by client_id, azp or aud (an ID token
    names its client in aud)"; revocation_keys reads only ``aud[:8]``."""
    token, now = opaque(), time.time()
    audiences = [AUD, *(f"urn:example:r{n}" for n in range(7)), "compromised-app"]
    scripted.answer(token, active(now, aud=audiences))
    revocations = Revocations(MemoryRevocationStore())
    verifier = introspector(scripted, revocations=revocations)
    assert verifier.verify(token)["sub"] == "ann"
    revocations.revoke_client(ISS, "compromised-app", before=now + 60)
    with pytest.raises(TokenRevoked):
        verifier.verify(token)


@pytest.mark.parametrize("exp_after", [None, 3 * 3600], ids=["no-exp", "exp-past-lifetime"])
def test_a_revoked_token_never_comes_back_when_it_outlives_the_entry(
    scripted: ScriptedAS, exp_after: int | None
) -> None:
    """Entries live ``max_token_lifetime`` after they are written; nothing checks that
    the tokens a verifier accepts fit in it (no ``exp`` with ``require_exp=False``, or
    an ``exp`` further out). Once the entry expires the revoked token is accepted again.
    Secure: such a token is refused from the start, or stays revoked."""
    clock, token = Clock(time.time()), opaque()
    exp = None if exp_after is None else int(clock.now) + exp_after
    scripted.answer(token, active(clock.now, exp=exp))
    revocations = Revocations(MemoryRevocationStore(clock=clock), clock=clock,
                              max_token_lifetime=3600)  # fmt: skip
    verifier = introspector(scripted, clock=clock, require_exp=False, revocations=revocations)
    try:
        verifier.verify(token)
    except TokenError:
        return  # refused from the start: the list could not vouch for its lifetime
    revocations.revoke_subject(ISS, "ann")
    with pytest.raises(TokenRevoked):
        verifier.verify(token)
    clock.now += 3601  # the entry has expired; the token has not
    with pytest.raises(TokenError):
        verifier.verify(token)


def test_clear_cache_also_drops_an_answer_that_was_in_flight() -> None:
    """An operator revokes a leaked token at the authorization server and clears the
    verifier's cache; a call that started before the revocation lands afterwards and
    its active answer is kept for cache_max_ttl (Revocations has a generation check for
    this very race; the introspection cache has none)."""
    now = time.time()
    server = GatedAS([active(now), {"active": False}])  # active, then revoked
    try:
        verifier = introspector(server)
        token = opaque()
        in_flight = threading.Thread(target=verifier.verify, args=(token,), daemon=True)
        in_flight.start()
        assert server.arrived.wait(10)  # asked before the revocation
        verifier.clear_cache()  # ...the revocation, then "forget every answer"
        server.release.set()
        in_flight.join(10)
        with pytest.raises(TokenError):
            verifier.verify(token)
    finally:
        server.stop()


def test_revocations_survive_memory_pressure_on_a_shared_redis(scripted: ScriptedAS) -> None:
    """A Redis under ``maxmemory-policy volatile-lru`` (ElastiCache's default) evicts
    keys with a TTL first, and every revocation entry has one. Another tenant of the
    cache (rate-limit counters, say, which callers create at will) fills it, the entry
    goes, and the signed-out user is back in: no error, no log. Secure: the store
    refuses an evicting server (INFO memory names the policy), or the token stays
    refused."""
    server = redis_server(None, "--maxmemory", "2mb", "--maxmemory-policy", "volatile-lru")
    server.start()
    try:
        import redis

        url = f"redis://127.0.0.1:{server.port}/0"
        try:
            store = RedisRevocationStore(url)
            revocations = Revocations(store, max_staleness=0)
            token, now = opaque(), time.time()
            scripted.answer(token, active(now))
            verifier = introspector(scripted, revocations=revocations)
            assert verifier.verify(token)["sub"] == "ann"
            revocations.revoke_subject(ISS, "ann", before=now + 60)
        except (ConfigurationError, KeysUnavailable):
            return  # the store refused an evicting server
        with pytest.raises(TokenRevoked):
            verifier.verify(token)
        client = redis.Redis.from_url(url)
        pipe = client.pipeline(transaction=False)
        for n in range(20_000):  # ~20 MB of other short-lived keys through a 2 MB cache
            pipe.set(f"ratelimit:{n}", b"x" * 1000, px=600_000)
            if n % 1000 == 999:
                pipe.execute()
        pipe.execute()
        client.close()
        with pytest.raises((TokenRevoked, KeysUnavailable)):
            verifier.verify(token)
    finally:
        server.stop()


# == attacks that held ======================================================================


def test_a_jwt_shaped_token_is_never_introspected_even_if_the_as_would_vouch(
    scripted: ScriptedAS,
) -> None:
    """A token of three base64url segments goes to the JWT verifier only: no fallback to
    introspection when its signature fails (the AS would have called it active)."""
    pair, stranger = KeyPair.generate("ES256", kid="k1"), KeyPair.generate("ES256", kid="k1")
    forged = stranger.sign({"iss": ISS, "aud": AUD, "exp": time.time() + 600, "sub": "ann"})
    scripted.answer(forged, active(time.time()))
    both = CombinedVerifier(
        jwt=JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [pair.public_jwk]}),
        introspection=introspector(scripted),
    )
    with pytest.raises(TokenError):
        both.verify(forged)
    assert guarded(both)(http_proxy("GET", "/orders", token=forged), None)["statusCode"] == 401
    assert scripted.count() == 0
    assert both.revalidate(forged) is False


def test_an_opaque_token_never_reaches_the_jwt_verifier_memo(scripted: ScriptedAS) -> None:
    """Through CombinedVerifier the Authorizer's memo is on (the JWT side can
    revalidate), but an opaque token is re-verified on every call: inactive at the AS
    once the cached answer lapses, it is refused although its Allow was memoized."""
    clock, token = Clock(time.time()), opaque()
    scripted.answer(token, active(clock.now))
    pair = KeyPair.generate("ES256", kid="k1")
    both = CombinedVerifier(
        jwt=JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [pair.public_jwk]}),
        introspection=introspector(scripted, clock=clock, cache_max_ttl=30),
    )
    authorizer = Authorizer(both, routes=Routes(ROUTES), decision_log=None, api="rest")
    assert [authorize(authorizer, token) for _ in range(3)] == ["Allow"] * 3
    scripted.answer(token, {"active": False})  # revoked at the AS (RFC 7009)
    clock.now += 31
    assert authorize(authorizer, token) == "401"
    assert scripted.count(token=token) == 2


def test_an_answer_that_expires_while_memoized_is_refused_by_authorizer_and_guard(
    scripted: ScriptedAS,
) -> None:
    clock, token = Clock(time.time()), opaque()
    scripted.answer(token, active(clock.now, exp=int(clock.now) + 30))
    verifier = introspector(scripted, clock=clock, cache_max_ttl=300)
    authorizer = Authorizer(verifier, routes=Routes(ROUTES), decision_log=None, api="rest")
    handler = guarded(verifier)
    event = http_proxy("GET", "/orders", token=token)
    assert [authorize(authorizer, token) for _ in range(3)] == ["Allow"] * 3
    assert [handler(event, None)["statusCode"] for _ in range(3)] == [200] * 3
    clock.now = int(clock.now) + 30
    assert authorize(authorizer, token) == "401"
    assert handler(event, None)["statusCode"] == 401
    with pytest.raises(TokenExpired):
        verifier.verify(token)


@pytest.mark.parametrize("sub", [None, ""], ids=["absent", "empty"])
def test_an_answer_without_a_subject_is_no_principal(scripted: ScriptedAS, sub: Any) -> None:
    token = opaque()
    scripted.answer(token, active(time.time(), sub=None if sub is None else sub))
    verifier = introspector(scripted)
    assert guarded(verifier)(http_proxy("GET", "/orders", token=token), None)["statusCode"] == 401
    authorizer = Authorizer(verifier, routes=Routes(ROUTES), decision_log=None, api="rest")
    assert authorize(authorizer, token) == "401"


def test_a_deeply_nested_answer_is_a_503_never_a_500_or_an_allow(scripted: ScriptedAS) -> None:
    token = opaque()
    body = json.dumps(active(time.time()))[:-1] + ', "x": ' + "[" * 20_000 + "]" * 20_000 + "}"
    scripted.answer(token, body.encode())
    verifier = introspector(scripted, retry_after=0)
    with pytest.raises(KeysUnavailable):
        verifier.verify(token)
    assert guarded(verifier)(http_proxy("GET", "/orders", token=token), None)["statusCode"] == 503


def test_concurrent_async_tasks_on_different_tokens_never_share_an_answer(
    scripted: ScriptedAS,
) -> None:
    tokens = [opaque() for _ in range(6)]
    now = time.time()
    for n, token in enumerate(tokens):
        scripted.answer(token, active(now, sub=f"user-{n}"))
    scripted.delay = 0.2  # every call is in flight at once
    verifier = introspector(scripted)

    async def main() -> list[str]:
        jobs = [verifier.verify_async(tokens[n % len(tokens)]) for n in range(len(tokens) * 4)]
        return [claims["sub"] for claims in await asyncio.gather(*jobs)]

    subs = asyncio.run(main())
    assert subs == [f"user-{n % len(tokens)}" for n in range(len(tokens) * 4)]
    for token in tokens:
        assert scripted.count(token=token) == 1


def test_an_inactive_answer_cached_by_a_thread_is_seen_by_async_callers(
    scripted: ScriptedAS,
) -> None:
    clock, token = Clock(time.time()), opaque()
    scripted.answer(token, {"active": False, "exp": int(clock.now) + 3600, "sub": "ann"})
    verifier = introspector(scripted, clock=clock, negative_ttl=10)
    with pytest.raises(TokenError):
        verifier.verify(token)
    scripted.answer(token, active(clock.now))
    with pytest.raises(TokenError):
        asyncio.run(verifier.verify_async(token))
    assert scripted.count() == 1  # the negative answer, shared; never turned positive


def test_revoking_one_jti_spares_a_sibling_with_the_same_subject_and_iat(
    scripted: ScriptedAS, redis_url: str
) -> None:
    """Two opaque tokens of one user, minted in the same second, whose answers carry a
    ``jti``: the container's verdict memory is keyed by the identifying claims, so a
    revocation of one (by another container, through Redis) never leaks to the other,
    and the revoked one is refused although its "not revoked" verdict was fresh."""
    now = time.time()
    first, second = opaque(), opaque()
    scripted.answer(first, active(now, jti="jti-1"))
    scripted.answer(second, active(now, jti="jti-2"))
    here = Revocations(RedisRevocationStore(redis_url), max_staleness=0)
    verifier = introspector(scripted, revocations=here)
    handler = guarded(verifier)
    for token in (first, second, first, second):
        assert handler(http_proxy("GET", "/orders", token=token), None)["statusCode"] == 200
    elsewhere = Revocations(RedisRevocationStore(redis_url))
    elsewhere.revoke_token(ISS, "jti-1")
    assert handler(http_proxy("GET", "/orders", token=first), None)["statusCode"] == 401
    assert handler(http_proxy("GET", "/orders", token=second), None)["statusCode"] == 200
    with pytest.raises(TokenRevoked):
        verifier.verify(first)


@pytest.mark.parametrize(
    ("iat", "revoked"),
    [(None, True), (999.5, True), (1000, False), (1000.25, False)],
    ids=["no-iat", "just-before", "exactly-at", "just-after"],
)
def test_sign_out_before_t_reads_iat_of_introspected_tokens(
    scripted: ScriptedAS, iat: float | None, revoked: bool
) -> None:
    """Sign-out "before T": an answer without iat (age unknown) is refused (from the
    start: its lifetime is unknown, so it could outlive the entry revoking it), a
    fractional iat is compared as a number, and a token issued at T or later stands."""
    clock, token = Clock(1000.0), opaque()
    scripted.answer(token, active(clock.now, iat=iat))
    revocations = Revocations(MemoryRevocationStore(clock=clock), clock=clock)
    verifier = introspector(scripted, clock=clock, revocations=revocations)
    if iat is None:
        with pytest.raises(InvalidClaims):
            verifier.verify(token)
        return
    verifier.verify(token)
    revocations.revoke_subject(ISS, "ann", before=1000.0)
    if revoked:
        with pytest.raises(TokenRevoked):
            verifier.verify(token)
    else:
        assert verifier.verify(token)["sub"] == "ann"


def test_a_redis_that_stops_fails_closed_through_guard_and_authorizer(
    scripted: ScriptedAS, private_redis: Any
) -> None:
    """max_staleness=0: every request asks the store. Redis stops; the Guard answers 503,
    the authorizer 401 (keys_unavailable), never an allow; the memo does not help."""
    token = opaque()
    scripted.answer(token, active(time.time()))
    store = RedisRevocationStore(f"redis://127.0.0.1:{private_redis.port}/0")
    verifier = introspector(scripted, revocations=Revocations(store, max_staleness=0))
    handler = guarded(verifier)
    authorizer = Authorizer(verifier, routes=Routes(ROUTES), decision_log=None, api="rest")
    event = http_proxy("GET", "/orders", token=token)
    assert [authorize(authorizer, token) for _ in range(2)] == ["Allow"] * 2
    assert handler(event, None)["statusCode"] == 200
    private_redis.stop()
    assert handler(event, None)["statusCode"] == 503
    assert authorize(authorizer, token) == "401"
    with pytest.raises(KeysUnavailable) as caught:
        verifier.verify(token)
    assert caught.value.detail["source"] == "revocations"


def test_a_redis_that_refuses_our_password_fails_closed(scripted: ScriptedAS) -> None:
    password = "pw-" + secrets.token_hex(12)
    server = redis_server(None, "--requirepass", password).start()
    try:
        token = opaque()
        scripted.answer(token, active(time.time()))
        wrong = RedisRevocationStore(f"redis://:wrong-{password}@127.0.0.1:{server.port}/0")
        verifier = introspector(scripted, revocations=Revocations(wrong))
        with pytest.raises(KeysUnavailable) as caught:
            verifier.verify(token)
        assert password not in repr(caught.value.detail) + str(caught.value)
        right = RedisRevocationStore(f"redis://:{password}@127.0.0.1:{server.port}/0")
        assert introspector(scripted, revocations=Revocations(right)).verify(token)["sub"]
    finally:
        server.stop()


def test_token_secret_and_store_password_never_reach_logs_records_or_errors(
    scripted: ScriptedAS, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every revocation path (allowed, revoked, store down failing closed and open,
    inactive, endpoint failing with an echo of the request): no token, client secret
    or Redis password in a log line, stdout/stderr, a decision record, a response or
    an error."""
    password = "pw-" + secrets.token_hex(12)
    server = redis_server(None, "--requirepass", password).start()
    caplog.set_level(logging.DEBUG)
    records: list[Any] = []
    shown: list[str] = []
    token, dead, other = opaque(), opaque(), opaque()
    try:
        url = f"redis://:{password}@127.0.0.1:{server.port}/0"
        now = time.time()
        scripted.answer(token, active(now, jti="leak-jti"))
        scripted.answer(dead, {"active": False})
        for failure in ("closed", "closed", "open"):  # the store stops after the first
            revocations = Revocations(RedisRevocationStore(url), max_staleness=0,
                                      failure=failure)  # type: ignore[arg-type]  # fmt: skip
            client = ClientAuth.post(CLIENT_ID, CLIENT_SECRET)
            verifier = introspector(scripted, revocations=revocations, client=client,
                                    retry_after=0)  # fmt: skip
            guard = Guard(verifier, routes=Routes(ROUTES), on_decision=records.append,
                          decision_log=None)  # fmt: skip
            handler = guard(lambda event, context: {"statusCode": 200, "body": "ok"})
            authorizer = Authorizer(verifier, routes=Routes(ROUTES), api="rest",
                                    on_decision=records.append, decision_log=None)  # fmt: skip
            for each in (token, dead):
                shown.append(json.dumps(handler(http_proxy("GET", "/orders", token=each), None)))
                shown.append(authorize(authorizer, each))
            if not server.running:
                continue
            revocations.revoke_token(ISS, "leak-jti")
            shown.append(json.dumps(handler(http_proxy("GET", "/orders", token=token), None)))
            with pytest.raises(TokenRevoked) as revoked:
                verifier.verify(token)
            shown += [str(revoked.value), repr(revoked.value), json.dumps(revoked.value.detail)]
            server.stop()
        echo = json.dumps({"error": f"{token} {CLIENT_SECRET} {password}"}).encode()
        scripted.answer(other, echo, 500)
        with pytest.raises(KeysUnavailable) as failed:
            introspector(scripted, client=ClientAuth.post(CLIENT_ID, CLIENT_SECRET)).verify(other)
        shown += [str(failed.value), repr(failed.value), json.dumps(failed.value.detail)]
    finally:
        server.stop()
    captured = capsys.readouterr()
    shown += [caplog.text, captured.out, captured.err, json.dumps(records, default=str)]
    assert "revocation store unavailable" in caplog.text  # the open policy did warn
    for text in shown:
        for secret in (token, dead, other, CLIENT_SECRET, password):
            assert secret not in text


# == the fixes' edges ========================================================================


def test_a_token_naming_more_audiences_than_a_list_checks_is_refused(scripted: ScriptedAS) -> None:
    """Every audience is a key looked up; beyond MAX_AUDIENCES the token is refused,
    never checked in part."""
    from secauth.revocation import MAX_AUDIENCES

    token, now = opaque(), time.time()
    audiences = [AUD, *(f"urn:example:r{n}" for n in range(MAX_AUDIENCES))]
    scripted.answer(token, active(now, aud=audiences))
    verifier = introspector(scripted, revocations=Revocations(MemoryRevocationStore()))
    with pytest.raises(InvalidClaims) as refused:
        verifier.verify(token)
    assert refused.value.detail == {"claim": "aud", "problem": "too many audiences to check"}
    scripted.answer(token := opaque(), active(now, aud=audiences[:MAX_AUDIENCES]))
    assert verifier.verify(token)["sub"] == "ann"  # at the limit: every one checked


@pytest.mark.parametrize(("lifetime", "accepted"), [(3600, True), (3601, False)])
def test_a_jwt_verifier_with_a_list_refuses_tokens_that_outlive_its_entries(
    lifetime: int, accepted: bool
) -> None:
    pair = KeyPair.generate("ES256", kid="k1")
    revocations = Revocations(MemoryRevocationStore(), max_token_lifetime=3600)
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [pair.public_jwk]},
                           revocations=revocations)  # fmt: skip
    now = int(time.time())
    token = pair.sign({"iss": ISS, "aud": AUD, "sub": "ann", "iat": now, "exp": now + lifetime})
    if accepted:
        assert verifier.verify(token)["sub"] == "ann"
    else:
        with pytest.raises(InvalidClaims):
            verifier.verify(token)
    # without a list, the same token is any other token
    plain = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [pair.public_jwk]})
    assert plain.verify(token)["sub"] == "ann"


@pytest.mark.parametrize("before", [True, "1700000000", float("inf")])
def test_revoke_refuses_a_time_that_is_not_one(before: Any) -> None:
    revocations = Revocations(MemoryRevocationStore())
    with pytest.raises(ConfigurationError, match="finite time"):
        revocations.revoke_subject(ISS, "ann", before=before)


# == stores that must not forget: the eviction policy ========================================


@pytest.fixture(scope="module")
def evicting_redis() -> Iterator[Any]:
    server = redis_server(None, "--maxmemory", "2mb", "--maxmemory-policy", "volatile-lru")
    server.start()
    yield server
    server.stop()


def test_an_evicting_server_fails_the_revocation_list_closed(evicting_redis: Any) -> None:
    from secauth.revocation import StoreUnavailable

    store = RedisRevocationStore(f"redis://127.0.0.1:{evicting_redis.port}/0")
    revocations = Revocations(store, failure="closed")
    claims = {"iss": ISS, "sub": "ann", "jti": "j-1", "iat": 1, "exp": 3601}
    with pytest.raises(KeysUnavailable) as refused:
        revocations.check(claims)
    assert "maxmemory-policy volatile-lru" in refused.value.detail["problem"]
    with pytest.raises(StoreUnavailable, match="noeviction"):  # the admin learns it too
        revocations.revoke_subject(ISS, "ann")


def test_an_evicting_server_fails_dpop_replay_records(evicting_redis: Any) -> None:
    from secauth.dpop_replay import RedisReplayStore, ReplayStoreUnavailable

    store = RedisReplayStore(f"redis://127.0.0.1:{evicting_redis.port}/0")
    with pytest.raises(ReplayStoreUnavailable, match="volatile-lru"):
        store.first_use("jkt:jti", time.time() + 60)


def test_a_server_that_never_evicts_is_used(private_redis: Any) -> None:
    """No maxmemory (the default), or maxmemory with noeviction: checked once, then used;
    check_eviction=False skips the check (a server that refuses INFO)."""
    from secauth.dpop_replay import RedisReplayStore

    url = f"redis://127.0.0.1:{private_redis.port}/0"
    revocations = Revocations(RedisRevocationStore(url))
    claims = {"iss": ISS, "sub": "ann", "jti": "j-2", "iat": 1, "exp": 3601}
    assert not revocations.is_revoked(claims)
    revocations.revoke_token(ISS, "j-2")
    assert revocations.is_revoked(claims)
    assert RedisReplayStore(url).first_use("jkt:jti-2", time.time() + 60) is True
    bounded = redis_server(None, "--maxmemory", "2mb", "--maxmemory-policy", "noeviction")
    bounded.start()
    try:
        assert RedisReplayStore(f"redis://127.0.0.1:{bounded.port}/0").first_use(
            "jkt:jti-3", time.time() + 60
        )
    finally:
        bounded.stop()


def test_the_check_can_be_skipped_and_is_checked(evicting_redis: Any) -> None:
    from secauth.dpop_replay import RedisReplayStore

    url = f"redis://127.0.0.1:{evicting_redis.port}/0"
    assert RedisReplayStore(url, check_eviction=False).first_use("k", time.time() + 5) is True
    for store in (RedisReplayStore, RedisRevocationStore):
        with pytest.raises(ConfigurationError, match="check_eviction"):
            store(url, check_eviction="no")  # type: ignore[arg-type]


def test_the_eviction_recheck_is_checked(private_redis: Any) -> None:
    from secauth.dpop_replay import RedisReplayStore

    url = f"redis://127.0.0.1:{private_redis.port}/0"
    for store in (RedisReplayStore, RedisRevocationStore):
        for bad in (-1, 3601, True, "60"):
            with pytest.raises(ConfigurationError, match="eviction_recheck"):
                store(url, eviction_recheck=bad)  # type: ignore[arg-type]
