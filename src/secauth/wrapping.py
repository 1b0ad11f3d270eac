"""How :class:`~secauth.guard.Guard` wraps a handler: what the handler takes and whether
it is async (read once, at decoration), and the wrapper made to look like it.

>>> def handler(event, context, principal): ...
>>> handler_shape(handler)
HandlerShape(takes_principal=True, is_async=False)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["HandlerShape", "handler_shape", "like"]

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
