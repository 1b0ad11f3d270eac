"""Fresh-process measurements: import cost, cold start (import + keys + one verification)
and the cold start of a whole Lambda authorizer (import + setup + one decision).

Each measurement runs a new interpreter (the same one running the benchmark)
several times, interleaving the variants, and keeps the median. Wall time is
the whole child process as the parent sees it (interpreter start-up included);
CPU time is the child's user + system time (steadier on a busy machine);
in-process time is what the child measures, by wall clock, from its first line.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHILD = HERE / "_coldstart_child.py"
AUTHORIZER_CHILD = HERE / "_authorizer_coldstart.py"

IMPORTS: tuple[tuple[str, str], ...] = (
    ("python -c pass", "pass"),
    ("import secauth", "import secauth"),
    ("import secauth + JwtVerifier", "import secauth; secauth.JwtVerifier"),
    (
        "import cryptography primitives",
        "from cryptography.hazmat.primitives import hashes; "
        "from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa",
    ),
    ("import jwt", "import jwt"),
    ("import joserfc", "import joserfc; import joserfc.jwt"),
)
BARE = IMPORTS[0][0]
SECAUTH_IMPORT = IMPORTS[1][0]
SECAUTH_FIRST_USE = IMPORTS[2][0]
CRYPTO_IMPORT = IMPORTS[3][0]

COLD_MODES: tuple[tuple[str, str], ...] = (
    ("PyJWT + PyJWKClient, fetched", "pyjwt-fetch"),
    ("secauth, fetched (jwks_uri)", "secauth-fetch"),
    ("secauth, seeded from file", "secauth-file"),
    ("secauth, seeded from env", "secauth-env"),
)
PYJWT_COLD = COLD_MODES[0][0]
SECAUTH_COLD = COLD_MODES[1][0]
SEEDED = (COLD_MODES[2][0], COLD_MODES[3][0])

# The whole authorizer Lambda, keys seeded from the environment (see _authorizer_coldstart.py).
AUTHORIZER_MODES: tuple[tuple[str, str], ...] = (
    ("PyJWT + Powertools, hand-written", "powertools"),
    ("secauth Authorizer, 50 routes", "secauth"),
)
HAND_AUTHORIZER = AUTHORIZER_MODES[0][0]
SECAUTH_AUTHORIZER = AUTHORIZER_MODES[1][0]
AUTHORIZER_TARGET_X = 0.4  # the target: secauth <= 0.4x the hand-written one (in-process)


def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(extra or {})
    return env


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed_run(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run one child; return its wall ms, its CPU ms (user + system) and its stdout."""
    cpu_before = _children_cpu_s()
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall_ms = (time.perf_counter() - start) * 1000.0
    cpu_ms = (_children_cpu_s() - cpu_before) * 1000.0
    if done.returncode != 0:
        raise RuntimeError(f"child {argv[1:]} failed: {done.stderr.strip()[-2000:]}")
    return wall_ms, cpu_ms, done.stdout


class _Samples:
    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.inproc: list[float] = []
        self.phases: dict[str, list[float]] = {}

    def add(
        self, wall: float, cpu: float, inproc: float, phases: dict[str, float] | None = None
    ) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)
        self.inproc.append(inproc)
        for phase, ms in (phases or {}).items():
            self.phases.setdefault(phase, []).append(ms)

    def summary(self) -> dict[str, Any]:
        out = {
            "wall_ms": statistics.median(self.wall),
            "wall_min_ms": min(self.wall),
            "wall_max_ms": max(self.wall),
            "cpu_ms": statistics.median(self.cpu),
            "in_process_ms": statistics.median(self.inproc),
            "runs": len(self.wall),
        }
        if self.phases:  # each phase's own median: they need not add up to in_process_ms
            out["phases_ms"] = {p: statistics.median(v) for p, v in self.phases.items()}
        return out


