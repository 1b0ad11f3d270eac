"""Structured decision records: one JSON line per authorization decision, never a token.

Records go to the ``secauth.decisions`` logger at INFO (configure it like any
logger; on Lambda, set the level to INFO to see them) and to an optional
callback, for metrics. A callback that raises is ignored: observability never
changes a decision.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["DecisionSink", "emit", "fields", "listening"]

DecisionSink = Callable[[Mapping[str, Any]], None]

# Only these fields ever leave the process, so nothing else can leak by accident.
FIELDS = (
    "decision",
    "reason",
    "status",
    "principal",
    "tenant",
    "kind",
    "event",
    "method",
    "path",
    "route",
    "request_id",
    "latency_us",
    "detail",
)


_LOGGER: Any = None
# Built once: json.dumps with options makes a new encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str, sort_keys=True)


def fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` restricted to :data:`FIELDS`, without empty values."""
    return {k: record[k] for k in FIELDS if record.get(k) is not None}


def _logger() -> Any:
    global _LOGGER  # noqa: PLW0603 - the logger, looked up once (logging loads on first use)
    if _LOGGER is None:
        import logging

        _LOGGER = logging.getLogger("secauth.decisions")
    return _LOGGER


def listening(sink: DecisionSink | None = None) -> bool:
    """Whether a decision record would go anywhere: a ``sink``, or the logger at INFO.
    Callers may skip building records nobody reads."""
    return sink is not None or _logger().isEnabledFor(20)  # logging.INFO


def emit(record: Mapping[str, Any], sink: DecisionSink | None = None) -> dict[str, Any] | None:
    """Log ``record`` (restricted to :data:`FIELDS`) as one JSON line and pass it to ``sink``.

    Returns the record as sent, or None when nobody listens (no sink, INFO disabled).
    """
    logger = _logger()
    logging_on = logger.isEnabledFor(20)  # logging.INFO
    if sink is None and not logging_on:
        return None
    clean = fields(record)
    if logging_on:
        logger.info(_ENCODER.encode(clean))
    if sink is not None:
        # A broken metrics hook must not change a decision.
        with contextlib.suppress(Exception):
            sink(clean)
    return clean
