"""boto3 clients with short timeouts, for the stores that talk to AWS on the request path.

boto3 is imported here, when a store without a client of its own is built; never
by ``import secauth``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from secauth.errors import ConfigurationError

__all__ = [
    "check_timeouts",
    "create_pk_table",
    "dynamodb_table_client",
    "error_code",
    "short_timeout_client",
]


def check_timeouts(owner: str, **timeouts: object) -> None:
    """Refuse timeouts that are not seconds in (0, 10], naming ``owner`` and the option.

    >>> check_timeouts("MyStore", connect_timeout=0.5)
    >>> check_timeouts("MyStore", read_timeout=0)
    Traceback (most recent call last):
    ...
    secauth.errors.ConfigurationError: MyStore read_timeout must be seconds in (0, 10], not 0
    """
    for name, value in timeouts.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 10:
            raise ConfigurationError(f"{owner} {name} must be seconds in (0, 10], not {value!r}")


def short_timeout_client(
    service: str,
    *,
    owner: str,
    extra: str,
    region: str | None,
    endpoint_url: str | None,
    connect_timeout: float,
    read_timeout: float,
    attempts: int,
) -> Any:
    """A boto3 client for ``service`` that gives up quickly (``attempts`` tries in all).

    ``owner`` and ``extra`` name the store and the pip extra in the error raised when
    boto3 is missing.
    """
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ConfigurationError(
            f"{owner} needs the 'boto3' package: pip install 'secauth[{extra}]'"
        ) from None
    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": attempts, "mode": "standard"},
    )
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url, config=config)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore error (``"ThrottlingException"``), else the
    exception's class name: safe to log (no message, no request data).

    >>> error_code(TimeoutError("read timed out"))
    'TimeoutError'
    """
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return code
    return type(exc).__name__


def dynamodb_table_client(
    owner: str,
    table: object,
    client: Any,
    *,
    region: str | None,
    endpoint_url: str | None,
    connect_timeout: float,
    read_timeout: float,
    attempts: int,
) -> Any:
    """The DynamoDB client of a store named ``owner`` on ``table``: the given ``client``,
    else one that gives up quickly; the table name and timeouts checked first.

    >>> dynamodb_table_client("MyStore", "", object(), region=None, endpoint_url=None,
    ...                       connect_timeout=0.5, read_timeout=0.5, attempts=1)
    Traceback (most recent call last):
    ...
    secauth.errors.ConfigurationError: MyStore needs a table name
    """
    if not isinstance(table, str) or not table:
        raise ConfigurationError(f"{owner} needs a table name")
    check_timeouts(owner, connect_timeout=connect_timeout, read_timeout=read_timeout)
    if client is not None:
        return client
    return short_timeout_client(
        "dynamodb",
        owner=owner,
        extra="dynamodb",
        region=region,
        endpoint_url=endpoint_url,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        attempts=attempts,
    )


def create_pk_table(client: Any, table: str) -> None:
    """Create a table keyed by the string ``pk`` (on-demand capacity) and wait until it
    is active: for tests and local development."""
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table)
