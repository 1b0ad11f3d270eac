"""Review 21: adversarial tests of the Powertools for AWS Lambda integration
(``secauth.integrations.powertools``: ``guard_middleware``, ``guard_handler``,
``PowertoolsDecisions``) with real Powertools resolvers, Logger and Metrics.

The findings' tests failed before their fixes (they were ``xfail(strict=True)`` until
then; finding 1 is documented and pinned by its remedy); every other
test pins an attack that held.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import pytest
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import (
    ALBResolver,
    APIGatewayHttpResolver,
    APIGatewayRestResolver,
    Depends,
    Response,
)
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from pydantic import BaseModel

from secauth import Guard, JwtVerifier, RateLimiter, current_principal, roles
from secauth.errors import AccessDenied, MissingToken, RateLimited
from secauth.integrations import powertools as pt
from secauth.integrations.powertools import PowertoolsDecisions, guard_handler, guard_middleware
from secauth.ratelimit.memory import MemoryStore
from secauth.rules import Rule
from secauth.testing import KeyPair
from secauth.testing_events import alb, http_proxy, rest_proxy

Event = dict[str, Any]
ISS = "https://idp.example.com/"
PAIR = KeyPair.generate("ES256", kid="r21")
VERIFIER = JwtVerifier(issuer=ISS, audience="api", jwks={"keys": [PAIR.public_jwk]})
SECRET = "PLANTED-r21-postgres://app:hunter2@db"


def tok(sub: str = "alice", aud: str = "api", **claims: Any) -> str:
    return PAIR.sign({"iss": ISS, "aud": aud, "sub": sub, "exp": 4_000_000_000, **claims})


def guard(**options: Any) -> Guard:
    return Guard(VERIFIER, decision_log=None, **options)


def headers_of(response: dict[str, Any]) -> dict[str, Any]:
    single = dict(response.get("headers") or {})
    for name, values in (response.get("multiValueHeaders") or {}).items():
        single.setdefault(name, values[-1])
    return single


# =========================================================================================
# Findings
# =========================================================================================


class Order(BaseModel):
    item: str
    qty: int


def test_with_request_validation_the_guard_wraps_the_whole_handler() -> None:
    """Finding 1 (documented, docs/guard.md): with ``enable_validation=True`` Powertools
    runs its request validation before every ``app.use`` middleware, so an anonymous
    caller got a 422 naming the body's fields. Such an app is guarded with
    ``guard_handler`` around ``resolve``: the guard answers before any validation."""
    records: list[dict[str, Any]] = []
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.post("/orders")
    def create(order: Order) -> dict[str, str]:
        return {"by": current_principal().id}

    @guard_handler(guard=guard(on_decision=records.append, max_body_bytes=64))
    def lambda_handler(event: dict[str, Any], context: Any) -> Any:
        return app.resolve(event, context)

    body = json.dumps({"item": "x", "qty": "not-a-number", "pad": "A" * 200})
    response = lambda_handler(http_proxy("POST", "/orders", body=body,
                                         headers={"content-type": "application/json"}), None)  # fmt: skip
    assert response["statusCode"] in (401, 413)
    assert headers_of(response)["X-Content-Type-Options"] == "nosniff"
    assert len(records) == 1


# Depends() dependencies (module level: the route annotations are strings here).
def the_order() -> str:
    raise NotFoundError("no such order")


def admins_only() -> str:
    if "admin" not in current_principal().roles:
        raise AccessDenied()
    return "ok"


def _app_with_dependencies() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(guard())])

    @app.get("/orders/<order_id>")
    def read(order_id: str, order: Annotated[str, Depends(the_order)]) -> dict[str, str]:
        return {"order": order}

    @app.get("/admin")
    def admin(check: Annotated[str, Depends(admins_only)]) -> dict[str, str]:
        return {"ok": check}

    return app


def test_without_the_guard_powertools_unwraps_dependency_errors() -> None:
    """The contrast: plain Powertools answers a NotFoundError raised in a dependency as 404."""
    app = APIGatewayHttpResolver()

    @app.get("/orders/<order_id>")
    def read(order_id: str, order: Annotated[str, Depends(the_order)]) -> dict[str, str]:
        return {"order": order}

    assert app.resolve(http_proxy("GET", "/orders/7"), None)["statusCode"] == 404


def test_dependency_errors_keep_their_answer() -> None:
    app = _app_with_dependencies()
    missing = app.resolve(http_proxy("GET", "/orders/7", token=tok()), None)
    denied = app.resolve(http_proxy("GET", "/admin", token=tok(roles=["reader"])), None)
    assert (missing["statusCode"], denied["statusCode"]) == (404, 403)


def test_exception_handler_raising_a_service_error_keeps_its_answer() -> None:
    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(guard())])

    @app.exception_handler(KeyError)
    def unknown_key(exc: KeyError) -> Response[str]:
        raise NotFoundError("no such key")

    @app.get("/lookup")
    def lookup() -> None:
        raise KeyError(SECRET)

    response = app.resolve(rest_proxy("GET", "/lookup", token=tok()), None)
    assert response["statusCode"] == 404
    assert SECRET not in json.dumps(response)


def test_route_guard_counts_failed_authentications_as_alone() -> None:
    """Guard alone: a token its verifier refuses counts against its per-IP limit (429 on the
    third). Under a global guard that accepts the token, the route guard's identify()
    refusal is never counted, so the route's tight limit never bites."""

    def route_guard() -> Guard:
        strict = JwtVerifier(issuer=ISS, audience="admin-api", jwks={"keys": [PAIR.public_jwk]})
        limit = RateLimiter.per_ip("2/hour", store=MemoryStore())
        return Guard(strict, rate_limit=limit, decision_log=None)

    alone = route_guard()(lambda event, context: {"statusCode": 200, "body": "ran"})
    statuses = [alone(http_proxy("POST", "/admin", token=tok()), None)["statusCode"]
                for _ in range(3)]  # fmt: skip
    assert statuses == [401, 401, 429]

    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(guard())])

    @app.post("/admin", middlewares=[guard_middleware(route_guard())])
    def admin() -> dict[str, str]:
        return {"ok": "yes"}

    under = [app.resolve(http_proxy("POST", "/admin", token=tok()), None)["statusCode"]
             for _ in range(3)]  # fmt: skip
    assert under == [401, 401, 429]


