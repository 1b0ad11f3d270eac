"""Review 75: a63b3c4 (HTTP API answers cached per route carry the principal's plan,
bounded to the route: ``secauth.result_cache.route_bound``) attacked.

Model of API Gateway (HTTP APIs), as the project writes it: the route is selected on the
path as sent (case-sensitive literals, ``%2F`` stays inside its segment, a
percent-encoded literal such as ``m%65`` is not the literal ``me``), and the route ARN,
``rawPath``/payload 1.0 ``path`` and the path parameters are decoded once. The cache key
is (token, ``$context.routeKey``). Payload 1.0 authorizer events carry ``resource`` and no
``routeKey``.

The argument under attack: requests sharing a cache entry run the same route, and for
them ``Routes.decide`` on the ARN's path equals ``decide`` on the routed path unless a
single-segment parameter holds a ``/``. The flaw: both are the same decoded string, and
``decide`` routes it again through the table, which may pick ANOTHER route than the one
API Gateway ran (the one in the route key):

* ``GET /users/m%65`` runs ``GET /users/{id}`` (admin only) with ``id="me"``; its ARN
  ``GET/users/me`` is decided as ``GET /users/me`` (any user). Afresh it is allowed,
  and the answer cached for ANY request of the route key (a denied one too) allows it;
* ``GET /files/x%2Fpublic`` runs ``ANY /files/{proxy+}`` (admin only) with
  ``proxy="x/public"``; its ARN is ``GET /files/{id}/public``'s shape (any user). The
  docs' "a ``/`` in the proxy value is one more segment of it, read alike both ways"
  holds for the backend, not for the table;
* the response memo keys payload 1.0 answers without the route (``route_key`` is None):
  an unbounded ``/{proxy+}`` answer is replayed to ``GET /users/{id}`` for the same ARN,
  and API Gateway caches it under that route key: review 69's ``GET /users/a%2Fb`` again.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour; the attacks
that held are plain tests. Real objects and events, the IAM simulator; no mocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from test_iam_simulate_crosscheck import simulate

from secauth import Authorizer, Routes
from secauth.access import authenticated, roles
from secauth.policy import PolicyDocument, Statement
from secauth.testing import KeyPair
from secauth.testing_events import http_authorizer_v1, http_authorizer_v2
from secauth.testing_policy import iam_allows
from secauth.verifier import JwtVerifier

ISS, AUD = "https://idp.review75.example/", "api"
PAIR = KeyPair.generate("ES256", kid="review75")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
EVE = PAIR.sign({"iss": ISS, "aud": AUD, "sub": "eve", "exp": 4e9})
PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/"

# The canonical "me" pattern, and a public corner under an admin-only greedy route.
TABLE = Routes({
    "GET /users/me": authenticated(),
    "GET /users/{id}": roles("admin"),
    "GET /users/{id}/{sub}": authenticated(),
    "ANY /files/{proxy+}": roles("admin"),
    "GET /files/{id}/public": authenticated(),
    "ANY /{proxy+}": authenticated(),
})  # fmt: skip


def per_route(**options: Any) -> Authorizer:
    return Authorizer(VERIFIER, routes=TABLE, cache_ttl=300, decision_log=None,
                      cache_key_covers_route=True, **options)  # fmt: skip


def fresh() -> Authorizer:
    return Authorizer(VERIFIER, routes=TABLE, decision_log=None, response_cache_size=0)


def document(response: Mapping[str, Any]) -> PolicyDocument:
    statements = response["policyDocument"]["Statement"]
    return PolicyDocument([Statement(s["Effect"], s["Resource"]) for s in statements])


def event(kind: str, path: str, route_key: str, params: dict[str, str]) -> dict[str, Any]:
    method, _, template = route_key.partition(" ")
    method = "GET" if method == "ANY" else method
    if kind == "v2":
        return http_authorizer_v2(method, path, route_key=route_key, path_params=params,
                                  token=EVE)  # fmt: skip
    return http_authorizer_v1(method, path, resource=template, path_params=params, token=EVE)


# (route key API Gateway runs, decoded path = ARN path, its parameters, the raw request)
SHIFTED = [
    ("GET /users/{id}", "/users/me", {"id": "me"}),  # sent as GET /users/m%65
    ("ANY /files/{proxy+}", "/files/x/public", {"proxy": "x/public"}),  # /files/x%2Fpublic
]
# A plain request of the same route key, denied to Eve.
PLAIN = {
    "GET /users/{id}": ("/users/7", {"id": "7"}),
    "ANY /files/{proxy+}": ("/files/y/z", {"proxy": "y/z"}),
}


def test_the_shifted_requests_run_admin_routes_the_table_denies_eve() -> None:
    """The control: the routes API Gateway runs for the shifted requests are admin only,
    and Eve is denied on them with plain values."""
    authorizer = fresh()
    for kind in ("v2", "v1"):
        for route_key in ("GET /users/{id}", "ANY /files/{proxy+}"):
            path, params = PLAIN[route_key]
            answer = authorizer.handler(event(kind, path, route_key, params))
            assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"


@pytest.mark.parametrize("kind", ["v2", "v1"])
def test_afresh_a_request_is_decided_on_the_route_api_gateway_ran(kind: str) -> None:
    """The finding (medium, older than a63b3c4): no cache at all, ``target_of`` decided
    on the ARN's path and on the routed path, the same string here, and the table routed
    it to a more permissive route than the one in the event's route key / resource. For
    a route without ``{proxy+}`` the table must now decide on a route of the shape API
    Gateway ran (``secauth.targets.ran_elsewhere``)."""
    route_key, path, params = SHIFTED[0]
    answer = fresh().handler(event(kind, path, route_key, params))
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"


# The open medium (GET /files/x%2Fpublic under ANY /files/{proxy+} decided as the more
# permissive GET /files/{id}/public) is closed by Routes(integration_per_route=True) for
# APIs with one integration per route: tests/test_integration_per_route.py.


@pytest.mark.parametrize("kind", ["v2", "v1"])
def test_a_cached_answer_never_allows_another_table_routes_arn_on_its_route_key(
    kind: str,
) -> None:
    """The finding (medium, in a63b3c4): these answers carried the principal's whole
    plan, bounded only by the segment count (``GET /users/{id}``) or not at all
    (``{proxy+}``), so they allowed ``GET/users/me`` and ``GET/files/*/public``. The plan
    is now made from the grants of the answered route's shape alone: what it allows, the
    table routes there."""
    cached = per_route(response_cache_size=0)
    cases: list[tuple[PolicyDocument, str]] = []
    for route_key, path, _params in SHIFTED:
        plain_path, plain_params = PLAIN[route_key]
        first = cached.handler(event(kind, plain_path, route_key, plain_params))
        assert iam_allows(first, PREFIX + "GET" + plain_path) is False  # 403 for her
        cases.append((document(first), PREFIX + "GET" + path))
    assert simulate(cases) == [False] * len(cases)


def test_the_memo_never_replays_a_payload_1_answer_across_routes() -> None:
    """The finding (medium, in a63b3c4; fixed: the memo key holds the route template).
    Eve sends ``GET /users%2F7`` twice: ``ANY /{proxy+}`` runs with ``proxy="users/7"``,
    ARN ``GET/users/7``, decoded ``path`` ``/users/7``, routed path ``/users/7``: denied
    (admin), with the plan unbounded, and memoized on the second sighting. She then sends
    ``GET /users/7`` (``GET /users/{id}``): the memo key (token, kind, ARN, route_key
    None, method, path, routed path) is the same, so the unbounded answer is replayed and
    API Gateway caches it for (Eve, ``GET /users/{id}``). ``GET /users/a%2Fb`` hits that
    entry with ARN ``GET/users/a/b``, which ``GET/users/*/*`` allows. Fix: key the memo
    by the route template (``route_template``) as well, or by the ``route_bound``."""
    authorizer = per_route()
    proxied = http_authorizer_v1("GET", "/users/7", resource="/{proxy+}",
                                 path_params={"proxy": "users/7"}, token=EVE)  # fmt: skip
    authorizer.handler(proxied, None)
    authorizer.handler(proxied, None)  # the second sighting is kept
    routed = http_authorizer_v1("GET", "/users/7", resource="/users/{id}",
                                path_params={"id": "7"}, token=EVE)  # fmt: skip
    answer = authorizer.handler(routed, None)
    afresh = per_route(response_cache_size=0).handler(routed, None)
    shifted = PREFIX + "GET/users/a/b"
    assert simulate([(document(afresh), shifted), (document(answer), shifted)]) == [
        False,
        False,
    ]


def test_the_memo_keeps_payload_2_route_keys_apart() -> None:
    """Held: payload 2.0 events carry ``routeKey``, which the memo key holds, so the
    catch-all's unbounded answer is not replayed to ``GET /users/{id}``."""
    authorizer = per_route()
    proxied = http_authorizer_v2("GET", "/users/7", route_key="ANY /{proxy+}",
                                 path_params={"proxy": "users/7"}, token=EVE)  # fmt: skip
    authorizer.handler(proxied, None)
    authorizer.handler(proxied, None)
    routed = http_authorizer_v2("GET", "/users/7", route_key="GET /users/{id}",
                                path_params={"id": "7"}, token=EVE)  # fmt: skip
    answer = authorizer.handler(routed, None)
    assert iam_allows(answer, PREFIX + "GET/users/a/b") is False


