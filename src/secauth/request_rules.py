"""Rules decided by what API Gateway saw of the caller: the client IP, the IAM (SigV4)
caller's ARN and the mTLS client certificate. They read the request, so a cached
authorizer policy never grants their routes (see :meth:`secauth.rules.Rule.bindings`).

>>> from secauth.events import Request
>>> from secauth.principal import Principal
>>> from secauth.rules import AccessContext
>>> event = {"httpMethod": "GET", "resource": "/a", "path": "/a",
...          "requestContext": {"identity": {"sourceIp": "203.0.113.9"}}}
>>> context = AccessContext("GET", "/a", {}, Request.from_event(event))
>>> source_ip(allow=["203.0.113.0/24"]).check(Principal("u"), context) is None
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from secauth.errors import ConfigurationError, Reason
from secauth.options import names
from secauth.principal import Principal
from secauth.rules import AccessContext, Denial, Rule

if TYPE_CHECKING:
    import ipaddress

__all__ = ["caller_arn", "client_cert", "source_ip"]


class _SourceIp(Rule):
    __slots__ = ("allow", "deny")

    def __init__(self, allow: tuple[Any, ...], deny: tuple[Any, ...]) -> None:
        self.allow = allow
        self.deny = deny

    def __repr__(self) -> str:
        return (
            f"source_ip(allow={[str(n) for n in self.allow]}, deny={[str(n) for n in self.deny]})"
        )

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        request = context.request
        address = _parse_ip(request.source_ip if request is not None else None)
        if address is None:
            return Denial(Reason.FORBIDDEN, "no usable source IP", undecided=True)
        if any(address in net for net in self.deny if net.version == address.version):
            return Denial(Reason.FORBIDDEN, "source IP denied")
        if self.allow and not any(
            address in net for net in self.allow if net.version == address.version
        ):
            return Denial(Reason.FORBIDDEN, "source IP not allowed")
        return None


def _parse_ip(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    import ipaddress

    if not value:
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def source_ip(*, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> Rule:
    """Allow or deny by the client IP API Gateway saw (CIDR lists, IPv4 and IPv6).

    Deny wins over allow; with an allow list, only listed networks pass. IPv4-mapped
    IPv6 addresses count as their IPv4 address.

    >>> rule = source_ip(allow=["203.0.113.0/24", "2001:db8::/32"])
    >>> isinstance(rule, Rule)
    True
    """
    import ipaddress

    try:
        allowed = tuple(ipaddress.ip_network(c, strict=True) for c in names("source_ip allow", allow))
        denied = tuple(ipaddress.ip_network(c, strict=True) for c in names("source_ip deny", deny))
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"source_ip: {exc}") from None
    mapped = ipaddress.IPv6Network("::ffff:0:0/96")
    for net in allowed + denied:
        if isinstance(net, ipaddress.IPv6Network) and net.subnet_of(mapped):
            raise ConfigurationError(
                f"source_ip: write the IPv4-mapped network {net} as IPv4 "
                "(client addresses are compared as IPv4)"
            )
    if not allowed and not denied:
        raise ConfigurationError("source_ip(...) needs allow= or deny= networks")
    return _SourceIp(allowed, denied)


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else re.escape(c) for c in pattern))


class _CallerArn(Rule):
    __slots__ = ("patterns", "texts")

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.texts = patterns
        self.patterns = tuple(_glob(p) for p in patterns)

    def __repr__(self) -> str:
        return f"caller_arn({', '.join(self.texts)})"

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        request = context.request
        identity = request.identity if request is not None else {}
        arn = identity.get("userArn") or identity.get("caller")
        if arn is None and request is not None:
            # HTTP APIs with IAM authorization: requestContext.authorizer.iam.userArn
            iam = request.authorizer.get("iam")
            arn = iam.get("userArn") if isinstance(iam, Mapping) else None
        if isinstance(arn, str) and any(p.fullmatch(arn) for p in self.patterns):
            return None
        return Denial(Reason.FORBIDDEN, "IAM caller not allowed")


def caller_arn(*patterns: str) -> Rule:
    """For IAM (SigV4) authorized routes: the caller's ARN (``requestContext.identity.userArn``,
    else ``caller``) must match one of ``patterns`` (``*`` matches any run of characters).

    >>> isinstance(caller_arn("arn:aws:iam::123456789012:role/deployer-*"), Rule)
    True
    """
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern.startswith("arn:"):
            raise ConfigurationError(f"caller_arn patterns are ARNs, got {pattern!r}")
    if not patterns:
        raise ConfigurationError("caller_arn(...) needs at least one pattern")
    return _CallerArn(patterns)


class _ClientCert(Rule):
    __slots__ = ("issuers", "subjects")

    def __init__(self, subjects: frozenset[str], issuers: frozenset[str]) -> None:
        self.subjects = subjects
        self.issuers = issuers

    def __repr__(self) -> str:
        return f"client_cert(subjects={sorted(self.subjects)})"

    def check(self, principal: Principal, context: AccessContext) -> Denial | None:
        request = context.request
        cert = request.client_cert if request is not None else {}
        subject = cert.get("subjectDN")
        issuer = cert.get("issuerDN")
        if not isinstance(subject, str) or (self.subjects and subject not in self.subjects):
            return Denial(Reason.FORBIDDEN, "client certificate subject not allowed")
        if self.issuers and issuer not in self.issuers:
            return Denial(Reason.FORBIDDEN, "client certificate issuer not allowed")
        return None


def client_cert(*, subjects: Iterable[str] = (), issuers: Iterable[str] = ()) -> Rule:
    """Require an mTLS client certificate whose subject DN (and issuer DN, if given) is listed,
    exactly as API Gateway reports them (``clientCert.subjectDN``/``issuerDN``).

    >>> isinstance(client_cert(subjects=["CN=partner-a,O=Partner A"]), Rule)
    True
    """
    subject_set = frozenset(names("client_cert subjects", subjects))
    issuer_set = frozenset(names("client_cert issuers", issuers))
    if not subject_set:
        raise ConfigurationError("client_cert(...) needs the allowed subjects")
    return _ClientCert(subject_set, issuer_set)
