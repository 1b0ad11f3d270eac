"""Tests of ``secauth.authorizer.Authorizer``: event -> credentials -> principal -> routes -> response.

Fixtures (``tests/fixtures/authorizer/*.json``) are written from the input formats AWS
documents for each authorizer kind (API Gateway Developer Guide: "Input to an API
Gateway Lambda authorizer" for REST TOKEN and REQUEST, with the mTLS ``clientCert``
block; "Control access to HTTP APIs with AWS Lambda authorizers" for payload 1.0 and
2.0; "Control access to WebSocket APIs with AWS Lambda REQUEST authorizers" for
``$connect``), with our own values and a ``{{token}}`` placeholder.

Policies are checked with a small evaluator of IAM's Resource matching (copied from
tests/test_policy.py): ``*`` matches any run of characters, ``/`` included, and an
explicit Deny wins.
"""

from __future__ import annotations

import base64
import calendar
import contextlib
import copy
import json
import logging
import re
import secrets
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache, lru_cache
from itertools import product
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secauth.access import (
    AccessContext,
    Decision,
    Routes,
    Rule,
    authenticated,
    public,
    roles,
    rule,
    scopes,
    source_ip,
    tenant,
)
from secauth.authorizer import Authorizer
from secauth.credentials import (
    ApiKeyEntry,
    ClientCertEntry,
    ClientCertificates,
    StaticApiKeys,
    hash_api_key,
)
from secauth.errors import (
    ConfigurationError,
    Forbidden,
    InvalidSignature,
    KeysUnavailable,
    Reason,
    SecAuthError,
    TokenExpired,
)
from secauth.events import EventKind, Request, UnsupportedEvent
from secauth.policy import (
    INVOKE_ACTION,
    InvalidMethodArn,
    MethodArn,
    PolicyBuilder,
    PolicyConflict,
    Statement,
    Unauthorized,
)
from secauth.principal import ClaimMapper, Principal
from secauth.ratelimit import RateLimiter
from secauth.routing import parse_template
from secauth.targets import route_template
from secauth.testing import KeyPair, LocalIssuer, encode_segment
from secauth.verifier import JwtVerifier

FIXTURES = Path(__file__).parent / "fixtures" / "authorizer"
PLACEHOLDER = "{{token}}"

ISS = "https://idp.example.com/"
AUD = "orders-api"
PAIR = KeyPair.generate("ES256", kid="k1")
STRANGER = KeyPair.generate("ES256", kid="k9")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
CLAIMS = ClaimMapper(tenant_claim="tenant")
SECRET = "LEAK-7f3a-secret-message"

KINDS = {
    "rest_token": EventKind.TOKEN_AUTHORIZER,
    "rest_request": EventKind.REST_REQUEST_AUTHORIZER,
    "http_v1": EventKind.HTTP_AUTHORIZER_V1,
    "http_v2": EventKind.HTTP_AUTHORIZER_V2,
    "websocket_connect": EventKind.WEBSOCKET_AUTHORIZER,
}
# (fixture, simple_responses): every response shape.
SHAPES = [(name, False) for name in KINDS] + [("http_v2", True)]
SHAPE_IDS = [f"{name}{'-simple' if simple else ''}" for name, simple in SHAPES]
RAISING_KINDS = {"rest_token", "rest_request", "websocket_connect"}


def table() -> dict[str, Rule]:
    """The route table most tests use."""
    return {
        "GET /orders": roles("reader", "admin") | scopes("orders:read"),
        "GET /orders/{id}": roles("reader", "admin"),
        "DELETE /users/{id}": roles("admin"),
        "ANY /tenants/{tenantId}/{proxy+}": tenant(path="tenantId") & roles("member"),
        "$connect": roles("reader", "admin"),
    }


ROUTES = Routes(table())


# --- tokens and events -----------------------------------------------------------------------


def claims_for(
    sub: str = "ann",
    *,
    roles_: Iterable[str] = ("reader",),
    tenant_: str = "acme",
    lifetime: int = 600,
    **extra: Any,
) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISS,
        "aud": AUD,
        "sub": sub,
        "tenant": tenant_,
        "roles": list(roles_),
        "iat": now,
        "exp": now + lifetime,
        **extra,
    }


def token(sub: str = "ann", *, key: KeyPair = PAIR, **options: Any) -> str:
    """A token from the trusted issuer (``key`` may be another key, for forgeries)."""
    return key.sign(claims_for(sub, **options))


READER = token("ann", roles_=("reader",))
ADMIN = token("root", roles_=("admin",))


@cache
def _fixture_text(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text(encoding="utf-8")


def _fill(value: Any, tok: str | None) -> Any:
    """Put ``tok`` where the placeholder is; with None, drop whatever carried it."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            filled = _fill(item, tok)
            if filled is not _DROP:
                out[key] = filled
        return out
    if isinstance(value, list):
        items = [_fill(item, tok) for item in value]
        kept = [item for item in items if item is not _DROP]
        return kept if kept or not items else _DROP
    if isinstance(value, str) and PLACEHOLDER in value:
        return _DROP if tok is None else value.replace(PLACEHOLDER, tok)
    return value


_DROP = object()


def event(
    name: str, tok: str | None = READER, *, target: tuple[str, str] | None = None
) -> dict[str, Any]:
    """A fresh copy of fixture ``name`` carrying ``tok`` (None: no credentials), optionally
    aimed at another ``(verb, path)`` of the same API and stage."""
    ev: dict[str, Any] = _fill(json.loads(_fixture_text(name)), tok)
    if name == "http_v1" and tok is None:
        # Payload 1.0 events always carry identitySource (null without identity sources; with
        # them, API Gateway answers a request lacking them itself).
        ev["identitySource"] = None
    if target is not None:
        retarget(ev, *target)
    return ev


def arn_of(ev: Mapping[str, Any]) -> str:
    return str(ev.get("methodArn") or ev.get("routeArn"))


def retarget(ev: dict[str, Any], verb: str, path: str) -> None:
    """Aim a REST/HTTP event at ``verb path``, consistently in every field that names it."""
    arn = MethodArn.parse(arn_of(ev))
    new_arn = arn.prefix + verb + path
    context = ev.setdefault("requestContext", {})
    ev["pathParameters"] = None
    if "routeArn" in ev:
        ev["routeArn"] = new_arn
        ev["rawPath"] = path
        ev["routeKey"] = context["routeKey"] = "$default"
        context["http"].update(method=verb, path=path)
    else:
        ev["methodArn"] = new_arn
        if ev["type"] == "REQUEST":
            ev["path"] = path
            ev["httpMethod"] = context["httpMethod"] = verb
            context["path"] = f"/{arn.stage}{path}"


def make(
    *, verifier: Any = VERIFIER, records: list[dict[str, Any]] | None = None, **options: Any
) -> Authorizer:
    """An authorizer over the default table; decision records go to ``records`` and to the
    ``secauth.decisions`` logger (which these tests read)."""
    options.setdefault("routes", ROUTES)
    options.setdefault("decision_log", "logging")
    options.setdefault("claims", CLAIMS)
    if records is not None:
        options["on_decision"] = records.append
    return Authorizer(verifier, **options)


def call(authorizer: Authorizer, ev: Mapping[str, Any]) -> dict[str, Any] | None:
    """The response, or None when the authorizer raised the 401 ``Unauthorized``.

    Checks the raised error as API Gateway and the Lambda runtime see it: the message is
    exactly ``Unauthorized`` and no other exception is chained to it.
    """
    raised: Unauthorized | None = None
    try:
        return authorizer.handler(ev, None)
    except Unauthorized as exc:
        raised = exc
    assert type(raised) is Unauthorized
    assert str(raised) == "Unauthorized"
    assert raised.args == ("Unauthorized",)
    assert raised.__cause__ is None
    assert raised.__context__ is None
    return None


def policy(effect: str, *resources: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": INVOKE_ACTION, "Effect": effect, "Resource": list(resources)}],
    }


DENY_ALL_RESPONSE = {"principalId": "anonymous", "policyDocument": policy("Deny", "*")}


def unauthorized_response(name: str, simple: bool) -> dict[str, Any] | None:
    """What each shape answers for missing or invalid credentials."""
    if name in RAISING_KINDS:
        return None
    return {"isAuthorized": False} if simple else DENY_ALL_RESPONSE


def context_of(principal: Principal, bearer: str | None = None) -> dict[str, str]:
    """The context the authorizer writes for ``principal``, with the ``secauth_exp`` of
    ``bearer``'s claims when given."""
    if bearer is None:
        return principal.to_context()
    payload = bearer.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return {**principal.to_context(), "secauth_exp": str(claims["exp"])}


# --- a small evaluator of IAM Resource matching (from tests/test_policy.py) ----------------


@lru_cache(maxsize=4096)
def _part_regex(part: str, last: bool) -> re.Pattern[str]:
    body = "".join(
        ("[^:]*" if not last else ".*")
        if ch == "*"
        else ("[^:]" if not last else ".")
        if ch == "?"
        else re.escape(ch)
        for ch in part
    )
    return re.compile(body, re.DOTALL)


def arn_matches(pattern: str, arn: str) -> bool:
    """IAM Resource matching, per colon-separated ARN part; ``*`` crosses ``/``."""
    if pattern == "*":
        return True
    p_parts = pattern.split(":", 5)
    a_parts = arn.split(":", 5)
    if len(p_parts) != 6 or len(a_parts) != 6:
        return False
    return all(
        _part_regex(p, i == 5).fullmatch(a) is not None
        for i, (p, a) in enumerate(zip(p_parts, a_parts, strict=True))
    )


def evaluate(document: Mapping[str, Any], arn: str) -> bool:
    """Does the policy allow invoking ``arn``? Some Allow matches and no Deny does."""
    assert document["Version"] == "2012-10-17"
    allowed = False
    for statement in document["Statement"]:
        assert statement["Action"] == INVOKE_ACTION
        assert "Condition" not in statement
        if any(arn_matches(resource, arn) for resource in statement["Resource"]):
            if statement["Effect"] == "Deny":
                return False
            allowed = True
    return allowed


def allows(response: Mapping[str, Any] | None, arn: str) -> bool:
    """Would API Gateway let the request for ``arn`` through on this answer?"""
    if response is None:
        return False
    if "isAuthorized" in response:
        assert set(response) <= {"isAuthorized", "context"}
        return response["isAuthorized"] is True
    return evaluate(response["policyDocument"], arn)


def test_evaluator_matches_like_iam() -> None:
    """The evaluator's '*' crosses '/', stays inside its ARN part, and Deny wins."""
    base = "arn:aws:execute-api:us-east-1:1:api/s/"
    assert arn_matches(base + "GET/users/*", base + "GET/users/7/secrets")
    assert not arn_matches(base + "GET/users/*", base + "POST/users/7")
    assert arn_matches("arn:aws:execute-api:us-*:1:api/s/GET/", base + "GET/")
    # A '*' in a middle part does not cross ':' into the next part.
    assert not arn_matches(
        "arn:aws:execute-api:us-*:1:api/s/GET/", "arn:aws:execute-api:us-east-1:x:1:api/s/GET/"
    )
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {"Action": INVOKE_ACTION, "Effect": "Allow", "Resource": [base + "*"]},
            {"Action": INVOKE_ACTION, "Effect": "Deny", "Resource": [base + "GET/x"]},
        ],
    }
    assert evaluate(doc, base + "GET/y")
    assert not evaluate(doc, base + "GET/x")


