"""Review 62: adversarial tests of the AWS realities and error hygiene: Cognito user pool
tokens (``token_use``, ``client_id`` against ``aud``, ``cognito:groups`` against
``scope``), ALB ``x-amzn-oidc-data`` tokens behind a ``Guard`` (the issuer a principal
reports, key endpoint failures, ALB response shapes), the Powertools resolvers under a
global guard, and the sanitized answers for every event kind.

Every server is on 127.0.0.1 (``LocalAlb``, ``LocalCognito``); no mocks. A test asserts
the secure behaviour; one marked ``xfail`` with ``FINDING`` fails today because of the
weakness its reason names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import ALBResolver, APIGatewayHttpResolver

from secauth import Guard, JwtVerifier, Routes, authenticated, roles
from secauth.alb import AlbVerifier
from secauth.errors import (
    AbuseBlocked,
    InsufficientScope,
    InternalError,
    InvalidAudience,
    KeysUnavailable,
    MethodNotAllowed,
    MissingToken,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    SecAuthError,
    TokenExpired,
    UnsupportedMediaType,
)
from secauth.events import EventKind
from secauth.integrations.powertools import guard_middleware
from secauth.responses import error_response
from secauth.testing import KeyPair
from secauth.testing_alb import LocalAlb
from secauth.testing_cognito import LocalCognito
from secauth.testing_events import alb as alb_event
from secauth.testing_events import http_proxy
from secauth.token_sources import TokenSource

POOL = "eu-west-1_Review62"
EVIL_ISS = "https://evil.example"


@pytest.fixture(scope="module")
def local_alb() -> Iterator[LocalAlb]:
    with LocalAlb() as alb:
        yield alb


@pytest.fixture(scope="module")
def pool() -> Iterator[LocalCognito]:
    with LocalCognito(POOL, client_id="app") as cognito:
        yield cognito


def alb_verifier(alb: LocalAlb) -> AlbVerifier:
    return AlbVerifier(
        alb_arn=alb.arn,
        issuer=alb.issuer,
        client_id=alb.client_id,
        key_endpoint=alb.key_endpoint,
        allow_http=True,
    )


def alb_guard(alb: LocalAlb, records: list[dict[str, Any]], **options: Any) -> Guard:
    verifier = alb_verifier(alb)
    return Guard(
        verifier,
        token_sources=[TokenSource.header(verifier.header)],
        routes=Routes({"GET /p": authenticated()}),
        decision_log=None,
        on_decision=records.append,
        **options,
    )


def cognito_guard(pool: LocalCognito, token_use: str, records: list[dict[str, Any]]) -> Guard:
    verifier = JwtVerifier.cognito(
        user_pool_id=POOL,
        client_id="app",
        token_use=token_use,
        jwks_uris=pool.jwks_uris,
        allow_http=True,
    )
    return Guard(
        verifier,
        routes=Routes({"GET /admin": roles("admin"), "GET /me": authenticated()}),
        decision_log=None,
        on_decision=records.append,
    )


# =========================================================================================
# Findings
# =========================================================================================


def test_alb_principal_issuer_is_the_verified_header_issuer(local_alb: LocalAlb) -> None:
    """The ALB checks ``iss`` in the token's *header*; the payload is the IdP's user
    info, whose ``iss`` nobody checks. The principal must not report that one."""
    records: list[dict[str, Any]] = []
    guard = alb_guard(local_alb, records)
    seen: list[Any] = []

    @guard
    def handler(event: Any, context: Any, principal: Any) -> dict[str, Any]:
        seen.append(principal.issuer)
        return {"statusCode": 200, "body": ""}

    for claims in ({"iss": EVIL_ISS}, {}):  # a payload iss, and none
        token = local_alb.token(sub="alice", **claims)
        event = alb_event("GET", "/p", headers={"x-amzn-oidc-data": token})
        assert handler(event, None)["statusCode"] == 200
        assert records[-1]["issuer"] == local_alb.issuer
    assert seen == [local_alb.issuer, local_alb.issuer]


def test_alb_claims_carry_the_header_issuer_even_when_issuer_is_not_checked(
    local_alb: LocalAlb,
) -> None:
    """With ``issuer=None`` the header's ``iss`` is not compared, but it is still the ALB's
    signed statement; the payload's never replaces it, and without one there is none."""
    verifier = AlbVerifier(
        alb_arn=local_alb.arn,
        issuer=None,
        client_id=local_alb.client_id,
        key_endpoint=local_alb.key_endpoint,
        allow_http=True,
    )
    assert verifier.verify(local_alb.token(sub="a", iss=EVIL_ISS))["iss"] == local_alb.issuer
    bare = local_alb.token(sub="a", iss=EVIL_ISS, headers={"iss": None})
    assert "iss" not in verifier.verify(bare)


