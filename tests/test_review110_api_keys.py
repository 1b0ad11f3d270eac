"""Review 110: partner API keys attacked end to end through ``Authorizer(...).handler`` and the stores.

Resolved (the tests assert them): both findings. ``DynamoDBApiKeys`` caches known and unknown keys
apart, each bounded at ``max_cached``; and ``ApiKeyEntry.expires_at`` (set by ``DynamoDBApiKeys`` from
the item's ``expires_at``) reaches the principal as the claim ``exp``, so a cached answer names
``secauth_exp`` and a Guard refuses it after the key expired.

Attacked: key spellings (spaces/tabs around, inner whitespace, case, NBSP, U+3000, NUL, fullwidth
lookalikes, 256/257/10 000 characters); the header in ``multiValueHeaders`` vs ``headers``, twice,
in two cases, comma-joined by an HTTP API; REST REQUEST, TOKEN, HTTP API 1.0/2.0 and WebSocket
``$connect`` events; ``usageIdentifierKey`` and entries' roles/tenant across alternating keys; a key
beside a bearer token (valid, invalid, blank key); ``cache_ttl > 0`` with keys (construction checks,
per-key limits from dynamic stores); per-IP, per-key and per-entry rate limits spent by unknown or
malformed keys; decision records and errors for every refusal (no key, hash, or hash prefix);
constant-time comparison; real dynalite (DynamoDBApiKeys: positive/negative caches, revocation,
expiry, deletion, table outage, miss flood) and moto's Secrets Manager server (rotation,
deletion, a malformed rotation, recovery).

Held: every spelling that is not the canonical key (modulo spaces/tabs around it) is malformed or
unknown; duplicates are ambiguous, HTTP API joins never match; usage keys only on REST and only the
presenting key's; a key decides alone and a blank key header never falls back to the token; keys
beside a verifier are refused under cache_ttl unless covered; unknown keys never spend per-key
buckets (only the guesser's IP); revocation/rotation take effect within the documented cache time
and failures are never cached nor turned into an Allow; nothing logged carries a key or its hash.

Findings:
* LOW (dynamodb_api_keys.DynamoDBApiKeys._remember): misses share the one bounded cache with hits
  and eviction drops the oldest half, so a flood of unknown keys evicts every valid key's cached
  answer: each valid key then costs a GetItem again, and is refused during a table blip that the
  cache would have ridden out (test_a_miss_flood_does_not_evict_valid_keys_cached_answers).
* LOW (authorizer / api_keys.ApiKeyEntry): a key's ``expires_at`` never reaches the answer: under
  ``cache_ttl > 0`` API Gateway reuses the Allow past the key's expiry for up to the TTL, there is
  no ``secauth_exp`` for a Guard to refuse it (tokens get one), and the docs say nothing of it
  (test_a_key_expiring_within_the_result_ttl_carries_its_expiry_in_the_answer).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from api_key_tables import create_api_key_table as create_table
from authorizer_outcomes import outcome
from hand_clock import Clock
from moto_services import create_secret
from test_credentials_dynamodb import GetItemCounter

import secauth.api_keys
from secauth import Authorizer, JwtVerifier
from secauth.access import Routes, authenticated, roles
from secauth.api_keys import ApiKeyEntry, StaticApiKeys, hash_api_key
from secauth.dynamodb_api_keys import DynamoDBApiKeys
from secauth.errors import ConfigurationError, KeysUnavailable
from secauth.policy import Unauthorized
from secauth.ratelimit import RateLimiter
from secauth.ratelimit.memory import MemoryStore
from secauth.secretsmanager_api_keys import SecretsManagerApiKeys
from secauth.testing import KeyPair
from secauth.testing_events import (
    http_authorizer_v1,
    http_authorizer_v2,
    request_authorizer,
    token_authorizer,
    websocket_connect,
)
from secauth.token_sources import TokenSource

ISSUER = "https://idp.review110.example/"
PAIR = KeyPair.generate("ES256", kid="r110")
VERIFIER = JwtVerifier(issuer=ISSUER, audience="api", jwks={"keys": [PAIR.public_jwk]})

KEY_A = "pk-r110-alpha-" + "A1b2C3d4E5f6G7h8" * 2
KEY_B = "pk-r110-bravo-" + "Z9y8X7w6V5u4T3s2" * 2
UNKNOWN = "pk-r110-nobody-" + "q" * 30
ENTRY_A = ApiKeyEntry("partner-a", roles=("partner",), tenant="acme", usage_plan=True, plan="pro")
ENTRY_B = ApiKeyEntry("partner-b", roles=("reader",), tenant="globex")
ROUTES = Routes(
    {
        "GET /orders": roles("partner", "reader"),
        "GET /admin": roles("admin"),
        "GET /me": authenticated(),
        "$connect": authenticated(),
    }
)
_tables = itertools.count()


def token(sub: str = "ann", **claims: Any) -> str:
    return PAIR.sign({"iss": ISSUER, "aud": "api", "sub": sub, "exp": 4_000_000_000, **claims})




def static_keys() -> StaticApiKeys:
    return StaticApiKeys({hash_api_key(KEY_A): ENTRY_A, hash_api_key(KEY_B): ENTRY_B})


def keyed(records: list[dict[str, Any]] | None = None, **options: Any) -> Authorizer:
    options.setdefault("api_keys", static_keys())
    options.setdefault("routes", ROUTES)
    return Authorizer(
        on_decision=records.append if records is not None else None,
        decision_log=None,
        **options,
    )


def rest(key: Any, path: str = "/orders", **sent: Any) -> dict[str, Any]:
    headers = dict(sent.pop("headers", {}))
    if key is not None:
        headers["x-api-key"] = key
    return request_authorizer("GET", path, headers=headers, **sent)


def refusal(authorizer: Authorizer, event: dict[str, Any], records: list[dict[str, Any]]) -> str:
    """The reason of a refused (401) REST answer; fails when the event is answered."""
    with pytest.raises(Unauthorized):
        authorizer.handler(event, None)
    return str(records[-1]["reason"])


def leaks(text: str, *keys: str) -> list[str]:
    """Keys, their hashes, or 8-character prefixes of either, found in ``text``."""
    found = []
    for key in keys:
        digest = hash_api_key(key)
        for needle in (key, key[-12:], digest, digest[:8], digest.upper()[:8]):
            if needle in text:
                found.append(needle)
    return found


# -- spellings ------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", [f" {KEY_A}", f"{KEY_A}\t", f" \t{KEY_A} \t "])
def test_spaces_and_tabs_around_the_key_are_the_same_key(spelling: str) -> None:
    answer = keyed().handler(rest(spelling), None)
    assert answer["principalId"] == "partner-a"
    assert answer["usageIdentifierKey"] == KEY_A  # the canonical key, never the spelling


@pytest.mark.parametrize(
    ("spelling", "reason"),
    [
        (KEY_A.upper(), "invalid_claims"),
        (KEY_A.lower(), "invalid_claims"),
        (KEY_A[:10] + " " + KEY_A[10:], "invalid_claims"),  # an inner space is another key
        (KEY_A + "\x00", "malformed_token"),
        ("\x00" + KEY_A, "malformed_token"),
        (KEY_A + "\u00a0", "malformed_token"),
        ("\u3000" + KEY_A, "malformed_token"),
        (KEY_A + "\n", "malformed_token"),
        (KEY_A + "\r\n", "malformed_token"),
        (KEY_A + "\u200b", "malformed_token"),
        (KEY_A.replace("A", "\uff21"), "malformed_token"),  # fullwidth lookalike
        (KEY_A.replace("a", "\u0430"), "malformed_token"),  # Cyrillic a
        (KEY_A[:19], "malformed_token"),
        (KEY_A + "x" * (257 - len(KEY_A)), "malformed_token"),
        ("k" * 10_000, "malformed_token"),
        (" " * 10_000, "missing_token"),
    ],
)
def test_every_other_spelling_is_refused(spelling: str, reason: str) -> None:
    records: list[dict[str, Any]] = []
    assert refusal(keyed(records), rest(spelling), records) == reason


def test_a_key_of_exactly_256_characters_is_found_and_257_is_not() -> None:
    longest = "L" * 256
    keys = StaticApiKeys({hash_api_key(longest): ENTRY_B})
    assert outcome(keyed(api_keys=keys), rest(longest)) == "partner-b"
    assert outcome(keyed(api_keys=keys), rest(longest + "L")) == "401"


# -- where the header is ----------------------------------------------------------------------


def test_the_key_only_in_multi_value_headers_is_read() -> None:
    event = rest(KEY_A)
    event["headers"] = None
    assert outcome(keyed(), event) == "partner-a"


@pytest.mark.parametrize(
    "values", [[KEY_A, KEY_A], [KEY_B, KEY_A], [KEY_A, UNKNOWN], ["", KEY_A], [KEY_A, " "]]
)
def test_the_header_given_twice_is_ambiguous_on_rest(values: list[str]) -> None:
    records: list[dict[str, Any]] = []
    assert refusal(keyed(records), rest(values), records) == "ambiguous_credentials"


def test_two_spellings_of_the_header_name_are_ambiguous() -> None:
    records: list[dict[str, Any]] = []
    event = rest(None)
    for place in ("headers", "multiValueHeaders"):
        shaped = {**event, "multiValueHeaders": None, "headers": None}
        if place == "headers":
            shaped["headers"] = {"X-Api-Key": KEY_B, "x-api-key": KEY_A}
        else:
            shaped["multiValueHeaders"] = {"X-API-KEY": [KEY_B], "x-api-key": [KEY_A]}
        assert refusal(keyed(records), shaped, records) == "ambiguous_credentials"


@pytest.mark.parametrize("values", [[KEY_A, KEY_A], [KEY_A, KEY_B], [UNKNOWN, KEY_A]])
def test_http_api_comma_joined_keys_never_match(values: list[str]) -> None:
    event = http_authorizer_v2(
        "GET", "/orders", route_key="GET /orders", headers={"x-api-key": values}
    )
    assert event["headers"]["x-api-key"] == ",".join(values)
    answer = keyed(api="http").handler(event, None)
    effects = {s["Effect"] for s in answer["policyDocument"]["Statement"]}
    assert effects == {"Deny"}


def test_http_api_and_websocket_answers_never_carry_the_usage_key() -> None:
    authorizer = keyed()
    v1 = authorizer.handler(
        http_authorizer_v1("GET", "/orders", headers={"x-api-key": KEY_A}), None
    )
    v2 = keyed(api="http").handler(
        http_authorizer_v2("GET", "/orders", route_key="GET /orders", headers={"x-api-key": KEY_A}),
        None,
    )
    ws = authorizer.handler(websocket_connect(headers={"X-Api-Key": KEY_A}), None)
    for answer in (v1, v2, ws):
        assert answer["principalId"] == "partner-a"
        assert "usageIdentifierKey" not in answer
        assert KEY_A not in json.dumps(answer)


def test_a_token_authorizer_never_takes_its_token_as_an_api_key() -> None:
    """A TOKEN event carries one value: with the key header as identity source it is not read
    as a key (refused), and a bearer token there is the verifier's alone."""
    assert outcome(keyed(), token_authorizer("GET", "/orders", authorization=KEY_A)) == "401"
    both = keyed(verifier=VERIFIER)
    assert outcome(both, token_authorizer("GET", "/me", token=token("ann"))) == "ann"
    assert outcome(both, token_authorizer("GET", "/me", authorization=f"Bearer {KEY_A}")) == "401"


