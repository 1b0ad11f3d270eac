"""``token_sources=``: bearer tokens from the Authorization header, another header, a query
parameter, a cookie or ``Sec-WebSocket-Protocol``; exactly one place per request.

Authorizer events are AWS's documented examples (``tests/fixtures/authorizer/``: REST
TOKEN and REQUEST, HTTP API payload 1.0 and 2.0, WebSocket ``$connect``), with the
credentials moved where each test puts them; handler events are ALB (multi-value mode)
and Lambda Function URL events as AWS documents them. Our own values.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from secauth import Authorizer, Guard, JwtVerifier, Principal, Routes, authenticated
from secauth.authorizer import Credentials
from secauth.errors import (
    AmbiguousCredentials,
    ConfigurationError,
    MalformedToken,
    MissingToken,
    Reason,
)
from secauth.events import Request
from secauth.policy import Unauthorized
from secauth.testing import KeyPair
from secauth.token_sources import (
    DEFAULT_TOKEN_SOURCES,
    TokenSource,
    check_token_sources,
    presents_token,
    read_token,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "authorizer"
ISS, AUD = "https://idp.example.com/", "orders-api"
PAIR = KeyPair.generate("ES256", kid="k1")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
QUERY = TokenSource.query("token")
COOKIE = TokenSource.cookie("session")
AUTHZ = TokenSource.header("authorization")


def token(sub: str = "ann") -> str:
    return PAIR.sign({"iss": ISS, "aud": AUD, "sub": sub, "exp": 4_000_000_000})


TOKEN = token()


def fixture(name: str, bearer: str | None = None) -> dict[str, Any]:
    """An authorizer fixture without credentials (``bearer``: in its Authorization header)."""
    text = (FIXTURES / f"{name}.json").read_text("utf-8")
    event: dict[str, Any] = json.loads(text.replace("{{token}}", bearer or "x"))
    if bearer is None:
        for block in ("headers", "multiValueHeaders"):
            for key in [k for k in event.get(block) or {} if k.lower() == "authorization"]:
                del event[block][key]
        event.pop("identitySource", None)
        event.pop("authorizationToken", None)
    return event


def with_query(event: dict[str, Any], name: str, *values: str) -> dict[str, Any]:
    """``event`` with query parameter ``name`` as the event's kind carries it."""
    event = copy.deepcopy(event)
    if event.get("version") == "2.0":  # payload 2.0 joins repeats with commas
        event.setdefault("queryStringParameters", {})[name] = ",".join(values)
        return event
    event.setdefault("queryStringParameters", {})[name] = values[-1]
    if "multiValueQueryStringParameters" in event or len(values) > 1:
        event.setdefault("multiValueQueryStringParameters", {})[name] = list(values)
    return event


def authorizer(*sources: TokenSource, **options: Any) -> Authorizer:
    options.setdefault("decision_log", None)
    routes = Routes({"GET /orders/{id}": authenticated(), "$connect": authenticated()})
    return Authorizer(VERIFIER, routes=routes, token_sources=list(sources), **options)


def outcome(auth: Authorizer, event: dict[str, Any]) -> str:
    """``allow``, or the refusal reason from the decision record."""
    records: list[dict[str, Any]] = []
    auth.decisions.sink = records.append
    try:
        response = auth.handler(event, None)
    except Unauthorized:
        return str(records[-1]["reason"])
    if response.get("isAuthorized") is False or (
        "policyDocument" in response
        and response["policyDocument"]["Statement"][0]["Effect"] != "Allow"
    ):
        return str(records[-1]["reason"])
    return "allow"


# -- the API ------------------------------------------------------------------------------


