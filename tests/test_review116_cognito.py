"""Review 116: Amazon Cognito realities, attacked against a Cognito-shaped pool on loopback.

Resolved (the tests assert them): all four findings. The ``revoke_*`` calls refuse an issuer
no token can carry (``issuers.issuer_problem``: blanks around it, a pool id, a Cognito issuer
in upper case, over http or with a trailing slash) with ``ConfigurationError``; ``client_id``
is one string whenever present (``claim_policy``), and only ``aud`` may be a list when it is
the audience claim; the Cognito preset checks ``client_id`` itself and names it in the error.

Commit attacked: dfb32fc. Everything runs against ``secauth.testing_cognito.LocalCognito`` (real
issuer strings, each issuer's keys served from its own loopback ``LocalIssuer``), through the
real ``CognitoVerifier``, ``Authorizer``, ``Guard``, ``Revocations`` and CLI.

Attacked, and held:

* token_use confusion, both ways, end to end (Authorizer and Guard): an ID token where an access
  token is required and the reverse, also when a trigger copied ``client_id`` into the ID token
  or ``aud`` into the access token, and ``token_use`` spelled ``"Access"``, ``"access "`` or
  ``["access"]``;
* another app client of the same pool (``client_id`` of another client with our id in a
  customised ``aud``; no ``client_id`` at all);
* another pool, Region or host: trailing slash, upper-case Region or host, ``http://``, a
  lookalike ``amazonaws.com.evil.example`` host, the updated format when only ``original`` is
  accepted, an unconfigured replica Region: ``invalid_issuer``, with no JWKS fetched for it;
* M2M (client-credentials) tokens: refused for a user app client; accepted only for a listed
  M2M client, mapped to its ``sub`` (the client id) with custom scopes and no roles;
* ``cognito:groups`` / ``scope`` of odd types (string, nested list, object, non-string items,
  more than 256 groups): ``invalid_claims``, never coerced; group names with commas, spaces,
  quotes and JSON survive the Authorizer context to a trust-mode Guard as one exact name and
  never grant the role they spell;
* the principal id is ``sub``, never ``username`` / ``cognito:username``;
* a revoked refresh-token family (``origin_jti``) refuses its access and ID tokens under both
  issuer formats, and only that family;
* configuration errors: pool id without a Region, an issuer URL, upper-case Region, a trailing
  newline, an empty suffix, ``token_use`` spellings: ``ConfigurationError`` naming an example;
  the CLI answers bad ``--cognito-pool`` / ``--region`` / ``--client-id`` input with a usage
  error, never a verification.

Findings (each an ``xfail(strict=True)`` test below that asserts the secure behaviour):

* MEDIUM: ``Revocations.revoke_family`` (and every ``revoke_*``, and ``secauth revoke``)
  accepts a Cognito issuer spelled with a trailing slash, in upper case, or the bare pool id,
  writes an entry under a key no token maps to, and reports success: the refresh-token family
  stays valid. ``issuer_key`` canonicalises only the exact issuer spelling.
* LOW: the access-token client check accepts ``client_id`` as a JSON list (it goes through the
  ``aud`` list logic); Cognito and RFC 9068 make it one string. Such a token also escapes
  ``revoke_client`` for the client it names (``revocation_keys`` reads a string only).
* LOW: ``JwtVerifier.cognito(client_id="")`` says ``audience must be ...``: the error names an
  argument the caller did not pass (and may not pass) instead of ``client_id``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from guard_events import rest_v1

from secauth import cli
from secauth.access import Routes, roles, scopes
from secauth.authorizer import Authorizer
from secauth.cognito import CognitoVerifier, cognito_issuer
from secauth.errors import (
    ConfigurationError,
    Forbidden,
    InvalidIssuer,
    Reason,
    SecAuthError,
    TokenRevoked,
)
from secauth.guard import Guard
from secauth.policy.responses import Unauthorized
from secauth.principal import Principal
from secauth.revocation import Revocations
from secauth.revocation_stores import MemoryRevocationStore
from secauth.testing_cognito import LocalCognito
from secauth.verifier import JwtVerifier

POOL = "eu-west-1_Rev116Pool"
CLIENT = "web116client"
M2M = "m2m116client"
ROUTES = Routes(
    {
        "GET /users/{id}": roles("member", "admin"),
        "DELETE /users/{id}": roles("admin"),
        "POST /jobs": scopes("jobs/run"),
    }
)
ARN = "arn:aws:execute-api:eu-west-1:123456789012:api1/prod/{}/users/42"


@pytest.fixture(scope="module")
def pool() -> Iterator[LocalCognito]:
    with LocalCognito(POOL, client_id=CLIENT) as local:
        yield local


def cognito(pool: LocalCognito, token_use: str = "access", **options: Any) -> CognitoVerifier:
    options.setdefault("client_id", CLIENT)
    return JwtVerifier.cognito(
        user_pool_id=POOL,
        token_use=token_use,  # type: ignore[arg-type]
        jwks_uris=pool.jwks_uris,
        allow_http=True,
        **options,
    )


def refusal(verifier: Any, token: str) -> SecAuthError:
    with pytest.raises(SecAuthError) as exc:
        verifier.verify(token)
    return exc.value


def token_event(token: str, method: str, path: str = "users/42") -> dict[str, Any]:
    arn = ARN.format(method).replace("users/42", path)
    return {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": arn}


def allowed(response: dict[str, Any]) -> bool:
    return any(s["Effect"] == "Allow" for s in response["policyDocument"]["Statement"])


def passes(authorizer: Authorizer, event: dict[str, Any]) -> bool:
    """Whether a TOKEN authorizer allows ``event`` (a 401 raises ``Unauthorized``)."""
    try:
        return allowed(authorizer.handler(event))
    except Unauthorized:
        return False


def raw(pool: LocalCognito, **claims: Any) -> str:
    """A token of the pool's home issuer with exactly these claims (and sub, iss, exp)."""
    body = {"sub": "11111111-2222-3333-4444-555555555555", "iss": pool.issuer(), **claims}
    return pool.servers[pool.issuer()].token(**body)


