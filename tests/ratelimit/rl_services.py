"""Real servers for the rate-limit store tests: redis-server (a single node, or a
six-node Redis Cluster) and dynalite on 127.0.0.1.

Both are installed by ``scripts/services-install.sh`` (``make services-deps``).
When one is missing, tests that need it skip with the reason, except under
``CI=true``, where they fail: CI must exercise the real stores.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
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

# Redis store timeouts for tests of exact counts under many threads or tasks: on a loaded
# CI machine a slow reply must not count as a store failure there (the short default
# timeouts have tests of their own, with servers that hang).
PATIENT: dict[str, Any] = {"socket_timeout": 2.0, "connect_timeout": 2.0}


def unavailable(reason: str) -> None:
    """Skip outside CI; fail under CI=true."""
    message = f"{reason} (run `make services-deps` or scripts/services-install.sh)"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def stop_process(proc: subprocess.Popen[Any] | None) -> None:
    """Stop a server process started by a test (terminate, then kill after 5 s)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports: held bound together while they are chosen,
    so no two of them are the same (a port chosen and released one at a time may come back
    for the next, and a cluster node's bus would then take another node's port)."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


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
        stop_process(proc)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def redis_server(port: int | None = None, *extra: str, directory: str | None = None) -> Server:
    """A private redis-server; ``extra`` arguments added, its files in ``directory`` (a
    replica's full sync writes an RDB file: never in the checkout)."""
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
            *(["--dir", directory] if directory is not None else []),
            *extra,
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


