"""What an RFC 7662 introspection answer must be before
:class:`~secauth.introspection.IntrospectionVerifier` takes its claims.

* Members of the wrong JSON type make the whole answer a bad document (the endpoint's
  fault: a 503, never an allow): :func:`member_times`.
* The token's type and binding (:func:`check_token_type`): ``token_type`` must be the one
  configured (``Bearer`` by default). An answer with ``cnf`` (a sender-constrained token,
  RFC 8705 section 3.2 and RFC 9449 section 6.2) is refused unless the verifier accepts
  bound tokens; then the Guard or Authorizer checks the binding on every request, as for a
  JWT (:func:`~secauth.sender_constraint.check_binding`), and a DPoP-bound token may say
  ``token_type: DPoP``.

>>> member_times({"sub": "ann", "exp": 4e9})
(4000000000.0, None)
>>> check_token_type({"token_type": "DPoP", "cnf": {"jkt": "x"}}, "Bearer", bound_tokens=True)
>>> check_token_type({"token_type": "DPoP", "cnf": {"jkt": "x"}}, "Bearer", bound_tokens=False)
Traceback (most recent call last):
...
secauth.errors.InvalidClaims: invalid token claims (invalid_claims)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from secauth._fetch import FetchCause, FetchError
from secauth.errors import InvalidClaims

__all__ = ["bad_answer", "bad_member", "check_token_type", "member_times"]

# Members that are strings when present (RFC 7662 section 2.2).
_STRINGS = ("iss", "sub", "client_id", "scope", "token_type", "username", "jti")
_TIMES = ("exp", "iat", "nbf")


def bad_answer(problem: str) -> FetchError:
    """The error of an answer that is not an RFC 7662 document (``bad_document``)."""
    return FetchError(problem, FetchCause("bad_document", document="introspection"))


def bad_member(problem: str) -> FetchError:
    """The error of an RFC 7662 answer with a member of the wrong type (``bad_member``):
    about that answer's token (a numeric ``sub``, a null ``username``), not the endpoint,
    which is not rested for it."""
    return FetchError(problem, FetchCause("bad_member", document="introspection"))


def member_times(claims: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """Refuse (:func:`bad_member`) members of the wrong JSON type; return ``exp`` and
    ``nbf`` (None when absent).

    >>> member_times({"exp": 1_700_000_000})
    (1700000000.0, None)
    >>> member_times({"exp": 10**400})
    Traceback (most recent call last):
    ...
    secauth._fetch.FetchError: member 'exp' is not a finite number
    """
    for name in _STRINGS:
        if name in claims and type(claims[name]) is not str:
            raise bad_member(f"member {name!r} is not a string")
    aud = claims.get("aud")
    if "aud" in claims and not (
        type(aud) is str or (type(aud) is list and all(type(a) is str for a in aud))
    ):
        raise bad_member("member 'aud' is not a string or a list of strings")
    times: dict[str, float] = {}
    for name in _TIMES:
        if name not in claims:
            continue
        value = claims[name]
        if type(value) not in (int, float) or not _finite(value):
            raise bad_member(f"member {name!r} is not a finite number")
        times[name] = float(value)
    return times.get("exp"), times.get("nbf")


def _finite(value: float) -> bool:
    """Whether ``value`` is a float, or an int a float holds (10**400 is neither): a time
    out of range (2**60) is the claim checks' to refuse (401); this one, the answer's."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_token_type(
    claims: Mapping[str, Any], token_type: str | None, *, bound_tokens: bool
) -> None:
    """Raise :class:`~secauth.errors.InvalidClaims` for a token of another type than
    ``token_type`` (case-insensitive; None: not checked), or for a sender-constrained
    one (``cnf``) unless ``bound_tokens``. With ``bound_tokens``, ``token_type: DPoP`` is
    accepted for a token whose ``cnf`` names a DPoP key (``jkt``), which its proof must
    then match. Whatever ``token_type`` is, an answer saying ``DPoP`` without such a key
    is refused: the server calls the token bound, and there is no key to check it by."""
    cnf = claims.get("cnf")
    if "cnf" in claims and not bound_tokens:
        raise InvalidClaims(detail={"claim": "cnf", "problem": "sender-constrained token"})
    # Compared trimmed and case-blind: " DPoP" is what a server meant by DPoP, never Bearer.
    stated = claims.get("token_type")
    stated = stated.strip().lower() if type(stated) is str else None
    says_dpop = stated == "dpop"
    if says_dpop and not (isinstance(cnf, Mapping) and "jkt" in cnf):
        raise InvalidClaims(detail={"claim": "cnf", "problem": "DPoP token without a key"})
    if token_type is None or stated == token_type.strip().lower():
        return
    if says_dpop:  # and bound to a key (above), which its proof must match
        return
    raise InvalidClaims(detail={"claim": "token_type", "problem": "unexpected value"})
