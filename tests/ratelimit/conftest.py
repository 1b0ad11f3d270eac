"""Fixtures of the rate-limit tests: a real redis-server and a real dynalite per session.

Each xdist worker starts its own servers on free loopback ports and stops them
at the end. Tests that kill a server mid-test start a private one with
``private_server``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rl_services import Server, dynalite_server, dynamodb_client, redis_server

_names = itertools.count()


@pytest.fixture(scope="session")
def dynalite_service() -> Iterator[Server]:
    server = dynalite_server().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dynamodb(dynalite_service: Server) -> Any:
    """A boto3 client for the session's dynalite."""
    return dynamodb_client(dynalite_service.port)


@pytest.fixture
def table_name() -> str:
    return f"secauth-rl-{next(_names)}"


@pytest.fixture
def private_server() -> Iterator[Callable[[str], Server]]:
    """Start a private redis-server or dynalite a test may kill; all stopped afterwards."""
    started: list[Server] = []

    def start(kind: str) -> Server:
        server = redis_server() if kind == "redis" else dynalite_server()
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()