class RedisCluster:
    """A real Redis Cluster on loopback: ``primaries`` primaries with one replica each.

    Six ``redis-server --cluster-enabled yes`` processes (by default) in a temporary
    folder, joined by ``redis-cli --cluster create ... --cluster-replicas 1``; ``start``
    returns once every node reports ``cluster_state:ok`` and every replica is in sync.
    A node timeout of 1 s makes a killed primary's replica take over within a few
    seconds. ``kill`` sends SIGKILL (no goodbye to the cluster); ``restart`` brings a
    node back with its own ``nodes.conf``, so it rejoins (a former primary as a replica).
    """

    def __init__(self, primaries: int = 3, node_timeout_ms: int = 1000) -> None:
        server = shutil.which("redis-server")
        cli = shutil.which("redis-cli")
        if server is None:
            unavailable("redis-server is not installed")
        if cli is None:
            unavailable("redis-cli (Debian package redis-tools) is not installed")
        assert server is not None
        assert cli is not None
        self.cli = cli
        self.node_timeout_ms = node_timeout_ms
        self.folder = Path(tempfile.mkdtemp(prefix="secauth-cluster-"))
        ports = free_ports(primaries * 4)  # a client port and a bus port per node, distinct
        node_ports, bus_ports = ports[: primaries * 2], ports[primaries * 2 :]
        self.bus_ports: dict[int, int] = dict(zip(node_ports, bus_ports, strict=True))

        def argv(p: int) -> list[str]:
            return [
                server,
                "--port",
                str(p),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(self.folder / f"nodes-{p}.conf"),
                "--cluster-node-timeout",
                str(node_timeout_ms),
                "--cluster-port",  # the bus port, else port + 10000 (maybe taken or > 65535)
                str(self.bus_ports[p]),
                "--dir",
                str(self.folder),
                "--repl-diskless-sync-delay",  # a replica syncs at once, not after 5 s
                "0",
                "--repl-ping-replica-period",  # CLUSTER SLOTS lists a replica once its
                "1",  # offset moved: the first ping does that (after 10 s by default)
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

        self.nodes = [Server(argv, "redis-server (cluster node)", port) for port in node_ports]

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    @property
    def url(self) -> str:
        """A cluster URL: any one node; the client discovers the others."""
        return f"redis://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> RedisCluster:
        try:
            for node in self.nodes:
                node.start()
            addresses = [f"127.0.0.1:{port}" for port in self.ports]
            create = ["--cluster", "create", *addresses, "--cluster-replicas", "1"]
            done = subprocess.run(
                [self.cli, *create, "--cluster-yes"],
                capture_output=True,
                timeout=60,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(
                    "redis-cli --cluster create failed: "
                    + done.stdout.decode(errors="replace")[-2000:]
                    + done.stderr.decode(errors="replace")[-2000:]
                )
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def client(self, port: int) -> Any:
        """A plain (non-cluster) client of one node, for CLUSTER and INFO commands."""
        import redis

        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2.0)

    def ask(self, port: int, *command: Any) -> Any:
        client = self.client(port)
        try:
            return client.execute_command(*command)
        finally:
            client.close()

    def info(self, port: int, section: str) -> dict[str, Any]:
        client = self.client(port)
        try:
            return dict(client.info(section))
        finally:
            client.close()

    def roles(self) -> dict[int, str]:
        """``port -> "master" | "slave"`` of every running node."""
        return {
            node.port: str(self.info(node.port, "replication")["role"])
            for node in self.nodes
            if node.running
        }

    def slots(self) -> list[tuple[int, int, int, list[int]]]:
        """``(first, last, primary port, [replica ports])`` per slot range (CLUSTER SLOTS),
        as the first running node sees them."""
        port = next(node.port for node in self.nodes if node.running)
        ranges = []
        for entry in self.ask(port, "CLUSTER", "SLOTS"):
            first, last, primary, *replicas = entry
            ranges.append((int(first), int(last), int(primary[1]), [int(r[1]) for r in replicas]))
        return sorted(ranges)

    def node_id(self, port: int) -> str:
        return str(self.ask(port, "CLUSTER", "MYID").decode())

    def wait_healthy(self, timeout: float = 30.0, *, replicas: bool = True) -> None:
        """Until every running node says ``cluster_state:ok`` and agrees on one slot map
        (with a replica for every slot range unless ``replicas=False``), and every
        replica is in sync with its primary."""
        deadline = time.monotonic() + timeout
        problem = "not checked yet"
        while time.monotonic() < deadline:
            problem = self._health_problem(replicas)
            if not problem:
                return
            time.sleep(0.05)
        raise RuntimeError(f"the Redis Cluster is not healthy after {timeout} s: {problem}")

    def _health_problem(self, replicas: bool) -> str:
        import redis

        try:
            running = [node.port for node in self.nodes if node.running]
            for port in running:
                state = self.ask(port, "CLUSTER", "INFO").decode()
                if "cluster_state:ok" not in state:
                    return f"node {port} is not ok"
            maps = {port: self._slot_map(port) for port in running}
            if len(set(maps.values())) != 1:
                return "the nodes disagree on the slot map"
            if replicas and not all(entry[3] for entry in maps[running[0]]):
                return "a slot range has no replica"
            for port in running:
                replication = self.info(port, "replication")
                if replication["role"] == "slave" and (
                    replication.get("master_link_status") != "up"
                    or replication.get("master_sync_in_progress", 0)
                ):
                    return f"replica {port} is not in sync"
        except redis.RedisError as exc:
            return f"{type(exc).__name__}: {exc}"
        return ""

    def _slot_map(self, port: int) -> tuple[Any, ...]:
        entries = []
        for entry in self.ask(port, "CLUSTER", "SLOTS"):
            first, last, primary, *replicas = entry
            entries.append((int(first), int(last), int(primary[1]),
                            tuple(sorted(int(r[1]) for r in replicas))))  # fmt: skip
        return tuple(sorted(entries))

    def kill(self, port: int) -> None:
        """SIGKILL one node (a crash: no shutdown, no failover handshake)."""
        node = next(node for node in self.nodes if node.port == port)
        proc, node.proc = node.proc, None
        assert proc is not None
        proc.kill()
        proc.wait(timeout=5)

    def restart(self, port: int) -> None:
        next(node for node in self.nodes if node.port == port).start()


def redis_cluster(primaries: int = 3) -> RedisCluster:
    """A :class:`RedisCluster` (not started): ``primaries`` primaries + as many replicas."""
    return RedisCluster(primaries)


def slow_first_mget(url: str) -> tuple[Any, threading.Event, threading.Event]:
    """A real redis client whose first ``MGET`` reply is held back: ``entered`` is set when
    it arrives, and it is handed on once ``release`` is set (a store read in flight, for
    race tests)."""
    import redis

    entered, release = threading.Event(), threading.Event()

    class SlowReads(redis.Redis):  # type: ignore[type-arg]
        def mget(self, keys: Any, *args: Any) -> Any:
            replies = super().mget(keys, *args)
            if not entered.is_set():
                entered.set()
                release.wait(10)
            return replies

    return SlowReads.from_url(url), entered, release
