"""Key sets and where they come from: static sets and the caching JWKS client.

A :class:`KeySet` is an immutable set of imported :class:`~secauth.jose.VerificationKey`
objects, indexed by ``kid``. A *key source* hands the verifier the candidate
keys for a token's ``kid``:

* :class:`StaticKeys` from a dict, a file or an environment variable (these need no
  network and live in :mod:`secauth.key_sets`, with :class:`KeySet` and
  :class:`KeySource`; this module re-exports them);
* :class:`JwksCache`, which fetches a JWKS URI (or finds it through OIDC
  discovery) and keeps it fresh with these rules:

  - keys are imported once per fetch, never per token;
  - after ``ttl`` seconds a lookup refreshes the set: one fetch, however many
    threads ask at once, or coroutines of one event loop (loops in other threads do
    not wait for it, since a loop left unclosed would hold them forever: each may
    fetch once);
  - if that refresh fails, the old keys stay in use until they are ``max_age``
    old (stale-if-error), then every lookup fails with ``keys_unavailable``;
  - a ``kid`` the set does not know triggers at most one fetch per
    ``refetch_cooldown``; a flood of random kids costs one fetch, not thousands;
  - failed fetches back off exponentially, up to ``max_backoff`` seconds;
  - a failure's cause (a :class:`FetchCause` of safe fields) is in the warning's
    text, in :attr:`JwksCache.last_failure` and in ``keys_unavailable``'s ``detail``.

Example
-------
>>> from secauth.testing import LocalIssuer
>>> with LocalIssuer() as idp:
...     cache = JwksCache(idp.jwks_uri, allow_http=True)
...     cache.hydrate()
...     [k.kid for k in cache.keys_for("key-1")]
True
['key-1']
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from secauth._elapsed import Since
from secauth._fetch import (
    FetchCause,
    FetchError,
    FetchResult,
    as_fetch_error,
    fetch_json,
    fetch_policy,
    jwks_uri_of,
)
from secauth._fetch_async import fetch_json_async
from secauth._urls import check_url, shown_url
from secauth.errors import ConfigurationError, KeysUnavailable, UnknownKey
from secauth.jwk import VerificationKey
from secauth.key_sets import MAX_KEYS, KeySet, KeySource, StaticKeys
from secauth.options import flag

if TYPE_CHECKING:
    import asyncio
    import logging

__all__ = ["FetchCause", "JwksCache", "KeySet", "KeySource", "StaticKeys"]


def _logger() -> logging.Logger:
    # logging is imported on the first message, not on the cold path.
    import logging

    return logging.getLogger("secauth.jwks")


_Fetched = tuple[KeySet, float | None]  # a fetched key set and its Cache-Control max-age


class JwksStats(NamedTuple):
    """Counters for operations: fetches tried, failed, and key-set changes seen; and
    ``discovery_failures``, the fetches whose discovery document failed (unreachable,
    another issuer, a refused ``jwks_uri``) and that used the ``jwks_uri`` the last good
    one named (the fetch itself may then succeed: alert on this count too). ``age``: the
    set's age in seconds, None with no set or when a clock reads earlier than its fetch
    (the set is then due)."""

    fetches: int
    failures: int
    generation: int
    key_count: int
    age: float | None
    discovery_failures: int = 0


class JwksCache:
    """A JWKS fetched over HTTPS and kept fresh; thread-safe and asyncio-safe.

    Parameters
    ----------
    url:
        The JWKS URI (https). Use :meth:`from_discovery` to find it from an issuer.
    ttl:
        Seconds a fetched set counts as fresh (default 600).
    max_age:
        Seconds a set may be used at all; between ``ttl`` and ``max_age`` it is
        used only while refreshing fails (default 6 hours).
    refetch_cooldown:
        Minimum seconds between fetches caused by unknown ``kid`` values (default 30).
    max_backoff:
        Upper bound of the exponential wait after failed fetches (default 60).
    timeout, max_bytes, allow_http, user_agent:
        The fetch policy: total deadline (2 s), body cap (64 KiB), plain http to
        loopback for tests, and the User-Agent header.
    respect_cache_control:
        Use the response's ``Cache-Control: max-age`` as the TTL, clamped to
        ``[min_ttl, max_age]``.

    Example
    -------
    >>> cache = JwksCache("https://idp.example.com/.well-known/jwks.json", ttl=300)
    >>> cache.stats().fetches
    0
    """

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 600.0,
        max_age: float = 6 * 3600.0,
        refetch_cooldown: float = 30.0,
        max_backoff: float = 60.0,
        timeout: float = 2.0,
        max_bytes: int = 64 * 1024,
        allow_http: bool = False,
        user_agent: str | None = None,
        respect_cache_control: bool = False,
        min_ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        discovery_issuer: str | None = None,
    ) -> None:
        if not 0 < ttl <= max_age < math.inf:
            raise ConfigurationError("JwksCache needs 0 < ttl <= max_age")
        if not all(0 <= value < math.inf for value in (refetch_cooldown, max_backoff, min_ttl)):
            raise ConfigurationError(  # NaN would never refetch, never retry
                "refetch_cooldown, max_backoff and min_ttl must not be negative, NaN or infinite"
            )
        self.policy = fetch_policy(
            timeout=timeout, max_bytes=max_bytes, allow_http=allow_http, user_agent=user_agent
        )
        self.url = check_url(url, allow_http=allow_http)
        if discovery_issuer is not None and (
            not isinstance(discovery_issuer, str) or not discovery_issuer.strip()
        ):
            raise ConfigurationError("discovery_issuer must be the issuer's exact iss, or None")
        self.discovery_issuer = discovery_issuer
        self.ttl = ttl
        self.max_age = max_age
        self.refetch_cooldown = refetch_cooldown
        self.max_backoff = max_backoff
        self.respect_cache_control = flag("respect_cache_control", respect_cache_control)
        self.min_ttl = min_ttl
        self._clock = clock
        # The jwks_uri the last good discovery document named (a discovery outage then
        # leaves refreshes to it); the configured URL without discovery.
        self._jwks_url: str | None = None if discovery_issuer is not None else self.url
        self._discovery_failures = 0
        self._lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._inflight: tuple[asyncio.AbstractEventLoop, asyncio.Task[None]] | None = None
        # State: the current set, when it was fetched and for how long it is fresh; when
        # the latest fetch started, and how long to wait after it (a failure's back-off).
        # Ages are read with Since: a clock that went back makes everything due.
        self._keys: KeySet | None = None
        self._fetched: Since | None = None
        self._fresh_seconds = 0.0
        self._attempted: Since | None = None
        self._backoff = 0.0
        self._last_cause: FetchCause | None = None  # set while the latest fetch failed
        self._failures_in_row = 0
        self._attempts = 0
        self._failures = 0
        self._generation = 0
        self._reported: set[str] = set()  # skipped-key reasons logged already, logged once

    @classmethod
    def from_discovery(cls, issuer: str, **options: Any) -> JwksCache:
        """Find the JWKS URI in ``{issuer}/.well-known/openid-configuration``.

        The discovery document's ``issuer`` must equal ``issuer`` exactly (OpenID
        Connect Discovery 1.0, section 4.3), or no key is trusted. It is read again on
        every fetch, so a ``jwks_uri`` the IdP moves is followed at the next refresh.
        """
        discovery = issuer.rstrip("/") + "/.well-known/openid-configuration"
        return cls(discovery, discovery_issuer=issuer, **options)

    # -- the KeySource protocol -----------------------------------------------------------

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def fresh_for(self) -> float:
        """Seconds until a lookup would refresh the set (0: due now, or never fetched)."""
        return max(0.0, self._fresh_seconds - self._age(self._fetched, self._clock()))

    def keys_for(self, kid: str | None) -> tuple[VerificationKey, ...]:
        """Candidate keys for ``kid``, fetching when needed.

        Raises :class:`~secauth.errors.UnknownKey` (401) when the IdP does not
        publish the kid, :class:`~secauth.errors.KeysUnavailable` (503) when no
        usable key set can be had.
        """
        attempts_seen = self._attempts  # read first: a fetch finishing after this is seen below
        found, now = self._fresh(kid)
        if found:
            return found
        with self._lock:
            if self._attempts == attempts_seen and self._may_fetch(now):
                self._record(self._fetch_sync)
        return self._lookup(kid)

    async def keys_for_async(self, kid: str | None) -> tuple[VerificationKey, ...]:
        """Async twin of :meth:`keys_for`; concurrent coroutines of this event loop share
        one fetch (loops in other threads make their own)."""
        found, now = self._fresh(kid)
        if found:
            return found
        import asyncio

        loop = asyncio.get_running_loop()
        inflight = self._inflight
        if inflight is not None and inflight[0] is loop and not inflight[1].done():
            await asyncio.shield(inflight[1])
        elif self._may_fetch(now):
            task = loop.create_task(self._record_async())
            self._inflight = (loop, task)
            await asyncio.shield(task)
        return self._lookup(kid)

    def hydrate(self, *, strict: bool = False) -> bool:
        """Fetch now (call it in the Lambda init phase). Returns whether keys are ready.

        With ``strict=True`` a failure raises :class:`~secauth.errors.KeysUnavailable`
        instead of returning False; either way later lookups retry with backoff.
        """
        with self._lock:
            self._record(self._fetch_sync)
        ready = self._usable(self._clock()) is not None
        if not ready and strict:
            raise self._unavailable(url=shown_url(self.url))
        return ready

    @property
    def last_failure(self) -> FetchCause | None:
        """Why the latest fetch failed, or None when it succeeded (or none ran yet).

        >>> JwksCache("https://idp.example.com/jwks.json").last_failure is None
        True
        """
        return self._last_cause

    def stats(self) -> JwksStats:
        keys = self._keys
        age = self._age(self._fetched, self._clock()) if keys is not None else None
        if age is not None and not math.isfinite(age):
            age = None  # a clock read earlier than the fetch: unknown (the set is due)
        return JwksStats(
            self._attempts,
            self._failures,
            self._generation,
            len(keys) if keys else 0,
            age,
            self._discovery_failures,
        )

    # -- internals ----------------------------------------------------------------------

    def _fresh(self, kid: str | None) -> tuple[tuple[VerificationKey, ...], float]:
        """What a lookup knows without fetching: the keys for ``kid`` in a fresh set (empty
        when a fetch is due) and the time of asking. Raises while the refetch an unknown
        ``kid`` would cause is cooling down."""
        keys = self._keys
        now = self._clock()
        if keys is not None and self._age(self._fetched, now) < self._fresh_seconds:
            found = keys.keys_for(kid)
            if found or self._age(self._attempted, now) >= self.refetch_cooldown:
                return found, now
            raise self._unknown(kid, refetch="cooling down")
        return (), now

    def _may_fetch(self, now: float) -> bool:
        """Whether a fetch may start now: not while backing off after failures."""
        return self._age(self._attempted, now) >= self._backoff

    @staticmethod
    def _age(since: Since | None, now: float) -> float:
        """Seconds since ``since`` (:meth:`Since.age <secauth._elapsed.Since.age>`; never:
        infinite)."""
        return math.inf if since is None else since.age(now)

    def _unknown(self, kid: str | None, **detail: str) -> KeysUnavailable | UnknownKey:
        """The error for a ``kid`` the set lacks: 401, or 503 when the latest attempt to ask
        the IdP failed (we cannot tell a new key from a bad one: our outage)."""
        if self._last_cause is not None:
            return self._unavailable(kid=kid, problem="unknown kid while IdP unreachable")
        return UnknownKey(detail={"kid": kid, **detail})

    def _unavailable(self, **detail: Any) -> KeysUnavailable:
        """A 503 whose detail carries the last failure's cause, when there is one."""
        cause = self.last_failure
        if cause is not None:
            detail["cause"] = cause.as_dict()
        return KeysUnavailable(detail=detail)

    def _usable(self, now: float) -> KeySet | None:
        keys = self._keys
        if keys is None or self._age(self._fetched, now) >= self.max_age:
            return None
        return keys

    def _lookup(self, kid: str | None) -> tuple[VerificationKey, ...]:
        keys = self._usable(self._clock())
        if keys is None:
            raise self._unavailable(url=shown_url(self.url), problem="no usable key set")
        found = keys.keys_for(kid)
        if found:
            return found
        raise self._unknown(kid)

    # The twins differ only in how they wait for I/O; reading what was fetched
    # (_discovered, _known_jwks_url, _imported) and what a failure means (as_fetch_error,
    # _apply) are shared. With discovery, the document is read on every fetch: a jwks_uri
    # the IdP moved is followed at the next refresh. When it cannot be read, the jwks_uri
    # the last good one named is fetched (a discovery outage must not stop a JWKS that is up).

    def _fetch_sync(self) -> _Fetched:
        jwks_url = self._jwks_url
        if self.discovery_issuer is not None:
            try:
                discovery = fetch_json(self.url, self.policy, document="discovery")
                jwks_url = self._discovered(discovery.document)
            except FetchError as exc:
                jwks_url = self._known_jwks_url(exc)
        assert jwks_url is not None
        return _imported(fetch_json(jwks_url, self.policy, document="jwks"))

    async def _fetch_async(self) -> _Fetched:
        jwks_url = self._jwks_url
        if self.discovery_issuer is not None:
            try:
                discovery = await fetch_json_async(self.url, self.policy, document="discovery")
                jwks_url = self._discovered(discovery.document)
            except FetchError as exc:
                jwks_url = self._known_jwks_url(exc)
        assert jwks_url is not None
        return _imported(await fetch_json_async(jwks_url, self.policy, document="jwks"))

    def _discovered(self, document: Any) -> str:
        """The ``jwks_uri`` of a discovery document (checked), kept for its outages."""
        self._jwks_url = jwks_uri_of(document, self.discovery_issuer, self.policy)
        return self._jwks_url

    def _known_jwks_url(self, failure: FetchError) -> str:
        """The ``jwks_uri`` a good discovery document named before, with ``failure`` (the
        document's) logged; ``failure`` raised when there was none."""
        if self._jwks_url is None:
            raise failure
        with self._state_lock:
            self._discovery_failures += 1
        _logger().warning(
            "discovery document %s failed: %s; keys fetched from the jwks_uri it named before",
            shown_url(self.url),
            failure.cause,
            extra={"secauth_reason": "keys_unavailable", "secauth_cause": failure.cause.as_dict()},
        )
        return self._jwks_url

    def _record(self, fetch: Callable[[], _Fetched]) -> None:
        started = Since.at(self._clock())
        try:
            outcome: _Fetched | FetchError = fetch()
        except Exception as exc:  # a bug or an odd document must still count as a failure
            outcome = as_fetch_error(exc)
        self._apply(started, outcome)

    async def _record_async(self) -> None:
        started = Since.at(self._clock())
        try:
            outcome: _Fetched | FetchError = await self._fetch_async()
        except Exception as exc:  # a bug or an odd document must still count as a failure
            outcome = as_fetch_error(exc)
        self._apply(started, outcome)

    def _apply(self, started: Since, outcome: _Fetched | FetchError) -> None:
        with self._state_lock:
            self._attempts += 1
            self._attempted = started
            if isinstance(outcome, FetchError):
                self._failures += 1
                self._failures_in_row += 1
                self._last_cause = outcome.cause
                backoff = min(self.max_backoff, 2.0 ** (self._failures_in_row - 1))
                self._backoff = backoff
                # The cause is in the text: Lambda's plain-text log format drops `extra`.
                _logger().warning(
                    "JWKS fetch from %s failed: %s; next attempt in %g s at the earliest",
                    shown_url(self.url),
                    outcome.cause,
                    backoff,
                    extra={
                        "secauth_reason": "keys_unavailable",
                        "secauth_problem": str(outcome),
                        "secauth_cause": outcome.cause.as_dict(),
                        "secauth_backoff": backoff,
                    },
                )
                return
            keys, max_age = outcome
            for reason in keys.skipped:
                if reason not in self._reported and len(self._reported) < 4 * MAX_KEYS:
                    self._reported.add(reason)
                    _logger().info("JWKS from %s: skipped %s", shown_url(self.url), reason)
            changed = self._keys is None or keys.fingerprint != self._keys.fingerprint
            self._keys = keys
            self._fetched = started
            self._fresh_seconds = self._ttl_for(max_age)
            self._failures_in_row = 0
            self._last_cause = None
            self._backoff = 0.0
            if changed:
                # Last: a verification that reads the new generation (before its key lookup)
                # then finds the new keys; one that read the old one caches under it, stale.
                self._generation += 1

    def _ttl_for(self, max_age: float | None) -> float:
        if not self.respect_cache_control or max_age is None:
            return self.ttl
        return min(max(max_age, self.min_ttl), self.max_age)


def _imported(result: FetchResult) -> _Fetched:
    """The key set of a fetched JWKS document, and its max-age."""
    return KeySet.from_jwks(result.document), result.max_age
