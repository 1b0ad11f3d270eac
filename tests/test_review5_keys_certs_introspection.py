"""Adversarial review (5): API keys, mTLS client certificates and certificate-bound tokens,
opaque tokens through introspection (RFC 7662).

Every test asserts the secure behaviour. A test marked ``# FINDING:`` failed against the
code it was written for; each weakness it named is fixed (with a Security entry in the
CHANGELOG). The others are attacks the library resisted, kept as regression tests.

Only loopback servers are used: ``http.server`` on 127.0.0.1, dynalite (DynamoDB) and
moto's server (Secrets Manager).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import itertools
import json
import logging
import secrets
import socket
import threading
import time
import urllib.parse
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hand_clock import Clock
from moto_services import create_secret
from rl_services import Server, dynalite_server, dynamodb_client
from scripted_as import ScriptedAS

from secauth import Authorizer, Guard, JwtVerifier
from secauth.access import Routes, authenticated, roles
from secauth.api_keys import ApiKeyEntry, StaticApiKeys, hash_api_key
from secauth.client_auth import ClientAuth
from secauth.client_certs import ClientCertEntry, ClientCertificates
from secauth.dynamodb_api_keys import DynamoDBApiKeys
from secauth.errors import (
    CertificateMismatch,
    ConfigurationError,
    KeysUnavailable,
    MalformedToken,
    MissingClientCertificate,
    SecAuthError,
    SenderConstraintError,
    TokenError,
)
from secauth.introspection import IntrospectionVerifier
from secauth.policy import Unauthorized
from secauth.secretsmanager_api_keys import SecretsManagerApiKeys
from secauth.sender_constraint import certificate_thumbprint
from secauth.testing import KeyPair
from secauth.testing_events import (
    alb,
    http_authorizer_v2,
    http_proxy,
    request_authorizer,
    rest_proxy,
)

# -- shared material ------------------------------------------------------------------------

ISS, AUD = "https://idp.example.com/", "orders-api"
SIGNER = KeyPair.generate("ES256", kid="idp-1")
VERIFIER = JwtVerifier(issuer=ISS, audience=AUD, jwks={"keys": [SIGNER.public_jwk]})
ROUTES = Routes({"GET /orders": authenticated(), "DELETE /orders/{id}": roles("admin")})

KEY_A = "pk-live-" + "a" * 24
KEY_B = "pk-live-" + "b" * 24
KEY_LIMITED = "pk-live-" + "c" * 24


def jwt(**claims: Any) -> str:
    body: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": "ann", "exp": int(time.time()) + 600}
    return SIGNER.sign({**body, **claims})


ADMIN_TOKEN = jwt(sub="root", roles=["admin"])


def static_keys() -> StaticApiKeys:
    return StaticApiKeys(
        {
            hash_api_key(KEY_A): ApiKeyEntry("partner-a", roles=("reader",), usage_plan=True),
            hash_api_key(KEY_B): ApiKeyEntry("partner-b", roles=("reader",)),
            hash_api_key(KEY_LIMITED): ApiKeyEntry("partner-c", rate_limit="1/minute"),
        }
    )


def effects(response: dict[str, Any]) -> set[str]:
    return {s["Effect"] for s in response["policyDocument"]["Statement"]}


def rest_key_event(value: Any, method: str = "GET", path: str = "/orders", **sent: Any) -> Any:
    headers = dict(sent.pop("headers", {}))
    if value is not None:
        headers["x-api-key"] = value
    return request_authorizer(method, path, headers=headers, **sent)


def key_authorizer(**options: Any) -> Authorizer:
    options.setdefault("decision_log", None)
    return Authorizer(VERIFIER, routes=ROUTES, api_keys=static_keys(), api="rest", **options)


# -- API keys: spellings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "\u00a0" + KEY_A,  # no-break space
        KEY_A + "\u3000",  # ideographic space
        KEY_A + "\n",
        KEY_A + "\r",
        KEY_A[:10] + "\x00" + KEY_A[10:],
        KEY_A[:10] + "\u200b" + KEY_A[10:],  # zero-width space
        "\uff50\uff4b" + KEY_A[2:],  # full-width "pk"
        KEY_A + "\x0b",
        "\ufeff" + KEY_A,  # byte-order mark
    ],
    ids=["nbsp", "u3000", "lf", "cr", "nul", "zwsp", "fullwidth", "vt", "bom"],
)
def test_unicode_and_control_spellings_of_a_key_are_refused(spelling: str) -> None:
    with pytest.raises(Unauthorized):
        key_authorizer().handler(rest_key_event(spelling), None)


def test_spaces_and_tabs_around_a_key_are_dropped_and_the_usage_key_is_canonical() -> None:
    response = key_authorizer().handler(rest_key_event(" \t" + KEY_A + "\t "), None)
    assert response["principalId"] == "partner-a"
    assert response["usageIdentifierKey"] == KEY_A


@pytest.mark.parametrize(
    "spelling",
    [KEY_A.upper(), KEY_A[:-1], KEY_A + "a", KEY_A.replace("-", "_")],
    ids=["upper", "shorter", "longer", "separator"],
)
def test_near_miss_keys_are_other_keys(spelling: str) -> None:
    with pytest.raises(Unauthorized):
        key_authorizer().handler(rest_key_event(spelling), None)


def test_the_api_key_header_name_is_case_insensitive_but_only_that_header() -> None:
    authorizer = key_authorizer()
    event = request_authorizer("GET", "/orders", headers={"X-API-KEY": KEY_A})
    assert authorizer.handler(event, None)["principalId"] == "partner-a"
    for name in ("x-api-key2", "x_api_key", "api-key", "x-apikey"):
        with pytest.raises(Unauthorized):
            authorizer.handler(request_authorizer("GET", "/orders", headers={name: KEY_A}), None)


# FINDING: a repeated x-api-key header is not refused as ambiguous (bearer tokens are)
def test_a_repeated_api_key_header_is_refused_as_ambiguous() -> None:
    event = request_authorizer("GET", "/orders", headers={"x-api-key": [KEY_B, KEY_A]})
    assert event["headers"]["x-api-key"] == KEY_A  # REST keeps the last value
    assert event["multiValueHeaders"]["x-api-key"] == [KEY_B, KEY_A]
    with pytest.raises(Unauthorized):
        key_authorizer().handler(event, None)


def test_http_api_joined_api_key_values_are_no_key() -> None:
    authorizer = Authorizer(api_keys=static_keys(), routes=ROUTES, decision_log=None)
    event = http_authorizer_v2("GET", "/orders", headers={"x-api-key": [KEY_A, KEY_B]})
    assert event["headers"]["x-api-key"] == f"{KEY_A},{KEY_B}"
    response = authorizer.handler(event, None)
    assert "Allow" not in effects(response)


# -- API keys and bearer tokens in one request ----------------------------------------------


@pytest.mark.parametrize(
    "bad_key",
    ["", "   ", "short", "pk-live-" + "z" * 24],
    ids=["empty", "blank", "short", "unknown"],
)
def test_a_bad_api_key_never_falls_back_to_a_valid_bearer_token(bad_key: str) -> None:
    event = rest_key_event(bad_key, "DELETE", "/orders/7", token=ADMIN_TOKEN)
    with pytest.raises(Unauthorized):
        key_authorizer().handler(event, None)


def test_a_bearer_token_does_not_lift_the_api_key_principal_or_its_limit() -> None:
    authorizer = key_authorizer()
    # The admin token rides along a reader's key: the key decides (documented order).
    response = authorizer.handler(
        rest_key_event(KEY_A, "DELETE", "/orders/7", token=ADMIN_TOKEN), None
    )
    assert response["principalId"] == "partner-a"
    assert "Allow" not in effects(response)
    # A key with its own rate limit keeps it, bearer token or not, whatever the spelling.
    first = authorizer.handler(rest_key_event(KEY_LIMITED), None)
    assert effects(first) == {"Allow"}
    for spelling in (KEY_LIMITED, " " + KEY_LIMITED, KEY_LIMITED + "\t"):
        again = authorizer.handler(rest_key_event(spelling, token=ADMIN_TOKEN), None)
        assert again["principalId"] == "partner-c"
        assert "Allow" not in effects(again)


def test_usage_identifier_key_only_for_usage_plan_entries_on_rest() -> None:
    authorizer = key_authorizer()
    assert "usageIdentifierKey" not in authorizer.handler(rest_key_event(KEY_B), None)
    http_authorizer = Authorizer(api_keys=static_keys(), routes=ROUTES, decision_log=None)
    answer = http_authorizer.handler(
        http_authorizer_v2("GET", "/orders", headers={"x-api-key": KEY_A}), None
    )
    assert KEY_A not in json.dumps(answer)


def test_api_keys_never_reach_decision_records() -> None:
    records: list[dict[str, Any]] = []
    authorizer = key_authorizer(on_decision=records.append)
    authorizer.handler(rest_key_event(KEY_A), None)
    for spelling in ("pk-live-" + "q" * 24, "\u00a0" + KEY_B, "tiny"):
        with pytest.raises(Unauthorized):
            authorizer.handler(rest_key_event(spelling), None)
    dumped = json.dumps(records, default=str)
    for secret in (KEY_A, KEY_B, "q" * 24, hash_api_key(KEY_A)):
        assert secret not in dumped
    assert len(records) == 4


def test_static_keys_compare_in_constant_time_and_refuse_plain_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import secauth.api_keys as module

    compared: list[tuple[str, str]] = []
    real = module.hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(module.hmac, "compare_digest", spy)
    assert static_keys().lookup(KEY_A) is not None
    assert compared
    assert compared[0][0] == hash_api_key(KEY_A)
    with pytest.raises(ConfigurationError):
        StaticApiKeys({KEY_A: ApiKeyEntry("p")})
    with pytest.raises(ConfigurationError):
        StaticApiKeys({"g" * 64: ApiKeyEntry("p")})
    keys = static_keys()
    assert keys.lookup("k" * 19) is None
    assert keys.lookup("k" * 257) is None


# -- DynamoDB key store (dynalite on loopback) ----------------------------------------------

_tables = itertools.count()


@pytest.fixture
def dynamo(dynalite: Server) -> Any:
    """A boto3 client for the module's dynalite."""
    return dynamodb_client(dynalite.port)


