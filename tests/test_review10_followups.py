"""Review 10: attacks on two fixes, 992d6bb (cached policies and colons) and 7a28614 (the
sync fetch's name lookups, shared per name).

Three tests were findings, failing on the code as reviewed and fixed since: an
``extra_statements`` Deny with an inner ``*`` missed a request with a colon under IAM's
colon rule, and the cached-policy check of ``Routes`` subclasses missed a deciding
override below an inherited ``grants`` (or in a mixin) and one set on the instance. The
others are attacks the fixes resisted, kept as regression tests.

Cached policies are judged like review 8 judged them: a first request's response plays
API Gateway's cache, and ``iam_allows`` (tests/test_review8_cached_policy.py) asks it about
other method ARNs, under the whole-resource reading of ``*`` and under the IAM User
Guide's colon-segmented one (``colon_segments=True``: only a ``*`` that ends a
colon-separated part of the ARN matches past a ``:``). The User Guide names the colon as
the only separator of ARN parts ("the parts separated by colons").

Fetches run against real servers on loopback; only ``socket.getaddrinfo`` is scripted
(review 9's ``ScriptedResolver``: slow, hung or failing names, with real loopback answers).
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pytest
from guard_events import VERIFIER, token
from test_fetch_connect_deadline import get, lookup_threads, settle
from test_review7_followups import timed
from test_review8_cached_policy import (
    FILLERS,
    PREFIX,
    SCENARIOS,
    VERBS,
    answer,
    iam_allows,
    over_allowed,
    principal_of,
    scenario_mapper,
)
from test_review9_fetch_connect import (
    ScriptedResolver,
    Server,
    answer_jwks,
    fetch_in_a_forked_child,
)

from secauth import Authorizer, JwtVerifier, Routes
from secauth._fetch import FetchError
from secauth._fetch_connect import MAX_PENDING_LOOKUPS, pending_lookups, resolve
from secauth._fetch_deadline import FetchDeadline
from secauth.access import Decision, Denial, authenticated, roles, tenant
from secauth.alb import AlbVerifier
from secauth.errors import ConfigurationError, KeysUnavailable, Reason, SecAuthError
from secauth.events import Request
from secauth.jwks import JwksCache
from secauth.policy import (
    COLON_PATHS,
    MethodArn,
    PolicyBuilder,
    PolicyConflict,
    Statement,
    Unauthorized,
    route_policy,
)
from secauth.principal import Principal
from secauth.testing import KeyPair, LocalIssuer
from secauth.testing_alb import LocalAlb
from secauth.testing_events import http_authorizer_v2

# == 1. cached policies and colons (992d6bb) ======================================================

# Segments with colons in every place a segment-based reading could care about: alone,
# doubled, leading, trailing, several, next to refused spellings, and the encoded colon
# (%3A), which is a plain character if API Gateway leaves it encoded in the method ARN and
# a colon if it decodes it: both spellings are probed.
COLON_FILLERS = (
    "a:b", ":", "::", "a:", ":b", "urn:isbn:1", "a::b", "acme:", ":acme", "admin:x",
    "secrets:", "a:b/secrets", "7/secrets:", "x:y/admin/y", "a:b//x", "a:b/./x", "a:b/../x",
    "a:b/", "a:b/%2e%2e/x", "a%3Ab", "%3A", "a%3ab/secrets", "acme%3A", "a:b%2Fc",
)  # fmt: skip


def colon_probes(policy: Mapping[str, Any], extra: Iterable[str], seed: int) -> list[str]:
    """Requests to ask a cached policy about: each Allow pattern with each ``*`` filled with
    colon fillers (and review 8's plain ones around them), and ``extra`` paths with a colon
    put into each of their segments, with every verb."""
    rng = random.Random(seed)
    out: list[str] = []
    for path in extra:
        parts = path.split("/")
        for index in range(1, len(parts)):
            for colon in ("{}:x", ":{}", "{}:", "{}%3A"):
                varied = [*parts[:index], colon.format(parts[index]), *parts[index + 1 :]]
                out += [f"{verb} {'/'.join(varied)}" for verb in VERBS]
    document = policy.get("policyDocument", policy)
    for statement in document["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        for resource in statement["Resource"]:
            pattern = resource.removeprefix(PREFIX)
            pieces = pattern.split("*")
            if len(pieces) == 1:
                continue
            fillings = [[f] * (len(pieces) - 1) for f in COLON_FILLERS]
            fillings += [[rng.choice(COLON_FILLERS + FILLERS[:20]) for _ in pieces[1:]]
                         for _ in range(30)]  # fmt: skip
            for filling in fillings:
                text = pieces[0] + "".join(v + p for v, p in zip(filling, pieces[1:], strict=True))
                verb, slash, rest = text.partition("/")
                if verb in VERBS and slash:
                    out.append(f"{verb} /{rest}")
    return out


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_colons_anywhere_never_get_past_a_cached_policy_under_either_reading(name: str) -> None:
    """Review 8's attack matrix, each first request's cached policy probed with colons in
    every position (and %3A), under both readings of IAM's ``*``."""
    table, default, claims, firsts, extra = SCENARIOS[name]
    routes = Routes(table, default=default)
    mapper = scenario_mapper(name, claims)
    who = principal_of(claims, mapper)
    for n, first in enumerate(firsts):
        verb, _, path = first.partition(" ")
        response = answer(routes, claims, verb, path, claims=mapper)
        requests = colon_probes(response, extra, seed=n)
        for colon_segments in (False, True):
            bad = over_allowed(routes, who, response, requests, colon_segments=colon_segments)
            assert not bad, (first, colon_segments, bad[:5])


def test_the_colon_deny_matches_any_colon_after_the_stage_under_both_readings() -> None:
    """``prefix + "*:*"``: the first ``*`` ends a colon-separated part and the second ends
    the ARN, so under the colon rule both still match anything; one colon or many, first
    or last in the path."""
    doc = {"Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny",
                          "Resource": [PREFIX + COLON_PATHS]}]}  # fmt: skip
    for route in ("GET/:", "GET/a:b", "GET/a/b:", "GET/:a", "GET/x/urn:a:b:c/y", "PUT/a::b/"):
        for colon_segments in (False, True):
            document = {"Statement": [*doc["Statement"], {"Action": "execute-api:Invoke",
                        "Effect": "Allow", "Resource": [PREFIX + "*"]}]}  # fmt: skip
            assert not iam_allows(document, PREFIX + route, colon_segments=colon_segments)
    allow_all = {"Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow",
                                "Resource": [PREFIX + "*"]}, *doc["Statement"]]}  # fmt: skip
    # Availability: only colons are denied, not the other characters a literal may hold.
    for route in ("GET/a@b", "GET/a;b=c", "GET/a,b", "GET/$x", "GET/a%3Ab", "GET/(x)!", "GET/"):
        assert iam_allows(allow_all, PREFIX + route, colon_segments=True)


