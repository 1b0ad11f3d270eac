"""``Guard``: in-function defense-in-depth middleware for Lambda handlers.

A guarded handler treats its event as untrusted. Before the handler runs, the
guard

1. answers CORS preflights (when configured) and refuses oversized bodies (413)
   and unexpected content types (415);
2. finds the caller (:mod:`secauth.guard_identity`): the principal a secauth
   authorizer put in the request context (checked to be really there and well formed;
   for WebSocket messages and ``$disconnect``, the context the ``$connect`` authorizer
   wrote), or the bearer token from ``token_sources``, verified here (Function URLs,
   ALB, or both for defense in depth);
3. applies the route rules (:class:`~secauth.access.Routes`) and a per-handler rule
   (:meth:`Guard.require`), and the rate limit;
4. hands the handler the :class:`~secauth.principal.Principal`: as a third argument
   when the handler takes one, and always through :func:`current_principal`.

Every secauth error and every unexpected exception becomes a sanitized response in
the event's shape (RFC 9457 problem JSON, no detail, no traceback, no exception
text); every response gets the security headers. One decision record per request.

Example
-------
>>> from secauth.testing import KeyPair
>>> from secauth import JwtVerifier, roles
>>> pair = KeyPair.generate("ES256", kid="k1")
>>> guard = Guard(JwtVerifier(issuer="https://idp/", audience="api",
...                           jwks={"keys": [pair.public_jwk]}), decision_log=None)
>>> @guard.require(roles("admin"))
... def handler(event, context, principal):
...     return {"statusCode": 200, "body": f"hello {principal.id}"}
>>> token = pair.sign({"iss": "https://idp/", "aud": "api", "sub": "ann", "roles": ["admin"],
...                    "exp": 4e9})
>>> event = {"version": "2.0", "rawPath": "/x", "headers": {"authorization": f"Bearer {token}"},
...          "requestContext": {"http": {"method": "GET", "path": "/x"}, "stage": "$default"}}
>>> response = handler(event, None)
>>> response["statusCode"], response["body"], response["headers"]["X-Content-Type-Options"]
(200, 'hello ann', 'nosniff')
>>> handler({**event, "headers": {}}, None)["statusCode"]
401
"""

from __future__ import annotations

import copy
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, overload

from secauth._decisions import DecisionLog, DecisionSink, caller_fields
from secauth.access import Routes, Rule
from secauth.claim_mapping import ClaimMapper
from secauth.current import acting_as, current_principal
from secauth.errors import BadRequest, ConfigurationError, SecAuthError
from secauth.events import Request, UnsupportedEvent
from secauth.guard_context import check_context_without_token, check_guard_revocations
from secauth.guard_http import (
    GUARDED_KINDS,
    check_body,
    enforce_limit,
    metadata_response,
    preflight_response,
    refusal_response,
    route_path,
)
from secauth.guard_identity import CallerIdentifier
from secauth.guard_limits import count, count_async, request_limits
from secauth.guard_routes import check_rule, decide
from secauth.options import flag, names
from secauth.principal import Principal
from secauth.responses import Cors, SecurityHeaders, check_problem_type_base
from secauth.sender_constraint import SenderConstraint, check_guard_constraint
from secauth.token_sources import DEFAULT_TOKEN_SOURCES, TokenSource, check_token_sources
from secauth.wrapping import wrap_handler

if TYPE_CHECKING:
    from secauth.protected_resource import ProtectedResource
    from secauth.ratelimit import CombinedLimiter, RateLimiter, RouteLimits
    from secauth.ratelimit.result import RateLimitResult
    from secauth.revocation import Revocations
    from secauth.token_verifier import TokenVerifier

__all__ = ["Admission", "Guard", "acting_as", "current_principal", "enforce_limit", "route_path"]

R = TypeVar("R")
Event = dict[str, Any]

class Admission(NamedTuple):
    """What :meth:`Guard.admit` found: the request view, and either the admitted
    ``principal`` (with the rate-limit result, if any) or the answer to a CORS preflight."""

    request: Request
    principal: Principal | None
    preflight: dict[str, Any] | None
    limit: RateLimitResult | None


