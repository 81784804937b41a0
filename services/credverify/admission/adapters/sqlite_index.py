"""SQLite (WAL) index of what admission admitted, and the offsets it consumed, committed together.

The file is created 0600: it names every credential on the hub and its signing key.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

from credverify.admission.domain import AdmittedEntry
from credverify.core.errors import ConfigurationError

SCHEMA = """
CREATE TABLE IF NOT EXISTS admitted (
  credential_id TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  digest TEXT NOT NULL,
  witnessed_at_ms INTEGER NOT NULL,
  keyid TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS offsets (
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  next_offset INTEGER NOT NULL,
  PRIMARY KEY (topic, partition)
);
"""
# SQLite's default limit of host parameters in one statement is 999 on old builds.
LOOKUP_CHUNK = 500


class SqliteAdmissionIndex:
    """AdmissionIndex on one SQLite file, used by one thread at a time (opened by the composition root,
    used by the admission loop, closed after the loop has stopped)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        _create_private(path)
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigurationError("cannot open the admission index %s: %s" % (path, exc)) from exc

    def admitted(self, credential_ids: Collection[str]) -> dict[str, AdmittedEntry]:
        ids = sorted(credential_ids)
        found: dict[str, AdmittedEntry] = {}
        for start in range(0, len(ids), LOOKUP_CHUNK):
            chunk = ids[start:start + LOOKUP_CHUNK]
            rows = self._db.execute(
                "SELECT credential_id, version, digest, witnessed_at_ms, keyid FROM admitted "
                "WHERE credential_id IN (%s)" % ",".join("?" * len(chunk)), chunk)
            for credential_id, version, digest, witnessed_ms, keyid in rows:
                found[credential_id] = AdmittedEntry(
                    credential_id, version, digest, dt.datetime.fromtimestamp(witnessed_ms / 1000, dt.UTC), keyid)
        return found

    def next_offsets(self) -> dict[tuple[str, int], int]:
        rows = self._db.execute("SELECT topic, partition, next_offset FROM offsets")
        return {(topic, partition): offset for topic, partition, offset in rows}

    def commit(self, entries: Iterable[AdmittedEntry], next_offsets: Mapping[tuple[str, int], int]) -> None:
        rows = [(e.credential_id, e.version, e.digest, _ms(e.witnessed_at), e.keyid) for e in entries]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT INTO admitted (credential_id, version, digest, witnessed_at_ms, keyid) VALUES (?,?,?,?,?) "
                "ON CONFLICT(credential_id) DO UPDATE SET version=excluded.version, digest=excluded.digest, "
                "witnessed_at_ms=excluded.witnessed_at_ms, keyid=excluded.keyid", rows)
            self._db.executemany(
                "INSERT INTO offsets (topic, partition, next_offset) VALUES (?,?,?) "
                "ON CONFLICT(topic, partition) DO UPDATE SET next_offset=excluded.next_offset",
                [(topic, partition, offset) for (topic, partition), offset in next_offsets.items()])
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def ping(self) -> None:
        self._db.execute("SELECT 1").fetchone()

    def close(self) -> None:
        self._db.close()


def _ms(moment: dt.datetime) -> int:
    return round(moment.timestamp() * 1000)


def _create_private(path: Path) -> None:
    """Create ``path`` readable by its owner only, whatever the umask; tighten an existing file."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(path, 0o600)
    except OSError as exc:
        raise ConfigurationError("cannot create the admission index %s: %s" % (path, exc.strerror)) from exc
