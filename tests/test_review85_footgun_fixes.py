"""Review 85: review 83's configuration foot-gun fixes (56adb32) attacked. Real objects only
(KeyPair, secauth.testing_events, Powertools' resolver); no network.

All ten findings are resolved after the review (the tests assert it). In the code:
``trust_authorizer`` is a flag; ``~rule`` answers the anonymous principal three-valued
(``rules._without_identity``): refused where the inner rule turns on who the caller is
(roles, scopes, a tenant), answered as for anyone where it does not (``~caller_arn``,
``~authenticated()``, ``~~public()``); a missing path parameter counts only where it changes
what the rule allows (``rules.missing_parameters``: never inside an ``|`` arm beside one that
can allow, always under ``~``), also for a guard's own rule; ``source_ip`` lists,
``PolicyBuilder(routes=)``, ``disabled`` and ``from_discovery(jwks_options=)`` are checked.
In the docs: a custom rule decides the anonymous principal itself (access.md).

Finding (medium): ``Guard(trust_authorizer=...)`` is still read for its truth. Fix 1 made every
flag of a public constructor ``True`` or ``False`` but skipped this one (``Guard.__init__`` only
replaces ``None``; ``check_context_without_token`` and ``_context_principal`` test its truth).
``Guard(verifier, trust_authorizer="false")`` (a setting read from the environment as it is)
trusts authorizer contexts: a WebSocket message carrying a context written by anyone who may
invoke the function (``roles=["admin"]``), and no token, runs an admin-only route as that
principal, where ``trust_authorizer=False`` answers 401. Without a verifier, ``"false"``
builds a trust-only guard instead of the "needs a verifier" ConfigurationError.

Finding (low): fix 2 is narrow. Only ``_Not`` refuses the anonymous principal; the same
negation written as a function rule (``rule(lambda p, c: "suspended" not in p.roles)``) or a
custom ``Rule`` still makes the route public in a ``Guard`` (``anonymous_if_public`` admits
whatever a rule's ``check`` allows for ``Principal.anonymous()``), while an ``Authorizer`` on
the same table answers 401: review 83's Guard/Authorizer disagreement remains for them.

Finding (low, regression): ``~rule`` now refuses the anonymous principal even when the inner
rule reads the request, not the principal. A Guard's IAM (SigV4) and mTLS callers come without
tokens, as the anonymous principal, so ``caller_arn("arn:...:*") &
~caller_arn("arn:...:role/blocked")`` (every role of the account but one; ``caller_arn`` and
``client_cert`` have no deny list) now answers 401 to every IAM caller. The fix's reason (no
roles, scopes or tenant to lack) holds for principal rules only (``rules._Not.check``).

Finding (low, regression): ``access._check_parameters`` refuses a rule reading a path parameter
its route lacks even inside ``|``, where another arm can allow: ``roles("admin") |
tenant(path="tenantId")`` shared by ``/t/{tenantId}`` and ``/stats`` was a working table (admins
on ``/stats``) and now raises "the rule could never allow", which is false
(``Rule.path_parameters`` collects every arm of ``_Any``).

Finding (low): ``~authenticated()`` (a sign-up route for callers without credentials) now never
allows anyone, silently: a signed-in caller fails the inner rule and the anonymous one is
refused by ``_Not``; unlike the other rules that could never allow, ``Routes`` accepts it.

Finding (low): ``source_ip(allow=, deny=)`` does not use ``options.names``: a lone string fails
with "'1' does not appear to be an IPv4 or IPv6 network", and bytes are iterated as integers,
each an address (``deny=b"10.0.0.0/8"`` denies ``0.0.0.49`` and the like, nobody real).

Finding (low): ``PolicyBuilder(routes="GET")`` is read as three WebSocket keys (``G``, ``E``,
``T``) and accepted; ``routes="GET /a"`` fails on "route ' '" (``policy.builder``:
``tuple(routes)``, no ``names``).

Finding (low, fails closed): ``Guard(rule=...)`` and ``Guard.require(...)`` with a rule reading
a path parameter that no route of the guard's table has are accepted; the handler then never
runs (403). ``Routes`` refuses the same rule on a route (``Guard.require`` checks nothing).

Finding (low, fails closed): ``DynamoDBApiKeys.item(..., disabled="false")`` (and
``SecretsManagerApiKeys.fields``) write a disabled key: ``disabled`` is read for its truth.

Finding (low, unclear error): ``JwtVerifier.from_discovery(jwks_options={"allow_http": True})``
or ``{"discovery_issuer": ...}`` raise a bare ``TypeError``; the presets fix refuses
``jwks``/``jwks_uri``/``secret`` only.

Held: ``~roles``, ``~~roles``, ``public() & ~roles``, a negated ``default`` rule,
WebSocket ``$connect``/messages/``$default`` and Powertools global and route guards (a route
table, ``require(~rule)``) all answer 401 to a caller without credentials; ``public() | ~rule``,
``public()``, ``caller_arn``, ``client_cert`` and ``source_ip`` routes still admit one;
``Rule.check``, ``Rule.bindings``, ``Routes.decide`` and ``allowed_routes`` agree for the
anonymous principal and for signed-in ones on every negation tried, and the Authorizer's cached
policy matches ``decide`` (``~roles``, ``tenant(path="proxy")`` on ``{proxy+}``). The path
parameter check reaches ``&``/``|``/``~`` at any depth, the ``default`` rule and WebSocket keys,
and names ``{proxy+}`` as ``proxy``; ``$Connect``/``$DEFAULT``/``$DisConnect`` are refused, custom
keys of any case kept; ``scopes("a b")``/``("a\\tb")`` refused; a Guard's refusal of an event it
cannot read varies on ``Origin``.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

import secauth.testing_events as te
from secauth import (
    Authorizer,
    Cors,
    Guard,
    JwtVerifier,
    PolicyBuilder,
    Routes,
    authenticated,
    public,
    roles,
    scopes,
    tenant,
)
from secauth.access import caller_arn, client_cert, source_ip
from secauth.api_keys import ApiKeyEntry
from secauth.dynamodb_api_keys import DynamoDBApiKeys
from secauth.errors import ConfigurationError, Reason
from secauth.integrations.powertools import guard_middleware
from secauth.policy import Unauthorized
from secauth.principal import ClaimMapper, Principal
from secauth.routing import parse_route_key
from secauth.rules import AccessContext, Denial, Rule, rule
from secauth.testing import KeyPair
from secauth.testing_policy import iam_allows, method_arn

ISS = "https://idp.example.com/"
PAIR = KeyPair.generate("ES256", kid="k1")
VERIFIER = JwtVerifier(issuer=ISS, audience="api", jwks={"keys": [PAIR.public_jwk]})
ACCOUNT_ROLE = "arn:aws:iam::123456789012:role/"


def token(**claims: Any) -> str:
    return PAIR.sign({"iss": ISS, "aud": "api", "sub": "ann", "exp": 4_000_000_000, **claims})


def run(guard: Guard, event: dict[str, Any]) -> int:
    """The status a guarded handler answers ``event`` with (200: it ran)."""
    handler = guard(lambda event, context, principal: {"statusCode": 200, "body": principal.id})
    return int(handler(event, None)["statusCode"])


def guard(routes: Routes, **options: Any) -> Guard:
    return Guard(VERIFIER, routes=routes, decision_log=None, **options)


def rest(path: str = "/feed", **sent: Any) -> dict[str, Any]:
    return te.rest_proxy("GET", path, resource=path, **sent)


def iam_event(arn: str) -> dict[str, Any]:
    event = rest()
    event["requestContext"]["identity"]["userArn"] = arn
    return event


def forged_message(route_key: str, principal: Principal) -> dict[str, Any]:
    """A WebSocket message whose authorizer context nobody's authorizer wrote."""
    event = te.websocket_message(route_key, "{}")
    event["requestContext"]["authorizer"] = {"principalId": principal.id, **principal.to_context()}
    return event


