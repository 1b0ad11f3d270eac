"""``SecretsManagerApiKeys`` against a real Secrets Manager emulator (moto's server) on loopback.

What it proves: keys are found by the hash of the presented key in one secret read through
Powertools Parameters; the secret is fetched once per ``max_age`` (counted in real
GetSecretValue requests) and a rotated secret is read once that passes; revoked, expired and
malformed entries are refused, and a malformed secret (plain keys, duplicate hashes, bad
fields, not JSON) fails closed as a whole with ``KeysUnavailable`` that never carries the
secret's content; an unreachable server fails closed too, and the Authorizer then answers
401 with reason ``keys_unavailable`` and the store named in the decision record.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto_services import MotoServer, create_secret
from moto_services import secretsmanager_client as sm_client

import secauth
from secauth import Authorizer, Routes, roles
from secauth.credentials import ApiKeyEntry, SecretsManagerApiKeys, hash_api_key
from secauth.errors import ConfigurationError, KeysUnavailable, Reason
from secauth.policy import Unauthorized
from secauth.ratelimit import Limit

KEY = "partner-a-key-0123456789abcdef"
OTHER_KEY = "partner-b-key-0123456789abcdef"
NEW_KEY = "partner-a-key-rotated-0123456789"
ENTRY = ApiKeyEntry(
    "partner-a",
    roles=("partner", "reader"),
    scopes=("orders:read",),
    tenant="acme",
    usage_plan=True,
    rate_limit="100/minute",
)
READER = ApiKeyEntry("partner-b", roles=("reader",))
ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/orders"
REGION = "us-east-1"


class GetSecretValueCounter:
    """Counts the GetSecretValue requests a boto3 client sends (writes by the test do not count)."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        client.meta.events.register("before-send.secrets-manager.GetSecretValue", self._on_send)

    def _on_send(self, **_: Any) -> None:
        self.count += 1


