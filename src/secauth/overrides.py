"""Whether an object answers with code of its own where secauth's class would: a method
redefined by a subclass, set on the instance or held in a slot.

The Authorizer's response memo and the Guard's principal memo reuse what a token's
first answer derived only while nothing that made it can answer otherwise; this is how
they tell.

>>> from secauth.claim_mapping import ClaimMapper
>>> class StoreRoles(ClaimMapper):
...     def map(self, claims):
...         return super().map(claims)
>>> redefined(ClaimMapper(), ClaimMapper), redefined(StoreRoles(), ClaimMapper)
([], ['map'])
>>> mapper = ClaimMapper()
>>> mapper.map = lambda claims: None
>>> redefined(mapper, ClaimMapper)
['map']
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MemberDescriptorType

__all__ = ["defining_class", "redefined"]


def defining_class(klass: type, name: str) -> type:
    """The first class of ``klass``'s method resolution order that defines ``name``.

    >>> class A:
    ...     def f(self): ...
    >>> class B(A): ...
    >>> defining_class(B, "f") is A
    True
    """
    return next((parent for parent in klass.__mro__ if name in vars(parent)), object)


def redefined(obj: object, base: type, names: Iterable[str] | None = None) -> list[str]:
    """The methods of ``base`` (``names``, else every public one) that ``obj`` answers with
    code of its own: defined by a class below ``base``, set on the instance or held in a
    slot; every one when ``obj`` is not a ``base`` or its class overrides
    ``__getattribute__``. Empty for a plain ``base``.

    >>> class Builder:
    ...     def extra(self): ...
    >>> redefined(Builder(), Builder), redefined(object(), Builder)
    ([], ['extra'])
    """
    wanted = list(names) if names is not None else _methods(base)
    klass = type(obj)
    if not isinstance(obj, base) or klass.__getattribute__ is not object.__getattribute__:
        return wanted
    own = getattr(obj, "__dict__", {})
    return [
        name
        for name in wanted
        if name in own
        or isinstance(getattr(klass, name, None), MemberDescriptorType)
        or defining_class(klass, name) is not defining_class(base, name)
    ]


def _methods(base: type) -> list[str]:
    return [
        name
        for name in dir(base)
        if not name.startswith("_") and callable(getattr(base, name)) and not isinstance(
            vars(defining_class(base, name)).get(name), (classmethod, staticmethod)
        )
    ]
