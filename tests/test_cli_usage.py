"""``secauth usage``: a caller's limits and quotas, read without spending, against the
limiter as deployed (imported from ``module:attribute``) on a real redis-server and a real
dynalite: plan limiters by principal and claims or by key and ``--plan``, JSON output,
an unknown plan, a store that does not answer, and bad arguments."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from rl_services import dynalite_server, free_port, redis_server

from secauth import cli

_modules = itertools.count()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    server = redis_server().start()
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def dynalite_url() -> Iterator[str]:
    server = dynalite_server().start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> str:
    """Write ``source`` as a fresh module in ``tmp_path``; its ``module:limiter`` spec."""
    name = f"usage_app_{next(_modules)}"
    (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return f"{name}:limiter"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


PLANS = """
from secauth.principal import Principal
from secauth.ratelimit import PlanFrom, RateLimiter
from secauth.ratelimit.redis_store import RedisStore

limiter = RateLimiter.per_plan(
    {{"free": ["2/minute", "10000/month"], "pro": ["100/minute"]}},
    plan_of=PlanFrom.claim("plan"),
    store=RedisStore({url!r}),
)
EVENT = {{"version": "2.0", "rawPath": "/",
          "requestContext": {{"http": {{"method": "GET", "sourceIp": "192.0.2.1"}}}}}}
"""


def test_plan_usage_by_principal_and_by_key(
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = app(tmp_path, monkeypatch, PLANS.format(url=redis_url))
    who = ["--ip", "192.0.2.1", "--principal", "alice", "--claim", "plan=free"]
    code, out, _ = run(["usage", spec, *who], capsys)
    assert code == 0
    assert "free:2/60s" in out
    assert "free:10000/month" in out
    assert "throttled" not in out
    import importlib

    module = importlib.import_module(spec.split(":")[0])
    alice = module.Principal("alice", claims={"plan": "free"})
    for _ in range(2):
        assert module.limiter.hit(module.EVENT, alice).allowed
    code, out, _ = run(["usage", spec, *who], capsys)
    assert code == 1
    assert "throttled by free:2/60s until " in out
    assert "free:10000/month" in out
    # the same state by the key function's value and the plan
    code, out, _ = run(["usage", spec, "--key", "user:alice", "--plan", "free", "--json"], capsys)
    assert code == 1
    rows = json.loads(out.split("\nthrottled")[0])
    assert [(r["policy"], r["limit"], r["remaining"]) for r in rows] == [
        ("free:2/60s", 2, 0),
        ("free:10000/month", 10000, 9998),
    ]
    assert rows[1]["full_at"].endswith("T00:00:00Z")  # the first of next month, UTC
    # reading spent nothing
    code, out, _ = run(["usage", spec, "--key", "user:alice", "--plan", "free", "--json"], capsys)
    assert json.loads(out.split("\nthrottled")[0])[1]["remaining"] == 9998


def test_unknown_plan_store_down_and_bad_arguments(
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = app(tmp_path, monkeypatch, PLANS.format(url=redis_url))
    code, out, _ = run(["usage", spec, "--ip", "192.0.2.1", "--principal", "bob",
                        "--claim", "plan=gold"], capsys)  # fmt: skip
    assert code == 1
    assert out.startswith("refused: no usage plan for this caller (unknown_plan)")
    down = app(tmp_path, monkeypatch, PLANS.format(url=f"redis://127.0.0.1:{free_port()}/0"))
    code, _, err = run(["usage", down, "--key", "user:alice", "--plan", "free"], capsys)
    assert code == 3
    assert "the rate-limit store did not answer" in err
    assert run(["usage", "no_such_module:limiter", "--key", "k"], capsys)[0] == 2
    assert run(["usage", "nocolon", "--key", "k"], capsys)[0] == 2
    assert run(["usage", spec, "--key", "k", "--plan", "gold"], capsys)[0] == 1
    args = ["usage", spec, "--ip", "192.0.2.1"]
    assert run([*args, "--principal", "bob", "--claim", "plan"], capsys)[0] == 2
    assert run([*args, "--claim", "plan=free"], capsys)[0] == 2


def test_a_monthly_quota_on_dynamodb(
    dynalite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    source = f"""
from secauth.ratelimit import RateLimiter
from secauth.ratelimit.dynamodb_store import DynamoDBStore

store = DynamoDBStore("usage-cli", endpoint_url={dynalite_url!r}, region="us-east-1")
store.create_table()
limiter = RateLimiter.per_ip("3/month", store=store)
EVENT = {{"version": "2.0", "rawPath": "/",
          "requestContext": {{"http": {{"method": "GET", "sourceIp": "198.51.100.9"}}}}}}
limiter.hit(EVENT)
"""
    spec = app(tmp_path, monkeypatch, source)
    code, out, _ = run(["usage", spec, "--key", "198.51.100.9", "--json"], capsys)
    assert code == 0
    (row,) = json.loads(out)
    assert (row["policy"], row["limit"], row["remaining"]) == ("ip", 3, 2)
    code, out, _ = run(["usage", spec, "--ip", "203.0.113.1"], capsys)
    assert code == 0
    assert " 3  " in out  # a caller with nothing spent


PER_PRINCIPAL = """
from secauth.principal import Principal
from secauth.ratelimit import RateLimiter
from secauth.ratelimit.redis_store import RedisStore

limiter = RateLimiter.per_principal("1/minute", store=RedisStore({url!r}))
EVENT = {{"version": "2.0", "rawPath": "/",
          "requestContext": {{"http": {{"method": "GET", "sourceIp": "192.0.2.1"}}}}}}
limiter.hit(EVENT, Principal({who!r}, issuer="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"))
"""


def test_a_token_callers_usage_is_read_with_its_issuer(
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A token's caller is counted with its issuer: --issuer finds the spent bucket (any
    of a Cognito pool's issuers names the pool); without it, the bucket of a caller
    without an issuer."""
    spec = app(tmp_path, monkeypatch, PER_PRINCIPAL.format(url=redis_url, who="carol"))
    updated = "https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"
    code, out, _ = run(["usage", spec, "--ip", "192.0.2.1", "--principal", "carol",
                        "--issuer", updated], capsys)  # fmt: skip
    assert code == 1, out  # spent through the pool's other issuer format
    code, out, _ = run(["usage", spec, "--ip", "192.0.2.1", "--principal", "carol"], capsys)
    assert code == 0, out
    code, _, err = run(["usage", spec, "--ip", "192.0.2.1", "--issuer", updated], capsys)
    assert code == 2
    assert "--issuer" in err
