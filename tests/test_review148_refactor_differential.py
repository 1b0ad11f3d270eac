"""Review 148 (adversarial): the refactor of commit 6242318 ("issue 13's layout") against 11defa8.

The change claims to move code without changing one decision: ``Guard``'s identification step
into ``secauth.guard_identity.CallerIdentifier`` (verify mode, trust mode, verify-and-trust with
``context_without_token``, anonymous callers on public routes, WebSocket messages, DPoP and
certificate binding with ``proof_recorded``, revocations sync and async, the principal memo),
Guard options read-only, ``require()`` passing its rule per call; ``Authorizer``'s memo key
(``secauth.memo.answer_key``), route decision (``secauth.targets.decide_as_ran``) and
unsupported-event record; ``AbusePenalty``'s sync and async twins over shared helpers (deny
cache, failure policies, breaker, fallback memory; ``DenyCache.get`` returning a ``DenyEntry``);
``IntrospectionVerifier``'s answer reading (``secauth.introspection_claims``); Powertools
stacked route guards calling ``guard.identify``.

What was attacked. The old code is taken from git history (``git archive 11defa8 src``) and
both trees run the same scenario script in subprocesses, on the same inputs (tokens, DPoP
proofs, authorizer contexts and events made once here), comparing every answer (status,
headers, body), every decision record (without its latency) and what they print to stderr:

* Guards, each sync and async, in sequence (memo state carried): verify mode; ``require()``
  guards (``roles``, ``authenticated`` on a public route, ``public`` with and without a table,
  a constructor rule chained with ``require``); trust mode with revocations in memory, on the
  live redis-server, on a closed port (``failure="closed"`` and ``"open"``); verify-and-trust
  with and without ``context_without_token``; a ``ClaimMapper`` subclass (memo off) whose
  answer changes between two requests of one token; DPoP with a replay store (replays),
  ``require="dpop"`` through ``require()``, ``replay=None`` trusting the authorizer; cookie
  tokens with credentialed CORS; WebSocket messages; forged contexts, a context disagreeing
  with the token, a context without its token claims.
* ``AbusePenalty`` on memory, the live redis-server (sync and ``AsyncRedisStore``, with keys
  deleted behind the deny cache's back), a closed port (sync and async), a black hole (timeouts),
  dynalite, and stores answering None, text or raising; each failure policy, deny cache on and
  off, sync and async: every ``blocked_for``/``check``/``record_*`` answer in a sequence that
  crosses the thresholds.
* ``Authorizer`` (REST memoized, REST cached, HTTP, HTTP with a mapper subclass): TOKEN, REQUEST
  and HTTP events for four tokens (repeated: memo hits), a route read as another than API
  Gateway ran (``/orders/me`` under ``/orders/{id}``), cookies, DPoP, unsupported events (None,
  a list, ``{}``, a TOKEN event without ARN, a bad ARN).
* ``IntrospectionVerifier`` sync and async (five option sets) on a loopback endpoint answering
  active, inactive, wrong audience, expired, not yet valid, no ``exp``, DPoP and ``cnf`` types,
  a string ``active``, a bad ``exp``, no ``sub``; each twice (cache hits).
* Powertools stacks (global guard + route guards, one a ``require()`` guard): DPoP proofs
  recorded by the global or a route guard, their replays with and without Authorization,
  a shared replay store, ``replay=None`` trusting route guards, authorizer contexts.

No finding: every answer, record and log line of HEAD equals 11defa8's. The ordinary tests
below pin, on HEAD alone, what held: a ``require()`` guard's rule applies per call (the guard it
came from still admits the anonymous caller its table allows), trust-mode revocations sync and
async (live, failing closed), a context without its token refused by a verifying guard, the
memo off for a mapper subclass, DPoP replays through a Powertools route guard, every
``AbusePenalty`` failure policy on a closed port sync and async, the deny cache and the fallback
memory, a dynalite penalty store, ``DenyEntry``, the unsupported-event record. Observed, not a
change (both trees): ``AsyncRedisStore`` used from a fresh ``asyncio.run`` per call fails from
the second loop on (its pool belongs to the first), so the penalty falls to its failure policy;
the differential runs each async sequence in one loop.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from secauth import Authorizer, Guard, JwtVerifier, Principal, Routes
from secauth.access import authenticated, public, roles
from secauth.claim_mapping import ClaimMapper
from secauth.dpop import DpopVerifier
from secauth.dpop_replay import MemoryReplayStore
from secauth.errors import AbuseBlocked
from secauth.ratelimit import AbusePenalty
from secauth.ratelimit.policy import DenyCache, DenyEntry
from secauth.ratelimit.redis_store import AsyncRedisStore, RedisStore
from secauth.revocation import Revocations
from secauth.revocation_stores import RedisRevocationStore
from secauth.sender_constraint import SenderConstraint
from secauth.testing import KeyPair
from secauth.testing_dpop import DpopKey
from secauth.testing_events import (
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    rest_proxy,
    token_authorizer,
    websocket_connect,
    websocket_message,
)
from secauth.token_sources import TokenSource

# Clients of closed event loops are collected after each test (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("collect_garbage")

ROOT = Path(__file__).resolve().parents[1]
BASE = "11defa8"
ISS, AUD = "https://idp.review148.example/", "orders-api"
PAIR = KeyPair.generate("ES256", kid="k148")
STRANGER = KeyPair.generate("ES256", kid="k148")  # same kid, another key: a forgery
CLIENT = DpopKey.generate("ES256")
OTHER_KEY = DpopKey.generate("ES256")
HOST = "https://abcdef123.execute-api.us-east-1.amazonaws.com"
URL = f"{HOST}/orders/7"
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
ROUTES = Routes({"GET /orders/{id}": authenticated(), "GET /public": public(),
                 "GET /admin": roles("admin"), "sendmessage": authenticated()})  # fmt: skip
AUTHORIZER_ROUTES = Routes({"GET /orders/{id}": authenticated(), "GET /admin": roles("admin")})


def token(sub: str = "ann", *, pair: KeyPair = PAIR, **claims: Any) -> str:
    """A token of ISS for AUD, issued now for an hour (revocation lists take it)."""
    now = int(time.time())
    body: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": sub, "exp": now + 3600, "iat": now - 10,
                            "jti": f"j-{sub}"}  # fmt: skip
    body.update(claims)
    return pair.sign({k: v for k, v in body.items() if v is not None})


ANN = token()
ADMIN = token("root", roles=["admin"], scope="read")
ADMIN_NO_SCOPE = token("root2", roles=["admin"])
REVOKED = token("rev", jti="revoked-jti", roles=["admin"])
FORGED = token(pair=STRANGER)
BOUND = token("bob", cnf={"jkt": CLIENT.jkt})


def get(path: str = "/orders/7", bearer: str | None = None, **sent: Any) -> dict[str, Any]:
    if bearer is not None:
        sent["token"] = bearer
    return http_proxy("GET", path, **sent)


def through_authorizer(bearer: str, path: str = "/orders/7", *, passes: bool = True,
                       keep_token: bool = False) -> dict[str, Any]:  # fmt: skip
    """What the function receives behind an HTTP API authorizer that allowed ``bearer``."""
    authorizer = Authorizer(VERIFIER, routes=AUTHORIZER_ROUTES, decision_log=None, cache_ttl=0,
                            context_token_claims=passes)  # fmt: skip
    answer = authorizer.handler(http_authorizer_v2("GET", path, token=bearer), None)
    return http_proxy(
        "GET", path, authorizer_response=answer, **({"token": bearer} if keep_token else {})
    )


def forged_context(path: str = "/orders/7") -> dict[str, Any]:
    event = get(path)
    event["requestContext"]["authorizer"] = {"lambda": {"secauth_principal": "mallory"}}
    return event


def disagreeing() -> dict[str, Any]:
    event = through_authorizer(ANN)
    event["headers"]["authorization"] = f"Bearer {ADMIN}"
    return event


def websocket(bearer: str) -> dict[str, Any]:
    """A WebSocket message behind a ``$connect`` authorizer that allowed ``bearer``."""
    connect = Authorizer(VERIFIER, routes=Routes({"$connect": authenticated()}), decision_log=None,
                         context_token_claims=True, token_sources=[TokenSource.query("token")])  # fmt: skip
    answer = connect.handler(websocket_connect(query={"token": bearer}), None)
    return websocket_message("sendmessage", '{"action": "sendmessage"}', authorizer_response=answer)


def dpop_event(bearer: str, proof: str | None = None) -> dict[str, Any]:
    headers = {"authorization": f"DPoP {bearer}"}
    if proof is not None:
        headers["dpop"] = proof
    return get(headers=headers)


def ok(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": json.dumps({"id": principal.id, "anonymous": principal.is_anonymous,
                                                   "roles": sorted(principal.roles)})}  # fmt: skip


async def ok_async(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return ok(event, context, principal)


def status(handler: Any, event: dict[str, Any]) -> int:
    answer = handler(copy.deepcopy(event), None)
    if asyncio.iscoroutine(answer):
        answer = asyncio.run(answer)
    return int(answer["statusCode"])


# =============================================================================================
# The old tree, and the scenario script both trees run
# =============================================================================================


@pytest.fixture(scope="module")
def base_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """src/ of 11defa8, out of git history (skipped without it, except under CI=true)."""
    target = tmp_path_factory.mktemp("base148")
    archive = target / "src.tar"
    try:
        with archive.open("wb") as out:
            subprocess.run(["git", "-C", str(ROOT), "archive", BASE, "src"], stdout=out,
                           stderr=subprocess.PIPE, check=True, timeout=60)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        why = (
            f"git history with commit {BASE} (the code before the refactor) is not available: {exc}"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target / "src"


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound by nobody listening: connections are refused at once."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    yield int(holder.getsockname()[1])
    holder.close()


SCENARIOS = r'''
import asyncio, copy, json, sys

import secauth
from secauth import Authorizer, Guard, JwtVerifier, Principal, Routes
from secauth.access import authenticated, public, roles, scopes
from secauth.claim_mapping import ClaimMapper
from secauth.dpop import DpopVerifier
from secauth.dpop_replay import MemoryReplayStore
from secauth.responses import Cors
from secauth.revocation import Revocations
from secauth.revocation_stores import MemoryRevocationStore, RedisRevocationStore
from secauth.sender_constraint import SenderConstraint
from secauth.token_sources import TokenSource

spec = json.load(sys.stdin)
ISS, AUD = spec["iss"], spec["aud"]
OUT = {"secauth": secauth.__file__}
EXTERNAL = {"ann": ["user"]}


def verifier():
    return JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [spec["jwk"]]})


class Mapper(ClaimMapper):
    """Roles from outside the claims: its principals cannot be memoized."""

    def map(self, claims):
        p = super().map(claims)
        return Principal(p.id, tenant=p.tenant, roles=EXTERNAL.get(p.id, []), scopes=p.scopes,
                         claims=p.claims, issuer=p.issuer)


def clean(record):
    record = {k: v for k, v in record.items() if k != "latency_us"}
    if isinstance(record.get("detail"), dict):
        record["detail"] = {k: v for k, v in record["detail"].items() if k != "now"}
    return record


def answer(resp):
    body = resp.get("body")
    try:
        body = json.loads(body)
    except Exception:
        pass
    return {"status": resp.get("statusCode"), "headers": dict(resp.get("headers") or {}), "body": body}


def guard(name, sink):
    v = verifier()
    routes = Routes({"GET /orders/{id}": authenticated(), "GET /public": public(),
                     "GET /admin": roles("admin"), "sendmessage": authenticated()})
    listed = Revocations(MemoryRevocationStore(), max_token_lifetime=86400, max_staleness=0)
    listed.revoke_token(ISS, "revoked-jti")
    live = Revocations(RedisRevocationStore(spec["redis_url"]), max_token_lifetime=86400, max_staleness=0)
    live.revoke_token(ISS, "revoked-jti")
    down = {f: Revocations(RedisRevocationStore(spec["closed_redis"], socket_timeout=0.2,
                                                connect_timeout=0.2),
                           max_token_lifetime=86400, max_staleness=0, failure=f)
            for f in ("closed", "open")}
    o = dict(decision_log=None, on_decision=sink)
    dpop = lambda: SenderConstraint(dpop=DpopVerifier(replay=MemoryReplayStore()))
    return {
        "verify": lambda: Guard(v, routes=routes, **o),
        "verify_require_admin": lambda: Guard(v, routes=routes, **o).require(roles("admin")),
        "verify_require_authenticated": lambda: Guard(v, routes=routes, **o).require(authenticated()),
        "verify_rule_and_require": lambda: Guard(v, routes=routes, rule=scopes("read"), **o).require(
            roles("admin")),
        "verify_no_table_require_public": lambda: Guard(v, **o).require(public()),
        "trust": lambda: Guard(routes=routes, revocations=listed, **o),
        "trust_live_redis": lambda: Guard(routes=routes, revocations=live, **o),
        "trust_require_admin": lambda: Guard(routes=routes, revocations=listed, **o).require(roles("admin")),
        "trust_require_public": lambda: Guard(routes=routes, **o).require(public()),
        "trust_store_down_closed": lambda: Guard(routes=routes, revocations=down["closed"], **o),
        "trust_store_down_open": lambda: Guard(routes=routes, revocations=down["open"], **o),
        "verify_and_trust": lambda: Guard(v, trust_authorizer=True, routes=routes, revocations=listed, **o),
        "verify_and_trust_tokenless": lambda: Guard(v, trust_authorizer=True, routes=routes,
                                                    revocations=listed, **o,
                                                    context_without_token=("api_key", "client_cert")),
        "verify_and_trust_tokenless_require": lambda: Guard(
            v, trust_authorizer=True, routes=routes, revocations=listed, context_without_token=("api_key",),
            **o).require(roles("admin")),
        "mapper_subclass": lambda: Guard(v, routes=routes, claims=Mapper(), **o).require(roles("user")),
        "dpop": lambda: Guard(v, routes=routes, sender_constraint=dpop(), **o),
        "dpop_required_require": lambda: Guard(v, routes=routes, sender_constraint=SenderConstraint(
            require="dpop", dpop=DpopVerifier(replay=MemoryReplayStore())), **o).require(authenticated()),
        "dpop_no_replay_trusting": lambda: Guard(v, trust_authorizer=True, routes=routes,
                                                 sender_constraint=SenderConstraint(
                                                     dpop=DpopVerifier(replay=None)), **o),
        "cookie": lambda: Guard(v, routes=routes, token_sources=[TokenSource.cookie("at")], **o,
                                cors=Cors(allow_origins=["https://app.example"], allow_credentials=True)),
    }[name]()


def ok(event, context, principal):
    return {"statusCode": 200, "body": json.dumps({"id": principal.id, "kind": principal.kind,
                                                    "roles": sorted(principal.roles),
                                                    "anonymous": principal.is_anonymous})}


async def ok_async(event, context, principal):
    return ok(event, context, principal)


def run_guards():
    for name, events in spec.get("guards", {}).items():
        for mode in ("sync", "async"):
            records = []
            handler = guard(name, records.append)(ok_async if mode == "async" else ok)
            got = []
            for label, event in events:
                if label == "@change":  # the mapper's outside source changes
                    EXTERNAL["ann"] = ["other"]
                    continue
                try:
                    sent = copy.deepcopy(event)
                    resp = asyncio.run(handler(sent, None)) if mode == "async" else handler(sent, None)
                    got.append([label, answer(resp)])
                except BaseException as exc:
                    got.append([label, "raised " + type(exc).__name__])
            EXTERNAL["ann"] = ["user"]
            OUT[f"guard/{name}/{mode}"] = {"answers": got, "records": [clean(r) for r in records]}


class OddStore:
    """A shared store answering ``value`` (or raising it)."""

    shared = True
    is_async = False

    def __init__(self, value):
        self.value = value

    def _answer(self, *args):
        if isinstance(self.value, BaseException):
            raise self.value
        return self.value

    blocked_for = record = _answer


def penalty_store(kind, tag):
    from secauth.ratelimit.redis_store import AsyncRedisStore, RedisStore
    if kind == "memory":
        return None
    if kind == "redis":
        return RedisStore(spec["redis_url"], prefix=tag)
    if kind == "redis_async":
        return AsyncRedisStore(spec["redis_url"], prefix=tag)
    if kind == "closed":
        return RedisStore(spec["closed_redis"])
    if kind == "closed_async":
        return AsyncRedisStore(spec["closed_redis"])
    if kind == "black_hole":
        return RedisStore(spec["black_hole"], socket_timeout=0.1, connect_timeout=0.1)
    if kind == "answers_none":
        return OddStore(None)
    if kind == "answers_text":
        return OddStore("soon")
    if kind == "raises":
        return OddStore(RuntimeError("boom"))
    if kind == "dynamodb":
        import boto3
        from secauth.ratelimit.dynamodb_store import DynamoDBStore
        client = boto3.client("dynamodb", endpoint_url=spec["ddb_endpoint"], region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="test")
        store = DynamoDBStore(tag.replace(":", "-"), client=client)
        store.create_table()
        return store
    raise KeyError(kind)


def seconds(value):
    return round(value) if isinstance(value, float) else value


async def penalty_sequence(store_kind, policy, deny, mode, tag):
    from secauth.errors import AbuseBlocked
    from secauth.ratelimit import AbusePenalty
    try:
        penalty = AbusePenalty(store=penalty_store(store_kind, tag), auth_failures="3/minute",
                               unknown_paths="2/minute", cooldown=900, on_store_error=policy,
                               retry_store_after=60, deny_cache=deny)
    except Exception as exc:
        return [["init", type(exc).__name__, str(exc)]]
    a, b, c = (spec["penalty_events"][n] for n in "abc")

    async def call(name, *args):
        try:
            if mode == "async":
                got = await getattr(penalty, name + "_async")(*args)
            else:
                got = getattr(penalty, name)(*args)
            return ["ok", seconds(got)]
        except AbuseBlocked as exc:
            return ["AbuseBlocked", seconds(exc.retry_after), exc.reason.value]
        except Exception as exc:
            return [type(exc).__name__, str(exc)[:160]]

    steps = [("blocked_for", a), ("blocked_for", a, "Mallory")]
    steps += [("record_auth_failure", a, "Mallory")] * 4
    steps += [("blocked_for", a), ("blocked_for", b), ("blocked_for", b, "mallory"),
              ("check", b, "MALLORY"), ("check", b)]
    steps += [("record_not_found", b, "/x1"), ("record_not_found", b, "/x1"),
              ("record_not_found", b, "/x2"), ("record_not_found", b, "/x3"),
              ("blocked_for", b), ("check", b)]
    out = [[step[0], await call(*step)] for step in steps]
    if store_kind.startswith("redis"):  # the blocks vanish from the store: the deny cache still has them
        import redis
        client = redis.Redis.from_url(spec["redis_url"])
        for key in client.scan_iter("{" + tag + "*"):
            client.delete(key)
        client.close()
        for label, step in [("a blocked_for", ("blocked_for", a)), ("b check", ("check", b)),
                            ("c blocked_for", ("blocked_for", c)),
                            ("c record_auth_failure", ("record_auth_failure", c, "carol"))]:
            out.append([label + " after the store forgot", await call(*step)])
    out.append(["store failures", penalty._guard.store_failures])
    return out


def run_penalties():
    for store_kind, policy, deny, mode in spec.get("penalties", []):
        tag = f"{spec['tag']}:{store_kind}:{policy}:{deny}:{mode}"
        OUT[f"penalty/{store_kind}/{policy}/{deny}/{mode}"] = asyncio.run(
            penalty_sequence(store_kind, policy, deny, mode, tag))


def run_authorizers():
    records = []
    routes = Routes({"GET /orders/{id}": authenticated(), "GET /orders/me": roles("admin"),
                     "GET /public": public(), "GET /admin": roles("admin")})
    o = dict(decision_log=None, on_decision=records.append)
    built = {
        "rest_memoized": Authorizer(verifier(), routes=routes, **o),
        "rest_cached": Authorizer(verifier(), routes=routes, cache_ttl=300, **o),
        "http": Authorizer(verifier(), routes=routes, api="http", **o),
        "http_mapper_subclass": Authorizer(verifier(), routes=routes, api="http", claims=Mapper(), **o),
    }
    for name, authorizer in built.items():
        got = []
        for label, event in spec["authorizer_events"]:
            if label == "@change":
                EXTERNAL["ann"] = ["admin"]
                continue
            try:
                got.append([label, authorizer.handler(copy.deepcopy(event), None)])
            except BaseException as exc:
                got.append([label, "raised " + type(exc).__name__ + ": " + str(exc)])
        EXTERNAL["ann"] = ["user"]
        OUT[f"authorizer/{name}"] = got
    OUT["authorizer/records"] = [clean(r) for r in records]


def run_introspection():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs

    from secauth.client_auth import ClientAuth
    from secauth.introspection import IntrospectionVerifier

    answers = spec["introspection_answers"]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            form = parse_qs(self.rfile.read(int(self.headers.get("content-length", "0"))).decode())
            body = json.dumps(answers.get(form.get("token", [""])[0], {"active": False})).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/introspect"
    for options_name, options in spec["introspection_options"].items():
        for mode in ("sync", "async"):
            v = IntrospectionVerifier(issuer=ISS, audience=AUD, client=ClientAuth.basic("c", "s"),
                                      endpoint=endpoint, allow_http=True, **options)
            got = []
            for sent in list(answers) * 2 + ["unknown-token", ""]:
                try:
                    claims = asyncio.run(v.verify_async(sent)) if mode == "async" else v.verify(sent)
                    got.append([sent, "ok", claims])
                except Exception as exc:
                    detail = {k: x for k, x in (getattr(exc, "detail", None) or {}).items() if k != "now"}
                    got.append([sent, type(exc).__name__, detail])
            OUT[f"introspection/{options_name}/{mode}"] = got
    server.shutdown()
    server.server_close()


def run_stacks():
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from secauth.integrations.powertools import guard_middleware

    bound_source = [TokenSource.header("x-bound-token", scheme="DPoP")]
    order7 = Routes({"GET /orders/7": authenticated()})
    public7 = Routes({"GET /orders/7": public()})

    def dv(store=None):
        return DpopVerifier(replay=store if store is not None else MemoryReplayStore())

    def outer_dpop():
        return Guard(verifier(), decision_log=None, routes=public7,
                     sender_constraint=SenderConstraint(dpop=dv()))

    def bound(dpop=None, **kw):
        kw.setdefault("routes", order7)
        kw.setdefault("token_sources", bound_source)
        return Guard(verifier(), decision_log=None,
                     sender_constraint=SenderConstraint(require="dpop", dpop=dpop or dv()), **kw)

    def plain(routes=public7):
        return Guard(verifier(), decision_log=None, routes=routes)

    shared = dv()
    other = [TokenSource.header("x-other-token", scheme="DPoP")]
    stacks = {
        "dpop_global_bound_route": lambda: (outer_dpop(), [bound()]),
        "dpop_global_bound_route_require": lambda: (outer_dpop(), [bound().require(roles("admin"))]),
        "two_route_guards": lambda: (plain(), [bound(routes=public7, token_sources=other), bound()]),
        "shared_replay_store": lambda: (plain(), [Guard(verifier(), decision_log=None, routes=order7,
                                                        token_sources=bound_source,
                                                        sender_constraint=SenderConstraint(dpop=shared)),
                                                  bound(shared)]),
        "replay_none_trusting_route": lambda: (outer_dpop(), [bound(DpopVerifier(replay=None),
                                                                    trust_authorizer=True)]),
        "public_global_require_authenticated": lambda: (plain(), [Guard(verifier(), decision_log=None)
                                                                  .require(authenticated())]),
        "public_global_require_public": lambda: (plain(), [plain().require(public())]),
        "trusting_global_verifying_route": lambda: (Guard(routes=public7, decision_log=None),
                                                    [plain(order7)]),
    }
    for name, make in stacks.items():
        outer, route_guards = make()
        app = APIGatewayHttpResolver()
        app.use(middlewares=[guard_middleware(outer)])

        @app.get("/orders/7", middlewares=[guard_middleware(g) for g in route_guards])
        def route():
            return {"ok": "yes"}

        got = []
        for label, event in spec["stack_events"]:
            try:
                got.append([label, answer(app.resolve(copy.deepcopy(event), None))])
            except BaseException as exc:
                got.append([label, "raised " + type(exc).__name__])
        OUT[f"stack/{name}"] = got


run_guards()
run_penalties()
if spec.get("authorizer_events"):
    run_authorizers()
if spec.get("introspection_answers"):
    run_introspection()
if spec.get("stack_events"):
    run_stacks()
print(json.dumps(OUT, sort_keys=True, default=str))
'''


def run_both(
    base_src: Path, tmp_path: Path, spec: dict[str, Any], *, tag: bool = False
) -> dict[str, Any]:
    """The scenario script's outcomes on HEAD and on 11defa8: {"head": ..., "base": ...}, each
    with its stderr (the warnings and logs secauth printed)."""
    script = tmp_path / "scenarios.py"
    script.write_text(SCENARIOS)
    found: dict[str, Any] = {}
    for name, src in (("head", ROOT / "src"), ("base", base_src)):
        sent = dict(spec, tag=f"r148{name}") if tag else dict(spec)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "COV_"))}
        env["PYTHONPATH"] = str(src)
        done = subprocess.run([sys.executable, str(script)], input=json.dumps(sent), capture_output=True,
                              text=True, env=env, cwd=tmp_path, timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        outcome = json.loads(done.stdout.strip().splitlines()[-1])
        assert (
            Path(outcome.pop("secauth")).resolve().is_relative_to(src.resolve())
        )  # the tree meant
        found[name] = outcome
        found[name + "_stderr"] = done.stderr
    return found


def loopback_ports_out(text: str) -> str:
    """``text`` without the port numbers of loopback addresses (each run's endpoint has its own)."""
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)


