"""End to end through serverless-offline: real HTTP requests to the example app on loopback.

The example app (``examples/serverless``) runs under the API Gateway emulator
``serverless-offline``; its authorizers and functions import secauth from this
checkout and verify tokens issued by a :class:`~secauth.testing.LocalIssuer`.
Rejections are also checked against the decision line the handler logged, so a
401 caused by a crash or a timeout does not pass for a correct rejection.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from e2e_harness import REGION, STAGE, Offline, _unavailable
from guard_events import rest_v1

from secauth.testing import KeyPair

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADMIN: dict[str, Any] = {"sub": "alice", "tenant": "t1", "roles": ["admin"]}
READER: dict[str, Any] = {"sub": "bob", "tenant": "t2", "roles": ["reader"]}


def _forged(offline: Offline, **claims: Any) -> str:
    """Signed by an attacker's key that claims the issuer's kid."""
    now = int(time.time())
    attacker = KeyPair.generate("RS256", kid=offline.issuer.key.kid)
    body = {"iss": offline.issuer.issuer, "aud": "secauth-example", "iat": now, "exp": now + 300}
    return attacker.sign({**body, **claims})


def _expired(offline: Offline) -> str:
    now = int(time.time())
    return offline.token(**ADMIN, iat=now - 600, exp=now - 300)


def _unknown_kid(offline: Offline) -> str:
    now = int(time.time())
    stranger = KeyPair.generate("RS256", kid="not-published")
    body = {"iss": offline.issuer.issuer, "aud": "secauth-example", "iat": now, "exp": now + 300}
    return stranger.sign({**body, **ADMIN})


def _assert_rejected_by_handler(
    offline: Offline, start: int, reason: str, decision: str, secret: str | None
) -> None:
    """The handler logged exactly one decision, with ``reason``, and the token went nowhere."""
    decisions = offline.decisions_since(start)
    assert [(d["decision"], d["reason"]) for d in decisions] == [(decision, reason)]
    if secret:
        assert secret not in offline.log_since(start)


# --- REST API: the principal reaches the backend ------------------------------------


def test_token_authorizer_passes_principal_to_backend(offline: Offline) -> None:
    """GET /whoami behind the TOKEN authorizer: 200 and the authorizer's context verbatim."""
    reply = offline.rest("GET", "/whoami", token=offline.token(**ADMIN, scope="orders:read"))
    assert reply.status == 200, reply.text
    assert reply.json() == {
        "sub": "alice",
        "tenant": "t1",
        "roles": ["admin"],
        "scopes": ["orders:read"],
    }


def test_request_authorizer_passes_principal_to_backend(offline: Offline) -> None:
    """GET /request/whoami behind the REQUEST authorizer: 200 and the principal."""
    reply = offline.rest("GET", "/request/whoami", token=offline.token(**READER))
    assert reply.status == 200, reply.text
    assert reply.json() == {"sub": "bob", "tenant": "t2", "roles": ["reader"], "scopes": []}


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        pytest.param({"roles": ["reader"]}, 200, id="role-reader"),
        pytest.param({"roles": ["admin"]}, 200, id="role-admin"),
        pytest.param({"scope": "profile orders:read"}, 200, id="scope-orders-read"),
        pytest.param({"roles": ["guest"], "scope": "orders:write"}, 403, id="neither"),
    ],
)
def test_orders_need_role_or_scope(offline: Offline, claims: dict[str, Any], status: int) -> None:
    """GET /orders: 200 for role reader/admin or scope orders:read, 403 otherwise."""
    reply = offline.rest("GET", "/orders", token=offline.token(sub="carol", tenant="t3", **claims))
    assert reply.status == status, reply.text
    if status == 200:
        assert reply.json()["principal"]["sub"] == "carol"
    else:
        assert "orders" not in reply.text  # the backend did not run


def test_admin_only_route_is_403_for_a_reader(offline: Offline) -> None:
    """DELETE /users/{id}: a valid reader token gets 403 (explicitly not allowed), not 401."""
    start = offline.log_size()
    reply = offline.rest("DELETE", "/users/42", token=offline.token(**READER))
    assert reply.status == 403, reply.text
    assert "deleted" not in reply.text
    assert [(d["decision"], d["reason"]) for d in offline.decisions_since(start)] == [
        ("deny", "forbidden")
    ]