class Clock:
    """A settable wall clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def client(moto: MotoServer) -> Any:
    return sm_client(moto.endpoint)


def rest_request_event(api_key: str, route: str = "GET/orders") -> dict[str, Any]:
    method, path = route.split("/", 1)
    return {
        "type": "REQUEST",
        "methodArn": ARN.replace("GET/orders", route),
        "resource": f"/{path}",
        "path": f"/{path}",
        "httpMethod": method,
        "headers": {"x-api-key": api_key},
        "requestContext": {"requestId": "r-1", "identity": {"sourceIp": "203.0.113.9"}},
    }


def test_found_by_hash_with_every_field(client: Any) -> None:
    """A secret written with ``secret_string`` reads back as the same entries; the secret holds
    SHA-256 hashes of the keys, never the keys."""
    secret = create_secret(
        client, SecretsManagerApiKeys.secret_string([(KEY, ENTRY), (OTHER_KEY, READER)])
    )
    keys = SecretsManagerApiKeys(secret, client=client)
    assert keys.lookup(KEY) == ENTRY
    assert keys.lookup(OTHER_KEY) == READER
    assert keys.lookup(NEW_KEY) is None
    stored = client.get_secret_value(SecretId=secret)["SecretString"]
    assert sorted(json.loads(stored)) == sorted([hash_api_key(KEY), hash_api_key(OTHER_KEY)])
    assert KEY not in stored
    assert OTHER_KEY not in stored


def test_binary_secrets_and_upper_case_hashes(client: Any) -> None:
    """A ``SecretBinary`` value (UTF-8 JSON) works as well, and hashes may be upper case."""
    document = {hash_api_key(KEY).upper(): SecretsManagerApiKeys.fields(READER)}
    secret = create_secret(client, json.dumps(document).encode("utf-8"))
    assert SecretsManagerApiKeys(secret, client=client).lookup(KEY) == READER


def test_the_secret_is_fetched_once_per_max_age(client: Any) -> None:
    """Within ``max_age`` every lookup (found, unknown, short) is answered from Powertools'
    cache: one GetSecretValue. A rotated value is not seen until then; ``invalidate()``
    fetches it on the next lookup."""
    secret = create_secret(client, SecretsManagerApiKeys.secret_string([(KEY, ENTRY)]))
    counter = GetSecretValueCounter(client)
    keys = SecretsManagerApiKeys(secret, client=client, max_age=300)
    for _ in range(3):
        assert keys.lookup(KEY) == ENTRY
        assert keys.lookup(OTHER_KEY) is None
    assert counter.count == 1
    client.put_secret_value(
        SecretId=secret, SecretString=SecretsManagerApiKeys.secret_string([(NEW_KEY, ENTRY)])
    )
    assert keys.lookup(KEY) == ENTRY
    assert counter.count == 1
    keys.invalidate()
    assert keys.lookup(KEY) is None
    assert keys.lookup(NEW_KEY) == ENTRY
    assert counter.count == 2


def test_a_rotated_secret_is_read_once_max_age_passes(client: Any) -> None:
    """With ``max_age=1``: after the secret is rotated and a second has passed, the next
    lookup fetches it again; the old key is refused and the new one found."""
    secret = create_secret(client, SecretsManagerApiKeys.secret_string([(KEY, ENTRY)]))
    counter = GetSecretValueCounter(client)
    keys = SecretsManagerApiKeys(secret, client=client, max_age=1)
    assert keys.lookup(KEY) == ENTRY
    client.put_secret_value(
        SecretId=secret, SecretString=SecretsManagerApiKeys.secret_string([(NEW_KEY, ENTRY)])
    )
    time.sleep(1.1)  # Powertools' cache expires on the real clock
    assert keys.lookup(KEY) is None
    assert keys.lookup(NEW_KEY) == ENTRY
    assert counter.count == 2


def test_max_age_zero_fetches_on_every_lookup(client: Any) -> None:
    """``max_age=0`` turns the cache off: each lookup reads the secret."""
    secret = create_secret(client, SecretsManagerApiKeys.secret_string([(KEY, ENTRY)]))
    counter = GetSecretValueCounter(client)
    keys = SecretsManagerApiKeys(secret, client=client, max_age=0)
    for _ in range(3):
        assert keys.lookup(KEY) == ENTRY
    assert counter.count == 3


def test_impossible_keys_never_reach_the_secret(client: Any) -> None:
    """Keys shorter than 20 or longer than 256 characters are refused without a request."""
    secret = create_secret(client, SecretsManagerApiKeys.secret_string([(KEY, ENTRY)]))
    counter = GetSecretValueCounter(client)
    keys = SecretsManagerApiKeys(secret, client=client)
    assert keys.lookup("short") is None
    assert keys.lookup("k" * 257) is None
    assert counter.count == 0


def test_disabled_and_expired_entries_are_refused(client: Any) -> None:
    """``disabled: true`` revokes a key; ``expires_at`` (epoch seconds) is checked on every
    lookup against the wall clock, also for a secret still in the cache."""
    wall = Clock(2_000_000_000.0)
    document = {
        hash_api_key(KEY): SecretsManagerApiKeys.fields(ENTRY, expires_at=wall.now + 30),
        hash_api_key(OTHER_KEY): SecretsManagerApiKeys.fields(READER, disabled=True),
    }
    secret = create_secret(client, json.dumps(document))
    counter = GetSecretValueCounter(client)
    keys = SecretsManagerApiKeys(secret, client=client, wall_clock=wall)
    assert keys.lookup(OTHER_KEY) is None
    found = keys.lookup(KEY)
    assert found is not None
    assert found.principal_id == ENTRY.principal_id
    assert found.expires_at == wall.now + 30  # named in the answer since review 112
    wall.now += 30
    assert keys.lookup(KEY) is None
    assert counter.count == 1


MARKER = "do-not-log-this-marker-value"
GOOD = SecretsManagerApiKeys.fields(ENTRY)


def _doc(item: Any) -> str:
    return json.dumps({hash_api_key(KEY): item, hash_api_key(OTHER_KEY): {"principal_id": "b"}})


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (f"not json {MARKER}", {"problem": "secret is not a strict JSON object"}),
        (json.dumps([MARKER]), {"problem": "secret is not a strict JSON object"}),
        (json.dumps(MARKER), {"problem": "secret is not a strict JSON object"}),
        (
            json.dumps({KEY: {"principal_id": MARKER}}),
            {"problem": "secret maps something other than distinct SHA-256 hex digests"},
        ),
        (
            json.dumps({"g" * 64: {"principal_id": MARKER}}),
            {"problem": "secret maps something other than distinct SHA-256 hex digests"},
        ),
        (
            f'{{"{hash_api_key(KEY)}": {{"principal_id": "a"}}, '
            f'"{hash_api_key(KEY)}": {{"principal_id": "{MARKER}"}}}}',
            {"problem": "secret is not a strict JSON object"},
        ),
        (
            json.dumps(
                {
                    hash_api_key(KEY): {"principal_id": "a"},
                    hash_api_key(KEY).upper(): {"principal_id": MARKER, "disabled": True},
                }
            ),
            {"problem": "secret maps something other than distinct SHA-256 hex digests"},
        ),
        (_doc(MARKER), {"problem": "secret has an entry that is not a JSON object"}),
        (
            _doc({**GOOD, "disable": True, "tenant": MARKER}),
            {"problem": "secret has an entry with an unknown field"},
        ),
        (
            _doc({"roles": [MARKER]}),
            {"problem": "malformed API key entry", "field": "principal_id"},
        ),
        (
            _doc({**GOOD, "principal_id": ""}),
            {"problem": "malformed API key entry", "field": "principal_id"},
        ),
        (_doc({**GOOD, "roles": MARKER}), {"problem": "malformed API key entry", "field": "roles"}),
        (
            _doc({**GOOD, "scopes": [MARKER, 1]}),
            {"problem": "malformed API key entry", "field": "scopes"},
        ),
        (_doc({**GOOD, "tenant": 7}), {"problem": "malformed API key entry", "field": "tenant"}),
        (
            _doc({**GOOD, "usage_plan": "yes"}),
            {"problem": "malformed API key entry", "field": "usage_plan"},
        ),
        (
            _doc({**GOOD, "rate_limit": 100}),
            {"problem": "malformed API key entry", "field": "rate_limit"},
        ),
        (
            _doc({**GOOD, "rate_limit": "5 per fortnight"}),
            {"problem": "malformed API key entry", "field": "rate_limit"},
        ),
        (
            _doc({**GOOD, "disabled": "false"}),
            {"problem": "malformed API key entry", "field": "disabled"},
        ),
        (
            _doc({**GOOD, "expires_at": "soon"}),
            {"problem": "malformed API key entry", "field": "expires_at"},
        ),
        (
            _doc({**GOOD, "expires_at": True}),
            {"problem": "malformed API key entry", "field": "expires_at"},
        ),
        (
            _doc({**GOOD, "expires_at": 10**400}),
            {"problem": "malformed API key entry", "field": "expires_at"},
        ),
        (
            _doc(GOOD).replace('"principal_id": "b"}', '"principal_id": "b", "expires_at": NaN}'),
            {"problem": "secret is not a strict JSON object"},
        ),
    ],
)
def test_a_malformed_secret_fails_closed_as_a_whole(
    client: Any, value: str, detail: dict[str, str]
) -> None:
    """One bad name or entry makes every key of the secret unavailable (not just that one):
    KeysUnavailable saying what is wrong, naming the secret, never quoting its content or a
    key hash. Each fetch is parsed once; fixing the secret and invalidating brings keys back."""
    secret = create_secret(client, value)
    counter = GetSecretValueCounter(client)
    keys = SecretsManagerApiKeys(secret, client=client, max_age=300)
    for key in (KEY, OTHER_KEY, KEY):
        with pytest.raises(KeysUnavailable) as exc:
            keys.lookup(key)
        assert exc.value.reason is Reason.KEYS_UNAVAILABLE
        assert exc.value.detail == {"source": "secretsmanager_api_keys", "secret": secret, **detail}
        text = repr(exc.value) + str(exc.value)
        for leaked in (MARKER, KEY, hash_api_key(KEY), hash_api_key(KEY).upper()):
            assert leaked not in text
    assert counter.count == 1
    client.put_secret_value(
        SecretId=secret, SecretString=SecretsManagerApiKeys.secret_string([(KEY, ENTRY)])
    )
    keys.invalidate()
    assert keys.lookup(KEY) == ENTRY


def test_missing_secret_fails_closed(client: Any) -> None:
    """A secret that does not exist: KeysUnavailable with Secrets Manager's error code, and
    the failure is not cached (each lookup asks again)."""
    counter = GetSecretValueCounter(client)
    keys = SecretsManagerApiKeys("secauth/no-such-secret", client=client)
    for _ in range(2):
        with pytest.raises(KeysUnavailable) as exc:
            keys.lookup(KEY)
        assert exc.value.detail == {
            "source": "secretsmanager_api_keys",
            "secret": "secauth/no-such-secret",
            "error": "ResourceNotFoundException",
        }
        assert exc.value.status == 503
    assert counter.count == 2


def test_server_killed_fails_closed_and_the_authorizer_answers_401() -> None:
    """The emulator is killed mid-test. A store whose secret is still within ``max_age``
    keeps answering from the cache, but a forced refresh fails; a store with ``max_age=0``
    raises KeysUnavailable (connection error) at once, the Authorizer raises Unauthorized
    (401) and its decision record says keys_unavailable and names the store."""
    server = MotoServer()
    try:
        client = sm_client(server.endpoint)
        secret = create_secret(client, SecretsManagerApiKeys.secret_string([(KEY, ENTRY)]))
        cached = SecretsManagerApiKeys(secret, client=client, max_age=300)
        uncached = SecretsManagerApiKeys(secret, client=client, max_age=0)
        records: list[dict[str, Any]] = []
        authorizer = Authorizer(
            api_keys=uncached,
            routes=Routes({"GET /orders": roles("partner")}),
            on_decision=records.append,
        )
        assert cached.lookup(KEY) == ENTRY
        assert authorizer.handler(rest_request_event(KEY))["principalId"] == "partner-a"
    finally:
        server.stop()
    assert cached.lookup(KEY) == ENTRY  # within max_age: no request
    for keys in (uncached, cached):
        keys.invalidate()
        with pytest.raises(KeysUnavailable) as exc:
            keys.lookup(KEY)
        assert exc.value.detail == {
            "source": "secretsmanager_api_keys",
            "secret": secret,
            "error": "EndpointConnectionError",
        }
    with pytest.raises(Unauthorized):
        authorizer.handler(rest_request_event(KEY))
    assert records[-1]["decision"] == "unauthorized"
    assert records[-1]["reason"] == "keys_unavailable"
    assert records[-1]["detail"]["source"] == "secretsmanager_api_keys"
    assert KEY not in repr(records)


def test_authorizer_request_event_end_to_end(client: Any) -> None:
    """Through ``Authorizer(api_keys=SecretsManagerApiKeys(...))``: the key's principal and
    roles decide, the key goes back as usageIdentifierKey (usage plan) and the tenant in the
    context; a key without the role gets an explicit Deny; an unknown key is a 401 with
    reason invalid_claims."""
    secret = create_secret(
        client, SecretsManagerApiKeys.secret_string([(KEY, ENTRY), (OTHER_KEY, READER)])
    )
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(
        api_keys=SecretsManagerApiKeys(secret, client=client),
        routes=Routes({"GET /orders": roles("partner")}),
        on_decision=records.append,
    )
    response = authorizer.handler(rest_request_event(KEY))
    assert response["principalId"] == "partner-a"
    assert response["usageIdentifierKey"] == KEY
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert response["context"]["secauth_tenant"] == "acme"
    assert response["context"]["secauth_kind"] == "api_key"
    denied = authorizer.handler(rest_request_event(OTHER_KEY))
    assert denied["principalId"] == "partner-b"
    assert [s["Effect"] for s in denied["policyDocument"]["Statement"]] == ["Deny"]
    assert "usageIdentifierKey" not in denied
    with pytest.raises(Unauthorized):
        authorizer.handler(rest_request_event(NEW_KEY))
    assert records[-1]["reason"] == "invalid_claims"


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
_json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
_name = _text.filter(bool)
_valid_fields = st.fixed_dictionaries(
    {"principal_id": _name},
    optional={
        "roles": st.lists(_name, max_size=3),
        "scopes": st.lists(_name, max_size=3),
        "tenant": st.none() | _name,
        "rate_limit": st.none() | _name | st.sampled_from(["100/minute", "5 per 10s"]),
        "usage_plan": st.booleans(),
        "plan": st.none() | st.sampled_from(["free", "pro-2", "bad plan"]),
        "disabled": st.booleans(),
        "expires_at": st.none() | st.integers(-5, 5) | st.floats(-5, 5),
    },
)


@st.composite
def _field_values(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed entry, half the time with one field replaced by any JSON value."""
    item = draw(_valid_fields)
    if draw(st.booleans()):
        item[draw(st.sampled_from(sorted(SecretsManagerApiKeys.FIELDS)))] = draw(_json_value)
    return item