def differences(found: dict[str, Any]) -> list[str]:
    head, base = found["head"], found["base"]
    assert head.keys() == base.keys()
    return [name for name in head if head[name] != base[name]]


# =============================================================================================
# Differential: HEAD answers, records and logs as 11defa8 did
# =============================================================================================

GUARD_EVENTS: list[tuple[str, Any]] = [
    ("anonymous on /public", get("/public")),
    ("anonymous on /orders", get()),
    ("ann", get(bearer=ANN)),
    ("ann again (memo)", get(bearer=ANN)),
    ("ann on /public", get("/public", ANN)),
    ("ann on /admin", get("/admin", ANN)),
    ("admin on /admin", get("/admin", ADMIN)),
    ("admin without scope on /admin", get("/admin", ADMIN_NO_SCOPE)),
    ("forged", get(bearer=FORGED)),
    ("revoked token, no context", get("/admin", REVOKED)),
    ("garbage token on /public", get("/public", "abc.def")),
    ("context, no token", through_authorizer(ANN)),
    ("context and token", through_authorizer(ANN, keep_token=True)),
    ("admin context, no token", through_authorizer(ADMIN, "/admin")),
    ("revoked context, no token", through_authorizer(REVOKED, "/admin")),
    ("revoked context and token", through_authorizer(REVOKED, "/admin", keep_token=True)),
    ("context without token claims", through_authorizer(ADMIN, "/admin", passes=False)),
    ("context disagreeing with the token", disagreeing()),
    ("forged context", forged_context()),
    ("forged context on /public", forged_context("/public")),
    (
        "REST context",
        rest_proxy(
            "GET",
            "/orders/7",
            authorizer_response=Authorizer(
                VERIFIER, routes=AUTHORIZER_ROUTES, decision_log=None, context_token_claims=True
            ).handler(request_authorizer("GET", "/orders/7", token=ANN), None),
        ),
    ),
    ("websocket message", websocket(ANN)),
    ("websocket message, revoked", websocket(REVOKED)),
    ("bound token as Bearer", get(bearer=BOUND)),
    ("DPoP", dpop_event(BOUND, CLIENT.proof("GET", URL, access_token=BOUND))),
    ("DPoP without proof", dpop_event(BOUND)),
    (
        "cookie, allowed Origin",
        get(headers={"cookie": f"at={ANN}", "origin": "https://app.example"}),
    ),
    (
        "cookie, other Origin",
        get(headers={"cookie": f"at={ANN}", "origin": "https://evil.example"}),
    ),
    ("cookie, no Origin", get(headers={"cookie": f"at={ANN}"})),
]
_PROOF = CLIENT.proof("GET", URL, access_token=BOUND)
GUARD_EVENTS += [
    ("DPoP proof once", dpop_event(BOUND, _PROOF)),
    ("DPoP proof replayed", dpop_event(BOUND, _PROOF)),
]
GUARDS = ("verify", "verify_require_admin", "verify_require_authenticated", "verify_rule_and_require",
          "verify_no_table_require_public", "trust", "trust_live_redis", "trust_require_admin",
          "trust_require_public", "trust_store_down_closed", "trust_store_down_open", "verify_and_trust",
          "verify_and_trust_tokenless", "verify_and_trust_tokenless_require", "dpop",
          "dpop_required_require", "dpop_no_replay_trusting", "cookie")  # fmt: skip
