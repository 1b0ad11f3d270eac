"""Review 144: are today's documented claims true? (docs and CHANGELOG, reviews 136 to 142)

Every concrete sentence added or changed today (``git diff 0ccc765 HEAD -- docs CHANGELOG.md``)
is checked here through the public entry points, with real servers on loopback where a claim
needs one (redis-server, dynalite, ``LocalIssuer``, raw sockets that trickle or fail): the Guard's
answer table (docs/guard.md), the error table (docs/errors.md), the memo and cache rules and the
``OrdersAuthorizer`` sample (docs/authorizer.md), the ``DeviceAuthorizer`` sample and the kinds a
trust-mode Guard takes (docs/browser-clients.md), the 403 ``scope`` (docs/mcp.md), the resting
after a failed discovery (docs/opaque-tokens.md), the fetch deadline and httpx's logger
(docs/jwks.md), a shared store's state read as untrusted (docs/ratelimit.md), the moved modules
(docs/reference/*.md) and the CHANGELOG's ``Unreleased`` entries (``Principal.replace``,
``secauth.overrides``, ``hydrate``, the wrappers, ``verify_async``, the stores' clamping).

Resolved: penalty counters read a counter that is no count of ours (another type; negative,
fractional or non-numeric) as past the threshold, on Redis (``RECORD_SCRIPT``) and DynamoDB (the
condition, and the count read back); a Redis key of another type denies that key alone
(``HIT_SCRIPT`` checks ``TYPE``) instead of failing the store over; docs corrected: guard.md on an
HTTP API route the table lacks (403), jwks.md on httpcore's DEBUG traces, errors.md's 401
challenges.

Findings (strict xfails), all low:

* docs/ratelimit.md:244-247 ("A shared store's state is read as untrusted: a count that is
  negative ... denies rather than credits") does not hold for ``AbusePenalty``'s counters (failed
  logins, endpoint scanning) on the same stores: Redis ``INCR``s a negative count
  (``RECORD_SCRIPT``) and DynamoDB's ``attribute_not_exists(n) OR n <= :most`` accepts one, so the
  subject is never blocked (two tests: Redis and DynamoDB).
* docs/ratelimit.md:247 ("a value of the wrong type at a key denies too") holds on Redis only with
  ``on_store_error="closed"``: under the default ``"memory"`` the ``WRONGTYPE`` reply is a store
  failure, the poisoned key is admitted by the per-container fallback, and the breaker sends every
  other key to it as well (review 140 made DynamoDB's odd item deny its key alone).
* docs/guard.md:103-105 ("a path no route of the table has ... allowed by it, the handler runs")
  is false on an HTTP API whose ``routeKey`` the table lacks: 403, "the path reads as another
  route than API Gateway ran" (fails closed; the Authorizer denies alike).
* docs/jwks.md:60-63 ("nothing is logged on httpx's ``httpx`` logger (..., the server's reason
  phrase); secauth logs its own lines"): at DEBUG, ``httpcore.http11`` (httpx's transport, which
  secauth now calls) logs the reason phrase and every response header of each async fetch.
* docs/errors.md:76-78 still says a Guard's 401s carry ``error="invalid_token"`` save
  ``MissingToken``'s bare ``Bearer``, and the ``MissingAuthorizerContext`` row says nothing
  else; since review 138 that error gets a bare ``Bearer`` (guard.md:341 says so).

Held (plain tests): every other claim checked, about 45 of them: the Guard's 401/403/404/405
answers and challenges (bare ``Bearer``, ``Bearer, DPoP algs``, ``invalid_request``, the DPoP
scheme for a DPoP request, ``scope`` of a ``scopes(...)`` refusal with and without
``ProtectedResource``), verifiers refused at decoration, ``Routes.decide`` obeyed with
``require()`` checked, the memos off for every listed override and on (with a ``revalidate``
beside ``verify``) when vouched for, the docs' samples (they refuse a wrong or missing device
key and keep issuer, groups, tenant and scopes), trust-mode kinds, ``credentials()`` refused
under an uncovered cache, discovery failures resting ``retry_after`` then retried, a trickled
``Connection: close`` or HTTP/1.0 body cut at the deadline, no record on the ``httpx`` logger and
no URL query in secauth's own lines, negative, infinite, NaN, non-numeric and wrong-typed counts
denied on Redis (sync and async; a wrong type under ``"closed"``) and DynamoDB, GCRA states read as a burst,
``Principal.replace``, ``secauth.overrides``, ``hydrate`` and the moved modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import importlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hand_clock import Clock
from hostile_server import bounded, hostile_servers, trickling

import secauth.testing_events as te
from secauth import (
    Authorizer,
    Guard,
    JwksCache,
    JwtVerifier,
    PolicyBuilder,
    Routes,
    authenticated,
    roles,
    rule,
    scopes,
)
from secauth.access import Decision, Denial
from secauth.authorizer import Credentials
from secauth.client_auth import ClientAuth
from secauth.combined_verifier import CombinedVerifier
from secauth.dpop import DpopVerifier
from secauth.dpop_replay import MemoryReplayStore
from secauth.errors import (
    AmbiguousCredentials,
    ConfigurationError,
    InvalidClaims,
    KeysUnavailable,
    MalformedToken,
    MissingAuthorizerContext,
    Reason,
    TokenError,
    UnsupportedScheme,
)
from secauth.events import Request
from secauth.introspection import IntrospectionVerifier
from secauth.multi_issuer import MultiIssuerVerifier
from secauth.policy import MethodArn, Statement, Unauthorized
from secauth.principal import ClaimMapper, Principal
from secauth.protected_resource import ProtectedResource
from secauth.ratelimit import AbusePenalty, AsyncRedisStore, Limit, RateLimiter, RedisStore
from secauth.ratelimit.dynamodb_store import DynamoDBStore
from secauth.sender_constraint import SenderConstraint
from secauth.testing import KeyPair, LocalIssuer
from secauth.testing_dpop import DpopKey

DOCS = Path(__file__).resolve().parent.parent / "docs"
ISS = "https://idp.example.com/"
PAIR = KeyPair.generate("ES256", kid="k1")
JWKS = {"keys": [PAIR.public_jwk]}
ORDERS = Routes({"GET /orders": authenticated(), "DELETE /orders/{id}": roles("admin")})
Event = dict[str, Any]
_names = iter(range(10**6))


def token(sub: str = "ann", **claims: Any) -> str:
    return PAIR.sign({"iss": ISS, "aud": "api", "sub": sub, "exp": 4_000_000_000, **claims})


def plain() -> JwtVerifier:
    return JwtVerifier(issuer=ISS, audience="api", jwks=JWKS)


def ok(event: Event, context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


def outcome(authorizer: Authorizer, event: Event) -> str:
    """``"401"``, or whether API Gateway would let the request through (IAM)."""
    try:
        response = authorizer.handler(event, None)
    except Unauthorized:
        return "401"
    return "allow" if te.iam_allows(response, event["methodArn"]) else "deny"


def www(response: Mapping[str, Any]) -> str:
    found = [v for k, v in response["headers"].items() if k.lower() == "www-authenticate"]
    assert len(found) == 1, response
    return str(found[0])


def recorded(guard_kwargs: dict[str, Any], event: Event, handler: Any = ok) -> tuple[Any, Any]:
    """The response of a Guard built with ``guard_kwargs`` and its last decision record."""
    records: list[dict[str, Any]] = []
    guard = Guard(decision_log=None, on_decision=records.append, **guard_kwargs)
    return guard(handler)(event, None), records[-1]


# == docs/guard.md ================================================================================


class OnlyVerify:
    """A verifier of one's own with ``verify`` alone."""

    def verify(self, token: str) -> dict[str, Any]:
        return plain().verify(token)


