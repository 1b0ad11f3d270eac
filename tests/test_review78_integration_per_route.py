"""Review 78: 3186630 (``Routes(integration_per_route=True)``: an HTTP API request is
decided only as the route API Gateway ran, ``secauth.targets._ran_as_listed``) attacked
through the Authorizer (payloads 2.0 and 1.0, memo, per-route result cache), the Guard
(payloads 2.0 and 1.0, named stages, custom domains) and Powertools middleware.

Model of API Gateway (HTTP APIs), as the project writes it (review 77): routes are
selected on the path as sent (case-sensitive literals, ``%2F`` stays in its segment, most
specific wins: literal, parameter, ``{proxy+}``, an exact verb before ``ANY``; ``$default``
when nothing matches); ``rawPath``/``path``, the route ARN and the path parameters arrive
decoded once. Payload 1.0's ``$default`` route is sent with ``resource`` ``$default`` and
the ARN ``.../$default/$default`` (as tests/test_review68_followups.py writes it).

Finding (high, fixed): payload 1.0 ``$default`` requests were not held to the ``$default``
rule (the route check needed ``routeKey``, which payload 1.0 does not carry); the
``resource`` names the route now, and an HTTP API event naming no route is refused under
the option. Real objects, no mocks.
"""

from __future__ import annotations

import copy
import itertools
import pickle
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import pytest
from api_gateway_model import model_requests
from guard_events import admitted

from secauth import Authorizer, ClaimMapper, Guard, Principal, Routes
from secauth.access import authenticated, public, roles, tenant
from secauth.routing import GREEDY, LITERAL, parse_route_key
from secauth.testing import KeyPair
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    http_proxy,
    on_custom_domain,
    rest_proxy,
)
from secauth.testing_policy import iam_allows
from secauth.verifier import JwtVerifier

ISS, AUD = "https://idp.review78.example/", "api"
PAIR = KeyPair.generate("ES256", kid="review78")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
MAPPER = ClaimMapper(tenant_claim="tenant")
EVE = PAIR.sign({"iss": ISS, "aud": AUD, "sub": "eve", "exp": 4e9, "tenant": "acme"})
ADA = PAIR.sign({"iss": ISS, "aud": AUD, "sub": "ada", "roles": ["admin"], "exp": 4e9,
                 "tenant": "ops"})  # fmt: skip
EVE_PRINCIPAL = Principal("eve", tenant="acme")
A = authenticated()
DEFAULT_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/$default"
PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/"

# The API: GET /files/{id}/public (any caller) and $default, whose integration is the
# admin backend (the table's default rule). GET /files/x%2Fpublic has two raw segments:
# no route matches, so $default runs; its decoded path reads as GET /files/{id}/public.
DEFAULT_ADMIN = Routes({"GET /files/{id}/public": A}, default=roles("admin"),
                       integration_per_route=True)  # fmt: skip


def effect(answer: Mapping[str, Any]) -> str:
    return str(answer["policyDocument"]["Statement"][0]["Effect"])


def authorizer(routes: Routes, **options: Any) -> Authorizer:
    options.setdefault("response_cache_size", 0)
    return Authorizer(VERIFIER, routes=routes, claims=MAPPER, decision_log=None, **options)


def guard(routes: Routes) -> Guard:
    return Guard(VERIFIER, routes=routes, claims=MAPPER, decision_log=None)



def v1_default_authorizer_event(path: str, token: str = EVE, method: str = "GET") -> dict[str, Any]:
    event = http_authorizer_v1(method, path, resource="$default", token=token)
    event["methodArn"] = DEFAULT_ARN
    return event


def v2_default_authorizer_event(path: str, token: str = EVE, method: str = "GET") -> dict[str, Any]:
    event = http_authorizer_v2(method, path, route_key="$default", token=token)
    event["routeArn"] = DEFAULT_ARN
    return event


def v1_proxy(method: str, path: str, resource: str, params: dict[str, str] | None = None,
             token: str = EVE, stage: str = "$default") -> dict[str, Any]:  # fmt: skip
    """An HTTP API integration event, payload 1.0."""
    event = rest_proxy(method, path, resource=resource, path_params=params, stage=stage,
                       token=token)  # fmt: skip
    event["version"] = "1.0"
    return event


# =========================================================================================
# The finding (high, fixed): payload 1.0 on the $default route was decided as whatever
# the path reads as
# =========================================================================================


