"""What a :class:`~secauth.guard.Guard` in trust mode believes of the context an API
Gateway authorizer wrote: the principal :meth:`~secauth.principal.Principal.to_context`
put there, until its token's expiry.

API Gateway puts the context in ``requestContext.authorizer`` (REST, WebSocket) or
``requestContext.authorizer.lambda`` (HTTP API); ALB and Function URL events never carry
one an authorizer wrote. A WebSocket connection's messages repeat the context of
``$connect`` for up to two hours, and a cached REST or HTTP answer repeats it for the
cache's TTL: a context past its ``secauth_exp`` (with the verifier's leeway) is refused,
except on ``$disconnect``, whose answer API Gateway ignores and whose cleanup must run.
A guard given ``revocations=`` checks every token it admits against that list, a
context's included (:func:`check_revoked`): the authorizer passes the claims it reads
(``context_token_claims=True``).

>>> from secauth.memo import PrincipalMemo
>>> context = Principal("ann", claims={"exp": 4_000_000_000}).to_context()
>>> request = Request(EventKind.REST_V1, {"requestContext": {"authorizer": context}})
>>> context_principal(request, PrincipalMemo(), leeway=0).id
'ann'
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from secauth.errors import ConfigurationError, InvalidClaims, TokenExpired
from secauth.events import EventKind, Request
from secauth.memo import PrincipalMemo
from secauth.principal import Principal, context_expiry

if TYPE_CHECKING:
    from secauth.access import Routes
    from secauth.revocation import Revocations

__all__ = [
    "AUTHORIZER_CONTEXT_KINDS",
    "TOKENLESS_KINDS",
    "agreeing",
    "check_context_without_token",
    "check_guard_revocations",
    "check_revoked",
    "check_revoked_async",
    "context_leeway",
    "context_principal",
    "context_token_claims",
    "same_caller",
    "secauth_context",
    "websocket_message_to",
]

#: Events an API Gateway authorizer writes a context into (REST payload 1.0, HTTP API 2.0,
#: and every event of a WebSocket connection its $connect authorizer allowed).
AUTHORIZER_CONTEXT_KINDS = (EventKind.REST_V1, EventKind.HTTP_V2, EventKind.WEBSOCKET)


def context_principal(
    request: Request, principals: PrincipalMemo, *, leeway: float
) -> Principal | None:
    """The principal of ``request``'s secauth authorizer context (read through
    ``principals``), None when it has none; raises for a malformed context
    (``InvalidClaims``) or one past its token's expiry plus ``leeway`` (``TokenExpired``)."""
    context = secauth_context(request)
    if context is None:
        return None
    principal = principals.for_context(context)  # raises for a malformed context
    expiry = context_expiry(context)
    if expiry is not None and expiry + leeway <= time.time() and not _is_disconnect(request):
        raise TokenExpired(detail={"problem": "the authorizer context's token expired"})
    return principal


def secauth_context(request: Request) -> Mapping[str, Any] | None:
    """The context a secauth authorizer wrote into ``request`` (one with
    ``secauth_principal``), as it is; None when there is none.

    >>> secauth_context(Request(EventKind.HTTP_V2, {"requestContext": {"authorizer":
    ...     {"lambda": {"secauth_principal": "ann"}}}}))
    {'secauth_principal': 'ann'}
    """
    if request.kind not in AUTHORIZER_CONTEXT_KINDS:
        return None  # ALB, Function URL: no API Gateway authorizer can have written it
    context: Any = request.authorizer
    if request.kind is EventKind.HTTP_V2:
        context = context.get("lambda")
    if not isinstance(context, Mapping) or "secauth_principal" not in context:
        return None
    return context


#: The kinds of principal an authorizer admits without a token: a guard that verifies
#: tokens too may be told to take their contexts as they are.
TOKENLESS_KINDS = frozenset({"api_key", "client_cert"})


def check_context_without_token(kinds: object, *, verifies: bool, trusts: bool) -> frozenset[str]:
    """A guard's ``context_without_token=`` option checked: kinds from
    :data:`TOKENLESS_KINDS`, only for a guard that both verifies and trusts (a trust-only
    guard takes every context anyway; one that does not trust reads none).

    >>> sorted(check_context_without_token(["api_key"], verifies=True, trusts=True))
    ['api_key']
    """
    if isinstance(kinds, str) or not isinstance(kinds, set | frozenset | list | tuple):
        raise ConfigurationError("context_without_token is a collection of principal kinds")
    found = frozenset(kinds)
    if not found <= TOKENLESS_KINDS:
        raise ConfigurationError(
            f"context_without_token takes {sorted(TOKENLESS_KINDS)}, not {sorted(found - TOKENLESS_KINDS)}"
        )
    if found and not (verifies and trusts):
        raise ConfigurationError(
            "context_without_token is for a Guard that verifies tokens and trusts the "
            "authorizer (Guard(verifier, trust_authorizer=True, ...))"
        )
    return found


def check_guard_revocations(revocations: object, *, trusts: bool) -> Revocations | None:
    """A guard's ``revocations=`` option checked: a
    :class:`~secauth.revocation.Revocations`, for a guard that trusts the authorizer's
    context (one that only verifies tokens is given the list through its verifier)."""
    if revocations is None:
        return None
    if not callable(getattr(revocations, "check", None)) or not callable(
        getattr(revocations, "check_lifetime", None)
    ):
        raise ConfigurationError("revocations must be a secauth.revocation.Revocations")
    if not trusts:
        raise ConfigurationError(
            "revocations= checks the callers of a Guard that trusts the authorizer's context "
            "(trust_authorizer=True); a Guard that only verifies tokens checks them with its "
            "verifier's list: give the verifier revocations= instead"
        )
    return cast("Revocations", revocations)


