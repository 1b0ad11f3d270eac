"""Review 111: the docs changed this session, checked against the code.

Resolved: the finding and the three sentences. The hooks table says a cookie token is
``TokenSource.cookie``'s and an override reading a cookie or certificate calls ``secauth.cross_site``'s
check itself (the test now follows it); browser-clients.md's cookie row names the API's own origin and
``origins=``; errors.md's ``Forbidden`` row lists the cross-site refusals; guard.md's CORS section says
credentialed origins may send cookie tokens.

Claims checked, through public entry points (Guard, Authorizer, RateLimiter.per_plan,
Revocations with DynamoDBRevocationStore, IntrospectionVerifier, KeySet):

* docs/browser-clients.md: a cookie token on a state-changing method (and ``$connect``) is taken
  only from the API's own origin (``https://`` + Host), the cookie source's ``origins`` and a
  Guard's credentialed ``Cors`` origins; without Origin or with ``Origin: null``,
  ``Sec-Fetch-Site: same-origin`` will do; anything else 403 ``forbidden`` before the token is
  verified (a forged token gets 403 too); GET/HEAD/OPTIONS and header tokens are not checked;
  a cached Authorizer refuses cookie sources; a token in two places is 401
  ``ambiguous_credentials``.  HELD.
* docs/authorizer.md: a client-certificate POST a browser made for another origin (Origin, or a
  Sec-Fetch-Site other than same-origin) is refused unless listed in
  ``ClientCertificates(origins=)``; machine clients and GET pass; ``$connect`` with another
  routeKey refused; ``secauth_dpop_proof`` written only for a recorded DPoP proof, never with
  ``cache_ttl > 0``, never from ``extra_context``.  HELD.
* docs/sender-constrained.md: ``replay=None`` refused in an Authorizer and a non-trusting Guard;
  a trusting Guard takes only the proof the context names (other marker, none, no context:
  401 ``invalid_dpop_proof``).  HELD.
* docs/guard.md: trust mode without context 401 ``missing_authorizer_context``; both mode: a
  context without a token is 401 missing_token, a token naming another principal 401; ALB
  answers carry the security headers in the map ALB reads, handler headers folded in.  HELD.
* docs/ratelimit.md: ``per_plan`` takes ``name=`` (required with your own key function),
  names ``<name>:<plan>:<limit>`` / ``tenant:...`` / ``<plan>:<limit>``; limits count apart
  only under different names.  HELD.
* docs/revocation.md: DynamoDB ``pk`` is the SHA-256 digest (``item_key``), no subject in
  clear, a 5000-byte subject revokes and is found.  HELD.
* docs/opaque-tokens.md: 400/413/414/431, over ``max_bytes``, beyond the JSON parser and
  ``bad_member`` fail that call only; 5xx, 401, 403, 429 and a bad document rest the
  endpoint for ``retry_after``.  HELD.
* docs/jwks.md, docs/security.md: an RSA exponent over 32 bits (or even, or under 3) is
  skipped with the documented message; 3, 65537 and 2**32-1 are used.  HELD.

Findings:

* LOW (docs/authorizer.md:648, hooks table): "| `credentials(request)` | ... | accept another
  credential (a cookie, a signed header) |". An override that reads a cookie itself gets no
  cross-site check (only the default credentials() calls ``check_cookie_origin``): a page of
  another site posting with the victim's cookie is admitted. The requirement is in the
  method's docstring only, not in the docs. Test:
  ``test_a_cookie_credentials_override_as_the_hooks_table_suggests_refuses_other_sites``.

Stale or imprecise sentences, no test:

* docs/browser-clients.md:15, table row for ``TokenSource.cookie("session")``: "pages on the
  same site". Only the same *origin* (or a listed one) is taken for a state-changing request;
  a page on a sibling subdomain (same site) is refused (checked in
  ``test_a_cookie_post_is_taken_from_the_sources_origins_only``).
* docs/errors.md:101, ``Forbidden`` row: names rule refusals only, not the cross-site cookie
  and client-certificate refusals (403 ``forbidden`` from a Guard, Unauthorized from an
  Authorizer) added this session.
* docs/guard.md, CORS section: never says that an origin in ``Cors(allow_credentials=True)``
  also vouches for cookie tokens on state-changing requests (said in browser-clients.md only).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest

from secauth import Authorizer, Guard, JwtVerifier, Principal, Routes, authenticated
from secauth.authorizer import Credentials
from secauth.client_certs import ClientCertEntry, ClientCertificates
from secauth.cross_site import check_cookie_origin
from secauth.errors import ConfigurationError, KeysUnavailable, TokenError
from secauth.policy import Unauthorized
from secauth.responses import Cors
from secauth.testing import KeyPair
from secauth.testing_events import alb, http_proxy, request_authorizer, websocket_connect
from secauth.token_sources import TokenSource, read_token

ISS, AUD = "https://idp.example/", "chat"
PAIR = KeyPair.generate("ES256", kid="k1")
OTHER = KeyPair.generate("ES256", kid="k1")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
HOST = "api.example.com"
EVIL = "https://evil.example"
APP = "https://app.example.com"


def token(pair: KeyPair = PAIR, **over: Any) -> str:
    claims = {"iss": ISS, "aud": AUD, "sub": "ann", "exp": 4_000_000_000, "iat": int(time.time())}
    return pair.sign({**claims, **over})


def ok(event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
    return {"statusCode": 200, "body": principal.id}


def cookie_post(method: str = "POST", *, tok: str | None = None, **headers: str) -> dict[str, Any]:
    sent = {"host": HOST, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return http_proxy(method, "/transfer", cookies=[f"session={tok or token()}"], headers=sent)


def reason(answer: dict[str, Any]) -> str:
    return json.loads(answer["body"])["reason"]


def title(answer: dict[str, Any]) -> str:
    return str(json.loads(answer["body"])["title"])


def effect(authorizer: Authorizer, event: dict[str, Any]) -> str:
    """An authorizer's answer: ``Allow``/``Deny``, or ``401`` (Unauthorized raised)."""
    try:
        return str(authorizer.handler(event, None)["policyDocument"]["Statement"][0]["Effect"])
    except Unauthorized:
        return "401"


