"""Review 132: a session-wide differential for looser verdicts, 1322ee7 (session start) against HEAD.

Compared (outside this file: a worktree of 1322ee7, the same generator run in two subprocesses with
PYTHONPATH set to each ``src``, verdicts diffed): 4,359 generated inputs, each judged on up to 28
channels (about 110,000 verdicts). Route tables: literal routes, ``{id}`` parameters, ``{proxy+}``
catch-alls with ``ANY``, a deep admin route beside a same-depth all-parameter ``public()`` route,
tenant-bound routes (``tenant(path=...)``, with ``& roles("admin")``), ``default=public()``.
Principals: anonymous, user, admin, tenant a, tenant b, an API key. Tokens: valid, expired, ``nbf``
in the future, wrong ``aud``, wrong ``iss``, ``client_id`` a string, a list, no ``aud``; ES256 and
another RSA key under the same kid, ``alg: none``, HS256 keyed with the public JWK. Paths: each
route's own path, then 1 to 9 segments misspelled (upper case, percent-encoding, ``;v=1``), a
trailing slash, ``//``, ``/./``, ``/.``, ``%2F``, ``/..``, the whole path upper-cased, and a
base-path mapping (``on_custom_domain``). Channels: the Authorizer on REST TOKEN, REST REQUEST,
HTTP API payload 1.0 and 2.0 and WebSocket ``$connect`` events, fresh, repeated (memo) and with
``cache_ttl=300`` (REST: the policy judged by ``iam_allows`` for the request's ARN and for every
other generated ARN of the table; HTTP: ``api="http"``, ``cache_key_covers_route=True``); the
Guard in verify mode (REST proxy, HTTP v2 proxy, Function URL, ALB, REST and HTTP behind a
base path) and in trust mode (REST and HTTP proxies carrying the fresh REQUEST/v2 answer).

Looser at HEAD (HEAD allows, 1322ee7 denies): none, on any channel or any other ARN of a cached
policy. CHANGELOG's Unreleased section records no intended loosening.

Stricter at HEAD (all expected): ``client_id`` as a list is refused (review 116: 65 to 109 inputs
per channel, admin and tenant tokens that 1322ee7 admitted); paths with more than six ambiguous
segments are refused by every caller even under ``default=public()`` or a same-depth ``public()``
route (review 119's cap: 16 to 20 inputs per channel, valid and string-``client_id`` tokens);
where both deny, HEAD answers 401 for a list ``client_id`` where 1322ee7 answered 403/404, and a
TOKEN/REQUEST authorizer raises Unauthorized where 1322ee7 returned a Deny policy. Not exercised
by these inputs: stacked issuers and HMAC secret rules (no verifier here takes a secret).

Kept here (standalone, no worktree): HEAD's verdicts on every channel for 24 inputs sampled from
those 1322ee7 denied everywhere (hard-coded), a seeded sample of bad tokens, the two stricter
categories, and allowed controls so the channels are not vacuously denying.

Findings: none.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from secauth import Authorizer, ClaimMapper, Guard, Routes
from secauth import testing_events as te
from secauth.access import Rule, authenticated, public, roles, scopes, tenant
from secauth.api_keys import ApiKeyEntry, StaticApiKeys, hash_api_key
from secauth.testing import KeyPair
from secauth.testing_policy import iam_allows, method_arn
from secauth.verifier import JwtVerifier

ISS, AUD = "https://issuer.example.com/", "orders-api"
PAIR = KeyPair.generate("RS256", kid="k1")
OTHER = KeyPair.generate("RS256", kid="k1")
ES = KeyPair.generate("ES256", kid="k1")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
CLAIMS = ClaimMapper(tenant_claim="tenant")
KEY = "pk_q7Zr2mXv9LpA4nW8sT1b"
KEYS = StaticApiKeys({hash_api_key(KEY): ApiKeyEntry("partner-a", roles=("partner",), tenant="a")})
NOW = int(time.time())

TABLES: dict[str, tuple[dict[str, Rule], Rule | None]] = {
    "literal": ({"GET /health": public(), "GET /orders": authenticated(),
                 "GET /orders/{id}": authenticated(), "DELETE /orders/{id}": roles("admin"),
                 "POST /orders": scopes("orders:write")}, None),
    "proxy": ({"ANY /admin/{proxy+}": roles("admin"), "GET /public/{proxy+}": public(),
               "ANY /{proxy+}": authenticated()}, None),
    "deep": ({"GET /api/v1/admin/users/files/docs/me/keys/x9": roles("admin"),
              "GET /api/v1/{a}/{b}/{c}/{d}/{e}/{f}/{g}": public(),
              "GET /t/{tenant}/orders/{id}": tenant(path="tenant"),
              "POST /t/{tenant}/admin/{x}": tenant(path="tenant") & roles("admin")}, public()),
    "defpub": ({"ANY /admin": roles("admin"), "GET /admin/{id}": roles("admin"),
                "GET /admin/{id}/keys/raw": roles("admin")}, public()),
}  # fmt: skip
PATHS = {
    "literal": ["/health", "/orders", "/orders/7", "/orders/admin"],
    "proxy": ["/admin/users/1", "/public/a/b", "/x/y", "/admin"],
    "deep": ["/api/v1/admin/users/files/docs/me/keys/x9", "/t/a/orders/1", "/t/a/admin/z"],
    "defpub": ["/admin", "/admin/1", "/admin/1/keys/raw", "/other"],
}
WHO = {
    "user": {"sub": "bob", "tenant": "z"},
    "admin": {"sub": "ann", "tenant": "z", "roles": ["admin"]},
    "ta": {"sub": "ta", "tenant": "a", "roles": ["admin"], "scope": "orders:write"},
    "tb": {"sub": "tb", "tenant": "b", "scope": "orders:write"},
}
BAD_TOKENS = ("expired", "nbf", "aud", "iss", "cid_list", "es256", "otherkey", "none", "hs256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(who: str, variant: str) -> str:
    claims: dict[str, Any] = {"iss": ISS, "aud": AUD, "iat": NOW - 10, "exp": NOW + 3600}
    claims.update(WHO[who])
    pair = {"es256": ES, "otherkey": OTHER}.get(variant, PAIR)
    changes: dict[str, Any] = {
        "expired": {"exp": NOW - 100}, "nbf": {"nbf": NOW + 600}, "aud": {"aud": "other"},
        "iss": {"iss": "https://evil.example.com/"}, "cid_str": {"client_id": "app1"},
        "cid_list": {"client_id": ["app1", "app2"]},
    }  # fmt: skip
    claims.update(changes.get(variant, {}))
    if variant in ("none", "hs256"):
        alg = "none" if variant == "none" else "HS256"
        signed = _b64(json.dumps({"alg": alg, "kid": "k1"}).encode()) + "."
        signed += _b64(json.dumps(claims).encode())
        key = json.dumps(PAIR.public_jwk).encode()
        mac = hmac.new(key, signed.encode(), hashlib.sha256).digest()
        return signed + "." + ("" if variant == "none" else _b64(mac))
    return pair.sign(claims)


def _attempt(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as error:  # a raised refusal is a verdict too
        return error


def _allowed(answer: Any, arn: str) -> bool:
    if not isinstance(answer, dict):
        return False
    if "isAuthorized" in answer:
        return answer["isAuthorized"] is True
    policy = answer.get("policyDocument")
    return bool(policy) and iam_allows(policy, arn)


def _ok(handler: Callable[..., Any], event: Any) -> bool:
    response = _attempt(lambda: handler(event, None))
    return isinstance(response, dict) and 200 <= response.get("statusCode", 500) < 300


def _echo(event: Any, context: Any, principal: Any = None) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


class _Channels:
    """Every channel of one route table: the Authorizer's three answers and both Guards."""

    def __init__(self, name: str) -> None:
        table, default = TABLES[name]
        routes = Routes(table, default=default)
        self.fresh = Authorizer(VERIFIER, routes=routes, claims=CLAIMS, api_keys=KEYS,
                                decision_log=None)  # fmt: skip
        self.cached = Authorizer(VERIFIER, routes=routes, claims=CLAIMS, cache_ttl=300,
                                 decision_log=None)  # fmt: skip
        self.cached_http = Authorizer(VERIFIER, routes=routes, claims=CLAIMS, cache_ttl=300,
                                      api="http", cache_key_covers_route=True,
                                      decision_log=None)  # fmt: skip
        self.verify = Guard(VERIFIER, routes=routes, claims=CLAIMS, decision_log=None)(_echo)
        self.trust = Guard(routes=routes, claims=CLAIMS, trust_authorizer=True,
                           decision_log=None)(_echo)  # fmt: skip
        self.others = [method_arn(m, p) for m in ("GET", "POST", "DELETE") for p in PATHS[name]]

    def verdicts(self, method: str, path: str, sent: dict[str, Any]) -> dict[str, bool]:
        out: dict[str, bool] = {}
        kinds: dict[str, Callable[[], Any]] = {
            "req": lambda: te.request_authorizer(method, path, **sent),
            "h1": lambda: te.http_authorizer_v1(method, path, **sent),
            "h2": lambda: te.http_authorizer_v2(method, path, **sent),
            "ws": lambda: te.websocket_connect(**sent),
        }
        if "token" in sent:
            kinds["tok"] = lambda: te.token_authorizer(method, path, token=sent["token"])
        for kind, make in kinds.items():
            event = make()
            arn = event.get("methodArn") or event.get("routeArn")
            for label, authorizer in (("fresh", self.fresh), ("memo", self.fresh),
                                      ("c300", self.cached_http if kind in ("h1", "h2")
                                       else self.cached)):  # fmt: skip
                answer = _attempt(lambda a=authorizer, e=event: a.handler(copy.deepcopy(e)))
                out[f"{kind}.{label}"] = _allowed(answer, arn)
                if label == "c300" and kind in ("tok", "req"):
                    for other in self.others:
                        out[f"{kind}.c300 {other[-30:]}"] = _allowed(answer, other)
        if "token" in sent:
            proxies: dict[str, Callable[[], Any]] = {
                "rest": lambda: te.rest_proxy(method, path, **sent),
                "http": lambda: te.http_proxy(method, path, **sent),
                "furl": lambda: te.function_url(method, path, **sent),
                "alb": lambda: te.alb(method, path, **sent),
                "restbp": lambda: te.on_custom_domain(te.rest_proxy(method, path, **sent),
                                                      "api.example.com", base_path="v1"),
                "httpbp": lambda: te.on_custom_domain(te.http_proxy(method, path, **sent),
                                                      "api.example.com", base_path="v1"),
            }  # fmt: skip
            for name, make in proxies.items():
                out[f"guard.{name}"] = _ok(self.verify, make())
        for name, kind, proxy in (("rest", "req", te.rest_proxy), ("http", "h2", te.http_proxy)):
            answer = _attempt(lambda k=kind: self.fresh.handler(kinds[k]()))
            passed = (_attempt(lambda p=proxy, a=answer: p(method, path, authorizer_response=a,
                                                           **sent))
                      if isinstance(answer, dict) else None)  # fmt: skip
            out[f"trust.{name}"] = isinstance(passed, dict) and _ok(self.trust, passed)
        return out


