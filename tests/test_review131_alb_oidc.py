"""Review 131: ALB OIDC realities against AWS's documentation (commit b11b4d0).

Attacked: ``secauth.alb.AlbVerifier``, ``secauth.alb_keys`` (key URL and endpoint) and the Guard reading
``x-amzn-oidc-data`` from ALB, Function URL and API Gateway events. Everything runs against
``secauth.testing_alb.LocalAlb`` (a real PEM key server on 127.0.0.1, tokens minted as an ALB does).

AWS sources used:

* ELB guide, "Authenticate users using an Application Load Balancer", section "User claims encoding and
  signature verification" (docs.aws.amazon.com/elasticloadbalancing/latest/application/
  listener-authenticate-users.html#user-claims-encoding): the token is base64url WITH ``=`` padding, which
  standard JWT libraries reject; ES256; validate that ``signer`` is your load balancer; the key is a PEM at
  ``https://public-keys.auth.elb.<region>.amazonaws.com/<kid>`` (GovCloud: the ``s3-<region>`` bucket
  ``aws-elb-public-keys-prod-<region>``; China: ``.amazonaws.com.cn``); ``x-amzn-oidc-accesstoken`` and
  ``x-amzn-oidc-identity`` (the ``sub``) are plain text beside the signed token.
* awslabs/aws-jwt-verify #109, #180, #190 (ALB support: lenient padding, ``albArn`` list in one Region,
  key cache per kid); auth0/node-jws #84, potatosalad/erlang-jose #141, dvsekhvalnov/jose-jwt #271 (the
  padding quirk: the signature covers the PADDED segments, so stripping the padding breaks it).

What held (tests below assert it):

* ``signer`` naming another ALB (same account, other account, other Region, GovCloud/China twin of the
  ARN, a Region-spoofing string) is refused before any key fetch, even when the regional key signed it;
  the token's ``signer`` never chooses the key endpoint (the endpoint comes from configuration only);
* ``kid`` path tricks (``../``, ``%2F``, ``?``, ``#``, CR/LF, NUL, full-width digits, 10 000 chars) never
  reach the key server, neither through ``verify`` nor through ``AlbKeys.url_for``;
* ARNs whose Region would steer the key URL to another host are configuration errors; the real partitions
  map to the documented endpoints;
* padding: the ALB's padded token verifies; the same token with the padding stripped (signed padded) is
  refused; unpadded and mixed segments verify only when the ALB's key signed exactly those bytes;
* Guard: the principal comes from the verified token only - ``x-amzn-oidc-identity`` and
  ``x-amzn-oidc-accesstoken`` are never trusted (alone they are a 401, beside a token they change nothing);
  forged ``x-amzn-oidc-data`` through a Function URL, REST or HTTP API event is a 401 (a genuine token is
  accepted there: signature and signer hold, and docs/alb.md tells deployers to let only the ALB invoke);
  two values (multi-value mode, two case spellings, a comma-joined value) are ``ambiguous_credentials``.

Findings: none (no xfail in this file).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from guard_events import alb as alb_event
from guard_events import function_url, http_v2, rest_v1

from secauth import Guard
from secauth.alb import AlbVerifier
from secauth.alb_keys import AlbKeys, key_endpoint
from secauth.errors import ConfigurationError, SecAuthError, UnknownKey
from secauth.testing_alb import LocalAlb, padded_segment
from secauth.token_sources import TokenSource

ACCOUNT = "123456789012"
HEADER = "x-amzn-oidc-data"


def arn(region: str = "us-east-1", account: str = ACCOUNT, name: str = "local",
        lb_id: str = "0123456789abcdef", partition: str = "aws") -> str:  # fmt: skip
    return (
        f"arn:{partition}:elasticloadbalancing:{region}:{account}:loadbalancer/app/{name}/{lb_id}"
    )


@pytest.fixture
def alb() -> Iterator[LocalAlb]:
    with LocalAlb() as server:
        yield server


def verifier_for(alb: LocalAlb, **options: Any) -> AlbVerifier:
    return AlbVerifier(alb_arn=alb.arn, issuer=alb.issuer, client_id=alb.client_id,
                       key_endpoint=alb.key_endpoint, allow_http=True, **options)  # fmt: skip


def header_of(alb: LocalAlb, **changes: Any) -> dict[str, Any]:
    header: dict[str, Any] = {"typ": "JWT", "kid": alb.kid, "alg": "ES256", "iss": alb.issuer,
                              "client": alb.client_id, "signer": alb.arn, "exp": 4_000_000_000}  # fmt: skip
    header.update(changes)
    return {k: v for k, v in header.items() if v is not None}


def sign(key: ec.EllipticCurvePrivateKey, head: str, body: str, *, pad_sig: bool = True) -> str:
    """``head.body.signature``, the ES256 signature over the segments exactly as given."""
    der = key.sign(f"{head}.{body}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    sig = padded_segment(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    return f"{head}.{body}.{sig if pad_sig else sig.rstrip('=')}"


def alb_signed(alb: LocalAlb, header: dict[str, Any], claims: dict[str, Any],
               *, pad: tuple[bool, bool] = (True, True)) -> str:  # fmt: skip
    head, body = padded_segment(header), padded_segment(claims)
    head = head if pad[0] else head.rstrip("=")
    body = body if pad[1] else body.rstrip("=")
    return sign(alb.signing_key(alb.kid), head, body)


def refused(verifier: AlbVerifier, token: str) -> SecAuthError:
    with pytest.raises(SecAuthError) as info:
        verifier.verify(token)
    assert info.value.status == 401, info.value
    return info.value


# --- signer: another load balancer, never the key endpoint ------------------------------------------


@pytest.mark.parametrize(
    "signer",
    [
        arn(name="other"),  # same account, same Region, another ALB
        arn(lb_id="fedcba9876543210"),  # same name, recreated ALB (new id)
        arn(account="210987654321"),  # another account, same name and id
        arn(region="us-west-2"),  # another Region (its keys would differ anyway)
        arn(region="us-gov-west-1", partition="aws-us-gov"),  # GovCloud twin
        arn(region="cn-north-1", partition="aws-cn"),  # China twin
        arn(region="us-east-1.attacker.example"),  # a Region that would be a host
        arn().replace(":us-east-1:", ":us-east-1/../../attacker.example:"),
        arn() + "/listener/app/x/1",  # a longer ARN naming ours as a prefix
        arn().replace("arn:aws:", "arn:aws-cn:"),  # partition swapped
        " " + arn(),
        arn() + "\u0000",
    ],
)
def test_signer_of_any_other_load_balancer_is_refused_before_any_fetch(
    alb: LocalAlb, signer: str
) -> None:
    """AWS: every ALB of a Region signs with the same regional keys; only ``signer`` says which.
    Here the regional key really signed each token, so the signer check alone must refuse it."""
    verifier = verifier_for(alb)
    token = alb_signed(alb, header_of(alb, signer=signer), {"sub": "mallory"})
    refused(verifier, token)
    assert alb.fetches == 0
    assert verifier.keys.endpoint == alb.key_endpoint  # the token chose nothing


def test_accepted_signer_list_is_exact_per_alb(alb: LocalAlb) -> None:
    """Several ALBs of one Region (aws-jwt-verify's ``albArn`` list): each listed one passes, an
    unlisted sibling in the same account and Region does not."""
    listed = [alb.arn, arn(name="admin")]
    verifier = AlbVerifier(alb_arn=listed, issuer=alb.issuer, client_id=alb.client_id,
                           key_endpoint=alb.key_endpoint, allow_http=True)  # fmt: skip
    for signer in listed:
        assert (
            verifier.verify(alb_signed(alb, header_of(alb, signer=signer), {"sub": "a"}))["sub"]
            == "a"
        )
    refused(verifier, alb_signed(alb, header_of(alb, signer=arn(name="public")), {"sub": "a"}))


# --- kid into the key URL ----------------------------------------------------------------------------

GOOD_KID = "3f1c0b8e-2a4d-4c6e-9b7a-1d2e3f4a5b6c"


@pytest.mark.parametrize(
    "kid",
    [
        "../" + GOOD_KID,
        GOOD_KID + "/../../latest/meta-data",
        GOOD_KID + "%2F..%2F..%2Fx",
        GOOD_KID + "?x=1",
        GOOD_KID + "#frag",
        GOOD_KID + "\n",
        GOOD_KID + "\r\nHost: attacker.example",
        GOOD_KID + "\u0000",
        "%2e%2e%2f" + GOOD_KID,
        "\uff13f1c0b8e-2a4d-4c6e-9b7a-1d2e3f4a5b6c",  # a full-width digit
        "@attacker.example/" + GOOD_KID,
        "//attacker.example/" + GOOD_KID,
        GOOD_KID * 300,
        "a" * 10_000,
    ],
)
def test_kid_tricks_never_reach_the_key_server(alb: LocalAlb, kid: str) -> None:
    verifier = verifier_for(alb, max_token_size=1024 * 1024)
    alb.rotate(GOOD_KID)  # the genuine key of that UUID is served: only the tricks differ
    token = alb_signed(alb, header_of(alb, kid=kid), {"sub": "mallory"})
    refused(verifier, token)
    with pytest.raises(UnknownKey):
        verifier.keys.url_for(kid)
    assert alb.fetches == 0
    assert alb.fetched == []


def test_key_url_is_the_endpoint_and_the_uuid_only(alb: LocalAlb) -> None:
    keys = AlbKeys("https://public-keys.auth.elb.eu-west-1.amazonaws.com/")
    assert (
        keys.url_for(GOOD_KID) == f"https://public-keys.auth.elb.eu-west-1.amazonaws.com/{GOOD_KID}"
    )
    verifier = verifier_for(alb)
    assert verifier.verify(alb.token(sub="alice"))["sub"] == "alice"
    assert alb.fetched == [alb.kid]  # exactly /keys/<kid>, nothing appended


# --- Region / partition from the configured ARN --------------------------------------------------------


@pytest.mark.parametrize(
    ("configured", "endpoint"),
    [
        (arn(region="eu-west-1"), "https://public-keys.auth.elb.eu-west-1.amazonaws.com"),
        (arn(region="us-gov-east-1", partition="aws-us-gov"),
         "https://s3-us-gov-east-1.amazonaws.com/aws-elb-public-keys-prod-us-gov-east-1"),
        (arn(region="cn-northwest-1", partition="aws-cn"),
         "https://public-keys.auth.elb.cn-northwest-1.amazonaws.com.cn"),
    ],
)  # fmt: skip
def test_partitions_map_to_the_documented_endpoints(configured: str, endpoint: str) -> None:
    assert key_endpoint(configured) == endpoint
    verifier = AlbVerifier(alb_arn=configured, issuer=None, client_id=None)
    assert verifier.keys.endpoint == endpoint


@pytest.mark.parametrize(
    "configured",
    [
        arn(region="attacker.example"),
        arn(region="us-east-1.attacker.example"),
        arn(region="us-east-1@attacker.example"),
        arn(region="us-east-1/..//attacker.example"),
        arn(region="us-east-1#"),
        arn(region="us-east-1?x="),
        arn(region="us-east-1\n"),
        arn(region="US-EAST-1"),
        arn(region="us-gov-west-1"),  # GovCloud Region in the commercial partition
        arn(region="us-east-1", partition="aws-us-gov"),
        arn(region="us-east-1", partition="aws-cn"),
        arn(region="us-iso-east-1", partition="aws-iso"),  # unknown partition: no guessed endpoint
        arn(region="eu-west-1").replace("loadbalancer/app/", "loadbalancer/net/"),  # an NLB
        arn(region="eu-west-1") + "\n",
    ],
)
def test_an_arn_that_would_steer_the_key_url_is_a_configuration_error(configured: str) -> None:
    with pytest.raises(ConfigurationError):
        key_endpoint(configured)
    with pytest.raises(ConfigurationError):
        AlbVerifier(alb_arn=configured, issuer=None, client_id=None)


# --- the padding quirk, both ways ---------------------------------------------------------------------


def test_the_albs_padded_token_verifies_and_stripping_its_padding_breaks_it(alb: LocalAlb) -> None:
    """AWS pads and signs the padded segments (the quirk every JOSE library trips on): the token
    as sent verifies; the same token with its ``=`` removed is no longer what was signed."""
    verifier = verifier_for(alb)
    token = alb_signed(alb, header_of(alb), {"sub": "alice", "e": "x"})  # both segments padded
    head, body, sig = token.split(".")
    assert head.endswith("=")
    assert body.endswith("=")
    assert verifier.verify(token)["sub"] == "alice"
    for spoiled in (f"{head.rstrip('=')}.{body}.{sig}", f"{head}.{body.rstrip('=')}.{sig}",
                    f"{head.rstrip('=')}.{body.rstrip('=')}.{sig}"):  # fmt: skip
        refused(verifier, spoiled)
    # Adding padding to a segment signed without it is refused the same way.
    plain = alb_signed(alb, header_of(alb), {"sub": "alice", "e": "x"}, pad=(False, False))
    h, b, s = plain.split(".")
    assert verifier.verify(plain)["sub"] == "alice"  # the ALB's key signed exactly these bytes
    refused(verifier, f"{h}=.{b}.{s}")
    refused(verifier, f"{padded_segment(header_of(alb))}.{b}.{s}")


@pytest.mark.parametrize("pad", [(True, False), (False, True)], ids=["head-padded", "body-padded"])
def test_mixed_padding_verifies_only_as_signed(alb: LocalAlb, pad: tuple[bool, bool]) -> None:
    verifier = verifier_for(alb)
    token = alb_signed(alb, header_of(alb), {"sub": "alice", "e": "x"}, pad=pad)
    assert verifier.verify(token)["sub"] == "alice"
    head, body, sig = token.split(".")
    flipped = [head.rstrip("=") if pad[0] else padded_segment(header_of(alb)),
               body.rstrip("=") if pad[1] else padded_segment({"sub": "alice", "e": "x"})]  # fmt: skip
    refused(verifier, f"{flipped[0]}.{body}.{sig}")
    refused(verifier, f"{head}.{flipped[1]}.{sig}")


@pytest.mark.parametrize(
    "spoil",
    [
        lambda t: t.replace("-", "+").replace("_", "/"),  # standard base64 (pre-2019 ALB)
        lambda t: t.replace("=", "%3D"),  # padding percent-encoded by a proxy
        lambda t: t.replace("==", "=") if "==" in t else t + "=",
        lambda t: t.replace(".", "=.", 1),  # one '=' too many on the header
        lambda t: t + "==",
        lambda t: t.replace("=", "") + "====",
    ],
)
def test_padding_spellings_an_alb_never_sends_are_refused(
    alb: LocalAlb, spoil: Callable[[str], str]
) -> None:
    verifier = verifier_for(alb)
    token = alb_signed(alb, header_of(alb), {"sub": "alice", "email": "a+b/c@example.com?"})
    spoiled = spoil(token)
    if spoiled == token:
        pytest.skip("spelling unchanged for this token")
    refused(verifier, spoiled)


# --- Guard: headers beside the token, events that do not come from the ALB ------------------------


def guarded(verifier: AlbVerifier) -> Callable[[dict[str, Any], object], dict[str, Any]]:
    guard = Guard(verifier, token_sources=[TokenSource.header(verifier.header)], decision_log=None)

    @guard
    def handler(event: dict[str, Any], context: object, principal: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": f"{principal.id}|{principal.issuer}"}

    return handler


def test_identity_and_access_token_headers_are_never_trusted(alb: LocalAlb) -> None:
    """AWS: ``x-amzn-oidc-identity`` (the sub) and ``x-amzn-oidc-accesstoken`` are plain text; only
    the signed ``x-amzn-oidc-data`` says who the user is."""
    handler = guarded(verifier_for(alb))
    for multi_value in (False, True):
        lone = {
            "x-amzn-oidc-identity": "admin",
            "x-amzn-oidc-accesstoken": "eyJhbGciOiJub25lIn0.e30.",
        }
        assert handler(alb_event(headers=lone, multi_value=multi_value), None)["statusCode"] == 401
        both = {HEADER: alb.token(sub="alice"), **lone}
        answer = handler(alb_event(headers=both, multi_value=multi_value), None)
        assert answer == {**answer, "statusCode": 200, "body": f"alice|{alb.issuer}"}


def test_payload_iss_never_becomes_the_principals_issuer(alb: LocalAlb) -> None:
    handler = guarded(verifier_for(alb))
    token = alb_signed(alb, header_of(alb), {"sub": "alice", "iss": "https://attacker.example"})
    assert handler(alb_event(headers={HEADER: token}), None)["body"] == f"alice|{alb.issuer}"


def forged_tokens(alb: LocalAlb) -> dict[str, str]:
    attacker = ec.generate_private_key(ec.SECP256R1())
    header = padded_segment(header_of(alb))
    claims = padded_segment({"sub": "admin"})
    own_kid = padded_segment(header_of(alb, kid=str(uuid.uuid4())))
    return {
        "attacker key, real kid": sign(attacker, header, claims),
        "attacker key, attacker kid": sign(attacker, own_kid, claims),
        "alg none": f"{padded_segment(header_of(alb, alg='none'))}.{claims}.",
        "genuine token, claims swapped": ".".join(
            [header, claims, alb.token(sub="alice").split(".")[2]]
        ),
        "another ALB's genuine token": alb.token(
            sub="admin", headers={"signer": arn(name="other")}
        ),
    }


@pytest.mark.parametrize("kind", ["function_url", "http_v2", "rest_v1", "alb", "alb_multi"])
def test_forged_oidc_data_is_refused_whatever_the_event(alb: LocalAlb, kind: str) -> None:
    """A caller that reaches the function without the ALB (Function URL, an API, a direct invoke)
    can send any ``x-amzn-oidc-data``: only the signature and the signer decide."""
    handler = guarded(verifier_for(alb))
    build: dict[str, Callable[[dict[str, str]], dict[str, Any]]] = {
        "function_url": lambda h: function_url(headers=h),
        "http_v2": lambda h: http_v2(headers=h),
        "rest_v1": lambda h: rest_v1(headers=h),
        "alb": lambda h: alb_event(headers=h),
        "alb_multi": lambda h: alb_event(headers=h, multi_value=True),
    }
    for name, forged in forged_tokens(alb).items():
        answer = handler(build[kind]({HEADER: forged, "x-amzn-oidc-identity": "admin"}), None)
        assert answer["statusCode"] == 401, name
    # A genuine token verifies wherever it arrives (docs/alb.md: let only the ALB invoke).
    assert handler(build[kind]({HEADER: alb.token(sub="alice")}), None)["statusCode"] == 200


def test_two_copies_in_any_spelling_are_ambiguous(alb: LocalAlb) -> None:
    handler = guarded(verifier_for(alb))
    good, other = alb.token(sub="alice"), alb.token(sub="bob")
    spelled = alb_event()
    spelled["headers"].update({HEADER: good, "X-Amzn-Oidc-Data": other})
    multi = alb_event(multi_value=True)
    multi["multiValueHeaders"][HEADER] = [good, other]
    multi_cases = alb_event(multi_value=True)
    multi_cases["multiValueHeaders"].update({HEADER: [good], "X-AMZN-OIDC-DATA": [other]})
    joined = alb_event(headers={HEADER: f"{good},{other}"})
    for event in (spelled, multi, multi_cases, joined):
        answer = handler(event, None)
        assert answer["statusCode"] == 401
        assert "more than once" in answer["body"]  # ambiguous_credentials
    single = alb_event()
    single["headers"] = {"X-AMZN-OIDC-DATA": good}  # one copy, any case: read
    assert handler(single, None)["body"] == f"alice|{alb.issuer}"
