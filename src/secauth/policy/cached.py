""":class:`CachedPolicies`: the policies a :class:`~secauth.policy.PolicyBuilder` answers
with when API Gateway caches answers (``cache_ttl > 0``), planned from the route table and
proven never to allow what it denies (:mod:`~secauth.policy.planner`).

A builder loads this module only when ``cache_ttl > 0``, so the planner and its proof
cost an authorizer without caching (the default) nothing on a cold start.

>>> from secauth.access import Routes, roles
>>> from secauth.policy.arn import MethodArn
>>> from secauth.principal import Principal
>>> routes = Routes({"GET /orders": roles("clerk"), "DELETE /orders/{id}": roles("admin")})
>>> arn = MethodArn.parse("arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/orders")
>>> doc = CachedPolicies(routes).document(arn, Principal("ann", roles={"clerk"}), allow=True)
>>> [(s.effect, s.resources) for s in doc.statements if s.effect == "Allow"]
[('Allow', ('arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/orders',))]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from secauth.errors import ConfigurationError
from secauth.policy.document import PolicyDocument, exact_document, request_resource
from secauth.policy.glob import document_allows, matches
from secauth.policy.planner import PlanCache, PolicyConflict
from secauth.policy.route_lists import RouteLike, route_policy
from secauth.routing import parse_template

if TYPE_CHECKING:
    from secauth.access import Routes
    from secauth.grants import Grants
    from secauth.policy.arn import MethodArn
    from secauth.policy.builder import PrincipalLike

__all__ = ["CachedPolicies"]


class CachedPolicies:
    """Cached policies for one ``Routes`` table (planned per API and grants, the plans
    kept in a :class:`~secauth.policy.planner.PlanCache`), or for a list of every route
    key of the table, with the principal's routes given per call."""

    def __init__(self, routes: Routes | None, route_list: Iterable[RouteLike] = ()) -> None:
        self._routes = routes
        self._route_list = tuple(route_list)
        self._plans = PlanCache()

    def document(
        self,
        arn: MethodArn,
        principal: PrincipalLike,
        *,
        allow: bool,
        allowed_routes: Iterable[RouteLike] = (),
        route_template: str | None = None,
    ) -> PolicyDocument:
        """The plan for what ``principal`` may call, with this request allowed or denied
        as decided; the method ARN alone when no plan can be proven or the plan denies
        this very request (fail closed). ``route_template``: the plan is made from the
        grants of the table's routes of that template's shape alone
        (:attr:`~secauth.routing.Template.shape`), so what it allows the table routes
        there (an HTTP API answer cached per route)."""
        planned = self._plan(arn, principal, allowed_routes, route_template)
        if planned is None:
            return exact_document(arn, allow)
        if not allow:
            return planned.deny(request_resource(arn))
        if document_allows(planned, str(arn)):
            return planned
        if any(
            s.effect == "Deny" and any(matches(r, str(arn)) for r in s.resources)
            for s in planned.statements
        ):
            return exact_document(arn, True)  # the plan denies this request: name it alone
        return planned.allow(request_resource(arn))

    def _plan(
        self,
        arn: MethodArn,
        principal: PrincipalLike,
        allowed_routes: Iterable[RouteLike],
        route_template: str | None,
    ) -> PolicyDocument | None:
        if self._routes is not None:
            grants = self._routes.grants(principal)  # type: ignore[arg-type]
            if route_template is None:
                return self._plans.get(arn.prefix, grants)
            on_route = _on_route(grants, route_template)
            return None if on_route is None else self._plans.get(arn.prefix, on_route)
        if route_template is not None:
            return None  # a route list, not a table: no route's grants to plan from alone
        try:
            return route_policy(arn, list(allowed_routes), self._route_list)
        except PolicyConflict:
            return None


def _on_route(grants: Grants, template: str) -> Grants | None:
    """``grants`` of the table's routes of ``template``'s shape alone, the ``default`` rule
    granting nothing; None for a template the route grammar does not read."""
    try:
        shape = parse_template(template).shape
    except ConfigurationError:
        return None
    per_route = tuple(
        granted if key.template is not None and key.template.shape == shape else ()
        for (key, _), granted in zip(grants.routes.table.routes, grants.per_route, strict=True)
    )
    return grants._replace(per_route=per_route, default=False)
