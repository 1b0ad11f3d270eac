"""Review 19: browser and WebSocket clients (cookies, query and subprotocol tokens, CORS).

The findings' tests failed before their fixes (they were ``xfail(strict=True)`` until
then); the other tests pin attacks that held. Events come from :mod:`secauth.testing_events`; keys from
:class:`secauth.testing.KeyPair` (static JWKS, nothing served).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from secauth import Authorizer, Guard, JwtVerifier, Routes, authenticated, roles
from secauth.errors import AmbiguousCredentials, ConfigurationError, MissingToken
from secauth.events import Request
from secauth.policy import Unauthorized
from secauth.ratelimit import RateLimiter
from secauth.responses import Cors
from secauth.rules import rule
from secauth.testing import KeyPair
from secauth.testing_events import (
    function_url,
    http_proxy,
    rest_proxy,
    websocket_connect,
    websocket_message,
)
from secauth.token_sources import TokenSource, read_token

ISS, AUD = "https://idp.example/", "web"
PAIR = KeyPair.generate("ES256", kid="k1")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
APP = "https://app.example.com"
EVIL = "https://evil.example"
COOKIE = TokenSource.cookie("session", origins=[APP])  # APP's pages may send it
HOST_COOKIE = TokenSource.cookie("__Host-session")
AUTHZ = TokenSource.header()
QUERY = TokenSource.query("token")
PROTOCOL = TokenSource.websocket_protocol()


def token(sub: str = "ann", **claims: Any) -> str:
    return PAIR.sign({"iss": ISS, "aud": AUD, "sub": sub, "exp": 4_000_000_000, **claims})


ANN = token("ann", roles=["member"])


def whoami(event: dict[str, Any], context: Any, principal: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": principal.id}


def guarded(*sources: TokenSource, **options: Any) -> Any:
    options.setdefault("decision_log", None)
    return Guard(VERIFIER, token_sources=list(sources), **options)(whoami)


def no_cors(headers: dict[str, Any]) -> bool:
    return not any(k.lower().startswith("access-control-") for k in headers)


# == Findings ==============================================================================


def test_function_url_cookie_in_header_and_cookie_list_is_read_once() -> None:
    """Lambda Function URLs deliver the ``Cookie`` header in ``headers.cookie`` *and* as
    the parsed ``cookies`` list (aws/aws-lambda-rust-runtime#586, aws/aws-lambda-web-adapter#121,
    aws/aws-lambda-go#597). One cookie sent once must be read once."""
    cookies = ["theme=dark", f"session={ANN}"]
    event = function_url("GET", "/whoami", cookies=cookies)
    event["headers"]["cookie"] = "; ".join(cookies)  # what the Function URL also passes
    answer = guarded(COOKIE)(event, None)
    assert (answer["statusCode"], answer["body"]) == (200, "ann")


def test_a_unicode_whitespace_prefixed_name_is_not_the_host_prefixed_cookie() -> None:
    """A sibling subdomain may toss ``\\u00a0__Host-session=<its token>; Domain=example.com``:
    the browser does not apply ``__Host-`` rules to that name, and sends it. Read as
    ``__Host-session``, it logs the victim into the attacker's account (or, beside the
    victim's real cookie, locks the victim out as ``ambiguous_credentials``)."""
    mallory = token("mallory")
    for junk in ("\u00a0", "\u3000", "\u2003", "\x85"):
        event = function_url("POST", "/transfer", cookies=[f"{junk}__Host-session={mallory}"])
        with pytest.raises(MissingToken):
            read_token(Request.from_event(event), [HOST_COOKIE])
        answer = guarded(HOST_COOKIE)(event, None)
        assert answer["statusCode"] == 401, answer.get("body")


@pytest.mark.parametrize(
    "origin", ["https://app.example.com/api", "https://*.example.com", "https://app.example.com?x"]
)
def test_cors_refuses_what_is_not_an_exact_origin(origin: str) -> None:
    """docs/guard.md: "an origin allowlist of exact origins (``https://app.example.com``,
    no path)"; the error says the same. These are not origins a browser ever sends."""
    with pytest.raises(ConfigurationError):
        Cors(allow_origins=[origin], allow_credentials=True)


# == Attacks that held =====================================================================

# -- cookie parsing --------------------------------------------------------------------------


def test_a_cookie_in_the_header_and_another_in_the_list_is_ambiguous() -> None:
    event = http_proxy("GET", "/", cookies=[f"session={ANN}"])
    event["headers"]["cookie"] = f"session={token('eve')}"
    with pytest.raises(AmbiguousCredentials):
        read_token(Request.from_event(event), [COOKIE])


@pytest.mark.parametrize(
    "header",
    [
        f"session={ANN}, theme=dark",  # ',' as a separator: one joined value
        f"session={ANN};session={ANN}",
        f'session="{ANN}"; session={ANN}',
        f"session={ANN}; session=",
    ],
)
def test_cookie_separators_and_repeats_never_pick_a_copy(header: str) -> None:
    request = Request.from_event(rest_proxy("GET", "/", headers={"Cookie": header}))
    with pytest.raises(AmbiguousCredentials):
        read_token(request, [COOKIE])


def test_cookie_names_are_exact() -> None:
    """Other case, a prefix variant, a percent-encoded name or a nameless cookie are other
    cookies; attributes a client pastes in are not cookies."""
    for cookies in (
        [f"Session={ANN}"],
        [f"__Host-session={ANN}"],
        [f"sess%69on={ANN}"],
        [f"={ANN}"],
        ["session"],
    ):
        with pytest.raises(MissingToken):
            read_token(Request.from_event(http_proxy("GET", "/", cookies=cookies)), [COOKIE])
    for cookies in ([f"__host-session={ANN}"], [f"session={ANN}"]):
        with pytest.raises(MissingToken):
            read_token(Request.from_event(http_proxy("GET", "/", cookies=cookies)), [HOST_COOKIE])
    request = Request.from_event(
        rest_proxy("GET", "/", headers={"Cookie": f'session="{ANN}"; Path=/; Secure'})
    )
    assert read_token(request, [COOKIE]).token == ANN


def test_many_cookies_are_read_without_trouble() -> None:
    cookies = [f"c{i}=v{i}" for i in range(2000)] + [f"session={ANN}"]
    assert (
        read_token(Request.from_event(http_proxy("GET", "/", cookies=cookies)), [COOKIE]).token
        == ANN
    )


# -- query tokens --------------------------------------------------------------------------


def test_query_token_stays_out_of_records_responses_and_challenges() -> None:
    records: list[dict[str, Any]] = []
    handler = guarded(QUERY, on_decision=records.append, cors=Cors(allow_origins=[APP]))
    forged = ANN[:-6] + "AAAAAA"
    answers = []
    for value in (ANN, forged, "not-a-jwt"):
        for build in (http_proxy, rest_proxy, function_url):
            event = build("GET", "/orders", query={"token": value}, headers={"Origin": APP})
            answers.append(handler(event, None))
    text = json.dumps(records) + json.dumps(answers)
    for secret in (ANN, forged, ANN.split(".")[2], "not-a-jwt"):
        assert secret not in text
    assert {r["path"] for r in records} == {"/orders"}
    assert {a["statusCode"] for a in answers} == {200, 401}


def test_repeated_query_parameters_are_ambiguous_in_every_shape() -> None:
    handler = guarded(QUERY)
    for build in (http_proxy, rest_proxy):
        answer = handler(build("GET", "/", query={"token": [ANN, token("eve")]}), None)
        assert answer["statusCode"] == 401
    rest = rest_proxy("GET", "/", query={"token": ANN})
    rest["multiValueQueryStringParameters"] = {"token": [ANN, ANN]}  # single map: the last
    assert handler(rest, None)["statusCode"] == 401


# -- Sec-WebSocket-Protocol ----------------------------------------------------------------


@pytest.mark.parametrize(
    "offered", [f"bearer, {ANN}", f"chat, bearer, {ANN}", f"bearer,{ANN},chat", f"{ANN}, bearer"]
)
def test_the_echo_is_the_marker_never_the_token(offered: str) -> None:
    event = websocket_connect(headers={"Sec-WebSocket-Protocol": offered})
    echo = PROTOCOL.protocol_echo(event)
    assert echo == {"Sec-WebSocket-Protocol": "bearer"}
    assert ANN not in json.dumps(echo)


def test_no_echo_without_the_marker_and_no_token_read_from_other_protocols() -> None:
    event = websocket_connect(headers={"Sec-WebSocket-Protocol": f"chat, Bearer, {ANN}"})
    assert PROTOCOL.protocol_echo(event) == {}
    with pytest.raises(MissingToken):
        read_token(Request.from_event(event), [PROTOCOL])


def test_connect_refusals_name_no_token_and_the_integration_echoes_the_marker() -> None:
    records: list[dict[str, Any]] = []
    routes = Routes({"$connect": authenticated(), "$default": authenticated()})
    auth = Authorizer(VERIFIER, routes=routes, token_sources=[PROTOCOL, QUERY],
                      decision_log=None, on_decision=records.append)  # fmt: skip
    forged = ANN[:-6] + "AAAAAA"
    for headers, query in (
        ({"Sec-WebSocket-Protocol": f"bearer, {forged}"}, {}),
        ({"Sec-WebSocket-Protocol": f"bearer, {ANN}"}, {"token": ANN}),  # two places
        ({"Sec-WebSocket-Protocol": f"bearer, {ANN}, bearer, {forged}"}, {}),
    ):
        with pytest.raises(Unauthorized) as caught:
            auth.handler(websocket_connect(headers=headers, query=query), None)
        assert forged not in str(caught.value)
        assert ANN not in repr(caught.value)
    assert [r["reason"] for r in records] == [
        "invalid_signature", "ambiguous_credentials", "ambiguous_credentials"]  # fmt: skip
    assert forged not in json.dumps(records)
    assert ANN not in json.dumps(records)

    allowed = auth.handler(websocket_connect(headers={"Sec-WebSocket-Protocol": f"bearer, {ANN}"}))
    context = {"principalId": allowed["principalId"], **allowed["context"]}
    event = websocket_message("$connect", authorizer_response=None)
    event["requestContext"].update(eventType="CONNECT", routeKey="$connect", authorizer=context)
    event["headers"] = {"Sec-WebSocket-Protocol": f"bearer, {ANN}"}

    @Guard(routes=routes, decision_log=None)
    def connect(event: dict[str, Any], context: Any, principal: Any) -> dict[str, Any]:
        return {"statusCode": 200, "headers": PROTOCOL.protocol_echo(event)}

    answer = connect(event, None)
    assert answer == {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "bearer"}}


