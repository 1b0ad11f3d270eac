"""Review 118 (adversarial): the fixes landed since 1322ee7 (commit 0534f60) attacked.

Resolved (the tests assert them): the two lows and the second info. A hit reads the clock
once (``JwtVerifier._hit``: the cache's freshness and the expiry are decided on one reading;
``VerifiedTokenCache`` keeps no clock of its own). ``issuer_problem`` refuses blanks and
invisible characters anywhere, a pool id in any case and a user pool's ARN, and refuses a
``cognito-idp`` spelling only under an ``.amazonaws.`` host. The first info is documented
instead (``clear_cache``, docs/verifier.md): a change to ``verifier.claims`` reaches tokens
verified before once the cache is cleared, as ``iss`` and ``aud`` never were checked on hits.

What was attacked: (a) the verified-token cache's ``made_at <= now < until`` rule and the
removal of the ``nbf`` re-check on hits (clocks read twice per hit, leeway or policy
changed after construction, ``revalidate`` for the Authorizer and Guard memos), the same
rule in the introspection cache and the revocation verdict memory; (b)
``issuers.issuer_problem`` behind ``revoke_*`` and ``secauth revoke`` (Cognito host
variants, ports, paths, percent-encoding, blanks and invisible characters, lookalikes,
pool ids and ARNs; legitimate Auth0, Okta, Entra, Keycloak and Google issuers); (c) the
``client_id`` string rule and the list rule for other audience claims (Okta ``cid``,
Entra ``appid``, Keycloak ``azp``, absent ``client_id``, an RFC 7662 answer with a list).
Differential runs against 1322ee7 over generated claims: (c) only ever refuses more
(lists and non-strings in ``client_id``, lists in a non-``aud`` audience claim, and a
``"client_id": null``, which is now refused as a non-string).

What held: a wall clock stepped back before an entry's ``made_at`` verifies the token
afresh (a future ``iat`` is refused again; ``revalidate`` says "not known"); revocation
verdicts remembered at a later time ask the store again; an introspection answer with a
list ``client_id`` fails closed for that token only (the endpoint does not rest);
``issuer_problem`` refuses every Cognito spelling tried (port, double slash, ``%5F``,
tabs, newlines, NBSP, upper case, http, trailing slash, pool id) and passes the real
Cognito formats (``issuer-``, ``.com.cn``, ``.eu``) and common IdPs' issuers; the CLI
answers a misspelt issuer with exit 2 and one line, before reaching the store; the
Cognito preset names ``client_id``; JWKS and ALB key sets run on ``time.monotonic`` by
default, so a wall clock step cannot extend them; DPoP nonces from a later window fail.

Findings:

- LOW: ``JwtVerifier._cached`` and ``revalidate`` read the clock twice per hit (the
  cache's ``get``, then ``_still_valid``); a wall clock stepped back between the reads
  serves the entry at a time earlier than its checks, and with ``nbf`` no longer
  re-checked a not-yet-valid token is accepted (1322ee7 refused it).
- LOW: ``issuer_problem`` passes a user pool's ARN
  (``arn:aws:cognito-idp:<region>:<account>:userpool/<pool id>``): ``revoke_*`` writes an
  entry that matches no token, review 116's medium by another spelling.
- INFO: lowering ``verifier.claims.leeway`` after a token was cached no longer refuses it
  before its ``nbf`` on hits (1322ee7 re-checked with the current leeway).
- INFO: invisible characters around an issuer (ZWSP, BOM) and an upper-case pool id pass
  ``issuer_problem``; an issuer that merely contains ``cognito-idp.`` outside AWS
  (``https://auth.cognito-idp.example.com/``) cannot be revoked at all.
"""

from __future__ import annotations

import io
import socket
from contextlib import redirect_stderr, redirect_stdout

import pytest
from hand_clock import Clock
from scripted_as import active, introspector, opaque

from secauth import cli
from secauth.errors import (
    ConfigurationError,
    InvalidAudience,
    InvalidClaims,
    KeysUnavailable,
    SecAuthError,
    TokenNotYetValid,
    TokenRevoked,
)
from secauth.issuers import issuer_problem
from secauth.revocation import Revocations
from secauth.revocation_stores import MemoryRevocationStore
from secauth.testing import LocalIssuer
from secauth.testing_cognito import LocalCognito
from secauth.verifier import JwtVerifier

ISS = "https://idp.example.com/"
POOL = "eu-west-1_AbC123"
POOL_ISS = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}"


class ReadingsClock(Clock):
    """A hand clock that answers the queued readings first, then ``now``; it records
    every reading it gave."""

    def __init__(self, now: float = 1000.0) -> None:
        super().__init__(now)
        self.queue: list[float] = []
        self.readings: list[float] = []

    def __call__(self) -> float:
        value = self.queue.pop(0) if self.queue else self.now
        self.readings.append(value)
        return value


@pytest.fixture(scope="module")
def idp() -> LocalIssuer:
    return LocalIssuer(("ES256",))  # its keys only: no server needed


