"""DPoP (RFC 9449): proofs checked by Guard and Authorizer, one test per attack class, the
replay stores on real servers (redis-server, dynalite), and cross-checks with an independent
implementation (panva's ``dpop`` signs, ``jose`` verifies; npm, on loopback)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dpop_parties import AUD, CLIENT, HOST, ISS, ISSUER, TOKEN, URL, VERIFIER, token
from rl_services import RequestCounter, Server, dynalite_server, dynamodb_client
from rl_services import unavailable as service_unavailable

from secauth import Authorizer, Guard
from secauth.dpop import DpopVerifier, access_token_hash, jwk_thumbprint, normalize_uri
from secauth.dpop_replay import (
    DynamoDBReplayStore,
    MemoryReplayStore,
    RedisReplayStore,
    ReplayStoreUnavailable,
)
from secauth.errors import (
    ConfigurationError,
    DpopProofReplayed,
    InvalidDpopProof,
    KeysUnavailable,
    SenderConstraintError,
)
from secauth.events import Request
from secauth.policy import Unauthorized
from secauth.sender_constraint import SenderConstraint
from secauth.testing_dpop import DpopKey
from secauth.testing_events import (
    alb,
    function_url,
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    rest_proxy,
)

ROOT = Path(__file__).resolve().parents[1]
SERVICES = Path(os.environ.get("SECAUTH_SERVICES_CACHE", ROOT / ".cache" / "services"))
NODE_SCRIPT = ROOT / "tests" / "fixtures" / "dpop_proof.mjs"


def dpop(store: Any = None, **options: Any) -> DpopVerifier:
    return DpopVerifier(replay=store if store is not None else MemoryReplayStore(), **options)


def guard(**options: Any) -> Any:
    constraint = options.pop("constraint", None) or SenderConstraint(dpop=dpop())
    guarded = Guard(VERIFIER, decision_log=None, sender_constraint=constraint, **options)
    return guarded(lambda event, context, principal: {"statusCode": 200, "body": principal.id})


def event(proof: str | None, value: str = TOKEN, scheme: str = "DPoP", **extra: Any) -> Any:
    headers: dict[str, Any] = {"authorization": f"{scheme} {value}"}
    if proof is not None:
        headers["dpop"] = proof
    return http_proxy("GET", "/orders/7", headers=headers, **extra)


def answer(handler: Any, evt: Any) -> tuple[int, str | None]:
    response = handler(evt, None)
    return response["statusCode"], response["headers"].get("WWW-Authenticate")


def refusal(evt: Any, **options: Any) -> SenderConstraintError:
    """The error a Guard raises for ``evt`` (checked through Guard.check)."""
    constraint = options.pop("constraint", None) or SenderConstraint(dpop=dpop(**options))
    checker = Guard(VERIFIER, decision_log=None, sender_constraint=constraint)
    with pytest.raises(SenderConstraintError) as caught:
        checker.check(evt)
    return caught.value


# -- the accepted request, on every event kind ------------------------------------------------


def test_a_fresh_proof_is_accepted_and_answered_200() -> None:
    status, _ = answer(guard(), event(CLIENT.proof("GET", URL, access_token=TOKEN)))
    assert status == 200


@pytest.mark.parametrize(
    ("build", "url"),
    [
        (lambda h: rest_proxy("GET", "/orders/7", headers=h), f"{HOST}/prod/orders/7"),
        (lambda h: http_proxy("GET", "/orders/7", stage="v1", headers=h), f"{HOST}/v1/orders/7"),
        (
            lambda h: function_url("GET", "/orders/7", headers=h),
            "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws/orders/7",
        ),
    ],
    ids=["rest-stage-in-path", "http-named-stage", "function-url"],
)
def test_htu_is_the_uri_the_client_called_on_each_event_kind(build: Any, url: str) -> None:
    handler = guard()
    proof = CLIENT.proof("GET", url, access_token=TOKEN)
    assert answer(handler, build({"authorization": f"DPoP {TOKEN}", "dpop": proof}))[0] == 200


def test_custom_domain_with_a_base_path_mapping_uses_the_path_as_sent() -> None:
    """REST: requestContext.path holds the base path; HTTP: rawPath does (not the stage)."""
    proof = CLIENT.proof("GET", "https://api.example.com/orders-api/orders/7", access_token=TOKEN)
    headers = {"authorization": f"DPoP {TOKEN}", "dpop": proof}
    rest = rest_proxy("GET", "/orders-api/orders/7", headers=headers)
    rest["requestContext"].update(domainName="api.example.com", path="/orders-api/orders/7")
    assert answer(guard(), rest)[0] == 200


def test_public_url_and_an_htu_callable_name_the_uri_behind_a_rewriting_proxy() -> None:
    seen = "https://api.example.com/v2/orders/7"
    proof = CLIENT.proof("GET", seen, access_token=TOKEN)
    by_url = guard(constraint=SenderConstraint(dpop=dpop(public_url="https://api.example.com/v2/")))
    assert answer(by_url, event(proof))[0] == 200
    by_callable = guard(constraint=SenderConstraint(dpop=dpop(htu=lambda request: seen)))
    assert answer(by_callable, event(CLIENT.proof("GET", seen, access_token=TOKEN)))[0] == 200
    assert answer(guard(), event(CLIENT.proof("GET", seen, access_token=TOKEN)))[0] == 401


def test_query_fragment_case_default_port_and_percent_encoding_do_not_matter() -> None:
    proof = CLIENT.proof("GET", URL, access_token=TOKEN, claims={
        "htu": "HTTPS://ABCDEF123.execute-api.us-east-1.amazonaws.com:443/orders/%37?a=1#f"})  # fmt: skip
    assert answer(guard(), event(proof))[0] == 200
    assert normalize_uri("https://h/a%2fb") != normalize_uri("https://h/a/b")


@pytest.mark.parametrize("build", [request_authorizer, http_authorizer_v2])
def test_the_authorizer_checks_proofs_in_request_authorizer_events(build: Any) -> None:
    url = f"{HOST}/prod/orders/7" if build is request_authorizer else URL
    authorizer = Authorizer(VERIFIER, decision_log=None,
                            sender_constraint=SenderConstraint(dpop=dpop()))  # fmt: skip
    proof = CLIENT.proof("GET", url, access_token=TOKEN)
    evt = build("GET", "/orders/7", headers={"authorization": f"DPoP {TOKEN}", "dpop": proof})
    first = authorizer.handler(evt, None)
    assert {s["Effect"] for s in first["policyDocument"]["Statement"]} == {"Allow"}
    # The same event again: the response memo must not answer it, the proof is spent.
    if build is request_authorizer:
        with pytest.raises(Unauthorized):
            authorizer.handler(evt, None)
    else:
        assert "Deny" in json.dumps(authorizer.handler(evt, None))


def test_an_async_handler_checks_the_proof_too() -> None:
    guarded = Guard(VERIFIER, decision_log=None, sender_constraint=SenderConstraint(dpop=dpop()))

    @guarded
    async def handler(event: Any, context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ok"}

    evt = event(CLIENT.proof("GET", URL, access_token=TOKEN))
    assert asyncio.run(handler(evt, None))["statusCode"] == 200
    assert asyncio.run(handler(evt, None))["statusCode"] == 401  # replayed


# -- attacks: one test per class ----------------------------------------------------------------


def test_replayed_proof_is_refused() -> None:
    handler = guard()
    evt = event(CLIENT.proof("GET", URL, access_token=TOKEN))
    assert answer(handler, evt)[0] == 200
    status, challenge = answer(handler, evt)
    assert status == 401
    assert challenge is not None
    assert challenge.startswith('DPoP error="invalid_dpop_proof"')
    assert 'algs="ES256 ES384 EdDSA Ed25519 PS256 RS256"' in challenge


def test_replayed_proof_reason_is_dpop_proof_replayed() -> None:
    verifier = dpop()
    proof = CLIENT.proof("GET", URL, access_token=TOKEN)
    request = Request.from_event(event(proof))
    verifier.check(request, TOKEN, jkt=CLIENT.jkt)
    with pytest.raises(DpopProofReplayed):
        verifier.check(request, TOKEN, jkt=CLIENT.jkt)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: CLIENT.proof("POST", URL, access_token=TOKEN), "htm"),
        (lambda: CLIENT.proof("get", URL, access_token=TOKEN), "htm"),
        (lambda: CLIENT.proof("GET", f"{HOST}/orders/8", access_token=TOKEN), "htu"),
        (lambda: CLIENT.proof("GET", "https://evil.example/orders/7", access_token=TOKEN), "htu"),
        (lambda: CLIENT.proof("GET", URL.replace("https", "http"), access_token=TOKEN), "htu"),
        (lambda: CLIENT.proof("GET", URL, access_token=TOKEN, iat=time.time() - 3600), "too old"),
        (lambda: CLIENT.proof("GET", URL, access_token=TOKEN, iat=time.time() + 60), "future"),
        (lambda: CLIENT.proof("GET", URL, access_token=TOKEN, claims={"iat": "now"}), "iat"),
        (lambda: CLIENT.proof("GET", URL, access_token="another token"), "ath"),
        (lambda: CLIENT.proof("GET", URL), "ath"),
        (lambda: CLIENT.proof("GET", URL, access_token=TOKEN, claims={"jti": None}), "jti"),
        (lambda: CLIENT.proof("GET", URL, access_token=TOKEN, header={"typ": "JWT"}), "typ"),
        (lambda: CLIENT.proof("GET", URL, access_token=TOKEN, header={"typ": None}), "typ"),
        (lambda: CLIENT.proof("GET", URL, access_token=TOKEN, header={"jwk": None}), "jwk"),
        (lambda: CLIENT.proof("GET", URL, access_token=TOKEN, header={"crit": ["exp"]}), "crit"),
        (lambda: CLIENT.proof("GET", URL, access_token=TOKEN, header={"x5c": ["MIIB"]}), "crit"),
        (
            lambda: CLIENT.proof("GET", URL, access_token=TOKEN, key=DpopKey.generate().private_key),
            "signature",
        ),
        (lambda: TOKEN, "typ"),  # the access token itself as the proof
        (lambda: "e30.e30.AA", "typ"),
        (lambda: "not a jwt", "proof:"),
        (lambda: "a" * 9000, "proof:"),
    ],
    ids=["other-method", "method-case", "other-path", "other-host", "other-scheme", "stale-iat",
         "future-iat", "iat-not-a-number", "wrong-ath", "no-ath", "no-jti", "typ-jwt", "no-typ",
         "no-jwk", "crit", "x5c", "signed-by-another-key", "token-as-proof", "empty-header",
         "garbage", "oversized"],
)  # fmt: skip
def test_a_proof_for_another_request_or_malformed_is_refused(
    make: Callable[[], str], problem: str
) -> None:
    """Proofs are made when the test runs: made at collection, their iat could age past
    the window on a slow run and fail for another reason."""
    error = refusal(event(make()))
    assert type(error) is InvalidDpopProof
    assert problem in error.detail["problem"]


def test_private_key_in_the_proof_jwk_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    private = CLIENT.private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    d = private.private_numbers().private_value.to_bytes(32, "big")
    from secauth._b64 import b64url_encode

    leaked = {**CLIENT.public_jwk, "d": b64url_encode(d)}
    proof = CLIENT.proof("GET", URL, access_token=TOKEN, header={"jwk": leaked})
    assert "private key" in refusal(event(proof)).detail["problem"]


@pytest.mark.parametrize("alg", ["HS256", "none"])
def test_hmac_and_none_proofs_are_refused(alg: str) -> None:
    hmac_key = DpopKey.generate("HS256")
    jwk = {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}
    if alg == "HS256":
        proof = CLIENT.proof("GET", URL, access_token=TOKEN, alg="HS256",
                             key=hmac_key.private_key, header={"jwk": jwk})  # fmt: skip
    else:
        signed = CLIENT.proof("GET", URL, access_token=TOKEN, header={"alg": "none"})
        proof = signed.rsplit(".", 1)[0] + "."
    error = refusal(event(proof))
    assert isinstance(error, InvalidDpopProof)
    with pytest.raises(ConfigurationError):
        DpopVerifier(replay=None, algorithms=["HS256"])


def test_an_algorithm_not_accepted_is_refused_even_when_the_key_fits() -> None:
    eddsa = DpopKey.generate("EdDSA")
    bound = token(eddsa)
    proof = eddsa.proof("GET", URL, access_token=bound)
    error = refusal(event(proof, bound), algorithms=["ES256"])
    assert "alg" in error.detail["problem"]
    assert answer(guard(), event(eddsa.proof("GET", URL, access_token=bound), bound))[0] == 200


def test_proof_key_other_than_the_token_cnf_jkt_is_refused() -> None:
    thief = DpopKey.generate("ES256")
    proof = thief.proof("GET", URL, access_token=TOKEN)  # a stolen token, the thief's own key
    error = refusal(event(proof))
    assert type(error) is SenderConstraintError
    assert error.dpop_algorithms is not None
    status, challenge = answer(guard(), event(thief.proof("GET", URL, access_token=TOKEN)))
    assert status == 401
    assert challenge is not None
    assert challenge.startswith('DPoP error="invalid_token"')


def test_a_dpop_bound_token_presented_as_bearer_is_refused() -> None:
    status, challenge = answer(guard(), event(None, scheme="Bearer"))
    assert status == 401
    assert challenge is not None
    assert challenge.startswith('DPoP error="invalid_token"')
    # ... also with a valid proof alongside, and by a guard that does not accept DPoP at all.
    assert (
        answer(guard(), event(CLIENT.proof("GET", URL, access_token=TOKEN), scheme="Bearer"))[0]
        == 401
    )
    plain = Guard(VERIFIER, decision_log=None)(lambda e, c: {"statusCode": 200, "body": ""})
    assert answer(plain, event(None, scheme="Bearer"))[0] == 401
    assert answer(plain, event(CLIENT.proof("GET", URL, access_token=TOKEN)))[0] == 401


def test_dpop_scheme_with_an_unbound_token_is_refused() -> None:
    unbound = token(None)
    error = refusal(event(CLIENT.proof("GET", URL, access_token=unbound), unbound))
    assert "not bound" in error.detail["problem"]


def test_missing_repeated_or_joined_proof_headers_are_refused() -> None:
    proof = CLIENT.proof("GET", URL, access_token=TOKEN)
    assert "missing" in refusal(event(None)).detail["problem"]
    joined = http_proxy("GET", "/orders/7",
                        headers={"authorization": f"DPoP {TOKEN}", "dpop": [proof, proof]})  # fmt: skip
    assert "repeated" in refusal(joined).detail["problem"]
    twice = rest_proxy("GET", "/orders/7",
                       headers={"authorization": f"DPoP {TOKEN}", "dpop": [proof, proof]})  # fmt: skip
    assert "repeated" in refusal(twice).detail["problem"]


def test_require_dpop_refuses_bearer_and_unbound_tokens() -> None:
    strict = SenderConstraint(require="dpop", dpop=dpop())
    unbound = token(None)
    assert (
        "required" in refusal(event(None, unbound, "Bearer"), constraint=strict).detail["problem"]
    )
    with pytest.raises(ConfigurationError):
        SenderConstraint(require="dpop")


def test_a_failed_proof_records_nothing_and_the_replay_check_comes_last() -> None:
    class Spy(MemoryReplayStore):
        calls = 0

        def first_use(self, key: str, expires_at: float) -> bool:
            Spy.calls += 1
            return super().first_use(key, expires_at)

    verifier = dpop(Spy())
    thief = DpopKey.generate()
    for bad in (
        CLIENT.proof("GET", URL, access_token="other", jti="j-1"),
        thief.proof("GET", URL, access_token=TOKEN, jti="j-1"),
        CLIENT.proof("POST", URL, access_token=TOKEN, jti="j-1"),
    ):
        with pytest.raises(SenderConstraintError):
            verifier.check(Request.from_event(event(bad)), TOKEN, jkt=CLIENT.jkt)
    assert Spy.calls == 0
    good = CLIENT.proof("GET", URL, access_token=TOKEN, jti="j-1")
    verifier.check(Request.from_event(event(good)), TOKEN, jkt=CLIENT.jkt)
    assert Spy.calls == 1
    # A jti is per key: another key may use the same jti.
    other = token(thief)
    proof = thief.proof("GET", URL, access_token=other, jti="j-1")
    verifier.check(Request.from_event(event(proof, other)), other, jkt=thief.jkt)


def test_a_replay_store_that_cannot_answer_fails_closed_with_503() -> None:
    class Down:
        def first_use(self, key: str, expires_at: float) -> bool:
            raise ReplayStoreUnavailable("redis: ConnectionError")

    handler = guard(constraint=SenderConstraint(dpop=dpop(Down())))
    response = handler(event(CLIENT.proof("GET", URL, access_token=TOKEN)), None)
    assert response["statusCode"] == 503
    with pytest.raises(KeysUnavailable):
        dpop(Down()).record(dpop().verify_proof(
            CLIENT.proof("GET", URL, access_token=TOKEN), method="GET", uri=URL,
            access_token=TOKEN))  # fmt: skip


def test_no_token_or_proof_reaches_records_logs_or_responses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    records: list[dict[str, Any]] = []
    guarded = Guard(VERIFIER, on_decision=records.append,
                    sender_constraint=SenderConstraint(dpop=dpop()))  # fmt: skip
    handler = guarded(lambda e, c: {"statusCode": 200, "body": ""})
    proof = CLIENT.proof("GET", URL, access_token=TOKEN)
    outputs = [handler(event(proof), None), handler(event(proof), None),
               handler(event(proof, scheme="Bearer"), None)]  # fmt: skip
    text = json.dumps([records, outputs]) + capsys.readouterr().out
    for secret in (TOKEN, proof, TOKEN.split(".")[2], proof.split(".")[2]):
        assert secret not in text
    assert [r["reason"] for r in records[1:]] == ["dpop_proof_replayed", "token_binding_mismatch"]


def test_configuration_mistakes_fail_at_construction() -> None:
    for bad in (
        {"replay": object()},
        {"replay": None, "algorithms": []},
        {"replay": None, "max_age": 0},
        {"replay": None, "public_url": "https://a/", "htu": lambda r: "x"},
        {"replay": None, "public_url": "/relative"},
        {"replay": None, "public_url": "https://a/?q=1"},
    ):
        with pytest.raises(ConfigurationError):
            DpopVerifier(**bad)
    with pytest.raises(ConfigurationError, match="cache_ttl"):
        Authorizer(VERIFIER, cache_ttl=300, sender_constraint=SenderConstraint(dpop=dpop()))


def test_thumbprint_and_ath_follow_rfc_7638_and_9449() -> None:
    assert jwk_thumbprint({**CLIENT.public_jwk, "kid": "x", "use": "sig"}) == CLIENT.jkt
    assert access_token_hash("abc") == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"


# -- replay stores on real servers -----------------------------------------------------------


def test_redis_store_is_one_set_nx_px_per_proof(redis_service: Server) -> None:
    import redis

    sent: list[tuple[Any, ...]] = []

    class Counting(redis.Redis):  # type: ignore[type-arg]
        def execute_command(self, *args: Any, **options: Any) -> Any:
            sent.append(args)
            return super().execute_command(*args, **options)

    client = Counting(host="127.0.0.1", port=redis_service.port)
    store = RedisReplayStore(client=client, prefix="t1:")
    handler = guard(constraint=SenderConstraint(dpop=dpop(store)))
    evt = event(CLIENT.proof("GET", URL, access_token=TOKEN))
    assert answer(handler, evt)[0] == 200
    assert answer(handler, evt)[0] == 401
    assert [args[0] for args in sent] == ["INFO", "SET", "SET"]  # INFO: once per store
    assert "NX" in sent[1]
    assert "PX" in sent[1]
    ttl = client.pttl(sent[1][1])
    assert 60_000 < ttl <= 67_000  # max_age + leeway + 1 s from iat
    url_store = RedisReplayStore(f"redis://127.0.0.1:{redis_service.port}/0")
    assert url_store.first_use("k", time.time() + 5) is True
    assert url_store.first_use("k", time.time() + 5) is False


def test_redis_store_down_raises_unavailable() -> None:
    store = RedisReplayStore("redis://127.0.0.1:9/0", socket_timeout=0.1, connect_timeout=0.1)
    with pytest.raises(ReplayStoreUnavailable):
        store.first_use("k", time.time() + 5)


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    server = dynalite_server().start()
    try:
        yield dynamodb_client(server.port)
    finally:
        server.stop()


def test_dynamodb_store_is_one_conditional_put_per_proof(dynamodb: Any) -> None:
    store = DynamoDBReplayStore("dpop-replay", client=dynamodb)
    store.create_table()
    counter = RequestCounter(dynamodb)
    now = time.time()
    assert store.first_use("jkt:jti-1", now + 60) is True
    assert store.first_use("jkt:jti-1", now + 60) is False
    assert counter.count == 2
    assert store.first_use("jkt:jti-old", now - 5) is True  # an expired item TTL has not
    assert store.first_use("jkt:jti-old", now + 60) is True  # deleted yet counts as absent
    with pytest.raises(ReplayStoreUnavailable):
        DynamoDBReplayStore("no-such-table", client=dynamodb).first_use("k", now + 60)


def test_memory_store_forgets_after_expiry() -> None:
    """A key is forgotten once its expiry has passed by the wall clock and as much time has
    elapsed (both clocks moved here together, as real time moves them)."""
    now = [100.0]
    store = MemoryReplayStore(clock=lambda: now[0], monotonic=lambda: now[0])
    assert store.first_use("k", 110.0)
    assert not store.first_use("k", 110.0)
    now[0] = 111.0
    assert store.first_use("k", 120.0)


def test_memory_store_keeps_a_key_for_its_window_in_elapsed_time() -> None:
    """A wall clock stepped forward past a key's expiry does not end it before as much time
    has really elapsed (the monotonic clock): stepped back, the proof is still refused."""
    wall, elapsed = [100.0], [5.0]
    store = MemoryReplayStore(clock=lambda: wall[0], monotonic=lambda: elapsed[0])
    assert store.first_use("k", 110.0)
    wall[0] = 5000.0  # stepped forward; 0 s elapsed
    assert not store.first_use("k", 5010.0)
    elapsed[0] = 15.1  # the window has passed in elapsed time too
    assert store.first_use("k", 5010.0)


# -- cross-checks with an independent implementation (panva's dpop, jose) ------------------


def node(config: dict[str, Any]) -> dict[str, Any]:
    if shutil.which("node") is None or not (SERVICES / "node_modules" / "dpop").is_dir():
        service_unavailable("panva's dpop (npm) is not installed")
    env = dict(os.environ, SECAUTH_SERVICES_CACHE=str(SERVICES))
    done = subprocess.run(["node", str(NODE_SCRIPT), json.dumps(config)], capture_output=True,
                          env=env, timeout=30, check=True)  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout)
    return result


class PanvaClient:
    """A DPoP client made of panva's ``dpop`` (npm): one key, proofs on demand."""

    def __init__(self, alg: str) -> None:
        node_path = shutil.which("node")
        if node_path is None or not (SERVICES / "node_modules" / "dpop").is_dir():
            service_unavailable("panva's dpop (npm) is not installed")
        env = dict(os.environ, SECAUTH_SERVICES_CACHE=str(SERVICES))
        config = json.dumps({"mode": "session", "alg": alg})
        self.proc = subprocess.Popen([str(node_path), str(NODE_SCRIPT), config], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert self.proc.stdout is not None
        self.jkt: str = json.loads(self.proc.stdout.readline())["jkt"]

    def proof(self, htm: str, htu: str, access_token: str, nonce: str | None = None) -> str:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        request = {"htm": htm, "htu": htu, "access_token": access_token}
        if nonce is not None:
            request["nonce"] = nonce  # the server's DPoP-Nonce (RFC 9449 section 8)
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        proof: str = json.loads(self.proc.stdout.readline())["proof"]
        return proof

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.mark.parametrize("alg", ["ES256", "PS256", "RS256", "Ed25519"])
def test_proofs_signed_by_panvas_dpop_are_accepted(alg: str) -> None:
    client = PanvaClient(alg)
    try:
        bound = ISSUER.sign({"iss": ISS, "aud": AUD, "sub": "ann", "exp": int(time.time()) + 600,
                             "cnf": {"jkt": client.jkt}})  # fmt: skip
        handler = guard()
        get = client.proof("GET", URL, bound)
        assert answer(handler, event(get, bound))[0] == 200
        assert answer(handler, event(get, bound))[0] == 401  # replayed
        post = client.proof("POST", URL, bound)
        assert answer(handler, event(post, bound))[0] == 401  # made for another method
        proof = dpop().verify_proof(client.proof("GET", URL, bound), method="GET", uri=URL,
                                    access_token=bound)  # fmt: skip
        assert proof.jkt == client.jkt  # secauth's RFC 7638 thumbprint equals panva's
    finally:
        client.close()


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "PS256"])
def test_secauth_proofs_verify_with_jose(alg: str) -> None:
    key = DpopKey.generate(alg)
    proof = key.proof("DELETE", URL + "?x=1", access_token=TOKEN)
    checked = node({"mode": "verify", "proof": proof})
    assert checked["ok"] is True, checked
    assert checked["typ"] == "dpop+jwt"
    assert checked["alg"] == alg
    assert checked["jkt"] == key.jkt
    payload = checked["payload"]
    assert (payload["htm"], payload["htu"]) == ("DELETE", URL)
    assert payload["ath"] == access_token_hash(TOKEN)