# --- fixtures and response shapes --------------------------------------------------------------


@pytest.mark.parametrize("name", list(KINDS))
def test_fixtures_are_the_documented_kinds(name: str) -> None:
    """Each fixture is detected as its documented kind and carries the bearer token."""
    request = Request.from_event(event(name))
    assert request.kind is KINDS[name]
    assert request.bearer_token() == READER
    assert MethodArn.parse(request.method_arn) is not None
    with pytest.raises(SecAuthError) as missing:
        Request.from_event(event(name, None)).bearer_token()
    assert missing.value.reason is Reason.MISSING_TOKEN


def reader_principal() -> Principal:
    return Principal("ann", tenant="acme", roles={"reader"}, kind="user", issuer=ISS)


@pytest.mark.parametrize(("name", "simple"), SHAPES, ids=SHAPE_IDS)
def test_allowed_request_gets_the_exact_allow_shape(name: str, simple: bool) -> None:
    """A valid token on an allowed route: principalId, an Allow of exactly the method ARN
    (TTL 0) and the principal as flat string context; simple responses say isAuthorized."""
    records: list[dict[str, Any]] = []
    ev = event(name)
    response = call(make(records=records, simple_responses=simple), ev)
    context = context_of(reader_principal(), READER)
    if simple:
        assert response == {"isAuthorized": True, "context": context}
    else:
        assert response == {
            "principalId": "ann",
            "policyDocument": policy("Allow", arn_of(ev)),
            "context": context,
        }
        assert all(type(value) is str for value in response["context"].values())
    assert records == [
        {
            "decision": "allow",
            "status": 200,
            "principal": "ann",
            "issuer": ISS,
            "tenant": "acme",
            "kind": "user",
            "event": KINDS[name].value,
            "method": "$connect" if name == "websocket_connect" else "GET",
            "path": "" if name == "websocket_connect" else "/orders/7",
            "route": "$connect" if name == "websocket_connect" else "GET /orders/{id}",
            "latency_us": records[0]["latency_us"],
            **({"request_id": ev["requestContext"]["requestId"]} if "requestContext" in ev else {}),
        }
    ]


@pytest.mark.parametrize(("name", "simple"), SHAPES, ids=SHAPE_IDS)
def test_valid_token_on_a_denied_route_is_an_explicit_deny(name: str, simple: bool) -> None:
    """Valid credentials without permission: an explicit Deny of the method ARN (403), not a
    401; the record says deny with the rule's reason."""
    records: list[dict[str, Any]] = []
    auditor = token("eve", roles_=("auditor",))
    ev = event(name, auditor)
    response = call(make(records=records, simple_responses=simple), ev)
    context = context_of(Principal("eve", tenant="acme", roles={"auditor"}, issuer=ISS), auditor)
    if simple:
        assert response == {"isAuthorized": False, "context": context}
    else:
        assert response == {
            "principalId": "eve",
            "policyDocument": policy("Deny", arn_of(ev)),
            "context": context,
        }
    assert not allows(response, arn_of(ev))
    assert [(r["decision"], r["reason"], r["status"]) for r in records] == [
        ("deny", "forbidden", 403)
    ]


def test_rest_usage_identifier_key_only_with_usage_plan_api_keys() -> None:
    """JWT callers never get usageIdentifierKey; the HTTP IAM shape has only its fields."""
    for name in ("rest_token", "rest_request", "http_v1", "http_v2", "websocket_connect"):
        response = call(make(), event(name))
        assert response is not None
        assert set(response) == {"principalId", "policyDocument", "context"}


def test_http_v2_iam_policy_response_reproduces_the_documented_shape() -> None:
    """HTTP payload 2.0 without simple responses answers an IAM policy for the routeArn."""
    ev = event("http_v2", target=("DELETE", "/users/7"))
    response = call(make(), ev)
    assert response is not None
    assert response["policyDocument"] == policy(
        "Deny", "arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/DELETE/users/7"
    )
    admin = call(make(), event("http_v2", ADMIN, target=("DELETE", "/users/7")))
    assert allows(admin, arn_of(ev))


# --- missing and invalid credentials ------------------------------------------------------------


def _alg_none() -> str:
    header = encode_segment({"alg": "none", "typ": "JWT", "kid": "k1"})
    return f"{header}.{encode_segment(claims_for())}.{encode_segment(b'sig')}"


def _forged() -> str:
    """READER's header and claims with a signature made by another key."""
    head, body, _ = READER.split(".")
    other = STRANGER.sign(claims_for(), headers={"kid": "k1"})
    return f"{head}.{body}.{other.split('.')[2]}"