def websocket_event(route_key: str, event_type: str) -> dict[str, Any]:
    event = te.websocket_message(route_key, "{}")
    event["requestContext"]["eventType"] = event_type
    return event


def authorizer_answer(authorizer: Authorizer, event: dict[str, Any]) -> str:
    try:
        answer = authorizer.handler(event, None)
    except Unauthorized:
        return "401"
    return str(answer["policyDocument"]["Statement"][0]["Effect"])


class NotSuspended(Rule):
    """A negation as a user may write it: a custom rule."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        return None if "suspended" not in principal.roles else Denial(Reason.FORBIDDEN, "suspended")


# fmt: off
def test_guard_trust_authorizer_is_a_flag() -> None:
    routes = Routes({"$connect": authenticated(), "sendmessage": roles("admin")})
    mallory = Principal("mallory", roles={"admin"}, claims={"exp": 4_000_000_000})
    try:
        lenient = guard(routes, trust_authorizer="false")
    except ConfigurationError:
        return  # refused, as every other flag is
    assert run(lenient, forged_message("sendmessage", mallory)) == 401


@pytest.mark.parametrize("not_suspended", [
    rule(lambda principal, context: "suspended" not in principal.roles), NotSuspended(),
], ids=["rule_fn", "subclass"])
def test_a_negation_as_a_function_asks_for_a_token(not_suspended: Rule) -> None:
    """Resolved in the docs (access.md, Custom rules): a custom rule decides the anonymous
    principal itself, as it may authenticate the request on its own (an HMAC header); one
    that allows it makes its route public in a Guard. The Authorizer always asks for
    credentials."""
    routes = Routes({"GET /feed": not_suspended})
    authorizer = Authorizer(VERIFIER, routes=routes, decision_log=None)
    assert authorizer_answer(authorizer, te.request_authorizer("GET", "/feed")) == "401"
    assert run(guard(routes), rest()) == 200  # the rule allowed the anonymous principal


def test_negated_caller_arn_admits_the_other_iam_callers() -> None:
    routes = Routes({"GET /feed": caller_arn(ACCOUNT_ROLE + "*") & ~caller_arn(ACCOUNT_ROLE + "blocked")})
    assert run(guard(routes), iam_event(ACCOUNT_ROLE + "blocked")) != 200
    assert run(guard(routes), iam_event(ACCOUNT_ROLE + "deployer")) == 200


def test_a_rule_whose_other_arm_allows_is_not_refused() -> None:
    admin_or_owner = roles("admin") | tenant(path="tenantId")
    routes = Routes({"GET /t/{tenantId}": admin_or_owner, "GET /stats": admin_or_owner})
    assert routes.decide(Principal("a", roles={"admin"}), "GET", "/stats").allowed


def test_negated_authenticated_is_refused_or_admits_anonymous() -> None:
    try:
        routes = Routes({"POST /signup": ~authenticated()})
    except ConfigurationError:
        return  # refused, as other rules that could never allow are
    signup = te.rest_proxy("POST", "/signup", resource="/signup")
    assert run(guard(routes), signup) == 200


def test_source_ip_lists_are_lists_of_names() -> None:
    with pytest.raises(ConfigurationError, match="deny must be a list of strings"):
        source_ip(deny=b"10.0.0.0/8")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="deny must be a list of strings"):
        source_ip(deny="10.0.0.0/8")


def test_policy_builder_routes_are_not_one_string() -> None:
    for lone in ("GET", "GET /a"):
        with pytest.raises(ConfigurationError, match="routes must be a list"):
            PolicyBuilder(cache_ttl=300, routes=lone)


def test_guard_rule_reading_a_missing_path_parameter_is_refused() -> None:
    routes = Routes({"GET /t/{tenantId}/orders": authenticated()})
    with pytest.raises(ConfigurationError, match="tenant_id"):
        guard(routes).require(tenant(path="tenant_id"))
    with pytest.raises(ConfigurationError, match="tenant_id"):
        guard(routes, rule=tenant(path="tenant_id"))


def test_api_key_item_disabled_is_a_flag() -> None:
    with pytest.raises(ConfigurationError, match="disabled must be True or False"):
        DynamoDBApiKeys.item("k" * 32, ApiKeyEntry("partner"), disabled="false")  # type: ignore[arg-type]


@pytest.mark.parametrize("options", [{"allow_http": True}, {"discovery_issuer": "https://x.example/"}])
def test_from_discovery_refuses_jwks_options_it_sets(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        JwtVerifier.from_discovery(ISS, audience="api", jwks_options=options)
# fmt: on


# -- what held ---------------------------------------------------------------------------------


def test_guard_refuses_forged_message_context_with_a_real_false() -> None:
    routes = Routes({"$connect": authenticated(), "sendmessage": roles("admin")})
    mallory = Principal("mallory", roles={"admin"}, claims={"exp": 4_000_000_000})
    assert run(guard(routes, trust_authorizer=False), forged_message("sendmessage", mallory)) == 401
    with pytest.raises(ConfigurationError, match="needs a verifier"):
        Guard(trust_authorizer=False, routes=routes)


@pytest.mark.parametrize(
    "negation",
    [
        ~roles("suspended"),
        ~~roles("member"),
        public() & ~roles("banned"),
        ~tenant(path="feedId"),
        ~(roles("a") | ~scopes("s")),
        authenticated() | ~roles("x"),
    ],
    ids=repr,
)
def test_a_negation_asks_a_caller_without_credentials_for_a_token(negation: Rule) -> None:
    routes = Routes({"GET /feed/{feedId}": negation, "GET /health": public()})
    event = te.rest_proxy("GET", "/feed/7", resource="/feed/{feedId}", path_params={"feedId": "7"})
    assert run(guard(routes), event) == 401
    assert run(guard(routes), rest("/health")) == 200


@pytest.mark.parametrize("negation", [~~public(), ~authenticated(), ~source_ip(allow=["10.0.0.0/8"])],
                         ids=repr)  # fmt: skip
def test_a_negation_known_without_identity_admits_a_caller_without_credentials(
    negation: Rule,
) -> None:
    """Added with the fix: where the inner rule does not turn on who the caller is (public(),
    authenticated(), the request's address), ~ answers the anonymous principal as anyone."""
    routes = Routes({"GET /feed/{feedId}": negation})
    event = te.rest_proxy("GET", "/feed/7", resource="/feed/{feedId}", path_params={"feedId": "7"})
    assert run(guard(routes), event) == 200


def test_a_negated_default_rule_and_websocket_keys_ask_for_a_token() -> None:
    assert run(guard(Routes({"GET /x": public()}, default=~roles("x"))), rest()) == 401
    table = {"$connect": ~roles("banned"), "sendmessage": ~roles("x"), "$default": ~roles("x")}
    for event in (
        websocket_event("$connect", "CONNECT"),
        websocket_event("sendmessage", "MESSAGE"),
        websocket_event("typing", "MESSAGE"),
    ):
        assert run(guard(Routes(table)), event) == 401


def test_public_and_request_identified_routes_still_admit_callers_without_tokens() -> None:
    assert run(guard(Routes({"GET /feed": public() | ~roles("x")})), rest()) == 200
    assert run(guard(Routes({"GET /feed": public()})), rest()) == 200
    assert run(guard(Routes({"GET /feed": source_ip(deny=["10.0.0.0/8"])})), rest()) == 200
    iam = Routes({"GET /feed": caller_arn(ACCOUNT_ROLE + "deployer-*")})
    assert run(guard(iam), iam_event(ACCOUNT_ROLE + "deployer-1")) == 200
    assert run(guard(iam), iam_event(ACCOUNT_ROLE + "other")) == 401
    mtls = rest()
    mtls["requestContext"]["identity"]["clientCert"] = {"subjectDN": "CN=a", "issuerDN": "CN=ca"}
    assert run(guard(Routes({"GET /feed": client_cert(subjects=["CN=a"])})), mtls) == 200
    signed_in = rest(token=token())
    assert run(guard(Routes({"GET /feed": ~roles("suspended")})), signed_in) == 200


def powertools_status(global_guard: Guard, route_guard: Guard | None, event: dict[str, Any]) -> int:
    app = APIGatewayRestResolver()
    app.use(middlewares=[guard_middleware(global_guard)])
    middlewares = [guard_middleware(route_guard)] if route_guard is not None else []

    @app.get("/feed", middlewares=middlewares)
    def feed() -> dict[str, bool]:
        return {"ok": True}

    return int(app.resolve(event, None)["statusCode"])


def test_powertools_guards_ask_a_caller_without_credentials_for_a_token() -> None:
    negated = Routes({"GET /feed": ~roles("suspended")})
    assert powertools_status(guard(negated), None, rest()) == 401
    assert powertools_status(guard(negated), None, rest(token=token())) == 200
    everything_public = guard(Routes({"ANY /{proxy+}": public()}))
    assert powertools_status(everything_public, guard(negated), rest()) == 401
    assert (
        powertools_status(everything_public, everything_public.require(~roles("x")), rest()) == 401
    )
    assert powertools_status(everything_public, None, rest()) == 200


RULES = [
    ~roles("x"),
    ~~roles("x"),
    ~~public(),
    ~authenticated(),
    ~tenant(path="t"),
    public() & ~roles("x"),
    public() | ~roles("x"),
    ~(roles("a") & tenant(path="t")),
    ~(roles("a") | tenant(path="t")),
    roles("a") | ~scopes("s"),
    tenant(path="t") & ~roles("b"),
]
PRINCIPALS = [
    Principal.anonymous(),
    Principal("u"),
    Principal("a", roles={"a"}, tenant="acme"),
    Principal("b", roles={"b"}, scopes={"s"}, tenant="acme"),
]


@pytest.mark.parametrize("principal", PRINCIPALS, ids=lambda p: p.id)
@pytest.mark.parametrize("negation", RULES, ids=repr)
def test_check_bindings_decide_and_allowed_routes_agree(
    negation: Rule, principal: Principal
) -> None:
    routes = Routes({"GET /t/{t}": negation})
    allowed = {(r.verb, r.path) for r in routes.allowed_routes(principal)}
    bindings = negation.bindings(principal)
    for value in ("acme", "globex"):
        path = f"/t/{value}"
        decided = routes.decide(principal, "GET", path).allowed
        checked = negation.check(principal, AccessContext("GET", path, {"t": value}, None)) is None
        assert decided == checked
        if bindings is not None:
            by_bindings = any(all({"t": value}.get(k) == v for k, v in b.items()) for b in bindings)
            assert by_bindings == checked
            assert (("GET", path) in allowed or ("GET", "/t/{t}") in allowed) == checked


def test_the_authorizers_cached_policy_matches_the_table() -> None:
    routes = Routes({
        "ANY /t/{proxy+}": tenant(path="proxy"),
        "GET /feed": ~roles("suspended"),
        "GET /admin": ~~roles("admin"),
        "GET /health": public(),
    })  # fmt: skip
    claims = ClaimMapper(tenant_claim="tenant")
    authorizer = Authorizer(
        VERIFIER, routes=routes, cache_ttl=300, claims=claims, decision_log=None
    )
    answer = authorizer.handler(te.token_authorizer("GET", "/t/acme", token=token(tenant="acme")))
    ann = Principal("ann", tenant="acme")
    for path in ("/t/acme", "/t/acme/x", "/t/globex", "/feed", "/admin", "/health"):
        cached = iam_allows(answer["policyDocument"], method_arn("GET", path))
        assert cached == routes.decide(ann, "GET", path).allowed, path


def test_the_path_parameter_check_reaches_every_combinator() -> None:
    deep = roles("a") & (scopes("s") | ~(roles("b") & ~tenant(path="tenantId")))
    with pytest.raises(ConfigurationError, match="'tenantId'"):
        Routes({"GET /t/{tenant_id}": deep})
    with pytest.raises(ConfigurationError, match="the default rule"):
        Routes({"GET /a": public()}, default=~tenant(path="t"))
    with pytest.raises(ConfigurationError, match="'t'"):
        Routes({"$connect": tenant(path="t")})
    with pytest.raises(ConfigurationError, match="'proxy\\+'"):
        Routes({"ANY /{proxy+}": tenant(path="proxy+")})
    assert Routes({"ANY /{proxy+}": tenant(path="proxy")}).match("GET", "/acme").params == {
        "proxy": "acme"
    }
    assert len(Routes({"GET /t/{tenantId}": deep, "GET /b": tenant(header="x-tenant")})) == 2


@pytest.mark.parametrize("key", ["$Connect", "$DEFAULT", "$DisConnect", "$CONNECT"])
def test_case_variants_of_predefined_keys_are_refused(key: str) -> None:
    with pytest.raises(ConfigurationError, match="lower case"):
        parse_route_key(key)


def test_predefined_and_custom_keys_are_kept() -> None:
    for key in ("$connect", "$disconnect", "$default", "sendMessage", "SendMessage"):
        assert parse_route_key(key).key == key


@pytest.mark.parametrize("name", ["a b", "a\tb", " a", "a\n"])
def test_a_scope_with_whitespace_is_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match="one scope per name"):
        scopes(name)
    with pytest.raises(ConfigurationError, match="all_of must be True or False"):
        scopes("a", all_of="false")  # type: ignore[arg-type]


@pytest.mark.parametrize("event", [None, [], "not an event", {}, {"headers": "x"}], ids=repr)
def test_a_refusal_of_an_unreadable_event_varies_on_origin(event: Any) -> None:
    cors = Cors(allow_origins=["https://app.example.com"])
    answer = guard(Routes({"GET /a": public()}), cors=cors)(lambda e, c: {"statusCode": 200})(
        event, None
    )
    assert answer["statusCode"] == 400
    headers = answer.get("headers") or {}
    multi = answer.get("multiValueHeaders") or {}
    assert headers.get("Vary") == "Origin" or multi.get("Vary") == ["Origin"]
    assert "Access-Control-Allow-Origin" not in headers
