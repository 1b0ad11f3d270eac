"""Review 138: the HTTP answers of ``Guard`` on every event kind it guards, against the RFCs and AWS.

Attacked through ``Guard(...)(handler)`` on REST v1 (``headers`` + ``multiValueHeaders``), HTTP API
v2, Function URL, ALB (single- and multi-value mode) and WebSocket message events:

* RFC 6750 section 3 challenges on 401 and 403 (no error code without credentials, ``invalid_token``,
  ``insufficient_scope``, ``scope=``), quoting (claim values with quotes and commas), and the DPoP
  challenges of RFC 9449 section 7.1;
* RFC 9457 problem bodies (``status`` equal to the HTTP status, ``type``, only the four members, no
  token or exception text), 404/405/401 ordering for anonymous callers, ``Allow`` on 405, HEAD;
* header shapes per kind: security and CORS headers present once (case-insensitively) beside a
  handler's own headers in another case, ``Vary`` merged, HTTP v2 ``cookies`` left alone;
* CORS preflights for origins, methods and headers not allowed, ``Origin: null``, ``Vary: Origin``,
  ``*`` with credentials and ``null`` in the allowlist refused at construction;
* body limits: text and base64 bodies exactly at the limit and one byte over, multi-byte UTF-8,
  ``isBase64Encoded`` that is not a boolean, invalid base64;
* odd handler results (None, a string, a dict without ``statusCode``, bytes, a set, an object).

Resolved: ``TokenError.challenge_error`` names each error's RFC 6750 code: none for a missing
token, a missing authorizer context and another scheme (new ``UnsupportedScheme``, still a refused
``MalformedToken``), ``invalid_request`` for ``AmbiguousCredentials`` (its status stays 401, as an
authorizer must answer it: declined), and a request that presented its token with ``DPoP`` is
challenged with the DPoP scheme and its algorithms. A 403 from a ``scopes(...)`` rule names the
scopes it asks for in the challenge's ``scope`` (after ``required_scopes``; ``Denial.scopes``).

What held (plain tests): every refusal on every kind is problem+json whose ``status`` is the HTTP
status, with only ``type``/``title``/``status``/``request_id``, no token text, each security header
exactly once; a 401 without credentials is a bare ``Bearer`` (``Bearer, DPoP algs=...`` with DPoP);
claim text never reaches a challenge; an anonymous caller gets the same 401 for an admin route, a
wrong verb on it and a path that does not exist; preflights that are not allowed get 403 with
``Vary: Origin`` and no CORS grant, ``null`` is never echoed; a handler's lower-case security header
wins without a duplicate and its ``Vary`` is merged; limits are exact in bytes (decoded for base64);
odd results that cannot be serialized fail closed as a sanitized 500 that still has the headers.

Findings (xfail strict until fixed), all low:

1. Trust mode (``Guard()`` behind an authorizer): a request with no credentials at all is answered
   ``Bearer error="invalid_token"``; RFC 6750 section 3.1 says no error code then
   (``guard.Guard._trusted`` raises ``MissingAuthorizerContext``, a ``TokenError``).
2. ``Authorization: Basic ...`` (an authentication method the resource does not support) is answered
   ``Bearer error="invalid_token", error_description="malformed token"``; RFC 6750 section 3.1 lists
   exactly this case as one without an error code (``token_sources`` raises ``MalformedToken``).
3. A token sent twice (``AmbiguousCredentials``) is answered 401 ``error="invalid_token"``; RFC 6750
   section 3.1 names "repeats the same parameter, uses more than one method for including an access
   token" as ``invalid_request`` (400); the token itself may be fine (``responses._www_authenticate``).
4. A request made with ``Authorization: DPoP`` whose token fails verification (expired) is challenged
   with the ``Bearer`` scheme only; RFC 9449 section 7.1 answers a DPoP request with a ``DPoP``
   challenge (``DPoP error="invalid_token", algs=...``), as secauth itself does for binding errors.
5. With ``ProtectedResource(required_scopes=[...])`` narrower than a route's ``scopes(...)``, the 403
   ``insufficient_scope`` challenge names ``scope="<required_scopes>"``, a scope the caller already
   holds, not the one the route needs (RFC 6750 section 3: "the scope necessary to access the
   protected resource"); a step-up client asks for the same scope again and loops.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from guard_events import AUD, ISS, KINDS, PAIR, VERIFIER, alb_multi, http_v2, rest_v1, token

from secauth import Cors, Guard, JwtVerifier, Routes, authenticated, roles, scopes
from secauth.dpop import DpopVerifier
from secauth.dpop_replay import MemoryReplayStore
from secauth.errors import ConfigurationError
from secauth.protected_resource import ProtectedResource
from secauth.sender_constraint import SenderConstraint
from secauth.testing_dpop import DpopKey
from secauth.testing_events import websocket_message

SECURITY = (
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "Cache-Control",
    "Content-Security-Policy",
    "X-Frame-Options",
    "Referrer-Policy",
)
APP = "https://app.example.com"
PROBLEM_MEMBERS = {"type", "title", "status", "request_id"}
Event = dict[str, Any]


def returning(result: object) -> Callable[[Event, Any], object]:
    """A two-argument handler that answers ``result``."""

    def handler(event: Event, context: Any) -> object:
        return result

    return handler


def ok(event: Event, context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


def header_lists(response: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Every header of an answer, by lower-cased name, with each value given (both maps)."""
    out: dict[str, list[Any]] = {}
    for name, value in (response.get("headers") or {}).items():
        out.setdefault(name.lower(), []).append(value)
    for name, values in (response.get("multiValueHeaders") or {}).items():
        assert isinstance(values, list), (name, values)
        out.setdefault(name.lower(), []).extend(values)
    return out


