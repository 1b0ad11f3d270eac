"""IntrospectionVerifier and CombinedVerifier against a real authorization server: panva's
oidc-provider on loopback (tests/introspection_services.py), issuing opaque access tokens,
with a counting proxy in front of it for call counts and failure modes. No mock of the
authorization server anywhere."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from introspection_services import ORDERS, SHORT, SHORT_TTL, OidcProvider, Proxy

from secauth import Authorizer, ClaimMapper, Guard, JwtVerifier, Routes, scopes
from secauth.client_auth import ClientAuth
from secauth.combined_verifier import CombinedVerifier, looks_like_jwt
from secauth.errors import (
    ConfigurationError,
    InvalidAudience,
    InvalidClaims,
    InvalidIssuer,
    KeysUnavailable,
    MalformedToken,
    MissingToken,
    Reason,
    SecAuthError,
    TokenExpired,
    TokenRevoked,
)
from secauth.introspection import IntrospectionVerifier
from secauth.introspection_cache import token_key
from secauth.revocation import Revocations
from secauth.revocation_stores import MemoryRevocationStore
from secauth.testing import KeyPair
from secauth.testing_events import http_authorizer_v2, rest_proxy

METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")


@pytest.fixture(scope="module")
def shared_proxy(op: OidcProvider) -> Iterator[Proxy]:
    server = Proxy(op.port)
    yield server
    server.stop()


@pytest.fixture
def proxy(shared_proxy: Proxy) -> Proxy:
    shared_proxy.reset()
    return shared_proxy


class Clock:
    """Real time plus an offset a test moves forward (cache TTLs without sleeping)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def counted(op: OidcProvider, proxy: Proxy, **options: Any) -> IntrospectionVerifier:
    """A verifier that calls the authorization server through the counting proxy."""
    options.setdefault("client", op.client("client_secret_basic"))
    return IntrospectionVerifier(
        issuer=options.pop("issuer", op.issuer),
        audience=options.pop("audience", ORDERS),
        endpoint=proxy.introspection_endpoint,
        allow_http=True,
        **options,
    )


# -- the happy path, each client authentication method ----------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_each_client_auth_method_introspects_through_discovery(
    op: OidcProvider, method: str
) -> None:
    verifier = IntrospectionVerifier(
        issuer=op.issuer, audience=ORDERS, client=op.client(method), allow_http=True
    )
    assert verifier.hydrate(strict=True)
    assert verifier.endpoint == f"{op.issuer}/token/introspection"
    claims = verifier.verify(op.mint())
    assert claims["aud"] == ORDERS
    assert claims["client_id"] == "basic-client"
    assert claims["scope"] == "orders.read"
    assert claims["iss"] == op.issuer
    assert "active" not in claims


def test_async_verification_with_each_method(op: OidcProvider) -> None:
    async def run() -> list[str]:
        out = []
        for method in METHODS:
            verifier = IntrospectionVerifier(
                issuer=op.issuer, audience=ORDERS, client=op.client(method), allow_http=True
            )
            out.append((await verifier.verify_async(op.mint()))["client_id"])
        return out

    assert asyncio.run(run()) == ["basic-client"] * 3


def test_the_request_carries_the_hint_and_the_token_form_encoded(
    op: OidcProvider, proxy: Proxy
) -> None:
    verifier = counted(op, proxy, client=op.client("client_secret_post"))
    token = op.mint()
    verifier.verify(token)
    body = proxy.bodies[0].decode()
    assert f"token={token}" in body
    assert "token_type_hint=access_token" in body
    assert "client_id=post-client" in body


# -- the cache --------------------------------------------------------------------------


def test_n_verifications_of_one_token_make_one_call(op: OidcProvider, proxy: Proxy) -> None:
    verifier = counted(op, proxy)
    token = op.mint()
    for _ in range(200):
        assert verifier.verify(token)["aud"] == ORDERS
    assert proxy.count() == 1
    assert verifier.calls == 1


def test_fifty_threads_on_one_cold_token_make_one_call(op: OidcProvider, proxy: Proxy) -> None:
    verifier = counted(op, proxy)
    token = op.mint()
    barrier = threading.Barrier(50)
    results: list[object] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(verifier.verify(token)["aud"])
        except SecAuthError as exc:
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [ORDERS] * 50
    assert proxy.count() == 1


def test_fifty_tasks_on_one_cold_token_make_one_call(op: OidcProvider, proxy: Proxy) -> None:
    verifier = counted(op, proxy)
    token = op.mint()

    async def run() -> list[Any]:
        return await asyncio.gather(*(verifier.verify_async(token) for _ in range(50)))

    assert [claims["aud"] for claims in asyncio.run(run())] == [ORDERS] * 50
    assert proxy.count() == 1


