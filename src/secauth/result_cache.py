"""What API Gateway's authorizer result cache (``cache_ttl > 0``) cannot honour.

A cached answer is reused for every request with the same identity sources, for every
route, until it expires. An :class:`~secauth.authorizer.Authorizer` therefore refuses, at
construction, options whose answer depends on more than the identity sources: route
rules that read the request, client-certificate logins and routes with ``:`` in their
path, which a cached policy denies (unless ``cache_key_covers_request=True`` says the
identity sources include what the answer depends on). HTTP API events are checked per
request (:func:`cached_denial`): their route ARNs are ambiguous.
What a cached policy itself cannot follow (simple ``isAuthorized`` responses, a
``Routes`` table deciding beyond its ``grants``: :func:`check_plannable`)
:class:`~secauth.policy.PolicyBuilder` refuses.

>>> from secauth.access import Routes, authenticated, tenant
>>> routes = Routes({"GET /a": authenticated(), "GET /b": tenant(header="x-tenant")})
>>> request_dependent(routes)
['GET /b']
>>> check_result_cache(routes, cache_ttl=300, covered=False,
...                    client_certs=False)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
secauth.errors.ConfigurationError: routes ['GET /b'] depend on the request ...
"""

from __future__ import annotations

from types import MemberDescriptorType
from typing import Final, NamedTuple

from secauth.access import Decision, Denial, Routes
from secauth.errors import ConfigurationError
from secauth.events import Request
from secauth.policy.arn import MethodArn
from secauth.principal import Principal
from secauth.reasons import Reason
from secauth.routing import GREEDY, PARAM, parse_template
from secauth.targets import route_template

__all__ = [
    "DECIDING_METHODS",
    "DEFAULT_ROUTE_CACHED",
    "HTTP_API_NEEDS_ROUTE_KEY",
    "UNKEYED_ROUTE",
    "RouteBound",
    "cached_denial",
    "check_plannable",
    "check_result_cache",
    "decision_overrides",
    "request_dependent",
    "route_bound",
    "routed_http_api",
]

#: Why an HTTP API answer needs a result cache keyed by route (:func:`route_bound`).
HTTP_API_NEEDS_ROUTE_KEY: Final = (
    "an HTTP API passes the path decoded, so an encoded '/' in a parameter gives the route "
    "ARN more segments than the route API Gateway ran (GET /users/{id} with id 'a/b' shows "
    "as GET/users/a/b): an answer cached without the route would serve that route the "
    "answer of another. Add $context.routeKey to the authorizer's identity sources and "
    "pass cache_key_covers_route=True, or use cache_ttl=0"
)

#: The denial of an HTTP API's ``$default`` route under a result cache: its one ARN stands
#: for every path, the spellings every table refuses (``/a//b``, ``/a/../b``) included.
DEFAULT_ROUTE_CACHED: Final = Denial(
    Reason.FORBIDDEN, "HTTP API $default route: one ARN for every path; use cache_ttl=0"
)

#: The denial of an HTTP API answer cached without its route.
UNKEYED_ROUTE: Final = Denial(Reason.FORBIDDEN, "HTTP API result cache keyed without the route")


def routed_http_api(request: Request) -> bool:
    """Whether ``request`` is an HTTP API authorizer event for a route other than
    ``$default``: its route ARN's path may show more segments than the route it ran (an
    encoded ``/``), so a cached answer for it names only that ARN.

    >>> from secauth.events import EventKind
    >>> arn = "arn:aws:execute-api:us-east-1:123456789012:api/$default/GET/users/x/$default"
    >>> routed_http_api(Request(EventKind.HTTP_AUTHORIZER_V2, {"routeArn": arn}))
    True
    """
    if not request.kind.is_http_authorizer:
        return False
    arn = MethodArn.parse(request.method_arn)  # the route's ARN: parsed, not matched as text
    return not (arn.verb is None and arn.path == "$default")


class RouteBound(NamedTuple):
    """How far an answer API Gateway caches may reach (:func:`route_bound`): ``exact``,
    only the request's own ARN; else the principal's planned policy, made (with
    ``route_template``) from the grants of that route's shape alone."""

    exact: bool
    route_template: str | None = None


