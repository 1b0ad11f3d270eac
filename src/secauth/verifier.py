"""``JwtVerifier``: the header and claim policy on top of :mod:`secauth.jose` and a key source.

Strict by default: asymmetric algorithms only, the algorithm bound to the key,
``iss``, ``aud`` and ``exp`` required unless switched off explicitly (``issuer=None``,
``audience=None``, ``require_exp=False``), exact string comparison everywhere.
Every failure is a :class:`~secauth.errors.SecAuthError`; nothing else escapes.

Example
-------
>>> from secauth.testing import LocalIssuer
>>> with LocalIssuer(algs=("ES256",)) as idp:
...     verifier = JwtVerifier.from_discovery(idp.issuer, audience="orders-api", allow_http=True)
...     verifier.verify(idp.token(sub="alice", aud="orders-api"))["sub"]
'alice'
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from secauth import jose
from secauth.claim_policy import ClaimPolicy
from secauth.errors import (
    ConfigurationError,
    InvalidClaims,
    InvalidSignature,
    MalformedToken,
    MissingToken,
    SecAuthError,
    TokenExpired,
)
from secauth.key_sets import KeySource, fresh_for
from secauth.key_sources import checked_algorithms, key_source
from secauth.multi_issuer import MultiIssuerVerifier
from secauth.token_cache import CachedToken, VerifiedTokenCache

if TYPE_CHECKING:
    from secauth.claim_mapping import ClaimMapper
    from secauth.cognito import CognitoVerifier
    from secauth.revocation import Revocations

__all__ = ["ClaimsCheck", "JwtVerifier", "MultiIssuerVerifier"]

ClaimsCheck = Callable[[Mapping[str, Any], Mapping[str, Any], jose.VerificationKey], None]
"""A custom check ``(header, claims, key) -> None`` that raises to reject a token."""

_HEADER_CACHE_SIZE = 64


class JwtVerifier:
    """Verify compact JWTs (JWS) against one issuer's keys and a claim policy.

    Parameters
    ----------
    issuer:
        The exact ``iss`` required, or ``None`` to skip the check (explicitly).
    audience:
        One value or several accepted for ``aud`` (token ``aud`` may be a string
        or a list; one match suffices), or ``None`` to skip the check (explicitly).
    algorithms:
        Accepted ``alg`` values. Default: every asymmetric algorithm secauth
        supports. HMAC (``HS256``...) only when named here and ``secret`` is given.
    jwks_uri, jwks, secret:
        Exactly one key source: a JWKS URL (cached, see :class:`~secauth.jwks.JwksCache`),
        a JWKS dict or any :class:`~secauth.jwks.KeySource`, or an HMAC secret.
    token_type:
        Required ``typ`` header, e.g. ``"at+jwt"`` (RFC 9068); compared as a media type.
    leeway:
        Seconds of clock skew tolerated for ``exp``, ``nbf`` and ``iat``.
    max_future_iat:
        How far (seconds, after leeway) ``iat`` may lie in the future (default 60).
    require_exp:
        ``exp`` must be present (default True).
    required_claims:
        Claims that must be present. ``expected_claims``: claims that must equal a value.
    check:
        A custom hook ``(header, claims, key) -> None``; raise to reject. It runs on
        every verification, cache hits included. A non-secauth exception from it
        rejects the token with ``invalid_claims``.
    revocations:
        A :class:`~secauth.revocation.Revocations` list, consulted after the signature and
        claims pass, on every verification (cache hits included): a revoked token is a
        401 ``token_revoked``.
    max_token_size:
        Longest accepted token in characters (default 16 KiB).
    cache_size, cache_max_age:
        Verified-token cache: entries (0 disables) and seconds an entry lives. A hit
        skips the signature check; time claims are still checked on every hit, and
        the cache is bypassed once the key set changes. A token is cached when it is
        verified the second time: tokens seen once (most of a flood of distinct tokens)
        neither cost an entry nor push out the tokens that do come back.
    audience_claim:
        The claim checked against ``audience`` (``"aud"``; Cognito access tokens use
        ``"client_id"``).
    allow_http:
        Allow a plain-http ``jwks_uri`` on loopback, for tests only.
    clock:
        Seconds since the epoch; injectable for tests.

    Example
    -------
    >>> from secauth.testing import KeyPair
    >>> pair = KeyPair.generate("EdDSA", kid="k1")
    >>> verifier = JwtVerifier(issuer="https://idp.example.com/", audience="api",
    ...                        jwks={"keys": [pair.public_jwk]})
    >>> token = pair.sign({"iss": "https://idp.example.com/", "aud": "api", "exp": 4e9})
    >>> verifier.verify(token)["aud"]
    'api'
    """

    def __init__(
        self,
        *,
        issuer: str | None,
        audience: str | Collection[str] | None,
        algorithms: Iterable[str] | None = None,
        jwks_uri: str | None = None,
        jwks: Mapping[str, Any] | KeySource | None = None,
        secret: str | bytes | None = None,
        token_type: str | None = None,
        leeway: float = 0.0,
        max_future_iat: float = 60.0,
        require_exp: bool = True,
        required_claims: Iterable[str] = (),
        expected_claims: Mapping[str, Any] | None = None,
        check: ClaimsCheck | None = None,
        revocations: Revocations | None = None,
        max_token_size: int = jose.DEFAULT_MAX_TOKEN_SIZE,
        cache_size: int = 1024,
        cache_max_age: float = 300.0,
        audience_claim: str = "aud",
        allow_http: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
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
        self.algorithms = checked_algorithms(algorithms, hmac=secret is not None)
        self.keys = key_source(jwks_uri, jwks, secret, self.algorithms, allow_http)
        if token_type is not None and (not isinstance(token_type, str) or not token_type):
            raise ConfigurationError("token_type must be a non-empty string such as 'at+jwt'")
        self.token_type = token_type
        if check is not None and not callable(check):
            raise ConfigurationError("check must be a callable (header, claims, key) -> None")
        self.check = check
        if revocations is not None and not callable(getattr(revocations, "check", None)):
            raise ConfigurationError("revocations must be a secauth.revocation.Revocations")
        #: The revocation list consulted on every verification (None: none).
        self.revocations = revocations
        if not (256 <= max_token_size <= 1024 * 1024):
            raise ConfigurationError("max_token_size must be between 256 bytes and 1 MiB")
        self.max_token_size = max_token_size
        if cache_size < 0 or not (0 <= cache_max_age < math.inf):  # NaN never expires
            raise ConfigurationError("cache_size and cache_max_age must not be negative, NaN or infinite")
        self.cache_size = cache_size
        self.cache_max_age = float(cache_max_age)
        self._clock = clock
        self._cache = VerifiedTokenCache(cache_size, self.cache_max_age)
        self._headers: OrderedDict[str, jose.Header] = OrderedDict()
        #: The claim mapping ``Authorizer`` and ``Guard`` use unless given ``claims=``
        #: (None: theirs, ``ClaimMapper()``). Presets set it; so may you.
        self.default_claims: ClaimMapper | None = None

    # -- presets ------------------------------------------------------------------------

    @classmethod
    def from_discovery(
        cls,
        issuer: str,
        *,
        audience: str | Collection[str] | None,
        allow_http: bool = False,
        jwks_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> JwtVerifier:
        """A verifier whose keys come from the issuer's OIDC discovery document.

        The document is fetched lazily (or by :meth:`hydrate`), and its ``issuer``
        must equal ``issuer`` exactly.

        >>> v = JwtVerifier.from_discovery("https://idp.example.com", audience="api")
        >>> v.keys.url
        'https://idp.example.com/.well-known/openid-configuration'
        """
        if {"jwks", "jwks_uri", "secret"} & set(options) or {"allow_http", "discovery_issuer"} & set(
            jwks_options or {}
        ):
            raise ConfigurationError("from_discovery sets the key source from the discovery document")
        from secauth.jwks import JwksCache  # the fetch machinery loads only for a URL

        cache = JwksCache.from_discovery(issuer, allow_http=allow_http, **(jwks_options or {}))
        return cls(issuer=issuer, audience=audience, jwks=cache, **options)

    @classmethod
    def cognito(
        cls,
        *,
        user_pool_id: str,
        client_id: str | Collection[str] | None,
        token_use: Literal["id", "access"],
        issuer_format: Literal["both", "original", "updated"] = "both",
        additional_regions: Iterable[str] = (),
        **options: Any,
    ) -> CognitoVerifier:
        """A verifier for an Amazon Cognito user pool: a
        :class:`~secauth.cognito.CognitoVerifier`.

        ID tokens must carry ``client_id`` in ``aud``; access tokens in the
        ``client_id`` claim. ``token_use`` must match. Pass ``client_id=None`` only
        to skip the client check on purpose. Both issuer formats are accepted
        (``issuer_format=``), in the pool's Region and each of ``additional_regions``
        (replicas), each issuer with its own key set fetched from
        ``{issuer}/.well-known/jwks.json`` unless ``jwks=`` (a JWKS dict or key
        source) is given, for example keys bundled with the function. Its
        ``default_claims`` (``ClaimMapper.cognito()``) map ``cognito:groups`` in
        ``Authorizer`` and ``Guard``.

        >>> v = JwtVerifier.cognito(user_pool_id="eu-west-1_AbC123", client_id="app",
        ...                         token_use="access")
        >>> v.issuers
        ('https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123', \
'https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123')
        """
        from secauth.cognito import CognitoVerifier  # that module imports this one

        return CognitoVerifier(
            user_pool_id=user_pool_id,
            client_id=client_id,
            token_use=token_use,
            issuer_format=issuer_format,
            additional_regions=additional_regions,
            **options,
        )

    @staticmethod
    def multi(
        *verifiers: JwtVerifier | MultiIssuerVerifier, default_claims: ClaimMapper | None = None
    ) -> MultiIssuerVerifier:
        """One verifier for several issuers; see
        :class:`~secauth.multi_issuer.MultiIssuerVerifier`."""
        return MultiIssuerVerifier(verifiers, default_claims=default_claims)

    @property
    def issuer(self) -> str | None:
        """The exact ``iss`` required (None: not checked)."""
        return self.claims.issuer

    @property
    def audience(self) -> frozenset[str] | None:
        """The accepted audiences (None: not checked)."""
        return self.claims.audience

    @property
    def leeway(self) -> float:
        """Seconds of clock skew tolerated for time claims."""
        return self.claims.leeway

    # -- verification -------------------------------------------------------------------

    def hydrate(self, *, strict: bool = False) -> bool:
        """Load keys now, for the Lambda init phase. Returns whether keys are ready."""
        return self.keys.hydrate(strict=strict)

    def verify(self, token: str) -> dict[str, Any]:
        """Verify ``token`` and return its claims (a fresh dict on every call).

        Raises a :class:`~secauth.errors.SecAuthError` with a stable ``reason``:
        401-class for a bad token, :class:`~secauth.errors.KeysUnavailable` (503)
        when the key source is down.
        """
        try:
            claims = self._cached(token) if token in self._cache else None
            if claims is None:
                segments, header = self._parse(token)
                # The key generation before the key lookup: a refresh that lands meanwhile
                # (and may withdraw the key) must leave this token's cache entry stale.
                generation = self.keys.generation
                keys = self.keys.keys_for(header.kid)
                claims = self._finish(token, segments, header, keys, generation)
            if self.revocations is not None:  # every verification, cache hits included
                self.revocations.check(claims)
            return claims
        except SecAuthError:
            raise
        except Exception as exc:  # fail closed: no foreign exception escapes
            raise MalformedToken(detail={"problem": f"unexpected {type(exc).__name__}"}) from None

    async def verify_async(self, token: str) -> dict[str, Any]:
        """:meth:`verify` with the keys looked up by ``keys_for_async`` (the only I/O);
        shares the key cache and the verified-token cache."""
        try:
            claims = self._cached(token) if token in self._cache else None
            if claims is None:
                segments, header = self._parse(token)
                generation = self.keys.generation  # before the lookup, as in verify()
                keys = await self.keys.keys_for_async(header.kid)
                claims = self._finish(token, segments, header, keys, generation)
            if self.revocations is not None:
                await self.revocations.check_async(claims)
            return claims
        except SecAuthError:
            raise
        except Exception as exc:  # fail closed: no foreign exception escapes
            raise MalformedToken(detail={"problem": f"unexpected {type(exc).__name__}"}) from None

    def revalidate(self, token: str) -> bool:
        """True when ``token`` is in the verified-token cache (it was verified twice, see
        ``cache_size``) and still passes every check; no claims.

        For callers that memoize what they derived from a token (the Authorizer, Guard):
        a cheap "is this still the same valid token?" that raises the same errors as
        :meth:`verify` (expiry). False means "not known here": call
        :meth:`verify`. Always False with a ``check`` hook or a revocation list, which need
        the claims.

        >>> from secauth.testing import KeyPair
        >>> pair = KeyPair.generate("ES256", kid="k")
        >>> v = JwtVerifier(issuer="https://i/", audience="a", jwks={"keys": [pair.public_jwk]})
        >>> token = pair.sign({"iss": "https://i/", "aud": "a", "exp": 4e9})
        >>> v.revalidate(token), v.verify(token)["aud"], v.revalidate(token)
        (False, 'a', False)
        >>> v.verify(token)["aud"], v.revalidate(token)
        ('a', True)
        """
        if self.check is not None or self.revocations is not None or type(token) is not str:
            return False
        return self._hit(token) is not None

    def clear_cache(self) -> None:
        """Forget every verified token (keys stay cached). Call it after changing
        :attr:`claims`: a hit re-checks a token's expiry alone, the other checks ran when
        it was verified."""
        self._cache.clear()
        self._headers.clear()

    # -- steps --------------------------------------------------------------------------

    def _cached(self, token: str) -> dict[str, Any] | None:
        """The claims of a token verified before with the current keys, checked again
        for time; None when it is not cached."""
        entry = self._hit(token)
        if entry is None:
            return None
        claims: dict[str, Any] = json.loads(entry.claims_json)
        if self.check is not None:
            self._run_check(entry.header, claims, entry.key)
        return claims

    def _hit(self, token: str) -> CachedToken | None:
        """The cache entry of ``token`` if it serves now, else None; raises as
        :meth:`verify` would for a cached token now expired. One clock reading decides
        both: the entry serves only at or after the time it was made, when its other time
        checks (``nbf``, ``iat``) passed."""
        now = self._clock()
        entry = self._cache.get(token, self.keys.generation, now)
        if entry is not None and now >= entry.exp + self.claims.leeway:
            self._cache.drop(token)
            raise TokenExpired(detail={"exp": entry.exp, "now": now})
        return entry

    def _parse(self, token: object) -> tuple[jose.Segments, jose.Header]:
        if token is None or token == "":
            raise MissingToken()
        segments = jose.split_compact(token, max_size=self.max_token_size)
        # Tokens from one key share one header segment; its checks are a pure function of
        # that text, so a small cache of headers that passed spares the decode on each token.
        header = self._headers.get(segments.header_segment)
        if header is None:
            header = self._check_header(segments.header_segment)
        return segments, header

    def _check_header(self, segment: str) -> jose.Header:
        header = jose.parse_header(segment)
        if header.alg not in self.algorithms:
            raise InvalidSignature(detail={"problem": "algorithm not allowed", "alg": header.alg})
        if self.token_type is not None:
            typ = header.header.get("typ")
            if typ is None or not jose.typ_matches(typ, self.token_type):
                raise InvalidClaims(
                    detail={"problem": "wrong typ", "expected": self.token_type, "actual": typ}
                )
        _bounded_put(self._headers, segment, header, _HEADER_CACHE_SIZE)
        return header

    def _finish(
        self,
        token: str,
        segments: jose.Segments,
        header: jose.Header,
        candidates: tuple[jose.VerificationKey, ...],
        generation: int,
    ) -> dict[str, Any]:
        """Check the signature with the first candidate key bound to the token's ``alg``,
        then the claims; remember the verified token."""
        alg = header.alg
        for key in candidates:
            if alg in key.algorithms:
                break
        else:
            raise InvalidSignature(
                detail={"problem": "algorithm not bound to the key", "alg": alg, "kid": header.kid}
            )
        if not key.verify(alg, segments.signing_input, segments.signature):
            raise InvalidSignature(detail={"alg": alg, "kid": header.kid})
        claims, claims_json = jose.parse_claims_text(
            segments.payload_segment, alphabet_checked=True
        )
        now = self._clock()
        times = self.claims.check(claims, now)
        if self.check is not None:
            self._run_check(header.header, claims, key)
        if self._cache.seen_before(token):  # admission: kept from its second verification
            until = self._cache.until(now, fresh_for=fresh_for(self.keys))
            entry = CachedToken(
                claims_json=claims_json, header=header.header, key=key, exp=times.exp,
                generation=generation, made_at=now, until=until,
            )  # fmt: skip
            self._cache.keep(token, entry)
        return claims

    def _run_check(
        self, header: Mapping[str, Any], claims: Mapping[str, Any], key: jose.VerificationKey
    ) -> None:
        assert self.check is not None
        try:
            # Copies: a hook that mutates what it is given cannot poison the caches.
            self.check(dict(header), claims, key)
        except SecAuthError:
            raise
        except Exception as exc:
            raise InvalidClaims(
                detail={"problem": f"custom check raised {type(exc).__name__}"}
            ) from None


def _bounded_put(cache: OrderedDict[str, Any], key: str, value: Any, size: int) -> None:
    """Insert into an insertion-ordered cache of at most ``size`` entries, evicting the oldest.

    Thread-safe enough: a lost race lets the cache run an entry over for a moment.
    """
    while len(cache) >= size:
        try:
            cache.popitem(last=False)
        except KeyError:  # another thread emptied it first
            break
    cache[key] = value
