"""AlbVerifier: the ``x-amzn-oidc-data`` token of an ALB with OIDC authentication.

Every key is served by a real HTTP server on 127.0.0.1 (``secauth.testing_alb.LocalAlb``,
which mints tokens the way an ALB does: ES256, claims in the header, ``=`` padding), or
the connection is refused by a real closed port.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from guard_events import alb as alb_event
from hand_clock import Clock

from secauth import Guard, JwtVerifier, jose
from secauth.alb import AlbVerifier
from secauth.alb_keys import AlbKeys, key_endpoint
from secauth.errors import (
    ConfigurationError,
    InvalidAudience,
    InvalidClaims,
    InvalidIssuer,
    InvalidSignature,
    KeysUnavailable,
    MalformedToken,
    MissingToken,
    TokenExpired,
    UnknownKey,
)
from secauth.events import Request
from secauth.jwk import VerificationKey
from secauth.testing import KeyPair, sign_compact
from secauth.testing_alb import LocalAlb, padded_segment
from secauth.token_sources import TokenSource

OTHER_ARN = (
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/other/fedcba9876543210"
)


@pytest.fixture
def alb() -> Iterator[LocalAlb]:
    with LocalAlb() as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_verifier(alb: LocalAlb, clock: Clock | None = None, **options: Any) -> AlbVerifier:
    key_options = {"clock": clock} if clock is not None else {}
    key_options.update(options.pop("key_options", {}))
    return AlbVerifier(
        alb_arn=alb.arn,
        issuer=alb.issuer,
        client_id=alb.client_id,
        key_endpoint=alb.key_endpoint,
        allow_http=True,
        key_options=key_options,
        **options,
    )


def closed_port_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/keys"


# --- what passes ---------------------------------------------------------------------------


def test_a_valid_token_verifies_and_returns_the_user_claims(alb: LocalAlb) -> None:
    verifier = make_verifier(alb)
    token = alb.token(sub="alice", email="alice@example.com")
    assert all(part.endswith("=") for part in token.split(".")[2:])  # the ALB pads
    claims = verifier.verify(token)
    # The user's claims, and the issuer the ALB signed into the header.
    assert claims == {"sub": "alice", "email": "alice@example.com", "iss": alb.issuer}
    assert alb.fetched == [alb.kid]
    assert verifier.verify(token)["sub"] == "alice"
    assert alb.fetches == 1  # the key is cached


def test_verify_async_shares_the_key_cache(alb: LocalAlb) -> None:
    verifier = make_verifier(alb)

    async def run() -> list[dict[str, Any]]:
        tokens = [alb.token(sub=f"user-{i}") for i in range(5)]
        return await asyncio.gather(*(verifier.verify_async(t) for t in tokens))

    results = asyncio.run(run())
    assert [c["sub"] for c in results] == [f"user-{i}" for i in range(5)]
    assert alb.fetches == 1  # five coroutines, one fetch
    assert verifier.verify(alb.token(sub="bob"))["sub"] == "bob"
    assert alb.fetches == 1


def test_threads_asking_for_one_new_kid_share_one_fetch(alb: LocalAlb) -> None:
    verifier = make_verifier(alb)
    token = alb.token(sub="alice")
    start = threading.Barrier(8)
    results: list[str] = []

    def worker() -> None:
        start.wait()
        results.append(verifier.verify(token)["sub"])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["alice"] * 8
    assert alb.fetches == 1


def test_a_rotated_key_is_fetched_by_its_new_kid(alb: LocalAlb) -> None:
    verifier = make_verifier(alb)
    old_kid = alb.kid
    assert verifier.verify(alb.token(sub="a"))["sub"] == "a"
    alb.rotate()
    assert verifier.verify(alb.token(sub="b"))["sub"] == "b"
    assert alb.fetched == [old_kid, alb.kid]
    alb.remove(old_kid)  # withdrawn: an endpoint that answers 404 does not know the kid
    with pytest.raises(UnknownKey) as caught:
        make_verifier(alb).verify(alb.token(sub="c", headers={"kid": old_kid}))
    assert caught.value.detail["status"] == 404


def test_header_fields_and_payload_time_claims_are_checked_together(alb: LocalAlb) -> None:
    """``exp`` comes from the header; an ``exp`` the payload carries too must hold as well."""
    verifier = make_verifier(alb)
    with pytest.raises(TokenExpired):
        verifier.verify(alb.token(sub="a", exp=1_000_000))
    assert verifier.verify(alb.token(sub="a", exp=4_000_000_000))["exp"] == 4_000_000_000


# --- what fails, and why --------------------------------------------------------------------


def test_a_token_from_another_load_balancer_is_refused_before_any_fetch(alb: LocalAlb) -> None:
    """Every ALB of a Region signs with the same keys: ``signer`` binds the token to yours."""
    verifier = make_verifier(alb)
    with pytest.raises(InvalidClaims) as caught:
        verifier.verify(alb.token(sub="a", headers={"signer": OTHER_ARN}))
    assert caught.value.detail["claim"] == "signer"
    with pytest.raises(InvalidClaims):
        verifier.verify(alb.token(sub="a", headers={"signer": None}))
    assert alb.fetches == 0


def test_several_load_balancers_of_one_region_may_be_accepted(alb: LocalAlb) -> None:
    verifier = AlbVerifier(
        alb_arn=[alb.arn, OTHER_ARN],
        issuer=alb.issuer,
        client_id=alb.client_id,
        key_endpoint=alb.key_endpoint,
        allow_http=True,
    )
    assert verifier.verify(alb.token(sub="a", headers={"signer": OTHER_ARN}))["sub"] == "a"


def test_an_expired_token_is_refused(alb: LocalAlb) -> None:
    verifier = make_verifier(alb)
    with pytest.raises(TokenExpired):
        verifier.verify(alb.token(sub="a", lifetime=-5))
    assert make_verifier(alb, leeway=30).verify(alb.token(sub="a", lifetime=-5))["sub"] == "a"
    with pytest.raises(InvalidClaims):  # exp is required
        verifier.verify(alb.token(sub="a", headers={"exp": None}))
    with pytest.raises(InvalidClaims):  # and a number, not a string
        verifier.verify(alb.token(sub="a", headers={"exp": "4000000000"}))


def test_wrong_issuer_or_client_is_refused(alb: LocalAlb) -> None:
    verifier = make_verifier(alb)
    with pytest.raises(InvalidIssuer):
        verifier.verify(alb.token(sub="a", headers={"iss": "https://evil.example.com"}))
    with pytest.raises(InvalidAudience):
        verifier.verify(alb.token(sub="a", headers={"client": "another-client"}))
    with pytest.raises(InvalidAudience):
        verifier.verify(alb.token(sub="a", headers={"client": None}))
    unchecked = AlbVerifier(
        alb_arn=alb.arn,
        issuer=None,
        client_id=None,
        key_endpoint=alb.key_endpoint,
        allow_http=True,
    )
    assert unchecked.verify(alb.token(sub="a", headers={"client": "x"}))["sub"] == "a"


def test_a_tampered_token_is_refused(alb: LocalAlb) -> None:
    verifier = make_verifier(alb)
    header, payload, signature = alb.token(sub="alice").split(".")
    forged_payload = padded_segment({"sub": "admin"})
    with pytest.raises(InvalidSignature):
        verifier.verify(f"{header}.{forged_payload}.{signature}")
    forged_header = padded_segment(
        {"typ": "JWT", "kid": alb.kid, "alg": "ES256", "iss": alb.issuer,
         "client": alb.client_id, "signer": alb.arn, "exp": 4_000_000_000}
    )  # fmt: skip
    with pytest.raises(InvalidSignature):
        verifier.verify(f"{forged_header}.{payload}.{signature}")
    stranger = LocalAlb()  # another key under the same kid: a forgery
    stranger.rotate(kid=alb.kid)
    with pytest.raises(InvalidSignature):
        verifier.verify(stranger.token(sub="admin"))


def test_the_header_stays_strict(alb: LocalAlb) -> None:
    """Padding is the only leniency: alg, kid and key-bearing headers are checked as ever."""
    verifier = make_verifier(alb)
    with pytest.raises(InvalidSignature):
        verifier.verify(alb.token(sub="a", headers={"alg": "ES384"}))
    with pytest.raises(InvalidSignature):
        verifier.verify(alb.token(sub="a", headers={"alg": "none"}))
    with pytest.raises(MalformedToken):
        verifier.verify(alb.token(sub="a", headers={"jku": "https://evil.example.com/k"}))
    with pytest.raises(MalformedToken):
        verifier.verify(alb.token(sub="a", headers={"crit": ["x"], "x": 1}))
    with pytest.raises(MalformedToken):  # nothing but an ALB key id goes into a key URL
        verifier.verify(alb.token(sub="a", headers={"kid": "../../etc/passwd"}))
    with pytest.raises(MissingToken):
        verifier.verify("")
    with pytest.raises(MalformedToken):
        verifier.verify("a.b")
    assert alb.fetches == 0


@pytest.mark.parametrize(
    "spoil",
    [
        lambda seg: seg + "==",  # padding where none is due
        lambda seg: seg.rstrip("=") + "=",  # one '=' where two are due
        lambda seg: seg + "=",  # three '=' in all
    ],
)
def test_padding_must_be_exactly_what_base64_needs(alb: LocalAlb, spoil: Any) -> None:
    verifier = make_verifier(alb)
    header, payload, signature = alb.token(sub="alice").split(".")
    assert signature.endswith("==")
    with pytest.raises(MalformedToken):
        verifier.verify(f"{header}.{payload}.{spoil(signature)}")


def test_padding_is_tolerated_for_alb_tokens_only(alb: LocalAlb) -> None:
    """The same token and key: AlbVerifier accepts the ALB's padding, JwtVerifier does not."""
    token = alb.token(sub="alice")
    assert make_verifier(alb).verify(token)["sub"] == "alice"
    jwk = dict(VerificationKey.from_pem(alb.pem(alb.kid), kid=alb.kid).jwk)
    strict = JwtVerifier(issuer=None, audience=None, require_exp=False, jwks={"keys": [jwk]})
    with pytest.raises(MalformedToken):
        strict.verify(token)
    with pytest.raises(MalformedToken):
        jose.parse(token)
    header, payload, _ = token.split(".")
    resigned = KeyPair("ES256", alb.kid, alb.signing_key(alb.kid))
    unpadded = sign_compact(jose.parse_header(header.rstrip("=")).header, payload.rstrip("="),
                            resigned.private_key, "ES256")  # fmt: skip
    assert strict.verify(unpadded)["sub"] == "alice"  # the key is sound for plain JOSE
    assert make_verifier(alb).verify(unpadded)["sub"] == "alice"  # and unpadded passes here