def one(response: Mapping[str, Any], name: str) -> Any:
    """The one value of header ``name`` (any case, either map); fails when absent or repeated."""
    values = header_lists(response).get(name.lower(), [])
    assert len(values) == 1, (name, values, response)
    return values[0]


def challenge(response: Mapping[str, Any]) -> str:
    return str(one(response, "WWW-Authenticate"))


def assert_problem(response: Mapping[str, Any], status: int) -> None:
    """A sanitized problem answer: the status in both places, problem+json, only its members."""
    assert response["statusCode"] == status, response
    body = json.loads(response["body"])
    assert body["status"] == response["statusCode"]
    assert set(body) <= PROBLEM_MEMBERS, body
    assert body["type"] == "about:blank"
    assert one(response, "Content-Type") == "application/problem+json"
    for name in SECURITY:
        one(response, name)  # present, exactly once


def event_of(kind: str, method: str = "GET", path: str = "/orders/7", **kwargs: Any) -> Event:
    builder = KINDS[kind][0]
    return builder(method, path, **kwargs)


ALL_KINDS = list(KINDS)


# -- problem bodies and challenges on every kind ------------------------------------------------


class Crash(Exception):
    pass


def crashing(event: Event, context: Any) -> None:
    raise Crash("db://admin:hunter2@10.0.0.5 refused " + event.get("body", ""))


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_refusal_is_a_sanitized_problem_with_its_status(kind: str) -> None:
    routes = Routes({"GET /orders/{id}": authenticated(), "DELETE /admin/{id}": roles("admin")})
    guard = Guard(VERIFIER, routes=routes, decision_log=None, max_body_bytes=64,
                  content_types=("application/json",))  # fmt: skip
    good = token(roles=["reader"])
    expired = token(exp=1000)
    cases: list[tuple[Event, int]] = [
        (event_of(kind), 401),
        (event_of(kind, authorization=f"Bearer {expired}"), 401),
        (event_of(kind, authorization=f"Bearer {good[:-4]}AAAA"), 401),
        (event_of(kind, "DELETE", "/admin/1", authorization=f"Bearer {good}"), 403),
        (event_of(kind, "GET", "/nowhere", authorization=f"Bearer {good}"), 404),
        (event_of(kind, "PUT", "/orders/7", authorization=f"Bearer {good}"), 405),
        (
            event_of(
                kind,
                "POST",
                "/orders/7",
                authorization=f"Bearer {good}",
                body="x" * 65,
                headers={"Content-Type": "application/json"},
            ),
            413,
        ),
        (
            event_of(
                kind,
                "POST",
                "/orders/7",
                authorization=f"Bearer {good}",
                body="a=1",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ),
            415,
        ),
    ]
    for event, status in cases:
        response = guard(ok)(event, None)
        assert_problem(response, status)
        text = json.dumps(response)
        assert good not in text
        assert expired not in text
        assert good[:40] not in text
        if status in (401, 403):
            assert challenge(response).startswith("Bearer")
    crashed = guard(crashing)(event_of(kind, authorization=f"Bearer {good}"), None)
    assert_problem(crashed, 500)
    assert "hunter2" not in json.dumps(crashed)
    assert "Crash" not in json.dumps(crashed)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_a_request_without_credentials_gets_a_challenge_without_error_code(kind: str) -> None:
    response = Guard(VERIFIER, decision_log=None)(ok)(event_of(kind), None)
    assert response["statusCode"] == 401
    assert challenge(response) == "Bearer"