def create_key_table(client: Any, name: str | None = None) -> str:
    name = name or f"secauth-review5-keys-{next(_tables)}"
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "key_hash", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "key_hash", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.05})
    return name


@pytest.fixture
def table(dynamo: Any) -> str:
    return create_key_table(dynamo)


def put_key(client: Any, table: str, key: str, entry: ApiKeyEntry, **options: Any) -> None:
    client.put_item(TableName=table, Item=DynamoDBApiKeys.item(key, entry, **options))


class GetItems:
    """Counts the GetItem requests a boto3 client sends (the test's own writes do not count)."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        client.meta.events.register("before-send.dynamodb.GetItem", self._on_send)

    def _on_send(self, **_: Any) -> None:
        self.count += 1


class TamperingProxy:
    """A loopback proxy in front of dynalite that changes GetItem traffic the way a
    misbehaving endpoint could: ``request`` rewrites the GetItem request and ``answer`` the
    item in its answer (both parsed JSON, changed in place); the rest passes unchanged."""

    def __init__(self, target: int, *, request: Any = None, answer: Any = None) -> None:
        self.target, self.request, self.answer = target, request, answer
        self.server = _Quiet(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def client(self) -> Any:
        return dynamodb_client(self.port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                get_item = self.headers.get("X-Amz-Target", "").endswith(".GetItem")
                if get_item and owner.request is not None:
                    sent = json.loads(body)
                    owner.request(sent)
                    body = json.dumps(sent).encode()
                skip = {"host", "content-length", "connection"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                upstream = http.client.HTTPConnection("127.0.0.1", owner.target, timeout=5)
                try:
                    upstream.request("POST", self.path, body, headers)
                    reply = upstream.getresponse()
                    status, raw = reply.status, reply.read()
                    content_type = reply.getheader("Content-Type") or "application/json"
                finally:
                    upstream.close()
                if get_item and owner.answer is not None and status == 200:
                    parsed = json.loads(raw)
                    if "Item" in parsed:
                        owner.answer(parsed["Item"])
                        raw = json.dumps(parsed).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("x-amz-crc32", str(zlib.crc32(raw)))
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def tampering(dynalite: Server) -> Iterator[Any]:
    """Start a :class:`TamperingProxy` in front of the module's dynalite (stopped after)."""
    started: list[TamperingProxy] = []

    def start(**rewrites: Any) -> TamperingProxy:
        started.append(TamperingProxy(dynalite.port, **rewrites))
        return started[-1]

    yield start
    for proxy in started:
        proxy.stop()


def dynamo_store(
    client: Any, table: str, clock: Clock, wall: Clock | None = None
) -> DynamoDBApiKeys:
    return DynamoDBApiKeys(
        table, client=client, clock=clock, wall_clock=wall or clock, cache_ttl=60,
        negative_cache_ttl=10,
    )  # fmt: skip


