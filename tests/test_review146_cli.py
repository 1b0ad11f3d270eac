"""Review 146 (adversarial): the ``secauth`` command line, attacked through ``python -m secauth``.

What was attacked, every time as a subprocess of the real entry point, with a real ``LocalIssuer``
(JWKS / discovery) and a real Redis on loopback:

- secrets in output: ``verify`` on rejected and valid tokens (the token, its signature), a JWKS
  file holding a symmetric secret, credentials in ``--jwks-uri``, a Redis password in ``revoke``'s
  and ``usage``'s store URL, the event's API key in ``authorize`` (printed by the handler, in the
  response's context);
- terminal control characters (ESC, CR) in claims (``inspect``, ``verify``, ``authorize``'s
  principal) and in what ``authorize`` prints about a handler's error;
- exit codes: ``authorize`` on a policy with an IAM action wildcard in a Deny, ``revoked`` on an
  unreadable claims file, revocation writes to an unreachable store or under an issuer with an
  invisible character, ``usage`` on an unreachable store;
- files: ``/dev/zero`` as ``--event``, ``--jwks-file`` and ``CLAIMS`` (under an address-space
  limit), a FIFO as ``--event``;
- network: a discovery document answered with a redirect to another origin on loopback;
- consistency: ``secauth authorize``'s response and verdict against ``Authorizer(...).handler``'s
  for the same configuration and event.

Resolved: ``authorize`` reads IAM actions as IAM does (case-insensitive, wildcards, ``NotAction``
and ``NotResource``), reports a policy whose ``context`` holds an object or array as the 500 it
is, and escapes terminal controls in its error line, reason and traceback; ``revoked`` on a
missing or non-JSON claims file exits 2; ``--event`` (6 MB), ``CLAIMS`` (64 KiB) and
``--jwks-file`` (``StaticKeys.from_file``, 1 Mi characters) are read up to a limit; a command that
fails unexpectedly exits 2, never 1.

Findings (strict xfails):

1. low: ``secauth authorize`` says "allow" and exits 0 for a policy whose Deny statement names
   the action with an IAM wildcard (``execute-api:Inv*``), which API Gateway enforces as a Deny;
   and says "deny" for an Allow spelled ``execute-api:invoke`` (IAM action names are
   case-insensitive), which API Gateway allows (``_invoke.policy_allows``).
2. low: ``secauth authorize`` writes the handler's exception message raw to standard error: a
   header value of the event carrying ``ESC[2K`` + ``CR`` overwrites the "the handler raised"
   line with "secauth: allow (200)" on a terminal (``_invoke.summary``).
3. low: ``secauth revoked`` on a claims file that is not JSON (or missing) dies with a traceback
   and exit code 1, which the command documents as "the token is revoked" (``_revoke_cli.run``).
4. low: ``--event``, ``--jwks-file`` and ``CLAIMS`` are read without a bound: ``/dev/zero`` ends
   in a ``MemoryError`` traceback with exit code 1 ("rejected" / "401 or 403" / "revoked")
   instead of a bad-input error, exit 2.
5. low: ``secauth authorize`` says "allow (200)" for a REST policy whose ``context`` holds a list,
   which API Gateway answers with a 500 (context values must be strings, numbers or booleans).

Held (pinned below): no token, signature, HMAC secret, URL password or API key in any output;
claims are JSON-escaped in ``inspect``/``verify``/``authorize`` output; revocation and usage
commands exit 3 when the store does not answer and 2 on an issuer with invisible characters;
a redirect of discovery to another origin is refused without contacting it; FIFOs work as
``--event``; the CLI's response equals ``Authorizer.handler``'s.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from secauth.testing import KeyPair, LocalIssuer

PYTHON = (
    "/work/main/.venv/bin/python"
    if Path("/work/main/.venv/bin/python").exists()
    else sys.executable
)
CONTROL = "\x1b[2K\rsecauth: allow (200)"
ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/orders/7"


def run(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    memory_limit: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m secauth ARGS`` as an operator runs it."""

    def limit() -> None:
        if memory_limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    return subprocess.run(
        [PYTHON, "-m", "secauth", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="backslashreplace",
        timeout=120,
        preexec_fn=limit,
        check=False,
    )


def everything(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def no_controls(text: str) -> bool:
    """True when ``text`` holds no terminal control character but newlines."""
    return not any((ord(ch) < 0x20 and ch != "\n") or ord(ch) == 0x7F for ch in text)


@pytest.fixture(scope="module")
def idp() -> Any:
    with LocalIssuer(algs=("RS256",)) as issuer:
        yield issuer


# -- inspect ----------------------------------------------------------------------------------


def test_inspect_escapes_controls_and_never_prints_the_signature(idp: Any) -> None:
    token = idp.token(sub=CONTROL, aud="orders-api")
    result = run("inspect", "-", stdin=token + "\n")
    assert result.returncode == 0, everything(result)
    assert no_controls(everything(result))
    assert token.split(".")[2] not in everything(result)
    assert json.loads(result.stdout)["claims"]["sub"] == CONTROL


def test_inspect_flags_alg_none_with_exit_1() -> None:
    result = run("inspect", "eyJhbGciOiJub25lIn0.e30.")
    assert result.returncode == 1
    assert any("unsigned" in w for w in json.loads(result.stdout)["warnings"])


# -- verify -----------------------------------------------------------------------------------


def test_verify_rejected_token_is_never_echoed(idp: Any) -> None:
    attacker = KeyPair.generate("RS256", kid=idp.key.kid)
    token = attacker.sign({"iss": idp.issuer, "aud": "orders-api", "sub": CONTROL, "exp": 4e9})
    result = run(
        "verify",
        "-",
        "--issuer",
        idp.issuer,
        "--audience",
        "orders-api",
        "--allow-http",
        stdin=token,
    )
    assert result.returncode == 1, everything(result)
    assert json.loads(result.stdout)["reason"] == "invalid_signature"
    for part in (token, token.split(".")[1], token.split(".")[2]):
        assert part not in everything(result)
    assert no_controls(everything(result))


def test_verify_valid_token_claims_are_escaped_and_no_audience_is_loud(idp: Any) -> None:
    token = idp.token(sub=CONTROL, aud="orders-api")
    result = run("verify", "-", "--issuer", idp.issuer, "--allow-http", stdin=token)
    assert result.returncode == 0, everything(result)
    assert json.loads(result.stdout)["claims"]["sub"] == CONTROL
    assert no_controls(everything(result))
    assert result.stderr.count("NO AUDIENCE CHECK") == 2


def test_verify_wrong_audience_exits_1(idp: Any) -> None:
    token = idp.token(sub="ann", aud="billing-api")
    result = run(
        "verify",
        "-",
        "--issuer",
        idp.issuer,
        "--audience",
        "orders-api",
        "--allow-http",
        stdin=token,
    )
    assert result.returncode == 1
    assert json.loads(result.stdout)["reason"] == "invalid_audience"


def test_verify_keys_unavailable_exits_3_not_0(idp: Any) -> None:
    token = idp.token(sub="ann", aud="orders-api")
    result = run(
        "verify", "-", "--issuer", idp.issuer, "--audience", "orders-api",
        "--jwks-uri", "http://127.0.0.1:1/jwks.json", "--allow-http", stdin=token,
    )  # fmt: skip
    assert result.returncode == 3, everything(result)
    assert json.loads(result.stdout)["reason"] == "keys_unavailable"


def test_verify_credentials_in_jwks_uri_are_refused_and_not_echoed() -> None:
    result = run(
        "verify", "a.b.c", "--issuer", "https://idp.example.com/", "--audience", "a",
        "--jwks-uri", "https://ops:PwSecret99@127.0.0.1:1/jwks.json",
    )  # fmt: skip
    assert result.returncode == 2
    assert "PwSecret99" not in everything(result)


def test_verify_jwks_file_with_a_symmetric_secret_does_not_echo_it(tmp_path: Path) -> None:
    secret = "SuperSecretHmacKeyValue0123456789abcdef"
    path = tmp_path / "jwks.json"
    path.write_text(
        json.dumps({"keys": [{"kty": "oct", "k": secret, "alg": "HS256", "kid": "h1"}]})
    )
    result = run(
        "verify", "eyJhbGciOiJIUzI1NiJ9.e30.x", "--issuer", "https://idp.example.com/",
        "--audience", "a", "--jwks-file", str(path), "--algorithm", "HS256",
    )  # fmt: skip
    assert result.returncode == 2
    assert secret not in everything(result)


def test_verify_discovery_redirect_to_another_origin_is_not_followed(idp: Any) -> None:
    with LocalIssuer() as elsewhere, LocalIssuer() as redirecting:
        redirecting.mode = "redirect"
        redirecting.redirect_to = elsewhere.discovery_url
        token = redirecting.token(sub="ann", aud="orders-api")
        result = run(
            "verify", "-", "--issuer", redirecting.issuer, "--audience", "orders-api", "--allow-http",
            stdin=token,
        )  # fmt: skip
        assert result.returncode == 3, everything(result)
        assert (elsewhere.fetches, elsewhere.discovery_fetches) == (0, 0)
        assert json.loads(result.stdout)["detail"]["cause"]["kind"] == "redirect"


# -- revoke / revoked -------------------------------------------------------------------------


def test_revoke_then_revoked_round_trip_without_echoing_the_value(
    redis_url: str, tmp_path: Path
) -> None:
    issuer = "https://idp.example.com/"
    result = run("revoke", "token", "jti-SECRETISH-42", "--issuer", issuer, "--redis", redis_url)
    assert result.returncode == 0, everything(result)
    assert "jti-SECRETISH-42" not in everything(result)
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps({"iss": issuer, "jti": "jti-SECRETISH-42", "sub": "ann"}))
    assert run("revoked", str(claims), "--redis", redis_url).returncode == 1
    claims.write_text(json.dumps({"iss": issuer, "jti": "another", "sub": "ann"}))
    assert run("revoked", str(claims), "--redis", redis_url).returncode == 0


def test_revoke_to_an_unreachable_store_exits_3_without_the_password() -> None:
    url = "redis://:RedisPw77777@127.0.0.1:1/0"
    result = run("revoke", "subject", "ann", "--issuer", "https://idp.example.com/", "--redis", url)
    assert result.returncode == 3, everything(result)
    assert "RedisPw77777" not in everything(result)
    assert "ann" not in result.stdout


def test_revoked_with_an_unreachable_store_is_not_reported_as_not_revoked(tmp_path: Path) -> None:
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps({"iss": "https://idp.example.com/", "jti": "j1"}))
    result = run("revoked", str(claims), "--redis", "redis://:RedisPw77777@127.0.0.1:1/0")
    assert result.returncode == 3
    assert "not revoked" not in result.stdout
    assert "RedisPw77777" not in everything(result)


