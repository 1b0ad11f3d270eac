"""Review 23: adversarial review of public-endpoint input hygiene (``json_body``, ``Field``,
``InvalidFields``) and RFC 9728 ``ProtectedResource``, and how ``Guard`` uses them.

Tests marked ``xfail(strict=True)`` assert the correct behaviour of a finding (they fail
today); unmarked tests are attacks that held, kept as regression tests.
"""

from __future__ import annotations

import base64
import json
from functools import partial
from typing import Any

import pytest

from secauth import Guard, JwtVerifier, Routes, public, scopes
from secauth.errors import (
    BadRequest,
    ConfigurationError,
    InvalidAudience,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from secauth.hygiene import Field, FieldError, InvalidFields, json_body
from secauth.protected_resource import ProtectedResource
from secauth.testing import KeyPair
from secauth.testing_events import alb, function_url, http_proxy, rest_proxy

MARK = "ECHO-r23"
JSON = {"Content-Type": "application/json"}
AS = "https://auth.example.com"
RESOURCE = "https://mcp.example.com/mcp"
PAIR = KeyPair.generate("ES256", kid="k1")
JWKS = {"keys": [PAIR.public_jwk]}
EMOJI = "\U0001f600"  # 4 bytes in UTF-8


def post(body: str | bytes, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return http_proxy("POST", "/signup", body=body, headers=JSON if headers is None else headers)


def ok(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


# == json_body: findings ==========================================================================


@pytest.mark.parametrize("digits", ["1" + "0" * 400, "-1" + "0" * 400])
def test_float_field_refuses_an_integer_that_overflows_to_infinity(digits: str) -> None:
    """``1e400`` is refused (it overflows to infinity) but the same number written as an
    integer passes a float field; the handler's ``float(v)`` then raises OverflowError: 500."""
    guard = Guard(routes=Routes({"POST /signup": public()}), decision_log=None)

    @guard
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        amount = float(json_body(event, fields={"v": float})["v"])
        return {"statusCode": 200, "body": str(amount)}

    assert handler(post('{"v": 1e400}'), None)["statusCode"] == 400
    assert handler(post('{"v": ' + digits + "}"), None)["statusCode"] == 400


@pytest.mark.parametrize("charset", ["latin-1", "iso-8859-1", "utf-16", "windows-1252"])
def test_json_body_refuses_a_declared_charset_it_does_not_decode(charset: str) -> None:
    """The body is always decoded as UTF-8: a request declaring another charset is read with
    a meaning its sender (and any intermediary honouring the charset) did not give it."""
    event = post(
        '{"v": "caf\u00e9"}', headers={"Content-Type": f"application/json; charset={charset}"}
    )
    with pytest.raises(UnsupportedMediaType):
        json_body(event, fields={"v": str})


@pytest.mark.parametrize(
    ("build", "values"),
    [
        (rest_proxy, ["text/plain", "application/json"]),  # single-value map: the last one
        (partial(alb, multi_value=True), ["application/json", "text/plain"]),  # the first one
    ],
    ids=["rest_last", "alb_multi_first"],
)
def test_json_body_refuses_a_repeated_content_type(build: Any, values: list[str]) -> None:
    """HTTP APIs join a repeated header with commas (415 there); REST and ALB events give a
    single value, so the same request is accepted on one API kind and refused on another."""
    joined = post('{"v": "a"}', headers={"Content-Type": values})
    with pytest.raises(UnsupportedMediaType):
        json_body(joined, fields={"v": str})  # HTTP API: refused today
    event = build("POST", "/signup", body='{"v": "a"}', headers={"Content-Type": values})
    with pytest.raises(UnsupportedMediaType):
        json_body(event, fields={"v": str})


@pytest.mark.parametrize(
    "options",
    [{"max_depth": None}, {"max_depth": "8"}, {"max_depth": 0}, {"max_depth": True},
     {"max_bytes": True}],
    ids=["depth_none", "depth_str", "depth_zero", "depth_bool", "bytes_bool"],
)  # fmt: skip
def test_json_body_refuses_bad_limits_as_configuration(options: dict[str, Any]) -> None:
    """``max_bytes`` is checked, ``max_depth`` is not: ``None`` or ``"8"`` turn every
    request into a TypeError (a 500), ``0`` refuses every body as a client error."""
    with pytest.raises(ConfigurationError):
        json_body(post('{"v": [1]}'), fields={"v": list}, **options)


@pytest.mark.parametrize(
    "value",
    [
        "\u0661\u0662\u0663\u0664\u0665",  # Arabic-Indic digits
        "\uff11\uff12\uff13\uff14\uff15",  # fullwidth digits
    ],
)
def test_pattern_classes_are_pythons_and_ascii_is_asked_for(value: str) -> None:
    """Patterns are Python's ``re`` (docs/guard.md, field rules): ``\\d`` matches any decimal
    digit, so a zip code written ``[0-9]{5}`` or ``(?a)\\d{5}`` (as the docs say) refuses
    non-ASCII digits that other systems read differently."""
    for pattern in (r"[0-9]{5}", r"(?a)\d{5}"):
        assert json_body(post(json.dumps({"v": "12345"})), fields={"v": Field(str, pattern=pattern)})
        with pytest.raises(InvalidFields) as caught:
            json_body(post(json.dumps({"v": value})), fields={"v": Field(str, pattern=pattern)})
        assert caught.value.field_errors == (FieldError("v", "pattern"),)
    assert json_body(post(json.dumps({"v": value})), fields={"v": Field(str, pattern=r"\d{5}")})


# == Guard body limit vs. json_body: a non-bool isBase64Encoded =================================


@pytest.mark.parametrize("flag", ["false", "0", 1])
def test_guard_body_limit_holds_for_a_non_bool_base64_flag(flag: Any) -> None:
    """``check_body`` treats any truthy flag as base64 (3/4 of the characters), json_body
    only ``True``: a 4,000-byte text body with ``isBase64Encoded: "false"`` passes a
    1,000-byte ``max_body_bytes`` and reaches the handler as text (direct invokes)."""
    seen: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(len(event["body"].encode()))
        return {"statusCode": 200, "body": "ok"}

    guard = Guard(routes=Routes({"POST /up": public()}), max_body_bytes=1000, decision_log=None)
    event = function_url("POST", "/up", body=EMOJI * 1000)
    event["isBase64Encoded"] = flag
    response = guard(handler)(event, None)
    assert response["statusCode"] in (400, 413), f"{seen} bytes reached the handler"
    assert seen == []


# == json_body: attacks that held =================================================================


@pytest.mark.parametrize("flag", ["true", "True", 1])
def test_json_body_non_bool_flag_never_decodes_base64(flag: Any) -> None:
    """A base64 body flagged with a truthy non-bool is read as text: not JSON, 400; no JSON
    object is also valid base64 ('{' is outside the alphabet), so there is no double reading."""
    event = post(base64.b64encode(b'{"v": "a"}').decode())
    event["isBase64Encoded"] = flag
    with pytest.raises(BadRequest) as caught:
        json_body(event, fields={"v": str})
    assert caught.value.detail["problem"] == "body is not strict JSON"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'{"v": "\xc0\xaf"}', "body is not strict JSON"),  # overlong "/"
        (b'{"v": "\xed\xa0\x80"}', "body is not strict JSON"),  # UTF-8-encoded surrogate
        (b'{"v": "\xf4\x90\x80\x80"}', "body is not strict JSON"),  # above U+10FFFF
        (b'\xef\xbb\xbf{"v": "a"}', "body is not strict JSON"),  # BOM
        (b'{"v": "a"}\x00', "body is not strict JSON"),
        (b'{"v": "a\x01"}', "body is not strict JSON"),  # raw control character
        (b'{"v": "a", "\\u0076": "b"}', "body is not strict JSON"),  # escaped duplicate
        (b'{"v": {"w": 1, "w": 2}}', "body is not strict JSON"),  # nested duplicate
        (b'{"v": -1E400}', "body holds a lone surrogate or a non-finite number"),
        (b'{"v": ' + b"1" * 5000 + b".0}", "body holds a lone surrogate or a non-finite number"),
        (b'{"\\udfff": 1}', "body holds a lone surrogate or a non-finite number"),  # in a name
        (b'{"v": [' + b"9" * 4301 + b"]}", "body is not strict JSON"),  # int digit limit
    ],
)
def test_base64_bodies_that_are_not_strict_utf8_json(raw: bytes, problem: str) -> None:
    with pytest.raises(BadRequest) as caught:
        json_body(post(raw), fields={"v": (str, int, float, list, dict)}, max_bytes=100_000)
    assert caught.value.detail["problem"] == problem
    assert type(caught.value) is BadRequest


