"""The algorithms' guarantees, for any sequence of hits and times (Hypothesis, memory store).

Times are whole microseconds fed through an injected clock. Each algorithm is
checked against what docs/ratelimit.md says it guarantees:

* fixed window: at most ``n`` per aligned window, and exact (denies only when full);
* sliding window counter: at most ``n`` per aligned window, at most ``2n - 1`` in
  any interval of length ``P``, and it denies exactly when the weighted estimate
  would exceed ``n``;
* GCRA: at most ``b + floor(t / T)`` (in cost units) in any closed interval of length ``t``.

Every algorithm's ``retry_after`` is exact: a denied request retried that much
later (with no other traffic) passes, and one microsecond earlier it does not.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secauth.ratelimit import Limit, MemoryStore

SETTINGS = settings(max_examples=150, deadline=None)


class Clock:
    """An injected clock in whole microseconds."""

    def __init__(self) -> None:
        self.us = 1_000_000_000

    def __call__(self) -> float:
        return self.us / 1_000_000


limits = st.builds(
    lambda count, period_ms, extra: Limit(count, period_ms / 1000, burst=count + extra),
    st.integers(1, 12),
    st.integers(1, 5_000),
    st.integers(0, 6),
)
# (gap before the hit in µs, cost)
traffic = st.lists(
    st.tuples(
        st.one_of(st.integers(0, 50), st.integers(0, 400_000), st.integers(0, 6_000_000)),
        st.integers(1, 3),
    ),
    min_size=1,
    max_size=120,
)


def run(algorithm: str, limit: Limit, hits: list[tuple[int, int]]) -> list[tuple[int, int, bool]]:
    """Feed the hits; return (time µs, cost, allowed) for each."""
    clock = Clock()
    store = MemoryStore(clock=clock)
    out = []
    for gap, wanted in hits:
        clock.us += gap
        cost = min(wanted, limit.burst if algorithm == "gcra" else limit.count)
        result = store.hit("k", limit, algorithm, cost)
        out.append((clock.us, cost, result.allowed))
    return out


@SETTINGS
@given(limits, traffic)
def test_fixed_window_admits_at_most_count_per_window_and_is_exact(
    limit: Limit, hits: list[tuple[int, int]]
) -> None:
    """Per aligned window the admitted cost never exceeds n, and a hit that fits is never denied."""
    used: dict[int, int] = {}
    for t, cost, allowed in run("fixed_window", limit, hits):
        window = t // limit.period_us
        fits = used.get(window, 0) + cost <= limit.count
        assert allowed is fits
        if allowed:
            used[window] = used.get(window, 0) + cost
    assert all(v <= limit.count for v in used.values())


@SETTINGS
@given(limits, traffic)
def test_sliding_window_bounds(limit: Limit, hits: list[tuple[int, int]]) -> None:
    """Aligned window <= n; any interval of length P <= 2n - 1 (cost 1); decisions match the
    weighted estimate exactly."""
    hits = [(gap, 1) for gap, _ in hits]
    period = limit.period_us
    admitted: list[int] = []
    per_window: dict[int, int] = {}
    for t, _, allowed in run("sliding_window", limit, hits):
        window = t // period
        cur = per_window.get(window, 0)
        prev = per_window.get(window - 1, 0)
        elapsed = t - window * period
        fits = prev * (period - elapsed) + (cur + 1) * period <= limit.count * period
        assert allowed is fits
        if allowed:
            per_window[window] = cur + 1
            admitted.append(t)
    assert all(v <= limit.count for v in per_window.values())
    for i, start in enumerate(admitted):
        inside = sum(1 for t in admitted[i:] if t < start + period)
        assert inside <= 2 * limit.count - 1


@SETTINGS
@given(limits, traffic)
def test_gcra_admits_at_most_burst_plus_rate_times_t(
    limit: Limit, hits: list[tuple[int, int]]
) -> None:
    """For admitted hits i..j: sum of costs <= burst + floor((t_j - t_i) / T)."""
    admitted = [(t, cost) for t, cost, allowed in run("gcra", limit, hits) if allowed]
    interval = limit.interval_us
    for i in range(len(admitted)):
        total = 0
        for j in range(i, len(admitted)):
            total += admitted[j][1]
            span = admitted[j][0] - admitted[i][0]
            assert total <= limit.burst + span // interval


@SETTINGS
@given(limits)
def test_gcra_passes_a_full_burst_after_a_quiet_spell(limit: Limit) -> None:
    """After a quiet spell the whole burst passes at once, and the next hit is refused."""
    clock = Clock()
    store = MemoryStore(clock=clock)
    results = [store.hit("k", limit, "gcra") for _ in range(limit.burst + 1)]
    assert [r.allowed for r in results] == [True] * limit.burst + [False]
    assert [r.remaining for r in results[:-1]] == list(range(limit.burst - 1, -1, -1))


@SETTINGS
@given(st.sampled_from(["fixed_window", "sliding_window", "gcra"]), limits, traffic)
def test_retry_after_is_exact(algorithm: str, limit: Limit, hits: list[tuple[int, int]]) -> None:
    """Every denied hit would pass exactly retry_after later, and not one microsecond before."""
    clock = Clock()
    store = MemoryStore(clock=clock)
    for gap, _ in hits:
        clock.us += gap
        result = store.hit("k", limit, algorithm)
        if result.allowed:
            continue
        wait = round(result.retry_after * 1_000_000)
        assert wait > 0
        start = clock.us
        for delay, expected in ((wait - 1, False), (wait, True)):
            probe_clock = Clock()
            probe_clock.us = start + delay
            probe = MemoryStore(clock=probe_clock)
            probe._tables[algorithm] = {k: list(v) for k, v in store._tables[algorithm].items()}
            assert probe.hit("k", limit, algorithm).allowed is expected


@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window", "gcra"])
def test_denied_hits_consume_nothing(algorithm: str) -> None:
    """Hammering while denied does not push the next admission further away."""
    clock = Clock()
    store = MemoryStore(clock=clock)
    limit = Limit(3, 1)
    while store.hit("k", limit, algorithm).allowed:
        pass
    first = store.hit("k", limit, algorithm).retry_after
    for _ in range(50):
        store.hit("k", limit, algorithm)
    assert store.hit("k", limit, algorithm).retry_after == first


def test_state_expires_with_its_window() -> None:
    """A key's state is dropped once void, so memory does not grow with old keys."""
    clock = Clock()
    store = MemoryStore(clock=clock)
    store.hit("a", Limit(5, 1), "fixed_window")
    assert len(store) == 1
    clock.us += 1_000_000
    store.hit("b", Limit(5, 1), "gcra")
    assert store.hit("a", Limit(5, 1), "fixed_window").remaining == 4