# -- what an entry reaches --------------------------------------------------------------------


def test_alternating_keys_each_get_their_own_entry_and_usage_key() -> None:
    authorizer = keyed()
    for _ in range(3):
        a = authorizer.handler(rest(KEY_A), None)
        b = authorizer.handler(rest(KEY_B), None)
        assert (a["principalId"], a["context"]["secauth_tenant"]) == ("partner-a", "acme")
        assert a["usageIdentifierKey"] == KEY_A
        assert (b["principalId"], b["context"]["secauth_tenant"]) == ("partner-b", "globex")
        assert "usageIdentifierKey" not in b  # ENTRY_B has no usage plan
        assert json.loads(b["context"]["secauth_roles"]) == ["reader"]
        assert KEY_A not in json.dumps(b)


def test_the_key_decides_alone_beside_a_bearer_token() -> None:
    records: list[dict[str, Any]] = []
    authorizer = keyed(records, verifier=VERIFIER)
    admin = {"authorization": f"Bearer {token('root', roles=['admin'])}"}
    answer = authorizer.handler(rest(KEY_B, "/orders", headers=admin), None)
    assert answer["principalId"] == "partner-b"
    assert "root" not in json.dumps(answer)
    assert "admin" not in answer["context"]["secauth_roles"]
    # the admin token does not lift the key to /admin, nor rescue an unknown key
    assert outcome(authorizer, rest(KEY_B, "/admin", headers=admin)) == "deny"
    assert refusal(authorizer, rest(UNKNOWN, "/admin", headers=admin), records) == "invalid_claims"
    assert refusal(authorizer, rest("", "/admin", headers=admin), records) == "missing_token"
    # and the token alone afterwards is the token's
    assert outcome(authorizer, rest(None, "/admin", headers=admin)) == "root"


