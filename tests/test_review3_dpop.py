"""Adversarial review 3 of today's DPoP changes (issue 18 request path, secauth.dpop_uri,
secauth.dpop_nonce, replay keys, MemoryReplayStore sweeping).

The first tests are its findings (they failed before their fixes: huge integer ``iat``,
lone surrogates and control characters in ``htu``, ALB's client-sent ``Host``); the rest are
attacks that failed, kept as regression tests."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from dpop_parties import CLIENT, HOST, ISS, ISSUER, TOKEN, URL, VERIFIER, Clock, token

from secauth import Authorizer, Guard, JwtVerifier
from secauth._b64 import b64url_decode, b64url_encode
from secauth.dpop import DpopVerifier, access_token_hash, normalize_uri
from secauth.dpop_nonce import DpopNonces
from secauth.dpop_replay import MemoryReplayStore
from secauth.errors import DpopProofReplayed, InvalidDpopProof, SenderConstraintError
from secauth.events import Request
from secauth.policy import Unauthorized
from secauth.protected_resource import ProtectedResource
from secauth.sender_constraint import SenderConstraint
from secauth.testing import encode_segment, sign_compact
from secauth.testing_dpop import DpopKey
from secauth.testing_events import alb, http_proxy, request_authorizer

OTHER = DpopKey.generate("ES256")
REST_URL = f"{HOST}/prod/orders/7"
SECRET = bytes(range(32))
OLD_SECRET = bytes(range(1, 33))
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
AUD_URL = "https://api.example.com/orders"  # a protected resource's identifier


def guarded(dpop: DpopVerifier | None = None, records: list[dict[str, Any]] | None = None,
            **options: Any) -> Any:  # fmt: skip
    verifier = dpop or DpopVerifier(replay=MemoryReplayStore())
    sink = records.append if records is not None else None
    guard = Guard(VERIFIER, decision_log=None, on_decision=sink,
                  sender_constraint=SenderConstraint(dpop=verifier), **options)  # fmt: skip
    return guard(lambda event, context, principal: {"statusCode": 200, "body": principal.id})


def event(proof: str, value: str = TOKEN, **headers: str) -> dict[str, Any]:
    return http_proxy("GET", "/orders/7", headers={"authorization": f"DPoP {value}",
                                                   "dpop": proof, **headers})  # fmt: skip


def request(proof: str, value: str = TOKEN) -> Request:
    return Request.from_event(event(proof, value))


# == findings ===================================================================================


@pytest.mark.parametrize("iat", [10**400, -(10**400)])
def test_an_integer_iat_too_large_for_a_float_is_a_401_not_a_500(iat: int) -> None:
    # Anyone holding a DPoP-bound token (a stolen one will do: the key match comes after
    # the claims) signs such a proof with a key of their own.
    records: list[dict[str, Any]] = []
    proof = OTHER.proof("GET", URL, access_token=TOKEN, iat=iat)
    response = guarded(records=records)(event(proof), None)
    assert response["statusCode"] == 401, records[-1]
    assert records[-1]["reason"] == "invalid_dpop_proof"


def test_verify_proof_refuses_a_huge_integer_iat_with_invalid_dpop_proof() -> None:
    dpop = DpopVerifier(replay=MemoryReplayStore())
    proof = CLIENT.proof("POST", "https://as.example.com/token", iat=10**400)
    with pytest.raises(InvalidDpopProof):
        dpop.verify_proof(proof, method="POST", uri="https://as.example.com/token",
                          access_token=None)  # fmt: skip


def test_the_authorizer_records_a_huge_integer_iat_as_an_invalid_proof() -> None:
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(VERIFIER, decision_log=None, on_decision=records.append,
                            sender_constraint=SenderConstraint(
                                dpop=DpopVerifier(replay=MemoryReplayStore())))  # fmt: skip
    proof = OTHER.proof("GET", REST_URL, access_token=TOKEN, iat=10**400)
    headers = {"authorization": f"DPoP {TOKEN}", "dpop": proof}
    with pytest.raises(Unauthorized):
        authorizer.handler(request_authorizer("GET", "/orders/7", headers=headers), None)
    assert records[-1]["reason"] == "invalid_dpop_proof", records[-1]


@pytest.mark.parametrize("htu", [f"{HOST}/orders/\udc80", f"{URL}\ud800"])
def test_a_lone_surrogate_in_htu_is_a_401_not_a_500(htu: str) -> None:
    records: list[dict[str, Any]] = []
    proof = OTHER.proof("GET", URL, access_token=TOKEN, claims={"htu": htu})
    response = guarded(records=records)(event(proof), None)
    assert response["statusCode"] == 401, records[-1]
    assert records[-1]["reason"] == "invalid_dpop_proof"


def test_normalize_uri_returns_none_for_a_lone_surrogate() -> None:
    assert normalize_uri("https://h/\udc80") is None


@pytest.mark.parametrize(
    "htu",
    [
        f"{HOST}/orders/\t7",
        "https://abcdef123.execute-api.us-east-1.am\nazonaws.com/orders/7",
        f"{HOST}/or\r\nders/7",
        f" {URL}",
        f"\x00{URL}",
        f"\x1f{URL}",
    ],
)
def test_an_htu_with_control_characters_or_spaces_is_refused(htu: str) -> None:
    assert normalize_uri(htu) is None
    proof = CLIENT.proof("GET", URL, access_token=TOKEN, claims={"htu": htu})
    with pytest.raises(InvalidDpopProof):
        DpopVerifier(replay=MemoryReplayStore()).check(request(proof), TOKEN, jkt=CLIENT.jkt)


def test_an_alb_request_does_not_take_the_authority_from_the_clients_host_header() -> None:
    # The victim's proof was made for https://other-api.example.net/orders/7 (another
    # service accepting the same token); the attacker replays it to this ALB, whose
    # default rule forwards any Host, with Host: other-api.example.net.
    foreign = "https://other-api.example.net/orders/7"
    proof = CLIENT.proof("GET", foreign, access_token=TOKEN)
    evt = alb("GET", "/orders/7", headers={"authorization": f"DPoP {TOKEN}", "dpop": proof,
                                           "host": "other-api.example.net"})  # fmt: skip
    assert guarded()(evt, None)["statusCode"] == 401


# == attacks that failed: htu and the request URI ================================================


def test_the_host_header_is_not_read_on_api_gateway() -> None:
    # HTTP API: the authority is requestContext.domainName, whatever Host/X-Forwarded-* say.
    for htu in ("https://evil.example.net/orders/7", f"http://{URL[8:]}"):
        proof = CLIENT.proof("GET", htu, access_token=TOKEN)
        evt = event(proof, host="evil.example.net", **{"x-forwarded-host": "evil.example.net",
                                                        "x-forwarded-proto": "http"})  # fmt: skip
        assert guarded()(evt, None)["statusCode"] == 401, htu


@pytest.mark.parametrize(
    "htu",
    [
        "https://u@abcdef123.execute-api.us-east-1.amazonaws.com/orders/7",  # userinfo
        "https://abcdef123.execute-api.us-east-1.amazonaws.com./orders/7",  # trailing dot
        "https://abcdef123.execute-api.us-east-1.amazonaws.com:/orders/7",  # empty port
        "https://abcdef123.execute-api.us-east-1.amazonaws.com:8443/orders/7",
        "https://abcdef123.execute-api.us-east-1.amazonaws.com:65979/orders/7",  # 443 + 2**16
        "https://abcdef123.execute-api.us-east-1.amazonaws%2Ecom/orders/7",
        f"{HOST}/x/../orders/7",
        f"{HOST}/orders/./7",
        f"{HOST}//orders/7",
        f"{HOST}/orders/7/",
        f"{HOST}\\orders/7",
        f"{HOST}%2Forders/7",
        f"{HOST}/orders%2F7",
        f"{HOST}/Orders/7",
        f"{HOST}/orders/\uff17",  # fullwidth 7
        f"{HOST}/orders/%C2%B77",
        "http://abcdef123.execute-api.us-east-1.amazonaws.com/orders/7",
        "wss://abcdef123.execute-api.us-east-1.amazonaws.com/orders/7",
        "//abcdef123.execute-api.us-east-1.amazonaws.com/orders/7",
        "/orders/7",
    ],
)
def test_a_proof_for_another_uri_spelling_is_refused(htu: str) -> None:
    proof = CLIENT.proof("GET", URL, access_token=TOKEN, claims={"htu": htu})
    with pytest.raises(InvalidDpopProof):
        DpopVerifier(replay=MemoryReplayStore()).check(request(proof), TOKEN, jkt=CLIENT.jkt)


@pytest.mark.parametrize(
    "htu",
    [
        "HTTPS://ABCDEF123.execute-api.us-east-1.amazonaws.com:443/orders/7",
        f"{HOST}/orders/%37",
        f"{HOST}/%6Frders/7",
        f"{URL}?admin=1#frag",  # RFC 9449: query and fragment ignored
    ],
)
def test_rfc_3986_equivalent_spellings_are_accepted(htu: str) -> None:
    proof = CLIENT.proof("GET", URL, access_token=TOKEN, claims={"htu": htu})
    DpopVerifier(replay=MemoryReplayStore()).check(request(proof), TOKEN, jkt=CLIENT.jkt)


def test_a_proof_for_one_stage_is_refused_on_another() -> None:
    proof = CLIENT.proof("GET", f"{HOST}/v1/orders/7", access_token=TOKEN)
    evt = http_proxy("GET", "/orders/7", stage="v2",
                     headers={"authorization": f"DPoP {TOKEN}", "dpop": proof})  # fmt: skip
    assert guarded()(evt, None)["statusCode"] == 401


def test_a_proof_for_another_method_case_is_refused() -> None:
    proof = CLIENT.proof("get", URL, access_token=TOKEN)
    assert guarded()(event(proof), None)["statusCode"] == 401


# == attacks that failed: proof parsing ==========================================================


def _signed(header: dict[str, Any], payload_json: str, key: DpopKey = CLIENT) -> str:
    return sign_compact(header, b64url_encode(payload_json.encode()), key.private_key, key.alg)


def _claims_json(**extra: Any) -> dict[str, Any]:
    return {"jti": "j-" + str(time.time_ns()), "htm": "GET", "htu": URL,
            "iat": int(time.time()), "ath": access_token_hash(TOKEN), **extra}  # fmt: skip


HEADER = {"typ": "dpop+jwt", "alg": "ES256", "jwk": CLIENT.public_jwk}


@pytest.mark.parametrize(
    "payload",
    [
        # duplicate members: the second htu would win in a lax parser
        json.dumps(_claims_json())[:-1] + ', "htu": "https://evil.example.net/x"}',
        json.dumps(_claims_json())[:-1] + ', "jti": "other"}',
        '{"a":' + "[" * 2000 + "]" * 2000 + "," + json.dumps(_claims_json())[1:],  # deep
        "[" + json.dumps(_claims_json()) + "]",
        json.dumps(json.dumps(_claims_json())),
        json.dumps(_claims_json())[:-1] + ', "x": NaN}',
        "\ufeff" + json.dumps(_claims_json()),
    ],
)
def test_malformed_payloads_are_refused_with_a_401(payload: str) -> None:
    records: list[dict[str, Any]] = []
    response = guarded(records=records)(event(_signed(HEADER, payload)), None)
    assert response["statusCode"] == 401, records[-1]
    assert records[-1]["reason"] == "invalid_dpop_proof"


def test_a_deeply_nested_header_is_a_401() -> None:
    records: list[dict[str, Any]] = []
    segment = b64url_encode(('{"typ":"dpop+jwt","x":' + "[" * 2000 + "]" * 2000 + "}").encode())
    proof = f"{segment}.{b64url_encode(b'{}')}.{b64url_encode(bytes(64))}"
    assert guarded(records=records)(event(proof), None)["statusCode"] == 401
    assert records[-1]["detail"] == {"problem": "proof header is not JSON"}


@pytest.mark.parametrize(
    "iat", [float("nan"), float("inf"), "now", True, None, [1], {"t": 1}, 1e308, -1e308]
)
def test_odd_iat_values_are_refused(iat: Any) -> None:
    claims = _claims_json()
    claims["iat"] = iat
    payload = json.dumps(claims).replace("NaN", "1e999").replace("Infinity", "1e999")
    assert guarded()(event(_signed(HEADER, payload)), None)["statusCode"] == 401


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none"},
        {"alg": "HS256"},
        {"alg": "ES384"},  # P-256 key, ES384 claimed
        {"alg": "EdDSA"},
        {"alg": "RS256"},
        {"typ": "JWT"},
        {"typ": None},
        {"jwk": {**CLIENT.public_jwk, "d": "AAAA"}},
        {"jwk": {**CLIENT.public_jwk, "crv": "P-384"}},
        {"jwk": None, "kid": "k"},
        {"jku": "https://evil.example.net/jwks"},
        {"crit": ["exp"]},
        {"b64": False},
    ],
)
def test_bad_proof_headers_are_refused(header: dict[str, Any]) -> None:
    # Signed with the real ES256 key whatever the header claims: only the header is bad.
    head = {k: v for k, v in {**HEADER, **header}.items() if v is not None}
    proof = sign_compact(head, encode_segment(_claims_json()), CLIENT.private_key, "ES256")
    assert guarded()(event(proof), None)["statusCode"] == 401


def test_an_ed25519_key_cannot_sign_as_es256() -> None:
    ed = DpopKey.generate("EdDSA")
    proof = ed.proof("GET", URL, access_token=token(ed), header={"alg": "ES256"})
    assert guarded()(event(proof, token(ed)), None)["statusCode"] == 401


def _token_whose_ath_has_url_safe_characters() -> str:
    """A bound token whose ``ath`` holds ``-`` or ``_`` (a quarter of hashes hold neither,
    and their standard-alphabet spelling would be the same text)."""
    for n in range(200):
        candidate = token(jti=f"ath-{n}")
        if {"-", "_"} & set(access_token_hash(candidate)):
            return candidate
    raise AssertionError("no token with - or _ in its ath in 200 tries")


ATH_TOKEN = _token_whose_ath_has_url_safe_characters()


@pytest.mark.parametrize("ath", ["", "padded=", "std+alphabet/", None, 0])
def test_ath_must_be_the_exact_base64url_hash(ath: Any) -> None:
    good = access_token_hash(ATH_TOKEN)
    value = {"padded=": good + "=", "std+alphabet/": good.replace("-", "+").replace("_", "/")}
    assert value["std+alphabet/"] != good
    claims = {"ath": value.get(ath, ath)} if ath is not None else {"ath": None}
    proof = CLIENT.proof("GET", URL, access_token=ATH_TOKEN, claims=claims)
    assert guarded()(event(proof, ATH_TOKEN), None)["statusCode"] == 401


# == attacks that failed: replay =================================================================


def test_a_proof_replayed_concurrently_is_accepted_once() -> None:
    dpop = DpopVerifier(replay=MemoryReplayStore())
    proof = CLIENT.proof("GET", URL, access_token=TOKEN)
    accepted: list[bool] = []
    start = threading.Barrier(16)

    def attempt() -> None:
        start.wait()
        try:
            dpop.check(request(proof), TOKEN, jkt=CLIENT.jkt)
            accepted.append(True)
        except DpopProofReplayed:
            accepted.append(False)

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(accepted) == [False] * 15 + [True]


def test_flooding_the_memory_store_does_not_evict_a_live_entry() -> None:
    clock = Clock(2_000_000_000.0)
    store = MemoryReplayStore(clock=clock)
    dpop = DpopVerifier(replay=store, clock=clock, max_age=60, leeway=5)
    proof = CLIENT.proof("GET", URL, access_token=TOKEN, iat=clock.now)
    dpop.check(request(proof), TOKEN, jkt=CLIENT.jkt)
    # The attacker (a legitimate client) floods the store past several sweeps with proofs
    # of short remaining life, then waits until the victim proof's last accepted second.
    for i in range(5000):
        store.first_use(f"flood:{i}", clock.now + 1)
    clock.now += 65  # iat == now - max_age - leeway: still acceptable, so still recorded
    for i in range(5000, 7000):
        store.first_use(f"flood:{i}", clock.now + 100)
    with pytest.raises(DpopProofReplayed):
        dpop.check(request(proof), TOKEN, jkt=CLIENT.jkt)
    clock.now += 1  # past the window: refused as too old, never accepted
    with pytest.raises(InvalidDpopProof):
        dpop.check(request(proof), TOKEN, jkt=CLIENT.jkt)


def test_a_malleated_ecdsa_signature_is_still_a_replay() -> None:
    dpop = DpopVerifier(replay=MemoryReplayStore())
    proof = CLIENT.proof("GET", URL, access_token=TOKEN)
    dpop.check(request(proof), TOKEN, jkt=CLIENT.jkt)
    head, body, sig = proof.split(".")
    raw = b64url_decode(sig)
    s = int.from_bytes(raw[32:], "big")
    twin = f"{head}.{body}.{b64url_encode(raw[:32] + (P256_ORDER - s).to_bytes(32, 'big'))}"
    with pytest.raises(SenderConstraintError):  # replayed (or refused), never accepted
        dpop.check(request(twin), TOKEN, jkt=CLIENT.jkt)


def test_an_equivalent_header_spelling_is_still_a_replay() -> None:
    # Same key, same jti, another header text (member order, typ spelling): the replay key
    # is the key's thumbprint and the jti, not the proof's text.
    dpop = DpopVerifier(replay=MemoryReplayStore())
    dpop.check(request(CLIENT.proof("GET", URL, access_token=TOKEN, jti="same")), TOKEN,
               jkt=CLIENT.jkt)  # fmt: skip
    again = CLIENT.proof("GET", URL, access_token=TOKEN, jti="same",
                         header={"typ": "application/DPoP+JWT", "kid": "x"})  # fmt: skip
    with pytest.raises(DpopProofReplayed):
        dpop.check(request(again), TOKEN, jkt=CLIENT.jkt)


def test_the_same_jti_under_two_keys_does_not_collide() -> None:
    dpop = DpopVerifier(replay=MemoryReplayStore())
    other_token = token(OTHER)
    dpop.check(request(CLIENT.proof("GET", URL, access_token=TOKEN, jti="j")), TOKEN,
               jkt=CLIENT.jkt)  # fmt: skip
    dpop.check(request(OTHER.proof("GET", URL, access_token=other_token, jti="j"), other_token),
               other_token, jkt=OTHER.jkt)  # fmt: skip


@pytest.mark.parametrize(("first", "second"), [("\udc80", "\udc81"), ("\ud83d", "\ud83d\ude00")])
def test_lone_surrogate_jtis_are_distinct_keys_and_replays_are_seen(
    first: str, second: str
) -> None:
    dpop = DpopVerifier(replay=MemoryReplayStore())
    one = CLIENT.proof("GET", URL, access_token=TOKEN, jti=first)
    dpop.check(request(one), TOKEN, jkt=CLIENT.jkt)
    dpop.check(request(CLIENT.proof("GET", URL, access_token=TOKEN, jti=second)), TOKEN,
               jkt=CLIENT.jkt)  # fmt: skip
    with pytest.raises(DpopProofReplayed):
        dpop.check(request(one), TOKEN, jkt=CLIENT.jkt)


def test_a_proof_of_another_key_is_not_recorded() -> None:
    # A thief with the token but not the key signs with their own key: refused, and the
    # jti they chose is not burnt for the real client.
    dpop = DpopVerifier(replay=MemoryReplayStore())
    with pytest.raises(SenderConstraintError):
        dpop.check(request(OTHER.proof("GET", URL, access_token=TOKEN, jti="x")), TOKEN,
                   jkt=CLIENT.jkt)  # fmt: skip
    dpop.check(request(CLIENT.proof("GET", URL, access_token=TOKEN, jti="x")), TOKEN,
               jkt=CLIENT.jkt)  # fmt: skip


# == attacks that failed: nonces =================================================================


def test_a_nonce_cannot_be_moved_to_another_window() -> None:
    clock = Clock(1_000_000.0)
    nonces = DpopNonces(secret=SECRET, lifetime=60, clock=clock)
    raw = b64url_decode(nonces.issue())
    window = int.from_bytes(raw[:8], "big", signed=True)
    for moved in (window + 1, window - 1, window + 2**32):
        forged = b64url_encode(moved.to_bytes(8, "big", signed=True) + raw[8:])
        assert nonces.check(forged) == "proof nonce was not issued here"


def test_a_rotated_out_secret_is_accepted_for_its_window_but_never_issued() -> None:
    clock = Clock(1_000_000.0)
    old = DpopNonces(secret=OLD_SECRET, lifetime=60, clock=clock)
    new = DpopNonces(secret=SECRET, lifetime=60, previous_secrets=[OLD_SECRET], clock=clock)
    issued = old.issue()
    assert new.check(issued) is None
    assert new.issue() != issued
    clock.now += 120
    assert new.check(issued) == "proof nonce expired"
    assert new.check(old.issue()) is None  # still a valid old-secret nonce while listed


def test_a_nonce_refusal_keeps_the_resource_challenge_and_leaks_no_nonce() -> None:
    clock = Clock(time.time())
    nonces = DpopNonces(secret=SECRET, lifetime=300, clock=clock)
    resource = ProtectedResource(resource=AUD_URL, authorization_servers=[ISS],
                                 scopes_supported=["orders.read"])  # fmt: skip
    verifier = JwtVerifier(issuer=ISS, audience=AUD_URL, jwks={"keys": [ISSUER.public_jwk]})
    body = {"iss": ISS, "aud": AUD_URL, "sub": "ann", "exp": int(time.time()) + 600}
    bound = ISSUER.sign(CLIENT.bind(body))
    records: list[dict[str, Any]] = []
    guard = Guard(verifier, decision_log=None, on_decision=records.append,
                  protected_resource=resource,
                  sender_constraint=SenderConstraint(dpop=DpopVerifier(
                      replay=MemoryReplayStore(), nonces=nonces)))  # fmt: skip
    handler = guard(lambda event, context, principal: {"statusCode": 200, "body": "ok"})
    stale = DpopNonces(secret=OLD_SECRET, lifetime=300, clock=clock).issue()
    proof = CLIENT.proof("GET", URL, access_token=bound, nonce=stale)
    response = handler(event(proof, bound), None)
    assert response["statusCode"] == 401
    challenge = response["headers"]["WWW-Authenticate"]
    assert challenge.startswith('DPoP error="use_dpop_nonce", ')
    assert challenge.count("error=") == 1
    assert 'resource_metadata="' in challenge
    assert 'scope="orders.read"' in challenge
    assert not any(c in challenge for c in "\r\n\x00")
    fresh = response["headers"]["DPoP-Nonce"]
    text = json.dumps(records) + response["body"]
    assert fresh not in text
    assert stale not in text
    assert fresh not in challenge
    # The retry with the fresh nonce goes through, and carries the nonce again.
    retry = handler(event(CLIENT.proof("GET", URL, access_token=bound, nonce=fresh), bound), None)
    assert retry["statusCode"] == 200
    assert retry["headers"]["DPoP-Nonce"] == fresh


def test_a_nonce_refused_proof_keeps_its_jti_free() -> None:
    clock = Clock(time.time())
    nonces = DpopNonces(secret=SECRET, lifetime=300, clock=clock)
    dpop = DpopVerifier(replay=MemoryReplayStore(), nonces=nonces)
    forged = "A" * 32
    with pytest.raises(InvalidDpopProof):
        dpop.check(request(CLIENT.proof("GET", URL, access_token=TOKEN, jti="k", nonce=forged)),
                   TOKEN, jkt=CLIENT.jkt)  # fmt: skip
    good = CLIENT.proof("GET", URL, access_token=TOKEN, jti="k", nonce=nonces.issue())
    dpop.check(request(good), TOKEN, jkt=CLIENT.jkt)