@pytest.mark.parametrize(
    "body",
    ["e30", "e30==", "e3 0=", "e30=\n", "e30=e30=", "e-_=", "\u0665\u0665\u0665\u0665", "===="],
)
def test_base64_bodies_that_are_not_standard_base64(body: str) -> None:
    event = post("x")
    event.update(body=body, isBase64Encoded=True)
    with pytest.raises(BadRequest):
        json_body(event, fields={})


def test_base64_size_is_counted_decoded_at_the_limit() -> None:
    """The pre-decoding bound never refuses a body within the limit, and padding tricks do
    not pass one over it."""
    for size in range(2, 12):
        raw = b'{"v":"' + b"a" * size + b'"}'
        event = post(raw)
        assert json_body(event, fields={"v": str}, max_bytes=len(raw)) == {"v": "a" * size}
        with pytest.raises(PayloadTooLarge):
            json_body(event, fields={"v": str}, max_bytes=len(raw) - 1)


def test_deep_nesting_is_400_not_recursion_error() -> None:
    for body in ('{"v": ' + "[" * 60_000 + "]" * 60_000 + "}",
                 '{"v": ' + '{"a": ' * 900 + "1" + "}" * 900 + "}"):  # fmt: skip
        with pytest.raises(BadRequest) as caught:
            json_body(post(body), fields={"v": (list, dict)}, max_bytes=1_000_000)
        assert caught.value.detail["problem"] == "body nests too deep"


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        (Field(int, minimum=0, maximum=1), True),
        (Field(float, minimum=0, maximum=1), False),
        (Field(int, choices={0, 1}), True),
        (Field(str, choices={"admin"}), "Admin"),
        (Field(str, choices={"admin"}), "\uff41dmin"),  # fullwidth a
        (Field(str, choices={"k"}), "\u212a"),  # Kelvin sign, case-folds to k
        (Field(str, choices={"admin"}), "admin\u0000"),
        (Field(str, pattern="[a-z]+$"), "abc\n"),  # fullmatch: no `$` before a final newline
        (Field(str, pattern="a|b"), "ab"),  # alternation is anchored as a whole
        (Field(list, items=int), [1, True]),
        (Field(dict, fields={"n": int}), [["n", 1]]),
        (Field(int, maximum=2**53), 2**53 + 1),  # exact, no float rounding
    ],
)
def test_type_and_rule_confusions_are_refused(spec: Field, value: Any) -> None:
    with pytest.raises(InvalidFields):
        json_body(post(json.dumps({"v": value})), fields={"v": spec})