def test_token_sources_may_not_read_the_key_header() -> None:
    with pytest.raises(ConfigurationError):
        keyed(verifier=VERIFIER, token_sources=[TokenSource.header("X-Api-Key")])


# -- cache_ttl > 0 ----------------------------------------------------------------------------


def test_keys_beside_a_verifier_under_a_result_cache_need_covered_identity_sources() -> None:
    with pytest.raises(ConfigurationError):
        keyed(verifier=VERIFIER, cache_ttl=300)
    keyed(verifier=VERIFIER, cache_ttl=300, cache_key_covers_request=True)
    alone = keyed(cache_ttl=300)
    assert alone.handler(rest(KEY_A), None)["principalId"] == "partner-a"
    limited = StaticApiKeys({hash_api_key(KEY_A): ApiKeyEntry("p", rate_limit="5/minute")})
    with pytest.raises(ConfigurationError):
        keyed(api_keys=limited, cache_ttl=300)


def test_a_dynamic_entry_with_a_limit_under_a_result_cache_is_refused(
    ddb_client: Any,
) -> None:
    table = create_table(ddb_client)
    ddb_client.put_item(
        TableName=table, Item=DynamoDBApiKeys.item(KEY_A, ApiKeyEntry("p", rate_limit="5/minute"))
    )
    records: list[dict[str, Any]] = []
    authorizer = keyed(records, api_keys=DynamoDBApiKeys(table, client=ddb_client), cache_ttl=300)
    assert refusal(authorizer, rest(KEY_A), records) == "configuration_error"


