"""Review 76: a63b3c4 and e5bc9bc (HTTP API answers cached per route, planned from the
grants of their route's shape; fresh decisions refuse an HTTP API request the table reads
as another route than the one without ``{proxy+}`` API Gateway ran:
``secauth.targets.ran_elsewhere``, first as ``RouteShapes``) attacked.

Model of API Gateway (HTTP APIs), as the project writes it: the route is selected on the
path as sent (case-sensitive literals, ``%2F`` stays in its segment, ``m%65`` is not the
literal ``me``); the route ARN, ``rawPath``/payload 1.0 ``path`` and path parameters are
decoded once; the cache key is (token, ``$context.routeKey``); payload 1.0 authorizer
events carry ``resource`` (the route template) and no ``routeKey``. Behind a custom
domain's API mapping the path keeps the mapping's prefix, the route key does not.

``GET /users/m%65`` below runs ``GET /users/{id}`` with ``id="me"``; every event is the
decoded one API Gateway sends. Findings are ``xfail(strict=True)`` tests asserting the
secure (or the documented) behaviour; attacks that held are plain tests. Real objects,
real events, the IAM simulator; no mocks.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Mapping
from typing import Any

import pytest
from guard_events import admitted
from test_iam_simulate_crosscheck import simulate

from secauth import Authorizer, Guard, Principal, Routes
from secauth.access import authenticated, public, roles, tenant
from secauth.events import Request
from secauth.policy import PolicyDocument, Statement
from secauth.targets import ran_elsewhere, route_template
from secauth.testing import KeyPair
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    http_proxy,
    on_custom_domain,
    request_authorizer,
    rest_proxy,
    websocket_connect,
)
from secauth.testing_policy import iam_allows
from secauth.verifier import JwtVerifier

ISS, AUD = "https://idp.review76.example/", "api"
PAIR = KeyPair.generate("ES256", kid="review76")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
EVE = PAIR.sign({"iss": ISS, "aud": AUD, "sub": "eve", "exp": 4e9, "tenant": "acme"})
PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/"
A = authenticated()

# The "me" pattern: the route API Gateway runs for GET /users/m%65 is admin only.
ME = Routes({"GET /users/me": A, "GET /users/{id}": roles("admin")})


def document(response: Mapping[str, Any]) -> PolicyDocument:
    statements = response["policyDocument"]["Statement"]
    return PolicyDocument([Statement(s["Effect"], s["Resource"]) for s in statements])


def effect(response: Mapping[str, Any]) -> str:
    return str(response["policyDocument"]["Statement"][0]["Effect"])


def fresh(routes: Routes) -> Authorizer:
    return Authorizer(VERIFIER, routes=routes, decision_log=None, response_cache_size=0)


def per_route(routes: Routes, **options: Any) -> Authorizer:
    return Authorizer(VERIFIER, routes=routes, cache_ttl=300, cache_key_covers_route=True,
                      decision_log=None, **options)  # fmt: skip


def authorizer_events(
    method: str, path: str, route_key: str, params: dict[str, str], **kw: Any
) -> list[dict[str, Any]]:
    """The payload 2.0 and payload 1.0 authorizer events of one request."""
    template = route_key.partition(" ")[2]
    return [
        http_authorizer_v2(method, path, route_key=route_key, path_params=params, token=EVE, **kw),
        http_authorizer_v1(method, path, resource=template, path_params=params, token=EVE, **kw),
    ]



# == Findings ======================================================================================


def _powertools_app(outer: Guard | None, route: Guard) -> Any:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from secauth.integrations.powertools import guard_middleware

    app = APIGatewayHttpResolver()
    if outer is not None:
        app.use(middlewares=[guard_middleware(outer)])

    @app.get("/users/<uid>", middlewares=[guard_middleware(route)])
    def user(uid: str) -> dict[str, str]:  # the handler of API Gateway's GET /users/{id}
        return {"id": uid}

    return app


@pytest.mark.parametrize("caller", ["eve", "anonymous"])
def test_a_stacked_route_guard_refuses_a_path_read_as_another_route(caller: str) -> None:
    """``guard_middleware(route_guard)`` under ``app.use(guard_middleware(outer))``: the
    route guard's table is decided in ``powertools_stack.route_checks`` (and
    ``_admit_anonymous``) by ``guard_routes.decide(...)`` without ``shapes``, so the
    review-75 refusal never runs there. The same route guard alone refuses (403, held
    below); docs/guard.md says a route guard's table decides "as it does for the guard
    alone". Fix: pass ``guard._shapes`` in both calls (or build the shapes in
    ``decide`` from ``routes``)."""
    if caller == "eve":
        outer, table, token = Guard(VERIFIER, decision_log=None), ME, {"token": EVE}
    else:
        outer = Guard(VERIFIER, routes=Routes({"ANY /{proxy+}": public()}), decision_log=None)
        table, token = Routes({"GET /users/me": public(), "GET /users/{id}": A}), {}
    app = _powertools_app(outer, Guard(VERIFIER, routes=table, decision_log=None))
    control = http_proxy("GET", "/users/7", route_key="GET /users/{id}",
                         path_params={"id": "7"}, **token)  # fmt: skip
    assert app.resolve(control, None)["statusCode"] in (401, 403)  # the route refuses her
    event = http_proxy("GET", "/users/me", route_key="GET /users/{id}",
                       path_params={"id": "me"}, **token)  # fmt: skip
    assert app.resolve(copy.deepcopy(event), None)["statusCode"] in (401, 403)


def test_a_table_written_with_the_mapping_prefix_refuses_a_path_read_as_another_route() -> None:
    """``paths_of`` reads the path with the prefix when only it has a route (a table
    written with the mapping's prefix), but ``ran_elsewhere`` compares the route key's
    shape ``(users, {})`` with the table's ``(v1, users, ...)``: "the table has no route
    of that shape", so nothing is refused. Fix: when the table is read with the mapping's
    prefix, prepend the prefix's literal segments to the ran shape (or compare on the
    routed path, ``routed_path``, which has no prefix)."""
    table = Routes({"GET /v1/users/me": A, "GET /v1/users/{id}": roles("admin")})
    guard = Guard(VERIFIER, routes=table, decision_log=None)

    def sent(path: str, value: str) -> dict[str, Any]:
        event = http_proxy("GET", path, route_key="GET /users/{id}", path_params={"id": value},
                           token=EVE)  # fmt: skip
        return on_custom_domain(event, "api.example.com", base_path="v1")

    assert admitted(guard, sent("/users/7", "7")).startswith("forbidden")  # the control
    assert admitted(guard, sent("/users/me", "me")) != "allow"


@pytest.mark.parametrize("cover", ["default", "catch_all"])
def test_a_same_shape_route_of_another_verb_does_not_refuse_the_default_rule(cover: str) -> None:
    """``RouteShapes.shapes`` holds every table route's shape whatever its verb, so an API
    route ``GET /users/{id}`` "is in the table" because of ``DELETE /users/{id}``; the
    table decides ``GET /users/7`` by its default rule (``decided_by`` None) or its GET
    catch-all, both read as "another route", and every plain read of a user answers 403
    (Authorizer payloads 1.0 and 2.0, cached or not, and the Guard). Without the DELETE
    route the same request is allowed. The docs say the refusal is for "a route ... that
    the table has". Keying the shapes by verb alone would reopen ``GET /users/m%65`` for
    such tables; a fix that is exact both ways: compare the table's route for the ARN
    with its route for the ran template filled with fresh segments
    (``RouteTable.fresh_segment``); they differ only when the path reads elsewhere."""
    if cover == "default":
        table = Routes({"DELETE /users/{id}": roles("admin")}, default=A)
    else:
        table = Routes({"DELETE /users/{id}": roles("admin"), "GET /{proxy+}": A})
    events = authorizer_events("GET", "/users/7", "GET /users/{id}", {"id": "7"})
    answers = [effect(fresh(table).handler(event, None)) for event in events]
    answers += [effect(per_route(table).handler(event, None)) for event in events]
    guard = Guard(VERIFIER, routes=table, decision_log=None)
    plain = http_proxy("GET", "/users/7", route_key="GET /users/{id}", path_params={"id": "7"},
                       token=EVE)  # fmt: skip
    assert (answers, admitted(guard, plain)) == (["Allow"] * 4, "allow")


# == Held ==========================================================================================


def test_the_me_pattern_is_refused_everywhere_but_its_own_route() -> None:
    """Held: GET /users/m%65 on GET /users/{id} is refused by the Authorizer (both
    payloads, cached or not), by the Guard, and by a Powertools route guard alone; a plain
    GET /users/me (its own route) is allowed everywhere."""
    shifted = authorizer_events("GET", "/users/me", "GET /users/{id}", {"id": "me"})
    own = authorizer_events("GET", "/users/me", "GET /users/me", {})
    for authorizer in (fresh(ME), per_route(ME, response_cache_size=0)):
        assert [effect(authorizer.handler(e, None)) for e in shifted] == ["Deny", "Deny"]
        assert [effect(authorizer.handler(e, None)) for e in own] == ["Allow", "Allow"]
    guard = Guard(VERIFIER, routes=ME, decision_log=None)
    event = http_proxy("GET", "/users/me", route_key="GET /users/{id}", path_params={"id": "me"},
                       token=EVE)  # fmt: skip
    assert admitted(guard, event).startswith("forbidden")
    assert "another route" in admitted(guard, event)
    alone = _powertools_app(None, Guard(VERIFIER, routes=ME, decision_log=None))
    assert alone.resolve(copy.deepcopy(event), None)["statusCode"] == 403
    stacked_same = _powertools_app(Guard(VERIFIER, routes=ME, decision_log=None),
                                   Guard(VERIFIER, routes=ME, decision_log=None))  # fmt: skip
    assert stacked_same.resolve(copy.deepcopy(event), None)["statusCode"] == 403
    on_own = http_proxy("GET", "/users/me", route_key="GET /users/me", token=EVE)
    assert admitted(guard, on_own) == "allow"


# (name, table, method, decoded path, route key API Gateway ran, its parameters, stage)
MIRRORED = [
    ("parameter names differ", Routes({"GET /users/{id}": A, "GET /users/me": A}),
     "GET", "/users/7", "GET /users/{userId}", {"userId": "7"}, "$default"),
    ("ANY route, GET", Routes({"ANY /users/{id}": A, "GET /users/me": A}),
     "GET", "/users/7", "ANY /users/{id}", {"id": "7"}, "$default"),
    ("ANY route, HEAD", Routes({"ANY /users/{id}": A, "GET /users/me": A}),
     "HEAD", "/users/me", "ANY /users/{id}", {"id": "me"}, "$default"),
    ("ANY route, OPTIONS", Routes({"ANY /users/{id}": A}),
     "OPTIONS", "/users/7", "ANY /users/{id}", {"id": "7"}, "$default"),
    ("root", Routes({"GET /": A, "GET /{x}": roles("admin")}),
     "GET", "/", "GET /", {}, "$default"),
    ("named stage", Routes({"GET /users/{id}": A, "GET /users/me": A}),
     "GET", "/users/7", "GET /users/{id}", {"id": "7"}, "prod"),
    ("literal route", Routes({"GET /users/{id}": roles("admin"), "GET /users/me": A}),
     "GET", "/users/me", "GET /users/me", {}, "$default"),
    ("literal after a parameter", Routes({"GET /u/{id}/p": A, "GET /u/me/p": roles("admin")}),
     "GET", "/u/7/p", "GET /u/{uid}/p", {"uid": "7"}, "$default"),
    ("default rule elsewhere", Routes({"GET /users/{id}": roles("admin")}, default=A),
     "GET", "/orders/7", "GET /orders/{id}", {"id": "7"}, "$default"),
    ("proxy route", Routes({"GET /users/me": roles("admin"), "ANY /{proxy+}": A}),
     "GET", "/users/7", "ANY /{proxy+}", {"proxy": "users/7"}, "$default"),
]  # fmt: skip


@pytest.mark.parametrize("case", MIRRORED, ids=[case[0] for case in MIRRORED])
def test_tables_that_mirror_the_api_routes_are_not_refused(case: tuple[Any, ...]) -> None:
    """Held: parameter names, ANY (HEAD, OPTIONS too), the root, a named stage, literal
    routes, a default rule for other shapes, a ``{proxy+}`` route:
    allowed by the Authorizer (both payloads, cached or not) and the Guard."""
    _, table, method, path, route_key, params, stage = case
    events = authorizer_events(method, path, route_key, params, stage=stage)
    answers = [effect(fresh(table).handler(e, None)) for e in events]
    answers += [effect(per_route(table, response_cache_size=0).handler(e, None)) for e in events]
    assert answers == ["Allow"] * 4
    guard = Guard(VERIFIER, routes=table, decision_log=None)
    event = http_proxy(method, path, route_key=route_key, path_params=params, stage=stage,
                       token=EVE)  # fmt: skip
    assert admitted(guard, event) == "allow"


def test_behind_a_custom_domain_a_table_without_the_prefix_is_checked() -> None:
    """Held: on a custom domain (mapping ``v1``), a table written without the prefix reads
    the routed path, and GET /v1/users/m%65 is refused; GET /v1/users/7 for an admin-free
    route is allowed."""
    table = Routes({"GET /users/me": A, "GET /users/{id}": roles("admin"), "GET /o/{id}": A})
    guard = Guard(VERIFIER, routes=table, decision_log=None)

    def sent(path: str, route_key: str, params: dict[str, str]) -> dict[str, Any]:
        event = http_proxy("GET", path, route_key=route_key, path_params=params, token=EVE)
        return on_custom_domain(event, "api.example.com", base_path="v1")

    assert "another route" in admitted(guard, sent("/users/me", "GET /users/{id}", {"id": "me"}))
    assert admitted(guard, sent("/o/7", "GET /o/{id}", {"id": "7"})) == "allow"


def test_payload_1_handler_events_are_checked_by_their_resource() -> None:
    """Held: an HTTP API payload 1.0 function event (``version: "1.0"``, ``resource``) is
    read as decoded and checked as payload 2.0 is."""
    event = rest_proxy("GET", "/users/me", resource="/users/{id}", path_params={"id": "me"},
                       stage="$default", token=EVE)  # fmt: skip
    event["version"] = "1.0"
    assert Request.from_event(event).path_decoded
    assert "another route" in admitted(Guard(VERIFIER, routes=ME, decision_log=None), event)


def test_rest_and_websocket_events_are_left_alone() -> None:
    """Held: REST events pass the path as sent (``path_decoded`` False): their resource is
    a route template, but ``ran_elsewhere`` never refuses them; a WebSocket ``$connect``
    names no route template."""
    rest = Request.from_event(request_authorizer("GET", "/users/me", resource="/users/{id}",
                                                 path_params={"id": "me"}, token=EVE))  # fmt: skip
    assert route_template(rest) is not None
    assert not rest.path_decoded
    assert ran_elsewhere(ME, rest, "GET", "/users/me", read_as(ME, rest, "/users/me")) is False
    rest_event = rest_proxy("GET", "/users/me", resource="/users/{id}", path_params={"id": "me"},
                            token=EVE)  # fmt: skip
    assert admitted(Guard(VERIFIER, routes=ME, decision_log=None), rest_event) == "allow"
    ws = Request.from_event(websocket_connect(query={"token": EVE}))
    assert route_template(ws) is None
    assert ran_elsewhere(ME, ws, "$connect", "", read_as(ME, ws, "")) is False


@pytest.mark.parametrize("template", ["/users/{1id}", "/users/{id}.json", "/users/m*", "users"])
def test_a_route_template_that_does_not_parse_is_answered_for_its_arn_alone(
    template: str,
) -> None:
    """Held (fail closed when cached): a route template the grammar does not read has no
    shape; the answer cached for it names only the request's own ARN."""
    table = Routes({"GET /users/{id}": A, "GET /users/me": A, "GET /{proxy+}": A})
    for event in authorizer_events("GET", "/users/7", "GET " + template, {"id": "7"}):
        answer = per_route(table, response_cache_size=0).handler(event, None)
        statements = answer["policyDocument"]["Statement"]
        assert [(s["Effect"], s["Resource"]) for s in statements] == [
            ("Allow", [PREFIX + "GET/users/7"])
        ]


