"""Benchmark report for the secauth JWT core: ``make bench`` (or ``python benchmarks/run.py``).

Prints one markdown report on stdout (progress goes to stderr) and saves it as
JSON in ``benchmarks/results/latest.json``. Every contender runs in this one
process, in interleaved rounds; rows give the median microseconds per
verification and ratios to two floors (the bare signature check, and a minimal
hand-written verifier) and to PyJWT. Import time and cold start (of a verifier, and
of a whole authorizer Lambda against PyJWT + Powertools) run in fresh child
processes. See docs/benchmarks.md.

Options: ``--quick`` (smoke run, numbers meaningless), ``--no-save``,
``--compare PATH`` (ratios to an earlier JSON), ``--algs RS256,ES256``,
``--output PATH``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _breakdown import PIECES, measure_breakdown  # noqa: E402

# Other hot paths, each a module in benchmarks/ with run(quick, wall=), targets(rows) and
# render(rows, targets); their targets join the report's.
SUITES = (
    "access", "authorizer", "planning", "ratelimit", "guard", "revocation", "introspection", "dpop"
)
from _contenders import (  # noqa: E402
    ALGS,
    ASYMMETRIC,
    FRESH,
    FRESH_JWKS,
    MIN_FLOOR,
    PYJWKCLIENT,
    PYJWT,
    REPEATED,
    ROWS,
    SIG_FLOOR,
    Material,
    build_cases,
    mint_tokens,
)
from _harness import Plan, measure  # noqa: E402
from _startup import (  # noqa: E402
    AUTHORIZER_TARGET_X,
    BARE,
    CRYPTO_IMPORT,
    HAND_AUTHORIZER,
    PYJWT_COLD,
    SECAUTH_AUTHORIZER,
    SECAUTH_COLD,
    SECAUTH_FIRST_USE,
    SECAUTH_IMPORT,
    SEEDED,
    measure_authorizer_cold_start,
    measure_cold_start,
    measure_imports,
)

DEFAULT_OUTPUT = HERE / "results" / "latest.json"
CLOCK_TEXT = {
    "cpu": "the thread's CPU time (time the OS gives other processes is not counted)",
    "wall": "wall clock (perf_counter)",
}


@dataclass(frozen=True)
class Config:
    plan: Plan
    breakdown_plan: Plan
    tokens: int
    import_runs: int
    cold_runs: int
    authorizer_cold_runs: int


FULL = Config(
    plan=Plan(rounds=25, round_seconds=0.035, min_n=50, max_n=200_000),
    breakdown_plan=Plan(rounds=7, round_seconds=0.03, min_n=50, max_n=200_000),
    tokens=3000,
    import_runs=15,
    cold_runs=11,
    authorizer_cold_runs=21,
)
# Few iterations; the fresh-token feeds never wrap, so no cache can be hit by accident.
QUICK = Config(
    plan=Plan(rounds=3, round_seconds=0.002, min_n=5, max_n=40, probe=5),
    breakdown_plan=Plan(rounds=2, round_seconds=0.001, min_n=5, max_n=20, probe=5),
    tokens=300,
    import_runs=2,
    cold_runs=2,
    authorizer_cold_runs=2,
)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- environment ---------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(HERE.parent), *args], capture_output=True, text=True, check=False
        )
    except OSError:
        return ""
    return done.stdout.strip()


def environment(quick: bool) -> dict[str, Any]:
    from cryptography.hazmat.backends.openssl import backend

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "versions": {
            "cryptography": _version("cryptography"),
            "openssl": backend.openssl_version_text(),
            "PyJWT": _version("PyJWT"),
            "joserfc": _version("joserfc"),
            "secauth": _version("secauth"),
        },
        "git": _git("rev-parse", "--short", "HEAD"),
        "src_dirty": bool(_git("status", "--porcelain", "--", "src")),
        "quick": quick,
    }


# -- measurement -----------------------------------------------------------------------------


def make_materials(algs: list[str], count: int) -> tuple[dict[str, Material], Any]:
    """Keys and ``count`` + 1 distinct tokens per algorithm; a LocalIssuer serves the JWKS."""
    from secauth.testing import KeyPair, LocalIssuer

    idp = LocalIssuer(algs=ASYMMETRIC).start()
    pairs = {pair.alg: pair for pair in idp.keys}
    pairs["HS256"] = KeyPair.generate("HS256", kid="hs-1")
    materials = {}
    for alg in algs:
        pair = pairs[alg]
        started = time.perf_counter()
        tokens = mint_tokens(pair, idp.issuer, count + 1)
        log(f"minted {count + 1} {alg} tokens in {time.perf_counter() - started:.1f} s")
        public = pair.private_key if alg == "HS256" else pair.private_key.public_key()
        materials[alg] = Material(
            alg=alg,
            jwk=dict(pair.public_jwk),
            public_key=public,
            tokens=tokens[:-1],
            spare=tokens[-1],
            issuer=idp.issuer,
            jwks_uri=None if alg == "HS256" else idp.jwks_uri,
        )
    return materials, idp


def verification_rows(materials: dict[str, Material], plan: Plan) -> dict[str, dict[str, Any]]:
    """Time every contender of every algorithm; rows keyed ``"ALG/row name"``."""
    rows: dict[str, dict[str, Any]] = {}
    for alg, m in materials.items():
        log(f"{alg}: timing {plan.rounds} rounds")
        cases = build_cases(m)
        timings = measure(cases, plan)
        minimal, signature, pyjwt = timings[MIN_FLOOR], timings[SIG_FLOOR], timings[PYJWT]
        for name in ROWS:
            t = timings.get(name)
            if t is None:
                continue
            rows[f"{alg}/{name}"] = {
                "alg": alg,
                "row": name,
                **t.to_json(),
                # Paired ratios: median over rounds of the ratio within each round.
                "x_minimal": t.paired_ratio(minimal),
                "x_signature": t.paired_ratio(signature),
                "speedup_vs_pyjwt": 1.0 / t.paired_ratio(pyjwt),
            }
    return rows


# -- targets -----------------------------------------------------------------------------


def _target(name: str, ok: bool | None, measured: str) -> dict[str, Any]:
    status = "SKIP" if ok is None else ("PASS" if ok else "FAIL")
    return {"target": name, "status": status, "measured": measured}


def evaluate_targets(
    rows: dict[str, dict[str, Any]],
    imports: dict[str, dict[str, Any]] | None,
    cold: dict[str, dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    out = []

    def us(alg: str, name: str) -> float | None:
        row = rows.get(f"{alg}/{name}")
        return row["us"] if row else None

    # Ratios within one algorithm are paired per round (see Timing.paired_ratio).
    for alg in ASYMMETRIC:
        fresh, floor = rows.get(f"{alg}/{FRESH}"), rows.get(f"{alg}/{MIN_FLOOR}")
        name = f"{alg} fresh token <= 1.25x minimal verifier"
        if fresh is None or floor is None:
            out.append(_target(name, None, "not measured"))
            continue
        extra = ""
        jwks = rows.get(f"{alg}/{FRESH_JWKS}")
        if jwks is not None:
            extra = f"; with JwksCache {jwks['x_minimal']:.2f}x"
        out.append(
            _target(
                name,
                fresh["x_minimal"] <= 1.25,
                f"{fresh['x_minimal']:.2f}x ({fresh['us']:.1f} us vs {floor['us']:.1f} us){extra}",
            )
        )

    fresh, pyjwt = rows.get(f"RS256/{FRESH}"), rows.get(f"RS256/{PYJWT}")
    name = "RS256 fresh token >= 2x faster than PyJWT jwt.decode"
    if fresh is None or pyjwt is None:
        out.append(_target(name, None, "not measured"))
    else:
        speedup = fresh["speedup_vs_pyjwt"]
        out.append(
            _target(
                name,
                speedup >= 2.0,
                f"{speedup:.2f}x (PyJWT {pyjwt['us']:.1f} us, secauth {fresh['us']:.1f} us)",
            )
        )

    sig = us("RS256", SIG_FLOOR)
    repeated = {alg: us(alg, REPEATED) for alg in ALGS if us(alg, REPEATED) is not None}
    name = "repeated token >= 4x faster than the RS256 signature floor (worst alg)"
    if sig is None or not repeated:
        out.append(_target(name, None, "not measured"))
    else:
        worst_alg = max(repeated, key=lambda a: repeated[a] or 0.0)
        worst = repeated[worst_alg] or 0.0
        each = ", ".join(f"{a} {v:.2f}" for a, v in repeated.items())
        out.append(
            _target(
                name,
                sig >= 4 * worst,
                f"floor {sig:.1f} us; repeated {each} us; worst {worst_alg}: {sig / worst:.1f}x",
            )
        )

    name = "import secauth <= 25 ms over bare python"
    if imports is None:
        out.append(_target(name, None, "not measured"))
    else:
        delta = imports[SECAUTH_IMPORT]["wall_ms"] - imports[BARE]["wall_ms"]
        inproc = imports[SECAUTH_IMPORT]["in_process_ms"]
        out.append(
            _target(
                name, delta <= 25.0, f"{delta:+.1f} ms wall (in-process import {inproc:.1f} ms)"
            )
        )

    if cold is None:
        out.append(_target("cold start targets", None, "not measured"))
        return out
    py = cold[PYJWT_COLD]
    sa = cold[SECAUTH_COLD]
    for kind, label in (("wall_ms", "wall"), ("in_process_ms", "in-process")):
        out.append(
            _target(
                f"cold start, fetched: secauth <= PyJWT ({label})",
                sa[kind] <= py[kind],
                f"secauth {sa[kind]:.1f} ms vs PyJWT {py[kind]:.1f} ms = {sa[kind] / py[kind]:.2f}x",
            )
        )
    for seeded in SEEDED:
        s = cold[seeded]
        for kind, label in (("wall_ms", "wall"), ("in_process_ms", "in-process")):
            out.append(
                _target(
                    f"cold start, {seeded.removeprefix('secauth, ')} <= 0.5x PyJWT fetched ({label})",
                    s[kind] <= 0.5 * py[kind],
                    f"{s[kind]:.1f} ms vs PyJWT {py[kind]:.1f} ms = {s[kind] / py[kind]:.2f}x",
                )
            )
    return out


def authorizer_cold_target(authorizer_cold: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """The whole authorizer's cold start, in-process: secauth against PyJWT + Powertools."""
    name = (
        f"cold start, whole authorizer: secauth <= {AUTHORIZER_TARGET_X:g}x "
        "PyJWT + Powertools (in-process)"
    )
    if authorizer_cold is None:
        return _target(name, None, "not measured")
    ours = authorizer_cold[SECAUTH_AUTHORIZER]["in_process_ms"]
    hand = authorizer_cold[HAND_AUTHORIZER]["in_process_ms"]
    return _target(
        name,
        ours <= AUTHORIZER_TARGET_X * hand,
        f"secauth {ours:.1f} ms vs PyJWT + Powertools {hand:.1f} ms = {ours / hand:.2f}x",
    )


