"""Review 18: attacks on the fixes of reviews 16 and 17 (memos only while ``revalidate``
vouches, the revocation generation counter, per-call introspection 4xx, the ``$default``
route's stage from the route ARN, ``MethodArn.parse``'s size and encoding checks).

Real servers only, on loopback: panva's oidc-provider (tests/introspection_services.py),
the scripted RFC 7662 server of tests/test_review17_opaque_revocation.py, a LocalIssuer
JWKS endpoint and redis-server (``redis_url``). The finding's test failed before its
fix (it was ``xfail(strict=True)`` until then); attacks that held are pinned by passing
tests.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from typing import Any

import pytest
from hand_clock import Clock
from introspection_services import ORDERS, OidcProvider
from rl_services import slow_first_mget
from scripted_as import ScriptedAS, concurrent_outcomes
from test_review17_opaque_revocation import AUD as AS_AUD
from test_review17_opaque_revocation import ISS as AS_ISS
from test_review17_opaque_revocation import (
    active,
    introspector,
    opaque,
)

from secauth import (
    Authorizer,
    Guard,
    JwtVerifier,
    Routes,
    authenticated,
    roles,
    scopes,
)
from secauth.client_auth import ClientAuth
from secauth.cognito import CognitoVerifier, cognito_issuer
from secauth.combined_verifier import CombinedVerifier
from secauth.errors import (
    ConfigurationError,
    InvalidClaims,
    InvalidMethodArn,
    KeysUnavailable,
    TokenRevoked,
)
from secauth.introspection import IntrospectionVerifier
from secauth.jwks import JwksCache
from secauth.policy import MethodArn, Unauthorized
from secauth.revocation import Revocations
from secauth.revocation_stores import MemoryRevocationStore, RedisRevocationStore
from secauth.testing import KeyPair, LocalIssuer
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
)

ISS_A, ISS_B, AUD = "https://a.review18.test/", "https://b.review18.test/", "api"
PAIR_A, PAIR_B = KeyPair.generate("ES256", kid="a1"), KeyPair.generate("ES256", kid="b1")
DEFAULT_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/{stage}/$default"
ROUTES = Routes({"GET /admin": roles("admin"), "GET /{proxy+}": authenticated()})


def _jwt(pair: KeyPair, iss: str | None, **claims: Any) -> str:
    now = int(time.time())  # an hour's lifetime: within a revocation list's max_token_lifetime
    body: dict[str, Any] = {"iss": iss, "aud": AUD, "sub": "ann", "exp": now + 3600,
                            "iat": now - 5}  # fmt: skip
    body.update(claims)
    return pair.sign({k: v for k, v in body.items() if v is not None})


def _authorizer(verifier: Any, records: list[dict[str, Any]], **options: Any) -> Authorizer:
    options.setdefault("routes", ROUTES)
    return Authorizer(verifier, decision_log=None, on_decision=records.append, **options)


def _outcome(authorizer: Authorizer, event: dict[str, Any]) -> str:
    try:
        response = authorizer.handler(event, None)
    except Unauthorized:
        return "401"
    if "isAuthorized" in response:
        return f"isAuthorized={response['isAuthorized']}"
    return str(response["policyDocument"]["Statement"][0]["Effect"])


# == findings ===============================================================================


def test_refused_client_credentials_rest_the_introspection_verifier(op: OidcProvider) -> None:
    """RFC 7662 2.3: a 401 means the protected resource's credentials are invalid, so it
    answers every call, not "this one call". Review 17 made every 4xx but 429 a per-call
    failure: with a wrong or rotated client secret the verifier no longer spares the
    authorization server for ``retry_after`` but sends it one authenticated-with-a-bad-
    secret call per request (what AS-side client lockouts and WAF rules count)."""
    verifier = IntrospectionVerifier(
        issuer=op.issuer, audience=ORDERS,
        client=ClientAuth.basic("basic-client", "not-the-secret-" + secrets.token_hex(8)),
        endpoint=f"{op.issuer}/token/introspection", allow_http=True, retry_after=60,
    )  # fmt: skip
    tokens = [op.mint() for _ in range(3)]
    causes = []
    for token in tokens:  # legitimate new tokens, one after the other
        with pytest.raises(KeysUnavailable) as caught:
            verifier.verify(token)
        causes.append(caught.value.detail.get("cause", {}).get("status"))
    assert causes[0] == 401  # still a 503 for the call, never an allow (holds)
    assert verifier.calls == 1  # 3 today: the endpoint is never rested


# == attacks that held: the memos and revalidate ===========================================


def test_memoized_answer_of_an_expired_token_is_a_token_expired_401_with_its_record() -> None:
    clock = Clock(1_000_000.0)
    verifier = JwtVerifier(issuer=ISS_A, audience=AUD, jwks={"keys": [PAIR_A.public_jwk]},
                           clock=clock)  # fmt: skip
    records: list[dict[str, Any]] = []
    authorizer = _authorizer(verifier, records, api="rest")
    token = _jwt(PAIR_A, ISS_A, exp=1_000_100, iat=999_990)
    event = request_authorizer("GET", "/orders", token=token)
    assert [_outcome(authorizer, event) for _ in range(3)] == ["Allow"] * 3
    assert verifier.revalidate(token)  # the third answer came from the memo
    clock.now = 1_000_100.0
    for _ in range(2):  # memo path (revalidate raises), then the full pipeline
        assert _outcome(authorizer, event) == "401"
        assert records[-1]["reason"] == "token_expired"
        assert records[-1]["status"] == 401
        assert "principal" not in records[-1]


def test_memoized_answer_is_not_used_once_the_signing_key_is_withdrawn() -> None:
    with LocalIssuer(algs=("ES256",)) as idp:
        keys = JwksCache(idp.jwks_uri, allow_http=True, refetch_cooldown=0)
        verifier = JwtVerifier(issuer=idp.issuer, audience=AUD, jwks=keys)
        records: list[dict[str, Any]] = []
        authorizer = _authorizer(verifier, records, api="rest")
        old = idp.token(aud=AUD, sub="ann")
        event = request_authorizer("GET", "/orders", token=old)
        assert [_outcome(authorizer, event) for _ in range(3)] == ["Allow"] * 3
        withdrawn = idp.key.kid
        idp.rotate()
        idp.remove(withdrawn)
        # A token of the new key makes the verifier fetch the key set again.
        new = idp.token(aud=AUD, sub="bob")
        assert _outcome(authorizer, request_authorizer("GET", "/x", token=new)) == "Allow"
        assert not verifier.revalidate(old)
        assert _outcome(authorizer, event) == "401"
        assert records[-1]["reason"] == "unknown_key"


def test_one_issuers_cache_never_vouches_for_a_token_of_an_issuer_with_revocations() -> None:
    revocations = Revocations(MemoryRevocationStore())
    multi = JwtVerifier.multi(
        JwtVerifier(issuer=ISS_A, audience=AUD, jwks={"keys": [PAIR_A.public_jwk]}),
        JwtVerifier(issuer=ISS_B, audience=AUD, jwks={"keys": [PAIR_B.public_jwk]},
                    revocations=revocations),
    )  # fmt: skip
    records: list[dict[str, Any]] = []
    authorizer = _authorizer(multi, records, api="rest")
    token_a, token_b = _jwt(PAIR_A, ISS_A), _jwt(PAIR_B, ISS_B)
    event_a = request_authorizer("GET", "/orders", token=token_a)
    event_b = request_authorizer("GET", "/orders", token=token_b)
    for _ in range(3):
        assert _outcome(authorizer, event_a) == _outcome(authorizer, event_b) == "Allow"
    assert multi.revalidate(token_a)
    assert not multi.revalidate(token_b)  # B needs the claims: never from the memo
    assert not multi.verifiers[ISS_A].revalidate(token_b)
    revocations.revoke_subject(ISS_B, "ann", before=time.time() + 60)
    assert _outcome(authorizer, event_b) == "401"
    assert records[-1]["reason"] == "token_revoked"
    assert _outcome(authorizer, event_a) == "Allow"  # A's tokens are not in B's list
    multi.verifiers[ISS_A].clear_cache()
    assert not multi.revalidate(token_a)


def test_async_guard_with_a_combined_verifier_follows_each_tokens_verifier(
    scripted: ScriptedAS,
) -> None:
    clock, token = Clock(time.time()), opaque()
    scripted.answer(token, active(clock.now, scope="orders.read orders.write"))
    pair = KeyPair.generate("ES256", kid="j1")
    both = CombinedVerifier(
        jwt=JwtVerifier(issuer=AS_ISS, audience=AS_AUD, jwks={"keys": [pair.public_jwk]},
                        clock=clock),
        introspection=introspector(scripted, clock=clock, cache_max_ttl=60),
    )  # fmt: skip
    guard = Guard(both, routes=Routes({"POST /orders": scopes("orders.write")}),
                  decision_log=None)  # fmt: skip

    async def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ok"}

    wrapped = guard(handler)
    jwt = pair.sign({"iss": AS_ISS, "aud": AS_AUD, "sub": "jo", "scope": "orders.write",
                     "exp": clock.now + 30})  # fmt: skip

    async def run() -> list[int]:
        codes = []
        for sent in (token, token, jwt, jwt, jwt):
            response = await wrapped(http_proxy("POST", "/orders", token=sent, body="{}"), None)
            codes.append(response["statusCode"])
        scripted.answer(token, active(clock.now, scope="orders.read"))  # narrowed
        clock.now += 61  # past cache_max_ttl, and past the JWT's exp
        for sent in (token, jwt):
            response = await wrapped(http_proxy("POST", "/orders", token=sent, body="{}"), None)
            codes.append(response["statusCode"])
        return codes

    assert asyncio.run(run()) == [200, 200, 200, 200, 200, 403, 401]
    assert both.introspection.calls == 2


# == attacks that held: revocations ========================================================


def test_no_check_running_across_a_local_revocation_brings_back_a_not_revoked_verdict(
    redis_url: str,
) -> None:
    """Many threads check the same claims (on a real redis) while this container revokes;
    once revoke_subject has returned, every check started afterwards refuses the token."""
    revocations = Revocations(RedisRevocationStore(redis_url), max_staleness=30)
    claims = {"iss": ISS_A, "sub": "ann", "client_id": "web", "iat": int(time.time()) - 5}
    revoked = threading.Event()
    stop = threading.Event()
    failures: list[str] = []
    start = threading.Barrier(9)

    def worker() -> None:
        start.wait()
        while not stop.is_set():
            after = revoked.is_set()  # read before the check starts
            try:
                revocations.check(claims)
                if after:
                    failures.append("accepted after the revocation")
            except TokenRevoked:
                pass
            except Exception as exc:
                failures.append(type(exc).__name__)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    start.wait()
    for _ in range(50):  # let the checks and the memory churn
        revocations.forget_cached()
    revocations.revoke_subject(ISS_A, "ann", before=time.time() + 60)
    revoked.set()
    for _ in range(200):
        with pytest.raises(TokenRevoked):
            revocations.check(claims)
    stop.set()
    for thread in threads:
        thread.join(10)
    assert failures == []


def test_check_async_in_flight_across_a_local_revocation_is_not_kept(redis_url: str) -> None:
    client, entered, release = slow_first_mget(redis_url)
    revocations = Revocations(RedisRevocationStore(client=client), max_staleness=30)
    claims = {"iss": ISS_A, "sub": "ann", "iat": int(time.time()) - 5}

    async def run() -> None:
        in_flight = asyncio.create_task(revocations.check_async(claims))
        while not entered.is_set():
            await asyncio.sleep(0)
        revocations.revoke_subject(ISS_A, "ann", before=time.time() + 60)
        release.set()
        await in_flight  # read "not revoked" before the revocation: its own answer
        with pytest.raises(TokenRevoked):
            await revocations.check_async(claims)

    try:
        asyncio.run(run())
    finally:
        client.close()


def test_builtin_verifiers_with_revocations_always_name_an_issuer(scripted: ScriptedAS) -> None:
    """revocation_keys refuses claims without iss: Cognito and introspection (issuer
    required, also by discovery) always have one; a JwtVerifier(issuer=None) token without
    iss is a 401 invalid_claims (documented), never an internal error."""
    revocations = Revocations(MemoryRevocationStore())
    pool = "eu-west-1_AbC123"
    cognito = CognitoVerifier(user_pool_id=pool, client_id="app", token_use="access",
                              jwks={"keys": [PAIR_A.public_jwk]}, revocations=revocations)  # fmt: skip
    issuer = cognito_issuer(pool, "eu-west-1", "updated")
    token = PAIR_A.sign({"iss": issuer, "client_id": "app", "token_use": "access",
                         "sub": "ann", "exp": time.time() + 3600, "iat": time.time() - 5})  # fmt: skip
    assert cognito.verify(token)["sub"] == "ann"
    revocations.revoke_subject(cognito_issuer(pool, "eu-west-1"), "ann", before=time.time() + 60)
    with pytest.raises(TokenRevoked):
        cognito.verify(token)
    # Discovery-based construction with revocations, and a CombinedVerifier around it.
    scripted.discovery = {"issuer": scripted.origin, "introspection_endpoint": scripted.url}
    discovered = IntrospectionVerifier(
        issuer=scripted.origin, audience=AS_AUD, client=ClientAuth.basic("rs", "s3cret-value"),
        allow_http=True, revocations=Revocations(MemoryRevocationStore()),
    )  # fmt: skip
    both = CombinedVerifier(jwt=JwtVerifier(issuer=scripted.origin, audience=AS_AUD,
                                            jwks={"keys": [PAIR_B.public_jwk]}),
                            introspection=discovered)  # fmt: skip
    opaque_token = opaque()
    scripted.answer(opaque_token, active(time.time(), iss=scripted.origin))
    assert both.verify(opaque_token)["iss"] == scripted.origin
    # issuer=None JwtVerifier with a list: an iss-less token is refused as invalid_claims.
    loose = JwtVerifier(issuer=None, audience=AUD, jwks={"keys": [PAIR_B.public_jwk]},
                        revocations=Revocations(MemoryRevocationStore()))  # fmt: skip
    with pytest.raises(InvalidClaims):
        loose.verify(_jwt(PAIR_B, None))
    records: list[dict[str, Any]] = []
    authorizer = _authorizer(loose, records, api="rest")
    event = request_authorizer("GET", "/orders", token=_jwt(PAIR_B, None))
    assert _outcome(authorizer, event) == "401"
    assert records[-1]["reason"] == "invalid_claims"
    assert _outcome(authorizer, request_authorizer("GET", "/o", token=_jwt(PAIR_B, ISS_B))) == (
        "Allow"
    )


# == attacks that held: introspection 4xx ==================================================


def test_a_4xx_is_a_503_for_every_waiter_with_one_call_and_never_cached(
    scripted: ScriptedAS,
) -> None:
    token = opaque()
    scripted.answer(token, {"error": "invalid_request"}, status=413)
    scripted.delay = 0.3  # the waiters overlap the leader's call
    verifier = introspector(scripted, retry_after=60)
    assert concurrent_outcomes(verifier.verify, token, 12) == ["503"] * 12
    assert scripted.count() == 1  # single flight per token
    scripted.delay = 0.0
    scripted.answer(token, active(time.time()))  # the failure was not kept
    assert verifier.verify(token)["sub"] == "ann"
    with pytest.raises(ConfigurationError):
        introspector(scripted, issuer=None, revocations=Revocations(MemoryRevocationStore()))


# == attacks that held: the $default route's stage, and MethodArn.parse ====================


@pytest.mark.parametrize("build", [http_authorizer_v1, http_authorizer_v2])
def test_default_route_strips_only_the_route_arns_named_stage(build: Any) -> None:
    records: list[dict[str, Any]] = []
    authorizer = _authorizer(
        JwtVerifier(issuer=ISS_A, audience=AUD, jwks={"keys": [PAIR_A.public_jwk]}), records
    )
    token = _jwt(PAIR_A, ISS_A)

    def outcome(raw_path: str, stage: str) -> str:
        event = build("GET", "/x", token=token, stage=stage)
        if "routeArn" in event:  # payload 2.0: rawPath (and http.path) as sent
            event["routeArn"] = DEFAULT_ARN.format(stage=stage)
            event["rawPath"] = event["requestContext"]["http"]["path"] = raw_path
        else:
            event["methodArn"] = DEFAULT_ARN.format(stage=stage)
            event["path"] = raw_path
        return _outcome(authorizer, event)

    for _ in range(3):  # memo warm: the same answers
        assert outcome("/prod/admin", "prod").endswith(("Deny", "False"))  # stage stripped
        assert outcome("/admin", "prod").endswith(("Deny", "False"))  # custom domain
        assert outcome("/prod/orders", "prod").endswith(("Allow", "True"))
        assert outcome("/prod/prod/admin", "prod").endswith(("Allow", "True"))  # one stage
        # $default stage: nothing stripped; "/$default/admin" is a path of the catch-all.
        assert outcome("/$default/admin", "$default").endswith(("Allow", "True"))
        assert outcome("/admin", "$default").endswith(("Deny", "False"))
    assert {r.get("path") for r in records} >= {
        "/admin",
        "/orders",
        "/prod/admin",
        "/$default/admin",
    }


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/\ud800",
        "arn:aws:execute-api:us-east-1:123456789012:abc/\udfff/GET/x",
        "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/" + "\u00e9" * 790,
        "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/" + "\U0001f600" * 399,
        "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/a\x00b",
        "arn:aws:execute-api:us-east-1:123456789012:abc/prod/\u0130/x",
        "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/${aws:username}",
        "arn:aws:execute-api:us-east-1:123456789012:abc/prod/$default\ud800",
    ],
)
def test_method_arn_parse_raises_only_invalid_method_arn(arn: str) -> None:
    with pytest.raises(InvalidMethodArn):
        MethodArn.parse(arn)
    records: list[dict[str, Any]] = []
    authorizer = _authorizer(
        JwtVerifier(issuer=ISS_A, audience=AUD, jwks={"keys": [PAIR_A.public_jwk]}), records
    )
    event = http_authorizer_v2("GET", "/x", token=_jwt(PAIR_A, ISS_A))
    event["routeArn"] = arn
    _outcome(authorizer, event)
    assert records[-1]["reason"] == "bad_request"
