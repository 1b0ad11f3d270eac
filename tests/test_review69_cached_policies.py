"""Review 69: cached authorizer policies (``Authorizer(..., cache_ttl > 0)``) attacked again.

The property: every method ARN a cached policy allows, judged by the offline IAM simulator
``@cloud-copilot/iam-simulate`` (``test_iam_simulate_crosscheck.simulate``), is a request
``Routes.decide`` allows for the same principal; and API Gateway, which reuses the answer
for every request of the same identity source, never runs a route the table denies.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour:

* HTTP APIs deliver the route ARN percent-decoded while they select the route on the path
  as sent (the project's model, reviews 33 and 35). ``GET /users/a%2Fb`` runs
  ``GET /users/{id}`` (admin only) with ``id="a/b"``, and its route ARN is
  ``.../GET/users/a/b``: exactly what the plan cached for any other request of the token
  allows (``GET/users/*/*``, from ``GET /users/{id}/{sub}``). The authorizer refuses that
  event when it is asked (``Target.also``), but with a result cache it is not asked.

The attacks that held are plain tests. Real objects and events; no mocks.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest
from test_iam_simulate_crosscheck import simulate

from secauth import Authorizer, Routes
from secauth.access import AccessContext, Denial, Rule, authenticated, public, roles, tenant
from secauth.errors import ConfigurationError, Reason
from secauth.policy import PolicyDocument, Statement
from secauth.principal import ClaimMapper, Principal
from secauth.testing import KeyPair
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    method_arn,
    request_authorizer,
    token_authorizer,
)
from secauth.verifier import JwtVerifier

ISS, AUD = "https://idp.review69.example/", "api"
PAIR = KeyPair.generate("ES256", kid="r69")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
MAPPER = ClaimMapper(tenant_claim="tenant")
PLAIN = ClaimMapper()


def mapper(claims: Mapping[str, Any]) -> ClaimMapper:
    """The tenant claim is required once configured: tokens without one use PLAIN."""
    return MAPPER if "tenant" in claims else PLAIN


def jwt(sub: str, **claims: Any) -> str:
    return PAIR.sign({"iss": ISS, "aud": AUD, "sub": sub, "exp": 4_000_000_000, **claims})


def who(sub: str, **claims: Any) -> Principal:
    """The principal the authorizer maps ``jwt(sub, **claims)`` to."""
    body = {"iss": ISS, "aud": AUD, "sub": sub, "exp": 4_000_000_000, **claims}
    return mapper(claims).map(body)


def document(response: dict[str, Any]) -> PolicyDocument:
    statements = response["policyDocument"]["Statement"]
    return PolicyDocument([Statement(s["Effect"], s["Resource"]) for s in statements])


def cached(
    routes: Routes, event: dict[str, Any], claims: ClaimMapper = PLAIN, **options: Any
) -> PolicyDocument:
    """The policy a caching authorizer answers ``event`` with (what API Gateway reuses)."""
    authorizer = Authorizer(
        VERIFIER, routes=routes, claims=claims, cache_ttl=300, decision_log=None, **options
    )
    return document(authorizer.handler(event, None))


def paths(alphabet: Iterable[str], longest: int) -> list[str]:
    words = sorted(set(alphabet))
    out = []
    for count in range(longest + 1):
        out += ["/" + "/".join(p) for p in itertools.product(words, repeat=count)]
    return out


def simulated_over_allows(
    routes: Routes,
    principal: Principal,
    policy: PolicyDocument,
    candidates: Sequence[str],
    verbs: Sequence[str],
    *,
    stage: str = "prod",
) -> tuple[list[str], int]:
    """The ``VERB /path`` the simulator says ``policy`` allows and ``decide`` denies, and
    how many requests the policy allowed at all."""
    asked = [(verb, path) for path in candidates for verb in verbs]
    verdicts = simulate([(policy, method_arn(v, p, stage=stage)) for v, p in asked])
    over = [
        f"{v} {p}"
        for (v, p), allowed in zip(asked, verdicts, strict=True)
        if allowed and not routes.decide(principal, v, p).allowed
    ]
    return over, sum(verdicts)


# =============================================================================================
# FINDING: an HTTP API's decoded route ARN under a result cache
# =============================================================================================

SHIFT = Routes({"GET /users/{id}/{sub}": authenticated(), "GET /users/{id}": roles("admin")})


def _http(kind: str, path: str, route: str, params: dict[str, str], token: str) -> dict[str, Any]:
    if kind == "v2":
        return http_authorizer_v2("GET", path, route_key=f"GET {route}", path_params=params,
                                  token=token)  # fmt: skip
    return http_authorizer_v1("GET", path, resource=route, path_params=params, token=token)


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_asked_directly_the_authorizer_refuses_the_shifted_admin_route(kind: str) -> None:
    """The control: without a result cache the event for ``GET /users/a%2Fb`` (route
    ``GET /users/{id}``, ``id="a/b"``, ARN ``GET/users/a/b``) is denied."""
    eve = jwt("eve")
    authorizer = Authorizer(VERIFIER, routes=SHIFT, cache_ttl=300, decision_log=None)
    shifted = _http(kind, "/users/a/b", "/users/{id}", {"id": "a/b"}, eve)
    answer = document(authorizer.handler(shifted, None))
    arn = shifted.get("routeArn") or shifted["methodArn"]
    assert simulate([(answer, arn)]) == [False]


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_a_cached_http_api_plan_never_serves_an_encoded_slash_request_on_a_denied_route(
    kind: str,
) -> None:
    """Eve (no admin role) first calls ``GET /users/x/y`` (allowed); API Gateway caches the
    answer under her token. She then sends ``GET /users/a%2Fb``: the HTTP API runs
    ``GET /users/{id}`` (admin only) with ``id="a/b"``, and the route ARN it evaluates the
    cached policy on is ``.../GET/users/a/b``. That cached policy must not allow it."""
    eve = jwt("eve")
    first = _http(kind, "/users/x/y", "/users/{id}/{sub}", {"id": "x", "sub": "y"}, eve)
    policy = cached(SHIFT, first)
    shifted = _http(kind, "/users/a/b", "/users/{id}", {"id": "a/b"}, eve)
    arn = shifted.get("routeArn") or shifted["methodArn"]
    first_arn = first.get("routeArn") or first["methodArn"]
    # Fixed: cached under her token alone, the answer opens nothing, not even her request.
    assert simulate([(policy, arn), (policy, first_arn)]) == [False, False]
    # Cached per route ($context.routeKey an identity source), the shifted request is a
    # cache miss: the authorizer is asked, and refuses the route it ran.
    covered = Authorizer(
        VERIFIER, routes=SHIFT, claims=PLAIN, cache_ttl=300, decision_log=None,
        cache_key_covers_route=True,
    )  # fmt: skip
    assert simulate([(document(covered.handler(first, None)), first_arn)]) == [True]
    assert simulate([(document(covered.handler(shifted, None)), arn)]) == [False]


def test_an_http_api_with_cache_ttl_needs_its_cache_keyed_by_route() -> None:
    """Known to be an HTTP API (``api="http"``), caching without the route in the key is
    refused when the authorizer is built; a REST authorizer needs no such thing."""
    with pytest.raises(ConfigurationError, match=r"\$context.routeKey"):
        Authorizer(VERIFIER, routes=SHIFT, cache_ttl=300, api="http")
    Authorizer(VERIFIER, routes=SHIFT, cache_ttl=300, api="http", cache_key_covers_route=True)
    Authorizer(VERIFIER, routes=SHIFT, cache_ttl=300, api="rest")


# =============================================================================================
# HELD: combinators, negations and tenant bindings in cached plans
# =============================================================================================

COMBINED = Routes(
    {
        "GET /t/{tid}/docs/{id}": tenant(path="tid") & ~roles("suspended"),
        "DELETE /t/{tid}/docs/{id}": tenant(path="tid") & roles("editor"),
        "ANY /t/{tid}/{proxy+}": roles("admin") | tenant(path="tid"),
        "GET /t/{tid}/audit": ~(roles("member") | roles("guest")),
        "GET /public/{proxy+}": public(),
    }
)
COMBINED_WORDS = ("t", "acme", "globex", "docs", "audit", "public", "ACME")


@pytest.mark.parametrize(
    "claims",
    [
        {"tenant": "acme", "roles": ["member"]},
        {"tenant": "acme", "roles": ["member", "suspended", "editor"]},
        {"tenant": "globex", "roles": ["admin"]},
        {"roles": ["guest"]},
    ],
    ids=["member", "suspended-editor", "admin-elsewhere", "guest-no-tenant"],
)
def test_combined_and_negated_rules_never_widen_a_cached_plan(claims: dict[str, Any]) -> None:
    """``&``, ``|`` and ``~`` over tenant and role rules: the simulator allows nothing
    ``decide`` denies, on paths over the table's words and neighbours of them."""
    principal = who("u1", **claims)
    event = token_authorizer("GET", "/public/x", token=jwt("u1", **claims))
    policy = cached(COMBINED, event, mapper(claims))
    over, allowed = simulated_over_allows(
        COMBINED, principal, policy, paths(COMBINED_WORDS, 4), ("GET", "DELETE")
    )
    assert over == []
    assert allowed > 0  # the public route at least


