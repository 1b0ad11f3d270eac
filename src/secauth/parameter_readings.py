"""How a rule reads a request whose path holds ``;``: Java servlet containers (Tomcat,
Jetty, Spring behind the Lambda Web Adapter) drop each segment's ``;`` parameters before
matching, so ``/users/alice;x`` is their ``/users/alice``. :class:`~secauth.access.Routes`
and the :class:`~secauth.guard.Guard` ask a rule about both readings, and allow only when
it allows both (literal segments are read both ways by :mod:`secauth.routing`).

Example
-------
>>> [r.params for r in parameter_readings("/u/alice;x", {"user": "alice;x"})]
[{'user': 'alice;x'}, {'user': 'alice'}]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

__all__ = ["ParameterReading", "parameter_readings"]


class ParameterReading(NamedTuple):
    """One way a rule reads a request: its path and the route's parameters."""

    path: str
    params: dict[str, str]


def parameter_readings(path: str, params: Mapping[str, str]) -> list[ParameterReading]:
    """``path`` and a route's parameters as written, then, when the path or a value holds
    ``;``, both without each segment's ``;`` parameters, as Java servlet containers read
    them (``alice;x`` is their ``alice``): a rule must allow every reading.

    >>> [r.params for r in parameter_readings("/u/alice;x", {"user": "alice;x"})]
    [{'user': 'alice;x'}, {'user': 'alice'}]
    >>> parameter_readings("/internal;x/a", {"proxy": "internal;x/a"})[1].path
    '/internal/a'
    """
    written = ParameterReading(path, dict(params))
    if ";" not in path and not any(";" in value for value in written.params.values()):
        return [written]
    stripped = ParameterReading(
        _without_semicolon_parameters(path),
        {name: _without_semicolon_parameters(value) for name, value in written.params.items()},
    )
    return [written, stripped]


def _without_semicolon_parameters(value: str) -> str:
    return "/".join(part.partition(";")[0] for part in value.split("/"))
