"""Review 68: reviews 66 and 67's fixes attacked.

88c4363 (review 66): ``routed_path`` fills a route template segment by segment; a handler
``Vary`` that is not a string counts as no field name when ``Origin`` is merged in;
``Request.path_decoded`` is also true for a REQUEST authorizer event with ``version: "1.0"``
read as REST. f33c9a4 (review 67): ``JwksCache._apply`` bumps the key generation after
publishing the keys; ``ClaimPolicy`` treats a ``null`` required claim as missing and
compares ``expected_claims`` type-exact all the way down, requiring presence.

Findings are ``xfail(strict=True)`` tests asserting the secure behaviour:

* a handler ``Vary`` written as a tuple (``multiValueHeaders={"Vary": ("Cookie",)}``, which
  Lambda's runtime sends as a JSON array, a valid multi-value header) now counts as "no
  field name": the Guard replaces it with the bare string ``"Origin"``, dropping the
  handler's ``Cookie`` (or ``*``) so a shared cache may serve one user's answer to another,
  and writing a string where API Gateway expects a list. Before 88c4363 it was kept.

The attacks that held are plain tests. Real objects, events and loopback servers; no mocks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hand_clock import Clock
from paused_refresh import refresh_paused_at
from scripted_as import active, introspector, opaque

from secauth import Authorizer, Guard, JwksCache, JwtVerifier, Routes, SecAuthError
from secauth.access import authenticated, tenant
from secauth.errors import ConfigurationError
from secauth.events import EventKind, Request
from secauth.principal import ClaimMapper, Principal
from secauth.responses import Cors
from secauth.rules import rule
from secauth.targets import routed_path
from secauth.testing import KeyPair, LocalIssuer
from secauth.testing_cognito import LocalCognito
from secauth.testing_events import (
    alb,
    http_authorizer_v1,
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    rest_proxy,
)

ISS, AUD = "https://idp.review68.example/", "api"
PAIR = KeyPair.generate("ES256", kid="r68")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
MAPPER = ClaimMapper(tenant_claim="tenant")
TOKEN = PAIR.sign({"iss": ISS, "aud": AUD, "sub": "alice", "tenant": "acme", "exp": 4_000_000_000})
ROUTES = Routes({"GET /t/{id}/o": tenant(path="id"), "ANY /{proxy+}": authenticated()})
APP = "https://app.example.com"


def status(routes: Routes | None, event: dict[str, Any]) -> int:
    guard = Guard(VERIFIER, routes=routes, claims=MAPPER, decision_log=None)

    @guard
    def handler(event: dict[str, Any], context: object, principal: Principal) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ok"}

    return int(handler(event, None)["statusCode"])


def effect(routes: Routes, event: dict[str, Any]) -> str:
    authorizer = Authorizer(VERIFIER, routes=routes, claims=MAPPER, decision_log=None)
    answer = authorizer.handler(event, None)
    return str(answer["policyDocument"]["Statement"][0]["Effect"])


def _reason(verifier: Any, token: str) -> str:
    try:
        verifier.verify(token)
    except SecAuthError as err:
        return str(err.reason.value)
    return "ok"


# =========================================================================================
# Findings
# =========================================================================================


def cors_answer(event: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    guard = Guard(VERIFIER, routes=Routes({"GET /me": authenticated()}),
                  cors=Cors(allow_origins=[APP]), decision_log=None)  # fmt: skip

    @guard
    def me(event: dict[str, Any], context: object, principal: Principal) -> dict[str, Any]:
        return response

    answer: dict[str, Any] = me(event, None)
    return answer


@pytest.mark.parametrize("names", [("Accept-Encoding", "Cookie"), ("*",)], ids=["cookie", "star"])
def test_a_tuple_handler_vary_keeps_its_field_names_as_a_list(names: tuple[str, ...]) -> None:
    """REST answers with ``multiValueHeaders``; a handler writing ``("Cookie",)`` sends the
    JSON array ``["Cookie"]``. The Guard's merge must keep ``Cookie`` (or ``*``: never
    cacheable) and stay a list; it returns ``"Origin"``."""
    event = rest_proxy("GET", "/me", resource="/me",
                       headers={"authorization": f"Bearer {TOKEN}", "origin": APP})  # fmt: skip
    answer = cors_answer(event, {"statusCode": 200, "multiValueHeaders": {"Vary": names}})
    vary = answer["multiValueHeaders"]["Vary"]
    assert isinstance(vary, list | tuple)
    sent = ", ".join(vary)
    for name in names:
        assert name in sent


# =========================================================================================
# Held: Vary merging
# =========================================================================================


@pytest.mark.parametrize(
    ("vary", "expected"),
    [
        (["Accept-Encoding", "Cookie"], ["Accept-Encoding, Cookie, Origin"]),
        (["*"], ["*"]),
        (["ORIGIN"], ["ORIGIN"]),
        ([" , "], ["Origin"]),
        ([], ["Origin"]),
    ],
)
def test_a_list_handler_vary_in_multi_value_headers_is_merged_in_place(
    vary: list[str], expected: list[str]
) -> None:
    event = rest_proxy("GET", "/me", resource="/me",
                       headers={"authorization": f"Bearer {TOKEN}", "origin": APP})  # fmt: skip
    answer = cors_answer(event, {"statusCode": 200, "multiValueHeaders": {"Vary": vary}})
    assert answer["multiValueHeaders"]["Vary"] == expected
    assert answer["multiValueHeaders"]["Access-Control-Allow-Origin"] == [APP]


def test_an_alb_multi_value_answer_with_a_null_vary_gets_origin_as_a_list() -> None:
    event = alb("GET", "/me", multi_value=True,
                headers={"authorization": f"Bearer {TOKEN}", "origin": APP})  # fmt: skip
    answer = cors_answer(event, {"statusCode": 200, "headers": {"vary": None}, "body": "x"})
    assert answer["multiValueHeaders"]["vary"] == ["Origin"]
    assert "headers" not in answer


# =========================================================================================
# Held: routed paths from odd templates
# =========================================================================================


@pytest.mark.parametrize(
    ("template", "params", "expected"),
    [
        ("/a/{x}{y}", {"x": "1", "y": "2"}, None),  # not a whole-segment parameter: no reading
        ("/a/{}", {"x": "1"}, None),
        ("/a/{x}", {"y": "1"}, None),  # named in the template, missing from the event
        ("/a/{x}", {"x": "1", "extra": "2"}, "/a/1"),  # in the event, not the template
        ("/a/{proxy+}/b", {"proxy": "1/2"}, "/a/1/2/b"),  # greedy not last: still in place
        ("/a/{x}", {"x+": "1/2"}, None),  # "+" belongs to the template, not the event
        ("/a/{x}", {"x": "1/2"}, ""),  # a single segment with "/": refused
        ("/a/{x+}", {"x": "{x+}"}, "/a/{x+}"),  # a value is never a placeholder
        ("/a/{x}/{y}", {"x": "{y}", "y": "z"}, "/a/{y}/z"),
        ("/a/{x}", {"x": "b;c"}, "/a/b;c"),
        ("/", {}, "/"),
    ],
)
def test_routed_path_of_odd_templates(
    template: str, params: dict[str, str], expected: str | None
) -> None:
    event = {"resource": template, "pathParameters": params}
    assert routed_path(Request(EventKind.REST_V1, event)) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [("a//b", "empty segment"), ("a/../b", "dot segment"), ("/a", "leading slash"),
     ("a/", "trailing slash")],
)  # fmt: skip
def test_a_greedy_http_value_that_spells_another_path_is_refused(value: str, reason: str) -> None:
    """The client encodes ``/`` (``a%2F%2Fb``); the HTTP API decodes it into the greedy
    value, so the routed reading has an empty or dot segment: refused everywhere."""
    routes = Routes({"GET /f/{proxy+}": authenticated()})
    path = "/f/ok"  # the ARN and rawPath a lenient gateway could show
    event = http_proxy("GET", path, route_key="GET /f/{proxy+}",
                       path_params={"proxy": value}, token=TOKEN)  # fmt: skip
    assert status(routes, event) in (403, 404), reason
    auth = http_authorizer_v2("GET", path, route_key="GET /f/{proxy+}",
                              path_params={"proxy": value}, token=TOKEN)  # fmt: skip
    assert effect(routes, auth) == "Deny", reason


@pytest.mark.parametrize("value", ["", "globex", "acme;x", "acme/x"])
def test_a_routed_path_that_disagrees_with_the_arn_is_denied(value: str) -> None:
    """The ARN shows ``/t/acme/o`` (allowed); the route API Gateway ran, filled with the
    event's value, names another tenant, an empty segment, a ``;`` reading or a slash."""
    auth = http_authorizer_v2("GET", "/t/acme/o", route_key="GET /t/{id}/o",
                              path_params={"id": value}, token=TOKEN)  # fmt: skip
    assert effect(ROUTES, auth) == "Deny"
    event = http_proxy("GET", "/t/acme/o", route_key="GET /t/{id}/o",
                       path_params={"id": value}, token=TOKEN)  # fmt: skip
    assert status(ROUTES, event) in (403, 404)


