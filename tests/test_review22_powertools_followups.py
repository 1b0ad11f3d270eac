"""Review 22: adversarial tests of review 21's Powertools fixes (``route_started``,
``_unwrapped``, ServiceError-raising exception handlers, failed authentications counted
by per-route guards, ``PowertoolsDecisions`` sinks on their own), with real Powertools
resolvers (sync and ``resolve_async``), Logger, Metrics and Tracer.

The findings' tests failed before their fixes (they were ``xfail(strict=True)`` until
then); every other test pins an attack that held.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import pytest
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import (
    APIGatewayHttpResolver,
    APIGatewayRestResolver,
    DependencyResolutionError,
    Depends,
    Response,
)
from aws_lambda_powertools.event_handler.exceptions import BadRequestError

from secauth import (
    Guard,
    JwtVerifier,
    RateLimiter,
    Routes,
    authenticated,
    current_principal,
    public,
    roles,
)
from secauth.errors import AccessDenied, MissingToken
from secauth.integrations.powertools import PowertoolsDecisions, guard_middleware
from secauth.ratelimit.memory import MemoryStore
from secauth.responses import Cors
from secauth.rules import Rule
from secauth.testing import KeyPair
from secauth.testing_events import http_proxy, rest_proxy

ISS = "https://idp.example.com/"
PAIR = KeyPair.generate("ES256", kid="r22")
VERIFIER = JwtVerifier(issuer=ISS, audience="api", jwks={"keys": [PAIR.public_jwk]})
STRICT = JwtVerifier(issuer=ISS, audience="admin-api", jwks={"keys": [PAIR.public_jwk]})
SECRET = "PLANTED-r22-postgres://app:hunter2@db"


def tok(sub: str = "alice", aud: str = "api", **claims: Any) -> str:
    return PAIR.sign({"iss": ISS, "aud": aud, "sub": sub, "exp": 4_000_000_000, **claims})


def guard(**options: Any) -> Guard:
    return Guard(VERIFIER, decision_log=None, **options)


class _CrashingRule(Rule):
    """A custom rule with a bug (a guard's own check that raises)."""

    def check(self, principal: Any, context: Any) -> None:
        raise KeyError(SECRET)


# Depends() dependencies (module level: annotations are strings here).
def fails_with_value_error() -> str:
    raise ValueError(f"bad input {SECRET}")


def fails_with_secret() -> str:
    raise RuntimeError(SECRET)


def needs_caller() -> str:
    if current_principal().is_anonymous:  # a public route's dependency wants a caller
        raise MissingToken()
    return current_principal().id


def needs_admin() -> str:
    if "admin" not in current_principal().roles:
        raise AccessDenied(detail={"problem": SECRET})
    return "ok"


# =========================================================================================
# Findings
# =========================================================================================


def _dependency_app(*, guarded: bool) -> APIGatewayHttpResolver:
    """An app that answers every failed dependency with its own generic 401 (a handler for
    DependencyResolutionError itself) and echoes ValueErrors from its routes as 400s."""
    app = APIGatewayHttpResolver()
    if guarded:
        app.use(middlewares=[guard_middleware(guard())])

    @app.exception_handler(DependencyResolutionError)
    def dependency_failed(exc: DependencyResolutionError) -> Response[str]:
        return Response(401, "application/json", '{"message":"not signed in"}')

    @app.exception_handler(ValueError)
    def bad_value(exc: ValueError) -> Response[str]:
        return Response(400, "text/plain", f"bad value: {exc}")

    @app.get("/account")
    def account(user: Annotated[str, Depends(fails_with_value_error)]) -> dict[str, str]:
        return {"user": user}

    return app


def test_without_the_guard_a_dependency_resolution_error_handler_wins() -> None:
    """The contrast: Powertools unwraps a DependencyResolutionError only when the app has
    no handler for DependencyResolutionError itself."""
    answer = _dependency_app(guarded=False).resolve(http_proxy("GET", "/account"), None)
    assert (answer["statusCode"], answer["body"]) == (401, '{"message":"not signed in"}')


def test_a_dependency_resolution_error_handler_is_kept_under_the_guard() -> None:
    answer = _dependency_app(guarded=True).resolve(http_proxy("GET", "/account", token=tok()), None)
    assert answer["statusCode"] == 401
    assert SECRET not in json.dumps(answer)


class _CrashingCors(Cors):
    """A Cors of the app's own with a bug: the guard's work after the route."""

    def headers(self, request_headers: Any) -> dict[str, str]:
        raise RuntimeError(SECRET)


def test_a_guard_crash_after_the_route_is_not_an_app_exception() -> None:
    """The guard's own work after the route (adding its headers) crashes. The guard alone
    answers with its sanitized 500 (decision ``error``); under Powertools the app's
    catch-all exception_handler answered the guard's error and the record said
    ``allow``/``handled_exception`` (fixed). A response header name that is not a string
    (the first trigger found) no longer crashes the guard at all."""
    records: list[dict[str, Any]] = []
    handled: list[str] = []
    crashing = guard(on_decision=records.append,
                     cors=_CrashingCors(allow_origins=["https://app.example.com"]))
    alone = crashing(lambda event, context: {"statusCode": 200, "body": "ok"})
    assert alone(http_proxy("GET", "/y", token=tok()), None)["statusCode"] == 500
    assert records.pop()["decision"] == "error"

    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(crashing)])

    @app.exception_handler(Exception)
    def everything(exc: Exception) -> Response[str]:
        handled.append(type(exc).__name__)
        return Response(200, "text/plain", "handled")

    @app.get("/y")
    def y() -> Response[str]:
        return Response(200, "text/plain", "ok")

    answer = app.resolve(http_proxy("GET", "/y", token=tok()), None)
    assert (answer["statusCode"], records[-1]["decision"], handled) == (500, "error", [])
    assert SECRET not in json.dumps(answer)

    plain = APIGatewayHttpResolver()
    plain.use(middlewares=[guard_middleware(guard(on_decision=records.append))])

    @plain.get("/z")
    def z() -> Response[str]:
        return Response(200, "text/plain", "ok", headers={None: "x"})  # type: ignore[dict-item]

    assert plain.resolve(http_proxy("GET", "/z", token=tok()), None)["statusCode"] == 200
    assert records[-1]["decision"] == "allow"


