"""Review 37: event kinds beyond REST/HTTP proxies, attacked.

WebSocket APIs (the ``$connect`` authorizer, then MESSAGE / DISCONNECT integrations that
the Guard trusts on the context API Gateway repeats for the connection), Application Load
Balancer events (``x-amzn-oidc-data`` checked by ``AlbVerifier`` against keys served by a
real loopback server, ``secauth.testing_alb.LocalAlb``; multi-value mode; client
``X-Forwarded-For``) and Lambda Function URL events (payload 2.0 without API Gateway).

Who can send what: a Function URL with AuthType NONE is reachable by anyone, but its
``requestContext`` is built by Lambda (a client chooses headers, query, cookies, path and
body, never ``requestContext``); an ALB builds ``requestContext.elb`` and passes client
headers through (``x-amzn-oidc-*`` included, when a rule does not authenticate); a
WebSocket client chooses its ``$connect`` query and headers, then message bodies (and
through them the route key, among the keys the API defines).

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; attacks that
held are plain tests.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from secauth import Authorizer, Guard, JwtVerifier, Principal, Routes, authenticated, public, roles
from secauth.alb import AlbVerifier
from secauth.errors import AmbiguousCredentials, MalformedToken, SecAuthError
from secauth.events import EventKind, Request, detect_kind
from secauth.policy import Unauthorized
from secauth.ratelimit.keys import ClientIp
from secauth.request_rules import source_ip
from secauth.testing import KeyPair
from secauth.testing_alb import LocalAlb
from secauth.testing_events import (
    alb,
    function_url,
    http_proxy,
    websocket_connect,
    websocket_message,
)
from secauth.token_sources import TokenSource, read_token

ISS, AUD = "https://idp.example/", "chat"
PAIR = KeyPair.generate("ES256", kid="r37")
STRANGER = KeyPair.generate("ES256", kid="r37")  # same kid, another key: a forgery
WS_ROUTES = Routes(
    {
        "$connect": authenticated(),
        "sendmessage": roles("member"),
        "$default": authenticated(),
        "$disconnect": public(),
    }
)
ADMIN_CONTEXT: dict[str, Any] = {
    "principalId": "root",
    **Principal("root", roles={"admin"}).to_context(),
}
ADMIN_ROUTES = Routes({"GET /admin": roles("admin"), "$default": roles("admin")})


def jwt(sub: str = "ann", *, pair: KeyPair = PAIR, **claims: Any) -> str:
    body: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": sub, "exp": 4_000_000_000}
    body.update(claims)
    return pair.sign(body)


def verifier(**options: Any) -> JwtVerifier:
    return JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]}, **options)


def echo(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": principal.id}


@pytest.fixture
def local_alb() -> Iterator[LocalAlb]:
    with LocalAlb() as server:
        yield server


def alb_verifier(server: LocalAlb) -> AlbVerifier:
    return AlbVerifier(alb_arn=server.arn, issuer=server.issuer, client_id=server.client_id,
                       key_endpoint=server.key_endpoint, allow_http=True)  # fmt: skip


# -- findings -----------------------------------------------------------------------------


def test_ws_messages_are_refused_once_the_connect_token_has_expired() -> None:
    """The ``$connect`` authorizer checks the token once; API Gateway then repeats the
    context it wrote on every MESSAGE of the connection (up to 2 hours). The context
    carries no expiry, so the Guard keeps admitting a caller whose token expired (or was
    revoked) long ago. Here the token expired 5 minutes after connecting, and the message
    arrives (real clock) years later: it should be refused."""
    connected_at = 1_700_000_000.0
    authorizer = Authorizer(verifier(clock=lambda: connected_at), routes=WS_ROUTES,
                            decision_log=None, token_sources=[TokenSource.query("token")])  # fmt: skip
    short_lived = jwt(roles=["member"], exp=int(connected_at) + 300)
    answer = authorizer.handler(websocket_connect(query={"token": short_lived}), None)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    message = websocket_message("sendmessage", '{"action":"sendmessage"}',
                                authorizer_response=answer)  # fmt: skip
    guarded = Guard(routes=WS_ROUTES, decision_log=None)(echo)
    assert guarded(message, None)["statusCode"] == 401
    assert message["requestContext"]["authorizer"]["secauth_exp"] == str(int(connected_at) + 300)
    assert "token expired" in guarded(message, None)["body"]
    # a token still valid: the same message is admitted
    lasting = jwt(roles=["member"], exp=4_000_000_000)
    answer = authorizer.handler(websocket_connect(query={"token": lasting}), None)
    message = websocket_message("sendmessage", '{"action":"sendmessage"}',
                                authorizer_response=answer)  # fmt: skip
    assert guarded(message, None)["statusCode"] == 200


def trusted_event(context: dict[str, Any]) -> dict[str, Any]:
    """An HTTP API event for GET /a behind a Lambda authorizer that answered ``context``."""
    return http_proxy("GET", "/a", authorizer_response={"isAuthorized": True, "context": context})


def test_a_cached_rest_context_is_refused_past_the_token_expiry() -> None:
    """The same on REST and HTTP APIs, whose cached answers (``cache_ttl``) reuse a context
    until the entry expires, however soon the token expired."""
    context = {"principalId": "ann", **Principal("ann", claims={"exp": 1_700_000_000}).to_context()}
    guarded = Guard(routes=Routes({"GET /a": authenticated()}), decision_log=None)(echo)
    event = trusted_event(context)
    assert guarded(event, None)["statusCode"] == 401


@pytest.mark.parametrize("exp", ["soon", "-1", "1e9", " 1", "\uff11\uff17", "9" * 17, 17])
def test_a_malformed_context_expiry_is_refused(exp: object) -> None:
    context = {"principalId": "ann", **Principal("ann").to_context(), "secauth_exp": exp}
    guarded = Guard(routes=Routes({"GET /a": authenticated()}), decision_log=None)(echo)
    assert guarded(trusted_event(context), None)["statusCode"] == 401


def test_a_context_without_an_expiry_is_trusted_as_before() -> None:
    """API keys and client certificates carry no expiry; nor does a context written by an
    authorizer of an earlier version."""
    context = {"principalId": "ann", **Principal("ann", kind="api_key").to_context()}
    assert "secauth_exp" not in context
    guarded = Guard(routes=Routes({"GET /a": authenticated()}), decision_log=None)(echo)
    assert guarded(trusted_event(context), None)["statusCode"] == 200


# -- event-kind confusion: what trust mode believes ----------------------------------------


def test_trust_mode_ignores_a_context_on_function_url_events() -> None:
    """A Function URL event (Lambda builds its requestContext) carrying an API Gateway
    shaped context, flat or under ``lambda``, beside the IAM block: never a principal."""
    guarded = Guard(routes=ADMIN_ROUTES, decision_log=None)(echo)
    for context in ({"lambda": ADMIN_CONTEXT, "iam": {"userArn": "arn:aws:iam::1:user/x"}},
                    ADMIN_CONTEXT):  # fmt: skip
        event = function_url("GET", "/admin")
        event["requestContext"]["authorizer"] = context
        assert detect_kind(event) is EventKind.FUNCTION_URL
        assert guarded(event, None)["statusCode"] == 401


def test_trust_mode_ignores_a_context_on_alb_events() -> None:
    guarded = Guard(routes=ADMIN_ROUTES, decision_log=None)(echo)
    for multi_value in (False, True):
        event = alb("GET", "/admin", multi_value=multi_value)
        event["requestContext"]["authorizer"] = ADMIN_CONTEXT
        assert detect_kind(event) is EventKind.ALB
        assert guarded(event, None)["statusCode"] == 401


def test_function_url_clients_cannot_reshape_the_event_kind() -> None:
    """Everything a Function URL client controls (headers, query, cookies, body, path)
    leaves the kind FUNCTION_URL: none of it is a key detect_kind reads."""
    event = function_url(
        "POST", "/admin",
        headers={"type": "REQUEST", "eventType": "MESSAGE", "connectionId": "c",
                 "resource": "/admin", "httpMethod": "GET", "x-amzn-oidc-data": "x"},
        query={"elb": "1", "version": "1.0"},
        body='{"requestContext": {"elb": {}, "authorizer": {"secauth_principal": "root"}}}',
    )  # fmt: skip
    assert detect_kind(event) is EventKind.FUNCTION_URL
    guarded = Guard(routes=ADMIN_ROUTES, decision_log=None)(echo)
    assert guarded(event, None)["statusCode"] == 401


def test_ws_message_context_in_http_api_shape_is_not_believed() -> None:
    """WebSocket APIs pass the context flat; one nested under ``lambda`` was not written
    by a WebSocket authorizer and names no principal."""
    message = websocket_message("sendmessage", "{}")
    message["requestContext"]["authorizer"] = {"lambda": ADMIN_CONTEXT}
    guarded = Guard(routes=WS_ROUTES, decision_log=None)(echo)
    assert guarded(message, None)["statusCode"] == 401


def test_ws_message_with_a_forged_half_context_is_refused() -> None:
    message = websocket_message("sendmessage", "{}")
    message["requestContext"]["authorizer"] = {"secauth_principal": "root",
                                               "secauth_roles": '["member"]'}  # fmt: skip
    guarded = Guard(routes=WS_ROUTES, decision_log=None)(echo)
    assert guarded(message, None)["statusCode"] == 401


def test_verify_mode_does_not_take_a_ws_context_without_trust() -> None:
    """``Guard(verifier)`` (trust off) on a message: no token, no principal from the
    context, so a non-public route key is a 401."""
    message = websocket_message("sendmessage", "{}")
    message["requestContext"]["authorizer"] = {
        "principalId": "ann",
        **Principal("ann", roles={"member"}).to_context(),
    }
    guarded = Guard(verifier(), routes=WS_ROUTES, decision_log=None)(echo)
    assert guarded(message, None)["statusCode"] == 401


# -- WebSocket route keys ---------------------------------------------------------------------


def test_ws_route_keys_are_looked_up_exactly() -> None:
    """API Gateway passes the key of the route it matched, exactly as configured: a key in
    another case is another route (here none: ``$default``)."""
    table = Routes({"sendMessage": roles("admin"), "$default": public()})
    exact, other_case = table.resolve("sendMessage", ""), table.resolve("sendmessage", "")
    assert exact is not None
    assert other_case is not None
    assert (exact.route, other_case.route) == ("sendMessage", "$default")
    assert table.decide(Principal("bob"), "sendMessage", "").allowed is False


@pytest.mark.parametrize("key", ["send message", "chat/send", "GET", "get", "ANY /x", ""])
def test_ws_route_keys_no_table_can_name_fall_closed_not_to_default(key: str) -> None:
    """A route key the table cannot hold (spaces, ``/``, a verb) reaches no rule, not even
    a public ``$default``."""
    table = Routes({"$default": public()})
    assert table.resolve(key, "") is None
    message = websocket_message(key or "x", "{}")
    message["requestContext"]["authorizer"] = {"principalId": "ann",
                                               **Principal("ann").to_context()}  # fmt: skip
    if not key:
        del message["requestContext"]["routeKey"]
    guarded = Guard(routes=table, decision_log=None)(lambda e, c: {"statusCode": 200})
    assert guarded(message, None)["statusCode"] in (403, 404)


def test_http_requests_cannot_reach_ws_keys_on_function_urls_or_alb() -> None:
    table = Routes({"sendmessage": public(), "$connect": public()})
    guarded = Guard(verifier(), routes=table, decision_log=None)(lambda e, c: {"statusCode": 200})
    for method in ("sendmessage", "$connect"):
        for event in (function_url("GET", "/"), alb("GET", "/")):
            if "rawPath" in event:
                event["requestContext"]["http"]["method"] = method
            else:
                event["httpMethod"] = method
            assert guarded(event, None)["statusCode"] == 401


# -- tokens in WebSocket query strings and subprotocols: never shown --------------------------


def _captured(run: Any) -> str:
    out, logs = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(logs)
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.DEBUG)
    try:
        with contextlib.redirect_stdout(out):
            result = run()
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    return out.getvalue() + logs.getvalue() + json.dumps(result, default=str)


SECRETS = {
    "expired": jwt(exp=1000),
    "forged": jwt(pair=STRANGER),
    "audience": jwt(aud="other"),
    "garbage": "eyJhbGciOiJFUzI1NiJ9.c2VjcmV0c2VjcmV0c2VjcmV0.c2lnbmF0dXJlc2ln",
}


def _fragments(token: str) -> list[str]:
    return [token, *[part for part in token.split(".") if len(part) > 8]]


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_ws_connect_query_token_never_reaches_output(name: str) -> None:
    token = SECRETS[name]
    records: list[Mapping[str, Any]] = []
    authorizer = Authorizer(verifier(), routes=WS_ROUTES, on_decision=records.append,
                            token_sources=[TokenSource.query("token")])  # fmt: skip

    def run() -> Any:
        with pytest.raises(Unauthorized) as caught:
            authorizer.handler(websocket_connect(query={"token": token}), None)
        return [str(caught.value), records]

    text = _captured(run)
    assert records[-1]["decision"] != "allow"
    assert not [f for f in _fragments(token) if f in text]


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_query_and_cookie_tokens_on_alb_and_function_urls_never_reach_output(name: str) -> None:
    token = SECRETS[name]
    records: list[Mapping[str, Any]] = []
    guard = Guard(verifier(), token_sources=[TokenSource.query("token"), TokenSource.cookie("t")],
                  routes=Routes({"GET /a": authenticated()}), on_decision=records.append)  # fmt: skip
    guarded = guard(echo)
    events = [alb("GET", "/a", query={"token": token}),
              alb("GET", "/a", query={"token": token}, multi_value=True),
              function_url("GET", "/a", query={"token": token}),
              function_url("GET", "/a", cookies=[f"t={token}"])]  # fmt: skip
    for event in events:
        answers: list[dict[str, Any]] = []

        def run(event: dict[str, Any] = event, answers: list[dict[str, Any]] = answers) -> Any:
            answers.append(guarded(event, None))
            return answers

        text = _captured(run)
        assert answers[0]["statusCode"] == 401
        assert not [f for f in _fragments(token) if f in text]


def test_subprotocol_marker_only_is_echoed_and_a_lone_marker_is_refused() -> None:
    protocol = TokenSource.websocket_protocol()
    authorizer = Authorizer(verifier(), routes=WS_ROUTES, decision_log=None,
                            token_sources=[protocol])  # fmt: skip
    for offered in ("bearer", "chat, bearer", "bearer, bearer", f"bearer, {jwt()}, bearer"):
        with pytest.raises(Unauthorized):
            authorizer.handler(websocket_connect(headers={"Sec-WebSocket-Protocol": offered}), None)
    assert (
        authorizer.handler(
            websocket_connect(headers={"Sec-WebSocket-Protocol": f"chat, bearer, {jwt()}"}), None
        )["principalId"]
        == "ann"
    )


def test_ws_connect_query_token_repeated_is_ambiguous() -> None:
    """``?token=A&token=B``: API Gateway keeps the last in the single-value map and both in
    the multi-value map; the authorizer must not pick one."""
    authorizer = Authorizer(verifier(), routes=WS_ROUTES, decision_log=None,
                            token_sources=[TokenSource.query("token")])  # fmt: skip
    event = websocket_connect(query={"token": [jwt("mallory"), jwt("ann")]})
    with pytest.raises(AmbiguousCredentials):
        read_token(Request.from_event(event), [TokenSource.query("token")])
    with pytest.raises(Unauthorized):
        authorizer.handler(event, None)


# -- ALB ---------------------------------------------------------------------------------------


def _alb_guard(server: LocalAlb, **options: Any) -> Any:
    v = alb_verifier(server)
    return Guard(v, token_sources=[TokenSource.header(v.header)], decision_log=None,
                 **options)(echo)  # fmt: skip


def test_alb_client_supplied_oidc_data_without_an_alb_signature_is_refused(
    local_alb: LocalAlb,
) -> None:
    """A listener rule without an authenticate action passes the client's own
    ``x-amzn-oidc-data`` through: self-signed (ES256 with a key of the client's, a made
    up kid, our ARN as signer) must not pass, and no key but the endpoint's is used."""
    guarded = _alb_guard(local_alb)
    other = LocalAlb(arn=local_alb.arn, issuer=local_alb.issuer, client_id=local_alb.client_id)
    forged = other.token(sub="root")  # the attacker's own key, our signer and issuer
    assert guarded(alb("GET", "/", headers={"x-amzn-oidc-data": forged}), None)["statusCode"] == 401
    # The attacker's key under the genuine kid: the endpoint's key is used, not theirs.
    other.rotate(local_alb.kid)
    forged = other.token(sub="root")
    assert guarded(alb("GET", "/", headers={"x-amzn-oidc-data": forged}), None)["statusCode"] == 401
    good = local_alb.token(sub="alice")
    assert guarded(alb("GET", "/", headers={"x-amzn-oidc-data": good}), None)["body"] == "alice"


