"""``secauth authorize --app module:attribute --event event.json``: a local invoke of the user's
authorizer, with the response, the decision's reason and an exit code, never the token.

Each test writes a tiny module into ``tmp_path``, puts ``tmp_path`` on ``sys.path`` and runs
``cli.main`` in this process; the decision comes from the ``secauth.decisions`` records.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from secauth import cli
from secauth._invoke import policy_allows
from secauth.credentials import hash_api_key
from secauth.testing import KeyPair, LocalIssuer

ISSUER, AUDIENCE = "https://idp.example/", "orders-api"
ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/{verb}/{path}"
ROUTE_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/$default/{verb}/{path}"
API_KEY = "partner-key-0123456789abcdef"
PAIR = KeyPair.generate("ES256", kid="k1")
_names = itertools.count()


def token(pair: KeyPair = PAIR, **claims: Any) -> str:
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ann", "exp": 4_000_000_000, **claims}
    return pair.sign(body)


def token_event(bearer: str, verb: str = "GET", path: str = "orders") -> dict[str, Any]:
    return {
        "type": "TOKEN",
        "authorizationToken": f"Bearer {bearer}",
        "methodArn": ARN.format(verb=verb, path=path),
    }


def http_v2_event(bearer: str | None, verb: str = "GET", path: str = "orders") -> dict[str, Any]:
    headers = {} if bearer is None else {"authorization": f"Bearer {bearer}"}
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": ROUTE_ARN.format(verb=verb, path=path),
        "identitySource": [headers["authorization"]] if headers else [],
        "routeKey": f"{verb} /{path}",
        "rawPath": f"/{path}",
        "headers": headers,
        "requestContext": {
            "http": {"method": verb, "path": f"/{path}", "sourceIp": "203.0.113.7"},
            "requestId": "r-1",
        },
    }


def module_source(jwks_line: str) -> str:
    return textwrap.dedent(
        f"""
        from secauth import (ApiKeyEntry, Authorizer, JwtVerifier, Routes, StaticApiKeys,
                             authenticated, roles)

        {jwks_line}
        ROUTES = Routes({{"GET /orders": authenticated(), "DELETE /users/{{id}}": roles("admin")}})
        verifier = JwtVerifier(issuer={ISSUER!r}, audience={AUDIENCE!r}, **KEYS)
        authorizer = Authorizer(verifier, routes=ROUTES)
        simple = Authorizer(verifier, routes=ROUTES, simple_responses=True)
        partner = Authorizer(
            verifier,
            routes=ROUTES,
            api="rest",
            api_keys=StaticApiKeys(
                {{{hash_api_key(API_KEY)!r}: ApiKeyEntry("partner-a", usage_plan=True)}}
            ),
        )
        http_handler = simple.handler

        def raising(event, context):
            raise ValueError("could not use " + event["authorizationToken"])

        def plain(event, context):
            allowed = event["authorizationToken"].endswith("letmein-please")
            return {{"principalId": "p", "policyDocument": {{"Version": "2012-10-17",
                "Statement": [{{"Effect": "Allow" if allowed else "Deny",
                                "Action": "execute-api:Invoke",
                                "Resource": [event["methodArn"]]}}]}}}}

        def broken(event, context):
            return {{"principalId": "p"}}

        NOT_CALLABLE = 42
        """
    )


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """Write the user's module into tmp_path (importable from there); return a maker of
    ``module:attribute`` specs. Modules get fresh names so no import is reused."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def make(attribute: str = "authorizer", jwks_line: str | None = None) -> str:
        name = f"user_authorizer_{next(_names)}"
        line = jwks_line or f"KEYS = {{'jwks': {{'keys': [{PAIR.public_jwk!r}]}}}}"
        (tmp_path / f"{name}.py").write_text(module_source(line), "utf-8")
        written.append(name)
        return f"{name}:{attribute}"

    yield make
    for name in written:
        sys.modules.pop(name, None)