def m2m_token(pool: LocalCognito, **claims: Any) -> str:
    """A client-credentials access token: ``sub`` is the client id, no ``username``, custom
    scopes only, no ``cognito:groups``, no ``auth_time``/``origin_jti``/``event_id``."""
    body: dict[str, Any] = {
        "sub": M2M,
        "client_id": M2M,
        "token_use": "access",
        "scope": "jobs/run",
        "iss": pool.issuer(),
        "jti": "m2m-jti-1",
        **claims,
    }
    return pool.servers[pool.issuer()].token(**{k: v for k, v in body.items() if v is not None})


# --- token_use confusion -----------------------------------------------------------------------


def test_id_token_never_passes_as_an_access_token_even_with_client_id_copied_in(
    pool: LocalCognito,
) -> None:
    access = cognito(pool, "access")
    # a trigger (or a sloppy IdP) copying client_id into the ID token changes nothing
    assert refusal(access, pool.id_token()).reason is Reason.INVALID_AUDIENCE  # no client_id
    copied = raw(pool, token_use="id", aud=CLIENT, client_id=CLIENT)
    assert refusal(access, copied).reason is Reason.INVALID_CLAIMS  # token_use decides
    authorizer = Authorizer(access, routes=ROUTES)
    assert not passes(authorizer, token_event(pool.id_token(groups=["admin"]), "GET"))


