"""Shared test setup.

``tests/ratelimit/rl_services.py`` starts real servers on loopback (redis-server and
dynalite, installed by ``make services-deps``). Its folder goes on ``sys.path`` here so
test modules outside ``tests/ratelimit/`` can use it too, whatever pytest collects first.
The server fixtures several modules share live here: ``dynalite``, ``ddb_client``,
``redis_service``, ``redis_url`` (a clean database per test), ``redis_client``, the
revocation stores on them (``revocation_redis``, ``revocation_dynamodb``),
``black_hole`` (a port that never answers), and moto's server for Secrets Manager
(``moto``, ``secrets_manager``; ``tests/moto_services.py``).
Every decision record the suite produces is checked against ``tests/decision_schema.py``.
"""

from __future__ import annotations

import gc
import itertools
import os
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

_SERVICES = str(Path(__file__).resolve().parent / "ratelimit")
if _SERVICES not in sys.path:
    sys.path.insert(0, _SERVICES)


@pytest.fixture
def collect_garbage() -> Iterator[None]:
    """Collect garbage after each test of a module that uses it: ``AsyncRedisStore`` drops
    the clients of closed event loops, whose connections warn and close when collected.
    Collected here, their finalizers do not run in a later test that recurses to the limit
    (a nested-JSON test), where they cannot run and pytest reports them as errors."""
    yield
    gc.collect()


@pytest.fixture(autouse=True)
def _every_decision_record_follows_the_schema() -> Iterator[None]:
    """Every decision record any test produces is checked against the one schema
    (``tests/decision_schema.py``), whether or not anybody listens to it."""
    from decision_schema import problems

    from secauth._decisions import DecisionLog, fields

    original = DecisionLog.publish
    found: list[str] = []

    def checked(self: DecisionLog, record: Mapping[str, Any]) -> dict[str, Any] | None:
        found.extend(f"{p} in {fields(record)}" for p in problems(fields(record)))
        return original(self, record)

    DecisionLog.publish = checked  # type: ignore[method-assign]
    try:
        yield
    finally:
        DecisionLog.publish = original  # type: ignore[method-assign]
    assert not found, "decision records off the schema:\n" + "\n".join(found)


@pytest.fixture(scope="module")
def dynalite() -> Iterator[Any]:
    """A dynalite (DynamoDB) on loopback for one test module (``rl_services``: skipped
    with a message outside CI when it is not installed)."""
    from rl_services import dynalite_server

    server = dynalite_server().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A Redis Cluster (three primaries, three replicas) on loopback for one test module
    (``rl_services``: skipped with a message outside CI when redis-server is missing)."""
    from rl_services import redis_cluster

    started = redis_cluster().start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def redis_service() -> Iterator[Any]:
    """A redis-server on loopback for the session (``rl_services``: skipped with a message
    outside CI when it is not installed)."""
    from rl_services import redis_server

    server = redis_server().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_servers(tmp_path: Path) -> Iterator[Any]:
    """Start private redis-servers with extra arguments (``redis_servers("--maxmemory",
    "4mb")``), each in a directory of its own; all stopped after the test."""
    from rl_services import redis_server

    started: list[Any] = []

    def start(*extra: str) -> Any:
        directory = tmp_path / f"redis-{len(started)}"
        directory.mkdir()
        server = redis_server(None, *extra, directory=str(directory)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def redis_url(redis_service: Any) -> Iterator[str]:
    """A clean database of the session's redis-server, with secauth's scripts loaded (so
    round-trip counts do not depend on which test ran first; the NOSCRIPT path has its
    own test)."""
    import redis

    from secauth.ratelimit.redis_store import HIT_SCRIPT, RECORD_SCRIPT

    client = redis.Redis(host="127.0.0.1", port=redis_service.port)
    client.flushall()
    client.script_load(HIT_SCRIPT)
    client.script_load(RECORD_SCRIPT)
    yield f"redis://127.0.0.1:{redis_service.port}/0"
    client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Any]:
    """A client of the clean database ``redis_url`` names."""
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def ddb_client(dynalite: Any) -> Any:
    """A boto3 DynamoDB client for the module's dynalite."""
    from rl_services import dynamodb_client

    return dynamodb_client(dynalite.port)


@pytest.fixture
def revocation_redis(redis_url: str) -> Any:
    """A ``RedisRevocationStore`` on the clean database ``redis_url`` names."""
    from secauth.revocation_stores import RedisRevocationStore

    return RedisRevocationStore(redis_url, socket_timeout=2.0)


_revocation_tables = itertools.count()


@pytest.fixture
def revocation_dynamodb(ddb_client: Any) -> Any:
    """A ``DynamoDBRevocationStore`` on a fresh table of the module's dynalite."""
    from secauth.revocation_stores import DynamoDBRevocationStore

    store = DynamoDBRevocationStore(f"revocations-{next(_revocation_tables)}", client=ddb_client)
    store.create_table()
    return store


@pytest.fixture
def black_hole() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP port on loopback that accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1]), held
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.fixture(scope="module")
def moto() -> Iterator[Any]:
    """moto's server on loopback for one module (``tests/moto_services.py``); skipped with
    a message outside CI when moto is not installed, a failure in CI."""
    try:
        from moto_services import MotoServer
    except ImportError:
        message = "moto[server] is not installed (pip install -e '.[dev]')"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def secrets_manager(moto: Any) -> Any:
    """A boto3 Secrets Manager client for the module's moto server."""
    from moto_services import secretsmanager_client

    return secretsmanager_client(moto.endpoint)


@pytest.fixture(scope="module")
def _scripted() -> Iterator[Any]:
    from scripted_as import ScriptedAS

    server = ScriptedAS()
    yield server
    server.stop()


@pytest.fixture
def scripted(_scripted: Any) -> Any:
    """The module's scripted RFC 7662 server (``tests/scripted_as.py``), its answers,
    requests, discovery document and delay reset."""
    _scripted.reset()
    return _scripted


@pytest.fixture(scope="module")
def op() -> Iterator[Any]:
    """panva's oidc-provider on loopback for one module (``introspection_services``;
    skipped with a message outside CI when it is not installed). Modules with another
    provider named ``op`` define their own."""
    from introspection_services import OidcProvider, missing
    from rl_services import unavailable

    why = missing()
    if why is not None:
        unavailable(why)
    server = OidcProvider().start()
    yield server
    server.stop()
