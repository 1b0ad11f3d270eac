"""Review 27: an attack on review 26's fixes (f5f33bf, f77b956, 048fa99).

Targets: ``guard_routes.routed_path`` and the custom-domain test (``_on_custom_domain``),
route limits on every reading, DPoP replay recording (``proof_recorded``,
``check_recorded_elsewhere``, the async Guard path, Powertools route guards), the replay
stores' reply checks, ``_RedactingStream.buffer``.

Findings are ``xfail(strict=True)`` tests asserting the correct behaviour; the attacks that
held are plain regression tests. Real objects, real events (``secauth.testing_events``),
keys from ``secauth.testing`` / ``secauth.testing_dpop``, a real redis-server on loopback,
a real Powertools resolver; no mocks.
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from dpop_parties import CLIENT, TOKEN, URL, VERIFIER
from guard_callers import ACME, CUSTOM, JWT, MAPPER

from secauth import Authorizer, Guard, RateLimiter, Routes
from secauth._invoke import _RedactingStream
from secauth.access import authenticated, public, tenant
from secauth.dpop import DpopVerifier
from secauth.dpop_replay import MemoryReplayStore, RedisReplayStore, ReplayStoreUnavailable
from secauth.errors import ConfigurationError
from secauth.events import EventKind, Request
from secauth.guard_routes import routed_path
from secauth.integrations.powertools import guard_middleware
from secauth.ratelimit import Limit, MemoryStore
from secauth.sender_constraint import SenderConstraint
from secauth.testing_events import (
    http_authorizer_v2,
    http_proxy,
    on_custom_domain,
    rest_proxy,
    token_authorizer,
    websocket_message,
)

TENANTS = Routes(
    {
        "GET /tenants/{t}/orders": tenant(path="t"),
        "GET /files/{name}": authenticated(),
        "GET /health": public(),
        "ANY /{proxy+}": authenticated(),
    }
)


def status(routes: Routes | None, event: dict[str, Any], **options: Any) -> int:
    """The status of a guarded handler's answer to ``event``."""
    options.setdefault("claims", MAPPER)
    guard = Guard(JWT, routes=routes, decision_log=None, **options)
    return int(guard(lambda e, c: {"statusCode": 200, "body": "ok"})(event, None)["statusCode"])


def mapped(event: dict[str, Any], prefix: str, domain: str = CUSTOM) -> dict[str, Any]:
    """``event`` as API Gateway sends it behind the custom domain ``domain`` whose base-path
    mapping is ``prefix`` (``""``: none): the path keeps the prefix, the route does not."""
    return on_custom_domain(event, domain, base_path=prefix)


def orders(who: str, kind: str = "rest") -> dict[str, Any]:
    """``GET /tenants/{who}/orders`` by the acme caller, on the tenant route."""
    if kind == "rest":
        return rest_proxy(
            "GET", f"/tenants/{who}/orders", resource="/tenants/{t}/orders", token=ACME
        )
    return http_proxy(
        "GET", f"/tenants/{who}/orders", route_key="GET /tenants/{t}/orders", token=ACME
    )


# =============================================================================================
# FINDINGS
# =============================================================================================

# -- F1 (low, fails closed): an asyncio Redis client is not refused when the store is built --


def test_a_redis_asyncio_client_is_refused_when_the_replay_store_is_built() -> None:
    """CHANGELOG/docs: "an asyncio client is refused at construction". The check is
    ``inspect.iscoroutinefunction(client.set)``, but redis-py's asyncio ``set`` is a plain
    method returning ``execute_command``'s coroutine: it is False, the client is taken, and
    every DPoP request is a 503 (plus a never-awaited coroutine warning)."""
    import redis.asyncio

    client = redis.asyncio.Redis(host="127.0.0.1", port=1)
    with pytest.raises(ConfigurationError):
        RedisReplayStore(client=client)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_redis_asyncio_client_never_counts_a_first_use() -> None:
    """What held of F1: at run time the coroutine is no reply, never a first use."""
    import redis.asyncio

    client = redis.asyncio.Redis(host="127.0.0.1", port=1)
    try:
        store = RedisReplayStore(client=client)
    except ConfigurationError:
        return
    with pytest.raises(ReplayStoreUnavailable):
        store.first_use("k", 4_000_000_000.0)


