"""Calendar windows in UTC: the day, the ISO week and the month that hold an instant.

A calendar quota (``"10000/month"``, ``"700/week"``, ``"100/calendar day"``) counts in
the calendar period of the instant, in UTC:

* ``day``: from 00:00 UTC to the next 00:00 UTC;
* ``week``: the ISO week, from Monday 00:00 UTC to the next Monday;
* ``month``: from the 1st 00:00 UTC to the 1st of the next month (28 to 31 days).

Times are whole microseconds since the Unix epoch. The Redis store decides on the
server's clock with the same arithmetic in Lua (:data:`CALENDAR_LUA`, part of its
script); the memory and DynamoDB stores with this module.

>>> from datetime import datetime, timezone
>>> def us(text): return int(datetime.fromisoformat(text).timestamp()) * 1_000_000
>>> def utc(t): return datetime.fromtimestamp(t // 1_000_000, timezone.utc).isoformat()
>>> _, start, end = calendar_window(us("2024-02-10T13:00:00+00:00"), "month")
>>> utc(start), utc(end)
('2024-02-01T00:00:00+00:00', '2024-03-01T00:00:00+00:00')
>>> _, start, end = calendar_window(us("2025-01-01T05:00:00+00:00"), "week")
>>> utc(start), utc(end)
('2024-12-30T00:00:00+00:00', '2025-01-06T00:00:00+00:00')
"""

from __future__ import annotations

import datetime
from typing import Final

__all__ = ["CALENDAR_LUA", "CALENDAR_UNITS", "LONGEST_S", "calendar_window", "month_length"]

#: The calendar periods a quota can count in.
CALENDAR_UNITS: Final = ("day", "week", "month")
#: Each period's longest length in seconds (a quota's nominal ``Limit.period``).
LONGEST_S: Final[dict[str, int]] = {"day": 86_400, "week": 7 * 86_400, "month": 31 * 86_400}

DAY_US: Final = 86_400_000_000
_EPOCH_ORDINAL: Final = datetime.date(1970, 1, 1).toordinal()


def calendar_window(now_us: int, unit: str) -> tuple[int, int, int]:
    """``(index, start_us, end_us)`` of the calendar ``unit`` that holds ``now_us``.

    The index numbers the periods (days and weeks since the epoch, ``year * 12 +
    month - 1`` for months): two instants share a window exactly when their indexes
    are equal.
    """
    days = now_us // DAY_US
    if unit == "day":
        return days, days * DAY_US, (days + 1) * DAY_US
    if unit == "week":
        # 1970-01-01 was a Thursday: the ISO week holding it began on day -3
        week = (days + 3) // 7
        start = week * 7 - 3
        return week, start * DAY_US, (start + 7) * DAY_US
    if unit != "month":
        raise ValueError(f"not a calendar unit: {unit!r}")
    date = datetime.date.fromordinal(days + _EPOCH_ORDINAL)
    start = days - date.day + 1
    length = month_length(date.year, date.month)
    return date.year * 12 + date.month - 1, start * DAY_US, (start + length) * DAY_US


def month_length(year: int, month: int) -> int:
    """Days in ``month`` of ``year`` (Gregorian).

    >>> month_length(2024, 2), month_length(2100, 2), month_length(2000, 2), month_length(2025, 4)
    (29, 28, 29, 30)
    """
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


#: ``calendar_window`` in Lua (Redis scripts: numbers are doubles, exact below 2^53 µs).
#: The month comes from Howard Hinnant's ``civil_from_days``.
CALENDAR_LUA: Final = """
local function calendar_window(now, unit)
  local day = 86400000000
  local days = math.floor(now / day)
  if unit == 'day' then return days, days * day, (days + 1) * day end
  if unit == 'week' then
    local week = math.floor((days + 3) / 7)
    local first = week * 7 - 3
    return week, first * day, (first + 7) * day
  end
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
                          - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp + 3
  if mp >= 10 then m = mp - 9 end
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  local len = 31
  if m == 4 or m == 6 or m == 9 or m == 11 then
    len = 30
  elseif m == 2 then
    len = 28
    if (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0 then len = 29 end
  end
  local first = days - d + 1
  return y * 12 + m - 1, first * day, (first + len) * day
end
"""