# -- URI normalization and key material edge cases ------------------------------------------


@pytest.mark.parametrize(
    ("uri", "normalized"),
    [
        ("https://[::1]:8443/x", "https://[::1]:8443/x"),
        ("http://API.example.com:80", "http://api.example.com/"),
        ("https://h:443/a%2Fb", "https://h/a%2Fb"),
        ("https://user@h/x", None),  # user information is refused
        ("https://h:/x", None),  # an empty port is not a port
        ("https://h:70000/x", None),
        ("https://h%41/x", None),  # a percent-encoded host
        ("ftp://h/x", None),
    ],
)
def test_normalize_uri_accepts_a_host_and_port_only(uri: str, normalized: str | None) -> None:
    assert normalize_uri(uri) == normalized


def test_alb_requests_need_the_public_url() -> None:
    """An ALB event names its host only in the client's Host header: without public_url
    (or htu) the URI is unknown and the proof refused; with it, the proof must name it."""
    url = "https://api.example.com/orders/7"
    headers = {"authorization": f"DPoP {TOKEN}", "host": "api.example.com",
               "x-forwarded-proto": "https"}  # fmt: skip
    proof = CLIENT.proof("GET", url, access_token=TOKEN)
    evt = alb("GET", "/orders/7", headers={**headers, "dpop": proof})
    assert answer(guard(), evt)[0] == 401
    configured = guard(constraint=SenderConstraint(dpop=dpop(public_url="https://api.example.com")))
    assert answer(configured, evt)[0] == 200
    # A proof made for another server, sent with that server's name in Host, stays refused.
    foreign = CLIENT.proof("GET", "https://other.example.net/orders/7", access_token=TOKEN)
    evt = alb("GET", "/orders/7", headers={**headers, "host": "other.example.net", "dpop": foreign})
    assert answer(configured, evt)[0] == 401


