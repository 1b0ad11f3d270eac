"""WebSocket APIs beyond ``$connect``: custom route keys in ``Routes``, ``Guard`` on the route
integrations (CONNECT, MESSAGE, DISCONNECT) trusting the ``$connect`` authorizer's principal,
the ``Sec-WebSocket-Protocol`` echo, and the SAM example (``examples/sam-websocket/``).

Events follow the formats AWS documents: "Control access to WebSocket APIs with AWS Lambda
REQUEST authorizers" (the ``$connect`` authorizer input), "Set up a $connect route that
requires a WebSocket subprotocol" (the echo in the ``$connect`` integration's response)
and the WebSocket Lambda proxy integration input (``requestContext.eventType`` CONNECT,
MESSAGE or DISCONNECT, ``routeKey``, ``connectionId``, ``authorizer``). Our own values.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from secauth import (
    Authorizer,
    Guard,
    JwtVerifier,
    Principal,
    Routes,
    authenticated,
    cli,
    public,
    roles,
)
from secauth.errors import ConfigurationError, Reason
from secauth.events import EventKind, Request
from secauth.policy import Unauthorized
from secauth.testing import KeyPair
from secauth.token_sources import TokenSource

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sam-websocket"
ISS, AUD = "https://idp.example/", "chat"
PAIR = KeyPair.generate("ES256", kid="ws-1")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
API, STAGE, ACCOUNT = "abcdef123", "prod", "123456789012"
CONNECT_ARN = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{API}/{STAGE}/$connect"
ROUTES = Routes(
    {
        "$connect": authenticated(),
        "sendmessage": roles("member"),
        "$default": authenticated(),
        "$disconnect": public(),
    }
)


def token(sub: str = "ann", **claims: Any) -> str:
    body: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": sub, "exp": 4_000_000_000}
    body.update(claims)
    return PAIR.sign(body)


def _context(route_key: str, event_type: str, authorizer: dict[str, Any] | None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": "ABCD1234=",
        "requestTime": "09/Feb/2024:18:11:43 +0000",
        "messageDirection": "IN",
        "stage": STAGE,
        "connectedAt": 1707502303419,
        "requestTimeEpoch": 1707502303420,
        "identity": {"sourceIp": "192.0.2.1"},
        "requestId": f"{event_type.lower()}-request-1",
        "domainName": f"{API}.execute-api.us-east-1.amazonaws.com",
        "connectionId": "AAAA1234=",
        "apiId": API,
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    return context


def connect_authorizer_event(
    headers: dict[str, str] | None = None, query: dict[str, str] | None = None
) -> dict[str, Any]:
    """The input of a WebSocket REQUEST authorizer on ``$connect``."""
    headers = {
        "Connection": "upgrade",
        "Host": f"{API}.execute-api.us-east-1.amazonaws.com",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        "Upgrade": "websocket",
        **(headers or {}),
    }
    query = query or {}
    return {
        "type": "REQUEST",
        "methodArn": CONNECT_ARN,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()},
        "stageVariables": {},
        "requestContext": _context("$connect", "CONNECT", None),
    }


def integration_event(
    route_key: str,
    event_type: str,
    authorizer: dict[str, Any] | None,
    *,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The input of a route's Lambda proxy integration (CONNECT, MESSAGE or DISCONNECT)."""
    event: dict[str, Any] = {"requestContext": _context(route_key, event_type, authorizer)}
    if event_type == "MESSAGE":
        event.update(body=body or "", isBase64Encoded=False)
    else:
        event.update(headers=headers or {}, multiValueHeaders={
            k: [v] for k, v in (headers or {}).items()
        }, isBase64Encoded=False)  # fmt: skip
    if event_type == "DISCONNECT":
        event["requestContext"].update(disconnectStatusCode=1005, disconnectReason="")
    return event


def authorizer_context(principal: Principal) -> dict[str, Any]:
    """What API Gateway passes in ``requestContext.authorizer`` after a secauth ``$connect``."""
    return {"principalId": principal.id, **principal.to_context(), "integrationLatency": 12}


MEMBER = authorizer_context(Principal("ann", roles={"member"}))
GUEST = authorizer_context(Principal("bob"))