def test_memory_store_is_bounded_lru() -> None:
    """Past maxsize the least recently used key is evicted; a busy key survives a flood."""
    clock = Clock()
    store = MemoryStore(maxsize=100, clock=clock)
    limit = Limit(100, 3600)
    store.hit("victim", limit, "fixed_window")
    for i in range(500):
        if i % 50 == 0:
            store.hit("victim", limit, "fixed_window")
        store.hit(f"flood-{i}", limit, "fixed_window")
    assert len(store) == 100
    assert store.evictions == 401
    assert store.hit("victim", limit, "fixed_window").remaining == 100 - 12


@SETTINGS
@given(st.sampled_from(["fixed_window", "sliding_window", "gcra"]), limits, traffic)
def test_a_denials_headers_agree_with_retry_after(
    algorithm: str, limit: Limit, hits: list[tuple[int, int]]
) -> None:
    """For every denial: the quota is not back before the request could pass
    (``reset_after >= retry_after``), and ``RateLimit``'s ``t`` is exactly the
    ``Retry-After`` value (draft-ietf-httpapi-ratelimit-headers: the seconds until more
    quota is made available)."""
    clock = Clock()
    store = MemoryStore(clock=clock)
    for gap, _ in hits:
        clock.us += gap
        result = store.hit("k", limit, algorithm)
        if result.allowed:
            continue
        assert result.reset_after >= result.retry_after
        headers = result.headers("both")
        t = headers["RateLimit"].rpartition(";t=")[2]
        assert t == headers["Retry-After"]
        assert int(headers["X-RateLimit-Reset"]) >= int(headers["Retry-After"])


def test_sliding_window_429_sends_the_same_wait_in_both_headers() -> None:
    """The reported case: 5/minute, five hits one second into a window; the sixth must
    wait 71 s (the next window starts 59 s later, still weighed by the five), and the
    RateLimit header said t=59."""
    clock = Clock()
    clock.us = 6001 * 1_000_000
    store = MemoryStore(clock=clock)
    limit = Limit.parse("5/minute")
    assert all(store.hit("k", limit, "sliding_window").allowed for _ in range(5))
    denied = store.hit("k", limit, "sliding_window")
    assert (denied.allowed, denied.retry_after) == (False, 71.0)
    assert denied.headers() == {
        "RateLimit-Policy": '"default";q=5;w=60',
        "RateLimit": '"default";r=0;t=71',
        "Retry-After": "71",
    }