def test_a_bounded_route_key_denies_every_longer_or_refused_shape() -> None:
    """Held: the answer cached for ``GET /users/{id}`` (Eve denied there, allowed on
    ``{id}/{sub}`` and the catch-all) opens none of the shapes an encoded ``/``, an
    empty value, a dot segment or IAM metacharacters give that route key's ARNs; the
    simulator agrees with secauth's own matcher."""
    for kind in ("v2", "v1"):
        answer = per_route(response_cache_size=0).handler(
            event(kind, "/users/7", "GET /users/{id}", {"id": "7"}), None
        )
        arns = [PREFIX + "GET/users/" + value for value in (
            "a/b", "a/b/c", "a/", "/a", "", "..", ".", "a%2Fb", "7/", "a;b", "a:b",
        )]  # fmt: skip
        verdicts = simulate([(document(answer), arn) for arn in arns])
        assert verdicts == [False] * len(arns)
        assert [iam_allows(answer, arn) for arn in arns] == verdicts
        # IAM metacharacters in the request ARN (the simulator refuses them as queries).
        assert not any(iam_allows(answer, PREFIX + "GET/users/" + v) for v in ("*/x", "?/x"))


def test_a_catch_all_route_key_allows_only_what_a_fresh_decision_allows() -> None:
    """Held (the argument's own case): on ``ANY /{proxy+}`` (Eve allowed there), the
    cached answer allows a request of that route key only when the authorizer, asked
    afresh on that route key, allows it: encoded ``/``, dot segments, empty segments and
    other verbs included."""
    answer = per_route(response_cache_size=0).handler(
        event("v2", "/q", "ANY /{proxy+}", {"proxy": "q"}), None
    )
    authorizer = fresh()
    cases: list[tuple[PolicyDocument, str]] = []
    for method in ("GET", "POST", "DELETE", "HEAD"):
        for proxy in ("q", "q/r", "users/7", "users/me", "users/7/x", "files/q",
                      "files/q/public", "a//b", "a/../b", "q/", "a;b", "a:b", "%2F"):  # fmt: skip
            request = http_authorizer_v2(method, "/" + proxy, route_key="ANY /{proxy+}",
                                         path_params={"proxy": proxy}, token=EVE)  # fmt: skip
            cases += [(document(answer), request["routeArn"]),
                      (document(authorizer.handler(request, None)), request["routeArn"])]  # fmt: skip
    verdicts = simulate(cases)
    over = [arn for (_, arn), cached, afresh in
            zip(cases[::2], verdicts[::2], verdicts[1::2], strict=True) if cached and not afresh]  # fmt: skip
    assert over == []
    # Planned from the catch-all's grants alone, with the table's other routes under it,
    # the answer names its own ARN: the planner cannot express "every path but theirs".
    reached = {arn for (_, arn), cached in zip(cases[::2], verdicts[::2], strict=True) if cached}
    assert reached == {PREFIX + "GET/q"}
