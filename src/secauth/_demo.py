"""``secauth demo``: a local issuer signs tokens; secauth accepts good ones and rejects attacks.

Everything runs on loopback. The demo prints one table of decisions and timings
and exits non-zero if any decision differs from the expected one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from secauth.errors import SecAuthError
from secauth.testing import KeyPair, LocalIssuer, encode_segment, sign_compact
from secauth.verifier import JwtVerifier

__all__ = ["run_demo"]

AUDIENCE = "orders-api"


@dataclass(frozen=True)
class Case:
    name: str
    expected: str  # "allow" or a reason code
    make_token: Callable[[], str]


def _cases(idp: LocalIssuer) -> list[Case]:
    rsa, ec, ed = idp.keys
    attacker = KeyPair.generate("RS256", kid=rsa.kid)
    good = idp.token(key=rsa, sub="alice", aud=AUDIENCE)

    def tampered() -> str:
        header, _, signature = good.split(".")
        forged = encode_segment({"iss": idp.issuer, "aud": AUDIENCE, "sub": "admin", "exp": 4e9})
        return f"{header}.{forged}.{signature}"

    def alg_none() -> str:
        body = encode_segment({"iss": idp.issuer, "aud": AUDIENCE, "sub": "mallory", "exp": 4e9})
        return f"{encode_segment({'alg': 'none', 'typ': 'JWT'})}.{body}."

    def hmac_with_public_key() -> str:
        # The classic key-confusion attack: sign HS256 with the public RSA key as the secret.
        body = encode_segment({"iss": idp.issuer, "aud": AUDIENCE, "sub": "mallory", "exp": 4e9})
        secret = str(rsa.public_jwk["n"]).encode()
        return sign_compact({"alg": "HS256", "kid": rsa.kid}, body, secret, "HS256")

    def embedded_jwk() -> str:
        return attacker.sign(
            {"iss": idp.issuer, "aud": AUDIENCE, "sub": "mallory", "exp": 4e9},
            headers={"jwk": attacker.public_jwk},
        )

    return [
        Case("valid RS256 token", "allow", lambda: good),
        Case("same token again (cache hit)", "allow", lambda: good),
        Case("valid ES256 token", "allow", lambda: idp.token(key=ec, sub="bob", aud=AUDIENCE)),
        Case("valid EdDSA token", "allow", lambda: idp.token(key=ed, sub="carol", aud=AUDIENCE)),
        Case("payload tampered after signing", "invalid_signature", tampered),
        Case("alg: none, signature stripped", "malformed_token", alg_none),
        Case("HS256 signed with the RSA public key", "invalid_signature", hmac_with_public_key),
        Case("attacker key in jwk header", "malformed_token", embedded_jwk),
        Case(
            "attacker key, IdP's kid",
            "invalid_signature",
            lambda: attacker.sign({"iss": idp.issuer, "aud": AUDIENCE, "exp": 4e9}),
        ),
        Case("expired", "token_expired", lambda: idp.token(sub="dave", aud=AUDIENCE, lifetime=-60)),
        Case(
            "wrong audience", "invalid_audience", lambda: idp.token(sub="erin", aud="billing-api")
        ),
        Case(
            "issuer look-alike",
            "invalid_issuer",
            lambda: idp.token(sub="frank", aud=AUDIENCE, iss=idp.issuer + ".evil.example"),
        ),
        Case(
            "unknown kid",
            "unknown_key",
            lambda: idp.token(aud=AUDIENCE, headers={"kid": "no-such-key"}),
        ),
        Case("not a JWT at all", "malformed_token", lambda: "Bearer hello.world"),
    ]


def run_demo(out: TextIO) -> int:
    """Run the demo, write the table to ``out``, return the process exit code."""
    with LocalIssuer(algs=("RS256", "ES256", "EdDSA")) as idp:
        verifier = JwtVerifier.from_discovery(idp.issuer, audience=AUDIENCE, allow_http=True)
        started = time.perf_counter()
        verifier.hydrate(strict=True)
        hydrate_ms = (time.perf_counter() - started) * 1000
        out.write(f"Local issuer {idp.issuer} (RS256, ES256, EdDSA keys)\n")
        out.write(f"Keys fetched via OIDC discovery in {hydrate_ms:.1f} ms\n\n")
        rows: list[tuple[str, ...]] = [("case", "expected", "decision", "reason", "µs")]
        failures = 0
        for case in _cases(idp):
            token = case.make_token()
            started = time.perf_counter()
            try:
                verifier.verify(token)
                decision, reason = "allow", "allow"
            except SecAuthError as err:
                decision, reason = f"deny {err.status}", err.reason.value
            micros = (time.perf_counter() - started) * 1e6
            ok = reason == case.expected
            failures += not ok
            mark = "" if ok else "  <-- UNEXPECTED"
            rows.append((case.name, case.expected, decision, reason + mark, f"{micros:,.1f}"))
        _table(rows, out)
        out.write(f"\nJWKS fetches: {idp.fetches}; discovery fetches: {idp.discovery_fetches}\n")
    out.write("All decisions as expected.\n" if not failures else f"{failures} unexpected!\n")
    return 1 if failures else 0


def _table(rows: Sequence[tuple[str, ...]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        cells = [
            c.rjust(w) if i == len(row) - 1 else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.write("| " + " | ".join(cells) + " |\n")
        if index == 0:
            out.write("|" + "|".join("-" * (w + 2) for w in widths) + "|\n")