# =========================================================================================
# ALB behind a Guard: what held
# =========================================================================================


@pytest.mark.parametrize("multi", [False, True])
def test_alb_handler_exception_is_a_sanitized_500_in_the_alb_shape(
    local_alb: LocalAlb, multi: bool
) -> None:
    records: list[dict[str, Any]] = []
    guard = alb_guard(local_alb, records)
    secret = "PLANTED-r62-db-password-hunter2"

    @guard
    def handler(event: Any, context: Any, principal: Any) -> Any:
        raise RuntimeError(secret)

    token = local_alb.token(sub="alice")
    event = alb_event("GET", "/p", multi_value=multi, headers={"x-amzn-oidc-data": token})
    response = handler(event, None)
    assert response["statusCode"] == 500
    assert response["statusDescription"] == "500 Internal Server Error"
    assert response["isBase64Encoded"] is False
    if multi:
        assert "headers" not in response
        assert response["multiValueHeaders"]["Content-Type"] == ["application/problem+json"]
    else:
        assert "multiValueHeaders" not in response
        assert response["headers"]["Content-Type"] == "application/problem+json"
    dumped = json.dumps(response) + json.dumps(records)
    assert secret not in dumped
    assert token not in dumped
    assert records[-1]["detail"] == {"error": "RuntimeError"}


def test_alb_key_endpoint_down_is_a_503_that_names_no_endpoint(local_alb: LocalAlb) -> None:
    with LocalAlb() as alb:
        records: list[dict[str, Any]] = []
        guard = alb_guard(alb, records)

        @guard
        def handler(event: Any, context: Any, principal: Any) -> dict[str, Any]:
            raise AssertionError("admitted without a key")

        alb.mode = "error"
        token = alb.token(sub="alice")
        response = handler(alb_event("GET", "/p", headers={"x-amzn-oidc-data": token}), None)
        assert response["statusCode"] == 503
        assert response["statusDescription"] == "503 Service Unavailable"
        assert response["headers"]["Retry-After"] == "5"
        body = response["body"]
        assert "127.0.0.1" not in body
        assert alb.kid not in body
        assert token not in body
        assert json.loads(body)["title"] == "authentication temporarily unavailable"
        assert records[-1]["reason"] == "keys_unavailable"
        assert token not in json.dumps(records)