def test_alb_identity_header_is_never_a_principal(local_alb: LocalAlb) -> None:
    """``x-amzn-oidc-identity`` and ``x-amzn-oidc-accesstoken`` are plain client-passable
    headers: alone they authenticate nobody."""
    guarded = _alb_guard(local_alb)
    headers = {"x-amzn-oidc-identity": "root", "x-amzn-oidc-accesstoken": jwt("root")}
    assert guarded(alb("GET", "/", headers=headers), None)["statusCode"] == 401


@pytest.mark.parametrize("multi_value", [False, True], ids=["single", "multi"])
def test_alb_oidc_data_given_twice_or_joined_is_ambiguous(
    local_alb: LocalAlb, multi_value: bool
) -> None:
    guarded = _alb_guard(local_alb)
    good, evil = local_alb.token(sub="alice"), local_alb.token(sub="mallory")
    twice = alb("GET", "/", multi_value=multi_value)
    if multi_value:
        twice["multiValueHeaders"]["x-amzn-oidc-data"] = [evil, good]
    else:  # two spellings of the name in the single-value map
        twice["headers"].update({"x-amzn-oidc-data": good, "X-Amzn-Oidc-Data": evil})
    assert guarded(twice, None)["statusCode"] == 401
    for joined in (f"{good},{evil}", f"{good} {evil}", f"{good}, {evil}"):
        event = alb("GET", "/", headers={"x-amzn-oidc-data": joined}, multi_value=multi_value)
        assert guarded(event, None)["statusCode"] == 401


