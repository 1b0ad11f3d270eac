"""Review 59: the fixes of review 58 (and 57, 56), attacked.

* ``detect_kind`` refuses a WebSocket event whose ``eventType`` and
  ``requestContext.routeKey`` disagree. Attacked with a top-level ``routeKey`` (which
  ``Request`` reads first), missing and non-string keys, look-alikes of ``$connect``,
  keyless ``CONNECT`` events with a token, ``DISCONNECT`` (whose context is taken past
  its expiry) naming a message route, and the ``$connect`` authorizer.
* ``secauth.parameter_readings``: every rule sees the ``;``-stripped path and
  parameters. Attacked with cached policies (``Rule.bindings`` of negated tenant rules
  and encoded ``;``), literal case/percent readings, the guard's own rule beside a
  resolver's ``strip_prefixes`` path, and the Authorizer's memo.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; attacks the
library resists are plain tests.
"""

from __future__ import annotations

from typing import Any

import pytest
from forged_contexts import CLAIMS, ISS, VERIFIER, both, echo, forged_context, token

from secauth import (
    Authorizer,
    Guard,
    Principal,
    Routes,
    authenticated,
    public,
    roles,
    tenant,
)
from secauth.errors import Reason
from secauth.events import EventKind, Request, UnsupportedEvent
from secauth.parameter_readings import parameter_readings
from secauth.rules import AccessContext, Denial, Rule
from secauth.testing_events import (
    request_authorizer,
    rest_proxy,
    websocket_connect,
    websocket_message,
)
from secauth.testing_policy import iam_allows

WS_TABLE = Routes(
    {
        "$connect": roles("admin"),
        "$disconnect": authenticated(),
        "sendmessage": authenticated(),
    }
)


