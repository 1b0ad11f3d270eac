"""``DynamoDBStore``: one conditional ``UpdateItem`` per decision, TTL attribute for cleanup.

Algorithm: **fixed window**. DynamoDB update expressions have no ``max()`` and
condition expressions no arithmetic, so GCRA's ``max(tat, now) + T`` and the
sliding counter's weighted sum cannot be decided by one conditional write;
a fixed window can, exactly:

* the item of window ``k`` of key ``K`` is ``pk = "<prefix>#rl#<K>#<k>"``, where
  ``k = floor(now / period)`` on the container's clock (Lambda clocks are NTP
  synchronized; a container whose clock is off by ``d`` counts in the
  neighbouring window for ``d`` around each edge); for a calendar quota
  (``"10000/month"``) ``k`` numbers the UTC calendar period (see
  :mod:`~secauth.ratelimit.windows`);
* ``UpdateItem`` with ``ADD n :cost SET <ttl> = if_not_exists(<ttl>, :expiry)``
  and ``ConditionExpression: attribute_not_exists(n) OR (n >= 0 AND n <= :limit_minus_cost)``,
  ``ReturnValues=UPDATED_NEW``. Success admits and returns the new count (so
  ``remaining``); ``ConditionalCheckFailedException`` denies, and the reset is the
  window's end, known without reading anything. Denied requests write nothing.

Every item carries the TTL attribute (``expires_at``, epoch seconds: the window's
end plus a minute) so DynamoDB's TTL deletes old windows; enable TTL on that
attribute for the table. Items of past windows are never read again, so TTL's
lazy deletion never affects a decision. ``usage`` (the state without spending) is one
consistent ``GetItem`` of the current window's item.

Penalties: an event first reads the subject's block (one consistent ``GetItem``,
as ``blocked_for``): while blocked it is not counted, as on memory and Redis.
Counters live in per-window items (``ADD n :1``, or ``ADD s :member`` on a string
set whose size the condition caps at threshold + 1, so an item stays small);
crossing the threshold writes a block item with ``until`` (epoch ms) and the TTL
attribute: a third request, once per block. A counter left over the threshold by
a block that is over refuses the update (the condition fails); the event then sets
it back to itself (one more conditional ``UpdateItem``), so counting starts afresh.

Table: partition key ``pk`` (string), no sort key; on-demand capacity suits
bursty traffic. :meth:`DynamoDBStore.create_table` makes one (for tests and
local development; create production tables with your infrastructure code).

The client is built with short timeouts and **one attempt** (no retries: a
retried conditional ``ADD`` after a read timeout could count a request twice).
``boto3`` is imported when a store is constructed; ``pip install 'secauth[dynamodb]'``.

Async: :class:`AsyncDynamoDBStore` runs the same calls in a worker thread
(``asyncio.to_thread``). boto3 clients are thread-safe, the call is one short
request, and ``aioboto3``/``aiobotocore`` would add a second HTTP stack and pin
botocore versions for no gain in a Lambda that serves one request at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from secauth._aws import check_timeouts, short_timeout_client
from secauth.errors import ConfigurationError
from secauth.ratelimit.limit import Limit
from secauth.ratelimit.result import RateLimitResult
from secauth.ratelimit.store import StoreError

__all__ = ["ITEM_ATTRIBUTES", "AsyncDynamoDBStore", "DynamoDBStore"]

_GRACE_S: Final = 60
_CONDITION_FAILED: Final = "ConditionalCheckFailedException"


def _import_boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise ConfigurationError(
            "DynamoDBStore needs the 'boto3' package: pip install 'secauth[dynamodb]'"
        ) from None
    return boto3


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return code if isinstance(code, str) else None
    return None


#: The attributes of the store's items: the key, a window's count, a scan's set of
#: members and a block's end (epoch milliseconds).
ITEM_ATTRIBUTES = frozenset({"pk", "n", "s", "until"})


class DynamoDBStore:
    """Rate-limit (fixed window) and penalty state in a DynamoDB table.

    Parameters
    ----------
    table:
        The table name (partition key ``pk``, a string).
    client:
        An existing boto3 DynamoDB client; else one is built from ``region`` and
        ``endpoint_url`` with the timeouts below.
    prefix:
        Namespace of every item key (default ``"secauth"``).
    ttl_attribute:
        The table's TTL attribute (default ``"expires_at"``); not one of the item's own
        attributes (:data:`ITEM_ATTRIBUTES`).
    connect_timeout, read_timeout:
        Seconds (default 0.25 each).
    clock:
        Epoch seconds (default :func:`time.time`).
    """

    is_async = False
    shared = True
    algorithms = ("fixed_window",)

    def __init__(
        self,
        table: str,
        *,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        prefix: str = "secauth",
        ttl_attribute: str = "expires_at",
        connect_timeout: float = 0.25,
        read_timeout: float = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(table, str) or not 3 <= len(table) <= 255:
            raise ConfigurationError("DynamoDBStore table must be a table name (3-255 characters)")
        if not isinstance(prefix, str) or not prefix:
            raise ConfigurationError("DynamoDBStore prefix must be a non-empty string")
        if not isinstance(ttl_attribute, str) or not ttl_attribute:
            raise ConfigurationError("DynamoDBStore ttl_attribute must be an attribute name")
        if ttl_attribute in ITEM_ATTRIBUTES:
            # the TTL would overwrite a counter or a block's end (read as milliseconds: over)
            raise ConfigurationError(
                f"DynamoDBStore ttl_attribute must not be one of the store's own attributes "
                f"{sorted(ITEM_ATTRIBUTES)}"
            )
        check_timeouts("DynamoDBStore", connect_timeout=connect_timeout, read_timeout=read_timeout)
        _import_boto3()
        if client is None:
            client = short_timeout_client(
                "dynamodb",
                owner="DynamoDBStore",
                extra="dynamodb",
                region=region,
                endpoint_url=endpoint_url,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                attempts=1,
            )
        self.client = client
        self.table = table
        self.prefix = prefix
        self.ttl_attribute = ttl_attribute
        self.clock = clock

    def __repr__(self) -> str:
        return f"DynamoDBStore(table={self.table!r}, prefix={self.prefix!r})"

    # --- rate limits -----------------------------------------------------------------

    def hit(
        self, key: str, limit: Limit, algorithm: str, cost: int = 1, *, policy: str = "default"
    ) -> RateLimitResult:
        if algorithm != "fixed_window":
            raise ConfigurationError(
                f"DynamoDBStore decides with algorithm='fixed_window' only, not {algorithm!r}"
            )
        now = int(self.clock() * 1_000_000)
        window, end = limit.window_at(now)
        left = (end - now) / 1_000_000
        if cost > limit.count:
            return RateLimitResult(
                False, limit.count, 0, left, left, policy=policy, window=limit.period
            )
        try:
            reply = self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"{self.prefix}#rl#{key}#{window}"}},
                UpdateExpression="ADD #n :cost SET #ttl = if_not_exists(#ttl, :expiry)",
                # A negative count (written by hand or another program) is no credit: denied.
                ConditionExpression="attribute_not_exists(#n) OR (#n >= :zero AND #n <= :most)",
                ExpressionAttributeNames={"#n": "n", "#ttl": self.ttl_attribute},
                ExpressionAttributeValues={
                    ":zero": {"N": "0"},
                    ":cost": {"N": str(cost)},
                    ":expiry": {"N": str(-(-end // 1_000_000) + _GRACE_S)},
                    ":most": {"N": str(limit.count - cost)},
                },
                ReturnValues="UPDATED_NEW",
            )
        except Exception as exc:
            if _error_code(exc) == _CONDITION_FAILED:
                return RateLimitResult(
                    False, limit.count, 0, left, left, policy=policy, window=limit.period
                )
            raise StoreError(f"dynamodb: {_error_code(exc) or type(exc).__name__}") from exc
        used = _whole_count(reply["Attributes"]["n"]["N"])
        if used is None:  # no count of ours (written by hand): denied, as a full window
            return RateLimitResult(False, limit.count, 0, left, left, policy=policy, window=limit.period)
        return RateLimitResult(
            True,
            limit.count,
            min(limit.count, max(0, limit.count - used)),
            left,
            0.0,
            policy=policy,
            window=limit.period,
        )

    def usage(
        self, key: str, limit: Limit, algorithm: str, *, policy: str = "default"
    ) -> RateLimitResult:
        """The count of ``key``'s current window without spending: one consistent GetItem."""
        if algorithm != "fixed_window":
            raise ConfigurationError(
                f"DynamoDBStore decides with algorithm='fixed_window' only, not {algorithm!r}"
            )
        now = int(self.clock() * 1_000_000)
        window, end = limit.window_at(now)
        try:
            reply = self.client.get_item(
                TableName=self.table,
                Key={"pk": {"S": f"{self.prefix}#rl#{key}#{window}"}},
                ConsistentRead=True,
                ProjectionExpression="#n",
                ExpressionAttributeNames={"#n": "n"},
            )
        except Exception as exc:
            raise StoreError(f"dynamodb: {_error_code(exc) or type(exc).__name__}") from exc
        item = reply.get("Item") or {}
        used = _whole_count(item["n"].get("N", "-")) if "n" in item else 0
        if used is None:  # no count of ours (written by hand): a full window, as hit() denies it
            used = limit.count
        return RateLimitResult(
            used < limit.count,
            limit.count,
            max(0, limit.count - used),
            (end - now) / 1_000_000,
            0.0,
            policy=policy,
            window=limit.period,
        )

    # --- penalties -------------------------------------------------------------------

    def _block_key(self, subject: str) -> dict[str, Any]:
        return {"pk": {"S": f"{self.prefix}#pen#{subject}#b"}}

    def blocked_for(self, subject: str) -> float:
        try:
            reply = self.client.get_item(
                TableName=self.table,
                Key=self._block_key(subject),
                ConsistentRead=True,
                ProjectionExpression="#u",
                ExpressionAttributeNames={"#u": "until"},
            )
        except Exception as exc:
            raise StoreError(f"dynamodb: {_error_code(exc) or type(exc).__name__}") from exc
        item = reply.get("Item")
        if not item or "until" not in item:
            return 0.0
        until = _whole_count(item["until"].get("N", "-"))
        if until is None:  # a block item not of ours: blocked (fail closed), never a failure
            return 1.0
        left_ms = until - int(self.clock() * 1000)
        return max(0, left_ms) / 1000

    def _count(
        self, pk: str, expiry: int, threshold: Limit, member: str | None, *, restart: bool
    ) -> int | None:
        """One conditional UpdateItem of a penalty counter: the count (or number of distinct
        members) after this event, or None when the condition failed.

        ``restart=False`` adds the event to a counter at most at the threshold;
        ``restart=True`` sets a counter over the threshold back to this one event."""
        attribute = "n" if member is None else "s"
        size = "#c" if member is None else "size(#c)"
        if restart:
            update = "SET #c = :one, #ttl = if_not_exists(#ttl, :expiry)"
            condition = f"{size} > :most"
        else:
            update = "ADD #c :one SET #ttl = if_not_exists(#ttl, :expiry)"
            # A count of another type or below zero (no count of ours) fails the
            # condition: blocked, below.
            condition = (
                f"attribute_not_exists(#c) OR (attribute_type(#c, :type) AND {size} >= :zero "
                f"AND {size} <= :most)"
            )
        try:
            reply = self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": pk}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#c": attribute, "#ttl": self.ttl_attribute},
                ExpressionAttributeValues={
                    ":one": {"N": "1"} if member is None else {"SS": [member]},
                    ":expiry": {"N": str(expiry)},
                    ":most": {"N": str(threshold.count)},
                    **({} if restart else {
                        ":zero": {"N": "0"}, ":type": {"S": "N" if member is None else "SS"}
                    }),
                },
                ReturnValues="UPDATED_NEW",
            )
        except Exception as exc:
            if _error_code(exc) == _CONDITION_FAILED:
                return None
            raise StoreError(f"dynamodb: {_error_code(exc) or type(exc).__name__}") from exc
        value = reply["Attributes"][attribute]
        if member is not None:
            return len(value.get("SS", ()))
        counted = _whole_count(value["N"])
        return threshold.count + 1 if counted is None else counted  # no count of ours: blocked

    def _clear(self, pk: str, member: str | None) -> None:
        """Remove a penalty counter (its item and expiry stay), after its block is written.
        A failure is left alone: the counter then blocks again when the block ends."""
        with contextlib.suppress(Exception):
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": pk}},
                UpdateExpression="REMOVE #c",
                ExpressionAttributeNames={"#c": "n" if member is None else "s"},
            )

    def record(
        self,
        subject: str,
        kind: str,
        threshold: Limit,
        cooldown: float,
        member: str | None = None,
    ) -> float:
        now = int(self.clock() * 1_000_000)
        window = now // threshold.period_us
        end = (window + 1) * threshold.period_us
        pk = f"{self.prefix}#pen#{subject}#{kind}#{window}"
        expiry = -(-end // 1_000_000) + _GRACE_S
        # The block first, as memory and Redis do: a blocked subject's events are not
        # counted (a block may outlast its window), and the answer is the time left.
        left = self.blocked_for(subject)
        if left > 0:
            return left
        seen, clear = self._count(pk, expiry, threshold, member, restart=False), False
        if seen is None:
            # Over the threshold, and the block it wrote is over: count afresh from this
            # event, as memory and Redis do.
            seen = self._count(pk, expiry, threshold, member, restart=True)
            if seen is None:  # another event restarted the count first: add to it
                seen = self._count(pk, expiry, threshold, member, restart=False)
            if seen is None:  # over the threshold again, or no count of ours: block (fail
                # closed), then clear it, so that the count starts afresh when the block ends
                seen, clear = threshold.count + 1, True
        if seen <= threshold.count:
            return 0.0
        until_ms = now // 1000 + round(cooldown * 1000)
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    **self._block_key(subject),
                    "until": {"N": str(until_ms)},
                    self.ttl_attribute: {"N": str(-(-until_ms // 1000) + _GRACE_S)},
                },
            )
        except Exception as exc:
            raise StoreError(f"dynamodb: {_error_code(exc) or type(exc).__name__}") from exc
        if clear:
            self._clear(pk, member)
        return cooldown

    # --- set-up ----------------------------------------------------------------------

    def create_table(self) -> None:
        """Create the table (on-demand, key ``pk``) and enable TTL; for tests and development."""
        client = self.client
        try:
            client.create_table(
                TableName=self.table,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        except Exception as exc:
            if _error_code(exc) != "ResourceInUseException":
                raise
        client.get_waiter("table_exists").wait(
            TableName=self.table, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
        )
        try:
            client.update_time_to_live(
                TableName=self.table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": self.ttl_attribute},
            )
        except Exception as exc:
            # dynalite (the local test server) has no TTL API; real DynamoDB does
            if _error_code(exc) not in ("UnknownOperationException", "ValidationException"):
                raise


class AsyncDynamoDBStore:
    """:class:`DynamoDBStore` for ``await limiter.hit_async(...)``: same calls, in a thread.

    Takes the same parameters as :class:`DynamoDBStore` (or ``store=`` an existing one).
    """

    is_async = True
    shared = True
    algorithms = ("fixed_window",)

    def __init__(
        self, table: str | None = None, *, store: DynamoDBStore | None = None, **options: Any
    ) -> None:
        if (table is None) == (store is None):
            raise ConfigurationError("AsyncDynamoDBStore needs exactly one of table= or store=")
        self.store = store if store is not None else DynamoDBStore(table, **options)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"AsyncDynamoDBStore({self.store!r})"

    async def hit_async(
        self, key: str, limit: Limit, algorithm: str, cost: int = 1, *, policy: str = "default"
    ) -> RateLimitResult:
        return await asyncio.to_thread(self.store.hit, key, limit, algorithm, cost, policy=policy)

    async def usage_async(
        self, key: str, limit: Limit, algorithm: str, *, policy: str = "default"
    ) -> RateLimitResult:
        return await asyncio.to_thread(self.store.usage, key, limit, algorithm, policy=policy)

    async def blocked_for_async(self, subject: str) -> float:
        return await asyncio.to_thread(self.store.blocked_for, subject)

    async def record_async(
        self,
        subject: str,
        kind: str,
        threshold: Limit,
        cooldown: float,
        member: str | None = None,
    ) -> float:
        return await asyncio.to_thread(
            self.store.record, subject, kind, threshold, cooldown, member
        )


def _whole_count(text: str) -> int | None:
    """A stored count: a non-negative whole number, else None (a value no limiter wrote).

    >>> _whole_count("3"), _whole_count("-1"), _whole_count("0.5"), _whole_count("1E+2")
    (3, None, None, 100)
    """
    try:
        value = Decimal(text)
    except ArithmeticError:
        return None
    if not value.is_finite() or value < 0 or value != value.to_integral_value():
        return None
    return int(value)
