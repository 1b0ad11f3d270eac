"""``RedisStore`` and ``AsyncRedisStore``: one Lua script call per decision on Redis or Valkey.

Each decision is a single ``EVALSHA`` of a script that reads the server's clock
(``redis.call('TIME')``, so container clocks never matter), applies the
algorithm, writes the new state with its expiry in the same script
(``SET ... PX`` or ``PEXPIRE``: no key is ever left without a TTL, unlike an
``INCR`` followed by a separate ``EXPIRE``) and returns allowed, limit,
remaining, reset and retry-after together, so the headers need no second read.
State is one small key per limited key (a string for GCRA, a two- or
three-field hash for the windows): constant memory, no sorted-set log.

The first call after the server lost its script cache costs one extra round
trip (``EVALSHA`` answers ``NOSCRIPT``, then ``EVAL`` sends the source and
caches it).

Clients are built with short timeouts and **no retries** (redis-py's default
retries ten times with backoff, which turns an outage into seconds of latency per
request, and a retry after a timeout could count a request twice). A failure
raises :class:`StoreError`; the limiter applies its failure policy.

Redis Cluster (ElastiCache cluster mode, Valkey): ``cluster=True`` with the URL of
any node (the configuration endpoint), or a ``redis.cluster.RedisCluster`` client.
Every script touches the keys of one slot: a decision's one key, or a penalty's
counter (or set of distinct members) and block, which share a hash tag. The client
follows ``MOVED``/``ASK`` redirections; a failover is a store failure until the replica
is promoted.

``redis`` is imported when a store is constructed, never by ``import secauth``.
Install it with ``pip install 'secauth[redis]'``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from secauth._redis import EvictionCheck, connect, import_redis
from secauth.errors import ConfigurationError
from secauth.ratelimit.limit import Limit
from secauth.ratelimit.result import RateLimitResult
from secauth.ratelimit.store import StoreError
from secauth.ratelimit.windows import CALENDAR_LUA

if TYPE_CHECKING:
    import asyncio

__all__ = ["AsyncRedisStore", "RedisStore"]


# ARGV: algorithm, count, period, cost, interval, burst, calendar unit ('' for none).
# A cost of 0 is a read (``usage``): the same decision, nothing written.
HIT_SCRIPT: Final = (
    CALENDAR_LUA
    + """
local key = KEYS[1]
local algo = ARGV[1]
local count = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local interval = tonumber(ARGV[5])
local burst = tonumber(ARGV[6])
local calendar = ARGV[7] or ''
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

-- A stored count that is no count (negative, NaN, infinite, not a number: written by
-- hand or by another program) reads as a full window: denied, never credit.
local function counted(value)
  if not value then return 0 end
  local n = tonumber(value)
  if n == nil or n ~= n or n < 0 or n == math.huge then return count end
  return n
end

-- A key of another type (written by hand, or by another program) is no state of ours:
-- it is replaced by a full window or burst of ours, which denies this key (no other) and
-- drains as a real one does.
local held = redis.call('TYPE', key)['ok']
local odd = held ~= 'none' and held ~= (algo == 'gcra' and 'string' or 'hash')
if odd and cost == 0 then  -- a usage read writes nothing: the full window's answer alone
  local wait = algo == 'gcra' and interval or period
  return {0, algo == 'gcra' and burst or count, 0, wait, wait}
end
if odd then redis.call('DEL', key) end

