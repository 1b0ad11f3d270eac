"""Review 24: an adversarial look at review 23's fixes (f3b8c30, 4c9f760, 422f44e): the
overlong method ARN refused as ``bad_request``, request bodies (``isBase64Encoded``, one
UTF-8 ``Content-Type``), RFC 9728 resource URIs and verifier audiences, and the API key and
client certificate checks.

Tests marked ``xfail(strict=True)`` assert the correct behaviour of a finding (they fail
today); unmarked tests are attacks that held, kept as regression tests. Only real objects,
real Lambda event dicts and dynalite on loopback (the ``ddb_client`` fixture) are used.
"""

from __future__ import annotations

import itertools
import time
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import pytest
from hand_clock import Clock

from secauth import Authorizer, Guard, JwtVerifier, Routes, authenticated, public, roles
from secauth.api_keys import ApiKeyEntry, rate_limit_problem
from secauth.client_certs import ClientCertEntry, ClientCertificates
from secauth.dynamodb_api_keys import DynamoDBApiKeys
from secauth.errors import ConfigurationError, KeysUnavailable, UnsupportedMediaType
from secauth.events import header_values
from secauth.hygiene import json_body
from secauth.multi_issuer import MultiIssuerVerifier
from secauth.policy import MAX_RESOURCE_ARN_CHARS, Unauthorized
from secauth.protected_resource import ProtectedResource
from secauth.ratelimit.limit import Limit
from secauth.testing import KeyPair
from secauth.testing_events import (
    alb,
    function_url,
    http_authorizer_v2,
    http_proxy,
    iam_allows,
    rest_proxy,
    token_authorizer,
)

ISS, AUD = "https://idp.review24.test/", "api"
PAIR = KeyPair.generate("ES256", kid="k1")
JWKS = {"keys": [PAIR.public_jwk]}
ARN_ROUTES = Routes({"DELETE /{proxy+}": roles("admin"), "GET /{proxy+}": authenticated()})
LONG = "/" + "a" * 600  # a method ARN of about 660 characters
AS = "https://auth.example.com"
RESOURCE = "https://mcp.example.com/mcp"


def _token(**claims: Any) -> str:
    return PAIR.sign({"iss": ISS, "aud": AUD, "sub": "ann", "exp": 4_000_000_000, **claims})


def _authorizer(records: list[dict[str, Any]], **options: Any) -> Authorizer:
    verifier = JwtVerifier(issuer=ISS, audience=AUD, jwks=JWKS)
    return Authorizer(
        verifier, routes=ARN_ROUTES, decision_log=None, on_decision=records.append, **options
    )


# == f3b8c30: an overlong method ARN ==============================================================


def _path_of_arn_length(length: int) -> str:
    """A path of non-ASCII letters (2 UTF-8 bytes each) giving a method ARN of ``length``
    characters."""
    head = len(token_authorizer("GET", "/", token="x")["methodArn"])
    return "/" + "\u00e9" * (length - head)


@pytest.mark.parametrize("cache_ttl", [0, 300])
def test_the_512_character_limit_counts_characters_not_bytes(cache_ttl: int) -> None:
    records: list[dict[str, Any]] = []
    authorizer = _authorizer(records, cache_ttl=cache_ttl)
    fits = token_authorizer("GET", _path_of_arn_length(MAX_RESOURCE_ARN_CHARS), token=_token())
    assert len(fits["methodArn"]) == MAX_RESOURCE_ARN_CHARS
    assert len(fits["methodArn"].encode()) > MAX_RESOURCE_ARN_CHARS + 400
    allowed = authorizer.handler(fits, None)
    assert iam_allows(allowed["policyDocument"], fits["methodArn"])
    over = token_authorizer("GET", _path_of_arn_length(MAX_RESOURCE_ARN_CHARS + 1), token=_token())
    if cache_ttl:  # a cached plan covers it with a pattern: answered
        assert iam_allows(authorizer.handler(over, None)["policyDocument"], over["methodArn"])
    else:
        with pytest.raises(Unauthorized):
            authorizer.handler(over, None)
        assert records[-1]["reason"] == "bad_request"