CHANNELS = {name: _Channels(name) for name in TABLES}


def _sent(who: str, variant: str) -> dict[str, Any]:
    if who == "anon":
        return {}
    if who == "apikey":
        return {"headers": {"x-api-key": KEY}}
    return {"token": _token(who, variant)}


def _own_allowed(case: str) -> list[str]:
    """Channels allowing the request itself. Left out: other ARNs of a cached policy, ``$connect``
    (its route is ``$connect``, not the path) and, under ``default=public()``, an HTTP API behind a
    base-path mapping (the prefixed path is no route there, so the default rule decides; both
    commits agree)."""
    table = case.split("|", maxsplit=1)[0]
    skip = ("c300 ", "ws.") + (("guard.httpbp",) if TABLES[table][1] is not None else ())
    return sorted(c for c, ok in _judge(case).items() if ok and not c.startswith(skip)
                  and "c300 " not in c)  # fmt: skip


def _judge(case: str) -> dict[str, bool]:
    table, request, who, variant = case.split("|")
    method, path = request.split(" ", 1)
    return CHANNELS[table].verdicts(method, path, _sent(who, variant))


# Sampled (seed 7) from the 671 valid-token inputs 1322ee7 denied on every channel.
DENIED_AT_START = [
    "literal|POST /ORDERS/ADMIN|admin|valid", "literal|DELETE /orders//admin|admin|valid",
    "literal|POST /orders/admin|user|valid", "proxy|POST /x/y/..|anon|valid",
    "deep|POST /t/b/orders/1/|anon|valid", "defpub|GET /admin//1//keys//raw|anon|valid",
    "proxy|GET /admin/users/1/|user|valid", "literal|DELETE /./orders/7|anon|valid",
    "literal|POST /orders/7%2F|anon|valid", "proxy|POST /./public/a/b|anon|valid",
    "defpub|DELETE /admin/1/..|anon|valid", "proxy|GET /./x/y|user|valid",
    "literal|GET /./orders|tb|valid", "deep|POST /t/a/admin/z%2F|anon|valid",
    "literal|DELETE /%6Frders|tb|valid", "proxy|DELETE /admin%2F|admin|valid",
    "proxy|DELETE /./public/a/b|ta|valid", "defpub|GET /./other|anon|valid",
    "literal|GET /health/|anon|valid", "literal|DELETE /./health|ta|valid",
    "proxy|GET /public/a/b/..|admin|valid", "proxy|DELETE /./x/y|tb|valid",
    "defpub|DELETE /admin/1/keys/raw%2F|anon|valid", "proxy|GET /x/y%2F|ta|valid",
    # hand-picked: tenant b on tenant a's routes, a user on admin routes, an API key on admin
    "deep|GET /t/a/orders/1|tb|valid", "deep|POST /t/a/admin/z|tb|valid",
    "defpub|DELETE /admin|user|valid", "proxy|POST /admin/users/1|apikey|valid",
]  # fmt: skip