def test_the_same_event_with_its_own_value_is_allowed() -> None:
    auth = http_authorizer_v2("GET", "/t/acme/o", route_key="GET /t/{id}/o",
                              path_params={"id": "acme"}, token=TOKEN)  # fmt: skip
    assert effect(ROUTES, auth) == "Allow"
    event = http_proxy("GET", "/t/acme/o", route_key="GET /t/{id}/o",
                       path_params={"id": "acme"}, token=TOKEN)  # fmt: skip
    assert status(ROUTES, event) == 200


def test_a_greedy_value_spelling_a_placeholder_is_read_as_sent() -> None:
    """``/f/%7Bproxy+%7D`` arrives decoded as ``{proxy+}``: a value, never a template."""
    routes = Routes({"GET /f/{proxy+}": rule(lambda p, c: c.params["proxy"] == "{proxy+}")})
    event = http_proxy("GET", "/f/{proxy+}", route_key="GET /f/{proxy+}",
                       path_params={"proxy": "{proxy+}"}, token=TOKEN)  # fmt: skip
    assert status(routes, event) == 200
    auth = http_authorizer_v2("GET", "/f/{proxy+}", route_key="GET /f/{proxy+}",
                              path_params={"proxy": "{proxy+}"}, token=TOKEN)  # fmt: skip
    assert effect(routes, auth) == "Allow"