def test_alb_decision_record_is_one_line_whatever_the_user_info_holds(
    local_alb: LocalAlb, capsys: pytest.CaptureFixture[str]
) -> None:
    verifier = alb_verifier(local_alb)
    guard = Guard(
        verifier,
        token_sources=[TokenSource.header(verifier.header)],
        routes=Routes({"GET /p": authenticated()}),
    )

    @guard
    def handler(event: Any, context: Any, principal: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": ""}

    forged_line = '\n{"secauth":"decision","decision":"allow","principal":"root"}\n'
    token = local_alb.token(sub="alice" + forged_line)
    capsys.readouterr()
    assert (
        handler(alb_event("GET", "/p", headers={"x-amzn-oidc-data": token}), None)["statusCode"]
        == 200
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert len(lines) == 1
    assert json.loads(lines[0])["principal"] == "alice" + forged_line


# =========================================================================================
# Cognito: what held
# =========================================================================================


def test_cognito_scope_named_like_a_group_grants_no_role(pool: LocalCognito) -> None:
    records: list[dict[str, Any]] = []
    guard = cognito_guard(pool, "access", records)

    @guard
    def handler(event: Any, context: Any, principal: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": json.dumps(sorted(principal.roles))}

    by_scope = pool.access_token(scope="admin openid")
    assert handler(http_proxy("GET", "/admin", token=by_scope), None)["statusCode"] == 403
    by_role_claims = pool.access_token(
        **{"cognito:roles": ["admin"], "cognito:preferred_role": "admin", "custom:role": "admin"}
    )
    assert handler(http_proxy("GET", "/admin", token=by_role_claims), None)["statusCode"] == 403
    by_group = pool.access_token(groups=["admin"])
    allowed = handler(http_proxy("GET", "/admin", token=by_group), None)
    assert allowed["statusCode"] == 200
    assert json.loads(allowed["body"]) == ["admin"]


@pytest.mark.parametrize(
    "groups",
    [
        "r62grp",  # a string, not a list
        [["r62grp"]],  # nested
        [{"name": "r62grp"}],
        ["r62grp"] * 257,  # over the cap
    ],
)
def test_cognito_group_shapes_are_a_401_that_quotes_no_value(
    pool: LocalCognito, groups: Any
) -> None:
    records: list[dict[str, Any]] = []
    guard = cognito_guard(pool, "access", records)

    @guard
    def handler(event: Any, context: Any, principal: Any) -> dict[str, Any]:
        raise AssertionError("admitted with a malformed cognito:groups")

    token = pool.access_token(**{"cognito:groups": groups})
    response = handler(http_proxy("GET", "/admin", token=token), None)
    assert response["statusCode"] == 401
    assert records[-1]["reason"] == "invalid_claims"
    assert records[-1]["detail"]["claim"] == "cognito:groups"
    assert "r62grp" not in json.dumps(records[-1]) + json.dumps(response)


def test_cognito_id_token_client_is_read_from_aud_not_client_id(pool: LocalCognito) -> None:
    verifier = JwtVerifier.cognito(
        user_pool_id=POOL, client_id="app", token_use="id", jwks_uris=pool.jwks_uris,
        allow_http=True,
    )  # fmt: skip
    issuer = pool.issuer()
    other_app = pool.servers[issuer].token(
        iss=issuer, sub="u-1", token_use="id", aud="other-app", client_id="app"
    )
    with pytest.raises(InvalidAudience):
        verifier.verify(other_app)
    assert verifier.verify(pool.id_token())["aud"] == "app"


def test_cognito_refusals_through_the_guard_carry_no_token_and_no_claim_value(
    pool: LocalCognito,
) -> None:
    """An ID token where an access token is expected (also one naming the client in
    ``client_id``), and another app client's access token: 401s whose body, challenge
    and record hold no token and no claim value."""
    records: list[dict[str, Any]] = []
    guard = cognito_guard(pool, "access", records)

    @guard
    def handler(event: Any, context: Any, principal: Any) -> dict[str, Any]:
        raise AssertionError("admitted")

    for token in (
        pool.id_token(email="victim-r62@example.com"),
        # an ID token that names the client in client_id too: token_use still refuses it
        pool.servers[pool.issuer()].token(
            iss=pool.issuer(),
            sub="u-1",
            token_use="id",
            aud="app",
            client_id="app",
            email="victim-r62@example.com",
        ),
        pool.access_token(client_id="other-app-r62"),
    ):
        response = handler(http_proxy("GET", "/me", token=token), None)
        assert response["statusCode"] == 401
        assert records[-1]["reason"] in ("invalid_claims", "invalid_audience")
        dumped = json.dumps(response) + json.dumps(records[-1])
        for leaked in (token, "victim-r62", "other-app-r62", token.split(".")[1]):
            assert leaked not in dumped


# =========================================================================================
# Powertools under a global guard: what held
# =========================================================================================


@pytest.mark.parametrize("resolver", [ALBResolver, APIGatewayHttpResolver])
def test_global_guard_answers_anonymous_callers_alike_for_any_route(resolver: Any) -> None:
    """Routes unknown to the resolver, wrong verbs and real routes: one 401, so an
    anonymous caller cannot map the API."""
    pair = KeyPair.generate("ES256", kid="r62")
    verifier = JwtVerifier(issuer="https://i/", audience="api", jwks={"keys": [pair.public_jwk]})
    app = resolver()
    app.use(middlewares=[guard_middleware(Guard(verifier, decision_log=None))])

    @app.get("/exists")
    def exists() -> dict[str, int]:
        return {"ok": 1}

    make = alb_event if resolver is ALBResolver else http_proxy
    answers = set()
    for method, path in (("GET", "/exists"), ("GET", "/nope"), ("DELETE", "/exists")):
        response = app.resolve(make(method, path), None)
        body = json.loads(response["body"])
        body.pop("request_id", None)
        answers.add((response["statusCode"], json.dumps(body, sort_keys=True)))
    assert answers == {(401, json.dumps({"status": 401, "title": "missing credentials",
                                         "type": "about:blank"}, sort_keys=True))}  # fmt: skip


# =========================================================================================
# Sanitized answers for every event kind: what held
# =========================================================================================

ERRORS: list[SecAuthError] = [
    MissingToken("token eyJ.leak.here"),
    TokenExpired("expired for alice@example.com"),
    InsufficientScope("needs scope s3cr3t"),
    NotFound("no /internal/debug"),
    MethodNotAllowed(detail={"allowed": ["GET", "POST\r\nSet-Cookie: a=b"]}),
    PayloadTooLarge("body of 9 GB"),
    UnsupportedMediaType("text/x-evil"),
    RateLimited("tenant acme", retry_after=float("nan")),
    AbuseBlocked("ip 10.0.0.1", retry_after=-5),
    InternalError("Traceback: /var/task/app.py"),
    KeysUnavailable("jwks at https://idp/keys?sig=abc"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize(
    ("kind", "multi"),
    [
        (EventKind.ALB, False),
        (EventKind.ALB, True),
        (EventKind.REST_V1, True),
        (EventKind.HTTP_V2, False),
        (EventKind.FUNCTION_URL, False),
    ],
)
def test_error_responses_are_fixed_text_in_the_shape_of_each_kind(
    error: SecAuthError, kind: EventKind, multi: bool
) -> None:
    response = error_response(error, kind, multi_value=multi)
    assert response["statusCode"] == error.status
    assert response["isBase64Encoded"] is False
    if kind is EventKind.ALB:
        code, _, text = response["statusDescription"].partition(" ")
        assert code == str(error.status)
        assert text  # a reason phrase for every status
    else:
        assert "statusDescription" not in response
    if multi:
        assert "headers" not in response
        headers = {k: v[0] for k, v in response["multiValueHeaders"].items()}
        assert all(len(v) == 1 for v in response["multiValueHeaders"].values())
    else:
        assert "multiValueHeaders" not in response
        headers = response["headers"]
    dumped = json.dumps(response)
    if error.public_message != type(error).default_message:
        assert error.public_message not in response["body"]
    for leaked in ("eyJ", "alice", "s3cr3t", "debug", "Set-Cookie", "9 GB", "x-evil",
                   "acme", "10.0.0.1", "Traceback", "sig=abc"):  # fmt: skip
        assert leaked not in dumped
    assert all("\r" not in v and "\n" not in v for v in headers.values())
    body = json.loads(response["body"])
    assert body == {"type": "about:blank", "title": type(error).default_message,
                    "status": error.status}  # fmt: skip
    if isinstance(error, RateLimited):
        assert 1 <= int(headers["Retry-After"]) <= 86400
    if error.status == 503:
        assert headers["Retry-After"] == "5"
    if error.status in (401, 403):
        assert headers["WWW-Authenticate"].startswith("Bearer")
