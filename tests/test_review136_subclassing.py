"""Review 136: what must hold whatever a user's subclass or hook does.

Attacked, through the public entry points (``Authorizer(...).handler``, ``Guard``, ``Routes``,
``PolicyBuilder``) with real keys and real tokens: ``Routes`` subclasses that override ``decide``
(alone, or with ``grants``), ``PolicyBuilder`` subclasses and instances whose ``extra_statements``
reads the request, ``ClaimMapper`` subclasses, ``Authorizer`` hooks (``credentials``,
``map_claims``, ``extra_context``) overridden in a subclass or set on the instance, hooks that raise
or return the wrong type (None, a dict, a bare ``Principal`` instead of ``Credentials``, a list,
non-JSON or huge context values, an empty principal id), ``JwtVerifier`` subclasses that add a
check in ``verify``, verifiers that implement ``verify`` alone, a custom ``ApiKeyStore``, the
docs' hook examples copied as written (``OrdersAuthorizer``, ``NoDeletesOnFriday``,
``NoDeletesForAuditors``, ``DeviceAuthorizer``), and ``Guard.require`` derived guards.

Resolved (all but one): the Guard decides every path with ``Routes.decide`` (an override is
obeyed; a route's absence is read from ``resolve``: 404/405); ``token_verifier.revalidator``
vouches only with a ``revalidate`` defined at or below the class defining ``verify`` (none set on
the instance); both memos stay off for a ``ClaimMapper`` that redefines a method, and the
Authorizer's for a builder or Authorizer hook set on the instance (``secauth.overrides``);
wrapping a handler refuses a verifier without ``verify_async`` (async) or ``verify`` (sync);
``Authorizer.hydrate`` answers True for a verifier without ``hydrate``; an overridden
``credentials`` with ``cache_ttl > 0`` needs ``cache_key_covers_request=True``; the docs'
``DeviceAuthorizer`` checks a device key and the ``OrdersAuthorizer`` keeps every field with the
new ``Principal.replace``. Left open, as review 112's: a custom store's expired entry (the
``ApiKeyStore`` contract gives expiry to the store, by its own clock).

Findings:

* medium: a ``Guard`` never calls ``Routes.decide``: it decides with ``resolve`` + ``judge``
  (``guard_routes._judged``), so a ``Routes`` subclass that overrides ``decide`` (a suspended
  user, say; the docs name "a subclass overriding ``decide`` alone") is obeyed by the
  ``Authorizer`` and silently ignored by the ``Guard``: the handler runs (200).
* medium: the ``Authorizer``'s response memo trusts ``revalidate`` inherited from ``JwtVerifier``
  while a subclass adds a check in ``verify`` (a ban list): from the third call on the memo answers
  without calling the override, so a banned caller keeps its Allow (``Authorizer._memoizable``
  checks ``isinstance(verifier, RevalidatingVerifier)`` only).
* low: a ``ClaimMapper`` subclass (``claims=``) keeps both memos on: its ``map`` is what the
  ``map_claims`` hook runs, yet only overriding the hook turns the Authorizer's memo off, and the
  Guard's ``PrincipalMemo`` maps a token once. Roles it reads elsewhere (revoked) are served stale.
* low: the memo gate ignores hooks set on an instance: a plain ``PolicyBuilder`` given
  ``extra_statements`` (the docs' ``NoDeletesOnFriday`` reading ``x-day``) keeps the memo on, and
  a Friday request is answered with Monday's policy, without the Deny. ``Routes`` gets this check
  (``decision_overrides``); the builder and the Authorizer do not.
* low: ``Guard`` accepts a verifier with ``verify`` alone, then answers 500 to every request of an
  async handler (``_identify_async`` calls ``verify_async``).
* low: ``Authorizer`` accepts a verifier with ``verify`` alone, then ``hydrate()`` (docs: call it
  at module level) raises AttributeError, failing the Lambda init.
* low: the docs' ``DeviceAuthorizer`` (browser-clients.md, "Overriding ``credentials()``")
  authenticates anyone who sends ``X-Device-Id: sensor-7``: copied, it is an unauthenticated login.
* low: the docs' ``OrdersAuthorizer.map_claims`` (authorizer.md) rebuilds the ``Principal`` by hand
  and drops ``issuer`` (and ``groups``): the answer's context loses ``secauth_issuer``, which the
  Guard reads as a legacy context that names no issuer.
* low: a custom ``ApiKeyStore`` that returns an entry past its ``expires_at`` is answered Allow:
  the Authorizer holds the expiry but leaves the check to the store (documented, and cheap to do).
* low: an overridden ``credentials`` hook is accepted with ``cache_ttl > 0`` and no
  ``cache_key_covers_request``, although its answer may depend on headers outside the identity
  sources, which is exactly why ``api_keys`` beside a verifier and ``client_certs`` are refused.

Held (pinned below): every hook that raises, or returns None, a dict, a bare Principal, an empty
id, a list or non-JSON/huge context fails closed (401, or a Deny for HTTP payload 2.0), with only
the exception's type in the record and never the token; the memo is off (each hook or method runs
on every call) for a Routes subclass, a PolicyBuilder subclass, each overridden hook, a
``context=`` callable and a verifier without ``revalidate``; ``cache_ttl > 0`` refuses a Routes
subclass overriding ``decide`` alone; the docs' ``NoDeletesForAuditors`` cached policy never allows
what the table denies; a Guard always calls ``verify`` (a ban applies at once); a ``require``
derived guard applies its rule on a memoized principal.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

import secauth.testing_events as te
from secauth import Authorizer, Guard, JwtVerifier, PolicyBuilder, Routes, authenticated, roles
from secauth.access import Decision, Denial
from secauth.api_keys import ApiKeyEntry
from secauth.authorizer import Credentials
from secauth.errors import ConfigurationError, InvalidClaims, Reason
from secauth.events import Request
from secauth.policy import MethodArn, Statement, Unauthorized
from secauth.principal import ClaimMapper, Principal
from secauth.testing import KeyPair

ISS = "https://idp.example.com/"
PAIR = KeyPair.generate("ES256", kid="k1")
SECRET_TEXT = "s3cr3t-hook-message"  # what a hook's exception says: never in a record


def verifier() -> JwtVerifier:
    """A fresh verifier (its verified-token cache is per test)."""
    return JwtVerifier(issuer=ISS, audience="api", jwks={"keys": [PAIR.public_jwk]})


def token(sub: str = "ann", **claims: Any) -> str:
    base = {"iss": ISS, "aud": "api", "sub": sub, "exp": 4_000_000_000}
    return PAIR.sign({**base, **claims})


ORDERS = Routes({"GET /orders": authenticated(), "DELETE /orders/{id}": roles("admin")})


def outcome(authorizer: Authorizer, event: dict[str, Any]) -> str:
    """``"401"``, or whether API Gateway would let the event's request through (IAM)."""
    try:
        response = authorizer.handler(event, None)
    except Unauthorized:
        return "401"
    if "isAuthorized" in response:
        return "allow" if response["isAuthorized"] is True else "deny"
    arn = event.get("methodArn") or event["routeArn"]
    return "allow" if te.iam_allows(response, arn) else "deny"