def test_admin_only_route_is_200_for_an_admin(offline: Offline) -> None:
    """DELETE /users/{id}: an admin reaches the backend, which sees the path parameter."""
    reply = offline.rest("DELETE", "/users/42", token=offline.token(**ADMIN))
    assert reply.status == 200, reply.text
    assert reply.json() == {"deleted": "42", "by": "alice"}


# --- REST API: 401 -------------------------------------------------------------------

TokenFactory = Callable[[Offline], str]

REJECTED: list[Any] = [
    pytest.param("Basic dXNlcjpwYXNz", "malformed_token", id="basic-scheme"),
    pytest.param(lambda o: "Bearer not-a-jwt", "malformed_token", id="garbage"),
    pytest.param(lambda o: f"Bearer {_forged(o, **ADMIN)}", "invalid_signature", id="forged"),
    pytest.param(lambda o: f"Bearer {_expired(o)}", "token_expired", id="expired"),
    pytest.param(
        lambda o: f"Bearer {o.token(**ADMIN, aud='another-api')}", "invalid_audience", id="audience"
    ),
    pytest.param(lambda o: f"Bearer {_unknown_kid(o)}", "unknown_key", id="unknown-kid"),
]


@pytest.mark.parametrize(("header", "reason"), REJECTED)
def test_token_authorizer_401(
    offline: Offline, header: str | Callable[[Offline], str], reason: str
) -> None:
    """Bad credentials on the TOKEN authorizer: 401, with the authorizer's reason logged."""
    value = header(offline) if callable(header) else header
    start = offline.log_size()
    reply = offline.rest("GET", "/orders", headers={"Authorization": value})
    assert reply.status == 401, reply.text
    _assert_rejected_by_handler(offline, start, reason, "unauthorized", value.split()[-1])


def test_request_authorizer_401_for_a_forged_token(offline: Offline) -> None:
    """Bad credentials on the REQUEST authorizer: 401 with reason invalid_signature."""
    token = _forged(offline, **ADMIN)
    start = offline.log_size()
    reply = offline.rest("GET", "/request/whoami", token=token)
    assert reply.status == 401, reply.text
    _assert_rejected_by_handler(offline, start, "invalid_signature", "unauthorized", token)


@pytest.mark.parametrize("path", ["/orders", "/request/whoami"])
def test_missing_token_is_401_before_the_authorizer(offline: Offline, path: str) -> None:
    """No Authorization header: API Gateway answers 401 itself; no authorizer runs."""
    start = offline.log_size()
    reply = offline.rest("GET", path)
    assert reply.status == 401, reply.text
    assert offline.decisions_since(start) == []


# --- REST API: authorizer result caching across routes --------------------------------

ACCOUNT = "123456789012"
API_ID = "a1b2c3d4e5"
# The routes behind the cached TOKEN authorizer, as real requests (not templates).
CACHED_ROUTES = {"orders": ("GET", "/orders"), "users": ("DELETE", "/users/42"),
                 "whoami": ("GET", "/whoami")}  # fmt: skip
MAY_CALL = {"alice": {"orders", "users", "whoami"}, "bob": {"orders", "whoami"}}


def _method_arn(route: str) -> str:
    verb, path = CACHED_ROUTES[route]
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/{verb}{path}"


