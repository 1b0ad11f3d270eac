"""The stable reason codes: :class:`Reason`, one per kind of failure.

Every :class:`~secauth.errors.SecAuthError` carries one as ``reason``; logs, metrics,
alarms and decision records use its value. A value never changes once shipped.
:mod:`secauth.errors` re-exports :class:`Reason` (import it from there or from
``secauth``).

>>> Reason.TOKEN_EXPIRED == "token_expired"
True
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Reason"]


class Reason(StrEnum):
    """Stable, machine-readable reason codes. Values never change once shipped."""

    MISSING_TOKEN = "missing_token"
    MALFORMED_TOKEN = "malformed_token"
    INVALID_SIGNATURE = "invalid_signature"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_NOT_YET_VALID = "token_not_yet_valid"
    INVALID_ISSUER = "invalid_issuer"
    INVALID_AUDIENCE = "invalid_audience"
    INVALID_CLAIMS = "invalid_claims"
    UNKNOWN_KEY = "unknown_key"
    MISSING_AUTHORIZER_CONTEXT = "missing_authorizer_context"
    AMBIGUOUS_CREDENTIALS = "ambiguous_credentials"
    TOKEN_REVOKED = "token_revoked"
    TOKEN_BINDING_MISMATCH = "token_binding_mismatch"
    CERTIFICATE_MISMATCH = "certificate_mismatch"
    MISSING_CLIENT_CERTIFICATE = "missing_client_certificate"
    INVALID_DPOP_PROOF = "invalid_dpop_proof"
    DPOP_PROOF_REPLAYED = "dpop_proof_replayed"
    USE_DPOP_NONCE = "use_dpop_nonce"
    KEYS_UNAVAILABLE = "keys_unavailable"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    FORBIDDEN = "forbidden"
    TENANT_MISMATCH = "tenant_mismatch"
    UNKNOWN_PLAN = "unknown_plan"
    RATE_LIMITED = "rate_limited"
    ABUSE_BLOCKED = "abuse_blocked"
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    INTERNAL_ERROR = "internal_error"
    CONFIGURATION_ERROR = "configuration_error"
