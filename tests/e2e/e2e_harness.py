"""The end-to-end harness: the example app under the real API Gateway emulator, on loopback.

An :class:`Offline` runs ``serverless offline start`` (npm
``serverless@3`` + ``serverless-offline@13``, installed by ``scripts/e2e-install.sh``
into ``.cache/e2e/``) for ``examples/serverless/``, with the handlers importing
secauth from this checkout and verifying tokens from a :class:`LocalIssuer`.

When node/npm or the install is unavailable, :func:`ensure_installed` skips the
e2e tests with the reason, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

from secauth.testing import LocalIssuer

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "examples" / "serverless"
INSTALL_SCRIPT = ROOT / "scripts" / "e2e-install.sh"
CACHE_DIR = Path(os.environ.get("SECAUTH_E2E_CACHE", ROOT / ".cache" / "e2e"))
SERVERLESS = CACHE_DIR / "node_modules" / ".bin" / "serverless"
# The handlers' ``python3``: this repo's venv, else the interpreter running the tests.
VENV_BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin" / "python3").exists() else (
    Path(sys.executable).parent
)

AUDIENCE = "secauth-example"
STAGE = "dev"
REGION = "us-east-1"
SERVICE = "secauth-example"
START_TIMEOUT = 90.0


def _unavailable(message: str) -> NoReturn:
    """Skip outside CI; fail under CI=true, where the e2e tests must run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"e2e: {message} (CI=true, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(f"e2e: {message}")


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held open together, so never the same one)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def _opener() -> urllib.request.OpenerDirector:
    # No proxies: every request goes straight to 127.0.0.1.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _lower(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in items}


@dataclass(frozen=True)
class Response:
    """One HTTP answer; ``headers`` has lower-case names."""

    status: int
    headers: Mapping[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Offline:
    """A running ``serverless offline`` for the example app, and how to talk to it."""

    issuer: LocalIssuer
    http_port: int
    lambda_port: int
    log_path: Path
    redis_url: str = ""  # the `limited` function's shared rate-limit store ("" when none)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    # -- requests ---------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        port: int | None = None,
    ) -> Response:
        """Send one HTTP request to 127.0.0.1 (REST paths take the stage prefix themselves)."""
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        url = f"http://127.0.0.1:{port or self.http_port}{path}"
        request = urllib.request.Request(url, data=body, method=method, headers=all_headers)
        try:
            with _opener().open(request, timeout=30) as reply:
                return Response(reply.status, _lower(reply.headers.items()), reply.read().decode())
        except urllib.error.HTTPError as err:
            with err:
                return Response(err.code, _lower(err.headers.items()), err.read().decode())

    def rest(self, method: str, path: str, **kwargs: Any) -> Response:
        """A request to the REST API (``http`` events), which lives under ``/{stage}``."""
        return self.request(method, f"/{STAGE}{path}", **kwargs)

    def invoke(self, function: str, event: Mapping[str, Any]) -> Any:
        """Invoke a function through the emulated Lambda Invoke API; return its payload."""
        name = f"{SERVICE}-{STAGE}-{function}"
        reply = self.request(
            "POST",
            f"/2015-03-31/functions/{name}/invocations",
            body=json.dumps(event).encode(),
            headers={"Content-Type": "application/json"},
            port=self.lambda_port,
        )
        assert reply.status == 200, reply.text
        return reply.json()

    # -- tokens -------------------------------------------------------------------------

    def token(self, sub: str = "alice", **claims: Any) -> str:
        """A valid token from the local issuer for the example app's audience."""
        claims.setdefault("aud", AUDIENCE)
        return self.issuer.token(sub=sub, **claims)

    # -- the emulator's log -------------------------------------------------------------

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace")

    def decisions_since(self, offset: int) -> list[dict[str, Any]]:
        """The structured decision lines the example handlers printed since ``offset``."""
        out = []
        for line in self.log_since(offset).splitlines():
            start = line.find('{"')
            if start < 0 or '"secauth"' not in line:
                continue
            with contextlib.suppress(ValueError):
                record = json.loads(line[start:])
                if isinstance(record, dict) and record.get("secauth") == "decision":
                    out.append(record)
        return out

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_since(0).splitlines()[-lines:])

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        env = _offline_env(self.issuer)
        if self.redis_url:
            env["SECAUTH_REDIS_URL"] = self.redis_url
        command = [
            str(SERVERLESS), "offline", "start",
            # One Python process per request: serverless-offline cannot recover a
            # Python worker whose handler raised (as a REST authorizer must for 401).
            "--reloadHandler",
            "--host", "127.0.0.1",
            "--httpPort", str(self.http_port),
            "--lambdaPort", str(self.lambda_port),
            # Reap the idle per-request Python processes quickly.
            "--terminateIdleLambdaTime", "5",
            "--noSponsor",
        ]  # fmt: skip
        log = self.log_path.open("wb")
        try:
            self.process = subprocess.Popen(
                command,
                cwd=APP_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() gets the Pythons too
            )
        finally:
            log.close()
        atexit.register(self.stop)
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"serverless offline exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if "Server ready:" in self.log_since(0) and self._answers():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"serverless offline not ready after {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def _answers(self) -> bool:
        for port in (self.http_port, self.lambda_port):
            try:
                self.request("GET", "/__secauth_ready__", port=port)
            except OSError:
                return False
        return True

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Python workers left in the group (a handler still running) go too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _offline_env(issuer: LocalIssuer) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # Nothing from the caller's AWS setup: no profile, no real credentials.
        if not key.startswith(("AWS_", "SLS_", "SERVERLESS_"))
    }
    home = CACHE_DIR / "home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            # The handlers run under this repo's venv (python3 is the venv's) and import
            # secauth from src/.
            "PATH": os.pathsep.join([str(VENV_BIN), env.get("PATH", "")]),
            "VIRTUAL_ENV": str(VENV_BIN.parent),
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(
                os.pathsep
            ),
            "PYTHONDONTWRITEBYTECODE": "1",
            # The example app's configuration: the local issuer on loopback.
            "SECAUTH_ISSUER": issuer.issuer,
            "SECAUTH_AUDIENCE": AUDIENCE,
            "SECAUTH_JWKS_URI": issuer.jwks_uri,
            "SECAUTH_ALLOW_HTTP": "1",
            # serverless v3 must not phone home (telemetry, notifications, updates)...
            "SLS_TELEMETRY_DISABLED": "1",
            "SLS_TRACKING_DISABLED": "1",
            "SLS_NOTIFICATIONS_MODE": "off",
            "SLS_DISABLE_AUTO_UPDATE": "1",
            "SLS_INTERACTIVE_SETUP_DISABLE": "1",
            "SLS_GEO_LOCATION": "no-cn",
            # ...nor look for AWS credentials (dummy ones, no metadata endpoint, no files),
            "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_CONFIG_FILE": os.devnull,
            # ...nor write into the user's home (~/.serverless, ~/.serverlessrc).
            "HOME": str(home),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    return env


def ensure_installed() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        _unavailable("node and npm are needed to run serverless-offline (node >= 18.12)")
    result = subprocess.run(
        ["bash", str(INSTALL_SCRIPT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0 or not SERVERLESS.exists():
        _unavailable(
            f"{INSTALL_SCRIPT.relative_to(ROOT)} failed (exit {result.returncode}):\n"
            f"{result.stderr.strip()[-2000:]}"
        )
