"""Review 16: the Authorizer at cache_ttl=0 across event kinds (adversarial).

The findings' tests failed before their fixes (they were ``xfail(strict=True)`` until
then); the attacks that held are pinned by short passing tests.
"""

from __future__ import annotations

import copy
import datetime
import json
import time
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from secauth import (
    ApiKeyEntry,
    Authorizer,
    ClaimMapper,
    ClientCertEntry,
    ClientCertificates,
    JwtVerifier,
    Routes,
    StaticApiKeys,
    authenticated,
    hash_api_key,
    roles,
)
from secauth.errors import InvalidMethodArn
from secauth.policy import MethodArn, Unauthorized
from secauth.revocation import Revocations
from secauth.revocation_stores import MemoryRevocationStore
from secauth.sender_constraint import certificate_thumbprint
from secauth.testing import KeyPair
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    method_arn,
    request_authorizer,
    token_authorizer,
    websocket_connect,
)
from secauth.token_sources import TokenSource

ISS = "https://idp.review16.test/"
AUD = "api"
PAIR = KeyPair.generate("ES256", kid="k1")
PARTNER_KEY = "pk-live-review16-0123456789abcdef"
CERT_VALIDITY = {"notBefore": "May 28 12:30:02 2019 GMT", "notAfter": "Aug  5 09:36:04 2099 GMT"}
DEFAULT_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/{stage}/$default"


def _verifier(**options: Any) -> JwtVerifier:
    return JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]}, **options)


def _token(**claims: Any) -> str:
    body: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": "ann", "exp": 4_000_000_000}
    body.update(claims)
    return PAIR.sign(body)


ROUTES = Routes(
    {
        "GET /admin": roles("admin"),
        "GET /{proxy+}": authenticated(),
        "$connect": authenticated(),
    }
)


def _authorizer(records: list[dict[str, Any]] | None = None, **options: Any) -> Authorizer:
    options.setdefault("routes", ROUTES)
    sink = records.append if records is not None else None
    return Authorizer(
        options.pop("verifier", _verifier()), decision_log=None, on_decision=sink, **options
    )


def _effect(response: dict[str, Any]) -> str:
    return str(response["policyDocument"]["Statement"][0]["Effect"])


def _outcome(authorizer: Authorizer, event: dict[str, Any]) -> str:
    """'401' (raised), 'deny-all' (an HTTP API's refusal of credentials), 'Allow', 'Deny'
    (for the method ARN), or 'isAuthorized=...'; never another exception."""
    try:
        response = authorizer.handler(event, None)
    except Unauthorized:
        return "401"
    if "isAuthorized" in response:
        return f"isAuthorized={response['isAuthorized']}"
    if response["policyDocument"]["Statement"][0]["Resource"] == ["*"]:
        assert _effect(response) == "Deny"
        assert response["principalId"] == "anonymous"
        return "deny-all"
    return _effect(response)


