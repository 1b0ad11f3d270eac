"""Where a fresh-token authorizer call goes: each step of ``Authorizer``'s pipeline, timed
alone through public entry points, in the same interleaved rounds as the whole call.

Each step is fed what the step before it produced for the same distinct events, so its
working set is the whole call's. The steps' sum is short of the whole call by what is
not a step (the response memo, the decision record, the handler), and by what running
the steps one after another in one call costs in CPU caches (a third case runs them in
sequence, and nothing else); both remainders are reported, not hidden.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from typing import Any

from _harness import Case, Feed

from secauth import Authorizer, Principal
from secauth.events import Request
from secauth.targets import target_of
from secauth.token_sources import read_token

# (row label, what the step does); the order is the pipeline's.
STEPS = (
    ("event -> Request", "Request.from_event"),
    ("read the bearer token", "token_sources.read_token"),
    ("verify the token", "JwtVerifier.verify (a fresh token)"),
    ("claims -> Principal", "ClaimMapper.map"),
    ("the target (verb, path)", "targets.target_of"),
    ("the route decision", "Routes.decide"),
    ("the context", "Principal.to_context"),
    ("the response", "PolicyBuilder.response: validate, build, size check"),
    ("of which the size check", "len(json.dumps(response))"),
)
SIZE_CHECK = STEPS[-1][0]
SEQUENCE = "step|the steps in sequence"


def step_cases(authorizer: Authorizer, events: list[dict[str, Any]]) -> list[Case]:
    """One case per step, each fed the previous step's outputs for ``events``."""
    verifier = authorizer.verifier
    assert verifier is not None
    routes, builder, mapper = authorizer.routes, authorizer.policy_builder, authorizer.claims
    sources = authorizer.token_sources
    requests = [Request.from_event(event) for event in events]
    tokens = [read_token(request, sources).token for request in requests]
    claims = [verifier.verify(token) for token in tokens]
    principals = [mapper.map(c) for c in claims]
    targets = [target_of(request, routes) for request in requests]
    asked = list(zip(principals, targets, requests, strict=True))
    contexts = [principal.to_context() for principal in principals]
    answered = list(zip(principals, requests, contexts, strict=True))
    responses = [_respond(builder, item) for item in answered]

    def decide(item: tuple[Principal, Any, Request]) -> object:
        principal, target, request = item
        return routes.decide(principal, target.method, target.path, request)

    ops: list[tuple[Callable[[Any], object], list[Any]]] = [
        (Request.from_event, events),
        (lambda request: read_token(request, sources), requests),
        (verifier.verify, tokens),
        (mapper.map, claims),
        (lambda request: target_of(request, routes), requests),
        (decide, asked),
        (Principal.to_context, principals),
        (lambda item: _respond(builder, item), answered),
        (lambda response: len(json.dumps(response)), responses),
    ]
    def in_sequence(event: dict[str, Any]) -> object:
        """The steps one after another, as the pipeline runs them, and nothing else."""
        request = Request.from_event(event)
        principal = mapper.map(verifier.verify(read_token(request, sources).token))
        target = target_of(request, routes)
        routes.decide(principal, target.method, target.path, request)
        return _respond(builder, (principal, request, principal.to_context()))

    return [
        Case(f"step|{label}", op, Feed(items))
        for (label, _), (op, items) in zip(STEPS, ops, strict=True)
    ] + [Case(SEQUENCE, in_sequence, Feed(events))]


def _respond(builder: Any, item: tuple[Principal, Request, dict[str, str]]) -> dict[str, Any]:
    principal, request, context = item
    response: dict[str, Any] = builder.response(principal, request, allow=True, context=context)
    return response


def step_rows(timings: dict[str, Any], whole: Any, floor: Any) -> list[dict[str, Any]]:
    """One row per step, then the remainder of the whole call, per round (paired)."""
    rows = []
    summed = [0.0] * len(whole.samples)
    for label, what in STEPS:
        t = timings[f"step|{label}"]
        if label != SIZE_CHECK:  # part of "the response"
            summed = [a + b for a, b in zip(summed, t.samples, strict=True)]
        rows.append({"step": label, "what": what, "x_floor": t.paired_ratio(floor), **t.to_json()})
    in_sequence = timings[SEQUENCE].samples
    rows += [
        {
            "step": "running them in sequence",
            "what": "the steps one after another in one call, less their sum: CPU caches",
            "us": statistics.median(q - s for q, s in zip(in_sequence, summed, strict=True)),
        },
        {
            "step": "the rest of the call",
            "what": "the whole call less the steps in sequence: response memo, record, handler",
            "us": statistics.median(w - q for w, q in zip(whole.samples, in_sequence, strict=True)),
        },
    ]
    return rows


def render_steps(rows: list[dict[str, Any]], floor_us: float, target_x: float) -> list[str]:
    """The breakdown table and what the fresh-token target leaves for the pipeline."""
    verify = next(r["us"] for r in rows if r["step"] == "verify the token")
    beyond = sum(r["us"] for r in rows if r["step"] not in ("verify the token", SIZE_CHECK))
    lines = [
        "",
        "### Where a fresh-token call goes (each step timed alone, same rounds)",
        "",
        "| step | what | µs |",
        "|---|---|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['step']} | {r['what']} | {r['us']:.2f} |")
    lines += [
        "",
        f"Everything but the verification costs {beyond:.1f} µs; a fresh token at "
        f"{target_x:g}x the floor ({floor_us:.1f} µs) leaves "
        f"{target_x * floor_us - verify:.1f} µs for it.",
    ]
    return lines
