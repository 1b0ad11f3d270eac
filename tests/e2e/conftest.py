"""Fixtures of the end-to-end tests: one serverless-offline for the whole session.

See ``e2e_harness.py`` and docs/e2e.md. Run them alone with ``pytest -m e2e``.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

import pytest
from e2e_harness import Offline, ensure_installed, free_ports
from rl_services import redis_server

from secauth.testing import LocalIssuer


@pytest.fixture(scope="session")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Offline]:
    """The example app behind serverless-offline, with a LocalIssuer as its token issuer and,
    when redis-server is installed, a redis-server for the rate-limited function."""
    ensure_installed()
    with LocalIssuer(algs=("RS256",)) as issuer, contextlib.ExitStack() as stack:
        redis_url = ""
        if shutil.which("redis-server") is not None:
            redis = redis_server().start()
            stack.callback(redis.stop)
            redis_url = f"redis://127.0.0.1:{redis.port}/0"
        http_port, lambda_port = free_ports(2)
        server = Offline(
            issuer=issuer,
            http_port=http_port,
            lambda_port=lambda_port,
            log_path=tmp_path_factory.mktemp("e2e") / "serverless-offline.log",
            redis_url=redis_url,
        )
        server.start()
        try:
            yield server
        finally:
            server.stop()
