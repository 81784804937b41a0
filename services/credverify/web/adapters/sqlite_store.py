"""The pages' own SQLite file: accounts, sessions and the audit log of verifications. Written with
mode 0600; it holds password hashes, hashes of session ids and, in the audit log, which credential
was checked by whom and the names of the claims disclosed (never their values)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from credverify.core.errors import InvalidInput
from credverify.web.accounts import Account, Role

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    scope TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    failed_sign_ins INTEGER NOT NULL DEFAULT 0,
    last_failure TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    id_sha256 TEXT PRIMARY KEY,
    username TEXT REFERENCES accounts(username) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    username TEXT NOT NULL,
    country TEXT NOT NULL,
    action TEXT NOT NULL,
    credential_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    disclosed_claims TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_credential ON audit(credential_id);
CREATE TABLE IF NOT EXISTS sso_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    username TEXT NOT NULL REFERENCES accounts(username) ON DELETE CASCADE,
    PRIMARY KEY (issuer, subject)
);
CREATE TABLE IF NOT EXISTS sso_pending_sign_ins (
    ticket_sha256 TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    nonce TEXT NOT NULL,
    verifier TEXT NOT NULL,
    started_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS watched (
    username TEXT NOT NULL REFERENCES accounts(username) ON DELETE CASCADE,
    country TEXT NOT NULL,
    credential_id TEXT NOT NULL,
    PRIMARY KEY (username, credential_id)
);
"""


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _iso(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).isoformat()


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@dataclass(frozen=True)
class StoredAccount:
    account: Account
    password_hash: str
    failed_sign_ins: int
    last_failure: dt.datetime | None


@dataclass(frozen=True)
class StoredSession:
    username: str | None
    csrf_token: str
    created_at: dt.datetime
    last_seen: dt.datetime


@dataclass(frozen=True)
class AuditEntry:
    at: dt.datetime
    username: str
    country: str
    action: str  # "verify" or "register"
    credential_id: str
    outcome: str  # reason codes, comma-separated
    disclosed_claims: tuple[str, ...]


