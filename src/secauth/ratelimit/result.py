"""``RateLimitResult``: one decision, and the response headers that describe it.

Header styles (``headers(style=...)``):

* ``"ietf"``: ``RateLimit-Policy`` and ``RateLimit`` as in
  draft-ietf-httpapi-ratelimit-headers (-10/-11): Structured Field lists such as
  ``RateLimit-Policy: "ip";q=100;w=60`` and ``RateLimit: "ip";r=42;t=17``. ``t`` is
  "the seconds until additional quota is made available": for a policy that denied the
  request, the time until it could pass (the ``Retry-After`` value, exactly); for one
  that admitted it, until its quota is full again (the window's end, or the bucket's
  refill);
* ``"x"``: the widely used trio ``X-RateLimit-Limit``, ``X-RateLimit-Remaining``
  and ``X-RateLimit-Reset`` (delta seconds until the window resets, not an epoch);
* ``"both"`` or ``"none"``.

Every denial adds ``Retry-After`` (whole seconds, at least 1) whatever the style.

Example
-------
>>> r = RateLimitResult(False, 100, 0, 12.2, 3.5, policy="ip", window=60.0)
>>> r.headers("ietf")
{'RateLimit-Policy': '"ip";q=100;w=60', 'RateLimit': '"ip";r=0;t=4', 'Retry-After': '4'}
>>> r.headers("x")
{'X-RateLimit-Limit': '100', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '13', 'Retry-After': '4'}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, NamedTuple

from secauth.errors import MAX_RETRY_SECONDS, AbuseBlocked, ConfigurationError, RateLimited

__all__ = ["HEADER_STYLES", "RateLimitResult", "Usage"]

HEADER_STYLES: Final = ("ietf", "x", "both", "none")


def _ceil(seconds: float) -> int:
    whole = int(seconds)
    return whole + 1 if seconds > whole else whole


def _retry_seconds(result: RateLimitResult) -> int:
    """The ``Retry-After`` value of a denial: whole seconds, rounded up, at least 1 and at
    most :data:`~secauth.errors.MAX_RETRY_SECONDS`, as the 429 answers it (so a policy's
    ``t`` always equals the response's ``Retry-After``)."""
    return min(MAX_RETRY_SECONDS, max(1, _ceil(result.retry_after)))


def _reset_seconds(result: RateLimitResult) -> int:
    """The ``t`` of one policy: the denial's retry time, else the time to a full quota."""
    return _ceil(result.reset_after) if result.allowed else _retry_seconds(result)


def _sf_string(text: str) -> str:
    """An RFC 8941 sf-string: printable ASCII with ``\\`` and ``"`` escaped."""
    clean = "".join(ch if " " <= ch <= "~" else "_" for ch in text)
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


class RateLimitResult:
    """The outcome of one rate-limit decision.

    Attributes
    ----------
    allowed: whether this request is admitted.
    limit: the quota of the policy (requests per window; the burst for GCRA).
    remaining: requests still available now (0 when denied).
    reset_after: seconds until the quota is fully available again (window end for
        window algorithms, bucket refill for GCRA); for a denial, never less than
        ``retry_after``.
    retry_after: seconds until a request may succeed (0 when allowed).
    policy: the policy name used in the ``RateLimit`` headers.
    window: the policy's window in seconds.
    parts: for combined limiters, every limit's own result (else empty).
    degraded: the shared store failed and the failure policy decided.
    exempt: the limit does not apply to this request (its key function returned None):
        no headers, and left out when results are merged.
    """

    __slots__ = (
        "allowed",
        "degraded",
        "exempt",
        "limit",
        "parts",
        "policy",
        "remaining",
        "reset_after",
        "retry_after",
        "style",
        "window",
    )

    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    retry_after: float
    policy: str
    window: float
    parts: tuple[RateLimitResult, ...]
    degraded: bool
    exempt: bool
    style: str

    def __init__(
        self,
        allowed: bool,
        limit: int,
        remaining: int,
        reset_after: float,
        retry_after: float,
        *,
        policy: str = "default",
        window: float = 0.0,
        parts: tuple[RateLimitResult, ...] = (),
        degraded: bool = False,
        style: str = "ietf",
        exempt: bool = False,
    ) -> None:
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.reset_after = reset_after
        self.retry_after = retry_after
        self.policy = policy
        self.window = window
        self.parts = parts
        self.degraded = degraded
        self.style = style
        self.exempt = exempt

    def __repr__(self) -> str:
        return (
            f"RateLimitResult(allowed={self.allowed}, limit={self.limit}, "
            f"remaining={self.remaining}, reset_after={self.reset_after:.3f}, "
            f"retry_after={self.retry_after:.3f}, policy={self.policy!r})"
        )

    def __bool__(self) -> bool:
        return self.allowed

    @classmethod
    def merge(cls, results: Iterable[RateLimitResult]) -> RateLimitResult:
        """One result for several limits: denied if any is, else the tightest one.

        The merged result keeps every part for the IETF headers, which list all
        policies; the ``X-RateLimit-*`` trio describes the tightest. Exempt parts are
        left out (all exempt: the first one).
        """
        parts = tuple(p for r in results for p in (r.parts or (r,)))
        if not parts:
            raise ValueError("merge needs at least one result")
        applied = tuple(p for p in parts if not p.exempt)
        if not applied:
            return parts[0]
        parts = applied
        denied = [p for p in parts if not p.allowed]
        if denied:
            main = max(denied, key=lambda p: p.retry_after)
        else:
            main = min(parts, key=lambda p: (p.remaining, -p.reset_after))
        if len(parts) == 1:
            return main
        return cls(
            main.allowed,
            main.limit,
            main.remaining,
            main.reset_after,
            main.retry_after,
            policy=main.policy,
            window=main.window,
            parts=parts,
            degraded=any(p.degraded for p in parts),
            style=main.style,
        )

    def headers(self, style: str | None = None) -> dict[str, str]:
        """The response headers for this decision (see the module docs for the styles)."""
        style = self.style if style is None else style
        if style not in HEADER_STYLES:
            raise ConfigurationError(f"header style must be one of {HEADER_STYLES}, not {style!r}")
        out: dict[str, str] = {}
        parts = self.parts or (self,)
        if style in ("ietf", "both"):
            out["RateLimit-Policy"] = ", ".join(
                f"{_sf_string(p.policy)};q={p.limit};w={max(1, _ceil(p.window))}" for p in parts
            )
            out["RateLimit"] = ", ".join(
                f"{_sf_string(p.policy)};r={max(0, p.remaining)};t={_reset_seconds(p)}"
                for p in parts
            )
        if style in ("x", "both"):
            out["X-RateLimit-Limit"] = str(self.limit)
            out["X-RateLimit-Remaining"] = str(max(0, self.remaining))
            out["X-RateLimit-Reset"] = str(_ceil(self.reset_after))
        if not self.allowed:
            out["Retry-After"] = str(_retry_seconds(self))
        return out

    def error(self) -> RateLimited:
        """The :class:`~secauth.errors.RateLimited` error for this denial."""
        return RateLimited(
            retry_after=self.retry_after,
            detail={"policy": self.policy, "limit": self.limit, "degraded": self.degraded},
            headers=self.headers(),
        )

    def raise_for_denial(self) -> None:
        """Raise :class:`~secauth.errors.RateLimited` when the request was denied.

        >>> RateLimitResult(True, 5, 4, 60.0, 0.0).raise_for_denial()
        >>> RateLimitResult(False, 5, 0, 60.0, 7.0).raise_for_denial()
        Traceback (most recent call last):
        ...
        secauth.errors.RateLimited: too many requests (rate_limited)
        """
        if not self.allowed:
            raise self.error()


class Usage(NamedTuple):
    """One limit's state for a key, read without spending (``limiter.usage(...)``).

    ``reset_after`` is the seconds until the quota is full again: a calendar quota's
    period end, a window's end, a bucket's refill.

    >>> Usage("free:10000/month", 10000, 0, 3600.0).exhausted
    True
    """

    policy: str
    limit: int
    remaining: int
    reset_after: float

    @property
    def exhausted(self) -> bool:
        """No request can pass this limit now."""
        return self.remaining <= 0

    @classmethod
    def of(cls, result: RateLimitResult) -> Usage:
        """The usage a store's cost-0 decision describes."""
        return cls(result.policy, result.limit, max(0, result.remaining), result.reset_after)


def abuse_error(retry_after: float, kind: str) -> AbuseBlocked:
    """The :class:`~secauth.errors.AbuseBlocked` error for a penalty block."""
    return AbuseBlocked(retry_after=retry_after, detail={"penalty": kind})