def test_an_overlong_path_needs_no_arn_in_a_simple_response() -> None:
    records: list[dict[str, Any]] = []
    authorizer = _authorizer(records, simple_responses=True, api="http")
    allowed = authorizer.handler(http_authorizer_v2("GET", LONG, token=_token()), None)
    assert allowed["isAuthorized"] is True
    denied = authorizer.handler(http_authorizer_v2("DELETE", LONG, token=_token()), None)
    assert denied["isAuthorized"] is False
    assert records[-1]["reason"] == "forbidden"


# == 4c9f760: request bodies ======================================================================


def _echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    data = json_body(event, fields={"v": str})
    return {"statusCode": 200, "body": data["v"]}


def _json_guard() -> Guard:
    return Guard(
        routes=Routes({"POST /x": public()}), content_types=["application/json"], decision_log=None
    )


@pytest.mark.parametrize("build", [http_proxy, function_url])
def test_a_repeated_content_type_joined_by_the_platform_is_refused(build: Any) -> None:
    """HTTP APIs and Function URLs join a repeated header with commas. ``check_body`` and
    ``_media_type`` split only on ';', so when the first copy carries a parameter the
    joined value reads as the first media type: the Guard's ``content_types`` takes
    ``application/json; charset=utf-8`` + ``text/plain`` and json_body takes
    ``application/json; v=1`` + ``text/plain``, though both promise to refuse a repeated
    Content-Type (as they do on REST and ALB events, and on these kinds without a
    parameter)."""
    guarded = build(
        "POST", "/x", body='{"v": "a"}',
        headers={"Content-Type": ["application/json; charset=utf-8", "text/plain"]},
    )  # fmt: skip
    assert (
        _json_guard()(lambda event, context: {"statusCode": 200})(guarded, None)["statusCode"]
        == 415
    )
    parsed = build(
        "POST", "/x", body='{"v": "a"}', headers={"Content-Type": ["application/json; v=1", "text/plain"]}
    )  # fmt: skip
    with pytest.raises(UnsupportedMediaType):
        json_body(parsed, fields={"v": str})


BUILDERS = {
    "rest": rest_proxy,
    "http": http_proxy,
    "function_url": function_url,
    "alb": alb,
    "alb_multi": partial(alb, multi_value=True),
}


@pytest.mark.parametrize("kind", sorted(BUILDERS))
@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON", "application/json; charset=utf-8",
     'application/json;charset="UTF-8"', "application/json ; charset = UTF8",
     "application/json; Charset=Utf-8", "application/json;", "application/json\t;charset=utf-8;"],
)  # fmt: skip
def test_legitimate_content_types_pass_the_guard_and_json_body(
    kind: str, content_type: str
) -> None:
    """REST events carry the header in both maps, ALB in one or the other: each is one
    Content-Type, and every usual spelling of a UTF-8 JSON one is accepted by both."""
    event = BUILDERS[kind]("POST", "/x", body='{"v": "ok"}', headers={"Content-Type": content_type})
    response = _json_guard()(_echo)(event, None)
    assert (response["statusCode"], response["body"]) == (200, "ok")


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_an_event_without_the_base64_flag_is_read_as_text(kind: str) -> None:
    """A direct invoke (or a test harness) that leaves ``isBase64Encoded`` out: the new
    boolean check does not refuse it, and the body is text."""
    event = BUILDERS[kind](
        "POST", "/x", body='{"v": "ok"}', headers={"Content-Type": "application/json"}
    )
    event.pop("isBase64Encoded", None)
    response = _json_guard()(_echo)(event, None)
    assert (response["statusCode"], response["body"]) == (200, "ok")


def test_a_get_with_a_body_is_not_refused_for_its_media_type() -> None:
    guard = Guard(
        routes=Routes({"GET /x": public()}), content_types=["application/json"], decision_log=None
    )
    event = rest_proxy("GET", "/x", body="q=1", headers={"Content-Type": "text/plain"})
    assert guard(lambda event, context: {"statusCode": 200})(event, None)["statusCode"] == 200