def test_the_policy_size_fallback_names_only_the_request() -> None:
    """Held: a plan bounded to its route that does not fit ``max_response_bytes`` falls
    back to the request's ARN alone."""
    table = Routes({f"GET /users/{{id}}/p{n}": A for n in range(40)} | {"GET /users/{id}": A})
    authorizer = per_route(table, response_cache_size=0, max_response_bytes=2048)
    event = authorizer_events("GET", "/users/7", "GET /users/{id}", {"id": "7"})[0]
    statements = authorizer.handler(event, None)["policyDocument"]["Statement"]
    assert [(s["Effect"], s["Resource"]) for s in statements] == [
        ("Allow", [PREFIX + "GET/users/7"])
    ]


def test_the_memo_keeps_payload_1_templates_apart() -> None:
    """Held: the same ARN, method, path and routed path under two resources (a catch-all
    and GET /users/{id}) are two memo entries: the second answer is bounded to its own
    route, as a fresh one is."""
    table = Routes({"GET /users/{id}": roles("admin"), "GET /users/{id}/{sub}": A,
                    "ANY /{proxy+}": A})  # fmt: skip
    authorizer = per_route(table)
    proxied = http_authorizer_v1("GET", "/users/7", resource="/{proxy+}",
                                 path_params={"proxy": "users/7"}, token=EVE)  # fmt: skip
    authorizer.handler(proxied, None)
    authorizer.handler(proxied, None)
    routed = http_authorizer_v1("GET", "/users/7", resource="/users/{id}",
                                path_params={"id": "7"}, token=EVE)  # fmt: skip
    memo = authorizer.handler(routed, None)
    afresh = per_route(table, response_cache_size=0).handler(routed, None)
    assert memo["policyDocument"] == afresh["policyDocument"]


