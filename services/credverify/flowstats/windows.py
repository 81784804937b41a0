"""Calendar-month windows in event time, and when each one closes. No I/O, no clock.

A move belongs to the month of its ``registered_on`` date (UTC). The window of
month M closes at the first instant of the next month plus a grace period for
late registrations; after that its statistics are final.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from credverify.core.errors import InvalidInput

PERIOD_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_DURATION_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhms]?)\s*$")
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}


def period_of(day: dt.date) -> str:
    """Return the window a date falls in, as "YYYY-MM"."""
    return "%04d-%02d" % (day.year, day.month)


def parse_period(period: str) -> tuple[int, int]:
    """Return (year, month) of "YYYY-MM"; raise InvalidInput for anything else."""
    match = PERIOD_PATTERN.match(period)
    if match is None:
        raise InvalidInput("period: expected YYYY-MM, found %r" % period)
    return int(match.group(1)), int(match.group(2))


def month_end(period: str) -> dt.datetime:
    """Return the first instant (UTC) after the month ``period``."""
    year, month = parse_period(period)
    if month == 12:
        return dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
    return dt.datetime(year, month + 1, 1, tzinfo=dt.UTC)


def close_time(period: str, grace: dt.timedelta) -> dt.datetime:
    """Return when the window of ``period`` closes: the end of the month plus ``grace``."""
    return month_end(period) + grace


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
