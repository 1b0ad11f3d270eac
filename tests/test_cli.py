"""The ``secauth`` command: inspect, verify, demo; and what ``import secauth`` loads."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from secauth import cli
from secauth._demo import run_demo
from secauth.testing import KeyPair, LocalIssuer


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_inspect_flags_risky_headers_and_never_prints_the_signature(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pair = KeyPair.generate("HS256", kid="k")
    token = pair.sign({"sub": "a"}, headers={"jwk": {"kty": "oct"}, "crit": ["exp"]})
    code, out, _ = run(["inspect", token], capsys)
    report = json.loads(out)
    assert code == cli.EXIT_REJECTED
    assert report["verified"] is False
    assert any("symmetric" in w for w in report["warnings"])
    assert any("header jwk" in w for w in report["warnings"])
    assert any("crit" in w for w in report["warnings"])
    assert "no exp: the token never expires" in report["warnings"]
    assert token.split(".")[2] not in out


def test_inspect_reads_the_token_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = KeyPair.generate("ES256", kid="k").sign({"iss": "i", "aud": "a", "exp": 4e9})
    monkeypatch.setattr(sys, "stdin", io.StringIO(token + "\n"))
    code, out, _ = run(["inspect", "-"], capsys)
    assert code == cli.EXIT_OK
    assert json.loads(out)["claims"]["iss"] == "i"


@pytest.mark.parametrize(
    ("token", "warning"),
    [
        ("a.b.c.d.e", "five parts: an encrypted JWE, not a signed JWS"),
        ("abc", "1 parts: not a compact JWS"),
    ],
)
def test_inspect_explains_non_jws_shapes(token: str, warning: str) -> None:
    assert cli.inspect_token(token)["warnings"] == [warning]


def test_verify_accepts_a_good_token_through_discovery(capsys: pytest.CaptureFixture[str]) -> None:
    with LocalIssuer() as idp:
        token = idp.token(sub="alice", aud="api")
        code, out, _ = run(
            ["verify", token, "--issuer", idp.issuer, "--audience", "api", "--allow-http"], capsys
        )
    assert code == cli.EXIT_OK
    assert json.loads(out) == {"valid": True, "claims": json.loads(out)["claims"]}
    assert json.loads(out)["claims"]["sub"] == "alice"


def test_verify_explains_the_reason_and_leaks_no_token(capsys: pytest.CaptureFixture[str]) -> None:
    with LocalIssuer() as idp:
        token = idp.token(sub="alice", aud="other-api")
        code, out, _ = run(
            [
                "verify",
                token,
                "--issuer",
                idp.issuer,
                "--audience",
                "api",
                "--jwks-uri",
                idp.jwks_uri,
                "--allow-http",
            ],
            capsys,
        )
    report = json.loads(out)
    assert code == cli.EXIT_REJECTED
    assert report["reason"] == "invalid_audience"
    assert report["status"] == 401
    assert token not in out
    assert token.split(".")[1] not in out


def test_verify_with_the_key_server_down_is_503_not_401(capsys: pytest.CaptureFixture[str]) -> None:
    with LocalIssuer() as idp:
        idp.mode = "error"
        token = idp.token(sub="alice", aud="api")
        code, out, _ = run(
            ["verify", token, "--issuer", idp.issuer, "--audience", "api", "--allow-http"], capsys
        )
    assert code == cli.EXIT_UNAVAILABLE
    assert json.loads(out)["reason"] == "keys_unavailable"


def test_verify_prints_why_the_keys_are_unavailable(capsys: pytest.CaptureFixture[str]) -> None:
    """The key source's failure cause is in the report: the discovery document's HTTP status,
    or the errno of a refused connection; never the body it sent."""
    import errno
    import socket

    with LocalIssuer() as idp:
        idp.mode = "error"  # 500 with a body
        token = idp.token(sub="alice", aud="api")
        code, out, _ = run(
            ["verify", token, "--issuer", idp.issuer, "--audience", "api", "--allow-http"], capsys
        )
    assert code == cli.EXIT_UNAVAILABLE
    detail = json.loads(out)["detail"]
    assert detail["problem"] == "no usable key set"
    assert detail["cause"] == {"kind": "http_status", "status": 500, "document": "discovery"}
    assert "internal error" not in out  # the body LocalIssuer sent with its 500
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/jwks.json"
    code, out, _ = run(
        ["verify", token, "--issuer", "https://idp/", "--jwks-uri", closed, "--allow-http"],
        capsys,
    )
    assert code == cli.EXIT_UNAVAILABLE
    assert json.loads(out)["detail"]["cause"] == {
        "kind": "connection", "errno": errno.ECONNREFUSED, "error": "ConnectionRefusedError",
        "document": "jwks",
    }  # fmt: skip


def test_verify_with_a_jwks_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pair = KeyPair.generate("EdDSA", kid="k1")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [pair.public_jwk]}))
    token = pair.sign({"iss": "https://idp/", "aud": "api", "exp": 4e9})
    code, out, _ = run(
        [
            "verify",
            token,
            "--issuer",
            "https://idp/",
            "--audience",
            "api",
            "--jwks-file",
            str(path),
        ],
        capsys,
    )
    assert code == cli.EXIT_OK, out


def test_verify_refuses_plain_http_without_opt_in(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        ["verify", "x.y.z", "--issuer", "http://127.0.0.1:9", "--audience", "a"], capsys
    )
    assert code == cli.EXIT_USAGE
    assert "must use https" in err


def test_demo_makes_every_expected_decision() -> None:
    out = io.StringIO()
    assert run_demo(out) == 0, out.getvalue()
    text = out.getvalue()
    assert "All decisions as expected." in text
    for reason in (
        "invalid_signature",
        "malformed_token",
        "token_expired",
        "invalid_audience",
        "invalid_issuer",
        "unknown_key",
    ):
        assert reason in text


def test_import_secauth_loads_no_heavy_dependency() -> None:
    """``import secauth`` must stay cheap: no cryptography, httpx, redis, boto3 or Powertools."""
    heavy = ["cryptography", "httpx", "redis", "boto3", "botocore", "aws_lambda_powertools", "ssl"]
    code = f"import sys, secauth; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_building_a_verifier_does_not_load_httpx_or_ssl() -> None:
    """The sync path fetches with http.client; httpx is only for verify_async."""
    code = (
        "import sys; from secauth import JwtVerifier; "
        "JwtVerifier(issuer='https://i/', audience='a', jwks_uri='https://i/jwks'); "
        "print('httpx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_python_dash_m_secauth_runs_the_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "secauth", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("inspect", "verify", "demo"):
        assert command in out.stdout
