"""``CognitoVerifier``: an Amazon Cognito user pool's tokens, every issuer the pool uses.

A user pool signs tokens under one of two issuer formats (``DescribeUserPool`` →
``IssuerConfiguration.Type``)::

    original  https://cognito-idp.{region}.amazonaws.com/{user_pool_id}
    updated   https://issuer-cognito-idp.{region}.amazonaws.com/{user_pool_id}

and with multi-Region replication a token may name the Region that minted it. The
verifier accepts each issuer of the chosen formats in the pool's Region and in
``additional_regions``; each issuer has its own :class:`~secauth.verifier.JwtVerifier`
and its own key set, ``{issuer}/.well-known/jwks.json``, fetched lazily (or by
:meth:`~secauth.multi_issuer.MultiIssuerVerifier.hydrate`). Nothing else loosens: the
pool id, the client, ``token_use`` and every :class:`~secauth.verifier.JwtVerifier`
check stay exact. China Regions use ``amazonaws.com.cn``.

Example
-------
>>> v = CognitoVerifier(user_pool_id="eu-west-1_AbC123", client_id="app", token_use="access",
...                     additional_regions=["eu-central-1"])
>>> for issuer in v.issuers:
...     print(issuer)
https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123
https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123
https://cognito-idp.eu-central-1.amazonaws.com/eu-west-1_AbC123
https://issuer-cognito-idp.eu-central-1.amazonaws.com/eu-west-1_AbC123
>>> sorted(v.default_claims.group_claims)
['cognito:groups']
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Literal

from secauth.claim_mapping import ClaimMapper
from secauth.claim_policy import checked_audience
from secauth.errors import ConfigurationError
from secauth.issuers import POOL_ID_PATTERN, REGION_PATTERN
from secauth.jwks import KeySource
from secauth.multi_issuer import MultiIssuerVerifier
from secauth.verifier import JwtVerifier

__all__ = ["CognitoVerifier", "IssuerFormat", "cognito_issuer"]

IssuerFormat = Literal["both", "original", "updated"]
"""Which issuer formats a :class:`CognitoVerifier` accepts."""

_REGION = REGION_PATTERN
_POOL = re.compile(POOL_ID_PATTERN)
_REGION_ONLY = re.compile(_REGION)
_HOSTS = {"original": "cognito-idp", "updated": "issuer-cognito-idp"}
# The partitions whose Regions are not under amazonaws.com.
_DOMAINS = {"aws-cn": "amazonaws.com.cn", "aws-eusc": "amazonaws.eu"}


def cognito_issuer(user_pool_id: str, region: str, issuer_format: str = "original") -> str:
    """The ``iss`` of ``user_pool_id``'s tokens minted in ``region`` under one format.

    >>> cognito_issuer("cn-north-1_Xyz9", "cn-north-1", "updated")
    'https://issuer-cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_Xyz9'
    """
    domain = _DOMAINS.get(_partition(region), "amazonaws.com")
    return f"https://{_HOSTS[issuer_format]}.{region}.{domain}/{user_pool_id}"


class CognitoVerifier(MultiIssuerVerifier):
    """Verify a Cognito user pool's ID or access tokens (see the module docstring).

    Usually made by :meth:`JwtVerifier.cognito <secauth.verifier.JwtVerifier.cognito>`,
    which takes the same arguments.

    Parameters
    ----------
    user_pool_id:
        The pool id, e.g. ``"us-east-1_AbC123"``; its prefix is the pool's Region.
    client_id:
        The app client id (or several). ID tokens carry it in ``aud``, access tokens in
        ``client_id``. ``None`` skips the client check, explicitly.
    token_use:
        ``"id"`` or ``"access"``: the ``token_use`` claim must equal it.
    issuer_format:
        ``"both"`` (default), ``"original"`` (``cognito-idp.``) or ``"updated"``
        (``issuer-cognito-idp.``).
    additional_regions:
        Replica Regions whose issuers are accepted too (same partition as the pool).
    jwks:
        One JWKS dict or key source for every issuer (keys bundled with the function, or
        tests) instead of fetching each issuer's JWKS. Not with ``additional_regions``:
        each Region signs with its own keys.
    jwks_uris:
        ``{issuer: url}``: fetch that issuer's keys from ``url`` instead (e.g. a loopback
        server in tests, with ``allow_http=True``). Entries for issuers not accepted are
        not used; naming none of :attr:`issuers` is an error (a typo, most likely).
    options:
        Anything else :class:`~secauth.verifier.JwtVerifier` takes (``leeway``,
        ``expected_claims``, ``cache_size``, ``clock``...), applied to every issuer.

    Attributes
    ----------
    default_claims:
        ``ClaimMapper.cognito()``: what ``Authorizer`` and ``Guard`` map claims with
        unless given ``claims=`` (``cognito:groups`` become groups and roles).
    """

    def __init__(
        self,
        *,
        user_pool_id: str,
        client_id: str | Collection[str] | None,
        token_use: Literal["id", "access"],
        issuer_format: IssuerFormat = "both",
        additional_regions: Iterable[str] = (),
        jwks: Mapping[str, Any] | KeySource | None = None,
        jwks_uris: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        # Long, on purpose: every option is checked here, against the others, before one
        # verifier per issuer (Region and issuer format) is built from them.
        match = _POOL.fullmatch(user_pool_id) if isinstance(user_pool_id, str) else None
        if match is None:
            raise ConfigurationError(
                f"user_pool_id {user_pool_id!r} is not a Cognito user pool id like 'us-east-1_AbC123'"
            )
        if token_use not in ("id", "access"):
            raise ConfigurationError("token_use must be 'id' or 'access'")
        checked_audience(client_id, name="client_id")
        if issuer_format not in ("both", "original", "updated"):
            raise ConfigurationError("issuer_format must be 'both', 'original' or 'updated'")
        if "jwks_uri" in options:
            raise ConfigurationError(
                "a Cognito verifier has one JWKS URL per issuer: pass jwks_uris={issuer: url}"
            )
        preset = sorted({"issuer", "audience", "audience_claim"} & set(options))
        if preset:
            raise ConfigurationError(
                f"a Cognito verifier sets {preset[0]} itself, from user_pool_id, client_id "
                "and token_use: leave it out"
            )
        expected = dict(options.pop("expected_claims", None) or {})
        if "token_use" in expected:
            raise ConfigurationError(
                "set token_use with the token_use argument, not in expected_claims"
            )
        self.user_pool_id = user_pool_id
        self.region = user_pool_id.partition("_")[0]
        self.regions = (self.region, *_replica_regions(self.region, additional_regions))
        self.token_use = token_use
        self.issuer_format = issuer_format
        formats = ("original", "updated") if issuer_format == "both" else (issuer_format,)
        issuers = [cognito_issuer(user_pool_id, r, f) for r in self.regions for f in formats]
        urls = dict(jwks_uris or {})
        if urls and not set(urls) & set(issuers):
            raise ConfigurationError(f"jwks_uris names none of this verifier's issuers: {issuers}")
        if urls and jwks is not None:
            raise ConfigurationError("pass jwks (one key source) or jwks_uris, not both")
        if jwks is not None and len(self.regions) > 1:
            # Each Region signs with keys of its own: one key set for all would let a
            # replica's key verify a token naming the pool's Region, and the other way.
            raise ConfigurationError(
                "jwks is one key set for every issuer: with additional_regions, each "
                "Region's issuers need their own keys; pass jwks_uris={issuer: url} or none"
            )
        verifiers = []
        for issuer in issuers:
            keys: dict[str, Any] = (
                {"jwks": jwks}
                if jwks is not None
                else {"jwks_uri": urls.get(issuer, f"{issuer}/.well-known/jwks.json")}
            )
            verifiers.append(
                JwtVerifier(
                    issuer=issuer,
                    audience=client_id,
                    audience_claim="aud" if token_use == "id" else "client_id",
                    expected_claims={"token_use": token_use, **expected},
                    **keys,
                    **options,
                )
            )
        super().__init__(verifiers, default_claims=ClaimMapper.cognito())

    @property
    def issuer(self) -> str:
        """The pool's own Region's issuer in the first accepted format (``original``
        unless only ``updated`` is accepted); :attr:`issuers` lists every one."""
        return next(iter(self.verifiers))

    @property
    def keys(self) -> KeySource:
        """The key source of :attr:`issuer` (each issuer has its own:
        ``verifiers[issuer].keys``)."""
        return self.verifiers[self.issuer].keys

    @property
    def audience(self) -> frozenset[str] | None:
        """The accepted app client ids (None: not checked)."""
        return self.verifiers[self.issuer].audience


def _replica_regions(home: str, regions: Iterable[str]) -> list[str]:
    if isinstance(regions, str):
        raise ConfigurationError("additional_regions is a list of Regions, e.g. ['eu-central-1']")
    replicas: list[str] = []
    for region in regions:
        if not isinstance(region, str) or _REGION_ONLY.fullmatch(region) is None:
            raise ConfigurationError(f"{region!r} is not an AWS Region like 'eu-central-1'")
        if region == home or region in replicas:
            raise ConfigurationError(f"Region {region!r} given twice (the pool's is {home!r})")
        if _partition(region) != _partition(home):
            raise ConfigurationError(
                f"Region {region!r} is in another partition than the pool's Region {home!r}"
            )
        replicas.append(region)
    return replicas


def _partition(region: str) -> str:
    """The AWS partition of ``region``: aws, aws-cn, aws-us-gov or an isolated one."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("eusc-"):
        return "aws-eusc"  # the AWS European Sovereign Cloud
    if "-gov-" in region:
        return "aws-us-gov"
    if "-iso" in region:
        return region.split("-")[1]  # iso, isob...
    return "aws"
