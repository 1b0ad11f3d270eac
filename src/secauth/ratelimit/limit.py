"""``Limit``: how many requests in how long, parsed from ``"100/minute"`` or built directly.

Grammar of the string form: ``<count>/<period>`` or ``<count> per <period>``,
where ``<period>`` is a unit (``second``, ``minute``, ``hour``, ``day`` and the
short forms ``s``, ``sec``, ``m``, ``min``, ``h``, ``hr``, ``d``, plurals too),
optionally preceded by a whole number (``"5/10s"``, ``"10 per 2 minutes"``).

Times inside the algorithms are whole microseconds, so a period is rounded to
the microsecond and the GCRA emission interval ``period / count`` is rounded
*up*: rounding never admits more than the configured rate.

Example
-------
>>> Limit.parse("100/minute")
Limit(100, 60.0)
>>> Limit.parse("5/10s").period
10.0
>>> Limit(10, 1, burst=20).burst
20
"""

from __future__ import annotations

import re
from typing import Final

from secauth.errors import ConfigurationError

__all__ = ["ALGORITHMS", "Limit", "LimitLike"]

#: Algorithm names accepted by :class:`~secauth.ratelimit.RateLimiter`.
ALGORITHMS: Final = ("fixed_window", "sliding_window", "gcra")

_UNITS: Final[dict[str, int]] = {}
for _names, _seconds in (
    (("s", "sec", "secs", "second", "seconds"), 1),
    (("m", "min", "mins", "minute", "minutes"), 60),
    (("h", "hr", "hrs", "hour", "hours"), 3600),
    (("d", "day", "days"), 86400),
):
    for _name in _names:
        _UNITS[_name] = _seconds

_PATTERN: Final = re.compile(
    r"\s*(?P<count>\d+)\s*(?:/|\s+per\s+)\s*(?P<amount>\d+)?\s*(?P<unit>[A-Za-z]+)\s*",
    re.ASCII,
)
_HINT: Final = "write '<count>/<period>' such as '100/minute', '5/10s', '10/second' or '50/day'"
_MAX_COUNT: Final = 10**9
_MAX_PERIOD_S: Final = 366 * 86400


class Limit:
    """``count`` requests per ``period`` seconds; ``burst`` sizes the GCRA bucket.

    Parameters
    ----------
    count:
        Requests admitted per period (an int >= 1).
    period:
        The period in seconds (>= 1 ms, at most a year).
    burst:
        GCRA only: how many requests may arrive at once after a quiet spell
        (API Gateway's "burst"); defaults to ``count``. The steady rate is
        always ``count / period``. Window algorithms ignore it.

    >>> lim = Limit(100, 60)
    >>> lim.rate, lim.period_us, lim.interval_us
    (1.6666666666666667, 60000000, 600000)
    """

    __slots__ = ("burst", "count", "interval_us", "period", "period_us")

    count: int
    period: float
    burst: int
    period_us: int
    interval_us: int

    def __init__(self, count: int, period: float, *, burst: int | None = None) -> None:
        if type(count) is not int or not 1 <= count <= _MAX_COUNT:
            raise ConfigurationError(
                f"Limit count must be a whole number from 1 to {_MAX_COUNT}, not {count!r}"
            )
        if isinstance(period, bool) or not isinstance(period, int | float):
            raise ConfigurationError(f"Limit period must be a number of seconds, not {period!r}")
        if not 0.001 <= period <= _MAX_PERIOD_S:
            raise ConfigurationError(
                f"Limit period must be between 0.001 s and one year, not {period!r} s"
            )
        if burst is None:
            burst = count
        elif type(burst) is not int or not 1 <= burst <= _MAX_COUNT:
            raise ConfigurationError(
                f"Limit burst must be a whole number from 1 to {_MAX_COUNT}, not {burst!r}"
            )
        self.count = count
        self.period = float(period)
        self.burst = burst
        self.period_us = round(period * 1_000_000)
        # ceil: never faster than the configured rate
        self.interval_us = -(-self.period_us // count)

    @classmethod
    def parse(cls, text: str, *, burst: int | None = None) -> Limit:
        """Parse ``"100/minute"``, ``"5/10s"``, ``"10 per 2 minutes"``; raise ConfigurationError.

        >>> Limit.parse("10 per 2 minutes")
        Limit(10, 120.0)
        >>> Limit.parse("10/fortnight")
        Traceback (most recent call last):
        ...
        secauth.errors.ConfigurationError: invalid rate limit '10/fortnight': unknown time unit 'fortnight'; use second, minute, hour or day (s, m, h, d)
        """  # noqa: E501
        if not isinstance(text, str):
            raise ConfigurationError(
                f"a rate limit is a string or a Limit, not {type(text).__name__}"
            )
        match = _PATTERN.fullmatch(text)
        if match is None:
            raise ConfigurationError(f"invalid rate limit {text!r}: {_HINT}")
        unit = match["unit"].lower()
        seconds = _UNITS.get(unit)
        if seconds is None:
            raise ConfigurationError(
                f"invalid rate limit {text!r}: unknown time unit {match['unit']!r}; "
                "use second, minute, hour or day (s, m, h, d)"
            )
        count = int(match["count"])
        amount = int(match["amount"]) if match["amount"] is not None else 1
        if count < 1:
            raise ConfigurationError(f"invalid rate limit {text!r}: the count must be at least 1")
        if amount < 1:
            raise ConfigurationError(f"invalid rate limit {text!r}: the period must be at least 1")
        try:
            return cls(count, amount * seconds, burst=burst)
        except ConfigurationError as exc:
            raise ConfigurationError(f"invalid rate limit {text!r}: {exc.public_message}") from None

    @classmethod
    def throttle(cls, rate: float, *, burst: int) -> Limit:
        """A token bucket as API Gateway throttling is specified: ``rate`` per second, ``burst``.

        >>> lim = Limit.throttle(50, burst=100)
        >>> lim.interval_us, lim.burst
        (20000, 100)
        """
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise ConfigurationError(f"rate must be requests per second, not {rate!r}")
        if not rate > 0:
            raise ConfigurationError(f"rate must be above 0 requests per second, not {rate!r}")
        return cls(1, 1.0 / rate, burst=burst)

    @property
    def rate(self) -> float:
        """The steady rate in requests per second."""
        return self.count / self.period

    def __repr__(self) -> str:
        extra = f", burst={self.burst}" if self.burst != self.count else ""
        return f"Limit({self.count}, {self.period}{extra})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Limit):
            return NotImplemented
        return (self.count, self.period_us, self.burst) == (
            other.count,
            other.period_us,
            other.burst,
        )

    def __hash__(self) -> int:
        return hash((self.count, self.period_us, self.burst))

    def describe(self) -> str:
        """A short stable text such as ``100/60s`` (used in default limiter names)."""
        period = f"{self.period:g}"
        extra = f"b{self.burst}" if self.burst != self.count else ""
        return f"{self.count}/{period}s{extra}"


LimitLike = Limit | str


def as_limit(value: LimitLike, *, burst: int | None = None) -> Limit:
    """A :class:`Limit` from a string or a Limit (``burst`` applies to strings only)."""
    if isinstance(value, Limit):
        if burst is not None and burst != value.burst:
            return Limit(value.count, value.period, burst=burst)
        return value
    return Limit.parse(value, burst=burst)