class OnlyVerifyAsync:
    """A verifier of one's own with ``verify_async`` alone."""

    async def verify_async(self, token: str) -> dict[str, Any]:
        return await plain().verify_async(token)


def test_a_verifier_without_verify_async_is_refused_for_an_async_handler() -> None:
    """docs/guard.md:99-100: "A verifier of your own needs ``verify_async`` for an async handler
    ... decorating refuses one without it"."""

    async def handler(event: Event, context: Any) -> dict[str, Any]:
        return {"statusCode": 200}

    with pytest.raises(ConfigurationError, match="verify_async"):
        Guard(OnlyVerify(), routes=ORDERS, decision_log=None)(handler)
    assert Guard(OnlyVerify(), routes=ORDERS, decision_log=None)(ok) is not None


def test_a_verifier_without_verify_is_refused_for_a_sync_handler() -> None:
    """docs/guard.md:99-100 and CHANGELOG "Upgrading": "and ``verify`` for a sync one"."""
    with pytest.raises(ConfigurationError, match="verify"):
        Guard(OnlyVerifyAsync(), routes=ORDERS, decision_log=None)(ok)

    async def handler(event: Event, context: Any) -> dict[str, Any]:
        return {"statusCode": 200}

    wrapped = Guard(OnlyVerifyAsync(), routes=ORDERS, decision_log=None)(handler)
    event = te.function_url("GET", "/orders", token=token())
    assert asyncio.run(wrapped(event, None))["statusCode"] == 200


class Answering(Routes):
    """``decide`` overridden: ``root`` gets ``answer``; ``mallory`` is suspended."""

    __slots__ = ()
    answer: Any = None

    def decide(
        self, principal: Principal, method: str, path: str, request: Request | None = None
    ) -> Decision:
        if principal.id == "mallory":
            denial = Denial(Reason.FORBIDDEN, "suspended")
            return Decision(False, denial.reason, None, {}, denial)
        if principal.id == "root":
            return self.answer  # type: ignore[no-any-return]
        return super().decide(principal, method, path, request)


def answering(answer: Any) -> Routes:
    klass = type("Answers", (Answering,), {"__slots__": (), "answer": answer})
    table = {"GET /orders/{id}": authenticated(), "POST /orders/{id}": roles("admin")}
    return klass(table)  # type: ignore[no-any-return]


def status(guard: Guard, event: Event) -> int:
    return int(guard(ok)(event, None)["statusCode"])


def test_the_guard_obeys_a_decide_override() -> None:
    """docs/guard.md:102-103: "a ``Routes`` subclass that overrides it is obeyed here as by the
    ``Authorizer``" (CHANGELOG review 136, first medium)."""
    guard = Guard(plain(), routes=answering(None), decision_log=None)
    assert status(guard, te.function_url("GET", "/orders/7", token=token("ann"))) == 200
    assert status(guard, te.function_url("GET", "/orders/7", token=token("mallory"))) == 403


def test_a_routeless_path_refused_by_the_override_is_404_or_405() -> None:
    """docs/guard.md:103-104: "a path no route of the table has, refused by it, is a 404 (405 when
    other verbs have it)"; the 405 carries ``Allow`` (guard.md:350)."""
    refuse = Decision(False, None, None, {}, None)
    guard = Guard(plain(), routes=answering(refuse), decision_log=None)
    assert status(guard, te.function_url("GET", "/nowhere", token=token("root"))) == 404
    answer = guard(ok)(te.function_url("DELETE", "/orders/7", token=token("root")), None)
    assert answer["statusCode"] == 405
    assert answer["headers"]["Allow"] == "GET, POST"


def test_a_routeless_path_allowed_by_the_override_runs_and_require_is_checked() -> None:
    """docs/guard.md:104-105: "allowed by it, the handler runs, and a ``require()`` rule is checked
    on API Gateway's path parameters"."""
    allow = Decision(True, None, None, {}, None)
    guard = Guard(plain(), routes=answering(allow), decision_log=None)
    event = te.rest_proxy("GET", "/things/7", resource="/things/{id}", path_params={"id": "7"},
                          token=token("root"))  # fmt: skip
    assert status(guard, event) == 200
    assert status(guard, te.function_url("GET", "/nowhere", token=token("root"))) == 200
    strict = guard.require(
        rule(lambda principal, ctx: ctx.params.get("id") == "8", path_parameters=["id"])
    )
    assert status(strict, event) == 403  # the rule reads API Gateway's {id} = "7"
    eight = te.rest_proxy("GET", "/things/8", resource="/things/{id}", path_params={"id": "8"},
                          token=token("root"))  # fmt: skip
    assert status(strict, eight) == 200


# fmt: off
def test_a_routeless_http_api_route_allowed_by_the_override_is_refused_as_documented() -> None:
    """docs/guard.md:103-105 ("a path no route of the table has ... allowed by it, the handler
    runs, and a ``require()`` rule is checked on API Gateway's path parameters"), on an HTTP API
    event whose ``routeKey`` (``GET /things/{id}``) the table lacks: today 403, detail "the path
    reads as another route than API Gateway ran" (``guard_routes._judged``/``ran_elsewhere``);
    fail-closed, and the Authorizer denies alike, but the page promises the handler runs."""
    allow = Decision(True, None, None, {}, None)
    guard = Guard(plain(), routes=answering(allow), decision_log=None)
    event = te.http_proxy("GET", "/things/7", route_key="GET /things/{id}", path_params={"id": "7"},
                          token=token("root"))
    # Fixed in the docs: on an HTTP API such a route is refused (403), as the Authorizer does.
    assert status(guard, event) == 403
# fmt: on


class StoreRoles(ClaimMapper):
    """Roles from the application's own store: a revoked admin loses them at once."""

    def __init__(self, revoked: set[str]) -> None:
        super().__init__()
        self.revoked = revoked

    def map(self, claims: Mapping[str, Any]) -> Principal:
        mapped = super().map(claims)
        return mapped.replace(roles=() if mapped.id in self.revoked else ("admin",))


def test_a_redefined_claim_mapper_maps_every_guard_call() -> None:
    """docs/guard.md:105-106: "A ``ClaimMapper`` that redefines a method maps every call (the
    guard keeps no principal for it)"."""
    revoked: set[str] = set()
    guard = Guard(plain(), routes=ORDERS, claims=StoreRoles(revoked), decision_log=None)
    event = te.function_url("DELETE", "/orders/7", token=token("ann"))
    assert [status(guard, event) for _ in range(3)] == [200] * 3
    revoked.add("ann")
    assert status(guard, event) == 403


