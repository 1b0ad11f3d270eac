"""Real servers for the rate-limit store tests: redis-server and dynalite on 127.0.0.1.

Both are installed by ``scripts/services-install.sh`` (``make services-deps``).
When one is missing, tests that need it skip with the reason, except under
``CI=true``, where they fail: CI must exercise the real stores.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DYNALITE = (
    Path(os.environ.get("SECAUTH_SERVICES_CACHE", ROOT / ".cache" / "services"))
    / "node_modules"
    / "dynalite"
    / "cli.js"
)


def unavailable(reason: str) -> None:
    """Skip outside CI; fail under CI=true."""
    message = f"{reason} (run `make services-deps` or scripts/services-install.sh)"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(
    port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 15.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


class Server:
    """One server process on a loopback port, which a test may stop and start again."""

    def __init__(self, argv_for_port: Any, what: str, port: int | None = None) -> None:
        self._argv_for_port = argv_for_port
        self.what = what
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        self.proc = subprocess.Popen(
            self._argv_for_port(self.port),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        try:
            _wait_for_port(self.port, self.proc, self.what)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def redis_server(port: int | None = None) -> Server:
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed")
    assert binary is not None

    def argv(p: int) -> list[str]:
        return [
            binary,
            "--port",
            str(p),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]

    return Server(argv, "redis-server", port)


def dynalite_server(port: int | None = None) -> Server:
    node = shutil.which("node")
    if node is None or not DYNALITE.is_file():
        unavailable("dynalite is not installed")
    assert node is not None

    def argv(p: int) -> list[str]:
        return [
            node,
            str(DYNALITE),
            "--host",
            "127.0.0.1",
            "--port",
            str(p),
            "--createTableMs",
            "0",
            "--deleteTableMs",
            "0",
            "--updateTableMs",
            "0",
        ]

    return Server(argv, "dynalite", port)


def dynamodb_client(port: int, **config: Any) -> Any:
    """A boto3 client for dynalite on ``port`` (dummy credentials, short timeouts)."""
    import boto3
    from botocore.config import Config

    options = {"connect_timeout": 0.5, "read_timeout": 2.0, "retries": {"total_max_attempts": 1}}
    options.update(config)
    return boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(**options),
    )


class RequestCounter:
    """Counts HTTP requests a boto3 client sends (botocore's ``before-send`` event)."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        client.meta.events.register("before-send.dynamodb", self._on_send)

    def _on_send(self, **_: Any) -> None:
        self.count += 1