def test_an_encoded_colon_is_one_plain_character_for_table_and_policy() -> None:
    """If API Gateway leaves ``%3A`` encoded in the method ARN, it is no colon: the cached
    policy and the table read it alike under both readings; if it decodes it, the colon
    Deny applies (the request is then answered for its own ARN only)."""
    routes = Routes({"GET /users/{id}": authenticated(), "GET /users/{id}/secrets": roles("admin")})
    response = answer(routes, {"sub": "u"}, "GET", "/users/7")
    who = Principal("u")
    for path in ("/users/a%3Ab", "/users/a%3Ab/secrets", "/users/%3A/x", "/users/a%3ab"):
        allowed = routes.decide(who, "GET", path).allowed
        for colon_segments in (False, True):
            assert iam_allows(response, PREFIX + "GET" + path, colon_segments=colon_segments) is (
                allowed
            ), (path, colon_segments)
        decoded = path.replace("%3A", ":").replace("%3a", ":")
        for colon_segments in (False, True):
            assert not iam_allows(response, PREFIX + "GET" + decoded, colon_segments=colon_segments)


@pytest.mark.parametrize(
    "method_arn",
    [
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/pr:od/GET/users/7",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod:/GET/users/7",
        "arn:aws:execute-api:us-east-1:123456789012:abc:def/prod/GET/users/7",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET:/users/7",
    ],
)
def test_a_colon_in_the_stage_api_id_or_verb_is_refused_not_cached(method_arn: str) -> None:
    """Stage names and API ids have no colon (API Gateway's naming rules); an ARN that
    claims one is refused (401), never planned for."""
    routes = Routes({"GET /users/{id}": authenticated()})
    authorizer = Authorizer(VERIFIER, routes=routes, cache_ttl=300, decision_log=None)
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {token('u')}", "methodArn": method_arn}
    with pytest.raises(Unauthorized):
        authorizer.handler(event, None)


def test_an_http_default_route_with_a_colon_in_its_path_is_not_cached_open() -> None:
    """HTTP API ``$default``: one ARN for every path. A partial principal's answer for a
    colon path is never an Allow of ``.../$default`` (it would hold for every path)."""
    routes = Routes({"ANY /{proxy+}": authenticated(), "GET /admin/{id}": roles("admin")})
    authorizer = Authorizer(VERIFIER, routes=routes, cache_ttl=300, decision_log=None)
    for path in ("/a:b", "/admin/a:b", "/x/urn:a:b"):
        event = http_authorizer_v2("GET", path, route_key="$default", stage="prod",
                                   token=token("u"))  # fmt: skip
        event["routeArn"] = PREFIX + "$default"
        response = authorizer.handler(event, None)
        for colon_segments in (False, True):
            assert not iam_allows(response, PREFIX + "$default", colon_segments=colon_segments)