def test_no_credentials_is_a_bare_bearer_challenge() -> None:
    """docs/guard.md:341: 401 ``missing_token``, ``WWW-Authenticate: Bearer`` (``Bearer, DPoP
    algs="..."`` when DPoP is accepted): no error code."""
    response, record = recorded({"verifier": plain(), "routes": ORDERS},
                                te.function_url("GET", "/orders"))  # fmt: skip
    assert (response["statusCode"], www(response), record["reason"]) == (
        401,
        "Bearer",
        "missing_token",
    )
    dpop = SenderConstraint(dpop=DpopVerifier(replay=MemoryReplayStore(), algorithms=["ES256"]))
    response, _ = recorded({"verifier": plain(), "routes": ORDERS, "sender_constraint": dpop},
                           te.function_url("GET", "/orders"))  # fmt: skip
    assert www(response) == 'Bearer, DPoP algs="ES256"'


def test_another_scheme_is_malformed_token_with_a_bare_challenge() -> None:
    """docs/guard.md:341 and docs/errors.md:83: ``Authorization: Basic`` is 401
    ``malformed_token`` (``UnsupportedScheme``), challenged with a bare ``Bearer``; ``Bearer,
    DPoP algs`` when DPoP is accepted."""
    basic = te.function_url("GET", "/orders", authorization="Basic dXNlcjpwYXNzd29yZA==")
    response, record = recorded({"verifier": plain(), "routes": ORDERS}, basic)
    assert response["statusCode"] == 401
    assert www(response) == "Bearer"
    assert record["reason"] == "malformed_token"
    assert json.loads(response["body"])["title"] == "malformed token"
    dpop = SenderConstraint(dpop=DpopVerifier(replay=MemoryReplayStore(), algorithms=["ES256"]))
    response, _ = recorded(
        {"verifier": plain(), "routes": ORDERS, "sender_constraint": dpop}, basic
    )
    assert www(response) == 'Bearer, DPoP algs="ES256"'


def test_trust_mode_without_an_authorizer_context_is_a_bare_challenge() -> None:
    """docs/guard.md:341: "no authorizer context", ``missing_authorizer_context``, bare
    ``Bearer``."""
    response, record = recorded({}, te.http_proxy("GET", "/orders"))
    assert (response["statusCode"], www(response)) == (401, "Bearer")
    assert record["reason"] == "missing_authorizer_context"


def test_a_bad_token_is_invalid_token_with_a_description() -> None:
    """docs/guard.md:342: ``Bearer error="invalid_token", error_description="..."``."""
    expired = te.function_url("GET", "/orders", token=token(exp=1_000_000))
    response, record = recorded({"verifier": plain(), "routes": ORDERS}, expired)
    assert response["statusCode"] == 401
    assert www(response) == 'Bearer error="invalid_token", error_description="token expired"'
    assert record["reason"] == "token_expired"


def test_a_dpop_request_whose_token_fails_gets_the_dpop_scheme() -> None:
    """docs/guard.md:342: "with the ``DPoP`` scheme when the token came as ``Authorization:
    DPoP``" (RFC 9449 section 7.1)."""
    key = DpopKey.generate()
    dpop = SenderConstraint(dpop=DpopVerifier(replay=MemoryReplayStore(), algorithms=["ES256"]))
    expired = PAIR.sign(key.bind({"iss": ISS, "aud": "api", "sub": "ann", "exp": 1000}))
    event = te.function_url("GET", "/orders", authorization=f"DPoP {expired}")
    proof = key.proof("GET", f"https://{event['requestContext']['domainName']}/orders",
                      access_token=expired)  # fmt: skip
    event["headers"]["dpop"] = proof
    response, _ = recorded(
        {"verifier": plain(), "routes": ORDERS, "sender_constraint": dpop}, event
    )
    assert response["statusCode"] == 401
    assert www(response).startswith('DPoP error="invalid_token", error_description="')
    assert 'algs="ES256"' in www(response)


def test_a_token_given_twice_is_invalid_request() -> None:
    """docs/guard.md:343 and docs/errors.md:84: 401 ``ambiguous_credentials``, ``Bearer
    error="invalid_request", error_description="..."``, title ``credentials presented more than
    once``."""
    bearer = f"Bearer {token()}"
    event = te.http_proxy("GET", "/orders", authorization=bearer, query={"access_token": "x"})
    event["headers"]["authorization"] = f"{bearer},{bearer}"
    response, record = recorded({"verifier": plain(), "routes": ORDERS}, event)
    assert response["statusCode"] == 401
    assert www(response) == (
        'Bearer error="invalid_request", error_description="credentials presented more than once"'
    )
    assert record["reason"] == "ambiguous_credentials"
    assert json.loads(response["body"])["title"] == "credentials presented more than once"


def test_a_scopes_rule_refusal_names_its_scopes_without_a_protected_resource() -> None:
    """docs/guard.md:344: "a ``scopes(...)`` rule's refusal adds ``scope="..."``, the scopes it
    asks for" (no ``ProtectedResource`` is mentioned: none here)."""
    table = Routes({"GET /export": scopes("orders.export", "orders.admin")})
    event = te.function_url("GET", "/export", token=token(scope="orders.read"))
    response, record = recorded({"verifier": plain(), "routes": table}, event)
    assert (response["statusCode"], record["reason"]) == (403, "insufficient_scope")
    assert www(response) == ('Bearer error="insufficient_scope", error_description="insufficient '
                             'scope", scope="orders.admin orders.export"')  # fmt: skip


def test_a_required_scopes_rule_names_its_scopes_and_a_roles_rule_none() -> None:
    """docs/guard.md:344: the guard's own ``require(scopes(...))`` is a ``scopes(...)`` rule too;
    a ``roles(...)`` refusal (``forbidden``) adds no ``scope``."""
    guard = Guard(plain(), routes=ORDERS, decision_log=None).require(scopes("orders.audit"))
    response = guard(ok)(te.function_url("GET", "/orders", token=token()), None)
    assert response["statusCode"] == 403
    assert www(response).endswith('scope="orders.audit"')
    plain_guard = Guard(plain(), routes=ORDERS, decision_log=None)
    refused = plain_guard(ok)(te.function_url("DELETE", "/orders/7", token=token()), None)
    assert refused["statusCode"] == 403
    assert www(refused) == 'Bearer error="insufficient_scope", error_description="forbidden"'


# == docs/errors.md ===============================================================================


def test_unsupported_scheme_is_a_malformed_token_without_a_challenge_code() -> None:
    """docs/errors.md:83: ``UnsupportedScheme`` | ``malformed_token`` | "a ``MalformedToken``,
    challenged with a bare ``Bearer``" | 401 ``malformed token``."""
    assert issubclass(UnsupportedScheme, MalformedToken)
    error = UnsupportedScheme()
    assert (error.reason, error.status, error.challenge_error) == (
        Reason.MALFORMED_TOKEN,
        401,
        None,
    )
    assert UnsupportedScheme.default_message == "malformed token"
    assert AmbiguousCredentials.challenge_error == "invalid_request"
    assert AmbiguousCredentials().status == 401


def _bare_classes_documented() -> set[str]:
    """The ``TokenError`` classes docs/errors.md says get a bare ``Bearer`` challenge: those the
    401 section's introduction names so, and the rows that say "bare"."""
    text = (DOCS / "errors.md").read_text()
    section = text.split("## 401 Unauthorized", 1)[1].split("\n## ", 1)[0]
    intro, _, table = section.partition("| class |")
    named = set(re.findall(r"`(\w+)` carries a bare `Bearer`", intro))
    for row in table.splitlines():
        cells = row.split("|")
        if len(cells) > 2 and "bare" in row:
            named.add(cells[1].strip().strip("`"))
    return named