def test_a_negated_tenant_rule_is_refused_under_a_blind_result_cache() -> None:
    """``~tenant(path=...)`` allows every other tenant's path: no plan can name that, so
    a caching authorizer refuses the table rather than granting it per first request."""
    routes = Routes({"POST /t/{tid}/docs": ~tenant(path="tid")})
    assert routes.decide(who("u2", tenant="globex"), "POST", "/t/acme/docs").allowed
    # A caller without a tenant is no "other tenant": undecided, refused (review 87).
    assert not routes.decide(who("u2"), "POST", "/t/acme/docs").allowed
    with pytest.raises(ConfigurationError, match="depend on the request"):
        Authorizer(VERIFIER, routes=routes, cache_ttl=300, decision_log=None)


# =============================================================================================
# HELD: IAM-relevant punctuation in route literals, verbs, greedy overlaps
# =============================================================================================

PUNCTUATED = Routes(
    {
        "GET /a$/{id}": roles("admin"),
        "GET /$/{id}": roles("admin"),
        "GET /it's/{id}": roles("admin"),
        "GET /x(1)/{id}": roles("admin"),
        "GET /p+q/{id}": roles("admin"),
        "GET /k=v&w/{id}": roles("admin"),
        "GET /@me/{id}": roles("admin"),
        "GET /{proxy+}": authenticated(),
    }
)
PUNCT_WORDS = ("a$", "$", "a", "it's", "x(1)", "x1", "p+q", "k=v&w", "@me", "7", "anything")