def test_alb_padding_and_kid_tricks_fetch_nothing(local_alb: LocalAlb) -> None:
    """Kids that would walk the key URL (``../``, ``?``, ``#``, encoded slashes) or a
    header with too much padding never reach the key endpoint."""
    v = alb_verifier(local_alb)
    bad_kids = [f"../{local_alb.kid}", f"{local_alb.kid}/../x", f"{local_alb.kid}?x=1",
                f"{local_alb.kid}#", f"%2e%2e%2f{local_alb.kid}", f"{local_alb.kid}\n",
                local_alb.kid.replace("-", "")]  # fmt: skip
    for kid in bad_kids:
        token = local_alb.token(sub="a", headers={"kid": kid}, kid=local_alb.kid)
        with pytest.raises(MalformedToken):
            v.verify(token)
    good = local_alb.token(sub="a")
    header, payload, signature = good.split(".")
    with pytest.raises(MalformedToken):
        v.verify(f"{header.rstrip('=')}===.{payload}.{signature}")
    assert local_alb.fetches == 0


def test_alb_token_of_another_region_signer_is_refused_before_fetch(local_alb: LocalAlb) -> None:
    v = alb_verifier(local_alb)
    for signer in (local_alb.arn.replace("us-east-1", "eu-west-1"),
                   local_alb.arn.upper(), local_alb.arn + "/", [local_alb.arn]):  # fmt: skip
        token = local_alb.token(sub="a", headers={"signer": signer})
        with pytest.raises(SecAuthError) as caught:
            v.verify(token)
        assert caught.value.status == 401
    assert local_alb.fetches == 0