def test_control_payload_2_default_route_is_held_to_the_default_rule() -> None:
    """Held (control): the same request in payload 2.0 is refused by the Authorizer and
    the Guard; Ada, whom the default rule allows, passes."""
    assert effect(authorizer(DEFAULT_ADMIN).handler(v2_default_authorizer_event("/files/x/public"))) == "Deny"
    assert "another route" in admitted(guard(DEFAULT_ADMIN), http_proxy(
        "GET", "/files/x/public", route_key="$default", token=EVE))  # fmt: skip
    assert effect(authorizer(DEFAULT_ADMIN).handler(v2_default_authorizer_event("/nowhere", ADA))) == "Allow"


def test_authorizer_payload_1_default_route_is_held_to_the_default_rule() -> None:
    """GET /files/x%2Fpublic: no API route has two raw segments, so $default (admin
    backend) runs; the decoded path reads as GET /files/{id}/public, which allows Eve."""
    answer = authorizer(DEFAULT_ADMIN).handler(v1_default_authorizer_event("/files/x/public"))
    assert effect(answer) == "Deny"


def test_guard_payload_1_default_route_is_held_to_the_default_rule() -> None:
    event = v1_proxy("GET", "/files/x/public", resource="$default")
    assert admitted(guard(DEFAULT_ADMIN), event) != "allow"


def test_powertools_payload_1_default_route_is_held_to_the_default_rule() -> None:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from secauth.integrations.powertools import guard_middleware

    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(guard(DEFAULT_ADMIN))])

    @app.get("/files/<a>/<b>")
    def admin_backend(a: str, b: str) -> dict[str, str]:
        return {"ran": "admin backend"}

    answer = app.resolve(v1_proxy("GET", "/files/x/public", resource="$default"), None)
    assert answer["statusCode"] == 403


def test_payload_1_default_route_without_a_default_rule_is_refused() -> None:
    """The API has $default (another team's integration, say); the table gives it no
    rule: every $default request must be refused, not decided as a table route."""
    routes = Routes({"GET /files/{id}/public": A}, integration_per_route=True)
    assert effect(authorizer(routes).handler(v1_default_authorizer_event("/files/x/public"))) == "Deny"


def test_payload_1_default_route_with_the_result_cache_is_refused() -> None:
    """Held: with cache_ttl > 0 the $default route is refused on its own
    (DEFAULT_ROUTE_CACHED), so the finding above needs cache_ttl=0."""
    cached = authorizer(DEFAULT_ADMIN, cache_ttl=300, cache_key_covers_route=True)
    assert effect(cached.handler(v1_default_authorizer_event("/files/x/public"))) == "Deny"


# =========================================================================================
# Held: an independent model of API Gateway against every entry point
# =========================================================================================




def ran_route_allows(spec: Mapping[str, Any], default: Any, key: str, method: str,
                     params: dict[str, str]) -> bool:  # fmt: skip
    """Whether the rule of the route that ran (``$default``: the default rule) allows Eve."""
    if key == "$default":
        return default is not None and Routes({"GET /~none": roles("x")}, default=default).decide(
            EVE_PRINCIPAL, method, "/~elsewhere").allowed  # fmt: skip
    route = parse_route_key(key)
    assert route.template is not None
    if any(kind != GREEDY and "/" in params[text] for kind, text in route.template.segments
           if kind != LITERAL):  # fmt: skip
        return False  # a "/" in a single-segment parameter: refused on its own
    path = "/" + "/".join(params.get(text, text) for _, text in route.template.segments)
    return Routes({key: spec[key]}).decide(EVE_PRINCIPAL, method, path).allowed


