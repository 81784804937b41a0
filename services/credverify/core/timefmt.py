"""Conversions between protobuf time types and Python's, always in UTC."""

from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp

from credverify.core.errors import InvalidInput
from credverify.v1 import common_pb2


def to_timestamp(moment: dt.datetime) -> Timestamp:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware UTC time")
    ts = Timestamp()
    ts.FromDatetime(moment.astimezone(dt.UTC))
    return ts


def from_timestamp(ts: Timestamp) -> dt.datetime:
    return ts.ToDatetime(tzinfo=dt.UTC)


def to_date(day: dt.date) -> common_pb2.Date:
    return common_pb2.Date(year=day.year, month=day.month, day=day.day)


def from_date(value: common_pb2.Date) -> dt.date | None:
    """Return the date, None when unset (all zero). Raises ValueError for an impossible date."""
    if value.year == 0 and value.month == 0 and value.day == 0:
        return None
    return dt.date(value.year, value.month, value.day)


def parse_instant(field: str, text: str) -> dt.datetime:
    """Return the UTC instant written in ISO 8601 with a time zone. Raises InvalidInput naming ``field``."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput("%s: expected an ISO 8601 instant such as 2026-11-23T10:00:00Z, found %r" % (
            field, text)) from exc
    if moment.tzinfo is None:
        raise InvalidInput("%s: expected a time zone (e.g. Z or +03:00), found %r" % (field, text))
    return moment.astimezone(dt.UTC)