def test_claim_text_never_reaches_a_challenge() -> None:
    """A token whose claims hold quotes, commas and CR/LF: the 403 challenge is fixed text."""
    nasty = 'x", error="invalid_token", realm="evil\r\nSet-Cookie: a=b'
    forged_scope = token(sub=nasty, scope=nasty, roles=[nasty])
    guard = Guard(VERIFIER, decision_log=None).require(roles("admin"))
    response = guard(ok)(http_v2(authorization=f"Bearer {forged_scope}"), None)
    assert response["statusCode"] == 403
    assert challenge(response) == (
        'Bearer error="insufficient_scope", error_description="forbidden"'
    )
    assert "evil" not in json.dumps(response)


def test_dpop_is_offered_beside_bearer_to_a_request_without_credentials() -> None:
    dpop = DpopVerifier(replay=MemoryReplayStore(), algorithms=["ES256", "EdDSA"])
    guard = Guard(VERIFIER, decision_log=None, sender_constraint=SenderConstraint(dpop=dpop))
    response = guard(ok)(http_v2(), None)
    assert response["statusCode"] == 401
    assert challenge(response) == 'Bearer, DPoP algs="ES256 EdDSA"'
    required = Guard(VERIFIER, decision_log=None,
                     sender_constraint=SenderConstraint(require="dpop", dpop=dpop))  # fmt: skip
    assert challenge(required(ok)(http_v2(), None)) == 'DPoP algs="ES256 EdDSA"'


# -- 404, 405 and 401 ordering ------------------------------------------------------------------


ADMIN_ROUTES = Routes(
    {"GET /orders/{id}": authenticated(), "DELETE /admin/users/{id}": roles("admin")}
)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_an_anonymous_caller_cannot_tell_admin_routes_from_missing_ones(kind: str) -> None:
    guarded = Guard(VERIFIER, routes=ADMIN_ROUTES, decision_log=None)(ok)
    answers = [
        guarded(event_of(kind, method, path), None)
        for method, path in (("DELETE", "/admin/users/1"), ("GET", "/admin/users/1"),
                             ("GET", "/admin/nothing/1"), ("PATCH", "/orders/7"))
    ]  # fmt: skip
    for answer in answers:
        assert answer["statusCode"] == 401
        assert "Allow" not in header_lists(answer)
        assert "allow" not in header_lists(answer)
    assert all(a == answers[0] for a in answers)


def test_an_authenticated_caller_gets_405_with_the_verbs_of_the_path_and_head_is_not_get() -> None:
    guarded = Guard(VERIFIER, routes=ADMIN_ROUTES, decision_log=None)(ok)
    bearer = f"Bearer {token()}"
    wrong = guarded(http_v2("PUT", "/orders/7", authorization=bearer), None)
    assert_problem(wrong, 405)
    assert one(wrong, "Allow") == "GET"
    head = guarded(http_v2("HEAD", "/orders/7", authorization=bearer), None)
    assert_problem(head, 405)
    assert one(head, "Allow") == "GET"
    missing = guarded(http_v2("GET", "/nothing", authorization=bearer), None)
    assert_problem(missing, 404)
    assert "allow" not in header_lists(missing)