def test_access_token_never_passes_as_an_id_token_even_with_aud_added(pool: LocalCognito) -> None:
    ident = cognito(pool, "id")
    with_aud = pool.access_token(groups=["admin"], aud=CLIENT)
    assert refusal(ident, pool.access_token()).reason is Reason.INVALID_AUDIENCE  # no aud
    assert refusal(ident, with_aud).reason is Reason.INVALID_CLAIMS
    guard = Guard(ident, routes=ROUTES)
    with pytest.raises(SecAuthError) as exc:
        guard.check(rest_v1("DELETE", "/users/42", authorization=f"Bearer {with_aud}"))
    assert exc.value.reason is Reason.INVALID_CLAIMS


@pytest.mark.parametrize(
    "value", ["Access", "access ", " access", "ACCESS", ["access"], True, None]
)
def test_token_use_is_matched_exactly(pool: LocalCognito, value: Any) -> None:
    token = pool.access_token(token_use=value)
    assert refusal(cognito(pool, "access"), token).reason is Reason.INVALID_CLAIMS


# --- the app client -------------------------------------------------------------------------


def test_another_app_client_of_the_pool_is_refused_whatever_aud_says(pool: LocalCognito) -> None:
    access = cognito(pool, "access")
    other = pool.access_token(client_id="partner116", aud=CLIENT)
    assert refusal(access, other).reason is Reason.INVALID_AUDIENCE
    missing = raw(pool, token_use="access", aud=CLIENT)  # customised: aud, no client_id
    assert "client_id" not in json.loads(_payload(missing))
    assert refusal(access, missing).reason is Reason.INVALID_AUDIENCE
    ident = cognito(pool, "id")
    id_other = raw(pool, token_use="id", aud="partner116", client_id=CLIENT)
    assert refusal(ident, id_other).reason is Reason.INVALID_AUDIENCE


# fmt: off
def test_client_id_claim_is_one_string_not_a_list(pool: LocalCognito) -> None:
    access = cognito(pool, "access")
    listed = pool.access_token(client_id=[CLIENT, "partner116"])
    assert refusal(access, listed).reason is Reason.INVALID_AUDIENCE
# fmt: on


# fmt: off
def test_a_revoked_client_named_in_a_client_id_list_is_refused(pool: LocalCognito) -> None:
    revocations = Revocations(MemoryRevocationStore())
    access = revocable(pool, "access", revocations)
    iat = int(time.time()) - 30
    plain = pool.access_token(iat=iat, exp=iat + 600)
    listed = pool.access_token(client_id=[CLIENT], iat=iat, exp=iat + 600)
    revocations.revoke_client(pool.issuer(), CLIENT)
    assert isinstance(refusal(access, plain), TokenRevoked)  # control
    refusal(access, listed)  # refused: revoked, or not a one-string client_id
# fmt: on


# --- issuers ---------------------------------------------------------------------------------


def lookalike_issuers() -> list[str]:
    home = cognito_issuer(POOL, "eu-west-1")
    return [
        home + "/",
        home.replace("eu-west-1.", "EU-WEST-1."),
        home.replace("cognito-idp", "Cognito-IDP"),
        home.replace("https://", "http://"),
        home.replace("amazonaws.com", "amazonaws.com.evil.example"),
        home.replace("amazonaws.com", "amazonaws.com.cn"),
        cognito_issuer(POOL, "eu-central-1"),  # a replica Region not configured
        cognito_issuer(POOL.lower(), "eu-west-1"),  # pool ids are case-sensitive
        cognito_issuer("eu-west-1_Rev116Poo", "eu-west-1"),
        home + "/.well-known/jwks.json",
        home + "?",
        home + "#",
    ]


@pytest.mark.parametrize("issuer", lookalike_issuers())
def test_lookalike_issuers_are_refused_and_fetch_nothing(pool: LocalCognito, issuer: str) -> None:
    verifier = cognito(pool, "access")
    before = {iss: server.fetches for iss, server in pool.servers.items()}
    token = pool.access_token(iss=issuer)  # signed with the home issuer's real key
    assert isinstance(refusal(verifier, token), InvalidIssuer)
    assert {iss: server.fetches for iss, server in pool.servers.items()} == before


