"""secauth: secure HTTP endpoints on AWS Lambda.

The public names are re-exported here and imported lazily, so ``import secauth``
costs almost nothing on a cold start; ``cryptography`` loads with the first
verifier, ``httpx`` only with the first async fetch.

Example
-------
>>> import secauth
>>> secauth.Reason.TOKEN_EXPIRED.value
'token_expired'
"""

from __future__ import annotations

# Not ``typing.TYPE_CHECKING``: importing typing alone costs ~8 ms of cold start.
TYPE_CHECKING = False

__version__ = "0.1.0.dev0"

_EXPORTS = {
    "JwtVerifier": "secauth.verifier",
    "MultiIssuerVerifier": "secauth.verifier",
    "JwksCache": "secauth.jwks",
    "KeySet": "secauth.jwks",
    "KeySource": "secauth.jwks",
    "StaticKeys": "secauth.jwks",
    "VerificationKey": "secauth.jose",
    "Reason": "secauth.errors",
    "SecAuthError": "secauth.errors",
    "ConfigurationError": "secauth.errors",
    "TokenError": "secauth.errors",
    "KeysUnavailable": "secauth.errors",
    "AccessDenied": "secauth.errors",
    "RateLimited": "secauth.errors",
    "AbuseBlocked": "secauth.errors",
    "RateLimiter": "secauth.ratelimit.limiter",
}

__all__ = [
    "AbuseBlocked",
    "AccessDenied",
    "ConfigurationError",
    "JwksCache",
    "JwtVerifier",
    "KeySet",
    "KeySource",
    "KeysUnavailable",
    "MultiIssuerVerifier",
    "RateLimited",
    "RateLimiter",
    "Reason",
    "SecAuthError",
    "StaticKeys",
    "TokenError",
    "VerificationKey",
    "__version__",
]

if TYPE_CHECKING:
    from secauth.errors import (
        AbuseBlocked,
        AccessDenied,
        ConfigurationError,
        KeysUnavailable,
        RateLimited,
        Reason,
        SecAuthError,
        TokenError,
    )
    from secauth.jose import VerificationKey
    from secauth.jwks import JwksCache, KeySet, KeySource, StaticKeys
    from secauth.ratelimit.limiter import RateLimiter
    from secauth.verifier import JwtVerifier, MultiIssuerVerifier


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'secauth' has no attribute {name!r}")
    value = getattr(__import__(module, fromlist=[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