def test_header_values_reads_each_kind_as_the_platform_sent_it() -> None:
    rest = rest_proxy("POST", "/x", body="{}", headers={"Content-Type": ["a", "b"]})
    assert header_values(rest, "CONTENT-TYPE") == ("a", "b")
    http = http_proxy("POST", "/x", body="{}", headers={"Content-Type": ["a", "b"]})
    assert header_values(http, "content-type") == ("a,b",)
    assert header_values({"headers": None, "multiValueHeaders": None}, "content-type") == ()
    odd = {
        "multiValueHeaders": {"Content-Type": "a", "X": [1, None]},
        "headers": {"content-type": "c"},
    }
    assert header_values(odd, "content-type") == ("c",)  # a non-list multi value is skipped


# == 4c9f760: RFC 9728 resource URIs and verifiers ================================================


@pytest.mark.parametrize(
    "resource",
    ["https://mcp.example.com:443/mcp", "https://mcp.example.com:/mcp",
     "https://mcp.example.com:0443/mcp", "https://[2001:db8:0:0::1]/mcp",
     "https://mcp%2eexample.com/mcp", "https://b%c3%bccher.example/mcp", "https://[::1]x/mcp"],
)  # fmt: skip
def test_resource_forms_clients_rewrite_are_refused(resource: str) -> None:
    """Review 23 refused dot segments because clients normalise them, so the metadata URL
    and the audience they derive differ from ours. URL parsers (WHATWG, RFC 3986 section
    6.2.3) also drop a default or empty port, read ``0443`` as 443, compress an IPv6
    address and percent-decode a host (``b%c3%bccher.example`` is ``bücher.example``, the
    non-ASCII host the new rule refuses, in another spelling); ``[::1]x`` is no URL at
    all. ``Cors`` already refuses these origin forms."""
    with pytest.raises(ConfigurationError):
        ProtectedResource(resource=resource, authorization_servers=[AS])


@pytest.mark.parametrize(
    "resource",
    ["https://xn--bcher-kva.example/mcp", "https://[2001:db8::1]/mcp", "https://mcp.example.com/",
     "https://mcp.example.com:8443/mcp", "https://mcp.example.com/a%2f../b"],
)  # fmt: skip
def test_canonical_resources_are_accepted(resource: str) -> None:
    pr = ProtectedResource(resource=resource, authorization_servers=[AS])
    parts = urlsplit(resource)
    well_known = f"{parts.scheme}://{parts.netloc}/.well-known/oauth-protected-resource"
    assert pr.metadata_url == well_known + parts.path.rstrip("/")


@pytest.mark.parametrize(
    "resource",
    ["https://h.example/a/.%2E/b", "https://h.example/a/%2E./b", "https://h.example/a/.%2e"],
)
def test_mixed_encoded_dot_segments_are_refused(resource: str) -> None:
    with pytest.raises(ConfigurationError):
        ProtectedResource(resource=resource, authorization_servers=[AS])


def test_multi_issuer_verifiers_of_the_resource_alone() -> None:
    pr = ProtectedResource(resource=RESOURCE, authorization_servers=[AS])
    other = KeyPair.generate("ES256", kid="k2")
    ok = MultiIssuerVerifier(
        [pr.verifier(issuer=AS, jwks=JWKS),
         pr.verifier(issuer="https://auth2.example.com", jwks={"keys": [other.public_jwk]})]
    )  # fmt: skip
    pr.check_verifier(ok)
    Guard(ok, protected_resource=pr, decision_log=None)
    wide = MultiIssuerVerifier(
        [pr.verifier(issuer=AS, jwks=JWKS),
         JwtVerifier(issuer="https://auth2.example.com", audience=[RESOURCE, "other"],
                     jwks={"keys": [other.public_jwk]})]
    )  # fmt: skip
    with pytest.raises(ConfigurationError):
        Guard(wide, protected_resource=pr, decision_log=None)


# == 422f44e: rate limits, client certificates, DynamoDB items ====================================