# fmt: off
def test_a_key_expiring_within_the_result_ttl_carries_its_expiry_in_the_answer(
    ddb_client: Any,
) -> None:
    """Tokens put ``secauth_exp`` in the context so a Guard refuses a cached answer after it;
    a key's ``expires_at`` is dropped, and API Gateway serves the Allow for the whole TTL."""
    wall = Clock(1_700_000_000.0)
    table = create_table(ddb_client)
    expires = int(wall.now) + 30
    ddb_client.put_item(
        TableName=table, Item=DynamoDBApiKeys.item(KEY_A, ENTRY_A, expires_at=expires)
    )
    keys = DynamoDBApiKeys(table, client=ddb_client, wall_clock=wall)
    answer = keyed(api_keys=keys, cache_ttl=300).handler(rest(KEY_A), None)
    assert answer["principalId"] == "partner-a"  # valid now, answer reused for 300 s
    assert answer["context"].get("secauth_exp") == str(expires)
# fmt: on


# -- rate limits ------------------------------------------------------------------------------


def test_unknown_and_malformed_keys_never_spend_a_keys_buckets() -> None:
    clock = Clock()
    limited = ApiKeyEntry("partner-a", roles=("partner",), rate_limit="2/minute")
    keys = StaticApiKeys({hash_api_key(KEY_A): limited})
    authorizer = keyed(
        api_keys=keys,
        rate_limit=RateLimiter.per_api_key("3/minute", store=MemoryStore(clock=clock)),
        api_key_limit_store=MemoryStore(clock=clock),
    )
    junk = [UNKNOWN, KEY_A.upper(), KEY_A + "\x00", KEY_A[:19], [KEY_A, KEY_A]]
    for spelling in junk * 5:
        assert outcome(authorizer, rest(spelling)) == "401"
    # the key's own entry limit (2) is intact, shared by its spellings, and then it is spent
    assert outcome(authorizer, rest(KEY_A)) == "partner-a"
    assert outcome(authorizer, rest(f" {KEY_A}\t")) == "partner-a"
    assert outcome(authorizer, rest(KEY_A)) == "deny"


