"""Where a :class:`~secauth.dpop.DpopVerifier` remembers the DPoP proofs it accepted, so a
proof is used once (RFC 9449 section 11.1): in this container's memory, in Redis (single
node or Cluster) or in DynamoDB.

A store answers one question in **one round trip**: "record this key until ``expires_at``,
unless it is already there" (``SET NX PX``; a conditional ``PutItem``). The verifier asks
it last, once every other check of the proof passed, with a key made of the proof key's
RFC 7638 thumbprint and a hash of the proof's ``jti``; an entry lives as long as the proof
could still be accepted (its ``iat`` plus the verifier's window). Clients are built with
short timeouts and no retries; a failure raises :class:`ReplayStoreUnavailable`, which the
verifier turns into a 503 (``keys_unavailable``): never an accepted proof. ``redis`` and
``boto3`` are imported when a store is built, never by ``import secauth``.

>>> store = MemoryReplayStore(clock=lambda: 10.0)
>>> store.first_use("jkt-1:jti-1", expires_at=20.0), store.first_use("jkt-1:jti-1", expires_at=20.0)
(True, False)
"""

from __future__ import annotations

import inspect
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from secauth._aws import (
    check_timeouts,
    create_pk_table,
    dynamodb_table_client,
    error_code,
)
from secauth._redis import EvictionCheck, connect
from secauth.errors import ConfigurationError

__all__ = [
    "DynamoDBReplayStore",
    "MemoryReplayStore",
    "RedisReplayStore",
    "ReplayStore",
    "ReplayStoreUnavailable",
]


class ReplayStoreUnavailable(Exception):
    """A replay store could not answer (its message says why, never a key)."""


class ReplayStore(Protocol):
    """Remembers keys until they expire, shared by every container that checks proofs."""

    def first_use(self, key: str, expires_at: float) -> bool:
        """Record ``key`` until ``expires_at`` (epoch seconds) and return True, or return
        False when it is already recorded; raise :class:`ReplayStoreUnavailable` on failure."""
        ...


class MemoryReplayStore:
    """Keys in this container's memory: for tests and a single container. A Lambda function
    runs many containers: a proof replayed to another one is not seen here; share a
    :class:`RedisReplayStore` or :class:`DynamoDBReplayStore` between them.

    A key is kept until ``expires_at`` by the wall clock *and* for as long in elapsed time
    (``monotonic``), so a wall clock stepped forward, then back, cannot make the store
    forget a proof that is in its window again.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._monotonic = monotonic
        # key -> (expires_at by the wall clock, the same moment by the monotonic clock)
        self._entries: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._sweep_at = 1024

    def first_use(self, key: str, expires_at: float) -> bool:
        with self._lock:
            now, elapsed = self._clock(), self._monotonic()
            entries = self._entries
            entry = entries.get(key)
            if entry is not None and (now < entry[0] or elapsed < entry[1]):
                return False
            entries[key] = (expires_at, elapsed + max(0.0, expires_at - now))
            if len(entries) >= self._sweep_at:
                # Drop what has expired by both clocks; the next sweep waits until the live
                # entries double, so a store of many live keys is not copied every few inserts.
                self._entries = {
                    k: e for k, e in entries.items() if now < e[0] or elapsed < e[1]
                }
                self._sweep_at = max(1024, 2 * len(self._entries))
        return True


class RedisReplayStore:
    """Keys in Redis or Valkey, single node or Cluster: one ``SET key 1 NX PX ttl`` each.

    Give ``url`` (``redis://host:6379/0``; ``rediss://`` for TLS) or a ready ``client``
    (a ``redis.Redis`` or ``redis.cluster.RedisCluster``). Keys are ``<prefix><key>``.

    The server must never evict a record before its expiry (an evicted proof could be
    replayed): at its first use, and again every ``eviction_recheck`` seconds, the store
    reads ``INFO memory`` and fails (503) until the server has no ``maxmemory`` or
    ``maxmemory-policy noeviction``; ``check_eviction=False`` skips that.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        prefix: str = "secauth:dpop:",
        socket_timeout: float = 0.25,
        connect_timeout: float = 0.25,
        check_eviction: bool = True,
        eviction_recheck: float = 60.0,
    ) -> None:
        if (url is None) == (client is None):
            raise ConfigurationError("RedisReplayStore takes a url or a client, not both")
        self._eviction = EvictionCheck(
            "RedisReplayStore", enabled=check_eviction, every=eviction_recheck
        )
        if not isinstance(prefix, str):
            raise ConfigurationError("RedisReplayStore prefix must be a string")
        check_timeouts(
            "RedisReplayStore", socket_timeout=socket_timeout, connect_timeout=connect_timeout
        )
        if client is None:
            client = connect(
                url,
                owner="RedisReplayStore",
                cluster=False,
                socket_timeout=socket_timeout,
                connect_timeout=connect_timeout,
            )
        if any(  # redis.asyncio: set() returns a coroutine, execute_command is one
            inspect.iscoroutinefunction(getattr(client, name, None))
            for name in ("set", "execute_command")
        ):
            raise ConfigurationError(
                "RedisReplayStore needs a synchronous client (redis.Redis or RedisCluster), "
                "not redis.asyncio: its set() would never run"
            )
        self.client = client
        self.prefix = prefix

    def first_use(self, key: str, expires_at: float) -> bool:
        self._eviction.ensure(self.client, ReplayStoreUnavailable)
        ttl_ms = max(1, math.ceil((expires_at - time.time()) * 1000))
        try:
            created = self.client.set(self.prefix + key, b"1", nx=True, px=ttl_ms)
        except Exception as exc:  # any client failure is an outage, never a first use
            raise ReplayStoreUnavailable(f"redis: {type(exc).__name__}") from None
        if created is True:
            return True
        if created is None or created is False:  # NX: the key was there
            return False
        # Not a reply at all (a coroutine of an asyncio client, a pipeline): never a first use.
        raise ReplayStoreUnavailable(f"redis: unexpected reply {type(created).__name__}")


class DynamoDBReplayStore:
    """Keys in a DynamoDB table: partition key ``pk`` (string) and the TTL attribute
    ``expires_at`` (enable TTL on it). One conditional ``PutItem`` per proof: it succeeds
    when the key is absent or expired (TTL deletion is lazy), and fails otherwise.
    :meth:`create_table` makes a table for tests."""

    def __init__(
        self,
        table: str,
        *,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        connect_timeout: float = 0.5,
        read_timeout: float = 0.5,
    ) -> None:
        self.client = dynamodb_table_client(
            "DynamoDBReplayStore",
            table,
            client,
            region=region,
            endpoint_url=endpoint_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            attempts=1,  # a retried write could find its own first attempt: a false replay
        )
        self.table = table

    def first_use(self, key: str, expires_at: float) -> bool:
        item = {"pk": {"S": key}, "expires_at": {"N": str(math.ceil(expires_at))}}
        try:
            answer = self.client.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(math.floor(time.time()))}},
            )
        except Exception as exc:
            code = error_code(exc)
            if code == "ConditionalCheckFailedException":
                return False
            raise ReplayStoreUnavailable(f"dynamodb: {code}") from None
        if not isinstance(answer, Mapping):  # an async client's coroutine: nothing was written
            raise ReplayStoreUnavailable(f"dynamodb: unexpected reply {type(answer).__name__}")
        return True

    def create_table(self) -> None:
        """Create the table (on-demand capacity) and wait until it is active."""
        create_pk_table(self.client, self.table)
