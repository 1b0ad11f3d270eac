"""``create_api_key_table``: a DynamoDB table for ``DynamoDBApiKeys`` on the test's dynalite."""

from __future__ import annotations

import uuid
from typing import Any


def create_api_key_table(client: Any, attribute: str = "key_hash") -> str:
    """Create a table keyed by ``attribute`` (a string hash key) under a unique name, wait
    until it exists, and return its name."""
    name = f"secauth-keys-{uuid.uuid4().hex[:12]}"
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": attribute, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": attribute, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.05})
    return name
