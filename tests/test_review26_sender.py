"""Adversarial review 26: sender-constrained tokens (DPoP, RFC 9449; certificate-bound
tokens, RFC 8705) in the Authorizer, the Guard and the Powertools middleware.

The first tests are findings (xfail until fixed); the rest are attacks that failed, kept as
regression tests. Real keys and proofs (``DpopKey``), real events (``testing_events``), a
real redis-server and dynalite on loopback (``tests/conftest.py``)."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest
from dpop_parties import AUD, CLIENT, HOST, ISS, ISSUER, TOKEN, URL, VERIFIER, token
from oidc_bound_helpers import certificate

from secauth import Authorizer, Guard
from secauth._b64 import b64url_encode
from secauth.dpop import DpopVerifier, access_token_hash, jwk_thumbprint
from secauth.dpop_nonce import DpopNonces
from secauth.dpop_replay import DynamoDBReplayStore, MemoryReplayStore, RedisReplayStore
from secauth.errors import ConfigurationError, InvalidDpopProof
from secauth.events import Request
from secauth.policy import Unauthorized
from secauth.sender_constraint import SenderConstraint, certificate_thumbprint
from secauth.testing import encode_segment, sign_compact
from secauth.testing_dpop import DpopKey
from secauth.testing_events import (
    function_url,
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    rest_proxy,
)
from secauth.token_sources import TokenSource

REST_URL = f"{HOST}/prod/orders/7"  # a REST API's execute-api URL holds the stage
FUNCTION_HOST = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws"
CUSTOM = "api.example.com"


def _ok(event: Any, context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


def guarded(dpop: DpopVerifier | None = None, records: list[dict[str, Any]] | None = None,
            **options: Any) -> Any:  # fmt: skip
    constraint = options.pop("constraint", None) or SenderConstraint(
        dpop=dpop or DpopVerifier(replay=MemoryReplayStore())
    )
    sink = records.append if records is not None else None
    guard = Guard(VERIFIER, decision_log=None, on_decision=sink, sender_constraint=constraint,
                  **options)  # fmt: skip
    return guard(_ok)


def dpop_headers(proof: str | None, value: str = TOKEN, scheme: str = "DPoP") -> dict[str, str]:
    headers = {"authorization": f"{scheme} {value}"}
    if proof is not None:
        headers["dpop"] = proof
    return headers


def http_event(proof: str | None, value: str = TOKEN, scheme: str = "DPoP") -> dict[str, Any]:
    return http_proxy("GET", "/orders/7", headers=dpop_headers(proof, value, scheme))


def authorizer(dpop: DpopVerifier | None = None, **options: Any) -> Authorizer:
    constraint = SenderConstraint(dpop=dpop or DpopVerifier(replay=MemoryReplayStore()))
    return Authorizer(VERIFIER, decision_log=None, sender_constraint=constraint, **options)


def allowed(auth: Authorizer, event: dict[str, Any]) -> bool:
    """True for an Allow; False for a Deny or a 401 (REST authorizers raise for it)."""
    try:
        response = auth.handler(event, None)
    except Unauthorized:
        return False
    return bool(response["policyDocument"]["Statement"][0]["Effect"] == "Allow")


MINE, THEIRS = certificate("partner-a"), certificate("partner-b")


def cert_token(bound: str, **claims: Any) -> str:
    body = {"iss": ISS, "aud": AUD, "sub": "partner-a", "exp": int(time.time()) + 600,
            "cnf": {"x5t#S256": bound}, **claims}  # fmt: skip
    return ISSUER.sign(body)


def with_rest_cert(event: dict[str, Any], pem: str | None) -> dict[str, Any]:
    if pem is not None:
        event["requestContext"]["identity"]["clientCert"] = {"clientCertPem": pem}
    return event


# == findings =====================================================================================


@pytest.mark.filterwarnings("ignore:coroutine")
@pytest.mark.parametrize("kind", ["asyncio", "pipeline"])
def test_a_redis_replay_store_never_accepts_a_replay_whatever_client_it_is_given(
    kind: str, redis_url: str
) -> None:
    # An app with async handlers already holds a redis.asyncio client (AsyncRedisStore takes
    # one) and hands it to RedisReplayStore(client=...): client.set returns a coroutine,
    # never awaited, and bool(coroutine) is True: every proof is a "first use". A pipeline
    # (set() returns the pipeline itself) does the same. Either refuse such a client when
    # the store is built, or fail closed.
    import redis
    import redis.asyncio

    client: Any = (
        redis.asyncio.Redis.from_url(redis_url)
        if kind == "asyncio"
        else redis.Redis.from_url(redis_url).pipeline()
    )
    try:
        store = RedisReplayStore(client=client)
    except ConfigurationError:
        return
    handler = guarded(DpopVerifier(replay=store))
    evt = http_event(CLIENT.proof("GET", URL, access_token=TOKEN))
    handler(evt, None)
    assert handler(evt, None)["statusCode"] != 200  # the replay


def test_an_authorizer_never_admits_a_replayed_proof() -> None:
    # replay=None is documented for one case only: a Guard behind an Authorizer that
    # recorded the proof. Nothing is in front of an Authorizer: refuse it at construction
    # (or refuse the replay).
    try:
        auth = authorizer(DpopVerifier(replay=None))
    except ConfigurationError:
        return
    proof = CLIENT.proof("GET", REST_URL, access_token=TOKEN)
    evt = request_authorizer("GET", "/orders/7", headers=dpop_headers(proof))
    assert allowed(auth, evt)
    assert not allowed(auth, evt)


@pytest.mark.parametrize("kind", ["function_url", "http_api_without_authorizer"])
def test_a_guard_without_a_replay_store_refuses_replays_no_authorizer_saw(kind: str) -> None:
    # A Function URL has no API Gateway authorizer, and an HTTP API event without a secauth
    # authorizer context was not seen by one: nobody recorded the proof's jti.
    if kind == "function_url":
        proof = CLIENT.proof("GET", f"{FUNCTION_HOST}/orders/7", access_token=TOKEN)
        evt = function_url("GET", "/orders/7", headers=dpop_headers(proof))
    else:
        evt = http_event(CLIENT.proof("GET", URL, access_token=TOKEN))
    with pytest.raises(ConfigurationError, match="trust_authorizer"):
        guarded(DpopVerifier(replay=None))  # replay=None outside the documented pairing
    handler = guarded(DpopVerifier(replay=None), trust_authorizer=True)
    first = handler(evt, None)["statusCode"]
    second = handler(evt, None)["statusCode"]
    assert (first, second) == (401, 401)  # no secauth authorizer recorded the proof


def _through_a_gate(headers: dict[str, str]) -> dict[str, Any]:
    """The HTTP API event a function gets once a secauth Authorizer (DPoP, no nonces)
    allowed ``headers``."""
    gate = Authorizer(VERIFIER, decision_log=None, sender_constraint=SenderConstraint(
        dpop=DpopVerifier(replay=MemoryReplayStore())))  # fmt: skip
    answer = gate.handler(http_authorizer_v2("GET", "/orders/7", headers=headers), None)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    return http_proxy("GET", "/orders/7", headers=headers, authorizer_response=answer)


def test_a_trust_only_guard_with_dpop_nonces_enforces_them_or_refuses_the_configuration() -> None:
    # The docs: "Check nonces in the Guard (behind an authorizer that checks proofs without
    # nonces, give the guard replay=None and nonces=)". Behind an authorizer the Guard is
    # naturally trust-only (no verifier): it then never reads the token or the proof, yet
    # hands out DPoP-Nonce headers. A proof made in advance, without a nonce, goes through.
    nonces = DpopNonces(secret=bytes(range(32)))
    constraint = SenderConstraint(dpop=DpopVerifier(replay=None, nonces=nonces))
    try:
        guard = Guard(decision_log=None, sender_constraint=constraint)
    except ConfigurationError:
        return
    proof = CLIENT.proof("GET", URL, access_token=TOKEN)  # no nonce
    assert guard(_ok)(_through_a_gate(dpop_headers(proof)), None)["statusCode"] == 401


def test_a_trust_only_guard_that_requires_bound_tokens_enforces_it_or_refuses_the_config() -> None:
    constraint = SenderConstraint(require="dpop", dpop=DpopVerifier(replay=None))
    try:
        guard = Guard(decision_log=None, sender_constraint=constraint)
    except ConfigurationError:
        return
    # An unbound Bearer token, which the gate (no require) allowed.
    evt = _through_a_gate(dpop_headers(None, token(None), "Bearer"))
    assert guard(_ok)(evt, None)["statusCode"] == 401


LOWER_DPOP = (TokenSource.header("authorization", scheme="dpop"),)


def test_an_unbound_token_under_the_dpop_scheme_is_refused_whatever_the_source_spelling() -> None:
    # TokenSource.header("authorization", scheme="dpop"): PresentedToken.scheme keeps the
    # configured spelling, and check_binding compares it with "DPoP" case-sensitively.
    handler = guarded(token_sources=LOWER_DPOP)
    assert handler(http_event(None, token(None)), None)["statusCode"] == 401


def test_a_bound_token_with_its_proof_passes_a_dpop_source_spelt_in_lower_case() -> None:
    handler = guarded(token_sources=LOWER_DPOP)
    proof = CLIENT.proof("GET", URL, access_token=TOKEN)
    assert handler(http_event(proof), None)["statusCode"] == 200


def test_a_powertools_route_guard_that_requires_dpop_admits_a_fresh_proof() -> None:
    # The module's own use case (_identifies_otherwise: "a route that requires bound
    # tokens"): the route guard calls identify() again, which records the jti a second time
    # in the same store (a shared Redis in production): every legitimate request is a 401.
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from secauth.integrations.powertools import guard_middleware

    dpop = DpopVerifier(replay=MemoryReplayStore())
    outer = Guard(VERIFIER, decision_log=None, sender_constraint=SenderConstraint(dpop=dpop))
    strict = Guard(VERIFIER, decision_log=None,
                   sender_constraint=SenderConstraint(require="dpop", dpop=dpop))  # fmt: skip
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(outer)])

    @app.get("/orders/7", middlewares=[guard_middleware(strict)])
    def order() -> dict[str, str]:
        return {"id": "7"}

    evt = http_event(CLIENT.proof("GET", URL, access_token=TOKEN))
    assert app.resolve(evt, None)["statusCode"] == 200


# == held: replay ===============================================================================


def test_a_proof_replayed_to_another_container_is_refused_with_a_shared_redis(
    redis_url: str,
) -> None:
    one = guarded(DpopVerifier(replay=RedisReplayStore(redis_url)))
    two = guarded(DpopVerifier(replay=RedisReplayStore(redis_url)))
    evt = http_event(CLIENT.proof("GET", URL, access_token=TOKEN))
    assert one(evt, None)["statusCode"] == 200
    assert two(evt, None)["statusCode"] == 401
    assert one(evt, None)["statusCode"] == 401


def test_a_proof_replayed_to_another_container_is_refused_with_a_shared_dynamodb(
    ddb_client: Any,
) -> None:
    table = "review26-replay"
    DynamoDBReplayStore(table, client=ddb_client).create_table()
    one = guarded(DpopVerifier(replay=DynamoDBReplayStore(table, client=ddb_client)))
    two = guarded(DpopVerifier(replay=DynamoDBReplayStore(table, client=ddb_client)))
    evt = http_event(CLIENT.proof("GET", URL, access_token=TOKEN))
    assert one(evt, None)["statusCode"] == 200
    assert two(evt, None)["statusCode"] == 401
    # Another proof of the same client (new jti) goes through either container.
    assert two(http_event(CLIENT.proof("GET", URL, access_token=TOKEN)), None)["statusCode"] == 200


def test_the_authorizer_memo_never_answers_a_dpop_request_without_its_proof() -> None:
    auth = authorizer()
    proof = CLIENT.proof("GET", REST_URL, access_token=TOKEN)
    evt = request_authorizer("GET", "/orders/7", headers=dpop_headers(proof))
    assert allowed(auth, evt)
    assert not allowed(auth, evt)  # the same proof
    assert not allowed(auth, request_authorizer("GET", "/orders/7", headers=dpop_headers(None)))
    assert not allowed(auth, request_authorizer("GET", "/orders/7",
                                                headers=dpop_headers(proof, scheme="Bearer")))  # fmt: skip
    fresh = CLIENT.proof("GET", REST_URL, access_token=TOKEN)
    assert allowed(auth, request_authorizer("GET", "/orders/7", headers=dpop_headers(fresh)))


def test_the_verified_token_cache_and_principal_memo_still_need_a_fresh_proof() -> None:
    handler = guarded()
    for _ in range(3):  # kept by the verified-token cache from its second verification
        evt = http_event(CLIENT.proof("GET", URL, access_token=TOKEN))
        assert handler(evt, None)["statusCode"] == 200
    assert handler(evt, None)["statusCode"] == 401
    assert handler(http_event(None), None)["statusCode"] == 401
    assert handler(http_event(None, scheme="Bearer"), None)["statusCode"] == 401


def test_dpop_stays_refused_under_cache_ttl_even_when_the_cache_key_covers_the_request() -> None:
    with pytest.raises(ConfigurationError, match="cache_ttl"):
        authorizer(cache_ttl=300, cache_key_covers_request=True)


def test_the_documented_pairing_checks_the_proof_once_at_the_gate() -> None:
    # Authorizer (records the jti) in front of a Guard with replay=None and nonces.
    gate = authorizer()
    nonces = DpopNonces(secret=bytes(range(32)))
    behind = Guard(VERIFIER, decision_log=None, trust_authorizer=True,
                   sender_constraint=SenderConstraint(
                       dpop=DpopVerifier(replay=None, nonces=nonces)))(_ok)  # fmt: skip
    proof = CLIENT.proof("GET", URL, access_token=TOKEN, nonce=nonces.issue())
    headers = dpop_headers(proof)
    answer = gate.handler(http_authorizer_v2("GET", "/orders/7", headers=headers), None)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    evt = http_proxy("GET", "/orders/7", headers=headers, authorizer_response=answer)
    assert behind(evt, None)["statusCode"] == 200
    # The gate refuses the replay; the function still checks the binding of what it gets.
    assert not allowed(gate, http_authorizer_v2("GET", "/orders/7", headers=headers))
    as_bearer = http_proxy("GET", "/orders/7", headers=dpop_headers(None, scheme="Bearer"),
                           authorizer_response=answer)  # fmt: skip
    assert behind(as_bearer, None)["statusCode"] == 401


# == held: the URI (htu) and the method (htm) =====================================================


def _refused_for(evt: dict[str, Any], dpop: DpopVerifier | None = None) -> str:
    verifier = dpop or DpopVerifier(replay=MemoryReplayStore())
    with pytest.raises(InvalidDpopProof) as caught:
        verifier.check(Request.from_event(evt), TOKEN, jkt=CLIENT.jkt)
    return str(caught.value.detail["problem"])


def test_a_custom_domain_proof_is_refused_on_the_execute_api_domain_and_back() -> None:
    on_custom = http_event(CLIENT.proof("GET", f"https://{CUSTOM}/orders/7", access_token=TOKEN))
    assert "htu" in _refused_for(on_custom)
    custom = http_event(CLIENT.proof("GET", URL, access_token=TOKEN))
    custom["requestContext"]["domainName"] = CUSTOM
    assert "htu" in _refused_for(custom)
    fitting = http_event(CLIENT.proof("GET", f"https://{CUSTOM}/orders/7", access_token=TOKEN))
    fitting["requestContext"]["domainName"] = CUSTOM
    DpopVerifier(replay=MemoryReplayStore()).check(Request.from_event(fitting), TOKEN,
                                                   jkt=CLIENT.jkt)  # fmt: skip


def test_a_function_url_proof_is_refused_on_api_gateway_and_back() -> None:
    to_api = http_event(CLIENT.proof("GET", f"{FUNCTION_HOST}/orders/7", access_token=TOKEN))
    assert "htu" in _refused_for(to_api)
    proof = CLIENT.proof("GET", URL, access_token=TOKEN)
    assert "htu" in _refused_for(function_url("GET", "/orders/7", headers=dpop_headers(proof)))


def test_a_rest_proof_without_the_stage_or_with_another_is_refused() -> None:
    for htu in (URL, f"{HOST}/dev/orders/7", f"{HOST}/PROD/orders/7", f"{HOST}/prod/orders/7/"):
        proof = CLIENT.proof("GET", htu, access_token=TOKEN)
        evt = rest_proxy("GET", "/orders/7", headers=dpop_headers(proof))
        assert "htu" in _refused_for(evt), htu


@pytest.mark.parametrize(
    "htu",
    [
        f"{HOST}/orders/7%2F..%2F8",
        f"{HOST}/orders/7;x=1",
        f"{HOST}/orders/%2537",
        f"{HOST}/orders/7%00",
        f"{HOST}:443@evil.example/orders/7",
        f"https://evil.example#@{HOST[8:]}/orders/7",
        f"https://evil.example?@{HOST[8:]}/orders/7",
    ],
)
def test_more_uri_spellings_that_name_another_resource_are_refused(htu: str) -> None:
    evt = http_event(CLIENT.proof("GET", URL, access_token=TOKEN, claims={"htu": htu}))
    assert "htu" in _refused_for(evt)


def test_public_url_ignores_the_event_host_and_forwarded_headers() -> None:
    dpop = DpopVerifier(replay=MemoryReplayStore(), public_url="https://api.example.com/v1")
    proof = CLIENT.proof("GET", URL, access_token=TOKEN)  # the execute-api URL: not public
    headers = {**dpop_headers(proof), "x-forwarded-host": HOST[8:], "host": HOST[8:]}
    evt = http_proxy("GET", "/orders/7", headers=headers)
    assert "htu" in _refused_for(evt, dpop)
    good = CLIENT.proof("GET", "https://API.example.com:443/v1/orders/7?x=1", access_token=TOKEN)
    dpop.check(Request.from_event(http_event(good)), TOKEN, jkt=CLIENT.jkt)


@pytest.mark.parametrize("htm", ["HEAD", "OPTIONS", "POST", " GET", "GET ", "G\u0395T"])
def test_a_proof_for_another_method_spelling_is_refused(htm: str) -> None:
    evt = http_event(CLIENT.proof("GET", URL, access_token=TOKEN, claims={"htm": htm}))
    assert "htm" in _refused_for(evt)


# == held: the proof's key, header and claims =====================================================


def test_the_thumbprint_ignores_extra_jwk_members_and_their_order() -> None:
    reordered = dict(reversed(list(CLIENT.public_jwk.items())))
    jwk = {"kid": "client-key-1", "alg": "ES256", "use": "sig", "key_ops": ["verify"],
           "ext": True, **reordered}  # fmt: skip
    assert jwk_thumbprint(jwk) == CLIENT.jkt
    proof = CLIENT.proof("GET", URL, access_token=TOKEN, header={"jwk": jwk, "kid": "other"})
    assert guarded()(http_event(proof), None)["statusCode"] == 200


def _jkt_spellings() -> dict[str, str]:
    members = {k: CLIENT.public_jwk[k] for k in ("crv", "kty", "x", "y")}
    with_kid = json.dumps({**members, "kid": "k"}, separators=(",", ":"), sort_keys=True)
    pretty = json.dumps(members, sort_keys=True)  # with spaces
    digest = hashlib.sha256(
        json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    ).digest()
    import base64

    return {
        "padded": CLIENT.jkt + "=",
        "standard-padded": base64.b64encode(digest).decode(),
        "hex": digest.hex(),
        "upper": CLIENT.jkt.upper(),
        "kid-included": b64url_encode(hashlib.sha256(with_kid.encode()).digest()),
        "spaces": b64url_encode(hashlib.sha256(pretty.encode()).digest()),
        "whitespace": f" {CLIENT.jkt}",
    }


@pytest.mark.parametrize("spelling", sorted(_jkt_spellings()))
def test_a_cnf_jkt_in_another_spelling_is_not_the_key(spelling: str) -> None:
    value = _jkt_spellings()[spelling]
    assert value != CLIENT.jkt
    body = {"iss": ISS, "aud": AUD, "sub": "ann", "exp": int(time.time()) + 600,
            "cnf": {"jkt": value}}  # fmt: skip
    bound = ISSUER.sign(body)
    proof = CLIENT.proof("GET", URL, access_token=bound)
    response = guarded()(http_event(proof, bound), None)
    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"].startswith('DPoP error="invalid_token"')


def test_a_proof_under_an_ed25519_key_of_small_order_is_refused() -> None:
    # The neutral point: R = identity, S = 0 "verifies" any message under it.
    identity = b"\x01" + bytes(31)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(identity)}
    body = {"iss": ISS, "aud": AUD, "sub": "ann", "exp": int(time.time()) + 600,
            "cnf": {"jkt": jwk_thumbprint(jwk)}}  # fmt: skip
    bound = ISSUER.sign(body)
    header = encode_segment({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk})
    claims = encode_segment({"jti": "small-order", "htm": "GET", "htu": URL,
                             "iat": int(time.time()), "ath": access_token_hash(bound)})  # fmt: skip
    forged = f"{header}.{claims}.{b64url_encode(identity + bytes(32))}"
    records: list[dict[str, Any]] = []
    assert guarded(records=records)(http_event(forged, bound), None)["statusCode"] == 401
    assert records[-1]["reason"] == "invalid_dpop_proof"


def test_a_proof_under_a_1024_bit_rsa_key_is_refused() -> None:
    weak = DpopKey.generate("RS256", rsa_bits=1024)
    bound = token(weak)
    proof = weak.proof("GET", URL, access_token=bound)
    assert guarded()(http_event(proof, bound), None)["statusCode"] == 401


def test_a_proof_signed_with_the_key_of_its_jwk_but_another_alg_family_is_refused() -> None:
    rsa = DpopKey.generate("RS256")
    bound = token(rsa)
    for alg in ("PS256", "RS384", "ES256"):
        proof = rsa.proof("GET", URL, access_token=bound, header={"alg": alg})
        assert guarded()(http_event(proof, bound), None)["statusCode"] == 401, alg
    # PS256 is its own signature, made with that alg: accepted (both are RSA algorithms).
    ps = rsa.proof("GET", URL, access_token=bound, alg="PS256")
    assert guarded()(http_event(ps, bound), None)["statusCode"] == 200


def test_the_dpop_header_under_two_spellings_is_a_repeat() -> None:
    proof = CLIENT.proof("GET", REST_URL, access_token=TOKEN)
    evt = rest_proxy("GET", "/orders/7", headers=dpop_headers(None))
    evt["headers"].update({"DPoP": proof, "dpop": proof})
    evt["multiValueHeaders"].update({"DPoP": [proof], "dpop": [proof]})
    records: list[dict[str, Any]] = []
    assert guarded(records=records)(evt, None)["statusCode"] == 401
    assert records[-1]["detail"]["problem"] == "DPoP header missing, repeated or joined"


def test_a_bearer_token_with_a_valid_proof_still_needs_the_dpop_scheme_for_bound_tokens() -> None:
    # A DPoP-bound token as Bearer, in another token source too (a cookie or query source
    # has no scheme): never checked as a plain bearer token.
    sources = (TokenSource.header("authorization"), TokenSource.query("access_token"))
    handler = guarded(token_sources=sources)
    proof = CLIENT.proof("GET", URL, access_token=TOKEN)
    evt = http_proxy("GET", "/orders/7", headers={"dpop": proof}, query={"access_token": TOKEN})
    assert handler(evt, None)["statusCode"] == 401


def test_refusals_never_echo_the_proof_its_claims_or_the_nonce(
    capsys: pytest.CaptureFixture[str],
) -> None:
    nonces = DpopNonces(secret=bytes(range(32)))
    records: list[dict[str, Any]] = []
    guard = Guard(VERIFIER, on_decision=records.append,
                  sender_constraint=SenderConstraint(
                      dpop=DpopVerifier(replay=MemoryReplayStore(), nonces=nonces)))  # fmt: skip
    handler = guard(_ok)
    marker = "r26-marker-in-a-claim"
    proofs = [
        CLIENT.proof("GET", f"https://{marker}.example/x", access_token=TOKEN, jti=marker,
                     nonce=nonces.issue()),
        CLIENT.proof("GET", URL, access_token=TOKEN, jti=marker, nonce=marker),
        CLIENT.proof("GET", URL, access_token=TOKEN, jti=marker, header={"kid": marker}),
    ]  # fmt: skip
    outputs = [handler(http_event(p), None) for p in proofs]
    text = json.dumps([records, outputs]) + capsys.readouterr().out
    assert [o["statusCode"] for o in outputs] == [401, 401, 401]
    for secret in (marker, nonces.issue(), TOKEN, *proofs):
        assert secret not in text.replace(f'"DPoP-Nonce": "{nonces.issue()}"', "")


# == held: certificate-bound tokens (RFC 8705) ==================================================


def _encodings_of(pem: str) -> dict[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    cert = x509.load_pem_x509_certificate(pem.encode())
    der = cert.public_bytes(serialization.Encoding.DER)
    sha256 = hashlib.sha256(der).digest()
    import base64

    return {
        "padded": certificate_thumbprint(pem) + "=",
        "standard": base64.b64encode(sha256).decode(),
        "hex": sha256.hex(),
        "HEX": sha256.hex().upper(),
        "sha1": b64url_encode(cert.fingerprint(hashes.SHA1())),  # x5t, not x5t#S256
        "of-the-pem-text": b64url_encode(hashlib.sha256(pem.encode()).digest()),
        "of-the-public-key": b64url_encode(hashlib.sha256(cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()),
    }  # fmt: skip


@pytest.mark.parametrize("encoding", sorted(_encodings_of(MINE)))
def test_a_certificate_binding_in_another_encoding_is_refused(encoding: str) -> None:
    bound = cert_token(_encodings_of(MINE)[encoding])
    handler = Guard(VERIFIER, decision_log=None)(_ok)
    response = handler(with_rest_cert(rest_proxy("GET", "/orders/7", token=bound), MINE), None)
    assert response["statusCode"] == 401


def test_a_certificate_in_the_other_event_kinds_field_is_not_read() -> None:
    bound = cert_token(certificate_thumbprint(MINE))
    handler = Guard(VERIFIER, decision_log=None)(_ok)
    rest = rest_proxy("GET", "/orders/7", token=bound)
    rest["requestContext"]["authentication"] = {"clientCert": {"clientCertPem": MINE}}
    assert handler(rest, None)["statusCode"] == 401
    http = http_proxy("GET", "/orders/7", token=bound)
    http["requestContext"]["identity"] = {"clientCert": {"clientCertPem": MINE}}
    assert handler(http, None)["statusCode"] == 401
    http["requestContext"]["authentication"] = {"clientCert": {"clientCertPem": MINE}}
    assert handler(http, None)["statusCode"] == 200


def test_the_same_certificate_spelt_with_crlf_and_spaces_is_accepted_another_is_not() -> None:
    bound = cert_token(certificate_thumbprint(MINE))
    handler = Guard(VERIFIER, decision_log=None)(_ok)
    spelt = "\n" + MINE.replace("\n", "\r\n") + "  \n"
    assert handler(with_rest_cert(rest_proxy("GET", "/orders/7", token=bound), spelt),
                   None)["statusCode"] == 200  # fmt: skip
    both = MINE + THEIRS  # which one would count? neither
    assert handler(with_rest_cert(rest_proxy("GET", "/orders/7", token=bound), both),
                   None)["statusCode"] == 401  # fmt: skip
    before = THEIRS.replace("-----BEGIN CERTIFICATE-----", "-----BEGIN X509 CERTIFICATE-----")
    before = before.replace("-----END CERTIFICATE-----", "-----END X509 CERTIFICATE-----")
    assert handler(with_rest_cert(rest_proxy("GET", "/orders/7", token=bound), before + MINE),
                   None)["statusCode"] == 401  # fmt: skip


def test_a_token_bound_to_a_certificate_and_a_key_needs_both() -> None:
    body = {"iss": ISS, "aud": AUD, "sub": "ann", "exp": int(time.time()) + 600,
            "cnf": {"x5t#S256": certificate_thumbprint(MINE), "jkt": CLIENT.jkt}}  # fmt: skip
    bound = ISSUER.sign(body)
    handler = guarded()

    def call(pem: str | None, proof: bool, scheme: str = "DPoP") -> int:
        made = CLIENT.proof("GET", REST_URL, access_token=bound) if proof else None
        evt = rest_proxy("GET", "/orders/7", headers=dpop_headers(made, bound, scheme))
        return int(handler(with_rest_cert(evt, pem), None)["statusCode"])

    assert call(MINE, proof=False) == 401
    assert call(None, proof=True) == 401
    assert call(THEIRS, proof=True) == 401
    assert call(MINE, proof=True, scheme="Bearer") == 401
    assert call(MINE, proof=True) == 200


def test_a_cached_authorizer_that_covers_the_certificate_still_compares_it() -> None:
    bound = cert_token(certificate_thumbprint(MINE))
    auth = Authorizer(VERIFIER, decision_log=None, cache_ttl=300, cache_key_covers_request=True,
                      sender_constraint=SenderConstraint())  # fmt: skip
    evt = with_rest_cert(request_authorizer("GET", "/orders/7", token=bound), THEIRS)
    assert not allowed(auth, evt)
    assert not allowed(auth, request_authorizer("GET", "/orders/7", token=bound))
    assert allowed(auth, with_rest_cert(request_authorizer("GET", "/orders/7", token=bound), MINE))
    # ... and the memo it keeps for MINE is not the answer for THEIRS.
    assert not allowed(auth, with_rest_cert(request_authorizer("GET", "/orders/7", token=bound),
                                            THEIRS))  # fmt: skip


def test_an_http_api_authorizer_reads_the_certificate_of_payload_2() -> None:
    bound = cert_token(certificate_thumbprint(MINE))
    auth = Authorizer(VERIFIER, decision_log=None)

    def ask(pem: str) -> bool:
        evt = http_authorizer_v2("GET", "/orders/7", token=bound)
        evt["requestContext"]["authentication"] = {"clientCert": {"clientCertPem": pem}}
        return allowed(auth, evt)

    assert ask(MINE)
    assert not ask(THEIRS)


def test_sign_compact_and_encode_segment_make_proofs_the_verifier_takes() -> None:
    # The hand-made proof path used above (small-order key) is sound: with a real key and
    # the same code, the proof is accepted.
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": CLIENT.public_jwk}
    claims = {"jti": "hand-made", "htm": "GET", "htu": URL, "iat": int(time.time()),
              "ath": access_token_hash(TOKEN)}  # fmt: skip
    proof = sign_compact(header, encode_segment(claims), CLIENT.private_key, "ES256")
    assert guarded()(http_event(proof), None)["statusCode"] == 200