ROUTES = Routes({
    "$connect": authenticated(),
    "sendmessage": authenticated(),
    "GET /transfer": authenticated(),
    "POST /transfer": authenticated(),
    "GET /orders": authenticated(),
    "POST /orders": authenticated(),
})  # fmt: skip


# -- docs/browser-clients.md: cookie tokens and cross-site requests -------------------------


def cookie_guard(**options: Any) -> Any:
    sources = [TokenSource.cookie("session", origins=options.pop("origins", ()))]
    return Guard(VERIFIER, token_sources=sources, decision_log=None, **options)(ok)


def test_a_cookie_post_from_another_site_is_403_forbidden_before_the_token_is_verified() -> None:
    guarded = cookie_guard()
    for tok in (token(), token(OTHER)):  # a valid token, and a forged one: 403 both
        answer = guarded(cookie_post(tok=tok, origin=EVIL), None)
        assert (answer["statusCode"], title(answer)) == (403, "forbidden")
    assert guarded(cookie_post(origin=f"https://{HOST}"), None)["statusCode"] == 200


def test_a_cookie_post_is_taken_from_the_sources_origins_only() -> None:
    guarded = cookie_guard(origins=[APP])
    assert guarded(cookie_post(origin=APP), None)["statusCode"] == 200
    assert guarded(cookie_post(origin="https://other.example.com"), None)["statusCode"] == 403
    assert cookie_guard()(cookie_post(origin=APP), None)["statusCode"] == 403


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 403),  # neither header: refused
        ({"sec_fetch_site": "same-origin"}, 200),
        ({"origin": "null", "sec_fetch_site": "same-origin"}, 200),  # no-referrer page
        ({"origin": "null"}, 403),
        ({"sec_fetch_site": "same-site"}, 403),  # a sibling subdomain's page
        ({"sec_fetch_site": "cross-site"}, 403),
        ({"origin": EVIL, "sec_fetch_site": "same-origin"}, 403),  # Origin decides
    ],
)
def test_without_an_origin_only_sec_fetch_site_same_origin_will_do(
    headers: dict[str, str], status: int
) -> None:
    assert cookie_guard()(cookie_post(**headers), None)["statusCode"] == status


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_a_cookie_token_on_a_safe_method_is_taken_from_any_page(method: str) -> None:
    routes = Routes({f"{method} /transfer": authenticated()})
    guarded = cookie_guard(routes=routes)
    assert guarded(cookie_post(method, origin=EVIL), None)["statusCode"] == 200


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_every_other_method_is_checked(method: str) -> None:
    routes = Routes({f"{method} /transfer": authenticated()})
    guarded = cookie_guard(routes=routes)
    assert guarded(cookie_post(method, origin=EVIL), None)["statusCode"] == 403


