"""IAM policy documents and the Lambda authorizer response shapes.

What API Gateway expects back from a Lambda authorizer, built so that a response it
would reject (or misread) cannot be produced. One module per job:

* :mod:`~secauth.policy.arn`: :class:`MethodArn` parses and builds ``execute-api`` ARNs
  for REST, HTTP and WebSocket APIs in every partition; path templates become wildcards.
* :mod:`~secauth.policy.document`: :class:`Statement` and :class:`PolicyDocument` build
  deterministic policies; :data:`DENY_ALL` is the immutable deny-everything document.
* :mod:`~secauth.policy.glob`: IAM's wildcard matching.
* :mod:`~secauth.policy.planner`: cached policies (``authorizerResultTtlInSeconds > 0``)
  proven never to allow what the route table denies, by :mod:`~secauth.policy.proof`;
  :mod:`~secauth.policy.route_lists`: the same from lists of route keys;
  :mod:`~secauth.policy.cached` answers with them per request. These load only when
  first used (a builder with ``cache_ttl > 0``), so an authorizer without caching does
  not pay for them on a cold start.
* :mod:`~secauth.policy.responses`: :func:`policy_response`, :func:`simple_response` and
  :func:`unauthorized` give each response shape, with context values checked per kind
  and the whole response held to a size budget (:class:`PolicyTooLarge`).
* :mod:`~secauth.policy.builder`: :class:`PolicyBuilder` ties them together; subclass it
  and override :meth:`PolicyBuilder.extra_statements` to add statements of your own.

Example
-------
>>> arn = MethodArn.parse("arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/orders/7")
>>> doc = PolicyDocument().allow(arn.with_route("GET", "/orders/{id}"))
>>> response = policy_response("user-1", doc, context={"tenant": "acme"})
>>> response["policyDocument"]["Statement"][0]["Resource"]
['arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/orders/*']
"""

from typing import TYPE_CHECKING

from secauth._lazy import lazy_exports
from secauth.policy.arn import MAX_METHOD_ARN_BYTES, InvalidMethodArn, MethodArn
from secauth.policy.builder import PolicyBuilder, PrincipalLike
from secauth.policy.document import (
    DENY_ALL,
    INVOKE_ACTION,
    MAX_RESOURCE_ARN_CHARS,
    POLICY_VERSION,
    Condition,
    PolicyDocument,
    PolicyTooLarge,
    Statement,
    exact_document,
    request_resource,
)
from secauth.policy.glob import document_allows
from secauth.policy.responses import (
    DEFAULT_MAX_RESPONSE_BYTES,
    InvalidContext,
    Unauthorized,
    check_response_size,
    exact_response,
    policy_response,
    response_size,
    simple_response,
    unauthorized,
    validate_context,
)

if TYPE_CHECKING:
    from secauth.policy.planner import PlanCache, PolicyConflict, plan_policy
    from secauth.policy.proof import (
        COLON_PATHS,
        REFUSED_SPELLINGS,
        SEMICOLON_PATHS,
        find_over_allow,
    )
    from secauth.policy.route_lists import RouteLike, resources_for_routes, route_policy

# Cached-policy planning loads on first use: an authorizer with cache_ttl=0 (the default)
# never plans, and these modules would cost its cold start.
_PLANNING = {
    "PlanCache": "secauth.policy.planner",
    "PolicyConflict": "secauth.policy.planner",
    "plan_policy": "secauth.policy.planner",
    "COLON_PATHS": "secauth.policy.proof",
    "REFUSED_SPELLINGS": "secauth.policy.proof",
    "SEMICOLON_PATHS": "secauth.policy.proof",
    "find_over_allow": "secauth.policy.proof",
    "RouteLike": "secauth.policy.route_lists",
    "resources_for_routes": "secauth.policy.route_lists",
    "route_policy": "secauth.policy.route_lists",
}

__all__ = [
    "COLON_PATHS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DENY_ALL",
    "INVOKE_ACTION",
    "MAX_METHOD_ARN_BYTES",
    "MAX_RESOURCE_ARN_CHARS",
    "POLICY_VERSION",
    "REFUSED_SPELLINGS",
    "SEMICOLON_PATHS",
    "Condition",
    "InvalidContext",
    "InvalidMethodArn",
    "MethodArn",
    "PlanCache",
    "PolicyBuilder",
    "PolicyConflict",
    "PolicyDocument",
    "PolicyTooLarge",
    "PrincipalLike",
    "RouteLike",
    "Statement",
    "Unauthorized",
    "check_response_size",
    "document_allows",
    "exact_document",
    "exact_response",
    "find_over_allow",
    "plan_policy",
    "policy_response",
    "request_resource",
    "resources_for_routes",
    "response_size",
    "route_policy",
    "simple_response",
    "unauthorized",
    "validate_context",
]


__getattr__ = lazy_exports("secauth.policy", _PLANNING, globals())


def __dir__() -> list[str]:
    return sorted([*globals(), *_PLANNING])
