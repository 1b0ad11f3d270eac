"""What API Gateway's authorizer result cache (``cache_ttl > 0``) cannot honour.

A cached answer is reused for every request with the same identity sources, for every
route, until it expires. An :class:`~secauth.authorizer.Authorizer` therefore refuses, at
construction, options whose answer depends on more than the identity sources: route
rules that read the request, client-certificate logins and routes with ``:`` in their
path, which a cached policy denies (unless ``cache_key_covers_request=True`` says the
identity sources include what the answer depends on).
What a cached policy itself cannot follow (simple ``isAuthorized`` responses, a
``Routes`` subclass deciding beyond its rules) :class:`~secauth.policy.PolicyBuilder`
refuses.

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

from secauth.access import Routes
from secauth.errors import ConfigurationError
from secauth.principal import Principal

__all__ = ["check_result_cache", "request_dependent"]


def request_dependent(routes: Routes) -> list[str | None]:
    """The routes whose rule reads the request, and None when the default rule does."""
    probe = Principal("probe", tenant="probe")
    dependent: list[str | None] = list(routes.request_dependent_routes(probe))
    if routes.default is not None and routes.default.bindings(probe) is None:
        dependent.append(None)
    return dependent


def check_result_cache(
    routes: Routes, *, cache_ttl: int, covered: bool, client_certs: bool
) -> list[str | None]:
    """Raise ConfigurationError for what a result cache of ``cache_ttl`` seconds cannot
    honour (``covered``: the identity sources include the request parts read); return
    :func:`request_dependent`'s routes."""
    if client_certs and cache_ttl and not covered:
        raise ConfigurationError(
            "client certificates with cache_ttl > 0: a cached answer is reused for another "
            "certificate. Use cache_ttl=0, or put the certificate in the identity sources "
            "and pass cache_key_covers_request=True"
        )
    with_colons = [key for key in routes.route_keys() if ":" in key.partition(" ")[2]]
    if cache_ttl and not covered and with_colons:
        raise ConfigurationError(
            f"routes {with_colons} have ':' in their path, and with cache_ttl > 0 a cached "
            "policy denies every path with a colon (IAM's '*' does not reliably match past "
            "one): those routes would answer 403 whenever another route's answer is cached. "
            "Use cache_ttl=0, or put the method and path in the identity sources and pass "
            "cache_key_covers_request=True"
        )
    dependent = request_dependent(routes)
    if cache_ttl and not covered and dependent:
        named = [route or "(the default rule)" for route in dependent]
        raise ConfigurationError(
            f"routes {named} depend on the request (headers, query, IP or custom rules), but "
            "with cache_ttl > 0 API Gateway reuses one answer for every request of the same "
            "identity. Use cache_ttl=0, or put those request parts in the authorizer's "
            "identity sources and pass cache_key_covers_request=True"
        )
    return dependent
