"""Opaque access tokens: OAuth 2.0 Token Introspection (RFC 7662), with the surface of
:class:`~secauth.verifier.JwtVerifier` (``verify``, ``verify_async``, ``hydrate``,
``revalidate``, ``issuer``, ``default_claims``), so ``Authorizer``, ``Guard``,
``ClaimMapper`` and ``Routes`` work unchanged.

* :class:`IntrospectionVerifier` asks the authorization server about each new token and
  checks the answer as strictly as a JWT: ``active`` must be exactly ``true``; ``exp``,
  ``nbf``, ``iat``, ``iss`` and ``aud`` (or ``client_id``) go through the same
  :class:`~secauth.claim_policy.ClaimPolicy`. An inactive token is a 401
  ``invalid_claims``; an endpoint that fails in any way (3xx/4xx/5xx, timeout, oversized
  or malformed answer, wrong member types) is a retryable 503 ``keys_unavailable`` with
  ``detail["source"] == "introspection"``, never an allow.
* :class:`~secauth.combined_verifier.CombinedVerifier` sends JWT-shaped tokens (two
  dots or more) to a ``JwtVerifier`` and every other token to introspection.

Answers are cached by the SHA-256 of the token (:mod:`secauth.introspection_cache`);
concurrent callers for one new token share one call. Sync calls use ``http.client``;
``verify_async`` uses httpx (``pip install 'secauth[async]'``), imported on first use.

>>> from secauth.client_auth import ClientAuth
>>> verifier = IntrospectionVerifier(
...     issuer="https://idp.example.com", audience="orders-api",
...     client=ClientAuth.basic("orders-api", "s3cret-value"))
>>> verifier.endpoint is None, verifier.issuer   # found by OIDC discovery on first use
(True, 'https://idp.example.com')
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from secauth._fetch import FetchCause, FetchError, FetchResult, fetch_json, fetch_policy, post_form
from secauth._fetch_async import fetch_json_async, post_form_async
from secauth._urls import check_url, shown_url
from secauth.claim_policy import ClaimPolicy
from secauth.client_auth import ClientAuth
from secauth.errors import (
    ConfigurationError,
    KeysUnavailable,
    MalformedToken,
    MissingToken,
    SecAuthError,
)
from secauth.introspection_answer import bad_answer
from secauth.introspection_cache import Introspected, IntrospectionCache, SingleFlight, token_key
from secauth.introspection_claims import claims_of, entry_of

if TYPE_CHECKING:
    import logging

    from secauth.claim_mapping import ClaimMapper
    from secauth.revocation import Revocations

__all__ = ["IntrospectionVerifier"]

# RFC 6750 2.1 b64token, before any trailing "=".
_B64TOKEN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_._~+/")
_DISCOVERY = b"\x00discovery"  # the single-flight key of the discovery fetch


def _logger() -> logging.Logger:
    import logging  # on the first message, not on the cold path

    return logging.getLogger("secauth.introspection")


class _Failure(NamedTuple):
    detail: dict[str, Any]


class _Call(NamedTuple):
    """One introspection request: where it goes, its headers and its form."""

    endpoint: str
    headers: dict[str, str]
    form: dict[str, str]


class IntrospectionVerifier:
    """Verify opaque tokens by asking the authorization server (RFC 7662).

    Parameters
    ----------
    issuer:
        The exact ``iss`` the answer must name, or ``None`` to skip the check (then give
        ``endpoint``). Without ``endpoint``, the introspection endpoint is read from
        ``{issuer}/.well-known/openid-configuration`` (whose ``issuer`` must equal it).
    audience:
        Accepted ``aud`` value(s) (checked as :class:`~secauth.verifier.JwtVerifier` does),
        or ``None`` to skip the check explicitly. ``audience_claim="client_id"`` checks the
        client the token was issued to instead.
    client:
        How secauth authenticates to the endpoint: a :class:`~secauth.client_auth.ClientAuth`.
    endpoint:
        The introspection endpoint URL (https), instead of discovery.
    token_type_hint:
        Sent with every request (default ``"access_token"``; None: not sent).
    token_type:
        The answer's ``token_type`` must equal this (case-insensitively): default
        ``"Bearer"``, which also refuses refresh tokens and DPoP-bound tokens presented as
        bearer tokens. None skips the check.
    bound_tokens:
        Accept sender-constrained tokens: an answer with ``cnf`` (RFC 8705 section 3.2, RFC
        9449 section 6.2; a DPoP-bound one may say ``token_type: DPoP``). The ``Guard`` or
        ``Authorizer`` then checks the binding on every request, as for a JWT (its
        ``sender_constraint``; DPoP needs a ``DpopVerifier``). Default False: such answers
        are refused (:mod:`secauth.introspection_answer`).
    leeway, max_future_iat, require_exp, required_claims, expected_claims:
        As for :class:`~secauth.verifier.JwtVerifier`.
    revocations:
        A :class:`~secauth.revocation.Revocations` list, consulted on every verification,
        cache hits included.
    cache_size, cache_max_ttl, negative_ttl:
        Answers kept (0: none), the longest an active answer is kept (it never outlives the
        token's ``exp``), and how long an inactive answer is kept (a token revoked at the
        authorization server is refused here within ``negative_ttl`` of being introspected
        once inactive, and within ``cache_max_ttl`` when it was active).
    retry_after:
        Seconds after a failure of the endpoint during which new tokens get a 503 at once
        (0: none); a 400, 413, 414 or 431 about one call's request, or an answer over
        ``max_bytes``, fails that call only.
    timeout, max_bytes, allow_http, user_agent:
        The HTTP policy: deadline per call, answer size cap, plain http to loopback (tests
        only), User-Agent.
    clock:
        Seconds since the epoch; injectable for tests.
    """

    def __init__(
        self,
        *,
        issuer: str | None,
        audience: str | Collection[str] | None,
        client: ClientAuth,
        endpoint: str | None = None,
        token_type_hint: str | None = "access_token",  # noqa: S107 - a token kind, no secret
        token_type: str | None = "Bearer",  # noqa: S107 - a token kind, no secret
        bound_tokens: bool = False,
        audience_claim: str = "aud",
        leeway: float = 0.0,
        max_future_iat: float = 60.0,
        require_exp: bool = True,
        required_claims: Iterable[str] = (),
        expected_claims: Mapping[str, Any] | None = None,
        revocations: Revocations | None = None,
        max_token_size: int = 8192,
        cache_size: int = 4096,
        cache_max_ttl: float = 300.0,
        negative_ttl: float = 10.0,
        retry_after: float = 1.0,
        timeout: float = 2.0,
        max_bytes: int = 64 * 1024,
        allow_http: bool = False,
        user_agent: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Over 60 lines for its 24 options only: it builds and keeps them; _check_options checks most.
        #: The claim checks (:class:`~secauth.claim_policy.ClaimPolicy`).
        self.claims = ClaimPolicy(
            issuer=issuer,
            audience=audience,
            audience_claim=audience_claim,
            leeway=leeway,
            max_future_iat=max_future_iat,
            require_exp=require_exp,
            required_claims=required_claims,
            expected_claims=expected_claims,
            # a revocation list's entries live this long: no token may outlive them
            max_lifetime=getattr(revocations, "max_token_lifetime", None),
        )
        if not isinstance(client, ClientAuth):
            raise ConfigurationError("client must be a secauth.client_auth.ClientAuth")
        self.client = client
        self.policy = fetch_policy(
            timeout=timeout, max_bytes=max_bytes, allow_http=allow_http, user_agent=user_agent
        )
        #: The introspection endpoint (None until discovered from ``discovery_url``).
        self.endpoint, self.discovery_url = _endpoint_or_discovery(
            endpoint, issuer, allow_http=allow_http
        )
        _check_options(
            token_type_hint=token_type_hint, token_type=token_type, bound_tokens=bound_tokens,
            revocations=revocations, issuer=issuer, max_token_size=max_token_size,
            cache_size=cache_size, cache_max_ttl=cache_max_ttl, negative_ttl=negative_ttl,
            retry_after=retry_after,
        )
        self.token_type_hint = token_type_hint
        self.token_type = token_type
        self.bound_tokens = bound_tokens
        self.revocations = revocations
        self.max_token_size = max_token_size
        self.cache_max_ttl = float(cache_max_ttl)
        self.negative_ttl = float(negative_ttl)
        self.retry_after = float(retry_after)
        self._clock = clock
        self._cache = IntrospectionCache(cache_size)
        self._flight: SingleFlight[Introspected | _Failure] = SingleFlight()
        self._discovery: SingleFlight[str | _Failure] = SingleFlight()
        self._resting_until = float("-inf")
        # Counts clear_cache() calls: an answer to a call made before one is not kept.
        self._generation = 0
        #: Calls made to the endpoint (answered or not).
        self.calls = 0
        #: The claim mapping ``Authorizer`` and ``Guard`` use unless given ``claims=``.
        self.default_claims: ClaimMapper | None = None

    @property
    def issuer(self) -> str | None:
        """The exact ``iss`` required (None: not checked)."""
        return self.claims.issuer

    @property
    def leeway(self) -> float:
        """Seconds allowed past ``exp`` (and before ``nbf``)."""
        return self.claims.leeway

    # -- verification -------------------------------------------------------------------

    def hydrate(self, *, strict: bool = False) -> bool:
        """Discover the endpoint now, for the Lambda init phase; True when it is known.
        ``strict`` raises :class:`~secauth.errors.KeysUnavailable` instead of False."""
        found = self._discovered() if self.endpoint is None else self.endpoint
        if isinstance(found, _Failure) and strict:
            raise KeysUnavailable(detail=found.detail)
        return not isinstance(found, _Failure)

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of an active ``token`` (a fresh dict, without ``active``).

        Raises a :class:`~secauth.errors.SecAuthError`: 401-class for a bad or inactive
        token, :class:`~secauth.errors.KeysUnavailable` (503) when the endpoint fails.
        """
        try:
            key = self._key(token)
            entry = self._cache.get(key, self._clock())
            if entry is None:
                found = self._flight.run(key, lambda: self._introspect(key, token))
                if isinstance(found, _Failure):
                    raise KeysUnavailable(detail=found.detail)
                entry = found
            claims = claims_of(entry, self._clock, self.claims.leeway)
            if self.revocations is not None:  # every verification, cache hits included
                self.revocations.check(claims)
            return claims
        except SecAuthError:
            raise
        except Exception as exc:  # fail closed: no foreign exception escapes
            raise MalformedToken(detail={"problem": f"unexpected {type(exc).__name__}"}) from None

    async def verify_async(self, token: str) -> dict[str, Any]:
        """:meth:`verify` with the call made over httpx; shares the cache."""
        try:
            key = self._key(token)
            entry = self._cache.get(key, self._clock())
            if entry is None:
                found = await self._flight.run_async(
                    key, lambda: self._introspect_async(key, token)
                )
                if isinstance(found, _Failure):
                    raise KeysUnavailable(detail=found.detail)
                entry = found
            claims = claims_of(entry, self._clock, self.claims.leeway)
            if self.revocations is not None:
                await self.revocations.check_async(claims)
            return claims
        except SecAuthError:
            raise
        except Exception as exc:  # fail closed: no foreign exception escapes
            raise MalformedToken(detail={"problem": f"unexpected {type(exc).__name__}"}) from None

    def revalidate(self, token: str) -> bool:
        """Always False ("not known here: call :meth:`verify`"), whose cache hit is cheap."""
        return False

    def clear_cache(self) -> None:
        """Forget every answer, and any answer to a call made before (still in flight)."""
        self._generation += 1
        self._cache.clear()

    # -- steps --------------------------------------------------------------------------

    def _key(self, token: object) -> bytes:
        if token is None or token == "":
            raise MissingToken()
        if type(token) is not str or len(token) > self.max_token_size:
            raise MalformedToken(detail={"problem": "not a string, or too long"})
        if not _B64TOKEN.issuperset(token.rstrip("=")) or token[0] == "=":
            raise MalformedToken(detail={"problem": "not a bearer token (RFC 6750 b64token)"})
        return token_key(token)

    def _request(self, token: str) -> _Call | _Failure:
        """The endpoint, headers and form of one call (or why none can be made)."""
        now = self._clock()
        if now < self._resting_until:
            return _Failure({"source": "introspection", "problem": "resting after a failure"})
        endpoint = self.endpoint
        if endpoint is None:
            return _Failure({"source": "introspection", "problem": "endpoint not discovered"})
        headers, auth = self.client.credentials(audience=self.issuer or endpoint)
        form = {"token": token}
        if self.token_type_hint is not None:
            form["token_type_hint"] = self.token_type_hint
        return _Call(endpoint, headers, {**form, **auth})

    def _introspect(self, key: bytes, token: str) -> Introspected | _Failure:
        entry = self._cache.get(key, self._clock())  # a flight that just landed
        if entry is not None:
            return entry
        if self.endpoint is None and isinstance(found := self._discovered(), _Failure):
            return found
        request = self._request(token)
        if isinstance(request, _Failure):
            return request
        started, generation = self._clock(), self._generation
        self.calls += 1
        try:
            answer = post_form(request.endpoint, request.form, self.policy, headers=request.headers)
            return self._remembered(key, answer, started, generation)
        except Exception as exc:
            return self._failed(exc, started)

    async def _introspect_async(self, key: bytes, token: str) -> Introspected | _Failure:
        entry = self._cache.get(key, self._clock())
        if entry is not None:
            return entry
        if self.endpoint is None and isinstance(found := await self._discovered_async(), _Failure):
            return found
        request = self._request(token)
        if isinstance(request, _Failure):
            return request
        started, generation = self._clock(), self._generation
        self.calls += 1
        try:
            answer = await post_form_async(
                request.endpoint, request.form, self.policy, headers=request.headers
            )
            return self._remembered(key, answer, started, generation)
        except Exception as exc:
            return self._failed(exc, started)

    def _remembered(
        self, key: bytes, answer: FetchResult, now: float, generation: int
    ) -> Introspected:
        """The answer as a cache entry (:func:`~secauth.introspection_claims.entry_of`), kept
        unless :meth:`clear_cache` ran since the call was made (``generation``)."""
        entry = entry_of(
            answer.document, now, self.claims, token_type=self.token_type,
            bound_tokens=self.bound_tokens, negative_ttl=self.negative_ttl,
            max_ttl=self.cache_max_ttl,
        )
        if generation == self._generation:
            self._cache.put(key, entry)
        self._resting_until = float("-inf")
        return entry

    def _failed(self, exc: Exception, started: float) -> _Failure:
        cause = exc.cause if isinstance(exc, FetchError) else _unexpected(exc)
        # The endpoint rests after failures that fail every call (down, slow, 5xx, 401,
        # 403, 429), not after a 400, 413, 414 or 431 about this one call's request (a
        # token the caller made too big for its form) nor after an answer too large (a
        # token with many claims): one caller must not make every other new token a 503.
        if not cause.about_one_request():
            self._resting_until = started + self.retry_after
        _logger().warning(
            "token introspection at %s failed: %s",
            shown_url(self.endpoint or ""),
            cause,
            extra={"secauth_reason": "keys_unavailable", "secauth_cause": cause.as_dict()},
        )
        return _Failure({"source": "introspection", "cause": cause.as_dict()})

    # -- discovery ----------------------------------------------------------------------

    def _discovered(self) -> str | _Failure:
        return self._discovery.run(_DISCOVERY, self._discover)

    async def _discovered_async(self) -> str | _Failure:
        return await self._discovery.run_async(_DISCOVERY, self._discover_async)

    def _discover(self) -> str | _Failure:
        if self.endpoint is not None:
            return self.endpoint
        assert self.discovery_url is not None
        started = self._clock()
        if started < self._resting_until:  # a failed discovery rests as the endpoint does
            return _Failure({"source": "introspection", "problem": "resting after a failure"})
        try:
            return self._endpoint_from(fetch_json(self.discovery_url, self.policy))
        except Exception as exc:
            return self._failed_discovery(exc, started)

    async def _discover_async(self) -> str | _Failure:
        if self.endpoint is not None:
            return self.endpoint
        assert self.discovery_url is not None
        started = self._clock()
        if started < self._resting_until:  # a failed discovery rests as the endpoint does
            return _Failure({"source": "introspection", "problem": "resting after a failure"})
        try:
            return self._endpoint_from(await fetch_json_async(self.discovery_url, self.policy))
        except Exception as exc:
            return self._failed_discovery(exc, started)

    def _endpoint_from(self, result: FetchResult) -> str:
        document = result.document
        if not isinstance(document, dict):
            raise bad_answer("discovery document is not a JSON object")
        if document.get("issuer") != self.issuer:
            raise FetchError("discovery document names another issuer", FetchCause("wrong_issuer"))
        try:
            endpoint = check_url(
                document.get("introspection_endpoint"), allow_http=self.policy.allow_http
            )
        except ConfigurationError:
            raise FetchError("introspection_endpoint refused", FetchCause("refused_url")) from None
        self.endpoint = endpoint
        return endpoint

    def _failed_discovery(self, exc: Exception, started: float) -> _Failure:
        cause = exc.cause if isinstance(exc, FetchError) else _unexpected(exc)
        cause = cause._replace(document="discovery")
        self._resting_until = started + self.retry_after
        _logger().warning(
            "OIDC discovery at %s failed: %s", shown_url(self.discovery_url or ""), cause
        )
        return _Failure({"source": "introspection", "cause": cause.as_dict()})


