"""Review 140: attacks on review 136's and 137's fixes.

Attacked, through ``Authorizer(...).handler``, ``Guard``, ``Routes``, ``RateLimiter`` and the stores
on a real redis-server and dynalite (loopback): ``secauth.overrides`` and ``revalidator`` (verify
overridden in a subclass, a mixin ahead of ``JwtVerifier``, a class decorator, ``partialmethod``,
a property, an instance attribute, a ``__getattr__`` proxy, a ``CognitoVerifier`` subclass,
``revalidate`` in a mixin above ``verify``'s class, ``verify_async`` overridden, and library
wrappers, ``MultiIssuerVerifier`` and ``CombinedVerifier``, around a subclassed ``JwtVerifier``);
false positives (the memo must stay on for plain ``JwtVerifier``, Cognito, multi-issuer and combined
verifiers, and ``ClaimMapper.cognito()``); the Guard's ``Routes.decide`` path (404/405/403 and 401
for anonymous callers on plain tables, HTTP API ``$default``, base-path mappings, paths too
ambiguous to read, overrides answering allowed without a route, a refusal naming no denial, values
that are not a ``Decision``, and ``require()`` rules); ``own_credentials`` (a mixin, an attribute
set before construction, ``cache_key_covers_request``); the stores' new reading of hand-written
state (``"  5"``, ``"0x10"``, ``"1e400"``, ``"-0"``, ``"2.5"``, NaN spellings, the exact limit,
cost-0 reads, a legitimate previous window, calendar quotas, a non-integral DynamoDB count); and
``Principal.replace``.

Resolved: ``MultiIssuerVerifier`` and ``CombinedVerifier`` bind each member's ``revalidator`` and
never vouch for a member whose ``revalidate`` cannot; ``revalidator`` reads ``verify_async`` too;
the guard's own rule is checked on API Gateway's parameters when no route has the path; a
DynamoDB count that is not a whole non-negative number reads as a full window (denied), never a
store failure; ``Principal.replace`` deep-copies the claims it keeps. Declined, documented (tests
pin the documented behaviour): a ``decide`` override allowing a path with no route is obeyed (as
by the Authorizer); an ``extra_context`` override stays accepted under a cache (docs: from the
principal only there).

Findings:

* medium: a library wrapper vouches for a verifier it wraps: ``MultiIssuerVerifier`` (or
  ``CombinedVerifier``) around a ``JwtVerifier`` subclass that adds a ban check in ``verify`` keeps
  the Authorizer's response memo on (``revalidator`` looks only at the wrapper's own classes, and the
  wrapper's ``revalidate`` asks the member's inherited ``JwtVerifier.revalidate``): from the third
  call on, a banned caller keeps its Allow. Review 136's medium, one level of wrapping away.
* low: ``revalidator`` ignores ``verify_async``: a ``JwtVerifier`` subclass that adds claims in
  ``verify_async`` (roles from the application's store) keeps the Guard's principal memo on for an
  async handler, so a revoked role is still served (200 where the table says 403).
* low: a ``Routes.decide`` override that allows a path no route has is obeyed by the Guard: the
  handler runs (200), although docs/guard.md says such a path "is a 404 (405 when other verbs have
  it), whatever the override answers" (``guard_routes._judged`` asks ``resolve`` only on a refusal).
* low: on that same path the guard's own ``require()`` rule is never checked (200 where the rule
  refuses, 403 on a routed path): ``_reading_parameters`` returns no readings when no route
  resolves, and ``decide`` loops over none.
* low: a non-integral count in a DynamoDB item (``n`` = 0.5, written by another program) is no
  count, yet it is not read as a full window: ``int()`` raises ``ValueError`` after the store
  answered, so the limiter marks the whole store down (every key degraded to its fallback), and
  ``usage()`` raises ``ValueError`` where a store failure is a ``StoreError``.
* info: an ``Authorizer`` subclass overriding ``extra_context`` (which is given the request) is
  accepted with ``cache_ttl > 0`` and no ``cache_key_covers_request``: review 136's reason for
  refusing an overridden ``credentials`` applies to its context values (API Gateway reuses them).
* info: ``Principal.replace`` keeps claims read-only at the top level only: a list inside the claims
  is shared by the copy and the original, so a hook changing the copy's changes the original's.

Held (pinned below): every other verify redefinition turns the memo off (a ban applies on the next
call); the memos stay on for plain library verifiers and ``ClaimMapper.cognito()``; plain tables
answer anonymous callers 401 for every non-public path (no 404/405 oracle) and authenticated ones
404, 405, 403 as before, ``$default`` and too-ambiguous paths included; a refusal without a denial
is 403 and a non-``Decision`` is a 500, never the handler; ``credentials`` from a mixin or set before
construction is refused under a cache; the Redis script reads every odd spelling as its number or as
a full window (never credit), keeps the exact-limit, cost-0, previous-window and calendar answers;
DynamoDB's condition keeps the exact limit; ``Principal.replace`` goes through the constructor's
checks and refuses unknown fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

import secauth.testing_events as te
from secauth import Authorizer, Guard, JwtVerifier, Routes, authenticated, public, roles, scopes
from secauth.access import Decision
from secauth.client_auth import ClientAuth
from secauth.cognito import CognitoVerifier
from secauth.combined_verifier import CombinedVerifier
from secauth.errors import ConfigurationError, InvalidClaims
from secauth.introspection import IntrospectionVerifier
from secauth.multi_issuer import MultiIssuerVerifier
from secauth.policy import Unauthorized
from secauth.principal import ClaimMapper, Principal
from secauth.ratelimit import RateLimiter, RedisStore
from secauth.ratelimit.dynamodb_store import DynamoDBStore
from secauth.ratelimit.limit import Limit
from secauth.ratelimit.store import StoreError
from secauth.testing import KeyPair

ISS = "https://idp.example.com/"
PAIR = KeyPair.generate("ES256", kid="k1")
JWKS = {"keys": [PAIR.public_jwk]}
ORDERS = Routes({"GET /orders": authenticated(), "DELETE /orders/{id}": roles("admin")})
_names = itertools.count()


def token(sub: str = "ann", **claims: Any) -> str:
    return PAIR.sign({"iss": ISS, "aud": "api", "sub": sub, "exp": 4_000_000_000, **claims})


def plain() -> JwtVerifier:
    return JwtVerifier(issuer=ISS, audience="api", jwks=JWKS)


def outcome(authorizer: Authorizer, event: dict[str, Any]) -> str:
    try:
        response = authorizer.handler(event, None)
    except Unauthorized:
        return "401"
    return "allow" if te.iam_allows(response, event["methodArn"]) else "deny"


def banned_check(banned: set[str], claims: dict[str, Any]) -> dict[str, Any]:
    if claims.get("sub") in banned:
        raise InvalidClaims(detail={"problem": "banned"})
    return claims


class Banning(JwtVerifier):
    """A ban list in ``verify``, ``revalidate`` inherited (review 136's case)."""

    def __init__(self, banned: set[str], **options: Any) -> None:
        super().__init__(**options)
        self.banned = banned

    def verify(self, token: str) -> dict[str, Any]:
        return banned_check(self.banned, super().verify(token))


def banning(banned: set[str]) -> Banning:
    return Banning(banned, issuer=ISS, audience="api", jwks=JWKS)


def introspection() -> IntrospectionVerifier:
    return IntrospectionVerifier(
        issuer=ISS, audience="api", client=ClientAuth.basic("api", "s3cret-value"),
        endpoint="http://127.0.0.1:9/introspect", allow_http=True,
    )  # fmt: skip


def ban_applies(authorizer: Authorizer, banned: set[str]) -> list[str]:
    """Four calls with one token, ``ann`` banned before the fourth."""
    event = te.token_authorizer("GET", "/orders", token=token("ann"))
    answers = [outcome(authorizer, event) for _ in range(3)]
    banned.add("ann")
    return [*answers, outcome(authorizer, event)]


# == 1. revalidator and secauth.overrides =========================================================

# -- finding: a wrapper vouches for a member whose verify is overridden ---------------------------


# fmt: off
def test_a_multi_issuer_wrapper_never_vouches_for_a_member_verify_override() -> None:
    banned: set[str] = set()
    authorizer = Authorizer(MultiIssuerVerifier([banning(banned)]), routes=ORDERS, decision_log=None)
    assert ban_applies(authorizer, banned) == ["allow", "allow", "allow", "401"]
# fmt: on


# fmt: off
def test_a_combined_wrapper_never_vouches_for_a_jwt_verify_override() -> None:
    banned: set[str] = set()
    combined = CombinedVerifier(jwt=banning(banned), introspection=introspection())
    authorizer = Authorizer(combined, routes=ORDERS, decision_log=None)
    assert ban_applies(authorizer, banned) == ["allow", "allow", "allow", "401"]
# fmt: on


def test_a_guard_behind_a_wrapper_still_calls_the_members_verify() -> None:
    """The Guard verifies on every call (only the principal is memoized): the ban applies."""
    banned: set[str] = set()
    guard = Guard(MultiIssuerVerifier([banning(banned)]), routes=ORDERS, decision_log=None)
    handler = guard(lambda event, context: {"statusCode": 200})
    event = te.function_url("GET", "/orders", token=token("ann"))
    assert [handler(event, None)["statusCode"] for _ in range(3)] == [200] * 3
    banned.add("ann")
    assert handler(event, None)["statusCode"] == 401


# -- finding: verify_async is not part of what revalidate must vouch for --------------------------


class StoreRolesAsync(JwtVerifier):
    """Adds the caller's current roles (the application's store) in ``verify_async``."""

    def __init__(self, revoked: set[str], **options: Any) -> None:
        super().__init__(**options)
        self.revoked = revoked

    async def verify_async(self, token: str) -> dict[str, Any]:
        claims = await super().verify_async(token)
        claims["roles"] = [] if claims.get("sub") in self.revoked else ["admin"]
        return claims


# fmt: off
def test_a_verify_async_override_maps_every_async_guard_call() -> None:
    revoked: set[str] = set()
    verifier = StoreRolesAsync(revoked, issuer=ISS, audience="api", jwks=JWKS)
    guard = Guard(verifier, routes=ORDERS, claims=ClaimMapper(role_claims=("roles",)), decision_log=None)

    async def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
        return {"statusCode": 200}

    wrapped = guard(handler)
    event = te.function_url("DELETE", "/orders/7", token=token("ann"))
    assert [asyncio.run(wrapped(event, None))["statusCode"] for _ in range(3)] == [200] * 3
    revoked.add("ann")
    assert asyncio.run(wrapped(event, None))["statusCode"] == 403
# fmt: on


# -- held: every other redefinition of verify turns the memo off ---------------------------------


class BanMixin:
    banned: set[str]

    def verify(self, token: str) -> dict[str, Any]:
        return banned_check(self.banned, super().verify(token))  # type: ignore[misc]


class MixedIn(BanMixin, JwtVerifier):
    """``verify`` from a mixin placed ahead of the class defining ``revalidate``."""


def decorated(klass: type[JwtVerifier]) -> type[JwtVerifier]:
    """A class decorator that wraps ``verify`` with a ban check."""
    inner = klass.verify

    def verify(self: Any, token: str) -> dict[str, Any]:
        return banned_check(self.banned, inner(self, token))

    klass.verify = verify  # type: ignore[method-assign]
    return klass


@decorated
class Decorated(JwtVerifier):
    banned: set[str]


def _ban_then_verify(self: Any, label: str, token: str) -> dict[str, Any]:
    return banned_check(self.banned, JwtVerifier.verify(self, token))


class Partial(JwtVerifier):
    banned: set[str]
    verify = functools.partialmethod(_ban_then_verify, "partial")  # type: ignore[assignment]


class AsProperty(JwtVerifier):
    banned: set[str]

    @property  # type: ignore[override]
    def verify(self) -> Callable[[str], dict[str, Any]]:
        return lambda token: banned_check(self.banned, JwtVerifier.verify(self, token))


class RevalidateMixin:
    """A ``revalidate`` (logging, say) placed above a class that overrides ``verify``."""

    def revalidate(self, token: str) -> bool:
        return JwtVerifier.revalidate(self, token)  # type: ignore[arg-type]


class RevalidateAbove(RevalidateMixin, Banning):
    pass


class Proxy:
    """A verifier of the application's: its own ``verify``, the rest from ``__getattr__``."""

    def __init__(self, inner: JwtVerifier, banned: set[str]) -> None:
        self.inner, self.banned = inner, banned

    def verify(self, token: str) -> dict[str, Any]:
        return banned_check(self.banned, self.inner.verify(token))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class BanningCognito(CognitoVerifier):
    banned: set[str]

    def verify(self, token: str) -> dict[str, Any]:
        return banned_check(self.banned, super().verify(token))


def redefined_verifier(kind: str, banned: set[str]) -> Any:
    options: dict[str, Any] = {"issuer": ISS, "audience": "api", "jwks": JWKS}
    if kind == "proxy":
        return Proxy(plain(), banned)
    if kind == "instance":
        verifier = plain()
        inner = verifier.verify
        verifier.verify = lambda token: banned_check(banned, inner(token))  # type: ignore[method-assign]
        return verifier
    if kind == "revalidate above":
        return RevalidateAbove(banned, **options)
    klass = {"mixin": MixedIn, "decorator": Decorated, "partialmethod": Partial,
             "property": AsProperty}[kind]  # fmt: skip
    verifier = klass(**options)
    verifier.banned = banned  # type: ignore[attr-defined]
    return verifier


@pytest.mark.parametrize(
    "kind",
    ["mixin", "decorator", "partialmethod", "property", "instance", "revalidate above", "proxy"],
)
def test_a_redefined_verify_runs_on_every_authorizer_call(kind: str) -> None:
    banned: set[str] = set()
    authorizer = Authorizer(redefined_verifier(kind, banned), routes=ORDERS, decision_log=None)
    assert ban_applies(authorizer, banned) == ["allow", "allow", "allow", "401"]


def cognito_options() -> dict[str, Any]:
    return {"user_pool_id": "us-east-1_AbC123", "client_id": "app", "token_use": "access",
            "issuer_format": "original", "jwks": JWKS}  # fmt: skip


COGNITO_ISS = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123"


def cognito_token(sub: str = "ann") -> str:
    claims = {"iss": COGNITO_ISS, "client_id": "app", "token_use": "access", "sub": sub,
              "exp": 4_000_000_000, "cognito:groups": ["admin"], "scope": "orders/read"}  # fmt: skip
    return PAIR.sign(claims)


def test_a_cognito_subclass_overriding_verify_turns_the_memo_off() -> None:
    verifier = BanningCognito(**cognito_options())
    verifier.banned = set()
    authorizer = Authorizer(verifier, routes=ORDERS, decision_log=None)
    event = te.token_authorizer("GET", "/orders", token=cognito_token())
    assert [outcome(authorizer, event) for _ in range(3)] == ["allow"] * 3
    verifier.banned.add("ann")
    assert outcome(authorizer, event) == "401"


def test_a_revocation_list_set_on_a_verifier_later_still_applies() -> None:
    """``revalidate`` reads ``revocations`` on every call: set after construction, it counts."""
    from secauth.revocation import Revocations
    from secauth.revocation_stores import MemoryRevocationStore

    verifier = plain()
    authorizer = Authorizer(verifier, routes=ORDERS, decision_log=None)
    event = te.token_authorizer("GET", "/orders", token=token("ann", jti="t-1"))
    assert [outcome(authorizer, event) for _ in range(3)] == ["allow"] * 3
    revocations = Revocations(MemoryRevocationStore(), max_token_lifetime=366 * 86400)
    revocations.revoke_token(ISS, "t-1")
    verifier.revocations = revocations
    assert outcome(authorizer, event) == "401"


# -- held: no false positive for plain library objects --------------------------------------------


class Counting(JwtVerifier):
    """Counts full verifications; ``revalidate`` beside ``verify`` vouches for it."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.calls = 0

    def verify(self, token: str) -> dict[str, Any]:
        self.calls += 1
        return super().verify(token)

    def revalidate(self, token: str) -> bool:
        return super().revalidate(token)


def test_a_plain_multi_issuer_verifier_keeps_the_memo_on() -> None:
    counting = Counting(issuer=ISS, audience="api", jwks=JWKS)
    authorizer = Authorizer(MultiIssuerVerifier([counting]), routes=ORDERS, decision_log=None)
    event = te.token_authorizer("GET", "/orders", token=token())
    assert [outcome(authorizer, event) for _ in range(5)] == ["allow"] * 5
    assert counting.calls == 2  # the third call on is answered by the memo


def test_a_plain_combined_verifier_keeps_the_memo_on() -> None:
    counting = Counting(issuer=ISS, audience="api", jwks=JWKS)
    combined = CombinedVerifier(jwt=counting, introspection=introspection())
    authorizer = Authorizer(combined, routes=ORDERS, decision_log=None)
    event = te.token_authorizer("GET", "/orders", token=token())
    assert [outcome(authorizer, event) for _ in range(5)] == ["allow"] * 5
    assert counting.calls == 2


@pytest.mark.parametrize("kind", ["jwt", "cognito", "multi", "combined", "introspection"])
def test_plain_library_verifiers_keep_the_response_memo_on(kind: str) -> None:
    verifier: Any = {
        "jwt": plain,
        "cognito": lambda: JwtVerifier.cognito(**cognito_options()),
        "multi": lambda: MultiIssuerVerifier([plain()]),
        "combined": lambda: CombinedVerifier(jwt=plain(), introspection=introspection()),
        "introspection": introspection,
    }[kind]()
    authorizer = Authorizer(verifier, routes=ORDERS, decision_log=None)
    assert authorizer._memo.size > 0
    if kind == "introspection":
        return  # its revalidate always says "ask verify": the memo is on, never served
    sent = cognito_token() if kind == "cognito" else token()
    event = te.token_authorizer("GET", "/orders", token=sent)
    answers = [authorizer.handler(event, None) for _ in range(3)]
    assert answers[0] == answers[2]
    assert len(authorizer._memo) == 1


@pytest.mark.parametrize("kind", ["jwt", "cognito", "cognito preset", "multi"])
def test_the_guards_principal_memo_stays_on_for_plain_objects(kind: str) -> None:
    if kind == "jwt":
        guard = Guard(plain(), routes=ORDERS, decision_log=None)
    elif kind == "multi":
        guard = Guard(MultiIssuerVerifier([plain()]), routes=ORDERS, decision_log=None)
    else:
        claims = ClaimMapper.cognito() if kind == "cognito preset" else None
        guard = Guard(JwtVerifier.cognito(**cognito_options()), routes=ORDERS, claims=claims,
                      decision_log=None)  # fmt: skip
    seen: list[Principal] = []
    handler = guard(lambda event, context, principal: seen.append(principal) or {"statusCode": 200})
    sent = token() if kind in ("jwt", "multi") else cognito_token()
    event = te.function_url("GET", "/orders", token=sent)
    assert [handler(event, None)["statusCode"] for _ in range(4)] == [200] * 4
    assert seen[2] is seen[3]  # one principal, kept
    if kind.startswith("cognito"):
        assert "admin" in seen[3].roles


def test_a_redefined_claim_mapper_turns_the_guards_memo_off() -> None:
    class Mapper(ClaimMapper):
        def map(self, claims: Mapping[str, Any]) -> Principal:
            return super().map(claims)

    seen: list[Principal] = []
    guard = Guard(plain(), routes=ORDERS, claims=Mapper(), decision_log=None)
    handler = guard(lambda event, context, principal: seen.append(principal) or {"statusCode": 200})
    event = te.function_url("GET", "/orders", token=token())
    assert [handler(event, None)["statusCode"] for _ in range(4)] == [200] * 4
    assert seen[2] is not seen[3]
    assert seen[2] == seen[3]


# == 2. the Guard decides with Routes.decide =====================================================

TABLE = Routes({"GET /orders": authenticated(), "POST /orders": roles("admin"),
                "GET /a/b/c/d/e/f/g": authenticated(), "GET /open": public()})  # fmt: skip


def status(guard: Guard, event: dict[str, Any]) -> int:
    handler = guard(lambda event, context: {"statusCode": 200})
    return int(handler(event, None)["statusCode"])


@pytest.mark.parametrize(
    ("method", "path", "anonymous", "signed_in"),
    [
        ("GET", "/orders", 401, 200),
        ("POST", "/orders", 401, 403),
        ("PUT", "/orders", 401, 405),
        ("GET", "/nowhere", 401, 404),
        ("GET", "/%61/%62/%63/%64/%65/%66/%67", 401, 404),  # too ambiguous to read
        ("GET", "/open", 200, 200),
    ],
)
@pytest.mark.parametrize("kind", ["function_url", "http_default", "rest_base_path"])
def test_plain_tables_answer_as_before(
    method: str, path: str, anonymous: int, signed_in: int, kind: str
) -> None:
    guard = Guard(plain(), routes=TABLE, decision_log=None)

    def event(sent: str | None) -> dict[str, Any]:
        extra = {"token": sent} if sent else {}
        if kind == "http_default":
            return te.http_proxy(method, path, route_key="$default", **extra)
        if kind == "rest_base_path":  # a base-path mapping: /v1 is the mapping's, not the API's
            sent = te.rest_proxy(method, path, resource="/{proxy+}", path_params={"proxy": path[1:]},
                                 **extra)  # fmt: skip
            return te.on_custom_domain(sent, "api.example.com", base_path="v1")
        return te.function_url(method, path, **extra)

    assert status(guard, event(None)) == anonymous
    assert status(guard, event(token())) == signed_in


class Override(Routes):
    """A table whose ``decide`` answers ``answer`` for ``root``."""

    __slots__ = ()
    answer: Any = None

    def decide(self, principal: Principal, method: str, path: str, request: Any = None) -> Decision:
        if principal.id == "root":
            return self.answer  # type: ignore[no-any-return]
        return super().decide(principal, method, path, request)


def override(answer: Any) -> Routes:
    klass = type("Answering", (Override,), {"__slots__": (), "answer": answer})
    table = {"GET /orders": authenticated(), "POST /orders": roles("admin")}
    return klass(table)  # type: ignore[no-any-return]


ALLOW_ALL = Decision(True, None, None, {}, None)


# fmt: off
def test_an_override_allowing_a_path_with_no_route_is_obeyed_as_documented() -> None:
    """Declined in the fix: the override decides (as for the Authorizer); docs/guard.md now says
    a path no route has is a 404 when the override refuses it, and runs when it allows."""
    guard = Guard(plain(), routes=override(ALLOW_ALL), decision_log=None)
    assert status(guard, te.function_url("GET", "/orders", token=token("root"))) == 200
    assert status(guard, te.function_url("GET", "/nowhere", token=token("root"))) == 200
# fmt: on


# fmt: off
def test_the_guards_own_rule_applies_whatever_the_override_answers() -> None:
    guard = Guard(plain(), routes=override(ALLOW_ALL), decision_log=None).require(scopes("write"))
    assert status(guard, te.function_url("GET", "/orders", token=token("root"))) == 403
    assert status(guard, te.function_url("GET", "/nowhere", token=token("root"))) == 403
# fmt: on


@pytest.mark.parametrize("answer", [Decision(False, None, None, {}, None), True, None, "allow", 1])
def test_an_odd_override_answer_never_runs_the_handler(answer: Any) -> None:
    guard = Guard(plain(), routes=override(answer), decision_log=None)
    answered = status(guard, te.function_url("GET", "/orders", token=token("root")))
    assert answered == (403 if isinstance(answer, Decision) else 500)
    assert status(guard, te.function_url("GET", "/orders", token=token("ann"))) == 200


def test_a_refusing_override_on_a_routeless_path_is_still_404() -> None:
    refuse = Decision(False, None, None, {}, None)
    guard = Guard(plain(), routes=override(refuse), decision_log=None)
    assert status(guard, te.function_url("GET", "/nowhere", token=token("root"))) == 404
    assert status(guard, te.function_url("PUT", "/orders", token=token("root"))) == 405
    assert status(guard, te.function_url("GET", "/nowhere")) == 401  # anonymous: no oracle


def test_the_guards_own_rule_reads_every_parameter_reading() -> None:
    from secauth import rule

    table = Routes({"GET /users/{id}": authenticated(), "GET /users/me": authenticated()})
    own = rule(lambda principal, ctx: ctx.params.get("id") != "me", path_parameters=["id"])
    guard = Guard(plain(), routes=table, decision_log=None).require(own)
    assert status(guard, te.function_url("GET", "/users/7", token=token())) == 200
    # "/users/%6de" reads as the literal route and as {id}="me": the rule sees both
    assert status(guard, te.function_url("GET", "/users/%6De", token=token())) == 403


# == 3. an overridden credentials() under a result cache =========================================


class CredentialsMixin:
    def credentials(self, request: Any) -> Any:
        return Authorizer.credentials(self, request)  # type: ignore[arg-type]


class MixedAuthorizer(CredentialsMixin, Authorizer):
    pass


class EarlyHook(Authorizer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        hook = lambda request: Authorizer.credentials(self, request)  # noqa: E731
        self.credentials = hook  # type: ignore[method-assign]
        super().__init__(*args, **kwargs)


@pytest.mark.parametrize("klass", [MixedAuthorizer, EarlyHook])
def test_credentials_from_a_mixin_or_the_instance_need_a_covered_key(klass: type) -> None:
    with pytest.raises(ConfigurationError, match="credentials"):
        klass(plain(), routes=ORDERS, cache_ttl=300, decision_log=None)
    covered = klass(plain(), routes=ORDERS, cache_ttl=300, cache_key_covers_request=True,
                    decision_log=None)  # fmt: skip
    event = te.token_authorizer("GET", "/orders", token=token())
    assert outcome(covered, event) == "allow"


# fmt: off
def test_an_extra_context_override_is_accepted_under_a_cache_as_documented() -> None:
    """Declined in the fix, documented (docs/authorizer.md, hooks): under ``cache_ttl > 0`` an
    ``extra_context`` must not read the request, as its values are reused with the cached answer;
    most overrides read the principal only (a plan from the claims), which a refusal would break."""
    class HeaderContext(Authorizer):
        def extra_context(self, principal: Principal, request: Any) -> Mapping[str, object]:
            return {"device": request.headers.get("x-device", "")}

    cached = HeaderContext(plain(), routes=ORDERS, cache_ttl=300, decision_log=None)
    assert cached.cache_ttl == 300
# fmt: on


# == 4. the rate-limit stores' reading of their state ============================================


def redis_key(algorithm: str) -> str:
    return f"secauth:rl:{algorithm[0]}:k"


# value written as the count -> how many of 8 further hits of "5/day" are admitted
SPELLINGS = [("  5", 0), ("5\n", 0), ("0x10", 0), ("1e400", 0), ("infinity", 0), ("nan", 0),
             ("-nan", 0), ("0b1", 0), ("", 0), ("  ", 0), ("-0", 5), ("0x0", 5), (" 2 ", 3),
             ("+3", 2), ("4e0", 1), ("2.5", 2)]  # fmt: skip


@pytest.mark.parametrize(("value", "admitted"), SPELLINGS)
@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window"])
def test_redis_reads_odd_spellings_as_their_number_or_a_full_window(
    redis_url: str, redis_client: Any, algorithm: str, value: str, admitted: int
) -> None:
    store = RedisStore(url=redis_url)
    limit = Limit.parse("5/day")
    assert store.hit("k", limit, algorithm).allowed
    redis_client.hset(redis_key(algorithm), "c", value)
    results = [store.hit("k", limit, algorithm) for _ in range(8)]
    assert sum(r.allowed for r in results) == admitted
    assert all(0 <= r.remaining <= 5 and r.retry_after >= 0 for r in results)


@pytest.mark.parametrize("value", ["  5", "-0", "2.5", "0x5", "1e2", "-1e400"])
def test_a_gcra_state_in_the_past_is_never_more_than_a_full_burst(
    redis_url: str, redis_client: Any, value: str
) -> None:
    store = RedisStore(url=redis_url)
    limit = Limit.parse("5/day")
    assert store.hit("k", limit, "gcra").allowed
    redis_client.set(redis_key("gcra"), value)
    assert sum(store.hit("k", limit, "gcra").allowed for _ in range(8)) == 5


@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window", "gcra"])
def test_redis_keeps_the_exact_limit_and_cost_zero_reads(redis_url: str, algorithm: str) -> None:
    store = RedisStore(url=redis_url)
    limit = Limit.parse("5/day")
    firsts = [store.hit("k", limit, algorithm) for _ in range(5)]
    assert all(r.allowed for r in firsts)
    assert [r.remaining for r in firsts] == [4, 3, 2, 1, 0]
    usage = store.usage("k", limit, algorithm)
    assert usage.remaining == 0
    assert not store.hit("k", limit, algorithm).allowed
    assert store.usage("k", limit, algorithm).remaining == 0  # a read spends nothing


def test_a_legitimate_previous_window_is_weighted_not_refused(
    redis_url: str, redis_client: Any
) -> None:
    store = RedisStore(url=redis_url)
    limit = Limit.parse("10/day")
    seconds, micros = redis_client.time()
    now = seconds * 1_000_000 + micros
    window = now // limit.period_us
    elapsed = (now - window * limit.period_us) / limit.period_us
    redis_client.hset(redis_key("sliding_window"), mapping={"w": str(window - 1), "c": "10"})
    admitted = sum(store.hit("k", limit, "sliding_window").allowed for _ in range(12))
    expected = 10 - 10 * (1 - elapsed)  # the previous window's weight, as the table reads it
    assert int(expected) - 1 <= admitted <= int(expected) + 1


def test_a_calendar_quota_admits_its_count_then_denies(redis_url: str) -> None:
    store = RedisStore(url=redis_url)
    limit = Limit.parse("3/month")
    results = [store.hit("k", limit, "fixed_window") for _ in range(5)]
    assert [r.allowed for r in results] == [True, True, True, False, False]
    assert all(0 < r.reset_after <= 31 * 86400 for r in results)


def ddb_store(ddb_client: Any) -> DynamoDBStore:
    store = DynamoDBStore(f"review140-{next(_names)}-{time.monotonic_ns()}", client=ddb_client)
    store.create_table()
    return store


def poison_item(ddb_client: Any, store: DynamoDBStore, value: str) -> None:
    (item,) = ddb_client.scan(TableName=store.table)["Items"]
    item["n"] = {"N": value}
    ddb_client.put_item(TableName=store.table, Item=item)


@pytest.mark.parametrize(("value", "admitted"), [("-0", 5), ("4", 1), ("5", 0), ("1E+2", 0)])
def test_dynamodb_keeps_the_exact_limit(ddb_client: Any, value: str, admitted: int) -> None:
    store = ddb_store(ddb_client)
    limit = Limit.parse("5/day")
    assert store.hit("k", limit, "fixed_window").allowed
    poison_item(ddb_client, store, value)
    assert store.usage("k", limit, "fixed_window").remaining == admitted
    results = [store.hit("k", limit, "fixed_window") for _ in range(7)]
    assert sum(r.allowed for r in results) == admitted
    assert all(0 <= r.remaining <= 5 for r in results)


# fmt: off
def test_a_non_integral_dynamodb_count_reads_as_a_full_window(ddb_client: Any) -> None:
    store = ddb_store(ddb_client)
    limiter = RateLimiter.per_key("5/day", key=lambda request, principal: request.headers["x-k"],
                                  store=store, deny_cache=False, name="device")
    def event(key: str) -> dict[str, Any]:
        return te.http_proxy("GET", "/orders", headers={"x-k": key})
    assert limiter.hit(event("poisoned")).allowed
    poison_item(ddb_client, store, "0.5")
    results = [limiter.hit(event("poisoned")) for _ in range(3)]
    assert not any(r.degraded for r in results)  # the store answered: no failure policy
    assert not limiter.hit(event("other")).degraded  # one item never takes the store down
    with contextlib.suppress(StoreError):  # a store failure is a StoreError, as documented
        limiter.usage(event("poisoned"))
# fmt: on


# == 5. Principal.replace =========================================================================


def test_replace_keeps_every_field_and_goes_through_the_checks() -> None:
    ann = Principal("ann", tenant="acme", roles={"member"}, scopes={"r"}, groups={"g"},
                    claims={"sub": "ann", "plan": "gold"}, issuer=ISS)  # fmt: skip
    gold = ann.replace(roles=ann.roles | {"reader"})
    assert (gold.id, gold.tenant, gold.issuer, gold.kind) == ("ann", "acme", ISS, "user")
    assert gold.groups == {"g"}
    assert gold.scopes == {"r"}
    assert gold.roles == {"member", "reader"}
    assert dict(gold.claims) == {"sub": "ann", "plan": "gold"}
    with pytest.raises(TypeError):
        gold.claims["plan"] = "platinum"  # type: ignore[index]
    assert ann.roles == {"member"}  # the original is untouched
    for bad in ({"roles": "admin"}, {"id": 5}, {"issuer": ""}, {"tenant": 7}, {"kind": None},
                {"is_anonymous": False}, {"_roles": {"admin"}}):  # fmt: skip
        with pytest.raises(ConfigurationError):
            ann.replace(**bad)


def test_replace_claims_given_as_a_dict_are_copied_and_read_only() -> None:
    given = {"sub": "ann"}
    copy = Principal("ann").replace(claims=given)
    given["sub"] = "mallory"
    assert copy.claims["sub"] == "ann"
    with pytest.raises(TypeError):
        copy.claims["sub"] = "x"  # type: ignore[index]


# fmt: off
def test_replace_never_lets_a_copy_change_the_originals_claims() -> None:
    original = Principal("ann", claims={"permissions": ["read"]})
    copy = original.replace(roles={"reader"})
    with contextlib.suppress(AttributeError, TypeError):  # read-only all the way down: fine too
        copy.claims["permissions"].append("admin")
    assert list(original.claims["permissions"]) == ["read"]
# fmt: on
