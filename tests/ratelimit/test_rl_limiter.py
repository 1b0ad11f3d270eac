"""RateLimiter on the memory store: constructors, combined limits, results and headers,
abuse penalties, configuration errors and the cost of ``import secauth``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest

import secauth
from secauth.errors import AbuseBlocked, ConfigurationError, RateLimited, Reason
from secauth.principal import Principal
from secauth.ratelimit import AbusePenalty, Limit, MemoryStore, RateLimiter, RateLimitResult


def event(ip: str = "198.51.100.7", path: str = "/login", **headers: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": path,
        "headers": headers,
        "requestContext": {"http": {"method": "POST", "path": path, "sourceIp": ip}},
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_secauth_exports_rate_limiter_lazily() -> None:
    """secauth.RateLimiter is the class; importing secauth loads no rate-limit module."""
    assert secauth.RateLimiter is RateLimiter
    assert secauth.AbuseBlocked is AbuseBlocked
    code = (
        "import sys, secauth; a = 'secauth.ratelimit' in sys.modules; "
        "secauth.RateLimiter; "
        "print(a, any(m in sys.modules for m in ('redis', 'boto3', 'botocore', 'httpx')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_per_ip_limits_each_ip_separately() -> None:
    """Two IPs have two budgets; the third request of one IP is denied with Retry-After."""
    limiter = RateLimiter.per_ip("2/minute", algorithm="fixed_window")
    assert [limiter.hit(event("1.1.1.1")).allowed for _ in range(3)] == [True, True, False]
    assert limiter.hit(event("2.2.2.2")).allowed
    denied = limiter.hit(event("1.1.1.1"))
    assert not denied.allowed
    assert denied.remaining == 0
    assert 0 < denied.retry_after <= 60
    assert denied.headers()["Retry-After"] == str(max(1, -int(-denied.retry_after // 1)))


def test_enforce_raises_rate_limited_with_retry_after() -> None:
    limiter = RateLimiter.per_ip("1/minute")
    limiter.enforce(event())
    with pytest.raises(RateLimited) as exc:
        limiter.enforce(event())
    assert exc.value.reason is Reason.RATE_LIMITED
    assert exc.value.status == 429
    # sliding window counter: the one request keeps weighing on the next window too
    assert 60 < exc.value.retry_after <= 120
    assert exc.value.detail["policy"] == "ip"


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (
            "ietf",
            {"RateLimit-Policy": '"ip";q=5;w=60', "RateLimit": '"ip";r=4;t=60'},
        ),
        (
            "x",
            {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4", "X-RateLimit-Reset": "60"},
        ),
        ("none", {}),
    ],
)
def test_header_styles(style: str, expected: dict[str, str]) -> None:
    """IETF RateLimit/RateLimit-Policy (draft -11 syntax), the X-RateLimit trio, or none."""
    clock = Clock()
    clock.now = 6000.0  # a window edge: the fixed window resets in exactly 60 s
    limiter = RateLimiter.per_ip(
        "5/minute", store=MemoryStore(clock=clock), algorithm="fixed_window", headers=style
    )
    assert limiter.hit(event()).headers() == expected


def test_both_header_styles_and_retry_after() -> None:
    result = RateLimitResult(False, 10, 0, 30.0, 2.2, policy='we"ird\\', window=0.5)
    headers = result.headers("both")
    assert headers["RateLimit-Policy"] == '"we\\"ird\\\\";q=10;w=1'
    # a denied policy's t is the time until more quota is made available: Retry-After
    assert headers["RateLimit"] == '"we\\"ird\\\\";r=0;t=3'
    assert headers["X-RateLimit-Remaining"] == "0"
    assert headers["X-RateLimit-Reset"] == "30"
    assert headers["Retry-After"] == "3"
    with pytest.raises(ConfigurationError):
        result.headers("fancy")


def test_combined_limits_per_ip_and_per_principal() -> None:
    """Both limits apply; the tighter one decides; the IETF headers list both policies."""
    per_ip = RateLimiter.per_ip("10/minute", algorithm="fixed_window")
    per_user = RateLimiter.per_principal("3/minute", algorithm="fixed_window")
    limiter = RateLimiter.combine(per_ip, per_user)
    alice = Principal("alice")
    results = [limiter.hit(event(), alice) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    headers = results[1].headers()
    assert headers["RateLimit-Policy"] == '"ip";q=10;w=60, "principal";q=3;w=60'
    assert headers["RateLimit"].startswith('"ip";r=8;')
    assert '"principal";r=1;' in headers["RateLimit"]
    assert results[3].policy == "principal"
    assert "Retry-After" in results[3].headers()
    # the same IP as someone else still has IP budget left: 4 hits used, 6 left
    assert per_ip.hit(event()).remaining == 5


def test_combined_stops_at_first_denial() -> None:
    """A request refused by the first limit is not charged to the later ones."""
    first = RateLimiter.per_ip("1/minute")
    second = RateLimiter.per_principal("100/minute", algorithm="fixed_window")
    limiter = RateLimiter.combine(first, second)
    alice = Principal("alice")
    limiter.hit(event(), alice)
    for _ in range(5):
        assert not limiter.hit(event(), alice).allowed
    assert second.hit(event(), alice).remaining == 98


def test_anonymous_callers_are_exempt_from_per_principal() -> None:
    """per_principal does not apply to anonymous callers: no headers, no counting."""
    limiter = RateLimiter.per_principal("1/minute")
    for _ in range(3):
        result = limiter.hit(event(), Principal.anonymous())
        assert result.allowed
        assert result.headers() == {}
    combined = RateLimiter.combine(RateLimiter.per_ip("5/minute"), limiter)
    assert '"principal"' not in combined.hit(event(), None).headers()["RateLimit-Policy"]


def test_per_tenant_and_api_key_and_custom_key() -> None:
    tenant = RateLimiter.per_tenant("1/minute")
    assert tenant.hit(event(), Principal("a", tenant="acme")).allowed
    assert not tenant.hit(event(), Principal("b", tenant="acme")).allowed
    assert tenant.hit(event(), Principal("c", tenant="other")).allowed
    keyed, ann = RateLimiter.per_api_key("1/minute"), Principal("ann")
    assert keyed.hit(event(**{"x-api-key": "k1"}), ann).allowed
    assert not keyed.hit(event(**{"x-api-key": "k1"}), ann).allowed
    assert keyed.hit(event(**{"x-api-key": "k2"}), ann).allowed
    # no verified caller: the unchecked header is nobody's key, the limit is skipped
    assert keyed.hit(event(**{"x-api-key": "k1"})).allowed
    by_path = RateLimiter.per_key(
        "1/minute", key=lambda request, principal: request.path, name="path"
    )
    assert by_path.hit(event(path="/a")).allowed
    assert not by_path.hit(event(path="/a")).allowed
    assert by_path.hit(event(path="/b")).allowed
    assert by_path.name == "path"


def test_your_own_key_function_needs_a_name() -> None:
    """Review 99: with one default name, two limits of one count on one store shared their
    counters (a header the client writes spent another key function's bucket)."""
    with pytest.raises(ConfigurationError, match="needs name="):
        RateLimiter.per_key("1/minute", key=lambda request, principal: request.path)
    with pytest.raises(ConfigurationError, match="needs name="):
        RateLimiter("1/minute", key=lambda request, principal: "all")
    with pytest.raises(ConfigurationError, match="non-empty string"):
        RateLimiter.per_key("1/minute", key=lambda request, principal: "all", name="")
    # The built-in key functions name themselves.
    assert [RateLimiter.per_ip("1/minute").name, RateLimiter.per_principal("1/minute").name,
            RateLimiter.per_tenant("1/minute").name, RateLimiter.per_api_key("1/minute").name] == [
        "ip", "principal", "tenant", "api_key"]  # fmt: skip


def test_gcra_with_burst_as_api_gateway_throttling() -> None:
    """rate 1/s with burst 3: three at once, then one per second."""
    clock = Clock()
    limiter = RateLimiter.per_ip(
        Limit.throttle(1, burst=3), algorithm="gcra", store=MemoryStore(clock=clock)
    )
    assert [limiter.hit(event()).allowed for _ in range(4)] == [True, True, True, False]
    clock.now += 1.0
    assert [limiter.hit(event()).allowed for _ in range(2)] == [True, False]


def test_cost() -> None:
    limiter = RateLimiter.per_ip("10/minute", algorithm="fixed_window")
    assert limiter.hit(event(), cost=7).remaining == 3
    assert not limiter.hit(event(), cost=4).allowed
    assert limiter.hit(event(), cost=3).remaining == 0
    for bad in (0, 11, 1.5):
        with pytest.raises(ConfigurationError):
            limiter.hit(event(), cost=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"algorithm": "leaky"}, "algorithm must be one of"),
        ({"on_store_error": "retry"}, "on_store_error must be one of"),
        ({"headers": "draft-6"}, "headers must be one of"),
        ({"store": object()}, "is not a rate-limit store"),
        ({"retry_store_after": 0}, "retry_store_after must be seconds"),
        ({"name": ""}, "name must be a non-empty string"),
    ],
)
def test_configuration_errors(options: dict[str, Any], message: str) -> None:
    """Bad options fail at construction with a message that says what to change."""
    with pytest.raises(ConfigurationError) as exc:
        RateLimiter.per_ip("10/minute", **options)
    assert message in str(exc.value)


