"""Review 84: the security claims of the docs, checked on cases their own samples do not cover.

Pages read: security.md, errors.md, guard.md, operations.md, ratelimit.md, revocation.md,
sender-constrained.md, browser-clients.md. Each test names the page and the claim it
checks, on another event kind (ALB single and multi-value, Function URL, REST, HTTP
payload 2.0, WebSocket), another error, or an odd input than the page's samples.

Findings, all resolved after the review: the Vary one in the code (``refusal_response`` answers
an unreadable event as one without an ``Origin``), the six others in the docs, which now say
what the code does (the tests assert it). As found:

* low, ``test_per_request_configuration_error_title_is_documented``: errors.md says a
  per-request ``ConfigurationError`` (a per-IP limit on an ALB event without
  ``X-Forwarded-For``) reaches the caller as 500 ``secauth is misconfigured``, and that a
  Guard's problem title is "the class's fixed message (quoted in the tables)". The Guard
  answers ``internal error``: ``guard_http._answered_as`` turns every ConfigurationError into
  an ``InternalError`` (the record keeps ``configuration_error``). The code is the safer
  side: the docs should change (the same holds for ``KeyImportError``'s quoted title).
* low, ``test_bare_secauth_error_403_carries_www_authenticate``: errors.md says every 403
  class in a Guard carries ``WWW-Authenticate: Bearer error="insufficient_scope"``, and its
  403 table lists ``SecAuthError`` (403 ``request not allowed``, raised by your own code).
  A handler raising a bare ``SecAuthError`` gets a 403 without the header:
  ``responses._www_authenticate`` only challenges ``AccessDenied``. Fails closed; either the
  docs or ``_www_authenticate`` (any 403) should change.
* low, ``test_cors_guard_varies_on_origin_for_an_unreadable_event``: guard.md says every
  answer of a guard with ``Cors``, "for any origin or none", carries ``Vary: Origin``. The
  400 for an event secauth cannot read (a WebSocket message that also has ``httpMethod``)
  has none: ``guard_http.refusal_response`` suppresses the ``Request.from_event`` failure and
  adds no CORS header at all. The constant ``Vary: Origin`` could be added regardless.
* low, ``test_websocket_connect_refusal_carries_documented_headers``: guard.md says "Every
  response, errors and preflights included, gets these [security] headers", errors.md that
  a Guard's 401s carry ``WWW-Authenticate``. A refused WebSocket ``$connect`` (whose
  integration response headers do reach the client in the handshake) is answered
  ``{"statusCode", "body"}`` only (``guard_http.websocket_response``). The module docstring
  of ``guard_http`` says so; the pages should say WebSocket routes are the exception.
* low, ``test_guard_refuses_a_refused_path_spelling_as_forbidden``: security.md's table says
  a path with an empty or dot segment, ``..;`` or an encoded ``.`` is "denied
  (``forbidden``)", and errors.md lists "a refused path spelling" under ``Forbidden`` (403).
  The Authorizer denies with ``forbidden``; the Guard answers 404 ``not_found``, even with a
  catch-all route (``guard_routes._judged``: the spelling resolves to no route). Fails
  closed (and only after authentication); the docs should say the Guard answers 404.
* low, ``test_http_api_authorizer_refusal_record_status_is_what_api_gateway_sends``:
  operations.md says a record's ``status`` is "an authorizer's 401/403 as API Gateway sends
  it", and errors.md that an HTTP API answers a failure before a decision with 403. The
  record of an HTTP API authorizer's ``missing_token`` says 401 (``Authorizer.handler``
  writes 401 whatever the kind). Alarms are unaffected (``reason`` is right); docs or code.
* low, ``test_expired_token_record_holds_no_claim_value``: operations.md says a decision
  record never holds "a claim value other than the principal's id, issuer and tenant, and
  the issuer a refused token names". A ``token_expired`` record holds the token's ``exp``
  (``detail.exp``, from ``claim_policy.check_times``), ``token_not_yet_valid`` its ``nbf``.
  Harmless values: the docs should list them.

Claims that held (plain tests): handler exception text and messages passed when raising
never reach an ALB/Function URL response or the record (type name only); 503
``keys_unavailable`` on ALB multi-value carries ``Retry-After: 5`` and a record whose URL
has lost its query string; a revocation store that cannot answer is a 503 (never an
allow) whose record names the source but not the store URL's password; failed
authentications spend ``per_ip`` quota on ALB (with ``Retry-After``, ``RateLimit`` and CORS
headers on the 429) and not ``per_api_key`` quota; an Authorizer's 429 is an explicit Deny;
trust mode ignores a forged context on Function URL and ALB events; an expired context is
``token_expired`` on REST and on WebSocket messages; a token presented twice (HTTP API
comma join, ALB multi-value, Function URL cookies) is ``ambiguous_credentials`` with no
token text in the record; DPoP on ALB without ``public_url`` is refused with the DPoP
challenge, and a nonce never reaches a record; ``Retry-After`` is clamped to 1..86400;
405 carries ``Allow`` in multi-value mode; ``detail`` strings are cut at 120 characters;
a non-boolean ``isBase64Encoded`` is 400 and a comma-joined ``Content-Type`` is 415 on a
Function URL; an HTTP API or WebSocket authorizer never allows without credentials;
``1e309``/string time claims, ``cty: application/JWT`` and ``alg: nOnE`` are refused with the
documented reasons; a context and token naming two principals are refused.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from typing import Any

import pytest

from secauth import (
    Authorizer,
    Cors,
    Guard,
    JwtVerifier,
    RateLimiter,
    Routes,
    authenticated,
    public,
    roles,
)
from secauth.dpop import DpopVerifier
from secauth.dpop_nonce import DpopNonces
from secauth.dpop_replay import MemoryReplayStore
from secauth.errors import AccessDenied, RateLimited, SecAuthError, TokenExpired
from secauth.policy import Unauthorized
from secauth.ratelimit import MemoryStore
from secauth.revocation import Revocations
from secauth.revocation_stores import RedisRevocationStore
from secauth.sender_constraint import SenderConstraint
from secauth.testing import KeyPair, LocalIssuer, encode_segment, sign_compact
from secauth.testing_dpop import DpopKey
from secauth.testing_events import (
    alb,
    function_url,
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    rest_proxy,
    websocket_connect,
    websocket_message,
)
from secauth.token_sources import TokenSource

ISS, AUD = "https://idp.example.com/", "api"
PAIR = KeyPair.generate("ES256", kid="r84")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
ORIGIN = "https://app.example.com"
WS_ROUTES = Routes(
    {
        "GET /orders/{id}": authenticated(),
        "$connect": authenticated(),
        "sendmessage": authenticated(),
        "$disconnect": authenticated(),
    }
)


def token(**claims: Any) -> str:
    return PAIR.sign({"iss": ISS, "aud": AUD, "sub": "ann", "exp": 4e9, **claims})


def ok(event: dict[str, Any], context: object) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


def guarded(handler: Any = ok, verifier: Any = VERIFIER, **options: Any) -> tuple[Any, list]:
    records: list[dict[str, Any]] = []
    guard = Guard(verifier, decision_log=None, on_decision=records.append, **options)
    return guard(handler), records


def raising(exc: BaseException) -> Any:
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        raise exc

    return handler


def headers_of(response: dict[str, Any]) -> dict[str, Any]:
    """Single-value headers of a response in either shape (multi-value: the one value)."""
    if "multiValueHeaders" in response:
        return {k: v[0] for k, v in response["multiValueHeaders"].items()}
    return response.get("headers") or {}


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- findings ---------------------------------------------------------------------------
# fmt: off


def test_per_request_configuration_error_title_is_documented() -> None:
    """errors.md, 500 table: ``ConfigurationError`` per request (a per-IP limit on an event
    without a client address) -> the caller sees 500 ``internal error`` (the message, which
    names settings, is never shown); the record says ``configuration_error``. (Fixed in the
    docs, which promised the title ``secauth is misconfigured``.)"""
    handler, records = guarded(rate_limit=RateLimiter.per_ip("5/minute"))
    event = alb("GET", "/x", token=token())
    del event["headers"]["x-forwarded-for"]
    response = handler(event, None)
    assert response["statusCode"] == 500
    assert records[-1]["reason"] == "configuration_error"
    assert json.loads(response["body"])["title"] == "internal error"


def test_bare_secauth_error_403_carries_www_authenticate() -> None:
    """errors.md, 403 section: in a Guard each ``AccessDenied`` carries ``WWW-Authenticate:
    Bearer error="insufficient_scope"``; a bare ``SecAuthError`` (403 ``request not allowed``,
    raised by your own code) carries none. (Fixed in the docs, which said "each".)"""
    handler, _ = guarded(raising(SecAuthError("secret reason")))
    response = handler(function_url("GET", "/x", token=token()), None)
    assert response["statusCode"] == 403
    assert "secret reason" not in json.dumps(response)
    assert "WWW-Authenticate" not in response["headers"]
    denied, _ = guarded(raising(AccessDenied("secret reason")))
    answer = denied(function_url("GET", "/x", token=token()), None)
    assert answer["headers"]["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')


def test_cors_guard_varies_on_origin_for_an_unreadable_event() -> None:
    """guard.md, CORS: "Every answer of a guard with Cors, for any origin or none, refused
    preflights included, carries Vary: Origin"."""
    handler, records = guarded(cors=Cors(allow_origins=[ORIGIN]), routes=WS_ROUTES)
    hybrid = websocket_message("sendmessage", "{}")
    hybrid.update(httpMethod="GET", path="/orders/7", headers={"origin": ORIGIN})
    response = handler(hybrid, None)
    assert response["statusCode"] == 400
    assert records[-1]["reason"] == "bad_request"
    assert response["headers"]["Vary"] == "Origin"


