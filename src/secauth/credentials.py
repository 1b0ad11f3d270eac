"""Credentials besides JWTs: partner API keys and mutual-TLS client certificates.

API keys are stored only as SHA-256 hashes (API keys are long random strings, so
a fast hash is the right tool; there is nothing to brute-force). A presented key
is hashed and looked up, and the stored hash is compared in constant time.

Example
-------
>>> keys = StaticApiKeys({hash_api_key("k" * 32): ApiKeyEntry("partner-a", roles=("partner",))})
>>> keys.lookup("k" * 32).principal().id
'partner-a'
>>> keys.lookup("wrong-key-of-some-length") is None
True
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Protocol

from secauth.errors import ConfigurationError, InvalidClaims, MalformedToken, MissingToken
from secauth.principal import Principal

__all__ = [
    "MIN_API_KEY_LENGTH",
    "ApiKeyEntry",
    "ApiKeyStore",
    "ClientCertEntry",
    "ClientCertificates",
    "StaticApiKeys",
    "hash_api_key",
]

MIN_API_KEY_LENGTH = 20  # API Gateway's own minimum for API key values
MAX_API_KEY_LENGTH = 256


def hash_api_key(key: str) -> str:
    """The SHA-256 hex digest under which an API key is stored.

    >>> hash_api_key("example-key-0123456789")[:12]
    '298caeb640fd'
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKeyEntry(NamedTuple):
    """What an API key stands for: a principal with roles, scopes and an optional tenant.

    ``usage_plan=True`` makes the authorizer return the presented key as
    ``usageIdentifierKey``, so API Gateway usage plans (quotas, throttling) apply.
    ``rate_limit`` is a limit such as ``"100/minute"`` for this key alone.
    """

    principal_id: str
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    tenant: str | None = None
    usage_plan: bool = False
    rate_limit: str | None = None

    def principal(self) -> Principal:
        return Principal(
            self.principal_id,
            tenant=self.tenant,
            roles=self.roles,
            scopes=self.scopes,
            kind="api_key",
        )


class ApiKeyStore(Protocol):
    """Where API keys are looked up, by the SHA-256 hex of the presented key."""

    def lookup(self, key: str) -> ApiKeyEntry | None: ...


class StaticApiKeys:
    """API keys from a mapping ``{sha256_hex: ApiKeyEntry}`` (for example built at deploy time).

    Plain keys are refused as mapping keys: only 64-character hex digests are accepted,
    so a key never sits in your code or configuration in clear.
    """

    def __init__(self, entries: Mapping[str, ApiKeyEntry]) -> None:
        self._entries: dict[str, tuple[str, ApiKeyEntry]] = {}
        for digest, entry in entries.items():
            if not (isinstance(digest, str) and len(digest) == 64 and _is_hex(digest)):
                raise ConfigurationError(
                    "StaticApiKeys maps hash_api_key(key) (64 hex characters) to entries, never "
                    "plain keys"
                )
            if not isinstance(entry, ApiKeyEntry):
                raise ConfigurationError("StaticApiKeys values must be ApiKeyEntry objects")
            self._entries[digest.lower()] = (digest.lower(), entry)

    def lookup(self, key: str) -> ApiKeyEntry | None:
        """The entry for a presented key, or None."""
        if not (MIN_API_KEY_LENGTH <= len(key) <= MAX_API_KEY_LENGTH):
            return None
        digest = hash_api_key(key)
        found = self._entries.get(digest)
        if found is None:
            return None
        # The dict lookup matched on the digest; compare again in constant time for good measure.
        stored, entry = found
        return entry if hmac.compare_digest(stored, digest) else None


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def read_api_key(headers: Mapping[str, str], header: str) -> str:
    """The API key from ``header`` (lower-cased name); raise MissingToken / MalformedToken."""
    value = headers.get(header)
    if value is None or not value.strip():
        raise MissingToken()
    value = value.strip()
    if not (MIN_API_KEY_LENGTH <= len(value) <= MAX_API_KEY_LENGTH) or not value.isprintable():
        raise MalformedToken(detail={"problem": "API key has an impossible length or characters"})
    return value


