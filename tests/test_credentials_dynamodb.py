"""``DynamoDBApiKeys`` against a real dynalite on loopback (started by ``rl_services``).

What it proves: keys are found by hash only; answers and misses are cached for their
TTLs (counted in real GetItem requests); revoked, expired and malformed items are
refused; a table that cannot answer fails closed as ``KeysUnavailable`` (never an
entry), and the Authorizer then answers 401 with reason ``keys_unavailable`` and the
store named in the decision record.
"""

from __future__ import annotations

from typing import Any

import pytest
from api_key_tables import create_api_key_table as create_table
from rl_services import Server, dynalite_server, dynamodb_client

from secauth import Authorizer, Routes, roles
from secauth.credentials import ApiKeyEntry, DynamoDBApiKeys, hash_api_key
from secauth.errors import ConfigurationError, KeysUnavailable, Reason
from secauth.policy import Unauthorized

KEY = "partner-a-key-0123456789abcdef"
OTHER_KEY = "partner-b-key-0123456789abcdef"
ENTRY = ApiKeyEntry(
    "partner-a",
    roles=("partner", "reader"),
    scopes=("orders:read",),
    tenant="acme",
    usage_plan=True,
    rate_limit="100/minute",
)
ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/orders"


class GetItemCounter:
    """Counts the GetItem requests a boto3 client sends (puts made by the test do not count)."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        client.meta.events.register("before-send.dynamodb.GetItem", self._on_send)

    def _on_send(self, **_: Any) -> None:
        self.count += 1


class Clock:
    """A settable clock (monotonic or wall)."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def client(dynalite: Server) -> Any:
    return dynamodb_client(dynalite.port)


@pytest.fixture
def table(client: Any) -> str:
    return create_table(client)


def rest_request_event(api_key: str) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": ARN,
        "resource": "/orders",
        "path": "/orders",
        "httpMethod": "GET",
        "headers": {"x-api-key": api_key},
        "requestContext": {"requestId": "r-1", "identity": {"sourceIp": "203.0.113.9"}},
    }


def test_found_by_hash_with_every_attribute(client: Any, table: str) -> None:
    """An item written with ``DynamoDBApiKeys.item`` reads back as the same entry; the table
    holds the SHA-256 of the key, never the key."""
    client.put_item(TableName=table, Item=DynamoDBApiKeys.item(KEY, ENTRY))
    keys = DynamoDBApiKeys(table, client=client)
    assert keys.lookup(KEY) == ENTRY
    assert keys.lookup(OTHER_KEY) is None
    stored = client.scan(TableName=table)["Items"]
    assert [i["key_hash"]["S"] for i in stored] == [hash_api_key(KEY)]
    assert KEY not in repr(stored)


def test_string_sets_and_a_custom_key_attribute(client: Any) -> None:
    """Roles and scopes may be string sets (SS) too; the partition key name is configurable."""
    table = create_table(client, attribute="pk")
    client.put_item(
        TableName=table,
        Item={
            "pk": {"S": hash_api_key(KEY)},
            "principal_id": {"S": "partner-a"},
            "roles": {"SS": ["partner"]},
            "scopes": {"SS": ["orders:read"]},
        },
    )
    entry = DynamoDBApiKeys(table, client=client, key_attribute="pk").lookup(KEY)
    assert entry == ApiKeyEntry("partner-a", roles=("partner",), scopes=("orders:read",))


def test_answers_are_cached_for_the_ttl(client: Any, table: str) -> None:
    """One GetItem per key per ``cache_ttl``: a revoked key (``disabled``) is refused once the
    cached answer expires, and not before."""
    client.put_item(TableName=table, Item=DynamoDBApiKeys.item(KEY, ENTRY))
    clock = Clock()
    counter = GetItemCounter(client)
    keys = DynamoDBApiKeys(table, client=client, cache_ttl=60, clock=clock)
    assert keys.lookup(KEY) == ENTRY
    assert keys.lookup(KEY) == ENTRY
    assert counter.count == 1
    client.put_item(TableName=table, Item=DynamoDBApiKeys.item(KEY, ENTRY, disabled=True))
    clock.now += 59
    assert keys.lookup(KEY) == ENTRY
    assert counter.count == 1
    clock.now += 2
    assert keys.lookup(KEY) is None
    assert counter.count == 2


