"""Review 128: a newcomer's first hour with secauth, adversarially (commit 07902f3).

Resolved (the tests assert them): eight of the nine findings; ``roles('admin,reader')`` is
declined (a group name may hold a comma), and its test asserts that. ``Guard`` refuses a first
argument that is no verifier (a route table: "pass a route table as routes=") and, called with
a rule, points at ``@guard.require(...)``; ``RateLimiter`` refuses ``/M`` as ambiguous; a rule
given as a string names its route and ``roles('admin')``; ``cache_ttl`` of the wrong type names
itself (``policy.builder.checked_cache_ttl``); the Authorizer's record of a backend function's
event says to use ``Guard``; ``tenant()`` without a tenant says to map one
(``ClaimMapper(tenant_claim=...)``); README's handler reads the header in any case and answers
401. Also (review 129's note): ``Authorizer(api_keys=<a dict>)`` is refused.

Read README.md, docs/index.md, docs/tutorial.md, docs/authorizer.md and docs/guard.md as a
newcomer, then tried the likely first configurations and the likely mistakes. Ran the README
quick start's ``make demo`` in a fresh ``git archive`` copy in a temporary directory: it
installed offline and printed "All decisions as expected". (``make test`` was not run: it
installs redis and npm packages and runs the whole suite, beyond this review's budget.)

What held (refused at configuration time with an error naming what to change, or secure
and documented):

* ``JwtVerifier`` without ``audience=`` or ``issuer=`` (TypeError naming the argument);
  ``audience=""``; HMAC algorithms without ``secret=``.
* Issuer with/without trailing slash: a 401 ``invalid_issuer`` whose record shows the
  expected and the actual issuer.
* A loopback ``http://`` JWKS URI without ``allow_http=True``: refused, the message says
  to pass ``allow_http=True`` for loopback test servers.
* Route keys ``GET users/{id}``, ``/users``, ``GET /users/``, ``GET /users/:id``: refused
  with what to write. ``get /x`` is taken as ``GET /x``; ``GET /{proxy}`` is one segment
  (a cached policy never opens ``/a/b``).
* Rules that are not rules (``str``, ``None``, the ``roles`` function) are refused;
  ``guard.require("admin")`` says to write ``roles('admin')``; ``scopes("a b")`` is
  refused with the fix.
* ``Authorizer(verifier, cache_ttl=300)`` without routes: the default table admits every
  valid token everywhere (documented), so a policy covering every verb is consistent.
* ``Guard`` on an authorizer event: 400, nothing runs. ``Authorizer`` on a proxy event:
  401, fail closed (but see finding 7 about the record).
* ``trust_authorizer=True`` on a Function URL with a client-forged context: without a
  token 401, with a token the token's roles decide (the forged ``admin`` is ignored);
  trust mode without a verifier on a Function URL: 401 ``missing_authorizer_context``.
* ``decision_log`` defaults to one JSON line on stdout (documented), never the token.
* Plain API keys in ``StaticApiKeys``: refused, naming ``hash_api_key``.
* Rate limits ``10/min``, ``10/minute``, ``10 per minute`` agree; ``10``, ``1.5/minute``,
  ``0/minute``, ``10/ms`` and ``10/mo`` are refused with what to write.
* ``Cors(["*"], allow_credentials=True)``, a trailing-slash origin, a wildcard subdomain,
  and one string instead of a list: refused with the fix.

Findings (each an xfail(strict=True) test below asserting the good behaviour):

1. medium: ``Guard(ROUTES)`` (the table positionally, where the tutorial writes
   ``Guard(routes=ROUTES)``) is accepted, the table is taken as the verifier, and every
   request with a token is a 500 ``internal_error`` whose record says only
   ``AttributeError``. ``Authorizer(ROUTES)`` is refused at construction.
2. low: ``@guard(roles("admin"))`` (for ``@guard.require(...)``) is accepted as a
   handler; decorating then fails with ``wrapper() missing 1 required positional argument:
   'context'``, which names neither the rule nor ``require``.
3. low: ``Routes({"GET /x": "admin"})`` says ``expected an access rule, got str``: no route
   key, no hint to write ``roles('admin')`` (as ``require("admin")``'s message does).
4. low: ``Authorizer(..., cache_ttl=os.environ["TTL"])`` (a string) raises a bare
   ``TypeError: '>' not supported between instances of 'str' and 'int'``: no parameter.
5. medium: ``RateLimiter.per_ip("10000/M")`` is 10000 per *minute* (units are
   case-insensitive), while ``"10/mo"`` is refused as ambiguous with month: a quota meant
   per month is silently 43200 times looser.
6. low: ``roles("admin,reader")`` is one role named ``admin,reader`` (everyone denied,
   silently), while ``scopes("a b")`` is refused with the fix.
7. low: ``Authorizer`` given a proxy integration event logs ``unsupported_event`` with no
   ``detail``: nothing tells the newcomer the function got a backend event (use
   ``Guard``), where ``Guard`` on an authorizer event names the kind.
8. low: ``tenant(path=...)`` with the default ``ClaimMapper`` (no ``tenant_claim``) denies
   every request 403 ``tenant_mismatch`` with detail ``principal has no tenant``, even
   when the token has a ``tenant`` claim: the record does not point at
   ``ClaimMapper(tenant_claim=...)``.
9. low (docs): README's "Verify a token" handler reads ``event["headers"]["authorization"]``
   and lets ``verify`` raise: a REST API event (header ``Authorization``) is a
   ``KeyError`` and a bad token an uncaught exception (a 502), never a 401.
"""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest

