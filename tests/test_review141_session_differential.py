"""Review 141: a differential test of today's session (0ccc765..HEAD) for looser verdicts.

Attacked: every verdict today's session (0ccc765..HEAD) changed, by running both versions side by side.
The old source comes from ``git archive 0ccc765 src`` (read-only). A driver script runs in two subprocesses,
one with each ``src`` first on ``sys.path``. Both get the same generated inputs (seed 141, JSON in and out).
Each request is made three times in a row, so the Authorizer's response memo and the Guard's principal
memo are used. Inputs, about 9,900 cases and 29,700 calls per version:

* route tables: five fixed ones (literals, ``{param}``, ``{proxy+}``, ANY, a ``default`` rule, a
  catch-all ``ANY /{proxy+}``, ``integration_per_route``, WebSocket ``$connect``, ``$default`` and
  custom keys) and three random ones. The rules are roles (any or all), scopes, ``tenant(path=)``,
  public and authenticated, combined with ``&`` and ``|``;
* tokens: readers, admins, members, writers, banned users, expired, not yet valid, wrong audience,
  wrong issuer, an unknown key, no tenant, odd claim types. They are sent as Bearer, lower-case bearer,
  Basic, DPoP with a junk proof, two Authorization headers (same or other token), comma-joined, empty,
  without a scheme, in the query, or not at all;
* events: REST TOKEN and REQUEST, HTTP v1 and v2 authorizer, WebSocket ``$connect``, REST proxy (also
  behind a base-path mapping), HTTP v2 (``$default``, a named stage, a base path), Function URL, and
  ALB (single and multi-value). The paths include odd ones: case, ``%2F``, ``;``, ``..``, ``..;``,
  trailing and doubled slashes, base-path and stage prefixes;
* Authorizers with cache_ttl 0 and 300 (REST; HTTP with cache_key_covers_route; simple responses).
  Each returned policy is checked with ``iam_allows`` against 83 method ARNs of other routes. Guards
  were run plain, with a ``require()`` rule (scopes, tenant), in trust_authorizer mode, and with
  ``Routes.decide`` overrides (one stricter, one allowing admins);
* verifiers and mappers that revoke on a case's third call: a ``JwtVerifier`` subclass, a
  ``MultiIssuerVerifier`` around one, and a ``ClaimMapper`` subclass.

No finding. No input was refused at 0ccc765 and let through at HEAD. That covers a handler that ran,
an Allow or ``isAuthorized``, and a cached policy opening a method ARN the old one did not; it holds
for each of the three calls. Changes in the other direction and status changes were categorized
(info, pinned below). All are intended:

* looser only where an override says so: the Guard now obeys a ``decide`` override allowing admins
  (``403 -> ran``);
* tighter: the Guard obeys a stricter override (``ran -> 403``). The memos are off for a verifier
  subclass, a wrapper around one and a ``ClaimMapper`` subclass: a revoked third call is refused
  (``Allow -> Unauthorized``; ``ran -> 401``);
* status: on those same targets only (``404/403/405 -> 401``, ``Deny -> Unauthorized``: the third
  call is answered afresh);
* challenges: RFC 6750 only. There is no error code without Bearer credentials (another scheme, no
  authorizer context), ``invalid_request`` for a token given twice, and a 403's ``scope=``.

Not covered here: the rate-limit stores' new parsing (review 140 tested it on real Redis and dynalite).
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import tarfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import secauth
import secauth.testing_events as te
from secauth import Routes, public
from secauth.testing import KeyPair

BASE_COMMIT = "0ccc765"
REPO = Path(__file__).resolve().parents[1]
HEAD_SRC = Path(secauth.__file__).resolve().parents[1]  # the code this suite tests
PYTHON = sys.executable
ISSUER, AUDIENCE, FOREVER = "https://idp.review141.test/", "orders-api", 4102444800
SEED = 141
CASES_PER_TARGET = 300
CALLS = 3  # each request three times in a row: the memos' paths

# -- the driver: run under each version, JSON in, JSON out -----------------------------------

DRIVER = r'''
import json, sys
src, spec_file, out_file = sys.argv[1:4]
sys.path.insert(0, src)
import secauth
assert secauth.__file__.startswith(src), (secauth.__file__, src)
from secauth import Authorizer, Guard, JwtVerifier, Routes, authenticated, public, roles, scopes, tenant
from secauth.access import Decision
from secauth.errors import InvalidClaims, Reason
from secauth.multi_issuer import MultiIssuerVerifier
from secauth.principal import ClaimMapper
from secauth.rule_core import Denial

spec = json.load(open(spec_file))


def atom(text):
    kind, _, arg = text.partition(":")
    names = [n for n in arg.split(",") if n]
    return {"public": lambda: public(), "auth": lambda: authenticated(),
            "roles": lambda: roles(*names), "rolesall": lambda: roles(*names, all_of=True),
            "scopes": lambda: scopes(*names), "tenant": lambda: tenant(path=names[0])}[kind]()


def rule_of(text):
    if text is None:
        return None
    alternatives = []
    for conjunction in text.split("|"):
        parts = [atom(a) for a in conjunction.split("&")]
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part
        alternatives.append(combined)
    combined = alternatives[0]
    for other in alternatives[1:]:
        combined = combined | other
    return combined


CALL = [0]  # the call of the case (0, 1, 2): a ban applies to the third, which a memo may answer


class Banning(JwtVerifier):
    """A token with the claim "ban" is banned on each case's third call."""

    def verify(self, token):
        claims = super().verify(token)
        if claims.get("ban") and CALL[0] > 1:
            raise InvalidClaims(detail={"problem": "banned"})
        return claims