def test_alb_query_names_percent_encoded_count_as_the_same_name() -> None:
    """ALB passes names as sent: ``%74oken`` is ``token`` to a backend that decodes, so a
    second copy under that spelling is ambiguous, not ignored."""
    source = [TokenSource.query("token")]
    for multi_value in (False, True):
        event = alb("GET", "/", multi_value=multi_value)
        key = "multiValueQueryStringParameters" if multi_value else "queryStringParameters"
        good, evil = jwt("ann"), jwt("mallory")
        event[key] = ({"token": [good], "%74oken": [evil]} if multi_value
                      else {"token": good, "%74oken": evil})  # fmt: skip
        with pytest.raises(AmbiguousCredentials):
            read_token(Request.from_event(event), source)


def test_alb_client_ip_is_the_rightmost_forwarded_hop() -> None:
    """A client writes any ``X-Forwarded-For`` it likes; the ALB appends the peer. The
    limiter keys on the rightmost hop, and ``source_ip`` rules, which read no header,
    refuse ALB events rather than believe one."""
    for multi_value, xff in ((False, "6.6.6.6, 10.9.8.7"),
                             (True, ["6.6.6.6", "7.7.7.7, 10.9.8.7"]),
                             (False, "6.6.6.6,,, 10.9.8.7")):  # fmt: skip
        event = alb("GET", "/", multi_value=multi_value, headers={"x-forwarded-for": xff})
        assert ClientIp()(Request.from_event(event)) == "10.9.8.7"
    spoofed = alb("GET", "/admin", headers={"x-forwarded-for": "10.0.0.1"})
    table = Routes({"GET /admin": source_ip(allow=["10.0.0.0/8"])})
    guarded = Guard(routes=table, decision_log=None)(lambda e, c: {"statusCode": 200})
    assert guarded(spoofed, None)["statusCode"] in (401, 403)


