"""Powertools for AWS Lambda (Python): ``Guard`` as event handler middleware, and observability.

Install the extra: ``pip install 'secauth[powertools]'``. Nothing here imports
``aws_lambda_powertools`` until it is used, so ``import secauth`` stays cheap.

* :func:`guard_middleware`: a middleware for the Powertools REST, HTTP, ALB and Function
  URL resolvers (``APIGatewayRestResolver``, ``APIGatewayHttpResolver``, ``ALBResolver``,
  ``LambdaFunctionUrlResolver``), for every route (``app.use(middlewares=[...])``) or one
  route (``@app.get(..., middlewares=[...])``). Under a global guard, a per-route guard
  adds its own rule (``guard.require(...)``) and its own rate limit; the global one
  already found the caller.
* :data:`guard_handler`: the same as a Powertools ``lambda_handler_decorator``
  (``@guard_handler(guard=guard)`` on the Lambda handler that calls ``app.resolve``).
* :func:`protected_resource_routes`: GET routes that serve a
  :class:`~secauth.protected_resource.ProtectedResource`'s RFC 9728 metadata document;
  the guard's refusals carry its challenge (``Guard(protected_resource=...)``).
* :class:`PowertoolsDecisions`: a decision hook (``Guard(on_decision=...)``) that logs
  each decision through a Powertools ``Logger``, counts it in ``Metrics`` (by decision,
  by reason, rate limited, latency) and records a ``Tracer`` subsegment with
  annotations (a no-op while tracing is disabled, e.g. outside Lambda).

Errors keep the guard's rules: a refusal or an unexpected exception from a route is a
sanitized problem response with the security headers, never Powertools' debug-mode
traceback. An exception that the app has an ``exception_handler`` for, and Powertools'
own ``ServiceError`` family (``NotFoundError("...")``, raised on purpose), are answered
the Powertools way, with the security headers added.

Example
-------
>>> from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
>>> from secauth import Guard, JwtVerifier, current_principal, roles
>>> from secauth.testing import KeyPair
>>> pair = KeyPair.generate("ES256", kid="k1")
>>> guard = Guard(JwtVerifier(issuer="https://idp/", audience="api",
...                           jwks={"keys": [pair.public_jwk]}), decision_log=None)
>>> app = APIGatewayHttpResolver()
>>> app.use(middlewares=[guard_middleware(guard)])
>>> @app.get("/me")
... def me():
...     return {"id": current_principal().id}
>>> @app.delete("/users/<user_id>", middlewares=[guard_middleware(guard.require(roles("admin")))])
... def delete_user(user_id):
...     return {"deleted": user_id}
>>> token = pair.sign({"iss": "https://idp/", "aud": "api", "sub": "ann", "exp": 4e9})
>>> event = {"version": "2.0", "rawPath": "/me", "headers": {"authorization": f"Bearer {token}"},
...          "requestContext": {"http": {"method": "GET", "path": "/me"}, "stage": "$default"}}
>>> app.resolve(event, None)["body"]
'{"id":"ann"}'
>>> delete = {**event, "rawPath": "/users/7",
...           "requestContext": {"http": {"method": "DELETE", "path": "/users/7"},
...                              "stage": "$default"}}
>>> app.resolve(delete, None)["statusCode"]
403
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from secauth.errors import (
    ConfigurationError,
    InternalError,
    SecAuthError,
)
from secauth.guard import Guard, acting_as
from secauth.guard_http import add_headers, admitted_headers
from secauth.integrations.powertools_decisions import PowertoolsDecisions
from secauth.integrations.powertools_stack import (
    CONTEXT_KEY,
    StackedAdmission,
    admission_for,
    route_checks,
)

if TYPE_CHECKING:
    from secauth.events import Request
    from secauth.protected_resource import ProtectedResource
    from secauth.ratelimit.result import RateLimitResult

    guard_handler: Callable[..., Any]  # built lazily by __getattr__ below

# guard_handler is not listed: it is built from Powertools on first use, and a star import
# must work without Powertools installed.
__all__ = ["PowertoolsDecisions", "guard_middleware", "protected_resource_routes"]


def guard_middleware(guard: Guard) -> Callable[[Any, Callable[[Any], Any]], Any]:
    """A Powertools event handler middleware that runs ``guard`` around the route.

    Parameters
    ----------
    guard:
        A :class:`~secauth.guard.Guard`; for one route, typically
        ``guard.require(roles("admin"))``. Configure CORS on the guard
        (``Guard(cors=Cors(...))``), not on the resolver: preflights are answered here.

    Route code reads the caller with :func:`~secauth.guard.current_principal`; the
    middleware also puts it in ``app.context["secauth_principal"]``.
    """
    if not isinstance(guard, Guard):
        raise ConfigurationError("guard_middleware takes a secauth.Guard")

    # One closure for both cases (the outermost guard, or a route guard under it): they
    # share the try/finally that answers a refusal and logs the decision once.
    def secauth_guard(app: Any, next_middleware: Callable[[Any], Any]) -> Any:
        event = app.current_event.raw_event
        found = admission_for(app, event)
        # The path the resolver routed on: the event's after its strip_prefixes, which
        # strips a prefix from whatever path arrives (Powertools keeps it in its context).
        routed_on = app.context.get("_path")
        app_path = routed_on if isinstance(routed_on, str) else None
        started = time.perf_counter()
        record: dict[str, Any] = {}
        limit: RateLimitResult | None = None
        in_route = False  # only what the route raises is the app's to answer
        try:
            if found is not None:
                # Under a global guard: the caller is known; add this guard's rule and limit.
                # A refusal propagates to the outer guard, which answers and logs it.
                principal, limit = route_checks(guard, found)
                request = found.request
                app.append_context(secauth_principal=principal)
            else:
                admitted = guard.admit(event, record, app_path=app_path)
                if admitted.preflight is not None:  # a CORS preflight answer
                    return _response(admitted.preflight)
                assert admitted.principal is not None
                request, principal, limit = admitted.request, admitted.principal, admitted.limit
                app.append_context(
                    **{
                        CONTEXT_KEY: StackedAdmission(guard, request, principal, record, app_path),
                        "secauth_principal": principal,
                    }
                )
            with acting_as(principal):
                in_route = True
                response = next_middleware(app)
                in_route = False
            _add_headers(response, guard, request, limit)
            _note_status(record, response)  # the status the caller gets (201, 404...)
            return response
        except Exception as exc:
            if found is not None:
                if in_route or isinstance(exc, SecAuthError):
                    raise
                # This guard's own work broke: the outer guard answers a 500.
                raise InternalError() from None
            return _failure_answer(app, guard, exc, event, record, in_route=in_route)
        finally:
            if found is None:  # this request's, for its route guards only
                app.context.pop(CONTEXT_KEY, None)
                guard.log_decision(record, started)

    secauth_guard.__qualname__ = secauth_guard.__name__ = "secauth_guard"
    return secauth_guard


def protected_resource_routes(app: Any, resource: ProtectedResource) -> None:
    """Add to the Powertools resolver ``app`` a public GET route for each of ``resource``'s
    :attr:`~secauth.protected_resource.ProtectedResource.metadata_paths`, answering its
    RFC 9728 metadata document (JSON, cacheable). Give the guard the same resource
    (``Guard(protected_resource=resource)``) so its 401 and 403 answers point there; a
    global guard middleware answers these paths itself, without a token.
    """
    from aws_lambda_powertools.event_handler.api_gateway import Response

    headers = {**resource.metadata_headers(), "X-Content-Type-Options": "nosniff"}
    content_type = headers.pop("Content-Type")

    def protected_resource_metadata() -> Any:
        return Response(200, content_type, resource.metadata_body, dict(headers))

    for path in resource.metadata_paths:
        app.get(path)(protected_resource_metadata)


def _failure_answer(
    app: Any, guard: Guard, exc: Exception, event: Any, record: dict[str, Any], *, in_route: bool
) -> Any:
    """The outermost guard's answer to ``exc``: a refusal when the guard's own work broke
    (never the app's to answer); when the route raised, the app's own answer if it has
    one (its exception handlers), else a sanitized refusal."""
    exc = _unwrapped(app, exc)
    if not in_route:
        return _response(guard.refusal(exc, event, record))
    try:
        answered = _powertools_answer(app, exc)
    except Exception as failed:  # the app's own exception handler raised: sanitize
        return _response(guard.refusal(failed, event, record))
    if answered is None:
        return _response(guard.refusal(exc, event, record))
    # The app answered its own exception (NotFoundError, a handler of its own): the
    # request was allowed; the record says what the caller got.
    record.update(reason="handled_exception")
    _note_status(record, answered)
    _add_headers(answered, guard, None, None, event=event)
    return answered


def _note_status(record: dict[str, Any], response: Any) -> None:
    """Write a Powertools ``Response``'s status into the decision record."""
    status = getattr(response, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool):  # HTTPStatus is an int too
        record["status"] = int(status)


def _response(answer: Mapping[str, Any]) -> Any:
    """A Powertools ``Response`` from a guard's proxy response dict."""
    from aws_lambda_powertools.event_handler.api_gateway import Response

    headers: dict[str, Any] = dict(answer.get("headers") or {})
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        headers[name] = values[0] if len(values) == 1 else list(values)
    content_type = headers.pop("Content-Type", None)
    return Response(
        status_code=answer["statusCode"],
        content_type=content_type,
        body=answer.get("body") or "",
        headers=headers,
    )


def _add_headers(
    response: Any,
    guard: Guard,
    request: Request | None,
    limit: RateLimitResult | None,
    *,
    event: object = None,
) -> None:
    """Security, CORS and rate-limit headers (and a DPoP nonce) on a Powertools
    ``Response`` (route values win; ``Vary`` is merged)."""
    headers = getattr(response, "headers", None)
    if not isinstance(headers, dict):
        return
    nonces = guard.sender_constraint.nonces
    wanted = guard.cors is not None or nonces is not None  # both read the request
    if request is None and wanted and isinstance(event, Mapping):
        from secauth.events import Request

        try:
            request = Request.from_event(event)
        except Exception:
            request = None
    extra = admitted_headers(request, limit, guard.security_headers, guard.cors, nonces)
    add_headers(headers, extra)


def _powertools_answer(app: Any, exc: Exception) -> Any:
    """The Powertools answer for an exception the app handles itself, else None."""
    if isinstance(exc, SecAuthError):
        return None
    from aws_lambda_powertools.event_handler.exceptions import ServiceError

    manager = getattr(app, "exception_handler_manager", None)
    handler = manager.lookup_exception_handler(type(exc)) if manager is not None else None
    if handler is not None:
        try:
            return app._to_response(handler(exc))
        except ServiceError as raised:  # a handler may answer by raising one, as in Powertools
            exc = raised
    if isinstance(exc, ServiceError):
        from aws_lambda_powertools.event_handler.api_gateway import Response

        return Response(
            status_code=exc.status_code,
            content_type="application/json",
            body={"statusCode": exc.status_code, "message": exc.msg},
        )
    return None


def _unwrapped(app: Any, exc: Exception) -> Exception:
    """What a route's ``Depends()`` dependency raised: Powertools wraps it in a
    ``DependencyResolutionError`` and unwraps it when it answers, unless the app has a
    handler for that class itself. A secauth refusal is always unwrapped (it stays the
    guard's 401 or 403)."""
    cause = exc.__cause__
    if type(exc).__name__ != "DependencyResolutionError" or not isinstance(cause, Exception):
        return exc
    if isinstance(cause, SecAuthError):
        return cause
    manager = getattr(app, "exception_handler_manager", None)
    handlers = manager.get_registered_handlers() if manager is not None else {}
    return exc if type(exc) in handlers else cause


# --- the lambda_handler_decorator form ------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _wrapped(guard: Guard, handler: Callable[..., Any]) -> Callable[..., Any]:
    return guard(handler)


def secauth_guard(
    handler: Callable[..., Any], event: Any, context: Any, guard: Guard | None = None
) -> Any:
    """Run ``handler`` under ``guard`` (the body of :data:`guard_handler`)."""
    if not isinstance(guard, Guard):
        raise ConfigurationError("use @guard_handler(guard=Guard(...))")
    return _wrapped(guard, handler)(event, context)


def __getattr__(name: str) -> Any:
    # ``guard_handler`` is built on first use, so importing this module needs no Powertools.
    if name == "guard_handler":
        try:
            from aws_lambda_powertools.middleware_factory import lambda_handler_decorator
        except ImportError:  # raised as an ImportError, what code guarding an optional import catches
            raise ImportError(
                "guard_handler needs Powertools: pip install 'secauth[powertools]'"
            ) from None

        value = lambda_handler_decorator(secauth_guard)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
