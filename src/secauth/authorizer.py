"""``Authorizer``: a Lambda authorizer that turns an event into an authorizer response.

The pipeline: event → :class:`~secauth.events.Request` → credentials (bearer
JWT, API key or mTLS client certificate) → :class:`~secauth.principal.Principal`
→ route rules (and an optional rate limit) → the response shape of the event
kind (:mod:`secauth.policy`).

Outcomes
--------
* Missing or invalid credentials: 401. REST and WebSocket authorizers must raise
  ``Exception("Unauthorized")`` for that, and do; HTTP APIs cannot answer 401
  from a Lambda authorizer, so they get ``isAuthorized: false`` or a Deny (403).
* Valid credentials without permission: an explicit Deny (403).
* Key source down (``keys_unavailable``): treated like invalid credentials (the
  client may retry), logged with its own reason.
* Any unexpected error in any stage: the same as invalid credentials. Never an
  Allow, never a traceback in a response.

One structured log line per decision (logger ``secauth.decisions``), without the token.

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
>>> response = authorizer.handler(event, None)
>>> response["principalId"], response["policyDocument"]["Statement"][0]["Effect"]
('ann', 'Allow')
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from secauth._decisions import DecisionSink, emit, listening
from secauth._sightings import seen_before
from secauth.access import Decision, Denial, RouteMatch, Routes, authenticated
from secauth.credentials import ApiKeyEntry, ApiKeyStore, ClientCertificates, read_api_key
from secauth.errors import (
    ConfigurationError,
    InvalidClaims,
    MissingToken,
    Reason,
    SecAuthError,
)
from secauth.events import EventKind, Request, UnsupportedEvent
from secauth.policy import (
    DEFAULT_MAX_RESPONSE_BYTES,
    MethodArn,
    PolicyBuilder,
    Unauthorized,
    exact_document,
)
from secauth.policy.document import _document_json
from secauth.policy.responses import _principal_response
from secauth.principal import ClaimMapper, Principal
from secauth.rules import _principal_test

if TYPE_CHECKING:
    from secauth.ratelimit import RateLimiter
    from secauth.verifier import JwtVerifier, MultiIssuerVerifier

__all__ = ["Authorizer"]

_DEFAULT_ROUTES_TABLE = {
    "ANY /": authenticated(),
    "ANY /{proxy+}": authenticated(),
    "$connect": authenticated(),
}


class _Target(NamedTuple):
    """What one method ARN asks for: verb, path and the route that decides them."""

    method: str
    path: str
    found: RouteMatch | None
    arn: MethodArn
    # The exact Deny and Allow documents of this ARN, serialized, with their sizes.
    documents: tuple[tuple[dict[str, Any], int], tuple[dict[str, Any], int]]
    # When the principal alone decides the route's rule: that test, and its Allow decision.
    principal_rule: tuple[Callable[[Principal], bool], Decision] | None


class _Credentials:
    """What the request presented, and what it stands for once checked."""

    __slots__ = ("api_key", "entry", "principal")

    def __init__(
        self, principal: Principal, *, api_key: str | None = None, entry: ApiKeyEntry | None = None
    ) -> None:
        self.principal = principal
        self.api_key = api_key
        self.entry = entry


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
        A :class:`~secauth.principal.ClaimMapper` (default: ``sub``, ``roles``,
        ``groups``, ``scope``/``scp``).
    api_keys, api_key_header:
        Accept partner API keys from this header (default ``x-api-key``), looked up
        by hash in ``api_keys``. A request with a bearer token uses the token.
    client_certs:
        Accept mTLS client certificates from this allowlist (REST REQUEST and HTTP).
    cache_ttl:
        The authorizer's ``authorizerResultTtlInSeconds`` as configured on API
        Gateway. Above 0, every policy covers all routes the principal may call (a
        cached policy is reused for other routes); rules that depend on headers,
        query, IP or custom logic are refused at construction unless
        ``cache_key_covers_request=True`` says the identity sources include them.
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
    on_decision:
        ``callable(record)`` called with every decision record, e.g. for metrics.
    response_cache_size:
        Responses for the same bearer token on the same route are memoized (the token
        is still verified on every call). Off when hooks are overridden, or with a
        ``context`` callable, a rate limit, or a rule that reads the request; 0 turns
        it off.

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
        verifier: JwtVerifier | MultiIssuerVerifier | None = None,
        *,
        routes: Routes | None = None,
        claims: ClaimMapper | None = None,
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
        cache_key_covers_request: bool = False,
        api: str | None = None,
        response_cache_size: int = 1024,
        api_key_limit_store: object | None = None,
    ) -> None:
        if api not in (None, "rest", "http"):
            raise ConfigurationError("api must be 'rest', 'http' or None (detect from the event)")
        self.api = api
        if verifier is None and api_keys is None and client_certs is None:
            raise ConfigurationError(
                "Authorizer needs a credential source: a verifier, api_keys or client_certs"
            )
        if verifier is not None and not callable(getattr(verifier, "verify", None)):
            raise ConfigurationError("verifier must be a JwtVerifier (or have .verify(token))")
        self.verifier = verifier
        self.routes = routes if routes is not None else Routes(_DEFAULT_ROUTES_TABLE)
        if not isinstance(self.routes, Routes):
            raise ConfigurationError("routes must be a secauth.Routes table")
        self.claims = claims or ClaimMapper()
        self.api_keys = api_keys
        self.api_key_header = api_key_header.lower()
        self.client_certs = client_certs
        if simple_responses and cache_ttl:
            raise ConfigurationError(
                "simple responses cannot be cached per route: with cache_ttl > 0 use IAM "
                "policy responses (simple_responses=False)"
            )
        if rate_limit is not None and cache_ttl:
            raise ConfigurationError(
                "a rate limit in the authorizer needs cache_ttl=0: cached answers skip it"
            )
        if cache_ttl and not cache_key_covers_request:
            self._refuse_request_dependent_rules()
        self.rate_limit = rate_limit
        # Per-API-key limits (ApiKeyEntry.rate_limit): one limiter per distinct limit, on
        # api_key_limit_store (a shared store) or this container's memory.
        self._key_limit_store = api_key_limit_store
        self._key_limiters: dict[str, Any] = {}
        if cache_ttl and api_keys is not None and _any_key_limit(api_keys):
            raise ConfigurationError(
                "API keys with a rate_limit need cache_ttl=0: cached answers skip the limit"
            )
        self._context_fn = context
        self.on_decision = on_decision
        self.policy_builder = policy_builder or PolicyBuilder(
            cache_ttl=cache_ttl,
            routes=self.routes,
            max_response_bytes=max_response_bytes,
            simple_responses=simple_responses,
        )
        self.cache_ttl = cache_ttl
        # Responses to a bearer token repeated on the same route are memoized: the token is
        # verified again on every call (expiry, key changes), and everything after that is
        # a pure function of the token and the route, unless a hook, a context callable,
        # a rate limit or a request-dependent rule is involved, which turns this off.
        if response_cache_size < 0:
            raise ConfigurationError("response_cache_size must not be negative")
        pure_hooks = all(
            getattr(type(self), name) is getattr(Authorizer, name)
            for name in ("credentials", "map_claims", "extra_context")
        )
        # A PolicyBuilder subclass may add statements that read the request: no memo then.
        pure_builder = type(self.policy_builder) is PolicyBuilder
        self._memo_size = (
            response_cache_size
            if pure_hooks
            and pure_builder
            and rate_limit is None
            and context is None
            and verifier is not None
            else 0
        )
        self._memo: dict[tuple[object, ...], tuple[dict[str, Any], dict[str, Any]]] = {}
        self._revalidate: Callable[[str], bool] = getattr(
            verifier, "revalidate", lambda token: False
        )
        self._seen: set[int] = set()
        # Method ARN (and WebSocket route key) -> what it asks for; the table is immutable.
        self._targets: dict[object, _Target] = {}
        self._plain_routes = all(
            getattr(type(self.routes), name) is getattr(Routes, name)
            for name in ("decide", "resolve", "judge", "match")
        )
        # None stands for the table's default rule (a request no route matches).
        self._dependent_routes: frozenset[str | None] = frozenset(
            _request_dependent(self.routes, Principal("probe", tenant="probe"))
        )

    def _refuse_request_dependent_rules(self) -> None:
        probe = Principal("probe", tenant="probe")
        dependent = [r or "(the default rule)" for r in _request_dependent(self.routes, probe)]
        if dependent:
            raise ConfigurationError(
                f"routes {dependent} depend on the request (headers, query, IP or custom "
                "rules), but with cache_ttl > 0 API Gateway reuses one answer for every "
                "request of the same identity. Use cache_ttl=0, or put those request parts "
                "in the authorizer's identity sources and pass cache_key_covers_request=True"
            )

    # -- entry points ---------------------------------------------------------------------

    def hydrate(self) -> bool:
        """Fetch keys now (call it at module level, in the Lambda init phase)."""
        return self.verifier.hydrate() if self.verifier is not None else True

    def handler(self, event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
        """The Lambda entry point: ``handler = authorizer.handler``."""
        started = _clock()
        observed = listening(self.on_decision)  # else records need not be complete
        record: dict[str, Any] = {}
        request: Request | None = None
        try:
            request = self._request(event)
            return self._authorize(request, record, observed)
        except SecAuthError as err:
            record.update(
                decision="unauthorized",
                reason=err.reason.value,
                status=401,
                detail=err.detail or None,
            )
        except UnsupportedEvent:
            record.update(decision="unauthorized", reason="unsupported_event", status=401)
        except Exception as exc:  # fail closed, whatever broke
            record.update(
                decision="unauthorized",
                reason="internal_error",
                status=401,
                detail={"error": type(exc).__name__},
            )
        finally:
            if observed:
                if request is not None:
                    record["event"] = request.kind.value
                    record["request_id"] = request.request_id
                record["latency_us"] = round((_clock() - started) * 1e6)
                emit(record, self.on_decision)
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

    def credentials(self, request: Request) -> _Credentials:
        """Find and check the request's credentials. Override to accept other kinds.

        Order: an API key header (when ``api_keys`` is set), a client certificate
        (when ``client_certs`` is set and the request carries one), else a bearer token.
        """
        if self.api_keys is not None and self.api_key_header in request.headers:
            key = read_api_key(request.headers, self.api_key_header)
            entry = self.api_keys.lookup(key)
            if entry is None:
                raise InvalidClaims(detail={"problem": "unknown API key"})
            return _Credentials(entry.principal(), api_key=key, entry=entry)
        if self.client_certs is not None and request.client_cert:
            return _Credentials(self.client_certs.principal(request.client_cert))
        if self.verifier is None:
            raise MissingToken()
        claims = self.verifier.verify(request.bearer_token())
        return _Credentials(self.map_claims(claims))

    def map_claims(self, claims: Mapping[str, Any]) -> Principal:
        """Verified claims → principal. Override for claims no mapper preset covers."""
        return self.claims.map(claims)

    def extra_context(self, principal: Principal, request: Request) -> Mapping[str, object]:
        """Extra context values for the backend (default: the ``context`` callable's)."""
        return self._context_fn(principal) if self._context_fn is not None else {}

    # -- steps ----------------------------------------------------------------------------

    def _authorize(
        self, request: Request, record: dict[str, Any], observed: bool
    ) -> dict[str, Any]:
        if not request.kind.is_authorizer:
            raise UnsupportedEvent("not an authorizer event")
        builder = self.policy_builder
        if (
            self._memo_size  # default hooks, builder and context; a verifier; no rate limit
            and self._plain_routes
            and self.api_keys is None
            and self.client_certs is None
            and type(builder) is PolicyBuilder
            and not builder.cache_ttl
            and not builder.simple_responses
        ):
            return self._authorize_bearer(request, record, observed)
        memo_key: tuple[object, ...] | None = None
        if self._memo_size and self._bearer_only(request):
            assert self.verifier is not None
            memo_key, answer, claims = self._memo_or_verify(request, record)
            if answer is not None:
                return answer
            found = _Credentials(self.map_claims(claims))
        else:
            found = self.credentials(request)
        principal = found.principal
        target = self._target(request)
        if self._plain_routes:
            decision = self.routes.judge(
                principal, target.found, target.method, target.path, request
            )
        else:  # a Routes subclass that overrides how it decides: ask it every time
            decision = self.routes.decide(principal, target.method, target.path, request)
        if decision.allowed and self.rate_limit is not None:
            decision = self._rate_limited(decision, request, principal, found)
        if decision.allowed and found.entry is not None and found.entry.rate_limit:
            decision = self._key_limited(decision, request, principal, found.entry.rate_limit)
        # The record is complete before the response is built: a response that cannot be
        # built (too large, say) is logged as what it was about, then refused (401).
        record.update(_record_fields(principal, target, decision))
        response = self._respond(request, principal, decision, found, target)
        if (
            memo_key is not None
            and decision.route not in self._dependent_routes
            and seen_before(self._seen, memo_key, self._memo_size)
        ):
            self._memo_put(memo_key, response, record)
        return response

    def _authorize_bearer(
        self, request: Request, record: dict[str, Any], observed: bool
    ) -> dict[str, Any]:
        """:meth:`_authorize` for the usual configuration (bearer tokens only, default
        hooks, policies naming exactly the method ARN): the same answers and records in
        fewer steps, and no record built when nobody reads it."""
        memo_key, answer, claims = self._memo_or_verify(request, record)
        if answer is not None:
            return answer
        principal = self.claims.map(claims)
        target = self._target(request)
        quick = target.principal_rule
        if quick is not None and quick[0](principal):
            decision = quick[1]
        else:
            decision = self.routes.judge(
                principal, target.found, target.method, target.path, request
            )
        if observed:
            record.update(_record_fields(principal, target, decision))
        response = _principal_response(
            principal.id,
            target.documents[decision.allowed],
            principal.to_context(),
            self.policy_builder.max_response_bytes,
        )
        if decision.route not in self._dependent_routes and seen_before(
            self._seen, memo_key, self._memo_size
        ):
            self._memo_put(memo_key, response, _record_fields(principal, target, decision))
        return response

    def _memo_or_verify(
        self, request: Request, record: dict[str, Any]
    ) -> tuple[tuple[object, ...], dict[str, Any] | None, dict[str, Any]]:
        """``(memo key, memoized answer or None, verified claims)`` for a bearer request.
        Every call re-checks the token (expiry, key changes, revocation hook), memo or not."""
        assert self.verifier is not None
        token = request.bearer_token()
        memo_key = (
            token, request.kind, request.method_arn, request.route_key, request.method, request.path
        )
        hit = self._memo.get(memo_key)
        if hit is None:
            return memo_key, None, self.verifier.verify(token)
        claims = {} if self._revalidate(token) else self.verifier.verify(token)
        response, fields = hit
        record.update(fields)  # the handler sets this request's id and event
        return memo_key, _copy_response(response), claims

    def _target(self, request: Request) -> _Target:
        """What the request asks for (the method ARN's verb and path, or the WebSocket
        route key) and the route that decides it: worked out once per distinct ARN."""
        # The route key, method and path matter for WebSocket and HTTP $default ARNs.
        key = (request.method_arn, request.route_key, request.method, request.path)
        target = self._targets.get(key)
        if target is None:
            method, path, arn = _verb_and_path(request)
            documents = (
                _document_json(exact_document(arn, False)),
                _document_json(exact_document(arn, True)),
            )
            found = self.routes.resolve(method, path)
            test = _principal_test(found.rule) if found is not None and not found.others else None
            principal_rule = None
            if found is not None and test is not None:
                principal_rule = (test, Decision(True, None, found.route, dict(found.params), None))
            target = _Target(method, path, found, arn, documents, principal_rule)
            targets = self._targets
            if len(targets) >= _TARGET_CACHE_SIZE:
                targets.clear()
            targets[key] = target
        return target

    def _memo_put(
        self, key: tuple[object, ...], response: dict[str, Any], fields: Mapping[str, Any]
    ) -> None:
        memo = self._memo
        if len(memo) >= self._memo_size:
            for old_key in list(itertools.islice(memo, max(1, len(memo) // 2))):
                memo.pop(old_key, None)
        memo[key] = (_copy_response(response), dict(fields))

    def _bearer_only(self, request: Request) -> bool:
        """True when the request's credential is a bearer token (no API key, no client cert)."""
        if self.api_keys is not None and self.api_key_header in request.headers:
            return False
        return self.client_certs is None or not request.client_cert

    def _rate_limited(
        self, decision: Decision, request: Request, principal: Principal, found: _Credentials
    ) -> Decision:
        assert self.rate_limit is not None
        result = self.rate_limit.hit(request, principal)
        if result.allowed:
            return decision
        refusal = Denial(Reason.RATE_LIMITED, f"rate limited; retry after {result.retry_after} s")
        return Decision(False, refusal.reason, decision.route, decision.params, refusal)

    def _key_limited(
        self, decision: Decision, request: Request, principal: Principal, limit: str
    ) -> Decision:
        if self.cache_ttl:
            # Entries from a dynamic store can only be seen now: a limit we cannot apply
            # under caching is a refusal, never a silent pass.
            refusal = Denial(Reason.CONFIGURATION_ERROR, "per-key rate limit with cache_ttl > 0")
            return Decision(False, refusal.reason, decision.route, decision.params, refusal)
        limiter = self._key_limiters.get(limit)
        if limiter is None:
            from secauth.ratelimit import RateLimiter

            options: dict[str, Any] = {"header": self.api_key_header}
            if self._key_limit_store is not None:
                options["store"] = self._key_limit_store
            limiter = self._key_limiters[limit] = RateLimiter.per_api_key(limit, **options)
        result = limiter.hit(request, principal)
        if result.allowed:
            return decision
        refusal = Denial(
            Reason.RATE_LIMITED, f"API key rate limited; retry after {result.retry_after} s"
        )
        return Decision(False, refusal.reason, decision.route, decision.params, refusal)

    def _respond(
        self,
        request: Request,
        principal: Principal,
        decision: Decision,
        found: _Credentials,
        target: _Target,
    ) -> dict[str, Any]:
        context: Mapping[str, object] = principal.to_context()
        extra = self.extra_context(principal, request)
        if type(extra) is not dict or extra:  # the default hook's {} has nothing to merge
            # secauth_* names are the principal's, and only to_context() writes them: an
            # extra value (a forwarded claim) must not fill one it leaves out (no tenant,
            # say), which Principal.from_context in the function would trust.
            merged: dict[str, object] = {
                k: v
                for k, v in extra.items()
                if not (isinstance(k, str) and k.startswith("secauth_"))
            }
            merged.update(context)
            context = merged
        usage_key = found.api_key if found.entry is not None and found.entry.usage_plan else None
        if usage_key is not None and request.kind not in _USAGE_PLAN_KINDS:
            usage_key = None
        builder = self.policy_builder
        # With caching on, the policy must be right for every route, whatever this
        # request's decision: it allows the principal's routes and denies this one if denied.
        return builder.response(
            principal,
            request,
            allow=decision.allowed,
            context=context,
            usage_identifier_key=usage_key,
        )

    def _unauthorized(self, request: Request | None) -> dict[str, Any]:
        kind = request.kind if request is not None else EventKind.TOKEN_AUTHORIZER
        if not kind.is_authorizer:
            kind = EventKind.TOKEN_AUTHORIZER
        if kind in (EventKind.HTTP_AUTHORIZER_V1, EventKind.HTTP_AUTHORIZER_V2):
            return self.policy_builder.unauthorized(request) if request is not None else {}
        raise Unauthorized() from None


def _record_fields(principal: Principal, target: _Target, decision: Decision) -> dict[str, Any]:
    """The decision record's fields about who asked for what, and the answer."""
    fields: dict[str, Any] = {
        "principal": principal.id,
        "tenant": principal.tenant,
        "kind": principal.kind,
        "method": target.method,
        "path": target.path,
        "route": decision.route,
    }
    if decision.allowed:
        fields["decision"], fields["status"] = "allow", 200
    else:
        reason = decision.reason or Reason.FORBIDDEN
        fields.update(decision="deny", reason=reason.value, status=403)
    return fields


def _any_key_limit(store: object) -> bool:
    """Whether a static key store holds an entry with its own rate limit."""
    entries = getattr(store, "entries", None)
    if not callable(entries):
        return False
    return any(entry.rate_limit for entry in entries())


def _copy_response(response: dict[str, Any]) -> dict[str, Any]:
    """A copy of a response a caller may change without touching the memoized one."""
    import json

    return json.loads(json.dumps(response)) if _nested(response) else _copy_flat(response)


def _nested(response: Mapping[str, Any]) -> bool:
    context = response.get("context")
    return isinstance(context, Mapping) and not all(
        type(v) in (str, int, float, bool) for v in context.values()
    )


def _copy_flat(response: dict[str, Any]) -> dict[str, Any]:
    out = dict(response)
    if "context" in out:
        out["context"] = dict(out["context"])
    document = out.get("policyDocument")
    if document is not None:
        out["policyDocument"] = {
            "Version": document["Version"],
            "Statement": [_copy_statement(s) for s in document["Statement"]],
        }
    return out


def _copy_statement(statement: Mapping[str, Any]) -> dict[str, Any]:
    copied = dict(statement)
    copied["Resource"] = list(statement["Resource"])
    if "Condition" in statement:
        import json

        copied["Condition"] = json.loads(json.dumps(statement["Condition"]))
    return copied


_USAGE_PLAN_KINDS = frozenset({EventKind.TOKEN_AUTHORIZER, EventKind.REST_REQUEST_AUTHORIZER})


def _request_dependent(routes: Routes, probe: Principal) -> list[str | None]:
    """Routes whose rule reads the request, and None when the default rule does."""
    dependent: list[str | None] = list(routes.request_dependent_routes(probe))
    if routes.default is not None and routes.default.bindings(probe) is None:
        dependent.append(None)
    return dependent


def _verb_and_path(request: Request) -> tuple[str, str, MethodArn]:
    """The verb and path the decision is about: the method ARN's (``routeArn`` for HTTP
    payload 2.0), which is what the policy names. Not an HTTP API's ``rawPath``: on a
    named stage it starts with the stage ("/prod/admin"), and a custom domain's API
    mapping adds its base path, so a catch-all route would decide for another route.
    WebSocket ARNs have no verb: their route key decides. An HTTP API's ``$default``
    route ARN names no path either: the request's method and path (stage stripped) decide.
    """
    arn = MethodArn.parse(request.method_arn)  # a bad ARN raises here and is never kept
    if request.kind is _WEBSOCKET:
        return request.route_key or "$connect", "", arn
    if arn.verb is None and arn.path == "$default" and request.kind in _HTTP_KINDS:
        return request.method, _without_stage(request.path, request.stage), arn
    return arn.verb or "", arn.path, arn


def _without_stage(path: str, stage: str | None) -> str:
    """``rawPath`` without the leading stage segment a named stage adds ("/prod/a" -> "/a").

    >>> _without_stage("/prod/orders/7", "prod"), _without_stage("/orders", "$default")
    ('/orders/7', '/orders')
    """
    if stage and stage != "$default" and (path == f"/{stage}" or path.startswith(f"/{stage}/")):
        return path[len(stage) + 1 :] or "/"
    return path


_HTTP_KINDS = frozenset({EventKind.HTTP_AUTHORIZER_V1, EventKind.HTTP_AUTHORIZER_V2})
_WEBSOCKET = EventKind.WEBSOCKET_AUTHORIZER
_clock = time.perf_counter
_TARGET_CACHE_SIZE = 512
