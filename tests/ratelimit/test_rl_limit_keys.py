"""Limit strings and objects; key functions and client-IP extraction from every event kind."""

from __future__ import annotations

from typing import Any

import pytest

from secauth.errors import ConfigurationError, Forbidden, Reason
from secauth.events import EventKind, Request
from secauth.principal import Principal
from secauth.ratelimit import ApiKey, ClientIp, Limit, by_principal, by_tenant, normalize_ip
from secauth.ratelimit.keys import safe_key

# --- Limit ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count", "period"),
    [
        ("100/minute", 100, 60.0),
        ("5/10s", 5, 10.0),
        ("10/second", 10, 1.0),
        ("1000/hour", 1000, 3600.0),
        ("50/day", 50, 86400.0),
        ("10 per 2 minutes", 10, 120.0),
        (" 7 / 3 HOURS ", 7, 10800.0),
        ("3/d", 3, 86400.0),
        ("20/10min", 20, 600.0),
    ],
)
def test_limit_strings_parse(text: str, count: int, period: float) -> None:
    """Every documented spelling gives the count and the period in seconds."""
    limit = Limit.parse(text)
    assert (limit.count, limit.period, limit.burst) == (count, period, count)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "write '<count>/<period>'"),
        ("100", "write '<count>/<period>'"),
        ("100/", "write '<count>/<period>'"),
        ("abc/minute", "write '<count>/<period>'"),
        ("-1/minute", "write '<count>/<period>'"),
        ("1.5/minute", "write '<count>/<period>'"),
        ("0/minute", "the count must be at least 1"),
        ("10/0s", "the period must be at least 1"),
        ("10/fortnight", "unknown time unit 'fortnight'"),
        ("10/ms", "unknown time unit 'ms'"),
        ("10/400days", "between 0.001 s and one year"),
    ],
)
def test_bad_limit_strings_say_what_to_write(text: str, message: str) -> None:
    """A bad string is a ConfigurationError naming the string and the fix."""
    with pytest.raises(ConfigurationError) as exc:
        Limit.parse(text)
    assert exc.value.reason is Reason.CONFIGURATION_ERROR
    assert message in str(exc.value)
    assert repr(text) in str(exc.value)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Limit(0, 1),
        lambda: Limit(True, 1),
        lambda: Limit(1.5, 1),  # type: ignore[arg-type]
        lambda: Limit(1, 0),
        lambda: Limit(1, "60"),  # type: ignore[arg-type]
        lambda: Limit(1, 0.0001),
        lambda: Limit(1, 1, burst=0),
        lambda: Limit.throttle(0, burst=5),
        lambda: Limit.parse(100),  # type: ignore[arg-type]
    ],
)
def test_bad_limit_objects_are_configuration_errors(build: Any) -> None:
    """Wrong types and out-of-range numbers fail at construction."""
    with pytest.raises(ConfigurationError):
        build()


def test_limit_objects_and_throttle() -> None:
    """Limit(count, period, burst) and Limit.throttle(rate, burst) as API Gateway specifies."""
    assert Limit(100, 60) == Limit.parse("100/minute")
    limit = Limit.throttle(50, burst=100)
    assert (limit.interval_us, limit.burst, limit.rate) == (20_000, 100, 50.0)
    assert Limit(10, 1, burst=20).describe() == "10/1sb20"
    # the emission interval rounds up: never faster than configured
    assert Limit(3, 1).interval_us == 333_334


# --- events -----------------------------------------------------------------------------

SPOOF = "6.6.6.6, 7.7.7.7"


def rest(source_ip: str | None, headers: dict[str, str] | None = None) -> Request:
    identity = {"sourceIp": source_ip} if source_ip is not None else {}
    return Request.from_event(
        {
            "resource": "/login",
            "path": "/login",
            "httpMethod": "POST",
            "headers": {"X-Forwarded-For": SPOOF, **(headers or {})},
            "requestContext": {"identity": identity, "stage": "prod"},
        }
    )


