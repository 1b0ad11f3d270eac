"""Review 17: opaque tokens, token introspection and revocation, attacked.

Real servers only, on loopback: a scripted RFC 7662 authorization server (a real HTTP
server whose answers each test chooses), panva's oidc-provider
(tests/introspection_services.py) and redis-server (the ``redis_url`` fixture). The
findings' tests failed before their fixes (they were ``xfail(strict=True)`` until then);
attacks that held are pinned by passing tests.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time

import pytest
from hand_clock import Clock
from introspection_services import ORDERS, OidcProvider, missing
from rl_services import slow_first_mget, unavailable
from scripted_as import (
    AUD,
    CLIENT_ID,
    CLIENT_SECRET,
    ISS,
    ScriptedAS,
    active,
    concurrent_outcomes,
    introspector,
    opaque,
)

from secauth import Authorizer, ClaimMapper, Guard, JwtVerifier, Routes, scopes
from secauth.client_auth import ClientAuth
from secauth.combined_verifier import CombinedVerifier
from secauth.errors import (
    ConfigurationError,
    InvalidClaims,
    KeysUnavailable,
    TokenError,
    TokenRevoked,
)
from secauth.introspection import IntrospectionVerifier
from secauth.policy import Unauthorized
from secauth.protected_resource import ProtectedResource
from secauth.revocation import Revocations
from secauth.revocation_stores import MemoryRevocationStore, RedisRevocationStore
from secauth.testing import KeyPair
from secauth.testing_events import http_proxy, request_authorizer

# == findings ===============================================================================


def test_revocations_need_an_issuer_for_introspected_tokens(scripted: ScriptedAS) -> None:
    """Finding 1 (fixed): with issuer=None an answer without 'iss' was filed under issuer
    '' which no revoke_* call can write, so such tokens could never be revoked. Now
    revocations need issuer= (whose check makes every answer name it), and a claims set
    without an issuer is refused by the revocation check itself (fail closed)."""
    revocations = Revocations(MemoryRevocationStore())
    with pytest.raises(ConfigurationError, match="revocations need issuer="):
        introspector(scripted, issuer=None, revocations=revocations)
    with pytest.raises(InvalidClaims):
        revocations.check({"sub": "ann", "client_id": "web", "iat": int(time.time())})
    token, now = opaque(), time.time()
    scripted.answer(token, active(now, iss=None))  # an answer naming no issuer
    verifier = introspector(scripted, revocations=revocations)  # issuer=ISS
    with pytest.raises(TokenError):
        verifier.verify(token)
    scripted.answer(token, active(now))
    verifier.clear_cache()
    assert verifier.verify(token)["sub"] == "ann"
    revocations.revoke_subject(ISS, "ann", before=now + 60)
    with pytest.raises(TokenRevoked):  # "sign out everywhere" reaches it
        verifier.verify(token)


def test_guard_uses_the_fresh_introspection_answer_after_cache_max_ttl(
    scripted: ScriptedAS,
) -> None:
    clock, token = Clock(time.time()), opaque()
    scripted.answer(token, active(clock.now, scope="orders.read orders.write"))
    verifier = introspector(scripted, clock=clock, cache_max_ttl=60)
    guard = Guard(
        verifier,
        routes=Routes(
            {"POST /orders": scopes("orders.write"), "GET /orders": scopes("orders.read")}
        ),
        decision_log=None,
    )
    handler = guard(lambda event, context: {"statusCode": 200, "body": "ok"})
    post = http_proxy("POST", "/orders", token=token, body="{}")
    assert handler(post, None)["statusCode"] == 200
    # The authorization server narrows the token (consent for writes withdrawn).
    scripted.answer(token, active(clock.now, scope="orders.read"))
    clock.now += 61  # past cache_max_ttl: the documented staleness window is over
    assert verifier.verify(token)["scope"] == "orders.read"  # the verifier asked again
    assert scripted.count() == 2
    assert handler(post, None)["statusCode"] == 403  # ...but the guard used the old scope


def test_authorizer_uses_the_fresh_introspection_answer_after_cache_max_ttl(
    scripted: ScriptedAS,
) -> None:
    clock, token = Clock(time.time()), opaque()
    scripted.answer(token, active(clock.now, scope="orders.read orders.write"))
    verifier = introspector(scripted, clock=clock, cache_max_ttl=60)
    authorizer = Authorizer(verifier, routes=Routes({"POST /orders": scopes("orders.write")}),
                            decision_log=None, api="rest")  # fmt: skip
    event = request_authorizer("POST", "/orders", token=token)

    def effects() -> set[str]:
        try:
            response = authorizer.handler(event, None)
        except Unauthorized:
            return {"401"}
        return {s["Effect"] for s in response["policyDocument"]["Statement"]}

    assert effects() == effects() == {"Allow"}  # the second answer is memoized
    scripted.answer(token, active(clock.now, scope="orders.read"))
    clock.now += 61
    assert verifier.verify(token)["scope"] == "orders.read"
    assert effects() == {"Deny"}


def test_one_bad_token_does_not_lock_out_every_other_new_token(op: OidcProvider) -> None:
    # max_token_size is documented as 64 B..64 KiB; oidc-provider refuses a form body over
    # ~56 KiB with 400 invalid_request. '+' is a b64token character that form-encodes to
    # three bytes, so a 19,900-character token (well under max_token_size) is such a body.
    verifier = IntrospectionVerifier(
        issuer=op.issuer, audience=ORDERS, client=op.client("client_secret_basic"),
        endpoint=f"{op.issuer}/token/introspection", allow_http=True,
        max_token_size=20_000, retry_after=60,
    )  # fmt: skip
    with pytest.raises(KeysUnavailable) as caught:
        verifier.verify("+" * 19_900)  # one unauthenticated request
    assert caught.value.detail["cause"]["kind"] == "http_status"
    # The authorization server is healthy; a legitimate caller's new token:
    assert verifier.verify(op.mint())["aud"] == ORDERS


def test_the_revoking_container_sees_its_revocation_despite_a_check_in_flight(
    scripted: ScriptedAS, redis_url: str
) -> None:
    client, entered, release = slow_first_mget(redis_url)
    revocations = Revocations(RedisRevocationStore(client=client), max_staleness=30)
    token, now = opaque(), time.time()
    scripted.answer(token, active(now))
    verifier = introspector(scripted, revocations=revocations)
    in_flight = threading.Thread(target=verifier.verify, args=(token,), daemon=True)
    in_flight.start()
    assert entered.wait(10)  # a request read "not revoked" and is still on its way
    revocations.revoke_subject(ISS, "ann", before=now + 60)  # this container signs ann out
    release.set()
    in_flight.join(10)
    client.close()
    with pytest.raises(TokenRevoked):  # "the container that revokes sees it at once"
        verifier.verify(token)


def test_sign_out_everywhere_with_a_margin_refuses_a_token_issued_ahead(
    scripted: ScriptedAS,
) -> None:
    """Finding 6 (documented, docs/revocation.md): verifiers accept iat up to
    max_future_iat (60 s) ahead, so with an issuer whose clock runs ahead a token in use
    can carry an iat after the revocation time. revoke_subject(..., before=now + margin)
    refuses it (and tokens issued within the margin)."""
    token, now = opaque(), time.time()
    scripted.answer(token, active(now, iat=int(now) + 30))  # the AS clock runs 30 s ahead
    revocations = Revocations(MemoryRevocationStore())
    verifier = introspector(scripted, revocations=revocations)
    assert verifier.verify(token)["sub"] == "ann"  # in use
    revocations.revoke_subject(ISS, "ann")  # before=now: the token's iat is after it
    assert verifier.verify(token)["sub"] == "ann"
    revocations.revoke_subject(ISS, "ann", before=time.time() + 60)  # with the margin
    with pytest.raises(TokenRevoked):
        verifier.verify(token)


# == attacks that held ======================================================================


def test_a_revoked_introspected_token_is_refused_from_every_cache(op: OidcProvider) -> None:
    revocations = Revocations(MemoryRevocationStore())
    verifier = IntrospectionVerifier(
        issuer=op.issuer, audience=ORDERS, client=op.client("client_secret_basic"),
        endpoint=f"{op.issuer}/token/introspection", allow_http=True, revocations=revocations,
    )  # fmt: skip
    guard = Guard(verifier, routes=Routes({"GET /orders": scopes("orders.read")}),
                  claims=ClaimMapper(id_claim="client_id"), decision_log=None)  # fmt: skip
    handler = guard(lambda event, context: {"statusCode": 200, "body": "ok"})
    token = op.mint()
    event = http_proxy("GET", "/orders", token=token)
    for _ in range(3):  # introspection cache, principal memo and revocation memo all warm
        assert handler(event, None)["statusCode"] == 200
    revocations.revoke_client(op.issuer, "basic-client", before=time.time() + 5)
    assert handler(event, None)["statusCode"] == 401
    with pytest.raises(TokenRevoked):
        verifier.verify(token)


def test_a_revocation_store_outage_fails_closed_for_introspected_tokens(
    scripted: ScriptedAS,
) -> None:
    token, now = opaque(), time.time()
    scripted.answer(token, active(now))
    dead = RedisRevocationStore("redis://127.0.0.1:9/0")  # nothing listens there
    verifier = introspector(scripted, revocations=Revocations(dead, max_staleness=0))
    with pytest.raises(KeysUnavailable) as caught:
        verifier.verify(token)
    assert caught.value.detail["source"] == "revocations"


def test_a_failing_leader_gives_every_waiting_thread_a_503_and_makes_one_call(
    scripted: ScriptedAS,
) -> None:
    token = opaque()
    scripted.answer(token, {"error": "server_error"}, status=500)
    scripted.delay = 0.3
    verifier = introspector(scripted, retry_after=0)
    assert concurrent_outcomes(verifier.verify, token, 20) == ["503"] * 20
    assert scripted.count() == 1


def test_a_padded_or_dotted_jwt_is_never_accepted_through_introspection(
    op: OidcProvider,
) -> None:
    pair = KeyPair.generate("ES256", kid="k1")
    both = CombinedVerifier(
        jwt=JwtVerifier(issuer=op.issuer, audience=ORDERS, jwks={"keys": [pair.public_jwk]}),
        introspection=IntrospectionVerifier(
            issuer=op.issuer, audience=ORDERS, client=op.client("client_secret_basic"),
            endpoint=f"{op.issuer}/token/introspection", allow_http=True,
        ),
    )  # fmt: skip
    jwt = pair.sign({"iss": op.issuer, "aud": ORDERS, "exp": time.time() + 600, "sub": "x"})
    assert both.verify(jwt)["sub"] == "x"
    assert both.introspection.calls == 0  # a JWT never leaves the function
    for variant in (jwt + "=", jwt + "==", jwt + ".", jwt.replace(".", "..", 1)):
        with pytest.raises(TokenError):
            both.verify(variant)
    # An opaque token is never taken for a JWT: dotted garbage goes to the JWT verifier.
    with pytest.raises(TokenError):
        both.verify("abc.def.ghi")
    opaque_token = op.mint()
    assert both.verify(opaque_token)["client_id"] == "basic-client"


def test_an_introspection_endpoint_from_discovery_must_be_loopback_or_https(
    scripted: ScriptedAS,
) -> None:
    scripted.discovery = {"issuer": scripted.origin,
                          "introspection_endpoint": "http://as.example.net/introspect"}  # fmt: skip
    verifier = IntrospectionVerifier(
        issuer=scripted.origin, audience=AUD, client=ClientAuth.basic(CLIENT_ID, CLIENT_SECRET),
        allow_http=True,
    )  # fmt: skip
    with pytest.raises(KeysUnavailable) as caught:
        verifier.verify(opaque())
    assert caught.value.detail["cause"]["kind"] == "refused_url"
    assert verifier.endpoint is None
    assert scripted.count("/introspect") == 0


def test_private_key_jwt_assertions_name_the_issuer_and_are_never_reused(
    scripted: ScriptedAS,
) -> None:
    pair = KeyPair.generate("ES256", kid="c1")
    client = ClientAuth.private_key_jwt(CLIENT_ID, pair.private_key, kid="c1")  # type: ignore[arg-type]
    verifier = introspector(scripted, client=client)
    tokens = [opaque(), opaque()]
    for token in tokens:
        scripted.answer(token, active(time.time()))
        verifier.verify(token)
    assertions = [r["form"]["client_assertion"] for r in scripted.requests]
    seen: set[str] = set()
    for assertion in assertions:
        payload = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert claims["aud"] == ISS
        assert claims["iss"] == claims["sub"] == CLIENT_ID
        assert claims["exp"] - claims["iat"] == 60
        assert claims["jti"] not in seen
        seen.add(claims["jti"])
    assert CLIENT_SECRET not in repr(ClientAuth.basic(CLIENT_ID, CLIENT_SECRET))


def test_client_secret_basic_with_reserved_characters_authenticates_at_a_real_server() -> None:
    why = missing()
    if why is not None:
        unavailable(why)
    server = OidcProvider()
    server.secret = "p:ss w%rd+/=&~-!*'()" + secrets.token_urlsafe(24)
    server.start()
    try:
        verifier = IntrospectionVerifier(
            issuer=server.issuer, audience=ORDERS,
            client=ClientAuth.basic("basic-client", server.secret),
            endpoint=f"{server.issuer}/token/introspection", allow_http=True,
        )  # fmt: skip
        with pytest.raises(TokenError):  # authenticated: an answer, "not active"
            verifier.verify(opaque())
    finally:
        server.stop()


def test_inactive_answers_are_kept_negative_ttl_and_never_shared(scripted: ScriptedAS) -> None:
    clock, good, bad = Clock(time.time()), opaque(), opaque()
    scripted.answer(good, active(clock.now))
    verifier = introspector(scripted, clock=clock, negative_ttl=10)
    with pytest.raises(TokenError):
        verifier.verify(bad)
    assert verifier.verify(good)["sub"] == "ann"
    scripted.answer(bad, active(clock.now))  # becomes active (say, nbf passed)
    with pytest.raises(TokenError):
        verifier.verify(bad)  # remembered inactive
    clock.now += 10
    assert verifier.verify(bad)["sub"] == "ann"
    assert scripted.count() == 3


def test_the_challenge_carries_only_configuration_never_request_text(
    scripted: ScriptedAS,
) -> None:
    resource = ProtectedResource(resource="https://mcp.example.com/mcp",
                                 authorization_servers=[ISS], scopes_supported=["mcp.tools"])  # fmt: skip
    verifier = introspector(scripted, audience=resource.resource)
    guard = Guard(verifier, protected_resource=resource,
                  routes=Routes({"POST /mcp": scopes("mcp.tools")}), decision_log=None)  # fmt: skip
    handler = guard(lambda event, context: {"statusCode": 200, "body": "ok"})
    expected = ('resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource'
                '/mcp", scope="mcp.tools"')  # fmt: skip
    for token in ('a"b, x="y', "abc\r\nX-Evil: 1", opaque()):
        response = handler(http_proxy("POST", "/mcp", token=token, body="{}"), None)
        assert response["statusCode"] == 401
        header = response["headers"]["WWW-Authenticate"]
        assert header.endswith(expected)
        assert "Evil" not in header
        assert 'x="y' not in header