def test_a_guard_without_a_table_still_refuses_a_dot_segment_a_value_spells() -> None:
    event = http_proxy("GET", "/t/../o", route_key="GET /t/{id}/o",
                       path_params={"id": ".."}, token=TOKEN)  # fmt: skip
    assert status(None, event) == 404


# =========================================================================================
# Held: path_decoded for REQUEST authorizer events with version 1.0
# =========================================================================================


def test_a_rest_request_authorizer_event_with_a_forged_version_only_refuses_more() -> None:
    """A REST REQUEST event passes ``acm%65`` as sent (it means ``acme``, allowed once
    decoded); with ``version: "1.0"`` it is taken as decoded already: denied, never more."""
    event = request_authorizer("GET", "/t/acm%65/o", resource="/t/{id}/o",
                               path_params={"id": "acm%65"}, token=TOKEN)  # fmt: skip
    assert effect(ROUTES, event) == "Allow"
    event["version"] = "1.0"
    assert Request.from_event(event).kind is EventKind.REST_REQUEST_AUTHORIZER
    assert effect(ROUTES, event) == "Deny"


def test_a_default_route_event_without_identity_source_fails_closed() -> None:
    """An HTTP API payload 1.0 ``$default`` event without ``identitySource`` is read as a
    REST one: its ARN names no verb, so nothing is allowed on a guess (a 1.0 event with
    identity sources is decided on its path)."""
    event = http_authorizer_v1("GET", "/t/acme/o", resource="$default", token=TOKEN)
    event["methodArn"] = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/$default"
    assert effect(ROUTES, event) == "Allow"
    del event["identitySource"]
    assert effect(ROUTES, event) == "Deny"


# =========================================================================================
# Held: the key generation moves after the keys are published
# =========================================================================================