# -- CORS ---------------------------------------------------------------------------------------


CORS = Cors(allow_origins=[APP], allow_credentials=True, allow_methods=["GET", "POST"])


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_preflights_not_allowed_get_403_with_vary_and_no_grant(kind: str) -> None:
    guarded = Guard(VERIFIER, cors=CORS, decision_log=None)(ok)
    asked = {"Origin": APP, "Access-Control-Request-Method": "POST"}
    allowed = guarded(event_of(kind, "OPTIONS", headers=asked), None)
    assert allowed["statusCode"] == 204
    assert one(allowed, "Access-Control-Allow-Origin") == APP
    assert one(allowed, "Vary") == "Origin"
    refused_asks = [
        {**asked, "Origin": "https://evil.example"},
        {**asked, "Origin": "null"},
        {**asked, "Origin": APP.upper()},
        {**asked, "Access-Control-Request-Method": "DELETE"},
        {**asked, "Access-Control-Request-Headers": "authorization, x-admin"},
        {"Access-Control-Request-Method": "POST"},  # no Origin at all
    ]
    for headers in refused_asks:
        refused = guarded(event_of(kind, "OPTIONS", headers=headers), None)
        assert refused["statusCode"] == 403, headers
        found = header_lists(refused)
        assert not any(name.startswith("access-control-") for name in found), found
        assert one(refused, "Vary") == "Origin"
        for name in SECURITY:
            one(refused, name)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_origin_null_is_never_echoed_and_every_answer_varies_on_origin(kind: str) -> None:
    guarded = Guard(VERIFIER, cors=CORS, decision_log=None)(ok)
    for headers in ({"Origin": "null"}, {}, {"Origin": "https://evil.example"}):
        for auth in (None, f"Bearer {token()}"):
            response = guarded(event_of(kind, authorization=auth, headers=headers), None)
            found = header_lists(response)
            assert "access-control-allow-origin" not in found, response
            assert "access-control-allow-credentials" not in found
            assert one(response, "Vary") == "Origin"


def test_cors_refuses_null_and_a_wildcard_with_credentials() -> None:
    with pytest.raises(ConfigurationError):
        Cors(allow_origins=["null"])
    with pytest.raises(ConfigurationError):
        Cors(allow_origins=["*"], allow_credentials=True)
    with pytest.raises(ConfigurationError):
        Cors(allow_origins=["*", APP])


# -- header shapes per kind ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_handler_headers_in_another_case_are_kept_once_and_vary_is_merged(kind: str) -> None:
    own = {"x-frame-options": "SAMEORIGIN", "VARY": "accept-encoding", "x-own": "1"}
    result: dict[str, Any] = {"statusCode": 201, "body": "{}"}
    if kind == "alb_multi":
        result["multiValueHeaders"] = {k: [v] for k, v in own.items()}
    else:
        result["headers"] = own
    guarded = Guard(VERIFIER, cors=CORS, decision_log=None)(returning(result))
    response = guarded(event_of(kind, authorization=f"Bearer {token()}",
                                headers={"Origin": APP}), None)  # fmt: skip
    assert response["statusCode"] == 201
    assert one(response, "X-Frame-Options") == "SAMEORIGIN"  # the handler's value wins
    assert one(response, "Vary") == "accept-encoding, Origin"
    assert one(response, "x-own") == "1"
    assert one(response, "Access-Control-Allow-Origin") == APP
    assert one(response, "Access-Control-Allow-Credentials") == "true"
    for name in SECURITY:
        one(response, name)