def assert_fails_closed_uncached_and_401(
    store: DynamoDBApiKeys, calls: GetItems, attribute: str
) -> None:
    with pytest.raises(KeysUnavailable) as caught:
        store.lookup(KEY_A)
    assert caught.value.detail["attribute"] == attribute  # the item reached the checks
    assert KEY_A not in json.dumps(caught.value.detail)
    # Not cached: the next lookup asks again (and fails again), never an allow.
    with pytest.raises(KeysUnavailable):
        store.lookup(KEY_A)
    assert calls.count == 2
    authorizer = Authorizer(api_keys=store, routes=ROUTES, decision_log=None, api="rest")
    with pytest.raises(Unauthorized):
        authorizer.handler(rest_key_event(KEY_A), None)


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("disabled", {"S": "true"}),
        ("disabled", {"N": "1"}),
        ("disabled", {"NULL": True}),
        ("usage_plan", {"S": "true"}),
        ("expires_at", {"S": "1"}),
        ("roles", {"S": "admin"}),
        ("roles", {"L": [{"S": "reader"}, {"N": "1"}]}),
        ("principal_id", {"N": "7"}),
        ("principal_id", {"S": ""}),
        ("tenant", {"NULL": True}),
        ("rate_limit", {"S": "5 per fortnight"}),
        ("plan", {"S": "gold plan"}),
    ],
)
def test_dynamodb_type_confusion_fails_closed(
    dynamo: Any, table: str, attribute: str, value: dict[str, Any]
) -> None:
    item = DynamoDBApiKeys.item(KEY_A, ApiKeyEntry("partner-a", roles=("reader",)))
    dynamo.put_item(TableName=table, Item={**item, attribute: value})  # raw, as stored
    calls = GetItems(dynamo)
    assert_fails_closed_uncached_and_401(dynamo_store(dynamo, table, Clock(time.time())), calls, attribute)


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("disabled", {"BOOL": "true"}),
        ("expires_at", {"N": "inf"}),
        ("expires_at", {"N": "nan"}),
        ("expires_at", {"N": "1e400"}),
    ],
)
def test_dynamodb_answers_no_table_holds_fail_closed(
    dynamo: Any, table: str, tampering: Any, attribute: str, value: dict[str, Any]
) -> None:
    """Values DynamoDB will not store (boto3 refuses a BOOL that is no boolean, the table a
    number that is not finite) can only come from a misbehaving endpoint: a proxy in front
    of dynalite puts them into the real item's answer."""
    from botocore.exceptions import ClientError, ParamValidationError

    item = DynamoDBApiKeys.item(KEY_A, ApiKeyEntry("partner-a", roles=("reader",)))
    with pytest.raises((ClientError, ParamValidationError)):
        dynamo.put_item(TableName=table, Item={**item, attribute: value})
    dynamo.put_item(TableName=table, Item=item)
    client = tampering(answer=lambda answered: answered.update({attribute: value})).client()
    calls = GetItems(client)
    assert_fails_closed_uncached_and_401(dynamo_store(client, table, Clock(time.time())), calls, attribute)


def test_dynamodb_item_with_another_hash_fails_closed(
    dynamo: Any, table: str, tampering: Any
) -> None:
    # A table keyed by the hash only ever answers the item asked for: an endpoint that
    # answers KEY_B's item when asked for KEY_A's hash is a proxy rewriting the request.
    put_key(dynamo, table, KEY_B, ApiKeyEntry("partner-b"))

    def ask_for_key_b(sent: dict[str, Any]) -> None:
        sent["Key"]["key_hash"]["S"] = hash_api_key(KEY_B)

    client = tampering(request=ask_for_key_b).client()
    answered = client.get_item(TableName=table, Key={"key_hash": {"S": hash_api_key(KEY_A)}})
    assert answered["Item"]["key_hash"] == {"S": hash_api_key(KEY_B)}  # KEY_A's slot: KEY_B's
    with pytest.raises(KeysUnavailable) as caught:
        dynamo_store(client, table, Clock(time.time())).lookup(KEY_A)
    assert caught.value.detail["problem"] == "item key does not match the key hash"


def test_dynamodb_disabled_and_expired_keys_are_refused_even_from_the_cache(
    dynamo: Any, table: str
) -> None:
    clock = Clock(time.time())
    put_key(dynamo, table, KEY_A, ApiKeyEntry("partner-a"), disabled=True)
    put_key(dynamo, table, KEY_B, ApiKeyEntry("partner-b"), expires_at=clock.now + 30)
    calls = GetItems(dynamo)
    store = dynamo_store(dynamo, table, clock)
    assert store.lookup(KEY_A) is None
    assert store.lookup(KEY_B) is not None
    clock.now += 30  # the key's own expiry, well inside cache_ttl
    assert store.lookup(KEY_B) is None
    assert calls.count == 2  # the refusal came from the cached answer


def test_dynamodb_revocation_is_seen_within_cache_ttl_and_failures_are_not_cached() -> None:
    server = dynalite_server().start()  # a private one: it goes down mid-test
    try:
        client = dynamodb_client(server.port, connect_timeout=0.2)
        table, clock = create_key_table(client), Clock(time.time())
        put_key(client, table, KEY_A, ApiKeyEntry("partner-a"))
        store = dynamo_store(client, table, clock)
        assert store.lookup(KEY_A) is not None
        put_key(client, table, KEY_A, ApiKeyEntry("partner-a"), disabled=True)  # revoked
        clock.now += 59.9
        assert store.lookup(KEY_A) is not None  # documented staleness: within cache_ttl
        clock.now += 0.1
        assert store.lookup(KEY_A) is None
        # A failing table is not remembered: neither as "unknown" nor as the old answer.
        put_key(client, table, KEY_B, ApiKeyEntry("partner-b"))
        server.stop()  # the table cannot answer
        with pytest.raises(KeysUnavailable):
            store.lookup(KEY_B)
        server.start()  # back on the same port, empty: the table and the key again
        create_key_table(client, table)
        put_key(client, table, KEY_B, ApiKeyEntry("partner-b"))
        assert store.lookup(KEY_B) is not None
    finally:
        server.stop()


def test_an_unknown_key_flood_never_turns_into_an_allow(dynamo: Any, table: str) -> None:
    clock = Clock(time.time())
    put_key(dynamo, table, KEY_A, ApiKeyEntry("partner-a"))
    store = DynamoDBApiKeys(table, client=dynamo, clock=clock, wall_clock=clock, max_cached=8)
    assert store.lookup(KEY_A) is not None
    for n in range(50):
        assert store.lookup(f"pk-flood-{n:020d}") is None
    assert store.lookup(KEY_A) is not None
    assert store.lookup(KEY_B) is None


