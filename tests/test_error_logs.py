"""``err.to_log()`` is usable as ``logging``'s ``extra=``, as docs/errors.md shows.

``logging`` refuses ``extra`` keys that name ``LogRecord`` attributes (``message``,
``asctime``, ``name``, ...) with a ``KeyError``, and only when the record is built, i.e.
when the level is enabled: a handler logging auth failures at INFO would crash.
"""

from __future__ import annotations

import logging

import pytest

from secauth import errors

RECORD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _all_errors() -> list[type[errors.SecAuthError]]:
    found: list[type[errors.SecAuthError]] = []
    todo: list[type[errors.SecAuthError]] = [errors.SecAuthError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", _all_errors(), ids=lambda c: c.__name__)
def test_to_log_is_a_safe_logging_extra(
    cls: type[errors.SecAuthError], caplog: pytest.LogCaptureFixture
) -> None:
    """Every error class's ``to_log()`` (with detail) logs at INFO as ``extra`` without a
    KeyError, and the record carries its reason, status and public message."""
    err = cls(detail={"problem": "p", "name": "n", "message": "m"})
    fields = err.to_log()
    assert not set(fields) & RECORD_ATTRIBUTES
    caplog.set_level(logging.INFO, logger="secauth.tests")
    logging.getLogger("secauth.tests").info("auth denied", extra=fields)
    [record] = caplog.records
    assert (record.reason, record.status) == (err.reason.value, err.status)
    assert record.public_message == err.public_message
    assert record.detail_name == "n"