def test_colon_requests_on_the_default_rule_are_answered_for_their_own_arn_only() -> None:
    """A request the table's ``default`` rule decides, with a colon in its path: allowed,
    and the cached answer names its method ARN alone."""
    routes = Routes({"GET /users/{id}": authenticated(), "DELETE /users/{id}": roles("admin")},
                    default=authenticated())  # fmt: skip
    response = answer(routes, {"sub": "u"}, "POST", "/v1/items:batchGet")
    allows = [r for s in response["policyDocument"]["Statement"] if s["Effect"] == "Allow"
              for r in s["Resource"]]  # fmt: skip
    assert allows == [PREFIX + "POST/v1/items:batchGet"]
    for colon_segments in (False, True):
        assert not iam_allows(response, PREFIX + "DELETE/users/7", colon_segments=colon_segments)
        assert not iam_allows(response, PREFIX + "DELETE/users/a:b", colon_segments=colon_segments)


@pytest.mark.parametrize("key", ["ANY /a:b", "GET /:", "GET /::", "GET /x/{p}/a:b/{q+}",
                                 "POST /v1/{id}/x:cancel", "DELETE /time/12:30"])  # fmt: skip
def test_routes_with_a_colon_are_refused_under_a_result_cache_however_spelled(key: str) -> None:
    routes = Routes({key: authenticated(), "GET /ok": authenticated()})
    with pytest.raises(ConfigurationError, match="have ':' in their path"):
        Authorizer(VERIFIER, routes=routes, cache_ttl=300)
    Authorizer(VERIFIER, routes=routes, cache_ttl=0)


@pytest.mark.parametrize("key", ["GET /:id", "GET /{a:b}", "GET /x/:path+", "GET /{proxy:x+}"])
def test_colon_parameter_spellings_are_refused_when_the_table_is_built(key: str) -> None:
    with pytest.raises(ConfigurationError):
        Routes({key: authenticated()})


def test_websocket_keys_with_a_colon_are_exact_only_under_a_result_cache() -> None:
    """A WebSocket route key may hold ``:``; its answer names that key's ARN alone."""
    routes = Routes({"$connect": authenticated(), "send:msg": authenticated()})
    authorizer = Authorizer(VERIFIER, routes=routes, cache_ttl=300, decision_log=None)
    event = {
        "type": "REQUEST",
        "methodArn": PREFIX + "$connect",
        "headers": {"Authorization": f"Bearer {token('u')}"},
        "requestContext": {"eventType": "CONNECT", "connectionId": "c1", "routeKey": "$connect"},
    }
    response = authorizer.handler(event, None)
    for colon_segments in (False, True):
        assert iam_allows(response, PREFIX + "$connect", colon_segments=colon_segments)
        for other in ("send:msg", "$default", "GET/send:msg"):
            assert not iam_allows(response, PREFIX + other, colon_segments=colon_segments)


def test_the_route_list_form_denies_colon_paths_and_refuses_colon_routes() -> None:
    """``route_policy`` (the lower-level form) plans with the same colon Deny, and an
    allowed route with a colon is a PolicyConflict (fail closed); PolicyBuilder's route
    list form then answers for the exact ARN."""
    arn = PREFIX + "GET/users/7"
    table = ["GET /users/{id}", "GET /users/{id}/secrets", "DELETE /users/{id}"]
    doc = route_policy(arn, ["GET /users/{id}"], table).to_dict()
    denied = [r for s in doc["Statement"] if s["Effect"] == "Deny" for r in s["Resource"]]
    assert PREFIX + COLON_PATHS in denied
    for path in ("/users/a:b/secrets", "/users/:/secrets", "/users/a::b/x", "/users/a:b/",
                 "/users/a:b//secrets"):  # fmt: skip
        for colon_segments in (False, True):
            assert not iam_allows(doc, PREFIX + "GET" + path, colon_segments=colon_segments)
    assert iam_allows(doc, PREFIX + "GET/users/8", colon_segments=True)
    with pytest.raises(PolicyConflict):
        route_policy(PREFIX + "POST/v1/items:batchGet", ["POST /v1/items:batchGet"],
                     ["POST /v1/items:batchGet", "GET /v1/items"])  # fmt: skip
    builder = PolicyBuilder(cache_ttl=300, routes=["POST /v1/items:batchGet", "GET /v1/items"])
    request = Request.from_event({"type": "TOKEN", "authorizationToken": "Bearer t",
                                  "methodArn": PREFIX + "POST/v1/items:batchGet"})  # fmt: skip
    exact = builder.policy(Principal("u"), request, allow=True,
                           allowed_routes=["POST /v1/items:batchGet", "GET /v1/items"]).to_dict()  # fmt: skip
    assert exact["Statement"] == [{"Action": "execute-api:Invoke", "Effect": "Allow",
                                   "Resource": [PREFIX + "POST/v1/items:batchGet"]}]  # fmt: skip