def cached(
    idp: LocalIssuer, clock: Clock, claims: dict[str, object], **options: object
) -> tuple[JwtVerifier, str]:
    verifier = JwtVerifier(issuer=ISS, audience="api", jwks=idp.jwks(), clock=clock, **options)
    token = idp.key.sign({"iss": ISS, "aud": "api", "exp": 5000, **claims})
    verifier.verify(token)
    verifier.verify(token)  # the second verification keeps it
    assert verifier.revalidate(token)
    return verifier, token


# -- (a) the verified-token cache and a clock stepped back -----------------------------


@pytest.mark.parametrize("use", ["verify", "revalidate"])
def test_a_clock_stepped_back_before_made_at_verifies_afresh(idp: LocalIssuer, use: str) -> None:
    clock = ReadingsClock(1000.0)
    verifier, token = cached(idp, clock, {"iat": 1050})  # 50 s ahead: within max_future_iat
    clock.now = 900.0  # stepped back: iat is now 150 s ahead, refused on a fresh check
    if use == "revalidate":  # the memos' check: "not known here", so they verify again
        assert verifier.revalidate(token) is False
    with pytest.raises(TokenNotYetValid):  # iat too far ahead
        verifier.verify(token)


# fmt: off
@pytest.mark.parametrize("use", ["verify", "revalidate"])
def test_a_hit_is_never_served_at_a_reading_before_its_nbf(idp: LocalIssuer, use: str) -> None:
    clock = ReadingsClock(1000.0)
    verifier, token = cached(idp, clock, {"nbf": 1000, "iat": 1000})
    clock.readings.clear()
    clock.queue = [1000.0, 500.0]  # the wall clock steps back 500 s during the hit
    try:
        verifier.verify(token) if use == "verify" else verifier.revalidate(token)
    except SecAuthError:
        return  # refused: secure
    # accepted: only if no reading this call rested on lies before nbf
    assert min(clock.readings) >= 1000.0, clock.readings
# fmt: on


# fmt: off
def test_a_lowered_leeway_applies_to_cached_tokens_once_the_cache_is_cleared(
    idp: LocalIssuer,
) -> None:
    """Documented (docs/verifier.md, ``clear_cache``): a verifier's claim policy is read when
    a token is verified; a change to it reaches the tokens verified before once
    ``clear_cache()`` runs (as ``iss`` and ``aud`` were never checked again on a hit)."""
    clock = Clock(1000.0)
    verifier, token = cached(idp, clock, {"nbf": 1030}, leeway=60)
    verifier.claims.leeway = 0.0  # the operator tightens the skew allowance
    verifier.clear_cache()
    with pytest.raises(SecAuthError):
        verifier.verify(token)
# fmt: on


# -- (a) revocation verdicts and a clock stepped back ----------------------------------


def test_a_remembered_verdict_is_not_served_to_an_earlier_clock() -> None:
    clock = Clock(1000.0)
    store = MemoryRevocationStore(clock=clock)
    here = Revocations(store, max_token_lifetime=3600, max_staleness=30, clock=clock)
    claims = {"iss": ISS, "sub": "ann", "jti": "j1", "iat": 900, "exp": 4000}
    here.check(claims)  # not revoked, remembered at 1000
    other = Revocations(store, max_token_lifetime=3600, clock=clock)
    other.revoke_subject(ISS, "ann", before=950)  # another container signs ann out
    clock.now = 990.0  # stepped back: the verdict read at 1000 must not answer
    with pytest.raises(TokenRevoked):
        here.check(claims)


# -- (b) misspelt issuers -----------------------------------------------------------------

REFUSED = [
    POOL,
    POOL_ISS + "/",
    POOL_ISS.replace("https", "http"),
    POOL_ISS.replace("eu-west-1.", "EU-WEST-1."),
    POOL_ISS.replace(".com/", ".com:443/"),
    POOL_ISS.replace(".com/", ".com//"),
    POOL_ISS.replace("1_", "1%5F"),
    POOL_ISS + "\n",
    POOL_ISS.replace(".com/", ".com/\t"),
    POOL_ISS + "\u00a0",
    " " + ISS,
    ISS + "\t",
]
PASSED = [
    POOL_ISS,
    POOL_ISS.replace("//cognito", "//issuer-cognito"),
    "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_AbC",
    "https://cognito-idp.eusc-de-east-1.amazonaws.eu/eusc-de-east-1_AbC",
    "https://tenant.eu.auth0.com/",
    "https://dev-123.okta.com/oauth2/default",
    "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
    "https://sts.windows.net/9188040d-6c67-4c5b-b112-36a304b66dad/",
    "https://kc.example.com/realms/my-realm",
    "https://accounts.google.com",
    "accounts.google.com",
    "urn:example:issuer",
]


