"""API keys in one AWS Secrets Manager secret, read through Powertools Parameters and
cached, failing closed. ``aws-lambda-powertools`` and ``boto3`` are imported when the
store is built.
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

from secauth._aws import check_timeouts, error_code, short_timeout_client
from secauth.api_keys import (
    ENTRY_FIELDS,
    MAX_API_KEY_LENGTH,
    MIN_API_KEY_LENGTH,
    ApiKeyEntry,
    checked_key,
    hash_api_key,
    is_key_digest,
    rate_limit_problem,
    stored_expiry,
    with_expiry,
)
from secauth.errors import ConfigurationError, KeysUnavailable
from secauth.options import flag
from secauth.plan_names import plan_problem

__all__ = ["SecretsManagerApiKeys"]


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
    ``rate_limit``      string or null    a limit such as ``"100/minute"`` (checked)
    ``plan``            string or null    the key's plan (``PlanFrom.api_key()``; checked)
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
    FIELDS = ENTRY_FIELDS

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
        return with_expiry(entry, not_after)  # named in answers (secauth_exp)

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
        if entry.plan is not None:
            out["plan"] = entry.plan
        if flag("disabled", disabled):
            out["disabled"] = True
        expires = stored_expiry(entry, expires_at)
        if expires is not None:
            out["expires_at"] = int(expires)
        return out

    @classmethod
    def secret_string(cls, pairs: Iterable[tuple[str, ApiKeyEntry]]) -> str:
        """The secret's value for ``(plain_key, entry)`` pairs, e.g. in a deploy script.

        A key no client could present (see :func:`~secauth.api_keys.api_key_problem`:
        20 to 256 printable ASCII characters) raises ConfigurationError naming the rule.

        >>> text = SecretsManagerApiKeys.secret_string([("k" * 32, ApiKeyEntry("p"))])
        >>> text == '{"%s": {"principal_id": "p"}}' % hash_api_key("k" * 32)
        True
        """
        import json

        return json.dumps({checked_key(key, entry): cls.fields(entry) for key, entry in pairs})

    def _unavailable(self, **detail: Any) -> KeysUnavailable:
        return KeysUnavailable(detail={"source": self.SOURCE, "secret": self.secret_id, **detail})

    def _current(self) -> dict[str, tuple[str, ApiKeyEntry | None, float | None]]:
        try:
            raw = self.provider.get(self.secret_id, max_age=self.max_age, force_fetch=self._force)
        except Exception as exc:  # Powertools wraps botocore's errors: fail closed
            raise self._unavailable(
                error=error_code(exc.__cause__ or exc.__context__ or exc)
            ) from None
        self._force = False
        if raw is not self._raw:
            self._entries, self._problem = {}, None
            try:
                self._entries = self._parse(raw)
            except _BadItem as bad:
                self._problem = {"problem": "malformed API key entry", "field": str(bad)}
            except _BadSecret as bad:
                self._problem = {"problem": str(bad)}
            # Only now: a value whose parse broke otherwise is parsed again, never kept as
            # "no keys".
            self._raw = raw
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
            if not is_key_digest(digest) or digest.lower() in out:
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
    rate_limit = text("rate_limit")
    if rate_limit is not None and rate_limit_problem(rate_limit) is not None:
        raise _BadItem("rate_limit")
    plan = text("plan")
    if plan is not None and plan_problem(plan) is not None:
        raise _BadItem("plan")
    entry = ApiKeyEntry(
        principal_id,
        roles=strings("roles"),
        scopes=strings("scopes"),
        tenant=text("tenant"),
        usage_plan=flag("usage_plan"),
        rate_limit=rate_limit,
        plan=plan,
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


class _BadItem(Exception):
    """An API key item attribute has the wrong type (its name is the message)."""


class _BadSecret(Exception):
    """SecretsManagerApiKeys' secret is not shaped as it must be (the problem is the message)."""
