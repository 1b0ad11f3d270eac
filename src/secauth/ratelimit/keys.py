"""Key functions: which bucket a request counts against.

A key function takes ``(request, principal)`` and returns a string, or None when
the limit does not apply to this request (``per_principal`` on an anonymous
caller, ``per_api_key`` without a key). Values that are secret (API keys) or
long or unusual (principal ids, tenants) are hashed before they become store
keys, so a store never holds a credential and a key never carries an
attacker-sized or separator-laden string.

The client IP
-------------
:class:`ClientIp` reads the field the platform fills in itself, never a header
the client controls, unless you declare trusted proxies:

* REST API (v1) and REST/WebSocket authorizers: ``requestContext.identity.sourceIp``;
* HTTP API (v2), HTTP authorizer 2.0 and Function URLs: ``requestContext.http.sourceIp``;
* ALB: the ALB appends the address that connected to it to ``X-Forwarded-For``,
  so with ``trusted_proxies=0`` the key is the *rightmost* entry; with N trusted
  proxies in front of the ALB (CloudFront: 1) it is the (N+1)-th from the right.
  Everything left of that was written by the client and is ignored.
* API Gateway with ``trusted_proxies=N > 0`` (your own CloudFront distribution in
  front of the API): the hops are ``X-Forwarded-For`` followed by ``sourceIp``,
  and the (N+1)-th from the right is taken. When there are fewer hops than that,
  the request did not come through your proxies and ``sourceIp`` is used.

IPv4-mapped IPv6 (``::ffff:203.0.113.9``) becomes the IPv4 address; other IPv6
addresses are aggregated to their ``/64`` (``ipv6_prefix``), since one host
usually owns a whole /64. A value that is not an address counts against the
single key ``"unknown"`` (only a client that writes one lands there).

A request that carries **no** client address at all (a REST TOKEN authorizer event,
an ALB event without ``X-Forwarded-For``) is refused: :class:`ClientIp` raises
:class:`~secauth.errors.ConfigurationError` (reason ``configuration_error``) and logs
one warning per key function on the ``secauth.ratelimit`` logger. Counting those
requests against one shared key would let one caller's burst deny every caller;
limit them per principal or API key instead, or use a REQUEST authorizer.

The API Gateway console's test invocation sends the source IP
``"test-invoke-source-ip"``. Only an IAM-authorized caller of
``TestInvokeMethod`` can produce it, so by default (``test_invoke="key"``) it is
one fixed bucket, ``"test-invoke"``; ``test_invoke="refuse"`` raises
:class:`~secauth.errors.Forbidden` instead.

Example
-------
>>> from secauth.events import Request
>>> event = {"version": "2.0", "rawPath": "/", "headers": {"x-forwarded-for": "6.6.6.6"},
...          "requestContext": {"http": {"method": "GET", "sourceIp": "::ffff:198.51.100.7"}}}
>>> ClientIp()(Request.from_event(event))
'198.51.100.7'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, NoReturn

from secauth.errors import ConfigurationError, Forbidden
from secauth.events import EventKind, Request
from secauth.issuers import issuer_key
from secauth.principal import Principal

__all__ = [
    "TEST_INVOKE_SOURCE_IP",
    "ApiKey",
    "ClientIp",
    "KeyFunc",
    "by_principal",
    "by_tenant",
    "key_name",
    "limit_name",
    "normalize_ip",
    "principal_key",
    "safe_key",
    "safe_name",
    "trusted_key",
]

KeyFunc = Callable[[Request, Principal | None], str | None]

TEST_INVOKE_SOURCE_IP: Final = "test-invoke-source-ip"
UNKNOWN: Final = "unknown"
_log = logging.getLogger("secauth.ratelimit")
_NO_ADDRESS: Final = (
    "a per-IP rate limit met a request that carries no client address (a REST TOKEN "
    "authorizer event, or an ALB event without X-Forwarded-For): one shared bucket would let "
    "one caller's burst deny everyone, so the request is refused. Use a REQUEST authorizer "
    "(it has the source IP), or limit per principal or API key"
)

_IPV4: Final = re.compile(
    r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}", re.ASCII
)
_SAFE: Final = re.compile(r"[A-Za-z0-9._@+=/:-]{1,64}", re.ASCII)
_MAX_XFF: Final = 4096
_API_GATEWAY_KINDS: Final = (  # a tuple: membership by identity, no Enum.__hash__ call
    EventKind.REST_V1,
    EventKind.HTTP_V2,
    EventKind.FUNCTION_URL,
    EventKind.REST_REQUEST_AUTHORIZER,
    EventKind.HTTP_AUTHORIZER_V1,
    EventKind.HTTP_AUTHORIZER_V2,
    EventKind.WEBSOCKET_AUTHORIZER,
)


def safe_key(value: str, *, secret: bool = False) -> str:
    """``value`` itself when short and plain, else (and always for secrets) a hash.

    >>> safe_key("alice@example.com")
    'alice@example.com'
    >>> safe_key("a{b}") == safe_key("a{b}") != "a{b}"
    True
    """
    if not secret and _SAFE.fullmatch(value):
        return value
    return ("#" if secret else "~") + _digest(value)


def safe_name(name: str) -> str:
    """A limit's ``name`` as the first part of its store keys (``<name>:<limit>:<value>``):
    as :func:`safe_key` makes it, and hashed when it holds ``:``, the parts' separator, so
    no name and value spell another limit's name and value.

    >>> safe_name("login"), safe_name("free:2/60s") == safe_name("free:2/60s") != "free:2/60s"
    ('login', True)
    """
    return safe_key(name) if ":" not in name else "~" + _digest(name)


def _digest(value: str) -> str:
    import hashlib

    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=15).hexdigest()


def normalize_ip(text: str, *, ipv6_prefix: int = 64) -> str | None:
    """The rate-limit key of one address: IPv4 as is, IPv4-mapped IPv6 unmapped,
    IPv6 as its ``/ipv6_prefix`` network; None when ``text`` is not an address.

    >>> normalize_ip("2001:db8:1:2:3:4:5:6")
    '2001:db8:1:2::/64'
    >>> normalize_ip("::ffff:10.0.0.1"), normalize_ip("010.0.0.1")
    ('10.0.0.1', None)
    """
    if _IPV4.fullmatch(text):
        return text
    import ipaddress

    candidate = text
    if candidate.startswith("[") and "]" in candidate:  # [v6]:port
        candidate = candidate[1 : candidate.index("]")]
    elif candidate.count(":") == 1:  # v4:port
        candidate = candidate.partition(":")[0]
        return candidate if _IPV4.fullmatch(candidate) else None
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    address = ipaddress.IPv6Address(int(address))  # drop any %zone
    mapped = address.ipv4_mapped
    if mapped is not None:
        return str(mapped)
    if ipv6_prefix >= 128:
        return str(address)
    return str(ipaddress.IPv6Network((address, ipv6_prefix), strict=False))


def _header_values(raw: Mapping[str, Any], name: str) -> list[str]:
    """Every value of header ``name`` (case-insensitive), in order, from both maps."""
    out: list[str] = []
    multi = raw.get("multiValueHeaders")
    if isinstance(multi, Mapping) and multi:
        for key, values in multi.items():
            if isinstance(key, str) and key.lower() == name and isinstance(values, list):
                out.extend(v for v in values if isinstance(v, str))
        if out:
            return out
    single = raw.get("headers")
    if isinstance(single, Mapping):
        for key, value in single.items():
            if isinstance(key, str) and key.lower() == name and isinstance(value, str):
                out.append(value)
    return out


def forwarded_for(raw: Mapping[str, Any]) -> list[str]:
    """The ``X-Forwarded-For`` hops, left to right (bounded in size)."""
    text = ",".join(_header_values(raw, "x-forwarded-for"))[-_MAX_XFF:]
    return [hop.strip() for hop in text.split(",") if hop.strip()]


class ClientIp:
    """Key function: the client IP, normalized (see the module docs).

    Parameters
    ----------
    trusted_proxies:
        Proxies you run in front of the ALB or API Gateway that append to
        ``X-Forwarded-For`` (default 0: none; the platform's own field is used).
    ipv6_prefix:
        IPv6 addresses are grouped by this prefix length (default 64).
    test_invoke:
        ``"key"`` (default): console test invocations share the key
        ``"test-invoke"``; ``"refuse"``: raise :class:`~secauth.errors.Forbidden`.

    A request without a client address raises :class:`~secauth.errors.ConfigurationError`
    (and logs one warning): see the module docs.
    """

    __slots__ = ("_warned", "ipv6_prefix", "test_invoke", "trusted_proxies")
    name = "ip"

    def __init__(
        self, *, trusted_proxies: int = 0, ipv6_prefix: int = 64, test_invoke: str = "key"
    ) -> None:
        if type(trusted_proxies) is not int or not 0 <= trusted_proxies <= 16:
            raise ConfigurationError(
                f"trusted_proxies must be an int from 0 to 16, not {trusted_proxies!r}"
            )
        if type(ipv6_prefix) is not int or not 16 <= ipv6_prefix <= 128:
            raise ConfigurationError(
                f"ipv6_prefix must be an int from 16 to 128, not {ipv6_prefix!r}"
            )
        if test_invoke not in ("key", "refuse"):
            raise ConfigurationError(f"test_invoke must be 'key' or 'refuse', not {test_invoke!r}")
        self.trusted_proxies = trusted_proxies
        self.ipv6_prefix = ipv6_prefix
        self.test_invoke = test_invoke
        self._warned = False

    def __repr__(self) -> str:
        return (
            f"ClientIp(trusted_proxies={self.trusted_proxies}, ipv6_prefix={self.ipv6_prefix}, "
            f"test_invoke={self.test_invoke!r})"
        )

    def address(self, request: Request) -> str | None:
        """The client address as text, before normalization (None when unknown)."""
        n = self.trusted_proxies
        if request.kind is EventKind.ALB:
            hops = forwarded_for(request.raw)
            if not hops:
                return None
            # the ALB appended the peer itself: hops[-1] is trustworthy
            return hops[-(n + 1)] if len(hops) > n else hops[-1]
        peer = request.source_ip
        if n == 0 or request.kind not in _API_GATEWAY_KINDS or peer is None:
            return peer
        hops = forwarded_for(request.raw)
        if not hops or hops[-1] != peer:
            hops.append(peer)
        return hops[-(n + 1)] if len(hops) > n else peer

    def __call__(self, request: Request, principal: Principal | None = None) -> str:
        text = self.address(request)
        if text is None:
            self._refuse(request)
        if text == TEST_INVOKE_SOURCE_IP:
            if self.test_invoke == "refuse":
                raise Forbidden(detail={"problem": "API Gateway console test invocation refused"})
            return "test-invoke"
        return normalize_ip(text, ipv6_prefix=self.ipv6_prefix) or UNKNOWN

    def bucket_of(self, text: str) -> str:
        """The key the requests from address ``text`` count in, as :meth:`__call__` keys
        them (what ``usage`` reads); a key as hits write it (``"unknown"``,
        ``"test-invoke"``, ``"2001:db8:1:2::/64"``) is its own.

        >>> ip = ClientIp()
        >>> ip.bucket_of("2001:db8:1:2::7"), ip.bucket_of("010.0.0.1"), ip.bucket_of("unknown")
        ('2001:db8:1:2::/64', 'unknown', 'unknown')
        """
        if text == TEST_INVOKE_SOURCE_IP:
            return "test-invoke"
        if text in (UNKNOWN, "test-invoke"):
            return text
        if normalize_ip(text.partition("/")[0], ipv6_prefix=self.ipv6_prefix) == text:
            return text  # an IPv6 network key
        return normalize_ip(text, ipv6_prefix=self.ipv6_prefix) or UNKNOWN

    def _refuse(self, request: Request) -> NoReturn:
        """Refuse a request without a client address; warn the first time."""
        kind = request.kind.value
        if not self._warned:
            self._warned = True
            _log.warning(
                _NO_ADDRESS,
                extra={"reason": "rate_limit_without_client_ip", "event": kind},
            )
        raise ConfigurationError(_NO_ADDRESS, detail={"problem": "no client IP", "event": kind})


def principal_key(principal: Principal) -> str:
    """The store key of a caller: ``kind:id``, and with an issuer or a tenant all of them
    (the same id of two issuers, or in two tenants, is two callers; a Cognito pool's
    issuers are one, :func:`~secauth.issuers.issuer_key`), hashed when long or unusual
    (:func:`safe_key`).

    >>> principal_key(Principal("alice")), principal_key(Principal("alice", tenant="acme"))[0]
    ('user:alice', '~')
    >>> principal_key(Principal("alice", issuer="https://a/")) != principal_key(
    ...     Principal("alice", issuer="https://b/"))
    True
    """
    if principal.tenant is None and principal.issuer is None:
        return safe_key(f"{principal.kind}:{principal.id}")
    # One name for a Cognito pool's issuers (its formats and Regions): one user, one key.
    issuer = issuer_key(principal.issuer) if principal.issuer is not None else None
    return safe_key(repr((principal.kind, issuer, principal.tenant, principal.id)))


def by_principal(request: Request, principal: Principal | None = None) -> str | None:
    """Key function: the principal (:func:`principal_key`); None (limit skipped) for
    anonymous callers."""
    if principal is None or principal.is_anonymous:
        return None
    return principal_key(principal)


def by_tenant(request: Request, principal: Principal | None = None) -> str | None:
    """Key function: the principal's tenant; None when there is none."""
    if principal is None or principal.tenant is None:
        return None
    return safe_key(principal.tenant)


class ApiKey:
    """Key function: the API key; None when the request carries none.

    When a secauth API key authenticated the request (the principal has kind
    ``"api_key"``: the :class:`~secauth.api_keys.ApiKeyEntry` the key resolved to), the
    key is that entry's principal, so every spelling of the key that reached the entry
    counts in one bucket. Otherwise REST APIs with usage plans put the key API Gateway
    validated in ``requestContext.identity.apiKey``; that is used first, then, for a
    verified caller only, ``header`` without the spaces and tabs around it (as
    :func:`~secauth.api_keys.read_api_key` reads it), hashed.

    >>> from secauth.principal import Principal
    >>> request = Request.from_event({"version": "2.0", "rawPath": "/",
    ...     "headers": {"x-api-key": " pk-0123456789abcdefghij"},
    ...     "requestContext": {"http": {"method": "GET", "sourceIp": "192.0.2.1"}}})
    >>> key, ann = ApiKey(), Principal("ann")
    >>> key(request, ann) == key(Request.from_event({**request.raw,
    ...     "headers": {"x-api-key": "pk-0123456789abcdefghij\t"}}), ann)
    True
    >>> key(request, Principal("partner-a", kind="api_key")) == key(request, ann)
    False
    >>> key(request) is None  # no verified caller: the header is nobody's key
    True
    """

    __slots__ = ("header",)
    name = "api_key"

    def __init__(self, header: str = "x-api-key") -> None:
        if not isinstance(header, str) or not header.strip():
            raise ConfigurationError("ApiKey header must be a non-empty header name")
        self.header = header.strip().lower()

    def __repr__(self) -> str:
        return f"ApiKey(header={self.header!r})"

    def __call__(self, request: Request, principal: Principal | None = None) -> str | None:
        if principal is not None and principal.kind == "api_key":
            # the entry the key resolved to: "~" + a hash, never equal to a "#" key hash
            return safe_key(repr(("api_key", principal.tenant, principal.id)))
        value = request.identity.get("apiKey")  # the key API Gateway checked
        if not isinstance(value, str) or not value:
            if principal is None or principal.is_anonymous:
                # No verified caller (anonymous, or refused): a header nobody checked names
                # no one, and counting it would spend the quota of whoever it names.
                return None
            value = request.headers.get(self.header)
            value = value.strip(" \t") if isinstance(value, str) else None
        if not value:
            return None
        return safe_key(value, secret=True)


# The built-in key functions' names; their values are secauth's own (a principal key).
_NAMED_FUNCTIONS: Final[dict[object, str]] = {by_principal: "principal", by_tenant: "tenant"}


def key_name(key: KeyFunc) -> str | None:
    """The name a key function gives its limits: ``principal`` and ``tenant`` for the
    built-in functions, a key object's ``name`` (``ip``, ``api_key``); None for your own.

    >>> key_name(by_principal), key_name(lambda request, principal: "all")
    ('principal', None)
    """
    return _NAMED_FUNCTIONS.get(key) or getattr(key, "name", None)


def trusted_key(key: KeyFunc) -> bool:
    """Whether ``key`` is secauth's own (:class:`ClientIp`, :class:`ApiKey`,
    :func:`by_principal`, :func:`by_tenant`): its values go into store keys as they are,
    where your own function's pass through :func:`safe_key`.

    >>> trusted_key(by_principal), trusted_key(lambda request, principal: "all")
    (True, False)
    """
    return isinstance(key, ClientIp | ApiKey) or key in _NAMED_FUNCTIONS


def limit_name(key: KeyFunc, name: object, owner: str) -> str:
    """``name``, else the key function's own (:func:`key_name`): a ConfigurationError naming
    ``owner`` for your own key function without a name (two such limits of one count on
    one store would share their counters) or a name that is not a non-empty string.

    >>> limit_name(by_principal, None, "RateLimiter"), limit_name(by_principal, "p", "x")
    ('principal', 'p')
    """
    if name is None:
        name = key_name(key)
    if name is None:
        raise ConfigurationError(
            f"{owner} with your own key function needs name= (for example name='device'): "
            "it keeps these counters apart from other limits' in a shared store, and names "
            "the policy in RateLimit headers"
        )
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"{owner} name must be a non-empty string")
    return name