# --- mutual TLS -------------------------------------------------------------------------------


class ClientCertEntry(NamedTuple):
    """An allowed client certificate: which issuer and serial it must have, and its principal."""

    principal_id: str
    issuer_dn: str | None = None
    serial_numbers: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    tenant: str | None = None


class ClientCertificates:
    """An allowlist of mTLS client certificates keyed by subject DN, as API Gateway reports it in
    ``requestContext.identity.clientCert`` (REST) or ``requestContext.authentication.clientCert``
    (HTTP). API Gateway has verified the chain against your truststore; this checks which of
    those certificates may call, and that the certificate is within its validity period.

    >>> certs = ClientCertificates({"CN=partner-a,O=A": ClientCertEntry("partner-a")})
    >>> cert = {"subjectDN": "CN=partner-a,O=A", "issuerDN": "CN=CA", "serialNumber": "01",
    ...         "validity": {"notBefore": "May 28 12:30:02 2019 GMT",
    ...                      "notAfter": "Aug  5 09:36:04 2031 GMT"}}
    >>> certs.principal(cert).id
    'partner-a'
    """

    def __init__(
        self, allowed: Mapping[str, ClientCertEntry], *, clock: Callable[[], float] = time.time
    ) -> None:
        if not allowed:
            raise ConfigurationError("ClientCertificates needs at least one allowed subject DN")
        self._allowed = dict(allowed)
        self._clock = clock

    def principal(self, cert: Mapping[str, Any]) -> Principal:
        """The principal for a presented certificate; raise a 401-class error otherwise."""
        if not cert:
            raise MissingToken(detail={"problem": "no client certificate"})
        subject = cert.get("subjectDN")
        entry = self._allowed.get(subject) if isinstance(subject, str) else None
        if entry is None:
            raise InvalidClaims(detail={"problem": "client certificate subject not allowed"})
        if entry.issuer_dn is not None and cert.get("issuerDN") != entry.issuer_dn:
            raise InvalidClaims(detail={"problem": "client certificate issuer not allowed"})
        serial = cert.get("serialNumber")
        if entry.serial_numbers and serial not in entry.serial_numbers:
            raise InvalidClaims(detail={"problem": "client certificate serial not allowed"})
        self._check_validity(cert.get("validity"))
        return Principal(
            entry.principal_id,
            tenant=entry.tenant,
            roles=entry.roles,
            scopes=entry.scopes,
            kind="client_cert",
        )

    def _check_validity(self, validity: object) -> None:
        if not isinstance(validity, Mapping):
            raise InvalidClaims(detail={"problem": "client certificate validity missing"})
        try:
            not_before = _cert_time(validity.get("notBefore"))
            not_after = _cert_time(validity.get("notAfter"))
        except ValueError:
            raise InvalidClaims(
                detail={"problem": "client certificate validity unreadable"}
            ) from None
        now = self._clock()
        if not not_before <= now <= not_after:
            raise InvalidClaims(detail={"problem": "client certificate outside its validity"})


def _cert_time(value: object) -> float:
    """Parse API Gateway's certificate time format, e.g. ``"May 28 12:30:02 2019 GMT"``."""
    import calendar

    if not isinstance(value, str) or not value.endswith(" GMT"):
        raise ValueError("bad certificate time")
    parsed = time.strptime(" ".join(value[:-4].split()), "%b %d %H:%M:%S %Y")
    return float(calendar.timegm(parsed))


def entries(pairs: Iterable[tuple[str, ApiKeyEntry]]) -> dict[str, ApiKeyEntry]:
    """Build a ``{hash: entry}`` mapping from ``(plain_key, entry)`` pairs, e.g. in a deploy script.

    >>> len(entries([("k" * 32, ApiKeyEntry("p"))]))
    1
    """
    return {hash_api_key(key): entry for key, entry in pairs}