def forged(route_key: object, event_type: str = "MESSAGE", *, drop_key: bool = False,
           context: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """A WebSocket event written by whoever may invoke the function: a forged context."""
    event = websocket_message("sendmessage", "{}")
    event["requestContext"].update(eventType=event_type,
                                   authorizer=context or forged_context())  # fmt: skip
    if drop_key:
        del event["requestContext"]["routeKey"]
    else:
        event["requestContext"]["routeKey"] = route_key
    return event


def connect_with_token(route_key: object, *, drop_key: bool = False) -> dict[str, Any]:
    """What a function behind ``$connect`` gets (``CONNECT``), bob's token in a header."""
    event = websocket_connect(headers={"Authorization": f"Bearer {token('bob')}"})
    del event["type"], event["methodArn"]
    if drop_key:
        del event["requestContext"]["routeKey"]
    else:
        event["requestContext"]["routeKey"] = route_key
    return event


# -- 1. WebSocket event type and route key ---------------------------------------------------


@pytest.mark.parametrize(
    ("top", "inner"),
    [("$connect", "sendmessage"), ("sendmessage", "$connect"), ("$connect", None)],
)
def test_a_top_level_route_key_cannot_disagree_with_the_checked_one(
    top: str, inner: str | None
) -> None:
    """``Request`` reads ``raw.routeKey`` before ``requestContext.routeKey`` while the check
    reads only the latter: a top-level ``routeKey: $connect`` on a MESSAGE would be judged
    by the ``$connect`` rule. It is an HTTP marker, so the event is refused first."""
    event = forged(inner, drop_key=inner is None)
    event["routeKey"] = top
    with pytest.raises(UnsupportedEvent):
        Request.from_event(event)
    answer = both(routes=WS_TABLE)(echo)(event, None)
    assert answer["statusCode"] == 400
    assert "root" not in str(answer.get("body"))


@pytest.mark.parametrize(
    "route_key",
    [["$connect"], {"$connect": 1}, 7, "", None],
    ids=["list", "dict", "int", "empty", "null"],
)
def test_a_message_with_an_odd_route_key_reaches_no_route(route_key: object) -> None:
    """Non-string keys pass ``_route_fits_event`` (``["$connect"]`` is not ``"$connect"``),
    but ``Request`` reads them as no key: no route, never ``$connect``'s."""
    answer = both(routes=WS_TABLE)(echo)(forged(route_key), None)
    assert answer["statusCode"] == 404
    missing = both(routes=WS_TABLE)(echo)(forged(None, drop_key=True), None)
    assert missing["statusCode"] == 404


@pytest.mark.parametrize("route_key", ["$CONNECT", "$connect ", "$Connect", "\u0024connect\u200b"])
def test_a_look_alike_of_connect_is_not_the_connect_route(route_key: str) -> None:
    """Special keys are looked up exactly: a look-alike goes to ``$default`` (none in this
    table: 404), never to the ``$connect`` rule or a handler's ``== "$connect"``."""
    answer = both(routes=WS_TABLE)(echo)(forged(route_key), None)
    assert answer["statusCode"] == 404
    assert WS_TABLE.resolve(route_key, "") is None


@pytest.mark.parametrize("route_key", ["sendmessage", "$default", None])
def test_a_disconnect_naming_another_route_is_refused_even_with_an_expired_context(
    route_key: str | None,
) -> None:
    """A DISCONNECT's context is taken past its token's expiry (its cleanup must run): a
    DISCONNECT naming ``sendmessage`` would reach a message route on an expired context."""
    expired = Principal("root", tenant="acme", roles={"admin"}, issuer=ISS,
                        claims={"exp": 1_000}).to_context()  # fmt: skip
    event = forged(route_key, "DISCONNECT", drop_key=route_key is None,
                   context={"principalId": "root", **expired})  # fmt: skip
    answer = both(routes=WS_TABLE)(echo)(event, None)
    assert answer["statusCode"] == 400
    genuine = forged("$disconnect", "DISCONNECT", context={"principalId": "root", **expired})
    assert both(routes=WS_TABLE)(echo)(genuine, None)["statusCode"] == 200


def test_an_expired_message_context_is_refused() -> None:
    expired = Principal("root", tenant="acme", roles={"admin"}, issuer=ISS,
                        claims={"exp": 1_000}).to_context()  # fmt: skip
    event = forged("sendmessage", context={"principalId": "root", **expired})
    assert both(routes=WS_TABLE)(echo)(event, None)["statusCode"] == 401


def test_a_keyless_connect_with_a_token_is_not_decided_by_default() -> None:
    """A CONNECT may leave its key out; ``Request`` then reads the key as ``""`` (not
    ``$connect``, as for the authorizer's event). With a token of a non-admin, a
    ``$default: authenticated()`` rule must not stand in for ``$connect: roles(admin)``."""
    table = Routes({"$connect": roles("admin"), "$default": authenticated()})
    guard = Guard(VERIFIER, claims=CLAIMS, routes=table, decision_log=None)
    keyless = connect_with_token(None, drop_key=True)
    assert Request.from_event(keyless).kind is EventKind.WEBSOCKET
    assert guard(echo)(keyless, None)["statusCode"] in (403, 404)
    assert guard(echo)(connect_with_token("$connect"), None)["statusCode"] == 403
    for other in ("$default", "sendmessage", ""):
        assert guard(echo)(connect_with_token(other), None)["statusCode"] == 400


def test_a_websocket_guard_still_asks_http_events_for_their_token() -> None:
    """WebSocket keys make messages tokenless; a REST event with a forged context to the
    same guard still needs its token."""
    table = Routes({"$connect": roles("admin"), "sendmessage": authenticated(),
                    "GET /admin": roles("admin")})  # fmt: skip
    event = rest_proxy("GET", "/admin", resource="/admin")
    event["requestContext"]["authorizer"] = forged_context()
    assert both(routes=table)(echo)(event, None)["statusCode"] == 401


# -- 2. parameter readings, cached policies and the memo ------------------------------------

REVIEW = Routes(
    {
        # Reviewers review other tenants than the one they are members of.
        "POST /tenants/{tenantId}/review": roles("reviewer")
        & ~(tenant(path="tenantId") & roles("member")),
        "GET /health": authenticated(),
    }
)


def _cached_policy(routes: Routes, sub: str, tenant_id: str) -> tuple[dict[str, Any], str]:
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=routes, cache_ttl=300, decision_log=None)
    bearer = token(sub, tenant_id=tenant_id, role_names=("member", "reviewer"))
    event = request_authorizer("GET", "/health", resource="/health", token=bearer)
    document = auth.handler(event, None)["policyDocument"]
    return document, event["methodArn"].rsplit("/GET/", 1)[0]