def test_the_cache_is_keyed_by_a_digest_of_the_token() -> None:
    assert token_key("abc") == hashlib.sha256(b"abc").digest()


def test_an_unknown_token_is_inactive_and_remembered_for_the_negative_ttl(
    op: OidcProvider, proxy: Proxy
) -> None:
    clock = Clock()
    verifier = counted(op, proxy, negative_ttl=5, clock=clock)
    for _ in range(3):
        with pytest.raises(InvalidClaims) as caught:
            verifier.verify("not-a-token-the-server-issued")
        assert caught.value.status == 401
        assert caught.value.detail["claim"] == "active"
    assert proxy.count() == 1
    clock.offset = 6
    with pytest.raises(InvalidClaims):
        verifier.verify("not-a-token-the-server-issued")
    assert proxy.count() == 2


def test_a_clock_stepped_back_asks_the_server_again(op: OidcProvider, proxy: Proxy) -> None:
    """Review 115's rule for every cache on the wall clock: an answer serves from when it
    arrived, so a clock stepped back (an NTP correction) cannot keep it past
    cache_max_ttl; the server is asked again and its revocation is seen."""
    clock = Clock()
    verifier = counted(op, proxy, cache_max_ttl=30, clock=clock)
    token = op.mint()
    verifier.verify(token)
    op.revoke(token)
    clock.offset = 20
    verifier.verify(token)  # within cache_max_ttl: the cached answer
    assert proxy.count() == 1
    clock.offset = -10  # stepped back: 20 s have passed, but the clock says -10
    with pytest.raises(InvalidClaims) as refused:
        verifier.verify(token)
    assert refused.value.detail["problem"] == "not active"
    assert proxy.count() == 2


def test_a_revocation_at_the_server_is_seen_once_the_cached_answer_expires(
    op: OidcProvider, proxy: Proxy
) -> None:
    """RFC 7009 at the authorization server: the active answer is kept cache_max_ttl at
    most, then the token introspects as inactive (kept negative_ttl), and is refused."""
    clock = Clock()
    verifier = counted(op, proxy, cache_max_ttl=30, negative_ttl=5, clock=clock)
    token = op.mint()
    verifier.verify(token)
    op.revoke(token)
    verifier.verify(token)  # still the cached answer: documented staleness
    assert proxy.count() == 1
    clock.offset = 31
    with pytest.raises(InvalidClaims):
        verifier.verify(token)
    assert proxy.count() == 2
    with pytest.raises(InvalidClaims):  # the inactive answer, from the cache
        verifier.verify(token)
    assert proxy.count() == 2
    clock.offset = 37  # past the negative TTL: asked again, still inactive
    with pytest.raises(InvalidClaims):
        verifier.verify(token)
    assert proxy.count() == 3


def test_a_cached_answer_never_outlives_the_token(op: OidcProvider, proxy: Proxy) -> None:
    clock = Clock()
    verifier = counted(op, proxy, audience=SHORT, clock=clock)
    token = op.mint(resource=SHORT)
    verifier.verify(token)
    clock.offset = SHORT_TTL + 1
    with pytest.raises((TokenExpired, InvalidClaims)):
        verifier.verify(token)


# -- claims checked as strictly as a JWT ----------------------------------------------------


def test_wrong_audience_and_wrong_issuer_are_refused(op: OidcProvider, proxy: Proxy) -> None:
    token = op.mint()
    with pytest.raises(InvalidAudience):
        counted(op, proxy, audience="urn:secauth:other").verify(token)
    wrong_issuer = IntrospectionVerifier(
        issuer="https://other.example/",
        audience=ORDERS,
        client=op.client("client_secret_basic"),
        endpoint=proxy.introspection_endpoint,
        allow_http=True,
    )
    with pytest.raises(InvalidIssuer):
        wrong_issuer.verify(token)


def test_the_audience_may_be_the_client_id(op: OidcProvider, proxy: Proxy) -> None:
    verifier = counted(op, proxy, audience="basic-client", audience_claim="client_id")
    assert verifier.verify(op.mint())["client_id"] == "basic-client"
    with pytest.raises(InvalidAudience):
        counted(op, proxy, audience="someone", audience_claim="client_id").verify(op.mint())


def test_revocations_apply_to_introspected_tokens_on_every_verification(
    op: OidcProvider, proxy: Proxy
) -> None:
    revocations = Revocations(MemoryRevocationStore(), max_staleness=0)
    verifier = counted(op, proxy, revocations=revocations)
    token = op.mint()
    verifier.verify(token)
    revocations.revoke_client(op.issuer, "basic-client", before=time.time() + 5)
    with pytest.raises(TokenRevoked):  # a cache hit, checked all the same
        verifier.verify(token)

    async def run() -> None:
        await verifier.verify_async(token)

    with pytest.raises(TokenRevoked):
        asyncio.run(run())
    assert proxy.count() == 1