# =========================================================================================
# Attacks that held
# =========================================================================================


def test_a_later_middleware_raising_is_the_apps_as_in_powertools() -> None:
    """An app middleware after the guard (or Powertools resolving its Depends()) raises:
    that is the app's exception, handled by its exception_handler, as without the guard."""
    records: list[dict[str, Any]] = []
    ran: list[bool] = []

    def picky(app: Any, next_middleware: Any) -> Any:
        raise KeyError(SECRET)

    def picky_depends(app: Any, next_middleware: Any,
                      x: Annotated[str, Depends(fails_with_secret)]) -> Any:  # fmt: skip
        return next_middleware(app)

    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(guard(on_decision=records.append))])

    @app.exception_handler(KeyError)
    def missing(exc: KeyError) -> Response[str]:
        return Response(409, "application/json", '{"message":"conflict"}')

    @app.get("/a", middlewares=[picky])
    def a() -> dict[str, str]:
        ran.append(True)
        return {}

    @app.get("/b", middlewares=[picky_depends])
    def b() -> dict[str, str]:
        ran.append(True)
        return {}

    answer = app.resolve(http_proxy("GET", "/a", token=tok()), None)
    assert answer["statusCode"] == 409
    assert records[-1]["reason"] == "handled_exception"
    assert records[-1]["status"] == 409
    crashed = app.resolve(http_proxy("GET", "/b", token=tok()), None)
    assert crashed["statusCode"] == 500
    assert SECRET not in json.dumps(crashed)
    assert records[-1]["decision"] == "error"
    assert ran == []
    # Anonymous: the guard answers before any of it.
    assert app.resolve(http_proxy("GET", "/a"), None)["statusCode"] == 401


