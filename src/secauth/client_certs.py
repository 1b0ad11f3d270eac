"""Mutual-TLS client certificates: an allowlist by subject DN of the certificates API
Gateway has already verified against your truststore.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from secauth.cross_site import checked_origins
from secauth.errors import ConfigurationError, InvalidClaims, MissingToken
from secauth.principal import Principal

__all__ = ["ClientCertEntry", "ClientCertificates"]


class ClientCertEntry(NamedTuple):
    """An allowed client certificate: which issuer and serial it must have, and its principal."""

    principal_id: str
    issuer_dn: str | None = None
    serial_numbers: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    tenant: str | None = None


class ClientCertificates:
    """An allowlist of mTLS client certificates keyed by subject DN, as API Gateway reports it in
    ``requestContext.identity.clientCert`` (REST) or ``requestContext.authentication.clientCert``
    (HTTP). API Gateway has verified the chain against your truststore; this checks which of
    those certificates may call, and that the certificate is within its validity period.

    >>> certs = ClientCertificates({"CN=partner-a,O=A": ClientCertEntry("partner-a")})
    >>> cert = {"subjectDN": "CN=partner-a,O=A", "issuerDN": "CN=CA", "serialNumber": "01",
    ...         "validity": {"notBefore": "May 28 12:30:02 2019 GMT",
    ...                      "notAfter": "Aug  5 09:36:04 2031 GMT"}}
    >>> certs.principal(cert).id
    'partner-a'

    ``origins``: the other origins whose pages may send requests that change state with a
    browser's certificate (:func:`~secauth.cross_site.check_certificate_origin`); a client
    that is not a browser is not asked.

    >>> sorted(ClientCertificates({"CN=partner-a,O=A": ClientCertEntry("partner-a")},
    ...                           origins=["https://portal.example.com"]).origins)
    ['https://portal.example.com']
    """

    def __init__(
        self,
        allowed: Mapping[str, ClientCertEntry],
        *,
        origins: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not allowed:
            raise ConfigurationError("ClientCertificates needs at least one allowed subject DN")
        for subject, entry in allowed.items():
            _check_entry(subject, entry)
        self.origins = checked_origins("ClientCertificates origins", origins)
        self._allowed = dict(allowed)
        self._clock = clock

    def principal(self, cert: Mapping[str, Any]) -> Principal:
        """The principal for a presented certificate; raise a 401-class error otherwise."""
        if not cert:
            raise MissingToken(detail={"problem": "no client certificate"})
        subject = cert.get("subjectDN")
        entry = self._allowed.get(subject) if isinstance(subject, str) else None
        if entry is None:
            raise InvalidClaims(detail={"problem": "client certificate subject not allowed"})
        if entry.issuer_dn is not None and cert.get("issuerDN") != entry.issuer_dn:
            raise InvalidClaims(detail={"problem": "client certificate issuer not allowed"})
        serial = cert.get("serialNumber")
        if entry.serial_numbers and serial not in entry.serial_numbers:
            raise InvalidClaims(detail={"problem": "client certificate serial not allowed"})
        self._check_validity(cert.get("validity"))
        return Principal(
            entry.principal_id,
            tenant=entry.tenant,
            roles=entry.roles,
            scopes=entry.scopes,
            kind="client_cert",
        )

    def _check_validity(self, validity: object) -> None:
        if not isinstance(validity, Mapping):
            raise InvalidClaims(detail={"problem": "client certificate validity missing"})
        try:
            not_before = _cert_time(validity.get("notBefore"))
            not_after = _cert_time(validity.get("notAfter"))
        except ValueError:
            raise InvalidClaims(
                detail={"problem": "client certificate validity unreadable"}
            ) from None
        now = self._clock()
        if not not_before <= now <= not_after:
            raise InvalidClaims(detail={"problem": "client certificate outside its validity"})


def _check_entry(subject: object, entry: object) -> None:
    """Refuse an allowlist entry that would not compare as written: a serial list given as
    one string (``("0A:1B")``, a missing comma) would match any part of it."""
    if not isinstance(subject, str) or not subject:
        raise ConfigurationError("ClientCertificates keys are subject DNs (non-empty strings)")
    if not isinstance(entry, ClientCertEntry):
        raise ConfigurationError("ClientCertificates values must be ClientCertEntry objects")
    if not isinstance(entry.principal_id, str) or not entry.principal_id:
        raise ConfigurationError("ClientCertEntry principal_id must be a non-empty string")
    for name in ("issuer_dn", "tenant"):
        value = getattr(entry, name)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigurationError(f"ClientCertEntry {name} must be a non-empty string or None")
    for name in ("serial_numbers", "roles", "scopes"):
        values = getattr(entry, name)
        if not isinstance(values, tuple | list) or not all(
            isinstance(v, str) and v for v in values
        ):
            raise ConfigurationError(
                f"ClientCertEntry {name} must be a tuple of non-empty strings, such as "
                f"('0A:1B',): a single string is not one"
            )


def _cert_time(value: object) -> float:
    """Parse API Gateway's certificate time format, e.g. ``"May 28 12:30:02 2019 GMT"``."""
    import calendar

    if not isinstance(value, str) or not value.endswith(" GMT"):
        raise ValueError("bad certificate time")
    parsed = time.strptime(" ".join(value[:-4].split()), "%b %d %H:%M:%S %Y")
    return float(calendar.timegm(parsed))