def test_revoke_under_an_issuer_with_an_invisible_character_writes_nothing(
    redis_url: str, redis_client: Any
) -> None:
    result = run(
        "revoke", "token", "j1", "--issuer", "https://idp.example.com/\u200b", "--redis", redis_url
    )
    assert result.returncode == 2
    assert redis_client.dbsize() == 0


def test_revoke_a_dynamodb_table_that_does_not_exist_is_not_success(dynalite: Any) -> None:
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "DdbSecretKey1234"}
    result = run(
        "revoke", "token", "j1", "--issuer", "https://idp.example.com/", "--dynamodb", "no-such-table",
        "--region", "us-east-1", "--endpoint-url", f"http://127.0.0.1:{dynalite.port}", env=env,
    )  # fmt: skip
    assert result.returncode == 3, everything(result)
    assert "DdbSecretKey1234" not in everything(result)


# fmt: off
@pytest.mark.parametrize("content", ['{"iss": "https://idp.example.com/",', None])
def test_revoked_unreadable_claims_is_a_usage_error(tmp_path: Path, content: str | None) -> None:
    claims = tmp_path / "claims.json"
    if content is not None:
        claims.write_text(content)
    result = run("revoked", str(claims), "--redis", "redis://127.0.0.1:1/0")
    assert "Traceback" not in result.stderr
    assert result.returncode == 2