# -- events and routes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route_key", "event_type"),
    [("$connect", "CONNECT"), ("sendmessage", "MESSAGE"), ("$default", "MESSAGE"),
     ("$disconnect", "DISCONNECT")],
)  # fmt: skip
def test_route_integration_events_are_websocket_requests(route_key: str, event_type: str) -> None:
    request = Request.from_event(integration_event(route_key, event_type, MEMBER))
    assert request.kind is EventKind.WEBSOCKET
    assert (request.method, request.path, request.stage) == (route_key, "", STAGE)
    assert request.source_ip == "192.0.2.1"
    assert not request.kind.is_authorizer


def test_custom_route_keys_are_websocket_keys_only() -> None:
    """A custom key (no ``$``, no verb) is reached by a WebSocket target (empty path) only:
    an HTTP request whose method spells the key is never routed to it."""
    table = Routes({"SENDMESSAGE": public(), "GET /a": public()})
    assert table.decide(Principal.anonymous(), "SENDMESSAGE", "").allowed
    for path in ("/", "/a", "/SENDMESSAGE"):
        assert table.resolve("SENDMESSAGE", path) is None
    http = {"version": "2.0", "rawPath": "/", "routeKey": "$default", "requestContext": {
        "http": {"method": "SENDMESSAGE", "path": "/"}, "stage": "$default"}}  # fmt: skip
    guard = Guard(VERIFIER, routes=table, decision_log=None)
    answer = guard(lambda event, context: {"statusCode": 200})(http, None)
    assert answer["statusCode"] == 401  # no token, and no public route reached


def test_unmatched_route_keys_fall_back_to_default() -> None:
    assert ROUTES.resolve("typing", "").route == "$default"
    assert ROUTES.resolve("$connect", "").route == "$connect"
    only = Routes({"sendmessage": public()})
    assert only.resolve("typing", "") is None
    assert only.route_keys() == ["sendmessage"]


@pytest.mark.parametrize("key", ["GET", "any", "send message", "send/message", "/x", ""])
def test_bad_custom_route_keys_are_refused(key: str) -> None:
    with pytest.raises(ConfigurationError):
        Routes({key: public()})


# -- Guard on route integrations ------------------------------------------------------------


def handler(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": principal.id}


def test_guard_trusts_the_connect_authorizer_principal_on_messages() -> None:
    records: list[dict[str, Any]] = []
    guarded = Guard(routes=ROUTES, on_decision=records.append, decision_log=None)(handler)
    event = integration_event("sendmessage", "MESSAGE", MEMBER, body='{"action":"sendmessage"}')
    assert guarded(event, None) == {"statusCode": 200, "body": "ann"}
    assert records[-1]["event"] == "websocket"
    assert (records[-1]["method"], records[-1]["route"]) == ("sendmessage", "sendmessage")


def test_guard_refuses_in_the_websocket_shape() -> None:
    records: list[dict[str, Any]] = []
    guarded = Guard(routes=ROUTES, on_decision=records.append, decision_log=None)(handler)
    denied = guarded(integration_event("sendmessage", "MESSAGE", GUEST), None)
    assert set(denied) == {"statusCode", "body"}
    assert denied["statusCode"] == 403
    assert json.loads(denied["body"])["status"] == 403
    missing = guarded(integration_event("sendmessage", "MESSAGE", None), None)
    assert missing["statusCode"] == 401
    assert records[-1]["reason"] == Reason.MISSING_AUTHORIZER_CONTEXT.value
    # Any other route key falls to $default (authenticated): the guest is allowed there.
    assert guarded(integration_event("typing", "MESSAGE", GUEST), None)["statusCode"] == 200


def test_guard_handles_disconnect_and_unknown_keys() -> None:
    guarded = Guard(routes=ROUTES, decision_log=None)(handler)
    assert guarded(integration_event("$disconnect", "DISCONNECT", MEMBER), None)["body"] == "ann"
    strict = Guard(routes=Routes({"$connect": authenticated()}), decision_log=None)(handler)
    assert strict(integration_event("sendmessage", "MESSAGE", MEMBER), None)["statusCode"] == 404


def test_a_forged_context_is_refused() -> None:
    """A malformed secauth context (roles not a JSON list) is a 401, never a principal."""
    forged = {**MEMBER, "secauth_roles": "member"}
    guarded = Guard(routes=ROUTES, decision_log=None)(handler)
    assert guarded(integration_event("sendmessage", "MESSAGE", forged), None)["statusCode"] == 401


def test_a_plain_value_becomes_a_200_body() -> None:
    guarded = Guard(routes=ROUTES, decision_log=None)(lambda event, context: {"ok": True})
    answer = guarded(integration_event("sendmessage", "MESSAGE", MEMBER), None)
    assert answer == {"statusCode": 200, "body": '{"ok":true}'}


def test_guard_with_a_verifier_checks_the_subprotocol_token_on_connect() -> None:
    """Defense in depth on ``$connect``: the token offered as a subprotocol must name the
    principal of the authorizer's context."""
    protocol = TokenSource.websocket_protocol()
    guard = Guard(VERIFIER, trust_authorizer=True, routes=ROUTES, token_sources=[protocol],
                  decision_log=None)  # fmt: skip

    @guard
    def connect(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "headers": protocol.protocol_echo(event)}

    offered = {"Sec-WebSocket-Protocol": f"bearer, {token('ann')}"}
    answer = connect(integration_event("$connect", "CONNECT", MEMBER, headers=offered), None)
    assert answer == {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "bearer"}}
    other = {"Sec-WebSocket-Protocol": f"bearer, {token('mallory')}"}
    refused = connect(integration_event("$connect", "CONNECT", MEMBER, headers=other), None)
    assert refused["statusCode"] == 401


