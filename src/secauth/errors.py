"""The single secauth error tree and its stable reason codes.

Every failure secauth reports is a :class:`SecAuthError`. Each one carries

* ``reason``: a stable :class:`Reason` code for logs, metrics and alarms;
* ``status``: the HTTP status a client should see (401, 403, 429, 503, ...);
* ``public_message``: a short text that is safe to send to a client;
* ``detail``: internal facts (expected vs actual values) for logs only. It never
  holds the token, a key or a secret.

``str(error)`` gives the public message and the reason only, so an error that
ends up in a log line or a response body by accident leaks nothing. The codes are defined
in :mod:`secauth.reasons` (:class:`Reason`) and :mod:`secauth.field_errors` (what an
:class:`InvalidFields` names); this module re-exports them.

The tree
--------
::

    SecAuthError
    ├── ConfigurationError (also ValueError)  configuration_error, at construction
    │   ├── KeyImportError                     a JWK that cannot be used (skipped when fetched)
    │   └── (secauth.policy) PolicyTooLarge, InvalidContext, PolicyConflict
    ├── TokenError                             401
    │   ├── MissingToken, MalformedToken, InvalidSignature, TokenExpired,
    │   ├── TokenNotYetValid, InvalidIssuer, InvalidAudience, InvalidClaims
    │   ├── UnknownKey
    │   ├── UnsupportedScheme (a MalformedToken)  another Authorization scheme (Basic)
    │   ├── AmbiguousCredentials               a token in two places, or given twice
    │   ├── MissingAuthorizerContext           Guard trusts an authorizer that left no context
    │   ├── TokenRevoked                       verifies, but revoked (secauth.revocation)
    │   └── SenderConstraintError              a bound token without its proof (sender_constraint)
    │       ├── CertificateMismatch, MissingClientCertificate    RFC 8705 (mTLS)
    │       └── InvalidDpopProof                                 RFC 9449 (DPoP)
    │           ├── DpopProofReplayed
    │           └── DpopNonceRequired                  server nonces required (RFC 9449 section 9)
    ├── KeysUnavailable                        503, retryable: the key source is down
    ├── AccessDenied                           403
    │   └── Forbidden, InsufficientScope, TenantMismatch, UnknownPlan
    ├── RateLimited                            429
    │   └── AbuseBlocked
    ├── RequestRejected                        400-415
    │   ├── BadRequest
    │   │   ├── InvalidFields                    a JSON body broke declared field rules
    │   │   ├── InvalidMethodArn (also ValueError)  an authorizer event's ARN is malformed
    │   │   └── UnsupportedEvent (also ValueError)  not an event kind secauth reads
    │   └── NotFound, MethodNotAllowed, PayloadTooLarge, UnsupportedMediaType
    └── InternalError                          500

``secauth.policy.Unauthorized`` is not an error of this tree: it is the answer a REST or
WebSocket authorizer raises on purpose to make API Gateway reply 401. Nor are the three
store signals, ``secauth.ratelimit.store.StoreError``, ``secauth.revocation.StoreUnavailable``
and ``secauth.dpop_replay.ReplayStoreUnavailable``: a store (secauth's or yours) raises one to
the component that called it, which applies its failure policy (a 503 ``KeysUnavailable``, a
denial, or an answer from memory); a request never ends in one. An operator's call lets them
through: ``RateLimiter.usage()`` and ``Revocations.revoke_*()``.

Example
-------
>>> from secauth.errors import TokenExpired, Reason
>>> err = TokenExpired("token expired", detail={"exp": 1, "now": 2})
>>> err.reason is Reason.TOKEN_EXPIRED, err.status, str(err)
(True, 401, 'token expired (token_expired)')
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from secauth.field_errors import RULES, FieldError
from secauth.reasons import Reason

__all__ = [
    "MAX_RETRY_SECONDS", "RULES", "AbuseBlocked", "AccessDenied", "AmbiguousCredentials", "BadRequest",
    "CertificateMismatch", "ConfigurationError", "DpopNonceRequired", "DpopProofReplayed",
    "FieldError", "Forbidden",
    "InsufficientScope", "InternalError", "InvalidAudience", "InvalidClaims",
    "InvalidDpopProof", "InvalidFields", "InvalidIssuer", "InvalidMethodArn",
    "InvalidSignature", "KeyImportError", "KeysUnavailable", "MalformedToken",
    "MethodNotAllowed", "MissingAuthorizerContext", "MissingClientCertificate", "MissingToken",
    "NotFound", "PayloadTooLarge", "RateLimited", "Reason", "RequestRejected", "SecAuthError",
    "SenderConstraintError", "TenantMismatch", "TokenError", "TokenExpired", "TokenNotYetValid",
    "TokenRevoked", "UnknownKey", "UnknownPlan", "UnsupportedEvent", "UnsupportedMediaType",
    "UnsupportedScheme",
]  # fmt: skip

_MAX_DETAIL_TEXT = 120


def _safe_detail(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    """Copy ``detail`` with long strings cut and huge integers named, so attacker-sized
    values stay small in logs."""
    if not detail:
        return {}
    out: dict[str, Any] = {}
    for key, value in detail.items():
        if isinstance(value, str) and len(value) > _MAX_DETAIL_TEXT:
            out[key] = value[:_MAX_DETAIL_TEXT] + "..."
        elif type(value) is int and value.bit_length() > 64:  # a 4,000-digit "iss", say
            out[key] = "<large int>"
        else:
            out[key] = value
    return out


class SecAuthError(Exception):
    """Base class of every error secauth raises.

    Parameters
    ----------
    public_message:
        Short text that is safe to show to a client. Defaults to the class's
        ``default_message``.
    detail:
        Internal facts for logs (for example ``{"expected": ..., "actual": ...}``).
        Never put a token, key or secret here.

    Example
    -------
    >>> try:
    ...     raise InvalidIssuer(detail={"expected": "https://a/", "actual": "https://b/"})
    ... except SecAuthError as err:
    ...     print(err.reason, err.status, err.retryable)
    invalid_issuer 401 False
    """

    reason: ClassVar[Reason] = Reason.FORBIDDEN
    status: ClassVar[int] = 403
    retryable: ClassVar[bool] = False
    default_message: ClassVar[str] = "request not allowed"

    def __init__(
        self, public_message: str | None = None, *, detail: Mapping[str, Any] | None = None
    ) -> None:
        self.public_message = public_message or self.default_message
        self.detail = _safe_detail(detail)
        super().__init__(self.public_message)

    def __str__(self) -> str:
        return f"{self.public_message} ({self.reason.value})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reason={self.reason.value!r}, detail={self.detail!r})"

    def to_log(self) -> dict[str, Any]:
        """A flat dict for structured logs: reason, status, public message and detail.

        Safe as ``logger.info(..., extra=err.to_log())``: no key is a ``LogRecord``
        attribute (``message`` would make ``logging`` raise ``KeyError``).

        >>> InvalidSignature().to_log()["reason"]
        'invalid_signature'
        """
        return {
            "reason": self.reason.value,
            "status": self.status,
            "public_message": self.public_message,
            **{f"detail_{k}": v for k, v in self.detail.items()},
        }


class ConfigurationError(SecAuthError, ValueError):
    """secauth was configured wrongly: raised at construction where it can be seen there,
    else by the requests it affects (a 500, or an authorizer's 401, logged as
    ``configuration_error``)."""

    reason = Reason.CONFIGURATION_ERROR
    status = 500
    default_message = "secauth is misconfigured"

    def __str__(self) -> str:
        # Configuration messages are written for the developer and hold no secrets.
        return self.public_message


class KeyImportError(ConfigurationError):
    """A JWK (or a JWKS document) that cannot be used: wrong type, unsupported key, too weak.
    A fetched key set skips such keys; a configured one refuses them at construction."""

    default_message = "a key could not be imported"


# --- 401: the credentials are missing or bad --------------------------------------------


class TokenError(SecAuthError):
    """The caller's credentials are missing or invalid (HTTP 401). ``challenge_error``: the
    RFC 6750 error code of the ``WWW-Authenticate`` challenge (None: a request without
    credentials, answered with the bare challenge)."""

    status = 401
    reason = Reason.MALFORMED_TOKEN
    default_message = "invalid token"
    challenge_error: ClassVar[str | None] = "invalid_token"


class MissingToken(TokenError):
    reason = Reason.MISSING_TOKEN
    default_message = "missing credentials"
    challenge_error = None


class MalformedToken(TokenError):
    reason = Reason.MALFORMED_TOKEN
    default_message = "malformed token"


class UnsupportedScheme(MalformedToken):
    """An ``Authorization`` header of another scheme (``Basic``, say): refused as a
    malformed token, but challenged without an error code, as RFC 6750 section 3.1 asks
    of an unsupported authentication method."""

    challenge_error = None


class InvalidSignature(TokenError):
    reason = Reason.INVALID_SIGNATURE
    default_message = "invalid token signature"


class TokenExpired(TokenError):
    reason = Reason.TOKEN_EXPIRED
    default_message = "token expired"


class TokenNotYetValid(TokenError):
    reason = Reason.TOKEN_NOT_YET_VALID
    default_message = "token not yet valid"


class InvalidIssuer(TokenError):
    reason = Reason.INVALID_ISSUER
    default_message = "invalid token issuer"


class InvalidAudience(TokenError):
    reason = Reason.INVALID_AUDIENCE
    default_message = "invalid token audience"


class InvalidClaims(TokenError):
    reason = Reason.INVALID_CLAIMS
    default_message = "invalid token claims"


class UnknownKey(TokenError):
    reason = Reason.UNKNOWN_KEY
    default_message = "token signed with an unknown key"


class AmbiguousCredentials(TokenError):
    """Credentials in more than one configured place (a header and a query parameter), or
    one place given twice (a repeated header, query parameter or cookie, or values a
    gateway joined with a comma): which one counts is not the client's to choose (HTTP
    401). ``detail`` names the places, never a value."""

    reason = Reason.AMBIGUOUS_CREDENTIALS
    default_message = "credentials presented more than once"
    # RFC 6750 section 3.1's code (either copy may be a valid token). The status stays 401,
    # as an authorizer must answer it, where the RFC would rather see 400.
    challenge_error = "invalid_request"


class MissingAuthorizerContext(TokenError):
    """A :class:`~secauth.guard.Guard` that trusts the API Gateway authorizer found no
    secauth context in the event: no authorizer ran for this request (often no token was
    sent), or something else invoked the function. A context that is there but malformed
    is :class:`InvalidClaims`."""

    reason = Reason.MISSING_AUTHORIZER_CONTEXT
    default_message = "missing authorizer context"
    challenge_error = None  # not the token's fault: no authorizer ran


class TokenRevoked(TokenError):
    """The token verifies, but it was revoked (by ``jti``, refresh-token family, subject
    or client): see :class:`~secauth.revocation.Revocations`."""

    reason = Reason.TOKEN_REVOKED
    default_message = "token revoked"


class SenderConstraintError(TokenError):
    """A sender-constrained token (its ``cnf`` claim binds it to a client certificate or a
    DPoP key) presented without the proof of that binding: a DPoP-bound token sent as
    ``Bearer``, a proof made with another key, an unbound token where binding is required,
    a confirmation method secauth does not know (see :mod:`secauth.sender_constraint`).

    ``dpop_algorithms`` (set when the request used DPoP or the token is DPoP-bound) makes
    the answer's challenge ``DPoP error=..., algs="..."`` instead of ``Bearer``.
    """

    reason = Reason.TOKEN_BINDING_MISMATCH
    default_message = "token not bound to this sender"

    def __init__(
        self,
        public_message: str | None = None,
        *,
        detail: Mapping[str, Any] | None = None,
        dpop_algorithms: Iterable[str] | None = None,
    ) -> None:
        super().__init__(public_message, detail=detail)
        self.dpop_algorithms = tuple(dpop_algorithms) if dpop_algorithms is not None else None


class CertificateMismatch(SenderConstraintError):
    """A certificate-bound token (``cnf.x5t#S256``, RFC 8705) with another client
    certificate than the one it is bound to."""

    reason = Reason.CERTIFICATE_MISMATCH
    default_message = "token bound to another certificate"


class MissingClientCertificate(SenderConstraintError):
    """A certificate-bound token on a request that presented no client certificate."""

    reason = Reason.MISSING_CLIENT_CERTIFICATE
    default_message = "client certificate required"


class InvalidDpopProof(SenderConstraintError):
    """A DPoP proof (RFC 9449) missing, malformed, badly signed, or made for another
    request (method, URI, time, access token); answered with ``DPoP
    error="invalid_dpop_proof"``."""

    reason = Reason.INVALID_DPOP_PROOF
    default_message = "invalid DPoP proof"


class DpopProofReplayed(InvalidDpopProof):
    """A DPoP proof whose ``jti`` was already used with the same key."""

    reason = Reason.DPOP_PROOF_REPLAYED
    default_message = "DPoP proof already used"


class DpopNonceRequired(InvalidDpopProof):
    """A DPoP proof without a nonce this server issued lately, where server nonces are
    required (RFC 9449 section 9): answered ``DPoP error="use_dpop_nonce"`` with a fresh
    nonce in ``DPoP-Nonce``."""

    reason = Reason.USE_DPOP_NONCE
    default_message = "DPoP nonce required"


# --- 503: the key source is down (retryable, not the caller's fault) --------------------


class KeysUnavailable(SecAuthError):
    """The key source could not be reached or returned garbage (HTTP 503, retryable)."""

    reason = Reason.KEYS_UNAVAILABLE
    status = 503
    retryable = True
    default_message = "authentication temporarily unavailable"


# --- 403: valid credentials, not allowed -----------------------------------------------


class AccessDenied(SecAuthError):
    """Valid credentials that may not do this (HTTP 403)."""

    reason = Reason.FORBIDDEN
    status = 403
    default_message = "forbidden"


class Forbidden(AccessDenied):
    reason = Reason.FORBIDDEN


class InsufficientScope(AccessDenied):
    reason = Reason.INSUFFICIENT_SCOPE
    default_message = "insufficient scope"


class TenantMismatch(AccessDenied):
    reason = Reason.TENANT_MISMATCH


class UnknownPlan(AccessDenied):
    """The caller has no plan, or one the rate-limit plan table does not list
    (:class:`~secauth.ratelimit.plans.PlanLimiter`); ``detail`` says which."""

    reason = Reason.UNKNOWN_PLAN
    default_message = "no usage plan for this caller"


# --- 429 ------------------------------------------------------------------------------


#: The longest ``Retry-After`` secauth answers: a day.
MAX_RETRY_SECONDS = 86_400


class RateLimited(SecAuthError):
    """Too many requests (HTTP 429); ``retry_after`` says when to come back, in seconds, and
    ``headers`` are the rate-limit headers its response carries (a limiter's own).

    >>> RateLimited(retry_after=30, headers={"RateLimit": '"api";r=0;t=30'}).headers
    {'RateLimit': '"api";r=0;t=30'}
    """

    reason = Reason.RATE_LIMITED
    status = 429
    retryable = True
    default_message = "too many requests"

    def __init__(
        self,
        public_message: str | None = None,
        *,
        retry_after: float = 0.0,
        detail: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(public_message, detail=detail)
        self.retry_after = retry_after
        self.headers: dict[str, str] = dict(headers or {})

    @property
    def retry_seconds(self) -> int:
        """``retry_after`` as a ``Retry-After`` value: whole seconds, rounded up, at least 1
        and at most a day (a value that is not a finite number counts as a day).

        >>> RateLimited(retry_after=60.00001).retry_seconds, RateLimited().retry_seconds
        (61, 1)
        """
        value, seconds = self.retry_after, None
        if not isinstance(value, str | bytes | bool):
            with contextlib.suppress(TypeError, ValueError, OverflowError):
                seconds = float(value)  # any number: a Decimal from a store, numpy's floats
        if seconds is None or not math.isfinite(seconds) or seconds >= MAX_RETRY_SECONDS:
            return MAX_RETRY_SECONDS  # never a crash, never 0
        return max(1, math.ceil(seconds))


class AbuseBlocked(RateLimited):
    """Refused for a cooldown after abuse (too many failed logins, endpoint scanning); HTTP 429.

    A subclass of :class:`RateLimited`, so handlers of 429s catch it too; ``reason``
    tells the two apart in logs and metrics.
    """

    reason = Reason.ABUSE_BLOCKED


# --- request hygiene and internal failures (raised by Guard and the input helpers) --------


class RequestRejected(SecAuthError):
    """The request itself is unacceptable (4xx other than 401/403/429)."""

    reason = Reason.BAD_REQUEST
    status = 400
    default_message = "bad request"


class BadRequest(RequestRejected):
    reason = Reason.BAD_REQUEST
    status = 400


class InvalidFields(BadRequest):
    """A JSON body whose declared fields break their rules (HTTP 400, reason ``bad_request``).

    The one error whose problem response says what failed: its ``errors`` member lists
    ``{"field": ..., "rule": ...}`` for each :class:`FieldError` (see
    :func:`secauth.responses.error_response`). :func:`~secauth.hygiene.json_body` puts in
    it only declared field paths and rule names from :data:`RULES`, never a value from the
    body; raise it from your own checks on the same terms.

    >>> InvalidFields(errors=[FieldError("email", "pattern")]).public_errors()
    [{'field': 'email', 'rule': 'pattern'}]
    """

    def __init__(
        self,
        public_message: str | None = None,
        *,
        errors: Iterable[FieldError] = (),
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        found = tuple(errors)
        if not all(isinstance(e, FieldError) and e.rule in RULES for e in found):
            raise ConfigurationError(
                f"InvalidFields takes FieldError(field, rule) items with rules in {sorted(RULES)}"
            )
        self.field_errors = found
        logged = {"problem": "invalid fields", "errors": self.public_errors(), **(detail or {})}
        super().__init__(public_message, detail=logged)

    def public_errors(self) -> list[dict[str, str]]:
        """The ``errors`` member of the problem response: field paths and rule names only."""
        return [error.public() for error in self.field_errors]


class InvalidMethodArn(BadRequest, ValueError):
    """An authorizer event's ``methodArn``/``routeArn`` is not a well-formed execute-api
    ARN; the authorizer answers 401 (the request cannot be authorized as sent)."""

    default_message = "malformed method ARN"


class UnsupportedEvent(BadRequest, ValueError):
    """The Lambda event is not one of the kinds secauth reads."""

    default_message = "unsupported event"


class NotFound(RequestRejected):
    reason = Reason.NOT_FOUND
    status = 404
    default_message = "not found"


class MethodNotAllowed(RequestRejected):
    reason = Reason.METHOD_NOT_ALLOWED
    status = 405
    default_message = "method not allowed"


class PayloadTooLarge(RequestRejected):
    reason = Reason.PAYLOAD_TOO_LARGE
    status = 413
    default_message = "request body too large"


class UnsupportedMediaType(RequestRejected):
    reason = Reason.UNSUPPORTED_MEDIA_TYPE
    status = 415
    default_message = "unsupported content type"


class InternalError(SecAuthError):
    """Something failed inside the function; the client learns nothing more (HTTP 500)."""

    reason = Reason.INTERNAL_ERROR
    status = 500
    default_message = "internal error"