MAPPER_EVENTS = [("ann", get(bearer=ANN)), ("ann again", get(bearer=ANN)), ("@change", None),
                 ("ann after the change", get(bearer=ANN)), ("ann once more", get(bearer=ANN))]  # fmt: skip


def test_guards_sync_and_async_answer_record_and_log_as_before(
    base_src: Path, tmp_path: Path, redis_url: str, closed_port: int
) -> None:
    spec = {"iss": ISS, "aud": AUD, "jwk": PAIR.public_jwk, "redis_url": redis_url,
            "closed_redis": f"redis://127.0.0.1:{closed_port}/0",
            "guards": {**dict.fromkeys(GUARDS, GUARD_EVENTS), "mapper_subclass": MAPPER_EVENTS}}  # fmt: skip
    found = run_both(base_src, tmp_path, spec)
    assert differences(found) == []
    assert found["head_stderr"] == found["base_stderr"]
    head = found["head"]
    statuses = {
        label: a["status"]
        for label, a in head["guard/verify_require_authenticated/async"]["answers"]
    }
    assert statuses["anonymous on /public"] == 401  # the rule: never anonymous
    statuses = {label: a["status"] for label, a in head["guard/trust/sync"]["answers"]}
    assert (statuses["context, no token"], statuses["revoked context, no token"]) == (200, 401)
    assert (statuses["websocket message"], statuses["websocket message, revoked"]) == (200, 401)
    mapped = [a["status"] for _, a in head["guard/mapper_subclass/async"]["answers"]]
    assert mapped == [200, 200, 403, 403]  # mapped afresh: the change is seen at once
    down = {
        label: a["status"] for label, a in head["guard/trust_store_down_closed/sync"]["answers"]
    }
    assert down["context, no token"] == 503