# -- the Sec-WebSocket-Protocol echo ------------------------------------------------------


def test_the_echo_names_the_marker_never_the_token() -> None:
    protocol = TokenSource.websocket_protocol()
    tok = token()
    offered = integration_event("$connect", "CONNECT", MEMBER,
                                headers={"Sec-WebSocket-Protocol": f"bearer, {tok}"})  # fmt: skip
    assert protocol.protocol_echo(offered) == {"Sec-WebSocket-Protocol": "bearer"}
    assert tok not in json.dumps(protocol.protocol_echo(offered))
    plain = integration_event("$connect", "CONNECT", MEMBER, headers={})
    assert protocol.protocol_echo(plain) == {}  # nothing offered: nothing to select
    with pytest.raises(ConfigurationError):
        TokenSource.query("token").protocol_echo(plain)


# -- the authorizer on $connect -----------------------------------------------------------


def test_connect_with_a_query_token_is_allowed_when_configured() -> None:
    """The issue's case: ``?token=...`` on ``$connect`` answered 401 ``missing_token`` with
    the default sources; with ``TokenSource.query("token")`` it is allowed."""
    event = connect_authorizer_event(query={"token": token()})
    records: list[dict[str, Any]] = []
    default = Authorizer(VERIFIER, routes=ROUTES, on_decision=records.append, decision_log=None)
    with pytest.raises(Unauthorized):
        default.handler(event, None)
    assert records[-1]["reason"] == "missing_token"
    configured = Authorizer(VERIFIER, routes=ROUTES, decision_log=None,
                            token_sources=[TokenSource.query("token")])  # fmt: skip
    response = configured.handler(event, None)
    assert response["principalId"] == "ann"
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert response["policyDocument"]["Statement"][0]["Resource"] == [CONNECT_ARN]


def test_connect_with_a_subprotocol_token() -> None:
    authorizer = Authorizer(VERIFIER, routes=ROUTES, decision_log=None,
                            token_sources=[TokenSource.websocket_protocol()])  # fmt: skip
    event = connect_authorizer_event({"Sec-WebSocket-Protocol": f"bearer, {token()}"})
    assert authorizer.handler(event, None)["principalId"] == "ann"
    # The marker without a token after it, or offered twice: refused.
    for value in ("bearer", f"bearer, {token()}, bearer, {token()}", "bearer, bearer"):
        with pytest.raises(Unauthorized):
            authorizer.handler(connect_authorizer_event({"Sec-WebSocket-Protocol": value}), None)


# -- the SAM example ------------------------------------------------------------------------