def test_a_guards_cors_origins_vouch_for_cookies_only_with_credentials() -> None:
    with_credentials = Cors(allow_origins=[APP], allow_credentials=True)
    without = Cors(allow_origins=[APP], allow_credentials=False)
    assert cookie_guard(cors=with_credentials)(cookie_post(origin=APP), None)["statusCode"] == 200
    assert cookie_guard(cors=without)(cookie_post(origin=APP), None)["statusCode"] == 403


def test_a_header_token_is_not_checked_for_its_origin() -> None:
    guarded = Guard(VERIFIER, decision_log=None)(ok)
    event = http_proxy("POST", "/transfer", token=token(), headers={"host": HOST, "origin": EVIL})
    assert guarded(event, None)["statusCode"] == 200


def connect(*, origins: tuple[str, ...] = (), **headers: str) -> tuple[Authorizer, dict[str, Any]]:
    sources = [TokenSource.cookie("session", origins=origins)]
    authorizer = Authorizer(VERIFIER, routes=ROUTES, decision_log=None, token_sources=sources)
    event = websocket_connect(headers={"Host": HOST, **headers}, cookies=[f"session={token()}"])
    return authorizer, event


def test_an_authorizer_refuses_a_cookie_connect_from_another_site() -> None:
    assert effect(*connect(Origin=EVIL)) == "401"
    assert effect(*connect()) == "401"  # neither Origin nor Sec-Fetch-Site
    assert effect(*connect(Origin=f"https://{HOST}")) == "Allow"
    assert effect(*connect(origins=(APP,), Origin=APP)) == "Allow"  # "nothing more on $connect"


def test_a_cached_authorizer_refuses_cookie_sources() -> None:
    with pytest.raises(ConfigurationError, match="cookie"):
        Authorizer(VERIFIER, routes=ROUTES, cache_ttl=300,
                   token_sources=[TokenSource.cookie("session")])  # fmt: skip


def test_a_token_in_two_places_is_ambiguous_401() -> None:
    from secauth.errors import AmbiguousCredentials
    from secauth.events import Request

    event = http_proxy("GET", "/x", token=token(), cookies=[f"session={token()}"])
    with pytest.raises(AmbiguousCredentials) as raised:
        read_token(Request.from_event(event), [TokenSource.header(), TokenSource.cookie("session")])
    assert (raised.value.status, raised.value.reason) == (401, "ambiguous_credentials")


class CookieAuthorizer(Authorizer):
    """What docs/authorizer.md's hooks table says since this review: an override that reads a
    cookie itself calls ``secauth.cross_site.check_cookie_origin`` too."""

    def credentials(self, request: Any) -> Credentials:
        presented = read_token(request, [TokenSource.cookie("session")])
        check_cookie_origin(request, presented)
        return Credentials(self.map_claims(self.verifier.verify(presented.token)))


# fmt: off
def test_a_cookie_credentials_override_as_the_hooks_table_says_refuses_other_sites() -> None:
    authorizer = CookieAuthorizer(VERIFIER, routes=ROUTES, decision_log=None)

    def event_from(origin: str) -> dict[str, Any]:
        headers = {"Host": HOST, "Origin": origin}
        return request_authorizer("POST", "/orders", headers=headers, cookies=[f"session={token()}"])

    assert effect(authorizer, event_from(f"https://{HOST}")) == "Allow"  # its own page works...
    event = event_from(EVIL)
    # ...and one following the table's advice refuses a page of evil.example posting with
    # the victim's cookie (before this review the table suggested a cookie override alone).
    assert effect(authorizer, event) == "401"
# fmt: on


# -- docs/authorizer.md: client certificates and origins; $connect; the context table -------

CERT = {"subjectDN": "CN=partner-b,O=Partner B", "issuerDN": "CN=Example CA",
        "serialNumber": "0A", "validity": {"notBefore": "May 28 12:30:02 2024 GMT",
                                           "notAfter": "Aug  5 09:36:04 2099 GMT"}}  # fmt: skip