# fmt: on


# -- files ------------------------------------------------------------------------------------


# fmt: off
@pytest.mark.parametrize(
    "args",
    [
        ("authorize", "--app", "app:handler", "--event", "/dev/zero"),
        ("verify", "a.b.c", "--issuer", "https://i.example/", "--audience", "a", "--jwks-file", "/dev/zero"),
        ("revoked", "/dev/zero", "--redis", "redis://127.0.0.1:1/0"),
    ],
)
def test_an_endless_input_file_is_refused_as_bad_input(tmp_path: Path, args: tuple[str, ...]) -> None:
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return {'isAuthorized': True}\n")
    result = run(*args, cwd=tmp_path, memory_limit=1 << 30)
    assert "MemoryError" not in result.stderr
    assert result.returncode == 2
# fmt: on


def test_a_fifo_works_as_the_event(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "def handler(event, context):\n    return {'isAuthorized': True}\n"
    )
    fifo = tmp_path / "event.fifo"
    os.mkfifo(fifo)
    event = {"version": "2.0", "type": "REQUEST", "routeArn": ARN, "headers": {}}

    def writer() -> None:
        with open(fifo, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(event))

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    result = run("authorize", "--app", "app:handler", "--event", str(fifo), cwd=tmp_path)
    thread.join(5)
    assert result.returncode == 0, everything(result)


