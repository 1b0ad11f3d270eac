"""A cached policy too large for the response budget (found planning realistic tables).

A principal granted most of a 50-route table (ten resources, five routes each, one of
them ``ANY``, which is seven verbs) gets a planned policy of about 8 KB: with the
context, over the 8 KB authorizer response budget. The authorizer answered every such
request 401, so caching locked out exactly the principals allowed the most. It now
answers the request as decided, with a policy naming its method ARN alone, as it does
when no cached policy can be proven (fail closed: the token's other routes answer 403
until the cache entry expires), and says so once in the ``secauth.policy`` log.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from guard_events import VERIFIER, token
from test_cached_policy_findings import PREFIX, iam_allows

from secauth import Authorizer, Routes, authenticated, roles, scopes, tenant
from secauth.events import Request
from secauth.policy import PolicyBuilder, PolicyTooLarge, Statement, policy_response
from secauth.principal import ClaimMapper, Principal
from secauth.rules import Rule
from secauth.testing_events import http_authorizer_v2

RESOURCES = [f"resource{i:03d}" for i in range(10)]


def wide_table() -> Routes:
    table: dict[str, Rule] = {}
    for name in RESOURCES:
        table[f"GET /{name}"] = scopes(f"{name}.read")
        table[f"POST /{name}"] = scopes(f"{name}.write") & roles("member")
        table[f"GET /{name}/{{id}}"] = authenticated()
        table[f"DELETE /{name}/{{id}}"] = roles("admin")
        table[f"ANY /tenants/{{tenantId}}/{name}/{{proxy+}}"] = tenant(path="tenantId") & roles(
            "member"
        )
    return Routes(table)


CLAIMS: dict[str, Any] = {
    "sub": "u-1",
    "tenant": "acme",
    "roles": ["member"],
    "scope": " ".join(f"{n}.read {n}.write" for n in RESOURCES),
}


def authorizer(**options: Any) -> Authorizer:
    return Authorizer(
        VERIFIER,
        routes=wide_table(),
        cache_ttl=300,
        claims=ClaimMapper(tenant_claim="tenant"),
        decision_log=None,
        **options,
    )


def event(verb: str, path: str) -> dict[str, Any]:
    return {
        "type": "TOKEN",
        "authorizationToken": f"Bearer {token(**CLAIMS)}",
        "methodArn": f"{PREFIX}{verb}{path}",
    }


def resources(response: dict[str, Any], effect: str) -> list[str]:
    return [
        r
        for s in response["policyDocument"]["Statement"]
        if s["Effect"] == effect
        for r in s["Resource"]
    ]


def test_the_planned_policy_of_a_wide_grant_is_over_the_budget() -> None:
    """The premise: the plan alone would make the response too large."""
    routes = wide_table()
    principal = ClaimMapper(tenant_claim="tenant").map({**CLAIMS, "iss": "x"})
    builder = PolicyBuilder(cache_ttl=300, routes=routes)
    request = Request.from_event(event("GET", "/resource001"))
    planned = builder.policy(principal, request, allow=True)
    assert len(planned.statements[0].resources) > 80  # every granted route, per verb
    with pytest.raises(PolicyTooLarge):
        policy_response(principal.id, planned, context=principal.to_context())


def test_an_allowed_request_is_answered_for_its_own_arn_not_401() -> None:
    response = authorizer().handler(event("GET", "/resource001"), None)
    assert resources(response, "Allow") == [PREFIX + "GET/resource001"]
    assert iam_allows(response, PREFIX + "GET/resource001")
    # Fail closed for the cache: nothing else of the table is opened by this answer.
    for other in ("GET/resource002", "DELETE/resource001/7", "PATCH/tenants/acme/resource001/x"):
        assert not iam_allows(response, PREFIX + other), other
    assert len(json.dumps(response)) <= 8192


def test_a_denied_request_is_still_denied() -> None:
    response = authorizer().handler(event("DELETE", "/resource001/7"), None)
    assert not iam_allows(response, PREFIX + "DELETE/resource001/7")
    assert resources(response, "Allow") == []


def test_a_policy_that_fits_is_still_the_planned_one() -> None:
    """A principal granted a few routes keeps its cached wildcard policy."""
    few: dict[str, Any] = {"sub": "u-2", "scope": "resource001.read"}
    mapper = ClaimMapper(tenant_claim=None)
    cached = Authorizer(
        VERIFIER, routes=wide_table(), cache_ttl=300, claims=mapper, decision_log=None
    )
    answer = cached.handler(
        {"type": "TOKEN", "authorizationToken": f"Bearer {token(**few)}",
         "methodArn": f"{PREFIX}GET/resource001"},
        None,
    )  # fmt: skip
    assert iam_allows(answer, PREFIX + "GET/resource002/9")  # authenticated(): planned
    assert not iam_allows(answer, PREFIX + "DELETE/resource002/9")


def test_the_fallback_is_logged_once_without_token_data(caplog: pytest.LogCaptureFixture) -> None:
    chosen = authorizer()
    with caplog.at_level(logging.WARNING, logger="secauth.policy"):
        for path in ("/resource001", "/resource002", "/resource003/4"):
            chosen.handler(event("GET", path), None)
    warnings = [r for r in caplog.records if r.name == "secauth.policy"]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    for advice in ("max_response_bytes", "identity sources", "cache_ttl=0"):
        assert advice in text
    for secret in ("u-1", "acme", "eyJ"):
        assert secret not in text


def test_a_context_too_large_for_any_policy_is_still_refused() -> None:
    """The exact ARN is the smallest policy: a context over the budget still fails closed."""
    big = authorizer(context=lambda principal: {"blob": "x" * 9000})
    with pytest.raises(Exception, match="Unauthorized"):
        big.handler(event("GET", "/resource001"), None)


def test_the_builder_falls_back_for_a_route_list_too() -> None:
    """PolicyBuilder.response with allowed_routes (no table) has the same fallback."""
    keys = [f"GET /{name}/{{id}}" for name in RESOURCES] + [
        f"{verb} /tenants/{{tid}}/{name}/{{proxy+}}"
        for name in RESOURCES
        for verb in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
    ]
    builder = PolicyBuilder(cache_ttl=300, routes=keys)
    allowed = [f"GET /{name}/{{id}}" for name in RESOURCES] + [
        f"{verb} /tenants/acme/{name}/{{proxy+}}"
        for name in RESOURCES
        for verb in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
    ]
    request = Request.from_event(event("GET", "/resource001/7"))
    context = Principal("u-1", tenant="acme", roles={"member"}).to_context()
    response = builder.response(
        Principal("u-1"), request, allow=True, allowed_routes=allowed, context=context
    )
    assert len(json.dumps(response)) <= 8192
    assert iam_allows(response, PREFIX + "GET/resource001/7")


def test_exact_under_caching_never_opens_an_http_default_arn() -> None:
    """An HTTP API's ``$default`` route has one ARN for every path: named exactly and
    cached, an Allow would serve every path. ``exact=True`` (what the fallback above
    asks for) must deny it as the planned answer does: since review 71, for everyone (the
    one ARN also stands for the spellings every table refuses)."""
    routes = Routes(
        {"ANY /": authenticated(), "ANY /{proxy+}": authenticated(), "DELETE /{proxy+}": roles("admin")}
    )
    builder = PolicyBuilder(cache_ttl=300, routes=routes)
    event = http_authorizer_v2("GET", "/orders/1", route_key="$default", stage="prod", token="t")
    event["routeArn"] = PREFIX + "$default"
    request = Request.from_event(event)
    for exact in (False, True):
        doc = builder.policy(Principal("u"), request, allow=True, exact=exact).to_dict()
        assert not iam_allows({"policyDocument": doc}, PREFIX + "$default"), exact
    admin = Principal("a", roles={"admin"})
    doc = builder.policy(admin, request, allow=True, exact=True).to_dict()
    assert not iam_allows({"policyDocument": doc}, PREFIX + "$default")
    # Without a result cache the ARN is this request's alone: the decision stands.
    ttl0 = PolicyBuilder(routes=routes).policy(Principal("u"), request, allow=True).to_dict()
    assert iam_allows({"policyDocument": ttl0}, PREFIX + "$default")


def test_the_fallback_keeps_the_extra_statements() -> None:
    """The fallback is ``policy(..., exact=True)``: the hook's statements stay."""

    class NoDeletes(PolicyBuilder):
        def extra_statements(self, principal: Any, request: Request) -> Any:
            yield Statement("Deny", PREFIX + "DELETE/*")

    builder = NoDeletes(cache_ttl=300, routes=wide_table())
    principal = ClaimMapper(tenant_claim="tenant").map({**CLAIMS, "iss": "x"})
    request = Request.from_event(event("GET", "/resource001"))
    response = builder.response(principal, request, allow=True, context=principal.to_context())
    assert resources(response, "Allow") == [PREFIX + "GET/resource001"]
    assert resources(response, "Deny") == [PREFIX + "DELETE/*"]