# -- failures of the endpoint: a retryable 503, never an allow ---------------------------------

FAULTS = [
    "status:500",
    "status:503",
    "status:400",
    "status:401",
    "redirect",
    "slow",
    "huge",
    "body:not json",
    "body:[]",
    'body:{"active": "true"}',
    'body:{"active": 1}',
    'body:{"exp": 4000000000}',
    'body:{"active": true, "exp": "4000000000"}',
    'body:{"active": true, "aud": 7}',
    'body:{"active": true, "iss": ["x"]}',
    'body:{"active": true, "active": true}',
]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_failing_endpoint_is_a_retryable_503(
    op: OidcProvider, proxy: Proxy, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = counted(op, proxy, timeout=0.5, max_bytes=4096, retry_after=0)
    token = op.mint()
    proxy.mode = fault
    caplog.set_level(logging.WARNING)
    for verify in (verifier.verify, lambda t: asyncio.run(verifier.verify_async(t))):
        with pytest.raises(KeysUnavailable) as caught:
            verify(token)
        error = caught.value
        assert (error.status, error.retryable, error.reason) == (503, True, Reason.KEYS_UNAVAILABLE)
        assert error.detail["source"] == "introspection"
        assert "cause" in error.detail
        for text in (str(error), repr(error), caplog.text):
            assert token not in text
            assert op.secret not in text
    proxy.mode = None  # failures are not cached
    assert verifier.verify(token)["aud"] == ORDERS


def test_after_a_failure_new_tokens_get_a_503_at_once_for_retry_after(
    op: OidcProvider, proxy: Proxy
) -> None:
    clock = Clock()
    verifier = counted(op, proxy, retry_after=2, clock=clock)
    proxy.mode = "status:500"
    with pytest.raises(KeysUnavailable):
        verifier.verify(op.mint())
    proxy.mode = None
    with pytest.raises(KeysUnavailable) as caught:
        verifier.verify(op.mint())
    assert caught.value.detail["problem"] == "resting after a failure"
    assert proxy.count() == 1
    clock.offset = 3
    assert verifier.verify(op.mint())["aud"] == ORDERS


@pytest.mark.parametrize(
    ("answer", "claim"),
    [
        ('{"active": true, "aud": "urn:secauth:orders", "exp": 4000000000}', "token_type"),
        (
            '{"active": true, "aud": "urn:secauth:orders", "exp": 4000000000,'
            ' "token_type": "DPoP", "cnf": {"jkt": "x"}}',
            "cnf",
        ),
        (
            '{"active": true, "aud": "urn:secauth:orders", "exp": 4000000000, "token_type": "N_A"}',
            "token_type",
        ),
    ],
)
def test_refresh_and_sender_constrained_tokens_are_refused(
    op: OidcProvider, proxy: Proxy, answer: str, claim: str
) -> None:
    verifier = counted(op, proxy, issuer=None)
    proxy.mode = "body:" + answer
    with pytest.raises(InvalidClaims) as caught:
        verifier.verify("opaque-token-value")
    assert caught.value.detail["claim"] == claim


def test_an_answer_without_exp_is_refused_unless_exp_is_optional(
    op: OidcProvider, proxy: Proxy
) -> None:
    proxy.mode = 'body:{"active": true, "aud": "urn:secauth:orders", "token_type": "Bearer"}'
    with pytest.raises(InvalidClaims):
        counted(op, proxy, issuer=None).verify("opaque-a")
    claims = counted(op, proxy, issuer=None, require_exp=False).verify("opaque-a")
    assert claims == {"aud": ORDERS, "token_type": "Bearer"}


def test_discovery_must_name_the_issuer_exactly(op: OidcProvider) -> None:
    verifier = IntrospectionVerifier(
        issuer=op.issuer + "/",
        audience=ORDERS,
        client=op.client("client_secret_basic"),
        allow_http=True,
        retry_after=0,  # each call fetches discovery again (else it rests after a failure)
    )
    assert verifier.hydrate() is False
    with pytest.raises(KeysUnavailable) as caught:
        verifier.verify(op.mint())
    assert caught.value.detail["cause"]["kind"] == "wrong_issuer"
    assert verifier.endpoint is None


def test_bad_client_credentials_are_a_503_not_an_allow(op: OidcProvider, proxy: Proxy) -> None:
    verifier = counted(op, proxy, client=ClientAuth.basic("basic-client", "wrong-" + op.secret))
    with pytest.raises(KeysUnavailable) as caught:
        verifier.verify(op.mint())
    assert caught.value.detail["cause"] == {"kind": "http_status", "status": 401}


# -- tokens that are never sent ----------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "error"),
    [
        ("", MissingToken),
        ("a b", MalformedToken),
        ("x\r\n", MalformedToken),
        ("=abc", MalformedToken),
        ("é", MalformedToken),
        ("a" * 9000, MalformedToken),
    ],
)
def test_tokens_that_are_no_bearer_tokens_are_refused_without_a_call(
    op: OidcProvider, proxy: Proxy, token: str, error: type[SecAuthError]
) -> None:
    with pytest.raises(error):
        counted(op, proxy).verify(token)
    assert proxy.count() == 0