PENALTY_STORES = ("memory", "redis", "redis_async", "closed", "closed_async", "answers_none", "answers_text",
                  "raises", "dynamodb")  # fmt: skip


def test_abuse_penalties_sync_and_async_decide_as_before(
    base_src: Path,
    tmp_path: Path,
    redis_url: str,
    ddb_client: Any,
    closed_port: int,
    black_hole: tuple[int, list[socket.socket]],
) -> None:
    policies = ("memory", "closed", "open")
    cases = [[store, policy, deny, mode] for store in PENALTY_STORES for policy in policies
             for deny in (True, False) for mode in ("sync", "async")]  # fmt: skip
    cases += [["black_hole", policy, True, "sync"] for policy in ("memory", "closed", "open")]
    events = {"a": get(source_ip="203.0.113.5"), "b": get("/nothing", source_ip="203.0.113.6"),
              "c": get(source_ip="198.51.100.9")}  # fmt: skip
    spec = {"iss": ISS, "aud": AUD, "jwk": PAIR.public_jwk, "penalties": cases, "penalty_events": events,
            "redis_url": redis_url, "closed_redis": f"redis://127.0.0.1:{closed_port}/0",
            "black_hole": f"redis://127.0.0.1:{black_hole[0]}/0",
            "ddb_endpoint": ddb_client.meta.endpoint_url}  # fmt: skip
    found = run_both(base_src, tmp_path, spec, tag=True)
    assert differences(found) == []
    assert found["head_stderr"] == found["base_stderr"]
    head = found["head"]
    fourth_failure = {
        policy: head[f"penalty/closed/{policy}/True/async"][5][1]
        for policy in ("memory", "closed", "open")
    }
    assert fourth_failure == {"memory": ["ok", 900], "closed": ["ok", 0], "open": ["ok", 0]}
    after = {step[0]: step[1] for step in head["penalty/redis/memory/True/sync"][17:]}
    assert after["a blocked_for after the store forgot"] == ["ok", 900]  # the deny cache
    after = {step[0]: step[1] for step in head["penalty/redis/memory/False/sync"][17:]}
    assert after["a blocked_for after the store forgot"] == ["ok", 0]