@pytest.fixture
def chat(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """``examples/sam-websocket/app/chat.py``, imported as Lambda would, with static keys."""
    monkeypatch.setenv("SECAUTH_ISSUER", ISS)
    monkeypatch.setenv("SECAUTH_AUDIENCE", AUD)
    monkeypatch.setenv("SECAUTH_JWKS", json.dumps({"keys": [PAIR.public_jwk]}))
    monkeypatch.setenv("SECAUTH_JWKS_URI", "https://idp.example/jwks.json")  # unused
    spec = importlib.util.spec_from_file_location("sam_websocket_chat", EXAMPLE / "app/chat.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_the_example_connects_a_browser_and_guards_its_messages(
    chat: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    tok = token("ann", roles=["member"])
    connect = connect_authorizer_event({"Sec-WebSocket-Protocol": f"bearer, {tok}"})
    allowed = chat.authorize(connect, None)
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    # What API Gateway then passes to every integration of the connection.
    context = {"principalId": allowed["principalId"], **allowed["context"]}
    offered = {"Sec-WebSocket-Protocol": f"bearer, {tok}"}
    accepted = chat.connect(
        integration_event("$connect", "CONNECT", context, headers=offered), None
    )
    assert accepted == {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "bearer"}}
    sent = integration_event("sendmessage", "MESSAGE", context,
                             body='{"action": "sendmessage", "data": "hi"}')  # fmt: skip
    reply = chat.message(sent, None)
    assert json.loads(reply["body"]) == {"from": "ann", "route": "sendmessage", "data": "hi"}
    assert chat.disconnect(integration_event("$disconnect", "DISCONNECT", context), None) == {
        "statusCode": 200
    }
    # A query token works too; both places at once is ambiguous (401).
    assert chat.authorize(connect_authorizer_event(query={"token": tok}), None)["principalId"]
    with pytest.raises(Unauthorized):
        chat.authorize(connect_authorizer_event(offered, {"token": tok}), None)
    # A guest (no member role) connects but may not send messages.
    guest = chat.authorize(connect_authorizer_event(query={"token": token("bob")}), None)
    guest_context = {"principalId": guest["principalId"], **guest["context"]}
    refused = chat.message(integration_event("sendmessage", "MESSAGE", guest_context), None)
    assert refused["statusCode"] == 403
    assert tok not in capsys.readouterr().out


def test_the_example_template_passes_cfn_lint_and_names_the_handlers(chat: ModuleType) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    if not cfn_lint.exists():
        pytest.skip("cfn-lint is not installed in this environment")
    result = subprocess.run(
        [str(cfn_lint), str(EXAMPLE / "template.yaml")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = (EXAMPLE / "template.yaml").read_text("utf-8")
    for name in ("authorize", "connect", "message", "disconnect"):
        assert f"Handler: chat.{name}\n" in text
        assert callable(getattr(chat, name))
    for key in ("$connect", "sendmessage", "$default", "$disconnect"):
        assert f"RouteKey: {key}\n" in text
        assert ROUTES.resolve(key, "") is not None


def test_cli_output_never_shows_a_query_or_cookie_token(
    chat: ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``secauth authorize`` on the example: allowed, refused (ambiguous) and forged
    query tokens never appear in what it prints."""
    tok = token("ann", roles=["member"])
    forged = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
    cases = [
        connect_authorizer_event(query={"token": tok}),
        connect_authorizer_event({"Sec-WebSocket-Protocol": f"bearer, {tok}"}, {"token": tok}),
        connect_authorizer_event(query={"token": forged}),
    ]
    outputs = []
    for index, event in enumerate(cases):
        path = tmp_path / f"event{index}.json"
        path.write_text(json.dumps(event), "utf-8")
        code = cli.main(["authorize", "--app", "sam_websocket_chat:authorizer", "--event",
                         str(path)])  # fmt: skip
        captured = capsys.readouterr()
        outputs.append((code, captured.out + captured.err))
    assert [code for code, _ in outputs] == [0, 1, 1]
    assert "ambiguous_credentials" in outputs[1][1]
    for _, text in outputs:
        for secret in (tok, forged, tok.split(".")[2], forged.split(".")[2]):
            assert secret not in text


def test_example_module_is_plain(chat: ModuleType) -> None:
    """The example reads its configuration at import, like a Lambda module (no network)."""
    assert isinstance(chat.authorizer, Authorizer)
    assert chat.authorizer.token_sources == (
        TokenSource.websocket_protocol(),
        TokenSource.query("token"),
    )
