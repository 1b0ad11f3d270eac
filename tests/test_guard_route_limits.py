"""``Guard(route_limits=...)``: rate limits of their own for routes of the guard's table.

Keys are checked against the ``Routes`` table at construction; a request counts against
the limit of the route it resolves to, after the global ``rate_limit``, with the same
headers and 429; failed authentications count too; async handlers, and the Powertools
middleware (global and per-route guards), count them the same way (``hit_limits``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from guard_events import VERIFIER, http_v2, token

from secauth import Guard, RateLimiter, Routes, authenticated, public
from secauth.errors import ConfigurationError
from secauth.integrations.powertools import guard_middleware
from secauth.ratelimit import Limit, MemoryStore
from secauth.ratelimit.redis_store import AsyncRedisStore

ROUTES = Routes({"POST /login": public(), "GET /orders/{id}": authenticated()})


def store() -> MemoryStore:
    """A store whose clock stands on a window edge: every window below is a full minute."""
    return MemoryStore(clock=lambda: 6000.0)


def per_ip(count: int, name: str = "ip") -> RateLimiter:
    return RateLimiter.per_ip(
        Limit(count, 60), store=store(), algorithm="fixed_window", name=name, deny_cache=False
    )


def ok(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


def login() -> dict[str, Any]:
    return http_v2("POST", "/login")


def orders() -> dict[str, Any]:
    return http_v2("GET", "/orders/7", authorization=f"Bearer {token()}")


def test_a_route_limit_counts_its_route_only_with_the_global_limits_answers() -> None:
    handler = Guard(
        VERIFIER, routes=ROUTES, route_limits={"POST /login": per_ip(2)}, decision_log=None
    )(ok)
    answers = [handler(login(), None) for _ in range(3)]
    assert [a["statusCode"] for a in answers] == [200, 200, 429]
    assert answers[0]["headers"]["RateLimit"] == '"ip";r=1;t=60'
    denied = answers[2]
    assert denied["headers"]["RateLimit-Policy"] == '"ip";q=2;w=60'
    assert denied["headers"]["RateLimit"] == '"ip";r=0;t=60'
    assert denied["headers"]["Retry-After"] == "60"
    assert json.loads(denied["body"])["status"] == 429
    # another route of the table has no limit of its own
    others = [handler(orders(), None) for _ in range(4)]
    assert [a["statusCode"] for a in others] == [200] * 4
    assert all("RateLimit" not in a["headers"] for a in others)


def test_route_limits_come_after_the_global_limit_and_both_show() -> None:
    records: list[Mapping[str, Any]] = []
    handler = Guard(
        VERIFIER,
        routes=ROUTES,
        rate_limit=per_ip(10),
        route_limits={"post /login": per_ip(2, name="login")},  # the verb in any case
        decision_log=None,
        on_decision=records.append,
    )(ok)
    answers = [handler(login(), None) for _ in range(3)]
    assert [a["statusCode"] for a in answers] == [200, 200, 429]
    assert answers[1]["headers"]["RateLimit"] == '"ip";r=8;t=60, "login";r=0;t=60'
    assert answers[2]["headers"]["RateLimit-Policy"] == '"ip";q=10;w=60, "login";q=2;w=60'
    assert answers[2]["headers"]["RateLimit"] == '"ip";r=7;t=60, "login";r=0;t=60'
    assert records[2]["reason"] == "rate_limited"
    assert handler(orders(), None)["headers"]["RateLimit"] == '"ip";r=6;t=60'


def test_failed_authentications_count_against_the_route_limit() -> None:
    """Guessing tokens on a limited route spends its quota, as it does the global one."""
    routes = Routes({"POST /login": authenticated()})
    handler = Guard(
        VERIFIER, routes=routes, route_limits={"POST /login": per_ip(2)}, decision_log=None
    )(ok)
    bad = http_v2("POST", "/login", authorization="Bearer not-a-token")
    good = http_v2("POST", "/login", authorization=f"Bearer {token()}")
    statuses = [handler(e, None)["statusCode"] for e in (bad, bad, good)]
    assert statuses == [401, 401, 429]


def test_every_reading_of_an_ambiguous_path_counts() -> None:
    """``/LOGIN`` reads as ``/login`` and as ``/{page}``: both routes' limits count it, so a
    case variant cannot dodge the login limit."""
    routes = Routes({"POST /login": public(), "POST /{page}": public()})
    handler = Guard(
        VERIFIER,
        routes=routes,
        route_limits={"POST /login": per_ip(1, name="login"), "POST /{page}": per_ip(5, "page")},
        decision_log=None,
    )(ok)
    first = handler(http_v2("POST", "/LOGIN"), None)
    assert first["statusCode"] == 200
    # the path as written reaches /{page}; its case-folded reading, /login
    assert first["headers"]["RateLimit"] == '"page";r=4;t=60, "login";r=0;t=60'
    assert handler(login(), None)["statusCode"] == 429
    assert handler(http_v2("POST", "/about"), None)["statusCode"] == 200


def test_async_handlers_count_route_limits() -> None:
    guard = Guard(
        VERIFIER, routes=ROUTES, route_limits={"POST /login": per_ip(1)}, decision_log=None
    )

    @guard
    async def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ok"}

    async def main() -> list[int]:
        return [(await handler(login(), None))["statusCode"] for _ in range(2)]

    assert asyncio.run(main()) == [200, 429]


def test_a_route_limit_on_an_async_store_needs_an_async_handler() -> None:
    limiter = RateLimiter.per_ip("5/minute", store=AsyncRedisStore(url="redis://127.0.0.1:9/0"))
    guard = Guard(VERIFIER, routes=ROUTES, route_limits={"POST /login": limiter})
    with pytest.raises(ConfigurationError, match="async store"):
        guard(ok)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"route_limits": {"POST /logon": per_ip(1)}},
            "'POST /logon' is not a route of the Routes table; its routes are "
            "['GET /orders/{id}', 'POST /login']",
        ),
        ({"route_limits": {"GET /orders/{orderId}": per_ip(1)}}, "is not a route"),
        ({"route_limits": {"POST login": per_ip(1)}}, "write 'VERB /path'"),
        ({"route_limits": {"POST /login": per_ip(1), "post /login": per_ip(1)}}, "twice"),
        ({"route_limits": {"POST /login": "5/minute"}}, "must be a RateLimiter"),
        ({"route_limits": [("POST /login", per_ip(1))]}, "route_limits is a mapping"),
        ({"routes": None, "route_limits": {"POST /login": per_ip(1)}}, "routes=Routes"),
    ],
)
def test_route_limits_are_checked_at_construction(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as exc:
        Guard(VERIFIER, **{"routes": ROUTES, **options})
    assert message in str(exc.value)


def resolve(app: Any, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = app.resolve(event, None)
    return response


def test_powertools_global_and_per_route_guards_count_route_limits() -> None:
    """Under the Powertools middleware the same limits apply: a global guard's route limits,
    and those of a per-route guard under it (which counts only what the global one did
    not)."""
    table = Routes({"POST /login": public(), "POST /signup": public(), "GET /health": public()})
    app_guard = Guard(
        VERIFIER, routes=table, route_limits={"POST /login": per_ip(2)}, decision_log=None
    )
    signup_guard = Guard(
        VERIFIER,
        routes=Routes({"POST /signup": public()}),
        route_limits={"POST /signup": per_ip(1, name="signup")},
        decision_log=None,
    )
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(app_guard)])

    @app.post("/login")
    def do_login() -> dict[str, str]:
        return {"ok": "login"}

    @app.post("/signup", middlewares=[guard_middleware(signup_guard)])
    def do_signup() -> dict[str, str]:
        return {"ok": "signup"}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"ok": "health"}

    logins = [resolve(app, login()) for _ in range(3)]
    assert [r["statusCode"] for r in logins] == [200, 200, 429]
    assert logins[2]["headers"]["RateLimit"] == '"ip";r=0;t=60'
    signups = [resolve(app, http_v2("POST", "/signup")) for _ in range(2)]
    assert [r["statusCode"] for r in signups] == [200, 429]
    assert signups[1]["headers"]["RateLimit-Policy"] == '"signup";q=1;w=60'
    health_checks = [resolve(app, http_v2("GET", "/health")) for _ in range(3)]
    assert [r["statusCode"] for r in health_checks] == [200] * 3
