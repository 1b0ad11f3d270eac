"""``secauth verify --cognito-pool`` and ``inspect`` on Cognito tokens (issue 14, part 1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from secauth import cli
from secauth.testing_cognito import LocalCognito

POOL = "eu-west-1_CliPool1"


@pytest.fixture(scope="module")
def pool() -> Iterator[LocalCognito]:
    with LocalCognito(POOL, client_id="cli-client", regions=["eu-central-1"]) as local:
        yield local


@pytest.fixture
def jwks_file(pool: LocalCognito, tmp_path: Path) -> str:
    """Every issuer's keys in one file (``--jwks-file`` serves all of a pool's issuers)."""
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(pool.jwks()))
    return str(path)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def verify_args(token: str, jwks_file: str, *extra: str) -> list[str]:
    return ["verify", token, "--cognito-pool", POOL, "--jwks-file", jwks_file, *extra]


def test_verify_a_cognito_access_token_in_both_formats(
    pool: LocalCognito, jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for form in ("original", "updated"):
        issuer = pool.issuer(issuer_format=form)
        token = pool.access_token(issuer_format=form, groups=["admin"])
        argv = verify_args(token, jwks_file, "--client-id", "cli-client", "--token-use", "access")
        code, out, err = run(argv, capsys)
        assert code == cli.EXIT_OK, out
        report = json.loads(out)
        assert report["claims"]["iss"] == issuer
        assert report["claims"]["cognito:groups"] == ["admin"]
        assert err == ""  # everything was checked: no warning


def test_verify_checks_client_token_use_format_and_region(
    pool: LocalCognito, jwks_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    access = pool.access_token()
    base = ("--client-id", "cli-client", "--token-use")

    def reason(token: str, *flags: str) -> str:
        code, out, _ = run(verify_args(token, jwks_file, *flags), capsys)
        assert code == cli.EXIT_REJECTED, out
        assert token not in out
        return str(json.loads(out)["reason"])

    assert reason(access, *base, "id") == "invalid_audience"  # an access token has no aud
    other_client = pool.access_token(client_id="other")
    assert reason(other_client, *base, "access") == "invalid_audience"
    assert reason(access, *base, "access", "--issuer-format", "updated") == "invalid_issuer"
    replica = pool.access_token(region="eu-central-1")
    assert reason(replica, *base, "access") == "invalid_issuer"
    # One key file for every Region would let a replica's key vouch for another Region.
    code, out, err = run(
        verify_args(replica, jwks_file, *base, "access", "--region", "eu-central-1"), capsys
    )
    assert code == cli.EXIT_USAGE, out
    assert "--jwks-file" in err
    assert replica not in out + err
    ident = pool.id_token()
    code, out, _ = run(verify_args(ident, jwks_file, *base, "id"), capsys)
    assert code == cli.EXIT_OK, out
    assert json.loads(out)["claims"]["token_use"] == "id"


def test_verify_without_a_client_or_audience_warns_loudly(
    pool: LocalCognito, jwks_file: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = pool.access_token()
    code, out, err = run(verify_args(token, jwks_file, "--token-use", "access"), capsys)
    assert code == cli.EXIT_OK, out
    assert "WARNING: NO APP CLIENT CHECK: client_id was not checked" in err
    assert "WARNING: valid, but NO APP CLIENT CHECK" in err
    assert "--client-id" in err
    # The same for a plain issuer without --audience.
    code, out, err = run(
        ["verify", token, "--issuer", pool.issuer(), "--jwks-file", jwks_file], capsys
    )
    assert code == cli.EXIT_OK, out
    assert "WARNING: NO AUDIENCE CHECK: aud was not checked" in err
    assert "--audience" in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--cognito-pool", POOL], "--token-use access or --token-use id"),
        (["--cognito-pool", POOL, "--token-use", "id", "--audience", "a"], "--client-id"),
        (["--cognito-pool", POOL, "--token-use", "id", "--jwks-uri", "https://x/"], "--jwks-file"),
        (["--cognito-pool", "not-a-pool", "--token-use", "id"], "us-east-1_AbC123"),
        (["--issuer", "https://idp/", "--client-id", "c"], "--client-id goes with --cognito-pool"),
        (["--issuer", "https://idp/", "--token-use", "id"], "--token-use goes with"),
    ],
)
def test_verify_usage_errors_say_what_to_change(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["verify", "x.y.z", *flags], capsys)
    assert code == cli.EXIT_USAGE
    assert message in err


def test_verify_needs_an_issuer_or_a_pool_not_both(capsys: pytest.CaptureFixture[str]) -> None:
    for flags in ([], ["--issuer", "https://idp/", "--cognito-pool", POOL]):
        with pytest.raises(SystemExit) as exc:
            cli.main(["verify", "x.y.z", *flags])
        assert exc.value.code == cli.EXIT_USAGE
    assert "--cognito-pool" in capsys.readouterr().err


def test_inspect_does_not_warn_no_aud_on_a_cognito_access_token(pool: LocalCognito) -> None:
    warnings = cli.inspect_token(pool.access_token())["warnings"]
    assert not any("aud" in warning for warning in warnings), warnings
    assert warnings == []
    # Without client_id, or as an ID token without aud, it still warns.
    no_client = pool.servers[pool.issuer()].token(token_use="access", sub="u")
    assert "no aud" in cli.inspect_token(no_client)["warnings"]
    assert "no aud" in cli.inspect_token(pool.id_token(aud=None))["warnings"]
    assert "no aud" in cli.inspect_token(pool.access_token(token_use="id"))["warnings"]
