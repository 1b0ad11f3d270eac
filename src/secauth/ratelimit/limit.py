"""``Limit``: how many requests in how long, parsed from ``"100/minute"`` or built directly.

Grammar of the string form: ``<count>/<period>`` or ``<count> per <period>``,
where ``<period>`` is a unit (``second``, ``minute``, ``hour``, ``day`` and the
short forms ``s``, ``sec``, ``m``, ``min``, ``h``, ``hr``, ``d``, plurals too),
optionally preceded by a whole number (``"5/10s"``, ``"10 per 2 minutes"``).
These periods are *rolling*: windows of that length (``"50/day"`` is 86 400 s).

Calendar quotas count in a calendar period in UTC (see
:mod:`~secauth.ratelimit.windows`): ``"10000/month"`` (the calendar month),
``"700/week"`` (the ISO week, from Monday 00:00 UTC) and ``"100/calendar day"``
(00:00 to 00:00 UTC; ``calendar week`` and ``calendar month`` are accepted too). They
take no number (``"10/2 months"`` is refused) and no other spelling (``"10/months"``,
``"10/mo"``, ``"10/wk"`` are refused: say which period you mean). They decide with the
fixed-window algorithm; the reset time is the period's end.

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
>>> Limit.parse("10000/month")
Limit.quota(10000, 'month')
"""

from __future__ import annotations

import math
import re
from typing import Final

from secauth.errors import ConfigurationError
from secauth.ratelimit.windows import CALENDAR_UNITS, LONGEST_S, calendar_window

__all__ = ["ALGORITHMS", "MAX_THROTTLE_RATE", "Limit", "LimitLike"]

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

_MAX_TEXT: Final = 64
_PATTERN: Final = re.compile(
    r"\s*(?P<count>\d{1,18})\s*(?:/|\s+per\s+)\s*(?P<amount>\d{1,18})?\s*"
    r"(?:(?P<calendar>[Cc]alendar)\s+)?(?P<unit>[A-Za-z]+)\s*",
    re.ASCII,
)
_HINT: Final = (
    "write '<count>/<period>' such as '100/minute', '5/10s', '10/second' or '50/day', "
    "or a calendar quota such as '10000/month'"
)
_UNITS_HINT: Final = (
    "use second, minute, hour or day (s, m, h, d), or a calendar week, month or 'calendar day'"
)
# spellings that could mean a calendar period or a rolling one: refused, with the fix
_AMBIGUOUS: Final[dict[str, str]] = {}
_ambiguous: tuple[tuple[tuple[str, ...], str], ...] = (
    (("months", "mo", "mos", "mon", "mth", "mths", "monthly"), "month"),
    (("weeks", "w", "wk", "wks", "weekly"), "week"),
    (("daily",), "day"),
)
for _spellings, _fix in _ambiguous:
    for _name in _spellings:
        _AMBIGUOUS[_name] = _fix
