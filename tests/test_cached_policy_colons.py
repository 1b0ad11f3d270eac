"""Cached policies and colons in the path (review 8): what a user sees.

The IAM User Guide lets a ``*`` match past a ``:`` only where it ends a colon-separated
part of the ARN; under that reading a Deny with an inner ``*`` missed paths with a colon
that a trailing-``*`` Allow still matched. Every cached policy now denies paths with a
colon, a route table with ``:`` in a route is refused under a result cache, and a
request whose own path holds a colon is answered for its method ARN alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from guard_events import VERIFIER, token
from test_cached_policy_findings import PREFIX, cached_response, iam_allows

from secauth import Authorizer, Routes, authenticated, roles
from secauth.access import Decision
from secauth.errors import ConfigurationError
from secauth.events import Request
from secauth.policy import COLON_PATHS, PolicyBuilder
from secauth.principal import Principal

TABLE = {"GET /things/{id}": authenticated(), "GET /things/{id}/secrets": roles("admin")}


def statements(response: dict[str, Any], effect: str) -> list[str]:
    return [
        resource
        for statement in response["policyDocument"]["Statement"]
        if statement["Effect"] == effect
        for resource in statement["Resource"]
    ]


def test_every_planned_policy_denies_paths_with_a_colon() -> None:
    response = cached_response(Routes(TABLE), {"sub": "u"}, "GET", "/things/7")
    assert PREFIX + COLON_PATHS in statements(response, "Deny")
    assert iam_allows(response, PREFIX + "GET/things/8")
    for path in ("/things/a:b", "/things/a:b/secrets", "/things/urn:isbn:1"):
        assert not iam_allows(response, PREFIX + "GET" + path), path


def test_a_request_with_a_colon_is_answered_for_its_own_arn_alone() -> None:
    """Allowed by the table, so allowed; but no cached wildcard can cover it, so the policy
    names its method ARN only (other routes answer 403 until the cache entry expires)."""
    response = cached_response(Routes(TABLE), {"sub": "u"}, "GET", "/things/urn:isbn:1")
    assert statements(response, "Allow") == [PREFIX + "GET/things/urn:isbn:1"]
    assert not iam_allows(response, PREFIX + "GET/things/urn:isbn:1/secrets")
    assert not iam_allows(response, PREFIX + "GET/things/7")


def test_a_route_with_a_colon_is_refused_under_a_result_cache() -> None:
    table = Routes({"POST /v1/items:batchGet": authenticated(), "GET /v1/items": authenticated()})
    with pytest.raises(ConfigurationError, match=r"POST /v1/items:batchGet.*cache_ttl=0"):
        Authorizer(VERIFIER, routes=table, cache_ttl=300)
    Authorizer(VERIFIER, routes=table)  # no result cache: one answer per request
    covered = Authorizer(VERIFIER, routes=table, cache_ttl=300, cache_key_covers_request=True)
    event = {
        "type": "TOKEN",
        "authorizationToken": f"Bearer {token(sub='u')}",
        "methodArn": PREFIX + "POST/v1/items:batchGet",
    }
    assert iam_allows(covered.handler(event, None), PREFIX + "POST/v1/items:batchGet")


class Suspended(Routes):
    """Denies writes beyond what its rules say."""

    def decide(
        self, principal: Principal, method: str, path: str, request: Request | None = None
    ) -> Decision:
        decision = super().decide(principal, method, path, request)
        return decision if method == "GET" else self.decide(principal, "GET", "/nowhere")


class SuspendedWithGrants(Suspended):
    """The same, and says so in its grants: the planned policy follows them."""

    def grants(self, principal: Principal) -> Any:
        return Routes({"GET /orders/{id}": authenticated()}).grants(principal)


def test_a_routes_subclass_deciding_beyond_its_rules_is_refused_under_a_result_cache() -> None:
    table = {"GET /orders/{id}": authenticated(), "DELETE /orders/{id}": authenticated()}
    with pytest.raises(ConfigurationError, match="Suspended changes decide without a grants that follows"):
        Authorizer(VERIFIER, routes=Suspended(table), cache_ttl=300)
    with pytest.raises(ConfigurationError, match="changes decide without a grants that follows"):
        PolicyBuilder(cache_ttl=300, routes=Suspended(table))
    Authorizer(VERIFIER, routes=Suspended(table))  # no result cache: decide is asked each time
    Authorizer(VERIFIER, routes=SuspendedWithGrants(table), cache_ttl=300)


def test_a_policy_builder_refuses_simple_responses_with_a_result_cache() -> None:
    routes = Routes(TABLE)
    with pytest.raises(ConfigurationError, match="simple responses cannot be cached"):
        PolicyBuilder(cache_ttl=300, routes=routes, simple_responses=True)
    with pytest.raises(ConfigurationError, match="simple responses cannot be cached"):
        Authorizer(VERIFIER, routes=routes, cache_ttl=300, simple_responses=True)
    assert PolicyBuilder(routes=routes, simple_responses=True).simple_responses
