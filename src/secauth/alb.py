"""``AlbVerifier``: the user-claims token an Application Load Balancer with OIDC
authentication forwards in the ``x-amzn-oidc-data`` header.

The token is a JWS in AWS's own profile (Elastic Load Balancing guide, "Authenticate
users using an Application Load Balancer"), checked here as strictly as it allows:

* ``alg`` must be ``ES256``, and the key is the PEM public key the Region publishes
  under the header's ``kid`` (see :mod:`secauth.alb_keys`), never one the token brings;
* ``signer`` must be one of the configured ALB ARNs, checked before any key is fetched:
  every load balancer of a Region signs with the same regional keys, so ``signer`` is
  what binds the token to *your* load balancer;
* ``exp`` (required), ``iss`` and ``client`` are read from the protected header, where the
  ALB puts them; time claims the payload carries too (``exp``, ``nbf``, ``iat``) must hold;
* the ALB pads its base64url segments with ``=``. Correct padding is accepted in this
  profile only: each segment's padding is checked and removed, and the unpadded segments
  go through :mod:`secauth.jose`'s strict parser, which refuses padding everywhere else.
  The signature covers the segments as sent.

What :meth:`AlbVerifier.verify` returns is the payload: the user's claims from the IdP's
user info endpoint (``sub``, ``email``...), with ``iss`` set to the header's (the issuer
the ALB vouches for): a payload ``iss`` is the user info's, checked by nobody, and dropped.

Example
-------
>>> from secauth.testing_alb import LocalAlb
>>> with LocalAlb() as alb:
...     verifier = AlbVerifier(alb_arn=alb.arn, issuer=alb.issuer, client_id=alb.client_id,
...                            key_endpoint=alb.key_endpoint, allow_http=True)
...     verifier.verify(alb.token(sub="alice"))["sub"]
'alice'
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final, NamedTuple

from secauth import jose
from secauth._b64 import B64Error, b64url_decode
from secauth.alb_keys import ALB_KID, AlbKeys, key_endpoint
from secauth.claim_policy import ClaimPolicy
from secauth.errors import (
    ConfigurationError,
    InvalidClaims,
    InvalidSignature,
    MalformedToken,
    MissingToken,
    SecAuthError,
)

__all__ = ["AlbVerifier"]

_SEGMENT = r"[A-Za-z0-9_-]+={0,2}"
_ALB_TOKEN = re.compile(rf"({_SEGMENT})\.({_SEGMENT})\.({_SEGMENT})")


class _Parsed(NamedTuple):
    """An ALB token whose shape and header passed, its signature not yet checked."""

    header: dict[str, Any]
    kid: str
    signing_input: bytes
    signature: bytes
    payload_segment: str  # unpadded


class AlbVerifier:
    """Verify the ``x-amzn-oidc-data`` token of an ALB with OIDC (or Cognito)
    authentication; the same surface as :class:`~secauth.verifier.JwtVerifier`.

    Parameters
    ----------
    alb_arn:
        The ARN of your load balancer (or several, all in one Region); the token's
        ``signer`` must be one of them. The Region and partition pick the key endpoint.
    issuer:
        The exact ``iss`` the header must carry (your IdP's issuer), or ``None`` to skip
        the check (explicitly).
    client_id:
        The OIDC client id (one or several) the header's ``client`` must be, or ``None``
        to skip the check (explicitly).
    leeway:
        Seconds of clock skew tolerated for ``exp`` (and the payload's time claims).
    key_endpoint:
        Where the public keys are (default: the Region's endpoint, from ``alb_arn``).
    allow_http:
        Allow a plain-http ``key_endpoint`` on loopback, for tests only.
    key_options:
        Options of the key cache (:class:`~secauth.alb_keys.AlbKeys`): ``ttl``,
        ``max_age``, ``refetch_cooldown``, ``max_backoff``, ``timeout``...
    max_token_size:
        Longest accepted token in characters (default 16 KiB).
    clock:
        Seconds since the epoch; injectable for tests.

    Attributes
    ----------
    header:
        ``"x-amzn-oidc-data"``, the request header the token comes in.

    Example
    -------
    >>> v = AlbVerifier(alb_arn="arn:aws:elasticloadbalancing:eu-west-1:123456789012:"
    ...                 "loadbalancer/app/web/50dc6c495c0c9188",
    ...                 issuer="https://idp.example.com", client_id="my-client")
    >>> v.header, v.keys.endpoint
    ('x-amzn-oidc-data', 'https://public-keys.auth.elb.eu-west-1.amazonaws.com')
    """

    header: Final = "x-amzn-oidc-data"

    def __init__(
        self,
        *,
        alb_arn: str | Collection[str],
        issuer: str | None,
        client_id: str | Collection[str] | None,
        leeway: float = 0.0,
        key_endpoint: str | None = None,
        allow_http: bool = False,
        key_options: Mapping[str, Any] | None = None,
        max_token_size: int = jose.DEFAULT_MAX_TOKEN_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        arns = (alb_arn,) if isinstance(alb_arn, str) else tuple(alb_arn)
        if not arns:
            raise ConfigurationError("alb_arn must name at least one load balancer")
        endpoints = {_endpoint_of(arn) for arn in arns}
        if len(endpoints) != 1:
            raise ConfigurationError(
                "alb_arn names load balancers in several Regions; use one AlbVerifier per "
                "Region (each Region signs with its own keys)"
            )
        #: The load balancers whose tokens are accepted (the ``signer`` header).
        self.alb_arns = frozenset(arns)
        #: The checks of the header's ``exp``, ``iss`` and ``client``.
        self.claims = ClaimPolicy(
            issuer=issuer, audience=client_id, audience_claim="client", leeway=leeway
        )
        self._payload_times = ClaimPolicy(
            issuer=None, audience=None, leeway=leeway, require_exp=False
        )
        #: The key cache (:class:`~secauth.alb_keys.AlbKeys`).
        self.keys = AlbKeys(
            key_endpoint or endpoints.pop(), allow_http=allow_http, **dict(key_options or {})
        )
        if not (256 <= max_token_size <= 1024 * 1024):
            raise ConfigurationError("max_token_size must be between 256 bytes and 1 MiB")
        self.max_token_size = max_token_size
        self._clock = clock

    @property
    def issuer(self) -> str | None:
        """The exact ``iss`` required (None: not checked)."""
        return self.claims.issuer

    @property
    def leeway(self) -> float:
        """Seconds allowed past ``exp`` (and before ``nbf``)."""
        return self.claims.leeway

    # -- the verifier surface ---------------------------------------------------------------

    def hydrate(self, *, strict: bool = False) -> bool:
        """Nothing to load ahead: each token names its key, fetched on first use. True."""
        return True

    def verify(self, token: str) -> dict[str, Any]:
        """Verify an ``x-amzn-oidc-data`` token; return its payload (the user's claims).

        Raises a :class:`~secauth.errors.SecAuthError` with a stable ``reason``: 401-class
        for a bad token, :class:`~secauth.errors.KeysUnavailable` (503) when the key
        endpoint cannot be asked.
        """
        try:
            parsed = self._parse(token)
            return self._finish(parsed, self.keys.key_for(parsed.kid))
        except SecAuthError:
            raise
        except Exception as exc:  # fail closed: no foreign exception escapes
            raise MalformedToken(detail={"problem": f"unexpected {type(exc).__name__}"}) from None

    async def verify_async(self, token: str) -> dict[str, Any]:
        """:meth:`verify` with the key fetched without blocking the event loop."""
        try:
            parsed = self._parse(token)
            return self._finish(parsed, await self.keys.key_for_async(parsed.kid))
        except SecAuthError:
            raise
        except Exception as exc:  # fail closed: no foreign exception escapes
            raise MalformedToken(detail={"problem": f"unexpected {type(exc).__name__}"}) from None

    def revalidate(self, token: str) -> bool:
        """Always False ("not known here, call :meth:`verify`"): no verified-token cache."""
        return False

    # -- steps --------------------------------------------------------------------------------

    def _parse(self, token: object) -> _Parsed:
        if token is None or token == "":
            raise MissingToken()
        if type(token) is not str:
            raise MalformedToken(detail={"problem": "token is not a string"})
        if len(token) > self.max_token_size:
            raise MalformedToken(
                detail={"problem": "token too large", "limit": self.max_token_size}
            )
        match = _ALB_TOKEN.fullmatch(token)
        if match is None:
            raise MalformedToken(detail={"problem": "not a JWS of three base64url parts"})
        header_segment, payload_segment, signature_segment = map(_unpadded, match.groups())
        header = jose.parse_header(header_segment)  # the strict checks: crit, jwk, jku...
        if header.alg != "ES256":
            raise InvalidSignature(detail={"problem": "algorithm not allowed", "alg": header.alg})
        if header.kid is None or ALB_KID.fullmatch(header.kid) is None:
            raise MalformedToken(detail={"problem": "kid is not an ALB key id"})
        if header.header.get("signer") not in self.alb_arns:
            raise InvalidClaims(detail={"claim": "signer", "problem": "not a configured ALB"})
        try:
            signature = b64url_decode(signature_segment)
        except B64Error as exc:
            raise MalformedToken(detail={"problem": f"signature: {exc}"}) from None
        signing_input = token[: match.end(2)].encode("ascii")  # as sent, padding included
        return _Parsed(header.header, header.kid, signing_input, signature, payload_segment)

    def _finish(self, parsed: _Parsed, key: jose.VerificationKey) -> dict[str, Any]:
        if not key.verify("ES256", parsed.signing_input, parsed.signature):
            raise InvalidSignature(detail={"alg": "ES256", "kid": parsed.kid})
        now = self._clock()
        self.claims.check(parsed.header, now)
        claims = jose.parse_claims(parsed.payload_segment)
        self._payload_times.check_times(claims, now)
        # The payload is the IdP's user info, whose ``iss`` nobody checked: the issuer is
        # the one the ALB signed into the header (or none), never the payload's.
        claims.pop("iss", None)
        issuer = parsed.header.get("iss")
        if isinstance(issuer, str):
            claims["iss"] = issuer
        return claims


def _endpoint_of(arn: object) -> str:
    if not isinstance(arn, str):
        raise ConfigurationError("alb_arn must be an ARN string or a list of them")
    return key_endpoint(arn)


def _unpadded(segment: str) -> str:
    """``segment`` without its ``=`` padding, which must be exactly what base64 needs."""
    stripped = segment.rstrip("=")
    if stripped != segment and len(segment) % 4 != 0:
        raise MalformedToken(detail={"problem": "wrong base64 padding"})
    return stripped