_MAX_COUNT: Final = 10**9
#: The highest ``Limit.throttle`` rate, per second: requests at least 100 µs apart, so
#: whole microseconds keep the rate to within about 1 %.
MAX_THROTTLE_RATE: Final = 10_000
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

    A calendar quota (:meth:`quota`) has ``calendar`` set to ``"day"``, ``"week"`` or
    ``"month"``; its ``period`` is then the period's longest length (31 days for a
    month), used where one number must describe it (the ``w`` of ``RateLimit-Policy``).

    >>> lim = Limit(100, 60)
    >>> lim.rate, lim.period_us, lim.interval_us, lim.calendar
    (1.6666666666666667, 60000000, 600000, None)
    """

    __slots__ = ("burst", "calendar", "count", "interval_us", "period", "period_us")

    count: int
    period: float
    burst: int
    period_us: int
    interval_us: int
    calendar: str | None

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
        # ceil, both: never faster than the configured rate (1/3 s is 333 334 us)
        self.period_us = math.ceil(period * 1_000_000)
        self.interval_us = -(-self.period_us // count)
        self.calendar = None

    @classmethod
    def quota(cls, count: int, unit: str) -> Limit:
        """``count`` requests per calendar ``unit`` (``"day"``, ``"week"``, ``"month"``) in UTC.

        >>> Limit.quota(10000, "month") == Limit.parse("10000 per month")
        True
        >>> Limit.quota(5, "year")
        Traceback (most recent call last):
        ...
        secauth.errors.ConfigurationError: a calendar quota counts per day, week or month, not 'year'
        """
        if unit not in CALENDAR_UNITS:
            raise ConfigurationError(
                f"a calendar quota counts per day, week or month, not {unit!r}"
            )
        limit = cls(count, LONGEST_S[unit])
        limit.calendar = unit
        return limit

    def window_at(self, now_us: int) -> tuple[int, int]:
        """``(index, end_us)`` of the fixed window holding ``now_us``: a multiple of the
        period since the clock's zero, or the calendar period (UTC, epoch clock)."""
        if self.calendar is None:
            window = now_us // self.period_us
            return window, (window + 1) * self.period_us
        index, _, end = calendar_window(now_us, self.calendar)
        return index, end

    @classmethod
    def parse(cls, text: str, *, burst: int | None = None) -> Limit:
        """Parse ``"100/minute"``, ``"5/10s"``, ``"10 per 2 minutes"``; raise ConfigurationError.

        >>> Limit.parse("10 per 2 minutes")
        Limit(10, 120.0)
        >>> Limit.parse("10/fortnight")
        Traceback (most recent call last):
        ...
        secauth.errors.ConfigurationError: invalid rate limit '10/fortnight': unknown time unit 'fortnight'; use second, minute, hour or day (s, m, h, d), or a calendar week, month or 'calendar day'
        >>> Limit.parse("10/months")
        Traceback (most recent call last):
        ...
        secauth.errors.ConfigurationError: invalid rate limit '10/months': ambiguous period 'months'; write '10/month' for the calendar month (UTC)
        """  # noqa: E501
        if not isinstance(text, str):
            raise ConfigurationError(
                f"a rate limit is a string or a Limit, not {type(text).__name__}"
            )
        if len(text) > _MAX_TEXT:  # a few words; a padded one would backtrack for minutes
            raise ConfigurationError(f"invalid rate limit: longer than {_MAX_TEXT} characters")
        match = _PATTERN.fullmatch(text)
        if match is None:
            raise ConfigurationError(f"invalid rate limit {text!r}: {_HINT}")
        if match["unit"] == "M":  # a month to some, a minute once lower-cased: refused
            every = f"{match['count']}/{match['amount'] or ''}"
            raise ConfigurationError(
                f"invalid rate limit {text!r}: ambiguous period 'M'; write "
                f"'{every}minute' or '{match['count']}/month' (the calendar month, UTC)"
            )
        unit = match["unit"].lower()
        if match["calendar"] is not None or unit in ("week", "month"):
            return cls._parse_quota(text, match, unit)
        seconds = _UNITS.get(unit)
        if seconds is None:
            fix = _AMBIGUOUS.get(unit)
            if fix is not None:
                raise ConfigurationError(
                    f"invalid rate limit {text!r}: ambiguous period {match['unit']!r}; "
                    + _calendar_fix(match["count"], fix)
                )
            raise ConfigurationError(
                f"invalid rate limit {text!r}: unknown time unit {match['unit']!r}; " + _UNITS_HINT
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
    def _parse_quota(cls, text: str, match: re.Match[str], unit: str) -> Limit:
        if unit not in CALENDAR_UNITS:
            raise ConfigurationError(
                f"invalid rate limit {text!r}: 'calendar' goes with day, week or month"
            )
        if match["amount"] is not None:
            raise ConfigurationError(
                f"invalid rate limit {text!r}: a calendar {unit} takes no number; for a "
                f"rolling period write the days, such as '{match['count']}/30d'"
            )
        try:
            return cls.quota(int(match["count"]), unit)
        except ConfigurationError as exc:
            raise ConfigurationError(f"invalid rate limit {text!r}: {exc.public_message}") from None

    @classmethod
    def throttle(cls, rate: float, *, burst: int) -> Limit:
        """A token bucket as API Gateway throttling is specified: ``rate`` per second, ``burst``.
        At most :data:`MAX_THROTTLE_RATE` (API Gateway's default account throttle): GCRA
        spaces requests in whole microseconds, rounded up, so a rate is never exceeded, and
        is kept to within one microsecond per request (1 % at 10 000 per second). Above
        1 000 per second (a period is at least 1 ms) the limit counts several requests per
        millisecond.

        >>> lim = Limit.throttle(50, burst=100)
        >>> lim.interval_us, lim.burst
        (20000, 100)
        >>> Limit.throttle(10_000, burst=5_000).interval_us  # API Gateway's account default
        100
        """
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise ConfigurationError(f"rate must be requests per second, not {rate!r}")
        if not 0 < rate <= MAX_THROTTLE_RATE:
            raise ConfigurationError(
                f"rate must be above 0 and at most {MAX_THROTTLE_RATE} requests per second, "
                f"not {rate!r}"
            )
        per_period = math.ceil(rate / 1000)  # requests per period of at least 1 ms
        return cls(per_period, max(per_period / rate, 0.001), burst=burst)

    @property
    def rate(self) -> float:
        """The steady rate in requests per second."""
        return self.count / self.period

    def __repr__(self) -> str:
        if self.calendar is not None:
            return f"Limit.quota({self.count}, {self.calendar!r})"
        extra = f", burst={self.burst}" if self.burst != self.count else ""
        return f"Limit({self.count}, {self.period}{extra})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Limit):
            return NotImplemented
        return (self.count, self.period_us, self.burst, self.calendar) == (
            other.count,
            other.period_us,
            other.burst,
            other.calendar,
        )

    def __hash__(self) -> int:
        return hash((self.count, self.period_us, self.burst, self.calendar))

    def describe(self) -> str:
        """A short stable text such as ``100/60s`` or ``10000/month`` (used in default
        limiter names and store keys): exact to the microsecond the algorithms count in,
        so two limits that count differently never describe alike.

        >>> Limit(2, 1_000_001).describe(), Limit(5, 0.25, burst=10).describe()
        ('2/1000001s', '5/0.25sb10')
        """
        if self.calendar == "day":
            return f"{self.count}/calendar day"
        if self.calendar is not None:
            return f"{self.count}/{self.calendar}"
        period = f"{self.period_us / 1_000_000:.6f}".rstrip("0").rstrip(".")
        extra = f"b{self.burst}" if self.burst != self.count else ""
        return f"{self.count}/{period}s{extra}"


LimitLike = Limit | str


def _calendar_fix(count: str, unit: str) -> str:
    if unit == "day":
        return f"write '{count}/day' for a rolling 24 hours or '{count}/calendar day' (UTC)"
    return f"write '{count}/{unit}' for the calendar {unit} (UTC)"


def as_limit(value: LimitLike, *, burst: int | None = None) -> Limit:
    """A :class:`Limit` from a string or a Limit (``burst`` applies to strings only)."""
    if isinstance(value, Limit):
        if burst is not None and burst != value.burst and value.calendar is None:
            return Limit(value.count, value.period, burst=burst)
        return value
    return Limit.parse(value, burst=burst)