def suspended_decision() -> Decision:
    denial = Denial(Reason.FORBIDDEN, "suspended")
    return Decision(False, denial.reason, None, {}, denial)


# -- finding: the Guard ignores a Routes.decide override ------------------------------------


class SuspendingRoutes(Routes):
    """A table that also refuses suspended users: ``decide`` overridden, as the docs name it."""

    __slots__ = ()
    suspended: frozenset[str] = frozenset({"mallory"})

    def decide(
        self, principal: Principal, method: str, path: str, request: Request | None = None
    ) -> Decision:
        if principal.id in self.suspended:
            return suspended_decision()
        return super().decide(principal, method, path, request)


def test_the_authorizer_obeys_a_decide_override() -> None:
    routes = SuspendingRoutes({"GET /orders": authenticated()})
    authorizer = Authorizer(verifier(), routes=routes, decision_log=None)
    assert outcome(authorizer, te.token_authorizer("GET", "/orders", token=token("ann"))) == "allow"
    event = te.token_authorizer("GET", "/orders", token=token("mallory"))
    assert outcome(authorizer, event) == "deny"


# fmt: off
def test_the_guard_obeys_a_decide_override() -> None:
    routes = SuspendingRoutes({"GET /orders": authenticated()})
    guard = Guard(verifier(), routes=routes, decision_log=None)
    handler = guard(lambda event, context, principal: {"statusCode": 200, "body": principal.id})
    assert handler(te.function_url("GET", "/orders", token=token("ann")), None)["statusCode"] == 200
    for event in (
        te.function_url("GET", "/orders", token=token("mallory")),
        te.http_proxy("GET", "/orders", route_key="GET /orders", token=token("mallory")),
        te.rest_proxy("GET", "/orders", resource="/orders", token=token("mallory")),
    ):
        assert handler(event, None)["statusCode"] == 403