def route_bound(request: Request, *, cached: bool, route_covered: bool) -> RouteBound:
    """How far an answer for ``request`` may reach when API Gateway caches it
    (``cached``; else it names the request's ARN whatever this says). A routed HTTP API
    event (:func:`routed_http_api`) shares its cache entry only with requests of the same
    route when the key covers the route (``route_covered``). Their paths arrive decoded,
    so the table may read one as another route (``GET /users/m%65`` runs ``/users/{id}``
    and reads as ``/users/me``), and an encoded ``/`` adds segments: the answer is planned
    from the grants of the routes of its route's shape alone, so what it allows the table
    routes there, for a route without ``{proxy+}`` (an ARN routed there has no ``/`` in a
    parameter) or whose one parameter is its ``{proxy+}`` (a ``/`` there is one more
    segment of it, read alike). For a route with both, the ``$default`` route, a route
    unnamed, a method not sent in upper case (``get`` may have run the ``ANY`` route),
    and without the route in the key: the request's ARN alone. Other events: the plan.

    >>> from secauth.events import EventKind
    >>> arn = "arn:aws:execute-api:us-east-1:123456789012:api/$default/GET/users/7"
    >>> event = {"routeArn": arn, "routeKey": "GET /users/{id}"}
    >>> route_bound(Request(EventKind.HTTP_AUTHORIZER_V2, event), cached=True, route_covered=True)
    RouteBound(exact=False, route_template='/users/{id}')
    """
    if not cached or not request.kind.is_http_authorizer:
        return _PLANNED
    template = route_template(request) if route_covered and routed_http_api(request) else None
    if template is None or request.sent_method != request.method:
        return _EXACT  # not keyed by route, $default, a route unnamed, or a verb unsure
    try:
        kinds = parse_template(template).precedence
    except ConfigurationError:
        return _EXACT  # a route the grammar does not read: no route of the table to plan from
    if GREEDY in kinds and PARAM in kinds:
        return _EXACT  # a "/" in a parameter before the proxy moves segments into it
    return RouteBound(exact=False, route_template=template)


_PLANNED: Final = RouteBound(exact=False)
_EXACT: Final = RouteBound(exact=True)


def cached_denial(
    routes: Routes,
    principal: Principal,
    decision: Decision,
    request: Request,
    *,
    request_covered: bool,
    route_covered: bool,
) -> Denial | None:
    """Why an allowing ``decision`` must be a denial when API Gateway caches it, or None:
    a rule that reads the request for this caller while the cache key does not cover the
    request (``request_covered``; :meth:`~secauth.access.Routes.reads_request`: its
    answer would be served to the token's other requests), or a routed HTTP API event
    (:func:`routed_http_api`) while the key does not include the route (``route_covered``:
    :data:`HTTP_API_NEEDS_ROUTE_KEY`; covering the request does not do: its decoded path
    is the same for both readings), or an HTTP API's ``$default`` route
    (:data:`DEFAULT_ROUTE_CACHED`).

    >>> from secauth.access import authenticated
    >>> from secauth.events import EventKind
    >>> routes = Routes({"GET /a": authenticated()})
    >>> allowed = routes.decide(Principal("u"), "GET", "/a")
    >>> arn = "arn:aws:execute-api:us-east-1:123456789012:api/$default/GET/a"
    >>> event = Request(EventKind.HTTP_AUTHORIZER_V2, {"routeArn": arn})
    >>> cached_denial(routes, Principal("u"), allowed, event, request_covered=True,
    ...               route_covered=False).detail
    'HTTP API result cache keyed without the route'
    """
    if not request_covered and routes.reads_request(principal, decision.decided_by):
        return Denial(Reason.FORBIDDEN, "rule reads the request; cache_ttl > 0")
    if request.kind.is_http_authorizer:
        if routed_http_api(request):
            return None if route_covered else UNKEYED_ROUTE
        return DEFAULT_ROUTE_CACHED
    return None


def request_dependent(routes: Routes) -> list[str | None]:
    """The routes whose rule reads the request, and None when the default rule does."""
    probe = Principal("probe", tenant="probe")
    dependent: list[str | None] = list(routes.request_dependent_routes(probe))
    if routes.default is not None and routes.default.bindings(probe) is None:
        dependent.append(None)
    return dependent