def test_a_limiter_with_an_async_store_refuses_sync_hits() -> None:
    class AsyncOnly(MemoryStore):
        is_async = True

    limiter = RateLimiter.per_ip("1/minute", store=AsyncOnly())
    with pytest.raises(ConfigurationError, match="hit_async"):
        limiter.hit(event())


def test_hit_async_on_memory_store() -> None:
    limiter = RateLimiter.combine(
        RateLimiter.per_ip("2/minute"), RateLimiter.per_principal("5/minute")
    )

    async def main() -> list[bool]:
        return [(await limiter.hit_async(event(), Principal("p"))).allowed for _ in range(3)]

    assert asyncio.run(main()) == [True, True, False]


def test_limits_with_different_algorithms_never_share_state() -> None:
    """Two limiters on one store keep separate keys even with the same name."""
    store = MemoryStore()
    a = RateLimiter.per_ip("1/minute", store=store, algorithm="fixed_window")
    b = RateLimiter.per_ip("1/minute", store=store, algorithm="gcra")
    c = RateLimiter.per_ip("2/minute", store=store, algorithm="fixed_window")
    assert a.hit(event()).allowed
    assert b.hit(event()).allowed
    assert c.hit(event()).allowed
    assert len(store) == 3


# --- abuse penalties --------------------------------------------------------------------