def test_websocket_connect_refusal_carries_documented_headers() -> None:
    """guard.md, Security headers: every HTTP response gets them; a WebSocket route's answer,
    refusals included, is a status and a body only (errors.md too). (Fixed in the docs, which
    promised the headers and ``WWW-Authenticate`` on every response.)"""
    handler, records = guarded(verifier=None, routes=WS_ROUTES)  # trusts the $connect authorizer
    connect = websocket_connect(token=token())
    connect.pop("type")
    connect.pop("methodArn")  # the integration's event: no authorizer ran, no context
    response = handler(connect, None)
    assert response["statusCode"] == 401
    assert records[-1]["reason"] == "missing_authorizer_context"
    assert set(response) == {"statusCode", "body"}


def test_guard_refuses_a_refused_path_spelling_as_forbidden() -> None:
    """security.md, What we reject: a path with an empty or dot segment, ``..;``, an encoded
    ``.`` is denied: an Authorizer's ``forbidden``, a Guard's 404 ``not_found`` (errors.md
    too), even with a catch-all route. (Fixed in the docs, which said ``forbidden`` alone.)"""
    routes = Routes({"GET /orders/{id}": authenticated(), "ANY /{proxy+}": authenticated()})
    authorizer_records: list[dict[str, Any]] = []
    authorizer = Authorizer(
        VERIFIER, routes=routes, decision_log=None, on_decision=authorizer_records.append
    )
    handler, records = guarded(routes=routes)
    for path in ("/orders//7", "/orders/./7", "/orders/..;/7", "/orders/7%2e"):
        answer = authorizer.handler(request_authorizer("GET", path, token=token()), None)
        assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
        assert authorizer_records[-1]["reason"] == "forbidden"
        response = handler(alb("GET", path, token=token()), None)
        assert (response["statusCode"], records[-1]["reason"]) == (404, "not_found"), path