def test_guessing_keys_spends_the_guessers_ip_quota_only() -> None:
    clock = Clock()
    authorizer = keyed(rate_limit=RateLimiter.per_ip("3/minute", store=MemoryStore(clock=clock)))
    for n in range(3):
        assert (
            outcome(authorizer, rest(UNKNOWN[:-2] + f"{n:02d}", source_ip="198.51.100.7")) == "401"
        )
    assert outcome(authorizer, rest(KEY_A, source_ip="198.51.100.7")) == "deny"
    assert outcome(authorizer, rest(KEY_A, source_ip="198.51.100.8")) == "partner-a"


# -- records, errors, comparison --------------------------------------------------------------


def test_no_record_or_error_carries_a_key_or_its_hash(
    ddb_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    table = create_table(ddb_client)
    ddb_client.put_item(TableName=table, Item=DynamoDBApiKeys.item(KEY_A, ENTRY_A))
    store = DynamoDBApiKeys(table, client=ddb_client, cache_ttl=0, negative_cache_ttl=0)
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(api_keys=store, routes=ROUTES, on_decision=records.append)
    events = [rest(KEY_A), rest(KEY_A, "/admin"), rest(UNKNOWN), rest(KEY_A + "\x00"),
              rest([KEY_A, KEY_B]), rest(KEY_A.upper())]  # fmt: skip
    for event in events:
        outcome(authorizer, event)
    ddb_client.delete_table(TableName=table)
    with pytest.raises(KeysUnavailable) as raised:
        store.lookup(KEY_A)
    outcome(authorizer, rest(KEY_B))
    reasons = [r.get("reason") for r in records]
    assert reasons[-1] == "keys_unavailable"
    assert "ambiguous_credentials" in reasons
    text = json.dumps(records) + capsys.readouterr().out + str(raised.value)
    text += repr(raised.value.detail) + raised.value.public_message
    assert leaks(text, KEY_A, KEY_B, UNKNOWN) == []


def test_stores_compare_the_digest_in_constant_time(
    monkeypatch: pytest.MonkeyPatch, secrets_manager: Any
) -> None:
    calls: list[tuple[str, str]] = []
    original = secauth.api_keys.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(secauth.api_keys.hmac, "compare_digest", spy)
    assert static_keys().lookup(KEY_A) == ENTRY_A
    secret = create_secret(secrets_manager, SecretsManagerApiKeys.secret_string([(KEY_A, ENTRY_A)]))
    assert SecretsManagerApiKeys(secret, client=secrets_manager).lookup(KEY_A) == ENTRY_A
    assert calls == [(hash_api_key(KEY_A), hash_api_key(KEY_A))] * 2


# -- DynamoDB store ---------------------------------------------------------------------------


def test_a_revoked_key_is_accepted_until_cache_ttl_then_refused(ddb_client: Any) -> None:
    """Documented (DynamoDBApiKeys: "a revoked or changed key is noticed within cache_ttl")."""
    table = create_table(ddb_client)
    ddb_client.put_item(TableName=table, Item=DynamoDBApiKeys.item(KEY_A, ENTRY_A))
    clock = Clock()
    authorizer = keyed(api_keys=DynamoDBApiKeys(table, client=ddb_client, clock=clock))
    assert outcome(authorizer, rest(KEY_A)) == "partner-a"
    ddb_client.put_item(TableName=table, Item=DynamoDBApiKeys.item(KEY_A, ENTRY_A, disabled=True))
    ddb_client.put_item(TableName=table, Item=DynamoDBApiKeys.item(KEY_B, ENTRY_B))
    ddb_client.delete_item(TableName=table, Key={"key_hash": {"S": hash_api_key(KEY_B)}})
    clock.now += 59.9
    assert outcome(authorizer, rest(KEY_A)) == "partner-a"
    clock.now += 0.2
    assert outcome(authorizer, rest(KEY_A)) == "401"
    assert outcome(authorizer, rest(KEY_B)) == "401"


def test_expiry_is_checked_on_every_call_even_from_the_cache(ddb_client: Any) -> None:
    table = create_table(ddb_client)
    wall = Clock(1_700_000_000.0)
    ddb_client.put_item(
        TableName=table, Item=DynamoDBApiKeys.item(KEY_A, ENTRY_A, expires_at=wall.now + 5)
    )
    counter = GetItemCounter(ddb_client)
    authorizer = keyed(api_keys=DynamoDBApiKeys(table, client=ddb_client, wall_clock=wall))
    assert outcome(authorizer, rest(KEY_A)) == "partner-a"
    wall.now += 5
    assert outcome(authorizer, rest(KEY_A)) == "401"
    assert counter.count == 1  # refused from the cached answer, no new read needed


def test_a_table_outage_is_never_an_allow_and_never_cached(ddb_client: Any) -> None:
    table = f"secauth-r110-missing-{next(_tables)}"
    clock = Clock()
    records: list[dict[str, Any]] = []
    authorizer = keyed(records, api_keys=DynamoDBApiKeys(table, client=ddb_client, clock=clock))
    for key in (KEY_A, UNKNOWN):
        assert refusal(authorizer, rest(key), records) == "keys_unavailable"
    ddb_client.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "key_hash", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "key_hash", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb_client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.05})
    ddb_client.put_item(TableName=table, Item=DynamoDBApiKeys.item(KEY_A, ENTRY_A))
    assert outcome(authorizer, rest(KEY_A)) == "partner-a"  # no failure was remembered


