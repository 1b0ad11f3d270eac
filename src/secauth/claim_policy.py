"""``ClaimPolicy``: what a verified token's claims must say (time claims, ``iss``,
``aud``, required and expected claims), checked after the signature holds.

Every comparison is exact: no case folding, no coercion (``"1700000000"`` is not a
time, ``true`` is not ``1``). :class:`~secauth.verifier.JwtVerifier` builds one from
its options.

>>> policy = ClaimPolicy(issuer="https://idp/", audience="api")
>>> policy.check({"iss": "https://idp/", "aud": "api", "exp": 2e9}, now=1e9)
ClaimTimes(exp=2000000000.0, nbf=-9007199254740992.0)
>>> policy.check({"iss": "https://idp/", "aud": "other", "exp": 2e9}, now=1e9)
Traceback (most recent call last):
...
secauth.errors.InvalidAudience: invalid token audience (invalid_audience)
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from typing import Any, NamedTuple

from secauth.errors import (
    ConfigurationError,
    InvalidAudience,
    InvalidClaims,
    InvalidIssuer,
    TokenExpired,
    TokenNotYetValid,
)
from secauth.options import flag, names

__all__ = [
    "MAX_FUTURE_IAT",
    "MAX_LEEWAY",
    "MAX_TIME",
    "ClaimPolicy",
    "ClaimTimes",
    "checked_audience",
    "shown",
    "time_claim",
]

#: The most leeway and the furthest future ``iat`` a verifier accepts, seconds.
MAX_LEEWAY = 300.0
MAX_FUTURE_IAT = 3600.0
#: Time claims beyond 2**53 cannot be exact JSON numbers (RFC 7493, I-JSON) and would
#: overflow float arithmetic.
MAX_TIME = float(2**53)
# Claims that are one string whenever present (RFC 7519 4.1.1, 4.1.2, 4.1.7; RFC 9068 2.2
# and RFC 7662 for client_id: a list would slip past a revocation by client).
_STRING_CLAIMS = ("iss", "sub", "jti", "client_id")


class ClaimTimes(NamedTuple):
    """The validity window a token's claims give: ``exp`` and ``nbf`` as seconds
    (``MAX_TIME`` / ``-MAX_TIME`` where the token has none)."""

    exp: float
    nbf: float


class ClaimPolicy:
    """The claim checks of one verifier; see :class:`~secauth.verifier.JwtVerifier`
    for what each option means."""

    __slots__ = (
        "audience",
        "audience_claim",
        "expected_claims",
        "issuer",
        "leeway",
        "max_future_iat",
        "max_lifetime",
        "require_exp",
        "required_claims",
    )

    def __init__(
        self,
        *,
        issuer: str | None,
        audience: str | Collection[str] | None,
        audience_claim: str = "aud",
        leeway: float = 0.0,
        max_future_iat: float = 60.0,
        require_exp: bool = True,
        required_claims: Iterable[str] = (),
        expected_claims: Mapping[str, Any] | None = None,
        max_lifetime: float | None = None,
    ) -> None:
        self.issuer = _checked_issuer(issuer)
        self.audience = checked_audience(audience)
        if not isinstance(audience_claim, str) or not audience_claim:
            raise ConfigurationError("audience_claim must be a claim name such as 'aud'")
        self.audience_claim = audience_claim
        if not (0 <= leeway <= MAX_LEEWAY) or not (0 <= max_future_iat <= MAX_FUTURE_IAT):
            raise ConfigurationError("leeway must be 0..300 s and max_future_iat 0..3600 s")
        self.leeway = float(leeway)
        self.max_future_iat = float(max_future_iat)
        self.require_exp = flag("require_exp", require_exp)
        self.required_claims = names("required_claims", required_claims)
        self.expected_claims = dict(expected_claims or {})
        if not all(map(_is_json, self.expected_claims.values())):
            raise ConfigurationError(
                "expected_claims values must be JSON values (str, int, float, bool, None, "
                "list, dict with str keys): a tuple or a set would match no token"
            )
        if max_lifetime is not None and (
            isinstance(max_lifetime, bool)
            or not isinstance(max_lifetime, int | float)
            or not 0 < max_lifetime <= MAX_TIME
        ):
            raise ConfigurationError("max_lifetime must be a positive number of seconds or None")
        #: The longest ``exp - iat`` accepted (None: any); with it, tokens need both.
        self.max_lifetime = None if max_lifetime is None else float(max_lifetime)

    def check(self, claims: Mapping[str, Any], now: float) -> ClaimTimes:
        """Raise the matching :class:`~secauth.errors.TokenError` unless ``claims`` pass
        at time ``now``; return the token's validity window."""
        times = self.check_times(claims, now)
        if self.issuer is not None:
            iss = claims.get("iss")
            if type(iss) is not str or iss != self.issuer:
                raise InvalidIssuer(detail={"expected": self.issuer, "actual": shown(iss)})
        audience = self.audience
        if audience is not None:
            aud = claims.get(self.audience_claim)
            if type(aud) is not str or aud not in audience:  # a list, or a miss: look closer
                self._check_audience(aud)
        for name in _STRING_CLAIMS:
            if name in claims and type(claims[name]) is not str:
                raise InvalidClaims(detail={"claim": name, "problem": "not a string"})
        for name in self.required_claims:
            if claims.get(name) is None:  # a null is no value either
                raise InvalidClaims(detail={"claim": name, "problem": "missing"})
        for name, expected in self.expected_claims.items():
            if name not in claims or not _same_json(claims[name], expected):
                # Named, not shown: a claim's value may be private (decision records
                # show no claim value but the principal's id and tenant, and an issuer).
                raise InvalidClaims(detail={"claim": name, "problem": "unexpected value"})
        return times

    def check_times(self, claims: Mapping[str, Any], now: float) -> ClaimTimes:
        """``exp``, ``nbf`` and ``iat`` against ``now`` (with leeway)."""
        leeway = self.leeway
        exp = time_claim(claims, "exp")
        if exp is None:
            if self.require_exp:
                raise InvalidClaims(detail={"claim": "exp", "problem": "missing"})
            exp = MAX_TIME
        elif now >= exp + leeway:
            raise TokenExpired(detail={"exp": exp, "now": now})
        nbf = time_claim(claims, "nbf")
        if nbf is not None and now + leeway < nbf:
            raise TokenNotYetValid(detail={"nbf": nbf, "now": now})
        iat = time_claim(claims, "iat")
        if iat is not None and iat > now + leeway + self.max_future_iat:
            raise TokenNotYetValid(detail={"iat": iat, "now": now, "problem": "iat in the future"})
        if self.max_lifetime is not None and (iat is None or exp - iat > self.max_lifetime):
            # A revocation list's entries live max_lifetime: a token that could outlive
            # them would be accepted again once its entry expired (exp is MAX_TIME if absent).
            raise InvalidClaims(detail={"claim": "exp", "problem": "lifetime unknown or too long"})
        return ClaimTimes(exp, nbf if nbf is not None else -MAX_TIME)

    def _check_audience(self, aud: object) -> None:
        assert self.audience is not None
        if type(aud) is str:
            if aud in self.audience:
                return
        elif (
            type(aud) is list
            and self.audience_claim == "aud"  # only aud may be a list (RFC 7519 4.1.3)
            and aud
            and all(type(a) is str for a in aud)
            and not self.audience.isdisjoint(aud)
        ):
            return
        raise InvalidAudience(
            detail={
                "expected": sorted(self.audience),
                "actual_type": type(aud).__name__,  # the audience a token names is not shown
                "claim": self.audience_claim,
            }
        )


