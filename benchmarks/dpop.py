"""What a DPoP request costs over a bearer one, and round trips to the replay store.

Contenders, in this process with interleaved rounds (see ``_harness``):

* ``token``: ``JwtVerifier.verify`` of a repeated DPoP-bound access token (a
  verified-token cache hit, as every request of a client reuses its token);
* ``ES256 signature``: one ES256 signature check of a proof (``VerificationKey.verify``,
  the key imported already): the floor of any proof check;
* ``DPoP request``: the token verified, then ``check_binding`` with a fresh proof each
  call (every RFC 9449 check, the replay check on a ``MemoryReplayStore``; the client's
  key is imported once, as a client signs all its proofs with one key).

Target: ``DPoP request <= token + 1.3 x ES256 signature``. Round trips: Redis commands
sent per DPoP request over distinct proofs, on a real redis-server (one ``SET NX PX``);
without redis-server that row is reported as not measured.

Run alone: ``python benchmarks/dpop.py [--quick]``; ``make bench`` includes it.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for extra in (HERE, ROOT / "tests" / "ratelimit"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from _harness import Case, Feed, Plan, measure, method_line, suite_main, targets_table  # noqa: E402

FULL = Plan(rounds=25, round_seconds=0.03, min_n=100, max_n=2000)
QUICK = Plan(rounds=3, round_seconds=0.002, min_n=10, max_n=50, probe=5)
PROOFS = 2000  # >= max_n: a batch never repeats a proof (the store is emptied between batches)
SIGNATURE_FACTOR = 1.3
ISS, AUD = "https://idp.example.com/", "orders-api"
URL = "https://abcdef123.execute-api.us-east-1.amazonaws.com/orders/7"


def _requests(client: Any, token: str, count: int) -> list[Any]:
    from secauth.events import Request
    from secauth.testing_events import http_proxy

    out = []
    for _ in range(count):
        headers = {
            "authorization": f"DPoP {token}",
            "dpop": client.proof("GET", URL, access_token=token),
        }
        out.append(Request.from_event(http_proxy("GET", "/orders/7", headers=headers)))
    return out


def run(quick: bool, *, wall: bool = False) -> list[dict[str, Any]]:
    """Rows: µs of the token alone, one ES256 signature, a DPoP request; Redis round trips."""
    from secauth import JwtVerifier
    from secauth.dpop import DpopVerifier
    from secauth.dpop_replay import MemoryReplayStore
    from secauth.jose import split_compact
    from secauth.jwk import VerificationKey
    from secauth.sender_constraint import SenderConstraint, check_binding
    from secauth.testing import KeyPair
    from secauth.testing_dpop import DpopKey
    from secauth.token_sources import read_token

    plan = QUICK if quick else FULL
    if wall:
        plan = Plan(plan.rounds, plan.round_seconds, plan.min_n, plan.max_n, plan.probe, "wall")
    issuer, client = KeyPair.generate("ES256", kid="k1"), DpopKey.generate("ES256")
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [issuer.public_jwk]})
    token = issuer.sign(
        client.bind({"iss": ISS, "aud": AUD, "sub": "ann", "exp": int(time.time()) + 3600})
    )
    dpop = DpopVerifier(replay=MemoryReplayStore(), max_age=600)
    constraint = SenderConstraint(dpop=dpop)
    requests = _requests(client, token, 100 if quick else PROOFS)
    presented = read_token(requests[0])

    def dpop_request(request: Any) -> None:
        check_binding(verifier.verify(presented.token), request, presented, constraint)

    def fresh_store(batch: list[Any]) -> None:
        dpop.replay = MemoryReplayStore()  # outside the clock: no proof of a batch was seen

    key = VerificationKey.from_jwk(client.public_jwk)
    parts = split_compact(client.proof("GET", URL, access_token=token))
    signature = (parts.signing_input, parts.signature)
    for _ in range(3):
        verifier.verify(token)
    cases = [
        Case("token", verifier.verify, Feed([token])),
        Case("ES256 signature", lambda s: key.verify("ES256", s[0], s[1]), Feed([signature])),
        Case("DPoP request", dpop_request, Feed(requests), guard=fresh_store),
    ]
    timings = measure(cases, plan)
    row: dict[str, Any] = {
        "row": "dpop",
        "token_us": timings["token"].median_us,
        "signature_us": timings["ES256 signature"].median_us,
        "dpop_us": timings["DPoP request"].median_us,
        "rounds": timings["DPoP request"].rounds,
        "clock": plan.clock,
        "quick": quick,
    }
    row["round_trips"] = _redis_round_trips(verifier, client, token, 20 if quick else 200)
    return [row]


def _redis_round_trips(verifier: Any, client: Any, token: str, count: int) -> float | str:
    """Redis commands sent per DPoP request over ``count`` distinct proofs, or why not."""
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    import redis
    from rl_services import redis_server

    from secauth.dpop import DpopVerifier
    from secauth.dpop_replay import RedisReplayStore
    from secauth.sender_constraint import SenderConstraint, check_binding
    from secauth.token_sources import read_token

    server = redis_server().start()
    try:
        sent: list[str] = []

        class Counting(redis.Redis):  # type: ignore[type-arg]
            def execute_command(self, *args: Any, **options: Any) -> Any:
                sent.append(str(args[0]))
                return super().execute_command(*args, **options)

        store = RedisReplayStore(client=Counting(host="127.0.0.1", port=server.port))
        store.first_use("warm-up", time.time() + 1)  # its eviction check: once per store
        sent.clear()
        constraint = SenderConstraint(dpop=DpopVerifier(replay=store))
        requests = _requests(client, token, count)
        for request in requests:
            presented = read_token(request)
            check_binding(verifier.verify(presented.token), request, presented, constraint)
    finally:
        server.stop()
    return len(sent) / len(requests)


def _budget(row: dict[str, Any]) -> float:
    return float(row["token_us"] + SIGNATURE_FACTOR * row["signature_us"])


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets: the cost budget, and one round trip per proof on Redis."""
    row = rows[0]
    budget = _budget(row)
    trips = row["round_trips"]
    verdicts = [
        {
            "target": "DPoP request <= token verification + 1.3x one ES256 signature",
            "status": "PASS" if row["dpop_us"] <= budget else "FAIL",
            "measured": f"{row['dpop_us']:.1f} us (budget {budget:.1f} = {row['token_us']:.1f} "
            f"+ 1.3 x {row['signature_us']:.1f})",
        }
    ]
    target = "DPoP replay check on Redis: exactly 1 round trip per proof"
    if isinstance(trips, str):
        verdicts.append({"target": target, "status": "SKIP", "measured": trips})
    else:
        verdicts.append(
            {
                "target": target,
                "status": "PASS" if trips == 1.0 else "FAIL",
                "measured": f"{trips:.2f} round trips per proof",
            }
        )
    return verdicts


def render(rows: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> str:
    """A markdown section: the token, the signature floor and a DPoP request, in µs."""
    row = rows[0]
    trips = row["round_trips"]
    lines = [
        "## DPoP, cost per request (ES256 token and proof)",
        "",
        method_line(
            row,
            "The token is a verified-token cache hit; each DPoP request checks a fresh proof "
            "(memory replay store).",
        ),
        "",
        "| token µs | ES256 signature µs | DPoP request µs | budget µs | Redis round trips per proof |",
        "|---:|---:|---:|---:|---:|",
        f"| {row['token_us']:.2f} | {row['signature_us']:.2f} | {row['dpop_us']:.2f} "
        f"| {_budget(row):.2f} | {trips if isinstance(trips, str) else f'{trips:.2f}'} |",
    ]
    lines += targets_table(verdicts)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return suite_main(__doc__ or "dpop", run, targets, render, argv)


if __name__ == "__main__":
    sys.exit(main())
