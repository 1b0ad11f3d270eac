"""Adversarial review (23): credentials other than JWTs (API keys in the static, DynamoDB
and Secrets Manager stores; mTLS client certificates) and how secauth authenticates to
authorization servers (``ClientAuth``).

Every test asserts the secure behaviour. Tests marked ``xfail(strict=True)`` fail against
the code they were written for (a finding); the others are attacks that held, kept as
regression tests. Earlier reviews' attacks (tests/test_review5_keys_certs_introspection.py,
tests/test_credentials_*.py, tests/test_api_key_rules.py) are not repeated.

Only loopback servers are used: dynalite (the ``ddb_client`` fixture) and moto's server
(Secrets Manager) on 127.0.0.1.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
import urllib.parse
from typing import Any

import pytest
from authorizer_outcomes import outcome
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hand_clock import Clock
from moto_services import create_secret

from secauth import Authorizer
from secauth.access import Routes, authenticated
from secauth.api_keys import (
    ApiKeyEntry,
    StaticApiKeys,
    hash_api_key,
    is_key_digest,
    rate_limit_problem,
)
from secauth.client_auth import ClientAuth
from secauth.client_certs import ClientCertEntry, ClientCertificates
from secauth.dynamodb_api_keys import DynamoDBApiKeys
from secauth.errors import ConfigurationError, KeysUnavailable, SecAuthError
from secauth.policy import Unauthorized
from secauth.secretsmanager_api_keys import SecretsManagerApiKeys
from secauth.testing_events import request_authorizer

KEY_A = "pk-review23-" + "a" * 24
KEY_B = "pk-review23-" + "b" * 24
ROUTES = Routes({"GET /orders": authenticated()})
HUGE_LIMIT = "9" * 5000 + "/minute"  # a count past Python's int-from-text digit limit


def static_keys() -> StaticApiKeys:
    return StaticApiKeys(
        {
            hash_api_key(KEY_A): ApiKeyEntry("partner-a", roles=("reader",)),
            hash_api_key(KEY_B): ApiKeyEntry("partner-b", roles=("reader",)),
        }
    )


def key_authorizer(keys: Any = None) -> Authorizer:
    return Authorizer(
        api_keys=keys if keys is not None else static_keys(),
        routes=ROUTES,
        decision_log=None,
        api="rest",
    )


# -- API keys: where a key may be presented ---------------------------------------------------


def test_a_key_given_only_in_multi_value_headers_counts_and_twice_there_is_ambiguous() -> None:
    authorizer = key_authorizer()
    once = request_authorizer("GET", "/orders", headers={"x-api-key": KEY_A})
    once["headers"] = None  # only the multi-value map carries headers
    assert outcome(authorizer, once) == "partner-a"
    twice = request_authorizer("GET", "/orders")
    twice["headers"] = None
    twice["multiValueHeaders"] = {"x-api-key": [KEY_A, KEY_B]}
    assert outcome(authorizer, twice) == "401"
    # The same name in two spellings is the same header given twice.
    spelled = request_authorizer("GET", "/orders")
    spelled["headers"] = None
    spelled["multiValueHeaders"] = {"X-Api-Key": [KEY_B], "x-api-key": [KEY_A]}
    assert outcome(authorizer, spelled) == "401"


def test_header_name_case_variants_in_the_single_value_map_are_ambiguous() -> None:
    event = request_authorizer("GET", "/orders")
    event["multiValueHeaders"] = None
    event["headers"] = {"X-API-KEY": KEY_B, "x-api-key": KEY_A}
    assert outcome(key_authorizer(), event) == "401"


@pytest.mark.parametrize("name", ["x-api-key", "api_key", "apiKey"])
def test_a_key_in_the_query_string_is_never_read(name: str) -> None:
    event = request_authorizer("GET", "/orders", query={name: KEY_A})
    assert outcome(key_authorizer(), event) == "401"


# -- API keys: what counts as a key digest ----------------------------------------------------

# 64 characters that int(text, 16) reads as a number, none of them a SHA-256 hex digest:
# a plain API key of such a shape must be refused where only digests are accepted.
NOT_DIGESTS = [
    "0x" + "a1" * 31,  # a "0x"-prefixed hex key
    " " + "a1" * 31 + "a",  # a space (int() strips whitespace)
    "a1b2_" * 12 + "a1b2",  # underscores between digits
    "+" + "a1" * 31 + "a",  # a sign
    "\uff11" * 64,  # full-width digit one
    "\u0661" * 64,  # Arabic-Indic digit one
]


@pytest.mark.parametrize(
    "text", NOT_DIGESTS, ids=["0x", "space", "underscore", "sign", "fullwidth", "arabic"]
)
def test_only_64_ascii_hex_characters_name_a_key(text: str) -> None:
    assert len(text) == 64
    assert not is_key_digest(text)
    with pytest.raises(ConfigurationError):
        StaticApiKeys({text: ApiKeyEntry("partner-a")})


def test_static_keys_refuse_one_hash_listed_twice() -> None:
    # The Secrets Manager store refuses a hash listed twice (in any case); a static map that
    # lists it twice silently keeps the last entry and its grants.
    digest = hash_api_key(KEY_A)
    with pytest.raises(ConfigurationError):
        StaticApiKeys(
            {
                digest: ApiKeyEntry("partner-a", roles=("reader",)),
                digest.upper(): ApiKeyEntry("partner-a", roles=("admin",)),
            }
        )


# -- API keys: entries whose rate limit the parser cannot read --------------------------------


def test_a_rate_limit_with_a_huge_count_is_a_configuration_error() -> None:
    assert isinstance(rate_limit_problem(HUGE_LIMIT), str)
    with pytest.raises(ConfigurationError):
        ApiKeyEntry("partner-a", rate_limit=HUGE_LIMIT)


_tables = itertools.count()


def key_table(client: Any) -> str:
    name = f"secauth-review23-keys-{next(_tables)}"
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "key_hash", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "key_hash", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.05})
    return name


def dynamo_store(client: Any, table: str, clock: Clock) -> DynamoDBApiKeys:
    return DynamoDBApiKeys(
        table, client=client, clock=clock, wall_clock=clock, cache_ttl=60, negative_cache_ttl=10
    )


def test_dynamodb_item_with_a_huge_rate_limit_fails_closed_as_keys_unavailable(
    ddb_client: Any,
) -> None:
    table = key_table(ddb_client)
    item = DynamoDBApiKeys.item(KEY_A, ApiKeyEntry("partner-a"))
    ddb_client.put_item(TableName=table, Item={**item, "rate_limit": {"S": HUGE_LIMIT}})
    store = dynamo_store(ddb_client, table, Clock(time.time()))
    with pytest.raises(KeysUnavailable) as caught:
        store.lookup(KEY_A)
    assert caught.value.detail["attribute"] == "rate_limit"


@pytest.mark.parametrize("attribute", ["Disabled", "DISABLED", "Expires_At"])
def test_dynamodb_a_misspelt_revocation_attribute_does_not_leave_the_key_working(
    ddb_client: Any, attribute: str
) -> None:
    # As in the Secrets Manager store ("a misspelt disabled must not leave a key working"):
    # an attribute that is a known one in another case is refused, not ignored.
    table = key_table(ddb_client)
    clock = Clock(time.time())
    item = DynamoDBApiKeys.item(KEY_A, ApiKeyEntry("partner-a"))
    value = {"BOOL": True} if attribute.lower() == "disabled" else {"N": str(int(clock.now) - 60)}
    ddb_client.put_item(TableName=table, Item={**item, attribute: value})
    store = dynamo_store(ddb_client, table, clock)
    try:
        found = store.lookup(KEY_A)
    except KeysUnavailable:
        return
    assert found is None


def test_dynamodb_cached_answers_are_per_exact_key(ddb_client: Any) -> None:
    """A cached Allow for one key never answers a near spelling of it, and a cached miss for
    a near spelling never hides the key (cache keyed by the exact key's hash)."""
    table = key_table(ddb_client)
    ddb_client.put_item(TableName=table, Item=DynamoDBApiKeys.item(KEY_A, ApiKeyEntry("partner-a")))
    store = dynamo_store(ddb_client, table, Clock(time.time()))
    near = [KEY_A.upper(), KEY_A + " ", " " + KEY_A, KEY_A[:-1], KEY_A + "\x00", KEY_A[:-1] + "A"]
    for spelling in near:
        assert store.lookup(spelling) is None
    assert store.lookup(KEY_A) is not None
    for spelling in near:
        assert store.lookup(spelling) is None
    authorizer = key_authorizer(store)
    assert (
        outcome(authorizer, request_authorizer("GET", "/orders", headers={"x-api-key": KEY_A}))
        == "partner-a"
    )
    for spelling in (KEY_A.upper(), KEY_A[:-1] + "A"):
        event = request_authorizer("GET", "/orders", headers={"x-api-key": spelling})
        assert outcome(authorizer, event) == "401"


# -- Secrets Manager (moto's server on loopback, behind Powertools) ---------------------------



def test_secretsmanager_entry_with_a_huge_rate_limit_fails_closed_on_every_lookup(
    secrets_manager: Any,
) -> None:
    secret = create_secret(
        secrets_manager,
        json.dumps({hash_api_key(KEY_A): {"principal_id": "partner-a", "rate_limit": HUGE_LIMIT}}),
    )
    store = SecretsManagerApiKeys(secret, client=secrets_manager, max_age=60)
    for _ in range(2):  # the malformed secret is a failure each time, never "no such key"
        with pytest.raises(KeysUnavailable) as caught:
            store.lookup(KEY_A)
        assert caught.value.detail["field"] == "rate_limit"


def test_secretsmanager_secret_naming_a_key_by_something_else_than_its_digest_is_malformed(
    secrets_manager: Any,
) -> None:
    # "plain keys make the whole secret malformed": a plain key that int(x, 16) can read
    # must be too, or the secret loads with the key in clear and the key silently dead.
    plain = "0x" + "a1" * 31
    secret = create_secret(secrets_manager, json.dumps({plain: {"principal_id": "partner-a"}}))
    store = SecretsManagerApiKeys(secret, client=secrets_manager, max_age=0)
    with pytest.raises(KeysUnavailable):
        store.lookup(plain)


def test_secretsmanager_errors_name_the_field_never_the_secret(secrets_manager: Any) -> None:
    """A malformed entry fails closed with the field's name; neither the entry's values nor
    the hash reach the error or the authorizer's decision record."""
    digest = hash_api_key(KEY_A)
    secret = create_secret(
        secrets_manager,
        json.dumps({digest: {"principal_id": "partner-secret-name", "roles": "admin-secret-role"}}),
    )
    records: list[dict[str, Any]] = []
    store = SecretsManagerApiKeys(secret, client=secrets_manager, max_age=0)
    authorizer = Authorizer(
        api_keys=store, routes=ROUTES, on_decision=records.append, decision_log=None, api="rest"
    )
    event = request_authorizer("GET", "/orders", headers={"x-api-key": KEY_A})
    with pytest.raises(Unauthorized):
        authorizer.handler(event, None)
    with pytest.raises(KeysUnavailable) as caught:
        store.lookup(KEY_A)
    shown = json.dumps(records, default=str) + json.dumps(caught.value.detail) + str(caught.value)
    for secret_part in (digest, "partner-secret-name", "admin-secret-role", KEY_A):
        assert secret_part not in shown
    assert records[-1]["reason"] == "keys_unavailable"


# -- mTLS client certificates ---------------------------------------------------------------

SUBJECT, ISSUER = "CN=partner-a,O=Partner A", "CN=Example CA"
VALID = {"notBefore": "May 28 12:30:02 2024 GMT", "notAfter": "Aug  5 09:36:04 2099 GMT"}


def cert(**over: Any) -> dict[str, Any]:
    block: dict[str, Any] = {
        "subjectDN": SUBJECT,
        "issuerDN": ISSUER,
        "serialNumber": "0A:1B",
        "validity": dict(VALID),
    }
    block.update(over)
    return block


def cert_event(block: dict[str, Any]) -> dict[str, Any]:
    event = request_authorizer("GET", "/orders")
    event["requestContext"]["identity"]["clientCert"] = block
    return event


@pytest.mark.parametrize(
    "subject",
    [
        "CN=partner-a",  # a prefix of the allowed DN
        "O=Partner A",  # a suffix
        SUBJECT + ",C=US",  # one more RDN
        "CN=x," + SUBJECT,  # one more RDN in front
        "CN=partner-a\\,O=Partner A",  # the comma escaped: one CN holding it
        "CN=partner-a+O=Partner A",  # a multi-valued RDN
        SUBJECT + ",",
        SUBJECT + "\x00",
        "CN=partner-a,O=Partner\u00a0A",
        "CN=partner-a,O=Partner  A",
    ],
)
def test_a_dn_near_an_allowed_one_is_refused(subject: str) -> None:
    certs = ClientCertificates({SUBJECT: ClientCertEntry("partner-a", issuer_dn=ISSUER)})
    authorizer = Authorizer(routes=ROUTES, client_certs=certs, decision_log=None, api="rest")
    assert outcome(authorizer, cert_event(cert())) == "partner-a"
    assert outcome(authorizer, cert_event(cert(subjectDN=subject))) == "401"


def test_validity_bounds_are_inclusive_and_nothing_outside_passes() -> None:
    import calendar

    not_before = float(calendar.timegm((2024, 5, 28, 12, 30, 2, 0, 0, 0)))
    not_after = float(calendar.timegm((2099, 8, 5, 9, 36, 4, 0, 0, 0)))
    clock = Clock(not_before)
    certs = ClientCertificates({SUBJECT: ClientCertEntry("partner-a")}, clock=clock)
    for now, accepted in (
        (not_before - 1, False),
        (not_before, True),
        (not_after, True),
        (not_after + 1, False),
    ):
        clock.now = now
        if accepted:
            assert certs.principal(cert()).id == "partner-a"
        else:
            with pytest.raises(SecAuthError):
                certs.principal(cert())


@pytest.mark.parametrize("serial", ["A", "1B", "0", ""])
def test_a_serial_allowlist_written_as_one_string_never_matches_a_substring(serial: str) -> None:
    # serial_numbers=("0A:1B") is a str (a missing trailing comma): `in` then matches any
    # substring, so other certificates of the subject pass. It must be refused when the
    # allowlist is built, or compared as one whole serial.
    try:
        certs = ClientCertificates(
            {SUBJECT: ClientCertEntry("partner-a", serial_numbers=("0A:1B"))}
        )
    except ConfigurationError:
        return
    with pytest.raises(SecAuthError):
        certs.principal(cert(serialNumber=serial))


# -- ClientAuth: how secauth authenticates to the authorization server -----------------------


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [
        ("orders-api", "s\u00e9cr\u00e8t-\u00fcber-\u5bc6"),  # non-ASCII
        ("id:with:colons", "a+b c:d%e&f=g/h~i*j'k"),
        ("\u00e9t\u00e9", ":::"),
    ],
)
def test_basic_credentials_survive_form_decoding_and_stay_ascii(
    client_id: str, secret: str
) -> None:
    """RFC 6749 2.3.1: form-urlencode id and secret, then base64: a server that form-decodes
    (``+`` is a space) gets exactly the id and secret back, and the header is ASCII."""
    headers, form = ClientAuth.basic(client_id, secret).credentials(audience="https://idp/")
    assert form == {}
    scheme, _, encoded = headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    pair = base64.b64decode(encoded, validate=True).decode("ascii")
    user, colon, password = pair.partition(":")
    assert colon == ":"
    assert ":" not in user
    assert ":" not in password
    assert urllib.parse.unquote_plus(user) == client_id
    assert urllib.parse.unquote_plus(password) == secret