def test_a_cached_policy_never_opens_an_encoded_semicolon_that_decide_denies() -> None:
    """``tenant(path=...).bindings`` is ``[]`` (never allows) for a tenant holding ``;``
    (review 56), but ``check`` allows its written reading: ``Routes.judge`` reads both
    readings around the whole rule, so ``~(tenant & member)`` refuses ``acme;x`` for eve
    of ``acme;x``, while ``_Not.bindings`` turns ``[]`` into ``[{}]`` (every tenant). The
    table passes the result-cache check (the probe has no roles), eve's cached policy
    allows ``POST/tenants/*/review``; ``*;*`` denies the literal ``;``, not ``%3B``, which
    ``Routes`` decodes to ``acme;x`` (eve's own tenant, the one she may not review)."""
    eve = Principal("eve", tenant="acme;x", roles={"member", "reviewer"}, issuer=ISS)
    document, base = _cached_policy(REVIEW, "eve", "acme;x")
    # Fixed: a ";" tenant's bindings are None (decided per request): no cached grant.
    assert not iam_allows(document, f"{base}/POST/tenants/globex/review")
    for spelling in ("acme;x", "acme%3Bx", "acme%3bx"):
        path = f"/tenants/{spelling}/review"
        assert not REVIEW.decide(eve, "POST", path).allowed
        assert not iam_allows(document, f"{base}/POST{path}"), spelling


def test_a_plain_tenants_cached_policy_opens_no_semicolon_spelling() -> None:
    """Bob of ``acme``: the negated rule reads the request for him (never cached, the
    result-cache check denies it per request), and a positive tenant rule's exact ARN
    does not match encoded spellings."""
    document, base = _cached_policy(REVIEW, "bob", "acme")
    positive = Routes({"POST /tenants/{tenantId}/review": tenant(path="tenantId"),
                       "GET /health": authenticated()})  # fmt: skip
    granted, _ = _cached_policy(positive, "bob", "acme")
    assert iam_allows(granted, f"{base}/POST/tenants/acme/review")
    for spelling in ("acme;x", "acme%3Bx", "acme%3bx", "globex", "acme%3B"):
        assert not iam_allows(document, f"{base}/POST/tenants/{spelling}/review")
        assert not iam_allows(granted, f"{base}/POST/tenants/{spelling}/review")


