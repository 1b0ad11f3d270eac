"""Partner API keys: how they are hashed, what an entry grants, and a static key store.

API keys are stored only as SHA-256 hashes (API keys are long random strings, so
a fast hash is the right tool; there is nothing to brute-force). A presented key
is hashed and looked up, and the stored hash is compared in constant time. Stores
backed by AWS services: :mod:`secauth.dynamodb_api_keys`,
:mod:`secauth.secretsmanager_api_keys`.

An API key is 20 (:data:`MIN_API_KEY_LENGTH`, API Gateway's own minimum) to 256
(:data:`MAX_API_KEY_LENGTH`) printable ASCII characters, without a space at either
end (:func:`api_key_problem`). Keys that break the rule are refused where plain keys
are loaded (:func:`entries`, ``DynamoDBApiKeys.item``,
``SecretsManagerApiKeys.secret_string``) with a
:class:`~secauth.errors.ConfigurationError`, and when presented with
:class:`~secauth.errors.MalformedToken`. A presented key loses the spaces and tabs
around it and nothing else: other whitespace (no-break space, ``U+3000``, control
characters) is not stripped but refused, so every spelling that reaches the store is
the one canonical key.

Example
-------
>>> keys = StaticApiKeys({hash_api_key("k" * 32): ApiKeyEntry("partner-a", roles=("partner",))})
>>> keys.lookup("k" * 32).principal().id
'partner-a'
>>> keys.lookup("wrong-key-of-some-length") is None
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from secauth.errors import AmbiguousCredentials, ConfigurationError, MalformedToken, MissingToken
from secauth.options import flag
from secauth.plan_names import plan_problem
from secauth.principal import Principal

if TYPE_CHECKING:
    from secauth.events import Request

__all__ = [
    "ENTRY_FIELDS",
    "MAX_API_KEY_LENGTH",
    "MIN_API_KEY_LENGTH",
    "ApiKeyEntry",
    "ApiKeyStore",
    "StaticApiKeys",
    "api_key_of",
    "api_key_problem",
    "checked_key",
    "entries",
    "hash_api_key",
    "is_key_digest",
    "plan_problem",
    "rate_limit_problem",
    "read_api_key",
    "stored_expiry",
    "with_expiry",
]

#: The fields of a stored API key entry (besides the key hash), as the key stores name them.
ENTRY_FIELDS: Final = frozenset(
    {
        "principal_id", "roles", "scopes", "tenant", "usage_plan", "rate_limit", "plan",
        "disabled", "expires_at",
    }
)  # fmt: skip

#: The shortest API key accepted (API Gateway's own minimum for API key values).
MIN_API_KEY_LENGTH: Final = 20
#: The longest API key accepted.
MAX_API_KEY_LENGTH: Final = 256
#: What a presented key loses at either end (and nothing else).
_AROUND: Final = " \t"
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")


def api_key_problem(key: object) -> str | None:
    """The rule ``key`` breaks as an API key (never the key itself), or None when it is one.

    >>> api_key_problem("k" * 32) is None
    True
    >>> api_key_problem("short")
    'an API key has at least 20 characters (MIN_API_KEY_LENGTH)'
    >>> api_key_problem("k" * 31 + "\u00a0")
    'an API key is printable ASCII: no control, non-ASCII or other whitespace characters'
    """
    if not isinstance(key, str):
        return "an API key is a string"
    if len(key) < MIN_API_KEY_LENGTH:
        return f"an API key has at least {MIN_API_KEY_LENGTH} characters (MIN_API_KEY_LENGTH)"
    if len(key) > MAX_API_KEY_LENGTH:
        return f"an API key has at most {MAX_API_KEY_LENGTH} characters (MAX_API_KEY_LENGTH)"
    if not (key.isascii() and key.isprintable()):
        return "an API key is printable ASCII: no control, non-ASCII or other whitespace characters"
    if key[0] == " " or key[-1] == " ":
        return "an API key does not start or end with a space (presented keys lose them)"
    return None


def hash_api_key(key: str) -> str:
    """The SHA-256 hex digest under which an API key is stored.

    >>> hash_api_key("example-key-0123456789")[:12]
    '298caeb640fd'
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKeyEntry:
    """What an API key stands for: a principal with roles, scopes and an optional tenant.

    ``usage_plan=True`` makes the authorizer return the presented key as
    ``usageIdentifierKey``, so API Gateway usage plans (quotas, throttling) apply.
    ``rate_limit`` is a limit such as ``"100/minute"`` for this key's entry alone,
    checked here with the rate limiter's own parser: a bad one is a
    :class:`~secauth.errors.ConfigurationError` now, not a refusal of every request.
    ``plan`` names the key's plan for ``RateLimiter.per_plan(..., plan_of=PlanFrom.api_key())``
    (1-64 letters, digits, ``.``, ``_``, ``-``); the principal carries it as the claim ``plan``.
    ``expires_at`` (seconds since the epoch) is when the key stops working: the principal
    carries it as the claim ``exp``, so an answer API Gateway caches names it
    (``secauth_exp``) and a Guard refuses the answer after it; a store refuses the key
    then (``DynamoDBApiKeys`` and ``SecretsManagerApiKeys`` set it from their stored
    ``expires_at``).

    >>> ApiKeyEntry("partner-a", rate_limit="100/minute").principal().kind
    'api_key'
    >>> dict(ApiKeyEntry("partner-a", plan="pro", expires_at=1_900_000_000).principal().claims)
    {'plan': 'pro', 'exp': 1900000000}
    >>> ApiKeyEntry("partner-a", rate_limit="5 per fortnight")
    Traceback (most recent call last):
    ...
    secauth.errors.ConfigurationError: ApiKeyEntry 'partner-a': invalid rate limit '5 per fortnight': unknown time unit 'fortnight'; use second, minute, hour or day (s, m, h, d), or a calendar week, month or 'calendar day'
    """  # noqa: E501

    principal_id: str
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    tenant: str | None = None
    usage_plan: bool = False
    rate_limit: str | None = None
    plan: str | None = None
    expires_at: float | None = None

    def __post_init__(self) -> None:
        flag(f"ApiKeyEntry {self.principal_id!r}: usage_plan", self.usage_plan)
        expires = self.expires_at
        if expires is not None and (
            type(expires) not in (int, float) or not 0 < expires < 2**53
        ):
            raise ConfigurationError(
                f"ApiKeyEntry {self.principal_id!r}: expires_at is seconds since the epoch"
            )
        try:
            self.principal()  # built now, so a bad field (roles="reader") fails here
        except ConfigurationError as err:
            raise ConfigurationError(f"ApiKeyEntry {self.principal_id!r}: {err}") from None
        if self.rate_limit is not None:
            problem = rate_limit_problem(self.rate_limit)
            if problem is not None:
                raise ConfigurationError(f"ApiKeyEntry {self.principal_id!r}: {problem}")
        if self.plan is not None:
            problem = plan_problem(self.plan)
            if problem is not None:
                raise ConfigurationError(f"ApiKeyEntry {self.principal_id!r}: {problem}")

    def principal(self) -> Principal:
        claims: dict[str, object] = {}
        if self.plan is not None:
            claims["plan"] = self.plan
        if self.expires_at is not None:
            claims["exp"] = self.expires_at
        return Principal(
            self.principal_id,
            tenant=self.tenant,
            roles=self.roles,
            scopes=self.scopes,
            claims=claims or None,
            kind="api_key",
        )


