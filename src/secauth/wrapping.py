"""How :class:`~secauth.guard.Guard` wraps a handler: what the handler takes and whether
it is async (read once, at decoration), and the sync or async wrapper around it.

>>> def handler(event, context, principal): ...
>>> handler_shape(handler)
HandlerShape(takes_principal=True, is_async=False)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from secauth.current import acting_as
from secauth.errors import ConfigurationError
from secauth.guard_http import answered, handler_response

if TYPE_CHECKING:
    from secauth.guard import Admission, Guard

__all__ = ["HandlerShape", "handler_shape", "like", "wrap_handler"]

_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE, without importing inspect


class HandlerShape(NamedTuple):
    """Whether a handler takes a third, principal argument, and whether it is async."""

    takes_principal: bool
    is_async: bool


def like(wrapper: Callable[..., Any], handler: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``wrapper`` the handler's name and docstring, and ``__wrapped__`` for tools."""
    wrapper.__wrapped__ = handler  # type: ignore[attr-defined]
    wrapper.__name__ = getattr(handler, "__name__", "handler")
    wrapper.__doc__ = handler.__doc__
    return wrapper


def wrap_handler(guard: Guard, handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler`` run under ``guard``: admitted (or refused with a sanitized answer), called
    with the principal as :func:`~secauth.current.current_principal` (and as a third
    argument when it takes one), its answer given the guard's headers, one decision
    record logged. Async handlers get an async wrapper (async key fetches and stores)."""
    takes_principal, is_async = handler_shape(handler)
    if not is_async and any(map(_is_async_store, (guard.rate_limit, guard.route_limits))):
        raise ConfigurationError(
            "this Guard's rate limit uses an async store: guard an async handler, or use "
            "a sync store"
        )
    verify = "verify_async" if is_async else "verify"
    if guard.verifier is not None and not callable(getattr(guard.verifier, verify, None)):
        raise ConfigurationError(
            f"this Guard's verifier has no {verify}(token): guard "
            f"{'a sync' if is_async else 'an async'} handler, or give the verifier {verify}"
        )
    if is_async and guard.verifier is not None:
        from secauth._fetch_async import require_httpx

        require_httpx()  # async verification fetches keys (or introspects) with httpx
    if is_async:

        async def async_wrapper(event: dict[str, Any], context: Any) -> Any:
            started = time.perf_counter()
            record: dict[str, Any] = {}
            try:
                admitted = await guard.admit_async(event, record)
                if admitted.principal is None:
                    return admitted.preflight
                with acting_as(admitted.principal) as principal:
                    args = (event, context, principal) if takes_principal else (event, context)
                    result = await handler(*args)
                return _respond(guard, admitted, result, record)
            except BaseException as exc:
                return guard.refusal(exc, event, record)
            finally:
                guard.log_decision(record, started)

        return like(async_wrapper, handler)

    def wrapper(event: dict[str, Any], context: Any) -> Any:
        started = time.perf_counter()
        record: dict[str, Any] = {}
        try:
            admitted = guard.admit(event, record)
            if admitted.principal is None:
                return admitted.preflight
            with acting_as(admitted.principal) as principal:
                args = (event, context, principal) if takes_principal else (event, context)
                result = handler(*args)
            return _respond(guard, admitted, result, record)
        except BaseException as exc:
            return guard.refusal(exc, event, record)
        finally:
            guard.log_decision(record, started)

    return like(wrapper, handler)


def _is_async_store(limiter: object) -> bool:
    parts = getattr(limiter, "limiters", None) or ((limiter,) if limiter is not None else ())
    return any(getattr(getattr(p, "store", None), "is_async", False) for p in parts)


def handler_shape(handler: Callable[..., Any]) -> HandlerShape:
    """Read ``handler``'s shape: plain functions from their code object, anything else
    (a callable object, a ``functools.partial``) through :mod:`inspect`."""
    code = getattr(handler, "__code__", None)
    if code is not None:
        bound = 1 if getattr(handler, "__self__", None) is not None else 0  # self is supplied
        return HandlerShape(code.co_argcount - bound >= 3, bool(code.co_flags & _CO_COROUTINE))
    import inspect

    try:
        positional = [
            p
            for p in inspect.signature(handler).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        positional = []
    is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - the object's own __call__
    )
    return HandlerShape(len(positional) >= 3, is_async)


def _respond(guard: Guard, admitted: Admission, result: object, record: dict[str, Any]) -> Any:
    """The handler's ``result`` as the response, with the Guard's headers, recorded."""
    response = handler_response(
        result,
        admitted.request,
        admitted.limit,
        guard.security_headers,
        guard.cors,
        guard.sender_constraint.nonces,
    )
    return answered(response, record)