def test_auth_failures_block_the_ip_and_the_principal() -> None:
    """More than N failures blocks the IP and the user name tried, for the cooldown."""
    clock = Clock()
    penalty = AbusePenalty(store=MemoryStore(clock=clock), auth_failures="3/minute", cooldown=120)
    assert [penalty.record_auth_failure(event("1.1.1.1"), "alice") for _ in range(3)] == [0.0] * 3
    penalty.check(event("1.1.1.1"))
    assert penalty.record_auth_failure(event("1.1.1.1"), "alice") == 120
    with pytest.raises(AbuseBlocked) as exc:
        penalty.check(event("1.1.1.1"))
    assert exc.value.reason is Reason.ABUSE_BLOCKED
    assert exc.value.status == 429
    assert exc.value.retry_after == 120
    assert isinstance(exc.value, RateLimited)
    # the principal is blocked from any IP; another IP with another user is not
    with pytest.raises(AbuseBlocked):
        penalty.check(event("2.2.2.2"), "alice")
    penalty.check(event("2.2.2.2"), "bob")
    clock.now += 121
    penalty.check(event("1.1.1.1"), "alice")


def test_failures_spread_over_windows_do_not_block() -> None:
    clock = Clock()
    penalty = AbusePenalty(store=MemoryStore(clock=clock), auth_failures="3/minute")
    for _ in range(10):
        penalty.record_auth_failure(event())
        penalty.record_auth_failure(event())
        clock.now += 61
    penalty.check(event())


def test_distinct_unknown_paths_block_a_scanner_but_not_a_repeater() -> None:
    """21 distinct 404 paths block; one missing path requested 100 times does not."""
    penalty = AbusePenalty(unknown_paths="20/10minutes", cooldown=600)
    for _ in range(100):
        assert penalty.record_not_found(event("3.3.3.3", path="/favicon.ico")) == 0.0
    penalty.check(event("3.3.3.3"))
    results = [penalty.record_not_found(event("4.4.4.4", path=f"/wp-admin/{i}")) for i in range(21)]
    assert results == [0.0] * 20 + [600.0]
    with pytest.raises(AbuseBlocked):
        penalty.check(event("4.4.4.4"))
    penalty.check(event("3.3.3.3"))


def test_distinct_path_memory_is_bounded() -> None:
    """The member set never holds more than M + 1 hashes, whatever the scan."""
    store = MemoryStore()
    penalty = AbusePenalty(store=store, unknown_paths="5/minute", cooldown=1)
    for i in range(1000):
        penalty.record_not_found(event("5.5.5.5", path=f"/{i}"))
    assert all(len(entry[2]) <= 6 for entry in store._counters.values())


def test_penalty_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        AbusePenalty(auth_failures=None, unknown_paths=None)
    with pytest.raises(ConfigurationError):
        AbusePenalty(cooldown=0)
    with pytest.raises(ConfigurationError):
        AbusePenalty(auth_failures="ten/minute")


def test_penalty_async_on_memory_store() -> None:
    penalty = AbusePenalty(auth_failures="1/minute", cooldown=30)

    async def main() -> float:
        await penalty.record_auth_failure_async(event())
        left = await penalty.record_auth_failure_async(event())
        with pytest.raises(AbuseBlocked):
            await penalty.check_async(event())
        return left

    assert asyncio.run(main()) == 30.0