def test_a_tenant_whose_id_has_a_colon_gets_an_exact_answer_not_a_widened_one() -> None:
    routes = Routes({"ANY /t/{tid}/{proxy+}": tenant(path="tid"),
                     "GET /t/{tid}/admin/{id}": roles("admin")})  # fmt: skip
    claims = {"sub": "u", "tenant": "urn:acme"}
    response = answer(routes, claims, "GET", "/t/urn:acme/orders/1")
    who = principal_of(claims)
    assert iam_allows(response, PREFIX + "GET/t/urn:acme/orders/1", colon_segments=True)
    probes = [f"{v} /t/urn:acme/{p}" for v in VERBS for p in ("admin/1", "orders/2", "a:b/admin/1")]
    probes += [f"{v} /t/urn:globex/orders/1" for v in VERBS]
    for colon_segments in (False, True):
        assert not over_allowed(routes, who, response, probes, colon_segments=colon_segments)


def test_one_allowed_colon_request_narrows_the_cached_answer_to_its_own_arn() -> None:
    """What the colon Deny costs (availability, fail closed): an allowed request with a
    colon in a parameter is cached as its own method ARN alone, so for the TTL the same
    route with other values answers 403 too, not only the token's other routes. Caching
    per route (``$context.routeKey`` in the identity sources) keeps that: the key is the
    route, not the value. Anything that can make the holder's client send such a request
    (a same-site image URL, with a cookie as the identity source) narrows it."""
    routes = Routes(
        {"GET /things/{id}": authenticated(), "GET /things/{id}/secrets": roles("admin")}
    )
    response = answer(routes, {"sub": "u"}, "GET", "/things/urn:isbn:1")
    for colon_segments in (False, True):
        assert iam_allows(response, PREFIX + "GET/things/urn:isbn:1", colon_segments=colon_segments)
        assert not iam_allows(response, PREFIX + "GET/things/7", colon_segments=colon_segments)
    assert routes.decide(Principal("u"), "GET", "/things/7").allowed


# -- the extra statements of a PolicyBuilder subclass ------------------------------------------


class NoAdminAreas(PolicyBuilder):
    """What the extra_statements docstring invites: a Deny layered on the table, here the
    tenants' admin areas, for everyone (an auditor role, say)."""

    def extra_statements(self, principal: Any, request: Request) -> Iterable[Statement]:
        arn = MethodArn.parse(request.method_arn)
        yield Statement("Deny", str(arn.with_route("ANY", "/tenants/{tid}/admin/{proxy+}")))


class NoDeletes(PolicyBuilder):
    """The docstring's own example: a Deny whose only ``*`` ends the ARN."""

    def extra_statements(self, principal: Any, request: Request) -> Iterable[Statement]:
        arn = MethodArn.parse(request.method_arn)
        yield Statement("Deny", str(arn.with_route("DELETE", "/{proxy+}")))


def _builder_response(builder_type: type[PolicyBuilder], ttl: int, verb: str,
                      path: str) -> dict[str, Any]:  # fmt: skip
    routes = Routes({"ANY /tenants/{tid}/{proxy+}": authenticated()})
    builder = builder_type(cache_ttl=ttl, routes=routes)
    authorizer = Authorizer(VERIFIER, routes=routes, cache_ttl=ttl, policy_builder=builder,
                            decision_log=None)  # fmt: skip
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {token('u')}",
             "methodArn": PREFIX + verb + path}  # fmt: skip
    return authorizer.handler(event, None)


@pytest.mark.parametrize("ttl", [0, 300])
def test_an_extra_deny_ending_in_a_star_wins_with_colons_too(ttl: int) -> None:
    for path in ("/tenants/x/a", "/tenants/x:y/a", "/tenants/a:b/c:d"):
        response = _builder_response(NoDeletes, ttl, "DELETE", path)
        for colon_segments in (False, True):
            assert not iam_allows(response, PREFIX + "DELETE" + path,
                                  colon_segments=colon_segments)  # fmt: skip


@pytest.mark.parametrize("ttl", [0, 300])
def test_an_extra_deny_with_an_inner_star_wins_with_colons_too(ttl: int) -> None:
    """Under the whole-resource reading the Deny matches (403, as meant). Under the colon
    rule its inner ``*`` cannot cover ``x:y``; the Allow names the ARN exactly (TTL 0, or
    the fallback secauth uses for every colon request under a cache), so it is allowed."""
    path = "/tenants/x:y/admin/users"
    response = _builder_response(NoAdminAreas, ttl, "GET", path)
    assert not iam_allows(response, PREFIX + "GET" + path)  # whole-resource reading: denied
    assert not iam_allows(response, PREFIX + "GET" + path, colon_segments=True)


# -- Routes subclasses under a result cache (_check_plannable) ---------------------------------

TABLE = {"GET /orders/{id}": authenticated(), "DELETE /orders/{id}": authenticated()}