def _interleaved(
    runs: int,
    children: Sequence[tuple[str, Sequence[str]]],
    env: dict[str, str],
    answer: Callable[[str, str], dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Run each ``(name, argv)`` child once untimed, then ``runs`` interleaved rounds; medians.

    ``answer(name, stdout)`` checks a child's output and returns its in-process ``ms``
    (and, optionally, its ``phases``).
    """
    results = {name: _Samples() for name, _ in children}
    for warm_up in (True, *([False] * runs)):
        for name, argv in children:
            wall, cpu, out = _timed_run(argv, env)
            reply = answer(name, out)
            if not warm_up:  # the warm-up run writes bytecode caches and fills the page cache
                results[name].add(wall, cpu, float(reply["ms"]), reply.get("phases"))
    return {name: samples.summary() for name, samples in results.items()}


def measure_imports(runs: int) -> dict[str, dict[str, Any]]:
    """Median wall time of ``python -c <import>`` and the in-process import time."""
    children = [
        (
            name,
            [
                sys.executable,
                "-c",
                "import time; t0 = time.perf_counter(); "
                f"{stmt}; print((time.perf_counter() - t0) * 1000.0)",
            ],
        )
        for name, stmt in IMPORTS
    ]
    return _interleaved(runs, children, _child_env(), lambda name, out: {"ms": out})


def measure_cold_start(runs: int) -> dict[str, dict[str, Any]]:
    """Cold start of each mode against a loopback issuer started here, in the parent."""
    from _contenders import AUDIENCE

    from secauth.testing import LocalIssuer

    with LocalIssuer(algs=("RS256",)) as idp, tempfile.TemporaryDirectory() as tmp:
        jwks_text = json.dumps(idp.jwks())
        jwks_file = Path(tmp) / "jwks.json"
        jwks_file.write_text(jwks_text, encoding="utf-8")
        env = _child_env({"BENCH_JWKS": jwks_text})
        sources = {
            "pyjwt-fetch": idp.jwks_uri,
            "secauth-fetch": idp.jwks_uri,
            "secauth-file": str(jwks_file),
            "secauth-env": "BENCH_JWKS",
        }
        token = idp.token(sub="cold-start", aud=AUDIENCE, lifetime=3600)
        children = [
            (name, [sys.executable, str(CHILD), mode, idp.issuer, AUDIENCE, token, sources[mode]])
            for name, mode in COLD_MODES
        ]

        def verified(name: str, out: str) -> dict[str, Any]:
            reply: dict[str, Any] = json.loads(out)
            if reply.get("sub") != "cold-start":
                raise RuntimeError(f"cold start {name}: token not verified: {out!r}")
            return reply

        return _interleaved(runs, children, env, verified)


def measure_authorizer_cold_start(runs: int) -> dict[str, dict[str, Any]]:
    """Cold start of a whole authorizer Lambda: seeded keys, one allowed REST TOKEN event.

    The parent signs the RS256 token; the children get it and the public JWKS through
    the environment, so nothing touches the network.
    """
    from _contenders import AUDIENCE

    from secauth.testing import KeyPair

    issuer = "https://issuer.example.com/"
    pair = KeyPair.generate("RS256", kid="authorizer-key")
    now = int(time.time())
    token = pair.sign(
        {
            "iss": issuer,
            "sub": "cold-start",
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 3600,
            "scope": "r3.read r3.write",
            "roles": ["member"],
        }
    )
    env = _child_env(
        {"BENCH_JWKS": json.dumps({"keys": [dict(pair.public_jwk)]}), "BENCH_TOKEN": token}
    )
    children = [
        (name, [sys.executable, str(AUTHORIZER_CHILD), mode, issuer, AUDIENCE])
        for name, mode in AUTHORIZER_MODES
    ]

    def allowed(name: str, out: str) -> dict[str, Any]:
        reply: dict[str, Any] = json.loads(out)
        if reply.get("effect") != "Allow":
            raise RuntimeError(f"authorizer cold start {name}: not allowed: {out!r}")
        return reply

    return _interleaved(runs, children, env, allowed)