# FINDING: cache_ttl>0 per-key-limit refusal still Allows the key's other routes
def test_dynamodb_key_limits_under_a_cached_authorizer_allow_nothing(
    dynamo: Any, table: str
) -> None:
    put_key(dynamo, table, KEY_LIMITED, ApiKeyEntry("partner-c", rate_limit="100/minute"))
    routes = Routes({"GET /orders": authenticated(), "GET /reports": authenticated()})
    authorizer = Authorizer(
        api_keys=dynamo_store(dynamo, table, Clock(time.time())), routes=routes, cache_ttl=300,
        decision_log=None, api="rest",
    )  # fmt: skip
    try:
        response = authorizer.handler(rest_key_event(KEY_LIMITED), None)
    except Unauthorized:
        return  # refused outright: nothing for API Gateway to reuse
    statements = response["policyDocument"]["Statement"]
    allowed = {r for s in statements if s["Effect"] == "Allow" for r in _resources(s)}
    denied = {r for s in statements if s["Effect"] == "Deny" for r in _resources(s)}
    # The policy is cached for 300 s and reused for every route: the limit the authorizer
    # could not apply must not turn into an unlimited Allow of the key's other routes.
    assert allowed <= denied, sorted(allowed - denied)


def _resources(statement: dict[str, Any]) -> list[str]:
    resource = statement["Resource"]
    return [resource] if isinstance(resource, str) else list(resource)


# -- Secrets Manager key store (moto's server on loopback, behind Powertools) ---------------



HASH_A = hash_api_key(KEY_A)


def secret_document(**fields: Any) -> str:
    entry = {"principal_id": "partner-a", **fields}
    return json.dumps({hash_api_key(KEY_A): entry})


@pytest.mark.parametrize(
    "text",
    [
        secret_document(disabled="true"),
        secret_document(disabled=None),
        secret_document(disabled=1),
        secret_document(usage_plan="yes"),
        secret_document(expires_at="4000000000"),
        secret_document(expires_at=True),
        secret_document(disable=True),  # misspelt: must not leave the key working
        secret_document(roles="admin"),
        secret_document(rate_limit="5 per fortnight"),
        f'{{"{HASH_A}": {{"principal_id": "a"}}, "{HASH_A.upper()}": {{"principal_id": "b"}}}}',
        f'{{"{HASH_A}": {{"principal_id": "a", "expires_at": NaN}}}}',
        f'{{"{HASH_A}": {{"principal_id": "a", "expires_at": 1e999}}}}',
        f'{{"{HASH_A}": {{"principal_id": "a", "disabled": false, "disabled": true}}}}',
        json.dumps({KEY_A: {"principal_id": "a"}}),  # a plain key
        "[]",
        "not json",
    ],
)
def test_secretsmanager_type_confusion_fails_closed(secrets_manager: Any, text: str) -> None:
    secret = create_secret(secrets_manager, text)
    store = SecretsManagerApiKeys(secret, client=secrets_manager, max_age=0)
    with pytest.raises(KeysUnavailable) as caught:
        store.lookup(KEY_A)
    shown = json.dumps(caught.value.detail) + str(caught.value)
    assert hash_api_key(KEY_A) not in shown
    assert "partner-a" not in shown


def test_secretsmanager_rotation_to_a_bad_secret_never_serves_old_entries(
    secrets_manager: Any,
) -> None:
    secret = create_secret(
        secrets_manager,
        SecretsManagerApiKeys.secret_string([(KEY_A, ApiKeyEntry("partner-a"))]),
    )

    def rotate(text: str) -> None:
        secrets_manager.put_secret_value(SecretId=secret, SecretString=text)

    store = SecretsManagerApiKeys(secret, client=secrets_manager, max_age=0)
    assert store.lookup(KEY_A) is not None
    rotate(secret_document(disabled="yes"))
    with pytest.raises(KeysUnavailable):
        store.lookup(KEY_A)
    rotate(secret_document(disabled=True))
    assert store.lookup(KEY_A) is None
    wall = Clock(time.time())
    rotate(secret_document(expires_at=wall.now + 5))
    timed = SecretsManagerApiKeys(secret, client=secrets_manager, max_age=0, wall_clock=wall)
    assert timed.lookup(KEY_A) is not None
    wall.now += 5
    assert timed.lookup(KEY_A) is None


# -- mTLS client certificates (the allowlist) ------------------------------------------------

SUBJECT, ISSUER_DN = "CN=partner-a,O=Partner A", "CN=Example CA"
CERTS = ClientCertificates(
    {SUBJECT: ClientCertEntry("partner-a", issuer_dn=ISSUER_DN, serial_numbers=("0A",),
                              roles=("reader",))}
)  # fmt: skip
VALID = {"notBefore": "May 28 12:30:02 2024 GMT", "notAfter": "Aug  5 09:36:04 2099 GMT"}


def cert_block(**over: Any) -> dict[str, Any]:
    block = {"subjectDN": SUBJECT, "issuerDN": ISSUER_DN, "serialNumber": "0A",
             "validity": dict(VALID)}  # fmt: skip
    block.update(over)
    return block


def cert_event(block: Any, *, http: bool = False, **sent: Any) -> Any:
    if http:
        event = http_authorizer_v2("GET", "/orders", **sent)
        event["requestContext"].setdefault("authentication", {})["clientCert"] = block
    else:
        event = request_authorizer("GET", "/orders", **sent)
        event["requestContext"].setdefault("identity", {})["clientCert"] = block
    return event


def cert_authorizer(**options: Any) -> Authorizer:
    options.setdefault("decision_log", None)
    return Authorizer(routes=ROUTES, client_certs=CERTS, api="rest", **options)


def test_an_allowlisted_certificate_is_accepted_on_rest_and_http() -> None:
    assert cert_authorizer().handler(cert_event(cert_block()), None)["principalId"] == "partner-a"
    http_authorizer = Authorizer(routes=ROUTES, client_certs=CERTS, decision_log=None)
    assert "Allow" in effects(http_authorizer.handler(cert_event(cert_block(), http=True), None))