class Guard:
    """Middleware for plain Lambda handlers (REST v1, HTTP v2, ALB, Function URL, WebSocket
    routes), sync or async.

    Parameters
    ----------
    verifier:
        Verify the bearer token here (a :class:`~secauth.verifier.JwtVerifier`). Needed
        for Function URLs and ALB; with ``trust_authorizer=True`` too it is defense in
        depth: every request must carry a token it verifies, naming the same principal
        as the authorizer's context. A context alone is refused (401), unless its kind
        is in ``context_without_token`` or the request is a WebSocket message to a
        ``routes`` table with WebSocket route keys (only ``$connect`` carried the token).
    trust_authorizer:
        Take the principal from the request context a secauth
        :class:`~secauth.authorizer.Authorizer` wrote (``Principal.from_context``).
        Default: True when no verifier is given.
    context_without_token:
        With both a verifier and ``trust_authorizer=True``: the kinds of principal
        (``"api_key"``, ``"client_cert"``) whose context is taken without a token, for an
        authorizer that admits them by another identity source. Default: none.
    revocations:
        With ``trust_authorizer=True``: a :class:`~secauth.revocation.Revocations` list
        every token the guard admits is checked against, a context's included (the
        authorizer passes its claims with ``context_token_claims=True``; else 401).
    routes, claims:
        The :class:`~secauth.access.Routes` table (unlisted requests: 404, or 405 when
        the path exists for other verbs; WebSocket events by route key) and the claim
        mapping for verified tokens.
    token_sources:
        Where bearer tokens are read from (:class:`~secauth.token_sources.TokenSource`;
        default: ``Authorization: Bearer``). A token in two of them, or twice in one: 401,
        ``ambiguous_credentials``.
    rate_limit:
        A :class:`~secauth.ratelimit.RateLimiter`; its headers go on every response and a
        denial is a 429 with ``Retry-After``. Failed authentications count per IP too.
    route_limits:
        Limits of their own for routes of ``routes``:
        ``{"POST /login": RateLimiter.per_ip("5/minute")}``
        (:class:`~secauth.ratelimit.RouteLimits`; a key the table lacks is a
        ConfigurationError). Counted after ``rate_limit``, on the route the request
        resolves to, with the same headers and 429.
    cors, security_headers:
        A :class:`~secauth.responses.Cors` allowlist (preflights answered here), and the
        :class:`~secauth.responses.SecurityHeaders` added to every response (None: none).
    max_body_bytes, content_types:
        Refuse larger bodies with 413 (UTF-8 bytes of a text body, decoded bytes of a
        base64 one); with ``content_types``, refuse bodies of other media types with 415.
    problem_type_base:
        A URI that, followed by the reason code, is each problem response's ``type``
        (``"https://errors.example.com/problems/"``); None (the default) answers with
        ``about:blank``, as RFC 9457 does when no type is defined.
    protected_resource:
        A :class:`~secauth.protected_resource.ProtectedResource`: its RFC 9728 metadata
        is served (no token needed) at its well-known paths, 401 and 403 challenges name
        it (``resource_metadata``, ``scope``), and the verifier must check its resource
        URI as the audience (a ConfigurationError otherwise).
    decision_log, on_decision:
        ``"stdout"`` (one JSON line per decision, the default), ``"logging"`` (logger
        ``secauth.decisions``) or None; ``on_decision`` receives every record too.
    sender_constraint:
        A :class:`~secauth.sender_constraint.SenderConstraint`: accept DPoP, require bound
        tokens. Without it, certificate-bound tokens are checked against the client
        certificate and DPoP-bound ones refused (:func:`~secauth.sender_constraint.check_binding`).
        With DPoP server nonces, responses carry ``DPoP-Nonce`` (:mod:`secauth.dpop_nonce`).
    """

    def __init__(
        self,
        verifier: TokenVerifier | None = None,
        *,
        trust_authorizer: bool | None = None,
        routes: Routes | None = None,
        claims: ClaimMapper | None = None,
        token_sources: Sequence[TokenSource] = DEFAULT_TOKEN_SOURCES,
        rate_limit: RateLimiter | Any | None = None,
        route_limits: Mapping[str, RateLimiter | CombinedLimiter] | None = None,
        cors: Cors | None = None,
        security_headers: SecurityHeaders | None = SecurityHeaders(),  # noqa: B008 - immutable
        max_body_bytes: int = 1024 * 1024,
        content_types: tuple[str, ...] | None = None,
        decision_log: str | None = "stdout",
        on_decision: DecisionSink | None = None,
        rule: Rule | None = None,
        problem_type_base: str | None = None,
        protected_resource: ProtectedResource | None = None,
        sender_constraint: SenderConstraint | None = None,
        context_without_token: Collection[str] = (),
        revocations: Revocations | None = None,
    ) -> None:
        # Long, on purpose: each option is checked here, where it is given, and named.
        trust_authorizer = verifier is None if trust_authorizer is None else flag(
            "trust_authorizer", trust_authorizer
        )
        if verifier is None and not trust_authorizer:
            raise ConfigurationError("Guard needs a verifier, or trust_authorizer=True")
        if verifier is not None and not any(
            callable(getattr(verifier, name, None)) for name in ("verify", "verify_async")
        ):
            raise ConfigurationError(
                "Guard's first argument is a token verifier (JwtVerifier, ...), not a "
                f"{type(verifier).__name__}; pass a route table as routes=..."
            )
        if routes is not None and not isinstance(routes, Routes):
            raise ConfigurationError("routes must be a secauth.Routes table")
        if max_body_bytes <= 0:
            raise ConfigurationError("max_body_bytes must be positive")
        context_without_token = check_context_without_token(
            context_without_token, verifies=verifier is not None, trusts=trust_authorizer
        )
        revocations = check_guard_revocations(revocations, trusts=trust_authorizer)
        claims = claims or getattr(verifier, "default_claims", None) or ClaimMapper()
        token_sources = check_token_sources(token_sources)
        self.rate_limit = rate_limit
        self.route_limits: RouteLimits | None = None
        if route_limits is not None:
            from secauth.ratelimit.routes import RouteLimits

            self.route_limits = RouteLimits(route_limits, routes)
        self.cors = cors
        self.security_headers = security_headers.headers() if security_headers else {}
        self.max_body_bytes = max_body_bytes
        types = None if content_types is None else names("content_types", content_types)
        self.content_types = None if types is None else frozenset(t.lower() for t in types)
        #: Where decision records go (:class:`~secauth._decisions.DecisionLog`).
        self.decisions = DecisionLog(decision_log, on_decision)
        self.rule = None if rule is None else check_rule(routes, rule)
        self.problem_type_base = check_problem_type_base(problem_type_base)
        if protected_resource is not None and verifier is not None:
            protected_resource.check_verifier(verifier)
        self.protected_resource = protected_resource
        sender_constraint = check_guard_constraint(
            sender_constraint, verifies=verifier is not None, trusts=trust_authorizer
        )
        #: The identification step (:mod:`secauth.guard_identity`), with its principal memo:
        #: shared with the guards require() derives, which answer the same way. It holds
        #: the options read below, read-only: a guard is configured when it is built.
        self.caller_identifier = CallerIdentifier(
            verifier,
            trust_authorizer=trust_authorizer,
            routes=routes,
            claims=claims,
            token_sources=token_sources,
            context_without_token=context_without_token,
            revocations=revocations,
            sender_constraint=sender_constraint,
            # Origins whose pages may send a cookie token: those CORS lets send credentials.
            credentialed_origins=cors.origins if cors and cors.allow_credentials else (),
        )

    # -- options (read-only: the identification step was built with them) -----------------

    @property
    def verifier(self) -> TokenVerifier | None:
        return self.caller_identifier.verifier

    @property
    def trust_authorizer(self) -> bool:
        return self.caller_identifier.trust_authorizer

    @property
    def routes(self) -> Routes | None:
        return self.caller_identifier.routes

    @property
    def claims(self) -> ClaimMapper:
        return self.caller_identifier.claims

    @property
    def token_sources(self) -> Sequence[TokenSource]:
        return self.caller_identifier.token_sources

    @property
    def context_without_token(self) -> Collection[str]:
        return self.caller_identifier.context_without_token

    @property
    def revocations(self) -> Revocations | None:
        return self.caller_identifier.revocations

    @property
    def sender_constraint(self) -> SenderConstraint:
        return self.caller_identifier.sender_constraint

    # -- decorators -------------------------------------------------------------------------

    def require(self, rule: Rule) -> Guard:
        """A guard that also requires ``rule`` (on top of the routes), to decorate one handler.

        ``@guard.require(roles("admin"))``
        """
        if not isinstance(rule, Rule):
            raise ConfigurationError("require() takes an access rule such as roles('admin')")
        check_rule(self.routes, rule)
        derived = copy.copy(self)  # shares the principal memo: it answers the same way
        derived.rule = rule if self.rule is None else self.rule & rule
        return derived

    @overload
    def __call__(
        self, handler: Callable[[Event, Any, Principal], Awaitable[R]]
    ) -> Callable[[Event, Any], Awaitable[R | dict[str, Any]]]: ...

    @overload
    def __call__(
        self, handler: Callable[[Event, Any], Awaitable[R]]
    ) -> Callable[[Event, Any], Awaitable[R | dict[str, Any]]]: ...

    @overload
    def __call__(
        self, handler: Callable[[Event, Any, Principal], R]
    ) -> Callable[[Event, Any], R | dict[str, Any]]: ...

    @overload
    def __call__(
        self, handler: Callable[[Event, Any], R]
    ) -> Callable[[Event, Any], R | dict[str, Any]]: ...

    def __call__(self, handler: Callable[..., Any]) -> Callable[[Event, Any], Any]:
        """Wrap a Lambda handler ``(event, context)`` or ``(event, context, principal)``
        (:func:`~secauth.wrapping.wrap_handler`)."""
        if isinstance(handler, Rule):
            raise ConfigurationError(
                f"a Guard wraps a handler, not a rule: to add {handler!r} to a handler, "
                f"decorate it with @guard.require({handler!r})"
            )
        return wrap_handler(self, handler)

    # -- the checks ---------------------------------------------------------------------------

    def check(self, event: object) -> tuple[Request, Principal]:
        """Run every check on ``event``; raise a :class:`~secauth.errors.SecAuthError` on refusal.

        For integrations that build their own responses. A CORS preflight gets no pass
        here: it is checked like any request (answer preflights with the guard itself).
        """
        admitted = self.admit(event, {}, preflights=False)
        assert admitted.principal is not None  # no preflight answers without preflights
        return admitted.request, admitted.principal

    def admit(
        self,
        event: object,
        record: dict[str, Any],
        *,
        preflights: bool = True,
        app_path: str | None = None,
    ) -> Admission:
        """Run every check on ``event``, writing the decision into ``record``; raise a
        :class:`~secauth.errors.SecAuthError` on refusal (turn it into the answer with
        :meth:`refusal`). A CORS preflight (with ``preflights``) is answered in
        ``Admission.preflight``, with no principal. ``app_path``: the path the application
        routes on when it rewrites the event's (an integration's: Powertools' after its
        ``strip_prefixes``), decided and counted as one more reading of the request."""
        request, preflight = self._prepare(event, record, preflights=preflights)
        if preflight is not None:
            return Admission(request, None, preflight, None)
        limits = self.limits_for(request, app_path=app_path)
        try:
            principal = self.identify(request)
        except SecAuthError:
            count(limits, request, None, refused=True)  # counted too, per IP
            raise
        record.update(caller_fields(principal))
        limit = count(limits, request, principal)
        decide(self.routes, self.rule, principal, request, record, app_path)  # guard_routes
        return Admission(request, principal, None, limit)

    async def admit_async(
        self, event: object, record: dict[str, Any], *, app_path: str | None = None
    ) -> Admission:
        """:meth:`admit` for async handlers (async key fetches and rate-limit stores)."""
        request, preflight = self._prepare(event, record, preflights=True)
        if preflight is not None:
            return Admission(request, None, preflight, None)
        limits = self.limits_for(request, app_path=app_path)
        try:
            principal = await self.caller_identifier.identify_async(request, self.rule)
        except SecAuthError:
            await count_async(limits, request, None, refused=True)
            raise
        record.update(caller_fields(principal))
        limit = await count_async(limits, request, principal)
        decide(self.routes, self.rule, principal, request, record, app_path)  # guard_routes
        return Admission(request, principal, None, limit)

    def _prepare(
        self, event: object, record: dict[str, Any], *, preflights: bool
    ) -> tuple[Request, dict[str, Any] | None]:
        """The request view, and the answer to a CORS preflight (else the body checks)."""
        request = self._request(event, record)
        preflight = (
            preflight_response(request, self.cors, self.security_headers) if preflights else None
        )
        if preflight is not None:
            record.update(decision="preflight", status=preflight["statusCode"])
            return request, preflight
        if preflights and self.protected_resource is not None:  # RFC 9728 metadata: public
            metadata = metadata_response(request, self.protected_resource, self.security_headers)
            if metadata is not None:
                record.update(decision="allow", status=200)
                return request, metadata
        check_body(request, self.max_body_bytes, self.content_types)
        return request, None

    def _request(self, event: object, record: dict[str, Any]) -> Request:
        try:
            request = Request.from_event(event)
        except UnsupportedEvent:
            raise BadRequest(detail={"problem": "unsupported event"}) from None
        if request.kind not in GUARDED_KINDS:
            raise BadRequest(detail={"problem": f"{request.kind.value} events are not guarded"})
        record.update(
            event=request.kind.value,
            request_id=request.request_id,
            method=request.method,
            path=route_path(request),
        )
        return request

    def identify(self, request: Request, *, proof_recorded: bool = False) -> Principal:
        """The caller of ``request``: a verified token, the authorizer's context, or the
        anonymous principal on a public route; raise a 401 error otherwise.
        ``proof_recorded``: another guard checked this request's DPoP proof and recorded
        it (an integration's route guard): it is checked again, not recorded again."""
        return self.caller_identifier.identify(request, self.rule, proof_recorded=proof_recorded)

    def limits_for(self, request: Request, *, app_path: str | None = None) -> tuple[Any, ...]:
        """The rate limits ``request`` counts against, in order: ``rate_limit``, then the
        ``route_limits`` of the routes it resolves to (every reading, as ``guard_routes``
        decides it: a route's own limit counts behind a base-path mapping too, and on the
        application's ``app_path``, as :meth:`admit`; :mod:`secauth.guard_limits`)."""
        return request_limits(request, self.rate_limit, self.route_limits, self.routes, app_path)

    # -- responses ----------------------------------------------------------------------

    def refusal(self, exc: BaseException, event: object, record: dict[str, Any]) -> dict[str, Any]:
        """The sanitized response for ``exc`` raised while guarding ``event`` (problem+json
        with the error's status, a 500 for anything not secauth's), recorded in
        ``record``; a BaseException that is not an Exception is raised again."""
        challenge = self.protected_resource.challenge if self.protected_resource else None
        constraint = self.sender_constraint
        return refusal_response(exc, event, record, self.security_headers, self.cors,
                                self.problem_type_base, challenge, constraint.nonces,
                                dpop_algorithms=constraint.dpop_algorithms,
                                dpop_required=constraint.require == "dpop")  # fmt: skip

    def log_decision(self, record: dict[str, Any], started: float) -> None:
        """Send ``record`` (with the latency since ``started``) where this guard logs."""
        record["latency_us"] = round((time.perf_counter() - started) * 1e6)
        self.decisions.publish(record)