class NotInternal(Rule):
    """A path denylist (a Spring Boot app's ``/internal/**`` actuator endpoints behind the
    Lambda Web Adapter must not be reached through the API)."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        if context.path == "/internal" or context.path.startswith("/internal/"):
            return Denial(Reason.FORBIDDEN, "internal endpoint")
        return None


def _proxy(path: str) -> dict[str, Any]:
    return rest_proxy("GET", path, resource="/{proxy+}", path_params={"proxy": path[1:]},
                      token=token("bob"))  # fmt: skip


@pytest.mark.parametrize("path", ["/internal;x/secrets", "/internal;/secrets",
                                  "/internal;jsessionid=1"])  # fmt: skip
def test_the_guards_own_path_rule_sees_the_stripped_path(path: str) -> None:
    guard = Guard(VERIFIER, claims=CLAIMS, decision_log=None).require(NotInternal())
    assert guard(echo)(_proxy("/public/x"), None)["statusCode"] == 200
    assert guard(echo)(_proxy(path), None)["statusCode"] == 403


DOT_SEMICOLON = ["/public/..;/internal/secrets", "/public/.;/internal",
                 "/;x/internal/secrets", "/public/..;a=1/internal"]


@pytest.mark.parametrize("path", DOT_SEMICOLON)
def test_a_table_refuses_a_dot_segment_hidden_by_a_semicolon(path: str) -> None:
    """Stripping ``..;`` leaves ``..``, which a servlet then normalizes away: with a table
    such paths are refused spellings before any rule sees a stripped reading."""
    routes = Routes({"ANY /{proxy+}": NotInternal() & authenticated()})
    bob = Principal("bob", tenant="acme", issuer=ISS)
    assert not routes.decide(bob, "GET", path).allowed
    guard = Guard(VERIFIER, claims=CLAIMS, decision_log=None, routes=routes)
    assert guard(echo)(_proxy(path), None)["statusCode"] in (400, 403, 404)


def _tenant_event(path: str, proxy: str) -> dict[str, Any]:
    return rest_proxy("GET", path, resource="/tenants/{tenantId}/{proxy+}",
                      path_params={"tenantId": "evil", "proxy": proxy},
                      token=token("eve", tenant_id="evil"))  # fmt: skip


def test_a_guard_table_refuses_a_tenant_escaped_by_a_dot_semicolon_segment() -> None:
    table = Routes({"GET /tenants/{tenantId}/{proxy+}": tenant(path="tenantId")})
    guard = Guard(VERIFIER, claims=CLAIMS, decision_log=None, routes=table)
    assert guard(echo)(_tenant_event("/tenants/evil/orders", "orders"), None)["statusCode"] == 200
    escaped = _tenant_event("/tenants/evil/..;/acme/orders", "..;/acme/orders")
    assert guard(echo)(escaped, None)["statusCode"] in (400, 403, 404)


def test_a_tableless_guard_refuses_a_dot_segment_hidden_by_a_semicolon() -> None:
    """Review 58 says every rule reads ``;`` as a servlet container does, but a guard
    without a table never refuses the spellings ``Routes`` refuses: ``require(...)`` sees
    ``/public/..;/internal/secrets`` stripped to ``/public/../internal/secrets`` (a servlet
    goes on to normalize it to ``/internal/secrets``), and API Gateway's ``tenantId`` of
    ``/tenants/evil/..;/acme/orders`` is ``evil``, while a servlet backend the handler
    forwards to reads ``/tenants/acme/orders``."""
    own = Guard(VERIFIER, claims=CLAIMS, decision_log=None).require(tenant(path="tenantId"))
    assert own(echo)(_tenant_event("/tenants/evil/orders", "orders"), None)["statusCode"] == 200
    escaped = _tenant_event("/tenants/evil/..;/acme/orders", "..;/acme/orders")
    assert own(echo)(escaped, None)["statusCode"] in (400, 403, 404)
    internal = Guard(VERIFIER, claims=CLAIMS, decision_log=None).require(NotInternal())
    for path in DOT_SEMICOLON:
        assert internal(echo)(_proxy(path), None)["statusCode"] in (400, 403, 404), path


@pytest.mark.parametrize("path", ["/%69nternal;x/keys", "/INTERNAL;x/keys", "/Internal;/keys",
                                  "/internal;x/keys", "/%49nternal/keys"])  # fmt: skip
def test_literal_case_and_percent_readings_combine_with_semicolons(path: str) -> None:
    """A literal read both ways (case, percent) and with its ``;`` parameters: every
    combination reaches the admin route's rule."""
    routes = Routes({"GET /internal/{proxy+}": roles("admin"), "GET /{proxy+}": authenticated()})
    bob = Principal("bob", tenant="acme", issuer=ISS)
    assert routes.decide(bob, "GET", "/public/keys").allowed
    assert not routes.decide(bob, "GET", path).allowed