class _CrashingRule(Rule):
    """A custom rule with a bug: it reads a header the request may not carry."""

    def check(self, principal: Any, context: Any) -> None:
        context.request.headers["x-owner"]  # KeyError when absent


@pytest.mark.parametrize("where", ["global", "route"])
def test_a_crashing_guard_check_is_not_an_app_exception(where: str) -> None:
    """Guard alone answers a rule that raises with the sanitized 500 (decision ``error``).
    Under Powertools the app's ``exception_handler(KeyError)`` answers it (here a 200) and
    the record says ``handled_exception`` (and ``allow`` for a route guard)."""
    records: list[dict[str, Any]] = []
    base = guard(on_decision=records.append)
    alone = base.require(_CrashingRule())(lambda event, context: {"statusCode": 200, "body": ""})
    assert alone(http_proxy("GET", "/doc", token=tok()), None)["statusCode"] == 500
    assert records.pop()["decision"] == "error"

    app = APIGatewayHttpResolver()
    checked = [guard_middleware(base.require(_CrashingRule()))]
    app.use(middlewares=checked if where == "global" else [guard_middleware(base)])
    ran: list[bool] = []

    @app.exception_handler(KeyError)
    def empty(exc: KeyError) -> Response[str]:
        return Response(200, "application/json", '{"items":[]}')

    @app.get("/doc", middlewares=[] if where == "global" else checked)
    def doc() -> dict[str, str]:
        ran.append(True)
        return {"doc": "secret"}

    response = app.resolve(http_proxy("GET", "/doc", token=tok()), None)
    assert ran == []  # the route itself never runs (fail closed)
    assert (response["statusCode"], records[-1].get("decision")) == (500, "error")


# =========================================================================================
# Attacks that held
# =========================================================================================


def test_routes_added_after_use_and_router_routes_are_guarded() -> None:
    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(guard())])
    router = Router()

    @router.get("/items")
    def items() -> dict[str, str]:
        return {"by": current_principal().id, "ctx": router.context["secauth_principal"].id}

    app.include_router(router, prefix="/v1")

    @app.get("/late")
    def late() -> dict[str, str]:
        return {"ok": "yes"}

    for path in ("/v1/items", "/late", "/nowhere"):
        assert app.resolve(rest_proxy("GET", path), None)["statusCode"] == 401
    ok = app.resolve(rest_proxy("GET", "/v1/items", token=tok()), None)
    assert json.loads(ok["body"]) == {"by": "alice", "ctx": "alice"}


def test_principal_does_not_outlive_the_invocation() -> None:
    """Warm container: app.context is cleared by resolve, current_principal() is reset, also
    after a route raised; the next anonymous invocation of a per-route-only app sees
    nothing of the previous caller."""
    app = APIGatewayHttpResolver(debug=True)
    seen: list[Any] = []

    @app.get("/private", middlewares=[guard_middleware(guard())])
    def private() -> None:
        raise RuntimeError(SECRET)

    @app.get("/open")
    def open_route() -> dict[str, Any]:
        seen.append(app.context.get("secauth_principal"))
        with pytest.raises(MissingToken):
            current_principal()
        return {"ok": True}

    crashed = app.resolve(http_proxy("GET", "/private", token=tok()), None)
    assert crashed["statusCode"] == 500
    assert SECRET not in json.dumps(crashed)
    assert app.context == {}
    with pytest.raises(MissingToken):
        current_principal()
    assert app.resolve(http_proxy("GET", "/open"), None)["statusCode"] == 200
    assert seen == [None]


