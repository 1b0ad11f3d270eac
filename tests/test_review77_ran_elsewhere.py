"""Review 77: 72c21cf (``secauth.targets.ran_elsewhere``: an HTTP API request is refused
when the table reads its decoded path as another route than its own for the route without
``{proxy+}`` API Gateway ran, filled with fresh values after any base-path prefix) and its
callers (``Authorizer._decide``, ``guard_routes._judged``) attacked.

Model of API Gateway (HTTP APIs), as the project writes it: the route is selected on the
path as sent (case-sensitive literals, ``%2F`` stays in its segment, ``m%65`` is not the
literal ``me``; most specific wins: literal, then parameter, then ``{proxy+}``, an exact
verb before ``ANY``); the route ARN, ``rawPath``/payload 1.0 ``path`` and the path
parameters are decoded once. :func:`api_gateway_model.api_gateway_route` is that model, written
independently of the table's lookup, and every event is built from what it selects.

No finding held up: every attack below is a plain (passing) test. Real objects, real
events, the IAM simulator; no mocks.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import pytest
from api_gateway_model import api_gateway_route
from guard_events import admitted
from test_iam_simulate_crosscheck import simulate

from secauth import Authorizer, Guard, Principal, Routes
from secauth.access import authenticated, public, roles, tenant
from secauth.events import EventKind, Request
from secauth.policy import PolicyDocument, Statement
from secauth.routing import LITERAL, parse_route_key
from secauth.targets import ran_elsewhere, routed_path
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

ISS, AUD = "https://idp.review77.example/", "api"
PAIR = KeyPair.generate("ES256", kid="review77")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
EVE = PAIR.sign({"iss": ISS, "aud": AUD, "sub": "eve", "exp": 4e9, "tenant": "acme"})
EVE_PRINCIPAL = Principal("eve", tenant="acme")
A = authenticated()


def effect(response: Mapping[str, Any]) -> str:
    return str(response["policyDocument"]["Statement"][0]["Effect"])


def document(response: Mapping[str, Any]) -> PolicyDocument:
    statements = response["policyDocument"]["Statement"]
    return PolicyDocument([Statement(s["Effect"], s["Resource"]) for s in statements])


def fresh(routes: Routes) -> Authorizer:
    return Authorizer(VERIFIER, routes=routes, decision_log=None, response_cache_size=0)


def per_route(routes: Routes) -> Authorizer:
    return Authorizer(VERIFIER, routes=routes, cache_ttl=300, cache_key_covers_route=True,
                      decision_log=None, response_cache_size=0)  # fmt: skip





def ran_route_allows(spec: Mapping[str, Any], key: str, method: str, params: dict[str, str]) -> bool:
    """Whether the rule of the route API Gateway ran allows eve with its parameters."""
    if any("/" in value for value in params.values()):
        return False  # refused on its own (a "/" in a parameter)
    route = parse_route_key(key)
    assert route.template is not None
    path = "/" + "/".join(params.get(text, text) for _, text in route.template.segments)
    return Routes({key: spec[key]}).decide(EVE_PRINCIPAL, method, path).allowed


# Tables that mirror their API's routes: the "me" pattern both ways, ANY beside a verb,
# a tenant binding under and beside literals, precedence across positions, the root, a
# literal colliding with the fresh segment, a default rule for routes the table leaves out.
MIRRORED: dict[str, dict[str, Any]] = {
    "me": {"GET /users/me": A, "GET /users/{id}": roles("admin"), "ANY /users/{id}": A,
           "GET /users/{id}/keys": roles("admin"), "GET /users/me/keys": A},
    "me reversed": {"GET /users/me": roles("admin"), "GET /users/{uid}": A},
    "tenant": {"GET /t/{tid}": tenant(path="tid"), "GET /t/acme": roles("admin"),
               "GET /t/{tid}/x": A, "GET /t/public/x": public()},
    "precedence": {"GET /a/{x}/c": A, "GET /{y}/b/{z}": roles("admin"), "GET /a/b/{z}": A,
                   "GET /{p}/{q}/{r}": roles("admin")},
    "root": {"GET /": A, "GET /{x}": roles("admin"), "GET /me": A},
    "fresh literal": {"GET /~w/{id}": A, "GET /~w/~w": roles("admin"), "GET /{a}/{b}": roles("admin")},
}  # fmt: skip
VALUES = ["7", "me", "m%65", "ME", "me;x", "acme", "%61cme", "public", "b", "%62", "c", "a",
          "~w", "%7Ew", "~W", "a%2Fb", "Public", "x%3Ay"]  # fmt: skip
PLAIN = {"7", "me", "acme", "public", "b", "c", "a", "~w", "users", "keys", "t", "x"}


def _requests(keys: list[str]) -> Any:
    """Every request of up to the table's depth over its literals and :data:`VALUES`,
    with the route API Gateway runs for it."""
    templates = [parse_route_key(key).template for key in keys]
    literals = sorted({text for t in templates if t for kind, text in t.segments if kind == LITERAL})
    alphabet = list(dict.fromkeys(literals + VALUES))
    for count in range(max(len(t.segments) for t in templates if t) + 1):
        for segments in itertools.product(alphabet, repeat=count):
            sent = "/" + "/".join(segments)
            for method in ("GET", "POST"):
                selected = api_gateway_route(keys, method, sent)
                if selected is not None:
                    yield method, sent, set(segments) <= PLAIN, *selected


@pytest.mark.parametrize("name", list(MIRRORED))
def test_no_request_is_decided_on_a_more_permissive_route_than_api_gateway_ran(name: str) -> None:
    """Held: for tables that mirror their API, every request (values encoded, case and
    ``;`` variants of literals, the fresh segment itself, an encoded ``/``), through the
    Authorizer (payloads 2.0 and 1.0) and the Guard (payloads 2.0 and 1.0): allowed only
    when the rule of the route API Gateway ran allows it with its parameters; and every
    plainly spelled request is answered exactly as that rule answers (no false 403)."""
    spec = MIRRORED[name]
    routes, keys = Routes(spec), list(spec)
    guard, authorizer = Guard(VERIFIER, routes=routes, decision_log=None), fresh(routes)
    wrong, refused_elsewhere, checked = [], 0, 0
    for method, sent, plain, key, params in _requests(keys):
        checked += 1
        path, template = unquote(sent), key.partition(" ")[2]
        expected = ran_route_allows(spec, key, method, params)
        v1 = rest_proxy(method, path, resource=template, path_params=params, stage="$default",
                        token=EVE)  # fmt: skip
        v1["version"] = "1.0"
        guarded = [
            admitted(guard, http_proxy(method, path, route_key=key, path_params=params, token=EVE)),
            admitted(guard, v1),
        ]
        refused_elsewhere += sum("another route" in answer for answer in guarded)
        answers = [answer == "allow" for answer in guarded] + [
            effect(authorizer.handler(event, None)) == "Allow"
            for event in (
                http_authorizer_v2(method, path, route_key=key, path_params=params, token=EVE),
                http_authorizer_v1(method, path, resource=template, path_params=params, token=EVE),
            )
        ]
        if (any(answers) and not expected) or (plain and answers != [expected] * 4):
            wrong.append((method, sent, key, expected, answers))
    assert wrong == []
    assert checked > 15
    assert refused_elsewhere > 0 or name != "me"  # GET /users/m%65 on GET /users/{id}


@pytest.mark.parametrize("with_prefix", [False, True], ids=["table without", "table with"])
def test_behind_a_custom_domain_the_guard_follows_the_route_api_gateway_ran(
    with_prefix: bool,
) -> None:
    """Held: on a custom domain (API mapping ``v1/x``, two segments), a table written
    without or with the mapping's prefix: a request the table reads elsewhere is refused,
    a plain one is answered as the route API Gateway ran."""
    spec = MIRRORED["me"] | MIRRORED["tenant"]
    prefix = "/v1/x" if with_prefix else ""
    table = {key.replace(" /", f" {prefix}/", 1): rule for key, rule in spec.items()}
    guard = Guard(VERIFIER, routes=Routes(table), decision_log=None)
    wrong = []
    for method, sent, plain, key, params in _requests(list(spec)):
        event = http_proxy(method, unquote(sent), route_key=key, path_params=params, token=EVE)
        answer = admitted(guard, on_custom_domain(event, "api.example.com", base_path="v1/x"))
        expected = ran_route_allows(spec, key, method, params)
        if (answer == "allow" and not expected) or (plain and (answer == "allow") != expected):
            wrong.append((method, sent, key, answer))
    assert wrong == []


def test_on_a_named_stage_the_guard_follows_the_route_api_gateway_ran() -> None:
    """Held: on the named stage ``prod`` (``rawPath`` starts with it), for a table that
    has no ``prod`` literal, as for ``$default``."""
    spec = MIRRORED["me"]
    guard = Guard(VERIFIER, routes=Routes(spec), decision_log=None)
    wrong = []
    for method, sent, plain, key, params in _requests(list(spec)):
        event = http_proxy(method, unquote(sent), route_key=key, path_params=params,
                           stage="prod", token=EVE)  # fmt: skip
        answer = admitted(guard, event)
        expected = ran_route_allows(spec, key, method, params)
        if (answer == "allow" and not expected) or (plain and (answer == "allow") != expected):
            wrong.append((method, sent, key, answer))
    assert wrong == []


def test_a_named_stage_that_is_a_table_literal_checks_the_path_as_sent_too() -> None:
    """Held: when the stage is a first literal of the table (the path is read with and
    without it), the reading with the stage is checked with the stage as the prefix:
    ``/prod/users/m%65`` on ``GET /users/{id}`` is refused, ``/prod/users/7`` allowed."""
    table = Routes({"GET /users/me": A, "GET /users/{id}": A,
                    "GET /prod/users/{id}": A, "GET /prod/users/me": A})  # fmt: skip
    guard = Guard(VERIFIER, routes=table, decision_log=None)

    def sent(value: str) -> dict[str, Any]:
        return http_proxy("GET", f"/users/{value}", route_key="GET /users/{id}",
                          path_params={"id": value}, stage="prod", token=EVE)  # fmt: skip

    assert admitted(guard, sent("7")) == "allow"
    assert "another route" in admitted(guard, sent("me"))
    request = Request.from_event(sent("me"))
    assert ran_elsewhere(table, request, "GET", "/prod/users/me",
                         read_as(table, request, "/prod/users/me"))  # fmt: skip
    plain = Request.from_event(sent("7"))
    assert not ran_elsewhere(table, plain, "GET", "/prod/users/7",
                             read_as(table, plain, "/prod/users/7"))  # fmt: skip


# A table of neighbours where a literal is MORE permissive than its parameter route (the
# "me" pattern), with tenant bindings, ANY beside GET on one shape, and the fresh segment.
CACHED = Routes({
    "GET /u/me": A,
    "GET /u/{id}": tenant(path="id"),
    "ANY /u/{id}": A,
    "GET /u/{id}/items": roles("admin"),
    "GET /u/me/items": A,
    "GET /{a}/{b}": roles("admin"),
    "GET /o/{x}/{y}": tenant(path="x"),
    "GET /o/public/{y}": public(),
    "POST /o/{x}": tenant(path="x"),
    "GET /o/{x}": roles("admin"),
    "GET /~w/{x}": A,
    "GET /": A,
})  # fmt: skip
CACHED_VALUES = ["acme", "me", "ME", "m%65", "me;x", "public", "items", "globex", "~w", "~w~",
                 "Public", "a:b", "%", "PUBLIC;v=1"]  # fmt: skip


def _filled(template: str, values: dict[str, str]) -> tuple[str, dict[str, str]]:
    params: dict[str, str] = {}
    path = template
    for name in re.findall(r"\{([^}]+)\}", template):
        params[name] = values[name]
        path = path.replace("{" + name + "}", values[name])
    return path, params


def _cached_event(key: str, payload: int, method: str, values: tuple[str, ...]) -> dict[str, Any]:
    template = key.partition(" ")[2]
    names = re.findall(r"\{([^}]+)\}", template)
    path, params = _filled(template, dict(zip(names, values, strict=True)))
    if payload == 0:
        return http_authorizer_v2(method, path, route_key=key, path_params=params, token=EVE)
    return http_authorizer_v1(method, path, resource=template, path_params=params, token=EVE)


def test_every_arn_a_cached_answer_allows_passes_a_fresh_decision() -> None:
    """Held: for every route key (the table's, one with another parameter name, ones the
    table does not have), both payloads, every verb of an ANY route, the answer cached for
    a first request allows a second request of the same route key only when a fresh
    decision (``ran_elsewhere`` included) allows it; checked with the IAM simulator."""
    cached, afresh = per_route(CACHED), fresh(CACHED)
    keys = [k for k in CACHED.route_keys() if " " in k]
    keys += ["GET /u/{uid}", "ANY /o/{x}", "GET /~w/{id}", "GET /{a}/{b}/{c}"]
    over, checked = [], []
    for key, payload in itertools.product(keys, (0, 1)):
        verb, _, template = key.partition(" ")
        names = re.findall(r"\{([^}]+)\}", template)
        methods = ["GET", "POST", "DELETE", "HEAD"] if verb == "ANY" else [verb]

        firsts = list(itertools.product(CACHED_VALUES[:4], repeat=len(names)))
        seconds = list(itertools.product(CACHED_VALUES, repeat=len(names)))
        for first_method, first in itertools.product(methods, firsts):
            answer = cached.handler(_cached_event(key, payload, first_method, first), None)
            for method, second in itertools.product(methods, seconds):
                later = _cached_event(key, payload, method, second)
                arn = later.get("routeArn") or later["methodArn"]
                if iam_allows(answer, arn):
                    checked.append((document(answer), arn))
                    if not iam_allows(afresh.handler(later, None), arn):
                        over.append((key, payload, first_method, first, method, second))
    assert over == []
    assert len(checked) > 500
    assert all(simulate(checked))


ODD_TEMPLATES = ["/users/{id}", "/users/{id", "/users/{}", "/{id}/{id}", "/users/{id+}",
                 "/users/{proxy+}/x", "/", "//", "/users//{id}", "/users/{id}/", "/{a}{b}",
                 "/users/{ id }", "/users/{id}x", "/users/{1}", "/users/{id}/{proxy+}",
                 "/%75sers/{id}", "/Users/{id}", "/users/*", "users/{id}", "",
                 "/" + "a/" * 500 + "{id}"]  # fmt: skip
ODD_PARAMS: list[Any] = [{"id": "me"}, {}, {"id": ""}, {"id": "a/b"}, {"id": None}, {"id": 5},
                         {"a": "users", "b": "me"}, {"id+": "me"}, None, ["me"], "me"]  # fmt: skip
ODD_PATHS = ["/users/me", "/", "", "/users/me/", "//users/me", "/x/users/me", "users/me",
             "/" + "a/" * 500 + "me", "/users/me;x", "/users/ME", "/users/" + "x" * 20000]  # fmt: skip


def test_odd_events_never_raise_from_ran_elsewhere() -> None:
    """Held: route templates that do not parse, missing or odd parameters, ``routed_path``
    answering "" or None, paths that do not end with the routed path, very long paths:
    ``ran_elsewhere`` answers a bool for every event kind that names a route."""
    table = Routes({"GET /users/me": A, "GET /users/{id}": roles("admin"), "GET /{proxy+}": A,
                    "GET /": A})  # fmt: skip
    answers = set()
    for template, params, path in itertools.product(ODD_TEMPLATES, ODD_PARAMS, ODD_PATHS):
        for kind, event in [
            (EventKind.HTTP_AUTHORIZER_V2, {"routeKey": "GET " + template, "pathParameters": params}),
            (EventKind.HTTP_AUTHORIZER_V1, {"resource": template, "pathParameters": params}),
            (EventKind.HTTP_V2, {"routeKey": "GET " + template, "pathParameters": params}),
            (EventKind.REST_V1, {"resource": template, "pathParameters": params, "version": "1.0"}),
        ]:
            request = Request(kind, event)
            answers.add(ran_elsewhere(table, request, "GET", path, read_as(table, request, path)))
    assert answers == {True, False}
    split = Request(EventKind.HTTP_V2, {"routeKey": "GET /users/{id}", "pathParameters": {"id": "a/b"}})
    assert routed_path(split) == ""
    readings = read_as(table, split, "/users/a/b")
    assert ran_elsewhere(table, split, "GET", "/users/a/b", readings) is False  # refused on its own:
    guard = Guard(VERIFIER, routes=table, decision_log=None)
    event = http_proxy("GET", "/users/a/b", route_key="GET /users/{id}", path_params={"id": "a/b"},
                       token=EVE)  # fmt: skip
    assert admitted(guard, event) != "allow"


@pytest.mark.parametrize("template", ["/users/{id", "/users/{}", "/{id}/{id}", "/users/{id}x"])
def test_odd_route_templates_are_answered_not_raised(template: str) -> None:
    """Held: the Authorizer and the Guard answer (allow or refuse) events naming a route
    template the grammar does not read; nothing escapes as an exception."""
    table = Routes({"GET /users/me": A, "GET /users/{id}": A})
    guard = Guard(VERIFIER, routes=table, decision_log=None)
    params = {"id": "me"}
    for authorizer in (fresh(table), per_route(table)):
        for event in (
            http_authorizer_v2("GET", "/users/me", route_key="GET " + template, path_params=params,
                               token=EVE),
            http_authorizer_v1("GET", "/users/me", resource=template, path_params=params,
                               token=EVE),
        ):  # fmt: skip
            assert effect(authorizer.handler(event, None)) in ("Allow", "Deny")
    event = http_proxy("GET", "/users/me", route_key="GET " + template, path_params=params,
                       token=EVE)  # fmt: skip
    assert isinstance(admitted(guard, event), str)


def _powertools_app(guard: Guard, *, strip: list[str] | None = None, outer: Guard | None = None) -> Any:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from secauth.integrations.powertools import guard_middleware

    app = APIGatewayHttpResolver(strip_prefixes=strip)
    if outer is not None:
        app.use(middlewares=[guard_middleware(outer)])

    @app.get("/users/<uid>", middlewares=[guard_middleware(guard)])
    def user(uid: str) -> dict[str, str]:  # the handler of API Gateway's GET /users/{id}
        return {"id": uid}

    @app.get("/users/me", middlewares=[guard_middleware(guard)])
    def me() -> dict[str, str]:
        return {"id": "me"}

    return app


@pytest.mark.parametrize("setup", ["alone", "stacked", "strip_prefixes on a custom domain"])
def test_powertools_route_guards_follow_the_route_api_gateway_ran(setup: str) -> None:
    """Held: a Powertools route guard (alone, under an outer guard, or with
    ``strip_prefixes`` behind a custom domain's mapping) refuses ``GET /users/m%65`` run
    as ``GET /users/{id}`` and allows plain requests of either route."""
    table = Routes({"GET /users/me": A, "GET /users/{id}": roles("admin"), "GET /users/7": A})
    guard = Guard(VERIFIER, routes=table, decision_log=None)
    if setup == "alone":
        app = _powertools_app(guard)
    elif setup == "stacked":
        outer = Guard(VERIFIER, routes=Routes({"ANY /{proxy+}": A}), decision_log=None)
        app = _powertools_app(guard, outer=outer)
    else:
        app = _powertools_app(guard, strip=["/v1"])

    def status(path: str, route_key: str, params: dict[str, str]) -> int:
        event = http_proxy("GET", path, route_key=route_key, path_params=params, token=EVE)
        if setup.startswith("strip"):
            event = on_custom_domain(event, "api.example.com", base_path="v1")
        return int(app.resolve(copy.deepcopy(event), None)["statusCode"])

    assert status("/users/me", "GET /users/{id}", {"id": "me"}) == 403
    assert status("/users/8", "GET /users/{id}", {"id": "8"}) == 403  # admin only
    assert status("/users/me", "GET /users/me", {}) == 200
    assert status("/users/7", "GET /users/7", {}) == 200


def read_as(table: Routes, request: Request, path: str) -> tuple[str | None, ...]:
    """The routes ``table`` reads ``path`` as, as a decision names them (what the
    Authorizer and the Guard hand ``ran_elsewhere``)."""
    return table.decide(Principal.anonymous(), "GET", path, request).decided_by