def _introspected() -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "sub": "ann", "exp": now + 3600}
    return {"active": {"active": True, **claims, "token_type": "Bearer"}, "inactive": {"active": False},
            "wrong-aud": {"active": True, **claims, "aud": "x"},
            "expired": {"active": True, **claims, "exp": now - 100},
            "not-yet": {"active": True, **claims, "nbf": now + 1000},
            "no-exp": {"active": True, "iss": ISS, "aud": AUD, "sub": "ann"},
            "dpop-type": {"active": True, **claims, "token_type": "DPoP", "cnf": {"jkt": "x"}},
            "cnf-bearer": {"active": True, **claims, "cnf": {"jkt": "x"}},
            "active-text": {"active": "true", **claims}, "bad-exp": {"active": True, **claims, "exp": "soon"},
            "no-sub": {"active": True, "iss": ISS, "aud": AUD, "exp": now + 3600}}  # fmt: skip


def _authorizer_events() -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for label, sent in (("ann", ANN), ("admin", ADMIN), ("garbage", "abc"), ("bound", BOUND)):
        found += [
            (f"TOKEN {label}", token_authorizer("GET", "/orders/7", token=sent)),
            (f"TOKEN {label} again", token_authorizer("GET", "/orders/7", token=sent)),
            (f"TOKEN {label} /admin", token_authorizer("GET", "/admin", token=sent)),
            (f"REQUEST {label}", request_authorizer("GET", "/orders/7", resource="/orders/{id}",
                                                    path_params={"id": "7"}, token=sent)),
            (f"REQUEST {label} me as id", request_authorizer("GET", "/orders/me", resource="/orders/{id}",
                                                             path_params={"id": "me"}, token=sent)),
            (f"HTTP {label} me as id", http_authorizer_v2("GET", "/orders/me", route_key="GET /orders/{id}",
                                                          path_params={"id": "me"}, token=sent)),
            (f"HTTP {label} me", http_authorizer_v2("GET", "/orders/me", route_key="GET /orders/me",
                                                    token=sent)),
            (f"HTTP {label}", http_authorizer_v2("GET", "/orders/7", route_key="GET /orders/{id}",
                                                 path_params={"id": "7"}, token=sent)),
            (f"HTTP {label} again", http_authorizer_v2("GET", "/orders/7", route_key="GET /orders/{id}",
                                                       path_params={"id": "7"}, token=sent)),
            (f"HTTP {label} cookie", http_authorizer_v2("GET", "/orders/7",
                                                        headers={"cookie": f"at={sent}"})),
        ]  # fmt: skip
    proof = CLIENT.proof("GET", URL, access_token=BOUND)
    dpop = http_authorizer_v2("GET", "/orders/7", route_key="GET /orders/{id}", path_params={"id": "7"},
                              headers={"authorization": f"DPoP {BOUND}", "dpop": proof})  # fmt: skip
    return [
        *found,
        ("unsupported", {"foo": 1}), ("None", None), ("a list", [1, 2]), ("empty", {}),
        ("TOKEN without ARN", {"type": "TOKEN"}),
        ("bad ARN", {"type": "TOKEN", "authorizationToken": f"Bearer {ANN}", "methodArn": "nope"}),
        ("DPoP", dpop), ("DPoP replayed", dpop),
        ("ann before the change", request_authorizer("GET", "/orders/me", resource="/orders/me", token=ANN)),
        ("@change", None),
        ("ann after the change", request_authorizer("GET", "/orders/me", resource="/orders/me", token=ANN)),
        ("HTTP ann after the change", http_authorizer_v2("GET", "/orders/me", route_key="GET /orders/me",
                                                         token=ANN)),
    ]  # fmt: skip