def mtls(origins: tuple[str, ...] = ()) -> Authorizer:
    entry = ClientCertEntry("partner-b", issuer_dn="CN=Example CA")
    certs = ClientCertificates({"CN=partner-b,O=Partner B": entry}, origins=origins)
    return Authorizer(routes=ROUTES, client_certs=certs, api="rest", decision_log=None)


def mtls_event(method: str = "POST", **headers: str) -> dict[str, Any]:
    sent = {"Host": HOST, **{k.replace("_", "-").title(): v for k, v in headers.items()}}
    event = request_authorizer(method, "/orders", headers=sent)
    event["requestContext"]["identity"]["clientCert"] = CERT
    return event


@pytest.mark.parametrize(
    ("headers", "answer"),
    [
        ({}, "Allow"),  # a client that is not a browser says nothing: not asked
        ({"origin": EVIL}, "401"),
        ({"sec_fetch_site": "cross-site"}, "401"),
        ({"sec_fetch_site": "same-site"}, "401"),  # "other than same-origin"
        ({"sec_fetch_site": "same-origin"}, "Allow"),
        ({"origin": f"https://{HOST}"}, "Allow"),
    ],
)
def test_a_certificate_post_a_browser_made_for_another_sites_page_is_refused(
    headers: dict[str, str], answer: str
) -> None:
    assert effect(mtls(), mtls_event(**headers)) == answer


def test_a_certificate_post_from_a_listed_origin_or_by_get_passes() -> None:
    assert effect(mtls((APP,)), mtls_event(origin=APP)) == "Allow"
    assert effect(mtls(), mtls_event(origin=APP)) == "401"
    assert effect(mtls(), mtls_event("GET", origin=EVIL)) == "Allow"


def test_a_connect_event_whose_route_key_names_another_route_is_refused() -> None:
    authorizer = Authorizer(VERIFIER, routes=ROUTES, decision_log=None)
    event = websocket_connect(token=token())
    assert effect(authorizer, event) == "Allow"
    event["requestContext"]["routeKey"] = "sendmessage"
    assert effect(authorizer, event) == "401"


DPOP_URL = "https://abcdef123.execute-api.us-east-1.amazonaws.com/orders/7"


def dpop_request(kind: str = "proxy") -> tuple[dict[str, Any], Any]:
    """A DPoP-bound token and proof for ``GET /orders/7``: an HTTP API integration event
    (``proxy``) or a REST REQUEST authorizer event (``authorizer``)."""
    from secauth.testing_dpop import DpopKey

    client = DpopKey.generate("ES256")
    bound = PAIR.sign(client.bind({"iss": ISS, "aud": AUD, "sub": "ann", "exp": 4e9,
                                   "iat": int(time.time())}))  # fmt: skip
    proof = client.proof("GET", DPOP_URL, access_token=bound)
    headers = {"authorization": f"DPoP {bound}", "dpop": proof}
    if kind == "proxy":
        return http_proxy("GET", "/orders/7", headers=headers), client
    return request_authorizer("GET", "/orders/7", headers=headers), client


def fingerprint(event: dict[str, Any]) -> str | None:
    from secauth.events import Request
    from secauth.sender_constraint import proof_fingerprint

    return proof_fingerprint(Request.from_event(event))


def test_the_authorizer_names_the_dpop_proof_it_recorded_and_only_then() -> None:
    from secauth.dpop import DpopVerifier
    from secauth.dpop_replay import MemoryReplayStore
    from secauth.sender_constraint import SenderConstraint

    routes = Routes({"GET /orders/{id}": authenticated()})
    verifier = DpopVerifier(replay=MemoryReplayStore(), htu=lambda request: DPOP_URL)
    dpop = SenderConstraint(dpop=verifier)
    authorizer = Authorizer(VERIFIER, routes=routes, decision_log=None, sender_constraint=dpop)
    event, _ = dpop_request("authorizer")
    answer = authorizer.handler(event, None)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert answer["context"]["secauth_dpop_proof"] == fingerprint(event)
    assert effect(authorizer, event) == "401"  # the same proof again: a replay
    bearer = request_authorizer("GET", "/orders/7", token=token())
    assert "secauth_dpop_proof" not in authorizer.handler(bearer, None)["context"]


