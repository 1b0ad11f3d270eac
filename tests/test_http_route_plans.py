"""HTTP API answers cached per route: the principal's plan, bounded to the route's shape.

With ``cache_ttl > 0`` and ``cache_key_covers_route=True`` (``$context.routeKey`` among the
identity sources), API Gateway reuses an answer only for requests of the same token and
route key. An HTTP API passes the path decoded, so an encoded ``/`` in a parameter gives
a request's ARN more segments than its route has, or shifts them
(:func:`secauth.result_cache.route_bound`). The answer is the principal's plan, less the
ARNs longer than a route without ``{proxy+}``; the plan itself for a route whose one
parameter is its ``{proxy+}``; the request's ARN alone for a route with both.

The property, judged by the offline IAM simulator (``test_iam_simulate_crosscheck``):
for every request of a route key, with parameter values holding ``/``, ``..``, ``;``,
``:``, case and percent variants, the answer cached for an earlier request of the same
token and route key allows it only when the authorizer, asked afresh, allows it. And the
answers reach further than their own ARN, where the route allows that.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from test_iam_simulate_crosscheck import simulate

from secauth import Authorizer, Guard, Routes
from secauth.access import authenticated, public, roles, tenant
from secauth.errors import ConfigurationError
from secauth.events import EventKind, Request
from secauth.policy import PolicyDocument, Statement
from secauth.principal import ClaimMapper
from secauth.result_cache import RouteBound, route_bound
from secauth.targets import ELSEWHERE
from secauth.testing import KeyPair
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    http_proxy,
    token_authorizer,
)
from secauth.verifier import JwtVerifier

ISS, AUD = "https://idp.route-plans.example/", "api"
PAIR = KeyPair.generate("ES256", kid="route-plans")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
TABLE = Routes({
    "GET /": authenticated(),
    "GET /users/{id}": authenticated(),
    "GET /users/me": roles("admin"),
    "GET /users/{id}/{sub}": roles("admin"),
    "DELETE /users/{id}": roles("admin"),
    "POST /a/{x}/b/{y}": authenticated(),
    "ANY /files/{proxy+}": authenticated(),
    "GET /files/{id}/admin": roles("admin"),
    "GET /t/{tid}/orders": tenant(path="tid"),
    "GET /t/{tid}/{proxy+}": tenant(path="tid"),
})  # fmt: skip
TOKENS = {
    "eve": PAIR.sign({"iss": ISS, "aud": AUD, "sub": "eve", "tenant": "acme", "exp": 4e9}),
    "root": PAIR.sign({"iss": ISS, "aud": AUD, "sub": "root", "tenant": "globex",
                       "roles": ["admin"], "exp": 4e9}),
}
# Decoded parameter values: an encoded "/" arrives as "/", as do the others decoded.
VALUES = ("x", "me", "admin", "acme", "ACME", "a/b", "acme/x", "..", "x;y", "a:b", "%78", "")
TAILS = ("q", "q/x", "q/admin", "x/admin", "a/b/c", "orders", "acme/orders", "..", "q/")


def per_route(**options: Any) -> Authorizer:
    return Authorizer(VERIFIER, routes=TABLE, cache_ttl=300, decision_log=None,
                      cache_key_covers_route=True, claims=ClaimMapper(tenant_claim="tenant"),
                      **options)  # fmt: skip


def document(response: Mapping[str, Any]) -> PolicyDocument:
    statements = response["policyDocument"]["Statement"]
    return PolicyDocument([Statement(s["Effect"], s["Resource"]) for s in statements])


def arn_of(event: Mapping[str, Any]) -> str:
    return str(event.get("routeArn") or event["methodArn"])


def requests_of(route_key: str) -> Iterator[tuple[str, str, dict[str, str]]]:
    """``(verb, decoded path, path parameters)`` of requests API Gateway runs on the route."""
    verb, _, template = route_key.partition(" ")
    segments = template.strip("/").split("/") if template != "/" else []
    names = [s[1:-1] for s in segments if s.startswith("{")]
    pools = [TAILS if name.endswith("+") else VALUES for name in names]
    for values in itertools.product(*pools):
        if any(v == "" for v, n in zip(values, names, strict=True) if n.endswith("+")):
            continue
        params = {n.removesuffix("+"): v for n, v in zip(names, values, strict=True)}
        filled = [params[s[1:-1].removesuffix("+")] if s.startswith("{") else s for s in segments]
        for method in ("GET", "POST", "DELETE") if verb == "ANY" else (verb,):
            yield method, "/" + "/".join(filled), params


def event(kind: str, method: str, path: str, route_key: str, params: dict[str, str],
          token: str) -> dict[str, Any]:  # fmt: skip
    if kind == "v2":
        return http_authorizer_v2(method, path, route_key=route_key, path_params=params,
                                  token=token)  # fmt: skip
    return http_authorizer_v1(method, path, resource=route_key.partition(" ")[2],
                              path_params=params, token=token)  # fmt: skip


@pytest.mark.parametrize("kind", ["v2", "v1"])
def test_a_cached_answer_allows_only_what_the_table_allows_afresh_on_its_route_key(
    kind: str,
) -> None:
    """Every route key, both principals, a plain first request and one with a ``/`` in a
    parameter: the cached answer allows a request of that route key only when the
    authorizer allows it afresh."""
    cached, fresh = per_route(), per_route(response_cache_size=0)
    cases: list[tuple[PolicyDocument, str]] = []
    labels: list[tuple[str, str, str, str]] = []
    firsts: list[str] = []
    for route_key in TABLE.route_keys():
        requests = list(requests_of(route_key))
        for name, token in TOKENS.items():
            afresh = {}
            for method, path, params in requests:
                answer = fresh.handler(event(kind, method, path, route_key, params, token), None)
                arn = arn_of(event(kind, method, path, route_key, params, token))
                afresh[arn] = answer
            plain = next(r for r in requests if "/" not in "".join(r[2].values()))
            slashed = next((r for r in requests if "a/b" in r[2].values()), plain)
            for method, path, params in {plain[1]: plain, slashed[1]: slashed}.values():
                first = event(kind, method, path, route_key, params, token)
                policy = document(cached.handler(first, None))
                firsts.append(arn_of(first))
                for arn, answer in afresh.items():
                    cases += [(policy, arn), (document(answer), arn)]
                    labels.append((route_key, name, path, arn))
    verdicts = simulate(cases)
    from_cache, afresh_verdicts = verdicts[::2], verdicts[1::2]
    over = [label for label, c, f in zip(labels, from_cache, afresh_verdicts, strict=True)
            if c and not f]  # fmt: skip
    assert over == []
    reached = {label[3] for label, c in zip(labels, from_cache, strict=True) if c}
    # The answers reach other requests of their routes, not only their own ARNs.
    assert len(reached - set(firsts)) > 20


@pytest.mark.parametrize(
    ("route_key", "bound"),
    [
        ("GET /users/{id}", RouteBound(exact=False, route_template="/users/{id}")),
        ("GET /", RouteBound(exact=False, route_template="/")),
        ("POST /a/{x}/b/{y}", RouteBound(exact=False, route_template="/a/{x}/b/{y}")),
        ("ANY /files/{proxy+}", RouteBound(exact=False, route_template="/files/{proxy+}")),
        ("GET /t/{tid}/{proxy+}", RouteBound(exact=True)),
        ("$default", RouteBound(exact=True)),
    ],
)
def test_the_bound_follows_the_route(route_key: str, bound: RouteBound) -> None:
    raw = http_authorizer_v2("GET", "/users/7", route_key=route_key, token="t")
    request = Request(EventKind.HTTP_AUTHORIZER_V2, raw)
    assert route_bound(request, cached=True, route_covered=True) == bound
    assert route_bound(request, cached=True, route_covered=False) == RouteBound(exact=True)
    assert route_bound(request, cached=False, route_covered=True) == RouteBound(exact=False)


def test_a_mixed_route_answers_for_its_own_arn() -> None:
    """``GET /t/{tid}/{proxy+}``: a ``/`` in the tenant shifts it into the proxy part
    (``acme%2Fx/y`` reads as tenant ``acme``), so no bound tells them apart."""
    first = http_authorizer_v2("GET", "/t/acme/q", route_key="GET /t/{tid}/{proxy+}",
                               path_params={"tid": "acme", "proxy": "q"}, token=TOKENS["eve"])  # fmt: skip
    statements = per_route().handler(first, None)["policyDocument"]["Statement"]
    assert [(s["Effect"], s["Resource"]) for s in statements] == [("Allow", [arn_of(first)])]


def test_rest_answers_are_not_bounded() -> None:
    answer = per_route().handler(token_authorizer("GET", "/users/7", token=TOKENS["eve"]), None)
    assert not any(r.endswith("/*/*/*/*") for s in answer["policyDocument"]["Statement"]
                   for r in s["Resource"])  # fmt: skip


def test_an_http_api_keyed_without_its_route_is_still_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"\$context.routeKey"):
        Authorizer(VERIFIER, routes=TABLE, cache_ttl=300, api="http")


# == afresh: the route API Gateway ran (review 75) ==============================================

SHIFTING = Routes({
    "GET /users/me": authenticated(),
    "GET /users/{id}": roles("admin"),
    "GET /public/{proxy+}": public(),
    "ANY /{proxy+}": authenticated(),
})  # fmt: skip


@pytest.mark.parametrize("kind", ["v2", "v1"])
def test_the_authorizer_decides_on_the_route_api_gateway_ran(kind: str) -> None:
    """``GET /users/m%65`` runs the admin-only ``GET /users/{id}`` with ``id="me"`` under
    the ARN path ``/users/me``: refused, as a spelling of another route (403)."""
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(VERIFIER, routes=SHIFTING, decision_log=None,
                            on_decision=records.append)  # fmt: skip
    shifted = event(kind, "GET", "/users/me", "GET /users/{id}", {"id": "me"}, TOKENS["eve"])
    assert authorizer.handler(shifted, None)["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert records[-1]["detail"] == {"rule": ELSEWHERE.detail}
    plain = event(kind, "GET", "/users/me", "GET /users/me", {}, TOKENS["eve"])
    assert authorizer.handler(plain, None)["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    # behind a {proxy+} route an application routes again, on the path the table reads
    whole = event(kind, "GET", "/users/me", "ANY /{proxy+}", {"proxy": "users/me"}, TOKENS["eve"])
    assert authorizer.handler(whole, None)["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_the_guard_decides_on_the_route_api_gateway_ran() -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ran"}

    guarded = Guard(VERIFIER, routes=SHIFTING, decision_log=None)(handler)
    eve = TOKENS["eve"]
    shifted = http_proxy("GET", "/users/me", route_key="GET /users/{id}", path_params={"id": "me"},
                         token=eve)  # fmt: skip
    assert guarded(shifted, None)["statusCode"] == 403
    for route_key, params in (("GET /users/me", {}), ("ANY /{proxy+}", {"proxy": "users/me"})):
        sent = http_proxy("GET", "/users/me", route_key=route_key, path_params=params, token=eve)
        assert guarded(sent, None)["statusCode"] == 200
    public_page = http_proxy("GET", "/public/a", route_key="ANY /{proxy+}",
                             path_params={"proxy": "public/a"})  # fmt: skip
    assert guarded(public_page, None)["statusCode"] == 200  # a Lambdalith's public route