def test_authorizers_and_introspection_answer_and_record_as_before(
    base_src: Path, tmp_path: Path
) -> None:
    spec = {"iss": ISS, "aud": AUD, "jwk": PAIR.public_jwk, "authorizer_events": _authorizer_events(),
            "introspection_answers": _introspected(),
            "introspection_options": {"default": {}, "no type": {"token_type": None},
                                      "bound": {"bound_tokens": True, "token_type": None},
                                      "leeway": {"leeway": 200, "require_exp": False},
                                      "no cache": {"negative_ttl": 0, "cache_size": 0}}}  # fmt: skip
    found = run_both(base_src, tmp_path, spec)
    assert differences(found) == []
    assert loopback_ports_out(found["head_stderr"]) == loopback_ports_out(found["base_stderr"])
    records = found["head"]["authorizer/records"]
    assert [r["reason"] for r in records if r.get("reason") == "unsupported_event"]
    answers = dict(found["head"]["authorizer/http"])
    effects = {label: answers[label]["policyDocument"]["Statement"][0]["Effect"]
               for label in ("HTTP admin me as id", "HTTP admin me")}  # fmt: skip
    assert effects == {
        "HTTP admin me as id": "Deny",
        "HTTP admin me": "Allow",
    }  # read as API GW ran


def test_powertools_stacks_record_dpop_proofs_as_before(base_src: Path, tmp_path: Path) -> None:
    bound_admin = token("ann", cnf={"jkt": CLIENT.jkt}, roles=["admin"])
    bound_other = token("ann", cnf={"jkt": OTHER_KEY.jkt})
    bound_ann = token("ann", cnf={"jkt": CLIENT.jkt})
    plain_ann = token("ann")

    def order(**headers: str) -> dict[str, Any]:
        return get(headers={k.replace("_", "-"): v for k, v in headers.items()})

    first, second, third = (
        CLIENT.proof("GET", URL, access_token=t) for t in (bound_ann, bound_admin, bound_ann)
    )
    gate = Authorizer(VERIFIER, routes=Routes({"GET /orders/7": authenticated()}), decision_log=None,
                      api="http", context_token_claims=True)  # fmt: skip
    gated = http_proxy(
        "GET",
        "/orders/7",
        authorizer_response=gate.handler(
            http_authorizer_v2("GET", "/orders/7", token=plain_ann), None
        ),
        headers={
            "x-bound-token": f"DPoP {bound_ann}",
            "dpop": CLIENT.proof("GET", URL, access_token=bound_ann),
        },
    )
    events = [
        ("both", order(authorization=f"DPoP {bound_ann}", x_bound_token=f"DPoP {bound_ann}", dpop=first)),
        ("replay without Authorization", order(x_bound_token=f"DPoP {bound_ann}", dpop=first)),
        ("replay with a Bearer", order(authorization=f"Bearer {plain_ann}", x_bound_token=f"DPoP {bound_ann}",
                                       dpop=first)),
        ("replay of both", order(authorization=f"DPoP {bound_ann}", x_bound_token=f"DPoP {bound_ann}",
                                 dpop=first)),
        ("admin", order(authorization=f"DPoP {bound_admin}", x_bound_token=f"DPoP {bound_admin}",
                        dpop=second)),
        ("route token only", order(x_bound_token=f"DPoP {bound_ann}", dpop=third)),
        ("route token only, replayed", order(x_bound_token=f"DPoP {bound_ann}", dpop=third)),
        ("x-other-token", order(x_other_token=f"DPoP {bound_ann}", x_bound_token=f"DPoP {bound_ann}",
                                dpop=CLIENT.proof("GET", URL, access_token=bound_ann))),
        ("Bearer only", order(authorization=f"Bearer {plain_ann}")),
        ("anonymous", order()),
        ("through the authorizer", gated), ("through the authorizer, replayed", gated),
        ("another key", order(authorization=f"Bearer {plain_ann}", x_bound_token=f"DPoP {bound_other}",
                              dpop=OTHER_KEY.proof("GET", URL, access_token=bound_other))),
    ]  # fmt: skip
    found = run_both(
        base_src, tmp_path, {"iss": ISS, "aud": AUD, "jwk": PAIR.public_jwk, "stack_events": events}
    )
    assert differences(found) == []
    assert found["head_stderr"] == found["base_stderr"]
    statuses = [a["status"] for _, a in found["head"]["stack/dpop_global_bound_route"]]
    assert statuses[:4] == [200, 401, 401, 401]  # recorded once, by one of the guards: no replay


