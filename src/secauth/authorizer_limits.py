"""``AuthorizerLimits``: the rate limits an :class:`~secauth.authorizer.Authorizer` applies.
An authorizer cannot answer 429, so a limited request is denied (403, reason
``rate_limited``).

Two limits, in order:

* the authorizer's ``rate_limit``: it counts the requests the routes allow and, in its
  limits keyed by the client IP, the failed authentications (guessing keys or tokens
  spends the guesser's quota); a valid caller's denied requests are not counted;
* the per-API-key limit of the entry the presented key resolved to
  (``ApiKeyEntry.rate_limit``: one limiter per distinct limit, on a shared store or this
  container's memory), which counts the key's allowed requests.

>>> from secauth.access import Decision
>>> limits = AuthorizerLimits(None, api_key_header="x-api-key", key_limit_store=None, cache_ttl=0)
>>> allowed = Decision(True, None, "GET /a", {}, None)
>>> limits.apply(allowed, None, None, None) is allowed  # no limit configured
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from secauth.access import Decision, Denial
from secauth.errors import ConfigurationError, Reason

if TYPE_CHECKING:
    from secauth.api_keys import ApiKeyEntry
    from secauth.events import Request
    from secauth.principal import Principal
    from secauth.ratelimit import RateLimiter

__all__ = ["AuthorizerLimits"]


class AuthorizerLimits:
    """The authorizer's ``rate_limit`` and the per-API-key limits, applied in order."""

    def __init__(
        self,
        rate_limit: RateLimiter | None,
        *,
        api_key_header: str,
        key_limit_store: object | None,
        cache_ttl: int,
        api_keys: object | None = None,
    ) -> None:
        if rate_limit is not None and cache_ttl:
            raise ConfigurationError(
                "a rate limit in the authorizer needs cache_ttl=0: cached answers skip it"
            )
        if cache_ttl and api_keys is not None and _any_key_limit(api_keys):
            raise ConfigurationError(
                "API keys with a rate_limit need cache_ttl=0: cached answers skip the limit"
            )
        self.rate_limit = rate_limit
        self.api_key_header = api_key_header
        self.key_limit_store = key_limit_store
        self.cache_ttl = cache_ttl
        self._key_limiters: dict[str, Any] = {}

    def apply(
        self,
        decision: Decision,
        request: Request,
        principal: Principal | None,
        entry: ApiKeyEntry | None,
    ) -> Decision:
        """``decision``, or a denial when an allowed request is over a limit. Raises
        ConfigurationError (the Authorizer answers 401) for a key whose entry has a
        ``rate_limit`` under ``cache_ttl > 0``: no cached answer could keep to it."""
        if self.cache_ttl and entry is not None and entry.rate_limit:
            # Entries from a dynamic store can only be seen now, and a limit we cannot apply
            # under caching refuses the request outright (401: nothing API Gateway could
            # reuse), whatever this route's decision: any policy answered here, a denial
            # of this route included, allows the key's other routes for the whole TTL.
            raise ConfigurationError(
                "an API key with a rate_limit under cache_ttl > 0: cached answers would skip "
                "the limit; use cache_ttl=0",
                detail={"problem": "per-key rate limit with cache_ttl > 0"},
            )
        if decision.allowed and self.rate_limit is not None:
            result = self.rate_limit.hit(request, principal)
            if not result.allowed:
                return _limited(decision, f"rate limited; retry after {result.retry_after} s")
        if decision.allowed and entry is not None and entry.rate_limit:
            return self._key_limited(decision, request, principal, entry.rate_limit)
        return decision

    def count_refused(self, request: Request) -> None:
        """Count a request whose credentials were refused against the parts of
        ``rate_limit`` keyed by the client IP (only those: a key read from what the request
        presents would let failing credentials spend another client's quota); the answer
        stays the refusal, and guessing spends the guesser's quota."""
        if self.rate_limit is None:
            return
        from secauth.ratelimit.combined import hit_limits, keyed_by_client_ip

        by_ip = keyed_by_client_ip((self.rate_limit,))
        if by_ip:
            hit_limits(by_ip, request, None)

    def _key_limited(
        self, decision: Decision, request: Request, principal: Principal | None, limit: str
    ) -> Decision:
        limiter = self._key_limiters.get(limit)
        if limiter is None:
            from secauth.ratelimit import RateLimiter

            # a name of its own: a rate_limit=RateLimiter.per_api_key(...) of the same limit
            # on the same store never shares (and double-counts) this bucket
            options: dict[str, Any] = {"header": self.api_key_header, "name": "api_key_entry"}
            if self.key_limit_store is not None:
                options["store"] = self.key_limit_store
            limiter = self._key_limiters[limit] = RateLimiter.per_api_key(limit, **options)
        result = limiter.hit(request, principal)
        if result.allowed:
            return decision
        return _limited(decision, f"API key rate limited; retry after {result.retry_after} s")


def _limited(decision: Decision, why: str) -> Decision:
    refusal = Denial(Reason.RATE_LIMITED, why)
    return Decision(False, refusal.reason, decision.route, decision.params, refusal)


def _any_key_limit(store: object) -> bool:
    """Whether a static key store holds an entry with its own rate limit."""
    entries = getattr(store, "entries", None)
    if not callable(entries):
        return False
    return any(entry.rate_limit for entry in entries())