def _self_signed(cn: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _with_cert(event: dict[str, Any], pem: str, subject: str = "CN=device") -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["requestContext"]["identity"]["clientCert"] = {
        "clientCertPem": pem,
        "subjectDN": subject,
        "issuerDN": subject,
        "serialNumber": "01",
        "validity": CERT_VALIDITY,
    }
    return event


# == findings (each failed before its fix) ===================================================


def test_methodarn_with_lone_surrogate_is_bad_request() -> None:
    records: list[dict[str, Any]] = []
    authorizer = _authorizer(records)
    event = token_authorizer("GET", "/orders", token=_token())
    event["methodArn"] += "\ud800"  # json.loads('"\\ud800"') gives exactly this
    assert _outcome(authorizer, event) == "401"  # fail closed: holds
    assert records[-1]["reason"] == "bad_request"  # docs: malformed methodArn -> bad_request
    with pytest.raises(InvalidMethodArn):
        MethodArn.parse(event["methodArn"])


def test_memo_does_not_reuse_default_route_answer_across_stage_readings() -> None:
    """Needs an event whose routeArn stage differs from requestContext.stage, which API
    Gateway does not send: defence in depth, not reachable from a client."""
    token = _token()

    def event(stage: str) -> dict[str, Any]:
        built = http_authorizer_v2("GET", "/prod/admin", token=token)
        built["routeArn"] = DEFAULT_ARN.format(stage="$default")
        built["requestContext"]["stage"] = stage
        return built

    memo = _authorizer()
    fresh = _authorizer(response_cache_size=0)
    # stage $default: "/prod/admin" is a path of the catch-all, allowed.
    assert [_outcome(memo, event("$default")) for _ in range(3)] == ["Allow"] * 3
    # stage prod: the path read is "/admin", admin only; today a fresh decision denies it,
    # and the memoized answer must be the fresh one (whichever stage a fix reads).
    assert _outcome(memo, event("prod")) == _outcome(fresh, event("prod"))


# == credential confusion (held) =============================================================


def test_rest_request_authorization_repeated_in_multivalue_headers_is_refused() -> None:
    records: list[dict[str, Any]] = []
    authorizer = _authorizer(records)
    good, other = _token(roles=["admin"]), _token(sub="eve")
    event = request_authorizer(
        "GET", "/admin", headers={"Authorization": [f"Bearer {other}"]}, token=good
    )
    # the builder put both copies in multiValueHeaders, the last one in headers
    assert len(event["multiValueHeaders"]["Authorization"]) == 2
    assert _outcome(authorizer, event) == "401"
    assert records[-1]["reason"] == "ambiguous_credentials"


def test_authorization_in_two_spellings_is_refused() -> None:
    authorizer = _authorizer()
    event = request_authorizer("GET", "/x")
    event["headers"] = {
        "Authorization": f"Bearer {_token()}",
        "authorization": f"Bearer {_token(sub='eve')}",
    }
    event["multiValueHeaders"] = None
    assert _outcome(authorizer, event) == "401"


def test_token_in_header_and_query_or_protocol_is_refused() -> None:
    sources = [
        TokenSource.header(),
        TokenSource.query("token"),
        TokenSource.websocket_protocol(),
        TokenSource.cookie("tok"),
    ]
    records: list[dict[str, Any]] = []
    authorizer = _authorizer(records, token_sources=sources)
    token = _token()
    both = [
        websocket_connect(token=token, query={"token": token}),
        websocket_connect(
            query={"token": token}, headers={"Sec-WebSocket-Protocol": f"bearer, {token}"}
        ),
        request_authorizer("GET", "/x", token=token, cookies=[f"tok={token}"]),
        http_authorizer_v2("GET", "/x", query={"token": token}, cookies=[f"tok={token}"]),
    ]
    for event in both:
        assert _outcome(authorizer, event) in ("401", "deny-all")
        assert records[-1]["reason"] == "ambiguous_credentials"
    assert _outcome(authorizer, websocket_connect(query={"token": token})) == "Allow"


def test_api_key_with_bearer_token_is_decided_by_the_key_never_memoized() -> None:
    keys = StaticApiKeys({hash_api_key(PARTNER_KEY): ApiKeyEntry("partner", usage_plan=True)})
    records: list[dict[str, Any]] = []
    authorizer = _authorizer(records, api_keys=keys)
    admin = _token(roles=["admin"])
    event = request_authorizer("GET", "/admin", token=admin, headers={"x-api-key": PARTNER_KEY})
    for _ in range(3):  # the key's principal decides, every time (no memo for keys)
        response = authorizer.handler(event, None)
        assert _effect(response) == "Deny"
        assert response["principalId"] == "partner"
    assert authorizer._memo_key(authorizer._request(event)) is None
    bad_key = request_authorizer("GET", "/x", token=admin, headers={"x-api-key": "x" * 32})
    assert _outcome(authorizer, bad_key) == "401"  # an unknown key is not saved by the token
    twice = request_authorizer("GET", "/x", headers={"x-api-key": [PARTNER_KEY, PARTNER_KEY]})
    assert _outcome(authorizer, twice) == "401"
    assert records[-1]["reason"] == "ambiguous_credentials"


def test_client_certificate_with_bearer_token_is_decided_by_the_certificate() -> None:
    certs = ClientCertificates({"CN=device": ClientCertEntry("device-1")})
    authorizer = _authorizer(client_certs=certs)
    pem = _self_signed("device")
    admin = _token(roles=["admin"])
    allowed = _with_cert(request_authorizer("GET", "/admin", token=admin), pem)
    assert _outcome(authorizer, allowed) == "Deny"  # the certificate's principal, not admin
    unknown = _with_cert(request_authorizer("GET", "/x", token=admin), pem, subject="CN=other")
    assert _outcome(authorizer, unknown) == "401"


def test_certificate_bound_token_memo_is_per_certificate() -> None:
    pem, other = _self_signed("a"), _self_signed("b")
    records: list[dict[str, Any]] = []
    authorizer = _authorizer(records)
    bound = _token(cnf={"x5t#S256": certificate_thumbprint(pem)})
    event = request_authorizer("GET", "/x", token=bound)
    assert [_outcome(authorizer, _with_cert(event, pem)) for _ in range(3)] == ["Allow"] * 3
    assert _outcome(authorizer, _with_cert(event, other)) == "401"
    assert records[-1]["reason"] == "certificate_mismatch"
    assert _outcome(authorizer, event) == "401"  # no certificate at all
    assert records[-1]["reason"] == "missing_client_certificate"


def test_token_event_ignores_smuggled_headers_query_and_certificate() -> None:
    keys = StaticApiKeys({hash_api_key(PARTNER_KEY): ApiKeyEntry("partner", roles=("admin",))})
    certs = ClientCertificates({"CN=device": ClientCertEntry("device-1", roles=("admin",))})
    authorizer = _authorizer(
        api_keys=keys,
        client_certs=certs,
        token_sources=[TokenSource.header(), TokenSource.query("token")],
    )
    event = token_authorizer("GET", "/admin")  # no authorizationToken
    event["headers"] = {"x-api-key": PARTNER_KEY}
    event["queryStringParameters"] = {"token": _token(roles=["admin"])}
    event["requestContext"] = {
        "identity": {"clientCert": {"subjectDN": "CN=device", "validity": CERT_VALIDITY}}
    }
    assert _outcome(authorizer, event) == "401"


# == event-kind confusion and the target (held) ==============================================


def test_api_option_picks_the_refusal_shape_for_lookalike_request_events() -> None:
    event = http_authorizer_v1("GET", "/x", authorization="Bearer not-a-jwt")
    assert _outcome(_authorizer(), event) == "deny-all"  # HTTP API payload 1.0: 403
    assert _outcome(_authorizer(api="rest"), event) == "401"
    rest = request_authorizer("GET", "/x", authorization="Bearer not-a-jwt")
    assert _outcome(_authorizer(), rest) == "401"
    assert _outcome(_authorizer(api="http"), rest) == "deny-all"
    # a WebSocket $connect stays a WebSocket event whatever api= says
    assert _outcome(_authorizer(api="http"), websocket_connect()) == "401"


def test_rest_request_is_decided_on_method_arn_not_path_or_resource() -> None:
    authorizer = _authorizer()
    event = request_authorizer("GET", "/public", token=_token())
    event["methodArn"] = method_arn("GET", "/admin")
    response = authorizer.handler(event, None)
    assert _effect(response) == "Deny"
    assert response["policyDocument"]["Statement"][0]["Resource"] == [event["methodArn"]]
    allowed = request_authorizer("GET", "/admin", token=_token())
    allowed["path"] = allowed["resource"] = "/admin/../x"
    allowed["methodArn"] = method_arn("GET", "/orders")
    response = authorizer.handler(allowed, None)
    assert response["policyDocument"]["Statement"][0]["Resource"] == [allowed["methodArn"]]


def test_unsafe_or_huge_method_arns_are_bad_requests() -> None:
    records: list[dict[str, Any]] = []
    authorizer = _authorizer(records)
    for arn in (
        method_arn("GET", "/admin*"),
        method_arn("GET", "/a?b"),
        method_arn("GET", "/${aws:username}"),
        method_arn("GET", "/" + "a" * 1600),
        "arn:aws:s3:::bucket/GET/x",
        method_arn("FETCH", "/x"),
    ):
        event = token_authorizer("GET", "/x", token=_token())
        event["methodArn"] = arn
        assert _outcome(authorizer, event) == "401"
        assert records[-1]["reason"] == "bad_request"


def test_websocket_policy_names_only_the_connect_arn() -> None:
    response = _authorizer().handler(websocket_connect(token=_token()), None)
    assert response["policyDocument"]["Statement"][0]["Resource"] == [method_arn("$connect", "")]


def test_default_route_path_is_read_without_and_with_the_stage() -> None:
    authorizer = _authorizer()
    event = http_authorizer_v2("GET", "/admin", token=_token(), stage="prod")
    event["routeArn"] = DEFAULT_ARN.format(stage="prod")
    assert event["rawPath"] == "/prod/admin"
    assert _outcome(authorizer, event) == "Deny"  # decided as /admin
    staged = Routes(
        {
            "GET /prod/{proxy+}": authenticated(),
            "GET /admin": roles("admin"),
            "GET /{proxy+}": authenticated(),
        }
    )
    both = _authorizer(routes=staged)
    assert _outcome(both, event) == "Deny"  # /prod/admin allows, /admin does not: both must


def test_memo_keeps_answers_per_kind_target_and_source() -> None:
    token = _token()
    authorizer = _authorizer(
        simple_responses=True, token_sources=[TokenSource.header(), TokenSource.query("token")]
    )
    rest = request_authorizer("GET", "/orders", token=token)
    for _ in range(3):
        assert _outcome(authorizer, rest) == "Allow"
    http = http_authorizer_v2("GET", "/orders", token=token, stage="prod")
    http["routeArn"] = rest["methodArn"]
    assert _outcome(authorizer, http) == "isAuthorized=True"  # its own shape, not the memo's
    admin = request_authorizer("GET", "/admin", token=token)
    assert _outcome(authorizer, admin) == "Deny"
    key_rest = authorizer._memo_key(authorizer._request(rest))
    by_query = request_authorizer("GET", "/orders", query={"token": token})
    key_query = authorizer._memo_key(authorizer._request(by_query))
    assert key_rest is not None
    assert key_query is not None
    assert key_rest != key_query


def test_memo_never_serves_an_expired_or_revoked_token() -> None:
    revocations = Revocations(MemoryRevocationStore())
    authorizer = _authorizer(verifier=_verifier(revocations=revocations))
    now = int(time.time())
    token = _token(jti="t-1", iat=now, exp=now + 3600)
    event = token_authorizer("GET", "/orders", token=token)
    assert [_outcome(authorizer, event) for _ in range(3)] == ["Allow"] * 3
    revocations.revoke_token(ISS, "t-1")
    assert _outcome(authorizer, event) == "401"
    plain = _authorizer()
    soon = token_authorizer("GET", "/orders", token=_token(exp=1_000_000))
    assert _outcome(plain, soon) == "401"


# == responses ===============================================================================


def test_reserved_context_names_cannot_be_filled_by_extra_context() -> None:
    authorizer = _authorizer(
        context=lambda p: {"secauth_tenant": "acme", "secauth_principal": "root", "plan": "gold"}
    )
    context = authorizer.handler(token_authorizer("GET", "/x", token=_token()), None)["context"]
    assert "secauth_tenant" not in context
    assert context["secauth_principal"] == "ann"
    assert context["plan"] == "gold"


def test_context_values_a_kind_cannot_carry_fail_closed() -> None:
    records: list[dict[str, Any]] = []
    nested = _authorizer(
        records, context=lambda p: {"tags": ["a"], "n": None}, simple_responses=True
    )
    token = _token()
    assert _outcome(nested, token_authorizer("GET", "/x", token=token)) == "401"
    assert records[-1]["reason"] == "configuration_error"
    ok = nested.handler(http_authorizer_v2("GET", "/x", token=token), None)
    assert ok == {"isAuthorized": True, "context": {**ok["context"], "tags": ["a"], "n": None}}
    huge = _authorizer(records, context=lambda p: {"blob": "x" * 9000})
    assert _outcome(huge, websocket_connect(token=token)) == "401"
    assert _outcome(huge, http_authorizer_v1("GET", "/x", token=token)) == "deny-all"
    odd_keys = _authorizer(context=lambda p: {1: "x"})
    assert _outcome(odd_keys, request_authorizer("GET", "/x", token=token)) == "401"


def test_usage_identifier_key_only_on_rest_responses() -> None:
    keys = StaticApiKeys({hash_api_key(PARTNER_KEY): ApiKeyEntry("partner", usage_plan=True)})
    authorizer = _authorizer(api_keys=keys)
    sent = {"headers": {"x-api-key": PARTNER_KEY}}
    rest = authorizer.handler(request_authorizer("GET", "/x", **sent), None)
    assert rest["usageIdentifierKey"] == PARTNER_KEY
    for event in (
        websocket_connect(**sent),
        http_authorizer_v1("GET", "/x", **sent),
        http_authorizer_v2("GET", "/x", **sent),
    ):
        response = authorizer.handler(event, None)
        assert "usageIdentifierKey" not in response
        assert PARTNER_KEY not in json.dumps(response)


def test_principal_id_edge_cases() -> None:
    records: list[dict[str, Any]] = []
    authorizer = _authorizer(records)
    assert _outcome(authorizer, token_authorizer("GET", "/x", token=_token(sub=""))) == "401"
    assert _outcome(authorizer, token_authorizer("GET", "/x", token=_token(sub=7))) == "401"
    huge = token_authorizer("GET", "/x", token=_token(sub="é" * 2000))
    assert _outcome(authorizer, huge) == "401"  # over the budget: refused, never truncated
    assert records[-1]["reason"] == "configuration_error"
    response = authorizer.handler(token_authorizer("GET", "/x", token=_token(sub="Ünï")), None)
    assert response["principalId"] == response["context"]["secauth_principal"] == "Ünï"


def test_refusal_shapes_per_kind() -> None:
    bad = "Bearer not-a-jwt"
    authorizer = _authorizer()
    simple = _authorizer(simple_responses=True)
    for event in (
        token_authorizer("GET", "/x", authorization=bad),
        request_authorizer("GET", "/x", authorization=bad),
        websocket_connect(authorization=bad),
    ):
        with pytest.raises(Unauthorized) as raised:
            authorizer.handler(event, None)
        assert str(raised.value) == "Unauthorized"
    assert simple.handler(http_authorizer_v2("GET", "/x", authorization=bad), None) == {
        "isAuthorized": False
    }
    for event in (
        http_authorizer_v1("GET", "/x", authorization=bad),
        http_authorizer_v2("GET", "/x", authorization=bad),
    ):
        assert authorizer.handler(event, None)["policyDocument"]["Statement"] == [
            {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": ["*"]}
        ]


def test_decision_lines_never_carry_tokens_or_keys(capsys: pytest.CaptureFixture[str]) -> None:
    keys = StaticApiKeys({hash_api_key(PARTNER_KEY): ApiKeyEntry("partner")})
    sources = [TokenSource.header(), TokenSource.query("token")]
    authorizer = Authorizer(_verifier(), routes=ROUTES, api_keys=keys, token_sources=sources)
    token, forged = _token(), KeyPair.generate("ES256", kid="k1").sign({"iss": ISS, "sub": "x"})
    events = [
        token_authorizer("GET", "/x", token=token),
        token_authorizer("GET", "/x", token=forged),
        request_authorizer("GET", "/admin", token=token),
        request_authorizer("GET", "/x", token=token, query={"token": token}),
        websocket_connect(query={"token": token}),
        request_authorizer("GET", "/x", headers={"x-api-key": PARTNER_KEY}),
        request_authorizer("GET", "/x", headers={"x-api-key": PARTNER_KEY + "0"}),
        request_authorizer("GET", "/x", headers={"x-api-key": "\u3000" + PARTNER_KEY}),
        http_authorizer_v2("GET", "/x", token=token),
    ]
    for event in events:
        _outcome(authorizer, event)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == len(events)
    assert all(line["secauth"] == "decision" for line in lines)
    text = json.dumps(lines)
    for secret in (token, forged, PARTNER_KEY, token.split(".")[2], forged.split(".")[1]):
        assert secret not in text


# == failure handling ========================================================================


_ODD = [None, 0, 1.5, True, "", "x", [], {}, ["a"], {"a": 1}, "\x00", "\ud800", "*", "a" * 5000]


def _paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            out.append((*prefix, key))
            out.extend(_paths(item, (*prefix, key)))
    return out


def test_odd_event_values_only_ever_refuse_as_the_kind_expects() -> None:
    keys = StaticApiKeys({hash_api_key(PARTNER_KEY): ApiKeyEntry("partner")})
    sources = [TokenSource.header(), TokenSource.query("token"), TokenSource.websocket_protocol()]
    authorizers = [
        _authorizer(),
        _authorizer(api_keys=keys, token_sources=sources),
        _authorizer(simple_responses=True, api="http"),
    ]
    for base in (
        token_authorizer("GET", "/x", token="bad"),
        request_authorizer("GET", "/x"),
        http_authorizer_v2("GET", "/x"),
        websocket_connect(),
        http_authorizer_v1("GET", "/x"),
    ):
        for where in _paths(base):
            if where[-1] in (
                "methodArn",
                "routeArn",
                "requestContext",
                "http",
                "type",
                "version",
                "identitySource",
                "rawPath",
                "path",
                "eventType",
            ):
                continue  # these decide the kind or target: covered above
            for odd in _ODD:
                event = copy.deepcopy(base)
                spot = event
                for key in where[:-1]:
                    spot = spot[key]
                spot[where[-1]] = odd
                for authorizer in authorizers:
                    outcome = _outcome(authorizer, event)  # raises nothing but Unauthorized
                    assert outcome in ("401", "deny-all", "isAuthorized=False"), (where, odd)


def test_broken_hook_fails_closed_for_every_kind() -> None:
    class Broken(Authorizer):
        def extra_context(self, principal: Any, request: Any) -> dict[str, object]:
            raise RuntimeError("db down")

    records: list[dict[str, Any]] = []
    broken = Broken(_verifier(), routes=ROUTES, decision_log=None, on_decision=records.append)
    token = _token()
    assert _outcome(broken, token_authorizer("GET", "/x", token=token)) == "401"
    assert records[-1]["reason"] == "internal_error"
    assert _outcome(broken, websocket_connect(token=token)) == "401"
    assert _outcome(broken, http_authorizer_v2("GET", "/x", token=token)) == "deny-all"
    assert _outcome(broken, http_authorizer_v1("GET", "/x", token=token)) == "deny-all"


def test_tenant_claim_must_be_a_non_empty_string() -> None:
    authorizer = _authorizer(claims=ClaimMapper(tenant_claim="tenant"))
    for tenant in ("", 5, None):
        event = token_authorizer("GET", "/x", token=_token(tenant=tenant))
        assert _outcome(authorizer, event) == "401"