# =============================================================================================
# What held, pinned on HEAD
# =============================================================================================


@pytest.mark.parametrize("handler", [ok, ok_async], ids=["sync", "async"])
def test_a_require_guard_applies_its_rule_per_call_not_to_the_guard_it_came_from(
    handler: Any,
) -> None:
    base = Guard(VERIFIER, routes=ROUTES, decision_log=None)
    derived = base.require(authenticated())
    assert derived.caller_identifier is base.caller_identifier  # one memo, one identification step
    strict, loose = derived(handler), base(handler)
    assert status(strict, get("/public")) == 401  # a handler's own rule: never anonymous
    assert status(loose, get("/public")) == 200  # the table's public route, for the guard alone
    assert status(strict, get("/public", ANN)) == 200
    assert status(base.require(roles("admin"))(handler), get("/public", ANN)) == 403
    assert status(loose, get("/public")) == 200  # still: the rule went with the call


@pytest.mark.parametrize("handler", [ok, ok_async], ids=["sync", "async"])
def test_trust_mode_revocations_on_live_redis_refuse_a_revoked_context(
    handler: Any, redis_url: str
) -> None:
    listed = Revocations(RedisRevocationStore(redis_url), max_token_lifetime=86400, max_staleness=0)
    listed.revoke_token(ISS, "revoked-jti")
    guarded = Guard(routes=ROUTES, revocations=listed, decision_log=None)(handler)
    assert status(guarded, through_authorizer(ANN)) == 200
    assert status(guarded, through_authorizer(REVOKED, "/admin")) == 401
    assert status(guarded, websocket(REVOKED)) == 401


@pytest.mark.parametrize("handler", [ok, ok_async], ids=["sync", "async"])
def test_trust_mode_with_a_revocation_store_down_fails_closed(
    handler: Any, closed_port: int
) -> None:
    store = RedisRevocationStore(
        f"redis://127.0.0.1:{closed_port}/0", socket_timeout=0.2, connect_timeout=0.2
    )
    listed = Revocations(store, max_token_lifetime=86400, max_staleness=0)
    guarded = Guard(routes=ROUTES, revocations=listed, decision_log=None)(handler)
    assert status(guarded, through_authorizer(ANN)) == 503
    assert status(guarded, get("/public")) == 200  # the anonymous caller has no token to check