def test_only_original_format_refuses_the_updated_issuer(pool: LocalCognito) -> None:
    original = cognito(pool, "access", issuer_format="original")
    assert original.verify(pool.access_token())["token_use"] == "access"
    updated = pool.access_token(issuer_format="updated")
    assert isinstance(refusal(original, updated), InvalidIssuer)


def test_another_pool_signing_with_its_own_real_keys_is_refused(pool: LocalCognito) -> None:
    with LocalCognito("eu-west-1_Other116", client_id=CLIENT) as other:
        verifier = cognito(pool, "access")
        assert isinstance(refusal(verifier, other.access_token(groups=["admin"])), InvalidIssuer)
        # the other pool's key, with our issuer written into the token
        forged = other.access_token(iss=pool.issuer(), groups=["admin"])
        assert refusal(verifier, forged).reason in (Reason.UNKNOWN_KEY, Reason.INVALID_SIGNATURE)


# --- M2M --------------------------------------------------------------------------------------


def test_m2m_token_is_refused_by_a_user_app_client_verifier(pool: LocalCognito) -> None:
    assert refusal(cognito(pool, "access"), m2m_token(pool)).reason is Reason.INVALID_AUDIENCE
    authorizer = Authorizer(cognito(pool, "access"), routes=ROUTES)
    assert not passes(authorizer, token_event(m2m_token(pool), "POST", "jobs"))


def test_m2m_token_maps_to_its_client_with_scopes_and_no_roles(pool: LocalCognito) -> None:
    verifier = cognito(pool, "access", client_id=[CLIENT, M2M])
    authorizer = Authorizer(verifier, routes=ROUTES)
    job = authorizer.handler(token_event(m2m_token(pool), "POST", "jobs"))
    assert allowed(job)
    assert job["context"]["secauth_principal"] == M2M
    assert json.loads(job["context"]["secauth_roles"]) == []
    assert not passes(authorizer, token_event(m2m_token(pool), "DELETE"))
    # a group claim of the wrong shape on an M2M token is refused, not coerced into a role
    odd = m2m_token(pool, **{"cognito:groups": "admin"})
    assert not passes(authorizer, token_event(odd, "DELETE"))
    guard = Guard(verifier, routes=ROUTES)
    with pytest.raises(SecAuthError) as exc:  # no sub: no principal, not the username either
        guard.check(rest_v1("POST", "/jobs", authorization=f"Bearer {m2m_token(pool, sub=None)}"))
    assert exc.value.reason is Reason.INVALID_CLAIMS


# --- claim shapes and names ------------------------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        {"cognito:groups": "admin"},
        {"cognito:groups": "admin,member"},
        {"cognito:groups": [["admin"]]},
        {"cognito:groups": {"admin": True}},
        {"cognito:groups": ["admin", 1]},
        {"cognito:groups": ["admin", None]},
        {"cognito:groups": [f"g{i}" for i in range(256)] + ["admin"]},
        {"scope": ["jobs/run", 7]},
        {"scope": {"jobs/run": True}},
        {"scope": 1},
    ],
)
def test_trigger_injected_claims_of_odd_types_are_refused(
    pool: LocalCognito, claims: dict[str, Any]
) -> None:
    token = pool.access_token(**claims)
    authorizer = Authorizer(cognito(pool, "access"), routes=ROUTES)
    for method in ("DELETE", "GET"):
        assert not passes(authorizer, token_event(token, method))
    guard = Guard(cognito(pool, "access"), routes=ROUTES)
    with pytest.raises(SecAuthError) as exc:
        guard.check(rest_v1("GET", "/users/42", authorization=f"Bearer {token}"))
    assert exc.value.reason is Reason.INVALID_CLAIMS