# --- the key endpoint ------------------------------------------------------------------------


def test_an_unreachable_key_endpoint_is_a_retryable_503_never_an_allow(
    alb: LocalAlb, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="secauth.alb")
    verifier = make_verifier(alb, clock)
    alb.mode = "error"
    token = alb.token(sub="alice")
    with pytest.raises(KeysUnavailable) as caught:
        verifier.verify(token)
    assert caught.value.status == 503
    assert caught.value.retryable
    assert caught.value.detail["cause"] == {
        "kind": "http_status",
        "status": 503,
        "document": "alb_key",
    }
    assert verifier.keys.last_failure is not None
    with pytest.raises(KeysUnavailable):  # backing off: no second request
        verifier.verify(token)
    assert alb.fetches == 1
    assert "http_status status=503" in caplog.text
    assert token not in caplog.text
    assert "service unavailable" not in caplog.text
    alb.mode = "ok"
    clock.now += 1.5  # past the first backoff
    assert verifier.verify(token)["sub"] == "alice"
    assert verifier.keys.last_failure is None


def test_a_refused_connection_is_a_503_with_its_cause(alb: LocalAlb) -> None:
    verifier = AlbVerifier(
        alb_arn=alb.arn,
        issuer=alb.issuer,
        client_id=alb.client_id,
        key_endpoint=closed_port_endpoint(),
        allow_http=True,
    )
    with pytest.raises(KeysUnavailable) as caught:
        verifier.verify(alb.token(sub="a"))
    assert caught.value.detail["cause"]["kind"] == "connection"


