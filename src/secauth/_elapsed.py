"""How long ago something happened, read so that no clock jump can make state last longer.

secauth times its caches, back-offs and breakers on the monotonic clock. A Lambda container
restored from a SnapStart snapshot carries state made before the snapshot into a run
whose monotonic clock is not the one that state was timed on (it may resume where it
stopped, or read far lower), while the wall clock is set to the real time. A
:class:`Since` notes both clocks; its :meth:`~Since.age` is the larger of the two
readings, and infinite when either clock reads earlier than when it was noted: a clock
that went back cannot say how long ago that was, so as long as anything lasts is taken
to have passed (a key set is due, a back-off over, a breaker closed, a cached answer
gone; each is asked for again).

>>> made = Since.at(100.0, wall=1_000.0)
>>> made.age(130.0, wall=1_010.0)  # the monotonic clock says more
30.0
>>> made.age(101.0, wall=90_000.0)  # restored a day later: the wall clock says more
89000.0
>>> made.age(5.0, wall=1_010.0)  # another machine's monotonic clock
inf
"""

from __future__ import annotations

import math
import time
from typing import NamedTuple

__all__ = ["Since"]


class Since(NamedTuple):
    """A moment on the monotonic clock (``steady``, the owner's clock) and the wall clock."""

    steady: float
    wall: float

    @classmethod
    def at(cls, steady: float, *, wall: float | None = None) -> Since:
        """The moment ``steady`` (a reading of the owner's monotonic clock), and now on
        the wall clock (or ``wall``)."""
        return cls(steady, time.time() if wall is None else wall)

    def age(self, steady: float, *, wall: float | None = None) -> float:
        """Seconds from this moment to ``steady`` (and now on the wall clock, or ``wall``):
        the larger of the two clocks' readings; infinite when either reads earlier."""
        wall_now = time.time() if wall is None else wall
        if steady < self.steady or wall_now < self.wall:
            return math.inf
        return max(steady - self.steady, wall_now - self.wall)