@pytest.mark.parametrize(
    "over",
    [
        {"subjectDN": "CN=partner-b,O=Partner A"},
        {"subjectDN": "cn=partner-a,o=Partner A"},
        {"subjectDN": "CN=partner-a, O=Partner A"},
        {"subjectDN": "O=Partner A,CN=partner-a"},
        {"subjectDN": SUBJECT + " "},
        {"subjectDN": [SUBJECT]},
        {"subjectDN": None},
        {"issuerDN": "CN=Evil CA"},
        {"issuerDN": None},
        {"serialNumber": "0B"},
        {"serialNumber": "0a"},
        {"serialNumber": 10},
        {
            "validity": {
                "notBefore": "May 28 12:30:02 2024 GMT",
                "notAfter": "Jan  1 00:00:00 2020 GMT",
            }
        },
        {
            "validity": {
                "notBefore": "Jan  1 00:00:00 2098 GMT",
                "notAfter": "Aug  5 09:36:04 2099 GMT",
            }
        },
        {
            "validity": {
                "notBefore": "May 28 12:30:02 2024 PST",
                "notAfter": "Aug  5 09:36:04 2099 PST",
            }
        },
        {"validity": {"notBefore": 0, "notAfter": 4102444800}},
        {"validity": {"notAfter": "Aug  5 09:36:04 2099 GMT"}},
        {"validity": {}},
        {"validity": "forever"},
        {"validity": None},
    ],
)
def test_a_certificate_off_the_allowlist_or_outside_its_validity_is_refused(
    over: dict[str, Any],
) -> None:
    with pytest.raises(Unauthorized):
        cert_authorizer().handler(cert_event(cert_block(**over)), None)


def test_a_refused_certificate_never_falls_back_to_a_valid_bearer_token() -> None:
    authorizer = Authorizer(
        VERIFIER, routes=ROUTES, client_certs=CERTS, api="rest", decision_log=None
    )
    event = cert_event(cert_block(subjectDN="CN=intruder"), token=ADMIN_TOKEN)
    with pytest.raises(Unauthorized):
        authorizer.handler(event, None)
    expired = cert_block(validity={"notBefore": "Jan  1 00:00:00 2001 GMT",
                                   "notAfter": "Jan  1 00:00:00 2002 GMT"})  # fmt: skip
    with pytest.raises(Unauthorized):
        authorizer.handler(cert_event(expired, token=ADMIN_TOKEN), None)


@pytest.mark.parametrize(
    "header",
    ["x-amzn-mtls-clientcert", "x-amzn-mtls-clientcert-subject", "x-ssl-client-cert",
     "x-client-cert", "x-forwarded-client-cert", "clientcert"],
)  # fmt: skip
def test_a_certificate_in_request_headers_is_never_trusted(header: str) -> None:
    block = json.dumps(cert_block())
    event = request_authorizer("GET", "/orders", headers={header: block})
    event["requestContext"]["identity"]["subjectDN"] = SUBJECT  # not where certs live either
    with pytest.raises(Unauthorized):
        cert_authorizer().handler(event, None)


@pytest.mark.parametrize("block", ["CN=partner-a", [cert_block()], 7, True])
def test_a_client_cert_block_of_the_wrong_type_is_no_certificate(block: Any) -> None:
    with pytest.raises(Unauthorized):
        cert_authorizer().handler(cert_event(block), None)


# FINDING: client_certs + cache_ttl>0 accepted: a cached Allow serves other certs
def test_cached_client_cert_answers_need_the_certificate_in_the_cache_key() -> None:
    # Certificate-bound tokens and client_cert() rules are refused in this setup (a cached
    # answer would be reused for another certificate); certificate authentication must be too.
    covered = cert_authorizer(cache_ttl=300, cache_key_covers_request=True)
    assert covered.handler(cert_event(cert_block()), None)["principalId"] == "partner-a"
    try:
        cached = cert_authorizer(cache_ttl=300)
    except ConfigurationError:
        return  # refused at construction: the secure outcome
    with pytest.raises(Unauthorized):
        cached.handler(cert_event(cert_block()), None)


# -- certificate-bound tokens (RFC 8705) ------------------------------------------------------