def test_http_api_authorizer_refusal_record_status_is_what_api_gateway_sends() -> None:
    """operations.md, Decision records: an authorizer's ``unauthorized`` is recorded as
    ``401`` for every event kind, although an HTTP API's caller gets 403. (Fixed in the
    docs, which said the status is always what API Gateway sends.)"""
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(
        VERIFIER, decision_log=None, on_decision=records.append, simple_responses=True
    )
    answer = authorizer.handler(http_authorizer_v2("GET", "/orders/7"), None)
    assert answer == {"isAuthorized": False}  # API Gateway answers 403
    assert records[-1]["reason"] == "missing_token"
    assert (records[-1]["decision"], records[-1]["status"]) == ("unauthorized", 401)


def test_expired_token_record_holds_no_claim_value() -> None:
    """operations.md, Decision records: the only claim values a record holds are the
    principal's id, issuer and tenant, the issuer a refused token names, and the ``exp`` or
    ``nbf`` a token was refused for. (Fixed in the docs, which left out the last two.)"""
    handler, records = guarded()
    response = handler(http_proxy("GET", "/x", token=token(exp=1234567)), None)
    assert response["statusCode"] == 401
    assert records[-1]["reason"] == "token_expired"
    assert records[-1]["detail"]["exp"] == 1234567
    assert "sub" not in json.dumps(records[-1]["detail"])
    handler(http_proxy("GET", "/x", token=token(nbf=3999999999)), None)
    assert records[-1]["reason"] == "token_not_yet_valid"
    assert records[-1]["detail"]["nbf"] == 3999999999


