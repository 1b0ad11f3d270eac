"""Where a :class:`~secauth.verifier.JwtVerifier` gets its keys, from its options: the
algorithms it accepts and exactly one key source (a JWKS URL, a JWKS or key source, or
an HMAC secret).

>>> sorted(checked_algorithms(["ES256"], hmac=False))
['ES256']
>>> key_source(None, None, bytes(range(32)), frozenset({"HS256"}), False).generation
1
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from secauth.errors import ConfigurationError
from secauth.jwk import (
    ASYMMETRIC_ALGORITHMS,
    HMAC_ALGORITHMS,
    SUPPORTED_ALGORITHMS,
    VerificationKey,
)
from secauth.key_sets import KeySource, StaticKeys
from secauth.options import flag

__all__ = ["SecretKey", "checked_algorithms", "key_source"]


def checked_algorithms(algorithms: Iterable[str] | None, *, hmac: bool) -> frozenset[str]:
    if algorithms is None:
        if hmac:
            raise ConfigurationError("with a secret, name the HMAC algorithm: algorithms=['HS256']")
        return ASYMMETRIC_ALGORITHMS
    if isinstance(algorithms, str):
        raise ConfigurationError("algorithms must be a list such as ['RS256'], not a string")
    chosen = frozenset(algorithms)
    unknown = chosen - SUPPORTED_ALGORITHMS
    if unknown or not chosen:
        raise ConfigurationError(
            f"unsupported algorithms {sorted(unknown)}; choose from {sorted(SUPPORTED_ALGORITHMS)}"
        )
    symmetric = chosen & HMAC_ALGORITHMS
    if symmetric and not hmac:
        raise ConfigurationError("HMAC algorithms need secret=...; they never use keys from a JWKS")
    if hmac and chosen - HMAC_ALGORITHMS:
        raise ConfigurationError(
            "a secret verifies HMAC only; do not mix it with asymmetric algorithms"
        )
    return chosen


def key_source(
    jwks_uri: str | None,
    jwks: Mapping[str, Any] | KeySource | None,
    secret: str | bytes | None,
    algorithms: frozenset[str],
    allow_http: bool,
) -> KeySource:
    flag("allow_http", allow_http)  # checked whatever the source: a URL's is used
    given = [
        name
        for name, value in (("jwks_uri", jwks_uri), ("jwks", jwks), ("secret", secret))
        if value is not None
    ]
    if len(given) != 1:
        raise ConfigurationError(
            f"give exactly one key source (jwks_uri, jwks or secret); got {given or 'none'}"
        )
    if jwks_uri is not None:
        from secauth.jwks import JwksCache  # the fetch machinery loads only for a URL

        return JwksCache(jwks_uri, allow_http=allow_http)
    if secret is not None:
        if not secret:
            raise ConfigurationError("secret must not be empty")
        key = VerificationKey.from_secret(secret, algorithms=algorithms)
        return SecretKey(key)
    if isinstance(jwks, KeySource):
        return jwks
    if isinstance(jwks, Mapping):
        return StaticKeys(jwks)
    raise ConfigurationError("jwks must be a JWKS dict or a KeySource such as JwksCache")


class SecretKey:
    """The key source for an HMAC secret: one key, whatever the kid."""

    generation = 1

    def __init__(self, key: VerificationKey) -> None:
        self._keys = (key,)

    def keys_for(self, kid: str | None) -> tuple[VerificationKey, ...]:
        return self._keys

    async def keys_for_async(self, kid: str | None) -> tuple[VerificationKey, ...]:
        return self._keys

    def hydrate(self, *, strict: bool = False) -> bool:
        return True
