"""What a principal may call, from the principal alone: :class:`Grants`, as
:meth:`secauth.access.Routes.grants` makes them. Cached authorizer policies are planned
and proven against them (:mod:`secauth.policy.planner`, :mod:`secauth.policy.proof`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from secauth.routing import split_path

if TYPE_CHECKING:
    from secauth.access import Routes

__all__ = ["Grant", "Grants"]


class Grant(NamedTuple):
    """One way a principal may call a route: the parameter values it must carry
    (``{}``: any), and the verbs it is for (None: every verb of the route)."""

    binding: Mapping[str, str]
    verbs: frozenset[str] | None = None


class Grants(NamedTuple):
    """What a principal may call, decided from the principal alone: per route of
    ``routes.table`` (by position) the :class:`Grant` list of its rule's
    :meth:`~secauth.rules.Rule.bindings` (a rule that reads the request grants nothing),
    and whether the ``default`` rule allows. Bound values that could not stand in an IAM
    Resource ARN (see :func:`secauth.routing.is_plain_segment`) are dropped: fail closed.

    >>> from secauth.access import Routes, tenant
    >>> from secauth.principal import Principal
    >>> routes = Routes({"GET /t/{tid}/orders": tenant(path="tid")})
    >>> grants = routes.grants(Principal("u", tenant="acme"))
    >>> grants.allows("GET", "/t/acme/orders"), grants.allows("GET", "/t/globex/orders")
    (True, False)
    """

    routes: Routes
    per_route: tuple[tuple[Grant, ...], ...]
    default: bool

    def allows(self, verb: str, path: str) -> bool:
        """Does the principal reach ``verb path`` on routes that every reading allows?"""
        segments = split_path(path)
        return segments is not None and self.allows_segments(verb, segments)

    def allows_segments(self, verb: str, segments: Sequence[str]) -> bool:
        """:meth:`allows` for a path already split into (raw, not refused) segments."""
        matches = self.routes.table.lookup(verb, segments)
        if matches is None:
            return False  # too ambiguous to read: refused
        for match in matches:
            if match is None:
                if not self.default:
                    return False
                continue
            if not any(
                (grant.verbs is None or verb in grant.verbs)
                and all(match.params.get(name) == value for name, value in grant.binding.items())
                for grant in self.per_route[match.route_index]
            ):
                return False
        return True

    def key(self) -> tuple[object, ...]:
        """A hashable summary: equal keys plan equal policies for the same table (a
        :class:`~secauth.policy.PlanCache` serves one table)."""
        return (
            self.default,
            tuple(
                tuple((tuple(sorted(g.binding.items())), g.verbs) for g in grants)
                for grants in self.per_route
            ),
        )
