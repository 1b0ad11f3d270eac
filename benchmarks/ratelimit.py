"""Rate-limit decisions: µs per decision and round trips per decision, against ``limits``.

Run alone with ``python benchmarks/ratelimit.py [--quick]``: prints a markdown table
and the targets with PASS/FAIL. For the suite, ``run(quick)`` returns the rows and
``targets(rows)`` the verdicts, in the shape ``benchmarks/run.py`` uses.

Groups (each group's contenders run in the same interleaved rounds, see ``_harness.py``):

* **memory** (thread CPU clock): ``MemoryStore.hit`` for each algorithm, next to
  ``limits``' ``MemoryStorage`` with its fixed window, sliding window counter and
  moving window (sliding log; ``limits`` has no GCRA), and the whole
  ``RateLimiter.hit(request)`` path (client IP included).
* **redis** (wall clock, a local ``redis-server`` started for the run):
  ``RedisStore`` vs ``limits``' ``RedisStorage`` on the same server. Round trips
  are the replies each side's connections read (a ``redis.Connection`` subclass
  counts ``read_response``), so a pipeline or a retry could not hide one; the
  server's own command counters cannot be used, as they also count the commands
  a Lua script runs inside the server.
* **dynamodb** (wall clock, a local ``dynalite``): ``DynamoDBStore``; round trips
  are the HTTP requests botocore sends (its ``before-send`` event).

Each shared store also runs 500 decisions on a key that is already denied: with
the local deny cache they must cost 0 round trips; and 500 plan-chosen decisions
(``RateLimiter.per_plan``, callers alternating between two plans of one limit each),
counted next to the same decisions by a fixed ``RateLimiter``: no more round trips.

Keys cycle over 1000 clients with a limit no client reaches, so every timed
decision is a full admission. Targets (issue 5): memory ≤ 3 µs per decision and
no slower than ``limits``' memory storage; exactly 1 round trip per decision on
Redis and DynamoDB; 0 while the deny cache holds. Issue 17: a plan-chosen decision
costs no more round trips than a fixed one (1 on Redis, 1 ``UpdateItem`` on DynamoDB).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for extra in (HERE, HERE.parent / "src"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from _harness import Case, Feed, Plan, measure, suite_main, targets_table  # noqa: E402
from _ratelimit_plans import plan_trips  # noqa: E402

from secauth.events import Request  # noqa: E402
from secauth.ratelimit import Limit, MemoryStore, RateLimiter  # noqa: E402

TARGET_MEMORY_US = 3.0
CLIENTS = 1000
COUNTED = 500  # decisions per round-trip count

FULL = Plan(rounds=21, round_seconds=0.03, min_n=200, max_n=100_000)
FULL_IO = Plan(rounds=9, round_seconds=0.15, min_n=50, max_n=5_000, clock="wall")
QUICK = Plan(rounds=3, round_seconds=0.002, min_n=20, max_n=200, probe=5)
QUICK_IO = Plan(rounds=2, round_seconds=0.01, min_n=10, max_n=50, probe=5, clock="wall")

# secauth algorithm -> the comparable limits strategy
PAIRS = (
    ("fixed_window", "FixedWindowRateLimiter", "fixed window"),
    ("sliding_window", "SlidingWindowCounterRateLimiter", "sliding window counter"),
    ("gcra", "MovingWindowRateLimiter", "GCRA (limits: moving window log)"),
)
DYNALITE = HERE.parent / ".cache" / "services" / "node_modules" / "dynalite" / "cli.js"


def client_keys() -> list[str]:
    return [f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}" for i in range(CLIENTS)]


def requests() -> list[Request]:
    return [
        Request.from_event(
            {
                "version": "2.0",
                "rawPath": "/orders",
                "requestContext": {"http": {"method": "GET", "path": "/orders", "sourceIp": ip}},
            }
        )
        for ip in client_keys()
    ]


# --- local servers ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(argv: list[str], port: int) -> Iterator[int]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{argv[0]} did not start") from None
                time.sleep(0.02)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def redis_port() -> Any:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = _free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return _server(argv, port)


def dynalite_port() -> Any:
    node = shutil.which("node")
    if node is None or not DYNALITE.is_file():
        return None
    port = _free_port()
    argv = [node, str(DYNALITE), "--host", "127.0.0.1", "--port", str(port), "--createTableMs", "0"]
    return _server(argv, port)


# --- memory -----------------------------------------------------------------------------


def memory_cases() -> list[Case]:
    from limits import parse, storage, strategies

    keys = client_keys()
    limit = Limit(10**9, 3600)
    item = parse(f"{10**9}/hour")
    cases = []
    for algorithm, strategy, _ in PAIRS:
        store = MemoryStore(maxsize=CLIENTS * 2)
        hit = store.hit

        def ours(key: str, hit: Callable[..., Any] = hit, algorithm: str = algorithm) -> Any:
            return hit(key, limit, algorithm)

        theirs_hit = getattr(strategies, strategy)(storage.MemoryStorage()).hit

        def theirs(key: str, theirs_hit: Callable[..., Any] = theirs_hit) -> Any:
            return theirs_hit(item, key)

        assert ours(keys[0]).allowed
        assert theirs(keys[0])
        cases.append(Case(f"memory|secauth|{algorithm}", ours, Feed(keys)))
        cases.append(Case(f"memory|limits|{algorithm}", theirs, Feed(keys)))
    limiter = RateLimiter.per_ip(limit, store=MemoryStore(maxsize=CLIENTS * 2))
    cases.append(Case("memory|secauth|RateLimiter.hit", limiter.hit, Feed(requests())))
    return cases


# --- redis ------------------------------------------------------------------------------


def counting_pool(url: str) -> tuple[Any, list[int]]:
    """A connection pool whose connections count the replies they read: one reply per
    request, so one count per network round trip (handshakes included)."""
    import redis

    replies = [0]

    class CountingConnection(redis.Connection):
        def read_response(self, *args: Any, **kwargs: Any) -> Any:
            replies[0] += 1
            return super().read_response(*args, **kwargs)

    pool = redis.ConnectionPool.from_url(url, connection_class=CountingConnection)
    return pool, replies


def redis_rows(port: int, plan: Plan) -> list[dict[str, Any]]:
    import redis
    from limits import parse, storage, strategies

    from secauth.ratelimit.redis_store import RedisStore

    url = f"redis://127.0.0.1:{port}/0"
    keys = client_keys()
    limit = Limit(10**9, 3600)
    ours_pool, ours_trips = counting_pool(url)
    ours_store = RedisStore(client=redis.Redis(connection_pool=ours_pool, socket_timeout=1.0))
    limits_pool, limits_trips = counting_pool(url)
    limits_storage = storage.RedisStorage(url, connection_pool=limits_pool)
    ops: dict[str, Callable[[str], Any]] = {}
    with_stats: dict[str, Callable[[str], Any]] = {}
    for n, (algorithm, strategy, _) in enumerate(PAIRS):
        ops[f"secauth|{algorithm}"] = lambda key, a=algorithm: ours_store.hit(key, limit, a)
        theirs_hit = getattr(strategies, strategy)(limits_storage).hit
        # limits keys by item, not by strategy: one item per strategy keeps them apart
        own_item = parse(f"{10**9 + n}/hour")
        ops[f"limits|{algorithm}"] = lambda key, h=theirs_hit, i=own_item: h(i, key)
        # what limits needs for the headers' data: hit, then get_window_stats
        stats = getattr(strategies, strategy)(limits_storage).get_window_stats
        with_stats[algorithm] = lambda key, h=theirs_hit, g=stats, i=own_item: (
            h(i, key),
            g(i, key),
        )
    trips: dict[str, float] = {}
    for name, op in ops.items():
        counter = ours_trips if name.startswith("secauth") else limits_trips
        for key in keys[:10]:  # warm: scripts loaded, connection open
            op(key)
        before = counter[0]
        for i in range(COUNTED):
            op(keys[i % CLIENTS])
        trips[name] = (counter[0] - before) / COUNTED
    for algorithm, op in with_stats.items():
        before = limits_trips[0]
        for i in range(COUNTED):
            op(keys[i % CLIENTS])
        trips[f"limits+headers|{algorithm}"] = (limits_trips[0] - before) / COUNTED
    # the deny cache: a key Redis already refused costs no round trip
    limiter = RateLimiter.per_key(
        "1/hour", key=lambda request, principal: "denied", name="denied", store=ours_store
    )
    probe = requests()[0]
    limiter.hit(probe)
    assert not limiter.hit(probe).allowed
    before = ours_trips[0]
    for _ in range(COUNTED):
        limiter.hit(probe)
    denied_trips = (ours_trips[0] - before) / COUNTED

    planned = plan_trips(ours_store, ours_trips, requests()[0], COUNTED)
    timings = measure([Case(f"redis|{n}", op, Feed(keys)) for n, op in ops.items()], plan)
    rows = []
    for algorithm, _, label in PAIRS:
        ours_t = timings[f"redis|secauth|{algorithm}"]
        theirs_t = timings[f"redis|limits|{algorithm}"]
        rows.append(
            {
                "group": "redis",
                "case": label,
                "algorithm": algorithm,
                "secauth_us": ours_t.median_us,
                "limits_us": theirs_t.median_us,
                "x_limits": ours_t.paired_ratio(theirs_t),
                "secauth_round_trips": trips[f"secauth|{algorithm}"],
                "limits_round_trips": trips[f"limits|{algorithm}"],
                "limits_round_trips_with_headers": trips[f"limits+headers|{algorithm}"],
                "clock": plan.clock,
                "rounds": plan.rounds,
            }
        )
    rows.append(
        {
            "group": "redis",
            "case": "denied key, local deny cache",
            "secauth_round_trips": denied_trips,
        }
    )
    rows.append({"group": "redis", **planned})
    return rows


# --- dynamodb ---------------------------------------------------------------------------


def dynamodb_rows(port: int, plan: Plan) -> list[dict[str, Any]]:
    import boto3
    from botocore.config import Config

    from secauth.ratelimit.dynamodb_store import DynamoDBStore

    client = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # dynalite ignores credentials
        config=Config(retries={"total_max_attempts": 1}, read_timeout=5),
    )
    sent = [0]
    client.meta.events.register(
        "before-send.dynamodb", lambda **_: sent.__setitem__(0, sent[0] + 1)
    )
    store = DynamoDBStore("secauth-bench", client=client)
    store.create_table()
    keys = client_keys()
    limit = Limit(10**9, 3600)

    def op(key: str) -> Any:
        return store.hit(key, limit, "fixed_window")

    for key in keys[:10]:
        op(key)
    before = sent[0]
    for i in range(COUNTED // 5):
        op(keys[i % CLIENTS])
    trips = (sent[0] - before) / (COUNTED // 5)
    limiter = RateLimiter.per_key(
        "1/hour", key=lambda request, principal: "denied", name="denied", store=store
    )
    probe = requests()[0]
    limiter.hit(probe)
    assert not limiter.hit(probe).allowed
    before = sent[0]
    for _ in range(COUNTED):
        limiter.hit(probe)
    denied_trips = (sent[0] - before) / COUNTED
    planned = plan_trips(store, sent, requests()[0], COUNTED)
    t = measure([Case("dynamodb|fixed_window", op, Feed(keys))], plan)["dynamodb|fixed_window"]
    return [
        {
            "group": "dynamodb",
            "case": "fixed window (one conditional UpdateItem)",
            "algorithm": "fixed_window",
            "secauth_us": t.median_us,
            "secauth_round_trips": trips,
            "clock": plan.clock,
            "rounds": plan.rounds,
        },
        {
            "group": "dynamodb",
            "case": "denied key, local deny cache",
            "secauth_round_trips": denied_trips,
        },
        {"group": "dynamodb", **planned},
    ]


# --- the report -------------------------------------------------------------------------


def run(quick: bool, *, wall: bool = False) -> list[dict[str, Any]]:
    """Time every group; one row per case (a skipped group gives one row saying why).

    ``wall`` times the in-memory group by wall clock; the store groups always use it.
    """
    plan, io_plan = (QUICK, QUICK_IO) if quick else (FULL, FULL_IO)
    if wall:
        plan = Plan(plan.rounds, plan.round_seconds, plan.min_n, plan.max_n, plan.probe, "wall")
    timings = measure(memory_cases(), plan)
    rows: list[dict[str, Any]] = []
    for algorithm, _, label in PAIRS:
        ours_t = timings[f"memory|secauth|{algorithm}"]
        theirs_t = timings[f"memory|limits|{algorithm}"]
        rows.append(
            {
                "group": "memory",
                "case": label,
                "algorithm": algorithm,
                "secauth_us": ours_t.median_us,
                "limits_us": theirs_t.median_us,
                "x_limits": ours_t.paired_ratio(theirs_t),
                "spread_pct": ours_t.spread_pct,
                "clock": plan.clock,
                "rounds": plan.rounds,
                "quick": quick,
            }
        )
    full = timings["memory|secauth|RateLimiter.hit"]
    rows.append(
        {
            "group": "memory",
            "case": "RateLimiter.per_ip(...).hit(request) (sliding window, IP included)",
            "secauth_us": full.median_us,
            "clock": plan.clock,
            "rounds": plan.rounds,
            "quick": quick,
        }
    )
    for group, starter, measure_group in (
        ("redis", redis_port, redis_rows),
        ("dynamodb", dynalite_port, dynamodb_rows),
    ):
        server = starter()
        if server is None:
            rows.append(
                {"group": group, "case": "skipped", "skipped": f"{group} server not installed"}
            )
            continue
        with server as port:
            for row in measure_group(port, io_plan):
                row["quick"] = quick
                rows.append(row)
    return rows


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, evaluated on ``rows``."""
    out = []
    memory = [r for r in rows if r["group"] == "memory" and "algorithm" in r]
    worst = max(memory, key=lambda r: r["secauth_us"])
    out.append(
        {
            "target": f"memory store <= {TARGET_MEMORY_US:g} us per decision (every algorithm)",
            "status": "PASS" if worst["secauth_us"] <= TARGET_MEMORY_US else "FAIL",
            "measured": f"worst {worst['secauth_us']:.2f} us ({worst['case']})",
        }
    )
    slowest = max(memory, key=lambda r: r["x_limits"])
    out.append(
        {
            "target": "memory store no slower than limits' MemoryStorage (paired, same run)",
            "status": "PASS" if slowest["x_limits"] <= 1.0 else "FAIL",
            "measured": f"worst {slowest['x_limits']:.2f}x limits ({slowest['case']})",
        }
    )
    for group in ("redis", "dynamodb"):
        mine = [r for r in rows if r["group"] == group]
        if any("skipped" in r for r in mine):
            out.append(
                {
                    "target": f"{group}: 1 round trip per decision",
                    "status": "SKIPPED",
                    "measured": mine[0]["skipped"],
                }
            )
            continue
        decisions = [r for r in mine if "algorithm" in r]
        ok = all(r["secauth_round_trips"] == 1.0 for r in decisions)
        out.append(
            {
                "target": f"{group}: exactly 1 round trip per decision",
                "status": "PASS" if ok else "FAIL",
                "measured": ", ".join(
                    f"{r['algorithm']} {r['secauth_round_trips']:.2f}" for r in decisions
                ),
            }
        )
        planned = next(r for r in mine if r.get("plan"))
        ok = planned["secauth_round_trips"] <= min(1.0, planned["fixed_round_trips"])
        out.append(
            {
                "target": f"{group}: a plan-chosen decision costs no more round trips than a "
                "fixed one",
                "status": "PASS" if ok else "FAIL",
                "measured": f"plan {planned['secauth_round_trips']:.2f}, "
                f"fixed {planned['fixed_round_trips']:.2f} per decision",
            }
        )
        denied = next(r for r in mine if r["case"].startswith("denied"))
        out.append(
            {
                "target": f"{group}: 0 round trips while the local deny cache holds",
                "status": "PASS" if denied["secauth_round_trips"] == 0 else "FAIL",
                "measured": f"{denied['secauth_round_trips']:.2f} per decision",
            }
        )
    return out


