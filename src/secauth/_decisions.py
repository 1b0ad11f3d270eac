"""Structured decision records: one JSON line per authorization decision, never a token.

One schema for the :class:`~secauth.authorizer.Authorizer` and the
:class:`~secauth.guard.Guard` (docs/operations.md): ``decision`` follows from the
``status`` the caller gets (:func:`decision_for`), and only :data:`FIELDS` ever leave
the process. Where records go is a :class:`DecisionLog`: ``"stdout"`` (the default of
both: one JSON line, which Lambda sends to CloudWatch with no setup), ``"logging"``
(the ``secauth.decisions`` logger at INFO) or None, plus an optional callback for
metrics. A callback that raises is ignored: observability never changes a decision.

>>> decision_for(201), decision_for(401), decision_for(429), decision_for(503)
('allow', 'unauthorized', 'deny', 'error')
>>> records = []
>>> DecisionLog(None, sink=records.append).publish({"decision": "allow", "token": "x"})
{'decision': 'allow'}
>>> records
[{'decision': 'allow'}]
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from secauth.errors import ConfigurationError, Reason

if TYPE_CHECKING:
    from secauth.access import Decision

__all__ = [
    "DECISIONS",
    "FIELDS",
    "DecisionLog",
    "DecisionSink",
    "caller_fields",
    "decision_fields",
    "decision_for",
    "fields",
]

DecisionSink = Callable[[Mapping[str, Any]], None]
_INFO = 20  # logging.INFO, without importing logging for the stdout mode

#: Every value of a record's ``decision`` field.
DECISIONS = ("allow", "deny", "unauthorized", "preflight", "error")

# Only these fields ever leave the process, so nothing else can leak by accident.
FIELDS = (
    "decision",
    "reason",
    "status",
    "principal",
    "issuer",
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

_LOG_MODES = ("stdout", "logging", None)
# Built once: json.dumps with options makes a new encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str, sort_keys=True)


def _line(record: Mapping[str, Any]) -> str:
    """``record`` as one JSON line. A ``detail`` JSON cannot hold (keys of mixed types, a
    cycle: handler code can raise with anything) is replaced, so the record is still
    written and the answer never changes because of it."""
    try:
        return _ENCODER.encode(record)
    except Exception:  # default=str runs the value's own __str__, which may raise anything
        return _fallback_line(record)


def _fallback_line(record: Mapping[str, Any]) -> str:
    try:
        return _ENCODER.encode({**record, "detail": {"problem": "detail not encodable"}})
    except Exception:  # another field then: keep the fields of plain types only
        plain = {k: v for k, v in record.items() if type(v) in (str, bool) or _small_int(v)}
        return _ENCODER.encode({**plain, "detail": {"problem": "record not encodable"}})


def _small_int(value: object) -> bool:
    return type(value) is int and -(2**63) <= value < 2**63


def decision_for(status: int) -> str:
    """The ``decision`` of a record whose caller gets ``status``: ``allow`` below 400,
    ``unauthorized`` for 401, ``error`` from 500, ``deny`` for any other refusal."""
    if status < 400:
        return "allow"
    if status == 401:
        return "unauthorized"
    return "error" if status >= 500 else "deny"


def caller_fields(principal: Any) -> dict[str, Any]:
    """A record's fields about who called: the principal's id, issuer, tenant and kind."""
    return {
        "principal": principal.id,
        "issuer": principal.issuer,
        "tenant": principal.tenant,
        "kind": principal.kind,
    }


def decision_fields(principal: Any, method: str, path: str, decision: Decision) -> dict[str, Any]:
    """A record's fields about who asked for what (``method path``), and the answer."""
    found: dict[str, Any] = {
        **caller_fields(principal),
        "method": method,
        "path": path,
        "route": decision.route,
    }
    if decision.allowed:
        found.update(decision=decision_for(200), status=200)
    else:
        reason = decision.reason or Reason.FORBIDDEN
        found.update(decision=decision_for(403), reason=reason.value, status=403)
        if decision.denial is not None and decision.denial.detail:
            found["detail"] = {"rule": decision.denial.detail}  # as Guard's denials
    return found


def fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` restricted to :data:`FIELDS`, without empty values."""
    return {k: record[k] for k in FIELDS if record.get(k) is not None}


class DecisionLog:
    """Where decision records go: ``mode`` is ``"stdout"``, ``"logging"`` or None, and
    ``sink`` (optional) receives every record as well."""

    __slots__ = ("_logger", "mode", "sink")

    def __init__(self, mode: str | None = "stdout", sink: DecisionSink | None = None) -> None:
        if mode not in _LOG_MODES:
            raise ConfigurationError("decision_log is 'stdout', 'logging' or None")
        if sink is not None and not callable(sink):
            raise ConfigurationError("on_decision must be a callable taking the record")
        self.mode = mode
        self.sink = sink
        self._logger: Any = None

    def listening(self) -> bool:
        """Whether a record would go anywhere (callers may skip building one)."""
        if self.sink is not None or self.mode == "stdout":
            return True
        return self.mode == "logging" and self._decisions_logger().isEnabledFor(_INFO)

    def publish(self, record: Mapping[str, Any]) -> dict[str, Any] | None:
        """Send ``record`` (restricted to :data:`FIELDS`); return it as sent, or None
        when nobody listens."""
        if not self.listening():
            return None
        clean = fields(record)
        if self.mode == "stdout":  # marked, to filter it from the function's own output
            sys.stdout.write(_line({"secauth": "decision", **clean}) + "\n")
        elif self.mode == "logging" and self._decisions_logger().isEnabledFor(_INFO):
            self._decisions_logger().info(_line(clean))
        if self.sink is not None:
            with contextlib.suppress(Exception):  # a broken hook must not change the answer
                self.sink(clean)
        return clean

    def _decisions_logger(self) -> Any:
        if self._logger is None:
            import logging  # loaded on first use: most functions log to stdout

            self._logger = logging.getLogger("secauth.decisions")
        return self._logger
