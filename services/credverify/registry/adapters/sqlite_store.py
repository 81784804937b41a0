"""SQLite (WAL) store of verified attestations, issuer records, rejections and consumed offsets.

Offsets are written in the same transaction as the state they produced, so a
crash at any instant neither loses nor double-applies a record. The file is created readable
by its owner alone (0600): it holds names and dates of birth.

What anyone able to write to the hub can make a registry keep is bounded: rejections (the newest
MAX_REJECTIONS_KEPT) and parked records (the newest MAX_PARKED_KEPT, each envelope once however many
keyids it names).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from credverify.core.attestation import VerifiedAttestation
from credverify.core.trust import VerifiedIssuerRecord
from credverify.registry.ports import ParkedRecord, Rejection, StoredAttestation, Verdict
from credverify.v1 import common_pb2, moves_pb2

SCHEMA = """
CREATE TABLE IF NOT EXISTS attestations (
  credential_id TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  issuer_id TEXT NOT NULL,
  keyid TEXT NOT NULL,
  envelope BLOB NOT NULL,
  stored_at REAL NOT NULL,
  trust_reason INTEGER NOT NULL DEFAULT 0,
  trust_detail TEXT NOT NULL DEFAULT '',
  judged_at REAL NOT NULL DEFAULT 0
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
  rejected_at REAL NOT NULL,
  dead_letter_error TEXT NOT NULL DEFAULT ''
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
CREATE TABLE IF NOT EXISTS parked_records (
  id INTEGER PRIMARY KEY,
  record_key TEXT NOT NULL UNIQUE,
  envelope BLOB NOT NULL,
  keyids TEXT NOT NULL,
  reason INTEGER NOT NULL,
  detail TEXT NOT NULL,
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  "offset" INTEGER NOT NULL,
  appended_at REAL,
  parked_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS parked_keyids (
  keyid TEXT NOT NULL,
  record_key TEXT NOT NULL,
  PRIMARY KEY (keyid, record_key)
);
CREATE INDEX IF NOT EXISTS parked_keyids_by_record ON parked_keyids (record_key);
"""
# Created after the columns they cover exist (a store from before verdicts gains them first).
INDEXES = """
CREATE INDEX IF NOT EXISTS attestations_by_issuer ON attestations (issuer_id, credential_id);
CREATE INDEX IF NOT EXISTS attestations_by_key ON attestations (keyid, credential_id);
CREATE INDEX IF NOT EXISTS attestations_unjudged ON attestations (credential_id) WHERE trust_reason = 0;
"""
# Columns added after a table was first released: a store from before gains them at open.
ADDED_COLUMNS = {
    "attestations": (
        ("trust_reason", "INTEGER NOT NULL DEFAULT 0"),  # a row from before verdicts waits to be judged
        ("trust_detail", "TEXT NOT NULL DEFAULT ''"),
        ("judged_at", "REAL NOT NULL DEFAULT 0"),
        # The hub's append time (epoch seconds), NULL for a row stored before it was kept: such a row
        # is judged on issued_at alone until a rebuild reads the time again.
        ("appended_at", "REAL"),
    ),
    "rejections": (("dead_letter_error", "TEXT NOT NULL DEFAULT ''"),),
}
# The newest rejections kept for Verify's answer on an id never accepted; older ones are on the
# dead-letter topic. Bounds what a flood of garbage on the hub makes the store hold.
MAX_REJECTIONS_KEPT = 100_000
# Rejections read for one Verify of an id never accepted: the newest, enough to name every reason.
MAX_REJECTIONS_PER_ID = 50
# Parked records kept (each up to one 64 KiB envelope: at most about 650 MB); beyond this the
# oldest are dropped (their dead letters were published; a rebuild judges them again).
MAX_PARKED_KEPT = 10_000
# A parked record names at most this many keyids (envelope parsing caps signatures at the same).
MAX_PARKED_KEYIDS = 16
# Statements bind at most this many parameters at once (SQLite's default limit is 32766).
MAX_BOUND = 900
_ATTESTATION_COLUMNS = "credential_id, version, envelope, trust_reason, trust_detail, appended_at"
_PARKED_COLUMNS = 'record_key, envelope, keyids, reason, detail, topic, partition, "offset", appended_at'


def _epoch(moment: dt.datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def _moment(epoch: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(epoch, dt.UTC) if epoch is not None else None


def _stored(row: tuple[str, int, bytes, int, str, float | None]) -> StoredAttestation:
    return StoredAttestation(row[0], row[1], row[2], cast(common_pb2.Reason, row[3]), row[4], _moment(row[5]))


def _parked(row: tuple[str, bytes, str, int, str, str, int, int, float | None]) -> ParkedRecord:
    return ParkedRecord(record_key=row[0], envelope_bytes=row[1], keyids=tuple(row[2].split()),
                        reason=cast(common_pb2.Reason, row[3]), detail=row[4], topic=row[5], partition=row[6],
                        offset=row[7], appended_at=_moment(row[8]))


def _create_private(path: Path) -> None:
    """Create ``path`` readable and writable by its owner alone, whatever the umask; an existing
    file is tightened to the same."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the columns a store from an earlier release lacks; move parked records from the table
    that held one row per keyid (each with the whole envelope) into one row per record."""
    for table, columns in ADDED_COLUMNS.items():
        present = {row[1] for row in conn.execute("PRAGMA table_info(%s)" % table)}
        for column, declaration in columns:
            if column not in present:
                conn.execute("ALTER TABLE %s ADD COLUMN %s %s" % (table, column, declaration))
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'parked'").fetchone():
        conn.execute(
            'INSERT OR IGNORE INTO parked_records (record_key, envelope, keyids, reason, detail, topic, partition, '
            '"offset", parked_at) SELECT record_key, envelope, keyids, reason, detail, topic, partition, "offset", '
            "parked_at FROM parked GROUP BY record_key")
        conn.execute("INSERT OR IGNORE INTO parked_keyids (keyid, record_key) SELECT keyid, record_key FROM parked")
        conn.execute("DROP TABLE parked")


def _chunks(items: list[str], size: int = MAX_BOUND) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class SqliteAttestationStore:
    """One database file; a connection per thread (gRPC workers read while the consumer writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        _create_private(path)
        conn = self._conn()
        with conn:
            conn.executescript(SCHEMA)
            _migrate(conn)
            conn.executescript(INDEXES)

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
            "SELECT %s FROM attestations WHERE credential_id = ?" % _ATTESTATION_COLUMNS,
            (credential_id,),
        ).fetchone()
        return _stored(row) if row else None

    def rejections_for(self, record_key: str) -> list[Rejection]:
        """The newest rejections of records published under ``record_key`` (at most
        MAX_REJECTIONS_PER_ID, oldest first): one indexed read, however many there were."""
        rows = self._conn().execute(
            'SELECT record_key, reason, detail, topic, partition, "offset", dead_letter_error FROM rejections '
            "WHERE record_key = ? ORDER BY id DESC LIMIT ?",
            (record_key, MAX_REJECTIONS_PER_ID),
        ).fetchall()
        return [Rejection(*row) for row in reversed(rows)]

    def issuer_envelopes(self) -> Iterable[bytes]:
        return [row[0] for row in self._conn().execute("SELECT envelope FROM issuers")]

    def next_offsets(self) -> dict[tuple[str, int], int]:
        rows = self._conn().execute("SELECT topic, partition, next_offset FROM offsets").fetchall()
        return {(topic, partition): offset for topic, partition, offset in rows}

    @contextmanager
    def transaction(self) -> Iterator[SqliteTransaction]:
        """One write transaction (state and offsets together or not at all), taken at once so that
        what it reads cannot change before it writes."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield SqliteTransaction(conn, time.time())
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    def close(self) -> None:
        """Close this thread's connection (the last one to close folds the WAL into the database)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def seal(self) -> None:
        """Fold the write-ahead log into the database file and close, so that the file alone holds
        the whole store and can be moved into place. Call with no other connection open."""
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=DELETE").fetchone()
        self.close()

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
        counts = {
            table: conn.execute("SELECT COUNT(*) FROM %s" % table).fetchone()[0]
            for table in ("attestations", "issuers", "rejections", "registrations")
        }
        counts["untrusted"] = conn.execute(
            "SELECT COUNT(*) FROM attestations WHERE trust_reason != ?", (common_pb2.REASON_VERIFIED,)
        ).fetchone()[0]
        counts["parked"] = conn.execute("SELECT COUNT(*) FROM parked_records").fetchone()[0]
        return counts


class SqliteTransaction:
    """The IngestTransaction of SqliteAttestationStore: every method runs inside one open transaction."""

    def __init__(self, conn: sqlite3.Connection, now: float) -> None:
        self._conn = conn
        self._now = now

    def held(self, credential_id: str) -> StoredAttestation | None:
        row = self._conn.execute(
            "SELECT %s FROM attestations WHERE credential_id = ?" % _ATTESTATION_COLUMNS, (credential_id,)
        ).fetchone()
        return _stored(row) if row else None

    def put_issuers(self, issuers: Iterable[VerifiedIssuerRecord]) -> None:
        self._conn.executemany(
            "INSERT INTO issuers (issuer_id, version, envelope) VALUES (?, ?, ?) "
            "ON CONFLICT (issuer_id) DO UPDATE SET version = excluded.version, envelope = excluded.envelope",
            [(v.record.issuer_id, v.record.version, v.envelope_bytes) for v in issuers],
        )

    def put_attestations(self, attestations: Iterable[VerifiedAttestation]) -> None:
        """Store each as the version held, with the verdict VERIFIED; a parked record of its id is dropped."""
        rows = [
            (v.credential_id, v.version, v.attestation.issuer_id, v.keyid, v.envelope_bytes, self._now,
             common_pb2.REASON_VERIFIED, self._now, _epoch(v.witnessed_at))
            for v in attestations
        ]
        if not rows:
            return
        self._conn.executemany(
            "INSERT INTO attestations (credential_id, version, issuer_id, keyid, envelope, stored_at, "
            "trust_reason, trust_detail, judged_at, appended_at) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, ?) "
            "ON CONFLICT (credential_id) DO UPDATE SET "
            "version = excluded.version, issuer_id = excluded.issuer_id, keyid = excluded.keyid, "
            "envelope = excluded.envelope, stored_at = excluded.stored_at, trust_reason = excluded.trust_reason, "
            "trust_detail = excluded.trust_detail, judged_at = excluded.judged_at, appended_at = excluded.appended_at",
            rows,
        )
        self.unpark(row[0] for row in rows)

    def add_rejections(self, rejections: Iterable[Rejection]) -> None:
        """Keep each, then drop the oldest beyond MAX_REJECTIONS_KEPT."""
        rows = [(r.record_key, r.reason, r.detail, r.topic, r.partition, r.offset, self._now, r.dead_letter_error)
                for r in rejections]
        if not rows:
            return
        self._conn.executemany(
            'INSERT INTO rejections (record_key, reason, detail, topic, partition, "offset", rejected_at, '
            "dead_letter_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self._conn.execute("DELETE FROM rejections WHERE id <= (SELECT MAX(id) FROM rejections) - ?",
                           (MAX_REJECTIONS_KEPT,))

    def park(self, parked: Iterable[ParkedRecord]) -> None:
        """Keep each once, found by each of its keyids, replacing what was parked under its record
        key before (the latest record wins); then drop the oldest beyond MAX_PARKED_KEPT."""
        records = list(parked)
        if not records:
            return
        self.unpark(p.record_key for p in records)
        self._conn.executemany(
            'INSERT INTO parked_records (record_key, envelope, keyids, reason, detail, topic, partition, "offset", '
            "appended_at, parked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(p.record_key, p.envelope_bytes, " ".join(p.keyids[:MAX_PARKED_KEYIDS]), p.reason, p.detail, p.topic,
              p.partition, p.offset, _epoch(p.appended_at), self._now) for p in records],
        )
        self._conn.executemany(
            "INSERT OR IGNORE INTO parked_keyids (keyid, record_key) VALUES (?, ?)",
            [(keyid, p.record_key) for p in records for keyid in p.keyids[:MAX_PARKED_KEYIDS]],
        )
        oldest_kept = self._conn.execute("SELECT MAX(id) FROM parked_records").fetchone()[0] - MAX_PARKED_KEPT
        if self._conn.execute("SELECT 1 FROM parked_records WHERE id <= ? LIMIT 1", (oldest_kept,)).fetchone():
            self._conn.execute("DELETE FROM parked_keyids WHERE record_key IN "
                               "(SELECT record_key FROM parked_records WHERE id <= ?)", (oldest_kept,))
            self._conn.execute("DELETE FROM parked_records WHERE id <= ?", (oldest_kept,))

    def unpark(self, record_keys: Iterable[str]) -> None:
        # Rarely anything parked: test for it first rather than deleting per key on every batch.
        keys = list(record_keys)
        if not keys or self._conn.execute("SELECT 1 FROM parked_records LIMIT 1").fetchone() is None:
            return
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            self._conn.execute("DELETE FROM parked_records WHERE record_key IN (%s)" % marks, chunk)
            self._conn.execute("DELETE FROM parked_keyids WHERE record_key IN (%s)" % marks, chunk)

    def set_verdicts(self, verdicts: Iterable[Verdict]) -> None:
        self._conn.executemany(
            "UPDATE attestations SET trust_reason = ?, trust_detail = ?, judged_at = ? WHERE credential_id = ?",
            [(v.trust_reason, v.trust_detail, self._now, v.credential_id) for v in verdicts],
        )

    def attestations_of_issuer(self, issuer_id: str, *, after: str, limit: int) -> list[StoredAttestation]:
        rows = self._conn.execute(
            "SELECT %s FROM attestations WHERE issuer_id = ? AND credential_id > ? "
            "ORDER BY credential_id LIMIT ?" % _ATTESTATION_COLUMNS, (issuer_id, after, limit),
        ).fetchall()
        return [_stored(row) for row in rows]

    def attestations_signed_with(self, keyid: str, *, exclude_issuer: str, after: str,
                                 limit: int) -> list[StoredAttestation]:
        rows = self._conn.execute(
            "SELECT %s FROM attestations WHERE keyid = ? AND credential_id > ? AND issuer_id != ? "
            "ORDER BY credential_id LIMIT ?" % _ATTESTATION_COLUMNS, (keyid, after, exclude_issuer, limit),
        ).fetchall()
        return [_stored(row) for row in rows]

    def unjudged_attestations(self, *, after: str, limit: int) -> list[StoredAttestation]:
        rows = self._conn.execute(
            "SELECT %s FROM attestations WHERE trust_reason = 0 AND credential_id > ? "
            "ORDER BY credential_id LIMIT ?" % _ATTESTATION_COLUMNS, (after, limit),
        ).fetchall()
        return [_stored(row) for row in rows]

    def parked_signed_with(self, keyids: Collection[str], *, after: str, limit: int) -> list[ParkedRecord]:
        wanted = sorted(keyids)[:MAX_BOUND]
        if not wanted:
            return []
        rows = self._conn.execute(
            "SELECT %s FROM parked_records WHERE record_key IN (SELECT record_key FROM parked_keyids "
            "WHERE keyid IN (%s) AND record_key > ?) ORDER BY record_key LIMIT ?"
            % (_PARKED_COLUMNS, ",".join("?" * len(wanted))), [*wanted, after, limit],
        ).fetchall()
        return [_parked(row) for row in rows]

    def set_offsets(self, next_offsets: Mapping[tuple[str, int], int]) -> None:
        self._conn.executemany(
            "INSERT INTO offsets (topic, partition, next_offset) VALUES (?, ?, ?) "
            "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
            [(t, p, o) for (t, p), o in next_offsets.items()],
        )