def test_secauth_errors_bypass_a_catch_all_exception_handler() -> None:
    app = APIGatewayHttpResolver(debug=True)
    app.use(middlewares=[guard_middleware(guard())])

    @app.exception_handler(Exception)
    def everything(exc: Exception) -> Response[str]:
        return Response(200, "text/plain", f"oops {exc!r}")

    @app.get("/admin", middlewares=[guard_middleware(guard().require(roles("admin")))])
    def admin() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/limited")
    def limited() -> None:
        raise RateLimited()

    denied = app.resolve(http_proxy("GET", "/admin", token=tok(roles=["reader"])), None)
    assert denied["statusCode"] == 403
    assert app.resolve(http_proxy("GET", "/limited", token=tok()), None)["statusCode"] == 429
    unauth = app.resolve(http_proxy("GET", "/admin"), None)
    assert unauth["statusCode"] == 401
    assert "WWW-Authenticate" in headers_of(unauth)


def test_alb_multi_value_refusal_keeps_challenge_and_security_headers() -> None:
    app = ALBResolver(debug=True)
    app.use(middlewares=[guard_middleware(guard())])

    @app.get("/x")
    def x() -> dict[str, str]:
        return {"ok": "yes"}

    response = app.resolve(alb("GET", "/x", multi_value=True), None)
    assert response["statusCode"] == 401
    headers = headers_of(response)
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_async_resolver_runs_the_route_as_the_caller_and_sanitizes() -> None:
    app = APIGatewayHttpResolver(debug=True)
    app.use(middlewares=[guard_middleware(guard())])

    @app.get("/me")
    async def me() -> dict[str, str]:
        return {"id": current_principal().id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(SECRET)

    ok = asyncio.run(app.resolve_async(http_proxy("GET", "/me", token=tok()), None))
    assert json.loads(ok["body"]) == {"id": "alice"}
    crashed = asyncio.run(app.resolve_async(http_proxy("GET", "/boom", token=tok()), None))
    assert crashed["statusCode"] == 500
    assert SECRET not in json.dumps(crashed)
    refused = asyncio.run(app.resolve_async(http_proxy("GET", "/me"), None))
    assert refused["statusCode"] == 401


def test_guard_handler_on_non_http_events_async_and_passthrough() -> None:
    @pt.guard_handler(guard=guard())
    def handler(event: Event, context: Any) -> Any:
        return {"statusCode": 201, "body": current_principal().id}

    for event in ({"source": "aws.events", "detail-type": "Scheduled Event"},
                  {"Records": [{"eventSource": "aws:sqs"}]}):  # fmt: skip
        assert handler(event, None)["statusCode"] == 400
    answered = handler(http_proxy("GET", "/", token=tok()), None)
    assert (answered["statusCode"], answered["body"]) == (201, "alice")

    @pt.guard_handler(guard=guard())
    async def async_handler(event: Event, context: Any) -> Any:
        return {"statusCode": 200, "body": current_principal().id}

    result = asyncio.run(async_handler(http_proxy("GET", "/", token=tok()), None))
    assert result["body"] == "alice"
    assert asyncio.run(async_handler(http_proxy("GET", "/"), None))["statusCode"] == 401


def test_powertools_decisions_put_no_principal_in_metrics() -> None:
    """Metric names and dimensions are bounded: no principal id, no token, only the
    ``service`` dimension."""
    metrics = Metrics(namespace="R21", service="orders")
    metrics.clear_metrics()  # Metrics instances share one metric set
    hook = PowertoolsDecisions(logger=Logger(service="orders"), metrics=metrics)
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(guard(on_decision=hook))])

    @app.get("/me")
    def me() -> dict[str, str]:
        return {"id": current_principal().id}

    bearer = tok("user-4711")
    assert app.resolve(http_proxy("GET", "/me", token=bearer), None)["statusCode"] == 200
    assert app.resolve(http_proxy("GET", "/me", token=bearer + "x"), None)["statusCode"] == 401
    try:
        blob = metrics.serialize_metric_set()
    finally:
        metrics.clear_metrics()
    text = json.dumps(blob)
    assert "user-4711" not in text
    assert bearer not in text
    assert blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert blob["secauth.allow"] == [1.0]
    assert blob["secauth.unauthorized"] == [1.0]


class _BrokenLogger(Logger):
    """A Powertools Logger whose sink fails (a formatter or handler that raises)."""

    def info(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        raise RuntimeError("log sink down")


def test_a_failing_logger_does_not_drop_the_decision_metrics() -> None:
    metrics = Metrics(namespace="R21", service="orders")
    metrics.clear_metrics()  # Metrics instances share one metric set
    hook = PowertoolsDecisions(logger=_BrokenLogger(service="orders"), metrics=metrics)
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(guard(on_decision=hook))])

    @app.get("/me")
    def me() -> dict[str, str]:
        return {"id": current_principal().id}

    # The answer is unchanged (a hook that raises changes nothing) ...
    assert app.resolve(http_proxy("GET", "/me", token=tok()), None)["statusCode"] == 200
    try:
        counted = dict(metrics.metric_set)
    finally:
        metrics.clear_metrics()
    # ... but the decision should still be counted in Metrics.
    assert "secauth.allow" in counted