# fmt: on


def test_cached_policies_refuse_a_decide_override_without_grants() -> None:
    routes = SuspendingRoutes({"GET /orders": authenticated()})
    with pytest.raises(ConfigurationError, match="grants"):
        Authorizer(verifier(), routes=routes, cache_ttl=300, decision_log=None)


# -- finding: the response memo skips a verify override -------------------------------------


class BanningVerifier(JwtVerifier):
    """A verifier that adds a check of its own in ``verify`` (a ban list)."""

    def __init__(self, banned: set[str], **options: Any) -> None:
        super().__init__(**options)
        self.banned = banned

    def verify(self, token: str) -> dict[str, Any]:
        claims = super().verify(token)
        if claims.get("sub") in self.banned:
            raise InvalidClaims(detail={"problem": "banned"})
        return claims


def banning_verifier(banned: set[str]) -> BanningVerifier:
    return BanningVerifier(banned, issuer=ISS, audience="api", jwks={"keys": [PAIR.public_jwk]})


# fmt: off
def test_a_verify_override_runs_on_every_authorizer_call() -> None:
    banned: set[str] = set()
    authorizer = Authorizer(banning_verifier(banned), routes=ORDERS, decision_log=None)
    event = te.token_authorizer("GET", "/orders", token=token("ann"))
    assert [outcome(authorizer, event) for _ in range(3)] == ["allow"] * 3
    banned.add("ann")
    assert outcome(authorizer, event) == "401"
# fmt: on


def test_a_verify_override_runs_on_every_guard_call() -> None:
    banned: set[str] = set()
    guard = Guard(banning_verifier(banned), routes=ORDERS, decision_log=None)
    handler = guard(lambda event, context: {"statusCode": 200})
    event = te.function_url("GET", "/orders", token=token("ann"))
    assert [handler(event, None)["statusCode"] for _ in range(3)] == [200] * 3
    banned.add("ann")
    assert handler(event, None)["statusCode"] == 401


def test_a_banned_caller_is_refused_before_anything_is_memoized() -> None:
    authorizer = Authorizer(banning_verifier({"ann"}), routes=ORDERS, decision_log=None)
    event = te.token_authorizer("GET", "/orders", token=token("ann"))
    assert [outcome(authorizer, event) for _ in range(3)] == ["401"] * 3


# -- finding: a ClaimMapper subclass keeps the memos on -------------------------------------


class StoreRoles(ClaimMapper):
    """Roles from the application's own store (a revoked admin loses them at once)."""

    def __init__(self, revoked: set[str]) -> None:
        super().__init__()
        self.revoked = revoked

    def map(self, claims: Mapping[str, Any]) -> Principal:
        mapped = super().map(claims)
        held = () if mapped.id in self.revoked else ("admin",)
        return Principal(mapped.id, roles=held, issuer=mapped.issuer, claims=claims)