def make_cert(name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def digest_of(pem: str) -> bytes:
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    return hashlib.sha256(base64.b64decode(body)).digest()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def cert_with_awkward_thumbprint() -> str:
    """A certificate whose thumbprint has '-' or '_' (so base64 and base64url differ)."""
    while True:
        pem = make_cert("client-a")
        if any(c in b64url(digest_of(pem)) for c in "-_"):
            return pem


PEM = cert_with_awkward_thumbprint()
OTHER_PEM = make_cert("client-b")
THUMB = b64url(digest_of(PEM))


def bound(cnf: Any) -> str:
    return jwt(cnf=cnf)


def bound_rest(token: str, pem: Any = PEM) -> Any:
    event = rest_proxy("GET", "/orders", token=token)
    if pem is not None:
        event["requestContext"]["identity"]["clientCert"] = {
            "clientCertPem": pem, "subjectDN": "CN=client-a", "issuerDN": "CN=client-a",
            "serialNumber": "01", "validity": dict(VALID),
        }  # fmt: skip
    return event


def guard_error(event: Any) -> SecAuthError | None:
    try:
        Guard(VERIFIER, decision_log=None).check(event)
    except SecAuthError as exc:
        return exc
    return None


def test_the_bound_certificate_is_accepted() -> None:
    assert certificate_thumbprint(PEM) == THUMB
    assert guard_error(bound_rest(bound({"x5t#S256": THUMB}))) is None


@pytest.mark.parametrize(
    "variant",
    [
        base64.b64encode(digest_of(PEM)).decode(),  # standard alphabet, padded
        base64.b64encode(digest_of(PEM)).decode().rstrip("="),  # standard alphabet
        THUMB + "=",  # padded base64url
        THUMB.swapcase(),
        digest_of(PEM).hex(),
        digest_of(PEM).hex().upper(),
        " " + THUMB,
        THUMB + "\n",
        b64url(
            hashlib.sha1(
                base64.b64decode(
                    "".join(ln for ln in PEM.splitlines() if not ln.startswith("-----"))
                )
            ).digest()
        ),
    ],
    ids=["std-padded", "std", "padded", "swapcase", "hex", "HEX", "lead-space", "newline", "sha1"],
)
def test_thumbprint_spelling_variants_are_refused(variant: str) -> None:
    assert variant != THUMB
    assert isinstance(guard_error(bound_rest(bound({"x5t#S256": variant}))), CertificateMismatch)


@pytest.mark.parametrize(
    "cnf",
    [
        {"x5t#S256": [THUMB]},
        {"x5t#S256": THUMB, "x5t": THUMB},
        {"X5T#S256": THUMB},
        {"x5t#s256": THUMB},
        {"x5t#S256": {"value": THUMB}},
        {"x5t#S256": ""},
        {"x5t#S256": None},
        [{"x5t#S256": THUMB}],
        THUMB,
    ],
    ids=["list", "two-members", "upper-name", "lower-name", "object", "empty", "null", "array",
         "string"],
)  # fmt: skip
def test_confirmation_shapes_secauth_cannot_check_are_refused(cnf: Any) -> None:
    assert isinstance(guard_error(bound_rest(bound(cnf))), SenderConstraintError)


def test_a_certificate_and_dpop_bound_token_is_refused_as_bearer() -> None:
    error = guard_error(bound_rest(bound({"x5t#S256": THUMB, "jkt": "a" * 43})))
    assert isinstance(error, SenderConstraintError)


@pytest.mark.parametrize("place", ["header", "query", "none", "other-cert", "garbage", "dict"])
def test_a_bound_token_without_its_certificate_is_refused(place: str) -> None:
    token = bound({"x5t#S256": THUMB})
    if place == "header":
        event = bound_rest(token, None)
        event["headers"]["X-Amzn-Mtls-Clientcert"] = urllib.parse.quote(PEM)
        event["multiValueHeaders"]["X-Amzn-Mtls-Clientcert"] = [urllib.parse.quote(PEM)]
    elif place == "query":
        event = bound_rest(token, None)
        event["queryStringParameters"] = {"clientCertPem": PEM}
    elif place == "none":
        event = bound_rest(token, None)
    elif place == "other-cert":
        event = bound_rest(token, OTHER_PEM)
    elif place == "garbage":
        event = bound_rest(
            token, "-----BEGIN CERTIFICATE-----\n" + THUMB + "\n-----END CERTIFICATE-----\n"
        )
    else:
        event = bound_rest(token, {"pem": PEM})
    assert isinstance(guard_error(event), SenderConstraintError)


def test_alb_and_http_events_with_a_certificate_header_do_not_satisfy_the_binding() -> None:
    token = bound({"x5t#S256": THUMB})
    for event in (
        alb(
            "GET",
            "/orders",
            token=token,
            headers={"x-amzn-mtls-clientcert": urllib.parse.quote(PEM)},
        ),
        http_proxy("GET", "/orders", token=token, headers={"x-amzn-mtls-clientcert": PEM}),
    ):
        assert isinstance(guard_error(event), MissingClientCertificate)


def test_the_authorizer_memo_never_reuses_a_bound_answer_for_another_certificate() -> None:
    token = bound({"x5t#S256": THUMB})
    authorizer = Authorizer(VERIFIER, routes=ROUTES, decision_log=None, api="rest")

    def event(pem: str | None) -> Any:
        built = request_authorizer("GET", "/orders", token=token)
        if pem is not None:
            built["requestContext"]["identity"]["clientCert"] = {"clientCertPem": pem}
        return built

    for _ in range(3):
        assert effects(authorizer.handler(event(PEM), None)) == {"Allow"}
    for other in (OTHER_PEM, None, PEM + PEM):
        with pytest.raises(Unauthorized):
            authorizer.handler(event(other), None)
    assert effects(authorizer.handler(event(PEM), None)) == {"Allow"}


def x509_labelled(pem: str) -> str:
    return pem.replace("BEGIN CERTIFICATE", "BEGIN X509 CERTIFICATE").replace(
        "END CERTIFICATE", "END X509 CERTIFICATE"
    )


# FINDING: PEM with X509 CERTIFICATE + CERTIFICATE blocks thumbprinted as its first
def test_a_pem_with_two_certificates_is_not_one_certificate() -> None:
    two = x509_labelled(PEM) + OTHER_PEM
    with pytest.raises(ValueError, match="not a PEM certificate"):
        certificate_thumbprint(two)
    error = guard_error(bound_rest(bound({"x5t#S256": THUMB}), two))
    assert isinstance(error, MissingClientCertificate)


# -- introspection: a scripted authorization server on loopback -----------------------------

INTRO_ISS, INTRO_AUD = "https://as.example.com", "urn:example:orders"
CLIENT_ID, CLIENT_SECRET = "orders-api", "s3cret-" + secrets.token_hex(8)


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@pytest.fixture(scope="module")
def _servers() -> Iterator[tuple[ScriptedAS, ScriptedAS]]:
    main, other = ScriptedAS(), ScriptedAS()
    try:
        yield main, other
    finally:
        main.stop()
        other.stop()


@pytest.fixture
def auth_server(_servers: tuple[ScriptedAS, ScriptedAS]) -> ScriptedAS:
    _servers[0].reset()
    _servers[1].reset()
    return _servers[0]


@pytest.fixture
def other_server(_servers: tuple[ScriptedAS, ScriptedAS]) -> ScriptedAS:
    return _servers[1]


def opaque() -> str:
    return secrets.token_urlsafe(24)


def active(now: float | None = None, **over: Any) -> dict[str, Any]:
    now = time.time() if now is None else now
    answer = {"active": True, "iss": INTRO_ISS, "aud": INTRO_AUD, "sub": "ann",
              "client_id": "web", "scope": "orders.read", "token_type": "Bearer",
              "exp": int(now) + 600, "iat": int(now) - 5}  # fmt: skip
    answer.update(over)
    return {k: v for k, v in answer.items() if v is not _DROP}


_DROP = object()


def introspector(server: ScriptedAS, **options: Any) -> IntrospectionVerifier:
    options.setdefault("client", ClientAuth.basic(CLIENT_ID, CLIENT_SECRET))
    options.setdefault("retry_after", 0)
    options.setdefault("timeout", 2.0)
    return IntrospectionVerifier(
        issuer=INTRO_ISS, audience=INTRO_AUD, endpoint=server.url, allow_http=True, **options
    )


def test_an_active_answer_is_accepted_and_the_token_travels_in_the_body(
    auth_server: ScriptedAS,
) -> None:
    token = opaque()
    auth_server.answer(token, active())
    claims = introspector(auth_server).verify(token)
    assert claims["sub"] == "ann"
    assert "active" not in claims
    sent = auth_server.requests[0]
    assert token not in sent["path"]
    assert sent["form"] == {"token": token, "token_type_hint": "access_token"}
    basic = base64.b64decode(sent["headers"]["Authorization"].split(" ", 1)[1]).decode()
    assert basic == f"{CLIENT_ID}:{CLIENT_SECRET}"


@pytest.mark.parametrize(
    "body",
    [
        {**active(), "active": "true"},
        {**active(), "active": 1},
        {**active(), "active": None},
        {k: v for k, v in active().items() if k != "active"},
        {**active(), "exp": str(int(time.time()) + 600)},
        {**active(), "exp": True},
        {**active(), "nbf": "0"},
        {**active(), "iss": 5},
        {**active(), "aud": [INTRO_AUD, 7]},
        {**active(), "aud": {"value": INTRO_AUD}},
        {**active(), "scope": ["orders.read"]},
        {**active(), "sub": 42},
        {**active(), "token_type": ["Bearer"]},
        [active()],
        b'{"active": true, "iss": "%s", "active": false}' % INTRO_ISS.encode(),
        b'{"active": false, "active": true}',
        b'{"active": true, "exp": NaN}',
        b'{"active": true, "exp": Infinity}',
        b"<html>active</html>",
        b"",
        b'\xff\xfe{"active": true}',
    ],
    ids=["active-str", "active-1", "active-null", "active-missing", "exp-str", "exp-bool",
         "nbf-str", "iss-int", "aud-mixed", "aud-object", "scope-list", "sub-int", "type-list",
         "array", "dup-active-1", "dup-active-2", "nan", "infinity", "html", "empty", "bom"],
)  # fmt: skip
def test_answers_that_are_not_rfc7662_are_a_503_never_an_allow(
    auth_server: ScriptedAS, body: Any
) -> None:
    token = opaque()
    auth_server.answer(token, body)
    verifier = introspector(auth_server)
    for _ in range(2):  # and the failure is not remembered as an answer
        with pytest.raises(KeysUnavailable) as caught:
            verifier.verify(token)
        assert caught.value.detail["source"] == "introspection"
    assert auth_server.count(token=token) == 2


@pytest.mark.parametrize(
    "over",
    [
        {"iss": "https://evil.example.com"},
        {"iss": INTRO_ISS + "/"},
        {"iss": _DROP},
        {"aud": "urn:example:other"},
        {"aud": [INTRO_AUD.upper()]},
        {"aud": _DROP},
        {"token_type": "refresh_token"},
        {"token_type": "DPoP"},
        {"token_type": "N_A"},
        {"token_type": _DROP},
        {"cnf": {"x5t#S256": THUMB}},
        {"cnf": None},
        {"exp": _DROP},
        {"exp": int(time.time()) - 1},
        {"exp": 2**60},
        {"nbf": int(time.time()) + 600},
        {"iat": int(time.time()) + 3600},
        {"active": False},
    ],
    ids=["iss-other", "iss-slash", "iss-missing", "aud-other", "aud-case", "aud-missing",
         "refresh", "dpop", "n_a", "type-missing", "cnf", "cnf-null", "exp-missing", "expired",
         "exp-huge", "nbf-future", "iat-future", "inactive"],
)  # fmt: skip
def test_answers_whose_claims_fail_are_a_401(auth_server: ScriptedAS, over: dict[str, Any]) -> None:
    token = opaque()
    auth_server.answer(token, active(**over))
    with pytest.raises(TokenError):
        introspector(auth_server).verify(token)


def test_token_type_is_compared_case_insensitively(auth_server: ScriptedAS) -> None:
    token = opaque()
    auth_server.answer(token, active(token_type="bearer"))
    assert introspector(auth_server).verify(token)["token_type"] == "bearer"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed_and_credentials_never_reach_another_origin(
    auth_server: ScriptedAS, other_server: ScriptedAS, status: int
) -> None:
    token = opaque()
    other_server.answer(token, active())
    auth_server.answer(token, b"", status, Location=other_server.url)
    for client in (
        ClientAuth.basic(CLIENT_ID, CLIENT_SECRET),
        ClientAuth.post(CLIENT_ID, CLIENT_SECRET),
    ):
        verifier = introspector(auth_server, client=client)
        with pytest.raises(KeysUnavailable):
            verifier.verify(token)

        async def run(verifier: IntrospectionVerifier = verifier) -> None:
            await verifier.verify_async(token)

        import asyncio

        with pytest.raises(KeysUnavailable):
            asyncio.run(run())
    assert other_server.count() == 0


def test_a_huge_answer_is_refused(auth_server: ScriptedAS) -> None:
    token = opaque()
    auth_server.answer(token, {**active(), "pad": "x" * (128 * 1024)})
    with pytest.raises(KeysUnavailable) as caught:
        introspector(auth_server, max_bytes=64 * 1024).verify(token)
    assert caught.value.detail["cause"]["kind"] == "too_large"


@pytest.mark.parametrize(
    ("endpoint", "allow_http"),
    [
        ("http://as.example.com/introspect", False),
        ("http://as.example.com/introspect", True),
        ("http://10.0.0.1/introspect", True),
        ("https://user:pw@as.example.com/introspect", False),
        ("ftp://as.example.com/introspect", False),
        ("http://127.0.0.1:9/introspect", False),
    ],
)
def test_endpoints_that_are_not_https_are_refused(endpoint: str, allow_http: bool) -> None:
    with pytest.raises(ConfigurationError) as caught:
        IntrospectionVerifier(issuer=INTRO_ISS, audience=INTRO_AUD, endpoint=endpoint,
                              allow_http=allow_http, client=ClientAuth.basic("a", "pw-secret"))  # fmt: skip
    assert "pw" not in str(caught.value)


@pytest.mark.parametrize("method", ["basic", "post"])
def test_the_client_secret_and_the_token_never_reach_errors_or_logs(
    auth_server: ScriptedAS, caplog: pytest.LogCaptureFixture, method: str
) -> None:
    token = opaque()
    client = getattr(ClientAuth, method)(CLIENT_ID, CLIENT_SECRET)
    echo = json.dumps({"error": f"bad {CLIENT_SECRET} {token}"}).encode()
    records: list[dict[str, Any]] = []
    guard = Guard(introspector(auth_server, client=client), on_decision=records.append,
                  decision_log=None)  # fmt: skip
    handler = guard(lambda event, context: {"statusCode": 200, "body": "ok"})
    shown: list[str] = [repr(client)]
    caplog.set_level(logging.DEBUG)
    for status, body in ((500, echo), (401, echo), (200, echo[:-1]), (200, b"x" + echo)):
        auth_server.answer(token, body, status)
        with pytest.raises(KeysUnavailable) as caught:
            introspector(auth_server, client=client).verify(token)
        shown += [str(caught.value), repr(caught.value), json.dumps(caught.value.detail)]
        response = handler(http_proxy("GET", "/orders", token=token), None)
        assert response["statusCode"] == 503
        shown.append(json.dumps(response))
    shown += [caplog.text, json.dumps(records, default=str)]
    for text in shown:
        assert CLIENT_SECRET not in text
        assert token not in text


def test_a_failing_endpoint_is_not_remembered_as_inactive(auth_server: ScriptedAS) -> None:
    token = opaque()
    verifier = introspector(auth_server)
    auth_server.answer(token, {"error": "down"}, 503)
    with pytest.raises(KeysUnavailable):
        verifier.verify(token)
    auth_server.answer(token, active())
    assert verifier.verify(token)["sub"] == "ann"


def test_a_revoked_token_is_refused_within_cache_max_ttl(auth_server: ScriptedAS) -> None:
    clock, token = Clock(time.time()), opaque()
    auth_server.answer(token, active(clock.now, exp=int(clock.now) + 3600))
    verifier = introspector(auth_server, clock=clock, cache_max_ttl=60, negative_ttl=10)
    verifier.verify(token)
    auth_server.answer(token, {"active": False})  # revoked at the server
    clock.now += 59
    assert verifier.verify(token)["sub"] == "ann"  # the documented staleness window
    assert auth_server.count(token=token) == 1
    clock.now += 1.5
    with pytest.raises(TokenError):
        verifier.verify(token)
    assert auth_server.count(token=token) == 2
    clock.now += 5
    with pytest.raises(TokenError):  # the inactive answer is remembered, not re-asked
        verifier.verify(token)
    assert auth_server.count(token=token) == 2


def test_a_cached_answer_never_outlives_the_token(auth_server: ScriptedAS) -> None:
    clock, token = Clock(time.time()), opaque()
    auth_server.answer(token, active(clock.now, exp=int(clock.now) + 30))
    verifier = introspector(auth_server, clock=clock, cache_max_ttl=300)
    verifier.verify(token)
    clock.now = int(clock.now) + 30
    with pytest.raises(TokenError):
        verifier.verify(token)


def test_padding_and_case_variants_of_a_token_are_other_tokens(auth_server: ScriptedAS) -> None:
    token = "Ab" + opaque()
    auth_server.answer(token, active())
    verifier = introspector(auth_server)
    verifier.verify(token)
    for variant in (token + "=", token + "==", token.swapcase()):
        with pytest.raises(TokenError):
            verifier.verify(variant)
    assert auth_server.count() == 4


@pytest.mark.parametrize(
    "token",
    ["a b", "abc%20", "ab\u00e9c", "=abc", "a=bc", "ab\nc", "a" * 8193, "", "ab,cd", 'a"b'],
    ids=["space", "percent", "non-ascii", "lead-eq", "mid-eq", "newline", "long", "empty",
         "comma", "quote"],
)  # fmt: skip
def test_tokens_that_are_not_b64token_make_no_call(auth_server: ScriptedAS, token: str) -> None:
    with pytest.raises(TokenError):
        introspector(auth_server).verify(token)
    assert auth_server.count() == 0


def test_concurrent_tokens_never_share_an_answer(auth_server: ScriptedAS) -> None:
    tokens = [opaque() for _ in range(8)]
    for n, token in enumerate(tokens):
        auth_server.answer(token, active(sub=f"user-{n}"))
    auth_server.delay = 0.2
    verifier = introspector(auth_server)
    results: dict[int, list[str]] = {n: [] for n in range(len(tokens))}
    barrier = threading.Barrier(len(tokens) * 3)

    def worker(n: int) -> None:
        barrier.wait()
        results[n].append(verifier.verify(tokens[n])["sub"])

    threads = [
        threading.Thread(target=worker, args=(n,)) for n in range(len(tokens)) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    for n in range(len(tokens)):
        assert results[n] == [f"user-{n}"] * 3
        assert auth_server.count(token=tokens[n]) == 1


def test_the_guard_never_answers_500_or_echoes_the_token(auth_server: ScriptedAS) -> None:
    verifier = introspector(auth_server)
    guard = Guard(verifier, decision_log=None)
    handler = guard(lambda event, context: {"statusCode": 200, "body": "ok"})
    cases = [
        (active(), 200),
        ({"active": False}, 401),
        (active(exp=2**60), 401),
        (active(iss=None), 503),
        (active(aud=[]), 401),
        (b'{"active": true, "exp": 1e999}', 503),
        (b'{"active": true, "exp": 1' + b"0" * 400 + b"}", 503),
        (b"[" * 5000 + b"]" * 5000, 503),
    ]
    for body, expected in cases:
        token = opaque()
        auth_server.answer(token, body)
        response = handler(http_proxy("GET", "/orders", token=token), None)
        assert response["statusCode"] == expected, body
        assert token not in json.dumps(response)


# FINDING: sync fetch timeout is per recv, not total: a trickling answer outlasts it
def test_the_introspection_timeout_is_a_total_deadline() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            body = json.dumps(active()).encode()
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               b"Content-Length: %d\r\n\r\n" % len(body))  # fmt: skip
            for byte in body[:40]:
                if stop.is_set():
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    verifier = IntrospectionVerifier(
        issuer=INTRO_ISS, audience=INTRO_AUD, endpoint=f"http://127.0.0.1:{port}/introspect",
        allow_http=True, timeout=0.5, client=ClientAuth.basic(CLIENT_ID, CLIENT_SECRET),
    )  # fmt: skip
    started = time.monotonic()
    try:
        with pytest.raises(KeysUnavailable):
            verifier.verify(opaque())
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join(10)
        listener.close()
    assert elapsed < 1.5, f"verify() took {elapsed:.1f} s with timeout=0.5"


def test_the_async_path_refuses_what_the_sync_path_refuses(auth_server: ScriptedAS) -> None:
    import asyncio

    bad, inactive, good = opaque(), opaque(), opaque()
    auth_server.answer(bad, {**active(), "active": "true"})
    auth_server.answer(inactive, {"active": False})
    auth_server.answer(good, active(sub="async-ann"))
    verifier = introspector(auth_server)

    async def run() -> None:
        with pytest.raises(KeysUnavailable):
            await verifier.verify_async(bad)
        with pytest.raises(TokenError):
            await verifier.verify_async(inactive)
        with pytest.raises(MalformedToken):
            await verifier.verify_async("not a token")
        assert (await verifier.verify_async(good))["sub"] == "async-ann"

    asyncio.run(run())


def test_an_introspected_token_under_an_authorizer_is_rechecked_on_memo_hits(
    auth_server: ScriptedAS,
) -> None:
    clock, token = Clock(time.time()), opaque()
    auth_server.answer(token, active(clock.now, exp=int(clock.now) + 3600))
    verifier = introspector(auth_server, clock=clock, cache_max_ttl=30)
    authorizer = Authorizer(verifier, routes=ROUTES, decision_log=None, api="rest")
    event = request_authorizer("GET", "/orders", token=token)
    assert effects(authorizer.handler(event, None)) == {"Allow"}
    assert effects(authorizer.handler(event, None)) == {"Allow"}
    auth_server.answer(token, {"active": False})
    clock.now += 31
    with pytest.raises(Unauthorized):
        authorizer.handler(event, None)


def test_basic_credentials_are_form_encoded_before_base64(auth_server: ScriptedAS) -> None:
    token, secret = opaque(), "p:ss w%rd+/="
    auth_server.answer(token, active())
    introspector(auth_server, client=ClientAuth.basic("id:with colon", secret)).verify(token)
    header = auth_server.requests[0]["headers"]["Authorization"]
    user, _, password = base64.b64decode(header.split(" ", 1)[1]).decode().partition(":")
    assert urllib.parse.unquote(user) == "id:with colon"
    assert urllib.parse.unquote(password) == secret
    assert ":" not in user