class RevokingMapper(ClaimMapper):
    """A principal with the claim "ban" is refused on each case's third call."""

    def map(self, claims):
        if claims.get("ban") and CALL[0] > 1:
            raise InvalidClaims(detail={"problem": "revoked"})
        return super().map(claims)


class StrictRoutes(Routes):
    """Denies the role "banned" everywhere (an override stricter than the table)."""

    def decide(self, principal, method, path, request=None):
        decision = super().decide(principal, method, path, request)
        if decision.allowed and "banned" in principal.roles:
            denial = Denial(Reason.FORBIDDEN, "banned")
            return Decision(False, denial.reason, decision.route, decision.params, denial)
        return decision


class AdminRoutes(Routes):
    """Allows the role "admin" wherever the table has a route (a looser override)."""

    def decide(self, principal, method, path, request=None):
        decision = super().decide(principal, method, path, request)
        if not decision.allowed and "admin" in principal.roles and decision.route is not None:
            return decision._replace(allowed=True, reason=None, denial=None)
        return decision


def routes_of(name, kind="plain"):
    table = spec["tables"][name]
    klass = {"plain": Routes, "strict": StrictRoutes, "admin": AdminRoutes}[kind]
    return klass({key: rule_of(r) for key, r in table["routes"]}, default=rule_of(table["default"]),
                 integration_per_route=table["per_route"])


def verifier_of(kind):
    options = dict(issuer=spec["issuer"], audience=spec["audience"], jwks=spec["jwks"])
    if kind == "plain":
        return JwtVerifier(**options)
    if kind == "banning":
        return Banning(**options)
    if kind == "multi_banning":
        return MultiIssuerVerifier([Banning(**options)])
    raise ValueError(kind)


def mapper_of(kind):
    return {"plain": ClaimMapper(), "tenant": ClaimMapper(tenant_claim="tenant"),
            "revoking": RevokingMapper(tenant_claim="tenant")}[kind]


def header(response, name):
    for key, value in (response.get("headers") or {}).items():
        if key.lower() == name:
            return value
    for key, value in (response.get("multiValueHeaders") or {}).items():
        if key.lower() == name:
            return ", ".join(value)
    return None


def handler_counting(ran):
    def handler(event, context):
        ran[0] += 1
        return {"statusCode": 200, "body": "ran"}

    return handler


targets, built = {}, {}
for target in spec["targets"]:
    name, options = target["name"], target["options"]
    try:
        routes = routes_of(options["table"], options.get("override", "plain"))
        if target["type"] == "authorizer":
            kwargs = dict(routes=routes, claims=mapper_of(options["mapper"]), cache_ttl=options["ttl"],
                          api=options["api"], simple_responses=options["simple"], decision_log=None)
            if options["covers_route"]:
                kwargs["cache_key_covers_route"] = True
            authorizer = Authorizer(verifier_of(options["verifier"]), **kwargs)
            targets[name] = ("authorizer", authorizer.handler, None)
        else:
            kwargs = dict(routes=routes, rule=rule_of(options["rule"]), decision_log=None)
            if options["trust"]:
                guard = Guard(trust_authorizer=True, **kwargs)
            else:
                guard = Guard(verifier_of(options["verifier"]), claims=mapper_of(options["mapper"]), **kwargs)
            ran = [0]
            targets[name] = ("guard", guard(handler_counting(ran)), ran)
        built[name] = "ok"
    except Exception as exc:
        built[name] = f"{type(exc).__name__}: {str(exc)[:100]}"

results = []
for case in spec["cases"]:
    entry = targets.get(case["target"])
    if entry is None:
        results.append(None)
        continue
    kind, call, ran = entry
    calls = []
    for call_index in range(spec["calls"]):
        CALL[0] = call_index
        event = json.loads(case["event"])
        if kind == "authorizer":
            try:
                answer = call(event, None)
                calls.append({"answer": answer})
            except Exception as exc:
                calls.append({"raised": f"{type(exc).__name__}: {str(exc)[:60]}"})
        else:
            before = ran[0]
            try:
                response = call(event, None)
            except Exception as exc:
                calls.append({"raised": f"{type(exc).__name__}: {str(exc)[:60]}"})
                continue
            body = response.get("body") or ""
            try:
                problem = json.loads(body).get("type") if body and body != "ran" else None
            except Exception:
                problem = None
            calls.append({"status": response.get("statusCode"), "ran": ran[0] > before,
                          "www": header(response, "www-authenticate"), "problem": problem})
    results.append(calls)

