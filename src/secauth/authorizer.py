"""``Authorizer``: a Lambda authorizer that turns an event into an authorizer response.

The pipeline: event → :class:`~secauth.events.Request` → credentials (a bearer JWT from
the :mod:`~secauth.token_sources`, an API key or an mTLS client certificate) → principal
→ route rules (and an optional rate limit) → the event kind's response (:mod:`secauth.policy`).

Outcomes
--------
* Missing or invalid credentials: 401. REST and WebSocket authorizers must raise
  ``Exception("Unauthorized")`` for that, and do; HTTP APIs cannot answer 401
  from a Lambda authorizer, so they get ``isAuthorized: false`` or a Deny (403).
* Valid credentials without permission: an explicit Deny (403).
* Key source down: like invalid credentials (the client may retry), logged as
  ``keys_unavailable``.
* Any unexpected error in any stage: the same as invalid credentials. Never an
  Allow, never a traceback in a response.

One decision record per call, without the token: a JSON line on stdout by default
(``decision_log=``; see :mod:`secauth._decisions`).

Example
-------
>>> from secauth.testing import KeyPair
>>> from secauth.verifier import JwtVerifier
>>> from secauth.access import Routes, roles
>>> pair = KeyPair.generate("ES256", kid="k1")
>>> verifier = JwtVerifier(issuer="https://idp/", audience="api", jwks={"keys": [pair.public_jwk]})
>>> authorizer = Authorizer(verifier, routes=Routes({"DELETE /users/{id}": roles("admin")}))
>>> token = pair.sign({"iss": "https://idp/", "aud": "api", "sub": "ann", "roles": ["admin"],
...                    "exp": 4e9})
>>> event = {"type": "TOKEN", "authorizationToken": f"Bearer {token}",
...          "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc/prod/DELETE/users/7"}
>>> response = authorizer.handler(event, None)  # doctest: +ELLIPSIS
{"decision":"allow","event":"token_authorizer",...,"secauth":"decision","status":200}
>>> response["principalId"], response["policyDocument"]["Statement"][0]["Effect"]
('ann', 'Allow')
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from secauth._decisions import DecisionLog, DecisionSink, decision_fields
from secauth.access import Decision, Routes, authenticated
from secauth.answer_context import Credentials, answer_context
from secauth.authorizer_limits import AuthorizerLimits
from secauth.claim_mapping import ClaimMapper
from secauth.cross_site import check_certificate_origin, check_cookie_origin
from secauth.errors import ConfigurationError, InvalidClaims, MissingToken, SecAuthError
from secauth.events import EventKind, Request, UnsupportedEvent
from secauth.memo import ResponseMemo, answer_key
from secauth.options import flag
from secauth.overrides import redefined
from secauth.policy import DEFAULT_MAX_RESPONSE_BYTES, PolicyBuilder, Unauthorized
from secauth.policy.builder import checked_cache_ttl
from secauth.principal import Principal
from secauth.result_cache import (
    cached_denial,
    check_result_cache,
    decision_overrides,
    route_bound,
)
from secauth.sender_constraint import (
    SenderConstraint,
    check_binding,
    check_sender_constraint,
    proof_fingerprint,
)
from secauth.targets import Target, decide_as_ran, target_of
from secauth.token_sources import (
    DEFAULT_TOKEN_SOURCES,
    TokenSource,
    check_token_sources,
    read_token,
)
from secauth.token_verifier import TokenVerifier, revalidator

if TYPE_CHECKING:
    from secauth.api_keys import ApiKeyStore
    from secauth.client_certs import ClientCertificates
    from secauth.ratelimit import RateLimiter

__all__ = ["Authorizer", "Credentials"]

_DEFAULT_ROUTES_TABLE = {
    "ANY /": authenticated(),
    "ANY /{proxy+}": authenticated(),
    "$connect": authenticated(),
}


class Authorizer:
    """A Lambda authorizer for REST (TOKEN and REQUEST), HTTP (payload 1.0 and 2.0) and
    WebSocket ``$connect``; the event kind is detected.

    Parameters
    ----------
    verifier:
        A :class:`~secauth.verifier.JwtVerifier` (or multi-issuer verifier) for bearer
        tokens. Optional when only API keys or client certificates are accepted.
    routes:
        The :class:`~secauth.access.Routes` table. Default: every route needs a valid
        credential and nothing more.
    claims:
        A :class:`~secauth.claim_mapping.ClaimMapper` (default: ``sub``, ``roles``,
        ``groups``, ``scope``/``scp``).
    token_sources:
        Where bearer tokens are read from, a list of
        :class:`~secauth.token_sources.TokenSource` (default: the ``Authorization``
        header, ``Bearer`` scheme). A token in two of them, or twice in one, is refused
        (401, ``ambiguous_credentials``). A REST TOKEN authorizer sees one header only.
    api_keys, api_key_header:
        Accept partner API keys from this header (default ``x-api-key``), looked up
        by hash in ``api_keys``. A request with a key is decided by the key, whatever
        else it carries; the header given twice is refused (``ambiguous_credentials``).
    client_certs:
        Accept mTLS client certificates from this allowlist (REST REQUEST and HTTP).
        With ``cache_ttl > 0`` only when ``cache_key_covers_request=True`` says the
        identity sources include the certificate.
    cache_ttl:
        The authorizer's ``authorizerResultTtlInSeconds`` as configured on API
        Gateway. Above 0, every policy covers all routes the principal may call (a
        cached policy is reused for other routes); rules that depend on headers,
        query, IP or custom logic are refused at construction unless
        ``cache_key_covers_request=True`` says the identity sources include them. HTTP API
        events need ``cache_key_covers_route=True`` (``$context.routeKey`` an identity
        source), else are denied (403), and their answers reach only the ARNs of their
        route (:func:`~secauth.result_cache.route_bound`): an encoded ``/`` makes route
        ARNs ambiguous.
    simple_responses:
        Answer HTTP payload 2.0 events with ``{"isAuthorized": ...}`` (the
        authorizer's ``enableSimpleResponses``). Not with ``cache_ttl > 0``: a cached
        yes/no would be reused for every route.
    rate_limit:
        A :class:`~secauth.ratelimit.RateLimiter`; a limited request is denied (403;
        authorizers cannot answer 429). Needs ``cache_ttl=0``.
    context:
        ``callable(principal) -> mapping`` of extra context values for the backend.
    policy_builder:
        A :class:`~secauth.policy.PolicyBuilder` (subclass it to add statements).
    decision_log, on_decision:
        ``"stdout"`` (one JSON line per decision, the default, as for
        :class:`~secauth.guard.Guard`), ``"logging"`` (logger ``secauth.decisions``) or
        None; ``on_decision`` (``callable(record)``) receives every record too, e.g.
        for metrics.
    response_cache_size:
        Responses for the same bearer token on the same target are memoized (the token
        is still verified on every call; :class:`~secauth.memo.ResponseMemo`). Off when
        hooks are overridden, with a ``context`` callable, a rate limit, a Routes or
        PolicyBuilder subclass, or for a path any reading of which reaches a rule that
        reads the request; 0 turns it off.

    sender_constraint:
        A :class:`~secauth.sender_constraint.SenderConstraint`: accept DPoP (REQUEST
        authorizers, ``cache_ttl=0``: a proof is single-use), require bound tokens.
        Without it, certificate-bound tokens are checked against the client certificate
        (refused under ``cache_ttl > 0``: pass ``SenderConstraint()`` with
        ``cache_key_covers_request=True`` for them) and DPoP-bound ones refused.
    context_token_claims:
        Also pass the token's claims a revocation list reads (``jti``, ``sub``, ``iat``,
        ``exp``, issuer and client: :data:`~secauth.revocation.REVOCATION_CLAIMS`) in the
        context, for a trust-mode :class:`~secauth.guard.Guard` given ``revocations=``.
    api:
        ``"rest"`` or ``"http"`` when REQUEST events do not say which API sends them
        (payload 1.0 events of HTTP APIs and REST REQUEST events look alike in some
        emulators); None detects it from the event.

    Notes
    -----
    Subclassing hooks: :meth:`credentials`, :meth:`map_claims`, :meth:`extra_context`.
    """

    def __init__(
        self,
        verifier: TokenVerifier | None = None,
        *,
        routes: Routes | None = None,
        claims: ClaimMapper | None = None,
        token_sources: Sequence[TokenSource] = DEFAULT_TOKEN_SOURCES,
        api_keys: ApiKeyStore | None = None,
        api_key_header: str = "x-api-key",
        client_certs: ClientCertificates | None = None,
        cache_ttl: int = 0,
        simple_responses: bool = False,
        rate_limit: RateLimiter | None = None,
        context: Callable[[Principal], Mapping[str, object]] | None = None,
        policy_builder: PolicyBuilder | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        on_decision: DecisionSink | None = None,
        decision_log: str | None = "stdout",
        cache_key_covers_request: bool = False,
        cache_key_covers_route: bool = False,
        api: str | None = None,
        response_cache_size: int = 1024,
        api_key_limit_store: object | None = None,
        sender_constraint: SenderConstraint | None = None,
        context_token_claims: bool = False,
    ) -> None:
        # Long, on purpose: it checks each of the options against the others, in one place,
        # so a bad combination fails here with a message that says what to change.
        simple_responses = flag("simple_responses", simple_responses)
        cache_key_covers_request = flag("cache_key_covers_request", cache_key_covers_request)
        cache_key_covers_route = flag("cache_key_covers_route", cache_key_covers_route)
        if flag("context_token_claims", context_token_claims):
            from secauth.revocation import REVOCATION_CLAIMS

            self._token_claims: tuple[str, ...] = REVOCATION_CLAIMS
        else:
            self._token_claims = ()
        if api not in (None, "rest", "http"):
            raise ConfigurationError("api must be 'rest', 'http' or None (detect from the event)")
        self.api = api
        if verifier is None and api_keys is None and client_certs is None:
            raise ConfigurationError(
                "Authorizer needs a credential source: a verifier, api_keys or client_certs"
            )
        if verifier is not None and not callable(getattr(verifier, "verify", None)):
            raise ConfigurationError("verifier must be a JwtVerifier (or have .verify(token))")
        if api_keys is not None and not callable(getattr(api_keys, "lookup", None)):
            raise ConfigurationError(
                "api_keys must be an ApiKeyStore: StaticApiKeys(entries), DynamoDBApiKeys(...) "
                f"or SecretsManagerApiKeys(...), not {type(api_keys).__name__}"
            )
        cache_ttl = checked_cache_ttl(cache_ttl)
        self.verifier = verifier
        self.routes = routes if routes is not None else Routes(_DEFAULT_ROUTES_TABLE)
        if not isinstance(self.routes, Routes):
            raise ConfigurationError("routes must be a secauth.Routes table")
        self.claims = claims or getattr(verifier, "default_claims", None) or ClaimMapper()
        self.api_keys = api_keys
        self.api_key_header = api_key_header.lower()
        self.token_sources = check_token_sources(
            token_sources,
            reserved_header=self.api_key_header if api_keys is not None else None,
            cached=cache_ttl > 0,
        )
        self.client_certs = client_certs
        # Routes whose rule reads the request are refused under a result cache whose key
        # does not cover the request; a rule that reads it for some callers only is caught
        # per request (_decide), and such answers are never memoized (_authorize).
        check_result_cache(
            self.routes,
            cache_ttl=cache_ttl,
            covered=cache_key_covers_request,
            client_certs=client_certs is not None,
            api_keys_beside_tokens=api_keys is not None and verifier is not None,
            http_api_uncovered=api == "http" and not cache_key_covers_route,
            own_credentials=bool(redefined(self, Authorizer, ("credentials",))),
        )
        self.rate_limit = rate_limit
        self.sender_constraint = check_sender_constraint(
            sender_constraint, cache_ttl=cache_ttl, covered=cache_key_covers_request
        )
        self._limits = AuthorizerLimits(  # refuses limits a cached answer would skip
            rate_limit,
            api_key_header=self.api_key_header,
            key_limit_store=api_key_limit_store,
            cache_ttl=cache_ttl,
            api_keys=api_keys,
        )
        self._context_fn = context
        #: Where decision records go (:class:`~secauth._decisions.DecisionLog`).
        self.decisions = DecisionLog(decision_log, on_decision)
        if policy_builder is not None:
            if not isinstance(policy_builder, PolicyBuilder):
                raise ConfigurationError("policy_builder must be a secauth.policy.PolicyBuilder")
            policy_builder.check_matches(
                cache_ttl=cache_ttl,
                routes=self.routes,
                max_response_bytes=max_response_bytes,
                simple_responses=simple_responses,
            )
        self.policy_builder = policy_builder or PolicyBuilder(
            cache_ttl=cache_ttl,
            routes=self.routes,
            max_response_bytes=max_response_bytes,
            simple_responses=simple_responses,
        )
        self.cache_ttl = cache_ttl
        if response_cache_size < 0:
            raise ConfigurationError("response_cache_size must not be negative")
        # The memo re-checks a token through revalidate: bound once, for a verifier that has it.
        self._revalidate = revalidator(self.verifier)
        self._memo = ResponseMemo(response_cache_size if self._memoizable() else 0)
        # API Gateway keeps answers under identity sources that do not cover the request.
        self._request_covered = cache_key_covers_request
        self._route_covered = cache_key_covers_route

    def _memoizable(self) -> bool:
        """Answers to a bearer token repeated on the same target are memoized (the token
        is still verified on every call) when everything after the verification is a pure
        function of the token and the target: default hooks, builder and route table, no
        context callable, no rate limit. Rules that read the request are never memoized.
        Hooks are read here, once: set them by subclassing or before construction."""
        return (
            self._revalidate is not None  # a revalidate that vouches for verify
            and type(self.routes) is Routes  # a subclass may decide on anything: ask it
            and not decision_overrides(self.routes)  # nor a decide set on the instance
            and self.rate_limit is None
            and self._context_fn is None
            and type(self.policy_builder) is PolicyBuilder
            and not redefined(self.policy_builder, PolicyBuilder)  # nor a hook set on it
            and not redefined(self.claims, ClaimMapper)  # a mapper may read more than claims
            and not redefined(self, Authorizer, ("credentials", "map_claims", "extra_context"))
        )

    # -- entry points ---------------------------------------------------------------------

    def hydrate(self) -> bool:
        """Fetch keys now (call it at module level, in the Lambda init phase). True when
        there is nothing to fetch (no verifier, or one without ``hydrate``)."""
        hydrate = getattr(self.verifier, "hydrate", None)
        return bool(hydrate()) if callable(hydrate) else True

    def handler(self, event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
        """The Lambda entry point: ``handler = authorizer.handler``."""
        started = _clock()
        record: dict[str, Any] = {}
        request: Request | None = None
        try:
            request = self._request(event)
            return self._authorize(request, record)
        except SecAuthError as err:
            # An event of no kind secauth reads is recorded as such (not a bad_request).
            unsupported = isinstance(err, UnsupportedEvent)
            record.update(decision="unauthorized", status=401, detail=err.detail or None,
                          reason="unsupported_event" if unsupported else err.reason.value)  # fmt: skip
        except Exception as exc:  # fail closed, whatever broke
            record.update(
                decision="unauthorized",
                reason="internal_error",
                status=401,
                detail={"error": type(exc).__name__},
            )
        finally:
            if request is not None:
                record["event"] = request.kind.value
                record["request_id"] = request.request_id
            record["latency_us"] = round((_clock() - started) * 1e6)
            self.decisions.publish(record)
        return self._unauthorized(request)

    def _request(self, event: object) -> Request:
        request = Request.from_event(event)
        if self.api == "rest" and request.kind is EventKind.HTTP_AUTHORIZER_V1:
            # A REQUEST event shaped like HTTP payload 1.0 (as some emulators send them).
            return Request(EventKind.REST_REQUEST_AUTHORIZER, request.raw)
        if self.api == "http" and request.kind is EventKind.REST_REQUEST_AUTHORIZER:
            return Request(EventKind.HTTP_AUTHORIZER_V1, request.raw)
        return request

    # -- hooks ----------------------------------------------------------------------------

    def credentials(self, request: Request) -> Credentials:
        """Find and check the request's credentials. Override to accept other kinds.

        Order: an API key header (when ``api_keys`` is set), a client certificate
        (when ``client_certs`` is set and the request carries one; held to
        :func:`~secauth.cross_site.check_certificate_origin`), else a bearer token from
        ``token_sources`` (:func:`~secauth.token_sources.read_token`; a cookie one held to
        :func:`~secauth.cross_site.check_cookie_origin`), verified, its binding checked
        (``dpop_proof`` names a DPoP proof checked and recorded). An override that reads
        a cookie or certificate itself runs those checks too, and one that checks a DPoP
        proof returns ``Credentials(..., dpop_proof=proof_fingerprint(request))``.
        """
        if self.api_keys is not None and self.api_key_header in request.headers:
            from secauth.api_keys import api_key_of  # not imported by JWT-only authorizers

            key = api_key_of(request, self.api_key_header)
            entry = self.api_keys.lookup(key)
            if entry is None:
                raise InvalidClaims(detail={"problem": "unknown API key"})
            return Credentials(entry.principal(), api_key=key, entry=entry)
        if self.client_certs is not None and request.client_cert:
            principal = self.client_certs.principal(request.client_cert)
            # Browsers present certificates to other sites' forms too, as they send cookies.
            check_certificate_origin(request, self.client_certs.origins)
            return Credentials(principal)
        if self.verifier is None:
            raise MissingToken()
        presented = read_token(request, self.token_sources)
        check_cookie_origin(request, presented)  # a cookie token from another site's page
        claims = self.verifier.verify(presented.token)
        check_binding(claims, request, presented, self.sender_constraint)
        # A DPoP request passed check_binding only with its proof checked and recorded.
        recorded = proof_fingerprint(request) if presented.scheme == "DPoP" else None
        return Credentials(self.map_claims(claims), dpop_proof=recorded)

    def map_claims(self, claims: Mapping[str, Any]) -> Principal:
        """Verified claims → principal. Override for claims no mapper preset covers."""
        return self.claims.map(claims)

    def extra_context(self, principal: Principal, request: Request) -> Mapping[str, object]:
        """Extra context values for the backend (default: the ``context`` callable's)."""
        return self._context_fn(principal) if self._context_fn is not None else {}

    # -- steps ----------------------------------------------------------------------------

    def _authorize(self, request: Request, record: dict[str, Any]) -> dict[str, Any]:
        """One pipeline for every configuration: a memoized answer (the token verified
        again), or credentials → principal → decision → response."""
        if not request.kind.is_authorizer:
            raise UnsupportedEvent(  # a backend function's event: the decision record says so
                "not an authorizer event",
                detail={"event": request.kind.value, "problem": "a backend function's event: "
                        "guard its handler with Guard, or wire this function as the authorizer"},
            )  # fmt: skip
        memo_key = self._memo_key(request)
        if memo_key is not None:
            remembered = self._memo.get(memo_key)
            # It stands while the verifier knows the token as the one it verified, still
            # valid (revalidate raises as verify does); False (an introspection answer may
            # change, a revocation list needs the claims): the answer is made afresh.
            revalidate = self._revalidate
            if remembered is not None and revalidate is not None and revalidate(memo_key[0]):
                record.update(remembered.fields)
                return remembered.response
        try:
            found = self.credentials(request)
        except SecAuthError:
            self._limits.count_refused(request)  # guessing keys or tokens spends the quota
            raise
        target = target_of(request, self.routes)
        decision = self._decide(found, target, request)
        # The record is complete before the response is built: a response that cannot be
        # built (too large, say) is logged as what it was about, then refused (401).
        record.update(decision_fields(found.principal, target.method, target.path, decision))
        response = self._respond(request, found, decision)
        # An answer is kept only when no reading's rule reads the request for this caller
        # (and not for a $default path read two ways: the second decision is not in
        # ``readings``).
        if (
            memo_key is not None
            and target.also is None
            and not self.routes.reads_request(found.principal, decision.decided_by)
        ):
            self._memo.put(memo_key, response, record)
        return response

    def _memo_key(self, request: Request) -> tuple[Any, ...] | None:
        """The memo key of a bearer-token request (:func:`~secauth.memo.answer_key`) when
        answers are memoized, else None."""
        if not self._memo.size or not self._bearer_only(request):
            return None
        return answer_key(request, self.token_sources)

    def _decide(self, found: Credentials, target: Target, request: Request) -> Decision:
        principal = found.principal
        decision = decide_as_ran(self.routes, principal, target.method, target.path, request)
        if decision.allowed and target.also is not None:
            other = decide_as_ran(self.routes, principal, target.method, target.also, request)
            decision = decision if other.allowed else other
        if decision.allowed and self.cache_ttl > 0:
            # What construction could not refuse (a rule reading the request for this
            # caller only, an HTTP API seen in its events): API Gateway would serve this
            # allow to the token's other requests. Fail closed.
            denial = cached_denial(self.routes, principal, decision, request,
                                   request_covered=self._request_covered,
                                   route_covered=self._route_covered)  # fmt: skip
            if denial is not None:
                decision = decision._replace(allowed=False, reason=denial.reason, denial=denial)
        return self._limits.apply(decision, request, principal, found.entry)

    def _bearer_only(self, request: Request) -> bool:
        """True when the request's credential is a bearer token (no API key, no client cert)."""
        if self.api_keys is not None and self.api_key_header in request.headers:
            return False
        return self.client_certs is None or not request.client_cert

    def _respond(self, request: Request, found: Credentials, decision: Decision) -> dict[str, Any]:
        principal = found.principal
        context = answer_context(found, self.extra_context(principal, request),
                                 token_claims=self._token_claims, cached=self.cache_ttl > 0)  # fmt: skip
        usage_key = found.api_key if found.entry is not None and found.entry.usage_plan else None
        if usage_key is not None and not request.kind.carries_usage_key:
            usage_key = None
        # With caching on, the policy must be right for every request that reuses it,
        # whatever this request's decision: it allows the principal's routes and denies this
        # one if denied (on an HTTP API, within the route it ran: route_bound).
        bound = route_bound(request, cached=self.cache_ttl > 0, route_covered=self._route_covered)
        return self.policy_builder.response(
            principal,
            request,
            allow=decision.allowed,
            context=context,
            usage_identifier_key=usage_key,
            exact=bound.exact,
            route_template=bound.route_template,
        )

    def _unauthorized(self, request: Request | None) -> dict[str, Any]:
        """The answer to missing or invalid credentials, as the event's kind allows (the
        builder's); an event that is no authorizer's is answered as REST's: 401."""
        if request is None or not request.kind.is_authorizer:
            raise Unauthorized()
        return self.policy_builder.unauthorized(request)


_clock = time.perf_counter