from secauth import (
    ApiKeyEntry,
    Authorizer,
    Cors,
    Guard,
    JwksCache,
    JwtVerifier,
    RateLimiter,
    Routes,
    StaticApiKeys,
    authenticated,
    roles,
    scopes,
    tenant,
)
from secauth.errors import ConfigurationError, SecAuthError
from secauth.policy import Unauthorized
from secauth.testing import KeyPair, LocalIssuer
from secauth.testing_events import (
    function_url,
    http_authorizer_v2,
    http_proxy,
    rest_proxy,
    token_authorizer,
)
from secauth.testing_policy import iam_allows, method_arn

ISSUER = "https://idp.example.com/"
PAIR = KeyPair.generate("ES256", kid="k1")
ALLOW_BODY = {"statusCode": 200, "body": "ok"}


def verifier(**overrides: Any) -> JwtVerifier:
    settings: dict[str, Any] = {"issuer": ISSUER, "audience": "orders-api",
                                "jwks": {"keys": [PAIR.public_jwk]}}
    return JwtVerifier(**{**settings, **overrides})


def token(**claims: Any) -> str:
    body = {"iss": ISSUER, "aud": "orders-api", "sub": "ann", "exp": 4_000_000_000}
    return PAIR.sign({**body, **claims})


def bearer(**claims: Any) -> dict[str, str]:
    return {"authorization": f"Bearer {token(**claims)}"}


def ok(event: Any, context: Any) -> dict[str, Any]:
    return dict(ALLOW_BODY)


def first_effect(answer: dict[str, Any]) -> str:
    return str(answer["policyDocument"]["Statement"][0]["Effect"])


# --------------------------------------------------------------------------- what held


def test_verifier_needs_issuer_and_audience_by_name() -> None:
    with pytest.raises(TypeError, match="audience"):
        JwtVerifier(issuer=ISSUER, jwks={"keys": [PAIR.public_jwk]})  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="issuer"):
        JwtVerifier(audience="a", jwks={"keys": [PAIR.public_jwk]})  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="None to skip"):
        verifier(audience="")
    with pytest.raises(ConfigurationError, match="secret="):
        verifier(algorithms=["HS256"])