def test_async_resolver_keeps_guard_crashes_and_route_exceptions_apart() -> None:
    """resolve_async runs the sync guard in a thread and the route on the loop: a route
    guard's own crash is a 500 (never the app's handler), the route's own exception is
    the app's, a refusal is a 403, and a later sync middleware is the app's too."""
    records: list[dict[str, Any]] = []
    handled: list[str] = []
    base = guard(on_decision=records.append)
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(base)])

    @app.exception_handler(KeyError)
    def missing(exc: KeyError) -> Response[str]:
        handled.append(type(exc).__name__)
        return Response(200, "application/json", '{"items":[]}')

    @app.get("/crash", middlewares=[guard_middleware(base.require(_CrashingRule()))])
    async def crash() -> dict[str, str]:
        return {"doc": "secret"}

    @app.get("/route")
    async def route() -> dict[str, str]:
        raise KeyError(current_principal().id)

    @app.get("/admin", middlewares=[guard_middleware(base.require(roles("admin")))])
    async def admin() -> dict[str, str]:
        return {"doc": "secret"}

    def run(path: str, **sent: Any) -> dict[str, Any]:
        return asyncio.run(app.resolve_async(http_proxy("GET", path, **sent), None))

    crashed = run("/crash", token=tok())
    assert (crashed["statusCode"], records[-1]["decision"], handled) == (500, "error", [])
    assert SECRET not in json.dumps(crashed)
    answered = run("/route", token=tok())
    assert (answered["statusCode"], records[-1]["reason"], handled) == (
        200, "handled_exception", ["KeyError"])  # fmt: skip
    denied = run("/admin", token=tok(roles=["reader"]))
    assert (denied["statusCode"], records[-1]["decision"]) == (403, "deny")
    assert run("/admin")["statusCode"] == 401


def test_exception_handler_raising_a_service_error_answers_as_plain_powertools() -> None:
    """A handler raising a ServiceError with the caller's text: the guard answers exactly
    what Powertools alone answers (JSON, so no markup), plus the security headers, and the
    record holds only the status."""
    records: list[dict[str, Any]] = []

    def build(guarded: bool) -> APIGatewayRestResolver:
        app = APIGatewayRestResolver()
        if guarded:
            app.use(middlewares=[guard_middleware(guard(on_decision=records.append))])

        @app.exception_handler(KeyError)
        def unknown(exc: KeyError) -> Response[str]:
            raise BadRequestError(f"unknown {exc}")

        @app.get("/items/<item>")
        def item(item: str) -> None:
            raise KeyError(item)

        return app

    path = "/items/%3Cscript%3E"
    plain = build(False).resolve(rest_proxy("GET", path), None)
    guarded = build(True).resolve(rest_proxy("GET", path, token=tok()), None)
    assert (guarded["statusCode"], guarded["body"]) == (plain["statusCode"], plain["body"])
    assert guarded["statusCode"] == 400
    assert guarded["multiValueHeaders"]["Content-Type"] == ["application/json"]
    assert guarded["multiValueHeaders"]["X-Content-Type-Options"] == ["nosniff"]
    assert records[-1]["status"] == 400
    assert "unknown" not in json.dumps(records[-1])  # the path is recorded, not the message


def test_dependency_errors_keep_the_refusal_and_leak_nothing() -> None:
    """Unwrapping Depends() errors: a dependency's AccessDenied is a 403 with no detail text
    (decision ``deny``), its RuntimeError a sanitized 500 (decision ``error``, only the
    type recorded); an anonymous caller never reaches the dependency (401)."""
    records: list[dict[str, Any]] = []
    calls: list[str] = []
    app = APIGatewayHttpResolver(debug=True)
    public_routes = Routes({"GET /public": public(), "GET /{proxy+}": authenticated()})
    app.use(middlewares=[guard_middleware(guard(on_decision=records.append, routes=public_routes))])

    @app.exception_handler(Exception)
    def everything(exc: Exception) -> Response[str]:
        calls.append(repr(exc))
        return Response(200, "text/plain", f"oops {exc!r}")

    @app.get("/admin")
    def admin(check: Annotated[str, Depends(needs_admin)]) -> dict[str, str]:
        return {"ok": check}

    @app.get("/crash")
    def crash(x: Annotated[str, Depends(fails_with_secret)]) -> dict[str, str]:
        return {"x": x}

    @app.get("/public")
    def public_doc(me: Annotated[str, Depends(needs_caller)]) -> dict[str, str]:
        return {"me": me}

    denied = app.resolve(http_proxy("GET", "/admin", token=tok(roles=["reader"])), None)
    assert (denied["statusCode"], records[-1]["decision"]) == (403, "deny")
    assert SECRET not in json.dumps(denied)  # the detail is the record's, never the caller's
    assert app.resolve(http_proxy("GET", "/admin"), None)["statusCode"] == 401
    assert records[-1]["decision"] == "unauthorized"
    # The catch-all handler is the app's choice for the route's exceptions; a SecAuthError
    # from a dependency never reaches it.
    assert all("AccessDenied" not in c for c in calls)
    anonymous = app.resolve(http_proxy("GET", "/public"), None)
    assert (anonymous["statusCode"], records[-1]["decision"]) == (401, "unauthorized")
    assert "WWW-Authenticate" in anonymous["headers"]
    crashed = app.resolve(http_proxy("GET", "/crash", token=tok()), None)
    assert crashed["statusCode"] == 200  # the app's catch-all answered its own exception
    assert records[-1]["reason"] == "handled_exception"