def stored_expiry(entry: ApiKeyEntry, expires_at: float | None) -> float | None:
    """The expiry a store item or secret field keeps for ``entry``: ``expires_at`` as given
    to the deploy helper, else the entry's own; a ConfigurationError when they disagree.

    >>> stored_expiry(ApiKeyEntry("p", expires_at=1_900_000_000), None)
    1900000000
    """
    if expires_at is not None and entry.expires_at is not None and expires_at != entry.expires_at:
        raise ConfigurationError(
            "expires_at given twice, differently: on the ApiKeyEntry and as an argument; "
            "give it once"
        )
    return expires_at if expires_at is not None else entry.expires_at


def with_expiry(entry: ApiKeyEntry, not_after: float | None) -> ApiKeyEntry:
    """``entry`` carrying a store's ``not_after`` as its ``expires_at`` (named in answers as
    ``secauth_exp``); an expiry no float second holds (2**53 and more) is none to name.

    >>> with_expiry(ApiKeyEntry("p"), 1_900_000_000.0).expires_at
    1900000000.0
    """
    if not_after is None or not_after >= 2**53:
        return entry
    return dataclasses.replace(entry, expires_at=not_after)


class ApiKeyStore(Protocol):
    """Where API keys are looked up, by the SHA-256 hex of the presented key. ``lookup``
    answers None for an unknown key and for one past its expiry (by the store's clock:
    the Authorizer does not check ``expires_at`` again), as secauth's stores do."""

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
            if digest.lower() in self._entries:
                raise ConfigurationError("StaticApiKeys lists one key hash twice (in two cases)")
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
        if entry.expires_at is not None and time.time() >= entry.expires_at:
            return None
        return entry if hmac.compare_digest(stored, digest) else None