def test_an_answer_that_is_no_key_is_a_503(alb: LocalAlb) -> None:
    verifier = make_verifier(alb)
    alb.mode = "garbage"
    with pytest.raises(KeysUnavailable) as caught:
        asyncio.run(verifier.verify_async(alb.token(sub="a")))
    assert caught.value.detail["cause"]["kind"] == "bad_document"


def test_a_cached_key_serves_while_its_refresh_fails(alb: LocalAlb, clock: Clock) -> None:
    verifier = make_verifier(alb, clock, key_options={"ttl": 60, "max_age": 600})
    token = alb.token(sub="alice")
    assert verifier.verify(token)["sub"] == "alice"
    alb.mode = "error"
    clock.now += 120  # stale: refetched, which fails, so the old key serves
    assert verifier.verify(token)["sub"] == "alice"
    assert alb.fetches == 2
    clock.now += 600  # too old to serve at all
    with pytest.raises(KeysUnavailable):
        verifier.verify(token)


def test_kids_not_cached_are_fetched_at_most_four_times_per_cooldown(
    alb: LocalAlb, clock: Clock
) -> None:
    verifier = make_verifier(alb, clock, key_options={"refetch_cooldown": 30})
    with pytest.raises(UnknownKey) as caught:
        verifier.verify(alb.token(sub="a", headers={"kid": "00000000-0000-4000-8000-000000000001"}))
    assert caught.value.detail["status"] == 404
    assert alb.fetches == 1
    for n in range(2, 20):  # a flood of made-up kids
        made_up = f"00000000-0000-4000-8000-{n:012d}"
        with pytest.raises(UnknownKey):
            verifier.verify(alb.token(sub="a", headers={"kid": made_up}))
    assert alb.fetches == 4  # the window's budget
    third = alb.rotate()
    token = alb.token(sub="a")
    with pytest.raises(UnknownKey):  # the budget is spent: cooling down
        verifier.verify(token)
    clock.now += 31
    assert verifier.verify(token)["sub"] == "a"
    assert alb.fetched[-1] == third
    assert alb.fetches == 5