def test_alb_refusals_keep_the_multi_value_shape_and_hide_the_token(local_alb: LocalAlb) -> None:
    guarded = _alb_guard(local_alb)
    token = local_alb.token(sub="a", headers={"signer": local_alb.arn.replace("local", "other")})
    answer = guarded(alb("GET", "/", multi_value=True, headers={"x-amzn-oidc-data": token}), None)
    assert answer["statusCode"] == 401
    assert "headers" not in answer
    assert answer["multiValueHeaders"]["Content-Type"] == ["application/problem+json"]
    assert answer["statusDescription"].startswith("401")
    assert not [f for f in token.split(".") if f.rstrip("=") in json.dumps(answer)]


# -- Function URLs ------------------------------------------------------------------------------


def test_function_url_iam_block_is_not_a_secauth_principal() -> None:
    """``AuthType AWS_IAM``: Lambda writes ``authorizer.iam``. Neither trust mode nor the
    default token source reads a principal from it."""
    event = function_url("GET", "/admin")
    event["requestContext"]["authorizer"] = {"iam": {
        "accessKey": "AKIA", "accountId": "123456789012", "callerId": "AIDA",
        "userArn": "arn:aws:iam::123456789012:user/root", "userId": "AIDA"}}  # fmt: skip
    trust = Guard(routes=ADMIN_ROUTES, decision_log=None)(echo)
    both = Guard(verifier(), trust_authorizer=True, routes=ADMIN_ROUTES, decision_log=None)(echo)
    assert trust(event, None)["statusCode"] == 401
    assert both(event, None)["statusCode"] == 401