def context_token_claims(
    request: Request, principal: Principal, from_context: Principal | None
) -> Mapping[str, Any] | None:
    """The token claims of ``principal``, the caller of ``request``, for a revocation
    check (:func:`check_revoked`): those the authorizer passed in its context
    (``secauth_token_claims``; empty when it passed none), when ``principal`` is taken
    from that context (``from_context``) and holds a token; None when it is not, holds
    no token (an API key, a certificate), or on a WebSocket ``$disconnect`` (its cleanup
    must run, as past the token's expiry).

    >>> ann = Principal("ann", claims={"iss": "https://idp/", "iat": 0, "exp": 600})
    >>> context_token_claims(Request(EventKind.REST_V1, {}), ann, ann)["iss"]
    'https://idp/'
    """
    if principal is not from_context or principal.kind != "user" or _is_disconnect(request):
        return None
    return principal.claims


def check_revoked(revocations: Revocations | None, claims: Mapping[str, Any] | None) -> None:
    """Check a token's ``claims`` (None: no token to check) against ``revocations`` (None:
    no list): ``InvalidClaims`` for none at all (an authorizer without
    ``context_token_claims=True``: fail closed) and for a token that could outlive the
    list's entries (:meth:`~secauth.revocation.Revocations.check_lifetime`),
    ``TokenRevoked`` for a revoked one (:meth:`~secauth.revocation.Revocations.check`)."""
    if revocations is not None and claims is not None:
        revocations.check(_revocable(revocations, claims))


async def check_revoked_async(
    revocations: Revocations | None, claims: Mapping[str, Any] | None
) -> None:
    """:func:`check_revoked` for async guards (the store asked in a thread)."""
    if revocations is not None and claims is not None:
        await revocations.check_async(_revocable(revocations, claims))


def _revocable(revocations: Revocations, claims: Mapping[str, Any]) -> Mapping[str, Any]:
    if not claims:
        raise InvalidClaims(  # the decision record says what to change; the client sees 401
            detail={"problem": "no token claims to check revocations with: build the "
                    "Authorizer with context_token_claims=True"}
        )  # fmt: skip
    revocations.check_lifetime(claims)
    return claims


def same_caller(verified: Principal, other: Principal) -> bool:
    """Whether ``other`` names the caller ``verified`` is: the same id, kind and tenant,
    and the same issuer when ``other`` names one (a subject is unique within its issuer
    only; a context written before ``secauth_issuer`` existed names none).

    >>> same_caller(Principal("ann", issuer="https://a/"), Principal("ann"))
    True
    >>> same_caller(Principal("ann", issuer="https://a/"), Principal("ann", issuer="https://b/"))
    False
    """
    return (
        other.id == verified.id
        and other.kind == verified.kind
        and other.tenant == verified.tenant
        and (other.issuer is None or other.issuer == verified.issuer)
    )


def agreeing(verified: Principal, from_context: Principal | None) -> Principal:
    """``verified`` (a token's principal) when the authorizer's context, if any, names the
    same principal, tenant, issuer and kind (:func:`same_caller`); else InvalidClaims. The
    kind matters: an authorizer that admitted the request by an API key or a client
    certificate never checked the token (nor recorded its DPoP proof), whatever ids the
    two share.

    >>> agreeing(Principal("ann"), Principal("ann")).id
    'ann'
    """
    if from_context is not None and not same_caller(verified, from_context):
        raise InvalidClaims(detail={"problem": "authorizer context and token disagree"})
    return verified


def context_leeway(verifier: object) -> float:
    """The seconds a guard allows a context past its token's expiry: its verifier's
    ``leeway`` (0 without one); a ConfigurationError unless it is a number of seconds from
    0 to 300, as verifiers take it (an endless leeway would trust any context forever).

    >>> context_leeway(None), context_leeway(type("V", (), {"leeway": 30})())
    (0.0, 30.0)
    """
    leeway = getattr(verifier, "leeway", 0.0)
    if isinstance(leeway, bool) or not isinstance(leeway, int | float) or not 0 <= leeway <= 300:
        raise ConfigurationError(f"the verifier's leeway must be 0 to 300 seconds, not {leeway!r}")
    return float(leeway)


def websocket_message_to(request: Request, routes: Routes | None) -> bool:
    """Whether ``request`` is a WebSocket message or ``$disconnect`` (they carry only the
    context ``$connect`` was answered with, never the token) for a guard whose ``routes``
    serve a WebSocket API (a ``$connect``, ``$disconnect`` or custom route key): the one
    case a guard that verifies tokens takes a context without its token. A guard for an
    HTTP API has no such key, so no event dressed as a message reaches it so."""
    if request.kind is not EventKind.WEBSOCKET or _event_type(request) not in (
        "MESSAGE",
        "DISCONNECT",
    ):
        return False
    return routes is not None and any(key != "$default" for key in routes.table.specials)


def _is_disconnect(request: Request) -> bool:
    """Whether ``request`` is a WebSocket ``$disconnect`` (its ``eventType``)."""
    return request.kind is EventKind.WEBSOCKET and _event_type(request) == "DISCONNECT"


def _event_type(request: Request) -> object:
    context = request.raw.get("requestContext")
    return context.get("eventType") if isinstance(context, Mapping) else None
