"""Text forms of the contract's values, as people type them in CSV files and on command lines.

Each parser raises InvalidInput naming what was expected and what was found.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

from credverify.core.errors import InvalidInput
from credverify.v1 import common_pb2


def parse_kind(text: str) -> common_pb2.CredentialKind:
    try:
        value = common_pb2.CredentialKind.Value("CREDENTIAL_KIND_" + text.strip().upper())
        if value == common_pb2.CREDENTIAL_KIND_UNSPECIFIED:
            raise ValueError(text)
        return cast(common_pb2.CredentialKind, value)
    except ValueError as exc:
        raise InvalidInput("kind: expected LICENCE, DIPLOMA or GOOD_STANDING, found %r" % text) from exc


def parse_status(text: str) -> common_pb2.CredentialStatus:
    try:
        value = common_pb2.CredentialStatus.Value("CREDENTIAL_STATUS_" + text.strip().upper())
        if value == common_pb2.CREDENTIAL_STATUS_UNSPECIFIED:
            raise ValueError(text)
        return cast(common_pb2.CredentialStatus, value)
    except ValueError as exc:
        raise InvalidInput(
            "status: expected ACTIVE, SUSPENDED, REVOKED, LAPSED or ACTIVE_WITH_CONDITIONS, found %r" % text
        ) from exc


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
