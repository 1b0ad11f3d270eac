"""From an RFC 7662 answer to the claims :class:`~secauth.introspection.IntrospectionVerifier`
returns.

* :func:`entry_of`: the cache entry one answer makes, its claims checked once, when it
  arrives (the claim policy, the member types of :mod:`secauth.introspection_answer` and
  the token type). An inactive token or refused claims make an entry that keeps its
  refusal for ``negative_ttl``; an answer that is no RFC 7662 document raises
  ``FetchError`` (the endpoint's fault: a 503, never an allow).
* :func:`claims_of`: the claims an entry gives at a verification (a fresh dict), its
  refusal raised, or its time claims checked again, then.

>>> from secauth.claim_policy import ClaimPolicy
>>> policy = ClaimPolicy(issuer="https://idp.example.com", audience="orders-api")
>>> answer = {"active": True, "iss": "https://idp.example.com", "aud": "orders-api",
...           "sub": "ann", "exp": 2_000_000_000}
>>> entry = entry_of(answer, 1e9, policy, token_type=None, bound_tokens=False,
...                  negative_ttl=10.0, max_ttl=300.0)
>>> entry.until, claims_of(entry, lambda: 1e9 + 60, leeway=0.0)["sub"]
(1000000300.0, 'ann')
>>> inactive = entry_of({"active": False}, 1e9, policy, token_type=None,
...                     bound_tokens=False, negative_ttl=10.0, max_ttl=300.0)
>>> claims_of(inactive, lambda: 1e9, leeway=0.0)
Traceback (most recent call last):
...
secauth.errors.InvalidClaims: invalid token claims (invalid_claims)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from secauth.claim_policy import MAX_TIME, ClaimPolicy
from secauth.errors import InvalidClaims, SecAuthError, TokenExpired, TokenNotYetValid
from secauth.introspection_answer import bad_answer, check_token_type, member_times
from secauth.introspection_cache import Introspected

__all__ = ["claims_of", "entry_of"]


def entry_of(
    document: object,
    now: float,
    policy: ClaimPolicy,
    *,
    token_type: str | None,
    bound_tokens: bool,
    negative_ttl: float,
    max_ttl: float,
) -> Introspected:
    """The cache entry of the answer ``document``, received at ``now``: its claims checked
    by ``policy`` and :func:`~secauth.introspection_answer.check_token_type`; kept until
    the token's ``exp``, at most ``max_ttl``; a refused token is kept ``negative_ttl``.
    Raises FetchError for an answer that is not RFC 7662 (a bad document: the endpoint's
    fault, not the token's).

    >>> entry_of([], 1e9, ClaimPolicy(issuer=None, audience=None), token_type=None,
    ...          bound_tokens=False, negative_ttl=10.0, max_ttl=300.0)
    Traceback (most recent call last):
    ...
    secauth._fetch.FetchError: the answer is not an object with a boolean 'active'
    """
    if not isinstance(document, dict) or type(document.get("active")) is not bool:
        raise bad_answer("the answer is not an object with a boolean 'active'")
    refused = now + negative_ttl
    if document["active"] is False:
        inactive = {"claim": "active", "problem": "not active", "source": "introspection"}
        return Introspected(None, -MAX_TIME, -MAX_TIME, made_at=now, until=refused,
                            refusal=(InvalidClaims, inactive))
    claims = {name: value for name, value in document.items() if name != "active"}
    exp, nbf = member_times(claims)
    try:
        policy.check(claims, now)
        check_token_type(claims, token_type, bound_tokens=bound_tokens)
    except SecAuthError as exc:  # kept like an inactive answer
        return Introspected(None, -MAX_TIME, -MAX_TIME, made_at=now, until=refused,
                            refusal=(type(exc), exc.detail))
    exp = MAX_TIME if exp is None else exp
    until = min(exp, now + max_ttl)
    nbf = -MAX_TIME if nbf is None else nbf
    return Introspected(json.dumps(claims), exp, nbf, made_at=now, until=until, refusal=None)


def claims_of(entry: Introspected, clock: Callable[[], float], leeway: float) -> dict[str, Any]:
    """The claims of ``entry`` (new or cached): its refusal raised, or its time claims
    checked at ``clock()`` with ``leeway`` (the others were checked once, when it arrived).

    >>> kept = Introspected('{"sub": "ann"}', exp=2e9, nbf=0.0, made_at=1e9, until=2e9,
    ...                     refusal=None)
    >>> claims_of(kept, lambda: 1e9, leeway=0.0)
    {'sub': 'ann'}
    >>> claims_of(kept, lambda: 2e9, leeway=0.0)
    Traceback (most recent call last):
    ...
    secauth.errors.TokenExpired: token expired (token_expired)
    """
    if entry.refusal is not None:
        error, detail = entry.refusal
        raise error(detail=detail)
    now = clock()
    if now >= entry.exp + leeway:
        raise TokenExpired(detail={"exp": entry.exp, "now": now})
    if now + leeway < entry.nbf:
        raise TokenNotYetValid(detail={"nbf": entry.nbf, "now": now})
    assert entry.claims_json is not None
    claims: dict[str, Any] = json.loads(entry.claims_json)
    return claims
