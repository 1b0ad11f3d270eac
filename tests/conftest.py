"""Shared test setup.

``tests/ratelimit/rl_services.py`` starts real servers on loopback (redis-server and
dynalite, installed by ``make services-deps``). Its folder goes on ``sys.path`` here so
test modules outside ``tests/ratelimit/`` can use it too, whatever pytest collects first.
Every decision record the suite produces is checked against ``tests/decision_schema.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

_SERVICES = str(Path(__file__).resolve().parent / "ratelimit")
if _SERVICES not in sys.path:
    sys.path.insert(0, _SERVICES)


@pytest.fixture(autouse=True)
def _every_decision_record_follows_the_schema() -> Iterator[None]:
    """Every decision record any test produces is checked against the one schema
    (``tests/decision_schema.py``), whether or not anybody listens to it."""
    from decision_schema import problems

    from secauth._decisions import DecisionLog, fields

    original = DecisionLog.publish
    found: list[str] = []

    def checked(self: DecisionLog, record: Mapping[str, Any]) -> dict[str, Any] | None:
        found.extend(f"{p} in {fields(record)}" for p in problems(fields(record)))
        return original(self, record)

    DecisionLog.publish = checked  # type: ignore[method-assign]
    try:
        yield
    finally:
        DecisionLog.publish = original  # type: ignore[method-assign]
    assert not found, "decision records off the schema:\n" + "\n".join(found)


@pytest.fixture(scope="module")
def dynalite() -> Iterator[Any]:
    """A dynalite (DynamoDB) on loopback for one test module (``rl_services``: skipped
    with a message outside CI when it is not installed)."""
    from rl_services import dynalite_server

    server = dynalite_server().start()
    try:
        yield server
    finally:
        server.stop()
