"""Who calls: the identification step of a :class:`~secauth.guard.Guard`.

One job: from a request, the caller's :class:`~secauth.principal.Principal`, or a 401
error. The caller is the principal a secauth authorizer wrote in the request context
(trust mode; :mod:`secauth.guard_context`), a bearer token read from the guard's
``token_sources`` and verified here (with its binding to the request:
:func:`~secauth.sender_constraint.check_binding`; agreeing with the context when both
come), or the anonymous principal on a public route. Every token admitted is checked
against the guard's ``revocations``, a context's included.

A :class:`CallerIdentifier` is built once by the Guard from its checked options
(``Guard.caller_identifier``); the guards :meth:`~secauth.guard.Guard.require` derives
share it (and its principal memo), and pass their own ``rule`` on each call.

>>> from secauth import Guard, JwtVerifier
>>> from secauth.events import Request
>>> from secauth.testing import KeyPair
>>> pair = KeyPair.generate("ES256", kid="k1")
>>> guard = Guard(JwtVerifier(issuer="https://idp/", audience="api",
...                           jwks={"keys": [pair.public_jwk]}), decision_log=None)
>>> token = pair.sign({"iss": "https://idp/", "aud": "api", "sub": "ann", "exp": 4e9})
>>> event = {"version": "2.0", "rawPath": "/x", "headers": {"authorization": f"Bearer {token}"},
...          "requestContext": {"http": {"method": "GET", "path": "/x"}, "stage": "$default"}}
>>> guard.caller_identifier.identify(Request.from_event(event), None).id
'ann'
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from secauth.claim_mapping import ClaimMapper
from secauth.cross_site import check_cookie_origin
from secauth.errors import MissingAuthorizerContext, MissingToken
from secauth.guard_context import (
    agreeing,
    check_revoked,
    check_revoked_async,
    context_leeway,
    context_principal,
    context_token_claims,
    secauth_context,
    websocket_message_to,
)
from secauth.guard_routes import anonymous_if_public
from secauth.memo import PrincipalMemo
from secauth.overrides import redefined
from secauth.sender_constraint import DPOP_PROOF_FIELD, check_binding, check_recorded_elsewhere
from secauth.token_sources import PresentedToken, presents_token, read_token
from secauth.token_verifier import revalidator

if TYPE_CHECKING:
    from secauth.access import Routes, Rule
    from secauth.events import Request
    from secauth.principal import Principal
    from secauth.revocation import Revocations
    from secauth.sender_constraint import SenderConstraint
    from secauth.token_sources import TokenSource
    from secauth.token_verifier import TokenVerifier

__all__ = ["CallerIdentifier", "FoundCaller"]


class FoundCaller(NamedTuple):
    """What is known of a caller before its token is verified (:meth:`CallerIdentifier.find`):
    the principal when no verification is needed (``settled``), else the ``token`` to verify
    as ``presented``; and the principal of the authorizer's context, if trusted and there."""

    settled: Principal | None
    token: str | None
    from_context: Principal | None
    presented: PresentedToken | None = None