json.dump({"src": secauth.__file__, "built": built, "results": results}, open(out_file, "w"))
'''

# -- the inputs -------------------------------------------------------------------------------

RULES_BY_TEMPLATE_PARAM = [
    "public",
    "auth",
    "roles:admin",
    "roles:reader,admin",
    "scopes:orders.read",
    "scopes:orders.write",
    "roles:member&scopes:orders.read",
    "rolesall:member,reader",
    "roles:admin|scopes:orders.write",
]
TENANT_RULES = ["tenant:tenantId", "tenant:tenantId&roles:member", "tenant:tenantId|roles:admin"]

FIXED_TABLES: dict[str, dict[str, Any]] = {
    "T1": {
        "routes": [
            ["GET /orders", "scopes:orders.read"],
            ["POST /orders", "scopes:orders.write"],
            ["GET /orders/{id}", "roles:reader|roles:admin"],
            ["DELETE /orders/{id}", "roles:admin"],
            ["ANY /tenants/{tenantId}/{proxy+}", "tenant:tenantId&roles:member"],
            ["GET /public/{proxy+}", "public"],
            ["GET /users/me", "auth"],
            ["GET /users/{id}", "roles:admin"],
        ],
        "default": None,
        "per_route": False,
    },
    "T2": {  # T1's routes with a default rule
        "routes": [
            ["GET /orders/{id}", "roles:reader"],
            ["ANY /tenants/{tenantId}/{proxy+}", "tenant:tenantId|roles:admin"],
            ["GET /public/{proxy+}", "public"],
            ["DELETE /orders/{id}", "roles:admin"],
        ],
        "default": "auth",
        "per_route": False,
    },
    "T3": {  # a catch-all proxy
        "routes": [
            ["ANY /{proxy+}", "roles:admin"],
            ["GET /health", "public"],
            ["GET /files/{name}", "auth"],
            ["GET /orders/{id}", "roles:reader"],
        ],
        "default": None,
        "per_route": False,
    },
    "T4": {  # HTTP API, an integration per route
        "routes": [
            ["GET /orders/{id}", "roles:reader"],
            ["ANY /files/{proxy+}", "roles:admin"],
            ["GET /files/public", "public"],
            ["ANY /tenants/{tenantId}/{proxy+}", "tenant:tenantId"],
        ],
        "default": None,
        "per_route": True,
    },
    "WS": {
        "routes": [
            ["$connect", "roles:member|roles:admin"],
            ["$default", "auth"],
            ["sendmessage", "roles:admin"],
        ],
        "default": None,
        "per_route": False,
    },
}

TEMPLATES = [
    "/orders",
    "/orders/{id}",
    "/orders/{id}/items/{item}",
    "/tenants/{tenantId}/{proxy+}",
    "/tenants/{tenantId}/orders/{id}",
    "/public/{proxy+}",
    "/users/me",
    "/users/{id}",
    "/{proxy+}",
    "/files/{name}",
    "/admin",
    "/health",
]
VERBS = ["GET", "POST", "DELETE", "ANY"]

CLEAN_PATHS = [
    "/orders",
    "/orders/7",
    "/orders/8",
    "/public/a",
    "/tenants/acme/x",
    "/tenants/globex/x",
    "/tenants/acme/orders/1",
    "/users/me",
    "/users/7",
    "/health",
    "/files/a",
    "/files/public",
    "/admin",
    "/orders/7/items/1",
]
ODD_PATHS = [
    "/orders",
    "/orders/7",
    "/orders/8",
    "/Orders/7",
    "/orders/7/",
    "/orders//7",
    "/orders/%2F7",
    "/orders/7%2Fx",
    "/orders/7;x",
    "/orders/..;/admin",
    "/orders/../users/me",
    "/orders/7/items/1",
    "/orders/%37",
    "/public/a",
    "/public/../orders/7",
    "/PUBLIC/a",
    "/public;x/a",
    "/public/a/../../admin",
    "/public/a%2F..%2Fb",
    "/tenants/acme/x",
    "/tenants/globex/x",
    "/tenants/ACME/x",
    "/tenants/acme%2Fx/y",
    "/tenants/acme;globex/x",
    "/tenants/acme/orders/1",
    "/tenants/%61cme/x",
    "/users/me",
    "/users/me/",
    "/users/ME",
    "/users/7",
    "/health",
    "/Health",
    "/files/a",
    "/files/a%2Fb",
    "/files/public",
    "/files/public/",
    "/admin",
    "/admin/",
    "/",
    "/v1/orders/7",
    "/prod/orders/7",
    "/orders/7?x=1",
]
METHODS = ["GET", "GET", "GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS"]

PROBE_PATHS = [
    "/orders",
    "/orders/7",
    "/orders/8",
    "/orders/7/x",
    "/orders/7/items/1",
    "/users/me",
    "/users/7",
    "/tenants/acme/x",
    "/tenants/globex/x",
    "/tenants/acme/a/b",
    "/public/a",
    "/health",
    "/files/a",
    "/files/public",
    "/admin",
    "/",
]
PROBE_METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH"]

# principal: claims beyond iss/aud/sub/exp ("key": "other" signs with an unknown key)
PRINCIPALS: dict[str, dict[str, Any]] = {
    "reader": {"roles": ["reader"], "scope": "orders.read", "tenant": "acme"},
    "admin": {"roles": ["admin"], "tenant": "globex"},
    "member": {"roles": ["member"], "scope": "orders.read", "tenant": "acme"},
    "writer": {"scope": "orders.write", "tenant": "acme"},
    "member_reader": {"roles": ["member", "reader"], "tenant": "ACME"},
    "banned_admin": {"roles": ["admin", "banned"], "tenant": "acme", "ban": True},
    "banned_member": {
        "roles": ["member", "banned"],
        "scope": "orders.read orders.write",
        "tenant": "acme",
        "ban": True,
    },
    "expired": {"roles": ["admin"], "tenant": "acme", "exp": 1_000_000},
    "wrong_aud": {"roles": ["admin"], "tenant": "acme", "aud": "other-api"},
    "wrong_iss": {"roles": ["admin"], "tenant": "acme", "iss": "https://evil.test/"},
    "other_key": {"roles": ["admin"], "tenant": "acme", "key": "other"},
    "not_yet": {"roles": ["admin"], "tenant": "acme", "nbf": FOREVER - 10},
    "no_tenant": {"roles": ["admin", "member"], "scope": "orders.read orders.write"},
    "odd_claims": {"roles": "admin", "scope": ["orders.read"], "tenant": ["acme"]},
    "tenant_list_admin": {"roles": ["admin"], "tenant": "acme globex"},
}
VALID = ["reader", "admin", "member", "writer", "member_reader", "banned_admin", "banned_member"]
CREDENTIALS = ["bearer"] * 12 + [
    "none",
    "lower",
    "basic",
    "dpop",
    "dup_other",
    "dup_same",
    "joined",
    "empty",
    "raw",
    "query",
]


def _tokens() -> tuple[dict[str, str], dict[str, Any]]:
    pair, other = KeyPair.generate("ES256", kid="k1"), KeyPair.generate("ES256", kid="k1")
    tokens = {}
    for name, extra in PRINCIPALS.items():
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": f"user-{name}",
            "exp": FOREVER,
            "iat": 1_700_000_000,
        }
        claims.update({k: v for k, v in extra.items() if k != "key"})
        tokens[name] = (other if extra.get("key") else pair).sign(claims)
    return tokens, {"keys": [pair.public_jwk]}


def _sent(credential: str, token: str, second: str, *, token_only: bool) -> dict[str, Any]:
    if token_only and credential in ("dup_other", "dup_same", "dpop", "query"):
        credential = "bearer"
    return {
        "bearer": {"token": token},
        "none": {},
        "lower": {"authorization": f"bearer {token}"},
        "basic": {"authorization": "Basic dXNlcjpwYXNz"},
        "dpop": {
            "authorization": f"DPoP {token}",
            "headers": {"DPoP": "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"},
        },
        "dup_other": {"token": token, "headers": {"Authorization": [f"Bearer {second}"]}},
        "dup_same": {"token": token, "headers": {"Authorization": [f"Bearer {token}"]}},
        "joined": {"authorization": f"Bearer {token}, Bearer {second}"},
        "empty": {"authorization": "Bearer "},
        "raw": {"authorization": token},
        "query": {"query": {"access_token": token}},
    }[credential]


def _random_tables(rng: random.Random) -> dict[str, dict[str, Any]]:
    tables: dict[str, dict[str, Any]] = {}
    while len(tables) < 3:
        routes = []
        for template in rng.sample(TEMPLATES, rng.randint(3, 6)):
            pool = RULES_BY_TEMPLATE_PARAM + (TENANT_RULES if "{tenantId}" in template else [])
            routes.append([f"{rng.choice(VERBS)} {template}", rng.choice(pool)])
        table = {
            "routes": routes,
            "default": rng.choice([None, None, "auth", "roles:admin"]),
            "per_route": False,
        }
        try:
            _routes(table)
        except Exception:  # a table Routes refuses (a route twice): another draw
            continue
        tables[f"R{len(tables)}"] = table
    return tables


def _routes(table: Mapping[str, Any]) -> Routes:
    from secauth.rules import authenticated, roles, scopes, tenant

    def atom(text: str) -> Any:
        kind, _, arg = text.partition(":")
        names = arg.split(",")
        return {
            "public": public,
            "auth": authenticated,
            "roles": lambda: roles(*names),
            "rolesall": lambda: roles(*names, all_of=True),
            "scopes": lambda: scopes(*names),
            "tenant": lambda: tenant(path=names[0]),
        }[kind]()

    def rule_of(text: str) -> Any:
        ors = []
        for conjunction in text.split("|"):
            parts = [atom(a) for a in conjunction.split("&")]
            ors.append(parts[0] if len(parts) == 1 else parts[0] & parts[1])
        return ors[0] if len(ors) == 1 else ors[0] | ors[1]

    default = table["default"]
    return Routes(
        {k: rule_of(r) for k, r in table["routes"]},
        default=None if default is None else rule_of(default),
    )


def _gateway_route(
    table: Mapping[str, Any], method: str, path: str
) -> tuple[str | None, dict[str, str]]:
    """The template API Gateway runs for ``method path`` on ``table``'s keys (all public)."""
    keys = [k for k, _ in table["routes"] if " " in k]
    if not keys:
        return None, {}
    gateway = Routes(dict.fromkeys(keys, public()))
    found = gateway.match(method, path.partition("?")[0])
    if found is None or found.route is None:
        return None, {}
    return found.route.partition(" ")[2], dict(found.params)


def _guard_event(
    kind: str, table: Mapping[str, Any], method: str, path: str, sent: dict[str, Any]
) -> Any:
    template, params = _gateway_route(table, method, path)
    path = path.partition("?")[0]
    rest = {"resource": template or "/{proxy+}", "path_params": params or {"proxy": path[1:]}}
    http = {
        "route_key": f"{method} {template}" if template else "$default",
        "path_params": params or None,
    }
    if kind == "rest":
        return te.rest_proxy(method, path, **rest, **sent)
    if kind == "rest_base":
        return te.on_custom_domain(
            te.rest_proxy(method, path, **rest, **sent), "api.example.com", base_path="v1"
        )
    if kind == "http":
        return te.http_proxy(method, path, **http, **sent)
    if kind == "http_stage":
        return te.http_proxy(method, path, stage="prod", **http, **sent)
    if kind == "http_base":
        return te.on_custom_domain(
            te.http_proxy(method, path, **http, **sent), "api.example.com", base_path="v1"
        )
    if kind == "url":
        return te.function_url(method, path, **sent)
    if kind == "alb":
        return te.alb(method, path, **sent)
    if kind == "alb_multi":
        return te.alb(method, path, multi_value=True, **sent)
    raise AssertionError(kind)


def _authorizer_event(
    kind: str, table: Mapping[str, Any], method: str, path: str, sent: dict[str, Any]
) -> Any:
    template, params = _gateway_route(table, method, path)
    path = path.partition("?")[0]
    if kind == "token":
        return te.token_authorizer(method, path, **sent)
    if kind == "request":
        return te.request_authorizer(
            method,
            path,
            resource=template or "/{proxy+}",
            path_params=params or {"proxy": path[1:]},
            **sent,
        )
    if kind == "http_v1":
        return te.http_authorizer_v1(
            method,
            path,
            resource=template or "/{proxy+}",
            path_params=params or {"proxy": path[1:]},
            **sent,
        )
    if kind == "http_v2":
        route_key = f"{method} {template}" if template else "$default"
        return te.http_authorizer_v2(
            method, path, route_key=route_key, path_params=params or None, **sent
        )
    if kind == "ws":
        return te.websocket_connect(**sent)
    raise AssertionError(kind)


def _targets(tables: Mapping[str, Any]) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []

    def authorizer(name: str, table: str, kinds: list[str], **options: Any) -> None:
        defaults = {
            "table": table,
            "mapper": "tenant",
            "ttl": 0,
            "api": None,
            "simple": False,
            "covers_route": False,
            "verifier": "plain",
            "override": "plain",
        }
        targets.append(
            {"name": name, "type": "authorizer", "kinds": kinds, "options": {**defaults, **options}}
        )

    def guard(name: str, table: str, **options: Any) -> None:
        defaults = {
            "table": table,
            "mapper": "tenant",
            "rule": None,
            "trust": False,
            "verifier": "plain",
            "override": "plain",
        }
        kinds = ["rest", "rest_base", "http", "http_stage", "http_base", "url", "alb", "alb_multi"]
        if tables[table]["per_route"]:
            kinds = ["http", "http_stage", "http_base"]
        targets.append(
            {"name": name, "type": "guard", "kinds": kinds, "options": {**defaults, **options}}
        )

    rest, http = ["token", "request"], ["http_v1", "http_v2"]
    authorizer("a_T1_ttl0", "T1", rest + http)
    authorizer("a_T1_rest300", "T1", rest, ttl=300, api="rest")
    authorizer("a_T1_http300", "T1", http, ttl=300, api="http", covers_route=True)
    authorizer("a_T1_simple", "T1", ["http_v2"], api="http", simple=True)
    authorizer("a_T2_rest300", "T2", rest, ttl=300, api="rest")
    authorizer("a_T3_rest300", "T3", rest, ttl=300, api="rest", mapper="plain")
    authorizer("a_WS_ttl0", "WS", ["ws"])
    authorizer("a_WS_300", "WS", ["ws"], ttl=300, api="rest")
    authorizer("a_T1_banning", "T1", rest + http, verifier="banning")
    authorizer("a_T1_multi_banning", "T1", rest + http, verifier="multi_banning")
    authorizer("a_T1_revoking_mapper", "T1", rest + http, mapper="revoking")
    authorizer("a_T1_strict_override", "T1", rest + http, override="strict")
    for name in sorted(n for n in tables if n.startswith("R")):
        authorizer(f"a_{name}_rest300", name, rest, ttl=300, api="rest")
        authorizer(f"a_{name}_ttl0", name, rest + http)
    guard("g_T1", "T1")
    guard("g_T1_scope_rule", "T1", rule="scopes:orders.read")
    guard("g_T1_tenant_rule", "T1", rule="tenant:tenantId")
    guard("g_T2", "T2")
    guard("g_T3", "T3", mapper="plain")
    guard("g_T4", "T4")
    guard("g_T1_trust", "T1", trust=True)
    guard("g_T1_banning", "T1", verifier="banning")
    guard("g_T1_multi_banning", "T1", verifier="multi_banning")
    guard("g_T1_revoking_mapper", "T1", mapper="revoking")
    guard("g_T1_strict_override", "T1", override="strict")
    guard("g_T1_admin_override", "T1", override="admin")
    for name in sorted(n for n in tables if n.startswith("R")):
        guard(f"g_{name}", name)
    return targets


def _inputs() -> dict[str, Any]:
    rng = random.Random(SEED)
    tokens, jwks = _tokens()
    tables = {**FIXED_TABLES, **_random_tables(rng)}
    targets = _targets(tables)
    cases = []
    for target in targets:
        table = tables[target["options"]["table"]]
        for _ in range(CASES_PER_TARGET):
            kind = rng.choice(target["kinds"])
            method = rng.choice(METHODS)
            path = rng.choice(CLEAN_PATHS if rng.random() < 0.6 else ODD_PATHS)
            if kind == "ws":
                method, path = "$connect", ""
            who = rng.choice(VALID if rng.random() < 0.6 else list(PRINCIPALS))
            credential = rng.choice(CREDENTIALS)
            second = rng.choice(
                ["reader", "admin"]
            )  # a second token, for the credentials sent twice
            sent = _sent(credential, tokens[who], tokens[second], token_only=kind == "token")
            if target["type"] == "guard":
                event = _guard_event(kind, table, method, path, sent)
            else:
                event = _authorizer_event(kind, table, method, path, sent)
            cases.append(
                {
                    "target": target["name"],
                    "kind": kind,
                    "method": method,
                    "path": path,
                    "who": who,
                    "second": second,
                    "credential": credential,
                    "event": json.dumps(event),
                }
            )
    return {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "jwks": jwks,
        "tables": tables,
        "targets": targets,
        "cases": cases,
        "calls": CALLS,
    }


# -- running both versions ----------------------------------------------------------------------


def _base_src(root: Path) -> Path:
    """0ccc765's src, unpacked by ``git archive`` (read-only for the repository)."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", BASE_COMMIT, "src"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"the session's base commit {BASE_COMMIT} is not readable: {exc}")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    return root / "src"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("review141")
    spec = _inputs()
    (root / "spec.json").write_text(json.dumps(spec))
    (root / "driver.py").write_text(DRIVER)
    sources = {"base": _base_src(root / "base"), "head": HEAD_SRC}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    processes = {
        version: subprocess.Popen(
            [
                PYTHON,
                str(root / "driver.py"),
                str(src),
                str(root / "spec.json"),
                str(root / f"{version}.json"),
            ],
            env={**env, "PYTHONPATH": str(src)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for version, src in sources.items()
    }
    for version, process in processes.items():
        _, err = process.communicate(timeout=240)
        assert process.returncode == 0, f"{version} driver failed:\n{err.decode()[-3000:]}"
    out = {version: json.loads((root / f"{version}.json").read_text()) for version in sources}
    assert out["base"]["src"].startswith(str(sources["base"]))
    assert out["head"]["src"].startswith(str(HEAD_SRC))
    return {"spec": spec, **out, "comparison": _compare(spec, out["base"], out["head"])}


# -- comparing --------------------------------------------------------------------------------------

_PROBE_CACHE: dict[tuple[str, str], frozenset[str]] = {}


def _arn(event: Mapping[str, Any]) -> str:
    return str(event.get("routeArn") or event["methodArn"])


def _probes(answer: Mapping[str, Any], arn: str) -> frozenset[str]:
    """The method ARNs (of the request's stage) that ``answer``'s policy lets through."""
    document = answer.get("policyDocument")
    if document is None:
        return frozenset()
    prefix = arn.split("/", 2)
    stage_prefix = f"{prefix[0]}/{prefix[1]}/"
    key = (json.dumps(document, sort_keys=True), stage_prefix)
    if key not in _PROBE_CACHE:
        candidates = [f"{stage_prefix}{m}{p}" for m in PROBE_METHODS for p in PROBE_PATHS]
        candidates += [f"{stage_prefix}{k}" for k in ("$connect", "$default", "sendmessage")]
        try:
            allowed = frozenset(c for c in candidates if te.iam_allows(answer, c))
        except ValueError:  # a Condition: judged by the request, not here
            allowed = frozenset(["<conditional>"])
        _PROBE_CACHE[key] = allowed
    return _PROBE_CACHE[key]


def _authorizer_verdict(call: Mapping[str, Any], arn: str) -> tuple[bool, str, frozenset[str]]:
    """(allowed, a label, the ARNs its policy opens)."""
    if "raised" in call:
        return False, f"raised {call['raised'].split(':')[0]}", frozenset()
    answer = call["answer"]
    if "isAuthorized" in answer:
        return answer["isAuthorized"] is True, f"isAuthorized={answer['isAuthorized']}", frozenset()
    try:
        allowed = te.iam_allows(answer, arn)
    except ValueError:
        allowed = False
    return allowed, "Allow" if allowed else "Deny", _probes(answer, arn)


def _compare(
    spec: Mapping[str, Any], base: Mapping[str, Any], head: Mapping[str, Any]
) -> dict[str, Any]:
    looser: list[str] = []
    intended_looser: Counter[str] = Counter()
    tighter: Counter[str] = Counter()
    status: Counter[str] = Counter()
    challenge: Counter[str] = Counter()
    compared = Counter[str]()
    kinds = {t["name"]: t for t in spec["targets"]}
    for case, old_calls, new_calls in zip(
        spec["cases"], base["results"], head["results"], strict=True
    ):
        if old_calls is None or new_calls is None:
            continue
        target = kinds[case["target"]]
        event = json.loads(case["event"])
        where = " ".join([case["target"], case["kind"], case["method"], case["path"], case["who"]])
        where += f"/{case['credential']}"
        for index, (old, new) in enumerate(zip(old_calls, new_calls, strict=True)):
            compared[target["type"]] += 1
            if target["type"] == "authorizer":
                arn = _arn(event)
                old_ok, old_label, old_open = _authorizer_verdict(old, arn)
                new_ok, new_label, new_open = _authorizer_verdict(new, arn)
                if "answer" in old and "answer" in new and "policyDocument" in new["answer"]:
                    compared["policy"] += 1
                wider = new_open - old_open
                if (new_ok and not old_ok) or wider:
                    looser.append(
                        f"{where} call {index + 1}: {old_label} -> {new_label}, "
                        f"newly opened {sorted(wider)[:3]}"
                    )
                elif old_ok and not new_ok:
                    tighter[f"{case['target']}: {old_label} -> {new_label}"] += 1
                elif old_label != new_label:
                    status[f"{case['target']}: {old_label} -> {new_label}"] += 1
                continue
            if "raised" in old or "raised" in new:
                status[f"{case['target']}: raised {old.get('raised')} -> {new.get('raised')}"] += 1
                continue
            if new["ran"] and not old["ran"]:
                override = target["options"]["override"] == "admin"
                # an ALB passes the last of two headers: the second token may be the caller
                callers = [
                    case["who"],
                    *([case["second"]] if case["credential"] == "dup_other" else []),
                ]
                if override and any("admin" in str(PRINCIPALS[c].get("roles")) for c in callers):
                    intended_looser[f"{case['target']}: {old['status']} -> ran"] += 1
                else:
                    looser.append(
                        f"{where} call {index + 1}: {old['status']} -> handler ran ({new['status']})"
                    )
            elif old["ran"] and not new["ran"]:
                tighter[f"{case['target']}: ran -> {new['status']}"] += 1
            elif old["status"] != new["status"]:
                status[f"{case['target']}: {old['status']} -> {new['status']}"] += 1
            elif old["www"] != new["www"]:
                challenge[f"{_scheme_error(old['www'])} -> {_scheme_error(new['www'])}"] += 1
    return {
        "looser": looser,
        "intended_looser": intended_looser,
        "tighter": tighter,
        "status": status,
        "challenge": challenge,
        "compared": compared,
    }


def _scheme_error(www: str | None) -> str:
    """A WWW-Authenticate value's category: schemes, error codes and whether it names a scope."""
    if www is None:
        return "none"
    parts = []
    for piece in www.split(", "):
        if piece.startswith(("Bearer", "DPoP")):
            parts.append(piece.split(" ")[0])
        if "error=" in piece:
            parts.append(piece.split("error=", 1)[1])
        if piece.startswith("scope="):
            parts.append("scope=")
    return " ".join(parts)


def _summary(counter: Mapping[str, int]) -> str:
    return "\n".join(
        f"  {n:5d}  {k}" for k, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    )


# -- the tests --------------------------------------------------------------------------------------


def test_both_versions_were_compared_on_thousands_of_calls(runs: dict[str, Any]) -> None:
    comparison = runs["comparison"]
    print("\ncompared:", dict(comparison["compared"]))
    print("tighter at HEAD (info):\n" + _summary(comparison["tighter"]))
    print(
        "looser at HEAD, as the override says (info):\n" + _summary(comparison["intended_looser"])
    )
    print("status changes (info):\n" + _summary(comparison["status"]))
    print("challenge changes (info):\n" + _summary(comparison["challenge"]))
    assert len(runs["spec"]["cases"]) >= 9_900
    assert comparison["compared"]["authorizer"] >= 16_000
    assert comparison["compared"]["policy"] >= 9_000  # policies whose opened ARNs were compared
    assert comparison["compared"]["guard"] >= 13_000


def test_every_target_builds_in_both_versions(runs: dict[str, Any]) -> None:
    assert {name: status for name, status in runs["base"]["built"].items() if status != "ok"} == {}
    assert {name: status for name, status in runs["head"]["built"].items() if status != "ok"} == {}


def test_no_input_is_allowed_at_head_that_the_base_refused(runs: dict[str, Any]) -> None:
    """The finding looked for: a request refused at 0ccc765 that HEAD lets through (a
    handler that ran, an Allow, or a cached policy opening a method ARN the old one did
    not), on any of the three calls."""
    looser = runs["comparison"]["looser"]
    assert looser == [], f"{len(looser)} looser verdicts at HEAD, e.g.:\n" + "\n".join(looser[:20])


def test_looser_answers_come_only_from_an_override_that_allows(runs: dict[str, Any]) -> None:
    """The Guard now obeys ``Routes.decide`` (review 136): an override allowing admins
    lets them through where the table refused; documented, and the only widening seen."""
    intended = runs["comparison"]["intended_looser"]
    assert intended, "the admin override widened nothing: the differential saw no Guard decide"
    assert {key.partition(":")[0] for key in intended} == {"g_T1_admin_override"}


def test_tighter_verdicts_are_the_sessions_fixes(runs: dict[str, Any]) -> None:
    """Refused at HEAD, allowed at 0ccc765: only where a fix meant it (a stricter decide
    override the Guard now obeys; the Authorizer's memo off for a verifier subclass, a
    wrapper around one; both memos off for a ClaimMapper subclass). Each shows up: the
    harness sees changes."""
    targets = {key.partition(":")[0] for key in runs["comparison"]["tighter"]}
    expected = {
        "g_T1_strict_override",
        "g_T1_revoking_mapper",
        "a_T1_banning",
        "a_T1_multi_banning",
        "a_T1_revoking_mapper",
    }
    assert targets == expected


def test_status_changes_are_the_memos_turned_off(runs: dict[str, Any]) -> None:
    """Every other status change: a banned (third) call answered afresh at HEAD (401 where
    the memo answered with the first call's refusal)."""
    changes = runs["comparison"]["status"]
    assert {key.partition(":")[0] for key in changes} <= {
        "a_T1_banning",
        "a_T1_multi_banning",
        "a_T1_revoking_mapper",
        "g_T1_revoking_mapper",
    }
    assert all(key.endswith(("-> raised Unauthorized", "-> 401")) for key in changes)


def test_challenge_changes_are_rfc_6750s(runs: dict[str, Any]) -> None:
    """WWW-Authenticate changes, same status: no error code without (Bearer) credentials,
    invalid_request for a token given twice, a 403's scope= naming the rule's scopes."""
    assert set(runs["comparison"]["challenge"]) <= {
        'Bearer "invalid_token" -> Bearer',
        'Bearer "invalid_token" -> Bearer "invalid_request"',
        'Bearer "insufficient_scope" -> Bearer "insufficient_scope" scope=',
    }
    assert len(runs["comparison"]["challenge"]) == 3


def test_the_comparison_flags_a_looser_verdict() -> None:
    """The comparator itself: a handler that runs only at HEAD, an Allow only at HEAD and a
    wider policy at HEAD are each reported."""
    arn = te.method_arn("GET", "/orders/7")
    narrow = {
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": arn}],
        }
    }
    wide = {
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "execute-api:Invoke",
                    "Resource": te.method_arn("*", "/*"),
                }
            ],
        }
    }
    event = json.dumps(te.token_authorizer("GET", "/orders/7", token="t"))
    spec = {
        "targets": [
            {"name": "a", "type": "authorizer", "options": {}},
            {"name": "g", "type": "guard", "options": {"override": "plain"}},
        ],
        "cases": [
            {
                "target": "a",
                "kind": "token",
                "method": "GET",
                "path": "/orders/7",
                "who": "reader",
                "credential": "bearer",
                "event": event,
            },
            {
                "target": "a",
                "kind": "token",
                "method": "GET",
                "path": "/orders/7",
                "who": "reader",
                "credential": "bearer",
                "event": event,
            },
            {
                "target": "g",
                "kind": "rest",
                "method": "GET",
                "path": "/orders/7",
                "who": "reader",
                "credential": "bearer",
                "event": "{}",
            },
        ],
    }
    refused = {"status": 403, "ran": False, "www": None, "problem": None}
    ran = {"status": 200, "ran": True, "www": None, "problem": None}
    base = {"results": [[{"raised": "Exception: Unauthorized"}], [{"answer": narrow}], [refused]]}
    head = {"results": [[{"answer": narrow}], [{"answer": wide}], [ran]]}
    looser = _compare(spec, base, head)["looser"]
    assert len(looser) == 3
    assert "newly opened" in looser[1]
    assert "handler ran" in looser[2]
