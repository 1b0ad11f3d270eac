"""``ResponseMemo``: the Authorizer's answers to a bearer token repeated on the same target;
``PrincipalMemo``: the Guard's principals of repeated callers.

``ResponseMemo`` is one bounded cache with one eviction rule: the least recently used
answer goes when a new one would exceed ``size``. Its admission is the verifier's
(:class:`~secauth.token_cache.Sightings`): a key's first answer is only noted, as a hash,
and its second is kept, so one-time tokens
(most of them, on a busy API) cost no copy, are not kept alive and evict no returning
caller. Every answer handed out is a fresh copy a caller may change: its dicts and lists
are copied (:func:`fresh_copy`), its strings and numbers shared (they cannot change). The
Authorizer verifies the token again before it uses an entry (expiry, key changes,
revocation), and never memoizes answers whose rule reads the request.

>>> memo = ResponseMemo(2)
>>> memo.put(("token", "GET /a"), {"principalId": "u"}, {"decision": "allow"})
>>> memo.get(("token", "GET /a")) is None  # noted, not kept yet
True
>>> memo.put(("token", "GET /a"), {"principalId": "u"}, {"decision": "allow"})
>>> memo.get(("token", "GET /a")).response
{'principalId': 'u'}
>>> memo.get(("token", "GET /b")) is None
True
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, NamedTuple

from secauth.claim_mapping import ClaimMapper
from secauth.errors import SecAuthError
from secauth.events import Request
from secauth.principal import CONTEXT_FIELDS, Principal
from secauth.targets import route_template, routed_path
from secauth.token_cache import Sightings
from secauth.token_sources import TokenSource, read_token

__all__ = ["PrincipalMemo", "Remembered", "ResponseMemo", "answer_key", "fresh_copy"]


def fresh_copy(value: Any) -> Any:
    """``value`` (a response: JSON's dicts, lists, strings, numbers, booleans and None)
    with every dict and list copied, so a change to the copy never reaches ``value``.

    >>> kept = {"context": {"roles": ["a"]}}
    >>> copy = fresh_copy(kept)
    >>> copy["context"]["roles"].append("admin")
    >>> kept
    {'context': {'roles': ['a']}}
    """
    if type(value) is dict:
        return {key: fresh_copy(item) for key, item in value.items()}
    if type(value) is list:
        return [fresh_copy(item) for item in value]
    return value


class Remembered(NamedTuple):
    """A memoized answer: the response and the decision record's fields (fresh copies)."""

    response: dict[str, Any]
    fields: dict[str, Any]


class ResponseMemo:
    """Responses by key, at most ``size`` of them (0 turns the memo off)."""

    def __init__(self, size: int) -> None:
        self.size = size
        # key -> (the response, record fields), least recently used first; never handed out.
        self._entries: OrderedDict[Hashable, tuple[dict[str, Any], dict[str, Any]]] = OrderedDict()
        # Keys answered once (admission; the answer itself is stored under its whole key).
        self._sightings = Sightings(size)

    def __len__(self) -> int:
        """How many answers are kept (keys seen once are not counted)."""
        return len(self._entries)

    def get(self, key: Hashable) -> Remembered | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        response, fields = entry
        return Remembered(fresh_copy(response), dict(fields))

    def put(self, key: Hashable, response: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
        """Note ``key`` on its first answer; keep the answer on its second."""
        if not self._sightings.seen_before(key):
            return
        self._entries[key] = (fresh_copy(response), dict(fields))
        self._entries.move_to_end(key)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)


def answer_key(request: Request, token_sources: Sequence[TokenSource]) -> tuple[Any, ...] | None:
    """The :class:`ResponseMemo` key of a bearer-token request: the token first, then the
    source it came from (an answer is never reused for the same token presented elsewhere),
    the target and the route API Gateway ran, its template too, with its parameters (an HTTP
    API's decoded path reads alike for two routes, and an answer cached per route is planned
    for its route), and the client certificate (a certificate-bound token's answer is its
    own). None for a request whose answer is never memoized: no single readable token (it
    is refused), a DPoP proof (single-use), a cookie (its answer depends on its ``Origin``).

    >>> from secauth.token_sources import DEFAULT_TOKEN_SOURCES
    >>> event = {"type": "TOKEN", "authorizationToken": "Bearer abc",
    ...          "methodArn": "arn:aws:execute-api:us-east-1:123456789012:a/prod/GET/x"}
    >>> answer_key(Request.from_event(event), DEFAULT_TOKEN_SOURCES)[0]
    'abc'
    """
    try:
        presented = read_token(request, token_sources)
    except SecAuthError:
        return None  # answered (refused) by the credentials step, never memoized
    if presented.scheme == "DPoP" or presented.source.place == "cookie":
        return None
    return (presented.token, presented.source.label, request.kind, request.method_arn,
            request.route_key, route_template(request), request.sent_method, request.path,
            routed_path(request), request.client_cert.get("clientCertPem"))  # fmt: skip


class PrincipalMemo:
    """The :class:`~secauth.guard.Guard`'s principals for repeated callers, by verified token
    (same token, same claims) and by authorizer context (its ``secauth_*`` strings). Bounded
    at ``size``; one eviction rule: emptied when full.

    >>> from secauth.claim_mapping import ClaimMapper
    >>> from secauth.principal import CONTEXT_FIELDS, Principal
    >>> memo = PrincipalMemo()
    >>> first = memo.for_claims("token", {"sub": "u"}, ClaimMapper())
    >>> memo.for_claims("token", {"sub": "other"}, ClaimMapper()) is first  # keyed by token
    True
    >>> context = Principal("ann", tenant="acme").to_context()
    >>> memo.for_context(context) is memo.for_context(dict(context))
    True
    """

    __slots__ = ("_principals", "size")

    # Principal.from_context reads only these fields: equal strings, equal principal.
    FIELDS = CONTEXT_FIELDS

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._principals: dict[object, Principal] = {}

    def __len__(self) -> int:
        return len(self._principals)

    def for_claims(
        self, token: str, claims: Mapping[str, Any], mapper: ClaimMapper
    ) -> Principal:
        """The principal ``mapper`` makes of verified ``claims``, once per token."""
        principal = self._principals.get(token)
        if principal is None:
            principal = mapper.map(claims)
            self._remember(token, principal)
        return principal

    def for_context(self, context: Mapping[str, Any]) -> Principal:
        """``Principal.from_context(context)``, once per context (raises as it does). Only
        all-string keys are kept, and no other JSON value equals a string, so a hit means
        the same strings; an unhashable value (a list) is read afresh every time."""
        key = tuple(map(context.get, self.FIELDS))
        try:
            principal = self._principals.get(key)
        except TypeError:
            return Principal.from_context(context)
        if principal is None:
            principal = Principal.from_context(context)
            if all(type(v) is str or v is None for v in key):
                self._remember(key, principal)
        return principal

    def _remember(self, key: object, principal: Principal) -> None:
        if len(self._principals) >= self.size:
            self._principals.clear()
        self._principals[key] = principal
