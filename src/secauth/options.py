"""Checks of the values given to options: a flag is ``True`` or ``False``, a set of names is
not one string.

An option of the wrong type is refused when the object is built, with a
:class:`~secauth.errors.ConfigurationError` naming it. Two mistakes would otherwise pass
unseen: a setting read from the environment as it is (``"false"``) is a string, and every
non-empty string is true; a lone string given for a list of names is read as its characters.

>>> flag("allow_http", False)
False
>>> flag("allow_http", "false")
Traceback (most recent call last):
...
secauth.errors.ConfigurationError: allow_http must be True or False, not a str
>>> names("required_claims", ["tenant", "sub"])
('tenant', 'sub')
>>> names("required_claims", "tenant")
Traceback (most recent call last):
...
secauth.errors.ConfigurationError: required_claims must be a list of strings, not one string
"""

from __future__ import annotations

from collections.abc import Iterable

from secauth.errors import ConfigurationError

__all__ = ["flag", "names"]


def flag(option: str, value: object) -> bool:
    """``value`` when it is ``True`` or ``False``; else a ConfigurationError naming ``option``."""
    if type(value) is not bool:
        raise ConfigurationError(f"{option} must be True or False, not a {type(value).__name__}")
    return value


def names(option: str, value: object) -> tuple[str, ...]:
    """The strings of ``value``, a collection of them (a list, a tuple, a set); a lone string
    or anything else is a ConfigurationError naming ``option``."""
    if isinstance(value, str | bytes):
        raise ConfigurationError(f"{option} must be a list of strings, not one string")
    if not isinstance(value, Iterable):
        raise ConfigurationError(f"{option} must be a list of strings")
    items = tuple(value)
    if not all(isinstance(item, str) for item in items):
        raise ConfigurationError(f"{option} must be a list of strings")
    return items