# fmt: off
def test_a_claim_mapper_subclass_maps_every_authorizer_call() -> None:
    revoked: set[str] = set()
    authorizer = Authorizer(verifier(), routes=ORDERS, claims=StoreRoles(revoked), decision_log=None)
    event = te.token_authorizer("DELETE", "/orders/7", token=token("ann"))
    assert [outcome(authorizer, event) for _ in range(3)] == ["allow"] * 3
    revoked.add("ann")
    assert outcome(authorizer, event) == "deny"
# fmt: on


# fmt: off
def test_a_claim_mapper_subclass_maps_every_guard_call() -> None:
    revoked: set[str] = set()
    guard = Guard(verifier(), routes=ORDERS, claims=StoreRoles(revoked), decision_log=None)
    handler = guard(lambda event, context: {"statusCode": 200})
    event = te.function_url("DELETE", "/orders/7", token=token("ann"))
    assert [handler(event, None)["statusCode"] for _ in range(3)] == [200] * 3
    revoked.add("ann")
    assert handler(event, None)["statusCode"] == 403
# fmt: on


# -- finding: hooks set on an instance keep the memo on -------------------------------------


def friday_deny(principal: Principal, request: Request) -> Iterator[Statement]:
    """The docs' ``NoDeletesOnFriday.extra_statements``, as a function."""
    if request.headers.get("x-day") == "friday":
        arn = MethodArn.parse(request.method_arn)
        yield Statement("Deny", arn.with_route("DELETE", "/{proxy+}"))


def delete_on(day: str, tok: str) -> dict[str, Any]:
    return te.request_authorizer("DELETE", "/orders/7", resource="/orders/{id}",
                                 path_params={"id": "7"}, token=tok, headers={"x-day": day})  # fmt: skip


# fmt: off
def test_a_builder_hook_set_on_the_instance_turns_the_memo_off() -> None:
    builder = PolicyBuilder()
    builder.extra_statements = friday_deny  # type: ignore[method-assign]
    authorizer = Authorizer(verifier(), routes=ORDERS, policy_builder=builder, decision_log=None)
    admin = token("ann", roles=["admin"])
    assert outcome(authorizer, delete_on("monday", admin)) == "allow"
    assert outcome(authorizer, delete_on("monday", admin)) == "allow"
    assert outcome(authorizer, delete_on("friday", admin)) == "deny"
# fmt: on


def test_a_builder_subclass_reading_the_request_is_asked_every_time() -> None:
    class NoDeletesOnFriday(PolicyBuilder):
        def extra_statements(self, principal: Any, request: Request) -> Iterator[Statement]:
            yield from friday_deny(principal, request)

    authorizer = Authorizer(verifier(), routes=ORDERS, policy_builder=NoDeletesOnFriday(),
                            decision_log=None)  # fmt: skip
    admin = token("ann", roles=["admin"])
    assert [outcome(authorizer, delete_on("monday", admin)) for _ in range(3)] == ["allow"] * 3
    assert outcome(authorizer, delete_on("friday", admin)) == "deny"


# -- findings: verifiers with verify alone --------------------------------------------------


class OnlyVerify:
    """A custom verifier that implements ``verify`` and nothing else."""

    def __init__(self) -> None:
        self.inner = verifier()
        self.calls = 0

    def verify(self, token: str) -> dict[str, Any]:
        self.calls += 1
        return self.inner.verify(token)


# fmt: off
def test_a_verify_only_verifier_serves_an_async_handler() -> None:
    async def handler(event: Any, context: Any, principal: Principal) -> dict[str, Any]:
        return {"statusCode": 200, "body": principal.id}

    try:
        wrapped = Guard(OnlyVerify(), routes=ORDERS, decision_log=None)(handler)
    except ConfigurationError:
        return  # refused where it is given: as good as served
    response = asyncio.run(wrapped(te.function_url("GET", "/orders", token=token("ann")), None))
    assert response["statusCode"] == 200
# fmt: on


# fmt: off
def test_hydrate_with_a_verify_only_verifier() -> None:
    authorizer = Authorizer(OnlyVerify(), routes=ORDERS, decision_log=None)
    assert authorizer.hydrate() in (True, False)
# fmt: on