def _endpoint_or_discovery(
    endpoint: str | None, issuer: str | None, *, allow_http: bool
) -> tuple[str | None, str | None]:
    """The checked introspection endpoint, or else the discovery document's URL."""
    if endpoint is not None:
        return check_url(endpoint, allow_http=allow_http), None
    if issuer is None:
        raise ConfigurationError("give the introspection endpoint, or the issuer to discover it")
    discovery = issuer.rstrip("/") + "/.well-known/openid-configuration"
    return None, check_url(discovery, allow_http=allow_http)


def _check_options(
    *, token_type_hint: str | None, token_type: str | None, bound_tokens: bool,
    revocations: Revocations | None, issuer: str | None, max_token_size: int,
    cache_size: int, cache_max_ttl: float, negative_ttl: float, retry_after: float,
) -> None:
    """The checks of these options of :class:`IntrospectionVerifier` (after those of the
    claims, the client, the HTTP policy and the endpoint): a ConfigurationError names the
    first bad one, when the verifier is built, not on the first request."""
    for name, value in (("token_type_hint", token_type_hint), ("token_type", token_type)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigurationError(f"{name} must be a non-empty string or None")
    if type(bound_tokens) is not bool:
        raise ConfigurationError("bound_tokens must be True or False")
    if not bound_tokens and (token_type or "").strip().lower() == "dpop":
        raise ConfigurationError("token_type='DPoP' needs bound_tokens=True")
    if revocations is not None and not callable(getattr(revocations, "check", None)):
        raise ConfigurationError("revocations must be a secauth.revocation.Revocations")
    if revocations is not None and issuer is None:
        # Revocations name tokens by issuer, and RFC 7662 answers may omit iss.
        raise ConfigurationError(
            "revocations need issuer=: entries are kept by issuer, and the answers of "
            "an introspection endpoint may name none"
        )
    if not (64 <= max_token_size <= 64 * 1024):
        raise ConfigurationError("max_token_size must be between 64 bytes and 64 KiB")
    if cache_size < 0 or not (0 < cache_max_ttl <= 86_400) or not (0 <= negative_ttl <= 300):
        raise ConfigurationError(
            "cache_size must not be negative, cache_max_ttl in (0, 86400], negative_ttl in [0, 300]"
        )
    if not (0 <= retry_after <= 60):
        raise ConfigurationError("retry_after must be 0..60 seconds")


def _unexpected(exc: Exception) -> FetchCause:
    return FetchCause("unexpected", error=type(exc).__name__)