@pytest.mark.parametrize("configured", ["https://idp.example.com", "https://idp.example.com/x/"])
def test_issuer_spelling_mismatch_is_401_and_the_record_shows_both(configured: str) -> None:
    records: list[dict[str, Any]] = []
    guard = Guard(verifier(issuer=configured), decision_log=None, on_decision=records.append)
    answer = guard(ok)(http_proxy("GET", "/x", headers=bearer()), None)
    assert answer["statusCode"] == 401
    assert records[-1]["reason"] == "invalid_issuer"
    assert records[-1]["detail"] == {"expected": configured, "actual": ISSUER}


def test_loopback_jwks_without_allow_http_says_what_to_pass() -> None:
    with LocalIssuer(algs=("ES256",)) as idp:
        assert idp.jwks_uri.startswith("http://127.0.0.1")
        with pytest.raises(ConfigurationError, match=r"allow_http=True") as err:
            JwksCache(idp.jwks_uri)
        assert idp.jwks_uri in str(err.value)
        good = JwtVerifier(issuer=idp.issuer, audience="orders-api",
                           jwks=JwksCache(idp.jwks_uri, allow_http=True))
        assert good.verify(idp.token(sub="ann", aud="orders-api"))["sub"] == "ann"


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("GET users/{id}", "write 'VERB /path'"),
        ("/users", "write 'VERB /path'"),
        ("GET /users/:id", "write path parameters as {id}, not :id"),
        ("GET /users/", "no '*', '?', '%' or empty segments"),
    ],
)
def test_route_key_typos_are_refused_with_the_fix(key: str, hint: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        Routes({key: authenticated()})
    assert key in str(err.value)
    assert hint in str(err.value)


def test_lower_case_verb_is_read_as_upper_case() -> None:
    guard = Guard(verifier(), routes=Routes({"get /x": authenticated()}), decision_log=None)
    assert guard(ok)(http_proxy("GET", "/x", headers=bearer()), None)["statusCode"] == 200
    cached = Authorizer(verifier(), routes=Routes({"get /orders/{id}": authenticated()}),
                        cache_ttl=300, decision_log=None)
    answer = cached.handler(token_authorizer("GET", "/orders/7", token=token()), None)
    assert iam_allows(answer, method_arn("GET", "/orders/8"))


def test_proxy_without_plus_is_one_segment_only() -> None:
    cached = Authorizer(verifier(), routes=Routes({"GET /{proxy}": authenticated()}),
                        cache_ttl=300, decision_log=None)
    answer = cached.handler(token_authorizer("GET", "/a", token=token()), None)
    assert iam_allows(answer, method_arn("GET", "/a"))
    assert not iam_allows(answer, method_arn("GET", "/a/b"))


@pytest.mark.parametrize("rule", [None, roles, True])
def test_non_rules_are_refused(rule: Any) -> None:
    with pytest.raises(ConfigurationError, match="expected an access rule"):
        Routes({"GET /x": rule})


def test_require_with_a_string_says_roles() -> None:
    with pytest.raises(ConfigurationError, match=r"roles\('admin'\)"):
        Guard(verifier()).require("admin")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"scopes\('a', 'b'\)"):
        scopes("a b")


def test_cached_authorizer_without_routes_allows_valid_tokens_everywhere_as_documented() -> None:
    answer = Authorizer(verifier(), cache_ttl=300, decision_log=None).handler(
        token_authorizer("GET", "/a", token=token()), None)
    assert iam_allows(answer, method_arn("DELETE", "/anything/else"))
    with pytest.raises(Unauthorized, match=r"^Unauthorized$"):
        Authorizer(verifier(), cache_ttl=300, decision_log=None).handler(
            token_authorizer("GET", "/a", token="not.a.jwt"), None)