# -- the combined verifier and the pipeline -------------------------------------------------


def test_combined_verifier_routes_by_shape(op: OidcProvider, proxy: Proxy) -> None:
    pair = KeyPair.generate("ES256", kid="k")
    jwt = JwtVerifier(issuer="https://idp/", audience="api", jwks={"keys": [pair.public_jwk]})
    both = CombinedVerifier(jwt=jwt, introspection=counted(op, proxy))
    assert both.verify(pair.sign({"iss": "https://idp/", "aud": "api", "exp": 4e9}))["aud"] == "api"
    assert proxy.count() == 0
    assert both.verify(op.mint())["aud"] == ORDERS
    assert proxy.count() == 1
    assert looks_like_jwt("a.b.c")
    assert not looks_like_jwt("a.b")
    assert looks_like_jwt("a..c")  # malformed: refused by the JWT verifier, never sent out
    with pytest.raises(SecAuthError):  # JWT-shaped garbage stays with the JWT verifier
        both.verify("aaaa.bbbb.cccc")
    assert proxy.count() == 1


def test_authorizer_and_guard_work_unchanged(op: OidcProvider, proxy: Proxy) -> None:
    verifier = counted(op, proxy)
    routes = Routes({"GET /orders": scopes("orders.read"), "POST /orders": scopes("orders.write")})
    machine = ClaimMapper(id_claim="client_id")
    authorizer = Authorizer(
        verifier, routes=routes, claims=machine, api="http", simple_responses=True
    )
    token = op.mint()
    allowed = authorizer.handler(
        http_authorizer_v2("GET", "/orders", route_key="GET /orders", token=token)
    )
    assert allowed["isAuthorized"] is True
    denied = authorizer.handler(
        http_authorizer_v2("POST", "/orders", route_key="POST /orders", token=token)
    )
    assert denied["isAuthorized"] is False

    guard = Guard(verifier, routes=routes, claims=machine)
    _, principal = guard.check(rest_proxy("GET", "/orders", resource="/orders", token=token))
    assert principal.id == "basic-client"
    assert proxy.count() == 1


def test_the_guard_answers_503_when_the_endpoint_fails(op: OidcProvider, proxy: Proxy) -> None:
    verifier = counted(op, proxy, retry_after=0)
    guard = Guard(verifier, routes=Routes({"GET /orders": scopes("orders.read")}))
    proxy.mode = "status:502"

    @guard
    def handler(event: Any, context: Any) -> dict[str, Any]:
        raise AssertionError("never reached")

    response = handler(rest_proxy("GET", "/orders", resource="/orders", token=op.mint()), None)
    assert response["statusCode"] == 503


# -- configuration ------------------------------------------------------------------------


def test_configuration_is_checked_at_construction() -> None:
    client = ClientAuth.basic("c", "secret-value")
    with pytest.raises(ConfigurationError, match="https"):
        IntrospectionVerifier(
            issuer=None, audience="a", client=client, endpoint="http://idp.example/i"
        )
    with pytest.raises(ConfigurationError, match="loopback"):
        IntrospectionVerifier(
            issuer=None,
            audience="a",
            client=client,
            endpoint="http://idp.example/i",
            allow_http=True,
        )
    with pytest.raises(ConfigurationError, match="endpoint"):
        IntrospectionVerifier(issuer=None, audience="a", client=client)
    with pytest.raises(ConfigurationError):
        IntrospectionVerifier(issuer="https://i/", audience="a", client="secret")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        ClientAuth.basic("c", "")
    with pytest.raises(ConfigurationError):
        ClientAuth.private_key_jwt("c", b"not a key")  # type: ignore[arg-type]
    assert "secret-value" not in repr(client)


def test_both_verifiers_have_the_verifier_shape() -> None:
    from secauth.token_verifier import RevalidatingVerifier

    client = ClientAuth.basic("c", "secret-value")
    opaque = IntrospectionVerifier(issuer="https://i/", audience="a", client=client)
    pair = KeyPair.generate("ES256")
    jwt = JwtVerifier(issuer="https://i/", audience="a", jwks={"keys": [pair.public_jwk]})
    assert isinstance(opaque, RevalidatingVerifier)
    assert isinstance(CombinedVerifier(jwt=jwt, introspection=opaque), RevalidatingVerifier)
    assert opaque.default_claims is None
    assert opaque.revalidate("anything") is False