def test_the_constructors_and_their_defaults() -> None:
    assert (TokenSource.header(),) == DEFAULT_TOKEN_SOURCES
    assert TokenSource.header("Authorization").scheme == "Bearer"
    assert TokenSource.header("X-Access-Token") == TokenSource("header", "x-access-token")
    assert TokenSource.header("x-auth", scheme="Token").scheme == "Token"
    assert TokenSource.websocket_protocol().name == "bearer"
    assert QUERY.label == "query:token"
    assert len({QUERY, TokenSource.query("token"), COOKIE}) == 2


@pytest.mark.parametrize(
    "make",
    [
        lambda: TokenSource.query(""),
        lambda: TokenSource.query("a b"),
        lambda: TokenSource.query("a&b"),
        lambda: TokenSource.query("a=b"),
        lambda: TokenSource.cookie("a;b"),
        lambda: TokenSource.cookie("a b"),
        lambda: TokenSource.header("x token"),
        lambda: TokenSource.header("x:y"),
        lambda: TokenSource.header("cookie"),
        lambda: TokenSource.header("Sec-WebSocket-Protocol"),
        lambda: TokenSource.header("x", scheme="Bearer token"),
        lambda: TokenSource.websocket_protocol("bear er"),
        lambda: TokenSource("body", "token"),
        lambda: TokenSource("query", "t", "Bearer"),
        lambda: TokenSource("header", "X-Upper"),
    ],
)
def test_bad_sources_are_refused_at_construction(make: Any) -> None:
    with pytest.raises(ConfigurationError):
        make()


@pytest.mark.parametrize(
    "sources",
    [[], QUERY, ["authorization"], [QUERY, TokenSource.query("token")], None],
)
def test_bad_source_lists_are_refused_by_authorizer_and_guard(sources: Any) -> None:
    with pytest.raises(ConfigurationError):
        Authorizer(VERIFIER, token_sources=sources)
    with pytest.raises(ConfigurationError):
        Guard(VERIFIER, token_sources=sources)


def test_the_api_key_header_cannot_carry_tokens() -> None:
    from secauth import StaticApiKeys

    with pytest.raises(ConfigurationError, match="API key header"):
        Authorizer(VERIFIER, api_keys=StaticApiKeys({}),
                   token_sources=[TokenSource.header("x-api-key")])  # fmt: skip
    assert check_token_sources([TokenSource.header("x-api-key")]) == (
        TokenSource.header("x-api-key"),
    )


# -- reading, per place and event kind ------------------------------------------------------


@pytest.mark.parametrize("name", ["rest_request", "http_v1", "http_v2", "websocket_connect"])
def test_a_query_token_is_read_from_every_request_authorizer_event(name: str) -> None:
    event = with_query(fixture(name), "token", TOKEN)
    assert outcome(authorizer(QUERY), event) == "allow"
    assert outcome(authorizer(AUTHZ), event) == "missing_token"  # not a configured place
    assert outcome(authorizer(AUTHZ, QUERY), event) == "allow"


def test_cookies_from_the_cookie_header_and_the_payload_2_cookies_list() -> None:
    rest = fixture("rest_request")
    rest["headers"]["Cookie"] = f"theme=dark; session={TOKEN}; lang=en"
    rest["multiValueHeaders"]["Cookie"] = [rest["headers"]["Cookie"]]
    assert outcome(authorizer(COOKIE), rest) == "allow"
    http = fixture("http_v2")
    http["cookies"] = ["theme=dark", f"session={TOKEN}"]
    assert outcome(authorizer(COOKIE), http) == "allow"
    assert read_token(Request.from_event(http), [COOKIE]).token == TOKEN


def test_a_named_header_with_and_without_a_scheme() -> None:
    event = fixture("rest_request")
    event["headers"]["X-Access-Token"] = TOKEN
    assert outcome(authorizer(TokenSource.header("x-access-token")), event) == "allow"
    schemed = TokenSource.header("x-access-token", scheme="Token")
    assert outcome(authorizer(schemed), event) == "malformed_token"
    event["headers"]["X-Access-Token"] = f"token {TOKEN}"
    assert outcome(authorizer(schemed), event) == "allow"


