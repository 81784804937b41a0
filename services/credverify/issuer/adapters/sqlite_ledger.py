"""SQLite (WAL) ledger of what an issuer signed and what the broker confirmed.

A signing is written *before* it is published and marked confirmed after the
broker acknowledges it, so a crash in between leaves a record that a re-run
sends again byte for byte (the same version: a registry treats the copy as a
harmless duplicate) instead of signing a second version.

The ledger holds every signed attestation, names and birth dates included, and
the salts of every practitioner's credential (the only copy outside her own
file), so its file is created readable by its owner only (0600, whatever the
umask); SQLite gives its -wal and -shm files the database file's mode.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from credverify.core.errors import ConfigurationError
from credverify.core.publishing import Delivery
from credverify.core.sdjwt import Sealing
from credverify.issuer.ports import IssuedEntry

SCHEMA = """
CREATE TABLE IF NOT EXISTS issued (
  credential_id TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  digest TEXT NOT NULL,
  envelope BLOB NOT NULL,
  confirmed INTEGER NOT NULL DEFAULT 0,
  partition INTEGER,
  "offset" INTEGER,
  signed_at REAL NOT NULL,
  confirmed_at REAL,
  attestation BLOB,
  sealing TEXT
);
CREATE INDEX IF NOT EXISTS issued_unconfirmed ON issued (confirmed) WHERE confirmed = 0;
"""
# Columns added since the first schema, for a ledger created before them (SQLite has no ADD COLUMN IF
# NOT EXISTS): a credential signed before sealed personal data has NULL in both.
ADDED_COLUMNS = (("attestation", "BLOB"), ("sealing", "TEXT"))
_COLUMNS = 'credential_id, version, digest, envelope, confirmed, partition, "offset", attestation, sealing'
# SQLite's limit on bound parameters is 32766 since 3.32; stay well below it.
LOOKUP_CHUNK = 900


class SqliteIssuedLedger:
    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _owner_only(path)
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError("cannot open the issuer ledger %s: %s" % (path, exc)) from exc

    def lookup(self, credential_ids: Sequence[str]) -> dict[str, IssuedEntry]:
        found: dict[str, IssuedEntry] = {}
        ids = list(dict.fromkeys(credential_ids))
        for start in range(0, len(ids), LOOKUP_CHUNK):
            chunk = ids[start:start + LOOKUP_CHUNK]
            rows = self._db.execute("SELECT %s FROM issued WHERE credential_id IN (%s)" % (
                _COLUMNS, ",".join("?" * len(chunk))), chunk)
            for row in rows:
                found[row[0]] = _entry(row)
        return found

    def _migrate(self) -> None:
        have = {row[1] for row in self._db.execute("PRAGMA table_info(issued)")}
        for name, kind in ADDED_COLUMNS:
            if name not in have:
                self._db.execute("ALTER TABLE issued ADD COLUMN %s %s" % (name, kind))

    def record_signed(self, entries: Iterable[IssuedEntry]) -> None:
        now = time.time()
        with self._transaction():
            self._db.executemany(
                'INSERT INTO issued (credential_id, version, digest, envelope, confirmed, partition, "offset", '
                "signed_at, attestation, sealing) VALUES (?, ?, ?, ?, 0, NULL, NULL, ?, ?, ?) "
                "ON CONFLICT (credential_id) DO UPDATE SET version = excluded.version, digest = excluded.digest, "
                'envelope = excluded.envelope, confirmed = 0, partition = NULL, "offset" = NULL, '
                "signed_at = excluded.signed_at, confirmed_at = NULL, attestation = excluded.attestation, "
                "sealing = excluded.sealing WHERE excluded.version > issued.version",
                [(e.credential_id, e.version, e.digest, e.envelope_bytes, now, e.attestation,
                  e.sealing.to_json() if e.sealing else None) for e in entries],
            )

    def record_delivered(self, deliveries: Iterable[tuple[str, int, Delivery]]) -> None:
        now = time.time()
        with self._transaction():
            self._db.executemany(
                'UPDATE issued SET confirmed = 1, partition = ?, "offset" = ?, confirmed_at = ? '
                "WHERE credential_id = ? AND version = ?",
                [(d.partition, d.offset, now, credential_id, version)
                 for credential_id, version, d in deliveries if d.confirmed],
            )

    def unconfirmed(self) -> list[IssuedEntry]:
        rows = self._db.execute("SELECT %s FROM issued WHERE confirmed = 0 ORDER BY credential_id" % _COLUMNS)
        return [_entry(row) for row in rows]

    def counts(self) -> dict[str, int]:
        confirmed, total = self._db.execute("SELECT COALESCE(SUM(confirmed), 0), COUNT(*) FROM issued").fetchone()
        return {"credentials": int(total), "confirmed": int(confirmed), "unconfirmed": int(total - confirmed)}

    def close(self) -> None:
        self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


def _entry(row: tuple[Any, ...]) -> IssuedEntry:
    return IssuedEntry(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], attestation=row[7],
                       sealing=Sealing.from_json(row[8]) if row[8] is not None else None)


def _owner_only(path: Path) -> None:
    """Create ``path`` as an empty file of mode 0600, or take group and other access away from an
    existing one (a ledger created before this rule, under a 022 umask, is 0644)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
