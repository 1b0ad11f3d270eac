"""Tests of ``secauth.integrations.powertools`` with real Powertools resolvers, Logger, Metrics
and Tracer (the tracer with an in-process provider that records subsegments, since no
X-Ray daemon runs here)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import (
    ALBResolver,
    APIGatewayHttpResolver,
    APIGatewayRestResolver,
    LambdaFunctionUrlResolver,
    Response,
)
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment
from guard_events import (
    ALICE_CLAIMS,
    KINDS,
    REQUEST_ID,
    VERIFIER,
    Event,
    http_v2,
    response_headers,
    rest_v1,
    token,
)

from secauth import Cors, Guard, Principal, RateLimiter, Routes, current_principal, public, roles
from secauth.errors import ConfigurationError
from secauth.integrations import powertools as pt
from secauth.integrations.powertools import PowertoolsDecisions, guard_middleware
from secauth.principal import ClaimMapper
from secauth.responses import PROBLEM_JSON, SecurityHeaders

SECURITY = SecurityHeaders().headers()
SECRET = "PLANTED-4b2a-route-secret"
CLAIMS = ClaimMapper(tenant_claim="tenant")
RESOLVERS = {
    "rest_v1": APIGatewayRestResolver,
    "http_v2": APIGatewayHttpResolver,
    "function_url": LambdaFunctionUrlResolver,
    "alb": ALBResolver,
}


def bearer(value: str) -> str:
    return f"Bearer {value}"


def admin() -> str:
    return bearer(token(**ALICE_CLAIMS))


def reader() -> str:
    return bearer(token("bob", tenant="acme", roles=["reader"]))


def build_app(kind: str, guard: Guard, *, per_route: bool = True, debug: bool = False) -> Any:
    """An app with a global guard; DELETE needs admin through a per-route guard."""
    app = RESOLVERS[kind](debug=debug)
    app.use(middlewares=[guard_middleware(guard)])

    @app.get("/orders/<order_id>")
    def get_order(order_id: str) -> dict[str, Any]:
        principal = current_principal()
        assert app.context["secauth_principal"] is principal
        return {"id": order_id, "by": principal.id}

    delete_middlewares = [guard_middleware(guard.require(roles("admin")))] if per_route else []

    @app.delete("/orders/<order_id>", middlewares=delete_middlewares)
    def delete_order(order_id: str) -> dict[str, Any]:
        return {"deleted": order_id}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError(f"database password is {SECRET}")

    @app.get("/missing")
    def missing() -> None:
        raise NotFoundError("no such order")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def resolve(app: Any, event: Event) -> dict[str, Any]:
    response = app.resolve(event, None)
    text = json.dumps(response)
    assert SECRET not in text
    assert "Traceback" not in text
    for value in (event.get("headers") or {}).values():
        if isinstance(value, str) and value.startswith("Bearer ") and len(value) > 30:
            assert value.split()[1] not in text
    return response


def problem(response: dict[str, Any]) -> dict[str, Any]:
    headers = response_headers(response)
    assert headers["Content-Type"] == PROBLEM_JSON
    body = json.loads(response["body"])
    assert set(body) <= {"type", "title", "status", "request_id"}
    return body


@pytest.fixture(autouse=True)
def _clean_output(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    yield
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err
    assert "Traceback" not in out.out + out.err


KIND_NAMES = ["rest_v1", "http_v2", "function_url", "alb"]


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_global_middleware_allows_and_adds_security_headers(kind: str) -> None:
    app = build_app(kind, Guard(VERIFIER, claims=CLAIMS, decision_log=None))
    response = resolve(app, KINDS[kind][0]("GET", "/orders/7", authorization=admin()))
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"id": "7", "by": "alice"}
    assert response_headers(response).items() >= SECURITY.items()


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_global_middleware_refuses_without_a_valid_token(kind: str) -> None:
    """401s with the guard's configured problem type (the reason after its base URL)."""
    types = "https://errors.example.com/problems/"
    app = build_app(kind, Guard(VERIFIER, decision_log=None, problem_type_base=types))
    for authorization, reason, challenge in [
        (None, "missing_token", "Bearer"),
        ("Bearer not.a.jwt", "malformed_token",
         'Bearer error="invalid_token", error_description="malformed token"'),
    ]:  # fmt: skip
        response = resolve(app, KINDS[kind][0]("GET", "/orders/7", authorization=authorization))
        assert response["statusCode"] == 401
        headers = response_headers(response)
        assert headers["WWW-Authenticate"] == challenge
        assert headers.items() >= SECURITY.items()
        body = problem(response)
        assert body["type"] == f"{types}{reason}"
        assert ("request_id" in body) == (kind != "alb")


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_per_route_rule_under_the_global_guard(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """DELETE needs admin: a reader gets 403 from the per-route guard, logged once."""
    app = build_app(kind, Guard(VERIFIER, claims=CLAIMS))
    capsys.readouterr()
    denied = resolve(app, KINDS[kind][0]("DELETE", "/orders/7", authorization=reader()))
    assert denied["statusCode"] == 403
    assert response_headers(denied)["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", error_description="forbidden"'
    )
    allowed = resolve(app, KINDS[kind][0]("DELETE", "/orders/7", authorization=admin()))
    assert (allowed["statusCode"], json.loads(allowed["body"])) == (200, {"deleted": "7"})
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"secauth"' in line
    ]
    assert [(r["decision"], r.get("reason"), r["status"]) for r in lines] == [
        ("deny", "forbidden", 403), ("allow", None, 200)
    ]  # fmt: skip


