"""Where :class:`~secauth.revocation.Revocations` keeps its entries: in this container's
memory, in Redis (single node or Cluster) or in DynamoDB.

Every store answers a token's keys in **one round trip** (``MGET``; ``BatchGetItem``)
and writes an entry with its expiry (a script's ``SET ... PX``; a TTL attribute), so
nothing stays longer than the longest-lived token it can affect. A write to a key that
holds a live entry keeps the later time and the later expiry of the two (two sign-outs:
the later ``before`` stands, as long as either needs); a damaged entry is replaced.
Clients are built with short timeouts and no retries; a failure raises
:class:`~secauth.revocation.StoreUnavailable`, and the list applies its failure policy.
``redis`` and ``boto3`` are imported when a store is built, never by ``import secauth``.

>>> store = MemoryRevocationStore(clock=lambda: 10.0)
>>> store.put("jti|https://idp/|t-1", 5.0, expires_at=20.0)
>>> store.lookup(["jti|https://idp/|t-1", "jti|https://idp/|t-2"])
{'jti|https://idp/|t-1': 5.0, 'jti|https://idp/|t-2': None}
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from secauth._aws import (
    check_timeouts,
    create_pk_table,
    dynamodb_table_client,
    error_code,
)
from secauth._redis import EvictionCheck, connect
from secauth.claim_policy import MAX_TIME
from secauth.errors import ConfigurationError
from secauth.revocation import StoreUnavailable

__all__ = ["DynamoDBRevocationStore", "MemoryRevocationStore", "RedisRevocationStore"]

# One hash tag for every key: a Redis Cluster keeps them in one slot, so one MGET answers
# all keys of a token.
_REDIS_TAG: Final = "{secauth-revocations}"
_BATCH_LIMIT: Final = 100  # BatchGetItem's item limit; a token has at most four keys
# How a Redis entry's time is written (_redis_time), and the only form read back (the
# script's and _redis_number's reading agree: anything else is damaged).
_REDIS_TIME: Final = re.compile(r"-?[0-9]+\.[0-9]+")
# The later time and the longer life of the entry there and this one (ARGV: the time, the
# TTL in ms). A damaged entry (not of the written form) is replaced; an entry without a
# TTL keeps none; a kept time keeps its own text (a number printed by Lua loses digits).
_PUT_LATER: Final = """
local text = redis.call('GET', KEYS[1])
local current = text and string.match(text, '^%-?%d+%.%d+$') and tonumber(text)
if current and (current ~= current or current == math.huge or current == -math.huge) then
  current = nil  -- too long to be a time: damaged, as the lookup reads it
end
local left = redis.call('PTTL', KEYS[1])
if current and left == -1 then
  if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL') end
  return 0
end
local px = ARGV[2]
if current and left > tonumber(px) then px = string.format('%d', left) end
if current and current >= tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], px)
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', px)
return 1
"""


class MemoryRevocationStore:
    """Entries in this container's memory: for tests and a single container."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def lookup(self, keys: list[str]) -> dict[str, float | None]:
        now = self._clock()
        with self._lock:
            found = {key: self._entries.get(key) for key in keys}
        return {key: e[0] if e is not None and now < e[1] else None for key, e in found.items()}

    def put(self, key: str, value: float, expires_at: float) -> None:
        with self._lock:
            now = self._clock()
            current = self._entries.get(key)
            if current is not None and now < current[1]:  # a live entry: keep the later
                value, expires_at = max(value, current[0]), max(expires_at, current[1])
            self._entries[key] = (value, expires_at)
            if len(self._entries) % 1024 == 0:  # now and then, drop what has expired
                self._entries = {k: e for k, e in self._entries.items() if now < e[1]}