def test_a_malformed_item_fails_closed_as_keys_unavailable(ddb_client: Any) -> None:
    table = create_table(ddb_client)
    item = DynamoDBApiKeys.item(KEY_A, ENTRY_A)
    item["Disabled"] = {"BOOL": True}  # a misspelt revocation must not leave the key working
    ddb_client.put_item(TableName=table, Item=item)
    records: list[dict[str, Any]] = []
    authorizer = keyed(records, api_keys=DynamoDBApiKeys(table, client=ddb_client))
    assert refusal(authorizer, rest(KEY_A), records) == "keys_unavailable"


def test_the_negative_cache_holds_a_new_key_back_for_its_ttl_only(ddb_client: Any) -> None:
    table = create_table(ddb_client)
    clock = Clock()
    authorizer = keyed(api_keys=DynamoDBApiKeys(table, client=ddb_client, clock=clock))
    assert outcome(authorizer, rest(KEY_B)) == "401"
    ddb_client.put_item(TableName=table, Item=DynamoDBApiKeys.item(KEY_B, ENTRY_B))
    clock.now += 9.9
    assert outcome(authorizer, rest(KEY_B)) == "401"
    clock.now += 0.2
    assert outcome(authorizer, rest(KEY_B)) == "partner-b"


# fmt: off
def test_a_miss_flood_does_not_evict_valid_keys_cached_answers(ddb_client: Any) -> None:
    table = create_table(ddb_client)
    ddb_client.put_item(TableName=table, Item=DynamoDBApiKeys.item(KEY_A, ENTRY_A))
    clock = Clock()
    keys = DynamoDBApiKeys(table, client=ddb_client, clock=clock, max_cached=16)
    authorizer = keyed(api_keys=keys)
    assert outcome(authorizer, rest(KEY_A)) == "partner-a"
    for n in range(16):  # what any client can send, each a distinct unknown key
        assert outcome(authorizer, rest(f"pk-r110-flood-{n:04d}-" + "f" * 20)) == "401"
    ddb_client.delete_table(TableName=table)  # a blip the positive cache would ride out
    clock.now += 1
    assert outcome(authorizer, rest(KEY_A)) == "partner-a"