# -- report --------------------------------------------------------------------------------


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _us(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def render(report: dict[str, Any], compare: dict[str, Any] | None, compare_path: str | None) -> str:
    env = report["environment"]
    v = env["versions"]
    lines = [
        "# secauth benchmark report",
        "",
        f"- date: {env['date']}"
        + ("  (**--quick run: numbers are meaningless**)" if env["quick"] else ""),
        f"- machine: {env['cpu']}, {env['cores']} cores ({env['usable_cores']} usable); {env['platform']}",
        f"- Python {env['python']} ({env['implementation']})",
        f"- cryptography {v['cryptography']} ({v['openssl']}), PyJWT {v['PyJWT']}, "
        f"joserfc {v['joserfc']}, secauth {v['secauth']} (git {env['git'] or '?'}"
        + (", src modified" if env["src_dirty"] else "")
        + ")",
        "",
        "## Verification, µs per token",
        "",
        f"Median of {report['plan']['rounds']} interleaved rounds in one process, timed by "
        + CLOCK_TEXT[report["plan"].get("clock", "wall")]
        + "; spread = "
        "(max - min) / median over the rounds. `x minimal` and `x signature` divide by the two "
        "floors (lower is better); `vs PyJWT` is PyJWT `jwt.decode` time / this row "
        "(higher is better). Ratios are paired: the median over rounds of the ratio within "
        "each round, whose contenders run back to back. Fresh-token rows verify a different token each call "
        f"({report['plan']['tokens']} distinct tokens, "
        + (
            "never reused in this short run)."
            if env["quick"]
            else "in a cycle longer than the verified-token cache)."
        ),
        "",
    ]
    rows = report["rows"]
    for alg in report["algs"]:
        lines += [
            f"### {alg}",
            "",
            "| row | µs/op | spread | x minimal | x signature | vs PyJWT |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name in ROWS:
            row = rows.get(f"{alg}/{name}")
            if row is None:
                if name in (PYJWKCLIENT, FRESH_JWKS):
                    lines.append(f"| {name} | n/a (no JWKS for HMAC) | | | | |")
                continue
            lines.append(
                f"| {name} | {_us(row['us'])} | {row['spread_pct']:.0f}% | {_ratio(row['x_minimal'])} "
                f"| {_ratio(row['x_signature'])} | {_ratio(row['speedup_vs_pyjwt'])} |"
            )
        lines.append("")

    if report.get("breakdown"):
        lines += [
            "## Where the time goes: secauth fresh token vs the minimal verifier",
            "",
            "Each piece timed alone over distinct tokens, µs. The minimal verifier has no key "
            "lookup and no cache; the cache cost is (default verifier) - (cache_size=0 verifier).",
            "",
            "| piece | "
            + " | ".join(f"{a} secauth | {a} minimal" for a in report["breakdown"])
            + " |",
            "|---|" + "---:|---:|" * len(report["breakdown"]),
        ]
        for piece in PIECES:
            cells = []
            for data in report["breakdown"].values():
                cell = data["rows"].get(piece, {})
                cells += [_us(cell.get("secauth")), _us(cell.get("minimal"))]
            lines.append(f"| {piece} | " + " | ".join(cells) + " |")
        errors = [f"{a}: {d['error']}" for a, d in report["breakdown"].items() if d.get("error")]
        if errors:
            lines += ["", "Breakdown problems: " + "; ".join(errors)]
        lines.append("")

    if report.get("imports"):
        imports = report["imports"]
        bare = imports[BARE]["wall_ms"]
        lines += [
            "## Import time (fresh process)",
            "",
            f"Median of {imports[BARE]['runs']} runs of `python -c ...`. Wall and CPU (user + "
            "system) are the whole child process; in-process = wall time of the import statement.",
            "",
            "| command | wall ms | over bare | CPU ms | in-process ms |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, r in imports.items():
            over = "" if name == BARE else f"{r['wall_ms'] - bare:+.1f}"
            lines.append(
                f"| `{name}` | {r['wall_ms']:.1f} | {over} | {r.get('cpu_ms', float('nan')):.1f} "
                f"| {r['in_process_ms']:.1f} |"
            )
        lines.append("")

    if report.get("cold_start"):
        cold = report["cold_start"]
        py = cold[PYJWT_COLD]
        lines += [
            "## Cold start (fresh process: import, build verifier, get keys, verify one RS256 token)",
            "",
            f"Median of {py['runs']} runs. The JWKS comes from a loopback LocalIssuer run by the "
            "parent. Wall and CPU (user + system) = the whole child process; in-process = wall "
            "time from the child's first line to the verified claims.",
            "",
            "| variant | wall ms | CPU ms | in-process ms | wall vs PyJWT | in-process vs PyJWT |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, r in cold.items():
            lines.append(
                f"| {name} | {r['wall_ms']:.1f} | {r.get('cpu_ms', float('nan')):.1f} "
                f"| {r['in_process_ms']:.1f} | {r['wall_ms'] / py['wall_ms']:.2f}x "
                f"| {r['in_process_ms'] / py['in_process_ms']:.2f}x |"
            )
        lines.append("")
    if report.get("authorizer_cold_start"):
        lines += _render_authorizer_cold(report["authorizer_cold_start"])

    targets = report["targets"]
    failed = sum(t["status"] == "FAIL" for t in targets)
    skipped = sum(t["status"] == "SKIP" for t in targets)
    passed = len(targets) - failed - skipped
    lines += [
        "## Targets",
        "",
        "| target | result | measured |",
        "|---|---|---|",
        *(f"| {t['target']} | **{t['status']}** | {t['measured']} |" for t in targets),
        "",
        f"{passed} of {len(targets)} targets met"
        + (f"; **{failed} FAILED**" if failed else "")
        + (f"; {skipped} not measured in this run" if skipped else "")
        + ".",
        "",
    ]
    imports = report.get("imports")
    if imports:
        bare = imports[BARE]["wall_ms"]
        first_use = imports[SECAUTH_FIRST_USE]["wall_ms"] - bare
        crypto = imports[CRYPTO_IMPORT]["wall_ms"] - bare
        lines += [
            "Note: `import secauth` is lazy. The first use of `secauth.JwtVerifier` costs "
            f"{first_use:+.1f} ms over bare python, of which "
            f"importing the `cryptography` primitives alone is {crypto:+.1f} ms; "
            "the cold-start rows include all of it.",
            "",
        ]

    if compare is not None:
        lines += _render_compare(report, compare, compare_path or "?")
    return "\n".join(lines)


def _render_authorizer_cold(cold: dict[str, dict[str, Any]]) -> list[str]:
    """The whole-authorizer cold start: totals, then each contender's setup phases."""
    hand = cold[HAND_AUTHORIZER]
    lines = [
        "### Cold start, whole authorizer (fresh process: import, setup, one REST TOKEN decision)",
        "",
        f"Median of {hand['runs']} interleaved runs. Each child is a Lambda authorizer module: "
        "keys seeded from the environment (no network), then one allowed RS256 REST TOKEN "
        "event for `GET /r3/7`. secauth: `JwtVerifier` + a 50-route `Routes` table + "
        "`Authorizer`; hand-written: PyJWT `PyJWK` + the same rules by hand + Powertools' "
        "`APIGatewayAuthorizerResponse`. In-process = wall time from the module's first line "
        "to the decision.",
        "",
        "| authorizer | wall ms | CPU ms | in-process ms | in-process vs hand-written |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in cold.items():
        lines.append(
            f"| {name} | {r['wall_ms']:.1f} | {r['cpu_ms']:.1f} | {r['in_process_ms']:.1f} "
            f"| {r['in_process_ms'] / hand['in_process_ms']:.2f}x |"
        )
    lines += [
        "",
        "Where the in-process time goes (median of each phase on its own, so the phases need "
        "not add up to the median total):",
        "",
        "| authorizer | phase | ms |",
        "|---|---|---:|",
    ]
    for name, r in cold.items():
        for phase, ms in r.get("phases_ms", {}).items():
            lines.append(f"| {name} | {phase} | {ms:.1f} |")
    lines.append("")
    return lines


def _render_compare(report: dict[str, Any], old: dict[str, Any], path: str) -> list[str]:
    old_env = old.get("environment", {})
    lines = [
        f"## Compared with {path}",
        "",
        f"Earlier run: {old_env.get('date', '?')}, git {old_env.get('git', '?')}, "
        f"{old_env.get('cpu', '?')}. now / before: below 1.00 means faster now.",
        "",
        "| item | before | now | now / before |",
        "|---|---:|---:|---:|",
    ]
    pairs: list[tuple[str, float | None, float | None, str]] = []
    for key, row in report["rows"].items():
        before = old.get("rows", {}).get(key, {}).get("us")
        pairs.append((f"{row['alg']} {row['row']}", before, row["us"], "µs"))
    for section, unit_key in (
        ("imports", "wall_ms"),
        ("cold_start", "wall_ms"),
        ("cold_start", "in_process_ms"),
        ("authorizer_cold_start", "wall_ms"),
        ("authorizer_cold_start", "in_process_ms"),
    ):
        for name, r in (report.get(section) or {}).items():
            before = (old.get(section) or {}).get(name, {}).get(unit_key)
            label = "wall" if unit_key == "wall_ms" else "in-process"
            pairs.append(
                (f"{section.replace('_', ' ')}: {name} ({label})", before, r[unit_key], "ms")
            )
    for label, before, now, unit in pairs:
        ratio = f"{now / before:.2f}" if before else "new"
        lines.append(
            f"| {label} | {_us(before)} {unit if before else ''} | {_us(now)} {unit} | {ratio} |"
        )
    lines.append("")
    return lines


# -- suites -----------------------------------------------------------------------------------

_SUITE_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
import {name} as suite
rows = suite.run({quick!r}, wall={wall!r})
with open(sys.argv[2], "w", encoding="utf-8") as out:
    json.dump(rows, out)
"""


def run_suite_alone(name: str, *, quick: bool, wall: bool) -> list[dict[str, Any]]:
    """A suite's rows, measured in a fresh interpreter as ``python benchmarks/<name>.py``
    measures them: its numbers do not depend on what ran before it in this process (the
    objects and modules earlier suites leave make the garbage collector's work, and so a
    warm path, cost more; DPoP requests ran about 1 us slower last in one process)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        code = _SUITE_CHILD.format(name=name, quick=quick, wall=wall)
        done = subprocess.run(
            [sys.executable, "-c", code, str(HERE), str(out)], check=False, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"benchmark suite {name} failed (exit {done.returncode})")
        rows: list[dict[str, Any]] = json.loads(out.read_text(encoding="utf-8"))
    return rows


# -- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: few iterations, numbers meaningless"
    )
    parser.add_argument("--no-save", action="store_true", help="do not write the JSON results")
    parser.add_argument("--compare", metavar="PATH", help="print ratios to an earlier results JSON")
    parser.add_argument(
        "--output", metavar="PATH", default=str(DEFAULT_OUTPUT), help="JSON output path"
    )
    parser.add_argument(
        "--algs", default=",".join(ALGS), help=f"comma-separated subset of {','.join(ALGS)}"
    )
    parser.add_argument(
        "--wall", action="store_true", help="time rows by wall clock instead of thread CPU time"
    )
    parser.add_argument("--no-startup", action="store_true", help="skip import and cold-start runs")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the per-piece breakdown")
    args = parser.parse_args(argv)

    algs = [a.strip() for a in args.algs.split(",") if a.strip()]
    unknown = sorted(set(algs) - set(ALGS))
    if unknown or not algs:
        parser.error(f"unknown algorithms {unknown}; choose from {', '.join(ALGS)}")
    compare = None
    if args.compare:  # read first: PATH may be the file this run overwrites
        compare = json.loads(Path(args.compare).read_text(encoding="utf-8"))

    config = QUICK if args.quick else FULL
    if args.wall:
        config = dataclasses.replace(
            config,
            plan=dataclasses.replace(config.plan, clock="wall"),
            breakdown_plan=dataclasses.replace(config.breakdown_plan, clock="wall"),
        )
    started = time.perf_counter()
    env = environment(args.quick)
    materials, idp = make_materials(algs, config.tokens)
    try:
        rows = verification_rows(materials, config.plan)
        breakdown = {}
        if not args.no_breakdown:
            for alg, m in materials.items():
                log(f"{alg}: breakdown")
                breakdown[alg] = measure_breakdown(m, config.breakdown_plan)
    finally:
        idp.stop()
    imports = cold = authorizer_cold = None
    if not args.no_startup:
        log(f"import time: {config.import_runs} runs each")
        imports = measure_imports(config.import_runs)
        log(f"cold start: {config.cold_runs} runs each")
        cold = measure_cold_start(config.cold_runs)
        log(f"cold start, whole authorizer: {config.authorizer_cold_runs} runs each")
        authorizer_cold = measure_authorizer_cold_start(config.authorizer_cold_runs)

    suites: dict[str, Any] = {}
    suite_targets: list[dict[str, Any]] = []
    for name in SUITES:
        module = importlib.import_module(name)
        log(f"{name}: measuring (own interpreter)")
        suite_rows = run_suite_alone(name, quick=args.quick, wall=args.wall)
        verdicts = module.targets(suite_rows)
        suites[name] = {
            "rows": suite_rows,
            "targets": verdicts,
            "markdown": module.render(suite_rows, verdicts),
        }
        suite_targets += verdicts

    report = {
        "environment": env,
        "suites": suites,
        "plan": {
            "rounds": config.plan.rounds,
            "round_seconds": config.plan.round_seconds,
            "clock": config.plan.clock,
            "tokens": config.tokens,
            "import_runs": config.import_runs,
            "cold_runs": config.cold_runs,
            "authorizer_cold_runs": config.authorizer_cold_runs,
        },
        "algs": algs,
        "rows": rows,
        "breakdown": breakdown,
        "imports": imports,
        "cold_start": cold,
        "authorizer_cold_start": authorizer_cold,
        "targets": [
            *evaluate_targets(rows, imports, cold),
            authorizer_cold_target(authorizer_cold),
            *suite_targets,
        ],
    }
    report["elapsed_s"] = time.perf_counter() - started
    print(render(report, compare, args.compare))
    for suite in suites.values():
        print(suite["markdown"])
    print(f"_Benchmark took {report['elapsed_s']:.0f} s._")
    if not args.no_save:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        log(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