# fmt: on
# -- claims that held -------------------------------------------------------------------


@pytest.mark.parametrize("multi_value", [False, True])
def test_handler_exception_text_never_reaches_alb_answer_or_record(multi_value: bool) -> None:
    """guard.md, Errors: "What never reaches the client: ... exception messages, notes"; the
    record names "for an unexpected exception only its type name"."""
    exc = RuntimeError("db://admin:hunter2@10.0.0.5")
    exc.add_note("note hunter2")
    handler, records = guarded(raising(exc))
    response = handler(alb("GET", "/x", multi_value=multi_value, token=token()), None)
    assert response["statusCode"] == 500
    assert response["statusDescription"] == "500 Internal Server Error"
    assert json.loads(response["body"]) == {
        "type": "about:blank",
        "title": "internal error",
        "status": 500,
    }
    assert "hunter2" not in json.dumps(response) + json.dumps(records)
    assert records[-1]["detail"] == {"error": "RuntimeError"}


def test_message_passed_when_raising_never_reaches_function_url_caller() -> None:
    """guard.md, Errors: ``raise AccessDenied("owner is bob")`` still answers the fixed title
    ``forbidden``; errors.md: 403 carries ``WWW-Authenticate ... insufficient_scope``."""
    handler, _ = guarded(raising(AccessDenied("owner is bob", detail={"owner": "bob"})))
    response = handler(function_url("GET", "/x", token=token()), None)
    assert response["statusCode"] == 403
    assert json.loads(response["body"])["title"] == "forbidden"
    assert response["headers"]["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", error_description="forbidden"'
    )
    assert "bob" not in json.dumps(response)
    expired, _ = guarded(raising(TokenExpired("ann's token, exp 17")))
    answer = expired(function_url("GET", "/x", token=token()), None)
    assert answer["headers"]["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="token expired"'
    )
    assert "ann's" not in json.dumps(answer)


def test_keys_unavailable_on_alb_multi_value_is_503_with_retry_after() -> None:
    """errors.md, 503: ``keys_unavailable`` -> 503 with ``Retry-After: 5``, ``detail.cause``;
    operations.md: records' URLs "lose their query strings"."""
    with LocalIssuer(algs=("ES256",)) as idp:
        verifier = JwtVerifier(
            issuer=idp.issuer,
            audience=AUD,
            jwks_uri=idp.jwks_uri + "?sig=QUERYSECRET",
            allow_http=True,
        )
        idp.mode = "error"
        handler, records = guarded(verifier=verifier)
        event = alb("GET", "/x", multi_value=True, token=idp.token(sub="ann", aud=AUD))
        response = handler(event, None)
    assert response["statusCode"] == 503
    assert response["multiValueHeaders"]["Retry-After"] == ["5"]
    assert records[-1]["decision"] == "error"
    assert records[-1]["detail"]["cause"]["kind"] == "http_status"
    assert "QUERYSECRET" not in json.dumps(records) + json.dumps(response)