def test_unknown_keys_are_cached_for_the_negative_ttl(client: Any, table: str) -> None:
    """A miss is remembered for ``negative_cache_ttl``: repeated unknown keys cost one GetItem,
    and a key added meanwhile is found once that expires."""
    clock = Clock()
    counter = GetItemCounter(client)
    keys = DynamoDBApiKeys(table, client=client, negative_cache_ttl=10, clock=clock)
    assert keys.lookup(KEY) is None
    client.put_item(TableName=table, Item=DynamoDBApiKeys.item(KEY, ENTRY))
    assert keys.lookup(KEY) is None
    assert counter.count == 1
    clock.now += 11
    assert keys.lookup(KEY) == ENTRY
    assert counter.count == 2


def test_invalidate_forgets_cached_answers(client: Any, table: str) -> None:
    """``invalidate(key)`` and ``invalidate()`` make the next lookup read the table again."""
    keys = DynamoDBApiKeys(table, client=client)
    counter = GetItemCounter(client)
    assert keys.lookup(KEY) is None
    client.put_item(TableName=table, Item=DynamoDBApiKeys.item(KEY, ENTRY))
    keys.invalidate(KEY)
    assert keys.lookup(KEY) == ENTRY
    keys.invalidate()
    assert keys.lookup(KEY) == ENTRY
    assert counter.count == 3


def test_cache_size_is_bounded(client: Any, table: str) -> None:
    """With ``max_cached=2`` a third key evicts the oldest answer, which is then read again;
    ``max_cached=0`` reads the table on every lookup."""
    counter = GetItemCounter(client)
    keys = DynamoDBApiKeys(table, client=client, max_cached=2)
    for key in ("a" * 24, "b" * 24, "c" * 24):
        keys.lookup(key)
    assert counter.count == 3
    keys.lookup("c" * 24)
    assert counter.count == 3
    keys.lookup("a" * 24)
    assert counter.count == 4
    uncached = DynamoDBApiKeys(table, client=client, max_cached=0)
    uncached.lookup(KEY)
    uncached.lookup(KEY)
    assert counter.count == 6


def test_expired_keys_are_refused_even_from_the_cache(client: Any, table: str) -> None:
    """``expires_at`` (epoch seconds) is checked on every lookup against the wall clock, also
    for an answer still in the cache."""
    wall = Clock(2_000_000_000.0)
    client.put_item(
        TableName=table, Item=DynamoDBApiKeys.item(KEY, ENTRY, expires_at=wall.now + 30)
    )
    counter = GetItemCounter(client)
    keys = DynamoDBApiKeys(table, client=client, wall_clock=wall)
    found = keys.lookup(KEY)
    assert found is not None
    assert found.principal_id == ENTRY.principal_id
    assert found.expires_at == wall.now + 30  # named in the answer (secauth_exp), review 110
    wall.now += 30
    assert keys.lookup(KEY) is None
    assert counter.count == 1


def test_impossible_keys_never_reach_the_table(client: Any, table: str) -> None:
    """Keys shorter than 20 or longer than 256 characters are refused without a request."""
    counter = GetItemCounter(client)
    keys = DynamoDBApiKeys(table, client=client)
    assert keys.lookup("short") is None
    assert keys.lookup("k" * 257) is None
    assert counter.count == 0


@pytest.mark.parametrize(
    ("attributes", "bad"),
    [
        ({"principal_id": None}, "principal_id"),
        ({"principal_id": {"S": ""}}, "principal_id"),
        ({"roles": {"N": "1"}}, "roles"),
        ({"scopes": {"L": [{"N": "1"}]}}, "scopes"),
        ({"usage_plan": {"S": "yes"}}, "usage_plan"),
        ({"disabled": {"S": "false"}}, "disabled"),
        ({"expires_at": {"S": "soon"}}, "expires_at"),
        ({"tenant": {"N": "7"}}, "tenant"),
        ({"rate_limit": {"S": "5 per fortnight"}}, "rate_limit"),
    ],
)
def test_malformed_items_fail_closed(
    client: Any, table: str, attributes: dict[str, Any], bad: str
) -> None:
    """An item with a wrongly typed attribute is never an entry: KeysUnavailable naming the
    attribute, and not cached (the next lookup reads again)."""
    item = {**DynamoDBApiKeys.item(KEY, ENTRY), **attributes}
    item = {k: v for k, v in item.items() if v is not None}
    client.put_item(TableName=table, Item=item)
    counter = GetItemCounter(client)
    keys = DynamoDBApiKeys(table, client=client)
    for _ in range(2):
        with pytest.raises(KeysUnavailable) as exc:
            keys.lookup(KEY)
        assert exc.value.reason is Reason.KEYS_UNAVAILABLE
        assert exc.value.detail["attribute"] == bad
        assert exc.value.detail["source"] == "dynamodb_api_keys"
    assert counter.count == 2