def test_a_token_authorizer_reads_authorization_token_with_the_first_header_scheme() -> None:
    event = fixture("rest_token", TOKEN)
    assert outcome(authorizer(QUERY, AUTHZ), event) == "allow"
    raw = {**event, "authorizationToken": TOKEN}
    assert outcome(authorizer(TokenSource.header("x-token")), raw) == "allow"
    # Query, cookie and WebSocket sources see nothing in a TOKEN event.
    records: list[dict[str, Any]] = []
    auth = authorizer(QUERY, COOKIE, on_decision=records.append)
    with pytest.raises(Unauthorized):
        auth.handler(event, None)
    assert records[-1]["reason"] == "missing_token"
    assert "header" in records[-1]["detail"]["problem"]


def test_an_empty_value_counts_as_absent() -> None:
    event = with_query(fixture("rest_request", TOKEN), "token", "")
    assert outcome(authorizer(AUTHZ, QUERY), event) == "allow"
    assert not presents_token(Request.from_event(fixture("rest_request")), [AUTHZ, QUERY])


# -- one place, once ------------------------------------------------------------------------


def test_a_token_in_two_configured_places_is_ambiguous() -> None:
    event = with_query(fixture("rest_request", TOKEN), "token", TOKEN)
    assert outcome(authorizer(AUTHZ, QUERY), event) == "ambiguous_credentials"
    assert outcome(authorizer(AUTHZ), event) == "allow"  # the query is not a configured place
    with pytest.raises(AmbiguousCredentials) as caught:
        read_token(Request.from_event(event), [AUTHZ, QUERY])
    assert caught.value.detail["source"] == "header:authorization, query:token"
    assert caught.value.status == 401
    assert caught.value.reason is Reason.AMBIGUOUS_CREDENTIALS


def test_the_authorization_header_twice_is_ambiguous() -> None:
    """REST ``multiValueHeaders`` lists a repeated header; ``headers`` keeps one value."""
    event = fixture("rest_request", TOKEN)
    event["multiValueHeaders"]["Authorization"] = [f"Bearer {TOKEN}", f"Bearer {token('eve')}"]
    assert outcome(authorizer(AUTHZ), event) == "ambiguous_credentials"
    # Two spellings of the name in one map are the same header twice.
    spelled = fixture("rest_request", TOKEN)
    del spelled["multiValueHeaders"]
    spelled["headers"]["authorization"] = f"Bearer {token('eve')}"
    assert outcome(authorizer(AUTHZ), spelled) == "ambiguous_credentials"


def test_http_api_joined_repeats_are_ambiguous() -> None:
    """HTTP APIs join a repeated header or query parameter with a comma into one value."""
    event = fixture("http_v2", TOKEN)
    event["headers"]["authorization"] = f"Bearer {TOKEN},Bearer {token('eve')}"
    assert outcome(authorizer(AUTHZ), event) == "ambiguous_credentials"
    query = with_query(fixture("http_v2"), "token", TOKEN, token("eve"))
    assert outcome(authorizer(QUERY), query) == "ambiguous_credentials"


def test_a_query_parameter_twice_is_ambiguous() -> None:
    event = with_query(fixture("rest_request"), "token", TOKEN, token("eve"))
    assert outcome(authorizer(QUERY), event) == "ambiguous_credentials"


def test_a_cookie_twice_is_ambiguous() -> None:
    http = fixture("http_v2")
    http["cookies"] = [f"session={TOKEN}", f"session={token('eve')}"]
    assert outcome(authorizer(COOKIE), http) == "ambiguous_credentials"
    rest = fixture("rest_request")
    rest["headers"]["Cookie"] = f"session={TOKEN}"
    rest["multiValueHeaders"]["Cookie"] = [f"session={TOKEN}", f"session={TOKEN}"]
    assert outcome(authorizer(COOKIE), rest) == "ambiguous_credentials"


