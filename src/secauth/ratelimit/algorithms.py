"""The three algorithms as pure functions over a small state, in whole microseconds.

The in-memory store runs these; the Redis Lua script and the DynamoDB update
implement the same arithmetic on the server. Each keeps constant memory per key.

What each one guarantees (``P`` = period, ``n`` = count, ``T`` = ``ceil(P / n)``,
``b`` = burst; windows are aligned to multiples of ``P`` since the clock's epoch):

``fixed_window``
    At most ``n`` admitted in every aligned window ``[kP, (k+1)P)``. Two windows
    meet at an edge, so an interval of length ``P`` that straddles it can see up
    to ``2n``.
``sliding_window`` (sliding window counter)
    Admits when ``prev * (P - e) / P + cur + cost <= n``, where ``e`` is the time
    elapsed in the current window: the previous window's count weighted by how
    much of it still overlaps the sliding window. At most ``n`` in every aligned
    window and, with cost 1, at most ``2n - 1`` in any interval of length ``P``
    (the weighting assumes the previous window's requests were spread evenly;
    bursts at its very end are the worst case). For evenly spread traffic it
    admits ``n`` per ``P``.
``gcra`` (generic cell rate algorithm, a token bucket with rate ``n / P`` and
    bucket size ``b``): keeps one timestamp, the theoretical arrival time ``tat``.
    Admits when ``max(tat, now) + cost*T - now <= b*T``. In any closed interval of
    length ``t`` at most ``b + floor(t / T)`` requests are admitted; after a quiet
    spell a burst of ``b`` passes at once, then one request per ``T``.

Calendar quotas (``"10000/month"``) decide with ``fixed_window`` only, in the calendar
period (UTC) that holds ``now``: :meth:`~secauth.ratelimit.Limit.window_at`.

Denied requests consume nothing, in all three. A denial's reset time is never before its
retry time (the sliding window's next request can have to wait past the window's end).
A cost of 0 reads the state without spending (``usage``): the decision is computed on a
copy of the entry.

Every function takes ``entry`` (the key's state list, or None for a new or
expired key), ``now`` (µs), the :class:`~secauth.ratelimit.limit.Limit` and the
cost, and returns ``(allowed, remaining, reset_us, retry_us, entry)``; the
entry's first item is its expiry time in µs (when the state becomes void).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from secauth.ratelimit.limit import Limit

__all__ = ["ALGORITHM_FUNCTIONS", "Decision", "fixed_window", "gcra", "sliding_window"]

# (allowed, remaining, reset_us, retry_us, entry)
Decision = tuple[bool, int, int, int, list[int]]


def fixed_window(entry: list[int] | None, now: int, lim: Limit, cost: int) -> Decision:
    """Entry: ``[expiry, window_index, count]``; the window is a multiple of the period,
    or a calendar period in UTC for a calendar quota (``now`` then on the epoch clock)."""
    window, end = lim.window_at(now)
    used = entry[2] if entry is not None and entry[1] == window else 0
    if used + cost <= lim.count:
        used += cost
        if entry is None:
            entry = [end, window, used]
        else:
            entry[0] = end
            entry[1] = window
            entry[2] = used
        return True, lim.count - used, end - now, 0, entry
    if entry is None:  # cost above the limit on a fresh key: keep no state
        entry = [end, window, 0]
    return False, max(0, lim.count - used), end - now, end - now, entry


def sliding_window(entry: list[int] | None, now: int, lim: Limit, cost: int) -> Decision:
    """Entry: ``[expiry, window_index, current_count, previous_count]``."""
    period = lim.period_us
    count = lim.count
    window = now // period
    cur = prev = 0
    if entry is not None:
        if entry[1] == window:
            cur, prev = entry[2], entry[3]
        elif entry[1] == window - 1:
            prev = entry[2]
    elapsed = now - window * period
    end = (window + 1) * period
    weighted = prev * (period - elapsed)  # prev's share of the sliding window, times P
    if weighted + (cur + cost) * period <= count * period:
        cur += cost
        if entry is None:
            entry = [end + period, window, cur, prev]
        else:
            entry[0] = end + period
            entry[1] = window
            entry[2] = cur
            entry[3] = prev
        remaining = (count * period - weighted) // period - cur
        return True, max(0, remaining), end - now, 0, entry
    retry = _sliding_retry(cur, prev, elapsed, period, count, cost)
    if entry is None:
        entry = [end + period, window, 0, 0]
    remaining = (count * period - weighted) // period - cur
    # the quota is not back before this request could pass: reset >= retry
    return False, max(0, remaining), max(end - now, retry), retry, entry


def _sliding_retry(cur: int, prev: int, elapsed: int, period: int, count: int, cost: int) -> int:
    """µs until ``prev * (P - e) + (cur + cost) * P <= count * P`` holds again."""
    room = count - cur - cost
    if room >= 0 and prev > 0:
        # this window: e >= P - room * P / prev
        need = period - (room * period) // prev
        if need < period:
            return max(1, need - elapsed)
    # next window: prev' = cur, cur' = 0: e' >= P - (count - cost) * P / cur
    room = count - cost
    wait_in_next = 0
    if room < 0:
        wait_in_next = period  # cost above the limit: never within reach; report a period
    elif cur > 0:
        wait_in_next = max(0, period - (room * period) // cur)
    return max(1, period - elapsed + wait_in_next)


def gcra(entry: list[int] | None, now: int, lim: Limit, cost: int) -> Decision:
    """Entry: ``[expiry, tat]`` (theoretical arrival time)."""
    interval = lim.interval_us
    capacity = lim.burst * interval
    base = entry[1] if entry is not None and entry[1] > now else now
    new_tat = base + cost * interval
    if new_tat - now <= capacity:
        if entry is None:
            entry = [new_tat, new_tat]
        else:
            entry[0] = new_tat
            entry[1] = new_tat
        return True, (capacity - (new_tat - now)) // interval, new_tat - now, 0, entry
    if entry is None:
        entry = [now, now]
    return (
        False,
        max(0, (capacity - (base - now)) // interval),
        base - now,
        new_tat - now - capacity,
        entry,
    )


ALGORITHM_FUNCTIONS: Final[dict[str, Callable[[list[int] | None, int, Limit, int], Decision]]] = {
    "fixed_window": fixed_window,
    "sliding_window": sliding_window,
    "gcra": gcra,
}