def test_field_errors_never_echo_values_or_names_through_guard(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fields = {"email": Field(str, pattern="[^@ ]+@[^@ ]+"), "tags": Field(list, items=str),
              "address": Field(dict, fields={"zip": Field(str, pattern="[0-9]{5}")})}  # fmt: skip
    guard = Guard(routes=Routes({"POST /signup": public()}))

    @guard
    def register(event: dict[str, Any], context: Any) -> dict[str, Any]:
        json_body(event, fields=fields)
        return {"statusCode": 201, "body": ""}

    bodies = [
        {"email": MARK, "tags": [MARK, 1], "address": {"zip": MARK, MARK: MARK}, MARK: MARK},
        {"email": {MARK: MARK}, "tags": {MARK: 1}},
    ]
    for body in bodies:
        response = register(post(json.dumps(body)), None)
        assert response["statusCode"] == 400
        assert MARK not in json.dumps(response)
    raw = '{"email": "' + MARK + '", "email": 1}'
    assert register(post(raw), None)["statusCode"] == 400
    out = capsys.readouterr()
    assert MARK not in out.out + out.err


# == ProtectedResource: findings ==================================================================


@pytest.mark.parametrize(
    "resource",
    [
        "https://b\u00fccher.example/mcp",
        "https://mcp.ex\u0430mple.com/mcp",
        "https://h.example/m\u00e9",
    ],
)
def test_non_ascii_resource_is_refused_not_rewritten(resource: str) -> None:
    """``_checked_url`` lets non-ASCII through and ``_quotable`` drops it from the
    ``WWW-Authenticate`` header: ``https://bücher.example/mcp`` sends clients to the
    metadata of ``https://bcher.example`` (another, registrable host; its document names
    the authorization servers the client will trust). Refuse non-ASCII at construction."""
    try:
        pr = ProtectedResource(
            resource=resource, authorization_servers=[AS], scopes_supported=["mcp"]
        )
    except ConfigurationError:
        return
    guard = Guard(pr.verifier(issuer=AS, jwks=JWKS), protected_resource=pr,
                  routes=Routes({"POST /mcp": scopes("mcp")}), decision_log=None)  # fmt: skip
    header = guard(ok)(function_url("POST", "/mcp", body="{}"), None)["headers"]["WWW-Authenticate"]
    assert f'resource_metadata="{pr.metadata_url}"' in header


def test_guard_refuses_tokens_for_another_resource() -> None:
    """``check_verifier`` promises every token the verifier accepts names this resource,
    but only checks that the resource is *among* the audiences: with
    ``audience=[RESOURCE, OTHER]`` a token issued for OTHER alone is admitted (RFC 8707,
    MCP: tokens must have been issued for this resource). (Contradicts
    test_protected_resource.test_guard_accepts_verifiers_of_the_resource.)"""
    other = "https://other.example.com/api"
    pr = ProtectedResource(resource=RESOURCE, authorization_servers=[AS], scopes_supported=["mcp"])
    verifier = JwtVerifier(issuer=AS, audience=[RESOURCE, other], jwks=JWKS)
    try:
        guard = Guard(verifier, protected_resource=pr, routes=Routes({"POST /mcp": scopes("mcp")}),
                      decision_log=None)  # fmt: skip
    except ConfigurationError:
        return
    stolen = PAIR.sign({"iss": AS, "aud": other, "sub": "ann", "exp": 4e9, "scope": "mcp"})
    response = guard(ok)(function_url("POST", "/mcp", token=stolen, body="{}"), None)
    assert response["statusCode"] == 401


@pytest.mark.parametrize(
    "resource",
    ["https://:443/mcp", "https://[::1/mcp", "https://mcp.example.com/a/../mcp",
     "https://mcp.example.com/./mcp"],
)  # fmt: skip
def test_resource_must_have_a_host_and_a_canonical_path(resource: str) -> None:
    """No host (``https://:443/mcp``), an unparsable host (a ValueError, not a
    ConfigurationError), dot segments (clients normalise them, so the metadata URL and
    the audience they derive differ from ours)."""
    with pytest.raises(ConfigurationError):
        ProtectedResource(resource=resource, authorization_servers=[AS])


# == ProtectedResource: attacks that held =========================================================


@pytest.mark.parametrize(
    "resource",
    ["https://mcp.example.com/mcp\r\nX-Evil: 1", "https://mcp.example.com/mcp\n",
     "https://mcp.example.com/m\tcp", "https://mcp.example.com/m\u2028cp",
     "https://mcp.example.com/m\x85cp", 'https://mcp.example.com/m",x="y',
     "https://mcp.example.com/m\\cp", "https://mcp.example.com/m\x00cp",
     "HTTPS://mcp.example.com/mcp", "https://mcp.example.com?", "https://a@mcp.example.com/",
     "https://mcp.example.com:99999/", "javascript://mcp.example.com/%0a"],
)  # fmt: skip
def test_resource_header_breakers_are_refused(resource: str) -> None:
    with pytest.raises(ConfigurationError):
        ProtectedResource(resource=resource, authorization_servers=[AS])


def test_challenge_with_a_comma_stays_one_quoted_parameter() -> None:
    pr = ProtectedResource(resource="https://mcp.example.com/a,b=c", authorization_servers=[AS],
                           scopes_supported=["x,y"])  # fmt: skip
    guard = Guard(pr.verifier(issuer=AS, jwks=JWKS), protected_resource=pr, decision_log=None)
    header = guard(ok)(function_url("GET", "/a,b=c"), None)["headers"]["WWW-Authenticate"]
    assert header == (
        'Bearer resource_metadata="https://mcp.example.com/.well-known/'
        'oauth-protected-resource/a,b=c", scope="x,y"'
    )
    assert "\r" not in header
    assert "\n" not in header


@pytest.mark.parametrize(
    "aud",
    [RESOURCE + "/", "https://MCP.example.com/mcp", "https://mcp.example.com/mcp#x",
     "https://mcp.example.com/MCP", "https://mcp.example.com/mcp?x", "http://mcp.example.com/mcp",
     [], ["https://mcp.example.com"], {"aud": RESOURCE}, None],
)  # fmt: skip
def test_resource_verifier_compares_the_audience_exactly(aud: Any) -> None:
    pr = ProtectedResource(resource=RESOURCE, authorization_servers=[AS])
    verifier = pr.verifier(issuer=AS, jwks=JWKS)
    claims = {"iss": AS, "sub": "ann", "exp": 4e9}
    if aud is not None:
        claims["aud"] = aud
    with pytest.raises(InvalidAudience):
        verifier.verify(PAIR.sign(claims))
    assert verifier.verify(PAIR.sign({**claims, "aud": [RESOURCE, "x"]}))["sub"] == "ann"


def test_metadata_paths_do_not_serve_lookalikes() -> None:
    pr = ProtectedResource(resource=RESOURCE, authorization_servers=[AS])
    guard = Guard(pr.verifier(issuer=AS, jwks=JWKS), protected_resource=pr, decision_log=None)
    wrapped = guard(ok)
    for path in ("/.well-known/oauth-protected-resource/MCP", "/.well-known/oauth-protected-resource//mcp",
                 "/.well-known/oauth-protected-resource/mcp/..", "/.WELL-KNOWN/oauth-protected-resource",
                 "/.well-known/oauth-protected-resource%2Fmcp"):  # fmt: skip
        assert wrapped(function_url("GET", path), None)["statusCode"] == 401, path
    for build in (function_url, http_proxy, rest_proxy, alb):
        served = wrapped(build("GET", "/.well-known/oauth-protected-resource/mcp"), None)
        assert served["statusCode"] == 200
        assert json.loads(served["body"])["resource"] == RESOURCE