def test_per_route_guard_alone() -> None:
    """Only one route guarded: it needs a token; the others do not."""
    app = APIGatewayRestResolver()
    guard = Guard(VERIFIER, decision_log=None)

    @app.get("/private", middlewares=[guard_middleware(guard)])
    def private() -> dict[str, str]:
        return {"who": current_principal().id}

    @app.get("/open")
    def open_route() -> dict[str, str]:
        return {"who": "anyone"}

    assert resolve(app, rest_v1("GET", "/private"))["statusCode"] == 401
    ok = resolve(app, rest_v1("GET", "/private", authorization=admin()))
    assert json.loads(ok["body"]) == {"who": "alice"}
    assert resolve(app, rest_v1("GET", "/open"))["statusCode"] == 200


@pytest.mark.parametrize("debug", [False, True])
def test_route_exceptions_are_sanitized_even_in_debug_mode(debug: bool) -> None:
    """Powertools' debug mode answers a crash with the traceback; under the guard it is a
    plain problem 500 with no trace of the exception."""
    app = build_app("rest_v1", Guard(VERIFIER, decision_log=None), debug=debug)
    response = resolve(app, rest_v1("GET", "/boom", authorization=admin()))
    assert response["statusCode"] == 500
    assert problem(response) == {"type": "about:blank",
                                 "title": "internal error", "status": 500,
                                 "request_id": REQUEST_ID}  # fmt: skip