class CallerIdentifier:
    """Identifies the caller of a request for a :class:`~secauth.guard.Guard`, from the
    guard's options as it checked them (the Guard's parameters of the same names;
    ``credentialed_origins``: the CORS origins allowed to send credentials, whose pages may
    send a cookie token). Example: the module's."""

    def __init__(
        self,
        verifier: TokenVerifier | None,
        *,
        trust_authorizer: bool,
        routes: Routes | None,
        claims: ClaimMapper,
        token_sources: Sequence[TokenSource],
        context_without_token: Collection[str],
        revocations: Revocations | None,
        sender_constraint: SenderConstraint,
        credentialed_origins: Collection[str],
    ) -> None:
        self.verifier = verifier
        self.trust_authorizer = trust_authorizer
        self.routes = routes
        self.claims = claims
        self.token_sources = token_sources
        self.context_without_token = context_without_token
        self.revocations = revocations
        self.sender_constraint = sender_constraint
        self.credentialed_origins = credentialed_origins
        #: Principals for repeated callers: authorizer contexts (their raw strings) and
        #: verified tokens (still verified on every call; kept while revalidate vouches).
        #: Bounded; shared with the guards require() derives, which answer the same way.
        self.principals = PrincipalMemo()
        # A mapper of its own may read more than the claims: its principals are made afresh.
        self._revalidate = None if redefined(claims, ClaimMapper) else revalidator(verifier)
        self._context_leeway = context_leeway(verifier)  # past a context's secauth_exp

    def identify(
        self, request: Request, rule: Rule | None, *, proof_recorded: bool = False
    ) -> Principal:
        """The caller of ``request`` for a guard with the per-handler ``rule``
        (:meth:`Guard.identify <secauth.guard.Guard.identify>`, ``proof_recorded`` too)."""
        caller = self.find(request, rule)
        if caller.settled is not None:
            claims = context_token_claims(request, caller.settled, caller.from_context)
            check_revoked(self.revocations, claims)
            return caller.settled
        assert self.verifier is not None
        assert caller.token is not None
        claims = self.verifier.verify(caller.token)
        check_revoked(self.revocations, claims)
        return self._verified(caller, claims, request, record=not proof_recorded)

    async def identify_async(self, request: Request, rule: Rule | None) -> Principal:
        """:meth:`identify` with the token verified by ``verify_async`` (the only I/O)."""
        caller = self.find(request, rule)
        if caller.settled is not None:
            claims = context_token_claims(request, caller.settled, caller.from_context)
            await check_revoked_async(self.revocations, claims)
            return caller.settled
        assert self.verifier is not None
        assert caller.token is not None
        claims = await self.verifier.verify_async(caller.token)
        await check_revoked_async(self.revocations, claims)
        return self._verified(caller, claims, request)

    def find(self, request: Request, rule: Rule | None) -> FoundCaller:
        """Everything :meth:`identify` decides before a token is verified: the principal
        when no verification is needed (``settled``), else the token to verify."""
        from_context = self._context_principal(request)
        if self.verifier is None:
            return FoundCaller(self._trusted(request, from_context, rule), None, from_context)
        try:
            presented = read_token(request, self.token_sources)
        except MissingToken:
            if from_context is None:
                return FoundCaller(anonymous_if_public(self.routes, rule, request), None, from_context)
            if from_context.kind in self.context_without_token or websocket_message_to(
                request, self.routes
            ):
                return FoundCaller(from_context, None, from_context)
            # Anyone who may invoke the function can write a context: verifying here
            # means the token must come too (WebSocket messages carry none).
            raise MissingToken(detail={"problem": "authorizer context without a token"}) from None
        check_cookie_origin(request, presented, self.credentialed_origins)
        return FoundCaller(None, presented.token, from_context, presented)

    def _verified(
        self, caller: FoundCaller, claims: Mapping[str, Any], request: Request, *, record: bool = True
    ) -> Principal:
        """The principal of a verified token whose binding (certificate, DPoP proof) the
        request proves; it must agree with the authorizer's context."""
        assert caller.token is not None
        assert caller.presented is not None
        if record and caller.presented.scheme == "DPoP":
            # Without a replay store here, only a proof the authorizer recorded will do.
            recorded = (secauth_context(request) or {}).get(DPOP_PROOF_FIELD)
            check_recorded_elsewhere(self.sender_constraint, caller.presented, request, recorded)
        check_binding(claims, request, caller.presented, self.sender_constraint, record=record)
        if self._revalidate is not None and self._revalidate(caller.token):
            verified = self.principals.for_claims(caller.token, claims, self.claims)
        else:  # claims that can change for one token (introspection): mapped afresh
            verified = self.claims.map(claims)
        return agreeing(verified, caller.from_context)

    def _context_principal(self, request: Request) -> Principal | None:
        if not self.trust_authorizer:
            return None
        return context_principal(request, self.principals, leeway=self._context_leeway)

    def _trusted(
        self, request: Request, from_context: Principal | None, rule: Rule | None
    ) -> Principal:
        """Trust-only mode: the authorizer's principal; without one, only a public route
        called with no credentials at all (no authorizer runs on public routes)."""
        if from_context is not None:
            return from_context
        if not presents_token(request, self.token_sources):
            with contextlib.suppress(MissingToken):
                return anonymous_if_public(self.routes, rule, request)
        raise MissingAuthorizerContext(detail={"problem": "no secauth authorizer context"})