BAD_TOKENS: dict[str, tuple[Callable[[], str | None], Reason]] = {
    "missing": (lambda: None, Reason.MISSING_TOKEN),
    "forged": (_forged, Reason.INVALID_SIGNATURE),
    "expired": (lambda: token(lifetime=-120), Reason.TOKEN_EXPIRED),
    "unknown_kid": (lambda: token(key=STRANGER), Reason.UNKNOWN_KEY),
    "alg_none": (_alg_none, Reason.INVALID_SIGNATURE),
    "wrong_issuer": (
        lambda: PAIR.sign({**claims_for(), "iss": "https://evil/"}),
        Reason.INVALID_ISSUER,
    ),
    "garbage": (lambda: "not-a-jwt", Reason.MALFORMED_TOKEN),
    "no_tenant": (lambda: PAIR.sign({**claims_for(), "tenant": None}), Reason.INVALID_CLAIMS),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
@pytest.mark.parametrize(("name", "simple"), SHAPES, ids=SHAPE_IDS)
def test_missing_or_invalid_credentials_are_unauthorized(
    name: str, simple: bool, case: str
) -> None:
    """REST and WebSocket raise ``Unauthorized`` (401); HTTP APIs get a deny-all policy or
    isAuthorized false; the record carries the exact reason and status 401."""
    make_token, reason = BAD_TOKENS[case]
    records: list[dict[str, Any]] = []
    ev = event(name, make_token())
    response = call(make(records=records, simple_responses=simple), ev)
    assert response == unauthorized_response(name, simple)
    assert len(records) == 1
    assert (records[0]["decision"], records[0]["reason"], records[0]["status"]) == (
        "unauthorized",
        reason.value,
        401,
    )
    assert "principal" not in records[0]


def test_other_bearer_schemes_are_malformed() -> None:
    """``Basic ...`` in the Authorization header is not a bearer token: 401, malformed_token."""
    records: list[dict[str, Any]] = []
    ev = event("rest_request")
    ev["headers"]["Authorization"] = "Basic YWxhZGRpbjpvcGVuc2VzYW1l"
    assert call(make(records=records), ev) is None
    assert records[0]["reason"] == "malformed_token"


def test_key_source_down_is_unauthorized_with_keys_unavailable() -> None:
    """A JWKS endpoint answering 500: REST raises Unauthorized, HTTP gets a deny; the record
    reason is keys_unavailable, so it can be alarmed on apart from bad tokens."""
    with LocalIssuer(algs=("ES256",)) as idp:
        verifier = JwtVerifier(
            issuer=idp.issuer, audience=AUD, jwks_uri=idp.jwks_uri, allow_http=True
        )
        idp.mode = "error"
        tok = idp.token(sub="ann", aud=AUD, tenant="acme", roles=["reader"])
        records: list[dict[str, Any]] = []
        authorizer = make(verifier=verifier, records=records)
        assert authorizer.hydrate() is False
        assert call(authorizer, event("rest_token", tok)) is None
        assert call(authorizer, event("http_v2", tok)) == DENY_ALL_RESPONSE
        assert idp.fetches >= 1
        assert [(r["decision"], r["reason"], r["status"]) for r in records] == [
            ("unauthorized", "keys_unavailable", 401)
        ] * 2


def test_hydrate_fetches_keys_in_the_init_phase() -> None:
    """``hydrate()`` loads the JWKS once; later calls verify without fetching again."""
    with LocalIssuer(algs=("ES256",)) as idp:
        verifier = JwtVerifier(
            issuer=idp.issuer, audience=AUD, jwks_uri=idp.jwks_uri, allow_http=True
        )
        authorizer = make(verifier=verifier)
        assert authorizer.hydrate() is True
        assert idp.fetches == 1
        tok = idp.token(sub="ann", aud=AUD, tenant="acme", roles=["reader"])
        assert allows(call(authorizer, event("rest_token", tok)), arn_of(event("rest_token")))
        assert idp.fetches == 1
    assert make(verifier=None, api_keys=StaticApiKeys({})).hydrate() is True


@pytest.mark.parametrize(
    "bad_event",
    [
        None,
        [],
        "TOKEN",
        {},
        {"type": "TOKEN"},
        {"httpMethod": "GET", "resource": "/orders", "path": "/orders", "headers": {}},
        {"version": "2.0", "routeKey": "$default", "requestContext": {"http": {"method": "GET"}}},
    ],
    ids=["none", "list", "str", "empty", "token-without-arn", "rest-proxy", "http-proxy"],
)
def test_events_that_are_not_authorizer_events_are_unauthorized(bad_event: Any) -> None:
    """Anything but an authorizer event raises Unauthorized; nothing else escapes."""
    records: list[dict[str, Any]] = []
    assert call(make(records=records), bad_event) is None
    assert len(records) == 1
    assert records[0]["decision"] == "unauthorized"
    assert records[0]["status"] == 401
    expected = "missing_token" if bad_event == {"type": "TOKEN"} else "unsupported_event"
    assert records[0]["reason"] == expected


@pytest.mark.parametrize(
    "method_arn",
    [
        "arn:aws:s3:::bucket",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/orders/*",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/FETCH/orders",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/" + "a" * 1600,
        "",
    ],
    ids=["s3", "wildcard", "verb", "too-long", "empty"],
)
def test_bad_method_arns_fail_closed(method_arn: str) -> None:
    """A malformed methodArn (another service, a wildcard, an unknown verb, over 1600 bytes)
    is never turned into a policy: 401, logged as bad_request (InvalidMethodArn is a
    BadRequest of the secauth error tree)."""
    records: list[dict[str, Any]] = []
    ev = event("rest_token")
    ev["methodArn"] = method_arn
    assert call(make(records=records), ev) is None
    assert (records[0]["decision"], records[0]["reason"]) == ("unauthorized", "bad_request")


# --- fault injection -----------------------------------------------------------------------------


class _CustomError(SecAuthError):
    """A user-defined secauth error, as a hook might raise."""

    reason = Reason.INVALID_CLAIMS
    status = 401


EXCEPTIONS: list[Callable[[], BaseException]] = [
    lambda: ValueError(SECRET),
    lambda: KeyError(SECRET),
    lambda: TypeError(SECRET),
    lambda: AttributeError(SECRET),
    lambda: IndexError(SECRET),
    lambda: ZeroDivisionError(SECRET),
    lambda: RecursionError(SECRET),
    lambda: MemoryError(SECRET),
    lambda: RuntimeError(SECRET),
    lambda: OSError(SECRET),
    lambda: UnicodeDecodeError("utf-8", SECRET.encode(), 0, 1, SECRET),
    lambda: ExceptionGroup(SECRET, [ValueError(SECRET)]),
    lambda: UnsupportedEvent(SECRET),
    lambda: InvalidMethodArn(SECRET),
    Unauthorized,
    lambda: InvalidSignature(SECRET, detail={"problem": "injected"}),
    lambda: TokenExpired(SECRET),
    lambda: KeysUnavailable(SECRET),
    lambda: Forbidden(SECRET),
    lambda: ConfigurationError(SECRET),
    lambda: PolicyConflict(SECRET),
    lambda: _CustomError(SECRET, detail={"hook": "custom"}),
]


def _expected_reason(exc: BaseException) -> str:
    if isinstance(exc, UnsupportedEvent):
        return "unsupported_event"
    if isinstance(exc, SecAuthError):
        return exc.reason.value
    return "internal_error"


@contextlib.contextmanager
def replaced(owner: Any, name: str, value: Any) -> Iterator[None]:
    """Temporarily replace ``owner.name`` (restored even when the body fails)."""
    original = owner.__dict__[name]
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


class _ExplodingPrincipal(Principal):
    """A principal whose authorizer context cannot be built."""

    error: Callable[[], BaseException] = staticmethod(lambda: ValueError(SECRET))

    def to_context(self, **_options: Any) -> dict[str, str]:
        raise type(self).error()


def build_faulty(
    stage: str, make_exc: Callable[[], BaseException], records: list[dict[str, Any]], simple: bool
) -> tuple[Authorizer, contextlib.AbstractContextManager[None]]:
    """An authorizer whose ``stage`` raises ``make_exc()``; the context manager installs any
    class-level patch the stage needs."""

    def boom(*_args: Any, **_kwargs: Any) -> Any:
        raise make_exc()

    options: dict[str, Any] = {"records": records, "simple_responses": simple}
    patch: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    authorizer_class: type[Authorizer] = Authorizer

    if stage == "Request.from_event":
        patch = replaced(Request, "from_event", classmethod(boom))
    elif stage == "credentials":
        authorizer_class = type("A", (Authorizer,), {"credentials": boom})
    elif stage == "verifier.verify":

        class Verifier:
            def verify(self, tok: str) -> dict[str, Any]:
                raise make_exc()

            def hydrate(self) -> bool:
                return True

        options["verifier"] = Verifier()
    elif stage == "map_claims":
        authorizer_class = type("A", (Authorizer,), {"map_claims": boom})
    elif stage == "routes.decide":

        class FaultyRoutes(Routes):
            def decide(self, *args: Any, **kwargs: Any) -> Decision:
                raise make_exc()

        options["routes"] = FaultyRoutes(table())
    elif stage == "routes.judge":

        class FaultyJudge(Routes):
            def judge(self, *args: Any, **kwargs: Any) -> Decision:
                raise make_exc()

        options["routes"] = FaultyJudge(table())
    elif stage == "rate_limit.hit":

        class Limiter:
            def hit(self, request: Any, principal: Any = None) -> Any:
                raise make_exc()

        options["rate_limit"] = Limiter()
    elif stage == "context callable":
        options["context"] = boom
    elif stage == "extra_context":
        authorizer_class = type("A", (Authorizer,), {"extra_context": boom})
    elif stage == "PolicyBuilder.response":
        builder_class = type("B", (PolicyBuilder,), {"response": boom})
        options["policy_builder"] = builder_class(simple_responses=simple)
    elif stage == "PolicyBuilder.policy":
        builder_class = type("B", (PolicyBuilder,), {"policy": boom})
        options["policy_builder"] = builder_class(simple_responses=simple)
    elif stage == "PolicyBuilder.extra_statements":
        builder_class = type("B", (PolicyBuilder,), {"extra_statements": boom})
        options["policy_builder"] = builder_class(simple_responses=simple)
    elif stage == "Principal.to_context":
        principal_class = type("P", (_ExplodingPrincipal,), {"error": staticmethod(make_exc)})

        def exploding(self: Authorizer, claims: Mapping[str, Any]) -> Principal:
            mapped = CLAIMS.map(claims)
            return principal_class(mapped.id, tenant=mapped.tenant, roles=mapped.roles)

        authorizer_class = type("A", (Authorizer,), {"map_claims": exploding})
    else:  # pragma: no cover - a typo in STAGES
        raise AssertionError(stage)

    records_list = options.pop("records")
    options.setdefault("routes", ROUTES)
    options.setdefault("claims", CLAIMS)
    verifier = options.pop("verifier", VERIFIER)
    authorizer = authorizer_class(
        verifier, on_decision=records_list.append, decision_log="logging", **options
    )
    return authorizer, patch


STAGES = [
    "Request.from_event",
    "credentials",
    "verifier.verify",
    "map_claims",
    "routes.decide",
    "routes.judge",
    "rate_limit.hit",
    "context callable",
    "extra_context",
    "PolicyBuilder.response",
    "PolicyBuilder.policy",
    "PolicyBuilder.extra_statements",
    "Principal.to_context",
]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def decision_log() -> Iterator[list[str]]:
    """Collect the ``secauth.decisions`` log lines (usable inside Hypothesis examples)."""
    logger = logging.getLogger("secauth.decisions")
    handler = _Collect()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def check_fault(stage: str, shape: tuple[str, bool], make_exc: Callable[[], BaseException]) -> None:
    name, simple = shape
    if stage.startswith("PolicyBuilder.") and stage != "PolicyBuilder.response" and simple:
        return  # simple responses have no policy: the stage is never reached
    records: list[dict[str, Any]] = []
    authorizer, patch = build_faulty(stage, make_exc, records, simple)
    ev = event(name)  # a valid token on an allowed route: every stage is reached
    raised: BaseException | None = None
    response: dict[str, Any] | None = None
    with decision_log() as lines, patch:
        try:
            response = authorizer.handler(ev, None)
        except BaseException as exc:  # the point is to see what escapes
            raised = exc
    if raised is not None:
        assert type(raised) is Unauthorized, (stage, raised)
        assert str(raised) == "Unauthorized"
        assert raised.__cause__ is None
        assert raised.__context__ is None
        text = "".join(traceback.format_exception(raised))
        assert SECRET not in text
        # With the event itself unreadable, no kind can be told: REST's 401 is the answer.
        assert name in RAISING_KINDS or stage == "Request.from_event"
    else:
        assert name not in RAISING_KINDS
        assert response == unauthorized_response(name, simple)
        assert not allows(response, arn_of(ev))
        assert SECRET not in json.dumps(response)
        assert "Traceback" not in json.dumps(response)
    assert len(records) == 1
    record = records[0]
    assert (record["decision"], record["status"]) == ("unauthorized", 401)
    assert record["reason"] == _expected_reason(make_exc())
    if record["reason"] == "internal_error":
        assert record["detail"] == {"error": type(make_exc()).__name__}
    assert len(lines) == 1
    assert json.loads(lines[0]) == record
    assert SECRET not in lines[0]
    assert SECRET not in repr(record)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stage=st.sampled_from(STAGES),
    shape=st.sampled_from(SHAPES),
    make_exc=st.sampled_from(EXCEPTIONS),
)
def test_any_exception_in_any_stage_fails_closed(
    stage: str, shape: tuple[str, bool], make_exc: Callable[[], BaseException]
) -> None:
    """Whatever a stage raises (builtin errors, MemoryError, RecursionError, exception
    groups, secauth errors of any status), the answer is Unauthorized or a deny: never an
    Allow, never another exception, no message or traceback in the answer or the log, and
    exactly one decision record with the error's reason."""
    check_fault(stage, shape, make_exc)


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_every_stage_and_shape_fails_closed(stage: str, shape: tuple[str, bool]) -> None:
    """The full grid of stages and response shapes, with a plain ValueError."""
    check_fault(stage, shape, EXCEPTIONS[0])


class _BadReturns(Authorizer):
    """Hooks that return nonsense instead of raising."""

    def __init__(self, hook: str, value: Any, **options: Any) -> None:
        super().__init__(VERIFIER, routes=ROUTES, claims=CLAIMS, **options)
        self.hook = hook
        self.value = value

    def map_claims(self, claims: Mapping[str, Any]) -> Principal:
        return self.value if self.hook == "map_claims" else super().map_claims(claims)

    def extra_context(self, principal: Principal, request: Request) -> Mapping[str, object]:
        return self.value if self.hook == "extra_context" else {}


@pytest.mark.parametrize(
    ("hook", "value", "reason"),
    [
        ("map_claims", None, "internal_error"),
        ("map_claims", "ann", "internal_error"),
        ("map_claims", Principal(""), "configuration_error"),
        ("extra_context", None, "internal_error"),
        ("extra_context", ["a"], "internal_error"),
        ("extra_context", {"roles": ["admin"]}, "configuration_error"),
        ("extra_context", {"big": "x" * 9000}, "configuration_error"),
        ("extra_context", {"n": float("nan")}, "configuration_error"),
    ],
    ids=["none", "str", "empty-id", "ctx-none", "ctx-list", "ctx-list-value", "ctx-too-big", "nan"],
)
def test_hooks_returning_nonsense_fail_closed(hook: str, value: Any, reason: str) -> None:
    """A hook returning the wrong type, an empty principal id, a context value REST cannot
    carry, or a response over the 8 KB budget: 401, never an Allow."""
    records: list[dict[str, Any]] = []
    authorizer = _BadReturns(hook, value, on_decision=records.append)
    assert call(authorizer, event("rest_token")) is None
    assert call(authorizer, event("http_v1")) == DENY_ALL_RESPONSE
    assert [(r["decision"], r["reason"]) for r in records] == [("unauthorized", reason)] * 2


def test_a_broken_decision_callback_changes_nothing() -> None:
    """on_decision raising is ignored: the decision and the log line stay."""

    def broken(record: Mapping[str, Any]) -> None:
        raise RuntimeError(SECRET)

    authorizer = make(on_decision=broken)
    with decision_log() as lines:
        assert allows(call(authorizer, event("rest_token")), arn_of(event("rest_token")))
        assert call(authorizer, event("rest_token", None)) is None
    assert [json.loads(line)["decision"] for line in lines] == ["allow", "unauthorized"]


# --- route tables, caching and the policy --------------------------------------------------------

LITERALS = ("a", "b", "me")
VALUES = (*LITERALS, "t1", "zz")
UNIVERSE_VERBS = ("GET", "POST", "DELETE")
PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/"


def universe() -> Iterator[tuple[str, str]]:
    """Every request of up to three segments over the table's literals and two other values."""
    for length in range(4):
        for segments in product(VALUES, repeat=length):
            for verb in UNIVERSE_VERBS:
                yield verb, "/" + "/".join(segments)


UNIVERSE = list(universe())


@st.composite
def route_cases(draw: st.DrawFn) -> tuple[dict[str, Rule], dict[str, Any], tuple[str, str]]:
    """(route table with principal-decidable rules, token claims, first request)."""
    routes: dict[tuple[str, tuple[str, ...]], tuple[str, Rule]] = {}
    for _ in range(draw(st.integers(1, 5))):
        shape: list[str] = []
        params: list[str] = []
        for index in range(draw(st.integers(0, 2))):
            if draw(st.booleans()):
                shape.append(draw(st.sampled_from(LITERALS)))
            else:
                shape.append(f"{{p{index}}}")
                params.append(f"p{index}")
        if draw(st.integers(0, 2)) == 0:
            shape.append("{rest+}")
            params.append("rest")
        verb = draw(st.sampled_from(["GET", "POST", "ANY"]))
        kind = draw(st.sampled_from(["public", "auth", "ra", "rb", "ra|rb", "~ra", "tenant"]))
        rule_: Rule
        if kind == "tenant" and params:
            rule_ = tenant(path=draw(st.sampled_from(params)))
            if draw(st.booleans()):
                rule_ = rule_ & roles("ra")
        else:
            rule_ = {
                "public": public(),
                "auth": authenticated(),
                "ra": roles("ra"),
                "rb": roles("rb"),
                "ra|rb": roles("ra") | roles("rb"),
                "~ra": ~roles("ra"),
                "tenant": roles("rb"),
            }[kind]
        key = tuple("{}" if s.startswith("{") and not s.endswith("+}") else s for s in shape)
        routes.setdefault((verb, key), (f"{verb} /{'/'.join(shape)}", rule_))
    granted = draw(st.lists(st.sampled_from(["ra", "rb", "rc"]), unique=True, max_size=2))
    claims = claims_for("gen", roles_=granted, tenant_=draw(st.sampled_from(["t1", "zz"])))
    first = draw(st.sampled_from(UNIVERSE))
    return dict(routes.values()), claims, first


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route_cases())
def test_cached_policies_never_allow_what_the_table_denies(
    case: tuple[dict[str, Rule], dict[str, Any], tuple[str, str]],
) -> None:
    """With cache_ttl=300 the response to one request is reused for every route: for generated
    tables, principals and first requests, the policy allows no method ARN (of a request
    routed to a table route) that Routes.decide denies, and answers the first request as
    decided. With cache_ttl=0 the policy names exactly the method ARN with the decision's
    effect. (That cached policies also allow what they can is measured, not promised: see
    tests/test_cached_policy_differential.py.)"""
    rules, claims, (verb, path) = case
    routes = Routes(rules)
    tok = PAIR.sign(claims)
    principal = CLAIMS.map(claims)
    first_arn = PREFIX + verb + path
    cached = call(make(routes=routes, cache_ttl=300), event("rest_token", tok, target=(verb, path)))
    assert cached is not None
    document = cached["policyDocument"]
    first_decision = routes.decide(principal, verb, path)
    assert evaluate(document, first_arn) is first_decision.allowed
    for other_verb, other_path in UNIVERSE:
        decision = routes.decide(principal, other_verb, other_path)
        if not decision.allowed:
            got = evaluate(document, PREFIX + other_verb + other_path)
            assert not got, (other_verb, other_path, document)

    uncached = call(make(routes=routes), event("rest_token", tok, target=(verb, path)))
    effect = "Allow" if first_decision.allowed else "Deny"
    assert uncached is not None
    assert uncached["policyDocument"] == policy(effect, first_arn)


CACHE_TABLE = {
    "GET /orders": roles("reader", "admin"),
    "GET /orders/{id}": roles("reader", "admin"),
    "DELETE /users/{id}": roles("admin"),
    "GET /users/{id}": authenticated(),
    "GET /users/me/secrets": roles("admin"),
}


@pytest.mark.parametrize(
    "first", [("GET", "/orders"), ("DELETE", "/users/7"), ("GET", "/users/me/secrets")]
)
@pytest.mark.parametrize("name", ["rest_token", "rest_request", "http_v1", "http_v2"])
def test_a_cached_response_answers_other_routes_right(name: str, first: tuple[str, str]) -> None:
    """The response for route A, reused by API Gateway for route B, allows B iff the table
    does: also after a denied first request, and for a wildcard that would reach a denied
    route (GET /users/* covers GET /users/me/secrets, which is denied explicitly)."""
    # HTTP APIs cache per route ($context.routeKey an identity source, review 69)
    authorizer = make(routes=Routes(CACHE_TABLE), cache_ttl=300, cache_key_covers_route=True)
    ev = event(name, target=first)
    response = call(authorizer, ev)
    assert response is not None
    prefix = MethodArn.parse(arn_of(ev)).prefix
    expected = {
        ("GET", "/orders"): True,
        ("GET", "/orders/9"): True,
        ("GET", "/users/42"): True,
        ("GET", "/users/me"): True,
        ("DELETE", "/users/7"): False,
        ("DELETE", "/users/8"): False,
        ("GET", "/users/me/secrets"): False,
        ("POST", "/orders"): False,
    }
    if name.startswith("http"):
        # HTTP APIs cache per route: the plan of the routes of its route's shape alone,
        # when the event names its route; else only its own ARN (review 70: an encoded "/"
        # makes route ARNs ambiguous).
        table = Routes(CACHE_TABLE)
        template = route_template(Request.from_event(ev))
        ran = None if template is None else parse_template(template).shape
        for (verb, path), want in expected.items():
            route = table.decide(Principal("u"), verb, path).route
            shape = parse_template(route.partition(" ")[2]).shape if route else None
            reach = (verb, path) == first or (ran is not None and shape == ran)
            assert evaluate(response["policyDocument"], prefix + verb + path) is (want and reach)
        return
    for (verb, path), want in expected.items():
        assert evaluate(response["policyDocument"], prefix + verb + path) is want, (verb, path)
    statements = response["policyDocument"]["Statement"]
    assert [s["Effect"] for s in statements] == ["Allow", "Deny"]
    # A denied first request is denied by its own ARN too; an allowed one is not.
    assert (arn_of(ev) in statements[1]["Resource"]) is (first != ("GET", "/orders"))


def test_an_inexpressible_table_falls_back_to_the_exact_method_arn() -> None:
    """Where IAM cannot express the table while cached (a catch-all beside a denied route), the
    response names only this method ARN: right now, 403 elsewhere until the entry expires."""
    routes = Routes({"GET /{proxy+}": authenticated(), "GET /users/{id}": roles("admin")})
    authorizer = make(routes=routes, cache_ttl=300)
    ev = event("rest_token", target=("GET", "/files/a"))
    response = call(authorizer, ev)
    assert response is not None
    assert response["policyDocument"] == policy("Allow", arn_of(ev))
    assert not evaluate(response["policyDocument"], PREFIX + "GET/users/7")


def test_cached_websocket_policies_name_the_route_key() -> None:
    """WebSocket ARNs have no verb: with caching on, $connect is allowed by its own ARN."""
    ev = event("websocket_connect")
    response = call(make(cache_ttl=300), ev)
    assert response is not None
    assert response["policyDocument"] == policy("Allow", arn_of(ev))


def test_tenant_routes_are_cached_for_the_callers_tenant_only() -> None:
    """A tenant-bound route is allowed for the caller's tenant in the cached policy, never for
    another tenant, not even through a path repeating the tenant further down."""
    member = token("mia", roles_=("member",), tenant_="acme")
    ev = event("rest_token", member, target=("GET", "/tenants/acme/orders"))
    response = call(make(cache_ttl=300), ev)
    assert response is not None
    doc = response["policyDocument"]
    assert evaluate(doc, PREFIX + "GET/tenants/acme/orders")
    assert evaluate(doc, PREFIX + "DELETE/tenants/acme/x/y")
    assert not evaluate(doc, PREFIX + "GET/tenants/globex/orders")
    assert not evaluate(doc, PREFIX + "GET/tenants/globex/x/tenants/acme/y")
    assert not evaluate(doc, PREFIX + "DELETE/users/7")


def test_http_v2_decides_on_the_route_arn_not_the_raw_path() -> None:
    """On a named stage an HTTP API's rawPath starts with the stage ("/prod/admin"), and a
    custom domain mapping adds its base path; the routeArn holds the path the policy names.
    The decision must be about that path: a catch-all must not let "/prod/admin" through to
    the admin route."""
    routes = Routes({"GET /admin": roles("admin"), "ANY /{proxy+}": authenticated()})
    for simple in (False, True):
        records: list[dict[str, Any]] = []
        authorizer = make(routes=routes, simple_responses=simple, records=records)
        for tok, want in ((READER, False), (ADMIN, True)):
            ev = event("http_v2", tok)
            ev["routeArn"] = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/admin"
            ev["rawPath"] = "/prod/admin"
            ev["routeKey"] = ev["requestContext"]["routeKey"] = "GET /admin"
            ev["requestContext"]["stage"] = "prod"
            ev["requestContext"]["http"]["path"] = "/prod/admin"
            assert allows(call(authorizer, ev), ev["routeArn"]) is want
        assert [(r["path"], r["route"]) for r in records] == [("/admin", "GET /admin")] * 2


# --- construction errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"verifier": None}, "needs a credential source: a verifier, api_keys or client_certs"),
        ({"verifier": object()}, "verifier must be a JwtVerifier"),
        ({"routes": {"GET /a": public()}}, "routes must be a secauth.Routes table"),
        (
            {"simple_responses": True, "cache_ttl": 300},
            "simple responses cannot be cached per route",
        ),
        (
            {"rate_limit": RateLimiter.per_principal("5/minute"), "cache_ttl": 60},
            "a rate limit in the authorizer needs cache_ttl=0",
        ),
        ({"cache_ttl": -1}, "cache_ttl is the authorizer's result TTL: an int, 0 to 3600 seconds"),
        ({"cache_ttl": 3601}, "cache_ttl is the authorizer's result TTL: an int, 0 to 3600 seconds"),
        ({"max_response_bytes": 10}, "max_response_bytes must be an int of at least 256"),
    ],
    ids=[
        "no-source",
        "not-a-verifier",
        "plain-dict",
        "simple-cached",
        "rate-limit-cached",
        "ttl-negative",
        "ttl-too-big",
        "tiny-budget",
    ],
)
def test_construction_errors_say_what_to_do(options: dict[str, Any], fragment: str) -> None:
    """Every misconfiguration is refused at construction with a message that says what to do."""
    verifier = options.pop("verifier", VERIFIER)
    with pytest.raises(ConfigurationError) as caught:
        Authorizer(verifier, **options)
    assert fragment in str(caught.value)
    assert caught.value.reason is Reason.CONFIGURATION_ERROR


@rule
def business_hours(principal: Principal, context: AccessContext) -> bool:
    return True


@pytest.mark.parametrize(
    "dependent",
    [
        tenant(header="x-tenant-id"),
        tenant(query="tenant"),
        source_ip(allow=["203.0.113.0/24"]),
        business_hours,
        roles("admin") & source_ip(deny=["198.51.100.0/24"]),
        roles("admin") | business_hours,
        ~source_ip(allow=["203.0.113.0/24"]),
    ],
    ids=["header", "query", "ip", "custom", "and", "or", "not"],
)
def test_request_dependent_rules_are_refused_with_caching(dependent: Rule) -> None:
    """Rules that read headers, query, IP or custom logic cannot be cached per identity: with
    cache_ttl > 0 they are refused (naming the route) unless cache_key_covers_request=True."""
    routes = Routes({"GET /orders": roles("reader"), "GET /reports": dependent})
    with pytest.raises(ConfigurationError) as caught:
        Authorizer(VERIFIER, routes=routes, cache_ttl=300)
    message = str(caught.value)
    assert "['GET /reports']" in message
    assert "depend on the request" in message
    assert "cache_key_covers_request=True" in message
    Authorizer(VERIFIER, routes=routes, cache_ttl=0)
    Authorizer(VERIFIER, routes=routes, cache_ttl=300, cache_key_covers_request=True)


def test_request_dependent_route_with_a_covering_cache_key_allows_only_this_request() -> None:
    """With cache_key_covers_request=True, a request-dependent route that allowed this request
    is allowed by its exact method ARN only (the cache key holds what the rule read)."""
    routes = Routes(
        {"GET /orders": roles("reader"), "GET /reports": source_ip(allow=["203.0.113.0/24"])}
    )
    authorizer = make(routes=routes, cache_ttl=300, cache_key_covers_request=True)
    ev = event("rest_request", target=("GET", "/reports"))
    response = call(authorizer, ev)
    assert response is not None
    doc = response["policyDocument"]
    assert evaluate(doc, arn_of(ev))
    assert evaluate(doc, PREFIX + "GET/orders")
    assert not evaluate(doc, PREFIX + "GET/reports/x")
    ev["requestContext"]["identity"]["sourceIp"] = "198.51.100.1"
    denied = call(authorizer, ev)
    assert denied is not None
    assert not evaluate(denied["policyDocument"], arn_of(ev))


# --- rate limits -----------------------------------------------------------------------------------


def test_rate_limited_requests_are_denied_with_403() -> None:
    """Over the limit: an explicit Deny (authorizers cannot answer 429) with reason
    rate_limited; other principals keep their own budget."""
    records: list[dict[str, Any]] = []
    authorizer = make(rate_limit=RateLimiter.per_principal("2/minute"), records=records)
    ev = event("rest_token")
    assert allows(call(authorizer, ev), arn_of(ev))
    assert allows(call(authorizer, ev), arn_of(ev))
    third = call(authorizer, ev)
    assert third is not None
    assert third["policyDocument"] == policy("Deny", arn_of(ev))
    assert allows(call(authorizer, event("rest_token", ADMIN)), arn_of(ev))
    assert [(r["decision"], r.get("reason"), r["status"]) for r in records] == [
        ("allow", None, 200),
        ("allow", None, 200),
        ("deny", "rate_limited", 403),
        ("allow", None, 200),
    ]


def test_denied_requests_do_not_spend_the_rate_limit() -> None:
    """The limit is only counted for requests the routes allow."""
    authorizer = make(rate_limit=RateLimiter.per_principal("1/minute"))
    denied = event("rest_token", target=("DELETE", "/users/7"))
    for _ in range(3):
        assert not allows(call(authorizer, denied), arn_of(denied))
    assert allows(call(authorizer, event("rest_token")), arn_of(event("rest_token")))


# --- API keys --------------------------------------------------------------------------------------

API_KEY = "pk_" + secrets.token_urlsafe(32)
PLAIN_KEY = "pk_" + secrets.token_urlsafe(32)
KEY_STORE = StaticApiKeys(
    {
        hash_api_key(API_KEY): ApiKeyEntry(
            "partner-a", roles=("reader",), tenant="acme", usage_plan=True
        ),
        hash_api_key(PLAIN_KEY): ApiKeyEntry("partner-b", roles=("reader",)),
    }
)


def key_event(name: str, key: str | None) -> dict[str, Any]:
    """Fixture ``name`` without a token, presenting ``key`` in X-API-Key (the identity source)."""
    ev = event(name, None)
    if key is not None:
        ev.setdefault("headers", {})["X-API-Key"] = key
        if name == "http_v1":
            ev["identitySource"] = key
        elif name == "http_v2":
            ev["identitySource"] = [key]
    return ev


@pytest.mark.parametrize("name", ["rest_request", "http_v1", "http_v2", "websocket_connect"])
def test_api_keys_map_to_principals_and_usage_plans(name: str) -> None:
    """A known key is the entry's principal; usageIdentifierKey is the presented key, for REST
    only and only for usage-plan entries."""
    authorizer = make(verifier=None, api_keys=KEY_STORE)
    ev = key_event(name, API_KEY)
    response = call(authorizer, ev)
    assert response is not None
    assert response["principalId"] == "partner-a"
    assert allows(response, arn_of(ev))
    assert Principal.from_context(response["context"]) == Principal(
        "partner-a", tenant="acme", roles={"reader"}, kind="api_key"
    )
    if name == "rest_request":
        assert response["usageIdentifierKey"] == API_KEY
    else:
        assert "usageIdentifierKey" not in response
    plain = call(authorizer, key_event(name, PLAIN_KEY))
    assert plain is not None
    assert "usageIdentifierKey" not in plain


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("pk_" + "0" * 40, "invalid_claims"),
        (API_KEY[:-1] + ("A" if API_KEY[-1] != "A" else "B"), "invalid_claims"),
        ("short", "malformed_token"),
        ("x" * 300, "malformed_token"),
        ("pk_\x00" + "a" * 30, "malformed_token"),
        (None, "missing_token"),
        ("   ", "missing_token"),
    ],
    ids=["unknown", "one-char-off", "short", "long", "control-char", "absent", "blank"],
)
def test_unknown_or_malformed_api_keys_are_unauthorized(key: str | None, reason: str) -> None:
    """Unknown, near-miss, malformed and missing keys: 401 (a deny-all for HTTP APIs)."""
    records: list[dict[str, Any]] = []
    authorizer = make(verifier=None, api_keys=KEY_STORE, records=records)
    assert call(authorizer, key_event("rest_request", key)) is None
    assert call(authorizer, key_event("http_v2", key)) == DENY_ALL_RESPONSE
    assert [(r["decision"], r["reason"]) for r in records] == [("unauthorized", reason)] * 2


def test_api_key_store_failure_fails_closed() -> None:
    """A key store that raises (say DynamoDB is down) gives 401, never an Allow."""

    class DownStore:
        def lookup(self, key: str) -> ApiKeyEntry | None:
            raise ConnectionError(SECRET)

    records: list[dict[str, Any]] = []
    authorizer = make(verifier=None, api_keys=DownStore(), records=records)
    assert call(authorizer, key_event("rest_request", API_KEY)) is None
    assert records[0]["reason"] == "internal_error"
    assert records[0]["detail"] == {"error": "ConnectionError"}


def test_api_keys_are_stored_only_as_hashes() -> None:
    """A plain key (or anything but a SHA-256 hex digest) as a mapping key is refused."""
    with pytest.raises(ConfigurationError) as caught:
        StaticApiKeys({API_KEY: ApiKeyEntry("partner-a")})
    assert "never plain keys" in str(caught.value)
    assert API_KEY not in str(caught.value)
    with pytest.raises(ConfigurationError):
        StaticApiKeys({"g" * 64: ApiKeyEntry("partner-a")})
    with pytest.raises(ConfigurationError):
        StaticApiKeys({hash_api_key(API_KEY): ("partner-a",)})  # type: ignore[dict-item]


def test_a_bearer_token_is_used_when_no_api_key_is_presented() -> None:
    """With both sources configured, a request without the key header uses its token; a TOKEN
    event (no headers) always does."""
    authorizer = make(api_keys=KEY_STORE)
    for name in ("rest_token", "rest_request"):
        response = call(authorizer, event(name))
        assert response is not None
        assert response["principalId"] == "ann"
        assert "usageIdentifierKey" not in response


# --- mutual TLS -----------------------------------------------------------------------------------

SUBJECT = "CN=partner-a,O=Partner A"
CA = "CN=Example CA,O=Example"
SERIAL = "a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1"
NOW_2024 = float(calendar.timegm((2024, 6, 1, 12, 0, 0)))


def cert_authorizer(
    records: list[dict[str, Any]] | None = None, *, now: float = NOW_2024, **entry: Any
) -> Authorizer:
    fields: dict[str, Any] = {
        "issuer_dn": CA,
        "serial_numbers": (SERIAL,),
        "roles": ("reader",),
        "tenant": "acme",
    }
    fields.update(entry)
    certs = ClientCertificates({SUBJECT: ClientCertEntry("partner-a", **fields)}, clock=lambda: now)
    return make(verifier=None, client_certs=certs, records=records)


def test_mtls_client_certificate_from_the_allowlist_is_the_principal() -> None:
    """A REST REQUEST event with requestContext.identity.clientCert: the allowlisted
    certificate's principal is allowed, and its context rebuilds it."""
    ev = event("rest_request", None)
    response = call(cert_authorizer(), ev)
    assert response is not None
    assert response["principalId"] == "partner-a"
    assert response["policyDocument"] == policy("Allow", arn_of(ev))
    assert Principal.from_context(response["context"]) == Principal(
        "partner-a", tenant="acme", roles={"reader"}, kind="client_cert"
    )


def _cert_case(change: str) -> tuple[dict[str, Any], float]:
    ev = event("rest_request", None)
    cert = ev["requestContext"]["identity"]["clientCert"]
    now = NOW_2024
    if change == "subject":
        cert["subjectDN"] = "CN=partner-b,O=Partner B"
    elif change == "subject-case":
        cert["subjectDN"] = SUBJECT.lower()
    elif change == "issuer":
        cert["issuerDN"] = "CN=Evil CA"
    elif change == "serial":
        cert["serialNumber"] = "b2:b2"
    elif change == "expired":
        now = float(calendar.timegm((2032, 1, 1, 0, 0, 0)))
    elif change == "not-yet-valid":
        now = float(calendar.timegm((2019, 1, 1, 0, 0, 0)))
    elif change == "no-validity":
        del cert["validity"]
    elif change == "bad-validity":
        cert["validity"]["notAfter"] = "someday"
    elif change == "no-cert":
        del ev["requestContext"]["identity"]["clientCert"]
    return ev, now


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("subject", "invalid_claims"),
        ("subject-case", "invalid_claims"),
        ("issuer", "invalid_claims"),
        ("serial", "invalid_claims"),
        ("expired", "invalid_claims"),
        ("not-yet-valid", "invalid_claims"),
        ("no-validity", "invalid_claims"),
        ("bad-validity", "invalid_claims"),
        ("no-cert", "missing_token"),
    ],
)
def test_mtls_certificates_outside_the_allowlist_are_unauthorized(change: str, reason: str) -> None:
    """Wrong subject, issuer or serial, outside its validity, or no certificate: 401."""
    ev, now = _cert_case(change)
    records: list[dict[str, Any]] = []
    assert call(cert_authorizer(records, now=now), ev) is None
    assert [(r["decision"], r["reason"], r["status"]) for r in records] == [
        ("unauthorized", reason, 401)
    ]


# --- decision records and logs ---------------------------------------------------------------------


def test_one_decision_record_per_call_and_no_secret_in_any_of_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each call logs exactly one JSON line on ``secauth.decisions`` (equal to the on_decision
    record) with the right decision, reason and status; no line or record holds a token, its
    signature or payload segment, or an API key, whatever the outcome."""
    caplog.set_level(logging.INFO, logger="secauth.decisions")
    records: list[dict[str, Any]] = []
    authorizer = make(api_keys=KEY_STORE, records=records)
    expired = token(lifetime=-60)
    forged = _forged()
    wrong_tenant = token("mia", roles_=("member",), tenant_="acme")
    cases: list[tuple[dict[str, Any], tuple[str, str | None, int]]] = [
        (event("rest_token"), ("allow", None, 200)),
        (event("rest_token", target=("DELETE", "/users/7")), ("deny", "forbidden", 403)),
        (event("rest_request", forged), ("unauthorized", "invalid_signature", 401)),
        (event("http_v1", expired), ("unauthorized", "token_expired", 401)),
        (event("http_v2", None), ("unauthorized", "missing_token", 401)),
        (
            event("http_v2", wrong_tenant, target=("GET", "/tenants/globex/x")),
            ("deny", "tenant_mismatch", 403),
        ),
        (key_event("rest_request", API_KEY), ("allow", None, 200)),
        (key_event("rest_request", API_KEY[::-1]), ("unauthorized", "invalid_claims", 401)),
        (event("websocket_connect"), ("allow", None, 200)),
        (
            {  # a proxy event with a token, sent to the authorizer by mistake
                "httpMethod": "GET",
                "resource": "/orders",
                "path": "/orders",
                "headers": {"Authorization": f"Bearer {READER}", "X-API-Key": API_KEY},
            },
            ("unauthorized", "unsupported_event", 401),
        ),
    ]
    secrets_seen = {API_KEY, API_KEY[::-1]}
    for tok in (READER, expired, forged, wrong_tenant):
        secrets_seen.add(tok)
        secrets_seen.update(tok.split(".")[1:])
    for ev, (decision, reason, status) in cases:
        caplog.clear()
        records.clear()
        with contextlib.suppress(Unauthorized):
            authorizer.handler(ev, None)
        assert len(records) == 1
        lines = [r for r in caplog.records if r.name == "secauth.decisions"]
        assert len(lines) == 1
        assert lines[0].levelno == logging.INFO
        logged = json.loads(lines[0].getMessage())
        assert logged == records[0]
        assert (logged["decision"], logged.get("reason"), logged["status"]) == (
            decision,
            reason,
            status,
        )
        text = caplog.text + lines[0].getMessage() + repr(records[0])
        for value in secrets_seen:
            assert value not in text


def test_decision_records_are_quiet_below_info(caplog: pytest.LogCaptureFixture) -> None:
    """With the logger at WARNING no line is written; the callback still gets its record."""
    caplog.set_level(logging.WARNING, logger="secauth.decisions")
    records: list[dict[str, Any]] = []
    call(make(records=records), event("rest_token"))
    assert [r for r in caplog.records if r.name == "secauth.decisions"] == []
    assert len(records) == 1


# --- the context contract ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "simple"), SHAPES, ids=SHAPE_IDS)
def test_allow_context_rebuilds_the_same_principal(name: str, simple: bool) -> None:
    """``Principal.from_context`` on an Allow's context gives back the principal (id, tenant,
    roles, scopes, groups, kind), for names with spaces too."""
    claims = claims_for(
        "user-1",
        roles_=("reader", "team lead"),
        scope="orders:read orders:write",
        groups=["g one", "g2"],
    )
    ev = event(name, PAIR.sign(claims))
    response = call(make(simple_responses=simple), ev)
    assert response is not None
    rebuilt = Principal.from_context(response["context"])
    assert rebuilt == CLAIMS.map(claims)
    assert rebuilt.groups == {"g one", "g2"}
    assert rebuilt.scopes == {"orders:read", "orders:write"}


def test_extra_context_cannot_spoof_the_principal() -> None:
    """Extra context values are passed on, but the secauth_* keys are always the principal's."""
    spoof = {
        "secauth_principal": "root",
        "secauth_roles": '["admin"]',
        "secauth_kind": "user",
        "plan": "gold",
        "limit": 10,
        "beta": True,
    }
    for name in ("rest_token", "http_v1", "websocket_connect"):
        response = call(make(context=lambda principal: spoof), event(name))
        assert response is not None
        context = response["context"]
        assert (context["plan"], context["limit"], context["beta"]) == ("gold", 10, True)
        assert Principal.from_context(context) == reader_principal()


def test_http_v2_context_may_carry_json_values() -> None:
    """HTTP payload 2.0 (both shapes) passes JSON context values; REST refuses them (401)."""
    extra = {"features": ["a", "b"], "limits": {"rps": 5}}
    for simple in (False, True):
        response = call(make(context=lambda p: extra, simple_responses=simple), event("http_v2"))
        assert response is not None
        assert response["context"]["features"] == ["a", "b"]
        assert response["context"]["limits"] == {"rps": 5}
    assert call(make(context=lambda p: extra), event("rest_token")) is None


# --- subclassing hooks -------------------------------------------------------------------------------


def test_policy_builder_hook_adds_statements() -> None:
    """A PolicyBuilder subclass's extra Deny applies to the authorizer's responses."""

    class NoDeletes(PolicyBuilder):
        def extra_statements(self, principal: Any, request: Request) -> Iterable[Statement]:
            arn = MethodArn.parse(request.method_arn)
            yield Statement("Deny", arn.with_route("DELETE", "/{proxy+}"))

    ev = event("rest_token", ADMIN, target=("DELETE", "/users/7"))
    assert allows(call(make(), ev), arn_of(ev))
    response = call(make(policy_builder=NoDeletes()), ev)
    assert not allows(response, arn_of(ev))


def test_map_claims_hook() -> None:
    """Overriding map_claims changes the principal the routes and the response see."""

    class Upper(Authorizer):
        def map_claims(self, claims: Mapping[str, Any]) -> Principal:
            base = CLAIMS.map(claims)
            return Principal(base.id.upper(), tenant=base.tenant, roles=base.roles)

    response = call(Upper(VERIFIER, routes=ROUTES, claims=CLAIMS), event("rest_token"))
    assert response is not None
    assert response["principalId"] == "ANN"


# --- repeated tokens (memoized responses) ------------------------------------------------------------


class Clock:
    """A settable clock for the verifier."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("name", "simple"), SHAPES, ids=SHAPE_IDS)
def test_repeated_tokens_answer_like_fresh_ones(name: str, simple: bool) -> None:
    """Calling again with the same token and route (memoized internally) gives the same
    response and record as an authorizer that never memoizes; a caller changing a response
    does not change the next one; each record keeps its own request id."""
    records: list[dict[str, Any]] = []
    fresh_records: list[dict[str, Any]] = []
    memo = make(records=records, simple_responses=simple)
    fresh = make(records=fresh_records, simple_responses=simple, response_cache_size=0)
    sequence = [READER, READER, ADMIN, READER, READER, ADMIN, READER]
    for index, tok in enumerate(sequence):
        ev = event(name, tok)
        if "requestContext" in ev:
            ev["requestContext"]["requestId"] = f"req-{index}"
        got = call(memo, copy.deepcopy(ev))
        want = call(fresh, copy.deepcopy(ev))
        assert got == want
        assert got is not None
        got.setdefault("context", {})["secauth_principal"] = "mallory"
        if "policyDocument" in got:
            got["policyDocument"]["Statement"][0]["Resource"].append("*")
    for mine, theirs in zip(records, fresh_records, strict=True):
        mine.pop("latency_us")
        theirs.pop("latency_us")
        assert mine == theirs


def test_repeated_tokens_are_verified_on_every_call() -> None:
    """A token that expires while its response is memoized is refused at once."""
    clock = Clock()
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]}, clock=clock)
    records: list[dict[str, Any]] = []
    authorizer = make(verifier=verifier, records=records)
    tok = PAIR.sign({**claims_for(), "exp": int(clock.now) + 60})
    for _ in range(4):
        assert allows(call(authorizer, event("rest_token", tok)), arn_of(event("rest_token")))
    clock.now += 120
    assert call(authorizer, event("rest_token", tok)) is None
    assert records[-1]["reason"] == "token_expired"


def test_repeated_tokens_still_apply_a_request_dependent_default_rule() -> None:
    """A table whose default rule reads the source IP: the same token and route from another
    address is denied, however often the first address was allowed."""
    routes = Routes({"GET /orders": roles("reader")}, default=source_ip(allow=["203.0.113.0/24"]))
    authorizer = make(routes=routes)
    ev = event("rest_request", target=("GET", "/reports"))
    for _ in range(3):
        assert allows(call(authorizer, copy.deepcopy(ev)), arn_of(ev))
    ev["requestContext"]["identity"]["sourceIp"] = "198.51.100.1"
    assert not allows(call(authorizer, ev), arn_of(ev))


def test_repeated_tokens_still_run_a_request_dependent_policy_builder() -> None:
    """A PolicyBuilder subclass whose statements read the request is asked on every call."""

    class BlockFlagged(PolicyBuilder):
        def extra_statements(self, principal: Any, request: Request) -> Iterable[Statement]:
            if request.headers.get("x-flagged") == "1":
                yield Statement("Deny", MethodArn.parse(request.method_arn).stage_wildcard())

    authorizer = make(policy_builder=BlockFlagged())
    ev = event("rest_request")
    for _ in range(3):
        assert allows(call(authorizer, copy.deepcopy(ev)), arn_of(ev))
    ev["headers"]["X-Flagged"] = "1"
    assert not allows(call(authorizer, ev), arn_of(ev))


def test_a_request_dependent_default_rule_is_refused_with_caching() -> None:
    """The table's default rule counts too: reading the IP, it cannot be cached per identity."""
    routes = Routes({"GET /orders": roles("reader")}, default=source_ip(allow=["203.0.113.0/24"]))
    with pytest.raises(ConfigurationError) as caught:
        Authorizer(VERIFIER, routes=routes, cache_ttl=300)
    assert "(the default rule)" in str(caught.value)
    Authorizer(
        VERIFIER, routes=Routes({"GET /orders": roles("reader")}, default=public()), cache_ttl=300
    )
