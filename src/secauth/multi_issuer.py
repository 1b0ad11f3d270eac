"""``MultiIssuerVerifier``: one verifier for several issuers, chosen by the token's ``iss``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from secauth import jose
from secauth.claim_policy import shown
from secauth.errors import (
    ConfigurationError,
    InvalidIssuer,
    MalformedToken,
    MissingToken,
    SecAuthError,
)
from secauth.token_verifier import revalidator

if TYPE_CHECKING:
    from secauth.claim_mapping import ClaimMapper
    from secauth.verifier import JwtVerifier

__all__ = ["MultiIssuerVerifier"]


class MultiIssuerVerifier:
    """Route each token to the verifier of its ``iss`` (exact match), then verify fully.

    The unverified ``iss`` only chooses which verifier runs; that verifier checks
    everything again, so a forged ``iss`` gains nothing.

    >>> from secauth.testing import KeyPair
    >>> a, b = KeyPair.generate("ES256", kid="a"), KeyPair.generate("ES256", kid="b")
    >>> from secauth import JwtVerifier
    >>> multi = JwtVerifier.multi(
    ...     JwtVerifier(issuer="https://a/", audience="api", jwks={"keys": [a.public_jwk]}),
    ...     JwtVerifier(issuer="https://b/", audience="api", jwks={"keys": [b.public_jwk]}))
    >>> multi.verify(b.sign({"iss": "https://b/", "aud": "api", "exp": 4e9}))["iss"]
    'https://b/'
    """

    def __init__(
        self,
        verifiers: Iterable[JwtVerifier | MultiIssuerVerifier],
        *,
        default_claims: ClaimMapper | None = None,
    ) -> None:
        from secauth.verifier import JwtVerifier  # that module imports this one

        found: dict[str, JwtVerifier] = {}
        members = list(verifiers)
        for member in members:
            # A multi-issuer member (a Cognito pool's issuers, say) adds each of its issuers.
            flat = (
                member.verifiers.values() if isinstance(member, MultiIssuerVerifier) else [member]
            )
            for verifier in flat:
                if not isinstance(verifier, JwtVerifier) or verifier.issuer is None:
                    raise ConfigurationError(
                        "each verifier of a multi-issuer verifier needs an issuer"
                    )
                if verifier.issuer in found:
                    raise ConfigurationError(f"issuer {verifier.issuer!r} given twice")
                found[verifier.issuer] = verifier
        if not found:
            raise ConfigurationError("a multi-issuer verifier needs at least one verifier")
        #: The member verifiers by issuer, read-only: what the memo was told it may trust
        #: stays what is verified (build another verifier to change them).
        self.verifiers: Mapping[str, JwtVerifier] = MappingProxyType(found)
        #: The claim mapping ``Authorizer`` and ``Guard`` use unless given ``claims=``.
        #: Default: the members' own, when every member has one and they agree (several
        #: Cognito pools, say); otherwise None (their default, ``ClaimMapper()``).
        self.default_claims = default_claims or _shared_default(members)
        # A member whose revalidate cannot vouch for its verify (a subclass adding a check)
        # makes the whole never vouch: memoized answers would skip that check.
        checks = [revalidator(verifier) for verifier in self.verifiers.values()]
        self._revalidators = tuple(c for c in checks if c is not None) if None not in checks else ()

    @property
    def issuers(self) -> tuple[str, ...]:
        """Every accepted ``iss``, in the order given."""
        return tuple(self.verifiers)

    @property
    def leeway(self) -> float:
        """The largest leeway of the members (what a ``Guard`` allows a context past its
        token's expiry)."""
        return max(verifier.leeway for verifier in self.verifiers.values())

    def _pick(self, token: object) -> JwtVerifier:
        try:
            if token is None or token == "":
                raise MissingToken()
            jws = jose.parse(token, max_size=jose.DEFAULT_MAX_TOKEN_SIZE * 4)
            iss = jose.parse_claims(jws.payload_segment).get("iss")
        except SecAuthError:
            raise
        except Exception as exc:
            raise MalformedToken(detail={"problem": f"unexpected {type(exc).__name__}"}) from None
        verifier = self.verifiers.get(iss) if type(iss) is str else None
        if verifier is None:
            raise InvalidIssuer(detail={"expected": sorted(self.verifiers), "actual": shown(iss)})
        return verifier

    def hydrate(self, *, strict: bool = False) -> bool:
        """Load every issuer's keys now (see :meth:`JwtVerifier.hydrate`); True when all
        are ready."""
        return all([v.hydrate(strict=strict) for v in self.verifiers.values()])  # noqa: C419 - hydrate each

    def verify(self, token: str) -> dict[str, Any]:
        return self._pick(token).verify(token)

    async def verify_async(self, token: str) -> dict[str, Any]:
        return await self._pick(token).verify_async(token)

    def revalidate(self, token: str) -> bool:
        """:meth:`JwtVerifier.revalidate` for whichever verifier cached ``token`` (each
        caches only tokens it verified itself); False when none did, and always when a
        member's ``revalidate`` cannot vouch for its ``verify``
        (:func:`~secauth.token_verifier.revalidator`).

        >>> from secauth import JwtVerifier
        >>> from secauth.testing import KeyPair
        >>> a = KeyPair.generate("ES256", kid="a")
        >>> multi = JwtVerifier.multi(
        ...     JwtVerifier(issuer="https://a/", audience="api", jwks={"keys": [a.public_jwk]}))
        >>> token = a.sign({"iss": "https://a/", "aud": "api", "exp": 4e9})
        >>> multi.revalidate(token), [multi.verify(token)["iss"] for _ in "12"], multi.revalidate(token)
        (False, ['https://a/', 'https://a/'], True)
        """
        return any(check(token) for check in self._revalidators)


def _shared_default(members: list[JwtVerifier | MultiIssuerVerifier]) -> ClaimMapper | None:
    """The default claim mapping of every member, when they all have one and it is the
    same (equal settings); else None."""
    defaults = [member.default_claims for member in members]
    first = defaults[0] if defaults else None
    if first is None or any(d is None or vars(d) != vars(first) for d in defaults):
        return None
    return first
