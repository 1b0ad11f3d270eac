"""A local Amazon Cognito user pool for tests: real issuer strings, keys on loopback.

:class:`LocalCognito` mints ID and access tokens shaped like a user pool's
(``token_use``, ``client_id`` or ``aud``, ``cognito:groups``, ``username``,
``origin_jti``...) whose ``iss`` is the pool's real Cognito issuer, in either
format and in any of its Regions. Each issuer's JWKS is served by its own
:class:`~secauth.testing.LocalIssuer` on ``127.0.0.1``; :attr:`LocalCognito.jwks_uris`
points a verifier at them (with ``allow_http=True``). Nothing here is meant for
production.

Example
-------
>>> from secauth import JwtVerifier
>>> with LocalCognito(default_groups=["admin"]) as pool:
...     verifier = JwtVerifier.cognito(user_pool_id=pool.user_pool_id, client_id=pool.client_id,
...                                    token_use="access", jwks_uris=pool.jwks_uris,
...                                    allow_http=True)
...     claims = verifier.verify(pool.access_token(username="alice"))
...     updated = verifier.verify(pool.access_token(issuer_format="updated"))
>>> claims["cognito:groups"], claims["token_use"], claims["username"]
(['admin'], 'access', 'alice')
>>> updated["iss"]
'https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_LocalPool1'
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from secauth.cognito import cognito_issuer
from secauth.testing import KeyPair, LocalIssuer

__all__ = ["LocalCognito"]

_FORMATS = ("original", "updated")


class LocalCognito:
    """A Cognito-shaped issuer: one loopback :class:`~secauth.testing.LocalIssuer` per
    issuer (both formats, in ``user_pool_id``'s Region and each of ``regions``).

    Parameters
    ----------
    user_pool_id:
        The pool id; its prefix is the home Region.
    client_id:
        The app client the tokens are minted for (override per token).
    regions:
        Further Regions (replicas) that mint tokens too.
    default_groups:
        ``cognito:groups`` of tokens minted without ``groups=`` (default: none).

    Attributes
    ----------
    servers:
        ``{issuer: LocalIssuer}``; each serves its own RS256 key (kid
        ``{region}-{format}-1``) at ``/jwks.json`` and counts ``fetches``.
    """

    def __init__(
        self,
        user_pool_id: str = "eu-west-1_LocalPool1",
        *,
        client_id: str = "localclient1",
        regions: Iterable[str] = (),
        default_groups: Sequence[str] = (),
    ) -> None:
        self.user_pool_id = user_pool_id
        self.region = user_pool_id.partition("_")[0]
        self.regions = (self.region, *regions)
        self.client_id = client_id
        self.default_groups = list(default_groups)
        self.servers: dict[str, LocalIssuer] = {}
        for region in self.regions:
            for form in _FORMATS:
                server = LocalIssuer(algs=())
                # A kid unique across the pool's issuers, so their keys fit in one JWKS.
                server.keys = [KeyPair.generate("RS256", kid=f"{region}-{form}-1")]
                self.servers[cognito_issuer(user_pool_id, region, form)] = server

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> LocalCognito:
        for server in self.servers.values():
            server.start()
        return self

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def __enter__(self) -> LocalCognito:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------------------------

    def issuer(self, region: str | None = None, issuer_format: str = "original") -> str:
        """The real Cognito ``iss`` for ``region`` (default: the pool's) and format."""
        return cognito_issuer(self.user_pool_id, region or self.region, issuer_format)

    @property
    def jwks_uris(self) -> dict[str, str]:
        """``{issuer: loopback JWKS URL}``, for ``JwtVerifier.cognito(jwks_uris=...)``."""
        return {issuer: server.jwks_uri for issuer, server in self.servers.items()}

    def jwks(self) -> dict[str, Any]:
        """Every issuer's public keys in one JWKS, for ``jwks=`` or a ``--jwks-file``."""
        return {"keys": [key for server in self.servers.values() for key in server.jwks()["keys"]]}

    # -- tokens ---------------------------------------------------------------------------

    def access_token(
        self,
        *,
        sub: str = "11111111-2222-3333-4444-555555555555",
        username: str | None = None,
        groups: Sequence[str] | None = None,
        scope: str = "aws.cognito.signin.user.admin",
        client_id: str | None = None,
        region: str | None = None,
        issuer_format: str = "original",
        **claims: Any,
    ) -> str:
        """An access token: ``client_id`` (no ``aud``), ``token_use: access``, ``scope``,
        ``username``. ``claims`` add to or override these (None drops one)."""
        body: dict[str, Any] = {
            "client_id": client_id or self.client_id,
            "token_use": "access",
            "scope": scope,
            "username": username or sub,
            **claims,
        }
        return self._mint(sub, groups, region, issuer_format, body)

    def id_token(
        self,
        *,
        sub: str = "11111111-2222-3333-4444-555555555555",
        username: str | None = None,
        groups: Sequence[str] | None = None,
        email: str = "user@example.com",
        client_id: str | None = None,
        region: str | None = None,
        issuer_format: str = "original",
        **claims: Any,
    ) -> str:
        """An ID token: ``aud`` is the client, ``token_use: id``, ``cognito:username``,
        ``email``. ``claims`` add to or override these (None drops one)."""
        body: dict[str, Any] = {
            "aud": client_id or self.client_id,
            "token_use": "id",
            "cognito:username": username or sub,
            "email": email,
            "email_verified": True,
            **claims,
        }
        return self._mint(sub, groups, region, issuer_format, body)

    def _mint(
        self,
        sub: str,
        groups: Sequence[str] | None,
        region: str | None,
        issuer_format: str,
        body: dict[str, Any],
    ) -> str:
        issuer = self.issuer(region, issuer_format)
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": sub,
            "cognito:groups": list(self.default_groups if groups is None else groups),
            "iss": issuer,
            "origin_jti": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
            "jti": str(uuid.uuid4()),
            "auth_time": now,
            **body,
        }
        if not claims["cognito:groups"]:
            del claims["cognito:groups"]  # Cognito leaves it out for a user in no group
        return self.servers[issuer].token(**claims)