def test_rest_multi_value_answer_gets_the_headers_in_its_multi_value_map() -> None:
    result = {"statusCode": 200, "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]}, "body": ""}
    response = Guard(VERIFIER, decision_log=None)(returning(result))(
        rest_v1(authorization=f"Bearer {token()}"), None
    )
    assert response["multiValueHeaders"]["set-cookie"] == ["a=1", "b=2"]
    for name in SECURITY:
        assert isinstance(response["multiValueHeaders"][name], list)
        one(response, name)


def test_http_v2_cookies_list_is_left_alone() -> None:
    result = {"statusCode": 200, "cookies": ["s=1; Secure; HttpOnly"], "body": ""}
    response = Guard(VERIFIER, decision_log=None)(returning(result))(
        http_v2(authorization=f"Bearer {token()}"), None
    )
    assert response["cookies"] == ["s=1; Secure; HttpOnly"]
    assert "set-cookie" not in header_lists(response)
    for name in SECURITY:
        one(response, name)


def test_alb_multi_value_refusals_and_preflights_use_multi_value_headers() -> None:
    guarded = Guard(VERIFIER, cors=CORS, decision_log=None)(ok)
    refusal = guarded(alb_multi(), None)
    asked = {"Origin": APP, "Access-Control-Request-Method": "GET"}
    preflight = guarded(alb_multi("OPTIONS", headers=asked), None)
    for response, status in ((refusal, 401), (preflight, 204)):
        assert response["statusCode"] == status
        assert "headers" not in response
        assert response["statusDescription"].startswith(str(status))
        assert all(isinstance(v, list) for v in response["multiValueHeaders"].values())


# -- body limits --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_body_limits_are_exact_in_bytes(kind: str) -> None:
    guarded = Guard(VERIFIER, decision_log=None, max_body_bytes=12)(ok)
    bearer = f"Bearer {token()}"
    cases: list[tuple[str | bytes, int]] = [
        ("a" * 12, 200), ("a" * 13, 413),
        ("\u00e9" * 6, 200), ("\u00e9" * 6 + "a", 413),  # 2 bytes each
        ("\U0001f600" * 3, 200), ("\U0001f600" * 3 + "a", 413),  # 4 bytes each
        (b"\x00" * 12, 200), (b"\x00" * 13, 413),  # base64: decoded size
        (b"\xff" * 11, 200), (b"\xff" * 10, 200),  # padded with "=" and "=="
    ]  # fmt: skip
    for body, status in cases:
        response = guarded(event_of(kind, "POST", authorization=bearer, body=body), None)
        assert response["statusCode"] == status, (body, response)


def test_base64_flag_that_is_not_a_boolean_is_400_and_invalid_base64_is_measured() -> None:
    guarded = Guard(VERIFIER, decision_log=None, max_body_bytes=12)(ok)
    bearer = f"Bearer {token()}"
    event = http_v2("POST", authorization=bearer, body=base64.b64encode(b"a").decode())
    event["isBase64Encoded"] = "true"
    assert_problem(guarded(event, None), 400)
    junk = http_v2("POST", authorization=bearer)
    junk.update(body="!" * 17, isBase64Encoded=True)  # not base64, 17 * 3 // 4 = 12
    assert guarded(junk, None)["statusCode"] == 200
    junk["body"] = "!" * 20
    assert_problem(guarded(junk, None), 413)


# -- odd handler results ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_odd_results_are_200s_with_headers_or_sanitized_500s(kind: str) -> None:
    bearer = f"Bearer {token()}"
    for result, status, media in (
        (None, 200, "application/json"),
        ("plain", 200, "text/plain; charset=utf-8"),
        ({"body": "no status"}, 200, "application/json"),
        (b"\x00raw", 500, "application/problem+json"),
        ({"a", "set"}, 500, "application/problem+json"),
        (object(), 500, "application/problem+json"),
    ):
        response = Guard(VERIFIER, decision_log=None)(returning(result))(
            event_of(kind, authorization=bearer), None
        )
        assert response["statusCode"] == status, (result, response)
        assert one(response, "Content-Type") == media
        assert response["isBase64Encoded"] is False
        for name in SECURITY:
            one(response, name)
        if status == 500:
            assert_problem(response, 500)
            assert "object at 0x" not in response["body"]
            assert "raw" not in response["body"]


def test_websocket_refusal_is_status_and_problem_body_only() -> None:
    routes = Routes({"sendmessage": authenticated()})
    response = Guard(routes=routes, decision_log=None)(ok)(websocket_message("sendmessage"), None)
    assert set(response) == {"statusCode", "body"}
    assert response["statusCode"] == 401
    body = json.loads(response["body"])
    assert body["status"] == 401
    assert set(body) <= PROBLEM_MEMBERS


# -- findings -----------------------------------------------------------------------------------


# fmt: off
def test_trust_mode_challenge_without_credentials_has_no_error_code() -> None:
    response = Guard(decision_log=None)(ok)(http_v2(), None)  # behind an authorizer, no token sent
    assert response["statusCode"] == 401
    assert challenge(response) == "Bearer"
# fmt: on


# fmt: off
def test_an_unsupported_authentication_scheme_gets_no_error_code() -> None:
    guarded = Guard(VERIFIER, decision_log=None)(ok)
    response = guarded(http_v2(authorization="Basic dXNlcjpwYXNzd29yZA=="), None)
    assert response["statusCode"] == 401
    assert challenge(response) == "Bearer"
# fmt: on


# fmt: off
def test_a_token_sent_twice_is_an_invalid_request() -> None:
    bearer = f"Bearer {token()}"
    guarded = Guard(VERIFIER, decision_log=None)(ok)
    twice = rest_v1(authorization=bearer)
    twice["multiValueHeaders"]["Authorization"] = [bearer, bearer]
    for event in (http_v2(authorization=f"{bearer},{bearer}"), twice):
        response = guarded(event, None)
        # Declined in the fix: the status stays 401, as the Authorizer must answer it (RFC
        # 6750 would rather see 400); the code is invalid_request.
        assert_problem(response, 401)
        assert challenge(response).startswith('Bearer error="invalid_request"')
# fmt: on


# fmt: off
def test_a_dpop_request_whose_token_fails_gets_a_dpop_challenge() -> None:
    key = DpopKey.generate()
    dpop = DpopVerifier(replay=MemoryReplayStore(), algorithms=["ES256"])
    guarded = Guard(VERIFIER, decision_log=None, sender_constraint=SenderConstraint(dpop=dpop))(ok)
    expired = PAIR.sign(key.bind({"iss": ISS, "aud": AUD, "sub": "ann", "exp": 1000}))
    url = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/orders/7"
    proof = key.proof("GET", url, access_token=expired)
    response = guarded(http_v2(authorization=f"DPoP {expired}", headers={"DPoP": proof}), None)
    assert response["statusCode"] == 401
    assert challenge(response).startswith('DPoP error="invalid_token"')
    assert 'algs="ES256"' in challenge(response)
# fmt: on


RESOURCE = "https://api.example.com/"


# fmt: off
def test_insufficient_scope_challenge_names_the_scope_the_route_needs() -> None:
    resource = ProtectedResource(resource=RESOURCE, authorization_servers=["https://idp.example.com/"],
                                 scopes_supported=["orders.read", "orders.export"],
                                 required_scopes=["orders.read"])  # fmt: skip
    verifier = JwtVerifier(issuer=ISS, audience=RESOURCE, jwks={"keys": [PAIR.public_jwk]})
    guarded = Guard(verifier, routes=Routes({"GET /export": scopes("orders.export")}),
                    protected_resource=resource, decision_log=None)(ok)  # fmt: skip
    reader = PAIR.sign({"iss": ISS, "aud": RESOURCE, "sub": "ann", "exp": 4_000_000_000,
                        "scope": "orders.read"})  # fmt: skip
    response = guarded(http_v2("GET", "/export", authorization=f"Bearer {reader}"), None)
    assert response["statusCode"] == 403
    found = challenge(response)
    assert found.startswith('Bearer error="insufficient_scope"')
    scope = found.split('scope="', 1)[1].split('"', 1)[0].split()
    assert "orders.export" in scope, found
# fmt: on
