"""``PowertoolsDecisions``: a :class:`~secauth.guard.Guard` decision hook that reports each
decision through Powertools' ``Logger``, ``Metrics`` and ``Tracer`` (also exported by
:mod:`secauth.integrations.powertools`). Powertools objects are passed in; its metric
units are imported on the first count.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from secauth.errors import ConfigurationError

__all__ = ["PowertoolsDecisions"]

_ALLOWED = frozenset({"allow", "preflight"})
_LIMITED = frozenset({"rate_limited", "abuse_blocked"})


class PowertoolsDecisions:
    """A decision hook for ``Guard(on_decision=...)`` that reports through Powertools.

    Parameters
    ----------
    logger:
        A Powertools ``Logger``: one entry per decision (message ``"secauth decision"``,
        the record under the key ``secauth``): INFO for allow/preflight, WARNING for a
        refusal, ERROR for an unexpected exception.
    metrics:
        A Powertools ``Metrics``: counts ``{prefix}.decisions``, ``{prefix}.{decision}``
        (``allow``, ``deny``, ``error``, ``preflight``), ``{prefix}.reason.{reason}``,
        ``{prefix}.rate_limited`` (429s), and ``{prefix}.latency`` in microseconds.
        Flushed with the app's other metrics (``@metrics.log_metrics``).
    tracer:
        A Powertools ``Tracer``: a subsegment ``## secauth.decision`` per decision with
        annotations ``secauth_decision``, ``secauth_reason``, ``secauth_status`` and the
        record as metadata. Nothing while the tracer is disabled (outside Lambda).
    prefix:
        The metric name prefix (default ``"secauth"``).

    Records hold no token and no exception text (see ``docs/guard.md``).
    """

    def __init__(
        self,
        *,
        logger: Any = None,
        metrics: Any = None,
        tracer: Any = None,
        prefix: str = "secauth",
    ) -> None:
        if logger is None and metrics is None and tracer is None:
            raise ConfigurationError("PowertoolsDecisions needs a logger, metrics or a tracer")
        self.logger = logger
        self.metrics = metrics
        self.tracer = tracer
        self.prefix = prefix

    def __call__(self, record: Mapping[str, Any]) -> None:
        decision = str(record.get("decision") or "unknown")
        reason = record.get("reason")
        # Each sink on its own: one that breaks must not silence the others.
        if self.logger is not None:
            with contextlib.suppress(Exception):
                self._log(decision, record)
        if self.metrics is not None:
            with contextlib.suppress(Exception):
                self._count(decision, reason, record.get("latency_us"))
        with contextlib.suppress(Exception):
            self._trace(decision, reason, record)

    def _log(self, decision: str, record: Mapping[str, Any]) -> None:
        if decision in _ALLOWED:
            log = self.logger.info
        elif decision in ("deny", "unauthorized"):
            log = self.logger.warning
        else:
            log = self.logger.error
        log("secauth decision", extra={"secauth": dict(record)})

    def _trace(self, decision: str, reason: object, record: Mapping[str, Any]) -> None:
        tracer = self.tracer
        if tracer is not None and not getattr(tracer, "disabled", False):
            with tracer.provider.in_subsegment(name="## secauth.decision") as subsegment:
                subsegment.put_annotation("secauth_decision", decision)
                subsegment.put_annotation("secauth_status", int(record.get("status") or 0))
                if reason:
                    subsegment.put_annotation("secauth_reason", str(reason))
                subsegment.put_metadata("decision", dict(record), namespace="secauth")

    def _count(self, decision: str, reason: object, latency_us: object) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        add = self.metrics.add_metric
        prefix = self.prefix
        add(name=f"{prefix}.decisions", unit=MetricUnit.Count, value=1)
        add(name=f"{prefix}.{decision}", unit=MetricUnit.Count, value=1)
        if reason:
            add(name=f"{prefix}.reason.{reason}", unit=MetricUnit.Count, value=1)
        if reason in _LIMITED:
            add(name=f"{prefix}.rate_limited", unit=MetricUnit.Count, value=1)
        if isinstance(latency_us, int | float):
            add(name=f"{prefix}.latency", unit=MetricUnit.Microseconds, value=latency_us)