def _claims_of(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def part(segment: str) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(
            base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        )
        return decoded

    header, payload, _ = assertion.split(".")
    return part(header), part(payload)


def _verify(public: Any, alg: str, assertion: str) -> None:
    signing_input, _, signature = assertion.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    data = signing_input.encode()
    if alg == "EdDSA":
        public.verify(raw, data)
    elif alg == "ES256":
        half = len(raw) // 2
        der = encode_dss_signature(
            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        )
        public.verify(der, data, ec.ECDSA(hashes.SHA256()))
    elif alg == "PS256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        public.verify(raw, data, pss, hashes.SHA256())
    else:
        raise AssertionError(alg)


@pytest.mark.parametrize(
    ("key", "alg"),
    [
        (ec.generate_private_key(ec.SECP256R1()), None),
        (ed25519.Ed25519PrivateKey.generate(), None),
        (rsa.generate_private_key(public_exponent=65537, key_size=2048), "PS256"),
    ],
    ids=["es256", "eddsa", "ps256"],
)
def test_private_key_jwt_assertions_are_signed_short_lived_and_single_use(
    key: Any, alg: str | None
) -> None:
    clock = Clock(1_700_000_000.7)
    auth = ClientAuth(
        "private_key_jwt", "app-1", key=key, alg=alg, kid="k1", lifetime=30, clock=clock
    )
    audience = "https://idp.example.com/"
    seen: set[str] = set()
    for _ in range(3):
        headers, form = auth.credentials(audience=audience)
        assert headers == {}
        assert form["client_id"] == "app-1"
        assert (
            form["client_assertion_type"]
            == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        )
        header, claims = _claims_of(form["client_assertion"])
        assert header["alg"] == auth.alg
        assert header["kid"] == "k1"
        assert header["alg"] in ("ES256", "EdDSA", "PS256")
        _verify(key.public_key(), header["alg"], form["client_assertion"])
        assert claims["iss"] == claims["sub"] == "app-1"
        assert claims["aud"] == audience
        assert claims["iat"] == 1_700_000_000
        assert 0 < claims["exp"] - claims["iat"] <= 30
        assert isinstance(claims["jti"], str)
        assert len(claims["jti"]) >= 16
        assert claims["jti"] not in seen
        seen.add(claims["jti"])
    shown = repr(auth) + str(auth) + f"{auth}"
    assert repr(key) not in shown
    assert "PRIVATE KEY" not in shown


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_the_client_secret_is_in_no_repr_str_or_configuration_error(method: str) -> None:
    secret = "s3cret-" + "q" * 24
    auth = ClientAuth(method, "orders-api", secret=secret)  # type: ignore[arg-type]
    assert secret not in repr(auth) + str(auth) + f"{auth!r}{auth!s}"
    for bad in ({"lifetime": 0}, {"lifetime": 601}, {"lifetime": float("nan")}):
        with pytest.raises(ConfigurationError) as caught:
            ClientAuth(method, "orders-api", secret=secret, **bad)  # type: ignore[arg-type]
        assert secret not in str(caught.value) + repr(caught.value.detail)
    with pytest.raises(ConfigurationError) as wrong:
        ClientAuth("client_secret_jwt", "orders-api", secret=secret)  # type: ignore[arg-type]
    assert secret not in str(wrong.value)
