"""Review 36: attacking review 34's rate-limiting fixes and review 35's memo key.

Targets: the Authorizer's response memo (``ResponseMemo``, ``Authorizer._memo_key``,
the verifier's ``revalidate``), the counting of failed authentications
(``AuthorizerLimits.count_refused``), ``Limit``'s rounded-up periods and
``Limit.throttle`` above 1 000/s, and ``AbusePenalty``'s folded user names.

Findings are ``xfail(strict=True)`` tests asserting the secure (or documented)
behaviour; attacks that held are plain tests. Real objects, events from
``secauth.testing_events``, dynalite for the one store test; no mocks, no sleeps.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from guard_callers import ACME, ADMIN, AUD, ISS, JWT, MAPPER, PAIR, token

from secauth import Authorizer, Guard, JwtVerifier, Routes
from secauth.access import authenticated, roles, tenant
from secauth.errors import ConfigurationError
from secauth.policy import Unauthorized
from secauth.principal import Principal
from secauth.ratelimit import AbusePenalty, DynamoDBStore, Limit, MemoryStore, RateLimiter
from secauth.revocation import Revocations
from secauth.revocation_stores import MemoryRevocationStore
from secauth.testing_events import (
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    token_authorizer,
)

VICTIM_KEY = "usage-plan-key-victim-0123456789abcdef"
GARBAGE = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
ORDERS = Routes({"GET /orders": authenticated()})
_tables = itertools.count()


def effect(answer: dict[str, Any]) -> str:
    """Allow or Deny, from an IAM-policy answer."""
    return str(answer["policyDocument"]["Statement"][0]["Effect"])


def resource(answer: dict[str, Any]) -> list[str]:
    named = answer["policyDocument"]["Statement"][0]["Resource"]
    return [named] if isinstance(named, str) else list(named)


def refused(authorizer: Authorizer, event: dict[str, Any]) -> bool:
    """True when a REST authorizer answers 401."""
    try:
        authorizer.handler(event)
    except Unauthorized:
        return True
    return False


# =============================================================================================
# FINDINGS
# =============================================================================================

# -- F1 (medium, cross-client DoS): failed authentications spend the quota of the API key
# they name. ``count_refused`` calls ``rate_limit.hit(request, None)``; with
# ``RateLimiter.per_api_key`` the key function ``ApiKey`` then keys by the *header value*
# the (unauthenticated) request sent, the same bucket the key's owner's allowed requests
# count in when a bearer token authenticates them (REST usage-plan keys are identifiers,
# shipped in clients). Before review 34 only authenticated callers could spend it.


def test_garbage_tokens_naming_a_clients_api_key_do_not_spend_its_quota() -> None:
    authorizer = Authorizer(
        JWT,
        claims=MAPPER,
        routes=ORDERS,
        rate_limit=RateLimiter.per_api_key("3/minute"),
        decision_log=None,
    )

    def event(bearer: str, ip: str) -> dict[str, Any]:
        headers = {"x-api-key": VICTIM_KEY}
        return request_authorizer("GET", "/orders", token=bearer, headers=headers, source_ip=ip)

    # an attacker who knows the victim's usage-plan key, and holds no valid token
    for _ in range(3):
        assert refused(authorizer, event(GARBAGE, "198.51.100.66"))
    # the victim, from its own address with its own valid token
    assert effect(authorizer.handler(event(ACME, "203.0.113.9"))) == "Allow"


def test_guard_garbage_tokens_naming_a_clients_api_key_do_not_spend_its_quota() -> None:
    """The Guard has counted failures with no principal since before review 34: the same."""
    guard = Guard(
        JWT,
        routes=ORDERS,
        claims=MAPPER,
        rate_limit=RateLimiter.per_api_key("3/minute"),
        decision_log=None,
    )
    handler = guard(lambda e, c: {"statusCode": 200, "body": "ok"})
    headers = {"x-api-key": VICTIM_KEY}
    for _ in range(3):
        attack = http_proxy(
            "GET", "/orders", token=GARBAGE, headers=headers, source_ip="198.51.100.6"
        )
        assert handler(attack, None)["statusCode"] == 401
    own = http_proxy("GET", "/orders", token=ACME, headers=headers, source_ip="203.0.113.9")
    assert handler(own, None)["statusCode"] == 200


# -- F2 (low, regression): folding split a user name from the principal of that name.
# ``_principal_subject`` builds ``"p:" + safe_key("user:" + name)`` for a tried user name
# and ``"p:" + principal_key(principal)`` (``"user:" + id``) for a Principal, so that a
# name's failures and its principal meet in one subject. Since review 34 only the string
# is NFKC-folded and case-folded: failures recorded under the name "Alice" no longer
# block ``Principal("Alice")`` (and the reverse), where they did before.


def test_failures_under_a_user_name_block_the_principal_of_that_name() -> None:
    penalty = AbusePenalty(auth_failures="3/minute", unknown_paths=None, cooldown=60)
    for n in range(4):  # a distributed guesser: one failure per address
        penalty.record_auth_failure(
            http_proxy("GET", "/login", source_ip=f"198.51.100.{n}"), "Alice"
        )
    elsewhere = http_proxy("GET", "/", source_ip="192.0.2.200")
    assert penalty.blocked_for(elsewhere, "Alice") > 0  # the name is blocked...
    assert penalty.blocked_for(elsewhere, Principal("Alice")) > 0  # ...so is its principal


# -- F3 (low, crash): a user name that is not a string raises TypeError. Before review 34
# ``f"user:{name}"`` accepted any value; ``unicodedata.normalize`` takes only ``str``. A
# login handler passing a JSON body's ``"username": 12345`` now fails with a 500, and
# ``_subjects`` raises before anything is recorded, so the client IP's failure is not
# counted either: an attacker sending numeric user names guesses unslowed.


def test_a_non_string_user_name_counts_the_ip_and_does_not_raise() -> None:
    penalty = AbusePenalty(auth_failures="2/minute", unknown_paths=None, cooldown=60)
    event = http_proxy("POST", "/login", source_ip="198.51.100.7")
    answers = []
    for _ in range(3):
        try:
            answers.append(penalty.record_auth_failure(event, 12345))  # type: ignore[arg-type]
        except TypeError:
            answers.append(-1.0)
    assert -1.0 not in answers
    assert penalty.blocked_for(event) > 0


# -- F4 (low, over-refusal): ``Limit.throttle`` accepts rates up to 10**9 per second "at the
# same rate", but GCRA counts whole microseconds (``interval_us`` rounded up), so the
# steady rate is at most 1 000 000/s: ``throttle(1e9)`` admits a thousandth of the rate
# configured, and rates between 1 000 and 1 000 000 lose up to tens of per cent
# (``throttle(300_000)`` runs at 250 000/s; ``throttle(9999.99)`` at 9 901/s).


@pytest.mark.parametrize("rate", [300_000, 3e6, 1e9, 10_000.5])
def test_throttle_refuses_rates_whole_microseconds_cannot_keep(rate: float) -> None:
    """Fixed: rates above ``MAX_THROTTLE_RATE`` are refused, naming the rate."""
    with pytest.raises(ConfigurationError, match="at most 10000 requests per second"):
        Limit.throttle(rate, burst=1)


@pytest.mark.parametrize("rate", [1000.5, 3000, 7777, 9999.99, 10_000])
def test_throttle_keeps_accepted_rates_within_about_one_per_cent(rate: float) -> None:
    limit = Limit.throttle(rate, burst=1)
    steady = 1_000_000 / limit.interval_us
    assert rate * 0.989 <= steady <= rate


# =============================================================================================
# ATTACKS THAT HELD: the response memo
# =============================================================================================


def _ask_twice(authorizer: Authorizer, event: dict[str, Any]) -> dict[str, Any]:
    """Answer ``event`` twice (the memo keeps an answer on its second sighting)."""
    authorizer.handler(event)
    return authorizer.handler(event)


def test_memo_never_serves_an_answer_across_stages_or_apis() -> None:
    authorizer = Authorizer(JWT, claims=MAPPER, routes=ORDERS, decision_log=None)
    prod = request_authorizer("GET", "/orders", token=ACME, stage="prod")
    _ask_twice(authorizer, prod)
    beta = request_authorizer("GET", "/orders", token=ACME, stage="beta")
    other_api = dict(prod, methodArn=prod["methodArn"].replace("abcdef123", "zzzzzz999"))
    for event in (beta, other_api):
        answer = authorizer.handler(event)
        assert resource(answer) == [event["methodArn"]]


def test_memo_never_crosses_a_header_a_rule_reads_inside_a_combination() -> None:
    """``roles(admin) & tenant(header=...)``: the probe principal holds no role, but the
    rule reads a header for an admin: never memoized."""
    routes = Routes({"GET /orders": roles("admin") & tenant(header="x-tenant")})
    authorizer = Authorizer(JWT, claims=MAPPER, routes=routes, decision_log=None)
    own = request_authorizer("GET", "/orders", token=ADMIN, headers={"x-tenant": "acme"})
    assert effect(_ask_twice(authorizer, own)) == "Allow"
    other = request_authorizer("GET", "/orders", token=ADMIN, headers={"x-tenant": "globex"})
    assert effect(authorizer.handler(other)) == "Deny"


def test_memo_never_crosses_token_and_request_events_or_payload_versions() -> None:
    routes = Routes({"GET /orders": roles("admin")})
    authorizer = Authorizer(JWT, claims=MAPPER, routes=routes, decision_log=None)
    assert (
        effect(_ask_twice(authorizer, token_authorizer("GET", "/orders", token=ADMIN))) == "Allow"
    )
    # the same token and ARN on another event kind is answered for its own kind
    v2 = http_authorizer_v2("GET", "/orders", route_key="GET /orders", token=ADMIN, stage="prod")
    v2["routeArn"] = token_authorizer("GET", "/orders", token=ADMIN)["methodArn"]
    answer = authorizer.handler(v2)
    assert "principalId" in answer
    assert effect(answer) == "Allow"
    assert authorizer.handler(v2) == answer


def test_memo_does_not_outlive_the_tokens_expiry() -> None:
    now = [1_000_000.0]
    verifier = JwtVerifier(
        issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]}, clock=lambda: now[0]
    )
    authorizer = Authorizer(verifier, claims=MAPPER, routes=ORDERS, decision_log=None)
    short = token(tenant="acme", exp=1_000_060)
    event = request_authorizer("GET", "/orders", token=short)
    for _ in range(3):
        assert effect(authorizer.handler(event)) == "Allow"
    now[0] = 1_000_061.0
    assert refused(authorizer, event)


def test_memo_does_not_outlive_a_revocation() -> None:
    now = [1_000_000.0]
    revocations = Revocations(
        MemoryRevocationStore(clock=lambda: now[0]), clock=lambda: now[0], max_staleness=0
    )
    verifier = JwtVerifier(
        issuer=ISS,
        audience=AUD,
        jwks={"keys": [PAIR.public_jwk]},
        clock=lambda: now[0],
        revocations=revocations,
    )
    authorizer = Authorizer(verifier, claims=MAPPER, routes=ORDERS, decision_log=None)
    revocable = token(tenant="acme", jti="r36-1", iat=999_000, exp=1_002_000)
    event = request_authorizer("GET", "/orders", token=revocable)
    for _ in range(3):
        assert effect(authorizer.handler(event)) == "Allow"
    revocations.revoke_token(ISS, "r36-1")
    now[0] += 1
    assert refused(authorizer, event)


def test_memo_does_not_outlive_a_cleared_verified_token_cache() -> None:
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [PAIR.public_jwk]})
    authorizer = Authorizer(verifier, claims=MAPPER, routes=ORDERS, decision_log=None)
    event = request_authorizer("GET", "/orders", token=ACME)
    _ask_twice(authorizer, event)
    authorizer.handler(event)
    verifier.clear_cache()
    assert verifier.revalidate(ACME) is False  # what the memo asks: re-verified, not served blind
    assert effect(authorizer.handler(event)) == "Allow"


def test_a_flood_of_targets_keeps_the_memo_bounded() -> None:
    authorizer = Authorizer(
        JWT,
        claims=MAPPER,
        routes=Routes({"GET /orders/{id}": authenticated()}),
        decision_log=None,
        response_cache_size=8,
    )
    for n in range(40):
        _ask_twice(authorizer, request_authorizer("GET", f"/orders/{n}-" + "x" * 100, token=ACME))
    assert 0 < len(authorizer._memo) <= 8


def test_memo_is_off_with_a_rate_limit_so_every_request_counts() -> None:
    authorizer = Authorizer(
        JWT,
        claims=MAPPER,
        routes=ORDERS,
        rate_limit=RateLimiter.per_ip("3/minute"),
        decision_log=None,
    )
    event = request_authorizer("GET", "/orders", token=ACME, source_ip="203.0.113.20")
    answers = [effect(authorizer.handler(event)) for _ in range(5)]
    assert answers == ["Allow", "Allow", "Allow", "Deny", "Deny"]


# =============================================================================================
# ATTACKS THAT HELD: counting failed authentications
# =============================================================================================


def test_a_failed_authentication_counts_once_and_stays_a_401() -> None:
    authorizer = Authorizer(
        JWT,
        claims=MAPPER,
        routes=ORDERS,
        rate_limit=RateLimiter.per_ip("2/minute"),
        decision_log=None,
    )

    def event(bearer: str) -> dict[str, Any]:
        return request_authorizer("GET", "/orders", token=bearer, source_ip="203.0.113.30")

    assert refused(authorizer, event(GARBAGE))
    assert effect(authorizer.handler(event(ACME))) == "Allow"
    # the quota is spent: guesses stay 401 (never a Deny that reads as "right token")
    assert refused(authorizer, event(GARBAGE))
    assert effect(authorizer.handler(event(ACME))) == "Deny"


def test_failed_authentications_never_spend_a_principals_quota() -> None:
    authorizer = Authorizer(
        JWT,
        claims=MAPPER,
        routes=ORDERS,
        rate_limit=RateLimiter.per_principal("2/minute"),
        decision_log=None,
    )
    forged = ACME[: ACME.rindex(".")] + ".AAAA"  # the victim's claims, a bad signature
    for _ in range(5):
        assert refused(authorizer, request_authorizer("GET", "/orders", token=forged))
    assert effect(authorizer.handler(request_authorizer("GET", "/orders", token=ACME))) == "Allow"


def test_http_api_failures_over_the_limit_answer_unauthorized_not_an_error() -> None:
    authorizer = Authorizer(
        JWT,
        claims=MAPPER,
        routes=ORDERS,
        simple_responses=True,
        rate_limit=RateLimiter.per_ip("1/minute"),
        decision_log=None,
    )
    event = http_authorizer_v2("GET", "/orders", route_key="GET /orders", token=GARBAGE)
    assert [authorizer.handler(event) for _ in range(3)] == [{"isAuthorized": False}] * 3


def test_token_events_under_a_per_ip_limit_stay_401_and_log_no_token() -> None:
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(
        JWT,
        claims=MAPPER,
        routes=ORDERS,
        rate_limit=RateLimiter.per_ip("5/minute"),
        decision_log=None,
        on_decision=records.append,
    )
    assert refused(authorizer, token_authorizer("GET", "/orders", token=GARBAGE))
    assert refused(authorizer, token_authorizer("GET", "/orders", token=ACME))
    assert all(r["status"] == 401 for r in records)
    assert GARBAGE not in repr(records)
    assert ACME not in repr(records)


def test_guard_and_authorizer_agree_on_counting_a_failure() -> None:
    guard = Guard(
        JWT,
        routes=ORDERS,
        claims=MAPPER,
        rate_limit=RateLimiter.per_ip("2/minute"),
        decision_log=None,
    )
    handler = guard(lambda e, c: {"statusCode": 200, "body": "ok"})
    answers = [
        handler(http_proxy("GET", "/orders", token=bearer, source_ip="203.0.113.40"), None)
        for bearer in (GARBAGE, ACME, ACME)
    ]
    assert [answer["statusCode"] for answer in answers] == [401, 200, 429]


# =============================================================================================
# ATTACKS THAT HELD: Limit
# =============================================================================================


@pytest.mark.parametrize("rate", [0.5, 1, 3, 7, 999.9, 1000, 1000.5, 1001, 1500, 3000, 10_000])
def test_throttle_never_runs_faster_than_its_rate(rate: float) -> None:
    limit = Limit.throttle(rate, burst=1)
    assert 1_000_000 / limit.interval_us <= rate
    assert limit.count / (limit.period_us / 1_000_000) <= rate


@pytest.mark.parametrize("rate", [0, -1, 1e-9, float("nan"), float("inf"), 1e9 + 1, True])
def test_throttle_refuses_rates_it_cannot_keep(rate: float) -> None:
    with pytest.raises(ConfigurationError):
        Limit.throttle(rate, burst=1)


def test_integer_limits_keep_their_meaning_and_store_keys() -> None:
    assert (Limit.parse("100/minute").period_us, Limit.parse("100/minute").describe()) == (
        60_000_000,
        "100/60s",
    )
    assert Limit.parse("5/10s") == Limit(5, 10)
    assert hash(Limit.parse("5/10s")) == hash(Limit(5, 10))
    assert Limit(3, 0.3).period_us == 300_000  # decimal periods are not pushed up a microsecond
    assert Limit.quota(10, "month").describe() == "10/month"


def test_gcra_burst_above_count_admits_burst_then_the_rate() -> None:
    clock = [6000.0]
    limiter = RateLimiter.per_ip(
        Limit.throttle(2, burst=5), algorithm="gcra", store=MemoryStore(clock=lambda: clock[0])
    )
    event = http_proxy("GET", "/orders", source_ip="203.0.113.50")
    assert sum(limiter.hit(event).allowed for _ in range(8)) == 5
    clock[0] += 0.499999
    assert not limiter.hit(event).allowed
    clock[0] += 0.000001
    assert limiter.hit(event).allowed


def test_fixed_window_on_dynamodb_with_a_rounded_period_keeps_its_count(ddb_client: Any) -> None:
    """A third of a second is 333 334 us now: the window the store keeps is the one the
    limit computes, and no request beyond the count passes within it."""
    now = [6000.0]
    store = DynamoDBStore(f"review36-{next(_tables)}", client=ddb_client, clock=lambda: now[0])
    store.create_table()
    limiter = RateLimiter.per_ip(Limit(2, 1 / 3), algorithm="fixed_window", store=store)
    event = http_proxy("GET", "/orders", source_ip="203.0.113.60")
    window_start = (6000 * 1_000_000 // 333_334 + 1) * 333_334 / 1_000_000
    now[0] = window_start
    assert [limiter.hit(event).allowed for _ in range(3)] == [True, True, False]
    now[0] = window_start + 0.333333
    assert not limiter.hit(event).allowed


# =============================================================================================
# ATTACKS THAT HELD: AbusePenalty folding
# =============================================================================================


@pytest.mark.parametrize("odd", ["\ud800alice", "a" * 1_000_000, "\ufdfa" * 10_000, "", " "])
def test_odd_user_names_are_counted_without_raising(odd: str) -> None:
    penalty = AbusePenalty(auth_failures="3/minute", unknown_paths=None, cooldown=60)
    event = http_proxy("POST", "/login", source_ip="198.51.100.90")
    assert penalty.record_auth_failure(event, odd) == 0.0
    assert penalty.blocked_for(http_proxy("GET", "/", source_ip="192.0.2.91"), odd) == 0.0


def test_folding_merges_only_spellings_of_one_name() -> None:
    penalty = AbusePenalty(auth_failures="2/minute", unknown_paths=None, cooldown=60)
    for n, name in enumerate(
        ["\uff41\uff4c\uff49\uff43\uff45", "ALICE", "Alice "]
    ):  # full-width, upper, padded
        penalty.record_auth_failure(http_proxy("POST", "/login", source_ip=f"198.51.100.{n}"), name)
    elsewhere = http_proxy("GET", "/", source_ip="192.0.2.92")
    assert penalty.blocked_for(elsewhere, "alice") > 0
    assert penalty.blocked_for(elsewhere, "alicia") == 0.0
    assert penalty.blocked_for(elsewhere, "al1ce") == 0.0
