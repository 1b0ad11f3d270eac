"""Review 130 (adversarial): the fixes of commits 07902f3..b11b4d0 attacked.

Resolved (the tests assert them): the first low is fixed (``Guard`` accepts a verifier with
``verify`` or ``verify_async``); the second is documented instead (CHANGELOG "Upgrading": an
API-key entry stored with ``/M`` fails closed until rewritten, as any malformed entry does;
secauth is unreleased, and reading ``M`` two ways by where it was written would be two rules).

Attacked (HEAD c33f099, src as at b11b4d0): ``Guard.__init__`` refusing a first argument without a callable
``.verify``; ``Guard.__call__`` refusing a ``Rule``; ``Limit.parse`` refusing ``/M``;
``checked_cache_ttl`` called first by ``Authorizer``; ``Authorizer(api_keys=...)``
refusing objects without ``.lookup``; the ``detail`` of unsupported-event records; the
new ``_NO_TENANT`` text; README's first handler against REST, HTTP API v2 and ALB events.

Held: every verifier secauth ships (JwtVerifier, JwtVerifier.cognito, MultiIssuerVerifier,
CombinedVerifier, IntrospectionVerifier, AlbVerifier) and a custom TokenVerifier are
accepted by Guard; ``guard.require(rule)(handler)``, a callable-object handler and
Powertools ``guard_middleware`` still work; against 07902f3 (in a worktree, 298 spellings
in 75 unit casings: s/S/sec/Min/MIN/H/D/W/Mo/MO/ms/calendar ...) only the four ``M``
spellings changed verdict, all others parse identically; ``M`` is refused with an
amount, with ``per`` and with ``calendar``; ``cache_ttl`` accepts an ``IntEnum`` and
refuses bool, str, float and out-of-range values with a ConfigurationError; StaticApiKeys,
DynamoDBApiKeys, SecretsManagerApiKeys and a custom store are accepted; the backend-event
``detail`` is static text, and other unsupported events record no ``detail`` (as before);
nothing parses the ``_NO_TENANT`` text (docs, schema tests, Powertools); README's handler
answers 200 to a good token and 401 to expired, garbage, missing and empty credentials on
all three event kinds, and never echoes the token.

Findings:
* LOW: ``Guard(verifier)`` now refuses an async-only verifier (``verify_async`` and
  ``hydrate``, no ``verify``) that at 07902f3 guarded async handlers correctly
  (``guard.py`` ``Guard.__init__``; accept a callable ``verify`` or ``verify_async``).
* LOW: a Secrets Manager secret written before the upgrade with one entry's
  ``rate_limit`` "100/M" (valid then: per minute) now fails closed as a whole: every
  partner key in it answers KeysUnavailable (``Limit.parse`` via ``rate_limit_problem``;
  read stored ``M`` as the minute it meant, or refuse that entry only, and say so in
  CHANGELOG's upgrade notes).
"""

from __future__ import annotations

import enum
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from secauth import (
    Authorizer,
    ClaimMapper,
    Guard,
    JwtVerifier,
    Routes,
    authenticated,
    roles,
    tenant,
)
from secauth.alb import AlbVerifier
from secauth.client_auth import ClientAuth
from secauth.combined_verifier import CombinedVerifier
from secauth.credentials import (
    ApiKeyEntry,
    DynamoDBApiKeys,
    SecretsManagerApiKeys,
    StaticApiKeys,
    hash_api_key,
)
from secauth.errors import ConfigurationError, KeysUnavailable
from secauth.introspection import IntrospectionVerifier
from secauth.policy import Unauthorized
from secauth.policy.builder import checked_cache_ttl
from secauth.ratelimit import Limit
from secauth.testing import KeyPair
from secauth.testing_alb import LocalAlb
from secauth.testing_cognito import LocalCognito

ROOT = Path(__file__).resolve().parent.parent
ISS = "https://idp.example.com/"
AUD = "orders-api"
PAIR = KeyPair.generate("ES256", kid="k1")


