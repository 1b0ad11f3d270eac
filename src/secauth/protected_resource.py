"""``ProtectedResource``: what an OAuth protected resource (an MCP server, say) tells clients
about itself, and the audience its tokens must carry.

* The metadata document of RFC 9728 (OAuth 2.0 Protected Resource Metadata): the
  resource identifier, the authorization servers that issue tokens for it, the scopes it
  knows, how it takes tokens. :class:`~secauth.guard.Guard` serves it
  (``Guard(protected_resource=...)``) at ``/.well-known/oauth-protected-resource`` and at
  the path-suffixed form RFC 9728 section 3.1 defines for a resource with a path
  (``https://mcp.example.com/mcp``: ``/.well-known/oauth-protected-resource/mcp``).
* The challenge parameters of RFC 9728 section 5.1 that the guard's 401 and 403 answers
  add to ``WWW-Authenticate``: ``resource_metadata="<url>"`` and, when known,
  ``scope="..."``.
* The audience rule of RFC 8707 (resource indicators): a token is for this resource only
  when its ``aud`` names the resource identifier exactly. :meth:`ProtectedResource.verifier`
  builds a :class:`~secauth.verifier.JwtVerifier` that checks it, and
  :meth:`ProtectedResource.check_verifier` (run by ``Guard``) refuses a verifier that
  would accept tokens meant for another resource.

The resource identifier is an absolute ``https`` URL in lowercase scheme and host, with no
fragment, query or user information (RFC 9728 section 1.2, the MCP authorization spec's
canonical server URI); ``http`` only for a loopback host, and only with
``allow_http=True`` (tests, local development).

Example
-------
>>> resource = ProtectedResource(
...     resource="https://mcp.example.com/mcp",
...     authorization_servers=["https://auth.example.com"],
...     scopes_supported=["tools.read", "tools.call"],
...     resource_name="Example MCP server",
... )
>>> resource.metadata_url
'https://mcp.example.com/.well-known/oauth-protected-resource/mcp'
>>> resource.metadata()["authorization_servers"]
['https://auth.example.com']
>>> resource.challenge["scope"]
'tools.read tools.call'
>>> ProtectedResource(resource="https://mcp.example.com/mcp#x",
...                   authorization_servers=["https://auth.example.com"])
Traceback (most recent call last):
...
secauth.errors.ConfigurationError: resource must have no fragment ('#...'): 'https://mcp.example.com/mcp#x'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from secauth._urls import canonical_authority
from secauth.claim_policy import ClaimPolicy
from secauth.errors import ConfigurationError
from secauth.options import flag, names

if TYPE_CHECKING:
    from secauth.verifier import JwtVerifier

__all__ = ["BEARER_METHODS", "WELL_KNOWN", "ProtectedResource"]

#: The well-known path of RFC 9728 section 3.
WELL_KNOWN = "/.well-known/oauth-protected-resource"
#: The values of ``bearer_methods_supported`` (RFC 9728 section 2, after RFC 6750).
BEARER_METHODS = frozenset({"header", "body", "query"})
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
# RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_MAX_AGE = 3600


class ProtectedResource:
    """An OAuth protected resource's metadata (RFC 9728), checked when built.

    Parameters
    ----------
    resource:
        The resource identifier: the URL clients use, ``"https://mcp.example.com/mcp"``.
        Tokens must carry it in ``aud`` (RFC 8707), compared exactly.
    authorization_servers:
        Issuer identifiers of the authorization servers that issue tokens for it (at
        least one; clients read their RFC 8414 / OpenID discovery documents).
    scopes_supported:
        The scopes this resource knows (``scopes_supported`` in the document).
    required_scopes:
        The scopes a client should ask for: the ``scope`` of the ``WWW-Authenticate``
        challenge on 401 and 403 answers. Default: ``scopes_supported``; ``()`` for none.
    bearer_methods_supported:
        How clients may send tokens: ``"header"`` (the default and the guard's default
        token source), ``"body"``, ``"query"``.
    dpop_bound_access_tokens_required, tls_client_certificate_bound_access_tokens:
        Published (as ``true``) only when set.
    resource_name, resource_documentation:
        A human-readable name, and a URL of documentation for developers.
    allow_http:
        Accept ``http`` URLs on loopback hosts (tests and local development only).
    """

    __slots__ = (
        "_body",
        "authorization_servers",
        "bearer_methods_supported",
        "challenge",
        "dpop_bound_access_tokens_required",
        "metadata_url",
        "required_scopes",
        "resource",
        "resource_documentation",
        "resource_name",
        "scopes_supported",
        "tls_client_certificate_bound_access_tokens",
    )

    def __init__(
        self,
        *,
        resource: str,
        authorization_servers: Sequence[str],
        scopes_supported: Sequence[str] = (),
        required_scopes: Sequence[str] | None = None,
        bearer_methods_supported: Sequence[str] = ("header",),
        dpop_bound_access_tokens_required: bool = False,
        tls_client_certificate_bound_access_tokens: bool = False,
        resource_name: str | None = None,
        resource_documentation: str | None = None,
        allow_http: bool = False,
    ) -> None:
        allow_http = flag("allow_http", allow_http)
        self.resource = _checked_url("resource", resource, allow_http, canonical=True)
        servers = names("authorization_servers", authorization_servers)
        if not servers:
            raise ConfigurationError(
                "authorization_servers needs at least one issuer, "
                "e.g. ['https://auth.example.com']: MCP clients find the server there"
            )
        self.authorization_servers = tuple(
            _checked_url("authorization_servers", s, allow_http) for s in servers
        )
        self.scopes_supported = _scopes("scopes_supported", scopes_supported)
        self.required_scopes = (
            self.scopes_supported
            if required_scopes is None
            else _scopes("required_scopes", required_scopes)
        )
        methods = names("bearer_methods_supported", bearer_methods_supported)
        unknown = sorted(set(methods) - BEARER_METHODS)
        if unknown:
            raise ConfigurationError(
                f"bearer_methods_supported: unknown {unknown}; use 'header', 'body' or 'query'"
            )
        self.bearer_methods_supported = methods
        self.dpop_bound_access_tokens_required = flag(
            "dpop_bound_access_tokens_required", dpop_bound_access_tokens_required
        )
        self.tls_client_certificate_bound_access_tokens = flag(
            "tls_client_certificate_bound_access_tokens", tls_client_certificate_bound_access_tokens
        )
        if resource_name is not None and (
            not isinstance(resource_name, str) or not resource_name.isprintable()
        ):
            raise ConfigurationError("resource_name must be one line of printable text")
        self.resource_name = resource_name
        self.resource_documentation = (
            None
            if resource_documentation is None
            else _checked_url("resource_documentation", resource_documentation, allow_http)
        )
        #: The document's URL (RFC 9728 section 3.1): the well-known path inserted
        #: between the host and the resource's path.
        self.metadata_url = _metadata_url(self.resource)
        #: The ``WWW-Authenticate`` parameters of the guard's 401 and 403 answers.
        self.challenge: dict[str, str] = {"resource_metadata": self.metadata_url}
        if self.required_scopes:
            self.challenge["scope"] = " ".join(self.required_scopes)
        self._body = json.dumps(self.metadata(), separators=(",", ":"))

    def __repr__(self) -> str:
        return f"ProtectedResource(resource={self.resource!r})"

    # -- the metadata document ---------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The RFC 9728 metadata document (members left out when empty or false)."""
        document: dict[str, Any] = {
            "resource": self.resource,
            "authorization_servers": list(self.authorization_servers),
        }
        if self.scopes_supported:
            document["scopes_supported"] = list(self.scopes_supported)
        document["bearer_methods_supported"] = list(self.bearer_methods_supported)
        if self.resource_name is not None:
            document["resource_name"] = self.resource_name
        if self.resource_documentation is not None:
            document["resource_documentation"] = self.resource_documentation
        if self.tls_client_certificate_bound_access_tokens:
            document["tls_client_certificate_bound_access_tokens"] = True
        if self.dpop_bound_access_tokens_required:
            document["dpop_bound_access_tokens_required"] = True
        return document

    @property
    def metadata_body(self) -> str:
        """:meth:`metadata` as compact JSON, encoded once."""
        return self._body

    @property
    def metadata_paths(self) -> tuple[str, ...]:
        """The request paths that serve the document: the path-suffixed form of RFC 9728
        section 3.1, and the plain well-known path (for clients that try the root)."""
        suffixed = urlsplit(self.metadata_url).path
        return (suffixed,) if suffixed == WELL_KNOWN else (suffixed, WELL_KNOWN)

    @staticmethod
    def metadata_headers() -> dict[str, str]:
        """Headers of the document's response: JSON, cacheable by anyone (it is public and
        the same for every caller), readable by browser clients of any origin."""
        return {
            "Content-Type": "application/json",
            "Cache-Control": f"public, max-age={_MAX_AGE}",
            "Access-Control-Allow-Origin": "*",
        }

    # -- the audience (RFC 8707) ----------------------------------------------------------

    def verifier(self, **options: Any) -> JwtVerifier:
        """A :class:`~secauth.verifier.JwtVerifier` whose ``audience`` is this resource:
        ``resource.verifier(issuer=..., jwks_uri=...)``.

        >>> from secauth.testing import KeyPair
        >>> pr = ProtectedResource(resource="https://mcp.example.com/mcp",
        ...                        authorization_servers=["https://auth.example.com"])
        >>> pr.verifier(issuer="https://auth.example.com",
        ...             jwks={"keys": [KeyPair.generate("ES256").public_jwk]}).audience
        frozenset({'https://mcp.example.com/mcp'})
        """
        if "audience" in options or "audience_claim" in options:
            raise ConfigurationError(
                "ProtectedResource.verifier sets the audience itself (the resource URI)"
            )
        from secauth.verifier import JwtVerifier

        return JwtVerifier(audience=self.resource, **options)

    def check_verifier(self, verifier: object) -> None:
        """Raise a :class:`~secauth.errors.ConfigurationError` unless every token
        ``verifier`` accepts must name this resource in ``aud`` (each of its issuers'
        verifiers, for a multi-issuer or combined verifier): its audience is this resource
        and nothing else. A verifier that skips the audience, checks another claim (Cognito
        access tokens: ``client_id``) or accepts other audiences too would accept tokens
        issued for other resources.

        >>> from secauth import JwtVerifier
        >>> from secauth.testing import KeyPair
        >>> pr = ProtectedResource(resource="https://mcp.example.com/mcp",
        ...                        authorization_servers=["https://auth.example.com"])
        >>> pr.check_verifier(JwtVerifier(issuer="https://auth.example.com", audience="api",
        ...     jwks={"keys": [KeyPair.generate("ES256").public_jwk]}))
        Traceback (most recent call last):
        ...
        secauth.errors.ConfigurationError: the verifier accepts the audiences ['api'], not ...
        """
        for claim, audience in _audiences(verifier):
            if claim != "aud":
                raise ConfigurationError(
                    f"the verifier checks the audience in {claim!r}, not 'aud': RFC 8707 "
                    f"tokens name the resource in 'aud'; use JwtVerifier(audience="
                    f"{self.resource!r})"
                )
            if audience != frozenset({self.resource}):
                shown = "no audience" if audience is None else f"the audiences {sorted(audience)}"
                raise ConfigurationError(
                    f"the verifier accepts {shown}, not the resource {self.resource!r} "
                    f"(RFC 8707): build it with audience={self.resource!r} "
                    "(ProtectedResource.verifier(...) does)"
                )