def http_v2(source_ip: str, *, function_url: bool = False, xff: str = SPOOF) -> Request:
    context: dict[str, Any] = {"http": {"method": "GET", "path": "/", "sourceIp": source_ip}}
    if function_url:
        context["domainName"] = "abc.lambda-url.us-east-1.on.aws"
    return Request.from_event(
        {
            "version": "2.0",
            "rawPath": "/",
            "headers": {"x-forwarded-for": xff},
            "requestContext": context,
        }
    )


def alb(xff: str | list[str] | None) -> Request:
    event: dict[str, Any] = {
        "httpMethod": "GET",
        "path": "/",
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:..."}},
    }
    if isinstance(xff, list):
        event["multiValueHeaders"] = {"X-Forwarded-For": xff}
    elif xff is not None:
        event["headers"] = {"x-forwarded-for": xff}
    return Request.from_event(event)


def authorizer(kind: str, source_ip: str) -> Request:
    if kind == "token":
        event: dict[str, Any] = {"type": "TOKEN", "authorizationToken": "x", "methodArn": "arn:x"}
    elif kind == "rest_request":
        event = {
            "type": "REQUEST",
            "methodArn": "arn:x",
            "headers": {"X-Forwarded-For": SPOOF},
            "requestContext": {"identity": {"sourceIp": source_ip}},
        }
    elif kind == "http_v1":
        event = {
            "type": "REQUEST",
            "version": "1.0",
            "identitySource": "Bearer x",
            "methodArn": "arn:x",
            "headers": {"X-Forwarded-For": SPOOF},
            "requestContext": {"identity": {"sourceIp": source_ip}},
        }
    elif kind == "websocket":
        event = {
            "type": "REQUEST",
            "methodArn": "arn:x",
            "headers": {"X-Forwarded-For": SPOOF},
            "requestContext": {
                "eventType": "CONNECT",
                "connectionId": "abc=",
                "routeKey": "$connect",
                "identity": {"sourceIp": source_ip},
            },
        }
    else:
        event = {
            "type": "REQUEST",
            "version": "2.0",
            "routeArn": "arn:x",
            "headers": {"x-forwarded-for": SPOOF},
            "requestContext": {"http": {"method": "GET", "sourceIp": source_ip}},
        }
    return Request.from_event(event)


# --- client IP --------------------------------------------------------------------------


def test_rest_uses_identity_source_ip_not_x_forwarded_for() -> None:
    """REST: the spoofed X-Forwarded-For header is ignored by default."""
    request = rest("198.51.100.7")
    assert request.kind is EventKind.REST_V1
    assert ClientIp()(request) == "198.51.100.7"


@pytest.mark.parametrize("function_url", [False, True])
def test_http_api_and_function_url_use_http_source_ip(function_url: bool) -> None:
    """HTTP API and Function URL: requestContext.http.sourceIp, never the header."""
    request = http_v2("203.0.113.9", function_url=function_url)
    assert request.kind is (EventKind.FUNCTION_URL if function_url else EventKind.HTTP_V2)
    assert ClientIp()(request) == "203.0.113.9"


@pytest.mark.parametrize(
    ("kind", "event_kind", "expected"),
    [
        ("rest_request", EventKind.REST_REQUEST_AUTHORIZER, "192.0.2.1"),
        ("http_v1", EventKind.HTTP_AUTHORIZER_V1, "192.0.2.1"),
        ("http_v2", EventKind.HTTP_AUTHORIZER_V2, "192.0.2.1"),
        ("websocket", EventKind.WEBSOCKET_AUTHORIZER, "192.0.2.1"),
    ],
)
def test_authorizer_events(kind: str, event_kind: EventKind, expected: str) -> None:
    """Authorizer events use their context's source IP, never the spoofed header."""
    request = authorizer(kind, "192.0.2.1")
    assert request.kind is event_kind
    assert ClientIp()(request) == expected


