"""Key sets that need no network: :class:`KeySet`, the imported keys of one JWKS indexed
by ``kid``; :class:`KeySource`, what a verifier asks for keys; and :class:`StaticKeys`, a
fixed key set from a dict, a file or an environment variable. The caching JWKS client,
:class:`~secauth.jwks.JwksCache`, fetches a :class:`KeySet`; :mod:`secauth.jwks`
re-exports all three.

>>> from secauth.testing import KeyPair
>>> keys = StaticKeys({"keys": [KeyPair.generate("ES256", kid="k").public_jwk]})
>>> [k.kid for k in keys.keys_for("k")], isinstance(keys, KeySource)
(['k'], True)
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from secauth._b64 import loads_strict_text
from secauth.errors import ConfigurationError, KeyImportError, UnknownKey
from secauth.jwk import VerificationKey, import_jwks

if TYPE_CHECKING:
    import logging

__all__ = ["MAX_JWKS_FILE_CHARS", "MAX_KEYS", "KeySet", "KeySource", "StaticKeys", "fresh_for"]

#: The most keys a JWKS may hold; a larger one is refused whole.
MAX_KEYS = 100
#: The largest JWKS file read (``StaticKeys.from_file``): the fetch's body cap is 64 KiB;
#: a packaged key set of :data:`MAX_KEYS` large RSA keys fits well within 1 MiB.
MAX_JWKS_FILE_CHARS = 1024 * 1024


def _logger() -> logging.Logger:
    # logging is imported on the first message, not on the cold path. The logger is the
    # JWKS one: static and fetched key sets report to the same place.
    import logging

    return logging.getLogger("secauth.jwks")


class KeySet:
    """An immutable set of verification keys, indexed by ``kid``.

    Keys a JWKS holds but that cannot verify signatures (encryption keys, unsupported
    key types and curves, weak RSA, private material, two keys under one ``kid``) are
    left out and listed in :attr:`skipped` by ``kid`` and reason
    (:func:`~secauth.jwk.import_jwks` says which and why).

    >>> from secauth.testing import KeyPair
    >>> ks = KeySet.from_jwks({"keys": [KeyPair.generate("ES256", kid="a").public_jwk]})
    >>> [k.kid for k in ks.keys_for("a")], ks.keys_for("b")
    (['a'], ())
    """

    __slots__ = ("_by_kid", "fingerprint", "keys", "skipped")

    def __init__(self, keys: Iterable[VerificationKey], skipped: Sequence[str] = ()) -> None:
        self.keys: tuple[VerificationKey, ...] = tuple(keys)
        self.skipped: tuple[str, ...] = tuple(skipped)
        by_kid: dict[str | None, tuple[VerificationKey, ...]] = {}
        for key in self.keys:
            by_kid[key.kid] = (*by_kid.get(key.kid, ()), key)
        self._by_kid = by_kid
        self.fingerprint = frozenset(json.dumps(k.jwk, sort_keys=True) for k in self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def keys_for(self, kid: str | None) -> tuple[VerificationKey, ...]:
        """The keys a token with this ``kid`` may be checked against.

        A token without a ``kid`` may use the set's only key; with several keys a
        ``kid`` is required, so a token never gets to try every key.
        """
        if kid is None:
            return self.keys if len(self.keys) == 1 else ()
        return self._by_kid.get(kid, ())

    @classmethod
    def from_jwks(cls, document: object) -> KeySet:
        """Import a JWKS document ``{"keys": [...]}``.

        Raises :class:`~secauth.jose.KeyImportError` when the document itself is
        not a JWKS; single unusable keys are skipped instead.

        >>> KeySet.from_jwks({"keys": [{"kty": "AKP", "kid": "pq"}]}).skipped
        ("kid 'pq': unsupported key type 'AKP'",)
        """
        if not isinstance(document, Mapping):
            raise KeyImportError("a JWKS must be a JSON object")
        entries = document.get("keys")
        if not isinstance(entries, list):
            raise KeyImportError("a JWKS needs a 'keys' array")
        if len(entries) > MAX_KEYS:
            raise KeyImportError(f"a JWKS with more than {MAX_KEYS} keys is refused")
        return cls(*import_jwks(entries))


@runtime_checkable
class KeySource(Protocol):
    """Where a verifier gets its keys. ``generation`` changes whenever the keys do.

    A source that refreshes its keys may also have a ``fresh_for`` property: the seconds
    until its next lookup would refresh them (:func:`fresh_for`). A verifier caches a
    verified token no longer than that, so a key the source drops stops counting.
    """

    @property
    def generation(self) -> int: ...

    def keys_for(self, kid: str | None) -> tuple[VerificationKey, ...]: ...

    async def keys_for_async(self, kid: str | None) -> tuple[VerificationKey, ...]: ...

    def hydrate(self, *, strict: bool = False) -> bool: ...


def fresh_for(source: object) -> float:
    """Seconds ``source``'s keys stay fresh: its ``fresh_for`` (0 when they are due for a
    refresh), or infinity for a source that never refreshes (:class:`StaticKeys`).

    >>> fresh_for(object())
    inf
    """
    seconds = getattr(source, "fresh_for", math.inf)  # optional in the protocol
    return float(seconds) if isinstance(seconds, int | float) else 0.0


class StaticKeys:
    """A fixed key set: from a JWKS dict, a JSON file, or an environment variable.

    Seeding keys this way skips the network on a cold start entirely.

    >>> from secauth.testing import KeyPair
    >>> keys = StaticKeys({"keys": [KeyPair.generate("EdDSA", kid="k").public_jwk]})
    >>> len(keys.key_set)
    1
    """

    generation = 1

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        try:
            self.key_set = KeySet.from_jwks(jwks)
        except KeyImportError as exc:
            raise ConfigurationError(f"static JWKS rejected: {exc}") from None
        for reason in self.key_set.skipped:
            _logger().warning("static JWKS: skipped %s", reason)
        if not self.key_set.keys:
            raise ConfigurationError("static JWKS holds no usable signing key")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> StaticKeys:
        """Load a JWKS from a JSON file (for example one packaged with the function)."""
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read(MAX_JWKS_FILE_CHARS + 1)
            if len(text) > MAX_JWKS_FILE_CHARS:  # /dev/zero, or no key set
                raise ConfigurationError(
                    f"JWKS file {os.fspath(path)!r} is larger than {MAX_JWKS_FILE_CHARS} characters"
                )
            return cls(loads_strict_text(text))  # duplicate names refused, as when fetched
        except (OSError, ValueError, RecursionError) as exc:
            if isinstance(exc, ConfigurationError):
                raise
            raise ConfigurationError(f"cannot read JWKS file {os.fspath(path)!r}: {exc}") from None

    @classmethod
    def from_env(cls, name: str = "SECAUTH_JWKS") -> StaticKeys:
        """Load a JWKS from the JSON in environment variable ``name``."""
        text = os.environ.get(name)
        if not text:
            raise ConfigurationError(f"environment variable {name} is not set or empty")
        try:
            return cls(loads_strict_text(text))
        except (ValueError, RecursionError) as exc:
            if isinstance(exc, ConfigurationError):
                raise
            raise ConfigurationError(f"environment variable {name} is not JSON: {exc}") from None

    def keys_for(self, kid: str | None) -> tuple[VerificationKey, ...]:
        found = self.key_set.keys_for(kid)
        if not found:
            raise UnknownKey(detail={"kid": kid})
        return found

    async def keys_for_async(self, kid: str | None) -> tuple[VerificationKey, ...]:
        return self.keys_for(kid)

    def hydrate(self, *, strict: bool = False) -> bool:
        return True
