"""Review 66: reviews 64 and 65's fixes attacked.

96255d9 (review 65): HTTP APIs hand the path over decoded once, and ``Routes`` takes their
path parameters as they arrive (``Request.path_decoded``). 7fe06dc (review 64): the guard's
own headers are merged with ``add_headers``, every spelling of ``Vary`` gets ``Origin``,
``SecurityHeaders`` values must be printable, introspection ``token_type`` compared
trimmed and case-blind.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour:

* an HTTP API path parameter holding ``{`` or ``}`` is read a second time from the routed
  path, where ``routed_path`` writes them ``%7B``/``%7D``; since review 65 that reading is
  no longer decoded, so the Guard and the Authorizer see ``%7Bx%7D`` (which the backend
  never sees) and refuse a request ``Routes.decide`` allows (a regression);
* a handler ``Vary`` that is not a string (``None``, a number, a list holding ``None``) is
  left as it is: a CORS answer naming an allowed origin goes out without ``Vary: Origin``;
* an HTTP API payload 1.0 authorizer event is told from a REST one by ``identitySource``
  alone: without that key it is read as REST, and its decoded path decoded again.

The attacks that held are plain tests. Real objects and events; no mocks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from secauth import Authorizer, Guard, JwtVerifier, Routes
from secauth.access import authenticated, tenant
from secauth.client_auth import ClientAuth
from secauth.errors import ConfigurationError
from secauth.events import EventKind, Request
from secauth.guard_http import add_headers
from secauth.introspection import IntrospectionVerifier
from secauth.principal import ClaimMapper, Principal
from secauth.ratelimit import RateLimiter
from secauth.ratelimit.routes import RouteLimits
from secauth.responses import Cors, SecurityHeaders
from secauth.rules import rule
from secauth.testing import KeyPair
from secauth.testing_events import (
    alb,
    function_url,
    http_authorizer_v1,
    http_authorizer_v2,
    http_proxy,
    on_custom_domain,
    rest_proxy,
    websocket_message,
)

ISS, AUD = "https://idp.review66.example/", "api"
PAIR = KeyPair.generate("ES256", kid="r66")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
MAPPER = ClaimMapper(tenant_claim="tenant")
TOKEN = PAIR.sign({"iss": ISS, "aud": AUD, "sub": "alice", "tenant": "acme", "exp": 4_000_000_000})
TEMPLATE = "/tenants/{tenantId}/orders"
ROUTES = Routes({f"GET {TEMPLATE}": tenant(path="tenantId"), "ANY /{proxy+}": authenticated()})
APP = "https://app.example.com"


def status(routes: Routes, event: dict[str, Any], **options: Any) -> int:
    guard = Guard(VERIFIER, routes=routes, claims=MAPPER, decision_log=None, **options)

    @guard
    def handler(event: dict[str, Any], context: object, principal: Principal) -> dict[str, Any]:
        return {"statusCode": 200, "body": json.dumps(event.get("pathParameters"))}

    return int(handler(event, None)["statusCode"])


def effect(routes: Routes, event: dict[str, Any]) -> str:
    authorizer = Authorizer(VERIFIER, routes=routes, claims=MAPPER, decision_log=None)
    answer = authorizer.handler(event, None)
    return str(answer["policyDocument"]["Statement"][0]["Effect"])


def routed_http(segment: str) -> dict[str, Any]:
    return http_proxy("GET", f"/tenants/{segment}/orders", route_key=f"GET {TEMPLATE}",
                      path_params={"tenantId": segment}, token=TOKEN)  # fmt: skip


# =========================================================================================
# Findings
# =========================================================================================

BRACES = Routes({"GET /files/{name}": rule(lambda p, c: c.params["name"] == "{x}")})


def test_a_braced_http_value_is_served_by_the_guard_as_routes_decide_allows_it() -> None:
    """The client sends ``/files/%7Bx%7D``; the HTTP API hands over ``/files/{x}`` and
    ``pathParameters.name == "{x}"``, which the backend reads. ``routed_path`` fills the
    route with ``%7Bx%7D`` (never a placeholder) and, with ``decoded=True`` since review
    65, the rule reads ``%7Bx%7D`` on that reading and refuses."""
    event = http_proxy("GET", "/files/{x}", route_key="GET /files/{name}",
                       path_params={"name": "{x}"}, token=TOKEN)  # fmt: skip
    assert BRACES.decide(Principal("u"), "GET", "/files/{x}", Request.from_event(event)).allowed
    assert status(BRACES, event) == 200


def test_a_braced_http_value_is_allowed_by_the_authorizer() -> None:
    event = http_authorizer_v2("GET", "/files/{x}", route_key="GET /files/{name}",
                               path_params={"name": "{x}"}, token=TOKEN)  # fmt: skip
    assert effect(BRACES, event) == "Allow"


def cors_answer(vary: Any) -> dict[str, Any]:
    guard = Guard(VERIFIER, routes=Routes({"GET /me": authenticated()}),
                  cors=Cors(allow_origins=[APP]), decision_log=None)  # fmt: skip

    @guard
    def me(event: dict[str, Any], context: object, principal: Principal) -> dict[str, Any]:
        return {"statusCode": 200, "headers": {"Vary": vary}, "body": "x"}

    answer: dict[str, Any] = me(
        http_proxy("GET", "/me", headers={"authorization": f"Bearer {TOKEN}", "origin": APP}), None
    )
    return answer


@pytest.mark.parametrize("vary", [None, 0, ["Accept-Encoding", None]], ids=["none", "int", "list"])
def test_a_non_string_handler_vary_still_varies_on_origin(vary: Any) -> None:
    answer = cors_answer(vary)
    assert answer["headers"]["Access-Control-Allow-Origin"] == APP
    values = [v for k, v in answer["headers"].items() if k.lower() == "vary"]
    assert values
    assert all("origin" in str(v).lower() for v in values)


def test_an_http_authorizer_v1_event_without_identity_source_is_not_decoded_twice() -> None:
    """Sent ``/tenants/acm%2565/orders``: the HTTP API passes ``acm%65``. Read as a REST
    REQUEST event (no ``identitySource`` key), the value is decoded again to ``acme``."""
    event = http_authorizer_v1("GET", "/tenants/acm%65/orders", resource=TEMPLATE,
                               path_params={"tenantId": "acm%65"}, token=TOKEN)  # fmt: skip
    del event["identitySource"]
    assert effect(ROUTES, event) == "Deny"


# =========================================================================================
# Held: the same client request on every event kind
# =========================================================================================


def test_braces_in_a_rest_value_are_served() -> None:
    """REST passes values as sent; the routed reading decodes ``%7B`` alike."""
    event = rest_proxy("GET", "/files/%7Bx%7D", resource="/files/{name}",
                       path_params={"name": "%7Bx%7D"}, token=TOKEN)  # fmt: skip
    assert status(BRACES, event) == 200


@pytest.mark.parametrize("segment", ["acm%65", "globex", "acme%2F..%2Fglobex"])
def test_a_default_route_on_a_named_stage_refuses_what_arrives_encoded(segment: str) -> None:
    event = http_proxy("GET", f"/tenants/{segment}/orders", stage="prod", token=TOKEN)
    assert status(ROUTES, event) in (403, 404)  # 404: a spelling refused everywhere
    auth = http_authorizer_v2("GET", f"/tenants/{segment}/orders", stage="prod", token=TOKEN)
    auth["routeArn"] = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/$default"
    assert effect(ROUTES, auth) == "Deny"


def test_a_default_route_on_a_named_stage_serves_my_tenant() -> None:
    event = http_proxy("GET", "/tenants/acme/orders", stage="prod", token=TOKEN)
    assert status(ROUTES, event) == 200
    auth = http_authorizer_v2("GET", "/tenants/acme/orders", stage="prod", token=TOKEN)
    auth["routeArn"] = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/$default"
    assert effect(ROUTES, auth) == "Allow"


@pytest.mark.parametrize(("segment", "expected"), [("acme", 200), ("acm%65", 403), ("globex", 403)])
def test_an_http_api_mapping_on_a_custom_domain_reads_the_value_as_it_arrives(
    segment: str, expected: int
) -> None:
    event = on_custom_domain(routed_http(segment), "api.review66.example", base_path="v1")
    assert status(ROUTES, event) == expected


@pytest.mark.parametrize(
    "build",
    [lambda p: alb("GET", p, token=TOKEN), lambda p: function_url("GET", p, token=TOKEN)],
    ids=["alb", "function-url"],
)
def test_alb_and_function_urls_pass_the_path_as_sent_and_decode_it_once(
    build: Callable[[str], dict[str, Any]],
) -> None:
    """Both keep the client's encoding: ``acm%65`` is ``acme`` to a backend decoding once,
    and ``acm%2565`` (``acm%65`` once decoded) is refused."""
    assert not Request.from_event(build("/a")).path_decoded
    assert status(ROUTES, build("/tenants/acm%65/orders")) == 200
    assert status(ROUTES, build("/tenants/acm%2565/orders")) in (403, 404)
    assert status(ROUTES, build("/tenants/glob%65x/orders")) == 403


def test_a_forged_version_on_a_rest_event_only_refuses_more() -> None:
    """A REST-shaped event claiming payload 1.0 is read as an HTTP API's: its values are
    taken as they come, and a ``%`` left in a tenant is refused; never another tenant."""
    for segment, plain in (("acm%65", 200), ("glob%65x", 403), ("globex", 403)):
        event = rest_proxy("GET", f"/tenants/{segment}/orders", resource=TEMPLATE,
                           path_params={"tenantId": segment}, token=TOKEN)  # fmt: skip
        assert status(ROUTES, event) == plain
        event["version"] = "1.0"
        assert Request.from_event(event).path_decoded
        assert status(ROUTES, event) == (200 if segment == "acme" else 403)


def test_websocket_and_token_kinds_claim_no_decoded_path() -> None:
    message = Request.from_event(websocket_message("sendmessage"))
    assert message.kind is EventKind.WEBSOCKET
    assert not message.path_decoded
    assert Request(EventKind.TOKEN_AUTHORIZER, {"version": "1.0"}).path_decoded is False
    # a REST REQUEST authorizer event carries no version; with one it may be an HTTP API's
    # (finding 3): its values are then taken as they arrive
    assert Request(EventKind.REST_REQUEST_AUTHORIZER, {}).path_decoded is False
    assert Request(EventKind.REST_REQUEST_AUTHORIZER, {"version": "1.0"}).path_decoded is True


def test_a_route_limit_counts_a_decoded_http_value_on_its_route() -> None:
    """Route-level limits look routes up without ``decoded``: only the route matters."""
    limiter = RateLimiter.per_ip("1/minute", deny_cache=False)
    limits = RouteLimits({f"GET {TEMPLATE}": limiter}, ROUTES)
    assert limits.for_path("GET", "/tenants/acm%65/orders") == (limiter,)
    assert limits.for_path("GET", "/tenants/acme/orders") == (limiter,)
    assert limits.for_path("GET", "/tenants/acme/invoices") == ()


def test_the_guard_and_the_authorizer_agree_on_http_values_for_a_custom_rule() -> None:
    """Any rule reads what the backend reads on an HTTP API: ``%61dmin`` is no ``admin``."""
    seen: list[str] = []
    table = Routes({"GET /users/{name}": rule(lambda p, c: seen.append(c.params["name"]) or True)})
    event = http_proxy("GET", "/users/%61dmin", route_key="GET /users/{name}",
                       path_params={"name": "%61dmin"}, token=TOKEN)  # fmt: skip
    assert status(table, event) == 200
    auth = http_authorizer_v2("GET", "/users/%61dmin", route_key="GET /users/{name}",
                              path_params={"name": "%61dmin"}, token=TOKEN)  # fmt: skip
    assert effect(table, auth) == "Allow"
    assert set(seen) == {"%61dmin"}


# =========================================================================================
# Held: header merging and values (7fe06dc)
# =========================================================================================


def test_every_spelling_of_a_handler_vary_gets_origin_once() -> None:
    headers: dict[str, Any] = {"Vary": "Accept", "vary": "origin", "VARY": "", "vArY": ["x"]}
    add_headers(headers, {"Vary": "Origin"})
    assert headers == {"Vary": "Accept, Origin", "vary": "origin", "VARY": "Origin",
                       "vArY": ["x, Origin"]}  # fmt: skip


def test_a_huge_header_map_is_merged_once_each() -> None:
    headers: dict[str, Any] = {f"X-H{i}": str(i) for i in range(5000)}
    headers["Vary"] = "Accept-Encoding"
    add_headers(headers, {"Vary": "Origin", "X-Frame-Options": "DENY", "X-H7": "ours"})
    assert len(headers) == 5002
    assert headers["X-H7"] == "7"
    assert headers["Vary"] == "Accept-Encoding, Origin"


def test_non_string_handler_header_names_are_kept_and_ours_added() -> None:
    headers: dict[Any, Any] = {1: "one", None: "none", "vary": "Accept"}
    add_headers(headers, {"Vary": "Origin", "X-Content-Type-Options": "nosniff"})
    assert headers == {1: "one", None: "none", "vary": "Accept, Origin",
                       "X-Content-Type-Options": "nosniff"}  # fmt: skip


def test_a_vary_star_from_security_headers_is_left_alone_by_cors() -> None:
    guard = Guard(VERIFIER, routes=Routes({"GET /me": authenticated()}),
                  cors=Cors(allow_origins=[APP]), decision_log=None,
                  security_headers=SecurityHeaders(extra={"Vary": "*"}))  # fmt: skip

    @guard
    def me(event: dict[str, Any], context: object, principal: Principal) -> dict[str, Any]:
        return {"statusCode": 200, "body": "x"}

    answer = me(http_proxy("GET", "/me", headers={"authorization": f"Bearer {TOKEN}",
                                                 "origin": APP}), None)  # fmt: skip
    varies = [v for k, v in answer["headers"].items() if k.lower() == "vary"]
    assert varies == ["*"]


@pytest.mark.parametrize(
    "value",
    ["a\u202eb", "a\ufeffb", "a\u00a0b", "a\u200bb", "a\ud800b", "a\ue000b", "a\u2029b", "a\x85b"],
    ids=["rlo", "bom", "nbsp", "zwsp", "surrogate", "private-use", "para-sep", "nel"],
)
def test_security_header_values_refuse_invisible_and_format_characters(value: str) -> None:
    with pytest.raises(ConfigurationError):
        SecurityHeaders(extra={"X-Note": value})


def test_security_header_values_keep_tabs_and_printable_text() -> None:
    headers = SecurityHeaders(extra={"X-Note": "caf\u00e9\tok"}).headers()
    assert headers["X-Note"] == "caf\u00e9\tok"


@pytest.mark.parametrize("token_type", [" DPoP ", "\tdpop\n", "\u00a0DPOP"])
def test_a_dpop_token_type_in_any_spacing_needs_bound_tokens(token_type: str) -> None:
    with pytest.raises(ConfigurationError):
        IntrospectionVerifier(issuer="https://as.review66.example", audience=AUD,
                              client=ClientAuth.basic("c", "s"),
                              endpoint="https://as.review66.example/introspect",
                              token_type=token_type)  # fmt: skip