def test_missing_table_fails_closed(client: Any) -> None:
    """A table that does not exist: KeysUnavailable with DynamoDB's error code."""
    keys = DynamoDBApiKeys("secauth-no-such-table", client=client)
    with pytest.raises(KeysUnavailable) as exc:
        keys.lookup(KEY)
    assert exc.value.detail == {
        "source": "dynamodb_api_keys",
        "table": "secauth-no-such-table",
        "error": "ResourceNotFoundException",
    }
    assert exc.value.status == 503


def test_server_down_fails_closed_and_the_authorizer_answers_401(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DynamoDB unreachable: a key still in the cache keeps working until its TTL ends, then
    the lookup raises KeysUnavailable (connection error), the Authorizer raises Unauthorized
    (401) and its decision record says keys_unavailable and names the store."""
    server = dynalite_server().start()
    try:
        for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")):
            monkeypatch.setenv(name, value)
        clock = Clock()
        keys = DynamoDBApiKeys(
            "secauth-keys-down",
            endpoint_url=f"http://127.0.0.1:{server.port}",
            region="us-east-1",
            connect_timeout=0.2,
            read_timeout=0.5,
            clock=clock,
        )
        table = create_table(keys.client, attribute="key_hash")
        keys.table = table
        keys.client.put_item(TableName=table, Item=DynamoDBApiKeys.item(KEY, ENTRY))
        records: list[dict[str, Any]] = []
        authorizer = Authorizer(
            api_keys=keys,
            routes=Routes({"GET /orders": roles("partner")}),
            on_decision=records.append,
        )
        assert authorizer.handler(rest_request_event(KEY))["principalId"] == "partner-a"
    finally:
        server.stop()
    assert keys.lookup(KEY) == ENTRY  # cached: no request
    clock.now += 61
    with pytest.raises(KeysUnavailable) as exc:
        keys.lookup(KEY)
    assert exc.value.detail["error"] == "EndpointConnectionError"
    with pytest.raises(Unauthorized):
        authorizer.handler(rest_request_event(KEY))
    assert records[-1]["decision"] == "unauthorized"
    assert records[-1]["reason"] == "keys_unavailable"
    assert records[-1]["detail"]["source"] == "dynamodb_api_keys"
    assert KEY not in repr(records)


def test_default_client_has_short_timeouts_and_two_attempts(
    monkeypatch: pytest.MonkeyPatch, dynalite: Server
) -> None:
    """Built without a client: 0.5 s connect and read timeouts, two attempts (GetItem is
    idempotent), the given endpoint."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    endpoint = f"http://127.0.0.1:{dynalite.port}"
    keys = DynamoDBApiKeys("secauth-keys", endpoint_url=endpoint, region="us-east-1")
    config = keys.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (0.5, 0.5)
    assert config.retries["total_max_attempts"] == 2
    assert keys.client.meta.endpoint_url == endpoint


def test_authorizer_with_dynamodb_keys(client: Any, table: str) -> None:
    """Through the Authorizer: the key's principal and roles decide, the key goes back as
    usageIdentifierKey (usage plan), an unknown key is a 401 with reason invalid_claims."""
    client.put_item(TableName=table, Item=DynamoDBApiKeys.item(KEY, ENTRY))
    records: list[dict[str, Any]] = []
    authorizer = Authorizer(
        api_keys=DynamoDBApiKeys(table, client=client),
        routes=Routes({"GET /orders": roles("partner")}),
        on_decision=records.append,
    )
    response = authorizer.handler(rest_request_event(KEY))
    assert response["principalId"] == "partner-a"
    assert response["usageIdentifierKey"] == KEY
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert response["context"]["secauth_tenant"] == "acme"
    with pytest.raises(Unauthorized):
        authorizer.handler(rest_request_event(OTHER_KEY))
    assert records[-1]["reason"] == "invalid_claims"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"table": "x"}, "table must be a table name"),
        ({"key_attribute": ""}, "key_attribute must be an attribute name"),
        ({"cache_ttl": -1}, "cache_ttl must be seconds"),
        ({"negative_cache_ttl": 7200}, "negative_cache_ttl must be at most 3600 s"),
        ({"read_timeout": 0}, "read_timeout must be seconds"),
        ({"connect_timeout": True}, "connect_timeout must be seconds"),
        ({"max_cached": -1}, "max_cached must be a count"),
    ],
)
def test_configuration_errors(client: Any, options: dict[str, Any], message: str) -> None:
    """Bad settings fail at construction, saying what to change."""
    arguments = {"table": "secauth-keys", "client": client, **options}
    with pytest.raises(ConfigurationError, match=message):
        DynamoDBApiKeys(**arguments)