# -- F2, F3 (low): `secauth authorize` and sys.stdout.buffer -----------------------------------


def test_bytes_split_inside_a_utf8_character_are_not_garbled() -> None:
    """``_RedactingBuffer.write`` decodes every chunk alone with ``errors="replace"``: a
    multi-byte character split between two writes (a chunked byte writer) becomes two
    U+FFFD. An incremental decoder kept by the stream would keep the text."""
    target = io.StringIO()
    stream = _RedactingStream(target, ["SECRET-TOKEN"])
    data = "München SECRET-TOKEN\n".encode()
    stream.buffer.write(data[:2])
    stream.buffer.write(data[2:])
    assert target.getvalue() == "München [redacted]\n"


CLI_TOKEN = "opaque-token-review27-0123456789-LEAK"
_ALLOW = """
def handler(event, context):
    globals().get("before", lambda event: None)(event)
    return {"principalId": "p", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": [event["methodArn"]]}]}}
"""


def _run_cli(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    """``python -m secauth authorize`` on a TOKEN event carrying ``CLI_TOKEN``."""
    (tmp_path / "review27_app.py").write_text(textwrap.dedent(source) + _ALLOW, "utf-8")
    event = token_authorizer("GET", "/orders", token=CLI_TOKEN)
    (tmp_path / "event.json").write_text(json.dumps(event), "utf-8")
    return subprocess.run(
        [sys.executable, "-m", "secauth", "authorize", "--app", "review27_app:handler",
         "--event", "event.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_authorize_runs_apps_that_wrap_sys_stdout_buffer_in_a_text_wrapper(
    tmp_path: Path,
) -> None:
    """Review 26's own example (``io.TextIOWrapper(sys.stdout.buffer, ...)``) still fails:
    ``_RedactingBuffer`` has only ``write``/``flush``; TextIOWrapper asks ``readable()``
    first, so the app "cannot import" (exit 2)."""
    source = """
    import io, sys
    OUT = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", line_buffering=True)
    def before(event):
        OUT.write("seen " + event["authorizationToken"] + "\\n")
    """
    done = _run_cli(tmp_path, source)
    assert done.returncode == 0, done.stderr
    assert CLI_TOKEN not in done.stdout + done.stderr


def test_authorize_redacts_bytes_written_in_chunks_through_the_buffer(tmp_path: Path) -> None:
    """Held: a token split between two byte writes (a buffer kept at import) is joined
    before it is redacted."""
    source = """
    import sys
    OUT = sys.stdout.buffer
    def before(event):
        data = ("seen " + event["authorizationToken"] + "\\n").encode()
        OUT.write(data[:12]); OUT.write(data[12:])
    """
    done = _run_cli(tmp_path, source)
    assert done.returncode == 0, done.stderr
    assert CLI_TOKEN not in done.stdout + done.stderr


def test_authorize_runs_handlers_that_write_bytes_to_stdout_while_they_run(
    tmp_path: Path,
) -> None:
    """``invoke`` runs the handler under ``redirect_stdout(io.StringIO())`` (to catch
    decision lines): a handler that writes ``sys.stdout.buffer`` while it runs (not kept
    at import) gets ``AttributeError`` and the CLI reports a 500 Lambda never gives."""
    source = """
    import sys
    def before(event):
        sys.stdout.buffer.write(("seen " + event["authorizationToken"] + "\\n").encode())
    """
    done = _run_cli(tmp_path, source)
    assert done.returncode == 0, done.stdout + done.stderr
    assert CLI_TOKEN not in done.stdout + done.stderr


# -- F5 (medium, fails closed): a table for the API's routes behind a base-path mapping ------


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_a_table_of_the_apis_routes_admits_its_own_traffic_behind_a_base_path(kind: str) -> None:
    """Behind a base-path mapping the path as sent (``/v1/tenants/acme/orders``) is still a
    reading that must allow; a table written for the API's routes (the Authorizer's view:
    ``methodArn`` has no base path) has no route for it, so every request is a 404 and the
    public health check a 401, although the routed path is known and allowed. No route for
    the prefixed reading can only refuse: when the routed path is known and the path as
    sent is ``/<prefix><routed>``, judge the routed path alone."""
    routes = Routes({"GET /tenants/{t}/orders": tenant(path="t"), "GET /health": public()})
    assert status(routes, copy.deepcopy(orders("acme", kind))) == 200
    assert status(routes, mapped(orders("acme", kind), "v1")) == 200
    assert status(routes, mapped(orders("globex", kind), "v1")) == 403
    if kind == "rest":
        health = rest_proxy("GET", "/health", resource="/health")
    else:
        health = http_proxy("GET", "/health", route_key="GET /health")
    assert status(routes, mapped(health, "v1")) == 200


# -- F4 (low, regression, fails closed): a "{" in a parameter on a custom domain -------------


@pytest.mark.parametrize("kind", ["rest", "http"])
def test_a_brace_in_a_path_parameter_is_admitted_on_a_custom_domain_as_on_execute_api(
    kind: str,
) -> None:
    """``routed_path`` answers ``""`` (refused) for a value holding ``{``: HTTP APIs pass
    ``pathParameters`` decoded (``%7Bx%7D`` -> ``{x}``) and REST passes a literal ``{``
    as sent, so a request the execute-api domain admits is a 403 on the custom domain
    (no base path involved). Encoding ``{``/``}`` in the filled value would keep the
    template closed to injection without refusing it."""
    if kind == "rest":
        direct = rest_proxy("GET", "/files/{x}", resource="/files/{name}", token=ACME)
    else:
        direct = http_proxy(
            "GET", "/files/%7Bx%7D", route_key="GET /files/{name}",
            path_params={"name": "{x}"}, token=ACME,
        )  # fmt: skip
    assert status(TENANTS, copy.deepcopy(direct)) == 200
    assert status(TENANTS, mapped(direct, "")) == 200


# =============================================================================================
# WHAT HELD
# =============================================================================================

# -- guard_routes: the routed path ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["rest", "http"])
@pytest.mark.parametrize("prefix", ["v1", "v1/orders", "a/b/c"])
def test_a_multi_level_base_path_before_a_tenant_route_is_judged(kind: str, prefix: str) -> None:
    assert status(TENANTS, mapped(orders("globex", kind), prefix)) == 403
    assert status(TENANTS, mapped(orders("acme", kind), prefix)) == 200


@pytest.mark.parametrize(
    "domain",
    [
        "api.execute-api.example.amazonaws.com.evil.com",
        "execute-api.example.com",
        "abc.execute-api.us-east-1.amazonaws.com.cn",
        "API.REVIEW27.EXAMPLE",
    ],
)
def test_look_alike_execute_api_domains_count_as_custom_domains(domain: str) -> None:
    assert status(TENANTS, mapped(orders("globex"), "v1", domain)) == 403


@pytest.mark.parametrize(
    "domain",
    [
        "abc123.execute-api.us-east-1.amazonaws.com",
        "ABC123.EXECUTE-API.US-EAST-1.AMAZONAWS.COM",
        "abc123-vpce-0123456789abcdef0.execute-api.us-east-1.vpce.amazonaws.com",
    ],
)
def test_execute_api_and_private_endpoints_admit_their_own_paths(domain: str) -> None:
    assert status(TENANTS, mapped(orders("acme"), "", domain)) == 200
    assert status(TENANTS, mapped(orders("globex"), "", domain)) == 403


def test_parameter_names_that_prefix_each_other_fill_their_own_places() -> None:
    event = rest_proxy(
        "GET", "/t/a/b/c/d", resource="/t/{id}/{idx}/{proxy+}",
        path_params={"id": "a", "idx": "b", "proxy": "c/d"},
    )  # fmt: skip
    assert routed_path(Request(EventKind.REST_V1, event)) == "/t/a/b/c/d"
    swapped = {"idx": "b", "id": "a", "proxy": "c/d"}  # another order of the same names
    event["pathParameters"] = swapped
    assert routed_path(Request(EventKind.REST_V1, event)) == "/t/a/b/c/d"


@pytest.mark.parametrize("value", ["x+}", "x}", "}", "+"])
def test_values_with_closing_braces_cannot_complete_a_template(value: str) -> None:
    event = rest_proxy(
        "GET", f"/t/{value}/z", resource="/t/{a}/{b}", path_params={"a": value, "b": "z"}
    )
    # filled in place, segment by segment (review 66): a brace never completes a placeholder
    assert routed_path(Request(EventKind.REST_V1, event)) == f"/t/{value}/z"


def test_a_single_parameter_holding_a_slash_is_refused() -> None:
    event = rest_proxy(
        "GET", "/v1/tenants/acme/orders", resource="/tenants/{t}/orders",
        path_params={"t": "acme/../globex"}, token=ACME,
    )  # fmt: skip
    assert status(TENANTS, mapped(event, "")) in (403, 404)


@pytest.mark.parametrize("value", ["..", ".", "%2e%2e"])
def test_dot_segments_in_a_routed_value_are_refused(value: str) -> None:
    event = mapped(orders(value), "v1")
    assert status(TENANTS, event) in (403, 404)


def test_a_dropped_path_parameter_leaves_the_base_path_reading_to_decide_closed() -> None:
    """A direct invoke without pathParameters: no routed path; the path as sent still
    decides (and a template-shaped path is no route)."""
    event = mapped(orders("globex"), "")
    event["pathParameters"] = None
    assert status(TENANTS, event) == 403


def test_an_http_default_route_behind_a_custom_domain_is_decided_on_the_path() -> None:
    event = mapped(http_proxy("GET", "/health"), "")
    assert status(TENANTS, event) == 200
    event = mapped(http_proxy("GET", "/tenants/globex/orders", token=ACME), "")
    assert status(TENANTS, event) == 403


def test_websocket_messages_on_a_custom_domain_are_decided_on_their_route() -> None:
    routes = Routes({"sendmessage": authenticated(), "$default": authenticated()})
    event = websocket_message("sendmessage")
    event["requestContext"]["domainName"] = CUSTOM
    assert status(routes, event, trust_authorizer=True) in (401, 403)  # no context: refused
    assert routed_path(Request.from_event(event)) is None


def test_a_route_limit_counts_behind_a_base_path_once() -> None:
    login = RateLimiter(Limit(2, 60), store=MemoryStore(), key=lambda request, principal: "all", name="login")
    guard = Guard(
        JWT, routes=TENANTS, decision_log=None, claims=MAPPER, route_limits={"GET /health": login}
    )
    event = mapped(rest_proxy("GET", "/health", resource="/health", token=ACME), "v1")
    assert guard.limits_for(Request.from_event(event)) == (login,)
    handler = guard(lambda e, c: {"statusCode": 200, "body": "ok"})
    codes = [handler(copy.deepcopy(event), None)["statusCode"] for _ in range(3)]
    assert codes == [200, 200, 429]


def test_anonymous_callers_behind_a_base_path_get_a_401_on_a_protected_route() -> None:
    event = mapped(rest_proxy("GET", "/tenants/acme/orders", resource="/tenants/{t}/orders"), "v1")
    assert status(TENANTS, event) == 401


# -- DPoP: recording ---------------------------------------------------------------------------


def _dpop_guard(dpop: DpopVerifier, **options: Any) -> Any:
    return Guard(
        VERIFIER, decision_log=None, sender_constraint=SenderConstraint(dpop=dpop), **options
    )


def _dpop_event(proof: str, scheme: str = "DPoP") -> dict[str, Any]:
    return http_proxy(
        "GET", "/orders/7", headers={"authorization": f"{scheme} {TOKEN}", "dpop": proof}
    )


def test_the_async_guard_records_proofs_like_the_sync_one() -> None:
    guard = _dpop_guard(DpopVerifier(replay=MemoryReplayStore()))

    async def handler(event: Any, context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ok"}

    wrapped = guard(handler)
    event = _dpop_event(CLIENT.proof("GET", URL, access_token=TOKEN))
    first = asyncio.run(wrapped(copy.deepcopy(event), None))["statusCode"]
    second = asyncio.run(wrapped(event, None))["statusCode"]
    assert (first, second) == (200, 401)


def test_the_async_guard_without_a_replay_store_refuses_a_proof_no_authorizer_saw() -> None:
    guard = _dpop_guard(DpopVerifier(replay=None), trust_authorizer=True)

    async def handler(event: Any, context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ok"}

    event = _dpop_event(CLIENT.proof("GET", URL, access_token=TOKEN))
    assert asyncio.run(guard(handler)(event, None))["statusCode"] == 401


@pytest.mark.parametrize("scheme", ["dpop", "DPOP", "dPoP"])
def test_a_client_spelling_of_the_dpop_scheme_cannot_skip_the_replay_check(scheme: str) -> None:
    handler = _dpop_guard(DpopVerifier(replay=None), trust_authorizer=True)(
        lambda e, c: {"statusCode": 200, "body": "ok"}
    )
    event = _dpop_event(CLIENT.proof("GET", URL, access_token=TOKEN), scheme)
    assert handler(event, None)["statusCode"] == 401
    recorded = _dpop_guard(DpopVerifier(replay=MemoryReplayStore()))(
        lambda e, c: {"statusCode": 200, "body": "ok"}
    )
    assert [recorded(copy.deepcopy(event), None)["statusCode"] for _ in range(2)] == [200, 401]


def test_a_secauth_gate_without_dpop_never_writes_a_context_for_a_dpop_request() -> None:
    """A trusting guard with ``replay=None`` skips recording when a secauth context exists:
    a gate without DPoP must then never have let a DPoP request through."""
    gate = Authorizer(VERIFIER, decision_log=None)
    proof = CLIENT.proof("GET", URL, access_token=TOKEN)
    headers = {"authorization": f"DPoP {TOKEN}", "dpop": proof}
    answer = gate.handler(http_authorizer_v2("GET", "/orders/7", headers=headers), None)
    assert answer["policyDocument"]["Statement"][0]["Effect"] != "Allow"


def _powertools(outer: Guard, strict: Guard) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()
    app.use(middlewares=[guard_middleware(outer)])

    @app.get("/orders/7", middlewares=[guard_middleware(strict)])
    def order() -> dict[str, str]:
        return {"id": "7"}

    return app


def test_a_powertools_route_guard_does_not_open_a_replay_through_the_global_guard() -> None:
    dpop = DpopVerifier(replay=MemoryReplayStore())
    outer = _dpop_guard(dpop)
    strict = Guard(
        VERIFIER, decision_log=None, sender_constraint=SenderConstraint(require="dpop", dpop=dpop)
    )
    app = _powertools(outer, strict)
    event = _dpop_event(CLIENT.proof("GET", URL, access_token=TOKEN))
    assert app.resolve(copy.deepcopy(event), None)["statusCode"] == 200
    assert app.resolve(event, None)["statusCode"] == 401


def test_a_powertools_route_guard_with_its_own_replay_store_admits_then_refuses() -> None:
    outer = _dpop_guard(DpopVerifier(replay=MemoryReplayStore()))
    strict = Guard(
        VERIFIER, decision_log=None,
        sender_constraint=SenderConstraint(
            require="dpop", dpop=DpopVerifier(replay=MemoryReplayStore())
        ),
    )  # fmt: skip
    app = _powertools(outer, strict)
    event = _dpop_event(CLIENT.proof("GET", URL, access_token=TOKEN))
    assert app.resolve(copy.deepcopy(event), None)["statusCode"] == 200
    assert app.resolve(event, None)["statusCode"] == 401


def test_a_powertools_route_guard_behind_a_trusting_global_guard_refuses_unseen_proofs() -> None:
    """The global guard trusts the authorizer and has no replay store; no authorizer ran:
    the global guard refuses before the route guard's ``proof_recorded`` could skip."""
    outer = _dpop_guard(DpopVerifier(replay=None), trust_authorizer=True)
    strict = Guard(
        VERIFIER, decision_log=None, trust_authorizer=True,
        sender_constraint=SenderConstraint(require="dpop", dpop=DpopVerifier(replay=None)),
    )  # fmt: skip
    app = _powertools(outer, strict)
    event = _dpop_event(CLIENT.proof("GET", URL, access_token=TOKEN))
    assert app.resolve(event, None)["statusCode"] == 401


# -- replay stores: real Redis replies -----------------------------------------------------------


@pytest.mark.parametrize("options", [{"decode_responses": True}, {"protocol": 3}, {}])
def test_redis_clients_replies_count_once(redis_url: str, options: dict[str, Any]) -> None:
    import redis

    store = RedisReplayStore(client=redis.Redis.from_url(redis_url, **options))
    key = f"r27-{sorted(options)}"
    assert store.first_use(key, 4_000_000_000.0) is True
    assert store.first_use(key, 4_000_000_000.0) is False
