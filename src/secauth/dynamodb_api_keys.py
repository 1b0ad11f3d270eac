"""API keys in a DynamoDB table: one ``GetItem`` by the key's hash, cached in memory,
failing closed. ``boto3`` is imported when the store is built.
"""

from __future__ import annotations

import hmac
import itertools
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from secauth._aws import error_code, short_timeout_client
from secauth._elapsed import Since
from secauth.api_keys import (
    ENTRY_FIELDS,
    MAX_API_KEY_LENGTH,
    MIN_API_KEY_LENGTH,
    ApiKeyEntry,
    checked_key,
    hash_api_key,
    rate_limit_problem,
    stored_expiry,
    with_expiry,
)
from secauth.errors import ConfigurationError, KeysUnavailable
from secauth.options import flag
from secauth.plan_names import plan_problem

__all__ = ["DynamoDBApiKeys"]


class _Cached(NamedTuple):
    """A table answer read at ``since``, kept for ``ttl`` seconds (by both clocks, and not
    at all once a clock reads earlier: a restored snapshot asks the table again): the entry
    (None: no such key, or a disabled one) and the key's own expiry (wall clock, None: none)."""

    since: Since
    ttl: float
    entry: ApiKeyEntry | None
    not_after: float | None

    def live(self, now: float, wall: float) -> bool:
        """Whether the answer may still be used at ``now`` (the owner's monotonic clock)
        and ``wall`` (its wall clock)."""
        return self.since.age(now, wall=wall) < self.ttl


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
    ``rate_limit``      S               a limit such as ``"100/minute"`` (a bad one
                                        makes the item malformed)
    ``plan``            S               the key's plan (``PlanFrom.api_key()``; a bad
                                        name makes the item malformed)
    ``disabled``        BOOL            true: the key is refused (revoked)
    ``expires_at``      N               epoch seconds after which the key is refused
    ==================  ==============  ===========================================

    :meth:`item` builds such an item from a plain key and an :class:`ApiKeyEntry`.

    Answers are cached per hash for ``cache_ttl`` seconds (default 60), unknown keys for
    ``negative_cache_ttl`` (default 10), at most ``max_cached`` hashes of each (a flood of
    unknown keys never pushes a known one out): a revoked or changed key is noticed within
    ``cache_ttl``, a new key within ``negative_cache_ttl``.

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
        self.consistent_read = flag("consistent_read", consistent_read)
        self._clock = clock
        self._wall_clock = wall_clock
        # By key hash: known keys and unknown ones apart, each bounded at max_cached.
        self._known: dict[str, _Cached] = {}
        self._unknown: dict[str, _Cached] = {}
        # Counts invalidate() calls: an answer read before one is not kept after it.
        self._generation = 0

    def lookup(self, key: str) -> ApiKeyEntry | None:
        """The entry for a presented key, or None; raise KeysUnavailable if the table fails."""
        if not (MIN_API_KEY_LENGTH <= len(key) <= MAX_API_KEY_LENGTH):
            return None
        digest = hash_api_key(key)
        now, wall = self._clock(), self._wall_clock()
        cached = self._known.get(digest) or self._unknown.get(digest)
        if cached is not None and cached.live(now, wall):
            entry, not_after = cached.entry, cached.not_after
        else:
            generation = self._generation
            entry, not_after = self._fetch(digest)
            if generation == self._generation:  # else invalidated while it was read
                self._remember(digest, now, wall, entry, not_after)
        if entry is None or (not_after is not None and self._wall_clock() >= not_after):
            return None
        return with_expiry(entry, not_after)  # named in answers (secauth_exp)

    def invalidate(self, key: str | None = None) -> None:
        """Forget the cached answer for ``key`` (or every cached answer); an answer being
        read meanwhile is not kept."""
        self._generation += 1
        if key is None:
            self._known.clear()
            self._unknown.clear()
        else:
            self._known.pop(hash_api_key(key), None)
            self._unknown.pop(hash_api_key(key), None)

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

        A key no client could present (see :func:`~secauth.api_keys.api_key_problem`:
        20 to 256 printable ASCII characters) raises ConfigurationError naming the rule.

        >>> item = DynamoDBApiKeys.item("k" * 32, ApiKeyEntry("partner-a", roles=("partner",)))
        >>> item["principal_id"], item["roles"], len(item["key_hash"]["S"])
        ({'S': 'partner-a'}, {'L': [{'S': 'partner'}]}, 64)
        """
        out: dict[str, Any] = {
            key_attribute: {"S": checked_key(key, entry)},
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
        if entry.plan is not None:
            out["plan"] = {"S": entry.plan}
        if flag("disabled", disabled):
            out["disabled"] = {"BOOL": True}
        expires = stored_expiry(entry, expires_at)
        if expires is not None:
            out["expires_at"] = {"N": str(int(expires))}
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
            raise self._unavailable(error=error_code(exc)) from None
        item = response.get("Item") if isinstance(response, Mapping) else None
        if not item:
            return None, None
        stored = item.get(self.key_attribute, {}).get("S")
        if not isinstance(stored, str) or not hmac.compare_digest(stored, digest):
            raise self._unavailable(problem="item key does not match the key hash")
        return self._entry(item)

    def _entry(self, item: Mapping[str, Any]) -> tuple[ApiKeyEntry | None, float | None]:
        try:
            _no_misspelt_fields(item)
            principal_id = _attr_str(item, "principal_id", required=True)
            assert principal_id is not None
            disabled = _attr_bool(item, "disabled")
            entry = ApiKeyEntry(
                principal_id,
                roles=_attr_strings(item, "roles"),
                scopes=_attr_strings(item, "scopes"),
                tenant=_attr_str(item, "tenant"),
                usage_plan=_attr_bool(item, "usage_plan"),
                rate_limit=_attr_limit(item, "rate_limit"),
                plan=_attr_plan(item, "plan"),
            )
            not_after = _attr_number(item, "expires_at")
        except _BadItem as bad:
            raise self._unavailable(problem="malformed API key item", attribute=str(bad)) from None
        return (None, None) if disabled else (entry, not_after)

    def _remember(
        self,
        digest: str,
        now: float,
        wall: float,
        entry: ApiKeyEntry | None,
        not_after: float | None,
    ) -> None:
        ttl = self.cache_ttl if entry is not None else self.negative_cache_ttl
        if not self.max_cached or ttl <= 0:
            return
        # A key's answer replaces its other one (a key created or revoked since).
        (self._unknown if entry is not None else self._known).pop(digest, None)
        cache = self._known if entry is not None else self._unknown
        if len(cache) >= self.max_cached and digest not in cache:
            for old in [d for d, kept in list(cache.items()) if not kept.live(now, wall)]:
                del cache[old]
            if len(cache) >= self.max_cached:
                for old in list(itertools.islice(cache, max(1, len(cache) // 2))):
                    del cache[old]
        cache[digest] = _Cached(Since.at(now, wall=wall), ttl, entry, not_after)


class _BadItem(Exception):
    """An API key item attribute has the wrong type (its name is the message)."""


def _folded(name: str) -> str:
    """Letters and digits only, lower case: ``Expires At`` and ``disabled `` fold as the
    fields they were meant to be."""
    return "".join(c for c in name.lower() if c.isascii() and c.isalnum())


_FOLDED_FIELDS = {_folded(name): name for name in ENTRY_FIELDS}


def _no_misspelt_fields(item: Mapping[str, Any]) -> None:
    """Items may hold attributes of your own, but not a field's name spelt otherwise
    (``Disabled``, ``expires-at``): a misspelt ``disabled`` must not leave a key working."""
    for name in item:
        if isinstance(name, str) and name not in ENTRY_FIELDS and _folded(name) in _FOLDED_FIELDS:
            raise _BadItem(_FOLDED_FIELDS[_folded(name)])


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


def _attr_limit(item: Mapping[str, Any], name: str) -> str | None:
    """A rate limit attribute: a string the rate limiter parses, else the item is malformed."""
    text = _attr_str(item, name)
    if text is not None and rate_limit_problem(text) is not None:
        raise _BadItem(name)
    return text


def _attr_plan(item: Mapping[str, Any], name: str) -> str | None:
    """A plan attribute: a plan name, else the item is malformed."""
    text = _attr_str(item, name)
    if text is not None and plan_problem(text) is not None:
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