def test_requests_without_a_client_address_are_refused_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A TOKEN authorizer event, and an ALB event without X-Forwarded-For, carry no client
    address: the key function refuses them (configuration_error) instead of putting every
    caller in one shared "unknown" bucket, and warns once per key function."""
    key = ClientIp()
    token = authorizer("token", "192.0.2.1")
    assert token.kind is EventKind.TOKEN_AUTHORIZER
    with caplog.at_level("WARNING", logger="secauth.ratelimit"):
        for request in (token, alb(None), token):
            with pytest.raises(ConfigurationError) as exc:
                key(request)
            assert exc.value.reason is Reason.CONFIGURATION_ERROR
            assert exc.value.detail["problem"] == "no client IP"
            assert "REQUEST authorizer" in str(exc.value)
    warnings = [r for r in caplog.records if r.name == "secauth.ratelimit"]
    assert len(warnings) == 1
    assert warnings[0].levelname == "WARNING"
    assert getattr(warnings[0], "reason", None) == "rate_limit_without_client_ip"
    assert getattr(warnings[0], "event", None) == token.kind.value


@pytest.mark.parametrize(
    ("xff", "trusted", "expected"),
    [
        ("1.1.1.1", 0, "1.1.1.1"),
        # the client wrote '6.6.6.6, 7.7.7.7'; the ALB appended the peer 9.9.9.9
        ("6.6.6.6, 7.7.7.7, 9.9.9.9", 0, "9.9.9.9"),
        # CloudFront (1 trusted proxy) appended the client 7.7.7.7, the ALB CloudFront's IP
        ("6.6.6.6, 7.7.7.7, 130.176.0.1", 1, "7.7.7.7"),
        ("6.6.6.6, 7.7.7.7, 130.176.0.1, 10.0.0.1", 2, "7.7.7.7"),
        # fewer hops than proxies: the request did not come through them; use the peer
        ("9.9.9.9", 2, "9.9.9.9"),
        ("garbage, 9.9.9.9", 0, "9.9.9.9"),
        ("9.9.9.9, garbage", 0, "unknown"),
    ],
)
def test_alb_counts_trusted_proxies_from_the_right(xff: str, trusted: int, expected: str) -> None:
    """ALB: X-Forwarded-For only through the configured number of trusted proxies."""
    request = alb(xff)
    assert request.kind is EventKind.ALB
    assert ClientIp(trusted_proxies=trusted)(request) == expected


def test_alb_multi_value_headers_are_joined_in_order() -> None:
    """With multi-value headers, every X-Forwarded-For line counts, the last one rightmost."""
    request = alb(["6.6.6.6", "7.7.7.7, 9.9.9.9"])
    assert ClientIp()(request) == "9.9.9.9"
    assert ClientIp(trusted_proxies=1)(request) == "7.7.7.7"


def test_api_gateway_behind_own_proxy() -> None:
    """trusted_proxies=1 in front of API Gateway: the hop left of sourceIp (the proxy)."""
    request = http_v2("130.176.0.1", xff="6.6.6.6, 7.7.7.7")
    assert ClientIp(trusted_proxies=1)(request) == "7.7.7.7"
    # API Gateway may already have appended sourceIp itself: not counted twice
    request = http_v2("130.176.0.1", xff="6.6.6.6, 7.7.7.7, 130.176.0.1")
    assert ClientIp(trusted_proxies=1)(request) == "7.7.7.7"
    # no header at all: sourceIp
    assert ClientIp(trusted_proxies=1)(rest("130.176.0.1", {"X-Forwarded-For": ""})) == (
        "130.176.0.1"
    )


@pytest.mark.parametrize(
    ("address", "prefix", "expected"),
    [
        ("2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", 64, "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", 48, "2001:db8:1::/48"),
        ("2001:db8::1", 128, "2001:db8::1"),
        ("::ffff:203.0.113.9", 64, "203.0.113.9"),
        ("::ffff:cb00:7109", 64, "203.0.113.9"),
        ("fe80::1%eth0", 64, "fe80::/64"),
        ("[2001:db8::1]:443", 64, "2001:db8::/64"),
        ("203.0.113.9:5000", 64, "203.0.113.9"),
        ("010.0.0.1", 64, None),
        ("256.1.1.1", 64, None),
        ("not-an-ip", 64, None),
    ],
)
def test_normalize_ip(address: str, prefix: int, expected: str | None) -> None:
    """IPv4-mapped IPv6 unmapped; IPv6 grouped by prefix; junk is None."""
    assert normalize_ip(address, ipv6_prefix=prefix) == expected


def test_ipv6_clients_of_one_64_share_a_key() -> None:
    """Two addresses of one /64 (one host's privacy addresses) count together."""
    a = ClientIp()(http_v2("2001:db8:aa:bb::1"))
    b = ClientIp()(http_v2("2001:db8:aa:bb:1234:5678:9abc:def0"))
    c = ClientIp()(http_v2("2001:db8:aa:bc::1"))
    assert a == b != c


def test_console_test_invoke_source_ip() -> None:
    """The console's test-invoke source IP is one fixed key, or refused on request."""
    request = rest("test-invoke-source-ip")
    assert ClientIp()(request) == "test-invoke"
    with pytest.raises(Forbidden) as exc:
        ClientIp(test_invoke="refuse")(request)
    assert exc.value.reason is Reason.FORBIDDEN


@pytest.mark.parametrize(
    "options",
    [
        {"trusted_proxies": -1},
        {"trusted_proxies": "1"},
        {"ipv6_prefix": 8},
        {"ipv6_prefix": 129},
        {"test_invoke": "allow"},
    ],
)
def test_client_ip_options_are_checked(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        ClientIp(**options)


# --- other keys -------------------------------------------------------------------------


def test_principal_and_tenant_keys() -> None:
    """Principal and tenant keys; None (not limited) for anonymous callers or no tenant."""
    request = rest("198.51.100.7")
    alice = Principal("alice", tenant="acme")
    assert by_principal(request, Principal("alice")) == "user:alice"
    # with a tenant, the tenant is part of the key (the same id in two tenants is two
    # callers; review 5): hashed, since the three parts are written unambiguously
    assert by_principal(request, alice) != by_principal(request, Principal("alice", tenant="b"))
    assert by_principal(request, alice) != by_principal(request, Principal("alice"))
    assert by_tenant(request, alice) == "acme"
    assert by_principal(request, Principal.anonymous()) is None
    assert by_principal(request, None) is None
    assert by_tenant(request, Principal("bob")) is None
    # separators and long values are hashed, so keys never collide by construction
    odd = by_principal(request, Principal("a:b{c}" + "x" * 100))
    assert odd is not None
    assert odd.startswith("~")
    assert "{" not in odd


def test_api_key_is_hashed_and_prefers_the_validated_one() -> None:
    """The key never appears in the store key; API Gateway's validated identity.apiKey wins."""
    secret = "sk_live_abcdefghijklmnop"
    ann = Principal("ann")  # a verified caller: the header counts for it
    from_header = ApiKey()(rest("198.51.100.7", {"X-Api-Key": secret}), ann)
    assert from_header is not None
    # no verified caller: an unchecked header names no one (review 39)
    assert ApiKey()(rest("198.51.100.7", {"X-Api-Key": secret}), None) is None
    assert secret not in from_header
    assert from_header == safe_key(secret, secret=True)
    event = {
        "resource": "/",
        "path": "/",
        "httpMethod": "GET",
        "headers": {"x-api-key": "other"},
        "requestContext": {"identity": {"sourceIp": "1.2.3.4", "apiKey": secret}},
    }
    assert ApiKey()(Request.from_event(event), None) == from_header
    assert ApiKey()(rest("1.2.3.4"), None) is None
    assert ApiKey("x-partner-key")(rest("1.2.3.4", {"X-Partner-Key": secret}), ann) == from_header