def test_an_allow_names_the_written_parameters_and_both_readings_were_asked() -> None:
    """``Decision.params`` of an allow is the reading as written (no consumer authorizes
    on it); every reading was put to the rule."""
    seen: list[tuple[str, dict[str, str]]] = []

    class Records(Rule):
        def check(self, principal: Principal, context: AccessContext) -> Denial | None:
            seen.append((context.path, dict(context.params)))
            return None

    routes = Routes({"GET /users/{userId}/docs/{doc}": Records()})
    decision = routes.decide(Principal("bob"), "GET", "/users/bob;x/docs/a;v=2")
    assert decision.allowed
    assert decision.params == {"userId": "bob;x", "doc": "a;v=2"}
    assert seen == [
        ("/users/bob;x/docs/a;v=2", {"userId": "bob;x", "doc": "a;v=2"}),
        ("/users/bob/docs/a", {"userId": "bob", "doc": "a"}),
    ]
    assert len(parameter_readings("GET", "/users/bob/docs/a", {"userId": "bob"})) == 1


def test_the_memo_does_not_replay_a_stripped_allow_to_the_semicolon_spelling() -> None:
    """Memoized answers are per target: an allow of ``/files/public`` is never replayed
    for ``/files/admin;x``, which the stripped reading refuses."""

    class NotAdminFile(Rule):
        def check(self, principal: Principal, context: AccessContext) -> Denial | None:
            if context.params.get("name") == "admin":
                return Denial(Reason.FORBIDDEN, "admin file")
            return None

    routes = Routes({"GET /files/{name}": NotAdminFile(), "GET /health": public()})
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=routes, decision_log=None)
    bearer = token("bob")
    for _ in range(2):
        ok = request_authorizer("GET", "/files/public", resource="/files/{name}",
                                path_params={"name": "public"}, token=bearer)  # fmt: skip
        assert iam_allows(auth.handler(ok, None)["policyDocument"], ok["methodArn"])
        bad = request_authorizer("GET", "/files/admin;x", resource="/files/{name}",
                                 path_params={"name": "admin;x"}, token=bearer)  # fmt: skip
        assert not iam_allows(auth.handler(bad, None)["policyDocument"], bad["methodArn"])


# -- 3. the guard's own rule and the path the application routes on --------------------------


def test_the_guards_own_path_rule_reads_the_path_the_resolver_routes_on() -> None:
    """Review 58 gave every rule both ``;`` readings of ``context.path``, but the guard's
    own rule (``require``) still reads ``paths[0]`` alone for every reading, while the
    same rule in the table is judged on each path, Powertools' ``app_path`` included.
    ``/v1/internal/secrets`` under ``strip_prefixes=["/v1"]`` runs ``/internal/secrets``."""
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from secauth.integrations.powertools import guard_middleware

    answers: dict[str, int] = {}
    guards = {
        "table": Guard(VERIFIER, claims=CLAIMS, decision_log=None,
                       routes=Routes({"ANY /{proxy+}": NotInternal() & authenticated()})),
        "require": Guard(VERIFIER, claims=CLAIMS, decision_log=None).require(NotInternal()),
    }  # fmt: skip
    for name, guard in guards.items():
        app = APIGatewayRestResolver(strip_prefixes=["/v1"])
        app.use(middlewares=[guard_middleware(guard)])

        @app.get("/internal/secrets")
        def secrets() -> dict[str, int]:
            return {"secret": 42}

        assert app.resolve(_proxy("/internal/secrets"), None)["statusCode"] == 403
        answers[name] = app.resolve(_proxy("/v1/internal/secrets"), None)["statusCode"]
    assert answers["table"] == 403
    assert answers["require"] == 403