def test_without_the_guard_debug_mode_leaks_the_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The contrast the issue names: plain Powertools with debug=True returns the traceback."""
    app = APIGatewayRestResolver(debug=True)
    marker = "visible-" + "marker"

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError(marker)

    response = app.resolve(rest_v1("GET", "/boom"), None)
    assert response["statusCode"] == 500
    assert "Traceback" in response["body"]
    assert marker in response["body"]
    capsys.readouterr()  # Powertools printed the event and its traceback; not ours to check


def test_powertools_service_errors_and_exception_handlers_keep_their_answer() -> None:
    """NotFoundError raised on purpose, and an app exception_handler: their response, plus the
    security headers."""
    app = build_app("http_v2", Guard(VERIFIER, decision_log=None))

    @app.exception_handler(KeyError)
    def key_error(exc: KeyError) -> Response[str]:
        return Response(status_code=422, content_type="text/plain", body="unknown key")

    @app.get("/keyerror")
    def keyerror() -> None:
        raise KeyError(SECRET)

    missing = resolve(app, http_v2("GET", "/missing", authorization=admin()))
    assert missing["statusCode"] == 404
    assert json.loads(missing["body"]) == {"statusCode": 404, "message": "no such order"}
    assert response_headers(missing).items() >= SECURITY.items()
    handled = resolve(app, http_v2("GET", "/keyerror", authorization=admin()))
    assert (handled["statusCode"], handled["body"]) == (422, "unknown key")
    assert response_headers(handled).items() >= SECURITY.items()


def test_guard_routes_answer_404_and_405_before_powertools() -> None:
    guard = Guard(VERIFIER, routes=Routes({"GET /orders/{id}": public(), "GET /health": public()}),
                  decision_log=None)  # fmt: skip
    app = build_app("http_v2", guard, per_route=False)
    assert resolve(app, http_v2("GET", "/orders/7"))["statusCode"] == 200
    assert resolve(app, http_v2("GET", "/nowhere"))["statusCode"] == 401
    assert problem(resolve(app, http_v2("GET", "/nowhere", authorization=admin())))["status"] == 404
    wrong_verb = resolve(app, http_v2("DELETE", "/orders/7", authorization=admin()))
    assert (wrong_verb["statusCode"], response_headers(wrong_verb)["Allow"]) == (405, "GET")
    # no route table in the guard: Powertools answers unknown paths itself, after the guard
    plain = build_app("http_v2", Guard(VERIFIER, decision_log=None))
    assert resolve(plain, http_v2("GET", "/nowhere"))["statusCode"] == 401
    assert resolve(plain, http_v2("GET", "/nowhere", authorization=admin()))["statusCode"] == 404


def test_cors_preflight_through_the_resolver() -> None:
    cors = Cors(allow_origins=["https://app.example.com"])
    app = build_app("http_v2", Guard(VERIFIER, cors=cors, decision_log=None))
    asked = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}
    preflight = resolve(app, http_v2("OPTIONS", "/orders/7", headers=asked))
    assert preflight["statusCode"] == 204
    assert preflight["headers"]["Access-Control-Allow-Origin"] == "https://app.example.com"
    refused = resolve(app, http_v2("OPTIONS", "/orders/7",
                                   headers={**asked, "Origin": "https://evil.example"}))  # fmt: skip
    assert refused["statusCode"] == 403
    assert "Access-Control-Allow-Origin" not in refused["headers"]
    actual = resolve(app, http_v2("GET", "/orders/7", authorization=admin(),
                                  headers={"Origin": "https://app.example.com"}))  # fmt: skip
    assert actual["headers"]["Access-Control-Allow-Origin"] == "https://app.example.com"


def test_per_route_rate_limit_under_a_global_guard() -> None:
    """A tight limit on one route (login-like), on top of the global guard: 429 on the third."""
    guard = Guard(VERIFIER, routes=Routes({"POST /login": public(), "GET /health": public()}),
                  decision_log=None)  # fmt: skip
    tight = Guard(VERIFIER, rate_limit=RateLimiter.per_ip("2/minute", algorithm="fixed_window"),
                  decision_log=None)  # fmt: skip
    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(guard)])

    @app.post("/login", middlewares=[guard_middleware(tight)])
    def login() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"ok": "yes"}

    statuses = []
    for _ in range(3):
        response = resolve(app, rest_v1("POST", "/login"))
        statuses.append(response["statusCode"])
    assert statuses == [200, 200, 429]
    headers = response_headers(response)
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert headers["RateLimit-Policy"] == '"ip";q=2;w=60'
    assert [resolve(app, rest_v1("GET", "/health"))["statusCode"] for _ in range(3)] == [200] * 3


def test_guard_handler_decorator_form() -> None:
    """@guard_handler(guard=...) on the Lambda handler: the whole resolve runs guarded."""
    app = APIGatewayHttpResolver()

    @app.get("/me")
    def me() -> dict[str, str]:
        return {"id": current_principal().id}

    @pt.guard_handler(guard=Guard(VERIFIER, decision_log=None))
    def lambda_handler(event: Event, context: Any) -> dict[str, Any]:
        return app.resolve(event, context)

    ok = lambda_handler(http_v2("GET", "/me", authorization=admin()), None)
    assert json.loads(ok["body"]) == {"id": "alice"}
    assert ok["headers"]["X-Content-Type-Options"] == "nosniff"
    assert lambda_handler(http_v2("GET", "/me"), None)["statusCode"] == 401

    @pt.guard_handler
    def unconfigured(event: Event, context: Any) -> None:
        return None

    with pytest.raises(ConfigurationError, match="guard="):
        unconfigured(http_v2(), None)
    with pytest.raises(ConfigurationError):
        guard_middleware("not a guard")  # type: ignore[arg-type]


# --- decision logs, metrics and traces --------------------------------------------------------


class _Segment(BaseSegment):
    def __init__(self, name: str) -> None:
        self.name = name
        self.annotations: dict[str, Any] = {}
        self.metadata: dict[str, Any] = {}

    def close(self, end_time: int | None = None) -> None:
        return None

    def add_subsegment(self, subsegment: Any) -> None:
        return None

    def remove_subsegment(self, subsegment: Any) -> None:
        return None

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations[key] = value

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.metadata[f"{namespace}.{key}"] = value

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        return None


class RecordingProvider(BaseProvider):
    """A tracing provider that keeps its subsegments in memory (no X-Ray daemon here)."""

    def __init__(self) -> None:
        self.segments: list[_Segment] = []

    @contextlib.contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Iterator[_Segment]:
        segment = _Segment(name or "")
        self.segments.append(segment)
        yield segment

    def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> Any:
        raise NotImplementedError

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def patch(self, modules: Any) -> None:
        return None

    def patch_all(self) -> None:
        return None


@pytest.fixture
def tracer() -> Iterator[tuple[Tracer, RecordingProvider]]:
    provider = RecordingProvider()
    yield Tracer(service="orders", provider=provider, disabled=False, auto_patch=False), provider
    Tracer._reset_config()  # Tracer keeps class-level configuration


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    metrics = Metrics(namespace="SecauthTests", service="orders")
    metrics.clear_metrics()
    yield metrics
    metrics.clear_metrics()


def test_decisions_through_logger_metrics_and_tracer(
    tracer: tuple[Tracer, RecordingProvider], metrics: Metrics, capsys: pytest.CaptureFixture[str]
) -> None:
    """One log entry, the counters and one annotated subsegment per decision; no token anywhere."""
    stream = io.StringIO()
    # A service name of its own: Powertools reuses the logger of a name, and its handlers,
    # when another Logger (a docs example, another test) made it first in this process.
    service = f"orders-{uuid.uuid4().hex}"
    logger = Logger(service=service, logger_handler=logging.StreamHandler(stream))
    trace, provider = tracer
    hook = PowertoolsDecisions(logger=logger, metrics=metrics, tracer=trace)
    limiter = RateLimiter.per_ip("2/minute", algorithm="fixed_window")
    guard = Guard(VERIFIER, routes=Routes({"GET /orders/{id}": roles("admin")}), claims=CLAIMS,
                  rate_limit=limiter, decision_log=None, on_decision=hook)  # fmt: skip
    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(guard)])

    @app.get("/orders/<order_id>")
    def get_order(order_id: str) -> dict[str, str]:
        return {"id": order_id}

    good = admin()
    _away_from_a_window_edge()
    events = [rest_v1("GET", "/orders/7", authorization=good),
              rest_v1("GET", "/orders/7", authorization=reader()),
              rest_v1("GET", "/orders/7", authorization=good)]  # fmt: skip
    assert [resolve(app, e)["statusCode"] for e in events] == [200, 403, 429]

    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["level"], e["message"], e["secauth"]["decision"], e["secauth"].get("reason"))
            for e in entries] == [("INFO", "secauth decision", "allow", None),
                                  ("WARNING", "secauth decision", "deny", "forbidden"),
                                  ("WARNING", "secauth decision", "deny", "rate_limited")]  # fmt: skip
    assert entries[0]["service"] == service

    emf = metrics.serialize_metric_set()
    names = {m["Name"]: m["Unit"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names == {"secauth.decisions": "Count", "secauth.allow": "Count", "secauth.deny": "Count",
                     "secauth.reason.forbidden": "Count", "secauth.reason.rate_limited": "Count",
                     "secauth.rate_limited": "Count", "secauth.latency": "Microseconds"}  # fmt: skip
    assert emf["secauth.decisions"] == [1.0, 1.0, 1.0]
    assert emf["secauth.deny"] == [1.0, 1.0]
    assert emf["secauth.rate_limited"] == [1.0]
    assert len(emf["secauth.latency"]) == 3

    assert [s.name for s in provider.segments] == ["## secauth.decision"] * 3
    assert [s.annotations for s in provider.segments] == [
        {"secauth_decision": "allow", "secauth_status": 200},
        {"secauth_decision": "deny", "secauth_status": 403, "secauth_reason": "forbidden"},
        {"secauth_decision": "deny", "secauth_status": 429, "secauth_reason": "rate_limited"},
    ]
    assert provider.segments[0].metadata["secauth.decision"]["principal"] == "alice"
    everything = stream.getvalue() + json.dumps(emf) + repr([s.metadata for s in provider.segments])
    assert good.split()[1] not in everything
    capsys.readouterr()


def test_handler_errors_are_logged_at_error_without_their_text(metrics: Metrics) -> None:
    stream = io.StringIO()
    # A new service name: Powertools keeps the first handler of a named logger.
    logger = Logger(
        service=f"orders-errors-{uuid.uuid4().hex}", logger_handler=logging.StreamHandler(stream)
    )
    guard = Guard(VERIFIER, decision_log=None,
                  on_decision=PowertoolsDecisions(logger=logger, metrics=metrics))  # fmt: skip
    app = build_app("http_v2", guard)
    assert resolve(app, http_v2("GET", "/boom", authorization=admin()))["statusCode"] == 500
    entry = json.loads(stream.getvalue())
    assert (entry["level"], entry["secauth"]["reason"]) == ("ERROR", "internal_error")
    assert entry["secauth"]["detail"] == {"error": "RuntimeError"}
    assert SECRET not in stream.getvalue()
    assert metrics.serialize_metric_set()["secauth.error"] == [1.0]


def test_disabled_tracer_records_nothing() -> None:
    provider = RecordingProvider()

    class Disabled:
        disabled = True

    Disabled.provider = provider  # type: ignore[attr-defined]
    PowertoolsDecisions(tracer=Disabled())({"decision": "allow", "status": 200})
    assert provider.segments == []
    with pytest.raises(ConfigurationError):
        PowertoolsDecisions()


def test_plain_guard_decorator_reports_through_powertools(metrics: Metrics) -> None:
    """The hook works with the plain decorator too (no resolver)."""
    guard = Guard(VERIFIER, decision_log=None, on_decision=PowertoolsDecisions(metrics=metrics))
    handler = guard(lambda event, context: {"statusCode": 200, "body": ""})
    handler(http_v2(authorization=admin()), None)
    handler(http_v2(), None)
    emf = metrics.serialize_metric_set()
    assert emf["secauth.reason.missing_token"] == [1.0]
    assert emf["secauth.allow"] == [1.0]


def test_importing_the_integration_does_not_import_powertools() -> None:
    """``import secauth.integrations.powertools`` (and secauth) leaves Powertools unloaded."""
    code = ("import sys, secauth, secauth.integrations.powertools as p; "
            "print(any(m.startswith('aws_lambda_powertools') for m in sys.modules))")  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_principal_in_app_context_is_the_guarded_one() -> None:
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(Guard(VERIFIER, claims=CLAIMS, decision_log=None))])
    seen: list[Principal] = []

    @app.get("/x")
    def x() -> dict[str, str]:
        seen.append(app.context["secauth_principal"])
        return {}

    resolve(app, http_v2("GET", "/x", authorization=admin()))
    assert [(p.id, p.tenant) for p in seen] == [("alice", "acme")]


def _away_from_a_window_edge(period: float = 60.0, margin: float = 3.0) -> None:
    """Fixed windows restart on the minute: start a short burst clear of an edge, so the
    requests the test counts fall in one window."""
    import time

    into = time.time() % period
    if into > period - margin:
        time.sleep(period - into + 0.05)


def test_an_exception_handler_that_raises_gets_the_sanitized_500() -> None:
    """The app's own exception handler raising must not let its exception (and its text)
    escape the guarded app (a review finding)."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from guard_events import VERIFIER, http_v2, token

    from secauth import Guard, Routes, public

    records: list[dict[str, Any]] = []
    app = APIGatewayHttpResolver()
    app.use(
        middlewares=[
            guard_middleware(
                Guard(
                    VERIFIER,
                    routes=Routes({"GET /eh": public()}),
                    on_decision=records.append,
                    decision_log=None,
                )
            )
        ]
    )

    class Handled(Exception):
        pass

    @app.exception_handler(Handled)
    def broken(exc: Exception) -> Any:
        raise ValueError("SECRET-in-handler")

    @app.get("/eh")
    def eh() -> Any:
        raise Handled("x")

    answer = app.resolve(http_v2("GET", "/eh", authorization=f"Bearer {token('bob')}"), None)
    assert answer["statusCode"] == 500
    assert "SECRET" not in json.dumps(answer)
    assert records[-1]["reason"] == "internal_error"


