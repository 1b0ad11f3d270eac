"""The one schema of decision records (docs/operations.md), for the Authorizer and the
Guard alike. ``tests/conftest.py`` checks every record the test suite produces against it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from secauth._decisions import DECISIONS, FIELDS

_REASON = re.compile(r"[a-z][a-z_]*")
_STRINGS = ("principal", "issuer", "tenant", "kind", "event", "method", "path", "route", "request_id")


def problems(record: Mapping[str, Any]) -> list[str]:
    """What is wrong with ``record`` (empty when it follows the schema)."""
    out = [f"unknown field {name!r}" for name in record if name not in FIELDS]
    decision, status, reason = record.get("decision"), record.get("status"), record.get("reason")
    if decision not in DECISIONS:
        out.append(f"decision {decision!r} is not one of {DECISIONS}")
    if type(status) is not int or not 100 <= status <= 599:
        out.append(f"status {status!r} is not an HTTP status")
    elif decision == "unauthorized" and status != 401:
        out.append(f"an unauthorized record has status {status}")
    elif decision == "deny" and not (400 <= status < 500 and status != 401):
        out.append(f"a deny record has status {status}")
    elif decision == "error" and status < 500:
        out.append(f"an error record has status {status}")
    if decision in ("deny", "unauthorized", "error") and reason is None:
        out.append(f"a {decision} record has no reason")
    if reason is not None and (type(reason) is not str or not _REASON.fullmatch(reason)):
        out.append(f"reason {reason!r} is not a reason code")
    for name in _STRINGS:
        if name in record and type(record[name]) is not str:
            out.append(f"{name} is a {type(record[name]).__name__}, not a string")
    latency = record.get("latency_us")
    if latency is not None and (type(latency) is not int or latency < 0):
        out.append(f"latency_us {latency!r} is not a count of microseconds")
    if "detail" in record and not isinstance(record["detail"], Mapping):
        out.append("detail is not an object")
    return out
