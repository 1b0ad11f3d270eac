"""Calendar quotas ("10000/month", "700/week", "100/calendar day") on the three stores.

The grammar (accepted and refused spellings), the UTC calendar arithmetic against
``datetime`` (Python) and on a real redis-server (the Lua in the hit script), window
edges on the memory store and on dynalite with injected wall clocks, the reset time
being the period's end (headers included) on Redis's own clock, refusal of the sliding
window and GCRA, and ``usage`` reading without spending.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from rl_services import RequestCounter

from secauth.errors import ConfigurationError
from secauth.ratelimit import Limit, MemoryStore, RateLimiter
from secauth.ratelimit.dynamodb_store import DynamoDBStore
from secauth.ratelimit.redis_store import RedisStore
from secauth.ratelimit.windows import CALENDAR_LUA, calendar_window


def us(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 1_000_000


def seconds(text: str) -> float:
    return us(text) / 1_000_000


def event(ip: str = "198.51.100.7") -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": "/",
        "requestContext": {"http": {"method": "GET", "path": "/", "sourceIp": ip}},
    }


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- the grammar ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("10000/month", "month"),
        ("10000 per month", "month"),
        ("10000/calendar month", "month"),
        ("700/week", "week"),
        ("700/Calendar week", "week"),
        ("100/calendar day", "day"),
        ("100 per calendar day", "day"),
    ],
)
def test_calendar_spellings(text: str, unit: str) -> None:
    limit = Limit.parse(text)
    assert limit.calendar == unit
    assert limit == Limit.quota(limit.count, unit)


def test_rolling_periods_stay_rolling() -> None:
    """'50/day' and '10/7d' are rolling windows of that length, as before."""
    assert Limit.parse("50/day").calendar is None
    assert Limit.parse("50/day").period == 86400.0
    assert Limit.parse("10/7d").period == 7 * 86400.0
    assert Limit.parse("50/day") != Limit.parse("50/calendar day")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10/months", "ambiguous period 'months'; write '10/month' for the calendar month"),
        ("10/mo", "ambiguous period 'mo'"),
        ("10/mon", "ambiguous period 'mon'"),
        ("10/wk", "write '10/week' for the calendar week"),
        ("10/weeks", "ambiguous period 'weeks'"),
        ("10/2 weeks", "ambiguous period 'weeks'"),
        ("10/daily", "'10/day' for a rolling 24 hours or '10/calendar day'"),
        ("10/2 months", "ambiguous period 'months'"),
        ("10/2 month", "a calendar month takes no number"),
        ("10/3 calendar days", "'calendar' goes with day, week or month"),
        ("10/calendar days", "'calendar' goes with day, week or month"),
        ("10/calendar hour", "'calendar' goes with day, week or month"),
        ("0/month", "count must be a whole number"),
        ("10/year", "unknown time unit 'year'"),
    ],
)
def test_ambiguous_spellings_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as exc:
        Limit.parse(text)
    assert message in exc.value.public_message


def test_describe_and_repr() -> None:
    assert Limit.parse("10000/month").describe() == "10000/month"
    assert Limit.parse("5/calendar day").describe() == "5/calendar day"
    assert repr(Limit.parse("700/week")) == "Limit.quota(700, 'week')"
    assert Limit.parse("700/week").period == 7 * 86400.0


# --- the arithmetic ---------------------------------------------------------------------

instants = st.integers(0, us("2200-01-01T00:00:00") - 1)


def oracle(now_us: int, unit: str) -> tuple[int, int]:
    """Window start and end from datetime, written apart from the code under test."""
    moment = datetime.fromtimestamp(now_us // 1_000_000, UTC)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        start, end = midnight, midnight + timedelta(days=1)
    elif unit == "week":
        start = midnight - timedelta(days=moment.isoweekday() - 1)
        end = start + timedelta(days=7)
    else:
        start = midnight.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    return int(start.timestamp()) * 1_000_000, int(end.timestamp()) * 1_000_000


@settings(max_examples=400, deadline=None)
@given(now=instants, unit=st.sampled_from(["day", "week", "month"]))
def test_python_windows_match_datetime(now: int, unit: str) -> None:
    index, start, end = calendar_window(now, unit)
    assert (start, end) == oracle(now, unit)
    assert start <= now < end
    assert calendar_window(start, unit)[0] == index
    assert calendar_window(end, unit)[0] == index + 1
    assert calendar_window(start - 1, unit)[0] == index - 1


EDGES = [
    "1970-01-01T00:00:00",
    "2000-02-29T12:00:00",
    "2024-02-29T23:59:59",
    "2024-03-01T00:00:00",
    "2025-02-28T23:59:59",
    "2100-02-28T23:59:59",
    "2100-03-01T00:00:00",
    "2024-12-31T23:59:59",
    "2025-01-01T00:00:00",
    "2025-12-29T00:00:00",  # a Monday; ISO week 1 of 2026
    "2025-12-28T23:59:59",  # a Sunday
    "2026-04-30T23:59:59",
    "2026-05-31T23:59:59",
]


def test_lua_windows_match_python_on_redis(redis_url: str) -> None:
    """The Lua of the hit script, run by a real redis-server, gives the same windows as
    Python at every edge listed and at 3000 random instants (1970-2200)."""
    import random

    rng = random.Random(17)
    points = [us(t) + d for t in EDGES for d in (-1, 0, 1)]
    points += [rng.randrange(0, us("2200-01-01T00:00:00")) for _ in range(3000)]
    script = (
        CALENDAR_LUA
        + """