def test_a_cached_answer_never_names_a_proof_nor_takes_a_secauth_key_from_extra() -> None:
    class Marked(Authorizer):
        def credentials(self, request: Any) -> Credentials:
            return Credentials(Principal("ann"), dpop_proof="A" * 43)

        def extra_context(self, principal: Principal, request: Any) -> dict[str, object]:
            return {"secauth_dpop_proof": "B" * 43, "secauth_tenant": "acme", "plan": "pro"}

    event = request_authorizer("GET", "/orders", token=token())
    # An overridden credentials() needs its reads in the identity sources (review 136).
    cached = Marked(VERIFIER, routes=ROUTES, cache_ttl=300, cache_key_covers_request=True,
                    decision_log=None)  # fmt: skip
    context = cached.handler(event, None)["context"]
    assert "secauth_dpop_proof" not in context
    assert "secauth_tenant" not in context
    assert context["plan"] == "pro"
    fresh = Marked(VERIFIER, routes=ROUTES, decision_log=None).handler(event, None)["context"]
    assert fresh["secauth_dpop_proof"] == "A" * 43  # the credentials', never extra's


# -- docs/sender-constrained.md: replay=None and the proof marker ---------------------------


def test_replay_none_is_refused_outside_a_guard_that_trusts_the_authorizer() -> None:
    from secauth.dpop import DpopVerifier
    from secauth.sender_constraint import SenderConstraint

    for build in (
        lambda c: Authorizer(VERIFIER, routes=ROUTES, sender_constraint=c),
        lambda c: Guard(VERIFIER, sender_constraint=c),
    ):
        with pytest.raises(ConfigurationError, match="replay"):
            build(SenderConstraint(dpop=DpopVerifier(replay=None)))


