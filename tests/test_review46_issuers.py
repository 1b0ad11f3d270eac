"""Adversarial review 46: the issuer- and key-selection layer.

Areas: the multi-issuer verifier and what the Authorizer and Guard make of its tokens
(``multi_issuer.py``, ``authorizer.py``, ``guard.py``, ``principal.py``), Cognito
(``cognito.py``), key sets and the JWKS cache (``jwks.py``, ``key_sets.py``, ``jwk.py``),
the verified-token cache (``verifier.py``, ``token_cache.py``), the combined verifier
(``combined_verifier.py``) and claim mapping.

Every server is on 127.0.0.1 (``LocalIssuer``, ``LocalCognito`` or the small
introspection endpoint below); no mocks. A test asserts the secure behaviour; one marked
``xfail`` with ``FINDING`` fails today because of the weakness its reason names.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from guard_events import rest_v1
from hand_clock import Clock

from secauth import Guard, Principal, Routes, authenticated
from secauth.authorizer import Authorizer
from secauth.client_auth import ClientAuth
from secauth.cognito import cognito_issuer
from secauth.combined_verifier import CombinedVerifier
from secauth.errors import (
    ConfigurationError,
    InvalidAudience,
    InvalidClaims,
    InvalidIssuer,
    InvalidSignature,
    Reason,
    SecAuthError,
    TokenExpired,
    UnknownKey,
)
from secauth.introspection import IntrospectionVerifier
from secauth.jwks import JwksCache
from secauth.multi_issuer import MultiIssuerVerifier
from secauth.principal import ClaimMapper, context_expiry
from secauth.testing import KeyPair, LocalIssuer
from secauth.testing_cognito import LocalCognito
from secauth.verifier import JwtVerifier

FAR = 4_000_000_000
ARN = "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod/GET/orders/7"
POOL = "eu-west-1_Review46Pool"
ROUTES = {"GET /orders/{id}": authenticated()}


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
def two_issuers() -> Iterator[tuple[LocalIssuer, LocalIssuer]]:
    # Both publish their ES256 key under the same kid, "key-1".
    with LocalIssuer(algs=("ES256",)) as a, LocalIssuer(algs=("ES256",), issuer_path="/b") as b:
        yield a, b


def multi_for(
    a: LocalIssuer, b: LocalIssuer, clock: Clock | None = None, **options: Any
) -> MultiIssuerVerifier:
    timing: dict[str, Any] = {"clock": clock} if clock is not None else {}
    return JwtVerifier.multi(
        JwtVerifier(issuer=a.issuer, audience="api", **timing, **options,
                    jwks=JwksCache(a.jwks_uri, allow_http=True, **timing)),
        JwtVerifier(issuer=b.issuer, audience="api", **timing, **options,
                    jwks=JwksCache(b.jwks_uri, allow_http=True, **timing)),
    )  # fmt: skip


def refused(verifier: Any, token: str) -> SecAuthError:
    with pytest.raises(SecAuthError) as caught:
        verifier.verify(token)
    return caught.value


def token_event(token: str) -> dict[str, Any]:
    return {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": ARN}


class IntrospectionEndpoint:
    """A loopback RFC 7662 endpoint that records every token it is asked about and
    answers ``{"active": false}``."""

    def __init__(self) -> None:
        self.posts: list[bytes] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                endpoint.posts.append(body)
                answer = b'{"active": false}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/introspect"

    def __enter__(self) -> IntrospectionEndpoint:
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def combined() -> Iterator[tuple[LocalIssuer, IntrospectionEndpoint, CombinedVerifier]]:
    with LocalIssuer(algs=("ES256",)) as idp, IntrospectionEndpoint() as endpoint:
        both = CombinedVerifier(
            jwt=JwtVerifier(issuer=idp.issuer, audience="api",
                            jwks=JwksCache(idp.jwks_uri, allow_http=True)),
            introspection=IntrospectionVerifier(
                issuer=idp.issuer, audience="api", endpoint=endpoint.url, allow_http=True,
                client=ClientAuth.basic("api", "s3cret-value-review46")),
        )  # fmt: skip
        yield idp, endpoint, both


# --- several issuers: who the caller is ------------------------------------------------------


def test_same_sub_from_two_issuers_is_two_principals(
    two_issuers: tuple[LocalIssuer, LocalIssuer],
) -> None:
    """Issuer B (a partner IdP, a dev IdP, any issuer whose users choose or guess their
    ``sub``) mints ``sub: alice``; issuer A's alice is someone else. The verified tokens
    must not turn into the same principal, the same authorizer context (which the
    function's Guard and backend trust) or the same decision record."""
    a, b = two_issuers
    multi = multi_for(a, b)
    authorizer = Authorizer(multi, routes=Routes(ROUTES))
    ours, theirs = (i.token(aud="api", sub="alice", exp=FAR) for i in (a, b))
    answers = [authorizer.handler(token_event(t)) for t in (ours, theirs)]
    assert [x["policyDocument"]["Statement"][0]["Effect"] for x in answers] == ["Allow"] * 2
    mapper = ClaimMapper()
    assert mapper.map(multi.verify(ours)) != mapper.map(multi.verify(theirs))
    assert (answers[0]["principalId"], answers[0]["context"]) != (
        answers[1]["principalId"],
        answers[1]["context"],
    )


def test_the_issuer_travels_with_the_principal(two_issuers: tuple[LocalIssuer, LocalIssuer]) -> None:
    """The context and the decision record name the issuer; the Guard's agreement check
    refuses a context of one issuer's alice beside a token of another's; a context written
    before secauth_issuer existed still reads (its issuer unknown)."""
    a, b = two_issuers
    multi = multi_for(a, b)
    records: list[Any] = []
    authorizer = Authorizer(multi, routes=Routes(ROUTES), decision_log=None,
                            on_decision=records.append)  # fmt: skip
    ours, theirs = (i.token(aud="api", sub="alice", exp=FAR) for i in (a, b))
    context = authorizer.handler(token_event(ours))["context"]
    assert context["secauth_issuer"] == a.issuer
    assert records[-1]["issuer"] == a.issuer
    principal = Principal.from_context(context)
    assert (principal.id, principal.issuer) == ("alice", a.issuer)
    legacy = {k: v for k, v in context.items() if k != "secauth_issuer"}
    assert Principal.from_context(legacy).issuer is None
    guard = Guard(multi, routes=Routes(ROUTES), trust_authorizer=True, decision_log=None,
                  on_decision=records.append)  # fmt: skip
    handler = guard(lambda event, context: {"statusCode": 200})

    def call(token: str, authorizer_context: dict[str, str]) -> int:
        event = rest_v1(authorization=f"Bearer {token}")
        event["requestContext"]["authorizer"] = dict(authorizer_context)
        return int(handler(event, None)["statusCode"])

    assert call(ours, context) == 200
    assert call(theirs, context) == 401  # B's alice under A's alice's context
    assert records[-1]["reason"] == "invalid_claims"
    assert call(theirs, legacy) == 200  # no issuer named: id and tenant agree


def test_members_sharing_one_jwks_cache_share_no_verified_tokens() -> None:
    """Two APIs, one IdP, one key cache: a token cached by the first API's verifier is
    not a cache hit (nor a revalidation) for the second's audience."""
    with LocalIssuer(algs=("ES256",)) as idp:
        keys = JwksCache(idp.jwks_uri, allow_http=True)
        first = JwtVerifier(issuer=idp.issuer, audience="api-1", jwks=keys)
        second = JwtVerifier(issuer=idp.issuer, audience="api-2", jwks=keys)
        token = idp.token(aud="api-1", sub="alice")
        first.verify(token)
        first.verify(token)
        assert first.revalidate(token) is True
        assert second.revalidate(token) is False
        with pytest.raises(InvalidAudience):
            second.verify(token)
        assert idp.fetches == 1


def test_member_leeway_is_per_issuer_not_the_largest(
    two_issuers: tuple[LocalIssuer, LocalIssuer],
) -> None:
    a, b = two_issuers
    strict = JwtVerifier(
        issuer=a.issuer, audience="api", jwks=JwksCache(a.jwks_uri, allow_http=True)
    )
    lax = JwtVerifier(issuer=b.issuer, audience="api", leeway=300,
                      jwks=JwksCache(b.jwks_uri, allow_http=True))  # fmt: skip
    multi = JwtVerifier.multi(strict, lax)
    assert multi.leeway == 300
    past = int(time.time()) - 10
    assert isinstance(refused(multi, a.token(aud="api", exp=past, iat=past - 60)), TokenExpired)
    assert multi.verify(b.token(aud="api", exp=past, iat=past - 60))["iss"] == b.issuer


def test_nested_cognito_member_keeps_its_token_use_and_client_checks() -> None:
    with LocalCognito(POOL, client_id="app") as pool, LocalIssuer(algs=("ES256",)) as other:
        multi = JwtVerifier.multi(
            JwtVerifier.cognito(user_pool_id=POOL, client_id="app", token_use="access",
                                jwks_uris=pool.jwks_uris, allow_http=True),
            JwtVerifier(issuer=other.issuer, audience="app",
                        jwks=JwksCache(other.jwks_uri, allow_http=True)),
        )  # fmt: skip
        assert multi.verify(pool.access_token(groups=["admin"]))["token_use"] == "access"
        # An ID token that also names the client where an access token does: token_use.
        home = pool.servers[pool.issuer()]
        id_token = home.token(
            iss=pool.issuer(), sub="x", aud="app", client_id="app", token_use="id"
        )
        assert refused(multi, id_token).reason is Reason.INVALID_CLAIMS
        assert refused(multi, pool.access_token(client_id="other-app")).reason is (
            Reason.INVALID_AUDIENCE
        )
        # The plain issuer's token cannot borrow the pool's checks or key either.
        assert multi.verify(other.token(aud="app"))["iss"] == other.issuer
        assert multi.default_claims is None  # mixed issuers: no Cognito mapping for all


def test_authorizer_memo_drops_an_answer_once_its_issuer_withdraws_the_key(
    two_issuers: tuple[LocalIssuer, LocalIssuer],
) -> None:
    a, b = two_issuers
    clock = Clock(time.time())
    authorizer = Authorizer(multi_for(a, b, clock), routes=Routes(ROUTES))
    event = token_event(a.token(aud="api", sub="alice", lifetime=7200))
    for _ in range(3):  # noted, kept, then answered from the memo
        assert authorizer.handler(event)["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert a.fetches == 1
    withdrawn = a.key.kid
    a.rotate()
    a.remove(withdrawn)
    clock.now += 601  # the key set is due for a refresh
    with pytest.raises(Exception, match="Unauthorized"):
        authorizer.handler(event)
    assert a.fetches == 2


# --- Cognito -------------------------------------------------------------------------------


def test_cognito_shared_jwks_key_of_one_issuer_never_verifies_another() -> None:
    """docs/verifier.md: "a key of one issuer never verifies a token naming another". One
    ``jwks=`` for every Region's issuers would let the replica Region's key verify a token
    naming the home Region: refused at construction; per-issuer keys hold."""
    with LocalCognito(POOL, client_id="app", regions=["eu-central-1"]) as pool:
        with pytest.raises(ConfigurationError, match="additional_regions"):
            JwtVerifier.cognito(user_pool_id=POOL, client_id="app", token_use="access",
                                additional_regions=["eu-central-1"], jwks=pool.jwks())  # fmt: skip
        verifier = JwtVerifier.cognito(user_pool_id=POOL, client_id="app", token_use="access",
                                       additional_regions=["eu-central-1"],
                                       jwks_uris=pool.jwks_uris, allow_http=True)  # fmt: skip
        replica_key = pool.servers[pool.issuer("eu-central-1")].key
        forged = replica_key.sign({"iss": pool.issuer(), "client_id": "app", "sub": "x",
                                   "token_use": "access", "exp": FAR})  # fmt: skip
        assert refused(verifier, forged).reason in (Reason.INVALID_SIGNATURE, Reason.UNKNOWN_KEY)


def test_cognito_pool_of_the_replica_region_with_the_same_suffix_is_not_ours() -> None:
    suffix = POOL.partition("_")[2]
    impostor = f"eu-central-1_{suffix}"
    with LocalCognito(POOL, client_id="app", regions=["eu-central-1"]) as pool:
        verifier = JwtVerifier.cognito(user_pool_id=POOL, client_id="app", token_use="access",
                                       additional_regions=["eu-central-1"],
                                       jwks_uris=pool.jwks_uris, allow_http=True)  # fmt: skip
        assert verifier.verify(pool.access_token(region="eu-central-1"))["client_id"] == "app"
        for form in ("original", "updated"):
            token = pool.access_token(
                region="eu-central-1", iss=cognito_issuer(impostor, "eu-central-1", form)
            )
            assert isinstance(refused(verifier, token), InvalidIssuer)
        assert all(server.fetches <= 1 for server in pool.servers.values())


def test_cognito_tenant_from_id_token_attribute_is_never_empty_for_access_tokens() -> None:
    """``custom:`` attributes are in ID tokens only: an access token mapped with a tenant
    mapper is refused, never a principal without tenant."""
    mapper = ClaimMapper.cognito(tenant_claim="custom:tenant_id")
    with LocalCognito(POOL, client_id="app") as pool:
        common = {"user_pool_id": POOL, "client_id": "app", "jwks": pool.jwks()}
        ids = JwtVerifier.cognito(token_use="id", **common)
        access = JwtVerifier.cognito(token_use="access", **common)
        principal = mapper.map(ids.verify(pool.id_token(**{"custom:tenant_id": "acme"})))
        assert principal.tenant == "acme"
        with pytest.raises(InvalidClaims):
            mapper.map(access.verify(pool.access_token(groups=["admin"])))


# --- key sets and the JWKS cache -------------------------------------------------------------


def test_same_kid_rsa_keys_bound_to_different_algs_never_cross_verify() -> None:
    rs = KeyPair.generate("RS256", kid="k")
    ps = KeyPair.generate("PS256", kid="k")
    verifier = JwtVerifier(issuer="https://i/", audience="api",
                           jwks={"keys": [rs.public_jwk, ps.public_jwk]})  # fmt: skip
    claims = {"iss": "https://i/", "aud": "api", "exp": FAR}
    assert verifier.verify(rs.sign(claims))["aud"] == "api"
    assert verifier.verify(ps.sign(claims))["aud"] == "api"
    for forged in (rs.sign(claims, alg="PS256"), ps.sign(claims, alg="RS256")):
        assert isinstance(refused(verifier, forged), InvalidSignature)


def test_refresh_that_makes_a_kid_ambiguous_drops_cached_tokens_of_that_kid() -> None:
    with LocalIssuer(algs=("ES256",)) as idp:
        clock = Clock(time.time())
        verifier = JwtVerifier(
            issuer=idp.issuer,
            audience="api",
            clock=clock,
            jwks=JwksCache(idp.jwks_uri, allow_http=True, clock=clock),
        )
        token = idp.token(aud="api", lifetime=7200)
        verifier.verify(token)
        verifier.verify(token)
        assert verifier.revalidate(token) is True
        # A second key appears under the trusted kid (an injected or stale key).
        idp.keys.append(KeyPair.generate("ES256", kid=idp.key.kid))
        clock.now += 601
        assert verifier.revalidate(token) is False
        assert isinstance(refused(verifier, token), UnknownKey)
        assert idp.fetches == 2


def test_async_random_kid_flood_after_the_cooldown_costs_one_fetch() -> None:
    with LocalIssuer(algs=("ES256",)) as idp:
        clock = Clock()
        keys = JwksCache(idp.jwks_uri, allow_http=True, clock=clock)
        verifier = JwtVerifier(issuer=idp.issuer, audience="api", jwks=keys)
        assert keys.hydrate()
        claims = {"iss": idp.issuer, "aud": "api", "exp": FAR}
        tokens = [idp.key.sign(claims, headers={"kid": f"made-up-{n}"}) for n in range(40)]

        async def flood() -> list[Any]:
            return await asyncio.gather(
                *(verifier.verify_async(t) for t in tokens), return_exceptions=True
            )

        assert all(isinstance(r, UnknownKey) for r in asyncio.run(flood()))
        assert idp.fetches == 1  # inside the cooldown: no fetch
        clock.now += 31
        assert all(isinstance(r, UnknownKey) for r in asyncio.run(flood()))
        assert idp.fetches == 2  # past it: one fetch for all 40


def test_kid_flood_on_one_issuer_does_not_hold_back_anothers_rotation(
    two_issuers: tuple[LocalIssuer, LocalIssuer],
) -> None:
    a, b = two_issuers
    clock = Clock(time.time())
    multi = multi_for(a, b, clock)
    assert multi.hydrate()
    clock.now += 31
    for n in range(20):
        forged = a.key.sign({"iss": a.issuer, "aud": "api", "exp": FAR},
                            headers={"kid": f"made-up-{n}"})  # fmt: skip
        assert isinstance(refused(multi, forged), UnknownKey)
    b.rotate()  # B's new kid, key-2, is new to the cache: it must still be fetched
    assert multi.verify(b.token(aud="api"))["iss"] == b.issuer
    assert (a.fetches, b.fetches) == (2, 2)


# --- the verified-token cache and the memos ---------------------------------------------------


def test_claims_of_a_cache_hit_are_unaffected_by_what_callers_did_to_earlier_claims() -> None:
    pair = KeyPair.generate("ES256", kid="k")
    verifier = JwtVerifier(issuer="https://i/", audience="api", jwks={"keys": [pair.public_jwk]})
    token = pair.sign({"iss": "https://i/", "aud": "api", "exp": FAR, "sub": "u",
                       "groups": ["viewer"], "org": {"roles": ["member"]}})  # fmt: skip
    for _ in range(2):  # the first is noted, the second kept
        claims = verifier.verify(token)
        claims["groups"].append("admin")
        claims["org"]["roles"].append("owner")
        claims["sub"] = "root"
    assert verifier.revalidate(token) is True
    hit = verifier.verify(token)
    assert (hit["sub"], hit["groups"], hit["org"]) == ("u", ["viewer"], {"roles": ["member"]})


# --- the combined verifier ------------------------------------------------------------------


@pytest.mark.parametrize(
    "respell",
    [
        pytest.param(lambda t: t + "==", id="base64-padded-signature"),
        pytest.param(lambda t: t + ".", id="trailing-dot"),
    ],
)
def test_combined_never_sends_a_jwt_to_the_introspection_endpoint(
    combined: tuple[LocalIssuer, IntrospectionEndpoint, CombinedVerifier], respell: Any
) -> None:
    """docs/opaque-tokens.md: "A JWT never leaves the function". A real, valid JWT spelled
    with base64 padding (as an ALB pads its tokens) or a stray dot is sent, whole, to the
    authorization server."""
    idp, endpoint, both = combined
    token = idp.token(aud="api", sub="alice")
    assert both.verify(token)["sub"] == "alice"
    refused(both, respell(token))
    assert endpoint.posts == []


def test_combined_jwt_refused_on_the_jwt_path_is_never_introspected(
    combined: tuple[LocalIssuer, IntrospectionEndpoint, CombinedVerifier],
) -> None:
    idp, endpoint, both = combined
    stranger = KeyPair.generate("ES256", kid=idp.key.kid)
    past = int(time.time()) - 600
    attempts = [
        stranger.sign({"iss": idp.issuer, "aud": "api", "exp": FAR}),  # a forged signature
        idp.token(aud="api", iss="https://elsewhere.example/"),  # another issuer
        idp.token(aud="other-api"),  # another audience
        idp.token(aud="api", exp=past, iat=past - 60),  # expired
        idp.key.sign({"iss": idp.issuer, "aud": "api", "exp": FAR}, headers={"kid": "nope"}),
        idp.token(aud="api").rpartition(".")[0] + ".",  # signature stripped
    ]
    for token in attempts:
        refused(both, token)
    assert endpoint.posts == []
    assert both.revalidate(attempts[0]) is False


# --- claim mapping and time claims ------------------------------------------------------------


def test_nested_tenant_path_and_dotted_claim_name_are_never_confused() -> None:
    claims = {"sub": "u", "org.id": "evil", "org": {"id": "acme"}}
    assert ClaimMapper(tenant_claim=("org", "id")).map(claims).tenant == "acme"
    assert ClaimMapper(tenant_claim="org.id").map(claims).tenant == "evil"
    with pytest.raises(InvalidClaims):  # a dotted name never walks into objects
        ClaimMapper(tenant_claim="org.id").map({"sub": "u", "org": {"id": "acme"}})
    with pytest.raises(InvalidClaims):  # nor does a path read a dotted top-level name
        ClaimMapper(tenant_claim=("org", "id")).map({"sub": "u", "org.id": "acme"})
    with pytest.raises(InvalidClaims):  # an array where an object belongs
        ClaimMapper(tenant_claim=("org", "id")).map({"sub": "u", "org": [{"id": "acme"}]})


def test_exp_at_two_to_the_53_round_trips_and_one_more_is_refused() -> None:
    pair = KeyPair.generate("EdDSA", kid="k")
    verifier = JwtVerifier(issuer="https://i/", audience="api", jwks={"keys": [pair.public_jwk]})
    base = {"iss": "https://i/", "aud": "api", "sub": "u"}
    claims = verifier.verify(pair.sign({**base, "exp": 2**53}))
    assert context_expiry(ClaimMapper().map(claims).to_context()) == 2**53
    assert isinstance(refused(verifier, pair.sign({**base, "exp": 2**53 + 1})), InvalidClaims)