def test_a_route_guard_that_verifies_the_token_runs_the_route_as_that_caller() -> None:
    """A global guard trusting the authorizer, a route guard verifying the token: the route
    runs as the caller the route guard checked (its roles), and only when both guards
    name the same caller (review 5: it ran as the global guard's principal, unchecked)."""
    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(Guard(decision_log=None))])  # trusts the context
    route_guard = Guard(VERIFIER, claims=CLAIMS, decision_log=None).require(roles("admin"))

    @app.delete("/orders/<order_id>", middlewares=[guard_middleware(route_guard)])
    def delete_order(order_id: str) -> dict[str, Any]:
        caller = current_principal()
        assert app.context["secauth_principal"] is caller
        return {"by": caller.id, "roles": sorted(caller.roles), "tenant": caller.tenant}

    def call(context_principal: Principal, bearer_token: str) -> dict[str, Any]:
        event = rest_v1(
            "DELETE",
            "/orders/7",
            resource="/orders/{order_id}",
            authorization=bearer(bearer_token),
            authorizer={"principalId": context_principal.id, **context_principal.to_context()},
        )
        return resolve(app, event)

    alice_admin = token("alice", tenant="acme", roles=["admin"])
    same = call(Principal("alice", tenant="acme"), alice_admin)  # the context holds no roles
    assert same["statusCode"] == 200
    assert json.loads(same["body"]) == {"by": "alice", "roles": ["admin"], "tenant": "acme"}
    for other in (
        Principal("bob", tenant="acme"),  # another caller
        Principal("alice", tenant="globex"),  # the same id in another tenant
        Principal("alice", tenant="acme", kind="api_key"),  # another kind of credential
    ):
        assert call(other, alice_admin)["statusCode"] == 401, other
