""":class:`PolicyBuilder`: a decision turned into the authorizer response, with a cached
policy planned from the route table when API Gateway caches answers.

>>> from secauth.events import Request
>>> from secauth.principal import Principal
>>> request = Request.from_event({"type": "TOKEN", "authorizationToken": "Bearer t",
...     "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/orders"})
>>> PolicyBuilder().response(Principal("u-1"), request, allow=True)["principalId"]
'u-1'
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from secauth.errors import ConfigurationError
from secauth.events import EventKind
from secauth.options import flag
from secauth.policy.arn import MethodArn
from secauth.policy.document import PolicyDocument, Statement, exact_document
from secauth.policy.glob import matches
from secauth.policy.responses import (
    DEFAULT_MAX_RESPONSE_BYTES,
    check_response_size,
    policy_response,
    response_size,
    simple_response,
    unauthorized,
)

if TYPE_CHECKING:
    from secauth.access import Routes
    from secauth.events import Request
    from secauth.policy.cached import CachedPolicies
    from secauth.policy.route_lists import RouteLike

__all__ = ["PolicyBuilder", "PrincipalLike", "checked_cache_ttl"]

_ARN_COLONS = 5  # arn:partition:execute-api:region:account:api/stage/VERB/path


def checked_cache_ttl(cache_ttl: object) -> int:
    """``cache_ttl`` when it is an API Gateway authorizer result TTL (an int, 0 to 3600
    seconds); else a ConfigurationError that names it (a string read from an environment
    variable, say).

    >>> checked_cache_ttl(300)
    300
    """
    if not isinstance(cache_ttl, int) or isinstance(cache_ttl, bool) or not 0 <= cache_ttl <= 3600:
        raise ConfigurationError(
            "cache_ttl is the authorizer's result TTL: an int, 0 to 3600 seconds; got "
            f"{type(cache_ttl).__name__} {cache_ttl!r}"
        )
    return cache_ttl


class PrincipalLike(Protocol):
    """What the policy builder reads from a principal (``secauth.principal.Principal`` fits)."""

    @property
    def id(self) -> str: ...

    @property
    def tenant(self) -> str | None: ...

    @property
    def roles(self) -> Collection[str]: ...

    @property
    def scopes(self) -> Collection[str]: ...


class PolicyBuilder:
    """Turns a decision into the authorizer response; subclass it to add statements.

    Parameters
    ----------
    cache_ttl: the authorizer's ``authorizerResultTtlInSeconds`` (0-3600). With 0
        the policy names only the exact method ARN. Above 0, API Gateway reuses the
        response for every route the same identity calls, so the policy covers what
        the principal may call, proven against the table (:mod:`secauth.policy.planner`),
        and ``routes`` is required.
    routes: the :class:`~secauth.access.Routes` table (what :class:`~secauth.Authorizer`
        passes), or, lower level, every route of the table as ``"VERB /template"`` or
        pairs, with the principal's routes given to :meth:`policy` as ``allowed_routes``.
    max_response_bytes: budget for the whole serialized response (8 KB by default).
    simple_responses: answer HTTP payload 2.0 events with ``{"isAuthorized": ...}``
        (the authorizer's ``enableSimpleResponses``).

    Example
    -------
    >>> from secauth.events import Request
    >>> from secauth.principal import Principal
    >>> class NoDeletes(PolicyBuilder):
    ...     def extra_statements(self, principal, request):
    ...         if "auditor" in principal.roles:
    ...             arn = MethodArn.parse(request.method_arn)
    ...             yield Statement("Deny", arn.with_route("DELETE", "/{proxy+}"))
    >>> request = Request.from_event({"type": "TOKEN", "authorizationToken": "Bearer t",
    ...     "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/orders"})
    >>> response = NoDeletes().response(Principal("u-1", roles={"auditor"}), request, allow=True)
    >>> [s["Effect"] for s in response["policyDocument"]["Statement"]]
    ['Allow', 'Deny']
    """

    def __init__(
        self,
        *,
        cache_ttl: int = 0,
        routes: Routes | Iterable[RouteLike] = (),
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        simple_responses: bool = False,
    ) -> None:
        from secauth.access import Routes

        checked_cache_ttl(cache_ttl)
        if not isinstance(max_response_bytes, int) or max_response_bytes < 256:
            raise ConfigurationError("max_response_bytes must be an int of at least 256")
        simple_responses = flag("simple_responses", simple_responses)
        self._routes: Routes | None = None
        self._route_list: tuple[RouteLike, ...] = ()
        if isinstance(routes, Routes):
            self._routes = routes
        elif isinstance(routes, str | bytes):
            raise ConfigurationError("routes must be a list of routes or a Routes table, not one")
        else:
            self._route_list = tuple(routes)
        if cache_ttl and self._routes is None and not self._route_list:
            raise ConfigurationError(
                "cache_ttl > 0 needs routes=: a cached policy must cover every route the "
                "principal may call, or the others answer 403 until the cache expires"
            )
        if cache_ttl and simple_responses:
            raise ConfigurationError(
                "simple responses cannot be cached per route: with cache_ttl > 0 use IAM "
                "policy responses (simple_responses=False)"
            )
        if cache_ttl and self._routes is not None:
            from secauth.result_cache import check_plannable

            check_plannable(self._routes)
        if self._route_list:
            # Checked now, not on the first request: every key must parse.
            from secauth.routing import parse_route_key

            for route in self._route_list:
                parse_route_key(route if isinstance(route, str) else " ".join(route))
        self._cached_policies: CachedPolicies | None = None
        if cache_ttl:
            # Loaded here: the planner costs an authorizer without caching nothing.
            from secauth.policy.cached import CachedPolicies

            self._cached_policies = CachedPolicies(self._routes, self._route_list)
        self._reported_fallback = False
        self.cache_ttl = cache_ttl
        self.max_response_bytes = max_response_bytes
        self.simple_responses = bool(simple_responses)

    @property
    def routes(self) -> Routes | None:
        """The :class:`~secauth.access.Routes` table cached policies are planned from (None
        for the lower-level form with a list of route keys)."""
        return self._routes

    def check_matches(
        self,
        *,
        cache_ttl: int,
        routes: Routes,
        max_response_bytes: int,
        simple_responses: bool,
    ) -> None:
        """Raise ConfigurationError unless this builder plans for the given TTL and
        ``routes`` table (its cached policies are proven against its own table, while an
        authorizer decides with its own) and answers within the same budget and shape.

        >>> from secauth.access import Routes, public
        >>> routes = Routes({"GET /a": public()})
        >>> PolicyBuilder(cache_ttl=60, routes=routes).check_matches(
        ...     cache_ttl=60, routes=routes, max_response_bytes=8192, simple_responses=False)
        """
        if self.cache_ttl != cache_ttl:
            raise ConfigurationError(
                f"policy_builder has cache_ttl={self.cache_ttl} but the authorizer "
                f"cache_ttl={cache_ttl}: give both the authorizer's result TTL"
            )
        if cache_ttl and self._routes is not routes:
            raise ConfigurationError(
                "policy_builder must be built with the authorizer's own Routes table "
                "(PolicyBuilder(cache_ttl=..., routes=routes)): cached policies are proven "
                "against that table"
            )
        if (self.max_response_bytes, self.simple_responses) != (
            max_response_bytes,
            bool(simple_responses),
        ):
            raise ConfigurationError(
                "policy_builder has another max_response_bytes or simple_responses than the "
                "authorizer: give both the same values"
            )

    def extra_statements(self, principal: PrincipalLike, request: Request) -> Iterable[Statement]:
        """Hook: statements to add to every policy (default: none).

        An explicit ``Deny`` here always wins over the built-in Allow. With
        ``cache_ttl > 0`` the policy is reused for other routes of the same
        identity, so statements must not depend on the current route, and an ``Allow``
        here is outside secauth's proof: it must not open what the table denies.
        """
        return ()

    def policy(
        self,
        principal: PrincipalLike,
        request: Request,
        *,
        allow: bool,
        allowed_routes: Iterable[RouteLike] = (),
        exact: bool = False,
        route_template: str | None = None,
    ) -> PolicyDocument:
        """The policy for this decision.

        With ``cache_ttl > 0`` it is the planned policy for what the principal may call
        (with a route list instead of a table: for ``allowed_routes``), plus an explicit
        Deny of the method ARN when ``allow`` is false (or an Allow of it when the plan
        does not cover it). When no cached policy can be proven safe, or a Deny the plan
        needs would refuse this very request, the policy names only the method ARN, as
        with ``cache_ttl=0`` or ``exact=True`` (fail closed: other routes answer 403 until
        the cache entry expires).

        An HTTP API's ``$default`` route has one ARN for every path, the spellings every
        table refuses included: cached (``exact`` or not), it is never allowed.
        ``route_template``: the plan is made from the grants of the table's routes of that
        template's shape alone (an HTTP API answer cached per route:
        :func:`~secauth.result_cache.route_bound`).

        Raises :class:`~secauth.policy.InvalidMethodArn` for a bad ``methodArn``/``routeArn``.
        """
        arn = MethodArn.parse(request.method_arn)
        cached = self._cached_policies
        if cached is None:  # cache_ttl=0
            doc = exact_document(arn, allow)
        elif arn.is_websocket:
            # Exact or not: cached, an HTTP API's $default ARN answers every path, the
            # spellings every table refuses (/a//b, /a/../b) too: it is never allowed.
            allow = allow and (arn.path != "$default" or not request.kind.is_http_authorizer)
            doc = exact_document(arn, allow)
        elif exact:
            doc = exact_document(arn, allow)
        else:
            doc = cached.document(arn, principal, allow=allow, allowed_routes=allowed_routes,
                                  route_template=route_template)  # fmt: skip
        extra = tuple(self.extra_statements(principal, request))
        if extra and str(arn).count(":") > _ARN_COLONS:
            # A ':' in the path: under IAM's reading a '*' or '?' inside a resource does not
            # match past it, so a Deny of yours that matches this request names it too.
            extra = tuple(_naming(statement, str(arn)) for statement in extra)
        return doc.add(*extra) if extra else doc

    def response(
        self,
        principal: PrincipalLike,
        request: Request,
        *,
        allow: bool,
        allowed_routes: Iterable[RouteLike] = (),
        context: Mapping[str, object] | None = None,
        usage_identifier_key: str | None = None,
        exact: bool = False,
        route_template: str | None = None,
    ) -> dict[str, Any]:
        """The full authorizer response for ``request``'s event kind (see :meth:`policy`).

        With ``cache_ttl > 0``, a planned policy that does not fit ``max_response_bytes``
        with the context is replaced by ``policy(..., exact=True)``: the method ARN alone,
        with the ``extra_statements`` (asked again for it). Fail closed, as :meth:`policy`
        is when no plan can be proven; the ``secauth.policy`` logger says so the first
        time a builder answers so.

        Raises :class:`~secauth.policy.PolicyTooLarge` over ``max_response_bytes`` and
        :class:`~secauth.policy.InvalidContext` for a context value the kind cannot carry.
        """
        kind = request.kind
        if self.simple_responses and kind is EventKind.HTTP_AUTHORIZER_V2:
            return simple_response(allow, context=context, max_bytes=self.max_response_bytes)
        doc = self.policy(principal, request, allow=allow, allowed_routes=allowed_routes,
                          exact=exact, route_template=route_template)  # fmt: skip
        response = policy_response(
            principal.id,
            doc,
            kind=kind,
            context=context,
            usage_identifier_key=usage_identifier_key,
            max_bytes=None,  # checked below, once the policy is the one answered
        )
        if self._cached_policies is None or exact:
            return check_response_size(response, self.max_response_bytes)
        planned_size = response_size(response)
        if planned_size <= self.max_response_bytes:
            return response
        # The planned policy does not fit with this context: answer for the method ARN
        # alone (and the extra statements), as when no plan can be proven (fail closed:
        # the identity's other routes answer 403 until the cache entry expires).
        exact_doc = self.policy(principal, request, allow=allow, exact=True)
        response["policyDocument"] = exact_doc.to_dict()
        answered = check_response_size(response, self.max_response_bytes)
        self._report_fallback(planned_size)
        return answered

    def _report_fallback(self, size: int) -> None:
        """Say once per builder that planned policies stop fitting (no principal named)."""
        if self._reported_fallback:
            return
        self._reported_fallback = True
        import logging  # on the first report, not on the cold path

        logging.getLogger("secauth.policy").warning(
            "a cached policy of %d bytes with its context is over max_response_bytes (%d): "
            "such requests are answered for their method ARN alone, and the identity's "
            "other routes answer 403 while the answer is cached. Raise max_response_bytes "
            "if your API accepts more, cache per request (a REQUEST authorizer with the "
            "method and path among its identity sources: then the method ARN is all an "
            "answer needs) or use cache_ttl=0",
            size,
            self.max_response_bytes,
        )

    def unauthorized(self, request: Request) -> dict[str, Any]:
        """See :func:`~secauth.policy.unauthorized`: raises
        :class:`~secauth.policy.Unauthorized` for REST and WebSocket."""
        return unauthorized(request.kind, simple=self.simple_responses)


def _naming(statement: Statement, arn: str) -> Statement:
    """``statement``, also naming ``arn`` exactly when it is a Deny that matches it."""
    if statement.effect == "Deny" and any(matches(r, arn) for r in statement.resources):
        return statement.with_resource(arn)
    return statement