@pytest.fixture
def idp() -> Iterator[LocalIssuer]:
    with LocalIssuer(algs=("ES256",)) as issuer:
        yield issuer


def test_between_publishing_and_the_bump_a_withdrawn_key_verifies_nothing_new(
    idp: LocalIssuer,
) -> None:
    verifier = JwtVerifier(issuer=idp.issuer, audience="api", jwks_uri=idp.jwks_uri,
                           allow_http=True)  # fmt: skip
    assert verifier.hydrate()
    cached = idp.token(sub="mallory", aud="api")
    unseen = idp.token(sub="eve", aud="api")  # same withdrawn key, never verified
    verifier.verify(cached)
    verifier.verify(cached)
    assert verifier.revalidate(cached)
    idp.rotate()
    idp.remove(idp.keys[0].kid)
    fresh = idp.token(sub="bob", aud="api")

    with refresh_paused_at(verifier, "self._generation += 1"):
        assert _reason(verifier, unseen) == "unknown_key"  # the new set is the published one
        assert _reason(verifier, fresh) == "ok"
        assert _reason(verifier, fresh) == "ok"  # kept under the old generation: stale soon
    assert isinstance(verifier.keys, JwksCache)
    assert verifier.keys.stats().generation == 2
    assert _reason(verifier, cached) == "unknown_key"
    assert not verifier.revalidate(cached)
    assert not verifier.revalidate(fresh)  # its entry was made under the old generation
    assert _reason(verifier, fresh) == "ok"


def test_async_refreshes_bump_once_per_change_and_never_on_failure(idp: LocalIssuer) -> None:
    clock = Clock(time.time())
    keys = JwksCache(idp.jwks_uri, allow_http=True, ttl=60, clock=clock)
    verifier = JwtVerifier(issuer=idp.issuer, audience="api", jwks=keys, clock=clock)

    def run(token: str) -> str:
        try:
            asyncio.run(verifier.verify_async(token))
        except SecAuthError as err:
            return str(err.reason.value)
        return "ok"

    old = idp.token(sub="mallory", aud="api")
    assert run(old) == run(old) == "ok"
    assert verifier.revalidate(old)
    assert keys.stats().generation == 1
    clock.now += 61  # due: the same set again
    assert run(old) == "ok"
    assert (keys.stats().fetches, keys.stats().generation) == (2, 1)
    idp.rotate()
    idp.remove(idp.keys[0].kid)
    clock.now += 61
    new = idp.token(sub="bob", aud="api")
    assert run(new) == "ok"
    assert keys.stats().generation == 2
    assert not verifier.revalidate(old)
    assert run(old) == "unknown_key"
    idp.mode = "error"
    clock.now += 61  # due again; the IdP fails: the published set stays, and its generation
    assert run(new) == "ok"
    stats = keys.stats()
    assert (stats.failures, stats.generation) == (1, 2)
    assert run(old) == "keys_unavailable"  # an unknown kid while the IdP is down: a 503


# =========================================================================================
# Held: claim policy
# =========================================================================================


def _signed(**claims: Any) -> str:
    body: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": "alice", "exp": 4_000_000_000}
    body.update(claims)
    return PAIR.sign(body)


def _verifier(**options: Any) -> JwtVerifier:
    return JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]}, **options)


@pytest.mark.parametrize(
    ("expected", "sent"),
    [
        (float("nan"), 0),
        (10**30, 1e30),
        ({"a": {"b": None}}, {"a": {}}),
        ({"a": [None]}, {"a": []}),
        ([{"lvl": 1}], [{"lvl": 1, "extra": True}]),
        ("access", ["access"]),
    ],
)
def test_expected_claims_that_no_token_can_equal_refuse_every_token(
    expected: Any, sent: Any
) -> None:
    verifier = _verifier(expected_claims={"x": expected})
    assert _reason(verifier, _signed(x=sent)) == "invalid_claims"
    assert _reason(verifier, _signed()) == "invalid_claims"