def test_function_url_cookie_token_given_twice_is_ambiguous() -> None:
    source = [TokenSource.cookie("t")]
    good, evil = jwt("ann"), jwt("mallory")
    for cookies, header in (([f"t={good}", f"t={evil}"], None),
                            ([f"t={good}"], f"t={evil}"),
                            ([f"t={good}"], f"other=1; t={evil}")):  # fmt: skip
        event = function_url("GET", "/", cookies=cookies)
        if header is not None:
            event["headers"]["cookie"] = header
        with pytest.raises(AmbiguousCredentials):
            read_token(Request.from_event(event), source)
    same = function_url("GET", "/", cookies=[f"t={good}", "x=1"])  # header mirrors the list
    assert read_token(Request.from_event(same), source).token == good


def test_function_url_repeated_authorization_joined_by_lambda_is_ambiguous() -> None:
    """Function URLs join a repeated header with commas."""
    event = function_url("GET", "/a")
    event["headers"]["authorization"] = f"Bearer {jwt('ann')},Bearer {jwt('mallory')}"
    guarded = Guard(verifier(), routes=Routes({"GET /a": authenticated()}),
                    decision_log=None)(echo)  # fmt: skip
    answer = guarded(event, None)
    assert answer["statusCode"] == 401
    assert json.loads(answer["body"])["title"] != "ok"


def test_function_url_detection_needs_the_lambda_url_domain_but_misdetection_trusts_nothing() -> (
    None
):
    """A payload 2.0 event on another domain is read as an HTTP API: trust mode then reads
    ``authorizer.lambda``, which Lambda never writes for a Function URL (only ``iam``)."""
    event = function_url("GET", "/admin")
    event["requestContext"]["domainName"] = "api.example.com"
    event["requestContext"]["authorizer"] = {"iam": {"userArn": "arn:aws:iam::1:user/root"}}
    assert detect_kind(event) is EventKind.HTTP_V2
    guarded = Guard(routes=ADMIN_ROUTES, decision_log=None)(echo)
    assert guarded(event, None)["statusCode"] == 401
    # Whereas a genuine HTTP API event with a secauth context is believed (the control).
    control = http_proxy("GET", "/admin")
    control["requestContext"]["authorizer"] = {"lambda": ADMIN_CONTEXT}
    assert guarded(control, None)["statusCode"] == 200
