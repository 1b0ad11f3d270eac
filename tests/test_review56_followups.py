"""Review 56: the fixes of reviews 53 and 54, attacked.

* Review 53: ``Routes.reads_request(principal, routes)``, asked per request by the
  Authorizer: answers of a rule that reads the request for this caller are never
  memoized, and denied under a result cache whose key does not cover the request.
  Attacked with composed rules (``&``, ``|``, ``~``), ``default=`` rules, ambiguous
  readings (case and ``;`` variants), WebSocket route keys, cached plans and a rule whose
  ``bindings`` raises; certificate-bound tokens under caching.
* Review 54: ``Guard(verifier, trust_authorizer=True)`` refuses an authorizer context that
  comes without a token, except WebSocket messages. Attacked with events shaped to look
  like a WebSocket message, tokens in sources the guard does not read, empty tokens,
  async handlers, ``Guard.check`` and the Powertools middleware.
* Review 54: ``;`` path parameters, read both ways on literals, refused after dot
  segments, denied by every cached policy (``SEMICOLON_PATHS``).

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; attacks the
library resists are plain tests.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from forged_contexts import CLAIMS, ISS, VERIFIER, both, echo, token
from forged_contexts import forged_context as forged_admin_context
from policy_tables import ELSEWHERE, OFFICE, ContractorsFromTheOffice

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
from secauth.errors import MissingToken
from secauth.policy import SEMICOLON_PATHS, Unauthorized
from secauth.rules import Rule
from secauth.sender_constraint import SenderConstraint
from secauth.testing_events import (
    http_authorizer_v2,
    http_proxy,
    iam_allows,
    request_authorizer,
    rest_proxy,
    websocket_connect,
)

CONTRACTOR = token("carl", role_names=("contractor", "staff"))


class BrokenForContractors(ContractorsFromTheOffice):
    """A custom rule whose ``bindings`` raises for some callers (a bug in user code)."""

    def bindings(self, principal: Principal) -> list[dict[str, str]] | None:
        if "contractor" in principal.roles:
            raise KeyError("contractor_site")
        return [{}]


OFFICE_ONLY = ContractorsFromTheOffice()


def allowed(auth: Authorizer, event: dict[str, Any]) -> bool:
    """Whether the Authorizer's answer lets API Gateway run ``event``'s own ARN."""
    try:
        answer = auth.handler(event, None)
    except Unauthorized:
        return False
    arn = event.get("methodArn") or event["routeArn"]
    return iam_allows(answer["policyDocument"], arn)


def rest(path: str, *, source_ip: str, bearer: str = CONTRACTOR, verb: str = "GET",
         resource: str = "/{proxy+}") -> dict[str, Any]:  # fmt: skip
    params = {"proxy": path[1:]} if resource == "/{proxy+}" else None
    return request_authorizer(verb, path, resource=resource, path_params=params, token=bearer,
                              source_ip=source_ip)  # fmt: skip


# -- 1. Routes.reads_request: never memoized, denied under a blind result cache ---------------


COMPOSED = {
    "and": roles("staff") & OFFICE_ONLY,
    "or": roles("auditor") | OFFICE_ONLY,
    "not-not": ~~OFFICE_ONLY,
    "and-or": (roles("staff") | roles("ops")) & (OFFICE_ONLY | roles("auditor")),
}


@pytest.mark.parametrize("name", sorted(COMPOSED))
def test_composed_contractor_rules_are_never_memoized(name: str) -> None:
    """``&``, ``|`` and ``~`` around a rule that reads the request for contractors only:
    every composition's ``bindings`` is None for a contractor, so the office allow is not
    replayed to the same token from elsewhere (the memo keys the token and target only)."""
    routes = Routes({"GET /reports": COMPOSED[name], "GET /health": public()})
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=routes, decision_log=None)
    assert allowed(auth, rest("/reports", source_ip=OFFICE, resource="/reports"))
    assert not allowed(auth, rest("/reports", source_ip=ELSEWHERE, resource="/reports"))
    assert routes.reads_request(Principal("carl", roles={"contractor", "staff"}), ["GET /reports"])


def test_a_default_rule_reading_the_request_for_contractors_is_never_memoized() -> None:
    routes = Routes({"GET /health": public()}, default=roles("staff") & OFFICE_ONLY)
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=routes, decision_log=None)
    assert allowed(auth, rest("/reports/q3", source_ip=OFFICE))
    assert not allowed(auth, rest("/reports/q3", source_ip=ELSEWHERE))


@pytest.mark.parametrize("spelling", ["/REPORTS", "/reports;v=1", "/Reports;jsessionid=1"])
def test_an_ambiguous_reading_onto_a_contractor_route_is_never_memoized(spelling: str) -> None:
    """The request reaches the catch-all as written and the contractor route read as the
    literal: the second reading reads the request, so the allow is not memoized."""
    routes = Routes({"GET /reports": OFFICE_ONLY, "ANY /{proxy+}": authenticated()})
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=routes, decision_log=None)
    assert allowed(auth, rest(spelling, source_ip=OFFICE))
    assert not allowed(auth, rest(spelling, source_ip=ELSEWHERE))


@pytest.mark.parametrize(
    ("table", "path"),
    [
        ({"GET /reports": roles("staff") & OFFICE_ONLY}, "/reports"),
        ({"GET /reports": ~~OFFICE_ONLY, "ANY /{proxy+}": authenticated()}, "/REPORTS"),
        ({"GET /reports": OFFICE_ONLY, "ANY /{proxy+}": authenticated()}, "/reports;v=1"),
        ({"GET /health": public(), "default": roles("staff") & OFFICE_ONLY}, "/reports"),
    ],
    ids=["composed", "case-variant", "semicolon-variant", "default-rule"],
)
def test_under_a_blind_result_cache_no_contractor_allow_is_answered(
    table: dict[str, Rule], path: str
) -> None:
    """``cache_ttl > 0`` without ``cache_key_covers_request``: the office allow would be
    cached for the token's requests from anywhere; it is a 403 instead (its own ARN
    denied), while a staff member without the contractor role is still allowed."""
    default = table.pop("default", None)
    routes = Routes(table, default=default)
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=routes, cache_ttl=300, decision_log=None)
    assert not allowed(auth, rest(path, source_ip=OFFICE))
    staff = token("sam", role_names=("staff",))
    assert allowed(auth, rest(path, source_ip=ELSEWHERE, bearer=staff))


def test_a_contractors_cached_plan_never_covers_the_request_reading_route() -> None:
    """Planned from another route's request: the plan allows the catch-all (GET only on
    its own ARN, as the contractor route is GET) but never the route whose rule reads the
    request for this caller, in any spelling."""
    routes = Routes({"GET /reports": OFFICE_ONLY, "ANY /{proxy+}": authenticated()})
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=routes, cache_ttl=300, decision_log=None)
    event = rest("/orders/7", source_ip=OFFICE)
    answer = auth.handler(event, None)
    arn = event["methodArn"].rsplit("/GET/", 1)[0]
    assert iam_allows(answer["policyDocument"], event["methodArn"])
    assert iam_allows(answer["policyDocument"], f"{arn}/DELETE/orders/8")
    for sneaky in ("/GET/reports", "/GET/REPORTS", "/GET/reports;x"):
        assert not iam_allows(answer["policyDocument"], arn + sneaky), sneaky


def test_a_websocket_route_key_reading_the_request_is_never_memoized() -> None:
    routes = Routes({"$connect": roles("staff") & OFFICE_ONLY, "$default": authenticated()})
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=routes, decision_log=None)
    assert allowed(auth, websocket_connect(token=CONTRACTOR, source_ip=OFFICE))
    assert not allowed(auth, websocket_connect(token=CONTRACTOR, source_ip=ELSEWHERE))


@pytest.mark.parametrize("cache_ttl", [0, 300])
def test_a_bindings_that_raises_for_the_caller_fails_closed(cache_ttl: int) -> None:
    routes = Routes({"GET /reports": BrokenForContractors(), "GET /health": public()})
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=routes, cache_ttl=cache_ttl,
                      decision_log=None)  # fmt: skip
    assert not allowed(auth, rest("/reports", source_ip=OFFICE, resource="/reports"))
    assert not allowed(auth, rest("/reports", source_ip=ELSEWHERE, resource="/reports"))


# -- 2. certificate-bound tokens under caching ------------------------------------------------


@pytest.mark.parametrize(
    "constraint", [None, SenderConstraint(), SenderConstraint(mtls=False)], ids=repr
)
def test_a_certificate_bound_token_without_a_certificate_is_refused_under_caching(
    constraint: SenderConstraint | None,
) -> None:
    """A TOKEN authorizer never sees a certificate: a certificate-bound token gets no
    cached answer, whether the constraint is left out, given or turned off."""
    bound = token("dev", role_names=("staff",), cnf={"x5t#S256": "A" * 43})
    routes = Routes({"ANY /{proxy+}": authenticated()})
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=routes, cache_ttl=300, decision_log=None,
                      cache_key_covers_request=True, sender_constraint=constraint)  # fmt: skip
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {bound}",
             "methodArn": rest("/x", source_ip=OFFICE)["methodArn"]}  # fmt: skip
    with pytest.raises(Unauthorized):
        auth.handler(event, None)


# -- 3. Guard(verifier, trust_authorizer=True): a context without a token ---------------------


ROUTES = Routes({"GET /admin/users": roles("admin"), "ANY /{proxy+}": authenticated()})


def forged_rest_event(**sent: Any) -> dict[str, Any]:
    event = rest_proxy("GET", "/admin/users", resource="/admin/users", **sent)
    event["requestContext"]["authorizer"] = forged_admin_context()
    return event


def as_websocket_message(event: dict[str, Any]) -> dict[str, Any]:
    """The same REST event, plus the two fields that make ``detect_kind`` call it a
    WebSocket message (whoever writes the event writes these too)."""
    event["requestContext"].update(eventType="MESSAGE", connectionId="AAAA=", routeKey="$default")
    return event


async def echo_async(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": principal.id}


@pytest.mark.parametrize("shape", ["no-routes", "require", "default-rule", "async"])
def test_a_rest_event_dressed_as_a_websocket_message_needs_its_token(shape: str) -> None:
    """Review 54's fix refuses a context that comes without a token, except on WebSocket
    messages. ``detect_kind`` calls any event without ``type`` whose ``requestContext``
    has ``eventType: MESSAGE`` and a string ``connectionId`` a WebSocket message; whoever
    can invoke the function (the very caller the fix is about: another principal with
    ``lambda:InvokeFunction``, a non-proxy integration's passthrough body) adds the two
    fields to a REST proxy event and leaves the token out. The guard, deployed for a REST
    API, takes the forged admin context; the handler (or a framework routing on
    ``httpMethod``/``path``) serves ``GET /admin/users``."""
    event = as_websocket_message(forged_rest_event())
    if shape == "no-routes":
        answer = both()(echo)(event, None)
    elif shape == "require":
        answer = both().require(roles("admin"))(echo)(event, None)
    elif shape == "default-rule":
        table = Routes({"GET /admin/users": roles("admin")}, default=authenticated())
        answer = both(routes=table)(echo)(event, None)
    else:
        answer = asyncio.run(both().require(roles("admin"))(echo_async)(event, None))
    assert answer["statusCode"] == 400  # fixed: an event shaped both ways is no event
    assert answer.get("body") != "root"


def test_a_powertools_route_guard_refuses_a_rest_event_dressed_as_a_websocket_message() -> None:
    """``APIGatewayRestResolver`` routes on ``httpMethod`` and ``path``, which the event
    keeps; secauth reads it as a WebSocket message and takes the forged context."""
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from secauth import current_principal
    from secauth.integrations.powertools import guard_middleware

    app = APIGatewayRestResolver()

    @app.get("/admin/users", middlewares=[guard_middleware(both().require(roles("admin")))])
    def users() -> dict[str, str]:
        return {"id": current_principal().id}

    plain = app.resolve(forged_rest_event(), None)
    assert plain["statusCode"] == 401  # the fix, on the REST shape
    answer = app.resolve(as_websocket_message(forged_rest_event()), None)
    assert answer["statusCode"] in (400, 401)
    assert "root" not in str(answer.get("body"))


def test_a_powertools_global_guard_with_a_rest_table_does_not_serve_the_dressed_event() -> None:
    """Resisted when the guard has an HTTP route table: a WebSocket message is decided by
    its route key, and no HTTP route has one (404)."""
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from secauth import current_principal
    from secauth.integrations.powertools import guard_middleware

    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(both(routes=ROUTES))])

    @app.get("/admin/users")
    def users() -> dict[str, str]:
        return {"id": current_principal().id}

    for route_key in ("$default", "GET", "GET /admin/users"):
        event = as_websocket_message(forged_rest_event())
        event["requestContext"]["routeKey"] = route_key
        answer = app.resolve(event, None)
        assert answer["statusCode"] in (400, 401, 403, 404), route_key
        assert "root" not in str(answer.get("body"))


def test_a_guard_with_a_rest_table_does_not_serve_the_dressed_event() -> None:
    answer = both(routes=ROUTES)(echo)(as_websocket_message(forged_rest_event()), None)
    assert answer["statusCode"] in (400, 401, 403, 404)
    assert answer.get("body") != "root"


@pytest.mark.parametrize(
    "sent",
    [
        {"authorization": "Bearer "},
        {"authorization": "Bearer"},
        {"authorization": "Basic cm9vdDpyb290"},
        {"authorization": "Bearer not-a-jwt"},
        {"query": {"access_token": "whatever"}},
        {"cookies": ["access_token=whatever"]},
        {"headers": {"x-api-key": "k-123"}},
    ],
    ids=["empty-bearer", "bare-scheme", "basic", "garbage", "query", "cookie", "api-key"],
)
def test_a_forged_context_beside_no_usable_token_is_refused(sent: dict[str, Any]) -> None:
    answer = both(routes=ROUTES)(echo)(forged_rest_event(**sent), None)
    assert answer["statusCode"] == 401
    assert answer.get("body") != "root"


def test_guard_check_and_the_async_path_refuse_a_forged_context_alone() -> None:
    guard = both(routes=ROUTES)
    with pytest.raises(MissingToken):
        guard.check(forged_rest_event())
    answer = asyncio.run(guard(echo_async)(forged_rest_event(), None))
    assert answer["statusCode"] == 401


def test_a_forged_context_on_a_websocket_connect_or_http_api_event_needs_its_token() -> None:
    """``$connect`` carries the token (only messages are excepted); an HTTP API event
    dressed as a ``CONNECT`` is read as one and refused too."""
    connect = websocket_connect(source_ip=OFFICE)
    del connect["type"], connect["methodArn"]
    connect["requestContext"]["authorizer"] = forged_admin_context()
    routes = Routes({"$connect": authenticated()})
    answer = both(routes=routes)(echo)(connect, None)
    assert answer["statusCode"] == 401
    http = http_proxy("GET", "/admin/users", route_key="GET /admin/users")
    http["requestContext"]["authorizer"] = {"lambda": forged_admin_context()}
    assert both(routes=ROUTES)(echo)(http, None)["statusCode"] == 401


def test_a_named_tokenless_kind_does_not_admit_another_kind() -> None:
    """``context_without_token={"api_key"}``: a forged ``client_cert`` or user context is
    still refused without a token."""
    guard = both(routes=ROUTES, context_without_token={"api_key"})(echo)
    for kind in ("client_cert", "user", "service"):
        principal = Principal("root", roles={"admin"}, issuer=ISS, kind=kind,
                              claims={"exp": 4_000_000_000})  # fmt: skip
        event = rest_proxy("GET", "/admin/users", resource="/admin/users")
        event["requestContext"]["authorizer"] = {"principalId": "root", **principal.to_context()}
        assert guard(event, None)["statusCode"] == 401, kind


# -- 4. ';' path parameters ------------------------------------------------------------------

SEMI_ROUTES = Routes(
    {
        "GET /admin/users": roles("admin"),
        "GET /public/{proxy+}": public(),
        "ANY /tenants/{tenantId}/{proxy+}": tenant(path="tenantId") & roles("member"),
        "ANY /{proxy+}": authenticated(),
    }
)
MEMBER = Principal("bob", tenant="acme", roles={"member"})


@pytest.mark.parametrize(
    "path",
    [
        "/ADMIN;x/USERS",
        "/admin;a;b/users",
        "/%61dmin;x/users",
        "/admin;/users",
        "/admin;x=/users",
        "/public/..;x=1/admin/users",
        "/public/.;/admin/users",
        "/public/x/..;/..;/admin/users",
        "/tenants/acme/..;/globex/orders",
        "/tenants/acme/;x/globex",
        "/public/%2e%2e;/admin/users",
    ],
)
def test_semicolon_spellings_do_not_reach_another_route(path: str) -> None:
    """As the Routes table, the REST Authorizer and the Guard read them: refused, or read
    without the ``;`` parameters too."""
    assert not SEMI_ROUTES.decide(MEMBER, "GET", path).allowed
    member = token("bob", role_names=("member",))
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=SEMI_ROUTES, decision_log=None)
    assert not allowed(auth, rest(path, source_ip=OFFICE, bearer=member))
    event = rest_proxy("GET", path, resource="/{proxy+}", path_params={"proxy": path[1:]},
                       token=member)  # fmt: skip
    guard = Guard(VERIFIER, claims=CLAIMS, routes=SEMI_ROUTES, decision_log=None)
    assert guard(echo)(event, None)["statusCode"] in (403, 404)


def test_an_http_api_passing_a_decoded_semicolon_is_refused_by_the_guard() -> None:
    """``/public/..%3B/admin/users`` reaches an HTTP API backend decoded (the docs: HTTP
    APIs pass the path decoded), as ``..;``: refused there."""
    member = token("bob", role_names=("member",))
    event = http_proxy("GET", "/public/..;/admin/users", route_key="GET /public/{proxy+}",
                       path_params={"proxy": "..;/admin/users"}, token=member)  # fmt: skip
    guard = Guard(VERIFIER, claims=CLAIMS, routes=SEMI_ROUTES, decision_log=None)
    assert guard(echo)(event, None)["statusCode"] in (403, 404)


@pytest.mark.parametrize("kind", ["rest", "http-v2"])
def test_a_cached_plan_never_allows_a_semicolon_path(kind: str) -> None:
    member = token("bob", role_names=("member",))
    auth = Authorizer(VERIFIER, claims=CLAIMS, routes=SEMI_ROUTES, cache_ttl=300,
                      decision_log=None, cache_key_covers_route=True)  # fmt: skip
    if kind == "rest":
        event = rest("/tenants/acme/orders", source_ip=OFFICE, bearer=member,
                     resource="/tenants/{tenantId}/{proxy+}")  # fmt: skip
        event["pathParameters"] = {"tenantId": "acme", "proxy": "orders"}
        arn = event["methodArn"]
    else:
        event = http_authorizer_v2("GET", "/tenants/acme/orders",
                                   route_key="ANY /tenants/{tenantId}/{proxy+}",
                                   path_params={"tenantId": "acme", "proxy": "orders"},
                                   token=member)  # fmt: skip
        arn = event["routeArn"]
    document = auth.handler(event, None)["policyDocument"]
    base = arn.rsplit("/GET/", 1)[0]
    assert iam_allows(document, arn)
    if kind == "rest":  # an HTTP API's cached answer names only its own ARN (review 70)
        assert iam_allows(document, f"{base}/GET/tenants/acme/orders/7")
        denied = {r for s in document["Statement"] if s["Effect"] == "Deny" for r in s["Resource"]}
        assert f"{base}/{SEMICOLON_PATHS}" in denied
    for sneaky in ("/GET/tenants/acme;x/orders", "/GET/tenants/acme/x;y", "/GET/admin;x/users",
                   "/DELETE/tenants/acme/..;/globex", "/GET/public/..;/admin/users"):  # fmt: skip
        assert not iam_allows(document, base + sneaky), sneaky


def test_a_tenant_named_with_a_semicolon_does_not_reach_the_tenant_before_it() -> None:
    """Review 54 reads a *literal* with ``;`` parameters both ways, but not a parameter:
    a tenant whose verified name is ``acme;x`` (self-service sign-up taking slugs with
    ``;``, since ``acme`` was taken) calls ``/tenants/acme;x/orders``; ``tenant(path=...)``
    compares ``acme;x`` and allows, and Tomcat, Jetty or Spring behind the integration
    drop ``;x`` and serve acme's orders. The Authorizer (cache_ttl=0, and the method ARN
    alone under caching) and the Guard allow it alike."""
    eve = Principal("eve", tenant="acme;x", roles={"member"})
    assert not SEMI_ROUTES.decide(eve, "GET", "/tenants/acme;x/orders").allowed


@pytest.mark.parametrize("marker", ["httpMethod", "path", "resource", "rawPath", "http"])
def test_an_event_shaped_both_as_websocket_and_http_is_unsupported(marker: str) -> None:
    """The fix at its root: ``detect_kind`` refuses a WebSocket-shaped event that also
    names an HTTP request (no WebSocket event does); a genuine message still reads."""
    from secauth.events import EventKind, UnsupportedEvent, detect_kind
    from secauth.testing_events import websocket_message

    genuine = websocket_message("sendmessage", "{}")
    assert detect_kind(genuine) is EventKind.WEBSOCKET
    dressed: dict[str, Any] = {**genuine, "requestContext": dict(genuine["requestContext"])}
    if marker == "http":
        dressed["requestContext"]["http"] = {"method": "GET", "path": "/admin/users"}
    else:
        dressed[marker] = "GET" if marker == "httpMethod" else "/admin/users"
    with pytest.raises(UnsupportedEvent):
        detect_kind(dressed)
