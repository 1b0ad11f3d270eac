"""Partner API keys: how they are hashed, what an entry grants, and a static key store.

API keys are stored only as SHA-256 hashes (API keys are long random strings, so
a fast hash is the right tool; there is nothing to brute-force). A presented key
is hashed and looked up, and the stored hash is compared in constant time. Stores
backed by AWS services: :mod:`secauth.dynamodb_api_keys`,
:mod:`secauth.secretsmanager_api_keys`.

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
from collections.abc import Iterable, Mapping
from typing import NamedTuple, Protocol

from secauth.errors import ConfigurationError, MalformedToken, MissingToken
from secauth.principal import Principal

__all__ = [
    "MAX_API_KEY_LENGTH",
    "MIN_API_KEY_LENGTH",
    "ApiKeyEntry",
    "ApiKeyStore",
    "StaticApiKeys",
    "entries",
    "hash_api_key",
    "is_key_digest",
    "read_api_key",
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
            if not (is_key_digest(digest)):
                raise ConfigurationError(
                    "StaticApiKeys maps hash_api_key(key) (64 hex characters) to entries, never "
                    "plain keys"
                )
            if not isinstance(entry, ApiKeyEntry):
                raise ConfigurationError("StaticApiKeys values must be ApiKeyEntry objects")
            self._entries[digest.lower()] = (digest.lower(), entry)

    def entries(self) -> list[ApiKeyEntry]:
        """Every entry (no keys: the store never had them)."""
        return [entry for _, entry in self._entries.values()]

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


def is_key_digest(text: object) -> bool:
    """Whether ``text`` is how key stores name a key: 64 hexadecimal characters.

    >>> is_key_digest(hash_api_key("k" * 32)), is_key_digest("k" * 64)
    (True, False)
    """
    if not isinstance(text, str) or len(text) != 64:
        return False
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


def entries(pairs: Iterable[tuple[str, ApiKeyEntry]]) -> dict[str, ApiKeyEntry]:
    """Build a ``{hash: entry}`` mapping from ``(plain_key, entry)`` pairs, e.g. in a deploy script.

    >>> len(entries([("k" * 32, ApiKeyEntry("p"))]))
    1
    """
    return {hash_api_key(key): entry for key, entry in pairs}
