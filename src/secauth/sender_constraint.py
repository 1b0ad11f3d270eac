"""Sender-constrained access tokens: a token whose ``cnf`` claim binds it to a client
certificate (RFC 8705) or to a DPoP key (RFC 9449) is accepted only from that sender.

A stolen bearer token works from anywhere; a bound one only with the private key it is
bound to. :func:`check_binding` is the one place that decides, called after the token
verified, where the request is known: by :meth:`Authorizer.credentials
<secauth.authorizer.Authorizer.credentials>` and by :meth:`Guard.identify
<secauth.guard.Guard.identify>`. Both always call it (with :data:`DEFAULT` unless a
:class:`SenderConstraint` is given), so a bound token is never taken as a plain bearer
token:

* ``cnf: {"x5t#S256": ...}``: the request's mTLS client certificate (API Gateway's
  ``clientCert.clientCertPem``) must have that thumbprint, base64url(SHA-256(DER)).
  None: 401 ``missing_client_certificate``; another one: 401 ``certificate_mismatch``.
* ``cnf: {"jkt": ...}``: the request must say ``Authorization: DPoP <token>`` and carry a
  ``DPoP`` proof signed by that key (:class:`~secauth.dpop.DpopVerifier`). Sent as
  ``Bearer``, or with a proof of another key: 401 ``token_binding_mismatch``; a bad proof:
  401 ``invalid_dpop_proof`` (``dpop_proof_replayed`` for a ``jti`` seen before).
* any other ``cnf`` (not an object, another confirmation method): 401
  ``token_binding_mismatch``: a binding secauth cannot check is never ignored.
* ``SenderConstraint(require=...)`` refuses unbound tokens (401 ``token_binding_mismatch``).

Example
-------
>>> from secauth.events import Request
>>> from secauth.token_sources import read_token
>>> request = Request.from_event({"version": "2.0", "rawPath": "/x",
...     "headers": {"authorization": "Bearer eyJ.e30.sig"},
...     "requestContext": {"http": {"method": "GET", "path": "/x"}}})
>>> presented = read_token(request)
>>> check_binding({"sub": "ann"}, request, presented)  # not bound: nothing to check
>>> check_binding({"sub": "ann", "cnf": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}},
...               request, presented)
Traceback (most recent call last):
...
secauth.errors.MissingClientCertificate: client certificate required (missing_client_certificate)
>>> check_binding({"sub": "ann"}, request, presented, SenderConstraint(require="any"))
Traceback (most recent call last):
...
secauth.errors.SenderConstraintError: token not bound to this sender (token_binding_mismatch)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, NoReturn

from secauth._b64 import b64url_encode
from secauth.errors import (
    CertificateMismatch,
    ConfigurationError,
    InvalidDpopProof,
    MissingClientCertificate,
    SenderConstraintError,
)
from secauth.options import flag

if TYPE_CHECKING:
    from secauth.dpop import DpopVerifier
    from secauth.dpop_nonce import DpopNonces
    from secauth.events import Request
    from secauth.token_sources import PresentedToken

__all__ = [
    "DEFAULT",
    "DPOP_PROOF_FIELD",
    "REQUIREMENTS",
    "SenderConstraint",
    "certificate_thumbprint",
    "check_binding",
    "check_recorded_elsewhere",
    "check_sender_constraint",
    "proof_fingerprint",
]

#: What ``SenderConstraint(require=...)`` takes: None (bound tokens are checked, unbound
#: ones accepted), ``"any"`` (every token bound, either way), ``"mtls"`` or ``"dpop"``.
REQUIREMENTS: Final = (None, "any", "mtls", "dpop")
_CERT: Final = "x5t#S256"
_JKT: Final = "jkt"
_KNOWN: Final = frozenset({_CERT, _JKT})


class SenderConstraint:
    """How an :class:`~secauth.authorizer.Authorizer` or :class:`~secauth.guard.Guard`
    treats sender-constrained tokens (``sender_constraint=``).

    Parameters
    ----------
    require:
        One of :data:`REQUIREMENTS`: None accepts unbound tokens; ``"any"`` needs every
        token bound (to a certificate or a DPoP key); ``"mtls"`` or ``"dpop"`` that kind.
    mtls:
        Check certificate-bound tokens against the request's client certificate (the
        default). False refuses them (an authorizer whose cached answers cannot see the
        certificate).
    dpop:
        A :class:`~secauth.dpop.DpopVerifier` to accept ``Authorization: DPoP`` requests
        and DPoP-bound tokens; None (the default) refuses them.

    >>> SenderConstraint(require="dpop")
    Traceback (most recent call last):
    ...
    secauth.errors.ConfigurationError: SenderConstraint(require='dpop') needs dpop=DpopVerifier(...)
    """

    __slots__ = ("dpop", "mtls", "require")

    def __init__(
        self, *, require: str | None = None, mtls: bool = True, dpop: DpopVerifier | None = None
    ) -> None:
        if require not in REQUIREMENTS:
            raise ConfigurationError(
                f"SenderConstraint require must be one of {list(REQUIREMENTS)}"
            )
        mtls = flag("SenderConstraint mtls", mtls)
        if dpop is not None and not callable(getattr(dpop, "check", None)):
            raise ConfigurationError("SenderConstraint dpop must be a secauth.dpop.DpopVerifier")
        if require == "dpop" and dpop is None:
            raise ConfigurationError(
                "SenderConstraint(require='dpop') needs dpop=DpopVerifier(...)"
            )
        if require == "mtls" and not mtls:
            raise ConfigurationError("SenderConstraint(require='mtls') cannot go with mtls=False")
        if require == "any" and not mtls and dpop is None:
            raise ConfigurationError(
                "SenderConstraint(require='any') accepts no binding with mtls=False and no dpop"
            )
        self.require = require
        self.mtls = mtls
        self.dpop = dpop

    def __repr__(self) -> str:
        return f"SenderConstraint(require={self.require!r}, mtls={self.mtls}, dpop={self.dpop!r})"

    @property
    def dpop_algorithms(self) -> tuple[str, ...] | None:
        """The proof algorithms a ``DPoP`` challenge names (None: DPoP not accepted)."""
        return self.dpop.algorithms if self.dpop is not None else None

    @property
    def nonces(self) -> DpopNonces | None:
        """The server nonces DPoP proofs must carry (:mod:`secauth.dpop_nonce`), if any."""
        return self.dpop.nonces if self.dpop is not None else None


#: The policy used when none is given: bound tokens checked, unbound ones accepted, no DPoP.
DEFAULT: Final = SenderConstraint()


def check_sender_constraint(
    value: object, *, cache_ttl: int = 0, covered: bool = False, answers_client: bool = False
) -> SenderConstraint:
    """``value`` (a ``sender_constraint=`` option) checked; None is :data:`DEFAULT`.

    For an :class:`~secauth.authorizer.Authorizer` with ``cache_ttl > 0`` (API Gateway
    reuses an answer without calling it): no DPoP (a proof is single-use), and
    certificate-bound tokens only when asked for (``SenderConstraint(mtls=True)``) and the
    cache key ``covered`` the certificate. By default they are refused: ``covered`` alone
    may have been said for another request part (a tenant header). DPoP server nonces only for a caller that
    ``answers_client`` itself (a :class:`~secauth.guard.Guard`): a Lambda authorizer's
    401 cannot carry the ``DPoP-Nonce`` header the client needs.

    >>> check_sender_constraint(None) is DEFAULT
    True
    >>> check_sender_constraint(None, cache_ttl=300).mtls
    False
    """
    if value is None:
        return SenderConstraint(mtls=False) if cache_ttl else DEFAULT
    if not isinstance(value, SenderConstraint):
        raise ConfigurationError(
            "sender_constraint must be a secauth.sender_constraint.SenderConstraint"
        )
    if value.nonces is not None and not answers_client:
        raise ConfigurationError(
            "DPoP nonces (DpopVerifier(nonces=...)) need the in-function Guard: an API "
            "Gateway Lambda authorizer cannot send the DPoP-Nonce header with its 401. Give "
            "the Authorizer a DpopVerifier without nonces (or no DPoP), and check nonces in "
            "a Guard"
        )
    if value.dpop is not None and value.dpop.replay is None and not answers_client:
        raise ConfigurationError(
            "an Authorizer's DpopVerifier needs a replay store (replay=...): nothing in front "
            "of it has recorded the proof, so the same proof would be accepted again. "
            "replay=None is for a Guard behind a secauth Authorizer that records it"
        )
    if cache_ttl and value.dpop is not None:
        raise ConfigurationError(
            "DPoP proofs are single-use and name the request: with cache_ttl > 0 API Gateway "
            "would reuse an answer without checking them. Use cache_ttl=0"
        )
    if cache_ttl and value.mtls and not covered:
        raise ConfigurationError(
            "certificate-bound tokens with cache_ttl > 0: a cached answer is reused for "
            "another certificate. Use cache_ttl=0, SenderConstraint(mtls=False), or put the "
            "certificate in the identity sources and pass cache_key_covers_request=True"
        )
    return value


def check_guard_constraint(value: object, *, verifies: bool, trusts: bool) -> SenderConstraint:
    """A :class:`~secauth.guard.Guard`'s ``sender_constraint=`` checked: as
    :func:`check_sender_constraint`, and only with a verifier when it checks anything of
    the token (a Guard that only trusts the authorizer's context never sees the token:
    the Authorizer checks its binding), and a DPoP check without a replay store only
    behind a secauth Authorizer that records the proof (``trust_authorizer=True``)."""
    checked = check_sender_constraint(value, answers_client=True)
    if not verifies and (checked.dpop is not None or checked.require is not None):
        raise ConfigurationError(
            "a Guard without a verifier takes the caller from the authorizer's context and "
            "never sees the token: sender_constraint's dpop and require need "
            "Guard(verifier, trust_authorizer=True, ...). The Authorizer checks the binding"
        )
    if checked.dpop is not None and checked.dpop.replay is None and not trusts:
        raise ConfigurationError(
            "DpopVerifier(replay=None) is only for a Guard behind a secauth Authorizer that "
            "records the proof: pass trust_authorizer=True, or give it a replay store"
        )
    return checked


#: The context field where an Authorizer names the DPoP proof it checked and recorded
#: (:func:`proof_fingerprint`), for a Guard behind it without a replay store.
DPOP_PROOF_FIELD: Final = "secauth_dpop_proof"


def proof_fingerprint(request: Request) -> str | None:
    """base64url(SHA-256) of ``request``'s one ``DPoP`` header as sent; None without
    exactly one. An Authorizer writes it in its context (:data:`DPOP_PROOF_FIELD`) for the
    proof it recorded; a Guard without a replay store takes only that proof as recorded.

    >>> from secauth.events import EventKind, Request
    >>> proof_fingerprint(Request(EventKind.HTTP_V2, {"headers": {"dpop": "a.b.c"}}))
    'hF4wRIgJ4ryJWOsCW_x5UjXROwd6U9DDq70jhRcNybg'
    """
    values = request.header_values("dpop")
    if len(values) != 1:
        return None
    import hashlib  # the DPoP path only: hashlib costs cold-start time

    return b64url_encode(hashlib.sha256(values[0].encode("utf-8", "surrogatepass")).digest())


def check_recorded_elsewhere(
    policy: SenderConstraint, presented: PresentedToken, request: Request, recorded: object
) -> None:
    """Refuse a DPoP proof a Guard without a replay store cannot check for replay, unless
    ``recorded`` (the secauth authorizer context's :data:`DPOP_PROOF_FIELD`) names this
    request's proof: only an Authorizer that checked and recorded it writes that. An
    authorizer that admitted the request otherwise (an API key, another token source, a
    ``credentials`` override) names none."""
    dpop = policy.dpop
    if dpop is None or dpop.replay is not None or presented.scheme != "DPoP":
        return
    if type(recorded) is not str or recorded != proof_fingerprint(request):
        raise InvalidDpopProof(
            detail={"problem": "no replay store here, and no secauth authorizer recorded it"},
            dpop_algorithms=dpop.algorithms,
        )


def check_binding(
    claims: Mapping[str, Any],
    request: Request,
    presented: PresentedToken,
    policy: SenderConstraint = DEFAULT,
    *,
    record: bool = True,
) -> None:
    """Refuse the verified ``claims`` unless the request proves the token's binding.

    ``presented`` is the token as read (:func:`~secauth.token_sources.read_token`: its
    scheme says ``Bearer`` or ``DPoP``). Raises a
    :class:`~secauth.errors.SenderConstraintError` (401); the DPoP proof's ``jti`` is
    recorded last, once every other check passed (``record=False``: a second check of a
    proof this request's first check recorded).
    """
    cnf = claims.get("cnf")
    dpop_scheme = presented.scheme == "DPoP"
    if "cnf" not in claims:  # "cnf": null is a confirmation too, and one nobody can check
        if dpop_scheme:
            _refuse("DPoP scheme with a token not bound to a key", policy.dpop_algorithms)
        if policy.require is not None:
            # A DPoP-only resource answers with its own scheme (RFC 9449 section 7.1).
            algs = policy.dpop_algorithms if policy.require == "dpop" else None
            _refuse(f"unbound token; {policy.require} binding required", algs)
        return
    if type(cnf) is not dict or not cnf or not cnf.keys() <= _KNOWN:
        algs = policy.dpop_algorithms if dpop_scheme else None
        _refuse("a confirmation (cnf) secauth cannot check", algs)
    key_bound = _JKT in cnf  # {"jkt": null} too: it then fails the proof's key match
    if not key_bound and (dpop_scheme or policy.require == "dpop"):
        _refuse("token not bound to a DPoP key", policy.dpop_algorithms)
    if _CERT in cnf:
        if not policy.mtls:
            _refuse("certificate-bound tokens are not accepted here", None)
        _check_certificate(cnf[_CERT], request)
    elif policy.require == "mtls":
        _refuse("token not bound to a client certificate", None)
    if key_bound:
        if not dpop_scheme:
            _refuse("DPoP-bound token presented as Bearer", policy.dpop_algorithms or ())
        if policy.dpop is None:
            _refuse("DPoP is not accepted here", ())
        policy.dpop.check(request, presented.token, jkt=cnf[_JKT], record=record)


def _refuse(problem: str, dpop_algorithms: tuple[str, ...] | None) -> NoReturn:
    raise SenderConstraintError(detail={"problem": problem}, dpop_algorithms=dpop_algorithms)


def _check_certificate(bound: object, request: Request) -> None:
    """The request's client certificate must have thumbprint ``bound`` (RFC 8705 3.1)."""
    if type(bound) is not str or not bound:
        _refuse("cnf x5t#S256 is not a string", None)
    pem = request.client_cert.get("clientCertPem")
    if not isinstance(pem, str) or not pem:
        raise MissingClientCertificate(
            detail={"problem": "certificate-bound token, no certificate"}
        )
    try:
        presented = certificate_thumbprint(pem)
    except ValueError:
        raise MissingClientCertificate(
            detail={"problem": "client certificate unreadable"}
        ) from None
    if presented != bound:
        raise CertificateMismatch(detail={"problem": "token bound to another certificate"})


def certificate_thumbprint(pem: str | bytes) -> str:
    """base64url(SHA-256(DER)) of a PEM certificate: the ``x5t#S256`` confirmation of
    RFC 8705 section 3.1. Raises ValueError when ``pem`` is not one certificate.

    >>> certificate_thumbprint("not a certificate")
    Traceback (most recent call last):
    ...
    ValueError: not a PEM certificate
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    raw = pem.encode("ascii", "replace") if isinstance(pem, str) else bytes(pem)
    # One PEM block of any label: cryptography also loads "X509 CERTIFICATE" blocks, and
    # takes the first certificate of several.
    if raw.count(b"-----BEGIN ") != 1:
        raise ValueError("not a PEM certificate")
    try:
        certificate = x509.load_pem_x509_certificate(raw)
    except ValueError:
        raise ValueError("not a PEM certificate") from None
    # The fingerprint is the SHA-256 of the DER encoding (and spares the import of hashlib).
    return b64url_encode(certificate.fingerprint(hashes.SHA256()))