def test_revocation_store_down_is_503_never_an_allow() -> None:
    """security.md / revocation.md: "a store that cannot answer refuses (503)" with
    ``failure="closed"``, ``detail.source == "revocations"``; records hold no secret."""
    store = RedisRevocationStore(f"redis://:hunter2pw@127.0.0.1:{closed_port()}/0")
    verifier = JwtVerifier(
        issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]}, revocations=Revocations(store)
    )
    handler, records = guarded(verifier=verifier)
    now = int(time.time())
    event = alb("GET", "/x", multi_value=True, token=token(jti="j-1", iat=now, exp=now + 600))
    response = handler(event, None)
    assert response["statusCode"] == 503
    assert response["multiValueHeaders"]["Retry-After"] == ["5"]
    assert records[-1]["reason"] == "keys_unavailable"
    assert records[-1]["detail"]["source"] == "revocations"
    assert "hunter2pw" not in json.dumps(records)


def test_failed_authentications_spend_per_ip_quota_on_alb() -> None:
    """guard.md, Rate limits: failed authentications count in ``per_ip`` limits; a denial
    is a 429 with ``Retry-After`` and the RateLimit headers; errors get CORS headers."""
    frozen = MemoryStore(clock=lambda: 1000.0, wall_clock=lambda: 1_700_000_000.0)
    limit = RateLimiter.per_ip("2/minute", algorithm="fixed_window", store=frozen)
    handler, records = guarded(rate_limit=limit, cors=Cors(allow_origins=[ORIGIN]))
    statuses = []
    for value in ("not.a.jwt", "not.a.jwt", token()):
        headers = {"origin": ORIGIN, "authorization": f"Bearer {value}"}
        response = handler(alb("GET", "/x", multi_value=True, headers=headers), None)
        statuses.append(response["statusCode"])
    assert statuses == [401, 401, 429]
    last = headers_of(response)
    assert records[-1]["reason"] == "rate_limited"
    assert int(last["Retry-After"]) >= 1
    assert last["RateLimit-Policy"] == '"ip";q=2;w=60'
    assert last["Access-Control-Allow-Origin"] == ORIGIN


def test_failed_authentications_do_not_spend_an_api_key_quota() -> None:
    """guard.md / ratelimit.md: only limits keyed by the client IP count failed
    authentications; a limit keyed by a header would let them spend another client's quota."""
    frozen = MemoryStore(clock=lambda: 1000.0, wall_clock=lambda: 1_700_000_000.0)
    limit = RateLimiter.per_api_key("1/minute", algorithm="fixed_window", store=frozen)
    handler, _ = guarded(rate_limit=limit)

    def call(value: str) -> int:
        headers = {"x-api-key": "victim-key", "authorization": f"Bearer {value}"}
        return handler(rest_proxy("GET", "/x", headers=headers), None)["statusCode"]

    assert [call("not.a.jwt") for _ in range(3)] == [401, 401, 401]
    assert [call(token()), call(token())] == [200, 429]


def test_authorizer_rate_limit_is_an_explicit_deny() -> None:
    """errors.md: "an Authorizer cannot answer 429, so API Gateway answers 403 there"; a
    429 class is an explicit Deny."""
    frozen = MemoryStore(clock=lambda: 1000.0, wall_clock=lambda: 1_700_000_000.0)
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(
        VERIFIER,
        rate_limit=RateLimiter.per_principal("1/minute", algorithm="fixed_window", store=frozen),
        decision_log=None,
        on_decision=records.append,
    )
    effects = [
        authorizer.handler(request_authorizer("GET", "/x", token=token()), None)["policyDocument"][
            "Statement"
        ][0]["Effect"]
        for _ in range(2)
    ]
    assert effects == ["Allow", "Deny"]
    assert (records[-1]["decision"], records[-1]["reason"], records[-1]["status"]) == (
        "deny",
        "rate_limited",
        403,
    )