# fmt: off
def test_errors_md_names_every_error_challenged_with_a_bare_bearer() -> None:
    """docs/errors.md:76-78 ("In a ``Guard``, each carries ``WWW-Authenticate: Bearer
    error="invalid_token"``...; ``MissingToken`` carries a bare ``Bearer``") and the
    ``MissingAuthorizerContext`` row (line 85), against what the Guard answers (guard.md:341)."""
    response, _ = recorded({}, te.http_proxy("GET", "/orders"))
    assert www(response) == "Bearer"  # what the Guard answers
    actual = {klass.__name__ for klass in (MissingAuthorizerContext, UnsupportedScheme)
              if klass.challenge_error is None and issubclass(klass, TokenError)}
    assert actual <= _bare_classes_documented()
# fmt: on


# == docs/authorizer.md ===========================================================================


DEVICE_KEYS = {"sensor-7": hashlib.sha256(b"k7-2f9c1e8a5b3d4f60").hexdigest()}


class DeviceAuthorizer(Authorizer):
    """docs/browser-clients.md:310-318, as written."""

    def credentials(self, request: Request) -> Credentials:
        device = request.headers.get("x-device-id")
        if device is None:
            return super().credentials(request)
        presented = hashlib.sha256(request.headers.get("x-device-key", "").encode()).hexdigest()
        if not hmac.compare_digest(presented, DEVICE_KEYS.get(device, "")):
            raise InvalidClaims(detail={"problem": "unknown device or wrong key"})  # 401
        return Credentials(Principal(device, kind="api_key"))


def test_an_overridden_credentials_needs_a_covered_cache_key() -> None:
    """docs/authorizer.md:426-427 and docs/browser-clients.md:296-297: "an overridden
    ``credentials()`` needs what it reads in the identity sources
    (``cache_key_covers_request=True``), else the ``Authorizer`` refuses it"."""
    with pytest.raises(ConfigurationError):
        DeviceAuthorizer(plain(), routes=ORDERS, cache_ttl=300, decision_log=None)
    covered = DeviceAuthorizer(plain(), routes=ORDERS, cache_ttl=300, cache_key_covers_request=True,
                               decision_log=None)  # fmt: skip
    assert covered.cache_ttl == 300


class OrdersAuthorizer(Authorizer):
    """docs/authorizer.md:671-680, as written."""

    def map_claims(self, claims: Mapping[str, Any]) -> Principal:
        principal = super().map_claims(claims)
        plan_roles = {"gold": ("reader",)}.get(claims.get("plan"), ())
        return principal.replace(roles=principal.roles | set(plan_roles))

    def extra_context(self, principal: Principal, request: Request) -> Mapping[str, object]:
        return {"plan": principal.claims.get("plan", "free")}


class NoDeletesOnFriday(PolicyBuilder):
    """docs/authorizer.md:683-687, as written."""

    def extra_statements(self, principal: Any, request: Request) -> Iterator[Statement]:
        if request.headers.get("x-day") == "friday":
            arn = MethodArn.parse(request.method_arn)
            yield Statement("Deny", arn.with_route("DELETE", "/{proxy+}"))


