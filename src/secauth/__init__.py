"""secauth: secure HTTP endpoints on AWS Lambda.

The public names are re-exported here and imported lazily, so ``import secauth``
costs almost nothing on a cold start; ``cryptography`` loads with the first
verifier, ``httpx`` only with the first async fetch.

Example
-------
>>> import secauth
>>> secauth.Reason.TOKEN_EXPIRED.value
'token_expired'
"""

from __future__ import annotations

# Not ``typing.TYPE_CHECKING``: importing typing alone costs ~8 ms of cold start.
TYPE_CHECKING = False

__version__ = "0.1.0.dev0"

_EXPORTS = {
    "JwtVerifier": "secauth.verifier",
    "MultiIssuerVerifier": "secauth.multi_issuer",
    "CognitoVerifier": "secauth.cognito",
    "AlbVerifier": "secauth.alb",
    "TokenVerifier": "secauth.token_verifier",
    "TokenSource": "secauth.token_sources",
    "Revocations": "secauth.revocation",
    "ProtectedResource": "secauth.protected_resource",
    "JwksCache": "secauth.jwks",
    "KeySet": "secauth.key_sets",
    "KeySource": "secauth.key_sets",
    "StaticKeys": "secauth.key_sets",
    "VerificationKey": "secauth.jose",
    "Reason": "secauth.errors",
    "SecAuthError": "secauth.errors",
    "ConfigurationError": "secauth.errors",
    "TokenError": "secauth.errors",
    "KeysUnavailable": "secauth.errors",
    "AccessDenied": "secauth.errors",
    "RateLimited": "secauth.errors",
    "AbuseBlocked": "secauth.errors",
    "RateLimiter": "secauth.ratelimit.limiter",
    "Routes": "secauth.access",
    "Rule": "secauth.access",
    "Denial": "secauth.access",
    "AccessContext": "secauth.access",
    "roles": "secauth.access",
    "scopes": "secauth.access",
    "tenant": "secauth.access",
    "authenticated": "secauth.access",
    "public": "secauth.access",
    "rule": "secauth.access",
    "source_ip": "secauth.access",
    "caller_arn": "secauth.access",
    "client_cert": "secauth.access",
    "Principal": "secauth.principal",
    "ClaimMapper": "secauth.claim_mapping",
    "RoleHierarchy": "secauth.principal",
    "ApiKeyEntry": "secauth.api_keys",
    "StaticApiKeys": "secauth.api_keys",
    "DynamoDBApiKeys": "secauth.dynamodb_api_keys",
    "SecretsManagerApiKeys": "secauth.secretsmanager_api_keys",
    "ClientCertEntry": "secauth.client_certs",
    "ClientCertificates": "secauth.client_certs",
    "hash_api_key": "secauth.api_keys",
    "Request": "secauth.events",
    "EventKind": "secauth.events",
    "PolicyBuilder": "secauth.policy",
    "MethodArn": "secauth.policy",
    "PolicyDocument": "secauth.policy",
    "Statement": "secauth.policy",
    "Authorizer": "secauth.authorizer",
    "Guard": "secauth.guard",
    "current_principal": "secauth.guard",
    "Cors": "secauth.responses",
    "SecurityHeaders": "secauth.responses",
    "json_body": "secauth.hygiene",
}

__all__ = [
    "AbuseBlocked",
    "AccessContext",
    "AccessDenied",
    "AlbVerifier",
    "ApiKeyEntry",
    "Authorizer",
    "ClaimMapper",
    "ClientCertEntry",
    "ClientCertificates",
    "CognitoVerifier",
    "ConfigurationError",
    "Cors",
    "Denial",
    "DynamoDBApiKeys",
    "EventKind",
    "Guard",
    "JwksCache",
    "JwtVerifier",
    "KeySet",
    "KeySource",
    "KeysUnavailable",
    "MethodArn",
    "MultiIssuerVerifier",
    "PolicyBuilder",
    "PolicyDocument",
    "Principal",
    "ProtectedResource",
    "RateLimited",
    "RateLimiter",
    "Reason",
    "Request",
    "Revocations",
    "RoleHierarchy",
    "Routes",
    "Rule",
    "SecAuthError",
    "SecretsManagerApiKeys",
    "SecurityHeaders",
    "Statement",
    "StaticApiKeys",
    "StaticKeys",
    "TokenError",
    "TokenSource",
    "TokenVerifier",
    "VerificationKey",
    "__version__",
    "authenticated",
    "caller_arn",
    "client_cert",
    "current_principal",
    "hash_api_key",
    "json_body",
    "public",
    "roles",
    "rule",
    "scopes",
    "source_ip",
    "tenant",
]

if TYPE_CHECKING:
    from secauth.access import (
        AccessContext,
        Denial,
        Routes,
        Rule,
        authenticated,
        caller_arn,
        client_cert,
        public,
        roles,
        rule,
        scopes,
        source_ip,
        tenant,
    )
    from secauth.alb import AlbVerifier
    from secauth.api_keys import ApiKeyEntry, StaticApiKeys, hash_api_key
    from secauth.authorizer import Authorizer
    from secauth.claim_mapping import ClaimMapper
    from secauth.client_certs import ClientCertEntry, ClientCertificates
    from secauth.cognito import CognitoVerifier
    from secauth.dynamodb_api_keys import DynamoDBApiKeys
    from secauth.errors import (
        AbuseBlocked,
        AccessDenied,
        ConfigurationError,
        KeysUnavailable,
        RateLimited,
        Reason,
        SecAuthError,
        TokenError,
    )
    from secauth.events import EventKind, Request
    from secauth.guard import Guard, current_principal
    from secauth.hygiene import json_body
    from secauth.jose import VerificationKey
    from secauth.jwks import JwksCache
    from secauth.key_sets import KeySet, KeySource, StaticKeys
    from secauth.multi_issuer import MultiIssuerVerifier
    from secauth.policy import MethodArn, PolicyBuilder, PolicyDocument, Statement
    from secauth.principal import Principal, RoleHierarchy
    from secauth.protected_resource import ProtectedResource
    from secauth.ratelimit.limiter import RateLimiter
    from secauth.responses import Cors, SecurityHeaders
    from secauth.revocation import Revocations
    from secauth.secretsmanager_api_keys import SecretsManagerApiKeys
    from secauth.token_sources import TokenSource
    from secauth.token_verifier import TokenVerifier
    from secauth.verifier import JwtVerifier


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'secauth' has no attribute {name!r}")
    value = getattr(__import__(module, fromlist=[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