def _deny_writes(decision: Decision, method: str) -> Decision:
    if method.upper() == "GET":
        return decision
    denial = Denial(Reason.FORBIDDEN, "writes suspended")
    return decision._replace(allowed=False, reason=denial.reason, denial=denial)


def assert_refused_or_honoured(routes: Routes) -> None:
    """Refused with cache_ttl > 0 (a fix), or the cached policy allows nothing decide
    denies."""
    try:
        response = answer(routes, {"sub": "u"}, "GET", "/orders/7")
    except ConfigurationError:
        return
    who = Principal("u")
    assert routes.decide(who, "GET", "/orders/7").allowed
    assert not routes.decide(who, "DELETE", "/orders/8").allowed
    for colon_segments in (False, True):
        bad = over_allowed(routes, who, response, ["DELETE /orders/8", "DELETE /orders/7"],
                           colon_segments=colon_segments)  # fmt: skip
        assert not bad, bad


class JudgeOverride(Routes):
    def judge(self, principal: Principal, found: Any, method: str, path: str,
              request: Request | None = None) -> Decision:  # fmt: skip
        return _deny_writes(super().judge(principal, found, method, path, request), method)


class ResolveOverride(Routes):
    def resolve(self, method: str, path: str) -> Any:
        return None if method.upper() != "GET" else super().resolve(method, path)


class PropertyOverride(Routes):
    @property
    def decide(self) -> Any:  # type: ignore[override]
        base = super().decide

        def decide(principal: Principal, method: str, path: str,
                   request: Request | None = None) -> Decision:  # fmt: skip
            return _deny_writes(base(principal, method, path, request), method)

        return decide


@pytest.mark.parametrize("table_type", [JudgeOverride, ResolveOverride, PropertyOverride])
def test_overriding_any_deciding_method_or_spelling_is_refused(table_type: type[Routes]) -> None:
    with pytest.raises(ConfigurationError, match="without a grants that follows"):
        Authorizer(VERIFIER, routes=table_type(TABLE), cache_ttl=300)
    with pytest.raises(ConfigurationError, match="without a grants that follows"):
        Authorizer(VERIFIER, routes=Routes(TABLE), cache_ttl=300,
                   policy_builder=PolicyBuilder(cache_ttl=300, routes=table_type(TABLE)))  # fmt: skip
    assert_refused_or_honoured(table_type(TABLE))
    Authorizer(VERIFIER, routes=table_type(TABLE), cache_ttl=0)


class Helpers(Routes):
    """Overrides methods no Authorizer decision goes through."""

    def authorize(self, principal: Principal, method: str, path: str,
                  request: Request | None = None) -> Decision:  # fmt: skip
        return _deny_writes(super().authorize(principal, method, path, request), method)

    def methods_for(self, path: str) -> set[str]:
        return {"GET"}


def test_overriding_methods_outside_the_decision_is_accepted_and_still_safe() -> None:
    """``authorize`` and ``methods_for`` are not on the Authorizer's decision path, so the
    planned policy still follows ``decide``."""
    routes = Helpers({**TABLE, "PUT /orders/{id}": roles("admin")})
    response = answer(routes, {"sub": "u"}, "GET", "/orders/7")
    requests = [f"{verb} /orders/{n}" for verb in VERBS for n in ("7", "8", "a:b")]
    for colon_segments in (False, True):
        assert not over_allowed(routes, Principal("u"), response, requests,
                                colon_segments=colon_segments)  # fmt: skip
    assert iam_allows(response, PREFIX + "DELETE/orders/8")  # decide allows it


class LoggedGrants(Routes):
    """A base class a team shares: it overrides grants (to log or count, say), and its own
    decisions follow its rules."""

    def grants(self, principal: Principal) -> Any:
        return super().grants(principal)


class SuspendedLogged(LoggedGrants):
    """A subclass of it that denies more than the rules, without touching grants."""

    def decide(self, principal: Principal, method: str, path: str,
               request: Request | None = None) -> Decision:  # fmt: skip
        return _deny_writes(super().decide(principal, method, path, request), method)


class DenyMixin:
    def decide(self, principal: Principal, method: str, path: str,
               request: Request | None = None) -> Decision:  # fmt: skip
        return _deny_writes(super().decide(principal, method, path, request), method)  # type: ignore[misc]


class Mixed(DenyMixin, LoggedGrants):
    pass


@pytest.mark.parametrize("table_type", [SuspendedLogged, Mixed])
def test_a_deciding_override_below_an_inherited_grants_is_refused_or_honoured(
    table_type: type[Routes],
) -> None:
    assert_refused_or_honoured(table_type(TABLE))