def test_a_verify_only_verifier_is_called_on_every_authorizer_call() -> None:
    custom = OnlyVerify()
    authorizer = Authorizer(custom, routes=ORDERS, decision_log=None)
    event = te.token_authorizer("GET", "/orders", token=token("ann"))
    assert [outcome(authorizer, event) for _ in range(4)] == ["allow"] * 4
    assert custom.calls == 4


def test_a_verify_only_verifier_serves_a_sync_guard() -> None:
    custom = OnlyVerify()
    handler = Guard(custom, routes=ORDERS, decision_log=None)(
        lambda event, context, principal: {"statusCode": 200, "body": principal.id}
    )
    event = te.function_url("GET", "/orders", token=token("ann"))
    assert [handler(event, None)["body"] for _ in range(3)] == ["ann"] * 3
    assert custom.calls == 3


# -- findings: the docs' hook examples, copied ----------------------------------------------


DEVICE_KEYS = {"sensor-7": hashlib.sha256(b"k7-2f9c1e8a5b3d4f60").hexdigest()}


class DeviceAuthorizer(Authorizer):
    """docs/browser-clients.md, "Overriding credentials()", as written (since the fix: the
    device's key is checked)."""

    def credentials(self, request: Request) -> Credentials:
        device = request.headers.get("x-device-id")
        if device is None:
            return super().credentials(request)
        presented = hashlib.sha256(request.headers.get("x-device-key", "").encode()).hexdigest()
        if not hmac.compare_digest(presented, DEVICE_KEYS.get(device, "")):
            raise InvalidClaims(detail={"problem": "unknown device or wrong key"})
        return Credentials(Principal(device, kind="api_key"))


# fmt: off
def test_the_docs_device_authorizer_needs_a_secret() -> None:
    authorizer = DeviceAuthorizer(verifier(), routes=ORDERS, decision_log=None)
    forged = te.request_authorizer("GET", "/orders", headers={"X-Device-Id": "sensor-7"})
    assert outcome(authorizer, forged) != "allow"
    wrong = te.request_authorizer("GET", "/orders", headers={"X-Device-Id": "sensor-7", "X-Device-Key": "x"})
    assert outcome(authorizer, wrong) != "allow"
    keyed = te.request_authorizer(
        "GET", "/orders", headers={"X-Device-Id": "sensor-7", "X-Device-Key": "k7-2f9c1e8a5b3d4f60"}
    )
    assert outcome(authorizer, keyed) == "allow"
# fmt: on


class OrdersAuthorizer(Authorizer):
    """docs/authorizer.md, "Subclassing hooks", as written."""

    def map_claims(self, claims: Mapping[str, Any]) -> Principal:
        principal = super().map_claims(claims)
        plan_roles = {"gold": ("reader",)}.get(claims.get("plan"), ())
        return principal.replace(roles=principal.roles | set(plan_roles))  # since the fix

    def extra_context(self, principal: Principal, request: Request) -> Mapping[str, object]:
        return {"plan": principal.claims.get("plan", "free")}


def test_the_docs_orders_authorizer_gives_the_plan_role() -> None:
    authorizer = OrdersAuthorizer(verifier(), routes=ORDERS, decision_log=None)
    response = authorizer.handler(te.token_authorizer("GET", "/orders", token=token(plan="gold")))
    assert json.loads(response["context"]["secauth_roles"]) == ["reader"]
    assert response["context"]["plan"] == "gold"


# fmt: off
def test_the_docs_orders_authorizer_keeps_the_issuer() -> None:
    authorizer = OrdersAuthorizer(verifier(), routes=ORDERS, decision_log=None)
    event = te.token_authorizer("GET", "/orders", token=token(plan="gold", groups=["ops"]))
    context = authorizer.handler(event)["context"]
    assert context.get("secauth_issuer") == ISS
    assert json.loads(context["secauth_groups"]) == ["ops"]
# fmt: on


# -- finding: a custom ApiKeyStore's expired entry ------------------------------------------

PARTNER_KEY = "pk-0123456789abcdefghijklmnop"