@pytest.mark.parametrize("marker", ["own", "other", "none", "no context"])
def test_a_guard_without_a_replay_store_takes_only_the_proof_the_authorizer_named(
    marker: str,
) -> None:
    from secauth.dpop import DpopVerifier
    from secauth.sender_constraint import SenderConstraint

    guard = Guard(VERIFIER, trust_authorizer=True, decision_log=None,
                  sender_constraint=SenderConstraint(dpop=DpopVerifier(replay=None)))  # fmt: skip
    event, _ = dpop_request()
    context = Principal("ann", issuer=ISS).to_context()
    if marker == "own":
        context["secauth_dpop_proof"] = fingerprint(event)
    elif marker == "other":
        context["secauth_dpop_proof"] = hashlib.sha256(b"another proof").hexdigest()[:43]
    if marker != "no context":
        event["requestContext"]["authorizer"] = {"lambda": context}
    answer = guard(ok)(event, None)
    if marker == "own":
        assert answer["statusCode"] == 200
    else:
        assert answer["statusCode"] == 401
        assert answer["headers"]["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')


# -- docs/guard.md: modes; security headers on ALB ------------------------------------------


def test_trust_mode_needs_a_context_and_both_mode_a_token_naming_its_principal() -> None:
    answer = Guard(routes=ROUTES, decision_log=None)(ok)(http_proxy("GET", "/orders"), None)
    assert (answer["statusCode"], title(answer)) == (401, "missing authorizer context")
    both = Guard(VERIFIER, trust_authorizer=True, routes=ROUTES, decision_log=None)(ok)
    event = http_proxy("GET", "/orders")
    event["requestContext"]["authorizer"] = {"lambda": Principal("ann", issuer=ISS).to_context()}
    refused = both(event, None)  # a context without a token: missing_token
    assert (refused["statusCode"], title(refused)) == (401, "missing credentials")
    event["headers"]["authorization"] = f"Bearer {token(sub='bob')}"
    assert both(event, None)["statusCode"] == 401  # context and token name others
    event["headers"]["authorization"] = f"Bearer {token()}"
    assert both(event, None)["statusCode"] == 200


SECURITY = {"Strict-Transport-Security", "X-Content-Type-Options", "Cache-Control",
            "Content-Security-Policy", "X-Frame-Options", "Referrer-Policy"}  # fmt: skip


@pytest.mark.parametrize("multi_value", [True, False])
@pytest.mark.parametrize("shape", ["headers", "multiValueHeaders"])
def test_alb_answers_carry_the_security_headers_in_the_map_alb_reads(
    multi_value: bool, shape: str
) -> None:
    def handler(event: Any, context: Any, principal: Principal) -> dict[str, Any]:
        own = {"X-Own": "1"} if shape == "headers" else {"X-Own": ["1"]}
        return {"statusCode": 200, shape: own, "body": "x"}

    answer = Guard(VERIFIER, decision_log=None)(handler)(
        alb("GET", "/x", token=token(), multi_value=multi_value), None
    )
    read = answer["multiValueHeaders" if multi_value else "headers"]
    assert set(read) >= SECURITY
    if multi_value:  # the handler's headers folded in
        assert read["X-Own"] == ["1"]


# -- docs/ratelimit.md: names and plans ----------------------------------------------------


def test_per_plan_takes_name_for_its_own_key_function_and_requires_it() -> None:
    from secauth.ratelimit import MemoryStore, PlanFrom, RateLimiter
    from secauth.ratelimit.keys import by_tenant

    def device(request: Any, principal: Any) -> str:
        return "user:alice"  # the very key per_principal would use

    table = {"free": ["2/minute"]}
    store = MemoryStore()
    with pytest.raises(ConfigurationError, match="name="):
        RateLimiter.per_plan(table, plan_of=PlanFrom.claim("plan"), key=device)
    named = RateLimiter.per_plan(table, plan_of=PlanFrom.claim("plan"), key=device,
                                 name="device", store=store)  # fmt: skip
    plain = RateLimiter.per_plan(table, plan_of=PlanFrom.claim("plan"), store=store)
    tenant = RateLimiter.per_plan(table, plan_of=PlanFrom.claim("plan"), key=by_tenant,
                                  store=store)  # fmt: skip
    alice = Principal("alice", tenant="acme", claims={"plan": "free"})
    event = http_proxy("GET", "/x")
    policy = named.hit(event, alice).headers()["RateLimit-Policy"]
    assert policy.startswith('"device:free:2/60s"')
    assert tenant.hit(event, alice).headers()["RateLimit-Policy"].startswith('"tenant:free:2/60s"')
    assert [plain.hit(event, alice).allowed for _ in range(3)] == [True, True, False]
    # one store, one key value, other names: counted apart
    assert named.hit(event, alice).allowed
    assert tenant.hit(event, alice).allowed


def test_two_limits_of_one_count_count_apart_only_under_different_names() -> None:
    from secauth.ratelimit import MemoryStore, RateLimiter

    def key(request: Any, principal: Any) -> str:
        return "k"

    store = MemoryStore()
    with pytest.raises(ConfigurationError, match="name="):
        RateLimiter.per_key("1/minute", key=key, store=store)
    first = RateLimiter.per_key("1/minute", key=key, name="a", store=store)
    same = RateLimiter.per_key("1/minute", key=key, name="a", store=store)
    other = RateLimiter.per_key("1/minute", key=key, name="b", store=store)
    event = http_proxy("GET", "/x")
    assert first.hit(event, None).allowed
    assert not same.hit(event, None).allowed
    assert other.hit(event, None).allowed


# -- docs/revocation.md: DynamoDB digests and item_key ---------------------------------------


class FakeDynamoDB:
    """Just what DynamoDBRevocationStore calls, keeping items by ``pk``."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.asked: list[str] = []

    def get_item(self, *, TableName: str, Key: Any, ConsistentRead: bool) -> dict[str, Any]:
        found = self.items.get(Key["pk"]["S"])
        return {"Item": found} if found else {}

    def put_item(self, *, TableName: str, Item: Any, **condition: Any) -> None:
        self.items[Item["pk"]["S"]] = Item

    def batch_get_item(self, *, RequestItems: Any) -> dict[str, Any]:
        ((table, request),) = RequestItems.items()
        keys = [key["pk"]["S"] for key in request["Keys"]]
        self.asked.extend(keys)
        return {"Responses": {table: [self.items[k] for k in keys if k in self.items]}}


def test_dynamodb_revocation_entries_are_keyed_by_digest_and_found_by_item_key() -> None:
    from secauth.errors import TokenRevoked
    from secauth.revocation import Revocations
    from secauth.revocation_stores import DynamoDBRevocationStore

    fake = FakeDynamoDB()
    store = DynamoDBRevocationStore("revocations", client=fake)
    revocations = Revocations(store, max_token_lifetime=3600)
    subject = "s" * 5000  # over DynamoDB's 2048-byte key limit in clear
    now = time.time()
    revocations.revoke_subject(ISS, subject, before=now)
    (pk,) = fake.items
    assert pk == DynamoDBRevocationStore.item_key(f"subject|{ISS}|{subject}")
    assert pk == hashlib.sha256(f"subject|{ISS}|{subject}".encode()).hexdigest()
    assert subject not in json.dumps(fake.items)
    claims = {"iss": ISS, "sub": subject, "iat": now - 10, "exp": now + 600}
    with pytest.raises(TokenRevoked):
        revocations.check(claims)
    assert all(len(asked) == 64 for asked in fake.asked)


# -- docs/opaque-tokens.md: which failures rest the endpoint --------------------------------


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def outcome(verifier: Any, tok: str) -> str:
    try:
        verifier.verify(tok)
    except KeysUnavailable as exc:
        return "503:" + str((exc.detail.get("cause") or {}).get("kind"))
    except TokenError as exc:
        return type(exc).__name__
    return "allowed"


ONE_CALL: list[tuple[int, Any]] = [
    (400, {"error": "invalid_request"}),
    (413, {"error": "too big"}),
    (414, {"error": "too long"}),
    (431, {"error": "headers too big"}),
    (200, b'{"active": true, "exp": ' + b"9" * 4400 + b"}"),  # beyond the parser
    (200, b'{"active": true, "x": ' + b"[" * 3000 + b"]" * 3000 + b"}"),
    (200, "MISTYPED"),  # a numeric sub: bad_member
    (200, "OVERSIZE"),  # over max_bytes
]
EVERY_CALL: list[tuple[int, Any]] = [
    (500, {"error": "server"}),
    (502, b"bad gateway"),
    (401, {"error": "invalid_client"}),
    (403, {"error": "forbidden"}),
    (429, {"error": "slow down"}),
    (200, b"not json"),
    (200, {"active": "yes"}),  # not a boolean active: a bad document
]


def _scripted_answer(body: Any, now: float) -> Any:
    from scripted_as import active

    if body == "MISTYPED":
        return active(now, sub=42)
    if body == "OVERSIZE":
        return active(now, pad="x" * 70_000)
    return body


@pytest.mark.parametrize(("status", "body"), ONE_CALL)
def test_a_failure_about_one_call_fails_that_call_only(
    scripted: Any, status: int, body: Any
) -> None:
    from scripted_as import active, introspector, opaque

    clock = Clock(time.time())
    odd, other = opaque(), opaque()
    scripted.answer(odd, _scripted_answer(body, clock.now), status)
    scripted.answer(other, active(clock.now, sub="bob"))
    verifier = introspector(scripted, clock=clock, retry_after=60, max_bytes=65_536)
    assert outcome(verifier, odd).startswith("503")
    assert outcome(verifier, other) == "allowed"


@pytest.mark.parametrize(("status", "body"), EVERY_CALL)
def test_a_failure_of_the_endpoint_rests_it_for_retry_after(
    scripted: Any, status: int, body: Any
) -> None:
    from scripted_as import active, introspector, opaque

    clock = Clock(time.time())
    odd, other = opaque(), opaque()
    scripted.answer(odd, body, status)
    scripted.answer(other, active(clock.now, sub="bob"))
    verifier = introspector(scripted, clock=clock, retry_after=60)
    assert outcome(verifier, odd).startswith("503")
    assert outcome(verifier, other) == "503:None"  # resting: no call made
    assert scripted.count(token=other) == 0
    clock.now += 61
    assert outcome(verifier, other) == "allowed"


# -- docs/jwks.md, docs/security.md: the RSA public exponent ----------------------------------


@pytest.mark.parametrize(
    ("exponent", "used"),
    [(65537, True), (3, True), (2**32 - 1, True), (2**32 + 1, False), (2**1000 + 1, False),
     (65536, False), (1, False)],
)  # fmt: skip
def test_an_rsa_key_with_an_exponent_over_32_bits_is_skipped(exponent: int, used: bool) -> None:
    from secauth._b64 import b64url_decode, b64url_encode
    from secauth.key_sets import KeySet

    jwk = dict(KeyPair.generate("RS256", kid="r1").public_jwk)
    n = int.from_bytes(b64url_decode(jwk["n"]), "big")
    assert exponent < n
    jwk["e"] = b64url_encode(exponent.to_bytes((exponent.bit_length() + 7) // 8, "big"))
    keys = KeySet.from_jwks({"keys": [jwk]})
    if used:
        assert not keys.skipped
    else:
        assert keys.skipped == ("kid 'r1': RSA public exponent is not valid (odd, 3 to 2**32)",)