# -- authorize --------------------------------------------------------------------------------

CUSTOM = """
import json

ARN_KEY = "methodArn"


def _policy(event, *statements, **extra):
    return {"principalId": "u", "policyDocument": {"Version": "2012-10-17", "Statement": list(statements)},
            **extra}


def deny_wildcard(event, context):
    arn = event["methodArn"]
    return _policy(event, {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": arn},
                   {"Effect": "Deny", "Action": "execute-api:Inv*", "Resource": arn})


def allow_lower_case(event, context):
    return _policy(event, {"Effect": "Allow", "Action": "execute-api:invoke", "Resource": event["methodArn"]})


def list_context(event, context):
    return _policy(event, {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": event["methodArn"]},
                   context={"roles": ["admin"]})


def explicit_deny(event, context):
    arn = event["methodArn"]
    return _policy(event, {"Effect": "Allow", "Action": "execute-api:*", "Resource": "*"},
                   {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": arn})


def raises_with_header(event, context):
    raise ValueError("bad tenant " + event["headers"]["x-tenant"])


def leaky(event, context):
    key = next(v for k, v in event["headers"].items() if k.lower() == "x-api-key")
    print("got key", key)
    raise RuntimeError("refused key " + key)
"""


@pytest.fixture
def custom_app(tmp_path: Path) -> Path:
    (tmp_path / "custom.py").write_text(CUSTOM)
    (tmp_path / "rest.json").write_text(
        json.dumps(
            {"type": "TOKEN", "authorizationToken": "Bearer opaque-1234567", "methodArn": ARN}
        )
    )
    return tmp_path


def test_authorize_explicit_deny_exits_1(custom_app: Path) -> None:
    result = run(
        "authorize", "--app", "custom:explicit_deny", "--event", "rest.json", cwd=custom_app
    )
    assert result.returncode == 1
    assert result.stderr.startswith("secauth: deny (403)")


# fmt: off
@pytest.mark.parametrize(("handler", "expected"), [("deny_wildcard", 1), ("allow_lower_case", 0)])
def test_authorize_reads_iam_actions_as_api_gateway_does(
    custom_app: Path, handler: str, expected: int
) -> None:
    result = run("authorize", "--app", f"custom:{handler}", "--event", "rest.json", cwd=custom_app)
    assert result.returncode == expected, result.stderr
# fmt: on