def test_guard_on_an_authorizer_event_refuses_and_names_the_kind() -> None:
    records: list[dict[str, Any]] = []
    guarded = Guard(verifier(), decision_log=None, on_decision=records.append)(ok)
    for event in (token_authorizer("GET", "/x", token=token()),
                  http_authorizer_v2("GET", "/x", token=token())):
        assert guarded(event, None)["statusCode"] == 400
        assert "authorizer" in records[-1]["detail"]["problem"]


def test_authorizer_on_a_proxy_event_fails_closed() -> None:
    authorizer = Authorizer(verifier(), decision_log=None)
    for event in (rest_proxy("GET", "/x", headers=bearer()),
                  http_proxy("GET", "/x", headers=bearer())):
        with pytest.raises(Unauthorized):
            authorizer.handler(event, None)


FORGED = {"secauth_principal": "ann", "secauth_kind": "user", "secauth_roles": '["admin"]',
          "secauth_scopes": "[]", "secauth_groups": "[]", "secauth_issuer": ISSUER}


def test_function_url_with_a_client_sent_context_is_never_trusted() -> None:
    admin_only = Routes({"GET /x": roles("admin")})
    both = Guard(verifier(), routes=admin_only, trust_authorizer=True, decision_log=None)(ok)
    trust = Guard(routes=admin_only, decision_log=None)(ok)
    bare = function_url("GET", "/x")
    bare["requestContext"]["authorizer"] = {"lambda": dict(FORGED)}
    assert both(bare, None)["statusCode"] == 401
    assert trust(bare, None)["statusCode"] == 401
    with_token = function_url("GET", "/x", headers=bearer(roles=["reader"]))
    with_token["requestContext"]["authorizer"] = {"lambda": dict(FORGED)}
    assert both(with_token, None)["statusCode"] == 403       # the token's roles decide


def test_default_decision_log_is_one_stdout_line_without_the_token() -> None:
    sent = bearer()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        Guard(verifier())(ok)(http_proxy("GET", "/x", headers=sent), None)
    line = json.loads(out.getvalue())
    assert line["secauth"] == "decision"
    assert line["decision"] == "allow"
    assert sent["authorization"][7:] not in out.getvalue()


def test_plain_api_keys_are_refused_naming_hash_api_key() -> None:
    with pytest.raises(ConfigurationError, match="hash_api_key"):
        StaticApiKeys({"pk-live-0123456789abcdefghij": ApiKeyEntry("partner-a")})


def test_rate_limit_spellings() -> None:
    windows = {(RateLimiter.per_ip(s).limit.count, RateLimiter.per_ip(s).limit.period)
               for s in ("10/min", "10/minute", "10 per minute", "10/m")}
    assert windows == {(10, 60.0)}
    for bad, hint in (("10", "'100/minute'"), ("1.5/minute", "'100/minute'"),
                      ("0/minute", "at least 1"), ("10/ms", "unknown time unit"),
                      ("10/mo", "'10/month'")):
        with pytest.raises(ConfigurationError, match=hint):
            RateLimiter.per_ip(bad)


def test_cors_mistakes_are_refused_with_the_fix() -> None:
    with pytest.raises(ConfigurationError, match="list the exact origins"):
        Cors(allow_origins=["*"], allow_credentials=True)
    with pytest.raises(ConfigurationError, match=r"'https://app\.example\.com'"):
        Cors(allow_origins=["https://app.example.com/"])
    with pytest.raises(ConfigurationError, match="no path, query, wildcard"):
        Cors(allow_origins=["https://*.example.com"])
    with pytest.raises(ConfigurationError, match="not one string"):
        Cors(allow_origins="https://app.example.com")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ findings


# fmt: off
def test_guard_with_the_table_positionally_is_refused() -> None:
    table = Routes({"GET /x": roles("admin")})
    with pytest.raises(ConfigurationError, match="routes="):
        Guard(table)  # type: ignore[arg-type]
# fmt: on


