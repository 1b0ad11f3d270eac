"""The store interface every backend implements, and the one error it raises.

A store keeps rate-limit and penalty state. Sync stores (``is_async = False``)
implement ``hit``, ``blocked_for`` and ``record``; async stores implement
``hit_async``, ``blocked_for_async`` and ``record_async`` with the same meaning.
``usage`` (``usage_async``) reads a key's state without spending; only
``RateLimiter.usage`` needs it.
A store raises :class:`StoreError` (never a foreign exception) when its backend
fails; the limiter then applies its failure policy.
"""

from __future__ import annotations

from typing import Protocol

from secauth.ratelimit.limit import Limit
from secauth.ratelimit.result import RateLimitResult

__all__ = ["Store", "StoreError"]


class StoreError(Exception):
    """The shared store failed (unreachable, timed out, or answered an error)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Store(Protocol):
    """What :class:`~secauth.ratelimit.RateLimiter` needs from a sync store."""

    is_async: bool
    shared: bool
    algorithms: tuple[str, ...]

    def hit(
        self, key: str, limit: Limit, algorithm: str, cost: int = 1, *, policy: str = "default"
    ) -> RateLimitResult:
        """Count ``cost`` against ``key`` under ``limit`` and decide."""

    def usage(
        self, key: str, limit: Limit, algorithm: str, *, policy: str = "default"
    ) -> RateLimitResult:
        """The decision a request of cost 0 would get: nothing spent, nothing written."""

    def blocked_for(self, subject: str) -> float:
        """Seconds left on the penalty block of ``subject``; 0.0 when not blocked."""

    def record(
        self,
        subject: str,
        kind: str,
        threshold: Limit,
        cooldown: float,
        member: str | None = None,
    ) -> float:
        """Count one ``kind`` event of ``subject`` (distinct by ``member`` when given);
        past ``threshold`` block ``subject`` for ``cooldown`` seconds; seconds left."""