def _verifier() -> JwtVerifier:
    return JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})


def _token(**extra: Any) -> str:
    now = time.time()
    claims = {"iss": ISS, "aud": AUD, "sub": "alice", "iat": now, "exp": now + 600, **extra}
    return PAIR.sign(claims)


def _v2(headers: dict[str, str] | None, path: str = "/orders") -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": f"GET {path}", "rawPath": path, "rawQueryString": "",
        "requestContext": {"http": {"method": "GET", "path": path, "sourceIp": "203.0.113.9"},
                           "requestId": "r-1", "stage": "$default", "domainName": "x.example",
                           "apiId": "abc"},
        "isBase64Encoded": False,
    }  # fmt: skip
    if headers is not None:
        event["headers"] = headers
    return event


def _rest(headers: dict[str, str] | None, path: str = "/orders") -> dict[str, Any]:
    return {
        "resource": path, "path": path, "httpMethod": "GET", "headers": headers,
        "multiValueHeaders": None if headers is None else {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "body": None, "isBase64Encoded": False,
        "requestContext": {"requestId": "r-1", "stage": "prod", "resourcePath": path,
                           "httpMethod": "GET", "identity": {"sourceIp": "203.0.113.9"}},
    }  # fmt: skip


def _alb(headers: dict[str, str] | None, path: str = "/orders") -> dict[str, Any]:
    arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/abc"
    event: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": arn}}, "httpMethod": "GET", "path": path,
        "queryStringParameters": {}, "body": "", "isBase64Encoded": False,
    }  # fmt: skip
    if headers is not None:
        event["headers"] = headers
    return event


# -- Guard.__init__: every shipped or documented verifier is still accepted -----------------


class _CustomVerifier:
    """A TokenVerifier of one's own, per secauth.token_verifier's protocol."""

    def __init__(self) -> None:
        self._inner = _verifier()

    def verify(self, token: str) -> dict[str, Any]:
        return self._inner.verify(token)

    async def verify_async(self, token: str) -> dict[str, Any]:
        return self._inner.verify(token)

    def hydrate(self, *, strict: bool = False) -> bool:
        return True


