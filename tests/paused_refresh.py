"""An interleaving harness for key refreshes: a verifier's ``hydrate()`` runs in another
thread, paused just before one line of ``JwksCache._apply`` (the real code runs; nothing
is replaced), so a test can verify tokens in the window a refresh opens::

    with refresh_paused_at(verifier, "self._keys = keys"):
        verifier.verify(token)    # runs while the refresh waits on that line
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from secauth import JwksCache


@contextmanager
def refresh_paused_at(verifier: Any, line: str) -> Iterator[None]:
    """Run ``verifier.hydrate()`` in a thread paused before ``line`` of
    ``JwksCache._apply`` for the body of the ``with``; resume it and wait for it after."""
    lines, first = inspect.getsourcelines(JwksCache._apply)
    found = [i for i, text in enumerate(lines) if text.strip() == line]
    assert found, f"JwksCache._apply no longer has the line {line!r}"
    target, code = first + found[0], JwksCache._apply.__code__
    paused, resume = threading.Event(), threading.Event()

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line" and frame.f_lineno == target and not paused.is_set():
            paused.set()
            resume.wait(10)
        return local

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        return local if event == "call" and frame.f_code is code else None

    def refresh() -> None:
        sys.settrace(tracer)
        try:
            verifier.hydrate()
        finally:
            sys.settrace(None)

    refresher = threading.Thread(target=refresh)
    refresher.start()
    try:
        assert paused.wait(10), "the refresh never reached the line"
        yield
    finally:
        resume.set()
        refresher.join(10)