def test_a_few_made_up_kids_do_not_hold_back_a_real_one(alb: LocalAlb, clock: Clock) -> None:
    """Review 5: one made-up kid on a cold cache started a cooldown shared by every kid
    not cached, so the real key was refused (401) for 30 s."""
    verifier = make_verifier(alb, clock, key_options={"refetch_cooldown": 30})
    for n in range(3):
        with pytest.raises(UnknownKey):
            verifier.verify(alb.token(sub="x", headers={"kid": f"00000000-0000-4000-8000-{n:012d}"}))
    assert verifier.verify(alb.token(sub="alice"))["sub"] == "alice"


def test_when_the_cache_is_full_the_key_used_least_recently_goes(
    alb: LocalAlb, clock: Clock
) -> None:
    """Review 5: the oldest key went, even one verifying every request, so kids cycling
    through a full cache forced a fetch per request."""
    verifier = make_verifier(alb, clock, key_options={"refetch_cooldown": 30})
    first, genuine = alb.kid, alb.token(sub="alice")
    assert verifier.verify(genuine)["sub"] == "alice"  # cached first: the oldest entry
    for _ in range(40):  # more keys than the cache holds, each found by the endpoint
        other = alb.rotate()
        assert verifier.verify(alb.token(sub="b"))["sub"] == "b"
        assert verifier.keys.key_for(other) is not None
        assert verifier.verify(genuine)["sub"] == "alice"  # in use: kept
        clock.now += 10  # at most four kids not cached are fetched per 30 s
    assert alb.fetched.count(first) == 1  # never evicted, never fetched again