# fmt: on


def test_without_a_flood_the_cached_answer_rides_out_a_table_blip(ddb_client: Any) -> None:
    """The control of the finding above: the valid key is served from its cached answer."""
    table = create_table(ddb_client)
    ddb_client.put_item(TableName=table, Item=DynamoDBApiKeys.item(KEY_A, ENTRY_A))
    clock = Clock()
    authorizer = keyed(api_keys=DynamoDBApiKeys(table, client=ddb_client, clock=clock))
    assert outcome(authorizer, rest(KEY_A)) == "partner-a"
    ddb_client.delete_table(TableName=table)
    clock.now += 1
    assert outcome(authorizer, rest(KEY_A)) == "partner-a"
    clock.now += 60
    assert outcome(authorizer, rest(KEY_A)) == "401"  # nothing stale past cache_ttl


# -- Secrets Manager store --------------------------------------------------------------------


def test_a_rotated_secret_keeps_the_old_key_until_max_age_or_invalidate(
    secrets_manager: Any,
) -> None:
    """Documented: "a rotated or revoked key is noticed within max_age"."""
    secret = create_secret(secrets_manager, SecretsManagerApiKeys.secret_string([(KEY_A, ENTRY_A)]))
    keys = SecretsManagerApiKeys(secret, client=secrets_manager, max_age=300)
    authorizer = keyed(api_keys=keys)
    assert outcome(authorizer, rest(KEY_A)) == "partner-a"
    rotated = SecretsManagerApiKeys.secret_string([(KEY_B, ENTRY_B)])
    secrets_manager.put_secret_value(SecretId=secret, SecretString=rotated)
    assert outcome(authorizer, rest(KEY_A)) == "partner-a"
    keys.invalidate()
    assert outcome(authorizer, rest(KEY_A)) == "401"
    assert outcome(authorizer, rest(KEY_B)) == "partner-b"


def test_a_malformed_rotation_fails_closed_then_recovers(secrets_manager: Any) -> None:
    secret = create_secret(secrets_manager, SecretsManagerApiKeys.secret_string([(KEY_A, ENTRY_A)]))
    keys = SecretsManagerApiKeys(secret, client=secrets_manager, max_age=0)
    records: list[dict[str, Any]] = []
    authorizer = keyed(records, api_keys=keys)
    bad = json.dumps({hash_api_key(KEY_A): {"principal_id": "partner-a", "disabeld": True}})
    secrets_manager.put_secret_value(SecretId=secret, SecretString=bad)
    assert refusal(authorizer, rest(KEY_A), records) == "keys_unavailable"
    assert refusal(authorizer, rest(KEY_A), records) == "keys_unavailable"
    good = SecretsManagerApiKeys.secret_string([(KEY_B, ENTRY_B)])
    secrets_manager.put_secret_value(SecretId=secret, SecretString=good)
    assert outcome(authorizer, rest(KEY_B)) == "partner-b"
    assert outcome(authorizer, rest(KEY_A)) == "401"
    assert leaks(json.dumps(records), KEY_A, KEY_B) == []


def test_a_deleted_secret_fails_closed_once_the_cache_is_left(secrets_manager: Any) -> None:
    secret = create_secret(secrets_manager, SecretsManagerApiKeys.secret_string([(KEY_A, ENTRY_A)]))
    keys = SecretsManagerApiKeys(secret, client=secrets_manager, max_age=300)
    records: list[dict[str, Any]] = []
    authorizer = keyed(records, api_keys=keys)
    assert outcome(authorizer, rest(KEY_A)) == "partner-a"
    secrets_manager.delete_secret(SecretId=secret, ForceDeleteWithoutRecovery=True)
    keys.invalidate()
    assert refusal(authorizer, rest(KEY_A), records) == "keys_unavailable"
    assert refusal(authorizer, rest(KEY_A), records) == "keys_unavailable"  # force kept
    assert records[-1]["detail"]["source"] == "secretsmanager_api_keys"