@pytest.mark.parametrize("case", DENIED_AT_START)
def test_inputs_denied_at_the_session_start_stay_denied(case: str) -> None:
    """No channel (fresh, memo, cached policy and its other ARNs, both Guards) allows them."""
    assert _own_allowed(case) == []


def test_generated_bad_tokens_never_allow() -> None:
    """Seeded sample: a bad token (any of nine kinds) is denied on every channel of every table."""
    rng = random.Random(132)
    judged = 0
    for _ in range(40):
        table = rng.choice(sorted(TABLES))
        method = rng.choice(("GET", "POST", "DELETE"))
        path = rng.choice(PATHS[table])
        who, variant = rng.choice(("admin", "ta")), rng.choice(BAD_TOKENS)
        verdicts = _judge(f"{table}|{method} {path}|{who}|{variant}")
        assert not any(verdicts.values()), (table, method, path, who, variant)
        judged += 1
    assert judged == 40


@pytest.mark.parametrize(
    "case",
    [
        "literal|GET /health|user|valid", "literal|DELETE /orders/7|admin|valid",
        "proxy|DELETE /admin/users/1|admin|valid", "deep|GET /t/a/orders/1|ta|valid",
        "defpub|GET /other|user|valid", "deep|GET /api/v1/admin/users/files/docs/me/keys/x9|ta|valid",
    ],
)  # fmt: skip
def test_controls_are_allowed_on_the_fresh_channels(case: str) -> None:
    """The harness can say yes: both 1322ee7 and HEAD allow these on the fresh answers."""
    verdicts = _judge(case)
    assert any(verdicts[f"{kind}.fresh"] for kind in ("req", "h1", "h2"))
    if "anon" not in case:
        assert verdicts["req.fresh"]
        assert verdicts["h2.fresh"]
        assert verdicts["trust.rest"]
        assert verdicts["guard.rest"]
        assert verdicts["guard.alb"]


def test_stricter_client_id_list_is_refused_everywhere() -> None:
    """Stricter at HEAD (review 116): a list client_id; 1322ee7 admitted ann on her admin route."""
    verdicts = _judge("literal|DELETE /orders/7|admin|cid_list")
    assert not any(verdicts.values())


def test_stricter_ambiguity_cap_beats_the_public_routes() -> None:
    """Stricter at HEAD (review 119): nine misspelt segments, a same-depth public() route and
    default=public(); 1322ee7 admitted tenant a's admin token and anyone through the Guard."""
    path = "/API/v1;v=1/adm%69n/users;v=1/f%69les/DOCS/m%65/Keys/%789"
    assert _own_allowed(f"deep|GET {path}|ta|valid") == []
    assert _own_allowed(f"deep|POST {path}|ta|cid_str") == []