class RowStore:
    """A store that returns the row it finds (a table whose TTL deletion lags, say)."""

    def __init__(self, entry: ApiKeyEntry) -> None:
        self.entry = entry

    def lookup(self, key: str) -> ApiKeyEntry | None:
        return self.entry if key == PARTNER_KEY else None


# fmt: off
@pytest.mark.xfail(strict=True, reason="FINDING (left open, as review 112's): low: an ApiKeyEntry past its expires_at from a custom store is answered Allow; the ApiKeyStore contract gives expiry to the store, by its clock")  # noqa: E501
def test_an_expired_entry_from_a_custom_store_is_refused() -> None:
    expired = ApiKeyEntry("partner-a", roles=("admin",), expires_at=1_000_000_000)
    authorizer = Authorizer(api_keys=RowStore(expired), routes=ORDERS, decision_log=None)
    event = te.request_authorizer("GET", "/orders", headers={"x-api-key": PARTNER_KEY})
    assert outcome(authorizer, event) == "401"
# fmt: on


def test_a_live_entry_from_a_custom_store_is_allowed() -> None:
    live = ApiKeyEntry("partner-a", roles=("admin",), expires_at=4_000_000_000)
    authorizer = Authorizer(api_keys=RowStore(live), routes=ORDERS, decision_log=None)
    event = te.request_authorizer("DELETE", "/orders/7", headers={"x-api-key": PARTNER_KEY})
    assert outcome(authorizer, event) == "allow"
    wrong = te.request_authorizer("GET", "/orders", headers={"x-api-key": PARTNER_KEY[::-1]})
    assert outcome(authorizer, wrong) == "401"


# -- finding: a credentials override under a result cache -----------------------------------


# fmt: off
def test_a_credentials_override_is_refused_under_an_uncovered_cache() -> None:
    with pytest.raises(ConfigurationError):
        DeviceAuthorizer(verifier(), routes=ORDERS, cache_ttl=300, decision_log=None)
# fmt: on


# -- held: hooks that raise or answer the wrong type fail closed ----------------------------


def raising(*args: Any) -> Any:
    raise RuntimeError(SECRET_TEXT)


HOOKS_RAISING = {
    "credentials": {"credentials": lambda self, request: raising()},
    "map_claims": {"map_claims": lambda self, claims: raising()},
    "extra_context": {"extra_context": lambda self, principal, request: raising()},
}


@pytest.mark.parametrize("cache_ttl", [0, 300])
@pytest.mark.parametrize("hook", sorted(HOOKS_RAISING))
def test_a_raising_hook_fails_closed(hook: str, cache_ttl: int) -> None:
    records: list[dict[str, Any]] = []
    broken = type("Broken", (Authorizer,), HOOKS_RAISING[hook])
    # An overridden credentials() under a cache needs its reads in the identity sources.
    covered = hook == "credentials" and cache_ttl > 0
    authorizer = broken(verifier(), routes=ORDERS, cache_ttl=cache_ttl, decision_log=None,
                        cache_key_covers_request=covered, on_decision=records.append)  # fmt: skip
    tok = token("ann", roles=["admin"])
    for _ in range(3):
        assert outcome(authorizer, te.token_authorizer("DELETE", "/orders/7", token=tok)) == "401"
    assert records[-1]["reason"] == "internal_error"
    assert records[-1]["detail"] == {"error": "RuntimeError"}
    text = json.dumps(records, default=str)
    assert tok not in text
    assert SECRET_TEXT not in text


@pytest.mark.parametrize("cache_ttl", [0, 300])
def test_a_raising_builder_hook_fails_closed(cache_ttl: int) -> None:
    class Broken(PolicyBuilder):
        def extra_statements(self, principal: Any, request: Request) -> Iterator[Statement]:
            raise RuntimeError(SECRET_TEXT)

    records: list[dict[str, Any]] = []
    builder = Broken(cache_ttl=cache_ttl, routes=ORDERS)
    authorizer = Authorizer(verifier(), routes=ORDERS, cache_ttl=cache_ttl, policy_builder=builder,
                            decision_log=None, on_decision=records.append)  # fmt: skip
    tok = token("ann", roles=["admin"])
    assert outcome(authorizer, te.token_authorizer("DELETE", "/orders/7", token=tok)) == "401"
    assert records[-1]["detail"] == {"error": "RuntimeError"}
    assert tok not in json.dumps(records, default=str)