@pytest.mark.parametrize("expected", [(1,), {"a"}, {1: "a"}, [b"x"], object()])
def test_expected_claims_that_are_no_json_value_are_a_configuration_error(expected: Any) -> None:
    """A tuple or a set from Python configuration would match no token: said at once."""
    with pytest.raises(ConfigurationError, match="JSON values"):
        _verifier(expected_claims={"x": expected})


@pytest.mark.parametrize(
    "value", [10**30, 0.5, {"a": {"b": None}}, [True, 0, 1.5, "s", None, [], {}]]
)
def test_expected_claims_match_their_own_json(value: Any) -> None:
    assert _reason(_verifier(expected_claims={"x": value}), _signed(x=value)) == "ok"


@pytest.mark.parametrize(("value", "expected"), [(False, "ok"), (0, "ok"), ("", "ok"),
                                                 ([], "ok"), (None, "invalid_claims")])  # fmt: skip
def test_only_null_counts_as_missing_among_falsy_required_claims(value: Any, expected: str) -> None:
    assert _reason(_verifier(required_claims=["x"]), _signed(x=value)) == expected


def test_introspection_applies_the_same_claim_policy(scripted: Any) -> None:
    now = time.time()
    verifier = introspector(scripted, required_claims=["tenant"], expected_claims={"lvl": 1})
    answers = {
        "ok": {**active(now), "tenant": "acme", "lvl": 1},
        "null tenant": {**active(now), "tenant": None, "lvl": 1},
        "true level": {**active(now), "tenant": "acme", "lvl": True},
        "float level": {**active(now), "tenant": "acme", "lvl": 1.0},
        "no level": {**active(now), "tenant": "acme"},
    }
    outcomes = {}
    for name, answer in answers.items():
        token = opaque()
        scripted.answer(token, answer)
        try:
            verifier.verify(token)
            outcomes[name] = ("ok", 200)
        except SecAuthError as err:
            outcomes[name] = (str(err.reason.value), err.status)
    assert outcomes == {
        "ok": ("ok", 200),
        "null tenant": ("invalid_claims", 401),
        "true level": ("invalid_claims", 401),
        "float level": ("invalid_claims", 401),
        "no level": ("invalid_claims", 401),
    }


def test_cognito_token_use_is_type_exact_and_cannot_be_overridden() -> None:
    with LocalCognito() as pool:
        options: dict[str, Any] = {"user_pool_id": pool.user_pool_id, "client_id": pool.client_id,
                                   "token_use": "access", "jwks_uris": pool.jwks_uris,
                                   "allow_http": True}  # fmt: skip
        with pytest.raises(ConfigurationError):
            JwtVerifier.cognito(**options, expected_claims={"token_use": "id"})
        verifier = JwtVerifier.cognito(**options, expected_claims={"custom:tier": 1})
        assert _reason(verifier, pool.access_token(**{"custom:tier": 1})) == "ok"
        assert _reason(verifier, pool.access_token(**{"custom:tier": True})) == "invalid_claims"
        assert _reason(verifier, pool.access_token(token_use=["access"], **{"custom:tier": 1})) == (
            "invalid_claims"
        )
        assert _reason(verifier, pool.id_token(**{"custom:tier": 1})) != "ok"


def test_a_huge_integer_claim_is_a_clean_401_through_the_guard() -> None:
    """A 5,000-digit number in a claim the policy compares: refused as malformed (401),
    the parser's message kept out of the answer."""
    from secauth.testing import encode_segment, sign_compact

    payload = (b'{"iss":"' + ISS.encode() + b'","aud":"api","sub":"a","exp":4000000000,"x":'
               + b"9" * 5000 + b"}")  # fmt: skip
    token = sign_compact({"alg": "ES256", "kid": "r68"}, encode_segment(payload),
                         PAIR.private_key, "ES256")  # fmt: skip
    guard = Guard(_verifier(expected_claims={"x": 1}), decision_log=None)

    @guard
    def handler(event: dict[str, Any], context: object, principal: Principal) -> dict[str, Any]:
        return {"statusCode": 200, "body": "ok"}

    answer = handler(http_proxy("GET", "/", token=token), None)
    assert answer["statusCode"] == 401
    body = json.loads(answer["body"])
    assert "4300" not in answer["body"]
    assert body["status"] == 401