def check_result_cache(
    routes: Routes,
    *,
    cache_ttl: int,
    covered: bool,
    client_certs: bool,
    api_keys_beside_tokens: bool = False,
    http_api_uncovered: bool = False,
    own_credentials: bool = False,
) -> None:
    """Raise ConfigurationError for what a result cache of ``cache_ttl`` seconds cannot
    honour (``covered``: the identity sources include the request parts read;
    ``api_keys_beside_tokens``: API keys are accepted as well as bearer tokens;
    ``http_api_uncovered``: an HTTP API, ``api="http"``, whose cache key need not include
    the route; ``own_credentials``: an overridden ``credentials`` hook, which may read any
    part of the request). A rule that reads the request for some principals only, and an HTTP API
    event when the API is not given, are the Authorizer's to catch, per request
    (:func:`cached_denial`)."""
    if cache_ttl and http_api_uncovered:  # whatever else the key covers
        raise ConfigurationError(f"api='http' with cache_ttl > 0: {HTTP_API_NEEDS_ROUTE_KEY}")
    if not cache_ttl or covered:  # no result cache, or its key covers what answers read
        return
    if client_certs:
        raise ConfigurationError(
            "client certificates with cache_ttl > 0: a cached answer is reused for another "
            "certificate. Use cache_ttl=0, or put the certificate in the identity sources "
            "and pass cache_key_covers_request=True"
        )
    if api_keys_beside_tokens:
        # A request with a key is decided by the key, whatever its Authorization header
        # holds; cached under that header, the key's answer would be served to anyone
        # sending the same header without the key.
        raise ConfigurationError(
            "api_keys beside a verifier with cache_ttl > 0: an API key's answer would be "
            "cached under identity sources that need not include the key, and reused for "
            "requests without it. Use cache_ttl=0, a separate authorizer for API keys (its "
            "identity source the key header), or put both the key header and the token in "
            "the identity sources and pass cache_key_covers_request=True"
        )
    if own_credentials:
        raise ConfigurationError(
            "an overridden credentials() with cache_ttl > 0: its answer may read headers the "
            "identity sources do not include, and would be reused for requests without them. "
            "Use cache_ttl=0, or put what it reads in the identity sources and pass "
            "cache_key_covers_request=True"
        )
    with_colons = [key for key in routes.route_keys() if ":" in key.partition(" ")[2]]
    if with_colons:
        raise ConfigurationError(
            f"routes {with_colons} have ':' in their path, and with cache_ttl > 0 a cached "
            "policy denies every path with a colon (IAM's '*' does not reliably match past "
            "one): those routes would answer 403 whenever another route's answer is cached. "
            "Use cache_ttl=0, or put the method and path in the identity sources and pass "
            "cache_key_covers_request=True"
        )
    dependent = request_dependent(routes)
    if dependent:
        named = [route or "(the default rule)" for route in dependent]
        raise ConfigurationError(
            f"routes {named} depend on the request (headers, query, IP or custom rules), but "
            "with cache_ttl > 0 API Gateway reuses one answer for every request of the same "
            "identity. Use cache_ttl=0, or put those request parts in the authorizer's "
            "identity sources and pass cache_key_covers_request=True"
        )


def check_plannable(routes: Routes) -> None:
    """Raise ConfigurationError for a table whose decisions a cached policy, planned from
    its ``grants``, would not follow (:func:`decision_overrides`)."""
    overrides = decision_overrides(routes)
    if overrides:
        raise ConfigurationError(
            f"{type(routes).__name__} changes {', '.join(overrides)} without a grants that "
            "follows: with cache_ttl > 0 the cached policy is planned from grants (the rules "
            "alone) and would allow what the change denies. Use cache_ttl=0, or override "
            "grants in the same class (or one below it)"
        )


#: The :class:`Routes` methods a decision goes through. Cached policies are planned from
#: :meth:`Routes.grants`, which reads the rules: a table that changes one of these must
#: change ``grants`` to match.
DECIDING_METHODS: Final = ("decide", "judge", "resolve", "match")


def decision_overrides(routes: Routes) -> list[str]:
    """The ways ``routes`` may decide beyond what its :meth:`Routes.grants` says: the
    deciding methods its class overrides where its ``grants`` does not come from the same
    class or one below it, those (and ``grants``) set on the instance or held in a slot,
    ``table`` or ``default`` redefined, or every one when its class overrides
    ``__getattribute__``. Empty for a plain :class:`Routes`, whose attributes are
    read-only.

    >>> from secauth.access import authenticated
    >>> decision_overrides(Routes({"GET /a": authenticated()}))
    []
    """
    table = type(routes)
    if table.__getattribute__ is not object.__getattribute__:
        return list(DECIDING_METHODS)
    on_instance = getattr(routes, "__dict__", {})
    found = [
        name
        for name in (*DECIDING_METHODS, "grants")
        # set on the instance, or a slot of a subclass: each instance holds its own
        if name in on_instance or isinstance(getattr(table, name), MemberDescriptorType)
    ]
    # What decide and the planned policies both read: one table, whatever the subclass.
    found += [name for name in ("table", "default") if _defining_class(table, name) is not Routes]
    grants_from = _defining_class(table, "grants")
    for name in DECIDING_METHODS:
        defined_in = _defining_class(table, name)
        if name not in found and defined_in is not Routes and not issubclass(grants_from, defined_in):
            found.append(name)
    return found


def _defining_class(table: type, name: str) -> type:
    return next(klass for klass in table.__mro__ if name in vars(klass))