class Opaque:
    """A value no context can carry."""


WRONG_ANSWERS = {
    "map_claims None": {"map_claims": lambda self, claims: None},
    "map_claims dict": {"map_claims": lambda self, claims: {"id": "ann", "roles": ["admin"]}},
    "map_claims empty id": {"map_claims": lambda self, claims: Principal("", roles={"admin"})},
    "credentials Principal": {
        "credentials": lambda self, request: Principal("ann", roles={"admin"})
    },
    "credentials None": {"credentials": lambda self, request: None},
    "extra_context None": {"extra_context": lambda self, principal, request: None},
    "extra_context list": {"extra_context": lambda self, principal, request: [("a", "b")]},
    "extra_context object": {"extra_context": lambda self, principal, request: {"a": Opaque()}},
    "extra_context bytes": {"extra_context": lambda self, principal, request: {"a": b"x"}},
    "extra_context nan": {"extra_context": lambda self, principal, request: {"a": float("nan")}},
    "extra_context huge": {"extra_context": lambda self, principal, request: {"a": "x" * 20_000}},
    "extra_context int key": {"extra_context": lambda self, principal, request: {1: "x"}},
}


@pytest.mark.parametrize("kind", ["rest", "http_v2"])
@pytest.mark.parametrize("case", sorted(WRONG_ANSWERS))
def test_a_hook_answering_the_wrong_type_never_allows(case: str, kind: str) -> None:
    records: list[dict[str, Any]] = []
    odd = type("Odd", (Authorizer,), WRONG_ANSWERS[case])
    authorizer = odd(verifier(), routes=ORDERS, decision_log=None, on_decision=records.append)
    tok = token("ann", roles=["admin"])
    if kind == "rest":
        event = te.token_authorizer("DELETE", "/orders/7", token=tok)
        assert outcome(authorizer, event) == "401"
    else:
        event = te.http_authorizer_v2("DELETE", "/orders/7", route_key="DELETE /orders/{id}",
                                      path_params={"id": "7"}, token=tok)  # fmt: skip
        assert outcome(authorizer, event) == "deny"
    assert records[-1]["status"] == 401
    assert tok not in json.dumps(records, default=str)


def test_secauth_names_from_extra_context_never_reach_the_answer() -> None:
    class Forging(Authorizer):
        def extra_context(self, principal: Principal, request: Request) -> Mapping[str, object]:
            return {"secauth_tenant": "globex", "secauth_roles": '["admin"]', "plan": "pro"}

    authorizer = Forging(verifier(), routes=ORDERS, decision_log=None)
    context = authorizer.handler(te.token_authorizer("GET", "/orders", token=token()))["context"]
    assert "secauth_tenant" not in context
    assert context["secauth_roles"] == "[]"
    assert context["plan"] == "pro"


# -- held: the memo is off whenever something after the verification may differ ------------


def counting(kind: str, calls: list[str]) -> Authorizer:
    """An authorizer whose ``kind`` of override counts its calls in ``calls``."""
    if kind == "routes":

        class Counted(Routes):
            __slots__ = ()

            def decide(self, *args: Any, **kwargs: Any) -> Decision:
                calls.append(kind)
                return super().decide(*args, **kwargs)

        return Authorizer(verifier(), routes=Counted({"GET /orders": authenticated()}),
                          decision_log=None)  # fmt: skip
    if kind == "builder":

        class CountedBuilder(PolicyBuilder):
            def extra_statements(self, principal: Any, request: Request) -> tuple[Statement, ...]:
                calls.append(kind)
                return ()

        return Authorizer(verifier(), routes=ORDERS, policy_builder=CountedBuilder(),
                          decision_log=None)  # fmt: skip
    if kind == "context":
        return Authorizer(verifier(), routes=ORDERS, decision_log=None,
                          context=lambda principal: calls.append(kind) or {})  # fmt: skip

    def hook(self: Authorizer, *args: Any) -> Any:
        calls.append(kind)
        return getattr(Authorizer, kind)(self, *args)

    return type("Hooked", (Authorizer,), {kind: hook})(verifier(), routes=ORDERS, decision_log=None)