def alb_event(headers: dict[str, list[str]], query: dict[str, list[str]]) -> dict[str, Any]:
    """An ALB target event in multi-value mode (names and values as the client sent them)."""
    return {
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:"
                                   "123456789012:targetgroup/lambda/abc"}},
        "httpMethod": "GET",
        "path": "/orders/7",
        "multiValueQueryStringParameters": query,
        "multiValueHeaders": {"host": ["orders.example.com"], **headers},
        "body": "",
        "isBase64Encoded": False,
    }  # fmt: skip


def test_guard_on_alb_multi_value_refuses_repeats() -> None:
    records: list[dict[str, Any]] = []
    guard = Guard(VERIFIER, token_sources=[AUTHZ, QUERY], on_decision=records.append,
                  decision_log=None)  # fmt: skip
    guarded = guard(lambda event, context, principal: {"statusCode": 200, "body": principal.id})
    ok = guarded(alb_event({"authorization": [f"Bearer {TOKEN}"]}, {}), None)
    assert ok["statusCode"] == 200
    assert guarded(alb_event({}, {"token": [TOKEN]}), None)["statusCode"] == 200
    twice = alb_event({"authorization": [f"Bearer {TOKEN}", f"Bearer {TOKEN}"]}, {})
    assert guarded(twice, None)["statusCode"] == 401
    assert records[-1]["reason"] == "ambiguous_credentials"
    encoded = alb_event({}, {"token": [TOKEN], "%74oken": [token("eve")]})  # ALB: as sent
    assert guarded(encoded, None)["statusCode"] == 401
    both = alb_event({"authorization": [f"Bearer {TOKEN}"]}, {"token": [TOKEN]})
    assert guarded(both, None)["statusCode"] == 401
    assert records[-1]["reason"] == "ambiguous_credentials"