def _patched_instance(how: str) -> Routes:
    if how == "instance-attribute":

        class Open(Routes):
            """A subclass with a ``__dict__`` (a plain Routes refuses the assignment)."""

        routes = Open(TABLE)
        base = routes.decide

        def decide(principal: Principal, method: str, path: str,
                   request: Request | None = None) -> Decision:  # fmt: skip
            return _deny_writes(base(principal, method, path, request), method)

        routes.decide = decide  # type: ignore[method-assign]
        return routes

    class Intercepting(Routes):
        def __getattribute__(self, name: str) -> Any:
            found = super().__getattribute__(name)
            if name != "decide":
                return found
            return lambda p, m, path, r=None: _deny_writes(found(p, m, path, r), m)

    return Intercepting(TABLE)


@pytest.mark.parametrize("how", ["instance-attribute", "getattribute"])
def test_a_deciding_override_on_the_instance_is_refused_or_honoured(how: str) -> None:
    assert_refused_or_honoured(_patched_instance(how))


# == 2. sync fetch name lookups (7a28614) =========================================================


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedResolver]:
    """Review 9's scripted resolver; every name it looked up is in ``calls``."""
    fake = ScriptedResolver(socket.getaddrinfo)
    recorded: list[str] = []

    def recording(host: Any, *args: Any, **kwargs: Any) -> Any:
        recorded.append(str(host))
        return fake(host, *args, **kwargs)

    fake.recorded = recorded  # type: ignore[attr-defined]
    monkeypatch.setattr(socket, "getaddrinfo", recording)
    yield fake
    fake.release.set()
    assert not settle(lookup_threads), "a lookup thread outlived its released resolver"
    assert pending_lookups() == 0


def _localhost(url: str) -> str:
    return url.replace("127.0.0.1", "localhost")


def test_token_contents_never_choose_a_name_to_look_up(dns: ScriptedResolver) -> None:
    """Who controls the names looked up: configuration only. A token's ``iss`` must be a
    configured issuer before anything is fetched, key-bearing headers (jku, x5u, jwk, x5c)
    are refused, a ``kid`` only selects a key of the configured set (an ALB kid must be a
    UUID and goes in the path), an ALB ``signer`` must be a configured load balancer. None
    of these tokens makes the library resolve anything but the configured host."""
    dns.answer("localhost", "127.0.0.1")
    attacker = KeyPair.generate("ES256", kid="attacker")
    with LocalIssuer(algs=("ES256",)) as idp, LocalAlb() as alb:
        verifier = JwtVerifier.multi(JwtVerifier(
            issuer=idp.issuer, audience="api",
            jwks=JwksCache(_localhost(idp.jwks_uri), allow_http=True, refetch_cooldown=0,
                           max_backoff=0)))  # fmt: skip
        base = {"iss": idp.issuer, "aud": "api", "exp": 4e9}
        hostile = [
            attacker.sign({**base, "iss": "https://iss.attacker.review10.test/"}),
            attacker.sign({**base, "iss": "http://localhost.attacker.review10.test:80/"}),
            attacker.sign(base, headers={"jku": "https://jku.attacker.review10.test/k.json"}),
            attacker.sign(base, headers={"x5u": "https://x5u.attacker.review10.test/c.pem"}),
            attacker.sign(base, headers={"jwk": attacker.public_jwk}),
            attacker.sign(base, headers={"x5c": ["MIIB"]}),
            attacker.sign(base, headers={"kid": "https://kid.attacker.review10.test/k.json"}),
            attacker.sign(base, headers={"kid": "kid.attacker.review10.test"}),
            attacker.sign({**base, "jwks_uri": "https://claim.attacker.review10.test/"}),
        ]
        for forged in hostile:
            with pytest.raises(SecAuthError):
                verifier.verify(forged)
        assert verifier.verify(idp.token(aud="api", sub="alice"))["sub"] == "alice"

        other_region = alb.arn.replace("us-east-1", "eu-west-1")
        alb_verifier = AlbVerifier(alb_arn=alb.arn, issuer=alb.issuer, client_id=alb.client_id,
                                   key_endpoint=_localhost(alb.key_endpoint), allow_http=True)  # fmt: skip
        for forged in (alb.token(headers={"signer": other_region}, sub="x"),
                       alb.token(headers={"kid": "kid.attacker.review10.test"}, sub="x")):  # fmt: skip
            with pytest.raises(SecAuthError):
                alb_verifier.verify(forged)
        assert alb_verifier.verify(alb.token(sub="alice"))["sub"] == "alice"
    looked_up = set(dns.recorded)  # type: ignore[attr-defined]
    assert looked_up == {"localhost"}, looked_up


def _forge(pair: KeyPair, issuer: str) -> str:
    return pair.sign({"iss": issuer, "aud": "api", "exp": 4e9}, headers={"kid": "made-up"})