@pytest.mark.parametrize("issuer", REFUSED)
def test_b_revocations_refuse_spellings_no_token_carries(issuer: str) -> None:
    revocations = Revocations(MemoryRevocationStore(), max_token_lifetime=3600)
    with pytest.raises(ConfigurationError):
        revocations.revoke_subject(issuer, "ann")
    assert issuer_problem(issuer) is not None


@pytest.mark.parametrize("issuer", PASSED)
def test_b_legitimate_issuers_can_be_revoked_and_match(issuer: str) -> None:
    clock = Clock()
    revocations = Revocations(
        MemoryRevocationStore(clock=clock), max_token_lifetime=3600, clock=clock
    )
    revocations.revoke_subject(issuer, "ann")
    with pytest.raises(TokenRevoked):
        revocations.check({"iss": issuer, "sub": "ann", "iat": 900, "exp": 2000})


# fmt: off
def test_b_a_user_pool_arn_is_refused() -> None:
    arn = f"arn:aws:cognito-idp:eu-west-1:123456789012:userpool/{POOL}"
    revocations = Revocations(MemoryRevocationStore(), max_token_lifetime=3600)
    with pytest.raises(ConfigurationError):
        revocations.revoke_subject(arn, "ann")
# fmt: on


# fmt: off
@pytest.mark.parametrize("issuer", [ISS + "\u200b", "\ufeff" + ISS, POOL + "\u200b", POOL.upper()])
def test_b_invisible_or_upper_case_spellings_are_refused(issuer: str) -> None:
    assert issuer_problem(issuer) is not None
# fmt: on


# fmt: off
def test_b_a_non_aws_issuer_containing_cognito_idp_can_be_revoked() -> None:
    issuer = "https://auth.cognito-idp.example.com/"
    clock = Clock()
    revocations = Revocations(MemoryRevocationStore(clock=clock), max_token_lifetime=3600, clock=clock)
    revocations.revoke_subject(issuer, "ann")
    with pytest.raises(TokenRevoked):
        revocations.check({"iss": issuer, "sub": "ann", "iat": 900, "exp": 2000})
# fmt: on


@pytest.mark.parametrize("issuer", [POOL, POOL_ISS + "/", " " + ISS])
def test_b_the_cli_refuses_a_issuer_problem_cleanly(issuer: str) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(
            [
                "revoke",
                "subject",
                "ann",
                "--issuer",
                issuer,
                "--redis",
                f"redis://127.0.0.1:{port}/0",
            ]
        )
    assert code == 2
    assert "cannot be a token's issuer" in err.getvalue()
    assert "Traceback" not in err.getvalue()
    assert "did not answer" not in err.getvalue()


# -- (c) client_id ------------------------------------------------------------------------


@pytest.mark.parametrize("claim", ["cid", "appid", "azp"])
def test_c_other_client_claims_still_pass_and_client_id_may_be_absent(
    idp: LocalIssuer, claim: str
) -> None:
    clock = Clock(1000.0)
    verifier = JwtVerifier(issuer=ISS, audience="api", jwks=idp.jwks(), clock=clock)
    token = idp.key.sign({"iss": ISS, "aud": ["api", "x"], "exp": 5000, claim: "web"})
    assert verifier.verify(token)[claim] == "web"
    by_claim = JwtVerifier(
        issuer=ISS, audience="web", audience_claim=claim, jwks=idp.jwks(), clock=clock
    )
    assert by_claim.verify(token)["aud"] == ["api", "x"]
    listed = idp.key.sign({"iss": ISS, "exp": 5000, claim: ["web", "evil"]})
    with pytest.raises(InvalidAudience):
        by_claim.verify(listed)


@pytest.mark.parametrize("value", [["localclient1"], ["localclient1", "evil"], 5])
def test_c_cognito_access_tokens_need_one_string_client_id(value: object) -> None:
    pool = LocalCognito(POOL)
    verifier = JwtVerifier.cognito(
        user_pool_id=POOL, client_id="localclient1", token_use="access", jwks=pool.jwks()
    )
    assert verifier.verify(pool.access_token())["client_id"] == "localclient1"
    token = pool.access_token(client_id=value)  # type: ignore[arg-type]
    with pytest.raises((InvalidAudience, InvalidClaims)):
        verifier.verify(token)
    with pytest.raises(ConfigurationError, match="client_id"):
        JwtVerifier.cognito(user_pool_id=POOL, client_id=[], token_use="access")


def test_c_an_introspection_answer_with_a_client_id_list_fails_that_token_only(
    scripted: object,
) -> None:
    clock = Clock(2_000_000_000.0)
    verifier = introspector(scripted, clock=clock)
    listed, good = opaque(), opaque()
    scripted.answer(listed, active(clock.now, client_id=["web", "evil"]))  # type: ignore[attr-defined]
    scripted.answer(good, active(clock.now))  # type: ignore[attr-defined]
    for _ in range(2):
        with pytest.raises((InvalidClaims, KeysUnavailable)):
            verifier.verify(listed)
        assert verifier.verify(good)["sub"] == "ann"  # the endpoint does not rest