def expected_entry(item: dict[str, Any]) -> ApiKeyEntry | str | None:
    """What a lookup must give for ``item`` at wall-clock time 0, written apart from the
    store's code: the entry, None (revoked or expired) or ``"unavailable"`` (malformed)."""

    def text(name: str) -> bool:
        return isinstance(item.get(name), str) and item[name] != ""

    def optional_text(name: str) -> bool:
        return item.get(name) is None or text(name)

    def strings(name: str) -> bool:
        value = item.get(name, [])
        return isinstance(value, list) and all(isinstance(v, str) and v for v in value)

    def flag(name: str) -> bool:
        return isinstance(item.get(name, False), bool)

    def parses(limit: str) -> bool:  # the rate limiter's own grammar decides
        try:
            Limit.parse(limit)
        except ConfigurationError:
            return False
        return True

    expires_at = item.get("expires_at")
    number_ok = expires_at is None or type(expires_at) in (int, float)
    valid = (
        text("principal_id")
        and strings("roles")
        and strings("scopes")
        and optional_text("tenant")
        and optional_text("rate_limit")
        and (item.get("rate_limit") is None or parses(item["rate_limit"]))
        and flag("usage_plan")
        and optional_text("plan")
        and (item.get("plan") is None or re.fullmatch(r"[A-Za-z0-9._-]{1,64}", item["plan"]))
        and flag("disabled")
        and number_ok
    )
    if not valid:
        return "unavailable"
    if item.get("disabled") or (expires_at is not None and expires_at <= 0):
        return None
    return ApiKeyEntry(
        item["principal_id"],
        roles=tuple(item.get("roles", ())),
        scopes=tuple(item.get("scopes", ())),
        tenant=item.get("tenant"),
        usage_plan=item.get("usage_plan", False),
        rate_limit=item.get("rate_limit"),
        plan=item.get("plan"),
        # Named in answers since review 112, when a float second holds it.
        expires_at=float(expires_at) if expires_at is not None and expires_at < 2**53 else None,
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(item=_field_values())
def test_any_entry_gives_exactly_its_entry_or_keys_unavailable(
    client: Any, item: dict[str, Any]
) -> None:
    """Whatever JSON the known fields hold (read from the real secret), a lookup returns
    exactly the entry an independent reading of the fields describes (None when disabled or
    expired) or, when any field is wrongly typed, raises KeysUnavailable: never another
    exception, never a partial entry."""
    secret = create_secret(client, json.dumps({hash_api_key(KEY): item}))
    keys = SecretsManagerApiKeys(secret, client=client, wall_clock=lambda: 0.0)
    expected = expected_entry(item)
    if expected == "unavailable":
        with pytest.raises(KeysUnavailable) as exc:
            keys.lookup(KEY)
        assert exc.value.reason is Reason.KEYS_UNAVAILABLE
        assert exc.value.detail["problem"] == "malformed API key entry"
    else:
        assert keys.lookup(KEY) == expected


def test_default_client_has_short_timeouts_and_two_attempts(
    monkeypatch: pytest.MonkeyPatch, moto: MotoServer, client: Any
) -> None:
    """Built without a client: 0.5 s connect and 1 s read timeouts, two attempts, the given
    endpoint and region; it reads the secret through that endpoint."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    secret = create_secret(client, SecretsManagerApiKeys.secret_string([(KEY, ENTRY)]))
    keys = SecretsManagerApiKeys(secret, endpoint_url=moto.endpoint, region=REGION)
    config = keys.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (0.5, 1.0)
    assert config.retries["total_max_attempts"] == 2
    assert keys.client.meta.endpoint_url == moto.endpoint
    assert keys.client.meta.region_name == REGION
    assert keys.lookup(KEY) == ENTRY


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"secret_id": ""}, "secret_id must be a secret name or ARN"),
        ({"max_age": -1}, "max_age must be whole seconds from 0 to 3600"),
        ({"max_age": 1.5}, "max_age must be whole seconds"),
        ({"max_age": True}, "max_age must be whole seconds"),
        ({"max_age": 3601}, "max_age must be whole seconds from 0 to 3600"),
        ({"read_timeout": 0}, "read_timeout must be seconds"),
        ({"connect_timeout": 11}, "connect_timeout must be seconds"),
    ],
)
def test_configuration_errors(client: Any, options: dict[str, Any], message: str) -> None:
    """Bad settings fail at construction, saying what to change."""
    arguments = {"secret_id": "secauth/keys", "client": client, **options}
    with pytest.raises(ConfigurationError, match=message):
        SecretsManagerApiKeys(**arguments)


def test_exported_lazily() -> None:
    """``secauth.SecretsManagerApiKeys`` is the class; importing ``secauth.credentials`` loads
    neither boto3 nor Powertools (only building the store does)."""
    assert secauth.SecretsManagerApiKeys is SecretsManagerApiKeys
    assert "SecretsManagerApiKeys" in secauth.__all__
    code = (
        "import sys, secauth.credentials; "
        "print([m for m in ('boto3', 'aws_lambda_powertools') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
