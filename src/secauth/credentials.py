"""Credentials besides JWTs, in one place: partner API keys (:mod:`secauth.api_keys`;
stores in :mod:`secauth.dynamodb_api_keys` and :mod:`secauth.secretsmanager_api_keys`)
and mutual-TLS client certificates (:mod:`secauth.client_certs`).

Example
-------
>>> keys = StaticApiKeys({hash_api_key("k" * 32): ApiKeyEntry("partner-a", roles=("partner",))})
>>> keys.lookup("k" * 32).principal().id
'partner-a'
"""

from __future__ import annotations

from secauth.api_keys import (
    MAX_API_KEY_LENGTH,
    MIN_API_KEY_LENGTH,
    ApiKeyEntry,
    ApiKeyStore,
    StaticApiKeys,
    api_key_of,
    entries,
    hash_api_key,
    read_api_key,
)
from secauth.client_certs import ClientCertEntry, ClientCertificates
from secauth.dynamodb_api_keys import DynamoDBApiKeys
from secauth.secretsmanager_api_keys import SecretsManagerApiKeys

__all__ = [
    "MAX_API_KEY_LENGTH",
    "MIN_API_KEY_LENGTH",
    "ApiKeyEntry",
    "ApiKeyStore",
    "ClientCertEntry",
    "ClientCertificates",
    "DynamoDBApiKeys",
    "SecretsManagerApiKeys",
    "StaticApiKeys",
    "api_key_of",
    "entries",
    "hash_api_key",
    "read_api_key",
]