def test_filling_the_pending_names_takes_that_many_hung_configured_issuers(
    dns: ScriptedResolver,
) -> None:
    """The bound of pending names, measured through the verifier: an anonymous client can
    start a key fetch of any configured issuer (a forged token, no valid signature
    needed), but only of a configured one. With one name fewer than the bound hung, a
    named issuer's key fetch still succeeds; with the bound reached, a fetch of another
    name fails at once as ``timeout`` (documented), while an issuer at an IP address is
    unaffected."""
    forger = KeyPair.generate("ES256", kid="made-up")
    hung = [f"https://hung-{n}.review10.test/" for n in range(MAX_PENDING_LOOKUPS)]
    for issuer in hung:
        dns.answer(issuer.split("/")[2], delays=[None])
    dns.answer("localhost", "127.0.0.1")
    with LocalIssuer(algs=("ES256",)) as named, LocalIssuer(algs=("ES256",)) as late, \
            LocalIssuer(algs=("ES256",)) as by_ip:  # fmt: skip
        verifier = JwtVerifier.multi(
            *[JwtVerifier(issuer=i, audience="api", jwks=JwksCache(i + "jwks.json", timeout=2.0))
              for i in hung],
            *[JwtVerifier(issuer=idp.issuer, audience="api",
                          jwks=JwksCache(url, allow_http=True, timeout=1.0))
              for idp, url in ((named, _localhost(named.jwks_uri)),
                               (late, _localhost(late.jwks_uri)), (by_ip, by_ip.jwks_uri))],
        )  # fmt: skip
        attacks = [threading.Thread(target=timed, args=(lambda i=i: verifier.verify(_forge(forger, i)),))
                   for i in hung[:-1]]  # fmt: skip
        for thread in attacks:
            thread.start()
        for thread in attacks:
            thread.join(5)
        assert pending_lookups() == MAX_PENDING_LOOKUPS - 1
        error, _ = timed(lambda: verifier.verify(named.token(aud="api", sub="a")))
        assert error is None, repr(error)

        timed(lambda: verifier.verify(_forge(forger, hung[-1])))
        assert pending_lookups() == MAX_PENDING_LOOKUPS
        error, elapsed = timed(lambda: verifier.verify(late.token(aud="api", sub="b")))
        assert isinstance(error, KeysUnavailable), repr(error)
        assert error.detail["cause"]["kind"] == "timeout"
        assert elapsed < 0.3, elapsed  # at once, not at the 1 s deadline
        error, _ = timed(lambda: verifier.verify(by_ip.token(aud="api", sub="c")))
        assert error is None, repr(error)
    assert len(lookup_threads()) == MAX_PENDING_LOOKUPS  # one thread per hung name


HOST_SPELLINGS = ["127.1", "0x7f.1", "2130706433", "127.0.0.1", "LOCALHOST", "::ffff:127.0.0.1",
                  "::1%lo", "127.0.0.1.", "a..b", "a" * 64 + ".test"]  # fmt: skip


@pytest.mark.parametrize("host", HOST_SPELLINGS)
def test_host_spellings_resolve_and_fail_as_http_client_does(host: str) -> None:
    """Spellings inet_pton refuses go to the shared lookup (glibc reads the numeric ones
    itself); the outcome, and a failure's cause, are http.client's."""
    import http.client

    from secauth._fetch import transport_cause

    server = Server(answer_jwks())
    try:
        shown = f"[{host}]" if ":" in host else host
        error, _ = timed(lambda: get(f"http://{shown}:{server.port}/jwks.json", 2.0))
        conn = http.client.HTTPConnection(host, server.port, timeout=2.0)
        try:
            conn.request("GET", "/jwks.json")
            conn.getresponse().read()
            expected = None
        except Exception as exc:
            expected = transport_cause(exc)
        finally:
            conn.close()
    finally:
        server.close()
    if expected is None:
        assert error is None, repr(error)
    else:
        assert isinstance(error, FetchError), repr(error)
        assert error.cause == expected


def test_ip_addresses_need_no_lookup_even_with_every_pending_name_taken(
    dns: ScriptedResolver,
) -> None:
    """Canonical IPv4 and IPv6 (IPv4-mapped included) literals are read in the caller's
    thread: they work with the bound of hung names reached, and start no thread."""
    fetches = []
    for n in range(MAX_PENDING_LOOKUPS):
        dns.answer(f"hung-{n}.review10.test", delays=[None])
        url = f"http://hung-{n}.review10.test:80/jwks.json"
        fetches.append(threading.Thread(target=timed, args=(lambda url=url: get(url, 1.0),)))
    for fetch in fetches:  # at once, with time to spare on a busy machine
        fetch.start()
    for fetch in fetches:
        fetch.join(5)
    assert pending_lookups() == MAX_PENDING_LOOKUPS
    server = Server(answer_jwks())
    try:
        for shown in ("127.0.0.1", "[::ffff:127.0.0.1]"):
            error, _ = timed(lambda s=shown: get(f"http://{s}:{server.port}/jwks.json", 1.0))
            assert error is None, (shown, repr(error))
    finally:
        server.close()
    assert len(lookup_threads()) == MAX_PENDING_LOOKUPS
    assert pending_lookups() == MAX_PENDING_LOOKUPS