@pytest.mark.parametrize(
    "group",
    [
        "admin,member",
        "admin ",
        " admin",
        "Admin",
        '["admin"]',
        'admin","member',
        "admin\u200b",
        "a dmin",
    ],
)
def test_odd_group_names_stay_one_exact_name_through_the_context(
    pool: LocalCognito, group: str
) -> None:
    token = pool.access_token(groups=[group, "viewer"])
    response = Authorizer(
        cognito(pool, "access"), routes=Routes({"DELETE /users/{id}": roles(group)})
    )
    answer = response.handler(token_event(token, "DELETE"))
    assert allowed(answer)
    principal = Principal.from_context(answer["context"])
    assert principal.roles == principal.groups == frozenset({group, "viewer"})
    assert not principal.has_role("admin")
    trusting = Guard(trust_authorizer=True, routes=ROUTES)
    event = rest_v1("DELETE", "/users/42", authorizer=answer["context"])
    with pytest.raises(Forbidden):
        trusting.check(event)
    strict = Authorizer(cognito(pool, "access"), routes=ROUTES)
    assert not passes(strict, token_event(token, "DELETE"))


def test_principal_is_the_sub_never_the_username(pool: LocalCognito) -> None:
    guard = Guard(cognito(pool, "id"), routes=ROUTES)
    token = pool.id_token(sub="sub-ann", username="admin", groups=["member"])
    _, principal = guard.check(rest_v1("GET", "/users/42", authorization=f"Bearer {token}"))
    assert principal.id == "sub-ann"
    access = Guard(cognito(pool, "access"), routes=ROUTES)
    token = pool.access_token(sub="sub-bob", username="admin", groups=["member"])
    _, principal = access.check(rest_v1("GET", "/users/42", authorization=f"Bearer {token}"))
    assert principal.id == "sub-bob"


# --- revocation of a refresh-token family ------------------------------------------------------


def revocable(pool: LocalCognito, token_use: str, revocations: Revocations) -> CognitoVerifier:
    return cognito(pool, token_use, revocations=revocations)


def family_tokens(pool: LocalCognito, family: str, issuer_format: str) -> tuple[str, str]:
    iat = int(time.time()) - 10
    common: dict[str, Any] = {"origin_jti": family, "iat": iat, "exp": iat + 3600}
    return (
        pool.access_token(issuer_format=issuer_format, **common),
        pool.id_token(issuer_format=issuer_format, **common),
    )


def test_revoked_family_refuses_its_access_and_id_tokens_under_both_formats(
    pool: LocalCognito,
) -> None:
    revocations = Revocations(MemoryRevocationStore())
    access, ident = revocable(pool, "access", revocations), revocable(pool, "id", revocations)
    revoked = {form: family_tokens(pool, "fam-116", form) for form in ("original", "updated")}
    kept = family_tokens(pool, "fam-other", "updated")
    revocations.revoke_family(pool.issuer(issuer_format="updated"), "fam-116")
    for access_token, id_token in revoked.values():
        assert isinstance(refusal(access, access_token), TokenRevoked)
        assert isinstance(refusal(ident, id_token), TokenRevoked)
    assert access.verify(kept[0])["origin_jti"] == "fam-other"
    assert ident.verify(kept[1])["origin_jti"] == "fam-other"
    # a token without origin_jti (M2M) is not in any family and not refused by one
    assert "origin_jti" not in json.loads(_payload(m2m_token(pool)))


# fmt: off
@pytest.mark.parametrize(
    "spelling",
    [
        cognito_issuer(POOL, "eu-west-1") + "/",
        cognito_issuer(POOL, "eu-west-1").upper(),
        POOL,
    ],
)
def test_revoking_a_family_under_a_misspelt_pool_issuer_revokes_it_or_is_refused(
    pool: LocalCognito, spelling: str
) -> None:
    revocations = Revocations(MemoryRevocationStore())
    access = revocable(pool, "access", revocations)
    token, _ = family_tokens(pool, "fam-typo", "original")
    assert access.verify(token)["origin_jti"] == "fam-typo"
    try:
        revocations.revoke_family(spelling, "fam-typo")
    except ConfigurationError:
        return  # refused loudly: the operator knows nothing was revoked
    assert isinstance(refusal(access, token), TokenRevoked)
