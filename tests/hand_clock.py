"""``Clock``: a clock the test moves by hand (``clock.now += 30``), for any ``clock=`` or
``wall_clock=`` option of secauth's caches."""

from __future__ import annotations


class Clock:
    """Returns ``now``, which only the test changes."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