def test_a_lookup_that_ended_is_never_joined_and_a_pending_one_always_is(
    dns: ScriptedResolver,
) -> None:
    """The order of ``_end`` (forget the lookup, then wake its waiters): a fetch arriving
    while the lookup is pending joins it; one arriving after it ended starts a new one."""
    name = "join.review10.test"
    dns.answer(name, delays=[None, 0.0])
    results: list[Any] = []

    def first() -> None:
        deadline = FetchDeadline(3.0)
        try:
            results.append(resolve(name, 80, deadline))
        finally:
            deadline.cancel()

    waiters = [threading.Thread(target=first) for _ in range(3)]
    for thread in waiters:
        thread.start()
    assert not settle(lambda: pending_lookups() != 1, wait=2.0)
    time.sleep(0.3)  # the three are waiting on the one lookup
    assert dns.calls == [name]
    dns.release.set()
    for thread in waiters:
        thread.join(5)
    assert len(results) == 3
    assert all(results)
    assert pending_lookups() == 0
    deadline = FetchDeadline(1.0)
    try:
        assert resolve(name, 80, deadline)
    finally:
        deadline.cancel()
    assert dns.calls == [name, name]


def test_fetches_racing_lookups_that_end_all_get_a_fresh_answer_and_wake(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A short race (6 threads x 25 lookups of one name, each lookup 3 ms): every call is
    answered well within its deadline (no lost wakeup), and by a lookup that was still
    running when the call began (no answer of one that ended earlier)."""
    real = socket.getaddrinfo
    name = "race.review10.test"
    lock = threading.Lock()
    ended: dict[int, float] = {}

    def scripted(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        with lock:
            generation = len(ended) + 1
            ended[generation] = float("inf")
        time.sleep(0.003)
        ended[generation] = time.monotonic()
        return real(f"127.0.{generation // 250}.{generation % 250 + 1}", port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", scripted)
    stale: list[float] = []
    failures: list[BaseException] = []

    def worker() -> None:
        for _ in range(25):
            began = time.monotonic()
            deadline = FetchDeadline(2.0)
            try:
                address = resolve(name, 80, deadline)[0][4][0]
            except BaseException as exc:
                failures.append(exc)
                continue
            finally:
                deadline.cancel()
            _, _, third, fourth = address.split(".")
            generation = int(third) * 250 + int(fourth) - 1
            if ended[generation] < began - 0.25:  # ended long before this call began
                stale.append(began - ended[generation])
            if time.monotonic() - began > 1.0:
                failures.append(TimeoutError("slow wake-up"))

    workers = [threading.Thread(target=worker) for _ in range(6)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(20)
    assert not failures, failures[:3]
    assert not stale, stale[:3]
    assert not settle(lookup_threads)
    assert pending_lookups() == 0


def test_each_waiter_gets_its_own_failure(dns: ScriptedResolver) -> None:
    """Waiters of one failed lookup each raise their own copy: changing one (its errno, a
    note, its cause) changes no other."""
    name = "fails.review10.test"
    dns.answer(name, delays=[None], error=socket.gaierror(socket.EAI_NONAME, "scripted"))
    caught: list[BaseException] = []

    def wait() -> None:
        deadline = FetchDeadline(3.0)
        try:
            resolve(name, 443, deadline)
        except BaseException as exc:
            caught.append(exc)
        finally:
            deadline.cancel()

    waiters = [threading.Thread(target=wait) for _ in range(3)]
    for thread in waiters:
        thread.start()
    assert not settle(lambda: pending_lookups() != 1, wait=2.0)
    time.sleep(0.3)  # the three are waiting on the one lookup
    dns.release.set()
    for thread in waiters:
        thread.join(5)
    assert len(caught) == 3
    assert len({id(exc) for exc in caught}) == 3
    assert all(type(exc) is socket.gaierror and exc.errno == socket.EAI_NONAME for exc in caught)
    mine, *others = caught
    mine.errno = 999
    mine.add_note("seen by one waiter")
    mine.__cause__ = RuntimeError("mine")
    for other in others:
        assert other.errno == socket.EAI_NONAME
        assert not getattr(other, "__notes__", None)
        assert other.__cause__ is None


def test_a_child_forked_while_a_thread_holds_the_lookup_lock_can_still_fetch(
    dns: ScriptedResolver,
) -> None:
    """fork() while another thread is inside the lookup table's lock (a fetch starting at
    that moment): the child gets a fresh lock and table, so its own fetch is answered
    instead of blocking for ever on a lock whose holder does not exist there."""
    import secauth._fetch_connect as connect

    dns.answer("localhost", "127.0.0.1")
    server = Server(answer_jwks())
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with connect._lock:
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(5)
    try:
        report = fetch_in_a_forked_child(
            lambda: get(server.url(host="localhost"), 1.0), wait=5
        )
    finally:
        release.set()
        holder.join(5)
        server.close()
    assert report.startswith("ok"), report