def run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, spec: str, event: dict[str, Any]
) -> tuple[int, str, str]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event), "utf-8")
    code = cli.main(["authorize", "--app", spec, "--event", str(path)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_allow_prints_the_policy_and_exits_0(
    app: Callable[..., str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An Authorizer instance answering Allow: the response JSON on stdout, the decision on
    stderr, exit 0, and the token nowhere."""
    bearer = token()
    code, out, err = run(capsys, tmp_path, app(), token_event(bearer))
    response = json.loads(out)
    assert code == cli.EXIT_OK
    assert response["principalId"] == "ann"
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert response["context"]["secauth_principal"] == "ann"
    assert 'secauth: allow (200) principal="ann" route="GET /orders"' in err
    assert bearer not in out + err


def test_deny_prints_the_reason_and_exits_1(
    app: Callable[..., str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Valid credentials without the role: an explicit Deny (403), reason forbidden, exit 1."""
    bearer = token(roles=["reader"])
    code, out, err = run(capsys, tmp_path, app(), token_event(bearer, "DELETE", "users/7"))
    assert code == cli.EXIT_REJECTED
    assert json.loads(out)["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "secauth: deny (403) reason=forbidden" in err
    assert 'route="DELETE /users/{id}"' in err
    assert bearer not in out + err


def test_forged_token_prints_unauthorized_and_the_reason(
    app: Callable[..., str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A token signed by another key: the raised Unauthorized as the Lambda runtime reports it,
    the reason invalid_signature, exit 1; neither the token nor its signature is printed."""
    forged = token(KeyPair.generate("ES256", kid="k1"))
    code, out, err = run(capsys, tmp_path, app(), token_event(forged))
    assert code == cli.EXIT_REJECTED
    assert json.loads(out) == {"errorMessage": "Unauthorized", "errorType": "Unauthorized"}
    assert "secauth: Unauthorized (401) reason=invalid_signature" in err
    assert forged not in out + err
    assert forged.split(".")[2] not in out + err


def test_http_api_simple_response_without_a_token(
    app: Callable[..., str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An HTTP API cannot answer 401 from a Lambda authorizer: isAuthorized false, the reason
    missing_token, and the summary says the client sees 403."""
    code, out, err = run(capsys, tmp_path, app("simple"), http_v2_event(None))
    assert code == cli.EXIT_REJECTED
    assert json.loads(out) == {"isAuthorized": False}
    assert "unauthorized (403: an HTTP API authorizer cannot answer 401)" in err
    assert "reason=missing_token" in err


def test_bound_handler_of_an_authorizer(
    app: Callable[..., str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``module:http_handler`` (``authorizer.handler`` assigned in the module) runs like the
    Authorizer itself; an expired token gives reason token_expired."""
    expired = token(exp=1_000_000)
    code, out, err = run(capsys, tmp_path, app("http_handler"), http_v2_event(expired))
    assert code == cli.EXIT_REJECTED
    assert json.loads(out) == {"isAuthorized": False}
    assert "reason=token_expired" in err
    assert expired not in out + err
    code, out, err = run(capsys, tmp_path, app("http_handler"), http_v2_event(token()))
    assert code == cli.EXIT_OK
    assert json.loads(out)["isAuthorized"] is True
    assert "secauth: allow (200)" in err


def test_usage_identifier_key_is_redacted(
    app: Callable[..., str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A partner API key with a usage plan is returned as usageIdentifierKey; the command prints
    that field as [redacted], never the key."""
    event = {
        "type": "REQUEST",
        "methodArn": ARN.format(verb="GET", path="orders"),
        "resource": "/orders",
        "path": "/orders",
        "httpMethod": "GET",
        "headers": {"X-Api-Key": API_KEY},
        "requestContext": {"requestId": "r-2", "identity": {"sourceIp": "203.0.113.7"}},
    }
    code, out, err = run(capsys, tmp_path, app("partner"), event)
    response = json.loads(out)
    assert code == cli.EXIT_OK
    assert response["usageIdentifierKey"] == "[redacted]"
    assert response["principalId"] == "partner-a"
    assert API_KEY not in out + err


def test_keys_unavailable_exits_3(
    app: Callable[..., str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The JWKS endpoint answers 500: a 401 for the client, reason keys_unavailable, and exit
    3 (retry later) as for ``secauth verify``."""
    with LocalIssuer(algs=("ES256",)) as issuer:
        issuer.mode = "error"
        keys = f"KEYS = {{'jwks_uri': {issuer.jwks_uri!r}, 'allow_http': True}}"
        bearer = token(issuer.key)
        code, out, err = run(capsys, tmp_path, app(jwks_line=keys), token_event(bearer))
    assert code == cli.EXIT_UNAVAILABLE
    assert json.loads(out)["errorMessage"] == "Unauthorized"
    assert "reason=keys_unavailable" in err
    assert bearer not in out + err
    # why: the JWKS endpoint's status, in the detail line; never the body it sent
    assert '"cause": {"document": "jwks", "kind": "http_status", "status": 500}' in err
    assert "internal error" not in out + err


def test_plain_handler_function_is_judged_by_its_policy(
    app: Callable[..., str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A handler that is not a secauth Authorizer: allow or deny is read from its policy for
    the event's method ARN, and the summary says there was no decision record."""
    allowed = token_event("letmein-please")
    code, out, err = run(capsys, tmp_path, app("plain"), allowed)
    assert code == cli.EXIT_OK
    assert "secauth: allow (200) (no secauth decision record)" in err
    assert "letmein-please" not in out + err
    code, _, err = run(capsys, tmp_path, app("plain"), token_event("something-else"))
    assert code == cli.EXIT_REJECTED
    assert "secauth: deny (403)" in err


def test_handler_errors_exit_4_with_a_redacted_message(
    app: Callable[..., str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A handler that raises something other than Unauthorized (API Gateway: 500) exits 4 with
    the error type, message and traceback; the token inside the message is redacted."""
    bearer = token()
    code, out, err = run(capsys, tmp_path, app("raising"), token_event(bearer))
    assert code == cli.EXIT_HANDLER_ERROR
    assert json.loads(out) == {
        "errorMessage": "could not use [redacted]",
        "errorType": "ValueError",
    }
    assert "error (500: API Gateway answers 500 for this)" in err
    assert "Traceback (most recent call last)" in err
    assert bearer not in out + err


def test_malformed_response_is_an_error(
    app: Callable[..., str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A response with neither a policy nor isAuthorized is a 500 at API Gateway: exit 4."""
    code, out, err = run(capsys, tmp_path, app("broken"), token_event("abcdefghijkl"))
    assert code == cli.EXIT_HANDLER_ERROR
    assert json.loads(out) == {"principalId": "p"}
    assert "error (500" in err


def test_module_is_imported_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without PYTHONPATH, ``module:attribute`` is found in the current directory (the console
    script's sys.path does not have it), and the event can come from stdin."""
    name = f"cwd_authorizer_{next(_names)}"
    (tmp_path / f"{name}.py").write_text(
        "def handler(event, context):\n    return {'isAuthorized': True}\n", "utf-8"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(http_v2_event("x" * 20))))
    try:
        code = cli.main(["authorize", "--app", f"{name}:handler", "--event", "-"])
    finally:
        sys.modules.pop(name, None)
    captured = capsys.readouterr()
    assert code == cli.EXIT_OK
    assert json.loads(captured.out) == {"isAuthorized": True}


@pytest.mark.parametrize(
    ("spec", "event_text", "message"),
    [
        ("no_colon", "{}", "--app must look like 'module:attribute'"),
        ("secauth_no_such_module_x:handler", "{}", "cannot import 'secauth_no_such_module_x'"),
        ("{module}:missing", "{}", "has no attribute 'missing'"),
        ("{module}:NOT_CALLABLE", "{}", "is a int: name a secauth Authorizer"),
        ("{module}:authorizer", "[1, 2]", "is not a JSON object"),
        ("{module}:authorizer", "{nope", "cannot read the event"),
    ],
)
def test_usage_errors_exit_2(
    app: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    spec: str,
    event_text: str,
    message: str,
) -> None:
    """Bad ``--app`` or ``--event`` arguments: a message saying what is wrong, exit 2."""
    module = app().partition(":")[0]
    path = tmp_path / "event.json"
    path.write_text(event_text, "utf-8")
    code = cli.main(["authorize", "--app", spec.format(module=module), "--event", str(path)])
    captured = capsys.readouterr()
    assert code == cli.EXIT_USAGE
    assert message in captured.err
    assert captured.out == ""


def test_decision_logger_level_is_restored(
    app: Callable[..., str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The command turns the decision logger on for the call only, and removes its handler."""
    logger = logging.getLogger("secauth.decisions")
    before_level, before_handlers = logger.level, list(logger.handlers)
    run(capsys, tmp_path, app(), token_event(token()))
    assert logger.level == before_level
    assert logger.handlers == before_handlers


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        ([("Allow", "arn:aws:execute-api:r:1:a/prod/GET/*")], True),
        ([("Allow", "arn:aws:execute-api:r:1:a/prod/get/*")], False),  # case-sensitive
        ([("Allow", "arn:aws:execute-api:r:1:a/prod/???/orders")], True),
        ([("Allow", "arn:aws:execute-api:r:1:a/prod/??/orders")], False),
        ([("Allow", "*"), ("Deny", "arn:aws:execute-api:r:1:a/*/GET/orders")], False),
        ([("Allow", "arn:aws:execute-api:r:1:a/prod/POST/orders")], False),
        ([], False),
    ],
)
def test_policy_evaluation(statements: list[tuple[str, str]], expected: bool) -> None:
    """IAM Resource matching as API Gateway evaluates a policy: ``*`` and ``?`` wildcards,
    case-sensitive, explicit Deny wins, nothing allowed by default."""
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": effect, "Action": "execute-api:Invoke", "Resource": [resource]}
            for effect, resource in statements
        ],
    }
    assert policy_allows(document, "arn:aws:execute-api:r:1:a/prod/GET/orders") is expected


def test_policy_conditions_never_count_as_allow() -> None:
    """An Allow with a Condition is not evaluated, so it never reads as allowed; another action
    does not count either."""
    arn = "arn:aws:execute-api:r:1:a/prod/GET/orders"
    conditional = {
        "Effect": "Allow",
        "Action": "execute-api:Invoke",
        "Resource": arn,
        "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
    }
    other_action = {"Effect": "Allow", "Action": "execute-api:ManageConnections", "Resource": arn}
    assert policy_allows({"Statement": [conditional]}, arn) is False
    assert policy_allows({"Statement": other_action}, arn) is False
    assert policy_allows({"Statement": [{**conditional, "Condition": {}}]}, arn) is True