def time_claim(claims: Mapping[str, Any], name: str) -> float | None:
    """A time claim as seconds, None when absent; a present ``null``, a string, a bool or
    a non-finite number is refused (``InvalidClaims``), never coerced.

    >>> time_claim({"exp": 1700000000}, "exp"), time_claim({}, "nbf")
    (1700000000.0, None)
    """
    value = claims.get(name)
    if value is None:
        if name in claims:
            raise InvalidClaims(detail={"claim": name, "problem": "null"})
        return None
    if (
        type(value) not in (int, float)
        or not (-MAX_TIME <= value <= MAX_TIME)
        or (type(value) is float and not math.isfinite(value))
    ):
        raise InvalidClaims(detail={"claim": name, "problem": "not a finite JSON number"})
    return float(value)


def shown(value: object) -> object:
    """A claim value as it may appear in an error's internal detail (short, never nested).

    >>> shown("api"), shown(["a", "b"])
    ('api', '<list>')
    """
    if value is None or type(value) in (str, int, float, bool):
        return value
    return f"<{type(value).__name__}>"


def _checked_issuer(issuer: object) -> str | None:
    if issuer is None:
        return None
    if not isinstance(issuer, str) or not issuer.strip():
        raise ConfigurationError("issuer must be the exact iss string, or None to skip the check")
    return issuer


def checked_audience(audience: object, name: str = "audience") -> frozenset[str] | None:
    """``audience`` (one string or a collection of them, None: not checked) as a set;
    :class:`~secauth.errors.ConfigurationError` naming ``name`` otherwise.

    >>> sorted(checked_audience(["api", "admin"]))
    ['admin', 'api']
    >>> checked_audience("", name="client_id")
    Traceback (most recent call last):
    ...
    secauth.errors.ConfigurationError: client_id must be a non-empty string or collection of \
non-empty strings, or None to skip the check
    """
    if audience is None:
        return None
    values = [audience] if isinstance(audience, str) else audience
    if (
        not isinstance(values, Collection)
        or not values
        or not all(isinstance(a, str) and a for a in values)
    ):
        raise ConfigurationError(
            f"{name} must be a non-empty string or collection of non-empty strings, "
            "or None to skip the check"
        )
    return frozenset(values)


def _same_json(actual: object, expected: object) -> bool:
    """Whether two JSON values are equal with the same types all the way down: ``true``
    is not ``1`` and ``1`` is not ``1.0``, in a list or an object too (Python's ``==``
    says they are).

    >>> _same_json({"level": 1}, {"level": 1}), _same_json([True], [1]), _same_json(1.0, 1)
    (True, False, False)
    """
    if type(actual) is not type(expected):
        return False
    if isinstance(expected, list):
        assert isinstance(actual, list)
        return len(actual) == len(expected) and all(map(_same_json, actual, expected))
    if isinstance(expected, dict):
        assert isinstance(actual, dict)
        return actual.keys() == expected.keys() and all(
            _same_json(actual[key], value) for key, value in expected.items()
        )
    return actual == expected


def _is_json(value: object) -> bool:
    """Whether ``value`` is what JSON parsing can give: a token's claim can equal it."""
    if value is None or type(value) in (str, int, float, bool):
        return True
    if type(value) is list:
        return all(map(_is_json, value))
    if type(value) is dict:
        return all(type(k) is str and _is_json(v) for k, v in value.items())
    return False