# -- ambiguity between places --------------------------------------------------------------


def test_a_cookie_beside_a_header_or_query_token_is_ambiguous() -> None:
    handler = guarded(AUTHZ, COOKIE, QUERY)
    other = token("eve")
    for event in (
        http_proxy("GET", "/", token=ANN, cookies=[f"session={other}"]),
        http_proxy("GET", "/", query={"token": ANN}, cookies=[f"session={other}"]),
        rest_proxy("GET", "/", token=ANN, cookies=[f"session={ANN}"]),  # same value too
    ):
        assert handler(event, None)["statusCode"] == 401
    cleared = http_proxy("GET", "/", token=ANN, cookies=["session="])  # a logged-out cookie
    assert handler(cleared, None)["body"] == "ann"


# -- CSRF and cross-site WebSocket hijacking: the documented Origin rule -------------------


@rule
def same_origin(principal: Any, context: Any) -> bool:
    origin = context.request.headers.get("origin") if context.request else None
    return bool(origin == APP)


def test_the_documented_origin_rule_refuses_a_cross_site_cookie_post() -> None:
    routes = Routes({"POST /transfer": authenticated() & same_origin, "GET /me": authenticated()})
    handler = guarded(COOKIE, routes=routes)
    cookie = [f"session={ANN}"]
    cross = http_proxy("POST", "/transfer", cookies=cookie,
                       headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})  # fmt: skip
    assert handler(cross, None)["statusCode"] == 403
    no_origin = http_proxy("POST", "/transfer", cookies=cookie)
    assert handler(no_origin, None)["statusCode"] == 403
    same = http_proxy("POST", "/transfer", cookies=cookie, headers={"Origin": APP})
    assert handler(same, None)["statusCode"] == 200