# A table of every kind of neighbour: literals under parameters, other verbs of one
# shape, a tenant binding, case variants, greedy routes under literals, a default rule.
FUZZ = Routes({
    "GET /t/{tid}": tenant(path="tid"),
    "GET /t/admin": roles("admin"),
    "ANY /t/{tid}": A,
    "DELETE /t/{x}": roles("admin"),
    "GET /t/{tid}/items": tenant(path="tid"),
    "GET /t/acme/items": roles("admin"),
    "POST /t/{tid}/items": A,
    "GET /{a}/{b}": A,
    "GET /{a}/items": roles("admin"),
    "ANY /f/{proxy+}": A,
    "GET /f/{x}/secret": roles("admin"),
    "GET /{proxy+}": A,
}, default=A)  # fmt: skip
VALUES = ["acme", "globex", "admin", "ADMIN", "items", "secret", "a/b", "acme/items", "x/secret",
          "Acme", "ac;me", "t"]  # fmt: skip


def _filled(template: str, values: dict[str, str]) -> tuple[str, dict[str, str]]:
    params: dict[str, str] = {}
    path = template
    for name in re.findall(r"\{([^}]+)\}", template):
        params[name.rstrip("+")] = values[name.rstrip("+")]
        path = path.replace("{" + name + "}", values[name.rstrip("+")])
    return path, params


