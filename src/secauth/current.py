"""The principal of the request being served: set by :class:`~secauth.guard.Guard`
(or by :func:`acting_as` in integrations), read anywhere with :func:`current_principal`.

It lives in a :class:`contextvars.ContextVar`, so concurrent async handlers and
threads each see their own caller.
"""

from __future__ import annotations

import contextvars

from secauth.errors import MissingToken
from secauth.principal import Principal

__all__ = ["ActingAs", "acting_as", "current_principal"]

_PRINCIPAL: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "secauth_principal", default=None
)


class ActingAs:
    """The context manager :func:`acting_as` returns; it cannot be entered again while
    it is active (its exit would then restore the wrong principal).

    >>> block = acting_as(Principal("u-1"))
    >>> with block:
    ...     with block:
    ...         pass
    Traceback (most recent call last):
    ...
    RuntimeError: an acting_as(...) block cannot be entered twice; make another
    """

    __slots__ = ("principal", "token")

    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.token: contextvars.Token[Principal | None] | None = None

    def __enter__(self) -> Principal:
        if self.token is not None:
            raise RuntimeError("an acting_as(...) block cannot be entered twice; make another")
        self.token = _PRINCIPAL.set(self.principal)
        return self.principal

    def __exit__(self, *exc: object) -> None:
        assert self.token is not None
        _PRINCIPAL.reset(self.token)
        self.token = None


def acting_as(principal: Principal) -> ActingAs:
    """Make ``principal`` what :func:`current_principal` returns inside the block (for
    integrations that call the handler themselves).

    >>> with acting_as(Principal("u-1")):
    ...     current_principal().id
    'u-1'
    """
    return ActingAs(principal)


def current_principal() -> Principal:
    """The principal of the request the current guarded handler serves.

    Raises :class:`~secauth.errors.MissingToken` outside a guarded handler, so code
    that needs a caller cannot run without one.

    >>> current_principal()
    Traceback (most recent call last):
    ...
    secauth.errors.MissingToken: missing credentials (missing_token)
    """
    principal = _PRINCIPAL.get()
    if principal is None:
        raise MissingToken(detail={"problem": "no guarded request in progress"})
    return principal