def test_punctuated_literals_in_front_of_a_catch_all_stay_denied() -> None:
    """``$``, ``'``, ``(``, ``+``, ``=``, ``&`` and ``@`` are literal characters for IAM
    (only ``*``, ``?`` and ``${`` are not): a plan for the catch-all never covers them."""
    principal = who("u3")
    policy = cached(PUNCTUATED, token_authorizer("GET", "/anything", token=jwt("u3")))
    over, allowed = simulated_over_allows(PUNCTUATED, principal, policy, paths(PUNCT_WORDS, 2),
                                          ("GET",))  # fmt: skip
    assert over == []
    assert allowed > 0  # the first request's own ARN at least


VERBY = Routes(
    {
        "ANY /files/{proxy+}": authenticated(),
        "OPTIONS /files/admin": roles("admin"),
        "HEAD /files/{id}": roles("admin"),
        "DELETE /files/{id}/{rev}": roles("admin"),
        "ANY /": authenticated(),
    }
)


def test_head_options_and_verb_specific_routes_under_an_any_catch_all() -> None:
    """An exact verb beats ``ANY``: the plan for ``ANY /files/{proxy+}`` spells the verbs
    out and denies the stricter HEAD, OPTIONS and DELETE routes, at the root too."""
    principal = who("u4")
    policy = cached(VERBY, token_authorizer("GET", "/files/a", token=jwt("u4")))
    verbs = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
    over, allowed = simulated_over_allows(
        VERBY, principal, policy, paths(("files", "admin", "a", "b", "Admin"), 3), verbs
    )
    assert over == []
    assert simulate([(policy, method_arn("HEAD", "/files/a")),
                     (policy, method_arn("GET", "/files/a/b"))]) == [False, True]  # fmt: skip
    assert allowed > 0


