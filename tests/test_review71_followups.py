"""Review 71: review 70's fix (1235e16) and review 69's (5f7cd70) attacked.

With ``cache_ttl > 0``, an HTTP API authorizer answer (payload 1.0 and 2.0, IAM policies)
names only its own route ARN (``secauth.result_cache.routed_http_api``), needs
``cache_key_covers_route=True`` (API Gateway caching per token and ``$context.routeKey``),
and the real ``$default`` route (verb-less ARN) was allowed only to a principal the table
allows everywhere.

The finding (fixed: a cached ``$default`` answer is now never an Allow):

* "allowed everywhere" read the table's grants, not its refusals: a principal so allowed
  is still refused, afresh, the spellings the table never routes (an empty segment,
  ``..``, ``.``, a trailing ``/``), yet the cached Allow of the ``$default`` ARN (one ARN
  for every path) served them for the TTL.

The attacks that held are plain tests. Real objects and events, the IAM simulator; no mocks.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_iam_simulate_crosscheck import simulate

from secauth import Authorizer, Routes
from secauth.access import authenticated, roles, tenant
from secauth.api_keys import ApiKeyEntry, StaticApiKeys, hash_api_key
from secauth.policy import PolicyDocument, Statement
from secauth.principal import ClaimMapper
from secauth.testing import KeyPair
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    iam_allows,
    method_arn,
    request_authorizer,
    token_authorizer,
    websocket_connect,
)
from secauth.token_sources import TokenSource
from secauth.verifier import JwtVerifier

ISS, AUD = "https://idp.review71.example/", "api"
PAIR = KeyPair.generate("ES256", kid="r71")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/"
DEFAULT_ARN = PREFIX + "$default"
USERS = Routes({
    "GET /users/{id}": authenticated(),
    "GET /users/{id}/{sub}": roles("admin"),
    "DELETE /users/{id}": roles("admin"),
    "ANY /files/{proxy+}": authenticated(),
    "GET /files/{id}/admin": roles("admin"),
    "GET /t/{tid}/orders": tenant(path="tid"),
})  # fmt: skip
OPEN = Routes({"ANY /{proxy+}": authenticated(), "ANY /": authenticated()})


def jwt(sub: str, **claims: Any) -> str:
    return PAIR.sign({"iss": ISS, "aud": AUD, "sub": sub, "exp": 4_000_000_000, **claims})


EVE = jwt("eve", tenant="acme")


def document(response: dict[str, Any]) -> PolicyDocument:
    statements = response["policyDocument"]["Statement"]
    return PolicyDocument([Statement(s["Effect"], s["Resource"]) for s in statements])


def pairs(response: dict[str, Any]) -> list[tuple[str, list[str]]]:
    statements = response["policyDocument"]["Statement"]
    return [(s["Effect"], list(s["Resource"])) for s in statements]


def arn_of(event: dict[str, Any]) -> str:
    return str(event.get("routeArn") or event["methodArn"])


def http(kind: str, method: str, path: str, route: str, params: dict[str, str] | None = None,
         token: str = EVE, **kw: Any) -> dict[str, Any]:  # fmt: skip
    if kind == "v2":
        return http_authorizer_v2(method, path, route_key=route, path_params=params,
                                  token=token, **kw)  # fmt: skip
    resource = route.partition(" ")[2] or route
    return http_authorizer_v1(method, path, resource=resource, path_params=params, token=token,
                              **kw)  # fmt: skip


def default_route(kind: str, method: str, path: str, token: str = EVE) -> dict[str, Any]:
    """A request API Gateway ran on the ``$default`` route: its ARN names no verb, no path."""
    event = http(kind, method, path, "$default", token=token)
    event["routeArn" if kind == "v2" else "methodArn"] = DEFAULT_ARN
    return event


def per_route(routes: Routes = USERS, **options: Any) -> Authorizer:
    return Authorizer(VERIFIER, routes=routes, cache_ttl=300, decision_log=None,
                      cache_key_covers_route=True, claims=ClaimMapper(tenant_claim="tenant"),
                      **options)  # fmt: skip


# =========================================================================================
# FINDING: the $default route's Allow serves the spellings the table refuses
# =========================================================================================


@pytest.mark.parametrize("refused", ["/a//b", "/a/../b", "/a/./b", "/a/"])
def test_the_default_route_allow_never_serves_a_spelling_the_table_refuses(refused: str) -> None:
    """Eve may call every route of ``OPEN`` (allowed everywhere, by the grants). Her first
    request on the ``$default`` route, ``GET /a``, is allowed with the one ``$default``
    ARN, cached per (token, ``$default``). Asked afresh, the table refuses her ``refused``
    (it is no route's spelling: the REST plan carries a Deny for it). Her next request
    ``GET refused`` hits the cache and has the same ARN: it must not be allowed."""
    authorizer = per_route(OPEN)
    first = authorizer.handler(default_route("v2", "GET", "/a"), None)
    fresh = per_route(OPEN).handler(default_route("v2", "GET", refused), None)
    assert not iam_allows(fresh, DEFAULT_ARN)  # the table's own answer: refused
    assert not iam_allows(first, DEFAULT_ARN)  # the cached one for the same ARN


# =========================================================================================
# HELD: one route key, many ARNs; the exact Allow opens only its own
# =========================================================================================


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_a_per_route_answer_opens_only_what_the_table_allows_on_that_route_key(kind: str) -> None:
    """Eve's ``GET /users/x`` (route ``GET /users/{id}``) is allowed and cached per (token,
    route key). Every other request of that route key has another ARN: an encoded ``/``
    (admin route's shape), ``;``, ``..``, case and percent variants, a trailing ``/``,
    HEAD, DELETE (an ``ANY``-less API answering it on the same key), another stage. The
    answer (her plan, less the ARNs longer than the route's) opens only the ones the table
    allows her afresh: another id (``X``, a decoded ``%78``)."""
    first = http(kind, "GET", "/users/x", "GET /users/{id}", {"id": "x"})
    answer = per_route().handler(first, None)
    tails = ("a/b", "x/y", "x;admin", "..", "x/..", "X", "x%2Fy", "x%2fy", "x/", "%78")
    probes = [PREFIX + "GET/users/" + tail for tail in tails]
    probes += [PREFIX + "HEAD/users/x", PREFIX + "DELETE/users/x",
               method_arn("GET", "/users/x", stage="prod"), PREFIX + "GET/users/x/"]  # fmt: skip
    cases = [(document(answer), arn_of(first))] + [(document(answer), arn) for arn in probes]
    afresh = [tail in ("X", "%78") for tail in tails] + [False] * 4
    assert simulate(cases) == [True, *afresh]


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_a_greedy_route_key_never_carries_its_allow_to_a_denied_shape(kind: str) -> None:
    """``ANY /files/{proxy+}`` runs ``GET /files/q%2Fadmin`` (``proxy`` = ``q/admin``): the
    ARN ``GET/files/q/admin`` is the admin route's shape. Afresh it is refused; the cached
    answer of ``GET /files/q/x`` on the same route key does not allow it."""
    route = "ANY /files/{proxy+}"
    first = http(kind, "GET", "/files/q/x", route, {"proxy": "q/x"})
    then = http(kind, "GET", "/files/q/admin", route, {"proxy": "q/admin"})
    authorizer = per_route()
    answer = authorizer.handler(first, None)
    refused = authorizer.handler(then, None)
    # another request of the route, allowed afresh too (the planner leaves GET out: a
    # Deny of the admin route's GET/files/*/admin would refuse longer proxy paths)
    other = PREFIX + "POST/files/q/y"
    assert simulate([(document(answer), arn_of(first)), (document(answer), other),
                     (document(answer), arn_of(then)), (document(refused), arn_of(then))],
                    ) == [True, True, False, False]  # fmt: skip


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_a_tenant_bound_route_key_allows_only_the_tenant_arn_it_answered(kind: str) -> None:
    """``GET /t/{tid}/orders`` bound to the principal's tenant: Eve's ``acme`` answer is
    cached for the route key, and the other tenants' ARNs (also a case variant, an encoded
    ``/`` that ends in ``acme``) are not allowed by it."""
    route = "GET /t/{tid}/orders"
    first = http(kind, "GET", "/t/acme/orders", route, {"tid": "acme"})
    answer = per_route().handler(first, None)
    probes = [PREFIX + "GET/t/" + tid + "/orders" for tid in ("evil", "ACME", "evil/acme", "acme/")]
    cases = [(document(answer), arn_of(first))] + [(document(answer), arn) for arn in probes]
    assert simulate(cases) == [True] + [False] * len(probes)


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_a_denied_answer_per_route_key_opens_nothing_of_that_route_key(kind: str) -> None:
    """Eve's admin-only ``GET /users/x/y`` is denied, its ARN named in a Deny: the answer
    cached for that route key opens none of its requests (other ids, an encoded ``/``)."""
    event = http(kind, "GET", "/users/x/y", "GET /users/{id}/{sub}", {"id": "x", "sub": "y"})
    answer = per_route().handler(event, None)
    assert any(e == "Deny" and arn_of(event) in r for e, r in pairs(answer))
    probes = [arn_of(event)] + [PREFIX + "GET/users/" + tail for tail in ("a/b", "a/b/c", "x/y/")]
    assert simulate([(document(answer), arn) for arn in probes]) == [False] * len(probes)


# =========================================================================================
# HELD: the $default route
# =========================================================================================


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_the_default_route_answer_names_only_its_arn(kind: str) -> None:
    """Allowed everywhere, Eve's cached ``$default`` answer is the Deny of that one ARN
    (the finding's fix): no routed ARN of the stage, nor another stage's ``$default``."""
    answer = per_route(OPEN).handler(default_route(kind, "GET", "/a"), None)
    assert pairs(answer) == [("Deny", [DEFAULT_ARN])]
    probes = [PREFIX + "GET/a", PREFIX + "DELETE/", method_arn("GET", "/a", stage="prod")]
    assert simulate([(document(answer), arn) for arn in probes]) == [False] * len(probes)
    assert not iam_allows(answer, DEFAULT_ARN.replace("/$default/", "/prod/", 1))


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_a_default_route_answer_is_denied_to_a_principal_a_header_rule_may_refuse(
    kind: str,
) -> None:
    """Everywhere but on ``GET /orders`` (a tenant header decides): Eve's cached ``$default``
    answer is a Deny (403, recorded so), as every cached ``$default`` answer is, even with
    the request covered by the identity sources."""
    records: list[dict[str, Any]] = []
    table = Routes({"ANY /{proxy+}": authenticated(), "ANY /": authenticated(),
                    "GET /orders": tenant(header="x-tenant")})  # fmt: skip
    authorizer = per_route(table, cache_key_covers_request=True, on_decision=records.append)
    answer = authorizer.handler(default_route(kind, "GET", "/a"), None)
    assert pairs(answer) == [("Deny", [DEFAULT_ARN])]
    assert (records[-1]["decision"], records[-1]["status"]) == ("deny", 403)
    assert records[-1]["detail"] == {
        "rule": "HTTP API $default route: one ARN for every path; use cache_ttl=0"
    }


def test_a_route_whose_last_segment_is_default_is_not_the_default_route() -> None:
    """``GET /users/x/$default`` (ARN with a verb): routed, answered with the plan for its
    route (Eve may call it), never an Allow of the ``$default`` route's one ARN."""
    event = http("v2", "GET", "/users/x/$default", "GET /users/{id}/{sub}",
                 {"id": "x", "sub": "$default"})  # fmt: skip
    answer = per_route(OPEN).handler(event, None)
    assert iam_allows(answer, arn_of(event))
    assert not iam_allows(answer, DEFAULT_ARN)


# =========================================================================================
# HELD: other credentials and kinds
# =========================================================================================


def test_an_api_key_principal_on_an_http_api_gets_its_arn_alone() -> None:
    """API keys as the credential (identity sources: the key header and the route key):
    the HTTP answer is the key's plan for its route, as for a token."""
    key = "r71-partner-key-0123456789abcdef"
    keys = StaticApiKeys({hash_api_key(key): ApiKeyEntry("partner")})
    authorizer = Authorizer(api_keys=keys, routes=USERS, cache_ttl=300, decision_log=None,
                            cache_key_covers_route=True, cache_key_covers_request=True)  # fmt: skip
    event = http_authorizer_v2("GET", "/users/x", route_key="GET /users/{id}",
                               path_params={"id": "x"}, headers={"x-api-key": key})  # fmt: skip
    answer = authorizer.handler(event, None)
    assert answer["principalId"] == "partner"
    probes = [arn_of(event), PREFIX + "GET/users/y", PREFIX + "GET/users/a/b"]
    assert simulate([(document(answer), arn) for arn in probes]) == [True, True, False]


@pytest.mark.parametrize("make", ["token", "request", "websocket"])
def test_rest_and_websocket_answers_keep_their_shape_with_the_route_flag(make: str) -> None:
    """``cache_key_covers_route=True`` changes nothing for REST (TOKEN and REQUEST: still
    the plan, an Allow for Eve's other routes, nothing of the admin's) nor WebSocket."""
    if make == "websocket":
        table = Routes({"GET /users/{id}": authenticated(), "$connect": authenticated()})
        event = websocket_connect(query={"token": EVE})
        answer = per_route(table, token_sources=[TokenSource.query("token")]).handler(event, None)
        assert pairs(answer) == [("Allow", [event["methodArn"]])]
        return
    events = {
        "token": lambda: token_authorizer("GET", "/users/x", token=EVE),
        "request": lambda: request_authorizer("GET", "/users/x", resource="/users/{id}",
                                              path_params={"id": "x"}, token=EVE),
    }  # fmt: skip
    policy = document(per_route().handler(events[make](), None))
    probes = [method_arn("GET", "/users/p"), method_arn("GET", "/users/p/q"),
              method_arn("DELETE", "/users/p")]  # fmt: skip
    assert simulate([(policy, arn) for arn in probes]) == [True, False, False]


# =========================================================================================
# HELD: odd route ARNs fail closed
# =========================================================================================


ODD_ARNS = {
    "missing": None,
    "not-a-string": 7,
    "s3": "arn:aws:s3:::bucket/GET/users/x",
    "no-rest": "arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default",
    "wildcard": PREFIX + "GET/users/*",
    "policy-variable": PREFIX + "GET/users/${aws:username}",
    "too-long": PREFIX + "GET/users/" + "a" * 1700,
    "control": PREFIX + "GET/users/x\n",
}


@pytest.mark.parametrize("kind", ["v1", "v2"])
@pytest.mark.parametrize("name", sorted(ODD_ARNS))
def test_an_odd_route_arn_is_refused_with_a_deny_all_and_no_details(kind: str, name: str) -> None:
    """A missing or malformed ``routeArn``/``methodArn``: the deny-all answer (403 from an
    HTTP API), recorded as unauthorized (401) with a reason, never a traceback."""
    records: list[dict[str, Any]] = []
    event = http(kind, "GET", "/users/x", "GET /users/{id}", {"id": "x"})
    field = "routeArn" if kind == "v2" else "methodArn"
    if ODD_ARNS[name] is None:
        del event[field]
    else:
        event[field] = ODD_ARNS[name]
    answer = per_route(on_decision=records.append).handler(event, None)
    assert [effect for effect, _ in pairs(answer)] == ["Deny"]
    assert not iam_allows(answer, PREFIX + "GET/users/x")
    assert (records[-1]["decision"], records[-1]["status"]) == ("unauthorized", 401)
    assert "Traceback" not in repr(records[-1])


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:execute-api:us-east-1:999999999999:otherapi00/$default/GET/users/x",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/users/x",
        PREFIX + "get/users/x",
    ],
    ids=["other-account-and-api", "named-stage", "lower-case-verb"],
)
def test_an_unexpected_but_well_formed_arn_is_answered_for_itself_alone(arn: str) -> None:
    """Another account and API, a named stage, a lower-case verb: decided on the ARN's own
    verb and path, and the answer is the plan for that ARN's API and stage (naming the
    ARN, its verb upper-cased), nothing of another's."""
    event = http("v2", "GET", "/users/x", "GET /users/{id}", {"id": "x"})
    event["routeArn"] = arn
    answer = per_route().handler(event, None)
    upper = arn.replace("/get/", "/GET/")
    same_stage = upper.startswith(PREFIX)
    probes = [upper, PREFIX + "GET/users/y"]
    assert simulate([(document(answer), probe) for probe in probes]) == [True, same_stage]


