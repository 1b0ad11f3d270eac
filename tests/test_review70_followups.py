"""Review 70: reviews 68 and 69's fixes attacked.

5f7cd70 (review 69): with ``cache_ttl > 0`` an HTTP API event (payload 1.0 or 2.0) is denied
with a policy naming only its ARN (``secauth.result_cache.cached_denial``,
``UNKEYED_ROUTE``) unless ``cache_key_covers_route=True`` or ``cache_key_covers_request=True``;
an ARN ending in ``/$default`` is exempt; ``api="http"`` is refused at construction without
the flag. 16138a7 (review 68): a tuple handler ``Vary``; ``expected_claims`` JSON values only.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour:

* the ``$default`` exemption is a suffix test on the ARN string: any request whose last path
  segment is ``$default`` (``GET /users/x/$default``, run by ``GET /users/{id}/{sub}``) is
  answered with the per-token plan, and review 69's attack works again;
* ``cache_key_covers_route=True`` is not sound: an answer cached for the route key
  ``GET /users/{id}`` (even a denied one) carries the principal's whole plan, so the same
  route key with ``id="a/b"`` (ARN ``GET/users/a/b``) is allowed by another route's pattern;
* ``cache_key_covers_request=True``, documented as "the identity sources include what the
  rules read" (a header, an API key, a certificate), also waives the route requirement;
* a real ``$default`` route answer downgraded to Deny by the builder is logged as ``allow``.

The attacks that held are plain tests. Real objects and events, the IAM simulator; no mocks.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_iam_simulate_crosscheck import simulate

from secauth import Authorizer, Routes
from secauth.access import authenticated, roles, tenant
from secauth.errors import ConfigurationError, SecAuthError
from secauth.policy import PolicyBuilder, PolicyDocument, Statement
from secauth.principal import ClaimMapper
from secauth.testing import KeyPair
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    iam_allows,
    method_arn,
    request_authorizer,
    token_authorizer,
)
from secauth.verifier import JwtVerifier

ISS, AUD = "https://idp.review70.example/", "api"
PAIR = KeyPair.generate("ES256", kid="r70")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
SHIFT = Routes({"GET /users/{id}/{sub}": authenticated(), "GET /users/{id}": roles("admin")})
HTTP_PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/"


def jwt(sub: str, **claims: Any) -> str:
    return PAIR.sign({"iss": ISS, "aud": AUD, "sub": sub, "exp": 4_000_000_000, **claims})


EVE = jwt("eve")


def document(response: dict[str, Any]) -> PolicyDocument:
    statements = response["policyDocument"]["Statement"]
    return PolicyDocument([Statement(s["Effect"], s["Resource"]) for s in statements])


def arn_of(event: dict[str, Any]) -> str:
    return str(event.get("routeArn") or event["methodArn"])


def http(kind: str, path: str, route: str, params: dict[str, str], token: str = EVE,
         **kw: Any) -> dict[str, Any]:  # fmt: skip
    if kind == "v2":
        return http_authorizer_v2("GET", path, route_key=f"GET {route}", path_params=params,
                                  token=token, **kw)  # fmt: skip
    return http_authorizer_v1("GET", path, resource=route, path_params=params, token=token, **kw)


def shifted(kind: str) -> dict[str, Any]:
    """``GET /users/a%2Fb``: route ``GET /users/{id}`` (admin only), ARN ``GET/users/a/b``."""
    return http(kind, "/users/a/b", "/users/{id}", {"id": "a/b"})


def caching(routes: Routes = SHIFT, **options: Any) -> Authorizer:
    return Authorizer(VERIFIER, routes=routes, cache_ttl=300, decision_log=None, **options)


# =========================================================================================
# FINDING: a path ending in "$default" passes for the $default route
# =========================================================================================


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_a_last_path_segment_named_default_does_not_escape_the_unkeyed_route_denial(
    kind: str,
) -> None:
    """Eve calls ``GET /users/x/$default`` (route ``GET /users/{id}/{sub}``, ``sub`` the
    literal ``$default``). Its ARN ``.../GET/users/x/$default`` ends in ``/$default`` but is
    not the ``$default`` route's (which has no verb). Cached under her token alone, its
    answer must not allow ``GET /users/a%2Fb`` (``GET /users/{id}``, admin only)."""
    bait = http(kind, "/users/x/$default", "/users/{id}/{sub}", {"id": "x", "sub": "$default"})
    policy = document(caching().handler(bait, None))
    assert simulate([(policy, arn_of(shifted(kind)))]) == [False]


# =========================================================================================
# FINDING: cache_key_covers_route=True: one route key, two ARNs shapes
# =========================================================================================


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_an_answer_cached_per_route_key_never_allows_a_shifted_arn_of_that_route(
    kind: str,
) -> None:
    """API Gateway caches per (token, route key). Eve calls the admin route
    ``GET /users/{id}`` with ``id="x"``: 403, cached for that route key. She then sends
    ``GET /users/a%2Fb``: the same route key, a cache hit, ARN ``GET/users/a/b``. The
    cached policy must not allow it (the route key's rule denies her whatever ``id``)."""
    per_route = caching(cache_key_covers_route=True)
    first = http(kind, "/users/x", "/users/{id}", {"id": "x"})
    policy = document(per_route.handler(first, None))
    assert simulate([(policy, arn_of(first))]) == [False]  # the first answer is a Deny
    assert simulate([(policy, arn_of(shifted(kind)))]) == [False]


def test_per_route_key_caching_holds_where_the_plan_denies_the_shifted_shape() -> None:
    """The greedy variant holds: for ``GET /files/{id}/admin`` (admin only) beside
    ``GET /files/{proxy+}``, the denied answer names only its ARN, so ``id="a/b"``
    (ARN ``GET/files/a/b/admin``) on the same route key is not allowed."""
    routes = Routes(
        {"GET /files/{proxy+}": authenticated(), "GET /files/{id}/admin": roles("admin")}
    )
    per_route = caching(routes, cache_key_covers_route=True)
    first = http("v2", "/files/q/admin", "/files/{id}/admin", {"id": "q"})
    then = http("v2", "/files/a/b/admin", "/files/{id}/admin", {"id": "a/b"})
    policy = document(per_route.handler(first, None))
    assert simulate([(policy, arn_of(first)), (policy, arn_of(then))]) == [False, False]


# =========================================================================================
# FINDING: cache_key_covers_request=True waives the route key
# =========================================================================================


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_covering_a_read_header_does_not_waive_the_route_key(kind: str) -> None:
    """A tenant header rule needs ``cache_key_covers_request=True`` (identity sources:
    ``Authorization`` and ``X-Tenant``): API Gateway still caches per token and header, not
    per route. Eve's ``GET /users/x/y`` answer must not allow ``GET /users/a%2Fb``."""
    routes = Routes({"GET /users/{id}/{sub}": authenticated(), "GET /users/{id}": roles("admin"),
                     "GET /orders": tenant(header="x-tenant")})  # fmt: skip
    authorizer = caching(routes, cache_key_covers_request=True)
    first = http(kind, "/users/x/y", "/users/{id}/{sub}", {"id": "x", "sub": "y"})
    policy = document(authorizer.handler(first, None))
    assert simulate([(policy, arn_of(shifted(kind)))]) == [False]


# =========================================================================================
# FINDING: the decision record of a downgraded $default answer
# =========================================================================================


def test_a_default_route_answer_denied_by_the_builder_is_logged_as_a_denial() -> None:
    """The ``$default`` route's one ARN is only allowed, cached, to a principal the table
    allows everywhere: Eve is not, so API Gateway answers 403. The record must say so."""
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(VERIFIER, routes=SHIFT, cache_ttl=300, decision_log=None,
                            on_decision=records.append)  # fmt: skip
    event = http_authorizer_v2("GET", "/users/x/y", route_key="$default", token=EVE)
    event["routeArn"] = HTTP_PREFIX + "$default"
    answer = authorizer.handler(event, None)
    assert not iam_allows(answer, HTTP_PREFIX + "$default")  # the simulator has no such ARN
    assert (records[-1]["decision"], records[-1]["status"]) == ("deny", 403)


# =========================================================================================
# HELD
# =========================================================================================


def test_the_real_default_route_is_never_opened_by_a_cached_answer() -> None:
    """The exemption's own case: a verb-less ``.../$default`` ARN. Eve (not allowed on the
    admin route) gets nothing, and since review 71 neither does an admin, allowed on every
    route: the one ARN also stands for the spellings every table refuses."""
    open_table = Routes({"ANY /{proxy+}": authenticated(), "GET /admin": roles("admin")},
                        default=authenticated())  # fmt: skip
    authorizer = caching(open_table)
    verdicts = []
    for token in (EVE, jwt("root", roles=["admin"])):
        event = http_authorizer_v2("GET", "/admin", route_key="$default", token=token)
        event["routeArn"] = HTTP_PREFIX + "$default"
        # secauth's matcher (cross-checked against the simulator, which has no such ARN)
        verdicts.append(iam_allows(authorizer.handler(event, None), event["routeArn"]))
    assert verdicts == [False, False]


def test_a_stage_named_default_exempts_nothing() -> None:
    """HTTP APIs' default stage is literally ``$default``; the ARN names it before the
    verb, so an ordinary request on it is still denied with its ARN alone."""
    event = http("v2", "/users/x/y", "/users/{id}/{sub}", {"id": "x", "sub": "y"})
    assert "/$default/GET/" in arn_of(event)
    policy = document(caching().handler(event, None))
    assert policy.statements[0].effect == "Deny"
    assert simulate([(policy, arn_of(event)), (policy, arn_of(shifted("v2")))]) == [False, False]


@pytest.mark.parametrize("api", [None, "rest"])
def test_api_rest_does_not_turn_a_payload_2_event_into_a_rest_one(api: str | None) -> None:
    """``api="rest"`` only re-reads payload 1.0 REQUEST events: a payload 2.0 event (which no
    REST API sends) keeps its kind and the unkeyed-route denial."""
    event = http("v2", "/users/x/y", "/users/{id}/{sub}", {"id": "x", "sub": "y"})
    policy = document(caching(api=api).handler(event, None))
    assert simulate([(policy, arn_of(event)), (policy, arn_of(shifted("v2")))]) == [False, False]


def test_a_payload_1_event_with_a_null_identity_source_is_still_an_http_one() -> None:
    """``identitySource: null`` is present: the event is read as HTTP payload 1.0, not as
    REST, and is denied cached without its route."""
    event = http("v1", "/users/x/y", "/users/{id}/{sub}", {"id": "x", "sub": "y"})
    event["identitySource"] = None
    policy = document(caching().handler(event, None))
    assert simulate([(policy, arn_of(event)), (policy, arn_of(shifted("v1")))]) == [False, False]


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_the_unkeyed_denial_opens_nothing_anywhere(kind: str) -> None:
    """The exact Deny answer, judged by the simulator on the table's ARNs (both stages'
    shapes, other verbs, the shifted ARN, the request's own): all denied."""
    event = http(kind, "/users/x/y", "/users/{id}/{sub}", {"id": "x", "sub": "y"})
    policy = document(caching().handler(event, None))
    probes = [method_arn(verb, path, stage="$default")
              for verb in ("GET", "POST", "DELETE")
              for path in ("/users/x/y", "/users/a/b", "/users/x", "/users/a/b/c", "/")]  # fmt: skip
    assert simulate([(policy, arn) for arn in probes]) == [False] * len(probes)
    assert not iam_allows(policy, HTTP_PREFIX + "$default")


def test_the_unkeyed_denial_is_recorded_with_its_reason() -> None:
    """The record says forbidden, 403, and why (the rule detail), for the route it ran."""
    records: list[dict[str, Any]] = []
    authorizer = caching(on_decision=records.append)
    event = http("v2", "/users/x/y", "/users/{id}/{sub}", {"id": "x", "sub": "y"})
    authorizer.handler(event, None)
    record = records[-1]
    assert (record["decision"], record["reason"], record["status"]) == ("deny", "forbidden", 403)
    assert record["detail"] == {"rule": "HTTP API result cache keyed without the route"}
    assert (record["event"], record["route"]) == ("http_authorizer_v2", "GET /users/{id}/{sub}")


def test_a_memoized_rest_answer_is_not_served_to_an_http_event_with_the_same_arn() -> None:
    """The response memo keys answers by event kind: a TOKEN event's planned Allow for
    ``GET/users/x/y`` (same token, same ARN string) is not replayed to the HTTP event."""
    authorizer = caching()
    token_event = token_authorizer("GET", "/users/x/y", stage="$default", token=EVE)
    rest = document(authorizer.handler(token_event, None))
    event = http("v2", "/users/x/y", "/users/{id}/{sub}", {"id": "x", "sub": "y"})
    assert arn_of(event) == token_event["methodArn"]
    again = document(authorizer.handler(event, None))
    assert simulate([(rest, arn_of(event)), (again, arn_of(event))]) == [True, False]


def test_a_given_policy_builder_and_a_context_callable_keep_the_exact_denial() -> None:
    """A user's ``PolicyBuilder`` (and a subclass adding a Deny), and a context callable
    (which turns off the memo): the HTTP answer still opens nothing."""

    class Audited(PolicyBuilder):
        def extra_statements(self, principal: Any, request: Any) -> list[Statement]:
            return [Statement("Deny", [HTTP_PREFIX + "DELETE/*"])]

    event = http("v2", "/users/x/y", "/users/{id}/{sub}", {"id": "x", "sub": "y"})
    cases = []
    for builder in (PolicyBuilder, Audited):
        authorizer = caching(policy_builder=builder(cache_ttl=300, routes=SHIFT),
                             context=lambda principal: {"plan": "gold"})  # fmt: skip
        answer = authorizer.handler(event, None)
        assert answer["context"]["plan"] == "gold"
        cases += [(document(answer), arn_of(event)), (document(answer), arn_of(shifted("v2")))]
    assert simulate(cases) == [False] * 4


@pytest.mark.parametrize("make", ["token", "request"])
def test_rest_authorizers_still_answer_with_the_plan(make: str) -> None:
    """REST passes the path as sent: TOKEN and REQUEST answers still carry the plan (an
    Allow for the token's other routes), and nothing of the admin route."""
    builders = {
        "token": lambda: token_authorizer("GET", "/users/x/y", token=EVE),
        "request": lambda: request_authorizer("GET", "/users/x/y", resource="/users/{id}/{sub}",
                                              path_params={"id": "x", "sub": "y"}, token=EVE),
    }  # fmt: skip
    policy = document(caching().handler(builders[make](), None))
    probes = [method_arn("GET", "/users/p/q"), method_arn("GET", "/users/x")]
    assert simulate([(policy, arn) for arn in probes]) == [True, False]


def test_api_http_with_the_route_flag_builds_and_without_it_is_refused_also_with_ttl_zero() -> None:
    """``api="http"`` is refused only with a result cache."""
    with pytest.raises(ConfigurationError, match=r"cache_key_covers_route"):
        caching(api="http")
    Authorizer(VERIFIER, routes=SHIFT, cache_ttl=0, api="http")
    caching(api="http", cache_key_covers_route=True)


# --- review 68 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [("acme",), {"a": ("x",)}, [1, {2: "x"}], {"acme"}, b"acme"],
    ids=["tuple", "nested-tuple", "int-key", "set", "bytes"],
)
def test_expected_claims_refuse_values_no_json_can_hold(value: object) -> None:
    """Nested too: a tuple inside a dict, a non-string key inside a list, a set, bytes."""
    with pytest.raises(ConfigurationError, match="JSON values"):
        JwtVerifier(
            issuer=ISS,
            audience=AUD,
            jwks={"keys": [PAIR.public_jwk]},
            expected_claims={"tenant": value},
        )


def test_expected_claims_of_json_values_match_a_token() -> None:
    """The values JSON can give still build and match, nested ones included."""
    org = {"id": "acme", "tags": ["a", 1, None]}
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]},
                           expected_claims={"org": org})  # fmt: skip
    assert ClaimMapper().map(verifier.verify(jwt("ann", org=org))).id == "ann"
    with pytest.raises(SecAuthError):
        verifier.verify(jwt("ann", org={"id": "acme", "tags": ["a", 1]}))
