"""SQLite (WAL) store of verified attestations, issuer records, rejections and consumed offsets.

Offsets are written in the same transaction as the state they produced, so a
crash at any instant neither loses nor double-applies a record.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from credverify.registry.ports import IngestBatch, Rejection, StoredAttestation
from credverify.v1 import moves_pb2

SCHEMA = """
CREATE TABLE IF NOT EXISTS attestations (
  credential_id TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  issuer_id TEXT NOT NULL,
  keyid TEXT NOT NULL,
  envelope BLOB NOT NULL,
  stored_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS issuers (
  issuer_id TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  envelope BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS rejections (
  id INTEGER PRIMARY KEY,
  record_key TEXT NOT NULL,
  reason INTEGER NOT NULL,
  detail TEXT NOT NULL,
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  "offset" INTEGER NOT NULL,
  rejected_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS rejections_by_key ON rejections (record_key);
CREATE TABLE IF NOT EXISTS offsets (
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  next_offset INTEGER NOT NULL,
  PRIMARY KEY (topic, partition)
);
CREATE TABLE IF NOT EXISTS registrations (
  move_id TEXT PRIMARY KEY,
  credential_id TEXT NOT NULL,
  move BLOB NOT NULL,
  recorded_at REAL NOT NULL
);
"""


class SqliteAttestationStore:
    """One database file; a connection per thread (gRPC workers read while the consumer writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0)
            conn.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL survives a process crash; a power cut may lose the last
            # transactions, offsets included, so they are consumed again: nothing is lost.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get(self, credential_id: str) -> StoredAttestation | None:
        row = self._conn().execute(
            "SELECT credential_id, version, envelope FROM attestations WHERE credential_id = ?",
            (credential_id,),
        ).fetchone()
        return StoredAttestation(row[0], row[1], row[2]) if row else None

    def rejections_for(self, record_key: str) -> list[Rejection]:
        rows = self._conn().execute(
            'SELECT record_key, reason, detail, topic, partition, "offset" FROM rejections '
            "WHERE record_key = ? ORDER BY id",
            (record_key,),
        ).fetchall()
        return [Rejection(*row) for row in rows]

    def issuer_envelopes(self) -> Iterable[bytes]:
        return [row[0] for row in self._conn().execute("SELECT envelope FROM issuers")]

    def next_offsets(self) -> dict[tuple[str, int], int]:
        rows = self._conn().execute("SELECT topic, partition, next_offset FROM offsets").fetchall()
        return {(topic, partition): offset for topic, partition, offset in rows}

    def commit(self, batch: IngestBatch) -> None:
        now = time.time()
        conn = self._conn()
        with conn:  # one transaction: state and offsets together or not at all
            conn.executemany(
                "INSERT INTO issuers (issuer_id, version, envelope) VALUES (?, ?, ?) "
                "ON CONFLICT (issuer_id) DO UPDATE SET version = excluded.version, envelope = excluded.envelope",
                [(i, v.record.version, v.envelope_bytes) for i, v in batch.issuers.items()],
            )
            conn.executemany(
                "INSERT INTO attestations (credential_id, version, issuer_id, keyid, envelope, stored_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (credential_id) DO UPDATE SET "
                "version = excluded.version, issuer_id = excluded.issuer_id, keyid = excluded.keyid, "
                "envelope = excluded.envelope, stored_at = excluded.stored_at",
                [
                    (c, v.version, v.attestation.issuer_id, v.keyid, v.envelope_bytes, now)
                    for c, v in batch.attestations.items()
                ],
            )
            conn.executemany(
                'INSERT INTO rejections (record_key, reason, detail, topic, partition, "offset", rejected_at) '
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(r.record_key, r.reason, r.detail, r.topic, r.partition, r.offset, now) for r in batch.rejections],
            )
            conn.executemany(
                "INSERT INTO offsets (topic, partition, next_offset) VALUES (?, ?, ?) "
                "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
                [(t, p, o) for (t, p), o in batch.next_offsets.items()],
            )

    def registration(self, move_id: str) -> moves_pb2.VerifiedMove | None:
        row = self._conn().execute("SELECT move FROM registrations WHERE move_id = ?", (move_id,)).fetchone()
        return moves_pb2.VerifiedMove.FromString(row[0]) if row else None

    def add_registration(self, credential_id: str, move: moves_pb2.VerifiedMove) -> bool:
        """Record a published move; returns False when it was recorded before."""
        conn = self._conn()
        with conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO registrations (move_id, credential_id, move, recorded_at) "
                "VALUES (?, ?, ?, ?)",
                (move.move_id, credential_id, move.SerializeToString(), time.time()),
            )
        return cursor.rowcount == 1

    def ping(self) -> None:
        self._conn().execute("SELECT 1").fetchone()

    def counts(self) -> dict[str, int]:
        conn = self._conn()
        return {
            table: conn.execute("SELECT COUNT(*) FROM %s" % table).fetchone()[0]
            for table in ("attestations", "issuers", "rejections", "registrations")
        }