@pytest.mark.parametrize("handler", [ok, ok_async], ids=["sync", "async"])
def test_a_verifying_guard_that_trusts_refuses_a_user_context_without_its_token(
    handler: Any,
) -> None:
    guard = Guard(VERIFIER, trust_authorizer=True, routes=ROUTES, decision_log=None,
                  context_without_token=("api_key",))  # fmt: skip
    guarded = guard.require(authenticated())(handler)
    assert status(guarded, through_authorizer(ANN)) == 401
    assert status(guarded, through_authorizer(ANN, keep_token=True)) == 200
    assert status(guarded, disagreeing()) == 401


def test_a_claim_mapper_subclass_maps_every_request_afresh() -> None:
    source = {"ann": ["user"]}

    class Outside(ClaimMapper):
        def map(self, claims: Any) -> Principal:
            found = super().map(claims)
            return Principal(
                found.id, roles=source.get(found.id, []), claims=found.claims, issuer=found.issuer
            )

    guarded = Guard(VERIFIER, routes=ROUTES, claims=Outside(), decision_log=None).require(
        roles("user")
    )(ok)
    assert status(guarded, get(bearer=ANN)) == 200
    source["ann"] = []
    assert status(guarded, get(bearer=ANN)) == 403  # no memoized principal answered


@pytest.mark.parametrize("handler", [ok, ok_async], ids=["sync", "async"])
def test_a_dpop_proof_is_used_once_through_a_require_guard(handler: Any) -> None:
    constraint = SenderConstraint(require="dpop", dpop=DpopVerifier(replay=MemoryReplayStore()))
    guard = Guard(VERIFIER, routes=ROUTES, sender_constraint=constraint, decision_log=None)
    guarded = guard.require(authenticated())(handler)
    sent = dpop_event(BOUND, CLIENT.proof("GET", URL, access_token=BOUND))
    assert [status(guarded, sent), status(guarded, sent)] == [200, 401]
    assert status(guarded, get(bearer=BOUND)) == 401  # a bound token is no bearer token


def _penalty_answers(
    penalty: AbusePenalty, mode: str, event: dict[str, Any]
) -> tuple[float, float]:
    """(the fourth failure's block, blocked_for after it), in one event loop for async."""

    async def run() -> tuple[float, float]:
        for _ in range(3):
            await penalty.record_auth_failure_async(event, "mallory")
        return await penalty.record_auth_failure_async(
            event, "mallory"
        ), await penalty.blocked_for_async(event)

    if mode == "async":
        return asyncio.run(run())
    for _ in range(3):
        penalty.record_auth_failure(event, "mallory")
    return penalty.record_auth_failure(event, "mallory"), penalty.blocked_for(event)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    ("policy", "expected"), [("memory", (900, 900)), ("closed", (0, 60)), ("open", (0, 0))]
)
def test_a_penalty_on_a_closed_port_follows_its_failure_policy(
    closed_port: int, mode: str, policy: str, expected: tuple[int, int]
) -> None:
    url = f"redis://127.0.0.1:{closed_port}/0"
    store = AsyncRedisStore(url) if mode == "async" else RedisStore(url)
    penalty = AbusePenalty(store=store, auth_failures="3/minute", cooldown=900, on_store_error=policy,
                           retry_store_after=60)  # fmt: skip
    got = _penalty_answers(penalty, mode, get(source_ip="203.0.113.5"))
    assert tuple(round(x) for x in got) == expected
    if policy == "closed":  # while the store is down, everyone is blocked
        someone = get(source_ip="198.51.100.9")
        with pytest.raises(AbuseBlocked):
            _ = (
                penalty.check(someone)
                if mode == "sync"
                else asyncio.run(penalty.check_async(someone))
            )
    assert penalty._guard.store_failures >= 1


@pytest.mark.parametrize("deny_cache", [True, False])
def test_the_deny_cache_keeps_a_block_the_store_forgot(
    redis_url: str, redis_client: Any, deny_cache: bool
) -> None:
    penalty = AbusePenalty(store=RedisStore(redis_url, prefix="r148"), auth_failures="3/minute", cooldown=900,
                           deny_cache=deny_cache)  # fmt: skip
    event = get(source_ip="203.0.113.5")
    assert round(_penalty_answers(penalty, "sync", event)[1]) == 900
    for key in redis_client.scan_iter("{r148*"):
        redis_client.delete(key)
    assert round(penalty.blocked_for(event)) == (900 if deny_cache else 0)


def test_a_dynamodb_penalty_blocks_after_its_threshold_sync_and_async(ddb_client: Any) -> None:
    from secauth.ratelimit.dynamodb_store import AsyncDynamoDBStore, DynamoDBStore

    store = DynamoDBStore("penalties-r148", client=ddb_client)
    store.create_table()
    sync = AbusePenalty(store=store, auth_failures="3/minute", cooldown=900)
    assert tuple(
        round(x) for x in _penalty_answers(sync, "sync", get(source_ip="203.0.113.5"))
    ) == (900, 900)
    both = AbusePenalty(
        store=AsyncDynamoDBStore(store=store), auth_failures="3/minute", cooldown=900
    )
    got = _penalty_answers(both, "async", get(source_ip="203.0.113.6"))
    assert tuple(round(x) for x in got) == (900, 900)


def test_a_deny_entry_names_its_moment_and_seconds() -> None:
    """(Review 150 made a DenyEntry the moment and the seconds it denies for, read with
    ``left(now)``, where it was an (until, payload) pair.)"""
    cache = DenyCache(maxsize=2)
    cache.put("ip:203.0.113.5", seconds=10.0, payload=None, now=100.0)
    hit = cache.get("ip:203.0.113.5", 100.0)
    assert isinstance(hit, DenyEntry)
    assert (hit.at, hit.seconds, hit.payload) == (100.0, 10.0, None)
    assert hit.left(104.0) == 6.0
    assert cache.get("ip:203.0.113.5", 110.0) is None


@pytest.mark.parametrize("event", [{"foo": 1}, None, [1, 2]], ids=["unknown", "None", "list"])
def test_an_unsupported_event_is_recorded_as_such(event: Any) -> None:
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(
        VERIFIER, routes=AUTHORIZER_ROUTES, decision_log=None, on_decision=records.append
    )
    with pytest.raises(Exception, match="Unauthorized"):
        authorizer.handler(event, None)  # type: ignore[arg-type]
    assert [(r["decision"], r["reason"], r["status"]) for r in records] == [
        ("unauthorized", "unsupported_event", 401)
    ]