def test_route_guard_failed_authentications_are_not_counted_twice() -> None:
    """The route guard shares the global guard's limiter object: a failed authentication at
    the route guard is counted once (by the global guard), never again by the route guard;
    a route guard derived with require() counts its own limit once; only 401s and 429s."""
    shared = RateLimiter.per_ip("3/hour", store=MemoryStore())
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(guard(rate_limit=shared))])
    strict = Guard(STRICT, rate_limit=shared, decision_log=None)

    @app.post("/admin", middlewares=[guard_middleware(strict)])
    def admin() -> dict[str, str]:
        return {"ok": "yes"}

    statuses = [app.resolve(http_proxy("POST", "/admin", token=tok()), None)["statusCode"]
                for _ in range(4)]  # fmt: skip
    assert statuses == [401, 401, 401, 429]

    own = RateLimiter.per_ip("2/hour", store=MemoryStore())
    derived = Guard(STRICT, rate_limit=own, decision_log=None).require(roles("admin"))
    app2 = APIGatewayHttpResolver()
    app2.use(middlewares=[guard_middleware(guard())])

    @app2.post("/admin", middlewares=[guard_middleware(derived)])
    def admin2() -> dict[str, str]:
        return {"ok": "yes"}

    statuses = [app2.resolve(http_proxy("POST", "/admin", token=tok()), None)["statusCode"]
                for _ in range(3)]  # fmt: skip
    assert statuses == [401, 401, 429]
    both = tok(aud=["api", "admin-api"], roles=["admin"])
    ok = app2.resolve(http_proxy("POST", "/admin", token=both), None)
    assert ok["statusCode"] == 429  # the per-IP limit holds for a good token too
    app3 = APIGatewayHttpResolver()
    app3.use(middlewares=[guard_middleware(guard())])
    fresh = Guard(STRICT, rate_limit=RateLimiter.per_ip("2/hour", store=MemoryStore()),
                  decision_log=None).require(roles("admin"))  # fmt: skip

    @app3.post("/admin", middlewares=[guard_middleware(fresh)])
    def admin3() -> dict[str, str]:
        return {"ok": current_principal().id}

    ok = app3.resolve(http_proxy("POST", "/admin", token=both), None)
    assert (ok["statusCode"], json.loads(ok["body"])) == (200, {"ok": "alice"})


class _BrokenMetrics(Metrics):
    def add_metric(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("metrics sink down")


class _BrokenProvider:
    def in_subsegment(self, name: str) -> Any:
        raise RuntimeError("tracer down")


def test_broken_sinks_change_no_answer_and_the_logger_still_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logged: list[dict[str, Any]] = []
    tracer = Tracer(service="orders", disabled=True)
    tracer.disabled = False  # as in Lambda, with an X-Ray provider that fails
    tracer.provider = _BrokenProvider()  # type: ignore[assignment]
    try:
        _broken_sinks(tracer, logged)
    finally:
        Tracer._reset_config()  # Tracer keeps class-level configuration: leave none behind


def _broken_sinks(tracer: Tracer, logged: list[dict[str, Any]]) -> None:
    class _Keeping(Logger):
        def warning(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
            logged.append(kwargs["extra"]["secauth"])

    hook = PowertoolsDecisions(logger=_Keeping(service="orders"),
                               metrics=_BrokenMetrics(namespace="R22", service="orders"),
                               tracer=tracer)  # fmt: skip
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(guard(on_decision=hook))])

    @app.get("/admin", middlewares=[guard_middleware(guard().require(roles("admin")))])
    def admin() -> dict[str, str]:
        return {"ok": "yes"}

    assert app.resolve(http_proxy("GET", "/admin", token=tok()), None)["statusCode"] == 403
    assert app.resolve(http_proxy("GET", "/admin", token=tok(roles=["admin"])), None)[
        "statusCode"] == 200  # fmt: skip
    assert [r["decision"] for r in logged] == ["deny"]
