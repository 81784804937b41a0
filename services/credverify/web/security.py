"""Signing in and out, sessions and CSRF tokens, over the pages' store.

A session id is 256 random bits in an HttpOnly cookie; the store keeps only its SHA-256, so a copy of
the database opens no session. Signing in always starts a new session (the id a visitor had before is
dropped: no session fixation) with a new CSRF token; every form carries that token and every POST is
refused without it.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from credverify.web.accounts import SESSION_ABSOLUTE, Account, check_new_account, locked_until, session_expired
from credverify.web.adapters.sqlite_store import SqliteWebStore

logger = logging.getLogger(__name__)

# argon2-cffi's defaults are RFC 9106's second recommended option for argon2id (64 MiB, 3 passes).
_HASHER = PasswordHasher()
# Checked against when the username is unknown, so that an unknown name costs as long as a wrong password.
_UNKNOWN_USER_HASH = _HASHER.hash("no account has this password")


class SignInRefused(Exception):
    """Why a sign-in failed: ``locked`` (too many failures) or ``credentials`` (anything else)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@dataclass(frozen=True)
class Session:
    session_id: str
    csrf_token: str
    account: Account | None


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def create_account(store: SqliteWebStore, *, username: str, role: str, scope: str, password: str,
                   display_name: str = "") -> Account:
    """Create an account. Raises InvalidInput for a bad name, role, scope or password, or a taken name."""
    name, chosen, scope = check_new_account(username, role, scope, password)
    account = Account(name, chosen, scope, display_name.strip())
    store.add_account(account, hash_password(password))
    return account


def authenticate(store: SqliteWebStore, username: str, password: str, *, now: dt.datetime) -> Account:
    """Return the account when the password is right and the account not locked.
    Raises SignInRefused; a failure counts towards the lockout."""
    stored = store.account(username.strip().lower())
    if stored is None:
        _matches(_UNKNOWN_USER_HASH, password)
        raise SignInRefused("credentials")
    until = locked_until(stored.failed_sign_ins, stored.last_failure or now)
    if until is not None and now < until:
        raise SignInRefused("locked")
    if not _matches(stored.password_hash, password):
        store.record_failure(stored.account.username, now)
        raise SignInRefused("credentials")
    rehashed = hash_password(password) if _HASHER.check_needs_rehash(stored.password_hash) else None
    store.record_success(stored.account.username, rehashed)
    return stored.account


def _matches(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_session(store: SqliteWebStore, account: Account | None, *, now: dt.datetime) -> Session:
    store.delete_sessions_before(now - SESSION_ABSOLUTE)  # none of them could be used any more
    session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), account)
    store.create_session(session.session_id, username=account.username if account else None,
                         csrf_token=session.csrf_token, now=now)
    return session


def load_session(store: SqliteWebStore, session_id: str | None, *, now: dt.datetime) -> Session | None:
    """Return the live session of ``session_id`` (touched), or None when there is none or it expired."""
    if not session_id or len(session_id) > 128:
        return None
    stored = store.session(session_id)
    if stored is None:
        return None
    if session_expired(stored.created_at, stored.last_seen, now):
        store.delete_session(session_id)
        return None
    account = None
    if stored.username is not None:
        found = store.account(stored.username)
        if found is None:
            return None
        account = found.account
    store.touch_session(session_id, now)
    return Session(session_id, stored.csrf_token, account)


def same_secret(expected: str, submitted: object) -> bool:
    """Compare in constant time (the time taken says nothing of how much matched)."""
    return isinstance(submitted, str) and hmac.compare_digest(expected.encode(), submitted.encode())


def csrf_ok(session: Session | None, submitted: object) -> bool:
    return session is not None and same_secret(session.csrf_token, submitted)
