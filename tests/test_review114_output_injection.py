"""Review 114 (adversarial): injection from attacker-controlled input into every output channel.

Attacked at commit 1322ee7, through the real entry points (``Authorizer(...).handler``,
``Guard(...)(handler)``, ``secauth.cli.main``), with tokens validly signed by the test issuer
whose claims hold hostile values (JSON fragments, CR/LF, ANSI escapes, bidi overrides), and with
hostile paths, Origin headers and method ARNs:

* authorizer context round trip (Authorizer writes, trust-mode Guard reads, REST and HTTP API):
  a ``tenant`` claim spelling ``","secauth_roles":...``, roles holding quotes, brackets, CR/LF,
  a subject holding a newline and a fake ``secauth_kind``, a scope list item with a space;
* IAM policy Resources: a method ARN carrying ``*``/``?``, a cached policy planned from a
  ``tenant(path=...)`` binding fed ``*``, ``a/b``, ``${aws:userid}`` and ``a?c`` as the tenant;
* response headers: hostile Origin values (CRLF, lists, padding, ``null``) against ``Cors`` with
  credentials, on admitted, refused and preflight answers;
* decision records (``decision_log="stdout"``): a path and a subject carrying a fake decision
  JSON line, ANSI escapes and CR/LF; record size against input size;
* the CLI: ``inspect`` and ``verify`` of a token whose header and claims hold terminal escapes.

What held (the tests assert it): context values are whole strings and JSON arrays made by an
encoder, so nothing in a claim adds or changes a ``secauth_*`` field, and the Guard reads back
exactly the roles, scopes, tenant, kind and subject the token had; exact policies refuse a
method ARN with a wildcard and cached ones drop a binding that is not one plain segment;
``Access-Control-Allow-Origin`` only ever carries an allowlisted origin byte for byte, and no
header value holds a control character; decision records are one ASCII JSON line each, so a
forged line stays inside a string; the CLI prints JSON with ``ensure_ascii``, so no escape or
bidi character reaches the terminal raw.

Findings: none in this topic.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from secauth import Authorizer, Cors, Guard, JwtVerifier, Principal, Routes, tenant
from secauth._invoke import policy_allows
from secauth.cli import main as cli_main
from secauth.policy import Unauthorized
from secauth.principal import CONTEXT_FIELDS, ClaimMapper
from secauth.testing import KeyPair
from secauth.testing_events import http_authorizer_v2, http_proxy, request_authorizer, rest_proxy

ISS, AUD = "https://idp.example/", "orders-api"
PAIR = KeyPair.generate("ES256", kid="review114")
JWKS = {"keys": [PAIR.public_jwk]}
CLAIMS = ClaimMapper(tenant_claim="tenant")
FAR = 4_000_000_000
ARN_PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/"

HOSTILE_TENANT = 'acme","secauth_roles":"[\\"admin\\"]","secauth_kind":"api_key'
HOSTILE_ROLES = ['reader","admin', 'x\r\nsecauth_roles: ["admin"]', "]", "\x1b[31mred", '["admin"]']
HOSTILE_SUB = 'ann\nsecauth_kind=api_key","secauth_principal":"root'
HOSTILE_SCOPES = ["orders.read orders.write", "a,b"]
SAFE_HEADER = re.compile(r"[\x20-\x7e\t]*")


def _token(**claims: Any) -> str:
    body = {"iss": ISS, "aud": AUD, "sub": "ann", "exp": FAR, "tenant": "acme", **claims}
    return PAIR.sign(body)


def _verifier() -> JwtVerifier:
    return JwtVerifier(issuer=ISS, audience=AUD, jwks=JWKS)


def _seen(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": json.dumps({
        "id": principal.id, "tenant": principal.tenant, "kind": principal.kind,
        "roles": sorted(principal.roles), "scopes": sorted(principal.scopes),
        "issuer": principal.issuer,
    })}  # fmt: skip


def _hostile_token() -> str:
    return _token(sub=HOSTILE_SUB, tenant=HOSTILE_TENANT, roles=HOSTILE_ROLES, scope=HOSTILE_SCOPES)


# == context round trip: Authorizer -> API Gateway -> trust-mode Guard ==========================


@pytest.mark.parametrize("api", ["rest", "http"])
def test_claim_values_cannot_forge_context_fields(api: str) -> None:
    token = _hostile_token()
    if api == "rest":
        authorizer = Authorizer(_verifier(), claims=CLAIMS, decision_log=None)
        answer = authorizer.handler(request_authorizer("GET", "/orders", token=token), None)
        event = rest_proxy("GET", "/orders", authorizer_response=answer)
        written = event["requestContext"]["authorizer"]
    else:
        authorizer = Authorizer(_verifier(), claims=CLAIMS, simple_responses=True,
                                decision_log=None)  # fmt: skip
        answer = authorizer.handler(http_authorizer_v2("GET", "/orders", token=token), None)
        event = http_proxy("GET", "/orders", authorizer_response=answer)
        written = event["requestContext"]["authorizer"]["lambda"]
    # Only the fields to_context writes, each a plain string; the tenant is its own field.
    assert {k for k in written if k.startswith("secauth_")} <= set(CONTEXT_FIELDS)
    assert all(type(v) is str for k, v in written.items() if k.startswith("secauth_"))
    assert written["secauth_tenant"] == HOSTILE_TENANT
    assert written["secauth_kind"] == "user"
    response = Guard(trust_authorizer=True, claims=CLAIMS, decision_log=None)(_seen)(event, None)
    assert response["statusCode"] == 200
    seen = json.loads(response["body"])
    assert seen == {
        "id": HOSTILE_SUB, "tenant": HOSTILE_TENANT, "kind": "user",
        "roles": sorted(HOSTILE_ROLES), "scopes": sorted(HOSTILE_SCOPES), "issuer": ISS,
    }  # fmt: skip
    assert "admin" not in seen["roles"]


def test_forwarded_claims_cannot_fill_secauth_fields_left_out() -> None:
    """A ``context=`` hook forwarding claims verbatim (a common pattern): a claim named like
    a secauth field never reaches the Guard, even one the principal leaves out (tenant)."""
    token = PAIR.sign({"iss": ISS, "aud": AUD, "sub": "ann", "exp": FAR,
                       "secauth_tenant": "victim", "secauth_roles": '["admin"]',
                       "secauth_exp": str(FAR * 10)})  # fmt: skip
    authorizer = Authorizer(
        _verifier(), decision_log=None,
        context=lambda p: {k: v for k, v in p.claims.items() if isinstance(v, str)},
    )  # fmt: skip
    answer = authorizer.handler(request_authorizer("GET", "/orders", token=token), None)
    event = rest_proxy("GET", "/orders", authorizer_response=answer)
    written = event["requestContext"]["authorizer"]
    assert "secauth_tenant" not in written
    assert written["secauth_roles"] == "[]"
    assert written["secauth_exp"] == str(FAR)
    seen = json.loads(Guard(trust_authorizer=True, decision_log=None)(_seen)(event, None)["body"])
    assert seen["tenant"] is None
    assert seen["roles"] == []


# == IAM policy Resources ========================================================================


@pytest.mark.parametrize("path", ["/orders/*", "/orders/?", "/orders/${aws:userid}", "/o\n/x"])
def test_exact_policy_never_carries_a_wildcard_from_the_method_arn(path: str) -> None:
    authorizer = Authorizer(_verifier(), decision_log=None)
    event = request_authorizer("GET", "/orders/7", token=_token())
    event["methodArn"] = ARN_PREFIX + "GET" + path
    try:
        answer = authorizer.handler(event, None)
    except Unauthorized:
        return
    for statement in answer["policyDocument"]["Statement"]:
        if statement["Effect"] == "Allow":
            resources = statement["Resource"]
            for resource in resources if isinstance(resources, list) else [resources]:
                assert not re.search(r"[*?]|\$\{", resource), resource
    assert not policy_allows(answer["policyDocument"], ARN_PREFIX + "GET/admin")


@pytest.mark.parametrize("hostile", ["*", "a*", "a/b", "${aws:userid}", "a?c", "..", "a%2Fb"])
def test_cached_policy_binding_drops_a_tenant_that_is_not_one_plain_segment(hostile: str) -> None:
    routes = Routes({"GET /t/{tid}/orders": tenant(path="tid")})
    authorizer = Authorizer(_verifier(), routes=routes, claims=CLAIMS, cache_ttl=300,
                            decision_log=None)  # fmt: skip
    event = request_authorizer("GET", "/t/acme/orders", resource="/t/{tid}/orders",
                               path_params={"tid": "acme"}, token=_token(tenant=hostile))  # fmt: skip
    try:
        answer = authorizer.handler(event, None)
    except Unauthorized:
        return
    document = answer["policyDocument"]
    for victim in ("acme", "victim", "a", "aXc", "b"):
        assert not policy_allows(document, f"{ARN_PREFIX}GET/t/{victim}/orders"), victim
    assert not policy_allows(document, f"{ARN_PREFIX}GET/t/a/b/orders")


# == response headers: Origin reflection, control characters =====================================

GOOD_ORIGIN = "https://app.example.com"
ORIGINS = [
    GOOD_ORIGIN + "\r\nSet-Cookie: sid=attacker",
    GOOD_ORIGIN + "\nX-Injected: 1",
    GOOD_ORIGIN + ", https://evil.example",
    " " + GOOD_ORIGIN,
    GOOD_ORIGIN + "/",
    GOOD_ORIGIN.upper(),
    "null",
    "https://evil.example",
    GOOD_ORIGIN + "\x00",
    GOOD_ORIGIN + "\u2028",
]


def _headers_of(response: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in (response.get("headers") or {}).items():
        out.setdefault(name, []).append(value)
    for name, values in (response.get("multiValueHeaders") or {}).items():
        out.setdefault(name, []).extend(values)
    return out


def _assert_headers_safe(response: dict[str, Any]) -> dict[str, list[str]]:
    headers = _headers_of(response)
    for name, values in headers.items():
        assert SAFE_HEADER.fullmatch(name), name
        for value in values:
            assert isinstance(value, str), name
            assert SAFE_HEADER.fullmatch(value), (name, value)
    for value in headers.get("Access-Control-Allow-Origin", []):
        assert value == GOOD_ORIGIN
    return headers


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("case", ["admitted", "refused", "preflight"])
def test_hostile_origin_is_never_reflected_nor_breaks_a_header(origin: str, case: str) -> None:
    cors = Cors(allow_origins=[GOOD_ORIGIN], allow_credentials=True)
    guard = Guard(_verifier(), claims=CLAIMS, cors=cors, decision_log=None)
    headers: dict[str, Any] = {"Origin": origin}
    if case == "admitted":
        event = http_proxy("GET", "/orders", token=_hostile_token(), headers=headers)
    elif case == "refused":
        event = http_proxy("GET", "/orders", token="garbage." + origin, headers=headers)
    else:
        headers["Access-Control-Request-Method"] = "GET"
        headers["Access-Control-Request-Headers"] = "authorization\r\nx-evil: 1"
        event = http_proxy("OPTIONS", "/orders", headers=headers)
    response = guard(_seen)(event, None)
    found = _assert_headers_safe(response)
    assert "Access-Control-Allow-Origin" not in found
    assert "Access-Control-Allow-Credentials" not in found


def test_allowlisted_origin_is_reflected_exactly_with_hostile_claims() -> None:
    cors = Cors(allow_origins=[GOOD_ORIGIN], allow_credentials=True)
    guard = Guard(_verifier(), claims=CLAIMS, cors=cors, decision_log=None)
    event = http_proxy("GET", "/orders", token=_hostile_token(), headers={"Origin": GOOD_ORIGIN})
    found = _assert_headers_safe(guard(_seen)(event, None))
    assert found["Access-Control-Allow-Origin"] == [GOOD_ORIGIN]


@pytest.mark.parametrize("kid", ['k"\r\nSet-Cookie: a=b', "\x1b]8;;https://evil\x07", "k\\"])
def test_refusal_headers_hold_no_token_text(kid: str) -> None:
    token = PAIR.sign({"iss": ISS, "aud": AUD, "sub": "ann", "exp": FAR}, headers={"kid": kid})
    guard = Guard(_verifier(), decision_log=None)
    response = guard(_seen)(http_proxy("GET", "/orders", token=token), None)
    assert response["statusCode"] == 401
    found = _assert_headers_safe(response)
    assert found["WWW-Authenticate"][0].startswith('Bearer error="invalid_token"')
    assert kid not in response["body"]


# == decision records on stdout ==================================================================

FAKE_LINE = '\n{"secauth":"decision","decision":"allow","principal":"root","status":200}\n'


def test_decision_records_cannot_be_forged_by_path_or_subject(capsys: Any) -> None:
    guard = Guard(_verifier(), claims=CLAIMS, routes=Routes({"GET /orders": tenant(header="x")}))
    token = _token(sub="ann" + FAKE_LINE + "\x1b[2J\r", tenant="t" + FAKE_LINE)
    event = http_proxy("GET", "/orders", token=token)
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/orders" + FAKE_LINE + "\x1b[0m"
    guard(_seen)(event, None)
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\r" not in out
    lines = [line for line in out.splitlines() if line]
    records = [json.loads(line) for line in lines]
    assert len(records) == 1
    assert records[0]["secauth"] == "decision"
    assert records[0]["principal"] != "root"
    assert records[0]["decision"] != "allow"
    assert all(ch.isascii() for ch in out)


def test_decision_record_size_follows_its_input(capsys: Any) -> None:
    """No amplification: a long path and a long subject are written once each."""
    guard = Guard(_verifier(), claims=CLAIMS)
    long_sub, long_path = "s" * 4000, "/" + "p" * 6000
    event = http_proxy("GET", long_path, token=_token(sub=long_sub, tenant="x" * 2000))
    guard(_seen)(event, None)
    line = capsys.readouterr().out.strip()
    assert len(line) < len(long_sub) + len(long_path) + 2000 + 1000


# == the CLI's terminal output ===================================================================

TERMINAL = "\x1b[2J\x1b]0;pwned\x07\r\u202egnp.exe\x9b31m"


def _printable(text: str) -> bool:
    return all(ch == "\n" or " " <= ch <= "~" for ch in text)


def test_cli_inspect_prints_no_terminal_control(capsys: Any) -> None:
    token = PAIR.sign({"sub": TERMINAL, "iss": TERMINAL, TERMINAL: TERMINAL},
                      headers={"alg": TERMINAL, "kid": TERMINAL})  # fmt: skip
    cli_main(["inspect", token])
    out = capsys.readouterr()
    assert _printable(out.out)
    assert _printable(out.err)
    assert json.loads(out.out)["claims"]["sub"] == TERMINAL


@pytest.mark.parametrize("valid", [True, False])
def test_cli_verify_prints_no_terminal_control(capsys: Any, tmp_path: Path, valid: bool) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(JWKS))
    token = _token(sub=TERMINAL, tenant=TERMINAL, roles=[TERMINAL], exp=FAR if valid else 1000)
    code = cli_main(["verify", token, "--issuer", ISS, "--audience", AUD,
                     "--jwks-file", str(jwks)])  # fmt: skip
    out = capsys.readouterr()
    assert code == (0 if valid else 1)
    assert _printable(out.out)
    assert _printable(out.err)