# fmt: off
def test_authorize_rest_context_with_a_list_is_not_allow(custom_app: Path) -> None:
    result = run("authorize", "--app", "custom:list_context", "--event", "rest.json", cwd=custom_app)
    assert result.returncode != 0
    assert "allow" not in result.stderr
# fmt: on


# fmt: off
def test_authorize_error_line_carries_no_terminal_controls(custom_app: Path) -> None:
    event = {"version": "2.0", "type": "REQUEST", "routeArn": ARN, "headers": {"x-tenant": CONTROL}}
    result = run("authorize", "--app", "custom:raises_with_header", "--event", "-", cwd=custom_app,
                 stdin=json.dumps(event))
    assert result.returncode == 4
    assert no_controls(result.stdout)
    assert no_controls(result.stderr)
# fmt: on


def test_authorize_redacts_the_api_key_everywhere(custom_app: Path) -> None:
    key = "k-SECRETVALUE-123"
    event = {"version": "2.0", "type": "REQUEST", "routeArn": ARN, "headers": {"X-Api-Key": key}}
    result = run(
        "authorize",
        "--app",
        "custom:leaky",
        "--event",
        "-",
        cwd=custom_app,
        stdin=json.dumps(event),
    )
    assert result.returncode == 4
    assert key not in everything(result)
    assert "[redacted]" in result.stdout
    assert "[redacted]" in result.stderr


AUTHORIZER_APP = """
import os
from secauth import Authorizer, JwksCache, JwtVerifier

authorizer = Authorizer(
    JwtVerifier(issuer=os.environ["R146_ISSUER"], audience="orders-api",
                jwks=JwksCache(os.environ["R146_JWKS"], allow_http=True)),
)
"""


@pytest.mark.parametrize("kind", ["rest_token", "http_v2"])
@pytest.mark.parametrize("audience", ["orders-api", "billing-api"])
def test_authorize_verdict_equals_the_authorizer_handler(
    idp: Any, tmp_path: Path, kind: str, audience: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from secauth import Authorizer, JwksCache, JwtVerifier

    (tmp_path / "app146.py").write_text(AUTHORIZER_APP)
    token = idp.token(sub=CONTROL, aud=audience)
    template = Path(__file__).parent / "fixtures" / "authorizer" / f"{kind}.json"
    event = json.loads(template.read_text().replace("{{token}}", token))
    env = {"R146_ISSUER": idp.issuer, "R146_JWKS": idp.jwks_uri}
    result = run("authorize", "--app", "app146:authorizer", "--event", "-", cwd=tmp_path, env=env,
                 stdin=json.dumps(event))  # fmt: skip
    assert token not in everything(result)
    assert token.split(".")[2] not in everything(result)
    assert no_controls(result.stderr)

    authorizer = Authorizer(
        JwtVerifier(
            issuer=idp.issuer, audience="orders-api", jwks=JwksCache(idp.jwks_uri, allow_http=True)
        )
    )
    try:
        expected: Any = authorizer.handler(event, None)
    except Exception as exc:
        expected = {"errorMessage": str(exc), "errorType": type(exc).__name__}
    capsys.readouterr()
    assert json.loads(result.stdout) == expected
    allowed = audience == "orders-api"
    assert (result.returncode == 0) == allowed, result.stderr
    assert result.returncode in (0, 1)


# -- usage ------------------------------------------------------------------------------------


def test_usage_with_an_unreachable_store_exits_3_without_the_password(tmp_path: Path) -> None:
    (tmp_path / "limits146.py").write_text(
        "from secauth.ratelimit import RateLimiter\n"
        "from secauth.ratelimit.redis_store import RedisStore\n"
        "limiter = RateLimiter.per_principal('10/minute', "
        "store=RedisStore('redis://:UsagePw4242@127.0.0.1:1/0'))\n"
    )
    result = run("usage", "limits146:limiter", "--key", "user:alice", cwd=tmp_path)
    assert result.returncode == 3, everything(result)
    assert "UsagePw4242" not in everything(result)