def test_tokens_and_keys_never_reach_the_logs(
    alb: LocalAlb, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    verifier = make_verifier(alb)
    token = alb.token(sub="alice")
    verifier.verify(token)
    alb.mode = "error"
    alb.rotate()
    with pytest.raises(KeysUnavailable) as caught:
        verifier.verify(alb.token(sub="bob"))
    shown = caplog.text + repr(caught.value) + str(caught.value.detail)
    assert token not in shown
    assert token.split(".")[2] not in shown
    assert "BEGIN PUBLIC KEY" not in shown


# --- configuration -------------------------------------------------------------------------


def test_the_region_and_partition_pick_the_key_endpoint() -> None:
    arn = "arn:{}:elasticloadbalancing:{}:123456789012:loadbalancer/app/web/50dc6c495c0c9188"
    assert key_endpoint(arn.format("aws", "eu-central-1")) == (
        "https://public-keys.auth.elb.eu-central-1.amazonaws.com"
    )
    assert key_endpoint(arn.format("aws-us-gov", "us-gov-east-1")) == (
        "https://s3-us-gov-east-1.amazonaws.com/aws-elb-public-keys-prod-us-gov-east-1"
    )
    assert key_endpoint(arn.format("aws-cn", "cn-northwest-1")) == (
        "https://public-keys.auth.elb.cn-northwest-1.amazonaws.com.cn"
    )
    for partition, region in (("aws", "us-gov-west-1"), ("aws-cn", "us-east-1")):
        with pytest.raises(ConfigurationError):
            key_endpoint(arn.format(partition, region))
    verifier = AlbVerifier(
        alb_arn=arn.format("aws", "eu-central-1"), issuer="https://idp", client_id="c"
    )
    assert verifier.keys.url_for("00000000-0000-4000-8000-000000000001") == (
        "https://public-keys.auth.elb.eu-central-1.amazonaws.com/00000000-0000-4000-8000-000000000001"
    )


def test_bad_configuration_fails_at_construction(alb: LocalAlb) -> None:
    with pytest.raises(ConfigurationError, match="not an Application Load Balancer ARN"):
        AlbVerifier(alb_arn="arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/x/y",
                    issuer="https://i", client_id="c")  # fmt: skip
    with pytest.raises(ConfigurationError, match="several Regions"):
        AlbVerifier(
            alb_arn=[alb.arn, OTHER_ARN.replace("us-east-1", "eu-west-1")],
            issuer="https://i",
            client_id="c",
        )
    with pytest.raises(ConfigurationError, match="https"):  # http only by explicit opt-in
        AlbVerifier(alb_arn=alb.arn, issuer="https://i", client_id="c",
                    key_endpoint=alb.key_endpoint)  # fmt: skip
    with pytest.raises(ConfigurationError, match="loopback"):
        AlbKeys("http://keys.example.com/", allow_http=True)


# --- in a handler and behind Guard ------------------------------------------------------------


def test_inside_a_handler_the_token_comes_from_the_alb_header(alb: LocalAlb) -> None:
    """What docs/alb.md shows: read ``verifier.header`` from the normalized request."""
    verifier = make_verifier(alb)
    for multi_value in (False, True):
        event = alb_event(headers={"x-amzn-oidc-data": alb.token(sub="alice")},
                          multi_value=multi_value)  # fmt: skip
        headers = Request.from_event(event).headers
        assert verifier.verify(headers[verifier.header])["sub"] == "alice"
    with pytest.raises(MissingToken):
        verifier.verify(Request.from_event(alb_event()).headers.get(verifier.header, ""))


@pytest.mark.parametrize("multi_value", [False, True], ids=["single", "multi"])
def test_guard_reads_the_alb_header_through_a_token_source(
    alb: LocalAlb, multi_value: bool
) -> None:
    """``Guard(verifier, token_sources=[TokenSource.header(verifier.header)])`` on ALB
    events: the bare token in the header verifies; another ALB's, none, or two are 401."""
    verifier = make_verifier(alb)
    guard = Guard(verifier, token_sources=[TokenSource.header(verifier.header)],
                  decision_log=None)  # fmt: skip

    @guard
    def handler(event: dict[str, Any], context: object, principal: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": principal.id}

    def event(value: str | None) -> dict[str, Any]:
        headers = {verifier.header: value} if value is not None else {}
        return alb_event(headers=headers, multi_value=multi_value)

    assert handler(event(alb.token(sub="alice")), None)["body"] == "alice"
    other = alb.token(sub="mallory", headers={"signer": OTHER_ARN})
    assert handler(event(other), None)["statusCode"] == 401
    assert handler(event(None), None)["statusCode"] == 401
    assert (
        handler(alb_event(authorization=f"Bearer {alb.token(sub='a')}"), None)["statusCode"] == 401
    )
    if multi_value:
        twice = event(alb.token(sub="alice"))
        twice["multiValueHeaders"][verifier.header].append(alb.token(sub="bob"))
        assert handler(twice, None)["statusCode"] == 401


def test_guard_verifies_alb_tokens_in_async_handlers(alb: LocalAlb) -> None:
    verifier = make_verifier(alb)
    guard = Guard(verifier, token_sources=[TokenSource.header(verifier.header)],
                  decision_log=None)  # fmt: skip

    @guard
    async def handler(event: dict[str, Any], context: object, principal: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": principal.id}

    event = alb_event(headers={verifier.header: alb.token(sub="alice")})
    assert asyncio.run(handler(event, None))["body"] == "alice"