class RedisRevocationStore:
    """Entries in Redis or Valkey, single node or Cluster (one hash tag, so one ``MGET``).

    Give ``url`` (``redis://host:6379/0``; ``rediss://`` for TLS) or a ready ``client``
    (a ``redis.Redis`` or ``redis.cluster.RedisCluster``). For a Redis Cluster
    (ElastiCache cluster mode), give the URL of any node (the configuration endpoint)
    with ``cluster=True``. Keys are ``<prefix>{secauth-revocations}<sha256 of the entry
    key>``: every entry lives in one slot, so one shard holds the whole list.

    The server must never evict an entry before its expiry: at its first use, and again
    every ``eviction_recheck`` seconds, the store reads ``INFO memory``, and fails (the
    list's failure policy applies) until the server has no ``maxmemory`` or
    ``maxmemory-policy noeviction``. ``check_eviction=False`` skips that, for a server you
    know never evicts but that refuses ``INFO``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        cluster: bool = False,
        prefix: str = "secauth:rev:",
        socket_timeout: float = 0.25,
        connect_timeout: float = 0.25,
        check_eviction: bool = True,
        eviction_recheck: float = 60.0,
    ) -> None:
        if (url is None) == (client is None):
            raise ConfigurationError("RedisRevocationStore takes a url or a client, not both")
        self._eviction = EvictionCheck(
            "RedisRevocationStore", enabled=check_eviction, every=eviction_recheck
        )
        if not isinstance(prefix, str) or "{" in prefix or "}" in prefix:
            raise ConfigurationError("RedisRevocationStore prefix must be a string without braces")
        check_timeouts(
            "RedisRevocationStore", socket_timeout=socket_timeout, connect_timeout=connect_timeout
        )
        if client is None:
            client = connect(
                url,
                owner="RedisRevocationStore",
                cluster=cluster,
                socket_timeout=socket_timeout,
                connect_timeout=connect_timeout,
            )
        self.client = client
        self.prefix = prefix

    def _name(self, key: str) -> str:
        return self.prefix + _REDIS_TAG + _sha256_hex(key)

    def lookup(self, keys: list[str]) -> dict[str, float | None]:
        self._eviction.ensure(self.client, StoreUnavailable)
        try:
            replies = self.client.mget([self._name(key) for key in keys])
        except Exception as exc:  # any client failure is an outage, never an allow
            raise StoreUnavailable(f"redis: {type(exc).__name__}") from None
        return {key: _redis_number(reply) for key, reply in zip(keys, replies, strict=True)}

    def put(self, key: str, value: float, expires_at: float) -> None:
        self._eviction.ensure(self.client, StoreUnavailable)
        ttl_ms = max(1, math.ceil((min(expires_at, MAX_TIME) - time.time()) * 1000))
        try:
            self.client.eval(_PUT_LATER, 1, self._name(key), _redis_time(value), ttl_ms)
        except Exception as exc:
            raise StoreUnavailable(f"redis: {type(exc).__name__}") from None


class DynamoDBRevocationStore:
    """Entries in a DynamoDB table: partition key ``pk`` (string: the SHA-256 digest of the
    entry's key, as in Redis, so no ``jti`` or subject sits in the table in clear and no
    claim, however long, exceeds DynamoDB's 2048-byte key limit), the revocation time in
    ``at`` and the TTL attribute ``expires_at`` (enable TTL on it). One ``BatchGetItem``
    (strongly consistent) per lookup; :meth:`create_table` makes a table for tests."""

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
            "DynamoDBRevocationStore",
            table,
            client,
            region=region,
            endpoint_url=endpoint_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            attempts=2,
        )
        self.table = table

    def lookup(self, keys: list[str]) -> dict[str, float | None]:
        if len(keys) > _BATCH_LIMIT:
            raise ConfigurationError("at most 100 keys per lookup")
        by_digest = {_sha256_hex(key): key for key in keys}
        request = {
            self.table: {"Keys": [{"pk": {"S": pk}} for pk in by_digest], "ConsistentRead": True}
        }
        try:
            reply = self.client.batch_get_item(RequestItems=request)
        except Exception as exc:
            raise StoreUnavailable(f"dynamodb: {error_code(exc)}") from None
        if reply.get("UnprocessedKeys"):
            raise StoreUnavailable("dynamodb: unprocessed keys (throttled)")
        now = time.time()
        out: dict[str, float | None] = dict.fromkeys(keys)
        for item in reply.get("Responses", {}).get(self.table, []):
            key = by_digest.get(item.get("pk", {}).get("S"))
            at = _number(item.get("at", {}).get("N"))
            if at is None:  # an entry without its time is damaged: never "not revoked"
                raise StoreUnavailable("unreadable revocation entry")
            until = _number(item.get("expires_at", {}).get("N"))
            if key in out and (until is None or now < until):
                out[key] = at  # TTL deletion is lazy: an expired item still read is no entry
        return out

    def put(self, key: str, value: float, expires_at: float) -> None:
        pk = _sha256_hex(key)
        item = {
            "pk": {"S": pk},
            "at": {"N": repr(float(value))},
            "expires_at": {"N": str(math.ceil(expires_at))},
        }
        for _ in range(3):  # read, merge, write unless another write came in between
            try:
                found = self.client.get_item(
                    TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True
                ).get("Item")
                merged = _merged(item, found)
                self.client.put_item(TableName=self.table, Item=merged, **_unchanged(found))
                return
            except Exception as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise StoreUnavailable(f"dynamodb: {error_code(exc)}") from None
        raise StoreUnavailable("dynamodb: the entry kept changing (concurrent revocations)")

    def create_table(self) -> None:
        """Create the table (on-demand capacity) and wait until it is active."""
        create_pk_table(self.client, self.table)

    @staticmethod
    def item_key(key: str) -> str:
        """The partition key ``pk`` an entry's ``key`` is stored under (its SHA-256), to
        find an entry in the table by hand.

        >>> len(DynamoDBRevocationStore.item_key("jti|https://idp.example.com/|t-1"))
        64
        """
        return _sha256_hex(key)


def _sha256_hex(key: str) -> str:
    """An entry's key as stored: its SHA-256 digest (hex), the same length for any key."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _merged(item: dict[str, Any], found: dict[str, Any] | None) -> dict[str, Any]:
    """``item``, with the later time and expiry of ``found`` when :meth:`lookup
    <DynamoDBRevocationStore.lookup>` reads it as live (an item without ``expires_at``
    lives on, and still does); an expired or damaged one is replaced."""
    if not found:
        return item
    try:  # read as lookup reads it
        at = _number(found.get("at", {}).get("N"))
        until = _number(found.get("expires_at", {}).get("N"))
    except (AttributeError, StoreUnavailable):
        return item  # damaged (lookups fail on it): replaced
    if at is None or (until is not None and until <= time.time()):
        return item
    merged = {"pk": item["pk"], "at": found["at"] if at >= float(item["at"]["N"]) else item["at"]}
    if until is not None:  # a bound beyond 2**53 is no bound: DynamoDB takes 38 digits
        longest = min(max(until, float(item["expires_at"]["N"])), MAX_TIME)
        merged["expires_at"] = {"N": str(math.ceil(longest))}
    return merged


def _unchanged(found: dict[str, Any] | None) -> dict[str, Any]:
    """The condition that the item's time and expiry are still ``found``'s (or that it is
    still absent); other attributes are not compared."""
    if not found:
        return {"ConditionExpression": "attribute_not_exists(pk)"}
    names, values, parts = {}, {}, []
    for i, name in enumerate(("at", "expires_at")):
        names[f"#a{i}"] = name
        if name in found:
            values[f":v{i}"] = found[name]
            parts.append(f"#a{i} = :v{i}")
        else:
            parts.append(f"attribute_not_exists(#a{i})")
    condition = {"ConditionExpression": " AND ".join(parts), "ExpressionAttributeNames": names}
    return {**condition, "ExpressionAttributeValues": values} if values else condition


def _redis_time(value: float) -> str:
    """``value`` in the written form, rounded up to the microsecond: never below it, so a
    sign-out still refuses a token issued in its last microsecond."""
    from decimal import ROUND_CEILING, Decimal  # on a revocation's write only

    return str(Decimal(float(value)).quantize(Decimal("0.000001"), rounding=ROUND_CEILING))


def _redis_number(value: Any) -> float | None:
    """A Redis entry's time (:func:`_number`), in the form entries are written only."""
    if value is not None:
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        if not isinstance(text, str) or _REDIS_TIME.fullmatch(text) is None:
            raise StoreUnavailable("unreadable revocation entry")
    return _number(value)


def _number(value: Any) -> float | None:
    """A stored number, None when absent; anything unreadable is an outage (fail closed:
    a damaged entry never reads as "not revoked")."""
    if value is None:
        return None
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    try:
        number = float(text)
    except (TypeError, ValueError):
        raise StoreUnavailable("unreadable revocation entry") from None
    if not math.isfinite(number):
        raise StoreUnavailable("unreadable revocation entry")
    return number
