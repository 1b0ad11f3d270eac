"""Lazy exports of a package (PEP 562): a name loads its module on first access, so a
cold start pays only for the modules a function uses.

``secauth/__init__.py`` keeps its own copy: ``import secauth`` loads no other module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: each name of ``exports`` (name -> module)
    is imported on first access and kept in ``namespace`` (the package's ``globals()``).

    >>> namespace: dict[str, Any] = {}
    >>> getattr_ = lazy_exports("pkg", {"dumps": "json"}, namespace)
    >>> getattr_("dumps") is importlib.import_module("json").dumps, "dumps" in namespace
    (True, True)
    >>> getattr_("loads")
    Traceback (most recent call last):
    ...
    AttributeError: module 'pkg' has no attribute 'loads'
    """

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