class SqliteWebStore:
    """Accounts, sessions and audit log in one SQLite file (created with mode 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if str(path) != ":memory:" and not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        if str(path) != ":memory:":
            os.chmod(path, 0o600)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def ping(self) -> None:
        with self._lock:
            self._db.execute("SELECT 1").fetchone()

    # --- accounts ----------------------------------------------------------------------------------

    def add_account(self, account: Account, password_hash: str) -> None:
        """Raises InvalidInput when the username is taken."""
        with self._lock:
            try:
                self._db.execute("INSERT INTO accounts(username, password_hash, role, scope, display_name) "
                                 "VALUES (?, ?, ?, ?, ?)", (account.username, password_hash, account.role.value,
                                                            account.scope, account.display_name))
            except sqlite3.IntegrityError:
                raise InvalidInput("username: %r exists already" % account.username) from None

    def account(self, username: str) -> StoredAccount | None:
        with self._lock:
            row = self._db.execute("SELECT username, role, scope, display_name, password_hash, failed_sign_ins, "
                                   "last_failure FROM accounts WHERE username = ?", (username,)).fetchone()
        if row is None:
            return None
        return StoredAccount(Account(row[0], Role(row[1]), row[2], row[3]), row[4], row[5],
                             _instant(row[6]) if row[6] else None)

    def record_failure(self, username: str, now: dt.datetime) -> None:
        with self._lock:
            self._db.execute("UPDATE accounts SET failed_sign_ins = failed_sign_ins + 1, last_failure = ? "
                             "WHERE username = ?", (_iso(now), username))

    def record_success(self, username: str, password_hash: str | None = None) -> None:
        """Reset the failure count (and store a rehashed password when the hash parameters changed)."""
        with self._lock:
            self._db.execute("UPDATE accounts SET failed_sign_ins = 0, last_failure = NULL, "
                             "password_hash = COALESCE(?, password_hash) WHERE username = ?",
                             (password_hash, username))

    # --- sessions ----------------------------------------------------------------------------------

    def create_session(self, session_id: str, *, username: str | None, csrf_token: str, now: dt.datetime) -> None:
        with self._lock:
            self._db.execute("INSERT INTO sessions(id_sha256, username, csrf_token, created_at, last_seen) "
                             "VALUES (?, ?, ?, ?, ?)", (_sha256(session_id), username, csrf_token, _iso(now),
                                                        _iso(now)))

    def session(self, session_id: str) -> StoredSession | None:
        with self._lock:
            row = self._db.execute("SELECT username, csrf_token, created_at, last_seen FROM sessions "
                                   "WHERE id_sha256 = ?", (_sha256(session_id),)).fetchone()
        if row is None:
            return None
        return StoredSession(row[0], row[1], _instant(row[2]), _instant(row[3]))

    def touch_session(self, session_id: str, now: dt.datetime) -> None:
        with self._lock:
            self._db.execute("UPDATE sessions SET last_seen = ? WHERE id_sha256 = ?", (_iso(now), _sha256(session_id)))

    def delete_session(self, session_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE id_sha256 = ?", (_sha256(session_id),))

    def delete_sessions_before(self, cutoff: dt.datetime) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE last_seen < ?", (_iso(cutoff),))

    # --- audit -------------------------------------------------------------------------------------

    def record_audit(self, entry: AuditEntry) -> None:
        with self._lock:
            self._db.execute("INSERT INTO audit(at, username, country, action, credential_id, outcome, "
                             "disclosed_claims) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (_iso(entry.at), entry.username, entry.country, entry.action, entry.credential_id,
                              entry.outcome, ",".join(entry.disclosed_claims)))

    def audit(self, *, country: str, credential_id: str | None = None, limit: int | None = None
              ) -> Iterator[AuditEntry]:
        """Yield the audit entries of ``country``, newest first (of one credential when given)."""
        query = "SELECT at, username, country, action, credential_id, outcome, disclosed_claims FROM audit " \
                "WHERE country = ?"
        params: list[object] = [country]
        if credential_id:
            query += " AND credential_id = ?"
            params.append(credential_id)
        query += " ORDER BY id DESC"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        for row in rows:
            yield AuditEntry(_instant(row[0]), row[1], row[2], row[3], row[4], row[5],
                             tuple(c for c in row[6].split(",") if c))

    # --- watch lists ---------------------------------------------------------------------------------

    def watch(self, username: str, country: str, credential_id: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO watched(username, country, credential_id) VALUES (?, ?, ?)",
                             (username, country, credential_id))

    def unwatch(self, username: str, credential_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM watched WHERE username = ? AND credential_id = ?", (username, credential_id))

    def watched_by(self, username: str) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT credential_id FROM watched WHERE username = ? ORDER BY credential_id",
                                    (username,)).fetchall()
        return [row[0] for row in rows]

    def watched_in(self, country: str) -> set[str]:
        """Every credential some case officer of ``country`` follows."""
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT credential_id FROM watched WHERE country = ?",
                                    (country,)).fetchall()
        return {row[0] for row in rows}

    # --- single sign-on -------------------------------------------------------------------------------

    def bind_sso(self, username: str, issuer: str, subject: str) -> None:
        """Raises InvalidInput when that identity opens another account already."""
        with self._lock:
            try:
                self._db.execute("INSERT INTO sso_identities(issuer, subject, username) VALUES (?, ?, ?)",
                                 (issuer, subject, username))
            except sqlite3.IntegrityError:
                raise InvalidInput("sso subject: %r of %s opens another account already" % (subject, issuer)) from None

    def username_of_sso(self, issuer: str, subject: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT username FROM sso_identities WHERE issuer = ? AND subject = ?",
                                   (issuer, subject)).fetchone()
        return str(row[0]) if row else None

    def put_pending_sso(self, ticket: str, state: str, nonce: str, verifier: str, now: dt.datetime) -> None:
        with self._lock:
            abandoned = _iso(now - dt.timedelta(hours=1))  # sign-ins begun and never finished
            self._db.execute("DELETE FROM sso_pending_sign_ins WHERE started_at < ?", (abandoned,))
            self._db.execute("INSERT INTO sso_pending_sign_ins(ticket_sha256, state, nonce, verifier, started_at) "
                             "VALUES (?, ?, ?, ?, ?)", (_sha256(ticket), state, nonce, verifier, _iso(now)))

    def take_pending_sso(self, ticket: str) -> tuple[str, str, str, dt.datetime] | None:
        """The (state, nonce, verifier, started at) of the sign-in through the provider that ``ticket``
        names, once: it is deleted."""
        with self._lock:
            row = self._db.execute("SELECT state, nonce, verifier, started_at FROM sso_pending_sign_ins "
                                   "WHERE ticket_sha256 = ?", (_sha256(ticket),)).fetchone()
            self._db.execute("DELETE FROM sso_pending_sign_ins WHERE ticket_sha256 = ?", (_sha256(ticket),))
        return (row[0], row[1], row[2], _instant(row[3])) if row else None