def _num(row: dict[str, Any], key: str, fmt: str) -> str:
    return format(row[key], fmt) if key in row else "-"


def render(rows: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> str:
    quick = any(r.get("quick") for r in rows)
    lines = [
        "## Rate limiting: µs and round trips per decision",
        "",
        "Medians of interleaved rounds; memory on the thread CPU clock, Redis and DynamoDB "
        "on the wall clock against local servers. Round trips: replies the Redis "
        "connections read, or HTTP requests botocore sent, per decision."
        + (" **--quick run: numbers are meaningless.**" if quick else ""),
        "",
        "`limits` returns a bool from `hit`; the data for the headers costs it a "
        "`get_window_stats` call more (last column). secauth returns them with the decision.",
        "",
        "| store | case | secauth µs | limits µs | secauth/limits | secauth round trips "
        "| limits round trips | limits, with header data |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['group']} | skipped: {r['skipped']} | - | - | - | - | - | - |")
            continue
        lines.append(
            f"| {r['group']} | {r['case']} | {_num(r, 'secauth_us', '.2f')} "
            f"| {_num(r, 'limits_us', '.2f')} | {_num(r, 'x_limits', '.2f')} "
            f"| {_num(r, 'secauth_round_trips', '.2f')} | {_num(r, 'limits_round_trips', '.2f')} "
            f"| {_num(r, 'limits_round_trips_with_headers', '.2f')} |"
        )
    lines += targets_table(verdicts)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return suite_main(__doc__ or "ratelimit", run, targets, render, argv)


if __name__ == "__main__":
    sys.exit(main())