def _arn_matches(pattern: str, arn: str) -> bool:
    """API Gateway's Resource matching: ``*`` any run of characters, ``?`` any one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn) is not None


def _policy_allows(policy: dict[str, Any], arn: str) -> bool:
    """Does this IAM policy let ``arn`` through (an explicit Deny wins)?"""

    def listed(value: str | list[str]) -> list[str]:
        return [value] if isinstance(value, str) else value

    def hit(effect: str) -> bool:
        return any(
            statement["Effect"] == effect
            and set(listed(statement["Action"])) & {"execute-api:Invoke", "execute-api:*", "*"}
            and any(_arn_matches(resource, arn) for resource in listed(statement["Resource"]))
            for statement in policy["Statement"]
        )

    return not hit("Deny") and hit("Allow")


@pytest.mark.parametrize("first", sorted(CACHED_ROUTES))
@pytest.mark.parametrize("principal", [ADMIN, READER], ids=["admin", "reader"])
def test_cached_policy_is_right_for_every_route(
    offline: Offline, principal: dict[str, Any], first: str
) -> None:
    """With caching on, the policy from the first request must decide every later route.

    serverless-offline does not cache authorizer results, so this replays what API
    Gateway's cache does: the TOKEN authorizer runs once (through the emulator's
    Lambda Invoke API) for the first route, and its policy is evaluated for each
    route. A policy that allows only the first ``methodArn`` fails here (stale 403s);
    one that allows everything fails for the reader on DELETE /users/{id}.
    """
    token = offline.token(**principal)
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {token}",
             "methodArn": _method_arn(first)}  # fmt: skip
    result = offline.invoke("tokenAuthorizer", event)
    assert result["principalId"] == principal["sub"]
    decided = {route: _policy_allows(result["policyDocument"], _method_arn(route))
               for route in CACHED_ROUTES}  # fmt: skip
    assert decided == {route: route in MAY_CALL[principal["sub"]] for route in CACHED_ROUTES}


def test_same_token_on_two_routes_over_http(offline: Offline) -> None:
    """The same tokens across routes over HTTP: no 403 leaks from one route to another.

    (serverless-offline runs the authorizer on every request, so the cache itself is
    covered by ``test_cached_policy_is_right_for_every_route``.)
    """
    admin, reader = offline.token(**ADMIN), offline.token(**READER)
    assert offline.rest("GET", "/orders", token=admin).status == 200
    assert offline.rest("DELETE", "/users/7", token=admin).status == 200
    assert offline.rest("DELETE", "/users/7", token=reader).status == 403
    assert offline.rest("GET", "/orders", token=reader).status == 200
    assert offline.rest("GET", "/whoami", token=reader).json()["sub"] == "bob"


# --- HTTP API: Lambda authorizer, payload 2.0 simple responses --------------------------


def test_http_api_simple_response_context_reaches_backend(offline: Offline) -> None:
    """GET /v2/whoami: 200, and JSON (non-string) context values arrive intact. The table
    says ``integration_per_route=True``: the emulator's event names the route that ran
    (``routeKey``), which the decision holds the path to (else a 403)."""
    start = offline.log_size()
    reply = offline.request("GET", "/v2/whoami", token=offline.token(**ADMIN, scope="a b"))
    assert reply.status == 200, reply.text
    assert reply.json() == {"sub": "alice", "tenant": "t1", "roles": ["admin"], "scopes": ["a", "b"]}
    decisions = offline.decisions_since(start)
    assert [(d["decision"], d.get("route")) for d in decisions] == [("allow", "GET /v2/whoami")]


def test_http_api_forged_token_is_403(offline: Offline) -> None:
    """A simple-response authorizer can only say isAuthorized=false: API Gateway answers 403."""
    token = _forged(offline, **ADMIN)
    start = offline.log_size()
    reply = offline.request("GET", "/v2/whoami", token=token)
    assert reply.status == 403, reply.text
    _assert_rejected_by_handler(offline, start, "invalid_signature", "unauthorized", token)


def test_http_api_missing_token_is_401(offline: Offline) -> None:
    """No identity source on the HTTP API: 401 from API Gateway; no authorizer runs."""
    start = offline.log_size()
    reply = offline.request("GET", "/v2/whoami")
    assert reply.status == 401, reply.text
    assert offline.decisions_since(start) == []


# --- no authorizer: a Guard that verifies the token itself ------------------------------

SECURITY_HEADERS = {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "content-security-policy": "frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
APP_ORIGIN = "https://app.example.com"


def _assert_security_headers(reply: Any) -> None:
    assert {k: reply.headers.get(k) for k in SECURITY_HEADERS} == SECURITY_HEADERS


def test_self_verifying_function_accepts_a_valid_token(offline: Offline) -> None:
    """GET /profile (no API Gateway authorizer, Guard with a verifier): 200, security headers."""
    start = offline.log_size()
    reply = offline.rest("GET", "/profile", token=offline.token(**READER))
    assert reply.status == 200, reply.text
    assert reply.json() == {"sub": "bob", "tenant": "t2"}
    _assert_security_headers(reply)
    assert [(d["decision"], d["principal"]) for d in offline.decisions_since(start)] == [
        ("allow", "bob")
    ]


@pytest.mark.parametrize(
    ("make_token", "reason", "challenge"),
    [
        pytest.param(lambda o: None, "missing_token", "Bearer", id="missing"),
        pytest.param(
            lambda o: _forged(o, **ADMIN), "invalid_signature",
            'Bearer error="invalid_token", error_description="invalid token signature"',
            id="forged",
        ),
        pytest.param(
            _expired, "token_expired",
            'Bearer error="invalid_token", error_description="token expired"', id="expired",
        ),
    ],
)  # fmt: skip
def test_self_verifying_function_rejects(
    offline: Offline,
    make_token: Callable[[Offline], str | None],
    reason: str,
    challenge: str,
) -> None:
    """GET /profile with bad credentials: a problem+json 401, the Bearer challenge, the
    security headers; no token or traceback in the reply or the log."""
    token = make_token(offline)
    start = offline.log_size()
    reply = offline.rest("GET", "/profile", token=token)
    assert reply.status == 401, reply.text
    assert reply.headers.get("www-authenticate") == challenge
    assert reply.headers.get("content-type") == "application/problem+json"
    _assert_security_headers(reply)
    body = reply.json()
    assert set(body) == {"type", "title", "status", "request_id"}
    assert (body["type"], body["status"]) == ("about:blank", 401)  # no problem_type_base
    assert "Traceback" not in reply.text
    if token:
        assert token not in reply.text
    _assert_rejected_by_handler(offline, start, reason, "unauthorized", token)
    assert "Traceback" not in offline.log_since(start)


PREFLIGHT = {"Origin": APP_ORIGIN, "Access-Control-Request-Method": "GET",
             "Access-Control-Request-Headers": "authorization"}  # fmt: skip
# What the guard itself answers to an allowed preflight (besides the security headers).
GUARD_PREFLIGHT = {
    "Access-Control-Allow-Origin": APP_ORIGIN,
    "Vary": "Origin",
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Allow-Methods": "DELETE, GET, PATCH, POST, PUT",
    "Access-Control-Allow-Headers": "authorization, content-type",
    "Access-Control-Max-Age": "600",
}


def _preflight_event(origin: str) -> dict[str, Any]:
    """A REST proxy event for OPTIONS /profile, as API Gateway would send it."""
    return rest_v1("OPTIONS", "/profile", headers={**PREFLIGHT, "Origin": origin})


def test_cors_preflight_from_an_allowed_origin(offline: Offline) -> None:
    """OPTIONS /profile from the app's origin: the guard answers 204 with its CORS headers.

    Over HTTP, serverless-offline rewrites every OPTIONS answer to 200 and adds CORS
    headers of its own (see docs/e2e.md), so the exact status is checked twice: in the
    guard's decision line for the HTTP request, and in the function's own response
    through the emulator's Lambda Invoke API.
    """
    start = offline.log_size()
    reply = offline.rest("OPTIONS", "/profile", headers=PREFLIGHT)
    assert reply.status in (200, 204), reply.text
    assert {k.lower(): v for k, v in GUARD_PREFLIGHT.items()}.items() <= dict(reply.headers).items()
    _assert_security_headers(reply)
    assert [(d["decision"], d["status"]) for d in offline.decisions_since(start)] == [
        ("preflight", 204)
    ]
    direct = offline.invoke("profile", _preflight_event(APP_ORIGIN))
    assert (direct["statusCode"], direct["body"]) == (204, "")
    assert {k.lower(): v for k, v in direct["headers"].items()} == {
        **SECURITY_HEADERS, **{k.lower(): v for k, v in GUARD_PREFLIGHT.items()}
    }
    # ...and the actual request from that origin gets the CORS headers too
    actual = offline.rest("GET", "/profile", token=offline.token(**READER),
                          headers={"Origin": APP_ORIGIN})  # fmt: skip
    assert actual.status == 200
    assert actual.headers.get("access-control-allow-origin") == APP_ORIGIN
    assert actual.headers.get("vary") == "Origin"


def test_cors_preflight_from_another_origin_is_refused(offline: Offline) -> None:
    """OPTIONS /profile from another origin: the guard answers 403 with no CORS header.

    (serverless-offline then reflects the origin and sets 200 itself, which API Gateway
    does not do; the guard's part is checked in its decision line and its own response.)
    """
    start = offline.log_size()
    evil = {**PREFLIGHT, "Origin": "https://evil.example"}
    reply = offline.rest("OPTIONS", "/profile", headers=evil)
    _assert_security_headers(reply)
    assert reply.headers.get("access-control-allow-methods") != GUARD_PREFLIGHT[
        "Access-Control-Allow-Methods"
    ]  # the emulator's echo, not the guard's list
    assert [(d["decision"], d["status"]) for d in offline.decisions_since(start)] == [
        ("preflight", 403)
    ]
    direct = offline.invoke("profile", _preflight_event("https://evil.example"))
    assert (direct["statusCode"], direct["body"]) == (403, "")
    assert not any(name.lower().startswith("access-control") for name in direct["headers"])
    # Vary: Origin too: another origin may be allowed, so a cache must key on it
    assert {k.lower(): v for k, v in direct["headers"].items()} == {
        **SECURITY_HEADERS,
        "vary": "Origin",
    }


# --- guarded backends behind the secauth authorizers (trust mode) -------------------------


def test_guarded_backend_trusts_the_token_authorizer_context(offline: Offline) -> None:
    """GET /guarded/orders/{id}: Guard(trust) reads the principal the authorizer passed on."""
    start = offline.log_size()
    reply = offline.rest("GET", "/guarded/orders/9", token=offline.token(**READER))
    assert reply.status == 200, reply.text
    assert reply.json() == {"order": "9", "by": "bob", "tenant": "t2", "roles": ["reader"]}
    _assert_security_headers(reply)
    decisions = offline.decisions_since(start)
    # the authorizer's decision, then the guard's own, both for bob
    assert [(d["decision"], d.get("principal")) for d in decisions] == [
        ("allow", "bob"), ("allow", "bob")
    ]  # fmt: skip
    assert decisions[1]["event"] == "rest_v1"


def test_guarded_http_api_backend_trusts_the_lambda_context(offline: Offline) -> None:
    """GET /v2/guarded (HTTP API): the context under authorizer.lambda; roles re-checked."""
    reply = offline.request("GET", "/v2/guarded", token=offline.token(**ADMIN))
    assert reply.status == 200, reply.text
    assert reply.json() == {"by": "alice", "tenant": "t1", "roles": ["admin"]}
    _assert_security_headers(reply)
    guest_token = offline.token(sub="gus", tenant="t1", roles=["guest"])
    guest = offline.request("GET", "/v2/guarded", token=guest_token)
    assert guest.status == 403, guest.text
    assert (guest.json()["type"], guest.json()["title"]) == ("about:blank", "forbidden")
    assert guest.headers.get("www-authenticate") == (
        'Bearer error="insufficient_scope", error_description="forbidden"'
    )


# --- a small rate limit: 429 with Retry-After -------------------------------------------------


def test_rate_limited_route_answers_429_with_retry_after(offline: Offline) -> None:
    """GET /limited allows 3 requests a minute per IP (shared Redis store); the 4th is a 429."""
    if not offline.redis_url:
        _unavailable("redis-server is not installed (scripts/services-install.sh)")
    import redis

    redis.Redis.from_url(offline.redis_url).flushdb()  # a fresh window whatever ran before
    into = time.time() % 60  # windows restart on the minute: keep the 4 requests in one
    if into > 50:
        time.sleep(60 - into + 0.05)
    replies = [offline.rest("GET", "/limited") for _ in range(4)]
    assert [r.status for r in replies] == [200, 200, 200, 429], [r.text for r in replies]
    assert [r.headers.get("ratelimit") for r in replies[:3]] == [
        f'"ip";r={n};t={replies[i].headers["ratelimit"].rsplit("=", 1)[1]}'
        for i, n in enumerate((2, 1, 0))
    ]
    limited = replies[3]
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.headers.get("ratelimit-policy") == '"ip";q=3;w=60'
    assert limited.json() == {
        "type": "about:blank", "title": "too many requests",
        "status": 429, "request_id": limited.json()["request_id"],
    }  # fmt: skip
    _assert_security_headers(limited)
