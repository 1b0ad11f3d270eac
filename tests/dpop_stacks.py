"""What the DPoP reviews of stacked Powertools guards (reviews 43 and 44) share: ann's
tokens, a bound token's header, the routes, the global and route guards, and how a guard
alone and a resolver answer a list of events."""

from __future__ import annotations

import copy
from typing import Any

from dpop_parties import VERIFIER
from dpop_parties import token as dpop_token

from secauth import Guard, Routes
from secauth.access import authenticated, public
from secauth.dpop import DpopVerifier
from secauth.dpop_replay import MemoryReplayStore
from secauth.sender_constraint import SenderConstraint
from secauth.token_sources import TokenSource

BOUND_SOURCE = [TokenSource.header("x-bound-token", scheme="DPoP")]
ORDER_7 = Routes({"GET /orders/7": authenticated()})
PUBLIC_ORDER_7 = Routes({"GET /orders/7": public()})
BOUND = dpop_token()  # ann's token bound to CLIENT's key
UNBOUND = dpop_token(None)  # ann's plain bearer token


def ok(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


def alone(guard: Guard, *events: dict[str, Any]) -> list[int]:
    """The statuses ``guard`` alone answers ``events`` with, in order (one handler)."""
    handler = guard(ok)
    return [int(handler(copy.deepcopy(event), None)["statusCode"]) for event in events]


def resolve(app: Any, *events: dict[str, Any]) -> list[int]:
    return [int(app.resolve(copy.deepcopy(event), None)["statusCode"]) for event in events]


def dpop(store: MemoryReplayStore | None = None, **options: Any) -> DpopVerifier:
    return DpopVerifier(replay=store if store is not None else MemoryReplayStore(), **options)


def dpop_outer(verifier: DpopVerifier | None = None, **options: Any) -> Guard:
    """Our global guard: DPoP accepted in Authorization, GET /orders/7 public."""
    options.setdefault("routes", PUBLIC_ORDER_7)
    return Guard(VERIFIER, decision_log=None,
                 sender_constraint=SenderConstraint(dpop=verifier or dpop()), **options)  # fmt: skip


def bound_guard(verifier: DpopVerifier | None = None, **options: Any) -> Guard:
    """A route guard requiring a DPoP-bound token, read from x-bound-token."""
    options.setdefault("routes", ORDER_7)
    options.setdefault("token_sources", BOUND_SOURCE)
    constraint = SenderConstraint(require="dpop", dpop=verifier or dpop())
    return Guard(VERIFIER, decision_log=None, sender_constraint=constraint, **options)
