"""ALB signing keys: the PEM public key a token's ``kid`` names, fetched from the Region's
key endpoint and cached.

An Application Load Balancer signs its ``x-amzn-oidc-data`` tokens with a regional
ES256 key and publishes each public key, in PEM, at ``{endpoint}/{kid}``:

* ``https://public-keys.auth.elb.{region}.amazonaws.com`` (commercial Regions);
* ``https://s3-{region}.amazonaws.com/aws-elb-public-keys-prod-{region}`` (GovCloud);
* ``https://public-keys.auth.elb.{region}.amazonaws.com.cn`` (China).

:class:`AlbKeys` keeps them with the rules of :class:`~secauth.jwks.JwksCache`:

- a key is fetched once and fresh for ``ttl`` seconds; then the next lookup refetches it,
  and while that fails the old key serves until it is ``max_age`` old (stale-if-error);
- one fetch per ``kid`` however many threads (or coroutines of one loop) ask at once;
- kids not cached cause at most four fetches per ``refetch_cooldown``, found or not, so
  a flood of made-up kids (or of other load balancers' real ones) costs four requests,
  not thousands, and one made-up kid cannot hold back a real one; when the cache is full
  the key used least recently goes, so keys in use stay;
- an endpoint that answers 403 or 404 does not know the ``kid``: ``unknown_key`` (401);
  any other failure (timeout, refused connection, 5xx, a body that is no ES256 PEM key)
  is ``keys_unavailable`` (503, retryable), never an allow, and further fetches back off
  exponentially up to ``max_backoff``; the cause (a :class:`~secauth._fetch.FetchCause`)
  is in the warning, in :attr:`AlbKeys.last_failure` and in the error's ``detail``.

Example
-------
>>> key_endpoint("arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188")
'https://public-keys.auth.elb.eu-west-1.amazonaws.com'
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from secauth._elapsed import Since
from secauth._fetch import (
    FetchCause,
    FetchError,
    FetchResult,
    as_fetch_error,
    fetch_policy,
    fetch_text,
)
from secauth._fetch_async import fetch_text_async
from secauth._urls import check_url, shown_url
from secauth.errors import ConfigurationError, KeyImportError, KeysUnavailable, UnknownKey
from secauth.jwk import VerificationKey

if TYPE_CHECKING:
    import asyncio
    import logging

__all__ = ["ALB_ARN", "ALB_KID", "AlbKeys", "key_endpoint"]

#: An Application Load Balancer's ARN: partition, Region, account, name and id.
ALB_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-us-gov|aws-cn):elasticloadbalancing:"
    r"(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d+):\d{12}:loadbalancer/app/[A-Za-z0-9-]{1,32}/[0-9a-f]+"
)
#: The shape of an ALB key id (a UUID); nothing else is put into a key URL.
ALB_KID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PARTITION_OF_REGION = {"aws-us-gov": "us-gov-", "aws-cn": "cn-"}
_NOT_FOUND = frozenset({403, 404})  # S3 (GovCloud) answers 403 for a key it does not hold
_MAX_KEYS = 32
_NEW_KID_FETCHES = 4  # fetches of kids not cached, per refetch_cooldown


def _logger() -> logging.Logger:
    import logging  # on the first message, not on the cold path

    return logging.getLogger("secauth.alb")


def key_endpoint(alb_arn: str) -> str:
    """The key endpoint (no trailing slash) of the Region and partition ``alb_arn`` names.

    Raises ConfigurationError for a string that is not an Application Load Balancer ARN.

    >>> key_endpoint("arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:123456789012:"
    ...              "loadbalancer/app/web/50dc6c495c0c9188")
    'https://s3-us-gov-west-1.amazonaws.com/aws-elb-public-keys-prod-us-gov-west-1'
    """
    match = ALB_ARN.fullmatch(alb_arn) if isinstance(alb_arn, str) else None
    if match is None:
        raise ConfigurationError(
            f"{alb_arn!r} is not an Application Load Balancer ARN like "
            "'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/name/id'"
        )
    partition, region = match["partition"], match["region"]
    prefix = _PARTITION_OF_REGION.get(partition)
    if prefix is None:
        in_partition = not region.startswith(tuple(_PARTITION_OF_REGION.values()))
    else:
        in_partition = region.startswith(prefix)
    if not in_partition:
        raise ConfigurationError(f"Region {region!r} is not in partition {partition!r}")
    if partition == "aws-us-gov":
        return f"https://s3-{region}.amazonaws.com/aws-elb-public-keys-prod-{region}"
    if partition == "aws-cn":
        return f"https://public-keys.auth.elb.{region}.amazonaws.com.cn"
    return f"https://public-keys.auth.elb.{region}.amazonaws.com"


class _Entry(NamedTuple):
    key: VerificationKey
    fetched: Since  # when its fetch started


class AlbKeys:
    """ALB public keys by ``kid``, fetched as PEM from ``endpoint`` and cached (see the
    module docstring for the rules); thread-safe and asyncio-safe.

    Parameters
    ----------
    endpoint:
        The key endpoint, without the ``/{kid}`` (see :func:`key_endpoint`). https only;
        plain http to a loopback host with ``allow_http=True``, for tests.
    ttl, max_age, refetch_cooldown, max_backoff:
        Seconds a key is fresh (1 hour), usable at all while refetching fails (6 hours),
        of the window in which at most four kids not cached are fetched (30), and at most
        between failed fetches (60).
    timeout, max_bytes, user_agent:
        The fetch policy: total deadline (2 s), body cap (8 KiB), User-Agent.

    Example
    -------
    >>> keys = AlbKeys("https://public-keys.auth.elb.eu-west-1.amazonaws.com")
    >>> keys.last_failure is None, keys.fetches
    (True, 0)
    """

    def __init__(
        self,
        endpoint: str,
        *,
        ttl: float = 3600.0,
        max_age: float = 6 * 3600.0,
        refetch_cooldown: float = 30.0,
        max_backoff: float = 60.0,
        timeout: float = 2.0,
        max_bytes: int = 8 * 1024,
        allow_http: bool = False,
        user_agent: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < ttl <= max_age < math.inf:
            raise ConfigurationError("AlbKeys needs 0 < ttl <= max_age")
        if not all(0 <= value < math.inf for value in (refetch_cooldown, max_backoff)):
            raise ConfigurationError(  # NaN would never refetch, never retry
                "refetch_cooldown and max_backoff must not be negative, NaN or infinite"
            )
        self.endpoint = check_url(endpoint, allow_http=allow_http).rstrip("/")
        self.policy = fetch_policy(
            timeout=timeout, max_bytes=max_bytes, allow_http=allow_http, user_agent=user_agent
        )
        self.ttl = ttl
        self.max_age = max_age
        self.refetch_cooldown = refetch_cooldown
        self.max_backoff = max_backoff
        self._clock = clock
        self._lock = threading.Lock()
        self._inflight: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Task[VerificationKey]]]
        self._inflight = {}
        self._keys: dict[str, _Entry] = {}
        # When each cached key last verified a token (monotonic readings: an order for
        # evicting the key used least recently, no deadline).
        self._used: dict[str, float] = {}
        # The window of refetch_cooldown seconds for kids not cached (None: none yet), and
        # its fetches.
        self._window: Since | None = None
        self._new_kid_fetches = 0
        self._last_cause: FetchCause | None = None  # set while the latest fetch failed
        self._failures_in_row = 0
        # While fetches back off: when the latest failed one started, and for how long.
        # Times are Since's (no clock jump, such as a SnapStart restore, makes one last longer).
        self._failed_at: Since | None = None
        self._backoff = 0.0
        #: Fetches tried, and how many of them failed.
        self.fetches = 0
        self.failures = 0

    @property
    def last_failure(self) -> FetchCause | None:
        """Why the latest fetch failed, or None when it succeeded (or none ran yet)."""
        return self._last_cause

    def url_for(self, kid: str) -> str:
        """The URL of the key ``kid`` (which must have the shape of an ALB key id)."""
        if not isinstance(kid, str) or ALB_KID.fullmatch(kid) is None:
            raise UnknownKey(detail={"problem": "kid is not an ALB key id"})
        return f"{self.endpoint}/{kid}"

    def key_for(self, kid: str) -> VerificationKey:
        """The public key ``kid`` names, fetched when needed.

        Raises :class:`~secauth.errors.UnknownKey` (401) for a kid the endpoint does not
        know (or while such fetches cool down), :class:`~secauth.errors.KeysUnavailable`
        (503) when the endpoint cannot be asked.
        """
        url = self.url_for(kid)
        key = self._fresh(kid, self._clock())
        if key is not None:
            return key
        with self._lock:  # one fetch at a time; a thread that waited finds the key cached
            now = self._clock()
            key = self._fresh(kid, now) or self._may_fetch(kid, now)
            if key is not None:
                return key
            started = Since.at(now)
            try:
                outcome: VerificationKey | FetchError = _imported(fetch_text(url, self.policy), kid)
            except Exception as exc:  # a bug or an odd answer still counts as a failure
                outcome = _failure(exc)
            return self._apply(kid, started, outcome)

    async def key_for_async(self, kid: str) -> VerificationKey:
        """Async twin of :meth:`key_for`; coroutines asking for one kid share one fetch."""
        import asyncio

        url = self.url_for(kid)
        key = self._fresh(kid, self._clock())
        if key is not None:
            return key
        loop = asyncio.get_running_loop()
        inflight = self._inflight.get(kid)
        if inflight is None or inflight[0] is not loop or inflight[1].done():
            now = self._clock()
            key = self._may_fetch(kid, now)
            if key is not None:
                return key
            inflight = (loop, loop.create_task(self._fetch_async(kid, url, Since.at(now))))
            self._inflight[kid] = inflight
        return await asyncio.shield(inflight[1])

    async def _fetch_async(self, kid: str, url: str, started: Since) -> VerificationKey:
        try:
            result = await fetch_text_async(url, self.policy)
            outcome: VerificationKey | FetchError = _imported(result, kid)
        except Exception as exc:  # a bug or an odd answer still counts as a failure
            outcome = _failure(exc)
        finally:
            self._inflight.pop(kid, None)
        return self._apply(kid, started, outcome)

    # -- the rules ----------------------------------------------------------------------------

    def _fresh(self, kid: str, now: float) -> VerificationKey | None:
        entry = self._keys.get(kid)
        if entry is not None and entry.fetched.age(now) < self.ttl:
            self._used[kid] = now
            return entry.key
        return None

    def _last_use(self, kid: str) -> float:
        entry = self._keys.get(kid)
        return self._used.get(kid, entry.fetched.steady if entry is not None else float("-inf"))

    def _may_fetch(self, kid: str, now: float) -> VerificationKey | None:
        """None when a fetch of ``kid`` may start now (and it is counted as started); else
        the stale key that serves while fetches back off, or the error to raise."""
        entry = self._keys.get(kid)
        failed = self._failed_at
        if failed is not None and failed.age(now) < self._backoff:
            if entry is not None and entry.fetched.age(now) < self.max_age:
                return entry.key
            raise self._unavailable(kid)
        if entry is None:
            if self._window is None or self._window.age(now) >= self.refetch_cooldown:
                self._window, self._new_kid_fetches = Since.at(now), 0
            if self._new_kid_fetches >= _NEW_KID_FETCHES:
                if self._last_cause is not None:
                    raise self._unavailable(kid)
                raise UnknownKey(detail={"kid": kid, "refetch": "cooling down"})
            self._new_kid_fetches += 1
        return None

    def _apply(
        self, kid: str, started: Since, outcome: VerificationKey | FetchError
    ) -> VerificationKey:
        """Record a fetch's outcome; return the key, or raise what the lookup must."""
        self.fetches += 1
        if isinstance(outcome, VerificationKey):
            self._keys.pop(kid, None)
            if len(self._keys) >= _MAX_KEYS:  # the key used least recently goes
                stalest = min(list(self._keys), key=self._last_use)
                self._keys.pop(stalest, None)
                for gone in [k for k in list(self._used) if k not in self._keys]:
                    self._used.pop(gone, None)  # a lookup racing an eviction may re-add one
            self._keys[kid] = _Entry(outcome, started)
            self._used[kid] = started.steady
            self._failures_in_row, self._failed_at, self._last_cause = 0, None, None
            return outcome
        if outcome.cause.kind == "http_status" and outcome.cause.status in _NOT_FOUND:
            self._keys.pop(kid, None)  # the endpoint answered: it does not know this kid
            self._failures_in_row, self._failed_at, self._last_cause = 0, None, None
            raise UnknownKey(detail={"kid": kid, "status": outcome.cause.status})
        self.failures += 1
        # The window's count of kids not cached stands: a failure never buys more fetches.
        self._failures_in_row += 1
        self._last_cause = outcome.cause
        backoff = min(self.max_backoff, 2.0 ** (self._failures_in_row - 1))
        self._failed_at, self._backoff = started, backoff
        _logger().warning(
            "ALB key fetch from %s failed: %s; next attempt in %g s at the earliest",
            shown_url(self.endpoint),
            outcome.cause,
            backoff,
            extra={"secauth_reason": "keys_unavailable", "secauth_cause": outcome.cause.as_dict()},
        )
        entry = self._keys.get(kid)
        if entry is not None and entry.fetched.age(started.steady) < self.max_age:
            return entry.key  # stale-if-error
        raise self._unavailable(kid)

    def _unavailable(self, kid: str) -> KeysUnavailable:
        detail: dict[str, object] = {"kid": kid, "url": shown_url(self.endpoint)}
        if self._last_cause is not None:
            detail["cause"] = self._last_cause.as_dict()
        return KeysUnavailable(detail=detail)


def _imported(result: FetchResult, kid: str) -> VerificationKey:
    """The ES256 key in a fetched PEM document; a FetchError when it is none."""
    try:
        key: VerificationKey | None = VerificationKey.from_pem(result.document, kid=kid)
    except KeyImportError:
        key = None
    if key is None or "ES256" not in key.algorithms:
        cause = FetchCause("bad_document", document="alb_key")
        raise FetchError("the answer is not an ES256 (P-256) PEM public key", cause)
    return key


def _failure(exc: Exception) -> FetchError:
    error = as_fetch_error(exc)
    return error.about("alb_key")
