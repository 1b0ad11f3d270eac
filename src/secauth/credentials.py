"""Credentials besides JWTs: partner API keys and mutual-TLS client certificates.

API keys are stored only as SHA-256 hashes (API keys are long random strings, so
a fast hash is the right tool; there is nothing to brute-force). A presented key
is hashed and looked up, and the stored hash is compared in constant time. Key
stores: :class:`StaticApiKeys` (a mapping built at deploy time),
:class:`DynamoDBApiKeys` (a table, cached in memory, failing closed) and
:class:`SecretsManagerApiKeys` (one secret, through Powertools Parameters).

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
import itertools
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Protocol

from secauth._aws import check_timeouts, short_timeout_client
from secauth.errors import (
    ConfigurationError,
    InvalidClaims,
    KeysUnavailable,
    MalformedToken,
    MissingToken,
)
from secauth.principal import Principal

__all__ = [
    "MIN_API_KEY_LENGTH",
    "ApiKeyEntry",
    "ApiKeyStore",
    "ClientCertEntry",
    "ClientCertificates",
    "DynamoDBApiKeys",
    "SecretsManagerApiKeys",
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


class DynamoDBApiKeys:
    """API keys in a DynamoDB table: one ``GetItem`` by the key's hash, cached in memory.

    The table's partition key is ``key_hash`` (a string: ``hash_api_key(key)``; the plain
    key is never stored). An item holds:

    ==================  ==============  ===========================================
    attribute           type            meaning
    ==================  ==============  ===========================================
    ``principal_id``    S (required)    the principal's id
    ``roles``           SS or L of S    roles (optional)
    ``scopes``          SS or L of S    scopes (optional)
    ``tenant``          S               tenant (optional)
    ``usage_plan``      BOOL            return the key as ``usageIdentifierKey``
    ``rate_limit``      S               a limit such as ``"100/minute"``
    ``disabled``        BOOL            true: the key is refused (revoked)
    ``expires_at``      N               epoch seconds after which the key is refused
    ==================  ==============  ===========================================

    :meth:`item` builds such an item from a plain key and an :class:`ApiKeyEntry`.

    Answers are cached per hash for ``cache_ttl`` seconds (default 60), unknown keys for
    ``negative_cache_ttl`` (default 10), at most ``max_cached`` hashes: a revoked or
    changed key is noticed within ``cache_ttl``, a new key within ``negative_cache_ttl``.

    Fail closed: when the table cannot answer (unreachable, timed out, throttled, no
    such table, no permission) or an item is malformed, :meth:`lookup` raises
    :class:`~secauth.errors.KeysUnavailable` (reason ``keys_unavailable``, with
    ``detail["source"] == "dynamodb_api_keys"`` and the error's code), which the
    Authorizer answers with 401, never an Allow, and logs apart from bad keys. Nothing
    stale is served past ``cache_ttl`` and failures are not cached.

    The client has short timeouts (0.5 s connect and read) and two attempts (``GetItem``
    is safe to retry). ``boto3`` is imported when the store is built:
    ``pip install 'secauth[dynamodb]'``. The function needs ``dynamodb:GetItem`` on the
    table.
    """

    SOURCE = "dynamodb_api_keys"

    def __init__(
        self,
        table: str,
        *,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        key_attribute: str = "key_hash",
        cache_ttl: float = 60.0,
        negative_cache_ttl: float = 10.0,
        max_cached: int = 1024,
        consistent_read: bool = False,
        connect_timeout: float = 0.5,
        read_timeout: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(table, str) or not 3 <= len(table) <= 255:
            raise ConfigurationError(
                "DynamoDBApiKeys table must be a table name (3-255 characters)"
            )
        if not isinstance(key_attribute, str) or not key_attribute:
            raise ConfigurationError("DynamoDBApiKeys key_attribute must be an attribute name")
        for name, value, top in (
            ("cache_ttl", cache_ttl, 3600),
            ("negative_cache_ttl", negative_cache_ttl, 3600),
            ("connect_timeout", connect_timeout, 10),
            ("read_timeout", read_timeout, 10),
        ):
            low_ok = value >= 0 if "cache" in name else value > 0
            if isinstance(value, bool) or not isinstance(value, int | float) or not low_ok:
                raise ConfigurationError(f"DynamoDBApiKeys {name} must be seconds, not {value!r}")
            if value > top:
                raise ConfigurationError(f"DynamoDBApiKeys {name} must be at most {top} s")
        if isinstance(max_cached, bool) or not isinstance(max_cached, int) or max_cached < 0:
            raise ConfigurationError("DynamoDBApiKeys max_cached must be a count (0 turns it off)")
        if client is None:
            client = short_timeout_client(
                "dynamodb",
                owner="DynamoDBApiKeys",
                extra="dynamodb",
                region=region,
                endpoint_url=endpoint_url,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                attempts=2,
            )
        self.client = client
        self.table = table
        self.key_attribute = key_attribute
        self.cache_ttl = float(cache_ttl)
        self.negative_cache_ttl = float(negative_cache_ttl)
        self.max_cached = max_cached
        self.consistent_read = consistent_read
        self._clock = clock
        self._wall_clock = wall_clock
        # hash -> (monotonic time the answer expires, entry or None, key expiry or None)
        self._cache: dict[str, tuple[float, ApiKeyEntry | None, float | None]] = {}

    def lookup(self, key: str) -> ApiKeyEntry | None:
        """The entry for a presented key, or None; raise KeysUnavailable if the table fails."""
        if not (MIN_API_KEY_LENGTH <= len(key) <= MAX_API_KEY_LENGTH):
            return None
        digest = hash_api_key(key)
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            entry, not_after = cached[1], cached[2]
        else:
            entry, not_after = self._fetch(digest)
            self._remember(digest, now, entry, not_after)
        if entry is not None and not_after is not None and self._wall_clock() >= not_after:
            return None
        return entry

    def invalidate(self, key: str | None = None) -> None:
        """Forget the cached answer for ``key`` (or every cached answer)."""
        if key is None:
            self._cache.clear()
        else:
            self._cache.pop(hash_api_key(key), None)

    @staticmethod
    def item(
        key: str,
        entry: ApiKeyEntry,
        *,
        key_attribute: str = "key_hash",
        disabled: bool = False,
        expires_at: float | None = None,
    ) -> dict[str, Any]:
        """The DynamoDB item (attribute-value form, for ``PutItem``) for a plain key.

        >>> item = DynamoDBApiKeys.item("k" * 32, ApiKeyEntry("partner-a", roles=("partner",)))
        >>> item["principal_id"], item["roles"], len(item["key_hash"]["S"])
        ({'S': 'partner-a'}, {'L': [{'S': 'partner'}]}, 64)
        """
        out: dict[str, Any] = {
            key_attribute: {"S": hash_api_key(key)},
            "principal_id": {"S": entry.principal_id},
        }
        for name in ("roles", "scopes"):
            values = getattr(entry, name)
            if values:
                out[name] = {"L": [{"S": v} for v in values]}
        if entry.tenant is not None:
            out["tenant"] = {"S": entry.tenant}
        if entry.usage_plan:
            out["usage_plan"] = {"BOOL": True}
        if entry.rate_limit is not None:
            out["rate_limit"] = {"S": entry.rate_limit}
        if disabled:
            out["disabled"] = {"BOOL": True}
        if expires_at is not None:
            out["expires_at"] = {"N": str(int(expires_at))}
        return out

    def _unavailable(self, **detail: Any) -> KeysUnavailable:
        return KeysUnavailable(detail={"source": self.SOURCE, "table": self.table, **detail})

    def _fetch(self, digest: str) -> tuple[ApiKeyEntry | None, float | None]:
        try:
            response = self.client.get_item(
                TableName=self.table,
                Key={self.key_attribute: {"S": digest}},
                ConsistentRead=self.consistent_read,
            )
        except Exception as exc:  # botocore's errors, whatever they are: fail closed
            raise self._unavailable(error=_error_code(exc)) from None
        item = response.get("Item") if isinstance(response, Mapping) else None
        if not item:
            return None, None
        stored = item.get(self.key_attribute, {}).get("S")
        if not isinstance(stored, str) or not hmac.compare_digest(stored, digest):
            raise self._unavailable(problem="item key does not match the key hash")
        return self._entry(item)

    def _entry(self, item: Mapping[str, Any]) -> tuple[ApiKeyEntry | None, float | None]:
        try:
            principal_id = _attr_str(item, "principal_id", required=True)
            assert principal_id is not None
            disabled = _attr_bool(item, "disabled")
            entry = ApiKeyEntry(
                principal_id,
                roles=_attr_strings(item, "roles"),
                scopes=_attr_strings(item, "scopes"),
                tenant=_attr_str(item, "tenant"),
                usage_plan=_attr_bool(item, "usage_plan"),
                rate_limit=_attr_str(item, "rate_limit"),
            )
            not_after = _attr_number(item, "expires_at")
        except _BadItem as bad:
            raise self._unavailable(problem="malformed API key item", attribute=str(bad)) from None
        return (None, None) if disabled else (entry, not_after)

    def _remember(
        self, digest: str, now: float, entry: ApiKeyEntry | None, not_after: float | None
    ) -> None:
        ttl = self.cache_ttl if entry is not None else self.negative_cache_ttl
        if not self.max_cached or ttl <= 0:
            return
        cache = self._cache
        if len(cache) >= self.max_cached and digest not in cache:
            for old in [d for d, v in cache.items() if v[0] <= now]:
                del cache[old]
            if len(cache) >= self.max_cached:
                for old in list(itertools.islice(cache, max(1, len(cache) // 2))):
                    del cache[old]
        cache[digest] = (now + ttl, entry, not_after)


class SecretsManagerApiKeys:
    """API keys in one Secrets Manager secret, read through Powertools Parameters and cached.

    The secret's value is a JSON object mapping ``hash_api_key(key)`` (64 hex characters;
    plain keys make the whole secret malformed) to the key's fields:

    ==================  ================  ===========================================
    field               JSON type         meaning
    ==================  ================  ===========================================
    ``principal_id``    string (needed)   the principal's id
    ``roles``           array of strings  roles (optional)
    ``scopes``          array of strings  scopes (optional)
    ``tenant``          string or null    tenant (optional)
    ``usage_plan``      boolean           return the key as ``usageIdentifierKey``
    ``rate_limit``      string or null    a limit such as ``"100/minute"``
    ``disabled``        boolean           true: the key is refused (revoked)
    ``expires_at``      number            epoch seconds after which the key is refused
    ==================  ================  ===========================================

    Other fields are refused (a misspelt ``disabled`` must not leave a key working).
    :meth:`fields` and :meth:`secret_string` build the value from plain keys. The JSON is
    parsed strictly: a hash listed twice, ``NaN`` or ``Infinity`` make it malformed.

    The secret is fetched with a Powertools ``SecretsProvider`` (one ``GetSecretValue``)
    and kept in Powertools' cache for ``max_age`` seconds (default 60): a rotated or
    revoked key is noticed within ``max_age``; :meth:`invalidate` makes the next lookup
    fetch again. The parsed mapping is reused while Powertools returns the cached value.

    Fail closed: when the secret cannot be read (unreachable, timed out, throttled, no such
    secret, no permission) or is malformed, :meth:`lookup` raises
    :class:`~secauth.errors.KeysUnavailable` (``detail["source"] ==
    "secretsmanager_api_keys"``, the secret id, and the error code or the problem; never
    the secret's content), which the Authorizer answers with 401, never an Allow. Nothing
    is served past ``max_age`` and failures are not cached.

    Built without ``client``, the boto3 client has short timeouts (0.5 s connect, 1 s
    read) and two attempts. ``aws-lambda-powertools`` and ``boto3`` are imported when the
    store is built: ``pip install 'secauth[secretsmanager]'`` (the Lambda runtime has
    boto3). The function needs ``secretsmanager:GetSecretValue`` on the secret (and
    ``kms:Decrypt`` for a customer-managed key). A secret holds at most 64 KB: some 300
    keys.
    """

    SOURCE = "secretsmanager_api_keys"
    FIELDS = frozenset(
        {
            "principal_id",
            "roles",
            "scopes",
            "tenant",
            "usage_plan",
            "rate_limit",
            "disabled",
            "expires_at",
        }
    )

    def __init__(
        self,
        secret_id: str,
        *,
        max_age: int = 60,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        connect_timeout: float = 0.5,
        read_timeout: float = 1.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(secret_id, str) or not 1 <= len(secret_id) <= 2048:
            raise ConfigurationError("SecretsManagerApiKeys secret_id must be a secret name or ARN")
        if isinstance(max_age, bool) or not isinstance(max_age, int) or not 0 <= max_age <= 3600:
            raise ConfigurationError(
                f"SecretsManagerApiKeys max_age must be whole seconds from 0 to 3600, "
                f"not {max_age!r}"
            )
        check_timeouts(
            "SecretsManagerApiKeys", connect_timeout=connect_timeout, read_timeout=read_timeout
        )
        try:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider
        except ImportError:
            raise ConfigurationError(
                "SecretsManagerApiKeys needs 'aws-lambda-powertools' and 'boto3': "
                "pip install 'secauth[secretsmanager]'"
            ) from None
        if client is None:
            client = short_timeout_client(
                "secretsmanager",
                owner="SecretsManagerApiKeys",
                extra="secretsmanager",
                region=region,
                endpoint_url=endpoint_url,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                attempts=2,
            )
        self.client = client
        self.provider = SecretsProvider(boto3_client=client)
        self.secret_id = secret_id
        self.max_age = max_age
        self._wall_clock = wall_clock
        self._force = False
        # The value Powertools last returned, and what it parsed to (or what is wrong with it).
        self._raw: object = None
        self._entries: dict[str, tuple[str, ApiKeyEntry | None, float | None]] = {}
        self._problem: dict[str, str] | None = None

    def lookup(self, key: str) -> ApiKeyEntry | None:
        """The entry for a presented key, or None; raise KeysUnavailable if the secret fails."""
        if not (MIN_API_KEY_LENGTH <= len(key) <= MAX_API_KEY_LENGTH):
            return None
        digest = hash_api_key(key)
        found = self._current().get(digest)
        if found is None:
            return None
        # The dict lookup matched on the digest; compare again in constant time, as
        # StaticApiKeys does.
        stored, entry, not_after = found
        if not hmac.compare_digest(stored, digest) or entry is None:
            return None
        if not_after is not None and self._wall_clock() >= not_after:
            return None
        return entry

    def invalidate(self) -> None:
        """Fetch the secret again on the next lookup, whatever its age."""
        self._force = True

    @staticmethod
    def fields(
        entry: ApiKeyEntry, *, disabled: bool = False, expires_at: float | None = None
    ) -> dict[str, Any]:
        """The JSON fields that stand for ``entry`` in the secret.

        >>> SecretsManagerApiKeys.fields(ApiKeyEntry("partner-a", roles=("partner",)))
        {'principal_id': 'partner-a', 'roles': ['partner']}
        """
        out: dict[str, Any] = {"principal_id": entry.principal_id}
        if entry.roles:
            out["roles"] = list(entry.roles)
        if entry.scopes:
            out["scopes"] = list(entry.scopes)
        if entry.tenant is not None:
            out["tenant"] = entry.tenant
        if entry.usage_plan:
            out["usage_plan"] = True
        if entry.rate_limit is not None:
            out["rate_limit"] = entry.rate_limit
        if disabled:
            out["disabled"] = True
        if expires_at is not None:
            out["expires_at"] = int(expires_at)
        return out

    @classmethod
    def secret_string(cls, pairs: Iterable[tuple[str, ApiKeyEntry]]) -> str:
        """The secret's value for ``(plain_key, entry)`` pairs, e.g. in a deploy script.

        >>> text = SecretsManagerApiKeys.secret_string([("k" * 32, ApiKeyEntry("p"))])
        >>> text == '{"%s": {"principal_id": "p"}}' % hash_api_key("k" * 32)
        True
        """
        import json

        return json.dumps({hash_api_key(key): cls.fields(entry) for key, entry in pairs})

    def _unavailable(self, **detail: Any) -> KeysUnavailable:
        return KeysUnavailable(detail={"source": self.SOURCE, "secret": self.secret_id, **detail})

    def _current(self) -> dict[str, tuple[str, ApiKeyEntry | None, float | None]]:
        try:
            raw = self.provider.get(self.secret_id, max_age=self.max_age, force_fetch=self._force)
        except Exception as exc:  # Powertools wraps botocore's errors: fail closed
            raise self._unavailable(error=_cause_code(exc)) from None
        self._force = False
        if raw is not self._raw:
            self._raw = raw
            self._entries, self._problem = {}, None
            try:
                self._entries = self._parse(raw)
            except _BadItem as bad:
                self._problem = {"problem": "malformed API key entry", "field": str(bad)}
            except _BadSecret as bad:
                self._problem = {"problem": str(bad)}
        if self._problem is not None:
            raise self._unavailable(**self._problem)
        return self._entries

    def _parse(self, raw: object) -> dict[str, tuple[str, ApiKeyEntry | None, float | None]]:
        from secauth._b64 import loads_strict_text

        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            document = loads_strict_text(text) if isinstance(text, str) else None
        except (ValueError, RecursionError):
            document = None
        if not isinstance(document, dict):
            raise _BadSecret("secret is not a strict JSON object")
        out: dict[str, tuple[str, ApiKeyEntry | None, float | None]] = {}
        for digest, item in document.items():
            if not (len(digest) == 64 and _is_hex(digest)) or digest.lower() in out:
                raise _BadSecret("secret maps something other than distinct SHA-256 hex digests")
            out[digest.lower()] = (digest.lower(), *_json_entry(item))
        return out


def _json_entry(item: object) -> tuple[ApiKeyEntry | None, float | None]:
    """An entry of SecretsManagerApiKeys' secret: (entry or None when disabled, expires_at)."""
    if not isinstance(item, dict):
        raise _BadSecret("secret has an entry that is not a JSON object")
    for name in item:
        if name not in SecretsManagerApiKeys.FIELDS:
            raise _BadSecret("secret has an entry with an unknown field")

    def text(name: str, *, required: bool = False) -> str | None:
        value = item.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise _BadItem(name)
        return value

    def flag(name: str) -> bool:
        value = item.get(name, False)
        if not isinstance(value, bool):
            raise _BadItem(name)
        return value

    def strings(name: str) -> tuple[str, ...]:
        value = item.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise _BadItem(name)
        return tuple(value)

    principal_id = text("principal_id", required=True)
    assert principal_id is not None
    entry = ApiKeyEntry(
        principal_id,
        roles=strings("roles"),
        scopes=strings("scopes"),
        tenant=text("tenant"),
        usage_plan=flag("usage_plan"),
        rate_limit=text("rate_limit"),
    )
    expires_at = item.get("expires_at")
    not_after: float | None = None
    if expires_at is not None:
        if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
            raise _BadItem("expires_at")
        try:
            not_after = float(expires_at)
        except OverflowError:
            raise _BadItem("expires_at") from None
        if not math.isfinite(not_after):
            raise _BadItem("expires_at")
    return (None, None) if flag("disabled") else (entry, not_after)


def _cause_code(exc: BaseException) -> str:
    """The AWS error code (or exception name) of the error a Powertools error wraps."""
    cause = exc.__cause__ or exc.__context__
    return _error_code(cause if cause is not None else exc)


class _BadItem(Exception):
    """An API key item attribute has the wrong type (its name is the message)."""


class _BadSecret(Exception):
    """SecretsManagerApiKeys' secret is not shaped as it must be (the problem is the message)."""


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return code
    return type(exc).__name__


def _attr_str(item: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = item.get(name)
    if value is None:
        if required:
            raise _BadItem(name)
        return None
    text = value.get("S") if isinstance(value, Mapping) else None
    if not isinstance(text, str) or not text:
        raise _BadItem(name)
    return text


def _attr_bool(item: Mapping[str, Any], name: str) -> bool:
    value = item.get(name)
    if value is None:
        return False
    flag = value.get("BOOL") if isinstance(value, Mapping) else None
    if not isinstance(flag, bool):
        raise _BadItem(name)
    return flag


def _attr_number(item: Mapping[str, Any], name: str) -> float | None:
    value = item.get(name)
    if value is None:
        return None
    text = value.get("N") if isinstance(value, Mapping) else None
    try:
        number = float(text) if isinstance(text, str) else None
    except ValueError:
        number = None
    if number is None or not math.isfinite(number):
        raise _BadItem(name)
    return number


def _attr_strings(item: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = item.get(name)
    if value is None:
        return ()
    if isinstance(value, Mapping) and isinstance(value.get("SS"), list):
        values = value["SS"]
    elif isinstance(value, Mapping) and isinstance(value.get("L"), list):
        values = [v.get("S") if isinstance(v, Mapping) else None for v in value["L"]]
    else:
        raise _BadItem(name)
    if not all(isinstance(v, str) and v for v in values):
        raise _BadItem(name)
    return tuple(values)


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
