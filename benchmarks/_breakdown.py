"""Where the time goes: the secauth fresh-token path against the minimal verifier, piece by piece.

Each piece is timed alone over distinct tokens. The secauth pieces call the
functions ``JwtVerifier.verify`` calls (some private, so this section may show
"n/a" while the internals change); the cache cost is the difference between a
verifier with the default cache and one with ``cache_size=0``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from _contenders import (
    AUDIENCE,
    Material,
    _b64d,
    _miss_guard,
    _raw_signature_check,
    minimal_verifier,
)
from _harness import Case, Feed, Plan, Timing, measure

PIECES = (
    "parse token (split, header, signature bytes)",  # secauth: JwtVerifier._parse
    "key lookup",
    "signature check",
    "payload decode (base64url + JSON)",
    "claim checks",
    "cache insert + eviction (difference)",
    "sum of pieces",
    "whole verification (measured)",
)


def _steps(verifier: Any, token: str) -> tuple[Any, Any]:
    """The ``(segments, header)`` that ``verifier._parse`` gives."""
    segments, header = verifier._parse(token)
    return segments, header


def _piece_ops(m: Material) -> tuple[dict[str, Case], dict[str, Case], list[str]]:
    import inspect

    from secauth import JwtVerifier, jose

    alg, issuer, tokens = m.alg, m.issuer, m.tokens
    problems: list[str] = []
    if alg == "HS256":
        source: dict[str, Any] = {"secret": m.public_key}
    else:
        source = {"jwks": {"keys": [m.jwk]}}
    verifier = JwtVerifier(issuer=issuer, audience=AUDIENCE, algorithms=[alg], **source)
    uncached = JwtVerifier(
        issuer=issuer, audience=AUDIENCE, algorithms=[alg], cache_size=0, **source
    )
    sec: dict[str, Case] = {}

    # The steps JwtVerifier.verify takes on a cache miss, each called the way verify calls it.
    # They are private: whatever no longer fits is reported, not guessed.
    try:
        steps = [_steps(verifier, t) for t in tokens]
        sec["parse"] = Case("parse", verifier._parse, Feed(tokens))
        sec["lookup"] = Case("lookup", lambda s: verifier.keys.keys_for(s[1].kid), Feed(steps))
        key = verifier.keys.keys_for(steps[0][1].kid)[0]
        sec["signature"] = Case(
            "signature",
            lambda s: key.verify(s[1].alg, s[0].signing_input, s[0].signature),
            Feed(steps),
        )
        options = {}
        if "alphabet_checked" in inspect.signature(jose.parse_claims_text).parameters:
            options["alphabet_checked"] = True  # verify's own call: split checked the alphabet
        sec["payload"] = Case(
            "payload",
            lambda s: jose.parse_claims_text(s[0].payload_segment, **options),
            Feed(steps),
        )
        claims_list = [jose.parse_claims_text(s[0].payload_segment)[0] for s in steps]
        check_claims = verifier.claims.check  # the ClaimPolicy
        clock = time.time
        sec["claims"] = Case("claims", lambda c: check_claims(c, clock()), Feed(claims_list))
    except Exception as exc:
        problems.append(
            f"secauth internals changed ({type(exc).__name__}: {exc}); pieces not timed"
        )
        sec.clear()
    sec["uncached"] = Case("uncached", uncached.verify, Feed(tokens))
    whole_feed = Feed(tokens)
    sec["whole"] = Case(
        "whole", verifier.verify, whole_feed, guard=_miss_guard(verifier, whole_feed)
    )

    # The minimal verifier, cut at the same places (each piece repeats only its own lines).
    loads, b64d = json.loads, _b64d
    check_signature = _raw_signature_check(alg, m.public_key)

    def min_parse(token: str) -> tuple[bytes, bytes, str]:
        parts = token.split(".")
        if len(parts) != 3:
            raise ValueError("not three parts")
        header = loads(b64d(parts[0]))
        if type(header) is not dict or header.get("alg") != alg:
            raise ValueError("wrong alg")
        return token[: token.rindex(".")].encode("ascii"), b64d(parts[2]), parts[1]

    parsed = [min_parse(t) for t in tokens]
    now = time.time

    def min_claims(claims: dict[str, Any]) -> None:
        exp = claims.get("exp")
        if type(exp) not in (int, float) or now() >= exp:
            raise ValueError("expired or no exp")
        if claims.get("iss") != issuer:
            raise ValueError("wrong iss")
        aud = claims.get("aud")
        if aud != AUDIENCE and not (type(aud) is list and AUDIENCE in aud):
            raise ValueError("wrong aud")

    mini: dict[str, Case] = {
        "parse": Case("parse", min_parse, Feed(tokens)),
        "signature": Case("signature", lambda p: check_signature(p[0], p[1]), Feed(parsed)),
        "payload": Case("payload", lambda p: loads(b64d(p[2])), Feed(parsed)),
        "claims": Case("claims", min_claims, Feed([loads(b64d(p[2])) for p in parsed])),
        "whole": Case("whole", minimal_verifier(alg, m.public_key, issuer, AUDIENCE), Feed(tokens)),
    }
    return sec, mini, problems


def measure_breakdown(m: Material, plan: Plan) -> dict[str, Any]:
    """Piece timings (µs) for secauth and the minimal verifier; ``None`` where not measured."""
    try:
        sec, mini, problems = _piece_ops(m)
    except Exception as exc:  # the internals moved: report it instead of failing the run
        return {"error": f"{type(exc).__name__}: {exc}", "rows": {}}
    prefixed = [
        *(_renamed(c, "secauth " + k) for k, c in sec.items()),
        *(_renamed(c, "minimal " + k) for k, c in mini.items()),
    ]
    try:
        timings = measure(prefixed, plan)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "rows": {}}

    def us(name: str) -> float | None:
        t: Timing | None = timings.get(name)
        return t.median_us if t is not None else None

    s: dict[str, float | None] = {k: us("secauth " + k) for k in sec}
    n: dict[str, float | None] = {k: us("minimal " + k) for k in mini}
    cache = None
    if s.get("whole") is not None and s.get("uncached") is not None:
        cache = s["whole"] - s["uncached"]  # type: ignore[operator]
    sec_parts = [
        s.get("parse"),
        s.get("lookup"),
        s.get("signature"),
        s.get("payload"),
        s.get("claims"),
        cache,
    ]
    min_parts = [n.get("parse"), None, n.get("signature"), n.get("payload"), n.get("claims"), None]
    rows = {
        name: {"secauth": a, "minimal": b}
        for name, a, b in zip(PIECES[:6], sec_parts, min_parts, strict=True)
    }
    rows[PIECES[6]] = {"secauth": _total(sec_parts), "minimal": _total(min_parts)}
    rows[PIECES[7]] = {"secauth": s.get("whole"), "minimal": n.get("whole")}
    return {"error": "; ".join(problems) or None, "rows": rows}


def _total(parts: list[float | None]) -> float | None:
    known = [p for p in parts if p is not None]
    return sum(known) if known else None


def _renamed(case: Case, name: str) -> Case:
    op: Callable[[Any], object] = case.op
    return Case(name, op, case.feed, case.guard)