def _hello(event: Any, context: Any, principal: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": f"hello {principal.id}"}


@pytest.mark.parametrize("build", ["jwt", "multi", "combined", "introspection", "custom"])
def test_guard_accepts_every_shipped_verifier(build: str) -> None:
    other = KeyPair.generate("ES256", kid="o")
    introspect = IntrospectionVerifier(
        issuer=ISS, audience=AUD, client=ClientAuth.basic("api", "s3cret-value"),
        endpoint="https://idp.example.com/introspect",
    )  # fmt: skip
    verifiers: dict[str, Any] = {
        "jwt": _verifier(),
        "multi": JwtVerifier.multi(
            _verifier(),
            JwtVerifier(issuer="https://b/", audience=AUD, jwks={"keys": [other.public_jwk]}),
        ),
        "combined": CombinedVerifier(jwt=_verifier(), introspection=introspect),
        "introspection": introspect,
        "custom": _CustomVerifier(),
    }
    guard = Guard(verifiers[build], decision_log=None)
    handler = guard(_hello)
    assert handler(_v2({}), None)["statusCode"] == 401
    if build != "introspection":
        answer = handler(_v2({"authorization": f"Bearer {_token()}"}), None)
        assert answer["statusCode"] == 200
        assert answer["body"] == "hello alice"


def test_guard_accepts_cognito_and_alb_verifiers() -> None:
    with LocalCognito("eu-west-1_AbC123", client_id="3n4b5urk1ft4fl3mg5e62d9ado") as cognito:
        pool = JwtVerifier.cognito(user_pool_id="eu-west-1_AbC123",
                                   client_id="3n4b5urk1ft4fl3mg5e62d9ado", token_use="id",
                                   jwks_uris=cognito.jwks_uris, allow_http=True)  # fmt: skip
        guard = Guard(pool, routes=Routes({"DELETE /users/{id}": roles("admin")}),
                      decision_log=None)  # fmt: skip
        assert guard(_hello)(_v2({}, "/users/1"), None)["statusCode"] == 401
    with LocalAlb() as alb:
        verifier = AlbVerifier(alb_arn=alb.arn, issuer=alb.issuer, client_id=alb.client_id,
                               key_endpoint=alb.key_endpoint, allow_http=True)  # fmt: skip
        from secauth.token_sources import TokenSource

        guard = Guard(verifier, token_sources=[TokenSource.header(verifier.header)],
                      routes=Routes({"GET /profile": authenticated()}), decision_log=None)  # fmt: skip
        handler = guard(_hello)
        good = handler(_alb({"x-amzn-oidc-data": alb.token(sub="alice")}, "/profile"), None)
        assert good["body"] == "hello alice"
        assert handler(_alb({}, "/profile"), None)["statusCode"] == 401


@pytest.mark.parametrize("first", [Routes({"GET /x": authenticated()}), {"GET /x": roles("a")},
                                   "https://idp/", roles("admin")])  # fmt: skip
def test_guard_still_refuses_what_is_no_verifier(first: object) -> None:
    with pytest.raises(ConfigurationError, match="routes="):
        Guard(first, decision_log=None)  # type: ignore[arg-type]


class _AsyncOnlyVerifier:
    """A verifier with verify_async and hydrate only (async handlers need no more)."""

    def __init__(self) -> None:
        self._inner = _verifier()

    async def verify_async(self, token: str) -> dict[str, Any]:
        return self._inner.verify(token)

    def hydrate(self, *, strict: bool = False) -> bool:
        return True


# fmt: off
def test_guard_accepts_async_only_verifier_for_async_handlers() -> None:
    import asyncio

    guard = Guard(_AsyncOnlyVerifier(), decision_log=None)

    @guard
    async def handler(event: Any, context: Any, principal: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": principal.id}

    answer = asyncio.run(handler(_v2({"authorization": f"Bearer {_token()}"}), None))
    assert answer["statusCode"] == 200
    assert answer["body"] == "alice"
    assert asyncio.run(handler(_v2({}), None))["statusCode"] == 401
# fmt: on


# -- Guard.__call__ ---------------------------------------------------------------------------


def test_guard_call_refuses_rules_and_keeps_handlers() -> None:
    guard = Guard(_verifier(), decision_log=None)
    for rule in (roles("admin"), authenticated(), roles("a") | roles("b")):
        with pytest.raises(ConfigurationError, match=r"guard\.require"):
            guard(rule)  # type: ignore[call-overload]

    class Callable_:
        def __call__(self, event: Any, context: Any) -> dict[str, Any]:
            return {"statusCode": 200, "body": "ok"}

    token = {"authorization": f"Bearer {_token(roles=['admin'])}"}
    assert guard(Callable_())(_v2(token), None)["statusCode"] == 200
    admin_only = guard.require(roles("admin"))(_hello)
    assert admin_only(_v2(token), None)["statusCode"] == 200
    plain = {"authorization": f"Bearer {_token()}"}
    assert admin_only(_v2(plain), None)["statusCode"] == 403


def test_powertools_guard_middleware_still_works() -> None:
    resolver = pytest.importorskip("aws_lambda_powertools.event_handler")
    from secauth.integrations.powertools import guard_middleware

    app = resolver.APIGatewayHttpResolver()
    guard = Guard(_verifier(), decision_log=None)

    @app.get("/orders", middlewares=[guard_middleware(guard.require(authenticated()))])
    def orders() -> dict[str, str]:
        return {"ok": "yes"}

    good = app.resolve(_v2({"authorization": f"Bearer {_token()}"}), None)
    assert good["statusCode"] == 200
    assert app.resolve(_v2({}), None)["statusCode"] == 401


# -- Limit.parse ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["10/M", "10/5M", "10 per M", " 10 / 2 M ", "10/calendar M"])
def test_capital_m_refused_everywhere(text: str) -> None:
    with pytest.raises(ConfigurationError):
        Limit.parse(text)


@pytest.mark.parametrize(("text", "period", "calendar"), [
    ("10/m", 60, None), ("10/Min", 60, None), ("10/MIN", 60, None), ("10/Minutes", 60, None),
    ("10/S", 1, None), ("10/H", 3600, None), ("10/D", 86400, None), ("10/5minutes", 300, None),
    ("10 per 2 minutes", 120, None), ("100/calendar day", 86400, "day"),
    ("10000/Month", 31 * 86400, "month"), ("700/calendar week", 7 * 86400, "week"),
])  # fmt: skip
def test_other_spellings_parse_as_before(text: str, period: int, calendar: str | None) -> None:
    limit = Limit.parse(text)
    count = int(re.match(r"\s*(\d+)", text)[1])  # type: ignore[index]
    assert (limit.count, limit.period, limit.calendar) == (count, period, calendar)


@pytest.mark.parametrize("text", ["10/W", "10/Y", "10/MO", "10/Mo", "10/Mon", "10/MS", "10/Mi"])
def test_other_capitals_are_not_read_loosely(text: str) -> None:
    with pytest.raises(ConfigurationError):
        Limit.parse(text)


# -- cache_ttl --------------------------------------------------------------------------------


class _Ttl(enum.IntEnum):
    FIVE_MINUTES = 300


def test_cache_ttl_accepts_int_enum_and_refuses_the_rest() -> None:
    assert checked_cache_ttl(_Ttl.FIVE_MINUTES) == 300
    authorizer = Authorizer(_verifier(), cache_ttl=_Ttl.FIVE_MINUTES, decision_log=None)
    assert authorizer.cache_ttl == 300
    for bad in (True, False, "300", 300.0, -1, 3601, None):
        with pytest.raises(ConfigurationError, match="cache_ttl"):
            Authorizer(_verifier(), cache_ttl=bad, decision_log=None)  # type: ignore[arg-type]


# -- api_keys ---------------------------------------------------------------------------------


class _MyStore:
    def lookup(self, key: str) -> ApiKeyEntry | None:
        return ApiKeyEntry("partner-a", roles=("partner",)) if key == "k" * 24 else None


def test_api_key_stores_accepted() -> None:
    static = StaticApiKeys({hash_api_key("k" * 24): ApiKeyEntry("partner-a")})
    dynamo = DynamoDBApiKeys("keys", region="eu-west-1")
    secrets = SecretsManagerApiKeys("secauth/keys", client=object())
    for store in (static, dynamo, secrets, _MyStore()):
        assert Authorizer(api_keys=store, decision_log=None).api_keys is store
    for bad in ({hash_api_key("k" * 24): ApiKeyEntry("a")}, ["k"], "k"):
        with pytest.raises(ConfigurationError, match="ApiKeyStore"):
            Authorizer(api_keys=bad, decision_log=None)  # type: ignore[arg-type]


@pytest.fixture
def sm_client() -> Iterator[Any]:
    pytest.importorskip("moto")
    from moto_services import MotoServer, secretsmanager_client

    server = MotoServer()
    try:
        yield secretsmanager_client(server.endpoint)
    finally:
        server.stop()


def test_a_secret_stored_with_a_capital_m_fails_closed_as_documented(sm_client: Any) -> None:
    """Documented instead (CHANGELOG, Changed: "Upgrading"): a store entry written with
    ``/M`` is malformed now, and, as for any malformed entry, the secret's lookups fail
    closed (503 ``keys_unavailable``) until the entry says ``/minute`` or ``/month``; a
    rewritten entry works."""
    from moto_services import create_secret

    old = {"principal_id": "partner-a", "rate_limit": "100/M"}  # per minute at 07902f3
    other = SecretsManagerApiKeys.fields(ApiKeyEntry("partner-b", roles=("reader",)))
    document = {hash_api_key("a" * 24): old, hash_api_key("b" * 24): other}
    keys = SecretsManagerApiKeys(create_secret(sm_client, json.dumps(document)), client=sm_client)
    with pytest.raises(KeysUnavailable):
        keys.lookup("b" * 24)
    document[hash_api_key("a" * 24)] = {**old, "rate_limit": "100/minute"}
    fixed = SecretsManagerApiKeys(create_secret(sm_client, json.dumps(document)), client=sm_client)
    found = fixed.lookup("b" * 24)
    assert found is not None
    assert found.principal_id == "partner-b"


# -- unsupported events -----------------------------------------------------------------------


def test_unsupported_event_detail_is_static_and_only_for_backend_events() -> None:
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(_verifier(), on_decision=records.append, decision_log=None)
    token = _token()
    backend = _rest({"Authorization": f"Bearer {token}", "X-Secret": "s3cr3t-value"})
    for event in (backend, _v2({"authorization": f"Bearer {token}"}), {"foo": token}, {}):
        with pytest.raises(Unauthorized):
            authorizer.handler(event, None)
    assert len(records) == 4
    for record in records:
        assert token not in json.dumps(record)
        assert "s3cr3t" not in json.dumps(record)
        assert record["reason"] == "unsupported_event"
        assert record["status"] == 401
    assert records[0]["detail"]["event"] == "rest_v1"
    assert "Guard" in records[0]["detail"]["problem"]
    assert records[1]["detail"]["event"] == "http_v2"
    assert "detail" not in records[2]
    assert "detail" not in records[3]


# -- _NO_TENANT ---------------------------------------------------------------------------------


def test_no_tenant_denial_still_tenant_mismatch_and_nothing_parses_its_text() -> None:
    guard = Guard(_verifier(), routes=Routes({"GET /t/{tid}/orders": tenant(path="tid")}),
                  claims=ClaimMapper(), decision_log=None)  # fmt: skip
    answer = guard(_hello)(_v2({"authorization": f"Bearer {_token()}"}, "/t/acme/orders"), None)
    assert answer["statusCode"] == 403
    pattern = re.compile(r"principal has no tenant\W*[\"'`]")
    for path in [*ROOT.joinpath("docs").rglob("*.md"), *ROOT.joinpath("src").rglob("*.py")]:
        assert not pattern.search(path.read_text(encoding="utf-8")), path


# -- README's first handler -------------------------------------------------------------------


def _readme_handler() -> Any:
    text = ROOT.joinpath("README.md").read_text(encoding="utf-8")
    section = text.split("## Verify a token", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    namespace["verifier"] = _verifier()  # the same JwtVerifier, with the test's keys (loopback)
    return namespace["handler"]


@pytest.mark.parametrize("make", [_rest, _v2, _alb])
def test_readme_first_handler_on_every_event_kind(make: Any) -> None:
    handler = _readme_handler()
    good = _token()
    expired = PAIR.sign({"iss": ISS, "aud": AUD, "sub": "alice", "exp": time.time() - 3600})
    name = "Authorization" if make is _rest else "authorization"
    answer = handler(make({name: f"Bearer {good}"}), None)
    assert answer == {"statusCode": 200, "body": "hello alice"}
    for headers in ({name: f"Bearer {expired}"}, {name: "Bearer garbage"}, {name: "Bearer "},
                    {name: ""}, {}, None, {"x-other": "1"}):  # fmt: skip
        answer = handler(make(headers), None)
        assert answer["statusCode"] == 401, headers
        assert expired not in answer["body"]
        assert "garbage" not in answer["body"]
