"""``RoleHierarchy``: roles that imply other roles, for :class:`~secauth.claim_mapping.ClaimMapper`
(``role_hierarchy=``); also exported from :mod:`secauth.principal`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from secauth.errors import ConfigurationError

__all__ = ["RoleHierarchy"]


class RoleHierarchy:
    """Roles that imply other roles, declared once: ``{"admin": ["member"], "member": ["viewer"]}``.

    Implications are transitive; cycles are allowed and harmless.

    >>> sorted(RoleHierarchy({"admin": ["member"], "member": ["viewer"]}).expand({"admin"}))
    ['admin', 'member', 'viewer']
    """

    __slots__ = ("_closure",)

    def __init__(self, implies: Mapping[str, Iterable[str]]) -> None:
        graph: dict[str, frozenset[str]] = {}
        for role, implied in implies.items():
            if not isinstance(role, str) or isinstance(implied, str):
                raise ConfigurationError(
                    "a role hierarchy maps a role to a list of roles: {'admin': ['member']}"
                )
            graph[role] = frozenset(implied)
        closure: dict[str, frozenset[str]] = {}
        for role in graph:
            seen = {role}
            stack = [role]
            while stack:
                for nxt in graph.get(stack.pop(), ()):
                    if nxt not in seen:
                        seen.add(nxt)
                        stack.append(nxt)
            closure[role] = frozenset(seen)
        self._closure = closure

    def expand(self, roles: Iterable[str]) -> frozenset[str]:
        """The roles plus every role they imply."""
        out: set[str] = set()
        for role in roles:
            out |= self._closure.get(role, frozenset((role,)))
        return frozenset(out)
