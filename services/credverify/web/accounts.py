"""Accounts of the pages, their roles and the rules of signing in: pure, no clock, no I/O."""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass

from credverify.core.errors import InvalidInput


class Role(enum.StrEnum):
    """What an account may do. A registrar acts for one issuer (a council); a case officer for the
    regulator of one destination country."""

    REGISTRAR = "registrar"
    CASE_OFFICER = "case-officer"


# NIST SP 800-63B section 5.2.2: limit consecutive failed attempts; 5 leaves room for typos and
# stops guessing at 5 tries per quarter hour.
MAX_FAILED_SIGN_INS = 5
LOCKOUT = dt.timedelta(minutes=15)
# OWASP Session Management Cheat Sheet: idle timeouts of 15-30 minutes for most applications, and
# an absolute timeout of a working day.
SESSION_IDLE = dt.timedelta(minutes=30)
SESSION_ABSOLUTE = dt.timedelta(hours=10)
# NIST SP 800-63B section 5.1.1.2: at least 8 characters, and allow at least 64.
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 256
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_ISSUER_ID = re.compile(r"^[A-Z]{2}-[A-Z0-9]{2,16}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class Account:
    username: str
    role: Role
    scope: str  # the issuer id of a registrar, the ISO 3166-1 alpha-2 country of a case officer
    display_name: str = ""

    def may_act_for_issuer(self, issuer_id: str) -> bool:
        return self.role is Role.REGISTRAR and self.scope == issuer_id


def check_new_account(username: str, role: str, scope: str, password: str) -> tuple[str, Role, str]:
    """Return the normalised (username, role, scope) of an account to create.
    Raises InvalidInput saying what was expected."""
    name = username.strip().lower()
    if not _USERNAME.match(name):
        raise InvalidInput("username: expected 2-64 lower-case letters, digits, '.', '_' or '-', found %r" % username)
    try:
        chosen = Role(role)
    except ValueError:
        raise InvalidInput("role: expected registrar or case-officer, found %r" % role) from None
    scope = scope.strip().upper()
    pattern = _ISSUER_ID if chosen is Role.REGISTRAR else _COUNTRY
    if not pattern.match(scope):
        raise InvalidInput("%s: expected %s, found %r" % (
            "issuer" if chosen is Role.REGISTRAR else "country",
            "an issuer id such as KE-NCK" if chosen is Role.REGISTRAR else "an ISO 3166-1 alpha-2 code such as GB",
            scope))
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidInput("password: expected %d to %d characters, found %d" % (
            MIN_PASSWORD_CHARS, MAX_PASSWORD_CHARS, len(password)))
    return name, chosen, scope


def locked_until(failures: int, last_failure: dt.datetime) -> dt.datetime | None:
    """Return until when an account with ``failures`` consecutive failed sign-ins is locked, or None."""
    return last_failure + LOCKOUT if failures >= MAX_FAILED_SIGN_INS else None


def session_expired(created: dt.datetime, last_seen: dt.datetime, now: dt.datetime) -> bool:
    return now - last_seen > SESSION_IDLE or now - created > SESSION_ABSOLUTE