def test_a_cached_answer_allows_on_its_route_key_only_what_a_fresh_decision_allows() -> None:
    """Held: for every route key of the table (and one whose parameter is named otherwise
    and a catch-all), both payloads, the answer cached for a first request allows a second
    request of the same route key only when a fresh decision allows it (values that are
    other routes' literals, case and ``;`` variants, encoded ``/``). Checked with secauth's
    matcher over every pair, and every allowed pair with the IAM simulator."""
    cached = per_route(FUZZ, response_cache_size=0)
    authorizer = fresh(FUZZ)
    route_keys = [k for k in FUZZ.route_keys() if " " in k] + ["GET /t/{tenantId}"]
    checked: list[tuple[PolicyDocument, str]] = []
    over = []
    for route_key, payload in itertools.product(route_keys, (0, 1)):
        verb, _, template = route_key.partition(" ")
        names = [n.rstrip("+") for n in re.findall(r"\{([^}]+)\}", template)]
        methods = ["GET", "POST", "DELETE", "HEAD"] if verb == "ANY" else [verb]
        firsts = [dict(zip(names, v, strict=True))
                  for v in itertools.product(VALUES[:3], repeat=len(names))]  # fmt: skip
        seconds = [dict(zip(names, v, strict=True))
                   for v in itertools.product(VALUES, repeat=len(names))]  # fmt: skip
        for first in firsts:
            path, params = _filled(template, first)
            answer = cached.handler(authorizer_events(methods[0], path, route_key, params)[payload])
            for method, second in itertools.product(methods, seconds):
                path, params = _filled(template, second)
                event = authorizer_events(method, path, route_key, params)[payload]
                arn = event.get("routeArn") or event["methodArn"]
                if iam_allows(answer, arn):
                    checked.append((document(answer), arn))
                    if not iam_allows(authorizer.handler(event, None), arn):
                        over.append((route_key, payload, method, path))
    assert over == []
    assert len(checked) > 100
    assert all(simulate(checked))


def read_as(table: Routes, request: Request, path: str) -> tuple[str | None, ...]:
    """The routes ``table`` reads ``path`` as, as a decision names them (what the
    Authorizer and the Guard hand ``ran_elsewhere``)."""
    return table.decide(Principal.anonymous(), "GET", path, request).decided_by