# fmt: on


# --- configuration errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "pool_id",
    [
        "Rev116Pool",
        "_Rev116Pool",
        cognito_issuer(POOL, "eu-west-1"),
        "cognito-idp.eu-west-1.amazonaws.com/" + POOL,
        "EU-WEST-1_Rev116Pool",
        POOL + "\n",
        " " + POOL,
        "eu-west-1_",
        "eu-west-1-Rev116Pool",
        "eu-west-\u0661_Rev116Pool",
        POOL + "/",
    ],
)
def test_bad_pool_ids_are_refused_with_an_example(pool_id: str) -> None:
    with pytest.raises(ConfigurationError, match="us-east-1_AbC123"):
        JwtVerifier.cognito(user_pool_id=pool_id, client_id="c", token_use="access")


@pytest.mark.parametrize("token_use", ["ID", "Access", "both", None, ""])
def test_token_use_must_be_named_exactly(token_use: Any) -> None:
    with pytest.raises(ConfigurationError, match="'id' or 'access'"):
        JwtVerifier.cognito(user_pool_id=POOL, client_id="c", token_use=token_use)


def test_the_verifier_sets_issuer_audience_and_token_use_itself() -> None:
    for options in (
        {"issuer": cognito_issuer(POOL, "eu-west-1")},
        {"audience": "c"},
        {"audience_claim": "aud"},
        {"expected_claims": {"token_use": "id"}},
    ):
        with pytest.raises(ConfigurationError):
            JwtVerifier.cognito(user_pool_id=POOL, client_id="c", token_use="access", **options)


# fmt: off
def test_empty_client_id_error_names_client_id() -> None:
    for client in ("", [""], []):
        with pytest.raises(ConfigurationError, match="client_id"):
            JwtVerifier.cognito(user_pool_id=POOL, client_id=client, token_use="access")
# fmt: on


# --- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def jwks_file(pool: LocalCognito, tmp_path: Path) -> str:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(pool.jwks()))
    return str(path)


@pytest.mark.parametrize(
    "flags",
    [
        ["--cognito-pool", cognito_issuer(POOL, "eu-west-1"), "--token-use", "access"],
        ["--cognito-pool", "Rev116Pool", "--token-use", "access"],
        ["--cognito-pool", POOL, "--token-use", "access", "--client-id", ""],
        ["--cognito-pool", POOL, "--token-use", "access", "--region", "EU-CENTRAL-1"],
        ["--cognito-pool", POOL, "--token-use", "access", "--region", "eu-west-1"],
        ["--cognito-pool", POOL, "--token-use", "access", "--region", "cn-north-1"],
    ],
)
def test_cli_bad_cognito_input_is_a_usage_error_not_a_verdict(
    pool: LocalCognito, flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["verify", pool.access_token(), *flags])
    captured = capsys.readouterr()
    assert code == cli.EXIT_USAGE
    assert '"valid": true' not in captured.out
    assert captured.err.strip()


def test_cli_refuses_token_use_and_client_confusion(
    pool: LocalCognito, jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--cognito-pool", POOL, "--jwks-file", jwks_file, "--client-id", CLIENT]
    for token, use in (
        (raw(pool, token_use="id", aud=CLIENT, client_id=CLIENT), "access"),
        (pool.access_token(aud=CLIENT), "id"),
        (pool.access_token(client_id="partner116", aud=CLIENT), "access"),
        (pool.access_token(iss=pool.issuer() + "/"), "access"),
    ):
        code = cli.main(["verify", token, *base, "--token-use", use])
        out = capsys.readouterr().out
        assert code != cli.EXIT_OK, out
    assert cli.main(["verify", pool.access_token(), *base, "--token-use", "access"]) == cli.EXIT_OK


def _payload(token: str) -> str:
    import base64

    segment = token.split(".")[1]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode()