def test_a_jti_with_a_lone_surrogate_is_recorded_not_a_500() -> None:
    handler = guard()
    evt = event(CLIENT.proof("GET", URL, access_token=TOKEN, claims={"jti": "\ud800"}))
    assert answer(handler, evt)[0] == 200
    assert answer(handler, evt)[0] == 401  # and replayed


def _no_credentials() -> Any:
    return http_proxy("GET", "/orders/7", headers={})


def test_a_401_without_credentials_offers_dpop_beside_bearer() -> None:
    """RFC 9449 section 7.1: a server that accepts DPoP says so, with its algorithms, in the
    challenge of a request that carried no credentials."""
    verifier = dpop(algorithms=("ES256", "EdDSA"))
    handler = guard(constraint=SenderConstraint(dpop=verifier))
    status, challenge = answer(handler, _no_credentials())
    assert status == 401
    assert challenge == 'Bearer, DPoP algs="ES256 EdDSA"'


def test_a_401_without_credentials_offers_dpop_alone_when_it_is_required() -> None:
    handler = guard(constraint=SenderConstraint(require="dpop", dpop=dpop(algorithms=("ES256",))))
    assert answer(handler, _no_credentials()) == (401, 'DPoP algs="ES256"')


def test_without_dpop_a_401_offers_bearer_only() -> None:
    handler = guard(constraint=SenderConstraint())
    assert answer(handler, _no_credentials()) == (401, "Bearer")
    # An invalid bearer token is answered on the Bearer scheme, DPoP accepted or not.
    status, challenge = answer(guard(), event(None, value="not-a-token", scheme="Bearer"))
    assert status == 401
    assert challenge is not None
    assert challenge.startswith('Bearer error="invalid_token"')


def test_challenge_parameters_go_to_each_challenge() -> None:
    from secauth.protected_resource import ProtectedResource

    resource = ProtectedResource(resource="https://api.example.com/orders",
                                 authorization_servers=[ISS], scopes_supported=["orders"])  # fmt: skip
    verifier = resource.verifier(issuer=ISS, jwks={"keys": [ISSUER.public_jwk]})
    constraint = SenderConstraint(dpop=dpop(algorithms=("ES256",)))
    guarded = Guard(verifier, decision_log=None, protected_resource=resource,
                    sender_constraint=constraint)  # fmt: skip
    status, challenge = answer(guarded(lambda event, context: {"statusCode": 200}),
                               _no_credentials())  # fmt: skip
    metadata = ('resource_metadata="https://api.example.com/.well-known/oauth-protected-resource'
                '/orders", scope="orders"')  # fmt: skip
    assert status == 401
    assert challenge == f'Bearer {metadata}, DPoP algs="ES256", {metadata}'