def entry_points(method: str, path: str, key: str, params: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Every event the request arrives as (payload 1.0 $default: the finding's tests)."""
    if key == "$default":
        return {"authorizer v2": v2_default_authorizer_event(path, method=method),
                "guard v2": http_proxy(method, path, route_key="$default", token=EVE)}  # fmt: skip
    template = key.partition(" ")[2]
    return {
        "authorizer v2": http_authorizer_v2(method, path, route_key=key, path_params=params, token=EVE),
        "authorizer v1": http_authorizer_v1(method, path, resource=template, path_params=params,
                                            token=EVE),
        "guard v2": http_proxy(method, path, route_key=key, path_params=params, token=EVE),
        "guard v1": v1_proxy(method, path, template, params),
        "guard v2 stage": http_proxy(method, path, route_key=key, path_params=params, stage="prod",
                                     token=EVE),
        "guard v2 domain": on_custom_domain(http_proxy(
            method, path, route_key=key, path_params=params, token=EVE), "api.example.com",
            base_path="v1"),
        "guard v1 domain": on_custom_domain(v1_proxy(method, path, template, params),
                                            "api.example.com", base_path="v1"),
    }  # fmt: skip


MODEL_TABLES: dict[str, tuple[dict[str, Any], Any]] = {
    "files": ({"ANY /files/{proxy+}": roles("admin"), "GET /files/{id}/public": A,
               "GET /users/{id}": roles("admin"), "GET /users/me": A, "GET /health": public()},
              None),
    "files, default any caller": ({"GET /users/{id}": roles("admin"), "ANY /files/{proxy+}": roles("admin"),
                                   "GET /files/{id}/public": A}, A),
    "tenant proxy": ({"GET /t/{tid}/{proxy+}": tenant(path="tid"), "GET /t/{tid}/admin": roles("admin"),
                      "GET /t/acme/x": public(), "ANY /t/{tid}": tenant(path="tid")}, roles("admin")),
    "root proxy": ({"ANY /{proxy+}": roles("admin"), "GET /a/{x}": A, "GET /a/b/{y}": A}, None),
    "verb beside ANY": ({"GET /a/{id}": A, "ANY /a/{id}": roles("admin"),
                         "POST /a/{id}/{proxy+}": roles("admin"), "ANY /a/{id}/x": A}, None),
}  # fmt: skip
MODEL_VALUES = ["7", "me", "m%65", "a%2Fb", "x%2Fpublic", "public", "acme", "%61cme", "ME", "admin"]


@pytest.mark.parametrize("name", list(MODEL_TABLES))
def test_no_entry_point_runs_an_integration_its_route_rule_denies(name: str) -> None:
    """Held (but for payload 1.0 $default, above): for every request up to the table's
    depth (encoded values, an encoded ``/``, case variants), through the Authorizer
    (payloads 2.0, 1.0), the Guard (payloads 2.0, 1.0; named stage ``prod``; custom
    domain mapping ``v1``): allowed only when the rule of the route API Gateway ran
    allows it; and every plainly spelled request that rule allows is allowed."""
    spec, default = MODEL_TABLES[name]
    routes = Routes(spec, default=default, integration_per_route=True)
    the_authorizer, the_guard, keys = authorizer(routes), guard(routes), list(spec)
    literals = sorted({text for key in keys for kind, text in parse_route_key(key).template.segments
                       if kind == LITERAL})  # type: ignore[union-attr]  # fmt: skip
    alphabet = list(dict.fromkeys(literals + MODEL_VALUES))
    over, refused, checked = [], [], 0
    for method, sent, key, params in model_requests(keys, alphabet,
                                                    has_default=default is not None):
        expected = ran_route_allows(spec, default, key, method, params)
        for entry, event in entry_points(method, unquote(sent), key, params).items():
            checked += 1
            if entry.startswith("authorizer"):
                allowed = effect(the_authorizer.handler(event, None)) == "Allow"
            else:
                allowed = admitted(the_guard, event) == "allow"
            if allowed and not expected:
                over.append((entry, method, sent, key))
            if expected and not allowed and "%" not in sent:
                refused.append((entry, method, sent, key))
    assert over == []
    assert refused == []
    assert checked > 1000


# =========================================================================================
# Held: the per-route result cache and the memo
# =========================================================================================

CACHED_SPEC: dict[str, Any] = {
    "ANY /files/{proxy+}": roles("admin"),
    "GET /files/{proxy+}": tenant(path="proxy"),
    "GET /files/{id}/public": A,
    "POST /files/{id}/public": A,
    "GET /users/{id}": roles("admin"),
    "GET /users/me": A,
    "GET /t/{tid}": tenant(path="tid"),
}
CACHED = Routes(CACHED_SPEC, integration_per_route=True)
FIRST = ["acme", "me", "x/public"]
SECOND = ["acme", "me", "x/public", "y/public", "acme/public", "globex", "public", "a/b", "ME"]


def _routed_event(key: str, payload: int, method: str, value: str) -> dict[str, Any]:
    template = key.partition(" ")[2]
    name = template[template.index("{") + 1 : template.index("}")]
    path = template.replace("{" + name + "}", value)
    params = {name.removesuffix("+"): value}
    if payload == 2:
        return http_authorizer_v2(method, path, route_key=key, path_params=params, token=EVE)
    return http_authorizer_v1(method, path, resource=template, path_params=params, token=EVE)


def test_an_answer_cached_per_route_allows_nothing_a_fresh_decision_refuses() -> None:
    """Held: for each route key with a parameter (``{proxy+}`` values with ``/`` in them,
    ``x%2Fpublic`` under ``ANY /files/{proxy+}``), both payloads, each verb: Eve's answer
    cached for a first request allows a later request of the same route key (IAM) only
    when a fresh decision allows it."""
    cached = authorizer(CACHED, cache_ttl=300, cache_key_covers_route=True)
    fresh = authorizer(CACHED)
    over, allowed = [], 0
    for key in [k for k in CACHED_SPEC if "{" in k]:
        verb, _, template = key.partition(" ")
        # API Gateway sends a verb to an ANY route only when no route of that verb has
        # the same template.
        own = {k.partition(" ")[0] for k in CACHED_SPEC if k.partition(" ")[2] == template}
        methods = [m for m in ("GET", "POST", "DELETE") if m not in own] if verb == "ANY" else [verb]
        for payload, first_method, first in itertools.product((2, 1), methods, FIRST):
            if "/" in first and "+" not in key:
                continue
            answer = cached.handler(_routed_event(key, payload, first_method, first), None)
            for method, second in itertools.product(methods, SECOND):
                if "/" in second and "+" not in key:
                    continue
                later = _routed_event(key, payload, method, second)
                arn = later.get("routeArn") or later["methodArn"]
                if iam_allows(answer, arn):
                    allowed += 1
                    if effect(fresh.handler(later, None)) != "Allow":
                        over.append((key, payload, first_method, first, method, second))
    assert over == []
    assert allowed > 10


def test_eve_s_cached_answer_on_the_proxy_route_never_reaches_another_shifted_path() -> None:
    """Held: Eve's (denied) answer for ``GET /files/x%2Fpublic`` on ``ANY /files/{proxy+}``,
    reused by API Gateway for ``GET /files/y%2Fpublic`` on that route, allows neither."""
    routes = Routes({"ANY /files/{proxy+}": roles("admin"), "GET /files/{id}/public": A},
                    integration_per_route=True)  # fmt: skip
    cached = authorizer(routes, cache_ttl=300, cache_key_covers_route=True)
    answer = cached.handler(http_authorizer_v2("POST", "/files/a", route_key="ANY /files/{proxy+}",
                                               path_params={"proxy": "a"}, token=EVE))  # fmt: skip
    assert effect(answer) == "Deny"
    for later in ("GET/files/x/public", "GET/files/y/public", "POST/files/a/public"):
        assert iam_allows(answer, PREFIX + later) is False


def test_the_memo_does_not_carry_an_allow_to_the_shifted_request() -> None:
    """Held: with the memo on, Eve's allowed ``GET /files/x/public`` (its own route) is
    not replayed for ``GET /files/x%2Fpublic`` (same path and ARN, ``{proxy+}`` ran)."""
    routes = Routes({"ANY /files/{proxy+}": roles("admin"), "GET /files/{id}/public": A},
                    integration_per_route=True)  # fmt: skip
    memo = Authorizer(VERIFIER, routes=routes, claims=MAPPER, decision_log=None,
                      response_cache_size=64)  # fmt: skip
    plain = http_authorizer_v2("GET", "/files/x/public", route_key="GET /files/{id}/public",
                               path_params={"id": "x"}, token=EVE)  # fmt: skip
    shifted = http_authorizer_v2("GET", "/files/x/public", route_key="ANY /files/{proxy+}",
                                 path_params={"proxy": "x/public"}, token=EVE)  # fmt: skip
    assert [effect(memo.handler(e, None)) for e in (plain, shifted, plain, shifted)] == [
        "Allow", "Deny", "Allow", "Deny"]  # fmt: skip


# =========================================================================================
# Held: single cases
# =========================================================================================


def test_an_encoded_slash_in_a_single_parameter_is_refused_under_a_permissive_default() -> None:
    """Held: ``GET /users/a%2Fb`` runs the admin-only ``GET /users/{id}`` (id ``a/b``);
    the decoded path reads as nothing, so the permissive default rule would allow it:
    refused all the same (a ``/`` in a single-segment parameter)."""
    routes = Routes({"GET /users/{id}": roles("admin")}, default=public(), integration_per_route=True)
    event = http_authorizer_v2("GET", "/users/a/b", route_key="GET /users/{id}",
                               path_params={"id": "a/b"}, token=EVE)  # fmt: skip
    assert effect(authorizer(routes).handler(event)) == "Deny"
    integration = http_proxy("GET", "/users/a/b", route_key="GET /users/{id}",
                             path_params={"id": "a/b"}, token=EVE)  # fmt: skip
    assert admitted(guard(routes), integration) != "allow"


def test_a_route_key_the_table_lacks_is_refused_in_both_payloads() -> None:
    """Held: an API route the table does not list (``GET /files/{id}`` beside the table's
    ``ANY /files/{proxy+}``) is refused, payload 2.0 and 1.0, even for the admin."""
    routes = Routes({"ANY /files/{proxy+}": A}, integration_per_route=True)
    v2 = http_authorizer_v2("GET", "/files/7", route_key="GET /files/{id}", path_params={"id": "7"},
                            token=ADA)  # fmt: skip
    v1 = http_authorizer_v1("GET", "/files/7", resource="/files/{id}", path_params={"id": "7"},
                            token=ADA)  # fmt: skip
    assert [effect(authorizer(routes).handler(e)) for e in (v2, v1)] == ["Deny", "Deny"]


def test_proxy_parameter_names_need_not_match() -> None:
    """Held: the API's ``ANY /files/{path+}`` is the table's ``ANY /files/{proxy+}``: the
    admin passes, a shifted path is refused."""
    routes = Routes({"ANY /files/{proxy+}": roles("admin"), "GET /files/{id}/public": A},
                    integration_per_route=True)  # fmt: skip
    plain = http_authorizer_v2("GET", "/files/a/b", route_key="ANY /files/{path+}",
                               path_params={"path": "a/b"}, token=ADA)  # fmt: skip
    shifted = http_authorizer_v2("GET", "/files/x/public", route_key="ANY /files/{path+}",
                                 path_params={"path": "x/public"}, token=EVE)  # fmt: skip
    assert [effect(authorizer(routes).handler(e)) for e in (plain, shifted)] == ["Allow", "Deny"]


def test_payload_1_head_request_runs_the_any_route() -> None:
    """Held: payload 1.0 names the template alone; a HEAD (no HEAD route) is the ANY
    route's, decided by its rule, not the GET route's."""
    routes = Routes({"GET /a/{id}": A, "ANY /a/{id}": roles("admin")}, integration_per_route=True)
    event = http_authorizer_v1("HEAD", "/a/1", resource="/a/{id}", path_params={"id": "1"}, token=EVE)
    assert effect(authorizer(routes).handler(event)) == "Deny"
    event = http_authorizer_v1("HEAD", "/a/1", resource="/a/{id}", path_params={"id": "1"}, token=ADA)
    assert effect(authorizer(routes).handler(event)) == "Allow"


def test_a_shifted_request_on_a_named_stage_behind_a_custom_domain_is_refused() -> None:
    """Held: stage ``prod`` mapped at ``v1`` on a custom domain (``rawPath`` keeps the
    mapping, not the stage), the table written without the prefix, payloads 2.0 and 1.0."""
    routes = Routes({"ANY /files/{proxy+}": roles("admin"), "GET /files/{id}/public": A},
                    integration_per_route=True)  # fmt: skip
    v2 = http_proxy("GET", "/files/x/public", route_key="ANY /files/{proxy+}",
                    path_params={"proxy": "x/public"}, token=EVE)  # fmt: skip
    v2["requestContext"]["stage"] = "prod"
    v1 = v1_proxy("GET", "/files/x/public", "/files/{proxy+}", {"proxy": "x/public"})
    v1["requestContext"]["stage"] = "prod"
    for event in (v2, v1):
        on_custom_domain(event, "api.example.com", base_path="v1")
        assert "another route" in admitted(guard(routes), event)


def test_the_refusal_names_no_route_to_the_caller() -> None:
    """Held: the Guard's 403 body carries neither the route that ran nor the one read."""
    routes = Routes({"ANY /files/{proxy+}": roles("admin"), "GET /files/{id}/public": A},
                    integration_per_route=True)  # fmt: skip

    @guard(routes)
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ran"}

    answer = handler(http_proxy("GET", "/files/x/public", route_key="ANY /files/{proxy+}",
                                path_params={"proxy": "x/public"}, token=EVE), None)  # fmt: skip
    assert answer["statusCode"] == 403
    assert "files" not in answer["body"]
    assert "another route" not in answer["body"]
    assert EVE not in str(answer)


def test_the_option_survives_copies_and_guard_require() -> None:
    """Held: copy, deepcopy, pickle and ``Guard.require`` keep the option."""
    routes = Routes({"ANY /files/{proxy+}": roles("admin")}, integration_per_route=True)
    copies = [copy.copy(routes), copy.deepcopy(routes), pickle.loads(pickle.dumps(routes))]
    assert [c.integration_per_route for c in copies] == [True, True, True]
    required = guard(routes).require(A)
    assert required.routes is not None
    assert required.routes.integration_per_route is True


def test_the_option_is_keyword_only() -> None:
    """Held: ``Routes(table, None, True)`` cannot set it by position by mistake."""
    with pytest.raises(TypeError):
        Routes({"GET /a": A}, None, True)  # type: ignore[misc]