@pytest.mark.parametrize("kind", ["function_url", "alb"])
def test_trust_mode_reads_no_context_on_function_url_or_alb(kind: str) -> None:
    """guard.md, trust mode: "ALB and Function URL events never carry a context an API
    Gateway authorizer wrote, so on those events trust mode reads none"."""
    authorizer = Authorizer(VERIFIER, routes=WS_ROUTES, decision_log=None)
    answer = authorizer.handler(
        request_authorizer("GET", "/orders/7", resource="/orders/{id}", token=token()), None
    )
    handler, records = guarded(verifier=None, routes=WS_ROUTES)
    if kind == "function_url":
        event = function_url("GET", "/orders/7")
        event["requestContext"]["authorizer"] = {"lambda": dict(answer["context"])}
    else:
        event = alb("GET", "/orders/7")
        event["requestContext"]["authorizer"] = {"principalId": "ann", **answer["context"]}
    assert handler(event, None)["statusCode"] == 401
    assert records[-1]["reason"] == "missing_authorizer_context"


def test_expired_context_is_refused_on_rest_and_websocket_messages() -> None:
    """guard.md: "A context past its token's expiry (secauth_exp ...) is refused (401,
    token_expired)", WebSocket messages included."""
    authorizer = Authorizer(VERIFIER, routes=WS_ROUTES, decision_log=None)
    answer = authorizer.handler(websocket_connect(token=token()), None)
    context = {"principalId": "ann", **answer["context"]}
    context["secauth_exp"] = str(int(time.time()) - 100)
    handler, records = guarded(verifier=None, routes=WS_ROUTES)
    rest = rest_proxy("GET", "/orders/7", resource="/orders/{id}")
    rest["requestContext"]["authorizer"] = context
    refused = handler(rest, None)
    assert (refused["statusCode"], records[-1]["reason"]) == (401, "token_expired")
    assert refused["headers"]["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    message = websocket_message("sendmessage", "{}")
    message["requestContext"]["authorizer"] = context
    assert handler(message, None)["statusCode"] == 401
    assert records[-1]["reason"] == "token_expired"
    fresh = websocket_message("sendmessage", "{}", authorizer_response=answer)
    assert handler(fresh, None)["statusCode"] == 200


def test_token_presented_twice_is_ambiguous_on_every_event_kind() -> None:
    """errors.md / browser-clients.md: a token twice in one place (an HTTP API's comma
    join, ALB multi-value, a repeated cookie) is 401 ``ambiguous_credentials``;
    ``detail.source`` names the places, never a value."""
    value = token()
    sources = [TokenSource.header(), TokenSource.cookie("session")]
    handler, records = guarded(token_sources=sources)
    events = [
        http_proxy("GET", "/x", headers={"authorization": f"Bearer {value},Bearer {value}"}),
        alb("GET", "/x", multi_value=True, headers={"authorization": [f"Bearer {value}"] * 2}),
        function_url("GET", "/x", cookies=[f"session={value}", f"session={value}"]),
        rest_proxy("GET", "/x", headers={"cookie": f"a=1; session={value}; session={value}"}),
    ]
    for event in events:
        response = handler(event, None)
        assert response["statusCode"] == 401
        assert records[-1]["reason"] == "ambiguous_credentials"
        assert value[:30] not in json.dumps(records[-1]) + json.dumps(response)


def test_dpop_on_alb_without_public_url_is_refused_and_nonces_stay_out_of_records() -> None:
    """sender-constrained.md: on ALB "secauth refuses DPoP requests (the request URI is
    unknown) until public_url says what clients call"; nonces: "Decision records and error
    details name the problem, never a nonce"."""
    nonces = DpopNonces(secret=secrets.token_bytes(32))
    dpop = DpopVerifier(replay=MemoryReplayStore(), nonces=nonces)
    handler, records = guarded(sender_constraint=SenderConstraint(dpop=dpop))
    client = DpopKey.generate("ES256")
    bound = PAIR.sign(client.bind({"iss": ISS, "aud": AUD, "sub": "ann", "exp": 4e9}))
    nonce = nonces.issue()
    proof = client.proof("GET", "https://alb.example.com/x", access_token=bound, nonce=nonce)
    headers = {"host": "alb.example.com", "authorization": f"DPoP {bound}", "dpop": proof}
    response = handler(alb("GET", "/x", headers=headers), None)
    assert response["statusCode"] == 401
    assert records[-1]["reason"] == "invalid_dpop_proof"
    assert response["headers"]["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    url = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws/x"
    bare = client.proof("GET", url, access_token=bound)
    headers = {"authorization": f"DPoP {bound}", "dpop": bare}
    asked = handler(function_url("GET", "/x", headers=headers), None)
    assert records[-1]["reason"] == "use_dpop_nonce"
    assert asked["headers"]["DPoP-Nonce"] == nonce
    assert nonce not in json.dumps(records)


@pytest.mark.parametrize(
    ("retry_after", "header"), [(0.2, "1"), (60.00001, "61"), (float("inf"), "86400")]
)
def test_retry_after_is_whole_seconds_between_one_and_a_day(
    retry_after: float, header: str
) -> None:
    """errors.md, 429: ``Retry-After`` is ``retry_after`` in whole seconds, rounded up (at
    least 1, at most a day)."""
    handler, _ = guarded(raising(RateLimited(retry_after=retry_after)))
    response = handler(function_url("GET", "/x", token=token()), None)
    assert (response["statusCode"], response["headers"]["Retry-After"]) == (429, header)


def test_method_not_allowed_carries_allow_in_alb_multi_value_mode() -> None:
    """guard.md / errors.md: 405 ``method_not_allowed`` carries ``Allow``; the response is in
    the event's own shape (ALB multi-value mode with ``multiValueHeaders``)."""
    routes = Routes({"GET /orders/{id}": authenticated(), "DELETE /orders/{id}": roles("x")})
    handler, _ = guarded(routes=routes)
    response = handler(alb("PUT", "/orders/7", multi_value=True, token=token()), None)
    assert response["statusCode"] == 405
    assert response["multiValueHeaders"]["Allow"] == ["DELETE, GET"]
    assert "headers" not in response
    anonymous = handler(alb("PUT", "/orders/7", multi_value=True), None)
    assert anonymous["statusCode"] == 401  # nothing learnt about routes before authentication


def test_detail_strings_are_cut_at_120_characters() -> None:
    """errors.md: ``detail`` "never holds the token ...; strings are cut at 120 characters";
    operations.md: the issuer a refused token names may be shown."""
    handler, records = guarded()
    long_issuer = "https://evil.example/" + "x" * 500
    response = handler(http_proxy("GET", "/x", token=token(iss=long_issuer)), None)
    assert response["statusCode"] == 401
    actual = records[-1]["detail"]["actual"]
    assert records[-1]["reason"] == "invalid_issuer"
    assert actual == long_issuer[:120] + "..."
    assert "xxxxx" not in json.dumps(response)


def test_non_boolean_base64_flag_and_joined_content_type_are_refused() -> None:
    """guard.md, Request bodies: ``isBase64Encoded`` that is not a JSON boolean is 400 (on
    ALB); a Function URL's comma-joined ``Content-Type`` counts as twice (415)."""
    handler, records = guarded(content_types=("application/json",))
    event = alb("POST", "/x", token=token(), body="{}")
    event["isBase64Encoded"] = "false"
    response = handler(event, None)
    assert (response["statusCode"], records[-1]["reason"]) == (400, "bad_request")
    assert response["headers"]["X-Content-Type-Options"] == "nosniff"
    joined = {"content-type": "application/json,application/json"}
    event = function_url("POST", "/x", token=token(), headers=joined, body="{}")
    assert handler(event, None)["statusCode"] == 415
    quoted = {"content-type": 'application/json; profile="a,b"'}
    event = function_url("POST", "/x", token=token(), headers=quoted, body="{}")
    assert handler(event, None)["statusCode"] == 200


def test_http_api_and_websocket_authorizers_never_allow_without_credentials() -> None:
    """errors.md, Behind an Authorizer: every failure before a decision is Unauthorized (a
    401 from WebSocket APIs, a 403 from HTTP APIs)."""
    records: list[dict[str, Any]] = []
    for simple in (True, False):
        authorizer = Authorizer(
            VERIFIER, decision_log=None, on_decision=records.append, simple_responses=simple
        )
        answer = authorizer.handler(
            http_authorizer_v2("GET", "/x", authorization="Bearer not.a.jwt"), None
        )
        if simple:
            assert answer["isAuthorized"] is False
        else:
            assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
        assert records[-1]["reason"] == "malformed_token"
        with pytest.raises(Unauthorized):
            authorizer.handler(websocket_connect(query={"token": token()}), None)
        assert records[-1]["reason"] == "missing_token"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ('{"iss":"' + ISS + '","aud":"api","sub":"ann","exp":1e309}', "invalid_claims"),
        ('{"iss":"' + ISS + '","aud":"api","sub":"ann","exp":"4000000000"}', "invalid_claims"),
        ('{"iss":"' + ISS + '","aud":"api","sub":"ann","exp":4e9,"nbf":true}', "invalid_claims"),
        ('{"iss":"' + ISS + '","aud":[],"sub":"ann","exp":4e9}', "invalid_audience"),
    ],
)
def test_time_and_audience_claims_are_never_coerced(payload: str, reason: str) -> None:
    """security.md, What we reject: time claims that are not finite numbers (``"1700000000"``,
    ``true``, ``1e309``) are ``invalid_claims``; an empty ``aud`` list ``invalid_audience``."""
    header = {"alg": "ES256", "kid": "r84", "typ": "JWT"}
    forged = sign_compact(header, encode_segment(payload.encode()), PAIR.private_key, "ES256")
    handler, records = guarded()
    response = handler(function_url("GET", "/x", token=forged), None)
    assert (response["statusCode"], records[-1]["reason"]) == (401, reason)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"cty": "application/JWT"}, "malformed_token"),
        ({"alg": "nOnE"}, "invalid_signature"),
        ({"b64": False}, "malformed_token"),
        ({"x5c": ["MIIB"]}, "malformed_token"),
    ],
)
def test_refused_headers_on_a_websocket_connect_authorizer(
    header: dict[str, Any], reason: str
) -> None:
    """security.md, What we reject: ``cty: JWT`` (any case), ``alg: none`` in any case,
    ``b64`` other than true and ``x5c`` are refused, here by a WebSocket ``$connect``
    authorizer reading the token from the query."""
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(
        VERIFIER,
        token_sources=[TokenSource.query("token")],
        decision_log=None,
        on_decision=records.append,
    )
    forged = PAIR.sign({"iss": ISS, "aud": AUD, "sub": "ann", "exp": 4e9}, headers=header)
    with pytest.raises(Unauthorized):
        authorizer.handler(websocket_connect(query={"token": forged}), None)
    assert records[-1]["reason"] == reason
    assert forged[:40] not in json.dumps(records)


def test_context_and_token_naming_two_principals_are_refused() -> None:
    """guard.md, three modes: with ``Guard(verifier, trust_authorizer=True)`` "they must
    name the same principal, issuer and tenant"."""
    authorizer = Authorizer(VERIFIER, routes=WS_ROUTES, decision_log=None)
    answer = authorizer.handler(
        request_authorizer("GET", "/orders/7", resource="/orders/{id}", token=token(sub="bob")),
        None,
    )
    handler, records = guarded(routes=WS_ROUTES, trust_authorizer=True)
    event = rest_proxy("GET", "/orders/7", resource="/orders/{id}", token=token(sub="ann"))
    event["requestContext"]["authorizer"] = {"principalId": "bob", **answer["context"]}
    response = handler(event, None)
    assert (response["statusCode"], records[-1]["reason"]) == (401, "invalid_claims")
    public_only, _ = guarded(routes=Routes({"GET /health": public()}), trust_authorizer=True)
    assert public_only(rest_proxy("GET", "/health"), None)["statusCode"] == 200
