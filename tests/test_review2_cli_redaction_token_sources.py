"""Review finding: ``secauth authorize`` prints tokens that did not come in ``Authorization``.

``secauth._invoke`` promises that nothing printed carries the event's credentials ("the
token ... replaced by [redacted] wherever they appear, including ... error messages").
Its list of secrets (``_secrets``) was written before token sources: it holds
``authorizationToken``, ``identitySource``, a few fixed headers and the payload 2.0
``cookies`` items, whole. A WebSocket ``$connect`` authorizer configured with
``TokenSource.query("token")`` (or a named header, ``Sec-WebSocket-Protocol``, or a cookie
whose value is the bare token) gets its token printed in clear:

* in a handler's error message, exactly as the existing redaction test does it with
  ``authorizationToken`` (test_cli_authorize.py::test_handler_errors_exit_4_with_a_redacted_message);
* in any other line the handler prints (``print(event)``, the usual Lambda debug line):
  ``_printed_records`` passes such lines to stdout without redaction, even for the
  ``Authorization`` header.

Terminal and CI logs then hold a live bearer token.
"""

from __future__ import annotations

import itertools
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from secauth import cli
from secauth.testing import KeyPair

PAIR = KeyPair.generate("ES256", kid="k1")
ISSUER, AUDIENCE = "https://idp.example/", "chat"
CONNECT_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/$connect"
_names = itertools.count()


def bearer() -> str:
    return PAIR.sign({"iss": ISSUER, "aud": AUDIENCE, "sub": "ann", "exp": 4_000_000_000})


def connect_event(
    query: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": CONNECT_ARN,
        "headers": headers or {},
        "queryStringParameters": query or {},
        "requestContext": {
            "eventType": "CONNECT",
            "connectionId": "c-1",
            "routeKey": "$connect",
            "requestId": "r-1",
        },
    }


SOURCE = textwrap.dedent(
    f"""
    import json
    from secauth import Authorizer, JwtVerifier, Routes, authenticated
    from secauth.token_sources import TokenSource

    verifier = JwtVerifier(issuer={ISSUER!r}, audience={AUDIENCE!r},
                           jwks={{"keys": [{PAIR.public_jwk!r}]}})
    authorizer = Authorizer(
        verifier,
        routes=Routes({{"$connect": authenticated()}}),
        token_sources=[TokenSource.query("token"), TokenSource.websocket_protocol()],
    )

    def raising(event, context):
        raise ValueError("could not use " + event["queryStringParameters"]["token"])

    def printing(event, context):
        print("event:", json.dumps(event))
        return authorizer.handler(event, context)
    """
)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"review2_ws_authorizer_{next(_names)}"
    (tmp_path / f"{name}.py").write_text(SOURCE, "utf-8")
    yield name
    sys.modules.pop(name, None)


def run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, spec: str, event: dict[str, Any]
) -> tuple[int, str, str]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event), "utf-8")
    code = cli.main(["authorize", "--app", spec, "--event", str(path)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_query_token_redacted_in_handler_error(
    app: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    token = bearer()
    code, out, err = run(capsys, tmp_path, f"{app}:raising", connect_event({"token": token}))
    assert code == cli.EXIT_HANDLER_ERROR
    assert token not in out + err


def test_query_token_redacted_when_the_authorizer_allows(
    app: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Control: the Authorizer itself never prints it (the allow path holds)."""
    token = bearer()
    code, out, err = run(capsys, tmp_path, f"{app}:authorizer", connect_event({"token": token}))
    assert code == cli.EXIT_OK
    assert token not in out + err


def test_websocket_protocol_token_redacted_in_printed_lines(
    app: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    token = bearer()
    event = connect_event(headers={"Sec-WebSocket-Protocol": f"bearer, {token}"})
    code, out, err = run(capsys, tmp_path, f"{app}:printing", event)
    assert code == cli.EXIT_OK
    assert token not in out + err


def test_authorization_header_redacted_in_printed_lines(
    app: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Even the classic header: a handler's own printed line goes out unredacted."""
    token = bearer()
    event = connect_event(headers={"Authorization": f"Bearer {token}"})
    _code, out, err = run(capsys, tmp_path, f"{app}:printing", event)
    assert token not in out + err
