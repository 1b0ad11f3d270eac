"""``secauth revoke`` / ``secauth revoked`` against a real redis-server and dynalite."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rl_services import Server, dynalite_server, dynamodb_client, redis_server

from secauth import cli
from secauth.revocation_stores import DynamoDBRevocationStore

ISS = "https://idp.example.com/"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    server = redis_server().start()
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def claims_file(tmp_path: Path, **claims: Any) -> str:
    path = tmp_path / "claims.json"
    path.write_text(json.dumps({"iss": ISS, "sub": "ann", "iat": 1, **claims}))
    return str(path)


def test_revoke_then_revoked_through_redis(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = claims_file(tmp_path, jti="secret-jti-1")
    assert run(["revoked", token, "--redis", redis_url], capsys)[:2] == (0, "not revoked\n")
    code, out, _ = run(["revoke", "token", "secret-jti-1", "--issuer", ISS, "--redis", redis_url],
                       capsys)  # fmt: skip
    assert (code, out) == (0, f"revoked token for {ISS}\n")
    assert "secret-jti-1" not in out
    assert run(["revoked", token, "--redis", redis_url], capsys)[:2] == (1, "revoked (by jti)\n")


def test_subject_sign_out_with_before(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["revoke", "subject", "bob", "--issuer", ISS, "--before", "100", "--redis", redis_url]
    assert run(args, capsys)[0] == 0
    old, new = claims_file(tmp_path, sub="bob", iat=99), str(tmp_path / "new.json")
    Path(new).write_text(json.dumps({"iss": ISS, "sub": "bob", "iat": 100}))
    assert run(["revoked", old, "--redis", redis_url], capsys)[0] == 1
    assert run(["revoked", new, "--redis", redis_url], capsys)[0] == 0


def test_usage_errors_and_an_unreachable_store(capsys: pytest.CaptureFixture[str]) -> None:
    down = "redis://127.0.0.1:1/0"
    code, _, err = run(["revoke", "token", "t", "--redis", down], capsys)
    assert (code, "needs --issuer" in err) == (2, True)
    code, _, err = run(["revoke", "token", "t", "--issuer", ISS, "--before", "1", "--redis", down],
                       capsys)  # fmt: skip
    assert code == 2
    code, _, err = run(["revoke", "token", "t", "--issuer", ISS, "--redis", down], capsys)
    assert code == 3
    assert "did not answer" in err
    stdin = io.StringIO('{"iss": "x", "jti": "t"}')
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", stdin)
        assert run(["revoked", "-", "--redis", down], capsys)[0] == 3


def test_revoke_through_dynamodb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server: Server = dynalite_server().start()
    try:
        endpoint = f"http://127.0.0.1:{server.port}"
        DynamoDBRevocationStore("revocations", client=dynamodb_client(server.port)).create_table()
        store = ["--dynamodb", "revocations", "--region", "us-east-1", "--endpoint-url", endpoint]
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AWS_ACCESS_KEY_ID", "test")
            patch.setenv("AWS_SECRET_ACCESS_KEY", "test")
            assert run(["revoke", "client", "web", "--issuer", ISS, *store], capsys)[0] == 0
            token = claims_file(tmp_path, client_id="web")
            assert run(["revoked", token, *store], capsys)[:2] == (1, "revoked (by client)\n")
    finally:
        server.stop()