def is_key_digest(text: object) -> bool:
    """Whether ``text`` is how key stores name a key: 64 hexadecimal characters.

    >>> is_key_digest(hash_api_key("k" * 32)), is_key_digest("k" * 64)
    (True, False)
    """
    # ASCII hex digits only: int(text, 16) would take "0x", "_", signs and other scripts.
    return isinstance(text, str) and len(text) == 64 and all(c in _HEX_DIGITS for c in text)


def rate_limit_problem(limit: object) -> str | None:
    """Why ``limit`` is not a rate limit such as ``"100/minute"``, or None when it is one.

    >>> rate_limit_problem("100/minute") is None, rate_limit_problem(100)
    (True, 'a rate limit is a string such as "100/minute", not int')
    """
    if not isinstance(limit, str):
        return f'a rate limit is a string such as "100/minute", not {type(limit).__name__}'
    from secauth.ratelimit.limit import Limit  # only when a limit is given: import cost

    try:
        Limit.parse(limit)
    except ConfigurationError as exc:
        return exc.public_message
    return None


def read_api_key(headers: Mapping[str, str], header: str) -> str:
    """The API key from ``header`` (lower-cased name), without the spaces and tabs around
    it; raise MissingToken, or MalformedToken for a value no key can have.

    >>> read_api_key({"x-api-key": " \tpk-0123456789abcdefghij "}, "x-api-key")
    'pk-0123456789abcdefghij'
    >>> read_api_key({"x-api-key": "\u3000pk-0123456789abcdefghij"}, "x-api-key")
    Traceback (most recent call last):
    ...
    secauth.errors.MalformedToken: malformed token (malformed_token)
    """
    value = headers.get(header)
    value = value.strip(_AROUND) if isinstance(value, str) else None
    if not value:
        raise MissingToken()
    problem = api_key_problem(value)
    if problem is not None:
        raise MalformedToken(detail={"problem": problem})
    return value


def api_key_of(request: Request, header: str) -> str:
    """The API key ``request`` presents in ``header`` (lower-cased name), as
    :func:`read_api_key` reads it; raise AmbiguousCredentials when the header is given
    more than once (REST keeps only the last copy in ``headers``: another layer may read
    the first), as for bearer tokens.

    >>> from secauth.testing_events import rest_proxy
    >>> from secauth.events import Request
    >>> key = "pk-0123456789abcdefghij"
    >>> api_key_of(Request.from_event(rest_proxy(headers={"x-api-key": key})), "x-api-key")
    'pk-0123456789abcdefghij'
    >>> api_key_of(Request.from_event(rest_proxy(headers={"x-api-key": [key, key]})),
    ...            "x-api-key")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    secauth.errors.AmbiguousCredentials: credentials presented more than once ...
    """
    if len(request.header_values(header)) > 1:
        raise AmbiguousCredentials(detail={"problem": "given twice", "source": f"header {header}"})
    return read_api_key(request.headers, header)


def entries(pairs: Iterable[tuple[str, ApiKeyEntry]]) -> dict[str, ApiKeyEntry]:
    """Build a ``{hash: entry}`` mapping from ``(plain_key, entry)`` pairs, e.g. in a deploy script.

    A key that breaks the rule of :func:`api_key_problem` raises ConfigurationError
    naming the entry and the rule, never the key.

    >>> len(entries([("k" * 32, ApiKeyEntry("p"))]))
    1
    >>> entries([("too-short", ApiKeyEntry("p"))])
    Traceback (most recent call last):
    ...
    secauth.errors.ConfigurationError: the API key of entry 'p': an API key has at least 20 characters (MIN_API_KEY_LENGTH)
    """  # noqa: E501
    return {checked_key(key, entry): entry for key, entry in pairs}


def checked_key(key: str, entry: ApiKeyEntry) -> str:
    """``hash_api_key(key)`` for a key being loaded; raise ConfigurationError naming the
    entry and the broken rule (never the key) when ``key`` cannot be an API key."""
    problem = api_key_problem(key)
    if problem is not None:
        raise ConfigurationError(f"the API key of entry {entry.principal_id!r}: {problem}")
    return hash_api_key(key)