def _audiences(verifier: object) -> list[tuple[str, frozenset[str] | None]]:
    """The (claim, audiences) pairs that ``verifier``'s claim policies check."""
    members = getattr(verifier, "verifiers", None)  # multi-issuer, Cognito
    if isinstance(members, Mapping) and members:
        return [pair for member in members.values() for pair in _audiences(member)]
    parts = [getattr(verifier, name, None) for name in ("jwt", "introspection")]
    if any(part is not None for part in parts):  # CombinedVerifier
        return [pair for part in parts if part is not None for pair in _audiences(part)]
    policy = getattr(verifier, "claims", None)
    if isinstance(policy, ClaimPolicy):
        return [(policy.audience_claim, policy.audience)]
    raise ConfigurationError(
        f"cannot tell which audience a {type(verifier).__name__} accepts: use a JwtVerifier "
        "(or an introspection verifier) with audience=<the resource URI>"
    )


def _scopes(name: str, values: Sequence[str]) -> tuple[str, ...]:
    scopes = names(name, values)
    for scope in scopes:
        if not _SCOPE_TOKEN.fullmatch(scope):
            raise ConfigurationError(
                f"{name}: {scope!r} is not a scope (printable ASCII, no space, quote or backslash)"
            )
    return scopes


def _checked_url(name: str, url: str, allow_http: bool, *, canonical: bool = False) -> str:
    """``url`` if it is an absolute https URL in ASCII (a host in punycode, a path
    percent-encoded: the form clients compare) without fragment, query, user information
    or dot segments."""
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"{name} must be a URL such as 'https://mcp.example.com/mcp'")
    if not url.isascii():
        raise ConfigurationError(
            f"{name} must be ASCII: write the host in punycode and percent-encode the path: {url!r}"
        )
    if any(ch.isspace() or not ch.isprintable() or ch in '"<>\\^`{|}' for ch in url):
        raise ConfigurationError(f"{name} holds a character a URL cannot hold: {url!r}")
    if "#" in url:
        raise ConfigurationError(f"{name} must have no fragment ('#...'): {url!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ConfigurationError(f"{name} has an invalid host or port: {url!r}") from None
    if parts.query or url.endswith("?"):
        raise ConfigurationError(f"{name} must have no query ('?...'): {url!r}")
    if not parts.hostname or "@" in parts.netloc:
        raise ConfigurationError(f"{name} must be an absolute URL with a host: {url!r}")
    # The resource URI is compared with what clients derive (its audience, its metadata
    # URL); an authorization server's issuer is listed as the server states it (RFC 8414).
    if canonical and not canonical_authority(parts.scheme, parts.netloc.lower()):
        raise ConfigurationError(
            f"{name}: write the host and port as clients do (no percent-encoding, an IPv6 "
            f"address compressed, no default, empty or zero-padded port): {url!r}"
        )
    if any(unquote(segment) in (".", "..") for segment in parts.path.split("/")):
        raise ConfigurationError(
            f"{name} must have no '.' or '..' path segments (clients remove them): {url!r}"
        )
    scheme = url.split("://", 1)[0]
    if scheme != scheme.lower() or parts.netloc != parts.netloc.lower():
        raise ConfigurationError(f"{name}: write the scheme and host in lowercase: {url!r}")
    if scheme == "http" and allow_http and parts.hostname in _LOOPBACK:
        return url
    if scheme != "https":
        raise ConfigurationError(
            f"{name} must be an https URL: {url!r} (http only for a loopback host, "
            "with allow_http=True)"
        )
    return url


def _metadata_url(resource: str) -> str:
    """RFC 9728 section 3.1: the well-known path goes between the host and the path (a
    path of only ``/`` is dropped)."""
    parts = urlsplit(resource)
    path = "" if parts.path == "/" else parts.path
    return f"{parts.scheme}://{parts.netloc}{WELL_KNOWN}{path}"
