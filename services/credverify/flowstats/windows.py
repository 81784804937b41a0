"""Calendar windows in event time (months, quarters or years), and when each one closes. No I/O, no clock.

A move belongs to the window (by default the month) of its ``registered_on``
date (UTC): "YYYY-MM", "YYYY-Qn" or "YYYY". A window closes at the first
instant after it plus a grace period for late registrations; after that its
statistics are final. Window closes are checked at every month's close, which
is also every quarter's and year's.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from credverify.core.errors import InvalidInput

PERIOD_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# Any window's period: a month, a quarter or a year.
ANY_PERIOD_PATTERN = re.compile(r"^(\d{4})(?:-(0[1-9]|1[0-2])|-Q([1-4]))?$")
MONTH, QUARTER, YEAR = "month", "quarter", "year"
WINDOWS = (MONTH, QUARTER, YEAR)
_DURATION_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhms]?)\s*$")
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}


def period_of(day: dt.date, window: str = MONTH) -> str:
    """Return the window a date falls in: "YYYY-MM", "YYYY-Qn" or "YYYY". Raises ValueError for another
    kind of window."""
    if window == MONTH:
        return "%04d-%02d" % (day.year, day.month)
    if window == QUARTER:
        return "%04d-Q%d" % (day.year, (day.month - 1) // 3 + 1)
    if window == YEAR:
        return "%04d" % day.year
    raise ValueError("window: expected one of %s, found %r" % (", ".join(WINDOWS), window))


def parse_period(period: str) -> tuple[int, int]:
    """Return (year, month) of "YYYY-MM"; raise InvalidInput for anything else."""
    match = PERIOD_PATTERN.match(period)
    if match is None:
        raise InvalidInput("period: expected YYYY-MM, found %r" % period)
    return int(match.group(1)), int(match.group(2))


def window_end(period: str) -> dt.datetime:
    """Return the first instant (UTC) after the window ``period`` (month, quarter or year); raise
    InvalidInput for anything else."""
    match = ANY_PERIOD_PATTERN.match(period)
    if match is None:
        raise InvalidInput("period: expected YYYY-MM, YYYY-Qn or YYYY, found %r" % period)
    year = int(match.group(1))
    if match.group(2):
        last_month = int(match.group(2))
    elif match.group(3):
        last_month = int(match.group(3)) * 3
    else:
        last_month = 12
    if last_month == 12:
        return dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
    return dt.datetime(year, last_month + 1, 1, tzinfo=dt.UTC)


def month_end(period: str) -> dt.datetime:
    """Return the first instant (UTC) after the month ``period``."""
    parse_period(period)
    return window_end(period)


def close_time(period: str, grace: dt.timedelta) -> dt.datetime:
    """Return when the window of ``period`` closes: its end plus ``grace``."""
    return window_end(period) + grace


def next_period(period: str) -> str:
    year, month = parse_period(period)
    return "%04d-%02d" % (year + (month == 12), 1 if month == 12 else month + 1)


def periods_between(first: str, last: str) -> Iterator[str]:
    """Yield every month from ``first`` to ``last`` inclusive (nothing when first > last)."""
    period = first
    while period <= last:
        yield period
        period = next_period(period)


def last_closed_period(moment: dt.datetime, grace: dt.timedelta) -> str:
    """Return the latest month whose window has closed at ``moment`` (its close time is at or before it)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware UTC time")
    shifted = (moment - grace).astimezone(dt.UTC)
    # The month before the one that ``moment - grace`` falls in has ended by then.
    year, month = shifted.year, shifted.month
    return "%04d-%02d" % (year - (month == 1), 12 if month == 1 else month - 1)


def parse_duration(text: str, *, field: str) -> dt.timedelta:
    """Return the duration written as a number with an optional unit: "7d", "36h", "15m", "90s", "0".

    Raises InvalidInput naming ``field`` for anything else or a negative value."""
    match = _DURATION_PATTERN.match(text)
    if match is None:
        raise InvalidInput(
            "%s: expected a duration such as 7d, 36h, 15m or 90s, found %r" % (field, text)
        )
    return dt.timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def format_duration(duration: dt.timedelta) -> str:
    """Return ``duration`` in the largest whole unit parse_duration reads back ("7d", "90s")."""
    seconds = duration.total_seconds()
    for unit in ("d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds and seconds % size == 0:
            return "%d%s" % (seconds // size, unit)
    return ("%d" % seconds if seconds == int(seconds) else "%g" % seconds) + "s"
