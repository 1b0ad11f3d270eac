"""How a rule reads a request whose path holds ``;``: Java servlet containers (Tomcat,
Jetty, Spring behind the Lambda Web Adapter) drop each segment's ``;`` parameters before
matching, so ``/users/alice;x`` is their ``/users/alice``. :class:`~secauth.access.Routes`
and the :class:`~secauth.guard.Guard` ask a rule about both readings, and allow only when
it allows both (literal segments are read both ways by :mod:`secauth.routing`).

Example
-------
>>> [c.params for c in parameter_readings("GET", "/u/alice;x", {"user": "alice;x"})]
[{'user': 'alice;x'}, {'user': 'alice'}]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from secauth.rules import AccessContext

if TYPE_CHECKING:
    from secauth.events import Request

__all__ = ["parameter_readings"]


def parameter_readings(
    method: str, path: str, params: Mapping[str, str], request: Request | None = None
) -> list[AccessContext]:
    """The contexts a rule is asked about for ``method path`` and a route's ``params``:
    as written, then, when the path or a value holds ``;``, both without each segment's
    ``;`` parameters, as Java servlet containers read them (``alice;x`` is their
    ``alice``). A rule must allow every one.

    >>> parameter_readings("GET", "/internal;x/a", {"proxy": "internal;x/a"})[1].path
    '/internal/a'
    >>> len(parameter_readings("GET", "/a/7", {"id": "7"}))
    1
    """
    written = AccessContext(method, path, dict(params), request)
    if ";" not in path and not any(";" in value for value in written.params.values()):
        return [written]
    stripped = {name: _without_semicolon_parameters(v) for name, v in written.params.items()}
    return [written, AccessContext(method, _without_semicolon_parameters(path), stripped, request)]


def _without_semicolon_parameters(value: str) -> str:
    return "/".join(part.partition(";")[0] for part in value.split("/"))