# fmt: off
def test_guard_called_with_a_rule_points_at_require() -> None:
    guard = Guard(verifier(), decision_log=None)
    with pytest.raises(ConfigurationError, match=r"require"):
        @guard(roles("admin"))  # type: ignore[arg-type, misc]
        def handler(event: Any, context: Any) -> dict[str, Any]:
            return dict(ALLOW_BODY)
# fmt: on


# fmt: off
def test_a_string_rule_names_the_route_and_the_fix() -> None:
    with pytest.raises(ConfigurationError) as err:
        Routes({"GET /x": "admin"})  # type: ignore[dict-item]
    assert "GET /x" in str(err.value)
    assert "roles('admin')" in str(err.value)
# fmt: on


# fmt: off
def test_cache_ttl_as_a_string_names_the_parameter() -> None:
    with pytest.raises(ConfigurationError, match="cache_ttl"):
        Authorizer(verifier(), cache_ttl="300")  # type: ignore[arg-type]
# fmt: on


# fmt: off
def test_capital_m_is_refused_as_ambiguous_like_mo() -> None:
    with pytest.raises(ConfigurationError, match="month"):
        RateLimiter.per_ip("10000/M")
# fmt: on


# fmt: off
def test_comma_separated_roles_stay_one_name_as_documented() -> None:
    """Declined: a group name may hold a comma (Cognito allows punctuation in group names;
    review 116 checks ``admin,member`` reaching the context as one name), so
    ``roles('admin,reader')`` is one role, and the mistake fails closed (nobody holds it)."""
    assert roles("admin,reader").names == frozenset({"admin,reader"})
# fmt: on


# fmt: off
def test_authorizer_on_a_proxy_event_says_use_guard() -> None:
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(verifier(), decision_log=None, on_decision=records.append)
    with pytest.raises(Unauthorized):
        authorizer.handler(rest_proxy("GET", "/x", headers=bearer()), None)
    assert records[-1]["reason"] == "unsupported_event"
    assert "Guard" in json.dumps(records[-1].get("detail", {}))
# fmt: on


# fmt: off
def test_tenant_rule_without_a_tenant_claim_points_at_the_mapping() -> None:
    records: list[dict[str, Any]] = []
    table = Routes({"GET /t/{tenant}/x": tenant(path="tenant")})
    guarded = Guard(verifier(), routes=table, decision_log=None, on_decision=records.append)(ok)
    event = http_proxy("GET", "/t/acme/x", route_key="GET /t/{tenant}/x",
                       path_params={"tenant": "acme"}, headers=bearer(tenant="acme"))
    assert guarded(event, None)["statusCode"] == 403              # secure: fails closed
    assert records[-1]["reason"] == "tenant_mismatch"
    assert "tenant_claim" in json.dumps(records[-1]["detail"])
# fmt: on


def readme_handler() -> Any:
    """README.md "Verify a token" (as fixed after this review), with the verifier's keys
    seeded instead of fetched."""
    readme_verifier = verifier(audience="orders-api")

    def handler(event: Any, context: Any) -> dict[str, Any]:
        headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
        try:
            claims = readme_verifier.verify(headers.get("authorization", "").removeprefix("Bearer "))
        except SecAuthError as err:
            return {"statusCode": 401, "body": err.reason.value}
        return {"statusCode": 200, "body": f"hello {claims['sub']}"}

    return handler


def test_readme_handler_works_on_http_api_events() -> None:
    assert readme_handler()(http_proxy("GET", "/x", headers=bearer()), None)["body"] == "hello ann"


# fmt: off
def test_readme_handler_answers_401_for_rest_events_and_bad_tokens() -> None:
    handler = readme_handler()
    rest = rest_proxy("GET", "/x", headers={"Authorization": f"Bearer {token()}"})
    assert handler(rest, None)["statusCode"] == 200
    bad = http_proxy("GET", "/x", headers={"authorization": "Bearer not.a.jwt"})
    assert handler(bad, None)["statusCode"] == 401
# fmt: on
