"""Text forms of the contract's values, as people type them in CSV files and on command lines.

Each parser raises InvalidInput naming what was expected and what was found.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from credverify.core.errors import InvalidInput
from credverify.v1 import common_pb2


def _enum_value(enum: Any, prefix: str, field: str, text: str) -> int:
    """Return the value of ``enum`` named ``prefix`` + the upper-cased ``text`` (never UNSPECIFIED).
    Raises InvalidInput listing the names a person may type."""
    name = prefix + text.strip().upper()
    if name in enum.keys() and not name.endswith("_UNSPECIFIED"):
        return int(enum.Value(name))
    allowed = [n.removeprefix(prefix) for n in enum.keys() if not n.endswith("_UNSPECIFIED")]
    raise InvalidInput("%s: expected %s or %s, found %r" % (field, ", ".join(allowed[:-1]), allowed[-1], text))


def parse_kind(text: str) -> common_pb2.CredentialKind:
    return cast(common_pb2.CredentialKind, _enum_value(common_pb2.CredentialKind, "CREDENTIAL_KIND_", "kind", text))


def parse_status(text: str) -> common_pb2.CredentialStatus:
    return cast(common_pb2.CredentialStatus,
                _enum_value(common_pb2.CredentialStatus, "CREDENTIAL_STATUS_", "status", text))


def parse_date(field: str, text: str | None) -> dt.date | None:
    if not text or not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput("%s: expected a date YYYY-MM-DD, found %r" % (field, text)) from exc


def parse_kinds(text: str) -> tuple[common_pb2.CredentialKind, ...]:
    """Return the kinds of a comma-separated list such as ``LICENCE,GOOD_STANDING``."""
    return tuple(parse_kind(part) for part in text.split(",") if part.strip())