def test_guard_on_a_function_url_reads_a_cookie() -> None:
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/orders/7",
        "rawQueryString": "",
        "cookies": [f"session={TOKEN}"],
        "headers": {"host": "abcdefghijklmnop.lambda-url.us-east-1.on.aws"},
        "requestContext": {
            "domainName": "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
            "http": {"method": "GET", "path": "/orders/7", "sourceIp": "198.51.100.7"},
            "requestId": "url-1",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    guarded = Guard(VERIFIER, token_sources=[COOKIE], decision_log=None)(
        lambda event, context, principal: {"statusCode": 200, "body": principal.id}
    )
    answer = guarded(event, None)
    assert (answer["statusCode"], answer["body"]) == (200, "ann")
    assert guarded({**event, "cookies": []}, None)["statusCode"] == 401


def test_malformed_websocket_protocol_offers() -> None:
    source = TokenSource.websocket_protocol()
    for value in ("bearer", "bearer, bearer", f"chat, bearer, {TOKEN}, bearer, {TOKEN}"):
        event = fixture("websocket_connect")
        event["headers"]["Sec-WebSocket-Protocol"] = value
        with pytest.raises((MalformedToken, AmbiguousCredentials)):
            read_token(Request.from_event(event), [source])
    event = fixture("websocket_connect")
    event["headers"]["Sec-WebSocket-Protocol"] = f"chat, bearer, {TOKEN}"
    assert read_token(Request.from_event(event), [source]).token == TOKEN
    event["headers"]["Sec-WebSocket-Protocol"] = "chat"
    with pytest.raises(MissingToken):
        read_token(Request.from_event(event), [source])


# -- the response memo ----------------------------------------------------------------------


class CountingVerifier(JwtVerifier):
    """Counts full verifications (a memoized answer only revalidates its token)."""

    verified = 0

    def verify(self, token: str) -> dict[str, Any]:
        type(self).verified += 1
        return super().verify(token)

    def revalidate(self, token: str) -> bool:  # vouches for verify above: the memo stays on
        return super().revalidate(token)


def test_the_memo_never_answers_for_the_same_token_from_another_place() -> None:
    verifier = CountingVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
    auth = Authorizer(verifier, token_sources=[AUTHZ, QUERY], decision_log=None,
                      routes=Routes({"GET /orders/{id}": authenticated()}))  # fmt: skip
    in_header = fixture("rest_request", TOKEN)
    in_query = with_query(fixture("rest_request"), "token", TOKEN)
    for _ in range(3):
        auth.handler(in_header, None)  # the third answer comes from the memo
    assert CountingVerifier.verified == 2
    auth.handler(in_query, None)  # same token, same target, another place: decided anew
    assert CountingVerifier.verified == 3
    auth.handler(in_header, None)
    assert CountingVerifier.verified == 3


# -- no token in any output -----------------------------------------------------------------


@pytest.mark.parametrize("place", ["query", "cookie"])
def test_query_and_cookie_tokens_never_reach_records_logs_or_errors(
    place: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good, forged = TOKEN, TOKEN[:-6] + "AAAAAA"
    records: list[dict[str, Any]] = []
    errors: list[str] = []
    for log in ("stdout", "logging"):
        auth = authorizer(AUTHZ, QUERY, COOKIE, decision_log=log, on_decision=records.append)
        for value in (good, forged, f"{good},{forged}"):
            if place == "query":
                event = with_query(fixture("websocket_connect"), "token", value)
            else:
                event = fixture("websocket_connect")
                event["headers"]["Cookie"] = f"session={value}"
                event["headers"]["Sec-Fetch-Site"] = "same-origin"  # a page of the API's own
            for extra in (False, True):  # alone, and beside a bearer header: ambiguous
                if extra:
                    event["headers"]["Authorization"] = f"Bearer {token('eve')}"
                try:
                    auth.handler(event, None)
                except Unauthorized as exc:
                    errors.append(repr(exc) + str(exc))
                try:
                    read_token(Request.from_event(event), [AUTHZ, QUERY, COOKIE])
                except Exception as exc:  # the error itself: message, repr and detail
                    errors.append(f"{exc!r} {exc} {getattr(exc, 'detail', '')}")
    reasons = {r.get("reason") for r in records}
    assert {None, "invalid_signature", "ambiguous_credentials"} <= reasons
    text = capsys.readouterr().out + caplog.text + json.dumps(records) + " ".join(errors)
    for secret in (good, forged, good.split(".")[2], forged.split(".")[2]):
        assert secret not in text


# -- Credentials is public ------------------------------------------------------------------


def test_an_override_returns_public_credentials() -> None:
    """The documented way out for other credentials: override ``credentials()``."""

    class DeviceAuthorizer(Authorizer):
        def credentials(self, request: Request) -> Credentials:
            device = request.headers.get("x-device-id")
            if device == "sensor-7":
                return Credentials(Principal(device, kind="device"))
            return super().credentials(request)

    auth = DeviceAuthorizer(VERIFIER, decision_log=None)
    event = fixture("rest_request")
    event["headers"]["X-Device-Id"] = "sensor-7"
    assert auth.handler(event, None)["principalId"] == "sensor-7"


def test_a_cookie_given_twice_is_ambiguous_even_when_one_copy_is_empty() -> None:
    """``Cookie: tok=; tok=b`` names the cookie twice: refused, not read as ``b``."""
    from secauth.errors import AmbiguousCredentials
    from secauth.events import Request
    from secauth.testing_events import http_proxy
    from secauth.token_sources import TokenSource, read_token

    for header in ("tok=; tok=abcdefgh", 'tok=""; tok=abcdefgh', "tok=abcdefgh; tok= "):
        request = Request.from_event(http_proxy("GET", "/", headers={"cookie": header}))
        with pytest.raises(AmbiguousCredentials):
            read_token(request, (TokenSource.cookie("tok"),))