def test_a_rate_limit_is_bounded_in_length() -> None:
    """Review 23 bounded a rate limit's digits because a stored item's limit could break
    every lookup; its whitespace stayed unbounded, and ``_PATTERN``'s adjacent ``\\s*``,
    ``\\s+per\\s+``, ``\\s*`` backtrack cubically on a limit that fails to match:
    ``rate_limit_problem("1 per" + " " * 1000)`` took 7.8 s here and ``" " * 4000``
    497 s. One DynamoDB item (or one entry of the Secrets Manager secret, parsed for every
    key) with such a limit holds every lookup past the Lambda timeout instead of failing
    closed. A rate limit is a few words: refuse long ones before matching (this valid but
    padded one is answered fast today, so the test runs fast)."""
    padded = "1 per" + " " * 2000 + "minute"
    assert rate_limit_problem(padded) is not None
    with pytest.raises(ConfigurationError):
        ApiKeyEntry("partner-a", rate_limit=padded)


@pytest.mark.parametrize(
    ("text", "count"),
    [("0018/minute", 18), ("000000000000000005/s", 5), ("1/000000000000000060s", 1)],
)
def test_leading_zeros_within_18_digits_still_parse(text: str, count: int) -> None:
    assert Limit.parse(text).count == count


@pytest.mark.parametrize(
    "text", ["9" * 18 + "/minute", "9" * 19 + "/minute", "1/" + "9" * 18 + "s", "0" * 19 + "1/s"]
)
def test_long_counts_are_configuration_errors_never_value_errors(text: str) -> None:
    assert isinstance(rate_limit_problem(text), str)
    with pytest.raises(ConfigurationError):
        ApiKeyEntry("partner-a", rate_limit=text)


class _Entry(ClientCertEntry):
    """A subclass of the allowlist entry (as an application may write)."""


def test_client_cert_entries_built_any_usual_way_are_accepted() -> None:
    base = ClientCertEntry("partner-a", issuer_dn="CN=CA", serial_numbers=("0A",))
    certs = ClientCertificates(
        {
            "CN=a": base,
            "CN=b": base._replace(principal_id="partner-b", serial_numbers=["0B", "0C"]),
            "CN=c": _Entry("partner-c", roles=["reader"]),
        }
    )
    cert = {"subjectDN": "CN=b", "issuerDN": "CN=CA", "serialNumber": "0C",
            "validity": {"notBefore": "May 28 12:30:02 2019 GMT",
                         "notAfter": "Aug  5 09:36:04 2099 GMT"}}  # fmt: skip
    assert certs.principal(cert).id == "partner-b"
    with pytest.raises(ConfigurationError):
        ClientCertificates({"CN=a": base._replace(serial_numbers="0A")})


_tables = itertools.count()


def _key_table(client: Any) -> str:
    name = f"secauth-review24-keys-{next(_tables)}"
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "key_hash", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "key_hash", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.05})
    return name


KEY = "pk-review24-" + "a" * 24


def _lookup(client: Any, extra: dict[str, Any], clock: Clock) -> ApiKeyEntry | None:
    table = _key_table(client)
    item = DynamoDBApiKeys.item(KEY, ApiKeyEntry("partner-a"))
    client.put_item(TableName=table, Item={**item, **extra})
    store = DynamoDBApiKeys(table, client=client, clock=clock, wall_clock=clock)
    return store.lookup(KEY)


@pytest.mark.parametrize("attribute", ["disabled ", "Disabled ", "expires at", "Expires At"])
def test_dynamodb_a_field_misspelt_with_a_space_does_not_leave_the_key_working(
    ddb_client: Any, attribute: str
) -> None:
    """``_folded`` drops only case, '_' and '-': ``"disabled "`` (a trailing space typed in
    the console) or ``"Expires At"`` leaves a revoked or expired key working, the case
    review 23 meant to close ("a misspelt disabled must not leave a key working")."""
    clock = Clock(time.time())
    value = {"BOOL": True} if "isabled" in attribute else {"N": str(int(clock.now) - 60)}
    try:
        found = _lookup(ddb_client, {attribute: value}, clock)
    except KeysUnavailable:
        return
    assert found is None


@pytest.mark.parametrize("attribute", ["planned", "owner", "created_at", "disabled_by", "notes"])
def test_dynamodb_attributes_of_your_own_are_kept(ddb_client: Any, attribute: str) -> None:
    found = _lookup(ddb_client, {attribute: {"S": "x"}}, Clock(time.time()))
    assert found is not None
    assert found.principal_id == "partner-a"