# =============================================================================================
# HELD: request kinds, stages, size, custom rules
# =============================================================================================


@pytest.mark.parametrize("kind", ["token", "request", "v1", "v2"])
def test_every_policy_kind_stays_in_its_stage_and_tenant(kind: str) -> None:
    """REST TOKEN and REQUEST, HTTP payload 1.0 and 2.0 (IAM policy): the same plan
    guarantee, and nothing outside the event's own stage."""
    routes = Routes({"ANY /t/{tid}/{proxy+}": tenant(path="tid"), "GET /health": public()})
    token = jwt("u5", tenant="acme")
    stage = "$default" if kind in ("v1", "v2") else "prod"
    params = {"tid": "acme", "proxy": "x"}
    events = {
        "token": lambda: token_authorizer("GET", "/t/acme/x", token=token),
        "request": lambda: request_authorizer("GET", "/t/acme/x", token=token),
        "v1": lambda: http_authorizer_v1(
            "GET", "/t/acme/x", resource="/t/{tid}/{proxy+}", path_params=params, token=token
        ),
        "v2": lambda: http_authorizer_v2(
            "GET", "/t/acme/x", route_key="ANY /t/{tid}/{proxy+}", path_params=params, token=token
        ),
    }
    # HTTP APIs cache per route (review 69's fix): $context.routeKey an identity source
    options = {"cache_key_covers_route": True} if kind in ("v1", "v2") else {}
    policy = cached(routes, events[kind](), MAPPER, **options)
    principal = who("u5", tenant="acme")
    words = ("t", "acme", "globex", "x", "Acme")
    over, allowed = simulated_over_allows(routes, principal, policy, paths(words, 4),
                                          ("GET", "PUT"), stage=stage)  # fmt: skip
    assert over == []
    assert allowed > 0
    elsewhere = "dev" if stage != "dev" else "test"
    assert simulate([(policy, method_arn("GET", "/t/acme/x", stage=elsewhere))]) == [False]


def test_a_principal_granted_too_much_for_the_budget_gets_its_own_arn_only() -> None:
    """A plan over the response budget falls back to the method ARN alone: the cached
    answer opens nothing else, and a denied first request opens nothing at all."""
    table = {f"GET /r{i}/{{id}}/{'x' * 40}": authenticated() for i in range(80)}
    table["GET /secret"] = roles("admin")
    routes = Routes(table)
    token = jwt("u6")
    allowed_first = cached(routes, token_authorizer("GET", f"/r1/7/{'x' * 40}", token=token))
    denied_first = cached(routes, token_authorizer("GET", "/secret", token=token))
    probes = [method_arn("GET", f"/r{i}/7/{'x' * 40}") for i in (1, 2, 79)]
    probes.append(method_arn("GET", "/secret"))
    assert simulate([(allowed_first, arn) for arn in probes]) == [True, False, False, False]
    assert simulate([(denied_first, arn) for arn in probes]) == [False] * 4


class _LateOwner(Rule):
    """Owner-only, with bindings that are honest: the principal's id bound to ``{uid}``,
    and a user id no segment can name granted nothing."""

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        if context.params.get("uid") == principal.id:
            return None
        return Denial(Reason.FORBIDDEN, "not the owner")

    def bindings(self, principal: Principal) -> list[dict[str, str]]:
        return [{"uid": principal.id}]


@pytest.mark.parametrize("sub", ["ann", "a*", "x/y", "${aws:username}", "ann;x"])
def test_a_custom_binding_with_iam_metacharacters_opens_nothing_else(sub: str) -> None:
    """A subject bound into a path (``{uid}``) that IAM or a servlet would read as more
    than itself is granted nothing by the plan; the plain one covers its own paths only."""
    routes = Routes({"GET /u/{uid}/files/{proxy+}": _LateOwner(), "GET /ping": public()})
    principal = who(sub)
    policy = cached(routes, token_authorizer("GET", "/ping", token=jwt(sub)))
    words = ("u", "ann", "anna", "files", "f", "ping")
    over, _ = simulated_over_allows(routes, principal, policy, paths(words, 4), ("GET",))
    assert over == []
    own = simulate([(policy, method_arn("GET", "/u/ann/files/f"))])
    assert own == [sub == "ann"]