local out = {}
for i = 2, #ARGV do
  local index, first, finish = calendar_window(tonumber(ARGV[i]), ARGV[1])
  out[#out + 1] = string.format('%d %d %d', index, first, finish)
end
return out
"""
    )
    client = redis.Redis.from_url(redis_url)
    for unit in ("day", "week", "month"):
        for chunk in range(0, len(points), 500):
            batch = [p for p in points[chunk : chunk + 500] if p >= 0]
            reply = client.eval(script, 0, unit, *batch)
            got = [tuple(int(x) for x in line.split()) for line in reply]
            assert got == [calendar_window(p, unit) for p in batch], unit
    client.close()


# --- the memory store -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "last", "first"),
    [
        ("month", "2024-02-29T23:59:59", "2024-03-01T00:00:00"),
        ("week", "2025-01-05T23:59:59", "2025-01-06T00:00:00"),  # Sunday -> Monday
        ("day", "2025-06-30T23:59:59", "2025-07-01T00:00:00"),
    ],
)
def test_memory_store_resets_at_the_calendar_edge(unit: str, last: str, first: str) -> None:
    wall = Clock(seconds(last) + 0.5)
    store = MemoryStore(wall_clock=wall, clock=lambda: 0.0)  # the monotonic clock is unused
    limiter = RateLimiter.per_ip(Limit.quota(2, unit), store=store)
    results = [limiter.hit(event()) for _ in range(3)]
    assert [r.allowed for r in results] == [True, True, False]
    assert results[0].reset_after == pytest.approx(0.5)  # the period's end
    assert results[2].retry_after == pytest.approx(0.5)
    assert results[0].headers()["RateLimit"] == '"ip";r=1;t=1'
    wall.now = seconds(first)
    assert limiter.hit(event()).allowed
    _, start, end = calendar_window(us(first), unit)
    assert limiter.hit(event()).reset_after == pytest.approx((end - start) / 1_000_000)


def test_month_length_drives_the_reset() -> None:
    """On 1 February the reset is 29 days away in 2024 and 28 in 2025."""
    for year, days in ((2024, 29), (2025, 28)):
        store = MemoryStore(wall_clock=Clock(seconds(f"{year}-02-01T00:00:00")))
        result = store.hit("k", Limit.quota(10, "month"), "fixed_window")
        assert result.reset_after == days * 86400


def test_sliding_window_and_gcra_are_refused_for_calendar_quotas() -> None:
    for algorithm in ("sliding_window", "gcra"):
        with pytest.raises(ConfigurationError) as exc:
            RateLimiter.per_ip("10000/month", algorithm=algorithm)
        assert "algorithm='fixed_window'" in exc.value.public_message
        with pytest.raises(ConfigurationError):
            MemoryStore().hit("k", Limit.quota(5, "month"), algorithm)
    assert RateLimiter.per_ip("10000/month").algorithm == "fixed_window"
    assert RateLimiter.per_ip("100/minute").algorithm == "sliding_window"  # unchanged


def test_memory_usage_reads_without_spending() -> None:
    store = MemoryStore(wall_clock=Clock(seconds("2025-03-10T12:00:00")))
    limiter = RateLimiter.per_key("3/month", key=lambda r, p: "acme", name="org", store=store)
    assert limiter.usage("acme")[0].remaining == 3
    assert len(store) == 0  # a read writes nothing
    limiter.hit(event())
    first = limiter.usage(event())
    assert first == limiter.usage("acme")
    assert (first[0].limit, first[0].remaining) == (3, 2)
    assert first[0].reset_after == seconds("2025-04-01T00:00:00") - seconds("2025-03-10T12:00:00")
    assert [r.allowed for r in (limiter.hit(event()) for _ in range(3))] == [True, True, False]
    assert limiter.usage("acme")[0].exhausted


# --- Redis ------------------------------------------------------------------------------


class CountingRedis(redis.Redis):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[str] = []

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]).upper())
        return super().execute_command(*args, **options)


@pytest.mark.parametrize("unit", ["day", "week", "month"])
def test_redis_counts_in_the_calendar_period_of_the_server_clock(redis_url: str, unit: str) -> None:
    client = CountingRedis.from_url(redis_url)
    store = RedisStore(client=client)
    limiter = RateLimiter.per_ip(Limit.quota(2, unit), store=store, deny_cache=False)
    server_s, server_us = client.time()
    now = server_s * 1_000_000 + server_us
    results = [limiter.hit(event()) for _ in range(3)]
    assert [r.allowed for r in results] == [True, True, False]
    _, _, end = calendar_window(now, unit)
    expected = (end - now) / 1_000_000
    assert results[0].reset_after == pytest.approx(expected, abs=2)
    assert results[2].retry_after == pytest.approx(expected, abs=2)
    t = int(results[0].headers()["RateLimit"].rsplit("t=", 1)[1])
    assert t == math.ceil(results[0].reset_after)
    # the key expires at the period's end
    (key,) = client.keys("secauth:rl:f:*")
    assert client.pttl(key) / 1000 == pytest.approx(expected, abs=2)
    assert client.sent.count("EVALSHA") == 3  # one call per decision
    client.close()


def test_redis_usage_is_one_round_trip_and_writes_nothing(redis_url: str) -> None:
    client = CountingRedis.from_url(redis_url)
    store = RedisStore(client=client)
    store.blocked_for("warm")  # the store's eviction check, once at first use: INFO
    for algorithm in ("fixed_window", "sliding_window", "gcra"):
        limit = "5/month" if algorithm == "fixed_window" else "5/minute"
        limiter = RateLimiter.per_key(
            limit, key=lambda r, p: "acme", store=store, algorithm=algorithm, name=algorithm
        )
        before = len(client.sent)
        assert limiter.usage("acme")[0].remaining == 5
        assert len(client.sent) == before + 1
        assert client.keys(f"*{algorithm}*") == []  # the read wrote nothing
        limiter.hit(event())
        limiter.hit(event())
        assert limiter.usage("acme")[0].remaining == 3
        assert limiter.usage("acme")[0].remaining == 3  # reading spends nothing
    client.close()


# --- DynamoDB ---------------------------------------------------------------------------


def test_dynamodb_month_edge_usage_and_round_trips(dynamodb: Any, table_name: str) -> None:
    wall = Clock(seconds("2024-12-31T23:59:59"))
    store = DynamoDBStore(table_name, client=dynamodb, clock=wall)
    store.create_table()
    counter = RequestCounter(dynamodb)
    limiter = RateLimiter.per_ip("2/month", store=store, deny_cache=False)
    assert [limiter.hit(event()).allowed for _ in range(3)] == [True, True, False]
    assert counter.count == 3  # one UpdateItem each
    usage = limiter.usage(event())
    assert counter.count == 4  # one GetItem
    assert (usage[0].remaining, usage[0].reset_after) == (0, 1.0)
    wall.now = seconds("2025-01-01T00:00:00")
    assert limiter.usage(event())[0].remaining == 2
    result = limiter.hit(event())
    assert result.allowed
    assert result.reset_after == 31 * 86400
    assert limiter.usage(event())[0].remaining == 1
    assert limiter.usage(event())[0].remaining == 1


def test_dynamodb_usage_of_an_unknown_key_writes_nothing(dynamodb: Any, table_name: str) -> None:
    store = DynamoDBStore(table_name, client=dynamodb)
    store.create_table()
    limiter = RateLimiter.per_key("7/week", key=lambda r, p: "k", name="k", store=store)
    assert limiter.usage("k")[0].remaining == 7
    assert dynamodb.scan(TableName=table_name)["Count"] == 0


def test_real_clock_month_on_the_memory_store() -> None:
    """With the default clocks, a monthly quota resets at the end of this UTC month."""
    result = RateLimiter.per_ip("5/month").hit(event())
    now = time.time()
    _, _, end = calendar_window(int(now * 1_000_000), "month")
    assert result.reset_after == pytest.approx(end / 1_000_000 - now, abs=2)