def test_a_connect_allowed_for_one_origin_is_not_memoized_for_another() -> None:
    """The authorizer memo never reuses an Origin-checked ``$connect`` answer."""
    routes = Routes({"$connect": authenticated() & same_origin})
    auth = Authorizer(VERIFIER, routes=routes, token_sources=[COOKIE], decision_log=None)
    cookie = {"Cookie": f"session={ANN}"}
    for _ in range(3):
        allowed = auth.handler(websocket_connect(headers={**cookie, "Origin": APP}), None)
        assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    with pytest.raises(Unauthorized):  # refused before the rule: another site's page
        auth.handler(websocket_connect(headers={**cookie, "Origin": EVIL}), None)


# -- CORS with credentials -----------------------------------------------------------------


def cors_guard(**options: Any) -> Any:
    cors = Cors(allow_origins=[APP], allow_credentials=True, max_age=300)

    def handler(event: dict[str, Any], context: Any, principal: Any) -> dict[str, Any]:
        if event.get("body") == "boom":
            raise RuntimeError(f"secret {ANN}")
        return {"statusCode": 200, "body": principal.id}

    routes = Routes({"GET /me": authenticated(), "GET /admin": roles("admin"),
                     "POST /me": authenticated()})  # fmt: skip
    return Guard(VERIFIER, routes=routes, cors=cors, token_sources=[COOKIE],
                 decision_log=None, **options)(handler)  # fmt: skip