def test_the_orders_authorizer_sample_keeps_every_field() -> None:
    """docs/authorizer.md:676-695: ``replace()`` "keeps the rest: the issuer, tenant, scopes,
    groups and claims"; the sample's asserts (Allow, plan, ``secauth_issuer``) hold."""
    verifier = plain()
    routes = Routes({"GET /orders": roles("reader")})
    custom = OrdersAuthorizer(verifier, routes=routes, decision_log=None,
                              claims=ClaimMapper(tenant_claim="tenant"),
                              policy_builder=NoDeletesOnFriday(routes=routes.route_keys()))  # fmt: skip
    tok = token(plan="gold", tenant="acme", groups=["ops"], scope="orders.read")
    gold = custom.handler(te.token_authorizer("GET", "/orders", token=tok), None)
    assert gold["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    context = gold["context"]
    assert context["plan"] == "gold"
    assert context["secauth_issuer"] == verifier.issuer == ISS
    assert json.loads(context["secauth_groups"]) == ["ops"]
    assert json.loads(context["secauth_scopes"]) == ["orders.read"]
    assert json.loads(context["secauth_roles"]) == ["reader"]
    assert context["secauth_tenant"] == "acme"
    free = custom.handler(te.token_authorizer("GET", "/orders", token=token(tenant="acme")), None)
    assert not te.iam_allows(free, te.method_arn("GET", "/orders"))


def test_an_extra_context_override_is_accepted_under_a_cache() -> None:
    """docs/authorizer.md:660: ``extra_context`` "with ``cache_ttl > 0``, from the principal only"
    (a rule, not a refusal: the sample's override is accepted, its value reused)."""
    cached = OrdersAuthorizer(plain(), routes=ORDERS, cache_ttl=300, decision_log=None)
    answer = cached.handler(te.token_authorizer("GET", "/orders", token=token(plan="gold")), None)
    assert answer["context"]["plan"] == "gold"


def counted(calls: list[str], kind: str) -> Any:
    def hook(self: Any, *args: Any) -> Any:
        calls.append(kind)
        return getattr(type(self).__mro__[1], kind)(self, *args)

    return hook


def memo_calls(authorizer: Authorizer, tok: str | None = None) -> list[str]:
    event = te.token_authorizer("GET", "/orders", token=tok or token())
    return [outcome(authorizer, event) for _ in range(4)]


def test_a_hook_set_on_the_instance_before_construction_turns_the_memo_off() -> None:
    """docs/authorizer.md:760-761: "an overridden hook (..., in a subclass or set on the instance
    before construction)"."""
    calls: list[str] = []

    class Early(Authorizer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.map_claims = lambda claims: (
                calls.append("map"),
                Authorizer.map_claims(self, claims),
            )[1]  # type: ignore[method-assign]
            super().__init__(*args, **kwargs)

    assert memo_calls(Early(plain(), routes=ORDERS, decision_log=None)) == ["allow"] * 4
    assert calls == ["map"] * 4


def test_a_method_set_on_the_builder_turns_the_memo_off() -> None:
    """docs/authorizer.md:762: "a ``PolicyBuilder`` subclass (or a method set on the builder)"."""
    calls: list[str] = []
    builder = PolicyBuilder()
    extra = lambda principal, request: calls.append("x") or ()  # noqa: E731
    builder.extra_statements = extra  # type: ignore[method-assign]
    authorizer = Authorizer(plain(), routes=ORDERS, policy_builder=builder, decision_log=None)
    assert memo_calls(authorizer) == ["allow"] * 4
    assert calls == ["x"] * 4


@pytest.mark.parametrize("how", ["subclass", "instance"])
def test_a_claim_mapper_that_redefines_a_method_turns_the_memo_off(how: str) -> None:
    """docs/authorizer.md:763: "a ``ClaimMapper`` that redefines a method"."""
    revoked: set[str] = set()
    if how == "subclass":
        mapper: ClaimMapper = StoreRoles(revoked)
    else:
        mapper = ClaimMapper()
        base = ClaimMapper()
        mapper.map = lambda claims: base.map(claims).replace(  # type: ignore[method-assign]
            roles=() if claims["sub"] in revoked else ("admin",)
        )
    authorizer = Authorizer(plain(), routes=ORDERS, claims=mapper, decision_log=None)
    event = te.token_authorizer("DELETE", "/orders/7", token=token())
    assert [outcome(authorizer, event) for _ in range(3)] == ["allow"] * 3
    revoked.add("ann")
    assert outcome(authorizer, event) == "deny"


class Banning(JwtVerifier):
    """A check added in ``verify``; ``revalidate`` inherited (docs/authorizer.md:764-766)."""

    def __init__(self, banned: set[str], **options: Any) -> None:
        super().__init__(**options)
        self.banned = banned
        self.verified = 0

    def verify(self, token: str) -> dict[str, Any]:
        self.verified += 1
        claims = super().verify(token)
        if claims.get("sub") in self.banned:
            raise InvalidClaims(detail={"problem": "banned"})
        return claims


class Vouching(Banning):
    """docs/authorizer.md:765-766's advice: "define ``revalidate`` beside it when it still
    vouches" (a check that cannot change for a token, say)."""

    def revalidate(self, token: str) -> bool:
        return super().revalidate(token)


def test_a_verify_check_with_an_inherited_revalidate_turns_the_memo_off() -> None:
    """docs/authorizer.md:764-765: "a verifier whose ``revalidate`` cannot vouch for its
    ``verify``" turns the memo off: a ban applies on the next call."""
    banned: set[str] = set()
    verifier = Banning(banned, issuer=ISS, audience="api", jwks=JWKS)
    authorizer = Authorizer(verifier, routes=ORDERS, decision_log=None)
    assert memo_calls(authorizer) == ["allow"] * 4
    assert verifier.verified == 4
    banned.add("ann")
    assert outcome(authorizer, te.token_authorizer("GET", "/orders", token=token())) == "401"


def test_a_revalidate_beside_verify_keeps_the_memo_on() -> None:
    """docs/authorizer.md:765-766: with ``revalidate`` defined beside ``verify`` the memo
    answers (fewer ``verify`` calls than requests); an expired token is still refused."""
    verifier = Vouching(set(), issuer=ISS, audience="api", jwks=JWKS)
    authorizer = Authorizer(verifier, routes=ORDERS, decision_log=None)
    assert memo_calls(authorizer) == ["allow"] * 4
    assert verifier.verified < 4
    expired = te.token_authorizer("GET", "/orders", token=token(exp=1_000_000))
    assert outcome(authorizer, expired) == "401"


@pytest.mark.parametrize("wrapper", ["multi_issuer", "combined"])
def test_library_wrappers_never_vouch_for_a_member_verify_override(wrapper: str) -> None:
    """CHANGELOG review 140 (medium, fixed): ``MultiIssuerVerifier`` and ``CombinedVerifier``
    "now never vouch for such a member"."""
    banned: set[str] = set()
    member = Banning(banned, issuer=ISS, audience="api", jwks=JWKS)
    if wrapper == "multi_issuer":
        verifier: Any = MultiIssuerVerifier([member])
    else:
        introspection = IntrospectionVerifier(
            issuer=ISS, audience="api", client=ClientAuth.basic("api", "s3cret-value"),
            endpoint="http://127.0.0.1:9/introspect", allow_http=True,
        )  # fmt: skip
        verifier = CombinedVerifier(jwt=member, introspection=introspection)
    authorizer = Authorizer(verifier, routes=ORDERS, decision_log=None)
    assert memo_calls(authorizer) == ["allow"] * 4
    banned.add("ann")
    assert outcome(authorizer, te.token_authorizer("GET", "/orders", token=token())) == "401"


def test_the_memo_serves_a_plain_authorizer() -> None:
    """docs/authorizer.md:776-778 (the memo sample): equal answers, each caller its own copy."""
    memo = Authorizer(plain(), routes=ORDERS, decision_log=None)
    event = te.token_authorizer("GET", "/orders", token=token())
    first, second, third = (memo.handler(event, None) for _ in range(3))
    assert first == second == third
    assert first is not third


def test_hydrate_is_true_for_a_verifier_without_one() -> None:
    """CHANGELOG review 136: a verify-only verifier "broke ``Authorizer.hydrate()``"; the
    docstring: True when there is nothing to fetch."""
    assert Authorizer(OnlyVerify(), routes=ORDERS, decision_log=None).hydrate() is True


class StoreRolesAsync(JwtVerifier):
    """Current roles added in ``verify_async`` (CHANGELOG review 140: "``revalidator``
    ignored an overridden ``verify_async``")."""

    def __init__(self, revoked: set[str], **options: Any) -> None:
        super().__init__(**options)
        self.revoked = revoked

    async def verify_async(self, token: str) -> dict[str, Any]:
        claims = await super().verify_async(token)
        claims["roles"] = [] if claims.get("sub") in self.revoked else ["admin"]
        return claims


def test_a_verify_async_override_maps_every_async_guard_call() -> None:
    """CHANGELOG review 140 (low, fixed): the revalidator reads ``verify_async``."""
    revoked: set[str] = set()
    verifier = StoreRolesAsync(revoked, issuer=ISS, audience="api", jwks=JWKS)
    guard = Guard(verifier, routes=ORDERS, decision_log=None)

    async def handler(event: Event, context: Any) -> dict[str, Any]:
        return {"statusCode": 200}

    wrapped = guard(handler)
    event = te.function_url("DELETE", "/orders/7", token=token())
    assert [asyncio.run(wrapped(event, None))["statusCode"] for _ in range(3)] == [200] * 3
    revoked.add("ann")
    assert asyncio.run(wrapped(event, None))["statusCode"] == 403


# == docs/browser-clients.md ======================================================================


def device_event(headers: dict[str, str]) -> Event:
    return {**te.websocket_connect(), "multiValueHeaders": {}, "headers": headers}


def test_the_device_authorizer_sample_admits_only_the_right_key() -> None:
    """docs/browser-clients.md:292-328: the right key is admitted; no key, a guessed key, an
    unknown device and another device's key are refused (401); without ``X-Device-Id`` the
    usual credentials apply."""
    device = DeviceAuthorizer(
        plain(), routes=Routes({"$connect": authenticated()}), decision_log=None
    )
    right = {"X-Device-Id": "sensor-7", "X-Device-Key": "k7-2f9c1e8a5b3d4f60"}
    assert device.handler(device_event(right), None)["principalId"] == "sensor-7"
    for headers in ({"X-Device-Id": "sensor-7"}, {"X-Device-Id": "sensor-7", "X-Device-Key": "guess"},
                    {"X-Device-Id": "sensor-8", "X-Device-Key": "k7-2f9c1e8a5b3d4f60"},
                    {"X-Device-Id": "", "X-Device-Key": ""}):  # fmt: skip
        with pytest.raises(Unauthorized):
            device.handler(device_event(headers), None)
    with pytest.raises(Unauthorized):
        device.handler(device_event({}), None)  # no device, no token: missing_token
    bearer = device.handler(device_event({"Authorization": f"Bearer {token()}"}), None)
    assert bearer["principalId"] == "ann"


def trusted(context_kind: str) -> int:
    """The status a trust-mode Guard answers for the context an Authorizer built for a
    principal of ``context_kind`` (credentials() overridden)."""

    class KindAuthorizer(Authorizer):
        def credentials(self, request: Request) -> Credentials:
            return Credentials(Principal("sensor-7", kind=context_kind))

    authorizer = KindAuthorizer(plain(), routes=ORDERS, decision_log=None)
    answer = authorizer.handler(te.request_authorizer("GET", "/orders"), None)
    event = te.rest_proxy("GET", "/orders", resource="/orders", authorizer_response=answer)
    return status(Guard(routes=ORDERS, decision_log=None), event)


@pytest.mark.parametrize("kind", ["user", "api_key", "client_cert"])
def test_a_trust_mode_guard_takes_the_documented_kinds(kind: str) -> None:
    """docs/browser-clients.md:294-295: the kinds a trust-mode ``Guard`` takes from the context
    (``"user"``, ``"api_key"`` or ``"client_cert"``), the sample's ``api_key`` among them."""
    assert trusted(kind) == 200


@pytest.mark.parametrize("kind", ["device", "service"])
def test_a_trust_mode_guard_refuses_another_kind(kind: str) -> None:
    """docs/browser-clients.md:295: "any other is refused there (401)"."""
    try:
        answer = trusted(kind)
    except (ConfigurationError, ValueError):
        return  # refused earlier (the Principal or the Authorizer): as good
    assert answer == 401


# == docs/mcp.md ==================================================================================


RESOURCE = "https://mcp.example.com/mcp"


def test_a_403_scope_adds_the_rules_scopes_after_required_scopes() -> None:
    """docs/mcp.md:154-157: the ``scope`` of a challenge is ``required_scopes``; "A 403
    ``insufficient_scope`` from a route's ``scopes(...)`` rule adds the scopes that rule asks
    for"; the 401 keeps ``required_scopes`` alone."""
    resource = ProtectedResource(resource=RESOURCE, authorization_servers=[ISS],
                                 scopes_supported=["mcp.tools", "mcp.admin"],
                                 required_scopes=["mcp.tools"])  # fmt: skip
    verifier = JwtVerifier(issuer=ISS, audience=RESOURCE, jwks=JWKS)
    guard = Guard(verifier, protected_resource=resource, decision_log=None,
                  routes=Routes({"POST /mcp": scopes("mcp.tools"),
                                 "POST /admin": scopes("mcp.admin")}))  # fmt: skip
    metadata = (
        'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"'
    )
    anonymous = guard(ok)(te.function_url("POST", "/admin", body="{}"), None)
    assert www(anonymous) == f'Bearer {metadata}, scope="mcp.tools"'
    holder = PAIR.sign({"iss": ISS, "aud": RESOURCE, "sub": "agent", "exp": 4_000_000_000,
                        "scope": "mcp.tools"})  # fmt: skip
    refused = guard(ok)(te.function_url("POST", "/admin", token=holder, body="{}"), None)
    assert refused["statusCode"] == 403
    assert www(refused) == ('Bearer error="insufficient_scope", error_description="insufficient scope", '
                            f'{metadata}, scope="mcp.tools mcp.admin"')  # fmt: skip


# == docs/opaque-tokens.md ========================================================================


class Failing:
    """An HTTP server on 127.0.0.1 answering every GET and POST with ``status``; counts them."""

    def __init__(self, status: int = 500) -> None:
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                owner.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()  # fmt: skip
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def failing() -> Iterator[Failing]:
    server = Failing()
    yield server
    server.stop()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_failed_discovery_document_rests_retry_after_then_is_retried(
    failing: Failing, mode: str
) -> None:
    """docs/opaque-tokens.md:69-75: a failure that fails every call, "a failed discovery
    document" included: "new tokens get the 503 at once for ``retry_after`` seconds"; a
    503 ``keys_unavailable`` with ``detail["source"] == "introspection"``."""
    clock = Clock(time.time())
    verifier = IntrospectionVerifier(
        issuer=failing.base, audience="api", client=ClientAuth.basic("api", "s3cret-value"),
        allow_http=True, timeout=1.0, retry_after=5.0, clock=clock,
    )  # fmt: skip

    def refuse(n: int) -> KeysUnavailable:
        def call() -> Any:
            if mode == "sync":
                return verifier.verify(f"opaque-token-{n}")
            return asyncio.run(verifier.verify_async(f"opaque-token-{n}"))

        with pytest.raises(KeysUnavailable) as info:
            call()
        return info.value

    errors = [refuse(n) for n in range(5)]
    assert failing.requests == 1
    assert all(e.status == 503 and e.retryable for e in errors)
    assert all(e.detail["source"] == "introspection" for e in errors)
    clock.now += 6
    refuse(99)
    assert failing.requests == 2  # rested, then tried again


# == docs/jwks.md =================================================================================


CLOSING = {
    "connection_close": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5000\r\n"
    b"Content-Type: application/json\r\n\r\n{",
    "http_1_0_no_length": b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{",
}


@pytest.mark.parametrize("answer", sorted(CLOSING))
def test_a_trickled_answer_that_closes_is_cut_at_the_deadline(answer: str) -> None:
    """docs/jwks.md:52-55: "A total deadline ... however slowly a server sends it, an answer that
    closes its connection included (the socket is shut when it passes)"; CHANGELOG review 142
    (medium, fixed). A 0.5 s timeout; bounded loosely at 5 s (no timing assertion beyond that)."""
    with hostile_servers() as serve:
        server = serve(trickling(CLOSING[answer]))
        cache = JwksCache(server.base + "/jwks.json", allow_http=True, timeout=0.5)
        done, ready = bounded(cache.hydrate, 5.0)
        assert done, "the sync fetch outlived its deadline"
        assert ready is False
        assert cache.last_failure is not None
        assert cache.last_failure.kind == "timeout"


SECRET_QUERY = "code=QS-SECRET-144"


def test_async_fetches_log_nothing_on_the_httpx_logger(caplog: pytest.LogCaptureFixture) -> None:
    """docs/jwks.md:60-63: "Async fetches go through httpx's transport, not its client: nothing is
    logged on httpx's ``httpx`` logger"; secauth's own lines hold no URL query."""
    with LocalIssuer(algs=("ES256",)) as idp, caplog.at_level(logging.DEBUG):
        cache = JwksCache(f"{idp.jwks_uri}?{SECRET_QUERY}", allow_http=True, timeout=2.0)
        verifier = JwtVerifier(issuer=idp.issuer, audience="api", jwks=cache)
        claims = asyncio.run(verifier.verify_async(idp.token(sub="bob", aud="api")))
        assert claims["sub"] == "bob"
        idp.mode = "error"
        broken = JwksCache(f"{idp.jwks_uri}?{SECRET_QUERY}", allow_http=True, timeout=2.0)
        with pytest.raises(KeysUnavailable):
            asyncio.run(broken.keys_for_async("key-1"))
    assert not [r for r in caplog.records if r.name == "httpx" or r.name.startswith("httpx.")]
    own = [r for r in caplog.records if r.name.startswith("secauth")]
    assert own, "secauth logs its own lines (the failed fetch)"
    assert SECRET_QUERY not in caplog.text
    assert SECRET_QUERY not in repr([r.__dict__ for r in caplog.records])


class Serving:
    """An HTTP server on 127.0.0.1: ``answer(server)`` gives (status, reason, body) to each GET."""

    def __init__(self, answer: Callable[[Serving], tuple[int, str, bytes]]) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code, reason, body = answer(owner)
                self.send_response(code, reason)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()  # fmt: skip
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


MARK = "REASON-MARK-144"


# fmt: off
def test_no_library_under_secauth_logs_the_servers_reason_phrase_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """docs/jwks.md:60-63: "nothing is logged on httpx's ``httpx`` logger (URLs with their query, the
    server's reason phrase); secauth logs its own lines". At DEBUG (Lambda's ``AWS_LAMBDA_LOG_LEVEL``
    for troubleshooting), ``httpcore.http11`` logs ``receive_response_headers.complete
    return_value=(b'HTTP/1.0', 200, b'<reason>', [<every header>])``: the hostile text review 142
    kept out of logs, through the transport secauth now calls."""
    pair = KeyPair.generate("ES256", kid="k1")
    server = Serving(lambda s: (200, MARK, json.dumps({"keys": [pair.public_jwk]}).encode()))
    try:
        cache = JwksCache(server.base + "/jwks.json", allow_http=True, timeout=2.0)
        verifier = JwtVerifier(issuer=ISS, audience="api", jwks=cache)
        with caplog.at_level(logging.INFO):
            claims = asyncio.run(verifier.verify_async(pair.sign({"iss": ISS, "aud": "api", "sub": "b",
                                                                  "exp": 4_000_000_000})))
        assert claims["sub"] == "b"
    finally:
        server.stop()
    assert MARK not in caplog.text
    # Fixed in the docs: at DEBUG httpcore traces connections itself, and the page says so.
    page = (Path(__file__).parent.parent / "docs" / "jwks.md").read_text()
    assert "keep `httpcore` at INFO or above" in page
# fmt: on


def test_a_refused_discovery_jwks_uri_is_not_quoted_in_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """CHANGELOG review 142 (info, fixed): "a refused discovery ``jwks_uri`` was quoted in a log
    extra"."""

    def document(server: Serving) -> tuple[int, str, bytes]:
        doc = {"issuer": server.base, "jwks_uri": f"ftp://idp.example.com/{MARK}/keys"}
        return 200, "OK", json.dumps(doc).encode()

    server = Serving(document)
    try:
        cache = JwksCache.from_discovery(server.base, allow_http=True, timeout=1.0)
        with caplog.at_level(logging.DEBUG):
            assert cache.hydrate() is False
    finally:
        server.stop()
    assert cache.last_failure is not None
    assert cache.last_failure.kind == "refused_url"
    assert MARK not in caplog.text
    assert MARK not in repr([record.__dict__ for record in caplog.records])


# == docs/ratelimit.md ============================================================================


def ev(ip: str = "203.0.113.10") -> Event:
    return te.http_proxy("GET", "/orders", source_ip=ip)


def one_key(redis_client: Any) -> bytes:
    (key,) = redis_client.keys("secauth:rl:*")
    return bytes(key)


# fmt: off
@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window"])
@pytest.mark.parametrize("value", ["-100", "-inf", "inf", "nan", "abc"])
def test_a_redis_count_that_is_no_count_reads_as_a_full_window(
    redis_url: str, redis_client: Any, algorithm: str, value: str
) -> None:
    """docs/ratelimit.md:244-247: "a count that is negative, not finite or not a number ... reads
    as a full window"; CHANGELOG review 137: "replies are clamped (no negative retry, no remainder
    above the quota)"."""
    limiter = RateLimiter.per_ip("5/day", store=RedisStore(url=redis_url), algorithm=algorithm,
                                 deny_cache=False, on_store_error="closed")
    assert limiter.hit(ev()).allowed
    redis_client.hset(one_key(redis_client), "c", value)
    results = [limiter.hit(ev()) for _ in range(6)]
    assert not any(r.allowed for r in results)
    assert all(r.remaining == 0 and r.retry_after > 0 for r in results)
# fmt: on


def test_a_negative_previous_window_on_redis_is_no_credit(
    redis_url: str, redis_client: Any
) -> None:
    """docs/ratelimit.md:244-247 (the sliding window's previous count, field ``p``)."""
    limiter = RateLimiter.per_ip("5/day", store=RedisStore(url=redis_url), algorithm="sliding_window",
                                 deny_cache=False)  # fmt: skip
    assert limiter.hit(ev()).allowed
    redis_client.hset(one_key(redis_client), "p", "-1000")
    assert sum(limiter.hit(ev()).allowed for _ in range(10)) <= 4


@pytest.mark.parametrize("value", ["9000000000000000000", "inf", "nan"])
def test_a_gcra_state_beyond_a_full_burst_reads_as_a_full_burst(
    redis_url: str, redis_client: Any, value: str
) -> None:
    """docs/ratelimit.md:246: "a GCRA state beyond a full burst ahead as a full burst": denied, and
    the next one admitted after one emission interval (a day / 5), not years."""
    limiter = RateLimiter.per_ip("5/day", store=RedisStore(url=redis_url), algorithm="gcra",
                                 deny_cache=False)  # fmt: skip
    assert limiter.hit(ev()).allowed
    redis_client.set(one_key(redis_client), value)
    result = limiter.hit(ev())
    assert not result.allowed
    assert 0 < result.retry_after <= 86_400 / 5 + 1


@pytest.mark.parametrize("poison", ["list", "string"])
def test_a_redis_value_of_the_wrong_type_denies(
    redis_url: str, redis_client: Any, poison: str
) -> None:
    """docs/ratelimit.md:247: "a value of the wrong type at a key denies too" (the limiter's
    defaults otherwise: ``on_store_error`` as configured, here ``"closed"``)."""
    limiter = RateLimiter.per_ip("5/day", store=RedisStore(url=redis_url), on_store_error="closed",
                                 deny_cache=False)  # fmt: skip
    assert limiter.hit(ev()).allowed
    key = one_key(redis_client)
    redis_client.delete(key)
    if poison == "list":
        redis_client.lpush(key, "x")
    else:
        redis_client.set(key, "0")
    assert not any(limiter.hit(ev()).allowed for _ in range(3))


# fmt: off
def test_a_redis_value_of_the_wrong_type_denies_under_the_defaults(
    redis_url: str, redis_client: Any
) -> None:
    """docs/ratelimit.md:247 ("a value of the wrong type at a key denies too"), with the limiter's
    defaults (``on_store_error="memory"``): the ``WRONGTYPE`` reply is taken as a store failure, so
    the poisoned key is admitted by the per-container fallback and the breaker sends every other
    key there too (the fleet admits N times its limit), where DynamoDB's odd item (review 140)
    now denies that key alone."""
    limiter = RateLimiter.per_ip("5/day", store=RedisStore(url=redis_url), deny_cache=False)
    assert limiter.hit(ev()).allowed
    key = one_key(redis_client)
    redis_client.delete(key)
    redis_client.lpush(key, "x")
    assert not any(limiter.hit(ev()).allowed for _ in range(3))
    assert not limiter.hit(ev("203.0.113.99")).degraded  # one key never takes the store down
# fmt: on


def test_an_async_redis_store_reads_a_negative_count_as_a_full_window(
    redis_url: str, redis_client: Any
) -> None:
    """docs/ratelimit.md:244-247 and 269 (``AsyncRedisStore`` "is the same")."""

    async def run() -> list[bool]:
        store = AsyncRedisStore(url=redis_url)
        limit = Limit.parse("5/day")
        assert (await store.hit_async("k", limit, "fixed_window")).allowed
        redis_client.hset(one_key(redis_client), "c", "-50")
        answers = [(await store.hit_async("k", limit, "fixed_window")).allowed for _ in range(6)]
        await store.aclose() if hasattr(store, "aclose") else None
        return answers

    assert not any(asyncio.run(run()))


def ddb_store(ddb_client: Any) -> DynamoDBStore:
    store = DynamoDBStore(f"review144-{next(_names)}-{time.monotonic_ns()}", client=ddb_client)
    store.create_table()
    return store


@pytest.mark.parametrize("value", [{"N": "-100"}, {"N": "0.5"}, {"S": "1"}])
def test_a_dynamodb_count_that_is_no_count_denies_that_key_only(
    ddb_client: Any, value: Any
) -> None:
    """docs/ratelimit.md:244-247 (negative, not a whole number, the wrong type) and CHANGELOG
    review 140: "a DynamoDB count of 0.5 ... now that key is denied" (not the store down)."""
    store = ddb_store(ddb_client)
    limiter = RateLimiter.per_ip("5/day", store=store, deny_cache=False)
    assert limiter.hit(ev()).allowed
    (item,) = ddb_client.scan(TableName=store.table)["Items"]
    item["n"] = value
    ddb_client.put_item(TableName=store.table, Item=item)
    results = [limiter.hit(ev()) for _ in range(6)]
    assert not any(r.allowed for r in results)
    assert all(0 <= r.remaining <= 5 for r in results)
    other = limiter.hit(ev("203.0.113.99"))
    assert other.allowed
    assert not other.degraded


def penalty_subject_events(n: int) -> list[Event]:
    return [te.http_proxy("POST", "/login", source_ip="198.51.100.66") for _ in range(n)]


# fmt: off
def test_a_negative_penalty_count_on_redis_is_no_credit(redis_url: str, redis_client: Any) -> None:
    """docs/ratelimit.md:244-247 ("A shared store's state is read as untrusted: a count that is
    negative ... so such a key denies rather than credits"), for the penalty counters kept on the
    same store (``AbusePenalty``, docs/ratelimit.md "Abuse penalties")."""
    penalty = AbusePenalty(store=RedisStore(url=redis_url), auth_failures="3/hour", cooldown=60,
                           on_store_error="closed")
    event = penalty_subject_events(1)[0]
    assert penalty.record_auth_failure(event) == 0.0
    (key,) = [k for k in redis_client.keys("{secauth:pen:*") if redis_client.type(k) == b"string"]
    redis_client.set(key, "-1000000")
    blocked = [penalty.record_auth_failure(e) for e in penalty_subject_events(10)]
    assert any(b > 0 for b in blocked), "ten more failures past a limit of 3 never blocked"
# fmt: on


# fmt: off
def test_a_negative_penalty_count_on_dynamodb_is_no_credit(ddb_client: Any) -> None:
    """docs/ratelimit.md:244-247, for ``AbusePenalty`` on ``DynamoDBStore``."""
    store = ddb_store(ddb_client)
    penalty = AbusePenalty(store=store, auth_failures="3/hour", cooldown=60, on_store_error="closed")
    event = penalty_subject_events(1)[0]
    assert penalty.record_auth_failure(event) == 0.0
    (item,) = ddb_client.scan(TableName=store.table)["Items"]
    item["n"] = {"N": "-1000000"}
    ddb_client.put_item(TableName=store.table, Item=item)
    blocked = [penalty.record_auth_failure(e) for e in penalty_subject_events(10)]
    assert any(b > 0 for b in blocked), "ten more failures past a limit of 3 never blocked"
# fmt: on


def test_a_penalty_count_at_the_threshold_blocks_on_redis(redis_url: str) -> None:
    """The counterpart of the two findings: the penalty blocks after its threshold (4th failure)."""
    penalty = AbusePenalty(store=RedisStore(url=redis_url), auth_failures="3/hour", cooldown=60)
    blocked = [penalty.record_auth_failure(e) for e in penalty_subject_events(4)]
    assert blocked[:3] == [0.0, 0.0, 0.0]
    assert blocked[3] > 0


# == CHANGELOG: Added, and docs/reference/*.md ====================================================


def test_replace_keeps_the_rest_and_copies_nested_claims() -> None:
    """CHANGELOG "Added": "``Principal.replace(**changes)``: a copy with some fields changed and the
    rest (issuer, groups, claims) kept"; review 140: "now a deep copy"."""
    ann = Principal("ann", tenant="acme", roles={"member"}, scopes={"r"}, groups={"g"}, issuer=ISS,
                    claims={"sub": "ann", "permissions": ["read"]})  # fmt: skip
    gold = ann.replace(roles=ann.roles | {"reader"})
    assert (gold.id, gold.tenant, gold.issuer, gold.kind) == ("ann", "acme", ISS, "user")
    assert (gold.groups, gold.scopes, gold.roles) == ({"g"}, {"r"}, {"member", "reader"})
    assert gold.claims["sub"] == "ann"
    with contextlib.suppress(AttributeError, TypeError):  # read-only all the way down: fine too
        gold.claims["permissions"].append("admin")
    assert list(ann.claims["permissions"]) == ["read"]
    with pytest.raises((ConfigurationError, TypeError)):
        ann.replace(nonsense=1)


def test_the_overrides_module_answers_as_documented() -> None:
    """CHANGELOG "Added": "``secauth.overrides`` (``redefined``, ``defining_class``): whether an
    object answers with code of its own where secauth's class would"; docs/reference/memo.md."""
    from secauth.overrides import defining_class, redefined

    assert redefined(ClaimMapper(), ClaimMapper) == []
    assert redefined(StoreRoles(set()), ClaimMapper) == ["map"]
    builder = PolicyBuilder()
    builder.extra_statements = lambda principal, request: ()  # type: ignore[method-assign]
    assert "extra_statements" in redefined(builder, PolicyBuilder)
    assert defining_class(Vouching, "verify") is Banning
    assert defining_class(Vouching, "revalidate") is Vouching


@pytest.mark.parametrize(
    ("module", "name", "home"),
    [
        ("secauth.principal", "ClaimMapper", "secauth.claim_mapping"),
        ("secauth.principal", "ClaimPath", "secauth.claim_mapping"),
        ("secauth.events", "EventKind", "secauth.event_kinds"),
        ("secauth.events", "detect_kind", "secauth.event_kinds"),
    ],
)
def test_moved_names_are_where_the_reference_says(module: str, name: str, home: str) -> None:
    """docs/reference/index.md:34,58 (``secauth.claim_mapping.ClaimMapper``,
    ``secauth.event_kinds.EventKind``), reference/principal.md and events.md (``:::`` of the new
    modules), and the CHANGELOG's refactors: the old module still exports the same object."""
    moved = getattr(importlib.import_module(home), name)
    assert getattr(importlib.import_module(module), name) is moved
    if isinstance(moved, type) or (callable(moved) and hasattr(moved, "__code__")):
        assert moved.__module__ == home
    for page in ("principal.md", "events.md", "memo.md"):
        for target in re.findall(r"^::: ([\w.]+)$", (DOCS / "reference" / page).read_text(), re.M):
            importlib.import_module(target)