def test_a_verb_less_arn_that_is_not_default_is_denied() -> None:
    """An HTTP event whose ARN names a WebSocket-like key (``$connect``), even where the
    table has that key: decided as nothing routed, a Deny of that ARN alone."""
    table = Routes({"GET /users/{id}": authenticated(), "$connect": authenticated()})
    event = http("v2", "GET", "/users/x", "GET /users/{id}", {"id": "x"})
    event["routeArn"] = PREFIX + "$connect"
    records: list[dict[str, Any]] = []
    answer = per_route(table, on_decision=records.append).handler(event, None)
    assert pairs(answer) == [("Deny", [PREFIX + "$connect"])]
    assert (records[-1]["status"], records[-1]["detail"]) == (403, {"rule": "no route"})


# =========================================================================================
# HELD: the records tell what was answered
# =========================================================================================


def test_records_match_the_answers_also_when_memoized() -> None:
    """An exact Allow is recorded as allow (200), the unkeyed HTTP request (no route flag)
    as deny (403), and a memoized repeat records the same as the first answer."""
    records: list[dict[str, Any]] = []
    keyed = per_route(on_decision=records.append)
    unkeyed = Authorizer(VERIFIER, routes=USERS, cache_ttl=300, decision_log=None,
                         on_decision=records.append)  # fmt: skip
    event = http("v2", "GET", "/users/x", "GET /users/{id}", {"id": "x"})
    answers = [keyed.handler(event, None), keyed.handler(event, None), unkeyed.handler(event, None)]
    assert [iam_allows(a, arn_of(event)) for a in answers] == [True, True, False]
    assert [(r["decision"], r["status"]) for r in records] == [
        ("allow", 200), ("allow", 200), ("deny", 403)
    ]  # fmt: skip
    assert pairs(answers[2]) == [("Deny", [arn_of(event)])]