@pytest.mark.parametrize(
    "kind", ["routes", "builder", "context", "credentials", "map_claims", "extra_context"]
)
def test_the_memo_is_off_with_an_override(kind: str) -> None:
    calls: list[str] = []
    authorizer = counting(kind, calls)
    event = te.token_authorizer("GET", "/orders", token=token())
    assert [outcome(authorizer, event) for _ in range(4)] == ["allow"] * 4
    assert calls == [kind] * 4


def test_the_memo_serves_a_plain_authorizer_and_rechecks_expiry() -> None:
    authorizer = Authorizer(verifier(), routes=ORDERS, decision_log=None)
    event = te.token_authorizer("GET", "/orders", token=token())
    first, second, third = (authorizer.handler(event) for _ in range(3))
    assert first == second == third
    assert first is not third
    expired = te.token_authorizer("GET", "/orders", token=token(exp=1_000_000))
    assert outcome(authorizer, expired) == "401"


# -- held: cached policies with the docs' builder subclass ----------------------------------


class NoDeletesForAuditors(PolicyBuilder):
    """docs/authorizer-policies.md, "PolicyBuilder", as written."""

    def extra_statements(self, principal: Any, request: Request) -> Iterator[Statement]:
        if "auditor" in principal.roles:
            arn = MethodArn.parse(request.method_arn)
            yield Statement("Deny", arn.with_route("DELETE", "/{proxy+}"))


USERS = Routes({"GET /users/{id}": authenticated(), "GET /users/{id}/secrets": roles("admin"),
                "DELETE /users/{id}": roles("admin")})  # fmt: skip
PROBES = [("GET", "/users/7"), ("GET", "/users/7/secrets"), ("DELETE", "/users/7"),
          ("DELETE", "/users/7/secrets"), ("GET", "/users"), ("POST", "/users/7"),
          ("GET", "/users/7/secrets/x"), ("PUT", "/users/7"), ("GET", "/users/7/")]  # fmt: skip


@pytest.mark.parametrize("held", [["auditor"], ["admin"], ["admin", "auditor"], []])
def test_a_cached_policy_from_the_docs_builder_never_opens_a_denied_route(held: list[str]) -> None:
    builder = NoDeletesForAuditors(cache_ttl=300, routes=USERS)
    authorizer = Authorizer(verifier(), routes=USERS, cache_ttl=300, policy_builder=builder,
                            decision_log=None)  # fmt: skip
    principal = Principal("ann", roles=held)
    response = authorizer.handler(te.token_authorizer("GET", "/users/7", token=token(roles=held)))
    for verb, path in PROBES:
        if te.iam_allows(response, te.method_arn(verb, path)):
            assert USERS.decide(principal, verb, path).allowed, (verb, path)
    if "auditor" in held:
        assert not te.iam_allows(response, te.method_arn("DELETE", "/users/7"))


# -- held: Guard.require derived guards ------------------------------------------------------


def test_a_derived_guard_applies_its_rule_on_a_memoized_principal() -> None:
    guard = Guard(verifier(), routes=ORDERS, decision_log=None)
    base = guard(lambda event, context: {"statusCode": 200})
    strict = guard.require(roles("auditor"))(lambda event, context: {"statusCode": 200})
    event = te.function_url("GET", "/orders", token=token("ann"))
    for _ in range(3):
        assert base(event, None)["statusCode"] == 200
        assert strict(event, None)["statusCode"] == 403
    auditor = te.function_url("GET", "/orders", token=token("bob", roles=["auditor"]))
    assert strict(auditor, None)["statusCode"] == 200