if algo == 'gcra' then
  local capacity = burst * interval
  local base = now
  local tat = tonumber(redis.call('GET', key) or '')
  -- No state of ours lies beyond a full burst ahead (nor is NaN): a full burst, written
  -- back so that it drains.
  if odd or (tat and (tat ~= tat or tat > now + capacity)) then
    tat = now + capacity
    if cost > 0 then  -- a usage read (cost 0) writes nothing
      redis.call('SET', key, string.format('%d', tat), 'PX', math.ceil(capacity / 1000))
    end
  end
  if tat and tat > now then base = tat end
  local new_tat = base + cost * interval
  if new_tat - now <= capacity then
    if cost > 0 then
      redis.call('SET', key, string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
    end
    return {1, burst, math.floor((capacity - (new_tat - now)) / interval), new_tat - now, 0}
  end
  return {0, burst, math.max(0, math.floor((capacity - (base - now)) / interval)),
          base - now, new_tat - now - capacity}
end

local window, finish
if calendar ~= '' then
  local first
  window, first, finish = calendar_window(now, calendar)
else
  window = math.floor(now / period)
  finish = (window + 1) * period
end
if odd then  -- a full current window of ours, expiring with the window
  redis.call('HSET', key, 'w', string.format('%d', window), 'c', count, 'p', 0)
  redis.call('PEXPIRE', key, math.ceil((finish + period - now) / 1000))
end
local f = redis.call('HMGET', key, 'w', 'c', 'p')
local w = tonumber(f[1])
local cur = 0
local prev = 0

if algo == 'fixed_window' then
  if w == window then cur = counted(f[2]) end
  if cur + cost <= count then
    cur = cur + cost
    if cost > 0 then
      redis.call('HSET', key, 'w', string.format('%d', window), 'c', cur)
      redis.call('PEXPIRE', key, math.ceil((finish - now) / 1000))
    end
    return {1, count, count - cur, finish - now, 0}
  end
  return {0, count, math.max(0, count - cur), finish - now, finish - now}
end

-- sliding window counter
if w == window then
  cur = counted(f[2])
  prev = counted(f[3])
elseif w == window - 1 then
  prev = counted(f[2])
end
local elapsed = now - window * period
local weighted = prev * (period - elapsed) / period
if weighted + cur + cost <= count then
  cur = cur + cost
  if cost > 0 then
    redis.call('HSET', key, 'w', string.format('%d', window), 'c', cur, 'p', prev)
    redis.call('PEXPIRE', key, math.ceil((finish + period - now) / 1000))
  end
  return {1, count, math.max(0, math.floor(count - weighted) - cur), finish - now, 0}
end
local retry = 0
local room = count - cur - cost
if room >= 0 and prev > 0 then
  local need = period - math.floor(room * period / prev)
  if need < period then retry = math.max(1, need - elapsed) end
end
if retry == 0 then
  local later = 0
  if count - cost < 0 then
    later = period
  elseif cur > 0 then
    later = math.max(0, period - math.floor((count - cost) * period / cur))
  end
  retry = math.max(1, period - elapsed + later)
end
return {0, count, math.max(0, math.floor(count - weighted) - cur),
        math.max(finish - now, retry), retry}
"""
)

RECORD_SCRIPT: Final = """
local left = redis.call('PTTL', KEYS[2])
if left > 0 then return left end
-- A counter that is no count of ours (another type; a negative, fractional or
-- non-numeric value) is past the threshold: the subject is blocked (fail closed).
local held = redis.call('TYPE', KEYS[1])['ok']
local corrupt = held ~= 'none' and held ~= (ARGV[4] ~= '' and 'set' or 'string')
if not corrupt and held == 'string' then
  -- INCR's integers only, as INCR writes them: "0", or digits without a leading zero
  local v = redis.call('GET', KEYS[1])
  corrupt = not (v == '0' or string.match(v, '^[1-9]%d*$')) or #v > 18
end
local n
if corrupt then
  n = tonumber(ARGV[1]) + 1
elseif ARGV[4] ~= '' then
  redis.call('SADD', KEYS[1], ARGV[4])
  n = redis.call('SCARD', KEYS[1])
else
  n = redis.call('INCR', KEYS[1])
end
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return tonumber(ARGV[3])
end
return 0
"""

_HIT_SHA: Final = hashlib.sha1(HIT_SCRIPT.encode(), usedforsecurity=False).hexdigest()
_RECORD_SHA: Final = hashlib.sha1(RECORD_SCRIPT.encode(), usedforsecurity=False).hexdigest()


def _check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not prefix or "{" in prefix or "}" in prefix:
        raise ConfigurationError("RedisStore prefix must be a non-empty string without braces")
    return prefix


def _hit_args(limit: Limit, algorithm: str, cost: int) -> list[Any]:
    if limit.calendar is not None and algorithm != "fixed_window":
        raise ConfigurationError(
            f"calendar quota {limit.describe()!r} decides with 'fixed_window' only"
        )
    return [
        algorithm,
        limit.count,
        limit.period_us,
        cost,
        limit.interval_us,
        limit.burst,
        limit.calendar or "",
    ]


def _result(reply: Any, limit: Limit, policy: str) -> RateLimitResult:
    allowed, quota, remaining, reset_us, retry_us = (int(x) for x in reply)
    # Redis turns a number past 64 bits into -2**63: never a negative time or remainder.
    return RateLimitResult(
        allowed == 1,
        quota,
        min(quota, max(0, remaining)),
        max(0, reset_us, retry_us) / 1_000_000,
        max(0, retry_us) / 1_000_000,
        policy=policy,
        window=limit.period,
    )


def _reason(exc: BaseException) -> str:
    return f"redis: {type(exc).__name__}"


class _RedisBase:
    algorithms = ("fixed_window", "sliding_window", "gcra")
    shared = True
    is_async = False

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        cluster: bool = False,
        prefix: str = "secauth",
        socket_timeout: float = 0.2,
        connect_timeout: float = 0.2,
        check_eviction: bool = True,
        eviction_recheck: float = 60.0,
    ) -> None:
        self.prefix = _check_prefix(prefix)
        owner = type(self).__name__
        self._eviction = EvictionCheck(owner, enabled=check_eviction, every=eviction_recheck)
        redis = import_redis(owner)
        if (url is None) == (client is None):
            raise ConfigurationError(f"{owner} needs exactly one of url= or client=")
        # A client the store builds itself can be built again (AsyncRedisStore: one per
        # event loop); one given as client= cannot.
        self._connect: Callable[[], Any] | None = None
        if client is None:
            self._connect = partial(connect, url, owner=owner, cluster=cluster,
                                    socket_timeout=socket_timeout, connect_timeout=connect_timeout,
                                    asyncio=self.is_async)  # fmt: skip
            client = self._connect()
        self.client = client
        self._noscript = redis.exceptions.NoScriptError
        # AsyncRedisStore: each live event loop's client; the first loop takes ``client``.
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}
        self._first_taken = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prefix={self.prefix!r})"

    def _key(self, key: str, algorithm: str) -> str:
        # the algorithm's initial: one key never holds two algorithms' state (WRONGTYPE)
        return f"{self.prefix}:rl:{algorithm[0]}:{key}"

    def _block_key(self, subject: str) -> str:
        # a hash tag per subject: counter and block share a slot (Redis Cluster)
        return "{" + f"{self.prefix}:pen:{subject}" + "}:b"

    def _record_call(
        self, subject: str, kind: str, threshold: Limit, cooldown: float, member: str | None
    ) -> tuple[list[str], list[Any]]:
        base = "{" + f"{self.prefix}:pen:{subject}" + "}"
        args = [
            threshold.count,
            max(1, threshold.period_us // 1000),
            max(1, round(cooldown * 1000)),
            member or "",
        ]
        # distinct members live in a set (exact; deleted at threshold + 1), under a key of
        # its own: never a WRONGTYPE against the HyperLogLog of earlier releases
        counter = f"{base}:{kind}" if member is None else f"{base}:{kind}:set"
        return [counter, f"{base}:b"], args


class RedisStore(_RedisBase):
    """Rate-limit and penalty state in Redis or Valkey (sync, ``redis`` package).

    Parameters
    ----------
    url:
        ``redis://host:6379/0`` or ``rediss://...`` (TLS, as ElastiCache in-transit
        encryption needs). Either ``url`` or ``client``.
    client:
        An existing ``redis.Redis`` or ``redis.cluster.RedisCluster`` (its own timeouts
        and retries then apply).
    cluster:
        ``url`` names a node of a Redis Cluster (default False): the store then builds a
        ``RedisCluster`` client, which reads the slot map at its first command.
    prefix:
        Namespace of every key (default ``"secauth"``).
    socket_timeout, connect_timeout:
        Seconds (default 0.2 each); a decision never waits longer than that.
    check_eviction, eviction_recheck:
        The server must never evict a key before its expiry: under memory pressure an
        evicting one forgets counters and penalty blocks (keys with an expiry go first
        under ``volatile-*`` policies, ElastiCache's default), which unblocks a blocked
        caller. At its first use, and again every ``eviction_recheck`` seconds (default
        60), the store reads ``INFO memory`` and fails with a :class:`StoreError` (the
        limiter's ``on_store_error`` applies) until the server has ``maxmemory-policy
        noeviction`` or no ``maxmemory``. ``check_eviction=False`` (default True) skips
        that: for a server that refuses ``INFO``, or where a forgotten count is accepted.

    Example
    -------
    ``RateLimiter.per_principal("1000/hour", store=RedisStore(url="redis://cache:6379/0"))``;
    cluster mode: ``RedisStore(url="rediss://clustercfg.my-cache...amazonaws.com:6379",
    cluster=True)``.
    """

    def _script(self, sha: str, source: str, keys: list[str], args: list[Any]) -> Any:
        self._eviction.ensure(self.client, StoreError)
        try:
            try:
                return self.client.evalsha(sha, len(keys), *keys, *args)
            except self._noscript:
                return self.client.eval(source, len(keys), *keys, *args)
        except Exception as exc:
            raise StoreError(_reason(exc)) from exc

    def hit(
        self, key: str, limit: Limit, algorithm: str, cost: int = 1, *, policy: str = "default"
    ) -> RateLimitResult:
        reply = self._script(
            _HIT_SHA, HIT_SCRIPT, [self._key(key, algorithm)], _hit_args(limit, algorithm, cost)
        )
        return _result(reply, limit, policy)

    def usage(
        self, key: str, limit: Limit, algorithm: str, *, policy: str = "default"
    ) -> RateLimitResult:
        """The state of ``key`` without spending: the same script with cost 0, one round
        trip, on the server's clock, writing nothing."""
        reply = self._script(
            _HIT_SHA, HIT_SCRIPT, [self._key(key, algorithm)], _hit_args(limit, algorithm, 0)
        )
        return _result(reply, limit, policy)

    def blocked_for(self, subject: str) -> float:
        self._eviction.ensure(self.client, StoreError)
        try:
            left = self.client.pttl(self._block_key(subject))
        except Exception as exc:
            raise StoreError(_reason(exc)) from exc
        return max(0, int(left)) / 1000

    def record(
        self,
        subject: str,
        kind: str,
        threshold: Limit,
        cooldown: float,
        member: str | None = None,
    ) -> float:
        keys, args = self._record_call(subject, kind, threshold, cooldown, member)
        return int(self._script(_RECORD_SHA, RECORD_SCRIPT, keys, args)) / 1000

    def close(self) -> None:
        self.client.close()


class AsyncRedisStore(_RedisBase):
    """The same store over ``redis.asyncio`` for ``await limiter.hit_async(...)``.

    Parameters are those of :class:`RedisStore`; ``client`` is a ``redis.asyncio.Redis``
    or ``redis.asyncio.cluster.RedisCluster``.

    A ``redis.asyncio`` connection belongs to the event loop that opened it, and a Lambda
    handler run with ``asyncio.run`` gets a new loop on every invocation. So a store made
    from ``url=`` has a client per event loop (``client`` is the one used last; a closed
    loop's client is dropped); a ``client=`` of yours serves the loop it is first used in
    only, and a call from another loop fails as the store does (a ``StoreError``: the
    limiter's ``on_store_error`` applies). Keep one loop per container to reuse
    connections. A connection the server closed while the container was frozen (an idle
    timeout) is opened again for the command, once (the sync client checks its connections
    before use).
    """

    is_async = True

    def _loop_client(self) -> Any:
        """The client of the running event loop."""
        import asyncio

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # A closed loop's client goes (its connections are closed when collected).
            for closed in [known for known in self._clients if known.is_closed()]:
                del self._clients[closed]
            if not self._first_taken:
                client, self._first_taken = self.client, True
            elif self._connect is None:
                raise StoreError("redis: a client of another event loop")
            else:
                client = self._connect()
            self._clients[loop] = client
        self.client = client
        return client

    async def _script(self, sha: str, source: str, keys: list[str], args: list[Any]) -> Any:
        client = self._loop_client()
        await self._eviction.ensure_async(client, StoreError)
        try:
            try:
                return await client.evalsha(sha, len(keys), *keys, *args)
            except self._noscript:
                return await client.eval(source, len(keys), *keys, *args)
        except Exception as exc:
            raise StoreError(_reason(exc)) from exc

    async def hit_async(
        self, key: str, limit: Limit, algorithm: str, cost: int = 1, *, policy: str = "default"
    ) -> RateLimitResult:
        reply = await self._script(
            _HIT_SHA, HIT_SCRIPT, [self._key(key, algorithm)], _hit_args(limit, algorithm, cost)
        )
        return _result(reply, limit, policy)

    async def usage_async(
        self, key: str, limit: Limit, algorithm: str, *, policy: str = "default"
    ) -> RateLimitResult:
        reply = await self._script(
            _HIT_SHA, HIT_SCRIPT, [self._key(key, algorithm)], _hit_args(limit, algorithm, 0)
        )
        return _result(reply, limit, policy)

    async def blocked_for_async(self, subject: str) -> float:
        client = self._loop_client()
        await self._eviction.ensure_async(client, StoreError)
        try:
            left = await client.pttl(self._block_key(subject))
        except Exception as exc:
            raise StoreError(_reason(exc)) from exc
        return max(0, int(left)) / 1000

    async def record_async(
        self,
        subject: str,
        kind: str,
        threshold: Limit,
        cooldown: float,
        member: str | None = None,
    ) -> float:
        keys, args = self._record_call(subject, kind, threshold, cooldown, member)
        return int(await self._script(_RECORD_SHA, RECORD_SCRIPT, keys, args)) / 1000

    async def aclose(self) -> None:
        """Close the running loop's client; other loops' clients are dropped (a closed
        loop's connections cannot be closed from another)."""
        import asyncio

        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is None and not self._first_taken:
            client, self._first_taken = self.client, True  # built, never used: nothing open
        self._clients.clear()
        if client is not None:
            await client.aclose()
