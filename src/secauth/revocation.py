"""``Revocations``: tokens that verify but must be refused, checked on every verification.

A :class:`~secauth.verifier.JwtVerifier` given ``revocations=`` consults it after the
signature and the claims pass, on every verification: verified-token cache hits and the
Authorizer's memo hits included. Four kinds of entry, each keyed by the issuer:

* a token, by ``jti`` (:meth:`Revocations.revoke_token`);
* a refresh-token family, by Cognito's ``origin_jti`` (:meth:`Revocations.revoke_family`:
  what Cognito's ``RevokeToken`` invalidates);
* a subject "signed out everywhere before T": its tokens issued (``iat``) before T
  (:meth:`Revocations.revoke_subject`);
* an app client, by ``client_id`` (or ``azp``): its tokens issued before T
  (:meth:`Revocations.revoke_client`).

An entry lives as long as the longest-lived token it can affect: ``max_token_lifetime``
(default one day) after it was written, plus :data:`ENTRY_MARGIN` (the most leeway past
``exp`` and future ``iat`` a verifier accepts), so the list never grows without bound. A verifier
given ``revocations=`` therefore refuses a token that could outlive its entries (no
``exp`` or no ``iat``, or ``exp - iat`` over ``max_token_lifetime``: ``invalid_claims``;
:class:`~secauth.claim_policy.ClaimPolicy`'s ``max_lifetime``): once the entry expired, a
revoked one would be accepted again. Subject and client entries refuse a token without
``iat`` (its age is unknown).

Cost: the answers for a token's keys are kept in the container for ``max_staleness``
seconds (default 30), so a repeated token costs no round trip, and a new one one round
trip for all of its keys at once. A revocation therefore takes effect everywhere within
``max_staleness`` (plus API Gateway's authorizer cache TTL, which cannot be invalidated:
keep that TTL at most ``max_staleness`` for revocable APIs).

Failure policy: ``"closed"`` (default) refuses with a retryable
:class:`~secauth.errors.KeysUnavailable` (reason ``keys_unavailable``, ``detail.source``
``revocations``) when the store cannot answer, never an allow; ``"open"`` lets the
token through and logs a warning. After a failure the store is left alone for
``retry_after`` seconds (default 1), and the policy applies at once.

>>> from secauth.revocation_stores import MemoryRevocationStore
>>> clock = lambda: 1000.0
>>> revocations = Revocations(MemoryRevocationStore(clock=clock), clock=clock)
>>> claims = {"iss": "https://idp/", "sub": "u", "jti": "t-1", "iat": 900}
>>> revocations.is_revoked(claims)
False
>>> revocations.revoke_token("https://idp/", "t-1")
>>> revocations.is_revoked(claims)
True
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, Protocol

from secauth._elapsed import Since
from secauth.claim_policy import MAX_FUTURE_IAT, MAX_LEEWAY, MAX_TIME, time_claim
from secauth.errors import ConfigurationError, InvalidClaims, KeysUnavailable, TokenRevoked
from secauth.issuers import issuer_key, issuer_problem

__all__ = [
    "ENTRY_MARGIN",
    "MAX_AUDIENCES",
    "REVOCATION_CLAIMS",
    "RevocationStore",
    "Revocations",
    "StoreUnavailable",
    "issuer_key",
    "revocation_keys",
]

_LOG = logging.getLogger("secauth.revocations")
# The claims a revocation verdict depends on (the keys it is looked up by, and iat).
_IDENTIFYING: Final = ("iss", "jti", "origin_jti", "sub", "client_id", "azp", "aud", "iat")
#: The claims a revocation verdict reads, and ``exp`` (whether the token can outlive its
#: entries): what an :class:`~secauth.authorizer.Authorizer` given
#: ``context_token_claims=True`` passes in its context, for a trust-mode
#: :class:`~secauth.guard.Guard` given ``revocations=`` (:meth:`Revocations.check_context`).
REVOCATION_CLAIMS: Final = (*_IDENTIFYING, "exp")
#: How much longer than ``max_token_lifetime`` an entry lives: a verifier accepts a token
#: ``leeway`` past its ``exp`` and an ``iat`` up to ``leeway + max_future_iat`` ahead, so a
#: token revoked as it was issued lives that long at most.
ENTRY_MARGIN: Final = 2 * MAX_LEEWAY + MAX_FUTURE_IAT
# The most audiences a token may name where a list is consulted: each is a key looked up.
MAX_AUDIENCES: Final = 16
_AUD: Final = _IDENTIFYING.index("aud")
_DAY: Final = 86_400.0


class StoreUnavailable(Exception):
    """A revocation store could not answer (its message says why, never a key's value)."""


class RevocationStore(Protocol):
    """Where revocation entries live, shared by every container.

    ``lookup`` answers for several keys in one round trip: each key's value (the
    revocation time, epoch seconds), or None. ``put`` writes one entry that the store
    forgets at ``expires_at``, unless the key already holds a later time (a sign-out is
    never lifted by another: the later ``before`` wins, with its own expiry). Both raise
    :class:`StoreUnavailable` on failure.
    """

    def lookup(self, keys: list[str]) -> dict[str, float | None]: ...

    def put(self, key: str, value: float, expires_at: float) -> None: ...


def revocation_keys(claims: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The ``(kind, store key)`` pairs a token's claims can be revoked under. A client is
    named by ``client_id``, ``azp`` and ``aud``: a token naming a revoked client any of
    these ways is refused. A token naming more than :data:`MAX_AUDIENCES` audiences is
    refused (:class:`~secauth.errors.InvalidClaims`): each would be a key to look up.

    >>> [kind for kind, _ in revocation_keys({"iss": "https://idp/", "sub": "u", "jti": "t"})]
    ['jti', 'subject']
    """
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss:  # every entry is kept under an issuer
        raise InvalidClaims(detail={"claim": "iss", "problem": "revocations need an issuer"})
    issuer = issuer_key(iss)
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if len(audiences) > MAX_AUDIENCES:
        raise InvalidClaims(detail={"claim": "aud", "problem": "too many audiences to check"})
    named = (
        ("jti", claims.get("jti")),
        ("family", claims.get("origin_jti")),
        ("subject", claims.get("sub")),
        ("client", claims.get("client_id")),
        ("client", claims.get("azp")),
        # An ID token names its client in aud (Cognito's have no client_id or azp).
        *(("client", audience) for audience in audiences),
    )
    out: list[tuple[str, str]] = []
    for kind, value in named:
        if isinstance(value, str) and value:
            pair = (kind, _key(kind, issuer, value))
            if pair not in out:
                out.append(pair)
    return out


def _key(kind: str, issuer: str, value: str) -> str:
    """``kind|issuer|value``, a ``|`` or ``\\`` inside either escaped: an issuer with a
    ``|`` never names another issuer's entry."""
    return f"{kind}|{_escaped(issuer)}|{_escaped(value)}"


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


class Revocations:
    """The revocation list a verifier consults; see the module docs.

    Parameters
    ----------
    store:
        A :class:`RevocationStore`: :class:`~secauth.revocation_stores.MemoryRevocationStore`
        (one container, tests), :class:`~secauth.revocation_stores.RedisRevocationStore`
        or :class:`~secauth.revocation_stores.DynamoDBRevocationStore`.
    max_token_lifetime:
        The longest lifetime (``exp - iat``) of a token the issuer mints, seconds: how
        long an entry must live.
    max_staleness:
        How long a container trusts what it read from the store, seconds (0: ask on
        every verification).
    failure:
        ``"closed"`` (refuse, 503) or ``"open"`` (allow, warn) when the store fails.
    retry_after:
        Seconds the store is left alone after a failure.
    """

    def __init__(
        self,
        store: RevocationStore,
        *,
        max_token_lifetime: float = _DAY,
        max_staleness: float = 30.0,
        failure: Literal["closed", "open"] = "closed",
        retry_after: float = 1.0,
        cache_size: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not callable(getattr(store, "lookup", None)) or not callable(getattr(store, "put", None)):
            raise ConfigurationError("store must be a RevocationStore (lookup and put)")
        for name, value, top in (
            ("max_token_lifetime", max_token_lifetime, 366 * _DAY),
            ("max_staleness", max_staleness, 3600.0),
            ("retry_after", retry_after, 60.0),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= top:
                raise ConfigurationError(f"Revocations {name} must be seconds in [0, {top:g}]")
        if max_token_lifetime <= 0:
            raise ConfigurationError("Revocations max_token_lifetime must be positive")
        if failure not in ("closed", "open"):
            raise ConfigurationError("Revocations failure is 'closed' or 'open'")
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
            raise ConfigurationError("Revocations cache_size must be a positive count")
        self.store = store
        self.max_token_lifetime = float(max_token_lifetime)
        self.max_staleness = float(max_staleness)
        self.failure = failure
        self.retry_after = float(retry_after)
        self.cache_size = cache_size
        self._clock = clock
        # The verdicts this container read from the store, by the token's identifying
        # claims: (the kind that revokes it or None, when it was read). Bounded (the oldest
        # half goes when full); emptied when this container revokes something.
        self._seen: dict[tuple[Any, ...], tuple[str | None, float]] = {}
        # Counts forget_cached() calls: a verdict read before one is not kept after it.
        self._generation = 0
        # When the store last failed (on both clocks: a clock stepped back never
        # lengthens the rest, in which failure="open" allows every token unchecked).
        self._failed_since: Since | None = None
        self._lock = threading.Lock()

    # -- checks ---------------------------------------------------------------------------

    def check(self, claims: Mapping[str, Any]) -> None:
        """Raise :class:`~secauth.errors.TokenRevoked` (401) for a revoked token, and
        :class:`~secauth.errors.KeysUnavailable` (503) when the store cannot say and the
        policy is ``"closed"``."""
        (token_id, seen), now = self._recall(claims), self._clock()
        if seen is not None and self._still_fresh(seen[1], now):
            verdict = seen[0]
        else:
            generation = self._generation
            keys = revocation_keys(claims)
            values = self._fetch([key for _, key in keys], now) if keys else {}
            if values is None:
                return  # the store failed and the policy is "open"
            verdict = _revoked_by(keys, values, claims)
            self._remember(token_id, verdict, now, generation)
        if verdict is not None:
            raise TokenRevoked(detail={"revoked_by": verdict})

    async def check_async(self, claims: Mapping[str, Any]) -> None:
        """:meth:`check` for async callers: the store is asked in a worker thread, and
        only when this container's answer is stale."""
        (token_id, seen), now = self._recall(claims), self._clock()
        if seen is not None and self._still_fresh(seen[1], now):
            verdict = seen[0]
        else:
            import asyncio

            generation = self._generation
            keys = revocation_keys(claims)
            values = (
                await asyncio.to_thread(self._fetch, [key for _, key in keys], now) if keys else {}
            )
            if values is None:
                return
            verdict = _revoked_by(keys, values, claims)
            self._remember(token_id, verdict, now, generation)
        if verdict is not None:
            raise TokenRevoked(detail={"revoked_by": verdict})

    def check_lifetime(self, claims: Mapping[str, Any]) -> None:
        """Raise :class:`~secauth.errors.InvalidClaims` unless ``claims`` have an ``iat`` and
        an ``exp`` at most ``max_token_lifetime`` apart: a token that could outlive the
        entries would be accepted again once they expired. A verifier given this list
        checks it on its own; a guard trusting an authorizer's context asks here.

        >>> from secauth.revocation_stores import MemoryRevocationStore
        >>> Revocations(MemoryRevocationStore(), max_token_lifetime=3600).check_lifetime(
        ...     {"iat": 0, "exp": 7200})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        secauth.errors.InvalidClaims: ...
        """
        iat, exp = time_claim(claims, "iat"), time_claim(claims, "exp")
        if iat is None or exp is None or exp - iat > self.max_token_lifetime:
            raise InvalidClaims(detail={"claim": "exp", "problem": "lifetime unknown or too long"})

    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        """Whether ``claims`` are revoked (store failures raise as in :meth:`check`)."""
        try:
            self.check(claims)
        except TokenRevoked:
            return True
        return False

    # -- the admin API ----------------------------------------------------------------------

    def revoke_token(self, issuer: str, jti: str) -> None:
        """Revoke the one token of ``issuer`` with this ``jti``."""
        self._put("jti", issuer, jti)

    def revoke_family(self, issuer: str, origin_jti: str) -> None:
        """Revoke every token of one refresh-token family (Cognito's ``origin_jti``)."""
        self._put("family", issuer, origin_jti)

    def revoke_subject(self, issuer: str, subject: str, *, before: float | None = None) -> None:
        """Sign ``subject`` out everywhere: refuse its tokens issued before ``before``
        (default: now)."""
        self._put("subject", issuer, subject, before)

    def revoke_client(self, issuer: str, client_id: str, *, before: float | None = None) -> None:
        """Refuse the tokens of app client ``client_id`` issued before ``before`` (default:
        now), e.g. for a compromised client."""
        self._put("client", issuer, client_id, before)

    def forget_cached(self) -> None:
        """Drop what this container read from the store (the next checks ask again)."""
        with self._lock:
            self._seen.clear()
            self._generation += 1

    # -- internals ----------------------------------------------------------------------------

    def _put(self, kind: str, issuer: str, value: str, at: float | None = None) -> None:
        for name, text in (("issuer", issuer), (kind, value)):
            if not isinstance(text, str) or not text:
                raise ConfigurationError(f"revoke: {name} must be a non-empty string")
        misspelt = issuer_problem(issuer)
        if misspelt is not None:  # an entry under it would match no token, and say it did
            raise ConfigurationError(f"revoke: {issuer!r} cannot be a token's issuer: {misspelt}")
        if at is not None and (
            isinstance(at, bool) or not isinstance(at, int | float) or not abs(at) <= MAX_TIME
        ):  # "iat < nan" is never true: a NaN would revoke nothing, and say it did
            raise ConfigurationError(
                "revoke: before must be a finite time, epoch seconds within 2**53"
            )
        now = self._clock()
        when = now if at is None else float(at)
        key = _key(kind, issuer_key(issuer), value)
        self.store.put(key, when, max(now, when) + self.max_token_lifetime + ENTRY_MARGIN)
        self.forget_cached()  # this container sees its own revocation at once

    def _recall(
        self, claims: Mapping[str, Any]
    ) -> tuple[tuple[Any, ...] | None, tuple[str | None, float] | None]:
        """This container's memory key for ``claims`` and the verdict it keeps, if any;
        ``(None, None)`` when an identifying claim is not hashable (a JSON object where a
        string belongs): such a token is looked up every time."""
        token_id = _token_id(claims)
        try:
            return token_id, self._seen.get(token_id)
        except TypeError:
            return None, None

    def _still_fresh(self, read_at: float, now: float) -> bool:
        """Whether a verdict read at ``read_at`` may still answer: read less than
        ``max_staleness`` ago, and not later than now (a wall clock stepped back would
        otherwise keep it for as long as the step)."""
        return 0 <= now - read_at < self.max_staleness

    def _remember(
        self, token_id: tuple[Any, ...] | None, verdict: str | None, now: float, generation: int
    ) -> None:
        """Keep ``verdict``, unless this container revoked something since it was read
        (``generation``): then the next check asks the store again."""
        if token_id is not None and self.max_staleness > 0:
            with self._lock:
                if generation != self._generation:
                    return
                if len(self._seen) >= self.cache_size:
                    for old in list(self._seen)[: max(1, len(self._seen) // 2)]:
                        del self._seen[old]
                self._seen[token_id] = (verdict, now)

    def _fetch(self, keys: list[str], now: float) -> dict[str, float | None] | None:
        failed = self._failed_since
        if failed is not None and failed.age(time.monotonic(), wall=now) < self.retry_after:
            self._failed("the store failed moments ago")
            return None
        try:
            answer = self.store.lookup(keys)
        except StoreUnavailable as exc:
            self._failed_since = Since.at(time.monotonic(), wall=now)
            self._failed(str(exc))
            return None
        return {key: answer.get(key) for key in keys}

    def _failed(self, problem: str) -> None:
        """Raise for ``failure="closed"``; log for ``"open"`` (the caller then allows)."""
        if self.failure == "open":
            _LOG.warning("revocation store unavailable (%s): token allowed (failure='open')", problem)
            return
        raise KeysUnavailable(detail={"source": "revocations", "problem": problem})


def _token_id(claims: Mapping[str, Any]) -> tuple[Any, ...]:
    """The claims a verdict depends on, as this container's memory key (possibly not
    hashable: see :meth:`Revocations._recall`)."""
    token_id = tuple(map(claims.get, _IDENTIFYING))
    aud = token_id[_AUD]
    if isinstance(aud, list):  # a list of audiences: its tuple is as good a key
        token_id = (*token_id[:_AUD], tuple(aud), *token_id[_AUD + 1 :])
    return token_id


def _revoked_by(
    keys: list[tuple[str, str]], values: Mapping[str, float | None], claims: Mapping[str, Any]
) -> str | None:
    """The kind of entry that revokes a token: any ``jti`` or family entry; a subject or
    client entry for a token issued before its time (or of unknown age)."""
    iat = claims.get("iat")
    issued = float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else None
    for kind, key in keys:
        at = values.get(key)
        if at is not None and (kind in ("jti", "family") or issued is None or issued < at):
            return kind
    return None