def test_every_answer_carries_cors_for_the_allowed_origin_only() -> None:
    handler = cors_guard(rate_limit=RateLimiter.per_principal("3/minute", algorithm="fixed_window"))
    cookie = [f"session={ANN}"]
    cases = [
        (http_proxy("GET", "/me", cookies=cookie), 200),
        (http_proxy("GET", "/me"), 401),
        (http_proxy("GET", "/admin", cookies=cookie), 403),
        (http_proxy("POST", "/me", cookies=cookie, body="boom"), 500),
        (http_proxy("GET", "/me", cookies=cookie), 429),
    ]
    for origin in (APP, EVIL, None):
        for base, status in cases:
            event = base
            if origin is not None:
                event = {**base, "headers": {**base["headers"], "origin": origin}}
            answer = handler(event, None)
            if origin == APP:
                assert answer["statusCode"] == status
                headers = answer["headers"]
                assert headers["Access-Control-Allow-Origin"] == APP
                assert headers["Access-Control-Allow-Credentials"] == "true"
                assert "Origin" in headers["Vary"]
            else:
                assert no_cors(answer["headers"]), (origin, status)
            assert ANN not in json.dumps(answer)


def test_preflights_answer_allowed_origins_only() -> None:
    handler = cors_guard()
    asked = {"origin": APP, "access-control-request-method": "POST",
             "access-control-request-headers": "content-type"}  # fmt: skip
    ok = handler(http_proxy("OPTIONS", "/me", headers=asked), None)
    assert ok["statusCode"] == 204
    assert ok["headers"]["Access-Control-Allow-Origin"] == APP
    assert ok["headers"]["Access-Control-Allow-Credentials"] == "true"
    assert ok["headers"]["Access-Control-Max-Age"] == "300"
    for changed in ({"origin": EVIL}, {"origin": "null"}, {"origin": APP + ".evil.example"},
                    {"origin": "http://app.example.com"},
                    {"access-control-request-headers": "x-csrf-bypass"}):  # fmt: skip
        refused = handler(http_proxy("OPTIONS", "/me", headers={**asked, **changed}), None)
        assert refused["statusCode"] == 403, changed
        assert no_cors(refused["headers"]), changed
    with pytest.raises(ConfigurationError):
        Cors(allow_origins=["*"], allow_credentials=True)
    with pytest.raises(ConfigurationError):
        Cors(allow_origins=["null"], allow_credentials=True)
